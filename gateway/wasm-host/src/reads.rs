//! The attributes a plugin declared it reads (`scimgate:plugin/attributes`):
//! what of a document crosses into the component, and how a transform's
//! answer goes back over the whole document.
//!
//! JSON text across the boundary is most of a hook call's cost on a 1 KB
//! user (serialise, parse in the guest, serialise, parse again); a plugin
//! that reads two attributes pays for those two only.

use serde::Serialize;
use serde_json::{Map, Value};

/// Most names a plugin may declare, and the longest name.
const MAX_NAMES: usize = 256;
const MAX_NAME_BYTES: usize = 256;

/// Top-level attribute names (and extension schema URNs), compared without
/// case as SCIM compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSet {
    names: Vec<String>,
}

impl ReadSet {
    /// A plugin's declaration, checked: bounded, no empty names. `schemas`
    /// is always read: it says what kind of resource the document is.
    pub fn new(names: Vec<String>) -> Result<ReadSet, String> {
        if names.len() > MAX_NAMES {
            return Err(format!("declares {} attributes it reads, over the cap of {MAX_NAMES}", names.len()));
        }
        let mut lower = Vec::with_capacity(names.len());
        for name in names {
            if name.trim().is_empty() || name.len() > MAX_NAME_BYTES {
                return Err(format!("declares an attribute it reads that is empty or over {MAX_NAME_BYTES} bytes"));
            }
            lower.push(name.to_ascii_lowercase());
        }
        lower.push("schemas".to_owned());
        lower.sort();
        lower.dedup();
        Ok(ReadSet { names: lower })
    }

    /// The declared names, lower-cased and sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn contains(&self, key: &str) -> bool {
        self.names.iter().any(|name| name.eq_ignore_ascii_case(key))
    }

    /// `doc` as JSON text with only the declared attributes, in the
    /// document's order. Nothing is copied: the text is written from `doc`.
    pub fn project(&self, doc: &Value) -> String {
        match doc {
            Value::Object(map) => {
                serde_json::to_string(&Projected { map, reads: self }).unwrap_or_else(|_| "{}".to_owned())
            }
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }

    /// A transform's answer to [`project`](ReadSet::project) laid over the
    /// document it came from: every attribute of `out` replaces the one of
    /// that name (in place, so the order holds), a declared attribute that
    /// `out` lacks is removed, and the rest of `full` stays.
    pub fn merge(&self, full: Value, out: Value) -> Value {
        let (mut full, out) = match (full, out) {
            (Value::Object(full), Value::Object(out)) => (full, out),
            // Both are objects by the time a transform's answer is merged.
            (_, out) => return out,
        };
        full.retain(|key, _| !self.contains(key) || out.keys().any(|k| k.eq_ignore_ascii_case(key)));
        for (key, value) in out {
            // A new spelling of an attribute: keep one entry, the plugin's.
            // The same spelling is replaced in place by `insert`.
            let existing = full.keys().find(|k| k.eq_ignore_ascii_case(&key)).filter(|k| **k != key).cloned();
            if let Some(existing) = existing {
                full.shift_remove(&existing);
            }
            full.insert(key, value);
        }
        Value::Object(full)
    }
}

/// A map's declared attributes, serialised straight from the map.
struct Projected<'a> {
    map: &'a Map<String, Value>,
    reads: &'a ReadSet,
}

impl Serialize for Projected<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.map.iter().filter(|(key, _)| self.reads.contains(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reads(names: &[&str]) -> ReadSet {
        ReadSet::new(names.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn projects_only_the_declared_attributes_without_case() {
        let doc = json!({"schemas": ["s"], "userName": "A", "emails": [{"value": "a@x"}], "name": {}, "ID": "1"});
        let text = reads(&["EMAILS", "id"]).project(&doc);
        assert_eq!(text, r#"{"schemas":["s"],"emails":[{"value":"a@x"}],"ID":"1"}"#);
        assert_eq!(reads(&[]).project(&doc), r#"{"schemas":["s"]}"#);
    }

    #[test]
    fn merge_replaces_in_place_removes_dropped_reads_and_keeps_the_rest() {
        let full = json!({"schemas": ["s"], "userName": "Old", "emails": [], "title": "t", "nickName": "n"});
        let read = reads(&["userName", "emails", "nickName"]);
        // The plugin set userName, dropped nickName, kept emails, added displayName.
        let out = json!({"username": "new", "emails": [], "displayName": "D"});
        let merged = read.merge(full, out);
        // `schemas` is always read, so an answer without it drops it.
        assert_eq!(merged, json!({"emails": [], "title": "t", "username": "new", "displayName": "D"}));
        // The attributes it did not declare are untouched even when absent from the answer.
        assert_eq!(merged["title"], "t");
    }

    #[test]
    fn merge_keeps_the_order_of_attributes_it_replaces_under_the_same_name() {
        let full = json!({"a": 1, "userName": "x", "b": 2});
        let merged = reads(&["userName"]).merge(full, json!({"userName": "y"}));
        assert_eq!(serde_json::to_string(&merged).unwrap(), r#"{"a":1,"userName":"y","b":2}"#);
    }

    #[test]
    fn declarations_are_bounded() {
        assert!(ReadSet::new(vec![String::new()]).is_err());
        assert!(ReadSet::new(vec!["x".repeat(MAX_NAME_BYTES + 1)]).is_err());
        assert!(ReadSet::new((0..=MAX_NAMES).map(|i| i.to_string()).collect()).is_err());
        assert_eq!(reads(&["Emails", "emails", "id"]).names(), ["emails", "id", "schemas"]);
    }
}
