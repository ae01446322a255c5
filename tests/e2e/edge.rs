//! The gateway behind a TLS-terminating proxy: the URLs it writes name the
//! public origin (from `public_url`, or from trusted proxies' forwarding
//! headers, never from anyone else's), and a tenant's address allow-list
//! reads the forwarded client address.

use serde_json::{Value, json};

use crate::harness::Gateway;

fn user(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})).unwrap()
}

fn group_with(member: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops",
                               "members": [{"value": member}]}))
    .unwrap()
}

/// Every URL of a created user and a group naming it starts with `origin`.
fn assert_urls_start_with(gw: &Gateway, token: &str, headers: &[(&str, &str)], origin: &str) {
    let client = gw.client();
    let created = client.send("POST", "/Users", Some(token), headers, Some(user("ann"))).expect(201);
    let id = created.json["id"].as_str().unwrap();
    let location = created.header("location").unwrap().to_owned();
    assert_eq!(location, format!("{origin}/scim/v2/Users/{id}"));
    assert_eq!(created.json["meta"]["location"], Value::String(location));
    let group = client.send("POST", "/Groups", Some(token), headers, Some(group_with(id))).expect(201);
    assert_eq!(group.json["members"][0]["$ref"], Value::String(format!("{origin}/scim/v2/Users/{id}")));
    let listed = client.send("GET", "/Users", Some(token), headers, None).expect(200);
    assert!(listed.json["Resources"][0]["meta"]["location"].as_str().unwrap().starts_with(origin), "{}", listed.body);
}

#[test]
fn trusted_proxies_name_the_public_origin_and_others_do_not() {
    let gw = Gateway::start_config("trusted_proxies = [\"127.0.0.1/32\"]", "[tenants.acme]\n", &[]);
    let token = gw.token("acme");
    let forwarded = [("x-forwarded-proto", "https"), ("x-forwarded-host", "scim.example.com")];
    assert_urls_start_with(&gw, &token, &forwarded, "https://scim.example.com");

    // RFC 7239 `Forwarded` says the same.
    let rfc = [("forwarded", "for=203.0.113.9;proto=https;host=idp-facing.example.net")];
    let created = gw.client().send("POST", "/Users", Some(&token), &rfc, Some(user("bob"))).expect(201);
    assert!(created.header("location").unwrap().starts_with("https://idp-facing.example.net/scim/v2/Users/"));

    // The same headers from a peer that is not trusted change nothing.
    let gw = Gateway::start_config("trusted_proxies = [\"10.0.0.0/8\"]", "[tenants.acme]\n", &[]);
    let token = gw.token("acme");
    let created = gw.client().send("POST", "/Users", Some(&token), &forwarded, Some(user("eve"))).expect(201);
    let location = created.header("location").unwrap();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
}

#[test]
fn public_url_decides_every_url() {
    let gw = Gateway::start_config("public_url = \"https://gw.example.com/scim-proxy/\"", "[tenants.acme]\n", &[]);
    let token = gw.token("acme");
    let spoofing = [("x-forwarded-host", "evil.example"), ("host", "evil.example")];
    assert_urls_start_with(&gw, &token, &spoofing, "https://gw.example.com/scim-proxy");
}

#[test]
fn a_tenant_accepts_only_its_allowed_addresses() {
    let gw = Gateway::start_config(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        "[tenants.acme]\nallow_from = [\"10.20.0.0/16\"]\n[tenants.open]\n",
        &[],
    );
    let (acme, open) = (gw.token("acme"), gw.token("open"));
    let client = gw.client();
    let refused = client.send("GET", "/Users", Some(&acme), &[], None).expect(403);
    assert!(refused.json["detail"].as_str().unwrap().contains("127.0.0.1"), "{}", refused.body);
    client.send("GET", "/Users", Some(&acme), &[("x-forwarded-for", "10.20.3.4")], None).expect(200);
    client.send("GET", "/Users", Some(&acme), &[("x-forwarded-for", "10.21.3.4")], None).expect(403);
    client.send("GET", "/Users", Some(&open), &[], None).expect(200);
}
