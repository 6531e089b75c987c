//! The own HTTP/2 server connection (`http::h2::conn::Connection`) driven
//! by arbitrary client bytes (after a valid preface, so the fuzzer starts
//! past it), fed in pieces, with an application that answers every request
//! and gives back every body byte: never panics; once `recv` fails it keeps
//! failing and the connection is done; everything it queues to write is a
//! sequence of whole, valid frames no larger than the biggest frame size a
//! client may allow; no stream is left open after the connection is done.
#![no_main]

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use switchyard::http::h2::conn::{Config, Connection, Event};
use switchyard::http::h2::frame::{self, MAX_MAX_FRAME_SIZE, PREFACE};

/// Answers what the connection reports: a response per request (with a
/// body when the request ended), body bytes given back.
fn serve(conn: &mut Connection, pending: &mut Vec<(u32, Bytes)>) {
    while let Some(ev) = conn.poll_event() {
        match ev {
            Event::Request {
                stream, end_stream, ..
            } => {
                let _ = conn.send_response(stream, StatusCode::OK, &HeaderMap::new(), false);
                if end_stream {
                    pending.push((stream, Bytes::from_static(&[b'x'; 3000])));
                }
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                conn.consumed(stream, data.len());
                if end_stream {
                    pending.push((stream, data));
                }
            }
            Event::Trailers { stream, .. } => pending.push((stream, Bytes::new())),
            Event::Reset { stream, .. } => {
                pending.retain(|(s, _)| *s != stream);
                conn.dropped(stream);
            }
            Event::Capacity { .. } | Event::GoAway { .. } | Event::Refused { .. } => {}
        }
    }
    pending.retain_mut(|(stream, body)| match conn.send_data(*stream, body, true) {
        Ok(_) => !body.is_empty(),
        Err(_) => false,
    });
}

/// Checks that the queued output is whole frames and takes it.
fn drain(conn: &mut Connection, out: &mut BytesMut) {
    for chunk in conn.write_queue().drain(..) {
        out.extend_from_slice(&chunk);
    }
    loop {
        match frame::parse(out, MAX_MAX_FRAME_SIZE) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => panic!("the server wrote an invalid frame: {e:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [cfg, step, rest @ ..] = data else {
        return;
    };
    let mut config = Config::default();
    if cfg & 1 != 0 {
        // Small windows and limits: flow control and refusals get exercised.
        config.initial_window_size = 100;
        config.connection_window = 65_535;
        config.max_concurrent_streams = 2;
        config.max_header_list_size = 200;
        config.max_pending_resets = 3;
        config.max_local_resets = 3;
    }
    config.enable_connect_protocol = cfg & 2 != 0;
    let mut conn = Connection::new(config);
    let mut input = PREFACE.to_vec();
    input.extend_from_slice(rest);
    let step = usize::from(*step).max(1);
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut pending = Vec::new();
    let mut failed = false;
    for (i, piece) in input.chunks(step).enumerate() {
        if i == 1 && cfg & 4 != 0 {
            // A graceful two-step shutdown while frames keep coming.
            conn.drain();
        }
        if i == 3 && cfg & 8 != 0 {
            conn.finish_drain();
        }
        buf.extend_from_slice(piece);
        let res = conn.recv(&mut buf);
        if failed {
            assert!(res.is_err(), "recv succeeded after a connection error");
        }
        if res.is_err() {
            failed = true;
            assert!(
                conn.is_done(),
                "a connection error left the connection running"
            );
        } else {
            serve(&mut conn, &mut pending);
        }
        drain(&mut conn, &mut out);
    }
    if conn.is_done() {
        assert_eq!(conn.open_streams(), 0, "streams open after the end");
    }
    assert!(
        out.len() < 9 + MAX_MAX_FRAME_SIZE as usize,
        "a partial frame left over"
    );
});
