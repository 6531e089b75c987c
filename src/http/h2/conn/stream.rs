//! Per-stream state: which sides have ended the stream, the two stream
//! flow-control windows, and what `content-length` promised.

/// Where our response stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Response {
    /// No final head sent (informational ones may have been).
    None,
    /// The final head was sent; DATA or trailers may follow.
    Head,
    /// END_STREAM sent: half-closed (local).
    Ended,
}

/// An open (or half-closed) stream.
#[derive(Debug)]
pub(super) struct Stream {
    /// What we may still send on it (may go negative after a SETTINGS
    /// change, RFC 9113 §6.9.2).
    pub(super) send_window: i64,
    /// What the client may still send on it.
    pub(super) recv_window: i64,
    /// Bytes released (consumed, or padding) and not yet given back.
    pub(super) recv_unacked: u32,
    /// Body bytes delivered and not yet consumed: given back to the
    /// connection window when the stream goes away first.
    pub(super) buffered: u32,
    /// The request's `content-length`.
    pub(super) content_length: Option<u64>,
    /// Body bytes received.
    pub(super) received: u64,
    /// The client ended the stream: half-closed (remote).
    pub(super) remote_closed: bool,
    /// Our side.
    pub(super) response: Response,
    /// `send_data` left bytes behind for lack of window: an
    /// [`Event::Capacity`](super::Event::Capacity) is due when it grows.
    pub(super) blocked: bool,
}

impl Stream {
    /// A stream opened by a request head.
    pub(super) fn new(
        send_window: u32,
        recv_window: u32,
        content_length: Option<u64>,
        end_stream: bool,
    ) -> Stream {
        Stream {
            send_window: i64::from(send_window),
            recv_window: i64::from(recv_window),
            recv_unacked: 0,
            buffered: 0,
            content_length,
            received: 0,
            remote_closed: end_stream,
            response: Response::None,
            blocked: false,
        }
    }

    /// Both sides have ended the stream: closed.
    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        self.remote_closed && self.response == Response::Ended
    }
}
