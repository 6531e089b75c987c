//! HTTP/2 end to end: h2c prior knowledge from clients, per-stream
//! balancing of one client connection, HTTP/2 to upstreams (connection
//! reuse, multiplexing, more connections at the upstream's stream limit,
//! requests the upstream refused or left beyond its GOAWAY), translation
//! between HTTP/1.1 and HTTP/2 in both directions (Host vs `:authority`,
//! connection-specific headers, bodies, trailers, `te: trailers`, stream
//! resets), and the connection lifecycle (idle GOAWAY, GOAWAY on reload).
//! The listener's HTTP/2 safety limits are in `http2_limits.rs`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::h2::*;
use common::{Proxy, backend, client, eventually, header, is_demo_pattern, within};
use http::{StatusCode, Version};
use http_body_util::BodyExt;
use tokio::task::JoinSet;

// ---- 1. h2c prior knowledge ------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn h2c_prior_knowledge_and_http1_share_a_listener() {
    let (b, proxy) = h2c_proxy_to_demo(2, "");

    let r = h2_client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_2, "h2c client gets HTTP/2");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-backend"), "a");

    let r = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_11, "HTTP/1.1 still works");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-backend"), "a");

    // curl, if installed, as an independent HTTP/2 implementation (nghttp2).
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            "-D",
            "-",
            "-o",
            "/dev/null",
        ])
        .arg(proxy.url("/"))
        .output()
        .await;
    match out {
        Err(e) => println!("curl check skipped: curl not runnable ({e})"),
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("not support") => {
            println!("curl check skipped: this curl has no HTTP/2")
        }
        Ok(o) => {
            let head = String::from_utf8_lossy(&o.stdout).to_lowercase();
            assert!(o.status.success(), "curl failed: {o:?}");
            assert!(head.starts_with("http/2 200"), "curl head: {head}");
            assert!(head.contains("x-backend: a"), "curl head: {head}");
        }
    }
    assert_eq!(b.hits(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn h2c_preface_is_not_http2_without_http2_enabled() {
    let b = backend("a");
    let cfg = h2c_config(1, "", "", &[b.addr]).replace("http2 = true", "http2 = false");
    let proxy = Proxy::start(&cfg);
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    let answer = within(Duration::from_secs(5), common::raw(proxy.addr(), &hello)).await;
    // An HTTP/1.1 error (or a plain close), never an HTTP/2 SETTINGS frame.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4") || answer.starts_with("HTTP/1.1 5"),
        "unexpected answer to an h2c preface: {answer:?}"
    );
    assert_eq!(b.hits(), 0);
}

// ---- 2. per-stream balancing -----------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn one_h2_connection_is_balanced_per_stream() {
    let backends = [backend("a"), backend("b"), backend("c")];
    let eps: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let proxy = Proxy::start(&h2c_config(2, "", "", &eps));
    let addr = proxy.addr();
    // Exactly one TCP connection: a hyper HTTP/2 client over one socket.
    let send = h2c_client::<Empty>(addr).await;
    let mut set = JoinSet::new();
    for _ in 0..90 {
        let mut send = send.clone();
        set.spawn(async move {
            let r = send
                .send_request(get(&addr.to_string(), "/"))
                .await
                .expect("response");
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.version(), Version::HTTP_2);
            let be = r.headers()["x-backend"].to_str().unwrap().to_owned();
            r.into_body().collect().await.unwrap();
            be
        });
    }
    let mut seen = HashMap::<String, usize>::new();
    within(Duration::from_secs(20), async {
        while let Some(be) = set.join_next().await {
            *seen.entry(be.unwrap()).or_default() += 1;
        }
    })
    .await;
    for b in &backends {
        assert_eq!(b.hits(), 30, "backend {} hits", b.name);
        assert_eq!(seen[&b.name], 30, "responses from {}", b.name);
    }
}

// ---- 3. HTTP/2 to upstreams ------------------------------------------------

