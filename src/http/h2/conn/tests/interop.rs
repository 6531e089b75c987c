//! Interop with a real client: the `h2` crate's client over an in-memory
//! pipe, served by a tiny driver loop around [`Connection`] that answers
//! every request with its method and path in headers and streams the
//! request body (and trailers) back, giving window back only as the echo
//! goes out.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::super::{Config, Connection, Event};
use crate::http::h2::frame::ErrorCode;

/// One stream's echo: body chunks not yet sent, and how to end.
#[derive(Default)]
struct Echo {
    pending: VecDeque<Bytes>,
    /// `Some(None)`: end with END_STREAM; `Some(Some(t))`: with trailers.
    end: Option<Option<HeaderMap>>,
}

/// Serves `io` until the connection is done or the client goes; returns
/// the Reset and GoAway events seen.
async fn serve(io: DuplexStream, cfg: Config) -> Vec<Event> {
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut conn = Connection::new(cfg);
    let mut buf = BytesMut::with_capacity(64 << 10);
    let mut echoes: HashMap<u32, Echo> = HashMap::new();
    let mut seen = Vec::new();
    loop {
        while let Some(chunk) = conn.write_queue().pop_front() {
            wr.write_all(&chunk).await.unwrap();
        }
        if conn.is_done() {
            break;
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if conn.recv(&mut buf).is_err() {
            continue; // Write the GOAWAY, then is_done.
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                } => {
                    let path = head.path.clone().unwrap_or_default();
                    if &path[..] == b"/shutdown" {
                        conn.go_away(ErrorCode::NoError);
                    }
                    let mut h = HeaderMap::new();
                    h.insert("x-method", head.method.as_str().parse().unwrap());
                    h.insert("x-path", HeaderValue::from_maybe_shared(path).unwrap());
                    conn.send_response(stream, StatusCode::OK, &h, false)
                        .unwrap();
                    let echo = echoes.entry(stream).or_default();
                    if end_stream {
                        echo.end = Some(None);
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    let echo = echoes.entry(stream).or_default();
                    if !data.is_empty() {
                        echo.pending.push_back(data);
                    }
                    if end_stream {
                        echo.end = Some(None);
                    }
                }
                Event::Trailers { stream, trailers } => {
                    echoes.entry(stream).or_default().end = Some(Some(trailers));
                }
                Event::Reset { stream, .. } => {
                    echoes.remove(&stream);
                    seen.push(event);
                }
                Event::GoAway { .. } => seen.push(event),
                Event::Capacity { .. } | Event::Refused { .. } => {}
            }
        }
        // Send what the windows allow; give back what went out.
        echoes.retain(|&id, echo| {
            while let Some(front) = echo.pending.front_mut() {
                let taken = conn.send_data(id, front, false).unwrap();
                conn.consumed(id, taken);
                if !front.is_empty() {
                    return true;
                }
                echo.pending.pop_front();
            }
            match echo.end.take() {
                None => true,
                Some(None) => {
                    conn.send_data(id, &mut Bytes::new(), true).unwrap();
                    false
                }
                Some(Some(trailers)) => {
                    conn.send_trailers(id, &trailers).unwrap();
                    false
                }
            }
        });
    }
    seen
}

/// Small windows both ways, so a large body needs many WINDOW_UPDATEs.
fn small_windows() -> Config {
    Config {
        initial_window_size: 16 << 10,
        connection_window: 65_535,
        ..Config::default()
    }
}

/// An `h2` client connected to a served `Connection`.
async fn start(cfg: Config) -> (h2::client::SendRequest<Bytes>, JoinHandle<Vec<Event>>) {
    let (client_io, server_io) = tokio::io::duplex(8 << 20);
    let server = tokio::spawn(serve(server_io, cfg));
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(24 << 10)
        .initial_connection_window_size(48 << 10)
        .handshake(client_io)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, server)
}

/// Reads a response: status, `x-method`, `x-path`, body, trailers.
async fn read(
    resp: h2::client::ResponseFuture,
) -> (StatusCode, String, Vec<u8>, Option<HeaderMap>) {
    let resp = resp.await.unwrap();
    let status = resp.status();
    let h = resp.headers();
    let tag = format!(
        "{} {}",
        h["x-method"].to_str().unwrap(),
        h["x-path"].to_str().unwrap()
    );
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap();
    (status, tag, out, trailers)
}

/// The client's dropping its handles may send GOAWAY; no stream may have
/// been reset.
fn assert_no_reset(seen: Vec<Event>) {
    assert!(
        seen.iter().all(|e| matches!(e, Event::GoAway { .. })),
        "{seen:?}"
    );
}

fn request(method: Method, path: &str) -> Request<()> {
    Request::builder()
        .method(method)
        .uri(format!("https://example.com{path}"))
        .body(())
        .unwrap()
}

