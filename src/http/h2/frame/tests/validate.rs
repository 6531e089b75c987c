//! Every check the parser makes on a single frame: the error code, and
//! whether it is a connection or a stream error.

use super::*;

// --- frame size and header ------------------------------------------------

#[test]
fn frame_larger_than_max_is_refused_from_the_header_alone() {
    let mut header = Vec::new();
    encode::head(&mut header, MAX as usize + 1, kind::DATA, 0, 1);
    assert_conn(&header, ErrorCode::FrameSizeError);
    // Same for a larger announced maximum.
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(parse(&mut buf, MAX + 1), Ok(None));
    let e = parse(&mut buf, MAX).unwrap_err();
    assert_eq!((e.code, e.stream), (ErrorCode::FrameSizeError, None));
}

#[test]
fn frame_of_exactly_max_size_is_accepted() {
    let payload = vec![7u8; MAX as usize];
    let frame = one(&raw(kind::DATA, 0, 1, &payload));
    assert!(
        matches!(frame, Frame::Data { data, flow_len, .. } if data.len() == MAX as usize && flow_len == MAX)
    );
}

#[test]
fn reserved_bit_of_the_stream_id_is_ignored() {
    let mut input = raw(kind::DATA, 0, 5, b"x");
    input[5] |= 0x80;
    assert!(matches!(one(&input), Frame::Data { stream: 5, .. }));
    let mut input = raw(kind::SETTINGS, flag::ACK, 0, b"");
    input[5] |= 0x80; // stream 0 with the R bit is still stream 0
    assert_eq!(one(&input), Frame::SettingsAck);
}

// --- DATA -----------------------------------------------------------------

#[test]
fn data_on_stream_0_is_connection_protocol_error() {
    assert_conn(&raw(kind::DATA, 0, 0, b"abc"), ErrorCode::ProtocolError);
}

#[test]
fn data_padding_is_removed_and_flow_len_counts_it() {
    let frame = one(&raw(
        kind::DATA,
        flag::PADDED | flag::END_STREAM,
        3,
        b"\x03abc\0\0\0",
    ));
    assert_eq!(
        frame,
        Frame::Data {
            stream: 3,
            end_stream: true,
            data: Bytes::from_static(b"abc"),
            flow_len: 7
        }
    );
}

#[test]
fn data_padding_filling_all_but_the_pad_length_leaves_empty_data() {
    let frame = one(&raw(kind::DATA, flag::PADDED, 1, b"\x02\0\0"));
    assert!(
        matches!(frame, Frame::Data { data, flow_len: 3, end_stream: false, .. } if data.is_empty())
    );
}

