//! The real binary's log output: it never blocks the proxy (stdout a pipe
//! that nobody reads for a while, like a stalled journald or terminal, and
//! every access line is there once it is read again), and a client cannot
//! add lines to it at the default level.

mod common;

use std::time::Duration;

use common::tls::*;
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout};

/// More access lines than a pipe holds (64 KiB at about 250 bytes a line),
/// fewer than the log queue holds, so none is dropped.
const REQUESTS: usize = 3000;

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_stdout_does_not_stop_the_proxy_and_loses_no_access_line() {
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = access_logged(&tmp, b.addr, "");
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;

    // Sequential keep-alive requests, each with its own path: with a
    // blocking log write the worker would stop once the pipe is full.
    let mut s = TcpStream::connect(addr).await.unwrap();
    within(Duration::from_secs(60), async {
        for i in 0..REQUESTS {
            let req = format!("GET /req-{i} HTTP/1.1\r\nHost: a\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let resp = read_response(&mut s)
                .await
                .unwrap_or_else(|| panic!("request {i}: connection closed"));
            assert_eq!(resp.status, 200, "request {i}");
        }
    })
    .await;
    // Now read: every request's access line arrives.
    let mut seen = vec![false; REQUESTS];
    let mut left = REQUESTS;
    within(Duration::from_secs(30), async {
        let mut line = String::new();
        while left > 0 {
            line.clear();
            assert!(out.read_line(&mut line).await.unwrap() > 0, "output ended");
            assert!(!line.contains("log lines dropped"), "{line}");
            if let Some(rest) = line.split("path=/req-").nth(1) {
                let i: usize = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap();
                if !seen[i] {
                    seen[i] = true;
                    left -= 1;
                }
            }
        }
    })
    .await;
    let _ = child.start_kill();
}

/// A config in `tmp`: listener "web" with its access log on and `extra`
/// keys, to `backend`.
fn access_logged(tmp: &TempDir, backend: std::net::SocketAddr, extra: &str) -> std::path::PathBuf {
    tmp.write(
        "sy.toml",
        proxy_config(
            1,
            &[
                listener("web", extra, "", "p").replace("access_log = false", "access_log = true"),
                pool("p", &[backend], ""),
            ],
        ),
    )
}

/// Starts the binary on `cfg` with its stdout piped, and reads up to the
/// line saying listener "web" listens: returns the child, the rest of its
/// output and that address.
async fn spawn_switchyard(
    cfg: &std::path::Path,
) -> (Child, BufReader<ChildStdout>, std::net::SocketAddr) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("run")
        .arg("-c")
        .arg(cfg)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("switchyard starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let addr = within(Duration::from_secs(20), async {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                out.read_line(&mut line).await.unwrap() > 0,
                "no listening line"
            );
            if let Some(rest) = line.split("listening listener=web address=").nth(1) {
                let a = rest.split_whitespace().next().unwrap();
                return a.parse::<std::net::SocketAddr>().unwrap();
            }
        }
    })
    .await;
    (child, out, addr)
}

/// SIGTERM: the process drains, writes what is queued and exits; returns
/// its output to the end, which holds every line logged before the signal.
async fn stop_and_read(child: &Child, out: &mut BufReader<ChildStdout>) -> String {
    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut rest = String::new();
    within(Duration::from_secs(30), out.read_to_string(&mut rest))
        .await
        .unwrap();
    assert!(
        rest.contains("stopped"),
        "the output runs to the exit: {rest}"
    );
    rest
}

/// Reads `out` (up to 10 s) to the next line containing `needle`.
async fn line_with(out: &mut BufReader<ChildStdout>, needle: &str) -> String {
    within(Duration::from_secs(10), async {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(out.read_line(&mut line).await.unwrap() > 0, "output ended");
            if line.contains(needle) {
                return line;
            }
        }
    })
    .await
}

