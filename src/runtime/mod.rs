//! The runtime: a validated `Config` compiled into what the data path reads.
//!
//! A `Runtime` is immutable. Listeners hold `Arc`s into it; a reload
//! compiles a new one (carrying every endpoint's live state over by pool
//! name and endpoint address, so nothing learned is lost) and swaps it in.
//! A connection keeps the listener state it was accepted with.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::balance::Rng;
use crate::config::{
    Config, Forwarding, Global, HttpLimits, ListenerCfg, ListenerTimeouts, Protocol, RouteAction,
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
}

impl ListenerSlot {
    pub fn new(rt: Arc<ListenerRt>) -> ListenerSlot {
        ListenerSlot {
            rt: ArcSwap::new(rt),
            stop: watch::channel(false).0,
        }
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
    pub limits: HttpLimits,
    pub timeouts: ListenerTimeouts,
    pub router: Router,
    /// Same order as `router`'s indices.
    pub routes: Vec<RouteRt>,
    /// The hyper server settings derived from `limits`.
    pub http: hyper::server::conn::http1::Builder,
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

/// Compiles `config`; endpoint state is reused from `previous` where the
/// same pool still has the same endpoint.
pub fn compile(config: Config, previous: Option<&Runtime>) -> Runtime {
    let mut old_states: HashMap<(&str, &str), Arc<EndpointState>> = HashMap::new();
    if let Some(prev) = previous {
        for p in &prev.pools {
            for e in &p.endpoints {
                old_states.insert((p.name.as_str(), e.label.as_str()), e.state.clone());
            }
        }
    }
    let pools: Vec<Arc<Pool>> = config
        .pools
        .iter()
        .map(|pc| {
            Arc::new(Pool::new(pc, |e| {
                old_states
                    .get(&(pc.name.as_str(), e.address.as_str()))
                    .cloned()
                    .unwrap_or_default()
            }))
        })
        .collect();
    let listeners = config
        .listeners
        .iter()
        .map(|l| Arc::new(compile_listener(l, &pools)))
        .collect();
    Runtime {
        config,
        listeners,
        pools,
    }
}

fn compile_listener(l: &ListenerCfg, pools: &[Arc<Pool>]) -> ListenerRt {
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
    ListenerRt {
        name: l.name.clone(),
        protocol: l.protocol,
        access_log: l.access_log,
        forwarding: l.forwarding,
        limits: l.limits,
        timeouts: l.timeouts,
        router: Router::new(&l.routes),
        routes,
        http: http_builder(&l.limits),
    }
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
