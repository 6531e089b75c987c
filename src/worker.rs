//! Per-worker context: what one event-loop thread owns.
//!
//! Switchyard runs one single-threaded tokio runtime per worker thread
//! (thread-per-core, like HAProxy's `nbthread` and NGINX workers): the
//! kernel spreads accepted connections over the workers with
//! `SO_REUSEPORT`, and everything a worker touches on the hot path (its idle
//! upstream connections, its random source, its connection count) is
//! thread-local, behind `Rc`/`Cell`, with no locks.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use tokio::sync::{Notify, watch};

use crate::balance::Rng;
use crate::upstream::ConnCache;

/// State owned by one worker thread.
pub struct WorkerCtx {
    pub id: usize,
    /// Idle upstream connections of this worker.
    pub conns: ConnCache,
    /// Upstream HTTP/2 connections of this worker (shared by requests).
    pub h2: crate::upstream::h2::H2Pool,
    pub rng: RefCell<Rng>,
    /// Copy buffers of the L4 relay.
    pub bufs: crate::l4::relay::BufPool,
    /// Requests waiting to count as slow (woken by the sweep).
    pub slow: crate::http::h1::slow::SlowWatch,
    /// Idle keep-alive client connections held without a task.
    pub parked: crate::http::parked::Parked,
    active: Cell<usize>,
    idle: Notify,
    /// Bumped on reload (close keep-alive connections gracefully so clients
    /// reconnect to the new configuration) and on shutdown.
    close_gen: Cell<u64>,
    close_waiters: RefCell<rustc_hash::FxHashMap<u64, Waker>>,
    next_waiter: Cell<u64>,
    /// Shutdown's deadline passed: what is still open is being cut by the
    /// proxy (the access log says `LR`, not that the client left).
    pub cutting: Cell<bool>,
}

impl WorkerCtx {
    pub fn new(id: usize) -> WorkerCtx {
        WorkerCtx {
            id,
            conns: ConnCache::default(),
            h2: crate::upstream::h2::H2Pool::default(),
            rng: RefCell::new(Rng::from_entropy()),
            bufs: crate::l4::relay::BufPool::default(),
            slow: crate::http::h1::slow::SlowWatch::default(),
            parked: crate::http::parked::Parked::default(),
            active: Cell::new(0),
            idle: Notify::new(),
            close_gen: Cell::new(0),
            close_waiters: RefCell::default(),
            next_waiter: Cell::new(0),
            cutting: Cell::new(false),
        }
    }

    /// Relays the control side's close signal to this worker's connections.
    /// One subscriber per worker: connections wait on a worker-local flag,
    /// which costs nothing per poll (a `watch` receiver per connection
    /// would take a lock on every wake-up).
    pub async fn relay_close_signal(self: Rc<Self>, mut signal: watch::Receiver<u64>) {
        while signal.changed().await.is_ok() {
            self.close_gen.set(self.close_gen.get() + 1);
            let waiters = std::mem::take(&mut *self.close_waiters.borrow_mut());
            for (_, w) in waiters {
                w.wake();
            }
        }
    }

    /// A future that completes at the next close signal.
    pub fn closing(self: &Rc<Self>) -> Closing {
        let id = self.next_waiter.get();
        self.next_waiter.set(id + 1);
        Closing {
            worker: self.clone(),
            seen: self.close_gen.get(),
            id,
            registered: false,
        }
    }

    /// Client connections open on this worker with a task of their own.
    pub fn active(&self) -> usize {
        self.active.get()
    }

    /// Marks a client connection open until the guard drops.
    pub fn track(self: &std::rc::Rc<Self>) -> ActiveGuard {
        self.active.set(self.active.get() + 1);
        ActiveGuard(self.clone())
    }

    /// Client connections open on this worker, parked ones included.
    pub fn open(&self) -> usize {
        self.active.get() + self.parked.len()
    }

    /// Waits until no client connection is open, parked ones included
    /// (at shutdown they get their grace for a last request first).
    pub async fn wait_idle(&self) {
        while self.open() > 0 {
            self.idle.notified().await;
        }
    }

    /// Wakes [`wait_idle`](Self::wait_idle) if nothing is open any more
    /// (the parked set calls it when it closes connections).
    pub fn wake_if_idle(&self) {
        if self.open() == 0 {
            self.idle.notify_waiters();
        }
    }
}

/// Counts one open client connection.
pub struct ActiveGuard(std::rc::Rc<WorkerCtx>);

impl ActiveGuard {
    /// The worker this connection counts on.
    pub fn worker(&self) -> std::rc::Rc<WorkerCtx> {
        self.0.clone()
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let n = self.0.active.get().saturating_sub(1);
        self.0.active.set(n);
        if n == 0 {
            self.0.wake_if_idle();
        }
    }
}

/// Completes when the worker relays a close signal (see [`WorkerCtx::closing`]).
pub struct Closing {
    worker: Rc<WorkerCtx>,
    seen: u64,
    id: u64,
    registered: bool,
}

impl Future for Closing {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.worker.close_gen.get() != self.seen {
            return Poll::Ready(());
        }
        // Polled only by the connection task that owns it, whose waker is
        // stable: registering once is enough.
        if !self.registered {
            self.registered = true;
            self.worker
                .close_waiters
                .borrow_mut()
                .insert(self.id, cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if self.registered {
            self.worker.close_waiters.borrow_mut().remove(&self.id);
        }
    }
}
