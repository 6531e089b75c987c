//! Bodies and the timeouts around them, end to end: `response_timeout`
//! runs from the end of the request body (a slow upload longer than it
//! still gets its answer); `request_body_timeout` bounds each pause in the
//! request body: 408 when the client stopped sending (HTTP/1.1 and
//! HTTP/2), 504 when the upstream stopped taking it; and
//! `response_body_timeout` bounds each wait for more of a response body
//! (the response is cut; a slow but moving one is not); and `send_timeout`
//! lets go of a client that stops reading, over HTTP/1.1 and over HTTP/2
//! on both servers, and resets an HTTP/2 stream whose window stays shut
//! (one that reads slowly keeps its download).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::h2::{h2_crate_client, h2c_config};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One worker, one listener with `listener_extra` keys (h2c allowed), one
/// pool over `endpoint` with `pool_extra` keys.
fn config(endpoint: SocketAddr, listener_extra: &str, pool_extra: &str) -> String {
    h2c_config(1, listener_extra, pool_extra, &[endpoint])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_slower_than_the_response_timeout_is_answered() {
    let b = backend("a");
    let proxy = Proxy::start(&config(
        b.addr,
        "request_body_timeout = \"10s\"",
        "response_timeout = \"1s\"",
    ));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n")
        .await
        .unwrap();
    // 2 s of upload in all, twice the response timeout: the pacing is the
    // slow client under test.
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(400));
    for _ in 0..5 {
        tick.tick().await;
        s.write_all(&[b'x'; 1000]).await.unwrap();
    }
    let resp = read_response(&mut s).await.expect("a response");
    assert!(start.elapsed() > Duration::from_millis(1600));
    let body = String::from_utf8_lossy(&resp.body);
    assert_eq!(resp.status, 200, "{body}");
    assert!(body.starts_with("a received 5000 bytes"), "{body}");
    // The response timeout still bounds the wait once the body is sent.
    s.write_all(b"GET /slow?ms=3000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut s).await.expect("a response");
    assert_eq!(resp.status, 504);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_sending_its_body_gets_408_and_is_closed() {
    let b = backend("a");
    let proxy = Proxy::start(&config(b.addr, "request_body_timeout = \"1s\"", ""));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly ten.")
        .await
        .unwrap();
    let start = Instant::now();
    let resp = within(Duration::from_secs(10), read_response(&mut s))
        .await
        .expect("a response");
    let waited = start.elapsed();
    assert_eq!(resp.status, 408, "{}", resp.head);
    assert_eq!(
        String::from_utf8_lossy(&resp.body),
        "408 request body timeout\n"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "answered after {waited:?}"
    );
    assert!(
        wait_closed(&mut s, Duration::from_secs(5)).await.is_some(),
        "the connection is closed: the rest of the body would be read as a request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_stream_whose_body_stops_gets_408_and_the_connection_goes_on() {
    let b = backend("a");
    let proxy = Proxy::start(&config(b.addr, "request_body_timeout = \"1s\"", ""));
    let mut h2 = h2_crate_client(proxy.addr()).await;
    let req = http::Request::post("http://a/upload").body(()).unwrap();
    let (resp, mut body) = h2.send_request(req, false).unwrap();
    body.send_data(Bytes::from_static(b"only ten.."), false)
        .unwrap();
    let resp = within(Duration::from_secs(10), resp)
        .await
        .expect("a response");
    assert_eq!(resp.status(), 408);
    // Another request on the same connection is served.
    h2 = h2.ready().await.expect("the connection stays open");
    let get = http::Request::get("http://a/").body(()).unwrap();
    let (resp, _) = h2.send_request(get, true).unwrap();
    assert_eq!(resp.await.expect("a response").status(), 200);
}

/// A backend that reads each request head and then nothing more: its
/// socket buffers fill and it never takes the rest of the body.
async fn non_reading_backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_stops_taking_the_body_gets_the_client_a_504() {
    let (upstream, _task) = non_reading_backend().await;
    let proxy = Proxy::start(&config(upstream, "request_body_timeout = \"1s\"", ""));
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut reader, mut writer) = s.into_split();
    // A client with 1 GiB to send, writing until the proxy stops reading.
    let sender = tokio::spawn(async move {
        writer
            .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\n")
            .await
            .unwrap();
        let chunk = vec![b'x'; 64 << 10];
        let mut sent = 0usize;
        while writer.write_all(&chunk).await.is_ok() {
            sent += chunk.len();
        }
        sent
    });
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = within(Duration::from_secs(20), reader.read(&mut chunk))
            .await
            .unwrap();
        assert!(n > 0, "closed without a response");
        head.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    assert_eq!(status_of(&text), 504, "{text}");
    assert!(
        text.contains("504 upstream did not read the request body in time"),
        "{text}"
    );
    drop(reader);
    let sent = within(Duration::from_secs(20), sender).await.unwrap();
    assert!(sent < 1 << 30, "the upload stopped, {sent} bytes in");
}

/// A backend that answers every request head with a response of
/// `Content-Length: 100` and sends its body as `pieces`, `gap` apart,
/// then holds the connection (never sending the rest when the pieces are
/// short).
async fn dribbling_backend(
    pieces: &'static [&'static [u8]],
    gap: Duration,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                    .await;
                let mut tick = tokio::time::interval(gap);
                for p in pieces {
                    tick.tick().await;
                    if s.write_all(p).await.is_err() {
                        return;
                    }
                }
                // Hold the connection open, sending nothing more.
                let mut sink = [0u8; 64];
                while let Ok(n) = s.read(&mut sink).await {
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

const HUNDRED: &[&[u8]] = &[&[b'a'; 25], &[b'b'; 25], &[b'c'; 25], &[b'd'; 25]];
const TEN: &[&[u8]] = &[b"0123456789"];

#[tokio::test(flavor = "multi_thread")]
async fn a_response_body_that_keeps_moving_is_not_cut() {
    // 4 pieces 600 ms apart: 1.8 s in all, never 1 s without one.
    let (upstream, _task) = dribbling_backend(HUNDRED, Duration::from_millis(600)).await;
    let proxy = Proxy::start(&config(upstream, "", "response_body_timeout = \"1s\""));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let resp = within(Duration::from_secs(20), read_response(&mut s))
        .await
        .expect("the whole response");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 100);
    assert!(resp.body.starts_with(&[b'a'; 25]) && resp.body.ends_with(&[b'd'; 25]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_body_that_stops_is_cut_and_the_connection_closed() {
    let (upstream, _task) = dribbling_backend(TEN, Duration::from_millis(1)).await;
    let proxy = Proxy::start(&config(upstream, "", "response_body_timeout = \"1s\""));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let rest = wait_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("the connection is closed, not left hanging");
    let waited = start.elapsed();
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n0123456789"),
        "10 of 100 bytes, then the close: {text}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "cut after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_response_body_that_stops_resets_its_stream_only() {
    let (upstream, _task) = dribbling_backend(TEN, Duration::from_millis(1)).await;
    let b = backend("a");
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener_routes(
                "web",
                "http2 = true",
                "",
                &[route("stall", "/stall", "stall"), route("", "", "p")],
            ),
            pool("stall", &[upstream], "response_body_timeout = \"1s\""),
            pool("p", &[b.addr], ""),
        ],
    ));
    let mut h2 = h2_crate_client(proxy.addr()).await;
    let req = http::Request::get("http://a/stall").body(()).unwrap();
    let (resp, _) = h2.send_request(req, true).unwrap();
    let resp = within(Duration::from_secs(10), resp).await.expect("a head");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.data().await.expect("the first bytes").expect("data");
    assert_eq!(&first[..], b"0123456789");
    let end = within(Duration::from_secs(10), body.data()).await;
    assert!(
        matches!(end, Some(Err(ref e)) if e.is_reset()),
        "the stream is reset, not ended as if whole: {end:?}"
    );
    // The connection carries on.
    h2 = h2.ready().await.expect("the connection stays open");
    let get = http::Request::get("http://a/").body(()).unwrap();
    let (resp, _) = h2.send_request(get, true).unwrap();
    assert_eq!(resp.await.expect("a response").status(), 200);
}

const BIG: u64 = 256 << 20;

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_let_go_after_send_timeout() {
    let b = backend("a");
    // A bodyless GET (served by the own HTTP/1.1 path) and a POST (hyper's).
    let requests = [
        format!("GET /bytes?n={BIG} HTTP/1.1\r\nHost: a\r\n\r\n"),
        format!("POST /bytes?n={BIG} HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"),
    ];
    for request in requests {
        // `max_connections` makes the listener count its connections.
        let proxy = Proxy::start(&config(
            b.addr,
            "send_timeout = \"1s\"\nmax_connections = 100",
            "",
        ));
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        assert!(
            eventually(Duration::from_secs(5), || proxy.open_connections("web")
                == 1)
            .await,
            "the connection is served"
        );
        // This client reads nothing: its window and the proxy's socket
        // buffer fill, and the proxy's writes wait.
        assert!(
            eventually(Duration::from_secs(20), || proxy.open_connections("web")
                == 0)
            .await,
            "the proxy let go of a client that does not read"
        );
        let got = within(Duration::from_secs(20), async {
            let mut n = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(k) = s.read(&mut buf).await {
                if k == 0 {
                    break;
                }
                n += k as u64;
            }
            n
        })
        .await;
        assert!(got > 0 && got < BIG, "{got} bytes, then the close");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_reads_with_pauses_shorter_than_send_timeout_gets_everything() {
    let b = backend("a");
    let proxy = Proxy::start(&config(b.addr, "send_timeout = \"1s\"", ""));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let n: u64 = 32 << 20;
    s.write_all(format!("GET /bytes?n={n} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut pauses = 0;
    // Four 600 ms pauses (the slow client under test), each after 4 MiB;
    // until the head and all `n` body bytes are in.
    loop {
        let k = within(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap();
        assert!(k > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..k]);
        if pauses < 4 && got.len() > (pauses + 1) * (4 << 20) {
            pauses += 1;
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        let head = got.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(h) = head
            && (got.len() - h - 4) as u64 >= n
        {
            break;
        }
    }
    let h = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&got[..h])), 200);
    assert_eq!(got.len() - h - 4, n as usize);
    assert!(is_demo_pattern(&got[h + 4..]));
    assert_eq!(pauses, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_client_that_keeps_its_window_shut_has_the_stream_reset() {
    let b = backend("a");
    let proxy = Proxy::start(&config(b.addr, "send_timeout = \"1s\"", ""));
    let mut h2 = h2_crate_client(proxy.addr()).await;
    let req = http::Request::get(format!("http://a/bytes?n={}", 1 << 20))
        .body(())
        .unwrap();
    let (resp, _) = h2.send_request(req, true).unwrap();
    let resp = within(Duration::from_secs(10), resp).await.expect("a head");
    assert_eq!(resp.status(), 200);
    // The client reads what arrives but never releases window: the
    // stream's initial 65 535 bytes come, then nothing can.
    let mut body = resp.into_body();
    let mut got = 0usize;
    let start = Instant::now();
    let end = within(Duration::from_secs(10), async {
        loop {
            match body.data().await {
                Some(Ok(d)) => got += d.len(),
                other => return other,
            }
        }
    })
    .await;
    assert!(
        matches!(end, Some(Err(ref e)) if e.is_reset()),
        "the stream is reset: {end:?}"
    );
    assert_eq!(got, 65_535, "the initial window, and no more");
    assert!(start.elapsed() >= Duration::from_millis(900));
    // The connection goes on.
    h2 = h2.ready().await.expect("the connection stays open");
    let get = http::Request::get("http://a/").body(()).unwrap();
    let (resp, _) = h2.send_request(get, true).unwrap();
    assert_eq!(resp.await.expect("a response").status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_client_that_stops_reading_its_socket_is_let_go_after_send_timeout() {
    use common::h2::{
        END_HEADERS, END_STREAM, HEADERS, RawH2, SETTINGS, WINDOW_UPDATE, frame, get_block,
    };
    let b = backend("a");
    for server in ["own", "hyper"] {
        let proxy = Proxy::start(&config(
            b.addr,
            &format!("send_timeout = \"1s\"\nmax_connections = 100\nh2_server = \"{server}\""),
            "",
        ));
        let mut raw = RawH2::connect(proxy.addr()).await;
        // Windows wide open: only TCP can hold the server back.
        let mut settings = Vec::new();
        settings.extend_from_slice(&4u16.to_be_bytes());
        settings.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        let mut out = frame(SETTINGS, 0, 0, &settings);
        out.extend(frame(
            WINDOW_UPDATE,
            0,
            0,
            &(0x7fff_ffffu32 - 65_535).to_be_bytes(),
        ));
        let block = get_block("a", &format!("/bytes?n={BIG}"));
        out.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
        raw.send(&out).await.unwrap();
        // This client reads nothing more: the server's writes wait.
        assert!(
            eventually(Duration::from_secs(20), || proxy.open_connections("web")
                == 0)
            .await,
            "{server} server: the proxy let go of a client that does not read"
        );
    }
}
