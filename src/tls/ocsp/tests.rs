//! The OCSP response checks, on real responses made by `openssl ocsp`
//! (`testdata/ocsp`, see its README) and on damaged copies of them.

use std::time::{Duration, SystemTime};

use super::*;

const LEAF: &str = include_str!("../testdata/ocsp/leaf.pem");
const CA: &str = include_str!("../testdata/ocsp/ca.pem");
const GOOD: &[u8] = include_bytes!("../testdata/ocsp/ocsp-good.der");
const REVOKED: &[u8] = include_bytes!("../testdata/ocsp/ocsp-revoked.der");
const EXPIRED: &[u8] = include_bytes!("../testdata/ocsp/ocsp-expired.der");
const NO_NEXT: &[u8] = include_bytes!("../testdata/ocsp/ocsp-nonext.der");

fn der(pem_text: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem_text.as_bytes())
        .unwrap()
        .to_vec()
}

fn at(y: i64, mo: i64, d: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(days_from_civil(y, mo, d) as u64 * 86_400)
}

#[test]
fn the_leaf_serial_number_is_read() {
    let leaf = der(LEAF);
    assert_eq!(
        serial_number(&leaf).unwrap(),
        [0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef]
    );
}

#[test]
fn a_good_response_for_the_certificate_is_accepted_with_its_window() {
    let status = check(GOOD, &der(LEAF)).unwrap();
    // Made in 2026, valid for 100 years.
    assert!(status.this_update > at(2026, 1, 1) && status.this_update < at(2027, 1, 1));
    let next = status.next_update.unwrap();
    assert!(next > at(2126, 1, 1) && next < at(2127, 1, 1), "{next:?}");
    assert!(status.is_current(SystemTime::now()));
    assert!(!status.is_current(at(2127, 1, 1)));
    assert!(!status.is_current(at(2020, 1, 1)), "before thisUpdate");
}

#[test]
fn without_next_update_a_response_stays_current() {
    let status = check(NO_NEXT, &der(LEAF)).unwrap();
    assert_eq!(status.next_update, None);
    assert!(status.is_current(at(2200, 1, 1)));
}

#[test]
fn an_expired_response_parses_but_is_not_current() {
    let status = check(EXPIRED, &der(LEAF)).unwrap();
    let next = status.next_update.unwrap();
    assert_eq!(
        next.duration_since(status.this_update).unwrap(),
        Duration::from_secs(60)
    );
    assert!(!status.is_current(SystemTime::now()));
}

#[test]
fn a_revoked_response_says_so() {
    assert!(check(REVOKED, &der(LEAF)).unwrap().revoked);
    assert!(!check(GOOD, &der(LEAF)).unwrap().revoked);
}

#[test]
fn a_response_for_another_certificate_is_refused() {
    // The CA's own certificate has another serial number.
    let err = check(GOOD, &der(CA)).unwrap_err();
    assert!(err.contains("serial number differs"), "{err}");
}

#[test]
fn unsuccessful_and_damaged_responses_are_refused() {
    let leaf = der(LEAF);
    // tryLater (3), no responseBytes.
    let err = check(&[0x30, 0x03, 0x0a, 0x01, 0x03], &leaf).unwrap_err();
    assert!(err.contains("successful"), "{err}");
    // successful without responseBytes.
    let err = check(&[0x30, 0x03, 0x0a, 0x01, 0x00], &leaf).unwrap_err();
    assert!(err.contains("responseBytes"), "{err}");
    assert!(check(b"", &leaf).is_err());
    assert!(check(b"-----BEGIN OCSP-----", &leaf).is_err());
    // Every truncation of a real response is refused, never a panic.
    for n in 0..GOOD.len() {
        assert!(check(&GOOD[..n], &leaf).is_err(), "truncated at {n}");
    }
    let mut trailing = GOOD.to_vec();
    trailing.push(0);
    assert!(check(&trailing, &leaf).unwrap_err().contains("trailing"));
}

#[test]
fn generalized_times_are_converted() {
    let t = |s: &str| time(s.as_bytes());
    assert_eq!(t("19700101000000Z"), Ok(SystemTime::UNIX_EPOCH));
    let secs = |s: &str| {
        t(s).unwrap()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    // `date -u -d 2000-02-29T12:34:56 +%s`
    assert_eq!(secs("20000229123456Z"), 951_827_696);
    assert_eq!(secs("20261127051359Z"), 1_795_756_439);
    assert_eq!(secs("20261127051359.123Z"), 1_795_756_439);
    for bad in [
        "2026112705135Z",
        "20261127051359",
        "20261327051359Z",
        "2026112705135xZ",
        "19691231235959Z",
    ] {
        assert!(t(bad).is_err(), "{bad}");
    }
}
