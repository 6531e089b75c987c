//! The HTTP/2 frame parser (`http::h2::frame::parse`) over arbitrary input,
//! frame after frame, with our `SETTINGS_MAX_FRAME_SIZE` taken from the
//! first byte: never panics; each frame (or stream error) takes exactly
//! `9 + length` bytes; `Ok(None)` leaves the buffer untouched and only
//! while less than a whole frame is there; stream errors name a stream
//! other than 0. Every parsed frame, re-encoded with the frame encoders,
//! parses back to an equal frame (padding aside, which re-encoding drops);
//! a HEADERS block also survives being split into CONTINUATION frames. The
//! same input also goes through the connection preface parser.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use switchyard::http::h2::frame::{
    DEFAULT_MAX_FRAME_SIZE, Frame, HEADER_LEN, PREFACE, encode, flag, kind, parse, parse_preface,
};

/// `9 + length` of the frame at the front of `buf`, if its header is there.
fn declared(buf: &[u8]) -> Option<usize> {
    let &[l0, l1, l2, ..] = buf.get(..HEADER_LEN)? else {
        return None;
    };
    Some(HEADER_LEN + u32::from_be_bytes([0, l0, l1, l2]) as usize)
}

/// `frame` written with the encoders (or `encode::head` plus the payload for
/// the frames a server never sends), unpadded.
fn reencode(frame: &Frame, max: u32) -> Vec<u8> {
    let mut v = Vec::new();
    match frame {
        Frame::Data {
            stream,
            end_stream,
            data,
            ..
        } => {
            encode::data_head(&mut v, *stream, data.len(), *end_stream);
            v.extend_from_slice(data);
        }
        Frame::Headers {
            stream,
            end_stream,
            end_headers: true,
            priority: None,
            block,
        } => {
            encode::headers(&mut v, *stream, block, *end_stream, max as usize);
        }
        Frame::Headers {
            stream,
            end_stream,
            end_headers,
            priority,
            block,
        } => {
            let mut flags = 0;
            if *end_stream {
                flags |= flag::END_STREAM;
            }
            if *end_headers {
                flags |= flag::END_HEADERS;
            }
            let prio_len = if priority.is_some() { 5 } else { 0 };
            if priority.is_some() {
                flags |= flag::PRIORITY;
            }
            encode::head(
                &mut v,
                block.len() + prio_len,
                kind::HEADERS,
                flags,
                *stream,
            );
            if let Some(p) = priority {
                write_priority(&mut v, p);
            }
            v.extend_from_slice(block);
        }
        Frame::Priority { stream, priority } => {
            encode::head(&mut v, 5, kind::PRIORITY, 0, *stream);
            write_priority(&mut v, priority);
        }
        Frame::RstStream { stream, code } => encode::rst_stream(&mut v, *stream, *code),
        Frame::Settings(settings) => encode::settings(&mut v, settings),
        Frame::SettingsAck => encode::settings_ack(&mut v),
        Frame::Ping { ack, payload } => encode::ping(&mut v, *ack, *payload),
        Frame::GoAway {
            last_stream,
            code,
            debug,
        } => {
            encode::goaway(&mut v, *last_stream, *code, debug);
        }
        Frame::WindowUpdate { stream, increment } => {
            encode::window_update(&mut v, *stream, *increment);
        }
        Frame::Continuation {
            stream,
            end_headers,
            block,
        } => {
            let flags = if *end_headers { flag::END_HEADERS } else { 0 };
            encode::head(&mut v, block.len(), kind::CONTINUATION, flags, *stream);
            v.extend_from_slice(block);
        }
        Frame::Unknown { kind, stream } => encode::head(&mut v, 0, *kind, 0, *stream),
    }
    v
}

fn write_priority(v: &mut Vec<u8>, p: &switchyard::http::h2::frame::Priority) {
    let dep = p.dependency | if p.exclusive { 1 << 31 } else { 0 };
    v.extend_from_slice(&dep.to_be_bytes());
    v.push(p.weight);
}

