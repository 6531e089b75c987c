//! The proxy's own HTTP/1.1 server path, for the plainest requests.
//!
//! **Why.** hyper's HTTP/1 server is general: per connection it allocates an
//! 8 KiB read buffer and a dispatcher; per request it runs its dispatcher
//! state machine, a service call through a boxed future, and its encoder
//! queue. On the benchmark's small keep-alive and one-request-per-connection
//! workloads that was a third of Switchyard's user-space instructions
//! (callgrind: about 16 k of 43 k per `Connection: close` request), and the
//! reason its CPU per request stayed above HAProxy's.
//!
//! **What.** This reader serves requests that carry no body and need nothing
//! unusual ([`head`] decides), and writes responses by hyper's rules
//! ([`encode`]). The first request it does not take (a body, an upgrade,
//! `Expect`, HTTP/1.0, a malformed or oversized head) goes to hyper together
//! with every byte read so far, and hyper serves the connection from then on
//! until it parks it idle ([`super::conn`]). So hyper still answers every
//! error and every unusual request exactly as before; this path only has to
//! be right about usual ones.
//!
//! It keeps the connection's contracts: the framing guard ends up where it
//! would had it seen every byte (see [`account_head`]), the phase timer and reload
//! signal behave as under hyper, a client that closes while its request is
//! in flight cancels it, and an idle connection holds no buffers.

pub mod date;
pub mod encode;
pub mod head;
pub mod slow;

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body::Body;
use tokio::io::{AsyncReadExt, AsyncWrite};

use super::body::ProxyBody;
use super::conn::{ClientIo, ConnState, Phase, Tick};
use super::framing::Verdict;
use crate::error::ProxyError;
use crate::net::Stream;
use crate::worker::Closing;
use encode::{BodyLen, Encoder};
use head::Parse;

/// How much the read buffer grows by.
const READ_CHUNK: usize = 4096;

/// Body chunks up to this size are copied next to the head (one send);
/// larger ones are written from their own buffer.
const COPY_MAX: usize = 4096;

/// `SWITCHYARD_NO_OWN_H1=1` sends every HTTP/1.1 request to hyper (for
/// side-by-side comparisons; read once per process).
fn disabled() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("SWITCHYARD_NO_OWN_H1").is_some())
}

/// How the own reader left the connection.
pub enum Outcome {
    /// The connection is over.
    Done,
    /// A request this path does not serve starts in `io.replay`: hyper
    /// takes the connection.
    Hyper,
    /// A plain connection has been idle for a while with nothing buffered:
    /// the caller parks it (waits for its next byte holding no buffers).
    Parked,
    /// A refusal was sent while the client may still be sending: the
    /// caller shuts the sending side and closes lingering.
    Linger,
}

