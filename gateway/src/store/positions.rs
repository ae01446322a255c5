//! Where each resource sits in storage order, per tenant and kind, kept in
//! memory for the embedded store: a list page at `startIndex` 100,000 is
//! then one index seek (`seq >= S LIMIT n`) and its `totalResults` a length,
//! instead of a count and an `OFFSET` walk over every row before it.
//!
//! Only the embedded store keeps positions: its one `serve` process does
//! every write, so it sees every insert and delete (replicas need
//! PostgreSQL; two gateways serving one SQLite file would each miss the
//! other's creates in their pages and counts). Replicas on PostgreSQL see
//! each other's writes only through the database, and page with SQL.
//!
//! A tenant's positions are loaded on its first plain list and then follow
//! each committed insert and delete. A load races with writes that commit
//! while it reads; it is kept only if no write to that tenant and kind
//! happened since it started (a version counter says), and a write's update
//! is idempotent (a seq present once at most), so a row the load already saw
//! is not counted twice.

use std::collections::HashMap;
use std::sync::Mutex;

use super::ResourceKind;

/// One tenant and kind.
type Key = (String, ResourceKind);

#[derive(Default)]
pub(super) struct Positions {
    inner: Mutex<HashMap<Key, Entry>>,
}

#[derive(Default)]
struct Entry {
    /// Bumped by every write; a load that started at another version is
    /// discarded.
    version: u64,
    /// The `seq` of every resource, ascending; `None` until loaded.
    seqs: Option<Vec<i64>>,
}

/// What a page needs to know.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Slot {
    /// How many resources there are.
    pub total: usize,
    /// The `seq` of the resource at the page's offset; `None` past the end.
    pub first_seq: Option<i64>,
}

impl Positions {
    /// The page at `offset`, if the positions are loaded; else the version a
    /// load must start from ([`Positions::install`]).
    pub fn slot(&self, tenant: &str, kind: ResourceKind, offset: usize) -> Result<Slot, u64> {
        let mut inner = self.lock();
        let entry = inner.entry((tenant.to_owned(), kind)).or_default();
        match &entry.seqs {
            Some(seqs) => Ok(Slot { total: seqs.len(), first_seq: seqs.get(offset).copied() }),
            None => Err(entry.version),
        }
    }

    /// Keep `seqs` (ascending, read after [`Positions::slot`] answered
    /// `version`) unless a write came in between.
    pub fn install(&self, tenant: &str, kind: ResourceKind, version: u64, seqs: Vec<i64>) {
        let mut inner = self.lock();
        let entry = inner.entry((tenant.to_owned(), kind)).or_default();
        if entry.version == version {
            entry.seqs = Some(seqs);
        }
    }

    /// A resource was inserted (its transaction committed).
    pub fn inserted(&self, tenant: &str, kind: ResourceKind, seq: i64) {
        self.update(tenant, kind, |seqs| {
            // Commits from concurrent requests can report out of order.
            if let Err(at) = seqs.binary_search(&seq) {
                seqs.insert(at, seq);
            }
        });
    }

    /// A resource was deleted (its transaction committed).
    pub fn removed(&self, tenant: &str, kind: ResourceKind, seq: i64) {
        self.update(tenant, kind, |seqs| {
            if let Ok(at) = seqs.binary_search(&seq) {
                seqs.remove(at);
            }
        });
    }

    fn update(&self, tenant: &str, kind: ResourceKind, change: impl FnOnce(&mut Vec<i64>)) {
        let mut inner = self.lock();
        let entry = inner.entry((tenant.to_owned(), kind)).or_default();
        entry.version += 1;
        if let Some(seqs) = &mut entry.seqs {
            change(seqs);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: ResourceKind = ResourceKind::User;

    #[test]
    fn a_loaded_tenant_answers_pages_and_follows_writes() {
        let p = Positions::default();
        let version = p.slot("t", U, 0).unwrap_err();
        p.install("t", U, version, vec![1, 2, 5]);
        assert_eq!(p.slot("t", U, 2), Ok(Slot { total: 3, first_seq: Some(5) }));
        assert_eq!(p.slot("t", U, 3), Ok(Slot { total: 3, first_seq: None }));
        p.inserted("t", U, 7);
        p.inserted("t", U, 6);
        p.inserted("t", U, 7);
        p.removed("t", U, 2);
        p.removed("t", U, 2);
        assert_eq!(p.slot("t", U, 1), Ok(Slot { total: 4, first_seq: Some(5) }));
        assert_eq!(p.slot("t", U, 3), Ok(Slot { total: 4, first_seq: Some(7) }));
        // Other tenants and kinds are apart.
        assert!(p.slot("u", U, 0).is_err());
        assert!(p.slot("t", ResourceKind::Group, 0).is_err());
    }

    #[test]
    fn a_load_that_raced_a_write_is_discarded() {
        let p = Positions::default();
        let version = p.slot("t", U, 0).unwrap_err();
        p.inserted("t", U, 9);
        p.install("t", U, version, vec![1, 2]);
        let again = p.slot("t", U, 0).unwrap_err();
        assert_ne!(again, version);
        p.install("t", U, again, vec![1, 2, 9]);
        assert_eq!(p.slot("t", U, 0), Ok(Slot { total: 3, first_seq: Some(1) }));
    }
}
