//! Full NAT (`source_nat` on a NAT VIP): the client's address and port are
//! replaced by an address of the engine and a port it allocates, so the
//! backends answer the engine without any route towards the clients.
//!
//! A reply comes back to (engine address, allocated port), which says
//! nothing about the client: the mapping must be remembered, and since the
//! kernel's fanout may steer the reply to another worker than the request,
//! the table is shared by all workers. It is sharded by (backend address,
//! backend port, protocol), so a flow's two directions meet in one shard
//! and workers rarely contend. Ports come from 1024-65535, starting at a
//! hash of the client so a client's flows spread, probing up to 512 ports;
//! a mapping is unique per (engine address, port, backend, backend port,
//! protocol), so each backend port offers the whole range.

use std::net::IpAddr;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

/// First and last port handed out.
const FIRST_PORT: u16 = 1024;
const PORTS: u32 = 65536 - FIRST_PORT as u32;
/// Ports tried before giving up on a new flow.
const PROBES: u32 = 512;
const SHARDS: usize = 16;

/// A flow as the client sent it, and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outbound {
    pub client: IpAddr,
    pub cport: u16,
    pub vip: IpAddr,
    pub vport: u16,
    pub backend: IpAddr,
    pub bport: u16,
    pub proto: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Inbound {
    snat: IpAddr,
    port: u16,
    backend: IpAddr,
    bport: u16,
    proto: u8,
}

impl Inbound {
    /// Where the replies of `flow`, translated to `snat:port`, arrive.
    fn of(flow: &Outbound, snat: IpAddr, port: u16) -> Inbound {
        Inbound {
            snat,
            port,
            backend: flow.backend,
            bport: flow.bport,
            proto: flow.proto,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Mapping {
    flow: Outbound,
    last_seen: u64,
}

#[derive(Default)]
struct Shard {
    out: FxHashMap<Outbound, (IpAddr, u16)>,
    back: FxHashMap<Inbound, Mapping>,
}

/// The shared translation table.
pub struct SnatTable {
    shards: Vec<Mutex<Shard>>,
}

impl Default for SnatTable {
    fn default() -> Self {
        SnatTable {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }
}

fn shard_of(backend: IpAddr, bport: u16, proto: u8) -> usize {
    let h = crate::balance::hash_bytes(
        &[
            &match backend {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            }[..],
            &bport.to_be_bytes(),
            &[proto],
        ]
        .concat(),
    );
    (h % SHARDS as u64) as usize
}

impl SnatTable {
    /// The (engine address, port) of `flow`, allocating a port on its first
    /// packet; `None` when no port is free near the client's hash.
    pub fn outbound(&self, flow: Outbound, snat: IpAddr, now: u64) -> Option<u16> {
        let mut shard = self.shards[shard_of(flow.backend, flow.bport, flow.proto)]
            .lock()
            .ok()?;
        if let Some(&(addr, port)) = shard.out.get(&flow)
            && addr == snat
        {
            let key = Inbound::of(&flow, snat, port);
            if let Some(m) = shard.back.get_mut(&key) {
                m.last_seen = now;
            }
            return Some(port);
        }
        let seed = crate::packet::flow::flow_hash(&crate::packet::flow::FlowKey {
            proto: flow.proto,
            src: flow.client,
            dst: flow.vip,
            sport: flow.cport,
            dport: flow.vport,
        });
        for i in 0..PROBES {
            let port = FIRST_PORT + ((seed as u32).wrapping_add(i) % PORTS) as u16;
            let key = Inbound::of(&flow, snat, port);
            if let std::collections::hash_map::Entry::Vacant(e) = shard.back.entry(key) {
                e.insert(Mapping {
                    flow,
                    last_seen: now,
                });
                shard.out.insert(flow, (snat, port));
                return Some(port);
            }
        }
        None
    }

    /// The client flow a reply from `backend:bport` to `snat:port` belongs to.
    pub fn inbound(
        &self,
        snat: IpAddr,
        port: u16,
        backend: IpAddr,
        bport: u16,
        proto: u8,
        now: u64,
    ) -> Option<Outbound> {
        let mut shard = self.shards[shard_of(backend, bport, proto)].lock().ok()?;
        let key = Inbound {
            snat,
            port,
            backend,
            bport,
            proto,
        };
        let m = shard.back.get_mut(&key)?;
        m.last_seen = now;
        Some(m.flow)
    }

    /// Forgets mappings idle for `idle` nanoseconds; returns how many.
    pub fn expire(&self, now: u64, idle: u64) -> usize {
        let mut gone = 0;
        for s in &self.shards {
            let Ok(mut shard) = s.lock() else { continue };
            let before = shard.back.len();
            let mut dead = Vec::new();
            shard.back.retain(|_, m| {
                let keep = now.saturating_sub(m.last_seen) < idle;
                if !keep {
                    dead.push(m.flow);
                }
                keep
            });
            for f in dead {
                shard.out.remove(&f);
            }
            gone += before - shard.back.len();
        }
        gone
    }

    /// Live mappings.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok())
            .map(|s| s.back.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(cport: u16) -> Outbound {
        Outbound {
            client: "203.0.113.10".parse().unwrap(),
            cport,
            vip: "198.51.100.1".parse().unwrap(),
            vport: 80,
            backend: "198.18.0.11".parse().unwrap(),
            bport: 80,
            proto: 6,
        }
    }

    #[test]
    fn a_flow_keeps_its_port_and_replies_find_it() {
        let t = SnatTable::default();
        let e: IpAddr = "198.18.0.100".parse().unwrap();
        let p = t.outbound(flow(40000), e, 1).unwrap();
        assert!(p >= FIRST_PORT);
        assert_eq!(
            t.outbound(flow(40000), e, 2),
            Some(p),
            "same flow, same port"
        );
        let back = t.inbound(e, p, flow(1).backend, 80, 6, 3).unwrap();
        assert_eq!(back, flow(40000));
        assert_eq!(
            t.inbound(e, p, flow(1).backend, 81, 6, 3),
            None,
            "another backend port"
        );
        assert_eq!(
            t.inbound(e, p, flow(1).backend, 80, 17, 3),
            None,
            "another protocol"
        );
    }

    #[test]
    fn ports_are_unique_per_backend_and_expire() {
        let t = SnatTable::default();
        let e: IpAddr = "198.18.0.100".parse().unwrap();
        let mut ports = std::collections::HashSet::new();
        for c in 1000..3000 {
            assert!(
                ports.insert(t.outbound(flow(c), e, 10).unwrap()),
                "port reused"
            );
        }
        assert_eq!(t.len(), 2000);
        assert_eq!(t.expire(10 + 5, 10), 0, "not idle yet");
        t.outbound(flow(1000), e, 100);
        assert_eq!(t.expire(105, 10), 1999, "all but the refreshed one");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_full_neighbourhood_refuses_new_flows() {
        let t = SnatTable::default();
        let e: IpAddr = "198.18.0.100".parse().unwrap();
        // Exhaust the whole range for one backend port.
        let mut got = 0u32;
        for c in 0..u16::MAX {
            if t.outbound(flow(c), e, 1).is_some() {
                got += 1;
            }
        }
        assert!(got <= PORTS, "never more mappings than ports ({got})");
        assert!(got > PORTS * 9 / 10, "most of the range is used ({got})");
    }
}
