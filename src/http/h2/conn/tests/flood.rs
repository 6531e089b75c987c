//! The frame-flood caps (`conn/flood.rs`): each flood ends with GOAWAY
//! ENHANCE_YOUR_CALM one frame past its cap, and the same frames at the
//! cap, or spread out by real work, are accepted.

use bytes::Bytes;

use super::super::flood::{MAX_EMPTY_RUN, PRIORITY_PER_STREAM, WINDOW_UPDATES_PER_DATA};
use super::*;

/// A PRIORITY frame on `stream` depending on nothing, weight 16.
fn priority(stream: u32) -> Vec<u8> {
    raw(kind::PRIORITY, 0, stream, &[0, 0, 0, 0, 15])
}

/// `n` copies of `frame`.
fn times(frame: &[u8], n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.extend_from_slice(frame);
    }
    v
}

#[test]
fn empty_data_frames_in_a_row_end_the_connection() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    let empty = data(1, b"", false);
    c.send(&times(&empty, u64::from(MAX_EMPTY_RUN))).unwrap();
    assert!(c.events().is_empty(), "empty DATA frames deliver nothing");
    c.expect_conn_error(&empty, ErrorCode::EnhanceYourCalm);
}

#[test]
fn empty_frames_between_real_ones_are_fine() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    let empty = data(1, b"", false);
    let mut input = Vec::new();
    for _ in 0..4 {
        input.extend(times(&empty, u64::from(MAX_EMPTY_RUN)));
        input.extend(data(1, b"x", false));
    }
    input.extend(data(1, b"", true));
    c.send(&input).unwrap();
    let got: Vec<Bytes> = c
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Data { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec!["x", "x", "x", "x", ""]);
    assert!(!c.conn.is_done());
}

#[test]
fn empty_continuation_frames_end_the_connection() {
    let mut c = Client::new(cfg());
    let fragment = block(GET);
    // HEADERS without END_HEADERS, then empty CONTINUATIONs.
    let mut input = raw(kind::HEADERS, flag::END_STREAM, 1, &fragment);
    let empty = raw(kind::CONTINUATION, 0, 1, b"");
    input.extend(times(&empty, u64::from(MAX_EMPTY_RUN)));
    c.send(&input).unwrap();
    c.expect_conn_error(&empty, ErrorCode::EnhanceYourCalm);
}

#[test]
fn priority_flood_ends_the_connection() {
    let mut c = Client::new(cfg());
    // Before any stream: one stream's worth.
    c.send(&times(&priority(1), PRIORITY_PER_STREAM)).unwrap();
    c.expect_conn_error(&priority(1), ErrorCode::EnhanceYourCalm);
}

#[test]
fn priority_allowance_grows_with_streams() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.open(3, GET, true);
    // Three streams' worth (two opened, plus one).
    c.send(&times(&priority(5), 3 * PRIORITY_PER_STREAM))
        .unwrap();
    assert!(!c.conn.is_done());
    c.expect_conn_error(&priority(5), ErrorCode::EnhanceYourCalm);
}

#[test]
fn window_update_flood_ends_the_connection() {
    let mut c = Client::new(cfg());
    // No stream and no DATA: one WINDOW_UPDATE (the usual connection one).
    c.send(&window_update(0, 1)).unwrap();
    c.expect_conn_error(&window_update(0, 1), ErrorCode::EnhanceYourCalm);
}

#[test]
fn window_updates_answering_data_are_fine() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.respond(1, false);
    let mut sent = 0u64;
    // A long download: the client acknowledges every DATA frame on the
    // stream and the connection, as a browser does.
    for _ in 0..50 {
        let mut chunk = Bytes::from(vec![0u8; 1000]);
        c.conn.send_data(1, &mut chunk, false).unwrap();
        sent += 1;
        c.frames();
        let mut acks = window_update(0, 1000);
        acks.extend(window_update(1, 1000));
        c.send(&acks).unwrap();
    }
    assert!(!c.conn.is_done());
    // The allowance: 1 + 2 * (streams + 10 * DATA frames); 100 used.
    let allowed = 1 + 2 * (1 + WINDOW_UPDATES_PER_DATA * sent);
    let left = allowed - 2 * sent;
    c.send(&times(&window_update(0, 1), left)).unwrap();
    c.expect_conn_error(&window_update(0, 1), ErrorCode::EnhanceYourCalm);
}
