//! Passive failure detection: an endpoint that accepts connections and
//! then fails the requests (closes, resets, never answers) is skipped after
//! `max_fails` failures in a row, like one that refuses connects; answers,
//! even 5xx ones, are not failures.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Proxy, backend, client, get, simple_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a broken endpoint does with each connection it accepts.
#[derive(Clone, Copy)]
enum Broken {
    /// Reads the request head, then closes without a byte of answer.
    Closes,
    /// Reads the request head and never answers (a hung application
    /// behind a live listening socket).
    Hangs,
    /// Closes the first request's connection, answers the second (and
    /// closes), and so on.
    Alternates,
    /// Answers every request with `503` (and closes).
    Says503,
}

/// A broken endpoint on an ephemeral port and the count of requests it
/// took in.
async fn broken(how: Broken) -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let n = count.fetch_add(1, Ordering::SeqCst);
                match how {
                    Broken::Closes => {}
                    // Hold the connection until the proxy gives up on it.
                    Broken::Hangs => {
                        let _ = s.read(&mut buf).await;
                    }
                    Broken::Alternates if n.is_multiple_of(2) => {}
                    Broken::Says503 => {
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\
                                  X-Backend: busy\r\nConnection: close\r\n\r\nbusy",
                            )
                            .await;
                    }
                    Broken::Alternates => {
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\
                                  X-Backend: flaky\r\nConnection: close\r\n\r\nflaky",
                            )
                            .await;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_closes_every_request_is_skipped_after_max_fails() {
    let live = backend("live");
    let (bad, seen) = broken(Broken::Closes).await;
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[bad, live.addr],
        "max_fails = 2\nfail_timeout = \"60s\"",
    ));
    let c = client();
    let mut failed = 0;
    for _ in 0..20 {
        match get(&c, &proxy.url("/")).await {
            (200, be, _) => assert_eq!(be, "live"),
            (502, _, _) => failed += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(seen.load(Ordering::SeqCst), 2, "two failures, then skipped");
    assert_eq!(failed, 2, "only the requests it failed got 502");
    assert_eq!(live.hits(), 18);
    assert_eq!(proxy.endpoint_response_failures(&bad.to_string()), 2);
    assert_eq!(proxy.endpoint_connect_failures(&bad.to_string()), 0);
}

/// `switchyard pool list` shows the mark and both failure counts.
#[tokio::test(flavor = "multi_thread")]
async fn pool_list_shows_an_endpoint_down_with_its_response_failures() {
    let live = backend("live");
    let (bad, _) = broken(Broken::Closes).await;
    let dir = std::env::temp_dir().join(format!("sy-passive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("control.sock");
    let config = simple_config("round_robin", &[bad, live.addr], "fail_timeout = \"60s\"")
        .replacen(
            "[global]\n",
            &format!("[global]\ncontrol_socket = \"{}\"\n", socket.display()),
            1,
        );
    let proxy = Proxy::start(&config);
    let c = client();
    for _ in 0..4 {
        get(&c, &proxy.url("/")).await;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["pool", "-s", socket.to_str().unwrap(), "list"])
        .output()
        .expect("run switchyard pool list");
    let _ = std::fs::remove_dir_all(&dir);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("ConnectFailures ResponseFailures StatusFailures"),
        "{listing}"
    );
    let line = listing
        .lines()
        .find(|l| l.contains(&bad.to_string()))
        .unwrap_or_default();
    let words: Vec<&str> = line.split_whitespace().collect();
    // -> ADDRESS WEIGHT STATE ACTIVE REQUESTS CONNECT RESPONSE STATUS
    assert_eq!(words.get(3), Some(&"down"), "{listing}");
    assert_eq!(words.get(6..), Some(&["0", "1", "0"][..]), "{listing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_never_answers_is_skipped_after_its_response_timeout() {
    let live = backend("live");
    let (bad, seen) = broken(Broken::Hangs).await;
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[bad, live.addr],
        "response_timeout = \"300ms\"\nfail_timeout = \"60s\"",
    ));
    let c = client();
    let mut timed_out = 0;
    for _ in 0..10 {
        match get(&c, &proxy.url("/")).await {
            (200, be, _) => assert_eq!(be, "live"),
            (504, _, _) => timed_out += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    // The default max_fails is 1, as in NGINX.
    assert_eq!(timed_out, 1);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(live.hits(), 9);
}

/// `least_connections` and `p2c_ewma` favour a fast-failing endpoint
/// under load (it is never busy): without a mark it takes most requests;
/// with one it takes a few before it is skipped.
#[tokio::test(flavor = "multi_thread")]
async fn least_connections_and_p2c_stop_choosing_a_fast_failing_endpoint() {
    const CLIENTS: u64 = 8;
    const EACH: u64 = 10;
    for algorithm in ["least_connections", "p2c_ewma"] {
        // max_fails 1000: in effect never marked, the behaviour before.
        for (max_fails, most) in [(1000, None), (3, Some(3 + CLIENTS))] {
            let live = backend("live");
            let (bad, seen) = broken(Broken::Closes).await;
            let proxy = Proxy::start(&simple_config(
                algorithm,
                &[bad, live.addr],
                &format!("max_fails = {max_fails}\nfail_timeout = \"60s\""),
            ));
            let c = client();
            let url = proxy.url("/slow?ms=5");
            let clients: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let (c, url) = (c.clone(), url.clone());
                    tokio::spawn(async move {
                        for _ in 0..EACH {
                            let _ = get(&c, &url).await;
                        }
                    })
                })
                .collect();
            for t in clients {
                t.await.unwrap();
            }
            let seen = seen.load(Ordering::SeqCst);
            assert_eq!(seen + live.hits(), CLIENTS * EACH, "{algorithm}");
            match most {
                // Unmarked, the failing endpoint is the one never busy.
                None => assert!(seen > CLIENTS * EACH / 3, "{algorithm}: {seen}"),
                // At most max_fails, plus requests already on their way
                // to it when the last of those failed.
                Some(most) => assert!(seen <= most, "{algorithm}: {seen}"),
            }
        }
    }
}

/// A failure count is of failures in a row: an endpoint that fails now and
/// then, answering in between, stays in service.
#[tokio::test(flavor = "multi_thread")]
async fn failures_between_answers_do_not_add_up() {
    let live = backend("live");
    let (flaky, seen) = broken(Broken::Alternates).await;
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[flaky, live.addr],
        "max_fails = 2\nfail_timeout = \"60s\"",
    ));
    let c = client();
    let mut answers = Vec::new();
    for _ in 0..20 {
        let (status, be, _) = get(&c, &proxy.url("/")).await;
        answers.push((status, be));
    }
    assert_eq!(
        seen.load(Ordering::SeqCst),
        10,
        "half the requests, all along"
    );
    assert_eq!(proxy.endpoint_response_failures(&flaky.to_string()), 5);
    let from_flaky = answers.iter().filter(|(s, be)| *s == 200 && be == "flaky");
    assert_eq!(from_flaky.count(), 5);
}

