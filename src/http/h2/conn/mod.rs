//! The HTTP/2 server connection state machine (RFC 9113), sans-io: bytes
//! from the client go in ([`Connection::recv`]), [`Event`]s come out for
//! the application, the application answers through the `send_*` methods,
//! and the bytes to write to the socket wait in [`Connection::write_queue`].
//!
//! **What it keeps.** The stream states of §5.1 (a stream is in the table
//! from the request's HEADERS until both sides have ended it or one reset
//! it; an odd id at or below the highest the client used and not in the
//! table is closed, anything above is idle), the header block being
//! assembled from HEADERS and CONTINUATION frames, the four flow-control
//! windows (ours and the client's, connection and stream), both sides'
//! settings, the HPACK [`Decoder`] and [`Encoder`] of the connection, the
//! Rapid Reset and MadeYouReset counts, and the frame-flood counts
//! (`flood`).
//!
//! **What the application sees.** Only well-formed requests (§8.1.1,
//! §8.2, §8.3.1): a malformed one is reset by the connection itself
//! (RST_STREAM PROTOCOL_ERROR), one over SETTINGS_MAX_HEADER_LIST_SIZE is
//! answered `431` by the connection itself, one over
//! SETTINGS_MAX_CONCURRENT_STREAMS is refused (REFUSED_STREAM); none of
//! them becomes an [`Event::Request`]. Once a request was delivered, every
//! way its stream can end abnormally is an [`Event::Reset`].
//!
//! **Errors.** A connection error (§5.4.1) queues a GOAWAY with its code
//! and [`Connection::recv`] returns it as a [`ConnError`]: write what is
//! queued, then close the socket; the application drops every stream. A
//! stream error (§5.4.2) queues a RST_STREAM and the connection goes on.
//!
//! **Output.** Frames are appended to one buffer; a DATA payload of
//! [`COPY_MAX`] bytes or less is copied into it, a larger one is queued as
//! its own [`Bytes`] (the buffer so far is queued before it), so bodies are
//! never copied and small frames are written together. See
//! [`Connection::write_queue`].
//!
//! Layout: this file (types and the small public calls), `recv` (frames
//! from the client), `send` (responses), `request` (request head
//! validation), `stream` (per-stream state and windows), `flood` (caps on
//! frames that carry no request).
//!
//! [`Decoder`]: super::hpack::Decoder
//! [`Encoder`]: super::hpack::Encoder

mod flood;
mod recv;
mod request;
mod send;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use bytes::Bytes;
use http::HeaderMap;
use rustc_hash::FxHashMap;

use super::frame::{
    DEFAULT_MAX_FRAME_SIZE, ErrorCode, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, Settings, encode,
};
use super::hpack::{DEFAULT_MAX_STRING_LEN, Decoder, Encoder};
use flood::Flood;
use stream::Stream;

/// A DATA payload up to this many bytes is copied into the output buffer;
/// a larger one is queued as its own [`Bytes`], not copied.
pub const COPY_MAX: usize = 1024;

/// The default window of the protocol (RFC 9113 §6.9.2): every window
/// starts at it until SETTINGS or WINDOW_UPDATE say otherwise.
const DEFAULT_WINDOW: u32 = 65_535;

/// How many of the streams we reset are remembered (RFC 9113 §5.1: frames
/// the client sent before it saw our RST_STREAM are ignored); frames on an
/// older one get RST_STREAM STREAM_CLOSED.
const RESET_RING: usize = 16;

/// The highest stream id there is: the last stream of the first GOAWAY of
/// a two-step shutdown ([`Connection::drain`]).
const MAX_STREAM_ID: u32 = 0x7fff_ffff;

/// The PING payload of a two-step shutdown: its ACK says the client has
/// seen the first GOAWAY.
const DRAIN_PING: [u8; 8] = *b"sy-drain";

/// The payload of keepalive PINGs ([`Connection::ping`]); their ACKs need
/// nothing done.
const KEEPALIVE_PING: [u8; 8] = *b"sy-alive";

/// The smallest cap on an assembled header block (see
/// [`Config::max_header_list_size`]).
const MIN_BLOCK_CAP: usize = 64 << 10;

