//! What an HTTP/2 upstream answers that a client must not see as it came:
//! content on a 204. The upstream is a raw HTTP/2 server written frame by
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
