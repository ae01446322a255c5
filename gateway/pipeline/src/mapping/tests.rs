use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::step::Operation;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn ctx() -> HookContext {
    HookContext {
        tenant: "acme".to_owned(),
        idp_profile: "entra".to_owned(),
        operation: Operation::Create,
        resource_type: "User".to_owned(),
        resource_id: None,
    }
}

fn group_ctx() -> HookContext {
    HookContext { resource_type: "Group".to_owned(), ..ctx() }
}

fn step(rules: &[(&str, &str)]) -> MappingStep {
    let config = MappingConfig { transform_in: rules.iter().copied().collect(), ..MappingConfig::default() };
    MappingStep::new("test-map", config).unwrap()
}

fn step_from_toml(text: &str) -> MappingStep {
    let config: MappingConfig = toml::from_str(text).unwrap();
    MappingStep::new("test-map", config).unwrap()
}

fn config_error(text: &str) -> MappingConfigError {
    let config: MappingConfig = toml::from_str(text).unwrap();
    MappingStep::new("test-map", config).unwrap_err()
}

fn eval(expr: &str, doc: &Value) -> Option<Value> {
    Expr::parse(expr).unwrap().eval(doc, &ResourceSchema::user()).unwrap()
}

fn parse_err(expr: &str) -> ExprError {
    match Expr::parse(expr) {
        Ok(parsed) => panic!("{expr:?} parsed as {parsed:?}"),
        Err(e) => e,
    }
}

fn alice() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": "E-1001",
        "userName": "Alice@Example.COM",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "title": "Engineer",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"type": "home", "value": "alice@home.example"},
            {"type": "work", "value": "Alice.Liddell@Example.COM", "primary": true},
            {"type": "work", "value": "second@example.com"}
        ],
        ENTERPRISE: {"department": "R&D", "costCenter": "CC-7", "manager": {"value": "m-1"}}
    })
}

// ---------------------------------------------------------------------------
// The brief's example, from TOML

const EXAMPLE: &str = r#"
kind = "mapping"
scope = 'userType eq "Employee" and active eq true'
match_keys = ["externalId", 'emails[type eq "work"].value', "userName"]
[transform_in]
"userName" = 'lower(emails[type eq "work"].value)'
"name.givenName" = "name.givenName"
"urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCenter" = 'default(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter, "none")'
"displayName" = 'concat(name.givenName, " ", name.familyName)'
"title" = '$.title'
"active" = 'true'
"#;

/// The gateway dispatches on `kind` with an internally tagged enum; the
/// mapping config then sees everything but `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum StepConfig {
    Mapping(MappingConfig),
}

fn example_step() -> MappingStep {
    let StepConfig::Mapping(config) = toml::from_str(EXAMPLE).unwrap();
    MappingStep::new("example", config).unwrap()
}

#[test]
fn example_config_parses_through_a_kind_tagged_enum() {
    let step = example_step();
    assert_eq!(step.name(), "example");
    assert_eq!(
        step.hooks(),
        Hooks { scope: true, transform_in: true, transform_out: true, match_keys: true, on_event: false }
    );
    // Only the plain copy is invertible.
    assert_eq!(step.transform_out_rules(), vec![("name.givenName".to_owned(), "name.givenName".to_owned())]);
}

#[test]
fn example_transform_in() {
    let out = example_step().transform_in(alice(), &ctx()).unwrap();
    assert_eq!(out["userName"], "alice.liddell@example.com");
    assert_eq!(out["name"], json!({"givenName": "Alice", "familyName": "Liddell"}));
    assert_eq!(out[ACME], json!({"costCenter": "CC-7"}));
    assert_eq!(out["schemas"], json!([CORE_USER, ENTERPRISE, ACME]));
    assert_eq!(out["displayName"], "Alice Liddell");
    assert_eq!(out["title"], "Engineer");
    assert_eq!(out["active"], true);
    // Passed through untouched.
    assert_eq!(out["externalId"], "E-1001");
    assert_eq!(out["emails"], alice()["emails"]);
    assert_eq!(out[ENTERPRISE], alice()[ENTERPRISE]);
}

#[test]
fn example_default_applies_when_the_source_is_missing() {
    let mut doc = alice();
    doc[ENTERPRISE].as_object_mut().unwrap().remove("costCenter");
    let out = example_step().transform_in(doc, &ctx()).unwrap();
    assert_eq!(out[ACME]["costCenter"], "none");
}

