//! One worker's packet decisions: frame in, frame(s) out. No sockets here,
//! so the unit tests drive exactly the code the data path runs.
//!
//! For each received Ethernet frame addressed to the engine:
//!
//! 1. a packet to a VIP (address, protocol, port) is a **forward** packet:
//!    the connection table gives its flow's backend (Maglev decides new
//!    flows), and the VIP's mode rewrites it: NAT (destination address and
//!    port), DSR (destination MAC only), IP-in-IP or GRE (an outer IPv4
//!    header to the backend, its source spread over `tunnel_source` by flow
//!    hash);
//! 2. an ICMP error sent to a VIP about one of its flows (e.g.
//!    "fragmentation needed" for a reply) goes to the backend that owns the
//!    flow, rewritten as that mode requires;
//! 3. a packet from a NAT backend's address and port is a **reply**: its
//!    source becomes the VIP again;
//! 4. anything else is not the engine's business and is ignored (the
//!    kernel sees it too and does what it always does).

use std::net::{IpAddr, Ipv4Addr};

use rustc_hash::FxHashMap;

use super::neigh::Neighbours;
use super::snat::{Outbound, SnatTable};
use super::state::{BackendRt, DropStats, Forwarding, VipRt};
use crate::config::ForwardMode;
use crate::packet::conntrack::{ConnTable, Decision, Timeouts};
use crate::packet::flow::{self, FlowKey, Parsed};
use crate::packet::rewrite::{
    self, Endpoints, GRE_OVERHEAD, IPIP_OVERHEAD, MtuVerdict, RewriteError,
};

/// An interface the worker has a port on.
#[derive(Debug, Clone)]
pub struct Iface {
    pub name: String,
    pub mac: [u8; 6],
}

/// What to do with an output packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Emit<'a> {
    /// Send this Ethernet frame on port `port`.
    Frame { port: usize, frame: &'a [u8] },
    /// The next hop's MAC is unknown: let the kernel route this IP packet.
    Ip { dst: IpAddr, packet: &'a [u8] },
}

/// Counter deltas of one backend, gathered over a batch.
#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    flows: u64,
    packets_in: u64,
    bytes_in: u64,
    packets_out: u64,
    bytes_out: u64,
}

/// Drop counters gathered over a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drops {
    pub no_backend: u64,
    pub fragments: u64,
    pub malformed: u64,
    pub too_big: u64,
    pub no_neighbour: u64,
}

/// A worker's forwarding state: its connection table and scratch space.
pub struct Forwarder {
    pub table: ConnTable,
    /// Full-NAT mappings, shared by every worker.
    snat: std::sync::Arc<SnatTable>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    deltas: FxHashMap<u32, Delta>,
    pub drops: Drops,
    /// Next hops that were needed but not resolved (for the control thread
    /// to probe).
    pub wanted: Vec<IpAddr>,
}

impl Forwarder {
    pub fn new(flow_table_size: usize, timeouts: Timeouts) -> Forwarder {
        Forwarder::with_snat(flow_table_size, timeouts, std::sync::Arc::default())
    }

    /// A forwarder sharing `snat` (the engine's one table) with the others.
    pub fn with_snat(
        flow_table_size: usize,
        timeouts: Timeouts,
        snat: std::sync::Arc<SnatTable>,
    ) -> Forwarder {
        Forwarder {
            table: ConnTable::new(flow_table_size, timeouts),
            snat,
            buf: Vec::with_capacity(2048),
            scratch: Vec::with_capacity(2048),
            deltas: FxHashMap::default(),
            drops: Drops::default(),
            wanted: Vec::new(),
        }
    }

    /// Handles one received frame; `emit` is called for each output.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        fwd: &Forwarding,
        neigh: &Neighbours,
        ifaces: &[Iface],
        in_port: usize,
        frame: &[u8],
        now: u64,
        emit: &mut dyn FnMut(Emit<'_>),
    ) {
        let Ok((eth, p)) = flow::parse_ethernet(frame) else {
            return;
        };
        if ifaces.get(in_port).is_none_or(|i| i.mac != eth.dst) {
            return;
        }
        let key = p.key;
        if p.is_fragment {
            if fwd.is_vip_address(key.dst) {
                self.drops.fragments += 1;
            }
            return;
        }
        if let Some(vip) = fwd.vip_for(key.dst, key.proto, key.dport) {
            let hash = flow::flow_hash(&key);
            let decision = self
                .table
                .lookup_or_insert(&key, hash, now, p.tcp_flags, || vip.choose(hash));
            let Some(id) = decision.backend() else {
                self.drops.no_backend += 1;
                return;
            };
            let Some((vip, backend)) = fwd.backend(id) else {
                self.drops.no_backend += 1;
                return;
            };
            let d = self.deltas.entry(id).or_default();
            if matches!(decision, Decision::Created(_) | Decision::Adopted(_)) {
                d.flows += 1;
            }
            d.packets_in += 1;
            d.bytes_in += (p.l3_end - p.l3_offset) as u64;
            self.forward(fwd, neigh, ifaces, vip, backend, frame, &p, hash, now, emit);
        } else if fwd.is_snat_address(key.dst) {
            self.full_nat_reply(neigh, ifaces, fwd, frame, &p, now, emit);
        } else if p.icmp_error.is_some() && fwd.is_vip_address(key.dst) {
            self.icmp_to_backend(fwd, neigh, ifaces, frame, &p, now, emit);
        } else if let Some(vip) = fwd.nat_reply(key.src, key.proto, key.sport)
            && !neigh.is_local(key.dst)
        {
            self.reply(fwd, neigh, ifaces, vip, frame, &p, emit);
        }
    }

