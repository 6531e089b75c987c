//! Interim (1xx) responses, end to end: an upstream's `103 Early Hints`
//! reaches HTTP/1.1 and HTTP/2 clients while the upstream still works on
//! the final response (which the upstream sends only once the client has
//! seen the hints), from HTTP/1.1 and HTTP/2 upstreams, without the
//! hop-by-hop fields; an upstream's `100 Continue` is not relayed, and an
//! HTTP/1.0 client gets the final response alone (RFC 9110 §15.2).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::h2::*;
use common::*;
use http::{Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const LIMIT: Duration = Duration::from_secs(10);

/// Lets the upstream send its final response once the client saw the
/// hints: taken by the upstream per request.
type Gate = Arc<Mutex<Option<oneshot::Receiver<()>>>>;

/// An HTTP/1.1 upstream that answers each request with `100 Continue`, a
/// `103 Early Hints` (with a `Link` and hop-by-hop fields), then waits for
/// the gate, then a final `200`.
async fn h1_upstream(gate: Gate) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let gate = gate.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let hints = b"HTTP/1.1 100 Continue\r\n\r\n\
                    HTTP/1.1 103 Early Hints\r\n\
                    Link: </style.css>; rel=preload; as=style\r\n\
                    Link: </app.js>; rel=preload; as=script\r\n\
                    Connection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n";
                if s.write_all(hints).await.is_err() {
                    return;
                }
                let open = gate.lock().unwrap().take();
                if let Some(open) = open {
                    let _ = open.await;
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\npage")
                    .await;
            });
        }
    });
    addr
}

/// An HTTP/2 upstream (h2c) that sends a `103` with a `Link`, waits for
/// the gate, then a final `200`.
async fn h2_upstream(gate: Gate) -> SocketAddr {
    h2_hinting_upstream(gate, Arc::default(), false).await
}

/// An HTTP/2 upstream (h2c) that counts the requests it gets in `seen`,
/// sends a `103` with a `Link` to each, waits for the gate, then answers
/// `200`, or refuses the stream with `REFUSED_STREAM` when `refuse`.
async fn h2_hinting_upstream(gate: Gate, seen: Arc<AtomicUsize>, refuse: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (gate, seen) = (gate.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut conn) = ::h2::server::handshake(s).await else {
                    return;
                };
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    seen.fetch_add(1, Ordering::SeqCst);
                    let gate = gate.clone();
                    tokio::spawn(async move {
                        let hints = Response::builder()
                            .status(103)
                            .header("link", "</style.css>; rel=preload; as=style")
                            .body(())
                            .unwrap();
                        respond.send_informational(hints).unwrap();
                        let open = gate.lock().unwrap().take();
                        if let Some(open) = open {
                            let _ = open.await;
                        }
                        if refuse {
                            respond.send_reset(::h2::Reason::REFUSED_STREAM);
                            return;
                        }
                        let last = Response::builder()
                            .status(200)
                            .header("x-final", "yes")
                            .header("content-length", "4")
                            .body(())
                            .unwrap();
                        let mut body = respond.send_response(last, false).unwrap();
                        body.send_data(bytes::Bytes::from_static(b"page"), true)
                            .unwrap();
                    });
                }
            });
        }
    });
    addr
}

fn gate() -> (Gate, oneshot::Sender<()>) {
    let (tx, rx) = oneshot::channel();
    (Arc::new(Mutex::new(Some(rx))), tx)
}

/// Reads one response head (through its blank line) from `s`.
async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            return head;
        }
        let n = within(LIMIT, s.read(&mut chunk)).await.unwrap();
        assert!(
            n > 0,
            "connection closed; so far: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn lower(head: &str) -> String {
    head.to_ascii_lowercase()
}

