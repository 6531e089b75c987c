//! The wait for an upstream's response head, and the timeouts that bound
//! it.
//!
//! `response_timeout` counts from the end of the request, as Envoy's route
//! timeout does and as HAProxy's inactivity timeouts behave: a large upload
//! over a slow link takes as long as it takes, and only then does the
//! upstream owe an answer. While the body is still being forwarded, the
//! listener's `request_body_timeout` bounds each pause in it instead (NGINX's
//! `client_body_timeout`), and the pause is blamed on the side that caused
//! it: a client that stops sending gets `408`, an upstream that stops
//! taking the body `504`.
//!
//! A request with no body (the common case) waits under a plain
//! `tokio::time::timeout` in `proxy`, not here: wrapping its (large)
//! exchange future in one more layer costs a copy of it per request. A gRPC
//! deadline (`grpc-timeout`) is absolute, so such a request is timed from
//! its start too.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::req_body::BodyWatch;

/// How often a body's progress is checked within one `request_body_timeout`:
/// a pause is noticed between the timeout and 1 + 1/CHECKS of it.
const CHECKS: u32 = 4;

/// Why the wait ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// The request ended and no response head came within the response
    /// timeout.
    Response,
    /// The client sent no part of the body for the body timeout.
    ClientBody,
    /// The upstream took no part of the body for the body timeout while
    /// the client had more to give.
    UpstreamBody,
}

/// Waits for `send` (the request's exchange up to the response head) while
/// its body, followed by `watch`, is forwarded: pauses in the body are
/// bounded by `body_timeout` until it ends, then `response_timeout` runs.
pub async fn watched<F: Future>(
    send: F,
    watch: &BodyWatch,
    response_timeout: Duration,
    body_timeout: Duration,
) -> Result<F::Output, Stall> {
    let mut send = pin!(send);
    let step = (body_timeout / CHECKS).max(Duration::from_millis(1));
    let mut timer = pin!(tokio::time::sleep(step));
    let mut frames = watch.frames();
    // Checks in a row that saw no progress.
    let mut idle_checks = 0;
    let mut body_done = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = send.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if !body_done {
            watch.register(cx);
            if watch.is_done() {
                body_done = true;
                timer.as_mut().reset(Instant::now() + response_timeout);
            }
        }
        while timer.as_mut().poll(cx).is_ready() {
            if body_done {
                return Poll::Ready(Err(Stall::Response));
            }
            let now = watch.frames();
            if now == frames {
                idle_checks += 1;
            } else {
                frames = now;
                idle_checks = 0;
            }
            if idle_checks >= CHECKS {
                return Poll::Ready(Err(if watch.waiting_on_client() {
                    Stall::ClientBody
                } else {
                    Stall::UpstreamBody
                }));
            }
            timer.as_mut().reset(Instant::now() + step);
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests;
