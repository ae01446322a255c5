//! Filters, attribute paths and PATCH paths from arbitrary UTF-8: parsing
//! never panics; whatever parses prints to canonical text that parses back to
//! the same value and prints the same again; validating and evaluating the
//! result never panic.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scim::{AttrPath, Filter, ResourceSchema, ValuePath};
use serde_json::Value;

mod sample;

static SCHEMA: LazyLock<ResourceSchema> = LazyLock::new(ResourceSchema::user);
static USER: LazyLock<Value> = LazyLock::new(sample::user);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    if let Ok(filter) = Filter::parse(text) {
        let printed = filter.to_string();
        let again = Filter::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
        assert_eq!(again, filter, "{text:?} printed as {printed:?}");
        assert_eq!(again.to_string(), printed, "{text:?}");
        let _ = filter.validate(&SCHEMA);
        let _ = filter.matches(&USER, &SCHEMA);
        let _ = filter.matches_element(&USER["emails"][0], SCHEMA.core.attribute("emails"));
    }

    if let Ok(path) = ValuePath::parse(text) {
        let printed = path.to_string();
        let again = ValuePath::parse(&printed)
            .unwrap_or_else(|e| panic!("path {text:?} printed as {printed:?}, which does not parse: {e}"));
        assert_eq!(again, path, "path {text:?} printed as {printed:?}");
    }

    if let Ok(path) = AttrPath::parse(text) {
        assert_eq!(AttrPath::parse(&path.to_string()).as_ref(), Ok(&path), "{text:?}");
        let _ = SCHEMA.find_attribute(&path);
    }
});