#[tokio::test]
async fn h2_client_concurrent_requests_on_one_connection() {
    let (mut send, server) = start(Config::default()).await;
    let mut pending = Vec::new();
    for i in 0..8 {
        send = send.ready().await.unwrap();
        let method = if i % 2 == 0 {
            Method::GET
        } else {
            Method::DELETE
        };
        let (resp, _) = send
            .send_request(request(method.clone(), &format!("/r/{i}")), true)
            .unwrap();
        pending.push((method, i, resp));
    }
    for (method, i, resp) in pending {
        let (status, tag, body, trailers) = read(resp).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tag, format!("{method} /r/{i}"));
        assert!(body.is_empty());
        assert!(trailers.is_none());
    }
    drop(send);
    assert_no_reset(server.await.unwrap());
}

#[tokio::test]
async fn h2_client_one_mib_body_is_streamed_back_through_small_windows() {
    let (mut send, server) = start(small_windows()).await;
    send = send.ready().await.unwrap();
    let (resp, mut body) = send
        .send_request(request(Method::POST, "/echo"), false)
        .unwrap();
    let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    // Two streams at once share the connection window.
    let (resp2, mut body2) = send
        .send_request(request(Method::PUT, "/two"), false)
        .unwrap();
    for chunk in payload.chunks(10_000) {
        body.send_data(Bytes::copy_from_slice(chunk), false)
            .unwrap();
        body2
            .send_data(Bytes::copy_from_slice(&chunk[..100]), false)
            .unwrap();
    }
    body.send_data(Bytes::new(), true).unwrap();
    body2.send_data(Bytes::new(), true).unwrap();
    let ((status, tag, echoed, _), (_, tag2, echoed2, _)) = tokio::join!(read(resp), read(resp2));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tag, "POST /echo");
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload, "body differs");
    assert_eq!(tag2, "PUT /two");
    assert_eq!(echoed2.len(), 100 * payload.chunks(10_000).count());
    drop((send, body, body2));
    assert_no_reset(server.await.unwrap());
}

#[tokio::test]
async fn h2_client_trailers_go_both_ways() {
    let (mut send, server) = start(Config::default()).await;
    send = send.ready().await.unwrap();
    let (resp, mut body) = send
        .send_request(request(Method::POST, "/t"), false)
        .unwrap();
    body.send_data(Bytes::from_static(b"payload"), false)
        .unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("c0ffee"));
    body.send_trailers(trailers.clone()).unwrap();
    let (_, tag, echoed, got) = read(resp).await;
    assert_eq!(tag, "POST /t");
    assert_eq!(echoed, b"payload");
    assert_eq!(got, Some(trailers));
    drop((send, body));
    assert_no_reset(server.await.unwrap());
}

#[tokio::test]
async fn h2_client_reset_reaches_the_application_and_the_connection_goes_on() {
    let (mut send, server) = start(Config::default()).await;
    send = send.ready().await.unwrap();
    let (resp, mut body) = send
        .send_request(request(Method::POST, "/cancel"), false)
        .unwrap();
    body.send_data(Bytes::from_static(b"partial"), false)
        .unwrap();
    // The response head arrives: the server has the stream.
    let head = resp.await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    body.send_reset(h2::Reason::CANCEL);
    drop(head);
    // Another request on the same connection still works.
    send = send.ready().await.unwrap();
    let (resp, _) = send
        .send_request(request(Method::GET, "/after"), true)
        .unwrap();
    let (_, tag, _, _) = read(resp).await;
    assert_eq!(tag, "GET /after");
    drop((send, body));
    let seen = server.await.unwrap();
    let resets: Vec<_> = seen
        .into_iter()
        .filter(|e| matches!(e, Event::Reset { .. }))
        .collect();
    assert_eq!(
        resets,
        vec![Event::Reset {
            stream: 1,
            code: ErrorCode::Cancel
        }]
    );
}

#[tokio::test]
async fn h2_client_graceful_goaway_lets_the_stream_in_flight_finish() {
    let (mut send, server) = start(Config::default()).await;
    send = send.ready().await.unwrap();
    let (resp, mut body) = send
        .send_request(request(Method::POST, "/shutdown"), false)
        .unwrap();
    body.send_data(Bytes::from_static(b"first "), false)
        .unwrap();
    // The head comes after the GOAWAY; the stream is still open.
    let resp_head = resp.await.unwrap();
    assert_eq!(resp_head.status(), StatusCode::OK);
    body.send_data(Bytes::from_static(b"second"), true).unwrap();
    let mut rbody = resp_head.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = rbody.data().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(out, b"first second");
    // The server is done once the stream finished, without the client
    // closing: the serve loop returns by itself.
    let seen = server.await.unwrap();
    assert!(seen.is_empty());
    // And the client may not open new streams.
    let refused = match send.ready().await {
        Err(_) => true,
        Ok(mut s) => s.send_request(request(Method::GET, "/late"), true).is_err(),
    };
    assert!(refused);
}