/// The connection's settings and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS, advertised and enforced: a request
    /// that would open one stream more is refused with RST_STREAM
    /// REFUSED_STREAM (its header block is still decoded).
    pub max_concurrent_streams: u32,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE: how many request-body bytes a
    /// client may send on a stream before the application consumes some
    /// (at most 2^31-1).
    pub initial_window_size: u32,
    /// Our connection receive window (at most 2^31-1). The protocol starts
    /// it at 65535; a larger value is granted with a WINDOW_UPDATE at
    /// start, a smaller one cannot be (the window stays 65535).
    pub connection_window: u32,
    /// Our SETTINGS_MAX_FRAME_SIZE, 16384 to 2^24-1 (clamped).
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE, advertised and enforced: a request
    /// whose header list is larger (RFC 9113 §6.5.2 sizes) is answered
    /// `431` by the connection. An assembled header block (HEADERS and
    /// CONTINUATION) over twice this, and at least 64 KiB, is a connection
    /// error ENHANCE_YOUR_CALM (CONTINUATION flood).
    pub max_header_list_size: u32,
    /// Extended CONNECT (RFC 8441): SETTINGS_ENABLE_CONNECT_PROTOCOL = 1
    /// is advertised and `:protocol` is accepted on CONNECT requests.
    pub enable_connect_protocol: bool,
    /// Rapid Reset defence (CVE-2023-44487): streams the client reset
    /// before their response ended and whose work the application has not
    /// dropped yet ([`Connection::dropped`]); one more ends the connection
    /// with GOAWAY ENHANCE_YOUR_CALM. See `Connection::reset_pending`.
    pub max_pending_resets: u32,
    /// "MadeYouReset" defence (CVE-2025-8671): streams we reset for a
    /// stream error the client caused (malformed requests, flow-control
    /// errors, frames on closed streams, refused streams) over the
    /// connection's life; past this count the connection ends with GOAWAY
    /// ENHANCE_YOUR_CALM (hyper's server allows 1024 too).
    pub max_local_resets: u32,
}

impl Default for Config {
    /// 100 streams, 1 MiB stream windows, 2 MiB connection window, 16 KiB
    /// frames, 16 KiB header lists, no extended CONNECT, 100 pending
    /// resets, 1024 local resets.
    fn default() -> Config {
        Config {
            max_concurrent_streams: 100,
            initial_window_size: 1 << 20,
            connection_window: 2 << 20,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 16 << 10,
            enable_connect_protocol: false,
            max_pending_resets: 100,
            max_local_resets: 1024,
        }
    }
}

/// What the client asked or did, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new, well-formed request.
    Request {
        /// Its stream.
        stream: u32,
        /// The request head.
        head: RequestHead,
        /// No body follows (END_STREAM on the HEADERS).
        end_stream: bool,
    },
    /// Request-body bytes (padding removed). Give them back with
    /// [`Connection::consumed`] once taken, or the client runs out of
    /// window.
    Data {
        /// The stream.
        stream: u32,
        /// The bytes; empty only with `end_stream`.
        data: Bytes,
        /// The body is complete.
        end_stream: bool,
    },
    /// The request's trailers; the body is complete.
    Trailers {
        /// The stream.
        stream: u32,
        /// The trailer fields.
        trailers: HeaderMap,
    },
    /// The stream is gone (client RST_STREAM, or a stream error we detected
    /// on an open stream): the application drops its request. Nothing more
    /// may be sent on it.
    Reset {
        /// The stream.
        stream: u32,
        /// The client's code, or the one we reset with.
        code: ErrorCode,
    },
    /// A request the connection refused before delivering it: reset with
    /// PROTOCOL_ERROR as malformed (RFC 9113 §8.1.1), or answered 431. For
    /// the log; nothing more happens on the stream.
    Refused {
        /// The stream.
        stream: u32,
        /// Why, in a few words.
        reason: &'static str,
    },
    /// The stream's send window grew (after a WINDOW_UPDATE or SETTINGS
    /// change) after [`Connection::send_data`] had left bytes behind.
    Capacity {
        /// The stream.
        stream: u32,
    },
    /// The client sent GOAWAY.
    GoAway {
        /// The last stream (ours; always 0 for a server that never pushes).
        last_stream: u32,
        /// Why.
        code: ErrorCode,
    },
}

/// A request head: the pseudo-headers (RFC 9113 §8.3.1) and the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `:method`.
    pub method: http::Method,
    /// `:scheme`; `None` only for CONNECT without `:protocol`.
    pub scheme: Option<Bytes>,
    /// `:authority`, when sent; always there for CONNECT.
    pub authority: Option<Bytes>,
    /// `:path`, never empty; `None` only for CONNECT without `:protocol`.
    pub path: Option<Bytes>,
    /// `:protocol` (extended CONNECT, RFC 8441).
    pub protocol: Option<Bytes>,
    /// The regular fields, in order.
    pub headers: HeaderMap,
}

