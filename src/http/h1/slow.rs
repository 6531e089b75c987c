//! Which requests are slow: a per-worker registry woken by the worker's
//! once-a-second sweep, so a request can tell it has been in flight through
//! at least one sweep without a timer of its own.
//!
//! Why: the own HTTP/1.1 path watches a client for going away while its
//! request is in flight (hyper does the same), but watching a socket that
//! is not yet registered with the event loop registers it (two system calls
//! per connection, see `net::lazy`), and a timer per request costs a wake-up
//! of the event loop. A fast request is not worth either; a slow one (a long
//! poll, a slow upstream) is watched from the first sweep after it started,
//! so a client that gives up is noticed within one to two seconds.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The registry of one worker.
#[derive(Default)]
pub struct SlowWatch {
    generation: Cell<u64>,
    /// Wakers of requests waiting for the next sweep (`None`: free slot).
    waiting: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl SlowWatch {
    /// A sweep: every request waiting is woken and now counts as slow.
    pub fn tick(&self) {
        self.generation.set(self.generation.get() + 1);
        let wakers: Vec<Waker> = self
            .waiting
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// A future that resolves at the first sweep after now.
    pub fn after_next_sweep(&self) -> Slow<'_> {
        Slow {
            watch: self,
            started: self.generation.get(),
            slot: None,
        }
    }

    fn release(&self, slot: usize) {
        if let Some(s) = self.waiting.borrow_mut().get_mut(slot) {
            *s = None;
        }
        self.free.borrow_mut().push(slot);
    }

    /// Slots in use (for tests).
    pub fn waiting(&self) -> usize {
        self.waiting.borrow().len() - self.free.borrow().len()
    }
}

/// Resolves once the worker swept after it was made. Polling it costs no
/// system call; dropping it frees its slot.
pub struct Slow<'a> {
    watch: &'a SlowWatch,
    started: u64,
    slot: Option<usize>,
}

impl Future for Slow<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.watch.generation.get() != this.started {
            if let Some(slot) = this.slot.take() {
                this.watch.release(slot);
            }
            return Poll::Ready(());
        }
        let mut waiting = this.watch.waiting.borrow_mut();
        let slot = match this.slot {
            Some(s) => s,
            None => {
                let s = match this.watch.free.borrow_mut().pop() {
                    Some(s) => s,
                    None => {
                        waiting.push(None);
                        waiting.len() - 1
                    }
                };
                this.slot = Some(s);
                s
            }
        };
        match &mut waiting[slot] {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Slow<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.watch.release(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_at_the_first_sweep_after_it_was_made_and_frees_its_slot() {
        let watch = SlowWatch::default();
        let mut slow = Box::pin(watch.after_next_sweep());
        let polled = std::future::poll_fn(|cx| Poll::Ready(slow.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
        assert_eq!(watch.waiting(), 1);
        watch.tick();
        slow.await;
        assert_eq!(watch.waiting(), 0);
    }

    #[tokio::test]
    async fn a_dropped_watch_frees_its_slot_for_the_next() {
        let watch = SlowWatch::default();
        for _ in 0..3 {
            let mut slow = Box::pin(watch.after_next_sweep());
            let _ = std::future::poll_fn(|cx| Poll::Ready(slow.as_mut().poll(cx))).await;
            assert_eq!(watch.waiting(), 1);
        }
        assert_eq!(watch.waiting(), 0);
        assert_eq!(watch.waiting.borrow().len(), 1, "one slot, reused");
    }

    #[tokio::test]
    async fn one_made_after_a_sweep_waits_for_the_next() {
        let watch = SlowWatch::default();
        watch.tick();
        let mut slow = Box::pin(watch.after_next_sweep());
        let polled = std::future::poll_fn(|cx| Poll::Ready(slow.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
    }
}
