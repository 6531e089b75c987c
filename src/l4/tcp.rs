//! One TCP stream-proxy connection: (PROXY header in) → (SNI peek) → pick
//! → connect (another endpoint on failure) → (PROXY header out) → relay →
//! log. One routing decision per connection; the payload is never read,
//! only peeked at for a PROXY header or a ClientHello.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::peek::{self, PeekError};
use super::proxy_protocol::{self as pp, Command, ProxyHeader, Transport};
use super::relay::{self, Activity};
use super::sni::{self, Peek};
use crate::balance::client_key;
use crate::config::{HashKey, NonTls, ProxyVersion, ProxyVersions};
use crate::runtime::{ListenerRt, TcpRt};
use crate::upstream::endpoint::now_ns;
use crate::upstream::{Failure, InFlight, Pick, Pool};
use crate::worker::WorkerCtx;

/// The client as the proxy knows it: the socket peer, or what a trusted
/// PROXY header said.
pub struct Client {
    pub peer: SocketAddr,
    /// Source from an accepted PROXY header (`None`: the peer is the client).
    pub source: Option<SocketAddr>,
    pub destination: Option<SocketAddr>,
    pub tlvs: Vec<pp::Tlv>,
    /// Bytes of the accepted PROXY header (peeked, not yet consumed).
    pub header_len: usize,
}

impl Client {
    /// The address backends should see.
    pub fn addr(&self) -> SocketAddr {
        self.source.unwrap_or(self.peer)
    }
}

/// Why a connection was refused before reaching an upstream.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("PROXY header from untrusted peer {0}")]
    Untrusted(SocketAddr),
    #[error("bad PROXY header: {0}")]
    BadProxyHeader(String),
    #[error("not TLS and this listener refuses non-TLS connections")]
    NotTls,
    #[error("bad TLS ClientHello: {0}")]
    BadHello(&'static str),
    #[error("no SNI route matches {0:?} and there is no default pool")]
    NoRoute(Option<String>),
    #[error("no usable endpoint in pool {0}")]
    NoEndpoint(String),
    #[error("every endpoint of pool {0} failed to connect: {1}")]
    Connect(String, String),
    #[error("every endpoint of pool {0} is at max_connections_per_endpoint")]
    Full(String),
}

/// Reads (peeks, then consumes) a PROXY header from a trusted peer.
pub async fn accept_proxy_header(
    stream: &TcpStream,
    peer: SocketAddr,
    listener: &ListenerRt,
) -> Result<Client, Refused> {
    let mut client = Client {
        peer,
        source: None,
        destination: None,
        tlvs: Vec::new(),
        header_len: 0,
    };
    let Some(p) = &listener.proxy_in else {
        return Ok(client);
    };
    if !p.trusted.iter().any(|n| n.contains(peer.ip())) {
        return Err(Refused::Untrusted(peer));
    }
    let parsed = peek::peek_until(stream, 0, pp::MAX_V2_LEN, p.timeout, |b| {
        match pp::parse(b) {
            pp::Parsed::NeedMore => None,
            other => Some(other),
        }
    })
    .await
    .map_err(|e| Refused::BadProxyHeader(e.to_string()))?;
    let (header, consumed) = match parsed {
        pp::Parsed::Header { header, consumed } => (header, consumed),
        pp::Parsed::NotProxy => return Err(Refused::BadProxyHeader("no PROXY header".into())),
        pp::Parsed::Invalid(why) => return Err(Refused::BadProxyHeader(why.into())),
        pp::Parsed::NeedMore => return Err(Refused::BadProxyHeader("incomplete".into())),
    };
    let version_ok = match p.versions {
        ProxyVersions::Any => true,
        ProxyVersions::V1 => header.version == pp::Version::V1,
        ProxyVersions::V2 => header.version == pp::Version::V2,
    };
    if !version_ok {
        return Err(Refused::BadProxyHeader(format!(
            "{:?} header on a listener taking {:?}",
            header.version, p.versions
        )));
    }
    let ProxyHeader {
        source,
        destination,
        tlvs,
        command,
        ..
    } = header;
    if command == Command::Proxy {
        client.source = source;
        client.destination = destination;
    }
    client.tlvs = tlvs;
    client.header_len = consumed;
    Ok(client)
}

