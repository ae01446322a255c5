//! `match-by-email` (match-keys): the keys to find a user's target account,
//! in order: `externalId`, then the work email (`emails.value`: the primary
//! work email, else the first one), then `userName`. Absent or blank values
//! give no key. Groups are matched by `externalId`, then `displayName`. No
//! configuration.

use scimgate_sdk::{Context, HookError, MatchKey, MatchKeys, Reads, Resource, Value};

pub struct MatchByEmail;

impl MatchKeys for MatchByEmail {
    fn match_keys(doc: &Resource, ctx: &Context, _config: &Value) -> Result<Vec<MatchKey>, HookError> {
        let non_blank = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let mut keys = Vec::new();
        if let Some(id) = doc.get_str("externalId").and_then(non_blank) {
            keys.push(MatchKey::new("externalId", id));
        }
        if ctx.is_group() {
            if let Some(name) = doc.get_str("displayName").and_then(non_blank) {
                keys.push(MatchKey::new("displayName", name));
            }
            return Ok(keys);
        }
        let work_email =
            doc.get_str(r#"emails[type eq "work" and primary eq true].value"#).and_then(non_blank).or_else(|| {
                doc.get_all(r#"emails[type eq "work"].value"#).into_iter().filter_map(Value::as_str).find_map(non_blank)
            });
        if let Some(email) = work_email {
            keys.push(MatchKey::new("emails.value", email));
        }
        if let Some(user_name) = doc.get_str("userName").and_then(non_blank) {
            keys.push(MatchKey::new("userName", user_name));
        }
        Ok(keys)
    }
}

/// Only these cross into the component (see [`Reads`]).
impl Reads for MatchByEmail {
    const ATTRIBUTES: &'static [&'static str] = &["externalId", "displayName", "emails", "userName"];
}

scimgate_sdk::export_plugin!(MatchByEmail: match_keys, reads);

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_sdk::json;
    use scimgate_sdk::testing::{group_create, resource, user_create};

    fn keys(doc: Value) -> Vec<(String, String)> {
        MatchByEmail::match_keys(&resource(doc), &user_create(), &Value::Null)
            .unwrap()
            .into_iter()
            .map(|k| (k.attribute, k.value))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(a, v)| (a.to_string(), v.to_string())).collect()
    }

    #[test]
    fn external_id_then_work_email_then_user_name() {
        let doc = json!({
            "externalId": "00u1",
            "userName": "alice",
            "emails": [
                {"value": "alice@home.example", "type": "home", "primary": true},
                {"value": "alice.old@corp.example", "type": "work"},
                {"value": "alice@corp.example", "type": "work", "primary": true}
            ]
        });
        assert_eq!(
            keys(doc),
            pairs(&[("externalId", "00u1"), ("emails.value", "alice@corp.example"), ("userName", "alice")])
        );
    }

    #[test]
    fn missing_values_give_no_key() {
        let doc =
            json!({"userName": "bob", "externalId": " ", "emails": [{"value": "bob@corp.example", "type": "work"}]});
        assert_eq!(keys(doc), pairs(&[("emails.value", "bob@corp.example"), ("userName", "bob")]));
        assert_eq!(keys(json!({"emails": [{"value": "x@home", "type": "home"}]})), pairs(&[]));
    }

    #[test]
    fn groups_match_by_external_id_and_display_name() {
        let group = resource(json!({"externalId": "g1", "displayName": "Engineering"}));
        let keys = MatchByEmail::match_keys(&group, &group_create(), &Value::Null).unwrap();
        assert_eq!(keys, [MatchKey::new("externalId", "g1"), MatchKey::new("displayName", "Engineering")]);
    }
}
