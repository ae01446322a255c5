//! Durability: acknowledged writes survive SIGKILL; SIGTERM stops cleanly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

/// What one load thread got a 2xx for.
#[derive(Default)]
struct Acked {
    users: Vec<(String, Value)>,
    groups: Vec<(String, String)>,
    /// (group id, user id)
    members: Vec<(String, String)>,
    /// Non-2xx answers and transport errors while the gateway was up.
    failures: Vec<String>,
}

fn load(c: Client, token: String, thread: usize, killed: Arc<AtomicBool>, until: Instant) -> Acked {
    let mut acked = Acked::default();
    let mut own_users: Vec<String> = Vec::new();
    let mut own_groups: Vec<String> = Vec::new();
    let mut n = 0usize;
    while Instant::now() < until {
        n += 1;
        let (method, path, body) = if n.is_multiple_of(5) || own_groups.is_empty() && n > 2 {
            let name = format!("group-{thread}-{n}");
            ("POST", "/Groups".to_string(), json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": []}))
        } else if n % 5 == 3 && !own_groups.is_empty() && !own_users.is_empty() {
            let g = &own_groups[n % own_groups.len()];
            let u1 = &own_users[n % own_users.len()];
            let u2 = &own_users[(n / 2) % own_users.len()];
            let body = patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u2}]}]));
            ("PATCH", format!("/Groups/{g}"), body)
        } else {
            let mut body = user_body(&format!("load-{thread}-{n}@crash.test"));
            body["externalId"] = json!(format!("ext-{thread}-{n}"));
            body["displayName"] = json!(format!("Load User {thread} {n}"));
            ("POST", "/Users".to_string(), body)
        };
        match c.try_send(method, &path, &token, Some(&body)) {
            Ok(r) if (200..300).contains(&r.status) => match (method, path.as_str()) {
                ("POST", "/Users") => {
                    let id = id_of(&r.json);
                    own_users.push(id.clone());
                    acked.users.push((id, body));
                }
                ("POST", _) => {
                    let id = id_of(&r.json);
                    own_groups.push(id.clone());
                    acked.groups.push((id, body["displayName"].as_str().unwrap().to_string()));
                }
                _ => {
                    let gid = path.trim_start_matches("/Groups/").to_string();
                    for m in body["Operations"][0]["value"].as_array().unwrap() {
                        acked.members.push((gid.clone(), m["value"].as_str().unwrap().to_string()));
                    }
                }
            },
            Ok(r) => acked.failures.push(format!("{method} {path}: {}", r.describe())),
            Err(e) => {
                if killed.load(Ordering::SeqCst) {
                    break;
                }
                acked.failures.push(format!("{method} {path}: transport error before the kill: {e}"));
                break;
            }
        }
    }
    acked
}

