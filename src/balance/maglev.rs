//! Maglev consistent hashing (Eisenbud et al., NSDI '16, §3.4).
//!
//! Exists for flows that must land on the same backend from any balancer
//! instance without shared state: the L4 stream proxy and the packet engine
//! (many engines behind ECMP must agree on every flow). Compared with a hash
//! ring, Maglev gives near-perfect balance (slot counts differ by at most one
//! for equal weights) and an O(1) lookup (one modulo, one array read), at the
//! price of slightly more than minimal disruption when membership changes.
//!
//! The module is self-contained so the packet engine can use [`Maglev`]
//! directly: build with [`Maglev::new`], map a flow hash with
//! [`Maglev::lookup`], or read the raw [`Maglev::table`].
//!
//! # Compatibility
//!
//! The table depends only on member ids, weights, member order (for ties
//! in the turn order) and the table size, through [`hash_bytes_seeded`] with
//! the fixed seeds [`OFFSET_SEED`] and [`SKIP_SEED`]. A test pins a table;
//! changing any of these would reshuffle live flows on upgrade.

use super::{
    Balancer, EndpointView, Member, Rng, WeightedRandom, effective_weight, hash_bytes_seeded,
    usable_at,
};

/// Default lookup-table size: a prime (the paper's small-table example).
/// Should be well above 100 × the number of members for good balance.
pub const DEFAULT_TABLE_SIZE: u32 = 65537;

/// Largest supported table size (the largest prime below 2^24, i.e. a 64 MiB
/// table); larger requests are clamped to it rather than exhausting memory.
pub const MAX_TABLE_SIZE: u32 = 16_777_213;

/// Seed of the hash that gives each member its starting slot (`offset`).
/// Fixed forever (ASCII "MAGLEVOF").
pub const OFFSET_SEED: u64 = 0x4D41_474C_4556_4F46;

/// Seed of the hash that gives each member its stride (`skip`). Fixed
/// forever (ASCII "MAGLEVSK").
pub const SKIP_SEED: u64 = 0x4D41_474C_4556_534B;

/// Sentinel for an unfilled slot during population.
const EMPTY: u32 = u32::MAX;

/// Whether `n` is prime (deterministic trial division; fast for `u32`).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n.is_multiple_of(2) || n.is_multiple_of(3) {
        return false;
    }
    let n = u64::from(n);
    let mut d = 5u64;
    while d * d <= n {
        if n.is_multiple_of(d) || n.is_multiple_of(d + 2) {
            return false;
        }
        d += 6;
    }
    true
}

/// The smallest prime `>= n` (2 for `n < 2`), at most [`MAX_TABLE_SIZE`].
fn table_size_for(n: u32) -> u32 {
    if n >= MAX_TABLE_SIZE {
        return MAX_TABLE_SIZE;
    }
    let mut m = n.max(2);
    while !is_prime(m) {
        m += 1;
    }
    m
}

/// A Maglev lookup table: `table()[slot]` is the member index serving the
/// flows whose hash is `slot` modulo the table size.
///
/// Population follows the paper: member `i` has
/// `offset = h1(id) % M`, `skip = h2(id) % (M − 1) + 1` and the preference
/// list `permutation[j] = (offset + j·skip) % M` (a full permutation because
/// `M` is prime); members take turns claiming their next preferred free slot
/// until the table is full. Weights extend the turns: each round a member
/// adds its weight to a credit and claims one slot per `max_weight` of
/// credit, so slot counts are proportional to weight (equal weights give
/// the paper's algorithm exactly, counts differing by at most one).
#[derive(Clone)]
pub struct Maglev {
    table: Vec<u32>,
    size: u32,
    members: usize,
    fallback: WeightedRandom,
}

