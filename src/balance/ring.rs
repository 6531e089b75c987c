//! Ketama-style consistent-hash ring.
//!
//! Exists for request affinity (caches, sticky sessions) that survives pool
//! changes: adding or removing one of N members moves only about 1/N of the
//! keys, and a member that is temporarily unusable only displaces its own
//! keys. Placement depends on nothing but member ids and weights (hashed with
//! the fixed-seed [`hash_bytes`]), so every worker and instance agrees.

use std::fmt::Write as _;

use super::{
    Balancer, EndpointView, Member, Rng, WeightedRandom, effective_weight, hash_bytes, usable_at,
};

/// Ring points per unit of weight (ketama uses 160 per server too).
pub const POINTS_PER_WEIGHT: u32 = 160;

/// Upper bound on the total number of points; larger pools are scaled down
/// proportionally (each member keeps at least one point).
pub const MAX_POINTS: u64 = 1 << 20;

/// A consistent-hash ring: `POINTS_PER_WEIGHT × weight` points per member,
/// point `k` of member `id` at `hash_bytes("{id}#{k}")`.
///
/// A key maps to the first point at or after it (wrapping around); if that
/// point's member is unusable the walk continues clockwise to the next point
/// of a usable member. Without a key the pick is weighted random.
#[derive(Debug, Clone)]
pub struct Ring {
    /// `(hash, member index)` sorted by hash.
    points: Vec<(u64, u32)>,
    members: usize,
    fallback: WeightedRandom,
}

impl Ring {
    /// Builds the ring for `members` (weight 0 is treated as 1).
    pub fn new(members: &[Member]) -> Self {
        let per_member: Vec<u64> = members
            .iter()
            .map(|m| u64::from(POINTS_PER_WEIGHT) * u64::from(effective_weight(m)))
            .collect();
        let total: u64 = per_member.iter().sum();
        let counts: Vec<u64> = if total > MAX_POINTS {
            per_member
                .iter()
                .map(|&c| {
                    ((u128::from(c) * u128::from(MAX_POINTS) / u128::from(total)) as u64).max(1)
                })
                .collect()
        } else {
            per_member
        };
        let mut points = Vec::with_capacity(counts.iter().sum::<u64>() as usize);
        let mut buf = String::new();
        for (idx, (m, &count)) in members.iter().zip(&counts).enumerate() {
            for k in 0..count {
                buf.clear();
                let _ = write!(buf, "{}#{}", m.id, k);
                points.push((hash_bytes(buf.as_bytes()), idx as u32));
            }
        }
        // Ties (a 64-bit collision) are ordered by id, then index, so the
        // ring does not depend on member order in practice.
        points.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| members[a.1 as usize].id.cmp(&members[b.1 as usize].id))
                .then(a.1.cmp(&b.1))
        });
        Ring {
            points,
            members: members.len(),
            fallback: WeightedRandom::new(members),
        }
    }

    /// The ring's points, `(hash, member index)`, sorted by hash.
    pub fn points(&self) -> &[(u64, u32)] {
        &self.points
    }

    /// The member owning `key` when every member is usable (`None` for an
    /// empty ring).
    pub fn lookup(&self, key: u64) -> Option<usize> {
        let start = self.first_at_or_after(key);
        self.points.get(start).map(|p| p.1 as usize)
    }

    fn first_at_or_after(&self, key: u64) -> usize {
        let i = self.points.partition_point(|p| p.0 < key);
        if i == self.points.len() { 0 } else { i }
    }
}

