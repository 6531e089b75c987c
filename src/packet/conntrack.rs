//! The connection table in front of Maglev (issue 5, item 2): one backend
//! decision per flow, remembered so that flows keep their backend when the
//! backend set changes.
//!
//! Maglev alone already sends a flow to the same backend from any engine,
//! so the table is not needed for agreement; it is needed for *stability*:
//! when a backend is added or re-weighted, Maglev moves a few percent of
//! the hash space, and the flows living there must not move with it. A
//! packet of a known flow follows its entry; a TCP SYN (without ACK) or a
//! UDP (any non-TCP) packet of an unknown flow creates one with the
//! caller's choice (Maglev). A mid-flow TCP packet of an unknown flow (the
//! engine restarted, an entry was evicted, ECMP moved the flow to this
//! engine) also gets the caller's choice, which is Maglev's and therefore
//! the backend the flow already had, unless the backend set changed in the
//! meantime; it is recorded ([`Decision::Adopted`]) so it stays put from
//! now on. The table is pure and sans-io: time is the caller's `now`, in
//! nanoseconds since any epoch that is the same for every call.
//!
//! # Sharding
//!
//! One table per worker, never shared: the data path steers a flow to one
//! worker (RSS queue or `PACKET_FANOUT_HASH`), so a worker's table sees all
//! of its flows, and nothing on the fast path takes a lock. The table is
//! `Send` (built on one thread, moved to its worker) but deliberately not
//! `Sync`. A flow that changes worker (queue count changed) is just an
//! unknown mid-flow packet there, handled as above.
//!
//! # Layout: 64 bytes per entry, everything included
//!
//! Memory is a flat array of sets, each [`WAYS`] entries: a cache line of
//! their eight 64-bit flow hashes, then eight 56-byte bodies (the full key
//! in a compact form: both addresses in 16-byte fields plus a family tag,
//! ports, protocol; the backend `u32`, the last-seen time in nanoseconds, the
//! state). A set is 512 bytes, 64-byte aligned: **64 bytes per entry**, and
//! there is no index, free list or link beside it (a test asserts the
//! sizes). IPv4 keys waste 24 bytes on zeroes; a separate IPv4 layout would
//! save them at the cost of two tables to size, sweep and evict between.
//!
//! A lookup computes no hash of its own: it uses the caller's flow hash
//! (the one Maglev used) to pick two candidate sets, compares the hash
//! line of each and then the **full key** of a way whose hash matches. Two flows with the
//! same 64-bit hash are two entries; a hash collision can cost a compare,
//! never a wrong backend. A caller that passes an inconsistent hash only
//! loses the entry (a miss, then Maglev), never gets another flow's backend.
//!
//! # Eviction and expiry
//!
//! Each flow may live in either of its two candidate sets (the power of
//! two choices: a new entry goes to the emptier one). Measured with random
//! hashes, the first eviction came at 72-78 % occupancy (2^14 to 2^20
//! entries), and filling to 90 % evicted 0.7 % of the flows; with one set
//! per flow, sets would start overflowing near 10 % (Poisson estimate).
//! Size the table at about 1.4x the concurrent flows. Inserting into two
//! full sets reclaims the oldest *expired* way among the 16 candidates
//! (counted as an expiration) or, if none, evicts the least recently seen
//! one (counted as an eviction): LRU over the candidates, O(1) worst case
//! (16 compares), no list to maintain on every packet. An evicted flow is
//! not broken: its next packet is an unknown mid-flow packet, and Maglev
//! gives it the same backend unless the backend set changed since.
//!
//! Entries expire [`Timeouts`] after their last packet, per state: a SYN
//! seen but no further packet (short, so a SYN flood does not squat the
//! table), established, closing (after a FIN or RST the caller
//! reports), and UDP / other. Expired entries are replaced when met
//! (by their own flow or an insert into their set); [`ConnTable::expire`]
//! sweeps a few sets per call so that [`Stats::entries`] tracks live flows.
//!
//! # Backend changes
//!
//! Backend indices in the table are the caller's **stable backend ids**,
//! not positions in the Maglev member list (positions shift when a member
//! is removed; the `choose` closure maps a Maglev position to an id). When
//! backends are added, re-weighted or taken out of Maglev to drain, rebuild
//! Maglev and keep the table: existing entries keep their backend, new
//! flows follow the new Maglev table. When a backend is gone for good (or
//! draining is over), [`ConnTable::remove_backend`] drops its entries so
//! its flows re-hash to live backends on their next packet.

use std::cell::Cell;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::flow::{FlowKey, PROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};

/// Entries per set: one cache line of 64-bit hashes.
pub const WAYS: usize = 8;

