//! Counters of `switchyard decap`: what was delivered, and every drop by
//! reason.
//!
//! It exists so that an operator can tell from one log line *why* tunnel
//! packets do not arrive: one counter per [`RewriteError`] kind (the rule a
//! packet broke, e.g. `unsupported_gre` for a GRE header with a key) plus
//! the decapsulator's own failure modes.

use std::fmt;

use crate::packet::rewrite::RewriteError;

/// The drop reasons, in counter order. The first ones are the kinds of
/// [`RewriteError`] ([`reason_of`] maps each variant); the last three are
/// the decapsulator's own.
pub const DROP_REASONS: [&str; 22] = [
    "truncated",
    "wrong_version",
    "not_ip",
    "bad_header_length",
    "bad_checksum",
    "malformed",
    "non_first_fragment",
    "fragmented",
    "no_ports",
    "unsupported_protocol",
    "unsupported_extension",
    "not_ethernet_ii",
    "not_ip_ethertype",
    "not_tunnel",
    "unsupported_gre",
    "gre_protocol",
    "too_long",
    "not_icmp_error",
    "no_icmp_error",
    // The decapsulator's own:
    "oversized",
    "tun_write",
    "receive_error",
];

/// A packet larger than the receive buffer (the kernel truncated it).
pub(super) const OVERSIZED: usize = 19;
/// The TUN device refused the inner packet.
pub(super) const TUN_WRITE: usize = 20;
/// `recvmmsg` failed (not counted per packet: one per failed call).
pub(super) const RECEIVE_ERROR: usize = 21;

/// The counter index of `e`'s kind in [`DROP_REASONS`].
pub fn reason_of(e: &RewriteError) -> usize {
    match e {
        RewriteError::Truncated { .. } => 0,
        RewriteError::WrongVersion { .. } => 1,
        RewriteError::NotIp(_) => 2,
        RewriteError::BadHeaderLength(_) => 3,
        RewriteError::BadChecksum => 4,
        RewriteError::Malformed(_) => 5,
        RewriteError::NonFirstFragment(_) => 6,
        RewriteError::Fragmented(_) => 7,
        RewriteError::NoPorts(_) => 8,
        RewriteError::UnsupportedProtocol(_) => 9,
        RewriteError::UnsupportedExtension(_) => 10,
        RewriteError::NotEthernetII(_) => 11,
        RewriteError::NotIpEtherType(_) => 12,
        RewriteError::NotTunnel(_) => 13,
        RewriteError::UnsupportedGre(_) => 14,
        RewriteError::GreProtocol(_) => 15,
        RewriteError::TooLong(_) => 16,
        RewriteError::NotIcmpError(_) => 17,
        RewriteError::NoIcmpError(_) => 18,
    }
}

/// What the decapsulator did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecapStats {
    /// Inner packets handed to the TUN device.
    pub delivered: u64,
    /// Their bytes (inner packets, without the tunnel headers).
    pub bytes: u64,
    /// Drops per reason, indexed like [`DROP_REASONS`].
    pub drops: [u64; DROP_REASONS.len()],
}

impl DecapStats {
    /// Drops counted for `reason` (a name from [`DROP_REASONS`]; 0 for an
    /// unknown name).
    pub fn dropped(&self, reason: &str) -> u64 {
        DROP_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.drops[i])
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// The non-zero drop counters as `reason:count,...`, or `none`.
    pub fn reasons(&self) -> Reasons<'_> {
        Reasons(self)
    }
}

/// [`DecapStats::reasons`]: displays the non-zero drop counters.
pub struct Reasons<'a>(&'a DecapStats);

impl fmt::Display for Reasons<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (name, n) in DROP_REASONS.iter().zip(self.0.drops) {
            if n > 0 {
                if any {
                    f.write_str(",")?;
                }
                write!(f, "{name}:{n}")?;
                any = true;
            }
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_by_name() {
        let mut s = DecapStats::default();
        assert_eq!(s.reasons().to_string(), "none");
        s.drops[reason_of(&RewriteError::UnsupportedGre(0x2000))] += 2;
        s.drops[TUN_WRITE] += 1;
        assert_eq!(s.reasons().to_string(), "unsupported_gre:2,tun_write:1");
        assert_eq!(s.dropped("unsupported_gre"), 2);
        assert_eq!(s.dropped("nonsense"), 0);
        assert_eq!(s.dropped_total(), 3);
        assert_eq!(DROP_REASONS[OVERSIZED], "oversized");
        assert_eq!(DROP_REASONS[RECEIVE_ERROR], "receive_error");
    }
}
