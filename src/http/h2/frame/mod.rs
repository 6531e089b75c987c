//! HTTP/2 frames (RFC 9113 §4 and §6): parsing with every validation the
//! RFC asks of a receiver, and encoding.
//!
//! **Why its own module.** Everything here is decided by the peer's bytes,
//! so it is sans-io, checked field by field, and fuzzed on its own
//! (`fuzz/fuzz_targets/h2_frame.rs`); the connection layer above it only
//! ever sees well-formed frames or a [`FrameError`] saying which error to
//! send.
//!
//! **What the parser checks** ([`parse`]): everything one frame tells on its
//! own — its size against our `SETTINGS_MAX_FRAME_SIZE`, its stream id, its
//! length for its type, padding, SETTINGS values, zero WINDOW_UPDATE
//! increments, self-dependent priorities. **What it does not check**: the
//! frame sequence and stream states (RFC 9113 §5.1, §6.10): that a
//! CONTINUATION follows a HEADERS without END_HEADERS and nothing else comes
//! between them, that DATA arrives on an open stream, that a client's stream
//! ids increase, flow-control windows, SETTINGS acknowledgements. Those need
//! connection state and belong to the connection.
//!
//! **Server side only.** The parser is for frames a client sends: a
//! PUSH_PROMISE is a connection error (RFC 9113 §8.4), so there is no frame
//! variant for it. The encoders write the frames a server sends.
//!
//! Frames that carry bytes ([`Frame::Data`], [`Frame::Headers`],
//! [`Frame::Continuation`], [`Frame::GoAway`]) hand out slices of the read
//! buffer's allocation, not copies.

pub mod encode;
mod parse;
#[cfg(test)]
mod tests;

pub use parse::{parse, parse_preface};

use bytes::Bytes;

/// The client connection preface (RFC 9113 §3.4), sent before any frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of the frame header that precedes every payload (RFC 9113 §4.1).
pub const HEADER_LEN: usize = 9;

/// The initial, and smallest allowed, `SETTINGS_MAX_FRAME_SIZE`
/// (RFC 9113 §6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;

/// The largest allowed `SETTINGS_MAX_FRAME_SIZE` (2^24 - 1).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The largest flow-control window and `SETTINGS_INITIAL_WINDOW_SIZE`
/// (2^31 - 1, RFC 9113 §6.9.1).
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;

/// Frame type codes (RFC 9113 §6; the registry's "Frame Types").
pub mod kind {
    /// DATA (RFC 9113 §6.1).
    pub const DATA: u8 = 0x0;
    /// HEADERS (RFC 9113 §6.2).
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY (RFC 9113 §6.3).
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM (RFC 9113 §6.4).
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS (RFC 9113 §6.5).
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE (RFC 9113 §6.6).
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING (RFC 9113 §6.7).
    pub const PING: u8 = 0x6;
    /// GOAWAY (RFC 9113 §6.8).
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE (RFC 9113 §6.9).
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION (RFC 9113 §6.10).
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 §6); which ones a frame type defines is listed with
/// each. Flags a type does not define are ignored.
pub mod flag {
    /// DATA, HEADERS: the last frame the sender sends on this stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, CONTINUATION: the last frame of the field block.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS: a pad length byte leads the payload, padding ends it.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: the payload starts with a priority (after the pad length).
    pub const PRIORITY: u8 = 0x20;
}

/// An HTTP/2 error code (RFC 9113 §7), as in RST_STREAM and GOAWAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Graceful shutdown, no error.
    NoError,
    /// Unspecific protocol error.
    ProtocolError,
    /// Unexpected internal error.
    InternalError,
    /// Flow-control limits violated.
    FlowControlError,
    /// SETTINGS not acknowledged in time.
    SettingsTimeout,
    /// Frame received for a half-closed (remote) stream.
    StreamClosed,
    /// Frame of invalid size.
    FrameSizeError,
    /// Stream refused before any processing.
    RefusedStream,
    /// Stream no longer needed.
    Cancel,
    /// Field-block compression state cannot be kept.
    CompressionError,
    /// The tunnel of a CONNECT request was reset or closed abnormally.
    ConnectError,
    /// The peer generates excessive load.
    EnhanceYourCalm,
    /// The transport's security is not good enough.
    InadequateSecurity,
    /// HTTP/1.1 required instead of HTTP/2.
    Http11Required,
    /// Any other code: unknown codes must not trigger special behaviour
    /// (RFC 9113 §7). Never one of the codes named above:
    /// [`ErrorCode::from_u32`] maps those to their variants.
    Other(u32),
}

