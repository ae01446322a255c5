//! Every case of `plugins/fixtures/legacy-hr-connector.json`, natively: the
//! case's canned answers stand in for legacy-hr (through
//! `testing::mock_http`), and the requests the connector sent and its answer
//! must be the ones the case holds. The JavaScript and Python ports run the
//! same file, and `wasm-host`'s tests run it through the real host.

use std::path::Path;

use legacy_hr_connector::LegacyHr;
use scimgate_sdk::http::{Request, Response};
use scimgate_sdk::testing::{mock_http, take_requests};
use scimgate_sdk::{Connector, ConnectorError, Context, MatchKey, Operation, Resource, Value, json};

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/legacy-hr-connector.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Answers requests from the case's `http` list, each answer once and in
/// order (`repeat` keeps it), as `plugin test --http` does.
fn canned(answers: Vec<Value>) -> impl FnMut(&Request) -> Result<Response, String> {
    let mut used = vec![false; answers.len()];
    move |request| {
        let index = answers.iter().enumerate().position(|(i, a)| {
            let repeat = a["repeat"].as_bool().unwrap_or(false);
            let method = a["method"].as_str().is_none_or(|m| m.eq_ignore_ascii_case(&request.method));
            let url = a["url"].as_str().unwrap_or_default();
            let url = match url.strip_suffix('*') {
                Some(prefix) => request.url.starts_with(prefix),
                None => request.url == url,
            };
            (repeat || !used[i]) && method && url
        });
        let Some(index) = index else {
            return Err(format!("no canned answer for {} {}", request.method, request.url));
        };
        used[index] = true;
        let answer = &answers[index];
        let headers = answer["headers"].as_array().into_iter().flatten();
        let headers =
            headers.map(|h| (h[0].as_str().unwrap_or_default().into(), h[1].as_str().unwrap_or_default().into()));
        let body = match &answer["body"] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        Ok(Response { status: answer["status"].as_u64().unwrap_or(200) as u16, headers: headers.collect(), body })
    }
}

fn operation(name: &str) -> Operation {
    match name {
        "create" => Operation::Create,
        "get" => Operation::Get,
        "update" => Operation::Replace,
        "delete" => Operation::Delete,
        "find" => Operation::List,
        other => panic!("unknown connector operation {other}"),
    }
}

/// The connector's answer in the fixture's terms.
fn run(case: &Value) -> Value {
    let op = case["operation"].as_str().unwrap_or_default();
    let mut ctx = Context::new(operation(op), case["resource_type"].as_str().unwrap_or("User"));
    ctx.resource_id = case["id"].as_str().map(str::to_owned);
    let config = &case["config"];
    let doc = || Resource::new(case["doc"].clone());
    let id = case["id"].as_str().unwrap_or_default();
    let found = |doc: Option<Resource>| doc.map_or(Value::Null, |d| d.value().clone());
    let outcome = match op {
        "create" => LegacyHr::create(doc(), &ctx, config).map(|d| d.value().clone()),
        "get" => LegacyHr::get(id, &ctx, config).map(found),
        "update" => LegacyHr::update(id, doc(), &ctx, config).map(found),
        "delete" => LegacyHr::delete(id, &ctx, config).map(|()| Value::Null),
        "find" => {
            let key = MatchKey::new(
                case["key"]["attribute"].as_str().unwrap_or_default(),
                case["key"]["value"].as_str().unwrap_or_default(),
            );
            LegacyHr::find(&key, &ctx, config).map(found)
        }
        other => panic!("unknown connector operation {other}"),
    };
    let requests: Vec<Value> = take_requests()
        .into_iter()
        .map(|r| {
            let body = r.body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b)));
            json!({"method": r.method, "url": r.url, "body": body})
        })
        .collect();
    match outcome {
        Ok(result) => json!({"requests": requests, "result": result}),
        Err(e) => json!({"requests": requests, "error": error(e)}),
    }
}

fn error(e: ConnectorError) -> Value {
    match e {
        ConnectorError::Rejected(m) => json!({"rejected": m}),
        ConnectorError::Conflict(m) => json!({"conflict": m}),
        ConnectorError::Busy(seconds) => json!({"busy": seconds}),
        ConnectorError::Failed(m) => json!({"failed": m}),
    }
}

#[test]
fn every_fixture_case_sends_the_same_requests_and_gives_the_same_answer() {
    let spec = fixture();
    let cases = spec["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "the fixture should cover every operation ({} cases)", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        mock_http(canned(case["http"].as_array().cloned().unwrap_or_default()));
        let actual = run(case);
        if actual != case["expect"] {
            failures.push(format!(
                "{}:\n  expected {}\n  actual   {}",
                case["name"].as_str().unwrap_or("?"),
                case["expect"],
                actual
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
