//! Responses: heads, bodies within the client's flow-control windows,
//! trailers, resets, and giving request-body window back.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::recv::release_stream;
use super::stream::Response;
use super::{COPY_MAX, Connection, StreamError, flush};
use crate::http::h2::frame::{ErrorCode, encode};
use crate::upstream::h1::raw::RawFields;

impl Connection {
    /// Sends the response head of `stream`: `:status`, then `headers` (the
    /// caller leaves connection-specific fields out, RFC 9113 §8.2.2).
    /// Informational (1xx) heads may come first, any number, without
    /// `end_stream`; then one final head. `end_stream`: no body follows.
    pub fn send_response(
        &mut self,
        stream: u32,
        status: StatusCode,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<(), StreamError> {
        self.send_response_with(stream, status, headers, None, end_stream)
    }

    /// [`send_response`](Self::send_response) with an HTTP/1.1 upstream's
    /// end-to-end fields as they arrived (`raw`) after `headers`.
    pub fn send_response_with(
        &mut self,
        stream: u32,
        status: StatusCode,
        headers: &HeaderMap,
        raw: Option<&RawFields>,
        end_stream: bool,
    ) -> Result<(), StreamError> {
        let informational = status.is_informational();
        let s = self.open_stream(stream)?;
        match s.response {
            Response::None => {}
            Response::Head => return Err(StreamError::HeadSent(stream)),
            Response::Ended => return Err(StreamError::NotOpen(stream)),
        }
        if informational && end_stream {
            return Err(StreamError::InformationalEnd(stream));
        }
        if !informational {
            s.response = Response::Head;
        }
        self.scratch.clear();
        self.encoder
            .encode_response_with(status, headers, raw, &mut self.scratch);
        let max = self.peer_max_frame as usize;
        encode::headers(&mut self.out, stream, &self.scratch, end_stream, max);
        if end_stream {
            self.end_local(stream);
        }
        Ok(())
    }

    /// Queues DATA frames on `stream` from the front of `data`, as much as
    /// the stream's and the connection's send windows allow, in frames of
    /// at most the client's SETTINGS_MAX_FRAME_SIZE. Returns how many bytes
    /// were taken from `data` (they are gone from it); when some are left,
    /// an [`Event::Capacity`](super::Event::Capacity) tells when to call
    /// again. `end_stream` is sent with the last byte of `data` (or alone,
    /// when `data` is empty, whatever the windows).
    pub fn send_data(
        &mut self,
        stream: u32,
        data: &mut Bytes,
        end_stream: bool,
    ) -> Result<usize, StreamError> {
        let conn_window = self.send_window;
        let max_frame = self.peer_max_frame as usize;
        if self.closed.is_some() {
            return Err(StreamError::ConnectionClosed);
        }
        // Not `open_stream`: the output buffers are borrowed alongside.
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(StreamError::NotOpen(stream))?;
        match s.response {
            Response::Head => {}
            Response::None => return Err(StreamError::NoHead(stream)),
            Response::Ended => return Err(StreamError::NotOpen(stream)),
        }
        if data.is_empty() && !end_stream {
            return Ok(0);
        }
        let mut taken = 0;
        let mut conn_left = conn_window;
        let mut ended = false;
        loop {
            let window = s.send_window.min(conn_left).max(0);
            let window = usize::try_from(window).unwrap_or(0);
            let n = data.len().min(window).min(max_frame);
            if n == 0 && !data.is_empty() {
                s.blocked = true;
                break;
            }
            let last = n == data.len();
            let fin = end_stream && last;
            let chunk = data.split_to(n);
            let n64 = n as i64;
            s.send_window -= n64;
            conn_left -= n64;
            taken += n;
            encode::data_head(&mut self.out, stream, n, fin);
            self.flood.data_sent += 1;
            if n <= COPY_MAX {
                self.out.extend_from_slice(&chunk);
            } else {
                flush(&mut self.out, &mut self.queue);
                self.queue.push_back(chunk);
            }
            if last {
                ended = fin;
                break;
            }
        }
        self.send_window = conn_left;
        if ended {
            self.end_local(stream);
        }
        Ok(taken)
    }

    /// Sends the trailers of `stream`, which ends it (after the final head,
    /// and DATA if any, without END_STREAM).
    pub fn send_trailers(&mut self, stream: u32, trailers: &HeaderMap) -> Result<(), StreamError> {
        let s = self.open_stream(stream)?;
        match s.response {
            Response::Head => {}
            Response::None => return Err(StreamError::NoHead(stream)),
            Response::Ended => return Err(StreamError::NotOpen(stream)),
        }
        self.scratch.clear();
        self.encoder.encode_trailers(trailers, &mut self.scratch);
        let max = self.peer_max_frame as usize;
        encode::headers(&mut self.out, stream, &self.scratch, true, max);
        self.end_local(stream);
        Ok(())
    }

    /// Resets `stream` with `code` (RST_STREAM); no event follows. Nothing
    /// happens if the stream is not open. `NoError` after a complete
    /// response asks the client to stop sending the request body
    /// (RFC 9113 §8.1).
    pub fn reset(&mut self, stream: u32, code: ErrorCode) {
        if self.closed.is_none() && self.streams.contains_key(&stream) {
            encode::rst_stream(&mut self.out, stream, code);
            self.note_reset(stream);
            self.remove(stream);
        }
    }

    /// The application took `n` request-body bytes of `stream` (from
    /// [`Event::Data`](super::Event::Data)): the stream's and the
    /// connection's receive windows get them back, with a WINDOW_UPDATE
    /// once half a window is due. Bytes of a stream that is gone were
    /// given back when it went.
    pub fn consumed(&mut self, stream: u32, n: usize) {
        let target = self.local_initial;
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        let n = u32::try_from(n).unwrap_or(u32::MAX).min(s.buffered);
        if n == 0 {
            return;
        }
        s.buffered -= n;
        release_stream(&mut self.out, stream, s, n, target);
        self.release_conn(n);
    }

    /// The open stream `id`, for sending.
    fn open_stream(&mut self, id: u32) -> Result<&mut super::stream::Stream, StreamError> {
        if self.closed.is_some() {
            return Err(StreamError::ConnectionClosed);
        }
        self.streams.get_mut(&id).ok_or(StreamError::NotOpen(id))
    }

    /// We sent END_STREAM on `id`: half-closed (local), closed if the
    /// client had ended it too.
    fn end_local(&mut self, id: u32) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.response = Response::Ended;
            if s.is_closed() {
                self.remove(id);
            }
        }
    }
}
