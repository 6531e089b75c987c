//! DSR mode (direct server return): rewrite only the Ethernet addresses.
//!
//! The engine and the backends share an L2 segment; the backend holds the
//! VIP on its loopback, so the packet is delivered unchanged except for the
//! destination MAC (the backend's) and the source MAC (the engine's
//! interface). The backend answers the client directly, which is why DSR
//! cannot rewrite ports. Both IP families work: nothing above L2 changes.
//!
//! [`parse_ethernet`] is also what the data path uses to find the IP header
//! of a received frame before calling the NAT or tunnel functions.

use super::RewriteError;
use super::parse::{self, be16, need};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;

/// An Ethernet II frame's layout, as [`parse_ethernet`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherFrame {
    /// Where the IP header starts (14, 18 or 22).
    pub l3_offset: usize,
    /// The EtherType after any VLAN tags: IPv4 or IPv6.
    pub ethertype: u16,
    /// How many VLAN tags (802.1Q / 802.1ad) precede it: 0, 1 or 2.
    pub vlan_tags: u8,
}

/// Parses an Ethernet II frame, optionally with one or two VLAN tags
/// (0x8100, 0x88A8, or the older 0x9100), carrying IPv4 or IPv6, and checks
/// that the whole IP packet is inside the frame (trailing padding is
/// allowed). An 802.3 frame (length instead of EtherType) is refused.
pub fn parse_ethernet(frame: &[u8]) -> Result<EtherFrame, RewriteError> {
    need("Ethernet header", 14, frame.len())?;
    let mut off = 12;
    let mut vlan_tags = 0;
    let ethertype = loop {
        let t = be16(frame, off);
        match t {
            0x8100 | 0x88A8 | 0x9100 if vlan_tags < 2 => {
                vlan_tags += 1;
                off += 4;
                need("VLAN tag", off + 2, frame.len())?;
            }
            t if t < 0x0600 => return Err(RewriteError::NotEthernetII(t)),
            t => break t,
        }
    };
    let l3_offset = off + 2;
    let l3 = frame.get(l3_offset..).unwrap_or_default();
    match ethertype {
        ETHERTYPE_IPV4 => {
            parse::ipv4(l3)?;
        }
        ETHERTYPE_IPV6 => {
            need("IPv6 header", 40, l3.len())?;
            let v = l3[0] >> 4;
            if v != 6 {
                return Err(RewriteError::WrongVersion {
                    found: v,
                    expected: 6,
                });
            }
            need(
                "IPv6 packet (its payload length)",
                40 + usize::from(be16(l3, 4)),
                l3.len(),
            )?;
        }
        t => return Err(RewriteError::NotIpEtherType(t)),
    }
    Ok(EtherFrame {
        l3_offset,
        ethertype,
        vlan_tags,
    })
}

/// DSR: sets the destination MAC to the backend's and the source MAC to the
/// engine's, leaving everything else (VLAN tags, IP, ports) untouched. The
/// frame must pass [`parse_ethernet`]; on error nothing is written.
pub fn dsr_rewrite(
    frame: &mut [u8],
    new_dst_mac: [u8; 6],
    new_src_mac: [u8; 6],
) -> Result<(), RewriteError> {
    parse_ethernet(frame)?;
    if let Some(macs) = frame.get_mut(0..12) {
        macs[..6].copy_from_slice(&new_dst_mac);
        macs[6..].copy_from_slice(&new_src_mac);
    }
    Ok(())
}
