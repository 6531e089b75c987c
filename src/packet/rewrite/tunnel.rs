//! Tunnel modes: IP-in-IP and GRE encapsulation to the backend, and the
//! inverse for `switchyard decap` on the backend.
//!
//! The client's packet travels unchanged inside a new IPv4 header addressed
//! to the backend, so backends may sit in other L2 segments (unlike DSR)
//! and still answer the client directly with the VIP they hold on their
//! loopback. Layouts:
//!
//! ```text
//! IP-in-IP:  [outer IPv4, 20 B, proto 4 (41 for IPv6 inside)] [inner packet]
//! GRE:       [outer IPv4, 20 B, proto 47] [GRE 4 B: flags 0, type 0x0800/0x86DD] [inner]
//! ```
//!
//! Outer header: TTL 64; TOS copied from the inner packet (DSCP and ECN,
//! RFC 6040 "normal mode"); DF copied from an IPv4 inner packet and set for
//! IPv6 (routers never fragment IPv6); identification copied from an IPv4
//! inner packet (0 for IPv6, where DF makes the packet atomic, RFC 6864).
//! Only IPv4 outer headers exist here. [`decap`] does not merge an outer
//! ECN "congestion experienced" mark into the inner packet (it returns a
//! borrowed slice); the engine never sets CE itself.

use std::net::Ipv4Addr;

use super::RewriteError;
use super::checksum::internet_checksum;
use super::parse::{self, PROTO_GRE, PROTO_IPIP, PROTO_IPV6, be16, need};

/// Bytes an IP-in-IP encapsulation adds.
pub const IPIP_OVERHEAD: usize = 20;
/// Bytes a GRE encapsulation adds (outer IPv4 plus the 4-byte GRE header).
pub const GRE_OVERHEAD: usize = 24;

/// What the outer header copies from the inner packet.
struct Inner {
    /// The inner packet's own length (padding after it is not tunneled).
    len: usize,
    v6: bool,
    tos: u8,
    df: bool,
    id: u16,
}

fn inner_info(inner: &[u8]) -> Result<Inner, RewriteError> {
    match parse::version(inner)? {
        4 => {
            let ip = parse::ipv4(inner)?;
            Ok(Inner {
                len: ip.total_len,
                v6: false,
                tos: inner[1],
                df: ip.dont_fragment,
                id: be16(inner, 4),
            })
        }
        6 => {
            need("IPv6 header", 40, inner.len())?;
            let len = 40 + usize::from(be16(inner, 4));
            need("IPv6 packet (its payload length)", len, inner.len())?;
            Ok(Inner {
                len,
                v6: true,
                tos: (inner[0] << 4) | (inner[1] >> 4),
                df: true,
                id: 0,
            })
        }
        v => Err(RewriteError::NotIp(v)),
    }
}

/// Writes the 20-byte outer IPv4 header for `payload_len` bytes after it.
fn outer_header(
    out: &mut Vec<u8>,
    info: &Inner,
    proto: u8,
    payload_len: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    let total = (20 + payload_len) as u16; // checked by the caller
    let flags: u16 = if info.df { 0x4000 } else { 0 };
    out.clear();
    out.reserve(20 + payload_len);
    out.push(0x45);
    out.push(info.tos);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&info.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.push(64);
    out.push(proto);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let c = internet_checksum(&out[..20]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
}

fn check_fits(inner_len: usize, overhead: usize) -> Result<(), RewriteError> {
    if inner_len + overhead > usize::from(u16::MAX) {
        Err(RewriteError::TooLong(inner_len))
    } else {
        Ok(())
    }
}

/// IP-in-IP: replaces `out` with `inner` (an IPv4 or IPv6 packet, without
/// any padding past its own length) behind a 20-byte outer IPv4 header from
/// `outer_src` to `outer_dst`, protocol 4 (IPv4 inside) or 41 (IPv6
/// inside). On error `out` is untouched.
pub fn encap_ipip(
    inner: &[u8],
    outer_src: Ipv4Addr,
    outer_dst: Ipv4Addr,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let info = inner_info(inner)?;
    check_fits(info.len, IPIP_OVERHEAD)?;
    let proto = if info.v6 { PROTO_IPV6 } else { PROTO_IPIP };
    outer_header(out, &info, proto, info.len, outer_src, outer_dst);
    out.extend_from_slice(&inner[..info.len]);
    Ok(())
}

/// GRE: like [`encap_ipip`] with protocol 47 and a 4-byte GRE header (no
/// checksum, key or sequence number; protocol type 0x0800 or 0x86DD).
pub fn encap_gre(
    inner: &[u8],
    outer_src: Ipv4Addr,
    outer_dst: Ipv4Addr,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let info = inner_info(inner)?;
    check_fits(info.len, GRE_OVERHEAD)?;
    outer_header(out, &info, PROTO_GRE, 4 + info.len, outer_src, outer_dst);
    let ptype: u16 = if info.v6 { 0x86DD } else { 0x0800 };
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&ptype.to_be_bytes());
    out.extend_from_slice(&inner[..info.len]);
    Ok(())
}

