//! Tests of corked writes: bytes arrive complete and in order whether they
//! were corked, sent directly, handed back after a blocked send, or queued
//! when the socket was dropped.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Out, Tcp, install};
use crate::net::Stream;

/// A connected pair: a corked `Stream` (when `corked`) and its raw peer.
async fn pair() -> (Stream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
    (Stream::plain(c.unwrap()), s.unwrap().0)
}

fn out(s: &Stream) -> &Out {
    match s {
        Stream::Tcp(Tcp { out: Some(o), .. }) => o,
        _ => panic!("stream is not corked"),
    }
}

/// Runs `f` on a current-thread runtime inside a LocalSet with a flusher,
/// as a worker thread does.
fn on_worker<F: std::future::Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        install();
        f.await
    });
}

#[test]
fn small_write_is_queued_then_sent_by_the_flusher() {
    on_worker(async {
        let (mut s, mut peer) = pair().await;
        s.write_all(b"hello ").await.unwrap();
        s.write_all(b"world").await.unwrap();
        // Accepted at once, but still in user space: nothing sent yet.
        assert_eq!(out(&s).buf.borrow().as_slice(), b"hello world");
        let mut got = [0u8; 11];
        tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut got))
            .await
            .expect("the flusher sent the queued bytes")
            .unwrap();
        assert_eq!(&got, b"hello world");
        assert!(out(&s).buf.borrow().is_empty());
    });
}

#[test]
fn streams_made_off_a_worker_are_not_corked() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (s, _peer) = pair().await;
        assert!(matches!(s, Stream::Tcp(Tcp { out: None, .. })));
    });
}

#[test]
fn a_large_write_goes_after_what_is_queued() {
    on_worker(async {
        let (mut s, mut peer) = pair().await;
        s.write_all(b"head").await.unwrap();
        assert_eq!(out(&s).buf.borrow().len(), 4);
        let big = vec![7u8; 64 * 1024];
        let reader = tokio::task::spawn_local(async move {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).await.unwrap();
            all
        });
        s.write_all(&big).await.unwrap();
        s.shutdown().await.unwrap();
        let all = reader.await.unwrap();
        assert_eq!(&all[..4], b"head");
        assert_eq!(all.len(), 4 + big.len());
        assert!(all[4..].iter().all(|&b| b == 7));
    });
}

#[test]
fn a_full_socket_hands_the_rest_back_and_nothing_is_lost() {
    on_worker(async {
        let (mut s, mut peer) = pair().await;
        // Many small writes while the peer does not read: the kernel buffers
        // fill, a flusher send blocks and the writer must wait, not drop.
        // Yielding after each write lets the flusher do the sending, so it
        // is the flusher that meets the full socket.
        let total = 24 * 1024 * 1024;
        let seen = std::rc::Rc::new(std::cell::Cell::new(false));
        let handed_back = seen.clone();
        let writer = tokio::task::spawn_local(async move {
            let mut i: u32 = 0;
            let mut written = 0;
            while written < total {
                let chunk: Vec<u8> = (0..1000).map(|k| ((i + k) % 251) as u8).collect();
                s.write_all(&chunk).await.unwrap();
                written += chunk.len();
                i += 1000;
                tokio::task::yield_now().await;
                if out(&s).blocked.get() {
                    handed_back.set(true);
                }
            }
            s.shutdown().await.unwrap();
            written
        });
        // Read only once the writer has run into the full socket (bounded:
        // the assertion below reports it if that never happens).
        for _ in 0..1_000_000 {
            if seen.get() {
                break;
            }
            tokio::task::yield_now().await;
        }
        let mut all = Vec::new();
        peer.read_to_end(&mut all).await.unwrap();
        let written = writer.await.unwrap();
        assert!(seen.get(), "the flusher never met a full socket");
        assert_eq!(all.len(), written);
        assert!(all.iter().enumerate().all(|(k, &b)| b == (k % 251) as u8));
    });
}

#[test]
fn bytes_queued_when_the_stream_is_dropped_are_sent() {
    on_worker(async {
        let (mut s, mut peer) = pair().await;
        s.write_all(b"last words").await.unwrap();
        assert!(!out(&s).buf.borrow().is_empty());
        drop(s);
        let mut all = Vec::new();
        peer.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"last words");
    });
}

#[test]
fn a_send_error_is_reported_to_the_writer() {
    on_worker(async {
        let (mut s, peer) = pair().await;
        // A reset from the peer: later sends fail with ECONNRESET/EPIPE.
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer);
        let failed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Err(e) = s.write_all(b"x").await {
                    return e;
                }
                if let Err(e) = s.flush().await {
                    return e;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the error reached the writer");
        assert!(matches!(
            failed.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ));
    });
}

#[test]
fn an_idle_stream_gives_its_buffer_back() {
    on_worker(async {
        let (mut s, mut peer) = pair().await;
        s.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).await.unwrap();
        assert!(out(&s).buf.borrow().capacity() > 0);
        s.release_memory();
        assert_eq!(out(&s).buf.borrow().capacity(), 0);
    });
}

#[test]
fn bytes_handed_back_to_an_owner_that_only_reads_still_go_out() {
    // A writer that flushed before the flusher's send blocked waits on
    // reads only (a WebSocket tunnel's `copy_bidirectional` once the other
    // side went quiet): its reads must send what was handed back. Before,
    // the tail of a 16 MiB WebSocket message could sit here for good.
    on_worker(async {
        let (mut s, mut peer) = pair().await;
        let mut written = 0usize;
        let mut i = 0u32;
        while !out(&s).blocked.get() {
            assert!(written < 256 << 20, "the flusher never met a full socket");
            let chunk: Vec<u8> = (0..1000).map(|k| ((i + k) % 251) as u8).collect();
            s.write_all(&chunk).await.unwrap();
            // Not blocked yet when it flushes: the flusher sends later.
            s.flush().await.unwrap();
            written += chunk.len();
            i += 1000;
            tokio::task::yield_now().await;
        }
        assert!(!out(&s).buf.borrow().is_empty(), "bytes were handed back");
        let reader = tokio::task::spawn_local(async move {
            let mut all = vec![0u8; written];
            // The peer stays open (its end would end the owner's read).
            peer.read_exact(&mut all).await.map(|_| (all, peer))
        });
        tokio::pin!(reader);
        // The owner now only reads (the peer sends nothing).
        let mut byte = [0u8; 1];
        let (all, _peer) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                r = &mut reader => r.unwrap().unwrap(),
                r = s.read(&mut byte) => panic!("the peer sent nothing: {r:?}"),
            }
        })
        .await
        .expect("everything written arrives while the owner only reads");
        assert_eq!(all.len(), written);
        assert!(all.iter().enumerate().all(|(k, &b)| b == (k % 251) as u8));
    });
}
