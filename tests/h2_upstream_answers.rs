//! What an HTTP/2 upstream answers that a client must not see as it came:
//! content on a 204. The upstream is a raw HTTP/2 server written frame by
//! frame, so it can send what no HTTP/2 library would.

mod common;

use std::time::Duration;

use common::h2::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request on its connections with `:status 204` followed
/// by a DATA frame.
async fn upstream_sending_content_with_204(l: TcpListener) {
    loop {
        let Ok((mut tcp, _)) = l.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut preface = [0u8; 24];
            if tcp.read_exact(&mut preface).await.is_err() {
                return;
            }
            let _ = tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await;
            while let Some(f) = read_frame(&mut tcp).await {
                let out = match f.kind {
                    SETTINGS if f.flags & ACK == 0 => frame(SETTINGS, ACK, 0, &[]),
                    HEADERS => {
                        // HPACK static index 9: `:status 204`.
                        let mut out = frame(HEADERS, END_HEADERS, f.stream, &[0x80 | 9]);
                        out.extend(frame(DATA, END_STREAM, f.stream, b"should-not-be-here"));
                        out
                    }
                    _ => continue,
                };
                if tcp.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn content_sent_with_a_204_is_not_relayed_to_http2_clients() {
    let (l, addr) = bind().await;
    tokio::spawn(upstream_sending_content_with_204(l));
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
