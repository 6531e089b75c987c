//! The loaded XDP program and its maps, attached to one interface.
//!
//! [`XdpProgram::attach`] creates the address map (16-byte keys, flag
//! values) and the XSKMAP, assembles the classifier of `classify.rs` with
//! both map fds baked in, loads it, fills the address map from a
//! [`Classifier`] and attaches it with a BPF link (netlink `IFLA_XDP` where
//! links are unavailable). Dropping the value detaches the program; the
//! kernel also detaches it if the process dies, since the link is a file
//! descriptor.

use std::collections::HashMap;
use std::ffi::CString;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::classify::{self, FLAG_LOCAL, FLAG_NAT_SOURCE, FLAG_VIP};
use super::error::{self, XdpError};
use super::{insn, netlink, queue_count, sys};

/// Capacity of the address map (VIPs + local + NAT sources).
pub const MAX_ADDRESSES: u32 = 16384;

/// Which addresses the XDP program steers to the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classifier {
    /// Virtual IPs: frames *to* them go to the AF_XDP sockets.
    pub vips: Vec<IpAddr>,
    /// The host's own addresses: frames to them go to the kernel, even if
    /// they come from a NAT source (health-check replies and the like).
    pub local: Vec<IpAddr>,
    /// NAT backends: frames *from* them (replies to translated flows) go
    /// to the AF_XDP sockets unless addressed to a local address.
    pub nat_sources: Vec<IpAddr>,
}

impl Classifier {
    /// The map contents: 16-byte key (IPv4 as `::ffff:a.b.c.d`) to flags.
    pub fn entries(&self) -> HashMap<[u8; 16], u32> {
        let mut out = HashMap::new();
        let lists = [
            (&self.vips, FLAG_VIP),
            (&self.local, FLAG_LOCAL),
            (&self.nat_sources, FLAG_NAT_SOURCE),
        ];
        for (list, flag) in lists {
            for addr in list {
                *out.entry(map_key(*addr)).or_insert(0) |= flag;
            }
        }
        out
    }
}

/// The address map key of `addr`.
pub fn map_key(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Where the XDP program runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// Native if the driver supports it, else generic.
    #[default]
    Auto,
    /// In the driver, before any socket buffer exists (fast; needs driver
    /// support; allows zero-copy AF_XDP).
    Native,
    /// In the kernel's generic receive path (works on every interface,
    /// AF_XDP in copy mode only).
    Generic,
}

impl AttachMode {
    fn flags(self) -> u32 {
        match self {
            AttachMode::Native => sys::XDP_FLAGS_DRV_MODE,
            _ => sys::XDP_FLAGS_SKB_MODE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AttachMode::Auto => "auto",
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        }
    }
}

/// How the program is attached (and so how to detach it).
enum Attachment {
    /// A BPF link: closing it detaches.
    Link(#[allow(dead_code)] OwnedFd),
    /// Netlink `IFLA_XDP`: detached explicitly on drop, through the socket
    /// opened at attach time (it stays in the interface's namespace).
    Netlink { sock: OwnedFd, flags: u32 },
}

/// Forces the attach mechanism (tests exercise both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `BPF_LINK_CREATE`, falling back to netlink when unsupported.
    Link,
    /// Netlink only.
    #[cfg_attr(not(test), allow(dead_code))]
    Netlink,
}

/// A loaded classifier program with its maps, attached to one interface.
pub struct XdpProgram {
    // Declared first so it is dropped (detached) before the program fd.
    attachment: Attachment,
    ifname: String,
    ifindex: u32,
    mode: AttachMode,
    queues: u32,
    _prog: OwnedFd,
    addrs: OwnedFd,
    xsks: OwnedFd,
}

impl XdpProgram {
    /// Loads the program and attaches it to `ifname` (resolved in the
    /// calling thread's network namespace) in `mode`; `Auto` tries native,
    /// then generic. The address map starts with `classifier`'s contents.
    pub fn attach(
        ifname: &str,
        mode: AttachMode,
        classifier: &Classifier,
    ) -> Result<XdpProgram, XdpError> {
        XdpProgram::attach_via(ifname, mode, classifier, Via::Link)
    }