impl ErrorCode {
    /// The code for a wire value.
    #[inline]
    pub const fn from_u32(code: u32) -> Self {
        match code {
            0x0 => Self::NoError,
            0x1 => Self::ProtocolError,
            0x2 => Self::InternalError,
            0x3 => Self::FlowControlError,
            0x4 => Self::SettingsTimeout,
            0x5 => Self::StreamClosed,
            0x6 => Self::FrameSizeError,
            0x7 => Self::RefusedStream,
            0x8 => Self::Cancel,
            0x9 => Self::CompressionError,
            0xa => Self::ConnectError,
            0xb => Self::EnhanceYourCalm,
            0xc => Self::InadequateSecurity,
            0xd => Self::Http11Required,
            other => Self::Other(other),
        }
    }

    /// The wire value.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        match self {
            Self::NoError => 0x0,
            Self::ProtocolError => 0x1,
            Self::InternalError => 0x2,
            Self::FlowControlError => 0x3,
            Self::SettingsTimeout => 0x4,
            Self::StreamClosed => 0x5,
            Self::FrameSizeError => 0x6,
            Self::RefusedStream => 0x7,
            Self::Cancel => 0x8,
            Self::CompressionError => 0x9,
            Self::ConnectError => 0xa,
            Self::EnhanceYourCalm => 0xb,
            Self::InadequateSecurity => 0xc,
            Self::Http11Required => 0xd,
            Self::Other(code) => code,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::NoError => "NO_ERROR",
            Self::ProtocolError => "PROTOCOL_ERROR",
            Self::InternalError => "INTERNAL_ERROR",
            Self::FlowControlError => "FLOW_CONTROL_ERROR",
            Self::SettingsTimeout => "SETTINGS_TIMEOUT",
            Self::StreamClosed => "STREAM_CLOSED",
            Self::FrameSizeError => "FRAME_SIZE_ERROR",
            Self::RefusedStream => "REFUSED_STREAM",
            Self::Cancel => "CANCEL",
            Self::CompressionError => "COMPRESSION_ERROR",
            Self::ConnectError => "CONNECT_ERROR",
            Self::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            Self::InadequateSecurity => "INADEQUATE_SECURITY",
            Self::Http11Required => "HTTP_1_1_REQUIRED",
            Self::Other(code) => return write!(f, "error code {code:#x}"),
        };
        f.write_str(name)
    }
}

/// A frame the peer got wrong, and what to answer (RFC 9113 §5.4).
///
/// A connection error (`stream: None`) is answered with GOAWAY carrying
/// `code`, then the connection is closed; the read buffer's contents are
/// then unspecified. A stream error is answered with RST_STREAM on
/// `stream`; the offending frame has been taken from the buffer, so parsing
/// carries on with the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/2 {} error {code}: {reason}", if .stream.is_some() { "stream" } else { "connection" })]
pub struct FrameError {
    /// The error code to send.
    pub code: ErrorCode,
    /// The stream to reset; `None` for a connection error. Never `Some(0)`.
    pub stream: Option<u32>,
    /// What was wrong, for logs and GOAWAY debug data.
    pub reason: &'static str,
}

impl FrameError {
    /// A connection error.
    #[inline]
    pub const fn connection(code: ErrorCode, reason: &'static str) -> Self {
        Self {
            code,
            stream: None,
            reason,
        }
    }

    /// A stream error on `stream` (not 0).
    #[inline]
    pub const fn stream(stream: u32, code: ErrorCode, reason: &'static str) -> Self {
        Self {
            code,
            stream: Some(stream),
            reason,
        }
    }
}

/// A stream priority (RFC 9113 §5.3, deprecated there). Parsed so a
/// self-dependency can be refused as the RFC requires; otherwise the proxy
/// ignores priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Priority {
    /// The stream this one depends on (31 bits, 0 for none).
    pub dependency: u32,
    /// The dependency is exclusive.
    pub exclusive: bool,
    /// The weight as on the wire: the weight minus one (0..=255 stands for
    /// 1..=256).
    pub weight: u8,
}

