//! `switchyard decap` with real packets: a client host sends IP-in-IP and
//! GRE packets (built by the engine's own `encap_ipip`/`encap_gre`) through
//! a raw socket to a backend host running the decapsulator; a UDP socket
//! bound to the VIP on the backend's `lo` receives exactly the inner
//! payloads from the client's address and answers it directly; a malformed
//! tunnel packet is not delivered and is counted; operator mistakes get
//! messages that say what to do. Needs root; skipped otherwise.

mod common;

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use common::netns::*;
use switchyard::packet::rewrite::checksum::{transport_checksum_v4, transport_checksum_v6};
use switchyard::packet::rewrite::{encap_gre, encap_ipip, internet_checksum};

const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x51, 0, 0, 0, 0, 0, 1);
const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);
const TUN: &str = "sydecap0";

fn switchyard() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchyard"))
}

/// An IPv4 UDP packet with correct IP and UDP checksums.
fn udp_v4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let c = transport_checksum_v4(src, dst, 17, &udp);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&udp);
    ip
}

/// An IPv6 UDP packet with a correct UDP checksum.
fn udp_v6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let c = transport_checksum_v6(src, dst, 17, &udp);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(udp.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[17, 64]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(&udp);
    ip
}

fn ipip(inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encap_ipip(inner, A, B, &mut out).expect("encap_ipip");
    out
}

fn gre(inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encap_gre(inner, A, B, &mut out).expect("encap_gre");
    out
}

/// Sends whole IPv4 packets (outer header included) from `host`.
fn send_raw(host: &Host, packets: Vec<Vec<u8>>) {
    host.run(move || {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let s = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )
        .expect("raw socket");
        for p in packets {
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            let n = s
                .send_to(&p, &SockAddr::from(SocketAddrV4::new(dst, 0)))
                .expect("send a tunnel packet");
            assert_eq!(n, p.len());
        }
    });
}

/// A lab with client host A and backend B (VIPs on `lo`, routes back to
/// the client's networks via A); A routes the VIP network via B.
fn lab() -> (Lab, Host, Host) {
    let lab = Lab::new();
    let a = lab.host("a", &["198.18.0.1/24"]);
    let b = lab.host("b", &["198.18.0.11/24"]);
    b.add_addr("198.51.100.1/32", "lo");
    b.add_addr("fd00:51::1/128", "lo");
    b.route("203.0.113.0/24 via 198.18.0.1");
    a.add_addr("203.0.113.10/32", "lo");
    a.route("198.51.100.0/24 via 198.18.0.11");
    (lab, a, b)
}

