//! The admin socket (`[global] control_socket`): one Unix socket through
//! which an operator inspects and changes the running process, pools
//! (`switchyard pool`) and the packet engine (`switchyard vip`) alike.
//!
//! The protocol is the packet engine's (one request line, `ok` + text or
//! `error: WHY`). Requests starting with `pool` are answered here; every
//! other request goes to the packet engine, when one runs:
//!
//! | request | effect |
//! |---|---|
//! | `pool list` | pools, endpoints, their state and counters |
//! | `pool disable POOL ENDPOINT` | no new connections or requests; live ones drain for the pool's `drain_timeout` |
//! | `pool enable POOL ENDPOINT` | back in service |
//! | `reload` | re-reads the config file, as SIGHUP does, and answers with the outcome: what changed, or every error (the running configuration then stays) |
//! | `status` | version, pid, config file, uptime, listeners, reload history |
//!
//! `ENDPOINT` is the address as written in the config (`host:port`) or as
//! resolved (`IP:port`). A disabled endpoint stays disabled across reloads
//! that keep it (its state is kept), like its passive-failure marks.

use std::fmt::Write as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::packet::engine::EngineError;
use crate::packet::engine::control::{EngineControl, accept_or_wait, bind, serve_line};
use crate::runtime::Runtime;
use crate::upstream::endpoint::now_ns;

/// What the socket answers from; the server updates it at every reload.
pub(super) struct ControlState {
    pub runtime: ArcSwap<Runtime>,
    pub engine: ArcSwapOption<EngineControl>,
    /// Where `reload` requests go: the loop that also handles SIGHUP.
    pub reload: tokio::sync::mpsc::UnboundedSender<ReloadReply>,
    pub status: Mutex<Status>,
}

/// Where the outcome of a `reload` request goes.
pub(super) type ReloadReply = std::sync::mpsc::SyncSender<Result<String, String>>;

/// How long a `reload` request waits for its outcome (name resolution of
/// every endpoint and binding new listeners take a few seconds at most).
const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// The process facts `status` shows.
pub(super) struct Status {
    pub started: Instant,
    /// The config file reloads read (none for the demo).
    pub source: Option<PathBuf>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// When the last reload was, and its outcome's first line.
    pub last: Option<(Instant, Result<String, String>)>,
}

impl Status {
    pub fn new() -> Status {
        Status {
            started: Instant::now(),
            source: None,
            reloads_ok: 0,
            reloads_failed: 0,
            last: None,
        }
    }

    /// Counts a reload's outcome.
    pub fn record(&mut self, outcome: &Result<String, String>) {
        match outcome {
            Ok(_) => self.reloads_ok += 1,
            Err(_) => self.reloads_failed += 1,
        }
        let first = |t: &String| t.lines().next().unwrap_or_default().to_owned();
        // A refusal's first line says only that: its first error is news.
        let first_error = |t: &String| {
            t.lines()
                .find(|l| l.contains("error:"))
                .map_or_else(|| first(t), str::to_owned)
        };
        self.last = Some((
            Instant::now(),
            outcome.as_ref().map(first).map_err(first_error),
        ));
    }
}

