//! WebSocket through the proxy: real tokio-tungstenite clients and
//! servers on both sides of the tunnel (messages of every kind up to
//! 16 MiB, pings, close handshakes from either side), handshake validation
//! (refused requests never reach the backend), a backend refusing the
//! upgrade, bytes pipelined right behind the handshake, and the tunnel's
//! idle timeout.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::h2::*;
use common::{
    Proxy, eventually, listener, listener_routes, pool, proxy_config, read_response, route, within,
};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

/// A [`WsBackend`] behind a proxy whose listener "web" (`listener_extra`
/// keys added) sends everything to it.
async fn ws_proxy(listener_extra: &str) -> (WsBackend, Proxy) {
    let b = WsBackend::start().await;
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener("web", listener_extra, "", "ws"),
            pool("ws", &[b.addr], ""),
        ],
    ));
    (b, proxy)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(proxy: &Proxy, path: &str) -> Ws {
    let url = format!("ws://{}{path}", proxy.addr());
    let (ws, resp) = within(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), false),
    )
    .await
    .expect("WebSocket handshake through the proxy");
    assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The next message, within 10 s.
async fn next(ws: &mut Ws) -> Option<Result<Message, tungstenite::Error>> {
    within(Duration::from_secs(10), ws.next()).await
}

