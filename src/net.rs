//! Socket I/O shared by the data paths: hyper's `Read`/`Write` over a tokio
//! `TcpStream`, with writes issued as `send`/`sendmsg`.
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
pub fn poll_read_into(
    stream: &mut TcpStream,
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

/// A TCP stream as hyper sees it (used for upstream connections).
pub struct TcpIo(pub TcpStream);

impl Read for TcpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_into(&mut self.get_mut().0, cx, &mut buf, |_| {})
    }
}

impl Write for TcpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_send(&self.0, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_send_vectored(&self.0, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
