//! What the gateway decided for one request, stage by stage: the
//! provisioning log's `trace` (OpenTelemetry's is `trace_context`'s).
//!
//! A request collects [`Stage`]s while it runs ([`collect`]): each pipeline
//! hook call (the dry run's `flow::StageTrace`), the plan it made, each upstream
//! call (method, path, status), the store's commit and the match it made,
//! the on-event hooks. Stages are recorded through a task-local, as
//! `tracing` spans are, so that the upstream client records its calls
//! without every signature between the listener and it carrying the trace.
//! Outside [`collect`] (the dry run, the CLI, background probes) [`record`]
//! does nothing, and [`active`] lets a caller skip building a stage.
//!
//! A trace is bounded and holds no secret: at most [`MAX_STAGES`] stages
//! (then one `truncated` stage counts the rest); a stage's `decision` over
//! [`MAX_DECISION_BYTES`] of JSON is replaced by its beginning and a
//! `truncated` marker; keys that name secrets (`password`, `token`,
//! `secret`, `authorization`, …) are stripped from every document before it
//! is kept. Headers are never recorded, so neither the IdP's token nor the
//! upstream's credential can reach it.
//!
//! A leaf module: the store keeps stages and every layer records them, so
//! it names none of them.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The most stages one request keeps.
pub const MAX_STAGES: usize = 64;
/// The most JSON one stage's `decision` keeps, in bytes.
pub const MAX_DECISION_BYTES: usize = 4096;

/// One stage a request went through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// `scope`, `transform-in`, `match-keys` (a hook call, by `step`);
    /// `plan`, `step-failed`, `upstream`, `store`, `match`, `on-event`.
    pub stage: String,
    /// The pipeline step, for a hook call or a step's failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What was decided, in the stage's own terms.
    pub decision: Value,
    /// How long the stage took, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
}

impl Stage {
    pub fn new(stage: &str, decision: Value) -> Stage {
        Stage { stage: stage.to_owned(), step: None, decision, ms: None }
    }

    pub fn step(mut self, step: &str) -> Stage {
        self.step = Some(step.to_owned());
        self
    }

    pub fn took(mut self, elapsed: Duration) -> Stage {
        self.ms = Some(millis(elapsed.as_micros() as u64));
        self
    }

    /// Secrets stripped, the decision capped.
    fn bounded(mut self) -> Stage {
        strip_secrets(&mut self.decision);
        let text = self.decision.to_string();
        if text.len() > MAX_DECISION_BYTES {
            let mut end = MAX_DECISION_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            self.decision = json!({"truncated": true, "bytes": text.len(), "preview": &text[..end]});
        }
        self
    }
}

/// Microseconds as milliseconds, to the microsecond.
pub fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

#[derive(Default)]
struct Recorder {
    stages: Vec<Stage>,
    dropped: usize,
}

tokio::task_local! {
    static RECORDER: Arc<Mutex<Recorder>>;
}

/// Run `request`, collecting the stages it records.
pub async fn collect<F: Future>(request: F) -> (F::Output, Vec<Stage>) {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let output = RECORDER.scope(recorder.clone(), request).await;
    let mut recorder = std::mem::take(&mut *lock(&recorder));
    if recorder.dropped > 0 {
        recorder.stages.push(Stage::new("truncated", json!({"dropped_stages": recorder.dropped})));
    }
    (output, recorder.stages)
}

/// Whether the current task collects stages.
pub fn active() -> bool {
    RECORDER.try_with(|_| ()).is_ok()
}

/// Add `stage` to the current request's trace, if it keeps one.
pub fn record(stage: Stage) {
    let _ = RECORDER.try_with(|recorder| {
        let mut recorder = lock(recorder);
        if recorder.stages.len() < MAX_STAGES {
            recorder.stages.push(stage.bounded());
        } else {
            recorder.dropped += 1;
        }
    });
}

/// A poisoned lock only means a request panicked while recording.
fn lock(m: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Parts of key names that mark a secret (compared without case, `_`
/// or `-`): Okta sends `password` in user documents; a step or connector
/// may carry an API token or a client secret.
const SECRET_WORDS: &[&str] =
    &["password", "passwd", "secret", "token", "authorization", "apikey", "privatekey", "credential"];

fn is_secret(key: &str) -> bool {
    let folded: String = key.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    SECRET_WORDS.iter().any(|word| folded.contains(word))
}

/// Remove every key that names a secret, at any depth.
pub fn strip_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_secret(key));
            map.values_mut().for_each(strip_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_stripped_at_any_depth_and_in_any_spelling() {
        let mut doc = json!({
            "userName": "bjensen",
            "password": "hunter2",
            "urn:x:ext": {"Password": "p", "client_secret": "s", "keep": 1},
            "creds": [{"api-key": "k", "apiKey": "k2", "accessToken": "t", "value": "v"}],
        });
        strip_secrets(&mut doc);
        assert_eq!(doc, json!({"userName": "bjensen", "urn:x:ext": {"keep": 1}, "creds": [{"value": "v"}]}));
    }

    #[tokio::test]
    async fn a_trace_is_bounded_and_recorded_only_where_collected() {
        record(Stage::new("store", json!({})));
        assert!(!active());
        let ((), stages) = collect(async {
            assert!(active());
            record(Stage::new("transform-in", json!({"password": "hunter2", "big": "x".repeat(10_000)})).step("s"));
            for _ in 0..MAX_STAGES + 2 {
                record(Stage::new("store", json!({"outcome": "created"})));
            }
        })
        .await;
        assert_eq!(stages.len(), MAX_STAGES + 1);
        let big = &stages[0];
        assert_eq!(big.decision["truncated"], true);
        assert!(big.decision["preview"].as_str().is_some_and(|p| p.len() <= MAX_DECISION_BYTES));
        assert!(!big.decision.to_string().contains("hunter2"));
        assert_eq!(stages[MAX_STAGES].decision, json!({"dropped_stages": 3}));
    }
}
