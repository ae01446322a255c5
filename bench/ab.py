#!/usr/bin/env python3
"""Two builds of the gateway side by side in one run: every embedded-store
scenario of `run.py`, the two gateways interleaved within each run, each
seeded with the same number of users by the same initial cycle. For
before/after claims in BENCHMARKS.md.

    cp target/release/scimgate /tmp/scimgate-before    # before the change
    cargo build --release -p scimgate                   # after it
    python3 bench/ab.py --before /tmp/scimgate-before   # 20k users, 3 runs x 4 s
    python3 bench/ab.py --before /tmp/scimgate-before --quick

`--after` defaults to target/release/scimgate.
"""

import os
import sys
import time

from cycle import run_cycle
from run import (LUA, SCENARIOS, Fleet, Gateway, build, run_scenarios, side_by_side_args, two_builds, write_json,
                 write_user_lists)


def main():
    binaries = two_builds(__doc__)
    args = side_by_side_args("ab", durations=(3, 4), users=(5_000, 20_000))
    build("scimgate-bench-cycle")
    targets = {}
    with Fleet() as fleet:
        for label, binary in binaries.items():
            workdir = fleet.workdir(f"scimgate-bench-{label}-")
            gw = fleet.add(Gateway(workdir, binary=binary))
            started = time.monotonic()
            run_cycle(gw.url + "/scim/v2", gw.token, args.users, 0, f"seed{label}", concurrency=args.connections)
            print(f"{label}: seeded {args.users} users in {time.monotonic() - started:.1f} s", file=sys.stderr)
            env = dict(os.environ, SCIMGATE_TOKEN=gw.token, BENCH_LUA_DIR=LUA)
            get = lambda path, gw=gw: gw.get("/scim/v2" + path)  # noqa: E731
            env.update(write_user_lists(workdir, get, f"{label}-"))
            targets[label] = (gw.url, env, get)
        results = run_scenarios(targets, args.runs, args.duration, args.connections)

    report = {"binaries": binaries, "users": args.users, "runs": args.runs, "duration_s": args.duration,
              "connections": args.connections, "cores": os.cpu_count(), "scenarios": results}
    write_json(args.json, report)
    print(f"Two builds side by side, {args.users:,} users loaded in each, wrk -t1 -c{args.connections}, "
          f"median of {args.runs} x {args.duration} s, {os.cpu_count()} cores shared\n")
    print("| scenario | before req/s (p50) | after req/s (p50) | after / before |")
    print("|---|---:|---:|---:|")
    for scenario, _ in SCENARIOS:
        b, a = results["before"][scenario], results["after"][scenario]
        print(f"| `{scenario}` | {b['rps']:,.0f} ({b['p50_ms']:.2f} ms) | {a['rps']:,.0f} ({a['p50_ms']:.2f} ms) "
              f"| {a['rps'] / b['rps']:.2f}x |")
    print(f"\nJSON: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
