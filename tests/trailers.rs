//! Trailers across HTTP/1.1 hops: an HTTP/2 upstream's trailers (gRPC's
//! `grpc-status`) reach an HTTP/1.1 client at the end of its chunked body,
//! and a chunked request's trailers reach an HTTP/1.1 backend. The proxy
//! strips the `Trailer` header as hop-by-hop, so trailers must not depend
//! on it being announced.

mod common;

use std::time::Duration;

use common::h2::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Everything the server sends on one request with `Connection: close`.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    within(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Like a gRPC server: `:status 200` (HPACK static index 8) without
/// `content-length`, DATA, then trailers.
fn answer_with_trailers(stream: u32) -> Vec<u8> {
    let mut out = frame(HEADERS, END_HEADERS, stream, &[0x80 | 8]);
    out.extend(frame(DATA, 0, stream, b"data"));
    let mut block = Vec::new();
    hpack_literal(&mut block, "x-trailer", b"done");
    hpack_literal(&mut block, "grpc-status", b"0");
    out.extend(frame(HEADERS, END_HEADERS | END_STREAM, stream, &block));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_upstreams_trailers_reach_an_http1_client() {
    let (l, addr) = bind().await;
    tokio::spawn(raw_upstream(l, answer_with_trailers));
    let proxy = Proxy::start(&h2c_config(1, "", "http_version = \"2\"", &[addr]));
    let resp = exchange(
        proxy.addr(),
        b"GET /call HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("transfer-encoding: chunked\r\n"), "{resp}");
    let (_, tail) = resp
        .rsplit_once("\r\n0\r\n")
        .unwrap_or_else(|| panic!("{resp}"));
    assert_eq!(tail, "x-trailer: done\r\ngrpc-status: 0\r\n\r\n", "{resp}");
}

/// A raw HTTP/1.1 backend: reads one chunked request to its end (the
/// trailer section's blank line), hands the bytes over, answers 200.
async fn recording_backend(l: TcpListener, got: tokio::sync::oneshot::Sender<String>) {
    let (mut s, _) = l.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "request cut: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        // The head, then the body's last chunk and the trailer section.
        if let Some((_, body)) = text.split_once("\r\n\r\n")
            && let Some((_, rest)) = body.split_once("0\r\n")
            && rest.ends_with("\r\n\r\n")
        {
            break;
        }
    }
    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let _ = got.send(String::from_utf8_lossy(&buf).into_owned());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_requests_trailers_reach_an_http1_backend() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(recording_backend(l, tx));
    let proxy = Proxy::start(&simple_config("round_robin", &[addr], ""));
    let resp = exchange(
        proxy.addr(),
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let seen = within(Duration::from_secs(10), rx)
        .await
        .expect("the backend saw the request");
    let (head, body) = seen.split_once("\r\n\r\n").expect("a head");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{seen}"
    );
    assert_eq!(body, "5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n", "{seen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_trailers_reach_an_http2_upstream_without_forbidden_fields() {
    let (_b, proxy) = h2c_proxy_to_h2(H2Opts::default()).await;
    let resp = exchange(
        proxy.addr(),
        b"POST /echo-trailers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\ncontent-length: 5\r\nhost: evil\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let (_, body) = resp.split_once("\r\n\r\n").expect("a body");
    assert!(body.contains("x-checksum: abc"), "{resp}");
    assert!(!body.contains("content-length"), "{resp}");
    assert!(!body.contains("host"), "{resp}");
}
