//! Unit tests of `packet::conntrack`: the entry size bound, creation rules
//! (SYN / UDP create, mid-flow packets consult `choose`), FIN/RST and the
//! per-state timeouts, the capacity bound with LRU eviction, collisions,
//! and backend removal.

use std::mem::{align_of, size_of};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::packet::flow::{PROTO_UDP, TCP_PSH, flow_hash};

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn tcp_key(i: u32) -> FlowKey {
    FlowKey {
        proto: PROTO_TCP,
        src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i >> 8))),
        dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        sport: 1024 + (i & 0xff) as u16,
        dport: 80,
    }
}

fn udp_key(i: u32) -> FlowKey {
    FlowKey {
        proto: PROTO_UDP,
        dport: 53,
        ..tcp_key(i)
    }
}

fn never() -> Option<u32> {
    panic!("choose() called for a known flow")
}

fn table(capacity: usize) -> ConnTable {
    ConnTable::new(capacity, Timeouts::default())
}

/// One packet of `key` at `now`.
fn packet(t: &mut ConnTable, key: &FlowKey, now: u64, flags: u8, backend: u32) -> Decision {
    t.lookup_or_insert(key, flow_hash(key), now, flags, || Some(backend))
}

fn state_of(t: &ConnTable, key: &FlowKey) -> Option<FlowState> {
    t.iter().find(|e| e.key == *key).map(|e| e.state)
}

#[test]
fn an_entry_costs_64_bytes_all_included() {
    assert_eq!(size_of::<PackedKey>(), 38);
    assert_eq!(size_of::<Body>(), 56);
    // Per entry: its hash in the set's hash line plus its body.
    assert_eq!(size_of::<u64>() + size_of::<Body>(), 64);
    assert_eq!(size_of::<Set>(), 64 * WAYS);
    assert_eq!(align_of::<Set>(), 64);
    // And the table holds nothing else per entry.
    let t = table(1000);
    assert_eq!(t.capacity(), 1000);
    assert_eq!(t.sets.len() * size_of::<Set>(), t.capacity() * 64);
    assert_eq!(table(1).capacity(), WAYS);
    assert_eq!(table(0).capacity(), WAYS);
}

#[test]
fn the_table_moves_between_threads() {
    fn send<T: Send>() {}
    send::<ConnTable>();
}

#[test]
fn syn_creates_and_later_packets_follow() {
    let mut t = table(64);
    let k = tcp_key(1);
    assert_eq!(packet(&mut t, &k, 0, TCP_SYN, 3), Decision::Created(3));
    assert_eq!(state_of(&t, &k), Some(FlowState::TcpSyn));
    // A retransmitted SYN follows and stays a SYN.
    let h = flow_hash(&k);
    assert_eq!(
        t.lookup_or_insert(&k, h, SEC, TCP_SYN, never),
        Decision::Hit(3)
    );
    assert_eq!(state_of(&t, &k), Some(FlowState::TcpSyn));
    assert_eq!(
        t.lookup_or_insert(&k, h, 2 * SEC, TCP_ACK, never),
        Decision::Hit(3)
    );
    assert_eq!(state_of(&t, &k), Some(FlowState::TcpEstablished));
    // A SYN on an established flow follows it too.
    assert_eq!(
        t.lookup_or_insert(&k, h, 3 * SEC, TCP_SYN, never),
        Decision::Hit(3)
    );

    let u = udp_key(1);
    assert_eq!(packet(&mut t, &u, 0, 0, 4), Decision::Created(4));
    // UDP ignores whatever flags the caller passes.
    let hu = flow_hash(&u);
    assert_eq!(
        t.lookup_or_insert(&u, hu, 1, TCP_FIN, never),
        Decision::Hit(4)
    );
    assert_eq!(state_of(&t, &u), Some(FlowState::Udp));

    let s = t.stats();
    assert_eq!((s.entries, s.inserts, s.hits), (2, 2, 4));
    assert_eq!(t.len(), 2);
    assert!(!t.is_empty());
}

#[test]
fn mid_flow_packets_of_unknown_flows_consult_choose() {
    let mut t = table(64);
    let k = tcp_key(2);
    let mut asked = 0;
    let d = t.lookup_or_insert(&k, flow_hash(&k), 0, TCP_ACK | TCP_PSH, || {
        asked += 1;
        Some(5)
    });
    assert_eq!((d, asked), (Decision::Adopted(5), 1));
    assert_eq!(d.backend(), Some(5));
    assert_eq!(state_of(&t, &k), Some(FlowState::TcpEstablished));
    assert_eq!(packet(&mut t, &k, 1, TCP_ACK, 9), Decision::Hit(5));
    // SYN+ACK is not a SYN: adopted, not created.
    assert_eq!(
        packet(&mut t, &tcp_key(3), 0, TCP_SYN | TCP_ACK, 6),
        Decision::Adopted(6)
    );
    // A FIN of an unknown flow is adopted straight into closing.
    assert_eq!(
        packet(&mut t, &tcp_key(4), 0, TCP_FIN | TCP_ACK, 7),
        Decision::Adopted(7)
    );
    assert_eq!(state_of(&t, &tcp_key(4)), Some(FlowState::TcpClosing));
    // No backend: nothing stored.
    let k5 = tcp_key(5);
    let d = t.lookup_or_insert(&k5, flow_hash(&k5), 0, TCP_SYN, || None);
    assert_eq!((d, d.backend()), (Decision::NoBackend, None));
    assert_eq!(state_of(&t, &k5), None);
    assert_eq!(t.stats().no_backend, 1);
    assert_eq!(t.len(), 3);
}