/// The first flight of a rustls client whose SNI name is `127.0.0.1`, as
/// wrk and curl send it (rustls itself never puts an IP address there): a
/// hello for a 9-letter DNS name with the name's bytes replaced.
fn hello_with_ip_sni() -> Vec<u8> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("abcdefghi").unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    let at = hello
        .windows(9)
        .position(|w| w == b"abcdefghi")
        .expect("the name is in the hello");
    hello[at..at + 9].copy_from_slice(b"127.0.0.1");
    hello
}

/// The binary with one TLS listener (`site`'s certificate) in front of
/// `backend`.
async fn spawn_tls_switchyard(
    site: &Site,
    backend: std::net::SocketAddr,
) -> (Child, BufReader<ChildStdout>, std::net::SocketAddr) {
    let cfg = site.dir.write(
        "sy.toml",
        web_config("", &certificates(&[cert(&site.files)]), backend),
    );
    spawn_switchyard(&cfg).await
}

/// rustls logs "Illegal SNI extension" at WARN for every such hello: at the
/// default level Switchyard keeps rustls's per-connection lines out.
#[tokio::test(flavor = "multi_thread")]
async fn clients_sending_an_ip_address_as_sni_add_no_log_lines() {
    let site = Site::new();
    let b = backend("b");
    let (child, mut out, addr) = spawn_tls_switchyard(&site, b.addr).await;
    let hello = hello_with_ip_sni();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&hello).await.unwrap();
        // The server answers the hello (a ServerHello record): it was read
        // and parsed, SNI and all.
        let mut first = [0u8; 1];
        within(Duration::from_secs(10), s.read_exact(&mut first))
            .await
            .unwrap();
        assert_eq!(first[0], 22, "a handshake record");
    }
    let rest = stop_and_read(&child, &mut out).await;
    assert!(
        !rest.contains("rustls") && !rest.contains("SNI"),
        "a client added log lines:\n{rest}"
    );
}

