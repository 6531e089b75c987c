//! The running packet engine (issue 5): packet workers on the configured
//! interfaces, a control thread (neighbour refresh, the control socket
//! `switchyard vip` talks to) and health checks, around one forwarding
//! snapshot that every change replaces whole.
//!
//! Changes come from three places and all go through [`Inner::rebuild`]:
//! a config reload (replaces the VIP list; runtime changes are dropped),
//! `switchyard vip add/remove/weight` (edit the running list), and health
//! checks (take a backend out of Maglev or put it back). A backend that
//! leaves Maglev (failed checks, weight 0) keeps its existing flows until
//! they end: draining. A backend that is removed loses its flows, which
//! re-hash to the remaining backends.

pub mod control;
pub mod forward;
mod health;
pub mod neigh;
mod neigh6;
mod snat;
pub mod state;
mod worker;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::{DataPath, EngineCfg, VipBackendCfg, VipCfg};
use crate::packet::io::Port;
use crate::packet::io::afpacket::{self, AfPacketPort};
use crate::packet::io::xdp::{AttachMode, Classifier, TcShield, XdpProgram, XskOptions, XskPort};
use forward::Iface;
use neigh::Neighbours;
use state::{BackendRt, DropStats, Forwarding, Registry};

/// Why the engine could not start or apply a change.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("packet engine: interface {name:?}: {error}")]
    Interface { name: String, error: std::io::Error },
    #[error("packet engine: cannot open the {path} data path on {iface:?}: {error}")]
    DataPath {
        path: &'static str,
        iface: String,
        error: std::io::Error,
    },
    #[error("control socket {path}: {error}")]
    Control { path: String, error: std::io::Error },
    #[error("packet engine: AF_XDP: {0}")]
    Xdp(crate::packet::io::xdp::XdpError),
    #[error("packet engine: cannot start an engine thread: {0}")]
    Spawn(std::io::Error),
    #[error("{0}")]
    Request(String),
}

/// What the workers share with the control side.
pub(crate) struct Shared {
    pub state: ArcSwap<Forwarding>,
    /// The generation of `state`, readable without loading it: workers check
    /// it per frame so a change applies from the next packet on.
    pub generation: std::sync::atomic::AtomicU64,
    pub neigh: ArcSwap<Neighbours>,
    pub drops: DropStats,
    pub stop: AtomicBool,
    /// Next hops the workers needed but could not resolve.
    pub wanted: Mutex<Vec<IpAddr>>,
    /// Time zero of the connection tables' clocks.
    pub epoch: Instant,
    /// Full-NAT mappings (shared: a reply may reach another worker).
    pub snat: Arc<snat::SnatTable>,
}

/// The mutable side: the VIP list as running, health, ids.
pub(crate) struct Inner {
    pub cfg: EngineCfg,
    pub vips: Vec<VipCfg>,
    /// Health by backend id (absent = healthy).
    pub health: HashMap<u32, bool>,
    pub registry: Registry,
    pub generation: u64,
    pub data_path: &'static str,
    /// The XDP programs of the AF_XDP data path (one per interface): their
    /// address maps follow every rebuild.
    pub xdp: Vec<XdpProgram>,
    /// The tc ingress shields of the AF_PACKET data path (one per interface).
    pub shields: Vec<TcShield>,
}

impl Inner {
    /// Compiles the running VIP list into a new snapshot and publishes it.
    pub fn rebuild(&mut self, shared: &Shared) {
        self.generation += 1;
        let mut vips = Vec::new();
        let mut live = Vec::new();
        for v in &self.vips {
            let backends: Vec<BackendRt> = v
                .backends
                .iter()
                .map(|b| {
                    let (id, stats) = self.registry.id(&v.name, b.address, b.port);
                    live.push(id);
                    let healthy = self.health.get(&id).copied().unwrap_or(true);
                    BackendRt {
                        id,
                        address: b.address,
                        port: b.port,
                        weight: b.weight,
                        healthy,
                        in_maglev: healthy && b.weight > 0,
                        stats,
                    }
                })
                .collect();
            vips.push((v.clone(), backends));
        }
        self.registry.retain(&live);
        self.health.retain(|id, _| live.contains(id));
        let f = Forwarding::build(self.generation, vips, self.cfg.tunnel_source, self.cfg.mtu);
        shared.state.store(Arc::new(f));
        shared.generation.store(self.generation, Ordering::Release);
        for p in &self.xdp {
            if let Err(e) = p.update(&classifier(&self.vips, p.ifname())) {
                tracing::error!(interface = p.ifname(), error = %e, "cannot update the XDP program's addresses");
            }
        }
        for p in &self.shields {
            if let Err(e) = p.update(&classifier(&self.vips, p.ifname())) {
                tracing::error!(interface = p.ifname(), error = %e, "cannot update the tc shield's addresses");
            }
        }
    }

