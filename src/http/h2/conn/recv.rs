//! Frames from the client: the preface, the frame sequence and stream
//! states (RFC 9113 §5.1, §6.10), header blocks, receive flow control
//! (§6.9), settings, and the Rapid Reset count.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};

use super::request::{Head, Refusal};
use super::stream::{Response, Stream};
use super::{ConnError, Connection, Event, Partial};
use crate::http::h2::frame::{self, ErrorCode, Frame, MAX_WINDOW_SIZE, Settings, encode};

/// What a complete header block is for.
enum Target {
    /// A new request.
    New,
    /// Trailers of an open stream.
    Trailers,
    /// Nothing: decoded for the HPACK table only, then the stream is reset
    /// with this code (`None`: ignored, RFC 9113 §6.8 after our GOAWAY).
    Discard(Option<ErrorCode>),
}

const fn protocol(reason: &'static str) -> ConnError {
    ConnError::new(ErrorCode::ProtocolError, reason)
}

impl Connection {
    /// Consumes the client preface and every complete frame in `buf`
    /// (an incomplete one stays for the next call); events and frames to
    /// send are queued.
    ///
    /// On `Err` a GOAWAY with the error's code is queued and the connection
    /// is over: write the queue, close. Later calls return the same error.
    pub fn recv(&mut self, buf: &mut BytesMut) -> Result<(), ConnError> {
        if let Some(err) = self.closed {
            return Err(err);
        }
        if !self.preface {
            match frame::parse_preface(buf) {
                Ok(true) => self.preface = true,
                Ok(false) => return Ok(()),
                Err(e) => return Err(self.fail(ConnError::new(e.code, e.reason))),
            }
        }
        loop {
            let result = match frame::parse(buf, self.cfg.max_frame_size) {
                Ok(Some(frame)) => self.frame(frame),
                Ok(None) => return Ok(()),
                Err(e) => match e.stream {
                    Some(id) => self.frame_stream_error(id, e.code, e.reason),
                    None => Err(ConnError::new(e.code, e.reason)),
                },
            };
            if let Err(err) = result {
                return Err(self.fail(err));
            }
            if self.local_resets > self.cfg.max_local_resets {
                return Err(self.fail(ConnError::new(
                    ErrorCode::EnhanceYourCalm,
                    "too many stream errors",
                )));
            }
        }
    }

    /// A stream error the frame parser found.
    fn frame_stream_error(
        &mut self,
        id: u32,
        code: ErrorCode,
        reason: &'static str,
    ) -> Result<(), ConnError> {
        if self.partial.is_some() {
            return Err(protocol("frame inside a header block"));
        }
        if !self.peer_settings {
            return Err(protocol("first frame is not SETTINGS"));
        }
        if self.is_idle(id) {
            // RST_STREAM must not be sent on an idle stream (§6.4).
            return Err(ConnError::new(code, reason));
        }
        self.stream_error(id, code);
        Ok(())
    }

    /// A stream the client has not opened yet (or a server-initiated one,
    /// which we never open).
    #[inline]
    pub(super) fn is_idle(&self, id: u32) -> bool {
        id > self.last_client || id.is_multiple_of(2)
    }

