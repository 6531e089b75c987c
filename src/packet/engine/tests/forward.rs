//! The per-packet decisions of a worker, on hand-built frames: what each
//! mode sends where, with checksums checked by the rewrite tests' oracle.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::config::{VipCfg, VipProtocol};
use crate::packet::engine::state::{BackendRt, Forwarding};
use crate::packet::rewrite::tests::{BACKEND, CLIENT, Ip4, VIP, recomputed, tcp_v4, udp_v4};

const ENGINE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const B1_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
const B2_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x12];
const B2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 12);
const ENGINE_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn neighbours() -> Neighbours {
    let route = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
                 eth0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                 eth0\t007100CB\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
    let mac = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let arp = format!(
        "IP address HW type Flags HW address Mask Device\n\
         {CLIENT} 0x1 0x2 {} * eth0\n{BACKEND} 0x1 0x2 {} * eth0\n{B2} 0x1 0x2 {} * eth0\n",
        mac(CLIENT_MAC),
        mac(B1_MAC),
        mac(B2_MAC)
    );
    Neighbours::parse(route, &arp).with_local(vec![IpAddr::V4(ENGINE_IP)])
}

fn ifaces() -> Vec<Iface> {
    vec![Iface {
        name: "eth0".into(),
        mac: ENGINE_MAC,
    }]
}

fn vip(mode: ForwardMode, backends: &[Ipv4Addr]) -> Forwarding {
    vip_on(mode, backends, 80, VipProtocol::Tcp)
}

fn vip_on(
    mode: ForwardMode,
    backends: &[Ipv4Addr],
    port: u16,
    protocol: VipProtocol,
) -> Forwarding {
    let cfg = VipCfg {
        name: "web".into(),
        address: IpAddr::V4(VIP),
        port,
        protocol,
        mode,
        interfaces: vec!["eth0".into()],
        backends: Vec::new(),
        health: None,
        maglev_table_size: 65537,
        source_nat: None,
    };
    let backends = backends
        .iter()
        .enumerate()
        .map(|(i, a)| BackendRt {
            id: i as u32 + 1,
            address: IpAddr::V4(*a),
            port: 0,
            weight: 1,
            healthy: true,
            in_maglev: true,
            stats: Arc::default(),
        })
        .collect();
    Forwarding::build(1, vec![(cfg, backends)], Some((ENGINE_IP, 32)), 1500)
}

fn frame(dst_mac: [u8; 6], src_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

fn syn(sport: u16) -> Vec<u8> {
    let mut ip = tcp_v4(CLIENT, sport, VIP, 80, b"");
    ip[33] = flow::TCP_SYN;
    recomputed(&ip)
}

#[derive(Debug, PartialEq)]
enum Out {
    Frame(Vec<u8>),
    Ip(IpAddr, Vec<u8>),
}

fn run(f: &mut Forwarder, fwd: &Forwarding, frame: &[u8]) -> Vec<Out> {
    let mut out = Vec::new();
    f.handle(
        fwd,
        &neighbours(),
        &ifaces(),
        0,
        frame,
        1_000,
        &mut |e| match e {
            Emit::Frame { port, frame } => {
                assert_eq!(port, 0);
                out.push(Out::Frame(frame.to_vec()));
            }
            Emit::Ip { dst, packet } => out.push(Out::Ip(dst, packet.to_vec())),
        },
    );
    out
}

fn one_frame(out: Vec<Out>) -> Vec<u8> {
    match <[Out; 1]>::try_from(out) {
        Ok([Out::Frame(f)]) => f,
        other => panic!("expected one frame, got {other:?}"),
    }
}

fn forwarder() -> Forwarder {
    Forwarder::new(4096, Timeouts::default())
}

#[test]
fn nat_rewrites_the_destination_and_restores_the_vip_on_replies() {
    let fwd = vip(ForwardMode::Nat, &[BACKEND]);
    let mut f = forwarder();
    let out = one_frame(run(
        &mut f,
        &fwd,
        &frame(ENGINE_MAC, CLIENT_MAC, &syn(40000)),
    ));
    assert_eq!(&out[..6], &B1_MAC, "to the backend's MAC");
    assert_eq!(&out[6..12], &ENGINE_MAC, "from the engine's MAC");
    let ip = &out[14..];
    assert_eq!(ip[16..20], BACKEND.octets(), "destination is the backend");
    assert_eq!(ip[12..16], CLIENT.octets(), "source is still the client");
    assert_eq!(ip, recomputed(ip).as_slice(), "checksums are right");

    let reply = tcp_v4(BACKEND, 80, CLIENT, 40000, b"hello");
    let out = one_frame(run(&mut f, &fwd, &frame(ENGINE_MAC, B1_MAC, &reply)));
    assert_eq!(&out[..6], &CLIENT_MAC);
    let ip = &out[14..];
    assert_eq!(ip[12..16], VIP.octets(), "the reply comes from the VIP");
    assert_eq!(ip, recomputed(ip).as_slice());
    f.flush_stats(&fwd, &DropStats::default());
    let (_, b) = fwd.backend(1).unwrap();
    let s = &b.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        (load(&s.flows), load(&s.packets_in), load(&s.packets_out)),
        (1, 1, 1)
    );
}

