//! Write scimgate plugins in Rust.
//!
//! A plugin is a type that implements any subset of the hook traits
//! ([`Scope`], [`TransformIn`], [`TransformOut`], [`MatchKeys`], [`OnEvent`])
//! and one line that exports those hooks from the Wasm component (a
//! connector to a legacy API is the same with [`Connector`] and
//! [`export_connector!`]):
//!
//! ```
//! use scimgate_sdk::{Context, HookError, Resource, TransformIn, Value};
//!
//! pub struct Upcase;
//!
//! impl TransformIn for Upcase {
//!     fn transform_in(mut doc: Resource, _ctx: &Context, _config: &Value) -> Result<Resource, HookError> {
//!         if let Some(name) = doc.get_str("displayName").map(str::to_uppercase) {
//!             doc.set("displayName", name)?;
//!         }
//!         Ok(doc)
//!     }
//! }
//!
//! scimgate_sdk::export_plugin!(Upcase: transform_in);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`: the crate must
//! be a `cdylib` (and an `rlib`, so its unit tests run natively) and depend on
//! this SDK under the name `scimgate_sdk`. The component exports exactly the
//! listed hooks; the gateway never calls the others.
//!
//! The hook logic is plain Rust: unit tests call the trait functions directly
//! on the host, with no Wasm involved. The export glue (wit-bindgen) is only
//! compiled for `target_arch = "wasm32"`. Natively, [`log`] records into a
//! per-thread buffer that [`testing::take_logs`] returns.
//!
//! Documents cross the boundary as JSON; [`Resource`] gives typed access with
//! SCIM paths (`emails[type eq "work"].value`) from the [`scim`] crate, which is
//! re-exported whole for filters, schemas and PATCH.

mod connector;
mod resource;
mod types;

pub mod http;
pub mod log;
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod glue;

pub use connector::{Connector, ConnectorError};
pub use resource::Resource;
pub use scim;
pub use serde_json::{self, Value, json};
pub use types::{Context, Event, HookError, MatchKey, Operation, ScopeDecision, config};

include!(concat!(env!("OUT_DIR"), "/wit.rs"));

/// Decide whether a resource is provisioned at all.
pub trait Scope {
    fn scope(doc: &Resource, ctx: &Context, config: &Value) -> Result<ScopeDecision, HookError>;
}

/// IdP SCIM shape -> target shape. Returns the whole new document.
pub trait TransformIn {
    fn transform_in(doc: Resource, ctx: &Context, config: &Value) -> Result<Resource, HookError>;
}

/// Target shape -> SCIM shape for the IdP. Returns the whole new document.
pub trait TransformOut {
    fn transform_out(doc: Resource, ctx: &Context, config: &Value) -> Result<Resource, HookError>;
}

/// Keys to find the target account for a resource, tried in order.
pub trait MatchKeys {
    fn match_keys(doc: &Resource, ctx: &Context, config: &Value) -> Result<Vec<MatchKey>, HookError>;
}

/// React to a lifecycle event, raised after a write succeeded.
pub trait OnEvent {
    fn on_event(event: Event, doc: &Resource, ctx: &Context, config: &Value) -> Result<(), HookError>;
}

/// The top-level attributes a plugin's hooks read, declared with `reads` in
/// [`export_plugin!`]. The gateway then hands every hook only these
/// attributes of a document (and `schemas`), which is most of a call's cost
/// on a large user: a `transform-in` that reads two attributes of a 1 KB
/// user crosses the boundary with a fifth of its JSON. Names compare without
/// case; an extension's schema URN names its whole object
/// ([`scim::schema::ENTERPRISE_USER_SCHEMA`] for `...:User:department`).
///
/// A transform's answer is laid over the whole document: each attribute it
/// returns replaces the one of that name, a declared attribute it leaves out
/// is removed, every other attribute stays. So a hook may write attributes
/// it does not read, but a hook that reads an undeclared attribute sees it
/// missing. Without `reads`, every hook gets the whole document.
pub trait Reads {
    const ATTRIBUTES: &'static [&'static str];
}

