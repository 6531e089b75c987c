//! A small, fast, non-cryptographic PRNG for balancing decisions.
//!
//! Balancers draw random numbers on every pick (tie breaks, power of two
//! choices, weighted random), so the generator must be cheap, must not lock,
//! and must be seedable so that tests are deterministic. Each worker owns one
//! [`Rng`] and passes it to [`Balancer::pick`](super::Balancer::pick).
//!
//! The generator is xoshiro256++ (Blackman & Vigna), seeded through
//! splitmix64 as its authors recommend. It is *not* suitable for anything
//! security-related.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// xoshiro256++ pseudo-random generator. Cheap to clone (32 bytes).
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of splitmix64: advances `state` and returns a well-mixed output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole output sequence is determined by `seed`
    /// (any value, including 0, is fine).
    pub fn seeded(seed: u64) -> Self {
        let mut sm = seed;
        // splitmix64's output function is a bijection and its four states
        // are distinct, so the four words can never all be zero (the one
        // state xoshiro must avoid).
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// A generator seeded from process-local entropy: the clock, the thread
    /// id, a stack address, std's per-process random hasher keys and a
    /// global counter (so two calls in the same instant still differ).
    pub fn from_entropy() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut h = RandomState::new().build_hasher();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.write_u128(nanos);
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        std::hash::Hash::hash(&std::thread::current().id(), &mut h);
        let local = 0u8;
        h.write_usize(std::ptr::addr_of!(local) as usize);
        h.write_usize(Self::from_entropy as fn() -> Self as usize);
        Self::seeded(h.finish())
    }

    /// The next 64 uniformly distributed bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..n`, without modulo bias (Lemire's nearly
    /// divisionless method: one multiplication, a division only on the rare
    /// rejection path). `n` must be > 0; for `n == 0` it returns 0 rather
    /// than panicking.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// A uniform float in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_deterministic() {
        let mut a = Rng::seeded(42);
        let mut b = Rng::seeded(42);
        let mut c = Rng::seeded(43);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        // A clone continues the same sequence.
        let mut d = a.clone();
        assert_eq!(a.next_u64(), d.next_u64());
    }

    #[test]
    fn seed_zero_is_fine() {
        let mut r = Rng::seeded(0);
        assert!((0..4).any(|_| r.next_u64() != 0));
    }

    #[test]
    fn xoshiro_reference_vector() {
        // xoshiro256++ reference output for state {1, 2, 3, 4}
        // (from the authors' C implementation).
        let mut r = Rng { s: [1, 2, 3, 4] };
        let expected = [
            41943041u64,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
        ];
        for e in expected {
            assert_eq!(r.next_u64(), e);
        }
    }

    #[test]
    fn from_entropy_differs() {
        let mut a = Rng::from_entropy();
        let mut b = Rng::from_entropy();
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn below_is_in_range_and_uniform() {
        let mut r = Rng::seeded(7);
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
        for n in [2u64, 3, 10, 1000, u64::MAX] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
        // 10 buckets x 100 000 draws: expected 10 000 each, sd ~95; a 5 %
        // band is > 5 sd, and the seed is fixed, so this cannot flake.
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[r.below(10) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..=10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn next_f64_in_unit_interval() {
        let mut r = Rng::seeded(9);
        let mut sum = 0.0;
        for _ in 0..100_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        // mean of 100 000 uniforms: sd ~0.0009, so +-0.01 is > 10 sd.
        assert!((sum / 100_000.0 - 0.5).abs() < 0.01);
    }
}
