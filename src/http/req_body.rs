//! The request body the proxy forwards upstream.
//!
//! Requests arrive three ways: through hyper's servers (HTTP/1.1 requests
//! with a body, an upgrade or anything unusual; HTTP/2 when the own server
//! is switched off), whose body is hyper's [`Incoming`]; through the
//! proxy's own HTTP/1.1 reader ([`super::h1`]), which takes only requests
//! that carry no body; and through the own HTTP/2 server
//! ([`super::h2::serve`]), whose bodies are the stream's DATA frames. hyper
//! offers no public way to make an empty `Incoming`, so the forwarding path
//! speaks this enum instead.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::body::BodyError;

/// A request body: nothing, or what hyper reads from the client.
#[derive(Debug, Default)]
pub enum ReqBody {
    /// No body (no `Content-Length`, no `Transfer-Encoding`).
    #[default]
    Empty,
    /// Streamed from the client by hyper.
    Incoming(Incoming),
    /// Streamed from an HTTP/2 stream of the own server.
    H2(super::h2::serve::RequestBody),
}

impl From<Incoming> for ReqBody {
    fn from(b: Incoming) -> ReqBody {
        ReqBody::Incoming(b)
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Incoming(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            ReqBody::H2(b) => b.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Incoming(b) => b.is_end_stream(),
            ReqBody::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Incoming(b) => b.size_hint(),
            ReqBody::H2(b) => b.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn an_empty_body_ends_at_once_with_a_zero_size() {
        let mut b = ReqBody::default();
        assert!(b.is_end_stream());
        assert_eq!(b.size_hint().exact(), Some(0));
        assert!(b.frame().await.is_none());
    }
}
