//! One stream of an own-server HTTP/2 connection: the request built from
//! the stream's head, the proxy's answer sent back as HEADERS, DATA (within
//! the client's windows and the connection's output bound) and trailers,
//! or the stream turned into a WebSocket tunnel (RFC 8441).
//!
//! Streams are futures polled by the connection's task ([`StreamTask`]),
//! not tasks of their own: no spawn, no cross-task wake-up per stream, and
//! a stream the client resets is dropped at its next poll.
//!
//! A response waiting for the client's window is bounded by the listener's
//! `send_timeout`, as a write to a client that does not read is: a client
//! that never opens its window (the HTTP/2 slow read) would otherwise hold
//! the stream, and its upstream request, for as long as the connection
//! lives. Past it the stream is reset; the connection goes on.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Uri, Version};
use http_body::Body;

use super::body::{RequestBody, StreamIo};
use super::shared::{HIGH_WATER, Shared, keep};
use crate::http::conn::ConnState;
use crate::http::h2::conn::RequestHead;
use crate::http::h2::frame::ErrorCode;
use crate::http::req_body::ReqBody;
use crate::net::stall::StallClock;

/// Marks a request as coming from an own-server HTTP/2 stream (its id),
/// for the proxy's RFC 8441 tunnel hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnStream(pub u32);

/// Builds the proxy's request from a stream's head. `None`: the head's URI
/// parts do not make a URI (the stream is reset).
pub(super) fn request(
    shared: &Rc<Shared>,
    id: u32,
    head: RequestHead,
    end_stream: bool,
) -> Option<Request<ReqBody>> {
    let mut uri = http::uri::Parts::default();
    if let Some(a) = head.authority {
        uri.authority = Some(http::uri::Authority::from_maybe_shared(a).ok()?);
        if let Some(s) = &head.scheme {
            uri.scheme = Some(http::uri::Scheme::try_from(&s[..]).ok()?);
        }
    }
    if let Some(p) = head.path {
        uri.path_and_query = Some(http::uri::PathAndQuery::from_maybe_shared(p).ok()?);
    }
    let uri = Uri::from_parts(uri).ok()?;
    let body = if end_stream {
        ReqBody::Empty
    } else {
        let length = head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let expect_continue = head
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        ReqBody::H2(RequestBody::new(
            shared.clone(),
            id,
            length,
            expect_continue,
        ))
    };
    let mut req = Request::new(body);
    *req.method_mut() = head.method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_2;
    *req.headers_mut() = head.headers;
    if let Some(p) = head.protocol {
        req.extensions_mut().insert(OwnStream(id));
        if p.eq_ignore_ascii_case(b"websocket") {
            req.extensions_mut()
                .insert(hyper::ext::Protocol::from_static("websocket"));
        }
    }
    Some(req)
}

/// Serves one stream: the proxy's response, then its body or a tunnel.
pub(super) async fn run(shared: Rc<Shared>, st: Rc<ConnState>, id: u32, req: Request<ReqBody>) {
    // Boxed: the proxy's future is kilobytes, and the stream set copies a
    // stream's future when it is added (and keeps a stub of that size per
    // connection, idle or not).
    // Allocated first, then built in it: `Box::pin(fut)` builds the future
    // on the stack and copies all of it (kilobytes) into the box.
    let mut respond = Box::into_pin(Box::write(
        Box::new_uninit(),
        crate::http::proxy::handle(st.clone(), req),
    ));
    // Interim (1xx) heads the upstream sent go out as they come, each
    // right after the poll that received it, so before the final head.
    let resp = std::future::poll_fn(|cx| {
        let r = respond.as_mut().poll(cx);
        if !st.interim.is_empty() {
            for (status, headers) in st.interim.take() {
                let _ = shared.with(|i| i.conn.send_response(id, status, &headers, false));
            }
        }
        r
    })
    .await;
    drop(respond);
    let (mut parts, mut body) = resp.into_parts();
    // An HTTP/1.1 upstream's fields, when the proxy left them as they came
    // (`ConnState::own_writer`): encoded straight from its head.
    let raw = body.take_raw_fields();
    let raw_date = raw
        .as_ref()
        .is_some_and(|r| r.iter().any(|(n, _)| n.eq_ignore_ascii_case(b"date")));
    if !raw_date && !parts.headers.contains_key(header::DATE) {
        crate::http::h1::date::with(|d| {
            if let Ok(v) = HeaderValue::from_bytes(d) {
                parts.headers.insert(header::DATE, v);
            }
        });
    }
    let tunnel = if parts.status.is_success() {
        st.take_h2_tunnel(id)
    } else {
        None
    };
    let end = tunnel.is_none() && body.is_end_stream();
    let sent = shared.with(|i| {
        i.conn
            .send_response_with(id, parts.status, &parts.headers, raw.as_ref(), end)
            .is_ok()
    });
    if !sent {
        if tunnel.is_some() {
            st.set_idle(tokio::time::Instant::now());
        }
        return;
    }
    if end {
        done(&shared, id);
        return;
    }
    if let Some(side) = tunnel {
        drop(body);
        let io = StreamIo::new(shared.clone(), id);
        // Boxed: streams that are not tunnels (nearly all) would otherwise
        // each carry the tunnel's state.
        Box::pin(crate::http::tunnel::run(io, Bytes::new(), side, &st)).await;
        st.set_idle(tokio::time::Instant::now());
        // Ends our side if the tunnel did not (the client's ended).
        let mut empty = Bytes::new();
        let _ = shared.with(|i| i.conn.send_data(id, &mut empty, true));
        done(&shared, id);
        return;
    }
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => {
                if !send(&shared, &st, id, Bytes::new(), true).await {
                    return;
                }
                break;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let end = body.is_end_stream();
                    if !send(&shared, &st, id, data, end).await {
                        return;
                    }
                    if end {
                        break;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        let ok = shared.with(|i| i.conn.send_trailers(id, &trailers).is_ok());
                        if !ok {
                            return;
                        }
                        break;
                    }
                }
            },
            Some(Err(e)) => {
                tracing::debug!(peer = %st.peer, stream = id, error = %e, "HTTP/2 response body failed");
                return;
            }
        }
    }
    done(&shared, id);
}