/// Serves requests until the connection ends or one needs hyper.
pub async fn serve(
    io: &mut ClientIo,
    state: &Rc<ConnState>,
    mut timer: Pin<&mut tokio::time::Sleep>,
    mut closing: Pin<&mut Closing>,
) -> Outcome {
    if disabled() {
        return Outcome::Hyper;
    }
    let limits = &state.listener.limits;
    let mut buf = BytesMut::new();
    // How many leading bytes of `buf` the framing guard has seen. Bytes this
    // path reads are not fed to it: a bodiless head parsed here leaves it
    // where feeding would ([`Framing::bodiless_head`]); what goes to hyper
    // is fed on the way.
    let mut fed = 0;
    if !io.replay.is_empty() {
        // Replayed bytes were read (and fed) before this path took over.
        buf.extend_from_slice(&io.replay);
        fed = buf.len();
        io.replay = Bytes::new();
    }
    let mut out: Vec<u8> = Vec::new();
    loop {
        // A request head.
        let (req, client_close) = loop {
            if !buf.is_empty() {
                match head::parse(&mut buf, limits.max_header_bytes, limits.max_headers) {
                    Parse::Ready { req, close, head } => {
                        account_head(state, &mut fed, &head);
                        break (req, close);
                    }
                    Parse::Hyper => {
                        state.framing.borrow_mut().feed(&buf[fed..]);
                        // A head the smuggling guard refuses is refused here
                        // with its reason: hyper would refuse some of them
                        // itself (conflicting lengths, `+5`), with a 400
                        // that says nothing, and the proxy the others.
                        let verdict = state.framing.borrow().peek_verdict();
                        if let Some(Verdict::Reject(why)) = verdict {
                            let err = ProxyError::BadRequest(why);
                            refuse_head(state, &mut io.stream, &err).await;
                            return Outcome::Linger;
                        }
                        io.replay = buf.freeze();
                        return Outcome::Hyper;
                    }
                    // Refused here rather than by hyper, which would say
                    // 431 with an empty body, even for a request line
                    // too long to fit (NGINX: 414).
                    Parse::TooLarge { line } => {
                        let err = match line {
                            Some(n) if n <= limits.max_uri_bytes => ProxyError::HeadTooLarge {
                                limit: limits.max_header_bytes,
                            },
                            _ => ProxyError::UriTooLong {
                                limit: limits.max_uri_bytes.min(limits.max_header_bytes),
                            },
                        };
                        refuse_head(state, &mut io.stream, &err).await;
                        return Outcome::Linger;
                    }
                    Parse::TooMany => {
                        let err = ProxyError::TooManyHeaders {
                            limit: limits.max_headers,
                        };
                        refuse_head(state, &mut io.stream, &err).await;
                        return Outcome::Linger;
                    }
                    Parse::Partial => {}
                }
            }
            tokio::select! {
                biased;
                read = read_more(&mut io.stream, &mut buf) => match read {
                    Ok(0) | Err(_) => return Outcome::Done,
                    Ok(_) => state.note_read(),
                },
                _ = timer.as_mut() => match state.tick(timer.as_mut()) {
                    // Part of a head came, the rest not in time (slowloris).
                    Tick::Close if !buf.is_empty() && state.phase() == Phase::Head => {
                        let err = ProxyError::RequestHeaderTimeout {
                            after: state.listener.timeouts.request_header,
                        };
                        refuse_head(state, &mut io.stream, &err).await;
                        return Outcome::Linger;
                    }
                    Tick::Close => return Outcome::Done,
                    Tick::IdleLong if buf.is_empty() => {
                        if matches!(io.stream, Stream::Tcp(_)) {
                            // Idle: the caller waits for the next byte
                            // without this future (its states are large).
                            return Outcome::Parked;
                        }
                        // TLS stays (rustls holds the session's buffers
                        // anyway); only this path's buffers go.
                        buf = BytesMut::new();
                        out = Vec::new();
                        state.framing.borrow_mut().release_memory();
                        io.stream.release_memory();
                    }
                    _ => {}
                },
                _ = closing.as_mut(), if !state.is_closing() => state.on_closing(closing.as_mut()),
            }
        };
        let head_request = req.method() == Method::HEAD;

        // The response, while watching for the client going away. A socket
        // not registered with the event loop yet is watched only once the
        // request turns out slow (`slow`: from the worker's next sweep, one
        // to two seconds): registering it costs two system calls, more than
        // a short request's cancellation is worth (HAProxy does not watch
        // at all unless `abortonclose` is set).
        let mut watch = !matches!(&io.stream, Stream::Tcp(s) if !s.tcp.is_registered());
        let mut slow = std::pin::pin!(state.worker.slow.after_next_sweep());
        // This writer sends the response: its upstream fields may stay raw.
        state.set_own_writer(true);
        // Pinned in this future's own state, not boxed: a box per request
        // costs an allocation and a copy of the whole (kilobytes) future.
        // This future is itself boxed once and dropped when the connection
        // parks, so the space is held only while requests come.
        let mut respond = std::pin::pin!(super::proxy::handle(state.clone(), req));
        let resp = loop {
            tokio::select! {
                biased;
                // Ready with `None` when the upstream sent interim (1xx)
                // heads: they go out now, and the wait goes on.
                step = poll_fn(|cx| match respond.as_mut().poll(cx) {
                    Poll::Pending if !state.interim.is_empty() => Poll::Ready(None),
                    other => other.map(Some),
                }) => match step {
                    Some(resp) => break resp,
                    None => {
                        out.clear();
                        interim_heads(state, &mut out);
                        let sent = write_all(&mut io.stream, &mut [IoSlice::new(&out)]).await;
                        if sent.is_err() || poll_fn(|cx| Pin::new(&mut io.stream).poll_flush(cx)).await.is_err() {
                            return Outcome::Done;
                        }
                    }
                },
                _ = slow.as_mut(), if !watch => watch = true,
                read = read_more(&mut io.stream, &mut buf), if watch && buf.len() < limits.max_header_bytes => match read {
                    // The client closed (or failed): the request is
                    // cancelled, as hyper cancels it.
                    Ok(0) | Err(_) => return Outcome::Done,
                    Ok(_) => {}
                },
                _ = closing.as_mut(), if !state.is_closing() => {
                    // Mid-request: never closes now; the response then says
                    // `Connection: close` (see `proxy::handle`).
                    state.on_closing(closing.as_mut());
                }
            }
        };
        // (The finished future holds nothing: its locals went when it
        // returned.)
        state.set_own_writer(false);

        out.clear();
        // Interim heads that came with the final one go just before it.
        interim_heads(state, &mut out);
        let (parts, mut body) = resp.into_parts();
        let raw = body.take_raw_fields();
        let len = if body.is_end_stream() {
            BodyLen::Empty
        } else {
            body.size_hint()
                .exact()
                .map_or(BodyLen::Unknown, BodyLen::Known)
        };
        let reason = parts
            .extensions
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| r.as_bytes());
        let req_info = encode::Request {
            head: head_request,
            keep_alive: !client_close,
        };
        let encoded = date::with(|d| {
            encode::head(
                parts.status,
                reason,
                &parts.headers,
                raw.as_ref(),
                len,
                req_info,
                d,
                &mut out,
            )
        });
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(peer = %state.peer, error = %e, "cannot send the upstream response; closing");
                drop(body);
                out.clear();
                out.extend_from_slice(
                    b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                let _ = write_all(&mut io.stream, &mut [IoSlice::new(&out)]).await;
                return Outcome::Done;
            }
        };
        match send_body(&mut io.stream, body, &encoded.encoder, &mut out).await {
            Ok(big) => {
                if encoded.close {
                    if big {
                        // Make sure a large body's last queued bytes leave
                        // before the socket closes.
                        let _ = poll_fn(|cx| Pin::new(&mut io.stream).poll_shutdown(cx)).await;
                    }
                    return Outcome::Done;
                }
            }
            Err(e) => {
                tracing::debug!(peer = %state.peer, error = %e, "client connection ended while sending a response");
                return Outcome::Done;
            }
        }
    }
}

