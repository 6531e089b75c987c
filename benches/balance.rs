//! Micro-benchmarks of the balancers: the cost of one `pick` over 10
//! endpoints for every algorithm, and the cost of building a Maglev table.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchyard::balance::{
    Algorithm, DEFAULT_TABLE_SIZE, EndpointView, Maglev, Member, Rng, build, hash_bytes,
};

/// Ten endpoints, all usable, with some load and latency spread.
struct View {
    outstanding: Vec<u64>,
    latency: Vec<f64>,
}

impl EndpointView for View {
    fn len(&self) -> usize {
        self.outstanding.len()
    }
    fn usable(&self, _i: usize) -> bool {
        true
    }
    fn outstanding(&self, i: usize) -> u64 {
        self.outstanding[i]
    }
    fn latency_ns(&self, i: usize) -> f64 {
        self.latency[i]
    }
}

fn members(n: usize) -> Vec<Member> {
    (0..n)
        .map(|i| Member {
            id: format!("10.0.{}.{}:8080", i / 256, i % 256),
            weight: 1 + (i % 3) as u32,
        })
        .collect()
}

fn pick(c: &mut Criterion) {
    let ms = members(10);
    let view = View {
        outstanding: (0..10).map(|i| i % 4).collect(),
        latency: (0..10).map(|i| 1e6 + i as f64 * 1e5).collect(),
    };
    let algorithms = [
        ("round_robin", Algorithm::RoundRobin),
        ("weighted_round_robin", Algorithm::WeightedRoundRobin),
        ("least_connections", Algorithm::LeastConnections),
        ("p2c_ewma", Algorithm::P2cEwma),
        ("random", Algorithm::Random),
        ("ring_hash", Algorithm::RingHash),
        (
            "maglev",
            Algorithm::Maglev {
                table_size: DEFAULT_TABLE_SIZE,
            },
        ),
    ];
    let mut group = c.benchmark_group("pick_10");
    for (name, algorithm) in algorithms {
        let balancer = build(algorithm, &ms);
        let mut rng = Rng::seeded(1);
        let mut key = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                key = key.wrapping_add(1);
                let k = algorithm
                    .is_hashing()
                    .then(|| hash_bytes(&key.to_le_bytes()));
                black_box(balancer.pick(&view, black_box(k), &mut rng))
            })
        });
    }
    group.finish();
}

fn maglev_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("maglev_build");
    for n in [10usize, 100] {
        let ms = members(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &ms, |b, ms| {
            b.iter(|| Maglev::new(black_box(ms), DEFAULT_TABLE_SIZE))
        });
    }
    group.finish();
}

criterion_group!(benches, pick, maglev_build);
criterion_main!(benches);
