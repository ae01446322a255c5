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
        // Not the user's cache: the one this run's tests share.
        .env("SCIMGATE_PLUGIN_CACHE", crate::harness::shared_plugin_cache())
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

fn stdout_of(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_golden_document_passes_when_equal_and_fails_with_a_diff_otherwise() {
    let fx = fixture(BARBARA);
    let mut golden: serde_json::Value = serde_json::from_str(BARBARA).unwrap();
    golden["userName"] = "barbara.jensen@example.com".into();
    let expected = fixture(&golden.to_string());
    for plugin in [PathBuf::from(plugin_artifacts::WORK_EMAIL), repo_file("examples/rhai/work-email.rhai")] {
        let expect = expected.path().to_str().unwrap();
        let out = plugin_test(&plugin, fx.path(), &["--expect", expect]);
        let text = stdout_of(&out);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("output matches the expected document"), "{text}");
        assert!(text.contains("  log debug: "), "the plugin's log line is shown: {text}");
    }
    golden["userName"] = "someone.else@example.com".into();
    let wrong = fixture(&golden.to_string());
    let out = plugin_test(
        &PathBuf::from(plugin_artifacts::WORK_EMAIL),
        fx.path(),
        &["--expect", wrong.path().to_str().unwrap()],
    );
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(r#"-   "userName": "someone.else@example.com","#), "{text}");
    assert!(text.contains(r#"+   "userName": "barbara.jensen@example.com","#), "{text}");
    // A refusal can be the expected output too.
    let nomail = fixture(r#"{"userName": "no-mail"}"#);
    let out = plugin_test(&PathBuf::from(plugin_artifacts::WORK_EMAIL), nomail.path(), &[]);
    let message = stdout_of(&out).lines().nth(3).unwrap_or_default().to_owned();
    let refusal = fixture(&serde_json::json!({"error": message}).to_string());
    let out = plugin_test(
        &PathBuf::from(plugin_artifacts::WORK_EMAIL),
        nomail.path(),
        &["--expect", refusal.path().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stdout_of(&out));
}

#[test]
fn the_context_names_the_idp_and_a_mapping_runs_like_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("idp.rhai");
    std::fs::write(&script, "fn transform_in(user, ctx) { user[\"title\"] = ctx.idp_profile; user }").unwrap();
    let fx = fixture(BARBARA);
    let out = plugin_test(&script, fx.path(), &["--idp", "okta"]);
    assert!(stdout_of(&out).contains(r#""title": "okta""#), "{}", stdout_of(&out));
    let out = plugin_test(&script, fx.path(), &["--idp", "nobody"]);
    assert_eq!(out.status.code(), Some(2), "an unknown IdP is refused: {}", stdout_of(&out));
    let mapping = dir.path().join("mapping.toml");
    std::fs::write(
        &mapping,
        "scope = 'emails[type eq \"work\"]'\nmatch_keys = ['emails[type eq \"work\"].value']\n\
         [transform_in]\nuserName = 'lower(emails[type eq \"work\"].value)'\n",
    )
    .unwrap();
    let out = plugin_test(&mapping, fx.path(), &[]);
    let text = stdout_of(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("(mapping)") && text.contains("hooks: scope, transform-in, match-keys"), "{text}");
    assert!(text.contains(r#""userName": "barbara.jensen@example.com""#), "{text}");
}

#[test]
fn on_event_hooks_and_connectors_run_offline_on_canned_answers() {
    let user = fixture(
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "barbara",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "Barbara@Example.com", "type": "work", "primary": true}], "active": true}"#,
    );
    let revoke = PathBuf::from(plugin_artifacts::REVOKE_ON_DEACTIVATE);
    let config = r#"{"url": "https://grants.example/revoke"}"#;
    let canned = fixture(r#"[{"method": "POST", "url": "https://grants.example/*", "status": 204}]"#);
    let args = ["--event", "deactivated", "--config", config];
    let out = plugin_test(&revoke, user.path(), &[&args[..], &["--http", canned.path().to_str().unwrap()]].concat());
    let text = stdout_of(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("http POST https://grants.example/revoke -> 204 (canned)"), "{text}");
    assert!(text.contains("log info: grants of barbara revoked (deactivated)"), "{text}");
    let out = plugin_test(&revoke, user.path(), &args);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "without an answer the hook fails: {text}");
    assert!(text.contains("no canned answer"), "{text}");
    // A created event makes no request.
    let out = plugin_test(&revoke, user.path(), &["--config", config]);
    assert!(out.status.success() && !stdout_of(&out).contains("http "), "{}", stdout_of(&out));

    connector_runs_offline(Path::new(plugin_artifacts::LEGACY_HR_CONNECTOR), user.path());
}

/// `plugin test --connector` runs any connector component offline, whatever
/// its language: here the JavaScript and Python ports of legacy-hr-connector.
#[test]
fn connectors_in_javascript_and_python_run_offline_on_canned_answers() {
    let Some(dir) = crate::harness::guest_plugins("connectors_in_javascript_and_python") else { return };
    let user = fixture(
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "barbara",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "Barbara@Example.com", "type": "work", "primary": true}], "active": true}"#,
    );
    for lang in ["js", "python"] {
        connector_runs_offline(&dir.join(lang).join("legacy-hr-connector.wasm"), user.path());
    }
}

/// A create answered 201, a find answered with an empty list, and a create
/// that gets no answer.
fn connector_runs_offline(connector: &Path, user: &Path) {
    let canned = fixture(
        r#"[{"method": "POST", "url": "http://hr.example/api/v1/employees", "status": 201,
             "body": {"id": 17, "mail": "barbara@example.com", "first": "Barbara", "last": "Jensen", "status": "A"}},
            {"method": "GET", "url": "http://hr.example/api/v1/employees?mail=*", "body": {"data": []}}]"#,
    );
    let base = ["--config", r#"{"base_url": "http://hr.example"}"#, "--http", canned.path().to_str().unwrap()];
    let out = plugin_test(connector, user, &[&base[..], &["--connector", "create"]].concat());
    let text = stdout_of(&out);
    assert!(out.status.success(), "{}: {text}", connector.display());
    assert!(text.contains("connector create ok") && text.contains(r#""id": "17""#), "{text}");
    assert!(text.contains("http POST http://hr.example/api/v1/employees -> 201 (canned)"), "{text}");
    let find = ["--connector", "find", "--key", "userName=nobody@example.com"];
    let out = plugin_test(connector, user, &[&base[..], &find[..]].concat());
    let text = stdout_of(&out);
    assert!(text.contains(r#""found": false"#), "{}: {text}", connector.display());
    assert!(text.contains("http GET http://hr.example/api/v1/employees?mail=nobody%40example.com -> 200"), "{text}");
    let out =
        plugin_test(connector, user, &["--config", r#"{"base_url": "http://hr.example"}"#, "--connector", "create"]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{}: without an answer the create fails: {text}", connector.display());
    assert!(text.contains("no canned answer for POST http://hr.example/api/v1/employees"), "{text}");
}
