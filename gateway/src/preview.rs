//! A change of one step, tried on the tenant's stored resources before it
//! goes live: every resource the IdP wrote runs through the pipeline as it
//! is and through the pipeline with the new version of the step, and
//! whatever differs is reported: scope in or out, each target attribute
//! before and after, match keys gained or lost and the account they would
//! link a create to, a hook that starts or stops failing. Nothing is
//! written and no upstream is called: only the steps run.
//!
//! Resources are read a page at a time (keyset paging), each page's
//! resources are compared on every core, and the caller hears of progress
//! and each change as they come, so a large tenant shows where it is and a
//! client that goes away stops the work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use pipeline::{MatchKey, Operation, StepError};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::config::{ScriptStep, StepConfig, TenantConfig, WasmStepConfig};
use crate::flow::{Flow, scope_json};
use crate::service::{hook_context, link_decision, pipeline_input};
use crate::store::{ResourceKind, Store, StoreError, StoredResource};
use crate::tenant::Tenant;

/// Resources read from the store and compared per round.
const PAGE: usize = 512;
/// The stack of a comparing thread: what a main thread has, and more than
/// a Rhai call asks to find free (`pipeline`'s `SCRIPT_STACK_MIN`).
const WORKER_STACK_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("step {step}: the tenant has {steps} steps (they count from 1)")]
    NoSuchStep { step: usize, steps: usize },
    #[error("{}: a step plugin is a .wasm component or a .rhai script", .0.display())]
    UnknownKind(PathBuf),
    #[error("the step's config is not TOML-compatible: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `config` with step `step` (counted from 1, as the tenant's errors count
/// them) running the plugin at `plugin`: a `.wasm` component or a `.rhai`
/// script. The step keeps its config and limits when it stays the same
/// kind, unless `step_config` replaces the config.
pub fn variant(
    config: &TenantConfig,
    step: usize,
    plugin: &Path,
    step_config: Option<&Value>,
) -> Result<TenantConfig, PreviewError> {
    let steps = config.steps.len();
    let slot = step.checked_sub(1).filter(|i| *i < steps).ok_or(PreviewError::NoSuchStep { step, steps })?;
    let step_config =
        step_config.map(|v| toml::Value::try_from(v).map_err(|e| PreviewError::Config(e.to_string()))).transpose()?;
    let current = &config.steps[slot];
    let kept_config = match current {
        StepConfig::Mapping(_) => None,
        StepConfig::Rhai(s) => s.config.clone(),
        StepConfig::Wasm(w) => w.config.clone(),
    };
    let path = plugin.to_owned();
    let replaced = match (plugin.extension().and_then(|e| e.to_str()), current) {
        (Some("wasm"), StepConfig::Wasm(w)) => {
            StepConfig::Wasm(WasmStepConfig { path, config: step_config.or(kept_config), ..w.clone() })
        }
        (Some("wasm"), _) => StepConfig::Wasm(WasmStepConfig::new(path, step_config.or(kept_config))),
        (Some("rhai"), StepConfig::Rhai(s)) => {
            StepConfig::Rhai(ScriptStep { path, config: step_config.or(kept_config), limits: s.limits.clone() })
        }
        (Some("rhai"), _) => {
            StepConfig::Rhai(ScriptStep { path, config: step_config.or(kept_config), limits: Default::default() })
        }
        _ => return Err(PreviewError::UnknownKind(plugin.to_owned())),
    };
    let mut config = config.clone();
    config.steps[slot] = replaced;
    Ok(config)
}

/// What a preview compares, and how much of it to list.
pub struct Preview {
    pub store: Store,
    /// The tenant as it runs.
    pub before: Arc<Tenant>,
    /// The tenant with the new step.
    pub after: Arc<Tenant>,
    pub kinds: Vec<ResourceKind>,
    /// Changes reported one by one (the summary counts them all).
    pub max_changes: usize,
}

