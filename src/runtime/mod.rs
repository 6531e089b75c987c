//! The runtime: a validated `Config` compiled into what the data path reads.
//!
//! A `Runtime` is immutable. Listeners hold `Arc`s into it; a reload
//! compiles a new one (carrying every endpoint's live state over by pool
//! name and endpoint address, so nothing learned is lost) and swaps it in.
//! A connection keeps the listener state it was accepted with.

use std::collections::HashMap;
use std::sync::Arc;

use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};

use crate::balance::Rng;
use crate::config::{
    Admission, Config, Forwarding, Global, HashKey, HostMatch, HttpLimits, ListenerCfg,
    ListenerTimeouts, NonTls, OnLimit, Protocol, ProxyIn, RouteAction, UpstreamHttp,
};
use crate::http::router::Router;
use crate::upstream::{EndpointState, Pool};

/// Everything the data path needs, compiled from one `Config`.
#[derive(Debug)]
pub struct Runtime {
    pub config: Config,
    pub listeners: Vec<Arc<ListenerRt>>,
    pub pools: Vec<Arc<Pool>>,
}

/// What a listener's accept loops and connections share with the control
/// side: the compiled state new connections get (swapped on reload) and the
/// stop flag. A connection whose state is no longer the slot's current one,
/// or whose listener stopped, finishes its request and closes.
pub struct ListenerSlot {
    pub rt: ArcSwap<ListenerRt>,
    /// Set to true to stop accepting (listener removed, shutdown).
    pub stop: watch::Sender<bool>,
    /// Connections open on this listener, all workers together.
    open: AtomicUsize,
    /// Woken when a connection closes (for connections queued on `max_connections`).
    freed: Notify,
    /// The "refused" line (a connection over `max_connections`, a datagram
    /// with no usable endpoint): a peer repeats it at will.
    pub refused_log: crate::telemetry::throttle::Throttle,
    /// Of the open connections, those idle in a worker's parked set
    /// (`http::parked`).
    pub parked: AtomicUsize,
}

/// One admitted connection; the listener's count drops with it.
pub struct Admitted(Option<Arc<ListenerSlot>>);

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.open.fetch_sub(1, Ordering::AcqRel);
            slot.freed.notify_one();
        }
    }
}

impl ListenerSlot {
    pub fn new(rt: Arc<ListenerRt>) -> ListenerSlot {
        ListenerSlot {
            rt: ArcSwap::new(rt),
            stop: watch::channel(false).0,
            open: AtomicUsize::new(0),
            freed: Notify::new(),
            refused_log: crate::telemetry::throttle::Throttle::new(),
            parked: AtomicUsize::new(0),
        }
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Connections idle in the workers' parked sets now.
    pub fn parked_connections(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }

    /// Admits a new connection under `max_connections`, waiting for a slot
    /// when the listener queues; `None` when it must be refused.
    pub async fn admit(self: &Arc<Self>, a: &Admission) -> Option<Admitted> {
        if a.max_connections == 0 {
            return Some(Admitted(None));
        }
        let deadline = match a.on_limit {
            OnLimit::Queue(t) => Some(tokio::time::Instant::now() + t),
            OnLimit::Refuse => None,
        };
        loop {
            let freed = self.freed.notified();
            let taken = self
                .open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < a.max_connections).then_some(n + 1)
                })
                .is_ok();
            if taken {
                return Some(Admitted(Some(self.clone())));
            }
            let deadline = deadline?;
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    /// The listener was removed by a reload, or the server is stopping.
    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Whether a connection accepted with `rt` should close: the listener
    /// stopped, or a reload replaced its state.
    pub fn is_stale(&self, rt: &Arc<ListenerRt>) -> bool {
        *self.stop.borrow() || !Arc::ptr_eq(&self.rt.load(), rt)
    }
}

