//! Token rows: an id, the tenant, and a SHA-256 of the token. The token
//! itself is never stored.

use super::sql::{Row, args};
use super::{Result, Store, StoreError, now_rfc3339};

/// A token as stored (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub tenant: String,
    pub hash: [u8; 32],
    pub created: String,
}

impl Store {
    /// Store a new token's hash. Blocking: call from a thread outside the
    /// async runtime (the CLI) or through `spawn_blocking`.
    pub fn insert_token(&self, id: &str, tenant: &str, hash: &[u8; 32]) -> Result<()> {
        let (id, tenant, hash) = (id.to_owned(), tenant.to_owned(), *hash);
        self.write_blocking(move |tx| {
            tx.execute(
                "INSERT INTO tokens (id, tenant, hash, created) VALUES (?1, ?2, ?3, ?4)",
                args![&id, &tenant, hash.as_slice(), now_rfc3339().as_str()],
            )?;
            Ok(())
        })
    }

    /// The live (unrevoked) token with this id.
    pub async fn live_token(&self, id: &str) -> Result<Option<TokenRow>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_opt("SELECT id, tenant, hash, created FROM tokens WHERE id = ?1 AND revoked IS NULL", args![&id])?
                .map(token_row)
                .transpose()
        })
        .await
    }

    /// Live tokens, optionally of one tenant, oldest first. Blocking, as
    /// [`Store::insert_token`].
    pub fn live_tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRow>> {
        let tenant = tenant.map(str::to_owned);
        self.read_blocking(move |c| {
            c.query(
                "SELECT id, tenant, hash, created FROM tokens
                 WHERE revoked IS NULL AND (CAST(?1 AS TEXT) IS NULL OR tenant = ?1) ORDER BY created, id",
                args![&tenant],
            )?
            .into_iter()
            .map(token_row)
            .collect()
        })
    }

    /// Revoke a token; returns whether a live token had that id. Blocking,
    /// as [`Store::insert_token`].
    pub fn revoke_token(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write_blocking(move |tx| {
            let n = tx.execute(
                "UPDATE tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                args![&id, now_rfc3339().as_str()],
            )?;
            Ok(n > 0)
        })
    }
}

fn token_row(r: Row) -> Result<TokenRow> {
    let hash: [u8; 32] =
        r.blob(2)?.try_into().map_err(|_| StoreError::Corrupt("a token hash is not 32 bytes".into()))?;
    Ok(TokenRow { id: r.text(0)?, tenant: r.text(1)?, hash, created: r.text(3)? })
}
