//! The UDP session table: client address → flow state, sans-io.
//!
//! UDP has no connections, so the proxy keeps one *session* per client
//! address: the endpoint chosen for the flow's first datagram and whatever
//! the data path attaches (a connected upstream socket). Sessions expire
//! after `timeout` without a datagram either way; the table is bounded
//! (new flows beyond `max` are refused, existing ones keep working).
//!
//! Nothing here touches a socket or a clock: callers pass `now` (any
//! monotonic nanosecond count) and get decisions back, so the table is
//! unit-tested and simulated with seeded traffic.

use std::collections::HashMap;
use std::net::SocketAddr;

/// One flow.
#[derive(Debug)]
pub struct Session<S> {
    /// Index of the endpoint in its pool when the flow started.
    pub endpoint: usize,
    /// The data path's state for the flow.
    pub state: S,
    last_seen: u64,
}

/// What a datagram from a client found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A live session: forward to its endpoint.
    Existing(usize),
    /// No session: pick an endpoint and [`insert`](SessionTable::insert).
    New,
    /// No session and the table is full: drop the datagram.
    Full,
}

/// Client address → session, with idle expiry and a size bound.
#[derive(Debug)]
pub struct SessionTable<S> {
    sessions: HashMap<SocketAddr, Session<S>, rustc_hash::FxBuildHasher>,
    timeout_ns: u64,
    max: usize,
}

impl<S> SessionTable<S> {
    /// A table keeping flows idle for less than `timeout_ns`, at most `max`.
    pub fn new(timeout_ns: u64, max: usize) -> Self {
        SessionTable {
            sessions: HashMap::default(),
            timeout_ns,
            max: max.max(1),
        }
    }

