//! `scim-cycle`: an Entra-like initial provisioning cycle against any SCIM
//! service, as a load generator in its own process.
//!
//! Entra ID's first cycle matches before it creates: for every user it asks
//! `GET /Users?filter=userName eq "…"`, and on an empty answer sends
//! `POST /Users`. Groups follow once the users exist: `GET /Groups` filtered
//! by `displayName` (with `excludedAttributes=members`), `POST /Groups` with
//! no `members` key, then `PATCH` adding the members in batches. This driver
//! does exactly that, `--concurrency` requests in flight on one thread, and
//! checks every answer (an unexpected status ends the run with its body).
//!
//! It prints one JSON object on stdout: the total time, users/s, and the
//! count, p50 and p99 of each kind of request.
//!
//! With `--delete FILE` it deletes instead: the users whose ids the file
//! lists, one per line, in order, until the ids or `--seconds` run out.
//! (wrk cannot stop when a list runs out, and a second DELETE is a 404.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const USAGE: &str = "usage: scim-cycle --base URL --token TOKEN [--users N] [--groups N] [--members N] \
[--batch N] [--concurrency N] [--prefix TEXT] [--delete IDS_FILE --seconds S]";

/// What to send, from the command line.
#[derive(Debug, Clone)]
struct Options {
    /// The SCIM base URL, e.g. `http://127.0.0.1:8080/scim/v2`.
    base: String,
    token: String,
    users: usize,
    groups: usize,
    /// Members per group, taken round-robin from the users created.
    members: usize,
    /// Members added per `PATCH`.
    batch: usize,
    concurrency: usize,
    /// Makes the names of one run unique, so runs can share a store.
    prefix: String,
    /// Delete the users listed in this file instead of running the cycle.
    delete: Option<std::path::PathBuf>,
    /// How long a `--delete` run may last.
    seconds: f64,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut options = Options {
            base: String::new(),
            token: String::new(),
            users: 1000,
            groups: 10,
            members: 100,
            batch: 10,
            concurrency: 16,
            prefix: "cycle".into(),
            delete: None,
            seconds: 10.0,
        };
        while let Some(flag) = args.next() {
            let value = args.next().with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number = || value.parse::<usize>().with_context(|| format!("{flag}: not a number: {value}"));
            match flag.as_str() {
                "--base" => options.base = value.trim_end_matches('/').to_owned(),
                "--token" => options.token = value,
                "--users" => options.users = number()?,
                "--groups" => options.groups = number()?,
                "--members" => options.members = number()?,
                "--batch" => options.batch = number()?.max(1),
                "--concurrency" => options.concurrency = number()?.max(1),
                "--prefix" => options.prefix = value,
                "--delete" => options.delete = Some(value.into()),
                "--seconds" => options.seconds = value.parse().with_context(|| format!("--seconds: {value}"))?,
                _ => bail!("unknown option {flag}\n{USAGE}"),
            }
        }
        if options.base.is_empty() || options.token.is_empty() {
            bail!("--base and --token are required\n{USAGE}");
        }
        if options.groups > 0 && options.users == 0 {
            bail!("groups need users to hold");
        }
        Ok(options)
    }
}

/// The kinds of request the cycle sends, in the order it first sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Call {
    FilterUser,
    CreateUser,
    FilterGroup,
    CreateGroup,
    AddMembers,
    Delete,
}

impl Call {
    fn label(self) -> &'static str {
        match self {
            Call::FilterUser => "GET /Users?filter=userName eq",
            Call::CreateUser => "POST /Users",
            Call::FilterGroup => "GET /Groups?filter=displayName eq",
            Call::CreateGroup => "POST /Groups",
            Call::AddMembers => "PATCH /Groups/{id} add members",
            Call::Delete => "DELETE /Users/{id}",
        }
    }
}

/// One connection pool and the request latencies it saw.
struct Driver {
    client: Client<HttpConnector, Full<Bytes>>,
    options: Options,
    latencies: Mutex<BTreeMap<Call, Vec<Duration>>>,
}

