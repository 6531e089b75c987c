//! Corked plain-TCP writes: small writes are queued and sent in one burst
//! at the end of the worker's run-queue pass, the way HAProxy sends only
//! after it has processed every ready event.
//!
//! Why: on a proxy most of the CPU is the kernel's send path, and a send on
//! loopback (or to any peer waiting in `epoll_wait`) also wakes the
//! receiving task, often with an inter-processor interrupt. Sent one at a
//! time between the processing of other connections, each send finds its
//! receiver asleep and pays a wake-up; sent back to back, most find it
//! already running. Measured here, corking takes about 1.5–2 µs of system
//! time off every proxied keep-alive request (see BENCHMARKS.md).
//!
//! How: each corked socket has an [`Out`] buffer shared with the worker's
//! [`Flusher`], a task that runs after the tasks queued before it wake it.
//! `poll_write` copies a small write into `Out` and queues the socket;
//! the flusher sends every queued buffer with one `send(2)` each. When a
//! send would block, the buffer stays and the socket's owner is woken: its
//! next `poll_write`, `poll_flush`, `poll_shutdown` or `poll_read` sends
//! the rest, waiting for writability like any uncorked write (the read,
//! because a writer that already flushed waits only on reads). Large writes (bulk
//! bodies) are never copied: they drain the buffer and go out directly.
//! A socket dropped with bytes still queued sends them first (best effort,
//! non-blocking), and the flusher never touches a dropped socket's
//! descriptor.
//!
//! Only worker threads cork (they install a flusher at start-up); streams
//! made elsewhere (tests, tools) write directly.
//!
//! A client socket also bounds how long a write may wait for the peer to
//! read ([`Tcp::set_send_timeout`], the listener's `send_timeout`, NGINX's
//! directive of that name): every writer of a client connection (hyper's
//! servers, the own HTTP/1.1 writer and HTTP/2 server, TLS records) goes
//! through here, so a client that stops reading is let go the same way
//! whatever it speaks. The clock is read when a write starts to wait, not
//! per write.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use tokio::net::TcpStream;

use super::stall::StallClock;

/// Writes up to this size are corked; larger ones go out directly.
const CORK_WRITE_MAX: usize = 4096;
/// A socket's queued bytes stay below this; a write that would pass it
/// sends what is queued first.
const CORK_BUF_MAX: usize = 16 * 1024;

/// A corked socket's queued bytes, shared with the flusher.
struct Out {
    fd: RawFd,
    buf: RefCell<Vec<u8>>,
    /// In the flusher's list.
    queued: Cell<bool>,
    /// A send would have blocked: the owner sends the rest itself.
    blocked: Cell<bool>,
    /// The socket was dropped: its descriptor is no longer ours.
    dead: Cell<bool>,
    /// A send failed; reported on the owner's next write or flush.
    error: RefCell<Option<io::Error>>,
    /// The task writing to the socket, woken when the flusher hands the
    /// rest of the buffer back.
    owner: RefCell<Option<Waker>>,
    /// The worker's flusher (here, not in the stream: every byte of a
    /// stream is paid in every parked connection's task).
    flusher: Rc<Flusher>,
}

