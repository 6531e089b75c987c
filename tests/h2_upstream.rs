//! The HTTP/2 upstream pool (`switchyard::upstream::h2`) against a real
//! hyper HTTP/2 server (h2c, prior knowledge).
//!
//! Requests reach the pool the way they do in the proxy: a small in-test
//! HTTP/1.1 front server (hyper) hands each request, with its real
//! `Incoming` body, to `H2Pool::get`/`wait_pending`/`begin_connect`/
//! `handshake` and `H2Stream::send`, and streams the `H2Body` back; reqwest
//! drives the front. Everything runs on a
//! current-thread runtime inside a `LocalSet`, like a worker. The upstream
//! numbers its TCP connections and names the one that served a request in
//! `x-conn`, echoes the request body (streamed), and adds `grpc-status: 0`
//! trailers on `/trailers`; another upstream (the h2 crate's server) refuses
//! every stream. No test waits on a clock: a stuck exchange fails at the
//! overall deadline.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::h2::{AbortOnDrop, bind, described_response, serve_each};
use common::header;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard::error::ProxyError;
use switchyard::upstream::conns::ConnKey;
use switchyard::upstream::h2::{H2Body, H2Pool, H2Stream, is_refused_stream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, Notify};

/// How long a request waits for a pending connection in these tests: far
/// beyond the overall deadline, so a waiter that is not released when it
/// should be fails the test instead of connecting on its own.
const WAIT: Duration = Duration::from_secs(3600);

/// Runs a test body like a worker does: current-thread runtime, LocalSet,
/// with an overall deadline so a stuck exchange fails instead of hanging.
fn run<F: Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, async {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("test timed out");
    });
}

// ---- the upstream: a hyper HTTP/2 server ----

type UpBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// A running upstream; dropping it aborts the accept loop and, with it,
/// every connection (their sockets close).
struct Upstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

async fn upstream(max_streams: Option<u32>, hold: Option<Arc<Barrier>>) -> Upstream {
    let (listener, addr) = bind().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let task = serve_each(listener, accepted.clone(), move |tcp, id| {
        let hold = hold.clone();
        async move {
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder.max_concurrent_streams(max_streams);
            let svc = service_fn(move |req| upstream_handle(req, id, hold.clone()));
            let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
        }
    });
    Upstream {
        addr,
        accepted,
        _task: task,
    }
}

async fn upstream_handle(
    req: Request<Incoming>,
    conn: usize,
    hold: Option<Arc<Barrier>>,
) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/hold"
        && let Some(b) = hold
    {
        // Answer only once every concurrent request has arrived.
        b.wait().await;
    }
    let mut resp = described_response(&req, conn);
    for (name, seen) in [("te", "x-saw-te"), ("x-hop", "x-saw-hop")] {
        if let Some(v) = req.headers().get(name) {
            resp = resp.header(seen, v);
        }
    }
    let body = req.into_body();
    let body = if path == "/trailers" {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("0"));
        body.with_trailers(std::future::ready(Some(Ok(t))))
            .boxed_unsync()
    } else {
        body.boxed_unsync()
    };
    Ok(resp.body(body).unwrap())
}

/// An upstream (the h2 crate's server) that refuses every stream with
/// REFUSED_STREAM.
async fn refusing_upstream() -> Upstream {
    let (listener, addr) = bind().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let task = serve_each(listener, accepted.clone(), |tcp, _| async move {
        let Ok(mut conn) = h2::server::handshake(tcp).await else {
            return;
        };
        while let Some(Ok((_req, mut respond))) = conn.accept().await {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
        }
    });
    Upstream {
        addr,
        accepted,
        _task: task,
    }
}

// ---- the front: HTTP/1.1 server whose service uses the pool ----

type FrontBody = Either<H2Body, Full<Bytes>>;

#[derive(Clone)]
struct Front {
    pool: Rc<H2Pool>,
    key: ConnKey,
    /// Where new upstream connections go (the key stays the same).
    backend: Rc<Cell<SocketAddr>>,
    max_streams: usize,
    gate: Rc<GateProbe>,
}

/// A condition on the number of requests waiting in `wait_pending`.
type Hold = fn(usize) -> bool;

