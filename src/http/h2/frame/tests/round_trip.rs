//! Encoders: encode → parse round trips for every frame type, and HEADERS
//! split into CONTINUATION frames at the peer's maximum frame size.

use super::*;

// --- encode → parse round trips ---------------------------------------------

#[test]
fn every_encoder_round_trips_through_the_parser() {
    let settings = Settings {
        header_table_size: Some(0),
        enable_push: Some(false),
        max_concurrent_streams: Some(128),
        initial_window_size: Some(1 << 20),
        max_frame_size: Some(1 << 16),
        max_header_list_size: Some(16 << 10),
        enable_connect_protocol: Some(true),
    };
    let mut v = Vec::new();
    encode::settings(&mut v, &settings);
    encode::settings(&mut v, &Settings::default());
    encode::settings_ack(&mut v);
    encode::headers(&mut v, 1, b"\x82\x87", false, MAX as usize);
    encode::data_head(&mut v, 1, 3, false);
    v.extend_from_slice(b"abc");
    encode::data_head(&mut v, 1, 0, true);
    encode::ping(&mut v, true, *b"pingpong");
    encode::rst_stream(&mut v, 3, ErrorCode::RefusedStream);
    encode::window_update(&mut v, 1, 0x7fff_ffff);
    encode::goaway(&mut v, 0x7fff_ffff, ErrorCode::Other(0xbeef), b"");
    encode::head(&mut v, 5, kind::PRIORITY, 0, 11);
    v.extend_from_slice(&prio(9, true, 200));
    encode::head(&mut v, 1, kind::CONTINUATION, 0, 1);
    v.push(0x40);
    encode::head(&mut v, 0, 0x42, 0, 2);
    let frames = all(&v[..]);
    assert_eq!(
        frames,
        vec![
            Frame::Settings(settings),
            Frame::Settings(Settings::default()),
            Frame::SettingsAck,
            Frame::Headers {
                stream: 1,
                end_stream: false,
                end_headers: true,
                priority: None,
                block: Bytes::from_static(b"\x82\x87"),
            },
            Frame::Data {
                stream: 1,
                end_stream: false,
                data: Bytes::from_static(b"abc"),
                flow_len: 3
            },
            Frame::Data {
                stream: 1,
                end_stream: true,
                data: Bytes::new(),
                flow_len: 0
            },
            Frame::Ping {
                ack: true,
                payload: *b"pingpong"
            },
            Frame::RstStream {
                stream: 3,
                code: ErrorCode::RefusedStream
            },
            Frame::WindowUpdate {
                stream: 1,
                increment: 0x7fff_ffff
            },
            Frame::GoAway {
                last_stream: 0x7fff_ffff,
                code: ErrorCode::Other(0xbeef),
                debug: Bytes::new()
            },
            Frame::Priority {
                stream: 11,
                priority: Priority {
                    dependency: 9,
                    exclusive: true,
                    weight: 200
                }
            },
            Frame::Continuation {
                stream: 1,
                end_headers: false,
                block: Bytes::from_static(b"\x40")
            },
            Frame::Unknown {
                kind: 0x42,
                stream: 2
            },
        ]
    );
}

/// Encodes `block` with `encode::headers` and parses the frames back.
fn split(block: &[u8], end_stream: bool, max: usize) -> Vec<Frame> {
    let mut v = Vec::new();
    encode::headers(&mut v, 5, block, end_stream, max);
    let mut buf = BytesMut::from(&v[..]);
    let mut frames = Vec::new();
    while let Some(frame) = parse(&mut buf, max as u32).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty());
    frames
}

#[test]
fn headers_block_of_exactly_max_frame_size_is_one_frame() {
    let block: Vec<u8> = (0..MAX).map(|i| i as u8).collect();
    let frames = split(&block, true, MAX as usize);
    assert_eq!(
        frames,
        vec![Frame::Headers {
            stream: 5,
            end_stream: true,
            end_headers: true,
            priority: None,
            block: Bytes::from(block),
        }]
    );
}

#[test]
fn headers_block_of_max_plus_1_takes_one_continuation() {
    let block: Vec<u8> = (0..=MAX).map(|i| i as u8).collect();
    let frames = split(&block, true, MAX as usize);
    let (first, last) = block.split_at(MAX as usize);
    assert_eq!(
        frames,
        vec![
            Frame::Headers {
                stream: 5,
                end_stream: true,
                end_headers: false,
                priority: None,
                block: Bytes::copy_from_slice(first),
            },
            Frame::Continuation {
                stream: 5,
                end_headers: true,
                block: Bytes::copy_from_slice(last)
            },
        ]
    );
}

#[test]
fn headers_block_split_sets_end_headers_on_the_last_frame_only() {
    let block: Vec<u8> = (0..2 * MAX + 1).map(|i| (i % 251) as u8).collect();
    let frames = split(&block, false, MAX as usize);
    let mut joined = Vec::new();
    let flags: Vec<(u8, bool)> = frames
        .iter()
        .map(|f| match f {
            Frame::Headers {
                end_stream: false,
                end_headers,
                block,
                ..
            } => {
                joined.extend_from_slice(block);
                (kind::HEADERS, *end_headers)
            }
            Frame::Continuation {
                end_headers, block, ..
            } => {
                joined.extend_from_slice(block);
                (kind::CONTINUATION, *end_headers)
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            (kind::HEADERS, false),
            (kind::CONTINUATION, false),
            (kind::CONTINUATION, true)
        ]
    );
    assert_eq!(joined, block);
}

#[test]
fn headers_empty_block_is_one_frame_with_end_headers() {
    assert_eq!(
        split(b"", false, MAX as usize),
        vec![Frame::Headers {
            stream: 5,
            end_stream: false,
            end_headers: true,
            priority: None,
            block: Bytes::new(),
        }]
    );
}

#[test]
fn head_encodes_length_type_flags_and_stream_big_endian() {
    let mut v = Vec::new();
    encode::head(&mut v, 0x01_0203, 0x04, 0x05, 0x8607_0809);
    assert_eq!(v, [1, 2, 3, 4, 5, 0x06, 7, 8, 9]);
}
