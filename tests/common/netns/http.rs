//! The HTTP half of the namespace lab: a small HTTP/1.1 backend that names
//! itself ([`Host::http_backend`]), one-shot GETs ([`Host::http_get`]) and
//! keep-alive connections ([`Host::keepalive`]), all inside a namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

use super::Host;

impl Host {
    /// An HTTP/1.1 backend on `addr` (port 0 picks one) answering every
    /// request with body `name` and header `x-backend: name`. Listening
    /// when this returns; stops on drop.
    pub fn http_backend(&self, name: &str, addr: SocketAddr) -> Backend {
        Backend::start(self, name, addr)
    }

    /// One GET of `url` (`http://IP:PORT/path`, IP literal) on a new
    /// connection from this host: (status, body). Fails after `timeout`.
    pub fn http_get(&self, url: &str, timeout: Duration) -> Result<(u16, String), String> {
        let (addr, host, path) = parse_url(url)?;
        self.run(move || {
            let deadline = Instant::now() + timeout;
            let mut s = TcpStream::connect_timeout(&addr, timeout)
                .map_err(|e| format!("connect {addr}: {e}"))?;
            let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            s.set_write_timeout(Some(timeout))
                .and_then(|()| s.write_all(req.as_bytes()))
                .map_err(|e| format!("send to {addr}: {e}"))?;
            read_response(&mut s, &mut Vec::new(), deadline)
        })
    }

    /// One TCP connection from this host to `addr`, kept open for several
    /// requests; panics if it cannot connect within `timeout`.
    pub fn keepalive(&self, addr: SocketAddr, timeout: Duration) -> KeepAlive {
        self.try_keepalive(addr, timeout)
            .unwrap_or_else(|e| panic!("keep-alive connection from {}: {e}", self.ns))
    }

    /// [`Host::keepalive`] returning the connect error.
    pub fn try_keepalive(&self, addr: SocketAddr, timeout: Duration) -> Result<KeepAlive, String> {
        let stream = self.run(move || {
            TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))
        })?;
        Ok(KeepAlive {
            stream,
            addr,
            buf: Vec::new(),
            timeout,
        })
    }
}

/// An HTTP/1.1 backend in a namespace ([`Host::http_backend`]).
pub struct Backend {
    name: String,
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(host: &Host, name: &str, addr: SocketAddr) -> Backend {
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (body, reqs, conns) = (
            Bytes::from(name.to_owned()),
            requests.clone(),
            connections.clone(),
        );
        let thread = host.enter(move || {
            // Bound before `ready` is sent: listening when start returns.
            let bound = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(|l| l.local_addr().map(|a| (l, a)));
            let (listener, local) = match bound {
                Ok(b) => b,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("bind {addr}: {e}")));
                    return;
                }
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("listener: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(local));
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        conns.fetch_add(1, Ordering::SeqCst);
                        let (body, reqs) = (body.clone(), reqs.clone());
                        tokio::spawn(serve_connection(stream, body, reqs));
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime cancels every connection task.
        });
        let addr = match ready.recv() {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => panic!("backend {name} in {}: {e}", host.ns),
            Err(_) => panic!(
                "backend {name} in {}: thread died: {:?}",
                host.ns,
                thread.join().err()
            ),
        };
        Backend {
            name: name.to_owned(),
            addr,
            requests,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far.
    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, body: Bytes, requests: Arc<AtomicUsize>) {
    let service = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
        requests.fetch_add(1, Ordering::SeqCst);
        let name = String::from_utf8_lossy(&body).into_owned();
        let resp = hyper::Response::builder()
            .header("x-backend", name)
            .body(Full::new(body.clone()));
        async move { resp }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

/// One TCP connection carrying several HTTP/1.1 requests
/// ([`Host::keepalive`]). The socket lives in the host's namespace; the
/// requests are sent from the calling thread.
pub struct KeepAlive {
    stream: TcpStream,
    addr: SocketAddr,
    /// Bytes read past the previous response.
    buf: Vec<u8>,
    timeout: Duration,
}

impl KeepAlive {
    /// GETs `path` on this connection: the body of a 2xx answer, otherwise
    /// an error (also when the connection was closed or timed out).
    pub fn get(&mut self, path: &str) -> Result<String, String> {
        let deadline = Instant::now() + self.timeout;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|()| self.stream.write_all(req.as_bytes()))
            .map_err(|e| format!("send to {}: {e}", self.addr))?;
        let (status, body) = read_response(&mut self.stream, &mut self.buf, deadline)?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(format!("status {status}: {body}"))
        }
    }

    /// The client port of this connection.
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().map_or(0, |a| a.port())
    }

    /// The server address it was opened to.
    pub fn peer(&self) -> SocketAddr {
        self.addr
    }
}

/// `http://IP:PORT/path` → (address, Host header value, path).
fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport
        .parse()
        .map_err(|e| format!("{url:?}: {hostport:?} is not IP:PORT ({e})"))?;
    Ok((addr, hostport.to_owned(), path.to_owned()))
}

/// Reads one response (head plus Content-Length body) from `s`, `buf`
/// holding bytes already read; leaves bytes past it in `buf`.
fn read_response(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(u16, String), String> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(s, buf, deadline)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
    while buf.len() < head_end + len {
        read_more(s, buf, deadline)?;
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    buf.drain(..head_end + len);
    Ok((status, body))
}

fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("timed out waiting for the response".into());
    }
    s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
    let mut chunk = [0u8; 4096];
    match s.read(&mut chunk) {
        Ok(0) => Err("connection closed before a complete response".into()),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) => Err(format!("read: {e}")),
    }
}
