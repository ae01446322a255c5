#!/usr/bin/env python3
"""The gateway next to a reference SCIM server on the same workload, in one
run: PyPI's `scim2-server` (installed by this script in a venv under
`target/bench/`) and a fresh gateway on its embedded store. Both first take
the same Entra-like initial cycle (`scim-cycle`: filter then POST per user,
groups with member PATCHes), then every embedded-store scenario of `run.py`
with the targets interleaved run by run.

    python3 bench/peer.py            # 5k users, 3 runs x 5 s per scenario
    python3 bench/peer.py --quick    # 1k users, 1 run x 2 s

`scim2-server` keeps its resources in memory and answers HTTP/1.0 without
keep-alive, so each of its requests opens a connection; that is how it
serves. Needs `wrk`, Python's `venv` and PyPI. Everything it starts it stops.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request

from cycle import run_cycle
from run import (LUA, ROOT, Gateway, build, run_scenarios, side_by_side_args, stop_process, write_json,
                 write_user_lists)

PEER_VERSION = "0.8.3"
VENV = os.path.join(ROOT, "target", "bench", "peer-venv")


def install_peer():
    """`scim2-server` in its own venv, installed once per version."""
    exe = os.path.join(VENV, "bin", "scim2-server")
    stamp = os.path.join(VENV, f"scim2-server-{PEER_VERSION}")
    if not os.path.exists(stamp):
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", f"scim2-server=={PEER_VERSION}"], check=True)
        open(stamp, "w").close()
    return exe


class Peer:
    """`scim2-server` on loopback, in memory, accepting any bearer token."""

    def __init__(self, exe):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        # It logs a line per request to stderr: dropped, as the gateway's
        # log level drops its own.
        self.proc = subprocess.Popen([exe, "--hostname", "127.0.0.1", "--port", str(port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"Serving SCIM on (http://\S+)/v2", line)
        if not m:
            raise SystemExit(f"scim2-server did not start: {line!r}")
        self.url = m.group(1)
        self.token = "peer"

    def get(self, path):
        req = urllib.request.Request(self.url + "/v2" + path, headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)

    def stop(self):
        stop_process(self.proc, timeout=10)


def main():
    args = side_by_side_args("peer", durations=(2, 5), users=(1_000, 5_000))
    users, runs, duration = args.users, args.runs, args.duration

    build("scimgate", "scimgate-bench-cycle")
    exe = install_peer()
    workdir = tempfile.mkdtemp(prefix="scimgate-bench-peer-")
    started = []
    try:
        peer = Peer(exe)
        started.append(peer)
        gw = Gateway(workdir)
        started.append(gw)
        sides = {
            "gateway": (gw.url, "/scim/v2", gw.token, lambda path: gw.get("/scim/v2" + path)),
            "scim2-server": (peer.url, "/v2", peer.token, peer.get),
        }
        cycles, targets = {}, {}
        for label, (url, base, token, get) in sides.items():
            cycles[label] = run_cycle(url + base, token, users, users // 100, "peer")
            env = dict(os.environ, BENCH_LUA_DIR=LUA, SCIMGATE_TOKEN=token, BENCH_BASE=base)
            env.update(write_user_lists(workdir, get, label + "-"))
            targets[label] = (url, env, get)
        results = run_scenarios(targets, runs, duration, args.connections)
    finally:
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    ours, theirs = results["gateway"], results["scim2-server"]
    gc, pc = cycles["gateway"], cycles["scim2-server"]
    print(f"Gateway (embedded store) and scim2-server {PEER_VERSION} on the same workload: {users:,} users and "
          f"{users // 100} groups of 100 loaded by the same initial cycle, then wrk -t1 -c{args.connections}, "
          f"median of {runs} x {duration} s\n")
    print("| scenario | gateway | scim2-server | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| initial cycle (users/s, total s) | {gc['users_per_s']:,.0f}/s, {gc['total_s']:.1f} s "
          f"| {pc['users_per_s']:,.0f}/s, {pc['total_s']:.1f} s | {pc['total_s'] / gc['total_s']:.1f}x |")
    for label in ours:
        o, t = ours[label], theirs[label]
        # A run too short for the peer's slowest answers completes none.
        ratio = f"{o['rps'] / t['rps']:.1f}x" if t["rps"] else "none answered in time"
        print(f"| `{label}` | {o['rps']:,.0f}/s, p50 {o['p50_ms']:.2f} ms | {t['rps']:,.0f}/s, p50 {t['p50_ms']:.2f} ms "
              f"| {ratio} |")
    write_json(args.json, {"users": users, "runs": runs, "duration_s": duration,
                           "peer": f"scim2-server {PEER_VERSION}", "cycles": cycles, "results": results})
    print(f"\nJSON: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
