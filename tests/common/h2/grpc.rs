//! gRPC peers for tests: [`GrpcBackend`], whose methods are served by
//! tonic's generic machinery over hyper's HTTP/2 server with [`RawCodec`]
//! (messages are raw bytes: no protobuf, no protoc), and two kinds of
//! tonic client: a `Channel` whose connector counts connections, and one
//! over a plain hyper HTTP/2 connection (no client-side deadline
//! enforcement, so only the proxy enforces one).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use futures_util::StreamExt;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::{AbortOnDrop, bind, h2c_client, serve_each};

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
