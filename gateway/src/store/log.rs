//! The provisioning log: one record per SCIM request, appended by a
//! background thread in batches so that reads never wait on a log write.
//!
//! A record carries the request's `trace` ([`crate::trace`]): what each
//! stage decided, kept as JSON text in the `trace` column. Listings leave
//! it out (it is the bulk of a record); one record by seq, and the records
//! after a seq (a live tail catching up), read it.
//!
//! Once a batch is committed, the writer thread publishes its records,
//! seq and all, on a broadcast channel ([`LogWriter::subscribe`]): the
//! admin API's live tail. Only this process's records pass there; a
//! subscriber that fell behind, or resumes, reads the store by seq.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use super::sql::{Arg, Row, args};
use super::{Result, Store, StoreError};
use crate::trace::Stage;

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
    /// What the request went through, stage by stage; `None` when it went
    /// through no stage (reads from the store, discovery, refusals before
    /// routing), and in listings, which leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Vec<Stage>>,
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
/// Written records a live tail may lag behind before it reads the store.
const PUBLISHED: usize = 1024;

// `Stop` is sent once per process; boxing every record to shrink it is not worth it.
#[allow(clippy::large_enum_variant)]
enum Message {
    Record(LogRecord),
    /// Write what came before, then stop.
    Stop,
}

/// The sending side of the log, and where written records are announced.
#[derive(Clone)]
pub struct LogWriter {
    tx: SyncSender<Message>,
    published: broadcast::Sender<Arc<LogRecord>>,
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
        let (published, _) = broadcast::channel(PUBLISHED);
        let (store, publish) = (store.clone(), published.clone());
        let handle = std::thread::Builder::new()
            .name("provisioning-log".into())
            .spawn(move || write_loop(&store, &rx, &publish))
            .map_err(|source| StoreError::Io { path: "provisioning-log thread".into(), source })?;
        Ok((LogWriter { tx: tx.clone(), published }, LogThread { handle, tx }))
    }

    /// The records written from now on, in seq order, as they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogRecord>> {
        self.published.subscribe()
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

fn write_loop(store: &Store, rx: &Receiver<Message>, publish: &broadcast::Sender<Arc<LogRecord>>) {
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
        match store.insert_log(batch) {
            // No subscriber is no error.
            Ok(written) => written.into_iter().for_each(|r| drop(publish.send(Arc::new(r)))),
            Err(e) => tracing::error!(error = %e, records, "cannot write provisioning log"),
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
    /// handful of distinct statements. The records come back with their seq.
    fn insert_log(&self, records: Vec<LogRecord>) -> Result<Vec<LogRecord>> {
        self.write_blocking(move |tx| {
            let mut records = records;
            let traces: Vec<Option<String>> =
                records.iter().map(|r| r.trace.as_ref().and_then(|t| serde_json::to_string(t).ok())).collect();
            let mut start = 0;
            while start < records.len() {
                let rows = LOG_ROWS_PER_INSERT.min(1 << (records.len() - start).ilog2());
                let chunk = &records[start..start + rows];
                let args: Vec<Arg<'_>> = chunk
                    .iter()
                    .zip(&traces[start..start + rows])
                    .flat_map(|(r, trace)| {
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
                            Arg::from(trace),
                        ]
                    })
                    .collect();
                // One statement gives its rows ascending seqs in VALUES order
                // (RETURNING lists them in no promised order).
                let mut seqs =
                    tx.query(&insert_log_sql(rows), &args)?.iter().map(|r| r.int(0)).collect::<Result<Vec<_>>>()?;
                seqs.sort_unstable();
                if seqs.len() != rows {
                    return Err(StoreError::Corrupt(format!("{} seqs for {rows} log records", seqs.len())));
                }
                for (record, seq) in records[start..start + rows].iter_mut().zip(seqs) {
                    record.seq = seq;
                }
                start += rows;
            }
            Ok(records)
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

    /// `tenant`'s record `seq`, with its trace.
    pub async fn log_record(&self, tenant: &str, seq: i64) -> Result<Option<LogRecord>> {
        let tenant = tenant.to_owned();
        self.read(move |c| {
            let sql = format!("SELECT {COLUMNS}, trace FROM provisioning_log WHERE tenant = ?1 AND seq = ?2");
            c.query_opt(&sql, args![&tenant, seq])?.map(|row| record_of(&row, true)).transpose()
        })
        .await
    }

    /// Up to `limit` of `tenant`'s records after `seq`, oldest first, with
    /// their traces.
    pub async fn log_after(&self, tenant: &str, seq: i64, limit: usize) -> Result<Vec<LogRecord>> {
        let tenant = tenant.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT {COLUMNS}, trace FROM provisioning_log WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            );
            c.query(&sql, args![&tenant, seq, limit as i64])?.iter().map(|row| record_of(row, true)).collect()
        })
        .await
    }
}

