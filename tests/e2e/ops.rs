//! Operability on the admin listener: `/metrics` after an IdP-like sequence,
//! `/healthz` and `/readyz`.

use serde_json::json;

use crate::harness::{Gateway, eventually};

/// The value of one sample line of a Prometheus exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[test]
fn metrics_count_what_an_idp_sequence_caused() {
    let toml = format!(
        "[tenants.acme]\n[[tenants.acme.steps]]\nkind = \"wasm\"\npath = {:?}\n[tenants.quiet]\n",
        plugin_artifacts::WORK_EMAIL
    );
    let gw = Gateway::start_tenants(&toml);
    let token = gw.token("acme");
    // Entra's test connection, then a create, a conflict, a refusal and a read.
    gw.get("/Users?filter=userName eq \"probe\"", &token).expect(200);
    let user = json!({"userName": "a", "emails": [{"value": "Ann@Example.com", "type": "work"}]});
    let id = gw.post("/Users", &token, &user).expect(201).json["id"].as_str().unwrap().to_owned();
    gw.post("/Users", &token, &user).expect(409);
    gw.post("/Users", &token, &json!({"userName": "nomail"})).expect(400);
    gw.get(&format!("/Users/{id}"), &token).expect(200);

    let admin = gw.admin();
    let text = eventually("the scrape shows the sequence", || {
        let resp = admin.try_raw("GET", "/metrics", None, &[], None).unwrap();
        assert_eq!(resp.status, 200);
        assert!(resp.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
        resp.body.contains("operation=\"get\",status=\"200\"").then_some(resp.body)
    });
    let acme = |rest: &str| sample(&text, &format!("scimgate_requests_total{{tenant=\"acme\",{rest}}}"));
    assert_eq!(acme("operation=\"list\",status=\"200\""), Some(1.0), "{text}");
    assert_eq!(acme("operation=\"create\",status=\"201\""), Some(1.0));
    assert_eq!(acme("operation=\"create\",status=\"409\""), Some(1.0));
    assert_eq!(acme("operation=\"create\",status=\"400\""), Some(1.0));
    assert_eq!(acme("operation=\"get\",status=\"200\""), Some(1.0));
    let count = "scimgate_request_duration_seconds_count{tenant=\"acme\",operation=\"create\"}";
    assert_eq!(sample(&text, count), Some(3.0));
    let inf = "scimgate_request_duration_seconds_bucket{tenant=\"acme\",operation=\"create\",le=\"+Inf\"}";
    assert_eq!(sample(&text, inf), Some(3.0));
    // The Wasm step ran for the create and for the conflict (the store
    // refuses the duplicate after the pipeline); it refused the third.
    let step = "scimgate_step_duration_seconds_count{tenant=\"acme\",step=\"work_email.wasm\",hook=\"transform-in\"}";
    assert_eq!(sample(&text, step), Some(2.0), "{text}");
    let refused = "scimgate_step_failures_total{tenant=\"acme\",step=\"work_email.wasm\",reason=\"rejected\"}";
    assert_eq!(sample(&text, refused), Some(1.0));
    assert!(sample(&text, "scimgate_store_write_duration_seconds_count{tenant=\"acme\"}").is_some_and(|n| n >= 1.0));
    assert!(sample(&text, "scimgate_tenant_snapshot_version{tenant=\"quiet\"}").is_some());
    // Nothing identifying a user or a token is a label.
    assert!(!text.contains(&id) && !text.contains("Ann@") && !text.contains(&token), "{text}");

    let health = admin.try_raw("GET", "/healthz", None, &[], None).unwrap();
    assert_eq!(health.status, 200);
    let ready = admin.try_raw("GET", "/readyz", None, &[], None).unwrap();
    assert_eq!((ready.status, ready.json["status"].clone()), (200, json!("ready")));
}

#[test]
fn no_token_secret_or_password_reaches_any_log() {
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("chatty.rhai");
    std::fs::write(&script, "fn transform_in(user, ctx) { log(\"info\", `saw ${user}`); user }").unwrap();
    let toml = format!("[tenants.acme]\n[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\n", script.display());
    let gw = Gateway::start_files(
        "",
        "",
        &format!("[admin]\n{toml}"),
        &[],
        &[
            ("SCIMGATE_ADMIN_TOKEN", crate::harness::ADMIN_TOKEN),
            ("RUST_LOG", "debug"),
            ("SCIMGATE_LOG_FORMAT", "json"),
        ],
    );
    let token = gw.token("acme");
    const PASSWORD: &str = "Sup3r-S3cret-pw-4711";
    let user = json!({"userName": "pat", "password": PASSWORD, "emails": [{"value": "pat@example.com"}]});
    let id = gw.post("/Users", &token, &user).expect(201).json["id"].as_str().unwrap().to_owned();
    let replace = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                         "Operations": [{"op": "replace", "path": "password", "value": PASSWORD}]});
    gw.patch(&format!("/Users/{id}"), &token, &replace);
    gw.get("/Users", "sgt_0123456789abcdef_wrong-secret-value").expect(401);
    gw.get(&format!("/Users/{id}"), &token).expect(200);
    gw.admin_get("/admin/tenants");

    let log = eventually("the provisioning log has the requests", || {
        let out = gw.cli_ok(&["log", "--tenant", "acme", "--json"]);
        (out.lines().count() >= 3).then_some(out)
    });
    let stderr = gw.stderr();
    assert!(stderr.contains("saw"), "the plugin's log line is there: {stderr}");
    let secret = token.rsplit('_').next().unwrap();
    for (what, text) in [("process log", &stderr), ("provisioning log", &log)] {
        assert!(!text.contains(secret), "the token's secret is in the {what}");
        let leak = text.lines().find(|l| l.contains(PASSWORD)).unwrap_or_default();
        assert!(!text.contains(PASSWORD), "the password is in the {what}: {leak}");
        assert!(!text.contains("wrong-secret-value"), "a presented token is in the {what}");
        assert!(!text.contains(crate::harness::ADMIN_TOKEN), "the admin token is in the {what}");
    }
}

