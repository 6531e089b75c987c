//! Flow control (RFC 9113 §6.9): our receive windows, enforced and given
//! back in batches; the client's windows limiting what we send.

use bytes::Bytes;

use super::*;

/// The WINDOW_UPDATE frames among `frames`, as (stream, increment).
fn updates(frames: &[Frame]) -> Vec<(u32, u32)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::WindowUpdate { stream, increment } => Some((*stream, *increment)),
            _ => None,
        })
        .collect()
}

fn small() -> Config {
    Config {
        initial_window_size: 1000,
        ..cfg()
    }
}

/// A client that acknowledged `small()`'s SETTINGS.
fn acked() -> Client {
    let mut c = Client::new(small());
    c.send(&raw(kind::SETTINGS, flag::ACK, 0, &[])).unwrap();
    c
}

#[test]
fn data_beyond_the_stream_window_is_a_stream_flow_control_error() {
    let mut c = acked();
    c.open(1, POST, false);
    c.send(&data(1, &[0; 1000], false)).unwrap();
    assert_eq!(c.events().len(), 1);
    c.expect_rst(&data(1, &[0], false), 1, ErrorCode::FlowControlError);
    assert_eq!(
        c.events(),
        vec![Event::Reset {
            stream: 1,
            code: ErrorCode::FlowControlError
        }]
    );
}

#[test]
fn our_initial_window_applies_once_acknowledged() {
    // Before the ACK the client may send up to 65535 on a stream.
    let mut c = Client::new(small());
    c.open(1, POST, false);
    c.send(&data(1, &[0; 5000], false)).unwrap();
    // The ACK lowers stream 1's window to 1000 - 5000 < 0: nothing more.
    c.send(&raw(kind::SETTINGS, flag::ACK, 0, &[])).unwrap();
    c.expect_rst(&data(1, &[0], false), 1, ErrorCode::FlowControlError);
}

#[test]
fn data_beyond_the_connection_window_is_a_connection_flow_control_error() {
    let mut c = Client::new(Config {
        initial_window_size: 1 << 20,
        ..cfg()
    });
    c.send(&raw(kind::SETTINGS, flag::ACK, 0, &[])).unwrap();
    c.open(1, POST, false);
    for _ in 0..3 {
        c.send(&data(1, &[0; 16_384], false)).unwrap();
    }
    // 49152 taken, 16383 left.
    c.send(&data(1, &[0; 16_383], false)).unwrap();
    c.expect_conn_error(&data(1, &[0], false), ErrorCode::FlowControlError);
}

#[test]
fn consumed_bytes_are_given_back_in_batches() {
    let mut c = acked();
    c.open(1, POST, false);
    c.send(&data(1, &[0; 1000], false)).unwrap();
    c.events();
    c.conn.consumed(1, 499);
    assert!(c.frames().is_empty());
    c.conn.consumed(1, 1);
    // Half the stream window (500): a stream WINDOW_UPDATE; the
    // connection's half (32767) is not reached.
    assert_eq!(updates(&c.frames()), vec![(1, 500)]);
    c.send(&data(1, &[0; 500], false)).unwrap();
    // 500 left of the first frame, 500 of the second; asking for more
    // than was delivered counts what was delivered.
    c.conn.consumed(1, 5000);
    assert_eq!(updates(&c.frames()), vec![(1, 1000)]);
    c.conn.consumed(1, 5000);
    assert!(c.frames().is_empty());
}

#[test]
fn connection_window_is_given_back_across_streams() {
    let mut c = Client::new(Config {
        initial_window_size: 20_000,
        ..cfg()
    });
    c.send(&raw(kind::SETTINGS, flag::ACK, 0, &[])).unwrap();
    for id in [1, 3] {
        c.open(id, POST, false);
        c.send(&data(id, &[0; 16_384], false)).unwrap();
        c.send(&data(id, &[0; 1000], false)).unwrap();
        c.events();
    }
    c.conn.consumed(1, 17_384);
    assert_eq!(updates(&c.frames()), vec![(1, 17_384)]);
    c.conn.consumed(3, 17_384);
    // 34768 >= 32767: the connection's turn.
    assert_eq!(updates(&c.frames()), vec![(3, 17_384), (0, 34_768)]);
}

#[test]
fn padding_is_given_back_at_once() {
    let mut c = acked();
    c.open(1, POST, false);
    // PADDED, pad length 200, 100 data bytes: 301 counted.
    let mut payload = vec![200u8];
    payload.extend([b'd'; 100]);
    payload.extend([0; 200]);
    c.send(&raw(kind::DATA, flag::PADDED, 1, &payload)).unwrap();
    let events = c.events();
    assert!(matches!(&events[..], [Event::Data { data, .. }] if data.len() == 100));
    assert!(c.frames().is_empty());
    // 201 padding + 100 consumed = 301, under half the window (500).
    c.conn.consumed(1, 100);
    assert!(c.frames().is_empty());
    c.send(&raw(kind::DATA, flag::PADDED, 1, &payload)).unwrap();
    // 301 + 201 = 502 released: a WINDOW_UPDATE without consuming.
    assert_eq!(updates(&c.frames()), vec![(1, 502)]);
}