/// Starts `switchyard decap ARGS` in `host` and waits (bounded) until its
/// TUN interface is up, which it is only once it receives.
fn start_decap(host: &Host, args: &[&str]) -> NsProcess {
    let mut all = vec!["decap", "--stats-interval", "0"];
    all.extend_from_slice(args);
    let mut p = host.spawn(switchyard(), &all);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !host.has_link(TUN, true) {
        if let Some(status) = p.try_status() {
            p.wait_exit(Duration::from_secs(5));
            panic!(
                "decap exited ({status}) before its TUN was up:\n{}",
                p.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no {TUN} after 20 s:\n{}",
            p.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    p
}

/// Receives `n` datagrams on `s` (5 s each): (payload, sender).
fn recv_n(s: &UdpSocket, n: usize) -> Vec<(String, SocketAddr)> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    (0..n)
        .map(|i| {
            let start = Instant::now();
            match s.recv_from(&mut buf) {
                Ok((len, from)) => (String::from_utf8_lossy(&buf[..len]).into_owned(), from),
                Err(e) => panic!(
                    "datagram {} of {n} on {:?}: {e} ({:?} after {:?})",
                    i + 1,
                    s.local_addr(),
                    e.kind(),
                    start.elapsed()
                ),
            }
        })
        .collect()
}

/// Nothing (more) is queued on `s`.
fn assert_empty(s: &UdpSocket) {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    match s.recv_from(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!(
            "unexpected datagram on {:?}: {:?}",
            s.local_addr(),
            other.map(|(n, from)| (String::from_utf8_lossy(&buf[..n]).into_owned(), from))
        ),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn ipip_and_gre_packets_reach_the_vip_and_malformed_ones_are_counted() {
    if !require_root("ipip_and_gre_packets_reach_the_vip_and_malformed_ones_are_counted") {
        return;
    }
    let (_lab, a, b) = lab();
    let (vip4, vip6) = b.run(|| {
        (
            UdpSocket::bind((VIP, 5353)).expect("bind the VIP"),
            UdpSocket::bind((VIP6, 5353)).expect("bind the IPv6 VIP"),
        )
    });
    let client = a.run(|| UdpSocket::bind((CLIENT, 40000)).expect("bind the client"));
    let mut decap = start_decap(&b, &[]);

    let v4 = |port, text: &str| udp_v4(CLIENT, VIP, port, 5353, text.as_bytes());
    let v6 = |port, text: &str| udp_v6(CLIENT6, VIP6, port, 5353, text.as_bytes());
    // A key flag (0x2000) in an otherwise valid GRE packet.
    let mut bad_gre = gre(&v4(40000, "bad GRE: must not arrive"));
    bad_gre[20] = 0x20;
    send_raw(
        &a,
        vec![
            ipip(&v4(40000, "over ipip")),
            ipip(&v6(40001, "over 6in4")),
            gre(&v4(40000, "over gre")),
            gre(&v6(40001, "over gre6")),
            bad_gre,
            // Same socket, after the bad one: once this arrives, the bad
            // one has been handled.
            gre(&v4(40000, "after the bad one")),
        ],
    );

    let got4 = recv_n(&vip4, 3);
    let payloads: BTreeSet<String> = got4.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        payloads,
        set(&["over ipip", "over gre", "after the bad one"]),
        "{}",
        decap.output()
    );
    // Delivered as from the client itself (not from the tunnel endpoint).
    for (_, from) in &got4 {
        assert_eq!(*from, SocketAddr::from((CLIENT, 40000)));
    }
    let got6 = recv_n(&vip6, 2);
    let payloads: BTreeSet<String> = got6.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(payloads, set(&["over 6in4", "over gre6"]));
    assert_eq!(got6[0].1, SocketAddr::from((CLIENT6, 40001)));

    // The backend answers the client directly, from the VIP.
    vip4.send_to(b"reply", (CLIENT, 40000)).unwrap();
    let reply = recv_n(&client, 1);
    assert_eq!(
        reply[0],
        ("reply".to_string(), SocketAddr::from((VIP, 5353)))
    );

    let status = decap.stop(Duration::from_secs(10));
    let out = decap.output();
    assert!(status.success(), "decap exit {status}:\n{out}");
    let last = out
        .lines()
        .find(|l| l.contains("decap stopped"))
        .unwrap_or_else(|| panic!("no final counters:\n{out}"));
    for field in [
        "delivered=5",
        "dropped=1",
        "reasons=unsupported_gre:1",
        &format!("bytes={}", 3 * 20 + 2 * 40 + 8 * 5 + 9 + 9 + 8 + 9 + 17),
    ] {
        assert!(last.contains(field), "{field} missing in {last:?}");
    }
    // The first drop of a reason is logged with the tunnel's source.
    assert!(
        out.lines()
            .any(|l| l.contains("reason=unsupported_gre") && l.contains("from=198.18.0.1")),
        "{out}"
    );
    // All decap writes are done: the malformed packet never arrived.
    assert_empty(&vip4);
    assert_empty(&vip6);
    // The TUN interface went away with the process.
    assert!(!b.has_link(TUN, false));
}

#[test]
fn protocol_gre_ignores_ipip() {
    if !require_root("protocol_gre_ignores_ipip") {
        return;
    }
    let (_lab, a, b) = lab();
    let vip4 = b.run(|| UdpSocket::bind((VIP, 5353)).expect("bind the VIP"));
    let mut decap = start_decap(&b, &["--protocol", "gre", "--tun", TUN]);
    let v4 = |text: &str| udp_v4(CLIENT, VIP, 40000, 5353, text.as_bytes());
    send_raw(&a, vec![ipip(&v4("ipip: ignored")), gre(&v4("gre"))]);
    assert_eq!(recv_n(&vip4, 1)[0].0, "gre");
    let status = decap.stop(Duration::from_secs(10));
    assert!(status.success(), "{}", decap.output());
    assert!(decap.output().contains("delivered=1"), "{}", decap.output());
    assert_empty(&vip4);
}

#[test]
fn operator_mistakes_are_explained() {
    if !require_root("operator_mistakes_are_explained") {
        return;
    }
    let lab = Lab::new();
    let b = lab.host("b", &["198.18.0.11/24"]);

    let mut bad = b.spawn(switchyard(), &["decap", "--tun", "no/slashes"]);
    assert!(!bad.wait_exit(Duration::from_secs(10)).success());
    assert!(
        bad.output().contains("not a valid interface name"),
        "{}",
        bad.output()
    );

    // The name of an existing interface that is not a TUN.
    let mut taken = b.spawn(switchyard(), &["decap", "--tun", "eth0"]);
    assert!(!taken.wait_exit(Duration::from_secs(10)).success());
    assert!(
        taken.output().contains("pick another name with --tun"),
        "{}",
        taken.output()
    );

    // A second decap on the same TUN name.
    let mut first = start_decap(&b, &[]);
    let mut second = b.spawn(switchyard(), &["decap"]);
    assert!(!second.wait_exit(Duration::from_secs(10)).success());
    assert!(
        second.output().contains("pick another name with --tun"),
        "{}",
        second.output()
    );
    assert!(first.stop(Duration::from_secs(10)).success());
}

#[test]
fn strict_rp_filter_is_reported_or_fixed() {
    if !require_root("strict_rp_filter_is_reported_or_fixed") {
        return;
    }
    let (_lab, a, b) = lab();
    b.sysctl("net.ipv4.conf.all.rp_filter", "1");
    let mut warned = start_decap(&b, &[]);
    assert!(
        warned.wait_output("rp_filter is strict", Duration::from_secs(10)),
        "{}",
        warned.output()
    );
    assert_eq!(b.sysctl_get(&format!("net.ipv4.conf.{TUN}.rp_filter")), "0");
    assert_eq!(b.sysctl_get("net.ipv4.conf.all.rp_filter"), "1");
    assert!(warned.stop(Duration::from_secs(10)).success());

    let vip4 = b.run(|| UdpSocket::bind((VIP, 5353)).expect("bind the VIP"));
    let mut fixed = start_decap(&b, &["--fix-rp-filter"]);
    assert_eq!(b.sysctl_get("net.ipv4.conf.all.rp_filter"), "0");
    let v4 = udp_v4(CLIENT, VIP, 40000, 5353, b"with rp_filter fixed");
    send_raw(&a, vec![ipip(&v4)]);
    assert_eq!(recv_n(&vip4, 1)[0].0, "with rp_filter fixed");
    assert!(fixed.stop(Duration::from_secs(10)).success());
    assert!(
        fixed.output().contains("set net.ipv4.conf.all.rp_filter=0"),
        "{}",
        fixed.output()
    );
}

#[test]
fn fragmented_outer_packets_are_reassembled_by_the_kernel_first() {
    if !require_root("fragmented_outer_packets_are_reassembled_by_the_kernel_first") {
        return;
    }
    let (_lab, a, b) = lab();
    let vip4 = b.run(|| UdpSocket::bind((VIP, 5353)).expect("bind the VIP"));
    let mut decap = start_decap(&b, &[]);
    let payload = "x".repeat(1200);
    let whole = gre(&udp_v4(CLIENT, VIP, 40000, 5353, payload.as_bytes()));
    // Two outer fragments: 1024 payload bytes with MF, then the rest.
    let fragment = |data: &[u8], offset: usize, more: bool| {
        let mut f = whole[..20].to_vec();
        f[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
        let flags = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
        f[6..8].copy_from_slice(&flags.to_be_bytes());
        f[10..12].copy_from_slice(&[0, 0]);
        let c = internet_checksum(&f);
        f[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(data);
        f
    };
    let body = &whole[20..];
    send_raw(
        &a,
        vec![
            fragment(&body[..1024], 0, true),
            fragment(&body[1024..], 1024, false),
        ],
    );
    assert_eq!(recv_n(&vip4, 1)[0].0, payload);
    assert!(decap.stop(Duration::from_secs(10)).success());
    assert!(
        decap.output().contains("delivered=1 "),
        "{}",
        decap.output()
    );
}