impl Driver {
    /// Sends one request and returns the body if the status is `expected`.
    async fn call(
        &self,
        call: Call,
        method: Method,
        path: &str,
        body: Option<String>,
        expected: &[StatusCode],
    ) -> anyhow::Result<Bytes> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.options.base))
            .header("authorization", format!("Bearer {}", self.options.token))
            .header("accept", "application/scim+json");
        if body.is_some() {
            request = request.header("content-type", "application/scim+json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let started = Instant::now();
        let response = self.client.request(request).await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let elapsed = started.elapsed();
        if !expected.contains(&status) {
            bail!("{method} {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        self.latencies.lock().expect("latency lock").entry(call).or_default().push(elapsed);
        Ok(body)
    }

    /// Asks for a resource by one attribute and insists it does not exist
    /// yet, as Entra's matching step does before a create.
    async fn expect_absent(&self, call: Call, path: &str) -> anyhow::Result<()> {
        let body = self.call(call, Method::GET, path, None, &[StatusCode::OK]).await?;
        let answer: Value = serde_json::from_slice(&body)?;
        if answer["totalResults"] != 0 {
            bail!("GET {path}: expected no match, got {answer}");
        }
        Ok(())
    }

    async fn create(&self, call: Call, path: &str, body: Value) -> anyhow::Result<String> {
        let created = self.call(call, Method::POST, path, Some(body.to_string()), &[StatusCode::CREATED]).await?;
        let created: Value = serde_json::from_slice(&created)?;
        created["id"].as_str().map(str::to_owned).with_context(|| format!("POST {path}: no id in {created}"))
    }

    async fn provision_user(&self, index: usize) -> anyhow::Result<String> {
        let user_name = format!("{}-{index}@contoso.example", self.options.prefix);
        self.expect_absent(Call::FilterUser, &format!("/Users?filter={}", eq_filter("userName", &user_name))).await?;
        self.create(Call::CreateUser, "/Users", entra_user(&self.options.prefix, &user_name, index)).await
    }

    async fn provision_group(&self, index: usize, members: &[String]) -> anyhow::Result<()> {
        let name = format!("{} group {index}", self.options.prefix);
        let filter = eq_filter("displayName", &name);
        self.expect_absent(Call::FilterGroup, &format!("/Groups?excludedAttributes=members&filter={filter}")).await?;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "externalId": format!("{}-g{index}", self.options.prefix),
            "displayName": name,
        });
        let id = self.create(Call::CreateGroup, "/Groups", body).await?;
        for batch in members.chunks(self.options.batch) {
            let value: Vec<Value> = batch.iter().map(|id| json!({"value": id})).collect();
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "members", "value": value}],
            });
            self.call(
                Call::AddMembers,
                Method::PATCH,
                &format!("/Groups/{id}"),
                Some(patch.to_string()),
                &[StatusCode::OK, StatusCode::NO_CONTENT],
            )
            .await?;
        }
        Ok(())
    }
}

/// `attribute eq "value"`, percent-encoded for a query string.
fn eq_filter(attribute: &str, value: &str) -> String {
    let mut out = format!("{attribute}%20eq%20%22");
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'@' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out.push_str("%22");
    out
}

/// A user as Entra ID's default attribute mappings send it.
fn entra_user(prefix: &str, user_name: &str, index: usize) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": format!("{prefix}-{index}"),
        "userName": user_name,
        "active": true,
        "displayName": format!("Cycle User {index}"),
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "name": {"formatted": format!("Cycle User {index}"), "familyName": format!("User {index}"), "givenName": "Cycle"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": format!("Dept {}", index % 50)}
    })
}

/// Runs `work(i)` for every `i` below `count`, `concurrency` at a time.
async fn for_each<F, Fut>(count: usize, concurrency: usize, work: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(count.max(1)) {
        let (next, work) = (next.clone(), work.clone());
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return anyhow::Ok(());
                }
                work(index).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(())
}

