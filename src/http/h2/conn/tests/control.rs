//! The preface, SETTINGS both ways, PING, GOAWAY both ways, and the frame
//! parser's errors turned into GOAWAY or RST_STREAM.

use bytes::Bytes;

use super::*;

#[test]
fn our_settings_and_connection_window_update_are_queued_at_start() {
    let mut c = Client::bare(Config {
        connection_window: 1 << 20,
        enable_connect_protocol: true,
        ..cfg()
    });
    assert!(c.conn.wants_write());
    let frames = c.frames();
    let want = Settings {
        max_concurrent_streams: Some(4),
        initial_window_size: Some(65_535),
        max_frame_size: Some(16_384),
        max_header_list_size: Some(1024),
        enable_connect_protocol: Some(true),
        ..Settings::default()
    };
    assert_eq!(
        frames,
        vec![
            Frame::Settings(want),
            Frame::WindowUpdate {
                stream: 0,
                increment: (1 << 20) - 65_535
            }
        ]
    );
    assert!(!c.conn.wants_write());
}

#[test]
fn no_connection_window_update_at_default_window() {
    let mut c = Client::bare(cfg());
    let frames = c.frames();
    assert_eq!(frames.len(), 1);
    assert!(matches!(frames[0], Frame::Settings(_)));
}

#[test]
fn preface_and_frames_may_arrive_in_pieces() {
    let mut c = Client::bare(cfg());
    c.frames();
    let mut input = PREFACE.to_vec();
    input.extend(settings(&Settings::default()));
    let mut buf = BytesMut::new();
    for byte in input {
        buf.extend_from_slice(&[byte]);
        c.conn.recv(&mut buf).unwrap();
    }
    assert!(buf.is_empty());
    assert_eq!(c.frames(), vec![Frame::SettingsAck]);
}

#[test]
fn bad_preface_is_protocol_error() {
    let mut c = Client::bare(cfg());
    c.frames();
    c.expect_conn_error(b"GET / HTTP/1.1\r\n\r\n", ErrorCode::ProtocolError);
}

#[test]
fn first_frame_other_than_settings_is_protocol_error() {
    let mut c = Client::bare(cfg());
    c.frames();
    let mut input = PREFACE.to_vec();
    input.extend(headers(1, GET, true));
    c.expect_conn_error(&input, ErrorCode::ProtocolError);
}

#[test]
fn ping_is_answered_and_ping_ack_ignored() {
    let mut c = Client::new(cfg());
    let mut input = Vec::new();
    encode::ping(&mut input, false, *b"12345678");
    encode::ping(&mut input, true, *b"abcdefgh");
    c.send(&input).unwrap();
    assert_eq!(
        c.frames(),
        vec![Frame::Ping {
            ack: true,
            payload: *b"12345678"
        }]
    );
}

#[test]
fn client_settings_are_acknowledged_and_max_frame_size_splits_data() {
    let mut c = Client::new(Config {
        initial_window_size: 1 << 20,
        ..cfg()
    });
    c.open(1, GET, true);
    // Big windows so only the frame size limits.
    c.send(&window_update(0, 1 << 20)).unwrap();
    c.send(&window_update(1, 1 << 20)).unwrap();
    c.respond(1, false);
    let mut body = Bytes::from(vec![7u8; 40_000]);
    assert_eq!(c.conn.send_data(1, &mut body, true).unwrap(), 40_000);
    let lens = data_lens(&c.frames());
    assert_eq!(lens, vec![16_384, 16_384, 40_000 - 2 * 16_384]);

    // Now the client allows 20000-byte frames.
    c.send(&settings(&Settings {
        max_frame_size: Some(20_000),
        ..Settings::default()
    }))
    .unwrap();
    assert_eq!(c.frames(), vec![Frame::SettingsAck]);
    c.open(3, GET, true);
    c.respond(3, false);
    let mut body = Bytes::from(vec![7u8; 30_000]);
    c.conn.send_data(3, &mut body, true).unwrap();
    let lens = data_lens(&c.frames());
    assert_eq!(lens, vec![20_000, 10_000]);
}