/// A connection error (RFC 9113 §5.4.1): a GOAWAY with `code` has been
/// queued, the connection is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/2 connection error {code}: {reason}")]
pub struct ConnError {
    /// The code sent in the GOAWAY.
    pub code: ErrorCode,
    /// What went wrong (also the GOAWAY debug data).
    pub reason: &'static str,
}

impl ConnError {
    /// A connection error.
    #[inline]
    pub(crate) const fn new(code: ErrorCode, reason: &'static str) -> ConnError {
        ConnError { code, reason }
    }
}

/// Why a `send_*` call was refused; nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// No open stream with this id: never opened, already ended on our
    /// side, or reset (by the client or by a stream error: an
    /// [`Event::Reset`] told so).
    #[error("HTTP/2 stream {0} is not open")]
    NotOpen(u32),
    /// A final response head was already sent on the stream.
    #[error("HTTP/2 stream {0}: response head already sent")]
    HeadSent(u32),
    /// No final response head was sent on the stream yet.
    #[error("HTTP/2 stream {0}: no response head sent yet")]
    NoHead(u32),
    /// An informational (1xx) response with END_STREAM.
    #[error("HTTP/2 stream {0}: informational response cannot end the stream")]
    InformationalEnd(u32),
    /// The connection is over (connection error or GOAWAY with an error).
    #[error("HTTP/2 connection closed")]
    ConnectionClosed,
}

/// A header block being assembled from HEADERS and CONTINUATION frames.
#[derive(Debug)]
struct Partial {
    /// Its stream.
    stream: u32,
    /// END_STREAM of the HEADERS frame.
    end_stream: bool,
    /// The fragments so far.
    block: bytes::BytesMut,
}

