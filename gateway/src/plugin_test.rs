//! `scimgate plugin test`: the plugin author's loop. Load a Wasm component, a
//! Rhai script or a mapping, run each of its hooks (or one connector
//! operation) on a fixture document in the context an IdP's request would
//! give, and report every hook's output, what it logged, the HTTP requests
//! it made and how long it took; against a golden document, exit 1 with a
//! diff. `http.send` is answered from a file of canned answers, so on-event
//! hooks and connectors run offline.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline::{
    Event, HookContext, Hooks, LogLine, MappingConfig, MappingStep, Operation, RhaiLimits, RhaiStep, ScopeDecision,
    Step, StepError, capture_logs,
};
use serde_json::{Value, json};
use wasm_host::{
    CannedHttp, EngineConfig, HttpGrant, HttpRequest, Language, PluginEngine, WasmConnector, WasmPlugin, WasmStep,
};

/// The hooks, by the names the CLI and the WIT contract use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookName {
    Scope,
    TransformIn,
    TransformOut,
    MatchKeys,
    OnEvent,
}

impl HookName {
    const ALL: [HookName; 5] =
        [HookName::Scope, HookName::TransformIn, HookName::TransformOut, HookName::MatchKeys, HookName::OnEvent];

    pub fn as_str(self) -> &'static str {
        match self {
            HookName::Scope => "scope",
            HookName::TransformIn => "transform-in",
            HookName::TransformOut => "transform-out",
            HookName::MatchKeys => "match-keys",
            HookName::OnEvent => "on-event",
        }
    }

    fn implemented_by(self, hooks: Hooks) -> bool {
        match self {
            HookName::Scope => hooks.scope,
            HookName::TransformIn => hooks.transform_in,
            HookName::TransformOut => hooks.transform_out,
            HookName::MatchKeys => hooks.match_keys,
            HookName::OnEvent => hooks.on_event,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginTestError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not JSON: {source}")]
    Fixture { path: PathBuf, source: serde_json::Error },
    #[error("{0}: a plugin is a .wasm component, a .rhai script or a .toml mapping")]
    UnknownKind(PathBuf),
    #[error("{path}: {message}")]
    Canned { path: PathBuf, message: String },
    #[error("--expect compares one output: choose a hook with --hook")]
    ExpectNeedsOneHook,
    #[error("cannot load the plugin: {0}")]
    Load(String),
    #[error("the plugin does not implement the {0} hook")]
    MissingHook(&'static str),
}

/// A connector operation to run instead of hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConnectorOp {
    Create,
    Get,
    Update,
    Delete,
    Find,
}

/// One hook call (or connector operation) and what it did.
pub struct HookRun {
    pub name: String,
    pub elapsed: Duration,
    pub outcome: Result<Value, String>,
    pub logs: Vec<LogLine>,
    /// The `http.send` calls it made, one line each.
    pub http: Vec<String>,
}

impl HookRun {
    /// The output as `--expect` compares it: the hook's value, or
    /// `{"error": message}` when it failed (a golden file can pin a refusal).
    pub fn output(&self) -> Value {
        match &self.outcome {
            Ok(v) => v.clone(),
            Err(e) => json!({"error": e}),
        }
    }
}

/// What `plugin test` found.
pub struct Report {
    pub plugin: String,
    pub kind: &'static str,
    pub load_time: Duration,
    pub hooks: Hooks,
    pub runs: Vec<HookRun>,
    /// With `--expect`: `None` when the output is the golden one, else the diff.
    pub expectation: Option<Option<String>>,
}

impl Report {
    /// Whether the run is a success: the output is the golden one when
    /// there is one, else every hook succeeded.
    pub fn passed(&self) -> bool {
        match &self.expectation {
            Some(diff) => diff.is_none(),
            None => self.runs.iter().all(|r| r.outcome.is_ok()),
        }
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> =
            HookName::ALL.iter().filter(|h| h.implemented_by(self.hooks)).map(|h| h.as_str()).collect();
        let _ = writeln!(
            out,
            "plugin {} ({}), loaded in {:.1} ms; hooks: {}",
            self.plugin,
            self.kind,
            self.load_time.as_secs_f64() * 1000.0,
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        );
        for run in &self.runs {
            let micros = run.elapsed.as_secs_f64() * 1e6;
            match &run.outcome {
                Ok(v) => {
                    let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
                    let _ = writeln!(out, "\n{} ok in {micros:.0} µs\n{pretty}", run.name);
                }
                Err(e) => {
                    let _ = writeln!(out, "\n{} FAILED in {micros:.0} µs\n{e}", run.name);
                }
            }
            for line in &run.logs {
                let _ = writeln!(out, "  log {}: {}", line.level, line.message);
            }
            for call in &run.http {
                let _ = writeln!(out, "  http {call}");
            }
        }
        match &self.expectation {
            Some(None) => out.push_str("\noutput matches the expected document\n"),
            Some(Some(diff)) => {
                let _ = write!(out, "\noutput differs from the expected document (- expected, + actual):\n{diff}");
            }
            None => {}
        }
        out
    }
}

/// Options of one `plugin test` run.
pub struct PluginTest<'a> {
    pub plugin: &'a Path,
    pub fixture: &'a Path,
    /// Only this hook; all the plugin implements when `None`.
    pub hook: Option<HookName>,
    /// The plugin's config values, as a tenant file would give them.
    pub config: Value,
    pub resource_type: String,
    pub operation: Operation,
    /// The IdP profile the context names (`entra`, `okta`, `onelogin`, `generic`).
    pub idp: String,
    /// The event an on-event hook hears.
    pub event: Event,
    /// The resource id the context names (and a connector's `get`, `update`, `delete` take).
    pub resource_id: Option<String>,
    /// A connector operation to run instead of hooks; `find` takes `find_key`.
    pub connector: Option<ConnectorOp>,
    pub find_key: Option<(String, String)>,
    /// A file of canned answers for `http.send`.
    pub http: Option<&'a Path>,
    /// A golden output to compare with.
    pub expect: Option<&'a Path>,
}

