//! End-to-end tests of the AF_XDP path on a real veth pair between two
//! network namespaces (root only; they skip with a message otherwise).
//!
//! The XDP program is attached in the engine namespace and an `XskPort`
//! opened on queue 0; a peer namespace sends UDP to a VIP and to the
//! engine's own address, and the tests check where each datagram lands:
//! the AF_XDP socket or the kernel's UDP socket, never both. They also
//! transmit a hand-built frame through the port, update the classifier
//! live, check that dropping the program detaches it, feed VLAN-tagged
//! frames through the program, and check a verifier rejection carries
//! the verifier's log.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::testnet::{
    ENGINE_MAC, ENGINE4, ENGINE6, PEER_MAC, PEER4, PEER6, TestNet, VIP4, VIP6, can_run, parse_udp,
    udp4_frame,
};
use super::{AttachMode, Classifier, XdpError, XdpProgram, XskOptions, XskPort, program::Via};
use crate::packet::io::Port;

const PORT: u16 = 9000;
const PEER_PORT: u16 = 9100;
/// Upper bound for something that should happen.
const DEADLINE: Duration = Duration::from_secs(5);
/// How long to keep watching for something that should not happen, after
/// the datagrams sent together with it have arrived.
const QUIET: Duration = Duration::from_millis(300);

struct Engine {
    program: XdpProgram,
    port: XskPort,
    /// Dual-stack UDP socket on [::]:9000 in the engine namespace.
    kernel: UdpSocket,
}

fn dual_stack_udp(port: u16) -> UdpSocket {
    let sock = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None)
        .expect("udp socket");
    sock.set_only_v6(false).expect("dual stack");
    let addr: SocketAddr = (std::net::Ipv6Addr::UNSPECIFIED, port).into();
    sock.bind(&addr.into()).expect("bind [::]");
    sock.into()
}

fn start_engine(net: &TestNet, mode: AttachMode, via: Via, classifier: Classifier) -> Engine {
    let ifname = net.engine_if.clone();
    net.in_engine(move || {
        let program = XdpProgram::attach_via(&ifname, mode, &classifier, via)
            .unwrap_or_else(|e| panic!("attach: {e}"));
        let port =
            XskPort::open(&program, &XskOptions::default()).unwrap_or_else(|e| panic!("open: {e}"));
        Engine {
            program,
            port,
            kernel: dual_stack_udp(PORT),
        }
    })
}

/// Peer sockets: IPv4 and IPv6 senders, and a receiver on 10.77.0.2:9100.
struct Peer {
    v4: UdpSocket,
    v6: UdpSocket,
    rx: UdpSocket,
}

fn start_peer(net: &TestNet) -> Peer {
    net.in_peer(|| Peer {
        v4: UdpSocket::bind((PEER4, 0)).expect("bind peer v4"),
        v6: UdpSocket::bind((PEER6, 0)).expect("bind peer v6"),
        rx: UdpSocket::bind((PEER4, PEER_PORT)).expect("bind peer rx"),
    })
}

impl Peer {
    fn send(&self, to: IpAddr, payload: &str) {
        let sock = if to.is_ipv4() { &self.v4 } else { &self.v6 };
        sock.send_to(payload.as_bytes(), (to, PORT))
            .expect("peer send");
    }
}

/// Whether every payload of a non-empty `until` was seen (an empty one
/// means "watch for the whole window").
fn all_seen(seen: &BTreeSet<String>, until: &[&str]) -> bool {
    !until.is_empty() && until.iter().all(|p| seen.contains(*p))
}

/// Payloads of UDP-to-9000 frames arriving on the port within `wait`,
/// returning early once every payload of `until` was seen.
fn xsk_payloads(port: &mut XskPort, wait: Duration, until: &[&str]) -> BTreeSet<String> {
    let end = Instant::now() + wait;
    let mut seen = BTreeSet::new();
    while Instant::now() < end && !all_seen(&seen, until) {
        // A budget below the burst sizes used, so batches are split.
        let mut frames = 0;
        let n = port
            .recv(16, Duration::from_millis(20), &mut |frame| {
                frames += 1;
                if let Some(udp) = parse_udp(frame).filter(|u| u.dst_port == PORT) {
                    seen.insert(String::from_utf8_lossy(&udp.payload).into_owned());
                }
            })
            .expect("xsk recv");
        assert!(
            n <= 16 && n == frames,
            "recv returned {n} for {frames} frames"
        );
    }
    seen
}