/// Deletes `ids` in order, `--concurrency` at a time, until they or
/// `--seconds` run out; prints throughput and latencies as wrk would.
async fn delete_users(driver: Arc<Driver>, ids: Vec<String>) -> anyhow::Result<()> {
    let deadline = Duration::from_secs_f64(driver.options.seconds);
    let ids = Arc::new(ids);
    let started = Instant::now();
    let total = ids.len();
    {
        let (driver, ids) = (driver.clone(), ids.clone());
        for_each(total, driver.options.concurrency, move |index| {
            let (driver, ids) = (driver.clone(), ids.clone());
            async move {
                if started.elapsed() < deadline {
                    let path = format!("/Users/{}", ids[index]);
                    driver.call(Call::Delete, Method::DELETE, &path, None, &[StatusCode::NO_CONTENT]).await?;
                }
                Ok(())
            }
        })
        .await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (count, by_request) = latency_report(&driver);
    let delete = &by_request[Call::Delete.label()];
    println!(
        "{}",
        json!({
            "requests": count,
            "seconds": elapsed,
            "rps": count as f64 / elapsed,
            "p50_ms": delete["p50_ms"],
            "p99_ms": delete["p99_ms"],
        })
    );
    Ok(())
}

/// The count, p50 and p99 (ms) of each kind of request sent so far, and the
/// number of requests in all.
fn latency_report(driver: &Driver) -> (usize, serde_json::Map<String, Value>) {
    let mut requests = serde_json::Map::new();
    let mut count = 0;
    for (call, mut latencies) in std::mem::take(&mut *driver.latencies.lock().expect("latency lock")) {
        latencies.sort_unstable();
        count += latencies.len();
        requests.insert(
            call.label().into(),
            json!({
                "count": latencies.len(),
                "p50_ms": percentile(&latencies, 0.50),
                "p99_ms": percentile(&latencies, 0.99),
            }),
        );
    }
    (count, requests)
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 * fraction) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(options.concurrency)
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    let driver = Arc::new(Driver { client, options: options.clone(), latencies: Mutex::default() });

    if let Some(path) = &options.delete {
        let ids: Vec<String> = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::to_owned)
            .collect();
        return delete_users(driver, ids).await;
    }

    let started = Instant::now();
    let ids = Arc::new(Mutex::new(vec![String::new(); options.users]));
    {
        let (driver, ids) = (driver.clone(), ids.clone());
        for_each(options.users, options.concurrency, move |index| {
            let (driver, ids) = (driver.clone(), ids.clone());
            async move {
                let id = driver.provision_user(index).await?;
                ids.lock().expect("id lock")[index] = id;
                Ok(())
            }
        })
        .await?;
    }
    let users_secs = started.elapsed().as_secs_f64();

    let ids: Arc<Vec<String>> = Arc::new(std::mem::take(&mut *ids.lock().expect("id lock")));
    {
        let (driver, ids) = (driver.clone(), ids.clone());
        let per_group = options.members.min(options.users);
        for_each(options.groups, options.concurrency, move |index| {
            let (driver, ids) = (driver.clone(), ids.clone());
            async move {
                let members: Vec<String> =
                    (0..per_group).map(|k| ids[(index * per_group + k) % ids.len()].clone()).collect();
                driver.provision_group(index, &members).await
            }
        })
        .await?;
    }
    let total_secs = started.elapsed().as_secs_f64();

    let (count, requests) = latency_report(&driver);
    let report = json!({
        "users": options.users,
        "groups": options.groups,
        "members_per_group": options.members.min(options.users),
        "batch": options.batch,
        "concurrency": options.concurrency,
        "users_s": users_secs,
        "groups_s": total_secs - users_secs,
        "total_s": total_secs,
        "users_per_s": options.users as f64 / users_secs,
        "requests": count,
        "requests_per_s": count as f64 / total_secs,
        "by_request": requests,
    });
    println!("{report}");
    Ok(())
}
