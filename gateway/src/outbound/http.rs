//! One pooled HTTP client per upstream: HTTP/1.1 and HTTP/2 (by ALPN) over
//! rustls, with the web PKI roots plus an optional private CA, and one
//! deadline over the whole exchange (connect to the last body byte).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::error::UpstreamError;

/// The most of an upstream answer the gateway reads.
const MAX_RESPONSE_BYTES: usize = 16 << 20;

pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// An answer, read in full.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What one exchange sends; kept so that a retry can send it again.
pub struct Outgoing<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    pub body: Option<Bytes>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("TLS setup: {0}")]
    Tls(String),
}

impl HttpClient {
    pub fn new(timeout: Duration, connect_timeout: Duration, ca_file: Option<&Path>) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let ca_error = |message: String| ClientError::CaFile { path: path.display().to_string(), message };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca_error(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(HttpClient { client, timeout })
    }

    /// One exchange. `sent` tells a failure that may have reached the
    /// upstream from one that certainly did not (a refused connection): only
    /// the latter is safe to repeat for a non-idempotent request.
    pub async fn send(&self, out: &Outgoing<'_>) -> Result<HttpResponse, (UpstreamError, Sent)> {
        let mut builder = Request::builder().method(out.method.clone()).uri(out.url);
        for (name, value) in &out.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(out.body.clone().unwrap_or_default()))
            .map_err(|e| (UpstreamError::Transport(format!("invalid request: {e}")), Sent::No))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let sent = if e.is_connect() { Sent::No } else { Sent::Maybe };
                (UpstreamError::Transport(error_chain(&e)), sent)
            })?;
            let (parts, body) = response.into_parts();
            let limited = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES);
            let body = limited
                .collect()
                .await
                .map_err(|e| (UpstreamError::Transport(format!("reading the answer: {e}")), Sent::Maybe))?
                .to_bytes();
            Ok(HttpResponse { status: parts.status.as_u16(), headers: parts.headers, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err((UpstreamError::Timeout(self.timeout), Sent::Maybe)),
        }
    }
}

/// Whether a failed request may have reached the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    No,
    Maybe,
}

/// An error with its causes ("client error (Connect): tcp connect error:
/// Connection refused"): hyper's top-level message alone says little.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
