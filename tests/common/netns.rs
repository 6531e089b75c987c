//! Network-namespace lab: several "hosts" on one machine, so the packet
//! engine's integration tests can put a client, a load balancer and
//! backends in separate network stacks joined by a real L2 segment.
//!
//! Topology of one [`Lab`]: a bridge `br0` inside a namespace of its own
//! (the root namespace is never touched), and one namespace per
//! [`Host`] whose only interface `eth0` is a veth whose peer is enslaved to
//! that bridge. Every lab is its own L2 domain, so tests running in
//! parallel may reuse the same addresses. Namespace names carry the pid and
//! a per-process counter (`sy<pid>l<n>-<host>`), interface names are fixed
//! inside each namespace (`eth0`, `br0`, `v<i>` on the bridge side), so
//! nothing collides and no name exceeds 15 bytes.
//!
//! Code runs "on" a host in two ways: [`Host::spawn`] starts a program
//! under `ip netns exec` (killed on drop, output captured), and
//! [`Host::enter`] runs a closure on a thread that has `setns(2)`ed into
//! the namespace, so every socket it creates lives there (a socket keeps
//! its namespace when moved to another thread afterwards). On top of that:
//! an HTTP/1.1 backend ([`Host::http_backend`]) and two small clients
//! ([`Host::http_get`], [`Host::keepalive`]).
//!
//! Dropping the [`Lab`] deletes every namespace it made, also while a test
//! panics. Processes still running inside keep their namespace alive until
//! they exit, which is why [`NsProcess`] and [`Backend`] stop theirs on
//! drop (declare the lab first so it is dropped last).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether this test can build labs; prints why it is skipped when not.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping {test}: needs root (network namespaces)");
        return false;
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "skipping {test}: `ip -V` failed ({}): needs iproute2",
                o.status
            );
            false
        }
        Err(e) => {
            eprintln!("skipping {test}: cannot run `ip` ({e}): needs iproute2");
            false
        }
    }
}

/// `ip netns add`/`del` are serialised within the process: iproute2 sets
/// up the `/run/netns` mount on first use, and concurrent first uses race.
static NETNS_LOCK: Mutex<()> = Mutex::new(());