    /// New limits (after a reload); live sessions are kept.
    pub fn set_limits(&mut self, timeout_ns: u64, max: usize) {
        self.timeout_ns = timeout_ns;
        self.max = max.max(1);
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// A datagram from `client` at `now`: refreshes a live session. An
    /// expired one (not yet swept) counts as absent.
    pub fn lookup(&mut self, client: SocketAddr, now: u64) -> Lookup {
        match self.sessions.get_mut(&client) {
            Some(s) if now.saturating_sub(s.last_seen) < self.timeout_ns => {
                s.last_seen = now;
                Lookup::Existing(s.endpoint)
            }
            Some(_) => {
                self.sessions.remove(&client);
                self.lookup_new()
            }
            None => self.lookup_new(),
        }
    }

    fn lookup_new(&self) -> Lookup {
        if self.sessions.len() >= self.max {
            Lookup::Full
        } else {
            Lookup::New
        }
    }

    /// Starts a session (after [`Lookup::New`]); returns the replaced one, if any.
    pub fn insert(
        &mut self,
        client: SocketAddr,
        endpoint: usize,
        state: S,
        now: u64,
    ) -> Option<Session<S>> {
        self.sessions.insert(
            client,
            Session {
                endpoint,
                state,
                last_seen: now,
            },
        )
    }

    /// The session of `client`, if any.
    pub fn get_mut(&mut self, client: &SocketAddr) -> Option<&mut Session<S>> {
        self.sessions.get_mut(client)
    }

    /// Removes the session of `client`, if any.
    pub fn remove_client(&mut self, client: &SocketAddr) -> Option<Session<S>> {
        self.sessions.remove(client)
    }

    /// A reply reached `client` at `now`: the flow is alive.
    pub fn touch(&mut self, client: &SocketAddr, now: u64) {
        if let Some(s) = self.sessions.get_mut(client) {
            s.last_seen = s.last_seen.max(now);
        }
    }

    /// Removes and returns the sessions idle for `timeout` or more.
    pub fn expire(&mut self, now: u64) -> Vec<(SocketAddr, Session<S>)> {
        let timeout = self.timeout_ns;
        let dead: Vec<SocketAddr> = self
            .sessions
            .iter()
            .filter(|(_, s)| now.saturating_sub(s.last_seen) >= timeout)
            .map(|(k, _)| *k)
            .collect();
        dead.into_iter()
            .filter_map(|k| self.sessions.remove(&k).map(|s| (k, s)))
            .collect()
    }

    /// Removes and returns the sessions of endpoints `gone` says left
    /// (their next datagram starts a new session elsewhere).
    pub fn remove_endpoints(
        &mut self,
        mut gone: impl FnMut(usize) -> bool,
    ) -> Vec<(SocketAddr, Session<S>)> {
        self.remove_where(|s| gone(s.endpoint))
    }

    /// Removes and returns the sessions for which `pred` holds.
    pub fn remove_where(
        &mut self,
        mut pred: impl FnMut(&Session<S>) -> bool,
    ) -> Vec<(SocketAddr, Session<S>)> {
        let dead: Vec<SocketAddr> = self
            .sessions
            .iter()
            .filter(|(_, s)| pred(s))
            .map(|(k, _)| *k)
            .collect();
        dead.into_iter()
            .filter_map(|k| self.sessions.remove(&k).map(|s| (k, s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::Rng;

    const SEC: u64 = 1_000_000_000;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from((
            [10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
            1024 + (i % 50_000) as u16,
        ))
    }

    #[test]
    fn a_flow_keeps_its_endpoint_until_it_idles_out() {
        let mut t = SessionTable::new(30 * SEC, 10);
        let c = addr(1);
        assert_eq!(t.lookup(c, 0), Lookup::New);
        t.insert(c, 2, (), 0);
        assert_eq!(t.lookup(c, 10 * SEC), Lookup::Existing(2));
        // Replies keep it alive too.
        t.touch(&c, 35 * SEC);
        assert_eq!(t.lookup(c, 60 * SEC), Lookup::Existing(2));
        // 30 s of silence: gone, even before a sweep.
        assert_eq!(t.lookup(c, 90 * SEC), Lookup::New);
        assert!(t.is_empty());
    }

    #[test]
    fn the_table_is_bounded_but_existing_flows_continue() {
        let mut t = SessionTable::new(30 * SEC, 2);
        t.insert(addr(1), 0, (), 0);
        t.insert(addr(2), 1, (), 0);
        assert_eq!(t.lookup(addr(3), 1), Lookup::Full);
        assert_eq!(t.lookup(addr(1), 1), Lookup::Existing(0));
        // Expiry frees room.
        let gone = t.expire(31 * SEC);
        assert_eq!(gone.len(), 2);
        assert_eq!(t.lookup(addr(3), 31 * SEC), Lookup::New);
    }

    #[test]
    fn removing_an_endpoint_moves_only_its_flows() {
        let mut t = SessionTable::new(30 * SEC, 100);
        for i in 0..30 {
            t.insert(addr(i), (i % 3) as usize, (), 0);
        }
        let moved = t.remove_endpoints(|e| e == 1);
        assert_eq!(moved.len(), 10);
        assert!(moved.iter().all(|(_, s)| s.endpoint == 1));
        for i in 0..30 {
            let want = if i % 3 == 1 {
                Lookup::New
            } else {
                Lookup::Existing((i % 3) as usize)
            };
            assert_eq!(t.lookup(addr(i), SEC), want, "flow {i}");
        }
    }

    /// Seeded simulation: thousands of flows sending datagrams at random
    /// times over ten virtual minutes, with a backend removed half way.
    /// Invariants checked at every step against a model kept here.
    #[test]
    fn seeded_simulation_of_many_flows() {
        for seed in [1u64, 7, 42] {
            let mut rng = Rng::seeded(seed);
            let timeout = 20 * SEC;
            let max = 1500;
            let mut t: SessionTable<u32> = SessionTable::new(timeout, max);
            // model: client -> (endpoint, last datagram time)
            let mut model: HashMap<SocketAddr, (usize, u64)> = HashMap::new();
            let endpoints = 4usize;
            let mut removed: Option<usize> = None;
            let (mut news, mut fulls, mut existing) = (0, 0, 0);
            let mut now = 0u64;
            for step in 0..60_000u32 {
                now += rng.below(10_000_000); // up to 10 ms between datagrams
                if step == 30_000 {
                    removed = Some(2);
                    let moved = t.remove_endpoints(|e| e == 2);
                    assert!(moved.iter().all(|(_, s)| s.endpoint == 2));
                    model.retain(|_, (e, _)| *e != 2);
                }
                if step % 997 == 0 {
                    for (k, s) in t.expire(now) {
                        let (e, last) = model.remove(&k).expect("expired flow was known");
                        assert_eq!(e, s.endpoint);
                        assert!(now - last >= timeout, "expired too early");
                    }
                }
                let client = addr(rng.below(3000) as u32);
                let live = model
                    .get(&client)
                    .filter(|(_, last)| now - last < timeout)
                    .copied();
                match t.lookup(client, now) {
                    Lookup::Existing(e) => {
                        existing += 1;
                        let (me, _) = live.expect("table had a flow the model does not");
                        assert_eq!(e, me, "a live flow changed endpoint");
                        model.insert(client, (e, now));
                    }
                    Lookup::New => {
                        news += 1;
                        assert!(live.is_none(), "a live flow was forgotten");
                        // Pick any endpoint but the removed one.
                        let mut e = rng.below(endpoints as u64) as usize;
                        if Some(e) == removed {
                            e = (e + 1) % endpoints;
                        }
                        t.insert(client, e, step, now);
                        model.insert(client, (e, now));
                    }
                    Lookup::Full => {
                        fulls += 1;
                        assert!(live.is_none());
                        assert!(t.len() >= max);
                    }
                }
                assert!(t.len() <= max);
                if let Some(r) = removed {
                    assert!(
                        t.sessions.values().all(|s| s.endpoint != r),
                        "a flow stayed on the removed endpoint"
                    );
                }
            }
            assert!(
                news > 1000 && existing > 10_000,
                "seed {seed}: traffic too thin ({news} new, {existing} existing)"
            );
            let _ = fulls;
        }
    }
}
