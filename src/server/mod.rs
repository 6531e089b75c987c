//! The process: worker threads, listeners, reload and graceful shutdown.
//!
//! [`Server`] owns the worker threads (one single-threaded event loop each)
//! and the listening sockets. Every listener is bound once per worker with
//! `SO_REUSEPORT`, so the kernel spreads connections over workers. A reload
//! is a diff: listeners that stay keep their sockets and get the new
//! compiled state; new ones are bound *before* anything changes (a bind
//! failure leaves the old configuration running untouched); removed ones
//! stop accepting. Open keep-alive connections are then closed gracefully
//! (after their current request), so clients reconnect to the new state.

mod bind;
mod control;
mod handlers;
mod signals;
mod worker_thread;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, ListenerCfg};
use crate::packet::engine::Engine;
use crate::runtime::{self, ListenerRt, ListenerSlot, Runtime};

pub use signals::Signals;
use worker_thread::{Cmd, WorkerHandle};

/// Errors starting or reconfiguring the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    // `error`, not `source`: the message already says it, and a source
    // would be printed a second time by `{:#}` in main.
    #[error("listener {listener:?}: cannot listen on {addr}: {error}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
    #[error("cannot start the control event loop: {0}")]
    Control(std::io::Error),
    #[error(transparent)]
    Compile(#[from] runtime::CompileError),
    #[error(transparent)]
    Engine(#[from] crate::packet::engine::EngineError),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ListenerKey {
    /// Address and whether it is UDP (a UDP and a TCP listener may share one).
    Addr(SocketAddr, bool),
    /// Port-0 listeners are identified by name and IP (their port is the
    /// kernel's choice and stays across reloads).
    Ephemeral(String, std::net::IpAddr, bool),
}

fn key_of(l: &ListenerCfg) -> ListenerKey {
    let udp = l.protocol == crate::config::Protocol::Udp;
    if l.address.port() == 0 {
        ListenerKey::Ephemeral(l.name.clone(), l.address.ip(), udp)
    } else {
        ListenerKey::Addr(l.address, udp)
    }
}

/// One listener's sockets, one per worker.
enum Sockets {
    Tcp(Vec<std::net::TcpListener>),
    Udp(Vec<std::net::UdpSocket>),
}

impl Sockets {
    fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Sockets::Tcp(v) => v.first().and_then(|s| s.local_addr().ok()),
            Sockets::Udp(v) => v.first().and_then(|s| s.local_addr().ok()),
        }
    }
}

struct Active {
    slot: Arc<ListenerSlot>,
    name: String,
    local_addr: SocketAddr,
}

/// A running Switchyard.
pub struct Server {
    current: Arc<Runtime>,
    workers: Vec<WorkerHandle>,
    listeners: HashMap<ListenerKey, Active>,
    close: watch::Sender<u64>,
    /// The packet engine, when the configuration has `[[vip]]` sections.
    engine: Option<Engine>,
    /// What the admin socket answers from.
    control_state: Arc<control::ControlState>,
    /// The admin socket (`[global] control_socket`), when configured.
    control: Option<control::ControlServer>,
    /// The admin socket's `reload` requests, until the control loop
    /// ([`Signals::run`]) takes them.
    reload_requests: Option<tokio::sync::mpsc::UnboundedReceiver<control::ReloadReply>>,
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
    /// Settings the new file changes that take a restart (the running
    /// values stay): one line each, for the operator.
    pub restart_needed: Vec<String>,
}

impl Server {
    /// Binds every listener and starts the workers.
    pub fn start(config: Config) -> Result<Server, ServerError> {
        let runtime = Arc::new(runtime::compile(config, None)?);
        let (close, _) = watch::channel(0u64);
        let n = runtime.global().workers.max(1);
        let workers = (0..n)
            .map(|id| worker_thread::spawn(id, close.subscribe()))
            .collect::<Result<Vec<_>, _>>()?;
        let engine = match &runtime.config.engine {
            Some(e) if !runtime.config.vips.is_empty() => {
                Some(Engine::start(e, &runtime.config.vips)?)
            }
            _ => None,
        };
        let (reload, reload_requests) = tokio::sync::mpsc::unbounded_channel();
        let control_state = Arc::new(control::ControlState {
            runtime: arc_swap::ArcSwap::new(runtime.clone()),
            engine: arc_swap::ArcSwapOption::new(engine.as_ref().map(|e| Arc::new(e.control()))),
            reload,
            status: std::sync::Mutex::new(control::Status::new()),
        });
        let control = match &runtime.global().control_socket {
            Some(path) => Some(control::ControlServer::start(path, control_state.clone())?),
            None => None,
        };
        let mut server = Server {
            current: runtime.clone(),
            workers,
            listeners: HashMap::new(),
            close,
            engine,
            control_state,
            control,
            reload_requests: Some(reload_requests),
        };
        let bound = server.bind_new(&runtime, |_| true)?;
        for (key, name, sockets, rt) in bound {
            server.activate(key, name, sockets, rt);
        }
        Ok(server)
    }

