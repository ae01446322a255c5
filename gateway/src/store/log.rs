//! The provisioning log: one record per SCIM request, appended by a
//! background thread in batches so that reads never wait on a log write.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::sql::{Arg, args};
use super::{Result, Store};

/// One provisioning-log record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    /// Position in the log (0 until written); pages go backwards from it.
    pub seq: i64,
    pub time: String,
    pub tenant: String,
    /// create, get, list, search, replace, patch, delete, bulk or config
    /// (a bulk's operations have a record each, under its request id).
    pub operation: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// `ok` for 2xx/3xx, else `error`; for writes the pipeline shaped:
    /// `linked`, `out_of_scope`, `deactivated` or `deleted` (in the target).
    pub outcome: String,
    pub status: u16,
    pub duration_ms: f64,
    pub error: Option<String>,
    /// Who failed (`client`, `step`, `upstream`, `store`, `gateway`), for errors.
    pub failed_by: Option<String>,
    pub request_id: Option<String>,
    /// What the pipeline decided: out of scope and why, linked, events that failed.
    pub detail: Option<String>,
}

/// Filters for reading the log back: one tenant, newest first; every other
/// filter is optional.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub tenant: String,
    pub limit: usize,
    pub resource_id: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    /// RFC 3339 times, inclusive.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Only records older than this `seq` (the next page).
    pub before: Option<i64>,
}

/// Records waiting beyond this are dropped (and counted in a warning) rather
/// than letting a slow disk stall request handling.
const QUEUE_CAPACITY: usize = 65_536;
const BATCH: usize = 4096;
/// How long records gather before a batch is written.
const GATHER: Duration = Duration::from_millis(10);

// `Stop` is sent once per process; boxing every record to shrink it is not worth it.
#[allow(clippy::large_enum_variant)]
enum Message {
    Record(LogRecord),
    /// Write what came before, then stop.
    Stop,
}

/// The sending side of the log.
#[derive(Clone)]
pub struct LogWriter {
    tx: SyncSender<Message>,
}

/// Owns the writer thread.
pub struct LogThread {
    handle: JoinHandle<()>,
    tx: SyncSender<Message>,
}

impl LogWriter {
    /// Start the writer thread on its own connection.
    pub fn start(store: &Store) -> Result<(LogWriter, LogThread)> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let store = store.clone();
        let handle = std::thread::Builder::new()
            .name("provisioning-log".into())
            .spawn(move || write_loop(&store, &rx))
            .map_err(|source| super::StoreError::Io { path: "provisioning-log thread".into(), source })?;
        Ok((LogWriter { tx: tx.clone() }, LogThread { handle, tx }))
    }

    /// Queue a record; never blocks the request.
    pub fn append(&self, record: LogRecord) {
        match self.tx.try_send(Message::Record(record)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => tracing::warn!("provisioning log queue full; record dropped"),
        }
    }
}

impl LogThread {
    /// Write every record queued so far, then stop the thread. Records
    /// appended afterwards are dropped.
    pub fn join(self) {
        let _ = self.tx.send(Message::Stop);
        if self.handle.join().is_err() {
            tracing::error!("provisioning log thread panicked");
        }
    }
}

fn write_loop(store: &Store, rx: &Receiver<Message>) {
    loop {
        // Block for the first record, then let more gather for a moment:
        // one wake-up and one transaction per batch, not per request.
        let mut batch = match rx.recv() {
            Ok(Message::Record(r)) => vec![r],
            Ok(Message::Stop) | Err(_) => return,
        };
        std::thread::sleep(GATHER);
        let mut stopping = false;
        for message in rx.try_iter().take(BATCH) {
            match message {
                Message::Record(r) => batch.push(r),
                Message::Stop => {
                    stopping = true;
                    break;
                }
            }
        }
        let records = batch.len();
        if let Err(e) = store.insert_log(batch) {
            tracing::error!(error = %e, records, "cannot write provisioning log");
        }
        if stopping {
            return;
        }
    }
}

