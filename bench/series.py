#!/usr/bin/env python3
"""A series of ../shared/bench/run.py runs, order alternated, and the
ratios to HAProxy that BENCHMARKS.md records: per run, then the median and
how many runs are within each bar.

One run.py invocation gives one ratio per workload, and on this machine
that ratio moves by ±10 % or more from run to run (the host's load moves
both proxies' throughput, and CPU per request follows it). A bar judged
on one run is a coin toss near parity; a series shows where the proxy
stands. `--aa` adds a second copy of the same binary to every run (an
A/A test): the spread between the two copies is the measurement's own
noise, with no code difference at all.

    bench/series.py --runs 8
    bench/series.py --runs 4 --aa --workloads l7-keepalive,tls-keepalive
    bench/series.py --runs 6 --base /tmp/old-switchyard   # A/B in every run

Results go to --out (one JSON file per run, run.py's own format), so a
series can be summarised again later with --summarise DIR.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUN_PY = os.path.join(ROOT, "..", "shared", "bench", "run.py")
CONFIG = os.path.join(HERE, "switchyard.toml")

# The bars of issues 2 and 4: CPU per request (per GB for bulk) over
# HAProxy's in the same run.
BARS = {
    "l7-keepalive": 1.0,
    "l7-close": 1.0,
    "l7-bulk": 1.0,
    "tls-keepalive": 1.0,
    "tls-handshake": 0.67,
    "h2-tls": 1.0,
}
ALL = ",".join(BARS)


def figure(r):
    """The compared figure of one run.py result line."""
    return r.get("cpu_ms_per_GB") if "bulk" in r["mode"] else r.get("cpu_us_per_req")


def ratios(path):
    """{proxy: {workload: ratio to HAProxy}} of one run's JSON file."""
    with open(path) as f:
        results = json.load(f)
    by = {(r["proxy"], r["mode"]): figure(r) for r in results}
    out = {}
    for (proxy, mode), v in by.items():
        h = by.get(("haproxy", mode))
        if proxy != "haproxy" and h and v is not None:
            out.setdefault(proxy, {})[mode] = v / h
    return out


def summarise(files):
    runs = [(os.path.basename(f), ratios(f)) for f in files]
    proxies = sorted({p for _, r in runs for p in r})
    modes = [m for m in BARS if any(m in r.get(p, {}) for _, r in runs for p in proxies)]
    print("%-14s %-12s " % ("run", "proxy") + " ".join("%13s" % m for m in modes))
    series = {}
    for name, r in runs:
        for p in proxies:
            cells = []
            for m in modes:
                v = r.get(p, {}).get(m)
                if v is None:
                    cells.append("%13s" % "-")
                    continue
                series.setdefault((p, m), []).append(v)
                cells.append("%12.3f%s" % (v, " " if v <= BARS[m] else "!"))
            print("%-14s %-12s " % (name[:14], p[:12]) + " ".join(cells))
    print("('!': outside the bar)")
    for p in proxies:
        cells = []
        for m in modes:
            v = series.get((p, m), [])
            if not v:
                cells.append("%13s" % "-")
                continue
            within = sum(x <= BARS[m] for x in v)
            cells.append("%6.3f %2d/%-2d" % (statistics.median(v), within, len(v)))
        print("%-14s %-12s " % ("median, within", p[:12]) + " ".join(cells))
    if len(proxies) == 2:
        # Two copies (A/A) or two builds (A/B) in the same runs.
        a, b = proxies
        for m in modes:
            pairs = [(r[a][m], r[b][m]) for _, r in runs if m in r.get(a, {}) and m in r.get(b, {})]
            if pairs:
                diffs = [abs(x - y) for x, y in pairs]
                print(f"{m}: |{a} - {b}| per run: median {statistics.median(diffs):.3f}, max {max(diffs):.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--workloads", default=ALL)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "switchyard"))
    ap.add_argument("--base", help="a second binary measured in every run (A/B)")
    ap.add_argument("--aa", action="store_true", help="measure --bin twice in every run (A/A)")
    ap.add_argument("--out", default="/tmp/switchyard-series")
    ap.add_argument("--summarise", metavar="DIR", help="only summarise the runs already in DIR")
    a = ap.parse_args()
    if a.summarise:
        files = sorted(glob.glob(os.path.join(a.summarise, "run-*.json")))
        if not files:
            sys.exit(f"no run-*.json in {a.summarise}")
        summarise(files)
        return
    if not os.path.exists(a.bin):
        sys.exit(f"{a.bin} not found: cargo build --release first")
    os.makedirs(a.out, exist_ok=True)
    proxies = {"switchyard": a.bin}
    if a.aa:
        proxies = {"sy-a": a.bin, "sy-b": a.bin}
    elif a.base:
        proxies["sy-base"] = a.base
    files = []
    for i in range(1, a.runs + 1):
        out = os.path.join(a.out, f"run-{i:02}.json")
        cmd = [sys.executable, RUN_PY, "--no-direct", "--secs", str(a.secs),
               "--only", ",".join(["haproxy", *proxies]), "--workloads", a.workloads, "--json", out]
        for name, binary in proxies.items():
            cmd += ["--proxy", f"{name}={binary} run -c {CONFIG}"]
        if i % 2 == 0:
            cmd.append("--reverse")
        print(f"run {i}/{a.runs}{' (reversed)' if i % 2 == 0 else ''}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        files.append(out)
    summarise(files)


if __name__ == "__main__":
    main()
