//! Each balancing algorithm's distribution over real proxied requests: three
//! named backends per pool, the answering backend read from `x-backend`.
//!
//! The proxy's random source is seeded from entropy, and backend ports (the
//! endpoint identities consistent hashing places) differ on every run, so
//! every statistical bound below is derived, in a comment, to fail with
//! negligible probability (>= 6 sd, or an analysed worst case).

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use switchyard::balance::{DEFAULT_TABLE_SIZE, Maglev, Member, hash_bytes};
use switchyard::demo::BackendHandle;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// A one-pool config over `endpoints` (address, weight).
fn config(
    algorithm: &str,
    endpoints: &[(SocketAddr, u32)],
    pool_extra: &str,
    workers: usize,
) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|(a, w)| format!("{{ address = \"{a}\", weight = {w} }}"))
        .collect();
    format!(
        r#"
[global]
workers = {workers}

[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false

  [[listener.route]]
  pool = "p"

[[pool]]
name = "p"
algorithm = "{algorithm}"
{pool_extra}
endpoints = [{}]
"#,
        eps.join(", ")
    )
}

/// A GET on the keep-alive client; asserts 200 and returns `x-backend`.
async fn via(c: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> String {
    let mut req = c.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), 200, "{url} {headers:?}");
    let be = resp
        .headers()
        .get("x-backend")
        .map(|v| v.to_str().unwrap().to_owned());
    resp.bytes().await.unwrap();
    be.unwrap_or_default()
}

/// A GET on a fresh connection with `Connection: close`; asserts 200 and
/// returns `x-backend`.
async fn via_close(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: lb.test\r\nConnection: close\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let r = read_response(&mut s).await.expect("a response");
    assert_eq!(r.status, 200, "{path} {headers:?}");
    r.header("x-backend").unwrap_or_default().to_owned()
}

fn tally<'a>(names: impl IntoIterator<Item = &'a String>) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

