//! Bulk (RFC 7644 §3.7): many writes in one request.
//!
//! Nothing here writes. Each operation becomes a [`ScimRequest`] of its own
//! and goes through [`Service::handle_one`], so the tenant's pipeline, its
//! target, the resource's turn and `If-Match` (`version`) apply to it as to
//! a standalone request, and its failure is the `Failure` that request
//! would have had, answered through the same `Failure::reply`.
//!
//! `bulkId:` references, in `path` and in any string of `data`, become the
//! id the POST with that `bulkId` created. An operation that refers to a POST
//! further down waits until that POST has run (§3.7.2 allows reordering that
//! keeps the client's intent); a reference that cannot resolve (no such
//! POST, a POST that failed, a cycle) fails that operation with 409
//! `invalidValue`. Operations run one after another, never concurrently.
//! Each collects its own trace ([`crate::trace`]); the bulk's record has none.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use scim::{ScimError, ScimType};
use serde_json::{Map, Value, json};

use super::exchange::{OperationRecord, ScimRequest, ScimResponse};
use super::route::{Method, Route};
use super::{Result, Service, require_body};
use crate::tenant::Tenant;
use crate::trace::Stage;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// A string that names another operation's resource starts with this.
const REFERENCE: &str = "bulkId:";

/// How large a bulk request may be; advertised in `/ServiceProviderConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    /// More operations than this and the whole request is refused (413).
    pub max_operations: usize,
    /// The listener's body limit (`[server] max_body_bytes`): it refuses a
    /// larger bulk (413) before parsing it; here only to be advertised.
    pub max_payload_bytes: usize,
}

impl Default for BulkLimits {
    fn default() -> Self {
        BulkLimits {
            max_operations: crate::config::DEFAULT_BULK_MAX_OPERATIONS,
            max_payload_bytes: crate::config::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A checked `BulkRequest`, borrowing the request's body.
struct BulkRequest<'a> {
    /// Stop once this many operations have failed.
    fail_on_errors: Option<usize>,
    operations: Vec<Entry<'a>>,
}

/// One element of `Operations`: what the answer echoes, and the operation
/// when it is well formed (a malformed one fails alone, in its turn).
struct Entry<'a> {
    method: Option<&'a str>,
    bulk_id: Option<&'a str>,
    op: std::result::Result<Operation<'a>, ScimError>,
}

struct Operation<'a> {
    method: Method,
    path: &'a str,
    version: Option<&'a str>,
    data: Option<&'a Value>,
    /// The bulkIds its `path` and `data` refer to.
    refers_to: HashSet<&'a str>,
}

/// What the POSTs run so far made of their bulkIds: the id created, or
/// `None` for a POST that failed.
type Created<'a> = HashMap<&'a str, Option<String>>;

