//! Test helpers for HTTP/2, gRPC and WebSocket peers.
//!
//! - [`H2Backend`]: a hyper HTTP/2 (h2c) server that counts its TCP
//!   connections and reports what it saw (version, `:authority`, headers);
//! - [`GrpcBackend`]: gRPC services served by tonic's generic machinery
//!   over hyper's HTTP/2 server, with [`RawCodec`] (messages are raw bytes:
//!   no protobuf, no protoc);
//! - gRPC clients: a tonic `Channel` whose connector counts connections,
//!   and a tonic client over one plain hyper HTTP/2 connection (no
//!   client-side deadline enforcement, so only the proxy enforces one);
//! - [`WsBackend`]: a tokio-tungstenite WebSocket server;
//! - [`RawH2`]: HTTP/2 frames written and read by hand (the preface,
//!   SETTINGS, HEADERS with a minimal HPACK encoder, RST_STREAM,
//!   CONTINUATION), for attacks no well-behaved client library sends.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Runs `accept` for every connection of `listener`; the returned task owns
/// the connection tasks, so aborting it closes every connection.
fn serve_each<F, Fut>(listener: TcpListener, conns: Arc<AtomicUsize>, mut each: F) -> AbortOnDrop
where
    F: FnMut(TcpStream, usize) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    AbortOnDrop(tokio::spawn(async move {
        let mut tasks = JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let id = conns.fetch_add(1, Ordering::SeqCst) + 1;
            tasks.spawn(each(tcp, id));
            // Reap finished connections so the set stays small.
            while tasks.try_join_next().is_some() {}
        }
    }))
}

/// Aborts a task when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

