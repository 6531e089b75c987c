//! HTTP/2 upstreams for the proxy to talk to: [`H2Backend`], a hyper
//! HTTP/2 server that reports how each request reached it, and
//! [`RefusingBackend`], a hand-written one that refuses a stream as never
//! processed (to test the proxy's retries).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;

use super::frames::*;
use super::{AbortOnDrop, bind, serve_each};

/// The head of a response that says how the request arrived: `x-conn`
/// (the number of the TCP connection that carried it), `x-version`,
/// `x-scheme` and `x-authority`.
pub fn described_response<B>(req: &Request<B>, conn: usize) -> http::response::Builder {
    Response::builder()
        .header("x-conn", conn)
        .header("x-version", format!("{:?}", req.version()))
        .header("x-scheme", req.uri().scheme_str().unwrap_or(""))
        .header(
            "x-authority",
            req.uri().authority().map_or("", |a| a.as_str()),
        )
}

type UpBody = UnsyncBoxBody<Bytes, Infallible>;

/// Options of an [`H2Backend`].
#[derive(Default, Clone)]
pub struct H2Opts {
    /// SETTINGS_MAX_CONCURRENT_STREAMS it advertises.
    pub max_streams: Option<u32>,
    /// Requests to `/hold` answer only once this barrier is passed.
    pub hold: Option<Arc<Barrier>>,
    /// Shut every connection down gracefully (GOAWAY) once it has
    /// answered one request, like a server restarting between requests.
    pub goaway_after_one: bool,
}

/// A hyper HTTP/2 server (prior knowledge) on 127.0.0.1. Every response
/// carries `x-backend: NAME`, `x-conn` (the number of the TCP connection
/// that carried it, from 1), `x-version`, `x-authority`, `x-scheme`, and
/// `x-saw-te` when the request had a `te` header. Paths:
/// - `/echo`: the body lists the request headers, `name: value` per line;
/// - `/trailers`: body `data`, then trailers `x-trailer: done` and
///   `grpc-status: 0`;
/// - `/echo-trailers`: the body lists the request's trailers;
/// - `/hold`: waits for the [`H2Opts::hold`] barrier first;
/// - `/slow?ms=N`: answers after N ms (a request dropped before that, e.g.
///   reset by the client, is counted in [`H2Backend::cancelled`]);
/// - else: the body is the backend's name.
pub struct H2Backend {
    pub name: String,
    pub addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    cancelled: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

impl H2Backend {
    pub async fn start(name: &str, opts: H2Opts) -> H2Backend {
        let (listener, addr) = bind().await;
        let conns = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let (n, r, c) = (Arc::<str>::from(name), requests.clone(), cancelled.clone());
        let task = serve_each(listener, conns.clone(), move |tcp, id| {
            let (n, r, c, opts) = (n.clone(), r.clone(), c.clone(), opts.clone());
            async move {
                let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                b.max_concurrent_streams(opts.max_streams);
                let answered = Arc::new(tokio::sync::Notify::new());
                let a = answered.clone();
                let svc = service_fn(move |req| {
                    r.fetch_add(1, Ordering::SeqCst);
                    let resp = h2_respond(n.clone(), id, opts.hold.clone(), c.clone(), req);
                    let a = a.clone();
                    async move {
                        let r = resp.await;
                        a.notify_one();
                        r
                    }
                });
                let conn = b.serve_connection(TokioIo::new(tcp), svc);
                tokio::pin!(conn);
                if opts.goaway_after_one {
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = answered.notified() => conn.as_mut().graceful_shutdown(),
                    }
                }
                let _ = conn.await;
            }
        });
        H2Backend {
            name: name.to_owned(),
            addr,
            conns,
            requests,
            cancelled,
            _task: task,
        }
    }