/// One HTTP/2 server connection; see the module docs.
#[derive(Debug)]
pub struct Connection {
    cfg: Config,
    /// The client preface has been received.
    preface: bool,
    /// The client's first SETTINGS has been received.
    peer_settings: bool,
    /// Our SETTINGS the client has not acknowledged yet.
    settings_unacked: u32,
    decoder: Decoder,
    encoder: Encoder,
    /// The open streams (in §5.1 terms: open or half-closed).
    streams: FxHashMap<u32, Stream>,
    /// The highest stream id the client used for a request (0: none).
    last_client: u32,
    /// The highest stream id we processed (delivered or answered): the
    /// last stream of our GOAWAY.
    last_processed: u32,
    /// A header block waiting for CONTINUATION frames.
    partial: Option<Partial>,
    /// The largest assembled header block accepted.
    block_cap: usize,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE as the client applies it (65535
    /// until it acknowledges our SETTINGS).
    local_initial: u32,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE.
    peer_initial: u32,
    /// The client's SETTINGS_MAX_FRAME_SIZE.
    peer_max_frame: u32,
    /// What we may still send on the connection.
    send_window: i64,
    /// What the client may still send on the connection.
    recv_window: i64,
    /// Connection bytes released but not yet given back by WINDOW_UPDATE.
    recv_unacked: u32,
    /// The connection window we keep topping up.
    recv_target: u32,
    /// The Rapid Reset count: streams the client reset before their
    /// response ended, until the application says it dropped them
    /// ([`Connection::dropped`]). Past `max_pending_resets` the connection
    /// ends.
    ///
    /// Why "until dropped", not a count over the connection's life: a
    /// reset only costs the proxy while the stream's work (its upstream
    /// request) is still running beside the streams the concurrency limit
    /// admits; once dropped it costs nothing more. So a client cancelling
    /// streams one at a time (gRPC deadlines, aborted fetches) never holds
    /// more than one here however long the connection lives, while a
    /// flood of open-and-reset streams, or a burst of resets of streams
    /// already forwarded upstream, piles up faster than the application
    /// gets to drop them: the driver drops a stream's work only after it
    /// has handed over the events of a whole read, so every reset in one
    /// read counts (Envoy and nginx bound resets relative to work in
    /// flight too). A clock or a token bucket would cost a time read per
    /// reset and pick a rate some legitimate client exceeds.
    ///
    /// Ids, not a number, so that only counted resets are taken off; it
    /// holds at most `max_pending_resets` + 1 ids and is empty but for
    /// resets (no allocation for connections that see none).
    reset_pending: Vec<u32>,
    /// Streams we reset for stream errors.
    local_resets: u32,
    /// The counts behind the empty-frame, PRIORITY and WINDOW_UPDATE
    /// flood caps.
    flood: Flood,
    /// The streams we reset last (0: free slot), whose late frames are
    /// ignored.
    reset_ring: [u32; RESET_RING],
    /// The next slot of `reset_ring`.
    reset_at: usize,
    /// The last stream of the GOAWAY we sent.
    goaway_sent: Option<u32>,
    /// A two-step shutdown's first GOAWAY and PING are out; the final
    /// GOAWAY waits for the PING's ACK.
    draining: bool,
    /// The client sent GOAWAY.
    goaway_received: bool,
    /// The connection error that ended the connection (or our GOAWAY with
    /// an error code).
    closed: Option<ConnError>,
    events: VecDeque<Event>,
    /// Frames being coalesced.
    out: Vec<u8>,
    /// Output ready to write, in order.
    queue: VecDeque<Bytes>,
    /// Scratch for encoding header blocks.
    scratch: Vec<u8>,
}

impl Connection {
    /// A connection with `cfg` (values clamped to the protocol's ranges);
    /// our SETTINGS, and a connection WINDOW_UPDATE when
    /// `connection_window` is above 65535, are queued at once: write them
    /// without waiting for the client preface.
    pub fn new(cfg: Config) -> Connection {
        let mut cfg = cfg;
        cfg.max_frame_size = cfg
            .max_frame_size
            .clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
        cfg.initial_window_size = cfg.initial_window_size.min(MAX_WINDOW_SIZE);
        cfg.connection_window = cfg.connection_window.min(MAX_WINDOW_SIZE);
        let recv_target = cfg.connection_window.max(DEFAULT_WINDOW);
        let list = cfg.max_header_list_size as usize;
        let mut conn = Connection {
            cfg,
            preface: false,
            peer_settings: false,
            settings_unacked: 1,
            decoder: Decoder::new(4096).with_max_string_len(list.max(DEFAULT_MAX_STRING_LEN)),
            encoder: Encoder::new(),
            streams: FxHashMap::default(),
            last_client: 0,
            last_processed: 0,
            partial: None,
            block_cap: list.saturating_mul(2).max(MIN_BLOCK_CAP),
            local_initial: DEFAULT_WINDOW,
            peer_initial: DEFAULT_WINDOW,
            peer_max_frame: DEFAULT_MAX_FRAME_SIZE,
            send_window: i64::from(DEFAULT_WINDOW),
            recv_window: i64::from(recv_target),
            recv_unacked: 0,
            recv_target,
            reset_pending: Vec::new(),
            local_resets: 0,
            flood: Flood::default(),
            reset_ring: [0; RESET_RING],
            reset_at: 0,
            goaway_sent: None,
            draining: false,
            goaway_received: false,
            closed: None,
            events: VecDeque::new(),
            out: Vec::with_capacity(1024),
            queue: VecDeque::new(),
            scratch: Vec::new(),
        };
        let settings = Settings {
            max_concurrent_streams: Some(cfg.max_concurrent_streams),
            initial_window_size: Some(cfg.initial_window_size),
            max_frame_size: Some(cfg.max_frame_size),
            max_header_list_size: Some(cfg.max_header_list_size),
            enable_connect_protocol: cfg.enable_connect_protocol.then_some(true),
            ..Settings::default()
        };
        encode::settings(&mut conn.out, &settings);
        if recv_target > DEFAULT_WINDOW {
            encode::window_update(&mut conn.out, 0, recv_target - DEFAULT_WINDOW);
        }
        conn
    }

    /// The next event for the application, in the order the frames came.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The output to write to the socket, front first: pop (or partly
    /// advance) what was written, suited to vectored writes. Frames queued
    /// since the last call are moved into it first, so take it again after
    /// every call that may queue frames.
    pub fn write_queue(&mut self) -> &mut VecDeque<Bytes> {
        self.flush_out();
        &mut self.queue
    }

    /// There is output to write.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty() || self.queue.iter().any(|b| !b.is_empty())
    }

    /// Bytes queued for the socket and not written yet (see
    /// [`Connection::write_queue`]): the driver stops reading while this
    /// is large, so a client that does not read cannot make it grow
    /// (PING and SETTINGS floods are answered into it).
    pub fn queued_bytes(&self) -> usize {
        self.out.len() + self.queue.iter().map(Bytes::len).sum::<usize>()
    }