    /// One frame.
    fn frame(&mut self, frame: Frame) -> Result<(), ConnError> {
        if let Some(p) = &self.partial {
            match &frame {
                Frame::Continuation { stream, .. } if *stream == p.stream => {}
                _ => return Err(protocol("expected CONTINUATION")),
            }
        }
        if !self.peer_settings && !matches!(frame, Frame::Settings(_)) {
            return Err(protocol("first frame is not SETTINGS"));
        }
        self.flood.check(&frame)?;
        match frame {
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => self.data(stream, end_stream, data, flow_len),
            Frame::Headers {
                stream,
                end_stream,
                end_headers: true,
                block,
                ..
            } => self.block(stream, end_stream, block),
            Frame::Headers {
                stream,
                end_stream,
                block,
                ..
            } => {
                self.check_block_len(block.len())?;
                self.partial = Some(Partial {
                    stream,
                    end_stream,
                    block: BytesMut::from(&block[..]),
                });
                Ok(())
            }
            Frame::Continuation {
                end_headers, block, ..
            } => {
                let Some(len) = self.partial.as_ref().map(|p| p.block.len()) else {
                    return Err(protocol("CONTINUATION without HEADERS"));
                };
                self.check_block_len(len.saturating_add(block.len()))?;
                let Some(p) = self.partial.as_mut() else {
                    return Ok(());
                };
                p.block.extend_from_slice(&block);
                if !end_headers {
                    return Ok(());
                }
                let Some(p) = self.partial.take() else {
                    return Ok(());
                };
                self.block(p.stream, p.end_stream, p.block.freeze())
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream, code } => self.rst_stream(stream, code),
            Frame::Settings(settings) => self.settings(settings),
            Frame::SettingsAck => {
                self.settings_ack();
                Ok(())
            }
            Frame::Ping { ack, payload } => {
                if !ack {
                    encode::ping(&mut self.out, true, payload);
                } else if payload == super::DRAIN_PING {
                    self.finish_drain();
                }
                Ok(())
            }
            Frame::GoAway {
                last_stream, code, ..
            } => {
                self.goaway_received = true;
                self.events.push_back(Event::GoAway { last_stream, code });
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.window_update(stream, increment),
        }
    }

    /// The CONTINUATION flood defence.
    #[inline]
    fn check_block_len(&self, len: usize) -> Result<(), ConnError> {
        if len > self.block_cap {
            return Err(ConnError::new(
                ErrorCode::EnhanceYourCalm,
                "header block too large",
            ));
        }
        Ok(())
    }

    /// A complete header block.
    fn block(&mut self, id: u32, end_stream: bool, block: Bytes) -> Result<(), ConnError> {
        self.check_block_len(block.len())?;
        let target = match self.streams.get(&id) {
            Some(s) if s.remote_closed => Target::Discard(Some(ErrorCode::StreamClosed)),
            Some(_) => Target::Trailers,
            None if id.is_multiple_of(2) => return Err(protocol("HEADERS on an even stream id")),
            // Late trailers of a stream we reset: ignored (§5.1).
            None if id <= self.last_client && self.reset_by_us(id) => Target::Discard(None),
            // A new stream's id must be above every earlier one (§5.1.1).
            None if id <= self.last_client => {
                return Err(protocol("HEADERS on a closed stream id"));
            }
            None => {
                self.last_client = id;
                self.flood.streams_opened += 1;
                if self.goaway_sent.is_some_and(|last| id > last) {
                    Target::Discard(None)
                } else if self.streams.len() >= self.cfg.max_concurrent_streams as usize {
                    Target::Discard(Some(ErrorCode::RefusedStream))
                } else {
                    Target::New
                }
            }
        };
        let trailers = matches!(target, Target::Trailers);
        let mut head = Head::new(trailers, self.cfg.max_header_list_size as usize);
        let decoded = match target {
            Target::Discard(_) => self.decoder.decode(&block, |_| {}),
            _ => self.decoder.decode(&block, |f| head.field(f)),
        };
        if decoded.is_err() {
            return Err(ConnError::new(
                ErrorCode::CompressionError,
                "invalid HPACK block",
            ));
        }
        match target {
            Target::Discard(None) => {}
            Target::Discard(Some(code)) => self.stream_error(id, code),
            Target::New => self.request(id, end_stream, head),
            Target::Trailers => self.trailers(id, end_stream, head),
        }
        Ok(())
    }

    /// A request head on a new stream.
    fn request(&mut self, id: u32, end_stream: bool, head: Head) {
        self.last_processed = id;
        match head.into_request(self.cfg.enable_connect_protocol) {
            Ok((_, Some(len))) if end_stream && len != 0 => {
                self.stream_error(id, ErrorCode::ProtocolError);
                self.events.push_back(Event::Refused {
                    stream: id,
                    reason: "content-length on a request without a body",
                });
            }
            Ok((head, content_length)) => {
                let stream = Stream::new(
                    self.peer_initial,
                    self.local_initial,
                    content_length,
                    end_stream,
                );
                self.streams.insert(id, stream);
                self.events.push_back(Event::Request {
                    stream: id,
                    head,
                    end_stream,
                });
            }
            Err(Refusal::Malformed(reason)) => {
                self.stream_error(id, ErrorCode::ProtocolError);
                self.events.push_back(Event::Refused { stream: id, reason });
            }
            Err(Refusal::TooLarge) => {
                // Answered here (as the h2 crate does); a body still on its
                // way is declined without error (RFC 9113 §8.1).
                self.scratch.clear();
                let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                self.encoder
                    .encode_response(status, &HeaderMap::new(), &mut self.scratch);
                let max = self.peer_max_frame as usize;
                encode::headers(&mut self.out, id, &self.scratch, true, max);
                if !end_stream {
                    self.stream_error(id, ErrorCode::NoError);
                }
                self.events.push_back(Event::Refused {
                    stream: id,
                    reason: "header list too large",
                });
            }
        }
    }

    /// A second header block on an open stream: trailers.
    fn trailers(&mut self, id: u32, end_stream: bool, head: Head) {
        let trailers = match head.into_trailers() {
            Ok(t) if end_stream => t,
            // Trailers must end the stream (§8.1); too large ones cannot be
            // answered 431 any more.
            _ => return self.stream_error(id, ErrorCode::ProtocolError),
        };
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.content_length.is_some_and(|n| n != s.received) {
            return self.stream_error(id, ErrorCode::ProtocolError);
        }
        s.remote_closed = true;
        let closed = s.is_closed();
        self.events.push_back(Event::Trailers {
            stream: id,
            trailers,
        });
        if closed {
            self.remove(id);
        }
    }

    /// A DATA frame.
    fn data(
        &mut self,
        id: u32,
        end_stream: bool,
        data: Bytes,
        flow_len: u32,
    ) -> Result<(), ConnError> {
        let flow = i64::from(flow_len);
        if flow > self.recv_window {
            return Err(ConnError::new(
                ErrorCode::FlowControlError,
                "connection window exceeded",
            ));
        }
        self.recv_window -= flow;
        let local_initial = self.local_initial;
        let Some(s) = self.streams.get_mut(&id) else {
            self.release_conn(flow_len);
            if self.is_idle(id) {
                return Err(protocol("DATA on an idle stream"));
            }
            let ignored = self.goaway_sent.is_some_and(|last| id > last);
            if !ignored && !self.reset_by_us(id) {
                self.stream_error(id, ErrorCode::StreamClosed);
            }
            return Ok(());
        };
        let code = if s.remote_closed {
            Some(ErrorCode::StreamClosed)
        } else if flow > s.recv_window {
            Some(ErrorCode::FlowControlError)
        } else {
            None
        };
        // `data` is the payload less padding: no longer than `flow_len`.
        let len = u32::try_from(data.len()).unwrap_or(flow_len).min(flow_len);
        let received = s.received.saturating_add(u64::from(len));
        let code = code.or(match s.content_length {
            Some(n) if received > n || (end_stream && received != n) => {
                Some(ErrorCode::ProtocolError)
            }
            _ => None,
        });
        if let Some(code) = code {
            self.release_conn(flow_len);
            self.stream_error(id, code);
            return Ok(());
        }
        s.recv_window -= flow;
        s.received = received;
        s.buffered = s.buffered.saturating_add(len);
        s.remote_closed = end_stream;
        let closed = s.is_closed();
        let padding = flow_len - len;
        if padding > 0 {
            // The application never sees padding: released at once.
            release_stream(&mut self.out, id, s, padding, local_initial);
            self.release_conn(padding);
        }
        if len > 0 || end_stream {
            self.events.push_back(Event::Data {
                stream: id,
                data,
                end_stream,
            });
        }
        if closed {
            self.remove(id);
        }
        Ok(())
    }

    /// A RST_STREAM from the client.
    fn rst_stream(&mut self, id: u32, code: ErrorCode) -> Result<(), ConnError> {
        let Some(s) = self.streams.get(&id) else {
            if self.is_idle(id) {
                return Err(protocol("RST_STREAM on an idle stream"));
            }
            return Ok(());
        };
        let unfinished = s.response != Response::Ended;
        self.remove(id);
        self.events.push_back(Event::Reset { stream: id, code });
        if unfinished {
            // See `Connection::reset_pending`.
            self.reset_pending.push(id);
            if self.reset_pending.len() > self.cfg.max_pending_resets as usize {
                return Err(ConnError::new(
                    ErrorCode::EnhanceYourCalm,
                    "too many stream resets",
                ));
            }
        }
        Ok(())
    }

    /// The client's SETTINGS: applied, then acknowledged.
    fn settings(&mut self, settings: Settings) -> Result<(), ConnError> {
        self.peer_settings = true;
        if let Some(size) = settings.max_frame_size {
            self.peer_max_frame = size;
        }
        if let Some(initial) = settings.initial_window_size {
            let delta = i64::from(initial) - i64::from(self.peer_initial);
            self.peer_initial = initial;
            for s in self.streams.values_mut() {
                s.send_window += delta;
                if s.send_window > i64::from(MAX_WINDOW_SIZE) {
                    return Err(ConnError::new(
                        ErrorCode::FlowControlError,
                        "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window",
                    ));
                }
            }
            if delta > 0 {
                self.wake_blocked();
            }
        }
        // SETTINGS_HEADER_TABLE_SIZE needs nothing: our encoder never
        // indexes (see its module docs).
        encode::settings_ack(&mut self.out);
        Ok(())
    }

    /// The client acknowledged our SETTINGS: our initial window is in
    /// force from now on (§6.9.2), for the streams already open too.
    fn settings_ack(&mut self) {
        if self.settings_unacked == 0 {
            return;
        }
        self.settings_unacked -= 1;
        let delta = i64::from(self.cfg.initial_window_size) - i64::from(self.local_initial);
        self.local_initial = self.cfg.initial_window_size;
        for s in self.streams.values_mut() {
            s.recv_window += delta;
        }
    }

    /// A WINDOW_UPDATE: our send windows grow.
    fn window_update(&mut self, id: u32, increment: u32) -> Result<(), ConnError> {
        let max = i64::from(MAX_WINDOW_SIZE);
        if id == 0 {
            self.send_window += i64::from(increment);
            if self.send_window > max {
                return Err(ConnError::new(
                    ErrorCode::FlowControlError,
                    "connection window overflow",
                ));
            }
            self.wake_blocked();
            return Ok(());
        }
        let conn_open = self.send_window > 0;
        let Some(s) = self.streams.get_mut(&id) else {
            if self.is_idle(id) {
                return Err(protocol("WINDOW_UPDATE on an idle stream"));
            }
            return Ok(());
        };
        s.send_window += i64::from(increment);
        if s.send_window > max {
            self.stream_error(id, ErrorCode::FlowControlError);
        } else if s.blocked && s.send_window > 0 && conn_open {
            s.blocked = false;
            self.events.push_back(Event::Capacity { stream: id });
        }
        Ok(())
    }

    /// Capacity events for the blocked streams that can send again.
    fn wake_blocked(&mut self) {
        if self.send_window <= 0 {
            return;
        }
        for (&id, s) in self.streams.iter_mut() {
            if s.blocked && s.send_window > 0 {
                s.blocked = false;
                self.events.push_back(Event::Capacity { stream: id });
            }
        }
    }

    /// A stream error (§5.4.2): RST_STREAM, and the stream is gone (an
    /// [`Event::Reset`] when the application had it).
    pub(super) fn stream_error(&mut self, id: u32, code: ErrorCode) {
        if code != ErrorCode::NoError {
            self.local_resets = self.local_resets.saturating_add(1);
        }
        encode::rst_stream(&mut self.out, id, code);
        self.note_reset(id);
        if self.streams.contains_key(&id) {
            self.remove(id);
            self.events.push_back(Event::Reset { stream: id, code });
        }
    }

    /// Remembers a stream we reset: frames the client sent before it saw
    /// the RST_STREAM are ignored (§5.1, "closed").
    pub(super) fn note_reset(&mut self, id: u32) {
        let len = self.reset_ring.len();
        if let Some(slot) = self.reset_ring.get_mut(self.reset_at % len) {
            *slot = id;
        }
        self.reset_at = (self.reset_at + 1) % len;
    }

    /// We reset `id` recently.
    #[inline]
    fn reset_by_us(&self, id: u32) -> bool {
        self.reset_ring.contains(&id)
    }

    /// Takes a stream out of the table; the body bytes the application
    /// will not consume are given back to the connection window.
    pub(super) fn remove(&mut self, id: u32) {
        if let Some(s) = self.streams.remove(&id) {
            self.release_conn(s.buffered);
        }
    }

    /// `n` bytes of the connection window released: a WINDOW_UPDATE once
    /// half the window is.
    pub(super) fn release_conn(&mut self, n: u32) {
        self.recv_unacked = self.recv_unacked.saturating_add(n);
        if self.recv_unacked > 0 && self.recv_unacked >= (self.recv_target / 2).max(1) {
            let inc = self.recv_unacked.min(MAX_WINDOW_SIZE);
            encode::window_update(&mut self.out, 0, inc);
            self.recv_window += i64::from(inc);
            self.recv_unacked -= inc;
        }
    }
}

/// `n` bytes of stream `id`'s window released: a WINDOW_UPDATE once half
/// the window is, unless the client has ended the stream.
pub(super) fn release_stream(out: &mut Vec<u8>, id: u32, s: &mut Stream, n: u32, target: u32) {
    s.recv_unacked = s.recv_unacked.saturating_add(n);
    if s.remote_closed || s.recv_unacked == 0 || s.recv_unacked < (target / 2).max(1) {
        return;
    }
    let inc = s.recv_unacked.min(MAX_WINDOW_SIZE);
    encode::window_update(out, id, inc);
    s.recv_window += i64::from(inc);
    s.recv_unacked -= inc;
}