impl Service {
    /// `POST /Bulk`: 200 with a `BulkResponse` whatever its operations did;
    /// only a malformed or oversized request fails as a whole.
    pub(super) async fn bulk(&self, tenant: &Tenant, req: &ScimRequest) -> Result<ScimResponse> {
        let request = parse_request(require_body(req)?, self.bulk)?;
        let total = request.operations.len();
        let posts: HashSet<&str> = request
            .operations
            .iter()
            .filter(|e| e.op.as_ref().is_ok_and(|op| op.method == Method::Post))
            .filter_map(|e| e.bulk_id)
            .collect();
        let mut created = Created::new();
        let mut answers = Vec::new();
        let mut records = Vec::new();
        let mut errors = 0usize;
        let mut pending: Vec<usize> = (0..total).collect();
        'run: while !pending.is_empty() {
            let stuck = pending.len();
            let mut waiting = Vec::new();
            for &i in &pending {
                let entry = &request.operations[i];
                let started = Instant::now();
                let (route, result, stages) = match &entry.op {
                    Err(e) => (None, Err(e.clone().into()), Vec::new()),
                    Ok(op) => match readiness(op, &created, &posts) {
                        Readiness::Wait => {
                            waiting.push(i);
                            continue;
                        }
                        Readiness::Never(e) => (None, Err(e.into()), Vec::new()),
                        Readiness::Go => self.run_operation(tenant, req, op, &created).await,
                    },
                };
                errors += usize::from(result.is_err());
                settle(entry, &result, &mut created);
                let (answer, mut record) = answer(entry, route.as_ref(), result, req, started);
                record.trace = (!stages.is_empty()).then_some(stages);
                answers.push(answer);
                records.push(record);
                if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
                    break 'run;
                }
            }
            if waiting.len() == stuck {
                // Nothing ran in a whole pass: the rest wait on each other.
                for &i in &waiting {
                    let entry = &request.operations[i];
                    let cycle = conflict("its bulkId references form a cycle; no order can resolve them");
                    let result = Err(cycle.into());
                    errors += 1;
                    settle(entry, &result, &mut created);
                    let (answer, record) = answer(entry, None, result, req, Instant::now());
                    answers.push(answer);
                    records.push(record);
                    if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
                        break 'run;
                    }
                }
                break;
            }
            pending = waiting;
        }
        let mut detail = format!("{} of {total} operations run, {errors} failed", records.len());
        if records.len() < total {
            detail.push_str("; stopped by failOnErrors");
        }
        let body = json!({"schemas": [BULK_RESPONSE], "Operations": answers});
        Ok(ScimResponse { detail: Some(detail), operations: records, ..ScimResponse::json(200, body) })
    }

    /// One operation, as the standalone request it stands for, with the
    /// trace of its own (its provisioning-log record's).
    async fn run_operation(
        &self,
        tenant: &Tenant,
        bulk: &ScimRequest,
        op: &Operation<'_>,
        created: &Created<'_>,
    ) -> (Option<Route>, Result<ScimResponse>, Vec<Stage>) {
        let path = resolve_path(op.path, created);
        let route = match Route::parse(&path) {
            Some(route @ (Route::Collection(_) | Route::Resource(..))) => route,
            Some(_) => {
                let refused =
                    ScimError::invalid_value(format!("a bulk operation writes /Users or /Groups, not {path}"));
                return (None, Err(refused.into()), Vec::new());
            }
            None => return (None, Err(ScimError::not_found(format!("no endpoint at {path}")).into()), Vec::new()),
        };
        let req = ScimRequest {
            method: op.method,
            route,
            query: Vec::new(),
            body: op.data.map(|data| resolve(data, created)),
            if_match: op.version.map(str::to_owned),
            if_none_match: None,
            base_url: bulk.base_url.clone(),
            request_id: bulk.request_id.clone(),
        };
        let (result, stages) = crate::trace::collect(self.handle_one(tenant, &req)).await;
        (Some(req.route), result, stages)
    }
}

/// Record what a POST made of its bulkId, for the operations that refer to it.
fn settle<'a>(entry: &Entry<'a>, result: &Result<ScimResponse>, created: &mut Created<'a>) {
    if let (Ok(op), Some(bulk_id)) = (&entry.op, entry.bulk_id)
        && op.method == Method::Post
    {
        let id = result.as_ref().ok().and_then(|resp| resp.resource_id.clone());
        created.insert(bulk_id, id);
    }
}

/// An operation's element of the `BulkResponse` and its log record.
fn answer(
    entry: &Entry<'_>,
    route: Option<&Route>,
    result: Result<ScimResponse>,
    bulk: &ScimRequest,
    started: Instant,
) -> (Value, OperationRecord) {
    let method = entry.op.as_ref().ok().map(|op| op.method);
    let mut out = Map::new();
    if let Some(method) = entry.method {
        out.insert("method".into(), json!(method.to_ascii_uppercase()));
    }
    if let Some(bulk_id) = entry.bulk_id {
        out.insert("bulkId".into(), json!(bulk_id));
    }
    let (kind, named_id) = match route {
        Some(Route::Collection(kind)) => (Some(*kind), None),
        Some(Route::Resource(kind, id)) => (Some(*kind), Some(id.clone())),
        _ => (None, None),
    };
    let location = |id: &str| kind.map(|k| format!("{}/{}/{id}", bulk.base_url, k.endpoint()));
    let mut record = OperationRecord {
        operation: operation_name(method),
        resource_type: kind.map(|k| k.as_str()),
        resource_id: named_id.clone(),
        status: 0,
        outcome: None,
        detail: None,
        error: None,
        trace: None,
        failed_by: None,
        needs_admin: false,
        elapsed: started.elapsed(),
    };
    match result {
        Ok(resp) => {
            let id = resp.resource_id.or(named_id);
            if let Some(location) = resp.location.or_else(|| id.as_deref().and_then(location)) {
                out.insert("location".into(), json!(location));
            }
            if let Some(version) = resp.etag {
                out.insert("version".into(), json!(version));
            }
            out.insert("status".into(), json!(resp.status.to_string()));
            record = OperationRecord {
                resource_id: id,
                status: resp.status,
                outcome: resp.outcome,
                detail: resp.detail,
                ..record
            };
        }
        Err(failure) => {
            let error = failure.reply(&bulk.request_id).error;
            if let Some(location) = named_id.as_deref().and_then(location) {
                out.insert("location".into(), json!(location));
            }
            out.insert("status".into(), json!(error.status.to_string()));
            out.insert("response".into(), error.to_json());
            record = OperationRecord {
                status: error.status,
                failed_by: Some(failure.party()),
                needs_admin: failure.needs_admin(),
                error: Some(error.detail),
                ..record
            };
        }
    }
    (Value::Object(out), record)
}

