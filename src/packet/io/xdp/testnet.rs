//! Test scaffolding: two network namespaces joined by a veth pair, built
//! with `ip` and torn down by a Drop guard (also on panic), plus helpers
//! to run code inside a namespace and to build and parse UDP frames.
//!
//! Only compiled for tests; used by `tests.rs`.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub const ENGINE4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const PEER4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub const VIP4: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 10);
pub const ENGINE6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 0x10);
pub const ENGINE_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 1];
pub const PEER_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 2];

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether the root-only tests can run; prints why not.
pub fn can_run(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("{test}: skipped, needs root (network namespaces, XDP, AF_XDP)");
        return false;
    }
    true
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs `ip args...`, returning its stderr on failure.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The engine namespace (`engine`, interface `engine_if`) and the peer
/// namespace (`peer`, `peer_if`), joined by a veth pair.
///
/// Engine: 10.77.0.1/24, fd77::1/64; VIP 10.77.1.10 and fd77:1::10 are
/// *not* on the interface but are local routes on `lo`, so the kernel
/// would accept them if the XDP program passed them. Peer: 10.77.0.2/24,
/// fd77::2/64, routes to the VIPs via the engine. Static neighbours on
/// both sides: no ARP or neighbour discovery to wait for.
pub struct TestNet {
    pub engine: String,
    pub peer: String,
    pub engine_if: String,
    pub peer_if: String,
}

impl TestNet {
    pub fn create() -> Result<TestNet, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let net = TestNet {
            engine: format!("syxdp-{pid}-{n}-e"),
            peer: format!("syxdp-{pid}-{n}-p"),
            engine_if: format!("sx{pid}x{n}e"),
            peer_if: format!("sx{pid}x{n}p"),
        };
        // From here on, Drop removes whatever was created.
        net.setup()?;
        Ok(net)
    }

    fn setup(&self) -> Result<(), String> {
        let (e, p, ei, pi) = (&*self.engine, &*self.peer, &*self.engine_if, &*self.peer_if);
        let (em, pm) = (mac(ENGINE_MAC), mac(PEER_MAC));
        let (e4, p4, v4) = (ENGINE4.to_string(), PEER4.to_string(), VIP4.to_string());
        let (e6, p6, v6) = (ENGINE6.to_string(), PEER6.to_string(), VIP6.to_string());
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", e],
            vec!["netns", "add", p],
            vec!["link", "add", ei, "type", "veth", "peer", "name", pi],
            vec!["link", "set", ei, "netns", e],
            vec!["link", "set", pi, "netns", p],
            vec!["-n", e, "link", "set", ei, "address", &em],
            vec!["-n", p, "link", "set", pi, "address", &pm],
            vec!["-n", e, "addr", "add", "10.77.0.1/24", "dev", ei],
            vec!["-n", p, "addr", "add", "10.77.0.2/24", "dev", pi],
            vec!["-n", e, "addr", "add", "fd77::1/64", "dev", ei, "nodad"],
            vec!["-n", p, "addr", "add", "fd77::2/64", "dev", pi, "nodad"],
            vec!["-n", e, "link", "set", "lo", "up"],
            vec!["-n", p, "link", "set", "lo", "up"],
            vec!["-n", e, "link", "set", ei, "up"],
            vec!["-n", p, "link", "set", pi, "up"],
            vec!["-n", e, "neigh", "replace", &p4, "lladdr", &pm, "dev", ei],
            vec!["-n", p, "neigh", "replace", &e4, "lladdr", &em, "dev", pi],
            vec![
                "-n", e, "-6", "neigh", "replace", &p6, "lladdr", &pm, "dev", ei,
            ],
            vec![
                "-n", p, "-6", "neigh", "replace", &e6, "lladdr", &em, "dev", pi,
            ],
            vec!["-n", p, "route", "add", &v4, "via", &e4],
            vec!["-n", p, "-6", "route", "add", &v6, "via", &e6],
            vec!["-n", e, "route", "add", "local", &v4, "dev", "lo"],
            vec!["-n", e, "-6", "route", "add", "local", &v6, "dev", "lo"],
        ];
        for step in steps {
            ip(&step)?;
        }
        Ok(())
    }

    /// Runs `f` on a new thread inside the engine namespace.
    pub fn in_engine<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(&self.engine, f)
    }

    /// Runs `f` on a new thread inside the peer namespace.
    pub fn in_peer<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(&self.peer, f)
    }

    /// `ip -d link show` of the engine interface (shows attached XDP).
    pub fn engine_link(&self) -> String {
        ip(&[
            "-n",
            &self.engine,
            "-d",
            "link",
            "show",
            "dev",
            &self.engine_if,
        ])
        .unwrap_or_default()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Deleting a namespace destroys its end of the veth, and with it
        // the pair; the root-namespace delete covers a failed move.
        let _ = ip(&["netns", "del", &self.engine]);
        let _ = ip(&["netns", "del", &self.peer]);
        let _ = ip(&["link", "del", &self.engine_if]);
    }
}

/// Runs `f` on a dedicated thread that first joins namespace `ns`, so
/// every socket `f` creates belongs to `ns` (and stays there when moved
/// back to the caller).
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    let handle = std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on a valid namespace fd; it affects this thread only.
        let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(ret, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    });
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A UDP datagram parsed out of an Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

/// Parses Ethernet (+ one VLAN tag) / IPv4 or IPv6 / UDP.
pub fn parse_udp(frame: &[u8]) -> Option<Udp> {
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let mut l3 = 14;
    if ethertype == 0x8100 {
        ethertype = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 = 18;
    }
    let ip = frame.get(l3..)?;
    let (src, dst, l4) = match ethertype {
        0x0800 if *ip.get(9)? == 17 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(ihl..)?)
        }
        0x86dd if *ip.get(6)? == 17 => {
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(40..)?)
        }
        _ => return None,
    };
    let dst_port = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let len = usize::from(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]));
    let payload = l4.get(8..len)?.to_vec();
    Some(Udp {
        src,
        dst,
        dst_port,
        payload,
    })
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        for pair in chunk.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet/IPv4/UDP frame with valid IP and UDP checksums.
pub fn udp4_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let mut udp = Vec::new();
    udp.extend_from_slice(&src.1.to_be_bytes());
    udp.extend_from_slice(&dst.1.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let pseudo = [
        &src.0.octets()[..],
        &dst.0.octets()[..],
        &[0, 17],
        &udp_len.to_be_bytes()[..],
    ]
    .concat();
    let sum = checksum(&[&pseudo, &udp]);
    udp[6..8].copy_from_slice(&(if sum == 0 { 0xffff } else { sum }).to_be_bytes());

    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&src.0.octets());
    ip.extend_from_slice(&dst.0.octets());
    let sum = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());

    [&dst_mac[..], &src_mac[..], &[0x08, 0x00], &ip, &udp].concat()
}

#[test]
fn frame_builder_and_parser_agree() {
    let f = udp4_frame(ENGINE_MAC, PEER_MAC, (VIP4, 9000), (PEER4, 9100), b"hello");
    assert_eq!(f.len(), 14 + 20 + 8 + 5);
    // A correct IPv4 header sums to zero.
    assert_eq!(checksum(&[&f[14..34]]), 0);
    let udp = parse_udp(&f).expect("parses");
    assert_eq!(
        udp,
        Udp {
            src: VIP4.into(),
            dst: PEER4.into(),
            dst_port: 9100,
            payload: b"hello".to_vec()
        }
    );
}
