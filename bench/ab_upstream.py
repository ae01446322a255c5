#!/usr/bin/env python3
"""Two builds of the gateway side by side in front of one SCIM upstream (a
release scimgate on its embedded store): GET by id through each at 16
connections and at 1, interleaved run by run, with the CPU each gateway and
the upstream spent per request (from /proc). For before/after claims about
the proxy path in BENCHMARKS.md.

    cp target/release/scimgate /tmp/scimgate-before    # before the change
    cargo build --release -p scimgate                   # after it
    python3 bench/ab_upstream.py --before /tmp/scimgate-before   # 3 runs x 4 s

`--after` defaults to target/release/scimgate; the upstream runs `--after`.
"""

import os

from run import LUA, Fleet, Gateway, build, medians, side_by_side_args, two_builds, write_json, wrk


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    binaries = two_builds(__doc__)
    args = side_by_side_args("ab_upstream", durations=(3, 4))
    runs = args.runs
    build("scimgate")
    with Fleet() as fleet:
        upstream = fleet.add(Gateway(fleet.workdir("scimgate-ab-upstream-"), "[tenants.app]\n",
                                     binary=binaries["after"]))
        tenant = (f'[tenants.none]\n[tenants.none.upstream]\nkind = "scim"\nurl = "{upstream.url}/scim/v2"\n'
                  'auth = { kind = "bearer", token = "${env:UPSTREAM_TOKEN}" }\n')
        fronts = {}
        for label, binary in binaries.items():
            workdir = fleet.workdir(f"scimgate-ab-front-{label}-")
            gw = fleet.add(Gateway(workdir, tenant, env={"UPSTREAM_TOKEN": upstream.token}, binary=binary))
            token = gw.tokens["none"]
            env = dict(os.environ, BENCH_LUA_DIR=LUA, SCIMGATE_TOKEN=token, BENCH_PREFIX=f"seed-{label}")
            wrk(gw.url, "post_user.lua", env, 2, args.connections)
            page = gw.get("/scim/v2/Users?attributes=id&count=1000", token)
            ids = os.path.join(workdir, "ids")
            with open(ids, "w") as f:
                f.write("\n".join(r["id"] for r in page["Resources"]))
            fronts[label] = (gw, dict(env, BENCH_IDS=ids))

        conns = (args.connections, 1)
        samples = {(label, c): [] for label in fronts for c in conns}
        for r in range(runs):
            order = list(fronts) if r % 2 == 0 else list(reversed(fronts))
            for label in order:
                gw, env = fronts[label]
                for c in conns:
                    front0, up0 = cpu_seconds(gw.proc.pid), cpu_seconds(upstream.proc.pid)
                    sample = wrk(gw.url, "get_by_id.lua", env, args.duration, c)
                    n = max(sample["requests"], 1)
                    sample["front_cpu_us"] = (cpu_seconds(gw.proc.pid) - front0) / n * 1e6
                    sample["upstream_cpu_us"] = (cpu_seconds(upstream.proc.pid) - up0) / n * 1e6
                    samples[(label, c)].append(sample)

    write_json(args.json, {"binaries": binaries, "runs": runs, "duration_s": args.duration,
                           "results": {f"{label} c={c}": s for (label, c), s in samples.items()}})
    print(f"Two builds in front of one upstream, GET by id, median of {runs} x {args.duration} s, "
          f"{os.cpu_count()} cores shared\n")
    print("| build | connections | GET/s | p50 ms | gateway CPU µs/request | upstream CPU µs/request |")
    print("|---|---:|---:|---:|---:|---:|")
    for (label, c), s in samples.items():
        m = medians(s)
        front = sorted(x["front_cpu_us"] for x in s)[len(s) // 2]
        up = sorted(x["upstream_cpu_us"] for x in s)[len(s) // 2]
        print(f"| {label} | {c} | {m['rps']:.0f} | {m['p50_ms']:.3f} | {front:.0f} | {up:.0f} |")


if __name__ == "__main__":
    main()
