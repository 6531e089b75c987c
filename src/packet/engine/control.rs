//! The engine's control socket and what `switchyard vip` says over it.
//!
//! A Unix stream socket (mode 0600, so only its owner may change the
//! engine), one request per connection: a single line of words, answered
//! with text and closed. The first line of an answer is `ok` or
//! `error: WHY`; the rest is for humans (`list`) and stable enough for
//! scripts: one line per VIP, then one `  -> ` line per backend, as
//! `ipvsadm -L -n` prints them.
//!
//! | request | effect |
//! |---|---|
//! | `list` / `list stats` | VIPs and backends (with counters) |
//! | `add VIP ADDRESS PORT WEIGHT` | add a backend (or set its weight) |
//! | `remove VIP ADDRESS PORT` | remove a backend; its flows move |
//! | `weight VIP ADDRESS PORT WEIGHT` | 0 drains the backend |
//!
//! `PORT` is `-` when not given. The control thread also refreshes the
//! neighbour snapshot and probes next hops the workers asked for.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::neigh::{self, Neighbours};
use super::{EngineError, Inner, Shared, TICK};
use crate::config::VipBackendCfg;

/// How often the neighbour snapshot is re-read.
const NEIGH_EVERY: Duration = Duration::from_millis(500);

/// Binds the control socket (removing a stale one).
pub(crate) fn bind(path: &Path) -> Result<UnixListener, EngineError> {
    let err = |error| EngineError::Control {
        path: path.display().to_string(),
        error,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    if UnixStream::connect(path).is_ok() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another switchyard process is listening on it; give this one another control_socket",
        )));
    }
    // Only a stale socket is removed: a path naming anything else (a file,
    // the config itself, a directory) is the operator's mistake, not ours
    // to delete.
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket; choose another control_socket path (it is created \
                 when switchyard starts and removed when it stops)",
            )));
        }
        Err(_) => {}
    }
    let l = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    l.set_nonblocking(true).map_err(err)?;
    Ok(l)
}

/// The control thread: serves requests, refreshes neighbours.
/// Without its own socket (`[global] control_socket` answers for the
/// engine) the thread only keeps the neighbours and full-NAT table fresh.
pub(super) fn run(
    listener: Option<UnixListener>,
    shared: Arc<Shared>,
    inner: Arc<Mutex<Inner>>,
    workers: usize,
) {
    let mut last_neigh = Instant::now();
    let mut probed: std::collections::HashMap<IpAddr, Instant> = std::collections::HashMap::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(listener) = &listener else {
            std::thread::sleep(TICK);
            housekeeping(&shared, &inner, &mut last_neigh, &mut probed);
            continue;
        };
        if let Some(stream) = accept_or_wait(listener, "control socket") {
            serve(stream, &shared, &inner, workers);
        }
        housekeeping(&shared, &inner, &mut last_neigh, &mut probed);
    }
}

/// One waiting connection, or `None` after up to [`TICK`] without one (so
/// the caller can check its stop flag): the accept loop of every control
/// socket (the listener is non-blocking).
pub(crate) fn accept_or_wait(listener: &UnixListener, what: &str) -> Option<UnixStream> {
    match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let mut pfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(listener),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, TICK.as_millis() as i32) };
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "{what}: accept failed");
            std::thread::sleep(TICK);
            None
        }
    }
}

/// Twice a second: re-read neighbours, expire idle full-NAT mappings.
fn housekeeping(
    shared: &Shared,
    inner: &Mutex<Inner>,
    last_neigh: &mut Instant,
    probed: &mut std::collections::HashMap<IpAddr, Instant>,
) {
    if last_neigh.elapsed() < NEIGH_EVERY {
        return;
    }
    *last_neigh = Instant::now();
    refresh_neighbours(shared, inner, probed);
    // Full-NAT mappings live as long as an established TCP flow.
    let idle = inner
        .lock()
        .map(|i| i.cfg.timeouts.tcp_established.max(i.cfg.timeouts.udp))
        .unwrap_or(Duration::from_secs(300));
    shared.snat.expire(
        shared.epoch.elapsed().as_nanos() as u64,
        idle.as_nanos() as u64,
    );
}