/// Every resource of a type, paging with count=1000.
fn list_all(c: &Client, token: &str, kind: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut start = 1;
    loop {
        let r = c.get(&format!("/{kind}?startIndex={start}&count=1000"), token);
        let page = list_resources(&r);
        let total = r.json["totalResults"].as_u64().unwrap() as usize;
        let n = page.len();
        all.extend(page);
        if n == 0 || all.len() >= total {
            return all;
        }
        start += n;
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_during_concurrent_load() {
    let mut gw = Gateway::start(&["acme"]);
    let token = gw.token("acme");
    let killed = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + Duration::from_secs(2);
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (c, t, k) = (gw.client(), token.clone(), killed.clone());
            std::thread::spawn(move || load(c, t, i, k, until))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1200));
    killed.store(true, Ordering::SeqCst);
    gw.kill9();
    let results: Vec<Acked> = workers.into_iter().map(|w| w.join().expect("load thread panicked")).collect();

    let failures: Vec<&String> = results.iter().flat_map(|a| &a.failures).collect();
    assert!(failures.is_empty(), "requests failed while the gateway was up:\n{failures:#?}");
    let users: Vec<&(String, Value)> = results.iter().flat_map(|a| &a.users).collect();
    let groups: Vec<&(String, String)> = results.iter().flat_map(|a| &a.groups).collect();
    let members: Vec<&(String, String)> = results.iter().flat_map(|a| &a.members).collect();
    eprintln!("load acknowledged {} users, {} groups, {} memberships", users.len(), groups.len(), members.len());
    assert!(
        users.len() >= 4 && !groups.is_empty(),
        "load too small to mean anything: {} users, {} groups",
        users.len(),
        groups.len()
    );

    gw.restart();
    let c = gw.client();

    // Every acknowledged user, with the acknowledged content.
    for (id, body) in &users {
        let r = c.get(&format!("/Users/{id}"), &token);
        assert_eq!(r.status, 200, "acknowledged user {id} lost: {}", r.describe());
        let mut sent = body.clone();
        sent.as_object_mut().unwrap().remove("schemas");
        assert_echoes(&sent, &r.json, &format!("user {id} after crash"));
    }
    // Every acknowledged group and membership.
    let mut want_members: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (g, u) in &members {
        want_members.entry(g.as_str()).or_default().insert(u.as_str());
    }
    for (id, name) in &groups {
        let r = c.get(&format!("/Groups/{id}"), &token);
        assert_eq!(r.status, 200, "acknowledged group {id} lost: {}", r.describe());
        assert_eq!(r.json["displayName"], json!(name));
        let have: HashSet<String> = member_ids(&r.json).into_iter().collect();
        for u in want_members.get(id.as_str()).into_iter().flatten() {
            assert!(have.contains(*u), "acknowledged membership {u} in group {id} lost: {}", r.describe());
        }
    }

    // No half-written users; no dangling memberships.
    let base = c.scim_base();
    let all_users = list_all(&c, &token, "Users");
    assert!(all_users.len() >= users.len());
    let user_ids: HashSet<String> = all_users.iter().map(id_of).collect();
    for u in &all_users {
        assert!(u["userName"].as_str().is_some_and(|s| !s.is_empty()), "half-written user: {u}");
        assert_resource_meta(u, "User", &base);
    }
    for g in list_all(&c, &token, "Groups") {
        assert_resource_meta(&g, "Group", &base);
        assert!(g["displayName"].is_string(), "half-written group: {g}");
        for m in member_ids(&g) {
            assert!(user_ids.contains(&m), "group {} has dangling member {m}", id_of(&g));
        }
    }
    // The user side of acknowledged memberships agrees.
    for (g, u) in &members {
        let user = c.get(&format!("/Users/{u}"), &token).expect(200).json;
        let groups: Vec<&str> = user["groups"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["value"].as_str()).collect())
            .unwrap_or_default();
        assert!(groups.contains(&g.as_str()), "user {u} does not list group {g}: {user}");
    }
    // And the restarted gateway still takes writes.
    create_user(&c, &token, "after-crash@crash.test");
}

#[test]
fn sequential_updates_and_deletes_survive_sigkill_right_after_ack() {
    let mut gw = Gateway::start(&["acme"]);
    let token = gw.token("acme");
    let c = gw.client();
    let ids: Vec<String> = (0..10).map(|i| id_of(&create_user(&c, &token, &format!("seq{i}@crash.test")))).collect();
    let gid = id_of(&create_group(&c, &token, "Crashers", &[&ids[0], &ids[1], &ids[2]]));
    c.patch(
        &format!("/Users/{}", ids[3]),
        &token,
        &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .expect(200);
    let mut put = user_body("renamed@crash.test");
    put["displayName"] = json!("Renamed");
    c.put(&format!("/Users/{}", ids[4]), &token, &put).expect(200);
    c.delete(&format!("/Users/{}", ids[5]), &token).expect(204);
    c.delete(&format!("/Users/{}", ids[0]), &token).expect(204);
    c.patch(
        &format!("/Groups/{gid}"),
        &token,
        &patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])}])),
    )
    .expect(204);
    gw.kill9();
    gw.restart();
    let c = gw.client();

    assert_eq!(c.get(&format!("/Users/{}", ids[3]), &token).expect(200).json["active"], json!(false));
    let u4 = c.get(&format!("/Users/{}", ids[4]), &token).expect(200).json;
    assert_eq!(u4["userName"], json!("renamed@crash.test"));
    assert_eq!(u4["displayName"], json!("Renamed"));
    assert_scim_error(&c.get(&format!("/Users/{}", ids[5]), &token), 404, None);
    assert_scim_error(&c.get(&format!("/Users/{}", ids[0]), &token), 404, None);
    assert_eq!(member_ids(&c.get(&format!("/Groups/{gid}"), &token).expect(200).json), vec![ids[2].clone()]);
    assert_eq!(list_resources(&c.get("/Users?count=1000", &token)).len(), 8);
    // The old userName of the renamed user is free, the new one is taken.
    create_user(&c, &token, "seq4@crash.test");
    assert_scim_error(&c.post("/Users", &token, &user_body("RENAMED@crash.test")), 409, Some("uniqueness"));
}

