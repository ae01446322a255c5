//! The embedded store: SQLite (WAL) holding every tenant's users, groups and
//! memberships, the token hashes and the provisioning log.
//!
//! One writer thread owns the write connection (see `writer`): every check
//! (uniqueness, `If-Match`, member existence) and the write it guards run in
//! one savepoint of a group-committed transaction, and are acknowledged only
//! after the commit. Async callers await writes; readers come from a small
//! pool, run on the caller's thread, and never wait for the writer.
//!
//! Durability: `synchronous=NORMAL` in WAL mode means a committed transaction
//! survives the process being killed (`kill -9`); it may be lost only if the
//! operating system itself crashes before the WAL reaches the disk.

mod log;
mod resources;
mod target;
mod tokens;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use log::{LogQuery, LogRecord, LogThread, LogWriter};
pub use resources::{IndexedLookup, MemberRef, ResourceKind, StoredResource, etag_matches};
pub use target::{DeletePolicy, ExitPolicy, MatchPolicy, TargetAccount, TargetChange, TargetOutcome, TargetView};
pub use tokens::TokenRow;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A request the IdP made that the data refuses (uniqueness, not found,
    /// stale version, unknown member).
    #[error(transparent)]
    Scim(#[from] scim::ScimError),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("cannot create {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the store's writer has stopped")]
    WriterGone,
    /// The resource changed between the read a pipeline prepared from and
    /// the write (another process wrote it).
    #[error("the resource changed while its write was prepared")]
    Stale,
}

impl StoreError {
    /// The database was busy or locked past its timeout, or the resource
    /// changed under a prepared write: the caller may retry shortly (the
    /// IdP hears 503 with `Retry-After`).
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Stale => true,
            StoreError::Db(rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The most idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;

const SCHEMA_SQL: &str = include_str!("schema.sql");

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: writer::Writer,
    readers: Mutex<Vec<Connection>>,
    _checkpointer: Checkpointer,
}

/// Copies committed WAL pages back into the database file on its own
/// thread. SQLite's default makes whichever commit crosses 1,000 WAL pages
/// copy all of them, with an `fsync`, on the one writer thread: under a
/// write load that was 7–15% of the writer's time. A passive checkpoint
/// here never blocks the writer, but cannot let the log start over while
/// commits keep coming; the writer's own automatic checkpoint, at
/// [`Self::WRITER_CATCH_UP_PAGES`], then copies only what arrived since the
/// last pass here. (A blocking checkpoint from this thread would hold the
/// write lock through the whole copy and `fsync`: commits stalled for
/// seconds.) The thread stops when the store is dropped.
struct Checkpointer {
    _stop: std::sync::mpsc::Sender<()>,
}

impl Checkpointer {
    /// How often a passive checkpoint runs.
    const EVERY: Duration = Duration::from_millis(100);
    /// The WAL length (16 MiB at 4 KiB pages) at which the writer
    /// checkpoints the rest itself.
    const WRITER_CATCH_UP_PAGES: u32 = 4096;

    fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new().name("store-checkpoint".into()).spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::EVERY) {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                }
            }
        })?;
        Ok(Checkpointer { _stop: stop })
    }
}

impl Store {
    /// Open (creating if needed) the database at `path` and bring its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        }
        let conn = open_connection(path)?;
        conn.execute_batch(SCHEMA_SQL)?;
        migrate(&conn)?;
        // The checkpointer thread does the bulk of the checkpointing; the
        // writer's own (SQLite's automatic one) only catches up the last
        // pages when the WAL gets long, so that the log can start over.
        conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {}", Checkpointer::WRITER_CATCH_UP_PAGES))?;
        let checkpointer = Checkpointer::start(open_connection(path)?)
            .map_err(|source| StoreError::Io { path: "store-checkpoint thread".into(), source })?;
        // The thread ends by itself when the last `Store` clone is dropped.
        let (writer, _thread) = writer::Writer::start(conn)
            .map_err(|source| StoreError::Io { path: "store-writer thread".into(), source })?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer,
                readers: Mutex::new(Vec::new()),
                _checkpointer: checkpointer,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` on the writer; its changes stand only if it succeeds, and the
    /// result arrives after they are committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.submit(f).await.map_err(|_| StoreError::WriterGone)?
    }

    /// [`Store::write`] for threads outside the async runtime (the CLI, the
    /// provisioning-log thread). Must not be called from async code.
    fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.submit(f).blocking_recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Run `f` on a pooled read connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = lock(&self.inner.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.inner.path)?,
        };
        let out = f(&conn);
        let mut idle = lock(&self.inner.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// A quick round trip to the database, for readiness checks.
    pub fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}

/// Columns added after a database may already have been created: `CREATE
/// TABLE IF NOT EXISTS` does not add them to an existing table.
fn migrate(conn: &Connection) -> Result<()> {
    add_column_if_missing(conn, "provisioning_log", "detail", "TEXT")?;
    add_column_if_missing(conn, "provisioning_log", "failed_by", "TEXT")
}

fn add_column_if_missing(conn: &Connection, table: &str, column: &str, kind: &str) -> Result<()> {
    let present: bool =
        conn.query_row("SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |r| {
            r.get(0)
        })?;
    if !present {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
    }
    Ok(())
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
    Ok(conn)
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
