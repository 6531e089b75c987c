//! Driving hyper's HTTP/1.1 server over a client connection: the requests
//! the own reader ([`super::h1`]) does not take, until the connection is
//! parked, upgraded or over.
//!
//! When hyper ends the connection on a request it refused (a malformed or
//! oversized head: it answered 400, 414 or 431 itself, without calling the
//! proxy), the refusal is logged like the proxy's own (INFO, `request
//! refused`, and an access line when the listener has the access log on),
//! and the socket closes lingering ([`super::linger`]).

use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use http::StatusCode;

use super::conn::{ClientIo, ConnState, Tick};
use super::linger::{Linger, LingerIo};
use crate::telemetry::AccessRecord;

/// What ended an active (hyper-driven) stretch of a connection.
pub(super) enum Active {
    /// Parked: the socket is handed back, open and idle.
    Parked(ClientIo),
    /// Upgraded (`101` sent): the connection is now a tunnel.
    Upgraded(ClientIo, Bytes, super::tunnel::UpstreamSide),
    /// The response closed the connection before the client's request
    /// body was read: shut our side, read what still comes, then close.
    Linger(ClientIo),
    /// The connection is over (client closed, error, timeout, close signal).
    Done,
}

/// Runs hyper over the connection until it ends, is parked or upgraded.
pub(super) async fn drive(
    io: ClientIo,
    state: &Rc<ConnState>,
    mut timer: Pin<&mut tokio::time::Sleep>,
    mut closing: Pin<&mut crate::worker::Closing>,
) -> Active {
    let svc_state = state.clone();
    let service = hyper::service::service_fn(move |req| {
        let st = svc_state.clone();
        async move {
            Ok::<_, std::convert::Infallible>(super::proxy::handle(st, req.map(Into::into)).await)
        }
    });
    let linger = Rc::new(Linger::default());
    let active = {
        // In a block of its own: the connection (and with it the socket,
        // into `linger` when one is wanted) is dropped at its end.
        let conn = state
            .listener
            .http
            .serve_connection(LingerIo::new(io, linger.clone()), service)
            .without_shutdown();
        tokio::pin!(conn);
        loop {
            tokio::select! {
                biased;
                res = conn.as_mut() => break ended(res, state, &linger),
                _ = timer.as_mut() => {
                    match state.tick(timer.as_mut()) {
                        Tick::Close => break Active::Done,
                        // TLS connections are not parked: their buffers live in
                        // rustls, which may hold bytes the socket no longer shows.
                        Tick::IdleLong if !state.park.get() && state.scheme == "http" => {
                            // hyper sees end-of-stream at its next read (the
                            // loop polls it right away) and hands the socket back.
                            state.park.set(true);
                        }
                        _ => {}
                    }
                }
                _ = closing.as_mut(), if !state.closing.get() => state.on_closing(closing.as_mut()),
            }
        }
    };
    linger.close().await;
    active
}

/// What hyper's HTTP/1.1 server ending with `res` leaves the connection as.
fn ended<S>(
    res: hyper::Result<hyper::server::conn::http1::Parts<LingerIo, S>>,
    state: &ConnState,
    linger: &Linger,
) -> Active {
    let parts = match res {
        Ok(parts) => parts,
        Err(e) => {
            // A malformed or oversized request: hyper answered it (400,
            // 431, ...) and stopped reading, maybe mid-head. Closing now
            // could reset the connection before the client reads why.
            if e.is_parse() {
                linger.want();
                refused(state, &e);
            } else {
                tracing::debug!(peer = %state.peer, error = %e, "client connection ended with an error");
            }
            return Active::Done;
        }
    };
    let Some(mut io) = parts.io.into_inner() else {
        return Active::Done;
    };
    if state.upgrade.borrow().is_some() {
        return match state.upgrade.borrow_mut().take() {
            Some(up) => Active::Upgraded(io, parts.read_buf, up),
            None => Active::Done,
        };
    }
    if state.parked.get() && !state.closing.get() {
        // An empty buffer still pins hyper's whole read buffer (it is a
        // view into it): keep bytes only.
        io.replay = if parts.read_buf.is_empty() {
            Bytes::new()
        } else {
            Bytes::copy_from_slice(&parts.read_buf)
        };
        return Active::Parked(io);
    }
    if state.linger.get() {
        return Active::Linger(io);
    }
    Active::Done
}

/// Logs a request hyper refused with `e` (its answer is already sent).
fn refused(state: &ConnState, e: &hyper::Error) {
    let listener = &state.listener;
    if e.is_parse_version_h2() {
        // hyper answers nothing to it.
        tracing::info!(
            listener = %listener.name,
            client = %state.peer,
            "HTTP/2 prior-knowledge connection on a listener without `http2 = true`: closed"
        );
        return;
    }
    // hyper's own mapping (its `on_error`): 431 for a head over
    // `max_header_bytes` (or too many fields), 414 for a URI over its
    // internal limit, 400 for the rest.
    let status = if !e.is_parse_too_large() {
        StatusCode::BAD_REQUEST
    } else if e.to_string().contains("URI") {
        StatusCode::URI_TOO_LONG
    } else {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    };
    tracing::info!(listener = %listener.name, client = %state.peer, status = status.as_u16(), error = %e, "request refused");
    if listener.access_log {
        AccessRecord::refused(&listener.name, state.peer, status, "DPE", None).emit(true, 0);
    }
}
