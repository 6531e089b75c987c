//! Client-side timeouts: a request head must arrive within
//! `request_header_timeout` of its first byte (slowloris; the first head
//! of a TLS connection within that of accept, handshake included), a keep-alive
//! connection may idle for `idle_timeout`, and neither cuts a slow response.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

fn config(b: SocketAddr, timeouts: &str) -> String {
    fill(
        r#"
[global]
workers = 1
[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
{timeouts}
  [[listener.route]]
  pool = "p"
[[pool]]
name = "p"
endpoints = [{ address = "{b}" }]
"#,
        &[("b", b.to_string()), ("timeouts", timeouts.to_owned())],
    )
}

/// One keep-alive GET on `s`; returns the response.
async fn roundtrip(s: &mut TcpStream, path: &str) -> RawResponse {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_response(s)
        .await
        .expect("a response, not a closed connection")
}

/// The slowloris attack's traffic on `s`, after the start of a head has
/// been sent: one more header byte every 100 ms (for up to a minute),
/// until the write fails. Returns the reading half.
fn dribble(s: TcpStream) -> (OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let (reader, mut writer) = s.into_split();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let header = std::iter::once(&b"X-Slow: "[..]).chain(std::iter::repeat_n(&b"a"[..], 600));
        for piece in header.flat_map(|p| p.chunks(1)) {
            tick.tick().await;
            if writer.write_all(piece).await.is_err() {
                return;
            }
        }
    });
    (reader, task)
}

