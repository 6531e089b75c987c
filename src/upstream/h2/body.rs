//! Both bodies of an upstream HTTP/2 exchange: the request body pump (a
//! local task feeding the stream under flow control) and [`H2Body`], the
//! response body.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::h2::{Reason, RecvStream, SendStream};
use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::task::JoinHandle;

use super::Slot;

/// Aborts the request body pump when the exchange is over.
pub(super) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts streaming `body` into the stream `tx` on a local task; the task
/// is aborted when the returned guard is dropped.
pub(super) fn spawn_pump<B>(body: B, tx: SendStream<Bytes>) -> AbortOnDrop
where
    B: Body<Data = Bytes> + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    AbortOnDrop(tokio::task::spawn_local(pump(body, tx)))
}

/// Why the request body pump stopped early.
enum PumpError<E> {
    /// The request body (the client) failed: the stream is reset.
    Body(E),
    /// The upstream stream stopped taking data (reset, closed).
    Stream(::h2::Error),
}

/// Streams the request body to the upstream; runs as a local task.
async fn pump<B>(mut body: B, mut tx: SendStream<Bytes>)
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    match pump_body(&mut body, &mut tx).await {
        Ok(()) => {}
        Err(PumpError::Body(e)) => {
            tracing::debug!(error = %e, "request body failed; resetting the upstream stream");
            tx.send_reset(Reason::CANCEL);
        }
        Err(PumpError::Stream(e)) => {
            tracing::debug!(error = %e, "upstream stream stopped taking the request body");
        }
    }
}

async fn pump_body<B>(body: &mut B, tx: &mut SendStream<Bytes>) -> Result<(), PumpError<B::Error>>
where
    B: Body<Data = Bytes> + Unpin,
{
    loop {
        // Wait for the client, but stop as soon as the upstream resets the
        // stream (e.g. it answered early and wants no more).
        let frame = poll_fn(|cx| {
            if let Poll::Ready(r) = tx.poll_reset(cx) {
                let e = r.map_or_else(|e| e, ::h2::Error::from);
                return Poll::Ready(Err(PumpError::Stream(e)));
            }
            Pin::new(&mut *body).poll_frame(cx).map(Ok)
        })
        .await?;
        let Some(frame) = frame else {
            // Over without end-of-stream on the last data frame.
            return tx.send_data(Bytes::new(), true).map_err(PumpError::Stream);
        };
        let frame = frame.map_err(PumpError::Body)?;
        let mut data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(mut trailers) = frame.into_trailers() {
                    // Fields that must not be trailers are left out, as
                    // towards HTTP/1.1.
                    crate::http::headers::clean_trailers(&mut trailers);
                    tx.reserve_capacity(0);
                    return tx.send_trailers(trailers).map_err(PumpError::Stream);
                }
                continue;
            }
        };
        let eos = body.is_end_stream();
        if data.is_empty() {
            if eos {
                return tx.send_data(data, true).map_err(PumpError::Stream);
            }
            continue;
        }
        // Send only what the windows allow: h2 would otherwise buffer the
        // rest of the chunk.
        while !data.is_empty() {
            tx.reserve_capacity(data.len());
            let cap = poll_fn(|cx| poll_send_capacity(tx, cx))
                .await
                .map_err(PumpError::Stream)?;
            let piece = data.split_to(cap.min(data.len()));
            tx.send_data(piece, eos && data.is_empty())
                .map_err(PumpError::Stream)?;
        }
        if eos {
            return Ok(());
        }
    }
}

/// Waits until the stream may send at least one byte.
fn poll_send_capacity(
    tx: &mut SendStream<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<Result<usize, ::h2::Error>> {
    loop {
        let cap = tx.capacity();
        if cap > 0 {
            return Poll::Ready(Ok(cap));
        }
        match ready!(tx.poll_capacity(cx)) {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Poll::Ready(Err(e)),
            // The stream no longer sends (reset by the upstream).
            None => return Poll::Ready(Err(Reason::STREAM_CLOSED.into())),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Data,
    Trailers,
    Done,
}

/// A response body from an upstream HTTP/2 stream: data frames, then the
/// trailers if any. Consumed data is handed back to the upstream's flow
/// control window. The stream slot is released when the body ends or is
/// dropped; dropping it early resets the stream (`CANCEL`), and so does
/// ending it while the request body is still being sent (the exchange is
/// over: the request body pump is stopped).
pub struct H2Body {
    recv: RecvStream,
    phase: Phase,
    slot: Option<Slot>,
    pump: Option<AbortOnDrop>,
}

impl H2Body {
    pub(super) fn new(recv: RecvStream, slot: Slot, pump: Option<AbortOnDrop>) -> H2Body {
        H2Body {
            recv,
            phase: Phase::Data,
            slot: Some(slot),
            pump,
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        self.slot = None;
        self.pump = None;
    }
}

impl Body for H2Body {
    type Data = Bytes;
    type Error = ::h2::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ::h2::Error>>> {
        let this = self.get_mut();
        while this.phase == Phase::Data {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // The bytes leave h2's buffer: let the upstream send more.
                    // (Fails only when releasing more than was received.)
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    if !data.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Some(Err(e)) => {
                    this.finish();
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.phase = Phase::Trailers,
            }
        }
        if this.phase == Phase::Trailers {
            let polled = ready!(this.recv.poll_trailers(cx));
            this.finish();
            return Poll::Ready(match polled {
                Ok(Some(trailers)) => Some(Ok(Frame::trailers(trailers))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            });
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.phase == Phase::Done || self.recv.is_end_stream()
    }
}