#[test]
fn initial_window_size_change_applies_to_open_streams_and_wakes_them() {
    let mut c = Client::new(cfg());
    c.send(&window_update(0, 1 << 20)).unwrap();
    c.open(1, GET, true);
    c.respond(1, false);
    let mut body = Bytes::from(vec![1u8; 70_000]);
    assert_eq!(c.conn.send_data(1, &mut body, false).unwrap(), 65_535);
    assert_eq!(body.len(), 70_000 - 65_535);
    c.frames();
    // Lowering the window makes it negative: nothing can be sent.
    c.send(&settings(&Settings {
        initial_window_size: Some(1000),
        ..Settings::default()
    }))
    .unwrap();
    assert!(c.events().is_empty());
    assert_eq!(c.conn.send_data(1, &mut body, false).unwrap(), 0);
    // Raising it by 70000 leaves 1000 - 65535 + 70000 = 5465 bytes.
    c.send(&settings(&Settings {
        initial_window_size: Some(71_000),
        ..Settings::default()
    }))
    .unwrap();
    assert_eq!(c.events(), vec![Event::Capacity { stream: 1 }]);
    assert_eq!(c.conn.send_data(1, &mut body, true).unwrap(), 4465);
    assert!(body.is_empty());
}

#[test]
fn initial_window_size_overflowing_a_stream_window_is_flow_control_error() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.send(&window_update(1, frame::MAX_WINDOW_SIZE - 65_535))
        .unwrap();
    c.expect_conn_error(
        &settings(&Settings {
            initial_window_size: Some(65_536),
            ..Settings::default()
        }),
        ErrorCode::FlowControlError,
    );
}

#[test]
fn client_goaway_is_an_event_and_done_once_streams_end() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    let mut input = Vec::new();
    encode::goaway(&mut input, 0, ErrorCode::NoError, b"bye");
    c.send(&input).unwrap();
    assert_eq!(
        c.events(),
        vec![Event::GoAway {
            last_stream: 0,
            code: ErrorCode::NoError
        }]
    );
    assert!(!c.conn.is_done());
    c.respond(1, true);
    assert!(c.conn.is_done());
}

#[test]
fn frame_parser_connection_error_is_goaway_with_its_code() {
    let mut c = Client::new(cfg());
    // A PING of 7 bytes.
    c.expect_conn_error(&raw(kind::PING, 0, 0, &[0; 7]), ErrorCode::FrameSizeError);
    let mut c = Client::new(cfg());
    // A frame over our SETTINGS_MAX_FRAME_SIZE.
    let big = vec![0u8; 16_385];
    c.expect_conn_error(&data(1, &big, false), ErrorCode::FrameSizeError);
}

#[test]
fn frame_parser_stream_error_resets_an_open_stream() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    // A PRIORITY of 4 bytes: a stream error FRAME_SIZE_ERROR.
    c.expect_rst(
        &raw(kind::PRIORITY, 0, 1, &[0; 4]),
        1,
        ErrorCode::FrameSizeError,
    );
    assert_eq!(
        c.events(),
        vec![Event::Reset {
            stream: 1,
            code: ErrorCode::FrameSizeError
        }]
    );
    assert_eq!(c.conn.open_streams(), 0);
    // On an idle stream it is a connection error (no RST_STREAM on idle
    // streams).
    c.expect_conn_error(
        &raw(kind::PRIORITY, 0, 9, &[0; 4]),
        ErrorCode::FrameSizeError,
    );
}

#[test]
fn unknown_frames_and_priority_are_ignored() {
    let mut c = Client::new(cfg());
    let mut input = raw(0xfa, 0, 0, b"whatever");
    input.extend(raw(kind::PRIORITY, 0, 7, &[0, 0, 0, 0, 15]));
    c.send(&input).unwrap();
    assert!(c.frames().is_empty());
    // PRIORITY on idle stream 7 did not open it: stream 3 still may.
    c.open(3, GET, true);
}

