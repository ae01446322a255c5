//! Query strings of the GET endpoints: percent-decoding, and the paging and
//! filter parameters. Unknown or repeated parameters are rejected (422) so a
//! connector with a misspelt filter fails loudly instead of listing
//! everyone; an empty value (`?mail=`) counts as absent.

use crate::error::ApiError;
use crate::model::{EmployeeFilter, Page, Status, TeamFilter};

/// Decoded `name=value` pairs, consumed by the endpoint that reads them.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let (name, value) = (decode(name)?, decode(value)?);
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::invalid(name.clone(), format!("query parameter `{name}` given more than once")));
            }
            pairs.push((name, value));
        }
        Ok(Query(pairs))
    }

    /// Remove and return a parameter's value; empty counts as absent.
    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(at).1).filter(|v| !v.is_empty())
    }

    /// Fail on the first parameter no one took.
    fn finish(self) -> Result<(), ApiError> {
        match self.0.into_iter().next() {
            Some((name, _)) => Err(ApiError::invalid(name.clone(), format!("unknown query parameter `{name}`"))),
            None => Ok(()),
        }
    }

    /// `page` and `per_page`.
    fn page(&mut self) -> Result<Page, ApiError> {
        let page = match self.take("page") {
            None => 1,
            Some(v) => parse_digits(&v)
                .filter(|&n| n >= 1)
                .ok_or_else(|| ApiError::invalid("page", "page must be a positive integer"))?,
        };
        let per_page = match self.take("per_page") {
            None => Page::DEFAULT_PER_PAGE,
            Some(v) => parse_digits(&v).filter(|n| (1..=Page::MAX_PER_PAGE).contains(n)).ok_or_else(|| {
                ApiError::invalid("per_page", format!("per_page must be between 1 and {}", Page::MAX_PER_PAGE))
            })?,
        };
        Ok(Page { page, per_page })
    }

    fn include_deleted(&mut self) -> Result<bool, ApiError> {
        match self.take("include_deleted").as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(ApiError::invalid("include_deleted", "include_deleted must be true or false")),
        }
    }

    /// The parameters of `GET /api/v1/employees`.
    pub fn employee_list(mut self) -> Result<(EmployeeFilter, Page), ApiError> {
        let status = match self.take("status") {
            None => None,
            Some(s) => Some(Status::parse(&s).ok_or_else(|| ApiError::invalid("status", "status must be A or T"))?),
        };
        let filter = EmployeeFilter {
            mail: self.take("mail"),
            emp_no: self.take("emp_no"),
            status,
            include_deleted: self.include_deleted()?,
        };
        let page = self.page()?;
        self.finish()?;
        Ok((filter, page))
    }

    /// The parameters of `GET /api/v1/employees/{id}`: only `include_deleted`.
    pub fn employee_get(mut self) -> Result<bool, ApiError> {
        let include_deleted = self.include_deleted()?;
        self.finish()?;
        Ok(include_deleted)
    }

    /// The parameters of `GET /api/v1/teams`.
    pub fn team_list(mut self) -> Result<(TeamFilter, Page), ApiError> {
        let filter = TeamFilter { name: self.take("name") };
        let page = self.page()?;
        self.finish()?;
        Ok((filter, page))
    }

    /// For GETs that take no parameters.
    pub fn none(self) -> Result<(), ApiError> {
        self.finish()
    }
}

/// ASCII digits only (no sign, no spaces) as a u32.
fn parse_digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte,
/// and the result must be UTF-8.
fn decode(s: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadRequest("malformed percent-encoding in query string".into());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let (hi, lo) = match bytes.get(i + 1..i + 3) {
                    Some(&[hi, lo]) => (hex_value(hi).ok_or_else(bad)?, hex_value(lo).ok_or_else(bad)?),
                    _ => return Err(bad()),
                };
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::BadRequest("query string is not UTF-8".into()))
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_reads_employee_filters() {
        let q = Query::parse(Some("mail=a%2Bb%40X.com&status=T&page=2&per_page=10&include_deleted=true&emp_no="))
            .expect("parse");
        let (filter, page) = q.employee_list().expect("valid");
        assert_eq!(filter.mail.as_deref(), Some("a+b@X.com"));
        assert_eq!(filter.emp_no, None);
        assert_eq!(filter.status, Some(Status::Terminated));
        assert!(filter.include_deleted);
        assert_eq!(page, Page { page: 2, per_page: 10 });
    }

    #[test]
    fn defaults() {
        let (filter, page) = Query::parse(None).and_then(Query::employee_list).expect("valid");
        assert_eq!(filter, EmployeeFilter::default());
        assert_eq!(page, Page { page: 1, per_page: 50 });
    }

    #[test]
    fn rejects_bad_parameters() {
        for raw in ["per_page=201", "per_page=0", "page=0", "page=-1", "page=+2", "status=X", "nope=1", "page=1&page=2"]
        {
            let err = Query::parse(Some(raw)).and_then(Query::employee_list).expect_err(raw);
            assert!(matches!(err, ApiError::Validation { .. }), "{raw}: {err:?}");
        }
        for raw in ["mail=%zz", "mail=%4", "mail=%+f", "mail=%ff"] {
            assert!(matches!(Query::parse(Some(raw)), Err(ApiError::BadRequest(_))), "{raw}");
        }
    }
}
