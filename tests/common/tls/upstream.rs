//! A TLS upstream for the proxy's pools: hyper (HTTP/2 when ALPN says
//! `h2`, else HTTP/1.1) behind tokio-rustls, recording every handshake and
//! request it sees.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::HandshakeKind;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::certs::{Ca, Issued};
use super::provider;
use crate::common::demo_pattern;

/// One TLS handshake as an upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub sni: Option<String>,
    pub alpn: Option<Vec<u8>>,
    pub client_cert: Option<CertificateDer<'static>>,
    pub kind: Option<HandshakeKind>,
}

/// A TLS server in front of hyper (HTTP/2 when ALPN says `h2`, else
/// HTTP/1.1). Every response carries `x-backend: NAME` and
/// `x-upstream-version`; its body is the request line and headers, or
/// N pattern bytes for `.../bytes?n=N`.
/// Handshakes (successful or not) and requests are recorded.
pub struct TlsUpstream {
    pub name: String,
    pub addr: SocketAddr,
    pub handshakes: Arc<Mutex<Vec<Seen>>>,
    pub failed_handshakes: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    _tasks: JoinSet<()>,
}

/// An upstream's server configuration: `leaf`, `alpn` offered, client
/// certificates required (signed by `client_ca`) when given.
pub fn upstream_config(
    leaf: &Issued,
    alpn: &[&[u8]],
    client_ca: Option<&Ca>,
) -> rustls::ServerConfig {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca.roots()),
                provider(),
            )
            .build()
            .unwrap(),
        ),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(vec![leaf.der.clone()], leaf.private_key())
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

impl TlsUpstream {
    pub async fn start(name: &str, config: rustls::ServerConfig) -> TlsUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (seen, failed, count) = (
            handshakes.clone(),
            failed_handshakes.clone(),
            requests.clone(),
        );
        let own_name = name.to_owned();
        let name: Arc<str> = name.into();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            // Owned by the accept task: aborted with it.
            let mut conns = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, seen, failed, count, name) =
                    (acceptor.clone(), seen.clone(), failed.clone(), count.clone(), name.clone());
                conns.spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    let conn = tls.get_ref().1;
                    let hs = Seen {
                        sni: conn.server_name().map(str::to_owned),
                        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                        client_cert: conn.peer_certificates().and_then(|c| c.first()).cloned(),
                        kind: conn.handshake_kind(),
                    };
                    let h2 = hs.alpn.as_deref() == Some(b"h2");
                    seen.lock().unwrap().push(hs);
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        count.fetch_add(1, Ordering::SeqCst);
                        let name = name.clone();
                        async move { Ok::<_, std::convert::Infallible>(upstream_reply(&name, &req)) }
                    });
                    let io = TokioIo::new(tls);
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, svc)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    }
                });
            }
        });
        TlsUpstream {
            name: own_name,
            addr,
            handshakes,
            failed_handshakes,
            requests,
            _tasks: tasks,
        }
    }

    /// The handshakes completed so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.handshakes.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// `.../bytes?n=N`: N bytes of the demo backends' pattern; anything else:
/// the request line and headers.
fn upstream_reply(name: &str, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let n = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("n="))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|_| req.uri().path().ends_with("/bytes"));
    let body = match n {
        Some(n) => Bytes::from(demo_pattern(n)),
        None => {
            let mut text = format!(
                "{name}\n{} {} {:?}\n",
                req.method(),
                req.uri(),
                req.version()
            );
            for (k, v) in req.headers() {
                text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
            }
            Bytes::from(text)
        }
    };
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut()
        .insert("x-backend", http::HeaderValue::from_str(name).unwrap());
    resp.headers_mut().insert(
        "x-upstream-version",
        http::HeaderValue::from_str(&format!("{:?}", req.version())).unwrap(),
    );
    resp
}
