//! The own HTTP/2 server: one client connection served by one task, over
//! the sans-io [`Connection`].
//!
//! **Shape.** The task reads the socket into the connection, turns its
//! events into requests and request-body bytes, polls every stream's future
//! itself (a [`FuturesUnordered`] of `StreamTask`s: a stream is
//! polled only when something it waits on woke it, and no stream is ever a
//! task of its own), and writes what the connection queued with vectored
//! writes. hyper's HTTP/2 server spawns a task per stream and goes through
//! the `h2` crate's general stream store and hashing HPACK encoder; this
//! is the lever on the `h2-tls` benchmark (see `BENCHMARKS.md`).
//!
//! **Limits.** Everything the protocol says is enforced by [`Connection`]
//! (streams, header lists, Rapid Reset, CONTINUATION floods). Here: the
//! output bound. While more than `HIGH_WATER` (256 KiB) wait for the socket
//! the task stops reading, so a client that sends PINGs or SETTINGS (each
//! answered) without reading the answers is held back by TCP instead of
//! growing a buffer; streams stop queueing response bytes too, and carry
//! on when the socket drains.
//!
//! **Timers and closing** behave as with hyper's server (`serve_h2`): the
//! idle timeout runs while no stream is open and ends the connection with
//! a graceful GOAWAY; so does a reload or shutdown, letting open streams
//! finish. Graceful is two steps ([`Connection::drain`]): a GOAWAY naming
//! every stream and a PING, then, at the PING's ACK (or after
//! `GOAWAY_GRACE`), the GOAWAY naming the last stream taken; requests the
//! client sent before it saw the first are served. After the server's side
//! is shut, the socket lingers (`linger::linger_close`).
//!
//! [`FuturesUnordered`]: futures_util::stream::FuturesUnordered

mod body;
mod shared;
mod stream;

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

pub use body::{BodyEnd, RequestBody, StreamIo};
pub use stream::OwnStream;

use self::shared::{HIGH_WATER, Inner, Shared};
use super::conn::{Config, Connection, Event};
use super::frame::ErrorCode;
use crate::http::conn::{ConnState, PARK_AFTER};
use crate::net::Stream;

/// How long a drain's PING may go unanswered before the final GOAWAY.
const GOAWAY_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How much is read from the socket at a time on a busy connection.
const READ_CHUNK: usize = 16 << 10;

/// The read buffer of a connection until a read fills it: a client that
/// sends a request now and then never needs more, and memory once given to
/// a large buffer stays with the process after it is freed (3 000 idle
/// connections: 24 KB each with 16 KiB read buffers, 11 KB with 4 KiB).
const FIRST_READ: usize = 4 << 10;

/// The most buffers handed to one vectored write.
const MAX_IOV: usize = 64;

/// The connection settings for a listener's limits.
pub fn config(max_streams: u32, max_pending_resets: usize, max_header_bytes: usize) -> Config {
    Config {
        max_concurrent_streams: max_streams,
        max_header_list_size: u32::try_from(max_header_bytes).unwrap_or(u32::MAX),
        enable_connect_protocol: true,
        max_pending_resets: u32::try_from(max_pending_resets).unwrap_or(u32::MAX),
        ..Config::default()
    }
}

/// How the connection ended.
enum End {
    /// The protocol is done (GOAWAY exchanged or a connection error): our
    /// side is shut after the output is written, then the socket lingers.
    Done,
    /// The client closed, or the socket failed: nothing more to write.
    Gone,
}

