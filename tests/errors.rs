//! Every error path through a real proxy: malformed and smuggling-shaped
//! requests are refused and never forwarded; upstream failures map to
//! 502/503/504 with a short body; a failed connect is retried elsewhere.

mod common;

use common::*;

fn config_with(endpoints: &str, listener_extra: &str, pool_extra: &str) -> String {
    format!(
        r#"
[global]
workers = 1
[[listener]]
name = "web"
address = "127.0.0.1:0"
{listener_extra}
  [[listener.route]]
  name = "all"
  pool = "p"
[[pool]]
name = "p"
endpoints = [{endpoints}]
{pool_extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn smuggling_shapes_get_400_and_are_never_forwarded() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let cases: [&[u8]; 12] = [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for req in cases {
        let resp = raw(proxy.addr(), req).await;
        let shown = String::from_utf8_lossy(req);
        assert_eq!(status_of(&resp), 400, "{shown}\n---\n{resp}");
        // Each says why (whether the proxy's guard or hyper's parser
        // would have caught it first).
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
        assert!(
            body.starts_with("400 bad request: ") && body.len() > 17,
            "{shown}\n---\n{resp}"
        );
    }
    assert_eq!(b.hits(), 0, "a refused request reached the backend");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_smuggled_request_after_a_rejected_one_is_not_forwarded() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    // Classic CL.TE: a front end honouring Content-Length would forward the
    // second request hidden in the body. We refuse the first and close.
    let req =
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let resp = raw(proxy.addr(), req).await;
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert_eq!(
        resp.matches("HTTP/1.1").count(),
        1,
        "only one response: {resp}"
    );
    assert!(
        resp.to_ascii_lowercase().contains("connection: close"),
        "{resp}"
    );
    assert_eq!(b.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_400() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let cases: [&[u8]; 9] = [
        b"GET / HTTP/1.1\r\n\r\n",                        // no Host in HTTP/1.1
        b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",          // a fragment in the target
        b"GET /a?q=1#/admin HTTP/1.1\r\nHost: a\r\n\r\n", // (own HTTP/1.1 path and hyper's)
        b"POST /#x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // two Hosts
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",          // invalid Host
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",           // space before colon
        b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", // obsolete line folding
        b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",            // invalid method token
    ];
    for req in cases {
        let resp = raw(proxy.addr(), req).await;
        assert_eq!(
            status_of(&resp),
            400,
            "{}\n---\n{resp}",
            String::from_utf8_lossy(req)
        );
    }
    assert_eq!(b.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_method_gets_405() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let resp = raw(
        proxy.addr(),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 405, "{resp}");
    assert_eq!(b.hits(), 0);
}

/// More fields than the default `max_headers` (100, above what the own
/// reader holds) are counted and refused with the reason too.
#[tokio::test(flavor = "multi_thread")]
async fn more_fields_than_the_default_max_headers_get_431_with_the_reason() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp = raw(
        proxy.addr(),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&resp), 431, "{resp}");
    assert!(
        resp.ends_with("\r\n\r\n431 too many header fields\n"),
        "{resp}"
    );
    // 92 fields: within the limit, served (hyper reads such heads; with
    // the 4 forwarding fields added they stay within the demo backend's
    // own limit of 100).
    let fine: String = (0..90).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp = raw(
        proxy.addr(),
        format!("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{fine}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert_eq!(b.hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn long_uri_gets_414_and_big_header_block_gets_431() {
    let b = backend("b1");
    let proxy = Proxy::start(&config_with(
        &format!("{{ address = \"{}\" }}", b.addr),
        "max_uri_bytes = 1024\nmax_header_bytes = 4096\nmax_headers = 20",
        "",
    ));
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(2000));
    assert_eq!(
        status_of(&raw(proxy.addr(), long_uri.as_bytes()).await),
        414
    );
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5000)
    );
    assert_eq!(
        status_of(&raw(proxy.addr(), big_header.as_bytes()).await),
        431
    );
    let many: String = (0..30).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many_headers = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(
        status_of(&raw(proxy.addr(), many_headers.as_bytes()).await),
        431
    );
    // A request line that alone passes the head limit is still a target
    // too long (NGINX's 414), and the bodies name the reason.
    let huge_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let resp = raw(proxy.addr(), huge_uri.as_bytes()).await;
    assert_eq!(status_of(&resp), 414, "{resp}");
    assert!(
        resp.ends_with("\r\n\r\n414 request target too long\n"),
        "{resp}"
    );
    let resp = raw(proxy.addr(), big_header.as_bytes()).await;
    assert!(
        resp.ends_with("\r\n\r\n431 request header fields too large\n"),
        "{resp}"
    );
    let resp = raw(proxy.addr(), many_headers.as_bytes()).await;
    assert!(
        resp.ends_with("\r\n\r\n431 too many header fields\n"),
        "{resp}"
    );
    assert_eq!(b.hits(), 0);
    // Just under the limits passes.
    let ok = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "a".repeat(900)
    );
    assert_eq!(status_of(&raw(proxy.addr(), ok.as_bytes()).await), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_endpoint_gets_502_with_a_plain_reason() {
    let (_held, dead) = held_dead_addr();
    let proxy = Proxy::start(&config_with(&format!("{{ address = \"{dead}\" }}"), "", ""));
    let resp = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        resp.text().await.unwrap(),
        "502 could not connect to an upstream endpoint\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_connect_is_retried_on_another_endpoint() {
    let b = backend("live");
    let (_held, dead) = held_dead_addr();
    let proxy = Proxy::start(&config_with(
        &format!("{{ address = \"{dead}\" }}, {{ address = \"{}\" }}", b.addr),
        "",
        "fail_timeout = \"0s\"",
    ));
    // Round robin alternates; with fail_timeout 0 the dead endpoint is tried
    // every other request, and each of those is retried on the live one.
    let c = client();
    for _ in 0..10 {
        let (status, be, _) = get(&c, &proxy.url("/")).await;
        assert_eq!((status, be.as_str()), (200, "live"));
    }
    assert_eq!(b.hits(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_endpoint_is_skipped_for_fail_timeout() {
    let b = backend("live");
    let (_held, dead) = held_dead_addr();
    let proxy = Proxy::start(&config_with(
        &format!("{{ address = \"{dead}\" }}, {{ address = \"{}\" }}", b.addr),
        "",
        "fail_timeout = \"60s\"",
    ));
    let c = client();
    for _ in 0..10 {
        assert_eq!(get(&c, &proxy.url("/")).await.0, 200);
    }
    assert_eq!(
        proxy.endpoint_connect_failures(&dead.to_string()),
        1,
        "the dead endpoint should be tried once, then skipped"
    );
    assert_eq!(b.hits(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_pool_gets_503() {
    let proxy = Proxy::start(&config_with("", "", ""));
    let resp = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.text().await.unwrap(),
        "503 no usable upstream endpoint\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_upstream_gets_504_after_response_timeout() {
    let b = backend("slow");
    let proxy = Proxy::start(&config_with(
        &format!("{{ address = \"{}\" }}", b.addr),
        "",
        "response_timeout = \"200ms\"",
    ));
    let resp = client()
        .get(proxy.url("/slow?ms=5000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert_eq!(
        resp.text().await.unwrap(),
        "504 upstream did not respond in time\n"
    );
    // A fast request still works afterwards.
    assert_eq!(get(&client(), &proxy.url("/slow?ms=1")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_timeout_gets_502() {
    // A listener whose accept queue is full drops further SYNs, so a
    // connect to it hangs until our connect timeout.
    let (blackhole, _fillers) = full_backlog_listener().await;
    let proxy = Proxy::start(&config_with(
        &format!("{{ address = \"{blackhole}\" }}"),
        "",
        "connect_timeout = \"200ms\"",
    ));
    let started = std::time::Instant::now();
    let resp = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}

/// A socket listening with a backlog of 1 that never accepts, with its
/// queue filled by connections we keep open.
async fn full_backlog_listener() -> (std::net::SocketAddr, Vec<std::net::TcpStream>) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    std::mem::forget(s);
    let mut fillers = Vec::new();
    // Fill the queue: connects succeed until it is full, then they hang.
    for _ in 0..8 {
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        let _ = c.connect(&addr.into());
        fillers.push(std::net::TcpStream::from(c));
    }
    (addr, fillers)
}

#[tokio::test(flavor = "multi_thread")]
async fn unmatched_request_gets_404() {
    let b = backend("b1");
    let proxy = Proxy::start(&fill(
        r#"
[[listener]]
name = "web"
address = "127.0.0.1:0"
  [[listener.route]]
  path_prefix = "/only/"
  pool = "p"
[[pool]]
name = "p"
endpoints = [{ address = "{b}" }]
"#,
        &[("b", b.addr.to_string())],
    ));
    let resp = client().get(proxy.url("/elsewhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.text().await.unwrap(),
        "404 no route for this request\n"
    );
    assert_eq!(b.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_still_sending_an_oversized_head_reads_its_431() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let b = backend("b1");
    let proxy = Proxy::start(&config_with(
        &format!("{{ address = \"{}\" }}", b.addr),
        "max_header_bytes = 4096",
        "",
    ));
    // 4 MiB of header: far more than the socket buffers hold, so the proxy
    // answers while the client is still writing. Closing the socket with
    // those bytes unread would reset the connection, and the reset can
    // destroy the 431 before the client reads it.
    for _ in 0..5 {
        let s = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ").await;
            let junk = vec![b'b'; 64 << 10];
            for _ in 0..64 {
                if wr.write_all(&junk).await.is_err() {
                    return;
                }
            }
        });
        let mut got = Vec::new();
        let read = within(std::time::Duration::from_secs(10), rd.read_to_end(&mut got)).await;
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 431"),
            "read {read:?}, got {text:?}"
        );
        writer.abort();
    }
    assert_eq!(b.hits(), 0);
}

/// A head hyper refuses (oversized, malformed) while the client is still
/// sending: the answer is followed by a clean close (FIN), not a reset, as
/// long as the client sends no more than the lingering close reads.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_head_is_answered_then_closed_cleanly_not_reset() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let b = backend("b1");
    let proxy = Proxy::start(&config_with(
        &format!("{{ address = \"{}\" }}", b.addr),
        "max_header_bytes = 4096",
        "",
    ));
    let oversized = [
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec(),
        vec![b'b'; 200 << 10],
        b"\r\n\r\n".to_vec(),
    ]
    .concat();
    let mut malformed = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello".to_vec();
    for _ in 0..4000 {
        malformed.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    for (request, status) in [(oversized, "431"), (malformed, "400")] {
        for _ in 0..3 {
            let s = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
            let (mut rd, mut wr) = s.into_split();
            let request = request.clone();
            let writer = tokio::spawn(async move { wr.write_all(&request).await });
            let mut got = Vec::new();
            let read = within(std::time::Duration::from_secs(10), rd.read_to_end(&mut got)).await;
            let text = String::from_utf8_lossy(&got);
            assert!(
                text.starts_with(&format!("HTTP/1.1 {status}")),
                "got {text:?}"
            );
            assert!(read.is_ok(), "{status}: the connection ended with {read:?}");
            assert!(
                writer.await.unwrap().is_ok(),
                "{status}: the client's write failed"
            );
        }
    }
    assert_eq!(b.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_request_body_gets_400_not_a_502() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let cases: [&[u8]; 5] = [
        // Chunk data longer than its size.
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        // A chunk size that overflows.
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
        // Not hex.
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        // A negative size.
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        // Bare LF after the data.
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
    ];
    for req in cases {
        let resp = raw(proxy.addr(), req).await;
        let shown = String::from_utf8_lossy(req);
        assert_eq!(status_of(&resp), 400, "{shown}\n---\n{resp}");
        assert!(
            resp.to_ascii_lowercase().contains("connection: close"),
            "{shown}\n---\n{resp}"
        );
        assert!(
            resp.ends_with("400 bad request: malformed or incomplete request body\n"),
            "{shown}\n---\n{resp}"
        );
    }
    // Nothing was held against the endpoint.
    assert_eq!(get(&client(), &proxy.url("/")).await.0, 200);
    assert_eq!(proxy.endpoint_connect_failures(&b.addr.to_string()), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_request_body_to_an_http2_upstream_gets_400_too() {
    let (_b, proxy) = common::h2::h2c_proxy_to_h2(common::h2::H2Opts::default()).await;
    let resp = raw(
        proxy.addr(),
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert!(
        resp.ends_with("400 bad request: malformed or incomplete request body\n"),
        "{resp}"
    );
    assert!(
        resp.to_ascii_lowercase().contains("connection: close"),
        "{resp}"
    );
}
