//! Tests of the connection state machine. Frame-level, driven with bytes
//! built by `frame::encode` and a tiny request-side HPACK encoder, the
//! output parsed back with `frame::parse`: settings, PING, GOAWAY and
//! frame errors (`control`), stream states and resets (`lifecycle`),
//! header blocks and request validation (`headers`), flow control
//! (`flow`), the frame-flood caps (`flood`). And a real client, the `h2` crate, over an in-memory pipe
//! (`interop`).

mod control;
mod flood;
mod flow;
mod headers;
mod interop;
mod lifecycle;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::{Config, ConnError, Connection, Event};
use crate::http::h2::frame::{
    self, ErrorCode, Frame, MAX_MAX_FRAME_SIZE, PREFACE, Settings, encode, flag, kind,
};
use crate::http::h2::hpack::{Decoder, Field, encode_int as hpack_int};

/// A frame with this header and payload, as a client might send it.
pub(super) fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode::head(&mut v, payload.len(), kind, flags, stream);
    v.extend_from_slice(payload);
    v
}

/// A request-side header block: every field a literal without indexing
/// with a literal name, no Huffman (RFC 7541 §6.2.2).
pub(super) fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        literal(&mut out, 0x00, name, value);
    }
    out
}

/// Appends a literal field with a literal name: `first` is 0x00 (without
/// indexing) or 0x40 (with incremental indexing, RFC 7541 §6.2.1).
pub(super) fn literal(out: &mut Vec<u8>, first: u8, name: &str, value: &str) {
    out.push(first);
    hpack_int(name.len(), 7, 0, out);
    out.extend_from_slice(name.as_bytes());
    hpack_int(value.len(), 7, 0, out);
    out.extend_from_slice(value.as_bytes());
}

/// The pseudo-headers of `GET https://example.com/`.
pub(super) const GET: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "example.com"),
    (":path", "/"),
];

/// The pseudo-headers of `POST https://example.com/upload`.
pub(super) const POST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":scheme", "https"),
    (":authority", "example.com"),
    (":path", "/upload"),
];

/// A HEADERS frame with END_HEADERS carrying `fields`.
pub(super) fn headers(stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
    let mut flags = flag::END_HEADERS;
    if end_stream {
        flags |= flag::END_STREAM;
    }
    raw(kind::HEADERS, flags, stream, &block(fields))
}

/// A DATA frame.
pub(super) fn data(stream: u32, payload: &[u8], end_stream: bool) -> Vec<u8> {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    raw(kind::DATA, flags, stream, payload)
}

/// A WINDOW_UPDATE frame.
pub(super) fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    let mut v = Vec::new();
    encode::window_update(&mut v, stream, increment);
    v
}

/// A RST_STREAM frame.
pub(super) fn rst(stream: u32, code: ErrorCode) -> Vec<u8> {
    let mut v = Vec::new();
    encode::rst_stream(&mut v, stream, code);
    v
}

/// A SETTINGS frame.
pub(super) fn settings(s: &Settings) -> Vec<u8> {
    let mut v = Vec::new();
    encode::settings(&mut v, s);
    v
}

/// A test client: a connection, the frames it wrote, an HPACK decoder for
/// its response blocks.
pub(super) struct Client {
    pub(super) conn: Connection,
    decoder: Decoder,
}

impl Client {
    /// A connection with `cfg`, after the preface and an empty client
    /// SETTINGS; the server's opening frames are read and dropped.
    pub(super) fn new(cfg: Config) -> Client {
        let mut c = Client::bare(cfg);
        let mut opening = PREFACE.to_vec();
        opening.extend(settings(&Settings::default()));
        c.send(&opening).unwrap();
        let frames = c.frames();
        assert!(matches!(frames.first(), Some(Frame::Settings(_))));
        assert!(frames.contains(&Frame::SettingsAck), "{frames:?}");
        c
    }

    /// A connection with `cfg`, nothing sent yet.
    pub(super) fn bare(cfg: Config) -> Client {
        Client {
            conn: Connection::new(cfg),
            decoder: Decoder::new(4096),
        }
    }

