//! Power of two choices over peak-EWMA latency (Finagle / linkerd style).
//!
//! Exists because it is the best general-purpose L7 balancer known: it reacts
//! to slow endpoints within a few requests (peak EWMA jumps up immediately,
//! decays slowly), while comparing only two random candidates keeps the pick
//! O(1) and avoids the herd behaviour of "always the global minimum" when
//! many balancers share stale load information.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Balancer, EndpointView, Member, Rng, effective_weight, usable_at};

/// Latency assumed for an endpoint with no observations yet (1 ms, like
/// linkerd's default RTT), in nanoseconds.
pub const DEFAULT_LATENCY_NS: f64 = 1_000_000.0;

/// Power of two choices: two distinct usable endpoints drawn uniformly at
/// random, the one with the lower
/// `latency × (outstanding + 1) / weight` wins.
///
/// Latency comes from [`EndpointView::latency_ns`]; 0 (unknown) counts as
/// [`DEFAULT_LATENCY_NS`].
#[derive(Debug)]
pub struct P2cEwma {
    weights: Vec<u32>,
}

impl P2cEwma {
    /// A balancer over `members` (weight 0 is treated as 1).
    pub fn new(members: &[Member]) -> Self {
        P2cEwma {
            weights: members.iter().map(effective_weight).collect(),
        }
    }

    fn cost(&self, view: &dyn EndpointView, i: usize) -> f64 {
        let latency = view.latency_ns(i);
        // 0 means unknown; NaN / negative are nonsense: use the default.
        let latency = if latency > 0.0 {
            latency
        } else {
            DEFAULT_LATENCY_NS
        };
        latency * (view.outstanding(i) as f64 + 1.0) / f64::from(self.weights[i])
    }

    /// The `k`-th usable endpoint (0-based) among the first `n`.
    fn nth_usable(view: &dyn EndpointView, n: usize, k: usize) -> Option<usize> {
        (0..n).filter(|&i| usable_at(view, i)).nth(k)
    }
}

impl Balancer for P2cEwma {
    fn pick(&self, view: &dyn EndpointView, _key: Option<u64>, rng: &mut Rng) -> Option<usize> {
        let n = self.weights.len();
        let (a, b) = if n >= 2 {
            // Fast path: two distinct endpoints out of all n. If both are
            // usable the pair is uniform among usable pairs.
            let a = rng.below(n as u64) as usize;
            let mut b = rng.below(n as u64 - 1) as usize;
            if b >= a {
                b += 1;
            }
            if usable_at(view, a) && usable_at(view, b) {
                (a, b)
            } else {
                // Slow path: draw two distinct among the usable ones.
                let usable = (0..n).filter(|&i| usable_at(view, i)).count();
                match usable {
                    0 => return None,
                    1 => return Self::nth_usable(view, n, 0),
                    _ => {}
                }
                let ka = rng.below(usable as u64) as usize;
                let mut kb = rng.below(usable as u64 - 1) as usize;
                if kb >= ka {
                    kb += 1;
                }
                (
                    Self::nth_usable(view, n, ka)?,
                    Self::nth_usable(view, n, kb)?,
                )
            }
        } else {
            return Self::nth_usable(view, n, 0);
        };
        // The draw order is random, so keeping `a` on a tie is a fair coin.
        if self.cost(view, b) < self.cost(view, a) {
            Some(b)
        } else {
            Some(a)
        }
    }
}

/// A thread-safe peak-EWMA latency estimator (one per endpoint).
///
/// A sample above the current estimate replaces it at once (the *peak*: a
/// slow endpoint is penalised immediately); a lower sample is blended in with
/// weight `1 - w`, `w = exp(-elapsed / decay)`, so the estimate comes down
/// smoothly. Reads decay the estimate toward 0 for the time since the last
/// observation (as Finagle does), so an endpoint that stopped receiving
/// traffic becomes attractive again and gets probed.
///
/// Lock-free: the estimate (f64 bits) and the last-update timestamp are two
/// atomics. Concurrent observations may lose one another's update; that only
/// drops a sample, which an estimator tolerates.
pub struct PeakEwma {
    decay_ns: f64,
    value: AtomicU64,
    stamp_ns: AtomicU64,
}

impl PeakEwma {
    /// An estimator with time constant `decay` (the caller's choice; 10 s is
    /// typical) and no observations (estimate 0 = unknown).
    pub fn new(decay: Duration) -> Self {
        PeakEwma {
            decay_ns: (decay.as_nanos() as f64).max(1.0),
            value: AtomicU64::new(0f64.to_bits()),
            stamp_ns: AtomicU64::new(0),
        }
    }

