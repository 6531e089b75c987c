//! The TCP stream proxy end to end: balancing, bulk relaying (copy, then
//! splice), half-close both ways, failover on refused and black-holed
//! endpoints, idle timeout, connection limits with refuse and queue,
//! draining on reload, and TCP/UDP/HTTP listeners in one file.

mod common;

use std::hash::{DefaultHasher, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::l4::*;
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One TCP listener "tcp" sending everything to pool "p" over `endpoints`.
fn tcp_config(endpoints: &[SocketAddr], listener_extra: &str, pool_extra: &str) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        r#"
[global]
workers = 2
[[listener]]
name = "tcp"
address = "127.0.0.1:0"
protocol = "tcp"
pool = "p"
access_log = false
{listener_extra}
[[pool]]
name = "p"
endpoints = [{}]
{pool_extra}
"#,
        eps.join(", ")
    )
}

/// Backend names seen by `n` sequential connections (each closed at once).
async fn names_of(addr: SocketAddr, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..n {
        names.push(connect_named(addr).await.1);
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_alternates_connections_over_two_backends() {
    let (a, b) = (TcpBackend::start("a").await, TcpBackend::start("b").await);
    let proxy = Proxy::start(&tcp_config(&[a.addr, b.addr], "", ""));
    let names = names_of(proxy.addr(), 20).await;
    // One shared cursor for all workers: sequential connections alternate.
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "not alternating: {names:?}");
    }
    assert_eq!((a.accepted(), b.accepted()), (10, 10));
}