impl Out {
    /// Sends what is queued without waiting; false when the socket would
    /// block or failed.
    fn send_now(&self) -> bool {
        let mut buf = self.buf.borrow_mut();
        let mut sent = 0;
        let ok = loop {
            if sent == buf.len() {
                break true;
            }
            // SAFETY: `fd` is this socket's open descriptor (`dead` is set
            // before it is closed) and the slice is valid for its length.
            let n = unsafe {
                libc::send(
                    self.fd,
                    buf[sent..].as_ptr().cast(),
                    buf.len() - sent,
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                sent += n as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => break false,
                _ => {
                    *self.error.borrow_mut() = Some(e);
                    buf.clear();
                    return false;
                }
            }
        };
        if ok {
            buf.clear();
        } else {
            buf.drain(..sent);
        }
        ok
    }
}

/// One worker's list of sockets with queued bytes, and its flushing task.
#[derive(Default)]
pub struct Flusher {
    queued: RefCell<Vec<Rc<Out>>>,
    /// The flushing task, when it waits for work.
    task: RefCell<Option<Waker>>,
}

thread_local! {
    static FLUSHER: RefCell<Option<Rc<Flusher>>> = const { RefCell::new(None) };
}

/// Starts this worker thread's flusher (call inside its `LocalSet`).
pub fn install() {
    if std::env::var_os("SWITCHYARD_NO_CORK").is_some() {
        return;
    }
    let f = Rc::new(Flusher::default());
    FLUSHER.with(|slot| *slot.borrow_mut() = Some(f.clone()));
    tokio::task::spawn_local(run(f));
}

/// The flushing task: every time it is woken, sends what was queued since.
async fn run(f: Rc<Flusher>) {
    let mut batch: Vec<Rc<Out>> = Vec::new();
    std::future::poll_fn(|cx| {
        std::mem::swap(&mut batch, &mut *f.queued.borrow_mut());
        for out in batch.drain(..) {
            out.queued.set(false);
            if out.dead.get() || out.blocked.get() {
                continue;
            }
            if !out.send_now() {
                out.blocked.set(out.error.borrow().is_none());
                if let Some(w) = out.owner.borrow_mut().take() {
                    w.wake();
                }
            }
        }
        *f.task.borrow_mut() = Some(cx.waker().clone());
        Poll::<()>::Pending
    })
    .await
}

/// A plain TCP stream whose small writes may be corked.
pub struct Tcp {
    pub(crate) tcp: super::lazy::Lazy,
    /// `None` when not corked (no flusher on this thread).
    out: Option<Rc<Out>>,
    /// The bound on a write waiting for the peer (client sockets).
    stall: Option<SendStall>,
}

/// How long a write may wait for the peer to read, and the wait under way
/// (cleared by the next completed write, flush or shutdown).
struct SendStall {
    timeout: Duration,
    clock: StallClock,
}

impl Tcp {
    /// Wraps a connected socket, corked when this thread has a flusher.
    pub fn new(tcp: TcpStream) -> Tcp {
        Tcp::on(super::lazy::Lazy::registered(tcp))
    }

    /// Wraps an accepted socket that is registered with the event loop
    /// only when it has to wait ([`super::lazy`]).
    pub fn lazy(tcp: std::net::TcpStream) -> Tcp {
        Tcp::on(super::lazy::Lazy::raw(tcp))
    }

    fn on(tcp: super::lazy::Lazy) -> Tcp {
        let out = FLUSHER.with(|slot| slot.borrow().clone()).map(|f| {
            Rc::new(Out {
                fd: tcp.as_raw_fd(),
                buf: RefCell::new(Vec::new()),
                queued: Cell::new(false),
                blocked: Cell::new(false),
                dead: Cell::new(false),
                error: RefCell::new(None),
                owner: RefCell::new(None),
                flusher: f,
            })
        });
        Tcp {
            tcp,
            out,
            stall: None,
        }
    }

    /// Bounds how long a write (or flush, or shutdown) may wait for the
    /// peer to read: past `timeout` it fails with `TimedOut`. `None`: no
    /// bound (upstream sockets, tunnels).
    pub fn set_send_timeout(&mut self, timeout: Option<Duration>) {
        self.stall = timeout.filter(|t| !t.is_zero()).map(|timeout| SendStall {
            timeout,
            clock: StallClock::default(),
        });
    }

