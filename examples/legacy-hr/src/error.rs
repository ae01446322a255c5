//! The app's one error shape: every failure a client sees is
//! `{"error":{"code":"...","message":"...","field":"..."?}}` with a fitting
//! status. Connectors key on `code` (stable) and `field`; `message` is prose.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Unparseable JSON, a non-UTF-8 query, an unreadable body.
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid X-Api-Key header")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("{message}")]
    Duplicate { field: &'static str, message: String },
    /// Well-formed JSON (or query) that breaks a rule. `field` names the
    /// offending member when there is one.
    #[error("{message}")]
    Validation { field: Option<String>, message: String },
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("rate limit exceeded; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Details go to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A validation failure tied to one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation { field: Some(field.into()), message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Duplicate { .. } => StatusCode::CONFLICT,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::Duplicate { .. } => "DUPLICATE",
            ApiError::Validation { .. } => "VALIDATION",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::Duplicate { field, .. } => Some(field),
            ApiError::Validation { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// The JSON body, e.g. `{"error":{"code":"DUPLICATE","message":"...","field":"mail"}}`.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code().into());
        error.insert("message".into(), self.to_string().into());
        if let Some(field) = self.field() {
            error.insert("field".into(), field.into());
        }
        json!({ "error": error })
    }

    /// The complete response, with the headers some codes require.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let mut response = json_response(self.status(), &self.body());
        let headers = response.headers_mut();
        match &self {
            ApiError::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Duplicate { field, message } => ApiError::Duplicate { field, message },
            StoreError::Invalid { field, message } => ApiError::invalid(field, message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    // Serializing a `Value` cannot fail: its keys are always strings.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_code_message_and_field() {
        let e = ApiError::Duplicate { field: "mail", message: "taken".into() };
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(e.body(), json!({"error": {"code": "DUPLICATE", "message": "taken", "field": "mail"}}));
        let e = ApiError::NotFound("no such employee".into());
        assert_eq!(e.body(), json!({"error": {"code": "NOT_FOUND", "message": "no such employee"}}));
    }

    #[test]
    fn rate_limited_sets_retry_after() {
        let r = ApiError::RateLimited { retry_after_secs: 2 }.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}