#[test]
fn example_scope() {
    let step = example_step();
    assert_eq!(step.scope(&alice(), &ctx()).unwrap(), ScopeDecision::In);
    // Entra sends booleans as strings.
    let mut doc = alice();
    doc["active"] = json!("True");
    assert_eq!(step.scope(&doc, &ctx()).unwrap(), ScopeDecision::In);
    doc["userType"] = json!("Contractor");
    let ScopeDecision::Out { reason } = step.scope(&doc, &ctx()).unwrap() else { panic!("in scope") };
    assert!(reason.contains(r#"userType eq "Employee" and active eq true"#), "{reason}");
    assert!(reason.starts_with("example:"), "{reason}");
    let mut doc = alice();
    doc["active"] = json!(false);
    assert!(matches!(step.scope(&doc, &ctx()).unwrap(), ScopeDecision::Out { .. }));
}

#[test]
fn example_match_keys_in_order_skipping_missing_ones() {
    let step = example_step();
    let keys = step.match_keys(&alice(), &ctx()).unwrap();
    let expected = [
        ("externalId", "E-1001"),
        (r#"emails[type eq "work"].value"#, "Alice.Liddell@Example.COM"),
        ("userName", "Alice@Example.COM"),
    ];
    let expected: Vec<MatchKey> =
        expected.iter().map(|(a, v)| MatchKey { attribute: (*a).to_owned(), value: (*v).to_owned() }).collect();
    assert_eq!(keys, expected);

    let doc = json!({"userName": "bob", "externalId": "  ", "emails": [{"type": "home", "value": "b@h"}]});
    let keys = step.match_keys(&doc, &ctx()).unwrap();
    assert_eq!(keys, vec![MatchKey { attribute: "userName".to_owned(), value: "bob".to_owned() }]);
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn empty_config_has_no_hooks_and_is_the_identity() {
    let step = MappingStep::new("empty", MappingConfig::default()).unwrap();
    assert_eq!(step.hooks(), Hooks::default());
    assert_eq!(step.transform_in(alice(), &ctx()).unwrap(), alice());
    assert_eq!(step.transform_out(alice(), &ctx()).unwrap(), alice());
    // An empty match_keys list still declares the hook (it answers "no keys").
    let step = MappingStep::new("mk", MappingConfig { match_keys: Some(vec![]), ..MappingConfig::default() }).unwrap();
    assert!(step.hooks().match_keys);
    assert_eq!(step.match_keys(&alice(), &ctx()).unwrap(), vec![]);
}

#[test]
fn config_errors_name_the_rule() {
    let e = config_error("scope = 'userType eq'");
    assert_eq!((e.step.as_str(), e.rule.as_str()), ("test-map", "scope"));
    assert!(e.message.contains("position"), "{e}");

    let e = config_error(r#"match_keys = ["userName", "emails[type eq"]"#);
    assert_eq!(e.rule, "match_keys[1]");

    let e = config_error("[transform_in]\n\"user name\" = \"userName\"");
    assert_eq!(e.rule, r#"transform_in."user name""#);
    assert!(e.message.starts_with("target:"), "{e}");

    let e = config_error("[transform_in]\n\"displayName\" = 'concat(name.givenName, '");
    assert_eq!(e.rule, r#"transform_in."displayName""#);
    assert!(e.message.contains("expected an expression at position 23"), "{e}");
    assert!(e.to_string().starts_with(r#"mapping step "test-map", transform_in."displayName": source"#), "{e}");

    let e = config_error("[transform_out]\n\"title\" = 'nope(title)'");
    assert_eq!(e.rule, r#"transform_out."title""#);
    assert!(e.message.contains(r#"unknown function "nope""#), "{e}");
}

#[test]
fn target_filters_must_be_writable() {
    let e = config_error("[transform_in]\n'emails[type eq \"work\"]' = 'userName'");
    assert!(e.message.contains("needs a sub-attribute"), "{e}");
    let e = config_error("[transform_in]\n'emails[type ne \"work\"].value' = 'userName'");
    assert!(e.message.contains("comparisons joined by `and`"), "{e}");
    let e = config_error("[transform_in]\n'emails[type eq \"work\" or primary eq true].value' = 'userName'");
    assert!(e.message.contains("comparisons joined by `and`"), "{e}");
    // `and` of `eq` is fine.
    step_from_toml("[transform_in]\n'emails[type eq \"work\" and primary eq true].value' = 'userName'");
}

#[test]
fn duplicate_targets_are_rejected() {
    let e = config_error("[transform_in]\n\"userName\" = \"externalId\"\n\"USERNAME\" = \"title\"");
    assert!(e.message.contains("another rule"), "{e}");
}

#[test]
fn unknown_config_fields_are_rejected() {
    let e = toml::from_str::<MappingConfig>("transfrom_in = {}").unwrap_err();
    assert!(e.to_string().contains("transfrom_in"), "{e}");
}

#[test]
fn toml_non_string_values_are_constants() {
    let step = step_from_toml("[transform_in]\nactive = false\n\"x-count\" = 3\n\"title\" = 'null'");
    let out = step.transform_in(alice(), &ctx()).unwrap();
    assert_eq!(out["active"], false);
    assert_eq!(out["x-count"], 3);
    assert_eq!(out["title"], Value::Null);
}

// ---------------------------------------------------------------------------
// Transform semantics

#[test]
fn passthrough_false_starts_from_schemas_only() {
    let step = step_from_toml(
        "passthrough = false\n[transform_in]\nuserName = 'lower(userName)'\n'name.familyName' = 'name.familyName'",
    );
    let out = step.transform_in(alice(), &ctx()).unwrap();
    assert_eq!(
        out,
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "userName": "alice@example.com",
            "name": {"familyName": "Liddell"}
        })
    );
    // No schemas in, none out.
    let out = step.transform_in(json!({"userName": "X"}), &ctx()).unwrap();
    assert_eq!(out, json!({"userName": "x"}));
}

#[test]
fn a_source_that_gives_nothing_leaves_the_target_unchanged() {
    let step = step(&[("title", "nickName"), ("displayName", "lower(nickName)"), ("profileUrl", "$.nothing")]);
    let mut doc = alice();
    doc["displayName"] = json!("Keep me");
    let out = step.transform_in(doc.clone(), &ctx()).unwrap();
    assert_eq!(out, doc);
    // JSON null in the source counts as nothing.
    doc["nickName"] = Value::Null;
    assert_eq!(step.transform_in(doc.clone(), &ctx()).unwrap(), doc);
}

#[test]
fn sources_read_the_incoming_document_not_the_outgoing_one() {
    // Swap two attributes.
    let step = step(&[("title", "userType"), ("userType", "title")]);
    let out = step.transform_in(alice(), &ctx()).unwrap();
    assert_eq!((out["title"].as_str(), out["userType"].as_str()), (Some("Employee"), Some("Engineer")));
}

#[test]
fn whole_attribute_rules_apply_before_finer_ones_whatever_the_order() {
    // TOML tables arrive sorted (toml without preserve_order), so write the
    // finer rule first on purpose.
    let step = step(&[(r#"emails[type eq "work"].value"#, "lower(userName)"), ("emails", "emails")]);
    let out = step.transform_in(alice(), &ctx()).unwrap();
    assert_eq!(out["emails"][1]["value"], "alice@example.com");
    assert_eq!(out["emails"][0]["value"], "alice@home.example");
}

#[test]
fn targets_keep_the_existing_spelling() {
    let step = step(&[("username", "lower(userName)"), ("NAME.GIVENNAME", "upper(name.givenName)")]);
    let out = step.transform_in(alice(), &ctx()).unwrap();
    assert_eq!(out["userName"], "alice@example.com");
    assert!(out.get("username").is_none());
    assert_eq!(out["name"], json!({"givenName": "ALICE", "familyName": "Liddell"}));
}

#[test]
fn value_path_targets_set_the_matching_element_or_create_one() {
    let step = step(&[(r#"emails[type eq "work"].value"#, "lower(userName)")]);
    // Existing: the primary work email.
    let out = step.transform_in(alice(), &ctx()).unwrap();
    assert_eq!(out["emails"][1], json!({"type": "work", "value": "alice@example.com", "primary": true}));
    assert_eq!(out["emails"][2]["value"], "second@example.com");
    // None matches: appended from the filter.
    let doc = json!({"userName": "Bob", "emails": [{"type": "home", "value": "b@h"}]});
    let out = step.transform_in(doc, &ctx()).unwrap();
    assert_eq!(out["emails"], json!([{"type": "home", "value": "b@h"}, {"type": "work", "value": "bob"}]));
    // No emails at all.
    let out = step.transform_in(json!({"userName": "Bob"}), &ctx()).unwrap();
    assert_eq!(out["emails"], json!([{"type": "work", "value": "bob"}]));
    // A lone object where an array belongs (an IdP quirk) becomes an array.
    let doc = json!({"userName": "Bob", "emails": {"type": "home", "value": "b@h"}});
    let out = step.transform_in(doc, &ctx()).unwrap();
    assert_eq!(out["emails"], json!([{"type": "home", "value": "b@h"}, {"type": "work", "value": "bob"}]));
    // The filter is case-insensitive like SCIM's (type is not caseExact).
    let doc = json!({"userName": "Bob", "emails": [{"type": "WORK", "value": "old"}]});
    let out = step.transform_in(doc, &ctx()).unwrap();
    assert_eq!(out["emails"], json!([{"type": "WORK", "value": "bob"}]));
}

#[test]
fn value_path_targets_with_several_terms() {
    let step = step(&[(r#"phoneNumbers[type eq "mobile" and primary eq true].value"#, "\"+1 555\"")]);
    let out = step.transform_in(json!({}), &ctx()).unwrap();
    assert_eq!(out["phoneNumbers"], json!([{"type": "mobile", "primary": true, "value": "+1 555"}]));
}

#[test]
fn sub_attribute_targets_on_objects_arrays_and_missing_attributes() {
    let step = step(&[("name.formatted", "displayName"), ("emails.display", "userName")]);
    let doc =
        json!({"displayName": "A L", "userName": "al", "emails": [{"value": "a"}, {"value": "b", "primary": true}]});
    let out = step.transform_in(doc, &ctx()).unwrap();
    assert_eq!(out["name"], json!({"formatted": "A L"}));
    assert_eq!(out["emails"], json!([{"value": "a"}, {"value": "b", "primary": true, "display": "al"}]));
    let out = step.transform_in(json!({"displayName": "x", "userName": "u", "emails": []}), &ctx()).unwrap();
    assert_eq!(out["emails"], json!([{"display": "u"}]));
    // A scalar where an object belongs is replaced.
    let out = step.transform_in(json!({"displayName": "x", "name": "oops"}), &ctx()).unwrap();
    assert_eq!(out["name"], json!({"formatted": "x"}));
}

#[test]
fn extension_targets() {
    let step = step(&[
        (
            &format!("{ENTERPRISE}:department"),
            "upper(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department)",
        ),
        (&format!("{ACME}:badge.number"), "externalId"),
        (&format!("{CORE_USER}:nickName"), "name.givenName"),
    ]);
    let out = step.transform_in(alice(), &ctx()).unwrap();
    assert_eq!(out[ENTERPRISE]["department"], "R&D");
    assert_eq!(out[ENTERPRISE]["costCenter"], "CC-7");
    assert_eq!(out[ACME], json!({"badge": {"number": "E-1001"}}));
    // A core URN means the top level.
    assert_eq!(out["nickName"], "Alice");
    assert!(out.get(CORE_USER).is_none());
    assert_eq!(out["schemas"], json!([CORE_USER, ENTERPRISE, ACME]));
}

#[test]
fn transform_rejects_non_objects() {
    let step = step(&[("title", "userType")]);
    let e = step.transform_in(json!([1]), &ctx()).unwrap_err();
    assert!(matches!(e, StepError::Failed { ref message, .. } if message.contains("JSON object")), "{e}");
}

#[test]
fn runtime_errors_name_the_rule() {
    let step = step(&[("displayName", "lower(emails)")]);
    let e = step.transform_in(alice(), &ctx()).unwrap_err();
    assert_eq!(
        e,
        StepError::Failed {
            step: "test-map".to_owned(),
            message: "lower() expects text, got an array".to_owned(),
            location: Some(r#"transform_in rule "displayName""#.to_owned()),
        }
    );
    assert_eq!(e.to_string(), r#"test-map: lower() expects text, got an array at transform_in rule "displayName""#);
}

// ---------------------------------------------------------------------------
// transform_out

#[test]
fn transform_out_is_derived_from_plain_copies_only() {
    let step = step(&[
        ("userName", r#"emails[type eq "work"].value"#),
        ("title", "lower(title)"),
        ("nickName", "\"constant\""),
        ("displayName", "$.name.formatted"),
        (&format!("{ACME}:dept"), &format!("{ENTERPRISE}:department")),
        // Not invertible: the source's filter cannot be a target.
        ("profileUrl", r#"emails[type ne "home"].value"#),
    ]);
    let rules = step.transform_out_rules();
    assert_eq!(
        rules,
        vec![
            (format!("{ENTERPRISE}:department"), format!("{ACME}:dept")),
            (r#"emails[type eq "work"].value"#.to_owned(), "userName".to_owned()),
        ]
    );
    assert!(step.hooks().transform_out);

    // In and back out.
    let doc = json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "userName": "ignored",
        "emails": [{"type": "work", "value": "a@x"}],
        ENTERPRISE: {"department": "Ops"}
    });
    let target = step.transform_in(doc, &ctx()).unwrap();
    assert_eq!(target["userName"], "a@x");
    assert_eq!(target[ACME]["dept"], "Ops");
    let mut target = target;
    target["userName"] = json!("renamed@x");
    target[ACME]["dept"] = json!("Sales");
    let back = step.transform_out(target, &ctx()).unwrap();
    assert_eq!(back["emails"], json!([{"type": "work", "value": "renamed@x"}]));
    assert_eq!(back[ENTERPRISE]["department"], "Sales");
}

#[test]
fn a_source_copied_twice_is_read_back_from_the_first_target() {
    let step = step(&[("nickName", "externalId"), ("title", "externalId")]);
    assert_eq!(step.transform_out_rules(), vec![("externalId".to_owned(), "nickName".to_owned())]);
}

#[test]
fn no_invertible_rule_means_no_transform_out() {
    let step = step(&[("userName", "lower(userName)"), ("active", "true")]);
    assert!(!step.hooks().transform_out);
    assert_eq!(step.transform_out(alice(), &ctx()).unwrap(), alice());
}

#[test]
fn explicit_transform_out_overrides_and_an_empty_one_disables() {
    let step = step_from_toml(
        "[transform_in]\ntitle = 'userType'\n[transform_out]\nuserType = 'upper(title)'\nnickName = 'title'",
    );
    let mut rules = step.transform_out_rules();
    rules.sort();
    assert_eq!(
        rules,
        vec![("nickName".to_owned(), "title".to_owned()), ("userType".to_owned(), "upper(title)".to_owned())]
    );
    let out = step.transform_out(json!({"title": "boss"}), &ctx()).unwrap();
    assert_eq!(out, json!({"title": "boss", "userType": "BOSS", "nickName": "boss"}));

    let step = step_from_toml("[transform_in]\ntitle = 'userType'\n[transform_out]\n");
    assert!(!step.hooks().transform_out);
}

// ---------------------------------------------------------------------------
// Source paths

#[test]
fn multi_valued_sources_prefer_the_primary_element() {
    let doc = json!({"emails": [
        {"type": "work", "value": "first@x"},
        {"type": "home", "value": "home@x"},
        {"type": "work", "value": "primary@x", "primary": true}
    ]});
    assert_eq!(eval(r#"emails[type eq "work"].value"#, &doc), Some(json!("primary@x")));
    assert_eq!(eval("emails.value", &doc), Some(json!("primary@x")));
    assert_eq!(eval(r#"emails[type eq "home"].value"#, &doc), Some(json!("home@x")));
    assert_eq!(eval(r#"emails[type eq "other"].value"#, &doc), None);
    // Without a primary: the first match.
    let doc = json!({"emails": [{"type": "work", "value": "first@x"}, {"type": "work", "value": "second@x"}]});
    assert_eq!(eval(r#"emails[type eq "work"].value"#, &doc), Some(json!("first@x")));
    // Entra's string boolean counts as primary.
    let doc = json!({"emails": [{"value": "a"}, {"value": "b", "primary": "True"}]});
    assert_eq!(eval("emails.value", &doc), Some(json!("b")));
    // Elements without the sub-attribute are skipped.
    let doc = json!({"emails": [{"type": "work", "primary": true}, {"type": "work", "value": "v"}]});
    assert_eq!(eval(r#"emails[type eq "work"].value"#, &doc), Some(json!("v")));
    // A filter without a sub-attribute selects the element.
    assert_eq!(eval(r#"emails[value pr]"#, &doc), Some(json!({"type": "work", "value": "v"})));
    // Without a filter nor a sub-attribute, the whole attribute.
    assert_eq!(eval("emails", &doc), Some(doc["emails"].clone()));
}

#[test]
fn source_paths_are_case_insensitive_and_schema_aware() {
    let doc = alice();
    assert_eq!(eval("USERNAME", &doc), Some(json!("Alice@Example.COM")));
    assert_eq!(eval("Name.GivenName", &doc), Some(json!("Alice")));
    assert_eq!(eval(&format!("{ENTERPRISE}:department"), &doc), Some(json!("R&D")));
    assert_eq!(eval(&format!("{ENTERPRISE}:manager.value"), &doc), Some(json!("m-1")));
    assert_eq!(eval(&format!("{CORE_USER}:userName"), &doc), Some(json!("Alice@Example.COM")));
    assert_eq!(eval(ENTERPRISE, &doc), Some(doc[ENTERPRISE].clone()));
    assert_eq!(eval(&format!("{ACME}:x"), &doc), None);
    assert_eq!(eval("name.middleName", &doc), None);
    assert_eq!(eval("userName.x", &doc), None);
}

#[test]
fn group_documents_use_the_group_schema() {
    let step = step_from_toml(
        r#"scope = 'displayName sw "eng-"'
match_keys = ['members[value eq "u1"].value', "displayName"]
[transform_in]
displayName = 'upper(displayName)'"#,
    );
    let group = json!({"displayName": "eng-core", "members": [{"value": "u1"}, {"value": "u2"}]});
    assert_eq!(step.scope(&group, &group_ctx()).unwrap(), ScopeDecision::In);
    assert!(matches!(step.scope(&json!({"displayName": "ops"}), &group_ctx()).unwrap(), ScopeDecision::Out { .. }));
    let keys = step.match_keys(&group, &group_ctx()).unwrap();
    assert_eq!(keys.iter().map(|k| k.value.as_str()).collect::<Vec<_>>(), ["u1", "eng-core"]);
    assert_eq!(step.transform_in(group, &group_ctx()).unwrap()["displayName"], "ENG-CORE");
}

// ---------------------------------------------------------------------------
// Functions and constants

#[test]
fn constants() {
    let doc = json!({});
    assert_eq!(eval(r#""a \"b\"\n\u00e9""#, &doc), Some(json!("a \"b\"\né")));
    assert_eq!(eval(r"'it\'s \\ \n'", &doc), Some(json!("it's \\ \\n")));
    assert_eq!(eval("42", &doc), Some(json!(42)));
    assert_eq!(eval(" -1.5e3 ", &doc), Some(json!(-1500.0)));
    assert_eq!(eval("true", &doc), Some(json!(true)));
    assert_eq!(eval("false", &doc), Some(json!(false)));
    assert_eq!(eval("null", &doc), Some(Value::Null));
    assert_eq!(eval("''", &doc), Some(json!("")));
}

#[test]
fn text_functions() {
    let doc = json!({"a": "  Hello World  ", "n": 42, "b": true, "list": [1], "obj": {}});
    assert_eq!(eval("lower(a)", &doc), Some(json!("  hello world  ")));
    assert_eq!(eval("upper(a)", &doc), Some(json!("  HELLO WORLD  ")));
    assert_eq!(eval("trim(a)", &doc), Some(json!("Hello World")));
    assert_eq!(eval("upper(n)", &doc), Some(json!("42")));
    assert_eq!(eval("lower(b)", &doc), Some(json!("true")));
    assert_eq!(eval("lower(missing)", &doc), None);
    assert_eq!(eval("lower('ÀÉ')", &doc), Some(json!("àé")));
    let schema = ResourceSchema::user();
    assert_eq!(
        Expr::parse("trim(obj)").unwrap().eval(&doc, &schema).unwrap_err(),
        "trim() expects text, got an object"
    );
    assert_eq!(
        Expr::parse("upper(list)").unwrap().eval(&doc, &schema).unwrap_err(),
        "upper() expects text, got an array"
    );
}

#[test]
fn concat_skips_missing_arguments() {
    let doc = json!({"g": "Ada", "f": "Lovelace", "n": 7});
    assert_eq!(eval(r#"concat(g, " ", f)"#, &doc), Some(json!("Ada Lovelace")));
    assert_eq!(eval(r#"concat(g, " ", missing)"#, &doc), Some(json!("Ada ")));
    assert_eq!(eval(r#"concat(missing, " ", other)"#, &doc), None);
    assert_eq!(eval(r#"concat("a", "b", 1, true)"#, &doc), Some(json!("ab1true")));
    assert_eq!(eval("concat(n)", &doc), Some(json!("7")));
    assert_eq!(eval(r#"trim(concat(g, " ", missing))"#, &doc), Some(json!("Ada")));
}

#[test]
fn split_function() {
    let doc = json!({"email": "ada.lovelace@example.com", "i": "1", "bad": "x"});
    assert_eq!(eval(r#"split(email, "@", 0)"#, &doc), Some(json!("ada.lovelace")));
    assert_eq!(eval(r#"split(email, "@", 1)"#, &doc), Some(json!("example.com")));
    assert_eq!(eval(r#"split(email, "@", -1)"#, &doc), Some(json!("example.com")));
    assert_eq!(eval(r#"split(email, "@", 2)"#, &doc), None);
    assert_eq!(eval(r#"split(email, "@", -3)"#, &doc), None);
    assert_eq!(eval(r#"split(split(email, "@", 0), ".", 1)"#, &doc), Some(json!("lovelace")));
    assert_eq!(eval(r#"split(email, ".", i)"#, &doc), Some(json!("lovelace@example")));
    assert_eq!(eval(r#"split(missing, "@", 0)"#, &doc), None);
    let schema = ResourceSchema::user();
    let e = Expr::parse(r#"split(email, ".", bad)"#).unwrap().eval(&doc, &schema).unwrap_err();
    assert_eq!(e, "split() needs an integer index");
    let e = Expr::parse(r#"split(email, missing, 0)"#).unwrap().eval(&doc, &schema).unwrap_err();
    assert_eq!(e, "split() needs a non-empty separator");
}

#[test]
fn default_replace_and_if_present() {
    let doc = json!({"a": "x-y-z", "empty": "", "zero": 0});
    assert_eq!(eval(r#"default(a, "d")"#, &doc), Some(json!("x-y-z")));
    assert_eq!(eval(r#"default(missing, "d")"#, &doc), Some(json!("d")));
    assert_eq!(eval(r#"default(empty, "d")"#, &doc), Some(json!("d")));
    assert_eq!(eval(r#"default(zero, "d")"#, &doc), Some(json!(0)));
    assert_eq!(eval("default(missing, other)", &doc), None);
    assert_eq!(eval(r#"default(missing, default(other, a))"#, &doc), Some(json!("x-y-z")));
    assert_eq!(eval(r#"replace(a, "-", "+")"#, &doc), Some(json!("x+y+z")));
    assert_eq!(eval(r#"replace(a, "-", missing)"#, &doc), Some(json!("xyz")));
    assert_eq!(eval(r#"replace(missing, "-", "+")"#, &doc), None);
    assert_eq!(eval(r#"if_present(a, "yes", "no")"#, &doc), Some(json!("yes")));
    assert_eq!(eval(r#"if_present(empty, "yes", "no")"#, &doc), Some(json!("no")));
    assert_eq!(eval(r#"if_present(missing, "yes", missing)"#, &doc), None);
    assert_eq!(eval(r#"if_present(zero, upper(a), "no")"#, &doc), Some(json!("X-Y-Z")));
}

#[test]
fn jsonpath_sources_take_the_first_result() {
    let doc = alice();
    assert_eq!(eval("$.title", &doc), Some(json!("Engineer")));
    assert_eq!(eval("$.emails[?@.type == 'work'].value", &doc), Some(json!("Alice.Liddell@Example.COM")));
    assert_eq!(eval("$.emails[*].value", &doc), Some(json!("alice@home.example")));
    assert_eq!(
        eval("$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].department", &doc),
        Some(json!("R&D"))
    );
    assert_eq!(eval("$..familyName", &doc), Some(json!("Liddell")));
    assert_eq!(eval("$.nothing", &doc), None);
    // JSONPath is case-sensitive.
    assert_eq!(eval("$.Title", &doc), None);
    assert_eq!(eval("lower($.emails[?@.type == 'work'].value)", &doc), Some(json!("alice.liddell@example.com")));
    assert_eq!(eval("concat($.name.givenName, \",\", $['name']['familyName'])", &doc), Some(json!("Alice,Liddell")));
}

// ---------------------------------------------------------------------------
// The expression parser

#[test]
fn parses_and_prints_expressions() {
    for (text, printed) in [
        ("userName", "userName"),
        ("  lower( emails[type eq \"work\"].value )  ", r#"lower(emails[type eq "work"].value)"#),
        ("concat(a,b , 'c')", r#"concat(a, b, "c")"#),
        ("default(x, if_present(y, 1, null))", "default(x, if_present(y, 1, null))"),
        ("$.a['b','c']", "$.a['b','c']"),
        (r#"emails[value eq "a,b)"].value"#, r#"emails[value eq "a,b)"].value"#),
        ("lower\t(x)", "lower(x)"),
    ] {
        assert_eq!(Expr::parse(text).unwrap().to_string(), printed, "{text}");
    }
}

#[test]
fn parse_errors_carry_positions() {
    let cases: &[(&str, &str, usize)] = &[
        ("", "expected an expression", 0),
        ("   ", "expected an expression", 3),
        ("lower(", "expected an expression", 6),
        ("lower(a", "expected ',' or ')' before the end", 7),
        ("lower(a b)", "expected ',' or ')', found 'b'", 8),
        ("lower(a))", "expected the end of the expression, found ')'", 8),
        ("a b", "expected the end of the expression, found 'b'", 2),
        ("frobnicate(a)", "unknown function \"frobnicate\"", 0),
        ("x(1)", "unknown function \"x\"", 0),
        ("concat()", "concat(a, b, ...) takes at least 1 argument(s), got 0", 0),
        ("  lower(a, b)", "lower(x) takes 1 argument(s), got 2", 2),
        ("split(a, \"-\")", "split(x, separator, index) takes 3 argument(s), got 2", 0),
        ("split(a, '', 0)", "non-empty separator", 0),
        ("split(a, '-', 'x')", "integer index", 0),
        ("split(a, '-', 1.5)", "integer index", 0),
        ("replace(a, \"\", 'x')", "non-empty text", 0),
        ("\"abc", "unterminated string", 0),
        ("lower('abc)", "unterminated string", 6),
        ("\"\\q\"", "invalid string", 0),
        ("12abc", "invalid number \"12abc\"", 0),
        ("-", "invalid number", 0),
        ("lower(name.given.x)", "only one level of sub-attribute is allowed", 16),
        ("concat(a, emails[type zz \"w\"].value)", "expected a known operator", 22),
        ("$.[", "invalid JSONPath", 0),
        ("lower($..)", "invalid JSONPath", 6),
        ("@x", "unexpected '@'", 0),
        ("(a)", "unexpected '('", 0),
        ("lower(,)", "unexpected ','", 6),
        ("é", "unexpected 'é'", 0),
    ];
    for &(text, message, position) in cases {
        let e = parse_err(text);
        assert!(e.message.contains(message), "{text:?}: {e}");
        assert_eq!(e.position, position, "{text:?}: {e}");
        assert!(e.to_string().ends_with(&format!("at position {position}")), "{e}");
    }
    assert!(check_expression("lower(userName)").is_ok());
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}a{}", "lower(".repeat(n), ")".repeat(n));
    assert!(Expr::parse(&deep(MAX_NESTING)).is_ok());
    let e = parse_err(&deep(MAX_NESTING + 1));
    assert!(e.message.contains("nested deeper"), "{e}");
    // Very deep input fails fast instead of overflowing the stack.
    assert!(Expr::parse(&deep(100_000)).is_err());
    assert!(Expr::parse(&"[".repeat(100_000)).is_err());
    assert!(Expr::parse(&format!("${}", "[".repeat(100_000))).is_err());
}

/// A deterministic smoke fuzz: no input makes the parser panic, and every
/// error position is a char boundary inside (or at the end of) the input.
#[test]
fn the_parser_never_panics() {
    const PIECES: &[&str] = &[
        "lower",
        "concat",
        "split",
        "default",
        "if_present",
        "(",
        ")",
        ",",
        " ",
        "\"",
        "'",
        "\\",
        "[",
        "]",
        "$",
        ".",
        "..",
        "@",
        "?",
        "a",
        "emails",
        "type eq \"work\"",
        "urn:",
        ":",
        "1",
        "-",
        "é",
        "\u{0}",
        "true",
        "null",
        "*",
        "==",
        "value",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let doc = alice();
    let schema = ResourceSchema::user();
    for _ in 0..20_000 {
        let len = (next() % 12) as usize;
        let text: String = (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
        match Expr::parse(&text) {
            Ok(expr) => {
                let _ = expr.eval(&doc, &schema);
            }
            Err(e) => {
                assert!(e.position <= text.len() && text.is_char_boundary(e.position), "{text:?}: {e}");
            }
        }
        for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = Expr::parse(&text[..cut]);
        }
    }
}

#[test]
fn steps_are_object_safe_and_shareable() {
    let step: Box<dyn Step> = Box::new(example_step());
    let shared = std::sync::Arc::new(step);
    let handle = {
        let shared = shared.clone();
        std::thread::spawn(move || shared.transform_in(alice(), &ctx()).unwrap())
    };
    assert_eq!(handle.join().unwrap()["userName"], "alice.liddell@example.com");
}
