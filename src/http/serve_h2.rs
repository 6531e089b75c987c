//! Serving one HTTP/2 client connection (ALPN `h2` or prior-knowledge h2c)
//! with hyper's HTTP/2 server: the fallback a listener chooses with
//! `h2_server = "hyper"` (the own server, `super::h2::serve`, is the
//! default).
//!
//! hyper's HTTP/2 server runs the streams; each request goes through the
//! same proxy path as HTTP/1 requests (so the streams of one connection are
//! balanced one by one). The connection's safety limits (concurrent
//! streams, header list size, Rapid Reset cap) are in the listener's
//! builder. Here: the idle timeout (no stream open for `idle_timeout`), and
//! a graceful GOAWAY on reload, shutdown or idle, letting open streams end
//! (a client that then never acknowledges is dropped after a short grace).
//!
//! When the server ends the connection, the socket lingers
//! ([`super::linger`]), so a client still writing reads the GOAWAY rather
//! than a reset.

use std::pin::Pin;
use std::rc::Rc;

use tokio::time::Instant;

use super::conn::{ClientIo, ConnState, PARK_AFTER};
use super::linger::{Linger, LingerIo};

/// How long a connection told to go away may stay without open streams
/// (waiting for the client to acknowledge the GOAWAY's PING).
const GOAWAY_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the HTTP/2 server over `io` until the connection ends.
pub(super) async fn serve(
    io: ClientIo,
    state: &Rc<ConnState>,
    mut closing: Pin<&mut crate::worker::Closing>,
) {
    let svc_state = state.clone();
    // Each stream's future is boxed: hyper spawns one task per stream and
    // tokio copies a task's whole future on spawn and at every stage change
    // (running, finished, consumed). Boxed, those copies are a pointer;
    // inline, they were kilobytes each and the largest item in the HTTP/2
    // profile (memcpy, ~9 % of CPU).
    let service = hyper::service::service_fn(move |req| {
        let fut = Box::pin(super::proxy::handle(svc_state.clone(), req.map(Into::into)));
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    });
    let linger = Rc::new(Linger::default());
    let io = LingerIo::new(io, linger.clone());
    {
        // In a block of its own: the connection (and with it the socket,
        // into `linger` when the server shut it down) is dropped at its end.
        let conn = state.listener.h2.serve_connection(io, service);
        tokio::pin!(conn);
        let timer = tokio::time::sleep(PARK_AFTER);
        tokio::pin!(timer);
        let mut going_away = false;
        // When the GOAWAY was sent; a client that never acknowledges its PING
        // is dropped once it has no stream open for GOAWAY_GRACE.
        let mut away_since = Instant::now();
        loop {
            tokio::select! {
                biased;
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(peer = %state.peer, error = %e, "HTTP/2 client connection ended with an error");
                    }
                    break;
                }
                _ = timer.as_mut() => {
                    let now = Instant::now();
                    if going_away
                        && state.idle_deadline().is_some()
                        && now >= away_since + GOAWAY_GRACE
                    {
                        tracing::debug!(peer = %state.peer, "dropping HTTP/2 client connection that ignored GOAWAY");
                        break;
                    }
                    if !going_away && state.expired(now) {
                        tracing::debug!(peer = %state.peer, "HTTP/2 client connection reached max_connection_duration");
                        conn.as_mut().graceful_shutdown();
                        going_away = true;
                        away_since = now;
                    } else if !going_away && state.idle_deadline().is_some_and(|d| now >= d) {
                        tracing::debug!(peer = %state.peer, "closing idle HTTP/2 client connection");
                        conn.as_mut().graceful_shutdown();
                        going_away = true;
                        away_since = now;
                    }
                    let next = now + PARK_AFTER;
                    let wake = if going_away {
                        next
                    } else {
                        state.idle_deadline().map_or(next, |d| d.max(now).min(next))
                    };
                    timer.as_mut().reset(wake);
                }
                _ = closing.as_mut(), if !going_away => {
                    if state.stale() {
                        // GOAWAY: open streams finish, new ones go to a new connection.
                        conn.as_mut().graceful_shutdown();
                        going_away = true;
                        away_since = Instant::now();
                    } else {
                        closing.set(state.worker.closing());
                    }
                }
            }
        }
    }
    linger.close().await;
}