/// Sends `n` GETs for `path` (`concurrency` keep-alive streams, plus every
/// 10th request on its own `Connection: close` connection) and counts the
/// answering backends.
async fn spread(proxy: &Proxy, path: &str, n: usize, concurrency: usize) -> HashMap<String, usize> {
    let addr = proxy.addr();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (c, url, path) = (client(), proxy.url(path), path.to_owned());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in (t..n).step_by(concurrency) {
                    seen.push(if i % 10 == 9 {
                        via_close(addr, &path, &[]).await
                    } else {
                        via(&c, &url, &[]).await
                    });
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    tally(&all)
}

/// Asserts `count` is within 6 standard deviations of Binomial(n, p),
/// widened by `slack` (a relative error of p itself). Failing probability
/// ~2e-9 per check.
fn assert_share(what: &str, count: usize, n: usize, p: f64, slack: f64) {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    let tolerance = 6.0 * sd + slack * mean;
    assert!(
        (count as f64 - mean).abs() <= tolerance,
        "{what}: {count} of {n}, expected {mean:.0} ± {tolerance:.0}"
    );
}

/// A test upstream named `name`: answers every request after `delay` with
/// `x-backend: NAME`, except `/hold`, which it announces on `arrivals` and
/// holds until [`TestUpstream::release`].
struct TestUpstream {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    open: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestUpstream {
    async fn start(
        name: &str,
        delay: Duration,
        arrivals: mpsc::UnboundedSender<String>,
    ) -> TestUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(watch::channel(false).0);
        let hits = Arc::new(AtomicU64::new(0));
        let (name, gate, count): (Arc<str>, _, _) = (name.into(), open.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (name, gate, count, arrivals) =
                    (name.clone(), gate.clone(), count.clone(), arrivals.clone());
                let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (name, gate, arrivals) = (name.clone(), gate.clone(), arrivals.clone());
                    count.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if req.uri().path() == "/hold" {
                            let mut open = gate.subscribe();
                            let _ = arrivals.send(name.to_string());
                            let _ = open.wait_for(|o| *o).await;
                        } else {
                            tokio::time::sleep(delay).await;
                        }
                        let resp = hyper::Response::builder()
                            .header("x-backend", &*name)
                            .body(Full::new(Bytes::from(format!("{name}\n"))))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc),
                );
            }
        });
        TestUpstream {
            addr,
            hits,
            open,
            task,
        }
    }

    /// Answers every held `/hold` request (and any later one) at once.
    fn release(&self) {
        self.open.send_replace(true);
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_is_exactly_even_on_one_worker() {
    let bs = [backend("a"), backend("b"), backend("c")];
    let proxy = Proxy::start(&config(
        "round_robin",
        &bs.each_ref().map(|b| (b.addr, 1)),
        "",
        1,
    ));
    let (c, url) = (client(), proxy.url("/"));
    let mut seq = Vec::new();
    for i in 0..330 {
        seq.push(if i % 11 == 10 {
            via_close(proxy.addr(), "/", &[]).await
        } else {
            via(&c, &url, &[]).await
        });
    }
    // Sequential requests rotate strictly from the first endpoint on,
    // whether they share a connection or not.
    for (i, be) in seq.iter().enumerate() {
        assert_eq!(be, ["a", "b", "c"][i % 3], "request {i}: {seq:?}");
    }
    for b in &bs {
        assert_eq!(b.hits(), 110, "{}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn weighted_round_robin_5_1_1_is_exact_and_smooth() {
    let bs = [backend("a"), backend("b"), backend("c")];
    let proxy = Proxy::start(&config(
        "weighted_round_robin",
        &[(bs[0].addr, 5), (bs[1].addr, 1), (bs[2].addr, 1)],
        "",
        1,
    ));
    let (c, url) = (client(), proxy.url("/"));
    let mut seq = String::new();
    for i in 0..7 * 42 {
        let be = if i % 5 == 4 {
            via_close(proxy.addr(), "/", &[]).await
        } else {
            via(&c, &url, &[]).await
        };
        seq.push_str(&be);
    }
    // NGINX's smooth order: a a b a c a a, every cycle of 7.
    assert_eq!(seq, "aabacaa".repeat(42));
    // Never a burst of 5 (plain weighted rotation: a a a a a b c); at most
    // the tail of one cycle joined to the head of the next (c a a | a a b).
    let longest_a_run = seq.split(['b', 'c']).map(str::len).max().unwrap();
    assert!(
        longest_a_run < 5,
        "weights must be interleaved, not sent in bursts: {seq}"
    );
    assert_eq!(seq[..7].split(['b', 'c']).map(str::len).max(), Some(2));
    assert_eq!(bs.each_ref().map(|b| b.hits()), [210, 42, 42]);
}

#[tokio::test(flavor = "multi_thread")]
async fn least_connections_avoids_the_backend_with_requests_in_flight() {
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let mut ups = Vec::new();
    for name in ["x", "a", "b"] {
        ups.push(TestUpstream::start(name, Duration::ZERO, tx.clone()).await);
    }
    let eps: Vec<(SocketAddr, u32)> = ups.iter().map(|u| (u.addr, 1)).collect();
    let proxy = Proxy::start(&config("least_connections", &eps, "", 2));
    let c = client();
    // Park 3K requests, one at a time: each is sent only once the previous
    // one has reached its upstream (and so is counted in flight), so least
    // connections must spread them exactly K per backend.
    const K: usize = 4;
    let mut held = Vec::new();
    for _ in 0..3 * K {
        let (c, url) = (c.clone(), proxy.url("/hold"));
        let task = tokio::spawn(async move { via(&c, &url, &[]).await });
        held.push((arrivals.recv().await.unwrap(), task));
    }
    let parked = tally(held.iter().map(|(name, _)| name));
    assert_eq!(
        parked,
        HashMap::from([("x".into(), K), ("a".into(), K), ("b".into(), K)])
    );
    // Finish the parked requests on a and b; x keeps K in flight.
    ups[1].release();
    ups[2].release();
    let mut on_x = Vec::new();
    for (name, task) in held {
        if name == "x" {
            on_x.push(task);
        } else {
            assert_eq!(task.await.unwrap(), name);
        }
    }
    // New requests (keep-alive and fresh connections) all avoid x.
    let mut quick = Vec::new();
    for i in 0..60 {
        quick.push(if i % 4 == 3 {
            via_close(proxy.addr(), "/", &[]).await
        } else {
            via(&c, &proxy.url("/"), &[]).await
        });
    }
    let got = tally(&quick);
    assert_eq!(
        got.get("x"),
        None,
        "a request went to the busy backend: {got:?}"
    );
    assert_eq!(ups[0].hits(), K as u64);
    // a and b tie at 0 in flight; ties are broken at random, so both serve
    // (all 60 on one side has probability 2^-59).
    assert!(got.contains_key("a") && got.contains_key("b"), "{got:?}");
    ups[0].release();
    for task in on_x {
        assert_eq!(task.await.unwrap(), "x");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn p2c_ewma_learns_to_avoid_a_slow_backend() {
    // Two fast upstreams (2 ms) and a slow one (500 ms). The fast ones are
    // not instant on purpose: an endpoint with no sample yet counts as 1 ms,
    // so while the slow one is unknown it beats a measured fast one and is
    // soon probed; from then on its learned 500 ms loses every pair.
    let (tx, _arrivals) = mpsc::unbounded_channel();
    let slow = TestUpstream::start("slow", Duration::from_millis(500), tx.clone()).await;
    let a = TestUpstream::start("a", Duration::from_millis(2), tx.clone()).await;
    let b = TestUpstream::start("b", Duration::from_millis(2), tx).await;
    let proxy = Proxy::start(&config(
        "p2c_ewma",
        &[(slow.addr, 1), (a.addr, 1), (b.addr, 1)],
        "",
        2,
    ));
    let (c, url) = (client(), proxy.url("/"));
    // Warm-up until the slow upstream has answered once. Each request picks
    // it with probability >= 1/3 while it is unknown: 200 misses in a row
    // has probability < 1e-35.
    let mut warmup = 0;
    while slow.hits() == 0 {
        assert!(warmup < 200, "the slow upstream was never probed");
        via(&c, &url, &[]).await;
        warmup += 1;
    }
    let n = 300;
    let mut seq = Vec::new();
    for i in 0..n {
        seq.push(if i % 5 == 4 {
            via_close(proxy.addr(), "/", &[]).await
        } else {
            via(&c, &url, &[]).await
        });
    }
    let got = tally(&seq);
    let share = |name: &str| got.get(name).copied().unwrap_or(0);
    // Expected: 0 for the slow one (it loses every pair it is drawn in,
    // unless a fast request stalls for > ~450 ms). Fair share would be 100.
    assert!(share("slow") <= n / 20, "slow upstream got {got:?}");
    // Each fast one wins at least its pairs with the slow one: >= Binomial(300, 1/3),
    // mean 100, sd 8.2; 50 is 6 sd below.
    assert!(share("a") >= 50 && share("b") >= 50, "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn random_respects_weights_3_1_1() {
    let bs = [backend("a"), backend("b"), backend("c")];
    let proxy = Proxy::start(&config(
        "random",
        &[(bs[0].addr, 3), (bs[1].addr, 1), (bs[2].addr, 1)],
        "",
        2,
    ));
    let n = 3000;
    let got = spread(&proxy, "/", n, 4).await;
    assert_eq!(got.values().sum::<usize>(), n, "{got:?}");
    // Independent draws: Binomial(3000, 0.6) sd 26.8, Binomial(3000, 0.2) sd 21.9.
    assert_share("a", got["a"], n, 0.6, 0.0);
    assert_share("b", got["b"], n, 0.2, 0.0);
    assert_share("c", got["c"], n, 0.2, 0.0);
}

/// Three backends behind a hashing pool keyed by `hash_key`.
fn hashing_proxy(algorithm: &str, hash_key: &str) -> ([BackendHandle; 3], Proxy) {
    let bs = [backend("a"), backend("b"), backend("c")];
    let cfg = config(
        algorithm,
        &bs.each_ref().map(|b| (b.addr, 1)),
        &format!("hash_key = \"{hash_key}\""),
        2,
    );
    let proxy = Proxy::start(&cfg);
    (bs, proxy)
}

/// For each key, sends `per_key` requests (the last on a fresh connection,
/// which may land on the other worker) built by `headers`/`path`, asserts
/// they all reach one backend, and returns key → backend.
async fn stickiness(
    proxy: &Proxy,
    keys: &[String],
    per_key: usize,
    request: impl Fn(&str) -> (String, Vec<(String, String)>),
) -> HashMap<String, String> {
    let c = client();
    let mut owner = HashMap::new();
    for key in keys {
        let (path, headers) = request(key);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut seen = Vec::new();
        for i in 0..per_key {
            seen.push(if i + 1 == per_key {
                via_close(proxy.addr(), &path, &headers).await
            } else {
                via(&c, &proxy.url(&path), &headers).await
            });
        }
        assert!(
            seen.iter().all(|b| *b == seen[0]),
            "key {key} moved between backends: {seen:?}"
        );
        owner.insert(key.clone(), seen[0].clone());
    }
    owner
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}

async fn header_key_is_sticky_and_spreads(algorithm: &str) {
    let (_bs, proxy) = hashing_proxy(algorithm, "header:x-user");
    let owner = stickiness(&proxy, &users(100), 5, |u| {
        ("/".into(), vec![("x-user".into(), u.into())])
    })
    .await;
    let per_backend = tally(owner.values());
    // Every backend owns users. Worst case (ring_hash): a member's share of
    // the ring has a relative sd of ~8 % (160 points), so a share below
    // 1/3 × (1 - 6 × 0.08) = 0.17 is a > 6 sd event; even at 0.17 all 100
    // users missing it has probability 0.83^100 = 8e-9.
    assert_eq!(
        per_backend.len(),
        3,
        "{algorithm}: users did not spread: {per_backend:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ring_hash_header_key_is_sticky_and_spreads() {
    header_key_is_sticky_and_spreads("ring_hash").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn maglev_header_key_is_sticky_and_spreads() {
    header_key_is_sticky_and_spreads("maglev").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_path_and_client_ip_keys_are_sticky() {
    for algorithm in ["ring_hash", "maglev"] {
        // Cookie: the `sid` pair among others; other cookies don't matter.
        let (_bs, proxy) = hashing_proxy(algorithm, "cookie:sid");
        let sids = users(40);
        let owner = stickiness(&proxy, &sids, 3, |s| {
            (
                "/".into(),
                vec![("cookie".into(), format!("theme=dark; sid={s}; lang=en"))],
            )
        })
        .await;
        let other_cookies = stickiness(&proxy, &sids, 2, |s| {
            (
                "/x".into(),
                vec![("cookie".into(), format!("sid={s}; a=1"))],
            )
        })
        .await;
        assert_eq!(
            owner, other_cookies,
            "{algorithm}: other cookies changed the owner"
        );
        // 40 keys all on one backend: < 3 × 0.55^40 = 1e-10 even for a 6 sd-skewed ring.
        assert!(
            tally(owner.values()).len() >= 2,
            "{algorithm}: cookie keys did not spread"
        );

        // Path: the query string is not part of the key.
        let (_bs, proxy) = hashing_proxy(algorithm, "path");
        let paths: Vec<String> = (0..40).map(|i| format!("/item/{i}")).collect();
        let owner = stickiness(&proxy, &paths, 3, |p| (format!("{p}?r=1"), vec![])).await;
        let other_query = stickiness(&proxy, &paths, 2, |p| (format!("{p}?r=2&x=y"), vec![])).await;
        assert_eq!(
            owner, other_query,
            "{algorithm}: the query changed the owner"
        );
        assert!(
            tally(owner.values()).len() >= 2,
            "{algorithm}: path keys did not spread"
        );
        // Other spellings of one path (merged slashes, dot segments,
        // encoded letters) hash as the path routing sees: same owner.
        let respelled = stickiness(&proxy, &paths, 2, |p| {
            let n = p.trim_start_matches("/item/");
            (format!("//x/../%69tem//{n}"), vec![])
        })
        .await;
        assert_eq!(
            owner, respelled,
            "{algorithm}: another spelling of a path changed its owner"
        );

        // Client IP: every request here comes from 127.0.0.1, so one backend
        // serves them all, whatever the path, headers or connection.
        let (bs, proxy) = hashing_proxy(algorithm, "client_ip");
        let ips = stickiness(&proxy, &users(20), 3, |u| {
            (format!("/{u}"), vec![("x-user".into(), u.into())])
        })
        .await;
        assert_eq!(tally(ips.values()).len(), 1, "{algorithm}: {ips:?}");
        assert_eq!(bs.iter().filter(|b| b.hits() > 0).count(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hashing_without_the_key_falls_back_to_random() {
    for algorithm in ["ring_hash", "maglev"] {
        let (_bs, proxy) = hashing_proxy(algorithm, "header:x-user");
        let got = spread(&proxy, "/", 300, 2).await;
        // Weighted random over 3 equal backends: one of them getting none of
        // 300 has probability 3 × (2/3)^300 = 1e-52.
        assert_eq!(got.len(), 3, "{algorithm}: {got:?}");
        assert_eq!(got.values().sum::<usize>(), 300);
    }
}

/// user → backend for `users`, 4 at a time, each on the keep-alive client.
async fn owners(proxy: &Proxy, users: &[String]) -> HashMap<String, String> {
    let c = client();
    let url = proxy.url("/");
    let mut out = HashMap::new();
    for chunk in users.chunks(4) {
        let asks = chunk.iter().map(|u| {
            let (c, url) = (&c, &url);
            async move { via(c, url, &[("x-user", u.as_str())]).await }
        });
        for (u, be) in chunk.iter().zip(futures_util::future::join_all(asks).await) {
            out.insert(u.clone(), be);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn maglev_instances_and_reloads_agree_without_shared_state() {
    let bs = [backend("a"), backend("b"), backend("c")];
    let cfg = config(
        "maglev",
        &bs.each_ref().map(|b| (b.addr, 1)),
        "hash_key = \"header:x-user\"",
        2,
    );
    let mut first = Proxy::start(&cfg);
    let second = Proxy::start(&cfg);
    let us = users(200);
    let one = owners(&first, &us).await;
    let two = owners(&second, &us).await;
    assert_eq!(one, two, "two instances with the same config disagree");
    assert_eq!(tally(one.values()).len(), 3);
    // A reload that rebuilds the same table changes nothing either.
    first.reload(&cfg).unwrap();
    assert_eq!(owners(&first, &us).await, one, "a reload moved users");
}

#[tokio::test(flavor = "multi_thread")]
async fn maglev_removing_one_of_four_backends_moves_its_users_and_keeps_the_others() {
    let bs = [backend("a"), backend("b"), backend("c"), backend("d")];
    let key = "hash_key = \"header:x-user\"";
    let mut proxy = Proxy::start(&config(
        "maglev",
        &bs.each_ref().map(|b| (b.addr, 1)),
        key,
        2,
    ));
    let us = users(400);
    let before = owners(&proxy, &us).await;
    let kept = [&bs[0], &bs[2], &bs[3]];
    proxy
        .reload(&config("maglev", &kept.map(|b| (b.addr, 1)), key, 2))
        .unwrap();
    let b_hits = bs[1].hits();
    let after = owners(&proxy, &us).await;
    assert_eq!(
        bs[1].hits(),
        b_hits,
        "the removed backend still got requests"
    );

    // The proxy is exactly Maglev over the endpoint addresses as written,
    // before and after: every user is where the lookup table puts it. So the
    // proxy moves the users Maglev moves, and not one more.
    let model = |members: &[&BackendHandle]| {
        let ms: Vec<Member> = members
            .iter()
            .map(|b| Member {
                id: b.addr.to_string(),
                weight: 1,
            })
            .collect();
        let table = Maglev::new(&ms, DEFAULT_TABLE_SIZE);
        let names: Vec<String> = members.iter().map(|b| b.name.clone()).collect();
        move |u: &str| names[table.lookup(hash_bytes(u.as_bytes()))].clone()
    };
    let (old, new) = (model(&bs.each_ref()), model(&kept));
    for u in &us {
        assert_eq!(before[u], old(u), "{u} before the reload");
        assert_eq!(after[u], new(u), "{u} after the reload");
    }

    // Every user of the removed backend moved, and they spread over the rest:
    // each remaining backend inherits >= 23 % of the removed one's slots
    // (3 000 random endpoint sets; >= 10 % even with a `skip` collision, see
    // below), so one getting none of its ~100 users is a < 1e-9 event.
    let moved_from_b: Vec<&String> = us
        .iter()
        .filter(|u| before[*u] == "b")
        .map(|u| &after[u])
        .collect();
    assert!(moved_from_b.iter().all(|be| *be != "b"));
    assert_eq!(
        tally(moved_from_b.iter().copied()).len(),
        3,
        "{moved_from_b:?}"
    );

    // The others: Maglev promises balance and only *near*-minimal
    // disruption, with no hard bound. Measured for N = 4, M = 65537 over
    // 30 000 random endpoint sets: median 0.05 % of the other users move,
    // 99th percentile 0.6 %, but the tail is heavy: when two endpoints draw
    // the same `skip` (probability ~1e-4 per run with ephemeral ports), up
    // to 37 % moved (16 000 such sets). A ">= 95 % stay" check would fail
    // about once in 6 000 runs, so the honest flake-proof floor is half:
    // even the worst set seen would need a 4.5 sd sampling excursion to
    // break it. Modulo hashing would keep only ~25-33 %. The exact model
    // check above is what pins the behaviour precisely.
    let others: Vec<&String> = us.iter().filter(|u| before[*u] != "b").collect();
    let stayed = others.iter().filter(|u| before[**u] == after[**u]).count();
    assert!(
        stayed * 2 >= others.len(),
        "only {stayed} of {} users of the remaining backends kept their backend",
        others.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn maglev_respects_weights_3_1_1() {
    let bs = [backend("a"), backend("b"), backend("c")];
    let cfg = config(
        "maglev",
        &[(bs[0].addr, 3), (bs[1].addr, 1), (bs[2].addr, 1)],
        "hash_key = \"header:x-user\"",
        2,
    );
    let proxy = Proxy::start(&cfg);
    let n = 2000;
    let got = tally(owners(&proxy, &users(n)).await.values());
    // Slots are within 1 % of weight-proportional (a property of the table);
    // 2000 distinct users then sample those shares: 6 sd of Binomial(2000, p)
    // plus the 1 % table error.
    assert_share("a", got["a"], n, 0.6, 0.01);
    assert_share("b", got["b"], n, 0.2, 0.01);
    assert_share("c", got["c"], n, 0.2, 0.01);
}

#[tokio::test(flavor = "multi_thread")]
async fn maglev_serves_new_connections_right_after_each_reload() {
    let bs = [backend("a"), backend("b"), backend("c"), backend("d")];
    let key = "hash_key = \"header:x-user\"";
    let configs = [
        config("maglev", &bs.each_ref().map(|b| (b.addr, 1)), key, 2),
        config(
            "maglev",
            &[(bs[0].addr, 1), (bs[1].addr, 1), (bs[2].addr, 1)],
            key,
            2,
        ),
    ];
    let tables = [&bs[..], &bs[..3]].map(|members| {
        let ms: Vec<Member> = members
            .iter()
            .map(|b| Member {
                id: b.addr.to_string(),
                weight: 1,
            })
            .collect();
        (
            Maglev::new(&ms, DEFAULT_TABLE_SIZE),
            members.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        )
    });
    let mut proxy = Proxy::start(&configs[0]);
    // Alternate between 4 and 3 backends. Every connection opened after
    // reload() has returned must be served, by the new table (the mapping is
    // a pure function of the config: no state carries it across reloads).
    for round in 0..100 {
        let (table, names) = &tables[round % 2];
        proxy.reload(&configs[round % 2]).unwrap();
        let addr = proxy.addr();
        let asks = (0..4).map(|i| async move {
            let user = format!("user-{round}-{i}");
            let mut s = TcpStream::connect(addr).await.unwrap();
            let req = format!(
                "GET / HTTP/1.1\r\nHost: lb.test\r\nConnection: close\r\nx-user: {user}\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.unwrap();
            (user, read_response(&mut s).await)
        });
        for (user, resp) in futures_util::future::join_all(asks).await {
            let resp = resp.unwrap_or_else(|| {
                panic!("round {round}: a connection opened after reload() returned was closed without a response")
            });
            assert_eq!(resp.status, 200);
            assert_eq!(
                resp.header("x-backend"),
                Some(names[table.lookup(hash_bytes(user.as_bytes()))].as_str()),
                "round {round}: {user}"
            );
        }
    }
}
