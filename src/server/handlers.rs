//! A per-worker pool of connection-handler tasks.
//!
//! Spawning a task per accepted connection costs an allocation of the
//! task's cell — cache-line aligned, which allocators serve on a slow path —
//! and a copy of the connection future into it. On short connections
//! (`Connection: close` traffic) that is a noticeable share of the work, so
//! handler tasks are reused: a handler that finished a connection parks
//! itself on the worker's idle list, and the accept loop hands the next
//! connection to it. The list is capped; extra handlers simply end.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use crate::config::Protocol;
use crate::runtime::ListenerSlot;
use crate::worker::WorkerCtx;

/// Idle handlers kept per worker.
const MAX_IDLE: usize = 256;

/// An accepted connection on its way to a handler.
pub struct Accepted {
    /// Non-blocking, not registered with the event loop yet.
    pub stream: std::net::TcpStream,
    pub peer: SocketAddr,
    pub slot: Arc<ListenerSlot>,
}

#[derive(Default)]
struct Mailbox {
    next: Cell<Option<Accepted>>,
    waker: Cell<Option<Waker>>,
}

/// The idle handlers of one worker.
#[derive(Default)]
pub struct Handlers {
    idle: RefCell<Vec<Rc<Mailbox>>>,
}

impl Handlers {
    /// Serves `conn` on an idle handler, or on a new one.
    pub fn dispatch(self: &Rc<Self>, conn: Accepted, worker: &Rc<WorkerCtx>) {
        let parked = self.idle.borrow_mut().pop();
        match parked {
            Some(mailbox) => {
                mailbox.next.set(Some(conn));
                if let Some(w) = mailbox.waker.take() {
                    w.wake();
                }
            }
            None => {
                tokio::task::spawn_local(handler(conn, self.clone(), worker.clone()));
            }
        }
    }
}

async fn handler(first: Accepted, handlers: Rc<Handlers>, worker: Rc<WorkerCtx>) {
    let mailbox = Rc::new(Mailbox::default());
    let mut conn = first;
    loop {
        // Unconstrained: tokio's cooperative budget would otherwise be
        // charged on every socket readiness check (a measurable cost per
        // request); hyper and the relay yield when their sockets block.
        tokio::task::coop::unconstrained(serve(conn, worker.clone())).await;
        {
            let mut idle = handlers.idle.borrow_mut();
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(mailbox.clone());
        }
        conn = std::future::poll_fn(|cx| match mailbox.next.take() {
            Some(c) => Poll::Ready(c),
            None => {
                mailbox.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }
}

/// Admission, socket options, the PROXY header, then the listener's protocol.
async fn serve(conn: Accepted, worker: Rc<WorkerCtx>) {
    let rt = conn.slot.rt.load_full();
    let Some(admitted) = conn.slot.admit(&rt.admission).await else {
        if let Some(more) = conn.slot.refused_log.allow() {
            tracing::warn!(listener = %rt.name, client = %conn.peer, limit = rt.admission.max_connections, more_refused = more, "connection refused: max_connections reached");
        }
        return;
    };
    if !rt.admission.tcp_nodelay {
        // On by default: inherited from the listening socket.
        let _ = conn.stream.set_nodelay(false);
    }
    if let Some(idle) = rt.admission.tcp_keepalive {
        let ka = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(idle / 4 + std::time::Duration::from_secs(1));
        let _ = socket2::SockRef::from(&conn.stream).set_tcp_keepalive(&ka);
    }
    match rt.protocol {
        Protocol::Http if rt.proxy_in.is_none() => {
            crate::http::conn::serve(
                crate::http::conn::Accepted::Lazy(conn.stream),
                conn.peer,
                conn.slot,
                worker,
                admitted,
            )
            .await;
        }
        Protocol::Http => {
            let Some(stream) = register(conn.stream) else {
                return;
            };
            let client = match crate::l4::tcp::accept_proxy_header(&stream, conn.peer, &rt).await {
                Ok(c) => {
                    if crate::l4::peek::consume(&stream, c.header_len)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    c.addr()
                }
                Err(e) => {
                    tracing::info!(listener = %rt.name, client = %conn.peer, error = %e, "connection refused");
                    return;
                }
            };
            crate::http::conn::serve(
                crate::http::conn::Accepted::Registered(stream),
                client,
                conn.slot,
                worker,
                admitted,
            )
            .await;
        }
        Protocol::Tcp => {
            if let Some(stream) = register(conn.stream) {
                // Boxed: inline, the relay's state would size every
                // handler task, HTTP ones included (see http::conn).
                Box::pin(crate::l4::tcp::serve(stream, conn.peer, rt, worker)).await;
            }
        }
        Protocol::Udp => {}
    }
}

/// Registers an accepted socket with the event loop.
fn register(stream: std::net::TcpStream) -> Option<tokio::net::TcpStream> {
    match tokio::net::TcpStream::from_std(stream) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot register an accepted socket");
            None
        }
    }
}
