//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2) as a
//! pure codec: bytes in, a [`ProxyHeader`] out, and back.
//!
//! A proxy in front of a server hides the client's address: the server sees
//! only the proxy's. The PROXY protocol fixes that with a small header sent
//! before any payload. Switchyard uses it both ways:
//!
//! - **in**: listeners that sit behind another proxy or an L4 balancer accept
//!   a header ([`parse`]) and use its source address as the client's. Only
//!   enable that for trusted peers: anyone who can send the header can claim
//!   any address.
//! - **out**: upstream connections can start with a header ([`encode_v1`],
//!   [`encode_v2`]) so backends see the real client.
//!
//! There is no I/O here. [`parse`] looks at the bytes received so far from the
//! start of a connection and says whether a header is there, absent, broken,
//! or undecided yet; callers bound their reads with [`MAX_V1_LEN`] /
//! [`MAX_V2_LEN`] and must not consume anything past
//! [`Parsed::Header::consumed`](Parsed::Header).
//!
//! Choices where the spec leaves room (all receiver-side strictness: the spec
//! says to abort on anything that does not match exactly):
//!
//! - Version 1 is recognised by its first five bytes `PROXY` (as the spec
//!   says); anything other than a space after them is [`Parsed::Invalid`].
//!   Malformed lines are rejected as soon as the bytes received so far cannot
//!   start a valid line, without waiting for the CRLF.
//! - Version 2 family and protocol nibbles are checked one by one (family
//!   0–3, protocol 0–2); the address block must be as long as the family
//!   needs (0, 12, 36 or 216 bytes) for both commands, and the rest of the
//!   block must be whole TLVs. Addresses are reported only for PROXY over
//!   AF_INET / AF_INET6 with STREAM or DGRAM; everything else (LOCAL,
//!   AF_UNSPEC, AF_UNIX, UNSPEC protocol) reports `None`, meaning "use the
//!   real connection's endpoints".
//! - A CRC32C TLV must be 4 bytes, appear at most once, and match.
//! - Mixed address families (IPv4 source, IPv6 destination or the reverse)
//!   are encoded as IPv6 with the IPv4 side written as an IPv4-mapped IPv6
//!   address (`::ffff:a.b.c.d`), as HAProxy does, so no information is lost;
//!   a receiver then reports that side as an IPv6 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

#[cfg(test)]
mod tests;

/// Longest version 1 header, CRLF included (the spec's worst case,
/// `PROXY UNKNOWN` with two full IPv6 addresses and ports).
pub const MAX_V1_LEN: usize = 107;
/// Longest version 2 header: 16 fixed bytes plus a 16-bit length.
pub const MAX_V2_LEN: usize = 16 + 65535;

/// The 12-byte version 2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// TLV type: the ALPN negotiated with the client.
pub const PP2_TYPE_ALPN: u8 = 0x01;
/// TLV type: the host name the client asked for (TLS SNI).
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
/// TLV type: CRC32C of the whole header (checked by [`parse`], filled in by
/// [`encode_v2`]).
pub const PP2_TYPE_CRC32C: u8 = 0x03;
/// TLV type: padding, to be ignored.
pub const PP2_TYPE_NOOP: u8 = 0x04;
/// TLV type: an opaque connection id.
pub const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
/// TLV type: TLS details (holds sub-TLVs; kept verbatim here).
pub const PP2_TYPE_SSL: u8 = 0x20;
/// TLV type: the network namespace.
pub const PP2_TYPE_NETNS: u8 = 0x30;

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_FIXED_LEN: usize = 16;

/// Which version of the protocol a header used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text line, `PROXY TCP4 ...\r\n`.
    V1,
    /// The binary header starting with [`V2_SIGNATURE`].
    V2,
}

/// Whether the header describes a relayed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The sender opened the connection for itself (e.g. a health check), or
    /// (v1) `UNKNOWN`: use the real connection's endpoints.
    Local,
    /// The connection is relayed on behalf of the client in `source`.
    Proxy,
}

/// The relayed connection's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP (or a UNIX stream socket). Every v1 TCP4/TCP6 header.
    Stream,
    /// UDP (or a UNIX datagram socket).
    Datagram,
    /// Not specified (v1 `UNKNOWN`, v2 protocol 0).
    Unspecified,
}

/// One v2 Type-Length-Value extension, kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The type byte (see the `PP2_TYPE_*` constants).
    pub kind: u8,
    /// The value bytes (at most 65535).
    pub value: Vec<u8>,
}

