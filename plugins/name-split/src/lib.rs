//! `name-split` (transform-in): fill in a user's `name` from what was sent.
//!
//! - When neither `name.givenName` nor `name.familyName` is sent but
//!   `displayName` is, they are derived from it: `"Last, First"` splits at
//!   the comma; otherwise the last word is the family name and the words
//!   before it the given name (`"Mary Ann Smith"` -> `Mary Ann` / `Smith`).
//!   A single word becomes the given name.
//! - When `name.formatted` is not sent, it is composed from
//!   `honorificPrefix givenName middleName familyName honorificSuffix`.
//!
//! Values that were sent are never overwritten. Groups pass through. No
//! configuration.

use scimgate_sdk::{Context, HookError, Reads, Resource, TransformIn, Value};

pub struct NameSplit;

impl TransformIn for NameSplit {
    fn transform_in(mut doc: Resource, ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
        if !ctx.is_user() {
            return Ok(doc);
        }
        let present = |doc: &Resource, path: &str| doc.get_str(path).is_some_and(|v| !v.trim().is_empty());
        if !present(&doc, "name.givenName")
            && !present(&doc, "name.familyName")
            && let Some((given, family)) = doc.get_str("displayName").and_then(split_display_name)
        {
            doc.set("name.givenName", given)?;
            if let Some(family) = family {
                doc.set("name.familyName", family)?;
            }
        }
        if !present(&doc, "name.formatted") {
            let parts: Vec<&str> = ["honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix"]
                .iter()
                .filter_map(|sub| doc.get_str(&format!("name.{sub}")))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect();
            if !parts.is_empty() {
                let formatted = parts.join(" ");
                doc.set("name.formatted", formatted)?;
            }
        }
        Ok(doc)
    }
}

/// `(given, family)` from a display name; `None` when it is blank.
fn split_display_name(display: &str) -> Option<(String, Option<String>)> {
    if let Some((family, given)) = display.split_once(',') {
        let (family, given) = (family.trim(), given.trim());
        if !family.is_empty() && !given.is_empty() {
            return Some((given.to_owned(), Some(family.to_owned())));
        }
    }
    let words: Vec<&str> = display.split_whitespace().collect();
    match words.as_slice() {
        [] => None,
        [single] => Some(((*single).to_owned(), None)),
        [given @ .., family] => Some((given.join(" "), Some((*family).to_owned()))),
    }
}

/// Only these cross into the component (see [`Reads`]).
impl Reads for NameSplit {
    const ATTRIBUTES: &'static [&'static str] = &["name", "displayName"];
}

scimgate_sdk::export_plugin!(NameSplit: transform_in, reads);

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_sdk::json;
    use scimgate_sdk::testing::{group_create, resource, user_create};

    fn run(doc: Value) -> Value {
        NameSplit::transform_in(resource(doc), &user_create(), &Value::Null).unwrap().into_value()
    }

    #[test]
    fn splits_display_name_when_only_it_is_sent() {
        let out = run(json!({"userName": "m", "displayName": "Mary Ann Smith"}));
        assert_eq!(out["name"], json!({"givenName": "Mary Ann", "familyName": "Smith", "formatted": "Mary Ann Smith"}));
        let out = run(json!({"displayName": " Smith ,  John "}));
        assert_eq!(out["name"], json!({"givenName": "John", "familyName": "Smith", "formatted": "John Smith"}));
        let out = run(json!({"displayName": "Cher", "name": {"givenName": null}}));
        assert_eq!(out["name"], json!({"givenName": "Cher", "formatted": "Cher"}));
    }

    #[test]
    fn sent_values_are_kept() {
        let out = run(json!({"displayName": "Bob Jones", "name": {"givenName": "Robert"}}));
        assert_eq!(out["name"], json!({"givenName": "Robert", "formatted": "Robert"}));
        let sent = json!({"givenName": "Ann", "familyName": "Lee", "formatted": "Dr. Ann Lee"});
        let out = run(json!({"displayName": "Someone Else", "name": sent}));
        assert_eq!(out["name"], sent);
    }

    #[test]
    fn formatted_is_composed_from_all_parts() {
        let out = run(json!({"name": {
            "honorificPrefix": "Dr.", "givenName": "Ann", "middleName": "B", "familyName": "Lee", "honorificSuffix": "PhD"
        }}));
        assert_eq!(out["name"]["formatted"], "Dr. Ann B Lee PhD");
    }

    #[test]
    fn nothing_to_do() {
        assert_eq!(run(json!({"userName": "x"})), json!({"userName": "x"}));
        assert_eq!(run(json!({"displayName": "   "})), json!({"displayName": "   "}));
        let group = json!({"displayName": "Sales Team"});
        let out = NameSplit::transform_in(resource(group.clone()), &group_create(), &Value::Null).unwrap();
        assert_eq!(out.into_value(), group);
    }
}
