//! Writes of one resource take turns.
//!
//! A write reads the current version, runs the pipeline on the new
//! document and calls the target before it commits. Two such writes of one
//! resource racing would both call the target (an upstream POST sent twice
//! for a user entering scope), and a retry after a lost race would send its
//! call again. Holding the resource's turn from the read to the commit makes
//! each write see the one before it, so no write is ever prepared twice.
//!
//! The turns are per process: replicas sharing a database also need the
//! database to fence writes by version (the commit refuses a stale one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

use crate::store::ResourceKind;

/// Past this many remembered resources, entries no writer holds are dropped.
const PRUNE_AT: usize = 4096;

type Key = (String, ResourceKind, String);

#[derive(Default)]
pub(super) struct ResourceTurns {
    live: Mutex<HashMap<Key, Weak<TurnLock<()>>>>,
}

/// The turn of one resource; the next writer goes when it is dropped.
pub(super) struct Turn {
    _guard: OwnedMutexGuard<()>,
}

impl ResourceTurns {
    /// Wait for the turn to write `tenant`'s `kind` `id`.
    pub(super) async fn take(&self, tenant: &str, kind: ResourceKind, id: &str) -> Turn {
        let lock = {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            let key = (tenant.to_owned(), kind, id.to_owned());
            match live.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    if live.len() >= PRUNE_AT {
                        live.retain(|_, w| w.strong_count() > 0);
                    }
                    let lock = Arc::new(TurnLock::new(()));
                    live.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        Turn { _guard: lock.lock_owned().await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_resource_takes_turns_and_others_do_not_wait() {
        let turns = Arc::new(ResourceTurns::default());
        let first = turns.take("t", ResourceKind::User, "a").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move { turns.take("t", ResourceKind::User, "a").await })
        };
        // Another resource, or the same id of another tenant, goes at once.
        tokio::time::timeout(Duration::from_millis(100), turns.take("t", ResourceKind::User, "b")).await.unwrap();
        tokio::time::timeout(Duration::from_millis(100), turns.take("u", ResourceKind::User, "a")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the second writer of a waits for the first");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn entries_nobody_holds_are_pruned() {
        let turns = ResourceTurns::default();
        for i in 0..PRUNE_AT + 10 {
            drop(turns.take("t", ResourceKind::User, &i.to_string()).await);
        }
        assert!(turns.live.lock().unwrap().len() <= PRUNE_AT);
    }
}
