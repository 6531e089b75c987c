//! The proxy's own HTTP/1.1 upstream client: one connection, one exchange
//! at a time.
//!
//! **Why.** hyper's client costs a request channel, a oneshot for the
//! response, its dispatcher and its encoder queue per request. On the
//! benchmark's keep-alive workloads that was about 12 k of 33 k user-space
//! instructions per request (callgrind), the largest single item, and
//! more than an HTTP/1.1 exchange needs when the proxy already drives the
//! connection from the task of the request using it.
//!
//! **What.** [`H1Conn::send`] writes the request head ([`request`]) and
//! streams the body (Content-Length or chunked), and meanwhile reads the
//! response head ([`response`]), handing interim ones to the caller's
//! [`Interim`] sink. The response body is then read by
//! [`H1Conn::poll_frame`] (Content-Length, chunked
//! with trailers ([`chunked`]), or until close), which also goes on
//! sending the request body: a full-duplex upstream (one that answers
//! while still reading) works as it does through hyper. After a complete
//! exchange on a keep-alive connection, with nothing extra read, the
//! connection can carry the next request.
//!
//! **Stale connections.** A pooled connection the upstream closed is
//! usually seen at checkout ([`H1Conn::poll_alive`]). If the upstream
//! closes it just as a request is sent, and nothing at all came back, the
//! request is handed back for another connection when that is safe: the
//! method is idempotent and no body byte was taken from the client
//! (hyper hands back only requests it never started to write).
//!
//! `SWITCHYARD_NO_OWN_H1_CLIENT=1` uses hyper's client instead (for
//! side-by-side comparisons).

pub mod chunked;
pub mod raw;
pub mod request;
pub mod response;

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Request};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWrite};

use crate::http::h1::encode::{chunk_line, chunked_end};
use crate::http::interim::Interim;
use crate::http::req_body::ReqBody;
use crate::net::Stream;
use request::{BodySize, Framing};
use response::{BodyKind, Parsed};

/// First read size; reads that fill the buffer double it up to
/// [`MAX_READ`].
const READ_SIZE: usize = 8 << 10;
const MAX_READ: usize = 256 << 10;
/// A read buffer larger than this is not kept while the connection idles.
const KEEP_BUF: usize = 64 << 10;
/// Body chunks up to this size are copied next to their framing (one
/// write); larger ones are written from their own buffer.
const COPY_MAX: usize = 4096;