#[test]
fn replies_to_the_engine_itself_are_left_to_the_kernel() {
    // A health check's SYN-ACK comes from the backend's port 80 too.
    let fwd = vip(ForwardMode::Nat, &[BACKEND]);
    let reply = tcp_v4(BACKEND, 80, ENGINE_IP, 50000, b"");
    assert_eq!(
        run(&mut forwarder(), &fwd, &frame(ENGINE_MAC, B1_MAC, &reply)),
        []
    );
}

#[test]
fn frames_for_other_hosts_and_other_traffic_are_ignored() {
    let fwd = vip(ForwardMode::Nat, &[BACKEND]);
    let mut f = forwarder();
    assert_eq!(
        run(&mut f, &fwd, &frame(B1_MAC, CLIENT_MAC, &syn(1))),
        [],
        "not our MAC"
    );
    let other_port = recomputed(&tcp_v4(CLIENT, 1, VIP, 443, b""));
    assert_eq!(
        run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &other_port)),
        []
    );
    let udp = udp_v4(CLIENT, 1, VIP, 80, b"x");
    assert_eq!(
        run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &udp)),
        [],
        "tcp vip"
    );
    assert_eq!(run(&mut f, &fwd, b"\x00\x01garbage"), []);
}

#[test]
fn dsr_changes_only_the_macs() {
    let fwd = vip(ForwardMode::Dsr, &[BACKEND]);
    let ip = syn(40000);
    let out = one_frame(run(
        &mut forwarder(),
        &fwd,
        &frame(ENGINE_MAC, CLIENT_MAC, &ip),
    ));
    assert_eq!(&out[..6], &B1_MAC);
    assert_eq!(&out[6..12], &ENGINE_MAC);
    assert_eq!(&out[14..], ip.as_slice(), "the IP packet is untouched");
}

#[test]
fn tunnel_modes_encapsulate_to_the_backend() {
    for (mode, overhead, proto) in [(ForwardMode::Ipip, 20, 4), (ForwardMode::Gre, 24, 47)] {
        let fwd = vip(mode, &[BACKEND]);
        let ip = syn(40000);
        let out = one_frame(run(
            &mut forwarder(),
            &fwd,
            &frame(ENGINE_MAC, CLIENT_MAC, &ip),
        ));
        assert_eq!(&out[..6], &B1_MAC);
        let outer = &out[14..];
        assert_eq!(outer.len(), ip.len() + overhead, "{mode:?}");
        assert_eq!(outer[9], proto);
        assert_eq!(outer[12..16], ENGINE_IP.octets(), "outer source");
        assert_eq!(outer[16..20], BACKEND.octets(), "outer destination");
        assert_eq!(
            rewrite::decap(outer),
            Ok(ip.as_slice()),
            "the inner packet is intact"
        );
    }
}

#[test]
fn a_tunnel_packet_too_big_gets_fragmentation_needed() {
    let fwd = vip(ForwardMode::Ipip, &[BACKEND]);
    let mut f = forwarder();
    let big = tcp_v4(CLIENT, 40000, VIP, 80, &[7u8; 1460]);
    let out = one_frame(run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &big)));
    assert_eq!(&out[..6], &CLIENT_MAC, "back to the client");
    let icmp = &out[14..];
    assert_eq!(icmp[9], 1, "ICMP");
    assert_eq!(icmp[12..16], VIP.octets(), "from the VIP");
    assert_eq!((icmp[20], icmp[21]), (3, 4), "fragmentation needed");
    assert_eq!(
        u16::from_be_bytes([icmp[26], icmp[27]]),
        1480,
        "MTU minus 20"
    );
    assert_eq!(f.drops.too_big, 1);
}

