//! Concurrent IdP requests (Entra asks for >= 25 req/s per tenant and runs
//! several workers): no lost updates, uniqueness holds under races.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};

use crate::harness::*;
use crate::scim::*;

/// Runs `n` closures at once (released together by a barrier), returns their results.
fn race<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (b, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                b.wait();
                f(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("racing thread panicked")).collect()
}

#[test]
fn concurrent_creates_of_one_username_give_exactly_one_201_and_409s() {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    for round in 0..3 {
        let (c, tok) = (gw.client(), t.clone());
        let results = race(8, move |i| {
            // Same userName in different cases.
            let name = if i % 2 == 0 { format!("race{round}@example.com") } else { format!("RACE{round}@Example.com") };
            c.post("/Users", &tok, &user_body(&name))
        });
        let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "exactly one create wins: {statuses:?}");
        for r in results.iter().filter(|r| r.status != 201) {
            assert_scim_error(r, 409, Some("uniqueness"));
        }
        let found = list_resources(&gw.get(&format!("/Users?filter=userName eq \"race{round}@example.com\""), &t));
        assert_eq!(found.len(), 1);

        let (c, tok) = (gw.client(), t.clone());
        let results = race(8, move |_| {
            c.post("/Groups", &tok, &json!({"schemas": [GROUP_SCHEMA], "displayName": format!("Race Group {round}")}))
        });
        let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "exactly one group create wins: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    }
}

#[test]
fn concurrent_member_adds_and_removes_on_one_group_are_all_kept() {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    let c = gw.client();
    let users: Vec<String> = (0..40).map(|i| id_of(&create_user(&c, &t, &format!("m{i}@example.com")))).collect();
    let gid = id_of(&create_group(&c, &t, "Crowd", &[]));

    let (c2, tok, us, g) = (c.clone(), t.clone(), users.clone(), gid.clone());
    let results = race(8, move |i| {
        let mut statuses = Vec::new();
        for u in us.iter().skip(i).step_by(8) {
            let body = patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": u}]}]));
            statuses.push(c2.patch(&format!("/Groups/{g}"), &tok, &body).status);
        }
        statuses
    });
    assert!(results.iter().flatten().all(|s| *s == 204), "member adds: {results:?}");
    let mut want = users.clone();
    want.sort();
    assert_eq!(member_ids(&c.get(&format!("/Groups/{gid}"), &t).expect(200).json), want, "lost member adds");

    // Now remove the even ones concurrently (Okta's filter form).
    let (c2, tok, us, g) = (c.clone(), t.clone(), users.clone(), gid.clone());
    let results = race(8, move |i| {
        let mut statuses = Vec::new();
        for u in us.iter().step_by(2).skip(i).step_by(8) {
            let body = patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}]));
            statuses.push(c2.patch(&format!("/Groups/{g}"), &tok, &body).status);
        }
        statuses
    });
    assert!(results.iter().flatten().all(|s| *s == 204), "member removes: {results:?}");
    let mut odd: Vec<String> = users.iter().skip(1).step_by(2).cloned().collect();
    odd.sort();
    assert_eq!(member_ids(&c.get(&format!("/Groups/{gid}"), &t).expect(200).json), odd, "lost member removes");
}

#[test]
fn concurrent_patches_of_different_attributes_of_one_user_are_all_applied() {
    let gw = Gateway::start(&["acme"]);
    let t = gw.token("acme");
    let c = gw.client();
    let uid = id_of(&create_user(&c, &t, "busy@example.com"));
    const ATTRS: [&str; 8] =
        ["nickName", "title", "displayName", "userType", "locale", "timezone", "preferredLanguage", "profileUrl"];
    for round in 0..5 {
        let (c2, tok, u) = (c.clone(), t.clone(), uid.clone());
        let results = race(ATTRS.len(), move |i| {
            let body =
                patch_ops(json!([{"op": "Replace", "path": ATTRS[i], "value": format!("{}-{round}", ATTRS[i])}]));
            c2.patch(&format!("/Users/{u}"), &tok, &body).status
        });
        assert!(results.iter().all(|s| *s == 200), "round {round}: {results:?}");
        let now: Value = c.get(&format!("/Users/{uid}"), &t).expect(200).json;
        let lost: Vec<&str> = ATTRS.iter().copied().filter(|a| now[*a] != json!(format!("{a}-{round}"))).collect();
        assert!(lost.is_empty(), "round {round}: concurrent PATCHes lost updates of {lost:?}: {now}");
    }
}
