//! Plain round robin: the simplest fair rotation, weights ignored.
//!
//! Exists for pools of identical endpoints where the cheapest possible pick
//! (one atomic increment) matters more than load awareness.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Balancer, EndpointView, Rng, usable_at};

/// Rotates over the endpoints with a shared atomic cursor, skipping unusable
/// ones. Weights are ignored.
#[derive(Debug)]
pub struct RoundRobin {
    n: usize,
    cursor: AtomicUsize,
}

impl RoundRobin {
    /// A rotation over `n` endpoints, starting at endpoint 0.
    pub fn new(n: usize) -> Self {
        RoundRobin {
            n,
            cursor: AtomicUsize::new(0),
        }
    }
}

impl Balancer for RoundRobin {
    /// The next usable endpoint after the cursor (at most `n` probes).
    /// When endpoints were skipped the cursor is moved past the chosen one,
    /// so the endpoint after a down one does not get a double share.
    fn pick(&self, view: &dyn EndpointView, _key: Option<u64>, _rng: &mut Rng) -> Option<usize> {
        let n = self.n;
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        for probe in 0..n {
            let i = start.wrapping_add(probe) % n;
            if usable_at(view, i) {
                if probe > 0 {
                    self.cursor.fetch_add(probe, Ordering::Relaxed);
                }
                return Some(i);
            }
        }
        // Nothing usable: the turn is not used up. The pool asks again
        // with skipped (marked down) endpoints allowed, and that pick must
        // continue the rotation, not jump it by two (which, with an even
        // number of endpoints, sent everything to half of them).
        self.cursor.fetch_sub(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testview::TestView;

    #[test]
    fn rotates() {
        let rr = RoundRobin::new(3);
        let view = TestView::all_usable(3);
        let mut rng = Rng::seeded(1);
        let picks: Vec<_> = (0..7)
            .map(|_| rr.pick(&view, None, &mut rng).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn even_distribution() {
        // Round robin is deterministic: 3000 picks over 3 give exactly 1000 each.
        let rr = RoundRobin::new(3);
        let view = TestView::all_usable(3);
        let mut rng = Rng::seeded(1);
        let counts = crate::balance::testview::histogram(&rr, &view, &mut rng, 3, 3000);
        assert_eq!(counts, [1000, 1000, 1000]);
    }

    #[test]
    fn a_pick_that_finds_nothing_leaves_the_rotation_where_it_was() {
        let rr = RoundRobin::new(4);
        let none = TestView::with_down(4, &[0, 1, 2, 3]);
        let all = TestView::all_usable(4);
        let mut rng = Rng::seeded(1);
        // As the pool does when every endpoint is marked down: a strict
        // pick that finds nothing, then one that takes any endpoint.
        let picks: Vec<_> = (0..8)
            .map(|_| {
                assert_eq!(rr.pick(&none, None, &mut rng), None);
                rr.pick(&all, None, &mut rng).unwrap()
            })
            .collect();
        assert_eq!(picks, [0, 1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn skips_unusable_without_double_share() {
        let rr = RoundRobin::new(4);
        let view = TestView::with_down(4, &[1]);
        let mut rng = Rng::seeded(1);
        let picks: Vec<_> = (0..6)
            .map(|_| rr.pick(&view, None, &mut rng).unwrap())
            .collect();
        assert_eq!(picks, [0, 2, 3, 0, 2, 3]);
    }

    #[test]
    fn none_when_nothing_usable() {
        let mut rng = Rng::seeded(1);
        assert_eq!(
            RoundRobin::new(0).pick(&TestView::all_usable(0), None, &mut rng),
            None
        );
        let rr = RoundRobin::new(3);
        assert_eq!(
            rr.pick(&TestView::with_down(3, &[0, 1, 2]), None, &mut rng),
            None
        );
        // A view shorter than the pool: missing endpoints are unusable.
        let short = TestView::all_usable(1);
        for _ in 0..5 {
            assert_eq!(rr.pick(&short, None, &mut rng), Some(0));
        }
    }
}