#[test]
fn no_backend_drops_and_counts() {
    let fwd = vip(ForwardMode::Nat, &[]);
    let mut f = forwarder();
    assert_eq!(
        run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &syn(1))),
        []
    );
    assert_eq!(f.drops.no_backend, 1);
}

#[test]
fn an_unresolved_next_hop_goes_through_the_kernel() {
    let unknown = Ipv4Addr::new(198, 18, 0, 99);
    let fwd = vip(ForwardMode::Nat, &[unknown]);
    let mut f = forwarder();
    let out = run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &syn(1)));
    match out.as_slice() {
        [Out::Ip(dst, packet)] => {
            assert_eq!(*dst, IpAddr::V4(unknown));
            assert_eq!(packet[16..20], unknown.octets());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.wanted, [IpAddr::V4(unknown)]);
    // DSR cannot: it needs the MAC.
    let fwd = vip(ForwardMode::Dsr, &[unknown]);
    assert_eq!(
        run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &syn(2))),
        []
    );
    assert_eq!(f.drops.no_neighbour, 2);
}

#[test]
fn flows_stay_on_their_backend_when_a_backend_is_added() {
    let one = vip(ForwardMode::Nat, &[BACKEND]);
    let two = vip(ForwardMode::Nat, &[BACKEND, B2]);
    let mut f = forwarder();
    for port in 1000..1100 {
        one_frame(run(
            &mut f,
            &one,
            &frame(ENGINE_MAC, CLIENT_MAC, &syn(port)),
        ));
    }
    let mut moved_new = 0;
    for port in 1000..1200 {
        let mid_flow = tcp_v4(CLIENT, port, VIP, 80, b"data");
        let out = one_frame(run(&mut f, &two, &frame(ENGINE_MAC, CLIENT_MAC, &mid_flow)));
        if port < 1100 {
            assert_eq!(&out[..6], &B1_MAC, "an existing flow keeps its backend");
        } else if out[..6] == B2_MAC {
            moved_new += 1;
        }
    }
    assert!(
        moved_new > 20,
        "new flows use the new backend too ({moved_new} of 100)"
    );
}

#[test]
fn icmp_errors_about_a_flow_reach_its_backend() {
    let fwd = vip(ForwardMode::Nat, &[BACKEND, B2]);
    let mut f = forwarder();
    let first = one_frame(run(
        &mut f,
        &fwd,
        &frame(ENGINE_MAC, CLIENT_MAC, &syn(40000)),
    ));
    let owner = first[..6].to_vec();
    // A router on the way to the client says a reply (VIP → client) was
    // too big: the message is sent to the VIP, quoting the reply.
    let quoted = tcp_v4(VIP, 80, CLIENT, 40000, b"");
    let router = Ipv4Addr::new(203, 0, 113, 254);
    let mut icmp = vec![3, 4, 0, 0, 0, 0, 0x05, 0x00];
    icmp.extend_from_slice(&quoted[..28]);
    let err = recomputed(&Ip4::new(router, VIP, 1).build(&icmp));
    let out = one_frame(run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &err)));
    assert_eq!(out[..6], owner[..], "to the backend that owns the flow");
    let ip = &out[14..];
    let backend = if owner == B1_MAC { BACKEND } else { B2 };
    assert_eq!(
        ip[16..20],
        backend.octets(),
        "outer destination is the backend"
    );
    assert_eq!(
        ip[28 + 12..28 + 16],
        backend.octets(),
        "the quoted reply is the backend's"
    );
}

#[test]
fn an_all_ports_udp_vip_keeps_each_port_and_restores_it_on_replies() {
    let fwd = vip_on(ForwardMode::Nat, &[BACKEND], 0, VipProtocol::Udp);
    let mut f = forwarder();
    for port in [53u16, 5353, 40000] {
        let q = udp_v4(CLIENT, 1111, VIP, port, b"query");
        let out = one_frame(run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &q)));
        let ip = &out[14..];
        assert_eq!(ip[16..20], BACKEND.octets());
        assert_eq!(
            u16::from_be_bytes([ip[22], ip[23]]),
            port,
            "the port is kept"
        );
        assert_eq!(ip, recomputed(ip).as_slice(), "UDP checksum is right");
        let reply = udp_v4(BACKEND, port, CLIENT, 1111, b"answer");
        let out = one_frame(run(&mut f, &fwd, &frame(ENGINE_MAC, B1_MAC, &reply)));
        let ip = &out[14..];
        assert_eq!(ip[12..16], VIP.octets(), "from the VIP");
        assert_eq!(u16::from_be_bytes([ip[20], ip[21]]), port);
        assert_eq!(ip, recomputed(ip).as_slice());
    }
}

