//! Stream states (RFC 9113 §5.1): opening, half-closing from each side,
//! frames on idle and closed streams, the concurrency limit, client
//! resets and the Rapid Reset defence.

use bytes::Bytes;
use http::StatusCode;

use super::super::StreamError;
use super::*;

#[test]
fn request_then_response_closes_the_stream() {
    let mut c = Client::new(cfg());
    c.send(&headers(1, GET, true)).unwrap();
    let (head, end_stream) = c.request(1);
    assert!(end_stream);
    assert_eq!(head.method, http::Method::GET);
    assert_eq!(head.scheme.as_deref(), Some(&b"https"[..]));
    assert_eq!(head.authority.as_deref(), Some(&b"example.com"[..]));
    assert_eq!(head.path.as_deref(), Some(&b"/"[..]));
    assert_eq!(c.conn.open_streams(), 1);
    let mut h = HeaderMap::new();
    h.insert("x-a", "b".parse().unwrap());
    c.conn
        .send_response(1, StatusCode::NOT_FOUND, &h, true)
        .unwrap();
    let frames = c.frames();
    let [
        Frame::Headers {
            stream: 1,
            end_stream: true,
            end_headers: true,
            block,
            ..
        },
    ] = frames.as_slice()
    else {
        panic!("{frames:?}");
    };
    let fields = c.decode(block);
    assert_eq!(
        fields,
        vec![
            (":status".to_owned(), "404".to_owned()),
            ("x-a".to_owned(), "b".to_owned())
        ]
    );
    assert_eq!(c.conn.open_streams(), 0);
    assert_eq!(
        c.conn.send_response(1, StatusCode::OK, &h, true),
        Err(StreamError::NotOpen(1))
    );
}

#[test]
fn stream_stays_open_until_both_sides_end_it() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    c.respond(1, false);
    let mut body = Bytes::from_static(b"hi");
    c.conn.send_data(1, &mut body, true).unwrap();
    // Half-closed (local): the client may still send.
    assert_eq!(c.conn.open_streams(), 1);
    c.send(&data(1, b"body", true)).unwrap();
    assert_eq!(
        c.events(),
        vec![Event::Data {
            stream: 1,
            data: Bytes::from_static(b"body"),
            end_stream: true
        }]
    );
    assert_eq!(c.conn.open_streams(), 0);
}

#[test]
fn send_calls_in_the_wrong_order_are_refused() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    let mut body = Bytes::from_static(b"x");
    let empty = HeaderMap::new();
    assert_eq!(
        c.conn.send_data(1, &mut body, true),
        Err(StreamError::NoHead(1))
    );
    assert_eq!(c.conn.send_trailers(1, &empty), Err(StreamError::NoHead(1)));
    assert_eq!(
        c.conn.send_response(1, StatusCode::CONTINUE, &empty, true),
        Err(StreamError::InformationalEnd(1))
    );
    c.conn
        .send_response(1, StatusCode::CONTINUE, &empty, false)
        .unwrap();
    c.respond(1, false);
    assert_eq!(
        c.conn.send_response(1, StatusCode::OK, &empty, false),
        Err(StreamError::HeadSent(1))
    );
    assert_eq!(
        c.conn.send_data(3, &mut body, true),
        Err(StreamError::NotOpen(3))
    );
    assert!(body.len() == 1);
}

#[test]
fn even_stream_id_is_protocol_error() {
    let mut c = Client::new(cfg());
    c.expect_conn_error(&headers(2, GET, true), ErrorCode::ProtocolError);
}

#[test]
fn decreasing_stream_id_is_protocol_error() {
    let mut c = Client::new(cfg());
    c.open(5, GET, true);
    c.expect_conn_error(&headers(3, GET, true), ErrorCode::ProtocolError);
}

#[test]
fn data_on_idle_stream_is_protocol_error() {
    let mut c = Client::new(cfg());
    c.expect_conn_error(&data(1, b"x", false), ErrorCode::ProtocolError);
}

#[test]
fn window_update_and_rst_stream_on_idle_stream_are_protocol_errors() {
    let mut c = Client::new(cfg());
    c.expect_conn_error(&window_update(1, 10), ErrorCode::ProtocolError);
    let mut c = Client::new(cfg());
    c.expect_conn_error(&rst(1, ErrorCode::Cancel), ErrorCode::ProtocolError);
}

#[test]
fn data_on_a_closed_stream_is_stream_closed() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.respond(1, true);
    c.frames();
    c.expect_rst(&data(1, b"late", false), 1, ErrorCode::StreamClosed);
    assert!(c.events().is_empty());
}

#[test]
fn data_on_a_half_closed_remote_stream_is_stream_closed_and_reset() {
    let mut c = Client::new(cfg());
    c.open(1, POST, true);
    c.expect_rst(&data(1, b"more", true), 1, ErrorCode::StreamClosed);
    assert_eq!(
        c.events(),
        vec![Event::Reset {
            stream: 1,
            code: ErrorCode::StreamClosed
        }]
    );
    assert_eq!(c.conn.open_streams(), 0);
}

#[test]
fn headers_on_a_half_closed_remote_stream_is_stream_closed() {
    let mut c = Client::new(cfg());
    c.open(1, POST, true);
    c.expect_rst(
        &headers(1, &[("x-t", "1")], true),
        1,
        ErrorCode::StreamClosed,
    );
    assert!(matches!(
        c.events().as_slice(),
        [Event::Reset { stream: 1, .. }]
    ));
}

