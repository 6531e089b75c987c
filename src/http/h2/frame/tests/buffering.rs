//! Partial input, several frames in one buffer, and byte fields sharing
//! the read buffer's allocation.

use super::*;

// --- buffering and zero copy ----------------------------------------------

/// A sequence of valid frames of several types, and where each ends.
fn sequence() -> (Vec<u8>, Vec<usize>) {
    let mut v = Vec::new();
    let mut ends = Vec::new();
    encode::settings(
        &mut v,
        &Settings {
            max_concurrent_streams: Some(10),
            ..Settings::default()
        },
    );
    ends.push(v.len());
    let mut payload = vec![1u8];
    payload.extend_from_slice(&prio(0, false, 3));
    payload.extend_from_slice(b"\x82\x86\0");
    v.extend_from_slice(&raw(
        kind::HEADERS,
        flag::PADDED | flag::PRIORITY,
        1,
        &payload,
    ));
    ends.push(v.len());
    v.extend_from_slice(&raw(kind::CONTINUATION, flag::END_HEADERS, 1, b"\x84"));
    ends.push(v.len());
    encode::data_head(&mut v, 1, 5, true);
    v.extend_from_slice(b"hello");
    ends.push(v.len());
    encode::window_update(&mut v, 0, 1000);
    ends.push(v.len());
    encode::goaway(&mut v, 1, ErrorCode::NoError, b"done");
    ends.push(v.len());
    (v, ends)
}

#[test]
fn every_prefix_parses_its_whole_frames_and_leaves_the_rest_untouched() {
    let (input, ends) = sequence();
    for cut in 0..=input.len() {
        let mut buf = BytesMut::from(&input[..cut]);
        let mut frames = 0;
        while let Some(_frame) = parse(&mut buf, MAX).unwrap() {
            frames += 1;
        }
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(frames, whole, "cut {cut}");
        let start = ends.get(whole.wrapping_sub(1)).copied().unwrap_or(0);
        assert_eq!(&buf[..], &input[start..cut], "cut {cut}: buffer touched");
    }
}

#[test]
fn several_frames_in_one_buffer_are_parsed_in_order() {
    let (input, _) = sequence();
    let frames = all(&input[..]);
    assert_eq!(
        frames,
        vec![
            Frame::Settings(Settings {
                max_concurrent_streams: Some(10),
                ..Settings::default()
            }),
            Frame::Headers {
                stream: 1,
                end_stream: false,
                end_headers: false,
                priority: Some(Priority {
                    dependency: 0,
                    exclusive: false,
                    weight: 3
                }),
                block: Bytes::from_static(b"\x82\x86"),
            },
            Frame::Continuation {
                stream: 1,
                end_headers: true,
                block: Bytes::from_static(b"\x84")
            },
            Frame::Data {
                stream: 1,
                end_stream: true,
                data: Bytes::from_static(b"hello"),
                flow_len: 5
            },
            Frame::WindowUpdate {
                stream: 0,
                increment: 1000
            },
            Frame::GoAway {
                last_stream: 1,
                code: ErrorCode::NoError,
                debug: Bytes::from_static(b"done")
            },
        ]
    );
}

#[test]
fn byte_fields_point_into_the_read_buffer() {
    let (input, _) = sequence();
    let mut buf = BytesMut::from(&input[..]);
    let base = buf.as_ptr() as usize;
    let range = base..base + input.len();
    let inside = |b: &Bytes| {
        assert!(!b.is_empty());
        let p = b.as_ptr() as usize;
        assert!(range.contains(&p) && p + b.len() <= range.end, "copied");
        assert_eq!(&input[p - base..p - base + b.len()], &b[..]);
    };
    let mut seen = 0;
    while let Some(frame) = parse(&mut buf, MAX).unwrap() {
        match &frame {
            Frame::Data { data: b, .. }
            | Frame::Headers { block: b, .. }
            | Frame::Continuation { block: b, .. }
            | Frame::GoAway { debug: b, .. } => {
                inside(b);
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 4);
}
