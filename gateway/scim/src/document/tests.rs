//! The rules of the module documentation, one test per case.

use serde_json::json;

use super::*;
use crate::schema::{GROUP_SCHEMA, USER_SCHEMA};

const ENTERPRISE: &str = ENTERPRISE_USER_SCHEMA;
const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

fn user() -> ResourceSchema {
    ResourceSchema::user()
}

fn path(text: &str) -> ValuePath {
    ValuePath::parse(text).unwrap()
}

fn first_of(doc: &Value, text: &str) -> Option<Value> {
    first(doc, &path(text), &user()).cloned()
}

fn all_of(doc: &Value, text: &str) -> Vec<Value> {
    all(doc, &path(text), &user()).into_iter().cloned().collect()
}

fn set_at(doc: &mut Value, text: &str, value: Value) -> Result<(), WriteError> {
    set(doc, &path(text), value, &user())
}

fn emails() -> Value {
    json!({"emails": [
        {"type": "work", "value": "first@x"},
        {"type": "home", "value": "home@x"},
        {"type": "work", "value": "primary@x", "primary": true}
    ]})
}

/// (a) A filter matching nothing, one element or several.
#[test]
fn filtered_reads_with_zero_one_and_many_matches() {
    let doc = emails();
    assert_eq!(first_of(&doc, r#"emails[type eq "other"].value"#), None);
    assert!(all_of(&doc, r#"emails[type eq "other"].value"#).is_empty());

    assert_eq!(first_of(&doc, r#"emails[type eq "home"].value"#), Some(json!("home@x")));
    assert_eq!(all_of(&doc, r#"emails[type eq "home"].value"#), [json!("home@x")]);

    assert_eq!(first_of(&doc, r#"emails[type eq "work"].value"#), Some(json!("primary@x")), "the primary wins");
    assert_eq!(all_of(&doc, r#"emails[type eq "work"].value"#), [json!("first@x"), json!("primary@x")]);

    // Without a primary, the first in document order; Entra's "True" is primary.
    let doc = json!({"emails": [{"type": "work", "value": "a"}, {"type": "work", "value": "b"}]});
    assert_eq!(first_of(&doc, r#"emails[type eq "work"].value"#), Some(json!("a")));
    let doc = json!({"emails": [{"type": "work", "value": "a"}, {"type": "work", "value": "b", "primary": "True"}]});
    assert_eq!(first_of(&doc, r#"emails[type eq "work"].value"#), Some(json!("b")));

    // Elements without the value are not candidates, even the primary one.
    let doc = json!({"emails": [{"type": "work", "primary": true}, {"type": "work", "value": "v", "display": null}]});
    assert_eq!(first_of(&doc, r#"emails[type eq "work"].value"#), Some(json!("v")));
    assert_eq!(first_of(&doc, r#"emails[type eq "work"].display"#), None, "null reads as absent");
    // A filter without a sub-attribute selects elements; a lone object is one.
    assert_eq!(first_of(&doc, "emails[value pr]"), Some(json!({"type": "work", "value": "v", "display": null})));
    let doc = json!({"emails": {"type": "work", "value": "lone"}});
    assert_eq!(first_of(&doc, r#"emails[type eq "work"].value"#), Some(json!("lone")));
}

/// (b) No filter on a multi-valued attribute: `first` is the primary
/// element's value, `all` every element's; without a sub-attribute the
/// whole attribute is one value.
#[test]
fn unfiltered_reads_on_multi_valued_attributes() {
    let doc = emails();
    assert_eq!(first_of(&doc, "emails.value"), Some(json!("primary@x")));
    assert_eq!(all_of(&doc, "emails.value"), [json!("first@x"), json!("home@x"), json!("primary@x")]);
    assert_eq!(first_of(&doc, "emails"), Some(doc["emails"].clone()));
    assert_eq!(all_of(&doc, "emails"), [doc["emails"].clone()]);
    assert_eq!(first_of(&json!({"name": {"givenName": "A"}}), "name.givenName"), Some(json!("A")));
    assert_eq!(first_of(&json!({"userName": "x"}), "userName.sub"), None);
    assert_eq!(first_of(&json!([1]), "userName"), None);
}

/// (c) Core URNs mean the top level and other URNs an extension, in any case.
#[test]
fn core_and_extension_urns() {
    assert!(is_core_urn(USER_SCHEMA) && is_core_urn(GROUP_SCHEMA));
    assert!(is_core_urn("URN:IETF:params:scim:schemas:CORE:2.0:User"));
    assert!(!is_core_urn(ENTERPRISE) && !is_core_urn("urn:ietf:params:scim:schemas:core:2.0"));

    let doc = json!({
        "name": {"givenName": "Alice"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:USER": {"department": "R&D"}
    });
    assert_eq!(first_of(&doc, "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"), Some(json!("Alice")));
    assert_eq!(first_of(&doc, "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:NAME.GIVENNAME"), Some(json!("Alice")));
    assert_eq!(first_of(&doc, &format!("{ENTERPRISE}:department")), Some(json!("R&D")));
    assert_eq!(first_of(&doc, &format!("{}:department", ENTERPRISE.to_uppercase())), Some(json!("R&D")));
    assert_eq!(first_of(&doc, ENTERPRISE), Some(json!({"department": "R&D"})), "a bare URN is the whole object");
    assert_eq!(first_of(&doc, &format!("{ACME}:department")), None);
    assert_eq!(first_of(&doc, &format!("{ENTERPRISE}:name.givenName")), None, "extensions are not the top level");

    let mut doc = json!({"schemas": [USER_SCHEMA]});
    set_at(&mut doc, &format!("{USER_SCHEMA}:nickName"), json!("Al")).unwrap();
    assert_eq!(doc, json!({"schemas": [USER_SCHEMA], "nickName": "Al"}), "a core URN writes the top level");
}

/// (d) A write through a filter that matches nothing appends the element
/// the filter's `eq` terms describe; one that matches writes the element
/// `first` reads.
#[test]
fn writes_through_filters() {
    let mut doc = emails();
    set_at(&mut doc, r#"emails[type eq "work"].value"#, json!("new@x")).unwrap();
    assert_eq!(doc["emails"][2]["value"], "new@x", "the primary match");
    assert_eq!(doc["emails"][0]["value"], "first@x", "the other match is left alone");

    set_at(&mut doc, r#"emails[type eq "other" and primary eq false].value"#, json!("o@x")).unwrap();
    assert_eq!(doc["emails"][3], json!({"type": "other", "primary": false, "value": "o@x"}));
    set_at(&mut doc, r#"phoneNumbers[type eq "mobile"]"#, json!({"value": "+1"})).unwrap();
    assert_eq!(doc["phoneNumbers"], json!([{"type": "mobile", "value": "+1"}]));
    set_at(&mut doc, r#"phoneNumbers[type eq "mobile"]"#, json!({"type": "fax", "value": "+2"})).unwrap();
    assert_eq!(doc["phoneNumbers"], json!([{"type": "fax", "value": "+2"}]), "a match is replaced");

    let err = set_at(&mut doc, r#"emails[value co "z"].display"#, json!("z")).unwrap_err();
    assert!(matches!(err, WriteError::NoElement { .. }), "{err}");
    assert!(set_at(&mut doc, r#"emails[type eq null].display"#, json!("z")).is_err(), "eq null builds nothing");

    // A lone object where an array belongs becomes its first element.
    let mut doc = json!({"emails": {"type": "home", "value": "h"}});
    set_at(&mut doc, r#"emails[type eq "work"].value"#, json!("w")).unwrap();
    assert_eq!(doc["emails"], json!([{"type": "home", "value": "h"}, {"type": "work", "value": "w"}]));

    // Without a filter, `attr.sub` on a multi-valued attribute writes the
    // element `first` reads, or a new one.
    let mut doc = json!({"emails": [{"value": "a"}, {"value": "b", "primary": true}], "name": "oops"});
    set_at(&mut doc, "emails.display", json!("B")).unwrap();
    assert_eq!(doc["emails"], json!([{"value": "a"}, {"value": "b", "primary": true, "display": "B"}]));
    set_at(&mut doc, "name.formatted", json!("A B")).unwrap();
    assert_eq!(doc["name"], json!({"formatted": "A B"}), "a scalar where an object belongs is replaced");
    let mut doc = json!({"emails": []});
    set_at(&mut doc, "emails.value", json!("v")).unwrap();
    assert_eq!(doc["emails"], json!([{"value": "v"}]));
    assert_eq!(set_at(&mut json!("x"), "userName", json!("u")), Err(WriteError::NotAnObject));
}

/// (e) Names match in any case; writes keep the existing spelling.
#[test]
fn names_are_case_insensitive_on_read_and_write() {
    let mut doc = json!({"userName": "a", "Name": {"GivenName": "A"}, "emails": [{"TYPE": "work", "Value": "w"}]});
    assert_eq!(first_of(&doc, "USERNAME"), Some(json!("a")));
    assert_eq!(first_of(&doc, "name.givenname"), Some(json!("A")));
    assert_eq!(first_of(&doc, r#"EMAILS[type eq "WORK"].VALUE"#), Some(json!("w")));

    set_at(&mut doc, "username", json!("b")).unwrap();
    set_at(&mut doc, "NAME.givenName", json!("B")).unwrap();
    set_at(&mut doc, r#"Emails[Type eq "work"].value"#, json!("v")).unwrap();
    set_at(&mut doc, "name.familyName", json!("F")).unwrap();
    assert_eq!(
        doc,
        json!({"userName": "b", "Name": {"GivenName": "B", "familyName": "F"}, "emails": [{"TYPE": "work", "Value": "v"}]})
    );
    assert_eq!(remove(&mut doc, &path("NAME.GIVENNAME"), &user()), 1);
    assert_eq!(doc["Name"], json!({"familyName": "F"}));
}

/// (f) A write into an extension creates it and lists its URN in `schemas`.
#[test]
fn extension_writes_list_the_schema() {
    let mut doc = json!({"schemas": [USER_SCHEMA], "userName": "bob"});
    set_at(&mut doc, &format!("{ENTERPRISE}:manager.value"), json!("m-1")).unwrap();
    assert_eq!(doc[ENTERPRISE], json!({"manager": {"value": "m-1"}}));
    assert_eq!(doc["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    set_at(&mut doc, &format!("{}:department", ENTERPRISE.to_lowercase()), json!("Sales")).unwrap();
    assert_eq!(doc[ENTERPRISE], json!({"manager": {"value": "m-1"}, "department": "Sales"}));
    assert_eq!(doc["schemas"], json!([USER_SCHEMA, ENTERPRISE]), "listed once, in any case");

    doc["schemas"].as_array_mut().unwrap().push(json!(ACME));
    set_at(&mut doc, ACME, json!({"badge": 7})).unwrap();
    assert_eq!(doc[ACME], json!({"badge": 7}), "a bare URN the document lists names the whole object");
    set_at(&mut doc, ENTERPRISE, json!({"department": "Ops"})).unwrap();
    assert_eq!(doc[ENTERPRISE], json!({"department": "Ops"}), "so does the Enterprise User's");
    assert_eq!(doc["schemas"], json!([USER_SCHEMA, ENTERPRISE, ACME]));

    let mut bare = json!({});
    set_at(&mut bare, &format!("{ACME}:badge"), json!(1)).unwrap();
    assert_eq!(bare, json!({ACME: {"badge": 1}}), "no `schemas` array, none made up");
}

#[test]
fn removal_takes_every_match() {
    let mut doc = emails();
    doc["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
    doc[ENTERPRISE] = json!({"department": "R&D"});
    assert_eq!(remove(&mut doc, &path(r#"emails[type eq "work"].value"#), &user()), 2);
    assert_eq!(remove(&mut doc, &path(r#"emails[value pr]"#), &user()), 1);
    assert_eq!(remove(&mut doc, &path("emails"), &user()), 1);
    assert_eq!(remove(&mut doc, &path(r#"emails[type eq "home"]"#), &user()), 0);
    assert_eq!(remove(&mut doc, &path(ENTERPRISE), &user()), 1);
    assert_eq!(doc["schemas"], json!([USER_SCHEMA]));
    assert_eq!(remove(&mut json!([]), &path("userName"), &user()), 0);

    let mut doc = json!({"emails": [{"type": "work"}]});
    assert_eq!(remove(&mut doc, &path(r#"emails[type eq "work"]"#), &user()), 1);
    assert_eq!(doc, json!({}), "an emptied multi-valued attribute goes");
}

#[test]
fn elements_from_filters() {
    let filter = |text: &str| Filter::parse(text).unwrap();
    assert_eq!(
        element_from_filter(&filter(r#"type eq "work" and primary eq true"#)),
        Some(Map::from_iter([("type".to_owned(), json!("work")), ("primary".to_owned(), json!(true))]))
    );
    for refused in [r#"type eq "work" or primary eq true"#, r#"type ne "work""#, "type eq null", r#"a.b eq "x""#] {
        assert_eq!(element_from_filter(&filter(refused)), None, "{refused}");
    }
}