/// The provisioning log's name for an operation (`operation_name` of the
/// route it stands for, known even when its path is not).
fn operation_name(method: Option<Method>) -> &'static str {
    match method {
        Some(Method::Post) => "create",
        Some(Method::Put) => "replace",
        Some(Method::Patch) => "patch",
        Some(Method::Delete) => "delete",
        Some(Method::Get) | None => "other",
    }
}

enum Readiness {
    Go,
    /// A POST further down defines a bulkId it refers to.
    Wait,
    /// A reference that no order can resolve.
    Never(ScimError),
}

fn readiness(op: &Operation<'_>, created: &Created<'_>, posts: &HashSet<&str>) -> Readiness {
    let mut wait = false;
    for &bulk_id in &op.refers_to {
        match created.get(bulk_id) {
            Some(Some(_)) => {}
            Some(None) => return Readiness::Never(conflict(format!("bulkId:{bulk_id} refers to a POST that failed"))),
            None if posts.contains(bulk_id) => wait = true,
            None => {
                return Readiness::Never(conflict(format!(
                    "bulkId:{bulk_id} is the bulkId of no POST in this request"
                )));
            }
        }
    }
    if wait { Readiness::Wait } else { Readiness::Go }
}

/// RFC 7644 §3.7.2: an unresolvable bulkId reference is a 409.
fn conflict(detail: impl Into<String>) -> ScimError {
    ScimError { status: 409, scim_type: Some(ScimType::InvalidValue), detail: detail.into() }
}

/// `data` with every `bulkId:` reference replaced by the id it names
/// (`readiness` has checked that each one resolves).
fn resolve(value: &Value, created: &Created<'_>) -> Value {
    match value {
        Value::String(s) => match reference(s).and_then(|b| created.get(b)).and_then(Option::as_ref) {
            Some(id) => Value::String(id.clone()),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, created)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v, created))).collect()),
        other => other.clone(),
    }
}

fn resolve_path(path: &str, created: &Created<'_>) -> String {
    path.split('/')
        .map(|segment| match reference(segment).and_then(|b| created.get(b)).and_then(Option::as_deref) {
            Some(id) => id,
            None => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The bulkId a `bulkId:qwerty` string refers to.
fn reference(s: &str) -> Option<&str> {
    s.strip_prefix(REFERENCE).filter(|b| !b.is_empty())
}

fn references<'a>(value: &'a Value, found: &mut HashSet<&'a str>) {
    match value {
        Value::String(s) => found.extend(reference(s)),
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        Value::Object(map) => map.values().for_each(|v| references(v, found)),
        _ => {}
    }
}

/// SCIM attribute names are case-insensitive (RFC 7643 §2.1).
fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v).filter(|v| !v.is_null())
}

fn parse_request(body: &Value, limits: BulkLimits) -> std::result::Result<BulkRequest<'_>, ScimError> {
    let map = body.as_object().ok_or_else(|| ScimError::invalid_syntax("a BulkRequest is a JSON object"))?;
    if let Some(schemas) = field(map, "schemas") {
        let named = schemas
            .as_array()
            .is_some_and(|s| s.iter().filter_map(Value::as_str).any(|s| s.eq_ignore_ascii_case(BULK_REQUEST)));
        if !named {
            return Err(ScimError::invalid_syntax(format!("a BulkRequest's schemas must name {BULK_REQUEST}")));
        }
    }
    let operations = field(map, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest needs an Operations array"))?;
    if operations.len() > limits.max_operations {
        return Err(ScimError::status(
            413,
            format!(
                "the bulk request has {} operations; maxOperations is {} (maxPayloadSize {} bytes)",
                operations.len(),
                limits.max_operations,
                limits.max_payload_bytes
            ),
        ));
    }
    let fail_on_errors = match field(map, "failOnErrors") {
        None => None,
        Some(n) => match n.as_u64().filter(|&n| n >= 1) {
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => return Err(ScimError::invalid_value("failOnErrors must be an integer of at least 1")),
        },
    };
    let mut bulk_ids = HashSet::new();
    let operations = operations
        .iter()
        .map(|raw| {
            let mut entry = parse_operation(raw);
            if let (Ok(op), Some(bulk_id)) = (&entry.op, entry.bulk_id)
                && op.method == Method::Post
                && !bulk_ids.insert(bulk_id)
            {
                let taken = format!("bulkId {bulk_id} is already the bulkId of an earlier POST");
                entry.op = Err(ScimError::invalid_value(taken));
            }
            entry
        })
        .collect();
    Ok(BulkRequest { fail_on_errors, operations })
}

