//! `max_connection_duration`, end to end: a client connection past its
//! lifetime (1 s here, ±10 % jitter) is asked to reconnect. HTTP/1.1: the
//! response under way says `Connection: close` and the connection closes
//! after it (both HTTP/1.1 paths); an idle one (parked) closes then.
//! HTTP/2 (both servers): a graceful GOAWAY, and the stream under way
//! finishes.

mod common;

use std::time::{Duration, Instant};

use common::h2::{
    END_HEADERS, END_STREAM, GOAWAY, HEADERS, NO_ERROR, RST_STREAM, RawH2, frame, get_block,
    h2c_config,
};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIFETIME: &str = "max_connection_duration = \"1s\"";

fn config(endpoint: std::net::SocketAddr, listener_extra: &str) -> String {
    h2c_config(1, &format!("{LIFETIME}\n{listener_extra}"), "", &[endpoint])
}

/// Sends `request` on one connection over and over until a response says
/// `Connection: close`: how many responses came, and when the last one
/// did (from connecting). The connection must then be closed.
async fn until_told_to_close(proxy: &Proxy, request: &[u8]) -> (usize, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut served = 0;
    loop {
        s.write_all(request).await.unwrap();
        let r = within(Duration::from_secs(5), read_response(&mut s))
            .await
            .expect("a response");
        assert_eq!(r.status, 200, "{}", r.head);
        served += 1;
        if r.header("connection") == Some("close") {
            let at = start.elapsed();
            assert!(
                wait_closed(&mut s, Duration::from_secs(5)).await.is_some(),
                "closed after the response that said so"
            );
            return (served, at);
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never told");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http1_connection_past_its_lifetime_closes_after_the_response_under_way() {
    let b = backend("a");
    let proxy = Proxy::start(&config(b.addr, ""));
    // Requests of 100 ms each, back to back: the own HTTP/1.1 path (no
    // body), then hyper's (a body).
    let get: &[u8] = b"GET /slow?ms=100 HTTP/1.1\r\nHost: a\r\n\r\n";
    let post: &[u8] = b"POST /slow?ms=100 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
    for request in [get, post] {
        let (served, at) = until_told_to_close(&proxy, request).await;
        assert!(served >= 5, "keep-alive until then ({served} responses)");
        assert!(
            at >= Duration::from_millis(900) && at < Duration::from_millis(2500),
            "told at {at:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_http1_connection_closes_when_its_lifetime_is_up() {
    let b = backend("a");
    // The idle timeout alone would keep it for a minute.
    let proxy = Proxy::start(&config(b.addr, "idle_timeout = \"60s\""));
    let start = Instant::now();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s).await.expect("a response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), None, "kept alive at first");
    // Idle past 250 ms: parked, without a task of its own.
    assert!(
        eventually(Duration::from_secs(5), || proxy.parked_connections("web")
            == 1)
        .await,
        "parked"
    );
    assert!(
        wait_closed(&mut s, Duration::from_secs(5)).await.is_some(),
        "closed at the end of its lifetime"
    );
    let at = start.elapsed();
    assert!(
        at >= Duration::from_millis(900) && at < Duration::from_millis(2500),
        "closed at {at:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_connection_past_its_lifetime_gets_goaway_and_its_stream_finishes() {
    let b = backend("a");
    for server in ["own", "hyper"] {
        let proxy = Proxy::start(&config(b.addr, &format!("h2_server = \"{server}\"")));
        let start = Instant::now();
        let mut raw = RawH2::connect(proxy.addr()).await;
        // The answer comes after the lifetime is up.
        let block = get_block("a", "/slow?ms=2000");
        raw.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block))
            .await
            .unwrap();
        let goaway = raw
            .until(Duration::from_secs(10), |f| {
                f.kind == GOAWAY || f.stream == 1
            })
            .await
            .unwrap_or_else(|| panic!("{server} server: the connection ended"));
        assert_eq!(goaway.kind, GOAWAY, "{server} server: GOAWAY first");
        assert_eq!(goaway.error_code(), NO_ERROR, "{server} server");
        let at = start.elapsed();
        assert!(
            at >= Duration::from_millis(900) && at < Duration::from_millis(1900),
            "{server} server: GOAWAY at {at:?}"
        );
        // The stream under way is answered in full.
        let head = raw
            .until(Duration::from_secs(10), |f| f.stream == 1)
            .await
            .unwrap_or_else(|| panic!("{server} server: the connection ended"));
        assert_eq!(head.kind, HEADERS, "{server} server: {head:?}");
        let end = raw
            .until(Duration::from_secs(10), |f| {
                f.stream == 1 && (f.flags & END_STREAM != 0 || f.kind == RST_STREAM)
            })
            .await
            .unwrap_or_else(|| panic!("{server} server: the stream did not end"));
        assert_ne!(end.kind, RST_STREAM, "{server} server: {end:?}");
        // Then the connection ends.
        assert!(
            raw.until(Duration::from_secs(10), |f| f.kind == HEADERS)
                .await
                .is_none(),
            "{server} server: closed after its last stream"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_connection_keeps_its_lifetime_when_it_wakes() {
    let b = backend("a");
    let proxy = Proxy::start(&config(b.addr, "idle_timeout = \"60s\""));
    let start = Instant::now();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut served = 0;
    let at = loop {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let r = within(Duration::from_secs(5), read_response(&mut s))
            .await
            .expect("a response");
        assert_eq!(r.status, 200);
        served += 1;
        if r.header("connection") == Some("close") {
            break start.elapsed();
        }
        // Parked between requests, then woken by the next one: a new task
        // serves it, with the connection's first deadline. (Or, idle when
        // its lifetime ends, it closes.)
        let mut byte = [0u8; 1];
        tokio::select! {
            parked = eventually(Duration::from_secs(5), || proxy.parked_connections("web") == 1) => {
                assert!(parked, "parked");
            }
            n = s.read(&mut byte) => {
                assert!(matches!(n, Ok(0) | Err(_)), "nothing unasked: {n:?}");
                break start.elapsed();
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never closed");
    };
    assert!(served >= 2, "{served} responses");
    assert!(
        at >= Duration::from_millis(900) && at < Duration::from_millis(2500),
        "ended at {at:?}"
    );
    assert!(wait_closed(&mut s, Duration::from_secs(5)).await.is_some());
}
