#!/usr/bin/env python3
"""Hot-reload benchmarks: the time from writing a tenant file to the first
request served by the new snapshot (a tenant with a mapping, a Rhai script
and a Wasm plugin already in the compile cache), and the resident memory of a
gateway with 1,000 configured tenants, each with a Wasm and a Rhai step.

    python3 bench/reload.py            # 1,000 tenants, 30 reloads
    python3 bench/reload.py --quick    # 200 tenants, 10 reloads

Everything it starts it stops. Prints Markdown, writes JSON.
"""

import argparse
import http.client
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, ROOT, build, sh, write_json  # noqa: E402

PLUGINS = os.path.join(ROOT, "target", "plugins", "wasm32-wasip2", "release")
STAMP = os.path.join(PLUGINS, "test_stamp.wasm")
WORK_EMAIL = os.path.join(PLUGINS, "work_email.wasm")
NAME_SPLIT_RHAI = os.path.join(ROOT, "examples", "rhai", "name-split.rhai")
ADMIN_TOKEN = "bench-admin-token-0123456789"


def marked(marker):
    return f"""[[steps]]
kind = "mapping"
[steps.transform_in]
"title" = '"{marker}"'

[[steps]]
kind = "rhai"
path = "marker.rhai"
config = {{ marker = "{marker}" }}

[[steps]]
kind = "wasm"
path = "{STAMP}"
config = {{ marker = "{marker}" }}
"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tenants", type=int)
    ap.add_argument("--reloads", type=int)
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "reload.json"))
    args = ap.parse_args()
    tenants = args.tenants or (200 if args.quick else 1000)
    reloads = args.reloads or (10 if args.quick else 30)

    build("scimgate", "scimgate-plugin-artifacts")
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-reload-")
    tdir = os.path.join(workdir, "tenants")
    os.makedirs(tdir)
    config = os.path.join(workdir, "scimgate.toml")
    with open(config, "w") as f:
        f.write('tenants_dir = "tenants"\n[store]\npath = "bench.db"\n[admin]\n')
    with open(os.path.join(tdir, "marker.rhai"), "w") as f:
        f.write("fn transform_in(user, ctx) { user.nickName = ctx.config.marker; user }\n")
    write_atomic(os.path.join(tdir, "probe.toml"), marked("v0"))
    for i in range(tenants - 1):
        with open(os.path.join(tdir, f"t{i:04}.toml"), "w") as f:
            f.write(f'idp = "entra"\n[[steps]]\nkind = "wasm"\npath = "{WORK_EMAIL}"\n'
                    f'[[steps]]\nkind = "rhai"\npath = "{NAME_SPLIT_RHAI}"\n')
    token = sh(BIN, "token", "issue", "--config", config, "--tenant", "probe", capture_output=True).stdout.strip()

    env = dict(os.environ, RUST_LOG="warn", SCIMGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    log = open(os.path.join(workdir, "gateway.log"), "w")
    started = time.monotonic()
    proc = subprocess.Popen([BIN, "serve", "--config", config, "--listen", "127.0.0.1:0",
                             "--admin-listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        line = proc.stdout.readline()
        start_s = time.monotonic() - started
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        proc.stdout.readline()  # the admin line
        time.sleep(1)
        rss_idle = rss_kib(proc.pid)

        conn = http.client.HTTPConnection("127.0.0.1", port)
        n = 0

        def probe():
            nonlocal n
            n += 1
            body = json.dumps({"userName": f"probe{n}", "emails": [{"value": f"p{n}@x.example", "type": "work"}]})
            conn.request("POST", "/scim/v2/Users", body, {"Authorization": "Bearer " + token,
                                                         "Content-Type": "application/scim+json"})
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            if resp.status != 201:
                raise SystemExit(f"probe failed: {resp.status} {doc}")
            return doc.get("title")

        probe()
        latencies = []
        for r in range(1, reloads + 1):
            marker = f"v{r}"
            written = time.monotonic()
            write_atomic(os.path.join(tdir, "probe.toml"), marked(marker))
            while probe() != marker:
                if time.monotonic() - written > 10:
                    raise SystemExit("the new snapshot never served")
            latencies.append((time.monotonic() - written) * 1000)
            time.sleep(0.3)
        rss_after = rss_kib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)

    latencies.sort()
    report = {
        "tenants": tenants,
        "reloads": reloads,
        "start_s": start_s,
        "rss_idle_mib": rss_idle / 1024,
        "rss_after_mib": rss_after / 1024,
        "reload_ms_median": statistics.median(latencies),
        "reload_ms_p90": latencies[int(len(latencies) * 0.9) - 1],
        "reload_ms_max": latencies[-1],
        "samples_ms": latencies,
    }
    write_json(args.json, report)
    print(f"{tenants} tenants (each a Wasm and a Rhai step; one with mapping + Rhai + Wasm), {os.cpu_count()} cores\n")
    print("| measure | value | aim |")
    print("|---|---:|---:|")
    print(f"| start, all tenants built | {start_s:.2f} s | |")
    print(f"| resident memory after start | {report['rss_idle_mib']:.0f} MiB | < 1024 MiB |")
    print(f"| resident memory after the reloads | {report['rss_after_mib']:.0f} MiB | |")
    print(f"| file write to first request on the new snapshot, median of {reloads} | "
          f"{report['reload_ms_median']:.0f} ms | < 250 ms |")
    print(f"| same, p90 / max | {report['reload_ms_p90']:.0f} / {report['reload_ms_max']:.0f} ms | |")
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
