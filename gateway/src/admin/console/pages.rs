//! The console's pages. Each calls the admin API's own function (the same
//! JSON `GET /admin/...` answers) and renders it; nothing here queries the
//! store in a way the API does not, but for the tenants' user and group
//! counts.

use std::collections::HashMap;
use std::fmt::Write as _;

use hyper::{Response, StatusCode};
use serde_json::Value;

use super::html::{Frame, csrf_field, html_escape as esc, json_block, query, segment, text};
use super::{Body, html, redirect};
use crate::admin::AdminState;
use crate::failure::Failure;
use crate::reload::ReloadReport;
use crate::store::ResourceKind;

/// Records per log page.
const LOG_PAGE: usize = 50;

/// Built-in documents for the playground: (key, label, resource type, JSON).
const FIXTURES: [(&str, &str, &str, &str); 3] = [
    ("entra", "Microsoft Entra ID user", "User", include_str!("fixtures/entra-user.json")),
    ("okta", "Okta user", "User", include_str!("fixtures/okta-user.json")),
    ("group", "Group", "Group", include_str!("fixtures/group.json")),
];

/// The sign-in page, with `error` after a refused attempt.
pub fn login(error: Option<&str>) -> String {
    let error = error.map(|e| format!(r#"<p class="error">{}</p>"#, esc(e))).unwrap_or_default();
    let body = format!(
        r#"<div class="box login">{error}
<form method="post" action="/console/login">
<p><label for="token">Admin token</label></p>
<p><input id="token" name="token" type="password" autocomplete="current-password" required autofocus></p>
<p><button type="submit">Sign in</button></p>
</form>
<p class="muted">The token the gateway was started with (<code>[admin] token_env</code>). It is checked once;
the console then keeps a session cookie.</p>
</div>"#
    );
    Frame { csrf: None }.page("Sign in", &body)
}

/// A signed-in request's view of the gateway.
pub struct Ctx<'a> {
    pub state: &'a AdminState,
    pub csrf: &'a str,
}

impl Ctx<'_> {
    fn page(&self, status: StatusCode, title: &str, body: &str) -> Response<Body> {
        html(status, Frame { csrf: Some(self.csrf) }.page(title, body))
    }

    pub fn not_found(&self) -> Response<Body> {
        self.page(StatusCode::NOT_FOUND, "Not found", r#"<p>No such console page. <a href="/console">Tenants</a></p>"#)
    }

    /// A failure of the API's function, as a page with its status.
    pub fn failure(&self, failure: &Failure) -> Response<Body> {
        let error = failure.reply(&uuid::Uuid::new_v4().simple().to_string()).error;
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.page(status, "Error", &format!(r#"<p class="error">{}</p>"#, esc(&error.detail)))
    }

    fn no_tenant(&self, name: &str) -> Response<Body> {
        self.page(StatusCode::NOT_FOUND, "Not found", &format!("<p>No running tenant {}.</p>", esc(name)))
    }

    /// `/console`: every tenant as `GET /admin/tenants` shows it, with counts.
    pub async fn tenants(&self) -> Response<Body> {
        let store = self.state.service.store();
        let mut body = String::new();
        let overview = crate::admin::tenants_overview(self.state);
        if overview.is_empty() {
            body.push_str("<p>No tenants are configured.</p>");
        }
        for tenant in &overview {
            let name = text(&tenant["name"]);
            let n = segment(&name);
            let running = !tenant["version"].is_null();
            let mut counts = Vec::with_capacity(2);
            for kind in [ResourceKind::User, ResourceKind::Group] {
                counts.push(store.count(&name, kind).await.map_or_else(|_| "?".to_owned(), |c| c.to_string()));
            }
            let (users, groups) = (&counts[0], &counts[1]);
            let _ = write!(body, r#"<section class="box"><h2>{}</h2>"#, esc(&text(&tenant["name"])));
            if running {
                let _ = write!(
                    body,
                    r#"<p><a href="/console/tenants/{n}/log">Log</a> · <a href="/console/tenants/{n}/tokens">Tokens</a> · <a href="/console/tenants/{n}/playground">Playground</a></p>"#
                );
            }
            let steps = tenant["steps"].as_array().map(|s| s.iter().map(text).collect::<Vec<_>>().join(" → "));
            let _ = write!(
                body,
                "<table><tbody>\
                 <tr><th>IdP</th><td>{}</td></tr>\
                 <tr><th>Steps</th><td>{}</td></tr>\
                 <tr><th>Snapshot</th><td>{}</td></tr>\
                 <tr><th>Loaded at</th><td>{}</td></tr>\
                 <tr><th>File</th><td><code>{}</code></td></tr>\
                 <tr><th>Users / groups</th><td>{} / {}</td></tr>",
                esc(&text(&tenant["idp"])),
                esc(&steps.filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into())),
                if running { format!("version {}", esc(&text(&tenant["version"]))) } else { "not running".into() },
                esc(&text(&tenant["loaded_at"])),
                esc(&text(&tenant["file"])),
                users,
                groups,
            );
            if !tenant["last_error"].is_null() {
                let _ = write!(
                    body,
                    r#"<tr><th>Last refused change</th><td class="error">{}<br><span class="muted">at {}</span></td></tr>"#,
                    esc(&text(&tenant["last_error"])),
                    esc(&text(&tenant["last_error_at"])),
                );
            }
            let upstream = &tenant["upstream"];
            if upstream.is_null() {
                body.push_str("<tr><th>Upstream</th><td>none (the embedded target)</td></tr>");
            } else {
                let breaker = &upstream["breaker"];
                let _ = write!(
                    body,
                    "<tr><th>Upstream</th><td><code>{}</code><br>breaker {}, {} consecutive failures, {} waiting on the throttle{}</td></tr>",
                    esc(&text(&upstream["url"])),
                    esc(&text(&breaker["state"])),
                    esc(&text(&breaker["consecutive_failures"])),
                    esc(&text(&upstream["throttle_waiting"])),
                    match &breaker["last_error"] {
                        Value::Null => String::new(),
                        e => format!(r#"<br><span class="error">last error: {}</span>"#, esc(&text(e))),
                    },
                );
                if let Some(history) = breaker["history"].as_array().filter(|h| !h.is_empty()) {
                    body.push_str("<tr><th>Breaker history</th><td><table><tbody>");
                    for t in history.iter().rev() {
                        let _ = write!(
                            body,
                            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                            esc(&text(&t["at"])),
                            esc(&text(&t["state"])),
                            esc(&text(&t["reason"]))
                        );
                    }
                    body.push_str("</tbody></table></td></tr>");
                }
            }
            body.push_str("</tbody></table></section>");
        }
        self.page(StatusCode::OK, "Tenants", &body)
    }

    /// `/console/reload`: the button, and after a reload its report. Refused
    /// changes still in force (the watcher may have met them first) follow.
    pub async fn reload(&self, report: Option<ReloadReport>) -> Response<Body> {
        let mut body = format!(
            r#"<form method="post" action="/console/reload" class="box">{}<p>Read the config and every tenant file again; a tenant whose new version does not build keeps running its current one.</p><button type="submit">Reload now</button></form>"#,
            csrf_field(self.csrf)
        );
        if let Some(report) = &report {
            body.push_str(r#"<section class="box"><h2>Reload report</h2>"#);
            if let Some(error) = &report.error {
                let _ = write!(
                    body,
                    r#"<p class="error">The main config did not load; nothing changed: {}</p>"#,
                    esc(error)
                );
            }
            let list = |names: &[String]| if names.is_empty() { "none".to_owned() } else { esc(&names.join(", ")) };
            let _ = write!(
                body,
                "<table><tbody><tr><th>Added</th><td>{}</td></tr><tr><th>Changed</th><td>{}</td></tr>\
                 <tr><th>Removed</th><td>{}</td></tr><tr><th>Unchanged</th><td>{}</td></tr></tbody></table>",
                list(&report.added),
                list(&report.changed),
                list(&report.removed),
                report.unchanged
            );
            if !report.failed.is_empty() {
                body.push_str("<h2>Refused</h2><table><thead><tr><th>Tenant</th><th>Reason</th></tr></thead><tbody>");
                for (tenant, reason) in &report.failed {
                    let _ = write!(
                        body,
                        r#"<tr><td>{}</td><td class="error"><pre>{}</pre></td></tr>"#,
                        esc(tenant),
                        esc(reason)
                    );
                }
                body.push_str("</tbody></table>");
            }
            body.push_str("</section>");
        }
        let refused: Vec<Value> =
            crate::admin::tenants_overview(self.state).into_iter().filter(|t| !t["last_error"].is_null()).collect();
        if !refused.is_empty() {
            body.push_str(
                "<h2>Refused changes in force</h2><table><thead><tr><th>Tenant</th><th>At</th><th>Reason</th></tr></thead><tbody>",
            );
            for t in &refused {
                let _ = write!(
                    body,
                    r#"<tr><td>{}</td><td>{}</td><td class="error"><pre>{}</pre></td></tr>"#,
                    esc(&text(&t["name"])),
                    esc(&text(&t["last_error_at"])),
                    esc(&text(&t["last_error"]))
                );
            }
            body.push_str("</tbody></table>");
        }
        self.page(StatusCode::OK, "Reload", &body)
    }

    /// `/console/tenants/{t}/tokens`: the live tokens (ids, never secrets),
    /// the issue button, and after an issue the new token, this once.
    pub async fn tokens(&self, name: &str, issued: Option<crate::tokens::IssuedToken>) -> Response<Body> {
        let Some(tenant) = self.state.tenants.get(name) else { return self.no_tenant(name) };
        let tokens = match crate::admin::tokens_of(self.state, &tenant) {
            Ok(t) => t,
            Err(failure) => return self.failure(&failure),
        };
        let n = segment(&tenant.name);
        let mut body = String::new();
        if let Some(issued) = &issued {
            let _ = write!(
                body,
                r#"<section class="box"><h2>New token {id}</h2>
<p>Copy it now: it is shown this once and cannot be shown again (only its hash is stored).</p>
<p class="secret" id="new-token">{token}</p>
<p><button type="button" data-copy="new-token">Copy</button></p>
<p class="muted">As HTTP Basic credentials (for IdPs that need them): username <code>{id}</code>, password the token.</p>
</section>"#,
                id = esc(&issued.id),
                token = esc(&issued.token),
            );
        }
        let _ = write!(
            body,
            r#"<form method="post" action="/console/tenants/{n}/tokens" class="box">{}<button type="submit">Issue a new token</button></form>"#,
            csrf_field(self.csrf)
        );
        if tokens.is_empty() {
            body.push_str("<p>No live tokens.</p>");
        } else {
            body.push_str("<table><thead><tr><th>Id</th><th>Created</th><th></th></tr></thead><tbody>");
            for t in &tokens {
                let id = text(&t["id"]);
                let _ = write!(
                    body,
                    r#"<tr><td><code>{}</code></td><td>{}</td><td><form method="post" action="/console/tenants/{n}/tokens/{}/revoke">{}<button type="submit">Revoke</button></form></td></tr>"#,
                    esc(&id),
                    esc(&text(&t["created"])),
                    esc(&segment(&id)),
                    csrf_field(self.csrf)
                );
            }
            body.push_str("</tbody></table>");
        }
        self.page(StatusCode::OK, &format!("Tokens of {}", tenant.name), &body)
    }

    /// Issue a token and show it on this response only.
    pub async fn issue_token(&self, name: &str) -> Response<Body> {
        let Some(tenant) = self.state.tenants.get(name) else { return self.no_tenant(name) };
        match crate::admin::issue_token(self.state, &tenant).await {
            Ok(issued) => self.tokens(name, Some(issued)).await,
            Err(failure) => self.failure(&failure),
        }
    }

    /// Revoke one of this tenant's tokens, then back to the list.
    pub async fn revoke_token(&self, name: &str, id: &str) -> Response<Body> {
        let Some(tenant) = self.state.tenants.get(name) else { return self.no_tenant(name) };
        // Only a token of the tenant in the path: the page offered no other.
        let owned = match crate::admin::tokens_of(self.state, &tenant) {
            Ok(tokens) => tokens.iter().any(|t| t["id"] == id),
            Err(failure) => return self.failure(&failure),
        };
        if !owned {
            return self.page(StatusCode::NOT_FOUND, "Not found", &format!("<p>No live token {} here.</p>", esc(id)));
        }
        match crate::admin::revoke_token(self.state, id).await {
            Ok(_) => redirect(&format!("/console/tenants/{}/tokens", segment(&tenant.name))),
            Err(failure) => self.failure(&failure),
        }
    }

    /// `/console/tenants/{t}/log`: filters, a page of records (newest
    /// first), the older page's link, and the live tail on the first page.
    pub async fn log(&self, name: &str, params: &HashMap<String, String>) -> Response<Body> {
        let get = |k: &str| params.get(k).map(|v| v.trim()).unwrap_or_default();
        let (resource_id, operation, outcome) = (get("resource_id"), get("operation"), get("outcome"));
        let (since, until) = (rfc3339(get("since")), rfc3339(get("until")));
        let mut api: HashMap<String, String> = [
            ("resource_id", resource_id),
            ("operation", operation),
            ("outcome", outcome),
            ("since", since.as_str()),
            ("until", until.as_str()),
            ("before", get("before")),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        api.insert("limit".into(), LOG_PAGE.to_string());
        let page = match crate::admin::log_page(self.state, name, &api).await {
            Ok(page) => page,
            Err(failure) => return self.failure(&failure),
        };
        let n = segment(name);
        let option = |value: &str, current: &str| {
            let label = if value.is_empty() { "any" } else { value };
            let selected = if value == current { " selected" } else { "" };
            format!(r#"<option value="{}"{selected}>{}</option>"#, esc(value), esc(label))
        };
        let operations: String =
            ["", "create", "get", "list", "search", "replace", "patch", "delete", "bulk", "config"]
                .iter()
                .map(|o| option(o, operation))
                .collect();
        let mut body = format!(
            r#"<form method="get" action="/console/tenants/{n}/log" class="filters">
<label>Resource id<input name="resource_id" value="{}"></label>
<label>Operation<select name="operation">{operations}</select></label>
<label>Outcome<input name="outcome" list="outcomes" value="{}"></label>
<datalist id="outcomes"><option value="ok"><option value="error"><option value="linked"><option value="out_of_scope"><option value="left_scope"><option value="deactivated"><option value="deleted"></datalist>
<label>Since (UTC, RFC 3339)<input name="since" value="{}" placeholder="2026-01-31T08:00:00Z"></label>
<label>Until (UTC, RFC 3339)<input name="until" value="{}" placeholder="2026-01-31T18:00:00Z"></label>
<button type="submit">Filter</button> <a href="/console/tenants/{n}/log">Clear</a>
</form>"#,
            esc(resource_id),
            esc(outcome),
            esc(get("since")),
            esc(get("until")),
        );
        let records = page["records"].as_array().cloned().unwrap_or_default();
        let live = get("before").is_empty();
        let filters = serde_json::json!({"resource_id": resource_id, "operation": operation, "outcome": outcome});
        let stream = if live && since.is_empty() && until.is_empty() {
            format!(
                r#" data-stream="/console/tenants/{n}/log/stream" data-record-base="/console/tenants/{n}/log/" data-filters="{}""#,
                esc(&filters.to_string())
            )
        } else {
            String::new()
        };
        if !stream.is_empty() {
            body.push_str(r#"<p class="muted">Live: new records appear at the top.</p>"#);
        }
        let _ = write!(
            body,
            "<table{stream}><thead><tr><th>Seq</th><th>Time</th><th>Operation</th><th>Type</th><th>Resource id</th>\
             <th>Outcome</th><th>Status</th><th>ms</th><th>Error / detail</th></tr></thead><tbody>"
        );
        for r in &records {
            let outcome = text(&r["outcome"]);
            let class = if outcome == "error" { "outcome-error" } else { "outcome-ok" };
            let problem = if r["error"].is_null() { text(&r["detail"]) } else { text(&r["error"]) };
            let _ = write!(
                body,
                r#"<tr><td><a href="/console/tenants/{n}/log/{seq}">{seq}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{class}">{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>"#,
                esc(&text(&r["time"])),
                esc(&text(&r["operation"])),
                esc(&text(&r["resource_type"])),
                esc(&text(&r["resource_id"])),
                esc(&outcome),
                esc(&text(&r["status"])),
                r["duration_ms"].as_f64().unwrap_or_default(),
                esc(&problem),
                seq = esc(&text(&r["seq"])),
            );
        }
        body.push_str("</tbody></table>");
        if records.is_empty() {
            body.push_str(r#"<p id="log-empty">No records match.</p>"#);
        }
        if let Some(next) = page["next_before"].as_i64() {
            let older = query(&[
                ("resource_id", resource_id),
                ("operation", operation),
                ("outcome", outcome),
                ("since", get("since")),
                ("until", get("until")),
                ("before", &next.to_string()),
            ]);
            let _ = write!(body, r#"<p><a href="/console/tenants/{n}/log?{}">Older records →</a></p>"#, esc(&older));
        }
        self.page(StatusCode::OK, &format!("Provisioning log of {name}"), &body)
    }

    /// `/console/tenants/{t}/log/{seq}`: one record and its trace, stage by stage.
    pub async fn record(&self, name: &str, seq: &str) -> Response<Body> {
        let absent = || {
            self.page(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("<p>No provisioning-log record {} for tenant {}.</p>", esc(seq), esc(name)),
            )
        };
        let Ok(number) = seq.parse::<i64>() else { return absent() };
        let record = match crate::admin::log_record(self.state, name, number).await {
            Ok(Some(record)) => record,
            Ok(None) => return absent(),
            Err(failure) => return self.failure(&failure),
        };
        let mut body =
            format!(r#"<p><a href="/console/tenants/{}/log">← the log</a></p><table><tbody>"#, segment(name));
        if let Value::Object(fields) = &record {
            for (key, value) in fields.iter().filter(|(k, _)| k.as_str() != "trace") {
                let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", esc(key), esc(&text(value)));
            }
        }
        body.push_str("</tbody></table><h2>Trace</h2>");
        match record["trace"].as_array() {
            Some(stages) if !stages.is_empty() => {
                body.push_str(
                    "<table><thead><tr><th>#</th><th>Stage</th><th>Step</th><th>Decision</th><th>ms</th></tr></thead><tbody>",
                );
                for (i, stage) in stages.iter().enumerate() {
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        i + 1,
                        esc(&text(&stage["stage"])),
                        esc(&text(&stage["step"])),
                        json_block(&stage["decision"]),
                        esc(&text(&stage["ms"])),
                    );
                }
                body.push_str("</tbody></table>");
            }
            _ => body.push_str(
                "<p>No stages: the request went through none (a read from the store, discovery, or a refusal before routing).</p>",
            ),
        }
        self.page(StatusCode::OK, &format!("Record {seq} of {name}"), &body)
    }

    /// `/console/tenants/{t}/playground`: a document, the dry run on it,
    /// each step's output beside its time. Nothing is written.
    pub async fn playground(
        &self,
        name: &str,
        params: &HashMap<String, String>,
        posted: Option<HashMap<String, String>>,
    ) -> Response<Body> {
        let Some(tenant) = self.state.tenants.get(name) else { return self.no_tenant(name) };
        let input = posted.as_ref().unwrap_or(params);
        let fixture_key = input.get("fixture").map(String::as_str).unwrap_or("entra");
        let fixture = FIXTURES.iter().find(|f| f.0 == fixture_key).unwrap_or(&FIXTURES[0]);
        let resource_type = input.get("resourceType").map(String::as_str).unwrap_or(fixture.2);
        let operation = input.get("operation").map(String::as_str).unwrap_or("create");
        let document = match posted.as_ref().and_then(|p| p.get("document")) {
            Some(doc) => doc.clone(),
            None => fixture.3.to_owned(),
        };
        let n = segment(&tenant.name);
        let select = |field: &str, options: &[(&str, &str)], current: &str, extra: &str| {
            let options: String = options
                .iter()
                .map(|(value, label)| {
                    let selected = if *value == current { " selected" } else { "" };
                    format!(r#"<option value="{}"{selected}>{}</option>"#, esc(value), esc(label))
                })
                .collect();
            format!(r#"<select name="{field}"{extra}>{options}</select>"#)
        };
        let fixtures: Vec<(&str, &str)> = FIXTURES.iter().map(|f| (f.0, f.1)).collect();
        let mut body = format!(
            r#"<form method="get" action="/console/tenants/{n}/playground" class="filters">
<label>Start from{}</label><noscript><button type="submit">Load</button></noscript></form>
<form method="post" action="/console/tenants/{n}/playground">{}
<input type="hidden" name="fixture" value="{}">
<div class="filters"><label>Resource type{}</label><label>Operation{}</label><button type="submit">Dry run</button></div>
<textarea name="document" spellcheck="false">{}</textarea>
</form>"#,
            select("fixture", &fixtures, fixture.0, " data-autosubmit"),
            csrf_field(self.csrf),
            esc(fixture.0),
            select("resourceType", &[("User", "User"), ("Group", "Group")], resource_type, ""),
            select("operation", &[("create", "create"), ("replace", "replace")], operation, ""),
            esc(&document),
        );
        let mut status = StatusCode::OK;
        if posted.is_some() {
            let result = match serde_json::from_str::<Value>(&document) {
                Err(e) => Err(format!("The document is not valid JSON: {e}")),
                Ok(doc) => {
                    let run = async {
                        let kind = crate::admin::dry_run_kind(Some(resource_type))?;
                        let operation = crate::admin::dry_run_operation(Some(operation))?;
                        crate::admin::dry_run(&self.state.service, &tenant, kind, operation, &doc).await
                    };
                    run.await.map_err(|failure: Failure| {
                        failure.reply(&uuid::Uuid::new_v4().simple().to_string()).error.detail
                    })
                }
            };
            match result {
                Err(message) => {
                    status = StatusCode::BAD_REQUEST;
                    let _ = write!(body, r#"<p class="error">{}</p>"#, esc(&message));
                }
                Ok(report) => body.push_str(&dry_run_report(&report)),
            }
        }
        self.page(status, &format!("Playground of {}", tenant.name), &body)
    }
}

/// The dry run's report: the verdict, each hook call's output beside its
/// time, then what the pipeline would write.
fn dry_run_report(report: &Value) -> String {
    let mut body = String::from(r#"<section class="box"><h2>Result</h2>"#);
    if let Some(error) = report["error"].as_str() {
        let _ = write!(
            body,
            r#"<p class="error">The pipeline refused it (HTTP {}): {}</p>"#,
            esc(&text(&report["status"])),
            esc(error)
        );
    }
    let steps = report["steps"].as_array().map(|s| s.iter().map(text).collect::<Vec<_>>().join(" → "));
    let _ = write!(
        body,
        "<p>Steps: {}. {}</p>",
        esc(&steps.filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into())),
        report["elapsed_us"].as_u64().map(|us| format!("Took {:.3} ms.", us as f64 / 1000.0)).unwrap_or_default()
    );
    body.push_str(
        "<h2>Steps</h2><table><thead><tr><th>Step</th><th>Hook</th><th>Time (ms)</th><th>Output</th></tr></thead><tbody>",
    );
    for stage in report["stages"].as_array().into_iter().flatten() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>",
            esc(&text(&stage["step"])),
            esc(&text(&stage["hook"])),
            stage["micros"].as_f64().unwrap_or_default() / 1000.0,
            json_block(&stage["output"]),
        );
    }
    body.push_str("</tbody></table>");
    let decided: serde_json::Map<String, Value> = report
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            !["tenant", "steps", "input", "stages", "target", "elapsed_us", "error", "status"].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let _ = write!(
        body,
        r#"<div class="columns"><div><h2>Input (canonical)</h2>{}</div><div><h2>Would write</h2>{}<h2>Decision</h2>{}</div></div></section>"#,
        json_block(&report["input"]),
        json_block(&report["target"]),
        json_block(&Value::Object(decided)),
    );
    body
}

/// A `datetime-local` value (no seconds, no zone) as RFC 3339 UTC; other
/// values as typed (the store compares them as RFC 3339).
fn rfc3339(value: &str) -> String {
    if value.len() == 16 && value.as_bytes().get(10) == Some(&b'T') { format!("{value}:00Z") } else { value.to_owned() }
}
