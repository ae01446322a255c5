#!/usr/bin/env python3
"""Every load harness in one run: builds the release binaries once, then runs
the embedded-store scenarios, the Entra-like initial cycle, the reference
peer (scim2-server), the gateway in front of a SCIM upstream (direct, nginx,
gateway x step kinds) and the legacy REST connector. Writes one Markdown
report and one JSON file with every harness's results.

    python3 bench/all.py            # the full set, under 10 minutes
    python3 bench/all.py --quick    # a smoke run of every harness, under 2 minutes

Needs `wrk` and `nginx` (Debian packages), the wasm32-wasip2 target, Python's
`venv` and PyPI (for scim2-server). Every harness stops what it started.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from run import ROOT, sh

BENCH = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "target", "bench")

# (title, script, full arguments, quick arguments)
HARNESSES = [
    ("Embedded store", "run.py", ["--runs", "3", "--duration", "4"], ["--quick", "--duration", "1"]),
    ("Entra-like initial cycle", "cycle.py", [], ["--quick"]),
    ("Entra-like initial cycle on PostgreSQL", "cycle.py", ["--postgres"], ["--quick", "--postgres"]),
    ("Reads as the tenant grows", "scale.py", ["--runs", "3", "--duration", "5"], ["--quick", "--duration", "1"]),
    ("Reads as the tenant grows, on PostgreSQL", "scale.py", ["--postgres", "--runs", "3", "--duration", "5"],
     ["--quick", "--postgres", "--duration", "1"]),
    ("Stores: SQLite, PostgreSQL, two replicas", "stores.py", ["--runs", "3", "--duration", "3"],
     ["--quick", "--duration", "1"]),
    ("Reference peer: scim2-server", "peer.py", ["--runs", "3", "--duration", "3"], ["--quick"]),
    ("Gateway cost in front of a SCIM upstream", "upstream.py", ["--runs", "3", "--duration", "2"],
     ["--quick", "--duration", "1"]),
    ("Legacy REST through the connector", "legacy.py", ["--runs", "3", "--duration", "2"],
     ["--quick", "--duration", "1"]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", help="comma-separated harness scripts to run, e.g. run.py,cycle.py")
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install wrk nginx)")

    started = time.monotonic()
    sh("cargo", "build", "--release", "-q", "-p", "scimgate", "-p", "legacy-hr", "-p", "scimgate-plugin-artifacts",
       "-p", "scimgate-bench-cycle", cwd=ROOT)
    built = time.monotonic() - started
    env = dict(os.environ, BENCH_BUILT="1")
    mode = "--quick" if args.quick else "full"
    sections, results = [], {}
    for title, script, full, quick in HARNESSES:
        if args.only and script not in args.only.split(","):
            continue
        # One harness may run twice (cycle.py, cycle.py --postgres).
        name = script.removesuffix(".py") + ("-postgres" if "--postgres" in full else "")
        json_path = os.path.join(OUT, f"{name}.json")
        command = [sys.executable, os.path.join(BENCH, script), *(quick if args.quick else full), "--json", json_path]
        print(f"== {title}: {' '.join(['bench/' + script, *command[2:-2]])}", file=sys.stderr)
        t = time.monotonic()
        out = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
        secs = time.monotonic() - t
        shown = " ".join(["python3", "bench/" + script, *command[2:-2]])
        sections.append(f"## {title}\n\n`{shown}` ({secs:.0f} s)\n\n{out.strip()}\n")
        with open(json_path) as f:
            results[name] = {"seconds": secs, **json.load(f)}
    total = time.monotonic() - started

    header = (f"# scimgate benchmarks ({mode})\n\n`python3 bench/all.py{' --quick' if args.quick else ''}` on "
              f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M %Z')}: {total:.0f} s in all "
              f"(build {built:.0f} s). Load generators share the cores with what they measure.\n")
    report = header + "\n" + "\n".join(sections)
    os.makedirs(OUT, exist_ok=True)
    md, js = os.path.join(OUT, "all.md"), os.path.join(OUT, "all.json")
    with open(md, "w") as f:
        f.write(report)
    with open(js, "w") as f:
        json.dump({"mode": mode, "cores": os.cpu_count(), "seconds": total, "harnesses": results}, f, indent=2)
    print(report)
    print(f"Markdown: {md}\nJSON: {js}", file=sys.stderr)


if __name__ == "__main__":
    main()