impl Maglev {
    /// Builds the table for `members` with `table_size` slots.
    ///
    /// `table_size` should be prime (see [`is_prime`]); a non-prime size is
    /// rounded up to the next prime (the permutations would not cover the
    /// table otherwise), and sizes above [`MAX_TABLE_SIZE`] are clamped.
    /// Weight 0 is treated as 1. With no members the table is empty and
    /// every pick is `None`. Cost: O(M log M) expected.
    pub fn new(members: &[Member], table_size: u32) -> Self {
        let size = table_size_for(table_size);
        let fallback = WeightedRandom::new(members);
        if members.is_empty() {
            return Maglev {
                table: Vec::new(),
                size,
                members: 0,
                fallback,
            };
        }
        let m = u64::from(size);
        // Per member: current permutation position (starts at offset) and
        // stride; advancing by skip modulo m walks the permutation.
        let mut pos: Vec<u64> = Vec::with_capacity(members.len());
        let mut skip: Vec<u64> = Vec::with_capacity(members.len());
        for member in members {
            let id = member.id.as_bytes();
            pos.push(hash_bytes_seeded(id, OFFSET_SEED) % m);
            skip.push(hash_bytes_seeded(id, SKIP_SEED) % (m - 1) + 1);
        }
        let weights: Vec<u64> = members
            .iter()
            .map(|mb| u64::from(effective_weight(mb)))
            .collect();
        let max_weight = weights.iter().copied().max().unwrap_or(1);
        let mut credit = vec![0u64; members.len()];
        let mut table = vec![EMPTY; size as usize];
        let mut filled = 0u64;
        'rounds: loop {
            for i in 0..members.len() {
                credit[i] += weights[i];
                while credit[i] >= max_weight {
                    credit[i] -= max_weight;
                    // Next free slot in member i's preference list. At least
                    // one slot is free and the list is a permutation, so this
                    // ends within m steps.
                    let mut c = pos[i];
                    while table[c as usize] != EMPTY {
                        c += skip[i];
                        if c >= m {
                            c -= m;
                        }
                    }
                    table[c as usize] = i as u32;
                    c += skip[i];
                    if c >= m {
                        c -= m;
                    }
                    pos[i] = c;
                    filled += 1;
                    if filled == m {
                        break 'rounds;
                    }
                }
            }
        }
        Maglev {
            table,
            size,
            members: members.len(),
            fallback,
        }
    }

    /// The table: member index per slot (empty when built without members).
    pub fn table(&self) -> &[u32] {
        &self.table
    }

    /// The number of slots `M` actually used (prime).
    pub fn table_size(&self) -> u32 {
        self.size
    }

    /// True when built without members (every lookup is meaningless).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The member for flow hash `key`: `table[key % M]`, ignoring usability.
    /// With no members there is no valid answer and this returns 0; check
    /// [`is_empty`](Self::is_empty) first or use [`Balancer::pick`].
    #[inline]
    pub fn lookup(&self, key: u64) -> usize {
        self.table
            .get((key % u64::from(self.size)) as usize)
            .map_or(0, |&m| m as usize)
    }
}

