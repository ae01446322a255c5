//! One tenant's pipeline as the request path runs it: an ordered chain of
//! steps of any kind (mapping, Rhai, Wasm) and the rules that combine them.
//!
//! - **scope**: every step with a scope hook is asked in order; the first
//!   that says out decides (its reason is logged).
//! - **transform-in**: in order, each step gets the previous one's output.
//! - **match-keys**: every step's keys, in step order, over the IdP's
//!   document; duplicates dropped.
//! - **transform-out**: in reverse order, so a chain inverts itself.
//! - **on-event**: every step with the hook, after the write committed.
//!
//! Hook calls are synchronous and may take up to their deadline, so callers
//! run them through [`crate::blocking::run`], in place on a runtime worker
//! that hands its other tasks to the pool meanwhile.

use std::time::Instant;

use pipeline::{Event, HookContext, LogLine, MatchKey, ScopeDecision, Step, StepError, capture_logs};
use serde::Serialize;
use serde_json::{Value, json};

/// A tenant's chain of steps.
pub struct Flow {
    steps: Vec<Box<dyn Step>>,
}

/// What the pipeline made of one document on its way in.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scope: ScopeDecision,
    /// The step that put it out of scope.
    pub scoped_out_by: Option<String>,
    /// The target document; `None` when out of scope.
    pub target: Option<Value>,
    pub keys: Vec<MatchKey>,
    /// How long each hook call took: (step, hook, time), for the metrics.
    pub timings: Vec<(String, &'static str, std::time::Duration)>,
    /// What the steps logged.
    pub logs: Vec<LogLine>,
}

/// One hook call: in a dry run's report, and a stage of a request's trace
/// in the provisioning log.
#[derive(Debug, Clone, Serialize)]
pub struct StageTrace {
    pub step: String,
    pub hook: &'static str,
    pub micros: u64,
    pub output: Value,
}

impl Flow {
    pub fn new(steps: Vec<Box<dyn Step>>) -> Flow {
        Flow { steps }
    }

    /// No steps: the request path skips the pipeline entirely.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn step_names(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.name().to_owned()).collect()
    }

    /// Scope, transform-in and match-keys for `doc` (the IdP's document).
    /// Given `calls` (the dry run, a traced request), each hook call is
    /// appended to it as it returns, so that a failing step's predecessors
    /// are kept too.
    pub fn prepare(
        &self,
        doc: &Value,
        ctx: &HookContext,
        calls: Option<&mut Vec<StageTrace>>,
    ) -> Result<Plan, StepError> {
        let (result, logs) = capture_logs(|| self.prepare_inner(doc, ctx, calls));
        let mut plan = result?;
        plan.logs = logs;
        Ok(plan)
    }

    fn prepare_inner(
        &self,
        doc: &Value,
        ctx: &HookContext,
        mut calls: Option<&mut Vec<StageTrace>>,
    ) -> Result<Plan, StepError> {
        let mut timings = Vec::new();
        let mut record = |step: &dyn Step, hook: &'static str, started: Instant, output: &dyn Fn() -> Value| {
            let elapsed = started.elapsed();
            timings.push((step.name().to_owned(), hook, elapsed));
            if let Some(calls) = calls.as_deref_mut() {
                let micros = elapsed.as_micros() as u64;
                calls.push(StageTrace { step: step.name().to_owned(), hook, micros, output: output() });
            }
        };
        for step in self.steps.iter().filter(|s| s.hooks().scope) {
            let _span = tracing::debug_span!("step", step = step.name(), hook = "scope").entered();
            let started = Instant::now();
            let decision = step.scope(doc, ctx)?;
            record(step.as_ref(), "scope", started, &|| scope_json(&decision));
            if let ScopeDecision::Out { .. } = decision {
                return Ok(Plan {
                    scope: decision,
                    scoped_out_by: Some(step.name().to_owned()),
                    target: None,
                    keys: Vec::new(),
                    timings,
                    logs: Vec::new(),
                });
            }
        }
        let mut target = doc.clone();
        for step in self.steps.iter().filter(|s| s.hooks().transform_in) {
            let _span = tracing::debug_span!("step", step = step.name(), hook = "transform-in").entered();
            let started = Instant::now();
            target = step.transform_in(target, ctx)?;
            record(step.as_ref(), "transform-in", started, &|| target.clone());
        }
        let mut keys: Vec<MatchKey> = Vec::new();
        for step in self.steps.iter().filter(|s| s.hooks().match_keys) {
            let _span = tracing::debug_span!("step", step = step.name(), hook = "match-keys").entered();
            let started = Instant::now();
            let found = step.match_keys(doc, ctx)?;
            record(step.as_ref(), "match-keys", started, &|| json!(found));
            for key in found {
                if !key.value.is_empty() && !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        Ok(Plan {
            scope: ScopeDecision::In,
            scoped_out_by: None,
            target: Some(target),
            keys,
            timings,
            logs: Vec::new(),
        })
    }

    /// Whether any step changes documents on their way out.
    pub fn has_transform_out(&self) -> bool {
        self.steps.iter().any(|s| s.hooks().transform_out)
    }

    /// The target document back in SCIM terms: transform-out in reverse order.
    pub fn transform_out(&self, doc: Value, ctx: &HookContext) -> Result<Value, StepError> {
        let mut doc = doc;
        for step in self.steps.iter().rev().filter(|s| s.hooks().transform_out) {
            doc = step.transform_out(doc, ctx)?;
        }
        Ok(doc)
    }

    /// Run every on-event hook; failures are returned for the log, never
    /// raised (the write they follow has committed).
    pub fn notify(&self, event: Event, doc: &Value, ctx: &HookContext) -> (Vec<StepError>, Vec<LogLine>) {
        capture_logs(|| {
            self.steps
                .iter()
                .filter(|s| s.hooks().on_event)
                .filter_map(|step| step.on_event(event, doc, ctx).err())
                .collect()
        })
    }

    pub fn has_on_event(&self) -> bool {
        self.steps.iter().any(|s| s.hooks().on_event)
    }
}

/// A hook call as the dry run reports it, as a stage of a request's trace.
impl From<StageTrace> for crate::trace::Stage {
    fn from(call: StageTrace) -> Self {
        crate::trace::Stage {
            stage: call.hook.to_owned(),
            step: Some(call.step),
            decision: call.output,
            ms: Some(crate::trace::millis(call.micros)),
        }
    }
}

impl Plan {
    /// What the pipeline decided: the dry run's report and the `plan`
    /// stage of a request's trace say it alike.
    pub fn decision(&self) -> Value {
        json!({
            "scope": scope_json(&self.scope),
            "scoped_out_by": self.scoped_out_by,
            "match_keys": self.keys,
            "logs": logs_json(&self.logs),
        })
    }
}

/// What steps logged, as the dry run and the trace report it.
pub fn logs_json(logs: &[LogLine]) -> Value {
    logs.iter().map(|l| json!({"step": l.step, "level": l.level.as_str(), "message": l.message})).collect()
}

pub fn scope_json(decision: &ScopeDecision) -> Value {
    match decision {
        ScopeDecision::In => json!({"in_scope": true}),
        ScopeDecision::Out { reason } => json!({"in_scope": false, "reason": reason}),
    }
}
