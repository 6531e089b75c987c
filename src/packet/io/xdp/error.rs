//! Errors of the AF_XDP fast path, worded for the operator.
//!
//! Every failing system call becomes an [`XdpError`] naming the call, the
//! errno and, where the cause is predictable, what to do about it (run as
//! root, pick the generic mode, fall back to `data_path = "af_packet"`).
//! The hints live in one table here instead of at each call site.

use std::io;

/// What went wrong while setting up or driving the AF_XDP data path.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The interface name does not resolve in this network namespace.
    #[error("interface {0:?} does not exist in this network namespace")]
    NoSuchInterface(String),
    /// A system call failed.
    #[error("{call} failed: {err}{hint}")]
    Os {
        /// The call and its important argument, e.g. `bpf(BPF_MAP_CREATE)`.
        call: &'static str,
        /// The errno.
        err: io::Error,
        /// `"; <advice>"` or empty.
        hint: &'static str,
    },
    /// The kernel verifier rejected the program (a bug in `classify.rs`).
    #[error("the kernel verifier rejected the XDP program ({err}); verifier log:\n{log}")]
    Verifier {
        /// The errno of `BPF_PROG_LOAD`.
        err: io::Error,
        /// The verifier's log (its end, if long).
        log: String,
    },
    /// Attaching the program to the interface failed in every mode tried.
    #[error("cannot attach the XDP program to {ifname:?}: {detail}{hint}")]
    Attach {
        /// The interface.
        ifname: String,
        /// Each mode tried and how it failed.
        detail: String,
        /// `"; <advice>"` or empty.
        hint: &'static str,
    },
    /// [`super::XskOptions`] are out of range.
    #[error("invalid AF_XDP socket options: {0}")]
    Options(String),
    /// The classifier holds more addresses than the map.
    #[error("the classifier lists {count} addresses; the XDP address map holds at most {max}")]
    TooManyAddresses {
        /// Distinct addresses in the classifier.
        count: usize,
        /// Capacity of the map.
        max: u32,
    },
    /// The program text does not assemble (a bug, not an operator error).
    #[error("internal error assembling the XDP program: {0}")]
    Assemble(String),
}

const ROOT: &str = "; run as root (CAP_NET_ADMIN and CAP_BPF, or CAP_SYS_ADMIN); \
                    inside a container bpf() may also be blocked by seccomp";
const NO_BPF: &str = "; this kernel has no bpf() system call (CONFIG_BPF_SYSCALL); \
                      use data_path = \"af_packet\"";
const NO_XSK: &str = "; this kernel has no AF_XDP sockets (needs Linux 4.18+ with \
                      CONFIG_XDP_SOCKETS); use data_path = \"af_packet\"";
const MEMLOCK: &str = "; out of locked memory: raise the memlock limit (ulimit -l, \
                       LimitMEMLOCK=) or use fewer UMEM frames";
const OLD_KERNEL: &str = "; the kernel is probably too old (the AF_XDP data path needs \
                          Linux 5.9+); use data_path = \"af_packet\"";

/// Builds [`XdpError::Os`] with the advice that fits `call` and the errno.
pub fn os(call: &'static str, err: io::Error) -> XdpError {
    let hint = hint(call, err.raw_os_error().unwrap_or(0));
    XdpError::Os { call, err, hint }
}

/// The advice for a failed call, or "" when there is nothing useful to say.
pub fn hint(call: &str, errno: i32) -> &'static str {
    match errno {
        libc::EPERM | libc::EACCES => ROOT,
        libc::ENOSYS => NO_BPF,
        libc::EAFNOSUPPORT if call.starts_with("socket") => NO_XSK,
        libc::ENOMEM | libc::ENOBUFS => MEMLOCK,
        libc::EBUSY if call.starts_with("bind") => {
            "; another AF_XDP socket is already bound to this queue (another engine instance?)"
        }
        libc::EINVAL if call.starts_with("bind") => {
            "; the queue does not exist on this interface, or the XDP program is attached \
             in a mode this socket cannot use"
        }
        libc::EINVAL | libc::E2BIG if call.starts_with("bpf") => OLD_KERNEL,
        libc::ENOPROTOOPT | libc::EOPNOTSUPP if call.starts_with("setsockopt") => OLD_KERNEL,
        _ => "",
    }
}

/// The advice for an attach failure (`BPF_LINK_CREATE` or netlink).
pub fn attach_hint(errno: i32) -> &'static str {
    match errno {
        libc::EPERM | libc::EACCES => ROOT,
        libc::EBUSY | libc::EEXIST => {
            "; another XDP program is already attached to this interface \
             (see `ip link show`; remove it with `ip link set dev IF xdp off`)"
        }
        libc::EOPNOTSUPP | libc::EINVAL | libc::ERANGE => {
            "; the interface has no XDP support in this mode (or its MTU is too large for \
             native XDP); try mode = \"generic\" or use data_path = \"af_packet\""
        }
        libc::ENOSYS => NO_BPF,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_call_the_errno_and_the_remedy() {
        let e = os(
            "bpf(BPF_MAP_CREATE)",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        let text = e.to_string();
        assert!(text.starts_with("bpf(BPF_MAP_CREATE) failed: "), "{text}");
        assert!(text.contains("Operation not permitted"), "{text}");
        assert!(text.contains("run as root"), "{text}");

        let e = os(
            "socket(AF_XDP)",
            io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
        );
        assert!(e.to_string().contains("af_packet"), "{e}");

        let e = os(
            "getsockopt(XDP_OPTIONS)",
            io::Error::from_raw_os_error(libc::EIO),
        );
        assert!(
            e.to_string().ends_with("Input/output error (os error 5)"),
            "{e}"
        );
    }

    #[test]
    fn attach_advice() {
        assert!(attach_hint(libc::EOPNOTSUPP).contains("generic"));
        assert!(attach_hint(libc::EBUSY).contains("xdp off"));
        assert_eq!(attach_hint(libc::EIO), "");
    }
}