/// Load the plugin and run the hooks (or the connector operation) on the fixture.
pub fn run(test: &PluginTest<'_>) -> Result<Report, PluginTestError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| PluginTestError::Read { path: p.to_owned(), source });
    let json_file = |p: &Path| -> Result<Value, PluginTestError> {
        serde_json::from_slice(&read(p)?).map_err(|source| PluginTestError::Fixture { path: p.to_owned(), source })
    };
    let fixture = json_file(test.fixture)?;
    let expect = test.expect.map(json_file).transpose()?;
    let http = Arc::new(match test.http {
        Some(path) => canned_http(path)?,
        None => CannedHttp::default(),
    });
    let name = test.plugin.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
    let ctx = HookContext {
        tenant: "plugin-test".into(),
        idp_profile: test.idp.clone(),
        operation: test.operation,
        resource_type: test.resource_type.clone(),
        resource_id: test.resource_id.clone(),
    };
    let started = Instant::now();
    let extension = test.plugin.extension().and_then(|e| e.to_str());
    if let (Some(op), Some("wasm")) = (test.connector, extension) {
        let engine = engine()?;
        let limits = Language::of_file(test.plugin).default_limits();
        let connector = WasmConnector::load_file(&engine, &name, test.plugin, &test.config, limits)
            .map_err(|e| PluginTestError::Load(e.to_string()))?;
        let load_time = started.elapsed();
        let run = timed(&format!("connector {}", op_name(op)), &http, || {
            connector_call(&connector, op, http.clone(), &ctx, &fixture, test).map_err(|e| e.to_string())
        });
        let expectation = expect.map(|want| compare(&want, &run.output()));
        return Ok(Report {
            plugin: name,
            kind: "wasm connector",
            load_time,
            hooks: Hooks::default(),
            runs: vec![run],
            expectation,
        });
    }
    let (step, kind): (Box<dyn Step>, &'static str) = match extension {
        Some("wasm") => {
            let engine = engine()?;
            let plugin = WasmPlugin::load(&engine, &name, &read(test.plugin)?)
                .map_err(|e| PluginTestError::Load(e.to_string()))?;
            let grant: Arc<dyn HttpGrant> = http.clone();
            let limits = plugin.language().default_limits();
            let kind = match plugin.language() {
                Language::Compiled => "wasm",
                Language::JavaScript => "wasm, javascript",
                Language::Python => "wasm, python",
            };
            (Box::new(WasmStep::new(plugin, &test.config, limits).with_event_grant(grant)), kind)
        }
        Some("rhai") => {
            let source = String::from_utf8_lossy(&read(test.plugin)?).into_owned();
            let step = RhaiStep::compile(name.clone(), &source, RhaiLimits::default(), test.config.clone())
                .map_err(|e| PluginTestError::Load(e.to_string()))?;
            (Box::new(step), "rhai")
        }
        Some("toml") => {
            let text = String::from_utf8_lossy(&read(test.plugin)?).into_owned();
            let config: MappingConfig = toml::from_str(&text).map_err(|e| PluginTestError::Load(e.to_string()))?;
            let step = MappingStep::new(name.clone(), config).map_err(|e| PluginTestError::Load(e.to_string()))?;
            (Box::new(step), "mapping")
        }
        _ => return Err(PluginTestError::UnknownKind(test.plugin.to_owned())),
    };
    let load_time = started.elapsed();
    let hooks = step.hooks();
    let chosen: Vec<HookName> = match test.hook {
        Some(h) if !h.implemented_by(hooks) => return Err(PluginTestError::MissingHook(h.as_str())),
        Some(h) => vec![h],
        None => HookName::ALL.into_iter().filter(|h| h.implemented_by(hooks)).collect(),
    };
    if expect.is_some() && chosen.len() != 1 {
        return Err(PluginTestError::ExpectNeedsOneHook);
    }
    let runs: Vec<HookRun> = chosen
        .into_iter()
        .map(|hook| {
            timed(hook.as_str(), &http, || {
                call(step.as_ref(), hook, test.event, &fixture, &ctx).map_err(|e| e.to_string())
            })
        })
        .collect();
    let expectation = expect.map(|want| compare(&want, &runs[0].output()));
    Ok(Report { plugin: name, kind, load_time, hooks, runs, expectation })
}