    /// Adds the batch's counters to the shared ones and clears them.
    pub fn flush_stats(&mut self, fwd: &Forwarding, shared: &DropStats) {
        for (id, d) in self.deltas.drain() {
            if let Some((_, b)) = fwd.backend(id) {
                let s = &b.stats;
                DropStats::add(&s.flows, d.flows);
                DropStats::add(&s.packets_in, d.packets_in);
                DropStats::add(&s.bytes_in, d.bytes_in);
                DropStats::add(&s.packets_out, d.packets_out);
                DropStats::add(&s.bytes_out, d.bytes_out);
            }
        }
        let d = std::mem::take(&mut self.drops);
        DropStats::add(&shared.no_backend, d.no_backend);
        DropStats::add(&shared.fragments, d.fragments);
        DropStats::add(&shared.malformed, d.malformed);
        DropStats::add(&shared.too_big, d.too_big);
        DropStats::add(&shared.no_neighbour, d.no_neighbour);
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        fwd: &Forwarding,
        neigh: &Neighbours,
        ifaces: &[Iface],
        vip: &VipRt,
        b: &BackendRt,
        frame: &[u8],
        p: &Parsed,
        hash: u64,
        now: u64,
        emit: &mut dyn FnMut(Emit<'_>),
    ) {
        let ip = &frame[p.l3_offset..p.l3_end];
        match vip.cfg.mode {
            ForwardMode::Nat => {
                self.buf.clear();
                self.buf.extend_from_slice(&frame[..p.l3_end]);
                let port = if b.port == 0 { p.key.dport } else { b.port };
                let source = match vip.cfg.source_nat {
                    None => None,
                    Some(snat) => {
                        let flow = Outbound {
                            client: p.key.src,
                            cport: p.key.sport,
                            vip: p.key.dst,
                            vport: p.key.dport,
                            backend: b.address,
                            bport: port,
                            proto: p.key.proto,
                        };
                        match self.snat.outbound(flow, snat, now) {
                            Some(sport) => Some((snat, sport)),
                            None => {
                                self.drops.no_backend += 1;
                                return;
                            }
                        }
                    }
                };
                let ip = &mut self.buf[p.l3_offset..];
                let r = match (b.address, source) {
                    (IpAddr::V4(a), None) => rewrite::dnat_v4(ip, a, port),
                    (IpAddr::V6(a), None) => rewrite::dnat_v6(ip, a, port),
                    (a, Some((s, sp))) => full_nat(ip, (s, sp), (a, port)),
                };
                if r.is_err() {
                    self.drops.malformed += 1;
                    return;
                }
                self.send_l3(neigh, ifaces, b.address, p.l3_offset, emit);
            }
            ForwardMode::Dsr => {
                let Some((mac, port)) = l2_next_hop(neigh, ifaces, b.address) else {
                    self.drops.no_neighbour += 1;
                    self.wanted.push(b.address);
                    return;
                };
                self.buf.clear();
                self.buf.extend_from_slice(&frame[..p.l3_end]);
                if rewrite::dsr_rewrite(&mut self.buf, mac, ifaces[port].mac).is_err() {
                    self.drops.malformed += 1;
                    return;
                }
                emit(Emit::Frame {
                    port,
                    frame: &self.buf,
                });
            }
            ForwardMode::Ipip | ForwardMode::Gre => {
                let IpAddr::V4(dst) = b.address else {
                    self.drops.malformed += 1;
                    return;
                };
                let (base, len) = fwd.tunnel_source.unwrap_or((Ipv4Addr::UNSPECIFIED, 32));
                let gre = vip.cfg.mode == ForwardMode::Gre;
                let overhead = if gre { GRE_OVERHEAD } else { IPIP_OVERHEAD };
                match rewrite::mtu_verdict(ip, overhead, fwd.mtu) {
                    Ok(MtuVerdict::Fits) => {}
                    Ok(MtuVerdict::TooBig { next_hop_mtu }) => {
                        self.drops.too_big += 1;
                        self.too_big(neigh, ifaces, ip, vip.cfg.address, next_hop_mtu, emit);
                        return;
                    }
                    Ok(MtuVerdict::Drop) => {
                        self.drops.too_big += 1;
                        return;
                    }
                    Err(_) => {
                        self.drops.malformed += 1;
                        return;
                    }
                }
                let src = rewrite::outer_source_for(hash, base, len);
                self.scratch.clear();
                let r = if gre {
                    rewrite::encap_gre(ip, src, dst, &mut self.scratch)
                } else {
                    rewrite::encap_ipip(ip, src, dst, &mut self.scratch)
                };
                if r.is_err() {
                    self.drops.malformed += 1;
                    return;
                }
                self.frame_scratch(flow::ETHERTYPE_IPV4);
                self.send_l3(neigh, ifaces, b.address, 14, emit);
            }
        }
    }

    /// `self.buf` becomes an Ethernet frame (MACs to be filled in by
    /// `send_l3`) carrying the IP packet in `self.scratch`.
    fn frame_scratch(&mut self, ethertype: u16) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 12]);
        self.buf.extend_from_slice(&ethertype.to_be_bytes());
        self.buf.extend_from_slice(&self.scratch);
    }

    /// Sends `self.buf` (an Ethernet frame whose IP packet starts at `l3`)
    /// towards `dst`: MACs filled in from the neighbour table, or through
    /// the kernel when the next hop is not resolved.
    fn send_l3(
        &mut self,
        neigh: &Neighbours,
        ifaces: &[Iface],
        dst: IpAddr,
        l3: usize,
        emit: &mut dyn FnMut(Emit<'_>),
    ) {
        match l2_next_hop(neigh, ifaces, dst) {
            Some((mac, port)) => {
                self.buf[..6].copy_from_slice(&mac);
                self.buf[6..12].copy_from_slice(&ifaces[port].mac);
                emit(Emit::Frame {
                    port,
                    frame: &self.buf,
                });
            }
            None => {
                self.drops.no_neighbour += 1;
                self.wanted.push(dst);
                emit(Emit::Ip {
                    dst,
                    packet: &self.buf[l3..],
                });
            }
        }
    }

    /// A tunnel packet too big with DF set: "fragmentation needed" (or
    /// "packet too big") from the VIP back to the client.
    fn too_big(
        &mut self,
        neigh: &Neighbours,
        ifaces: &[Iface],
        ip: &[u8],
        vip: IpAddr,
        mtu: u16,
        emit: &mut dyn FnMut(Emit<'_>),
    ) {
        self.scratch.clear();
        let r = match vip {
            IpAddr::V4(v) => rewrite::icmp_frag_needed_v4(ip, mtu, v, &mut self.scratch),
            IpAddr::V6(v) => {
                rewrite::icmp6_packet_too_big(ip, u32::from(mtu), v, &mut self.scratch)
            }
        };
        if r.is_err() {
            return;
        }
        let Ok(parsed) = flow::parse(&self.scratch) else {
            return;
        };
        let ethertype = if vip.is_ipv4() {
            flow::ETHERTYPE_IPV4
        } else {
            flow::ETHERTYPE_IPV6
        };
        self.frame_scratch(ethertype);
        self.send_l3(neigh, ifaces, parsed.key.dst, 14, emit);
    }

    /// A reply from a NAT backend: the source becomes the VIP again.
    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        _fwd: &Forwarding,
        neigh: &Neighbours,
        ifaces: &[Iface],
        vip: &VipRt,
        frame: &[u8],
        p: &Parsed,
        emit: &mut dyn FnMut(Emit<'_>),
    ) {
        let sport = if vip.cfg.port == 0 {
            p.key.sport
        } else {
            vip.cfg.port
        };
        self.buf.clear();
        self.buf.extend_from_slice(&frame[..p.l3_end]);
        let r = match vip.cfg.address {
            IpAddr::V4(a) => rewrite::snat_v4(&mut self.buf[p.l3_offset..], a, sport),
            IpAddr::V6(a) => rewrite::snat_v6(&mut self.buf[p.l3_offset..], a, sport),
        };
        if r.is_err() {
            self.drops.malformed += 1;
            return;
        }
        if let Some(b) = vip
            .backends
            .iter()
            .find(|b| b.address == p.key.src && (b.port == 0 || b.port == p.key.sport))
        {
            let d = self.deltas.entry(b.id).or_default();
            d.packets_out += 1;
            d.bytes_out += (p.l3_end - p.l3_offset) as u64;
        }
        self.send_l3(neigh, ifaces, p.key.dst, p.l3_offset, emit);
    }

    /// A reply to a full-NAT address: back to the client, from the VIP.
    #[allow(clippy::too_many_arguments)]
    fn full_nat_reply(
        &mut self,
        neigh: &Neighbours,
        ifaces: &[Iface],
        fwd: &Forwarding,
        frame: &[u8],
        p: &Parsed,
        now: u64,
        emit: &mut dyn FnMut(Emit<'_>),
    ) {
        let k = p.key;
        let Some(flow) = self
            .snat
            .inbound(k.dst, k.dport, k.src, k.sport, k.proto, now)
        else {
            return;
        };
        self.buf.clear();
        self.buf.extend_from_slice(&frame[..p.l3_end]);
        let ip = &mut self.buf[p.l3_offset..];
        let r = full_nat(ip, (flow.vip, flow.vport), (flow.client, flow.cport));
        if r.is_err() {
            self.drops.malformed += 1;
            return;
        }
        if let Some(vip) = fwd.vip_for(flow.vip, k.proto, flow.vport)
            && let Some(b) = vip.backends.iter().find(|b| b.address == k.src)
        {
            let d = self.deltas.entry(b.id).or_default();
            d.packets_out += 1;
            d.bytes_out += (p.l3_end - p.l3_offset) as u64;
        }
        self.send_l3(neigh, ifaces, flow.client, p.l3_offset, emit);
    }

    /// An ICMP error sent to a VIP about one of its flows: to the backend
    /// that owns the flow.
    #[allow(clippy::too_many_arguments)]
    fn icmp_to_backend(
        &mut self,
        fwd: &Forwarding,
        neigh: &Neighbours,
        ifaces: &[Iface],
        frame: &[u8],
        p: &Parsed,
        now: u64,
        emit: &mut dyn FnMut(Emit<'_>),
    ) {
        let Some(inner) = flow::icmp_inner_flow(frame, p) else {
            return;
        };
        let Some(vip) = fwd.vip_for(inner.dst, inner.proto, inner.dport) else {
            return;
        };
        let hash = flow::flow_hash(&inner);
        let id = self
            .table
            .peek(&inner, hash, now)
            .or_else(|| vip.choose(hash));
        let Some((vip, b)) = id.and_then(|id| fwd.backend(id)) else {
            self.drops.no_backend += 1;
            return;
        };
        match vip.cfg.mode {
            ForwardMode::Nat => {
                self.buf.clear();
                self.buf.extend_from_slice(&frame[..p.l3_end]);
                let ip = &mut self.buf[p.l3_offset..];
                let port = if b.port == 0 { inner.dport } else { b.port };
                let r = icmp_nat(ip, &inner, b.address, port);
                if r.is_err() {
                    self.drops.malformed += 1;
                    return;
                }
                self.send_l3(neigh, ifaces, b.address, p.l3_offset, emit);
            }
            // The backend holds the VIP: the message goes as it is.
            _ => self.forward(fwd, neigh, ifaces, vip, b, frame, p, hash, now, emit),
        }
    }
}

/// NAT of an ICMP error about flow `inner` (client → VIP): the outer
/// destination and the quoted source (the reply the backend sent) become
/// the backend's.
fn icmp_nat(
    ip: &mut [u8],
    inner: &FlowKey,
    backend: IpAddr,
    port: u16,
) -> Result<(), RewriteError> {
    match backend {
        IpAddr::V4(b) => rewrite::rewrite_icmp_error_v4(
            ip,
            None,
            Some(b),
            Endpoints {
                src: Some(b),
                sport: (inner.proto != flow::PROTO_ICMP).then_some(port),
                ..Endpoints::default()
            },
        ),
        IpAddr::V6(b) => rewrite::rewrite_icmp_error_v6(
            ip,
            None,
            Some(b),
            Endpoints {
                src: Some(b),
                sport: (inner.proto != flow::PROTO_ICMPV6).then_some(port),
                ..Endpoints::default()
            },
        ),
    }
}

/// Rewrites both endpoints of an IP packet (full NAT, either direction):
/// the source becomes `src`, the destination `dst`.
fn full_nat(ip: &mut [u8], src: (IpAddr, u16), dst: (IpAddr, u16)) -> Result<(), RewriteError> {
    match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            rewrite::rewrite_v4(ip, Some(s), Some(src.1), Some(d), Some(dst.1))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            rewrite::rewrite_v6(ip, Some(s), Some(src.1), Some(d), Some(dst.1))
        }
        _ => Err(RewriteError::Malformed("full NAT across IP families")),
    }
}

/// The next hop's MAC towards `dst` and the port of its interface.
fn l2_next_hop(neigh: &Neighbours, ifaces: &[Iface], dst: IpAddr) -> Option<([u8; 6], usize)> {
    let (mac, ifname) = neigh.resolve(dst)?;
    let port = ifaces.iter().position(|i| i.name == ifname)?;
    Some((mac, port))
}

#[cfg(test)]
#[path = "tests/forward.rs"]
mod tests;