// ---------------------------------------------------------------------------
// A plain HTTP/2 (h2c) backend.

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
    let mut resp = Response::builder()
        .header("x-backend", &*name)
        .header("x-conn", conn)
        .header("x-version", format!("{:?}", req.version()))
        .header("x-scheme", req.uri().scheme_str().unwrap_or(""))
        .header(
            "x-authority",
            req.uri().authority().map_or("", |a| a.as_str()),
        );
    if let Some(te) = req.headers().get("te") {
        resp = resp.header("x-saw-te", te);
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

// ---------------------------------------------------------------------------
// HTTP/2 clients.

/// A hyper HTTP/2 client over exactly one new TCP connection to `addr`
/// (prior knowledge); the connection is driven by a spawned task.
pub async fn h2c_client<B>(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<B>
where
    B: http_body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp.set_nodelay(true);
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake with the proxy");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// An empty request body.
pub type Empty = http_body_util::Empty<Bytes>;

/// A GET request for an HTTP/2 client: absolute URI (`:scheme`,
/// `:authority` = `authority`).
pub fn get(authority: &str, path: &str) -> Request<Empty> {
    Request::get(format!("http://{authority}{path}"))
        .body(Empty::new())
        .unwrap()
}

/// An `h2` crate client over one new TCP connection (its connection task
/// is spawned).
pub async fn h2_crate_client(addr: SocketAddr) -> ::h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = ::h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

// ---------------------------------------------------------------------------
// gRPC: a codec of raw bytes, backends and clients.

/// A gRPC codec whose messages are the raw bytes of the gRPC frames
/// (identity encoding both ways).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

/// A closure as a tower `Service` (tonic's service traits are implemented
/// for every `Service` of the right shape).
#[derive(Clone)]
pub struct FnSvc<F>(pub F);

impl<F, Req, Fut, Resp> tonic::codegen::Service<Req> for FnSvc<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Resp, Status>>,
{
    type Response = Resp;
    type Error = Status;
    type Future = Fut;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Fut {
        (self.0)(req)
    }
}

type MsgStream = Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, Status>> + Send>>;

/// `NAME:MSG`.
fn tag(name: &str, msg: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(name.len() + 1 + msg.len());
    b.extend_from_slice(name.as_bytes());
    b.push(b':');
    b.extend_from_slice(msg);
    Bytes::from(b)
}

/// A gRPC server (h2c) whose methods, under any service name, are chosen
/// by the last path segment:
/// - `Unary`: replies `NAME:MSG`;
/// - `ServerStream`: MSG is a count N; replies `NAME:0` .. `NAME:N-1`;
/// - `ClientStream`: replies `NAME:` + all messages concatenated;
/// - `Bidi`: replies `NAME:MSG` to each message as it arrives;
/// - `NotFound`: fails with `NOT_FOUND` and MSG as the message;
/// - `StreamThenAbort`: two messages, then `ABORTED` in the trailers;
/// - `Stall`: answers `Unary`-style after 5 s;
/// - anything else: `UNIMPLEMENTED`.
///
/// Every reply also carries the response header `x-backend: NAME`.
pub struct GrpcBackend {
    pub name: String,
    pub addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    conns: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

impl GrpcBackend {
    pub async fn start(name: &str) -> GrpcBackend {
        let (listener, addr) = bind().await;
        let conns = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (n, c) = (Arc::<str>::from(name), calls.clone());
        let task = serve_each(listener, conns.clone(), move |tcp, _| {
            let (n, c) = (n.clone(), c.clone());
            async move {
                let svc = service_fn(move |req| {
                    c.fetch_add(1, Ordering::SeqCst);
                    grpc_dispatch(n.clone(), req)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            }
        });
        GrpcBackend {
            name: name.to_owned(),
            addr,
            calls,
            conns,
            _task: task,
        }
    }

    /// RPCs received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }
}

async fn grpc_dispatch(
    name: Arc<str>,
    req: Request<Incoming>,
) -> Result<Response<tonic::body::Body>, Infallible> {
    let method = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
    let mut grpc = tonic::server::Grpc::new(RawCodec);
    let n = name.clone();
    let mut resp = match method.as_str() {
        "Unary" => {
            let svc = FnSvc(move |r: tonic::Request<Bytes>| {
                let n = n.clone();
                async move { Ok(tonic::Response::new(tag(&n, r.get_ref()))) }
            });
            grpc.unary(svc, req).await
        }
        "Stall" => {
            let svc = FnSvc(move |r: tonic::Request<Bytes>| {
                let n = n.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(tonic::Response::new(tag(&n, r.get_ref())))
                }
            });
            grpc.unary(svc, req).await
        }
        "NotFound" => {
            let svc = FnSvc(move |r: tonic::Request<Bytes>| async move {
                let msg = String::from_utf8_lossy(r.get_ref()).into_owned();
                Err::<tonic::Response<Bytes>, _>(Status::not_found(msg))
            });
            grpc.unary(svc, req).await
        }
        "ServerStream" => {
            let svc = FnSvc(move |r: tonic::Request<Bytes>| {
                let n = n.clone();
                async move {
                    let count: usize = std::str::from_utf8(r.get_ref())
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| Status::invalid_argument("count"))?;
                    let items: Vec<Result<Bytes, Status>> = (0..count)
                        .map(|i| Ok(tag(&n, i.to_string().as_bytes())))
                        .collect();
                    let s: MsgStream = Box::pin(futures_util::stream::iter(items));
                    Ok(tonic::Response::new(s))
                }
            });
            grpc.server_streaming(svc, req).await
        }
        "StreamThenAbort" => {
            let svc = FnSvc(move |_: tonic::Request<Bytes>| {
                let n = n.clone();
                async move {
                    let items = vec![
                        Ok(tag(&n, b"first")),
                        Ok(tag(&n, b"second")),
                        Err(Status::aborted("stopped midway")),
                    ];
                    let s: MsgStream = Box::pin(futures_util::stream::iter(items));
                    Ok(tonic::Response::new(s))
                }
            });
            grpc.server_streaming(svc, req).await
        }
        "ClientStream" => {
            let svc = FnSvc(move |r: tonic::Request<tonic::Streaming<Bytes>>| {
                let n = n.clone();
                async move {
                    let mut s = r.into_inner();
                    let mut all = Vec::new();
                    while let Some(m) = s.message().await? {
                        all.extend_from_slice(&m);
                    }
                    Ok(tonic::Response::new(tag(&n, &all)))
                }
            });
            grpc.client_streaming(svc, req).await
        }
        "Bidi" => {
            let svc = FnSvc(move |r: tonic::Request<tonic::Streaming<Bytes>>| {
                let n = n.clone();
                async move {
                    let out = r.into_inner().map(move |m| m.map(|b| tag(&n, &b)));
                    let s: MsgStream = Box::pin(out);
                    Ok(tonic::Response::new(s))
                }
            });
            grpc.streaming(svc, req).await
        }
        _ => Status::unimplemented(format!("no method {method}")).into_http(),
    };
    if let Ok(v) = HeaderValue::try_from(&*name) {
        resp.headers_mut().insert("x-backend", v);
    }
    Ok(resp)
}

/// A tonic `Channel` to `addr` (h2c) whose connector counts the TCP
/// connections it opens.
pub async fn grpc_channel(addr: SocketAddr) -> (tonic::transport::Channel, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let connector = CountingConnector {
        addr,
        count: count.clone(),
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_with_connector(connector)
        .await
        .expect("tonic channel connects");
    (channel, count)
}

/// A tonic connector to a fixed address that counts its connects.
#[derive(Clone)]
pub struct CountingConnector {
    addr: SocketAddr,
    count: Arc<AtomicUsize>,
}

impl tonic::codegen::Service<http::Uri> for CountingConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        self.count.fetch_add(1, Ordering::SeqCst);
        let addr = self.addr;
        Box::pin(async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok(TokioIo::new(tcp))
        })
    }
}

/// A tonic transport over one hyper HTTP/2 connection. Unlike a tonic
/// `Channel` it does not enforce `grpc-timeout` itself, so a deadline
/// error can only come from the other side.
#[derive(Clone)]
pub struct HyperH2(pub hyper::client::conn::http2::SendRequest<tonic::body::Body>);

impl tonic::codegen::Service<Request<tonic::body::Body>> for HyperH2 {
    type Response = Response<Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// A tonic client over one new hyper HTTP/2 connection to `addr`.
pub async fn grpc_over_hyper(addr: SocketAddr) -> tonic::client::Grpc<HyperH2> {
    let send = h2c_client::<tonic::body::Body>(addr).await;
    tonic::client::Grpc::with_origin(
        HyperH2(send),
        format!("http://{addr}").parse().expect("origin"),
    )
}

/// One unary call of `path` with message `msg`.
pub async fn unary<T>(
    client: &mut tonic::client::Grpc<T>,
    path: &'static str,
    req: tonic::Request<Bytes>,
) -> Result<tonic::Response<Bytes>, Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError>,
    T::Error: Into<tonic::codegen::StdError>,
{
    client
        .ready()
        .await
        .map_err(|e| Status::unavailable(format!("not ready: {}", e.into())))?;
    client
        .unary(req, http::uri::PathAndQuery::from_static(path), RawCodec)
        .await
}

// ---------------------------------------------------------------------------
// WebSocket.

/// WebSocket settings allowing messages and frames up to 64 MiB.
pub fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// A tokio-tungstenite server. Behaviour by request path:
/// - `/ws/close1001`: sends Close(1001 "going away") right after the
///   handshake;
/// - `/ws/forbid`: refuses the handshake with `403`;
/// - anything else: echoes text and binary messages (pings are answered by
///   tungstenite).
///
/// Close frames received from clients are recorded.
pub struct WsBackend {
    pub addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    closes: Arc<Mutex<Vec<(u16, String)>>>,
    _task: AbortOnDrop,
}

impl WsBackend {
    pub async fn start() -> WsBackend {
        let (listener, addr) = bind().await;
        let conns = Arc::new(AtomicUsize::new(0));
        let closes: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
        let cl = closes.clone();
        let task = serve_each(listener, conns.clone(), move |tcp, _| {
            let cl = cl.clone();
            async move {
                let path = Arc::new(Mutex::new(String::new()));
                let p = path.clone();
                // tungstenite's callback type fixes the (large) error type.
                #[allow(clippy::result_large_err)]
                let callback =
                    move |req: &tungstenite::handshake::server::Request,
                          resp: tungstenite::handshake::server::Response| {
                        *p.lock().unwrap() = req.uri().path().to_owned();
                        if req.uri().path() == "/ws/forbid" {
                            let mut r = tungstenite::handshake::server::ErrorResponse::new(Some(
                                "forbidden here".into(),
                            ));
                            *r.status_mut() = http::StatusCode::FORBIDDEN;
                            r.headers_mut()
                                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(14));
                            return Err(r);
                        }
                        Ok(resp)
                    };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async_with_config(
                    tcp,
                    callback,
                    Some(ws_config()),
                )
                .await
                else {
                    return;
                };
                let path = path.lock().unwrap().clone();
                if path == "/ws/close1001" {
                    let frame = tungstenite::protocol::CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::Away,
                        reason: "going away".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                }
                while let Some(Ok(msg)) = ws.next().await {
                    if let tungstenite::Message::Close(Some(f)) = &msg {
                        cl.lock()
                            .unwrap()
                            .push((u16::from(f.code), f.reason.to_string()));
                    } else if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        });
        WsBackend {
            addr,
            conns,
            closes,
            _task: task,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Close frames received from clients: (code, reason).
    pub fn closes(&self) -> Vec<(u16, String)> {
        self.closes.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------
// HTTP/2 frames by hand.

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame: 9-byte header and payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24);
    let mut f = Vec::with_capacity(9 + len);
    f.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// RST_STREAM(`code`) on `stream`.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK integer with an `n`-bit prefix, first byte OR-ed with `flags`.
pub fn hpack_int(out: &mut Vec<u8>, flags: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

fn hpack_str(out: &mut Vec<u8>, s: &[u8]) {
    // Not Huffman-coded (H bit 0).
    hpack_int(out, 0x00, 7, s.len());
    out.extend_from_slice(s);
}

/// A literal header field without indexing, with a new name.
pub fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0x00);
    hpack_str(out, name.as_bytes());
    hpack_str(out, value);
}

/// A literal header field without indexing whose name is static-table
/// entry `index` (1 = `:authority`, 4 = `:path`).
pub fn hpack_literal_indexed_name(out: &mut Vec<u8>, index: usize, value: &[u8]) {
    hpack_int(out, 0x00, 4, index);
    hpack_str(out, value);
}

/// The header block of `GET http://authority{path}`: `:method GET`
/// (static 2), `:scheme http` (static 6), `:path` (static 4 for `/`, else
/// a literal with the static name), literal `:authority`.
pub fn get_block(authority: &str, path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86];
    if path == "/" {
        b.push(0x84);
    } else {
        hpack_literal_indexed_name(&mut b, 4, path.as_bytes());
    }
    hpack_literal_indexed_name(&mut b, 1, authority.as_bytes());
    b
}

/// A frame read back.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a GOAWAY or RST_STREAM frame.
    pub fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }

    /// The (identifier, value) pairs of a SETTINGS frame.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }
}

/// The next frame from `r`; `None` at end of stream or on a read error.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Option<Frame> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// A raw HTTP/2 connection.
pub struct RawH2 {
    pub tcp: TcpStream,
    /// The server's SETTINGS (its first frame).
    pub server_settings: Vec<(u16, u32)>,
    /// Answer PINGs (default true).
    pub ack_pings: bool,
}

impl RawH2 {
    /// Connects, sends the preface and an empty SETTINGS, acknowledges the
    /// server's SETTINGS and waits for the server to acknowledge ours.
    pub async fn connect(addr: SocketAddr) -> RawH2 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let _ = tcp.set_nodelay(true);
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        tcp.write_all(&hello).await.unwrap();
        let mut raw = RawH2 {
            tcp,
            server_settings: Vec::new(),
            ack_pings: true,
        };
        let (mut got_settings, mut got_ack) = (false, false);
        while !(got_settings && got_ack) {
            let f = raw
                .read_frame_within(Duration::from_secs(5))
                .await
                .expect("server SETTINGS");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                raw.server_settings = f.settings();
                raw.send(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
                got_settings = true;
            } else if f.kind == SETTINGS {
                got_ack = true;
            }
        }
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tcp.write_all(bytes).await
    }

    /// The next frame; `None` at end of stream or on a read error. PINGs
    /// are acknowledged, as any client must (unless `ack_pings` is off).
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let f = read_frame(&mut self.tcp).await?;
        if self.ack_pings && f.kind == PING && f.flags & ACK == 0 {
            let _ = self.send(&frame(PING, ACK, 0, &f.payload)).await;
        }
        Some(f)
    }

    /// The next frame within `limit`; `None` on timeout, end of stream or
    /// error.
    pub async fn read_frame_within(&mut self, limit: Duration) -> Option<Frame> {
        tokio::time::timeout(limit, self.read_frame())
            .await
            .ok()
            .flatten()
    }

    /// Reads frames until one satisfies `pred` (returned), the connection
    /// ends (`None`) or `limit` passes (panics).
    pub async fn until(&mut self, limit: Duration, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let read = async {
            while let Some(f) = self.read_frame().await {
                if pred(&f) {
                    return Some(f);
                }
            }
            None
        };
        tokio::time::timeout(limit, read)
            .await
            .expect("no matching frame nor end of connection in time")
    }
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
