//! `max_connections_per_endpoint` on HTTP pools (HAProxy's server
//! `maxconn`): requests in flight per endpoint are capped, requests beyond
//! it wait their turn in order (`on_limit = "queue"`) or get 503
//! (`"refuse"`, or when `queue_timeout` passes). The backend holds every
//! request until the test releases it, so what is in flight, and what
//! waits in the proxy's queue, is observed rather than timed.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::h2::{AbortOnDrop, bind, serve_each};
use common::{Proxy, client, eventually, simple_config, within};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

/// An HTTP/1.1 backend that answers each request (with its path) only
/// once the test adds a permit to `gate`, and records what it has seen.
struct GatedBackend {
    addr: SocketAddr,
    gate: Arc<Semaphore>,
    active: Arc<AtomicUsize>,
    max_active: Arc<AtomicUsize>,
    /// Paths in arrival order.
    arrived: Arc<Mutex<Vec<String>>>,
    _task: AbortOnDrop,
}

impl GatedBackend {
    async fn start() -> GatedBackend {
        let (listener, addr) = bind().await;
        let gate = Arc::new(Semaphore::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let max_active = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(Mutex::new(Vec::new()));
        let (g, a, m, r) = (
            gate.clone(),
            active.clone(),
            max_active.clone(),
            arrived.clone(),
        );
        let task = serve_each(listener, Arc::default(), move |tcp, _| {
            let (g, a, m, r) = (g.clone(), a.clone(), m.clone(), r.clone());
            async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (g, a, m, r) = (g.clone(), a.clone(), m.clone(), r.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        r.lock().unwrap().push(path.clone());
                        let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                        m.fetch_max(now, Ordering::SeqCst);
                        g.acquire().await.unwrap().forget();
                        a.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(path))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            }
        });
        GatedBackend {
            addr,
            gate,
            active,
            max_active,
            arrived,
            _task: task,
        }
    }

    fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    fn arrived(&self) -> Vec<String> {
        self.arrived.lock().unwrap().clone()
    }
}

/// GETs `path` through the proxy: status and body.
async fn get(url: String) -> (u16, String) {
    let r = client().get(url).send().await.expect("response");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// A gated backend behind a proxy whose pool has `pool` keys, and a first
/// request to `path` that the backend holds (it is in flight when this
/// returns).
async fn one_held(pool: &str, path: &str) -> (GatedBackend, Proxy, Call) {
    let b = GatedBackend::start().await;
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], pool));
    let held = tokio::spawn(get(proxy.url(path)));
    assert!(eventually(Duration::from_secs(5), || b.active() == 1).await);
    (b, proxy, held)
}

type Call = tokio::task::JoinHandle<(u16, String)>;

/// The status of a spawned [`get`], within 5 s.
async fn status_of(call: Call) -> u16 {
    within(Duration::from_secs(5), call).await.unwrap().0
}

const LIMIT_QUEUE: &str =
    "max_connections_per_endpoint = 2\non_limit = \"queue\"\nqueue_timeout = \"10s\"";

