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

#[test]
fn generated_javascript_and_python_plugins_build_and_pass_their_tests() {
    let Some(_) = crate::harness::guest_plugins("plugin_new javascript and python") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let hooks = ["scope", "transform-in", "match-keys"];
    let new = |name: &str, lang: &str| {
        let dir = tmp.path().join(name);
        run(Command::new(BIN.as_str())
            .args(["plugin", "new", name, "--lang", lang, "--hooks", &hooks.join(",")])
            .arg("--dir")
            .arg(&dir));
        dir
    };
    // JavaScript: the SDK is a local package; npm links it, with the
    // toolchain plugins/guests/build installed under it.
    let js = new("js-stamp", "js");
    run(Command::new("npm").current_dir(&js).args(["install", "--no-audit", "--no-fund", "--loglevel=error"]));
    let tests = run(Command::new("npm").current_dir(&js).arg("test"));
    assert!(tests.contains("# pass 3") && tests.contains("# fail 0"), "{tests}");
    run(Command::new("npm").current_dir(&js).args(["run", "build"]));
    check_component(&js, &js.join("dist/js-stamp.wasm"), &hooks);

    // Python: the venv plugins/guests/build made has componentize-py and the SDK.
    let python = repo().join("target/guest-venv/bin/python");
    let py = new("py-stamp", "python");
    let tests = run(Command::new(&python).current_dir(&py).args(["-m", "unittest", "-v"]));
    assert!(tests.contains("OK"), "{tests}");
    run(Command::new(&python).current_dir(&py).args(["-m", "scimgate_sdk.build", ".", "-o", "dist/py-stamp.wasm"]));
    check_component(&py, &py.join("dist/py-stamp.wasm"), &hooks);
}
