//! `GET /admin/tenants/{t}/log/stream`: a tenant's provisioning-log records
//! as Server-Sent Events, as they are written (the console's live tail).
//!
//! Fed by the log writer's broadcast ([`LogWriter::subscribe`]): each of
//! this process's records arrives once committed, in seq order. The store
//! fills every gap by seq: what was written after `Last-Event-ID` (or after
//! the newest record when the tail opened) and before the subscription, and
//! whatever a tail too slow for the broadcast missed; records already sent
//! are skipped by seq. With replicas on PostgreSQL, a tail shows live the
//! records of the replica it is connected to (a catch-up from the store
//! shows every replica's, except one that another replica commits after a
//! higher seq was sent); `GET …/log` lists them all.
//!
//! Each event is `id: <seq>` and one `data:` line, the record's JSON with
//! its trace; a comment every [`KEEP_ALIVE`] keeps proxies from closing an
//! idle stream and finds a closed one.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::{broadcast, mpsc};

use crate::store::{LogQuery, LogRecord, LogWriter, Store, StoreError};

/// How often an idle stream gets a comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Records read from the store per query while catching up.
const CATCH_UP_PAGE: usize = 200;
/// Events queued for a slow client before the tail waits for it.
const QUEUED: usize = 16;

/// The response body: events as the tail produces them. Dropping it (the
/// client went away) stops the tail.
pub struct Events {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

impl Events {
    /// A body fed through the returned sender, `queued` chunks ahead of the
    /// client at most; it ends when the sender is dropped.
    pub fn channel(queued: usize) -> (mpsc::Sender<Bytes>, Events) {
        let (tx, rx) = mpsc::channel(queued);
        (tx, Events { rx })
    }
}

/// Start tailing `tenant`'s records after `resume` (a `Last-Event-ID`), or
/// after the newest one now. The subscription is in place when this returns.
pub async fn start(store: &Store, log: &LogWriter, tenant: &str, resume: Option<i64>) -> Result<Events, StoreError> {
    let after = match resume {
        Some(seq) => seq,
        None => {
            let newest = LogQuery { tenant: tenant.to_owned(), limit: 1, ..LogQuery::default() };
            store.recent_log(&newest).await?.first().map_or(0, |r| r.seq)
        }
    };
    // Subscribed after `after` was read: what is written in between is
    // caught up from the store.
    let records = log.subscribe();
    let (tx, rx) = mpsc::channel(QUEUED);
    // Something to send at once, so that the client sees the stream open.
    let _ = tx.try_send(Bytes::from_static(b": tailing\n\n"));
    let (store, tenant) = (store.clone(), tenant.to_owned());
    tokio::spawn(async move {
        if let Err(Stop::Store(e)) = feed(&store, records, &tenant, after, &tx).await {
            tracing::warn!(error = %e, %tenant, "provisioning-log tail: the store failed; the client may resume");
        }
    });
    Ok(Events { rx })
}

/// Why a tail ended.
enum Stop {
    /// The client went away, or the log writer stopped.
    Closed,
    Store(StoreError),
}

async fn feed(
    store: &Store,
    mut records: broadcast::Receiver<Arc<LogRecord>>,
    tenant: &str,
    after: i64,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), Stop> {
    let mut last = catch_up(store, tenant, after, tx).await?;
    let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    loop {
        tokio::select! {
            received = records.recv() => match received {
                Ok(record) if record.tenant == tenant && record.seq > last => {
                    send(tx, event(&record)).await?;
                    last = record.seq;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => last = catch_up(store, tenant, last, tx).await?,
                Err(broadcast::error::RecvError::Closed) => return Err(Stop::Closed),
            },
            _ = keep_alive.tick() => send(tx, Bytes::from_static(b": keep-alive\n\n")).await?,
            () = tx.closed() => return Err(Stop::Closed),
        }
    }
}

/// Send every record after `after` from the store; the last seq sent.
async fn catch_up(store: &Store, tenant: &str, mut after: i64, tx: &mpsc::Sender<Bytes>) -> Result<i64, Stop> {
    loop {
        let page = store.log_after(tenant, after, CATCH_UP_PAGE).await.map_err(Stop::Store)?;
        for record in &page {
            send(tx, event(record)).await?;
            after = record.seq;
        }
        if page.len() < CATCH_UP_PAGE {
            return Ok(after);
        }
    }
}

async fn send(tx: &mpsc::Sender<Bytes>, bytes: Bytes) -> Result<(), Stop> {
    tx.send(bytes).await.map_err(|_| Stop::Closed)
}

/// One record as an event: `id:` its seq, one `data:` line of JSON (which
/// never spans lines).
fn event(record: &LogRecord) -> Bytes {
    let json = serde_json::to_string(record).unwrap_or_else(|e| {
        tracing::warn!(error = %e, seq = record.seq, "a provisioning-log record does not serialize");
        format!(r#"{{"seq":{}}}"#, record.seq)
    });
    Bytes::from(format!("id: {}\ndata: {json}\n\n", record.seq))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::store::test_record;

    /// The seqs of the events in the next frames, until `want` of them.
    async fn seqs(events: &mut Events, want: usize) -> Vec<i64> {
        let mut seqs = Vec::new();
        while seqs.len() < want {
            let frame = tokio::time::timeout(Duration::from_secs(10), events.frame()).await;
            let Ok(Some(Ok(frame))) = frame else { panic!("no event after {seqs:?}") };
            let text = String::from_utf8(frame.into_data().unwrap_or_default().to_vec()).unwrap();
            seqs.extend(text.lines().filter_map(|l| l.strip_prefix("id: ")).map(|id| id.parse::<i64>().unwrap()));
        }
        seqs
    }

    /// A tail too slow for the broadcast reads what it missed from the
    /// store: every record once, in order.
    #[tokio::test]
    async fn a_lagging_tail_catches_up_from_the_store_without_gaps_or_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("tail.db")).unwrap();
        let (log, _thread) = LogWriter::start(&store).unwrap();
        let mut events = start(&store, &log, "acme", None).await.unwrap();
        log.append(test_record("acme", None));
        assert_eq!(seqs(&mut events, 1).await, [1]);

        // The tail's task cannot run while this one blocks: the broadcast
        // (1024 records) overflows under it.
        let total = 3000;
        for i in 0..total {
            log.append(test_record(if i % 2 == 0 { "acme" } else { "globex" }, None));
        }
        let query = LogQuery { tenant: "globex".into(), limit: 1, ..LogQuery::default() };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.recent_log_blocking(&query).unwrap().first().map(|r| r.seq) != Some(total + 1) {
            assert!(std::time::Instant::now() < deadline, "the log writer did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }

        let acme: Vec<i64> = (0..total).filter(|i| i % 2 == 0).map(|i| i + 2).collect();
        assert_eq!(seqs(&mut events, acme.len()).await, acme);
        log.append(test_record("acme", None));
        assert_eq!(seqs(&mut events, 1).await, [total + 2], "live again");
    }
}
