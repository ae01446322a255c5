//! The shared backend: PostgreSQL, for gateways that run as several
//! replicas on one database.
//!
//! Why the synchronous `postgres` client on a pool of threads rather than
//! an async pool (`deadpool-postgres`, `sqlx`): the store's logic (every
//! uniqueness, version and membership check and the write it guards) is
//! written once against [`Db`], a synchronous connection, and SQLite needs
//! it synchronous. Each pool thread owns one connection and runs whole
//! transactions on it; async callers await the result, as they await
//! SQLite's writer. A transaction is a few round trips on loopback or a
//! LAN, so a thread per connection costs little next to the database's
//! own process per connection.
//!
//! Nothing here serializes writers: concurrent transactions (from this
//! process or another replica) are kept apart by PostgreSQL. Uniqueness is
//! its unique indexes (a violation is the IdP's 409), membership integrity
//! its foreign keys, and a read-modify-write locks its row first
//! ([`super::resources`]). A serialization failure, a deadlock or a lost
//! connection is "busy": the IdP hears 503 with `Retry-After`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};
use tokio::sync::oneshot;

use super::sql::{Arg, Cell, Db, Dialect, Row};
use super::{Result, StoreError, lock};

/// Schema versions, applied in order at start under an advisory lock; each
/// runs once per database (recorded in `schema_migrations`). A version, once
/// released, never changes: later ones alter what it made.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema_pg.sql")),
    // Each provisioning-log record's trace (JSON text, as on SQLite: one
    // set of statements serves both engines).
    (2, "ALTER TABLE provisioning_log ADD COLUMN trace TEXT"),
];

/// The advisory lock that serializes migrations across replicas starting
/// at once (an arbitrary constant: "scimgate" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x7363_696d_6761_7465;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(&mut Session) + Send>;

pub(super) struct Postgres {
    jobs: Mutex<Sender<Job>>,
    /// The URL with its password masked, for messages.
    shown: String,
}

impl Postgres {
    /// Connect, bring the schema up to date, and start `pool` connection
    /// threads.
    pub(super) fn connect(url: &str, pool: usize) -> Result<Postgres> {
        let mut config = postgres::Config::from_str(url).map_err(StoreError::Postgres)?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("scimgate");
        // Not "relation already exists, skipping" in the gateway's log.
        config.options("-c client_min_messages=warning");
        let shown = mask_password(url);
        let mut first = Session { config: config.clone(), client: None, statements: HashMap::new() };
        // The synchronous client runs a runtime of its own, which may not
        // start on a thread that drives async tasks (the caller's may).
        let first = std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<Session> {
                    migrate(first.client()?)?;
                    Ok(first)
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;

        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut sessions = vec![first];
        sessions.extend((1..pool.max(1)).map(|_| Session {
            config: config.clone(),
            client: None,
            statements: HashMap::new(),
        }));
        for (i, session) in sessions.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("store-pg-{i}"))
                .spawn(move || serve(session, &rx))
                .map_err(|source| StoreError::Io { path: "store-pg thread".into(), source })?;
        }
        Ok(Postgres { jobs: Mutex::new(jobs), shown })
    }

    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    /// Queue `f` for a pool connection; `reply` gets its result. A stopped
    /// pool drops the job and with it `reply`: the waiter sees `WriterGone`.
    fn submit<T, F>(&self, in_transaction: bool, f: F, reply: impl FnOnce(Result<T>) + Send + 'static)
    where
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        let job: Job = Box::new(move |session: &mut Session| reply(session.run(in_transaction, f)));
        let _ = lock(&self.jobs).send(job);
    }

    async fn run_async<T, F>(&self, in_transaction: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        let (done, rx) = oneshot::channel();
        self.submit(in_transaction, f, move |result| {
            let _ = done.send(result);
        });
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Waits on a plain channel, which (unlike an async one) may be waited
    /// on anywhere: the CLI, the log thread, and start-up code that runs
    /// on the runtime before serving.
    fn run_blocking<T, F>(&self, in_transaction: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        let (done, rx) = mpsc::sync_channel(1);
        self.submit(in_transaction, f, move |result| {
            let _ = done.send(result);
        });
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.run_async(true, f).await
    }

    pub(super) fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.run_blocking(true, f)
    }

    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.run_async(false, f).await
    }

    pub(super) fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T> + Send + 'static,
    {
        self.run_blocking(false, f)
    }
}

