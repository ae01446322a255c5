//! The embedded backend: one SQLite file in WAL mode.
//!
//! One writer thread owns the write connection (see `writer`): every check
//! (uniqueness, `If-Match`, member existence) and the write it guards run in
//! one savepoint of a group-committed transaction, and are acknowledged only
//! after the commit. Readers come from a small pool, run on the caller's
//! thread, and never wait for the writer.
//!
//! Durability: `synchronous=NORMAL` in WAL mode means a committed transaction
//! survives the process being killed (`kill -9`); it may be lost only if the
//! operating system itself crashes before the WAL reaches the disk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

use super::sql::{Arg, Cell, Db, Dialect, Row};
use super::writer::Writer;
use super::{Result, StoreError, lock};

/// The most idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;

const SCHEMA_SQL: &str = include_str!("schema.sql");

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

pub(super) struct Sqlite {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    _checkpointer: Checkpointer,
}

impl Sqlite {
    /// Open (creating if needed) the database at `path` and bring its schema
    /// up to date.
    pub(super) fn open(path: &Path) -> Result<Sqlite> {
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
        let (writer, _thread) =
            Writer::start(conn).map_err(|source| StoreError::Io { path: "store-writer thread".into(), source })?;
        Ok(Sqlite { path: path.to_owned(), writer, readers: Mutex::new(Vec::new()), _checkpointer: checkpointer })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.writer.submit(f).await.map_err(|_| StoreError::WriterGone)?
    }

    /// [`Sqlite::write`], with `committed` run after the commit (see
    /// [`Writer::submit_then`]).
    pub(super) async fn write_then<T, F>(&self, f: F, committed: impl FnOnce(&T) + Send + 'static) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.writer.submit_then(f, committed).await.map_err(|_| StoreError::WriterGone)?
    }

    pub(super) fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.writer.submit(f).blocking_recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Run `f` on a pooled read connection, on this thread.
    pub(super) fn read<T>(&self, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        let out = f(&conn);
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }
}

#[cfg(test)]
impl Sqlite {
    /// A pooled read connection itself, for tests of SQLite's behaviour.
    pub(super) fn raw_read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.readers).pop().map_or_else(|| open_connection(&self.path), Ok)?;
        let out = f(&conn);
        lock(&self.readers).push(conn);
        out
    }

    pub(super) fn raw_write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.writer.submit_raw(f).blocking_recv().map_err(|_| StoreError::WriterGone)?
    }
}

impl Db for Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let n = self.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args)).map_err(refusal)?;
        Ok(n as u64)
    }

    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let mut stmt = self.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(refusal)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(refusal)? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Text(v.to_string()),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Null => ValueRef::Null,
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// A uniqueness or reference constraint the data refused: the IdP's error,
/// as on PostgreSQL (the store's own checks normally answer first).
fn refusal(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, message)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Scim(scim::ScimError::uniqueness(format!(
                "already taken ({})",
                message.as_deref().unwrap_or("a unique constraint")
            )))
        }
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            StoreError::Scim(scim::ScimError::invalid_value("a referenced resource does not exist"))
        }
        _ => StoreError::Db(e),
    }
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

/// Columns added after a database may already have been created: `CREATE
/// TABLE IF NOT EXISTS` does not add them to an existing table.
fn migrate(conn: &Connection) -> Result<()> {
    add_column_if_missing(conn, "provisioning_log", "detail", "TEXT")?;
    add_column_if_missing(conn, "provisioning_log", "failed_by", "TEXT")?;
    add_column_if_missing(conn, "provisioning_log", "trace", "TEXT")
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
    // Every statement the store runs stays prepared (the default keeps 16).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
    Ok(conn)
}
