//! What one HTTP/2 connection's driver shares with its streams: the
//! sans-io [`Connection`], each stream's inbound state (request-body bytes,
//! trailers, reset) and the wakers of whoever waits on it.
//!
//! Everything runs on the connection's one task, so this is a `RefCell`
//! behind an `Rc`, borrowed for a few lines at a time and never across an
//! `.await` or a poll of anything else. A request body may be polled from
//! another task (hyper's upstream HTTP/1.1 client drives its connection in
//! a task of its own); output it causes (WINDOW_UPDATE) wakes the driver.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::task::{Context, Waker};

use bytes::Bytes;
use http::HeaderMap;
use rustc_hash::FxHashMap;

use crate::http::h2::conn::Connection;
use crate::http::h2::frame::ErrorCode;

/// Streams stop queueing response bytes while the connection has more
/// than this queued for the socket.
pub(super) const HIGH_WATER: usize = 256 << 10;

/// One stream's inbound side and waiters.
#[derive(Default)]
pub(super) struct Slot {
    /// Request-body bytes not yet taken by the body.
    pub(super) data: VecDeque<Bytes>,
    /// The request's trailers, not yet taken.
    pub(super) trailers: Option<HeaderMap>,
    /// The client ended the request body.
    pub(super) end: bool,
    /// The stream was reset (by the client, or a stream error).
    pub(super) reset: Option<ErrorCode>,
    /// The request body's reader.
    pub(super) reader: Option<Waker>,
    /// The response sender, waiting for window.
    pub(super) sender: Option<Waker>,
    /// The stream's task (woken on reset so it ends).
    pub(super) task: Option<Waker>,
    /// The response was sent to its end (END_STREAM).
    pub(super) response_done: bool,
}

impl Slot {
    /// Wakes everyone waiting on the stream.
    pub(super) fn wake_all(&mut self) {
        for w in [self.reader.take(), self.sender.take(), self.task.take()]
            .into_iter()
            .flatten()
        {
            w.wake();
        }
    }
}

/// The mutable part: the protocol state and the streams.
pub(super) struct Inner {
    pub(super) conn: Connection,
    pub(super) slots: FxHashMap<u32, Slot>,
    /// Streams waiting for the output queue to drain below [`HIGH_WATER`].
    pub(super) room: Vec<Waker>,
}

/// Shared between the driver, the stream tasks and the request bodies.
pub struct Shared {
    inner: RefCell<Inner>,
    /// The driver's waker.
    driver: RefCell<Option<Waker>>,
    /// The driver is in its poll: output queued now is written before it
    /// sleeps, no wake-up needed.
    polling: Cell<bool>,
}

impl Shared {
    pub(super) fn new(conn: Connection) -> Shared {
        Shared {
            inner: RefCell::new(Inner {
                conn,
                slots: FxHashMap::default(),
                room: Vec::new(),
            }),
            driver: RefCell::new(None),
            polling: Cell::new(false),
        }
    }

    /// Runs `f` on the state; if it queued output while the driver is not
    /// polling, the driver is woken to write it.
    #[inline]
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self.inner.borrow_mut();
        let r = f(&mut inner);
        if !self.polling.get() && inner.conn.wants_write() {
            drop(inner);
            self.wake_driver();
        }
        r
    }

    /// The driver's own access (it writes what is queued itself).
    #[inline]
    pub(super) fn inner(&self) -> std::cell::RefMut<'_, Inner> {
        self.inner.borrow_mut()
    }

    /// Marks the driver in (or out of) its poll and keeps its waker.
    pub(super) fn enter(&self, cx: &Context<'_>) {
        self.polling.set(true);
        let mut d = self.driver.borrow_mut();
        if !d.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *d = Some(cx.waker().clone());
        }
    }

    pub(super) fn leave(&self) {
        self.polling.set(false);
    }

    fn wake_driver(&self) {
        if let Some(w) = self.driver.borrow().as_ref() {
            w.wake_by_ref();
        }
    }
}

/// Keeps `cx`'s waker in `slot` (cloned only when it changed).
#[inline]
pub(super) fn keep(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}