/// Answers are not failures, whatever their status: a backend that says
/// 500 (or 503) stays in rotation, as with NGINX's defaults.
#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_answer_does_not_mark_an_endpoint_down() {
    let a = backend("a");
    let b = backend("b");
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[a.addr, b.addr],
        "fail_timeout = \"60s\"",
    ));
    let c = client();
    for _ in 0..10 {
        assert_eq!(get(&c, &proxy.url("/status/500")).await.0, 500);
    }
    assert_eq!((a.hits(), b.hits()), (5, 5));
    assert_eq!(proxy.endpoint_response_failures(&a.addr.to_string()), 0);
}

/// With `fail_statuses`, an answer with a listed status counts like a
/// failure: an endpoint that answers 503 to everything is skipped after
/// `max_fails` of them. A status not listed is an answer as before.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_with_a_listed_status_counts_as_a_failure() {
    let live = backend("live");
    let (bad, seen) = broken(Broken::Says503).await;
    let c = client();
    // 503 not listed: the endpoint keeps its turn.
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[bad, live.addr],
        "max_fails = 2\nfail_timeout = \"60s\"\nfail_statuses = [502, 504]",
    ));
    for _ in 0..10 {
        get(&c, &proxy.url("/")).await;
    }
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert_eq!(proxy.endpoint_status_failures(&bad.to_string()), 0);
    drop(proxy);

    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[bad, live.addr],
        "max_fails = 2\nfail_timeout = \"60s\"\nfail_statuses = [502, 503, 504]",
    ));
    let before = seen.load(Ordering::SeqCst);
    let mut busy = 0;
    for _ in 0..20 {
        match get(&c, &proxy.url("/")).await {
            (200, be, _) => assert_eq!(be, "live"),
            // The answer itself is relayed: it is the endpoint's.
            (503, be, body) => {
                assert_eq!((be.as_str(), body.as_str()), ("busy", "busy"));
                busy += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        seen.load(Ordering::SeqCst) - before,
        2,
        "two 503s, then skipped"
    );
    assert_eq!(busy, 2);
    assert_eq!(proxy.endpoint_status_failures(&bad.to_string()), 2);
    assert_eq!(proxy.endpoint_response_failures(&bad.to_string()), 0);
}

/// When every endpoint is marked down they are all tried anyway, and
/// round robin keeps its rotation: with two endpoints both answering
/// 503 (a listed status), each gets half, not one of them all.
#[tokio::test(flavor = "multi_thread")]
async fn with_every_endpoint_down_round_robin_still_spreads_evenly() {
    let (x, seen_x) = broken(Broken::Says503).await;
    let (y, seen_y) = broken(Broken::Says503).await;
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[x, y],
        "fail_timeout = \"60s\"\nfail_statuses = [503]",
    ));
    let c = client();
    for _ in 0..20 {
        assert_eq!(get(&c, &proxy.url("/")).await.0, 503);
    }
    assert_eq!(
        (seen_x.load(Ordering::SeqCst), seen_y.load(Ordering::SeqCst)),
        (10, 10)
    );
}

/// An HTTP/2 endpoint that resets a stream (other than REFUSED_STREAM) on a
/// live connection answered that request: grpc-core resets a gRPC request
/// without `te: trailers`, for one. Counting it let any client take
/// endpoints out with requests they reject; it is not counted.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_stream_reset_on_a_live_connection_is_not_a_failure() {
    use common::h2::{H2Backend, H2Opts, bind, raw_upstream, rst_stream};
    let live = H2Backend::start("live", H2Opts::default()).await;
    let (l, resets) = bind().await;
    // INTERNAL_ERROR (2) on every stream.
    tokio::spawn(raw_upstream(l, |stream| rst_stream(stream, 2)));
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[resets, live.addr],
        "http_version = \"2\"\nfail_timeout = \"60s\"",
    ));
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(get(&c, &proxy.url("/")).await.0);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 502, 502, 502, 502, 502]);
    assert_eq!(proxy.endpoint_response_failures(&resets.to_string()), 0);
}
