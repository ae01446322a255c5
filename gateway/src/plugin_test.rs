//! `scimgate plugin test`: the plugin author's loop. Load a Wasm component or
//! a Rhai script, run each of its hooks on a fixture document, and report
//! every hook's output and how long it took.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pipeline::{Event, HookContext, Hooks, Operation, RhaiLimits, RhaiStep, ScopeDecision, Step, StepError};
use serde_json::{Value, json};
use wasm_host::{EngineConfig, Limits, PluginEngine, WasmPlugin, WasmStep};

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
    #[error("{0}: a plugin is a .wasm component or a .rhai script")]
    UnknownKind(PathBuf),
    #[error("cannot load the plugin: {0}")]
    Load(String),
    #[error("the plugin does not implement the {0} hook")]
    MissingHook(&'static str),
}

/// One hook's run.
pub struct HookRun {
    pub hook: HookName,
    pub elapsed: Duration,
    pub outcome: Result<Value, StepError>,
}

/// What `plugin test` found.
pub struct Report {
    pub plugin: String,
    pub kind: &'static str,
    pub load_time: Duration,
    pub hooks: Hooks,
    pub runs: Vec<HookRun>,
}

impl Report {
    /// Whether every hook that ran succeeded.
    pub fn passed(&self) -> bool {
        self.runs.iter().all(|r| r.outcome.is_ok())
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
            names.join(", ")
        );
        for run in &self.runs {
            let micros = run.elapsed.as_secs_f64() * 1e6;
            match &run.outcome {
                Ok(v) => {
                    let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
                    let _ = writeln!(out, "\n{} ok in {micros:.0} µs\n{pretty}", run.hook.as_str());
                }
                Err(e) => {
                    let _ = writeln!(out, "\n{} FAILED in {micros:.0} µs\n{e}", run.hook.as_str());
                }
            }
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
}

/// Load the plugin and run the hooks on the fixture.
pub fn run(test: &PluginTest<'_>) -> Result<Report, PluginTestError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| PluginTestError::Read { path: p.to_owned(), source });
    let fixture: Value = serde_json::from_slice(&read(test.fixture)?)
        .map_err(|source| PluginTestError::Fixture { path: test.fixture.to_owned(), source })?;
    let name = test.plugin.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
    let started = Instant::now();
    let (step, kind): (Box<dyn Step>, &'static str) = match test.plugin.extension().and_then(|e| e.to_str()) {
        Some("wasm") => {
            let engine =
                PluginEngine::new(EngineConfig::default()).map_err(|e| PluginTestError::Load(e.to_string()))?;
            let plugin = WasmPlugin::load(&engine, &name, &read(test.plugin)?)
                .map_err(|e| PluginTestError::Load(e.to_string()))?;
            (Box::new(WasmStep::new(plugin, &test.config, Limits::default())), "wasm")
        }
        Some("rhai") => {
            let source = String::from_utf8_lossy(&read(test.plugin)?).into_owned();
            let step = RhaiStep::compile(name.clone(), &source, RhaiLimits::default(), test.config.clone())
                .map_err(|e| PluginTestError::Load(e.to_string()))?;
            (Box::new(step), "rhai")
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
    let ctx = HookContext {
        tenant: "plugin-test".into(),
        idp_profile: "generic".into(),
        operation: test.operation,
        resource_type: test.resource_type.clone(),
        resource_id: None,
    };
    let runs = chosen
        .into_iter()
        .map(|hook| {
            let started = Instant::now();
            let outcome = call(step.as_ref(), hook, &fixture, &ctx);
            HookRun { hook, elapsed: started.elapsed(), outcome }
        })
        .collect();
    Ok(Report { plugin: name, kind, load_time, hooks, runs })
}

fn call(step: &dyn Step, hook: HookName, doc: &Value, ctx: &HookContext) -> Result<Value, StepError> {
    match hook {
        HookName::Scope => step.scope(doc, ctx).map(|d| match d {
            ScopeDecision::In => json!({"in_scope": true}),
            ScopeDecision::Out { reason } => json!({"in_scope": false, "reason": reason}),
        }),
        HookName::TransformIn => step.transform_in(doc.clone(), ctx),
        HookName::TransformOut => step.transform_out(doc.clone(), ctx),
        HookName::MatchKeys => step.match_keys(doc, ctx).map(|keys| json!(keys)),
        HookName::OnEvent => step.on_event(Event::Created, doc, ctx).map(|()| json!({"event": "created"})),
    }
}
