//! OpenTelemetry trace export: when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
//! every span the gateway makes (the request, each pipeline hook, each
//! upstream or connector call) goes to `{endpoint}/v1/traces` as OTLP over
//! HTTP with the JSON encoding, batched by a background thread.
//!
//! A span carries its fields (tenant, method, path, request id, step, hook,
//! status...): never a header, a token or a document, because no span
//! records one. Export is best effort: a full queue or a collector that is
//! down drops spans (counted in the process log), never slows a request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::Method;
use hyper::header::{self, HeaderValue};
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::outbound::{HttpClient, Outgoing};
use crate::trace_context::{TraceIds, hex, parse_traceparent};

/// Finished spans waiting for export; past this they are dropped.
const QUEUE: usize = 8192;
/// Spans per export request.
const BATCH: usize = 512;
/// The longest a finished span waits for its batch.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What the layer keeps per open span (its W3C ids are in a
/// [`TraceIds`] beside it, for `traceparent` on calls out).
struct SpanData {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_id: Option<[u8; 8]>,
    name: &'static str,
    level: Level,
    start_nanos: u64,
    attributes: Vec<(&'static str, String)>,
}

struct Finished {
    data: SpanData,
    end_nanos: u64,
}

/// The `tracing` layer that hands finished spans to the exporter thread.
pub struct OtlpLayer {
    tx: SyncSender<Finished>,
    dropped: std::sync::Arc<AtomicU64>,
}

/// Start the exporter for `endpoint` (`http://collector:4318`) and return
/// its layer. `service` names the resource (`OTEL_SERVICE_NAME`); `headers`
/// go with every export (`OTEL_EXPORTER_OTLP_HEADERS`, see
/// [`parse_headers`]).
pub fn layer(
    endpoint: &str,
    service: &str,
    headers: Vec<(header::HeaderName, HeaderValue)>,
) -> Result<OtlpLayer, crate::outbound::ClientError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let http = HttpClient::new(Duration::from_secs(10), Duration::from_secs(2), None)?;
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let dropped = std::sync::Arc::new(AtomicU64::new(0));
    let (service, counter) = (service.to_owned(), dropped.clone());
    // Its own thread and runtime: export never competes with requests for
    // the serving runtime, and works before it exists.
    let spawned = std::thread::Builder::new().name("otlp-export".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(export(rx, http, headers, url, service, counter)),
            Err(e) => eprintln!("scimgate: OTLP export disabled: cannot start its runtime: {e}"),
        }
    });
    if let Err(e) = spawned {
        eprintln!("scimgate: OTLP export disabled: cannot start its thread: {e}");
    }
    Ok(OtlpLayer { tx, dropped })
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

