//! The real plugins give through Wasm what they give natively.

use pipeline::{Event, Hooks, MatchKey, Operation, ScopeDecision, Step, StepError};
use scimgate_sdk::{Context, HookError, MatchKeys, Resource, Scope, TransformIn};
use serde_json::{Value, json};

use super::{ctx, step, user_ctx};

/// The SDK's context matching `super::ctx(operation, resource_type)`.
fn native_ctx(operation: scimgate_sdk::Operation, resource_type: &str) -> Context {
    Context {
        tenant: "acme".to_owned(),
        idp_profile: "entra".to_owned(),
        operation,
        resource_type: resource_type.to_owned(),
        resource_id: None,
    }
}

/// A native hook error as the step reports it.
fn native_error(step: &str, e: HookError) -> StepError {
    match e {
        HookError::Rejected(message) => StepError::Rejected { step: step.to_owned(), message },
        HookError::Failed(message) => StepError::Failed { step: step.to_owned(), message, location: None },
    }
}

fn users() -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice",
            "displayName": "Alice Smith",
            "userType": "Employee",
            "externalId": "00u1",
            "emails": [
                {"value": "alice@home.example", "type": "home", "primary": true},
                {"value": "Alice.Smith@Corp.example", "type": "work", "primary": true}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering"}
        }),
        json!({"userName": "bob", "displayName": "Jones, Bob", "emails": [{"value": "BOB@corp.example", "type": "work"}]}),
        json!({"userName": "carol", "displayName": "Carol", "userType": "Contractor",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}}),
        json!({"userName": "dave", "name": {"givenName": "Dave", "familyName": "Ng"}, "emails": []}),
    ]
}

#[test]
fn work_email_matches_native() {
    let wasm = step("work-email", plugin_artifacts::WORK_EMAIL, Value::Null);
    assert_eq!(wasm.hooks(), Hooks { transform_in: true, ..Hooks::default() });
    let native_ctx = native_ctx(scimgate_sdk::Operation::Create, "User");
    for doc in users() {
        let native = work_email::WorkEmail::transform_in(Resource::new(doc.clone()), &native_ctx, &Value::Null)
            .map(Resource::into_value)
            .map_err(|e| native_error("work-email", e));
        assert_eq!(wasm.transform_in(doc.clone(), &user_ctx()), native, "{doc}");
    }
    let out = wasm.transform_in(users().remove(0), &user_ctx()).unwrap();
    assert_eq!(out["userName"], "alice.smith@corp.example");
    let err = wasm.transform_in(users().remove(2), &user_ctx()).unwrap_err();
    assert!(
        matches!(&err, StepError::Rejected { step, message } if step == "work-email" && message.contains("no work email"))
    );
    // Hooks it does not export answer with the defaults, without a call.
    assert_eq!(wasm.scope(&json!({}), &user_ctx()), Ok(ScopeDecision::In));
    assert_eq!(wasm.match_keys(&json!({}), &user_ctx()), Ok(Vec::new()));
    assert_eq!(wasm.on_event(Event::Deleted, &json!({}), &user_ctx()), Ok(()));
    assert_eq!(wasm.transform_out(json!({"a": 1}), &user_ctx()), Ok(json!({"a": 1})));
}

#[test]
fn department_scope_matches_native() {
    let configs = [
        json!({"departments": ["engineering"], "user_types": ["Employee"]}),
        json!({"departments": ["Sales", "Engineering"]}),
        json!({"user_types": ["Contractor"]}),
        Value::Null,
        json!({"departments": "not a list"}),
    ];
    for config in configs {
        let wasm = step("department-scope", plugin_artifacts::DEPARTMENT_SCOPE, config.clone());
        assert_eq!(wasm.hooks(), Hooks { scope: true, ..Hooks::default() });
        for (resource_type, operation) in [("User", Operation::Create), ("Group", Operation::Replace)] {
            let native_ctx = native_ctx(
                match operation {
                    Operation::Create => scimgate_sdk::Operation::Create,
                    _ => scimgate_sdk::Operation::Replace,
                },
                resource_type,
            );
            for doc in users() {
                let native =
                    department_scope::DepartmentScope::scope(&Resource::new(doc.clone()), &native_ctx, &config)
                        .map(|d| match d {
                            scimgate_sdk::ScopeDecision::In => ScopeDecision::In,
                            scimgate_sdk::ScopeDecision::Out(reason) => ScopeDecision::Out { reason },
                        })
                        .map_err(|e| native_error("department-scope", e));
                assert_eq!(wasm.scope(&doc, &ctx(operation, resource_type)), native, "{config} {doc}");
            }
        }
    }
    let wasm = step("department-scope", plugin_artifacts::DEPARTMENT_SCOPE, json!({"departments": ["Sales"]}));
    assert_eq!(wasm.scope(&users()[2], &user_ctx()), Ok(ScopeDecision::In));
    assert!(
        matches!(wasm.scope(&users()[0], &user_ctx()), Ok(ScopeDecision::Out { reason }) if reason.contains("Engineering"))
    );
}

#[test]
fn match_by_email_matches_native() {
    let wasm = step("match-by-email", plugin_artifacts::MATCH_BY_EMAIL, Value::Null);
    assert_eq!(wasm.hooks(), Hooks { match_keys: true, ..Hooks::default() });
    let native_ctx = native_ctx(scimgate_sdk::Operation::Create, "User");
    for doc in users() {
        let native: Vec<MatchKey> =
            match_by_email::MatchByEmail::match_keys(&Resource::new(doc.clone()), &native_ctx, &Value::Null)
                .unwrap()
                .into_iter()
                .map(|k| MatchKey { attribute: k.attribute, value: k.value })
                .collect();
        assert_eq!(wasm.match_keys(&doc, &user_ctx()).unwrap(), native, "{doc}");
    }
    let keys = wasm.match_keys(&users()[0], &user_ctx()).unwrap();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.attribute.as_str(), k.value.as_str())).collect();
    assert_eq!(pairs, [("externalId", "00u1"), ("emails.value", "Alice.Smith@Corp.example"), ("userName", "alice")]);
}

#[test]
fn name_split_matches_native() {
    let wasm = step("name-split", plugin_artifacts::NAME_SPLIT, Value::Null);
    assert_eq!(wasm.hooks(), Hooks { transform_in: true, ..Hooks::default() });
    let native_ctx = native_ctx(scimgate_sdk::Operation::Create, "User");
    for doc in users() {
        let native = name_split::NameSplit::transform_in(Resource::new(doc.clone()), &native_ctx, &Value::Null)
            .map(Resource::into_value)
            .map_err(|e| native_error("name-split", e));
        assert_eq!(wasm.transform_in(doc.clone(), &user_ctx()), native, "{doc}");
    }
    let out = wasm.transform_in(users().remove(1), &user_ctx()).unwrap();
    assert_eq!(out["name"], json!({"givenName": "Bob", "familyName": "Jones", "formatted": "Bob Jones"}));
}

#[test]
fn a_pipeline_of_wasm_steps() {
    // name-split, then work-email, as a tenant's pipeline would chain them.
    let steps: Vec<Box<dyn Step>> = vec![
        Box::new(step("name-split", plugin_artifacts::NAME_SPLIT, Value::Null)),
        Box::new(step("work-email", plugin_artifacts::WORK_EMAIL, Value::Null)),
    ];
    let mut doc = users().remove(1);
    for s in &steps {
        doc = s.transform_in(doc, &user_ctx()).unwrap();
    }
    assert_eq!(doc["userName"], "bob@corp.example");
    assert_eq!(doc["name"]["formatted"], "Bob Jones");
}