/// How long an entry lives after its flow's last packet, by state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP flow seen only as a SYN so far (default 30 s).
    pub tcp_syn: Duration,
    /// TCP flow past its SYN (default 300 s).
    pub tcp_established: Duration,
    /// TCP flow after a FIN or RST (default 10 s).
    pub tcp_closing: Duration,
    /// UDP and every other non-TCP flow (default 30 s).
    pub udp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn: Duration::from_secs(30),
            tcp_established: Duration::from_secs(300),
            tcp_closing: Duration::from_secs(10),
            udp: Duration::from_secs(30),
        }
    }
}

/// The state of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// Created by a SYN; no other packet yet.
    TcpSyn,
    /// TCP, past the SYN (or adopted mid-flow).
    TcpEstablished,
    /// TCP after a FIN or RST.
    TcpClosing,
    /// UDP or any other non-TCP protocol.
    Udp,
}

/// What [`ConnTable::lookup_or_insert`] decided for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A known flow: its entry's backend.
    Hit(u32),
    /// A new flow (TCP SYN without ACK, or non-TCP): `choose()`'s backend,
    /// now recorded.
    Created(u32),
    /// A mid-flow TCP packet of an unknown flow: `choose()`'s backend, now
    /// recorded as established (closing if the packet had FIN or RST).
    Adopted(u32),
    /// No entry and `choose()` had no backend: drop the packet.
    NoBackend,
}

impl Decision {
    /// The backend to send the packet to, if any.
    pub fn backend(self) -> Option<u32> {
        match self {
            Decision::Hit(b) | Decision::Created(b) | Decision::Adopted(b) => Some(b),
            Decision::NoBackend => None,
        }
    }
}

/// Counters since the table was built (`entries` is current).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries stored now (expired ones count until reclaimed).
    pub entries: u64,
    /// Entries created (new, adopted, or re-created after expiry).
    pub inserts: u64,
    /// Packets that followed an entry.
    pub hits: u64,
    /// Live entries pushed out by an insert into their full sets.
    pub evictions: u64,
    /// Expired entries reclaimed (met on lookup, insert or sweep).
    pub expirations: u64,
    /// Entries dropped by [`ConnTable::remove_backend`].
    pub removed: u64,
    /// Packets without entry for which `choose()` returned `None`.
    pub no_backend: u64,
}

/// One entry, for inspection ([`ConnTable::iter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub key: FlowKey,
    pub backend: u32,
    pub state: FlowState,
    /// Time of the flow's last packet (the caller's nanoseconds).
    pub last_seen: u64,
}

// Stored states; FREE marks an empty way.
const FREE: u8 = 0;
const SYN: u8 = 1;
const ESTABLISHED: u8 = 2;
const CLOSING: u8 = 3;
const UDP: u8 = 4;

/// A [`FlowKey`] in fixed-size form: IPv4 addresses in the first 4 bytes
/// of their field (the rest zero), `family` says which (see `family_tag`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct PackedKey {
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    proto: u8,
    family: u8,
}

fn pack_addr(addr: IpAddr) -> ([u8; 16], u8) {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            out[..4].copy_from_slice(&a.octets());
            (out, 4)
        }
        IpAddr::V6(a) => (a.octets(), 6),
    }
}

fn unpack_addr(bytes: [u8; 16], family: u8) -> IpAddr {
    if family == 4 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(bytes))
    }
}

impl PackedKey {
    fn new(key: &FlowKey) -> Self {
        let (src, fs) = pack_addr(key.src);
        let (dst, fd) = pack_addr(key.dst);
        PackedKey {
            src,
            dst,
            sport: key.sport,
            dport: key.dport,
            proto: key.proto,
            // 0x44, 0x66, or 0x46 / 0x64 for hand-built mixed keys.
            family: fs << 4 | fd,
        }
    }

    fn unpack(&self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            src: unpack_addr(self.src, self.family >> 4),
            dst: unpack_addr(self.dst, self.family & 0x0f),
            sport: self.sport,
            dport: self.dport,
        }
    }
}

/// An entry without its hash (which lives in the set's hash line).
#[derive(Clone, Copy)]
#[repr(C)]
struct Body {
    last_seen: u64,
    backend: u32,
    state: u8,
    key: PackedKey,
}

/// [`WAYS`] entries: their hashes in one cache line, then their bodies.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Set {
    hashes: [u64; WAYS],
    bodies: [Body; WAYS],
}

const EMPTY_SET: Set = Set {
    hashes: [0; WAYS],
    bodies: [Body {
        last_seen: 0,
        backend: 0,
        state: FREE,
        key: PackedKey {
            src: [0; 16],
            dst: [0; 16],
            sport: 0,
            dport: 0,
            proto: 0,
            family: 0,
        },
    }; WAYS],
};

