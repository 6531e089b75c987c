//! L4 test peers: TCP and UDP backends on ephemeral ports that say who they
//! are and count what reaches them, and a few socket helpers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// A TCP backend: on accept it writes `NAME\n`, then echoes everything
/// until the client ends its stream, then closes. Counts accepted
/// connections. Serves on the current tokio runtime until dropped.
pub struct TcpBackend {
    pub name: String,
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: tokio::sync::watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl TcpBackend {
    pub async fn start(name: &str) -> TcpBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (count, greeting) = (accepted.clone(), format!("{name}\n"));
        let (closed_tx, closed) = tokio::sync::watch::channel(0usize);
        let closed_tx = Arc::new(closed_tx);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (greeting, closed_tx) = (greeting.clone(), closed_tx.clone());
                tokio::spawn(async move {
                    if s.write_all(greeting.as_bytes()).await.is_ok() {
                        let (mut r, mut w) = s.split();
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                    }
                    drop(s);
                    closed_tx.send_modify(|n| *n += 1);
                });
            }
        });
        TcpBackend {
            name: name.to_owned(),
            addr,
            accepted,
            closed,
            task,
        }
    }

    /// Connections that ended (the proxy's side reached EOF or failed).
    pub fn closed(&self) -> usize {
        *self.closed.borrow()
    }

    /// Waits up to `limit` until `n` connections have ended; false if not.
    pub async fn wait_closed(&self, n: usize, limit: Duration) -> bool {
        let mut rx = self.closed.clone();
        tokio::time::timeout(limit, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one `\n`-terminated line byte by byte (nothing after it is
/// consumed); `None` on EOF or error before the newline.
pub async fn read_line(s: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b).await {
            Ok(1) if b[0] == b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
            Ok(1) => line.push(b[0]),
            _ => return None,
        }
    }
}

/// Connects through the proxy and reads the backend's name line.
pub async fn connect_named(addr: SocketAddr) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let name = tokio::time::timeout(Duration::from_secs(10), read_line(&mut s))
        .await
        .expect("backend name within 10 s")
        .expect("backend name before EOF");
    (s, name)
}

/// Sends `msg` and reads its echo (exactly `msg.len()` bytes), bounded.
pub async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    s.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut back))
        .await
        .map_err(|_| std::io::Error::other("no echo within 10 s"))??;
    assert_eq!(back, msg, "echo differs");
    Ok(())
}

/// Waits (bounded) for `s` to be closed by the peer without sending
/// anything more: true on EOF or reset with no data, false otherwise.
pub async fn closed_without_data(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// A UDP backend answering each datagram with `NAME:` + the datagram, and
/// remembering every payload it received (in order).
pub struct UdpBackend {
    pub name: String,
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl UdpBackend {
    pub async fn start(name: &str) -> UdpBackend {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (log, prefix) = (received.clone(), format!("{name}:").into_bytes());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                log.lock().unwrap().push(buf[..n].to_vec());
                let mut reply = prefix.clone();
                reply.extend_from_slice(&buf[..n]);
                let _ = socket.send_to(&reply, from).await;
            }
        });
        UdpBackend {
            name: name.to_owned(),
            addr,
            received,
            task,
        }
    }

    /// Every datagram received so far.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for UdpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client socket "connected" to nothing, on an ephemeral port.
pub async fn udp_client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// Sends `msg` to `to` and waits up to `limit` for one reply; returns the
/// reply and its source address.
pub async fn udp_ask(
    s: &UdpSocket,
    to: SocketAddr,
    msg: &[u8],
    limit: Duration,
) -> Option<(Vec<u8>, SocketAddr)> {
    s.send_to(msg, to).await.unwrap();
    udp_reply(s, limit).await
}

/// One datagram received within `limit`.
pub async fn udp_reply(s: &UdpSocket, limit: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(limit, s.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some((buf, from))
}

/// Splits a `NAME:payload` reply.
pub fn split_reply(reply: &[u8]) -> (String, Vec<u8>) {
    let i = reply
        .iter()
        .position(|b| *b == b':')
        .expect("reply has a NAME: prefix");
    (
        String::from_utf8_lossy(&reply[..i]).into_owned(),
        reply[i + 1..].to_vec(),
    )
}

/// A socket listening with a backlog of 1 that never accepts, with its
/// queue filled by connections kept open: SYNs to it are dropped, so a
/// connect hangs (a black hole). Keep the returned streams alive.
pub async fn full_backlog_listener() -> (SocketAddr, Vec<std::net::TcpStream>) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    std::mem::forget(s);
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        let _ = c.connect(&addr.into());
        fillers.push(std::net::TcpStream::from(c));
    }
    (addr, fillers)
}
