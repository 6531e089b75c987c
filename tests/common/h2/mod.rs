//! Test helpers for HTTP/2, gRPC and WebSocket peers, one submodule each,
//! all re-exported here so tests `use common::h2::*`:
//!
//! - [`backend`]: HTTP/2 upstreams: [`H2Backend`], a hyper h2c server that
//!   counts its TCP connections and reports what it saw (version,
//!   `:authority`, headers), and [`RefusingBackend`], which refuses one
//!   stream as never processed;
//! - [`grpc`]: gRPC services served by tonic's generic machinery over
//!   hyper's HTTP/2 server, with [`RawCodec`] (messages are raw bytes: no
//!   protobuf, no protoc), and tonic clients;
//! - [`websocket`]: [`WsBackend`], a tokio-tungstenite WebSocket server;
//! - [`frames`]: [`RawH2`], HTTP/2 frames written and read by hand (the
//!   preface, SETTINGS, HEADERS with a minimal HPACK encoder, RST_STREAM,
//!   CONTINUATION), for attacks no well-behaved client library sends.
//!
//! This file holds what they share (the accept loop of every in-test
//! server), HTTP/2 clients, and the h2c proxy setups of the HTTP/2 tests.

// Each test crate uses a different part.
#![allow(dead_code, unused_imports)]

mod backend;
mod frames;
mod grpc;
mod websocket;

pub use backend::*;
pub use frames::*;
pub use grpc::*;
pub use websocket::*;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard::demo::BackendHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::{Proxy, install_crypto, listener_routes, pool, proxy_config, route};

/// Runs `each` for every connection of `listener`, with the connection's
/// number (from 1, counted in `conns`); the returned task owns the
/// connection tasks, so aborting it closes every connection.
pub fn serve_each<F, Fut>(
    listener: TcpListener,
    conns: Arc<AtomicUsize>,
    mut each: F,
) -> AbortOnDrop
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

/// A listener on an ephemeral port of 127.0.0.1, and its address.
pub async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
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

/// A reqwest client that speaks h2c with prior knowledge.
pub fn h2_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// h2c proxies for the HTTP/2 tests.

/// One HTTP listener "web" (h2c allowed, `listener_extra` keys added) whose
/// one unnamed route sends everything to pool "p" over `endpoints`
/// (round robin, `pool_extra` keys added).
pub fn h2c_config(
    workers: usize,
    listener_extra: &str,
    pool_extra: &str,
    endpoints: &[SocketAddr],
) -> String {
    proxy_config(
        workers,
        &[
            listener_routes(
                "web",
                &format!("http2 = true\n{listener_extra}"),
                "",
                &[route("", "", "p")],
            ),
            pool(
                "p",
                endpoints,
                &format!("algorithm = \"round_robin\"\n{pool_extra}"),
            ),
        ],
    )
}

/// A demo backend "a" behind an [`h2c_config`] proxy with `workers` and
/// `listener_extra`.
pub fn h2c_proxy_to_demo(workers: usize, listener_extra: &str) -> (BackendHandle, Proxy) {
    let b = super::backend("a");
    let proxy = Proxy::start(&h2c_config(workers, listener_extra, "", &[b.addr]));
    (b, proxy)
}

/// An [`H2Backend`] "u" started with `opts` behind an [`h2c_config`] proxy
/// (one worker) that speaks HTTP/2 to it.
pub async fn h2c_proxy_to_h2(opts: H2Opts) -> (H2Backend, Proxy) {
    let b = H2Backend::start("u", opts).await;
    let proxy = Proxy::start(&h2c_config(1, "", "http_version = \"2\"", &[b.addr]));
    (b, proxy)
}