fn parse_operation(raw: &Value) -> Entry<'_> {
    let map = raw.as_object();
    let text = |name: &str| map.and_then(|m| field(m, name)).and_then(Value::as_str);
    let (method_name, bulk_id) = (text("method"), text("bulkId"));
    let op = (|| {
        let map = map.ok_or_else(|| ScimError::invalid_syntax("each of a BulkRequest's Operations is an object"))?;
        let method = match method_name.map(str::to_ascii_uppercase).as_deref() {
            Some("POST") => Method::Post,
            Some("PUT") => Method::Put,
            Some("PATCH") => Method::Patch,
            Some("DELETE") => Method::Delete,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "a bulk operation's method is POST, PUT, PATCH or DELETE, not {other}"
                )));
            }
            None => return Err(ScimError::invalid_value("a bulk operation needs a method")),
        };
        let path = text("path").ok_or_else(|| ScimError::invalid_value("a bulk operation needs a path"))?;
        if method == Method::Post && bulk_id.is_none() {
            return Err(ScimError::invalid_value("a POST operation needs a bulkId"));
        }
        let data = field(map, "data");
        let mut refers_to: HashSet<&str> = path.split('/').filter_map(reference).collect();
        if let Some(data) = data {
            references(data, &mut refers_to);
        }
        Ok(Operation { method, path, version: text("version"), data, refers_to })
    })();
    Entry { method: method_name, bulk_id, op }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_resolved_in_path_and_data() {
        let data = json!({"members": [{"value": "bulkId:ann"}, {"value": "plain"}], "x": {"y": ["bulkId:bob"]}});
        let mut found = HashSet::new();
        references(&data, &mut found);
        assert_eq!(found, HashSet::from(["ann", "bob"]));
        let created = Created::from([("ann", Some("id-1".to_owned())), ("bob", Some("id-2".to_owned()))]);
        let resolved = resolve(&data, &created);
        assert_eq!(resolved["members"][0]["value"], "id-1");
        assert_eq!(resolved["members"][1]["value"], "plain");
        assert_eq!(resolved["x"]["y"][0], "id-2");
        assert_eq!(resolve_path("/Users/bulkId:ann", &created), "/Users/id-1");
        assert_eq!(resolve_path("/Users/bulkId:", &created), "/Users/bulkId:");
    }

    #[test]
    fn a_malformed_operation_fails_alone_and_a_malformed_request_as_a_whole() {
        let limits = BulkLimits { max_operations: 2, max_payload_bytes: 10 };
        let body = json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "GET", "path": "/Users"},
            {"method": "post", "path": "/Users", "data": {}},
        ]});
        let request = parse_request(&body, limits).unwrap();
        let errors: Vec<String> =
            request.operations.iter().map(|e| e.op.as_ref().err().unwrap().detail.clone()).collect();
        assert!(errors[0].contains("not GET") && errors[1].contains("needs a bulkId"), "{errors:?}");

        let too_many = json!({"Operations": [{}, {}, {}]});
        assert_eq!(parse_request(&too_many, limits).err().unwrap().status, 413);
        let zero = json!({"Operations": [], "failOnErrors": 0});
        assert_eq!(parse_request(&zero, limits).err().unwrap().scim_type, Some(ScimType::InvalidValue));
        let wrong = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []});
        assert_eq!(parse_request(&wrong, limits).err().unwrap().scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn a_bulk_id_used_twice_fails_the_second_post() {
        let body = json!({"Operations": [
            {"method": "POST", "bulkId": "a", "path": "/Users", "data": {}},
            {"method": "POST", "bulkId": "a", "path": "/Users", "data": {}},
        ]});
        let request = parse_request(&body, BulkLimits::default()).unwrap();
        assert!(request.operations[0].op.is_ok());
        assert!(request.operations[1].op.as_ref().err().unwrap().detail.contains("already"));
    }
}