/// Serves the HTTP/2 connection on `stream` until it ends. `replay`: bytes
/// already read from it (the h2c preface).
pub(in crate::http) async fn serve(
    mut io: Stream,
    replay: Bytes,
    state: &Rc<ConnState>,
    mut closing: Pin<&mut crate::worker::Closing>,
) {
    let l = &state.listener;
    let cfg = config(
        l.h2_limits.max_concurrent_streams,
        l.h2_limits.max_pending_resets,
        l.limits.max_header_bytes,
    );
    let shared = Rc::new(Shared::new(Connection::new(cfg)));
    let mut rbuf = BytesMut::with_capacity(FIRST_READ.max(replay.len()));
    rbuf.extend_from_slice(&replay);
    drop(replay);
    // The open streams' futures; none while idle (an empty set still holds
    // a stub node as large as a stream's future).
    let mut tasks = None;
    let mut new = Vec::new();
    let timer = tokio::time::sleep(PARK_AFTER);
    tokio::pin!(timer);
    let mut eof = false;
    let mut big = false;
    let mut going_away = false;
    // When the drain (GOAWAY and PING) started.
    let mut away_since = Instant::now();
    let mut keepalive = l.h2_limits.keepalive.map(Keepalive::new);
    let end = std::future::poll_fn(|cx| {
        shared.enter(cx);
        let r = loop {
            let mut again = false;
            if timer.as_mut().poll(cx).is_ready() {
                if tasks.as_ref().is_none_or(FuturesUnordered::is_empty) && rbuf.is_empty() {
                    // Idle: hold no buffers until the client sends again.
                    tasks = None;
                    rbuf = BytesMut::new();
                    new = Vec::new();
                    io.release_memory();
                    let mut inner = shared.inner();
                    inner.conn.release_memory();
                    inner.slots.shrink_to_fit();
                    inner.room = Vec::new();
                }
                let now = Instant::now();
                if !going_away && state.expired(now) {
                    // Open streams finish; the client reconnects for more.
                    tracing::debug!(peer = %state.peer, "HTTP/2 client connection reached max_connection_duration");
                    shared.inner().conn.drain();
                    going_away = true;
                    away_since = now;
                } else if !going_away && state.idle_deadline().is_some_and(|d| now >= d) {
                    tracing::debug!(peer = %state.peer, "closing idle HTTP/2 client connection");
                    shared.inner().conn.drain();
                    going_away = true;
                    away_since = now;
                } else if going_away && now >= away_since + GOAWAY_GRACE {
                    // The client did not acknowledge the drain's PING.
                    shared.inner().conn.finish_drain();
                }
                if let Some(ka) = &mut keepalive {
                    let mut inner = shared.inner();
                    // Output backed up: the task is not reading, so the
                    // client's silence proves nothing (`send_timeout`
                    // bounds a client that does not read).
                    let held = inner.conn.queued_bytes() > HIGH_WATER;
                    match ka.tick(now, held) {
                        KeepaliveStep::Wait => {}
                        KeepaliveStep::Ping => inner.conn.ping(),
                        KeepaliveStep::Gone => {
                            tracing::debug!(peer = %state.peer, "HTTP/2 client did not answer a keepalive PING; closing");
                            break End::Gone;
                        }
                    }
                }
                rearm(state, timer.as_mut());
                again = true;
            }
            if !going_away && closing.as_mut().poll(cx).is_ready() {
                if state.stale() {
                    // GOAWAY: open streams finish, new ones go elsewhere.
                    shared.inner().conn.drain();
                    going_away = true;
                    away_since = Instant::now();
                } else {
                    closing.set(state.worker.closing());
                }
                again = true;
            }
            // Read, unless the output is backed up.
            let readable = {
                let inner = shared.inner();
                !inner.conn.is_done() && inner.conn.queued_bytes() <= HIGH_WATER
            };
            if readable && !eof {
                match read(cx, &mut io, &mut rbuf, &mut big) {
                    Poll::Ready(Ok(0)) => eof = true,
                    Poll::Ready(Ok(_)) => {
                        again = true;
                        if let Some(ka) = &mut keepalive {
                            ka.heard = true;
                        }
                        let mut refused = Vec::new();
                        let failed = {
                            let mut inner = shared.inner();
                            let r = inner.conn.recv(&mut rbuf);
                            dispatch(&mut inner, &shared, &mut new, &mut refused);
                            r.is_err()
                        };
                        for (reason, status) in refused {
                            log_refused(state, reason, status);
                        }
                        if failed {
                            // A connection error: the GOAWAY is queued,
                            // every stream goes; the connection is done.
                            new.clear();
                            tasks = None;
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(peer = %state.peer, error = %e, "HTTP/2 client connection failed");
                        break End::Gone;
                    }
                    Poll::Pending => {}
                }
            }
            if !new.is_empty() {
                let set = tasks.get_or_insert_with(FuturesUnordered::new);
                for (id, req) in new.drain(..) {
                    let fut = stream::run(shared.clone(), state.clone(), id, req);
                    set.push(stream::StreamTask::new(id, shared.clone(), fut));
                }
            }
            // Streams woken since the last pass.
            if let Some(t) = tasks.as_mut() {
                while let Poll::Ready(Some(())) = t.poll_next_unpin(cx) {}
            }
            match write_out(cx, &mut io, &shared) {
                Poll::Ready(Err(e)) => {
                    tracing::debug!(peer = %state.peer, error = %e, "HTTP/2 client connection failed");
                    break End::Gone;
                }
                Poll::Ready(Ok(())) => {
                    let inner = shared.inner();
                    if inner.conn.is_done() {
                        break End::Done;
                    }
                    if eof {
                        break End::Gone;
                    }
                }
                Poll::Pending => {}
            }
            if !again {
                shared.leave();
                return Poll::Pending;
            }
        };
        shared.leave();
        Poll::Ready(r)
    })
    .await;
    // Streams still open are dropped (their upstream requests with them).
    drop(tasks);
    if let End::Done = end {
        let shut = std::future::poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx));
        if tokio::time::timeout(crate::http::linger::LINGER_TIME, shut)
            .await
            .is_ok_and(|r| r.is_ok())
        {
            Box::pin(crate::http::linger::linger_close(io)).await;
        }
    }
}

