#!/usr/bin/env python3
"""Load benchmarks for scimgate: builds the release binary, starts it on
loopback with a fresh store, seeds it, and drives it with wrk from a separate
process. Prints a Markdown table and writes JSON (medians of several runs).

    python3 bench/run.py            # full: 100k users, 3 runs x 10 s per scenario
    python3 bench/run.py --quick    # 20k users, 1 run x 3 s per scenario

Needs `wrk` (Debian package) on PATH. Everything it starts it stops.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench", "lua")
# SCIMGATE_BIN runs another build (e.g. the previous commit's) through the
# same harness, for before/after comparisons.
BIN = os.environ.get("SCIMGATE_BIN") or os.path.join(ROOT, "target", "release", "scimgate")
CYCLE = os.path.join(ROOT, "target", "release", "scim-cycle")
CEILING = os.path.join(ROOT, "target", "release", "scim-ceiling")


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, **kw)


class Gateway:
    """The release gateway on loopback. `tenants` is the TOML of the tenant
    tables; `tokens` maps each tenant name to a fresh token."""

    def __init__(self, workdir, tenants='[tenants.bench]\n', server="", env=None, store='path = "bench.db"\n',
                 replica_of=None, binary=None):
        self.workdir = workdir
        binary = binary or BIN
        if replica_of:
            # Another process on the same config and store.
            self.config, self.tokens, self.token = replica_of.config, replica_of.tokens, replica_of.token
            log = f"gateway-{os.getpid()}-{id(self)}.log"
        else:
            self.config = os.path.join(workdir, "scimgate.toml")
            with open(self.config, "w") as f:
                f.write('[server]\n' + server + '\n[store]\n' + store + tenants)
            names = re.findall(r"^\[tenants\.([a-z0-9_-]+)\]\s*$", tenants, re.M)
            self.tokens = {n: sh(binary, "token", "issue", "--config", self.config, "--tenant", n,
                                 capture_output=True).stdout.strip() for n in names}
            self.token = self.tokens[names[0]]
            log = "gateway.log"
        self.log = os.path.join(workdir, log)
        env = {**os.environ, "RUST_LOG": "warn", **(env or {})}
        self.stderr = open(self.log, "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config, "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            raise SystemExit(f"gateway did not start: {line!r}")
        self.url = m.group(1)

    def get(self, path, token=None):
        req = urllib.request.Request(self.url + path, headers={"Authorization": "Bearer " + (token or self.token)})
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)

    def stop(self):
        stop_process(self.proc)
        self.stderr.close()

    def log_tail(self, lines=30):
        """The end of the gateway's own log (warnings and errors), to show
        why a run failed."""
        with open(self.log) as f:
            return "".join(f.readlines()[-lines:])


def postgres_database(name):
    """A fresh database on a throwaway PostgreSQL cluster (`.ci/postgres`,
    port 55433, started if it is not running, with PostgreSQL's default
    durability): the `[store]` TOML for it."""
    base = sh("bash", os.path.join(ROOT, ".ci", "postgres"), "start", "/tmp/scimgate-bench-pg", "55433",
              capture_output=True, env=dict(os.environ, PG_DURABLE="1")).stdout.strip()
    db = f"{name}_{os.getpid()}_{int(time.time())}"
    sh("psql", "-q", f"{base}/postgres", "-c", f"CREATE DATABASE {db}", capture_output=True)
    return f'url = "{base}/{db}"\n'


class Fleet:
    """The gateways and work directories of one harness run: on leaving the
    `with` block every gateway stops and every directory goes, and if the
    run failed each gateway's log tail is printed first."""

    def __init__(self):
        self.gateways, self.workdirs = [], []

    def __enter__(self):
        return self

    def workdir(self, prefix):
        self.workdirs.append(tempfile.mkdtemp(prefix=prefix))
        return self.workdirs[-1]

    def add(self, gateway):
        self.gateways.append(gateway)
        return gateway

    def __exit__(self, failed, *_):
        if failed:
            for g in self.gateways:
                print(f"gateway log:\n{g.log_tail()}", file=sys.stderr)
        for g in self.gateways:
            g.stop()
        for w in self.workdirs:
            shutil.rmtree(w, ignore_errors=True)


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Stop a process the harness started: `sig`, then SIGKILL if it lingers."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def side_by_side_args(name, durations=(3, 10), users=None):
    """The options of the load harnesses: `--quick` is 1 run of
    `durations[0]` seconds, the default 3 runs of `durations[1]`; `--runs`
    and `--duration` override either. With `users` (quick, full), `--users`
    too. Also checks that `wrk` is there."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    if users:
        ap.add_argument("--users", type=int)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", f"{name}.json"))
    args = ap.parse_args()
    args.runs = args.runs or (1 if args.quick else 3)
    args.duration = args.duration or durations[0 if args.quick else 1]
    if users:
        args.users = args.users or users[0 if args.quick else 1]
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    return args


def two_builds(usage):
    """`--before BINARY` (required) and `--after BINARY` (default: this
    tree's release build), taken out of `sys.argv` before the common options
    are parsed; exits with `usage` when `--before` is missing."""
    binaries = {}
    for flag in ("--before", "--after"):
        if flag in sys.argv:
            i = sys.argv.index(flag)
            binaries[flag[2:]] = sys.argv[i + 1]
            del sys.argv[i:i + 2]
    if "before" not in binaries:
        raise SystemExit(usage)
    binaries.setdefault("after", BIN)
    return binaries


def write_json(path, report):
    """A harness's results, for `--json` (its directory made first)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)


def wrk(url, script, env, duration, connections):
    # A 10 s timeout (wrk's default is 2 s): a slow answer is measured, not dropped.
    out = sh("wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency", "-s",
             os.path.join(LUA, script), url,
             capture_output=True, env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        print(out, file=sys.stderr)
        raise SystemExit(f"{script}: the gateway answered errors under load")
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "requests": requests}


def medians(samples):
    """The median throughput and latencies of several wrk runs, with the runs."""
    return {
        "rps": statistics.median(s["rps"] for s in samples),
        "p50_ms": statistics.median(s["p50_ms"] for s in samples),
        "p99_ms": statistics.median(s["p99_ms"] for s in samples),
        "samples": samples,
    }


# The embedded-store scenarios, in the order they run: reads first, then
# writes, DELETE last (it removes users the others pick from).
SCENARIOS = [
    ("GET /Users/{id}", "get_by_id.lua"),
    ("GET /Users?filter=userName eq", "filter_username.lua"),
    ("GET /Users 100 per page", "list_users.lua"),
    ("POST /Users", "post_user.lua"),
    ("PUT /Users/{id}", "put_user.lua"),
    ("PATCH /Users/{id}", "patch_user.lua"),
    # wrk cannot stop when the users to delete run out: scim-cycle deletes.
    ("DELETE /Users/{id}", "scim-cycle --delete"),
]


def build(*packages):
    """`cargo build --release` of `packages`, unless `bench/all.py` already
    built everything (it sets BENCH_BUILT)."""
    if os.environ.get("BENCH_BUILT"):
        return
    args = [a for p in packages for a in ("-p", p)]
    sh("cargo", "build", "--release", "-q", *args, cwd=ROOT)


def seed_users(url, env, count, connections, total):
    """POST users (wrk, `post_user.lua`) until `total()` reaches `count`."""
    started, batch = time.monotonic(), 0
    while total() < count:
        batch += 1
        wrk(url, "post_user.lua", dict(env, BENCH_PREFIX=f"seed{batch}"), 5, connections)
    return time.monotonic() - started


def write_user_lists(workdir, get, prefix):
    """Page through every user with `get(path)` (SCIM list responses) and
    write their ids and userNames to `{prefix}ids` and `{prefix}names`, one
    per line, in the same order. Returns the environment the scripts read."""
    ids, names, start = [], [], 1
    while True:
        page = get(f"/Users?attributes=userName&count=1000&startIndex={start}")
        for r in page["Resources"]:
            ids.append(r["id"])
            names.append(urllib.parse.quote(r["userName"], safe="@.-_"))
        start += len(page["Resources"])
        if not page["Resources"] or start > page["totalResults"]:
            break
    paths = {}
    for name, items in (("ids", ids), ("names", names)):
        paths[name] = os.path.join(workdir, prefix + name)
        with open(paths[name], "w") as f:
            f.write("\n".join(items))
    return {"BENCH_IDS": paths["ids"], "BENCH_NAMES": paths["names"], "BENCH_USERS": str(len(ids))}


def delete_users(url, env, duration, connections):
    """DELETE the users of the `BENCH_DELETE_IDS` file, in order, with
    `scim-cycle --delete`, for `duration` seconds or until they run out."""
    if os.path.getsize(env["BENCH_DELETE_IDS"]) == 0:
        raise SystemExit(f"{url}: no user is left to DELETE; load more users")
    out = sh(CYCLE, "--base", url + env.get("BENCH_BASE", "/scim/v2"), "--token", env["SCIMGATE_TOKEN"],
             "--delete", env["BENCH_DELETE_IDS"], "--seconds", str(duration), "--concurrency", str(connections), capture_output=True)
    report = json.loads(out.stdout)
    if report["seconds"] < duration / 2:
        print(f"warning: {url}: the users to delete ran out after {report['seconds']:.1f} s", file=sys.stderr)
    return {"rps": report["rps"], "p50_ms": report["p50_ms"], "p99_ms": report["p99_ms"],
            "requests": report["requests"]}


def set_aside_for_delete(env, get, prefix, first):
    """Before a DELETE run: the reads and updates keep picking from the first
    half of the loaded users (`BENCH_IDS`, halved before the first DELETE),
    and DELETE takes every other user there is now (the second half, and the
    users the POST runs created), so that no run reads a user an earlier
    DELETE run removed."""
    workdir = os.path.dirname(env["BENCH_IDS"])
    every = write_user_lists(workdir, get, prefix + "every-")
    if first:
        for key in ("BENCH_IDS", "BENCH_NAMES"):
            with open(env[key]) as f:
                lines = f.read().split("\n")
            with open(env[key], "w") as f:
                f.write("\n".join(lines[: len(lines) // 2]))
    with open(env["BENCH_IDS"]) as f:
        picked = set(f.read().split("\n"))
    with open(every["BENCH_IDS"]) as f:
        pool = [i for i in f.read().split("\n") if i and i not in picked]
    env["BENCH_DELETE_IDS"] = os.path.join(workdir, prefix + "delete-ids")
    with open(env["BENCH_DELETE_IDS"], "w") as f:
        f.write("\n".join(pool))


def run_scenarios(targets, runs, duration, connections, scenarios=SCENARIOS):
    """Every scenario against every target, `runs` times, the targets
    interleaved within each run. `targets` maps a label to (url, env, get):
    `env` for the scripts (see `write_user_lists`), `get(path)` to list the
    users again before the first DELETE (see `set_aside_for_delete`).
    Returns {target: {scenario: medians}}."""
    samples = {(t, s): [] for t in targets for s, _ in scenarios}
    for r in range(runs):
        # The targets take turns going first: the second of two runs back to
        # back was measured up to 1.3x faster on the same build.
        order = list(targets.items())
        order = order[r % len(order):] + order[:r % len(order)]
        for label, script in scenarios:
            for target, (url, env, get) in order:
                if script.startswith("scim-cycle"):
                    set_aside_for_delete(env, get, f"{target}-", first=r == 0)
                    sample = delete_users(url, env, duration, connections)
                else:
                    sample = wrk(url, script, dict(env, BENCH_PREFIX=f"run{r}"), duration, connections)
                samples[(target, label)].append(sample)
    return {t: {s: medians(samples[(t, s)]) for s, _ in scenarios} for t in targets}


def ceiling_get(env, runs, duration, connections):
    """GET by id against `scim-ceiling` (the same wrk script, ids and
    connections): what a server that does nothing but answer costs here."""
    proc = subprocess.Popen([CEILING], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"listening on (http://\S+)", proc.stdout.readline()).group(1)
        samples = [wrk(url, "get_by_id.lua", dict(env, BENCH_PREFIX=f"ceiling{r}"), duration, connections)
                   for r in range(runs)]
        return medians(samples)
    finally:
        stop_process(proc)


def main():
    args = side_by_side_args("embedded", users=(20_000, 100_000))
    users, runs, duration = args.users, args.runs, args.duration

    build("scimgate", "scimgate-bench-cycle")
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-")
    gw = Gateway(workdir)
    try:
        env = dict(os.environ, SCIMGATE_TOKEN=gw.token, BENCH_LUA_DIR=LUA)
        # Seed through the API, as an IdP's initial cycle would.
        seed_secs = seed_users(gw.url, env, users, args.connections,
                               lambda: gw.get("/scim/v2/Users?count=0")["totalResults"])
        get = lambda path: gw.get("/scim/v2" + path)  # noqa: E731
        env.update(write_user_lists(workdir, get, ""))
        seeded = int(env["BENCH_USERS"])
        print(f"seeded {seeded} users in {seed_secs:.1f} s", file=sys.stderr)
        results = run_scenarios({"gateway": (gw.url, env, get)}, runs, duration, args.connections)["gateway"]
        ceiling = ceiling_get(env, runs, duration, args.connections)
    except BaseException:
        print(f"gateway log:\n{gw.log_tail()}", file=sys.stderr)
        raise
    finally:
        gw.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    report = {
        "users": seeded,
        "runs": runs,
        "duration_s": duration,
        "connections": args.connections,
        "cores": os.cpu_count(),
        "seed_users_per_s": seeded / seed_secs,
        "scenarios": results,
        "ceiling_get": ceiling,
    }
    write_json(args.json, report)
    print(f"Embedded store, {seeded:,} users loaded, wrk -t1 -c{args.connections}, median of {runs} x {duration} s, "
          f"{os.cpu_count()} cores shared by gateway and load generator\n")
    print("| scenario | requests/s | p50 | p99 | aim |")
    print("|---|---:|---:|---:|---|")
    for label, r in results.items():
        aim = "20k/s" if label.startswith("GET /Users/{id}") else "5k/s" if not label.startswith("GET") else ""
        print(f"| `{label}` | {r['rps']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {aim} |")
    get_rps = results["GET /Users/{id}"]["rps"]
    print(f"\nGET by id against a bare hyper server answering a fixed 1 KB user (`scim-ceiling`), same wrk "
          f"script: {ceiling['rps']:,.0f}/s; the gateway reaches {get_rps / ceiling['rps']:.2f}x of it (aim: 0.4x).")
    print(f"\nSeeding through POST: {report['seed_users_per_s']:,.0f} users/s. JSON: {args.json}")


if __name__ == "__main__":
    main()