/// Refuses a request from its head alone (a head the smuggling guard
/// refuses, one over the size limits, or one that did not arrive whole
/// within `request_header_timeout`): the error's status and body, with
/// `Connection: close`, logged like the proxy's own refusals (INFO
/// `request refused`, and an access line with the error's flag, the body
/// bytes sent and the time since the head began). The caller then closes
/// lingering.
async fn refuse_head(state: &ConnState, stream: &mut Stream, err: &ProxyError) {
    let listener = &state.listener;
    let status = err.status();
    tracing::info!(listener = %listener.name, client = %state.peer, status = status.as_u16(), error = %err, "request refused");
    let record = listener.access_log.then(|| {
        crate::telemetry::AccessRecord::refused(
            &listener.name,
            state.peer,
            status,
            err.flag(),
            state.head_began().map(tokio::time::Instant::into_std),
        )
    });
    let body = err.body();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    if let Some(hsts) = &listener.hsts {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(hsts.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    crate::http::h1::date::with(|d| {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(d);
        out.extend_from_slice(b"\r\n");
    });
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    let sent = write_all(stream, &mut [IoSlice::new(&out)]).await.is_ok()
        && poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx))
            .await
            .is_ok();
    if let Some(record) = record {
        let bytes = if sent { body.len() as u64 } else { 0 };
        record.emit(sent, bytes);
    }
}

/// Appends the interim (1xx) heads waiting in `state` to `out`.
fn interim_heads(state: &ConnState, out: &mut Vec<u8>) {
    if state.interim.is_empty() {
        return;
    }
    for (status, headers) in state.interim.take() {
        encode::interim(status, &headers, out);
    }
}

