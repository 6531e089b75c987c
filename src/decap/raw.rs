//! The system-call side of `switchyard decap`: raw IPv4 sockets that
//! receive tunnel packets, batched reception with `recvmmsg(2)`, `poll(2)`
//! over all of them, and the eventfd that wakes the loop to stop.
//!
//! It exists to keep the few `unsafe` blocks the decapsulator needs in one
//! small place. An `AF_INET`/`SOCK_RAW` socket bound to an IP protocol gets
//! a copy of every packet of that protocol addressed to this host, *with*
//! its IPv4 header (and after the kernel reassembled any fragments), even
//! when no kernel module handles the protocol; that is what lets us replace
//! the `ipip` and `gre` drivers.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::DecapError;

/// Largest IPv4 packet: every buffer holds one whole packet.
pub(super) const MAX_PACKET: usize = 65_535;

/// Packets taken per `recvmmsg` call.
pub(super) const BATCH: usize = 32;

/// Receive buffer asked for (best effort): bursts wait here, not on the wire.
const RCVBUF: libc::c_int = 4 << 20;

/// A raw IPv4 socket receiving one IP protocol.
#[derive(Debug)]
pub(super) struct RawSocket {
    fd: OwnedFd,
    proto: u8,
}

impl RawSocket {
    /// Opens a non-blocking raw socket for IP protocol `proto`.
    pub(super) fn open(proto: u8) -> Result<RawSocket, DecapError> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => DecapError::NotPermitted {
                    what: "opening a raw socket",
                    source: e,
                },
                _ => DecapError::io(format!("open a raw socket for IP protocol {proto}"), e),
            });
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: SO_RCVBUF takes a c_int; we pass a pointer to one and its
        // size. Failure only leaves the default buffer size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&RCVBUF as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(RawSocket { fd, proto })
    }

    pub(super) fn proto(&self) -> u8 {
        self.proto
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Receive buffers for one `recvmmsg` batch.
pub(super) struct Batch {
    data: Vec<u8>,
    /// (length, truncated) of each packet of the last batch.
    got: Vec<(usize, bool)>,
}

impl Batch {
    pub(super) fn new() -> Batch {
        Batch {
            data: vec![0; BATCH * MAX_PACKET],
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Takes every packet waiting on `sock`, up to [`BATCH`], without
    /// blocking; returns how many (0 when none was waiting).
    pub(super) fn recv(&mut self, sock: &RawSocket) -> io::Result<usize> {
        self.got.clear();
        let mut iov: Vec<libc::iovec> = self
            .data
            .chunks_exact_mut(MAX_PACKET)
            .map(|buf| libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: mmsghdr is plain old data; all zeros is valid (no
                // name, no control buffer).
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        // SAFETY: `msgs` holds `msgs.len()` headers, each pointing at one
        // iovec of `iov` over a distinct MAX_PACKET-byte region of
        // `self.data`; all outlive the call. No timeout pointer.
        let n = unsafe {
            libc::recvmmsg(
                sock.raw_fd(),
                msgs.as_mut_ptr(),
                msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = usize::try_from(n).unwrap_or(0).min(msgs.len());
        self.got.extend(msgs[..n].iter().map(|m| {
            let len = (m.msg_len as usize).min(MAX_PACKET);
            (len, m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0)
        }));
        Ok(n)
    }

    /// Packet `i` of the last batch and whether the kernel truncated it.
    pub(super) fn packet(&self, i: usize) -> (&[u8], bool) {
        let (len, truncated) = self.got[i];
        let start = i * MAX_PACKET;
        (&self.data[start..start + len], truncated)
    }
}

/// `poll(2)` for readability of `fds`; fills `ready` with the indexes of
/// the readable ones. `timeout_ms` < 0 waits forever. An interrupted call
/// returns with nothing ready.
pub(super) fn poll_readable(
    fds: &[RawFd],
    timeout_ms: libc::c_int,
    ready: &mut Vec<usize>,
) -> io::Result<()> {
    ready.clear();
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(())
        } else {
            Err(e)
        };
    }
    ready.extend(
        pfds.iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
            .map(|(i, _)| i),
    );
    Ok(())
}

/// An eventfd: [`EventFd::signal`] from any thread makes it readable.
#[derive(Debug)]
pub(super) struct EventFd(OwnedFd);

impl EventFd {
    pub(super) fn new() -> Result<EventFd, DecapError> {
        // SAFETY: eventfd(2) with constant arguments; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(DecapError::io(
                "create an eventfd".into(),
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Makes the eventfd readable (adds 1 to its counter).
    pub(super) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: an eventfd write takes exactly 8 bytes from a valid u64.
        // It only fails when the counter would overflow, which still leaves
        // it readable.
        unsafe {
            libc::write(self.raw_fd(), (&one as *const u64).cast(), 8);
        }
    }
}
