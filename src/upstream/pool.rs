//! A compiled pool: endpoints, their balancer, and the pool's upstream settings.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use crate::balance::{self, Balancer, EndpointView, Member, Rng};
use crate::config::{EndpointCfg, HashKey, OnLimit, PoolCfg, ProxyVersion};

use super::endpoint::{Endpoint, EndpointState, Failure, InFlight, SlotQueue, now_ns};

/// What [`Pool::pick_limited`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// This endpoint.
    Endpoint(usize),
    /// Every endpoint left is at `max_connections_per_endpoint` (or others
    /// wait before this caller): queue or refuse, as `on_limit` says.
    Full,
    /// No endpoint left to try.
    Empty,
}

/// A pool as the data path uses it.
#[derive(Debug)]
pub struct Pool {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    balancer: Box<dyn Balancer>,
    /// What hashing balancers hash (None for the others).
    pub hash_key: Option<HashKey>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// The longest wait for more of a response body (`http::body`).
    pub response_body_timeout: Duration,
    /// Keepalive PINGs on the HTTP/2 connections this pool opens.
    pub h2_keepalive: Option<crate::config::H2Keepalive>,
    pub idle_timeout: Duration,
    pub max_idle_per_endpoint: usize,
    pub fail_timeout: Duration,
    pub max_fails: u32,
    /// Answers with these statuses count as failures (`Failure::Status`).
    pub fail_statuses: crate::config::StatusSet,
    /// Whether the balancer uses response latency (only then is it measured).
    pub tracks_latency: bool,
    pub send_proxy: Option<ProxyVersion>,
    pub forward_proxy_tlvs: bool,
    /// Connections (TCP) or requests in flight (HTTP) allowed per
    /// endpoint, all workers together; 0 = no limit.
    pub max_connections_per_endpoint: usize,
    pub on_limit: OnLimit,
    pub drain_timeout: Duration,
    /// Connections or requests waiting for an endpoint under
    /// `max_connections_per_endpoint` (`on_limit = "queue"`).
    pub slots: Arc<SlotQueue>,
    /// TLS to the endpoints (set by the runtime compiler, which loads files).
    pub tls: Option<Arc<crate::tls::client::ClientTls>>,
    /// The HTTP version spoken to the endpoints.
    pub http_version: crate::config::UpstreamHttp,
    /// TLS offering only `http/1.1` by ALPN, for WebSocket upgrades on pools
    /// whose `tls` offers `h2` (upgrades are HTTP/1.1 upstream).
    pub upgrade_tls: Option<Arc<crate::tls::client::ClientTls>>,
}

impl Pool {
    /// Identifies the pool's TLS settings in connection-cache keys (0:
    /// plain TCP); see [`ClientTls::key`](crate::tls::client::ClientTls::key).
    pub fn tls_key(&self) -> u64 {
        self.tls.as_ref().map_or(0, |t| t.key())
    }

    /// Whether requests go to the endpoints over HTTP/2 (TLS connections
    /// decide by ALPN when `auto`).
    pub fn wants_h2(&self) -> bool {
        self.http_version == crate::config::UpstreamHttp::Http2
    }

    /// Compiles a pool; `state_for` supplies each endpoint's live state
    /// (carried over from the previous runtime on reload).
    pub fn new(
        cfg: &PoolCfg,
        mut state_for: impl FnMut(&EndpointCfg) -> Arc<EndpointState>,
    ) -> Pool {
        let members: Vec<Member> = cfg
            .endpoints
            .iter()
            .map(|e| Member {
                id: e.address.clone(),
                weight: e.weight,
            })
            .collect();
        Pool {
            name: cfg.name.clone(),
            endpoints: cfg
                .endpoints
                .iter()
                .map(|e| Endpoint::new(e, state_for(e)))
                .collect(),
            balancer: balance::build(cfg.algorithm, &members),
            hash_key: if cfg.algorithm.is_hashing() {
                cfg.hash_key.clone()
            } else {
                None
            },
            connect_timeout: cfg.connect_timeout,
            response_timeout: cfg.response_timeout,
            response_body_timeout: cfg.response_body_timeout,
            h2_keepalive: cfg.h2_keepalive,
            idle_timeout: cfg.idle_timeout,
            max_idle_per_endpoint: cfg.max_idle_per_endpoint,
            fail_timeout: cfg.fail_timeout,
            max_fails: cfg.max_fails,
            fail_statuses: cfg.fail_statuses,
            tracks_latency: cfg.algorithm == balance::Algorithm::P2cEwma,
            send_proxy: cfg.send_proxy,
            forward_proxy_tlvs: cfg.forward_proxy_tlvs,
            max_connections_per_endpoint: cfg.max_connections_per_endpoint,
            on_limit: cfg.on_limit,
            drain_timeout: cfg.drain_timeout,
            slots: Arc::default(),
            tls: None,
            http_version: cfg.http_version,
            upgrade_tls: None,
        }
    }