/// A pool thread: take jobs until the store is dropped.
fn serve(mut session: Session, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match lock(jobs).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A job that panics fails its own request (its reply is dropped:
        // `WriterGone`), not the thread: the pool keeps its size.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut session))).is_err() {
            tracing::error!("a store job panicked; its connection is reset");
            session.client = None;
        }
    }
}

/// One connection, opened on first use and again after it is lost, with
/// its prepared statements.
struct Session {
    config: postgres::Config,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
}

impl Session {
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.statements.clear();
            self.client = Some(self.config.connect(NoTls).map_err(StoreError::Postgres)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    fn run<T>(&mut self, in_transaction: bool, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        if !in_transaction {
            self.client()?;
            return f(&Conn { session: RefCell::new(self) });
        }
        self.client()?.batch_execute("BEGIN").map_err(map_error)?;
        let outcome = f(&Conn { session: RefCell::new(self) });
        let client = self.client()?;
        match outcome {
            Ok(v) => {
                client.batch_execute("COMMIT").map_err(map_error)?;
                Ok(v)
            }
            Err(e) => {
                // A lost connection rolls back by itself.
                let _ = client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// A session seen as a [`Db`] for one job.
struct Conn<'a> {
    session: RefCell<&'a mut Session>,
}

impl Conn<'_> {
    fn with_statement<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        run: impl FnOnce(&mut Client, &Statement, &[&(dyn ToSql + Sync)]) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut session = self.session.borrow_mut();
        let session = &mut **session;
        if !session.statements.contains_key(sql) {
            let prepared = session.client()?.prepare(&placeholders(sql)).map_err(map_error)?;
            session.statements.insert(sql.to_owned(), prepared);
        }
        let statement = session.statements[sql].clone();
        let values: Vec<Box<dyn ToSql + Sync + '_>> =
            args.iter().zip(statement.params()).map(|(arg, ty)| bind(*arg, ty)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        run(session.client()?, &statement, &refs).map_err(map_error)
    }
}

impl Db for Conn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        self.with_statement(sql, args, |client, stmt, params| client.execute(stmt, params))
    }

    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let rows = self.with_statement(sql, args, |client, stmt, params| client.query(stmt, params))?;
        rows.iter().map(to_row).collect()
    }
}

/// An argument as the type PostgreSQL inferred for its parameter.
fn bind<'a>(arg: Arg<'a>, ty: &Type) -> Box<dyn ToSql + Sync + 'a> {
    match (arg, ty) {
        (Arg::Null, &Type::INT8) => Box::new(None::<i64>),
        (Arg::Null, &Type::INT4) => Box::new(None::<i32>),
        (Arg::Null, &Type::BOOL) => Box::new(None::<bool>),
        (Arg::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Arg::Null, _) => Box::new(None::<String>),
        (Arg::Int(v), &Type::INT4) => Box::new(i32::try_from(v).unwrap_or(i32::MAX)),
        (Arg::Int(v), &Type::BOOL) => Box::new(v != 0),
        (Arg::Int(v), _) => Box::new(v),
        (Arg::Text(s), _) => Box::new(s),
        (Arg::Blob(b), _) => Box::new(b),
    }
}

fn to_row(row: &postgres::Row) -> Result<Row> {
    let cells = row
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let cell = match *column.type_() {
                Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int)),
                Type::INT4 => row.try_get::<_, Option<i32>>(i).map(|v| v.map(|v| Cell::Int(v.into()))),
                Type::INT2 => row.try_get::<_, Option<i16>>(i).map(|v| v.map(|v| Cell::Int(v.into()))),
                Type::BOOL => row.try_get::<_, Option<bool>>(i).map(|v| v.map(|v| Cell::Int(v.into()))),
                Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i).map(|v| v.map(Cell::Blob)),
                _ => row.try_get::<_, Option<String>>(i).map(|v| v.map(Cell::Text)),
            };
            cell.map(|c| c.unwrap_or(Cell::Null)).map_err(StoreError::Postgres)
        })
        .collect::<Result<_>>()?;
    Ok(Row(cells))
}

/// `?1` → `$1`, outside string literals.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_literal = !in_literal;
                out.push(c);
            }
            '?' if !in_literal && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