/// What a preview reports as it goes, in this order: progress after each
/// page (with a change for each resource of it that changed), then the
/// summary.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Progress { done: usize, total: usize },
    Change(Box<ResourceChange>),
    Summary(Summary),
}

/// One resource whose outcome differs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResourceChange {
    pub resource_type: &'static str,
    pub id: String,
    /// `userName` or `displayName`, to recognize it by.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Shift>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_gained: Vec<MatchKey>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_lost: Vec<MatchKey>,
    /// What the keys would link a create of this document to, when that
    /// differs (as the dry run says it).
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub link: Option<Shift>,
    /// A hook that fails on one side: its error, `null` on the side that worked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Shift>,
}

/// A value before and after the change.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Shift {
    pub before: Value,
    pub after: Value,
}

/// One attribute of the target document; `null` where it is absent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttributeChange {
    pub attribute: String,
    pub before: Value,
    pub after: Value,
}

/// The whole preview in counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub resources: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub entered_scope: usize,
    pub left_scope: usize,
    pub newly_failing: usize,
    pub no_longer_failing: usize,
    pub keys_changed: usize,
    pub matches_changed: usize,
    /// Per target attribute: how many resources it changes on.
    pub attributes: BTreeMap<String, usize>,
    /// Changes not reported one by one (past `max_changes`).
    pub unlisted: usize,
    pub elapsed_ms: u64,
}

/// Run the preview, sending its events to `events`. It stops early, with
/// `Ok`, when the receiver is dropped.
pub async fn run(preview: Preview, events: mpsc::Sender<Event>) -> Result<(), PreviewError> {
    let started = Instant::now();
    let Preview { store, before, after, kinds, max_changes } = preview;
    let mut total = 0;
    for kind in &kinds {
        total += store.count(&before.name, *kind).await?;
    }
    let mut summary = Summary::default();
    let mut done = 0;
    for kind in kinds {
        let mut after_seq = 0;
        loop {
            let page = store.page_after(&before.name, kind, after_seq, PAGE).await?;
            let Some(last) = page.last() else { break };
            after_seq = last.seq;
            let count = page.len();
            let (b, a) = (before.clone(), after.clone());
            let compared = tokio::task::spawn_blocking(move || compare_page(&b, &a, &page))
                .await
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
            for Compared { mut change, keys } in compared.into_iter().flatten() {
                if let Some(keys) = &keys {
                    change.link = match_shift(&store, &before, kind, keys).await?;
                }
                summary.count(&change);
                if summary.changed <= max_changes {
                    if events.send(Event::Change(Box::new(change))).await.is_err() {
                        return Ok(());
                    }
                } else {
                    summary.unlisted += 1;
                }
            }
            done += count;
            if events.send(Event::Progress { done, total }).await.is_err() {
                return Ok(());
            }
        }
    }
    summary.resources = done;
    summary.unchanged = done - summary.changed;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    let _ = events.send(Event::Summary(summary)).await;
    Ok(())
}

impl Summary {
    fn count(&mut self, change: &ResourceChange) {
        self.changed += 1;
        if let Some(scope) = &change.scope {
            match scope.after["in_scope"].as_bool() {
                Some(true) => self.entered_scope += 1,
                _ => self.left_scope += 1,
            }
        }
        if let Some(error) = &change.error {
            if error.before.is_null() {
                self.newly_failing += 1;
            } else if error.after.is_null() {
                self.no_longer_failing += 1;
            }
        }
        if !change.keys_gained.is_empty() || !change.keys_lost.is_empty() {
            self.keys_changed += 1;
        }
        if change.link.is_some() {
            self.matches_changed += 1;
        }
        for attribute in &change.attributes {
            *self.attributes.entry(attribute.attribute.clone()).or_default() += 1;
        }
    }
}

