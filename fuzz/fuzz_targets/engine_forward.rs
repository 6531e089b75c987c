//! Feeds arbitrary frames to a packet worker's decision code
//! (`switchyard::packet::engine::forward::Forwarder::handle`), the code
//! that sees every frame arriving from the network, with one VIP per mode
//! (NAT, full NAT, DSR, IP-in-IP, GRE; IPv4 and an IPv6 NAT VIP) and a
//! connection table that persists across inputs.
//!
//! Input: one control byte (bit 0: address the frame to the engine's MAC,
//! so the fuzzer need not guess it; bits 1-7: the clock), then the frame.
//! Properties: nothing panics, and every output is a well-formed IP packet
//! (behind an Ethernet header for frames) that the engine's own parser
//! accepts.

#![no_main]

use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use switchyard::config::{ForwardMode, VipCfg, VipProtocol};
use switchyard::packet::conntrack::Timeouts;
use switchyard::packet::engine::forward::{Emit, Forwarder, Iface};
use switchyard::packet::engine::neigh::Neighbours;
use switchyard::packet::engine::state::{BackendRt, Forwarding};
use switchyard::packet::flow;

const ENGINE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn vip(name: &str, addr: &str, port: u16, mode: ForwardMode, snat: Option<&str>, backends: &[&str], first_id: u32) -> (VipCfg, Vec<BackendRt>) {
    let cfg = VipCfg {
        name: name.into(),
        address: addr.parse().unwrap(),
        port,
        protocol: VipProtocol::Tcp,
        mode,
        interfaces: vec!["eth0".into()],
        backends: Vec::new(),
        health: None,
        maglev_table_size: 251,
        source_nat: snat.map(|s| s.parse().unwrap()),
    };
    let b = backends
        .iter()
        .enumerate()
        .map(|(i, a)| BackendRt {
            id: first_id + i as u32,
            address: a.parse().unwrap(),
            port: 0,
            weight: 1,
            healthy: true,
            in_maglev: true,
            stats: Arc::default(),
        })
        .collect();
    (cfg, b)
}

struct World {
    fwd: Forwarding,
    neigh: Neighbours,
    ifaces: Vec<Iface>,
    worker: Mutex<Forwarder>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let vips = vec![
            vip("nat", "198.51.100.1", 80, ForwardMode::Nat, None, &["198.18.0.11", "198.18.0.12"], 1),
            vip("fnat", "198.51.100.2", 80, ForwardMode::Nat, Some("198.18.0.100"), &["198.18.0.13"], 10),
            vip("dsr", "198.51.100.3", 0, ForwardMode::Dsr, None, &["198.18.0.11"], 20),
            vip("ipip", "198.51.100.4", 443, ForwardMode::Ipip, None, &["198.18.0.12"], 30),
            vip("gre", "198.51.100.5", 53, ForwardMode::Gre, None, &["198.18.0.13"], 40),
            vip("nat6", "2001:db8:100::1", 80, ForwardMode::Nat, None, &["2001:db8:2::11"], 50),
        ];
        let route = "Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT\n\
                     eth0 000012C6 00000000 0001 0 0 0 00FFFFFF 0 0 0\n\
                     eth0 00000000 010012C6 0003 0 0 0 00000000 0 0 0\n";
        let arp = "IP HW Flags HW Mask Device\n198.18.0.11 0x1 0x2 02:00:00:00:00:11 * eth0\n\
                   198.18.0.1 0x1 0x2 02:00:00:00:00:0f * eth0\n";
        let local: Vec<IpAddr> = vec!["198.18.0.1".parse().unwrap(), "198.18.0.100".parse().unwrap()];
        World {
            fwd: Forwarding::build(1, vips, Some(("198.18.0.1".parse().unwrap(), 28)), 1500),
            neigh: Neighbours::parse(route, arp).with_local(local),
            ifaces: vec![Iface { name: "eth0".into(), mac: ENGINE_MAC }],
            worker: Mutex::new(Forwarder::new(4096, Timeouts::default())),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, frame)) = data.split_first() else { return };
    let mut frame = frame.to_vec();
    if ctl & 1 == 1 && frame.len() >= 6 {
        frame[..6].copy_from_slice(&ENGINE_MAC);
    }
    let now = u64::from(ctl >> 1) * 1_000_000_000;
    let w = world();
    let Ok(mut worker) = w.worker.lock() else { return };
    worker.handle(&w.fwd, &w.neigh, &w.ifaces, 0, &frame, now, &mut |out| match out {
        Emit::Frame { port, frame } => {
            assert_eq!(port, 0);
            assert!(flow::parse_ethernet(frame).is_ok(), "an emitted frame does not parse");
        }
        Emit::Ip { packet, .. } => {
            assert!(flow::parse(packet).is_ok(), "an emitted packet does not parse");
        }
    });
});
