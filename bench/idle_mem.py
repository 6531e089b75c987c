#!/usr/bin/env python3
"""RSS cost of idle keep-alive client connections on a running proxy.

Opens N connections to the proxy, one at a time sends a request on each and
reads the response (so the proxy never needs more than one upstream
connection: only client-side state is measured), keeps them all open and
idle, then reports the proxy's RSS growth per connection after 1 s and 5 s
(allocators return freed memory to the system with some delay) (VmRSS of the pid
and its threads/children, from /proc).

usage: idle_mem.py PID PORT [N]       (N defaults to 10000)
"""
import os, resource, socket, sys, time

def rss_kb(pid):
    total = 0
    for p in [pid] + [int(c) for c in os.popen(f"pgrep -P {pid}").read().split()]:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total

def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    # Warm up: one request, so one-time allocations are not counted.
    w = socket.create_connection(("127.0.0.1", port)); w.sendall(req); w.recv(65536); w.close()
    time.sleep(0.5)
    before = rss_kb(pid)
    socks, ok = [], 0
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), 5)
        c.sendall(req)
        if c.recv(65536).startswith(b"HTTP/1.1 200"):
            ok += 1
        socks.append(c)
    for wait in (1, 5):
        time.sleep(wait - (1 if wait > 1 else 0))
        after = rss_kb(pid)
        print(f"{ok} idle connections after {wait} s: RSS {before} KB -> {after} KB, "
              f"{(after - before) * 1024 / max(ok, 1):.0f} bytes per connection")
    for c in socks:
        c.close()

if __name__ == "__main__":
    main()
