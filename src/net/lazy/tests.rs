//! The lazy socket: reads and writes that need not wait never register it;
//! the first that must wait registers it and is woken when it can go on.

use std::future::poll_fn;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A connected pair: the lazy side (non-blocking std socket) and a tokio peer.
async fn pair() -> (Lazy, TcpStream) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), l.accept());
    let std = accepted.unwrap().0.into_std().unwrap();
    std.set_nonblocking(true).unwrap();
    (Lazy::raw(std), client.unwrap())
}

async fn read_some(lazy: &mut Lazy) -> Vec<u8> {
    let mut storage = [0u8; 64];
    let mut buf = ReadBuf::new(&mut storage);
    poll_fn(|cx| lazy.poll_read(cx, &mut buf)).await.unwrap();
    buf.filled().to_vec()
}

#[tokio::test]
async fn a_read_of_bytes_already_there_does_not_register() {
    let (mut lazy, mut peer) = pair().await;
    peer.write_all(b"hello").await.unwrap();
    // Wait until the bytes are in the lazy side's receive queue.
    let mut probe = [0u8; 8];
    loop {
        if let State::Raw(s) = &lazy.state
            && s.peek(&mut probe).unwrap_or(0) == 5
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(read_some(&mut lazy).await, b"hello");
    assert!(!lazy.is_registered());
}

#[tokio::test]
async fn a_read_that_must_wait_registers_and_is_woken() {
    let (mut lazy, mut peer) = pair().await;
    let reader = async {
        let got = read_some(&mut lazy).await;
        (got, lazy.is_registered())
    };
    let writer = async {
        tokio::task::yield_now().await;
        peer.write_all(b"late").await.unwrap();
    };
    let ((got, registered), ()) = tokio::join!(reader, writer);
    assert_eq!(got, b"late");
    assert!(registered);
}

#[tokio::test]
async fn a_write_that_fits_does_not_register() {
    let (mut lazy, mut peer) = pair().await;
    let n = poll_fn(|cx| lazy.poll_send(cx, b"response")).await.unwrap();
    assert_eq!(n, 8);
    let n = poll_fn(|cx| lazy.poll_send_vectored(cx, &[IoSlice::new(b"a"), IoSlice::new(b"b")]))
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert!(!lazy.is_registered());
    let mut got = [0u8; 10];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"responseab");
}

#[tokio::test]
async fn a_write_into_a_full_socket_registers_and_finishes_once_drained() {
    let (mut lazy, mut peer) = pair().await;
    let chunk = vec![7u8; 1 << 20];
    let total = 16usize << 20;
    let writer = async {
        let mut sent = 0;
        while sent < total {
            sent += poll_fn(|cx| lazy.poll_send(cx, &chunk[..(total - sent).min(chunk.len())]))
                .await
                .unwrap();
        }
        lazy.is_registered()
    };
    let reader = async {
        let mut got = 0;
        let mut buf = vec![0u8; 1 << 16];
        while got < total {
            let n = peer.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got += n;
        }
        got
    };
    let (registered, got) = tokio::join!(writer, reader);
    assert_eq!(got, total);
    assert!(registered, "16 MiB cannot fit the socket buffers");
}

#[tokio::test]
async fn end_of_stream_and_shutdown_work_unregistered() {
    let (mut lazy, mut peer) = pair().await;
    poll_fn(|cx| lazy.poll_shutdown(cx)).await.unwrap();
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    drop(peer);
    loop {
        if read_some(&mut lazy).await.is_empty() {
            break;
        }
    }
    assert!(lazy.try_read(&mut [0u8; 4]).is_ok_and(|n| n == 0));
}
