//! An upgraded connection (WebSocket after `101 Switching Protocols`): from
//! here on the client and upstream connections are relayed byte for byte
//! in both directions, with the listener's `tunnel_idle_timeout` (no byte
//! either way for that long closes both). Bytes either side sent right
//! after the handshake (already read by the HTTP layers) go first.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::conn::ConnState;
use crate::net::Stream;

/// The upstream connection of an upgrade, with what the upstream sent
/// after its `101` response head.
pub struct UpstreamSide {
    pub io: Stream,
    pub buf: Bytes,
    /// The tunnel counts as a request in flight on its endpoint until it
    /// ends (least-connections balancing, `max_connections_per_endpoint`).
    pub slot: Option<crate::upstream::InFlight>,
}

/// Relays until both directions end, an error, the idle timeout or a
/// shutdown deadline (the worker drops the task). `client` is the client
/// connection (HTTP/1.1 upgrade) or an HTTP/2 stream (RFC 8441).
pub async fn run<C>(client: C, client_buf: Bytes, mut up: UpstreamSide, state: &Rc<ConnState>)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let idle = state.listener.tunnel_idle_timeout;
    let last = Rc::new(Cell::new(Instant::now()));
    let mut client = Seen {
        io: client,
        last: last.clone(),
    };
    if !client_buf.is_empty() && up.io.write_all(&client_buf).await.is_err() {
        return;
    }
    if !up.buf.is_empty() && client.io.write_all(&up.buf).await.is_err() {
        return;
    }
    let mut upstream = Seen {
        io: up.io,
        last: last.clone(),
    };
    let relay = tokio::io::copy_bidirectional(&mut client, &mut upstream);
    tokio::pin!(relay);
    let timer = tokio::time::sleep(idle);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            res = relay.as_mut() => {
                match res {
                    Ok((to_up, to_client)) => tracing::debug!(peer = %state.peer, to_up, to_client, "tunnel closed"),
                    Err(e) => tracing::debug!(peer = %state.peer, error = %e, "tunnel ended with an error"),
                }
                return;
            }
            _ = timer.as_mut() => {
                let deadline = last.get() + idle;
                if Instant::now() >= deadline {
                    tracing::debug!(peer = %state.peer, ?idle, "closing idle tunnel");
                    return;
                }
                timer.as_mut().reset(deadline);
            }
        }
    }
}

/// A stream that records when bytes last came through it.
struct Seen<T> {
    io: T,
    last: Rc<Cell<Instant>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Seen<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.last.set(Instant::now());
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Seen<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