/// One change on one line, for a terminal.
pub fn describe(change: &ResourceChange) -> String {
    let mut parts = Vec::new();
    if let Some(error) = &change.error {
        parts.push(format!("error {} -> {}", shown(&error.before), shown(&error.after)));
    }
    if let Some(scope) = &change.scope {
        parts.push(format!("scope {} -> {}", scope_word(&scope.before), scope_word(&scope.after)));
    }
    for a in &change.attributes {
        parts.push(format!("{} {} -> {}", a.attribute, shown(&a.before), shown(&a.after)));
    }
    let keys = change.keys_gained.iter().map(|k| format!("+{}={}", k.attribute, k.value));
    let keys: Vec<String> =
        keys.chain(change.keys_lost.iter().map(|k| format!("-{}={}", k.attribute, k.value))).collect();
    if !keys.is_empty() {
        parts.push(format!("keys {}", keys.join(" ")));
    }
    if let Some(link) = &change.link {
        parts.push(format!("match {} -> {}", link_word(&link.before), link_word(&link.after)));
    }
    format!("{} {} {}: {}", change.resource_type, change.id, change.name, parts.join("; "))
}

/// The summary as a few lines, for a terminal.
pub fn describe_summary(s: &Summary) -> String {
    let mut out = format!(
        "{} resources in {} ms: {} would change, {} would not\n\
         scope: {} would enter, {} would leave; failing: {} newly, {} no longer; \
         keys change on {}, matches on {}",
        s.resources,
        s.elapsed_ms,
        s.changed,
        s.unchanged,
        s.entered_scope,
        s.left_scope,
        s.newly_failing,
        s.no_longer_failing,
        s.keys_changed,
        s.matches_changed
    );
    for (attribute, n) in &s.attributes {
        out.push_str(&format!("\n  {attribute}: changes on {n}"));
    }
    if s.unlisted > 0 {
        out.push_str(&format!("\n({} changes not listed; raise the limit to see them)", s.unlisted));
    }
    out
}

fn shown(v: &Value) -> String {
    if v.is_null() { "absent".to_owned() } else { v.to_string() }
}

fn scope_word(scope: &Value) -> String {
    match (scope["in_scope"].as_bool(), scope["reason"].as_str()) {
        (Some(true), _) => "in".to_owned(),
        (_, Some(reason)) => format!("out ({reason})"),
        _ => "out".to_owned(),
    }
}

fn link_word(link: &Value) -> String {
    match link["result"].as_str() {
        Some("link") => format!(
            "link {} by {}",
            link["target_id"].as_str().unwrap_or("?"),
            link["attribute"].as_str().unwrap_or("?")
        ),
        Some("conflict") => format!("conflict ({})", link["detail"].as_str().unwrap_or("")),
        Some(other) => other.to_owned(),
        None => link.to_string(),
    }
}

/// What one pipeline made of one resource.
struct Outcome {
    scope: Value,
    target: Option<Value>,
    keys: Vec<MatchKey>,
    error: Option<String>,
}

/// A hook past its deadline is asked again, up to this many times in all:
/// on a busy machine a deadline can pass by chance, and a preview must
/// report what the change does, not the machine's load. A step that is
/// slow every time is reported as failing.
const ATTEMPTS: usize = 3;

fn outcome(flow: &Flow, doc: &Value, ctx: &pipeline::HookContext) -> Outcome {
    let mut attempt = 1;
    loop {
        match flow.prepare(doc, ctx, None) {
            Ok(plan) => {
                return Outcome { scope: scope_json(&plan.scope), target: plan.target, keys: plan.keys, error: None };
            }
            Err(StepError::Timeout { .. }) if attempt < ATTEMPTS => attempt += 1,
            Err(e) => {
                return Outcome { scope: Value::Null, target: None, keys: Vec::new(), error: Some(e.to_string()) };
            }
        }
    }
}

