#!/usr/bin/env python3
"""Load benchmarks for scimgate: builds the release binary, starts it on
loopback with a fresh store, seeds it, and drives it with wrk from a separate
process. Prints a Markdown table and writes JSON (medians of several runs).

    python3 bench/run.py            # full: 100k users, 3 runs x 10 s per scenario
    python3 bench/run.py --quick    # 10k users, 1 run x 3 s per scenario

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
BIN = os.path.join(ROOT, "target", "release", "scimgate")


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, **kw)


class Gateway:
    """The release gateway on loopback. `tenants` is the TOML of the tenant
    tables; `tokens` maps each tenant name to a fresh token."""

    def __init__(self, workdir, tenants='[tenants.bench]\n', server="", env=None):
        self.workdir = workdir
        self.config = os.path.join(workdir, "scimgate.toml")
        with open(self.config, "w") as f:
            f.write('[server]\n' + server + '\n[store]\npath = "bench.db"\n' + tenants)
        names = re.findall(r"^\[tenants\.([a-z0-9_-]+)\]\s*$", tenants, re.M)
        self.tokens = {n: sh(BIN, "token", "issue", "--config", self.config, "--tenant", n,
                             capture_output=True).stdout.strip() for n in names}
        self.token = self.tokens[names[0]]
        env = {**os.environ, "RUST_LOG": "warn", **(env or {})}
        self.stderr = open(os.path.join(workdir, "gateway.log"), "w")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config, "--listen", "127.0.0.1:0"],
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


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Stop a process the harness started: `sig`, then SIGKILL if it lingers."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def side_by_side_args(name):
    """The options of the side-by-side harnesses (`pipeline`, `upstream`,
    `legacy`): `--quick` is 1 run x 3 s, the default 3 runs x 10 s; `--runs`
    and `--duration` override either. Also checks that `wrk` is there."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", f"{name}.json"))
    args = ap.parse_args()
    args.runs = args.runs or (1 if args.quick else 3)
    args.duration = args.duration or (3 if args.quick else 10)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    return args


def wrk(url, script, env, duration, connections):
    out = sh("wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", os.path.join(LUA, script), url,
             capture_output=True, env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        print(out, file=sys.stderr)
        raise SystemExit(f"{script}: the gateway answered errors under load")
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"]}


def medians(samples):
    """The median throughput and latencies of several wrk runs, with the runs."""
    return {
        "rps": statistics.median(s["rps"] for s in samples),
        "p50_ms": statistics.median(s["p50_ms"] for s in samples),
        "p99_ms": statistics.median(s["p99_ms"] for s in samples),
        "samples": samples,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "embedded.json"))
    args = ap.parse_args()
    users = args.users or (10_000 if args.quick else 100_000)
    runs = args.runs or (1 if args.quick else 3)
    duration = args.duration or (3 if args.quick else 10)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    sh("cargo", "build", "--release", "-q", "-p", "scimgate", cwd=ROOT)
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-")
    gw = Gateway(workdir)
    try:
        env = dict(os.environ, SCIMGATE_TOKEN=gw.token, BENCH_LUA_DIR=LUA)
        # Seed through the API, as an IdP's initial cycle would.
        started = time.monotonic()
        seeded = 0
        batch = 0
        while seeded < users:
            batch += 1
            wrk(gw.url, "post_user.lua", dict(env, BENCH_PREFIX=f"seed{batch}"), 5, args.connections)
            seeded = gw.get("/scim/v2/Users?count=0")["totalResults"]
        seed_secs = time.monotonic() - started
        print(f"seeded {seeded} users in {seed_secs:.1f} s", file=sys.stderr)

        ids, names = [], []
        start = 1
        while len(ids) < seeded:
            page = gw.get(f"/scim/v2/Users?attributes=userName&count=1000&startIndex={start}")
            for r in page["Resources"]:
                ids.append(r["id"])
                names.append(r["userName"])
            start += 1000
        for name, items in (("ids", ids), ("names", names)):
            with open(os.path.join(workdir, name), "w") as f:
                f.write("\n".join(urllib.parse.quote(i, safe="@.-_") if name == "names" else i for i in items))
        env.update(BENCH_IDS=os.path.join(workdir, "ids"), BENCH_NAMES=os.path.join(workdir, "names"))

        scenarios = [
            ("GET /Users/{id}", "get_by_id.lua"),
            ("GET /Users?filter=userName eq", "filter_username.lua"),
            ("POST /Users", "post_user.lua"),
            ("PATCH /Users/{id}", "patch_user.lua"),
        ]
        results = {}
        for label, script in scenarios:
            samples = []
            for r in range(runs):
                samples.append(wrk(gw.url, script, dict(env, BENCH_PREFIX=f"run{r}"), duration, args.connections))
            results[label] = medians(samples)
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
    }
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"Embedded store, {seeded} users, wrk -t1 -c{args.connections}, median of {runs} x {duration} s, "
          f"{os.cpu_count()} cores shared by gateway and load generator\n")
    print("| scenario | requests/s | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for label, r in results.items():
        print(f"| `{label}` | {r['rps']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
    print(f"\nSeeding through POST: {report['seed_users_per_s']:,.0f} users/s. JSON: {args.json}")


if __name__ == "__main__":
    main()
