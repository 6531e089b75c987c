//! The UDP proxy with real sockets: per-flow balancing and stickiness,
//! replies from the listener's address, request/response and long flows,
//! idle expiry starting a new session, and the session-table bound.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::l4::*;
use common::*;
use tokio::net::UdpSocket;

/// A UDP listener "udp" sending every flow to pool "p" over `endpoints`.
fn udp_config(workers: usize, endpoints: &[SocketAddr], listener_extra: &str) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        r#"
[global]
workers = {workers}
[[listener]]
name = "udp"
address = "127.0.0.1:0"
protocol = "udp"
pool = "p"
access_log = false
{listener_extra}
[[pool]]
name = "p"
algorithm = "round_robin"
endpoints = [{}]
"#,
        eps.join(", ")
    )
}

/// Sends `msg` until its own reply comes back (a lost datagram is resent
/// after 500 ms, as a DNS client would; replies to earlier tries are
/// skipped). Returns (backend name, source of the reply, resends).
async fn ask(s: &UdpSocket, to: SocketAddr, msg: &[u8]) -> (String, SocketAddr, u32) {
    for attempt in 0..10 {
        s.send_to(msg, to).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some((reply, from))) =
            tokio::time::timeout_at(deadline, udp_reply(s, Duration::from_secs(10))).await
        {
            let (name, payload) = split_reply(&reply);
            if payload == msg {
                return (name, from, attempt);
            }
        }
    }
    panic!(
        "no reply to {:?} after 10 tries",
        String::from_utf8_lossy(msg)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_flows_stick_spread_and_are_answered_from_the_listener() {
    let (a, b) = (UdpBackend::start("a").await, UdpBackend::start("b").await);
    let proxy = Proxy::start(&udp_config(2, &[a.addr, b.addr], ""));
    let udp = proxy.addr_of("udp");
    let flows = (0..200).map(|f| {
        tokio::spawn(async move {
            let s = udp_client().await;
            let mut names = HashSet::new();
            let mut resends = 0;
            for d in 0..5 {
                let (name, from, r) =
                    ask(&s, udp, format!("flow {f} datagram {d}").as_bytes()).await;
                assert_eq!(from, udp, "flow {f}: reply not from the listener address");
                names.insert(name);
                resends += r;
            }
            (names, resends)
        })
    });
    let mut per_backend: HashMap<String, usize> = HashMap::new();
    let mut resends = 0;
    for (f, flow) in flows.collect::<Vec<_>>().into_iter().enumerate() {
        let (names, r) = flow.await.unwrap();
        assert_eq!(names.len(), 1, "flow {f} changed backend: {names:?}");
        *per_backend
            .entry(names.into_iter().next().unwrap())
            .or_default() += 1;
        resends += r;
    }
    // Round robin (one shared cursor) picks once per new flow: an exact split.
    assert_eq!(per_backend.get("a"), Some(&100), "{per_backend:?}");
    assert_eq!(per_backend.get("b"), Some(&100), "{per_backend:?}");
    // Every datagram reached a backend once (resent ones at most twice).
    let delivered = a.received().len() + b.received().len();
    assert!(
        (1000..=1000 + resends as usize).contains(&delivered),
        "{delivered}"
    );
    eprintln!("200 flows x 5 datagrams, {resends} resends");
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_like_queries_get_exactly_their_answer() {
    let (a, b) = (UdpBackend::start("a").await, UdpBackend::start("b").await);
    let proxy = Proxy::start(&udp_config(2, &[a.addr, b.addr], ""));
    let udp = proxy.addr_of("udp");
    // 50 queries at once, one datagram each way, each from its own port.
    let queries = (0..50u16).map(|id| {
        tokio::spawn(async move {
            let s = udp_client().await;
            let query = format!("id={id} A example.com?");
            let (reply, from) = udp_ask(&s, udp, query.as_bytes(), Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("query {id}: no answer"));
            assert_eq!(from, udp);
            let (_, payload) = split_reply(&reply);
            assert_eq!(payload, query.as_bytes(), "query {id} got another answer");
        })
    });
    for q in queries.collect::<Vec<_>>() {
        q.await.unwrap();
    }
    assert_eq!(a.received().len() + b.received().len(), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_flow_of_1000_datagrams_is_relayed_to_one_backend() {
    let (a, b) = (UdpBackend::start("a").await, UdpBackend::start("b").await);
    let proxy = Proxy::start(&udp_config(2, &[a.addr, b.addr], ""));
    let udp = proxy.addr_of("udp");
    let s = udp_client().await;
    // At most 64 datagrams in flight. On loopback UDP is lost only when a
    // receive buffer overflows; 64 small datagrams are a small fraction of
    // the default 208 KiB buffer, so no loss is expected and the 99 % bound
    // leaves room for 10 without being loose enough to hide a broken flow.
    const N: usize = 1000;
    let (mut sent, mut seen) = (0usize, HashSet::new());
    let mut names = HashSet::new();
    loop {
        while sent < N && sent - seen.len() < 64 {
            s.send_to(format!("seq {sent}").as_bytes(), udp)
                .await
                .unwrap();
            sent += 1;
        }
        if seen.len() == N {
            break;
        }
        let Some((reply, from)) = udp_reply(&s, Duration::from_secs(2)).await else {
            break; // the rest was lost
        };
        assert_eq!(from, udp);
        let (name, payload) = split_reply(&reply);
        names.insert(name);
        let seq = String::from_utf8(payload).unwrap();
        assert!(seen.insert(seq.clone()), "duplicate reply {seq}");
    }
    assert!(seen.len() >= N * 99 / 100, "{} of {N} replies", seen.len());
    assert_eq!(names.len(), 1, "the flow moved: {names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_idle_timeout_the_next_datagram_starts_a_new_session() {
    let (a, b) = (UdpBackend::start("a").await, UdpBackend::start("b").await);
    let proxy = Proxy::start(&udp_config(
        2,
        &[a.addr, b.addr],
        "idle_timeout = \"200ms\"",
    ));
    let udp = proxy.addr_of("udp");
    let s = udp_client().await;
    let (first, _, _) = ask(&s, udp, b"hello 0").await;
    let mut last_reply = Instant::now();
    for i in 1..5 {
        // Sent right after the previous reply, far inside the 200 ms.
        let gap = last_reply.elapsed();
        let (name, _, _) = ask(&s, udp, format!("hello {i}").as_bytes()).await;
        if gap < Duration::from_millis(150) {
            assert_eq!(
                name, first,
                "datagram {i} left the session ({gap:?} after a reply)"
            );
        }
        last_reply = Instant::now();
    }
    // The flow's idle period itself (the condition under test, not a wait
    // for some event): twice the timeout since the last reply.
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The flow was forgotten: its next datagram is a new session, and round
    // robin (one pick per session, nobody else using the pool) hands the
    // second session the other backend.
    let (second, _, _) = ask(&s, udp, b"hello again").await;
    assert_ne!(second, first, "no new session after idling out");
    let (third, _, _) = ask(&s, udp, b"and again").await;
    assert_eq!(third, second, "the new session does not stick");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_max_sessions_2_a_third_flow_is_dropped_while_two_keep_working() {
    let backend = UdpBackend::start("only").await;
    // One worker: one session table, one listener socket read in order.
    let proxy = Proxy::start(&udp_config(1, &[backend.addr], "max_sessions = 2"));
    let udp = proxy.addr_of("udp");
    let (f1, f2, f3) = (udp_client().await, udp_client().await, udp_client().await);
    assert_eq!(ask(&f1, udp, b"f1 first").await.0, "only");
    assert_eq!(ask(&f2, udp, b"f2 first").await.0, "only");
    f3.send_to(b"f3 first", udp).await.unwrap();
    // f3's datagram is queued on the listener socket before these, and the
    // worker forwards each datagram before reading the next; had it been
    // forwarded, the backend would have received it before answering these.
    assert_eq!(ask(&f1, udp, b"f1 second").await.0, "only");
    assert_eq!(ask(&f2, udp, b"f2 second").await.0, "only");
    let got: Vec<String> = backend
        .received()
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    assert!(
        !got.iter().any(|d| d == "f3 first"),
        "the third flow reached the backend: {got:?}"
    );
    assert!(
        udp_reply(&f3, Duration::from_millis(300)).await.is_none(),
        "the third flow got a reply"
    );
    // The two admitted flows still work after the refusal.
    assert_eq!(ask(&f1, udp, b"f1 third").await.0, "only");
    assert_eq!(ask(&f2, udp, b"f2 third").await.0, "only");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ipv6_listener_relays_to_ipv4_backends_and_answers_from_its_address() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let backend = UdpBackend::start("v4").await;
    let text = udp_config(2, &[backend.addr], "")
        .replace("address = \"127.0.0.1:0\"", "address = \"[::1]:0\"");
    let proxy = Proxy::start(&text);
    let udp = proxy.addr_of("udp");
    assert!(udp.is_ipv6(), "{udp}");
    let s = UdpSocket::bind("[::1]:0").await.unwrap();
    for i in 0..3 {
        let (name, from, _) = ask(&s, udp, format!("v6 datagram {i}").as_bytes()).await;
        assert_eq!((name.as_str(), from), ("v4", udp));
    }
}

/// `udp_config` with `drain_timeout` on the pool.
fn draining_config(endpoints: &[SocketAddr]) -> String {
    udp_config(2, endpoints, "") + "drain_timeout = \"500ms\"\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_on_a_removed_endpoint_moves_when_its_drain_timeout_ends() {
    let (a, b) = (UdpBackend::start("a").await, UdpBackend::start("b").await);
    let mut proxy = Proxy::start(&draining_config(&[a.addr, b.addr]));
    let udp = proxy.addr_of("udp");
    let s = udp_client().await;
    // Round robin starts at the first endpoint.
    assert_eq!(ask(&s, udp, b"before").await.0, "a");
    let reloaded = Instant::now();
    proxy.reload(&draining_config(&[b.addr])).expect("reload");
    // A datagram every 20 ms: the flow stays on a until the drain deadline,
    // then its next datagram starts a session on b.
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut on_a = 0;
    let moved_after = loop {
        tick.tick().await;
        let (name, _, _) = ask(&s, udp, b"draining").await;
        if name == "b" {
            break reloaded.elapsed();
        }
        assert_eq!(name, "a");
        on_a += 1;
        assert!(
            reloaded.elapsed() < Duration::from_secs(10),
            "still on a 10 s after a 500 ms drain"
        );
    };
    assert!(on_a > 0, "the flow left a at once");
    assert!(
        moved_after >= Duration::from_millis(500),
        "moved {moved_after:?} after the reload, before drain_timeout"
    );
    assert!(
        moved_after < Duration::from_millis(1500),
        "a 500 ms drain moved the flow only after {moved_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_applies_a_new_max_sessions_to_a_kept_listener() {
    let backend = UdpBackend::start("only").await;
    let mut proxy = Proxy::start(&udp_config(1, &[backend.addr], "max_sessions = 1"));
    let udp = proxy.addr_of("udp");
    let (f1, f2) = (udp_client().await, udp_client().await);
    assert_eq!(ask(&f1, udp, b"f1 first").await.0, "only");
    f2.send_to(b"f2 refused", udp).await.unwrap();
    // Read in order by the one worker: f2's datagram was handled first.
    assert_eq!(ask(&f1, udp, b"f1 second").await.0, "only");
    assert!(!backend.received().contains(&b"f2 refused".to_vec()));
    // The docs: a kept listener serves "with the new routes and limits".
    proxy
        .reload(&udp_config(1, &[backend.addr], "max_sessions = 2"))
        .expect("reload");
    // The new limit applies to the very next datagram of a new flow (not
    // only after the next sweep of the table).
    assert!(
        udp_ask(&f2, udp, b"f2 after reload", Duration::from_secs(2))
            .await
            .is_some(),
        "max_sessions = 2 after the reload, yet a second flow is still dropped"
    );
    assert_eq!(ask(&f1, udp, b"f1 third").await.0, "only");
}