/// Compare a page on every core; `None` for each resource that did not change.
fn compare_page(before: &Tenant, after: &Tenant, page: &[StoredResource]) -> Vec<Option<Compared>> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(page.len()).max(1);
    let chunk = page.len().div_ceil(workers);
    let compare_all = |part: &[StoredResource]| part.iter().map(|r| compare(before, after, r)).collect::<Vec<_>>();
    std::thread::scope(|scope| {
        // A Rhai call on a thread with less than 6 MiB of stack left runs on
        // a fresh 8 MiB stack mapped for that call: on a spawned thread's
        // 2 MiB that was every call, and a 100,000-user preview spent more
        // time in mmap than in the scripts.
        let spawned: Vec<_> = page
            .chunks(chunk)
            .map(|part| {
                let thread = std::thread::Builder::new().stack_size(WORKER_STACK_BYTES);
                thread.spawn_scoped(scope, move || compare_all(part)).map_err(|_| part)
            })
            .collect();
        spawned
            .into_iter()
            .flat_map(|thread| match thread {
                Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: this one does the part.
                Err(part) => compare_all(part),
            })
            .collect()
    })
}

/// One resource through both pipelines, as a replace of it would run them.
fn compare(before: &Tenant, after: &Tenant, stored: &StoredResource) -> Option<Compared> {
    let ctx = hook_context(before, Operation::Replace, stored.kind, Some(&stored.id));
    let doc = pipeline_input(stored);
    let (b, a) = (outcome(&before.flow, &doc, &ctx), outcome(&after.flow, &doc, &ctx));
    let error = (b.error != a.error).then(|| Shift { before: json!(b.error), after: json!(a.error) });
    let scope = (b.error.is_none() && a.error.is_none() && b.scope != a.scope)
        .then(|| Shift { before: b.scope.clone(), after: a.scope.clone() });
    let attributes = match (&b.target, &a.target) {
        (Some(before), Some(after)) => attribute_changes(before, after),
        _ => Vec::new(),
    };
    let both_ran = b.error.is_none() && a.error.is_none();
    let keys_gained: Vec<MatchKey> =
        if both_ran { a.keys.iter().filter(|k| !b.keys.contains(k)).cloned().collect() } else { Vec::new() };
    let keys_lost: Vec<MatchKey> =
        if both_ran { b.keys.iter().filter(|k| !a.keys.contains(k)).cloned().collect() } else { Vec::new() };
    if error.is_none() && scope.is_none() && attributes.is_empty() && keys_gained.is_empty() && keys_lost.is_empty() {
        return None;
    }
    let name = ["userName", "displayName"].iter().find_map(|k| stored.doc[k].as_str()).unwrap_or_default();
    let keys_changed = !keys_gained.is_empty() || !keys_lost.is_empty();
    let change = ResourceChange {
        resource_type: stored.kind.as_str(),
        id: stored.id.clone(),
        name: name.to_owned(),
        scope,
        attributes,
        keys_gained,
        keys_lost,
        link: None,
        error,
    };
    Some(Compared { change, keys: keys_changed.then_some((b.keys, a.keys)) })
}

/// A change, with both key sets when they differ: what they would link is
/// looked up in the store after the page.
struct Compared {
    change: ResourceChange,
    keys: Option<(Vec<MatchKey>, Vec<MatchKey>)>,
}

/// What each key set would link a create of the document to, when that
/// differs (as the dry run says it).
async fn match_shift(
    store: &Store,
    tenant: &Tenant,
    kind: ResourceKind,
    keys: &(Vec<MatchKey>, Vec<MatchKey>),
) -> Result<Option<Shift>, StoreError> {
    let mut found = Vec::with_capacity(2);
    for side in [&keys.0, &keys.1] {
        found.push(match store.find_match(&tenant.name, kind, side).await? {
            Ok(Some((target_id, attribute))) => link_decision(&target_id, &attribute, tenant.policy.on_match),
            Ok(None) => json!({"result": "create"}),
            Err(e) => json!({"result": "conflict", "detail": e.detail}),
        });
    }
    let after = found.pop().unwrap_or_default();
    let before = found.pop().unwrap_or_default();
    Ok((before != after).then_some(Shift { before, after }))
}