/// A client opening connections beyond `max_connections` as fast as it can
/// gets each one closed, and adds one line per 5 s, not one per connection.
#[tokio::test(flavor = "multi_thread")]
async fn connections_refused_at_max_connections_are_logged_once_per_period() {
    const REFUSED: usize = 30;
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = tmp.write(
        "sy.toml",
        proxy_config(
            1,
            &[
                listener("web", "max_connections = 1", "", "p"),
                pool("p", &[b.addr], ""),
            ],
        ),
    );
    let (child, mut out, addr) = spawn_switchyard(&cfg).await;
    let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    // The one connection allowed, kept open.
    let mut held = TcpStream::connect(addr).await.unwrap();
    held.write_all(req).await.unwrap();
    let resp = read_response(&mut held).await.expect("a response");
    assert_eq!(resp.status, 200);
    for i in 0..REFUSED {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(req).await.unwrap();
        let mut buf = Vec::new();
        let n = within(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
        assert!(
            matches!(n, Ok(0)) || n.is_err(),
            "connection {i} was served: {:?}",
            String::from_utf8_lossy(&buf)
        );
    }
    let rest = stop_and_read(&child, &mut out).await;
    let lines = rest
        .lines()
        .filter(|l| l.contains("max_connections reached"))
        .count();
    // One, or two if the refusals straddled a 5 s period.
    assert!(
        (1..=2).contains(&lines),
        "{lines} lines for {REFUSED} refusals:\n{rest}"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_whose_client_leaves_before_the_response_is_logged_as_499() {
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = access_logged(&tmp, b.addr, "");
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /slow?ms=20000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || b.hits() == 1).await,
        "the request reaches the backend"
    );
    drop(s);
    // The proxy notices the client's close while waiting for the backend
    // (from its next sweep, one to two seconds) and writes the line then,
    // not when the backend would have answered.
    let line = line_with(&mut out, "path=/slow").await;
    assert!(line.contains("status=499"), "{line}");
    assert!(
        !line.contains("response_us="),
        "no response, no time: {line}"
    );
    assert!(line.contains("complete=false"), "{line}");
    assert!(line.contains("bytes=0"), "{line}");
    assert!(line.contains(" flags=DC "), "the client left: {line}");
    let _ = child.start_kill();
}

/// The access line says which protocol the client spoke, when the
/// response head was ready (`response_us`, here the backend's 150 ms) as
/// well as the whole duration, and the client's `User-Agent`, quoted.
#[tokio::test(flavor = "multi_thread")]
async fn access_lines_name_the_protocol_response_time_and_user_agent() {
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = access_logged(&tmp, b.addr, "http2 = true");
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    install_crypto();
    for (client, proto) in [
        (reqwest::Client::builder().http1_only(), "HTTP/1.1"),
        (reqwest::Client::builder().http2_prior_knowledge(), "HTTP/2"),
    ] {
        let client = client
            .no_proxy()
            .user_agent("test agent/1 (\"x\")")
            .build()
            .unwrap();
        let resp = client
            .get(format!("http://{addr}/slow?ms=150"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        let line = line_with(&mut out, "path=/slow").await;
        assert!(line.contains(&format!(" proto={proto} ")), "{line}");
        assert!(line.contains(" flags=- "), "nothing went wrong: {line}");
        assert!(
            line.contains(r#" user_agent="test agent/1 (\"x\")""#),
            "{line}"
        );
        let field = |name: &str| -> u64 {
            let at = line.find(&format!(" {name}=")).expect(name) + name.len() + 2;
            line[at..]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .expect(name)
        };
        let (response, duration) = (field("response_us"), field("duration_us"));
        assert!(
            (150_000..=duration).contains(&response),
            "response_us {response}, duration_us {duration}: {line}"
        );
    }
    let _ = child.start_kill();
}

/// Heads refused before the proxy's service sees them (by the own reader
/// over a limit, by hyper when unreadable) are logged like the proxy's own
/// refusals: INFO `request refused` with the status, and an access line
/// (with the body bytes sent, where the own reader answers).
#[tokio::test(flavor = "multi_thread")]
async fn requests_refused_by_the_http_parser_are_logged() {
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = access_logged(&tmp, b.addr, "max_header_bytes = 4096");
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(8000)
    );
    for (request, status) in [
        (big.as_bytes(), 431),
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"[..],
            400,
        ),
    ] {
        let resp = raw(addr, request).await;
        assert_eq!(status_of(&resp), status, "{resp}");
        // The refusal is logged first, then its access line.
        let refused = line_with(&mut out, "request refused").await;
        assert!(refused.contains(&format!("status={status}")), "{refused}");
        let access = line_with(&mut out, "access:").await;
        assert!(access.contains(&format!("status={status}")), "{access}");
        assert!(access.contains("method=-"), "{access}");
        assert!(access.contains(" flags=DPE "), "{access}");
        if status == 431 {
            let body = "431 request header fields too large\n";
            assert!(resp.ends_with(body), "{resp}");
            assert!(
                access.contains(&format!(" bytes={} ", body.len())),
                "{access}"
            );
        }
    }
    assert_eq!(b.hits(), 0);
    let _ = child.start_kill();
}

/// A head that does not arrive whole within `request_header_timeout`
/// (slowloris) gets 408 and shows in the log like other refusals, with
/// flag `DT`.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_cut_by_its_timeout_is_logged() {
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = access_logged(&tmp, b.addr, "request_header_timeout = \"300ms\"");
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    // Half a head, then nothing: the proxy answers and closes.
    let resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: a").await;
    assert_eq!(status_of(&resp), 408, "{resp}");
    let refused = line_with(&mut out, "request refused").await;
    assert!(refused.contains("status=408"), "{refused}");
    assert!(refused.contains("not received in time"), "{refused}");
    let access = line_with(&mut out, "access:").await;
    assert!(access.contains(" status=408 "), "{access}");
    assert!(access.contains("method=-"), "{access}");
    assert!(access.contains(" flags=DT "), "{access}");
    // The body sent, and the time from the head's first byte to the cut.
    assert!(
        resp.ends_with("\r\n\r\n408 request header timeout\n"),
        "{resp}"
    );
    assert!(access.contains(" bytes=27 "), "{access}");
    let duration: u64 = access
        .split(" duration_us=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("duration_us");
    // (The timer may fire up to its 1 ms tick early.)
    assert!(duration >= 290_000, "{access}");
    assert_eq!(b.hits(), 0);
    let _ = child.start_kill();
}

/// An upstream that breaks off a response body: the client gets what
/// came (head and partial body) then the close, and the upstream is named
/// in a WARN line (the access line alone says only `complete=false`, as
/// for a client that left).
#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_cutting_its_response_body_is_logged_as_a_warning() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
                answer.extend_from_slice(&[b'x'; 50]);
                let _ = s.write_all(&answer).await;
                // Closed with half the body sent.
            });
        }
    });
    let tmp = TempDir::new();
    let cfg = access_logged(&tmp, up, "");
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    // The client gets the head and the half body that came, then the
    // close: a body short of its length, never nothing at all.
    for _ in 0..5 {
        let resp = raw(addr, b"GET /cut HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp:?}");
        assert_eq!(resp.split("\r\n\r\n").nth(1), Some("x".repeat(50).as_str()));
    }
    let warned = line_with(&mut out, "upstream response body failed").await;
    assert!(warned.contains("WARN"), "{warned}");
    assert!(warned.contains(&format!("endpoint={up}")), "{warned}");
    let access = line_with(&mut out, "path=/cut").await;
    assert!(access.contains("complete=false"), "{access}");
    assert!(
        access.contains(" flags=UC "),
        "the upstream broke off: {access}"
    );
    let _ = child.start_kill();
}