/// A decoded PROXY protocol header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The version it arrived in.
    pub version: Version,
    /// LOCAL (health check, v1 `UNKNOWN`) or PROXY.
    pub command: Command,
    /// The relayed connection's transport as declared.
    pub transport: Transport,
    /// The original client; `None` for LOCAL, v1 `UNKNOWN`, AF_UNSPEC,
    /// AF_UNIX and the UNSPEC protocol (use the real peer address then).
    pub source: Option<SocketAddr>,
    /// The address the client connected to; `None` exactly when `source` is.
    pub destination: Option<SocketAddr>,
    /// v2 TLVs in wire order, unknown types included (CRC32C too, already
    /// verified). Always empty for v1.
    pub tlvs: Vec<Tlv>,
}

/// What [`parse`] made of the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Undecided: read more (up to [`MAX_V1_LEN`] / [`MAX_V2_LEN`] bytes in
    /// all) and call again with the whole buffer.
    NeedMore,
    /// The connection does not start with a PROXY header.
    NotProxy,
    /// A complete header; the payload starts at `buf[consumed..]`.
    Header {
        /// The decoded header.
        header: ProxyHeader,
        /// Exactly the header's length in bytes.
        consumed: usize,
    },
    /// A PROXY header that breaks the spec: close the connection.
    Invalid(&'static str),
}

/// Parses a PROXY header (v1 or v2) at the start of `buf`, which must hold
/// the bytes from the very start of the connection.
///
/// Decides as early as the bytes allow: [`Parsed::NotProxy`] as soon as the
/// first bytes can start neither version, [`Parsed::Invalid`] as soon as they
/// cannot start a valid header, [`Parsed::NeedMore`] otherwise until the
/// header is complete. Any verdict other than `NeedMore` stays the same when
/// more bytes are appended. Never reads past the header.
pub fn parse(buf: &[u8]) -> Parsed {
    match buf.first() {
        None => Parsed::NeedMore,
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(_) => Parsed::NotProxy,
    }
}

/// Encodes a version 1 line for a TCP connection from `src` to `dst`.
///
/// Both IPv4 gives `PROXY TCP4`, both IPv6 `PROXY TCP6`. Mixed families are
/// sent as `TCP6`, the IPv4 side as an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`), which keeps the address (HAProxy does the same).
/// Flow info and scope ids are not representable and are dropped. The line
/// is at most 104 bytes.
pub fn encode_v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let line = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => format!("PROXY TCP4 {s} {d}"),
        (s, d) => format!("PROXY TCP6 {} {}", as_v6(s), as_v6(d)),
    };
    format!("{line} {} {}\r\n", src.port(), dst.port()).into_bytes()
}