/// Keepalive PINGs to a client (`h2_keepalive_interval`), checked at the
/// connection's timer ticks (at least every [`PARK_AFTER`]).
struct Keepalive {
    cfg: crate::config::H2Keepalive,
    /// Something was read since the last tick.
    heard: bool,
    /// When the client was last heard from (to a tick).
    since: Instant,
    /// When the unanswered PING was sent.
    pinged: Option<Instant>,
}

/// What a keepalive tick asks for.
#[derive(Debug, PartialEq, Eq)]
enum KeepaliveStep {
    Wait,
    Ping,
    /// The PING went unanswered: the client is gone.
    Gone,
}

impl Keepalive {
    fn new(cfg: crate::config::H2Keepalive) -> Keepalive {
        Keepalive {
            cfg,
            heard: false,
            since: Instant::now(),
            pinged: None,
        }
    }

    /// `held`: the connection is not reading (its output is backed up), so
    /// the client cannot be heard.
    fn tick(&mut self, now: Instant, held: bool) -> KeepaliveStep {
        if std::mem::take(&mut self.heard) || held {
            self.since = now;
            self.pinged = None;
            return KeepaliveStep::Wait;
        }
        match self.pinged {
            Some(at) if now >= at + self.cfg.timeout => KeepaliveStep::Gone,
            Some(_) => KeepaliveStep::Wait,
            None if now >= self.since + self.cfg.interval => {
                self.pinged = Some(now);
                KeepaliveStep::Ping
            }
            None => KeepaliveStep::Wait,
        }
    }
}

/// Re-arms the connection's timer: at the idle deadline while no stream is
/// open, and at least every [`PARK_AFTER`].
fn rearm(state: &ConnState, timer: Pin<&mut tokio::time::Sleep>) {
    let now = Instant::now();
    let next = now + PARK_AFTER;
    let wake = state.idle_deadline().map_or(next, |d| d.max(now).min(next));
    timer.reset(wake);
}