    /// Feeds `bytes` to the connection (all of it must be taken).
    pub(super) fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let mut buf = BytesMut::from(bytes);
        let r = self.conn.recv(&mut buf);
        if r.is_ok() {
            assert!(buf.is_empty(), "input left over");
        }
        r
    }

    /// Every frame the connection has written since the last call.
    pub(super) fn frames(&mut self) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        for chunk in self.conn.write_queue().drain(..) {
            buf.extend_from_slice(&chunk);
        }
        let mut frames = Vec::new();
        while let Some(f) = frame::parse(&mut buf, MAX_MAX_FRAME_SIZE).unwrap() {
            frames.push(f);
        }
        assert!(buf.is_empty(), "partial frame written");
        frames
    }

    /// Every pending event.
    pub(super) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// Takes the events, which must be exactly one request on `stream`:
    /// its head and whether it ended the stream.
    #[track_caller]
    pub(super) fn request(&mut self, stream: u32) -> (super::RequestHead, bool) {
        let events = self.events();
        match <[Event; 1]>::try_from(events) {
            Ok(
                [
                    Event::Request {
                        stream: s,
                        head,
                        end_stream,
                    },
                ],
            ) if s == stream => (head, end_stream),
            other => panic!("{other:?}"),
        }
    }

    /// Decodes a response header block as `(name, value)` strings.
    pub(super) fn decode(&mut self, block: &Bytes) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.decoder
            .decode(block, |f| {
                out.push(match f.unwrap() {
                    Field::Pseudo(p, v) => (p.as_str().to_owned(), lossy(&v)),
                    Field::Header(n, v) => (n.as_str().to_owned(), lossy(v.as_bytes())),
                })
            })
            .unwrap();
        out
    }

    /// Sends `frame_bytes`, expects a connection error with `code` and a
    /// GOAWAY with it as the last frame written.
    #[track_caller]
    pub(super) fn expect_conn_error(&mut self, frame_bytes: &[u8], code: ErrorCode) {
        let err = self.send(frame_bytes).unwrap_err();
        assert_eq!(err.code, code, "{err}");
        let frames = self.frames();
        match frames.last() {
            Some(Frame::GoAway { code: c, .. }) => assert_eq!(*c, code),
            other => panic!("no GOAWAY: {other:?} in {frames:?}"),
        }
        assert!(self.conn.is_done());
        // Later calls give the same error.
        assert_eq!(self.send(&[]).unwrap_err(), err);
    }

    /// Sends `frame_bytes`, expects exactly a RST_STREAM with `code` on
    /// `stream` and the connection still up.
    #[track_caller]
    pub(super) fn expect_rst(&mut self, frame_bytes: &[u8], stream: u32, code: ErrorCode) {
        self.send(frame_bytes).unwrap();
        let frames = self.frames();
        assert_eq!(frames, vec![Frame::RstStream { stream, code }]);
        assert!(!self.conn.is_done());
    }

    /// Opens `stream` with a request (`fields`), taking its Request event.
    #[track_caller]
    pub(super) fn open(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) {
        self.send(&headers(stream, fields, end_stream)).unwrap();
        let events = self.events();
        assert!(
            matches!(events.as_slice(), [Event::Request { stream: s, .. }] if *s == stream),
            "{events:?}"
        );
    }

    /// Sends a `200` head on `stream`.
    pub(super) fn respond(&mut self, stream: u32, end_stream: bool) {
        self.conn
            .send_response(stream, http::StatusCode::OK, &HeaderMap::new(), end_stream)
            .unwrap();
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A small config for frame-level tests.
pub(super) fn cfg() -> Config {
    Config {
        max_concurrent_streams: 4,
        initial_window_size: 65_535,
        connection_window: 65_535,
        max_frame_size: 16_384,
        max_header_list_size: 1024,
        enable_connect_protocol: false,
        max_pending_resets: 3,
        max_local_resets: 3,
    }
}
