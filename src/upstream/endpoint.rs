//! Endpoints and their live state.
//!
//! The state (outstanding requests, latency estimate, passive-failure mark)
//! lives in atomics shared by every worker and carried over from one runtime
//! to the next on reload, so a reload never forgets what it learned about
//! an endpoint. Balancers read it through `EndpointView`; health checks (a
//! later feature) will write it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::balance::PeakEwma;
use crate::config::EndpointCfg;

/// Nanoseconds on a monotonic clock since the first call in this process.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// How fast the latency estimate forgets (Finagle's default decay window).
const EWMA_DECAY: Duration = Duration::from_secs(10);

/// Live, shared state of one endpoint.
#[derive(Debug)]
pub struct EndpointState {
    outstanding: AtomicU64,
    /// `now_ns()` until which the endpoint is skipped after a failed connect.
    down_until: AtomicU64,
    latency: PeakEwma,
    requests: AtomicU64,
    connect_failures: AtomicU64,
    /// Requests that got no valid response head after the connect opened
    /// (reset, closed, an invalid head, a response timeout).
    response_failures: AtomicU64,
    /// Answers with one of the pool's `fail_statuses`.
    status_failures: AtomicU64,
    /// Failures since the endpoint last answered; at the pool's
    /// `max_fails` it is marked down.
    consecutive_failures: AtomicU32,
    /// `now_ns()` after which connections to a removed endpoint are closed
    /// (0 = not draining).
    drain_deadline: AtomicU64,
    /// Taken out of service by an operator (`switchyard pool disable`): no
    /// new connections or requests, live ones drain.
    disabled: std::sync::atomic::AtomicBool,
}