/// A compiled listener.
pub struct ListenerRt {
    pub name: String,
    pub protocol: Protocol,
    pub access_log: bool,
    pub forwarding: Forwarding,
    /// Routes match, and pools hash, the normalised path.
    pub normalize_path: bool,
    pub limits: HttpLimits,
    pub timeouts: ListenerTimeouts,
    pub router: Router,
    /// Same order as `router`'s indices.
    pub routes: Vec<RouteRt>,
    /// The hyper server settings derived from `limits`.
    pub http: hyper::server::conn::http1::Builder,
    pub admission: Admission,
    pub proxy_in: Option<ProxyIn>,
    /// Stream-proxy state (`protocol = "tcp"`).
    pub tcp: Option<TcpRt>,
    /// Datagram-proxy state (`protocol = "udp"`).
    pub udp: Option<UdpRt>,
    /// TLS termination: certificates, resumption, client verification.
    pub tls: Option<Arc<crate::tls::server::ServerTls>>,
    /// Whether clients may speak HTTP/2 (ALPN `h2`, or h2c prior knowledge).
    pub http2: bool,
    /// The HTTP/2 server settings (limits from the config).
    pub h2: hyper::server::conn::http2::Builder<crate::http::LocalExec>,
    /// The HTTP/2 limits, for the own server; and which server to use.
    pub h2_limits: crate::config::H2Limits,
    /// Redirect every request to `https://` on this port.
    pub https_redirect: Option<u16>,
    /// `Strict-Transport-Security` added to responses.
    pub hsts: Option<http::HeaderValue>,
    /// Idle timeout of upgraded (WebSocket) connections.
    pub tunnel_idle_timeout: std::time::Duration,
    /// Clients present certificates (mTLS): the verified identity is passed
    /// upstream in `X-Client-Cert-*` headers (client-sent ones are removed
    /// on every listener).
    pub client_identity: bool,
}

/// Why a configuration could not be compiled (files read at compile time
/// changed since validation).
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("listener {listener:?}: {source}")]
    ListenerTls {
        listener: String,
        source: crate::tls::TlsError,
    },
    #[error("pool {pool:?}: {source}")]
    PoolTls {
        pool: String,
        source: crate::tls::TlsError,
    },
}

/// A compiled TCP listener.
#[derive(Debug)]
pub struct TcpRt {
    pub default_pool: Option<Arc<Pool>>,
    pub sni: Vec<SniRt>,
    pub non_tls: NonTls,
    pub peek_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
}

/// A compiled SNI route.
#[derive(Debug)]
pub struct SniRt {
    pub name: String,
    pub server_names: Vec<HostMatch>,
    pub alpn: Vec<Vec<u8>>,
    pub pool: Arc<Pool>,
}

impl SniRt {
    /// Whether a ClientHello's server name and ALPN offer match this route.
    pub fn matches(&self, server_name: Option<&str>, alpn: &[Vec<u8>]) -> bool {
        let name_ok = self.server_names.is_empty()
            || server_name.is_some_and(|n| {
                self.server_names.iter().any(|m| match m {
                    HostMatch::Exact(e) => e == n,
                    HostMatch::Suffix(s) => n.len() > s.len() && n.ends_with(s.as_str()),
                })
            });
        let alpn_ok = self.alpn.is_empty() || alpn.iter().any(|a| self.alpn.contains(a));
        name_ok && alpn_ok
    }
}

/// A compiled UDP listener.
#[derive(Debug)]
pub struct UdpRt {
    pub pool: Arc<Pool>,
    pub session_timeout: std::time::Duration,
    pub max_sessions: usize,
}

impl std::fmt::Debug for ListenerRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerRt")
            .field("name", &self.name)
            .field("routes", &self.routes.len())
            .finish()
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct RouteRt {
    pub name: String,
    pub target: Target,
}

/// Where a route sends requests.
#[derive(Debug)]
pub enum Target {
    Pool(Arc<Pool>),
    /// Weighted split: cumulative weights (ascending) and their pools.
    Split {
        cumulative: Vec<(u64, Arc<Pool>)>,
        total: u64,
    },
}

impl Target {
    /// The pool for one request (a weighted draw for splits).
    pub fn choose(&self, rng: &mut Rng) -> &Pool {
        match self {
            Target::Pool(p) => p,
            Target::Split { cumulative, total } => {
                let x = rng.below((*total).max(1));
                let i = cumulative
                    .partition_point(|(c, _)| *c <= x)
                    .min(cumulative.len() - 1);
                &cumulative[i].1
            }
        }
    }
}

