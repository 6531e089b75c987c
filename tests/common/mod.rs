//! Test harness: in-process proxies started from a config string (built
//! from sections by `config_text`, re-exported here), demo backends on
//! ephemeral ports, a real HTTP client and small helpers for its answers,
//! raw-socket helpers, temp files, and the `switchyard` binary as a child
//! process. HTTP/2, TLS and L4 peers live in the `h2`, `tls` and `l4`
//! submodules.
//!
//! Ports are never fixed: backends bind 127.0.0.1:0, and proxy listeners are
//! written `127.0.0.1:0` in test configs; the kernel picks a free port and
//! the harness asks the running server which one (no allocator races).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard::config;
use switchyard::demo::{Backend, BackendHandle};
use switchyard::server::{ReloadSummary, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A demo backend named `name` on an ephemeral port of 127.0.0.1
/// (serving on the current tokio runtime until dropped).
pub fn backend(name: &str) -> BackendHandle {
    Backend::bind(name, "127.0.0.1:0".parse().unwrap())
        .and_then(Backend::spawn)
        .expect("backend starts")
}

/// Replaces `{name}` placeholders in a config template.
pub fn fill(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

/// A Switchyard running in this process.
pub struct Proxy {
    server: Option<Server>,
}

impl Proxy {
    /// Starts a proxy from config text; panics with every diagnostic if invalid.
    pub fn start(toml: &str) -> Proxy {
        let loaded = config::load_str("test.toml", toml)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        Proxy {
            server: Some(Server::start(loaded.config).expect("server starts")),
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    /// The bound address of listener `name`.
    pub fn addr_of(&self, name: &str) -> SocketAddr {
        self.server()
            .local_addr(name)
            .unwrap_or_else(|| panic!("no listener {name}"))
    }

    /// The address of the first listener in the config.
    pub fn addr(&self) -> SocketAddr {
        let rt = self.server().runtime();
        let name = rt.config.listeners[0].name.clone();
        self.addr_of(&name)
    }

    /// `http://ADDR{path}` on the first listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Connect failures recorded for the endpoint configured as `label`.
    pub fn endpoint_connect_failures(&self, label: &str) -> u64 {
        self.endpoint_count(label, switchyard::upstream::EndpointState::connect_failures)
    }

    /// Requests that got no valid response head from the endpoint
    /// configured as `label` (reset, closed, invalid, timed out).
    pub fn endpoint_response_failures(&self, label: &str) -> u64 {
        self.endpoint_count(
            label,
            switchyard::upstream::EndpointState::response_failures,
        )
    }

    /// Answers from the endpoint configured as `label` with one of its
    /// pool's `fail_statuses`.
    pub fn endpoint_status_failures(&self, label: &str) -> u64 {
        self.endpoint_count(label, switchyard::upstream::EndpointState::status_failures)
    }

    /// A counter of the endpoint configured as `label`, summed over the
    /// pools that list it.
    fn endpoint_count(
        &self,
        label: &str,
        count: fn(&switchyard::upstream::EndpointState) -> u64,
    ) -> u64 {
        let rt = self.server().runtime();
        rt.pools
            .iter()
            .flat_map(|p| p.endpoints.iter())
            .filter(|e| e.label == label)
            .map(|e| count(&e.state))
            .sum()
    }

    /// Requests or connections waiting in pool `name`'s queue
    /// (`max_connections_per_endpoint` with `on_limit = "queue"`).
    pub fn pool_queued(&self, name: &str) -> usize {
        let rt = self.server().runtime();
        rt.pools
            .iter()
            .find(|p| p.name == name)
            .map_or(0, |p| p.slots.waiting())
    }

    /// Listener `name`'s connections idle in the workers' parked sets.
    pub fn parked_connections(&self, listener: &str) -> usize {
        self.server()
            .listener_slot(listener)
            .map_or(0, |s| s.parked_connections())
    }

    /// Listener `name`'s open connections (parked ones included).
    pub fn open_connections(&self, listener: &str) -> usize {
        self.server()
            .listener_slot(listener)
            .map_or(0, |s| s.open_connections())
    }

    /// Reloads from config text.
    pub fn reload(&mut self, toml: &str) -> Result<ReloadSummary, String> {
        let loaded = config::load_str("test.toml", toml).map_err(|e| e.to_string())?;
        self.server
            .as_mut()
            .expect("running")
            .reload(loaded.config)
            .map_err(|e| e.to_string())
    }

    /// Graceful shutdown with `timeout` (blocks until workers exit).
    pub fn shutdown(mut self, timeout: Duration) {
        if let Some(s) = self.server.take() {
            s.shutdown(timeout);
        }
    }
}

/// Makes ring the process's rustls crypto provider (reqwest is built
/// without one of its own); idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A plain HTTP/1.1 client (no system proxy).
pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .build()
        .unwrap()
}

/// GETs `url` and returns (status, x-backend, body).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = client.get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let be = r
        .headers()
        .get("x-backend")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, be, r.text().await.unwrap())
}

/// The value of response header `name`, if present.
pub fn header_value<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The value of response header `name`, or "" when absent.
pub fn header(r: &reqwest::Response, name: &str) -> String {
    header_value(r, name).unwrap_or_default().to_owned()
}

/// Runs `f` with a deadline, so that a hang fails the test.
pub async fn within<F: std::future::Future>(limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .expect("test step timed out")
}

/// Polls `cond` every 10 ms until it holds, for at most `limit`; whether
/// it held.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// `n` bytes of the demo backends' `/bytes` pattern.
pub fn demo_pattern(n: u64) -> Vec<u8> {
    (0..n)
        .map(switchyard::demo::backend::pattern_byte)
        .collect()
}

/// Whether `body` is the start of the demo backends' `/bytes` pattern.
pub fn is_demo_pattern(body: &[u8]) -> bool {
    body.iter()
        .enumerate()
        .all(|(i, b)| *b == switchyard::demo::backend::pattern_byte(i as u64))
}

/// Sends raw bytes, half-closes nothing, and reads until the server closes
/// the connection. Returns what the server sent.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `raw` output (0 if none).
pub fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A minimal pool/listener config: one listener on 127.0.0.1:0 routing
/// everything (route "all") to pool "p" with `algorithm` over `endpoints`.
pub fn simple_config(algorithm: &str, endpoints: &[SocketAddr], extra_pool: &str) -> String {
    proxy_config(
        2,
        &[
            listener("web", "", "", "p"),
            pool(
                "p",
                endpoints,
                &format!("algorithm = \"{algorithm}\"\n{extra_pool}"),
            ),
        ],
    )
}

/// One HTTP/1.1 response read from a raw connection: status, the head with
/// lower-cased header names, and a Content-Length body.
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads exactly one response (head + Content-Length body) from `s`,
/// leaving the connection open; `None` if the server closed it first.
pub async fn read_response(s: &mut TcpStream) -> Option<RawResponse> {
    let mut buf = Vec::new();
    let mut resp = read_next_response(s, &mut buf).await?;
    // Whatever came with it stays in its body (responses without a
    // length are read this way, up to what has arrived).
    resp.body.extend_from_slice(&buf);
    Some(resp)
}

/// Reads `n` pipelined responses (`Content-Length` framed) off `s`: bytes
/// of the next response that arrive with one are kept for it (several
/// responses often come in one segment), which [`read_response`], reading
/// one response per call, would drop.
pub async fn read_responses(s: &mut TcpStream, n: usize) -> Option<Vec<RawResponse>> {
    let mut buf = Vec::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_next_response(s, &mut buf).await?);
    }
    Some(out)
}

