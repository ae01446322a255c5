//! The module graph of `gateway/src` keeps the shape ARCHITECTURE.md
//! draws: no module imports a module that imports it back, and the
//! layers below the service know nothing above them. Read from the
//! sources (test code excluded), so a new `use` that breaks a rule fails
//! here with the path that does it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn source_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `gateway/src`.
fn source_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![source_root()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// Each top-level module of `gateway/src` and the crate modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = source_root();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in source_files() {
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let relative = path.strip_prefix(&root).unwrap();
        let top = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_owned();
        if top == "main" || top == "lib" {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        let deps = graph.entry(top.clone()).or_default();
        deps.extend(crate_references(code).into_iter().filter(|m| *m != top));
    }
    graph
}

/// `crate::name` and `use crate::{a, b::C}` references.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(group.split(',').map(|p| ident(p.trim())).filter(|p| !p.is_empty()));
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    found
}

/// A path of imports from `from` to `to`, if there is one.
fn path(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(route) = stack.pop() {
        let last = route.last().unwrap();
        if last == to && route.len() > 1 {
            return Some(route);
        }
        for next in graph.get(last).into_iter().flatten() {
            if seen.insert(next.clone()) {
                let mut longer = route.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = module_graph();
    assert!(graph.contains_key("service") && graph.contains_key("upstream"), "{graph:?}");
    for module in graph.keys() {
        if let Some(cycle) = path(&graph, module, module) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_layers_below_the_service_know_nothing_above_them() {
    let graph = module_graph();
    let forbidden: &[(&str, &[&str])] = &[
        // Storage knows no HTTP, tenant, pipeline or upstream.
        ("store", &["service", "tenant", "upstream", "outbound", "listener", "admin", "flow", "config"]),
        // Outbound HTTP is a capability: no tenant, no SCIM service, no upstream logic.
        ("outbound", &["service", "tenant", "upstream", "listener", "admin", "reload", "notify"]),
        // An upstream knows no tenant and no shadow: the service decides what to send.
        ("upstream", &["service", "tenant", "listener", "admin", "reload"]),
        // The service is HTTP-free.
        ("service", &["listener", "admin", "server", "reload"]),
        ("failure", &["service", "listener", "admin", "tenant"]),
    ];
    for (module, not) in forbidden {
        for other in *not {
            if let Some(route) = path(&graph, module, other) {
                panic!("{module} must not reach {other}: {}", route.join(" -> "));
            }
        }
    }
}

#[test]
fn only_the_http_edges_know_hyper_server_types() {
    let edges = ["listener.rs", "admin.rs", "server.rs"];
    for path in source_files().into_iter().filter(|p| !edges.iter().any(|e| p.ends_with(e))) {
        let source = std::fs::read_to_string(&path).unwrap();
        for server_type in ["body::Incoming", "hyper_util::server", "service_fn"] {
            assert!(!source.contains(server_type), "{} uses {server_type}", path.display());
        }
    }
}
