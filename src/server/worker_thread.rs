//! A worker thread: a single-threaded tokio runtime with a `LocalSet`,
//! driven by commands from the control side (start accepting on a socket,
//! shut down).

use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};

use super::ServerError;
use super::handlers::{Accepted, Handlers};
use crate::runtime::ListenerSlot;
use crate::worker::WorkerCtx;

/// How long an upstream HTTP/2 connection may carry no stream.
const H2_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// How often idle upstream connections are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How often a worker hands its free memory back to the system: after a
/// burst, within about this long (plus the allocator's purge delay) of the
/// memory's last use.
const RELEASE_EVERY: Duration = Duration::from_millis(250);

/// Commands from the control side.
pub enum Cmd {
    /// Accept on this socket (one of the listener's `SO_REUSEPORT` group).
    Listen {
        socket: std::net::TcpListener,
        slot: Arc<ListenerSlot>,
    },
    /// Serve datagrams on this socket (one of a UDP listener's group).
    ListenUdp {
        socket: std::net::UdpSocket,
        slot: Arc<ListenerSlot>,
    },
    /// Wait for open connections (closing gracefully) until `deadline`, then exit.
    Shutdown { deadline: std::time::Instant },
}

/// The control side's handle on a worker thread.
pub struct WorkerHandle {
    tx: mpsc::UnboundedSender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    pub fn send(&self, cmd: Cmd) {
        let _ = self.tx.send(cmd);
    }

    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn spawn(id: usize, close: watch::Receiver<u64>) -> Result<WorkerHandle, ServerError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name(format!("switchyard-w{id}"))
        .spawn(move || worker_main(id, rx, close))
        .map_err(ServerError::Spawn)?;
    Ok(WorkerHandle {
        tx,
        thread: Some(thread),
    })
}

fn worker_main(id: usize, mut rx: mpsc::UnboundedReceiver<Cmd>, close: watch::Receiver<u64>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(worker = id, error = %e, "cannot start worker event loop");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        crate::net::cork::install();
        let ctx = Rc::new(WorkerCtx::new(id));
        tokio::task::spawn_local(ctx.clone().relay_close_signal(close));
        let sweeper = ctx.clone();
        tokio::task::spawn_local(async move {
            // The first sweep one period after start (a sweep at once
            // would only add a wake-up).
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + RELEASE_EVERY,
                RELEASE_EVERY,
            );
            let sweep_every = (SWEEP_EVERY.as_millis() / RELEASE_EVERY.as_millis()).max(1);
            let mut n: u128 = 0;
            loop {
                tick.tick().await;
                n += 1;
                if n.is_multiple_of(sweep_every) {
                    sweeper.conns.sweep();
                    sweeper.slow.tick();
                    // Upstream HTTP/2 connections with no stream for a
                    // minute close (they are shared, so one per endpoint
                    // stays warm while there is traffic).
                    sweeper.h2.sweep(H2_IDLE);
                }
                crate::alloc::release_free_memory();
            }
        });
        while let Some(cmd) = rx.recv().await {
            match cmd {
                // SAFETY: the AsyncFd owns the listening socket; its
                // descriptor stays open and the same until it is dropped.
                Cmd::Listen { socket, slot } => match unsafe {
                    AsyncFd::register_with_interest(socket, tokio::io::Interest::READABLE)
                } {
                    Ok(l) => {
                        tokio::task::spawn_local(accept_loop(l, slot, ctx.clone()));
                    }
                    Err(e) => {
                        tracing::error!(worker = id, error = %e, "cannot register listening socket")
                    }
                },
                Cmd::ListenUdp { socket, slot } => match tokio::net::UdpSocket::from_std(socket) {
                    Ok(s) => {
                        tokio::task::spawn_local(crate::l4::udp::serve(s, slot, ctx.clone()));
                    }
                    Err(e) => {
                        tracing::error!(worker = id, error = %e, "cannot register udp socket")
                    }
                },
                Cmd::Shutdown { deadline } => {
                    let open = ctx.open();
                    if open > 0 {
                        tracing::info!(worker = id, open, "draining connections");
                    }
                    let deadline = tokio::time::Instant::from_std(deadline);
                    if tokio::time::timeout_at(deadline, ctx.wait_idle())
                        .await
                        .is_err()
                    {
                        tracing::warn!(
                            worker = id,
                            open = ctx.open(),
                            "shutdown deadline passed; closing open connections"
                        );
                        ctx.cutting.set(true);
                    }
                    break;
                }
            }
        }
    });
}

async fn accept_loop(
    listener: AsyncFd<std::net::TcpListener>,
    slot: Arc<ListenerSlot>,
    worker: Rc<WorkerCtx>,
) {
    let handlers = Rc::new(Handlers::default());
    let mut stop = slot.stop.subscribe();
    // Created once: a fresh `wait_for` per accepted connection would
    // register with the watch channel (a lock) every time.
    let stopped = stop.wait_for(|s| *s);
    tokio::pin!(stopped);
    // The socket was bound with the client-first options of its protocol
    // then; a reload may keep it for another protocol (see
    // `bind::set_client_first`). Reloads send the close signal.
    // It may have happened already, before this loop started.
    let mut client_first = super::bind::is_client_first(listener.get_ref());
    let reloaded = worker.closing();
    tokio::pin!(reloaded);
    let reconcile = |client_first: &mut bool| {
        let now = is_http(&slot);
        if now != *client_first {
            if let Err(e) = super::bind::set_client_first(listener.get_ref(), now) {
                tracing::warn!(error = %e, "cannot change the listening socket's options");
            }
            *client_first = now;
        }
    };
    reconcile(&mut client_first);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => return,
            _ = reloaded.as_mut() => {
                reloaded.set(worker.closing());
                reconcile(&mut client_first);
            }
            accepted = accept(&listener) => match accepted {
                Ok((stream, peer)) => {
                    handlers.dispatch(Accepted { stream, peer, slot: slot.clone() }, &worker);
                }
                Err(e) if is_resource_exhaustion(&e) => {
                    // Out of file descriptors or memory: back off instead of
                    // spinning on a listener that stays readable.
                    tracing::warn!(error = %e, "accept failed; pausing 50 ms");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => tracing::debug!(error = %e, "accept failed"),
            }
        }
    }
}

fn is_http(slot: &ListenerSlot) -> bool {
    slot.rt.load().protocol == crate::config::Protocol::Http
}

/// Accepts one connection. The socket comes back non-blocking and *not*
/// registered with the event loop: the handler registers it only if it has
/// to wait (`net::lazy`), which most short connections never do.
async fn accept(
    listener: &AsyncFd<std::net::TcpListener>,
) -> std::io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        match ready.try_io(|l| accept4(l.get_ref())) {
            Ok(res) => return res,
            Err(_would_block) => continue,
        }
    }
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC` (std's accept would
/// need a second call to make the socket non-blocking).
fn accept4(
    listener: &std::net::TcpListener,
) -> std::io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let lfd = listener.as_raw_fd();
    // SAFETY: accept4 writes at most `len` bytes of address into the
    // storage socket2 provides, and sets `len` to what it wrote.
    let (fd, addr) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            let fd = libc::accept4(
                lfd,
                storage.cast::<libc::sockaddr>(),
                len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if fd < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(fd)
            }
        })
    }?;
    // SAFETY: `fd` is a new socket this function alone owns.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let peer = addr
        .as_socket()
        .ok_or_else(|| std::io::Error::other("accepted a socket that is not TCP/IP"))?;
    Ok((stream, peer))
}

fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