/// Keeps the framing guard in step for a head this path parsed; `fed`:
/// how many leading bytes of it (and what followed) the guard has seen.
fn account_head(state: &ConnState, fed: &mut usize, head: &[u8]) {
    let mut framing = state.framing.borrow_mut();
    if *fed >= head.len() {
        // Seen already: its verdict is queued.
        *fed -= head.len();
        return;
    }
    let seen = std::mem::take(fed);
    if seen > 0 || !framing.bodiless_head() {
        framing.feed(&head[seen..]);
    }
}

/// Reads more client bytes into `buf`. An idle plain connection with no
/// buffer waits for readability first, so it allocates only when bytes
/// arrive (TLS may hold decrypted bytes the socket does not show).
async fn read_more(stream: &mut Stream, buf: &mut BytesMut) -> io::Result<usize> {
    // A socket not yet registered (just accepted) is read at once: its
    // request is usually there already, and waiting would register it.
    if buf.capacity() == 0 && matches!(stream, Stream::Tcp(s) if s.tcp.is_registered()) {
        stream.readable().await?;
    }
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    stream.read_buf(buf).await
}

/// Streams the response body with its framing; `out` holds the head. Ok:
/// whether the body was large enough to have left the cork buffer.
async fn send_body(
    stream: &mut Stream,
    mut body: ProxyBody,
    encoder: &Encoder,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut remaining = match encoder {
        Encoder::Length(0) => {
            // No body on the wire (HEAD, 204, 304, empty): the body is
            // dropped (over or not, as hyper drops it).
            drop(body);
            write_all(stream, &mut [IoSlice::new(out)]).await?;
            return Ok(false);
        }
        Encoder::Length(n) => *n,
        _ => u64::MAX,
    };
    let chunked = matches!(encoder, Encoder::Chunked { .. });
    let mut big = false;
    loop {
        // The next frame; when none is ready yet, send what is queued.
        let frame = poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
            Poll::Pending if !out.is_empty() => Poll::Ready(None),
            other => other.map(Some),
        })
        .await;
        let frame = match frame {
            None => {
                write_all(stream, &mut [IoSlice::new(out)]).await?;
                out.clear();
                continue;
            }
            Some(None) => break,
            Some(Some(Err(e))) => {
                // The upstream failed mid-body: the client must not take a
                // truncated body for a whole one, so the connection ends.
                // What is queued goes out first (the head at least, which
                // the access log reports): short of its length or its last
                // chunk, it reads as cut, as from HAProxy or NGINX.
                let _ = write_all(stream, &mut [IoSlice::new(out)]).await;
                out.clear();
                let _ = poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await;
                return Err(io::Error::other(e));
            }
            Some(Some(Ok(frame))) => frame,
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let (Ok(trailers), Encoder::Chunked { trailers: allowed }) =
                    (frame.into_trailers(), encoder)
                {
                    encode::chunked_end(Some(&trailers), allowed.as_deref(), out);
                    // The last chunk is written: nothing may follow.
                    remaining = 0;
                }
                continue;
            }
        };
        let data = clip(data, &mut remaining);
        if data.is_empty() {
            continue;
        }
        if chunked {
            encode::chunk_line(data.len(), out);
        }
        if data.len() <= COPY_MAX {
            out.extend_from_slice(&data);
            if chunked {
                out.extend_from_slice(b"\r\n");
            }
        } else {
            big = true;
            let tail: &[u8] = if chunked { b"\r\n" } else { b"" };
            write_all(
                stream,
                &mut [IoSlice::new(out), IoSlice::new(&data), IoSlice::new(tail)],
            )
            .await?;
            out.clear();
        }
    }
    if chunked && remaining != 0 {
        encode::chunked_end(None, None, out);
    }
    if !out.is_empty() {
        write_all(stream, &mut [IoSlice::new(out)]).await?;
        out.clear();
    }
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await?;
    Ok(big)
}

/// `data` cut to what a `Content-Length` still allows (more is dropped, as
/// hyper drops it).
fn clip(mut data: Bytes, remaining: &mut u64) -> Bytes {
    if *remaining == u64::MAX {
        return data;
    }
    let n = (data.len() as u64).min(*remaining);
    data.truncate(n as usize);
    *remaining -= n;
    data
}

/// Writes every slice, in order.
async fn write_all(stream: &mut Stream, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut bufs = bufs;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write_vectored(cx, bufs)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}
