//! The request body the proxy forwards upstream.
//!
//! Requests arrive three ways: through hyper's servers (HTTP/1.1 requests
//! with a body, an upgrade or anything unusual; HTTP/2 when the own server
//! is switched off), whose body is hyper's [`Incoming`]; through the
//! proxy's own HTTP/1.1 reader ([`super::h1`]), which takes only requests
//! that carry no body; and through the own HTTP/2 server
//! ([`super::h2::serve`]), whose bodies are the stream's DATA frames. hyper
//! offers no public way to make an empty `Incoming`, so the forwarding path
//! speaks this enum instead.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::body::BodyError;

/// A request body: nothing, or what hyper reads from the client.
#[derive(Debug, Default)]
pub enum ReqBody {
    /// No body (no `Content-Length`, no `Transfer-Encoding`).
    #[default]
    Empty,
    /// Streamed from the client by hyper.
    Incoming(Incoming),
    /// Streamed from an HTTP/2 stream of the own server.
    H2(super::h2::serve::RequestBody),
    /// A body whose progress the request's wait for a response watches
    /// (see [`BodyWatch`]).
    Watched(Box<Watched>),
}

/// A body and the [`BodyWatch`] it reports to.
#[derive(Debug)]
pub struct Watched {
    body: ReqBody,
    watch: Arc<BodyWatch>,
}

/// How far a request body has been forwarded, shared by the body (polled
/// by whatever drives the upstream connection: the request's own task, or
/// an HTTP/2 connection's task) and the request waiting for its response
/// (`http::wait`): it tells a pause in the body from a wait for the
/// response, and whose pause it is.
#[derive(Debug, Default)]
pub struct BodyWatch {
    /// Frames taken from the client so far.
    frames: AtomicU64,
    /// The last poll found nothing from the client yet (so a pause is the
    /// client's; otherwise the upstream has stopped taking the body).
    waiting_on_client: AtomicBool,
    /// The body ended (or failed): the response wait starts.
    done: AtomicBool,
    /// Woken when `done` is set.
    waker: AtomicWaker,
}

impl BodyWatch {
    /// Frames taken so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Acquire)
    }

    /// Whether the body is complete (or failed).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Whether the body waits for the client (rather than for the
    /// upstream to take more).
    pub fn waiting_on_client(&self) -> bool {
        self.waiting_on_client.load(Ordering::Acquire)
    }

    /// Wakes `cx`'s task when the body is done; call before
    /// [`is_done`](Self::is_done), so no end is missed.
    pub fn register(&self, cx: &Context<'_>) {
        self.waker.register(cx.waker());
    }

    /// The body found nothing from the client yet.
    pub(super) fn note_pending(&self) {
        self.waiting_on_client.store(true, Ordering::Release);
    }

    /// The body yielded a frame.
    pub(super) fn note_frame(&self) {
        self.frames.fetch_add(1, Ordering::AcqRel);
        self.waiting_on_client.store(false, Ordering::Release);
    }

    /// The body ended (or failed).
    pub(super) fn finish(&self) {
        self.done.store(true, Ordering::Release);
        self.waker.wake();
    }
}

impl ReqBody {
    /// Wraps a body that is still to come so that `watch` follows it;
    /// `None` (and the body unchanged) when it has already ended.
    pub fn watch(&mut self) -> Option<Arc<BodyWatch>> {
        if self.is_end_stream() {
            return None;
        }
        let watch = Arc::new(BodyWatch::default());
        let body = std::mem::take(self);
        *self = ReqBody::Watched(Box::new(Watched {
            body,
            watch: Arc::clone(&watch),
        }));
        Some(watch)
    }
}

impl From<Incoming> for ReqBody {
    fn from(b: Incoming) -> ReqBody {
        ReqBody::Incoming(b)
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Incoming(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            ReqBody::H2(b) => b.poll_frame(cx),
            ReqBody::Watched(w) => {
                let polled = Pin::new(&mut w.body).poll_frame(cx);
                let watch = &w.watch;
                match &polled {
                    Poll::Pending => watch.note_pending(),
                    Poll::Ready(Some(Ok(_))) => {
                        watch.note_frame();
                        if w.body.is_end_stream() {
                            watch.finish();
                        }
                    }
                    Poll::Ready(_) => watch.finish(),
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Incoming(b) => b.is_end_stream(),
            ReqBody::H2(b) => b.is_end_stream(),
            ReqBody::Watched(w) => w.body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Incoming(b) => b.size_hint(),
            ReqBody::H2(b) => b.size_hint(),
            ReqBody::Watched(w) => w.body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn an_empty_body_ends_at_once_with_a_zero_size() {
        let mut b = ReqBody::default();
        assert!(b.is_end_stream());
        assert_eq!(b.size_hint().exact(), Some(0));
        assert!(b.frame().await.is_none());
    }
}
