#!/usr/bin/env python3
"""Reads as a tenant grows: GET by id, `filter=userName eq` and a list page
of 100 from a random `startIndex`, on gateways holding 2k, 5k and 100k
users, side by side in one run (the gateways interleaved within each run).
The aims (issue 18): GET and filter at 100k at least 0.9x their rate at 2k,
and the list page at 100k at least 0.8x its rate at 5k.

    python3 bench/scale.py               # 2k, 5k, 100k users; 3 runs x 10 s
    python3 bench/scale.py --quick       # 2k, 5k, 20k users; 1 run x 3 s
    python3 bench/scale.py --postgres    # the same, each on its own PostgreSQL database

PostgreSQL comes from `.ci/postgres`, as for `stores.py`.
"""

import os
import sys

import time

from cycle import run_cycle
from run import (LUA, Fleet, Gateway, build, postgres_database, run_scenarios, side_by_side_args, write_json,
                 write_user_lists)

SCENARIOS = [
    ("GET /Users/{id}", "get_by_id.lua", "2k"),
    ("GET /Users?filter=userName eq", "filter_username.lua", "2k"),
    ("GET /Users 100 per page", "list_users.lua", "5k"),
]


def main():
    postgres = "--postgres" in sys.argv
    if postgres:
        sys.argv.remove("--postgres")
    args = side_by_side_args("scale-postgres" if postgres else "scale", users=(20_000, 100_000))
    sizes = {"2k": 2_000, "5k": 5_000, "large": args.users}
    build("scimgate", "scimgate-bench-cycle")
    targets = {}
    with Fleet() as fleet:
        for label, users in sizes.items():
            workdir = fleet.workdir("scimgate-bench-scale-")
            store = postgres_database(f"scale{label}") if postgres else 'path = "bench.db"\n'
            gw = fleet.add(Gateway(workdir, store=store))
            env = dict(os.environ, SCIMGATE_TOKEN=gw.token, BENCH_LUA_DIR=LUA)
            # Exactly `users` users, through the API, as an IdP's initial cycle.
            started = time.monotonic()
            run_cycle(gw.url + "/scim/v2", gw.token, users, 0, f"seed{label}", concurrency=args.connections)
            secs = time.monotonic() - started
            get = lambda path, gw=gw: gw.get("/scim/v2" + path)  # noqa: E731
            env.update(write_user_lists(workdir, get, ""))
            print(f"{label}: seeded {env['BENCH_USERS']} users in {secs:.1f} s", file=sys.stderr)
            targets[label] = (gw.url, env, get)
        scenarios = [(scenario, script) for scenario, script, _ in SCENARIOS]
        results = run_scenarios(targets, args.runs, args.duration, args.connections, scenarios)

    loaded = {t: int(env["BENCH_USERS"]) for t, (_, env, _) in targets.items()}
    report = {"store": "postgres" if postgres else "sqlite", "users": loaded, "runs": args.runs,
              "duration_s": args.duration, "connections": args.connections, "cores": os.cpu_count(),
              "scenarios": results}
    write_json(args.json, report)
    large = f"{loaded['large']:,}"
    print(f"Reads as the tenant grows, {'PostgreSQL' if postgres else 'embedded store'}: gateways with "
          f"{loaded['2k']:,}, {loaded['5k']:,} and {large} users side by side, wrk -t1 -c{args.connections}, "
          f"median of {args.runs} x {args.duration} s, {os.cpu_count()} cores shared\n")
    print(f"| scenario | 2k req/s (p50) | 5k req/s (p50) | {large} req/s (p50) | {large} vs | aim |")
    print("|---|---:|---:|---:|---:|---|")
    for scenario, _, base in SCENARIOS:
        cells = [f"{results[t][scenario]['rps']:,.0f} ({results[t][scenario]['p50_ms']:.2f} ms)" for t in sizes]
        ratio = results["large"][scenario]["rps"] / results[base][scenario]["rps"]
        aim = "0.9x of 2k" if base == "2k" else "0.8x of 5k"
        print(f"| `{scenario}` | " + " | ".join(cells) + f" | {ratio:.2f}x of {base} | {aim} |")
    print(f"\nJSON: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
