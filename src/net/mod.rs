//! Socket I/O shared by the data paths: [`Stream`] (plain TCP or TLS) as
//! hyper and tokio see it, with plain TCP writes issued as `send`/`sendmsg`
//! and, on worker threads, small writes corked until the end of the
//! worker's run-queue pass ([`cork`]; TLS records included).
//!
//! tokio (through std) writes to sockets with `write`/`writev`, which take
//! the VFS path (file-position lock, iovec import, per-file hooks) on every
//! call; `send`/`sendmsg` go straight to the socket layer, as HAProxy and
//! NGINX do. On a proxy whose CPU time is mostly spent in the kernel's send
//! path this is a measurable saving (see BENCHMARKS.md).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper::rt::{Read, ReadBufCursor, Write};
use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::TcpStream;

pub mod cork;
pub mod lazy;
pub mod stall;

/// Runs a non-blocking socket write, waiting for writability and retrying
/// when the readiness turns out to be stale.
fn poll_write_with(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    mut write: impl FnMut(SockRef<'_>) -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_io(Interest::WRITABLE, || write(SockRef::from(stream))) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return Poll::Ready(other),
        }
    }
}

/// `send(2)` on a non-blocking tokio stream.
pub fn poll_send(stream: &TcpStream, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    poll_write_with(stream, cx, |s| s.send_with_flags(buf, libc::MSG_NOSIGNAL))
}

/// `sendmsg(2)` with several buffers.
pub fn poll_send_vectored(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    poll_write_with(stream, cx, |s| {
        s.send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
    })
}

/// Reads into hyper's buffer through tokio (`recv(2)` underneath).
pub fn poll_read_into<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    buf: &mut ReadBufCursor<'_>,
    mut observe: impl FnMut(&[u8]),
) -> Poll<io::Result<()>> {
    // SAFETY: the tokio ReadBuf only writes initialised bytes into the
    // cursor's spare capacity, and we advance by exactly what it filled.
    let n = unsafe {
        let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
        ready!(Pin::new(stream).poll_read(cx, &mut tbuf))?;
        observe(tbuf.filled());
        tbuf.filled().len()
    };
    // SAFETY: `n` bytes were initialised by the read above.
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

/// Runs `$body` on whichever transport `$stream` holds (each is an Unpin
/// tokio reader/writer; `$s` names it as `&mut`).
macro_rules! each {
    ($stream:expr, $s:ident => $body:expr) => {
        match $stream {
            Stream::Tcp($s) => $body,
            Stream::ServerTls(b) => {
                let $s = b.as_mut();
                $body
            }
            Stream::ClientTls(b) => {
                let $s = b.as_mut();
                $body
            }
        }
    };
}

/// A connection as the HTTP layers see it: plain TCP, or TLS on either side.
/// Implements hyper's `Read`/`Write` (HTTP/1 and HTTP/2 servers, HTTP/1
/// client) and tokio's `AsyncRead`/`AsyncWrite` (the h2 client, tunnels).
/// Plain TCP writes use `send`/`sendmsg` (see the module docs).
pub enum Stream {
    /// Plain TCP, small writes corked on worker threads (see [`cork`]).
    Tcp(cork::Tcp),
    /// Accepted from a client, TLS terminated here.
    ServerTls(Box<tokio_rustls::server::TlsStream<cork::Tcp>>),
    /// Opened to an upstream, TLS originated here.
    ClientTls(Box<tokio_rustls::client::TlsStream<cork::Tcp>>),
}

impl Stream {
    /// A plain TCP stream (corked on worker threads).
    pub fn plain(tcp: TcpStream) -> Stream {
        Stream::Tcp(cork::Tcp::new(tcp))
    }

    /// Frees the corked-write buffer of an idle plain TCP stream.
    pub fn release_memory(&self) {
        if let Stream::Tcp(s) = self {
            s.release_memory();
        }
    }

    /// The socket of an idle plain TCP stream, out of tokio's event loop
    /// (see `http::parked`); `self` back for TLS or when bytes are queued.
    pub fn into_idle_socket(self) -> Result<std::net::TcpStream, Stream> {
        match self {
            Stream::Tcp(t) => t.into_std().map_err(Stream::Tcp),
            other => Err(other),
        }
    }

    /// A plain TCP stream on an accepted socket that is registered with
    /// the event loop only when it has to wait ([`lazy`]).
    pub fn plain_lazy(tcp: std::net::TcpStream) -> Stream {
        Stream::Tcp(cork::Tcp::lazy(tcp))
    }

    /// The TCP socket underneath.
    fn lazy_tcp(&mut self) -> &mut lazy::Lazy {
        match self {
            Stream::Tcp(s) => &mut s.tcp,
            Stream::ServerTls(s) => &mut s.get_mut().0.tcp,
            Stream::ClientTls(s) => &mut s.get_mut().0.tcp,
        }
    }

    /// See [`cork::Tcp::set_send_timeout`] (TLS: the socket underneath).
    pub fn set_send_timeout(&mut self, timeout: Option<std::time::Duration>) {
        match self {
            Stream::Tcp(s) => s.set_send_timeout(timeout),
            Stream::ServerTls(s) => s.get_mut().0.set_send_timeout(timeout),
            Stream::ClientTls(s) => s.get_mut().0.set_send_timeout(timeout),
        }
    }

    /// Waits until the socket underneath is readable (TLS: bytes may be
    /// buffered in rustls already; this looks at the socket only).
    pub async fn readable(&mut self) -> io::Result<()> {
        self.lazy_tcp().readable().await
    }

    /// Reads raw bytes off the socket underneath, bypassing TLS (for
    /// discarding what a closing peer still sends).
    pub fn try_read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lazy_tcp().try_read(buf)
    }

    /// The ALPN protocol TLS negotiated, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Stream::Tcp(_) => None,
            Stream::ServerTls(s) => s.get_ref().1.alpn_protocol(),
            Stream::ClientTls(s) => s.get_ref().1.alpn_protocol(),
        }
    }

    /// Reads into hyper's buffer, showing the bytes to `observe` first.
    #[inline]
    pub fn poll_read_observed(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBufCursor<'_>,
        observe: impl FnMut(&[u8]),
    ) -> Poll<io::Result<()>> {
        each!(self, s => poll_read_into(s, cx, buf, observe))
    }
}

impl Read for Stream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_observed(cx, &mut buf, |_| {})
    }
}

impl Write for Stream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        true
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(self, cx)
    }
}

impl AsyncRead for Stream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        true
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}
