//! The proxy's own HTTP/1.1 upstream client (`src/upstream/h1`) against
//! scripted raw upstreams: a pooled connection the upstream closes as a
//! request arrives (idempotent requests go to a new connection, others
//! fail with 502), interim responses, close-delimited bodies, a response
//! framed two ways, an unasked-for 101, and a full-duplex upstream that
//! streams its answer while the request body still flows; a response's
//! fields relayed as they came (bodiless requests) or through a
//! `HeaderMap` (requests hyper serves) reach the client the same.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a scripted upstream does with one request.
#[derive(Clone, Copy)]
enum Act {
    Answer(&'static [u8]),
    /// Answer, then close the connection.
    AnswerAndClose(&'static [u8]),
    /// Read the request and close without a byte of answer.
    Close,
}

/// What a scripted upstream saw: (connection number, request line).
type Seen = Arc<Mutex<Vec<(usize, String)>>>;

/// An upstream whose connection `c` handles its request `r` by
/// `script(c, r)`. Requests are heads only, or heads with a
/// Content-Length body.
async fn scripted(script: fn(usize, usize) -> Act) -> (SocketAddr, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        let mut conn = 0;
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s, conn, script, log.clone()));
            conn += 1;
        }
    });
    (addr, seen)
}

async fn serve(mut s: TcpStream, conn: usize, script: fn(usize, usize) -> Act, seen: Seen) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut req = 0;
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let body_len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + 4 + body_len {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..end + 4 + body_len);
        let line = head.lines().next().unwrap_or_default().to_owned();
        seen.lock().unwrap().push((conn, line));
        match script(conn, req) {
            Act::Answer(r) => {
                if s.write_all(r).await.is_err() {
                    return;
                }
            }
            Act::AnswerAndClose(r) => {
                let _ = s.write_all(r).await;
                return;
            }
            Act::Close => return,
        }
        req += 1;
    }
}

/// One worker, so every request of a test shares one upstream connection
/// cache (whichever client connection it comes on).
fn one_worker(up: SocketAddr) -> String {
    proxy_config(1, &[listener("web", "", "", "p"), pool("p", &[up], "")])
}

fn seen(s: &Seen) -> Vec<(usize, String)> {
    s.lock().unwrap().clone()
}

const OK_ONE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
const OK_TWO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";