    pub(crate) fn attach_via(
        ifname: &str,
        mode: AttachMode,
        classifier: &Classifier,
        via: Via,
    ) -> Result<XdpProgram, XdpError> {
        let ifindex = if_index(ifname)?;
        let queues = queue_count(ifname);
        let addrs = create_map(sys::MAP_TYPE_HASH, 16, 4, MAX_ADDRESSES, "sy_addrs")?;
        let xsks = create_map(sys::MAP_TYPE_XSKMAP, 4, 4, queues, "sy_xsks")?;
        let insns = classify::program(raw(addrs.as_fd()), raw(xsks.as_fd()))
            .map_err(|e| XdpError::Assemble(e.to_string()))?;
        let prog = sys::prog_load_xdp(&insn::to_bytes(&insns), "switchyard_xdp").map_err(|e| {
            if e.log.is_empty() {
                error::os("bpf(BPF_PROG_LOAD)", e.err)
            } else {
                XdpError::Verifier {
                    err: e.err,
                    log: e.log,
                }
            }
        })?;
        let (attachment, mode) = attach_fd(ifname, ifindex, prog.as_fd(), mode, via)?;
        let program = XdpProgram {
            attachment,
            ifname: ifname.to_string(),
            ifindex,
            mode,
            queues,
            _prog: prog,
            addrs,
            xsks,
        };
        program.update(classifier)?;
        Ok(program)
    }

    /// Replaces the address map's contents with `classifier`'s, live: new
    /// and changed addresses are written before stale ones are deleted, so
    /// an address present in both never disappears in between.
    pub fn update(&self, classifier: &Classifier) -> Result<(), XdpError> {
        update_map(self.addrs.as_fd(), classifier)
    }

    /// The interface index the program is attached to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The mode actually in use (`Native` or `Generic`, never `Auto`).
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The number of receive queues (XSKMAP slots).
    pub fn queues(&self) -> u32 {
        self.queues
    }

    /// The XSKMAP, for [`super::XskPort::open`].
    pub(crate) fn xsk_map(&self) -> BorrowedFd<'_> {
        self.xsks.as_fd()
    }
}

/// A tc ingress program (tcx link) that drops the frames the engine
/// handles, after the AF_PACKET taps have taken their copy: with the
/// AF_PACKET data path the kernel would otherwise run its IP input on each
/// of them for nothing. Same address map and rules as [`XdpProgram`].
pub struct TcShield {
    _link: OwnedFd,
    _prog: OwnedFd,
    addrs: OwnedFd,
    ifname: String,
}

impl TcShield {
    /// Loads the program and attaches it to `ifname`'s ingress (tcx,
    /// Linux 6.6+).
    pub fn attach(ifname: &str, classifier: &Classifier) -> Result<TcShield, XdpError> {
        let ifindex = if_index(ifname)?;
        let addrs = create_map(sys::MAP_TYPE_HASH, 16, 4, MAX_ADDRESSES, "sy_shield")?;
        let insns = classify::build(raw(addrs.as_fd()), classify::Target::TcDrop)
            .map_err(|e| XdpError::Assemble(e.to_string()))?;
        let prog = sys::prog_load(
            &insn::to_bytes(&insns),
            "switchyard_tc",
            sys::PROG_TYPE_SCHED_CLS,
        )
        .map_err(|e| {
            if e.log.is_empty() {
                error::os("bpf(BPF_PROG_LOAD)", e.err)
            } else {
                XdpError::Verifier {
                    err: e.err,
                    log: e.log,
                }
            }
        })?;
        let link = sys::link_create(prog.as_fd(), ifindex, sys::ATTACH_TYPE_TCX_INGRESS, 0)
            .map_err(|e| error::os("bpf(BPF_LINK_CREATE, BPF_TCX_INGRESS)", e))?;
        update_map(addrs.as_fd(), classifier)?;
        Ok(TcShield {
            _link: link,
            _prog: prog,
            addrs,
            ifname: ifname.to_string(),
        })
    }

    /// Replaces the addresses, live.
    pub fn update(&self, classifier: &Classifier) -> Result<(), XdpError> {
        update_map(self.addrs.as_fd(), classifier)
    }

    /// The interface it is attached to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        if let Attachment::Netlink { sock, flags } = &self.attachment {
            // Nothing useful to do with a failure while dropping: the
            // program stays attached until the interface goes away.
            let _ = netlink::set_xdp_fd(sock.as_fd(), self.ifindex, -1, *flags);
        }
    }
}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram")
            .field("ifname", &self.ifname)
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