/// One response off `s`, starting with the bytes already in `buf`; the
/// bytes after it are left in `buf`.
async fn read_next_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<RawResponse> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut resp = RawResponse {
        status: status_of(&head),
        head,
        body: Vec::new(),
    };
    let len: usize = resp
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    resp.body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Some(resp)
}

/// Waits until the peer closes `s` (EOF or reset), discarding anything it
/// still sends; returns what was discarded, or `None` if `limit` passed first.
pub async fn wait_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut rest = Vec::new();
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok()?;
    Some(rest)
}

/// A fresh directory under the system temp dir, removed with everything in
/// it on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "switchyard-test-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    /// `<dir>/<name>` (not created).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to `<dir>/<name>` and returns the path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.file(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A config file in a fresh [`TempDir`], removed (with the directory) on
/// drop.
pub struct TempConfig {
    _dir: TempDir,
    pub path: PathBuf,
}

impl TempConfig {
    /// Writes `text` to `<unique dir>/<file_name>`.
    pub fn new(file_name: &str, text: &str) -> TempConfig {
        let dir = TempDir::new();
        let path = dir.write(file_name, text);
        TempConfig { _dir: dir, path }
    }

    /// Replaces the file's content.
    pub fn write(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }
}

/// The `switchyard` binary running as a child process. Its stdout (where
/// the log goes) is read line by line in the background; the child is
/// killed on drop if it is still running.
pub struct Child {
    pub child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every stdout and stderr line so far, for failure messages.
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Child {
    /// Starts `switchyard ARGS...`.
    pub fn spawn(args: &[&str]) -> Child {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("switchyard binary starts");
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let log = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                log.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err.next_line().await {
                log.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        Child {
            child,
            lines,
            output,
        }
    }

    /// Everything the child printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Waits (up to `limit`) for the next stdout line containing `needle`;
    /// `None` if the output ended (the child exited) or the time is up.
    pub async fn try_line_containing(&mut self, needle: &str, limit: Duration) -> Option<String> {
        let lines = &mut self.lines;
        let found = tokio::time::timeout(limit, async {
            while let Some(line) = lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        });
        found.await.ok().flatten()
    }

    /// Waits (up to 20 s) for the next stdout line containing `needle`.
    pub async fn line_containing(&mut self, needle: &str) -> String {
        if let Some(line) = self
            .try_line_containing(needle, Duration::from_secs(20))
            .await
        {
            return line;
        }
        // Output ended (the child exited) or the time is up: say which.
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        panic!(
            "no line containing {needle:?} (exit status: {status:?}); output:\n{}",
            self.output()
        );
    }

    /// Waits for the `listening listener=NAME address=ADDR` log line.
    pub async fn listening(&mut self, listener: &str) -> SocketAddr {
        let line = self
            .line_containing(&format!("listening listener={listener} "))
            .await;
        let addr = line
            .split("address=")
            .nth(1)
            .and_then(|a| a.split_whitespace().next());
        addr.and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// Waits (bounded poll of /proc/PID/status) until the child catches
    /// SIGHUP, SIGTERM and SIGINT. `switchyard run`/`demo` install these
    /// handlers only after they start serving (SIGINT last), so a signal
    /// sent as soon as the proxy answers can find the default action.
    pub async fn signal_handlers_installed(&self) {
        let pid = self.child.id().expect("child still running");
        let wanted = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT]
            .iter()
            .fold(0u64, |m, s| m | 1 << (s - 1));
        let start = std::time::Instant::now();
        loop {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let caught = status
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .unwrap_or(0);
            if caught & wanted == wanted {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no signal handlers after 10 s:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("child still running") as i32;
        // SAFETY: kill(2) with a pid we own; no memory is involved.
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
    }

    /// Waits up to `limit` for the child to exit.
    pub async fn exit_within(&mut self, limit: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "switchyard did not exit within {limit:?}; output:\n{}",
                self.output()
            ),
        }
    }
}

impl Proxy {
    /// Number of routes of listener `name` in the running configuration.
    pub fn route_count(&self, name: &str) -> usize {
        let rt = self.server().runtime();
        rt.listeners
            .iter()
            .find(|l| l.name == name)
            .map_or(0, |l| l.routes.len())
    }
}

/// An address where nothing listens: connections are refused. The port
/// stays reserved (bound, never listening) while the returned socket lives,
/// so a listener bound later on port 0 (e.g. the proxy's own) cannot get it.
pub fn held_dead_addr() -> (socket2::Socket, SocketAddr) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    (s, addr)
}
mod config_text;
pub mod h2;
pub mod l4;
pub mod netns;
pub mod tls;

pub use config_text::*;
