//! Hostile plugins in the request path: each fails only its own request,
//! within its deadline, with a SCIM error naming the plugin, while another
//! tenant's requests go on succeeding at the same time.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Gateway, eventually};

/// Rhai scripts that misbehave.
const RHAI_RECURSION: &str = "fn down(n) { down(n + 1) } fn transform_in(user, ctx) { down(0) }";
const RHAI_LOOP: &str = "fn transform_in(user, ctx) { let i = 0; loop { i += 1; } }";
const RHAI_MAP_BOMB: &str = "fn transform_in(user, ctx) { let s = \"x\"; for i in 0..19 { s += s; } let m = #{};
    let i = 0; loop { m[`k${i}`] = s + i; i += 1; } }";

/// One native call that would build 512 MiB from strings under the limit.
const RHAI_AMPLIFY: &str = "fn transform_in(user, ctx) { let big = \"x\"; for i in 0..19 { big += big; }
    let s = \"a\"; for i in 0..10 { s += s; } user.nickName = s.replace(\"a\", big); user }";
/// A comparator that spins: Rhai's `sort` used to swallow the stop.
const RHAI_SORT_SPIN: &str =
    "fn transform_in(user, ctx) { let a = [3, 1, 2]; a.sort(|x, y| { loop { } }); user.nickName = `${a}`; user }";

fn user(n: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{n}"),
        "emails": [{"value": format!("User{n}@Example.com"), "type": "work", "primary": true}],
    })
}

#[test]
fn hostile_plugins_fail_only_their_own_requests() {
    let scripts = tempfile::tempdir().unwrap();
    let mut toml = String::new();
    let wasm: [(&str, &str); 5] = [
        ("spin", plugin_artifacts::SPIN),
        ("hog", plugin_artifacts::HOG),
        ("trap", plugin_artifacts::TRAP),
        ("panic", plugin_artifacts::PANIC),
        ("bloat", plugin_artifacts::BLOAT),
    ];
    for (name, path) in wasm {
        toml += &format!("[tenants.{name}]\n[[tenants.{name}.steps]]\nkind = \"wasm\"\npath = {path:?}\n\n");
    }
    let rhai = [
        ("recursion", RHAI_RECURSION),
        ("forever", RHAI_LOOP),
        ("mapbomb", RHAI_MAP_BOMB),
        ("amplify", RHAI_AMPLIFY),
        ("sortspin", RHAI_SORT_SPIN),
    ];
    for (name, source) in rhai {
        let path = scripts.path().join(format!("{name}.rhai"));
        std::fs::write(&path, source).unwrap();
        toml +=
            &format!("[tenants.{name}]\n[[tenants.{name}.steps]]\nkind = \"rhai\"\npath = {:?}\n\n", path.display());
    }
    toml += &format!(
        "[tenants.good]\n[[tenants.good.steps]]\nkind = \"wasm\"\npath = {:?}\n",
        plugin_artifacts::WORK_EMAIL
    );
    let gw = Gateway::start_tenants(&toml);
    let good = gw.token("good");

    // The other tenant provisions steadily the whole time.
    let client = gw.client();
    let steady = std::thread::spawn(move || {
        let mut statuses = Vec::new();
        for n in 0..40 {
            let body = serde_json::to_vec(&user(n)).unwrap();
            let resp = client.send("POST", "/Users", Some(&good), &[], Some(body));
            statuses.push((resp.status, resp.json["userName"].clone()));
        }
        statuses
    });

    let hostile: Vec<&str> = wasm.iter().map(|(n, _)| *n).chain(rhai.iter().map(|(n, _)| *n)).collect();
    for name in &hostile {
        let token = gw.token(name);
        for attempt in 0..3 {
            let started = Instant::now();
            let resp = gw.post("/Users", &token, &user(1000 + attempt));
            let took = started.elapsed();
            assert_eq!(resp.status, 500, "{name}: {}", resp.describe());
            let detail = resp.json["detail"].as_str().unwrap_or_default().to_owned();
            assert!(detail.contains("pipeline step failed"), "{name}: {detail}");
            // The 50 ms deadline plus a debug build on a busy machine.
            assert!(took < Duration::from_secs(5), "{name} took {took:?}");
            // Nothing was written.
            let filter = format!("/Users?filter=userName eq \"user{}\"", 1000 + attempt);
            assert_eq!(gw.get(&filter, &token).expect(200).json["totalResults"], 0, "{name}");
        }
        eventually("the failure in the provisioning log", || {
            let out = gw.cli_ok(&["log", "--tenant", name, "--json"]);
            out.lines().any(|l| l.contains("\"status\":500")).then_some(())
        });
    }

    let statuses = steady.join().unwrap();
    for (n, (status, user_name)) in statuses.iter().enumerate() {
        assert_eq!(*status, 201, "good tenant request {n}");
        assert_eq!(*user_name, format!("user{n}@example.com"));
    }
    // And the gateway is still whole, its memory bounded.
    gw.get("/Users?count=1", &gw.token("good")).expect(200);
    let rss_kb = gw.proc_status("VmRSS");
    assert!(rss_kb < 512 * 1024, "RSS after the attacks: {rss_kb} kB");
}

#[test]
fn script_errors_name_the_file_line_and_column() {
    let scripts = tempfile::tempdir().unwrap();
    let path = scripts.path().join("broken.rhai");
    std::fs::write(
        &path,
        "fn transform_in(user, ctx) {\n    let n = 1;\n    user.userName = n.no_such_method();\n    user\n}\n",
    )
    .unwrap();
    let toml = format!("[tenants.acme]\n[[tenants.acme.steps]]\nkind = \"rhai\"\npath = {:?}\n", path.display());
    let gw = Gateway::start_tenants(&toml);
    let token = gw.token("acme");
    let resp = gw.post("/Users", &token, &user(1)).expect(500);
    let detail = resp.json["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("broken.rhai:3:"), "{detail}");
    assert!(detail.contains("no_such_method"), "{detail}");
    let logged = eventually("the error in the provisioning log", || {
        let out = gw.cli_ok(&["log", "--tenant", "acme", "--json"]);
        out.lines().find(|l| l.contains("broken.rhai:3:")).map(str::to_owned)
    });
    assert!(logged.contains("\"status\":500"), "{logged}");
}