/// A bounded flow → backend table for one worker; see the module docs.
pub struct ConnTable {
    sets: Vec<Set>,
    timeouts: Timeouts,
    /// Timeout in nanoseconds, indexed by stored state.
    timeout_ns: [u64; 5],
    stats: Stats,
    sweep_cursor: usize,
    /// `Send` but not `Sync`: a table belongs to one worker.
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for ConnTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnTable")
            .field("capacity", &self.capacity())
            .field("timeouts", &self.timeouts)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Maps a 64-bit hash onto `0..n` (Lemire's multiply-shift).
fn reduce(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

impl ConnTable {
    /// A table for at least `capacity` entries (rounded up to a multiple of
    /// [`WAYS`], at least one set), allocated now: 64 bytes per entry.
    pub fn new(capacity: usize, timeouts: Timeouts) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1);
        let t = &timeouts;
        ConnTable {
            sets: vec![EMPTY_SET; sets],
            timeouts,
            timeout_ns: [
                0,
                nanos(t.tcp_syn),
                nanos(t.tcp_established),
                nanos(t.tcp_closing),
                nanos(t.udp),
            ],
            stats: Stats::default(),
            sweep_cursor: 0,
            _not_sync: PhantomData,
        }
    }

    /// The number of entries the table holds at most.
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// Entries stored now (expired ones count until reclaimed).
    pub fn len(&self) -> usize {
        self.stats.entries as usize
    }

    /// True when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.stats.entries == 0
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The timeouts the table was built with.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The two sets a flow may live in (equal for a one-set table).
    fn candidates(&self, hash: u64) -> [usize; 2] {
        let n = self.sets.len();
        [reduce(hash, n), reduce(hash.rotate_left(32), n)]
    }

    fn find(&self, hash: u64, key: &PackedKey) -> Option<(usize, usize)> {
        for s in self.candidates(hash) {
            let set = &self.sets[s];
            for w in 0..WAYS {
                let body = &set.bodies[w];
                if set.hashes[w] == hash && body.state != FREE && body.key == *key {
                    return Some((s, w));
                }
            }
        }
        None
    }

    fn expired(&self, body: &Body, now: u64) -> bool {
        now.saturating_sub(body.last_seen) >= self.timeout_ns[usize::from(body.state)]
    }

    fn free(&mut self, s: usize, w: usize) {
        self.sets[s].bodies[w].state = FREE;
        self.sets[s].hashes[w] = 0;
        self.stats.entries -= 1;
    }

    /// The flow's packet decision; see the module docs. `hash` is
    /// [`flow_hash(key)`](super::flow::flow_hash), `tcp_flags` the packet's
    /// ([`Parsed::tcp_flags`](super::flow::Parsed::tcp_flags); ignored for
    /// non-TCP keys), `now` nanoseconds since the caller's epoch. `choose`
    /// is called only when there is no live entry (at most once).
    ///
    /// TCP state: a SYN without ACK on an unknown flow creates a
    /// [`FlowState::TcpSyn`] entry; any later packet without FIN/RST makes
    /// it established; a FIN or RST makes it closing, and it stays closing.
    /// A SYN without ACK on a *closing* entry is a new connection reusing
    /// the 4-tuple: it is decided afresh (the old backend may be draining).
    pub fn lookup_or_insert(
        &mut self,
        key: &FlowKey,
        hash: u64,
        now: u64,
        tcp_flags: u8,
        choose: impl FnOnce() -> Option<u32>,
    ) -> Decision {
        let packed = PackedKey::new(key);
        let tcp = key.proto == PROTO_TCP;
        let syn = tcp && tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
        let closing = tcp && tcp_flags & (TCP_FIN | TCP_RST) != 0;
        let mut reuse = None;
        if let Some((s, w)) = self.find(hash, &packed) {
            let body = self.sets[s].bodies[w];
            if self.expired(&body, now) {
                self.stats.expirations += 1;
                reuse = Some((s, w));
            } else if syn && body.state == CLOSING {
                reuse = Some((s, w));
            } else {
                let body = &mut self.sets[s].bodies[w];
                body.last_seen = body.last_seen.max(now);
                body.state = match body.state {
                    SYN | ESTABLISHED if closing => CLOSING,
                    SYN if !syn => ESTABLISHED,
                    state => state,
                };
                self.stats.hits += 1;
                return Decision::Hit(body.backend);
            }
        }
        let Some(backend) = choose() else {
            if let Some((s, w)) = reuse {
                self.free(s, w);
            }
            self.stats.no_backend += 1;
            return Decision::NoBackend;
        };
        let state = match (tcp, syn, closing) {
            (false, _, _) => UDP,
            (true, true, _) => SYN,
            (true, false, true) => CLOSING,
            (true, false, false) => ESTABLISHED,
        };
        let (s, w) = match reuse {
            Some(slot) => slot,
            None => self.make_room(hash, now),
        };
        self.sets[s].hashes[w] = hash;
        self.sets[s].bodies[w] = Body {
            last_seen: now,
            backend,
            state,
            key: packed,
        };
        self.stats.inserts += 1;
        if tcp && !syn {
            Decision::Adopted(backend)
        } else {
            Decision::Created(backend)
        }
    }

    /// A way for a new entry of `hash`: a free one in the emptier candidate
    /// set, else the oldest expired candidate, else the least recently
    /// seen candidate (evicted). Counts what it did.
    fn make_room(&mut self, hash: u64, now: u64) -> (usize, usize) {
        let [a, b] = self.candidates(hash);
        let free_ways = |s: usize| {
            self.sets[s]
                .bodies
                .iter()
                .filter(|body| body.state == FREE)
                .count()
        };
        let (fa, fb) = (free_ways(a), free_ways(b));
        if fa + fb > 0 {
            let s = if fb > fa { b } else { a };
            let w = self.sets[s]
                .bodies
                .iter()
                .position(|body| body.state == FREE)
                .unwrap_or(0);
            self.stats.entries += 1;
            return (s, w);
        }
        // Both full: rank (live?, last_seen) puts the oldest expired way
        // first, else the least recently seen one.
        let mut best = (a, 0);
        let mut best_rank = (true, u64::MAX);
        for s in [a, b] {
            for (w, body) in self.sets[s].bodies.iter().enumerate() {
                let rank = (!self.expired(body, now), body.last_seen);
                if rank < best_rank {
                    best = (s, w);
                    best_rank = rank;
                }
            }
        }
        if best_rank.0 {
            self.stats.evictions += 1;
        } else {
            self.stats.expirations += 1;
        }
        best
    }

    /// The backend of a live entry for `key`, without creating, refreshing
    /// or counting anything: for packets that must follow an existing flow
    /// but never start one (an ICMP error's [`icmp_inner_flow`]).
    ///
    /// [`icmp_inner_flow`]: super::flow::icmp_inner_flow
    pub fn peek(&self, key: &FlowKey, hash: u64, now: u64) -> Option<u32> {
        let (s, w) = self.find(hash, &PackedKey::new(key))?;
        let body = &self.sets[s].bodies[w];
        (!self.expired(body, now)).then_some(body.backend)
    }

    /// Drops every entry of `backend`, so its flows re-hash on their next
    /// packet; returns how many. Call it when a backend is removed for good
    /// or its draining ends, not when it merely leaves Maglev (then its
    /// flows should drain). O(capacity).
    pub fn remove_backend(&mut self, backend: u32) -> usize {
        let mut removed = 0;
        for set in &mut self.sets {
            for (w, body) in set.bodies.iter_mut().enumerate() {
                if body.state != FREE && body.backend == backend {
                    body.state = FREE;
                    set.hashes[w] = 0;
                    removed += 1;
                }
            }
        }
        self.stats.entries -= removed as u64;
        self.stats.removed += removed as u64;
        removed
    }

    /// Reclaims the expired entries of the next `sets` sets (round robin
    /// over the table); returns how many. Calling it with a small budget
    /// between batches keeps `entries` close to the number of live flows.
    pub fn expire(&mut self, now: u64, sets: usize) -> usize {
        let mut reclaimed = 0;
        for _ in 0..sets.min(self.sets.len()) {
            let s = self.sweep_cursor;
            self.sweep_cursor = (s + 1) % self.sets.len();
            for w in 0..WAYS {
                let body = self.sets[s].bodies[w];
                if body.state != FREE && self.expired(&body, now) {
                    self.free(s, w);
                    reclaimed += 1;
                }
            }
        }
        self.stats.expirations += reclaimed as u64;
        reclaimed
    }

    /// Every stored entry (expired ones included), in table order.
    pub fn iter(&self) -> impl Iterator<Item = EntryInfo> + '_ {
        self.sets.iter().flat_map(|set| {
            set.bodies
                .iter()
                .filter(|body| body.state != FREE)
                .map(|body| EntryInfo {
                    key: body.key.unpack(),
                    backend: body.backend,
                    state: match body.state {
                        SYN => FlowState::TcpSyn,
                        ESTABLISHED => FlowState::TcpEstablished,
                        CLOSING => FlowState::TcpClosing,
                        _ => FlowState::Udp,
                    },
                    last_seen: body.last_seen,
                })
        })
    }
}

#[cfg(test)]
#[path = "tests/conntrack.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/conntrack_sim.rs"]
mod sim;
