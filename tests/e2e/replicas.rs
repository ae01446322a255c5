//! Several gateway processes on one PostgreSQL database, as replicas behind
//! a load balancer: they agree on ids, uniqueness, tokens and data, and one
//! replica dying loses nothing another acknowledged.
//!
//! These need `SCIMGATE_E2E_POSTGRES` (CI's second pass sets it); under the
//! SQLite pass they say so and return.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::harness::*;
use crate::scim::*;

/// Three replicas (one config, one database) with an admin listener each.
fn replicas() -> Option<Vec<Gateway>> {
    if !on_postgres() {
        eprintln!("skipped: replicas need SCIMGATE_E2E_POSTGRES");
        return None;
    }
    let first = Gateway::start_tenants("[tenants.acme]\nidp = \"entra\"\n");
    let second = first.replica();
    let third = first.replica();
    Some(vec![first, second, third])
}

#[test]
fn a_create_race_of_one_username_across_replicas_gives_exactly_one_201() {
    let Some(gws) = replicas() else { return };
    let token = gws[0].token("acme");
    for round in 0..3 {
        let barrier = Arc::new(Barrier::new(32));
        let racers: Vec<_> = (0..32)
            .map(|i| {
                let (client, token, barrier) = (gws[i % 3].client(), token.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let name = if i % 2 == 0 {
                        format!("race{round}@example.com")
                    } else {
                        format!("RACE{round}@Example.com")
                    };
                    barrier.wait();
                    client.post("/Users", &token, &user_body(&name))
                })
            })
            .collect();
        let results: Vec<Response> = racers.into_iter().map(|h| h.join().unwrap()).collect();
        let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "exactly one create wins: {statuses:?}");
        for r in results.iter().filter(|r| r.status != 201) {
            assert_scim_error(r, 409, Some("uniqueness"));
        }
        for gw in &gws {
            let found =
                list_resources(&gw.get(&format!("/Users?filter=userName eq \"race{round}@example.com\""), &token));
            assert_eq!(found.len(), 1, "every replica sees the one user");
        }
    }
}

#[test]
fn an_idp_alternating_between_replicas_sees_one_set_of_ids() {
    let Some(gws) = replicas() else { return };
    let token = gws[0].token("acme");
    let at = |n: usize| &gws[n % 3];

    // Entra's cycle: query by userName (none), create, query again, patch,
    // create a group with the user, add and remove members, disable, delete.
    let probe = at(0).get("/Users?filter=userName eq \"ann@example.com\"", &token).expect(200);
    assert!(list_resources(&probe).is_empty());
    let ann = create_user(&at(1).client(), &token, "ann@example.com");
    let ann_id = id_of(&ann);
    let bob_id = id_of(&create_user(&at(2).client(), &token, "bob@example.com"));
    let found = list_resources(&at(0).get("/Users?filter=userName eq \"ann@example.com\"", &token).expect(200));
    assert_eq!(id_of(&found[0]), ann_id, "the id one replica made is the one another finds");

    at(1)
        .patch(
            &format!("/Users/{ann_id}"),
            &token,
            &patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "Ann A."}])),
        )
        .expect(200);
    assert_eq!(at(2).get(&format!("/Users/{ann_id}"), &token).expect(200).json["displayName"], "Ann A.");

    let group = create_group(&at(0).client(), &token, "Engineering", &[&ann_id]);
    let group_id = id_of(&group);
    at(1)
        .patch(
            &format!("/Groups/{group_id}"),
            &token,
            &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": bob_id}]}])),
        )
        .expect(204);
    let members: BTreeSet<String> =
        member_ids(&at(2).get(&format!("/Groups/{group_id}"), &token).expect(200).json).into_iter().collect();
    assert_eq!(members, BTreeSet::from([ann_id.clone(), bob_id.clone()]));
    let groups_of_bob = at(0).get(&format!("/Users/{bob_id}"), &token).expect(200).json["groups"].clone();
    assert_eq!(groups_of_bob[0]["value"], group_id.as_str());

    at(1)
        .patch(
            &format!("/Users/{bob_id}"),
            &token,
            &patch_ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .expect(200);
    assert_eq!(at(2).get(&format!("/Users/{bob_id}"), &token).expect(200).json["active"], false);
    at(0).delete(&format!("/Users/{bob_id}"), &token).expect(204);
    at(1).get(&format!("/Users/{bob_id}"), &token).expect(404);
    let members = member_ids(&at(2).get(&format!("/Groups/{group_id}"), &token).expect(200).json);
    assert_eq!(members, vec![ann_id.clone()], "the deleted user left the group on every replica");

    // Every replica lists the same ids, in the same order.
    let lists: Vec<Vec<String>> = gws
        .iter()
        .map(|gw| list_resources(&gw.get("/Users", &token).expect(200)).iter().map(id_of).collect())
        .collect();
    assert_eq!(lists[0], vec![ann_id]);
    assert!(lists.iter().all(|l| *l == lists[0]), "{lists:?}");
}

