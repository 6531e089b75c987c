//! At most one log line per period for an event a peer can repeat at will
//! (a connection refused at `max_connections`, a datagram with nowhere to
//! go). Under a flood, one line per event would add load exactly when the
//! proxy has least to spare and bury every other line; instead the first
//! event is logged, the next ones within the period are only counted, and
//! the count rides on the next line logged.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a throttled line may be written.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// One throttled line; share it between threads.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Milliseconds since [`epoch`] before which lines are suppressed.
    next_ms: AtomicU64,
    /// Events suppressed since the last line.
    suppressed: AtomicU64,
}

impl Throttle {
    pub const fn new() -> Throttle {
        Throttle {
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Counts one event: `Some(n)` when its line is to be written now, `n`
    /// being the events suppressed since the last line; `None` when the
    /// line is suppressed.
    pub fn allow(&self) -> Option<u64> {
        let now = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        self.allow_at(now, LOG_EVERY)
    }

    fn allow_at(&self, now_ms: u64, every: Duration) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Acquire);
        let until = now_ms.saturating_add(u64::try_from(every.as_millis()).unwrap_or(u64::MAX));
        if now_ms >= next
            && self
                .next_ms
                .compare_exchange(next, until, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::AcqRel);
        None
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_millis(5000);

    #[test]
    fn the_first_event_is_logged_and_the_rest_of_the_period_counted() {
        let t = Throttle::new();
        assert_eq!(t.allow_at(100, EVERY), Some(0));
        assert_eq!(t.allow_at(100, EVERY), None);
        assert_eq!(t.allow_at(2_000, EVERY), None);
        assert_eq!(t.allow_at(5_099, EVERY), None);
        // The period is over: the next line carries the three suppressed.
        assert_eq!(t.allow_at(5_100, EVERY), Some(3));
        assert_eq!(t.allow_at(5_101, EVERY), None);
        // A quiet spell: the next event is logged at once, with its count.
        assert_eq!(t.allow_at(60_000, EVERY), Some(1));
        assert_eq!(t.allow_at(60_000, EVERY), None);
    }

    #[test]
    fn threads_racing_write_one_line_and_lose_no_count() {
        let t = std::sync::Arc::new(Throttle::new());
        let allowed: u64 = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|_| t.allow_at(7, EVERY).is_some()).count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 1);
        assert_eq!(t.allow_at(7 + 5000, EVERY), Some(3999));
    }

    #[test]
    fn allow_uses_the_process_clock() {
        let t = Throttle::new();
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
    }
}
