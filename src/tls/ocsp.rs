//! OCSP responses to staple (RFC 6960 §4.2.1), checked before they are
//! served: a certificate's `ocsp` file is a DER `OCSPResponse`, as
//! `openssl ocsp -respout` or a CA's responder writes it. It is stapled as
//! is (the client verifies the signature); what is checked here is what
//! would make stapling it wrong: a response that is not `successful`, not
//! a basic response, not about this certificate (no single response with
//! the leaf's serial number), or that says `unknown`. A `revoked` one is
//! reported as such (the configuration refuses it; a file that turns
//! revoked while running is stapled, as the CA said it). Its validity
//! window is reported so a stale response is never stapled.
//!
//! The DER reader ([`super::der`]) takes definite lengths and single-byte
//! tags; there is no recursion beyond the fixed nesting.

use std::time::{Duration, SystemTime};

use super::der::read_tlv;

/// What a checked response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspStatus {
    /// `thisUpdate` of the certificate's single response.
    pub this_update: SystemTime,
    /// `nextUpdate`, when given: the response must not be used after it.
    pub next_update: Option<SystemTime>,
    /// The response says the certificate is revoked.
    pub revoked: bool,
}

impl OcspStatus {
    /// Whether the response may be stapled at `now` (thisUpdate a little
    /// in the future is allowed for clock skew).
    pub fn is_current(&self, now: SystemTime) -> bool {
        self.this_update <= now + CLOCK_SKEW && self.next_update.is_none_or(|n| now < n)
    }
}

/// How far in the future `thisUpdate` may be.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const ENUMERATED: u8 = 0x0a;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    /// `[0]` constructed (EXPLICIT).
    pub const CTX0: u8 = 0xa0;
    /// `[0]` primitive: certStatus `good` (IMPLICIT NULL).
    pub const GOOD: u8 = 0x80;
    /// `[1]` constructed: certStatus `revoked`.
    pub const REVOKED: u8 = 0xa1;
}

/// id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1, content octets.
const OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// A cursor over DER-encoded elements.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next element: its tag and contents.
    fn any(&mut self) -> Result<(u8, &'a [u8]), &'static str> {
        let (tag, contents, rest) = read_tlv(self.0).ok_or("malformed DER")?;
        self.0 = rest;
        Ok((tag, contents))
    }

    /// The next element, which must have `want` as its tag.
    fn expect(&mut self, want: u8, what: &'static str) -> Result<&'a [u8], &'static str> {
        match self.any()? {
            (t, c) if t == want => Ok(c),
            _ => Err(what),
        }
    }

    /// The next element if its tag is `want`.
    fn optional(&mut self, want: u8) -> Result<Option<&'a [u8]>, &'static str> {
        if self.peek() == Some(want) {
            self.any().map(|(_, c)| Some(c))
        } else {
            Ok(None)
        }
    }
}

/// The serial number of a DER certificate (its INTEGER contents as
/// encoded).
pub fn serial_number(cert: &[u8]) -> Result<&[u8], &'static str> {
    let cert = Der(cert).expect(tag::SEQUENCE, "certificate is not a SEQUENCE")?;
    let tbs = Der(cert).expect(tag::SEQUENCE, "certificate has no tbsCertificate")?;
    let mut tbs = Der(tbs);
    tbs.optional(tag::CTX0)?;
    tbs.expect(tag::INTEGER, "certificate has no serial number")
}

/// Checks `der` as the OCSP response to staple for the certificate whose
/// DER is `leaf`; the reason is one an operator can act on.
pub fn check(der: &[u8], leaf: &[u8]) -> Result<OcspStatus, String> {
    let serial = serial_number(leaf).map_err(|e| format!("cannot read the certificate: {e}"))?;
    check_serial(der, serial).map_err(str::to_owned)
}