/// Connection 0 answers its first request and silently closes on the
/// second; later connections answer.
fn closes_second(conn: usize, req: usize) -> Act {
    match (conn, req) {
        (0, 0) => Act::Answer(OK_ONE),
        (0, _) => Act::Close,
        _ => Act::Answer(OK_TWO),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_get_on_a_pooled_connection_closed_under_it_goes_to_a_new_one() {
    let (up, log) = scripted(closes_second).await;
    let proxy = Proxy::start(&one_worker(up));
    let c = client();
    assert_eq!(get(&c, &proxy.url("/a")).await.2, "one");
    let (status, _, body) = get(&c, &proxy.url("/b")).await;
    assert_eq!((status, body.as_str()), (200, "two"));
    assert_eq!(
        seen(&log),
        [
            (0, "GET /a HTTP/1.1".to_owned()),
            (0, "GET /b HTTP/1.1".to_owned()),
            (1, "GET /b HTTP/1.1".to_owned()),
        ]
    );
}

/// An upstream whose connections answer their first request (the first
/// `fill` of them only once that many requests are in, so that many
/// connections stay open together) and close without a byte of answer on
/// any later one: every pooled connection fails under the next request.
/// Counts the requests for paths starting with `/qod`.
async fn drops_reused(fill: usize) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let qod = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = qod.clone();
    let barrier = Arc::new(tokio::sync::Barrier::new(fill));
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = l.accept().await {
            let (seen, barrier, wait) = (seen.clone(), barrier.clone(), n < fill);
            n += 1;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut first = true;
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    if buf.windows(8).any(|w| w == b"GET /qod") {
                        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    buf.clear();
                    if !first {
                        return; // closed without an answer
                    }
                    first = false;
                    if wait {
                        barrier.wait().await;
                    }
                    if s.write_all(OK_ONE).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, qod)
}

/// A request that every pooled connection fails under (a query of death,
/// or a pool gone stale at once) is sent at most twice: once on a pooled
/// connection, once on a new one. It was sent on every pooled connection
/// in turn.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_failing_on_pooled_connections_is_sent_again_once_only() {
    const FILL: usize = 6;
    let (up, qod) = drops_reused(FILL).await;
    let proxy = Proxy::start(&one_worker(up));
    let c = client();
    let fills: Vec<_> = (0..FILL)
        .map(|i| {
            let (c, url) = (c.clone(), proxy.url(&format!("/fill{i}")));
            tokio::spawn(async move { get(&c, &url).await })
        })
        .collect();
    for f in fills {
        assert_eq!(f.await.unwrap().2, "one");
    }
    // FILL idle upstream connections now, each failing its next request.
    let (status, _, body) = get(&c, &proxy.url("/qod")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "one"),
        "answered on a new connection"
    );
    assert_eq!(
        qod.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "sent on one pooled connection and one new one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_on_a_pooled_connection_closed_under_it_is_not_sent_twice() {
    let (up, log) = scripted(closes_second).await;
    let proxy = Proxy::start(&one_worker(up));
    let c = client();
    assert_eq!(get(&c, &proxy.url("/a")).await.2, "one");
    let r = c.post(proxy.url("/b")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        seen(&log),
        [
            (0, "GET /a HTTP/1.1".to_owned()),
            (0, "POST /b HTTP/1.1".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn interim_responses_are_skipped() {
    let (up, _) = scripted(|_, _| {
        Act::Answer(
            b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
              HTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal",
        )
    })
    .await;
    let proxy = Proxy::start(&one_worker(up));
    let c = client();
    for _ in 0..2 {
        let r = c.get(proxy.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-final"), "yes");
        assert!(header_value(&r, "link").is_none());
        assert_eq!(r.text().await.unwrap(), "final");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_close_delimited_body_arrives_whole_and_its_connection_is_not_reused() {
    static CLOSE_DELIMITED: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        r.extend(std::iter::repeat_n(b'z', 300_000));
        r
    });
    let (up, log) = scripted(|_, _| Act::AnswerAndClose(&CLOSE_DELIMITED)).await;
    let proxy = Proxy::start(&one_worker(up));
    let c = client();
    for _ in 0..2 {
        let r = c.get(proxy.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body = r.bytes().await.unwrap();
        assert_eq!(body.len(), 300_000);
        assert!(body.iter().all(|&b| b == b'z'));
    }
    // Each request had a connection of its own.
    let conns: Vec<usize> = seen(&log).iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_framed_two_ways_is_read_chunked_and_its_connection_dropped() {
    let (up, log) = scripted(|_, _| {
        Act::Answer(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
    })
    .await;
    let proxy = Proxy::start(&one_worker(up));
    let c = client();
    for _ in 0..2 {
        let (status, _, body) = get(&c, &proxy.url("/")).await;
        assert_eq!((status, body.as_str()), (200, "hello world"));
    }
    let conns: Vec<usize> = seen(&log).iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pooled_connection_is_reused_for_the_next_request() {
    let (up, log) = scripted(|_, _| Act::Answer(OK_ONE)).await;
    let proxy = Proxy::start(&one_worker(up));
    let c = client();
    for _ in 0..3 {
        assert_eq!(get(&c, &proxy.url("/")).await.2, "one");
    }
    let conns: Vec<usize> = seen(&log).iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unasked_upgrade_is_a_bad_gateway() {
    let (up, _) = scripted(|_, _| {
        Act::Answer(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
        )
    })
    .await;
    let proxy = Proxy::start(&one_worker(up));
    let (status, _, _) = get(&client(), &proxy.url("/")).await;
    assert_eq!(status, 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_duplex_upstream_answers_while_the_request_body_flows() {
    // A hyper upstream whose response body is the request body, streamed.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(req.into_body()))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let proxy = Proxy::start(&one_worker(up));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(
        b"POST /duplex HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .await
    .unwrap();
    // The first piece comes back before the rest of the body is sent.
    let mut got = Vec::new();
    within(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("hello") {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let head = String::from_utf8_lossy(&got).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s.write_all(b"6\r\n world\r\n0\r\n\r\n").await.unwrap();
    within(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        while !got.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("\r\nhello\r\n"), "{text}");
    assert!(text.contains("\r\n world\r\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_gives_up_on_a_slow_request_cancels_it_upstream() {
    // An upstream that reads a request, never answers, and reports when
    // the proxy closes the connection.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    let (got_request, mut request_seen) = tokio::sync::mpsc::channel::<()>(1);
    let (closed, mut upstream_closed) = tokio::sync::mpsc::channel::<()>(1);
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let _ = got_request.try_send(());
            }
        }
        let _ = closed.send(()).await;
    });
    let proxy = Proxy::start(&one_worker(up));
    // A fresh connection: its socket is not registered with the event loop
    // when the request goes out, so it is watched from the next sweep.
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    c.write_all(b"GET /never HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    within(Duration::from_secs(5), request_seen.recv())
        .await
        .unwrap();
    drop(c);
    // Within two sweeps (and long before the 30 s response timeout).
    within(Duration::from_secs(5), upstream_closed.recv())
        .await
        .unwrap();
}

/// Reads one response (head and a Content-Length body) off `s`; returns the
/// head's text and the body.
async fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    within(Duration::from_secs(10), async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end + 4]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: ")?.parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    return (head, got[end + 4..end + 4 + len].to_vec());
                }
            }
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

/// A head's fields as (name, value) lines sorted by name, values of one
/// name in their order.
fn fields(head: &str) -> Vec<String> {
    let mut v: Vec<String> = head
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort_by_key(|l| l.split(':').next().unwrap_or_default().to_owned());
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_head_is_relayed_in_order_in_lower_case_without_hop_by_hop_fields() {
    let (up, _) = scripted(|_, _| {
        Act::Answer(
            b"HTTP/1.1 200 OK\r\nServer: up\r\nSet-Cookie: a=1\r\n\
              Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n\
              Set-Cookie: b=2\r\nProxy-Authenticate: Basic\r\n\
              Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nX-Empty:\r\nContent-Length: 2\r\n\r\nok",
        )
    })
    .await;
    let proxy = Proxy::start(&one_worker(up));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    // A bodiless GET: the own reader and writer, the fields relayed raw.
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = read_response(&mut s).await;
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nserver: up\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\
         date: Mon, 01 Jan 2024 00:00:00 GMT\r\nx-empty: \r\ncontent-length: 2\r\n\r\n"
    );
    assert_eq!(body, b"ok");
    // A POST with a body is served by hyper, through a HeaderMap: the same
    // fields.
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
        .await
        .unwrap();
    let (hyper_head, body) = read_response(&mut s).await;
    assert_eq!(body, b"ok");
    assert!(
        hyper_head.starts_with("HTTP/1.1 200 OK\r\n"),
        "{hyper_head}"
    );
    assert_eq!(fields(&hyper_head), fields(&head));
}

/// The own HTTP/2 server encodes an HTTP/1.1 upstream's fields into HPACK
/// as they came (`upstream::h1::raw`): names lowercased (the `h2` client
/// refuses a block with an uppercase name), order kept, hop-by-hop fields
/// and the fields `Connection` names left out, the upstream's `Date` kept
/// and one added when it sent none.
#[tokio::test(flavor = "multi_thread")]
async fn a_response_head_is_relayed_to_an_http2_client_in_lower_case_without_hop_by_hop_fields() {
    let (up, _) = scripted(|_, req| {
        if req == 0 {
            Act::Answer(
                b"HTTP/1.1 200 OK\r\nServer: up\r\nSet-Cookie: a=1\r\n\
                  Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n\
                  Set-Cookie: b=2\r\nProxy-Authenticate: Basic\r\nContent-Type: text/plain\r\n\
                  Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nX-Empty:\r\n\
                  X-A-Name-Longer-Than-Thirty-Two-Bytes: long\r\nContent-Length: 2\r\n\r\nok",
            )
        } else {
            Act::Answer(b"HTTP/1.1 404 Not Found\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n")
        }
    })
    .await;
    let cfg = proxy_config(
        1,
        &[
            listener("web", "http2 = true", "", "p"),
            pool("p", &[up], ""),
        ],
    );
    let proxy = Proxy::start(&cfg);
    let client = common::h2::h2_client();

    let r = client.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let got: Vec<(String, String)> = r
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("server", "up"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("content-type", "text/plain"),
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("x-empty", ""),
        ("x-a-name-longer-than-thirty-two-bytes", "long"),
        ("content-length", "2"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted = want;
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted, "{got:?}");
    assert_eq!(r.bytes().await.unwrap(), "ok");

    // No Date from the upstream: the proxy adds one, once.
    let r = client.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers().get_all("date").iter().count(), 1);
    assert_eq!(r.headers()["etag"], "\"x\"");
    assert_eq!(r.headers()["content-length"], "0");
}

/// An upstream that refuses an upload early: it reads 1 MiB of the body,
/// answers `413` and closes with the rest unread (so its kernel resets the
/// connection while the proxy is still sending). The answer was sent
/// before the reset and must reach the client, not a 502; the endpoint is
/// not counted as failed. (The reset used to come back from the read that
/// was to take the 413, as the corked socket's failed send.)
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_refused_early_gets_the_upstreams_answer_not_a_502() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut got = 0usize;
                let mut buf = vec![0u8; 65536];
                while got < 1 << 20 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
                    .await;
                // Dropped with unread bytes: the kernel answers with a reset.
            });
        }
    });
    let proxy = Proxy::start(&one_worker(up));
    // The reset races the proxy's sends: many rounds, so one finds it.
    for _ in 0..30 {
        let s = TcpStream::connect(proxy.addr()).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        let sender = tokio::spawn(async move {
            let head = b"PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
            if wr.write_all(head).await.is_err() {
                return;
            }
            let mut chunk = b"10000\r\n".to_vec();
            chunk.extend(std::iter::repeat_n(b'z', 65536));
            chunk.extend_from_slice(b"\r\n");
            for _ in 0..512 {
                if wr.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let mut resp = Vec::new();
        let _ = within(Duration::from_secs(20), rd.read_to_end(&mut resp)).await;
        sender.abort();
        let resp = String::from_utf8_lossy(&resp);
        assert_eq!(status_of(&resp), 413, "{resp}");
        assert!(resp.ends_with("too large"), "{resp}");
    }
    assert_eq!(proxy.endpoint_response_failures(&up.to_string()), 0);
}