    /// The address a listener actually listens on (resolves port 0).
    pub fn local_addr(&self, listener: &str) -> Option<SocketAddr> {
        self.listeners
            .values()
            .find(|a| a.name == listener)
            .map(|a| a.local_addr)
    }

    /// Listener `name`'s shared state (connection counts).
    pub fn listener_slot(&self, listener: &str) -> Option<Arc<ListenerSlot>> {
        self.listeners
            .values()
            .find(|a| a.name == listener)
            .map(|a| a.slot.clone())
    }

    /// The runtime currently serving new connections.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.current.clone()
    }

    /// Applies a new configuration. On error nothing has changed.
    pub fn reload(&mut self, mut config: Config) -> Result<ReloadSummary, ServerError> {
        // Settings read only at start keep their running values, in the
        // new runtime too (so `status` shows what runs, and the next
        // reload compares against it); each change is said once.
        let mut restart_needed = Vec::new();
        let running = &self.current.config.global;
        if config.global.workers != self.workers.len() {
            tracing::warn!(
                running = self.workers.len(),
                configured = config.global.workers,
                "changing the number of workers needs a restart; keeping the running workers"
            );
            restart_needed.push(format!(
                "workers: {} configured, {} running until a restart",
                config.global.workers,
                self.workers.len()
            ));
            config.global.workers = self.workers.len();
        }
        if config.global.log_level != running.log_level {
            tracing::warn!(
                running = %running.log_level,
                configured = %config.global.log_level,
                "changing log_level needs a restart; keeping the running filter"
            );
            restart_needed.push(format!(
                "log_level: {:?} configured, {:?} running until a restart",
                config.global.log_level, running.log_level
            ));
            config.global.log_level.clone_from(&running.log_level);
        }
        // Without a running admin socket, the reload starts the new one.
        if self.control.is_some() && config.global.control_socket != running.control_socket {
            let shown = |p: &Option<std::path::PathBuf>| {
                p.as_ref().map_or_else(
                    || "none".to_owned(),
                    |p| format!("{:?}", p.display().to_string()),
                )
            };
            tracing::warn!(
                running = %shown(&running.control_socket),
                configured = %shown(&config.global.control_socket),
                "changing control_socket needs a restart; keeping the running admin socket"
            );
            restart_needed.push(format!(
                "control_socket: {} configured, {} running until a restart",
                shown(&config.global.control_socket),
                shown(&running.control_socket)
            ));
            config
                .global
                .control_socket
                .clone_from(&running.control_socket);
        }
        let new = Arc::new(runtime::compile(config, Some(&self.current))?);
        let existing: Vec<ListenerKey> = self.listeners.keys().cloned().collect();
        let bound = self.bind_new(&new, |k| !existing.contains(k))?;
        self.reload_engine(&new.config)?;
        let mut summary = ReloadSummary {
            restart_needed,
            ..ReloadSummary::default()
        };
        let mut wanted = Vec::new();
        for (cfg, rt) in new.config.listeners.iter().zip(&new.listeners) {
            let key = key_of(cfg);
            if let Some(active) = self.listeners.get_mut(&key) {
                active.slot.rt.store(rt.clone());
                active.name.clone_from(&cfg.name);
                summary.kept.push(cfg.name.clone());
            }
            wanted.push(key);
        }
        for (key, name, sockets, rt) in bound {
            summary.added.push(name.clone());
            self.activate(key, name, sockets, rt);
        }
        self.listeners.retain(|key, active| {
            let keep = wanted.contains(key);
            if !keep {
                let _ = active.slot.stop.send(true);
                summary.removed.push(active.name.clone());
            }
            keep
        });
        self.control_state.runtime.store(new.clone());
        self.control_state
            .engine
            .store(self.engine.as_ref().map(|e| Arc::new(e.control())));
        if self.control.is_none()
            && let Some(path) = &new.global().control_socket
        {
            match control::ControlServer::start(path, self.control_state.clone()) {
                Ok(c) => self.control = Some(c),
                Err(e) => tracing::error!(error = %e, "admin socket not started"),
            }
        }
        self.current = new;
        self.close.send_modify(|g| *g += 1);
        tracing::info!(added = ?summary.added, removed = ?summary.removed, kept = ?summary.kept, "configuration reloaded");
        Ok(summary)
    }

    /// Applies the `[engine]`/`[[vip]]` part of a reload: the running
    /// engine takes the new VIP list, or starts, or stops.
    fn reload_engine(&mut self, config: &Config) -> Result<(), ServerError> {
        match (&self.engine, &config.engine) {
            (Some(engine), Some(cfg)) if !config.vips.is_empty() => engine.apply(cfg, &config.vips),
            (None, Some(cfg)) if !config.vips.is_empty() => {
                self.engine = Some(Engine::start(cfg, &config.vips)?);
            }
            (Some(_), _) => {
                if let Some(engine) = self.engine.take() {
                    engine.shutdown();
                }
                tracing::info!("packet engine stopped: the configuration has no [[vip]]");
            }
            (None, _) => {}
        }
        Ok(())
    }

    /// Re-reads the TLS files that changed on disk (called every few
    /// seconds by the control loop): listeners' certificates, keys, OCSP
    /// responses and client CA files; pools' CA files and client
    /// certificates. New handshakes get the new files; live connections
    /// keep theirs. A bad new file keeps the old one and logs why.
    pub fn check_certificates(&self) {
        for l in &self.current.listeners {
            let Some(tls) = &l.tls else { continue };
            let reload = tls.reload_if_changed();
            log_reload(&l.name, "listener", "certificates", reload.certificates);
            log_reload(&l.name, "listener", "client CA", reload.client_ca);
        }
        for p in &self.current.pools {
            // `upgrade_tls` is the same `tls` for HTTP/1.1 pools.
            let upgrade = p
                .upgrade_tls
                .as_ref()
                .filter(|u| p.tls.as_ref().is_none_or(|t| !std::sync::Arc::ptr_eq(t, u)));
            for tls in p.tls.iter().chain(upgrade) {
                if tls.watches_files() {
                    log_reload(&p.name, "pool", "TLS files", tls.reload_if_changed());
                }
            }
        }
    }

    /// Stops accepting, lets open requests finish for up to `timeout`, then
    /// closes everything. Blocks until the workers have exited.
    pub fn shutdown(mut self, timeout: Duration) {
        self.control = None;
        self.control_state.engine.store(None);
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
        for active in self.listeners.values() {
            let _ = active.slot.stop.send(true);
        }
        self.close.send_modify(|g| *g += 1);
        let deadline = std::time::Instant::now() + timeout;
        for w in &self.workers {
            w.send(Cmd::Shutdown { deadline });
        }
        for w in &mut self.workers {
            w.join();
        }
    }

    #[allow(clippy::type_complexity)]
    fn bind_new(
        &self,
        runtime: &Runtime,
        want: impl Fn(&ListenerKey) -> bool,
    ) -> Result<Vec<(ListenerKey, String, Sockets, Arc<ListenerRt>)>, ServerError> {
        let mut out = Vec::new();
        for (cfg, rt) in runtime.config.listeners.iter().zip(&runtime.listeners) {
            let key = key_of(cfg);
            if !want(&key) {
                continue;
            }
            let n = self.workers.len();
            let bound = if cfg.protocol == crate::config::Protocol::Udp {
                bind::bind_udp_group(cfg.address, n).map(Sockets::Udp)
            } else {
                // HTTP clients speak first: their request's ACK can ride on
                // the response, and a connection can wait in the kernel
                // until its request is there (L4 peers may wait for the
                // server instead).
                let client_first = cfg.protocol == crate::config::Protocol::Http;
                bind::bind_group(cfg.address, cfg.backlog, n, client_first).map(Sockets::Tcp)
            };
            let sockets = bound.map_err(|error| ServerError::Bind {
                listener: cfg.name.clone(),
                addr: cfg.address,
                error,
            })?;
            out.push((key, cfg.name.clone(), sockets, rt.clone()));
        }
        Ok(out)
    }

    fn activate(&mut self, key: ListenerKey, name: String, sockets: Sockets, rt: Arc<ListenerRt>) {
        let local_addr = sockets
            .local_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let slot = Arc::new(ListenerSlot::new(rt));
        match sockets {
            Sockets::Tcp(list) => {
                for (w, socket) in self.workers.iter().zip(list) {
                    w.send(Cmd::Listen {
                        socket,
                        slot: slot.clone(),
                    });
                }
            }
            Sockets::Udp(list) => {
                for (w, socket) in self.workers.iter().zip(list) {
                    w.send(Cmd::ListenUdp {
                        socket,
                        slot: slot.clone(),
                    });
                }
            }
        }
        tracing::info!(listener = %name, address = %local_addr, "listening");
        self.listeners.insert(
            key,
            Active {
                slot,
                name,
                local_addr,
            },
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A server dropped without shutdown() (e.g. in tests) stops at once.
        for active in self.listeners.values() {
            let _ = active.slot.stop.send(true);
        }
        let now = std::time::Instant::now();
        for w in &mut self.workers {
            w.send(Cmd::Shutdown { deadline: now });
            w.join();
        }
    }
}

/// The log line of one part of a TLS file check (nothing when unchanged).
fn log_reload(name: &str, kind: &str, what: &str, result: Result<bool, crate::tls::TlsError>) {
    match result {
        Ok(false) => {}
        Ok(true) => tracing::info!(%name, kind, "{what} reloaded from disk"),
        Err(e) => tracing::error!(
            %name,
            kind,
            error = %e,
            "{what}: files changed but cannot be loaded; keeping the previous ones"
        ),
    }
}
