//! Idle keep-alive connections leave their task for the worker's parked
//! set (`http::parked`) and come back from it: the next request is served
//! on the same socket, with the same client address and admission slot;
//! idle timeouts, reloads and shutdown close parked connections.
//!
//! Connections wait out the parking delay (250 ms of idleness) because
//! that is the scenario under test; the test then waits for the listener's
//! parked count, not for a time.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const GET_ECHO: &[u8] = b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n";

/// Sends `req` on `s` and returns the response, which must be a 200.
async fn get(s: &mut TcpStream, req: &[u8]) -> RawResponse {
    s.write_all(req).await.unwrap();
    let resp = within(Duration::from_secs(10), read_response(s))
        .await
        .expect("a response");
    assert_eq!(resp.status, 200, "{}", resp.head);
    resp
}

/// Waits until listener "web" has `n` parked connections.
async fn parked(proxy: &Proxy, n: usize) {
    assert!(
        eventually(Duration::from_secs(10), || proxy.parked_connections("web")
            == n)
        .await,
        "listener web: {} parked connections, expected {n}",
        proxy.parked_connections("web")
    );
}

fn config(listener_extra: &str, backend: std::net::SocketAddr) -> String {
    proxy_config(
        2,
        &[
            listener("web", listener_extra, "", "p"),
            pool("p", &[backend], ""),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_connection_serves_its_next_requests_on_the_same_socket() {
    let b = backend("b1");
    let proxy = Proxy::start(&config("", b.addr));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    for round in 0..3 {
        get(&mut s, GET_ECHO).await;
        parked(&proxy, 1).await;
        // The request wakes it: it leaves the set and is served.
        let resp = get(&mut s, b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(resp.head.starts_with("HTTP/1.1 200"), "round {round}");
        assert_eq!(proxy.parked_connections("web"), 0, "round {round}");
    }
    // Pipelined requests that wake a parked connection are all answered,
    // in order.
    parked(&proxy, 1).await;
    s.write_all(
        b"GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    // Both answers often come in one segment: read them with one buffer.
    let both = within(Duration::from_secs(10), read_responses(&mut s, 2))
        .await
        .unwrap();
    assert_eq!((both[0].status, both[1].status), (201, 202));
    assert_eq!(b.hits(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_parked_connections_each_get_their_own_answer() {
    let b = backend("b1");
    let proxy = Proxy::start(&config("", b.addr));
    let mut conns = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        get(&mut s, GET_ECHO).await;
        conns.push(s);
    }
    parked(&proxy, 200).await;
    // Every connection asks for its own status: answers are not mixed up.
    for (i, s) in conns.iter_mut().enumerate() {
        let code = 200 + (i % 7);
        let req = format!("GET /status/{code} HTTP/1.1\r\nHost: a\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let resp = within(Duration::from_secs(10), read_response(s))
            .await
            .unwrap_or_else(|| panic!("connection {i} closed"));
        assert_eq!(usize::from(resp.status), 200 + (i % 7), "connection {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_idle_timeout_closes_a_parked_connection() {
    let b = backend("b1");
    let proxy = Proxy::start(&config("idle_timeout = \"700ms\"", b.addr));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let started = std::time::Instant::now();
    get(&mut s, GET_ECHO).await;
    parked(&proxy, 1).await;
    assert!(
        wait_closed(&mut s, Duration::from_secs(10)).await.is_some(),
        "the parked connection stayed open past its idle timeout"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "closed after {:?}, before the idle timeout",
        started.elapsed()
    );
    assert_eq!(proxy.parked_connections("web"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_connection_keeps_its_admission_slot_until_it_closes() {
    let b = backend("b1");
    let proxy = Proxy::start(&config("max_connections = 1", b.addr));
    let mut first = TcpStream::connect(proxy.addr()).await.unwrap();
    get(&mut first, GET_ECHO).await;
    parked(&proxy, 1).await;
    assert_eq!(proxy.open_connections("web"), 1);
    // Parked, it still counts: a second connection is refused.
    let mut second = TcpStream::connect(proxy.addr()).await.unwrap();
    second.write_all(GET_ECHO).await.unwrap();
    assert!(
        within(Duration::from_secs(10), read_response(&mut second))
            .await
            .is_none(),
        "a second connection was served over max_connections = 1"
    );
    // The client closes its parked connection: the slot is free again.
    drop(first);
    assert!(
        eventually(Duration::from_secs(10), || proxy.open_connections("web")
            == 0)
        .await,
        "the slot of the closed parked connection was not released"
    );
    assert_eq!(proxy.parked_connections("web"), 0);
    let mut third = TcpStream::connect(proxy.addr()).await.unwrap();
    get(&mut third, GET_ECHO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_protocol_client_address_survives_parking() {
    let b = backend("b1");
    let proxy = Proxy::start(&config(
        "proxy_protocol = \"v1\"\ntrusted_proxies = [\"127.0.0.0/8\"]",
        b.addr,
    ));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut first = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n".to_vec();
    first.extend_from_slice(GET_ECHO);
    let resp = get(&mut s, &first).await;
    let body = String::from_utf8_lossy(&resp.body).to_ascii_lowercase();
    assert!(body.contains("x-forwarded-for: 203.0.113.7"), "{body}");
    parked(&proxy, 1).await;
    let resp = get(&mut s, GET_ECHO).await;
    let body = String::from_utf8_lossy(&resp.body).to_ascii_lowercase();
    assert!(
        body.contains("x-forwarded-for: 203.0.113.7"),
        "after parking: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_removes_the_listener_closes_its_parked_connections() {
    let b = backend("b1");
    let cfg = config("", b.addr);
    let mut proxy = Proxy::start(&cfg);
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    get(&mut s, GET_ECHO).await;
    parked(&proxy, 1).await;
    // The listener moves to another address: its old socket stops, and the
    // connections it accepted close once the grace for a last request
    // (1 s) is over. (A reload that keeps the listener keeps them: see
    // tests/reload_keepalive.rs.)
    let moved = cfg.replace("127.0.0.1:0", "127.0.0.2:0");
    assert_ne!(moved, cfg);
    proxy.reload(&moved).unwrap();
    assert!(
        wait_closed(&mut s, Duration::from_secs(10)).await.is_some(),
        "a parked connection of a removed listener stayed open"
    );
    // New connections are served by the new configuration.
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    get(&mut s, GET_ECHO).await;
}

/// At shutdown a parked connection gets the grace for a last request
/// (1 s), like one idle in its task: a request sent then is answered with
/// `Connection: close`; the shutdown does not wait for the drain deadline.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_gives_a_parked_connection_its_grace_for_a_last_request() {
    let b = backend("b1");
    let proxy = Proxy::start(&config("", b.addr));
    let addr = proxy.addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    get(&mut s, GET_ECHO).await;
    parked(&proxy, 1).await;
    let started = std::time::Instant::now();
    // A long drain deadline: a parked connection must not hold it up.
    let stop = tokio::task::spawn_blocking(move || proxy.shutdown(Duration::from_secs(30)));
    // The shutdown has begun once the listener refuses connections.
    assert!(
        eventually(Duration::from_secs(10), || std::net::TcpStream::connect(
            addr
        )
        .is_err())
        .await,
        "the listener still accepts"
    );
    let resp = get(&mut s, GET_ECHO).await;
    assert!(
        resp.head.to_ascii_lowercase().contains("connection: close"),
        "{}",
        resp.head
    );
    stop.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for an idle connection",
        started.elapsed()
    );
    assert!(wait_closed(&mut s, Duration::from_secs(10)).await.is_some());
    assert_eq!(b.hits(), 2);
}

/// A parked connection that sends nothing is closed when its grace ends,
/// and the shutdown ends with it.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_a_silent_parked_connection_after_the_grace() {
    let b = backend("b1");
    let proxy = Proxy::start(&config("", b.addr));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    get(&mut s, GET_ECHO).await;
    parked(&proxy, 1).await;
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || proxy.shutdown(Duration::from_secs(30)))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(10)).contains(&took),
        "shutdown took {took:?}: the grace is 1 s"
    );
    assert!(wait_closed(&mut s, Duration::from_secs(10)).await.is_some());
}
