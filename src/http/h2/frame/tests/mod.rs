//! Unit tests for the frame parser and encoders: the connection preface
//! and error codes (here), every validation rule with its error code and
//! scope (`validate`), partial input, several frames per buffer and zero
//! copy (`buffering`), encode → parse round trips and HEADERS splitting
//! (`round_trip`).

mod buffering;
mod round_trip;
mod validate;

use bytes::{Bytes, BytesMut};

use super::encode;
use super::{
    DEFAULT_MAX_FRAME_SIZE, ErrorCode, Frame, FrameError, PREFACE, Priority, Settings, flag, kind,
    parse, parse_preface,
};

pub(super) const MAX: u32 = DEFAULT_MAX_FRAME_SIZE;

/// A frame with this header and payload, as a peer might send it.
pub(super) fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode::head(&mut v, payload.len(), kind, flags, stream);
    v.extend_from_slice(payload);
    v
}

/// Parses one frame from `input`, which must hold exactly that frame.
pub(super) fn one(input: &[u8]) -> Frame {
    let mut buf = BytesMut::from(input);
    let frame = parse(&mut buf, MAX).unwrap().unwrap();
    assert!(buf.is_empty(), "frame not wholly taken");
    frame
}

/// Parses every frame of `input`, which must hold whole frames only.
pub(super) fn all(input: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(input);
    let mut frames = Vec::new();
    while let Some(frame) = parse(&mut buf, MAX).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "frames not wholly taken");
    frames
}

/// The error parsing `input` gives.
pub(super) fn err(input: &[u8]) -> FrameError {
    parse(&mut BytesMut::from(input), MAX).unwrap_err()
}

#[track_caller]
pub(super) fn assert_conn(input: &[u8], code: ErrorCode) {
    let e = err(input);
    assert_eq!((e.code, e.stream), (code, None), "{e}");
}

/// A stream error must also take the frame from the buffer so the next
/// frame can be parsed: checked by appending a PING.
#[track_caller]
pub(super) fn assert_stream(input: &[u8], stream: u32, code: ErrorCode) {
    let mut buf = BytesMut::from(input);
    let mut ping = Vec::new();
    encode::ping(&mut ping, false, *b"nextping");
    buf.extend_from_slice(&ping);
    let e = parse(&mut buf, MAX).unwrap_err();
    assert_eq!((e.code, e.stream), (code, Some(stream)), "{e}");
    assert_eq!(&buf[..], &ping[..], "stream error did not take the frame");
    let next = parse(&mut buf, MAX).unwrap().unwrap();
    assert!(matches!(next, Frame::Ping { ack: false, .. }));
}

pub(super) fn prio(dependency: u32, exclusive: bool, weight: u8) -> [u8; 5] {
    let [a, b, c, d] = (dependency | if exclusive { 1 << 31 } else { 0 }).to_be_bytes();
    [a, b, c, d, weight]
}

pub(super) fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&value.to_be_bytes());
    v
}

pub(super) fn settings_frame(params: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = params.iter().flat_map(|&(i, v)| setting(i, v)).collect();
    raw(kind::SETTINGS, 0, 0, &payload)
}

// --- preface -------------------------------------------------------------

#[test]
fn preface_complete_is_taken_and_what_follows_is_left() {
    let mut buf = BytesMut::from(&PREFACE[..]);
    buf.extend_from_slice(b"next");
    assert_eq!(parse_preface(&mut buf), Ok(true));
    assert_eq!(&buf[..], b"next");
}

#[test]
fn preface_every_strict_prefix_waits_with_buffer_untouched() {
    for n in 0..PREFACE.len() {
        let mut buf = BytesMut::from(&PREFACE[..n]);
        assert_eq!(parse_preface(&mut buf), Ok(false), "prefix {n}");
        assert_eq!(&buf[..], &PREFACE[..n]);
    }
}

#[test]
fn preface_is_refused_as_soon_as_a_byte_differs() {
    for input in [
        &b"G"[..],
        b"GET / HTTP/1.1\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r",
    ] {
        let e = parse_preface(&mut BytesMut::from(input)).unwrap_err();
        assert_eq!((e.code, e.stream), (ErrorCode::ProtocolError, None));
    }
}

// --- error codes ------------------------------------------------------------

#[test]
fn error_codes_map_to_and_from_wire_values() {
    for code in 0..=0x20u32 {
        let ec = ErrorCode::from_u32(code);
        assert_eq!(ec.as_u32(), code);
        assert_eq!(matches!(ec, ErrorCode::Other(_)), code > 0xd, "{code}");
    }
    assert_eq!(ErrorCode::from_u32(0xd), ErrorCode::Http11Required);
    assert_eq!(ErrorCode::from_u32(u32::MAX), ErrorCode::Other(u32::MAX));
}

#[test]
fn frame_error_display_names_scope_and_code() {
    let e = FrameError::stream(3, ErrorCode::ProtocolError, "bad");
    assert_eq!(e.to_string(), "HTTP/2 stream error PROTOCOL_ERROR: bad");
    let e = FrameError::connection(ErrorCode::FrameSizeError, "big");
    assert_eq!(
        e.to_string(),
        "HTTP/2 connection error FRAME_SIZE_ERROR: big"
    );
}
