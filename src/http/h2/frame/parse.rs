//! The frame parser: takes one frame at a time from the front of the read
//! buffer and checks it as RFC 9113 §4.2 and §6 ask of a receiver.
//!
//! Checks the 9-byte header alone can decide are made before the payload
//! has arrived ([`check_head`]), so a peer announcing a frame it must not
//! send (16 MiB when we allow 16 KiB, a 9-byte PING) is refused at once,
//! never buffered. Errors a connection survives (stream errors) wait for
//! the whole frame, so it can be taken from the buffer and the next one
//! parsed.
//!
//! Per frame the only work beyond the checks is one `split_to` and `freeze`
//! of the read buffer (frames that carry bytes) or an `advance` (the rest):
//! no allocation, no copy.

use bytes::{Buf, BytesMut};

use super::{
    DEFAULT_MAX_FRAME_SIZE, ErrorCode, Frame, FrameError, HEADER_LEN, MAX_MAX_FRAME_SIZE,
    MAX_WINDOW_SIZE, PREFACE, Priority, Settings, flag, kind, setting,
};

/// The 31 bits of a stream id or window increment (the top bit is
/// reserved, ignored on receipt: RFC 9113 §4.1, §6.9).
const U31: u32 = MAX_WINDOW_SIZE;

/// Takes the client connection preface (RFC 9113 §3.4) from the front of
/// `buf`: `Ok(true)` once taken, `Ok(false)` while `buf` holds a strict
/// prefix of it (buffer untouched), an error as soon as a byte differs.
///
/// The error is a connection PROTOCOL_ERROR; RFC 9113 §3.4 allows closing
/// without GOAWAY, since such a peer does not speak HTTP/2.
pub fn parse_preface(buf: &mut BytesMut) -> Result<bool, FrameError> {
    if buf.iter().zip(PREFACE.iter()).any(|(a, b)| a != b) {
        return Err(FrameError::connection(
            ErrorCode::ProtocolError,
            "invalid connection preface",
        ));
    }
    if buf.len() < PREFACE.len() {
        return Ok(false);
    }
    buf.advance(PREFACE.len());
    Ok(true)
}

