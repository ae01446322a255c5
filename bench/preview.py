#!/usr/bin/env python3
"""How long a preview of a new step version takes on a large tenant: a
release gateway whose tenant runs the four example plugins as Rhai scripts,
N users stored through Bulk, then `scimgate plugin preview` of a new
work-email script (it changes the users of one domain in seven) and the
same through `POST /admin/tenants/{t}/preview`.

    python3 bench/preview.py              # 100,000 users
    python3 bench/preview.py --quick      # 10,000 users

Everything it starts it stops. Prints Markdown, writes JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, ROOT, Gateway, build, sh, write_json  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-0123456789"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def user(i):
    domain = "EU.example" if i % 7 == 0 else "corp.example"
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": f"user{i}",
        "externalId": f"ext-{i}",
        "displayName": f"User Number{i}",
        "emails": [{"value": f"User{i}@{domain}", "type": "work", "primary": True}],
        ENTERPRISE: {"department": "Sales" if i % 5 == 0 else "Engineering"},
    }


def post(url, body, token):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int)
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "preview.json"))
    args = ap.parse_args()
    users = args.users or (10_000 if args.quick else 100_000)
    build("scimgate")
    work = tempfile.mkdtemp(prefix="scimgate-bench-preview-")
    rhai = os.path.join(ROOT, "examples", "rhai")
    tenants = '[admin]\nlisten = "127.0.0.1:0"\n[tenants.acme]\nidp = "entra"\n'
    for plugin, config in [("department-scope", 'config = { departments = ["Engineering", "Sales"] }\n'),
                           ("name-split", ""), ("work-email", ""), ("match-by-email", "")]:
        tenants += f'[[tenants.acme.steps]]\nkind = "rhai"\npath = "{rhai}/{plugin}.rhai"\n{config}'
    script = open(os.path.join(rhai, "work-email.rhai")).read()
    old = '    user["userName"] = user_name;'
    new = '    if user_name.ends_with("@eu.example") {\n        user_name.replace("@eu.example", "@corp.eu");\n    }\n'
    v2 = os.path.join(work, "work-email-v2.rhai")
    with open(v2, "w") as f:
        f.write(script.replace(old, new + old))
    gw = Gateway(work, tenants=tenants, env={"SCIMGATE_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = None
    while admin is None:
        line = gw.proc.stdout.readline()
        if "admin listening on " in line:
            admin = line.split("admin listening on ")[1].strip()
    try:
        started = time.monotonic()
        for start in range(0, users, 1000):
            ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": user(i)}
                   for i in range(start, min(start + 1000, users))]
            post(gw.url + "/scim/v2/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                    "Operations": ops}, gw.token).read()
        seeded = time.monotonic() - started

        started = time.monotonic()
        out = sh(BIN, "plugin", "preview", "--config", gw.config, "--tenant", "acme", "--step", "3", "--with", v2,
                 "--json", "--max-changes", "0", capture_output=True).stdout
        cli_s = time.monotonic() - started
        cli = json.loads(out.strip().splitlines()[-1])["summary"]

        started = time.monotonic()
        first_progress = None
        summary = None
        with post(admin + "/admin/tenants/acme/preview", {"step": 3, "plugin": v2, "max_changes": 0},
                  ADMIN_TOKEN) as resp:
            for line in resp:
                event = json.loads(line)
                if "progress" in event and first_progress is None:
                    first_progress = time.monotonic() - started
                summary = event.get("summary", summary)
        api_s = time.monotonic() - started
    finally:
        gw.stop()
    expected = sum(1 for i in range(users) if i % 7 == 0)
    assert cli["changed"] == expected == summary["changed"], (cli, summary, expected)
    result = {"users": users, "seed_s": seeded, "cli_s": cli_s, "cli_elapsed_ms": cli["elapsed_ms"],
              "api_s": api_s, "api_first_progress_s": first_progress, "changed": expected,
              "cores": os.cpu_count()}
    write_json(args.json, result)
    print(f"| users | changed | CLI (process) | CLI preview | admin API | first progress |\n|---:|---:|---:|---:|---:|---:|\n"
          f"| {users:,} | {expected:,} | {cli_s:.1f} s | {cli['elapsed_ms'] / 1000:.1f} s | {api_s:.1f} s | "
          f"{first_progress:.2f} s |")
    print(f"\nseeded through Bulk in {seeded:.0f} s; {os.cpu_count()} cores; {BIN}")


if __name__ == "__main__":
    main()
