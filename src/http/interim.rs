//! Interim (1xx) responses relayed from an upstream to the client.
//!
//! **Why.** RFC 9110 §15.2: a proxy MUST forward 1xx responses (to any
//! client but an HTTP/1.0 one). The one that matters is `103 Early Hints`
//! (RFC 8297): the backend names the page's style sheets and scripts while
//! it still computes the page, and the browser fetches them meanwhile.
//! HAProxy forwards them; dropping them loses that head start.
//!
//! **How.** While a request waits for its final response head, the
//! upstream client pushes each interim head here (hop-by-hop fields
//! already left out). The server polling the request takes them right
//! after each poll and writes them ahead of the final head: the own
//! HTTP/1.1 writer ([`super::h1`]) and the own HTTP/2 server's stream
//! ([`super::h2::serve`]), which are exactly the connections with
//! [`ConnState::own_writer`](super::conn::ConnState::own_writer) set. hyper's
//! servers (requests with a body over HTTP/1.1, HTTP/1.0, the
//! `h2_server = "hyper"` fallback) have no way to send a 1xx, so for them
//! no sink is handed out and the heads are dropped, as before.
//!
//! `100 Continue` is never relayed: the proxy answers a client's `Expect`
//! itself (over HTTP/1.1 hyper does, over HTTP/2 the own server), and an
//! upstream's `100` is for the proxy. `101` is an upgrade, not an interim.

use std::cell::RefCell;

use http::{HeaderMap, StatusCode};

/// At most this many interim heads wait for the server at once; more are
/// dropped (an upstream spewing 1xx cannot grow the queue).
const MAX_QUEUED: usize = 8;

/// The interim heads of the request being polled, not yet sent.
#[derive(Debug, Default)]
pub struct Interim {
    heads: RefCell<Vec<(StatusCode, HeaderMap)>>,
}

impl Interim {
    /// Queues an interim head for the client (`100` and non-1xx are
    /// ignored).
    pub fn push(&self, status: StatusCode, headers: HeaderMap) {
        if !relayed(status) {
            return;
        }
        let mut heads = self.heads.borrow_mut();
        if heads.len() < MAX_QUEUED {
            heads.push((status, headers));
        }
    }

    /// Whether heads are waiting.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.heads.borrow().is_empty()
    }

    /// Takes the waiting heads, oldest first.
    pub fn take(&self) -> Vec<(StatusCode, HeaderMap)> {
        std::mem::take(&mut *self.heads.borrow_mut())
    }
}

/// Whether an upstream's interim status goes on to the client.
pub fn relayed(status: StatusCode) -> bool {
    status.is_informational()
        && status != StatusCode::CONTINUE
        && status != StatusCode::SWITCHING_PROTOCOLS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_hints_are_queued_in_order_and_taken_once() {
        let q = Interim::default();
        let mut h = HeaderMap::new();
        h.insert("link", "</a.css>; rel=preload".parse().unwrap());
        q.push(StatusCode::from_u16(103).unwrap(), h.clone());
        q.push(StatusCode::PROCESSING, HeaderMap::new());
        assert!(!q.is_empty());
        let got = q.take();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.as_u16(), 103);
        assert_eq!(got[0].1, h);
        assert_eq!(got[1].0, StatusCode::PROCESSING);
        assert!(q.is_empty());
        assert!(q.take().is_empty());
    }

    #[test]
    fn continue_switching_and_final_statuses_are_not_relayed() {
        let q = Interim::default();
        q.push(StatusCode::CONTINUE, HeaderMap::new());
        q.push(StatusCode::SWITCHING_PROTOCOLS, HeaderMap::new());
        q.push(StatusCode::OK, HeaderMap::new());
        assert!(q.is_empty());
    }

    #[test]
    fn the_queue_is_bounded() {
        let q = Interim::default();
        for _ in 0..100 {
            q.push(StatusCode::from_u16(103).unwrap(), HeaderMap::new());
        }
        assert_eq!(q.take().len(), MAX_QUEUED);
    }
}
