//! What routing and upstream headers learn about a verified client
//! certificate (mTLS): its subject as a string, its DNS and URI SANs, and
//! its SHA-256 fingerprint.
//!
//! Every string produced here is printable ASCII (control and non-ASCII
//! bytes are hex-escaped in the subject; SANs containing them, or a space,
//! are left out), so it can go into an HTTP header as is. The subject is read by a
//! small bounds-checked DER reader (`der`) that never panics and gives `None` for
//! anything malformed (fuzzed: `fuzz/fuzz_targets/cert_subject.rs`).

use std::fmt::Write as _;

use rustls::pki_types::CertificateDer;

use super::der::read_tlv;

/// A client certificate as seen by routing and upstream headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject DN, RFC 4514 syntax, e.g. `CN=alice,O=Example Corp`
    /// (attributes in certificate order; see [`parse_name`]).
    pub subject: String,
    /// `DNS:name` and `URI:uri` subjectAltName entries, in certificate order.
    pub sans: Vec<String>,
    /// Lower-case hex SHA-256 of the certificate's DER encoding.
    pub sha256: String,
}

/// The identity of a (verified) certificate; `None` if it cannot be parsed.
pub fn identity(cert: &CertificateDer<'_>) -> Option<ClientIdentity> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    // `subject()` is the Name's contents, without the SEQUENCE header.
    let subject = parse_rdn_sequence(parsed.subject())?;
    // HTTP field values never end in whitespace (RFC 9110 §5.5): a last
    // value ending in an escaped space (`\ `) would arrive as a dangling
    // `\`. `\20` is the same RFC 4514 escape in hex form.
    let subject = match subject.strip_suffix("\\ ") {
        Some(head) => format!("{head}\\20"),
        None => subject,
    };
    let dns = parsed.valid_dns_names().map(|n| format!("DNS:{n}"));
    let uri = parsed.valid_uri_names().map(|u| format!("URI:{u}"));
    // No spaces either: the header joins entries with ", ", and a URI SAN
    // (not validated by webpki) such as "x, DNS:admin.example.com" would
    // read as two entries. DNS names and valid URIs never contain one.
    let sans = dns
        .chain(uri)
        .filter(|s| s.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    Some(ClientIdentity {
        subject,
        sans,
        sha256: hex(digest.as_ref()),
    })
}

/// A DER-encoded X.501 `Name` (`SEQUENCE OF RelativeDistinguishedName`,
/// header included) as an RFC 4514 string, e.g. `CN=alice,O=Example Corp`.
///
/// Order: the RDNs as they appear in the certificate, which for most
/// certificates is most significant first (`C=…,O=…,CN=…`); strict RFC 4514
/// output (and OpenSSL's `-nameopt RFC2253`) would reverse it. Known
/// attribute types get their short names (CN, O, OU, C, L, ST,
/// emailAddress), others their dotted OID. Multi-valued RDNs are joined with
/// `+`. Values of string types are decoded; any other type is written as `#`
/// and the hex of its DER encoding. `,+"\<>;` are escaped with a backslash,
/// as are a leading `#` or space and a trailing space; control characters
/// and every byte of non-ASCII characters are written as `\XX` hex.
/// An empty Name gives an empty string; malformed input gives `None`.
pub fn parse_name(der: &[u8]) -> Option<String> {
    let (tag, contents, rest) = read_tlv(der)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    parse_rdn_sequence(contents)
}

const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;

/// The contents of a `Name` (a series of RDN SETs).
fn parse_rdn_sequence(mut input: &[u8]) -> Option<String> {
    let mut out = String::new();
    while !input.is_empty() {
        let (tag, rdn, rest) = read_tlv(input)?;
        if tag != TAG_SET || rdn.is_empty() {
            return None;
        }
        input = rest;
        if !out.is_empty() {
            out.push(',');
        }
        let mut first = true;
        let mut atvs = rdn;
        while !atvs.is_empty() {
            let (tag, atv, rest) = read_tlv(atvs)?;
            if tag != TAG_SEQUENCE {
                return None;
            }
            atvs = rest;
            if !first {
                out.push('+');
            }
            first = false;
            write_atv(&mut out, atv)?;
        }
    }
    Some(out)
}

/// One `AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY }`.
fn write_atv(out: &mut String, atv: &[u8]) -> Option<()> {
    let (tag, oid, rest) = read_tlv(atv)?;
    if tag != TAG_OID || oid.is_empty() {
        return None;
    }
    let (value_tag, value, after) = read_tlv(rest)?;
    if !after.is_empty() {
        return None;
    }
    match short_name(oid) {
        Some(name) => out.push_str(name),
        None => write_oid(out, oid)?,
    }
    out.push('=');
    match decode_string(value_tag, value) {
        Some(text) => escape_value(out, &text),
        None => {
            // RFC 4514 §2.4: `#` and the hex of the value's BER encoding.
            out.push('#');
            out.push_str(&hex(&rest[..rest.len() - after.len()]));
        }
    }
    Some(())
}

fn short_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

/// Dotted decimal of an OID's contents; `None` if malformed (or an arc
/// beyond 64 bits).
fn write_oid(out: &mut String, oid: &[u8]) -> Option<()> {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in oid {
        if !in_arc && b == 0x80 {
            return None; // non-minimal encoding
        }
        value = value.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc {
        return None; // truncated arc
    }
    let (&first, rest) = arcs.split_first()?;
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let _ = write!(out, "{a}.{b}");
    for arc in rest {
        let _ = write!(out, ".{arc}");
    }
    Some(())
}

/// The text of a directory string value; `None` for non-string types or
/// undecodable contents (then written as hex).
fn decode_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        // UTF8String
        0x0c => std::str::from_utf8(value).ok().map(str::to_owned),
        // NumericString, PrintableString, IA5String, VisibleString
        0x12 | 0x13 | 0x16 | 0x1a => value
            .is_ascii()
            .then(|| value.iter().map(|&b| char::from(b)).collect()),
        // TeletexString: in practice Latin-1.
        0x14 => Some(value.iter().map(|&b| char::from(b)).collect()),
        // UniversalString: UTF-32BE.
        0x1c => {
            if !value.len().is_multiple_of(4) {
                return None;
            }
            value
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        // BMPString: UTF-16BE.
        0x1e => {
            if !value.len().is_multiple_of(2) {
                return None;
            }
            let units = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// Appends an attribute value with RFC 4514 escaping, printable ASCII only.
fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:02x}");
                }
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
