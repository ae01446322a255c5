//! `scimgate plugin test`: the plugin author's loop, on the real example
//! plugins (Wasm, built by `scimgate-plugin-artifacts`) and their Rhai twins.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::BIN;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn fixture(json: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), json).unwrap();
    f
}

fn plugin_test(plugin: &Path, fixture: &Path, extra: &[&str]) -> Output {
    Command::new(BIN.as_str())
        .args(["plugin", "test"])
        .arg(plugin)
        .arg("--fixture")
        .arg(fixture)
        .args(extra)
        .output()
        .expect("scimgate runs")
}

const BARBARA: &str = r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x",
  "displayName": "Barbara Jensen",
  "emails": [{"value": "Barbara.Jensen@Example.com", "type": "work", "primary": true}]}"#;

#[test]
fn wasm_and_rhai_work_email_give_the_same_user_name() {
    let fx = fixture(BARBARA);
    for plugin in [PathBuf::from(plugin_artifacts::WORK_EMAIL), repo_file("examples/rhai/work-email.rhai")] {
        let out = plugin_test(&plugin, fx.path(), &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {stdout}\n{}", plugin.display(), String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("hooks: transform-in"), "{stdout}");
        assert!(stdout.contains("transform-in ok in"), "{stdout}");
        assert!(stdout.contains(r#""userName": "barbara.jensen@example.com""#), "{stdout}");
    }
}

#[test]
fn a_rejected_document_fails_the_run_with_the_plugins_message() {
    let fx = fixture(r#"{"userName": "no-mail"}"#);
    for plugin in [PathBuf::from(plugin_artifacts::WORK_EMAIL), repo_file("examples/rhai/work-email.rhai")] {
        let out = plugin_test(&plugin, fx.path(), &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("transform-in FAILED"), "{stdout}");
        assert!(stdout.to_lowercase().contains("work email"), "{stdout}");
    }
}

#[test]
fn scope_hook_reads_the_config_and_a_missing_hook_is_refused() {
    let fx = fixture(
        r#"{"userName": "s", "userType": "Employee",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}}"#,
    );
    let plugin = PathBuf::from(plugin_artifacts::DEPARTMENT_SCOPE);
    let out = plugin_test(&plugin, fx.path(), &["--hook", "scope", "--config", r#"{"departments": ["Sales"]}"#]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(r#""in_scope": true"#), "{stdout}");
    let out = plugin_test(&plugin, fx.path(), &["--hook", "scope", "--config", r#"{"departments": ["Finance"]}"#]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""in_scope": false"#));
    let out = plugin_test(&plugin, fx.path(), &["--hook", "transform-in"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not implement the transform-in hook"));
}