/// The most records one `INSERT` writes (13 arguments each).
const LOG_ROWS_PER_INSERT: usize = 256;
const LOG_INSERT_ARGS: usize = 13;

/// `INSERT INTO provisioning_log … VALUES (…), (…) RETURNING seq` for `rows` records.
fn insert_log_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * LOG_INSERT_ARGS + 1;
            let params: Vec<String> = (first..first + LOG_INSERT_ARGS).map(|n| format!("?{n}")).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO provisioning_log (time, tenant, operation, resource_type, resource_id, outcome, status,
                                       duration_us, error, request_id, detail, failed_by, trace)
         VALUES {}
         RETURNING seq",
        values.join(", ")
    )
}

/// A record's columns but its trace, in [`record_of`]'s order.
const COLUMNS: &str = "time, tenant, operation, resource_type, resource_id, outcome, status, duration_us, error, request_id, detail, seq, failed_by";

fn record_of(r: &Row, with_trace: bool) -> Result<LogRecord> {
    let trace = if with_trace {
        r.opt_text(13)?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("a provisioning-log trace: {e}")))?
    } else {
        None
    };
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
        trace,
    })
}

fn read_log(c: &dyn super::sql::Db, query: &LogQuery) -> Result<Vec<LogRecord>> {
    let rows = c.query(
        &format!(
            "SELECT {COLUMNS}
             FROM provisioning_log
             WHERE tenant = ?1 AND seq < coalesce(?3, 9223372036854775807)
               AND (CAST(?4 AS TEXT) IS NULL OR resource_id = ?4) AND (CAST(?5 AS TEXT) IS NULL OR operation = ?5)
               AND (CAST(?6 AS TEXT) IS NULL OR outcome = ?6) AND (CAST(?7 AS TEXT) IS NULL OR time >= ?7) AND (CAST(?8 AS TEXT) IS NULL OR time <= ?8)
             ORDER BY seq DESC LIMIT ?2"
        ),
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
    rows.iter().map(|r| record_of(r, false)).collect()
}

/// A log record for tests: `tenant`'s create of user `u1`, with `trace`.
#[cfg(test)]
pub(crate) fn test_record(tenant: &str, trace: Option<Vec<Stage>>) -> LogRecord {
    LogRecord {
        seq: 0,
        time: crate::store::now_rfc3339(),
        tenant: tenant.into(),
        operation: "create".into(),
        resource_type: Some("User".into()),
        resource_id: Some("u1".into()),
        outcome: "ok".into(),
        status: 201,
        duration_ms: 1.5,
        error: None,
        failed_by: None,
        request_id: Some("r1".into()),
        detail: None,
        trace,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn written_records_are_published_with_their_seq_and_read_back_with_their_trace() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("log.db")).unwrap();
        let (log, thread) = LogWriter::start(&store).unwrap();
        let mut published = log.subscribe();
        let trace = vec![Stage::new("store", json!({"outcome": "created"})).took(Duration::from_micros(1500))];
        log.append(test_record("acme", Some(trace.clone())));
        log.append(test_record("globex", None));
        log.append(test_record("acme", None));
        thread.join();

        let sent: Vec<Arc<LogRecord>> = (0..3).map(|_| published.try_recv().unwrap()).collect();
        assert!(sent[0].seq > 0 && sent[0].seq < sent[1].seq && sent[1].seq < sent[2].seq, "{sent:?}");
        assert_eq!(sent[0].trace.as_ref(), Some(&trace));

        let read = store.log_record("acme", sent[0].seq).await.unwrap().unwrap();
        assert_eq!(read, *sent[0]);
        assert_eq!(store.log_record("globex", sent[0].seq).await.unwrap(), None, "another tenant's");
        let after: Vec<i64> = store.log_after("acme", sent[0].seq, 10).await.unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(after, [sent[2].seq]);
        let listed = store.recent_log(&LogQuery { tenant: "acme".into(), limit: 10, ..LogQuery::default() }).await;
        assert!(listed.unwrap().iter().all(|r| r.trace.is_none()), "listings leave traces out");
    }

    #[test]
    fn a_log_table_from_before_traces_gains_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        // The table as the previous release made it.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE provisioning_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
                 tenant TEXT NOT NULL, operation TEXT NOT NULL, resource_type TEXT, resource_id TEXT,
                 outcome TEXT NOT NULL, status INTEGER NOT NULL, duration_us INTEGER NOT NULL, error TEXT,
                 request_id TEXT, detail TEXT, failed_by TEXT)",
            )
            .unwrap();
        let store = Store::open(&path).unwrap();
        let written = store.insert_log(vec![test_record("acme", Some(vec![Stage::new("store", json!({}))]))]).unwrap();
        assert!(written[0].seq > 0);
    }
}
