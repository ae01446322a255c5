//! Replica presence: each gateway process on a shared store writes a
//! heartbeat row; the live rows say how many replicas share the work.

use super::sql::args;
use super::{Result, Store};

impl Store {
    /// Record that replica `id` is alive now, forget replicas silent for
    /// `forget_after_ms`, and count those seen within `alive_within_ms`
    /// (this one included).
    pub async fn heartbeat(&self, id: &str, alive_within_ms: i64, forget_after_ms: i64) -> Result<usize> {
        let id = id.to_owned();
        self.write(move |tx| {
            let now = unix_ms();
            tx.execute(
                "INSERT INTO replicas (id, last_seen) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
                args![&id, now],
            )?;
            tx.execute("DELETE FROM replicas WHERE last_seen < ?1", args![now - forget_after_ms])?;
            let alive =
                tx.query_one("SELECT count(*) FROM replicas WHERE last_seen >= ?1", args![now - alive_within_ms])?;
            Ok(alive.int(0)? as usize)
        })
        .await
    }

    /// Replica `id` stops: the others take its share at their next beat.
    pub async fn leave(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| tx.execute("DELETE FROM replicas WHERE id = ?1", args![&id]).map(drop)).await
    }
}

/// Tables whose plans go wrong without statistics.
const ANALYZED: &[&str] = &["resources", "emails", "memberships", "links", "target_accounts", "target_keys"];

/// Rows at which a never-analyzed table is analyzed now.
const ANALYZE_AT_ROWS: i64 = 1000;

impl Store {
    /// On PostgreSQL, `ANALYZE` the tables that have grown past a thousand
    /// rows without ever being analyzed; the names of those it analyzed.
    ///
    /// Why: without statistics the planner takes `tenant` and `kind` for
    /// rare values and may read a user by id through the narrower paging
    /// index, filtering every row of the tenant (GET by id fell from 14k/s
    /// to 470/s at 20k users). Autovacuum analyzes a table only a minute or
    /// more after it grows, and an IdP's first cycle fills it sooner.
    pub async fn analyze_new_tables(&self) -> Result<Vec<String>> {
        if !self.is_shared() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let mut analyzed = Vec::new();
            for table in ANALYZED {
                let grown = c
                    .query_opt(
                        "SELECT 1 FROM pg_stat_user_tables WHERE relname = ?1 AND last_analyze IS NULL
                           AND last_autoanalyze IS NULL AND n_live_tup + n_mod_since_analyze >= ?2",
                        args![*table, ANALYZE_AT_ROWS],
                    )?
                    .is_some();
                if grown {
                    c.execute(&format!("ANALYZE {table}"), &[])?;
                    analyzed.push((*table).to_owned());
                }
            }
            Ok(analyzed)
        })
        .await
    }
}

fn unix_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
