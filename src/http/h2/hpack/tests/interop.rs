//! A cross-check against an independent HPACK: the `h2` crate (already a
//! dependency) as a real HTTP/2 client over an in-memory pipe. Its encoder
//! Huffman-codes every string and uses the dynamic table, and it shrinks
//! its table (a size update, then evictions) when our SETTINGS asks for
//! 256 bytes; we take its HEADERS frames off the wire and decode them. The
//! other way round, our encoder's response block goes back as a HEADERS
//! frame and the `h2` client reads it.

use bytes::{Buf, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::super::{Decoder, Encoder, Field, Pseudo};
use super::decode;

/// Every token character, in a name.
const TOKEN_NAME: &str = "x-!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";

/// A value with every byte a field value may hold (HTAB and SP inside).
fn every_value_byte() -> HeaderValue {
    let mut v: Vec<u8> = (0x21..=0x7e).chain(0x80..=0xff).collect();
    v.splice(10..10, [b' ', b'\t', b' ']);
    HeaderValue::from_bytes(&v).unwrap()
}

/// A frame header: length, type, flags, stream.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads frames off `io` until `n` complete header blocks (HEADERS and
/// CONTINUATION, padding and priority stripped) have come.
async fn header_blocks(io: &mut DuplexStream, n: usize) -> Vec<Vec<u8>> {
    let mut buf = BytesMut::new();
    while buf.len() < 24 {
        assert_ne!(io.read_buf(&mut buf).await.unwrap(), 0);
    }
    assert_eq!(&buf[..24], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    buf.advance(24);
    let mut blocks = Vec::new();
    let mut current = Vec::new();
    while blocks.len() < n {
        if buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() >= 9 + len {
                let (kind, flags) = (buf[3], buf[4]);
                let mut payload = buf[9..9 + len].to_vec();
                buf.advance(9 + len);
                if kind == 1 {
                    if flags & 0x8 != 0 {
                        let pad = usize::from(payload[0]);
                        payload.truncate(payload.len() - pad);
                        payload.remove(0);
                    }
                    if flags & 0x20 != 0 {
                        payload.drain(..5);
                    }
                }
                if kind == 1 || kind == 9 {
                    current.extend_from_slice(&payload);
                    if flags & 0x4 != 0 {
                        blocks.push(std::mem::take(&mut current));
                    }
                }
                continue;
            }
        }
        assert_ne!(io.read_buf(&mut buf).await.unwrap(), 0, "pipe closed");
    }
    blocks
}

/// The requests: repeated fields (dynamic table hits), long values (which
/// evict in a 256-byte table), every token character and value byte.
fn requests() -> Vec<Request<()>> {
    let mut out = Vec::new();
    for i in 0..4 {
        let mut req = Request::builder()
            .method(if i % 2 == 0 {
                Method::GET
            } else {
                Method::POST
            })
            .uri(format!("https://example.com/p/{i}?q=caf%C3%A9"))
            .header("user-agent", "interop/1.0")
            .header("accept-encoding", "gzip, deflate")
            .header(TOKEN_NAME, every_value_byte())
            .header("x-count", i.to_string())
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("x-long", "L".repeat(100 + 50 * i))
            .body(())
            .unwrap();
        if i == 2 {
            let mut v = HeaderValue::from_static("Bearer secret");
            v.set_sensitive(true);
            req.headers_mut().insert("authorization", v);
        }
        out.push(req);
    }
    out
}

/// Checks a decoded request block against the request.
fn check_request(fields: Vec<Field>, req: &Request<()>) {
    let mut pseudo = Vec::new();
    let mut map = HeaderMap::new();
    for field in fields {
        match field {
            Field::Pseudo(p, v) => {
                assert!(map.is_empty(), "pseudo-header after a field");
                pseudo.push((p, v));
            }
            Field::Header(n, v) => {
                map.append(n, v);
            }
        }
    }
    let uri = req.uri();
    let mut want = vec![
        (Pseudo::Method, req.method().as_str().to_owned()),
        (Pseudo::Scheme, "https".to_owned()),
        (Pseudo::Authority, uri.authority().unwrap().to_string()),
        (Pseudo::Path, uri.path_and_query().unwrap().to_string()),
    ];
    let mut got: Vec<_> = pseudo
        .into_iter()
        .map(|(p, v)| (p, String::from_utf8(v.to_vec()).unwrap()))
        .collect();
    want.sort_by_key(|(p, _)| p.as_str());
    got.sort_by_key(|(p, _)| p.as_str());
    assert_eq!(got, want);
    let list = |m: &HeaderMap| -> Vec<(HeaderName, HeaderValue, bool)> {
        m.iter()
            .map(|(n, v)| (n.clone(), v.clone(), v.is_sensitive()))
            .collect()
    };
    assert_eq!(list(&map), list(req.headers()));
}

#[tokio::test]
async fn h2_crate_client_blocks_decode_and_our_response_block_reads_back() {
    let (client_io, mut server_io) = tokio::io::duplex(1 << 20);
    let (mut send, conn) = h2::client::handshake(client_io).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    // Our SETTINGS: a 256-byte table for the client's encoder; and the ACK
    // of the client's.
    let settings = [0x00, 0x01, 0x00, 0x00, 0x01, 0x00];
    server_io
        .write_all(&frame(4, 0, 0, &settings))
        .await
        .unwrap();
    server_io.write_all(&frame(4, 1, 0, &[])).await.unwrap();

    let reqs = requests();
    let mut responses = Vec::new();
    for req in &reqs {
        send = send.ready().await.unwrap();
        let mut copy = Request::builder()
            .method(req.method())
            .uri(req.uri())
            .body(())
            .unwrap();
        *copy.headers_mut() = req.headers().clone();
        let (resp, _) = send.send_request(copy, true).unwrap();
        responses.push(resp);
    }

    let blocks = header_blocks(&mut server_io, reqs.len()).await;
    let mut dec = Decoder::new(4096);
    for (block, req) in blocks.iter().zip(&reqs) {
        let fields = decode(&mut dec, block).unwrap();
        check_request(fields.into_iter().map(Result::unwrap).collect(), req);
        assert!(dec.table_size() <= dec.table_capacity());
    }
    // Whether the client's encoder took our SETTINGS before its first block
    // or after is up to its task; its table is 256 bytes once it has.
    assert!([256, 4096].contains(&dec.table_capacity()));

    // Our response to stream 1, read by the h2 client.
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    headers.insert(TOKEN_NAME, every_value_byte());
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2"));
    headers.insert("x-empty", HeaderValue::from_static(""));
    headers.insert("x-long", HeaderValue::from_str(&"v".repeat(3000)).unwrap());
    let mut block = Vec::new();
    Encoder::new().encode_response(StatusCode::IM_A_TEAPOT, &headers, &mut block);
    // END_STREAM | END_HEADERS.
    server_io
        .write_all(&frame(1, 0x5, 1, &block))
        .await
        .unwrap();
    let resp = responses.remove(0).await.unwrap();
    assert_eq!(resp.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(resp.headers(), &headers);
}
