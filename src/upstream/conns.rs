//! Per-worker cache of idle upstream HTTP/1.1 connections.
//!
//! Each worker thread owns one cache (no locks: workers run single-threaded
//! event loops). A connection is returned to the cache only after its
//! response body was read to the end, so a cached connection is always
//! between requests; it is dropped (closed) when it expires, when the
//! endpoint's idle list is full, or when the upstream closed it.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use hyper::body::Incoming;
use hyper::client::conn::http1;
use tokio::net::TcpStream;

use crate::error::ProxyError;

/// The sending half of an upstream connection.
pub type Sender = http1::SendRequest<Incoming>;

struct Idle {
    sender: Sender,
    expires: Instant,
}

/// Idle upstream connections of one worker, by endpoint address.
#[derive(Default)]
pub struct ConnCache {
    idle: RefCell<rustc_hash::FxHashMap<SocketAddr, Vec<Idle>>>,
}

/// A connection checked out for one request.
pub struct Upstream {
    pub sender: Sender,
    /// Whether it came from the cache (a stale cached connection may fail
    /// without having sent anything; a fresh one is then opened).
    pub reused: bool,
}

impl ConnCache {
    /// The most recently used live connection to `addr`, if any. Expiry is
    /// enforced by [`sweep`](Self::sweep) (every second), not here: reading
    /// the clock on every request costs more than a connection kept up to a
    /// second past its idle timeout.
    pub fn take(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&addr)?;
        while let Some(c) = list.pop() {
            if !c.sender.is_closed() {
                return Some(c.sender);
            }
        }
        None
    }

    /// Returns a connection after a complete exchange (`now` is the caller's
    /// clock reading, shared with its other bookkeeping).
    pub fn put(
        &self,
        addr: SocketAddr,
        sender: Sender,
        idle_timeout: Duration,
        max_idle: usize,
        now: Instant,
    ) {
        if max_idle == 0 || sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() >= max_idle {
            list.remove(0);
        }
        list.push(Idle {
            sender,
            expires: now + idle_timeout,
        });
    }

    /// Closes expired and dead idle connections; called periodically.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.idle.borrow_mut().retain(|_, list| {
            list.retain(|c| c.expires > now && !c.sender.is_closed());
            !list.is_empty()
        });
    }

    /// Number of idle connections held (for tests and stats).
    pub fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    /// A cached connection if there is one, else a new one.
    pub async fn checkout(
        &self,
        addr: SocketAddr,
        label: &str,
        timeout: Duration,
    ) -> Result<Upstream, ProxyError> {
        if let Some(sender) = self.take(addr) {
            return Ok(Upstream {
                sender,
                reused: true,
            });
        }
        connect(addr, label, timeout).await.map(|sender| Upstream {
            sender,
            reused: false,
        })
    }
}

/// Opens a new upstream connection (TCP + HTTP/1.1 handshake); its driver
/// task runs on the current worker's LocalSet.
pub async fn connect(
    addr: SocketAddr,
    label: &str,
    timeout: Duration,
) -> Result<Sender, ProxyError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(ProxyError::Connect {
                endpoint: label.to_owned(),
                reason: e.to_string(),
            });
        }
        Err(_) => {
            return Err(ProxyError::ConnectTimeout {
                endpoint: label.to_owned(),
                after: timeout,
            });
        }
    };
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::Builder::new()
        .handshake(crate::net::TcpIo(stream))
        .await
        .map_err(|e| ProxyError::Connect {
            endpoint: label.to_owned(),
            reason: e.to_string(),
        })?;
    tokio::task::spawn_local(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
