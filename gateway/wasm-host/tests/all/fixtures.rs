//! Every case of `plugins/fixtures/` through the real host, for the example
//! plugins in each language: the Rust components always, the JavaScript and
//! Python ports when `SCIMGATE_GUEST_PLUGINS` names what
//! `plugins/guests/build` made. Each answer, and the number of log lines,
//! must be the one the fixture holds: the three languages agree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pipeline::{HookContext, Operation, ScopeDecision, Step, StepError, capture_logs};
use serde_json::{Value, json};
use wasm_host::{CannedHttp, ConnectorError, Language, WasmConnector, WasmPlugin, WasmStep};

use super::{engine, relaxed};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/fixtures")
}

fn rust_component(plugin: &str) -> &'static str {
    match plugin {
        "work-email" => plugin_artifacts::WORK_EMAIL,
        "department-scope" => plugin_artifacts::DEPARTMENT_SCOPE,
        "match-by-email" => plugin_artifacts::MATCH_BY_EMAIL,
        "name-split" => plugin_artifacts::NAME_SPLIT,
        "legacy-hr-connector" => plugin_artifacts::LEGACY_HR_CONNECTOR,
        other => panic!("a fixture for an unknown plugin {other}"),
    }
}

/// The components of `plugin` to check: (language, path).
fn components(plugin: &str) -> Vec<(&'static str, PathBuf)> {
    let mut all = vec![("rust", PathBuf::from(rust_component(plugin)))];
    match std::env::var_os("SCIMGATE_GUEST_PLUGINS") {
        Some(dir) => {
            for lang in ["js", "python"] {
                all.push((lang, Path::new(&dir).join(lang).join(format!("{plugin}.wasm"))));
            }
        }
        None => eprintln!("{plugin}: the JavaScript and Python ports are skipped (SCIMGATE_GUEST_PLUGINS is unset)"),
    }
    all
}

fn operation(name: &str) -> Operation {
    match name {
        "create" => Operation::Create,
        "replace" => Operation::Replace,
        "patch" => Operation::Patch,
        "delete" => Operation::Delete,
        "get" => Operation::Get,
        "list" => Operation::List,
        // A connector's operations, as the gateway calls them.
        "update" => Operation::Replace,
        "find" => Operation::List,
        other => panic!("unknown operation {other}"),
    }
}

/// A hook's answer in the fixtures' terms.
fn answer(step: &WasmStep, hook: &str, doc: &Value, ctx: &HookContext) -> Value {
    let out = match hook {
        "transform-in" => step.transform_in(doc.clone(), ctx).map(|doc| json!({"doc": doc})),
        "scope" => step.scope(doc, ctx).map(|decision| match decision {
            ScopeDecision::In => json!({"in_scope": true}),
            ScopeDecision::Out { reason } => json!({"out_of_scope": reason}),
        }),
        "match-keys" => step.match_keys(doc, ctx).map(|keys| {
            let pairs: Vec<[String; 2]> = keys.into_iter().map(|k| [k.attribute, k.value]).collect();
            json!({"keys": pairs})
        }),
        other => panic!("no fixture hook {other}"),
    };
    out.unwrap_or_else(|e| match e {
        StepError::Rejected { message, .. } => json!({"rejected": message}),
        StepError::Failed { message, .. } => json!({"failed": message}),
        other => json!({"stopped": other.to_string()}),
    })
}

