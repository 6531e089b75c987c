//! Load-balancing algorithms: one small trait, one file per family.
//!
//! Balancers are pure: they know endpoint indices, weights and keys, never a
//! protocol or a socket. What a balancer may know about live endpoint state
//! (usable or not, outstanding requests, latency) comes through
//! [`EndpointView`], so every algorithm is unit-testable with plain structs
//! and seeded randomness.

mod hash;
mod least_conn;
mod maglev;
mod p2c_ewma;
mod random;
mod ring;
mod rng;
mod round_robin;
mod wrr;

pub use hash::{HASH_SEED, hash_bytes, hash_bytes_seeded};
pub use least_conn::LeastConnections;
pub use maglev::{DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, Maglev, is_prime};
pub use p2c_ewma::{DEFAULT_LATENCY_NS, P2cEwma, PeakEwma};
pub use random::WeightedRandom;
pub use ring::{POINTS_PER_WEIGHT, Ring};
pub use rng::Rng;
pub use round_robin::RoundRobin;
pub use wrr::SmoothWeightedRoundRobin;

/// The hash key of a client address: its IP (IPv4-mapped IPv6 as IPv4, so
/// dual-stack sockets agree), and its port too when `with_port`.
pub fn client_key(peer: std::net::SocketAddr, with_port: bool) -> u64 {
    let mut buf = [0u8; 18];
    let ip = match peer.ip() {
        std::net::IpAddr::V4(a) => {
            buf[..4].copy_from_slice(&a.octets());
            4
        }
        std::net::IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => {
                buf[..4].copy_from_slice(&v4.octets());
                4
            }
            None => {
                buf[..16].copy_from_slice(&a.octets());
                16
            }
        },
    };
    let len = if with_port {
        buf[ip..ip + 2].copy_from_slice(&peer.port().to_be_bytes());
        ip + 2
    } else {
        ip
    };
    hash_bytes(&buf[..len])
}

/// Which algorithm a pool uses (config: `algorithm = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Plain rotation; weights ignored.
    RoundRobin,
    /// NGINX's smooth weighted round robin.
    WeightedRoundRobin,
    /// Fewest outstanding requests relative to weight.
    LeastConnections,
    /// Power of two random choices, cost = peak-EWMA latency x (outstanding + 1) / weight.
    P2cEwma,
    /// Weighted random.
    Random,
    /// Ketama-style consistent-hash ring.
    RingHash,
    /// Maglev consistent hashing with a lookup table of `table_size` (prime) entries.
    Maglev { table_size: u32 },
}

impl Algorithm {
    /// The config spelling of every algorithm, for error messages.
    pub const NAMES: &'static [&'static str] = &[
        "round_robin",
        "weighted_round_robin",
        "least_connections",
        "p2c_ewma",
        "random",
        "ring_hash",
        "maglev",
    ];

    /// True for algorithms that pick by a request key (`hash_key`).
    pub fn is_hashing(&self) -> bool {
        matches!(self, Algorithm::RingHash | Algorithm::Maglev { .. })
    }
}

/// One member of a pool as a balancer sees it at build time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Stable identity (the endpoint address as written); consistent hashing
    /// places members by hashing this, so it must not depend on process state.
    pub id: String,
    /// Relative weight, >= 1.
    pub weight: u32,
}

/// Live state of a pool's endpoints, read at pick time.
///
/// Indices are positions in the `members` slice the balancer was built from.
pub trait EndpointView {
    /// Number of endpoints (equals the `members` length given to [`build`]).
    fn len(&self) -> usize;
    /// True when there are no endpoints. The default is `len() == 0`.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the endpoint may receive this request (up, not already tried).
    fn usable(&self, i: usize) -> bool;
    /// Requests currently in flight to the endpoint.
    fn outstanding(&self, i: usize) -> u64;
    /// Peak-EWMA response latency in nanoseconds; 0 when nothing is known yet.
    fn latency_ns(&self, i: usize) -> f64;
}