fn check_serial(der: &[u8], serial: &[u8]) -> Result<OcspStatus, &'static str> {
    const NOT_OCSP: &str = "not a DER OCSP response";
    let mut top = Der(der);
    let resp = top.expect(tag::SEQUENCE, NOT_OCSP)?;
    if !top.is_empty() {
        return Err("trailing bytes after the OCSP response");
    }
    let mut resp = Der(resp);
    match resp.expect(tag::ENUMERATED, NOT_OCSP)? {
        [0] => {}
        _ => return Err("the responder did not answer `successful`"),
    }
    let bytes = resp
        .optional(tag::CTX0)?
        .ok_or("the response has no responseBytes")?;
    let mut bytes = Der(Der(bytes).expect(tag::SEQUENCE, NOT_OCSP)?);
    if bytes.expect(tag::OID, NOT_OCSP)? != OCSP_BASIC {
        return Err("not a basic OCSP response");
    }
    let basic = bytes.expect(tag::OCTET_STRING, NOT_OCSP)?;
    let basic = Der(basic).expect(tag::SEQUENCE, "malformed BasicOCSPResponse")?;
    let data = Der(basic).expect(tag::SEQUENCE, "malformed ResponseData")?;
    let mut data = Der(data);
    data.optional(tag::CTX0)?; // version
    data.any()?; // responderID: [1] Name or [2] KeyHash
    data.expect(tag::GENERALIZED_TIME, "malformed producedAt")?;
    let mut responses = Der(data.expect(tag::SEQUENCE, "malformed responses")?);
    while !responses.is_empty() {
        let single = responses.expect(tag::SEQUENCE, "malformed SingleResponse")?;
        if let Some(status) = single_response(single, serial)? {
            return Ok(status);
        }
    }
    Err("no response in it is for this certificate (serial number differs)")
}

/// One SingleResponse: `None` when it is about another certificate.
fn single_response(single: &[u8], serial: &[u8]) -> Result<Option<OcspStatus>, &'static str> {
    let mut single = Der(single);
    let mut cert_id = Der(single.expect(tag::SEQUENCE, "malformed CertID")?);
    cert_id.expect(tag::SEQUENCE, "malformed CertID")?; // hashAlgorithm
    cert_id.expect(tag::OCTET_STRING, "malformed CertID")?; // issuerNameHash
    cert_id.expect(tag::OCTET_STRING, "malformed CertID")?; // issuerKeyHash
    if cert_id.expect(tag::INTEGER, "malformed CertID")? != serial {
        return Ok(None);
    }
    let revoked = match single.any()? {
        (tag::GOOD, _) => false,
        (tag::REVOKED, _) => true,
        _ => return Err("it says the certificate's status is unknown"),
    };
    let this_update = time(single.expect(tag::GENERALIZED_TIME, "malformed thisUpdate")?)?;
    let next_update = match single.optional(tag::CTX0)? {
        Some(explicit) => {
            let t = Der(explicit).expect(tag::GENERALIZED_TIME, "malformed nextUpdate")?;
            Some(time(t)?)
        }
        None => None,
    };
    Ok(Some(OcspStatus {
        this_update,
        next_update,
        revoked,
    }))
}

/// A UTCTime `YYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.1: years 50 to 99 are
/// 19YY, the rest 20YY).
pub(super) fn utc_time(t: &[u8]) -> Result<SystemTime, &'static str> {
    let century: &[u8] = match t.first() {
        Some(d) if d.is_ascii_digit() && *d >= b'5' => b"19",
        Some(d) if d.is_ascii_digit() => b"20",
        _ => return Err("malformed UTCTime"),
    };
    time(&[century, t].concat())
}

/// A GeneralizedTime `YYYYMMDDHHMMSS[.f…]Z` (RFC 5280 §4.1.2.5.2; the
/// fraction, which it forbids, is tolerated and ignored).
pub(super) fn time(t: &[u8]) -> Result<SystemTime, &'static str> {
    const BAD: &str = "malformed GeneralizedTime";
    let t = t.strip_suffix(b"Z").ok_or(BAD)?;
    let t = match t.iter().position(|&b| b == b'.') {
        Some(dot) if t[dot + 1..].iter().all(u8::is_ascii_digit) => &t[..dot],
        Some(_) => return Err(BAD),
        None => t,
    };
    if t.len() != 14 || !t.iter().all(u8::is_ascii_digit) {
        return Err(BAD);
    }
    let num = |r: std::ops::Range<usize>| {
        t[r].iter()
            .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'))
    };
    let (y, mo, d) = (num(0..4), num(4..6), num(6..8));
    let (h, mi, s) = (num(8..10), num(10..12), num(12..14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(BAD);
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    let secs = u64::try_from(secs).map_err(|_| "GeneralizedTime before 1970")?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