#[tokio::test(flavor = "multi_thread")]
async fn maglev_on_client_ip_sends_every_connection_from_one_address_to_one_backend() {
    let (a, b) = (TcpBackend::start("a").await, TcpBackend::start("b").await);
    let pool = "algorithm = \"maglev\"\nhash_key = \"client_ip\"";
    let proxy = Proxy::start(&tcp_config(&[a.addr, b.addr], "", pool));
    let names = names_of(proxy.addr(), 20).await;
    assert!(names.iter().all(|n| *n == names[0]), "{names:?}");
    assert_eq!(a.accepted() + b.accepted(), 20);
    assert!(a.accepted() == 0 || b.accepted() == 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn maglev_on_client_ip_port_spreads_connections_from_one_address() {
    let (a, b) = (TcpBackend::start("a").await, TcpBackend::start("b").await);
    let pool = "algorithm = \"maglev\"\nhash_key = \"client_ip_port\"";
    let proxy = Proxy::start(&tcp_config(&[a.addr, b.addr], "", pool));
    // 64 connections from distinct source ports. Maglev gives each backend
    // half of the table, so with a uniform hash the chance that all 64 land
    // on one backend is 2 * 2^-64: this cannot flake.
    let names = names_of(proxy.addr(), 64).await;
    assert!(a.accepted() > 0 && b.accepted() > 0, "{names:?}");
    assert_eq!(a.accepted() + b.accepted(), 64);
}

const CHUNK: usize = 64 * 1024;

/// Writes `total` bytes of a seeded pattern: a pseudo-random 64 KiB block
/// whose first 8 bytes carry the chunk number (so a lost, repeated or
/// reordered chunk changes the hash). Returns the hash of what was written.
async fn write_pattern(w: &mut (impl AsyncWrite + Unpin), seed: u64, total: usize) -> u64 {
    let mut x = seed | 1;
    let mut block: Vec<u8> = (0..CHUNK / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    let mut h = DefaultHasher::new();
    for k in 0..total / CHUNK {
        block[..8].copy_from_slice(&(k as u64).to_le_bytes());
        h.write(&block);
        w.write_all(&block).await.unwrap();
    }
    w.shutdown().await.unwrap();
    h.finish()
}

/// Reads to EOF; returns (hash, length) of everything read.
async fn read_hashed(r: &mut (impl AsyncRead + Unpin)) -> (u64, usize) {
    let mut h = DefaultHasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return (h.finish(), len);
        }
        h.write(&buf[..n]);
        len += n;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn large_transfers_both_ways_at_once_arrive_intact() {
    const TOTAL: usize = 64 << 20;
    // The backend sends its own 64 MiB while it reads the client's: two
    // independent streams, each far past the copy buffer (so both
    // directions switch to splice).
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = l.local_addr().unwrap();
    let backend = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        let (got, sent) = tokio::join!(read_hashed(&mut r), write_pattern(&mut w, 2, TOTAL));
        (got, sent)
    });
    let proxy = Proxy::start(&tcp_config(&[backend_addr], "", ""));
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let started = Instant::now();
    let (received, sent) = tokio::join!(read_hashed(&mut r), write_pattern(&mut w, 1, TOTAL));
    let (backend_got, backend_sent) = backend.await.unwrap();
    assert_eq!(
        backend_got,
        (sent, TOTAL),
        "client → backend stream differs"
    );
    assert_eq!(
        received,
        (backend_sent, TOTAL),
        "backend → client stream differs"
    );
    eprintln!("2 x 64 MiB relayed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn client_half_close_reaches_the_backend_and_its_reply_still_flows() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let reply: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let to_send = reply.clone();
    let backend = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        // EOF here means the client's FIN was passed on.
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&to_send).await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    let proxy = Proxy::start(&tcp_config(&[addr], "", ""));
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    let request = b"everything I have to say".repeat(1000);
    c.write_all(&request).await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
        .await
        .expect("reply and EOF within 10 s")
        .unwrap();
    assert_eq!(backend.await.unwrap(), request, "backend got the request");
    assert!(
        got == reply,
        "client got {} of {} bytes",
        got.len(),
        reply.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_half_close_reaches_the_client_and_its_data_still_flows() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let banner: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    let to_send = banner.clone();
    let backend = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(&to_send).await.unwrap();
        s.shutdown().await.unwrap();
        // Our write side is closed; the client's data must still arrive.
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    let proxy = Proxy::start(&tcp_config(&[addr], "", ""));
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut got = Vec::new();
    // EOF while our own write side is still open: the backend's FIN.
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
        .await
        .expect("banner and EOF within 10 s")
        .unwrap();
    assert!(
        got == banner,
        "client got {} of {} bytes",
        got.len(),
        banner.len()
    );
    let late = b"sent after the backend's FIN".repeat(5000);
    c.write_all(&late).await.unwrap();
    c.shutdown().await.unwrap();
    let backend_got = tokio::time::timeout(Duration::from_secs(10), backend)
        .await
        .expect("backend reads to EOF within 10 s")
        .unwrap();
    assert!(
        backend_got == late,
        "backend got {} bytes",
        backend_got.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connect_is_retried_on_the_live_endpoint() {
    let live = TcpBackend::start("live").await;
    let (_held, dead) = held_dead_addr();
    let proxy = Proxy::start(&tcp_config(&[dead, live.addr], "", "fail_timeout = \"0s\""));
    let names = names_of(proxy.addr(), 10).await;
    assert!(names.iter().all(|n| n == "live"), "{names:?}");
    assert_eq!(live.accepted(), 10);
    // Round robin offers the dead endpoint at least every other time.
    let failures = proxy.endpoint_connect_failures(&dead.to_string());
    assert!(failures >= 5, "dead endpoint tried {failures} times");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_only_dead_endpoints_the_client_is_closed_without_data() {
    let ((_h1, d1), (_h2, d2)) = (held_dead_addr(), held_dead_addr());
    let proxy = Proxy::start(&tcp_config(&[d1, d2], "", "fail_timeout = \"0s\""));
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(closed_without_data(&mut c, Duration::from_secs(5)).await);
    // Each endpoint was tried once before giving up.
    assert_eq!(proxy.endpoint_connect_failures(&d1.to_string()), 1);
    assert_eq!(proxy.endpoint_connect_failures(&d2.to_string()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connect_timeout_moves_on_to_the_next_endpoint() {
    let (hole, _fillers) = full_backlog_listener().await;
    let live = TcpBackend::start("live").await;
    // Round robin starts at the first endpoint: the black hole.
    let proxy = Proxy::start(&tcp_config(
        &[hole, live.addr],
        "",
        "connect_timeout = \"200ms\"",
    ));
    let started = Instant::now();
    let (_c, name) = connect_named(proxy.addr()).await;
    assert_eq!(name, "live");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "served after {:?}, before the connect timeout",
        started.elapsed()
    );
    assert_eq!(proxy.endpoint_connect_failures(&hole.to_string()), 1);
    // The black hole is now skipped for fail_timeout (10 s by default).
    assert_eq!(connect_named(proxy.addr()).await.1, "live");
    assert_eq!(proxy.endpoint_connect_failures(&hole.to_string()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_on_both_sides_after_idle_timeout() {
    let b = TcpBackend::start("b").await;
    let proxy = Proxy::start(&tcp_config(&[b.addr], "idle_timeout = \"300ms\"", ""));
    // Taken before connecting: the last byte moves after this instant, and
    // the proxy waits a full idle_timeout after the last byte.
    let started = Instant::now();
    let (mut c, _) = connect_named(proxy.addr()).await;
    assert!(closed_without_data(&mut c, Duration::from_secs(5)).await);
    let closed_after = started.elapsed();
    assert!(
        b.wait_closed(1, Duration::from_secs(5)).await,
        "the backend side stayed open"
    );
    assert!(
        closed_after >= Duration::from_millis(300),
        "closed after {closed_after:?}, before idle_timeout"
    );
    // 300 ms plus one 75 ms check tick; 2 s leaves room for a loaded machine.
    assert!(closed_after < Duration::from_secs(2), "{closed_after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_active_connection_outlives_idle_timeout() {
    let b = TcpBackend::start("b").await;
    let proxy = Proxy::start(&tcp_config(&[b.addr], "idle_timeout = \"300ms\"", ""));
    let (mut c, _) = connect_named(proxy.addr()).await;
    // One round trip every 25 ms for 4 idle timeouts: traffic never stops
    // for long enough (it would take a 300 ms stall of this task).
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    let mut longest_gap = Duration::ZERO;
    let mut last = Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        tick.tick().await;
        longest_gap = longest_gap.max(last.elapsed());
        round_trip(&mut c, b"ping")
            .await
            .unwrap_or_else(|e| panic!("closed while active (longest gap {longest_gap:?}): {e}"));
        last = Instant::now();
    }
    assert_eq!(b.closed(), 0, "backend side closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_connections_refuse_closes_the_third_while_two_stay_open() {
    let b = TcpBackend::start("b").await;
    let proxy = Proxy::start(&tcp_config(
        &[b.addr],
        "max_connections = 2\non_limit = \"refuse\"",
        "",
    ));
    let (mut c1, _) = connect_named(proxy.addr()).await;
    let (mut c2, _) = connect_named(proxy.addr()).await;
    let mut c3 = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(
        closed_without_data(&mut c3, Duration::from_secs(5)).await,
        "the third connection was not closed"
    );
    round_trip(&mut c1, b"still here 1").await.unwrap();
    round_trip(&mut c2, b"still here 2").await.unwrap();
    assert_eq!(
        b.accepted(),
        2,
        "the refused connection reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn max_connections_queue_serves_the_third_once_one_closes() {
    let b = TcpBackend::start("b").await;
    let proxy = Proxy::start(&tcp_config(
        &[b.addr],
        "max_connections = 2\non_limit = \"queue\"\nqueue_timeout = \"2s\"",
        "",
    ));
    let (c1, _) = connect_named(proxy.addr()).await;
    let (mut c2, _) = connect_named(proxy.addr()).await;
    let mut c3 = TcpStream::connect(proxy.addr()).await.unwrap();
    // Queued, not served: nothing arrives while both slots are taken.
    let early = tokio::time::timeout(Duration::from_millis(200), read_line(&mut c3)).await;
    assert!(early.is_err(), "served while two connections were open");
    assert_eq!(b.accepted(), 2);
    let freed = Instant::now();
    drop(c1);
    let name = tokio::time::timeout(Duration::from_secs(5), read_line(&mut c3))
        .await
        .expect("the queued connection is served within 5 s")
        .expect("the queued connection is served, not closed");
    assert_eq!(name, "b");
    // Well inside the 2 s queue timeout that started 200+ ms earlier.
    assert!(
        freed.elapsed() < Duration::from_millis(1500),
        "{:?}",
        freed.elapsed()
    );
    round_trip(&mut c2, b"c2").await.unwrap();
    round_trip(&mut c3, b"c3").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn per_endpoint_limit_queues_the_second_connection_until_the_first_closes() {
    let b = TcpBackend::start("b").await;
    let proxy = Proxy::start(&tcp_config(
        &[b.addr],
        "",
        "max_connections_per_endpoint = 1\non_limit = \"queue\"\nqueue_timeout = \"3s\"",
    ));
    let (c1, _) = connect_named(proxy.addr()).await;
    let mut c2 = TcpStream::connect(proxy.addr()).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(200), read_line(&mut c2)).await;
    assert!(
        early.is_err(),
        "second connection served while the first is open"
    );
    assert_eq!(b.accepted(), 1, "the endpoint got a second connection");
    let freed = Instant::now();
    drop(c1);
    let name = tokio::time::timeout(Duration::from_secs(5), read_line(&mut c2))
        .await
        .expect("served within 5 s")
        .unwrap_or_else(|| {
            panic!(
                "closed, not served, {:?} after the first closed",
                freed.elapsed()
            )
        });
    assert_eq!(name, "b");
    assert!(
        freed.elapsed() < Duration::from_secs(2),
        "{:?}",
        freed.elapsed()
    );
    round_trip(&mut c2, b"second").await.unwrap();
    assert_eq!(b.accepted(), 2);
}

/// With room for one connection at a time: opens one connection, queues
/// `n` more (the kernel spreads them over both workers), then closes the
/// served one. Each queued connection, once served, reports and stays open
/// until released; every close must let exactly one more through.
async fn assert_slot_handed_down_a_queue(addr: SocketAddr, b: &TcpBackend, n: usize) {
    let (first, _) = connect_named(addr).await;
    let base = b.accepted();
    let (served_tx, mut served) = tokio::sync::mpsc::unbounded_channel();
    let mut release = Vec::new();
    for i in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        release.push(Some(tx));
        let served_tx = served_tx.clone();
        tokio::spawn(async move {
            if read_line(&mut s).await.as_deref() == Some("b") {
                let _ = served_tx.send(i);
                let _ = rx.await;
            }
        });
    }
    drop(first);
    for k in 0..n {
        let i = tokio::time::timeout(Duration::from_secs(2), served.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("hand-off {k}: a freed slot reached no queued connection within 2 s")
            })
            .unwrap();
        assert_eq!(
            b.accepted(),
            base + k + 1,
            "more than one connection at a time"
        );
        release[i].take().expect("served twice");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn per_endpoint_limit_hands_the_slot_down_queues_of_200_connections() {
    let b = TcpBackend::start("b").await;
    let pool = "max_connections_per_endpoint = 1\non_limit = \"queue\"\nqueue_timeout = \"10s\"";
    let proxy = Proxy::start(&tcp_config(&[b.addr], "", pool));
    // Three rounds: a lost wake-up between workers is a race, so give it
    // many chances to show.
    for _ in 0..3 {
        assert_slot_handed_down_a_queue(proxy.addr(), &b, 200).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn max_connections_hands_the_slot_down_a_queue_of_200_connections() {
    let b = TcpBackend::start("b").await;
    let listener = "max_connections = 1\non_limit = \"queue\"\nqueue_timeout = \"10s\"";
    let proxy = Proxy::start(&tcp_config(&[b.addr], listener, ""));
    assert_slot_handed_down_a_queue(proxy.addr(), &b, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_drains_a_removed_endpoint_until_drain_timeout() {
    let (a, b) = (TcpBackend::start("a").await, TcpBackend::start("b").await);
    let drain = "drain_timeout = \"500ms\"";
    let mut proxy = Proxy::start(&tcp_config(&[a.addr, b.addr], "", drain));
    // Round robin starts at the first endpoint.
    let (mut long, name) = connect_named(proxy.addr()).await;
    assert_eq!(name, "a");
    let reloaded = Instant::now();
    proxy
        .reload(&tcp_config(&[b.addr], "", drain))
        .expect("reload");
    assert_eq!(names_of(proxy.addr(), 4).await, vec!["b"; 4]);
    // The old connection keeps working until the drain deadline: it is
    // used every 10 ms, so the first failed round trip dates the close.
    let mut trips = 0u32;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let closed_after = loop {
        tick.tick().await;
        if round_trip(&mut long, b"still draining").await.is_err() {
            break reloaded.elapsed();
        }
        trips += 1;
        assert!(
            reloaded.elapsed() < Duration::from_secs(10),
            "not closed 10 s after a 500 ms drain"
        );
    };
    assert!(trips > 0, "the draining connection did not work at all");
    assert!(
        closed_after >= Duration::from_millis(500),
        "closed {closed_after:?} after the reload, before drain_timeout"
    );
    assert!(
        a.wait_closed(1, Duration::from_secs(5)).await,
        "backend a still has the connection"
    );
    // drain_timeout plus a check interval, with room for a loaded machine.
    assert!(
        closed_after < Duration::from_millis(1500),
        "a 500 ms drain closed the connection only after {closed_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_tcp_and_udp_listeners_in_one_file_each_serve() {
    let web = backend("web");
    let t = TcpBackend::start("t").await;
    let u = UdpBackend::start("u").await;
    let proxy = Proxy::start(&fill(
        r#"
[global]
workers = 2
[[listener]]
name = "http"
address = "127.0.0.1:0"
access_log = false
  [[listener.route]]
  pool = "web"
[[listener]]
name = "tcp"
address = "127.0.0.1:0"
protocol = "tcp"
pool = "stream"
[[listener]]
name = "udp"
address = "127.0.0.1:0"
protocol = "udp"
pool = "dgram"
[[pool]]
name = "web"
endpoints = [{ address = "{web}" }]
[[pool]]
name = "stream"
endpoints = [{ address = "{t}" }]
[[pool]]
name = "dgram"
endpoints = [{ address = "{u}" }]
"#,
        &[
            ("web", web.addr.to_string()),
            ("t", t.addr.to_string()),
            ("u", u.addr.to_string()),
        ],
    ));
    let url = format!("http://{}/", proxy.addr_of("http"));
    let (status, be, _) = get(&client(), &url).await;
    assert_eq!((status, be.as_str()), (200, "web"));

    let (mut s, name) = connect_named(proxy.addr_of("tcp")).await;
    assert_eq!(name, "t");
    round_trip(&mut s, b"over tcp").await.unwrap();

    let udp = proxy.addr_of("udp");
    let sock = udp_client().await;
    let (reply, from) = udp_ask(&sock, udp, b"over udp", Duration::from_secs(5))
        .await
        .expect("a udp reply");
    assert_eq!(from, udp);
    assert_eq!(reply, b"u:over udp");
}

/// `switchyard pool disable` (through the admin socket) drains an endpoint
/// like a reload that removes it: new connections go elsewhere, the live
/// one runs until drain_timeout; `enable` brings it back.
#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_disabled_at_runtime_drains_and_comes_back() {
    let (a, b) = (TcpBackend::start("a").await, TcpBackend::start("b").await);
    let dir = std::env::temp_dir().join(format!("sy-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("control.sock");
    let config = tcp_config(&[a.addr, b.addr], "", "drain_timeout = \"500ms\"").replacen(
        "[global]\n",
        &format!("[global]\ncontrol_socket = \"{}\"\n", socket.display()),
        1,
    );
    let proxy = Proxy::start(&config);
    let pool = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["pool", "-s", socket.to_str().unwrap()])
            .args(args)
            .output()
            .expect("run switchyard pool");
        assert!(
            out.status.success(),
            "pool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (mut long, name) = connect_named(proxy.addr()).await;
    assert_eq!(name, "a");
    let a_addr = a.addr.to_string();
    let disabled = Instant::now();
    pool(&["disable", "p", &a_addr]);
    let listing = pool(&["list"]);
    let line = listing
        .lines()
        .find(|l| l.contains(&a_addr))
        .unwrap_or_default();
    assert!(line.contains("disabled"), "{listing}");
    assert_eq!(
        names_of(proxy.addr(), 4).await,
        vec!["b"; 4],
        "a takes no new connections"
    );
    // The live connection drains: it works, then closes after 500 ms.
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut trips = 0u32;
    let closed_after = loop {
        tick.tick().await;
        if round_trip(&mut long, b"draining").await.is_err() {
            break disabled.elapsed();
        }
        trips += 1;
        assert!(disabled.elapsed() < Duration::from_secs(10), "never closed");
    };
    assert!(
        trips > 0 && closed_after >= Duration::from_millis(500),
        "closed after {closed_after:?}"
    );
    pool(&["enable", "p", &a_addr]);
    let names = names_of(proxy.addr(), 4).await;
    assert!(
        names.iter().any(|n| n == "a"),
        "a is back in service: {names:?}"
    );
    // Unknown names are explained, not ignored.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "pool",
            "-s",
            socket.to_str().unwrap(),
            "disable",
            "nope",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no pool named \"nope\" (pools: p)"));
    drop(proxy);
    assert!(!socket.exists(), "the socket is removed on shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listener_reloaded_from_http_to_tcp_does_not_hold_back_server_first_connections() {
    // HTTP listeners make the kernel hold a connection until its client
    // sends (TCP_DEFER_ACCEPT). Reloaded into a TCP listener on the same
    // sockets, that must be undone: here the server speaks first, and a
    // held-back connection would wait a second or more for its greeting.
    let web = backend("web");
    let greeter = TcpBackend::start("greeter").await;
    let http = format!(
        "[global]\nworkers = 1\n[[listener]]\nname = \"edge\"\naddress = \"127.0.0.1:0\"\n  [[listener.route]]\n  pool = \"p\"\n[[pool]]\nname = \"p\"\nendpoints = [{{ address = \"{}\" }}]\n",
        web.addr
    );
    let tcp = format!(
        "[global]\nworkers = 1\n[[listener]]\nname = \"edge\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"p\"\n[[pool]]\nname = \"p\"\nendpoints = [{{ address = \"{}\" }}]\n",
        greeter.addr
    );
    let mut proxy = Proxy::start(&http);
    let addr = proxy.addr();
    // Served: the worker's accept loop runs, so the reload reaches it as a
    // signal (not as the state it starts with).
    assert_eq!(get(&client(), &proxy.url("/")).await.0, 200);
    proxy.reload(&tcp).expect("reload");
    assert_eq!(proxy.addr(), addr, "the listener kept its sockets");
    let greeted_fast = || async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        tokio::time::timeout(Duration::from_millis(300), read_line(&mut s))
            .await
            .is_ok_and(|l| l.as_deref() == Some("greeter"))
    };
    // The workers apply the change when the reload signal reaches them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !greeted_fast().await {
        assert!(Instant::now() < deadline, "connections still held back");
    }
    // Then every connection is greeted at once.
    for i in 0..20 {
        assert!(greeted_fast().await, "connection {i} was held back");
    }
}
