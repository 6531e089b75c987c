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
//!
//! `ENDPOINT` is the address as written in the config (`host:port`) or as
//! resolved (`IP:port`). A disabled endpoint stays disabled across reloads
//! that keep it (its state is kept), like its passive-failure marks.

use std::fmt::Write as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::packet::engine::EngineError;
use crate::packet::engine::control::{EngineControl, accept_or_wait, bind, serve_line};
use crate::runtime::Runtime;
use crate::upstream::endpoint::now_ns;

/// What the socket answers from; the server updates it at every reload.
pub(super) struct ControlState {
    pub runtime: ArcSwap<Runtime>,
    pub engine: ArcSwapOption<EngineControl>,
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

/// The `pool list` table.
fn list(rt: &Runtime) -> String {
    let now = now_ns();
    let mut out = String::new();
    out.push_str(
        "Pool / Endpoint                  Weight State     Active Requests ConnectFailures\n",
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
            let state = if s.is_disabled() {
                "disabled"
            } else if s.drain_deadline().is_some() {
                "draining"
            } else if s.is_down(|| now) {
                "down"
            } else {
                "up"
            };
            let _ = writeln!(
                out,
                "  -> {:<28} {:<6} {:<9} {:<6} {:<8} {}",
                e.label,
                e.weight,
                state,
                s.outstanding(),
                s.requests(),
                s.connect_failures()
            );
        }
    }
    out
}