/// `n` concurrent GETs of `/hold` through `proxy` with `c`, each answered
/// `200` within 10 s: how many were answered on each upstream connection
/// (`x-conn`).
async fn held_requests(c: &reqwest::Client, proxy: &Proxy, n: usize) -> HashMap<String, usize> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (c, url) = (c.clone(), proxy.url("/hold"));
        set.spawn(async move {
            let r = c.get(url).send().await.unwrap();
            (r.status(), header(&r, "x-conn"))
        });
    }
    let mut conns = HashMap::<String, usize>::new();
    within(Duration::from_secs(10), async {
        while let Some(r) = set.join_next().await {
            let (status, conn) = r.unwrap();
            assert_eq!(status, StatusCode::OK);
            *conns.entry(conn).or_default() += 1;
        }
    })
    .await;
    conns
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_h2_reuses_one_connection_per_backend() {
    let b1 = H2Backend::start("u1", H2Opts::default()).await;
    let b2 = H2Backend::start("u2", H2Opts::default()).await;
    let proxy = Proxy::start(&h2c_config(
        1,
        "",
        "http_version = \"2\"",
        &[b1.addr, b2.addr],
    ));
    let c = client();
    for i in 0..50 {
        let r = c.get(proxy.url("/")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        assert_eq!(header(&r, "x-version"), "HTTP/2.0");
        assert_eq!(header(&r, "x-conn"), "1", "request {i} on a new connection");
        r.bytes().await.unwrap();
    }
    for b in [&b1, &b2] {
        assert_eq!(b.requests(), 25, "{} requests", b.name);
        assert_eq!(b.connections(), 1, "{} connections", b.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_h2_opens_more_connections_at_the_stream_limit() {
    // The backend allows 2 streams per connection and answers `/hold`
    // only once all 6 requests are in: that needs at least 3 connections,
    // and the proxy (one worker) opens them one at a time, each only when
    // the others are full: exactly 3.
    let hold = std::sync::Arc::new(tokio::sync::Barrier::new(6));
    let (b, proxy) = h2c_proxy_to_h2(H2Opts {
        max_streams: Some(2),
        hold: Some(hold),
        ..H2Opts::default()
    })
    .await;
    let c = client();
    let conns = held_requests(&c, &proxy, 6).await;
    assert_eq!(
        b.connections(),
        3,
        "6 concurrent streams at 2 per connection need exactly 3 connections"
    );
    assert!(
        conns.values().all(|n| *n <= 2),
        "a connection carried more streams than the backend allows: {conns:?}"
    );
    // Afterwards, a request reuses one of them.
    let opened = b.connections();
    let r = c.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        b.connections(),
        opened,
        "no new connection for a lone request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_h2_multiplexes_concurrent_streams_on_one_connection() {
    // 10 requests held at the backend at once: once the connection's
    // SETTINGS are known, they all share it.
    let hold = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let (b, proxy) = h2c_proxy_to_h2(H2Opts {
        max_streams: Some(100),
        hold: Some(hold),
        ..H2Opts::default()
    })
    .await;
    let c = client();
    // Warm-up: opens the connection and learns its stream limit.
    let r = c.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let conns = held_requests(&c, &proxy, 10).await;
    assert_eq!(
        conns,
        HashMap::from([("1".to_owned(), 10)]),
        "a stream went to another connection"
    );
    assert_eq!(b.connections(), 1);
    assert_eq!(b.requests(), 11);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_goaway_does_not_fail_requests() {
    // The backend says GOAWAY on every connection after one answer: each
    // request must find a usable connection (a new one), never a 502.
    let (_b, proxy) = h2c_proxy_to_h2(H2Opts {
        goaway_after_one: true,
        ..H2Opts::default()
    })
    .await;
    let c = client();
    // Sequential, then 16 at a time (streams racing with the GOAWAYs).
    let mut failures = Vec::new();
    for i in 0..40 {
        let r = c.get(proxy.url("/")).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        if status != StatusCode::OK {
            failures.push((i, status, body));
        }
    }
    let mut set = JoinSet::new();
    for _ in 0..16 {
        let (c, url) = (c.clone(), proxy.url("/"));
        set.spawn(async move {
            let mut failed = Vec::new();
            for i in 0..50 {
                let r = c.get(&url).send().await.unwrap();
                let status = r.status();
                let body = r.text().await.unwrap();
                if status != StatusCode::OK {
                    failed.push((i, status, body));
                }
            }
            failed
        });
    }
    within(Duration::from_secs(20), async {
        while let Some(f) = set.join_next().await {
            failures.extend(f.unwrap());
        }
    })
    .await;
    assert!(
        failures.is_empty(),
        "{} failed requests: {failures:?}",
        failures.len()
    );
}

/// Deterministic form of the race above: the upstream refuses the second
/// stream of its first connection as never processed. Such a request is
/// safe to retry (RFC 9113 §8.7) and must not fail.
async fn refused_stream_is_retried(how: Refuse) {
    let b = RefusingBackend::start(how).await;
    let proxy = Proxy::start(&h2c_config(1, "", "http_version = \"2\"", &[b.addr]));
    let c = client();
    for i in 0..3 {
        let r = within(Duration::from_secs(5), c.get(proxy.url("/")).send())
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{how:?}, request {i}: {body}");
    }
    assert_eq!(b.refused(), 1, "{how:?}");
    assert_eq!(b.answered(), 3, "{how:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_refused_stream_is_retried() {
    refused_stream_is_retried(Refuse::RstStream).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_beyond_upstream_goaway_is_retried() {
    refused_stream_is_retried(Refuse::GoAway).await;
}

// ---- 4. protocol translation -----------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn h2_client_to_h1_backend_gets_host_from_authority() {
    let (_b, proxy) = h2c_proxy_to_demo(1, "");
    let mut send = h2c_client::<Empty>(proxy.addr()).await;
    let r = send
        .send_request(get("front.example.test:8443", "/echo"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.version(), Version::HTTP_2);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let echo = String::from_utf8_lossy(&body).to_lowercase();
    let lines: Vec<&str> = echo.lines().collect();
    assert_eq!(lines[1], "get /echo http/1.1", "echo: {echo}");
    let hosts: Vec<&&str> = lines.iter().filter(|l| l.starts_with("host:")).collect();
    assert_eq!(hosts, [&"host: front.example.test:8443"], "echo: {echo}");
    for h in [
        "connection:",
        "keep-alive:",
        "proxy-connection:",
        "transfer-encoding:",
        "upgrade:",
    ] {
        assert!(
            !lines.iter().any(|l| l.starts_with(h)),
            "{h} forwarded: {echo}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn h1_client_to_h2_backend_gets_authority_from_host() {
    let (_b, proxy) = h2c_proxy_to_h2(H2Opts::default()).await;
    let r = client()
        .get(proxy.url("/echo"))
        .header("host", "api.example.test:81")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("x-custom", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-version"), "HTTP/2.0");
    assert_eq!(header(&r, "x-authority"), "api.example.test:81");
    assert_eq!(header(&r, "x-scheme"), "http");
    let echo = r.text().await.unwrap();
    assert!(echo.contains("x-custom: yes\n"), "echo: {echo}");
    for h in ["host:", "connection:", "keep-alive:", "x-hop:"] {
        assert!(
            !echo.lines().any(|l| l.starts_with(h)),
            "{h} reached the HTTP/2 backend: {echo}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trailers_from_h2_backend_reach_h2_client() {
    let (_b, proxy) = h2c_proxy_to_h2(H2Opts::default()).await;
    let mut send = h2c_client::<Empty>(proxy.addr()).await;
    let mut req = get(&proxy.addr().to_string(), "/trailers");
    req.headers_mut()
        .insert("te", http::HeaderValue::from_static("trailers"));
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-saw-te"], "trailers");
    let collected = within(Duration::from_secs(5), r.into_body().collect())
        .await
        .unwrap();
    let trailers = collected.trailers().cloned().expect("trailers arrive");
    assert_eq!(collected.to_bytes(), Bytes::from_static(b"data"));
    assert_eq!(trailers["x-trailer"], "done");
    assert_eq!(trailers["grpc-status"], "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn te_trailers_reaches_h2_backend() {
    let (_b, proxy) = h2c_proxy_to_h2(H2Opts::default()).await;

    // From an HTTP/2 client.
    let r = h2_client()
        .get(proxy.url("/"))
        .header("te", "trailers")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(header(&r, "x-saw-te"), "trailers");

    // From an HTTP/1.1 client (TE is hop-by-hop there, and may list more).
    let r = client()
        .get(proxy.url("/"))
        .header("te", "gzip, trailers")
        .header("connection", "te")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "x-saw-te"), "trailers");

    // Without it, none (HTTP/2 allows no other TE value).
    let r = client()
        .get(proxy.url("/"))
        .header("te", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-saw-te"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn h2_bodies_stream_both_ways_through_an_h1_backend() {
    let (_b, proxy) = h2c_proxy_to_demo(1, "");
    let addr = proxy.addr();

    // Upload: 8 MiB in 64 KiB DATA frames, no content-length (the HTTP/1.1
    // side must frame it itself).
    type Chunks = tokio_stream::wrappers::ReceiverStream<
        Result<http_body::Frame<Bytes>, std::convert::Infallible>,
    >;
    let mut send = h2c_client::<http_body_util::StreamBody<Chunks>>(addr).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let chunks: Vec<Bytes> = (0..128u32)
        .map(|i| Bytes::from(vec![(i % 251) as u8; 64 * 1024]))
        .collect();
    for c in &chunks {
        hasher.update(c);
    }
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(Ok(http_body::Frame::data(c))).await.is_err() {
                return;
            }
        }
    });
    let req = http::Request::post(format!("http://{addr}/upload"))
        .body(http_body_util::StreamBody::new(Chunks::new(rx)))
        .unwrap();
    let r = within(Duration::from_secs(20), send.send_request(req))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!(
            "a received {} bytes xxh3={:016x}\n",
            8 << 20,
            hasher.digest()
        )
    );

    // Download: 8 MiB, chunked from the backend, intact over HTTP/2.
    let mut send = h2c_client::<Empty>(addr).await;
    let r = send
        .send_request(get(&addr.to_string(), "/bytes?n=8388608&chunked=1"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = within(Duration::from_secs(20), r.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), 8 << 20);
    assert!(
        is_demo_pattern(&body),
        "downloaded bytes differ from the pattern"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_reset_cancels_the_upstream_h2_stream() {
    let (b, proxy) = h2c_proxy_to_h2(H2Opts::default()).await;
    let mut send = h2_crate_client(proxy.addr()).await;
    let req = http::Request::get(format!("http://{}/slow?ms=10000", proxy.addr()))
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let waiting = tokio::spawn(resp);
    assert!(
        eventually(Duration::from_secs(5), || b.requests() == 1).await,
        "the request did not reach the backend"
    );
    // Dropping the response future resets the stream (CANCEL).
    waiting.abort();
    assert!(
        eventually(Duration::from_secs(5), || b.cancelled() == 1).await,
        "the backend's stream was not cancelled"
    );
    // The connections (client and upstream) are still good.
    let mut send = send.ready().await.unwrap();
    let req = http::Request::get(format!("http://{}/", proxy.addr()))
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    assert_eq!(resp.await.unwrap().status(), StatusCode::OK);
    assert_eq!(b.connections(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_timeout_header_is_ignored_for_non_grpc_requests() {
    let (_b, proxy) = h2c_proxy_to_demo(1, "");
    let start = Instant::now();
    let r = h2_client()
        .get(proxy.url("/slow?ms=400"))
        .header("grpc-timeout", "50m")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(400));
}

// ---- connection lifecycle -------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn idle_h2_connection_gets_goaway_but_not_while_a_stream_is_open() {
    let (_b, proxy) = h2c_proxy_to_demo(1, "idle_timeout = \"300ms\"");
    let mut raw = RawH2::connect(proxy.addr()).await;
    // A stream open longer than the idle timeout is not cut.
    let block = get_block(&proxy.addr().to_string(), "/slow?ms=700");
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await
        .unwrap();
    let end = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == GOAWAY || (f.stream == 1 && f.flags & END_STREAM != 0)
        })
        .await
        .expect("the response, before any GOAWAY");
    assert_ne!(end.kind, GOAWAY, "GOAWAY while a stream was open");
    // Then, idle: GOAWAY(NO_ERROR) after the idle timeout, and the close.
    let idle_from = Instant::now();
    let goaway = raw
        .until(Duration::from_secs(5), |f| f.kind == GOAWAY)
        .await
        .expect("a GOAWAY");
    let took = idle_from.elapsed();
    assert_eq!(goaway.error_code(), NO_ERROR);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "GOAWAY after {took:?} idle"
    );
    within(Duration::from_secs(5), async {
        while raw.read_frame().await.is_some() {}
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_sends_goaway_and_the_in_flight_stream_completes() {
    let b = backend("a");
    let cfg = h2c_config(1, "", "", &[b.addr]);
    let mut proxy = Proxy::start(&cfg);
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    let block = get_block(&addr.to_string(), "/slow?ms=500");
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || b.hits() == 1).await);
    proxy
        .reload(&cfg.replace(
            "[[listener.route]]",
            "[[listener.route]]\n  name = \"renamed\"",
        ))
        .expect("reload");

    let mut goaways = Vec::new();
    let mut status_200 = false;
    let mut ended = false;
    within(Duration::from_secs(5), async {
        while let Some(f) = raw.read_frame().await {
            match f.kind {
                GOAWAY => goaways.push(f.error_code()),
                // `:status: 200` is HPACK static entry 8 (after a table
                // size update, `0x20`, when the encoder starts with one).
                HEADERS if f.stream == 1 => {
                    let block = f.payload.strip_prefix(&[0x20]).unwrap_or(&f.payload);
                    status_200 = block.first() == Some(&0x88);
                }
                _ => {}
            }
            if f.stream == 1 && f.flags & END_STREAM != 0 {
                ended = true;
            }
        }
    })
    .await;
    assert!(!goaways.is_empty(), "no GOAWAY after the reload");
    assert!(goaways.iter().all(|c| *c == NO_ERROR), "{goaways:?}");
    assert!(status_200 && ended, "the in-flight stream did not complete");
    // New connections are served by the new configuration.
    let r = h2_client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_h2_client_ignoring_the_goaway_ping_is_still_disconnected() {
    // The idle GOAWAY is graceful: GOAWAY(2^31-1) and a PING, the close
    // waiting for the PING's ACK. A client that never answers must not keep
    // an "idle-closed" connection (and its state) forever.
    let (_b, proxy) = h2c_proxy_to_demo(1, "idle_timeout = \"300ms\"");
    let mut raw = RawH2::connect(proxy.addr()).await;
    raw.ack_pings = false;
    let block = get_block(&proxy.addr().to_string(), "/");
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await
        .unwrap();
    let goaway = raw
        .until(Duration::from_secs(5), |f| f.kind == GOAWAY)
        .await
        .expect("a GOAWAY");
    assert_eq!(goaway.error_code(), NO_ERROR);
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while raw.read_frame().await.is_some() {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection is still open 5 s after the idle GOAWAY (300 ms idle timeout)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheme_other_than_http_or_https_gets_400_and_is_not_forwarded() {
    for server in ["own", "hyper"] {
        let (b, proxy) = h2c_proxy_to_demo(1, &format!("h2_server = \"{server}\""));
        let mut send = h2_crate_client(proxy.addr()).await;
        let req = http::Request::get(format!("ftp://{}/x", proxy.addr()))
            .body(())
            .unwrap();
        let (resp, _) = send.send_request(req, true).expect("sent");
        let resp = within(Duration::from_secs(10), resp)
            .await
            .expect("answered");
        assert_eq!(resp.status(), 400, "{server}");
        assert_eq!(b.hits(), 0, "{server}: forwarded");
    }
}
