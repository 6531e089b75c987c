//! The candidate routes of one request, walked in config order.
//!
//! The index hands back a few sorted route lists (one per matching host
//! bucket × path kind, one per matching trie node). Their union, walked in
//! ascending order, is every route whose host and path conditions hold; the
//! first one whose remaining conditions also hold wins. [`Candidates`] keeps
//! the list heads in a fixed array on the stack (spilling to the heap only for
//! unusually many lists) and merges them k-way, skipping duplicates (a route
//! with several hosts sits in several buckets).

/// List heads kept inline before spilling to the heap.
const INLINE: usize = 16;

/// A small set of ascending route lists.
pub(super) struct Candidates<'a> {
    inline: [&'a [u32]; INLINE],
    len: usize,
    /// Used instead of `inline` once more than `INLINE` lists were pushed.
    spill: Vec<&'a [u32]>,
}

impl<'a> Candidates<'a> {
    pub(super) fn new() -> Self {
        Candidates {
            inline: [&[]; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Adds one ascending list (empty lists are ignored).
    #[inline]
    pub(super) fn push(&mut self, list: &'a [u32]) {
        if list.is_empty() {
            return;
        }
        if self.len < INLINE {
            self.inline[self.len] = list;
            self.len += 1;
        } else {
            if self.spill.is_empty() {
                self.spill.reserve(INLINE * 2);
                self.spill.extend_from_slice(&self.inline);
            }
            self.spill.push(list);
        }
    }

    /// Number of non-empty lists pushed (tests).
    #[cfg(test)]
    pub(super) fn list_count(&self) -> usize {
        if self.spill.is_empty() {
            self.len
        } else {
            self.spill.len()
        }
    }

    /// The smallest route of the union for which `accept` returns true.
    /// Each distinct route is offered to `accept` at most once, in ascending
    /// order.
    pub(super) fn first_match(mut self, mut accept: impl FnMut(u32) -> bool) -> Option<u32> {
        let lists: &mut [&[u32]] = if self.spill.is_empty() {
            &mut self.inline[..self.len]
        } else {
            &mut self.spill
        };
        let mut live = lists.len();
        loop {
            match live {
                0 => return None,
                1 => return lists[0].iter().copied().find(|&r| accept(r)),
                _ => {}
            }
            let mut min = u32::MAX;
            for list in &lists[..live] {
                // Lists in `..live` are never empty.
                min = min.min(list[0]);
            }
            if accept(min) {
                return Some(min);
            }
            let mut i = 0;
            while i < live {
                if lists[i][0] == min {
                    lists[i] = &lists[i][1..];
                    if lists[i].is_empty() {
                        live -= 1;
                        lists.swap(i, live);
                        continue;
                    }
                }
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn union(lists: &[&[u32]]) -> Vec<u32> {
        let mut c = Candidates::new();
        for l in lists {
            c.push(l);
        }
        let mut seen = Vec::new();
        assert_eq!(
            c.first_match(|r| {
                seen.push(r);
                false
            }),
            None
        );
        seen
    }

    #[test]
    fn merges_in_order_without_duplicates() {
        assert_eq!(union(&[]), Vec::<u32>::new());
        assert_eq!(union(&[&[], &[3, 5]]), vec![3, 5]);
        assert_eq!(
            union(&[&[1, 4, 9], &[2, 4, 10], &[], &[0, 9]]),
            vec![0, 1, 2, 4, 9, 10]
        );
    }

    #[test]
    fn spills_past_the_inline_capacity() {
        let lists: Vec<Vec<u32>> = (0..40u32).map(|i| vec![i, i + 40, 100]).collect();
        let refs: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
        let mut c = Candidates::new();
        for l in &refs {
            c.push(l);
        }
        assert_eq!(c.list_count(), 40);
        let all = union(&refs);
        let mut want: Vec<u32> = (0..80).collect();
        want.push(100);
        assert_eq!(all, want);
    }

    #[test]
    fn stops_at_first_accepted() {
        let mut c = Candidates::new();
        c.push(&[2, 7]);
        c.push(&[5, 7, 8]);
        let mut offered = Vec::new();
        let hit = c.first_match(|r| {
            offered.push(r);
            r >= 6
        });
        assert_eq!(hit, Some(7));
        assert_eq!(offered, vec![2, 5, 7]);
    }
}