/// Compiled components kept between runs, so the author's loop pays for
/// compiling a large (JavaScript, Python) component once:
/// `$SCIMGATE_PLUGIN_CACHE`, else `$XDG_CACHE_HOME/scimgate/plugins`, else
/// `~/.cache/scimgate/plugins`.
fn engine() -> Result<PluginEngine, PluginTestError> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache_dir = env("SCIMGATE_PLUGIN_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("scimgate/plugins")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/scimgate/plugins")));
    PluginEngine::new(EngineConfig { cache_dir, ..EngineConfig::default() })
        .map_err(|e| PluginTestError::Load(e.to_string()))
}

/// Run `f` with its logs and HTTP calls captured.
fn timed(name: &str, http: &CannedHttp, f: impl FnOnce() -> Result<Value, String>) -> HookRun {
    let started = Instant::now();
    let (outcome, logs) = capture_logs(f);
    HookRun { name: name.to_owned(), elapsed: started.elapsed(), outcome, logs, http: http_lines(http) }
}

fn call(step: &dyn Step, hook: HookName, event: Event, doc: &Value, ctx: &HookContext) -> Result<Value, StepError> {
    match hook {
        HookName::Scope => step.scope(doc, ctx).map(|d| match d {
            ScopeDecision::In => json!({"in_scope": true}),
            ScopeDecision::Out { reason } => json!({"in_scope": false, "reason": reason}),
        }),
        HookName::TransformIn => step.transform_in(doc.clone(), ctx),
        HookName::TransformOut => step.transform_out(doc.clone(), ctx),
        HookName::MatchKeys => step.match_keys(doc, ctx).map(|keys| json!(keys)),
        HookName::OnEvent => {
            step.on_event(event, doc, ctx).map(|()| json!({"event": format!("{event:?}").to_lowercase()}))
        }
    }
}

