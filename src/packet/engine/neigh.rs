//! Where to send a rewritten packet at layer 2: the kernel's IPv4 routing
//! table (`/proc/net/route`) for the next hop and its neighbour (ARP) table
//! (`/proc/net/arp`) for the next hop's MAC address, plus each interface's
//! own MAC (`/sys/class/net/IF/address`).
//!
//! The engine bypasses the kernel's output path, so it must do what the
//! kernel would: longest-prefix match, then ARP. Rather than speak ARP
//! itself it reuses the kernel's cache: the control thread re-reads the
//! tables twice a second into a snapshot the workers read, and asks the
//! kernel to resolve addresses it needs but cannot find ([`probe`]: a UDP
//! datagram to the discard port makes the kernel ARP for it). A packet
//! whose next hop is not resolved yet is handed to the kernel through a raw
//! IP socket instead of being dropped (IP-level modes only; DSR needs the
//! MAC). IPv6 routes and neighbours come from `neigh6`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// One route (IPv4 or IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dest: IpAddr,
    pub prefix: u8,
    /// `None` for an on-link route.
    pub gateway: Option<IpAddr>,
    pub ifname: String,
    pub metric: u32,
}

impl Route {
    fn matches(&self, dst: IpAddr) -> bool {
        match (self.dest, dst) {
            (IpAddr::V4(r), IpAddr::V4(d)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix.min(32)))
                    .unwrap_or(0);
                u32::from(d) & mask == u32::from(r) & mask
            }
            (IpAddr::V6(r), IpAddr::V6(d)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix.min(128)))
                    .unwrap_or(0);
                u128::from(d) & mask == u128::from(r) & mask
            }
            _ => false,
        }
    }
}

/// A snapshot of routes, neighbours and interface MACs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neighbours {
    routes: Vec<Route>,
    /// IPv4 (ARP) and IPv6 (NDP) neighbours with a usable MAC.
    arp: HashMap<IpAddr, ([u8; 6], String)>,
    /// The addresses of this host: traffic to them is the kernel's own
    /// (e.g. health-check replies), never a NAT reply to rewrite.
    local: Vec<IpAddr>,
}

impl Neighbours {
    /// Builds a snapshot from the text of `/proc/net/route` and `/proc/net/arp`.
    pub fn parse(route: &str, arp: &str) -> Neighbours {
        let routes: Vec<Route> = route.lines().skip(1).filter_map(parse_route).collect();
        let arp = arp.lines().skip(1).filter_map(parse_arp).collect();
        let mut n = Neighbours {
            routes,
            arp,
            local: Vec::new(),
        };
        n.sort();
        n
    }

    /// Adds IPv6 routes (`/proc/net/ipv6_route` text) and neighbours.
    pub fn with_v6(
        mut self,
        ipv6_route: &str,
        neighbours: Vec<(IpAddr, [u8; 6], String)>,
    ) -> Neighbours {
        self.routes
            .extend(ipv6_route.lines().filter_map(super::neigh6::parse_route));
        for (ip, mac, dev) in neighbours {
            self.arp.insert(ip, (mac, dev));
        }
        self.sort();
        self
    }

    /// Longest prefix first, then lowest metric: the first match wins.
    fn sort(&mut self) {
        self.routes
            .sort_by(|a, b| b.prefix.cmp(&a.prefix).then(a.metric.cmp(&b.metric)));
    }

    /// The same snapshot with `local` as this host's addresses.
    pub fn with_local(mut self, local: Vec<IpAddr>) -> Neighbours {
        self.local = local;
        self
    }

    /// Whether `ip` is one of this host's addresses.
    #[inline]
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.local.contains(&ip)
    }

    /// Reads the current tables of this network namespace.
    pub fn read() -> io::Result<Neighbours> {
        let route = std::fs::read_to_string("/proc/net/route")?;
        let arp = std::fs::read_to_string("/proc/net/arp")?;
        let mut n = Neighbours::parse(&route, &arp);
        // IPv6 is optional: a host without it still forwards IPv4.
        if let Ok(route6) = std::fs::read_to_string("/proc/net/ipv6_route") {
            n = n.with_v6(&route6, super::neigh6::dump().unwrap_or_default());
        }
        n.local = local_addresses()?;
        Ok(n)
    }

    /// The next hop towards `dst` and the interface it is on.
    pub fn next_hop(&self, dst: IpAddr) -> Option<(IpAddr, &str)> {
        self.routes
            .iter()
            .find(|r| r.matches(dst))
            .map(|r| (r.gateway.unwrap_or(dst), r.ifname.as_str()))
    }

    /// The MAC of the next hop towards `dst`, and the interface to send on.
    pub fn resolve(&self, dst: IpAddr) -> Option<([u8; 6], &str)> {
        let (hop, ifname) = self.next_hop(dst)?;
        let (mac, dev) = self.arp.get(&hop)?;
        (dev == ifname).then_some((*mac, ifname))
    }

    /// The next hop of `dst` and its interface, if its MAC is unknown (to
    /// be probed).
    pub fn unresolved_hop(&self, dst: IpAddr) -> Option<(IpAddr, &str)> {
        let (hop, ifname) = self.next_hop(dst)?;
        (!self.arp.contains_key(&hop)).then_some((hop, ifname))
    }
}