    fn vip_mut(&mut self, name: &str) -> Result<&mut VipCfg, EngineError> {
        let names: Vec<String> = self.vips.iter().map(|v| v.name.clone()).collect();
        self.vips
            .iter_mut()
            .find(|v| v.name == name)
            .ok_or_else(|| {
                EngineError::Request(format!(
                    "no vip named {name:?} (vips: {})",
                    names.join(", ")
                ))
            })
    }

    /// `vip add`: a new backend, or a new weight for an existing one.
    pub fn add_backend(&mut self, vip: &str, b: VipBackendCfg) -> Result<String, EngineError> {
        let v = self.vip_mut(vip)?;
        if v.address.is_ipv4() != b.address.is_ipv4()
            && v.mode != crate::config::ForwardMode::Ipip
            && v.mode != crate::config::ForwardMode::Gre
        {
            return Err(EngineError::Request(format!(
                "backend {} and vip {} are of different IP families",
                b.address, v.address
            )));
        }
        if b.port != 0 && v.mode != crate::config::ForwardMode::Nat {
            return Err(EngineError::Request(format!(
                "mode {} cannot rewrite ports: add the backend without a port",
                v.mode.as_str()
            )));
        }
        match v
            .backends
            .iter_mut()
            .find(|x| x.address == b.address && x.port == b.port)
        {
            Some(x) => {
                x.weight = b.weight;
                Ok(format!(
                    "backend {} of vip {vip} now has weight {}",
                    b.address, b.weight
                ))
            }
            None => {
                v.backends.push(b.clone());
                Ok(format!(
                    "backend {} added to vip {vip} with weight {}",
                    b.address, b.weight
                ))
            }
        }
    }

    /// `vip remove`: the backend and its flows go.
    pub fn remove_backend(
        &mut self,
        vip: &str,
        address: IpAddr,
        port: Option<u16>,
    ) -> Result<String, EngineError> {
        let v = self.vip_mut(vip)?;
        let before = v.backends.len();
        v.backends
            .retain(|b| !(b.address == address && port.is_none_or(|p| p == b.port)));
        if v.backends.len() == before {
            return Err(EngineError::Request(format!(
                "vip {vip} has no backend {address}"
            )));
        }
        Ok(format!(
            "backend {address} removed from vip {vip}; its flows move to the other backends"
        ))
    }

    /// `vip weight`: 0 drains (no new flows, existing ones stay).
    pub fn set_weight(
        &mut self,
        vip: &str,
        address: IpAddr,
        port: Option<u16>,
        weight: u32,
    ) -> Result<String, EngineError> {
        let v = self.vip_mut(vip)?;
        let mut found = false;
        for b in v
            .backends
            .iter_mut()
            .filter(|b| b.address == address && port.is_none_or(|p| p == b.port))
        {
            b.weight = weight;
            found = true;
        }
        if !found {
            return Err(EngineError::Request(format!(
                "vip {vip} has no backend {address}"
            )));
        }
        Ok(if weight == 0 {
            format!("backend {address} of vip {vip} is draining: no new flows, existing flows stay")
        } else {
            format!("backend {address} of vip {vip} now has weight {weight}")
        })
    }
}

/// One AF_PACKET socket per worker and interface, all of an interface's in
/// one fanout group.
fn af_packet_ports(
    interfaces: &[String],
    indexes: &[u32],
    workers: usize,
) -> Result<Vec<Vec<Box<dyn Port>>>, EngineError> {
    let mut ports: Vec<Vec<Box<dyn Port>>> = (0..workers).map(|_| Vec::new()).collect();
    for (name, idx) in interfaces.iter().zip(indexes) {
        let group = ((std::process::id() as u16) ^ (*idx as u16)).wrapping_mul(31);
        for w in ports.iter_mut() {
            let port = AfPacketPort::open(*idx, group).map_err(|error| EngineError::DataPath {
                path: "af_packet",
                iface: name.clone(),
                error,
            })?;
            w.push(Box::new(port));
        }
    }
    Ok(ports)
}