impl Store {
    /// One statement per chunk of records, not per record: on PostgreSQL
    /// each statement is a round trip. Chunks are powers of two up to
    /// [`LOG_ROWS_PER_INSERT`], so that a connection prepares at most a
    /// handful of distinct statements.
    fn insert_log(&self, records: Vec<LogRecord>) -> Result<()> {
        self.write_blocking(move |tx| {
            let mut rest = &records[..];
            while !rest.is_empty() {
                let rows = LOG_ROWS_PER_INSERT.min(1 << rest.len().ilog2());
                let (chunk, after) = rest.split_at(rows);
                let args: Vec<Arg<'_>> = chunk
                    .iter()
                    .flat_map(|r| {
                        [
                            Arg::from(&r.time),
                            Arg::from(&r.tenant),
                            Arg::from(&r.operation),
                            Arg::from(&r.resource_type),
                            Arg::from(&r.resource_id),
                            Arg::from(&r.outcome),
                            Arg::Int(i64::from(r.status)),
                            Arg::Int((r.duration_ms * 1000.0) as i64),
                            Arg::from(&r.error),
                            Arg::from(&r.request_id),
                            Arg::from(&r.detail),
                            Arg::from(&r.failed_by),
                        ]
                    })
                    .collect();
                tx.execute(&insert_log_sql(rows), &args)?;
                rest = after;
            }
            Ok(())
        })
    }

    /// A tenant's records matching `query`, newest first.
    pub async fn recent_log(&self, query: &LogQuery) -> Result<Vec<LogRecord>> {
        let query = query.clone();
        self.read(move |c| read_log(c, &query)).await
    }

    /// [`Store::recent_log`] outside the async runtime (the CLI).
    pub fn recent_log_blocking(&self, query: &LogQuery) -> Result<Vec<LogRecord>> {
        let query = query.clone();
        self.read_blocking(move |c| read_log(c, &query))
    }
}

/// The most records one `INSERT` writes (12 arguments each).
const LOG_ROWS_PER_INSERT: usize = 256;

/// `INSERT INTO provisioning_log … VALUES (…), (…)` for `rows` records.
fn insert_log_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * 12 + 1;
            let params: Vec<String> = (first..first + 12).map(|n| format!("?{n}")).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO provisioning_log (time, tenant, operation, resource_type, resource_id, outcome, status,
                                       duration_us, error, request_id, detail, failed_by)
         VALUES {}",
        values.join(", ")
    )
}

fn read_log(c: &dyn super::sql::Db, query: &LogQuery) -> Result<Vec<LogRecord>> {
    let rows = c.query(
        "SELECT time, tenant, operation, resource_type, resource_id, outcome, status, duration_us, error, request_id,
                detail, seq, failed_by
         FROM provisioning_log
         WHERE tenant = ?1 AND seq < coalesce(?3, 9223372036854775807)
           AND (CAST(?4 AS TEXT) IS NULL OR resource_id = ?4) AND (CAST(?5 AS TEXT) IS NULL OR operation = ?5)
           AND (CAST(?6 AS TEXT) IS NULL OR outcome = ?6) AND (CAST(?7 AS TEXT) IS NULL OR time >= ?7) AND (CAST(?8 AS TEXT) IS NULL OR time <= ?8)
         ORDER BY seq DESC LIMIT ?2",
        args![
            &query.tenant,
            query.limit as i64,
            query.before,
            &query.resource_id,
            &query.operation,
            &query.outcome,
            &query.since,
            &query.until
        ],
    )?;
    rows.into_iter()
        .map(|r| {
            Ok(LogRecord {
                time: r.text(0)?,
                tenant: r.text(1)?,
                operation: r.text(2)?,
                resource_type: r.opt_text(3)?,
                resource_id: r.opt_text(4)?,
                outcome: r.text(5)?,
                status: u16::try_from(r.int(6)?).unwrap_or(0),
                duration_ms: r.int(7)? as f64 / 1000.0,
                error: r.opt_text(8)?,
                request_id: r.opt_text(9)?,
                detail: r.opt_text(10)?,
                seq: r.int(11)?,
                failed_by: r.opt_text(12)?,
            })
        })
        .collect()
}