// ---- 12. messages and close handshakes ------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn messages_pings_and_client_close_go_through() {
    // An h2c-enabled listener: the upgrade request goes through the
    // HTTP/2-preface sniffing first.
    let (b, proxy) = ws_proxy("http2 = true").await;
    let mut ws = connect(&proxy, "/ws/echo").await;

    ws.send(Message::text("hello, tunnel")).await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap().unwrap(),
        Message::text("hello, tunnel")
    );

    let bin = Bytes::from_static(&[0, 1, 2, 0xfe, 0xff]);
    ws.send(Message::Binary(bin.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::Binary(bin));

    // 16 MiB in one message.
    let big: Bytes = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    ws.send(Message::Binary(big.clone())).await.unwrap();
    match next(&mut ws).await.unwrap().unwrap() {
        Message::Binary(got) => {
            assert_eq!(got.len(), big.len());
            assert!(got == big, "16 MiB message corrupted");
        }
        other => panic!("expected the 16 MiB binary echo, got {other:?}"),
    }

    ws.send(Message::Ping(Bytes::from_static(b"p1")))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"p1"))
    );

    // Client-initiated close: the backend gets the code and reason, and
    // its answer completes the handshake.
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4000),
        reason: "client done".into(),
    }))
    .await
    .unwrap();
    match next(&mut ws).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 4000),
        other => panic!("expected the close answer, got {other:?}"),
    }
    assert!(
        matches!(next(&mut ws).await, None | Some(Err(_))),
        "the stream ends after the close handshake"
    );
    assert!(
        eventually(Duration::from_secs(5), || !b.closes().is_empty()).await,
        "no close frame reached the backend"
    );
    assert_eq!(b.closes(), vec![(4000, "client done".to_owned())]);
    assert_eq!(b.connections(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_close_reaches_the_client() {
    let (_b, proxy) = ws_proxy("").await;
    let mut ws = connect(&proxy, "/ws/close1001").await;
    match next(&mut ws).await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::Away);
            assert_eq!(u16::from(f.code), 1001);
            assert_eq!(f.reason.as_str(), "going away");
        }
        other => panic!("expected Close(1001), got {other:?}"),
    }
    // tungstenite answered the close; the stream then ends.
    assert!(matches!(next(&mut ws).await, None | Some(Err(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn frame_pipelined_behind_the_handshake_is_relayed() {
    let (_b, proxy) = ws_proxy("").await;
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    // The handshake (with Firefox's `Connection: keep-alive, Upgrade`) and
    // a masked text frame "hello" in one write.
    let mut out = format!(
        "GET /ws/echo HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        proxy.addr()
    )
    .into_bytes();
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    out.extend([0x81, 0x80 | 5]);
    out.extend(mask);
    out.extend(b"hello".iter().enumerate().map(|(i, c)| c ^ mask[i % 4]));
    s.write_all(&out).await.unwrap();

    // 101, then the echo (unmasked, from the server).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let echo = within(Duration::from_secs(5), async {
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n")
                && buf.len() >= i + 4 + 7
            {
                return (buf[..i].to_vec(), buf[i + 4..i + 11].to_vec());
            }
        }
    })
    .await;
    let head = String::from_utf8_lossy(&echo.0).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert_eq!(echo.1, b"\x81\x05hello");
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_on_a_reused_keep_alive_connection() {
    let ws_backend = WsBackend::start().await;
    let plain = common::backend("plain");
    // No [global]: the default number of workers.
    let routes = [route("", "/ws/", "ws"), route("", "", "plain")];
    let cfg = [
        listener_routes("web", "", "", &routes),
        pool("ws", &[ws_backend.addr], ""),
        pool("plain", &[plain.addr], ""),
    ];
    let proxy = Proxy::start(&cfg.concat());
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let first = within(Duration::from_secs(5), read_response(&mut s))
        .await
        .expect("first response");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-backend"), Some("plain"));
    // Not synchronisation: lets the proxy park the idle keep-alive
    // connection (it parks after 250 ms idle), so the upgrade is the first
    // request of a fresh HTTP/1 server on the same socket.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (ws, resp) = within(
        Duration::from_secs(5),
        tokio_tungstenite::client_async_with_config(
            format!("ws://{}/ws/echo", proxy.addr()),
            s,
            Some(ws_config()),
        ),
    )
    .await
    .expect("upgrade on the reused connection");
    assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    let mut ws = ws;
    ws.send(Message::text("reused")).await.unwrap();
    let got = within(Duration::from_secs(5), ws.next()).await;
    assert_eq!(got.unwrap().unwrap(), Message::text("reused"));
    assert_eq!((plain.hits(), ws_backend.connections()), (1, 1));
}

// ---- 13. handshake validation ---------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn invalid_handshakes_are_refused_and_never_forwarded() {
    let (b, proxy) = ws_proxy("").await;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n";
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "missing key",
            format!(
                "GET /ws/echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        (
            "short key",
            format!(
                "GET /ws/echo HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        (
            "two keys",
            format!(
                "GET /ws/echo HTTP/1.1\r\nHost: x\r\n{upgrade}{key}{key}Sec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        (
            "POST",
            format!(
                "POST /ws/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{upgrade}{key}Sec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        (
            "HTTP/1.0",
            format!(
                "GET /ws/echo HTTP/1.0\r\nHost: x\r\n{upgrade}{key}Sec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        (
            "version 12",
            format!(
                "GET /ws/echo HTTP/1.1\r\nHost: x\r\n{upgrade}{key}Sec-WebSocket-Version: 12\r\n\r\n"
            ),
            426,
        ),
        (
            "no version",
            format!("GET /ws/echo HTTP/1.1\r\nHost: x\r\n{upgrade}{key}\r\n"),
            426,
        ),
    ];
    for (what, req, want) in cases {
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let resp = within(Duration::from_secs(5), read_response(&mut s))
            .await
            .unwrap_or_else(|| panic!("{what}: no response"));
        assert_eq!(resp.status, want, "{what}: {}", resp.head);
        if want == 426 {
            assert_eq!(
                resp.header("sec-websocket-version"),
                Some("13"),
                "{what}: {}",
                resp.head
            );
        }
        assert_ne!(resp.header("upgrade"), Some("websocket"), "{what}");
    }
    assert_eq!(
        b.connections(),
        0,
        "a refused handshake reached the backend"
    );

    // A valid one does reach it.
    let _ws = connect(&proxy, "/ws/echo").await;
    assert_eq!(b.connections(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_refusing_the_upgrade_is_relayed() {
    let (b, proxy) = ws_proxy("").await;
    let url = format!("ws://{}/ws/forbid", proxy.addr());
    let err = within(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), false),
    )
    .await
    .expect_err("the backend refuses");
    match err {
        tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status(), http::StatusCode::FORBIDDEN);
            let body = resp.body().clone().unwrap_or_default();
            assert_eq!(String::from_utf8_lossy(&body), "forbidden here");
        }
        other => panic!("expected an HTTP 403, got {other:?}"),
    }
    assert_eq!(b.connections(), 1);

    // The proxy keeps serving upgrades afterwards.
    let mut ws = connect(&proxy, "/ws/echo").await;
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap().unwrap(),
        Message::text("still here")
    );
}

// ---- 14. tunnel idle timeout ------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn idle_tunnel_is_closed_and_active_one_stays_open() {
    let (_b, proxy) = ws_proxy("tunnel_idle_timeout = \"300ms\"").await;
    let mut idle = connect(&proxy, "/ws/echo").await;
    let mut active = connect(&proxy, "/ws/echo").await;

    let idle_check = async {
        let start = Instant::now();
        let end = within(Duration::from_secs(3), idle.next()).await;
        let took = start.elapsed();
        assert!(
            matches!(end, None | Some(Err(_))),
            "the idle tunnel should end, got {end:?}"
        );
        assert!(
            took >= Duration::from_millis(250),
            "closed too early: {took:?}"
        );
        assert!(took < Duration::from_secs(2), "closed too late: {took:?}");
    };
    let active_check = async {
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < Duration::from_millis(1200) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            active
                .send(Message::text(format!("tick {i}")))
                .await
                .unwrap();
            assert_eq!(
                next(&mut active).await.unwrap().unwrap(),
                Message::text(format!("tick {i}")),
                "the active tunnel stays open ({:?})",
                start.elapsed()
            );
            i += 1;
        }
    };
    tokio::join!(idle_check, active_check);
    // Past 1 s and still open.
    active.send(Message::text("last")).await.unwrap();
    assert_eq!(
        next(&mut active).await.unwrap().unwrap(),
        Message::text("last")
    );
}

