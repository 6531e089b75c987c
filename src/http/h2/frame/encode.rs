//! Frame encoders: the frames a server sends (RFC 9113 §4.1, §6), each
//! appended to a write buffer.
//!
//! DATA gets only its header ([`data_head`]) so the payload can go out from
//! its own buffer in a vectored write, never copied. Callers pass values a
//! sender may send (stream ids and increments of 31 bits, lengths within
//! the peer's `SETTINGS_MAX_FRAME_SIZE`); the reserved bit is cleared
//! whatever they pass, other mistakes are caught by debug assertions.

use super::{
    ErrorCode, HEADER_LEN, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, Settings, flag, kind, setting,
};

/// Appends a 9-byte frame header (RFC 9113 §4.1): payload length `len`
/// (at most 2^24-1), type, flags and stream (reserved bit cleared).
#[inline]
pub fn head(dst: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len <= MAX_MAX_FRAME_SIZE as usize, "frame length {len}");
    let [_, l0, l1, l2] = (len as u32).to_be_bytes();
    let [s0, s1, s2, s3] = (stream & MAX_WINDOW_SIZE).to_be_bytes();
    dst.extend_from_slice(&[l0, l1, l2, kind, flags, s0, s1, s2, s3]);
}

/// Appends the header of a DATA frame (RFC 9113 §6.1, unpadded) carrying
/// `len` bytes on `stream`; the caller writes the payload after it.
#[inline]
pub fn data_head(dst: &mut Vec<u8>, stream: u32, len: usize, end_stream: bool) {
    debug_assert!(stream != 0, "DATA on stream 0");
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    head(dst, len, kind::DATA, flags, stream);
}

/// Appends the field block `block` for `stream` as a HEADERS frame (RFC
/// 9113 §6.2, unpadded, no priority), followed by as many CONTINUATION
/// frames (§6.10) as needed to keep every payload within the peer's
/// `max_frame_size`. END_HEADERS is set on the last frame only,
/// END_STREAM on the HEADERS frame only (§8.1).
pub fn headers(
    dst: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: usize,
) {
    debug_assert!(stream != 0, "HEADERS on stream 0");
    // The peer cannot announce less than 16384 nor more than 2^24-1 (the
    // parser refuses it); the clamp only keeps a caller's 0 from panicking.
    let max = max_frame_size.clamp(1, MAX_MAX_FRAME_SIZE as usize);
    let frames = block.len().div_ceil(max).max(1);
    dst.reserve(block.len() + frames * HEADER_LEN);
    let (first, mut rest) = block.split_at(block.len().min(max));
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest.is_empty() {
        flags |= flag::END_HEADERS;
    }
    head(dst, first.len(), kind::HEADERS, flags, stream);
    dst.extend_from_slice(first);
    while !rest.is_empty() {
        let (part, tail) = rest.split_at(rest.len().min(max));
        let flags = if tail.is_empty() {
            flag::END_HEADERS
        } else {
            0
        };
        head(dst, part.len(), kind::CONTINUATION, flags, stream);
        dst.extend_from_slice(part);
        rest = tail;
    }
}

/// Appends a SETTINGS frame (RFC 9113 §6.5) with the parameters that are
/// `Some` in `settings`, in identifier order.
pub fn settings(dst: &mut Vec<u8>, settings: &Settings) {
    let Settings {
        header_table_size,
        enable_push,
        max_concurrent_streams,
        initial_window_size,
        max_frame_size,
        max_header_list_size,
        enable_connect_protocol,
    } = *settings;
    let params = [
        (setting::HEADER_TABLE_SIZE, header_table_size),
        (setting::ENABLE_PUSH, enable_push.map(u32::from)),
        (setting::MAX_CONCURRENT_STREAMS, max_concurrent_streams),
        (setting::INITIAL_WINDOW_SIZE, initial_window_size),
        (setting::MAX_FRAME_SIZE, max_frame_size),
        (setting::MAX_HEADER_LIST_SIZE, max_header_list_size),
        (
            setting::ENABLE_CONNECT_PROTOCOL,
            enable_connect_protocol.map(u32::from),
        ),
    ];
    let count = params.iter().filter(|(_, v)| v.is_some()).count();
    dst.reserve(HEADER_LEN + 6 * count);
    head(dst, 6 * count, kind::SETTINGS, 0, 0);
    for (id, value) in params {
        if let Some(value) = value {
            dst.extend_from_slice(&id.to_be_bytes());
            dst.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// Appends a SETTINGS frame with ACK (RFC 9113 §6.5.3).
#[inline]
pub fn settings_ack(dst: &mut Vec<u8>) {
    head(dst, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends a PING frame (RFC 9113 §6.7); `ack` to answer one.
#[inline]
pub fn ping(dst: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    let flags = if ack { flag::ACK } else { 0 };
    head(dst, 8, kind::PING, flags, 0);
    dst.extend_from_slice(&payload);
}

/// Appends a GOAWAY frame (RFC 9113 §6.8): the last client stream that was
/// or may be processed, the error code, and opaque debug data.
pub fn goaway(dst: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    dst.reserve(HEADER_LEN + 8 + debug.len());
    head(dst, 8 + debug.len(), kind::GOAWAY, 0, 0);
    dst.extend_from_slice(&(last_stream & MAX_WINDOW_SIZE).to_be_bytes());
    dst.extend_from_slice(&code.as_u32().to_be_bytes());
    dst.extend_from_slice(debug);
}

/// Appends a RST_STREAM frame (RFC 9113 §6.4).
#[inline]
pub fn rst_stream(dst: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    debug_assert!(stream != 0, "RST_STREAM on stream 0");
    head(dst, 4, kind::RST_STREAM, 0, stream);
    dst.extend_from_slice(&code.as_u32().to_be_bytes());
}

/// Appends a WINDOW_UPDATE frame (RFC 9113 §6.9) for `stream` (0: the
/// connection); `increment` must be 1..=2^31-1.
#[inline]
pub fn window_update(dst: &mut Vec<u8>, stream: u32, increment: u32) {
    debug_assert!(
        (1..=MAX_WINDOW_SIZE).contains(&increment),
        "WINDOW_UPDATE increment {increment}"
    );
    head(dst, 4, kind::WINDOW_UPDATE, 0, stream);
    dst.extend_from_slice(&(increment & MAX_WINDOW_SIZE).to_be_bytes());
}
