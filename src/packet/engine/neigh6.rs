//! The IPv6 half of `neigh`: routes from `/proc/net/ipv6_route`, and the
//! neighbour (NDP) cache, which `/proc` does not show, from a netlink
//! `RTM_GETNEIGH` dump.

use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::neigh::Route;

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
const RTF_REJECT: u32 = 0x200;

/// One line of `/proc/net/ipv6_route`: destination, prefix, source,
/// source prefix, next hop, metric, refcount, use, flags, device.
pub(super) fn parse_route(line: &str) -> Option<Route> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    let hex = |s: &str| u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from);
    let flags = u32::from_str_radix(f[8], 16).ok()?;
    if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 || f[9] == "lo" {
        return None;
    }
    let dest = hex(f[0])?;
    let prefix = u8::from_str_radix(f[1], 16).ok().filter(|p| *p <= 128)?;
    let gateway = hex(f[4])?;
    Some(Route {
        dest: IpAddr::V6(dest),
        prefix,
        gateway: (flags & RTF_GATEWAY != 0).then_some(IpAddr::V6(gateway)),
        ifname: f[9].to_string(),
        metric: u32::from_str_radix(f[5], 16).unwrap_or(0),
    })
}

const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
/// REACHABLE, STALE, DELAY, PROBE, PERMANENT: a MAC that may be used.
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x80;

/// The IPv6 neighbours with a usable MAC: (address, MAC, interface).
pub(super) fn dump() -> io::Result<Vec<(IpAddr, [u8; 6], String)>> {
    // SAFETY: plain socket(2) call; the result is checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // nlmsghdr (16 bytes) + ndmsg (12 bytes).
    let mut req = [0u8; 28];
    req[0..4].copy_from_slice(&28u32.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETNEIGH.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[16] = libc::AF_INET6 as u8;
    // SAFETY: sends our buffer on our socket (to the kernel: address 0).
    let sent = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: receives into our buffer.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if parse_dump(&buf[..n as usize], &mut out) {
            return Ok(out);
        }
    }
}

/// Parses one datagram of a neighbour dump into `out`; true when the dump
/// is over (done, an error, or nothing parsable).
pub(super) fn parse_dump(mut b: &[u8], out: &mut Vec<(IpAddr, [u8; 6], String)>) -> bool {
    if b.is_empty() {
        return true;
    }
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        if len < 16 || len > b.len() {
            return true;
        }
        match kind {
            NLMSG_DONE | NLMSG_ERROR => return true,
            RTM_NEWNEIGH => {
                if let Some(n) = neighbour(&b[16..len]) {
                    out.push(n);
                }
            }
            _ => {}
        }
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    // A datagram ends exactly after its last message; leftover bytes too
    // short for a header mean a malformed dump: stop.
    !b.is_empty()
}

fn neighbour(m: &[u8]) -> Option<(IpAddr, [u8; 6], String)> {
    if m.len() < 12 || i32::from(m[0]) != libc::AF_INET6 {
        return None;
    }
    let ifindex = i32::from_ne_bytes([m[4], m[5], m[6], m[7]]);
    let state = u16::from_ne_bytes([m[8], m[9]]);
    if state & NUD_USABLE == 0 {
        return None;
    }
    let (mut dst, mut mac) = (None, None);
    let mut a = &m[12..];
    while a.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([a[0], a[1]]));
        let kind = u16::from_ne_bytes([a[2], a[3]]);
        if len < 4 || len > a.len() {
            break;
        }
        let v = &a[4..len];
        match kind {
            NDA_DST => dst = <[u8; 16]>::try_from(v).ok().map(Ipv6Addr::from),
            NDA_LLADDR => mac = <[u8; 6]>::try_from(v).ok(),
            _ => {}
        }
        a = &a[((len + 3) & !3).min(a.len())..];
    }
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: if_indextoname writes at most IF_NAMESIZE bytes into `name`.
    let p = unsafe { libc::if_indextoname(u32::try_from(ifindex).ok()?, name.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success `name` holds a NUL-terminated string.
    let ifname = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Some((IpAddr::V6(dst?), mac?, ifname))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_routes_parse() {
        let text = "20010db8000200000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                    00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000200000000000000000001 00000400 00000002 00000000 00000003     eth0\n\
                    00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n\
                    garbage\n";
        let routes: Vec<Route> = text.lines().filter_map(parse_route).collect();
        assert_eq!(routes.len(), 2, "{routes:?}");
        assert_eq!(routes[0].dest, "2001:db8:2::".parse::<IpAddr>().unwrap());
        assert_eq!((routes[0].prefix, routes[0].gateway), (64, None));
        assert_eq!(routes[1].gateway, Some("2001:db8:2::1".parse().unwrap()));
        assert_eq!(routes[1].prefix, 0);
    }

    #[test]
    fn a_truncated_or_foreign_dump_ends_cleanly() {
        let mut out = Vec::new();
        assert!(parse_dump(&[], &mut out));
        assert!(
            parse_dump(&[1, 2, 3], &mut out),
            "too short for a header: stop"
        );
        let mut msg = vec![0u8; 16];
        msg[0..4].copy_from_slice(&16u32.to_ne_bytes());
        msg[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        assert!(parse_dump(&msg, &mut out));
        msg[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse_dump(&msg, &mut out), "a length past the end stops");
        assert!(out.is_empty());
    }

    #[test]
    fn the_neighbour_dump_reads_the_kernel() {
        // Whatever this host has, the dump must come back (possibly empty).
        assert!(dump().is_ok());
    }
}