impl std::fmt::Debug for Maglev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The table itself is far too long to print.
        f.debug_struct("Maglev")
            .field("members", &self.members)
            .field("table_size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Balancer for Maglev {
    /// With a key: the table's member; if it is unusable, the member of the
    /// next slot (wrapping) that is usable, so an unusable member's flows
    /// spread over the others while all other flows stay put. Without a key:
    /// weighted random among usable members.
    fn pick(&self, view: &dyn EndpointView, key: Option<u64>, rng: &mut Rng) -> Option<usize> {
        let Some(key) = key else {
            return self.fallback.pick(view, None, rng);
        };
        if self.table.is_empty() {
            return None;
        }
        let slot = (key % u64::from(self.size)) as usize;
        let first = self.table[slot] as usize;
        if usable_at(view, first) {
            return Some(first);
        }
        // Don't probe the whole table when nobody is usable.
        if !(0..self.members).any(|i| usable_at(view, i)) {
            return None;
        }
        let n = self.table.len();
        (1..n)
            .map(|step| self.table[(slot + step) % n] as usize)
            .find(|&m| usable_at(view, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::hash_bytes;
    use crate::balance::testview::{TestView, histogram, members};

    fn keys(n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| hash_bytes(&i.to_le_bytes()))
    }

    fn shares(t: &Maglev, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for &m in t.table() {
            counts[m as usize] += 1;
        }
        counts
    }

    #[test]
    fn primes() {
        let small: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(DEFAULT_TABLE_SIZE));
        assert!(is_prime(MAX_TABLE_SIZE));
        assert!(!is_prime(65535));
        assert!(is_prime(4_294_967_291)); // largest u32 prime
        assert!(!is_prime(u32::MAX));
        assert!(!is_prime(25) && !is_prime(49) && !is_prime(65_537 * 3));
        assert_eq!(table_size_for(0), 2);
        assert_eq!(table_size_for(100), 101);
        assert_eq!(table_size_for(65537), 65537);
        assert_eq!(table_size_for(u32::MAX), MAX_TABLE_SIZE);
        // The bound really is the largest prime below 2^24.
        assert!(((MAX_TABLE_SIZE + 1)..(1 << 24)).all(|n| !is_prime(n)));
    }

    #[test]
    fn non_prime_size_is_rounded_up() {
        let t = Maglev::new(&members(&[1, 1, 1]), 1000);
        assert_eq!(t.table_size(), 1009);
        assert_eq!(t.table().len(), 1009);
        let tiny = Maglev::new(&members(&[1, 1, 1]), 0);
        assert_eq!(tiny.table().len(), 2);
    }

    #[test]
    fn equal_weights_within_one_slot() {
        // The paper's guarantee: equal members' slot counts differ by <= 1,
        // i.e. every share is within 1 % (far within) of 1/10.
        let t = Maglev::new(&members(&[1; 10]), DEFAULT_TABLE_SIZE);
        let counts = shares(&t, 10);
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{counts:?}");
        let even = f64::from(DEFAULT_TABLE_SIZE) / 10.0;
        for c in &counts {
            assert!((*c as f64 - even).abs() <= 0.01 * even, "{counts:?}");
        }
    }

    #[test]
    fn weighted_shares_proportional() {
        // Slot counts follow credit exactly, up to one round's rounding:
        // within 1 % of proportional.
        let weights = [1u32, 2, 3, 4, 10];
        let t = Maglev::new(&members(&weights), DEFAULT_TABLE_SIZE);
        let counts = shares(&t, weights.len());
        let total: u32 = weights.iter().sum();
        for (c, w) in counts.iter().zip(weights) {
            let expected = f64::from(DEFAULT_TABLE_SIZE) * f64::from(w) / f64::from(total);
            assert!(
                (*c as f64 - expected).abs() <= 0.01 * expected,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn same_key_same_member() {
        let ms = members(&[1; 7]);
        let t = Maglev::new(&ms, DEFAULT_TABLE_SIZE);
        let again = Maglev::new(&ms, DEFAULT_TABLE_SIZE);
        assert_eq!(t.table(), again.table());
        let view = TestView::all_usable(7);
        let mut rng = Rng::seeded(17);
        for k in keys(1000) {
            let a = t.pick(&view, Some(k), &mut rng);
            assert_eq!(a, Some(t.lookup(k)));
            assert_eq!(a, t.pick(&view, Some(k), &mut rng));
        }
    }

    /// Fraction of `keys` whose member id differs between two tables.
    fn moved(
        before: &Maglev,
        bm: &[Member],
        after: &Maglev,
        am: &[Member],
        removed: &str,
        total: u64,
    ) -> f64 {
        let mut moved = 0;
        for k in keys(total) {
            let a = &bm[before.lookup(k)].id;
            let b = &am[after.lookup(k)].id;
            if a == removed {
                assert_ne!(b, removed);
            }
            if a != b {
                moved += 1;
            }
        }
        moved as f64 / total as f64
    }

    #[test]
    fn removal_moves_about_one_nth() {
        // Maglev trades minimal disruption for balance: besides the removed
        // member's 1/N, some other keys move, because the freed slots change
        // which member wins later turns of the population. The excess is a
        // property of the algorithm (a literal transcription of the paper's
        // pseudo-code with random offsets/skips gives the same figures) and
        // grows with N/M. Measured with M = 65537, moved fraction × N over
        // every possible removal: N = 10 → 1.02..1.04; N = 100 → 1.5..1.7
        // (N = 1000 → ~7; M = 655373 brings N = 100 down to 1.1..1.2).
        // So: N = 10 must stay ≤ 1.3/N; N = 100 gets an honest ≤ 1.8/N.
        // Every key of the removed member must move (checked in `moved`).
        // Ids and keys are fixed hashes: deterministic.
        for (n, factor) in [(10usize, 1.3), (100, 1.8)] {
            let ms: Vec<Member> = (0..n)
                .map(|i| Member {
                    id: format!("10.1.{}.{}:443", i / 256, i % 256),
                    weight: 1,
                })
                .collect();
            let before = Maglev::new(&ms, DEFAULT_TABLE_SIZE);
            for r in [0, n / 2, n - 1] {
                let mut smaller = ms.clone();
                let removed = smaller.remove(r).id;
                let after = Maglev::new(&smaller, DEFAULT_TABLE_SIZE);
                let frac = moved(&before, &ms, &after, &smaller, &removed, 100_000);
                let bound = factor / n as f64;
                assert!(
                    frac <= bound,
                    "n={n} removed {removed}: moved {frac} > {bound}"
                );
                // At least the removed member's share (~1/N) moved.
                assert!(frac >= 0.9 / n as f64, "n={n}: moved only {frac}");
            }
        }
    }

    #[test]
    fn unusable_member_spreads_without_moving_others() {
        let t = Maglev::new(&members(&[1; 5]), DEFAULT_TABLE_SIZE);
        let all = TestView::all_usable(5);
        let down = TestView::with_down(5, &[2]);
        let mut rng = Rng::seeded(17);
        let mut displaced = [0usize; 5];
        for k in keys(20_000) {
            let a = t.pick(&all, Some(k), &mut rng).unwrap();
            let b = t.pick(&down, Some(k), &mut rng).unwrap();
            assert_ne!(b, 2);
            if a == 2 {
                displaced[b] += 1;
            } else {
                assert_eq!(a, b);
            }
        }
        // The displaced flows spread over all the others (~1 000 each).
        for (i, d) in displaced.iter().enumerate() {
            assert!(i == 2 || *d > 500, "{displaced:?}");
        }
    }

    #[test]
    fn keyless_is_weighted_random() {
        let t = Maglev::new(&members(&[1, 3]), 101);
        let view = TestView::all_usable(2);
        let mut rng = Rng::seeded(17);
        let counts = histogram(&t, &view, &mut rng, 2, 40_000);
        // expected 10 000 / 30 000, sd ~87: 5 % bands are > 5 sd.
        assert!((9_500..=10_500).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn none_when_nothing_usable_and_no_panics() {
        let mut rng = Rng::seeded(17);
        let empty = Maglev::new(&[], DEFAULT_TABLE_SIZE);
        assert!(empty.is_empty());
        assert_eq!(empty.lookup(12345), 0);
        assert_eq!(
            empty.pick(&TestView::all_usable(3), Some(1), &mut rng),
            None
        );
        assert_eq!(empty.pick(&TestView::all_usable(3), None, &mut rng), None);
        let t = Maglev::new(&members(&[1, 1, 1]), 101);
        let down = TestView::with_down(3, &[0, 1, 2]);
        assert_eq!(t.pick(&down, Some(7), &mut rng), None);
        assert_eq!(t.pick(&down, None, &mut rng), None);
        // Short view: members 1 and 2 are missing.
        let short = TestView::all_usable(1);
        for k in keys(100) {
            assert_eq!(t.pick(&short, Some(k), &mut rng), Some(0));
        }
        // More members than slots: the table fills, some get nothing.
        let crowded = Maglev::new(&members(&[1; 10]), 7);
        assert_eq!(crowded.table().len(), 7);
        assert!(crowded.table().iter().all(|&m| m < 10));
        assert!(format!("{crowded:?}").contains("table_size: 7"));
    }

    #[test]
    fn large_pool_builds() {
        let t = Maglev::new(&members(&[1; 100]), DEFAULT_TABLE_SIZE);
        let counts = shares(&t, 100);
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{min}..{max}");
    }

    /// Compatibility pin: if this fails, an upgrade would reshuffle live
    /// flows across every engine. Do not update the literals; find out what
    /// changed (hash seeds, xxh3 version, population order, rounding).
    #[test]
    fn pinned_table() {
        let ms: Vec<Member> = (1..=5)
            .map(|i| Member {
                id: format!("10.0.0.{i}:80"),
                weight: 1,
            })
            .collect();
        let t = Maglev::new(&ms, DEFAULT_TABLE_SIZE);
        assert_eq!(&t.table()[..32], &PINNED_FIRST_32[..]);
        let bytes: Vec<u8> = t.table().iter().flat_map(|m| m.to_le_bytes()).collect();
        assert_eq!(xxhash_rust::xxh3::xxh3_64(&bytes), PINNED_CHECKSUM);
    }

    const PINNED_FIRST_32: [u32; 32] = [
        4, 2, 4, 0, 4, 2, 1, 1, 4, 2, 4, 2, 0, 2, 1, 3, 1, 2, 3, 3, 2, 3, 3, 0, 0, 2, 0, 4, 2, 4,
        3, 1,
    ];
    const PINNED_CHECKSUM: u64 = 0xfca3_8899_385b_44b9;
}