#[test]
fn spans_are_exported_over_otlp_with_steps_under_their_request() {
    use crate::fake::{Action, Fake};
    let collector = Fake::start(|_, _| Action::Respond { status: 200, headers: vec![], body: "{}".into() });
    let toml = "[tenants.acme]\n[[tenants.acme.steps]]\nkind = \"mapping\"\n[tenants.acme.steps.transform_in]\n\"title\" = 'default(title, \"none\")'\n";
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k%3D1,x-team=ops".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gw = Gateway::start_config("", toml, &env);
    let token = gw.token("acme");
    // The IdP's own trace: the request joins it.
    let idp_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{idp_trace}-00f067aa0ba902b7-01");
    let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "otel@x.com", "password": "Pa55word!"});
    post_traced(&gw, &token, &body, &traceparent);
    gw.get("/Users/does-not-exist", &token).expect(404);
    let spans = exported_spans(&collector, |spans| {
        spans.iter().any(|s| s["name"] == "POST /scim/v2/Users")
            && spans.iter().any(|s| s["name"] == "step")
            && spans.iter().any(|s| s["name"] == "GET /scim/v2/Users/{id}")
    });
    let request = spans.iter().find(|s| s["name"] == "POST /scim/v2/Users").expect("the request span");
    assert_eq!(attr(request, "tenant"), Some("acme".into()));
    assert_eq!(attr(request, "http.request.method"), Some("POST".into()));
    assert_eq!(attr(request, "http.route"), Some("/scim/v2/Users".into()));
    assert_eq!(int_attr(request, "http.response.status_code"), Some("201".into()));
    assert_eq!(attr(request, "operation"), Some("create".into()));
    assert_eq!(request["kind"], 2);
    assert_eq!(request["traceId"], idp_trace, "the request joins the IdP's trace");
    assert_eq!(request["parentSpanId"], "00f067aa0ba902b7");
    assert!(request.get("status").is_none(), "a 2xx is no error");
    let step = spans.iter().find(|s| s["name"] == "step").unwrap();
    assert_eq!(step["traceId"], request["traceId"], "one trace");
    assert_eq!(step["parentSpanId"], request["spanId"], "the step is a child of its request");
    assert_eq!(attr(step, "hook"), Some("transform-in".into()));
    let missing = spans.iter().find(|s| s["name"] == "GET /scim/v2/Users/{id}").unwrap();
    assert_eq!(int_attr(missing, "http.response.status_code"), Some("404".into()));
    assert_ne!(missing["traceId"], idp_trace, "a request without traceparent starts its own trace");
    let exports: Vec<_> = collector.received().into_iter().filter(|r| r.path == "/v1/traces").collect();
    assert!(exports.iter().all(|r| r.header("x-collector-key") == Some("k=1") && r.header("x-team") == Some("ops")));
    let all: String = collector.received().iter().map(|r| r.body.clone()).collect();
    assert!(!all.contains(&token) && !all.contains("Pa55word!"), "no token or password in the spans");
}

