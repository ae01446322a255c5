//! The gateway's credential for an upstream. Secrets are resolved from the
//! environment or a file when the tenant is built, kept only as header
//! values marked sensitive, and never printed.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hyper::Method;
use hyper::header::{self, HeaderName, HeaderValue};
use serde::Deserialize;
use tokio::time::Instant;

use super::error::UpstreamError;
use super::http::{HttpClient, Outgoing};
use crate::config::AuthConfig;
use crate::config::resolve_secret;

/// Renew an OAuth2 token this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

pub enum Credential {
    None,
    /// A fixed header (bearer or basic `Authorization`, or an API key).
    Fixed(HeaderName, HeaderValue),
    OAuth2(OAuth2),
}

pub struct OAuth2 {
    token_url: String,
    /// `Basic base64(client_id:client_secret)` for the token endpoint (RFC 6749 §2.3.1).
    client_auth: HeaderValue,
    scope: Option<String>,
    cached: Mutex<Option<(HeaderValue, Instant)>>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::None => "Credential::None",
            Credential::Fixed(..) => "Credential::Fixed(***)",
            Credential::OAuth2(_) => "Credential::OAuth2(***)",
        })
    }
}

impl Credential {
    pub fn from_config(auth: &AuthConfig) -> Result<Credential, String> {
        Ok(match auth {
            AuthConfig::None => Credential::None,
            AuthConfig::Bearer { token } => {
                Credential::Fixed(header::AUTHORIZATION, sensitive(&format!("Bearer {}", resolve_secret(token)?))?)
            }
            AuthConfig::Basic { username, password } => {
                Credential::Fixed(header::AUTHORIZATION, basic(username, &resolve_secret(password)?)?)
            }
            AuthConfig::Header { name, value } => Credential::Fixed(
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("'{name}' is not a header name"))?,
                sensitive(&resolve_secret(value)?)?,
            ),
            AuthConfig::OAuth2 { token_url, client_id, client_secret, scope } => Credential::OAuth2(OAuth2 {
                token_url: token_url.clone(),
                client_auth: basic(client_id, &resolve_secret(client_secret)?)?,
                scope: scope.clone(),
                cached: Mutex::new(None),
            }),
        })
    }

    /// The header that authenticates the next request, fetching an OAuth2
    /// token first when none is cached.
    pub async fn header(&self, http: &HttpClient) -> Result<Option<(HeaderName, HeaderValue)>, UpstreamError> {
        match self {
            Credential::None => Ok(None),
            Credential::Fixed(name, value) => Ok(Some((name.clone(), value.clone()))),
            Credential::OAuth2(oauth) => oauth.token(http).await.map(|v| Some((header::AUTHORIZATION, v))),
        }
    }

    /// The upstream refused the credential: forget a cached OAuth2 token so
    /// the next request fetches a new one. True when there was one to forget.
    pub fn invalidate(&self) -> bool {
        match self {
            Credential::OAuth2(oauth) => oauth.lock().take().is_some(),
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl OAuth2 {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(HeaderValue, Instant)>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn token(&self, http: &HttpClient) -> Result<HeaderValue, UpstreamError> {
        if let Some((value, until)) = self.lock().as_ref()
            && Instant::now() < *until
        {
            return Ok(value.clone());
        }
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if let Some(scope) = &self.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let out = Outgoing {
            method: Method::POST,
            url: &self.token_url,
            headers: vec![
                (header::AUTHORIZATION, self.client_auth.clone()),
                (header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded")),
                (header::ACCEPT, HeaderValue::from_static("application/json")),
            ],
            body: Some(Bytes::from(form)),
        };
        let response = http.send(&out).await.map_err(|(e, _)| e)?;
        if response.status != 200 {
            return Err(UpstreamError::Failed {
                status: response.status,
                detail: "the OAuth2 token endpoint refused the client credentials".into(),
            });
        }
        let token: TokenResponse = serde_json::from_slice(&response.body)
            .map_err(|e| UpstreamError::Malformed(format!("OAuth2 token response: {e}")))?;
        let value = sensitive(&format!("Bearer {}", token.access_token)).map_err(UpstreamError::Malformed)?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600)).saturating_sub(EXPIRY_MARGIN);
        *self.lock() = Some((value.clone(), Instant::now() + lifetime));
        Ok(value)
    }
}

fn basic(user: &str, password: &str) -> Result<HeaderValue, String> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    sensitive(&format!("Basic {encoded}"))
}

/// A header value that hyper will not print in debug output or index in
/// HTTP/2 header compression.
fn sensitive(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value).map_err(|_| "a credential holds characters a header cannot".to_owned())?;
    v.set_sensitive(true);
    Ok(v)
}
