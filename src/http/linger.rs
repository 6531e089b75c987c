//! Lingering close: how the proxy ends a client connection the client may
//! still be writing to.
//!
//! Closing a socket with unread bytes makes the kernel send a reset, and a
//! reset can reach the client before it has read what the proxy sent last
//! (a GOAWAY for a flood, a `431` for an oversized head, a `400` for a
//! malformed one), so the client sees a broken pipe instead of the reason.
//! Like NGINX's `lingering_close` and HAProxy's, the proxy shuts its sending
//! side, then reads and discards what still arrives until the client closes
//! (or for at most [`LINGER_TIME`] and [`LINGER_BYTES`]), then closes.
//!
//! hyper's servers own the socket while they run and drop it when they end,
//! with an error too; [`LingerIo`] is the socket as they see it, and hands
//! it to a [`Linger`] slot instead of closing it when a lingering close is
//! wanted: after the server shut it down (HTTP/2), or when the owner asks
//! because the server ended on a malformed request (HTTP/1.1).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::Instant;

use super::conn::ClientIo;
use crate::net::Stream;

/// The longest a closed connection's socket is read and discarded.
pub(super) const LINGER_TIME: Duration = Duration::from_secs(1);
/// The most bytes discarded in that time; a client sending more is reset.
const LINGER_BYTES: usize = 1 << 20;

/// Where a [`LingerIo`] leaves its socket when it is dropped and a
/// lingering close is wanted.
#[derive(Default)]
pub(super) struct Linger {
    wanted: Cell<bool>,
    /// Whether the sending side is shut already.
    shut: Cell<bool>,
    stream: Cell<Option<Stream>>,
}

impl Linger {
    /// Asks for a lingering close when the socket is dropped.
    pub(super) fn want(&self) {
        self.wanted.set(true);
    }

    /// Closes the socket left here, if any, lingering: its sending side is
    /// shut (unless it was), then it is read to the end.
    pub(super) async fn close(&self) {
        if let Some(mut stream) = self.stream.take() {
            if !self.shut.get() {
                let _ = tokio::time::timeout(
                    LINGER_TIME,
                    tokio::io::AsyncWriteExt::shutdown(&mut stream),
                )
                .await;
            }
            Box::pin(linger_close(stream)).await;
        }
    }
}

/// A client connection as one of hyper's servers sees it (see the module
/// header).
pub(super) struct LingerIo {
    io: Option<ClientIo>,
    linger: Rc<Linger>,
}

impl LingerIo {
    pub(super) fn new(io: ClientIo, linger: Rc<Linger>) -> Self {
        LingerIo {
            io: Some(io),
            linger,
        }
    }

    /// The connection back, for the owner to go on with it.
    pub(super) fn into_inner(mut self) -> Option<ClientIo> {
        self.io.take()
    }

    fn io(&mut self) -> io::Result<Pin<&mut ClientIo>> {
        match &mut self.io {
            Some(io) => Ok(Pin::new(io)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Drop for LingerIo {
    fn drop(&mut self) {
        if self.linger.wanted.get()
            && let Some(io) = self.io.take()
        {
            self.linger.stream.set(Some(io.stream));
        }
    }
}

impl Read for LingerIo {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().io()?.poll_read(cx, buf)
    }
}

impl Write for LingerIo {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io()?.poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = std::task::ready!(this.io()?.poll_shutdown(cx));
        // A server that shut the connection down is ending it: linger.
        this.linger.shut.set(true);
        this.linger.want();
        Poll::Ready(res)
    }
}

/// Reads and discards what the client still sends after the server's
/// shutdown, until it closes, [`LINGER_TIME`] passes or [`LINGER_BYTES`]
/// were read; then the socket is closed.
pub(super) async fn linger_close(mut stream: Stream) {
    let deadline = Instant::now() + LINGER_TIME;
    let mut buf = vec![0u8; 16 << 10];
    let mut left = LINGER_BYTES;
    loop {
        match tokio::time::timeout_at(deadline, stream.readable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        match stream.try_read_raw(&mut buf) {
            Ok(0) => return,
            Ok(n) if n >= left => return,
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
