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

fn unix_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
