//! Keep-alive clients across reloads and connection lifetimes: a
//! connection that must close while idle (a reload replaced its listener,
//! `max_connection_duration` is up) waits a short grace for its client's
//! next request and serves it with `Connection: close`, so a client sending
//! back to back never loses a request to the close (HAProxy's
//! `idle-close-on-response`).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What one back-to-back client saw.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    /// Responses that announced the close (the connection was replaced).
    closes: AtomicU64,
    /// Requests whose connection closed (or reset) without a response.
    lost: AtomicU64,
}

/// Sends GETs on keep-alive connections until `stop`, `think` apart (the
/// client's own pace, not synchronisation), reconnecting after a
/// `Connection: close` or a lost request.
async fn back_to_back(addr: SocketAddr, tally: Arc<Tally>, stop: Arc<AtomicBool>, think: Duration) {
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
        let s = match conn.as_mut() {
            Some(s) => s,
            None => conn.insert(TcpStream::connect(addr).await.expect("connect")),
        };
        let sent = s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
        match (sent, read_response(s).await) {
            (Ok(()), Some(r)) => {
                assert_eq!(r.status, 200, "{}", r.head);
                tally.ok.fetch_add(1, Ordering::Relaxed);
                if r.header("connection") == Some("close") {
                    tally.closes.fetch_add(1, Ordering::Relaxed);
                    conn = None;
                }
            }
            _ => {
                tally.lost.fetch_add(1, Ordering::Relaxed);
                conn = None;
            }
        }
    }
}

/// Four [`back_to_back`] clients and what they saw.
struct Clients {
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    fn start(addr: SocketAddr, think: Duration) -> Clients {
        let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
        let tasks = (0..4)
            .map(|_| tokio::spawn(back_to_back(addr, tally.clone(), stop.clone(), think)))
            .collect();
        Clients { tally, stop, tasks }
    }

    /// Stops the clients; the number of requests they lost.
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("client");
        }
        self.tally.lost.load(Ordering::Relaxed)
    }
}

/// Waits until the clients have got `n` more responses.
async fn served(tally: &Tally, n: u64) {
    let target = tally.ok.load(Ordering::Relaxed) + n;
    assert!(
        eventually(Duration::from_secs(10), || tally.ok.load(Ordering::Relaxed)
            >= target)
        .await,
        "clients stopped getting responses"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reloads_lose_no_request_of_busy_keep_alive_clients() {
    let b = backend("b");
    let config = |algorithm: &str| simple_config(algorithm, &[b.addr], "");
    let mut proxy = Proxy::start(&config("round_robin"));
    let clients = Clients::start(proxy.addr(), Duration::ZERO);
    let tally = clients.tally.clone();
    served(&tally, 200).await;
    for i in 0..20 {
        // Each reload replaces the listener's runtime: every open
        // connection must close.
        let algorithm = if i % 2 == 0 { "random" } else { "round_robin" };
        proxy.reload(&config(algorithm)).expect("reload");
        served(&tally, 50).await;
    }
    assert_eq!(clients.finish().await, 0, "requests lost to reloads");
    assert!(
        tally.closes.load(Ordering::Relaxed) >= 20,
        "connections were replaced: {} closes announced",
        tally.closes.load(Ordering::Relaxed)
    );
}

/// One keep-alive request on `s`; the response.
async fn ask(s: &mut TcpStream) -> RawResponse {
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    read_response(s).await.expect("a response")
}

/// A connection to `addr` that has served one request and is parked.
async fn parked(proxy: &Proxy, addr: SocketAddr, listener: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut s).await.status, 200);
    assert!(
        eventually(Duration::from_secs(5), || proxy
            .parked_connections(listener)
            == 1)
        .await,
        "the idle connection parks"
    );
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_connection_wakes_into_the_reloaded_configuration() {
    let (a, b) = (backend("a"), backend("b"));
    let config = |to: SocketAddr| simple_config("round_robin", &[to], "");
    let mut proxy = Proxy::start(&config(a.addr));
    let mut s = parked(&proxy, proxy.addr(), "web").await;
    proxy.reload(&config(b.addr)).expect("reload");
    // Served under the new configuration, on the same connection, which
    // stays open: nothing of the old configuration is left on it.
    for _ in 0..2 {
        let r = ask(&mut s).await;
        assert_eq!(
            (r.status, r.header("x-backend")),
            (200, Some("b")),
            "{}",
            r.head
        );
        assert_eq!(r.header("connection"), None, "{}", r.head);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_on_a_parked_connection_of_a_removed_listener_is_served_then_closed() {
    let b = backend("b");
    let config = |listeners: &[&str]| {
        let mut parts: Vec<String> = listeners.iter().map(|l| listener(l, "", "", "p")).collect();
        parts.push(pool("p", &[b.addr], ""));
        proxy_config(1, &parts)
    };
    let mut proxy = Proxy::start(&config(&["web", "old"]));
    let old = proxy.addr_of("old");
    let mut s = parked(&proxy, old, "old").await;
    proxy.reload(&config(&["web"])).expect("reload");
    // The client's next request was already on its way: it is served, and
    // the response announces the close.
    let r = ask(&mut s).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"), "{}", r.head);
    let rest = wait_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("closed after its response");
    assert!(rest.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_lifetimes_lose_no_request_of_busy_keep_alive_clients() {
    let b = backend("b");
    let config = proxy_config(
        1,
        &[
            listener("web", "max_connection_duration = \"200ms\"", "", "p"),
            pool("p", &[b.addr], ""),
        ],
    );
    let proxy = Proxy::start(&config);
    // Idle most of the time: lifetimes end between requests, and the
    // connection notices (its timer ticks every 250 ms) before the next.
    let think = Duration::from_millis(100);
    let clients = Clients::start(proxy.addr(), think);
    let tally = clients.tally.clone();
    assert!(
        eventually(Duration::from_secs(20), || tally
            .closes
            .load(Ordering::Relaxed)
            >= 20)
        .await,
        "connections reach their lifetime"
    );
    assert_eq!(clients.finish().await, 0, "requests lost to lifetimes");
}
