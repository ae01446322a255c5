//! Secrets in config: a string that is exactly `${env:NAME}` or
//! `${file:PATH}` is resolved when the tenant is built, so secrets stay out
//! of config files.

use serde_json::Value;

/// A step's config as the plugin sees it. A string that is exactly
/// `${env:NAME}` or `${file:PATH}` is replaced by that environment
/// variable or file content (trailing newline dropped), so secrets stay out
/// of tenant files; a missing one fails the build with its name.
pub fn toml_to_json(value: Option<&toml::Value>) -> Result<Value, String> {
    let mut json = match value {
        None => return Ok(Value::Null),
        Some(v) => serde_json::to_value(v).map_err(|e| format!("config: {e}"))?,
    };
    resolve_secrets(&mut json)?;
    Ok(json)
}

fn resolve_secrets(value: &mut Value) -> Result<(), String> {
    match value {
        Value::String(s) => {
            *s = resolve_secret(s)?;
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(resolve_secrets),
        Value::Object(map) => map.values_mut().try_for_each(resolve_secrets),
        _ => Ok(()),
    }
}

/// A config string that is exactly `${env:NAME}` or `${file:PATH}` becomes
/// that variable or file content (trailing newline dropped); any other
/// string is itself.
pub fn resolve_secret(s: &str) -> Result<String, String> {
    if let Some(name) = s.strip_prefix("${env:").and_then(|r| r.strip_suffix('}')) {
        std::env::var(name).map_err(|_| format!("config: environment variable {name} is not set"))
    } else if let Some(path) = s.strip_prefix("${file:").and_then(|r| r.strip_suffix('}')) {
        let text = std::fs::read_to_string(path).map_err(|e| format!("config: cannot read {path}: {e}"))?;
        Ok(text.trim_end_matches(['\n', '\r']).to_owned())
    } else {
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_come_from_the_environment_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("api-key");
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut config = json!({
            "key": format!("${{file:{}}}", file.display()),
            "nested": [{"path": "${env:PATH}"}],
            "plain": "${not a reference",
        });
        resolve_secrets(&mut config).unwrap();
        assert_eq!(config["key"], "s3cret");
        assert_eq!(config["nested"][0]["path"], std::env::var("PATH").unwrap());
        assert_eq!(config["plain"], "${not a reference");
        let err = resolve_secrets(&mut json!({"k": "${env:SCIMGATE_TEST_SURELY_UNSET}"})).unwrap_err();
        assert!(err.contains("SCIMGATE_TEST_SURELY_UNSET"), "{err}");
    }
}
