//! Caps on frames that cost the server work and carry no request: the
//! "empty frames", PRIORITY and WINDOW_UPDATE floods of the 2019 HTTP/2
//! advisories (CVE-2019-9518, CVE-2019-9513, and the WINDOW_UPDATE variant
//! Envoy guards against). A client past a cap ends with GOAWAY
//! ENHANCE_YOUR_CALM. The numbers are Envoy's defaults, loosened where a
//! well-behaved client could come near them; none is a config key.
//!
//! PING and SETTINGS floods need no count here: each is answered into the
//! output, and the driver stops reading while the output is large (see
//! `Connection::queued_bytes`), so a client that does not read is held back
//! by TCP and one that does pays a frame for every frame.

use super::ConnError;
use crate::http::h2::frame::{ErrorCode, Frame};

/// Frames in a row whose payload is empty and that end nothing (DATA
/// without END_STREAM, HEADERS or CONTINUATION without END_HEADERS)
/// allowed; one more is a flood. Envoy allows 1; a few more cost nothing
/// and spare clients that flush empty frames.
pub(super) const MAX_EMPTY_RUN: u32 = 16;

/// PRIORITY frames allowed per stream the client opened (plus one stream's
/// worth before any): Envoy's default.
pub(super) const PRIORITY_PER_STREAM: u64 = 100;

/// WINDOW_UPDATE frames allowed per DATA frame we sent: Envoy's default.
/// The whole allowance is `1 + 2 * (streams opened + this * DATA frames
/// sent)`, as in Envoy.
pub(super) const WINDOW_UPDATES_PER_DATA: u64 = 10;

/// The counts behind the caps, for one connection.
#[derive(Debug, Default)]
pub(super) struct Flood {
    /// Empty frames in a row.
    empty_run: u32,
    /// PRIORITY frames received.
    priority: u64,
    /// WINDOW_UPDATE frames received.
    window_updates: u64,
    /// Streams the client opened (HEADERS on a new stream id).
    pub(super) streams_opened: u64,
    /// DATA frames we sent.
    pub(super) data_sent: u64,
}

const fn calm(reason: &'static str) -> ConnError {
    ConnError::new(ErrorCode::EnhanceYourCalm, reason)
}

impl Flood {
    /// Counts `frame` (before it is processed); `Err` once a cap is passed.
    pub(super) fn check(&mut self, frame: &Frame) -> Result<(), ConnError> {
        let empty = match frame {
            Frame::Data {
                end_stream,
                flow_len,
                ..
            } => *flow_len == 0 && !*end_stream,
            Frame::Headers {
                end_headers, block, ..
            }
            | Frame::Continuation {
                end_headers, block, ..
            } => block.is_empty() && !*end_headers,
            Frame::Priority { .. } => {
                self.priority += 1;
                let allowed = PRIORITY_PER_STREAM * (1 + self.streams_opened);
                if self.priority > allowed {
                    return Err(calm("too many PRIORITY frames"));
                }
                false
            }
            Frame::WindowUpdate { .. } => {
                self.window_updates += 1;
                let allowed =
                    1 + 2 * (self.streams_opened + WINDOW_UPDATES_PER_DATA * self.data_sent);
                if self.window_updates > allowed {
                    return Err(calm("too many WINDOW_UPDATE frames"));
                }
                false
            }
            _ => false,
        };
        if !empty {
            self.empty_run = 0;
            return Ok(());
        }
        self.empty_run += 1;
        if self.empty_run > MAX_EMPTY_RUN {
            return Err(calm("too many empty frames"));
        }
        Ok(())
    }
}