/// The outer source address for a flow: an address inside
/// `base/prefix_len`, chosen by `flow_hash`, so the backend's NIC spreads
/// tunnel traffic over its receive queues (RSS hashes the outer header) while
/// every packet of one flow keeps the same source. For prefixes of /30 and
/// wider, the all-zeros and all-ones host addresses are skipped; /31 uses
/// both addresses and /32 (or a longer `prefix_len`, treated as /32) always
/// returns `base`. The engine must own the whole range (or the backends
/// must not need to answer it: tunnel replies go straight to the client).
pub fn outer_source_for(flow_hash: u64, base: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let host_bits = 32 - u32::from(prefix_len.min(32));
    if host_bits == 0 {
        return base;
    }
    let size = 1u64 << host_bits;
    let net = u32::from(base) & !((size - 1) as u32);
    // Multiply-shift over a mixed hash: unbiased enough and cheaper than %.
    let pick = |n: u64| ((u128::from(mix(flow_hash)) * u128::from(n)) >> 64) as u64;
    let host = if host_bits == 1 {
        pick(2)
    } else {
        1 + pick(size - 2)
    };
    Ipv4Addr::from(net | host as u32)
}

/// A final mixing step (from splitmix64), so that hashes that differ only in
/// their low bits still pick different addresses.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Validates an IP-in-IP or GRE packet and returns the inner packet:
/// the outer IPv4 header must be well formed with a correct header checksum
/// and must not be a fragment (no reassembly here); the protocol must be 4,
/// 41 or 47; GRE must have no flags (checksum, routing, key, sequence) and
/// version 0, and type IPv4 or IPv6; the inner packet's version must match
/// and its own length must fill the outer payload exactly. Padding after
/// the outer packet is ignored.
pub fn decap(packet: &[u8]) -> Result<&[u8], RewriteError> {
    let ip = parse::ipv4(packet)?;
    if internet_checksum(&packet[..ip.ihl]) != 0 {
        return Err(RewriteError::BadChecksum);
    }
    if ip.is_fragment() {
        return Err(RewriteError::Fragmented("decapsulation"));
    }
    let payload = &packet[ip.ihl..ip.total_len];
    match ip.proto {
        PROTO_IPIP => inner_exact(payload, 4),
        PROTO_IPV6 => inner_exact(payload, 6),
        PROTO_GRE => {
            need("GRE header", 4, payload.len())?;
            let flags = be16(payload, 0);
            if flags != 0 {
                return Err(RewriteError::UnsupportedGre(flags));
            }
            match be16(payload, 2) {
                0x0800 => inner_exact(&payload[4..], 4),
                0x86DD => inner_exact(&payload[4..], 6),
                t => Err(RewriteError::GreProtocol(t)),
            }
        }
        p => Err(RewriteError::NotTunnel(p)),
    }
}

/// `inner` if it is an IP packet of `version` whose length is exactly the
/// slice's.
fn inner_exact(inner: &[u8], version: u8) -> Result<&[u8], RewriteError> {
    let v = parse::version(inner)?;
    if v != version {
        return Err(RewriteError::WrongVersion {
            found: v,
            expected: version,
        });
    }
    let info = inner_info(inner)?;
    if info.len != inner.len() {
        return Err(RewriteError::Malformed(
            "inner packet length disagrees with the outer header's",
        ));
    }
    Ok(inner)
}