/// The response was sent to its end.
fn done(shared: &Shared, id: u32) {
    if let Some(slot) = shared.inner().slots.get_mut(&id) {
        slot.response_done = true;
    }
}

/// Where a [`send`] attempt left the data.
enum Step {
    /// All sent (true), or the stream or connection is gone (false).
    Done(bool),
    /// The connection's output is backed up.
    Room,
    /// Data is left for lack of window; `progress`: some went out.
    Window { progress: bool },
}

/// Sends `data` (and `end`) on stream `id`, waiting for window and for
/// room in the connection's output. False: the stream or connection is
/// gone, or the client's window stayed shut for the listener's
/// `send_timeout`.
async fn send(shared: &Shared, st: &ConnState, id: u32, mut data: Bytes, end: bool) -> bool {
    if data.is_empty() && !end {
        return true;
    }
    // Runs only while the window is shut (rare), restarted by any progress.
    let mut starved = StallClock::default();
    std::future::poll_fn(|cx| {
        let step = shared.with(|inner| {
            if inner.conn.queued_bytes() > HIGH_WATER {
                // The socket is backed up: `send_timeout` on the socket
                // bounds that.
                inner.room.push(cx.waker().clone());
                return Step::Room;
            }
            let before = data.len();
            if inner.conn.send_data(id, &mut data, end).is_err() {
                return Step::Done(false);
            }
            if data.is_empty() {
                return Step::Done(true);
            }
            match inner.slots.get_mut(&id) {
                Some(slot) => {
                    keep(&mut slot.sender, cx);
                    Step::Window {
                        progress: data.len() < before,
                    }
                }
                None => Step::Done(false),
            }
        });
        match step {
            Step::Done(ok) => Poll::Ready(ok),
            Step::Room => Poll::Pending,
            Step::Window { progress } => {
                let limit = st.listener.timeouts.send;
                if progress {
                    starved.progress();
                }
                if starved.expired(cx, limit) {
                    tracing::debug!(peer = %st.peer, stream = id, after = ?limit, "HTTP/2 client kept the stream's window shut; resetting it");
                    return Poll::Ready(false);
                }
                Poll::Pending
            }
        }
    })
    .await
}

/// A stream's future as the connection polls it: it ends as soon as the
/// stream is reset, and on drop it resets a stream it did not finish.
pub(super) struct StreamTask<F> {
    id: u32,
    shared: Rc<Shared>,
    fut: F,
}

impl<F> StreamTask<F> {
    pub(super) fn new(id: u32, shared: Rc<Shared>, fut: F) -> StreamTask<F> {
        StreamTask { id, shared, fut }
    }
}

impl<F: Future<Output = ()>> Future for StreamTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `fut` is pinned with `self` and never moved out of it;
        // `id` and `shared` are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        {
            let mut inner = this.shared.inner();
            match inner.slots.get_mut(&this.id) {
                Some(slot) if slot.reset.is_none() => keep(&mut slot.task, cx),
                _ => return Poll::Ready(()),
            }
        }
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

impl<F> Drop for StreamTask<F> {
    fn drop(&mut self) {
        let id = self.id;
        self.shared.with(|inner| {
            let Some(slot) = inner.slots.remove(&id) else {
                return;
            };
            if slot.reset.is_some() {
                // Its upstream request goes with this future: a client
                // reset of it stops counting as Rapid Reset.
                inner.conn.dropped(id);
            } else {
                // After a complete response, NO_ERROR asks the client to
                // stop sending a request body nobody reads (RFC 9113 §8.1);
                // otherwise the response failed midway. Nothing is sent
                // for a stream both sides ended.
                let code = if slot.response_done {
                    ErrorCode::NoError
                } else {
                    ErrorCode::InternalError
                };
                inner.conn.reset(id, code);
            }
        });
    }
}