/// The attributes of two target documents that differ. Complex values are
/// compared by sub-attribute (`name.givenName`) and schema extensions by
/// attribute (`urn:…:User:department`), so a change names what changed;
/// multi-valued attributes are compared whole.
pub fn attribute_changes(before: &Value, after: &Value) -> Vec<AttributeChange> {
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    flatten(before, &mut b);
    flatten(after, &mut a);
    let mut changes = Vec::new();
    for (attribute, old) in &b {
        let new = a.remove(attribute).unwrap_or(&Value::Null);
        if old != &new {
            changes.push(AttributeChange { attribute: attribute.clone(), before: (*old).clone(), after: new.clone() });
        }
    }
    changes.extend(a.into_iter().map(|(attribute, new)| AttributeChange {
        attribute,
        before: Value::Null,
        after: new.clone(),
    }));
    changes.sort_by(|x, y| x.attribute.cmp(&y.attribute));
    changes
}

fn flatten<'v>(doc: &'v Value, into: &mut BTreeMap<String, &'v Value>) {
    let Value::Object(map) = doc else { return };
    for (key, value) in map {
        match value {
            Value::Object(inner) => {
                let joiner = if key.starts_with("urn:") { ':' } else { '.' };
                for (sub, v) in inner {
                    into.insert(format!("{key}{joiner}{sub}"), v);
                }
            }
            _ => {
                into.insert(key.clone(), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_compared_by_sub_attribute_and_extension_attribute() {
        let before = json!({
            "userName": "alice",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
            "emails": [{"value": "a@x.example", "type": "work"}],
            "active": true
        });
        let after = json!({
            "userName": "alice@x.example",
            "name": {"givenName": "Alice", "familyName": "Smith-Jones"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
            "emails": [{"value": "a@x.example", "type": "work"}],
            "title": "Engineer"
        });
        let changes = attribute_changes(&before, &after);
        let named: Vec<(&str, Value, Value)> =
            changes.iter().map(|c| (c.attribute.as_str(), c.before.clone(), c.after.clone())).collect();
        assert_eq!(
            named,
            vec![
                ("active", json!(true), Value::Null),
                ("name.familyName", json!("Smith"), json!("Smith-Jones")),
                ("title", Value::Null, json!("Engineer")),
                ("userName", json!("alice"), json!("alice@x.example")),
            ]
        );
    }

    #[test]
    fn equal_documents_have_no_changes() {
        let doc = json!({"userName": "bob", "emails": [{"value": "b@x.example"}], "name": {"formatted": "Bob"}});
        assert!(attribute_changes(&doc, &doc.clone()).is_empty());
    }

    #[test]
    fn the_summary_counts_each_kind_of_change() {
        let mut summary = Summary::default();
        let change = |scope: Option<Shift>, error: Option<Shift>| ResourceChange {
            resource_type: "User",
            id: "1".into(),
            name: "a".into(),
            scope,
            attributes: vec![AttributeChange { attribute: "title".into(), before: Value::Null, after: json!("x") }],
            keys_gained: Vec::new(),
            keys_lost: Vec::new(),
            link: None,
            error,
        };
        let out = json!({"in_scope": false, "reason": "r"});
        let inside = json!({"in_scope": true});
        summary.count(&change(Some(Shift { before: inside.clone(), after: out.clone() }), None));
        summary.count(&change(Some(Shift { before: out, after: inside }), None));
        summary.count(&change(None, Some(Shift { before: Value::Null, after: json!("boom") })));
        assert_eq!((summary.changed, summary.left_scope, summary.entered_scope, summary.newly_failing), (3, 1, 1, 1));
        assert_eq!(summary.attributes["title"], 3);
    }
}
