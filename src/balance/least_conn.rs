//! Weighted least outstanding requests.
//!
//! Exists for workloads whose requests vary widely in cost (long polls,
//! uploads, slow queries): an endpoint that is stuck accumulates outstanding
//! requests and stops receiving new ones, which round robin cannot do.

use super::{Balancer, EndpointView, Member, Rng, effective_weight, usable_at};

/// Picks the usable endpoint with the smallest `outstanding / weight`.
///
/// Ratios are compared exactly by cross-multiplication in `u128` (no floats,
/// no overflow). Ties are broken uniformly at random, so an idle pool spreads
/// its first requests instead of sending them all to endpoint 0.
#[derive(Debug)]
pub struct LeastConnections {
    weights: Vec<u32>,
}

impl LeastConnections {
    /// A balancer over `members` (weight 0 is treated as 1).
    pub fn new(members: &[Member]) -> Self {
        LeastConnections {
            weights: members.iter().map(effective_weight).collect(),
        }
    }
}

impl Balancer for LeastConnections {
    fn pick(&self, view: &dyn EndpointView, _key: Option<u64>, rng: &mut Rng) -> Option<usize> {
        // (index, outstanding, weight) of the best so far, and how many
        // endpoints tie with it (for single-pass reservoir sampling).
        let mut best: Option<(usize, u64, u32)> = None;
        let mut ties = 0u64;
        for (i, &w) in self.weights.iter().enumerate() {
            if !usable_at(view, i) {
                continue;
            }
            let out = view.outstanding(i);
            let Some((_, best_out, best_w)) = best else {
                best = Some((i, out, w));
                ties = 1;
                continue;
            };
            // out / w  vs  best_out / best_w
            let lhs = u128::from(out) * u128::from(best_w);
            let rhs = u128::from(best_out) * u128::from(w);
            if lhs < rhs {
                best = Some((i, out, w));
                ties = 1;
            } else if lhs == rhs {
                ties += 1;
                // Keep each of the `ties` candidates with probability 1/ties.
                if rng.below(ties) == 0 {
                    best = Some((i, out, w));
                }
            }
        }
        best.map(|(i, _, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testview::{TestView, histogram, members};

    #[test]
    fn picks_the_minimum() {
        let lc = LeastConnections::new(&members(&[1, 1, 1, 1]));
        let mut view = TestView::all_usable(4);
        view.outstanding = vec![5, 3, 7, 4];
        let mut rng = Rng::seeded(3);
        for _ in 0..100 {
            assert_eq!(lc.pick(&view, None, &mut rng), Some(1));
        }
    }

    #[test]
    fn respects_weights() {
        // 10/5 = 2 < 3/1 = 3 < 9/2 = 4.5: the heavy endpoint wins despite
        // having the most requests in flight.
        let lc = LeastConnections::new(&members(&[1, 5, 2]));
        let mut view = TestView::all_usable(3);
        view.outstanding = vec![3, 10, 9];
        let mut rng = Rng::seeded(3);
        assert_eq!(lc.pick(&view, None, &mut rng), Some(1));
        view.outstanding = vec![1, 10, 9];
        assert_eq!(lc.pick(&view, None, &mut rng), Some(0));
        // Huge counts don't overflow.
        view.outstanding = vec![u64::MAX, u64::MAX, u64::MAX - 1];
        assert_eq!(lc.pick(&view, None, &mut rng), Some(1));
    }

    #[test]
    fn distribution_matches_weights_under_load() {
        // Simulate: every pick adds an outstanding request to the chosen
        // endpoint. Least-outstanding then fills endpoints in proportion to
        // weight; after 10 000 picks over weights 1:2:7 each count is within
        // one request of exact (the algorithm is deterministic except for
        // which of the tied endpoints goes first).
        let lc = LeastConnections::new(&members(&[1, 2, 7]));
        let mut view = TestView::all_usable(3);
        let mut rng = Rng::seeded(3);
        for _ in 0..10_000 {
            let i = lc.pick(&view, None, &mut rng).unwrap();
            view.outstanding[i] += 1;
        }
        let expected = [1_000u64, 2_000, 7_000];
        for (got, want) in view.outstanding.iter().zip(expected) {
            assert!(got.abs_diff(want) <= 1, "{:?}", view.outstanding);
        }
    }

    #[test]
    fn ties_are_broken_uniformly() {
        // Idle pool: all tie. 40 000 picks over 4: expected 10 000 each,
        // sd ~87; 5 % band is > 5 sd and the seed is fixed: cannot flake.
        let lc = LeastConnections::new(&members(&[1, 1, 1, 1]));
        let view = TestView::all_usable(4);
        let mut rng = Rng::seeded(3);
        let counts = histogram(&lc, &view, &mut rng, 4, 40_000);
        for c in &counts {
            assert!((9_500..=10_500).contains(c), "{counts:?}");
        }
    }

    #[test]
    fn skips_unusable_and_none_when_nothing_usable() {
        let lc = LeastConnections::new(&members(&[1, 1, 1]));
        let mut view = TestView::with_down(3, &[0]);
        view.outstanding = vec![0, 5, 6];
        let mut rng = Rng::seeded(3);
        assert_eq!(lc.pick(&view, None, &mut rng), Some(1));
        assert_eq!(
            lc.pick(&TestView::with_down(3, &[0, 1, 2]), None, &mut rng),
            None
        );
        assert_eq!(LeastConnections::new(&[]).pick(&view, None, &mut rng), None);
        assert_eq!(lc.pick(&TestView::all_usable(0), None, &mut rng), None);
    }
}