    /// Picks an endpoint not in `tried`. Endpoints skipped after a failed
    /// connect are avoided while any other is available; when all are
    /// skipped, they are tried anyway (a pool never refuses traffic only
    /// because of passive marks — Envoy's "panic mode").
    pub fn pick(&self, key: Option<u64>, tried: &[usize], rng: &mut Rng) -> Option<usize> {
        self.pick_with(key, tried, rng, 0)
    }

    /// [`pick`](Self::pick) under `max_connections_per_endpoint`:
    /// endpoints at the limit are skipped, and when every endpoint left is
    /// at it the answer is [`Pick::Full`]. So is it, with a limit, while
    /// others wait in the queue, unless `queued` (the caller has just
    /// waited its turn), or `tried` is not empty (a retry keeps its turn):
    /// first come, first served.
    pub fn pick_limited(
        &self,
        key: Option<u64>,
        tried: &[usize],
        rng: &mut Rng,
        queued: bool,
    ) -> Pick {
        let limit = self.max_connections_per_endpoint;
        if limit > 0 && !queued && tried.is_empty() && self.slots.waiting() > 0 {
            return Pick::Full;
        }
        match self.pick_with(key, tried, rng, limit) {
            Some(i) => Pick::Endpoint(i),
            None if limit > 0 && self.pick(key, tried, rng).is_some() => Pick::Full,
            None => Pick::Empty,
        }
    }

    /// After [`Pick::Full`]: waits for a slot, up to `queue_timeout` from
    /// this caller's first wait (`deadline` keeps it between calls).
    /// `false` when the pool refuses (`on_limit = "refuse"`) or the time
    /// is up.
    pub async fn wait_turn(&self, deadline: &mut Option<tokio::time::Instant>) -> bool {
        if deadline.is_none() {
            *deadline = match self.on_limit {
                OnLimit::Queue(t) => Some(tokio::time::Instant::now() + t),
                OnLimit::Refuse => None,
            };
        }
        match *deadline {
            Some(d) => self.slots.wait(d).await,
            None => false,
        }
    }

    /// Counts a request or connection on `ep` (one of the pool's) until
    /// dropped; its end wakes the next waiter when the pool has a limit.
    /// `None` when the endpoint reached `max_connections_per_endpoint`
    /// since it was picked (another worker took its last slot): pick again.
    pub fn in_flight(&self, ep: &Endpoint) -> Option<InFlight> {
        let limit = self.max_connections_per_endpoint;
        let queue = (limit > 0).then_some(&self.slots);
        InFlight::try_start_queued(&ep.state, queue, limit as u64)
    }

    /// Counts a failure against `ep` (one of the pool's), marking it down
    /// after `max_fails` in a row.
    pub fn failed(&self, ep: &Endpoint, what: Failure) {
        ep.state.failed(what, self.max_fails, self.fail_timeout);
    }

    /// `ep` answered with `status`: a failure when the pool lists it in
    /// `fail_statuses`, else an answer that clears its failures.
    #[inline]
    pub fn answered(&self, ep: &Endpoint, status: http::StatusCode) {
        if !self.fail_statuses.is_empty() && self.fail_statuses.contains(status.as_u16()) {
            self.failed(ep, Failure::Status);
        } else {
            ep.state.responded();
        }
    }

    /// [`pick`](Self::pick) that also skips endpoints with `limit` or more
    /// open connections (0 = no limit): L4's `max_connections_per_endpoint`.
    pub fn pick_with(
        &self,
        key: Option<u64>,
        tried: &[usize],
        rng: &mut Rng,
        limit: usize,
    ) -> Option<usize> {
        let now = Cell::new(None);
        let strict = View {
            pool: self,
            tried,
            skip_down: true,
            limit,
            now: &now,
        };
        self.balancer.pick(&strict, key, rng).or_else(|| {
            let relaxed = View {
                pool: self,
                tried,
                skip_down: false,
                limit,
                now: &now,
            };
            self.balancer.pick(&relaxed, key, rng)
        })
    }
}

struct View<'a> {
    pool: &'a Pool,
    tried: &'a [usize],
    skip_down: bool,
    /// Open-connection cap per endpoint (0 = none).
    limit: usize,
    /// The clock, read at most once per pick and only if needed.
    now: &'a Cell<Option<u64>>,
}

impl View<'_> {
    fn now(&self) -> u64 {
        *self.now.get().get_or_insert_with(now_ns)
    }
}

impl EndpointView for View<'_> {
    fn len(&self) -> usize {
        self.pool.endpoints.len()
    }

    fn usable(&self, i: usize) -> bool {
        match self.pool.endpoints.get(i) {
            Some(e) => {
                !self.tried.contains(&i)
                    && !e.state.is_disabled()
                    && (!self.skip_down || !e.state.is_down(|| self.now()))
                    && (self.limit == 0 || e.state.outstanding() < self.limit as u64)
            }
            None => false,
        }
    }

    fn outstanding(&self, i: usize) -> u64 {
        self.pool
            .endpoints
            .get(i)
            .map_or(0, |e| e.state.outstanding())
    }

    fn latency_ns(&self, i: usize) -> f64 {
        self.pool
            .endpoints
            .get(i)
            .map_or(0.0, |e| e.state.latency_ns(self.now()))
    }
}