/// What a refusal by the database means to the IdP; everything else stays
/// a database error (busy or not, see [`StoreError::is_busy`]).
fn map_error(e: postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else { return StoreError::Postgres(e) };
    let constraint = db.constraint().unwrap_or("a unique constraint");
    match *db.code() {
        SqlState::UNIQUE_VIOLATION => StoreError::Scim(scim::ScimError::uniqueness(taken(constraint, db.detail()))),
        SqlState::FOREIGN_KEY_VIOLATION => {
            StoreError::Scim(scim::ScimError::invalid_value("a referenced resource does not exist"))
        }
        _ => StoreError::Postgres(e),
    }
}

/// What a unique index refused, in the words of the store's own checks.
/// PostgreSQL's detail reads `Key (tenant, kind, name_key)=(acme, User, bob)
/// already exists.`; the tenant and kind hold no ", ".
fn taken(constraint: &str, detail: Option<&str>) -> String {
    let values = detail
        .and_then(|d| d.split_once(")=("))
        .and_then(|(_, rest)| rest.rsplit_once(") already exists"))
        .map(|(values, _)| values);
    match (constraint, values) {
        ("resources_name", None) => "the name is already taken".to_owned(),
        ("resources_name", Some(values)) => match values.splitn(3, ", ").collect::<Vec<_>>()[..] {
            [_, "Group", name] => format!("displayName '{name}' is already taken"),
            [_, _, name] => format!("userName '{name}' is already taken"),
            _ => "the name is already taken".to_owned(),
        },
        ("resources_user_external_id_unique", Some(values)) => match values.split_once(", ") {
            Some((_, external_id)) => format!("externalId '{external_id}' is already taken"),
            None => "the externalId is already taken".to_owned(),
        },
        ("links_target", _) => "the target account already serves another resource".to_owned(),
        (other, _) => format!("already taken ({other})"),
    }
}

/// Whether a PostgreSQL error is worth a retry: a serialization failure, a
/// deadlock, a lock timeout, the server shutting down or a lost connection.
pub(super) fn is_transient(e: &postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            [SqlState::T_R_SERIALIZATION_FAILURE, SqlState::T_R_DEADLOCK_DETECTED, SqlState::LOCK_NOT_AVAILABLE]
                .contains(code)
                || code.code().starts_with("08")
                || code.code().starts_with("57P")
        }
        // No SQLSTATE: the connection failed or closed, or (not worth a
        // retry) a value did not convert.
        None => e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

fn migrate(client: &mut Client) -> Result<()> {
    let pg = |e: postgres::Error| StoreError::Postgres(e);
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).map_err(pg)?;
    let outcome = (|| {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied TEXT NOT NULL)",
            )
            .map_err(pg)?;
        let current: i64 =
            client.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).map_err(pg)?.get(0);
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let mut tx = client.transaction().map_err(pg)?;
            tx.batch_execute(sql).map_err(pg)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)",
                &[version, &super::now_rfc3339()],
            )
            .map_err(pg)?;
            tx.commit().map_err(pg)?;
            tracing::info!(version, "store schema migrated");
        }
        Ok(())
    })();
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    outcome
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(parts) => parts,
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_literals() {
        assert_eq!(placeholders("a = ?1 AND b = '?2' AND c = ?12"), "a = $1 AND b = '?2' AND c = $12");
    }

    #[test]
    fn unique_violations_name_what_was_taken() {
        let name = Some("Key (tenant, kind, name_key)=(acme, User, bob, jr.) already exists.");
        assert_eq!(taken("resources_name", name), "userName 'bob, jr.' is already taken");
        let group = Some("Key (tenant, kind, name_key)=(acme, Group, staff) already exists.");
        assert_eq!(taken("resources_name", group), "displayName 'staff' is already taken");
        let ext = Some("Key (tenant, external_id)=(acme, x1) already exists.");
        assert_eq!(taken("resources_user_external_id_unique", ext), "externalId 'x1' is already taken");
        assert_eq!(taken("resources_name", None), "the name is already taken");
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(mask_password("postgres://gw:s3cret@db:5432/scim"), "postgres://gw:***@db:5432/scim");
        assert_eq!(mask_password("postgres://gw@db/scim"), "postgres://gw@db/scim");
    }
}
