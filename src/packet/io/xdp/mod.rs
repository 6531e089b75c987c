//! The AF_XDP fast path: an XDP program that steers the engine's traffic
//! into AF_XDP sockets, and [`XskPort`], the [`Port`](super::Port) over one
//! such socket.
//!
//! Per frame, the XDP program (Ethernet II, optionally one 802.1Q/802.1ad
//! tag, IPv4 or IPv6) looks the addresses up in one hash map keyed by
//! 16-byte addresses (IPv4 as `::ffff:a.b.c.d`) with flag values:
//!
//! 1. destination flagged VIP → redirect to the AF_XDP socket of the
//!    receive queue (through an XSKMAP; `XDP_PASS` if none is bound);
//! 2. destination flagged LOCAL → `XDP_PASS` (the host's own traffic);
//! 3. source flagged NAT_SOURCE → redirect as in 1 (NAT backend replies);
//! 4. anything else (ARP, other hosts' traffic) → `XDP_PASS`.
//!
//! The program is assembled in Rust (`insn.rs`, `classify.rs`) and loaded
//! with the raw `bpf()` system call (`sys.rs`), so the build needs no
//! clang, libbpf or BPF toolchain. Files:
//!
//! - `insn.rs`: eBPF instruction encoding and a label-resolving assembler;
//! - `classify.rs`: the program, block by block;
//! - `sys.rs`: `bpf()` commands; `netlink.rs`: the `IFLA_XDP` fallback;
//! - `program.rs`: [`XdpProgram`] (maps, load, attach, live update);
//! - `ring.rs`: the shared rings and their index arithmetic;
//! - `socket.rs`: [`XskPort`] setup (UMEM, rings, bind, XSKMAP entry);
//! - `datapath.rs`: its batched receive and send (the `Port` impl);
//! - `error.rs`: [`XdpError`] with operator advice.
//!
//! Everything that names an interface resolves it in the calling thread's
//! network namespace, and sockets stay in the namespace they were created
//! in.

mod classify;
mod datapath;
mod error;
mod insn;
mod netlink;
mod program;
mod ring;
mod socket;
mod sys;
#[cfg(test)]
mod testnet;
#[cfg(test)]
mod tests;

pub use error::XdpError;
pub use program::{AttachMode, Classifier, MAX_ADDRESSES, TcShield, XdpProgram};
pub use socket::{XskOptions, XskPort};

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `struct ethtool_channels`.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// `struct ifreq` with the `ifr_data` member.
#[repr(C)]
struct IfreqData {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// Receive queues a driver reports: combined channels plus dedicated
/// receive channels (drivers report one kind or the other).
fn rx_queues(ch: &EthtoolChannels) -> u32 {
    ch.combined_count.saturating_add(ch.rx_count)
}

/// The number of receive queues of `ifname` (at least 1), from the
/// `ETHTOOL_GCHANNELS` ioctl, else from `/sys/class/net/IF/queues/rx-*`
/// (which only describes the namespace sysfs was mounted in), else 1.
pub fn queue_count(ifname: &str) -> u32 {
    ethtool_rx_queues(ifname)
        .or_else(|| sysfs_rx_queues(ifname))
        .unwrap_or(1)
        .max(1)
}

fn ethtool_rx_queues(ifname: &str) -> Option<u32> {
    if ifname.len() >= libc::IFNAMSIZ || ifname.as_bytes().contains(&0) {
        return None;
    }
    // SAFETY: plain socket(2); checked below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a new descriptor owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut req = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: (&mut ch as *mut EthtoolChannels).cast(),
        _pad: [0; 16],
    };
    req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: `req` is a valid ifreq whose data pointer refers to `ch`,
    // which outlives the call.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
    (ret == 0).then(|| rx_queues(&ch)).filter(|&n| n > 0)
}

fn sysfs_rx_queues(ifname: &str) -> Option<u32> {
    if ifname.contains('/') || ifname.starts_with('.') {
        return None;
    }
    let dir = std::fs::read_dir(format!("/sys/class/net/{ifname}/queues")).ok()?;
    let n = dir
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    u32::try_from(n).ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn ifreq_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<IfreqData>(), 40);
        assert_eq!(std::mem::size_of::<EthtoolChannels>(), 36);
    }

    #[test]
    fn rx_queues_adds_both_kinds() {
        let ch = EthtoolChannels {
            combined_count: 8,
            ..Default::default()
        };
        assert_eq!(rx_queues(&ch), 8);
        let ch = EthtoolChannels {
            rx_count: 2,
            tx_count: 2,
            ..Default::default()
        };
        assert_eq!(rx_queues(&ch), 2);
    }

    #[test]
    fn queue_count_is_at_least_one() {
        assert_eq!(queue_count("lo"), 1);
        assert_eq!(queue_count("no-such-interface-x"), 1);
        assert_eq!(queue_count("../../etc"), 1);
    }
}
