//! Build every plugin for `wasm32-wasip2` with a nested `cargo build`, the way
//! wasmtime's test programs are built, and write their paths to
//! `$OUT_DIR/artifacts.rs`.
//!
//! The nested build uses its own target directory (`<target>/plugins`): it
//! must not wait on the lock the outer cargo holds on `<target>/debug`. It
//! joins the outer cargo's jobserver (`CARGO_MAKEFLAGS`), so it does not
//! oversubscribe the machine.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (const name, package, lib name) of every plugin built.
const PLUGINS: &[(&str, &str, &str)] = &[
    ("WORK_EMAIL", "scimgate-plugin-work-email", "work_email"),
    ("DEPARTMENT_SCOPE", "scimgate-plugin-department-scope", "department_scope"),
    ("MATCH_BY_EMAIL", "scimgate-plugin-match-by-email", "match_by_email"),
    ("NAME_SPLIT", "scimgate-plugin-name-split", "name_split"),
    ("REVOKE_ON_DEACTIVATE", "scimgate-plugin-revoke-on-deactivate", "revoke_on_deactivate"),
    ("LEGACY_HR_CONNECTOR", "scimgate-plugin-legacy-hr-connector", "legacy_hr_connector"),
    ("SPIN", "scimgate-test-plugin-spin", "test_spin"),
    ("HOG", "scimgate-test-plugin-hog", "test_hog"),
    ("TRAP", "scimgate-test-plugin-trap", "test_trap"),
    ("PANIC", "scimgate-test-plugin-panic", "test_panic"),
    ("BLOAT", "scimgate-test-plugin-bloat", "test_bloat"),
    ("SLEEP", "scimgate-test-plugin-sleep", "test_sleep"),
    ("STAMP", "scimgate-test-plugin-stamp", "test_stamp"),
    ("HOSTILE_CONNECTOR", "scimgate-test-plugin-hostile-connector", "test_hostile_connector"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..").canonicalize().expect("workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for watched in ["plugins", "sdk", "gateway/scim/src", "gateway/scim/Cargo.toml", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let target_dir = cargo_target_dir(&out_dir).join("plugins");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        // Flags meant for the outer build (or clippy's driver) are not for
        // the plugins.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        // Smaller components, faster to compile at load time: no DWARF, but
        // keep the name section so traps name functions.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    for (_, package, _) in PLUGINS {
        cmd.args(["-p", package]);
    }
    let status = cmd.status().expect("run cargo for the plugins");
    assert!(
        status.success(),
        "building the plugins for {TARGET} failed ({status}): see cargo's output above \
         (a missing target is installed with `rustup target add {TARGET}`)"
    );

    let wasm_dir = target_dir.join(TARGET).join("release");
    let mut source = String::new();
    for (name, package, lib) in PLUGINS {
        let path = wasm_dir.join(format!("{lib}.wasm"));
        assert!(path.is_file(), "{} was not built", path.display());
        source.push_str(&format!(
            "/// `{package}`, built for `{TARGET}`.\npub const {name}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    source.push_str("\n/// Every plugin: (package, path).\npub const ALL: &[(&str, &str)] = &[\n");
    for (name, package, _) in PLUGINS {
        source.push_str(&format!("    ({package:?}, {name}),\n"));
    }
    source.push_str("];\n");
    fs::write(out_dir.join("artifacts.rs"), source).expect("write artifacts.rs");
}

/// The outer build's target directory: the ancestor of `OUT_DIR` holding
/// cargo's `CACHEDIR.TAG`, else a directory under `OUT_DIR`.
fn cargo_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.to_path_buf())
}