impl Default for EndpointState {
    fn default() -> Self {
        EndpointState {
            outstanding: AtomicU64::new(0),
            down_until: AtomicU64::new(0),
            latency: PeakEwma::new(EWMA_DECAY),
            requests: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            response_failures: AtomicU64::new(0),
            status_failures: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            drain_deadline: AtomicU64::new(0),
            disabled: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl EndpointState {
    pub fn outstanding(&self) -> u64 {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Whether the endpoint is currently skipped after failures;
    /// `now` is only read when the endpoint carries a mark.
    pub fn is_down(&self, now: impl FnOnce() -> u64) -> bool {
        let until = self.down_until.load(Ordering::Relaxed);
        until != 0 && until > now()
    }

    /// Records a failure of the endpoint (see [`Failure`]): after
    /// `max_fails` of them in a row, with no answer between, it is skipped
    /// for `fail_timeout` (NGINX's `max_fails`/`fail_timeout`). Once the
    /// mark expires, the next failure marks it again at once, so a dead
    /// endpoint gets one request per `fail_timeout`, as in NGINX.
    pub fn failed(&self, what: Failure, max_fails: u32, fail_timeout: Duration) {
        match what {
            Failure::Connect => &self.connect_failures,
            Failure::Response => &self.response_failures,
            Failure::Status => &self.status_failures,
        }
        .fetch_add(1, Ordering::Relaxed);
        let row = self
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if !fail_timeout.is_zero() && row >= max_fails {
            let until =
                now_ns().saturating_add(u64::try_from(fail_timeout.as_nanos()).unwrap_or(u64::MAX));
            self.down_until.store(until, Ordering::Relaxed);
        }
    }

    /// The endpoint answered: clear any passive-failure mark and the
    /// count of failures in a row.
    pub fn responded(&self) {
        if self.down_until.load(Ordering::Relaxed) != 0 {
            self.down_until.store(0, Ordering::Relaxed);
        }
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a response head received after `rtt`.
    pub fn observe_latency(&self, rtt: Duration) {
        self.latency.observe(rtt.as_nanos() as f64, now_ns());
    }

    pub fn latency_ns(&self, now: u64) -> f64 {
        self.latency.get(now)
    }

    /// The endpoint left the configuration: its live connections may run
    /// for `timeout` more.
    pub fn start_drain(&self, timeout: Duration) {
        let deadline = now_ns()
            .saturating_add(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX))
            .max(1);
        self.drain_deadline.store(deadline, Ordering::Relaxed);
    }

    /// When draining ends (as a `now_ns()` value), if the endpoint is draining.
    pub fn drain_deadline(&self) -> Option<u64> {
        match self.drain_deadline.load(Ordering::Relaxed) {
            0 => None,
            d => Some(d),
        }
    }

    /// Takes the endpoint out of service: balancers skip it from now on
    /// (even when nothing else is left), and its live connections may run
    /// for `drain` more, as when a reload removes it.
    pub fn disable(&self, drain: Duration) {
        self.disabled.store(true, Ordering::Relaxed);
        self.start_drain(drain);
    }

    /// Puts a disabled endpoint back in service (its drain is cancelled).
    pub fn enable(&self) {
        self.disabled.store(false, Ordering::Relaxed);
        self.drain_deadline.store(0, Ordering::Relaxed);
    }

    /// Whether an operator took the endpoint out of service.
    #[inline]
    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn connect_failures(&self) -> u64 {
        self.connect_failures.load(Ordering::Relaxed)
    }

    pub fn response_failures(&self) -> u64 {
        self.response_failures.load(Ordering::Relaxed)
    }

    pub fn status_failures(&self) -> u64 {
        self.status_failures.load(Ordering::Relaxed)
    }
}

/// What counts against an endpoint's `max_fails`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connect was refused, timed out or failed its TLS handshake.
    Connect,
    /// The connection opened, but no valid response head came: it was
    /// reset or closed, the head was invalid, or `response_timeout` passed
    /// (an answer the endpoint gave, even a 5xx, is not a failure).
    Response,
    /// An answer with one of the pool's `fail_statuses`.
    Status,
}

/// One endpoint of a compiled pool.
#[derive(Debug)]
pub struct Endpoint {
    /// The address as configured (identity for hashing and logs).
    pub label: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub state: Arc<EndpointState>,
}

impl Endpoint {
    pub fn new(cfg: &EndpointCfg, state: Arc<EndpointState>) -> Endpoint {
        Endpoint {
            label: cfg.address.clone(),
            addr: cfg.resolved,
            weight: cfg.weight,
            state,
        }
    }
}

/// Requests (HTTP) or connections (TCP) waiting for an endpoint of a pool
/// to come under `max_connections_per_endpoint` (`on_limit = "queue"`).
/// Waiters are woken one per freed slot, first come first served (tokio's
/// `Notify` queue), and new arrivals queue behind them (see
/// `Pool::pick_limited`).
#[derive(Debug, Default)]
pub struct SlotQueue {
    freed: tokio::sync::Notify,
    waiting: AtomicUsize,
}

impl SlotQueue {
    /// How many wait now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits until a slot frees; `false` at `deadline`.
    pub async fn wait(&self, deadline: tokio::time::Instant) -> bool {
        /// Counts the waiter out however the wait ends (also when its
        /// future is dropped).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        tokio::time::timeout_at(deadline, self.freed.notified())
            .await
            .is_ok()
    }
}

/// Counts one request (or TCP connection) as outstanding on an endpoint
/// until dropped; then wakes the next waiter of the pool's [`SlotQueue`]
/// when the pool has a limit.
#[derive(Debug)]
pub struct InFlight {
    state: Arc<EndpointState>,
    queue: Option<Arc<SlotQueue>>,
}

impl InFlight {
    pub fn start(state: &Arc<EndpointState>) -> InFlight {
        InFlight::start_queued(state, None)
    }

    /// [`InFlight::start_queued`] only while fewer than `limit` are in
    /// flight (0: no limit). The check and the count are one atomic step:
    /// workers that both saw the endpoint's last slot free cannot both
    /// take it. `None`: it is full now.
    pub fn try_start_queued(
        state: &Arc<EndpointState>,
        queue: Option<&Arc<SlotQueue>>,
        limit: u64,
    ) -> Option<InFlight> {
        if limit == 0 {
            return Some(InFlight::start_queued(state, queue));
        }
        let mut now = state.outstanding.load(Ordering::Relaxed);
        loop {
            if now >= limit {
                return None;
            }
            match state.outstanding.compare_exchange_weak(
                now,
                now + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        state.requests.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            state: state.clone(),
            queue: queue.cloned(),
        })
    }

    /// [`InFlight::start`] whose end wakes a waiter of `queue`.
    pub fn start_queued(state: &Arc<EndpointState>, queue: Option<&Arc<SlotQueue>>) -> InFlight {
        state.outstanding.fetch_add(1, Ordering::Relaxed);
        state.requests.fetch_add(1, Ordering::Relaxed);
        InFlight {
            state: state.clone(),
            queue: queue.cloned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Lower the count *before* waking a waiter, or it may look again,
        // still find the endpoint full, and sleep on.
        self.state.outstanding.fetch_sub(1, Ordering::Relaxed);
        if let Some(q) = &self.queue {
            q.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use std::time::Duration;

    use super::{EndpointState, Failure, InFlight, now_ns};

    const FAIL: Duration = Duration::from_secs(10);

    #[test]
    fn an_endpoint_is_marked_down_after_max_fails_in_a_row() {
        let s = EndpointState::default();
        s.failed(Failure::Response, 3, FAIL);
        s.failed(Failure::Connect, 3, FAIL);
        assert!(!s.is_down(now_ns), "two failures of three");
        s.failed(Failure::Response, 3, FAIL);
        assert!(s.is_down(now_ns), "the third in a row marks it");
        assert_eq!((s.connect_failures(), s.response_failures()), (1, 2));
        // An answer clears the mark and the count.
        s.responded();
        assert!(!s.is_down(now_ns));
        s.failed(Failure::Response, 3, FAIL);
        s.failed(Failure::Response, 3, FAIL);
        assert!(!s.is_down(now_ns), "the count started again");
    }

    #[test]
    fn an_answer_between_failures_keeps_the_endpoint_up() {
        let s = EndpointState::default();
        for _ in 0..10 {
            s.failed(Failure::Response, 2, FAIL);
            s.responded();
        }
        assert!(!s.is_down(now_ns));
        assert_eq!(s.response_failures(), 10);
    }

    #[test]
    fn a_zero_fail_timeout_never_marks() {
        let s = EndpointState::default();
        for _ in 0..5 {
            s.failed(Failure::Connect, 1, Duration::ZERO);
        }
        assert!(!s.is_down(now_ns));
        assert_eq!(s.connect_failures(), 5);
    }

    #[test]
    fn a_limited_start_takes_free_slots_only() {
        let state = Arc::new(EndpointState::default());
        let a = InFlight::try_start_queued(&state, None, 2).expect("first");
        let _b = InFlight::try_start_queued(&state, None, 2).expect("second");
        assert!(InFlight::try_start_queued(&state, None, 2).is_none());
        drop(a);
        assert!(InFlight::try_start_queued(&state, None, 2).is_some());
        // No limit: always.
        let many: Vec<_> = (0..5)
            .map(|_| InFlight::try_start_queued(&state, None, 0))
            .collect();
        assert!(many.iter().all(Option::is_some));
    }

    /// Threads racing for the slots (workers picking the same endpoint)
    /// never hold more than the limit together.
    #[test]
    fn racing_threads_never_exceed_the_limit() {
        const LIMIT: u64 = 3;
        let state = Arc::new(EndpointState::default());
        let peak = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (state, peak) = (state.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if let Some(slot) = InFlight::try_start_queued(&state, None, LIMIT) {
                            peak.fetch_max(state.outstanding(), Ordering::Relaxed);
                            drop(slot);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(peak.load(Ordering::Relaxed) <= LIMIT);
        assert_eq!(state.outstanding(), 0);
    }
}