#[test]
fn sigterm_stops_gracefully_with_exit_0_and_data_persists() {
    let mut gw = Gateway::start(&["acme"]);
    let token = gw.token("acme");
    let c = gw.client();
    let uid = id_of(&create_user(&c, &token, "term@crash.test"));
    let gid = id_of(&create_group(&c, &token, "Term", &[&uid]));
    let status = gw.sigterm();
    assert!(status.success(), "SIGTERM must stop the gateway with exit 0, got {status}\n{}", gw.stderr());
    assert!(c.try_raw("GET", "/scim/v2/Users", Some(&token), &[], None).is_err(), "still answering after exit");

    gw.restart();
    let c = gw.client();
    c.get(&format!("/Users/{uid}"), &token).expect(200);
    assert_eq!(member_ids(&c.get(&format!("/Groups/{gid}"), &token).expect(200).json), vec![uid]);
    // `serve` prints exactly one line per run.
    let lines = gw.stdout_lines();
    assert_eq!(lines.len(), 2, "stdout of two runs: {lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("listening on http://127.0.0.1:")), "{lines:?}");
}

#[test]
fn store_path_resolves_against_the_config_directory_not_the_cwd() {
    let gw = Gateway::start(&["acme"]);
    let token = gw.token("acme");
    create_user(&gw.client(), &token, "where@crash.test");
    // On PostgreSQL there is no store file, but the plugin cache and every
    // other file still belong beside the config, not in the cwd.
    if !on_postgres() {
        assert!(gw.data_dir().join("scimgate.db").exists(), "store not created next to the config file");
    }
    let cwd_files: Vec<_> = std::fs::read_dir(gw.data_dir().join("cwd")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(cwd_files.is_empty(), "files created in the working directory: {cwd_files:?}");
}

#[test]
fn serve_uses_server_listen_from_the_config_without_listen_flag() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("scimgate.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\n\n[store]\npath = \"data/s.db\"\n\n[tenants.acme]\n")
        .unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let mut child = std::process::Command::new(BIN.as_str())
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("no `listening on` line");
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line:?}");
    assert!(dir.path().join("data/s.db").exists(), "store path relative to the config file");
}

#[test]
fn sigterm_during_load_answers_in_flight_requests_and_keeps_acknowledged_writes() {
    let mut gw = Gateway::start(&["acme"]);
    let token = gw.token("acme");
    let stopping = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + Duration::from_secs(2);
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (c, t, k) = (gw.client(), token.clone(), stopping.clone());
            std::thread::spawn(move || load(c, t, i, k, until))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    stopping.store(true, Ordering::SeqCst);
    let status = gw.sigterm();
    let results: Vec<Acked> = workers.into_iter().map(|w| w.join().expect("load thread panicked")).collect();
    assert!(status.success(), "exit status after SIGTERM under load: {status}\n{}", gw.stderr());
    // Every answer, including those during the shutdown, was a success (or a
    // retryable 503 while stopping).
    let failures: Vec<&String> =
        results.iter().flat_map(|a| &a.failures).filter(|f| !f.contains("HTTP 503 ")).collect();
    assert!(failures.is_empty(), "non-2xx answers around SIGTERM:\n{failures:#?}");

    gw.restart();
    let c = gw.client();
    for (id, body) in results.iter().flat_map(|a| &a.users) {
        let r = c.get(&format!("/Users/{id}"), &token);
        assert_eq!(r.status, 200, "acknowledged user {id} lost: {}", r.describe());
        assert_eq!(r.json["userName"], body["userName"]);
    }
    for (g, u) in results.iter().flat_map(|a| &a.members) {
        let have = member_ids(&c.get(&format!("/Groups/{g}"), &token).expect(200).json);
        assert!(have.contains(u), "acknowledged membership {u} of {g} lost");
    }
}

/// Runs the binary with `args` and waits (bounded) for it to exit.
fn run_to_exit(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let child = std::process::Command::new(BIN.as_str())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: plain syscall on the pid of the child we spawned (not reaped yet).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("scimgate {args:?} did not exit");
        }
    }
}

#[test]
fn serve_with_a_broken_config_exits_non_zero_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("not toml", "[server\nlisten = "),
        ("bad listen", "[server]\nlisten = \"not-an-address\"\n[store]\npath = \"s.db\"\n[tenants.acme]\n"),
        ("bad max_body_bytes", "[server]\nmax_body_bytes = \"lots\"\n[store]\npath = \"s.db\"\n[tenants.acme]\n"),
    ];
    for (what, toml) in cases {
        let cfg = dir.path().join("bad.toml");
        std::fs::write(&cfg, toml).unwrap();
        let out = run_to_exit(&[
            "serve".as_ref(),
            "--config".as_ref(),
            cfg.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
        ]);
        assert!(!out.status.success(), "{what}: serve must fail");
        assert!(out.stdout.is_empty(), "{what}: nothing on stdout: {:?}", String::from_utf8_lossy(&out.stdout));
        assert!(!out.stderr.is_empty(), "{what}: an error message on stderr");
    }
    let missing = dir.path().join("missing.toml");
    let out = run_to_exit(&["serve".as_ref(), "--config".as_ref(), missing.as_os_str()]);
    assert!(!out.status.success(), "missing config file must fail");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"), "the error names the file");
}
