//! The write side's bookkeeping: partial writes of the queued head bytes,
//! a large body chunk and the CRLF after it.

use super::*;

async fn conn() -> (H1Conn, tokio::net::TcpStream) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (a, b) = tokio::join!(
        tokio::net::TcpStream::connect(l.local_addr().unwrap()),
        l.accept()
    );
    (H1Conn::new(Stream::plain(a.unwrap())), b.unwrap().0)
}

/// Queues `head`, then a big chunk `big` (with CRLF when `crlf`).
fn queue(c: &mut H1Conn, head: &[u8], big: &'static [u8], crlf: bool) {
    c.wbuf = head.to_vec();
    c.wpos = 0;
    c.big = Some(Bytes::from_static(big));
    c.big_crlf = crlf;
}

/// What is still to be written, in order.
fn pending(c: &H1Conn) -> Vec<u8> {
    let mut out = c.wbuf[c.wpos..].to_vec();
    if let Some(b) = &c.big {
        out.extend_from_slice(b);
        if c.big_crlf {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[tokio::test]
async fn every_split_of_a_write_leaves_exactly_the_rest_pending() {
    let (mut c, _peer) = conn().await;
    let whole = b"5\r\nhello\r\n";
    for n in 0..=whole.len() {
        queue(&mut c, b"5\r\n", b"hello", true);
        assert_eq!(pending(&c), whole);
        c.advance(n);
        assert_eq!(pending(&c), &whole[n..], "after {n} bytes");
    }
    // Everything written: nothing queued.
    assert!(c.big.is_none());
    assert_eq!(c.wpos, c.wbuf.len());
}

#[tokio::test]
async fn two_partial_writes_in_a_row_add_up() {
    let (mut c, _peer) = conn().await;
    let whole = b"ab0123456789\r\n";
    for first in 0..=whole.len() {
        for second in 0..=whole.len() - first {
            queue(&mut c, b"ab", b"0123456789", true);
            c.advance(first);
            c.advance(second);
            assert_eq!(pending(&c), &whole[first + second..], "{first}+{second}");
        }
    }
}

#[tokio::test]
async fn a_big_chunk_without_crlf_is_dropped_once_written() {
    let (mut c, _peer) = conn().await;
    queue(&mut c, b"", b"data", false);
    c.advance(4);
    assert!(c.big.is_none());
    assert!(pending(&c).is_empty());
}

#[tokio::test]
async fn a_fresh_connection_is_reusable_and_one_mid_exchange_is_not() {
    let (mut c, _peer) = conn().await;
    assert!(c.is_reusable());
    c.resp = Resp::Length(3);
    assert!(!c.is_reusable());
    c.resp = Resp::Done;
    c.rbuf.extend_from_slice(b"x");
    assert!(!c.is_reusable(), "stray bytes after a response");
}

#[tokio::test]
async fn an_idle_connection_releases_its_buffers_and_keeps_unsent_or_unread_bytes() {
    let (mut c, _peer) = conn().await;
    // Idle after an exchange: both buffers allocated, nothing in them.
    c.rbuf.reserve(READ_SIZE);
    c.wbuf = Vec::with_capacity(4096);
    c.release_memory();
    assert_eq!((c.rbuf.capacity(), c.wbuf.capacity()), (0, 0));
    assert!(c.is_reusable());
    // Bytes still to write, or read and not yet taken, are kept.
    c.wbuf = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    c.wpos = 4;
    c.rbuf.extend_from_slice(b"HTTP/1.1");
    c.release_memory();
    assert_eq!(&c.wbuf[c.wpos..], b"/ HTTP/1.1\r\n\r\n");
    assert_eq!(&c.rbuf[..], b"HTTP/1.1");
}
