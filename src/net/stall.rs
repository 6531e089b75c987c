//! A bound on how long one wait may last, for waits that are usually
//! short or absent: a response body waiting for its upstream, a write
//! waiting for the client to read, an HTTP/2 stream waiting for window.
//!
//! The clock is read, and a timer made, only when a wait starts (the
//! first `Pending` after progress), never per frame or per write; the
//! timer is allocated at the first wait and re-armed after that. Progress
//! clears the wait, so the bound is on each pause, not on the total.

use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// One bounded wait; see the module docs.
#[derive(Debug, Default)]
pub struct StallClock {
    /// A wait is under way (since the last [`progress`](Self::progress)).
    waiting: bool,
    /// Its deadline, made at the first wait.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl StallClock {
    /// The wait goes on (the caller's poll returned `Pending`): starts the
    /// clock if the wait just began, and tells whether `limit` has passed
    /// since. Registers `cx` to be woken at the deadline.
    pub fn expired(&mut self, cx: &mut Context<'_>, limit: Duration) -> bool {
        if !self.waiting {
            self.waiting = true;
            let at = Instant::now() + limit;
            match &mut self.deadline {
                Some(d) => d.as_mut().reset(at),
                None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        self.deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }

    /// Progress was made: the next wait is a new one.
    #[inline]
    pub fn progress(&mut self) {
        self.waiting = false;
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::Poll;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    /// Polls `clock` as a waiting caller would, until the bound passes.
    async fn wait_out(clock: &mut StallClock) -> Instant {
        poll_fn(|cx| {
            if clock.expired(cx, LIMIT) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        Instant::now()
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_expires_at_the_limit_from_its_start() {
        let mut clock = StallClock::default();
        let start = Instant::now();
        assert_eq!(wait_out(&mut clock).await - start, LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_starts_a_new_wait() {
        let mut clock = StallClock::default();
        let cx = &mut Context::from_waker(std::task::Waker::noop());
        assert!(!clock.expired(cx, LIMIT));
        tokio::time::advance(LIMIT - Duration::from_secs(1)).await;
        assert!(!clock.expired(cx, LIMIT), "still within the first wait");
        clock.progress();
        let restart = Instant::now();
        tokio::time::advance(Duration::from_secs(5)).await;
        // Past the first wait's deadline: the new wait, begun now, runs.
        assert!(
            !clock.expired(cx, LIMIT),
            "the first wait's deadline still applied"
        );
        assert_eq!(
            wait_out(&mut clock).await - restart,
            LIMIT + Duration::from_secs(5)
        );
    }
}