    /// Frees the output and scratch buffers when nothing is queued in
    /// them, and the spare room of the event, output and stream lists, for
    /// a connection that is idle: they grow again when next needed.
    pub fn release_memory(&mut self) {
        if self.out.is_empty() {
            self.out = Vec::new();
        }
        self.scratch = Vec::new();
        self.events.shrink_to_fit();
        self.queue.shrink_to_fit();
        self.streams.shrink_to_fit();
        self.reset_pending.shrink_to_fit();
    }

    /// The connection is over once its output is written: after a
    /// connection error (ours or found in the client's frames), or once a
    /// GOAWAY was sent or received and no stream is open.
    pub fn is_done(&self) -> bool {
        self.closed.is_some()
            || ((self.goaway_sent.is_some() || self.goaway_received) && self.streams.is_empty())
    }

    /// Streams open or half-closed (requests delivered and not ended on both
    /// sides, nor reset).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// The application has dropped the work of `stream` (its request and
    /// upstream exchange), after an [`Event::Reset`]: a client reset of it
    /// no longer counts toward [`Config::max_pending_resets`]. Call it for
    /// every stream the application gave up, whatever the reason; streams
    /// that were not counted are ignored.
    pub fn dropped(&mut self, stream: u32) {
        if let Some(i) = self.reset_pending.iter().position(|&id| id == stream) {
            self.reset_pending.swap_remove(i);
        }
    }

    /// Sends GOAWAY. `NoError` is the graceful shutdown: the last stream is
    /// the highest we processed, open streams go on to finish, new ones are
    /// ignored (RFC 9113 §6.8), and the connection is done when the last
    /// one ends; a second graceful call does nothing. Any other code ends
    /// the connection now (every open stream is dropped without events).
    pub fn go_away(&mut self, code: ErrorCode) {
        if self.closed.is_some() || (code == ErrorCode::NoError && self.goaway_sent.is_some()) {
            return;
        }
        encode::goaway(&mut self.out, self.last_processed, code, b"");
        self.goaway_sent = Some(self.last_processed);
        if code != ErrorCode::NoError {
            self.closed = Some(ConnError::new(code, "closed by the application"));
            self.streams.clear();
        }
    }

    /// Starts a two-step graceful shutdown (RFC 9113 §6.8): a GOAWAY
    /// naming the highest stream id there is, so requests the client has
    /// already sent are still served, and a PING. Its ACK (all those
    /// requests have arrived before it) sends the final GOAWAY with the
    /// last stream processed; so does [`Connection::finish_drain`], for a
    /// client that does not answer. Nothing happens once a GOAWAY was sent.
    pub fn drain(&mut self) {
        if self.closed.is_some() || self.goaway_sent.is_some() || self.draining {
            return;
        }
        encode::goaway(&mut self.out, MAX_STREAM_ID, ErrorCode::NoError, b"");
        encode::ping(&mut self.out, false, DRAIN_PING);
        self.draining = true;
    }

    /// Queues a PING (keepalive: its ACK, like anything the client sends,
    /// shows the client is there). Nothing is sent once the connection is
    /// closed.
    pub fn ping(&mut self) {
        if self.closed.is_none() {
            encode::ping(&mut self.out, false, KEEPALIVE_PING);
        }
    }

    /// Sends the final GOAWAY of a two-step shutdown without waiting any
    /// longer for the PING's ACK (nothing happens when none is pending).
    pub fn finish_drain(&mut self) {
        if self.draining {
            self.draining = false;
            self.go_away(ErrorCode::NoError);
        }
    }

    /// Moves the coalesced frames to the write queue.
    fn flush_out(&mut self) {
        flush(&mut self.out, &mut self.queue);
    }

    /// Ends the connection with `err`: GOAWAY with its code and reason.
    fn fail(&mut self, err: ConnError) -> ConnError {
        if self.closed.is_none() {
            encode::goaway(
                &mut self.out,
                self.last_processed,
                err.code,
                err.reason.as_bytes(),
            );
            self.goaway_sent = Some(self.last_processed);
            self.closed = Some(err);
            self.streams.clear();
            self.partial = None;
        }
        err
    }
}

/// Moves the frames coalesced in `out` to the end of `queue` (one
/// allocation for the next buffer, per flush, not per frame).
fn flush(out: &mut Vec<u8>, queue: &mut VecDeque<Bytes>) {
    if !out.is_empty() {
        let cap = out.capacity().clamp(1024, 64 << 10);
        queue.push_back(Bytes::from(std::mem::replace(out, Vec::with_capacity(cap))));
    }
}
