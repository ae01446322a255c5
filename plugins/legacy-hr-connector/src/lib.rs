//! `legacy-hr-connector`: SCIM users and groups as `examples/legacy-hr`'s
//! employees and teams.
//!
//! | SCIM (what the pipeline produced)            | legacy-hr employee        |
//! |----------------------------------------------|---------------------------|
//! | work email (else primary email, else `userName`) | `mail`                |
//! | `name.givenName`, `name.familyName`          | `first`, `last` (required)|
//! | `displayName`, `title`                       | `display`, `title`        |
//! | enterprise `department`, `employeeNumber`    | `dept`, `emp_no`          |
//! | `active`                                     | `status`: `"A"` / `"T"`   |
//!
//! Groups are teams: `displayName` is `name`, `members` (the target's
//! employee ids, as the gateway sends them) are the team's member list.
//! The API has no PATCH: the gateway sends full documents, which this
//! connector sends as `PUT`. Its answers map back: `409 DUPLICATE` is a
//! conflict (the gateway then finds the employee by mail and links it),
//! `422` a refusal, `429` a request to wait, anything else a failure.
//!
//! Config (JSON): `{"base_url": "http://host:port"}`; the gateway fills it
//! from the tenant's upstream URL. The API key is added by the host.
//!
//! The translation below is plain functions over JSON; [`LegacyHr`] sends
//! their calls. Both run natively in the tests, with a mock for `http.send`.

use scimgate_sdk::{ConnectorError, Context};
use serde_json::{Map, Value, json};

mod connector;

pub use connector::LegacyHr;

scimgate_sdk::export_connector!(LegacyHr);

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// An HTTP request the connector wants sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
}

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn of(ctx: &Context) -> Kind {
        if ctx.is_group() { Kind::Group } else { Kind::User }
    }

    fn collection(self) -> &'static str {
        match self {
            Kind::User => "/api/v1/employees",
            Kind::Group => "/api/v1/teams",
        }
    }

    /// The key of the one object an answer wraps (`{"employee": {...}}`).
    fn wrapper(self) -> &'static str {
        match self {
            Kind::User => "employee",
            Kind::Group => "team",
        }
    }
}

/// The request body legacy-hr wants for a SCIM document.
pub fn to_legacy(kind: Kind, doc: &Value) -> Result<Value, ConnectorError> {
    match kind {
        Kind::User => employee(doc),
        Kind::Group => team(doc),
    }
}

fn employee(doc: &Value) -> Result<Value, ConnectorError> {
    let text =
        |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let mail = mail(doc).ok_or_else(|| {
        ConnectorError::Rejected("legacy-hr needs a mail: the user has no email and no userName".into())
    })?;
    let name = doc.get("name");
    let (Some(first), Some(last)) =
        (text(name.and_then(|n| n.get("givenName"))), text(name.and_then(|n| n.get("familyName"))))
    else {
        return Err(ConnectorError::Rejected("legacy-hr needs name.givenName and name.familyName".into()));
    };
    let enterprise = doc.get(ENTERPRISE);
    let active = match doc.get("active") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    };
    Ok(json!({
        "mail": mail,
        "first": first,
        "last": last,
        "display": text(doc.get("displayName")),
        "title": text(doc.get("title")),
        "dept": text(enterprise.and_then(|e| e.get("department"))),
        "emp_no": text(enterprise.and_then(|e| e.get("employeeNumber"))),
        "status": if active { "A" } else { "T" },
    }))
}

/// The work email, else the primary one, else the first, else `userName`.
fn mail(doc: &Value) -> Option<String> {
    let emails: Vec<&Value> =
        doc.get("emails").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let value = |e: &&Value| e.get("value").and_then(Value::as_str).filter(|v| v.contains('@')).map(str::to_owned);
    let is = |e: &&&Value, key: &str, want: &Value| e.get(key).is_some_and(|v| v == want);
    emails
        .iter()
        .filter(|e| is(e, "type", &json!("work")))
        .find_map(value)
        .or_else(|| emails.iter().filter(|e| is(e, "primary", &json!(true))).find_map(value))
        .or_else(|| emails.iter().find_map(value))
        .or_else(|| doc.get("userName").and_then(Value::as_str).filter(|u| u.contains('@')).map(str::to_owned))
}