/// Plain HTTP on a TLS listener is said at INFO, once per period however
/// often a client repeats it.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_on_a_tls_listener_is_logged_once_per_period() {
    let site = Site::new();
    let b = backend("b");
    let (child, mut out, addr) = spawn_tls_switchyard(&site, b.addr).await;
    for _ in 0..20 {
        let resp = raw(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert_eq!(status_of(&resp), 400, "{resp}");
    }
    let rest = stop_and_read(&child, &mut out).await;
    let lines = rest
        .lines()
        .filter(|l| l.contains("plain HTTP request on a TLS listener"))
        .count();
    assert!((1..=2).contains(&lines), "{lines} lines:\n{rest}");
    assert_eq!(b.hits(), 0);
}

/// The access line's `flags` say what went wrong with a request the proxy
/// answered itself: no route (NR), a failed connect (UF), an upstream
/// closing before its answer (UC), a malformed request (DPE).
#[tokio::test(flavor = "multi_thread")]
async fn access_lines_flag_what_went_wrong() {
    let (_held, dead) = held_dead_addr();
    let closes = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closing = closes.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = closes.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
        }
    });
    let tmp = TempDir::new();
    let cfg = tmp.write(
        "sy.toml",
        proxy_config(
            1,
            &[
                listener_routes(
                    "web",
                    "",
                    "",
                    &[
                        route("dead", "/dead", "dead"),
                        route("closes", "/closes", "closes"),
                    ],
                )
                .replace("access_log = false", "access_log = true"),
                pool("dead", &[dead], ""),
                pool("closes", &[closing], ""),
            ],
        ),
    );
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    for (path, status, flags) in [
        ("/nothing", 404, "NR"),
        ("/dead", 502, "UF"),
        ("/closes", 502, "UC"),
        ("/dead?a b", 400, "DPE"),
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let resp = raw(addr, req.as_bytes()).await;
        assert_eq!(status_of(&resp), status, "{path}: {resp}");
        let line = line_with(&mut out, "access:").await;
        assert!(line.contains(&format!("status={status}")), "{line}");
        assert!(line.contains(&format!(" flags={flags} ")), "{path}: {line}");
    }
    let _ = child.start_kill();
}

