#!/usr/bin/env python3
"""Where a proxy's CPU per request goes: user vs system time, wake-up IPIs
and TCP segments, for one load run against an already running proxy.

run.py reports one figure per proxy (user + system CPU per request). When
that figure differs from HAProxy's, this tells whether the difference is
user-space work or kernel work, and whether the kernel work comes from
wake-ups (rescheduling IPIs to the load generator's CPU) or from extra
packets. It is how the corked-writes change was found (BENCHMARKS.md).

    cpu_split.py PID -- wrk -t1 -c50 -d5s http://127.0.0.1:8000/
    cpu_split.py PID -- h2load -c16 -m10 -D5 https://127.0.0.1:8443/

The load command runs pinned to CPU 1 (as in ../shared/bench/run.py); pin
the proxy to CPU 0 yourself. Linux only (/proc).
"""

import os
import re
import subprocess
import sys

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """(user, system) clock ticks of a process, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def ipis():
    """Rescheduling and function-call IPIs per CPU (CPU 0, CPU 1)."""
    out = {}
    with open("/proc/interrupts") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("RES:", "CAL:"):
                out[parts[0][:-1]] = (int(parts[1]), int(parts[2]))
    return out


def tcp_segments():
    """(InSegs, OutSegs) from /proc/net/snmp."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    names, values = rows[0], rows[1]
    return int(values[names.index("InSegs")]), int(values[names.index("OutSegs")])


def requests(output):
    """Completed requests from wrk or h2load output."""
    m = re.search(r"^\s*(\d+) requests in", output, re.M)
    if m:
        return int(m.group(1))
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done", output)
    if m:
        return int(m.group(2))
    raise SystemExit("could not find a request count in the load output:\n" + output)


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        raise SystemExit(__doc__)
    pid = int(sys.argv[1])
    cmd = ["taskset", "-c", "1", *sys.argv[3:]]
    u0, s0 = cpu_ticks(pid)
    i0, seg0 = ipis(), tcp_segments()
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    u1, s1 = cpu_ticks(pid)
    i1, seg1 = ipis(), tcp_segments()
    n = requests(run.stdout)
    us = 1e6 / TICK / n
    print(f"requests {n}")
    print(f"user   {(u1 - u0) * us:6.2f} us/request")
    print(f"system {(s1 - s0) * us:6.2f} us/request")
    print(f"total  {((u1 - u0) + (s1 - s0)) * us:6.2f} us/request")
    for kind in sorted(i1):
        d0 = (i1[kind][0] - i0[kind][0]) / n
        d1 = (i1[kind][1] - i0[kind][1]) / n
        print(f"{kind} IPIs per request: CPU 0 {d0:.3f}, CPU 1 {d1:.3f}")
    print(
        f"TCP segments per request: in {(seg1[0] - seg0[0]) / n:.2f}, "
        f"out {(seg1[1] - seg0[1]) / n:.2f}"
    )


if __name__ == "__main__":
    main()
