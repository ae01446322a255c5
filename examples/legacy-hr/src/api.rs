//! Routing and handlers. Order of checks for `/api`: rate limit, then the
//! API key, then route, method, query and body, so an unauthenticated
//! client learns nothing about which routes exist.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::error::{ApiError, json_response};
use crate::limit::{RateLimiter, retry_after_secs};
use crate::model::{EmployeeInput, MemberInput, Page, TeamInput};
use crate::query::Query;
use crate::store::{Store, StoreError};

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every request shares.
pub struct AppState {
    pub store: Arc<Store>,
    pub api_key: String,
    /// `None` when rate limiting is off.
    pub limiter: Option<RateLimiter>,
}

/// The hyper service function: never fails, every error becomes a JSON body.
pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = dispatch(&state, req).await.unwrap_or_else(ApiError::into_response);
    tracing::debug!(%method, %path, status = response.status().as_u16(), "served");
    Ok(response)
}

/// The resources under `/api/v1`; ids are positive decimal integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Employees,
    Employee(i64),
    Teams,
    Team(i64),
    TeamMembers(i64),
    TeamMember(i64, i64),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.strip_prefix("/api/v1/")?.split('/').collect();
        Some(match segments.as_slice() {
            ["employees"] => Route::Employees,
            ["employees", id] => Route::Employee(parse_id(id)?),
            ["teams"] => Route::Teams,
            ["teams", id] => Route::Team(parse_id(id)?),
            ["teams", id, "members"] => Route::TeamMembers(parse_id(id)?),
            ["teams", id, "members", employee_id] => Route::TeamMember(parse_id(id)?, parse_id(employee_id)?),
            _ => return None,
        })
    }

    /// The `Allow` header for a 405 on this route.
    fn allow(self) -> &'static str {
        match self {
            Route::Employees | Route::Teams => "GET, POST",
            Route::Employee(_) | Route::Team(_) => "GET, PUT, DELETE",
            Route::TeamMembers(_) => "POST",
            Route::TeamMember(..) => "DELETE",
        }
    }
}

fn parse_id(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n > 0)
}

type ApiResult = Result<Response<Full<Bytes>>, ApiError>;

