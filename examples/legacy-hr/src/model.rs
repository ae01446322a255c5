//! The app's own records, and the rules that turn a request body into a
//! validated input. Validation is done on a parsed JSON object by hand
//! (rather than by `#[derive(Deserialize)]`) so that every failure can name
//! the offending `field`, which is what a connector needs to map errors.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Employment status as the legacy system spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Active.
    #[serde(rename = "A")]
    Active,
    /// Terminated. Also what a soft delete sets.
    #[serde(rename = "T")]
    Terminated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "A",
            Status::Terminated => "T",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "A" => Some(Status::Active),
            "T" => Some(Status::Terminated),
            _ => None,
        }
    }
}

/// An employee as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Employee {
    pub id: i64,
    pub emp_no: Option<String>,
    pub mail: String,
    pub first: String,
    pub last: String,
    pub display: Option<String>,
    pub title: Option<String>,
    pub dept: Option<String>,
    pub status: Status,
    pub manager_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// Outer `None`: not asked for (`include_deleted` absent), so the key is
    /// left out; `Some(None)`: asked for, and the employee is live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Option<String>>,
}

/// A team as the API returns it; `members` are employee ids, ascending.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub members: Vec<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// A validated employee body (POST and PUT alike: PUT is a full replace,
/// so absent optional fields mean null and absent `status` means active).
#[derive(Debug, Clone, PartialEq)]
pub struct EmployeeInput {
    pub emp_no: Option<String>,
    pub mail: String,
    pub first: String,
    pub last: String,
    pub display: Option<String>,
    pub title: Option<String>,
    pub dept: Option<String>,
    pub status: Status,
    pub manager_id: Option<i64>,
}

impl EmployeeInput {
    const FIELDS: &[&str] = &["emp_no", "mail", "first", "last", "display", "title", "dept", "status", "manager_id"];

    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = Fields::parse(body, Self::FIELDS)?;
        let mail = f.required_text("mail")?;
        if !mail.contains('@') {
            return Err(ApiError::invalid("mail", "mail must contain '@'"));
        }
        let emp_no = f.optional_text("emp_no")?;
        if emp_no.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(ApiError::invalid("emp_no", "emp_no must be a non-empty string or null"));
        }
        let status = match f.optional_text("status")? {
            None => Status::Active,
            Some(s) => Status::parse(&s).ok_or_else(|| ApiError::invalid("status", "status must be \"A\" or \"T\""))?,
        };
        Ok(EmployeeInput {
            emp_no,
            mail,
            first: f.required_text("first")?,
            last: f.required_text("last")?,
            display: f.optional_text("display")?,
            title: f.optional_text("title")?,
            dept: f.optional_text("dept")?,
            status,
            manager_id: f.optional_id("manager_id")?,
        })
    }
}

/// A validated team body (POST and PUT; absent `members` means none).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamInput {
    pub name: String,
    /// Deduplicated and ascending.
    pub members: Vec<i64>,
}

impl TeamInput {
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = Fields::parse(body, &["name", "members"])?;
        let name = f.required_text("name")?;
        let members = match f.take("members") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut ids = items
                    .iter()
                    .map(as_id)
                    .collect::<Option<Vec<i64>>>()
                    .ok_or_else(|| ApiError::invalid("members", "members must be an array of employee ids"))?;
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            Some(_) => return Err(ApiError::invalid("members", "members must be an array of employee ids")),
        };
        Ok(TeamInput { name, members })
    }
}

/// The body of `POST /api/v1/teams/{id}/members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInput {
    pub employee_id: i64,
}

impl MemberInput {
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = Fields::parse(body, &["employee_id"])?;
        let employee_id =
            f.optional_id("employee_id")?.ok_or_else(|| ApiError::invalid("employee_id", "employee_id is required"))?;
        Ok(MemberInput { employee_id })
    }
}

/// One page of a list: `page` from 1, `per_page` in `1..=MAX_PER_PAGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub const DEFAULT_PER_PAGE: u32 = 50;
    pub const MAX_PER_PAGE: u32 = 200;

    /// Rows to skip; cannot overflow (u32 * u32 fits in i64).
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.per_page)
    }
}

