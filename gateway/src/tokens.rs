//! Bearer tokens: issuing, and deciding which tenant a request belongs to.
//!
//! A token reads `sgt_<id>_<secret>`. The id is public (it names the token in
//! `token list` and `token revoke`); only a SHA-256 of the whole token is
//! stored, and the hash comparison is constant-time. A token is looked up by
//! its id, so the time a check takes says nothing about any stored secret.
//!
//! HTTP Basic (Okta's "Basic Auth" mode) uses the same credentials: the
//! token's id as the username, the whole token as the password.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError, TokenRow};

const PREFIX: &str = "sgt_";

/// How long a verified token row is trusted before it is read again; this
/// bounds how long a revoked token keeps working in a running gateway.
pub const CACHE_TTL: Duration = Duration::from_secs(1);

/// Issues and verifies tokens against the store.
pub struct TokenAuthority {
    store: Store,
    cache: RwLock<HashMap<String, (TokenRow, Instant)>>,
}

/// A freshly issued token: shown once, then only its hash exists.
pub struct IssuedToken {
    pub id: String,
    pub token: String,
}

impl TokenAuthority {
    pub fn new(store: Store) -> Self {
        TokenAuthority { store, cache: RwLock::new(HashMap::new()) }
    }

    /// Create a token for `tenant` and store its hash.
    pub fn issue(&self, tenant: &str) -> Result<IssuedToken, StoreError> {
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!("{PREFIX}{id}_{}", random_secret());
        self.store.insert_token(&id, tenant, &hash(&token))?;
        Ok(IssuedToken { id, token })
    }

    /// The tenant `presented` belongs to, if it is a live token. A cache
    /// miss reads the store.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<String>, StoreError> {
        let Some(id) = token_id(presented) else { return Ok(None) };
        let cached = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(row, _)| row.clone());
        let row = match cached {
            Some(row) => row,
            None => {
                let Some(row) = self.store.live_token(id).await? else {
                    self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(id);
                    return Ok(None);
                };
                self.cache
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.to_owned(), (row.clone(), Instant::now()));
                row
            }
        };
        let matches: bool = hash(presented).ct_eq(&row.hash).into();
        Ok(matches.then_some(row.tenant))
    }
}

impl TokenAuthority {
    /// The tenant of HTTP Basic credentials: `username` must be the id of
    /// the token given as `password`.
    pub async fn authenticate_basic(&self, username: &str, password: &str) -> Result<Option<String>, StoreError> {
        if token_id(password) != Some(username) {
            return Ok(None);
        }
        self.authenticate(password).await
    }
}

/// 256 random bits, URL-safe base64: a token's secret, or an admin token.
pub fn random_secret() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
}

/// The id part of a well-formed token.
fn token_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty()).then_some(id)
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn issued_tokens_authenticate_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let auth = TokenAuthority::new(store.clone());
        let a = auth.issue("acme").unwrap();
        let b = auth.issue("acme").unwrap();
        assert_eq!(block(auth.authenticate(&a.token)).unwrap().as_deref(), Some("acme"));
        assert_eq!(block(auth.authenticate(&b.token)).unwrap().as_deref(), Some("acme"));
        let mut forged = a.token.clone();
        forged.pop();
        forged.push('x');
        assert_eq!(block(auth.authenticate(&forged)).unwrap(), None);
        assert_eq!(block(auth.authenticate("sgt_nothex_x")).unwrap(), None);
        assert_eq!(block(auth.authenticate("")).unwrap(), None);
        assert_eq!(block(auth.authenticate_basic(&a.id, &a.token)).unwrap().as_deref(), Some("acme"));
        assert_eq!(block(auth.authenticate_basic(&b.id, &a.token)).unwrap(), None, "another token's id");
        assert_eq!(block(auth.authenticate_basic(&a.id, &forged)).unwrap(), None);
        assert!(store.revoke_token(&a.id).unwrap());
        std::thread::sleep(CACHE_TTL);
        assert_eq!(block(auth.authenticate(&a.token)).unwrap(), None);
        assert_eq!(block(auth.authenticate(&b.token)).unwrap().as_deref(), Some("acme"));
        let rows = store.live_tokens(Some("acme")).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, b.id);
        assert_ne!(rows[0].hash.as_slice(), b.token.as_bytes());
    }
}
