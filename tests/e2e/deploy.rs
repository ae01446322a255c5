//! The deployment files run as they are written: the replicas' command of
//! `deploy/compose.yaml` (with `deploy/replicas.toml`, on PostgreSQL) and
//! the `ExecStart` of `deploy/scimgate.service` (with
//! `deploy/scimgate.toml`), with their tenants, started as processes (no
//! container tool here), with only their paths, ports and database moved.
//! Each must serve SCIM, its probes and its metrics.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{ADMIN_TOKEN, BIN, Client, POSTGRES, eventually, fresh_database};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");

/// The arguments of each gateway replica's `command: [...]` in the compose file.
fn compose_commands() -> Vec<Vec<String>> {
    let compose = std::fs::read_to_string(Path::new(DEPLOY).join("compose.yaml")).unwrap();
    compose
        .split("\n  gateway-")
        .skip(1)
        .map(|service| {
            let line = service.lines().find_map(|l| l.trim().strip_prefix("command:")).expect("a replica's command");
            serde_json::from_str(line.trim()).expect("command as a flow sequence of strings")
        })
        .collect()
}

/// The arguments of the unit's `ExecStart=` (after the binary).
fn unit_command() -> Vec<String> {
    let unit = std::fs::read_to_string(Path::new(DEPLOY).join("scimgate.service")).unwrap();
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/scimgate"), "the binary the Dockerfile and the unit install");
    words.map(str::to_owned).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Run `args` (paths under /etc/scimgate and /var/lib/scimgate moved to a
/// temp dir, ports to free ones) and check what it serves. `store_url` is
/// `SCIMGATE_STORE_URL` for `replicas.toml`.
fn serves(args: &[String], store_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (etc, state) = (dir.path().join("etc"), dir.path().join("state"));
    std::fs::create_dir_all(etc.join("tenants")).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    for tenant in std::fs::read_dir(Path::new(DEPLOY).join("tenants")).unwrap() {
        let tenant = tenant.unwrap().path();
        std::fs::copy(&tenant, etc.join("tenants").join(tenant.file_name().unwrap())).unwrap();
    }
    let args: Vec<String> = args.iter().map(|a| a.replace("/etc/scimgate", &etc.display().to_string())).collect();
    // A free port can be taken by a concurrent test between our probe and
    // the gateway's bind: try again with fresh ports, then say why.
    let mut attempts = Vec::new();
    let (mut child, scim_port, metrics_port, _stdout) = loop {
        let (scim_port, metrics_port, admin_port) = (free_port(), free_port(), free_port());
        let config_name = config_name_of(&args);
        let config = std::fs::read_to_string(Path::new(DEPLOY).join(config_name))
            .unwrap()
            .replace("/var/lib/scimgate", &state.display().to_string())
            .replace("0.0.0.0:8080", &format!("127.0.0.1:{scim_port}"))
            .replace("0.0.0.0:9100", &format!("127.0.0.1:{metrics_port}"))
            .replace("127.0.0.1:9090", &format!("127.0.0.1:{admin_port}"));
        std::fs::write(etc.join(config_name), config).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut child = Command::new(BIN.as_str())
            .args(&args)
            .env("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SCIMGATE_STORE_URL", store_url.unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        // The admin and metrics listeners report next: all three are bound.
        let rest: Vec<String> = lines.by_ref().take(2).map_while(Result::ok).collect();
        if first == format!("listening on http://127.0.0.1:{scim_port}") && rest.len() == 2 {
            break (child, scim_port, metrics_port, lines);
        }
        let _ = child.kill();
        let _ = child.wait();
        attempts.push(format!("{first:?} {rest:?}: {}", std::fs::read_to_string(dir.path().join("stderr")).unwrap()));
        assert!(attempts.len() < 3, "{args:?} did not start:\n{}", attempts.join("\n"));
    };
    let config_path = etc.join(config_name_of(&args));
    let issued = Command::new(BIN.as_str())
        .args(["token", "issue", "--tenant", "default", "--config"])
        .arg(&config_path)
        .env("SCIMGATE_STORE_URL", store_url.unwrap_or_default())
        .output()
        .unwrap();
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));
    let token = String::from_utf8(issued.stdout).unwrap().trim().to_owned();
    let scim = Client::new(&format!("http://127.0.0.1:{scim_port}"));
    scim.send("GET", "/Users", Some(&token), &[], None).expect(200);
    let probes = Client::new(&format!("http://127.0.0.1:{metrics_port}"));
    eventually("ready", || (probes.try_raw("GET", "/readyz", None, &[], None).ok()?.status == 200).then_some(()));
    let metrics = probes.try_raw("GET", "/metrics", None, &[], None).unwrap();
    assert!(metrics.body.contains("scimgate_build_info"), "{}", metrics.body);
    if store_url.is_none() {
        assert!(state.join("scimgate.db").exists(), "the store lives in the state directory");
    }
    assert!(state.join("plugin-cache").is_dir(), "compiled plugins are cached in the state directory");
    // SIGTERM, as `docker stop` and systemd send: a clean exit.
    // SAFETY: plain syscall on a pid we spawned and have not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = eventually("the gateway stops", || {
        std::thread::sleep(Duration::from_millis(20));
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
}

fn config_name_of(args: &[String]) -> &str {
    args.iter().find_map(|a| a.rsplit('/').next().filter(|n| n.ends_with(".toml"))).expect("a --config argument")
}

#[test]
fn the_compose_files_replicas_serve_from_one_postgres() {
    let Some(base) = POSTGRES.as_deref() else {
        eprintln!("skipped: the compose file's replicas need SCIMGATE_E2E_POSTGRES");
        return;
    };
    let replicas = compose_commands();
    assert_eq!(replicas.len(), 2, "two replicas in compose.yaml");
    let (url, _) = fresh_database(base);
    for args in &replicas {
        serves(args, Some(&url));
    }
}

#[test]
fn the_systemd_units_exec_start_serves() {
    serves(&unit_command(), None);
}
