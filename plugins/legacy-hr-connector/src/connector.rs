//! The [`Connector`] the component exports: each operation is one legacy-hr
//! call, sent with the host's `http.send` to `config.base_url`.

use scimgate_sdk::{Connector, ConnectorError, Context, MatchKey, Resource, Value, http};

use crate::{Call, Kind};

/// legacy-hr's employees (Users) and teams (Groups).
pub struct LegacyHr;

impl Connector for LegacyHr {
    fn create(doc: Resource, ctx: &Context, config: &Value) -> Result<Resource, ConnectorError> {
        let kind = Kind::of(ctx);
        let answer = send(config, crate::create(kind, doc.value())?)?
            .ok_or_else(|| ConnectorError::failed("legacy-hr answered a create without the new resource"))?;
        crate::to_scim(kind, &answer).map(Resource::new)
    }

    fn get(id: &str, ctx: &Context, config: &Value) -> Result<Option<Resource>, ConnectorError> {
        let kind = Kind::of(ctx);
        // An id that is not legacy-hr's names nothing there.
        let Ok(call) = crate::get(kind, id) else { return Ok(None) };
        send(config, call)?.map(|answer| crate::to_scim(kind, &answer).map(Resource::new)).transpose()
    }

    fn update(id: &str, doc: Resource, ctx: &Context, config: &Value) -> Result<Option<Resource>, ConnectorError> {
        let kind = Kind::of(ctx);
        let answer = send(config, crate::update(kind, id, doc.value())?)?;
        answer.map(|answer| crate::to_scim(kind, &answer).map(Resource::new)).transpose()
    }

    fn delete(id: &str, ctx: &Context, config: &Value) -> Result<(), ConnectorError> {
        let Ok(call) = crate::delete(Kind::of(ctx), id) else { return Ok(()) };
        send(config, call).map(drop)
    }

    fn find(key: &MatchKey, ctx: &Context, config: &Value) -> Result<Option<Resource>, ConnectorError> {
        let kind = Kind::of(ctx);
        let Some(call) = crate::find(kind, &key.attribute, &key.value) else { return Ok(None) };
        let Some(answer) = send(config, call)? else { return Ok(None) };
        Ok(crate::first_of_list(kind, &answer)?.map(Resource::new))
    }
}

/// Send a call to `config.base_url`; `None` for a 404 (or a 204).
fn send(config: &Value, call: Call) -> Result<Option<Value>, ConnectorError> {
    let base = config.get("base_url").and_then(Value::as_str).unwrap_or_default().trim_end_matches('/');
    let body = call.body.map(|b| b.to_string());
    let mut headers = vec![("accept", "application/json")];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let url = format!("{base}{}", call.path);
    let response = http::send(call.method, &url, &headers, body.as_deref())
        .map_err(|e| ConnectorError::failed(format!("legacy-hr: {e}")))?;
    match response.status {
        200 | 201 => serde_json::from_str(&response.body)
            .map(Some)
            .map_err(|e| ConnectorError::failed(format!("legacy-hr answered malformed JSON: {e}"))),
        204 | 404 => Ok(None),
        status => Err(crate::failure(status, &response.body, response.header("retry-after"))),
    }
}
