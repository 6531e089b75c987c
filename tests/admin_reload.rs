//! `switchyard reload` and `switchyard status` against the real binary's
//! admin socket: a reload asked for there is applied like SIGHUP's, and
//! its outcome comes back to the operator (what changed, or every error
//! with its position, exit status 1, the running configuration kept);
//! `status` counts the reloads.

mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use common::*;
use switchyard::demo::BackendHandle;

fn config(socket: &str, a: SocketAddr, b: SocketAddr, pool: &str) -> String {
    fill(
        r#"
[global]
workers = 1
control_socket = "{socket}"
[[listener]]
name = "web"
address = "127.0.0.1:0"
  [[listener.route]]
  pool = "{pool}"
[[pool]]
name = "a"
endpoints = [{ address = "{a}" }]
[[pool]]
name = "b"
endpoints = [{ address = "{b}" }]
"#,
        &[
            ("socket", socket.into()),
            ("a", a.to_string()),
            ("b", b.to_string()),
            ("pool", pool.into()),
        ],
    )
}

/// Runs `switchyard ARGS...` to its end (off the test's runtime threads).
async fn admin(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    within(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
                .args(&args)
                .output()
                .expect("switchyard runs")
        }),
    )
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Backends "a" and "b", and the binary running [`config`] (route to
/// "a") from a file in a fresh directory, its admin socket and listener
/// up.
struct Running {
    a: BackendHandle,
    b: BackendHandle,
    _dir: TempDir,
    socket: String,
    file: std::path::PathBuf,
    proxy: Child,
    addr: SocketAddr,
}

async fn running() -> Running {
    let (a, b) = (backend("a"), backend("b"));
    let dir = TempDir::new();
    let socket = dir.path.join("control.sock").to_str().unwrap().to_owned();
    let file = dir.write("sy.toml", config(&socket, a.addr, b.addr, "a"));
    let mut proxy = Child::spawn(&["run", "-c", file.to_str().unwrap()]);
    // The admin socket comes up before the listeners.
    proxy.line_containing("admin socket listening").await;
    let addr = proxy.listening("web").await;
    Running {
        a,
        b,
        _dir: dir,
        socket,
        file,
        proxy,
        addr,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_on_the_admin_socket_applies_the_file_and_reports_errors() {
    let Running {
        a,
        b,
        _dir,
        socket,
        file,
        mut proxy,
        addr,
    } = running().await;
    let socket = socket.as_str();
    let url = format!("http://{addr}/");
    assert_eq!(get(&client(), &url).await.1, "a");

    // A valid change: applied, and the answer says what it changed.
    std::fs::write(&file, config(socket, a.addr, b.addr, "b")).unwrap();
    let out = admin(&["reload", "-s", socket]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("configuration reloaded"), "{said}");
    assert!(said.contains(r#"kept ["web"]"#), "{said}");
    assert_eq!(get(&client(), &url).await.1, "b", "the new route serves");

    // A broken file: exit 1 with the error at its position; the running
    // configuration stays.
    let broken = config(socket, a.addr, b.addr, "nope");
    std::fs::write(&file, &broken).unwrap();
    let out = admin(&["reload", "-s", socket]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("the running configuration stays"), "{err}");
    let line = broken
        .lines()
        .position(|l| l.contains("\"nope\""))
        .map(|i| i + 1)
        .unwrap();
    assert!(
        err.contains(&format!("sy.toml:{line}:")),
        "the error names its line {line}: {err}"
    );
    assert!(err.contains("\"nope\""), "{err}");
    assert_eq!(
        get(&client(), &url).await.1,
        "b",
        "still the previous config"
    );

    let out = admin(&["status", "-s", socket]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = text(&out.stdout);
    assert!(
        status.contains(&format!("pid {}", proxy.child.id().unwrap())),
        "{status}"
    );
    assert!(
        status.contains(&format!("config {}", file.display())),
        "{status}"
    );
    assert!(status.contains("reloads 1 ok, 1 failed"), "{status}");
    // The last reload's first error, not only that it was refused.
    let last = status
        .lines()
        .find(|l| l.starts_with("reloads "))
        .unwrap_or_default();
    assert!(
        last.contains("failed: ") && last.contains("\"nope\""),
        "{status}"
    );
    assert!(status.contains("web=127.0.0.1:0"), "{status}");

    proxy.signal(libc::SIGTERM);
    assert_eq!(
        proxy.exit_within(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_without_a_process_on_the_socket_says_so() {
    let dir = TempDir::new();
    let socket = dir.path.join("control.sock");
    let out = admin(&["reload", "-s", socket.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("is switchyard running with this socket"),
        "{err}"
    );
}

/// A pool with `insecure_skip_verify` is warned about at start and at
/// every reload, by name.
#[tokio::test(flavor = "multi_thread")]
async fn insecure_skip_verify_is_warned_about_at_every_load() {
    let (a, b) = (backend("a"), backend("b"));
    let dir = TempDir::new();
    let socket = dir.path.join("control.sock");
    let socket = socket.to_str().unwrap();
    // The last pool is "b": its TLS table goes at the end.
    let cfg = config(socket, a.addr, b.addr, "a") + "  [pool.tls]\n  insecure_skip_verify = true\n";
    let file = dir.write("sy.toml", &cfg);
    let mut proxy = Child::spawn(&["run", "-c", file.to_str().unwrap()]);
    let warned = proxy
        .line_containing("verification of upstream certificates is disabled")
        .await;
    assert!(
        warned.contains("WARN") && warned.contains("pool=b"),
        "{warned}"
    );
    proxy.line_containing("admin socket listening").await;
    let out = admin(&["reload", "-s", socket]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = proxy
        .line_containing("verification of upstream certificates is disabled")
        .await;
    assert!(again.contains("pool=b"), "{again}");
}

/// Settings read only at start (`workers`, `log_level`): `reload` applies
/// the rest and says which ones wait for a restart; `status` shows what
/// runs, not what the file says; reverting the file is no change, and
/// the log says so without a false "running" value.
#[tokio::test(flavor = "multi_thread")]
async fn restart_only_settings_are_reported_by_reload_and_kept_by_status() {
    let Running {
        a,
        b,
        _dir,
        socket,
        file,
        mut proxy,
        addr,
    } = running().await;
    let socket = socket.as_str();

    let changed = config(socket, a.addr, b.addr, "b")
        .replace("workers = 1", "workers = 2\nlog_level = \"debug\"");
    std::fs::write(&file, changed).unwrap();
    let out = admin(&["reload", "-s", socket]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("needs a restart: workers: 2 configured, 1 running until a restart"),
        "{said}"
    );
    assert!(
        said.contains(
            r#"needs a restart: log_level: "debug" configured, "info" running until a restart"#
        ),
        "{said}"
    );
    // The rest of the file applies.
    assert_eq!(get(&client(), &format!("http://{addr}/")).await.1, "b");
    let status = text(&admin(&["status", "-s", socket]).await.stdout);
    assert!(status.contains("\nworkers 1\n"), "{status}");

    // Back to the running values: nothing needs a restart.
    std::fs::write(&file, config(socket, a.addr, b.addr, "b")).unwrap();
    let out = admin(&["reload", "-s", socket]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(!said.contains("needs a restart"), "{said}");

    proxy.signal(libc::SIGTERM);
    let _ = proxy.exit_within(Duration::from_secs(10)).await;
    let log = proxy.output();
    assert_eq!(
        log.matches("changing log_level needs a restart").count(),
        1,
        "{log}"
    );
}