/// A pool's upstream TLS offering `alpn`: the previous configuration's
/// when it may be kept (its files re-read if they changed), else built.
fn client_tls(
    cfg: &crate::config::model::TlsClientCfg,
    alpn: &[&[u8]],
    old: Option<&Arc<crate::tls::client::ClientTls>>,
    pool: &str,
) -> Result<Arc<crate::tls::client::ClientTls>, CompileError> {
    let error = |source| CompileError::PoolTls {
        pool: pool.to_owned(),
        source,
    };
    match old {
        Some(old) if old.reusable_for(cfg, alpn) => {
            old.reload_if_changed().map_err(error)?;
            Ok(old.clone())
        }
        _ => crate::tls::client::ClientTls::build(cfg, alpn)
            .map(Arc::new)
            .map_err(error),
    }
}

/// Compiles `config`; endpoint state is reused from `previous` where the
/// same pool still has the same endpoint, TLS session-ticket keys where
/// the same listener still terminates TLS, and a pool's upstream TLS
/// (with its idle connections, see `ClientTls::key`) where the same pool
/// has the same TLS settings.
pub fn compile(config: Config, previous: Option<&Runtime>) -> Result<Runtime, CompileError> {
    let mut old_states: HashMap<(&str, &str), Arc<EndpointState>> = HashMap::new();
    if let Some(prev) = previous {
        for p in &prev.pools {
            for e in &p.endpoints {
                old_states.insert((p.name.as_str(), e.label.as_str()), e.state.clone());
            }
        }
    }
    let mut pools: Vec<Arc<Pool>> = Vec::with_capacity(config.pools.len());
    for pc in &config.pools {
        let mut pool = Pool::new(pc, |e| {
            old_states
                .get(&(pc.name.as_str(), e.address.as_str()))
                .cloned()
                .unwrap_or_default()
        });
        if let Some(t) = &pc.tls {
            let alpn: &[&[u8]] = match pc.http_version {
                UpstreamHttp::Http1 => &[b"http/1.1"],
                UpstreamHttp::Http2 => &[b"h2"],
                UpstreamHttp::Auto => &[b"h2", b"http/1.1"],
            };
            if t.insecure_skip_verify {
                tracing::warn!(
                    pool = %pc.name,
                    "TLS verification of upstream certificates is disabled \
                     (insecure_skip_verify): any certificate is accepted, so the \
                     connection is open to interception"
                );
            }
            let old = previous.and_then(|p| p.pools.iter().find(|op| op.name == pc.name));
            let tls = client_tls(t, alpn, old.and_then(|op| op.tls.as_ref()), &pc.name)?;
            pool.upgrade_tls = if pc.http_version == UpstreamHttp::Http1 {
                Some(tls.clone())
            } else {
                let old = old.and_then(|op| op.upgrade_tls.as_ref());
                Some(client_tls(t, &[b"http/1.1"], old, &pc.name)?)
            };
            pool.tls = Some(tls);
        }
        pools.push(Arc::new(pool));
    }
    // Endpoints that left the configuration drain: their live connections
    // get the old pool's drain_timeout, new ones go elsewhere.
    if let Some(prev) = previous {
        for p in &prev.pools {
            for e in &p.endpoints {
                let kept = pools.iter().any(|np| {
                    np.name == p.name
                        && np
                            .endpoints
                            .iter()
                            .any(|ne| Arc::ptr_eq(&ne.state, &e.state))
                });
                if !kept {
                    e.state.start_drain(p.drain_timeout);
                }
            }
        }
    }
    let mut listeners = Vec::with_capacity(config.listeners.len());
    for l in &config.listeners {
        let old_tls = previous.and_then(|p| {
            p.listeners
                .iter()
                .find(|o| o.name == l.name)
                .and_then(|o| o.tls.as_deref())
        });
        listeners.push(Arc::new(compile_listener(l, &pools, old_tls)?));
    }
    Ok(Runtime {
        config,
        listeners,
        pools,
    })
}