    /// `/slow` requests dropped before their answer (stream reset).
    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Requests (streams) received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn h2_respond(
    name: Arc<str>,
    conn: usize,
    hold: Option<Arc<Barrier>>,
    cancelled: Arc<AtomicUsize>,
    req: Request<Incoming>,
) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/hold"
        && let Some(b) = hold
    {
        b.wait().await;
    }
    if path == "/slow" {
        let ms: u64 = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        // Counts the request as cancelled if dropped while sleeping.
        struct Guard(Option<Arc<AtomicUsize>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                if let Some(c) = self.0.take() {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let mut guard = Guard(Some(cancelled));
        tokio::time::sleep(Duration::from_millis(ms)).await;
        guard.0 = None;
    }
    let mut resp = described_response(&req, conn).header("x-backend", &*name);
    if let Some(te) = req.headers().get("te") {
        resp = resp.header("x-saw-te", te);
    }
    if path == "/echo-trailers" {
        // The request body's trailers, `name: value` per line.
        let collected = req.into_body().collect().await;
        let mut out = String::new();
        if let Some(t) = collected.ok().and_then(|c| c.trailers().cloned()) {
            for (k, v) in &t {
                out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
            }
        }
        return Ok(resp
            .body(Full::new(Bytes::from(out)).boxed_unsync())
            .unwrap());
    }
    let body: UpBody = match path.as_str() {
        "/echo" => {
            let mut out = String::new();
            for (k, v) in req.headers() {
                out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
            }
            Full::new(Bytes::from(out)).boxed_unsync()
        }
        "/trailers" => {
            let mut t = HeaderMap::new();
            t.insert("x-trailer", HeaderValue::from_static("done"));
            t.insert("grpc-status", HeaderValue::from_static("0"));
            Full::new(Bytes::from_static(b"data"))
                .with_trailers(std::future::ready(Some(Ok(t))))
                .boxed_unsync()
        }
        _ => Full::new(Bytes::from(name.to_string())).boxed_unsync(),
    };
    Ok(resp.body(body).unwrap())
}

/// How a [`RefusingBackend`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuse {
    /// RST_STREAM(REFUSED_STREAM) on the stream; the connection goes on.
    RstStream,
    /// GOAWAY(NO_ERROR) whose last stream id is the previous stream; the
    /// connection is then closed.
    GoAway,
}

/// A hand-written HTTP/2 server (h2c) that answers `200` (empty body) to
/// every request except the second stream of its first connection, which
/// it refuses as never processed (RFC 9113 §8.7: safe to retry).
pub struct RefusingBackend {
    pub addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

impl RefusingBackend {
    pub async fn start(how: Refuse) -> RefusingBackend {
        let (listener, addr) = bind().await;
        let conns = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (a, r) = (answered.clone(), refused.clone());
        let task = serve_each(listener, conns.clone(), move |mut tcp, conn| {
            let (a, r) = (a.clone(), r.clone());
            async move {
                let mut preface = [0u8; 24];
                if tcp.read_exact(&mut preface).await.is_err() || preface != PREFACE {
                    return;
                }
                if tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await.is_err() {
                    return;
                }
                let mut streams = 0;
                let mut last = 0u32;
                while let Some(f) = read_frame(&mut tcp).await {
                    let reply = match f.kind {
                        SETTINGS if f.flags & ACK == 0 => frame(SETTINGS, ACK, 0, &[]),
                        PING if f.flags & ACK == 0 => frame(PING, ACK, 0, &f.payload),
                        HEADERS => {
                            streams += 1;
                            if conn == 1 && streams == 2 {
                                r.fetch_add(1, Ordering::SeqCst);
                                if how == Refuse::GoAway {
                                    let mut p = last.to_be_bytes().to_vec();
                                    p.extend(NO_ERROR.to_be_bytes());
                                    let _ = tcp.write_all(&frame(GOAWAY, 0, 0, &p)).await;
                                    let _ = tcp.shutdown().await;
                                    // Drain until the proxy closes.
                                    while read_frame(&mut tcp).await.is_some() {}
                                    return;
                                }
                                rst_stream(f.stream, REFUSED_STREAM)
                            } else {
                                a.fetch_add(1, Ordering::SeqCst);
                                last = f.stream;
                                // `:status: 200` (HPACK static 8), no body.
                                frame(HEADERS, END_HEADERS | END_STREAM, f.stream, &[0x88])
                            }
                        }
                        _ => continue,
                    };
                    if tcp.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            }
        });
        RefusingBackend {
            addr,
            conns,
            answered,
            refused,
            _task: task,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Streams answered with 200.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Streams refused.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}