/// Serves one accepted TCP connection to completion.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerRt>,
    worker: Rc<WorkerCtx>,
) {
    // Counted for graceful shutdown: the worker waits for open connections
    // up to `shutdown_timeout`.
    let _active = worker.track();
    let Some(tcp) = listener.tcp.as_ref() else {
        return;
    };
    let started = Instant::now();
    // Connections refused before the relay get an access line too, with
    // `end="refused: REASON"` (empty pool or endpoint where none was
    // chosen yet).
    let refused = |client: SocketAddr, sni: Option<&str>, pool: &str, e: &Refused| {
        let end = format!("refused: {e}");
        access_line(&listener, client, sni, pool, "", (0, 0), started, &end);
    };
    let client = match accept_proxy_header(&stream, peer, &listener).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(listener = %listener.name, client = %peer, error = %e, "connection refused");
            refused(peer, None, "", &e);
            return;
        }
    };
    // The PROXY header is ours: remove it before anything reaches a backend.
    if client.header_len > 0 && peek::consume(&stream, client.header_len).await.is_err() {
        return;
    }
    let (pool, sni_name) = match choose_pool(&stream, tcp).await {
        Ok(x) => x,
        Err(e) => {
            tracing::info!(listener = %listener.name, client = %client.addr(), error = %e, "connection refused");
            let sni = match &e {
                Refused::NoRoute(name) => name.as_deref(),
                _ => None,
            };
            refused(client.addr(), sni, "", &e);
            return;
        }
    };
    let (upstream, ep_index, _inflight) = match connect(
        &pool,
        &client,
        &worker,
        listener.admission.tcp_nodelay,
    )
    .await
    {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(listener = %listener.name, client = %client.addr(), pool = %pool.name, error = %e, "connection closed");
            refused(client.addr(), sni_name.as_deref(), &pool.name, &e);
            return;
        }
    };
    let ep = &pool.endpoints[ep_index];
    if let Some(version) = pool.send_proxy {
        let dst = client.destination.or_else(|| stream.local_addr().ok());
        let header = proxy_header(version, &client, dst, pool.forward_proxy_tlvs);
        if let Err(e) = relay::write_all(&upstream, &header).await {
            tracing::warn!(listener = %listener.name, endpoint = %ep.label, error = %e, "sending the PROXY header failed");
            return;
        }
    }
    let (up, down, reason) =
        relay_until_done(&stream, &upstream, tcp.idle_timeout, &ep.state, &worker).await;
    access_line(
        &listener,
        client.addr(),
        sni_name.as_deref(),
        &pool.name,
        &ep.label,
        (up, down),
        started,
        reason,
    );
}

/// The connection's access line (target `access`), when the listener logs.
#[allow(clippy::too_many_arguments)]
fn access_line(
    listener: &ListenerRt,
    client: SocketAddr,
    sni: Option<&str>,
    pool: &str,
    endpoint: &str,
    (up, down): (u64, u64),
    started: Instant,
    end: &str,
) {
    if listener.access_log {
        tracing::info!(
            target: "access",
            listener = %listener.name,
            client = %client,
            sni = sni.unwrap_or(""),
            pool = %pool,
            endpoint = %endpoint,
            bytes_up = up,
            bytes_down = down,
            duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            end = end,
        );
    }
}

/// The pool for this connection: by SNI on listeners with SNI routes.
async fn choose_pool(
    stream: &TcpStream,
    tcp: &TcpRt,
) -> Result<(Arc<Pool>, Option<String>), Refused> {
    let default = || tcp.default_pool.clone().ok_or(Refused::NoRoute(None));
    if tcp.sni.is_empty() {
        return default().map(|p| (p, None));
    }
    let peeked = peek::peek_until(stream, 0, sni::MAX_HELLO_BYTES, tcp.peek_timeout, |b| {
        match sni::parse_client_hello(b) {
            Peek::NeedMore => None,
            other => Some(other),
        }
    })
    .await;
    let hello = match peeked {
        Ok(Peek::Hello(h)) => h,
        Ok(Peek::Invalid(why)) => return Err(Refused::BadHello(why)),
        // Not TLS, or a client that waits for the server to speak first.
        Ok(Peek::NotTls | Peek::NeedMore) | Err(PeekError::Timeout(..) | PeekError::Closed(_)) => {
            return match tcp.non_tls {
                NonTls::DefaultPool => default().map(|p| (p, None)),
                NonTls::Refuse => Err(Refused::NotTls),
            };
        }
        Err(PeekError::TooLarge(_)) => return Err(Refused::BadHello("ClientHello too large")),
        Err(PeekError::Io(e)) => return Err(Refused::BadProxyHeader(e.to_string())),
    };
    let name = hello.server_name.clone();
    match tcp
        .sni
        .iter()
        .find(|r| r.matches(hello.server_name.as_deref(), &hello.alpn))
    {
        Some(route) => Ok((route.pool.clone(), name)),
        None => match &tcp.default_pool {
            Some(p) => Ok((p.clone(), name)),
            None => Err(Refused::NoRoute(name)),
        },
    }
}