/// An HTTP/1.1 client sends a GET through `proxy` and must see the hints
/// before the upstream is let go on with its final response.
async fn http1_client_sees_hints_first(proxy: SocketAddr, open: oneshot::Sender<()>) {
    http1_request_sees_hints_first(
        proxy,
        open,
        b"GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .await;
}

/// [`http1_client_sees_hints_first`] with the request `req`.
async fn http1_request_sees_hints_first(proxy: SocketAddr, open: oneshot::Sender<()>, req: &[u8]) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut buf = Vec::new();
    let hints = read_head(&mut s, &mut buf).await;
    assert!(
        hints.starts_with("HTTP/1.1 103 Early Hints\r\n"),
        "{hints:?}"
    );
    let h = lower(&hints);
    assert!(
        h.contains("link: </style.css>; rel=preload; as=style\r\n"),
        "{hints:?}"
    );
    assert!(!h.contains("x-hop"), "hop-by-hop field relayed: {hints:?}");
    assert!(
        !h.contains("keep-alive"),
        "hop-by-hop field relayed: {hints:?}"
    );
    assert!(
        !h.contains("connection"),
        "hop-by-hop field relayed: {hints:?}"
    );
    // Only now may the upstream send the page.
    open.send(()).unwrap();
    let last = read_head(&mut s, &mut buf).await;
    assert!(last.starts_with("HTTP/1.1 200 OK\r\n"), "{last:?}");
    assert!(lower(&last).contains("x-final: yes\r\n"), "{last:?}");
    while buf.len() < 4 {
        let mut chunk = [0u8; 64];
        let n = within(LIMIT, s.read(&mut chunk)).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&buf[..], b"page");
}

#[tokio::test(flavor = "multi_thread")]
async fn early_hints_from_an_http1_upstream_reach_an_http1_client_before_the_page() {
    let (gate, open) = gate();
    let up = h1_upstream(gate).await;
    let proxy = Proxy::start(&proxy_config(
        1,
        &[listener("web", "", "", "p"), pool("p", &[up], "")],
    ));
    http1_client_sees_hints_first(proxy.addr(), open).await;
}

/// A POST with `Content-Length: 0` (how browsers send an empty form) has
/// no body either: its hints are relayed too.
#[tokio::test(flavor = "multi_thread")]
async fn early_hints_reach_a_post_with_an_empty_body() {
    let (gate, open) = gate();
    let up = h1_upstream(gate).await;
    let proxy = Proxy::start(&proxy_config(
        1,
        &[listener("web", "", "", "p"), pool("p", &[up], "")],
    ));
    let req = b"POST /page HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n";
    http1_request_sees_hints_first(proxy.addr(), open, req).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn early_hints_from_an_http2_upstream_reach_an_http1_client_before_the_page() {
    let (gate, open) = gate();
    let up = h2_upstream(gate).await;
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener("web", "", "", "p"),
            pool("p", &[up], "http_version = \"2\""),
        ],
    ));
    http1_client_sees_hints_first(proxy.addr(), open).await;
}

/// An h2c client's GET through `proxy`: the hints come as an interim
/// HEADERS frame before the final head, which the upstream sends only
/// after the client saw them.
async fn http2_client_sees_hints_first(proxy: SocketAddr, open: oneshot::Sender<()>) {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let (mut send, conn) = ::h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("http://example.com/page").body(()).unwrap();
    let (mut response, _) = send.send_request(req, true).unwrap();
    let hints = within(
        LIMIT,
        std::future::poll_fn(|cx| response.poll_informational(cx)),
    )
    .await
    .expect("an interim response")
    .unwrap();
    assert_eq!(hints.status().as_u16(), 103);
    assert_eq!(
        hints.headers().get("link").unwrap(),
        "</style.css>; rel=preload; as=style"
    );
    assert!(hints.headers().get("x-hop").is_none());
    open.send(()).unwrap();
    let last = within(LIMIT, response).await.unwrap();
    assert_eq!(last.status(), StatusCode::OK);
    assert_eq!(last.headers().get("x-final").unwrap(), "yes");
    let mut body = last.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = within(LIMIT, body.data()).await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, b"page");
}