#[test]
fn data_of_a_reset_stream_is_given_back_to_the_connection() {
    let mut c = Client::new(Config {
        initial_window_size: 60_000,
        ..cfg()
    });
    c.send(&raw(kind::SETTINGS, flag::ACK, 0, &[])).unwrap();
    c.open(1, POST, false);
    for _ in 0..2 {
        c.send(&data(1, &[0; 16_384], false)).unwrap();
    }
    c.events();
    assert!(c.frames().is_empty());
    // Never consumed: a client reset gives the 32768 bytes back.
    c.send(&rst(1, ErrorCode::Cancel)).unwrap();
    assert_eq!(updates(&c.frames()), vec![(0, 32_768)]);
    // And consumed() on the gone stream does nothing.
    c.conn.consumed(1, 32_768);
    assert!(c.frames().is_empty());
}

#[test]
fn send_data_is_limited_by_both_windows_and_capacity_follows() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.open(3, GET, true);
    c.respond(1, false);
    c.respond(3, false);
    let mut a = Bytes::from(vec![b'a'; 50_000]);
    assert_eq!(c.conn.send_data(1, &mut a, true).unwrap(), 50_000);
    // The connection window has 15535 left.
    let mut b = Bytes::from(vec![b'b'; 20_000]);
    assert_eq!(c.conn.send_data(3, &mut b, true).unwrap(), 15_535);
    assert_eq!(b.len(), 4465);
    assert_eq!(c.conn.send_data(3, &mut b, true).unwrap(), 0);
    // A stream WINDOW_UPDATE alone does not help: no event.
    c.send(&window_update(3, 10)).unwrap();
    assert!(c.events().is_empty());
    c.send(&window_update(0, 1000)).unwrap();
    assert_eq!(c.events(), vec![Event::Capacity { stream: 3 }]);
    assert_eq!(c.conn.send_data(3, &mut b, true).unwrap(), 1000);
    c.send(&window_update(0, 100_000)).unwrap();
    assert_eq!(c.events(), vec![Event::Capacity { stream: 3 }]);
    assert_eq!(c.conn.send_data(3, &mut b, true).unwrap(), 3465);
    assert_eq!(c.conn.open_streams(), 0);
    // Every byte went out, END_STREAM on each stream's last frame only.
    let frames = c.frames();
    let mut sums = [0usize; 2];
    for f in &frames {
        if let Frame::Data {
            stream,
            data,
            end_stream,
            ..
        } = f
        {
            let i = (*stream as usize - 1) / 2;
            sums[i] += data.len();
            assert_eq!(*end_stream, sums[i] == [50_000, 20_000][i]);
        }
    }
    assert_eq!(sums, [50_000, 20_000]);
}

#[test]
fn stream_window_limits_send_data_and_update_wakes_it() {
    let mut c = Client::new(cfg());
    c.send(&window_update(0, 1 << 20)).unwrap();
    c.open(1, GET, true);
    c.respond(1, false);
    let mut a = Bytes::from(vec![b'a'; 70_000]);
    assert_eq!(c.conn.send_data(1, &mut a, false).unwrap(), 65_535);
    c.send(&window_update(1, 4465)).unwrap();
    assert_eq!(c.events(), vec![Event::Capacity { stream: 1 }]);
    assert_eq!(c.conn.send_data(1, &mut a, false).unwrap(), 4465);
    // An empty END_STREAM needs no window.
    assert_eq!(c.conn.send_data(1, &mut Bytes::new(), true).unwrap(), 0);
    let frames = c.frames();
    assert!(
        matches!(frames.last(), Some(Frame::Data { end_stream: true, data, .. }) if data.is_empty())
    );
}

#[test]
fn large_data_payloads_are_not_copied() {
    let mut c = Client::new(cfg());
    c.open(1, GET, true);
    c.respond(1, false);
    let body = Bytes::from(vec![b'z'; 10_000]);
    let ptr = body.as_ptr();
    let mut b = body.clone();
    c.conn.send_data(1, &mut b, true).unwrap();
    let q = c.conn.write_queue();
    assert!(
        q.iter()
            .any(|chunk| chunk.as_ptr() == ptr && chunk.len() == 10_000)
    );
}

#[test]
fn window_update_overflow_is_flow_control_error() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    c.expect_rst(
        &window_update(1, frame::MAX_WINDOW_SIZE),
        1,
        ErrorCode::FlowControlError,
    );
    assert!(matches!(
        c.events().as_slice(),
        [Event::Reset { stream: 1, .. }]
    ));
    c.expect_conn_error(
        &window_update(0, frame::MAX_WINDOW_SIZE),
        ErrorCode::FlowControlError,
    );
}