#[test]
fn fin_and_rst_shorten_an_entry_s_life() {
    for flag in [TCP_FIN, TCP_RST] {
        let mut t = table(64);
        let k = tcp_key(7);
        let h = flow_hash(&k);
        packet(&mut t, &k, 0, TCP_SYN, 1);
        packet(&mut t, &k, SEC, TCP_ACK, 1);
        // Established: alive 299 s after the last packet.
        assert_eq!(t.peek(&k, h, 300 * SEC), Some(1));
        assert_eq!(
            t.lookup_or_insert(&k, h, 2 * SEC, flag | TCP_ACK, never),
            Decision::Hit(1)
        );
        assert_eq!(state_of(&t, &k), Some(FlowState::TcpClosing));
        // Closing stays closing and lives 10 s after its last packet.
        assert_eq!(
            t.lookup_or_insert(&k, h, 11 * SEC, TCP_ACK, never),
            Decision::Hit(1)
        );
        assert_eq!(state_of(&t, &k), Some(FlowState::TcpClosing));
        assert_eq!(t.peek(&k, h, 21 * SEC - 1), Some(1));
        assert_eq!(t.peek(&k, h, 21 * SEC), None);
        assert_eq!(
            packet(&mut t, &k, 21 * SEC, TCP_ACK, 2),
            Decision::Adopted(2)
        );
        assert_eq!(t.stats().expirations, 1);
    }
}

#[test]
fn a_syn_reusing_a_closing_tuple_is_decided_afresh() {
    let mut t = table(64);
    let k = tcp_key(8);
    packet(&mut t, &k, 0, TCP_SYN, 1);
    packet(&mut t, &k, SEC, TCP_FIN | TCP_ACK, 1);
    // The old backend is draining; Maglev now says 4.
    assert_eq!(
        packet(&mut t, &k, 2 * SEC, TCP_SYN, 4),
        Decision::Created(4)
    );
    assert_eq!(state_of(&t, &k), Some(FlowState::TcpSyn));
    assert_eq!(t.len(), 1);
}

#[test]
fn each_state_has_its_timeout() {
    let timeouts = Timeouts {
        tcp_syn: Duration::from_secs(1),
        tcp_established: Duration::from_secs(5),
        tcp_closing: Duration::from_secs(2),
        udp: Duration::from_secs(3),
    };
    let mut t = ConnTable::new(64, timeouts);
    assert_eq!(t.timeouts(), timeouts);
    let (syn, est, udp) = (tcp_key(1), tcp_key(2), udp_key(3));
    packet(&mut t, &syn, 0, TCP_SYN, 1);
    packet(&mut t, &est, 0, TCP_ACK, 2);
    packet(&mut t, &udp, 0, 0, 3);
    let alive = |t: &ConnTable, k: &FlowKey, now| t.peek(k, flow_hash(k), now).is_some();
    assert!(alive(&t, &syn, SEC - 1) && !alive(&t, &syn, SEC));
    assert!(alive(&t, &udp, 3 * SEC - 1) && !alive(&t, &udp, 3 * SEC));
    assert!(alive(&t, &est, 5 * SEC - 1) && !alive(&t, &est, 5 * SEC));
    // A clock that steps back does not expire anything.
    packet(&mut t, &udp, 2 * SEC, 0, 9);
    assert!(alive(&t, &udp, SEC));
    // The expired SYN entry is replaced by its own flow's next packet.
    assert_eq!(
        packet(&mut t, &syn, 2 * SEC, TCP_SYN, 7),
        Decision::Created(7)
    );
    assert_eq!(t.stats().expirations, 1);
    assert_eq!(t.len(), 3);
}

#[test]
fn the_sweep_reclaims_expired_entries() {
    let mut t = table(256);
    for i in 0..100 {
        packet(&mut t, &udp_key(i), 0, 0, 1);
    }
    for i in 0..10 {
        packet(&mut t, &tcp_key(i), 0, TCP_ACK, 1);
    }
    assert_eq!(t.len(), 110);
    // Half the table now, the rest later: only the UDP flows are expired.
    let sets = t.sets.len();
    let first = t.expire(40 * SEC, sets / 2);
    let second = t.expire(40 * SEC, sets);
    assert_eq!(first + second, 100);
    assert_eq!(t.len(), 10);
    assert_eq!(t.stats().expirations, 100);
    assert!(t.iter().all(|e| e.state == FlowState::TcpEstablished));
}