/// A client's `X-Request-Id` cannot forge access-log fields: one with
/// spaces is replaced by a generated id (the default), and where ids are
/// passed through untouched (`request_id = false`) it is logged quoted.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_id_with_spaces_cannot_forge_access_log_fields() {
    let b = backend("b");
    for (pass_through, expect) in [
        (false, None),
        (true, Some(r#" request_id="x status=500 pool=evil" "#)),
    ] {
        let tmp = TempDir::new();
        let extra = if pass_through {
            "request_id = false"
        } else {
            ""
        };
        let cfg = access_logged(&tmp, b.addr, extra);
        let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
        let resp = raw(
            addr,
            b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Request-Id: x status=500 pool=evil\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        let line = line_with(&mut out, "path=/echo").await;
        // Outside quoted values, each field appears once.
        let unquoted: String = line.split('"').step_by(2).collect();
        assert_eq!(unquoted.matches(" status=").count(), 1, "{line}");
        assert_eq!(unquoted.matches(" pool=").count(), 1, "{line}");
        assert!(line.contains(" status=200 "), "{line}");
        match expect {
            Some(quoted) => {
                assert!(line.contains(quoted), "{line}");
                assert!(
                    resp.contains("x-request-id: x status=500 pool=evil"),
                    "{resp}"
                );
            }
            None => {
                let id = line
                    .split(" request_id=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap();
                assert_eq!(id.len(), 32, "{line}");
                assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{line}");
                assert!(
                    resp.contains(&format!("x-request-id: {id}")),
                    "the backend got the new id: {resp}"
                );
            }
        }
        let _ = child.start_kill();
    }
}

/// A malformed HTTP/2 request (a space in `:path`) is reset by the own
/// server and logged like the HTTP/1.1 parser's refusals: INFO `request
/// refused` and an access line with `proto=HTTP/2` and flag `DPE`.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_http2_requests_are_logged() {
    use common::h2::{END_HEADERS, END_STREAM, HEADERS, PREFACE, SETTINGS, frame, get_block};
    let b = backend("b");
    let tmp = TempDir::new();
    let cfg = access_logged(&tmp, b.addr, "http2 = true");
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    hello.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &get_block("a", "/a b"),
    ));
    tokio::io::AsyncWriteExt::write_all(&mut s, &hello)
        .await
        .unwrap();
    let refused = line_with(&mut out, "request refused").await;
    assert!(refused.contains("status=400"), "{refused}");
    let access = line_with(&mut out, "access:").await;
    assert!(access.contains(" proto=HTTP/2 "), "{access}");
    assert!(access.contains(" flags=DPE "), "{access}");
    assert_eq!(b.hits(), 0);
    drop(s);
    let _ = child.start_kill();
}

/// A TCP (L4) connection closed before the relay starts (here: every
/// endpoint refuses the connect) gets its access line too, saying why,
/// like an HTTP request the proxy refuses.
#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_connection_refused_before_the_relay_is_logged() {
    let (_held, dead) = held_dead_addr();
    let tmp = TempDir::new();
    let cfg = tmp.write(
        "sy.toml",
        format!(
            "[global]\nworkers = 1\n[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n\
             protocol = \"tcp\"\npool = \"p\"\n[[pool]]\nname = \"p\"\nendpoints = [\"{dead}\"]\n"
        ),
    );
    let (mut child, mut out, addr) = spawn_switchyard(&cfg).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = within(Duration::from_secs(10), c.read(&mut buf)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "data from a dead pool: {n:?}");
    let access = line_with(&mut out, "access:").await;
    assert!(access.contains(" listener=web "), "{access}");
    assert!(access.contains(" pool=p endpoint= "), "{access}");
    assert!(access.contains(" bytes_up=0 bytes_down=0 "), "{access}");
    assert!(
        access.contains("end=\"refused: every endpoint of pool p failed to connect"),
        "{access}"
    );
    let _ = child.start_kill();
}