fn op_name(op: ConnectorOp) -> &'static str {
    match op {
        ConnectorOp::Create => "create",
        ConnectorOp::Get => "get",
        ConnectorOp::Update => "update",
        ConnectorOp::Delete => "delete",
        ConnectorOp::Find => "find",
    }
}

fn connector_call(
    connector: &WasmConnector,
    op: ConnectorOp,
    grant: Arc<CannedHttp>,
    ctx: &HookContext,
    doc: &Value,
    test: &PluginTest<'_>,
) -> Result<Value, wasm_host::ConnectorError> {
    let id = test.resource_id.as_deref().unwrap_or_default();
    let found = |answer: Option<Value>| answer.unwrap_or(json!({"found": false}));
    match op {
        ConnectorOp::Create => connector.create(grant, ctx, doc),
        ConnectorOp::Get => connector.get(grant, ctx, id).map(found),
        ConnectorOp::Update => connector.update(grant, ctx, id, doc).map(found),
        ConnectorOp::Delete => connector.delete(grant, ctx, id).map(|()| json!({"deleted": id})),
        ConnectorOp::Find => {
            let (attribute, value) = test.find_key.clone().unwrap_or_default();
            connector.find(grant, ctx, &attribute, &value).map(found)
        }
    }
}

/// `None` when equal, else a line diff of the pretty-printed documents.
pub fn compare(expected: &Value, actual: &Value) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (want, got) = (pretty(expected), pretty(actual));
    let (want, got): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    // Longest common subsequence of lines: small documents, plain table.
    let mut lcs = vec![vec![0usize; got.len() + 1]; want.len() + 1];
    for i in (0..want.len()).rev() {
        for j in (0..got.len()).rev() {
            lcs[i][j] = if want[i] == got[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < want.len() || j < got.len() {
        if i < want.len() && j < got.len() && want[i] == got[j] {
            let _ = writeln!(out, "  {}", want[i]);
            (i, j) = (i + 1, j + 1);
        } else if j < got.len() && (i == want.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+ {}", got[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {}", want[i]);
            i += 1;
        }
    }
    Some(out)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The answers of `--http FILE` (the format is [`CannedHttp`]'s).
fn canned_http(path: &Path) -> Result<CannedHttp, PluginTestError> {
    let text = std::fs::read(path).map_err(|source| PluginTestError::Read { path: path.to_owned(), source })?;
    CannedHttp::from_json(&text).map_err(|e| PluginTestError::Canned { path: path.to_owned(), message: e.to_string() })
}

/// What the plugin sent, one line per request.
fn http_lines(http: &CannedHttp) -> Vec<String> {
    let line = |(request, status): (HttpRequest, Option<u16>)| match status {
        Some(status) => format!("{} {} -> {status} (canned)", request.method, request.url),
        None => format!("{} {} -> no canned answer", request.method, request.url),
    };
    http.take_calls().into_iter().map(line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_documents_have_no_diff_and_others_show_each_changed_line() {
        assert_eq!(compare(&json!({"a": 1}), &json!({"a": 1})), None);
        let diff =
            compare(&json!({"userName": "a", "active": true}), &json!({"userName": "b", "active": true})).unwrap();
        assert!(diff.contains("- ") && diff.contains("+ "), "{diff}");
        assert!(diff.contains(r#"-   "userName": "a","#) && diff.contains(r#"+   "userName": "b","#), "{diff}");
        assert!(diff.contains(r#"    "active": true"#), "{diff}");
    }
}