    fn weight(&self, last_ns: u64, now_ns: u64) -> f64 {
        // A clock that went backwards (or a racing thread with an older
        // `now`) counts as no time elapsed.
        let elapsed = now_ns.saturating_sub(last_ns) as f64;
        (-elapsed / self.decay_ns).exp()
    }

    /// Records a response time of `rtt_ns` nanoseconds observed at `now_ns`
    /// (any monotonic clock, in ns). Non-finite or negative samples are
    /// ignored.
    pub fn observe(&self, rtt_ns: f64, now_ns: u64) {
        if !(rtt_ns.is_finite() && rtt_ns >= 0.0) {
            return;
        }
        let last = self.stamp_ns.load(Ordering::Relaxed);
        let current = f64::from_bits(self.value.load(Ordering::Relaxed));
        let next = if rtt_ns > current {
            rtt_ns
        } else {
            let w = self.weight(last, now_ns);
            current * w + rtt_ns * (1.0 - w)
        };
        self.value.store(next.to_bits(), Ordering::Relaxed);
        self.stamp_ns.fetch_max(now_ns, Ordering::Relaxed);
    }

    /// The estimate at `now_ns`: the last value decayed toward 0 by
    /// `exp(-(now - last) / decay)`. 0 means nothing is known.
    pub fn get(&self, now_ns: u64) -> f64 {
        let last = self.stamp_ns.load(Ordering::Relaxed);
        let current = f64::from_bits(self.value.load(Ordering::Relaxed));
        current * self.weight(last, now_ns)
    }
}

