//! Attaching XDP through rtnetlink (`RTM_SETLINK` with `IFLA_XDP`).
//!
//! The fallback for kernels without XDP BPF links (before 5.9): one
//! request carrying the program fd and the mode flags, acknowledged by an
//! `NLMSG_ERROR` message whose error field is 0 on success. A program
//! attached this way is not tied to a file descriptor, so the owner must
//! detach it (fd -1) explicitly.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const RTM_SETLINK: u16 = 19;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;

/// Opens a route netlink socket in the calling thread's namespace.
pub fn open() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

/// The `RTM_SETLINK` request setting `prog_fd` (-1: detach) with `flags`.
pub fn set_xdp_request(ifindex: u32, prog_fd: i32, flags: u32, seq: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(52);
    // struct nlmsghdr; the length is patched at the end.
    put_u32(&mut m, 0);
    put_u16(&mut m, RTM_SETLINK);
    put_u16(&mut m, NLM_F_REQUEST | NLM_F_ACK);
    put_u32(&mut m, seq);
    put_u32(&mut m, 0);
    // struct ifinfomsg: family, pad, type, index, flags, change.
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    put_u16(&mut m, 0);
    put_u32(&mut m, ifindex);
    put_u32(&mut m, 0);
    put_u32(&mut m, 0);
    // IFLA_XDP { IFLA_XDP_FD, IFLA_XDP_FLAGS }.
    put_u16(&mut m, 4 + 8 + 8);
    put_u16(&mut m, IFLA_XDP | NLA_F_NESTED);
    put_u16(&mut m, 8);
    put_u16(&mut m, IFLA_XDP_FD);
    m.extend_from_slice(&prog_fd.to_ne_bytes());
    put_u16(&mut m, 8);
    put_u16(&mut m, IFLA_XDP_FLAGS);
    put_u32(&mut m, flags);
    let len = (m.len() as u32).to_ne_bytes();
    m[..4].copy_from_slice(&len);
    m
}

/// The outcome carried by an acknowledgement for `seq`: `None` if `reply`
/// holds no `NLMSG_ERROR` for it, `Some(0)` for success, `Some(errno)`.
pub fn ack_errno(reply: &[u8], seq: u32) -> Option<i32> {
    let mut rest = reply;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let got_seq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if len < 16 || len > rest.len() {
            return None;
        }
        if kind == NLMSG_ERROR && got_seq == seq && len >= 20 {
            let err = i32::from_ne_bytes([rest[16], rest[17], rest[18], rest[19]]);
            return Some(-err);
        }
        rest = &rest[(len + 3) & !3..];
    }
    None
}

/// Sets (or with `prog_fd == -1` clears) the XDP program of `ifindex`.
pub fn set_xdp_fd(sock: BorrowedFd<'_>, ifindex: u32, prog_fd: i32, flags: u32) -> io::Result<()> {
    let seq = 1;
    let req = set_xdp_request(ifindex, prog_fd, flags, seq);
    // SAFETY: an all-zero sockaddr_nl is valid; family set below.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `req` and `kernel` are valid for the lengths passed.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 8192];
    // A bounded number of reads: the ack is the only message expected.
    for _ in 0..16 {
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 2000) };
        if ready == 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no netlink acknowledgement",
            ));
        }
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        match ack_errno(&buf[..n as usize], seq) {
            Some(0) => return Ok(()),
            Some(errno) => return Err(io::Error::from_raw_os_error(errno)),
            None => continue,
        }
    }
    Err(io::Error::other(
        "no netlink acknowledgement among the replies",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let m = set_xdp_request(7, 42, 4, 9);
        assert_eq!(m.len(), 52);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), 52);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_SETLINK);
        assert_eq!(u32::from_ne_bytes([m[20], m[21], m[22], m[23]]), 7);
        assert_eq!(u16::from_ne_bytes([m[34], m[35]]), IFLA_XDP | NLA_F_NESTED);
        assert_eq!(i32::from_ne_bytes([m[40], m[41], m[42], m[43]]), 42);
        assert_eq!(u32::from_ne_bytes([m[48], m[49], m[50], m[51]]), 4);
    }

    #[test]
    fn acks_are_found_and_decoded() {
        let mut reply = Vec::new();
        // An unrelated 16-byte message, then the error message for seq 9.
        put_u32(&mut reply, 16);
        put_u16(&mut reply, 3);
        put_u16(&mut reply, 0);
        put_u32(&mut reply, 9);
        put_u32(&mut reply, 0);
        put_u32(&mut reply, 36);
        put_u16(&mut reply, NLMSG_ERROR);
        put_u16(&mut reply, 0);
        put_u32(&mut reply, 9);
        put_u32(&mut reply, 0);
        reply.extend_from_slice(&(-libc::EBUSY).to_ne_bytes());
        reply.extend_from_slice(&[0u8; 16]);
        assert_eq!(ack_errno(&reply, 9), Some(libc::EBUSY));
        assert_eq!(ack_errno(&reply, 8), None);
        assert_eq!(ack_errno(&reply[..10], 9), None);
    }
}