fn team(doc: &Value) -> Result<Value, ConnectorError> {
    let name = doc
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ConnectorError::Rejected("legacy-hr needs a team name (displayName)".into()))?;
    let mut members: Vec<i64> = Vec::new();
    for member in doc.get("members").and_then(Value::as_array).into_iter().flatten() {
        let id = member.get("value").and_then(Value::as_str).and_then(|v| v.parse::<i64>().ok());
        match id {
            Some(id) if !members.contains(&id) => members.push(id),
            Some(_) => {}
            None => {
                return Err(ConnectorError::Rejected(format!("legacy-hr team members are employee ids, not {member}")));
            }
        }
    }
    Ok(json!({"name": name, "members": members}))
}

/// The SCIM document of a legacy-hr object (the wrapped or bare JSON).
pub fn to_scim(kind: Kind, answer: &Value) -> Result<Value, ConnectorError> {
    let object = answer.get(kind.wrapper()).unwrap_or(answer);
    let id = match object.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ConnectorError::Failed(format!("legacy-hr's answer has no {} id", kind.wrapper()))),
    };
    let field = |k: &str| object.get(k).filter(|v| !v.is_null()).cloned();
    Ok(match kind {
        Kind::User => {
            let mut doc = Map::new();
            doc.insert("schemas".into(), json!([USER_SCHEMA, ENTERPRISE]));
            doc.insert("id".into(), json!(id));
            if let Some(mail) = field("mail") {
                doc.insert("userName".into(), mail.clone());
                doc.insert("emails".into(), json!([{"value": mail, "type": "work", "primary": true}]));
            }
            doc.insert("name".into(), json!({"givenName": field("first"), "familyName": field("last")}));
            if let Some(display) = field("display") {
                doc.insert("displayName".into(), display);
            }
            if let Some(title) = field("title") {
                doc.insert("title".into(), title);
            }
            doc.insert("active".into(), json!(object.get("status").and_then(Value::as_str) == Some("A")));
            let mut enterprise = Map::new();
            if let Some(dept) = field("dept") {
                enterprise.insert("department".into(), dept);
            }
            if let Some(emp_no) = field("emp_no") {
                enterprise.insert("employeeNumber".into(), emp_no);
            }
            doc.insert(ENTERPRISE.into(), Value::Object(enterprise));
            Value::Object(doc)
        }
        Kind::Group => {
            let members: Vec<Value> = object
                .get("members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_i64())
                .map(|m| json!({"value": m.to_string()}))
                .collect();
            json!({"schemas": [GROUP_SCHEMA], "id": id, "displayName": field("name"), "members": members})
        }
    })
}

pub fn create(kind: Kind, doc: &Value) -> Result<Call, ConnectorError> {
    Ok(Call { method: "POST", path: kind.collection().into(), body: Some(to_legacy(kind, doc)?) })
}

pub fn get(kind: Kind, id: &str) -> Result<Call, ConnectorError> {
    Ok(Call { method: "GET", path: object_path(kind, id)?, body: None })
}

pub fn update(kind: Kind, id: &str, doc: &Value) -> Result<Call, ConnectorError> {
    Ok(Call { method: "PUT", path: object_path(kind, id)?, body: Some(to_legacy(kind, doc)?) })
}

pub fn delete(kind: Kind, id: &str) -> Result<Call, ConnectorError> {
    Ok(Call { method: "DELETE", path: object_path(kind, id)?, body: None })
}

/// The query that finds a resource by a SCIM attribute legacy-hr can
/// search: users by mail (`userName`, `emails`), groups by name.
pub fn find(kind: Kind, attribute: &str, value: &str) -> Option<Call> {
    let attribute = attribute.to_ascii_lowercase();
    let param = match (kind, attribute.as_str()) {
        (Kind::User, "username" | "emails" | "emails.value") => "mail",
        (Kind::User, a) if a.starts_with("emails[") => "mail",
        (Kind::Group, "displayname") => "name",
        _ => return None,
    };
    Some(Call { method: "GET", path: format!("{}?{param}={}", kind.collection(), encode(value)), body: None })
}