#[test]
fn late_frames_on_a_stream_we_reset_are_ignored() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    c.conn.reset(1, ErrorCode::Cancel);
    assert_eq!(
        c.frames(),
        vec![Frame::RstStream {
            stream: 1,
            code: ErrorCode::Cancel
        }]
    );
    let mut input = data(1, b"in flight", false);
    input.extend(headers(1, &[("x-trailer", "1")], true));
    input.extend(window_update(1, 100));
    input.extend(rst(1, ErrorCode::Cancel));
    c.send(&input).unwrap();
    assert!(c.frames().is_empty());
    assert!(c.events().is_empty());
}

#[test]
fn window_update_and_rst_stream_on_closed_stream_are_ignored() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.respond(1, true);
    c.frames();
    let mut input = window_update(1, 100);
    input.extend(rst(1, ErrorCode::Cancel));
    c.send(&input).unwrap();
    assert!(c.frames().is_empty());
    assert!(c.events().is_empty());
}

#[test]
fn streams_over_the_limit_are_refused_and_hpack_stays_in_sync() {
    let mut c = Client::new(cfg());
    for id in [1, 3, 5, 7] {
        c.open(id, POST, false);
    }
    // Stream 9 is refused; its block indexes "x-added: yes" (index 62).
    let mut b = Vec::new();
    literal(&mut b, 0x40, "x-added", "yes");
    b.extend(block(GET));
    c.expect_rst(
        &raw(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 9, &b),
        9,
        ErrorCode::RefusedStream,
    );
    assert!(c.events().is_empty());
    // Once one stream ends, stream 11 opens, referencing index 62.
    c.send(&rst(1, ErrorCode::Cancel)).unwrap();
    c.events();
    let mut b = block(GET);
    b.push(0x80 | 62);
    c.send(&raw(
        kind::HEADERS,
        flag::END_HEADERS | flag::END_STREAM,
        11,
        &b,
    ))
    .unwrap();
    let (head, _) = c.request(11);
    assert_eq!(head.headers["x-added"], "yes");
}

#[test]
fn client_reset_of_an_open_stream_is_an_event() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    c.send(&rst(1, ErrorCode::Cancel)).unwrap();
    assert_eq!(
        c.events(),
        vec![Event::Reset {
            stream: 1,
            code: ErrorCode::Cancel
        }]
    );
    assert!(c.frames().is_empty());
    assert_eq!(c.conn.open_streams(), 0);
    let mut body = Bytes::from_static(b"x");
    assert_eq!(
        c.conn.send_data(1, &mut body, true),
        Err(StreamError::NotOpen(1))
    );
}

#[test]
fn rapid_reset_past_the_limit_is_enhance_your_calm() {
    let mut c = Client::new(cfg());
    // max_pending_resets is 3: three resets are fine.
    for id in [1, 3, 5] {
        c.open(id, GET, true);
        c.send(&rst(id, ErrorCode::Cancel)).unwrap();
        c.events();
    }
    c.open(7, GET, true);
    c.expect_conn_error(&rst(7, ErrorCode::Cancel), ErrorCode::EnhanceYourCalm);
}

#[test]
fn stream_errors_the_client_causes_past_the_limit_are_enhance_your_calm() {
    let mut c = Client::new(cfg());
    // max_local_resets is 3: three malformed requests are reset.
    let malformed = [(":method", "GET"), (":scheme", "https"), (":path", "")];
    for id in [1, 3, 5] {
        c.expect_rst(&headers(id, &malformed, true), id, ErrorCode::ProtocolError);
        assert_eq!(
            c.events(),
            [Event::Refused {
                stream: id,
                reason: "empty :path"
            }]
        );
    }
    // A request answered normally does not count.
    c.open(7, GET, true);
    c.respond(7, true);
    c.expect_conn_error(&headers(9, &malformed, true), ErrorCode::EnhanceYourCalm);
}

#[test]
fn a_client_cancelling_one_stream_at_a_time_is_never_enhance_your_calm() {
    // Each stream is reset before its response and dropped by the
    // application before the next: 200 cancels, max_pending_resets 3.
    let mut c = Client::new(cfg());
    for i in 0..200 {
        let id = 2 * i + 1;
        c.open(id, GET, true);
        c.send(&rst(id, ErrorCode::Cancel)).unwrap();
        assert_eq!(
            c.events(),
            vec![Event::Reset {
                stream: id,
                code: ErrorCode::Cancel
            }]
        );
        c.conn.dropped(id);
    }
    assert!(!c.conn.is_done());
    assert!(c.frames().is_empty(), "no GOAWAY");
}

#[test]
fn resets_count_until_the_application_drops_their_streams() {
    let mut c = Client::new(cfg());
    // Four streams in flight, reset while their work still runs: three
    // are within max_pending_resets (3).
    for id in [1, 3, 5, 7] {
        c.open(id, GET, true);
    }
    for id in [1, 3, 5] {
        c.send(&rst(id, ErrorCode::Cancel)).unwrap();
    }
    c.events();
    // Dropping one makes room for one more; dropping an id that was not
    // counted (or twice) makes none.
    c.conn.dropped(3);
    c.conn.dropped(3);
    c.conn.dropped(99);
    c.send(&rst(7, ErrorCode::Cancel)).unwrap();
    c.events();
    c.open(9, GET, true);
    c.expect_conn_error(&rst(9, ErrorCode::Cancel), ErrorCode::EnhanceYourCalm);
}

#[test]
fn resets_after_the_response_ended_do_not_count() {
    let mut c = Client::new(cfg());
    let mut id = 1;
    // Nothing is dropped here: these resets never counted.
    for _ in 0..10 {
        c.open(id, POST, false);
        c.respond(id, true);
        c.send(&rst(id, ErrorCode::NoError)).unwrap();
        c.events();
        id += 2;
    }
    assert!(!c.conn.is_done());
}
