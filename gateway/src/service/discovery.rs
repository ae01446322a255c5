//! The discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`,
//! `/Schemas`, `/ResourceTypes`, per tenant (its extensions included).

use scim::{ScimError, list_response};
use serde_json::{Value, json};

use super::Result;
use super::bulk::BulkLimits;
use super::exchange::ScimResponse;
use crate::store::ResourceKind;
use crate::tenant::Tenant;

/// The tenant's schemas: the built-in ones and the extensions it defines.
pub(super) fn schemas(tenant: &Tenant, id: Option<&str>, base: &str) -> Result<ScimResponse> {
    let (users, groups) = (tenant.schema(ResourceKind::User), tenant.schema(ResourceKind::Group));
    let all: Vec<&scim::Schema> =
        [&users.core].into_iter().chain(&users.extensions).chain([&groups.core]).chain(&groups.extensions).collect();
    match id {
        None => {
            let list: Vec<Value> = all.iter().map(|s| s.to_json(base)).collect();
            Ok(ScimResponse::json(200, list_response(list.len(), 1, list)))
        }
        Some(id) => all
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .map(|s| ScimResponse::json(200, s.to_json(base)))
            .ok_or_else(|| ScimError::not_found(format!("schema {id} not found")).into()),
    }
}

pub(super) fn resource_types(tenant: &Tenant, id: Option<&str>, base: &str) -> Result<ScimResponse> {
    let all = [tenant.schema(ResourceKind::User), tenant.schema(ResourceKind::Group)];
    match id {
        None => {
            let list: Vec<Value> = all.iter().map(|r| r.resource_type_json(base)).collect();
            Ok(ScimResponse::json(200, list_response(list.len(), 1, list)))
        }
        Some(id) => all
            .iter()
            .find(|r| r.resource_type.eq_ignore_ascii_case(id))
            .map(|r| ScimResponse::json(200, r.resource_type_json(base)))
            .ok_or_else(|| ScimError::not_found(format!("resource type {id} not found")).into()),
    }
}

/// RFC 7643 §5: what this service provider supports.
pub(super) fn service_provider_config(base: &str, bulk: BulkLimits) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": bulk.max_operations,
            "maxPayloadSize": bulk.max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": scim::list::MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued by `scimgate token issue`.",
            "primary": true,
        }, {
            "type": "httpbasic",
            "name": "HTTP Basic",
            "description": "A token's id as the username and the token as the password.",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}