#[tokio::test(flavor = "multi_thread")]
async fn requests_beyond_the_limit_wait_in_the_proxy_until_one_finishes() {
    let b = GatedBackend::start().await;
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], LIMIT_QUEUE));
    let mut calls = Vec::new();
    for i in 0..6 {
        calls.push(tokio::spawn(get(proxy.url(&format!("/r{i}")))));
    }
    // Two reach the backend, four wait in the proxy.
    assert!(
        eventually(Duration::from_secs(5), || b.active() == 2
            && proxy.pool_queued("p") == 4)
        .await,
        "active {}, queued {}",
        b.active(),
        proxy.pool_queued("p")
    );
    assert_eq!(b.arrived().len(), 2, "only two requests were forwarded");
    // Each finished request lets exactly one more through.
    b.gate.add_permits(1);
    assert!(
        eventually(Duration::from_secs(5), || b.arrived().len() == 3
            && proxy.pool_queued("p") == 3)
        .await,
        "one release, one more forwarded: {:?}",
        b.arrived()
    );
    assert_eq!(b.active(), 2);
    b.gate.add_permits(5);
    for c in calls {
        let (status, _) = within(Duration::from_secs(10), c).await.unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(
        b.max_active.load(Ordering::SeqCst),
        2,
        "never over the limit"
    );
    assert_eq!(b.arrived().len(), 6);
    assert_eq!(proxy.pool_queued("p"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_requests_are_served_first_come_first_served() {
    let pool = "max_connections_per_endpoint = 1\non_limit = \"queue\"\nqueue_timeout = \"10s\"";
    let (b, proxy, first) = one_held(pool, "/first").await;
    let mut queued = Vec::new();
    for (i, name) in ["/second", "/third", "/fourth"].into_iter().enumerate() {
        queued.push(tokio::spawn(get(proxy.url(name))));
        assert!(
            eventually(Duration::from_secs(5), || proxy.pool_queued("p") == i + 1).await,
            "{name} did not queue"
        );
    }
    for n in 2..=4 {
        b.gate.add_permits(1);
        assert!(
            eventually(Duration::from_secs(5), || b.arrived().len() == n).await,
            "release {n}: nothing more forwarded"
        );
    }
    assert_eq!(b.arrived(), ["/first", "/second", "/third", "/fourth"]);
    b.gate.add_permits(1);
    for c in std::iter::once(first).chain(queued) {
        assert_eq!(status_of(c).await, 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refuse_answers_503_while_every_endpoint_is_full() {
    let (b, proxy, first) = one_held("max_connections_per_endpoint = 1", "/held").await;
    let (status, body) = get(proxy.url("/refused")).await;
    assert_eq!(status, 503);
    assert_eq!(body, "503 every upstream endpoint is busy\n");
    assert_eq!(b.arrived(), ["/held"], "the refused request was forwarded");
    b.gate.add_permits(2);
    assert_eq!(status_of(first).await, 200);
    // The slot is free again.
    assert_eq!(get(proxy.url("/after")).await, (200, "/after".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_endpoint_is_skipped_for_one_with_room() {
    let (a, b) = (GatedBackend::start().await, GatedBackend::start().await);
    // Hashing on the path sends both requests to one endpoint, unless it
    // is full.
    let pool = "hash_key = \"path\"\nmax_connections_per_endpoint = 1";
    let proxy = Proxy::start(&simple_config("ring_hash", &[a.addr, b.addr], pool));
    let held = tokio::spawn(get(proxy.url("/same")));
    assert!(eventually(Duration::from_secs(5), || a.active() + b.active() == 1).await);
    let second = tokio::spawn(get(proxy.url("/same")));
    assert!(
        eventually(Duration::from_secs(5), || a.active() == 1
            && b.active() == 1)
        .await,
        "the second request did not go to the endpoint with room"
    );
    a.gate.add_permits(1);
    b.gate.add_permits(1);
    assert_eq!(status_of(held).await, 200);
    assert_eq!(status_of(second).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_request_gets_503_when_queue_timeout_passes() {
    let pool = "max_connections_per_endpoint = 1\non_limit = \"queue\"\nqueue_timeout = \"300ms\"";
    let (b, proxy, first) = one_held(pool, "/held").await;
    let started = Instant::now();
    let (status, body) = get(proxy.url("/waits")).await;
    let waited = started.elapsed();
    assert_eq!(status, 503);
    assert_eq!(body, "503 every upstream endpoint is busy\n");
    assert!(
        waited >= Duration::from_millis(300),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(proxy.pool_queued("p"), 0);
    assert_eq!(b.arrived(), ["/held"]);
    b.gate.add_permits(1);
    assert_eq!(status_of(first).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_tunnel_holds_its_slot_until_it_closes() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let b = common::h2::WsBackend::start().await;
    let pool = "max_connections_per_endpoint = 1";
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], pool));
    let url = format!("ws://{}/chat", proxy.addr());
    let (mut ws, resp) = within(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("WebSocket handshake");
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hello")).await.unwrap();
    let echoed = within(Duration::from_secs(5), ws.next()).await;
    assert!(matches!(echoed, Some(Ok(Message::Text(_)))), "{echoed:?}");

    // The open tunnel is the endpoint's one request in flight.
    let (status, body) = get(proxy.url("/plain")).await;
    assert_eq!(status, 503, "{body}");

    // Once it closes, the slot is free again.
    ws.close(None).await.unwrap();
    drop(ws);
    let mut last = 0;
    let freed = within(Duration::from_secs(5), async {
        loop {
            last = get(proxy.url("/plain")).await.0;
            if last != 503 {
                return last;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_ne!(freed, 503, "slot never freed (last {last})");
}
