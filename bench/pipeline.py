#!/usr/bin/env python3
"""What a pipeline step costs through the gateway: one release gateway with a
tenant per step kind (none, declarative mapping, Rhai script, Wasm plugin, and
the three chained), driven by wrk with the same POST and GET load, the
tenants interleaved run by run so that machine noise hits them alike.
Prints a Markdown table with ratios to the tenant without steps, writes JSON.

    python3 bench/pipeline.py            # 3 runs x 10 s per tenant and scenario
    python3 bench/pipeline.py --quick    # 1 run x 3 s

Needs `wrk` and the wasm32-wasip2 target (the Wasm plugin is built first).
"""

import glob
import os
import shutil
import sys
import tempfile

from run import Gateway, LUA, ROOT, build, medians, side_by_side_args, wrk, write_json

def _work_email_wasm():
    """The plugin the artifacts crate built: under `target/plugins` when cargo
    tagged the target dir (CACHEDIR.TAG), else under the build script's
    OUT_DIR (a target dir that existed before cargo first ran)."""
    tagged = os.path.join(ROOT, "target", "plugins", "wasm32-wasip2", "release", "work_email.wasm")
    if os.path.exists(tagged):
        return tagged
    pattern = os.path.join(ROOT, "target", "release", "build", "scimgate-plugin-artifacts-*", "out", "plugins",
                           "wasm32-wasip2", "release", "work_email.wasm")
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    return found[-1] if found else tagged


WASM = _work_email_wasm()
RHAI = os.path.join(ROOT, "examples", "rhai", "work-email.rhai")

# The same logic three ways: userName := lower-cased primary work email.
MAPPING = """kind = "mapping"
[tenants.{t}.steps.transform_in]
"userName" = 'lower(emails[type eq "work"].value)'
"""

TENANTS = {
    "none": [],
    "mapping": [MAPPING],
    "rhai": [f'kind = "rhai"\npath = "{RHAI}"\n'],
    "wasm": [f'kind = "wasm"\npath = "{WASM}"\n'],
    "chain": [MAPPING, f'kind = "rhai"\npath = "{RHAI}"\n', f'kind = "wasm"\npath = "{WASM}"\n'],
}


def tenants_toml():
    out = ""
    for name, steps in TENANTS.items():
        out += f"[tenants.{name}]\n"
        for step in steps:
            out += f"[[tenants.{name}.steps]]\n" + step.replace("{t}", name)
    return out


def main():
    args = side_by_side_args("pipeline")
    runs, duration = args.runs, args.duration

    build("scimgate", "scimgate-plugin-artifacts")
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-pipeline-")
    gw = Gateway(workdir, tenants_toml())
    results = {t: {} for t in TENANTS}
    try:
        base_env = dict(os.environ, BENCH_LUA_DIR=LUA)
        # A few thousand users per tenant to read back.
        for tenant, token in gw.tokens.items():
            env = dict(base_env, SCIMGATE_TOKEN=token, BENCH_PREFIX=f"seed-{tenant}")
            wrk(gw.url, "post_user.lua", env, 2, args.connections)
            page = gw.get("/scim/v2/Users?attributes=id&count=1000", token)
            with open(os.path.join(workdir, f"ids-{tenant}"), "w") as f:
                f.write("\n".join(r["id"] for r in page["Resources"]))
        samples = {(t, s): [] for t in TENANTS for s in ("POST /Users", "GET /Users/{id}")}
        for r in range(runs):
            for tenant, token in gw.tokens.items():
                env = dict(base_env, SCIMGATE_TOKEN=token, BENCH_PREFIX=f"run{r}-{tenant}",
                           BENCH_IDS=os.path.join(workdir, f"ids-{tenant}"))
                samples[(tenant, "POST /Users")].append(wrk(gw.url, "post_user.lua", env, duration, args.connections))
                samples[(tenant, "GET /Users/{id}")].append(wrk(gw.url, "get_by_id.lua", env, duration, args.connections))
        for (tenant, scenario), runs_ in samples.items():
            results[tenant][scenario] = medians(runs_)
    finally:
        gw.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    write_json(args.json, {"runs": runs, "duration_s": duration, "connections": args.connections,
                           "cores": os.cpu_count(), "tenants": results})
    print(f"Pipeline cost through the gateway, wrk -t1 -c{args.connections}, median of {runs} x {duration} s, "
          f"{os.cpu_count()} cores shared by gateway and load generator\n")
    for scenario in ("POST /Users", "GET /Users/{id}"):
        base = results["none"][scenario]
        print(f"`{scenario}`\n")
        print("| steps | requests/s | vs none | p50 | added p50 | p99 |")
        print("|---|---:|---:|---:|---:|---:|")
        for tenant in TENANTS:
            r = results[tenant][scenario]
            added = (r["p50_ms"] - base["p50_ms"]) * 1000
            print(f"| {tenant} | {r['rps']:,.0f} | {r['rps'] / base['rps']:.2f}x | {r['p50_ms']:.2f} ms "
                  f"| {added:+.0f} µs | {r['p99_ms']:.2f} ms |")
        print()
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
