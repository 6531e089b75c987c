//! NGINX's smooth weighted round robin.
//!
//! Exists because plain weighted rotation sends bursts (a a a a a b c for
//! weights 5:1:1); NGINX's algorithm (`ngx_http_upstream_get_peer`) yields
//! the same proportions interleaved (a a b a c a a), deterministically, which
//! is what operators expect from "weighted round robin".

use std::sync::Mutex;

use super::{Balancer, EndpointView, Member, Rng, effective_weight, usable_at};

/// Smooth weighted round robin over fixed weights.
///
/// Each pick, every usable peer's `current` grows by its weight; the peer with
/// the largest `current` (first one on ties) is chosen and its `current`
/// drops by the total weight of the usable peers. Unusable peers are left out
/// of that pick entirely. The state is a short mutex-protected vector.
#[derive(Debug)]
pub struct SmoothWeightedRoundRobin {
    weights: Vec<i64>,
    current: Mutex<Vec<i64>>,
}

impl SmoothWeightedRoundRobin {
    /// A balancer over `members` (weight 0 is treated as 1).
    pub fn new(members: &[Member]) -> Self {
        let weights: Vec<i64> = members
            .iter()
            .map(|m| i64::from(effective_weight(m)))
            .collect();
        let current = Mutex::new(vec![0; weights.len()]);
        SmoothWeightedRoundRobin { weights, current }
    }
}

impl Balancer for SmoothWeightedRoundRobin {
    fn pick(&self, view: &dyn EndpointView, _key: Option<u64>, _rng: &mut Rng) -> Option<usize> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, &w) in self.weights.iter().enumerate() {
            if !usable_at(view, i) {
                continue;
            }
            current[i] += w;
            total += w;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        current[b] -= total;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testview::{TestView, histogram, members};

    #[test]
    fn nginx_sequence() {
        let swrr = SmoothWeightedRoundRobin::new(&[
            Member {
                id: "a".into(),
                weight: 5,
            },
            Member {
                id: "b".into(),
                weight: 1,
            },
            Member {
                id: "c".into(),
                weight: 1,
            },
        ]);
        let view = TestView::all_usable(3);
        let mut rng = Rng::seeded(1);
        let seq: String = (0..21)
            .map(|_| ['a', 'b', 'c'][swrr.pick(&view, None, &mut rng).unwrap()])
            .collect();
        assert_eq!(seq, "aabacaa".repeat(3));
    }

    #[test]
    fn distribution_is_exact_per_cycle() {
        // Deterministic: every cycle of sum(weights) picks contains each peer
        // exactly `weight` times, so 100 cycles give exact counts.
        let ms = members(&[3, 1, 6]);
        let swrr = SmoothWeightedRoundRobin::new(&ms);
        let view = TestView::all_usable(3);
        let mut rng = Rng::seeded(1);
        assert_eq!(histogram(&swrr, &view, &mut rng, 3, 1000), [300, 100, 600]);
    }

    #[test]
    fn skips_unusable() {
        let ms = members(&[5, 1, 1]);
        let swrr = SmoothWeightedRoundRobin::new(&ms);
        let view = TestView::with_down(3, &[0]);
        let mut rng = Rng::seeded(1);
        assert_eq!(histogram(&swrr, &view, &mut rng, 3, 100), [0, 50, 50]);
        // Back up: the proportions recover.
        let view = TestView::all_usable(3);
        let counts = histogram(&swrr, &view, &mut rng, 3, 700);
        assert!(counts[0] >= 490 && counts[0] <= 510, "{counts:?}");
    }

    #[test]
    fn none_when_nothing_usable() {
        let mut rng = Rng::seeded(1);
        let empty = SmoothWeightedRoundRobin::new(&[]);
        assert_eq!(empty.pick(&TestView::all_usable(0), None, &mut rng), None);
        let swrr = SmoothWeightedRoundRobin::new(&members(&[1, 2]));
        assert_eq!(
            swrr.pick(&TestView::with_down(2, &[0, 1]), None, &mut rng),
            None
        );
        // Short view: only endpoint 0 exists.
        assert_eq!(swrr.pick(&TestView::all_usable(1), None, &mut rng), Some(0));
    }

    #[test]
    fn survives_poisoning() {
        let swrr = std::sync::Arc::new(SmoothWeightedRoundRobin::new(&members(&[1, 1])));
        let s2 = swrr.clone();
        let _ = std::thread::spawn(move || {
            let _guard = s2.current.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(swrr.current.is_poisoned());
        let mut rng = Rng::seeded(1);
        assert!(
            swrr.pick(&TestView::all_usable(2), None, &mut rng)
                .is_some()
        );
    }
}
