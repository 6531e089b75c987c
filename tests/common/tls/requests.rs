//! HTTP over a client TLS stream: hyper HTTP/1.1 and HTTP/2 connections
//! whose failures (a TLS alert, a close) come back as text, one-shot
//! HTTPS GETs, and reqwest clients with a preconfigured rustls
//! configuration.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

use super::client::{Negotiated, negotiated, tls_connect};

/// One response read by [`H1`].
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// The whole reply to the response `resp` resolves to (a request's
/// sending included), within 20 s; any failure as text.
async fn reply_within(
    resp: impl Future<Output = Result<Response<Incoming>, String>>,
) -> Result<Reply, String> {
    let work = async {
        let (parts, body) = resp.await?.into_parts();
        let body = body.collect().await.map_err(|e| error_chain(&e))?;
        Ok(Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        })
    };
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .unwrap_or_else(|_| Err("no response within 20 s".into()))
}

/// A hyper HTTP/1.1 client connection over any stream (e.g. a TLS stream
/// the test holds across a certificate swap).
pub struct H1 {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    /// The connection task; its error (e.g. a TLS alert) explains a failed
    /// request better than hyper's "channel closed".
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl H1 {
    pub async fn over<S>(io: S) -> H1
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("HTTP/1.1 client handshake");
        let task = tokio::spawn(async move { conn.await.map_err(|e| error_chain(&e)) });
        H1 {
            send,
            task: Some(task),
        }
    }

    /// GET `path` with `Host: host` and `headers`; the error is the
    /// connection's (e.g. a TLS alert) as text.
    pub async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let mut req = Request::get(path).header(http::header::HOST, host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::new()).unwrap();
        let send = &mut self.send;
        let result = reply_within(async {
            send.ready().await.map_err(|e| error_chain(&e))?;
            send.send_request(req).await.map_err(|e| error_chain(&e))
        })
        .await;
        match result {
            Ok(reply) => Ok(reply),
            Err(e) => Err(format!(
                "{e}; connection: {}",
                self.connection_error().await
            )),
        }
    }

    /// Why the connection ended (waits up to 5 s for it to end).
    async fn connection_error(&mut self) -> String {
        let Some(task) = self.task.take() else {
            return "already reported".into();
        };
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Err(e))) => e,
            Ok(Ok(Ok(()))) => "closed cleanly".into(),
            Ok(Err(join)) => join.to_string(),
            Err(_) => "still open".into(),
        }
    }
}

impl Drop for H1 {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl H1 {
    /// Waits up to `limit` for the server to close the connection; whether it did.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        match self.task.as_mut() {
            None => true,
            Some(task) => tokio::time::timeout(limit, task).await.is_ok(),
        }
    }
}

/// A hyper HTTP/2 client connection over a stream that negotiated `h2`.
pub struct H2 {
    send: hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl H2 {
    pub async fn over<S>(io: S) -> H2
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .expect("HTTP/2 client handshake");
        let task = tokio::spawn(async move { conn.await.map_err(|e| error_chain(&e)) });
        H2 { send, task }
    }

    /// GET `https://{authority}{path}`.
    pub async fn get(&mut self, authority: &str, path: &str) -> Result<Reply, String> {
        let req = Request::get(format!("https://{authority}{path}"))
            .version(Version::HTTP_2)
            .body(Empty::new())
            .unwrap();
        let send = &mut self.send;
        reply_within(async {
            send.ready().await.map_err(|e| error_chain(&e))?;
            send.send_request(req).await.map_err(|e| error_chain(&e))
        })
        .await
    }

    /// Waits up to `limit` for the server to end the connection; whether it did.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, &mut self.task).await.is_ok()
    }
}

impl Drop for H2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An error and all its sources, `: `-joined.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Connect, handshake, GET one `path` over HTTP/1.1: the handshake result
/// and the reply (any failure, at any step, as text).
pub async fn https_get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    name: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Negotiated, Reply), String> {
    let tls = tls_connect(addr, config, name)
        .await
        .map_err(|e| format!("handshake: {}", error_chain(&e)))?;
    let n = negotiated(&tls);
    let mut h1 = H1::over(tls).await;
    let reply = h1.get(name, path, headers).await?;
    Ok((n, reply))
}

/// A reqwest client with a preconfigured rustls configuration, `names`
/// resolved to `addr` (the port comes from the URL), and the peer's
/// certificate in each response's `reqwest::tls::TlsInfo` extension.
pub fn https_client(
    config: rustls::ClientConfig,
    names: &[&str],
    addr: SocketAddr,
) -> reqwest::Client {
    crate::common::install_crypto();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_info(true)
        .tls_backend_preconfigured(config);
    for n in names {
        b = b.resolve(n, addr);
    }
    b.build().unwrap()
}

/// Every value of header `name` in a demo backend's `/echo` body.
pub fn echoed(body: &str, name: &str) -> Vec<String> {
    body.lines()
        .skip(2)
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_owned())
        .collect()
}