/// `SWITCHYARD_NO_OWN_H1_CLIENT=1` makes upstream HTTP/1.1 connections use
/// hyper's client (read once per process).
pub fn disabled() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("SWITCHYARD_NO_OWN_H1_CLIENT").is_some())
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("upstream closed the connection before responding")]
    Closed,
    #[error("upstream closed the connection mid-response")]
    Truncated,
    #[error("{0}")]
    Head(#[from] response::HeadError),
    #[error("{0}")]
    Chunked(#[from] chunked::ChunkError),
    #[error("upstream connection: {0}")]
    Io(#[from] io::Error),
    #[error("request body: {0}")]
    Body(crate::http::body::BodyError),
    #[error("request body shorter than its Content-Length")]
    ShortBody,
}

/// A request that failed, with the request when it may be sent again on
/// another connection.
pub struct SendFailure {
    pub request: Option<Request<ReqBody>>,
    pub error: ConnError,
}

/// How the response body is being read.
#[derive(Debug)]
enum Resp {
    /// No exchange (between requests).
    Idle,
    /// Waiting for the response head.
    Head {
        head_request: bool,
    },
    /// Exactly this many bytes left.
    Length(u64),
    Chunked(chunked::Decoder),
    /// Until the upstream closes.
    Eof,
    /// The response is over.
    Done,
}

/// One upstream HTTP/1.1 connection.
pub struct H1Conn {
    io: Stream,
    rbuf: BytesMut,
    read_size: usize,
    /// Head and framing bytes not yet written (from `wpos`).
    wbuf: Vec<u8>,
    wpos: usize,
    /// A large body chunk written after `wbuf`, then CRLF when `big_crlf`.
    big: Option<Bytes>,
    big_crlf: bool,
    /// The request body still to send; `None` once it is all queued.
    body: Option<ReqBody>,
    framing: Framing,
    /// Body bytes a Content-Length still allows.
    left: u64,
    /// A body frame was taken from the client (the request cannot be sent
    /// again).
    body_taken: bool,
    /// Writing failed; reading may still get the upstream's answer.
    write_err: Option<io::Error>,
    /// The client's body failed: the exchange is over.
    body_err: Option<ConnError>,
    resp: Resp,
    /// Response bytes arrived for the current exchange.
    got_bytes: bool,
    /// Keep the response's fields as [`raw::RawFields`] (the own writer
    /// sends them on).
    raw_mode: bool,
    /// The current response's fields, when `raw_mode`, until taken.
    raw: Option<raw::RawFields>,
    keep_alive: bool,
    broken: bool,
}

impl H1Conn {
    pub fn new(io: Stream) -> H1Conn {
        H1Conn {
            io,
            rbuf: BytesMut::new(),
            read_size: READ_SIZE,
            wbuf: Vec::new(),
            wpos: 0,
            big: None,
            big_crlf: false,
            body: None,
            framing: Framing::Length(0),
            left: 0,
            body_taken: false,
            write_err: None,
            body_err: None,
            resp: Resp::Idle,
            got_bytes: false,
            raw_mode: false,
            raw: None,
            keep_alive: true,
            broken: false,
        }
    }

    /// Whether the connection can carry another request now.
    pub fn is_reusable(&self) -> bool {
        !self.broken
            && self.keep_alive
            && matches!(self.resp, Resp::Idle | Resp::Done)
            && self.body.is_none()
            && self.write_err.is_none()
            && self.body_err.is_none()
            && self.wpos == self.wbuf.len()
            && self.big.is_none()
            && self.rbuf.is_empty()
    }

    /// Releases what an idle connection need not hold.
    pub fn idle(&mut self) {
        if self.rbuf.capacity() > KEEP_BUF {
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.capacity() > KEEP_BUF {
            self.wbuf = Vec::new();
        }
        self.read_size = READ_SIZE;
        self.raw = None;
    }

    /// Frees the buffers of a connection that sits in the idle cache (they
    /// come back, at their first size, with its next request).
    pub fn release_memory(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf = Vec::new();
            self.wpos = 0;
        }
        self.io.release_memory();
    }

    /// The current response's fields, when the request asked for them raw
    /// (its response head then has no headers): once.
    pub fn take_raw(&mut self) -> Option<raw::RawFields> {
        self.raw.take()
    }

    /// Checks, without waiting, that a pooled connection is still open:
    /// any read that does not block (end of stream, stray bytes, an
    /// error) means it cannot be used.
    pub fn poll_alive(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if !self.is_reusable() {
            return Poll::Ready(false);
        }
        match self.poll_fill(cx) {
            Poll::Pending => Poll::Ready(true),
            Poll::Ready(_) => {
                self.broken = true;
                Poll::Ready(false)
            }
        }
    }

    /// Sends a request and waits for the final response head. On failure
    /// the request comes back when it may go to another connection (see
    /// the module docs); `reused`: the connection came from the pool.
    /// `raw`: the response's fields are kept as [`raw::RawFields`] (for
    /// [`H1Conn::take_raw`]) and the returned head has no headers.
    /// `interim`: where interim (1xx) heads go (else they are dropped).
    pub async fn send(
        &mut self,
        req: Request<ReqBody>,
        reused: bool,
        raw: bool,
        interim: Option<&Interim>,
    ) -> Result<http::response::Parts, SendFailure> {
        let (parts, body) = req.into_parts();
        let size = if body.is_end_stream() {
            BodySize::Empty
        } else {
            match body.size_hint().exact() {
                Some(n) => BodySize::Known(n),
                None => BodySize::Unknown,
            }
        };
        self.wbuf.clear();
        self.wpos = 0;
        self.framing = request::head(&parts, size, &mut self.wbuf);
        self.left = match self.framing {
            Framing::Length(n) => n,
            Framing::Chunked { .. } => u64::MAX,
        };
        let sends_body = size != BodySize::Empty && self.framing != Framing::Length(0);
        self.body = sends_body.then_some(body);
        self.body_taken = false;
        self.resp = Resp::Head {
            head_request: parts.method == Method::HEAD,
        };
        self.got_bytes = false;
        self.raw_mode = raw;
        self.raw = None;
        let res = std::future::poll_fn(|cx| self.poll_head(cx, interim)).await;
        res.map_err(|error| {
            self.broken = true;
            let again = reused
                && !self.got_bytes
                && !self.body_taken
                && matches!(error, ConnError::Closed | ConnError::Io(_))
                && idempotent(&parts.method);
            let request = again.then(|| {
                let body = self.body.take().unwrap_or_default();
                Request::from_parts(parts, body)
            });
            SendFailure { request, error }
        })
    }

    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        interim: Option<&Interim>,
    ) -> Poll<Result<http::response::Parts, ConnError>> {
        loop {
            self.poll_send(cx);
            if let Some(e) = self.body_err.take() {
                return Poll::Ready(Err(e));
            }
            if !self.rbuf.is_empty() {
                let head_request = matches!(self.resp, Resp::Head { head_request: true });
                match response::parse(&mut self.rbuf, head_request, self.raw_mode)? {
                    Some(Parsed::Interim(status, fields)) => {
                        if let Some(sink) = interim {
                            sink.push(status, fields);
                        }
                        continue;
                    }
                    Some(Parsed::Final(head)) => {
                        self.keep_alive = head.keep_alive;
                        self.resp = match head.body {
                            BodyKind::Length(0) => Resp::Done,
                            BodyKind::Length(n) => Resp::Length(n),
                            BodyKind::Chunked => Resp::Chunked(chunked::Decoder::default()),
                            BodyKind::Eof => Resp::Eof,
                        };
                        self.raw = head.raw;
                        return Poll::Ready(Ok(head.parts));
                    }
                    None => {}
                }
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => {
                    return Poll::Ready(Err(match self.write_err.take() {
                        Some(e) => ConnError::Io(e),
                        None if self.got_bytes => ConnError::Truncated,
                        None => ConnError::Closed,
                    }));
                }
                Ok(_) => self.got_bytes = true,
                Err(e) => return Poll::Ready(Err(ConnError::Io(e))),
            }
        }
    }

    /// The next frame of the response body (the request body keeps
    /// flowing meanwhile).
    pub fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ConnError>>> {
        loop {
            self.poll_send(cx);
            if let Some(e) = self.body_err.take() {
                self.broken = true;
                return Poll::Ready(Some(Err(e)));
            }
            match &mut self.resp {
                Resp::Idle | Resp::Head { .. } | Resp::Done => return Poll::Ready(None),
                Resp::Length(left) if !self.rbuf.is_empty() => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(self.rbuf.len());
                    *left -= n as u64;
                    if *left == 0 {
                        self.resp = Resp::Done;
                    }
                    let data = self.rbuf.split_to(n).freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Resp::Chunked(dec) => match dec.step(&mut self.rbuf) {
                    Ok(chunked::Step::Data(data)) => {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(chunked::Step::End(trailers)) => {
                        self.resp = Resp::Done;
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Ok(chunked::Step::Need) => {}
                    Err(e) => {
                        self.broken = true;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                },
                Resp::Eof if !self.rbuf.is_empty() => {
                    let data = self.rbuf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Resp::Length(_) | Resp::Eof => {}
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) if matches!(self.resp, Resp::Eof) => {
                    self.resp = Resp::Done;
                    self.broken = true;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.broken = true;
                    return Poll::Ready(Some(Err(ConnError::Truncated)));
                }
                Ok(_) => {}
                Err(e) => {
                    self.broken = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    /// Whether the response body is over.
    pub fn is_end_stream(&self) -> bool {
        matches!(self.resp, Resp::Done | Resp::Idle | Resp::Length(0))
    }

    /// The response body's size, when known.
    pub fn size_hint(&self) -> SizeHint {
        match self.resp {
            Resp::Length(n) => SizeHint::with_exact(n),
            Resp::Done | Resp::Idle => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }

    /// Reads more of the response into the read buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let space = self.rbuf.capacity() - self.rbuf.len();
        if space < 1024 {
            self.rbuf.reserve(self.read_size);
        }
        let space = self.rbuf.capacity() - self.rbuf.len();
        let n = ready!(pin!(self.io.read_buf(&mut self.rbuf)).poll(cx))?;
        if n == space && self.read_size < MAX_READ {
            self.read_size *= 2;
        }
        Poll::Ready(Ok(n))
    }

    /// Writes what is queued and takes more of the request body, until
    /// the socket or the body would block or the request is all sent.
    /// Failures are recorded (`write_err`, `body_err`), not returned: the
    /// upstream may still answer.
    fn poll_send(&mut self, cx: &mut Context<'_>) {
        if self.write_err.is_some() || self.body_err.is_some() {
            return;
        }
        loop {
            while self.wpos < self.wbuf.len() || self.big.is_some() {
                let big = self.big.as_deref().unwrap_or_default();
                let crlf: &[u8] = if self.big_crlf { b"\r\n" } else { b"" };
                let bufs = [
                    IoSlice::new(&self.wbuf[self.wpos..]),
                    IoSlice::new(big),
                    IoSlice::new(crlf),
                ];
                match Pin::new(&mut self.io).poll_write_vectored(cx, &bufs) {
                    Poll::Pending => return,
                    Poll::Ready(Ok(0)) => {
                        self.write_err = Some(io::ErrorKind::WriteZero.into());
                        return;
                    }
                    Poll::Ready(Ok(n)) => self.advance(n),
                    Poll::Ready(Err(e)) => {
                        self.write_err = Some(e);
                        return;
                    }
                }
            }
            self.wbuf.clear();
            self.wpos = 0;
            let Some(body) = self.body.as_mut() else {
                if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
                    self.write_err = Some(e);
                }
                return;
            };
            let frame = match Pin::new(body).poll_frame(cx) {
                Poll::Pending => {
                    if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
                        self.write_err = Some(e);
                    }
                    return;
                }
                Poll::Ready(frame) => frame,
            };
            self.body_taken = true;
            match frame {
                None => {
                    self.body = None;
                    match &self.framing {
                        Framing::Chunked { .. } => chunked_end(None, None, &mut self.wbuf),
                        Framing::Length(_) if self.left != 0 => {
                            self.body_err = Some(ConnError::ShortBody);
                            return;
                        }
                        Framing::Length(_) => {}
                    }
                }
                Some(Err(e)) => {
                    self.body = None;
                    self.body_err = Some(ConnError::Body(e));
                    return;
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.queue_data(data),
                    Err(frame) => {
                        if let (Ok(trailers), Framing::Chunked { trailers: allowed }) =
                            (frame.into_trailers(), &self.framing)
                        {
                            chunked_end(Some(&trailers), allowed.as_deref(), &mut self.wbuf);
                            // The last chunk is written: the body is over.
                            self.body = None;
                        }
                    }
                },
            }
        }
    }

    /// Queues one body chunk with its framing.
    fn queue_data(&mut self, mut data: Bytes) {
        let chunked = matches!(self.framing, Framing::Chunked { .. });
        if !chunked {
            // More than the Content-Length is dropped, as hyper drops it.
            let n = (data.len() as u64).min(self.left);
            data.truncate(n as usize);
            self.left -= n;
        }
        if data.is_empty() {
            return;
        }
        if chunked {
            chunk_line(data.len(), &mut self.wbuf);
        }
        if data.len() <= COPY_MAX {
            self.wbuf.extend_from_slice(&data);
            if chunked {
                self.wbuf.extend_from_slice(b"\r\n");
            }
        } else {
            self.big = Some(data);
            self.big_crlf = chunked;
        }
    }

    /// Marks `n` written bytes as sent: `wbuf`, then `big`, then its CRLF.
    fn advance(&mut self, mut n: usize) {
        let head = (self.wbuf.len() - self.wpos).min(n);
        self.wpos += head;
        n -= head;
        let Some(big) = &mut self.big else {
            return;
        };
        let k = big.len().min(n);
        big.advance(k);
        n -= k;
        if !big.is_empty() {
            return;
        }
        if !self.big_crlf {
            self.big = None;
            return;
        }
        match n {
            // The CRLF is still to go.
            0 => {}
            // Half of it went: the LF is queued on its own.
            1 => {
                self.big = None;
                self.big_crlf = false;
                self.wbuf.clear();
                self.wpos = 0;
                self.wbuf.push(b'\n');
            }
            _ => {
                self.big = None;
                self.big_crlf = false;
            }
        }
    }
}

/// Methods a request may be repeated with (RFC 9110 §9.2.2).
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests;