#[tokio::test(flavor = "multi_thread")]
async fn early_hints_from_an_http1_upstream_reach_an_http2_client_before_the_page() {
    let (gate, open) = gate();
    let up = h1_upstream(gate).await;
    let proxy = Proxy::start(&h2c_config(1, "", "", &[up]));
    http2_client_sees_hints_first(proxy.addr(), open).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn early_hints_from_an_http2_upstream_reach_an_http2_client_before_the_page() {
    let (gate, open) = gate();
    let up = h2_upstream(gate).await;
    let proxy = Proxy::start(&h2c_config(1, "", "http_version = \"2\"", &[up]));
    http2_client_sees_hints_first(proxy.addr(), open).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http1_0_client_gets_the_final_response_alone() {
    let (gate, open) = gate();
    // The upstream need not wait: the client sees no hints to react to.
    drop(open);
    let up = h1_upstream(gate).await;
    let proxy = Proxy::start(&proxy_config(
        1,
        &[listener("web", "", "", "p"), pool("p", &[up], "")],
    ));
    let resp = within(
        LIMIT,
        raw(
            proxy.addr(),
            b"GET /page HTTP/1.0\r\nHost: example.com\r\n\r\n",
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.0 200 OK\r\n"), "{resp:?}");
    assert!(!resp.contains(" 103 "), "{resp:?}");
    assert!(!resp.contains(" 100 "), "{resp:?}");
    assert!(resp.ends_with("page"), "{resp:?}");
}

/// The proxy answers an HTTP/2 client's `expect: 100-continue` itself,
/// once it wants the body: the client holds its body back until the
/// `100`, then the upstream reads the body and answers.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_client_expecting_100_continue_gets_it_before_sending_its_body() {
    let (_b, proxy) = h2c_proxy_to_demo(1, "");
    let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut send, conn) = ::h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let req = Request::post("http://example.com/upload")
        .header("expect", "100-continue")
        .header("content-length", "5")
        .body(())
        .unwrap();
    let (mut response, mut body) = send.send_request(req, false).unwrap();
    let go_on = within(
        LIMIT,
        std::future::poll_fn(|cx| response.poll_informational(cx)),
    )
    .await
    .expect("an interim response")
    .unwrap();
    assert_eq!(go_on.status(), StatusCode::CONTINUE);
    body.send_data(bytes::Bytes::from_static(b"hello"), true)
        .unwrap();
    let last = within(LIMIT, response).await.unwrap();
    assert_eq!(last.status(), StatusCode::OK);
    let mut rx = last.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = within(LIMIT, rx.data()).await {
        got.extend_from_slice(&chunk.unwrap());
    }
    let got = String::from_utf8(got).unwrap();
    assert!(got.contains("received 5 bytes"), "{got:?}");
}

/// A request the proxy refuses before reading its body (no route) gets
/// its final answer, no `100`.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_request_refused_before_its_body_gets_no_100() {
    let b = backend("a");
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener_routes("web", "http2 = true", "", &[route("", "/only-here", "p")]),
            pool("p", &[b.addr], ""),
        ],
    ));
    let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut send, conn) = ::h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let req = Request::post("http://example.com/elsewhere")
        .header("expect", "100-continue")
        .header("content-length", "5")
        .body(())
        .unwrap();
    let (mut response, _body) = send.send_request(req, false).unwrap();
    let first = within(
        LIMIT,
        std::future::poll_fn(|cx| response.poll_informational(cx)),
    )
    .await;
    assert!(first.is_none(), "an interim response came: {first:?}");
    let last = within(LIMIT, response).await.unwrap();
    assert_eq!(last.status(), StatusCode::NOT_FOUND);
}

/// `REFUSED_STREAM` says the upstream did not process the request, so a
/// bodyless one is sent again; but an upstream that sent hints first did
/// process it. The request is not replayed (the client would see the
/// hints twice, and the upstream the request twice): the client gets the
/// hints once, then a 502.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_refused_after_early_hints_is_not_sent_again() {
    let seen = Arc::new(AtomicUsize::new(0));
    let (gate, open) = gate();
    let a = h2_hinting_upstream(gate.clone(), seen.clone(), true).await;
    let b = h2_hinting_upstream(gate, seen.clone(), true).await;
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener("web", "", "", "p"),
            pool("p", &[a, b], "http_version = \"2\""),
        ],
    ));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let hints = read_head(&mut s, &mut buf).await;
    assert!(
        hints.starts_with("HTTP/1.1 103 Early Hints\r\n"),
        "{hints:?}"
    );
    // The client has the hints; now the upstream refuses the stream.
    open.send(()).unwrap();
    let last = read_head(&mut s, &mut buf).await;
    assert!(
        last.starts_with("HTTP/1.1 502 "),
        "a second interim head or another answer: {last:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1, "the request was replayed");
}