/// Picks an endpoint for one request (or connection, or flow).
pub trait Balancer: Send + Sync + std::fmt::Debug {
    /// Returns the index of a usable endpoint, or `None` when no endpoint is
    /// usable. `key` is the request's hash key (hashing algorithms only; when
    /// it is `None` they fall back to a random pick). `rng` is the caller's
    /// random source, seeded in tests.
    fn pick(&self, view: &dyn EndpointView, key: Option<u64>, rng: &mut Rng) -> Option<usize>;
}

/// The weight a balancer uses for `member`: its configured weight, with 0
/// (invalid, rejected by config validation) treated as 1 so that no balancer
/// ever divides by zero or builds an empty table from a bad input.
pub(crate) fn effective_weight(member: &Member) -> u32 {
    member.weight.max(1)
}

/// Whether endpoint `i` may be picked: it exists in the view and is usable.
/// A view shorter than the member list makes the missing members unusable.
#[inline]
pub(crate) fn usable_at(view: &dyn EndpointView, i: usize) -> bool {
    i < view.len() && view.usable(i)
}

/// Builds the balancer for `algorithm` over `members`.
pub fn build(algorithm: Algorithm, members: &[Member]) -> Box<dyn Balancer> {
    match algorithm {
        Algorithm::RoundRobin => Box::new(RoundRobin::new(members.len())),
        Algorithm::WeightedRoundRobin => Box::new(SmoothWeightedRoundRobin::new(members)),
        Algorithm::LeastConnections => Box::new(LeastConnections::new(members)),
        Algorithm::P2cEwma => Box::new(P2cEwma::new(members)),
        Algorithm::Random => Box::new(WeightedRandom::new(members)),
        Algorithm::RingHash => Box::new(Ring::new(members)),
        Algorithm::Maglev { table_size } => Box::new(Maglev::new(members, table_size)),
    }
}

/// A `Vec`-backed [`EndpointView`] for unit tests.
#[cfg(test)]
pub(crate) mod testview {
    use super::{EndpointView, Member};

    /// Endpoint state as plain vectors; out-of-range indices read as
    /// unusable / 0.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct TestView {
        pub(crate) usable: Vec<bool>,
        pub(crate) outstanding: Vec<u64>,
        pub(crate) latency: Vec<f64>,
    }

    impl TestView {
        /// `n` usable, idle endpoints with unknown latency.
        pub(crate) fn all_usable(n: usize) -> Self {
            TestView {
                usable: vec![true; n],
                outstanding: vec![0; n],
                latency: vec![0.0; n],
            }
        }

        /// `n` endpoints, all usable except those listed in `down`.
        pub(crate) fn with_down(n: usize, down: &[usize]) -> Self {
            let mut v = Self::all_usable(n);
            for &i in down {
                v.usable[i] = false;
            }
            v
        }
    }

    impl EndpointView for TestView {
        fn len(&self) -> usize {
            self.usable.len()
        }
        fn usable(&self, i: usize) -> bool {
            self.usable.get(i).copied().unwrap_or(false)
        }
        fn outstanding(&self, i: usize) -> u64 {
            self.outstanding.get(i).copied().unwrap_or(0)
        }
        fn latency_ns(&self, i: usize) -> f64 {
            self.latency.get(i).copied().unwrap_or(0.0)
        }
    }

    /// Members `m0`, `m1`, ... with the given weights.
    pub(crate) fn members(weights: &[u32]) -> Vec<Member> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Member {
                id: format!("m{i}"),
                weight,
            })
            .collect()
    }

    /// Counts how often each index is picked in `picks` calls.
    pub(crate) fn histogram(
        balancer: &dyn super::Balancer,
        view: &dyn EndpointView,
        rng: &mut super::Rng,
        n: usize,
        picks: usize,
    ) -> Vec<usize> {
        let mut counts = vec![0usize; n];
        for _ in 0..picks {
            let i = balancer.pick(view, None, rng).expect("something usable");
            counts[i] += 1;
        }
        counts
    }
}