/// The running admin socket.
pub(super) struct ControlServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl ControlServer {
    pub fn start(path: &Path, state: Arc<ControlState>) -> Result<ControlServer, EngineError> {
        let listener = bind(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sy-control".into())
            .spawn(move || run(listener, &state, &flag))
            .map_err(EngineError::Spawn)?;
        tracing::info!(path = %path.display(), "admin socket listening");
        Ok(ControlServer {
            stop,
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn run(listener: UnixListener, state: &ControlState, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if let Some(stream) = accept_or_wait(&listener, "admin socket") {
            serve_line(stream, |line| answer(line, state));
        }
    }
}

fn answer(line: &str, state: &ControlState) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["pool", "list"] => Ok(list(&state.runtime.load())),
        ["pool", action @ ("disable" | "enable"), pool, endpoint] => {
            let rt = state.runtime.load();
            let names: Vec<&str> = rt.pools.iter().map(|p| p.name.as_str()).collect();
            let p =
                rt.pools.iter().find(|p| p.name == *pool).ok_or_else(|| {
                    format!("no pool named {pool:?} (pools: {})", names.join(", "))
                })?;
            let e = p
                .endpoints
                .iter()
                .find(|e| e.label == *endpoint || e.addr.to_string() == *endpoint)
                .ok_or_else(|| {
                    let eps: Vec<&str> = p.endpoints.iter().map(|e| e.label.as_str()).collect();
                    format!(
                        "pool {pool} has no endpoint {endpoint:?} (endpoints: {})",
                        eps.join(", ")
                    )
                })?;
            let msg = if *action == "disable" {
                e.state.disable(p.drain_timeout);
                format!(
                    "endpoint {endpoint} of pool {pool} disabled: no new traffic; live connections \
                     drain for {:?}",
                    p.drain_timeout
                )
            } else {
                e.state.enable();
                format!("endpoint {endpoint} of pool {pool} enabled")
            };
            tracing::info!("{msg}");
            Ok(format!("{msg}\n"))
        }
        ["reload"] => reload(state),
        ["status"] => Ok(status(state)),
        ["pool", ..] => Err(format!(
            "unknown pool request {line:?}; expected pool list, pool disable POOL ENDPOINT or pool enable POOL ENDPOINT"
        )),
        _ => match &*state.engine.load() {
            Some(engine) => engine.request(line).map_err(|e| e.to_string()),
            None => Err(format!(
                "unknown request {line:?}: no packet engine runs here (the config has no [[vip]])"
            )),
        },
    }
}

/// Asks the control loop for a reload and waits for its outcome.
fn reload(state: &ControlState) -> Result<String, String> {
    let (reply, outcome) = std::sync::mpsc::sync_channel(1);
    state
        .reload
        .send(reply)
        .map_err(|_| "this process does not take reload requests".to_owned())?;
    match outcome.recv_timeout(RELOAD_WAIT) {
        Ok(result) => result,
        Err(_) => Err(format!(
            "the reload did not finish within {RELOAD_WAIT:?}; see the log"
        )),
    }
}

/// The `status` text.
fn status(state: &ControlState) -> String {
    let rt = state.runtime.load();
    let mut out = String::new();
    let _ = writeln!(out, "version {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "pid {}", std::process::id());
    let Ok(st) = state.status.lock() else {
        return out;
    };
    match &st.source {
        Some(p) => {
            let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            let _ = writeln!(out, "config {}", p.display());
        }
        None => out.push_str("config (built in: the demo)\n"),
    }
    let _ = writeln!(out, "uptime {} s", st.started.elapsed().as_secs());
    let _ = writeln!(out, "workers {}", rt.global().workers.max(1));
    let _ = write!(
        out,
        "reloads {} ok, {} failed",
        st.reloads_ok, st.reloads_failed
    );
    match &st.last {
        None => out.push('\n'),
        Some((at, outcome)) => {
            let ago = at.elapsed().as_secs();
            let _ = match outcome {
                Ok(line) => writeln!(out, "; last {ago} s ago: {line}"),
                Err(line) => writeln!(out, "; last {ago} s ago failed: {line}"),
            };
        }
    }
    drop(st);
    out.push_str("listeners");
    for l in &rt.config.listeners {
        let _ = write!(out, " {}={}", l.name, l.address);
    }
    out.push('\n');
    out
}

/// The `pool list` table.
fn list(rt: &Runtime) -> String {
    let now = now_ns();
    let mut out = String::new();
    out.push_str(
        "Pool / Endpoint                  Weight State     Active Requests ConnectFailures ResponseFailures StatusFailures\n",
    );
    for p in &rt.pools {
        let _ = write!(out, "{} ({} endpoints", p.name, p.endpoints.len());
        if p.max_connections_per_endpoint > 0 {
            let _ = write!(
                out,
                ", limit {} each, {} queued",
                p.max_connections_per_endpoint,
                p.slots.waiting()
            );
        }
        out.push_str(")\n");
        for e in &p.endpoints {
            let s = &e.state;
            // (Endpoints draining after a reload removed them are not
            // listed; a disabled one drains too, and says `disabled`.)
            let state = if s.is_disabled() {
                "disabled"
            } else if s.is_down(|| now) {
                "down"
            } else {
                "up"
            };
            let _ = writeln!(
                out,
                "  -> {:<28} {:<6} {:<9} {:<6} {:<8} {:<15} {:<16} {}",
                e.label,
                e.weight,
                state,
                s.outstanding(),
                s.requests(),
                s.connect_failures(),
                s.response_failures(),
                s.status_failures()
            );
        }
    }
    out
}
