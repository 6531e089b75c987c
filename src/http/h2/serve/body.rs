//! A stream's inbound side as the proxy takes it: the request body
//! ([`RequestBody`], streamed to the upstream) and, for an RFC 8441
//! WebSocket stream, the byte stream the tunnel relays ([`StreamIo`]).
//!
//! Both read what the driver put in the stream's [`Slot`] and give the
//! bytes' flow-control window back to the client as they take them, so a
//! client can send no more than the windows allow ahead of the upstream.
//!
//! [`Slot`]: super::shared::Slot

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, StatusCode};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::shared::{HIGH_WATER, Inner, Shared, keep};
use crate::http::body::BodyError;
use crate::http::h2::conn::StreamError;
use crate::http::h2::frame::ErrorCode;

/// The request body ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum BodyEnd {
    /// The client reset the stream (or the connection found it malformed).
    #[error("HTTP/2 request stream reset: {0}")]
    Reset(ErrorCode),
    /// The stream or its connection is gone.
    #[error("HTTP/2 request stream closed")]
    Gone,
}

/// The body of a request on an own-server HTTP/2 stream.
pub struct RequestBody {
    shared: Rc<Shared>,
    id: u32,
    /// What `content-length` says is still to come.
    remaining: Option<u64>,
    /// The client sent `expect: 100-continue` and no `100` went out yet:
    /// it goes when the body is first wanted (as hyper does on HTTP/1.1),
    /// so a request the proxy refuses without reading its body gets its
    /// final answer instead (RFC 9110 §10.1.1).
    expect_continue: bool,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("stream", &self.id)
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl RequestBody {
    pub(super) fn new(
        shared: Rc<Shared>,
        id: u32,
        content_length: Option<u64>,
        expect_continue: bool,
    ) -> RequestBody {
        RequestBody {
            shared,
            id,
            remaining: content_length,
            expect_continue,
        }
    }

    /// The next frame: data, trailers, the end, or why the stream ended.
    pub fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let id = self.id;
        let remaining = &mut self.remaining;
        let expect_continue = std::mem::take(&mut self.expect_continue);
        self.shared.with(|inner| {
            let Inner { conn, slots, .. } = inner;
            let Some(slot) = slots.get_mut(&id) else {
                return Poll::Ready(Some(Err(BodyEnd::Gone.into())));
            };
            if let Some(code) = slot.reset {
                return Poll::Ready(Some(Err(BodyEnd::Reset(code).into())));
            }
            if expect_continue && slot.data.is_empty() && !slot.end {
                // Fails only when a final head went out already (the
                // upstream answered early): then no `100` is due.
                let _ = conn.send_response(id, StatusCode::CONTINUE, &HeaderMap::new(), false);
            }
            if let Some(data) = slot.data.pop_front() {
                conn.consumed(id, data.len());
                if let Some(r) = remaining {
                    *r = r.saturating_sub(data.len() as u64);
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if let Some(t) = slot.trailers.take() {
                return Poll::Ready(Some(Ok(Frame::trailers(t))));
            }
            if slot.end {
                return Poll::Ready(None);
            }
            keep(&mut slot.reader, cx);
            Poll::Pending
        })
    }

    /// Everything was taken: the client ended the stream and no data or
    /// trailers are left.
    pub fn is_end_stream(&self) -> bool {
        let inner = self.shared.inner();
        inner
            .slots
            .get(&self.id)
            .is_some_and(|s| s.end && s.data.is_empty() && s.trailers.is_none())
    }

    /// Exact when the request has a `content-length`.
    pub fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// An RFC 8441 WebSocket stream as a byte stream, for the tunnel: reads
/// take the stream's DATA, writes send DATA within the windows, shutdown
/// ends the stream.
pub struct StreamIo {
    shared: Rc<Shared>,
    id: u32,
    /// Part of a DATA payload not read yet.
    partial: Bytes,
}

impl StreamIo {
    pub(super) fn new(shared: Rc<Shared>, id: u32) -> StreamIo {
        StreamIo {
            shared,
            id,
            partial: Bytes::new(),
        }
    }
}

fn broken(e: StreamError) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, e)
}

impl AsyncRead for StreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.partial.is_empty() {
            let id = this.id;
            let next = this.shared.with(|inner| {
                let Inner { conn, slots, .. } = inner;
                let Some(slot) = slots.get_mut(&id) else {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::ConnectionReset)));
                };
                if slot.reset.is_some() {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::ConnectionReset)));
                }
                if let Some(data) = slot.data.pop_front() {
                    conn.consumed(id, data.len());
                    return Poll::Ready(Ok(data));
                }
                if slot.end {
                    // End of the client's side (trailers mean nothing here).
                    return Poll::Ready(Ok(Bytes::new()));
                }
                keep(&mut slot.reader, cx);
                Poll::Pending
            });
            this.partial = std::task::ready!(next)?;
        }
        let n = this.partial.len().min(buf.remaining());
        buf.put_slice(&this.partial[..n]);
        this.partial.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let id = this.id;
        this.shared.with(|inner| {
            if inner.conn.queued_bytes() > HIGH_WATER {
                inner.room.push(cx.waker().clone());
                return Poll::Pending;
            }
            let mut data = Bytes::copy_from_slice(buf);
            let n = inner.conn.send_data(id, &mut data, false).map_err(broken)?;
            if n == 0 && !buf.is_empty() {
                match inner.slots.get_mut(&id) {
                    Some(slot) => keep(&mut slot.sender, cx),
                    None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                }
                return Poll::Pending;
            }
            Poll::Ready(Ok(n))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let id = this.id;
        this.shared.with(|inner| {
            let mut empty = Bytes::new();
            match inner.conn.send_data(id, &mut empty, true) {
                Ok(_) => {
                    if let Some(slot) = inner.slots.get_mut(&id) {
                        slot.response_done = true;
                    }
                    Poll::Ready(Ok(()))
                }
                Err(e) => Poll::Ready(Err(broken(e))),
            }
        })
    }
}