#[test]
fn capacity_is_a_bound_and_eviction_is_lru() {
    let mut t = table(64);
    let hot = udp_key(100_000);
    for i in 0..1000u32 {
        let now = u64::from(i) * MS;
        packet(&mut t, &udp_key(i), now, 0, i);
        // A flow with a packet every step is never the least recent.
        assert_ne!(packet(&mut t, &hot, now, 0, 7), Decision::NoBackend);
        assert!(t.len() <= 64);
    }
    let s = t.stats();
    assert_eq!(s.entries, 64);
    assert_eq!(s.inserts, 1001);
    assert_eq!(s.evictions, 1001 - 64);
    assert_eq!(s.expirations, 0);
    assert_eq!(t.peek(&hot, flow_hash(&hot), SEC), Some(7));
    // The newest flows are all there; survivors are recent.
    for i in 990..1000 {
        let k = udp_key(i);
        assert_eq!(t.peek(&k, flow_hash(&k), SEC), Some(i), "flow {i}");
    }
    let oldest = t.iter().map(|e| e.last_seen).min().unwrap_or(0);
    assert!(oldest > 700 * MS, "oldest survivor seen at {oldest} ns");
}

#[test]
fn a_full_table_reclaims_expired_entries_before_evicting() {
    let mut t = table(64);
    for i in 0..2000 {
        packet(&mut t, &udp_key(i), 0, 0, 1);
    }
    let before = t.stats();
    assert_eq!(before.entries, 64);
    // 31 s later every UDP entry has expired: inserts reclaim, never evict
    // (as long as their sets hold expired entries: a quarter refill).
    for i in 2000..2016 {
        packet(&mut t, &udp_key(i), 31 * SEC, 0, 2);
    }
    let after = t.stats();
    assert_eq!(after.evictions, before.evictions);
    assert_eq!(after.expirations, 16);
    assert_eq!(after.entries, 64);
}

#[test]
fn hash_collisions_never_return_another_flow_s_backend() {
    // Twenty flows forced onto one hash (so onto the same 16 ways at most),
    // plus a v4 and a v6 key whose packed address bytes are equal.
    const H: u64 = 0x0123_4567_89ab_cdef;
    let mut t = table(1 << 12);
    let mut keys: Vec<FlowKey> = (0..20).map(tcp_key).collect();
    keys.push(FlowKey {
        src: IpAddr::V6(Ipv6Addr::new(0x0a00, 0x0001, 0, 0, 0, 0, 0, 0)),
        ..tcp_key(1)
    });
    for round in 0..3u64 {
        for (i, k) in keys.iter().enumerate() {
            let d = t.lookup_or_insert(k, H, round * SEC, TCP_ACK, || Some(i as u32));
            assert_eq!(d.backend(), Some(i as u32), "{k:?} got {d:?}");
        }
    }
    // 21 flows, 16 ways: some were evicted, none was confused.
    assert!(t.stats().evictions > 0);
    assert!(t.len() <= 2 * WAYS);
    // The right key under a wrong hash is simply not found.
    assert_eq!(t.peek(&keys[20], H ^ 1, 3 * SEC), None);
    for e in t.iter() {
        assert_eq!(Some(&e.key), keys.get(e.backend as usize));
    }
}

#[test]
fn remove_backend_drops_only_its_entries() {
    let mut t = table(1024);
    for i in 0..300u32 {
        packet(&mut t, &tcp_key(i), 0, TCP_SYN, i % 3);
    }
    assert_eq!(t.remove_backend(1), 100);
    assert_eq!(t.remove_backend(1), 0);
    assert_eq!(t.len(), 200);
    assert_eq!(t.stats().removed, 100);
    for i in 0..300u32 {
        let k = tcp_key(i);
        let want = if i % 3 == 1 {
            Decision::Adopted(2)
        } else {
            Decision::Hit(i % 3)
        };
        assert_eq!(packet(&mut t, &k, SEC, TCP_ACK, 2), want, "flow {i}");
    }
}

#[test]
fn iter_round_trips_keys_of_both_families() {
    let mut t = table(64);
    let v6 = FlowKey {
        proto: PROTO_TCP,
        src: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
        dst: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)),
        sport: 40000,
        dport: 443,
    };
    let mixed = FlowKey {
        dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        ..v6
    };
    for (i, k) in [tcp_key(9), v6, mixed].iter().enumerate() {
        packet(&mut t, k, 5, TCP_SYN, i as u32);
    }
    let mut seen: Vec<(FlowKey, u32, u64)> =
        t.iter().map(|e| (e.key, e.backend, e.last_seen)).collect();
    seen.sort_by_key(|s| s.1);
    assert_eq!(seen, vec![(tcp_key(9), 0, 5), (v6, 1, 5), (mixed, 2, 5)]);
    assert!(format!("{t:?}").contains("capacity: 64"));
}
