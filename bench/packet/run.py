#!/usr/bin/env python3
"""L4 packet-engine benchmark: Switchyard's user-space engine (AF_PACKET and
AF_XDP, modes nat and dsr) against the kernel doing the same job in the same
run (nftables DNAT with a jhash map, as kube-proxy's nftables mode; for DSR a
stateless jhash fwmark + policy route, since this kernel has no IPVS).

Topology (all namespaces, nothing in the root namespace; everything is removed
at exit, also on Ctrl-C, unless --keep):

  client  203.0.113.10/24 ──┐            ┌── b1 198.18.0.11/24
                            ├─ bridge ───┼── b2 198.18.0.12/24
  engine  203.0.113.1/24  ──┘  (own ns)  └── b3 198.18.0.13/24
          198.18.0.1/24          VIP 198.51.100.1 (udp 9, tcp 80)

CPU 0: generator (udpgen / wrk), client side, bridge and backends.  CPU 1:
the engine host (its receive softirq via RPS, NAPI threads, the Switchyard
process).  Per-core packet rate = packets the backends received / engine
CPU-seconds, where engine CPU = CPU 1's irq+softirq time (/proc/stat) + the
user+system time of the Switchyard process and the engine's NAPI threads.
CPU 1's whole busy time (user+nice+system+irq+softirq) is reported next to it;
the difference is other load on the machine.

Workloads:
  pps   udpgen.c (AF_PACKET sendmmsg; compiled at start) in the client ns on
        CPU 0, UDP to 198.51.100.1:9, 64-byte payload, source port cycling over
        1024..65535 (64512 flows).  trafgen 0.6.8 dies on veth back-pressure.
  http  wrk -t1 -c50 from the client ns on CPU 0 to http://198.51.100.1/;
        one NGINX worker per backend (also on CPU 0)

examples:
  run.py --contenders kernel-nft                      # the anchor alone
  run.py --switchyard target/release/switchyard       # everything
  run.py --switchyard target/release/switchyard --contenders kernel-nft,switchyard-af_xdp --modes nat --workloads pps
  run.py --cleanup                                    # remove leftovers of a --keep / killed run
Needs: apt-get install -y nftables gcc wrk nginx-light  (iproute2, taskset)
"""
import argparse, atexit, json, os, re, shutil, signal, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "sybench-"
TAG = str(os.getpid() % 100000)
WORK = f"/tmp/sybench-{TAG}"
VIP = "198.51.100.1"
UDP_PORT = 9
BACKENDS = ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
CLIENT_IP = "203.0.113.10"
GEN_CPU, ENGINE_CPU = "0", "1"
ROLES = ["client", "engine", "b1", "b2", "b3"]
CONTENDERS = ["kernel-nft", "switchyard-af_packet", "switchyard-af_xdp"]

VERBOSE = False


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*cmd, check=True, capture=True, input=None, timeout=60):
    if VERBOSE:
        log("+", " ".join(cmd))
    r = subprocess.run(cmd, capture_output=capture, text=True, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr or ''}{r.stdout or ''}")
    return r


def ns_name(role):
    return f"{PREFIX}{TAG}-{role}"


def nsx(role, *cmd, **kw):
    return sh("ip", "netns", "exec", ns_name(role), *cmd, **kw)


def sysctl(role, **kv):
    for k, v in kv.items():
        nsx(role, "sysctl", "-qw", f"{k.replace('__', '.')}={v}")


def read_ns_file(role, path):
    return nsx(role, "cat", path).stdout.strip()


# ---------------------------------------------------------------- topology