async fn dispatch<B>(state: &Arc<AppState>, req: Request<B>) -> ApiResult
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = req.uri().path();
    if path == "/healthz" {
        return match *req.method() {
            Method::GET => Ok(json_response(StatusCode::OK, &json!({ "ok": true }))),
            _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        };
    }
    if path != "/api" && !path.starts_with("/api/") {
        return Err(ApiError::NotFound(format!("no route for {path}")));
    }
    if let Some(limiter) = &state.limiter {
        limiter.try_acquire().map_err(|wait| ApiError::RateLimited { retry_after_secs: retry_after_secs(wait) })?;
    }
    authenticate(&state.api_key, req.headers())?;
    let route = Route::parse(path).ok_or_else(|| ApiError::NotFound(format!("no route for {path}")))?;
    let query = Query::parse(req.uri().query())?;
    let method = req.method().clone();

    match (route, method) {
        (Route::Employees, Method::GET) => {
            let (filter, page) = query.employee_list()?;
            let (rows, total) = blocking(state, move |s| s.list_employees(&filter, page)).await?;
            Ok(list(rows, page, total))
        }
        (Route::Employees, Method::POST) => {
            let input = EmployeeInput::from_json(&read_body(req).await?)?;
            let employee = blocking(state, move |s| s.create_employee(&input)).await?;
            Ok(json_response(StatusCode::CREATED, &json!({ "employee": employee })))
        }
        (Route::Employee(id), Method::GET) => {
            let include_deleted = query.employee_get()?;
            let employee = blocking(state, move |s| s.get_employee(id, include_deleted)).await?;
            Ok(json_response(StatusCode::OK, &json!({ "employee": employee })))
        }
        (Route::Employee(id), Method::PUT) => {
            let input = EmployeeInput::from_json(&read_body(req).await?)?;
            let employee = blocking(state, move |s| s.replace_employee(id, &input)).await?;
            Ok(json_response(StatusCode::OK, &json!({ "employee": employee })))
        }
        (Route::Employee(id), Method::DELETE) => {
            blocking(state, move |s| s.delete_employee(id)).await?;
            Ok(no_content())
        }
        (Route::Teams, Method::GET) => {
            let (filter, page) = query.team_list()?;
            let (rows, total) = blocking(state, move |s| s.list_teams(&filter, page)).await?;
            Ok(list(rows, page, total))
        }
        (Route::Teams, Method::POST) => {
            let input = TeamInput::from_json(&read_body(req).await?)?;
            let team = blocking(state, move |s| s.create_team(&input)).await?;
            Ok(json_response(StatusCode::CREATED, &json!({ "team": team })))
        }
        (Route::Team(id), Method::GET) => {
            query.none()?;
            let team = blocking(state, move |s| s.get_team(id)).await?;
            Ok(json_response(StatusCode::OK, &json!({ "team": team })))
        }
        (Route::Team(id), Method::PUT) => {
            let input = TeamInput::from_json(&read_body(req).await?)?;
            let team = blocking(state, move |s| s.replace_team(id, &input)).await?;
            Ok(json_response(StatusCode::OK, &json!({ "team": team })))
        }
        (Route::Team(id), Method::DELETE) => {
            blocking(state, move |s| s.delete_team(id)).await?;
            Ok(no_content())
        }
        (Route::TeamMembers(id), Method::POST) => {
            let input = MemberInput::from_json(&read_body(req).await?)?;
            blocking(state, move |s| s.add_member(id, input.employee_id)).await?;
            Ok(no_content())
        }
        (Route::TeamMember(id, employee_id), Method::DELETE) => {
            blocking(state, move |s| s.remove_member(id, employee_id)).await?;
            Ok(no_content())
        }
        (route, _) => Err(ApiError::MethodNotAllowed { allow: route.allow() }),
    }
}

/// `X-Api-Key` must equal the configured key.
fn authenticate(expected: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("x-api-key") {
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Compare without an early exit, so timing does not reveal how much of a
/// guess was right (the length is not secret enough to hide).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The whole body, up to [`MAX_BODY_BYTES`].
async fn read_body<B>(req: Request<B>) -> Result<Bytes, ApiError>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let too_large = || ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::BadRequest(format!("could not read request body: {e}"))),
    }
}

/// Run a store call on the blocking pool.
async fn blocking<T, F>(state: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::Internal(format!("store task failed: {e}"))),
    }
}

/// The paged list shape: `{"data":[...],"page":P,"per_page":N,"total":T}`.
fn list<T: serde::Serialize>(rows: Vec<T>, page: Page, total: u64) -> Response<Full<Bytes>> {
    let body = json!({ "data": rows, "page": page.page, "per_page": page.per_page, "total": total });
    json_response(StatusCode::OK, &body)
}

fn no_content() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("/api/v1/employees"), Some(Route::Employees));
        assert_eq!(Route::parse("/api/v1/employees/17"), Some(Route::Employee(17)));
        assert_eq!(Route::parse("/api/v1/teams/3/members/17"), Some(Route::TeamMember(3, 17)));
        for bad in [
            "/api/v1/employees/",
            "/api/v1/employees/x",
            "/api/v1/employees/0",
            "/api/v1/employees/+1",
            "/api/v2/teams",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
        assert_eq!(Route::Employee(1).allow(), "GET, PUT, DELETE");
    }

    #[tokio::test]
    async fn body_limit_without_content_length() {
        let req = Request::new(Full::new(Bytes::from(vec![b' '; MAX_BODY_BYTES + 1])));
        assert!(matches!(read_body(req).await, Err(ApiError::PayloadTooLarge { .. })));
        let req = Request::new(Full::new(Bytes::from(vec![b' '; MAX_BODY_BYTES])));
        assert_eq!(read_body(req).await.map(|b| b.len()).ok(), Some(MAX_BODY_BYTES));
    }

    #[test]
    fn key_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