/// Encodes a version 2 header.
///
/// Addresses are written when `command` is [`Command::Proxy`], both `src`
/// and `dst` are given and `transport` is not [`Transport::Unspecified`]:
/// AF_INET when both are IPv4, otherwise AF_INET6 (an IPv4 side becomes an
/// IPv4-mapped IPv6 address). In every other case the header carries no
/// addresses and the family/protocol byte is `0x00` (AF_UNSPEC/UNSPEC), the
/// spec's choice for LOCAL, since receivers reject other combinations
/// without addresses; `transport` is then not transmitted.
///
/// `tlvs` are written in order. A [`PP2_TYPE_CRC32C`] TLV, whatever its
/// value, is written as the 4-byte checksum of the finished header (only the
/// first one; later ones are dropped). TLVs that would take the header past
/// [`MAX_V2_LEN`] are dropped. The result always parses with [`parse`].
pub fn encode_v2(
    command: Command,
    transport: Transport,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    tlvs: &[Tlv],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(V2_FIXED_LEN + 36);
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(match command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    });
    let proto = match transport {
        Transport::Unspecified => 0x0,
        Transport::Stream => 0x1,
        Transport::Datagram => 0x2,
    };
    let addrs = match (command, src, dst) {
        (Command::Proxy, Some(s), Some(d)) if proto != 0 => Some((s, d)),
        _ => None,
    };
    out.extend_from_slice(&[0, 0, 0]); // family byte, then length
    match addrs {
        None => {}
        Some((s, d)) => match (s.ip(), d.ip()) {
            (IpAddr::V4(si), IpAddr::V4(di)) => {
                out[13] = 0x10 | proto;
                out.extend_from_slice(&si.octets());
                out.extend_from_slice(&di.octets());
                out.extend_from_slice(&s.port().to_be_bytes());
                out.extend_from_slice(&d.port().to_be_bytes());
            }
            (si, di) => {
                out[13] = 0x20 | proto;
                out.extend_from_slice(&as_v6(si).octets());
                out.extend_from_slice(&as_v6(di).octets());
                out.extend_from_slice(&s.port().to_be_bytes());
                out.extend_from_slice(&d.port().to_be_bytes());
            }
        },
    }
    let mut crc_at = None;
    for tlv in tlvs {
        let value: &[u8] = if tlv.kind == PP2_TYPE_CRC32C {
            if crc_at.is_some() {
                continue;
            }
            &[0; 4]
        } else {
            &tlv.value
        };
        let Ok(len) = u16::try_from(value.len()) else {
            continue;
        };
        if out.len() + 3 + value.len() > MAX_V2_LEN {
            continue;
        }
        if tlv.kind == PP2_TYPE_CRC32C {
            crc_at = Some(out.len() + 3);
        }
        out.push(tlv.kind);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
    }
    // Fits: every write above kept out.len() <= MAX_V2_LEN.
    let body_len = u16::try_from(out.len() - V2_FIXED_LEN).unwrap_or(u16::MAX);
    out[14..16].copy_from_slice(&body_len.to_be_bytes());
    if let Some(at) = crc_at {
        let crc = crc32c(&out);
        out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    out
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

// ---------------------------------------------------------------- version 1

/// What each space-separated field of a `TCP4` / `TCP6` line holds.
#[derive(Clone, Copy)]
enum Field {
    Proto,
    Addr,
    Port,
}

const V1_FIELDS: [Field; 5] = [
    Field::Proto,
    Field::Addr,
    Field::Addr,
    Field::Port,
    Field::Port,
];

fn parse_v1(buf: &[u8]) -> Parsed {
    let head = &buf[..buf.len().min(V1_PREFIX.len())];
    if head.len() <= 5 {
        return if V1_PREFIX.starts_with(head) {
            Parsed::NeedMore
        } else {
            Parsed::NotProxy
        };
    }
    if head != V1_PREFIX {
        // "PROXY" followed by something else: the spec identifies v1 by its
        // first five bytes, so this is a broken v1 header, not another protocol.
        if head.starts_with(b"PROXY") {
            return Parsed::Invalid("v1: expected a space after PROXY");
        }
        return Parsed::NotProxy;
    }
    let window = &buf[..buf.len().min(MAX_V1_LEN)];
    let stop = window
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(window.len());
    let body = &window[V1_PREFIX.len()..stop];
    // Fields first, then the line end: the same bytes give the same verdict
    // however many of them have arrived.
    if let Err(e) = check_v1_prefix(body) {
        return Parsed::Invalid(e);
    }
    match (window.get(stop), window.get(stop + 1)) {
        (Some(b'\n'), _) => Parsed::Invalid("v1: LF without CR"),
        (Some(_), Some(b'\n')) => parse_v1_line(body, stop + 2),
        (Some(_), Some(_)) => Parsed::Invalid("v1: CR without LF"),
        _ if window.len() >= MAX_V1_LEN => Parsed::Invalid("v1: no CRLF within 107 bytes"),
        _ => Parsed::NeedMore,
    }
}

/// Parses the complete line between `PROXY ` and the CRLF, which
/// [`check_v1_prefix`] has accepted.
fn parse_v1_line(body: &[u8], consumed: usize) -> Parsed {
    let header = |command, transport, source, destination| Parsed::Header {
        header: ProxyHeader {
            version: Version::V1,
            command,
            transport,
            source,
            destination,
            tlvs: Vec::new(),
        },
        consumed,
    };
    if let Some(rest) = body.strip_prefix(b"UNKNOWN") {
        // The spec: the receiver must ignore anything before the CRLF.
        return match rest.first() {
            None | Some(b' ') => header(Command::Local, Transport::Unspecified, None, None),
            Some(_) => Parsed::Invalid("v1: unknown protocol"),
        };
    }
    let mut fields = body.split(|&b| b == b' ');
    let mut take = || fields.next().filter(|f| !f.is_empty());
    let parts = [take(), take(), take(), take(), take()];
    let [Some(proto), Some(src), Some(dst), Some(sport), Some(dport)] = parts else {
        return Parsed::Invalid("v1: expected exactly 5 fields separated by single spaces");
    };
    if fields.next().is_some() {
        return Parsed::Invalid("v1: expected exactly 5 fields separated by single spaces");
    }
    let (src, dst) = match proto {
        b"TCP4" => match (parse_v4(src), parse_v4(dst)) {
            (Some(s), Some(d)) => (IpAddr::V4(s), IpAddr::V4(d)),
            _ => return Parsed::Invalid("v1: bad IPv4 address"),
        },
        b"TCP6" => match (parse_v6(src), parse_v6(dst)) {
            (Some(s), Some(d)) => (IpAddr::V6(s), IpAddr::V6(d)),
            _ => return Parsed::Invalid("v1: bad IPv6 address"),
        },
        _ => return Parsed::Invalid("v1: unknown protocol"),
    };
    let (Some(sport), Some(dport)) = (parse_port(sport), parse_port(dport)) else {
        return Parsed::Invalid("v1: bad port");
    };
    header(
        Command::Proxy,
        Transport::Stream,
        Some(SocketAddr::new(src, sport)),
        Some(SocketAddr::new(dst, dport)),
    )
}

/// Rejects a line (without its CRLF yet) that no further bytes can make
/// valid. Accepts every prefix of a valid line.
fn check_v1_prefix(body: &[u8]) -> Result<(), &'static str> {
    if b"UNKNOWN".starts_with(body) {
        return Ok(());
    }
    if let Some(rest) = body.strip_prefix(b"UNKNOWN") {
        return match rest.first() {
            Some(b' ') => Ok(()),
            _ => Err("v1: unknown protocol"),
        };
    }
    let mut tcp6 = false;
    let mut fields = body.split(|&b| b == b' ').peekable();
    for kind in V1_FIELDS {
        let Some(field) = fields.next() else {
            return Ok(());
        };
        let last = fields.peek().is_none();
        if !last && field.is_empty() {
            return Err("v1: expected exactly 5 fields separated by single spaces");
        }
        match (kind, last) {
            (Field::Proto, true) => {
                if !b"TCP4".starts_with(field) && !b"TCP6".starts_with(field) {
                    return Err("v1: unknown protocol");
                }
            }
            (Field::Proto, false) => match field {
                b"TCP4" => {}
                b"TCP6" => tcp6 = true,
                _ => return Err("v1: unknown protocol"),
            },
            (Field::Addr, true) => {
                let ok = |b: &u8| {
                    b.is_ascii_digit()
                        || b == &b'.'
                        || (tcp6 && (b.is_ascii_hexdigit() || b == &b':'))
                };
                if !field.iter().all(ok) {
                    return Err(if tcp6 {
                        "v1: bad IPv6 address"
                    } else {
                        "v1: bad IPv4 address"
                    });
                }
            }
            (Field::Addr, false) => {
                if (tcp6 && parse_v6(field).is_none()) || (!tcp6 && parse_v4(field).is_none()) {
                    return Err(if tcp6 {
                        "v1: bad IPv6 address"
                    } else {
                        "v1: bad IPv4 address"
                    });
                }
            }
            (Field::Port, true) => {
                // A prefix of a valid port: digits, no leading zero, <= 65535.
                if !field.is_empty() && parse_port(field).is_none() {
                    return Err("v1: bad port");
                }
            }
            (Field::Port, false) => {
                if parse_port(field).is_none() {
                    return Err("v1: bad port");
                }
            }
        }
    }
    match fields.next() {
        Some(_) => Err("v1: expected exactly 5 fields separated by single spaces"),
        None => Ok(()),
    }
}