/// The parameters of a SETTINGS frame (RFC 9113 §6.5.2, RFC 8441 §3).
/// `None`: absent from the frame (the value in force does not change).
/// Values have been range-checked; unknown parameters are dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Settings {
    /// `SETTINGS_HEADER_TABLE_SIZE` (0x1): the HPACK dynamic table size the
    /// sender's decoder allows.
    pub header_table_size: Option<u32>,
    /// `SETTINGS_ENABLE_PUSH` (0x2).
    pub enable_push: Option<bool>,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (0x3).
    pub max_concurrent_streams: Option<u32>,
    /// `SETTINGS_INITIAL_WINDOW_SIZE` (0x4), at most [`MAX_WINDOW_SIZE`].
    pub initial_window_size: Option<u32>,
    /// `SETTINGS_MAX_FRAME_SIZE` (0x5), within
    /// [`DEFAULT_MAX_FRAME_SIZE`]`..=`[`MAX_MAX_FRAME_SIZE`].
    pub max_frame_size: Option<u32>,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` (0x6).
    pub max_header_list_size: Option<u32>,
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (0x8, RFC 8441): extended CONNECT.
    pub enable_connect_protocol: Option<bool>,
}

/// Settings parameter identifiers (RFC 9113 §6.5.2, RFC 8441 §3).
pub mod setting {
    /// `SETTINGS_HEADER_TABLE_SIZE`.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// `SETTINGS_ENABLE_PUSH`.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// `SETTINGS_INITIAL_WINDOW_SIZE`.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// `SETTINGS_MAX_FRAME_SIZE`.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441).
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
}

/// A frame received from a client, validated as far as one frame goes (see
/// the module docs for what is left to the connection). Stream ids have the
/// reserved bit cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA (RFC 9113 §6.1), on a stream other than 0.
    Data {
        /// The stream.
        stream: u32,
        /// END_STREAM: the client's last frame on this stream.
        end_stream: bool,
        /// The data, padding removed.
        data: Bytes,
        /// The whole payload length, pad length byte and padding included:
        /// what counts against both flow-control windows (RFC 9113 §6.1),
        /// and what to give back with WINDOW_UPDATE.
        flow_len: u32,
    },
    /// HEADERS (RFC 9113 §6.2), on a stream other than 0. When
    /// `end_headers` is false, CONTINUATION frames carry the rest of the
    /// field block.
    Headers {
        /// The stream.
        stream: u32,
        /// END_STREAM: no DATA follows on this stream (trailers or a
        /// bodyless request).
        end_stream: bool,
        /// END_HEADERS: the field block is complete in this frame.
        end_headers: bool,
        /// The priority, when the PRIORITY flag was set; never a dependency
        /// on `stream` itself.
        priority: Option<Priority>,
        /// The field block fragment, padding removed.
        block: Bytes,
    },
    /// PRIORITY (RFC 9113 §6.3): may arrive on any stream other than 0, in
    /// any state; nothing to do but ignore it.
    Priority {
        /// The stream.
        stream: u32,
        /// Its priority; never a dependency on `stream` itself.
        priority: Priority,
    },
    /// RST_STREAM (RFC 9113 §6.4), on a stream other than 0.
    RstStream {
        /// The stream.
        stream: u32,
        /// Why the client reset it.
        code: ErrorCode,
    },
    /// SETTINGS without ACK (RFC 9113 §6.5): to apply, then acknowledge.
    Settings(Settings),
    /// SETTINGS with ACK: the client applied our settings.
    SettingsAck,
    /// PING (RFC 9113 §6.7): without `ack`, to answer with the same payload.
    Ping {
        /// The ACK flag.
        ack: bool,
        /// The opaque data.
        payload: [u8; 8],
    },
    /// GOAWAY (RFC 9113 §6.8).
    GoAway {
        /// The last stream the client may have processed (reserved bit
        /// cleared).
        last_stream: u32,
        /// Why the client is closing the connection.
        code: ErrorCode,
        /// Opaque debug data.
        debug: Bytes,
    },
    /// WINDOW_UPDATE (RFC 9113 §6.9); stream 0 is the connection window.
    WindowUpdate {
        /// The stream, 0 for the connection.
        stream: u32,
        /// The increment: 1..=2^31-1.
        increment: u32,
    },
    /// CONTINUATION (RFC 9113 §6.10), on a stream other than 0. Whether one
    /// is expected here is the connection's to check.
    Continuation {
        /// The stream.
        stream: u32,
        /// END_HEADERS: the last fragment of the field block.
        end_headers: bool,
        /// The field block fragment.
        block: Bytes,
    },
    /// A frame of a type this parser does not know (RFC 9113 §4.1 and
    /// §5.5 say to ignore it), already skipped; returned so the caller can
    /// count such frames, and refuse one inside a field block (§6.10).
    Unknown {
        /// The frame type.
        kind: u8,
        /// The stream (may be 0).
        stream: u32,
    },
}
