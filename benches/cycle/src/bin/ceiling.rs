//! The ceiling for the embedded store's GET by id: a bare hyper server that
//! answers every request with the same 1 KB SCIM user, on the same runtime
//! shape as the gateway. `bench/run.py` drives it with the same `wrk`
//! script and prints the gateway's GET by id as a ratio of it.
//!
//! `scim-ceiling` prints `listening on http://ADDR` and serves until killed.

use std::convert::Infallible;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// A user as the gateway renders one (about 1 KB with its meta).
fn user() -> Bytes {
    let doc = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
                 "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                   {"value": "babs@jensen.org", "type": "home"}],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
        "active": true,
        "title": "Tour Guide",
        "userType": "Employee",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
            "division": "Theme Park", "department": "Tour Operations"},
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22.000Z",
                 "lastModified": "2011-05-13T04:42:34.000Z",
                 "location": "http://127.0.0.1:8080/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
                 "version": "W/\"3\""},
    });
    Bytes::from(doc.to_string())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("bind")?;
        println!("listening on http://{}", listener.local_addr()?);
        let body = user();
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            let service = hyper::service::service_fn(move |_req| {
                let body = body.clone();
                async move {
                    let mut resp = Response::new(Full::new(body));
                    resp.headers_mut()
                        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/scim+json"));
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    })
}
