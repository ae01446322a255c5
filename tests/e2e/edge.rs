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

/// A CA and a server certificate for 127.0.0.1 it signed, made with openssl.
fn certificate(dir: &std::path::Path, name: &str) -> (Vec<u8>, Vec<u8>, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (ca_key, ca, key, csr, cert, ext) = (
        format!("{name}-ca.key"),
        format!("{name}-ca.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "1",
        "-subj",
        &format!("/CN={name} test CA"),
    ]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    std::fs::write(dir.join(&ext), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "1",
        "-extfile",
        &ext,
    ]);
    (std::fs::read(dir.join(&cert)).unwrap(), std::fs::read(dir.join(&key)).unwrap(), dir.join(&ca))
}

/// The status of `GET /scim/v2/Users` over TLS, trusting only `ca`; `None`
/// when the handshake or the certificate check fails.
fn https_status(port: u16, token: &str, ca: &std::path::Path) -> Option<u16> {
    use std::time::Duration;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client =
            scimgate::outbound::HttpClient::new(Duration::from_secs(5), Duration::from_secs(5), Some(ca)).unwrap();
        let auth = hyper::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let url = format!("https://127.0.0.1:{port}/scim/v2/Users");
        let out = scimgate::outbound::Outgoing {
            method: hyper::Method::GET,
            url: &url,
            headers: vec![(hyper::header::AUTHORIZATION, auth)],
            body: None,
        };
        client.send(&out).await.ok().map(|r| r.status)
    })
}

#[test]
fn tls_is_served_and_a_renewed_certificate_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, first_ca) = certificate(dir.path(), "first");
    let files: [(&str, &[u8]); 2] = [("tls/server.pem", &cert), ("tls/server.key", &key)];
    let gw = Gateway::start_files(
        "",
        "[server]\ntls = { cert_file = \"tls/server.pem\", key_file = \"tls/server.key\" }\n",
        "[tenants.acme]\n",
        &files,
        &[],
    );
    let token = gw.token("acme");
    let port: u16 = gw.client().root.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(https_status(port, &token, &first_ca), Some(200));

    // Renewal: a certificate from another CA replaces the files (written
    // then renamed, as certbot and cert-manager do).
    let (cert, key, second_ca) = certificate(dir.path(), "second");
    for (name, content) in [("server.key", &key), ("server.pem", &cert)] {
        let path = gw.dir.path().join("tls").join(name);
        std::fs::write(path.with_extension("new"), content).unwrap();
        std::fs::rename(path.with_extension("new"), &path).unwrap();
    }
    crate::harness::eventually("the renewed certificate is served", || {
        (https_status(port, &token, &second_ca) == Some(200)).then_some(())
    });
    assert_eq!(https_status(port, &token, &first_ca), None, "the old certificate is gone");
}
