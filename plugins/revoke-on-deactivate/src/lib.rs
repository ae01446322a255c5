//! `revoke-on-deactivate` (on-event): the follow-up the seeds ask for when a
//! user is deactivated or deleted: revoke the access grants the user holds,
//! so nothing they could reach outlives their account.
//!
//! Config: `{"url": "https://grants.example.com/revoke"}`. On `deactivated`
//! and `deleted` it POSTs `{"user": userName, "id": id, "event": ...}` there.
//! The gateway must grant the URL's origin to the tenant's event hooks
//! (`[tenants.T.events] origins`); the host adds the service's credential.
//! A refusal (non-2xx) fails the hook, which the gateway logs; the IdP's
//! write stands either way.

use scimgate_sdk::{Context, Event, HookError, OnEvent, Resource, Value, http, json, log};

pub struct RevokeOnDeactivate;

impl OnEvent for RevokeOnDeactivate {
    fn on_event(event: Event, doc: &Resource, ctx: &Context, config: &Value) -> Result<(), HookError> {
        let name = match event {
            Event::Deactivated => "deactivated",
            Event::Deleted => "deleted",
            _ => return Ok(()),
        };
        if !ctx.is_user() {
            return Ok(());
        }
        let Some(url) = config.get("url").and_then(Value::as_str) else {
            return Err(HookError::failed("revoke-on-deactivate: config.url is missing"));
        };
        let body = json!({"user": doc.get_str("userName"), "id": doc.get_str("id"), "event": name}).to_string();
        let answer = http::send("POST", url, &[("content-type", "application/json")], Some(&body))
            .map_err(|e| HookError::failed(format!("revoke-on-deactivate: {e}")))?;
        if !(200..300).contains(&answer.status) {
            return Err(HookError::failed(format!("revoke-on-deactivate: {url} answered {}", answer.status)));
        }
        log::info(&format!("grants of {} revoked ({name})", doc.get_str("userName").unwrap_or("?")));
        Ok(())
    }
}

scimgate_sdk::export_plugin!(RevokeOnDeactivate: on_event);