// ---- WebSocket over HTTP/2 is not offered ------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn websocket_over_http2_is_refused_cleanly() {
    let (b, proxy) = ws_proxy("http2 = true").await;
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    // RFC 8441 is not implemented: SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8)
    // is not advertised...
    assert!(
        !raw.server_settings
            .iter()
            .any(|(id, v)| *id == 0x8 && *v == 1),
        "{:?}",
        raw.server_settings
    );
    // ...and an extended CONNECT is reset, without reaching the backend.
    let mut block = Vec::new();
    hpack_literal_indexed_name(&mut block, 2, b"CONNECT");
    hpack_literal(&mut block, ":protocol", b"websocket");
    block.push(0x86);
    hpack_literal_indexed_name(&mut block, 4, b"/ws/echo");
    hpack_literal_indexed_name(&mut block, 1, addr.to_string().as_bytes());
    hpack_literal(&mut block, "sec-websocket-version", b"13");
    raw.send(&frame(HEADERS, END_HEADERS, 1, &block))
        .await
        .unwrap();
    let rst = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == RST_STREAM || f.kind == GOAWAY
        })
        .await
        .expect("a reset");
    assert_eq!((rst.kind, rst.stream), (RST_STREAM, 1), "{rst:?}");
    assert_eq!(rst.error_code(), PROTOCOL_ERROR);
    assert_eq!(b.connections(), 0);
    // The connection itself is fine: the next stream is answered.
    raw.send(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        3,
        &get_block(&addr.to_string(), "/ws/echo"),
    ))
    .await
    .unwrap();
    let resp = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == HEADERS && f.stream == 3
        })
        .await;
    assert!(resp.is_some(), "no response on the same connection");

    // A plain CONNECT over HTTP/2 is not proxied either: 405.
    let mut send = h2_crate_client(addr).await;
    let req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri("backend.example.test:443")
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, false).unwrap();
    let resp = within(Duration::from_secs(5), resp).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(b.connections(), 1, "only the plain GET reached the backend");
}

// ---- 15. through a TLS listener -----------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn websocket_through_a_tls_listener() {
    use common::tls::{
        BOTH, Ca, LeafSpec, TempDir, cert, certificates, client_config, tls_connect,
    };
    common::install_crypto();
    let dir = TempDir::new();
    let ca = Ca::new("WebSocket test CA");
    let files = ca
        .issue(LeafSpec::server("ws", &["ws.example.test"]))
        .write(&dir, "ws");
    let tls = format!("[listener.tls]\n{}\n", certificates(&[cert(&files)]));
    let (b, proxy) = ws_proxy(&tls).await;
    // A browser opens WebSockets over HTTP/1.1 (the proxy offers h2 too).
    let client = std::sync::Arc::new(client_config(ca.roots(), BOTH, &[b"http/1.1"], None));
    let stream = tls_connect(proxy.addr(), &client, "ws.example.test")
        .await
        .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut ws, resp) = within(
        Duration::from_secs(5),
        tokio_tungstenite::client_async_with_config(
            "wss://ws.example.test/ws/echo",
            stream,
            Some(ws_config()),
        ),
    )
    .await
    .expect("WebSocket handshake over TLS");
    assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("over tls")).await.unwrap();
    let got = within(Duration::from_secs(5), ws.next()).await;
    assert_eq!(got.unwrap().unwrap(), Message::text("over tls"));
    let big: Bytes = (0..1u32 << 20).map(|i| (i % 249) as u8).collect();
    ws.send(Message::Binary(big.clone())).await.unwrap();
    let got = within(Duration::from_secs(10), ws.next()).await;
    assert_eq!(got.unwrap().unwrap(), Message::Binary(big));
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "tls bye".into(),
    }))
    .await
    .unwrap();
    while let Some(Ok(_)) = within(Duration::from_secs(5), ws.next()).await {}
    assert!(
        eventually(Duration::from_secs(5), || !b.closes().is_empty()).await,
        "no close frame reached the backend"
    );
    assert_eq!(b.closes(), vec![(1000, "tls bye".to_owned())]);
}
