#!/usr/bin/env python3
"""The connector's cost: the same load sent straight to `examples/legacy-hr`
(its own API) and through the gateway (SCIM, tenant `hr` with the
legacy-hr-connector plugin reusing idle instances, tenant `fresh` with a new
instance per call), interleaved run by run. GET by id at 16 connections and
at 1, and creates at 16.

    python3 bench/legacy.py            # 3 runs x 10 s per target and scenario
    python3 bench/legacy.py --quick    # 1 run x 3 s

Needs `wrk` and the wasm32-wasip2 target. Everything it starts it stops.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

from run import Gateway, LUA, ROOT, build, medians, side_by_side_args, stop_process, wrk, write_json

CONNECTOR = os.path.join(ROOT, "target", "plugins", "wasm32-wasip2", "release", "legacy_hr_connector.wasm")
API_KEY = "bench-legacy-hr-key-0123456789"


class LegacyHr:
    def __init__(self, workdir):
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "target", "release", "legacy-hr"), "--listen", "127.0.0.1:0",
             "--db", os.path.join(workdir, "hr.db"), "--api-key", API_KEY],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = re.search(r"listening on (http://\S+)", self.proc.stdout.readline()).group(1)

    def ids(self, limit=1000):
        req = urllib.request.Request(f"{self.url}/api/v1/employees?per_page=200", headers={"X-Api-Key": API_KEY})
        with urllib.request.urlopen(req) as resp:
            return [str(e["id"]) for e in json.load(resp)["data"]][:limit]

    def stop(self):
        stop_process(self.proc, timeout=10)


def main():
    args = side_by_side_args("legacy")
    runs, duration = args.runs, args.duration

    build("scimgate", "legacy-hr", "scimgate-plugin-artifacts")
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-legacy-")
    os.makedirs(os.path.join(workdir, "front"))
    hr = LegacyHr(workdir)
    started = [hr]
    try:
        tenants = ""
        for tenant, instances in (("hr", "reuse"), ("fresh", "fresh")):
            tenants += (f'[tenants.{tenant}]\n[tenants.{tenant}.upstream]\nkind = "connector"\nurl = "{hr.url}"\n'
                        f'plugin = "{CONNECTOR}"\ninstances = "{instances}"\nauth = {{ kind = "header", '
                        f'name = "X-Api-Key", value = "${{env:LEGACY_HR_API_KEY}}" }}\n')
        front = Gateway(os.path.join(workdir, "front"), tenants, env={"LEGACY_HR_API_KEY": API_KEY})
        started.append(front)
        base = dict(os.environ, BENCH_LUA_DIR=LUA, LEGACY_HR_API_KEY=API_KEY)
        hr_ids = os.path.join(workdir, "hr-ids")
        targets = [("legacy-hr direct", hr.url, hr_ids, "legacy_get.lua", "legacy_post.lua", "")]
        for tenant, label in (("hr", "through the gateway (connector)"),
                              ("fresh", "through the gateway, a fresh instance per call")):
            token = front.tokens[tenant]
            wrk(front.url, "post_user.lua", dict(base, SCIMGATE_TOKEN=token, BENCH_PREFIX=f"seed-{tenant}"), 2,
                args.connections)
            page = front.get("/scim/v2/Users?attributes=id&count=1000", token)
            scim_ids = os.path.join(workdir, f"scim-ids-{tenant}")
            with open(scim_ids, "w") as f:
                f.write("\n".join(r["id"] for r in page["Resources"]))
            targets.append((label, front.url, scim_ids, "get_by_id.lua", "post_user.lua", token))
        with open(hr_ids, "w") as f:
            f.write("\n".join(hr.ids()))
        scenarios = [("GET by id", 0, args.connections), ("GET by id c=1", 0, 1), ("create", 1, args.connections)]
        samples = {(t[0], s[0]): [] for t in targets for s in scenarios}
        for r in range(runs):
            for n, (label, url, ids, get_script, post_script, token) in enumerate(targets):
                env = dict(base, BENCH_IDS=ids, SCIMGATE_TOKEN=token, BENCH_PREFIX=f"run{r}-t{n}")
                for scenario, which, conns in scenarios:
                    script = (get_script, post_script)[which]
                    samples[(label, scenario)].append(wrk(url, script, env, duration, conns))
        results = {t[0]: {s[0]: medians(samples[(t[0], s[0])]) for s in scenarios} for t in targets}
    finally:
        for proc in reversed(started):
            proc.stop()
    direct = results["legacy-hr direct"]
    print("| target | GET/s | p50 / p99 ms | GET c=1 p50 ms | added p50 | creates/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, res in results.items():
        get, one, post = res["GET by id"], res["GET by id c=1"], res["create"]
        added = (one["p50_ms"] - direct["GET by id c=1"]["p50_ms"]) * 1000
        print(f"| {label} | {get['rps']:.0f} ({get['rps'] / direct['GET by id']['rps']:.2f}x) "
              f"| {get['p50_ms']:.2f} / {get['p99_ms']:.2f} | {one['p50_ms']:.3f} | {added:+.0f} µs "
              f"| {post['rps']:.0f} ({post['rps'] / direct['create']['rps']:.2f}x) |")
    write_json(args.json, {"runs": runs, "duration_s": duration, "results": results})
    print(f"\nJSON: {args.json}", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