impl std::fmt::Debug for PeakEwma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeakEwma")
            .field("decay_ns", &self.decay_ns)
            .field(
                "value_ns",
                &f64::from_bits(self.value.load(Ordering::Relaxed)),
            )
            .field("stamp_ns", &self.stamp_ns.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testview::{TestView, histogram, members};

    #[test]
    fn equal_endpoints_share_evenly() {
        // All idle with unknown latency: every pair ties, the first drawn
        // wins, so the pick is uniform. 50 000 picks over 5: expected 10 000
        // each, sd ~89; a 5 % band is > 5 sd and the seed is fixed.
        let p2c = P2cEwma::new(&members(&[1; 5]));
        let view = TestView::all_usable(5);
        let mut rng = Rng::seeded(5);
        for c in histogram(&p2c, &view, &mut rng, 5, 50_000) {
            assert!((9_500..=10_500).contains(&c), "{c}");
        }
    }

    #[test]
    fn prefers_low_latency() {
        // Endpoint 0 is 10x slower: every pair that contains it contains a
        // faster endpoint (p2c never draws the same endpoint twice), so it is
        // never picked.
        let p2c = P2cEwma::new(&members(&[1; 4]));
        let mut view = TestView::all_usable(4);
        view.latency = vec![10e6, 1e6, 1e6, 1e6];
        let mut rng = Rng::seeded(5);
        let counts = histogram(&p2c, &view, &mut rng, 4, 30_000);
        assert_eq!(counts[0], 0, "{counts:?}");
        // Latencies 4, 3, 2, 1 ms: each of the 6 pairs is drawn with
        // probability 1/6 and goes to its faster member, so endpoint 3 wins
        // 3/6, endpoint 2 wins 2/6, endpoint 1 wins 1/6, endpoint 0 nothing.
        // 30 000 picks: sd <= 87, the bands are > 5 sd, the seed is fixed.
        view.latency = vec![4e6, 3e6, 2e6, 1e6];
        let counts = histogram(&p2c, &view, &mut rng, 4, 30_000);
        assert_eq!(counts[0], 0, "{counts:?}");
        assert!((14_500..=15_500).contains(&counts[3]), "{counts:?}");
        assert!((9_500..=10_500).contains(&counts[2]), "{counts:?}");
        assert!((4_500..=5_500).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn prefers_low_outstanding_and_respects_weight() {
        let p2c = P2cEwma::new(&members(&[1, 1, 4]));
        let mut view = TestView::all_usable(3);
        // Same latency; cost = (out + 1) / w = 6, 1, 3/4... endpoint 0 busy.
        view.outstanding = vec![5, 0, 2];
        let mut rng = Rng::seeded(5);
        let counts = histogram(&p2c, &view, &mut rng, 3, 30_000);
        // 0 always loses; 2 (cost 0.75) beats 1 (cost 1): 2 wins pairs
        // {0,2} and {1,2} = 2/3, 1 wins {0,1} = 1/3. sd ~82 -> 5 % bands.
        assert_eq!(counts[0], 0, "{counts:?}");
        assert!((19_000..=21_000).contains(&counts[2]), "{counts:?}");
        assert!((9_500..=10_500).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn unknown_latency_counts_as_default() {
        // 0 (unknown) is treated as 1 ms: it beats a 2 ms endpoint and loses
        // to a 0.5 ms one. NaN is treated like unknown, never a panic.
        let p2c = P2cEwma::new(&members(&[1, 1]));
        let mut view = TestView::all_usable(2);
        let mut rng = Rng::seeded(5);
        view.latency = vec![0.0, 2e6];
        assert_eq!(p2c.pick(&view, None, &mut rng), Some(0));
        view.latency = vec![0.0, 0.5e6];
        assert_eq!(p2c.pick(&view, None, &mut rng), Some(1));
        view.latency = vec![f64::NAN, 2e6];
        assert_eq!(p2c.pick(&view, None, &mut rng), Some(0));
    }

    #[test]
    fn skips_unusable_and_none_when_nothing_usable() {
        let p2c = P2cEwma::new(&members(&[1; 5]));
        let mut rng = Rng::seeded(5);
        // Only 3 usable: uniform among them (30 000 picks, sd ~82).
        let view = TestView::with_down(5, &[0, 2]);
        let counts = histogram(&p2c, &view, &mut rng, 5, 30_000);
        assert_eq!((counts[0], counts[2]), (0, 0), "{counts:?}");
        for i in [1, 3, 4] {
            assert!((9_500..=10_500).contains(&counts[i]), "{counts:?}");
        }
        // Exactly one usable: always it.
        let view = TestView::with_down(5, &[0, 1, 2, 4]);
        for _ in 0..100 {
            assert_eq!(p2c.pick(&view, None, &mut rng), Some(3));
        }
        assert_eq!(
            p2c.pick(&TestView::with_down(5, &[0, 1, 2, 3, 4]), None, &mut rng),
            None
        );
        assert_eq!(P2cEwma::new(&[]).pick(&view, None, &mut rng), None);
        let single = P2cEwma::new(&members(&[1]));
        assert_eq!(
            single.pick(&TestView::all_usable(1), None, &mut rng),
            Some(0)
        );
        assert_eq!(single.pick(&TestView::all_usable(0), None, &mut rng), None);
        // Short view: endpoints 2..5 don't exist.
        let short = TestView::all_usable(2);
        for _ in 0..100 {
            assert!(p2c.pick(&short, None, &mut rng).unwrap() < 2);
        }
    }

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn peak_ewma_jumps_up_decays_down() {
        let e = PeakEwma::new(Duration::from_secs(10));
        assert_eq!(e.get(0), 0.0);
        e.observe(5e6, SEC);
        assert_eq!(e.get(SEC), 5e6);
        // Peak: a higher sample replaces the estimate at once.
        e.observe(50e6, 2 * SEC);
        assert_eq!(e.get(2 * SEC), 50e6);
        // A lower sample 10 s (one time constant) later blends with
        // w = e^-1: 50 * 0.3679 + 5 * 0.6321 = 21.55 ms.
        e.observe(5e6, 12 * SEC);
        let w = (-1.0f64).exp();
        let expected = 50e6 * w + 5e6 * (1.0 - w);
        assert!((e.get(12 * SEC) - expected).abs() < 1.0);
        // A lower sample at the same instant changes nothing (w = 1).
        e.observe(1e6, 12 * SEC);
        assert!((e.get(12 * SEC) - expected).abs() < 1.0);
    }

    #[test]
    fn peak_ewma_get_decays_toward_zero() {
        let e = PeakEwma::new(Duration::from_secs(10));
        e.observe(8e6, SEC);
        let later = e.get(21 * SEC); // two time constants
        assert!((later - 8e6 * (-2.0f64).exp()).abs() < 1.0);
        // A clock going backwards counts as no time elapsed.
        assert_eq!(e.get(0), 8e6);
        // Garbage samples are ignored.
        e.observe(f64::NAN, 2 * SEC);
        e.observe(-1.0, 2 * SEC);
        e.observe(f64::INFINITY, 2 * SEC);
        assert_eq!(e.get(SEC), 8e6);
    }

    #[test]
    fn peak_ewma_is_shareable() {
        let e = std::sync::Arc::new(PeakEwma::new(Duration::from_secs(1)));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    for k in 0..1000u64 {
                        e.observe(1e6 + t as f64, k * 1_000);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let v = e.get(1000 * 1_000);
        assert!(v > 0.9e6 && v <= 1e6 + 3.0, "{v}");
        assert!(format!("{e:?}").contains("PeakEwma"));
    }
}