#[test]
fn graceful_go_away_finishes_open_streams_and_ignores_new_ones() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    c.conn.go_away(ErrorCode::NoError);
    assert_eq!(
        c.frames(),
        vec![Frame::GoAway {
            last_stream: 1,
            code: ErrorCode::NoError,
            debug: Bytes::new()
        }]
    );
    // A second graceful call does nothing.
    c.conn.go_away(ErrorCode::NoError);
    assert!(c.frames().is_empty());
    // A new stream is ignored, but its block still goes through HPACK:
    // the indexed field it adds is used by the next block on stream 1.
    let mut b = Vec::new();
    literal(&mut b, 0x40, "x-added", "yes");
    b.extend(super::block(GET));
    c.send(&raw(
        kind::HEADERS,
        flag::END_HEADERS | flag::END_STREAM,
        3,
        &b,
    ))
    .unwrap();
    c.send(&data(3, b"ignored", true)).unwrap();
    assert!(c.events().is_empty());
    assert!(c.frames().is_empty());
    // Trailers on stream 1 reference the field stream 3 indexed (62).
    c.send(&raw(
        kind::HEADERS,
        flag::END_HEADERS | flag::END_STREAM,
        1,
        &[0x80 | 62],
    ))
    .unwrap();
    let events = c.events();
    match events.as_slice() {
        [
            Event::Trailers {
                stream: 1,
                trailers,
            },
        ] => {
            assert_eq!(trailers["x-added"], "yes");
        }
        other => panic!("{other:?}"),
    }
    assert!(!c.conn.is_done());
    c.respond(1, true);
    assert!(c.conn.is_done());
    assert_eq!(c.conn.open_streams(), 0);
}

#[test]
fn two_step_drain_serves_requests_in_flight_then_names_the_last() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.conn.drain();
    let frames = c.frames();
    assert_eq!(
        frames,
        vec![
            Frame::GoAway {
                last_stream: 0x7fff_ffff,
                code: ErrorCode::NoError,
                debug: Bytes::new()
            },
            Frame::Ping {
                ack: false,
                payload: *b"sy-drain"
            }
        ]
    );
    // A second call adds nothing while the PING is out...
    c.conn.drain();
    assert!(c.frames().is_empty());
    // ...and a request the client sent before it saw the GOAWAY is served.
    c.open(3, GET, true);
    assert!(!c.conn.is_done());
    // Another PING's ACK is not the one.
    let mut ack = Vec::new();
    encode::ping(&mut ack, true, *b"12345678");
    c.send(&ack).unwrap();
    assert!(c.frames().is_empty());
    let Frame::Ping { payload, .. } = frames[1] else {
        unreachable!()
    };
    let mut ack = Vec::new();
    encode::ping(&mut ack, true, payload);
    c.send(&ack).unwrap();
    assert_eq!(
        c.frames(),
        vec![Frame::GoAway {
            last_stream: 3,
            code: ErrorCode::NoError,
            debug: Bytes::new()
        }]
    );
    // From here new streams are ignored; the connection is done when the
    // open ones end.
    c.send(&headers(5, GET, true)).unwrap();
    assert!(c.events().is_empty());
    c.respond(1, true);
    assert!(!c.conn.is_done());
    c.respond(3, true);
    assert!(c.conn.is_done());
}

#[test]
fn a_drain_whose_ping_is_not_answered_is_finished_by_the_caller() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.conn.drain();
    c.frames();
    c.conn.finish_drain();
    assert_eq!(
        c.frames(),
        vec![Frame::GoAway {
            last_stream: 1,
            code: ErrorCode::NoError,
            debug: Bytes::new()
        }]
    );
    c.conn.finish_drain();
    assert!(c.frames().is_empty());
    c.respond(1, true);
    assert!(c.conn.is_done());
}

#[test]
fn go_away_with_an_error_ends_the_connection() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.conn.go_away(ErrorCode::InternalError);
    assert!(c.conn.is_done());
    assert!(matches!(
        c.frames().as_slice(),
        [Frame::GoAway {
            last_stream: 1,
            code: ErrorCode::InternalError,
            ..
        }]
    ));
    assert_eq!(
        c.conn
            .send_response(1, http::StatusCode::OK, &HeaderMap::new(), true),
        Err(super::super::StreamError::ConnectionClosed)
    );
    assert!(c.send(&headers(3, GET, true)).is_err());
}

/// The payload lengths of the DATA frames among `frames`.
fn data_lens(frames: &[Frame]) -> Vec<usize> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Data { data, .. } => Some(data.len()),
            _ => None,
        })
        .collect()
}