fn parse_v4(field: &[u8]) -> Option<Ipv4Addr> {
    // std rejects leading zeros ("01.2.3.4") and anything but 4 dotted octets.
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn parse_v6(field: &[u8]) -> Option<Ipv6Addr> {
    // std accepts exactly the RFC 4291 text forms (no zone ids, no brackets).
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// `0`..`65535` in decimal: digits only, no sign, no leading zero.
fn parse_port(field: &[u8]) -> Option<u16> {
    if field.is_empty() || field.len() > 5 || (field.len() > 1 && field[0] == b'0') {
        return None;
    }
    let mut n: u32 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    u16::try_from(n).ok()
}

// ---------------------------------------------------------------- version 2

fn parse_v2(buf: &[u8]) -> Parsed {
    let sig_len = buf.len().min(V2_SIGNATURE.len());
    if buf[..sig_len] != V2_SIGNATURE[..sig_len] {
        return Parsed::NotProxy;
    }
    let command = match buf.get(12) {
        None => return Parsed::NeedMore,
        Some(&b) if b >> 4 != 2 => return Parsed::Invalid("v2: version is not 2"),
        Some(&b) => match b & 0x0f {
            0 => Command::Local,
            1 => Command::Proxy,
            _ => return Parsed::Invalid("v2: unknown command"),
        },
    };
    let Some(&fam) = buf.get(13) else {
        return Parsed::NeedMore;
    };
    let addr_len = match fam >> 4 {
        0 => 0,   // AF_UNSPEC
        1 => 12,  // AF_INET: 2 x 4 + 2 x 2
        2 => 36,  // AF_INET6: 2 x 16 + 2 x 2
        3 => 216, // AF_UNIX: 2 x 108
        _ => return Parsed::Invalid("v2: unknown address family"),
    };
    let transport = match fam & 0x0f {
        0 => Transport::Unspecified,
        1 => Transport::Stream,
        2 => Transport::Datagram,
        _ => return Parsed::Invalid("v2: unknown transport protocol"),
    };
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Parsed::NeedMore;
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len < addr_len {
        return Parsed::Invalid("v2: length too short for the address family");
    }
    let total = V2_FIXED_LEN + len;
    let Some(hdr) = buf.get(..total) else {
        return Parsed::NeedMore;
    };
    let addrs = &hdr[V2_FIXED_LEN..V2_FIXED_LEN + addr_len];
    let (tlvs, crc) = match parse_tlvs(hdr, V2_FIXED_LEN + addr_len) {
        Ok(t) => t,
        Err(e) => return Parsed::Invalid(e),
    };
    if let Some((at, expected)) = crc {
        let got = crc32c_update(
            crc32c_update(crc32c_update(!0, &hdr[..at]), &[0; 4]),
            &hdr[at + 4..],
        );
        if !got != expected {
            return Parsed::Invalid("v2: CRC32C mismatch");
        }
    }
    let (source, destination) = match (command, transport, addr_len) {
        (Command::Local, _, _) | (_, Transport::Unspecified, _) => (None, None),
        (Command::Proxy, _, 12) => {
            let ip = |i: usize| Ipv4Addr::new(addrs[i], addrs[i + 1], addrs[i + 2], addrs[i + 3]);
            let port = |i: usize| u16::from_be_bytes([addrs[i], addrs[i + 1]]);
            (
                Some(SocketAddr::V4(SocketAddrV4::new(ip(0), port(8)))),
                Some(SocketAddr::V4(SocketAddrV4::new(ip(4), port(10)))),
            )
        }
        (Command::Proxy, _, 36) => {
            let ip = |i: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&addrs[i..i + 16]);
                Ipv6Addr::from(o)
            };
            let port = |i: usize| u16::from_be_bytes([addrs[i], addrs[i + 1]]);
            (
                Some(SocketAddr::V6(SocketAddrV6::new(ip(0), port(32), 0, 0))),
                Some(SocketAddr::V6(SocketAddrV6::new(ip(16), port(34), 0, 0))),
            )
        }
        // AF_UNSPEC, AF_UNIX: not representable as a SocketAddr.
        _ => (None, None),
    };
    Parsed::Header {
        header: ProxyHeader {
            version: Version::V2,
            command,
            transport,
            source,
            destination,
            tlvs,
        },
        consumed: total,
    }
}