/// The first object of a paged list answer.
pub fn first_of_list(kind: Kind, answer: &Value) -> Result<Option<Value>, ConnectorError> {
    match answer.get("data").and_then(Value::as_array) {
        Some(items) => items.first().map(|o| to_scim(kind, o)).transpose(),
        None => Err(ConnectorError::Failed("legacy-hr answered a list without data".into())),
    }
}

/// An id is legacy-hr's integer; anything else names nothing there.
fn object_path(kind: Kind, id: &str) -> Result<String, ConnectorError> {
    let id: u64 = id.parse().map_err(|_| ConnectorError::Rejected(format!("'{id}' is not a legacy-hr id")))?;
    Ok(format!("{}/{id}", kind.collection()))
}

/// What a non-2xx answer means. `retry_after` is the header's value.
pub fn failure(status: u16, body: &str, retry_after: Option<&str>) -> ConnectorError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|b| b.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(|m| format!("legacy-hr: {m}"))
        .unwrap_or_else(|| format!("legacy-hr answered {status}"));
    match status {
        409 => ConnectorError::Conflict(message),
        400 | 422 => ConnectorError::Rejected(message),
        429 | 503 => ConnectorError::Busy(retry_after.and_then(|v| v.trim().parse().ok()).unwrap_or(1)),
        _ => ConnectorError::Failed(message),
    }
}

/// Percent-encode a query value (RFC 3986 unreserved characters stay).
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "ann@contoso.onmicrosoft.com",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "ann.lee@contoso.com", "type": "work", "primary": true}],
            "active": false,
            ENTERPRISE: {"department": "Research", "employeeNumber": "E100"},
        })
    }

    #[test]
    fn a_user_becomes_an_employee_and_back() {
        let employee = to_legacy(Kind::User, &user()).unwrap();
        assert_eq!(employee["mail"], "ann.lee@contoso.com");
        assert_eq!(employee["first"], "Ann");
        assert_eq!(employee["status"], "T");
        assert_eq!(employee["dept"], "Research");
        assert_eq!(employee["emp_no"], "E100");
        let mut answer = employee.clone();
        answer["id"] = json!(17);
        let doc = to_scim(Kind::User, &json!({"employee": answer})).unwrap();
        assert_eq!(doc["id"], "17");
        assert_eq!(doc["userName"], "ann.lee@contoso.com");
        assert_eq!(doc["active"], false);
        assert_eq!(doc[ENTERPRISE]["department"], "Research");
    }

    #[test]
    fn required_fields_and_ids_are_checked() {
        let mut doc = user();
        doc["name"] = json!({"givenName": "Ann"});
        assert!(matches!(to_legacy(Kind::User, &doc), Err(ConnectorError::Rejected(_))));
        assert!(matches!(get(Kind::User, "not-a-number"), Err(ConnectorError::Rejected(_))));
        let team = to_legacy(Kind::Group, &json!({"displayName": "Eng", "members": [{"value": "3"}, {"value": "3"}]}));
        assert_eq!(team.unwrap(), json!({"name": "Eng", "members": [3]}));
    }

    #[test]
    fn answers_map_to_the_contract() {
        assert_eq!(failure(429, "", Some("7")), ConnectorError::Busy(7));
        assert!(matches!(failure(409, r#"{"error":{"code":"DUPLICATE","message":"mail taken"}}"#, None),
            ConnectorError::Conflict(m) if m.contains("mail taken")));
        assert!(matches!(failure(500, "oops", None), ConnectorError::Failed(_)));
        assert_eq!(find(Kind::User, "userName", "a+b@x.com").unwrap().path, "/api/v1/employees?mail=a%2Bb%40x.com");
        assert!(find(Kind::User, "externalId", "x").is_none());
    }
}
