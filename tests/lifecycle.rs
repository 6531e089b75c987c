//! Reload and shutdown: in-process through `Server::reload`, and with the
//! real binary through SIGHUP and SIGTERM.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use switchyard::demo::BackendHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Two listeners; `/moving` goes to `{moving}`, everything else to pool "a".
const TWO_LISTENERS: &str = r#"
[global]
workers = 2
[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
  [[listener.route]]
  name = "moving"
  path_prefix = "/moving"
  pool = "{moving}"
  [[listener.route]]
  name = "rest"
  pool = "a"
[[listener]]
name = "{second}"
address = "127.0.0.1:0"
access_log = false
  [[listener.route]]
  pool = "{moving}"
[[pool]]
name = "a"
endpoints = [{ address = "{a}" }]
[[pool]]
name = "b"
endpoints = [{ address = "{b}" }]
"#;

fn two_listeners(a: SocketAddr, b: SocketAddr, moving: &str, second: &str) -> String {
    fill(
        TWO_LISTENERS,
        &[
            ("a", a.to_string()),
            ("b", b.to_string()),
            ("moving", moving.into()),
            ("second", second.into()),
        ],
    )
}

/// GET `path` on a new connection; `None` if it is closed without a response.
async fn get_once(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let r = read_response(&mut s).await?;
    Some((
        r.status,
        r.header("x-backend").unwrap_or_default().to_owned(),
    ))
}

/// GET `path` on a fresh connection (so it sees the current configuration);
/// returns (status, x-backend). Retries once when the connection is closed
/// without a response, as clients do: a connection accepted just after a
/// reload can be closed by it (see
/// `connections_accepted_right_after_a_reload_are_served`).
async fn fresh_get(addr: SocketAddr, path: &str) -> (u16, String) {
    match get_once(addr, path).await {
        Some(r) => r,
        None => get_once(addr, path).await.expect("a response"),
    }
}

/// Polls (bounded) until connecting to `addr` is refused; returns how long
/// that took, or `None` if it still accepted connections after `limit`.
async fn until_refused(addr: SocketAddr, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Some(start.elapsed());
            }
            // Accepted by the kernel into a listening socket that is being
            // closed, then reset: not refused yet, try again.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connect to {addr}: {e}"),
            Ok(_) => {}
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls (bounded) until `cond` holds: for events only a counter shows.
async fn eventually(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_moves_routes_and_adds_and_removes_listeners() {
    let (a, b) = (backend("a"), backend("b"));
    let mut proxy = Proxy::start(&two_listeners(a.addr, b.addr, "a", "old"));
    let web = proxy.addr_of("web");
    let old = proxy.addr_of("old");
    assert_eq!(fresh_get(web, "/moving").await, (200, "a".into()));
    assert_eq!(fresh_get(old, "/").await, (200, "a".into()));

    let summary = proxy
        .reload(&two_listeners(a.addr, b.addr, "b", "new"))
        .unwrap();
    assert_eq!(
        (summary.added, summary.removed, summary.kept),
        (vec!["new".into()], vec!["old".into()], vec!["web".into()])
    );

    // New connections on the kept listener see the new routes, same port.
    assert_eq!(proxy.addr_of("web"), web);
    assert_eq!(fresh_get(web, "/moving").await, (200, "b".into()));
    assert_eq!(fresh_get(web, "/other").await, (200, "a".into()));
    // The added listener answers at once (it is bound before reload returns).
    assert_eq!(
        fresh_get(proxy.addr_of("new"), "/").await,
        (200, "b".into())
    );
    // The removed one stops listening.
    until_refused(old, Duration::from_secs(2))
        .await
        .expect("the removed listener still accepts connections");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_accepted_right_after_a_reload_are_served() {
    let (a, b) = (backend("a"), backend("b"));
    let mut proxy = Proxy::start(&two_listeners(a.addr, b.addr, "a", "second"));
    let web = proxy.addr_of("web");
    let mut dropped = Vec::new();
    for i in 0..20 {
        let moving = if i % 2 == 0 { "b" } else { "a" };
        proxy
            .reload(&two_listeners(a.addr, b.addr, moving, "second"))
            .unwrap();
        // Connected after reload() returned: must be served by the new config,
        // not closed by the reload's "close old connections" signal.
        match get_once(web, "/moving").await {
            Some(r) => assert_eq!(r, (200, moving.to_owned()), "reload {i}"),
            None => dropped.push(i),
        }
    }
    assert!(
        dropped.is_empty(),
        "connections opened after reload() returned were closed without a response, after reloads {dropped:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_reload_is_refused_and_the_old_config_keeps_serving() {
    let (a, b) = (backend("a"), backend("b"));
    let mut proxy = Proxy::start(&two_listeners(a.addr, b.addr, "a", "second"));
    let web = proxy.addr_of("web");

    // Invalid text: refused with the diagnostics.
    let broken = two_listeners(a.addr, b.addr, "b", "second").replacen(
        "address = \"127.0.0.1:0\"",
        "adress = \"127.0.0.1:0\"",
        1,
    );
    let err = proxy.reload(&broken).unwrap_err();
    assert!(
        err.contains("test.toml:6:1: error: unknown key `adress` in listener \"web\""),
        "{err}"
    );
    assert!(err.contains("did you mean `address`?"), "{err}");
    assert_eq!(fresh_get(web, "/moving").await, (200, "a".into()));

    // Valid text that cannot be applied (a new listener on a taken port):
    // refused, and nothing of it is applied, not even the route change.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let unbindable = two_listeners(a.addr, b.addr, "b", "second").replace(
        "name = \"second\"\naddress = \"127.0.0.1:0\"",
        &format!("name = \"second\"\naddress = \"{taken}\""),
    );
    assert!(unbindable.contains(&taken));
    let err = proxy.reload(&unbindable).unwrap_err();
    assert!(err.contains(&format!("cannot listen on {taken}")), "{err}");
    assert_eq!(fresh_get(web, "/moving").await, (200, "a".into()));
    assert_eq!(
        fresh_get(proxy.addr_of("second"), "/").await,
        (200, "a".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_state_survives_a_reload() {
    let live = backend("live");
    let (_held, dead) = held_dead_addr();
    let config = |route: &str| {
        simple_config("round_robin", &[dead, live.addr], "fail_timeout = \"0s\"")
            .replace("name = \"all\"", route)
    };
    let mut proxy = Proxy::start(&config("name = \"all\""));
    let web = proxy.addr();
    for _ in 0..4 {
        assert_eq!(fresh_get(web, "/").await, (200, "live".into()));
    }
    let before = proxy.endpoint_connect_failures(&dead.to_string());
    assert!(before >= 1, "the dead endpoint was tried");

    // A reload that changes routing but keeps pool "p" and its endpoints.
    proxy
        .reload(&config("name = \"renamed\"\n  path_prefix = \"/\""))
        .unwrap();
    assert_eq!(
        proxy.endpoint_connect_failures(&dead.to_string()),
        before,
        "state carried over, not reset"
    );
    for _ in 0..4 {
        assert_eq!(fresh_get(web, "/").await, (200, "live".into()));
    }
    assert!(
        proxy.endpoint_connect_failures(&dead.to_string()) > before,
        "the same state keeps counting"
    );
}

/// An upstream that answers one request when told to: `arrived` fires
/// when the request head is in, the response is sent on `release`.
fn gated_upstream() -> (
    SocketAddr,
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut s, _) = TcpListener::from_std(l).unwrap().accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "the proxy closed the upstream connection");
            head.extend_from_slice(&buf[..n]);
        }
        let _ = arrived_tx.send(());
        let _ = release_rx.await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Backend: gate\r\n\r\ngated\n")
            .await
            .unwrap();
        // Keep the upstream connection open until the proxy closes it.
        let _ = s.read(&mut buf).await;
    });
    (addr, arrived, release)
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_from_before_a_reload_close_after_their_in_flight_request() {
    let (a, b) = (backend("a"), backend("b"));
    let (gate, arrived, release) = gated_upstream();
    // One worker: once the idle connection below is closed, that worker has
    // seen the reload, so the in-flight response released afterwards must
    // announce the close.
    let config = |moving: &str| {
        two_listeners(a.addr, b.addr, moving, "second")
            .replace("workers = 2", "workers = 1")
            .replace(
                "[[pool]]\nname = \"a\"",
                &format!("[[pool]]\nname = \"gate\"\nendpoints = [{{ address = \"{gate}\" }}]\n[[pool]]\nname = \"a\""),
            )
    };
    let mut proxy = Proxy::start(&config("gate"));
    let web = proxy.addr_of("web");

    // An idle keep-alive connection, and one with a request in flight.
    let mut idle = TcpStream::connect(web).await.unwrap();
    idle.write_all(b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut idle).await.unwrap().status, 200);
    let mut busy = TcpStream::connect(web).await.unwrap();
    busy.write_all(b"GET /moving HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), arrived)
        .await
        .expect("request reaches the upstream")
        .unwrap();

    let mut probe = [0u8; 1];
    let open = idle.try_read(&mut probe);
    assert!(
        matches!(&open, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the idle connection is open before the reload: {open:?}"
    );

    proxy.reload(&config("b")).unwrap();

    // The idle connection is closed within the grace (1 s) for a last
    // request, without a response: it sent none.
    let rest = wait_closed(&mut idle, Duration::from_secs(2))
        .await
        .expect("idle connection closed after reload");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    // The in-flight request completes, then its connection is closed.
    release.send(()).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), read_response(&mut busy))
        .await
        .unwrap()
        .expect("response");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"gated\n"[..]));
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "the response announces the close:\n{}",
        r.head
    );
    let rest = wait_closed(&mut busy, Duration::from_secs(2))
        .await
        .expect("connection closed after its request");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    // A new connection sees the new routes.
    assert_eq!(fresh_get(web, "/moving").await, (200, "b".into()));
}