/// Parses the frame at the front of `buf`. `max_frame_size` is the
/// `SETTINGS_MAX_FRAME_SIZE` we announced (16384 until we announce more).
///
/// - `Ok(None)`: `buf` does not hold the whole frame yet; untouched.
/// - `Ok(Some(frame))`: the frame's `9 + length` bytes have been taken from
///   `buf`; byte fields of the frame share `buf`'s allocation.
/// - `Err(e)` with `e.stream == Some(_)`: a stream error; the frame has been
///   taken from `buf`, parsing may go on.
/// - `Err(e)` with `e.stream == None`: a connection error; `buf` is left in
///   an unspecified state (the connection is over).
///
/// A PUSH_PROMISE is a connection PROTOCOL_ERROR (a client cannot push,
/// RFC 9113 §8.4). A HEADERS depending on its own stream is a connection
/// PROTOCOL_ERROR too, not the stream error of §5.3.1 (§5.4.1 allows it):
/// its field block would otherwise skip HPACK and desynchronise the
/// dynamic table, and its CONTINUATION frames would arrive unannounced.
/// Frame-sequence rules (CONTINUATION, stream states) are the
/// connection's; see the module docs.
pub fn parse(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(raw) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let head = Head::read(raw);
    check_head(&head, max_frame_size)?;
    let total = HEADER_LEN + head.len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let Head {
        len,
        kind,
        flags,
        stream,
    } = head;
    let end_stream = flags & flag::END_STREAM != 0;
    let end_headers = flags & flag::END_HEADERS != 0;
    let frame = match kind {
        kind::DATA => {
            let payload = buf.split_to(total).freeze().slice(HEADER_LEN..);
            let (start, end) = unpad(&payload, flags, 0)?;
            Frame::Data {
                stream,
                end_stream,
                data: payload.slice(start..end),
                flow_len: len,
            }
        }
        kind::HEADERS => {
            let payload = buf.split_to(total).freeze().slice(HEADER_LEN..);
            let prio_len = if flags & flag::PRIORITY != 0 { 5 } else { 0 };
            let (start, end) = unpad(&payload, flags, prio_len)?;
            let priority = match prio_len {
                0 => None,
                _ => {
                    // The priority follows the pad length byte, if any.
                    let at = usize::from(flags & flag::PADDED != 0);
                    let prio = payload
                        .get(at..)
                        .and_then(read_priority)
                        .ok_or(HEADERS_TOO_SHORT)?;
                    if prio.dependency == stream {
                        // A stream error by RFC 9113 §5.3.1, made a connection
                        // error (allowed by §5.4.1): the field block it
                        // carries would have to go through HPACK all the same,
                        // and CONTINUATION frames may follow.
                        return Err(FrameError::connection(
                            ErrorCode::ProtocolError,
                            "HEADERS depends on its own stream",
                        ));
                    }
                    Some(prio)
                }
            };
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                priority,
                block: payload.slice(start..end),
            }
        }
        kind::PRIORITY => {
            let prio = buf.get(HEADER_LEN..total).and_then(|p| match p.len() {
                5 => read_priority(p),
                _ => None,
            });
            buf.advance(total);
            let Some(priority) = prio else {
                return Err(FrameError::stream(
                    stream,
                    ErrorCode::FrameSizeError,
                    "PRIORITY length is not 5",
                ));
            };
            if priority.dependency == stream {
                return Err(FrameError::stream(
                    stream,
                    ErrorCode::ProtocolError,
                    "PRIORITY depends on its own stream",
                ));
            }
            Frame::Priority { stream, priority }
        }
        kind::RST_STREAM => {
            let code = payload_u32(buf, 0).ok_or(RST_STREAM_LEN)?;
            buf.advance(total);
            Frame::RstStream {
                stream,
                code: ErrorCode::from_u32(code),
            }
        }
        kind::SETTINGS if flags & flag::ACK != 0 => {
            buf.advance(total);
            Frame::SettingsAck
        }
        kind::SETTINGS => {
            let settings = buf
                .get(HEADER_LEN..total)
                .map(read_settings)
                .ok_or(SETTINGS_LEN)??;
            buf.advance(total);
            Frame::Settings(settings)
        }
        kind::PING => {
            let payload = buf
                .get(HEADER_LEN..total)
                .and_then(|p| <[u8; 8]>::try_from(p).ok())
                .ok_or(PING_LEN)?;
            buf.advance(total);
            Frame::Ping {
                ack: flags & flag::ACK != 0,
                payload,
            }
        }
        kind::GOAWAY => {
            let last_stream = payload_u32(buf, 0).ok_or(GOAWAY_LEN)? & U31;
            let code = payload_u32(buf, 4).ok_or(GOAWAY_LEN)?;
            let debug = buf.split_to(total).freeze().slice(HEADER_LEN + 8..);
            Frame::GoAway {
                last_stream,
                code: ErrorCode::from_u32(code),
                debug,
            }
        }
        kind::WINDOW_UPDATE => {
            let increment = payload_u32(buf, 0).ok_or(WINDOW_UPDATE_LEN)? & U31;
            buf.advance(total);
            if increment == 0 {
                const REASON: &str = "WINDOW_UPDATE increment is 0";
                return Err(match stream {
                    0 => FrameError::connection(ErrorCode::ProtocolError, REASON),
                    _ => FrameError::stream(stream, ErrorCode::ProtocolError, REASON),
                });
            }
            Frame::WindowUpdate { stream, increment }
        }
        kind::CONTINUATION => Frame::Continuation {
            stream,
            end_headers,
            block: buf.split_to(total).freeze().slice(HEADER_LEN..),
        },
        _ => {
            buf.advance(total);
            Frame::Unknown { kind, stream }
        }
    };
    Ok(Some(frame))
}