impl Balancer for Ring {
    fn pick(&self, view: &dyn EndpointView, key: Option<u64>, rng: &mut Rng) -> Option<usize> {
        let Some(key) = key else {
            return self.fallback.pick(view, None, rng);
        };
        // Don't walk a million points when nobody is usable.
        if !(0..self.members).any(|i| usable_at(view, i)) {
            return None;
        }
        let n = self.points.len();
        let start = self.first_at_or_after(key);
        (0..n)
            .map(|step| self.points[(start + step) % n].1 as usize)
            .find(|&m| usable_at(view, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testview::{TestView, histogram, members};

    fn keys(n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| hash_bytes(&i.to_le_bytes()))
    }

    #[test]
    fn same_key_same_member() {
        let ms = members(&[1, 1, 1, 1, 1]);
        let ring = Ring::new(&ms);
        let again = Ring::new(&ms);
        let view = TestView::all_usable(5);
        let mut rng = Rng::seeded(13);
        for k in keys(1000) {
            let a = ring.pick(&view, Some(k), &mut rng);
            assert_eq!(a, ring.pick(&view, Some(k), &mut rng));
            assert_eq!(a, again.pick(&view, Some(k), &mut rng));
            assert_eq!(a, ring.lookup(k));
        }
    }

    #[test]
    fn point_counts_and_scaling() {
        let ring = Ring::new(&members(&[1, 3]));
        assert_eq!(ring.points().len(), 4 * 160);
        assert!(ring.points().windows(2).all(|w| w[0].0 <= w[1].0));
        // 2 members x weight 10 000 = 3.2 M points: scaled to <= 1 Mi.
        let ring = Ring::new(&members(&[10_000, 10_000]));
        assert!(ring.points().len() as u64 <= MAX_POINTS);
        assert!(ring.points().len() as u64 >= MAX_POINTS - 2);
    }

    #[test]
    fn key_distribution_matches_weights() {
        // A ring is only as even as its arcs: a member with k points owns a
        // share whose relative standard deviation is ~1/sqrt(k) (7.9 % for
        // the 160 points of weight 1, 4 % for weight 4); sampling 100 000
        // keys adds < 1 %. Each member must be within 3.5 of its own sd of
        // its weight share. (Measured: 1:2:3:4 gives +13.7 %, -2.9 %,
        // +0.0 %, -2.0 %.) Points and keys are fixed hashes: deterministic.
        let weights = [1u32, 2, 3, 4];
        let ring = Ring::new(&members(&weights));
        let view = TestView::all_usable(4);
        let mut rng = Rng::seeded(13);
        let mut counts = [0usize; 4];
        for k in keys(100_000) {
            counts[ring.pick(&view, Some(k), &mut rng).unwrap()] += 1;
        }
        for (c, w) in counts.iter().zip(weights) {
            let expected = 10_000.0 * f64::from(w);
            let points = f64::from(POINTS_PER_WEIGHT * w);
            let tolerance = 3.5 / points.sqrt() + 0.01;
            assert!(
                (*c as f64 - expected).abs() <= tolerance * expected,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn keyless_is_weighted_random() {
        let weights = [1, 3];
        let ring = Ring::new(&members(&weights));
        let view = TestView::all_usable(2);
        let mut rng = Rng::seeded(13);
        let counts = histogram(&ring, &view, &mut rng, 2, 40_000);
        // expected 10 000 / 30 000, sd ~87: 5 % bands are > 5 sd.
        assert!((9_500..=10_500).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn removal_moves_about_one_nth() {
        // 10 members; remove m3. Only m3's keys may move (a property of the
        // ring, not a statistical one), so the moved fraction is exactly m3's
        // share: 1/10 up to the arc variance (relative sd ~7.5 % for 160
        // points, see above). 1/10 x (1 ± 0.3) is a 4 sd band; measured
        // 0.110.
        let ms = members(&[1; 10]);
        let before = Ring::new(&ms);
        let mut smaller = ms.clone();
        smaller.remove(3);
        let after = Ring::new(&smaller);
        let total = 100_000;
        let mut moved = 0;
        for k in keys(total) {
            let a = &ms[before.lookup(k).unwrap()].id;
            let b = &smaller[after.lookup(k).unwrap()].id;
            if a != b {
                moved += 1;
                assert_eq!(a, "m3", "only the removed member's keys move");
            } else {
                assert_ne!(a, "m3");
            }
        }
        let frac = moved as f64 / total as f64;
        assert!((0.07..=0.13).contains(&frac), "{frac}");
    }

    #[test]
    fn unusable_member_only_displaces_its_keys() {
        let ms = members(&[1; 5]);
        let ring = Ring::new(&ms);
        let all = TestView::all_usable(5);
        let down = TestView::with_down(5, &[2]);
        let mut rng = Rng::seeded(13);
        for k in keys(10_000) {
            let a = ring.pick(&all, Some(k), &mut rng).unwrap();
            let b = ring.pick(&down, Some(k), &mut rng).unwrap();
            assert_ne!(b, 2);
            if a != 2 {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn none_when_nothing_usable() {
        let mut rng = Rng::seeded(13);
        let empty = Ring::new(&[]);
        assert_eq!(
            empty.pick(&TestView::all_usable(1), Some(5), &mut rng),
            None
        );
        assert_eq!(empty.pick(&TestView::all_usable(1), None, &mut rng), None);
        assert_eq!(empty.lookup(5), None);
        let ring = Ring::new(&members(&[1, 1]));
        let down = TestView::with_down(2, &[0, 1]);
        assert_eq!(ring.pick(&down, Some(5), &mut rng), None);
        assert_eq!(ring.pick(&down, None, &mut rng), None);
        // Short view: member 1 is missing, so everything goes to member 0.
        let short = TestView::all_usable(1);
        for k in keys(100) {
            assert_eq!(ring.pick(&short, Some(k), &mut rng), Some(0));
        }
        // Keys at the extremes wrap correctly.
        let view = TestView::all_usable(2);
        assert!(ring.pick(&view, Some(0), &mut rng).is_some());
        assert!(ring.pick(&view, Some(u64::MAX), &mut rng).is_some());
        assert_eq!(ring.lookup(u64::MAX), Some(ring.points()[0].1 as usize));
    }

    /// Compatibility pin: if this fails, an upgrade would move keys between
    /// members. Do not update the literals; find out what changed.
    #[test]
    fn pinned_ring() {
        let ms: Vec<Member> = (1..=5)
            .map(|i| Member {
                id: format!("10.0.0.{i}:80"),
                weight: 1,
            })
            .collect();
        let ring = Ring::new(&ms);
        assert_eq!(ring.points().len(), 800);
        assert_eq!(&ring.points()[..16], &PINNED_POINTS[..]);
    }

    const PINNED_POINTS: [(u64, u32); 16] = [
        (0x0053_b119_ad8e_3458, 3),
        (0x006f_6e2a_da1b_6eae, 4),
        (0x0091_838f_2d58_3396, 4),
        (0x010f_23c7_08ab_90b4, 1),
        (0x0173_dd6e_6a4b_d547, 4),
        (0x01b5_40d6_95c8_075a, 3),
        (0x01b9_6e1b_7db2_782e, 2),
        (0x01d6_df79_b7ff_dc8a, 3),
        (0x01d9_1a5a_5989_68a5, 4),
        (0x01e0_9eac_ced2_408d, 0),
        (0x01ee_a184_e357_4920, 3),
        (0x02c4_143c_0cb8_8aec, 0),
        (0x0447_e8a9_734e_46fd, 0),
        (0x046e_dd30_e8f7_a2bf, 1),
        (0x0523_6d53_b04f_6b21, 0),
        (0x05ed_1336_c16a_deba, 0),
    ];
}
