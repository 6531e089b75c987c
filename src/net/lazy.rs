//! A TCP socket registered with the event loop only once it has to wait.
//!
//! tokio registers every socket with epoll when it is made (one
//! `epoll_ctl(ADD)`) and removes it when dropped (one `epoll_ctl(DEL)`). On
//! a one-request connection that is two system calls out of about ten, and
//! about 6 % of the proxy's CPU (perf, `l7-close`); and the first read
//! waits for an epoll round even when the request is already there. HAProxy
//! avoids both with speculative I/O: it tries the read or write first and
//! subscribes to readiness only when the call would block.
//!
//! [`Lazy`] does the same for accepted client sockets: reads and writes go
//! straight to the socket (`recv`/`send`) until one would block; only then
//! is the socket handed to tokio, which registers it (edge-triggered epoll
//! reports readiness that is already there at registration, so no wake-up
//! is lost). A connection whose request was there at accept and whose
//! response fit the socket buffer never touches epoll.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP socket, raw (not registered) or registered with tokio.
pub struct Lazy {
    state: State,
}

enum State {
    Raw(std::net::TcpStream),
    Registered(TcpStream),
    /// Registration failed; the error was returned once.
    Failed,
}

impl Lazy {
    /// A socket already registered with tokio.
    pub fn registered(tcp: TcpStream) -> Lazy {
        Lazy {
            state: State::Registered(tcp),
        }
    }

    /// No socket (what is left after [`Lazy::into_std`] took it out of a
    /// wrapper that must stay whole).
    pub(crate) fn failed() -> Lazy {
        Lazy {
            state: State::Failed,
        }
    }

    /// A non-blocking socket, registered when an operation would block.
    pub fn raw(tcp: std::net::TcpStream) -> Lazy {
        Lazy {
            state: State::Raw(tcp),
        }
    }

    /// The socket itself, removed from tokio's event loop if it was
    /// registered (`http::parked` watches idle sockets itself).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        match self.state {
            State::Raw(s) => Ok(s),
            State::Registered(t) => t.into_std(),
            State::Failed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Whether the socket is registered with tokio yet.
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
    }

    /// The tokio stream, registering the socket first if needed.
    pub fn register(&mut self) -> io::Result<&mut TcpStream> {
        if matches!(self.state, State::Raw(_))
            && let State::Raw(std) = std::mem::replace(&mut self.state, State::Failed)
        {
            self.state = State::Registered(TcpStream::from_std(std)?);
        }
        match &mut self.state {
            State::Registered(t) => Ok(t),
            _ => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket registration failed",
            )),
        }
    }

    fn sock(&self) -> Option<SockRef<'_>> {
        match &self.state {
            State::Raw(s) => Some(SockRef::from(s)),
            State::Registered(t) => Some(SockRef::from(t)),
            State::Failed => None,
        }
    }

    /// Waits until the socket is readable.
    pub async fn readable(&mut self) -> io::Result<()> {
        self.register()?.readable().await
    }

    /// Copies what the socket holds into `buf` without taking it off the
    /// socket (`MSG_PEEK`), waiting for a first byte when there is none.
    /// `Ok(0)`: the peer closed.
    pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let State::Raw(s) = &self.state {
            match s.peek(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
        self.register()?.peek(buf).await
    }

    /// Reads what the socket holds now (`WouldBlock` when nothing).
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.state {
            State::Raw(s) => io::Read::read(&mut &*s, buf),
            // tokio's own, so that `WouldBlock` clears its readiness.
            State::Registered(t) => t.try_read(buf),
            State::Failed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Reads into `buf`.
    pub fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let State::Raw(s) = &self.state {
            // SAFETY: `recv` writes initialised bytes only, and the buffer
            // is advanced by exactly what it wrote.
            let unfilled: &mut [MaybeUninit<u8>] = unsafe { buf.unfilled_mut() };
            match SockRef::from(s).recv(unfilled) {
                Ok(n) => {
                    // SAFETY: `recv` initialised the first `n` bytes.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Pin::new(self.register()?).poll_read(cx, buf)
    }

    /// `send(2)`.
    pub fn poll_send(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if let State::Raw(s) = &self.state {
            match SockRef::from(s).send_with_flags(data, libc::MSG_NOSIGNAL) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
        super::poll_send(self.register()?, cx, data)
    }

    /// `sendmsg(2)` with several buffers.
    pub fn poll_send_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let State::Raw(s) = &self.state {
            match SockRef::from(s).send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
        super::poll_send_vectored(self.register()?, cx, bufs)
    }

    /// Shuts down the sending side.
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Raw(s) => Poll::Ready(s.shutdown(std::net::Shutdown::Write)),
            State::Registered(t) => AsyncWrite::poll_shutdown(Pin::new(t), cx),
            State::Failed => Poll::Ready(Ok(())),
        }
    }

    /// Sets or clears TCP_NODELAY.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock().map_or(Ok(()), |s| s.set_tcp_nodelay(on))
    }
}

impl AsRawFd for Lazy {
    fn as_raw_fd(&self) -> RawFd {
        match &self.state {
            State::Raw(s) => s.as_raw_fd(),
            State::Registered(t) => t.as_raw_fd(),
            State::Failed => -1,
        }
    }
}

impl AsyncRead for Lazy {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Lazy::poll_read(self.get_mut(), cx, buf)
    }
}

#[cfg(test)]
mod tests;