fn compile_listener(
    l: &ListenerCfg,
    pools: &[Arc<Pool>],
    old_tls: Option<&crate::tls::server::ServerTls>,
) -> Result<ListenerRt, CompileError> {
    let tls = match &l.tls {
        None => None,
        Some(t) => {
            // `http/1.0` last: a client offering only it (`curl --http1.0`,
            // monitoring probes) gets HTTP/1 as from NGINX, not a
            // `no_application_protocol` alert.
            let alpn: &[&[u8]] = if l.http2 {
                &[b"h2", b"http/1.1", b"http/1.0"]
            } else {
                &[b"http/1.1", b"http/1.0"]
            };
            let built =
                crate::tls::server::ServerTls::build(t, alpn, old_tls).map_err(|source| {
                    CompileError::ListenerTls {
                        listener: l.name.clone(),
                        source,
                    }
                })?;
            Some(Arc::new(built))
        }
    };
    let routes = l
        .routes
        .iter()
        .map(|r| RouteRt {
            name: r.name.clone(),
            target: match &r.action {
                RouteAction::Pool(i) => Target::Pool(pools[*i].clone()),
                RouteAction::Split(parts) => {
                    let mut total = 0u64;
                    let cumulative = parts
                        .iter()
                        .map(|(i, w)| {
                            total += u64::from(*w);
                            (total, pools[*i].clone())
                        })
                        .collect();
                    Target::Split { cumulative, total }
                }
            },
        })
        .collect();
    let tcp = l.tcp.as_ref().map(|t| TcpRt {
        default_pool: t.default_pool.map(|i| pools[i].clone()),
        sni: t
            .sni
            .iter()
            .map(|s| SniRt {
                name: s.name.clone(),
                server_names: s.server_names.clone(),
                alpn: s.alpn.iter().map(|a| a.as_bytes().to_vec()).collect(),
                pool: pools[s.pool].clone(),
            })
            .collect(),
        non_tls: t.non_tls,
        peek_timeout: t.peek_timeout,
        idle_timeout: t.idle_timeout,
    });
    let udp = l.udp.as_ref().map(|u| UdpRt {
        pool: pools[u.pool].clone(),
        session_timeout: u.session_timeout,
        max_sessions: u.max_sessions,
    });
    Ok(ListenerRt {
        name: l.name.clone(),
        protocol: l.protocol,
        access_log: l.access_log,
        forwarding: l.forwarding,
        // Normalised only when something looks at the path: a route's
        // matcher, or a pool hashing on it.
        normalize_path: l.normalize_path
            && l.routes.iter().any(|r| {
                let hashes_path = |i: &usize| matches!(pools[*i].hash_key, Some(HashKey::Path));
                r.matcher.path.is_some()
                    || match &r.action {
                        RouteAction::Pool(i) => hashes_path(i),
                        RouteAction::Split(parts) => parts.iter().any(|(i, _)| hashes_path(i)),
                    }
            }),
        limits: l.limits,
        timeouts: l.timeouts,
        router: Router::new(&l.routes),
        routes,
        http: http_builder(&l.limits),
        admission: l.admission,
        proxy_in: l.proxy_in.clone(),
        tcp,
        udp,
        client_identity: l.tls.as_ref().is_some_and(|t| t.client_auth.is_some()),
        hsts: l
            .tls
            .as_ref()
            .and_then(|t| t.hsts.as_deref())
            .and_then(|h| http::HeaderValue::from_str(h).ok()),
        tls,
        http2: l.http2,
        h2: h2_builder(l),
        h2_limits: l.h2,
        https_redirect: l.https_redirect,
        tunnel_idle_timeout: l.tunnel_idle_timeout,
    })
}

/// The HTTP/2 server settings of a listener: its stream and header limits,
/// the Rapid Reset cap, keepalive PINGs, and no server push.
fn h2_builder(l: &ListenerCfg) -> hyper::server::conn::http2::Builder<crate::http::LocalExec> {
    let mut b = hyper::server::conn::http2::Builder::new(crate::http::LocalExec);
    b.max_concurrent_streams(l.h2.max_concurrent_streams)
        .max_pending_accept_reset_streams(l.h2.max_pending_resets)
        .max_header_list_size(u32::try_from(l.limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_local_error_reset_streams(Some(1024))
        // WebSocket over HTTP/2 (RFC 8441 extended CONNECT).
        .enable_connect_protocol();
    if let Some(ka) = l.h2.keepalive {
        b.timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(ka.interval)
            .keep_alive_timeout(ka.timeout);
    }
    b
}

fn http_builder(limits: &HttpLimits) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.keep_alive(true)
        .half_close(false)
        // Client timeouts are enforced per connection phase in http::conn.
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192) + 8192);
    // hyper keeps up to 100 headers on the stack; only ask for more (or
    // fewer) when configured, since it then allocates per request.
    if limits.max_headers != 100 {
        b.max_headers(limits.max_headers);
    }
    b
}

impl Runtime {
    /// The global settings.
    pub fn global(&self) -> &Global {
        &self.config.global
    }
}
