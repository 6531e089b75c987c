//! WebSocket through the proxy: real tokio-tungstenite clients and
//! servers on both sides of the tunnel (messages of every kind up to
//! 16 MiB, pings, close handshakes from either side), handshake validation
//! (refused requests never reach the backend), a backend refusing the
//! upgrade, bytes pipelined right behind the handshake, the tunnel's idle
//! timeout, and WebSocket over HTTP/2 (RFC 8441 extended CONNECT) to an
//! HTTP/1.1 backend.

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

// ---- WebSocket over HTTP/2 (RFC 8441) -----------------------------------------

/// An RFC 8441 WebSocket through the proxy: a hyper HTTP/2 client opens an
/// extended CONNECT stream, and tungstenite speaks WebSocket over it.
async fn h2_websocket(
    proxy: &Proxy,
    path: &str,
    version: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    http::StatusCode,
> {
    let addr = proxy.addr();
    let mut send = h2c_client::<Empty>(addr).await;
    // One exchange first: the proxy's SETTINGS (with
    // SETTINGS_ENABLE_CONNECT_PROTOCOL) are then known to the client.
    // (The WebSocket-only backend refuses the plain request: any answer
    // will do.)
    within(
        Duration::from_secs(5),
        send.send_request(get(&addr.to_string(), "/plain")),
    )
    .await
    .expect("an answer to a plain request on the same connection");
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}{path}"))
        .header("sec-websocket-version", version)
        .body(Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let resp = within(Duration::from_secs(5), send.send_request(req))
        .await
        .expect("the extended CONNECT is answered");
    if resp.status() != http::StatusCode::OK {
        return Err(resp.status());
    }
    assert!(
        resp.headers().get("sec-websocket-accept").is_none(),
        "RFC 8441 responses carry no Sec-WebSocket-Accept"
    );
    let upgraded = within(Duration::from_secs(5), hyper::upgrade::on(resp))
        .await
        .expect("the stream is handed over");
    Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(upgraded),
        tungstenite::protocol::Role::Client,
        Some(ws_config()),
    )
    .await)
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_over_http2_is_tunnelled_to_an_http1_backend() {
    websocket_over_http2_with("own").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_over_http2_is_tunnelled_by_the_hyper_server_too() {
    websocket_over_http2_with("hyper").await;
}

/// An RFC 8441 WebSocket, text and a 1 MiB binary message both ways and a
/// close, through a listener running HTTP/2 server `server`.
async fn websocket_over_http2_with(server: &str) {
    let (b, proxy) = ws_proxy(&format!("http2 = true\nh2_server = \"{server}\"")).await;
    // SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1 is advertised.
    let raw = RawH2::connect(proxy.addr()).await;
    assert!(
        raw.server_settings
            .iter()
            .any(|(id, v)| *id == 0x8 && *v == 1),
        "{:?}",
        raw.server_settings
    );
    let mut ws = h2_websocket(&proxy, "/ws/echo", "13")
        .await
        .expect("200 to the extended CONNECT");
    ws.send(Message::text("over h2")).await.unwrap();
    assert_eq!(
        next_message(&mut ws).await,
        Message::text("over h2"),
        "text echoed through the HTTP/2 stream"
    );
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::binary(big));
    ws.close(Some(CloseFrame {
        code: CloseCode::Library(4001),
        reason: "bye over h2".into(),
    }))
    .await
    .unwrap();
    eventually(Duration::from_secs(5), || {
        b.closes().contains(&(4001, "bye over h2".to_string()))
    })
    .await;
    // The backend saw one WebSocket connection (plus the plain request).
    assert!(b.connections() >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_over_http2_checks_the_version_and_relays_refusals() {
    let (b, proxy) = ws_proxy("http2 = true").await;
    let before = b.connections();
    assert_eq!(
        h2_websocket(&proxy, "/ws/echo", "12").await.err(),
        Some(http::StatusCode::UPGRADE_REQUIRED)
    );
    // A backend refusing the upgrade: its status reaches the client.
    assert_eq!(
        h2_websocket(&proxy, "/ws/forbid", "13").await.err(),
        Some(http::StatusCode::FORBIDDEN)
    );
    // A plain CONNECT over HTTP/2 is not proxied: 405, never forwarded.
    let mut send = h2_crate_client(proxy.addr()).await;
    let req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri("backend.example.test:443")
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, false).unwrap();
    let resp = within(Duration::from_secs(5), resp).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::METHOD_NOT_ALLOWED);
    // Only the refused-by-backend handshake and the warm-up requests
    // reached the backend: not the bad version, not the plain CONNECT.
    assert_eq!(b.connections() - before, 3);
}

/// The next data message (pings and pongs skipped).
async fn next_message<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let m = within(Duration::from_secs(10), ws.next())
            .await
            .expect("a message")
            .expect("no error");
        if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
            return m;
        }
    }
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

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_websocket_to_a_backend_that_does_not_upgrade_is_a_502_not_an_open_tunnel() {
    // The demo backend answers the upgrade request as a plain GET: 200.
    // Relayed, that 200 would tell the RFC 8441 client its tunnel is open.
    for server in ["own", "hyper"] {
        let (_b, proxy) = h2c_proxy_to_demo(1, &format!("h2_server = \"{server}\""));
        let status = match h2_websocket(&proxy, "/", "13").await {
            Ok(_) => panic!("{server}: a tunnel was reported open"),
            Err(status) => status,
        };
        assert_eq!(status, http::StatusCode::BAD_GATEWAY, "{server}");
    }
}

/// An upstream that answers a WebSocket upgrade with a `101` to another
/// protocol: the client gets 502, not a tunnel it would take for a
/// WebSocket.
#[tokio::test(flavor = "multi_thread")]
async fn a_101_to_another_protocol_is_a_502_not_a_websocket() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tcp
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n")
                    .await;
                // Hold the connection as a tunnel would.
                let _ = tcp.read(&mut buf).await;
            });
        }
    });
    let proxy = Proxy::start(&proxy_config(
        2,
        &[listener("web", "", "", "ws"), pool("ws", &[addr], "")],
    ));
    let url = format!("ws://{}/ws/echo", proxy.addr());
    let err = within(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), false),
    )
    .await
    .expect_err("no WebSocket was opened");
    match err {
        tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status(), http::StatusCode::BAD_GATEWAY);
        }
        other => panic!("expected an HTTP 502, got {other:?}"),
    }
}