/// A config for the binary: one listener on a free port, `/moving` to
/// `{moving}`, the rest to pool "a".
fn binary_config(a: SocketAddr, b: SocketAddr, moving: &str, shutdown_timeout: &str) -> String {
    fill(
        r#"
[global]
workers = 2
shutdown_timeout = "{shutdown_timeout}"
[[listener]]
name = "web"
address = "127.0.0.1:0"
  [[listener.route]]
  name = "moving"
  path_prefix = "/moving"
  pool = "{moving}"
  [[listener.route]]
  name = "rest"
  pool = "a"
[[pool]]
name = "a"
endpoints = [{ address = "{a}" }]
[[pool]]
name = "b"
endpoints = [{ address = "{b}" }]
"#,
        &[
            ("a", a.to_string()),
            ("b", b.to_string()),
            ("moving", moving.into()),
            ("shutdown_timeout", shutdown_timeout.into()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_file_and_a_broken_file_keeps_the_running_config() {
    let (a, b) = (backend("a"), backend("b"));
    let file = TempConfig::new("switchyard.toml", &binary_config(a.addr, b.addr, "a", "5s"));
    let mut proxy = Child::spawn(&["run", "-c", file.path.to_str().unwrap()]);
    let addr = proxy.listening("web").await;
    assert_eq!(fresh_get(addr, "/moving").await, (200, "a".into()));
    // See `signals_sent_as_soon_as_the_proxy_listens_are_handled`.
    proxy.signal_handlers_installed().await;

    file.write(&binary_config(a.addr, b.addr, "b", "5s"));
    proxy.signal(libc::SIGHUP);
    proxy.line_containing("configuration reloaded").await;
    assert_eq!(
        fresh_get(addr, "/moving").await,
        (200, "b".into()),
        "new routes after SIGHUP"
    );
    assert_eq!(fresh_get(addr, "/other").await, (200, "a".into()));

    file.write(
        &binary_config(a.addr, b.addr, "a", "5s")
            .replace("pool = \"a\"\n[[pool]]", "pool = \"nope\"\n[[pool]]"),
    );
    proxy.signal(libc::SIGHUP);
    let refused = proxy.line_containing("reload refused").await;
    assert!(
        refused.contains("the running configuration stays"),
        "{refused}"
    );
    proxy
        .line_containing("uses pool \"nope\", which does not exist")
        .await;
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "the process is still running"
    );
    assert_eq!(
        fresh_get(addr, "/moving").await,
        (200, "b".into()),
        "still the previous config"
    );
    assert_eq!(fresh_get(addr, "/other").await, (200, "a".into()));

    // Settings read only at start: the reload applies the rest and says
    // these need a restart.
    file.write(
        &binary_config(a.addr, b.addr, "a", "5s")
            .replace("workers = 2", "workers = 2\nlog_level = \"debug\""),
    );
    proxy.signal(libc::SIGHUP);
    proxy
        .line_containing("changing log_level needs a restart")
        .await;
    proxy.line_containing("configuration reloaded").await;
    assert_eq!(fresh_get(addr, "/moving").await, (200, "a".into()));

    proxy.signal(libc::SIGTERM);
    assert_eq!(
        proxy.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

/// The binary running with `shutdown_timeout`, and a request for
/// `/slow?ms=slow_ms` that has reached backend `a`.
struct InFlight {
    a: BackendHandle,
    _b: BackendHandle,
    _file: TempConfig,
    proxy: Child,
    addr: SocketAddr,
    s: TcpStream,
}

async fn slow_request_in_flight(shutdown_timeout: &str, slow_ms: u64) -> InFlight {
    let (a, b) = (backend("a"), backend("b"));
    let file = TempConfig::new(
        "switchyard.toml",
        &binary_config(a.addr, b.addr, "a", shutdown_timeout),
    );
    let mut proxy = Child::spawn(&["run", "-c", file.path.to_str().unwrap()]);
    let addr = proxy.listening("web").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET /slow?ms={slow_ms} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    eventually(
        "the slow request reaches the backend",
        Duration::from_secs(5),
        || a.hits() == 1,
    )
    .await;
    InFlight {
        a,
        _b: b,
        _file: file,
        proxy,
        addr,
        s,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_in_flight_request_and_refuses_new_connections() {
    // Bound whole: the backends and the config file must live to the end.
    let InFlight {
        a: _a,
        _b,
        _file,
        mut proxy,
        addr,
        mut s,
    } = slow_request_in_flight("10s", 1500).await;
    let in_flight = tokio::spawn(async move {
        let r = read_response(&mut s).await;
        let closed = wait_closed(&mut s, Duration::from_secs(5)).await;
        (r, closed)
    });

    // See `signals_sent_as_soon_as_the_proxy_listens_are_handled`.
    proxy.signal_handlers_installed().await;
    let signalled = Instant::now();
    proxy.signal(libc::SIGTERM);
    let Some(took) = until_refused(addr, Duration::from_secs(2)).await else {
        panic!(
            "still accepting connections 2 s after SIGTERM (running: {}); output:\n{}",
            proxy.child.try_wait().unwrap().is_none(),
            proxy.output()
        );
    };
    assert!(
        !in_flight.is_finished(),
        "new connections were refused {took:?} after SIGTERM, while draining"
    );
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "still running while the request is in flight"
    );

    let (r, closed) = in_flight.await.unwrap();
    let r = r.expect("the in-flight request gets its response");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"a slept 1500 ms\n"[..])
    );
    assert!(
        closed.is_some(),
        "the connection is closed after the response"
    );
    let status = proxy.exit_within(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exited {:?} after SIGTERM",
        signalled.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_timeout_cuts_requests_that_outlive_it() {
    // Bound whole: the backends and the config file must live to the end.
    let InFlight {
        a: _a,
        _b,
        _file,
        mut proxy,
        addr: _,
        mut s,
    } = slow_request_in_flight("300ms", 5000).await;

    // See `signals_sent_as_soon_as_the_proxy_listens_are_handled`.
    proxy.signal_handlers_installed().await;
    let signalled = Instant::now();
    proxy.signal(libc::SIGTERM);
    let status = proxy.exit_within(Duration::from_secs(4)).await;
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "exited after {took:?}, before the shutdown timeout"
    );
    assert!(
        took < Duration::from_secs(2),
        "exited only after {took:?} (shutdown_timeout 300ms, request 5 s)"
    );
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
    let rest = wait_closed(&mut s, Duration::from_secs(2))
        .await
        .expect("the client's connection is closed");
    assert!(
        rest.is_empty(),
        "no response for the cut request: {}",
        String::from_utf8_lossy(&rest)
    );
    // Its access line says the proxy cut it (`LR`), not that the client
    // left (`DC`).
    let log = proxy.output();
    let line = log
        .lines()
        .find(|l| l.contains("access:") && l.contains("path=/slow"))
        .unwrap_or_else(|| panic!("no access line for the cut request:\n{log}"));
    assert!(line.contains(" status=499 "), "{line}");
    assert!(line.contains(" flags=LR "), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_during_the_drain_stops_at_once() {
    // Bound whole: the backends and the config file must live to the end.
    let InFlight {
        a: _a,
        _b,
        _file,
        mut proxy,
        addr: _,
        mut s,
    } = slow_request_in_flight("60s", 30_000).await;
    proxy.signal_handlers_installed().await;
    proxy.signal(libc::SIGTERM);
    proxy.line_containing("shutting down").await;
    proxy.signal(libc::SIGINT);
    // Not the 30 s the request would take, nor the 60 s of the timeout.
    let status = proxy.exit_within(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
    proxy.line_containing("second signal: stopping now").await;
    assert!(
        wait_closed(&mut s, Duration::from_secs(5)).await.is_some(),
        "the cut request's connection is closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_sent_as_soon_as_the_proxy_listens_are_handled() {
    // A supervisor that reloads or stops the proxy as soon as it reports
    // listening: the signal must be handled (reload; graceful exit 0), not
    // meet the default action (killed) or be lost. A race, so tried ten times.
    let (a, b) = (backend("a"), backend("b"));
    let file = TempConfig::new("switchyard.toml", &binary_config(a.addr, b.addr, "a", "5s"));
    let mut failures = Vec::new();
    for i in 0..10 {
        let mut proxy = Child::spawn(&["run", "-c", file.path.to_str().unwrap()]);
        proxy.listening("web").await;
        if i % 2 == 0 {
            proxy.signal(libc::SIGHUP);
            let limit = Duration::from_secs(5);
            if proxy
                .try_line_containing("configuration reloaded", limit)
                .await
                .is_none()
            {
                let fate = exit_of(&mut proxy).await;
                failures.push(format!(
                    "try {i}: SIGHUP right after startup: no reload, {fate}"
                ));
                continue;
            }
        }
        proxy.signal(libc::SIGTERM);
        let fate = exit_of(&mut proxy).await;
        if fate != "exit code 0" {
            failures.push(format!("try {i}: SIGTERM right after startup: {fate}"));
        }
    }
    assert!(
        failures.is_empty(),
        "signals sent when the proxy reports listening:\n{}",
        failures.join("\n")
    );
}

/// How the child ended ("exit code 0", "killed by signal 15"), or that it
/// is still running 5 s later.
async fn exit_of(proxy: &mut Child) -> String {
    use std::os::unix::process::ExitStatusExt;
    match tokio::time::timeout(Duration::from_secs(5), proxy.child.wait()).await {
        Ok(Ok(s)) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => format!("{s:?}"),
        },
        Ok(Err(e)) => format!("wait failed: {e}"),
        Err(_) => "still running after 5 s (signal lost)".to_owned(),
    }
}