fn refresh_neighbours(
    shared: &Shared,
    inner: &Mutex<Inner>,
    probed: &mut std::collections::HashMap<IpAddr, Instant>,
) {
    let Ok(now) = Neighbours::read() else { return };
    let mut want: Vec<IpAddr> = shared
        .wanted
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default();
    if let Ok(inner) = inner.lock() {
        for v in &inner.vips {
            want.extend(v.backends.iter().map(|b| b.address));
        }
    }
    for ip in want {
        if let Some((hop, ifname)) = now.unresolved_hop(ip) {
            let due = probed
                .get(&hop)
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due {
                probed.insert(hop, Instant::now());
                neigh::probe(hop, ifname);
            }
        }
    }
    probed.retain(|_, t| t.elapsed() < Duration::from_secs(10));
    if **shared.neigh.load() != now {
        shared.neigh.store(Arc::new(now));
    }
}

fn serve(stream: UnixStream, shared: &Shared, inner: &Mutex<Inner>, workers: usize) {
    serve_line(stream, |line| {
        handle(line, shared, inner, workers).map_err(|e| e.to_string())
    });
}

/// Reads one request line from `stream` (at most 4 KiB, 2 s), answers
/// `ok` and the text, or `error: WHY`, and closes: the protocol of every
/// control socket.
pub(crate) fn serve_line(stream: UnixStream, f: impl FnOnce(&str) -> Result<String, String>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let mut reader = BufReader::new((&stream).take(4096));
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let answer = match f(line.trim()) {
        Ok(text) => format!("ok\n{text}"),
        Err(e) => format!("error: {e}\n"),
    };
    let mut stream = stream;
    let _ = stream.write_all(answer.as_bytes());
}

/// The engine's side of a shared control socket (`[global]
/// control_socket`): the same requests as its own socket.
#[derive(Clone)]
pub struct EngineControl {
    pub(super) shared: Arc<Shared>,
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) workers: usize,
}

impl EngineControl {
    /// Answers one request line (`list`, `add`, ...).
    pub fn request(&self, line: &str) -> Result<String, EngineError> {
        handle(line, &self.shared, &self.inner, self.workers)
    }
}

fn handle(
    line: &str,
    shared: &Shared,
    inner: &Mutex<Inner>,
    workers: usize,
) -> Result<String, EngineError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut inner = inner
        .lock()
        .map_err(|_| EngineError::Request("engine state is poisoned".into()))?;
    let bad = |why: &str| EngineError::Request(format!("{why} (request: {line:?})"));
    let addr = |s: &str| {
        s.parse::<IpAddr>()
            .map_err(|_| bad(&format!("{s:?} is not an IP address")))
    };
    let port = |s: &str| -> Result<Option<u16>, EngineError> {
        if s == "-" {
            Ok(None)
        } else {
            s.parse::<u16>()
                .map(Some)
                .map_err(|_| bad(&format!("{s:?} is not a port")))
        }
    };
    let weight = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|w| *w <= 65535)
            .ok_or_else(|| bad(&format!("weight {s:?} must be from 0 to 65535")))
    };
    let msg = match words.as_slice() {
        ["list"] => return Ok(render(shared, &inner, workers, false)),
        ["list", "stats"] => return Ok(render(shared, &inner, workers, true)),
        ["add", vip, a, p, w] => {
            let w = weight(w)?;
            if w == 0 {
                return Err(bad("a new backend needs a weight from 1 to 65535"));
            }
            let b = VipBackendCfg {
                address: addr(a)?,
                port: port(p)?.unwrap_or(0),
                weight: w,
            };
            inner.add_backend(vip, b)?
        }
        ["remove", vip, a, p] => inner.remove_backend(vip, addr(a)?, port(p)?)?,
        ["weight", vip, a, p, w] => inner.set_weight(vip, addr(a)?, port(p)?, weight(w)?)?,
        _ => return Err(bad("unknown request; expected list, add, remove or weight")),
    };
    inner.rebuild(shared);
    tracing::info!("{msg}");
    Ok(format!("{msg}\n"))
}