/// The XDP program's address map for one interface: the VIPs served there,
/// this host's own addresses (left to the kernel), and the NAT backends
/// (their replies come back through the engine).
fn classifier(vips: &[VipCfg], ifname: &str) -> Classifier {
    let mut c = Classifier {
        local: neigh::local_addresses().unwrap_or_default(),
        ..Classifier::default()
    };
    for v in vips
        .iter()
        .filter(|v| v.interfaces.iter().any(|i| i == ifname))
    {
        c.vips.push(v.address);
        // Replies to a full-NAT address are the engine's, not the host's.
        c.vips.extend(v.source_nat);
        if v.mode == crate::config::ForwardMode::Nat {
            c.nat_sources.extend(v.backends.iter().map(|b| b.address));
        }
    }
    c
}

/// A tc ingress shield per interface, where the kernel supports it (tcx,
/// Linux 6.6+): without one the engine still works, the kernel just does
/// extra work on every frame.
fn shields(vips: &[VipCfg], interfaces: &[String]) -> Vec<TcShield> {
    let mut out = Vec::new();
    for name in interfaces {
        match TcShield::attach(name, &classifier(vips, name)) {
            Ok(s) => out.push(s),
            Err(e) => tracing::warn!(
                interface = %name,
                error = %e,
                "no tc ingress shield: the kernel will also process every frame the engine forwards (set [engine] shield = false to silence this)"
            ),
        }
    }
    out
}

/// An XDP program per interface and an AF_XDP socket per receive queue;
/// queue `q` goes to worker `q % workers` (the NIC's RSS steers flows to
/// queues, as the fanout does for AF_PACKET).
#[allow(clippy::type_complexity)]
fn af_xdp_ports(
    cfg: &EngineCfg,
    vips: &[VipCfg],
    interfaces: &[String],
    workers: usize,
) -> Result<(Vec<Vec<Box<dyn Port>>>, Vec<XdpProgram>), EngineError> {
    let mode = match cfg.xdp_mode {
        crate::config::XdpMode::Auto => AttachMode::Auto,
        crate::config::XdpMode::Native => AttachMode::Native,
        crate::config::XdpMode::Generic => AttachMode::Generic,
    };
    let mut ports: Vec<Vec<Box<dyn Port>>> = (0..workers).map(|_| Vec::new()).collect();
    let mut progs = Vec::new();
    for name in interfaces {
        let prog =
            XdpProgram::attach(name, mode, &classifier(vips, name)).map_err(EngineError::Xdp)?;
        let queues = prog.queues().max(1);
        if (queues as usize) < workers {
            tracing::warn!(interface = %name, queues, workers, "fewer receive queues than packet workers: some workers idle on this interface");
        }
        for q in 0..queues {
            let port = XskPort::open(
                &prog,
                &XskOptions {
                    queue: q,
                    ..XskOptions::default()
                },
            )
            .map_err(EngineError::Xdp)?;
            ports[q as usize % workers].push(Box::new(port));
        }
        progs.push(prog);
    }
    Ok((ports, progs))
}

/// A running engine.
pub struct Engine {
    shared: Arc<Shared>,
    inner: Arc<Mutex<Inner>>,
    threads: Vec<JoinHandle<()>>,
    interfaces: Vec<String>,
    workers: usize,
}

