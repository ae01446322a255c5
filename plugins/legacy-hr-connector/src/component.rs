//! The component glue: the `connector` export over the host's `http.send`.

use serde_json::Value;

use crate::{Call, Failure, Kind};

wit_bindgen::generate!({
    path: "../../sdk/wit",
    world: "connector-plugin",
});

use exports::scimgate::plugin::connector::{ConnectorError, Guest};
use scimgate::plugin::http;
use scimgate::plugin::types::{Context, MatchKey};

struct Connector;

impl Guest for Connector {
    fn create(doc: String, ctx: Context, config: String) -> Result<String, ConnectorError> {
        let kind = Kind::from_resource_type(&ctx.resource_type);
        let doc = parse(&doc)?;
        let answer = send(&config, crate::create(kind, &doc).map_err(err)?)?
            .ok_or_else(|| ConnectorError::Failed("legacy-hr answered 404 to a create".into()))?;
        Ok(crate::to_scim(kind, &answer).map_err(err)?.to_string())
    }

    fn get(id: String, ctx: Context, config: String) -> Result<Option<String>, ConnectorError> {
        let kind = Kind::from_resource_type(&ctx.resource_type);
        let Ok(call) = crate::get(kind, &id) else { return Ok(None) };
        let answer = send(&config, call)?;
        answer.map(|a| crate::to_scim(kind, &a).map(|d| d.to_string())).transpose().map_err(err)
    }

    fn update(id: String, doc: String, ctx: Context, config: String) -> Result<Option<String>, ConnectorError> {
        let kind = Kind::from_resource_type(&ctx.resource_type);
        let doc = parse(&doc)?;
        let answer = send(&config, crate::update(kind, &id, &doc).map_err(err)?)?;
        answer.map(|a| crate::to_scim(kind, &a).map(|d| d.to_string())).transpose().map_err(err)
    }

    fn delete(id: String, ctx: Context, config: String) -> Result<(), ConnectorError> {
        let kind = Kind::from_resource_type(&ctx.resource_type);
        let Ok(call) = crate::delete(kind, &id) else { return Ok(()) };
        send(&config, call).map(|_| ())
    }

    fn find(key: MatchKey, ctx: Context, config: String) -> Result<Option<String>, ConnectorError> {
        let kind = Kind::from_resource_type(&ctx.resource_type);
        let Some(call) = crate::find(kind, &key.attribute, &key.value) else { return Ok(None) };
        let Some(answer) = send(&config, call)? else { return Ok(None) };
        crate::first_of_list(kind, &answer).map(|d| d.map(|d| d.to_string())).map_err(err)
    }
}

fn parse(doc: &str) -> Result<Value, ConnectorError> {
    serde_json::from_str(doc).map_err(|e| ConnectorError::Failed(format!("the gateway sent malformed JSON: {e}")))
}

fn err(f: Failure) -> ConnectorError {
    match f {
        Failure::Rejected(m) => ConnectorError::Rejected(m),
        Failure::Conflict(m) => ConnectorError::Conflict(m),
        Failure::Busy(s) => ConnectorError::Busy(s),
        Failure::Failed(m) => ConnectorError::Failed(m),
    }
}

/// Send a call to `config.base_url`; `None` for a 404 (or a 204).
fn send(config: &str, call: Call) -> Result<Option<Value>, ConnectorError> {
    let config: Value = serde_json::from_str(config).unwrap_or(Value::Null);
    let base = config.get("base_url").and_then(Value::as_str).unwrap_or_default().trim_end_matches('/');
    let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
    if call.body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let request = http::Request {
        method: call.method.to_owned(),
        url: format!("{base}{}", call.path),
        headers,
        body: call.body.map(|b| b.to_string()),
    };
    let response = match http::send(&request) {
        Ok(r) => r,
        Err(http::HttpError::Timeout) => return Err(ConnectorError::Failed("legacy-hr did not answer in time".into())),
        Err(http::HttpError::Transport(m)) => return Err(ConnectorError::Failed(format!("legacy-hr: {m}"))),
    };
    match response.status {
        200 | 201 => serde_json::from_str(&response.body)
            .map(Some)
            .map_err(|e| ConnectorError::Failed(format!("legacy-hr answered malformed JSON: {e}"))),
        204 | 404 => Ok(None),
        status => {
            let retry_after =
                response.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after")).map(|(_, v)| v.as_str());
            Err(err(crate::failure(status, &response.body, retry_after)))
        }
    }
}

export!(Connector);