/// A call to the upstream carries the request's trace: `traceparent` with
/// the IdP's trace id and the upstream call's span as parent.
#[test]
fn the_trace_reaches_the_upstream() {
    use crate::fake::{Action, Fake};
    let collector = Fake::start(|_, _| Action::Respond { status: 200, headers: vec![], body: "{}".into() });
    let upstream = Fake::start(|req, _| {
        let name = serde_json::from_str::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|b| b["userName"].as_str().map(str::to_owned));
        Action::json(201, serde_json::json!({"id": "up-1", "userName": name}))
    });
    let toml =
        format!("[tenants.acme]\n[tenants.acme.upstream]\nkind = \"scim\"\nurl = \"{}/scim/v2\"\n", upstream.url());
    let gw =
        Gateway::start_config("", &toml, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url()), ("RUST_LOG", "warn")]);
    let token = gw.token("acme");
    let idp_trace = "0af7651916cd43dd8448eb211c80319c";
    let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "traced"});
    let traceparent = format!("00-{idp_trace}-b7ad6b7169203331-01");
    post_traced(&gw, &token, &body, &traceparent);
    let sent = upstream.received().into_iter().find(|r| r.method == "POST").expect("the upstream create");
    let passed = sent.header("traceparent").expect("traceparent passed on").to_owned();
    let parts: Vec<&str> = passed.split('-').collect();
    assert_eq!((parts[0], parts[1]), ("00", idp_trace), "{passed}");
    let spans = exported_spans(&collector, |spans| spans.iter().any(|s| s["name"] == "upstream"));
    let call = spans.iter().find(|s| s["name"] == "upstream").unwrap();
    assert_eq!(call["spanId"], parts[2], "the upstream's parent is the gateway's upstream span");
    assert_eq!(call["kind"], 3);
}

/// `POST /Users` as an IdP that traces its own calls.
fn post_traced(gw: &Gateway, token: &str, body: &serde_json::Value, traceparent: &str) {
    let body = Some(serde_json::to_vec(body).unwrap());
    gw.client().send("POST", "/Users", Some(token), &[("traceparent", traceparent)], body).expect(201);
}

/// The spans the collector received, once `ready` says they are all there.
fn exported_spans(
    collector: &crate::fake::Fake,
    ready: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    crate::harness::eventually("spans at the collector", || {
        let spans: Vec<serde_json::Value> = collector
            .received()
            .iter()
            .filter(|r| r.path == "/v1/traces")
            .flat_map(|r| {
                let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().cloned().unwrap_or_default()
            })
            .collect();
        ready(&spans).then_some(spans)
    })
}

fn attr(span: &serde_json::Value, key: &str) -> Option<serde_json::Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| a["value"]["stringValue"].clone())
}

fn int_attr(span: &serde_json::Value, key: &str) -> Option<serde_json::Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| a["value"]["intValue"].clone())
}

/// `[server] metrics_listen`: probes and the scrape on a listener of their
/// own, no token, and nothing of the admin API there; failures counted by
/// who failed; the build and the process described.
#[test]
fn the_metrics_listener_serves_probes_and_the_scrape_without_a_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gw = Gateway::start_config(&format!("metrics_listen = \"127.0.0.1:{port}\""), "[tenants.acme]\n", &[]);
    let token = gw.token("acme");
    gw.post("/Users", &token, &json!({"userName": "a"})).expect(201);
    gw.post("/Users", &token, &json!({"userName": "a"})).expect(409);
    let probes = crate::harness::Client::new(&format!("http://127.0.0.1:{port}"));
    let text = eventually("the scrape shows the conflict", || {
        let resp = probes.try_raw("GET", "/metrics", None, &[], None).ok()?;
        assert_eq!(resp.status, 200);
        resp.body.contains("status=\"409\"").then_some(resp.body)
    });
    assert_eq!(sample(&text, "scimgate_request_failures_total{tenant=\"acme\",failed_by=\"client\"}"), Some(1.0));
    assert_eq!(sample(&text, &format!("scimgate_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))), Some(1.0));
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|b| b > 1e6), "{text}");
    assert!(sample(&text, "process_threads").is_some_and(|t| t >= 2.0));
    assert!(text.contains("le=\"30\""), "buckets reach past the upstream timeout");
    assert_eq!(probes.try_raw("GET", "/healthz", None, &[], None).unwrap().status, 200);
    assert_eq!(probes.try_raw("GET", "/readyz", None, &[], None).unwrap().status, 200);
    // The admin API is not there, token or not.
    assert_eq!(probes.try_raw("GET", "/admin/tenants", None, &[], None).unwrap().status, 404);
}