class Topology:
    """One fresh set of namespaces per (contender, mode): clean conntrack,
    neighbour tables and sysctls every time."""

    def __init__(self, mode):
        self.mode = mode
        self.procs = []
        self.up = False

    def create(self):
        br = ns_name("br")
        for n in ["br"] + ROLES:
            sh("ip", "netns", "add", ns_name(n))
            nsx(n, "ip", "link", "set", "lo", "up")
            for k in ("all", "default"):
                nsx(n, "sysctl", "-qw", f"net.ipv6.conf.{k}.disable_ipv6=1")
                nsx(n, "sysctl", "-qw", f"net.ipv4.conf.{k}.rp_filter=0")
        self.up = True
        nsx("br", "ip", "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        nsx("br", "ip", "link", "set", "br0", "up")
        self.mac, self.port = {}, {}
        for r in ROLES:
            port = f"sy{TAG}{r[0] if r in ('client', 'engine') else r}"[:15]
            self.port[r] = port
            sh("ip", "link", "add", port, "netns", br, "type", "veth", "peer", "name", "eth0", "netns", ns_name(r))
            nsx("br", "ip", "link", "set", port, "master", "br0")
            nsx("br", "ip", "link", "set", port, "up")
            nsx(r, "ip", "link", "set", "eth0", "up")
            self.mac[r] = read_ns_file(r, "/sys/class/net/eth0/address")
            # static fdb: the bridge must never flood client->engine frames to the backends
            nsx("br", "bridge", "fdb", "replace", self.mac[r], "dev", port, "master", "static")
        # addresses and routes
        nsx("client", "ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        nsx("client", "ip", "route", "add", "198.51.100.0/24", "via", "203.0.113.1")
        nsx("engine", "ip", "addr", "add", "203.0.113.1/24", "dev", "eth0")
        nsx("engine", "ip", "addr", "add", "198.18.0.1/24", "dev", "eth0")
        sysctl("engine", net__ipv4__conf__all__send_redirects=0, net__ipv4__conf__eth0__send_redirects=0)
        for i, ip in enumerate(BACKENDS):
            b = f"b{i + 1}"
            nsx(b, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
            if self.mode == "nat":
                nsx(b, "ip", "route", "add", "default", "via", "198.18.0.1")
            else:
                nsx(b, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
                sysctl(b, net__ipv4__conf__all__arp_ignore=1, net__ipv4__conf__all__arp_announce=2,
                       net__ipv4__conf__eth0__arp_ignore=1, net__ipv4__conf__eth0__arp_announce=2)
                nsx(b, "ip", "route", "add", "203.0.113.0/24", "dev", "eth0")
            # UDP sink: drop the benchmark's datagrams at the backend's ingress hook, so no
            # ICMP port-unreachable goes back (rx_packets is counted before this hook)
            nsx(b, "nft", "-f", "-", input=f"""
table netdev sybench {{
  chain in {{ type filter hook ingress device "eth0" priority 0; policy accept;
    ip daddr {{ {ip}, {VIP} }} udp dport {UDP_PORT} drop
  }}
}}""")
        # CPU placement.  Packets into the engine are processed on CPU 1 (RPS on its
        # eth0; NAPI threads, if any, are pinned later).  Packets the engine sends are
        # handed off to CPU 0 (RPS on the bridge port facing the engine), as a NIC would
        # DMA them away, so the bridge and the backends do not run on the engine's core.
        nsx("engine", "sh", "-c", "echo 2 > /sys/class/net/eth0/queues/rx-0/rps_cpus")
        if not os.environ.get("SYBENCH_BRIDGE_ON_ENGINE_CPU"):
            nsx("br", "sh", "-c", f"echo 1 > /sys/class/net/{self.port['engine']}/queues/rx-0/rps_cpus")
        # neighbours: warm the engine's ARP for the backends and the client's for the gateway
        for ip in BACKENDS:
            nsx("engine", "ping", "-c1", "-W1", ip, check=False)
        nsx("client", "ping", "-c1", "-W1", "203.0.113.1", check=False)

    def spawn(self, role, cmd, name, cpu):
        logf = open(f"{WORK}/{name}.log", "w")
        full = ["taskset", "-c", cpu, "ip", "netns", "exec", ns_name(role), *cmd]
        if VERBOSE:
            log("+", " ".join(full))
        p = subprocess.Popen(full, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        p.name = name
        self.procs.append(p)
        return p

    def destroy(self):
        for p in self.procs:
            stop(p)
        self.procs = []
        if not self.up:
            return
        for n in ROLES + ["br"]:
            # anything still running inside our namespaces was started by us
            pids = sh("ip", "netns", "pids", ns_name(n), check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        time.sleep(0.1)
        for n in ROLES + ["br"]:
            sh("ip", "netns", "del", ns_name(n), check=False)
        self.up = False


def stop(p, timeout=5):
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    except ProcessLookupError:
        pass


def cleanup_all():
    """Remove every sybench- namespace (left by --keep or a killed run)."""
    for line in sh("ip", "netns", "list").stdout.splitlines():
        n = line.split()[0] if line.strip() else ""
        if n.startswith(PREFIX):
            for pid in sh("ip", "netns", "pids", n, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            time.sleep(0.05)
            sh("ip", "netns", "del", n, check=False)
            log("removed", n)


# ---------------------------------------------------------------- engines

def nft_nat_rules():
    m = ", ".join(f"{i} : {ip}" for i, ip in enumerate(BACKENDS))
    return f"""
table ip sybench {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {VIP} udp dport {UDP_PORT} dnat to jhash ip saddr . udp sport mod {len(BACKENDS)} map {{ {m} }}
    ip daddr {VIP} tcp dport 80 dnat to jhash ip saddr . tcp sport mod {len(BACKENDS)} map {{ {m} }}
  }}
}}"""


def nft_dsr_rules():
    # Stateless L2 DSR: choose a backend by jhash into the packet mark, then route the
    # packet (destination still the VIP) to that backend's MAC by policy routing.
    return f"""
table ip sybench {{
  chain prerouting {{
    type filter hook prerouting priority mangle; policy accept;
    ip daddr {VIP} udp dport {UDP_PORT} meta mark set jhash ip saddr . udp sport mod {len(BACKENDS)} offset 1
    ip daddr {VIP} tcp dport 80 meta mark set jhash ip saddr . tcp sport mod {len(BACKENDS)} offset 1
  }}
}}"""


class KernelNft:
    name = "kernel-nft"

    def __init__(self, topo, mode, args):
        self.topo, self.mode = topo, mode

    def start(self):
        sysctl("engine", net__ipv4__ip_forward=1)
        if self.mode == "nat":
            nsx("engine", "nft", "-f", "-", input=nft_nat_rules())
        else:
            nsx("engine", "nft", "-f", "-", input=nft_dsr_rules())
            for i, ip in enumerate(BACKENDS):
                table = str(101 + i)
                nsx("engine", "ip", "rule", "add", "fwmark", str(i + 1), "lookup", table)
                nsx("engine", "ip", "route", "add", f"{VIP}/32", "via", ip, "dev", "eth0", "table", table)
        return None

    def describe(self):
        if self.mode == "nat":
            return "nft DNAT, jhash(saddr . sport) map, conntrack"
        return "nft jhash mark + fwmark policy route (stateless; no IPVS in this kernel)"

    def stop(self):
        pass


class Switchyard:
    def __init__(self, topo, mode, args, data_path):
        self.topo, self.mode, self.bin, self.data_path = topo, mode, args.switchyard, data_path
        self.name = f"switchyard-{data_path}"
        self.sock = f"/tmp/sybench-{TAG}-engine.sock"
        self.proc = None
        self.ready_timeout = args.ready_timeout

    def describe(self):
        return f"Switchyard engine, {self.data_path}, workers = 1"

    def config(self):
        backends = ", ".join(f'{{ address = "{ip}" }}' for ip in BACKENDS)
        vips = ""
        for name, port, proto in (("bench-udp", UDP_PORT, "udp"), ("bench-http", 80, "tcp")):
            vips += f"""
[[vip]]
name = "{name}"
address = "{VIP}"
port = {port}
protocol = "{proto}"
mode = "{self.mode}"
interfaces = ["eth0"]
backends = [ {backends} ]
"""
        return f"""[engine]
data_path = "{self.data_path}"
workers = 1
control_socket = "{self.sock}"
{vips}"""

    def start(self):
        if not self.bin:
            raise RuntimeError("no --switchyard BIN given")
        if not os.access(self.bin, os.X_OK):
            raise RuntimeError(f"{self.bin} is not an executable")
        # The engine forwards; the engine host's own stack must not (else packets go twice).
        sysctl("engine", net__ipv4__ip_forward=0)
        cfg = f"{WORK}/{self.name}-{self.mode}.toml"
        with open(cfg, "w") as f:
            f.write(self.config())
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
        chk = sh(self.bin, "check", "-c", cfg, check=False)
        if chk.returncode != 0:
            raise RuntimeError(f"switchyard check rejects the config {cfg}: "
                               + " | ".join((chk.stdout + chk.stderr).strip().splitlines()[:6]))
        self.proc = self.topo.spawn("engine", [self.bin, "run", "-c", cfg], f"{self.name}-{self.mode}", ENGINE_CPU)
        deadline = time.time() + self.ready_timeout
        by_counters = False
        while time.time() < deadline:
            if self.proc.poll() is not None:
                out = open(f"{WORK}/{self.proc.name}.log").read()[-1500:]
                raise RuntimeError(f"switchyard exited with {self.proc.returncode} (config {cfg}): "
                                   + " | ".join(out.strip().splitlines()[-6:]))
            if not by_counters:
                r = nsx("engine", self.bin, "vip", "list", "-s", self.sock, check=False, timeout=5)
                if r.returncode == 0:
                    return self.proc
                if "unrecognized subcommand" in r.stderr or "unrecognized subcommand" in r.stdout:
                    log("   (no `vip list` in this binary: readiness = backends' counters move)")
                    by_counters = True
            if by_counters and forwards(self.topo):
                return self.proc
            time.sleep(0.2)
        how = "forwarded-packet counters never moved" if by_counters else \
            f"`switchyard vip list -s {self.sock}` never exited 0"
        raise RuntimeError(f"switchyard not ready after {self.ready_timeout}s ({how}); log {WORK}/{self.proc.name}.log")

    def stop(self):
        if self.proc:
            stop(self.proc)
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass


def forwards(topo, secs=0.3, min_pkts=100):
    """Does a short burst to the VIP reach the backends?"""
    before = counters()["backends_rx"]
    gen = topo.spawn("client", udpgen_cmd(topo), "udpgen-probe", GEN_CPU)
    time.sleep(secs)
    stop(gen)
    topo.procs.remove(gen)
    time.sleep(0.05)
    return counters()["backends_rx"] - before >= min_pkts


def make_engine(name, topo, mode, args):
    if name == "kernel-nft":
        return KernelNft(topo, mode, args)
    if name.startswith("switchyard-"):
        return Switchyard(topo, mode, args, name.split("-", 1)[1])
    raise ValueError(name)


def pin_napi_threads():
    """Threaded NAPI for the engine's eth0, pinned to CPU 1.  veth has NAPI only when
    an XDP program is attached (AF_XDP) or GRO is on; with XDP the program runs in
    NAPI context on the CPU that *sent* the frame (CPU 0 here), before RPS, so it
    would escape the CPU 1 accounting.  Returns a note for the report."""
    before = set(napi_threads())
    nsx("engine", "sh", "-c", "echo 1 > /sys/class/net/eth0/threaded", check=False)
    new = [pid for pid in napi_threads() if pid not in before]
    if not new:
        return [], f"engine eth0 without NAPI: receive path via RPS on CPU {ENGINE_CPU}"
    for pid in new:
        sh("taskset", "-pc", ENGINE_CPU, str(pid), check=False)
    return [int(p) for p in new], f"engine eth0 NAPI threaded, {len(new)} thread(s) pinned to CPU {ENGINE_CPU}"


def napi_threads():
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if open(f"/proc/{pid}/comm").read().startswith("napi/eth0"):
                    out.append(pid)
            except OSError:
                pass
    return out


# ---------------------------------------------------------------- measurement

HZ = os.sysconf("SC_CLK_TCK")
ENGINE_PIDS = []   # the Switchyard process and the engine's NAPI threads, if any


def cpu_times():
    """{cpu: (busy, irq+softirq)} in seconds, busy = user+nice+system+irq+softirq."""
    res = {}
    for line in open("/proc/stat"):
        if line.startswith("cpu") and line[3].isdigit():
            f = line.split()
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, f[1:9])
            res[f[0][3:]] = ((user + nice + system + irq + softirq) / HZ, (irq + softirq) / HZ)
    return res


def proc_cpu(pid):
    """utime+stime (s) of a process (all its threads) and its descendants."""
    total = 0
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    kids = sh("pgrep", "-P", str(pid), check=False).stdout.split()
    return total / HZ + sum(proc_cpu(int(k)) for k in kids)


def engine_cpu():
    """CPU seconds that are the engine host's work on CPU 1: the CPU's irq+softirq time
    (the kernel's receive/forward path, AF_PACKET/XDP delivery) plus the engine's own
    processes and NAPI threads.  Leaves out whatever else the machine runs on CPU 1."""
    return cpu_times()[ENGINE_CPU][1] + sum(proc_cpu(p) for p in ENGINE_PIDS)


def counters():
    c = {"t": time.monotonic(), "cpu": cpu_times(), "engine_cpu": engine_cpu()}
    c["client_tx"] = int(read_ns_file("client", "/sys/class/net/eth0/statistics/tx_packets"))
    c["engine_rx"] = int(read_ns_file("engine", "/sys/class/net/eth0/statistics/rx_packets"))
    c["engine_tx"] = int(read_ns_file("engine", "/sys/class/net/eth0/statistics/tx_packets"))
    c["backends_rx"] = sum(int(read_ns_file(f"b{i + 1}", "/sys/class/net/eth0/statistics/rx_packets"))
                           for i in range(len(BACKENDS)))
    return c


def delta(a, b):
    dt = b["t"] - a["t"]
    d = {k: b[k] - a[k] for k in ("client_tx", "engine_rx", "engine_tx", "backends_rx")}
    d["dt"] = dt
    for cpu in (GEN_CPU, ENGINE_CPU):
        d[f"cpu{cpu}_busy"] = (b["cpu"][cpu][0] - a["cpu"][cpu][0]) / dt
    d["engine_s"] = b["engine_cpu"] - a["engine_cpu"]
    d["engine_busy"] = d["engine_s"] / dt
    # busy time on CPU 1 that is not the engine's (other processes on the machine)
    d["cpu1_other"] = max(0.0, d[f"cpu{ENGINE_CPU}_busy"] - d["engine_busy"])
    return d


SPORTS = (1024, 65535)
PAYLOAD = 64


def build_udpgen():
    exe = f"{WORK}/udpgen"
    if not os.path.exists(exe):
        sh("gcc", "-O2", "-Wall", "-o", exe, f"{HERE}/udpgen.c")
    return exe


def udpgen_cmd(topo):
    return [build_udpgen(), "eth0", topo.mac["engine"], topo.mac["client"], CLIENT_IP, VIP,
            str(UDP_PORT), str(PAYLOAD), str(SPORTS[0]), str(SPORTS[1])]


def run_pps(topo, args):
    # trafgen (netsniff-ng 0.6.8) exits with "Flushing TX_RING failed: Resource temporarily
    # unavailable" on veth as soon as the receiving backlog pushes back, and its sendto
    # fallback (-t 0) sends one packet per syscall; udpgen.c does the same frames with
    # sendmmsg and survives back-pressure.
    gen_cmd = udpgen_cmd(topo)
    runs = []
    for i in range(args.repeat):
        gen = topo.spawn("client", gen_cmd, "udpgen", GEN_CPU)
        try:
            time.sleep(args.warmup)
            if gen.poll() is not None:
                raise RuntimeError("udpgen exited: " + open(f"{WORK}/udpgen.log").read()[-800:])
            a = counters()
            time.sleep(args.secs)
            b = counters()
        finally:
            stop(gen)
            topo.procs.remove(gen)
        d = delta(a, b)
        fwd = d["backends_rx"]
        busy = d["engine_s"]
        r = dict(offered_pps=d["client_tx"] / d["dt"], forwarded_pps=fwd / d["dt"],
                 engine_tx_pps=d["engine_tx"] / d["dt"],
                 engine_busy=d["engine_busy"], cpu1_busy=d[f"cpu{ENGINE_CPU}_busy"],
                 cpu1_other=d["cpu1_other"], cpu0_busy=d[f"cpu{GEN_CPU}_busy"],
                 pps_per_core=fwd / busy if busy > 0 else 0.0,
                 us_per_pkt=busy * 1e6 / fwd if fwd else float("inf"))
        runs.append(r)
        log(f"    pps run {i + 1}: " + "  ".join(f"{k}={fmt(v)}" for k, v in r.items()))
        time.sleep(0.5)
    return runs


WRK_RE = re.compile(r"Requests/sec:\s+([\d.]+)")


def run_wrk(topo, secs):
    cmd = ["taskset", "-c", GEN_CPU, "ip", "netns", "exec", ns_name("client"),
           "wrk", "-t1", "-c50", f"-d{secs}s", "--latency", f"http://{VIP}/"]
    a = counters()
    out = sh(*cmd, check=False, timeout=secs + 30).stdout
    b = counters()
    return out, delta(a, b)


def run_http(topo, args):
    for i in range(len(BACKENDS)):
        b = f"b{i + 1}"
        conf = f"{WORK}/nginx-{b}.conf"
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {WORK}/nginx-{b}.pid;
error_log {WORK}/nginx-{b}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {WORK}/tmp-{b};
  proxy_temp_path {WORK}/tmp-{b};
  fastcgi_temp_path {WORK}/tmp-{b};
  uwsgi_temp_path {WORK}/tmp-{b};
  scgi_temp_path {WORK}/tmp-{b};
  server {{
    listen 80 default_server;      # its own 198.18.0.x and, for DSR, the VIP on lo
    location / {{ default_type text/plain; return 200 "hello from {b}\\n"; }}
  }}
}}
""")
        topo.spawn(b, ["nginx", "-c", conf], f"nginx-{b}", GEN_CPU)
    # wait until every backend answers directly
    deadline = time.time() + 10
    for ip in BACKENDS:
        probe = f"import socket; socket.create_connection(('{ip}', 80), 0.5).close()"
        while nsx("engine", "python3", "-c", probe, check=False).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError(f"nginx on {ip} did not come up, see {WORK}/nginx-*.err")
            time.sleep(0.2)
    runs = []
    run_wrk(topo, max(1, int(args.warmup)))  # warm-up (neighbours, conntrack, flow tables)
    for i in range(args.repeat):
        out, d = run_wrk(topo, args.secs)
        m = WRK_RE.search(out)
        if not m:
            raise RuntimeError("wrk failed: " + out[-500:])
        reqs = int(re.search(r"(\d+) requests in", out).group(1))
        sock = re.search(r"Socket errors: (.*)", out)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
        busy = d["engine_s"]
        r = dict(rps=float(m.group(1)), engine_busy=d["engine_busy"], cpu1_busy=d[f"cpu{ENGINE_CPU}_busy"],
                 cpu1_other=d["cpu1_other"], cpu0_busy=d[f"cpu{GEN_CPU}_busy"],
                 us_per_req=busy * 1e6 / reqs if reqs else float("inf"),
                 p99_ms=float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)] if p99 else None,
                 errors=(int(non2xx.group(1)) if non2xx else 0) + (1 if sock else 0))
        if sock:
            r["sockerr"] = sock.group(1)
        runs.append(r)
        log(f"    http run {i + 1}: " + "  ".join(f"{k}={fmt(v)}" for k, v in r.items()))
    return runs


def fmt(v):
    if isinstance(v, float):
        if v >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    return str(v)


def median_run(runs, key):
    """The run whose `key` is the median (odd count) or the lower-middle one."""
    s = sorted(runs, key=lambda r: r[key])
    return s[(len(s) - 1) // 2]


# ---------------------------------------------------------------- report

def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{os.cpu_count()} CPU ({sh('nproc').stdout.strip()} online), {model}, Linux {os.uname().release}"


def report(results, args):
    out = []
    out.append(f"Machine: {machine()}; {args.secs} s x {args.repeat} runs (median shown, min-max in brackets), "
               f"{args.warmup} s warm-up.  Generator on CPU {GEN_CPU}, engine host on CPU {ENGINE_CPU}.")
    out.append("")
    pps = [r for r in results if r["workload"] == "pps"]
    if pps:
        out.append("**pps** (UDP, 64-byte payload, 64512 flows; per core = forwarded / engine CPU-seconds)")
        out.append("")
        out.append("| contender | mode | offered pps | forwarded pps | engine CPU (CPU1 busy) | pps per core | CPU µs/pkt | vs kernel |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in pps:
            if r.get("error"):
                out.append(f"| {r['contender']} | {r['mode']} | n/a | | | | | {r['error']} |")
                continue
            m = r["median"]
            lo = min(x["pps_per_core"] for x in r["runs"])
            hi = max(x["pps_per_core"] for x in r["runs"])
            anchor = next((x for x in pps if x["contender"] == "kernel-nft" and x["mode"] == r["mode"]
                           and not x.get("error")), None)
            ratio = f"{m['pps_per_core'] / anchor['median']['pps_per_core']:.2f}" if anchor else "n/a"
            if r["contender"] == "kernel-nft":
                ratio = "1.00 (anchor)"
            out.append(f"| {r['contender']} | {r['mode']} | {m['offered_pps']:,.0f} | {m['forwarded_pps']:,.0f} | "
                       f"{m['engine_busy'] * 100:.0f} % ({m['cpu1_busy'] * 100:.0f} %) | {m['pps_per_core']:,.0f} [{lo:,.0f}-{hi:,.0f}] | "
                       f"{m['us_per_pkt']:.2f} | {ratio} |")
        out.append("")
    http = [r for r in results if r["workload"] == "http"]
    if http:
        out.append("**http** (wrk -t1 -c50, keep-alive, NGINX backends; µs/req = engine CPU / requests)")
        out.append("")
        out.append("| contender | mode | req/s | p99 ms | engine CPU (CPU1 busy) | engine µs/req | vs kernel (µs/req) |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        for r in http:
            if r.get("error"):
                out.append(f"| {r['contender']} | {r['mode']} | n/a | | | | {r['error']} |")
                continue
            m = r["median"]
            lo = min(x["us_per_req"] for x in r["runs"])
            hi = max(x["us_per_req"] for x in r["runs"])
            anchor = next((x for x in http if x["contender"] == "kernel-nft" and x["mode"] == r["mode"]
                           and not x.get("error")), None)
            ratio = f"{m['us_per_req'] / anchor['median']['us_per_req']:.2f}" if anchor else "n/a"
            if r["contender"] == "kernel-nft":
                ratio = "1.00 (anchor)"
            p99 = f"{m['p99_ms']:.2f}" if m.get("p99_ms") is not None else ""
            out.append(f"| {r['contender']} | {r['mode']} | {m['rps']:,.0f} | {p99} | {m['engine_busy'] * 100:.0f} % ({m['cpu1_busy'] * 100:.0f} %) | "
                       f"{m['us_per_req']:.2f} [{lo:.2f}-{hi:.2f}] | {ratio} |")
        out.append("")
    other = [x["cpu1_other"] for r in results for x in r.get("runs", [])]
    if other and max(other) > 0.05:
        out.append(f"WARNING: other processes used up to {max(other) * 100:.0f} % of CPU 1 during the runs "
                   f"(median {statistics.median(other) * 100:.0f} %); they are left out of the engine's CPU, "
                   "but they perturb caches and scheduling: rerun on a quiet machine for numbers to keep.")
        out.append("")
    notes = sorted({f"- {r['contender']} {r['mode']}: {r['describe']}; {r['placement']}"
                    for r in results if r.get("describe")})
    if notes:
        out.extend(notes)
    return "\n".join(out)


# ---------------------------------------------------------------- main

def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--switchyard", metavar="BIN", help="path to the switchyard binary (for the switchyard-* contenders)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help=f"comma-separated, from {','.join(CONTENDERS)}")
    ap.add_argument("--modes", default="nat,dsr", help="comma-separated: nat,dsr")
    ap.add_argument("--workloads", default="pps,http", help="comma-separated: pps,http")
    ap.add_argument("--secs", type=int, default=10, help="measured seconds per run (default 10)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell, median reported (default 3)")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (default 1)")
    ap.add_argument("--ready-timeout", type=float, default=20, help="seconds to wait for the engine (default 20)")
    ap.add_argument("--keep", action="store_true", help="do not tear down the last topology (debugging; then --cleanup)")
    ap.add_argument("--cleanup", action="store_true", help="remove all sybench- namespaces and exit")
    ap.add_argument("--json", help="also write all runs to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every command")
    ap.add_argument("--bridge-on-engine-cpu", action="store_true",
                    help="leave the bridge port facing the engine without RPS, so everything after the engine "
                         "(bridge, backend delivery) also runs on CPU 1, as a NIC driver's transmit would; "
                         "then CPU 1 saturates and forwarded pps is the per-core rate")
    a = ap.parse_args()
    VERBOSE = a.verbose
    if a.bridge_on_engine_cpu:
        os.environ["SYBENCH_BRIDGE_ON_ENGINE_CPU"] = "1"
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    if a.cleanup:
        cleanup_all()
        return
    contenders = [c for c in a.contenders.split(",") if c]
    for c in contenders:
        if c not in CONTENDERS:
            sys.exit(f"unknown contender {c}")
    if a.switchyard:
        a.switchyard = os.path.abspath(a.switchyard)
    modes = [m for m in a.modes.split(",") if m]
    workloads = [w for w in a.workloads.split(",") if w]
    for tool in ["nft", "gcc", "wrk", "nginx", "taskset", "bridge"]:
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: apt-get install -y nftables gcc wrk nginx-light iproute2")
    os.makedirs(WORK, exist_ok=True)
    for i in range(len(BACKENDS)):
        os.makedirs(f"{WORK}/tmp-b{i + 1}", exist_ok=True)

    state = {"topo": None}

    def teardown(*_):
        t = state["topo"]
        if t is not None and not a.keep:
            t.destroy()
        state["topo"] = None

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    atexit.register(teardown)
    signal.signal(signal.SIGTERM, on_signal)

    results = []
    log(f"machine: {machine()}; work dir {WORK}")
    try:
        for mode in modes:
            for c in contenders:
                log(f"== {c} / {mode}")
                topo = Topology(mode)
                state["topo"] = topo
                base = dict(contender=c, mode=mode)
                try:
                    topo.create()
                    eng = make_engine(c, topo, mode, a)
                    ENGINE_PIDS.clear()
                    proc = eng.start()
                    napi, placement = pin_napi_threads()
                    ENGINE_PIDS.extend(([proc.pid] if proc else []) + napi)
                    base.update(describe=eng.describe(), placement=placement)
                    log(f"   {base['describe']}; {placement}")
                except Exception as e:  # a contender that cannot start does not stop the others
                    msg = str(e).strip().splitlines()
                    log(f"   FAILED: {str(e).strip()}")
                    for w in workloads:
                        results.append(dict(base, workload=w, error=f"failed: {msg[0] if msg else e}"[:300]))
                    if not (a.keep and c == contenders[-1] and mode == modes[-1]):
                        topo.destroy()
                    continue
                for w in workloads:
                    try:
                        if w == "pps":
                            runs = run_pps(topo, a)
                            results.append(dict(base, workload=w, runs=runs, median=median_run(runs, "pps_per_core")))
                            if runs and runs[0]["forwarded_pps"] < 0.01 * runs[0]["offered_pps"]:
                                log("   WARNING: almost nothing forwarded")
                        elif w == "http":
                            runs = run_http(topo, a)
                            results.append(dict(base, workload=w, runs=runs, median=median_run(runs, "us_per_req")))
                        else:
                            raise RuntimeError(f"unknown workload {w}")
                    except Exception as e:
                        log(f"   {w} FAILED: {e}")
                        results.append(dict(base, workload=w, error=f"failed: {str(e).strip().splitlines()[0]}"[:160]))
                eng.stop()
                if not (a.keep and c == contenders[-1] and mode == modes[-1]):
                    topo.destroy()
                    state["topo"] = None
    except KeyboardInterrupt:
        log("interrupted, cleaning up")
        teardown()
        sys.exit(130)
    finally:
        if a.keep and state["topo"] is not None:
            log(f"--keep: namespaces {PREFIX}{TAG}-* left in place; remove with: {sys.argv[0]} --cleanup")
            state["topo"] = None
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(machine=machine(), args=vars(a), results=results), f, indent=1)
    print(report(results, a))
    if not a.keep and not any(r.get("error") for r in results):
        shutil.rmtree(WORK, ignore_errors=True)   # logs are kept when something failed
    else:
        log(f"logs and configs: {WORK}")


if __name__ == "__main__":
    main()