#[test]
fn a_nat_backend_port_is_rewritten_both_ways() {
    let mut fwd = vip(ForwardMode::Nat, &[BACKEND]);
    // Rebuild with the backend on port 8080.
    let mut vips: Vec<_> = fwd.vips.drain(..).map(|v| (v.cfg, v.backends)).collect();
    vips[0].1[0].port = 8080;
    let fwd = Forwarding::build(2, vips, None, 1500);
    let mut f = forwarder();
    let out = one_frame(run(
        &mut f,
        &fwd,
        &frame(ENGINE_MAC, CLIENT_MAC, &syn(40000)),
    ));
    assert_eq!(u16::from_be_bytes([out[14 + 22], out[14 + 23]]), 8080);
    let reply = tcp_v4(BACKEND, 8080, CLIENT, 40000, b"");
    let out = one_frame(run(&mut f, &fwd, &frame(ENGINE_MAC, B1_MAC, &reply)));
    assert_eq!(
        u16::from_be_bytes([out[14 + 20], out[14 + 21]]),
        80,
        "the VIP's port again"
    );
    // The backend's own port 80 is not this VIP's: left alone.
    let stray = tcp_v4(BACKEND, 80, CLIENT, 40000, b"");
    assert_eq!(run(&mut f, &fwd, &frame(ENGINE_MAC, B1_MAC, &stray)), []);
}

#[test]
fn fragments_to_a_vip_are_dropped_and_counted() {
    let fwd = vip(ForwardMode::Nat, &[BACKEND]);
    let mut f = forwarder();
    let mut h = Ip4::new(CLIENT, VIP, 6);
    h.frag = 185;
    let frag = recomputed(&h.build(&[0u8; 40]));
    assert_eq!(run(&mut f, &fwd, &frame(ENGINE_MAC, CLIENT_MAC, &frag)), []);
    assert_eq!(f.drops.fragments, 1);
}

#[test]
fn full_nat_replaces_the_client_and_translates_replies_back() {
    let snat = Ipv4Addr::new(198, 18, 0, 100);
    let mut fwd = vip(ForwardMode::Nat, &[BACKEND]);
    let mut vips: Vec<_> = fwd.vips.drain(..).map(|v| (v.cfg, v.backends)).collect();
    vips[0].0.source_nat = Some(IpAddr::V4(snat));
    let fwd = Forwarding::build(2, vips, None, 1500);
    let mut f = forwarder();
    let out = one_frame(run(
        &mut f,
        &fwd,
        &frame(ENGINE_MAC, CLIENT_MAC, &syn(40000)),
    ));
    let ip = &out[14..];
    assert_eq!(ip[12..16], snat.octets(), "the source is the engine's");
    assert_eq!(ip[16..20], BACKEND.octets());
    assert_eq!(ip, recomputed(ip).as_slice());
    let port = u16::from_be_bytes([ip[20], ip[21]]);
    // The same flow keeps its port.
    let again = one_frame(run(
        &mut f,
        &fwd,
        &frame(
            ENGINE_MAC,
            CLIENT_MAC,
            &tcp_v4(CLIENT, 40000, VIP, 80, b"x"),
        ),
    ));
    assert_eq!(u16::from_be_bytes([again[14 + 20], again[14 + 21]]), port);
    // The backend answers the engine's address and port...
    let reply = tcp_v4(BACKEND, 80, snat, port, b"hello");
    let out = one_frame(run(&mut f, &fwd, &frame(ENGINE_MAC, B1_MAC, &reply)));
    assert_eq!(&out[..6], &CLIENT_MAC);
    let ip = &out[14..];
    assert_eq!(ip[12..16], VIP.octets(), "...and the client hears the VIP");
    assert_eq!(ip[16..20], CLIENT.octets());
    assert_eq!(u16::from_be_bytes([ip[20], ip[21]]), 80);
    assert_eq!(u16::from_be_bytes([ip[22], ip[23]]), 40000);
    assert_eq!(ip, recomputed(ip).as_slice());
    // A reply to a port nobody was given is not forwarded.
    let stray = tcp_v4(BACKEND, 80, snat, port.wrapping_add(1), b"");
    assert_eq!(run(&mut f, &fwd, &frame(ENGINE_MAC, B1_MAC, &stray)), []);
}
