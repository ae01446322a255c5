//! The single writer: one thread owns the write connection and commits
//! queued writes in groups.
//!
//! SQLite admits one writer at a time, and most of a small write's cost is
//! the commit (WAL frames for every page it touched). Writes that queue up
//! while a commit is under way are therefore run together in the next
//! transaction, each inside its own savepoint: one write's failure (a
//! uniqueness conflict, say) rolls back only that write, and every write in
//! the group is acknowledged only after the group's commit.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::sql::Db;
use super::{Result, StoreError};

/// The most writes committed together.
const MAX_GROUP: usize = 256;

/// What a queued write hands back once it has run: a function that delivers
/// its result, told whether the group's commit failed.
type Delivery = Box<dyn FnOnce(Option<&str>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Delivery + Send>;

/// The sending side; cheap to clone. The thread stops when the last clone
/// is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new().name("store-writer".into()).spawn(move || run(conn, &rx))?;
        Ok((Writer { jobs }, handle))
    }

    /// Queue `f` to run in a write transaction; the receiver yields its
    /// result after the commit.
    pub(super) fn submit<T, F>(&self, f: F) -> oneshot::Receiver<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.submit_then(f, |_| {})
    }

    /// [`Writer::submit`], and `committed` runs on the writer thread once the
    /// write's success is committed, whether or not anyone still waits for
    /// the result: what must follow every committed write cannot be lost to
    /// a dropped request.
    pub(super) fn submit_then<T, F>(
        &self,
        f: F,
        committed: impl FnOnce(&T) + Send + 'static,
    ) -> oneshot::Receiver<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        let (done, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: &Connection| {
            let outcome = in_savepoint(conn, |c| f(c));
            Box::new(move |commit_error: Option<&str>| {
                let result = match commit_error {
                    Some(e) if outcome.is_ok() => Err(StoreError::Commit(e.to_owned())),
                    _ => outcome,
                };
                if let Ok(value) = &result {
                    committed(value);
                }
                // The waiter may have gone (client hung up); the write stands.
                let _ = done.send(result);
            })
        });
        // If the writer thread is gone the job is dropped unrun, and with it
        // the result channel: the waiter sees `WriterGone`.
        let _ = self.jobs.send(job);
        rx
    }
}

#[cfg(test)]
impl Writer {
    /// The write connection itself, for tests of SQLite's own behaviour.
    pub(super) fn submit_raw<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> oneshot::Receiver<Result<T>> {
        let (done, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: &Connection| {
            let outcome = f(conn);
            Box::new(move |_: Option<&str>| {
                let _ = done.send(outcome);
            })
        });
        let _ = self.jobs.send(job);
        rx
    }
}

/// Run `f` so that its failure undoes only its own changes.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT write")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE write")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO write; RELEASE write")?;
            Err(e)
        }
    }
}

fn run(conn: Connection, rx: &Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let group: Vec<Job> = std::iter::once(first).chain(rx.try_iter().take(MAX_GROUP - 1)).collect();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping a job unrun drops its result channel: each waiter
            // gets `StoreError::WriterGone` and the IdP a 503 to retry.
            tracing::error!(error = %e, writes = group.len(), "cannot begin a write transaction");
            drop(group);
            continue;
        }
        let deliveries: Vec<Delivery> = group.into_iter().map(|job| job(&conn)).collect();
        let commit_error = conn.execute_batch("COMMIT").err().map(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = %e, writes = deliveries.len(), "commit failed");
            e.to_string()
        });
        for deliver in deliveries {
            deliver(commit_error.as_deref());
        }
    }
}