/// What the front's checkouts did, and a way to hold connects.
#[derive(Default)]
struct GateProbe {
    /// Requests inside `wait_pending` now.
    waiting: Cell<usize>,
    /// Connects started (`begin_connect` calls).
    connects: Cell<usize>,
    /// Streams obtained from `wait_pending`.
    waited: Cell<usize>,
    /// Conditions on `waiting` that the next connects wait for before they
    /// start, one per connect, in order.
    holds: RefCell<VecDeque<Hold>>,
    /// Notified when `waiting` changes.
    changed: Notify,
}

/// The proxy's checkout: a free slot, else one on the connection being
/// opened, else a new connection (marked as in progress until the
/// handshake returned).
async fn checkout(f: &Front) -> Result<H2Stream, ProxyError> {
    let g = &f.gate;
    if let Some(s) = f.pool.get(f.key, f.max_streams) {
        return Ok(s);
    }
    g.waiting.set(g.waiting.get() + 1);
    g.changed.notify_one();
    let waited = f.pool.wait_pending(f.key, f.max_streams, WAIT).await;
    g.waiting.set(g.waiting.get() - 1);
    g.changed.notify_one();
    if let Some(s) = waited {
        g.waited.set(g.waited.get() + 1);
        return Ok(s);
    }
    let _gate = f.pool.begin_connect(f.key);
    g.connects.set(g.connects.get() + 1);
    let hold = g.holds.borrow_mut().pop_front();
    if let Some(ready) = hold {
        while !ready(g.waiting.get()) {
            g.changed.notified().await;
        }
    }
    let connect_failed = |e: std::io::Error| ProxyError::Connect {
        endpoint: "test-upstream".into(),
        reason: e.to_string(),
    };
    let tcp = TcpStream::connect(f.backend.get())
        .await
        .map_err(connect_failed)?;
    tcp.set_nodelay(true).map_err(connect_failed)?;
    f.pool
        .handshake(
            f.key,
            tcp,
            "test-upstream",
            f.max_streams,
            Default::default(),
        )
        .await
}

