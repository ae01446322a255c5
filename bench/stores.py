#!/usr/bin/env python3
"""The embedded-store scenarios on each store, side by side in one run:
SQLite (the default), PostgreSQL with one gateway, and PostgreSQL with two
gateway replicas sharing the load (two wrk processes, one per replica, half
the connections each; their requests/s summed, their latencies averaged).

    python3 bench/stores.py            # 20k users, 3 runs x 10 s
    python3 bench/stores.py --quick    # 5k users, 1 run x 3 s

PostgreSQL comes from `.ci/postgres` (Debian's package, a throwaway cluster
on port 55433 in /tmp, with PostgreSQL's default durability: fsync and
synchronous commit on). The gateways it starts it stops; the cluster stays
for the next run (`bash .ci/postgres stop /tmp/scimgate-bench-pg`).
"""

import os
import statistics
import sys
import threading

from run import (LUA, Fleet, Gateway, build, medians, postgres_database, seed_users, side_by_side_args, wrk,
                 write_json, write_user_lists)

SCENARIOS = [
    ("GET /Users/{id}", "get_by_id.lua"),
    ("GET /Users?filter=userName eq", "filter_username.lua"),
    ("POST /Users", "post_user.lua"),
    ("PATCH /Users/{id}", "patch_user.lua"),
]


def split_wrk(urls, script, env, duration, connections):
    """wrk against each of `urls` at once, `connections` split between them."""
    results = [None] * len(urls)

    def one(i):
        try:
            # Each wrk its own userName prefix: two would POST the same names.
            mine = dict(env, BENCH_PREFIX=env.get("BENCH_PREFIX", "") + f"r{i}")
            results[i] = wrk(urls[i], script, mine, duration, max(1, connections // len(urls)))
        except SystemExit as e:
            results[i] = e


    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, SystemExit):
            raise SystemExit(f"{script} against {urls}: {r}")
    return {"rps": sum(r["rps"] for r in results),
            "p50_ms": statistics.mean(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
            "requests": sum(r["requests"] for r in results)}


def main():
    args = side_by_side_args("stores", users=(5_000, 20_000))
    build("scimgate")
    targets = {}
    with Fleet() as fleet:
        for label, store, replicas in (("sqlite", 'path = "bench.db"\n', 1),
                                       ("postgres", postgres_database("bench"), 1),
                                       ("postgres x2", postgres_database("bench2"), 2)):
            workdir = fleet.workdir("scimgate-bench-store-")
            first = fleet.add(Gateway(workdir, store=store))
            group = [first] + [fleet.add(Gateway(workdir, replica_of=first)) for _ in range(replicas - 1)]
            env = dict(os.environ, SCIMGATE_TOKEN=first.token, BENCH_LUA_DIR=LUA)
            seed_secs = seed_users(first.url, env, args.users, args.connections,
                                   lambda gw=first: gw.get("/scim/v2/Users?count=0")["totalResults"])
            env.update(write_user_lists(workdir, lambda path, gw=first: gw.get("/scim/v2" + path), ""))
            print(f"{label}: seeded {env['BENCH_USERS']} users in {seed_secs:.1f} s", file=sys.stderr)
            targets[label] = ([g.url for g in group], env, int(env["BENCH_USERS"]) / seed_secs)
        samples = {(t, s): [] for t in targets for s, _ in SCENARIOS}
        for r in range(args.runs):
            for scenario, script in SCENARIOS:
                for label, (urls, env, _) in targets.items():
                    env = dict(env, BENCH_PREFIX=f"run{r}")
                    samples[(label, scenario)].append(split_wrk(urls, script, env, args.duration, args.connections))

    results = {t: {s: medians(samples[(t, s)]) for s, _ in SCENARIOS} for t in targets}
    report = {"users": args.users, "runs": args.runs, "duration_s": args.duration, "connections": args.connections,
              "cores": os.cpu_count(), "scenarios": results,
              "seed_users_per_s": {t: v[2] for t, v in targets.items()}}
    write_json(args.json, report)
    labels = list(targets)
    print(f"Stores side by side, at least {args.users:,} users each, wrk -t1 -c{args.connections} (split over replicas), "
          f"median of {args.runs} x {args.duration} s, {os.cpu_count()} cores shared by gateways, PostgreSQL "
          f"and load generator\n")
    print("| scenario | " + " | ".join(f"{t} req/s (p50)" for t in labels) + " | postgres / sqlite |")
    print("|---|" + "---:|" * (len(labels) + 1))
    for scenario, _ in SCENARIOS:
        cells = [f"{results[t][scenario]['rps']:,.0f} ({results[t][scenario]['p50_ms']:.2f} ms)" for t in labels]
        ratio = results["postgres"][scenario]["rps"] / results["sqlite"][scenario]["rps"]
        print(f"| `{scenario}` | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    print("\nSeeding through POST (users/s): " +
          ", ".join(f"{t} {v:,.0f}" for t, v in report["seed_users_per_s"].items()))
    print(f"JSON: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