/// A frame header (RFC 9113 §4.1), reserved bit cleared.
struct Head {
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl Head {
    #[inline]
    fn read(raw: &[u8; HEADER_LEN]) -> Self {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *raw;
        Self {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind,
            flags,
            stream: u32::from_be_bytes([s0, s1, s2, s3]) & U31,
        }
    }
}

const FRAME_TOO_LARGE: FrameError = FrameError::connection(
    ErrorCode::FrameSizeError,
    "frame larger than SETTINGS_MAX_FRAME_SIZE",
);
const PADDED_EMPTY: FrameError = FrameError::connection(
    ErrorCode::FrameSizeError,
    "PADDED frame without a pad length",
);
const TOO_MUCH_PADDING: FrameError =
    FrameError::connection(ErrorCode::ProtocolError, "padding longer than the payload");
const HEADERS_TOO_SHORT: FrameError = FrameError::connection(
    ErrorCode::FrameSizeError,
    "HEADERS too short for its priority",
);
const RST_STREAM_LEN: FrameError =
    FrameError::connection(ErrorCode::FrameSizeError, "RST_STREAM length is not 4");
const SETTINGS_LEN: FrameError = FrameError::connection(
    ErrorCode::FrameSizeError,
    "SETTINGS length is not a multiple of 6",
);
const PING_LEN: FrameError =
    FrameError::connection(ErrorCode::FrameSizeError, "PING length is not 8");
const GOAWAY_LEN: FrameError =
    FrameError::connection(ErrorCode::FrameSizeError, "GOAWAY shorter than 8");
const WINDOW_UPDATE_LEN: FrameError =
    FrameError::connection(ErrorCode::FrameSizeError, "WINDOW_UPDATE length is not 4");

/// The connection errors the frame header alone tells, checked before the
/// payload is waited for. Stream errors are not decided here: the frame
/// must be whole to be skipped.
#[inline]
fn check_head(head: &Head, max_frame_size: u32) -> Result<(), FrameError> {
    let protocol = |reason| Err(FrameError::connection(ErrorCode::ProtocolError, reason));
    if head.len > max_frame_size {
        return Err(FRAME_TOO_LARGE);
    }
    let (len, stream, flags) = (head.len, head.stream, head.flags);
    match head.kind {
        kind::DATA if stream == 0 => protocol("DATA on stream 0"),
        kind::DATA if flags & flag::PADDED != 0 && len == 0 => Err(PADDED_EMPTY),
        kind::HEADERS if stream == 0 => protocol("HEADERS on stream 0"),
        kind::HEADERS => {
            let padded = flags & flag::PADDED != 0;
            let prio = flags & flag::PRIORITY != 0;
            match (padded && len < 1, prio && len < u32::from(padded) + 5) {
                (true, _) => Err(PADDED_EMPTY),
                (_, true) => Err(HEADERS_TOO_SHORT),
                _ => Ok(()),
            }
        }
        kind::PRIORITY if stream == 0 => protocol("PRIORITY on stream 0"),
        kind::RST_STREAM if stream == 0 => protocol("RST_STREAM on stream 0"),
        kind::RST_STREAM if len != 4 => Err(RST_STREAM_LEN),
        kind::SETTINGS if stream != 0 => protocol("SETTINGS on a stream"),
        kind::SETTINGS if flags & flag::ACK != 0 && len != 0 => Err(FrameError::connection(
            ErrorCode::FrameSizeError,
            "SETTINGS ACK with a payload",
        )),
        kind::SETTINGS if len % 6 != 0 => Err(SETTINGS_LEN),
        kind::PUSH_PROMISE => protocol("PUSH_PROMISE from a client"),
        kind::PING if stream != 0 => protocol("PING on a stream"),
        kind::PING if len != 8 => Err(PING_LEN),
        kind::GOAWAY if stream != 0 => protocol("GOAWAY on a stream"),
        kind::GOAWAY if len < 8 => Err(GOAWAY_LEN),
        kind::WINDOW_UPDATE if len != 4 => Err(WINDOW_UPDATE_LEN),
        kind::CONTINUATION if stream == 0 => protocol("CONTINUATION on stream 0"),
        _ => Ok(()),
    }
}

/// The range of `payload` (a DATA or HEADERS payload) after the pad length
/// byte and `skip` more bytes (HEADERS' priority), up to the padding.
#[inline]
fn unpad(payload: &[u8], flags: u8, skip: usize) -> Result<(usize, usize), FrameError> {
    if flags & flag::PADDED == 0 {
        return match payload.len() >= skip {
            true => Ok((skip, payload.len())),
            false => Err(HEADERS_TOO_SHORT),
        };
    }
    let (&pad, _) = payload.split_first().ok_or(PADDED_EMPTY)?;
    let start = 1 + skip;
    match payload.len().checked_sub(usize::from(pad)) {
        Some(end) if end >= start => Ok((start, end)),
        _ => Err(TOO_MUCH_PADDING),
    }
}

/// The 5-byte priority at the start of `p` (RFC 9113 §6.2, §6.3).
#[inline]
fn read_priority(p: &[u8]) -> Option<Priority> {
    let &[d0, d1, d2, d3, weight, ..] = p else {
        return None;
    };
    let dep = u32::from_be_bytes([d0, d1, d2, d3]);
    Some(Priority {
        dependency: dep & U31,
        exclusive: dep & !U31 != 0,
        weight,
    })
}

/// The big-endian u32 at `at` in the payload of the frame at the front of
/// `buf`.
#[inline]
fn payload_u32(buf: &[u8], at: usize) -> Option<u32> {
    let start = HEADER_LEN + at;
    let b = buf.get(start..start + 4)?;
    let &[b0, b1, b2, b3] = b else { return None };
    Some(u32::from_be_bytes([b0, b1, b2, b3]))
}

/// The parameters of a SETTINGS payload (length a multiple of 6, checked),
/// range-checked (RFC 9113 §6.5.2, RFC 8441 §3). A repeated parameter:
/// the last one wins, as if each had come in its own frame.
fn read_settings(payload: &[u8]) -> Result<Settings, FrameError> {
    let protocol = |reason| FrameError::connection(ErrorCode::ProtocolError, reason);
    let flag = |value, reason| match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(protocol(reason)),
    };
    let mut s = Settings::default();
    for entry in payload.chunks_exact(6) {
        let &[i0, i1, v0, v1, v2, v3] = entry else {
            return Err(SETTINGS_LEN);
        };
        let value = u32::from_be_bytes([v0, v1, v2, v3]);
        match u16::from_be_bytes([i0, i1]) {
            setting::HEADER_TABLE_SIZE => s.header_table_size = Some(value),
            setting::ENABLE_PUSH => {
                s.enable_push = Some(flag(value, "SETTINGS_ENABLE_PUSH not 0 or 1")?);
            }
            setting::MAX_CONCURRENT_STREAMS => s.max_concurrent_streams = Some(value),
            setting::INITIAL_WINDOW_SIZE if value > MAX_WINDOW_SIZE => {
                return Err(FrameError::connection(
                    ErrorCode::FlowControlError,
                    "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                ));
            }
            setting::INITIAL_WINDOW_SIZE => s.initial_window_size = Some(value),
            setting::MAX_FRAME_SIZE
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) =>
            {
                return Err(protocol("SETTINGS_MAX_FRAME_SIZE out of range"));
            }
            setting::MAX_FRAME_SIZE => s.max_frame_size = Some(value),
            setting::MAX_HEADER_LIST_SIZE => s.max_header_list_size = Some(value),
            setting::ENABLE_CONNECT_PROTOCOL => {
                s.enable_connect_protocol =
                    Some(flag(value, "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1")?);
            }
            _ => {}
        }
    }
    Ok(s)
}