struct Fields<'a>(&'a mut Vec<(&'static str, String)>);

impl Fields<'_> {
    fn set(&mut self, field: &Field, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == field.name()) {
            Some(slot) => slot.1 = value,
            None => self.0.push((field.name(), value)),
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut attributes = Vec::new();
        attrs.record(&mut Fields(&mut attributes));
        // A root span (the request) joins the caller's trace when it came
        // with a valid `traceparent`; the header itself is not exported.
        let incoming = attributes.iter().position(|(k, _)| *k == "traceparent").map(|i| attributes.remove(i).1);
        let parent = span.parent().and_then(|p| p.extensions().get::<SpanData>().map(|d| (d.trace_id, d.span_id)));
        let (trace_id, parent_id) = match (parent, incoming.as_deref().and_then(parse_traceparent)) {
            (Some((trace, parent)), _) | (None, Some((trace, parent))) => (trace, Some(parent)),
            (None, None) => (rand::random(), None),
        };
        let data = SpanData {
            trace_id,
            span_id: rand::random(),
            parent_id,
            name: span.name(),
            level: *span.metadata().level(),
            start_nanos: unix_nanos(),
            attributes,
        };
        let mut extensions = span.extensions_mut();
        extensions.insert(TraceIds { trace_id: data.trace_id, span_id: data.span_id });
        extensions.insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(data) = span.extensions_mut().get_mut::<SpanData>()
        {
            values.record(&mut Fields(&mut data.attributes));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else { return };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Finished { data, end_nanos: unix_nanos() }) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn export(
    rx: Receiver<Finished>,
    http: HttpClient,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    url: String,
    service: String,
    dropped: std::sync::Arc<AtomicU64>,
) {
    let mut failures_reported = false;
    loop {
        let mut batch = Vec::new();
        // This runtime has nothing else to do while it waits.
        let Ok(first) = rx.recv() else { return };
        batch.push(first);
        let deadline = std::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < BATCH {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(span) => batch.push(span),
                Err(_) => break,
            }
        }
        let body = encode(&service, &batch).to_string();
        let out = Outgoing {
            method: Method::POST,
            url: &url,
            headers: std::iter::once((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
                .chain(headers.iter().cloned())
                .collect(),
            body: Some(Bytes::from(body)),
        };
        let ok = matches!(http.send(&out).await, Ok(r) if (200..300).contains(&r.status));
        let lost = dropped.swap(0, Ordering::Relaxed);
        if (!ok || lost > 0) && !failures_reported {
            eprintln!("scimgate: OTLP export to {url} is losing spans (collector down or queue full)");
            failures_reported = true;
        } else if ok && lost == 0 {
            failures_reported = false;
        }
    }
}

/// The OTLP/JSON `ExportTraceServiceRequest` of a batch. OpenTelemetry's
/// conventions come from span fields: `otel.name` names the span (`POST
/// /scim/v2/Users`), `otel.status_code` (`ERROR`) sets its status, and
/// `http.response.status_code` is an integer.
fn encode(service: &str, batch: &[Finished]) -> Value {
    let spans: Vec<Value> = batch
        .iter()
        .map(|f| {
            let d = &f.data;
            // SERVER for the request, CLIENT for calls out, INTERNAL otherwise.
            let kind = match d.name {
                "request" => 2,
                "upstream" | "connector" => 3,
                _ => 1,
            };
            let mut name = d.name.to_owned();
            let mut status = None;
            let mut attributes: Vec<Value> = Vec::new();
            for (key, value) in &d.attributes {
                match *key {
                    "otel.name" => name = value.clone(),
                    "otel.status_code" => status = Some(value.as_str()),
                    "http.response.status_code" => {
                        attributes.push(json!({"key": key, "value": {"intValue": value}}));
                    }
                    _ => attributes.push(json!({"key": key, "value": {"stringValue": value}})),
                }
            }
            attributes.push(json!({"key": "level", "value": {"stringValue": d.level.as_str()}}));
            let mut span = json!({
                "traceId": hex(&d.trace_id),
                "spanId": hex(&d.span_id),
                "name": name,
                "kind": kind,
                "startTimeUnixNano": d.start_nanos.to_string(),
                "endTimeUnixNano": f.end_nanos.to_string(),
                "attributes": attributes,
            });
            if let Some(parent) = &d.parent_id {
                span["parentSpanId"] = Value::String(hex(parent));
            }
            match status {
                Some(s) if s.eq_ignore_ascii_case("error") => span["status"] = json!({"code": 2}),
                Some(s) if s.eq_ignore_ascii_case("ok") => span["status"] = json!({"code": 1}),
                _ => {}
            }
            span
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "scimgate"}, "spans": spans}],
    }]})
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `key1=value1,key2=value2`, values
/// percent-decoded (the OpenTelemetry spec's format). A malformed entry is
/// an error naming its key (never its value: usually a secret).
pub fn parse_headers(spec: &str) -> Result<Vec<(header::HeaderName, HeaderValue)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let Some((key, value)) = entry.split_once('=') else {
                return Err("an entry without '=' (want key=value)".to_owned());
            };
            let name = header::HeaderName::from_bytes(key.trim().as_bytes())
                .map_err(|_| format!("not a header name: {:?}", key.trim()))?;
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy();
            let mut value =
                HeaderValue::from_str(&value).map_err(|_| format!("header {name}: not a valid header value"))?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_headers_follow_the_spec_format() {
        let parsed = parse_headers("api-key=s3cr%3Dt, x-tenant = ops ,").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, "api-key");
        assert_eq!(parsed[0].1, "s3cr=t");
        assert!(parsed[0].1.is_sensitive());
        assert_eq!(parsed[1].1, "ops");
        let err = parse_headers("novalue").unwrap_err();
        assert!(!err.contains("novalue") || err.contains("want key=value"));
        assert!(parse_headers("bad header=x").is_err());
    }
}
