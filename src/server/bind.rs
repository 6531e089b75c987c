//! Binding listening sockets: one per worker, in one `SO_REUSEPORT` group.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `n` sockets on `addr` sharing the port with `SO_REUSEPORT` (the
/// kernel then balances new connections across them). Port 0 is resolved
/// by the first bind and reused for the rest.
///
/// `SO_REUSEPORT` would also let us silently share a port with another
/// process of the same user, so a fixed port is first probed with a plain
/// bind: if anything already listens there, the bind fails with
/// "address in use" as operators expect.
///
/// `client_first`: for listeners whose clients speak first (HTTP, TLS):
/// - accepted sockets start with delayed ACKs (Linux `TCP_QUICKACK` off,
///   inherited from the listener). The kernel would otherwise acknowledge
///   a request at once with a segment of its own; delayed, the ACK rides on
///   the response. That is one TCP segment (and often one wake-up of the
///   client) less per connection: HAProxy's `tcp-smart-accept`, its
///   default in HTTP mode;
/// - connections are handed to `accept` once their first bytes are there
///   (`TCP_DEFER_ACCEPT`), so the first read finds the request.
pub fn bind_group(
    addr: SocketAddr,
    backlog: u32,
    n: usize,
    client_first: bool,
) -> io::Result<Vec<TcpListener>> {
    if addr.port() != 0 {
        let probe = new_socket(addr, false)?;
        probe.bind(&addr.into())?;
    }
    let mut out = Vec::with_capacity(n);
    let mut at = addr;
    for _ in 0..n.max(1) {
        let s = new_socket(at, true)?;
        s.bind(&at.into())?;
        s.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        if client_first {
            // After listen(): listen() resets the socket's ACK state.
            s.set_tcp_quickack(false)?;
            defer_accept(std::os::fd::AsRawFd::as_raw_fd(&s), 1)?;
        }
        if at.port() == 0 {
            at = s
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("listening socket has no IP address"))?;
        }
        out.push(TcpListener::from(s));
    }
    Ok(out)
}

/// Binds `n` UDP sockets on `addr` in one `SO_REUSEPORT` group (the kernel
/// keeps each flow on one socket); port 0 and the in-use probe as for TCP.
pub fn bind_udp_group(addr: SocketAddr, n: usize) -> io::Result<Vec<UdpSocket>> {
    let new = |reuse: bool| -> io::Result<Socket> {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if reuse {
            s.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.set_nonblocking(true)?;
        Ok(s)
    };
    if addr.port() != 0 {
        new(false)?.bind(&addr.into())?;
    }
    let mut out = Vec::with_capacity(n);
    let mut at = addr;
    for _ in 0..n.max(1) {
        let s = new(true)?;
        s.bind(&at.into())?;
        if at.port() == 0 {
            at = s
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("udp socket has no IP address"))?;
        }
        out.push(UdpSocket::from(s));
    }
    Ok(out)
}

/// Turns the client-first options (see [`bind_group`]) on or off on a bound
/// listening socket: a reload may keep a listener's sockets and change its
/// protocol, and a server-speaks-first L4 protocol must not have its
/// connections held back until the client sends.
pub fn set_client_first(l: &TcpListener, on: bool) -> io::Result<()> {
    socket2::SockRef::from(l).set_tcp_quickack(!on)?;
    defer_accept(std::os::fd::AsRawFd::as_raw_fd(l), i32::from(on))
}

/// Whether a listening socket has the client-first options on (read back
/// from `TCP_DEFER_ACCEPT`; false when it cannot be read).
pub fn is_client_first(l: &TcpListener) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a plain getsockopt into an int.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(l),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && v > 0
}

/// `TCP_DEFER_ACCEPT` (`secs` 0: off): a connection is handed to `accept`
/// only once its first bytes arrived (or after about `secs` seconds
/// without any), so the first read finds the request and the socket need
/// not wait for it (NGINX's `deferred`, HAProxy's `defer-accept`). Only for
/// protocols whose client speaks first.
fn defer_accept(fd: std::os::fd::RawFd, secs: libc::c_int) -> io::Result<()> {
    // SAFETY: a plain setsockopt with an int option value.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn new_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux,
    // which saves a setsockopt per connection.
    s.set_tcp_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_group_shares_one_port() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 3, false).unwrap();
        let ports: Vec<u16> = group
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        assert_ne!(ports[0], 0);
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    }

    /// Whether a socket accepted from a fresh group acknowledges at once.
    /// The client stays connected meanwhile: a FIN would change the mode.
    fn accepted_quickack(delayed_ack: bool) -> bool {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 1, delayed_ack).unwrap();
        let addr = group[0].local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        group[0].set_nonblocking(false).unwrap();
        let (accepted, _) = group[0].accept().unwrap();
        socket2::SockRef::from(&accepted).tcp_quickack().unwrap()
    }

    #[test]
    fn accepted_sockets_inherit_delayed_acks_when_asked() {
        assert!(
            !accepted_quickack(true),
            "the accepted socket would acknowledge requests at once"
        );
        assert!(accepted_quickack(false));
    }

    /// Whether `l` has a connection to accept within `ms` milliseconds.
    fn acceptable(l: &TcpListener, ms: i32) -> bool {
        use std::os::fd::AsRawFd;
        let mut fds = libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut fds, 1, ms) == 1 }
    }

    #[test]
    fn http_listeners_hand_over_connections_once_bytes_arrive() {
        use std::io::Write;
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 1, true).unwrap();
        let mut client = std::net::TcpStream::connect(group[0].local_addr().unwrap()).unwrap();
        assert!(
            !acceptable(&group[0], 100),
            "a connection without bytes was ready to accept"
        );
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        assert!(
            acceptable(&group[0], 5000),
            "the request did not release it"
        );
    }

    #[test]
    fn client_first_can_be_turned_off_and_on_again() {
        use std::io::Write;
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 1, true).unwrap();
        let addr = group[0].local_addr().unwrap();
        assert!(is_client_first(&group[0]));
        set_client_first(&group[0], false).unwrap();
        assert!(!is_client_first(&group[0]));
        let _silent = std::net::TcpStream::connect(addr).unwrap();
        assert!(
            acceptable(&group[0], 5000),
            "still deferred after turning it off"
        );
        group[0].set_nonblocking(false).unwrap();
        drop(group[0].accept().unwrap());
        set_client_first(&group[0], true).unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        assert!(
            !acceptable(&group[0], 100),
            "not deferred after turning it on"
        );
        client.write_all(b"x").unwrap();
        assert!(acceptable(&group[0], 5000));
    }

    #[test]
    fn other_listeners_hand_over_connections_at_once() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 1, false).unwrap();
        let _client = std::net::TcpStream::connect(group[0].local_addr().unwrap()).unwrap();
        assert!(acceptable(&group[0], 5000));
    }

    #[test]
    fn accepted_sockets_inherit_nodelay() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 1, false).unwrap();
        let addr = group[0].local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        group[0].set_nonblocking(false).unwrap();
        let (accepted, _) = group[0].accept().unwrap();
        assert!(
            accepted.nodelay().unwrap(),
            "the kernel did not inherit TCP_NODELAY"
        );
    }

    #[test]
    fn a_port_in_use_is_refused() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind_group(taken.local_addr().unwrap(), 16, 1, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
