//! The two HTTP/2 servers a listener can run (`h2_server`): the own one
//! (the default, which every other HTTP/2 test exercises) and hyper's (the
//! fallback). Here: each is the one that answers, both carry requests and
//! bodies both ways the same (a cookie split over several fields reaches
//! an HTTP/1.1 upstream as one, RFC 9113 §8.2.3), and the own server's
//! output bound holds a client that floods PINGs without reading the
//! answers.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::h2::*;
use common::{header, within};
use http::StatusCode;
use http_body_util::BodyExt;

/// The first byte of the header block of the first response on a fresh
/// connection: the own encoder starts every connection with a dynamic
/// table size update to 0 (`0x20`); hyper's (the `h2` crate's) does not.
async fn first_block_starts_with_size_update(addr: std::net::SocketAddr) -> bool {
    let mut raw = RawH2::connect(addr).await;
    let block = get_block(&addr.to_string(), "/");
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await
        .unwrap();
    let head = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == HEADERS && f.stream == 1
        })
        .await
        .expect("a response head");
    head.payload.first() == Some(&0x20)
}

/// GET, a 4 MiB download and a 4 MiB upload through a proxy running
/// `server`, over one h2c connection.
async fn requests_and_bodies_cross(server: &str) {
    let (_b, proxy) = h2c_proxy_to_demo(1, &format!("h2_server = \"{server}\""));
    let addr = proxy.addr();
    assert_eq!(
        first_block_starts_with_size_update(addr).await,
        server == "own",
        "the {server} server answered"
    );

    let mut send = h2c_client::<http_body_util::Full<Bytes>>(addr).await;
    let get = |path: &str| {
        http::Request::get(format!("http://{addr}{path}"))
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap()
    };
    let r = within(Duration::from_secs(10), send.send_request(get("/")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-backend"], "a");
    assert!(r.headers().contains_key("date"), "{server}: no date");

    let r = within(
        Duration::from_secs(10),
        send.send_request(get("/bytes?n=4194304&chunked=1")),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = within(Duration::from_secs(10), r.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), 4 << 20, "{server}: download length");

    let upload = Bytes::from((0..4u32 << 20).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let digest = xxhash_rust::xxh3::xxh3_64(&upload);
    let req = http::Request::post(format!("http://{addr}/upload"))
        .header("content-length", upload.len())
        .body(http_body_util::Full::new(upload))
        .unwrap();
    let r = within(Duration::from_secs(10), send.send_request(req))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("a received {} bytes xxh3={digest:016x}\n", 4 << 20),
        "{server}: upload"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_own_server_carries_requests_and_bodies() {
    requests_and_bodies_cross("own").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hyper_server_carries_requests_and_bodies() {
    requests_and_bodies_cross("hyper").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_servers_serve_the_same_listener_config_over_tls_alpn() {
    // reqwest negotiates h2 by ALPN on a TLS listener in tls_https.rs; here
    // the plain check that a reqwest h2c client gets the same answer from
    // both servers.
    for server in ["own", "hyper"] {
        let (_b, proxy) = h2c_proxy_to_demo(1, &format!("h2_server = \"{server}\""));
        let r = h2_client().get(proxy.url("/echo")).send().await.unwrap();
        assert_eq!(r.version(), http::Version::HTTP_2, "{server}");
        assert_eq!(header(&r, "x-backend"), "a", "{server}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains("x-forwarded-for: 127.0.0.1"),
            "{server}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_idled_and_gave_back_its_buffers_serves_uploads_after() {
    // An idle own-server connection frees its read buffer and stream set
    // at the first 250 ms tick with no stream open, and waits for the
    // client's next bytes in a stack buffer; each cycle here idles past
    // that tick, then uploads 1 MiB (reads larger than the first buffer).
    // (`max_connections` makes the listener count its connections.)
    let (_b, proxy) = h2c_proxy_to_demo(1, "max_connections = 100");
    let client = h2_client();
    let body = vec![7u8; 1 << 20];
    for cycle in 0..3 {
        let r = client.get(proxy.url("/")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "cycle {cycle}");
        // The scenario's idle period (not a synchronisation).
        tokio::time::sleep(Duration::from_millis(600)).await;
        let r = client
            .post(proxy.url("/upload"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.version(), http::Version::HTTP_2);
        let text = r.text().await.unwrap();
        assert!(
            text.contains("received 1048576 bytes"),
            "cycle {cycle}: {text}"
        );
    }
    assert_eq!(proxy.open_connections("web"), 1, "one connection all along");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_flooding_pings_without_reading_is_held_back() {
    let (_b, proxy) = h2c_proxy_to_demo(1, "");
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    // PINGs, each answered with a PING ACK of the same size, and the
    // answers never read. A server that kept reading would queue every
    // answer and take PINGs forever; the own server stops reading once its
    // output backs up, so the kernel's buffers fill (some MiB) and a write
    // stalls. A 64 KiB write that does not finish in 2 s is the stall.
    let ping = frame(PING, 0, 0, &[7; 8]);
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 3855)
        .collect();
    let limit = 512usize << 20;
    let mut sent = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_secs(2), raw.send(&burst)).await {
            Ok(res) => res.expect("the proxy closed the connection"),
            Err(_) => break,
        }
        sent += burst.len();
        assert!(
            sent < limit,
            "the proxy took {sent} bytes of PINGs without its answers being read"
        );
    }
    // Held back, not dropped: the answers are there to read.
    raw.until(Duration::from_secs(5), |f| {
        f.kind == PING && f.flags & ACK != 0
    })
    .await
    .expect("a PING ACK");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_goaway_serves_requests_sent_before_the_client_saw_it() {
    let (b, proxy) = h2c_proxy_to_demo(1, "idle_timeout = \"300ms\"");
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    raw.ack_pings = false;
    let last =
        |f: &Frame| u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]]);
    let block = get_block(&addr.to_string(), "/");
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await
        .unwrap();
    // Then idle: the first GOAWAY names every stream, with a PING.
    let first = raw
        .until(Duration::from_secs(5), |f| f.kind == GOAWAY)
        .await
        .expect("a GOAWAY");
    assert_eq!((last(&first), first.error_code()), (0x7fff_ffff, NO_ERROR));
    let ping = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == PING && f.flags & ACK == 0
        })
        .await
        .expect("the GOAWAY's PING");
    // A request the client sends before acknowledging is still served.
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &block))
        .await
        .unwrap();
    raw.until(Duration::from_secs(5), |f| {
        f.stream == 3 && f.flags & END_STREAM != 0
    })
    .await
    .expect("stream 3 answered to its end");
    assert_eq!(b.hits(), 2);
    // The ACK brings the final GOAWAY, naming stream 3; then the close.
    raw.send(&frame(PING, ACK, 0, &ping.payload)).await.unwrap();
    let second = raw
        .until(Duration::from_secs(5), |f| f.kind == GOAWAY)
        .await
        .expect("the final GOAWAY");
    assert_eq!((last(&second), second.error_code()), (3, NO_ERROR));
    within(Duration::from_secs(5), async {
        while raw.read_frame().await.is_some() {}
    })
    .await;
}

/// The demo backend's `/echo` of a request with two `cookie` fields sent
/// by a raw HTTP/2 client through a proxy running `server`.
async fn echo_of_two_cookie_fields(server: &str) -> String {
    let (_b, proxy) = h2c_proxy_to_demo(1, &format!("h2_server = \"{server}\""));
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    let mut block = get_block(&addr.to_string(), "/echo");
    hpack_literal(&mut block, "cookie", b"a=1");
    hpack_literal(&mut block, "cookie", b"b=2");
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await
        .unwrap();
    let mut body = Vec::new();
    within(Duration::from_secs(5), async {
        while let Some(f) = raw.read_frame().await {
            if f.kind == DATA && f.stream == 1 {
                body.extend_from_slice(&f.payload);
            }
            if f.stream == 1 && f.flags & END_STREAM != 0 {
                break;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_fields_reach_an_http1_upstream_as_one_on_both_servers() {
    for server in ["own", "hyper"] {
        let echo = echo_of_two_cookie_fields(server).await;
        let cookies: Vec<&str> = echo
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("cookie:"))
            .collect();
        assert_eq!(cookies, ["cookie: a=1; b=2"], "{server}: {echo}");
    }
}
