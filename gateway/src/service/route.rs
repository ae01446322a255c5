//! Which endpoint a request names, and with which method.

use crate::store::ResourceKind;

/// Where a request goes, once the path is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ServiceProviderConfig,
    Schemas(Option<String>),
    ResourceTypes(Option<String>),
    Collection(ResourceKind),
    Resource(ResourceKind, String),
    /// `POST /.search` (None) or `POST /Users/.search`.
    Search(Option<ResourceKind>),
    /// `POST /Bulk` (RFC 7644 §3.7).
    Bulk,
    /// An endpoint RFC 7644 defines that this gateway does not offer.
    Unsupported(&'static str),
}

impl Route {
    /// Parse the path below the SCIM base (`/Users/abc`). `None`: no such endpoint.
    pub fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let kind = |s: &str| match s {
            "Users" => Some(ResourceKind::User),
            "Groups" => Some(ResourceKind::Group),
            _ => None,
        };
        Some(match segments.as_slice() {
            ["ServiceProviderConfig"] => Route::ServiceProviderConfig,
            ["Schemas"] => Route::Schemas(None),
            ["Schemas", id] => Route::Schemas(Some(percent_decode(id))),
            ["ResourceTypes"] => Route::ResourceTypes(None),
            ["ResourceTypes", id] => Route::ResourceTypes(Some(percent_decode(id))),
            [".search"] => Route::Search(None),
            ["Bulk"] => Route::Bulk,
            ["Me"] => Route::Unsupported("Me"),
            [k] => Route::Collection(kind(k)?),
            [k, ".search"] => Route::Search(Some(kind(k)?)),
            [k, id] if !id.is_empty() => Route::Resource(kind(k)?, percent_decode(id)),
            _ => return None,
        })
    }
}

impl Route {
    /// The endpoint as a low-cardinality template below the SCIM base
    /// (`/Users/{id}`): OpenTelemetry's `http.route`.
    pub fn template(&self) -> String {
        let kind = |k: &ResourceKind| k.endpoint();
        match self {
            Route::ServiceProviderConfig => "/ServiceProviderConfig".into(),
            Route::Schemas(None) => "/Schemas".into(),
            Route::Schemas(Some(_)) => "/Schemas/{id}".into(),
            Route::ResourceTypes(None) => "/ResourceTypes".into(),
            Route::ResourceTypes(Some(_)) => "/ResourceTypes/{id}".into(),
            Route::Collection(k) => format!("/{}", kind(k)),
            Route::Resource(k, _) => format!("/{}/{{id}}", kind(k)),
            Route::Search(None) => "/.search".into(),
            Route::Search(Some(k)) => format!("/{}/.search", kind(k)),
            Route::Bulk => "/Bulk".into(),
            Route::Unsupported(what) => format!("/{what}"),
        }
    }

    /// The methods this endpoint answers, for a 405's `Allow` header.
    pub fn allowed_methods(&self) -> &'static str {
        match self {
            Route::ServiceProviderConfig | Route::Schemas(_) | Route::ResourceTypes(_) => "GET",
            Route::Collection(_) => "GET, POST",
            Route::Resource(..) => "GET, PUT, PATCH, DELETE",
            Route::Search(_) | Route::Bulk | Route::Unsupported(_) => "POST",
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The HTTP methods the SCIM API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// The operation name recorded in the provisioning log.
pub fn operation_name(method: Method, route: &Route) -> &'static str {
    match (method, route) {
        (_, Route::ServiceProviderConfig | Route::Schemas(_) | Route::ResourceTypes(_) | Route::Unsupported(_)) => {
            "config"
        }
        (_, Route::Search(_)) => "search",
        (_, Route::Bulk) => "bulk",
        (Method::Get, Route::Collection(_)) => "list",
        (Method::Post, Route::Collection(_)) => "create",
        (Method::Get, Route::Resource(..)) => "get",
        (Method::Put, _) => "replace",
        (Method::Patch, _) => "patch",
        (Method::Delete, _) => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim::schema::USER_SCHEMA;

    #[test]
    fn routes_parse() {
        assert_eq!(Route::parse("/Users"), Some(Route::Collection(ResourceKind::User)));
        assert_eq!(Route::parse("/Groups/abc/"), Some(Route::Resource(ResourceKind::Group, "abc".into())));
        assert_eq!(Route::parse("/Users/.search"), Some(Route::Search(Some(ResourceKind::User))));
        assert_eq!(
            Route::parse("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"),
            Some(Route::Schemas(Some(USER_SCHEMA.into())))
        );
        assert_eq!(Route::parse("/Bulk"), Some(Route::Bulk));
        assert_eq!(Route::parse("/Nope"), None);
        assert_eq!(Route::parse("/Users/a/b"), None);
    }
}
