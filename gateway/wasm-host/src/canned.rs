//! `http.send` answered from a list of canned answers instead of the
//! network: how `scimgate plugin test --http` runs on-event hooks and
//! connectors offline, and how the fixture tests run a connector's cases.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::{HttpAnswer, HttpCallError, HttpGrant, HttpRequest};

/// A JSON array of `{"method", "url", "status", "headers", "body"}`, where
/// `url` may end in `*` to match a prefix, `method` may be left out,
/// `status` defaults to 200, `headers` is a list of pairs and `body` is text
/// or any JSON. Each answer serves one request, in the order given, unless it
/// says `"repeat": true`. A request without an answer fails like a refused
/// connection. Every request is recorded, answered or not.
#[derive(Default)]
pub struct CannedHttp {
    answers: Vec<Canned>,
    used: Mutex<Vec<bool>>,
    calls: Mutex<Vec<(HttpRequest, Option<u16>)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Canned {
    method: Option<String>,
    url: String,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    repeat: bool,
}

fn ok() -> u16 {
    200
}

impl CannedHttp {
    /// The answers of a JSON array; `Err` names what does not fit.
    pub fn from_json(answers: &[u8]) -> Result<CannedHttp, serde_json::Error> {
        let answers: Vec<Canned> = serde_json::from_slice(answers)?;
        let used = Mutex::new(vec![false; answers.len()]);
        Ok(CannedHttp { answers, used, calls: Mutex::default() })
    }

    /// The requests sent since the last call, in order, each with the
    /// status it was answered with (`None`: no answer was left for it).
    pub fn take_calls(&self) -> Vec<(HttpRequest, Option<u16>)> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The answer `request` gets, if one is left for it (and marks it used).
    pub fn answer(&self, request: &HttpRequest) -> Option<HttpAnswer> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let index = self.answers.iter().enumerate().position(|(i, a)| {
            (a.repeat || !used[i])
                && a.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
                && match a.url.strip_suffix('*') {
                    Some(prefix) => request.url.starts_with(prefix),
                    None => request.url == a.url,
                }
        })?;
        used[index] = true;
        let canned = &self.answers[index];
        let body = match &canned.body {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        Some(HttpAnswer { status: canned.status, headers: canned.headers.clone(), body })
    }
}

impl HttpGrant for CannedHttp {
    fn send(&self, request: HttpRequest, _wait: Duration) -> Result<HttpAnswer, HttpCallError> {
        let answer = self.answer(&request);
        let refused = format!("no canned answer for {} {}", request.method, request.url);
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push((request, answer.as_ref().map(|a| a.status)));
        answer.ok_or(HttpCallError::Transport(refused))
    }

    fn budget(&self) -> u32 {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_answers_serve_in_order_and_by_prefix() {
        let http = CannedHttp::from_json(
            br#"[{"method": "POST", "url": "https://x.example/a", "status": 201, "body": {"id": 1}},
                 {"url": "https://x.example/*", "status": 404, "repeat": true}]"#,
        )
        .unwrap();
        let req = |method: &str, url: &str| HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        };
        let first = http.send(req("POST", "https://x.example/a"), Duration::ZERO).unwrap();
        assert_eq!((first.status, first.body.as_str()), (201, r#"{"id":1}"#));
        assert_eq!(http.send(req("POST", "https://x.example/a"), Duration::ZERO).unwrap().status, 404);
        assert_eq!(http.send(req("GET", "https://x.example/b"), Duration::ZERO).unwrap().status, 404);
        assert!(matches!(
            http.send(req("GET", "https://y.example/"), Duration::ZERO),
            Err(HttpCallError::Transport(_))
        ));
        let statuses: Vec<Option<u16>> = http.take_calls().into_iter().map(|(_, status)| status).collect();
        assert_eq!(statuses, [Some(201), Some(404), Some(404), None]);
        assert!(CannedHttp::from_json(br#"[{"url": "x", "stauts": 200}]"#).is_err());
    }
}