async fn front(f: Front) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::task::spawn_local(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let f = f.clone();
            tokio::task::spawn_local(async move {
                let svc = service_fn(move |req| proxy(req, f.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

fn bad_gateway(e: ProxyError) -> Response<FrontBody> {
    let refused = if is_refused_stream(&e) { "1" } else { "0" };
    let mut r = Response::new(Either::Right(Full::new(Bytes::from(e.to_string()))));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r.headers_mut()
        .insert("x-refused", HeaderValue::from_static(refused));
    r
}

/// What the proxy does: a stream slot (pooled, or on a new connection),
/// send, stream the response back. `x-collect` makes it read the whole
/// upstream body first (reporting its trailers in a header); `x-drop`
/// drops the upstream body unread.
async fn proxy(req: Request<Incoming>, f: Front) -> Result<Response<FrontBody>, Infallible> {
    let collect = req.headers().contains_key("x-collect");
    let drop_body = req.headers().contains_key("x-drop");
    let stream = match checkout(&f).await {
        Ok(s) => s,
        Err(e) => return Ok(bad_gateway(e)),
    };
    let resp = match stream.send(req.map(Into::into)).await {
        Ok(r) => r,
        Err(e) => return Ok(bad_gateway(e)),
    };
    let (mut parts, body) = resp.into_parts();
    parts.headers.insert(
        "x-upstream-version",
        HeaderValue::from_str(&format!("{:?}", parts.version)).unwrap(),
    );
    parts.version = Version::HTTP_11;
    if drop_body {
        drop(body);
        return Ok(Response::from_parts(parts, Either::Right(Full::default())));
    }
    if collect {
        let collected = match body.collect().await {
            Ok(c) => c,
            Err(e) => {
                let mut r = Response::new(Either::Right(Full::new(Bytes::from(e.to_string()))));
                *r.status_mut() = StatusCode::BAD_GATEWAY;
                return Ok(r);
            }
        };
        if let Some(v) = collected.trailers().and_then(|t| t.get("grpc-status")) {
            parts.headers.insert("x-trailer-grpc-status", v.clone());
        }
        let bytes = collected.to_bytes();
        return Ok(Response::from_parts(parts, Either::Right(Full::new(bytes))));
    }
    Ok(Response::from_parts(parts, Either::Left(body)))
}

// ---- setup ----

struct Setup {
    up: Upstream,
    pool: Rc<H2Pool>,
    key: ConnKey,
    backend: Rc<Cell<SocketAddr>>,
    gate: Rc<GateProbe>,
    url: String,
    client: reqwest::Client,
}

async fn setup(server_max_streams: Option<u32>, hold: Option<Arc<Barrier>>, max: usize) -> Setup {
    setup_with(upstream(server_max_streams, hold).await, max).await
}

async fn setup_with(up: Upstream, max: usize) -> Setup {
    let pool = Rc::new(H2Pool::default());
    let key = ConnKey {
        endpoint: up.addr,
        client: None,
        tls: 0,
    };
    let backend = Rc::new(Cell::new(up.addr));
    let gate = Rc::new(GateProbe::default());
    let addr = front(Front {
        pool: pool.clone(),
        key,
        backend: backend.clone(),
        max_streams: max,
        gate: gate.clone(),
    })
    .await;
    let client = common::client();
    Setup {
        up,
        pool,
        key,
        backend,
        gate,
        url: format!("http://{addr}"),
        client,
    }
}

/// GETs `path`; returns (status, x-conn, body).
async fn get(s: &Setup, path: &str) -> (u16, String, String) {
    let r = s
        .client
        .get(format!("{}{path}", s.url))
        .send()
        .await
        .unwrap();
    let conn = header(&r, "x-conn");
    (r.status().as_u16(), conn, r.text().await.unwrap())
}

/// Deterministic pseudo-random bytes.
fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// FNV-1a, folded over chunks.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

// ---- tests ----

#[test]
fn sequential_requests_share_one_connection() {
    run(async {
        let s = setup(None, None, 100).await;
        for i in 0..20 {
            let (status, conn, body) = if i % 2 == 0 {
                get(&s, "/echo").await
            } else {
                let r = s
                    .client
                    .post(format!("{}/echo", s.url))
                    .body(format!("request {i}"))
                    .send()
                    .await
                    .unwrap();
                let conn = header(&r, "x-conn");
                (r.status().as_u16(), conn, r.text().await.unwrap())
            };
            assert_eq!(status, 200, "request {i}: {body}");
            assert_eq!(conn, "1", "request {i} used another upstream connection");
            if i % 2 == 1 {
                assert_eq!(body, format!("request {i}"));
            }
        }
        assert_eq!(s.up.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(s.pool.conn_count(), 1);
        assert_eq!(s.pool.conn_count_for(s.key), 1);
        let other = ConnKey {
            client: Some(s.up.addr),
            ..s.key
        };
        assert_eq!(s.pool.conn_count_for(other), 0);
    });
}

#[test]
fn request_head_is_converted_for_http2() {
    run(async {
        let s = setup(None, None, 100).await;
        let r = s
            .client
            .get(format!("{}/echo?q=1", s.url))
            .header("connection", "x-hop")
            .header("x-hop", "dropped")
            .header("keep-alive", "timeout=5")
            .header("te", "trailers, deflate")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.headers());
        let host = s.url.trim_start_matches("http://").to_owned();
        assert_eq!(header(&r, "x-version"), "HTTP/2.0");
        assert_eq!(header(&r, "x-upstream-version"), "HTTP/2.0");
        assert_eq!(header(&r, "x-scheme"), "http");
        assert_eq!(
            header(&r, "x-authority"),
            host,
            ":authority comes from Host"
        );
        assert_eq!(header(&r, "x-saw-te"), "trailers");
        assert_eq!(
            header(&r, "x-saw-hop"),
            "",
            "headers named by Connection are removed"
        );
    });
}

#[test]
fn concurrent_streams_respect_the_upstream_limit() {
    run(async {
        const N: usize = 5;
        let hold = Arc::new(Barrier::new(N));
        let s = setup(Some(2), Some(hold), 100).await;
        // Once a response came back on it, the connection's SETTINGS
        // (max 2 streams) are known.
        let (status, conn, _) = get(&s, "/echo").await;
        assert_eq!((status, conn.as_str()), (200, "1"));

        // The upstream answers none of these until all N have arrived: a
        // stream queued beyond the limit would hang the test.
        let requests = (0..N).map(|i| {
            let req = s
                .client
                .post(format!("{}/hold", s.url))
                .body(format!("slow {i}"));
            async move {
                let r = req.send().await.unwrap();
                let conn = header(&r, "x-conn");
                (r.status().as_u16(), conn, r.text().await.unwrap(), i)
            }
        });
        let results = futures_util::future::join_all(requests).await;
        let mut per_conn: HashMap<String, usize> = HashMap::new();
        for (status, conn, body, i) in results {
            assert_eq!(status, 200, "request {i}: {body}");
            assert_eq!(body, format!("slow {i}"));
            *per_conn.entry(conn).or_default() += 1;
        }
        assert!(
            per_conn.values().all(|&n| n <= 2),
            "more than 2 streams on one connection: {per_conn:?}"
        );
        // 2 + 2 + 1: the connect gate opens a connection only once the
        // others are full and their SETTINGS known, one at a time.
        let accepted = s.up.accepted.load(Ordering::SeqCst);
        assert_eq!(accepted, 3, "connections");
        // Every connection, the first included, served some of them.
        assert_eq!(per_conn.len(), accepted);
        assert_eq!(s.pool.conn_count(), accepted);
    });
}

#[test]
fn large_body_streams_both_ways() {
    run(async {
        let s = setup(None, None, 100).await;
        let data = Bytes::from(pattern(10 << 20));
        let want = (data.len(), fnv(FNV_START, &data));
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(64 << 10)
            .map(|c| Ok(data.slice_ref(c)))
            .collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let r = s
            .client
            .post(format!("{}/echo", s.url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut stream = r.bytes_stream();
        let (mut len, mut hash) = (0usize, FNV_START);
        use futures_util::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            len += chunk.len();
            hash = fnv(hash, &chunk);
        }
        assert_eq!((len, hash), want);
        assert_eq!(s.up.accepted.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn trailers_reach_the_body_consumer() {
    run(async {
        let s = setup(None, None, 100).await;
        let r = s
            .client
            .post(format!("{}/trailers", s.url))
            .header("x-collect", "1")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-trailer-grpc-status"), "0");
        assert_eq!(r.text().await.unwrap(), "hello");
        // An empty request body (sent with END_STREAM on the head) too.
        let r = s
            .client
            .get(format!("{}/trailers", s.url))
            .header("x-collect", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-trailer-grpc-status"), "0");
        assert_eq!(r.text().await.unwrap(), "");
    });
}

#[test]
fn slots_are_released_when_bodies_end_or_drop() {
    run(async {
        // One stream per connection: a leaked slot would open a second one.
        let s = setup(None, None, 1).await;
        for i in 0..6 {
            let mut req = s.client.get(format!("{}/echo", s.url));
            match i % 3 {
                0 => req = req.header("x-drop", "1"),
                1 => req = req.header("x-collect", "1"),
                _ => {}
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(header(&r, "x-conn"), "1", "request {i}");
            r.bytes().await.unwrap();
        }
        assert_eq!(s.up.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(s.pool.conn_count(), 1);
    });
}

#[test]
fn closed_connections_are_swept_and_replaced() {
    run(async {
        let Setup {
            up,
            pool,
            key,
            backend,
            url,
            client,
            ..
        } = setup(None, None, 100).await;
        let s_get = |path: &'static str| {
            let req = client.get(format!("{url}{path}"));
            async move {
                let r = req.send().await.unwrap();
                let conn = header(&r, "x-conn");
                (r.status().as_u16(), conn, r.text().await.unwrap())
            }
        };
        let (status, conn, body) = s_get("/echo").await;
        assert_eq!((status, conn.as_str()), (200, "1"), "{body}");
        assert_eq!(pool.conn_count(), 1);

        // The upstream goes away: its sockets close.
        drop(up);
        // The connection's driver notices the close on its own; no clock
        // is involved (the idle timeout is far away).
        while pool.conn_count_for(key) != 0 {
            tokio::task::yield_now().await;
        }
        pool.sweep(Duration::from_secs(3600));
        assert_eq!(pool.conn_count(), 0);

        // A new upstream for the same key.
        let up2 = upstream(None, None).await;
        backend.set(up2.addr);
        let (status, conn, body) = s_get("/echo").await;
        assert_eq!((status, conn.as_str()), (200, "1"), "{body}");
        assert_eq!(pool.conn_count_for(key), 1);
        assert_eq!(up2.accepted.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn idle_connections_are_swept() {
    run(async {
        let s = setup(None, None, 100).await;
        let (status, _, _) = get(&s, "/echo").await;
        assert_eq!(status, 200);
        assert_eq!(s.pool.conn_count(), 1);
        // Not idle for an hour yet.
        s.pool.sweep(Duration::from_secs(3600));
        assert_eq!(s.pool.conn_count(), 1);
        // Idle for at least zero seconds.
        s.pool.sweep(Duration::ZERO);
        assert_eq!(s.pool.conn_count(), 0);
        let (status, conn, _) = get(&s, "/echo").await;
        assert_eq!((status, conn.as_str()), (200, "2"));
    });
}

#[test]
fn response_head_arrives_before_the_request_body_ends() {
    run(async {
        let s = setup(None, None, 100).await;
        // A ping-pong over one exchange (like gRPC bidi streaming): each
        // request chunk is sent only after the echo of the previous one
        // came back, so nothing works unless the response head and body
        // flow while the request body is still open.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
        });
        tx.send(Bytes::from_static(b"ping 0")).await.unwrap();
        let mut r = s
            .client
            .post(format!("{}/echo", s.url))
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        for i in 0..5 {
            let got = r.chunk().await.unwrap().expect("echoed chunk");
            assert_eq!(got, format!("ping {i}").as_bytes());
            tx.send(Bytes::from(format!("ping {}", i + 1)))
                .await
                .unwrap();
        }
        assert_eq!(r.chunk().await.unwrap().expect("last chunk"), "ping 5");
        drop(tx);
        assert_eq!(r.chunk().await.unwrap(), None);
    });
}

#[test]
fn refused_streams_are_reported_as_such() {
    run(async {
        let s = setup_with(refusing_upstream().await, 100).await;
        for path in ["/get", "/post"] {
            let req = if path == "/get" {
                s.client.get(format!("{}{path}", s.url))
            } else {
                s.client
                    .post(format!("{}{path}", s.url))
                    .body("x".repeat(100_000))
            };
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 502);
            assert_eq!(header(&r, "x-refused"), "1");
            let body = r.text().await.unwrap();
            assert!(body.contains("refused stream"), "{body}");
        }
        // A refused stream is no connection failure.
        assert_eq!(s.pool.conn_count(), 1);
        assert_eq!(s.up.accepted.load(Ordering::SeqCst), 1);
    });
}

// ---- the connect gate: bursts with no usable connection yet ----

/// `n` concurrent GETs of `path`; returns (status, x-conn, body) of each.
async fn burst(s: &Setup, path: &str, n: usize) -> Vec<(u16, String, String)> {
    let requests = (0..n).map(|_| get(s, path));
    futures_util::future::join_all(requests).await
}

#[test]
fn cold_burst_shares_one_connection() {
    run(async {
        const N: usize = 20;
        // The upstream answers none of them before all N arrived, so all N
        // streams are open at once.
        let hold = Arc::new(Barrier::new(N));
        let s = setup(Some(100), Some(hold), 100).await;
        for (status, conn, body) in burst(&s, "/hold", N).await {
            assert_eq!((status, conn.as_str()), (200, "1"), "{body}");
        }
        assert_eq!(s.up.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(s.pool.conn_count(), 1);
        assert_eq!(s.gate.connects.get(), 1);
        // Those that found no connection at all, or one whose SETTINGS
        // were unknown, waited for it.
        assert!(s.gate.waited.get() > 0);
    });
}

#[test]
fn burst_beyond_the_stream_limit_opens_connections_one_at_a_time() {
    run(async {
        const N: usize = 20;
        const LIMIT: usize = 5;
        let hold = Arc::new(Barrier::new(N));
        let s = setup(Some(LIMIT as u32), Some(hold), 100).await;
        let mut per_conn: HashMap<String, usize> = HashMap::new();
        for (status, conn, body) in burst(&s, "/hold", N).await {
            assert_eq!(status, 200, "{body}");
            *per_conn.entry(conn).or_default() += 1;
        }
        // Exactly N / LIMIT = 4. At least 4: the barrier keeps all 20
        // streams open until the last one arrives, so no slot frees early.
        // At most 4: a request connects only when `wait_pending` returned
        // None, i.e. every connection is full with its SETTINGS known and
        // no connect is in progress; it then calls `begin_connect` in the
        // same poll, so the requests woken with it wait for its connection
        // instead of opening their own. A fifth connection would need the
        // four to be full: all 20 streams already placed.
        let accepted = s.up.accepted.load(Ordering::SeqCst);
        assert_eq!(accepted, N / LIMIT, "connections: {per_conn:?}");
        assert_eq!(s.gate.connects.get(), N / LIMIT);
        assert!(
            per_conn.values().all(|&n| n == LIMIT),
            "streams per connection: {per_conn:?}"
        );
        assert_eq!(s.pool.conn_count(), N / LIMIT);
    });
}

/// An address nothing listens on: connects to it are refused.
async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[test]
fn failed_connect_releases_the_waiters() {
    run(async {
        const N: usize = 10;
        let s = setup(None, None, 100).await;
        // Nothing pending: no wait at all (WAIT is an hour).
        assert!(s.pool.wait_pending(s.key, 100, WAIT).await.is_none());

        s.backend.set(dead_addr().await);
        // The first connect starts only once the N - 1 others wait for it.
        // The second one (by a released waiter) only once no request waits
        // any more: the failure released them all at once, rather than
        // queueing them behind this connect.
        s.gate
            .holds
            .borrow_mut()
            .extend([(|w| w == N - 1) as Hold, |w| w == 0]);
        for (status, _, body) in burst(&s, "/echo", N).await {
            assert_eq!(status, 502, "{body}");
            assert!(body.contains("connect to test-upstream failed"), "{body}");
        }
        // Released by the failure (not by their hour-long timeout, which
        // the overall deadline would have cut short), every waiter tried a
        // connect of its own.
        assert_eq!(s.gate.connects.get(), N);
        assert_eq!(s.gate.waited.get(), 0);
        assert_eq!(s.gate.waiting.get(), 0);
        assert_eq!(s.pool.conn_count(), 0);
        assert!(s.pool.wait_pending(s.key, 100, WAIT).await.is_none());
    });
}

#[test]
fn connection_failing_before_its_settings_releases_the_waiters() {
    run(async {
        const N: usize = 10;
        // Accepts TCP connections and closes them at once: the HTTP/2
        // handshake (which only writes the preface) may succeed, but the
        // upstream's SETTINGS never come.
        let (listener, addr) = bind().await;
        let accepted = Arc::new(AtomicUsize::new(0));
        let _closing = serve_each(listener, accepted.clone(), |tcp, _| async move {
            drop(tcp);
        });
        let s = setup(None, None, 100).await;
        s.backend.set(addr);
        s.gate.holds.borrow_mut().push_back(|w| w == N - 1);
        for (status, _, body) in burst(&s, "/echo", N).await {
            assert_eq!(status, 502, "{body}");
        }
        assert_eq!(s.gate.connects.get(), N);
        assert_eq!(s.gate.waited.get(), 0);
        assert_eq!(accepted.load(Ordering::SeqCst), N);
        assert!(s.pool.wait_pending(s.key, 100, WAIT).await.is_none());
    });
}

#[test]
fn wait_pending_gives_up_at_its_timeout() {
    run(async {
        let pool = H2Pool::default();
        let key = ConnKey {
            endpoint: dead_addr().await,
            client: None,
            tls: 0,
        };
        let gate = pool.begin_connect(key);
        // A connect that never ends: the wait ends at its timeout.
        let waited = pool.wait_pending(key, 100, Duration::from_millis(20)).await;
        assert!(waited.is_none());
        drop(gate);
        assert!(pool.wait_pending(key, 100, WAIT).await.is_none());
        pool.sweep(Duration::from_secs(3600));
        assert!(pool.wait_pending(key, 100, WAIT).await.is_none());
    });
}
