//! Forwarding basics through a real proxy: headers added and removed,
//! keep-alive on both sides, the bounded idle pool.

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Parses the `/echo` body into (request line, headers as lower-case pairs).
fn echo_headers(body: &str) -> (String, Vec<(String, String)>) {
    let mut lines = body.lines().skip(1);
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| {
            l.split_once(": ")
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    (request_line, headers)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn adds_forwarding_headers_and_keeps_host() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let resp = client()
        .get(proxy.url("/echo?x=1"))
        .header("host", "shop.example.com:8080")
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let (line, h) = echo_headers(&body);
    assert_eq!(line, "GET /echo?x=1 HTTP/1.1");
    assert_eq!(header(&h, "host"), Some("shop.example.com:8080"));
    assert_eq!(
        header(&h, "x-forwarded-for"),
        Some("198.51.100.7, 127.0.0.1")
    );
    assert_eq!(header(&h, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        header(&h, "x-forwarded-host"),
        Some("shop.example.com:8080")
    );
    let id = header(&h, "x-request-id").expect("request id generated");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keeps_a_client_request_id() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let body = client()
        .get(proxy.url("/echo"))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        header(&echo_headers(&body).1, "x-request-id"),
        Some("req-42")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removes_hop_by_hop_headers_towards_the_upstream() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let req = b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close, X-Private\r\nX-Private: secret\r\n\
Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Authorization: Basic eDp5\r\n\
Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n";
    let resp = raw(proxy.addr(), req).await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
    let (_, h) = echo_headers(body);
    for gone in [
        "connection",
        "x-private",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
    ] {
        assert_eq!(header(&h, gone), None, "{gone} was forwarded:\n{body}");
    }
    assert_eq!(header(&h, "x-kept"), Some("yes"));
}

/// `Connection: host` does not remove `Host`: the request was routed by
/// it, and the upstream must see the same host, not its own address.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_header_naming_host_does_not_remove_it() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    for target in ["/echo", "http://a.test/echo"] {
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: a.test\r\nConnection: close, Host, X-Private\r\nX-Private: 1\r\n\r\n"
        );
        let resp = raw(proxy.addr(), req.as_bytes()).await;
        assert_eq!(status_of(&resp), 200, "{resp}");
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
        let (_, h) = echo_headers(body);
        assert_eq!(header(&h, "host"), Some("a.test"), "{target}:\n{body}");
        assert_eq!(header(&h, "x-private"), None, "{target}:\n{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn removes_hop_by_hop_headers_from_responses() {
    // A raw upstream that sends hop-by-hop headers in its response.
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = up.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = up.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Up-Secret\r\nX-Up-Secret: 1\r\n\
Keep-Alive: timeout=3\r\nProxy-Authenticate: Basic\r\nX-Fine: 1\r\n\r\nok",
        )
        .await
        .unwrap();
    });
    let proxy = Proxy::start(&simple_config("round_robin", &[up_addr], ""));
    let resp = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert!(h.get("x-up-secret").is_none());
    assert!(h.get("keep-alive").is_none());
    assert!(h.get("proxy-authenticate").is_none());
    assert_eq!(h.get("x-fine").unwrap(), "1");
    assert_eq!(resp.text().await.unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn reuses_upstream_connections_across_requests_and_clients() {
    let b = backend("b1");
    let proxy = Proxy::start(&fill(
        r#"
[global]
workers = 1
[[listener]]
name = "web"
address = "127.0.0.1:0"
  [[listener.route]]
  pool = "p"
[[pool]]
name = "p"
endpoints = [{ address = "{b}" }]
"#,
        &[("b", b.addr.to_string())],
    ));
    // Sequential requests from fresh client connections: one upstream connection serves them all.
    for _ in 0..20 {
        let resp = raw(
            proxy.addr(),
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status_of(&resp), 200, "{resp}");
    }
    assert_eq!(b.hits(), 20);
    assert_eq!(
        b.connections(),
        1,
        "upstream keep-alive should reuse one connection"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_upstream_connections_are_bounded_per_endpoint() {
    let b = backend("b1");
    let proxy = Proxy::start(&fill(
        r#"
[global]
workers = 1
[[listener]]
name = "web"
address = "127.0.0.1:0"
  [[listener.route]]
  pool = "p"
[[pool]]
name = "p"
max_idle_per_endpoint = 2
endpoints = [{ address = "{b}" }]
"#,
        &[("b", b.addr.to_string())],
    ));
    // Round 1: 8 concurrent slow requests need 8 upstream connections; only 2 stay idle.
    let c = client();
    let round = || {
        let c = c.clone();
        let url = proxy.url("/slow?ms=200");
        async move {
            let reqs: Vec<_> = (0..8).map(|_| c.get(&url).send()).collect();
            for r in futures_util::future::join_all(reqs).await {
                assert_eq!(r.unwrap().status(), 200);
            }
        }
    };
    round().await;
    assert_eq!(b.connections(), 8);
    // Round 2: 2 requests reuse the 2 idle connections, 6 open new ones.
    round().await;
    assert_eq!(b.connections(), 14);
}

#[tokio::test(flavor = "multi_thread")]
async fn http10_client_without_host_is_served() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let resp = raw(proxy.addr(), b"GET /echo HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    // The upstream still gets a Host header (the endpoint's address).
    assert!(resp.contains(&format!("host: {}", b.addr)), "{resp}");
}

/// Reads one response with a Content-Length body from a raw stream.
async fn read_response(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed early: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_parked_and_still_serves() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let mut s = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    for round in 0..3 {
        s.write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let resp = read_response(&mut s).await;
        assert_eq!(status_of(&resp), 200, "round {round}: {resp}");
        // Stay idle past the parking delay (the scenario under test, not a
        // synchronisation): the proxy releases its HTTP state, and the next
        // request on the same socket must be served as usual.
        tokio::time::sleep(switchyard::http::conn::PARK_AFTER * 3).await;
    }
    // Pipelined requests right after parking are all answered, in order.
    s.write_all(
        b"GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let first = read_response(&mut s).await;
    assert_eq!(status_of(&first), 201, "{first}");
    let rest = if first.matches("HTTP/1.1").count() > 1 {
        first[first.rfind("HTTP/1.1").unwrap()..].to_owned()
    } else {
        read_response(&mut s).await
    };
    assert_eq!(status_of(&rest), 202, "{rest}");
    assert_eq!(b.hits(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_can_be_limited_per_listener() {
    let b = backend("b1");
    let proxy = Proxy::start(&fill(
        r#"
[[listener]]
name = "web"
address = "127.0.0.1:0"
forwarded = ["for"]
request_id = false
  [[listener.route]]
  pool = "p"
[[pool]]
name = "p"
endpoints = [{ address = "{b}" }]
"#,
        &[("b", b.addr.to_string())],
    ));
    let body = client()
        .get(proxy.url("/echo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, h) = echo_headers(&body);
    assert_eq!(header(&h, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(header(&h, "x-forwarded-proto"), None, "{body}");
    assert_eq!(header(&h, "x-forwarded-host"), None, "{body}");
    assert_eq!(header(&h, "x-request-id"), None, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_pools_can_send_the_proxy_protocol_per_client() {
    use switchyard::l4::proxy_protocol::{Parsed, parse};
    // An upstream that reads a PROXY header, then answers every HTTP
    // request on the connection with the source the header named.
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = up.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = up.accept().await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (source, mut rest) = loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "closed before a PROXY header");
                    buf.extend_from_slice(&chunk[..n]);
                    match parse(&buf) {
                        Parsed::Header { header, consumed } => {
                            break (header.source.unwrap(), buf[consumed..].to_vec());
                        }
                        Parsed::NeedMore => continue,
                        other => panic!("not a PROXY header: {other:?}"),
                    }
                };
                loop {
                    while !rest.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = s.read(&mut chunk).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        rest.extend_from_slice(&chunk[..n]);
                    }
                    let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    rest.drain(..end);
                    let body = source.to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    s.write_all(resp.as_bytes()).await.unwrap();
                }
            });
        }
    });
    let proxy = Proxy::start(&simple_config(
        "round_robin",
        &[up_addr],
        "send_proxy_protocol = \"v1\"",
    ));
    // Two requests on one client connection: one upstream connection, the
    // client's own address in its header.
    let mut c1 = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let me = c1.local_addr().unwrap();
    for _ in 0..2 {
        c1.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let resp = read_response(&mut c1).await;
        assert!(resp.ends_with(&me.to_string()), "{resp}");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Another client never reuses that connection: its own header.
    let mut c2 = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let other = c2.local_addr().unwrap();
    c2.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut c2).await;
    assert!(resp.ends_with(&other.to_string()), "{resp}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_body_on_get_is_forwarded_not_dropped() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    for method in ["GET", "POST"] {
        let req = format!(
            "{method} /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        );
        let resp = raw(proxy.addr(), req.as_bytes()).await;
        assert_eq!(status_of(&resp), 200, "{method}\n{resp}");
        assert!(resp.contains("b1 received 11 bytes"), "{method}\n{resp}");
    }
}
