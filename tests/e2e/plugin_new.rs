//! `scimgate plugin new`: the generated project builds, passes its own test
//! and, built as a component, gives the expected outputs through
//! `plugin test --expect`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::BIN;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{text}", out.status);
    text
}

/// `plugin test --expect` of each stubbed hook on the built component.
fn check_component(dir: &Path, wasm: &Path, hooks: &[&str]) {
    for hook in hooks {
        let out = run(Command::new(BIN.as_str())
            .current_dir(dir)
            .args(["plugin", "test"])
            .arg(wasm)
            .args(["--fixture", "fixtures/user.json", "--hook", hook, "--expect"])
            .arg(format!("fixtures/{hook}.expected.json")));
        assert!(out.contains("output matches the expected document"), "{out}");
    }
}

#[test]
fn a_generated_rust_plugin_builds_and_passes_its_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stamp-title");
    let hooks = ["scope", "transform-in", "transform-out", "match-keys", "on-event"];
    let out = run(Command::new(BIN.as_str())
        .args(["plugin", "new", "stamp-title", "--hooks", &hooks.join(",")])
        .arg("--dir")
        .arg(&dir));
    assert!(out.contains("wrote") && dir.join("README.md").exists(), "{out}");
    // One target dir across runs: the SDK's dependencies build once.
    let target = repo().join("target/plugin-new");
    let cargo = || {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(&dir).env("CARGO_TARGET_DIR", &target);
        c
    };
    let tests = run(cargo().arg("test"));
    assert!(tests.contains("test result: ok. 5 passed"), "{tests}");
    run(cargo().args(["fmt", "--check"]));
    run(cargo().args(["build", "--release", "--target", "wasm32-wasip2"]));
    check_component(&dir, &target.join("wasm32-wasip2/release/stamp_title.wasm"), &hooks);
    // A second project with the same name is refused, not overwritten.
    let again = Command::new(BIN.as_str()).args(["plugin", "new", "stamp-title", "--dir"]).arg(&dir).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let bad = Command::new(BIN.as_str()).args(["plugin", "new", "Bad_Name"]).current_dir(tmp.path()).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("lower-case"));
}