#[test]
fn every_fixture_gives_its_answer_in_every_language() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if fixture["connector"] == true {
            continue;
        }
        let (plugin, hook) = (fixture["plugin"].as_str().unwrap(), fixture["hook"].as_str().unwrap());
        for (lang, component) in components(plugin) {
            let loaded: Arc<WasmPlugin> =
                WasmPlugin::load_file(engine(), plugin, &component).unwrap_or_else(|e| panic!("{lang} {plugin}: {e}"));
            let expected_language = match lang {
                "js" => Language::JavaScript,
                "python" => Language::Python,
                _ => Language::Compiled,
            };
            assert_eq!(loaded.language(), expected_language, "{}", component.display());
            // Every example declares what it reads, so each case below runs
            // on the narrowed document the host sends, merged back.
            assert!(loaded.reads().is_some(), "{lang} {plugin} declares no reads");
            for case in fixture["cases"].as_array().unwrap() {
                let name = case["name"].as_str().unwrap();
                let limits = wasm_host::Limits { deadline: relaxed().deadline, ..loaded.language().default_limits() };
                let step = WasmStep::new(loaded.clone(), &case["config"], limits);
                let ctx = HookContext {
                    tenant: "test".to_owned(),
                    idp_profile: "generic".to_owned(),
                    operation: operation(case["operation"].as_str().unwrap()),
                    resource_type: case["resource_type"].as_str().unwrap().to_owned(),
                    resource_id: None,
                };
                let (got, logs) = capture_logs(|| answer(&step, hook, &case["doc"], &ctx));
                assert_eq!(got, case["expect"], "{lang} {plugin}: {name}");
                if let Some(n) = case["logs"].as_u64() {
                    assert_eq!(logs.len() as u64, n, "{lang} {plugin}: {name}: log lines {logs:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 90, "only {checked} cases ran");
}

/// A connector's answer to one case, in the fixture's terms: the requests it
/// sent (method, URL, body) and what it answered.
fn connector_answer(connector: &WasmConnector, http: Arc<CannedHttp>, case: &Value, ctx: &HookContext) -> Value {
    let id = case["id"].as_str().unwrap_or_default();
    let found = |doc: Option<Value>| doc.unwrap_or(Value::Null);
    let outcome = match case["operation"].as_str().unwrap() {
        "create" => connector.create(http.clone(), ctx, &case["doc"]),
        "get" => connector.get(http.clone(), ctx, id).map(found),
        "update" => connector.update(http.clone(), ctx, id, &case["doc"]).map(found),
        "delete" => connector.delete(http.clone(), ctx, id).map(|()| Value::Null),
        "find" => {
            let key = &case["key"];
            let (attribute, value) = (key["attribute"].as_str().unwrap(), key["value"].as_str().unwrap());
            connector.find(http.clone(), ctx, attribute, value).map(found)
        }
        other => panic!("unknown connector operation {other}"),
    };
    let requests: Vec<Value> = http
        .take_calls()
        .into_iter()
        .map(|(r, _)| {
            let body = r.body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b)));
            json!({"method": r.method, "url": r.url, "body": body})
        })
        .collect();
    match outcome {
        Ok(result) => json!({"requests": requests, "result": result}),
        Err(ConnectorError::Rejected(m)) => json!({"requests": requests, "error": {"rejected": m}}),
        Err(ConnectorError::Conflict(m)) => json!({"requests": requests, "error": {"conflict": m}}),
        Err(ConnectorError::Busy(seconds)) => json!({"requests": requests, "error": {"busy": seconds}}),
        Err(ConnectorError::Failed(m)) => json!({"requests": requests, "error": {"failed": m}}),
        Err(other) => json!({"requests": requests, "stopped": other.to_string()}),
    }
}

#[test]
fn every_connector_fixture_sends_the_same_requests_in_every_language() {
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join("legacy-hr-connector.json")).unwrap())
            .unwrap();
    let plugin = spec["plugin"].as_str().unwrap();
    let mut checked = 0;
    for (lang, component) in components(plugin) {
        for case in spec["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let limits =
                wasm_host::Limits { deadline: relaxed().deadline, ..Language::of_file(&component).default_limits() };
            let connector = WasmConnector::load_file(engine(), plugin, &component, &case["config"], limits)
                .unwrap_or_else(|e| panic!("{lang} {plugin}: {e}"));
            let http = Arc::new(CannedHttp::from_json(case["http"].to_string().as_bytes()).unwrap());
            let ctx = HookContext {
                tenant: "test".to_owned(),
                idp_profile: "generic".to_owned(),
                operation: operation(case["operation"].as_str().unwrap()),
                resource_type: case["resource_type"].as_str().unwrap().to_owned(),
                resource_id: case["id"].as_str().map(str::to_owned),
            };
            assert_eq!(connector_answer(&connector, http, case, &ctx), case["expect"], "{lang} {plugin}: {name}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} cases ran");
}