fn hex_v4(s: &str) -> Option<Ipv4Addr> {
    // /proc/net/route prints the network-order address as a native u32:
    // its native bytes are the address bytes.
    let n = u32::from_str_radix(s, 16).ok()?;
    Some(Ipv4Addr::from(n.to_ne_bytes()))
}

fn parse_route(line: &str) -> Option<Route> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    let flags = u32::from_str_radix(f[3], 16).ok()?;
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    const RTF_REJECT: u32 = 0x200;
    if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
        return None;
    }
    let dest = hex_v4(f[1])?;
    let gateway = hex_v4(f[2])?;
    let mask = u32::from(hex_v4(f[7])?);
    Some(Route {
        dest: IpAddr::V4(dest),
        prefix: mask.count_ones() as u8,
        gateway: (flags & RTF_GATEWAY != 0).then_some(IpAddr::V4(gateway)),
        ifname: f[0].to_string(),
        metric: f[6].parse().unwrap_or(0),
    })
}

fn parse_arp(line: &str) -> Option<(IpAddr, ([u8; 6], String))> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 6 {
        return None;
    }
    let ip: Ipv4Addr = f[0].parse().ok()?;
    let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
    const ATF_COM: u32 = 0x2;
    if flags & ATF_COM == 0 {
        return None;
    }
    let mac = parse_mac(f[3])?;
    if mac == [0; 6] {
        return None;
    }
    Some((IpAddr::V4(ip), (mac, f[5].to_string())))
}

/// Every address configured on an interface of this namespace.
pub fn local_addresses() -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr of the family it names.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: an AF_INET sockaddr is a sockaddr_in.
                let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                out.push(IpAddr::V4(Ipv4Addr::from(
                    sin.sin_addr.s_addr.to_ne_bytes(),
                )));
            } else if family == libc::AF_INET6 {
                // SAFETY: an AF_INET6 sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
                out.push(IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: frees the list getifaddrs allocated.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// `aa:bb:cc:dd:ee:ff` → bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The MAC address of interface `name` in this namespace.
pub fn interface_mac(name: &str) -> io::Result<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))?;
    parse_mac(&s).ok_or_else(|| {
        io::Error::other(format!("interface {name} has no Ethernet address ({s:?})"))
    })
}

/// Makes the kernel resolve `hop`'s MAC: a zero-length UDP datagram to its
/// discard port (the kernel ARPs, or solicits the IPv6 neighbour, to send
/// it). A link-local IPv6 hop is scoped to `ifname`.
pub fn probe(hop: IpAddr, ifname: &str) {
    let target = match hop {
        IpAddr::V4(a) => std::net::SocketAddr::from((a, 9)),
        IpAddr::V6(a) => {
            let scope = std::ffi::CString::new(ifname)
                // SAFETY: passes a valid C string.
                .map(|c| unsafe { libc::if_nametoindex(c.as_ptr()) })
                .unwrap_or(0);
            std::net::SocketAddr::V6(std::net::SocketAddrV6::new(a, 9, 0, scope))
        }
    };
    let any: std::net::SocketAddr = if hop.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    if let Ok(s) = std::net::UdpSocket::bind(any) {
        let _ = s.send_to(&[], target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010012C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
eth1\t007100CB\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
    const ARP: &str = "IP address       HW type     Flags       HW address            Mask     Device\n\
198.18.0.11      0x1         0x2         02:00:00:00:00:0b     *        eth0\n\
198.18.0.1       0x1         0x2         02:00:00:00:00:01     *        eth0\n\
198.18.0.12      0x1         0x0         00:00:00:00:00:00     *        eth0\n";

    #[test]
    fn routes_are_matched_longest_prefix_first() {
        let n = Neighbours::parse(ROUTE, ARP);
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            n.next_hop(v4("198.18.0.11")),
            Some((v4("198.18.0.11"), "eth0"))
        );
        assert_eq!(
            n.next_hop(v4("203.0.113.10")),
            Some((v4("203.0.113.10"), "eth1"))
        );
        assert_eq!(n.next_hop(v4("8.8.8.8")), Some((v4("198.18.0.1"), "eth0")));
    }

    #[test]
    fn only_complete_neighbours_resolve() {
        let n = Neighbours::parse(ROUTE, ARP);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            n.resolve(ip("198.18.0.11")),
            Some(([2, 0, 0, 0, 0, 0x0b], "eth0"))
        );
        // Through the default gateway.
        assert_eq!(n.resolve(ip("8.8.8.8")), Some(([2, 0, 0, 0, 0, 1], "eth0")));
        // Incomplete entry: unresolved, to be probed.
        assert_eq!(n.resolve(ip("198.18.0.12")), None);
        assert_eq!(
            n.unresolved_hop(ip("198.18.0.12")),
            Some((ip("198.18.0.12"), "eth0"))
        );
        assert_eq!(n.resolve(ip("2001:db8::1")), None);
    }

    #[test]
    fn garbage_is_ignored() {
        let n = Neighbours::parse("header\nnot a route\n\n", "header\n1.2.3.4 x y z\n");
        assert_eq!(n, Neighbours::default());
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:01:02"), None);
        assert_eq!(parse_mac("zz:00:00:00:00:01"), None);
    }
}