/// The `vip list` table.
fn render(shared: &Shared, inner: &Inner, workers: usize, stats: bool) -> String {
    let fwd = shared.state.load();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "engine: {} worker(s), {}{}, generation {}",
        workers,
        inner.data_path,
        if inner.shields.is_empty() {
            ""
        } else {
            " + tc shield"
        },
        fwd.generation
    );
    let _ = write!(
        out,
        "Prot VirtualAddress:Port        Mode  Name\n  -> Backend:Port                Weight State    ActiveConn Flows"
    );
    if stats {
        out.push_str(" InPkts InBytes OutPkts OutBytes");
    }
    out.push('\n');
    for v in &fwd.vips {
        let port = if v.cfg.port == 0 {
            "*".to_string()
        } else {
            v.cfg.port.to_string()
        };
        let _ = writeln!(
            out,
            "{:<4} {:<27} {:<5} {}",
            v.cfg.protocol.as_str().to_uppercase(),
            fmt_addr(v.cfg.address, &port),
            v.cfg.mode.as_str(),
            v.cfg.name
        );
        for b in &v.backends {
            let bport = if b.port != 0 {
                b.port.to_string()
            } else {
                port.clone()
            };
            let state = if !b.healthy {
                "down"
            } else if b.weight == 0 {
                "draining"
            } else {
                "up"
            };
            let s = &b.stats;
            let _ = write!(
                out,
                "  -> {:<27} {:<6} {:<8} {:<10} {}",
                fmt_addr(b.address, &bport),
                b.weight,
                state,
                s.active.load(Ordering::Relaxed),
                s.flows.load(Ordering::Relaxed)
            );
            if stats {
                let _ = write!(
                    out,
                    " {} {} {} {}",
                    s.packets_in.load(Ordering::Relaxed),
                    s.bytes_in.load(Ordering::Relaxed),
                    s.packets_out.load(Ordering::Relaxed),
                    s.bytes_out.load(Ordering::Relaxed)
                );
            }
            out.push('\n');
        }
    }
    if stats {
        let d = &shared.drops;
        let _ = writeln!(
            out,
            "dropped: no_backend {} fragments {} malformed {} too_big {} tx_full {}; via kernel (next hop unresolved) {}",
            d.no_backend.load(Ordering::Relaxed),
            d.fragments.load(Ordering::Relaxed),
            d.malformed.load(Ordering::Relaxed),
            d.too_big.load(Ordering::Relaxed),
            d.tx_full.load(Ordering::Relaxed),
            d.no_neighbour.load(Ordering::Relaxed),
        );
    }
    out
}

fn fmt_addr(ip: IpAddr, port: &str) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Client side: sends one request to the engine at `path`, returns the
/// answer after its `ok` line, or the engine's error.
pub fn request(path: &Path, line: &str) -> Result<String, EngineError> {
    let err = |error| EngineError::Control {
        path: path.display().to_string(),
        error,
    };
    let mut s = UnixStream::connect(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                " (is switchyard running with this socket? it is [global] control_socket, or \
                 [engine] control_socket for a config with [[vip]] sections; pass -s PATH)"
            }
            std::io::ErrorKind::PermissionDenied => {
                " (the socket is only for its owner: run as the engine's user)"
            }
            _ => "",
        };
        err(std::io::Error::new(e.kind(), format!("{e}{hint}")))
    })?;
    // Longer than an admin-socket `reload` may take.
    s.set_read_timeout(Some(Duration::from_secs(70)))
        .map_err(err)?;
    s.write_all(format!("{line}\n").as_bytes()).map_err(err)?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(err)?;
    match answer.split_once('\n') {
        Some(("ok", rest)) => Ok(rest.to_string()),
        _ => Err(EngineError::Request(
            answer.trim().trim_start_matches("error: ").to_string(),
        )),
    }
}