/// Export a plugin's hooks from the component.
///
/// `export_plugin!(MyPlugin: scope, transform_in)` exports the listed hooks,
/// each backed by `MyPlugin`'s implementation of the matching trait:
///
/// | hook            | trait            | WIT interface                        |
/// |-----------------|------------------|--------------------------------------|
/// | `scope`         | [`Scope`]        | `scimgate:plugin/scope-hook`         |
/// | `transform_in`  | [`TransformIn`]  | `scimgate:plugin/transform-in-hook`  |
/// | `transform_out` | [`TransformOut`] | `scimgate:plugin/transform-out-hook` |
/// | `match_keys`    | [`MatchKeys`]    | `scimgate:plugin/match-keys-hook`    |
/// | `on_event`      | [`OnEvent`]      | `scimgate:plugin/event-hook`         |
/// | `reads`         | [`Reads`]        | `scimgate:plugin/attributes`         |
///
/// `reads` is not a hook: it declares what the hooks read (optional).
/// Use it once per crate, at the crate root. Natively it only checks that the
/// traits are implemented; the bindings exist in the `wasm32` build.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty : $($hook:ident),+ $(,)?) => {
        $( $crate::__export_hook!($hook, $plugin); )+
    };
}

/// One hook of [`export_plugin!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_hook {
    (scope, $plugin:ty) => {
        const _: fn() = || $crate::__private::implements_scope::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        mod __scimgate_scope_hook {
            #[allow(unused_imports)]
            use super::*;
            $crate::__wit_bindings!("scope-plugin");
            struct Hook;
            impl exports::scimgate::plugin::scope_hook::Guest for Hook {
                fn scope(
                    doc: ::std::string::String,
                    ctx: $crate::__private::wit::types::Context,
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::__private::wit::types::ScopeDecision,
                    $crate::__private::wit::types::HookError,
                > {
                    $crate::__private::scope::<$plugin>(doc, ctx, config)
                }
            }
            export!(Hook);
        }
    };
    (reads, $plugin:ty) => {
        const _: &[&str] = <$plugin as $crate::Reads>::ATTRIBUTES;
        #[cfg(target_arch = "wasm32")]
        mod __scimgate_attributes {
            #[allow(unused_imports)]
            use super::*;
            $crate::__wit_bindings!("attributes-plugin");
            struct Declared;
            impl exports::scimgate::plugin::attributes::Guest for Declared {
                fn reads() -> ::std::vec::Vec<::std::string::String> {
                    <$plugin as $crate::Reads>::ATTRIBUTES.iter().map(|name| (*name).to_owned()).collect()
                }
            }
            export!(Declared);
        }
    };
    (transform_in, $plugin:ty) => {
        const _: fn() = || $crate::__private::implements_transform_in::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        mod __scimgate_transform_in_hook {
            #[allow(unused_imports)]
            use super::*;
            $crate::__wit_bindings!("transform-in-plugin");
            struct Hook;
            impl exports::scimgate::plugin::transform_in_hook::Guest for Hook {
                fn transform_in(
                    doc: ::std::string::String,
                    ctx: $crate::__private::wit::types::Context,
                    config: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::__private::wit::types::HookError> {
                    $crate::__private::transform_in::<$plugin>(doc, ctx, config)
                }
            }
            export!(Hook);
        }
    };
    (transform_out, $plugin:ty) => {
        const _: fn() = || $crate::__private::implements_transform_out::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        mod __scimgate_transform_out_hook {
            #[allow(unused_imports)]
            use super::*;
            $crate::__wit_bindings!("transform-out-plugin");
            struct Hook;
            impl exports::scimgate::plugin::transform_out_hook::Guest for Hook {
                fn transform_out(
                    doc: ::std::string::String,
                    ctx: $crate::__private::wit::types::Context,
                    config: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::__private::wit::types::HookError> {
                    $crate::__private::transform_out::<$plugin>(doc, ctx, config)
                }
            }
            export!(Hook);
        }
    };
    (match_keys, $plugin:ty) => {
        const _: fn() = || $crate::__private::implements_match_keys::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        mod __scimgate_match_keys_hook {
            #[allow(unused_imports)]
            use super::*;
            $crate::__wit_bindings!("match-keys-plugin");
            struct Hook;
            impl exports::scimgate::plugin::match_keys_hook::Guest for Hook {
                fn match_keys(
                    doc: ::std::string::String,
                    ctx: $crate::__private::wit::types::Context,
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::__private::wit::types::MatchKey>,
                    $crate::__private::wit::types::HookError,
                > {
                    $crate::__private::match_keys::<$plugin>(doc, ctx, config)
                }
            }
            export!(Hook);
        }
    };
    (on_event, $plugin:ty) => {
        const _: fn() = || $crate::__private::implements_on_event::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        mod __scimgate_event_hook {
            #[allow(unused_imports)]
            use super::*;
            $crate::__wit_bindings!("event-plugin", http);
            struct Hook;
            impl exports::scimgate::plugin::event_hook::Guest for Hook {
                fn on_event(
                    event: $crate::__private::wit::types::Event,
                    doc: ::std::string::String,
                    ctx: $crate::__private::wit::types::Context,
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), $crate::__private::wit::types::HookError> {
                    $crate::__private::on_event::<$plugin>(event, doc, ctx, config)
                }
            }
            export!(Hook);
        }
    };
    ($other:ident, $plugin:ty) => {
        ::std::compile_error!(::std::concat!(
            "unknown hook `",
            ::std::stringify!($other),
            "`: expected scope, transform_in, transform_out, match_keys or on_event"
        ));
    };
}

/// Export a connector from the component: `export_connector!(MyApi)`, where
/// `MyApi` implements [`Connector`]. The component then exports
/// `scimgate:plugin/connector` and imports `http`, which [`http::send`] uses.
///
/// Use it once per crate, at the crate root, and not beside
/// [`export_plugin!`]: a component is a connector or a set of hooks. Natively
/// it only checks that the trait is implemented; unit tests call the trait's
/// functions, with [`testing::mock_http`] answering their requests.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty $(,)?) => {
        const _: fn() = || $crate::__private::implements_connector::<$connector>();
        #[cfg(target_arch = "wasm32")]
        mod __scimgate_connector {
            #[allow(unused_imports)]
            use super::*;
            $crate::__wit_bindings!("connector-plugin", http);
            use ::std::option::Option;
            use ::std::result::Result;
            use ::std::string::String;
            use exports::scimgate::plugin::connector::{ConnectorError as WitError, Guest};
            use $crate::__private::wit::types::{Context, MatchKey};

            struct Export;

            fn wit_error(e: $crate::ConnectorError) -> WitError {
                match e {
                    $crate::ConnectorError::Rejected(m) => WitError::Rejected(m),
                    $crate::ConnectorError::Conflict(m) => WitError::Conflict(m),
                    $crate::ConnectorError::Busy(seconds) => WitError::Busy(seconds),
                    $crate::ConnectorError::Failed(m) => WitError::Failed(m),
                }
            }

            impl Guest for Export {
                fn create(doc: String, ctx: Context, config: String) -> Result<String, WitError> {
                    $crate::__private::connector_create::<$connector>(doc, ctx, config).map_err(wit_error)
                }
                fn get(id: String, ctx: Context, config: String) -> Result<Option<String>, WitError> {
                    $crate::__private::connector_get::<$connector>(id, ctx, config).map_err(wit_error)
                }
                fn update(id: String, doc: String, ctx: Context, config: String) -> Result<Option<String>, WitError> {
                    $crate::__private::connector_update::<$connector>(id, doc, ctx, config).map_err(wit_error)
                }
                fn delete(id: String, ctx: Context, config: String) -> Result<(), WitError> {
                    $crate::__private::connector_delete::<$connector>(id, ctx, config).map_err(wit_error)
                }
                fn find(key: MatchKey, ctx: Context, config: String) -> Result<Option<String>, WitError> {
                    $crate::__private::connector_find::<$connector>(key, ctx, config).map_err(wit_error)
                }
            }
            export!(Export);
        }
    };
}

/// Support for the macros; not a public API.
#[doc(hidden)]
pub mod __private {
    pub fn implements_scope<T: crate::Scope>() {}
    pub fn implements_transform_in<T: crate::TransformIn>() {}
    pub fn implements_transform_out<T: crate::TransformOut>() {}
    pub fn implements_match_keys<T: crate::MatchKeys>() {}
    pub fn implements_on_event<T: crate::OnEvent>() {}
    pub fn implements_connector<T: crate::Connector>() {}

    #[cfg(target_arch = "wasm32")]
    pub use crate::glue::{
        connector_create, connector_delete, connector_find, connector_get, connector_update, match_keys, on_event,
        scope, transform_in, transform_out, wit,
    };
    #[cfg(target_arch = "wasm32")]
    pub use wit_bindgen;
}
