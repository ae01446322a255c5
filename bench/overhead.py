#!/usr/bin/env python3
"""What metrics and tracing cost on the hot path: three release gateways side
by side, the same store load, the runs interleaved so that machine noise hits
them alike:

- `bare`: metrics off, process log at `warn` (nothing per request);
- `metrics`: metrics on (the default), log at `warn`;
- `metrics+trace`: metrics on, `RUST_LOG=debug` with JSON lines, i.e. one
  request span, step spans and a log line per request, written to a file.

    python3 bench/overhead.py            # 3 runs x 10 s per gateway and scenario
    python3 bench/overhead.py --quick    # 1 run x 3 s
"""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Gateway, LUA, ROOT, build, medians, wrk, write_json  # noqa: E402

VARIANTS = {
    "bare": ("metrics = false\n", {}),
    "metrics": ("", {}),
    "metrics+trace": ("", {"RUST_LOG": "debug", "SCIMGATE_LOG_FORMAT": "json"}),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "overhead.json"))
    args = ap.parse_args()
    runs, duration = (1, 3) if args.quick else (3, 10)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    build("scimgate")
    gateways, dirs = {}, []
    try:
        for name, (server, env) in VARIANTS.items():
            d = tempfile.mkdtemp(prefix=f"scimgate-bench-{name.replace('+', '-')}-")
            dirs.append(d)
            gateways[name] = Gateway(d, server=server, env=env)
        base_env = dict(os.environ, BENCH_LUA_DIR=LUA)
        for name, gw in gateways.items():
            wrk(gw.url, "post_user.lua", dict(base_env, SCIMGATE_TOKEN=gw.token, BENCH_PREFIX="seed"), 2,
                args.connections)
            page = gw.get("/scim/v2/Users?attributes=id&count=1000")
            with open(os.path.join(gw.workdir, "ids"), "w") as f:
                f.write("\n".join(r["id"] for r in page["Resources"]))
        samples = {(n, s): [] for n in VARIANTS for s in ("GET /Users/{id}", "POST /Users")}
        for r in range(runs):
            for name, gw in gateways.items():
                env = dict(base_env, SCIMGATE_TOKEN=gw.token, BENCH_PREFIX=f"run{r}",
                           BENCH_IDS=os.path.join(gw.workdir, "ids"))
                samples[(name, "GET /Users/{id}")].append(wrk(gw.url, "get_by_id.lua", env, duration, args.connections))
                samples[(name, "POST /Users")].append(wrk(gw.url, "post_user.lua", env, duration, args.connections))
    finally:
        for gw in gateways.values():
            gw.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    results = {f"{n} | {s}": medians(v) for (n, s), v in samples.items()}
    write_json(args.json, results)
    print(f"Metrics and tracing cost, wrk -t1 -c{args.connections}, median of {runs} x {duration} s\n")
    print("| scenario | variant | requests/s | vs bare | p50 |")
    print("|---|---|---:|---:|---:|")
    for scenario in ("GET /Users/{id}", "POST /Users"):
        bare = results[f"bare | {scenario}"]["rps"]
        for name in VARIANTS:
            r = results[f"{name} | {scenario}"]
            print(f"| `{scenario}` | {name} | {r['rps']:,.0f} | {r['rps'] / bare:.2f}x | {r['p50_ms']:.2f} ms |")
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