/// Replaces the address map's contents with `classifier`'s, live: new and
/// changed addresses are written before stale ones are deleted, so an
/// address present in both never disappears in between.
fn update_map(map: BorrowedFd<'_>, classifier: &Classifier) -> Result<(), XdpError> {
    let wanted = classifier.entries();
    if wanted.len() > MAX_ADDRESSES as usize {
        return Err(XdpError::TooManyAddresses {
            count: wanted.len(),
            max: MAX_ADDRESSES,
        });
    }
    let present = sys::map_keys16(map).map_err(|e| error::os("bpf(BPF_MAP_GET_NEXT_KEY)", e))?;
    let stale: Vec<[u8; 16]> = present
        .iter()
        .filter(|k| !wanted.contains_key(*k))
        .copied()
        .collect();
    let added = wanted.keys().filter(|k| !present.contains(k)).count();
    // Only if the map could overflow in between, delete first.
    let delete_first = present.len() + added > MAX_ADDRESSES as usize;
    let delete = |keys: &[[u8; 16]]| -> Result<(), XdpError> {
        for key in keys {
            sys::map_delete(map, key).map_err(|e| error::os("bpf(BPF_MAP_DELETE_ELEM)", e))?;
        }
        Ok(())
    };
    if delete_first {
        delete(&stale)?;
    }
    for (key, flags) in &wanted {
        sys::map_update(map, key, &flags.to_ne_bytes())
            .map_err(|e| error::os("bpf(BPF_MAP_UPDATE_ELEM)", e))?;
    }
    if !delete_first {
        delete(&stale)?;
    }
    Ok(())
}

fn raw(fd: BorrowedFd<'_>) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// `if_nametoindex` in the calling thread's network namespace.
pub(crate) fn if_index(ifname: &str) -> Result<u32, XdpError> {
    let name = CString::new(ifname).map_err(|_| XdpError::NoSuchInterface(ifname.to_string()))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        Err(XdpError::NoSuchInterface(ifname.to_string()))
    } else {
        Ok(index)
    }
}

fn create_map(
    kind: u32,
    key: u32,
    value: u32,
    entries: u32,
    name: &str,
) -> Result<OwnedFd, XdpError> {
    match sys::map_create(kind, key, value, entries, name) {
        Ok(fd) => Ok(fd),
        // Kernels before 5.11 charge maps to RLIMIT_MEMLOCK: lift it once.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && sys::raise_memlock_limit() => {
            sys::map_create(kind, key, value, entries, name)
                .map_err(|e| error::os("bpf(BPF_MAP_CREATE)", e))
        }
        Err(e) => Err(error::os("bpf(BPF_MAP_CREATE)", e)),
    }
}

/// Attaches in the requested mode(s), collecting each failure.
fn attach_fd(
    ifname: &str,
    ifindex: u32,
    prog: BorrowedFd<'_>,
    mode: AttachMode,
    via: Via,
) -> Result<(Attachment, AttachMode), XdpError> {
    let modes: &[AttachMode] = match mode {
        AttachMode::Auto => &[AttachMode::Native, AttachMode::Generic],
        AttachMode::Native => &[AttachMode::Native],
        AttachMode::Generic => &[AttachMode::Generic],
    };
    let mut failures = Vec::new();
    let mut last_errno = 0;
    for &m in modes {
        if via == Via::Link {
            match sys::link_create_xdp(prog, ifindex, m.flags()) {
                Ok(link) => return Ok((Attachment::Link(link), m)),
                // EINVAL is also what kernels without XDP links (< 5.9)
                // answer: try netlink before giving up on this mode.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    failures.push(format!("{} mode via bpf(BPF_LINK_CREATE): {e}", m.name()));
                }
                Err(e) => {
                    last_errno = e.raw_os_error().unwrap_or(0);
                    failures.push(format!("{} mode via bpf(BPF_LINK_CREATE): {e}", m.name()));
                    continue;
                }
            }
        }
        let attempt = netlink::open().and_then(|sock| {
            netlink::set_xdp_fd(sock.as_fd(), ifindex, raw(prog), m.flags())?;
            Ok(sock)
        });
        match attempt {
            Ok(sock) => {
                return Ok((
                    Attachment::Netlink {
                        sock,
                        flags: m.flags(),
                    },
                    m,
                ));
            }
            Err(e) => {
                last_errno = e.raw_os_error().unwrap_or(0);
                failures.push(format!("{} mode via netlink IFLA_XDP: {e}", m.name()));
            }
        }
    }
    Err(XdpError::Attach {
        ifname: ifname.to_string(),
        detail: failures.join("; "),
        hint: error::attach_hint(last_errno),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn keys_map_ipv4_into_ipv6() {
        let key = map_key(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(key, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
        let v6: Ipv6Addr = "2001:db8::1".parse().expect("address");
        assert_eq!(map_key(IpAddr::V6(v6)), v6.octets());
    }

    #[test]
    fn entries_merge_flags_of_an_address_in_several_lists() {
        let a: IpAddr = "10.0.0.1".parse().expect("address");
        let b: IpAddr = "10.0.0.2".parse().expect("address");
        let c = Classifier {
            vips: vec![a],
            local: vec![b],
            nat_sources: vec![a, b],
        };
        let e = c.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[&map_key(a)], FLAG_VIP | FLAG_NAT_SOURCE);
        assert_eq!(e[&map_key(b)], FLAG_LOCAL | FLAG_NAT_SOURCE);
    }
}