/// `frame` as re-encoding keeps it: DATA loses its padding.
fn unpadded(frame: &Frame) -> Frame {
    match frame {
        Frame::Data {
            stream,
            end_stream,
            data,
            ..
        } => Frame::Data {
            stream: *stream,
            end_stream: *end_stream,
            data: data.clone(),
            flow_len: data.len() as u32,
        },
        other => other.clone(),
    }
}

fn round_trip(frame: &Frame, max: u32) {
    let bytes = reencode(frame, max);
    let mut buf = BytesMut::from(&bytes[..]);
    let back = parse(&mut buf, max).expect("re-encoded frame refused");
    assert_eq!(back, Some(unpadded(frame)), "round trip changed the frame");
    assert!(buf.is_empty(), "re-encoded frame not wholly taken");

    // A HEADERS block split into small frames joins back to itself.
    if let Frame::Headers {
        stream,
        end_stream,
        block,
        ..
    } = frame
    {
        let mut v = Vec::new();
        let step = (block.len() / 3).max(1);
        encode::headers(&mut v, *stream, block, *end_stream, step);
        let mut buf = BytesMut::from(&v[..]);
        let mut joined = Vec::new();
        let mut frames = 0usize;
        let mut ended = false;
        while let Some(f) = parse(&mut buf, max).expect("split HEADERS refused") {
            assert!(!ended, "frame after END_HEADERS");
            let (s, end_headers, part): (u32, bool, Bytes) = match (frames, f) {
                (
                    0,
                    Frame::Headers {
                        stream: s,
                        end_stream: es,
                        end_headers,
                        block,
                        ..
                    },
                ) => {
                    assert_eq!(es, *end_stream);
                    (s, end_headers, block)
                }
                (
                    1..,
                    Frame::Continuation {
                        stream: s,
                        end_headers,
                        block,
                    },
                ) => (s, end_headers, block),
                (_, other) => panic!("unexpected frame in a split block: {other:?}"),
            };
            assert_eq!(s, *stream);
            assert!(part.len() <= step);
            joined.extend_from_slice(&part);
            ended = end_headers;
            frames += 1;
        }
        assert!(ended && buf.is_empty());
        assert_eq!(&joined[..], &block[..]);
    }
}

fuzz_target!(|data: &[u8]| {
    // The connection preface parser.
    let mut buf = BytesMut::from(data);
    match parse_preface(&mut buf) {
        Ok(false) => {
            assert!(data.len() < PREFACE.len() && PREFACE.starts_with(data));
            assert_eq!(&buf[..], data);
        }
        Ok(true) => {
            assert!(data.starts_with(PREFACE));
            assert_eq!(&buf[..], &data[PREFACE.len()..]);
        }
        Err(_) => assert!(!data.starts_with(PREFACE) && !PREFACE.starts_with(data)),
    }

    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let max = DEFAULT_MAX_FRAME_SIZE + u32::from(first) * 0x1_0000;
    let mut buf = BytesMut::from(rest);
    loop {
        let before = buf.clone();
        let whole = declared(&before);
        match parse(&mut buf, max) {
            Ok(None) => {
                assert_eq!(buf, before, "Ok(None) changed the buffer");
                assert!(
                    whole.is_none_or(|n| before.len() < n),
                    "Ok(None) on a whole frame"
                );
                break;
            }
            Ok(Some(frame)) => {
                let n = whole.expect("a frame without a header");
                assert!(n - HEADER_LEN <= max as usize, "frame above max_frame_size");
                assert_eq!(&buf[..], &before[n..], "frame took the wrong bytes");
                round_trip(&frame, max);
            }
            Err(e) if e.stream.is_some() => {
                assert_ne!(e.stream, Some(0), "stream error on stream 0");
                let n = whole.expect("an error without a header");
                assert_eq!(&buf[..], &before[n..], "stream error took the wrong bytes");
            }
            Err(_) => break,
        }
    }
});