/// Where a CRC32C TLV's value starts in the header, and the value.
type Crc = (usize, u32);

/// The TLVs in `hdr[from..]`, which they must fill exactly, and the offset
/// and value of the CRC32C one if present.
fn parse_tlvs(hdr: &[u8], from: usize) -> Result<(Vec<Tlv>, Option<Crc>), &'static str> {
    let mut tlvs = Vec::new();
    let mut crc = None;
    let mut rest = hdr.get(from..).unwrap_or_default();
    let mut at = from;
    while !rest.is_empty() {
        let [kind, hi, lo, tail @ ..] = rest else {
            return Err("v2: truncated TLV header");
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some(value) = tail.get(..len) else {
            return Err("v2: TLV overruns the header");
        };
        if *kind == PP2_TYPE_CRC32C {
            let Ok(v) = <[u8; 4]>::try_from(value) else {
                return Err("v2: CRC32C TLV is not 4 bytes");
            };
            if crc.replace((at + 3, u32::from_be_bytes(v))).is_some() {
                return Err("v2: more than one CRC32C TLV");
            }
        }
        tlvs.push(Tlv {
            kind: *kind,
            value: value.to_vec(),
        });
        rest = &tail[len..];
        at += 3 + len;
    }
    Ok((tlvs, crc))
}

// ---------------------------------------------------------------- CRC32C

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960
/// appendix B, one table of 256 entries built at compile time.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Feeds `data` into a running (pre-inverted) CRC32C state.
fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC32C_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    crc
}

/// The CRC32C of `data`.
fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}
