//! The README's quickstart, as shipped: `serve --config
//! examples/quickstart/scimgate.toml` alone gives a working pipeline, prints
//! the tokens it needs once, and serves the admin API and metrics.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{BIN, Client};

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart/scimgate.toml");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fixtures");

/// Start the quickstart config with its store in a temp dir and free ports;
/// returns the child and every stdout line up to the admin token. A free
/// port can be taken by a concurrent test before the gateway binds it:
/// then it starts again on fresh ones.
fn start(dir: &std::path::Path) -> (std::process::Child, Vec<String>) {
    for _ in 0..3 {
        let (mut child, lines) = start_once(dir);
        if lines.iter().any(|l| l.starts_with("admin token")) {
            return (child, lines);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("the quickstart did not start three times over")
}

fn start_once(dir: &std::path::Path) -> (std::process::Child, Vec<String>) {
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The shipped file, with only the store and ports moved; its relative
    // step paths are made absolute against the examples directory.
    let examples = std::path::Path::new(QUICKSTART).parent().unwrap().parent().unwrap().to_owned();
    let config = std::fs::read_to_string(QUICKSTART)
        .unwrap()
        .replace("data/scimgate.db", &dir.join("scimgate.db").display().to_string())
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", free()))
        .replace("127.0.0.1:9100", &format!("127.0.0.1:{}", free()))
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{}", free()))
        .replace("../rhai/", &format!("{}/rhai/", examples.display()));
    let path = dir.join("scimgate.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(BIN.as_str())
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("SCIMGATE_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = out.next() {
        let done = line.starts_with("admin token");
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}

fn after<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines.iter().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"))
}

#[test]
fn the_quickstart_command_alone_gives_a_working_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, lines) = start(dir.path());
    let scim = after(&lines, "listening on ").to_owned();
    let admin = after(&lines, "admin listening on ").to_owned();
    let metrics = after(&lines, "metrics listening on ").to_owned();
    let acme_line = after(&lines, "tenant acme: SCIM base URL ");
    assert!(acme_line.starts_with(&format!("{scim}/scim/v2, bearer token (shown once) ")), "{acme_line}");
    let acme = acme_line.rsplit(' ').next().unwrap().to_owned();
    let admin_token = after(&lines, "admin token for this run (SCIMGATE_ADMIN_TOKEN unset): ").to_owned();

    let client = Client::new(&scim);
    let ada: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/entra-user.json")).unwrap()).unwrap();
    let created = client.send("POST", "/Users", Some(&acme), &[], Some(serde_json::to_vec(&ada).unwrap())).expect(201);
    assert_eq!(created.json["userName"], "ada.lovelace@contoso.com", "the mapping ran: {}", created.body);
    let contractor: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/okta-contractor.json")).unwrap()).unwrap();
    let out =
        client.send("POST", "/Users", Some(&acme), &[], Some(serde_json::to_vec(&contractor).unwrap())).expect(201);
    assert_eq!(out.json["userName"], "grace@contractors.example", "out of scope: as written");
    assert!(out.json.get("password").is_none());

    let admin = Client::new(&admin);
    let dry = admin
        .try_raw(
            "POST",
            "/admin/tenants/acme/dry-run?resourceType=User&operation=create",
            Some(&admin_token),
            &[],
            Some(serde_json::to_vec(&contractor).unwrap()),
        )
        .unwrap();
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.json["scope"]["in_scope"], json!(false), "{}", dry.body);
    let metrics = Client::new(&metrics).try_raw("GET", "/metrics", None, &[], None).unwrap();
    assert!(metrics.body.contains("tenant=\"acme\",operation=\"create\",status=\"201\""), "{}", metrics.body);

    // SAFETY: plain syscall on a pid we spawned and have not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    child.wait().unwrap();
    // A second start prints no new tenant token: they exist (hashed).
    let (mut child, lines) = start(dir.path());
    assert!(!lines.iter().any(|l| l.starts_with("tenant ")), "{lines:?}");
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    child.wait().unwrap();
}
