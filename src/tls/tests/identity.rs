//! Client identities: subject strings, SANs, fingerprints, and the DER
//! reader's behaviour on hostile input.

use rcgen::{DnType, DnValue, SanType};

use super::*;
use crate::tls::identity::{identity, parse_name};

fn cert_with(dn: &[(DnType, DnValue)], sans: Vec<SanType>) -> CertificateDer<'static> {
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    for (ty, value) in dn {
        name.push(ty.clone(), value.clone());
    }
    params.distinguished_name = name;
    params.subject_alt_names = sans;
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").der().clone()
}

#[test]
fn subject_sans_and_fingerprint() {
    let der = cert_with(
        &[
            (DnType::CommonName, "alice".into()),
            (DnType::OrganizationName, "Example Corp".into()),
        ],
        vec![
            SanType::DnsName("alice.example.com".try_into().expect("ia5")),
            SanType::URI("spiffe://example.com/alice".try_into().expect("ia5")),
            SanType::Rfc822Name("alice@example.com".try_into().expect("ia5")),
        ],
    );
    let id = identity(&der).expect("identity");
    assert_eq!(id.subject, "CN=alice,O=Example Corp");
    assert_eq!(
        id.sans,
        ["DNS:alice.example.com", "URI:spiffe://example.com/alice"]
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(id.sha256, hex);
    assert_eq!(id.sha256.len(), 64);
}

#[test]
fn subject_types_and_escaping() {
    let der = cert_with(
        &[
            (
                DnType::CountryName,
                DnValue::PrintableString("DE".try_into().expect("ps")),
            ),
            (DnType::StateOrProvinceName, "Baden-Württemberg".into()),
            (
                DnType::LocalityName,
                DnValue::Ia5String("Berlin".try_into().expect("ia5")),
            ),
            (
                DnType::OrganizationalUnitName,
                "R&D, \"Ops\"+<x>;y\\z".into(),
            ),
            (DnType::CommonName, " #lead trail ".into()),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                "a@b.c".into(),
            ),
            (DnType::CustomDnType(vec![2, 5, 4, 5]), "serial-1".into()),
            (
                DnType::CustomDnType(vec![2, 5, 4, 4]),
                DnValue::BmpString("Bmp".try_into().expect("bmp")),
            ),
        ],
        vec![],
    );
    let id = identity(&der).expect("identity");
    assert_eq!(
        id.subject,
        "C=DE,ST=Baden-W\\c3\\bcrttemberg,L=Berlin,OU=R&D\\, \\\"Ops\\\"\\+\\<x\\>\\;y\\\\z,\
         CN=\\ #lead trail\\ ,emailAddress=a@b.c,2.5.4.5=serial-1,2.5.4.4=Bmp"
    );
    assert!(id.sans.is_empty());
}

/// DER helpers for hand-made Names.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(contents);
    out
}

fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
    let mut inner = tlv(0x06, oid);
    inner.extend(tlv(tag, value));
    tlv(0x30, &inner)
}

const CN: &[u8] = &[0x55, 0x04, 0x03];
const O: &[u8] = &[0x55, 0x04, 0x0a];

#[test]
fn hand_made_names() {
    // Empty Name.
    assert_eq!(parse_name(&[0x30, 0x00]).as_deref(), Some(""));
    // Multi-valued RDN, then a second RDN.
    let mut rdn = atv(CN, 0x0c, b"bob");
    rdn.extend(atv(O, 0x13, b"Org"));
    let mut name = tlv(0x31, &rdn);
    name.extend(tlv(0x31, &atv(O, 0x0c, b"Two")));
    let der = tlv(0x30, &name);
    assert_eq!(parse_name(&der).as_deref(), Some("CN=bob+O=Org,O=Two"));
    // Long-form lengths.
    let long = "x".repeat(300);
    let der = tlv(0x30, &tlv(0x31, &atv(CN, 0x0c, long.as_bytes())));
    assert_eq!(parse_name(&der), Some(format!("CN={long}")));
    // Control characters are hex-escaped, never passed through.
    let der = tlv(0x30, &tlv(0x31, &atv(CN, 0x0c, b"a\r\nb\0")));
    assert_eq!(parse_name(&der).as_deref(), Some("CN=a\\0d\\0ab\\00"));
    // A non-string value: `#` and the hex of its encoding.
    let der = tlv(0x30, &tlv(0x31, &atv(CN, 0x04, &[0xde, 0xad])));
    assert_eq!(parse_name(&der).as_deref(), Some("CN=#0402dead"));
    // UniversalString and a large OID arc.
    let der = tlv(
        0x30,
        &tlv(
            0x31,
            &atv(&[0x2b, 0x86, 0x8d, 0x20, 0x01], 0x1c, &[0, 0, 0, b'u']),
        ),
    );
    assert_eq!(parse_name(&der).as_deref(), Some("1.3.100000.1=u"));
}

#[test]
fn malformed_names_are_none() {
    let good = tlv(0x30, &tlv(0x31, &atv(CN, 0x0c, b"bob")));
    // Every truncation, and trailing bytes.
    for n in 0..good.len() {
        assert_eq!(parse_name(&good[..n]), None, "prefix {n}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(parse_name(&trailing), None);
    for bad in [
        // Not a SEQUENCE.
        tlv(0x31, &[]),
        // Empty RDN SET.
        tlv(0x30, &tlv(0x31, &[])),
        // RDN that is not a SET.
        tlv(0x30, &tlv(0x30, &atv(CN, 0x0c, b"x"))),
        // Empty OID, truncated OID arc, non-minimal arc.
        tlv(0x30, &tlv(0x31, &atv(&[], 0x0c, b"x"))),
        tlv(0x30, &tlv(0x31, &atv(&[0x55, 0x84], 0x0c, b"x"))),
        tlv(0x30, &tlv(0x31, &atv(&[0x80, 0x01], 0x0c, b"x"))),
        // Invalid UTF-8 in a UTF8String, odd BMPString, non-ASCII PrintableString
        // are written as hex, not refused: see below. Indefinite length:
        vec![0x30, 0x80, 0x00, 0x00],
        // Length of 5 bytes, and a length beyond the input.
        vec![0x30, 0x85, 0, 0, 0, 0, 1],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        // High tag number form.
        vec![0x1f, 0x01, 0x00],
    ] {
        assert_eq!(parse_name(&bad), None, "{bad:02x?}");
    }
    // Undecodable string contents: hex, still printable.
    let der = tlv(0x30, &tlv(0x31, &atv(CN, 0x0c, &[0xff, 0xfe])));
    assert_eq!(parse_name(&der).as_deref(), Some("CN=#0c02fffe"));
    let der = tlv(0x30, &tlv(0x31, &atv(CN, 0x1e, &[0x00])));
    assert_eq!(parse_name(&der).as_deref(), Some("CN=#1e0100"));
}

#[test]
fn not_a_certificate_has_no_identity() {
    assert_eq!(identity(&CertificateDer::from(vec![0x30, 0x00])), None);
    assert_eq!(identity(&CertificateDer::from(Vec::new())), None);
}
