//! `department-scope` (scope): only users of the configured departments and
//! user types are provisioned.
//!
//! Configuration (both lists optional, compared case-insensitively):
//!
//! ```json
//! { "departments": ["Engineering", "Sales"], "user_types": ["Employee"] }
//! ```
//!
//! A user is in scope when their Enterprise User `department` is one of
//! `departments` (if that list is configured) and their `userType` is one of
//! `user_types` (if configured). A user missing a configured attribute is out
//! of scope. Groups are always in scope; so is everyone when neither list is
//! configured.

use scimgate_sdk::scim::schema::ENTERPRISE_USER_SCHEMA;
use scimgate_sdk::{Context, HookError, Reads, Resource, Scope, ScopeDecision, Value};

pub struct DepartmentScope;

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    departments: Option<Vec<String>>,
    user_types: Option<Vec<String>>,
}

impl Scope for DepartmentScope {
    fn scope(doc: &Resource, ctx: &Context, config: &Value) -> Result<ScopeDecision, HookError> {
        let config: Config = scimgate_sdk::config(config)?;
        if !ctx.is_user() {
            return Ok(ScopeDecision::In);
        }
        let department_path = format!("{ENTERPRISE_USER_SCHEMA}:department");
        let checks = [
            ("department", department_path.as_str(), &config.departments),
            ("userType", "userType", &config.user_types),
        ];
        for (label, path, allowed) in checks {
            let Some(allowed) = allowed else { continue };
            match doc.get_str(path).map(str::trim).filter(|v| !v.is_empty()) {
                None => return Ok(ScopeDecision::Out(format!("the user has no {label}"))),
                Some(value) if !allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(value)) => {
                    return Ok(ScopeDecision::Out(format!("{label} {value:?} is not one of {allowed:?}")));
                }
                Some(_) => {}
            }
        }
        Ok(ScopeDecision::In)
    }
}

/// Only these cross into the component (see [`Reads`]).
impl Reads for DepartmentScope {
    const ATTRIBUTES: &'static [&'static str] = &[ENTERPRISE_USER_SCHEMA, "userType"];
}

scimgate_sdk::export_plugin!(DepartmentScope: scope, reads);

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_sdk::json;
    use scimgate_sdk::testing::{group_create, resource, user_create};

    fn user(department: Option<&str>, user_type: Option<&str>) -> Resource {
        let mut doc = json!({"userName": "alice"});
        if let Some(d) = department {
            doc[ENTERPRISE_USER_SCHEMA] = json!({"department": d});
        }
        if let Some(t) = user_type {
            doc["userType"] = json!(t);
        }
        resource(doc)
    }

    fn scope(doc: &Resource, config: Value) -> ScopeDecision {
        DepartmentScope::scope(doc, &user_create(), &config).unwrap()
    }

    #[test]
    fn departments_and_user_types_filter_users() {
        let config = json!({"departments": ["Engineering", "Sales"], "user_types": ["Employee"]});
        assert_eq!(scope(&user(Some("engineering"), Some("Employee")), config.clone()), ScopeDecision::In);
        assert_eq!(scope(&user(Some("Sales"), Some("employee")), config.clone()), ScopeDecision::In);
        let ScopeDecision::Out(reason) = scope(&user(Some("Marketing"), Some("Employee")), config.clone()) else {
            panic!("Marketing is out of scope")
        };
        assert!(reason.contains("department \"Marketing\""), "{reason}");
        let ScopeDecision::Out(reason) = scope(&user(Some("Sales"), Some("Contractor")), config.clone()) else {
            panic!("contractors are out of scope")
        };
        assert!(reason.contains("userType \"Contractor\""), "{reason}");
        assert_eq!(
            scope(&user(None, Some("Employee")), config.clone()),
            ScopeDecision::Out("the user has no department".into())
        );
        assert_eq!(scope(&user(Some("Sales"), None), config), ScopeDecision::Out("the user has no userType".into()));
    }

    #[test]
    fn only_configured_lists_apply() {
        assert_eq!(scope(&user(Some("Sales"), None), json!({"departments": ["sales"]})), ScopeDecision::In);
        assert_eq!(scope(&user(None, Some("Employee")), json!({"user_types": ["Employee"]})), ScopeDecision::In);
        assert_eq!(scope(&user(None, None), Value::Null), ScopeDecision::In);
        assert_eq!(scope(&user(None, None), json!({})), ScopeDecision::In);
        assert!(matches!(scope(&user(None, None), json!({"departments": []})), ScopeDecision::Out(_)));
    }

    #[test]
    fn groups_are_in_scope_and_bad_config_fails() {
        let group = resource(json!({"displayName": "Everyone"}));
        let config = json!({"departments": ["Engineering"]});
        assert_eq!(DepartmentScope::scope(&group, &group_create(), &config).unwrap(), ScopeDecision::In);
        let err = DepartmentScope::scope(&group, &group_create(), &json!({"department": "x"})).unwrap_err();
        assert!(matches!(err, HookError::Failed(m) if m.contains("invalid plugin configuration")));
    }
}
