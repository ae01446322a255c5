//! `work-email` (transform-in): a user's `userName` becomes their primary work
//! email, lower-cased.
//!
//! The work email is the `emails` element of type `work` marked `primary`, or
//! else the first work email. A user without one is rejected, since the
//! target could not identify them. Groups pass through unchanged. No
//! configuration.

use scimgate_sdk::{Context, HookError, Reads, Resource, TransformIn, Value, log};

pub struct WorkEmail;

impl TransformIn for WorkEmail {
    fn transform_in(mut doc: Resource, ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        if !ctx.is_user() {
            return Ok(doc);
        }
        let Some(email) = work_email(&doc) else {
            return Err(HookError::rejected(
                "work-email: the user has no work email (an emails entry with type \"work\"), \
                 so no userName can be derived from it",
            ));
        };
        let user_name = email.trim().to_lowercase();
        if doc.get_str("userName") != Some(user_name.as_str()) {
            log::debug(&format!("userName set from the work email: {user_name}"));
            doc.set("userName", user_name)?;
        }
        Ok(doc)
    }
}

/// The primary work email, else the first work email with a non-blank value.
fn work_email(doc: &Resource) -> Option<&str> {
    let usable = |v: &&str| !v.trim().is_empty();
    doc.get_str(r#"emails[type eq "work" and primary eq true].value"#)
        .filter(usable)
        .or_else(|| doc.get_all(r#"emails[type eq "work"].value"#).into_iter().filter_map(Value::as_str).find(usable))
}

/// Only these cross into the component (see [`Reads`]).
impl Reads for WorkEmail {
    const ATTRIBUTES: &'static [&'static str] = &["userName", "emails"];
}

scimgate_sdk::export_plugin!(WorkEmail: transform_in, reads);

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_sdk::json;
    use scimgate_sdk::testing::{group_create, resource, take_logs, user_create};

    fn run(doc: Value) -> Result<Value, HookError> {
        WorkEmail::transform_in(resource(doc), &user_create(), &Value::Null).map(Resource::into_value)
    }

    #[test]
    fn user_name_becomes_the_lower_cased_primary_work_email() {
        let out = run(json!({
            "userName": "alice",
            "emails": [
                {"value": "alice@home.example", "type": "home", "primary": true},
                {"value": "Alice.Old@Corp.example", "type": "work"},
                {"value": "Alice.Smith@Corp.example", "type": "work", "primary": true}
            ]
        }))
        .unwrap();
        assert_eq!(out["userName"], "alice.smith@corp.example");
        assert_eq!(out["emails"].as_array().unwrap().len(), 3, "emails are left alone");
        assert_eq!(take_logs().len(), 1);
    }

    #[test]
    fn without_a_primary_the_first_work_email_wins() {
        let out = run(json!({
            "userName": "bob",
            "emails": [{"value": "bob@home.example", "type": "home"}, {"value": " BOB@Corp.example ", "type": "Work"}]
        }))
        .unwrap();
        assert_eq!(out["userName"], "bob@corp.example");
    }

    #[test]
    fn a_user_without_a_work_email_is_rejected() {
        for doc in [
            json!({"userName": "carol"}),
            json!({"userName": "carol", "emails": [{"value": "carol@home.example", "type": "home", "primary": true}]}),
            json!({"userName": "carol", "emails": [{"value": "  ", "type": "work"}]}),
        ] {
            let err = run(doc).unwrap_err();
            assert!(matches!(&err, HookError::Rejected(m) if m.contains("no work email")), "{err}");
        }
    }

    #[test]
    fn groups_pass_through() {
        let group = json!({"displayName": "Engineering"});
        let out = WorkEmail::transform_in(resource(group.clone()), &group_create(), &Value::Null).unwrap();
        assert_eq!(out.into_value(), group);
    }
}
