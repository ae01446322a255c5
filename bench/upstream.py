#!/usr/bin/env python3
"""What the gateway costs in front of a SCIM upstream, side by side in one
run: the same load sent straight to the upstream (a release scimgate on its
embedded store), through nginx `proxy_pass` (the floor any proxy hop costs),
and through the gateway with no step, a declarative mapping, a Rhai script, a
Wasm plugin, and all three chained. GET by id at 16 connections (throughput)
and at 1 connection (the latency a hop adds), POST at 16 connections. The
targets are interleaved run by run so that machine noise hits them alike.

    python3 bench/upstream.py            # 3 runs x 10 s per target and scenario
    python3 bench/upstream.py --quick    # 1 run x 3 s

Needs `wrk`, `nginx` (Debian packages) and the wasm32-wasip2 target.
Everything it starts it stops.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from run import Gateway, LUA, build, medians, side_by_side_args, stop_process, wrk, write_json
from pipeline import MAPPING, RHAI, WASM

STEPS = {
    "none": [],
    "mapping": [MAPPING],
    "rhai": [f'kind = "rhai"\npath = "{RHAI}"\n'],
    "wasm": [f'kind = "wasm"\npath = "{WASM}"\n'],
    "chain": [MAPPING, f'kind = "rhai"\npath = "{RHAI}"\n', f'kind = "wasm"\npath = "{WASM}"\n'],
}


def front_toml(upstream_url):
    out = ""
    for name, steps in STEPS.items():
        out += f"[tenants.{name}]\n[tenants.{name}.upstream]\nkind = \"scim\"\nurl = \"{upstream_url}\"\n"
        out += "auth = { kind = \"bearer\", token = \"${env:UPSTREAM_TOKEN}\" }\n"
        for step in steps:
            out += f"[[tenants.{name}.steps]]\n" + step.replace("{t}", name)
    return out


class Nginx:
    """Debian's nginx as a plain reverse proxy with upstream keep-alive."""

    def __init__(self, workdir, upstream_url):
        host_port = upstream_url.split("//", 1)[1]
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes auto;
error_log {workdir}/nginx-error.log warn;
pid {workdir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/nginx-body;
    proxy_temp_path {workdir}/nginx-proxy;
    fastcgi_temp_path {workdir}/nginx-fastcgi;
    uwsgi_temp_path {workdir}/nginx-uwsgi;
    scgi_temp_path {workdir}/nginx-scgi;
    upstream scim {{ server {host_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://scim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", workdir])
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.05)

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT, timeout=10)


def main():
    args = side_by_side_args("upstream")
    runs, duration = args.runs, args.duration
    if not shutil.which("nginx"):
        raise SystemExit("nginx is not installed (apt-get install nginx)")

    build("scimgate", "scimgate-plugin-artifacts")
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-upstream-")
    up_dir, front_dir = os.path.join(workdir, "upstream"), os.path.join(workdir, "front")
    os.makedirs(up_dir)
    os.makedirs(front_dir)
    upstream = Gateway(up_dir, "[tenants.app]\n")
    started = [upstream]
    try:
        nginx = Nginx(workdir, upstream.url)
        started.append(nginx)
        front = Gateway(front_dir, front_toml(upstream.url + "/scim/v2"), env={"UPSTREAM_TOKEN": upstream.token})
        started.append(front)
        base_env = dict(os.environ, BENCH_LUA_DIR=LUA)
        # (label, url, token, ids file)
        targets = []
        # Seed a few thousand users through each front tenant (so each has
        # links to read back); the direct and nginx runs read the upstream's ids.
        for tenant, token in front.tokens.items():
            env = dict(base_env, SCIMGATE_TOKEN=token, BENCH_PREFIX=f"seed-{tenant}")
            wrk(front.url, "post_user.lua", env, 2, args.connections)
            page = front.get("/scim/v2/Users?attributes=id&count=1000", token)
            path = os.path.join(workdir, f"ids-{tenant}")
            with open(path, "w") as f:
                f.write("\n".join(r["id"] for r in page["Resources"]))
            targets.append((f"gateway, {tenant}", front.url, token, path))
        page = upstream.get("/scim/v2/Users?attributes=id&count=1000")
        up_ids = os.path.join(workdir, "ids-upstream")
        with open(up_ids, "w") as f:
            f.write("\n".join(r["id"] for r in page["Resources"]))
        targets = [("direct", upstream.url, upstream.token, up_ids),
                   ("nginx proxy_pass", nginx.url, upstream.token, up_ids)] + targets

        scenarios = [("GET /Users/{id}", "get_by_id.lua", args.connections),
                     ("GET /Users/{id} c=1", "get_by_id.lua", 1),
                     ("POST /Users", "post_user.lua", args.connections)]
        samples = {(t[0], s[0]): [] for t in targets for s in scenarios}
        for r in range(runs):
            for label, url, token, ids in targets:
                env = dict(base_env, SCIMGATE_TOKEN=token, BENCH_IDS=ids,
                           BENCH_PREFIX=f"run{r}-{label.replace(' ', '').replace(',', '-')}")
                for scenario, script, conns in scenarios:
                    samples[(label, scenario)].append(wrk(url, script, env, duration, conns))
        results = {label: {s[0]: medians(samples[(label, s[0])]) for s in scenarios} for label, *_ in targets}
    finally:
        for proc in reversed(started):
            proc.stop()

    direct, floor = results["direct"], results["nginx proxy_pass"]
    print("| target | GET/s | vs nginx | p50 / p99 ms | GET c=1 p50 ms | added p50 vs direct | POST/s | vs nginx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, res in results.items():
        get, one, post = res["GET /Users/{id}"], res["GET /Users/{id} c=1"], res["POST /Users"]
        added_us = (one["p50_ms"] - direct["GET /Users/{id} c=1"]["p50_ms"]) * 1000
        print(f"| {label} | {get['rps']:.0f} | {get['rps'] / floor['GET /Users/{id}']['rps']:.2f}x "
              f"| {get['p50_ms']:.2f} / {get['p99_ms']:.2f} | {one['p50_ms']:.3f} | {added_us:+.0f} µs "
              f"| {post['rps']:.0f} | {post['rps'] / floor['POST /Users']['rps']:.2f}x |")
    write_json(args.json, {"runs": runs, "duration_s": duration, "connections": args.connections, "results": results})
    print(f"\nJSON: {args.json}", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