/// Reads what the socket has into `rbuf`: the byte count (0: end of
/// stream). `big`: the last read filled the buffer, so the next buffer is
/// [`READ_CHUNK`], not [`FIRST_READ`].
fn read(
    cx: &mut Context<'_>,
    io: &mut Stream,
    rbuf: &mut BytesMut,
    big: &mut bool,
) -> Poll<io::Result<usize>> {
    if rbuf.capacity() == 0 {
        // Released while idle: wait in a stack buffer, so that an idle
        // connection's pending read holds no heap memory (4 KiB each).
        let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); FIRST_READ];
        let mut buf = ReadBuf::uninit(&mut stack);
        std::task::ready!(Pin::new(io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        *big = n == FIRST_READ;
        rbuf.reserve(if *big { READ_CHUNK } else { FIRST_READ });
        rbuf.extend_from_slice(buf.filled());
        return Poll::Ready(Ok(n));
    }
    if rbuf.capacity() - rbuf.len() < FIRST_READ / 2 {
        rbuf.reserve(if *big { READ_CHUNK } else { FIRST_READ });
    }
    let spare = rbuf.spare_capacity_mut();
    let room = spare.len();
    let mut buf = ReadBuf::uninit(spare);
    std::task::ready!(Pin::new(io).poll_read(cx, &mut buf))?;
    let n = buf.filled().len();
    // A read that filled the buffer: the client is sending a lot.
    *big = n == room;
    // SAFETY: `poll_read` initialised the first `n` bytes of the spare
    // capacity.
    unsafe { rbuf.set_len(rbuf.len() + n) };
    Poll::Ready(Ok(n))
}

