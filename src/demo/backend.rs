//! A small HTTP/1.1 backend that names itself: the demo's backends, and the
//! backends the integration tests run on ephemeral ports.
//!
//! Every response carries `x-backend: NAME`. Paths:
//! - `/echo` — the request line and headers as the backend received them;
//! - `/slow?ms=N` — answers after N milliseconds;
//! - `/status/NNN` — answers with that status;
//! - `/bytes?n=N[&chunked=1]` — streams N bytes, generated on the fly;
//! - `/upload` — reads the whole request body, answers with its length and
//!   an xxh3 checksum (never holding it in memory);
//! - anything else — the backend's name.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Largest `/bytes` chunk.
const CHUNK: usize = 64 * 1024;

/// A bound, not yet serving, backend.
pub struct Backend {
    name: Arc<str>,
    listener: std::net::TcpListener,
    hits: Arc<AtomicU64>,
    conns: Arc<AtomicU64>,
}

/// A backend serving on the tokio runtime it was spawned on; stops when dropped.
pub struct BackendHandle {
    pub name: String,
    pub addr: SocketAddr,
    hits: Arc<AtomicU64>,
    conns: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl BackendHandle {
    /// Requests served so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.conns.load(Ordering::Relaxed)
    }
}

impl Drop for BackendHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    /// Binds `addr` (port 0 for an ephemeral port).
    pub fn bind(name: &str, addr: SocketAddr) -> io::Result<Backend> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Backend {
            name: name.into(),
            listener,
            hits: Arc::default(),
            conns: Arc::default(),
        })
    }

    pub fn addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves on the current tokio runtime until the handle is dropped.
    pub fn spawn(self) -> io::Result<BackendHandle> {
        let addr = self.addr()?;
        let name = self.name.to_string();
        let hits = self.hits.clone();
        let conns = self.conns.clone();
        let task = tokio::spawn(self.serve());
        Ok(BackendHandle {
            name,
            addr,
            hits,
            conns,
            task,
        })
    }

    /// Serves forever.
    pub async fn serve(self) {
        let listener = match tokio::net::TcpListener::from_std(self.listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(backend = %self.name, error = %e, "demo backend cannot listen");
                return;
            }
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            self.conns.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_nodelay(true);
            let name = self.name.clone();
            let hits = self.hits.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    hits.fetch_add(1, Ordering::Relaxed);
                    respond(name.clone(), req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }
}

type DemoBody = http_body_util::Either<http_body_util::Full<Bytes>, Generated>;

fn text(status: StatusCode, body: String) -> Response<DemoBody> {
    let mut r = Response::new(http_body_util::Either::Left(http_body_util::Full::new(
        Bytes::from(body),
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn query_param<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.uri().query()?.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

async fn respond(name: Arc<str>, req: Request<Incoming>) -> Result<Response<DemoBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let mut resp = if path == "/echo" {
        let mut out = format!(
            "{name}\n{} {} {:?}\n",
            req.method(),
            req.uri(),
            req.version()
        );
        for (k, v) in req.headers() {
            out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        text(StatusCode::OK, out)
    } else if path == "/slow" {
        let ms: u64 = query_param(&req, "ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000)
            .min(600_000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        text(StatusCode::OK, format!("{name} slept {ms} ms\n"))
    } else if let Some(code) = path.strip_prefix("/status/") {
        match code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(s) => text(s, format!("{name} status {}\n", s.as_u16())),
            None => text(
                StatusCode::BAD_REQUEST,
                format!("{name}: /status/NNN needs a status code\n"),
            ),
        }
    } else if path == "/bytes" {
        let n: u64 = query_param(&req, "n")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let chunked = query_param(&req, "chunked") == Some("1");
        let mut r = Response::new(http_body_util::Either::Right(Generated {
            left: n,
            exact: !chunked,
        }));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    } else if path == "/upload" {
        let mut body = req.into_body();
        let mut len = 0u64;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(d) = f.data_ref() {
                        len += d.len() as u64;
                        hasher.update(d);
                    }
                }
                Err(e) => {
                    return Ok(text(
                        StatusCode::BAD_REQUEST,
                        format!("{name}: body error: {e}\n"),
                    ));
                }
            }
        }
        text(
            StatusCode::OK,
            format!(
                "{name} received {len} bytes xxh3={:016x}\n",
                hasher.digest()
            ),
        )
    } else {
        text(StatusCode::OK, format!("{name}\n"))
    };
    if let Ok(v) = HeaderValue::from_str(&name) {
        resp.headers_mut().insert("x-backend", v);
    }
    Ok(resp)
}

/// The byte at offset `i` of every `/bytes` body (so clients can verify it).
pub fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// `/bytes` body: `left` bytes of the pattern, produced chunk by chunk.
pub struct Generated {
    left: u64,
    exact: bool,
}

static PATTERN: std::sync::LazyLock<Bytes> = std::sync::LazyLock::new(|| {
    Bytes::from(
        (0..(CHUNK as u64 + 251))
            .map(pattern_byte)
            .collect::<Vec<u8>>(),
    )
});

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK as u64);
        // Chunks are multiples of 251 bytes except the last, so each starts at pattern offset 0.
        let n = if n == CHUNK as u64 { n - (n % 251) } else { n };
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(PATTERN.slice(..n as usize)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.left)
        } else {
            SizeHint::default()
        }
    }
}