/// Runs a command, panicking with its output when it fails.
fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {}: {e}", args.join(" ")));
    if !out.status.success() {
        panic!(
            "`{program} {}` failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn ip(args: &[&str]) -> Output {
    run("ip", args)
}

/// The names in `ip netns list` (for tests of the lab itself).
pub fn netns_list() -> Vec<String> {
    let out = ip(&["netns", "list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// One L2 segment of hosts; see the module documentation.
pub struct Lab {
    prefix: String,
    bridge_ns: String,
    /// Every namespace created so far, deleted (in reverse) on drop.
    namespaces: Mutex<Vec<String>>,
    next_port: AtomicUsize,
}

impl Lab {
    /// A new, empty lab: the bridge namespace with `br0` up.
    pub fn new() -> Lab {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("sy{}l{n}", std::process::id());
        let lab = Lab {
            bridge_ns: format!("{prefix}-br"),
            prefix,
            namespaces: Mutex::new(Vec::new()),
            next_port: AtomicUsize::new(0),
        };
        // From here on a panic drops `lab`, which deletes what was made.
        lab.add_netns(&lab.bridge_ns);
        ip(&["-n", &lab.bridge_ns, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lab.bridge_ns, "link", "set", "br0", "up"]);
        lab
    }

    fn add_netns(&self, name: &str) {
        let _guard = NETNS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        ip(&["netns", "add", name]);
        self.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_owned());
    }

    /// The namespace holding the bridge (e.g. for `tcpdump -i br0`).
    pub fn bridge_namespace(&self) -> &str {
        &self.bridge_ns
    }

    /// Every namespace of this lab (the bridge's first).
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A new host `name` (letters, digits, `-`; unique in this lab) with
    /// `eth0` on the bridge carrying `addrs` (CIDR, IPv4 or IPv6; IPv6 ones
    /// are added `nodad` so they are usable at once). `lo` and `eth0` are up.
    pub fn host(&self, name: &str, addrs: &[&str]) -> Host {
        let ns = format!("{}-{name}", self.prefix);
        self.add_netns(&ns);
        let port = format!("v{}", self.next_port.fetch_add(1, Ordering::Relaxed));
        ip(&[
            "-n",
            &ns,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &self.bridge_ns,
        ]);
        ip(&[
            "-n",
            &self.bridge_ns,
            "link",
            "set",
            &port,
            "master",
            "br0",
            "up",
        ]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        let host = Host { ns };
        for addr in addrs {
            host.add_addr(addr, "eth0");
        }
        host
    }
}

impl Default for Lab {
    fn default() -> Lab {
        Lab::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|p| p.into_inner()));
        let _guard = NETNS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        // Hosts first (their veths disappear with them), the bridge last.
        for ns in names.iter().rev() {
            match Command::new("ip").args(["netns", "del", ns]).output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => eprintln!(
                    "lab: `ip netns del {ns}` failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                Err(e) => eprintln!("lab: cannot run `ip netns del {ns}`: {e}"),
            }
        }
    }
}

/// One namespace of a [`Lab`]. Cheap to clone; valid while the lab lives.
#[derive(Clone, Debug)]
pub struct Host {
    ns: String,
}

impl Host {
    /// The network namespace's name (for `ip -n NAME ...`).
    pub fn name(&self) -> &str {
        &self.ns
    }

    /// Adds `cidr` to interface `dev` (`nodad` for IPv6).
    pub fn add_addr(&self, cidr: &str, dev: &str) {
        let mut args = vec!["-n", &self.ns, "addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        ip(&args);
    }

    /// `ip -n NS ARGS...` (split on whitespace); panics on failure.
    pub fn ip(&self, args: &str) -> Output {
        let mut all = vec!["-n", &self.ns];
        all.extend(args.split_whitespace());
        ip(&all)
    }

    /// `ip route add ARGS` here, e.g. `"198.51.100.0/24 via 203.0.113.1"`.
    pub fn route(&self, args: &str) {
        self.ip(&format!("route add {args}"));
    }

    /// Runs `sh -c CMD` inside the namespace; panics with its output when
    /// it fails.
    pub fn sh(&self, cmd: &str) -> Output {
        run("ip", &["netns", "exec", &self.ns, "sh", "-c", cmd])
    }

    /// Like [`Host::sh`] but returns the output whatever the exit status.
    pub fn try_sh(&self, cmd: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "sh", "-c", cmd])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec: {e}"))
    }

    /// Sets sysctl `key` (dotted, e.g. `net.ipv4.ip_forward`) to `value`
    /// in this namespace.
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.sh(&format!("echo '{value}' > '{path}'"));
    }

    /// Reads sysctl `key` in this namespace.
    pub fn sysctl_get(&self, key: &str) -> String {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let out = self.sh(&format!("cat '{path}'"));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The MAC address of `eth0`.
    pub fn mac(&self) -> [u8; 6] {
        self.mac_of("eth0")
    }

    /// The MAC address of interface `dev`.
    pub fn mac_of(&self, dev: &str) -> [u8; 6] {
        let out = self.ip(&format!("-o link show {dev}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let hex = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_else(|| panic!("no link/ether in {text:?}"));
        let mut mac = [0u8; 6];
        let parts: Vec<&str> = hex.split(':').collect();
        assert_eq!(parts.len(), 6, "MAC {hex:?}");
        for (b, p) in mac.iter_mut().zip(parts) {
            *b = u8::from_str_radix(p, 16).unwrap_or_else(|e| panic!("MAC {hex:?}: {e}"));
        }
        mac
    }

    /// Whether interface `dev` exists here and (with `up`) is administratively up.
    pub fn has_link(&self, dev: &str, up: bool) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.ns, "-o", "link", "show", dev])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                // "5: name: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu ...": flags.
                let flags = text.split(['<', '>']).nth(1).unwrap_or("");
                !up || flags.split(',').any(|f| f == "UP")
            }
            _ => false,
        }
    }

    /// Starts `program ARGS...` inside the namespace; see [`NsProcess`].
    pub fn spawn(&self, program: &Path, args: &[&str]) -> NsProcess {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(program)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect_lines(out, output.clone(), ""));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect_lines(err, output.clone(), "stderr: "));
        }
        NsProcess {
            what: format!("{} (in {})", program.display(), self.ns),
            child,
            output,
            readers,
            status: None,
        }
    }

    /// Runs `f` on a new thread entered into this namespace: every socket
    /// `f` creates lives here.
    pub fn enter<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> JoinHandle<R> {
        let path = format!("/run/netns/{}", self.ns);
        std::thread::Builder::new()
            .name(format!("ns-{}", self.ns))
            .spawn(move || {
                enter_netns(&path);
                f()
            })
            .expect("spawn a thread")
    }

    /// [`Host::enter`] and wait for the result (a panic in `f` is
    /// re-raised here).
    pub fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        self.enter(f)
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

/// Moves the calling thread into the network namespace at `path`.
fn enter_netns(path: &str) {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: setns(2) on a valid open fd; it only changes this thread's
    // namespace membership.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        panic!("setns({path}): {}", std::io::Error::last_os_error());
    }
}

fn collect_lines(
    from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    prefix: &'static str,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let mut out = into.lock().unwrap_or_else(|p| p.into_inner());
            out.push_str(prefix);
            out.push_str(&line);
            out.push('\n');
        }
    })
}

/// A process running in a namespace ([`Host::spawn`]). Its stdout and
/// stderr (lines prefixed `stderr: `) are collected in the background; it
/// is killed on drop if still running.
pub struct NsProcess {
    what: String,
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl NsProcess {
    /// The process id (`ip netns exec` execs the program: this is its pid).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The exit status if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Polls (every 10 ms, up to `limit`) until its output contains
    /// `needle`; false if the time ran out or the process exited first.
    pub fn wait_output(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.output().contains(needle) {
                return true;
            }
            if self.try_status().is_some() {
                self.join_readers();
                return self.output().contains(needle);
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) if it is still running.
    pub fn signal(&mut self, signal: i32) {
        if self.try_status().is_some() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(pid, signal) };
    }

    /// Waits up to `limit` for it to exit; then its output is complete.
    /// Panics (with the output) if it does not.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.try_status() {
                break s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {limit:?}; output:\n{}",
                    self.what,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.join_readers();
        status
    }

    /// SIGTERM, then [`NsProcess::wait_exit`].
    pub fn stop(&mut self, limit: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(limit)
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for NsProcess {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.join_readers();
    }
}

mod http;
// Not every test file names these types.
#[allow(unused_imports)]
pub use http::{Backend, KeepAlive};
