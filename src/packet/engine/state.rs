//! The packet engine's forwarding state: an immutable snapshot compiled
//! from the VIP configuration (plus runtime changes and health), which the
//! workers read through an `ArcSwap` and the control side replaces whole.
//!
//! Backends carry **stable ids** (`u32`), kept across rebuilds for as long
//! as the backend exists, because the workers' connection tables store ids:
//! a rebuild that keeps a backend keeps its flows. Counters live in shared
//! `Arc`s keyed by the same ids, so they survive rebuilds too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

use crate::balance::{Maglev, Member};
use crate::config::{ForwardMode, VipCfg};

/// Per-backend counters: written by the workers (one atomic add per backend
/// per batch), read by `vip list --stats`.
#[derive(Debug, Default)]
pub struct BackendStats {
    /// Flows this backend was chosen for (new or adopted).
    pub flows: AtomicU64,
    /// Packets and bytes forwarded client → backend.
    pub packets_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Packets and bytes of replies seen backend → client (NAT only: in the
    /// other modes replies bypass the engine).
    pub packets_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Live flows in the connection tables, summed over workers (refreshed
    /// every second by each worker).
    pub active: AtomicU64,
}

/// Counters of what was dropped and why, per engine.
#[derive(Debug, Default)]
pub struct DropStats {
    /// A VIP packet for which no backend was available.
    pub no_backend: AtomicU64,
    /// Non-first fragments (no fragment table: they carry no ports).
    pub fragments: AtomicU64,
    /// Packets the rewrite refused (malformed, unsupported).
    pub malformed: AtomicU64,
    /// Tunnel packets too big for the MTU (an ICMP error was sent back when
    /// DF was set).
    pub too_big: AtomicU64,
    /// The next hop's MAC address was not known (sent through the kernel
    /// instead when possible).
    pub no_neighbour: AtomicU64,
    /// The transmit queue was full.
    pub tx_full: AtomicU64,
}

impl DropStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// One backend as the workers see it.
#[derive(Debug, Clone)]
pub struct BackendRt {
    pub id: u32,
    pub address: IpAddr,
    /// NAT: the port to rewrite to (0 = keep the client's destination port).
    pub port: u16,
    pub weight: u32,
    /// Passing its health checks (always true without checks).
    pub healthy: bool,
    /// Takes new flows: healthy and weight > 0. A backend that is not in
    /// Maglev keeps its existing flows (draining).
    pub in_maglev: bool,
    pub stats: Arc<BackendStats>,
}

/// One VIP as the workers see it.
#[derive(Debug, Clone)]
pub struct VipRt {
    pub cfg: VipCfg,
    pub backends: Vec<BackendRt>,
    /// Maglev over the backends that take new flows.
    pub maglev: Maglev,
    /// Maglev member index → backend id.
    pub maglev_ids: Vec<u32>,
}

impl VipRt {
    /// The Maglev choice for a flow hash: a backend id, or `None` when no
    /// backend takes new flows.
    pub fn choose(&self, hash: u64) -> Option<u32> {
        if self.maglev.is_empty() {
            return None;
        }
        self.maglev_ids.get(self.maglev.lookup(hash)).copied()
    }
}

/// The identity Maglev hashes for a backend: its address, and its port when
/// it has one. The same config gives the same table on every engine.
pub fn maglev_id(address: IpAddr, port: u16) -> String {
    if port == 0 {
        address.to_string()
    } else {
        std::net::SocketAddr::new(address, port).to_string()
    }
}

/// The whole forwarding state.
#[derive(Debug, Default)]
pub struct Forwarding {
    /// Bumped at every rebuild: workers compare it to notice changes.
    pub generation: u64,
    pub vips: Vec<VipRt>,
    /// (VIP address, protocol, port or 0) → index in `vips`.
    by_key: FxHashMap<(IpAddr, u8, u16), u32>,
    /// NAT replies: (backend address, protocol, backend port or 0) → VIP index.
    nat_replies: FxHashMap<(IpAddr, u8, u16), u32>,
    /// Backend id → (VIP index, backend index).
    backends: FxHashMap<u32, (u32, u32)>,
    /// Whether any VIP takes every port (a second lookup per packet).
    any_all_ports: bool,
    /// Engine addresses of full-NAT VIPs (`source_nat`): replies come to them.
    snat_addrs: Vec<IpAddr>,
    pub tunnel_source: Option<(std::net::Ipv4Addr, u8)>,
    pub mtu: usize,
}

impl Forwarding {
    /// Builds the snapshot. `vips` pairs each VIP with its backends (ids,
    /// health and counters already assigned by the caller).
    pub fn build(
        generation: u64,
        vips: Vec<(VipCfg, Vec<BackendRt>)>,
        tunnel_source: Option<(std::net::Ipv4Addr, u8)>,
        mtu: usize,
    ) -> Forwarding {
        let mut f = Forwarding {
            generation,
            tunnel_source,
            mtu,
            ..Forwarding::default()
        };
        for (i, (cfg, backends)) in vips.into_iter().enumerate() {
            let i = i as u32;
            let proto = cfg.protocol.number();
            f.by_key.insert((cfg.address, proto, cfg.port), i);
            f.any_all_ports |= cfg.port == 0;
            if let Some(a) = cfg.source_nat
                && !f.snat_addrs.contains(&a)
            {
                f.snat_addrs.push(a);
            }
            let mut members = Vec::new();
            let mut ids = Vec::new();
            for (j, b) in backends.iter().enumerate() {
                f.backends.insert(b.id, (i, j as u32));
                if cfg.mode == ForwardMode::Nat {
                    let port = if b.port == 0 { cfg.port } else { b.port };
                    f.nat_replies.insert((b.address, proto, port), i);
                }
                if b.in_maglev {
                    members.push(Member {
                        id: maglev_id(b.address, b.port),
                        weight: b.weight,
                    });
                    ids.push(b.id);
                }
            }
            let maglev = Maglev::new(&members, cfg.maglev_table_size);
            f.vips.push(VipRt {
                cfg,
                backends,
                maglev,
                maglev_ids: ids,
            });
        }
        f
    }

    /// The VIP a packet to `dst:dport` belongs to.
    #[inline]
    pub fn vip_for(&self, dst: IpAddr, proto: u8, dport: u16) -> Option<&VipRt> {
        let i = match self.by_key.get(&(dst, proto, dport)) {
            Some(i) => *i,
            None if self.any_all_ports => *self.by_key.get(&(dst, proto, 0))?,
            None => return None,
        };
        self.vips.get(i as usize)
    }

    /// Whether `dst` is the address of any VIP (for ICMP errors sent to it).
    pub fn is_vip_address(&self, dst: IpAddr) -> bool {
        self.vips.iter().any(|v| v.cfg.address == dst)
    }

    /// Whether `dst` is a full-NAT address (a reply to translate back).
    #[inline]
    pub fn is_snat_address(&self, dst: IpAddr) -> bool {
        !self.snat_addrs.is_empty() && self.snat_addrs.contains(&dst)
    }

    /// The NAT VIP a reply from `src:sport` belongs to.
    #[inline]
    pub fn nat_reply(&self, src: IpAddr, proto: u8, sport: u16) -> Option<&VipRt> {
        let i = match self.nat_replies.get(&(src, proto, sport)) {
            Some(i) => *i,
            None if self.any_all_ports => *self.nat_replies.get(&(src, proto, 0))?,
            None => return None,
        };
        self.vips.get(i as usize)
    }

    /// A backend by id, with its VIP.
    #[inline]
    pub fn backend(&self, id: u32) -> Option<(&VipRt, &BackendRt)> {
        let (v, b) = *self.backends.get(&id)?;
        let vip = self.vips.get(v as usize)?;
        Some((vip, vip.backends.get(b as usize)?))
    }

    /// Every backend id in this snapshot.
    pub fn backend_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.backends.keys().copied()
    }
}

/// Assigns stable ids and keeps counters across rebuilds.
#[derive(Debug, Default)]
pub struct Registry {
    next: u32,
    ids: HashMap<(String, IpAddr, u16), u32>,
    stats: HashMap<u32, Arc<BackendStats>>,
}

impl Registry {
    /// The id (and counters) of backend `address:port` of VIP `vip`,
    /// allocating one the first time.
    pub fn id(&mut self, vip: &str, address: IpAddr, port: u16) -> (u32, Arc<BackendStats>) {
        let key = (vip.to_string(), address, port);
        let id = match self.ids.get(&key) {
            Some(id) => *id,
            None => {
                self.next += 1;
                self.ids.insert(key, self.next);
                self.next
            }
        };
        let stats = self.stats.entry(id).or_default().clone();
        (id, stats)
    }

    /// Forgets backends that are not in `live` (their counters go too).
    pub fn retain(&mut self, live: &[u32]) {
        self.ids.retain(|_, id| live.contains(id));
        self.stats.retain(|id, _| live.contains(id));
    }
}
