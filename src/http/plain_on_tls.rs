//! Plain HTTP sent to a TLS listener gets a readable `400`, not a TLS
//! alert.
//!
//! A client that speaks plain HTTP to an HTTPS port (`curl
//! http://host:443/`, a health checker set up without TLS) would get a TLS
//! alert back, which it shows as garbage or as a broken connection: nothing
//! says what is wrong. NGINX answers such a request with "400 The plain
//! HTTP request was sent to HTTPS port"; so does this. A TLS connection
//! always starts with byte 22 (a handshake record), a request line with an
//! upper-case method letter. The byte is peeked before the handshake, so a
//! TLS client's bytes stay on the socket for rustls; it costs one system
//! call per TLS connection, next to a handshake's hundreds of microseconds.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::net::Stream;
use crate::net::cork::Tcp;
use crate::telemetry::throttle::Throttle;

/// The answer: the connection closes after it (a TLS client would not
/// understand anything else that follows).
const ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    Content-Length: 56\r\n\
    Connection: close\r\n\
    \r\n\
    400 plain HTTP sent to an HTTPS port: use https:// here\n";

/// A client can repeat this at will: one line per period (see `Throttle`).
static LOGGED: Throttle = Throttle::new();

/// What the first byte of a connection to a TLS listener says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Opening {
    /// Anything but a plain HTTP request: the handshake goes on (and
    /// fails there if it is not TLS either).
    Tls,
    /// A request line: answered and closed here.
    PlainHttp,
    /// The client closed, or sent nothing before `deadline`.
    Gone,
}

/// Whether a connection's first byte starts a plain HTTP request line.
pub(super) fn is_plain_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

/// Looks at the first byte of an accepted connection (waiting for it until
/// `deadline`) and answers a plain HTTP request with `400`, lingering
/// before the close so the client reads the answer. The connection is
/// handed back for the handshake unless it is over.
pub(super) async fn screen(
    mut tcp: Tcp,
    deadline: Instant,
    peer: SocketAddr,
    listener: &str,
) -> Option<Tcp> {
    let mut first = [0u8; 1];
    let opening = match tokio::time::timeout_at(deadline, tcp.tcp.peek(&mut first)).await {
        Ok(Ok(1..)) if is_plain_http(first[0]) => Opening::PlainHttp,
        Ok(Ok(1..)) => Opening::Tls,
        Ok(_) | Err(_) => Opening::Gone,
    };
    match opening {
        Opening::Tls => Some(tcp),
        Opening::Gone => {
            tracing::debug!(%peer, "client closed or stayed silent before the TLS handshake");
            None
        }
        Opening::PlainHttp => {
            if let Some(more) = LOGGED.allow() {
                tracing::info!(%peer, listener, suppressed = more, "plain HTTP request on a TLS listener; answered 400");
            }
            // The send timeout set on the socket bounds these writes.
            if tcp.write_all(ANSWER).await.is_ok() && tcp.shutdown().await.is_ok() {
                super::linger::linger_close(Stream::Tcp(tcp)).await;
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ANSWER, is_plain_http};

    #[test]
    fn a_tls_record_is_not_a_request_line() {
        // 22: handshake; 21: alert; 23: application data (a client that
        // sends TLS at all starts with 22, but none of them is a method).
        for b in [22u8, 21, 23, 0x80, 0] {
            assert!(!is_plain_http(b), "{b}");
        }
        for m in [
            "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PRI", "CONNECT",
        ] {
            assert!(is_plain_http(m.as_bytes()[0]), "{m}");
        }
    }

    #[test]
    fn the_answer_is_framed_by_its_content_length() {
        let text = std::str::from_utf8(ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