#[test]
fn data_pad_length_equal_to_payload_length_is_connection_protocol_error() {
    assert_conn(
        &raw(kind::DATA, flag::PADDED, 1, b"\x03\0\0"),
        ErrorCode::ProtocolError,
    );
    assert_conn(
        &raw(kind::DATA, flag::PADDED, 1, b"\xff"),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn data_padded_without_pad_length_byte_is_connection_frame_size_error() {
    assert_conn(
        &raw(kind::DATA, flag::PADDED, 1, b""),
        ErrorCode::FrameSizeError,
    );
}

// --- HEADERS --------------------------------------------------------------

#[test]
fn headers_on_stream_0_is_connection_protocol_error() {
    assert_conn(
        &raw(kind::HEADERS, flag::END_HEADERS, 0, b"\x82"),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn headers_padding_and_priority_are_removed_from_the_block() {
    let mut payload = vec![2u8];
    payload.extend_from_slice(&prio(1, true, 15));
    payload.extend_from_slice(b"\x82\x86\0\0");
    let flags = flag::PADDED | flag::PRIORITY | flag::END_HEADERS | flag::END_STREAM;
    assert_eq!(
        one(&raw(kind::HEADERS, flags, 3, &payload)),
        Frame::Headers {
            stream: 3,
            end_stream: true,
            end_headers: true,
            priority: Some(Priority {
                dependency: 1,
                exclusive: true,
                weight: 15
            }),
            block: Bytes::from_static(b"\x82\x86"),
        }
    );
}

#[test]
fn headers_priority_without_padding_is_parsed() {
    let mut payload = prio(0x7fff_ffff, false, 255).to_vec();
    payload.push(0x82);
    let frame = one(&raw(kind::HEADERS, flag::PRIORITY, 1, &payload));
    assert_eq!(
        frame,
        Frame::Headers {
            stream: 1,
            end_stream: false,
            end_headers: false,
            priority: Some(Priority {
                dependency: 0x7fff_ffff,
                exclusive: false,
                weight: 255
            }),
            block: Bytes::from_static(b"\x82"),
        }
    );
}

#[test]
fn headers_padding_too_long_is_connection_protocol_error() {
    // Pad length equal to the payload length.
    assert_conn(
        &raw(kind::HEADERS, flag::PADDED, 1, b"\x03\x82\0"),
        ErrorCode::ProtocolError,
    );
    // Padding that would overlap the priority.
    let mut payload = vec![1u8];
    payload.extend_from_slice(&prio(0, false, 0));
    assert_conn(
        &raw(kind::HEADERS, flag::PADDED | flag::PRIORITY, 1, &payload),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn headers_too_short_for_pad_length_or_priority_is_connection_frame_size_error() {
    assert_conn(
        &raw(kind::HEADERS, flag::PADDED, 1, b""),
        ErrorCode::FrameSizeError,
    );
    assert_conn(
        &raw(kind::HEADERS, flag::PRIORITY, 1, b"\0\0\0\0"),
        ErrorCode::FrameSizeError,
    );
    assert_conn(
        &raw(
            kind::HEADERS,
            flag::PRIORITY | flag::PADDED,
            1,
            b"\0\0\0\0\0",
        ),
        ErrorCode::FrameSizeError,
    );
}

/// RFC 9113 §5.3.1 makes this a stream error; the parser makes it a
/// connection error (§5.4.1 allows it) because the field block would
/// otherwise be dropped without going through HPACK.
#[test]
fn headers_depending_on_its_own_stream_is_connection_protocol_error() {
    let mut payload = prio(5, false, 0).to_vec();
    payload.push(0x82);
    assert_conn(
        &raw(
            kind::HEADERS,
            flag::PRIORITY | flag::END_HEADERS,
            5,
            &payload,
        ),
        ErrorCode::ProtocolError,
    );
}

// --- PRIORITY -------------------------------------------------------------

#[test]
fn priority_is_parsed() {
    assert_eq!(
        one(&raw(kind::PRIORITY, 0, 7, &prio(3, true, 9))),
        Frame::Priority {
            stream: 7,
            priority: Priority {
                dependency: 3,
                exclusive: true,
                weight: 9
            }
        }
    );
}

#[test]
fn priority_on_stream_0_is_connection_protocol_error() {
    assert_conn(
        &raw(kind::PRIORITY, 0, 0, &prio(3, false, 0)),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn priority_of_wrong_length_is_stream_frame_size_error() {
    assert_stream(
        &raw(kind::PRIORITY, 0, 3, b"\0\0\0\x01"),
        3,
        ErrorCode::FrameSizeError,
    );
    assert_stream(
        &raw(kind::PRIORITY, 0, 3, b"\0\0\0\x01\0\0"),
        3,
        ErrorCode::FrameSizeError,
    );
}

#[test]
fn priority_stream_error_waits_for_the_whole_frame() {
    let input = raw(kind::PRIORITY, 0, 3, b"\0\0\0\x01\0\0");
    let mut buf = BytesMut::from(&input[..input.len() - 1]);
    assert_eq!(parse(&mut buf, MAX), Ok(None));
    assert_eq!(&buf[..], &input[..input.len() - 1]);
}

#[test]
fn priority_depending_on_its_own_stream_is_stream_protocol_error() {
    assert_stream(
        &raw(kind::PRIORITY, 0, 9, &prio(9, false, 0)),
        9,
        ErrorCode::ProtocolError,
    );
}

// --- RST_STREAM -----------------------------------------------------------

#[test]
fn rst_stream_is_parsed_with_known_and_unknown_codes() {
    assert_eq!(
        one(&raw(kind::RST_STREAM, 0, 1, &8u32.to_be_bytes())),
        Frame::RstStream {
            stream: 1,
            code: ErrorCode::Cancel
        }
    );
    assert_eq!(
        one(&raw(kind::RST_STREAM, 0, 1, &0x1234u32.to_be_bytes())),
        Frame::RstStream {
            stream: 1,
            code: ErrorCode::Other(0x1234)
        }
    );
}

#[test]
fn rst_stream_on_stream_0_is_connection_protocol_error() {
    assert_conn(
        &raw(kind::RST_STREAM, 0, 0, &[0; 4]),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn rst_stream_of_wrong_length_is_connection_frame_size_error() {
    assert_conn(
        &raw(kind::RST_STREAM, 0, 1, &[0; 3]),
        ErrorCode::FrameSizeError,
    );
    assert_conn(
        &raw(kind::RST_STREAM, 0, 1, &[0; 5]),
        ErrorCode::FrameSizeError,
    );
}

// --- SETTINGS -------------------------------------------------------------

#[test]
fn settings_every_known_parameter_is_parsed() {
    let frame = one(&settings_frame(&[
        (1, 4096),
        (2, 0),
        (3, 100),
        (4, 65535),
        (5, 16384),
        (6, 8192),
        (8, 1),
    ]));
    assert_eq!(
        frame,
        Frame::Settings(Settings {
            header_table_size: Some(4096),
            enable_push: Some(false),
            max_concurrent_streams: Some(100),
            initial_window_size: Some(65535),
            max_frame_size: Some(16384),
            max_header_list_size: Some(8192),
            enable_connect_protocol: Some(true),
        })
    );
}

#[test]
fn settings_empty_and_ack_are_parsed() {
    assert_eq!(
        one(&settings_frame(&[])),
        Frame::Settings(Settings::default())
    );
    assert_eq!(
        one(&raw(kind::SETTINGS, flag::ACK, 0, b"")),
        Frame::SettingsAck
    );
}

#[test]
fn settings_unknown_parameters_are_ignored() {
    let frame = one(&settings_frame(&[(0x9, 1), (0xffff, 7), (0, 3), (3, 10)]));
    let expected = Settings {
        max_concurrent_streams: Some(10),
        ..Settings::default()
    };
    assert_eq!(frame, Frame::Settings(expected));
}

#[test]
fn settings_repeated_parameter_last_one_wins() {
    let frame = one(&settings_frame(&[(4, 10), (1, 0), (4, 20)]));
    let expected = Settings {
        initial_window_size: Some(20),
        header_table_size: Some(0),
        ..Settings::default()
    };
    assert_eq!(frame, Frame::Settings(expected));
}

#[test]
fn settings_on_a_stream_is_connection_protocol_error() {
    assert_conn(&raw(kind::SETTINGS, 0, 1, b""), ErrorCode::ProtocolError);
    assert_conn(
        &raw(kind::SETTINGS, flag::ACK, 1, b""),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn settings_ack_with_payload_is_connection_frame_size_error() {
    assert_conn(
        &raw(kind::SETTINGS, flag::ACK, 0, &setting(1, 0)),
        ErrorCode::FrameSizeError,
    );
}

#[test]
fn settings_length_not_multiple_of_6_is_connection_frame_size_error() {
    assert_conn(
        &raw(kind::SETTINGS, 0, 0, &[0; 5]),
        ErrorCode::FrameSizeError,
    );
    assert_conn(
        &raw(kind::SETTINGS, 0, 0, &[0; 7]),
        ErrorCode::FrameSizeError,
    );
}

#[test]
fn settings_enable_push_not_0_or_1_is_connection_protocol_error() {
    assert_conn(&settings_frame(&[(2, 2)]), ErrorCode::ProtocolError);
    assert!(matches!(
        one(&settings_frame(&[(2, 1)])),
        Frame::Settings(Settings {
            enable_push: Some(true),
            ..
        })
    ));
}

#[test]
fn settings_initial_window_size_above_2_31_minus_1_is_connection_flow_control_error() {
    assert_conn(
        &settings_frame(&[(4, 1 << 31)]),
        ErrorCode::FlowControlError,
    );
    assert_conn(
        &settings_frame(&[(4, u32::MAX)]),
        ErrorCode::FlowControlError,
    );
    let ok = one(&settings_frame(&[(4, (1 << 31) - 1)]));
    assert!(matches!(
        ok,
        Frame::Settings(Settings {
            initial_window_size: Some(0x7fff_ffff),
            ..
        })
    ));
}

#[test]
fn settings_max_frame_size_out_of_range_is_connection_protocol_error() {
    assert_conn(&settings_frame(&[(5, 16383)]), ErrorCode::ProtocolError);
    assert_conn(&settings_frame(&[(5, 1 << 24)]), ErrorCode::ProtocolError);
    assert_conn(&settings_frame(&[(5, 0)]), ErrorCode::ProtocolError);
    let ok = one(&settings_frame(&[(5, (1 << 24) - 1)]));
    assert!(matches!(
        ok,
        Frame::Settings(Settings {
            max_frame_size: Some(0xff_ffff),
            ..
        })
    ));
}

#[test]
fn settings_enable_connect_protocol_not_0_or_1_is_connection_protocol_error() {
    assert_conn(&settings_frame(&[(8, 2)]), ErrorCode::ProtocolError);
    let ok = one(&settings_frame(&[(8, 0)]));
    assert!(matches!(
        ok,
        Frame::Settings(Settings {
            enable_connect_protocol: Some(false),
            ..
        })
    ));
}

// --- PUSH_PROMISE, PING, GOAWAY ---------------------------------------------

#[test]
fn push_promise_is_connection_protocol_error_from_the_header_alone() {
    let input = raw(
        kind::PUSH_PROMISE,
        flag::END_HEADERS,
        1,
        &[0, 0, 0, 2, 0x82],
    );
    assert_conn(&input, ErrorCode::ProtocolError);
    assert_conn(&input[..9], ErrorCode::ProtocolError);
}

#[test]
fn ping_and_ping_ack_are_parsed() {
    assert_eq!(
        one(&raw(kind::PING, 0, 0, b"12345678")),
        Frame::Ping {
            ack: false,
            payload: *b"12345678"
        }
    );
    assert_eq!(
        one(&raw(kind::PING, flag::ACK, 0, b"abcdefgh")),
        Frame::Ping {
            ack: true,
            payload: *b"abcdefgh"
        }
    );
}

#[test]
fn ping_on_a_stream_is_connection_protocol_error() {
    assert_conn(&raw(kind::PING, 0, 1, &[0; 8]), ErrorCode::ProtocolError);
}

#[test]
fn ping_of_wrong_length_is_connection_frame_size_error() {
    assert_conn(&raw(kind::PING, 0, 0, &[0; 7]), ErrorCode::FrameSizeError);
    assert_conn(&raw(kind::PING, 0, 0, &[0; 9]), ErrorCode::FrameSizeError);
}

#[test]
fn goaway_is_parsed_with_debug_data_and_reserved_bit_cleared() {
    let mut payload = (0x8000_0007u32).to_be_bytes().to_vec();
    payload.extend_from_slice(&2u32.to_be_bytes());
    payload.extend_from_slice(b"bye");
    assert_eq!(
        one(&raw(kind::GOAWAY, 0, 0, &payload)),
        Frame::GoAway {
            last_stream: 7,
            code: ErrorCode::InternalError,
            debug: Bytes::from_static(b"bye")
        }
    );
}

#[test]
fn goaway_on_a_stream_is_connection_protocol_error() {
    assert_conn(&raw(kind::GOAWAY, 0, 1, &[0; 8]), ErrorCode::ProtocolError);
}

#[test]
fn goaway_shorter_than_8_is_connection_frame_size_error() {
    assert_conn(&raw(kind::GOAWAY, 0, 0, &[0; 7]), ErrorCode::FrameSizeError);
}

// --- WINDOW_UPDATE, CONTINUATION, unknown -------------------------------------

#[test]
fn window_update_is_parsed_with_reserved_bit_cleared() {
    assert_eq!(
        one(&raw(
            kind::WINDOW_UPDATE,
            0,
            0,
            &0x8000_0001u32.to_be_bytes()
        )),
        Frame::WindowUpdate {
            stream: 0,
            increment: 1
        }
    );
    assert_eq!(
        one(&raw(
            kind::WINDOW_UPDATE,
            0,
            3,
            &0x7fff_ffffu32.to_be_bytes()
        )),
        Frame::WindowUpdate {
            stream: 3,
            increment: 0x7fff_ffff
        }
    );
}

#[test]
fn window_update_of_wrong_length_is_connection_frame_size_error() {
    for stream in [0, 1] {
        assert_conn(
            &raw(kind::WINDOW_UPDATE, 0, stream, &[0, 0, 1]),
            ErrorCode::FrameSizeError,
        );
        assert_conn(
            &raw(kind::WINDOW_UPDATE, 0, stream, &[0, 0, 0, 1, 0]),
            ErrorCode::FrameSizeError,
        );
    }
}

#[test]
fn window_update_zero_increment_on_stream_0_is_connection_protocol_error() {
    assert_conn(
        &raw(kind::WINDOW_UPDATE, 0, 0, &[0; 4]),
        ErrorCode::ProtocolError,
    );
    // Only the reserved bit set: still an increment of 0.
    assert_conn(
        &raw(kind::WINDOW_UPDATE, 0, 0, &[0x80, 0, 0, 0]),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn window_update_zero_increment_on_a_stream_is_stream_protocol_error() {
    assert_stream(
        &raw(kind::WINDOW_UPDATE, 0, 5, &[0; 4]),
        5,
        ErrorCode::ProtocolError,
    );
}

#[test]
fn continuation_is_parsed() {
    assert_eq!(
        one(&raw(kind::CONTINUATION, flag::END_HEADERS, 3, b"\x84")),
        Frame::Continuation {
            stream: 3,
            end_headers: true,
            block: Bytes::from_static(b"\x84")
        }
    );
    assert_eq!(
        one(&raw(kind::CONTINUATION, 0, 3, b"")),
        Frame::Continuation {
            stream: 3,
            end_headers: false,
            block: Bytes::new()
        }
    );
}

#[test]
fn continuation_on_stream_0_is_connection_protocol_error() {
    assert_conn(
        &raw(kind::CONTINUATION, flag::END_HEADERS, 0, b"\x84"),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn unknown_frame_type_is_skipped_and_returned() {
    let mut input = raw(0x10, 0xff, 0, b"whatever payload");
    input.extend_from_slice(&raw(0xfa, 0, 9, b""));
    input.extend_from_slice(&raw(kind::PING, 0, 0, b"12345678"));
    let mut buf = BytesMut::from(&input[..]);
    assert_eq!(
        parse(&mut buf, MAX),
        Ok(Some(Frame::Unknown {
            kind: 0x10,
            stream: 0
        }))
    );
    assert_eq!(
        parse(&mut buf, MAX),
        Ok(Some(Frame::Unknown {
            kind: 0xfa,
            stream: 9
        }))
    );
    assert!(matches!(parse(&mut buf, MAX), Ok(Some(Frame::Ping { .. }))));
    assert_eq!(parse(&mut buf, MAX), Ok(None));
}

#[test]
fn unknown_frame_larger_than_max_is_connection_frame_size_error() {
    let mut header = Vec::new();
    encode::head(&mut header, MAX as usize + 1, 0x20, 0, 0);
    assert_conn(&header, ErrorCode::FrameSizeError);
}
