#!/usr/bin/env python3
"""An Entra-like initial provisioning cycle into the gateway's embedded store:
100k users (filter by userName, then POST, as Entra matches before it
creates) and 1k groups of 100 members (filter by displayName, POST without
members, then PATCH adding members in batches of 10). The load comes from
`scim-cycle` (benches/cycle), a separate process with 16 requests in flight.

    python3 bench/cycle.py            # 100k users, 1k groups
    python3 bench/cycle.py --quick    # 10k users, 100 groups
    python3 bench/cycle.py --postgres # into PostgreSQL (a `.ci/postgres` cluster)

Prints a Markdown table and writes JSON. Everything it starts it stops.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from run import CYCLE, ROOT, Gateway, build, postgres_database, write_json


def run_cycle(base, token, users, groups, prefix, concurrency=16, batch=10):
    """One cycle with `scim-cycle` against the SCIM service at `base`; its
    JSON report."""
    out = subprocess.run(
        [CYCLE, "--base", base, "--token", token, "--users", str(users), "--groups", str(groups),
         "--members", "100", "--batch", str(batch), "--concurrency", str(concurrency), "--prefix", prefix],
        capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"scim-cycle against {base} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def cycle_table(report):
    """The per-request lines of one cycle as Markdown."""
    lines = ["| request | count | p50 | p99 |", "|---|---:|---:|---:|"]
    for label, r in report["by_request"].items():
        lines.append(f"| `{label}` | {r['count']:,} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int)
    ap.add_argument("--postgres", action="store_true", help="store on PostgreSQL instead of SQLite")
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "cycle.json"))
    args = ap.parse_args()
    users = args.users or (10_000 if args.quick else 100_000)
    groups = users // 100

    build("scimgate", "scimgate-bench-cycle")
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-cycle-")
    store = postgres_database("cycle") if args.postgres else 'path = "bench.db"\n'
    gw = Gateway(workdir, store=store)
    try:
        report = run_cycle(gw.url + "/scim/v2", gw.token, users, groups, "entra")
        stored = gw.get("/scim/v2/Users?count=0")["totalResults"]
        if stored != users:
            raise SystemExit(f"expected {users} users in the store, found {stored}")
    finally:
        gw.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    write_json(args.json, report)
    where = "PostgreSQL" if args.postgres else "the embedded store"
    print(f"Initial cycle into {where}: {users:,} users and {groups:,} groups of 100, "
          f"{report['concurrency']} requests in flight, member PATCHes of {report['batch']}\n")
    print(f"**Total {report['total_s']:.1f} s** (aim < 60 s): users {report['users_s']:.1f} s "
          f"({report['users_per_s']:,.0f} users/s), groups {report['groups_s']:.1f} s; "
          f"{report['requests']:,} requests, {report['requests_per_s']:,.0f}/s\n")
    print(cycle_table(report))
    print(f"\nJSON: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
