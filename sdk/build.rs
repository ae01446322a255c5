//! Embeds `wit/plugin.wit` in the `__wit_bindings!` macro, so the bindings a
//! plugin generates through `export_plugin!` come from the one WIT file
//! without the plugin crate having to find it on disk.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let wit_path = manifest.join("wit").join("plugin.wit");
    println!("cargo:rerun-if-changed={}", wit_path.display());
    let wit = fs::read_to_string(&wit_path).expect("read wit/plugin.wit");
    assert!(!wit.contains("\"###"), "plugin.wit must not contain the raw-string terminator");
    let version = package_version(&wit);

    let source = format!(
        r####"/// The WIT package version this SDK speaks.
pub const WIT_PACKAGE: &str = "scimgate:plugin@{version}";

/// The contract, as the SDK was built with it.
pub const WIT: &str = r###"{wit}"###;

/// Generates guest bindings for one world of `plugin.wit` in the calling
/// module, sharing the SDK's `types` and `host` bindings.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_bindings {{
    ($world:tt) => {{
        $crate::__private::wit_bindgen::generate!({{
            inline: r###"{wit}"###,
            world: $world,
            runtime_path: "::scimgate_sdk::__private::wit_bindgen::rt",
            with: {{
                "scimgate:plugin/types@{version}": ::scimgate_sdk::__private::wit::types,
                "scimgate:plugin/host@{version}": ::scimgate_sdk::__private::wit::host,
            }},
        }});
    }};
    // Worlds that import `http` share the SDK's binding of it too.
    ($world:tt, http) => {{
        $crate::__private::wit_bindgen::generate!({{
            inline: r###"{wit}"###,
            world: $world,
            runtime_path: "::scimgate_sdk::__private::wit_bindgen::rt",
            with: {{
                "scimgate:plugin/types@{version}": ::scimgate_sdk::__private::wit::types,
                "scimgate:plugin/host@{version}": ::scimgate_sdk::__private::wit::host,
                "scimgate:plugin/http@{version}": ::scimgate_sdk::__private::wit::http,
            }},
        }});
    }};
}}
"####
    );
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("wit.rs");
    fs::write(out, source).expect("write wit.rs");
}

/// The version of `package scimgate:plugin@x.y.z;`.
fn package_version(wit: &str) -> String {
    wit.lines()
        .find_map(|line| line.trim().strip_prefix("package scimgate:plugin@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .expect("plugin.wit declares `package scimgate:plugin@x.y.z;`")
        .to_owned()
}