/// Reads until the proxy closes the connection (EOF or reset); returns the
/// time since `since` and whatever was received, or `None` after `limit`.
async fn closed_within(
    r: &mut OwnedReadHalf,
    since: Instant,
    limit: Duration,
) -> Option<(Duration, Vec<u8>)> {
    let mut rest = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => return since.elapsed(),
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let after = tokio::time::timeout(limit, read).await.ok()?;
    Some((after, rest))
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_head_is_cut_at_request_header_timeout_while_others_are_served() {
    let b = backend("b1");
    let proxy = Proxy::start(&config(b.addr, "request_header_timeout = \"300ms\""));

    let started = Instant::now();
    let mut attacker = TcpStream::connect(proxy.addr()).await.unwrap();
    attacker
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let (mut reader, dribbling) = dribble(attacker);

    // Meanwhile a normal client on its own connection (same worker) is served.
    let normal = async {
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        for _ in 0..3 {
            let r = roundtrip(&mut s, "/").await;
            assert_eq!((r.status, r.body.as_slice()), (200, &b"b1\n"[..]));
        }
    };
    let (closed, ()) = tokio::join!(
        closed_within(&mut reader, started, Duration::from_secs(5)),
        normal
    );
    dribbling.abort();
    let (after, sent) = closed.expect("the slowloris connection stayed open for 5 s");

    assert!(
        after >= Duration::from_millis(300),
        "closed after {after:?}, before the header timeout"
    );
    assert!(
        after < Duration::from_secs(2),
        "closed only after {after:?} (header timeout 300ms)"
    );
    // The client is told why, as HAProxy tells it.
    let sent = String::from_utf8_lossy(&sent);
    assert_eq!(status_of(&sent), 408, "{sent}");
    assert!(sent.contains("connection: close\r\n"), "{sent}");
    assert!(
        sent.ends_with("\r\n\r\n408 request header timeout\n"),
        "{sent}"
    );
    assert_eq!(
        b.hits(),
        3,
        "only the normal client's requests reach the backend"
    );
}

/// The first head's budget runs from accept and takes in the TLS
/// handshake: a client that completes its handshake, waits, and then
/// dribbles a head is cut `request_header_timeout` after it connected, not
/// that long after its first request byte (which gave a slow client twice
/// the budget). (A plain listener accepts only once bytes arrive, so there
/// the budget starts with them.)
#[tokio::test(flavor = "multi_thread")]
async fn the_first_heads_budget_includes_the_tls_handshake() {
    use common::tls::{BOTH, H1_ONLY, SITE, Site, tls_connect};
    let b = backend("b1");
    let site = Site::new();
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener("web", "request_header_timeout = \"1s\"", &site.tls(), "p"),
            pool("p", &[b.addr], ""),
        ],
    ));
    let started = Instant::now();
    let tls = tls_connect(proxy.addr_of("web"), &site.client(BOTH, H1_ONLY), SITE)
        .await
        .expect("handshake");
    let (mut reader, mut writer) = tokio::io::split(tls);
    // The slow client under test: silent for most of the budget, then one
    // head byte every 100 ms.
    let dribbling = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for byte in head.chunks(1) {
            tick.tick().await;
            if writer.write_all(byte).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    });
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut sink)).await;
    let after = started.elapsed();
    dribbling.abort();
    assert!(closed.is_ok(), "the connection stayed open for 5 s");
    assert!(
        after >= Duration::from_millis(950) && after < Duration::from_millis(1600),
        "closed {after:?} after connecting (budget 1 s from accept; 1.9 s if counted from the first byte)"
    );
    assert_eq!(b.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_on_a_reused_keep_alive_connection_is_cut_at_request_header_timeout() {
    let b = backend("b1");
    let proxy = Proxy::start(&config(
        b.addr,
        "request_header_timeout = \"300ms\"\nidle_timeout = \"10s\"",
    ));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(roundtrip(&mut s, "/").await.status, 200);
    // The attack on a kept-alive connection: think time (longer than the
    // header timeout, shorter than the idle timeout), then a head that never ends.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await.unwrap();
    let (mut reader, dribbling) = dribble(s);
    let closed = closed_within(&mut reader, started, Duration::from_secs(5)).await;
    dribbling.abort();
    let (after, sent) = closed.expect("the slow second head was not cut within 5 s");
    assert_eq!(status_of(&String::from_utf8_lossy(&sent)), 408);
    assert!(
        after >= Duration::from_millis(300),
        "closed after {after:?}, before the header timeout"
    );
    assert!(
        after < Duration::from_secs(2),
        "the second head was cut only after {after:?} (header timeout 300ms)"
    );
    assert_eq!(
        b.hits(),
        1,
        "the slow second request never reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let b = backend("b1");
    let proxy = Proxy::start(&config(b.addr, "idle_timeout = \"300ms\""));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    // The idle clock starts when the response ends, after the request was sent.
    let sent = Instant::now();
    let r = roundtrip(&mut s, "/").await;
    assert_eq!(r.status, 200);
    assert_ne!(
        r.header("connection"),
        Some("close"),
        "the response keeps the connection alive"
    );
    let rest = wait_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("the idle connection stayed open for 5 s");
    let after = sent.elapsed();
    assert!(
        rest.is_empty(),
        "unexpected bytes on an idle connection: {}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        after >= Duration::from_millis(300),
        "closed after {after:?}, before the idle timeout"
    );
    assert!(
        after < Duration::from_millis(1500),
        "closed only after {after:?} (idle timeout 300ms)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_with_traffic_inside_the_idle_window_stays_open() {
    let b = backend("b1");
    // Both timeouts at 300ms, so the idle timeout is in force from the first
    // response on (see the test above for idle_timeout alone).
    let proxy = Proxy::start(&config(
        b.addr,
        "request_header_timeout = \"300ms\"\nidle_timeout = \"300ms\"",
    ));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let start = Instant::now();
    // One request every 100 ms for well over the idle timeout: the client's
    // traffic pattern, each gap well inside the 300 ms window.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(1200) {
        tick.tick().await;
        let r = roundtrip(&mut s, "/").await;
        assert_eq!(r.status, 200, "request {n} on the busy connection");
        n += 1;
    }
    assert!(n >= 8, "only {n} requests in 1.2 s");
    assert_eq!(b.hits(), n);
    // The timeout was in force all along: once the traffic stops, the same
    // connection is closed.
    wait_closed(&mut s, Duration::from_secs(5))
        .await
        .expect("closed once idle");
}

#[tokio::test(flavor = "multi_thread")]
async fn header_and_idle_timeouts_do_not_cut_a_slow_response() {
    let b = backend("b1");
    let proxy = Proxy::start(&config(
        b.addr,
        "request_header_timeout = \"300ms\"\nidle_timeout = \"300ms\"",
    ));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let start = Instant::now();
    let r = roundtrip(&mut s, "/slow?ms=800").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"b1 slept 800 ms\n");
    assert!(start.elapsed() >= Duration::from_millis(800));
    // The connection survived the busy period and serves the next request.
    let r = roundtrip(&mut s, "/").await;
    assert_eq!(r.status, 200);
}