/// Filters of `GET /api/v1/employees`; all must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmployeeFilter {
    /// Matched case-insensitively, exactly.
    pub mail: Option<String>,
    pub emp_no: Option<String>,
    pub status: Option<Status>,
    /// Also list soft-deleted employees, and show everyone's `deleted_at`.
    pub include_deleted: bool,
}

/// Filters of `GET /api/v1/teams`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamFilter {
    /// Matched case-insensitively, exactly.
    pub name: Option<String>,
}

/// The case-folded form uniqueness and lookups use for mail and team names.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// A JSON value as a positive integer id.
fn as_id(v: &Value) -> Option<i64> {
    v.as_i64().filter(|&n| n > 0)
}

/// The members of a JSON object body, taken one by one.
struct Fields(Map<String, Value>);

impl Fields {
    /// Parse `body` as a JSON object and reject members outside `allowed`.
    fn parse(body: &[u8], allowed: &[&str]) -> Result<Self, ApiError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ApiError::Validation { field: None, message: "request body must be a JSON object".into() });
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::invalid(unknown.clone(), format!("unknown field `{unknown}`")));
        }
        Ok(Fields(map))
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name)
    }

    /// A string that is present and not blank.
    fn required_text(&mut self, name: &str) -> Result<String, ApiError> {
        match self.take(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) => Err(ApiError::invalid(name, format!("{name} must not be empty"))),
            None | Some(Value::Null) => Err(ApiError::invalid(name, format!("{name} is required"))),
            Some(_) => Err(ApiError::invalid(name, format!("{name} must be a string"))),
        }
    }

    /// A string or null; absent counts as null.
    fn optional_text(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(name, format!("{name} must be a string or null"))),
        }
    }

    /// A positive integer or null; absent counts as null.
    fn optional_id(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                as_id(&v).map(Some).ok_or_else(|| ApiError::invalid(name, format!("{name} must be a positive integer")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: ApiError) -> Option<String> {
        match e {
            ApiError::Validation { field, .. } => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn employee_defaults_and_nulls() {
        let e =
            EmployeeInput::from_json(br#"{"mail":"a@x.com","first":"Ann","last":"Lee","title":null}"#).expect("valid");
        assert_eq!(e.status, Status::Active);
        assert_eq!((e.emp_no, e.title, e.manager_id), (None, None, None));
    }

    #[test]
    fn employee_rules_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"first":"A","last":"B"}"#, "mail"),
            (r#"{"mail":"nope","first":"A","last":"B"}"#, "mail"),
            (r#"{"mail":"a@x","first":" ","last":"B"}"#, "first"),
            (r#"{"mail":"a@x","first":"A","last":7}"#, "last"),
            (r#"{"mail":"a@x","first":"A","last":"B","status":"X"}"#, "status"),
            (r#"{"mail":"a@x","first":"A","last":"B","manager_id":1.5}"#, "manager_id"),
            (r#"{"mail":"a@x","first":"A","last":"B","emp_no":""}"#, "emp_no"),
            (r#"{"mail":"a@x","first":"A","last":"B","userName":"x"}"#, "userName"),
        ];
        for (body, field) in cases {
            let e = EmployeeInput::from_json(body.as_bytes()).expect_err(body);
            assert_eq!(field_of(e).as_deref(), Some(*field), "{body}");
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(EmployeeInput::from_json(b"{"), Err(ApiError::BadRequest(_))));
        assert!(matches!(EmployeeInput::from_json(b""), Err(ApiError::BadRequest(_))));
        assert!(matches!(EmployeeInput::from_json(b"[]"), Err(ApiError::Validation { field: None, .. })));
    }

    #[test]
    fn team_members_are_sorted_and_deduplicated() {
        let t = TeamInput::from_json(br#"{"name":"Eng","members":[3,1,3]}"#).expect("valid");
        assert_eq!(t.members, vec![1, 3]);
        let e = TeamInput::from_json(br#"{"name":"Eng","members":[1,"2"]}"#).expect_err("string id");
        assert_eq!(field_of(e).as_deref(), Some("members"));
    }

    #[test]
    fn page_offset() {
        assert_eq!(Page { page: 1, per_page: 50 }.offset(), 0);
        assert_eq!(Page { page: 3, per_page: 20 }.offset(), 40);
        assert_eq!(Page { page: u32::MAX, per_page: 200 }.offset(), i64::from(u32::MAX - 1) * 200);
    }
}
