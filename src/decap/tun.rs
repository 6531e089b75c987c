//! The TUN device `switchyard decap` hands inner packets to.
//!
//! This exists because the kernel's own tunnel drivers (`ipip`, `gre`) may
//! be missing: writing a bare IP packet to a TUN device (`IFF_TUN |
//! IFF_NO_PI`) makes the local stack receive it exactly as if it had
//! arrived on that interface, with the inner source and destination
//! addresses. The device lives as long as the file descriptor (it is not
//! made persistent), so it disappears when the process exits.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use super::DecapError;

const TUN_PATH: &str = "/dev/net/tun";

/// An open, up TUN interface.
#[derive(Debug)]
pub(super) struct Tun {
    file: File,
    name: String,
}

/// Checks `name` as a Linux interface name: 1 to 15 bytes, no `/`, `:`,
/// whitespace or NUL, not `.` or `..`.
pub(super) fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// An `ifreq` naming `name` (already validated: shorter than IFNAMSIZ).
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data (a name array and a union of
    // integers, addresses and pointers); all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req
}

/// The name the kernel wrote back into `req`.
fn ifreq_name(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Tun {
    /// Creates TUN interface `name` (IFF_TUN | IFF_NO_PI), not yet up.
    pub(super) fn create(name: &str) -> Result<Tun, DecapError> {
        if !valid_ifname(name) {
            return Err(DecapError::BadTunName(name.to_owned()));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(TUN_PATH)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => DecapError::NoTunDevice(e),
                io::ErrorKind::PermissionDenied => DecapError::NotPermitted {
                    what: "opening /dev/net/tun",
                    source: e,
                },
                _ => DecapError::io(format!("open {TUN_PATH}"), e),
            })?;
        let mut req = ifreq(name);
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req`
        // is; the fd is an open /dev/net/tun.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => DecapError::NotPermitted {
                    what: "creating a TUN interface",
                    source: e,
                },
                // EBUSY: a TUN of that name is attached to another process;
                // EINVAL: an interface of that name exists and is no TUN.
                Some(libc::EBUSY) | Some(libc::EINVAL) => DecapError::TunBusy {
                    name: name.to_owned(),
                    source: e,
                },
                _ => DecapError::io(format!("create TUN interface {name}"), e),
            });
        }
        Ok(Tun {
            file,
            name: ifreq_name(&req),
        })
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Sets the interface administratively up (SIOCSIFFLAGS on an AF_INET
    /// datagram socket, like `ip link set NAME up`).
    pub(super) fn set_up(&self) -> Result<(), DecapError> {
        let ctl = control_socket()?;
        let mut req = ifreq(&self.name);
        let what = || format!("bring interface {} up", self.name);
        // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write one `struct
        // ifreq` (its flags member), which `req` is.
        unsafe {
            if libc::ioctl(ctl.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
                return Err(DecapError::io(what(), io::Error::last_os_error()));
            }
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(ctl.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) < 0 {
                let e = io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::EPERM) | Some(libc::EACCES) => DecapError::NotPermitted {
                        what: "bringing the TUN interface up",
                        source: e,
                    },
                    _ => DecapError::io(what(), e),
                });
            }
        }
        Ok(())
    }

    /// Hands one IP packet to the local stack. A TUN write takes the whole
    /// packet or fails; it never writes part of one.
    pub(super) fn write_packet(&self, packet: &[u8]) -> io::Result<()> {
        let n = (&self.file).write(packet)?;
        if n == packet.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short TUN write: {n} of {} bytes", packet.len()),
            ))
        }
    }
}

/// A socket for interface ioctls.
fn control_socket() -> Result<OwnedFd, DecapError> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(DecapError::io(
            "open a control socket".into(),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(valid_ifname("sydecap0"));
        assert!(valid_ifname("a23456789012345"));
        assert!(!valid_ifname("a234567890123456"));
        for bad in ["", ".", "..", "a/b", "a b", "a:1", "a\0b"] {
            assert!(!valid_ifname(bad), "{bad:?}");
        }
    }

    #[test]
    fn ifreq_round_trips_the_name() {
        assert_eq!(ifreq_name(&ifreq("sydecap0")), "sydecap0");
        assert_eq!(ifreq_name(&ifreq("a23456789012345")), "a23456789012345");
    }
}