impl Engine {
    /// Opens the data path on every interface a VIP names, starts the
    /// workers, the control socket and the health checks.
    pub fn start(cfg: &EngineCfg, vips: &[VipCfg]) -> Result<Engine, EngineError> {
        let mut interfaces: Vec<String> = Vec::new();
        for v in vips {
            for i in &v.interfaces {
                if !interfaces.contains(i) {
                    interfaces.push(i.clone());
                }
            }
        }
        let mut ifaces = Vec::new();
        let mut indexes = Vec::new();
        for name in &interfaces {
            let err = |error| EngineError::Interface {
                name: name.clone(),
                error,
            };
            indexes.push(afpacket::ifindex(name).map_err(err)?);
            ifaces.push(Iface {
                name: name.clone(),
                mac: neigh::interface_mac(name).map_err(err)?,
            });
        }
        let workers = cfg.workers.max(1);
        let (data_path, ports, xdp) = match cfg.data_path {
            DataPath::AfPacket => (
                "af_packet",
                af_packet_ports(&interfaces, &indexes, workers)?,
                Vec::new(),
            ),
            DataPath::AfXdp => {
                let (ports, progs) = af_xdp_ports(cfg, vips, &interfaces, workers)?;
                ("af_xdp", ports, progs)
            }
            DataPath::Auto => match af_xdp_ports(cfg, vips, &interfaces, workers) {
                Ok((ports, progs)) => ("af_xdp", ports, progs),
                Err(e) => {
                    tracing::warn!(error = %e, "AF_XDP is not available here; using AF_PACKET");
                    (
                        "af_packet",
                        af_packet_ports(&interfaces, &indexes, workers)?,
                        Vec::new(),
                    )
                }
            },
        };
        let shared = Arc::new(Shared {
            state: ArcSwap::from_pointee(Forwarding::default()),
            generation: std::sync::atomic::AtomicU64::new(0),
            neigh: ArcSwap::from_pointee(Neighbours::read().unwrap_or_default()),
            drops: DropStats::default(),
            stop: AtomicBool::new(false),
            wanted: Mutex::new(Vec::new()),
            epoch: Instant::now(),
            snat: Arc::default(),
        });
        let mut inner = Inner {
            cfg: cfg.clone(),
            vips: vips.to_vec(),
            health: HashMap::new(),
            registry: Registry::default(),
            generation: 0,
            data_path,
            xdp,
            shields: if data_path == "af_packet" && cfg.shield {
                shields(vips, &interfaces)
            } else {
                Vec::new()
            },
        };
        inner.rebuild(&shared);
        if data_path == "af_packet"
            && inner.shields.len() < interfaces.len()
            && vips.iter().any(|v| v.source_nat.is_some())
        {
            tracing::warn!(
                "full NAT (source_nat) without a tc shield: the host's TCP stack sees the backends' \
                 replies to the source_nat address and resets them; use data_path = \"af_xdp\" or a \
                 kernel with tcx (6.6+), or drop them with an nft netdev ingress rule"
            );
        }
        let inner = Arc::new(Mutex::new(inner));
        let listener = match &cfg.control_socket {
            Some(path) => Some(control::bind(path)?),
            None => None,
        };
        let mut threads = Vec::new();
        for (i, ports) in ports.into_iter().enumerate() {
            let shared = shared.clone();
            let ifaces = ifaces.clone();
            let wcfg = worker::WorkerCfg {
                flow_table_size: cfg.flow_table_size,
                timeouts: cfg.timeouts,
                index: i,
                workers,
            };
            let t = std::thread::Builder::new()
                .name(format!("sy-packet-{i}"))
                .spawn(move || worker::run(ports, ifaces, shared, wcfg))
                .map_err(EngineError::Spawn)?;
            threads.push(t);
        }
        let (s, n) = (shared.clone(), inner.clone());
        threads.push(
            std::thread::Builder::new()
                .name("sy-packet-ctl".into())
                .spawn(move || control::run(listener, s, n, workers))
                .map_err(EngineError::Spawn)?,
        );
        let (s, n) = (shared.clone(), inner.clone());
        threads.push(
            std::thread::Builder::new()
                .name("sy-packet-health".into())
                .spawn(move || health::run(s, n))
                .map_err(EngineError::Spawn)?,
        );
        tracing::info!(
            vips = vips.len(),
            workers,
            data_path,
            interfaces = ?interfaces,
            control_socket = %cfg
                .control_socket
                .as_ref()
                .map_or("[global] control_socket".to_string(), |p| p.display().to_string()),
            "packet engine started"
        );
        Ok(Engine {
            shared,
            inner,
            threads,
            interfaces,
            workers,
        })
    }

    /// Applies a reloaded configuration: the VIP list is replaced (runtime
    /// changes made with `switchyard vip` are dropped), existing backends
    /// keep their flows. Interfaces, workers, the data path and the control
    /// socket need a restart to change.
    pub fn apply(&self, cfg: &EngineCfg, vips: &[VipCfg]) {
        for v in vips {
            for i in &v.interfaces {
                if !self.interfaces.contains(i) {
                    tracing::warn!(vip = %v.name, interface = %i, "a new interface needs a restart; the vip is served on the running interfaces only");
                }
            }
        }
        if cfg.workers != self.workers {
            tracing::warn!("changing the number of packet workers needs a restart");
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let running = inner.cfg.clone();
        inner.cfg = EngineCfg {
            data_path: running.data_path,
            workers: running.workers,
            control_socket: running.control_socket,
            flow_table_size: running.flow_table_size,
            ..cfg.clone()
        };
        inner.vips = vips.to_vec();
        inner.rebuild(&self.shared);
        tracing::info!(vips = vips.len(), "packet engine reconfigured");
    }

    /// A handle answering control requests, for a shared control socket.
    pub fn control(&self) -> control::EngineControl {
        control::EngineControl {
            shared: self.shared.clone(),
            inner: self.inner.clone(),
            workers: self.workers,
        }
    }

    /// Stops every thread and removes the control socket.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Ok(inner) = self.inner.lock()
            && let Some(path) = &inner.cfg.control_socket
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long the control and health threads sleep between checks of `stop`.
pub(crate) const TICK: Duration = Duration::from_millis(100);
