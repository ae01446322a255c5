//! Query requests (RFC 7644 §3.4.2, §3.4.3): filter, sort, paging and
//! projection parameters, from a query string or a `SearchRequest` body, and
//! the `ListResponse` that answers them.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::error::{Result, ScimError};
use crate::filter::Filter;
use crate::path::AttrPath;
use crate::resource::{Projection, get_ci};
use crate::schema::{LIST_RESPONSE_SCHEMA, ResourceSchema};

/// Page size when the client names none.
pub const DEFAULT_COUNT: usize = 100;
/// The largest page served (advertised as `filter.maxResults`).
pub const MAX_COUNT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// A parsed list or search request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based, as in RFC 7644 §3.4.2.4.
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: None,
            sort_by: None,
            sort_order: SortOrder::Ascending,
            start_index: 1,
            count: DEFAULT_COUNT,
            projection: Projection::default(),
        }
    }
}

impl ListQuery {
    /// From decoded query-string pairs (names matched case-insensitively).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        schema: &ResourceSchema,
    ) -> Result<ListQuery> {
        let mut raw = RawQuery::default();
        for (k, v) in pairs {
            let slot = match k.to_ascii_lowercase().as_str() {
                "filter" => &mut raw.filter,
                "sortby" => &mut raw.sort_by,
                "sortorder" => &mut raw.sort_order,
                "startindex" => &mut raw.start_index,
                "count" => &mut raw.count,
                "attributes" => &mut raw.attributes,
                "excludedattributes" => &mut raw.excluded,
                _ => continue,
            };
            *slot = Some(v.to_owned());
        }
        raw.into_query(schema)
    }

    /// From a `POST .search` body (RFC 7644 §3.4.3).
    pub fn from_search_request(body: &Value, schema: &ResourceSchema) -> Result<ListQuery> {
        let Value::Object(map) = body else {
            return Err(ScimError::invalid_syntax("a SearchRequest must be a JSON object"));
        };
        let text = |name: &str| -> Result<Option<String>> {
            match get_ci(map, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Array(items)) => {
                    let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    parts
                        .map(|p| Some(p.join(",")))
                        .ok_or_else(|| ScimError::invalid_syntax(format!("'{name}' must be a list of strings")))
                }
                Some(_) => Err(ScimError::invalid_syntax(format!("'{name}' has the wrong type"))),
            }
        };
        let raw = RawQuery {
            filter: text("filter")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            start_index: text("startIndex")?,
            count: text("count")?,
            attributes: text("attributes")?,
            excluded: text("excludedAttributes")?,
        };
        raw.into_query(schema)
    }

    /// Sort `resources` in place by `sortBy` (a stable sort, so equal keys keep
    /// their storage order). Unassigned values sort last in ascending order.
    pub fn sort(&self, resources: &mut [Value], schema: &ResourceSchema) {
        let Some(path) = &self.sort_by else { return };
        let def = schema.find_attribute(path);
        let case_exact = def.is_some_and(|d| d.case_exact);
        let key = |v: &Value| -> Option<Value> { sort_value(v, path) };
        resources.sort_by(|a, b| {
            let ord = match (key(a), key(b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => compare_values(&x, &y, case_exact),
            };
            match self.sort_order {
                SortOrder::Ascending => ord,
                SortOrder::Descending => ord.reverse(),
            }
        });
    }
}

#[derive(Default)]
struct RawQuery {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl RawQuery {
    fn into_query(self, schema: &ResourceSchema) -> Result<ListQuery> {
        let filter = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let f = Filter::parse(text)?;
                f.validate(schema)?;
                Some(f)
            }
        };
        let sort_by = match self.sort_by.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(AttrPath::parse(p).map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail)))?),
        };
        let sort_order = match self.sort_order.as_deref() {
            None => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', not '{s}'"
                )));
            }
        };
        // RFC 7644 §3.4.2.4: startIndex < 1 is read as 1, a negative count as 0.
        let number = |name: &str, s: Option<&str>| -> Result<Option<i64>> {
            s.map(|s| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, not '{s}'")))
            })
            .transpose()
        };
        let start_index = number("startIndex", self.start_index.as_deref())?.map_or(1, |n| n.max(1) as usize);
        let count =
            number("count", self.count.as_deref())?.map_or(DEFAULT_COUNT, |n| (n.max(0) as usize).min(MAX_COUNT));
        let projection = Projection::parse(self.attributes.as_deref(), self.excluded.as_deref())?;
        Ok(ListQuery { filter, sort_by, sort_order, start_index, count, projection })
    }
}

/// The value a resource sorts by: for a multi-valued attribute, its primary
/// value or else its first (RFC 7644 §3.4.2.3).
fn sort_value(resource: &Value, path: &AttrPath) -> Option<Value> {
    let mut current = resource;
    if let Some(urn) = &path.schema
        && let Some(ext) = current.as_object().and_then(|m| get_ci(m, urn))
    {
        current = ext;
    }
    let top = current.as_object().and_then(|m| get_ci(m, &path.attr))?;
    let pick = |v: &Value| -> Option<Value> {
        match &path.sub_attr {
            Some(sub) => v.as_object().and_then(|m| get_ci(m, sub)).cloned(),
            None => match v {
                Value::Object(m) => get_ci(m, "value").cloned(),
                other => Some(other.clone()),
            },
        }
    };
    match top {
        Value::Array(items) => {
            let chosen =
                items.iter().find(|i| i.get("primary") == Some(&Value::Bool(true))).or_else(|| items.first())?;
            pick(chosen)
        }
        other => pick(other),
    }
    .filter(|v| !v.is_null())
}

fn compare_values(a: &Value, b: &Value, case_exact: bool) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) if case_exact => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// An RFC 7644 §3.4.2 `ListResponse`.
pub fn list_response(total_results: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total_results,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_parse_with_rfc_defaults() {
        let s = ResourceSchema::user();
        let q = ListQuery::from_pairs([("filter", "userName eq \"a\""), ("startIndex", "0"), ("count", "5000")], &s)
            .unwrap();
        assert!(q.filter.is_some());
        assert_eq!(q.start_index, 1);
        assert_eq!(q.count, MAX_COUNT);
        let q = ListQuery::from_pairs([("COUNT", "-3")], &s).unwrap();
        assert_eq!(q.count, 0);
        let e = ListQuery::from_pairs([("filter", "userName eq")], &s).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter));
        assert!(ListQuery::from_pairs([("count", "ten")], &s).is_err());
    }

    #[test]
    fn search_request_body() {
        let s = ResourceSchema::user();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "attributes": ["userName", "name.givenName"], "filter": "active eq true", "startIndex": 2, "count": 10, "sortBy": "userName", "sortOrder": "descending"});
        let q = ListQuery::from_search_request(&body, &s).unwrap();
        assert_eq!(q.projection.attributes.len(), 2);
        assert_eq!((q.start_index, q.count), (2, 10));
        assert_eq!(q.sort_order, SortOrder::Descending);
    }

    #[test]
    fn sorts_by_primary_email_and_puts_missing_last() {
        let s = ResourceSchema::user();
        let q = ListQuery::from_pairs([("sortBy", "emails")], &s).unwrap();
        let mut docs = vec![
            json!({"userName": "c"}),
            json!({"userName": "b", "emails": [{"value": "z@x"}, {"value": "A@x", "primary": true}]}),
            json!({"userName": "a", "emails": [{"value": "m@x"}]}),
        ];
        q.sort(&mut docs, &s);
        let names: Vec<_> = docs.iter().map(|d| d["userName"].as_str().unwrap()).collect();
        assert_eq!(names, ["b", "a", "c"]);
    }
}