#[test]
fn a_token_revoked_on_one_replica_is_refused_by_all_within_a_second() {
    let Some(gws) = replicas() else { return };
    let token = gws[0].token("acme");
    let keep = gws[0].token("acme");
    // Every replica has the token cached (a cache hit needs no store read).
    for gw in &gws {
        gw.get("/Users", &token).expect(200);
    }
    let id = token.strip_prefix("sgt_").and_then(|t| t.split('_').next()).expect("token id");
    let revoked = gws[1].admin().try_raw("DELETE", &format!("/admin/tokens/{id}"), Some(ADMIN_TOKEN), &[], None);
    revoked.expect("admin request").expect(200);
    // The contract: effective everywhere within a second of the revocation.
    std::thread::sleep(Duration::from_millis(1100));
    for gw in &gws {
        assert_eq!(gw.get("/Users", &token).status, 401, "a replica still takes the revoked token");
        gw.get("/Users", &keep).expect(200);
    }
}

#[test]
fn kill_9_of_one_replica_under_write_load_loses_no_acknowledged_write() {
    let Some(mut gws) = replicas() else { return };
    let token = gws[0].token("acme");
    let acknowledged = Arc::new(Mutex::new(Vec::<(usize, String, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let replica = w % 3;
            let (client, token, acknowledged, stop) =
                (gws[replica].client(), token.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let name = format!("w{w}-{n}@example.com");
                    let body = serde_json::to_vec(&user_body(&name)).unwrap();
                    // The killed replica's requests fail in transport: never
                    // acknowledged, so not counted.
                    match client.try_raw("POST", "/scim/v2/Users", Some(&token), &[], Some(body)) {
                        Ok(r) if r.status == 201 => acknowledged.lock().unwrap().push((replica, name, id_of(&r.json))),
                        Ok(r) => panic!("a live replica refused a write: {}", r.describe()),
                        Err(_) if replica == 0 => std::thread::sleep(Duration::from_millis(20)),
                        Err(e) => panic!("replica {replica} failed in transport: {e}"),
                    }
                }
            })
        })
        .collect();
    let count_by = |replica: usize| acknowledged.lock().unwrap().iter().filter(|(r, _, _)| *r == replica).count();
    eventually("every replica acknowledges writes", || (0..3).all(|r| count_by(r) >= 20).then_some(()));
    gws[0].kill9();
    let after_kill = (count_by(1), count_by(2));
    eventually("the others keep serving", || {
        (count_by(1) > after_kill.0 + 20 && count_by(2) > after_kill.1 + 20).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("no live replica refused a write");
    }

    let acknowledged = acknowledged.lock().unwrap();
    let listed = gws[1].get(&format!("/Users?count={}", acknowledged.len() + 10), &token).expect(200);
    let ids: BTreeSet<String> = list_resources(&listed).iter().map(id_of).collect();
    for (replica, name, id) in acknowledged.iter() {
        assert!(ids.contains(id), "{name} (acknowledged by replica {replica}) is gone");
    }
    assert_eq!(listed.json["totalResults"].as_u64().unwrap() as usize, ids.len());
    assert!(ids.len() >= acknowledged.len(), "an acknowledged write was lost");
}

