//! The store: every tenant's users, groups and memberships, target
//! accounts, links and match keys, token hashes and the provisioning log.
//!
//! Two backends hold it: SQLite (`sqlite`, the embedded default: one file,
//! one writer thread) and PostgreSQL (`pg`: shared by gateway replicas).
//! The logic above them (`resources`, `target`, `tokens`, `log`) is written
//! once against [`sql::Db`] and runs on either.

mod log;
mod pg;
mod positions;
mod replicas;
mod resources;
pub(crate) mod sql;
mod sqlite;
mod target;
mod tokens;
mod transfer;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(test)]
pub(crate) use log::test_record;
pub use log::{LogQuery, LogRecord, LogThread, LogWriter};
pub use resources::{IndexedLookup, MemberRef, ResourceKind, StoredResource, etag_matches};
pub use target::{DeletePolicy, ExitPolicy, MatchPolicy, TargetAccount, TargetChange, TargetOutcome, TargetView};
pub use tokens::TokenRow;
pub use transfer::{TableCount, copy_sqlite_to};

use sql::Db;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A request the IdP made that the data refuses (uniqueness, not found,
    /// stale version, unknown member).
    #[error(transparent)]
    Scim(#[from] scim::ScimError),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", postgres_message(.0))]
    Postgres(postgres::Error),
    #[error("cannot create {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the store's writer has stopped")]
    WriterGone,
    /// The resource changed between the read a pipeline prepared from and
    /// the write (another request, process or replica wrote it).
    #[error("the resource changed while its write was prepared")]
    Stale,
    #[error("{0}")]
    Transfer(String),
}

/// The server's own message (`postgres::Error`'s display is only "db error").
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl StoreError {
    /// The database was busy or locked past its timeout, unreachable for a
    /// moment, or the resource changed under a prepared write: the caller
    /// may retry shortly (the IdP hears 503 with `Retry-After`).
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Stale | StoreError::WriterGone => true,
            StoreError::Db(rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            StoreError::Postgres(e) => pg::is_transient(e),
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the store lives: `[store] path` or `[store] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres {
        url: String,
        /// Connections (and threads) this process keeps.
        pool: usize,
    },
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    /// Storage-order positions, for the embedded store only (see `positions`).
    positions: Option<Arc<positions::Positions>>,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(pg::Postgres),
}

impl Store {
    /// Open (creating if needed) the SQLite database at `path` and bring
    /// its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let backend = Arc::new(Backend::Sqlite(sqlite::Sqlite::open(path)?));
        Ok(Store { backend, positions: Some(Arc::default()) })
    }

    /// Connect to PostgreSQL with `pool` connections and bring its schema
    /// up to date (one replica at a time).
    pub fn connect(url: &str, pool: usize) -> Result<Store> {
        Ok(Store { backend: Arc::new(Backend::Postgres(pg::Postgres::connect(url, pool)?)), positions: None })
    }

    pub fn open_location(location: &Location) -> Result<Store> {
        match location {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres { url, pool } => Store::connect(url, *pool),
        }
    }

    /// The file path or the URL (password masked), for messages.
    pub fn describe(&self) -> String {
        match &*self.backend {
            Backend::Sqlite(s) => s.path().display().to_string(),
            Backend::Postgres(p) => p.shown().to_owned(),
        }
    }

    /// Whether replicas may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(&*self.backend, Backend::Postgres(_))
    }

    /// Run `f` in a write transaction; its changes stand only if it
    /// succeeds, and the result arrives after they are committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.write(f).await,
            Backend::Postgres(p) => p.write(f).await,
        }
    }

    /// [`Store::write`], then `committed` on its result once it is
    /// committed. On SQLite that runs on the writer thread, so a request
    /// dropped while it waits (the client hung up) does not skip it.
    async fn write_then<T, F>(&self, f: F, committed: impl FnOnce(&T) + Send + 'static) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.write_then(f, committed).await,
            Backend::Postgres(p) => {
                let value = p.write(f).await?;
                committed(&value);
                Ok(value)
            }
        }
    }

    /// [`Store::write`] for threads outside the async runtime (the CLI, the
    /// provisioning-log thread). Must not be called from async code.
    fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.write_blocking(f),
            Backend::Postgres(p) => p.write_blocking(f),
        }
    }

    /// Run `f` on a read connection: on this thread for SQLite (a local
    /// file read never waits long), on a pool connection for PostgreSQL.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.read(f),
            Backend::Postgres(p) => p.read(f).await,
        }
    }

    /// [`Store::read`] outside the async runtime.
    fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(s) => s.read(f),
            Backend::Postgres(p) => p.read_blocking(f),
        }
    }

    /// The SQLite backend, for tests of SQLite's own behaviour.
    #[cfg(test)]
    fn sqlite(&self) -> &sqlite::Sqlite {
        match &*self.backend {
            Backend::Sqlite(s) => s,
            Backend::Postgres(_) => panic!("not a SQLite store"),
        }
    }

    /// A quick round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        self.read(|c| c.query_one("SELECT 1", &[]).map(drop)).await
    }
}

/// A poisoned lock only means another thread panicked while holding it; a
/// SQLite connection stays consistent (its transaction rolled back on drop).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Now, as SCIM's `dateTime` (RFC 3339, UTC, milliseconds).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}