/// Picks and connects, trying every endpoint once before giving up
/// (nothing has been relayed yet, so another endpoint is always safe).
async fn connect(
    pool: &Arc<Pool>,
    client: &Client,
    worker: &WorkerCtx,
    nodelay: bool,
) -> Result<(TcpStream, usize, InFlight), Refused> {
    let key = pool.hash_key.as_ref().and_then(|k| match k {
        HashKey::ClientIp => Some(client_key(client.addr(), false)),
        HashKey::ClientIpPort => Some(client_key(client.addr(), true)),
        // HTTP attributes mean nothing on a TCP stream: pick at random.
        HashKey::Path | HashKey::Header(_) | HashKey::Cookie(_) => None,
    });
    let mut tried: Vec<usize> = Vec::new();
    let mut last_err = String::new();
    let mut deadline = None;
    let mut queued = false;
    loop {
        let picked = {
            let mut rng = worker.rng.borrow_mut();
            pool.pick_limited(key, &tried, &mut rng, queued)
        };
        let i = match picked {
            Pick::Endpoint(i) => i,
            Pick::Full => {
                if pool.wait_turn(&mut deadline).await {
                    queued = true;
                    continue;
                }
                return Err(Refused::Full(pool.name.clone()));
            }
            Pick::Empty => {
                return Err(if tried.is_empty() {
                    Refused::NoEndpoint(pool.name.clone())
                } else {
                    Refused::Connect(pool.name.clone(), last_err)
                });
            }
        };
        let ep = &pool.endpoints[i];
        let Some(slot) = pool.in_flight(ep) else {
            // Another worker took its last slot since the pick: again.
            queued = true;
            continue;
        };
        match tokio::time::timeout(pool.connect_timeout, TcpStream::connect(ep.addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(nodelay);
                ep.state.responded();
                return Ok((s, i, slot));
            }
            Ok(Err(e)) => last_err = format!("{}: {e}", ep.label),
            Err(_) => {
                last_err = format!(
                    "{}: connect timed out after {:?}",
                    ep.label, pool.connect_timeout
                )
            }
        }
        tracing::warn!(pool = %pool.name, endpoint = %ep.label, error = %last_err, "connect failed; trying another endpoint");
        pool.failed(ep, Failure::Connect);
        tried.push(i);
    }
}

/// The PROXY header sent to an upstream.
fn proxy_header(
    version: ProxyVersion,
    client: &Client,
    dst: Option<SocketAddr>,
    forward_tlvs: bool,
) -> Vec<u8> {
    let src = client.addr();
    match (version, dst) {
        (ProxyVersion::V1, Some(dst)) => pp::encode_v1(src, dst),
        (ProxyVersion::V1, None) => b"PROXY UNKNOWN\r\n".to_vec(),
        (ProxyVersion::V2, dst) => {
            let tlvs = if forward_tlvs {
                client.tlvs.clone()
            } else {
                Vec::new()
            };
            pp::encode_v2(
                Command::Proxy,
                Transport::Stream,
                Some(src),
                dst.or(Some(src)),
                &tlvs,
            )
        }
    }
}

/// Relays both ways until both directions end, the connection idles out,
/// or its endpoint's drain deadline passes. Returns (bytes up, bytes down,
/// how it ended).
async fn relay_until_done(
    client: &TcpStream,
    upstream: &TcpStream,
    idle: Duration,
    endpoint: &crate::upstream::EndpointState,
    worker: &Rc<WorkerCtx>,
) -> (u64, u64, &'static str) {
    let (sent, received) = (Activity::default(), Activity::default());
    let up = relay::pump(client, upstream, &worker.bufs, &sent);
    let down = relay::pump(upstream, client, &worker.bufs, &received);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    // Idle and drain are checked on a tick (a quarter of the idle timeout,
    // between 10 ms and 5 s): nothing per byte moved, no subscription
    // polled on every wake-up.
    let tick = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let timer = tokio::time::sleep(tick);
    tokio::pin!(timer);
    // A reload wakes every connection of the worker once (no cost per
    // poll): it may have started this endpoint's drain.
    let reload = worker.closing();
    tokio::pin!(reload);
    let mut last_bytes = 0u64;
    let mut idle_for = Duration::ZERO;
    let next_wake = |now: tokio::time::Instant| {
        let at = now + tick;
        match endpoint.drain_deadline() {
            Some(d) => at.min(now + Duration::from_nanos(d.saturating_sub(now_ns()))),
            None => at,
        }
    };
    let reason = loop {
        if up_done && down_done {
            break "closed";
        }
        tokio::select! {
            biased;
            r = &mut up, if !up_done => match r {
                Ok(_) => up_done = true,
                Err(_) => break "client or upstream error",
            },
            r = &mut down, if !down_done => match r {
                Ok(_) => down_done = true,
                Err(_) => break "client or upstream error",
            },
            _ = &mut reload => {
                reload.set(worker.closing());
                let at = next_wake(tokio::time::Instant::now());
                if at < timer.deadline() {
                    timer.as_mut().reset(at);
                }
            }
            _ = &mut timer => {
                if let Some(deadline) = endpoint.drain_deadline()
                    && now_ns() >= deadline
                {
                    break "drained";
                }
                let bytes = sent.bytes.get() + received.bytes.get();
                if bytes == last_bytes {
                    idle_for += tick;
                    if idle_for >= idle {
                        break "idle timeout";
                    }
                } else {
                    last_bytes = bytes;
                    idle_for = Duration::ZERO;
                }
                timer.as_mut().reset(next_wake(tokio::time::Instant::now()));
            }
        }
    };
    (sent.bytes.get(), received.bytes.get(), reason)
}