#[test]
fn store_migrate_moves_an_embedded_store_into_postgres_with_ids_tokens_and_links_intact() {
    let Some(base) = POSTGRES.as_deref() else {
        eprintln!("skipped: store migrate needs SCIMGATE_E2E_POSTGRES");
        return;
    };
    let mut gw = Gateway::start_sqlite("[tenants.acme]\n");
    let token = gw.token("acme");
    let c = gw.client();
    let ann = id_of(&create_user(&c, &token, "ann@example.com"));
    let bob = id_of(&create_user(&c, &token, "bob@example.com"));
    let group = id_of(&create_group(&c, &token, "Staff", &[&ann, &bob]));
    gw.delete(&format!("/Users/{bob}"), &token).expect(204);
    assert!(gw.sigterm().success());

    let (url, name) = fresh_database(base);
    gw.adopt_database(name);
    let sqlite = gw.data_dir().join("scimgate.db");
    let migrate = || {
        std::process::Command::new(BIN.as_str())
            .args(["store", "migrate", "--from", sqlite.to_str().unwrap(), "--to", &url])
            .output()
            .expect("run scimgate store migrate")
    };
    let done = migrate();
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{out}{}", String::from_utf8_lossy(&done.stderr));
    assert!(out.contains("every count matches"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("resources") && l.contains(" 2 rows copied")), "{out}");
    // Each write's trace came along with its log record.
    let traced = "SELECT count(*) FROM provisioning_log WHERE trace LIKE '%\"stage\":\"store\"%'";
    let before: i64 = rusqlite::Connection::open(&sqlite).unwrap().query_row(traced, [], |r| r.get(0)).unwrap();
    let mut copied = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the copy");
    let after: i64 = copied.query_one(traced, &[]).unwrap().get(0);
    assert_eq!((before, after), (4, 4), "log records with a trace: SQLite, PostgreSQL");

    // The same database again: refused, nothing doubled.
    let again = migrate();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));

    let config = std::fs::read_to_string(&gw.config).unwrap();
    let config = config.replace("path = \"scimgate.db\"", &format!("url = \"{url}\""));
    std::fs::write(&gw.config, config).unwrap();
    std::fs::remove_file(&sqlite).unwrap();
    gw.restart();
    assert_eq!(gw.get(&format!("/Users/{ann}"), &token).expect(200).json["userName"], "ann@example.com");
    gw.get(&format!("/Users/{bob}"), &token).expect(404);
    assert_eq!(member_ids(&gw.get(&format!("/Groups/{group}"), &token).expect(200).json), vec![ann.clone()]);
    // New rows continue after the copied ones.
    let carl = id_of(&create_user(&gw.client(), &token, "carl@example.com"));
    let users: Vec<String> = list_resources(&gw.get("/Users", &token).expect(200)).iter().map(id_of).collect();
    assert_eq!(users, vec![ann, carl], "storage order kept, new rows after");
}

#[test]
fn replicas_share_an_upstream_rate_and_together_hold_it() {
    if !on_postgres() {
        eprintln!("skipped: replicas need SCIMGATE_E2E_POSTGRES");
        return;
    }
    let upstream = Gateway::start(&["app"]);
    let up_token = upstream.token("app");
    let toml = format!(
        "[admin]\n[tenants.acme]\nidp = \"entra\"\n[tenants.acme.upstream]\nkind = \"scim\"\nurl = \"{}\"\n\
         auth = {{ kind = \"bearer\", token = \"${{env:UPSTREAM_TOKEN}}\" }}\n\
         throttle = {{ rate_per_sec = 10, burst = 1, max_wait_secs = 30 }}\n",
        upstream.scim_base()
    );
    let first =
        Gateway::start_config("", &toml, &[("SCIMGATE_ADMIN_TOKEN", ADMIN_TOKEN), ("UPSTREAM_TOKEN", &up_token)]);
    let second = first.replica();
    eventually("both replicas count two", || {
        (first.stderr().contains("replicas=2") && second.stderr().contains("replicas=2")).then_some(())
    });
    let token = first.token("acme");
    // An IdP's workers send 60 creates at once, half to each replica.
    let senders: Vec<_> = (0..60)
        .map(|i| {
            let (client, token) = ([&first, &second][i % 2].client(), token.clone());
            std::thread::spawn(move || client.post("/Users", &token, &user_body(&format!("rate{i}@example.com"))))
        })
        .collect();
    for s in senders {
        s.join().unwrap().expect(201);
    }
    // The rate the upstream saw, from when it created each user.
    let list = upstream.get("/Users?count=100", &up_token).expect(200).json;
    let mut created: Vec<i64> =
        list_resources_json(&list).iter().map(|u| millis_of_day(u["meta"]["created"].as_str().unwrap())).collect();
    created.sort();
    assert_eq!(created.len(), 60);
    let seconds = (created[59] - created[0]) as f64 / 1000.0;
    let rate = 59.0 / seconds;
    eprintln!("two replicas sent {rate:.2}/s to an upstream limited to 10/s");
    assert!((9.0..=11.0).contains(&rate), "two replicas sent {rate:.2}/s to an upstream limited to 10/s");
}

fn list_resources_json(list: &serde_json::Value) -> Vec<serde_json::Value> {
    list["Resources"].as_array().cloned().unwrap_or_default()
}

/// `…THH:MM:SS.mmmZ` as milliseconds since midnight.
fn millis_of_day(time: &str) -> i64 {
    let t = &time[11..23];
    let field = |range: std::ops::Range<usize>| t[range].parse::<i64>().unwrap();
    ((field(0..2) * 60 + field(3..5)) * 60 + field(6..8)) * 1000 + field(9..12)
}
