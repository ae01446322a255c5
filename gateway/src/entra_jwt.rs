//! Microsoft Entra ID's own tokens as SCIM credentials.
//!
//! When an admin leaves the *Secret Token* blank, Entra's provisioning
//! service sends a JWT it issued itself: `iss` names the Entra tenant,
//! `aud` the provisioning app, and the signature is by a key in the
//! tenant's JWKS. A gateway tenant with `[tenants.T.entra_jwt]` accepts
//! such a token when all three check out (and `exp`/`nbf`, with a minute of
//! clock skew). Keys come from a JWKS file (offline) or URL, cached: a URL
//! is read again after an hour, or when a token names a key it does not
//! have (at most once a minute, so a flood of made-up key ids cannot make
//! the gateway hammer the IdP).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::EntraJwtConfig;
use crate::outbound::{HttpClient, Outgoing};

/// A fetched JWKS is read again after this long.
const KEYS_FRESH_FOR: Duration = Duration::from_secs(3600);
/// Never fetch more often than this (unknown key ids included).
const MIN_REFETCH: Duration = Duration::from_secs(60);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One tenant's verifier of Entra-issued tokens.
pub struct EntraJwt {
    issuer: String,
    audience: String,
    source: KeySource,
    keys: RwLock<Keys>,
}

enum KeySource {
    File(PathBuf),
    Url { url: String, http: Box<HttpClient> },
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the token names no key id (kid)")]
    NoKeyId,
    #[error("no key {0} in the tenant's JWKS")]
    UnknownKey(String),
    #[error("the JWKS could not be read: {0}")]
    Jwks(String),
    #[error("the token does not verify: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    n: Option<String>,
    e: Option<String>,
}

impl EntraJwt {
    /// A verifier for `config`; a JWKS file is read now, so a tenant with a
    /// bad file does not load.
    pub fn new(config: &EntraJwtConfig) -> Result<EntraJwt, String> {
        let source = match (&config.jwks_file, &config.jwks_url) {
            (Some(file), None) => KeySource::File(file.clone()),
            (None, Some(url)) => KeySource::Url {
                url: url.clone(),
                http: Box::new(HttpClient::new(FETCH_TIMEOUT, FETCH_TIMEOUT, None).map_err(|e| e.to_string())?),
            },
            _ => return Err("entra_jwt needs exactly one of jwks_file and jwks_url".into()),
        };
        let verifier = EntraJwt {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            source,
            keys: RwLock::new(Keys::default()),
        };
        if let KeySource::File(path) = &verifier.source {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            verifier.install(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(verifier)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Check `token`'s signature, issuer, audience and lifetime.
    pub async fn verify(&self, token: &str) -> Result<(), JwtError> {
        let header = jsonwebtoken::decode_header(token)?;
        let kid = header.kid.ok_or(JwtError::NoKeyId)?;
        let key = match self.key(&kid) {
            Some(key) if !self.stale() => key,
            known => {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(issuer = %self.issuer, error = %e, "JWKS refresh failed; keeping the keys we have");
                }
                self.key(&kid).or(known).ok_or_else(|| JwtError::UnknownKey(kid.clone()))?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)?;
        Ok(())
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).by_kid.get(kid).cloned()
    }

    /// A URL's keys past their freshness (a file's never are).
    fn stale(&self) -> bool {
        matches!(self.source, KeySource::Url { .. })
            && self
                .keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .fetched_at
                .is_none_or(|at| at.elapsed() > KEYS_FRESH_FOR)
    }

    /// Read the JWKS again, unless that was tried less than a minute ago.
    async fn refresh(&self) -> Result<(), JwtError> {
        {
            let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
            if keys.attempted_at.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
                return Ok(());
            }
            keys.attempted_at = Some(Instant::now());
        }
        let text = match &self.source {
            KeySource::File(path) => std::fs::read_to_string(path).map_err(|e| JwtError::Jwks(e.to_string()))?,
            KeySource::Url { url, http } => {
                let out = Outgoing { method: hyper::Method::GET, url, headers: Vec::new(), body: None::<Bytes> };
                let answer = http.send(&out).await.map_err(|(e, _)| JwtError::Jwks(e.to_string()))?;
                if answer.status != 200 {
                    return Err(JwtError::Jwks(format!("{url} answered {}", answer.status)));
                }
                String::from_utf8_lossy(&answer.body).into_owned()
            }
        };
        self.install(&text)
    }

    /// Replace the keys with the RSA keys of a JWKS document.
    fn install(&self, jwks: &str) -> Result<(), JwtError> {
        let parsed: Jwks = serde_json::from_str(jwks).map_err(|e| JwtError::Jwks(format!("not a JWKS: {e}")))?;
        let mut by_kid = HashMap::new();
        for jwk in parsed.keys {
            let (Some(kid), "RSA", Some(n), Some(e)) = (jwk.kid, jwk.kty.as_str(), jwk.n, jwk.e) else { continue };
            // Entra's JWKS use unpadded base64url; accept padded too.
            let (n, e) = (n.trim_end_matches('='), e.trim_end_matches('='));
            if base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n).is_err() {
                continue;
            }
            if let Ok(key) = DecodingKey::from_rsa_components(n, e) {
                by_kid.insert(kid, key);
            }
        }
        if by_kid.is_empty() {
            return Err(JwtError::Jwks("no RSA key with a kid".into()));
        }
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.by_kid = by_kid;
        keys.fetched_at = Some(Instant::now());
        Ok(())
    }
}

/// The `iss` claim of a JWT, unverified: which tenant's verifier to ask.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}