/// Payloads arriving at a kernel UDP socket, with the same early exit.
fn socket_payloads(sock: &UdpSocket, wait: Duration, until: &[&str]) -> BTreeSet<String> {
    let end = Instant::now() + wait;
    let mut seen = BTreeSet::new();
    let mut buf = [0u8; 2048];
    while !all_seen(&seen, until) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        sock.set_read_timeout(Some(left.min(Duration::from_millis(50))))
            .expect("timeout");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            seen.insert(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    seen
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Sends `to_xsk` and `to_kernel` payloads (to the given addresses) and
/// checks each lands only where it should.
fn expect_split(
    engine: &mut Engine,
    peer: &Peer,
    to_xsk: &[(IpAddr, &str)],
    to_kernel: &[(IpAddr, &str)],
) {
    expect_split_at(&mut engine.port, &engine.kernel, peer, to_xsk, to_kernel);
}

fn expect_split_at(
    port: &mut XskPort,
    kernel_sock: &UdpSocket,
    peer: &Peer,
    to_xsk: &[(IpAddr, &str)],
    to_kernel: &[(IpAddr, &str)],
) {
    for (addr, payload) in to_xsk.iter().chain(to_kernel) {
        peer.send(*addr, payload);
    }
    let want_xsk: Vec<&str> = to_xsk.iter().map(|p| p.1).collect();
    let want_kernel: Vec<&str> = to_kernel.iter().map(|p| p.1).collect();
    let mut xsk = BTreeSet::new();
    if !want_xsk.is_empty() {
        xsk = xsk_payloads(port, DEADLINE, &want_xsk);
    }
    let mut kernel = BTreeSet::new();
    if !want_kernel.is_empty() {
        kernel = socket_payloads(kernel_sock, DEADLINE, &want_kernel);
    }
    // Anything misrouted was sent together with what already arrived.
    xsk.extend(xsk_payloads(port, QUIET, &[]));
    kernel.extend(socket_payloads(kernel_sock, QUIET, &[]));
    assert_eq!(xsk, set(&want_xsk), "frames on the AF_XDP socket");
    assert_eq!(kernel, set(&want_kernel), "datagrams at the kernel socket");
}

/// Sends a hand-built frame through the port and expects the peer's
/// socket to receive it from VIP4:9000.
fn expect_transmit(engine: &mut Engine, peer: &Peer, payload: &str) {
    let frame = udp4_frame(
        ENGINE_MAC,
        PEER_MAC,
        (VIP4, PORT),
        (PEER4, PEER_PORT),
        payload.as_bytes(),
    );
    assert!(engine.port.send(&frame).expect("send"), "queued");
    engine.port.flush().expect("flush");
    peer.rx.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut buf = [0u8; 2048];
    let (n, from) = peer
        .rx
        .recv_from(&mut buf)
        .expect("peer receives the transmitted frame");
    assert_eq!(&buf[..n], payload.as_bytes());
    assert_eq!(from, SocketAddr::from((VIP4, PORT)));
}

fn base_classifier() -> Classifier {
    Classifier {
        vips: vec![VIP4.into(), VIP6.into()],
        local: vec![ENGINE4.into(), ENGINE6.into()],
        nat_sources: vec![],
    }
}

#[test]
fn native_vip_to_xsk_local_to_kernel_transmit_and_live_update() {
    if !can_run("native_vip_to_xsk_local_to_kernel_transmit_and_live_update") {
        return;
    }
    let net = TestNet::create().expect("test namespaces");
    let mut engine = start_engine(&net, AttachMode::Auto, Via::Link, base_classifier());
    assert_eq!(
        engine.program.mode(),
        AttachMode::Native,
        "veth supports native XDP"
    );
    assert_eq!(engine.program.queues(), 1);
    assert!(!engine.port.zero_copy(), "veth binds in copy mode");
    assert_eq!(engine.port.kind(), "af_xdp");
    assert!(
        net.engine_link().contains("xdp"),
        "attached: {}",
        net.engine_link()
    );
    let peer = start_peer(&net);

    // VIPs (v4 and v6) to the socket; the engine's own addresses to the kernel.
    expect_split(
        &mut engine,
        &peer,
        &[(VIP4.into(), "vip4-a"), (VIP6.into(), "vip6-a")],
        &[(ENGINE4.into(), "local4-a"), (ENGINE6.into(), "local6-a")],
    );

    // A batch: several frames in one go, all delivered.
    let batch: Vec<String> = (0..40).map(|i| format!("burst-{i}")).collect();
    let refs: Vec<(IpAddr, &str)> = batch
        .iter()
        .map(|p| (IpAddr::from(VIP4), p.as_str()))
        .collect();
    expect_split(&mut engine, &peer, &refs, &[]);

    // Transmit through the port to the peer.
    expect_transmit(&mut engine, &peer, "from-xsk-1");
    // More frames than one kernel TX batch (32), in one flush.
    let frames: Vec<Vec<u8>> = (0..48)
        .map(|i| {
            udp4_frame(
                ENGINE_MAC,
                PEER_MAC,
                (VIP4, PORT),
                (PEER4, PEER_PORT),
                format!("tx-{i}").as_bytes(),
            )
        })
        .collect();
    for f in &frames {
        assert!(engine.port.send(f).expect("send"));
    }
    engine.port.flush().expect("flush");
    let want: Vec<String> = (0..48).map(|i| format!("tx-{i}")).collect();
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    let got = socket_payloads(&peer.rx, DEADLINE, &want);
    assert_eq!(got, set(&want), "every transmitted frame arrives");

    // Remove the VIPs: their traffic now goes to the kernel (local route).
    let no_vips = Classifier {
        vips: vec![],
        ..base_classifier()
    };
    engine.program.update(&no_vips).expect("update");
    expect_split(
        &mut engine,
        &peer,
        &[],
        &[(VIP4.into(), "vip4-b"), (VIP6.into(), "vip6-b")],
    );

    // The peer as a NAT source: its traffic is the engine's, except to a
    // LOCAL destination.
    let nat = Classifier {
        nat_sources: vec![PEER4.into(), PEER6.into()],
        ..no_vips
    };
    engine.program.update(&nat).expect("update");
    expect_split(
        &mut engine,
        &peer,
        &[(VIP4.into(), "nat4-c"), (VIP6.into(), "nat6-c")],
        &[(ENGINE4.into(), "local4-c"), (ENGINE6.into(), "local6-c")],
    );

    // Back to the VIPs only.
    engine.program.update(&base_classifier()).expect("update");
    expect_split(
        &mut engine,
        &peer,
        &[(VIP4.into(), "vip4-d")],
        &[(ENGINE4.into(), "local4-d")],
    );

    // A second program on the same interface is refused with advice.
    let ifname = net.engine_if.clone();
    let second = net
        .in_engine(move || XdpProgram::attach(&ifname, AttachMode::Native, &Classifier::default()));
    let err = second
        .expect_err("interface already has a program")
        .to_string();
    assert!(
        err.contains("BPF_LINK_CREATE") && err.contains("xdp off"),
        "{err}"
    );

    // Dropping the program detaches it: VIP traffic reaches the kernel.
    let Engine {
        program,
        mut port,
        kernel,
    } = engine;
    drop(program);
    assert!(
        !net.engine_link().contains("prog/xdp"),
        "detached: {}",
        net.engine_link()
    );
    expect_split_at(&mut port, &kernel, &peer, &[], &[(VIP4.into(), "vip4-e")]);
}

#[test]
fn generic_mode_redirects_and_transmits() {
    if !can_run("generic_mode_redirects_and_transmits") {
        return;
    }
    let net = TestNet::create().expect("test namespaces");
    let mut engine = start_engine(&net, AttachMode::Generic, Via::Link, base_classifier());
    assert_eq!(engine.program.mode(), AttachMode::Generic);
    let peer = start_peer(&net);
    expect_split(
        &mut engine,
        &peer,
        &[(VIP4.into(), "g-vip4"), (VIP6.into(), "g-vip6")],
        &[(ENGINE4.into(), "g-local4")],
    );
    expect_transmit(&mut engine, &peer, "g-from-xsk");
}

#[test]
fn netlink_attach_redirects_and_detaches_on_drop() {
    if !can_run("netlink_attach_redirects_and_detaches_on_drop") {
        return;
    }
    let net = TestNet::create().expect("test namespaces");
    let mut engine = start_engine(&net, AttachMode::Native, Via::Netlink, base_classifier());
    assert!(
        net.engine_link().contains("prog/xdp"),
        "attached: {}",
        net.engine_link()
    );
    let peer = start_peer(&net);
    expect_split(
        &mut engine,
        &peer,
        &[(VIP4.into(), "nl-vip4")],
        &[(ENGINE4.into(), "nl-local4")],
    );
    // Drop from this thread (outside the namespace): the detach goes
    // through the netlink socket opened inside it.
    drop(engine);
    assert!(
        !net.engine_link().contains("prog/xdp"),
        "detached: {}",
        net.engine_link()
    );
}

#[test]
fn setup_errors_are_explained() {
    if !can_run("setup_errors_are_explained") {
        return;
    }
    let net = TestNet::create().expect("test namespaces");
    let ifname = net.engine_if.clone();
    net.in_engine(move || {
        let err = XdpProgram::attach("sy-no-such-if", AttachMode::Auto, &Classifier::default())
            .expect_err("no such interface");
        assert!(matches!(err, XdpError::NoSuchInterface(_)), "{err}");

        let program =
            XdpProgram::attach(&ifname, AttachMode::Auto, &Classifier::default()).expect("attach");
        let err = XskPort::open(
            &program,
            &XskOptions {
                queue: 3,
                ..XskOptions::default()
            },
        )
        .expect_err("queue out of range");
        assert!(err.to_string().contains("queue 3 does not exist"), "{err}");
        let err = XskPort::open(
            &program,
            &XskOptions {
                frame_size: 1000,
                ..XskOptions::default()
            },
        )
        .expect_err("bad frame size");
        assert!(matches!(err, XdpError::Options(_)), "{err}");

        let _first = XskPort::open(&program, &XskOptions::default()).expect("first socket");
        let err = XskPort::open(&program, &XskOptions::default()).expect_err("queue taken");
        assert!(err.to_string().contains("bind(AF_XDP)"), "{err}");
    });
}

#[test]
fn verifier_rejection_carries_the_log() {
    if !can_run("verifier_rejection_carries_the_log") {
        return;
    }
    use super::insn::{Asm, R0, R1, R2, Size};
    // Reads a packet byte without checking it against data_end.
    let mut a = Asm::new();
    a.ldx(Size::W, R2, R1, 0);
    a.ldx(Size::H, R0, R2, 0);
    a.exit();
    let image = super::insn::to_bytes(&a.finish().expect("assembles"));
    let Err(e) = super::sys::prog_load_xdp(&image, "sy_bad") else {
        panic!("the verifier accepted an unchecked packet read");
    };
    assert_eq!(e.err.raw_os_error(), Some(libc::EACCES), "{}", e.err);
    assert!(e.log.contains("invalid access to packet"), "{}", e.log);
}

/// Sends `frame` as is out of `ifname` through an AF_PACKET socket (the
/// calling thread's namespace).
fn send_raw(ifname: &str, frame: &[u8]) {
    let index = super::program::if_index(ifname).expect("interface");
    // SAFETY: plain socket(2); checked below. Protocol 0: send only.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_ifindex = index as i32;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` and `to` are valid for the lengths passed; `fd` is
    // ours and closed right after.
    let sent = unsafe {
        let n = libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        );
        libc::close(fd);
        n
    };
    assert_eq!(
        sent,
        frame.len() as isize,
        "raw send: {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn vlan_tagged_vip_traffic_is_redirected() {
    if !can_run("vlan_tagged_vip_traffic_is_redirected") {
        return;
    }
    let net = TestNet::create().expect("test namespaces");
    let classifier = Classifier {
        vips: vec![VIP4.into()],
        ..Classifier::default()
    };
    let mut engine = start_engine(&net, AttachMode::Native, Via::Link, classifier);
    // One 802.1Q tag (VLAN 7) and one 802.1ad tag, inserted after the MACs.
    let tagged: Vec<(String, Vec<u8>)> = [("q", [0x81, 0x00]), ("ad", [0x88, 0xa8])]
        .into_iter()
        .map(|(name, tpid)| {
            let payload = format!("vlan-{name}");
            let plain = udp4_frame(
                PEER_MAC,
                ENGINE_MAC,
                (PEER4, 5555),
                (VIP4, PORT),
                payload.as_bytes(),
            );
            let frame = [&plain[..12], &tpid[..], &[0x00, 0x07], &plain[12..]].concat();
            (payload, frame)
        })
        .collect();
    let peer_if = net.peer_if.clone();
    let frames: Vec<Vec<u8>> = tagged.iter().map(|t| t.1.clone()).collect();
    net.in_peer(move || frames.iter().for_each(|f| send_raw(&peer_if, f)));
    let want: Vec<&str> = tagged.iter().map(|t| t.0.as_str()).collect();
    let mut got = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let end = Instant::now() + DEADLINE;
    while !all_seen(&got, &want) && Instant::now() < end {
        engine
            .port
            .recv(16, Duration::from_millis(20), &mut |frame| {
                // The engine gets the frame exactly as sent, tag included.
                if let Some(t) = tagged.iter().find(|t| t.1 == frame) {
                    got.insert(t.0.clone());
                    tags.insert([frame[12], frame[13]]);
                }
            })
            .expect("recv");
    }
    assert_eq!(got, set(&want));
    assert_eq!(tags.len(), 2);
}
