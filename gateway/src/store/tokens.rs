//! Token rows: an id, the tenant, and a SHA-256 of the token. The token
//! itself is never stored.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, now_rfc3339};

/// A token as stored (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub tenant: String,
    pub hash: [u8; 32],
    pub created: String,
}

impl Store {
    pub fn insert_token(&self, id: &str, tenant: &str, hash: &[u8; 32]) -> Result<()> {
        let (id, tenant, hash) = (id.to_owned(), tenant.to_owned(), *hash);
        self.write_blocking(move |tx| {
            tx.execute(
                "INSERT INTO tokens (id, tenant, hash, created) VALUES (?1, ?2, ?3, ?4)",
                params![id, tenant, hash.as_slice(), now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// The live (unrevoked) token with this id.
    pub fn live_token(&self, id: &str) -> Result<Option<TokenRow>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, tenant, hash, created FROM tokens WHERE id = ?1 AND revoked IS NULL")?;
            Ok(stmt.query_row([id], token_row).optional()?)
        })
    }

    /// Live tokens, optionally of one tenant, oldest first.
    pub fn live_tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, tenant, hash, created FROM tokens
                 WHERE revoked IS NULL AND (?1 IS NULL OR tenant = ?1) ORDER BY created, id",
            )?;
            let rows = stmt.query_map([tenant], token_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Revoke a token; returns whether a live token had that id.
    pub fn revoke_token(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write_blocking(move |tx| {
            let n = tx.execute(
                "UPDATE tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                params![id, now_rfc3339()],
            )?;
            Ok(n > 0)
        })
    }
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    let hash: Vec<u8> = r.get(2)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Blob, "token hash is not 32 bytes".into())
    })?;
    Ok(TokenRow { id: r.get(0)?, tenant: r.get(1)?, hash, created: r.get(3)? })
}
