//! What an HTTP/2 upstream answers that a client must not see as it came:
//! content on a 204, a 304 or the answer to a HEAD, and fields that must
//! not be trailers. The upstream is a raw HTTP/2 server written frame by
//! frame, so it can send what no HTTP/2 library would.

mod common;

use std::time::Duration;

use common::h2::*;
use common::*;

/// `:status 204` (HPACK static index 9), then a DATA frame.
fn no_content_with_content(stream: u32) -> Vec<u8> {
    let mut out = frame(HEADERS, END_HEADERS, stream, &[0x80 | 9]);
    out.extend(frame(DATA, END_STREAM, stream, b"should-not-be-here"));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn content_sent_with_a_204_is_not_relayed_to_http2_clients() {
    let (l, addr) = bind().await;
    tokio::spawn(raw_upstream(l, no_content_with_content));
    for server in ["own", "hyper"] {
        let proxy = Proxy::start(&h2c_config(
            1,
            &format!("h2_server = \"{server}\""),
            "http_version = \"2\"",
            &[addr],
        ));
        let resp = within(
            Duration::from_secs(10),
            h2_client().get(proxy.url("/")).send(),
        )
        .await
        .expect("an answer");
        assert_eq!(resp.status(), 204, "{server}");
        let body = within(Duration::from_secs(10), resp.bytes())
            .await
            .expect("body");
        assert!(body.is_empty(), "{server}: {body:?}");
    }
}

/// `:status 304` (HPACK static index 11), then a DATA frame.
fn not_modified_with_content(stream: u32) -> Vec<u8> {
    let mut out = frame(HEADERS, END_HEADERS, stream, &[0x80 | 11]);
    out.extend(frame(DATA, END_STREAM, stream, b"should-not-be-here"));
    out
}

/// `:status 200` (static 8) with `content-length: 5` (static name 28),
/// then its five bytes, whatever the method: a HEAD gets them too.
fn ok_with_content(stream: u32) -> Vec<u8> {
    let mut block = vec![0x80 | 8];
    hpack_literal_indexed_name(&mut block, 28, b"5");
    let mut out = frame(HEADERS, END_HEADERS, stream, &block);
    out.extend(frame(DATA, END_STREAM, stream, b"abcde"));
    out
}

/// An HTTP/2 client got nothing at all (the stream was reset) when the
/// upstream sent content with a 304 or with the answer to a HEAD: the h2
/// client failed the stream over it. The head is relayed, the content
/// dropped, as from HAProxy.
#[tokio::test(flavor = "multi_thread")]
async fn content_with_a_304_or_a_head_answer_is_dropped_and_the_head_relayed() {
    let (l304, a304) = bind().await;
    tokio::spawn(raw_upstream(l304, not_modified_with_content));
    let (lhead, ahead) = bind().await;
    tokio::spawn(raw_upstream(lhead, ok_with_content));
    for server in ["own", "hyper"] {
        let opts = format!("h2_server = \"{server}\"");
        let proxy = Proxy::start(&h2c_config(1, &opts, "http_version = \"2\"", &[a304]));
        let resp = within(
            Duration::from_secs(10),
            h2_client().get(proxy.url("/")).send(),
        )
        .await
        .expect("an answer");
        assert_eq!(resp.status(), 304, "{server}");
        let body = within(Duration::from_secs(10), resp.bytes())
            .await
            .expect("body");
        assert!(body.is_empty(), "{server}: {body:?}");

        let proxy = Proxy::start(&h2c_config(1, &opts, "http_version = \"2\"", &[ahead]));
        let resp = within(
            Duration::from_secs(10),
            h2_client().head(proxy.url("/")).send(),
        )
        .await
        .expect("an answer");
        assert_eq!(resp.status(), 200, "{server}");
        assert_eq!(header(&resp, "content-length"), "5", "{server}");
        let body = within(Duration::from_secs(10), resp.bytes())
            .await
            .expect("body");
        assert!(body.is_empty(), "{server}: {body:?}");
        // A GET gets the content.
        let resp = h2_client().get(proxy.url("/")).send().await.unwrap();
        assert_eq!(resp.bytes().await.unwrap(), "abcde", "{server}");
    }
}

/// `:status 200`, DATA, then trailers with fields that must not be
/// trailers (`content-length`, `host`, `set-cookie`) among allowed ones.
fn ok_with_forbidden_trailers(stream: u32) -> Vec<u8> {
    let mut out = frame(HEADERS, END_HEADERS, stream, &[0x80 | 8]);
    out.extend(frame(DATA, 0, stream, b"ok"));
    let mut block = Vec::new();
    for (name, value) in [
        ("content-length", "99"),
        ("host", "evil"),
        ("x-ok", "1"),
        ("set-cookie", "a=b"),
        ("grpc-status", "0"),
    ] {
        hpack_literal(&mut block, name, value.as_bytes());
    }
    out.extend(frame(HEADERS, END_HEADERS | END_STREAM, stream, &block));
    out
}

/// Fields that must not be trailers reached HTTP/2 clients, which then
/// took the whole response for malformed (HTTP/1.1 clients had them left
/// out). They are left out for every client.
#[tokio::test(flavor = "multi_thread")]
async fn fields_that_must_not_be_trailers_are_left_out_for_http2_clients() {
    let (l, addr) = bind().await;
    tokio::spawn(raw_upstream(l, ok_with_forbidden_trailers));
    for server in ["own", "hyper"] {
        let proxy = Proxy::start(&h2c_config(
            1,
            &format!("h2_server = \"{server}\""),
            "http_version = \"2\"",
            &[addr],
        ));
        let mut send = h2_crate_client(proxy.addr()).await;
        let req = http::Request::get(proxy.url("/")).body(()).unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = within(Duration::from_secs(10), resp)
            .await
            .unwrap_or_else(|e| panic!("{server}: {e}"));
        assert_eq!(resp.status(), 200, "{server}");
        let mut body = resp.into_body();
        let mut data = Vec::new();
        while let Some(chunk) = within(Duration::from_secs(10), body.data()).await {
            data.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("{server}: {e}")));
        }
        assert_eq!(data, b"ok", "{server}");
        let trailers = within(Duration::from_secs(10), body.trailers())
            .await
            .unwrap_or_else(|e| panic!("{server}: {e}"))
            .expect("trailers");
        let mut names: Vec<&str> = trailers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["grpc-status", "x-ok"], "{server}");
    }
}