    /// Passes `polled` on, starting or checking the send bound when it is
    /// `Pending`.
    #[inline]
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let Some(stall) = &mut self.stall else {
            return polled;
        };
        match polled {
            Poll::Pending if stall.clock.expired(cx, stall.timeout) => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the peer read nothing for {:?} (send_timeout)",
                        stall.timeout
                    ),
                )))
            }
            Poll::Pending => Poll::Pending,
            done => {
                stall.clock.progress();
                done
            }
        }
    }

    /// Frees the write buffer when nothing is queued (parked idle
    /// connections hold no buffers).
    pub fn release_memory(&self) {
        if let Some(out) = &self.out
            && let Ok(mut buf) = out.buf.try_borrow_mut()
            && buf.is_empty()
        {
            *buf = Vec::new();
        }
    }

    /// The socket itself when nothing is queued for it (an idle
    /// connection), else `self` back.
    pub fn into_std(mut self) -> Result<std::net::TcpStream, Tcp> {
        if let Some(out) = &self.out
            && (out.queued.get() || !out.buf.borrow().is_empty() || out.error.borrow().is_some())
        {
            return Err(self);
        }
        let lazy = std::mem::replace(&mut self.tcp, super::lazy::Lazy::failed());
        // `self` drops here: the flusher forgets the descriptor.
        drop(self);
        lazy.into_std()
            .map_err(|_| Tcp::on(super::lazy::Lazy::failed()))
    }

    /// Sends everything queued, waiting for writability as needed.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(out) = &self.out else {
            return Poll::Ready(Ok(()));
        };
        if let Some(e) = out.error.borrow_mut().take() {
            return Poll::Ready(Err(e));
        }
        loop {
            let mut buf = out.buf.borrow_mut();
            if buf.is_empty() {
                out.blocked.set(false);
                return Poll::Ready(Ok(()));
            }
            let n = ready!(self.tcp.poll_send(cx, &buf))?;
            buf.drain(..n);
        }
    }

    /// Queues `data` when it is small and the buffer has room; `None` when
    /// it must be written directly (after draining).
    fn try_cork(&mut self, cx: &mut Context<'_>, data: &[&[u8]], len: usize) -> Option<()> {
        let out = self.out.as_ref()?;
        if len > CORK_WRITE_MAX || out.blocked.get() || out.error.borrow().is_some() {
            return None;
        }
        let mut buf = out.buf.borrow_mut();
        if buf.len() + len > CORK_BUF_MAX {
            return None;
        }
        if buf.capacity() - buf.len() < len {
            // One allocation for a typical head and small body, not a
            // doubling series per connection (256 B: a small response).
            buf.reserve(len.max(256));
        }
        for d in data {
            buf.extend_from_slice(d);
        }
        let mut owner = out.owner.borrow_mut();
        match owner.as_ref() {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *owner = Some(cx.waker().clone()),
        }
        if !out.queued.replace(true) {
            out.flusher.queued.borrow_mut().push(out.clone());
            if let Some(w) = out.flusher.task.borrow_mut().take() {
                w.wake();
            }
        }
        Some(())
    }

    pub fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = self.poll_write_unbounded(cx, data);
        self.bounded(cx, polled)
    }

    fn poll_write_unbounded(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.try_cork(cx, &[data], data.len()).is_some() {
            return Poll::Ready(Ok(data.len()));
        }
        ready!(self.poll_drain(cx))?;
        self.tcp.poll_send(cx, data)
    }

    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = self.poll_write_vectored_unbounded(cx, bufs);
        self.bounded(cx, polled)
    }

    fn poll_write_vectored_unbounded(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if bufs.len() <= 4 {
            let mut slices: [&[u8]; 4] = [&[]; 4];
            for (s, b) in slices.iter_mut().zip(bufs) {
                *s = b;
            }
            if self.try_cork(cx, &slices[..bufs.len()], len).is_some() {
                return Poll::Ready(Ok(len));
            }
        }
        ready!(self.poll_drain(cx))?;
        self.tcp.poll_send_vectored(cx, bufs)
    }

    /// Queued bytes are the flusher's to send unless a send blocked.
    #[inline]
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.out {
            Some(out) if out.blocked.get() || out.error.borrow().is_some() => {
                self.poll_flush_blocked(cx)
            }
            _ => Poll::Ready(Ok(())),
        }
    }

    /// A send blocked earlier: the owner sends the rest.
    #[cold]
    fn poll_flush_blocked(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = self.poll_drain(cx);
        self.bounded(cx, polled)
    }

    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = self.poll_drain(cx);
        ready!(self.bounded(cx, polled))?;
        self.tcp.poll_shutdown(cx)
    }
}

impl tokio::io::AsyncRead for Tcp {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.out.as_ref().is_some_and(|o| o.blocked.get()) {
            this.drain_on_read(cx);
        }
        this.tcp.poll_read(cx, buf)
    }
}

impl Tcp {
    /// The flusher handed queued bytes back while the owner waits to read.
    /// A writer that flushed before that send blocked (tokio's
    /// `copy_bidirectional` in a WebSocket tunnel, a response writer
    /// waiting for the next request) never flushes again, so its reads
    /// send the rest: `Pending` here waits for writability with the
    /// reader's waker, and the read goes on either way.
    ///
    /// A send that fails does not fail the read: a peer that closed (or
    /// reset) while bytes were queued for it may have answered first (an
    /// upstream refusing an upload with `413` and closing), and that answer
    /// is still to be read. The error is kept for the next write or flush.
    #[cold]
    fn drain_on_read(&mut self, cx: &mut Context<'_>) {
        if let Poll::Ready(Err(e)) = self.poll_drain(cx)
            && let Some(out) = &self.out
        {
            out.buf.borrow_mut().clear();
            out.blocked.set(false);
            *out.error.borrow_mut() = Some(e);
        }
    }
}

/// TLS runs over a corked socket too: its records are writes like any
/// other.
impl tokio::io::AsyncWrite for Tcp {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored(cx, bufs)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        true
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush(cx)
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown(cx)
    }
}

impl Drop for Tcp {
    fn drop(&mut self) {
        if let Some(out) = &self.out {
            if !out.buf.borrow().is_empty() && !out.blocked.get() {
                out.send_now();
            }
            out.dead.set(true);
        }
    }
}

#[cfg(test)]
mod tests;
