//! Failure notifications: a tenant's optional webhook hears when its
//! upstream enters or leaves quarantine (at once, one call each) and when
//! requests fail in a way an admin must fix (a plugin or mapping error, a
//! document a step refused, an upstream 4xx), batched per tenant so that a
//! bad provisioning cycle sends one call per window, not thousands.
//!
//! Delivery is best effort and off the request path: requests hand a note to
//! a bounded channel and never wait; one task batches and posts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use hyper::header::{self, HeaderValue};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::outbound::{Credential, HttpClient, Outgoing};
use crate::store::{LogRecord, now_rfc3339};

/// Notes waiting for the batching task; past this, failures are only counted.
const QUEUE: usize = 10_000;
/// Failures quoted in one batch (the count covers them all).
const SAMPLES: usize = 10;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a tenant's notifications go.
pub struct Webhook {
    pub url: String,
    pub credential: Credential,
    /// How long failures gather before one call reports them.
    pub batch: Duration,
}

enum Note {
    Quarantine { tenant: String, entered: bool, reason: String },
    Failure { tenant: String, sample: Sample },
}

/// One failed request, as a batch quotes it.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    time: String,
    operation: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    status: u16,
    error: Option<String>,
    request_id: Option<String>,
}

/// The live webhook of a tenant, looked up when a notification is sent
/// (so reloads apply); the server wires it to the tenant registry.
pub type WebhookLookup = Arc<dyn Fn(&str) -> Option<Arc<Webhook>> + Send + Sync>;

pub struct Notifier {
    tx: mpsc::Sender<Note>,
    /// Failures dropped because the queue was full, reported with the next batch.
    overflow: Arc<AtomicU64>,
}

impl Notifier {
    /// Start the delivery task; tenants' webhooks are looked up with
    /// `webhooks` when a notification is sent, so reloads apply.
    pub fn start(webhooks: WebhookLookup) -> Result<Notifier, crate::outbound::ClientError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let http = HttpClient::new(DELIVERY_TIMEOUT, DELIVERY_TIMEOUT, None)?;
        let overflow = Arc::new(AtomicU64::new(0));
        tokio::spawn(deliver(rx, webhooks, http, overflow.clone()));
        Ok(Notifier { tx, overflow })
    }

    pub fn quarantine(&self, tenant: &str, entered: bool, reason: &str) {
        let note = Note::Quarantine { tenant: tenant.to_owned(), entered, reason: reason.to_owned() };
        // Transitions are rare; a full queue means a flood of failures, and
        // the transition still matters more: wait for room off this thread.
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(note).await;
        });
    }

    /// A request failed in a way an admin must fix.
    pub fn failure(&self, record: &LogRecord) {
        let sample = Sample {
            time: record.time.clone(),
            operation: record.operation.clone(),
            resource_type: record.resource_type.clone(),
            resource_id: record.resource_id.clone(),
            status: record.status,
            error: record.error.clone(),
            request_id: record.request_id.clone(),
        };
        if self.tx.try_send(Note::Failure { tenant: record.tenant.clone(), sample }).is_err() {
            self.overflow.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Default)]
struct Batch {
    count: u64,
    samples: Vec<Sample>,
    due: Option<Instant>,
}

async fn deliver(mut rx: mpsc::Receiver<Note>, webhooks: WebhookLookup, http: HttpClient, overflow: Arc<AtomicU64>) {
    let mut batches: HashMap<String, Batch> = HashMap::new();
    loop {
        let next_due = batches.values().filter_map(|b| b.due).min();
        // `None`: a batch is due.
        let note: Option<Note> = match next_due {
            Some(due) => tokio::select! {
                note = rx.recv() => match note {
                    Some(n) => Some(n),
                    None => return,
                },
                () = tokio::time::sleep_until(due) => None,
            },
            None => match rx.recv().await {
                Some(n) => Some(n),
                None => return,
            },
        };
        match note {
            Some(Note::Quarantine { tenant, entered, reason }) => {
                let event = if entered { "quarantine_entered" } else { "quarantine_left" };
                let body = json!({
                    "tenant": tenant,
                    "event": event,
                    "at": now_rfc3339(),
                    "reason": reason,
                    "see": format!("GET /admin/tenants (upstream.breaker of {tenant})"),
                });
                send(webhooks(&tenant), &http, &tenant, body).await;
            }
            Some(Note::Failure { tenant, sample }) => {
                let Some(window) = webhooks(&tenant).map(|w| w.batch) else {
                    continue;
                };
                let batch = batches.entry(tenant).or_default();
                batch.count += 1;
                if batch.samples.len() < SAMPLES {
                    batch.samples.push(sample);
                }
                batch.due.get_or_insert_with(|| Instant::now() + window);
            }
            None => {}
        }
        let now = Instant::now();
        let ready: Vec<String> =
            batches.iter().filter(|(_, b)| b.due.is_some_and(|d| d <= now)).map(|(t, _)| t.clone()).collect();
        for tenant in ready {
            let Some(batch) = batches.remove(&tenant) else { continue };
            let dropped = overflow.swap(0, Ordering::Relaxed);
            let body = json!({
                "tenant": tenant,
                "event": "failures",
                "at": now_rfc3339(),
                "count": batch.count + dropped,
                "samples": batch.samples,
                "see": format!("GET /admin/tenants/{tenant}/log?outcome=error"),
            });
            send(webhooks(&tenant), &http, &tenant, body).await;
        }
    }
}

/// Post one notification to the tenant's webhook, if it has one.
async fn send(hook: Option<Arc<Webhook>>, http: &HttpClient, tenant: &str, body: Value) {
    let Some(hook) = hook else { return };
    let mut headers = vec![(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    match hook.credential.header(http).await {
        Ok(Some(auth)) => headers.push(auth),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "notification webhook: no credential");
            return;
        }
    }
    let out = Outgoing { method: Method::POST, url: &hook.url, headers, body: Some(Bytes::from(body.to_string())) };
    match http.send(&out).await {
        Ok(r) if (200..300).contains(&r.status) => {}
        Ok(r) => tracing::warn!(%tenant, status = r.status, "notification webhook refused the call"),
        Err((e, _)) => tracing::warn!(%tenant, error = %e, "notification webhook failed"),
    }
}