/// Hands the connection's events to the streams; new requests go to
/// `new` (the caller makes their futures).
/// Requests refused before delivery go to `refused` (for the log).
fn dispatch(
    inner: &mut Inner,
    shared: &Rc<Shared>,
    new: &mut Vec<(u32, http::Request<crate::http::req_body::ReqBody>)>,
    refused: &mut Vec<(&'static str, StatusCode)>,
) {
    while let Some(ev) = inner.conn.poll_event() {
        match ev {
            Event::Request {
                stream,
                head,
                end_stream,
            } => match stream::request(shared, stream, head, end_stream) {
                Some(req) => {
                    inner.slots.insert(
                        stream,
                        shared::Slot {
                            end: end_stream,
                            ..shared::Slot::default()
                        },
                    );
                    new.push((stream, req));
                }
                None => {
                    inner.conn.reset(stream, ErrorCode::ProtocolError);
                    refused.push(("request target not a valid URI", StatusCode::BAD_REQUEST));
                }
            },
            Event::Refused { reason, .. } => {
                let status = if reason == "header list too large" {
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                refused.push((reason, status));
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => match inner.slots.get_mut(&stream) {
                Some(slot) => {
                    if !data.is_empty() {
                        slot.data.push_back(data);
                    }
                    slot.end |= end_stream;
                    if let Some(w) = slot.reader.take() {
                        w.wake();
                    }
                }
                // Nobody reads it any more: the window goes back.
                None => inner.conn.consumed(stream, data.len()),
            },
            Event::Trailers { stream, trailers } => {
                if let Some(slot) = inner.slots.get_mut(&stream) {
                    slot.trailers = Some(trailers);
                    slot.end = true;
                    if let Some(w) = slot.reader.take() {
                        w.wake();
                    }
                }
            }
            Event::Reset { stream, code } => {
                if let Some(slot) = inner.slots.get_mut(&stream) {
                    slot.reset = Some(code);
                    slot.wake_all();
                }
            }
            Event::Capacity { stream } => {
                if let Some(w) = inner.slots.get_mut(&stream).and_then(|s| s.sender.take()) {
                    w.wake();
                }
            }
            // Open streams finish; the connection ends after the last.
            Event::GoAway { .. } => {}
        }
    }
}

/// Writes the connection's queued output until it is all written or the
/// socket is full; then flushes. Streams waiting for room are woken once
/// the queue is below [`HIGH_WATER`].
fn write_out(cx: &mut Context<'_>, io: &mut Stream, shared: &Shared) -> Poll<io::Result<()>> {
    let mut inner = shared.inner();
    let res = loop {
        let queue = inner.conn.write_queue();
        if queue.is_empty() {
            break Pin::new(&mut *io).poll_flush(cx);
        }
        let n = {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut k = 0;
            for b in queue.iter().take(MAX_IOV) {
                iov[k] = IoSlice::new(b);
                k += 1;
            }
            match Pin::new(&mut *io).poll_write_vectored(cx, &iov[..k]) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        advance(queue, n);
    };
    if !inner.room.is_empty() && inner.conn.queued_bytes() <= HIGH_WATER {
        for w in inner.room.drain(..) {
            w.wake();
        }
    }
    res
}

/// Takes `n` written bytes off the front of `queue`.
fn advance(queue: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = queue.front_mut() else {
            return;
        };
        if front.len() <= n {
            n -= front.len();
            queue.pop_front();
        } else {
            front.advance(n);
            n = 0;
        }
    }
    while queue.front().is_some_and(Bytes::is_empty) {
        queue.pop_front();
    }
}

/// A request the connection refused before delivering it, logged like
/// the HTTP/1.1 parser's refusals: INFO `request refused`, and an access
/// line with flag `DPE` (`status` is what an HTTP/1.1 client would have
/// got; the stream itself was reset, or answered 431).
fn log_refused(state: &ConnState, reason: &str, status: StatusCode) {
    let listener = &state.listener;
    tracing::info!(listener = %listener.name, client = %state.peer, status = status.as_u16(), error = reason, "request refused");
    if listener.access_log {
        let mut record = crate::telemetry::AccessRecord::refused(
            &listener.name,
            state.peer,
            status,
            "DPE",
            None,
        );
        record.proto = "HTTP/2";
        record.emit(false, 0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Keepalive, KeepaliveStep};
    use crate::config::H2Keepalive;

    fn ka() -> Keepalive {
        Keepalive::new(H2Keepalive {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(3),
        })
    }

    #[test]
    fn a_quiet_client_is_pinged_after_the_interval_and_let_go_after_the_timeout() {
        let mut k = ka();
        let t0 = k.since;
        let s = Duration::from_secs;
        assert_eq!(k.tick(t0 + s(9), false), KeepaliveStep::Wait);
        assert_eq!(k.tick(t0 + s(10), false), KeepaliveStep::Ping);
        // One PING at a time.
        assert_eq!(k.tick(t0 + s(12), false), KeepaliveStep::Wait);
        assert_eq!(k.tick(t0 + s(13), false), KeepaliveStep::Gone);
    }

    #[test]
    fn anything_heard_restarts_the_interval_and_answers_the_ping() {
        let mut k = ka();
        let t0 = k.since;
        let s = Duration::from_secs;
        assert_eq!(k.tick(t0 + s(10), false), KeepaliveStep::Ping);
        k.heard = true;
        assert_eq!(k.tick(t0 + s(12), false), KeepaliveStep::Wait);
        // The interval counts from when it was heard.
        assert_eq!(k.tick(t0 + s(21), false), KeepaliveStep::Wait);
        assert_eq!(k.tick(t0 + s(22), false), KeepaliveStep::Ping);
    }

    #[test]
    fn a_connection_held_back_by_its_own_output_is_never_given_up() {
        let mut k = ka();
        let t0 = k.since;
        let s = Duration::from_secs;
        assert_eq!(k.tick(t0 + s(10), false), KeepaliveStep::Ping);
        // Not reading: the ACK may be sitting in the socket.
        assert_eq!(k.tick(t0 + s(20), true), KeepaliveStep::Wait);
        assert_eq!(k.tick(t0 + s(29), false), KeepaliveStep::Wait);
        assert_eq!(k.tick(t0 + s(30), false), KeepaliveStep::Ping);
    }
}
