//! The host → path index that turns "scan every route" into a few lookups.
//!
//! Routes are bucketed by host: one bucket per exact host, one per wildcard
//! suffix (`.example.com`, probed for every dot-suffix of the request host)
//! and one for routes without a host condition. Inside a bucket, routes are
//! bucketed by path: exact paths in a hash map, prefixes in a byte trie, and
//! everything else (no path, regex path) in an "other" list. Every list holds
//! route indices in ascending (config) order, so a request's candidates are
//! the union of a few sorted lists (see `candidates.rs`). Host and
//! exact/prefix path conditions are fully decided by the index; only the
//! remaining conditions are checked per candidate.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::config::model::{HostMatch, PathMatch};

use super::candidates::Candidates;
use super::trie::PrefixTrie;

/// Appends `route` unless it is already the last entry (routes arrive in
/// ascending order, so this keeps lists sorted and duplicate-free).
pub(super) fn push_route(list: &mut Vec<u32>, route: u32) {
    if list.last() != Some(&route) {
        list.push(route);
    }
}

/// Hashes keys with one xxh3 call per string. Keys come from the config; a
/// request only looks them up, so attacker-chosen hosts/paths cannot build
/// long collision chains and a DoS-resistant (slower) hasher buys nothing.
#[derive(Default, Clone, Copy)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyMap<V> = HashMap<Box<str>, V, BuildHasherDefault<KeyHasher>>;

/// Routes of one host bucket, indexed by path.
#[derive(Debug, Default)]
pub(super) struct PathIndex {
    exact: KeyMap<Vec<u32>>,
    prefix: PrefixTrie,
    /// Routes without a path condition or with a regex path.
    other: Vec<u32>,
}

impl PathIndex {
    fn insert(&mut self, route: u32, path: Option<&PathMatch>) {
        match path {
            Some(PathMatch::Exact(p)) => match self.exact.get_mut(p.as_str()) {
                Some(list) => push_route(list, route),
                None => {
                    self.exact.insert(p.as_str().into(), vec![route]);
                }
            },
            Some(PathMatch::Prefix(p)) => self.prefix.insert(p, route),
            Some(PathMatch::Regex(_)) | None => push_route(&mut self.other, route),
        }
    }

    #[inline]
    fn collect<'a>(&'a self, path: &str, out: &mut Candidates<'a>) {
        if !self.exact.is_empty()
            && let Some(list) = self.exact.get(path)
        {
            out.push(list);
        }
        self.prefix.collect(path, out);
        out.push(&self.other);
    }
}

/// Routes indexed by host, then path.
#[derive(Default)]
pub(super) struct HostIndex {
    exact: KeyMap<PathIndex>,
    /// Keyed by the suffix including its leading dot (`.example.com`).
    suffix: KeyMap<PathIndex>,
    /// Bit `min(len, 63)` is set for every suffix key length: a cheap filter
    /// that skips hash lookups for dot-suffixes no wildcard can match.
    suffix_lens: u64,
    any: PathIndex,
}

fn len_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl HostIndex {
    /// Adds `route` (routes must be added in ascending order).
    pub(super) fn insert(&mut self, route: u32, hosts: &[HostMatch], path: Option<&PathMatch>) {
        if hosts.is_empty() {
            self.any.insert(route, path);
            return;
        }
        for host in hosts {
            let (map, key) = match host {
                HostMatch::Exact(h) => (&mut self.exact, super::normalize_host(h).into_owned()),
                HostMatch::Suffix(s) => {
                    let mut key = s.to_ascii_lowercase();
                    // The model stores `*.example.com` as `.example.com`; be
                    // lenient with a suffix that lost its dot.
                    if !key.starts_with('.') {
                        key.insert(0, '.');
                    }
                    self.suffix_lens |= len_bit(key.len());
                    (&mut self.suffix, key)
                }
            };
            match map.get_mut(key.as_str()) {
                Some(bucket) => bucket.insert(route, path),
                None => map
                    .entry(key.into_boxed_str())
                    .or_default()
                    .insert(route, path),
            }
        }
    }

    /// Pushes every route list whose host and path conditions hold for
    /// (`host`, `path`); `host` must already be normalised.
    #[inline]
    /// Whether any route names a host (else the host never matters).
    pub(super) fn uses_host(&self) -> bool {
        !self.exact.is_empty() || !self.suffix.is_empty()
    }

    pub(super) fn collect<'a>(&'a self, host: &str, path: &str, out: &mut Candidates<'a>) {
        if !self.exact.is_empty()
            && let Some(bucket) = self.exact.get(host)
        {
            bucket.collect(path, out);
        }
        if !self.suffix.is_empty() {
            for (i, &b) in host.as_bytes().iter().enumerate() {
                if b != b'.' {
                    continue;
                }
                let suffix = &host[i..];
                if self.suffix_lens & len_bit(suffix.len()) != 0
                    && let Some(bucket) = self.suffix.get(suffix)
                {
                    bucket.collect(path, out);
                }
            }
        }
        self.any.collect(path, out);
    }
}

impl std::fmt::Debug for HostIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: usize = self
            .exact
            .values()
            .chain(self.suffix.values())
            .chain(std::iter::once(&self.any))
            .map(|b| b.prefix.node_count())
            .sum();
        f.debug_struct("HostIndex")
            .field("exact_hosts", &self.exact.len())
            .field("suffix_hosts", &self.suffix.len())
            .field("any_host_unindexed", &self.any.other.len())
            .field("trie_nodes", &nodes)
            .finish_non_exhaustive()
    }
}
