//! The `switchyard` command as users run it: help, `check` diagnostics,
//! `run` refusing a bad file, and the demo serving real traffic.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;

fn switchyard(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("switchyard runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// 1-based (line, column) of the `nth` (0-based) occurrence of `needle` in
/// `text`, plus `offset` characters.
fn pos(text: &str, needle: &str, nth: usize, offset: usize) -> (usize, usize) {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in text"))
        .0;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap().chars().count() + 1 + offset;
    (line, col)
}

/// Asserts `stderr` has a diagnostic `PATH:LINE:COL: error: MESSAGE` whose
/// block (up to the next blank line) contains `help`.
fn assert_diagnostic(stderr: &str, path: &Path, at: (usize, usize), message: &str, help: &str) {
    let first = format!("{}:{}:{}: error: {message}", path.display(), at.0, at.1);
    let Some(start) = stderr.find(&first) else {
        panic!("missing diagnostic\n  {first}\nin:\n{stderr}");
    };
    let block = stderr[start..].split("\n\n").next().unwrap();
    assert!(
        block.contains(&format!("= help: {help}")),
        "diagnostic without help {help:?}:\n{block}"
    );
}

/// A file with six errors of different kinds (and one warning).
const BAD: &str = r#"[global]
workers = 1

[[listener]]
name = "web"
adress = "127.0.0.1:8080"

  [[listener.route]]
  name = "api"
  path_regex = "^/v[0-9+/"
  pool = "apii"

[[listener]]
name = "admin"
address = "127.0.0.1:9000"

[[listener]]
name = "admin2"
address = "127.0.0.1:9000"

[[listener]]
name = "metrics"
address = "127.0.0.1:99999"

[[pool]]
name = "api"
algorithm = "weighted_round_robin"
endpoints = [{ address = "127.0.0.1:9001", weight = 0 }]
"#;

/// Asserts `stderr` reports every error in [`BAD`] at its exact position.
fn assert_every_error_of_bad(stderr: &str, path: &Path) {
    assert_diagnostic(
        stderr,
        path,
        pos(BAD, "adress", 0, 0),
        "unknown key `adress` in listener \"web\"",
        "did you mean `address`?",
    );
    assert_diagnostic(
        stderr,
        path,
        // regex points at the unclosed `[` inside the pattern.
        pos(BAD, "[0-9+/", 0, 0),
        "invalid regular expression in `path_regex` of route \"api\" in listener \"web\": unclosed character class",
        "fix the pattern",
    );
    assert_diagnostic(
        stderr,
        path,
        pos(BAD, "\"apii\"", 0, 0),
        "route \"api\" in listener \"web\" uses pool \"apii\", which does not exist",
        "did you mean \"api\"?",
    );
    let (first_line, _) = pos(BAD, "\"127.0.0.1:9000\"", 0, 0);
    assert_diagnostic(
        stderr,
        path,
        pos(BAD, "\"127.0.0.1:9000\"", 1, 0),
        &format!(
            "address 127.0.0.1:9000 of listener \"admin2\" is already used by listener \"admin\" (127.0.0.1:9000, line {first_line})"
        ),
        "each listener needs its own address",
    );
    assert_diagnostic(
        stderr,
        path,
        pos(BAD, "\"127.0.0.1:99999\"", 0, 0),
        "invalid address \"127.0.0.1:99999\" for listener \"metrics\": invalid port \"99999\"",
        "a port is a number from 0 to 65535",
    );
    assert_diagnostic(
        stderr,
        path,
        pos(BAD, "weight = 0", 0, "weight = ".len()),
        "`weight` in endpoint #1 in pool \"api\" must be between 1 and 65535, not 0",
        "an endpoint weight is from 1 to 65535",
    );
    assert_eq!(
        stderr.matches(": error: ").count(),
        6,
        "exactly the six errors:\n{stderr}"
    );
    // The summary is a line of its own: whatever follows starts a new one.
    assert!(
        stderr.contains("\n6 errors, 1 warning\n"),
        "summary line:\n{stderr}"
    );
}

#[test]
fn no_arguments_prints_help_mentioning_the_demo() {
    let out = switchyard(&[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap exits 2 when a subcommand is required"
    );
    let help = text(&out.stderr);
    assert!(help.contains("Usage: switchyard <COMMAND>"), "{help}");
    for command in ["run", "check", "demo"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "no `{command}` in:\n{help}"
        );
    }
    assert!(
        help.contains("switchyard demo"),
        "the help points newcomers at the demo:\n{help}"
    );
}

#[test]
fn check_accepts_a_valid_file() {
    let (_held, b) = held_dead_addr();
    let file = TempConfig::new("valid.toml", &simple_config("round_robin", &[b], ""));
    let out = switchyard(&["check", "-c", file.path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{}: configuration is valid\n", file.path.display())
    );
}

#[test]
fn check_reports_every_error_with_its_position_and_help() {
    let file = TempConfig::new("bad.toml", BAD);
    let out = switchyard(&["check", "-c", file.path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "",
        "nothing on stdout for an invalid file"
    );
    let stderr = text(&out.stderr);
    assert_every_error_of_bad(&stderr, &file.path);
    // Each error comes with the offending source line.
    assert!(
        stderr.contains(" 6 | adress = \"127.0.0.1:8080\""),
        "{stderr}"
    );
}

#[test]
fn check_reports_an_unreadable_file() {
    let file = TempConfig::new("exists.toml", "");
    let missing = file.path.with_file_name("missing.toml");
    let out = switchyard(&["check", "-c", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "{}: error: cannot read config file",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("= help: check the path"), "{stderr}");
}

/// `switchyard run -c path`, which must exit (not serve) within 20 s.
async fn run_to_exit(path: &Path, case: &str) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "-c", path.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap_or_else(|_| panic!("`run` {case} must exit, not serve"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_refuses_to_start_with_an_invalid_file() {
    let file = TempConfig::new("bad.toml", BAD);
    let out = run_to_exit(&file.path, "with an invalid file").await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_every_error_of_bad(&stderr, &file.path);
    assert!(
        stderr.ends_with(&format!(
            "switchyard: {}: configuration refused\n",
            file.path.display()
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_its_routes_and_stops_cleanly_on_sigterm() {
    let mut demo = Child::spawn(&["demo", "--listen", "127.0.0.1:0"]);
    let line = demo
        .line_containing("Switchyard demo: listening on http://")
        .await;
    let addr: std::net::SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert_ne!(addr.port(), 0);
    let base = format!("http://{addr}");
    let c = client();

    // Default route: the 90/10 split between stable (demo-a, demo-b) and canary (demo-c).
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (status, be, body) = get(&c, &format!("{base}/")).await;
        assert_eq!(status, 200);
        assert!(
            ["demo-a", "demo-b", "demo-c"].contains(&be.as_str()),
            "{be}"
        );
        assert_eq!(body, format!("{be}\n"));
        seen.insert(be);
    }
    assert!(
        seen.contains("demo-a") && seen.contains("demo-b"),
        "stable pool alternates: {seen:?}"
    );

    // /api/: round robin over demo-a and demo-b.
    let mut api = Vec::new();
    for _ in 0..6 {
        let (status, be, _) = get(&c, &format!("{base}/api/x")).await;
        assert_eq!(status, 200);
        api.push(be);
    }
    assert!(
        api.iter().all(|b| b == "demo-a" || b == "demo-b"),
        "{api:?}"
    );
    assert!(
        api.windows(2).all(|w| w[0] != w[1]),
        "round robin alternates: {api:?}"
    );

    // Header routing: X-Version: beta always reaches demo-c.
    for _ in 0..5 {
        let r = c
            .get(format!("{base}/"))
            .header("x-version", "beta")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-backend"], "demo-c");
    }

    // /echo shows what the proxy added.
    let (status, _, body) = get(&c, &format!("{base}/echo")).await;
    assert_eq!(status, 200);
    assert!(
        body.lines().any(|l| l == "x-forwarded-for: 127.0.0.1"),
        "{body}"
    );
    assert!(
        body.lines().any(|l| l.starts_with("x-request-id: ")),
        "{body}"
    );

    // `demo` installs its signal handlers only after it starts serving
    // (see lifecycle.rs, `signals_sent_as_soon_as_the_proxy_listens_are_handled`).
    demo.signal_handlers_installed().await;
    demo.signal(libc::SIGTERM);
    let status = demo.exit_within(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", demo.output());
}

#[test]
fn demo_print_config_passes_check() {
    let out = switchyard(&["demo", "--print-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let config = text(&out.stdout);
    assert!(
        config.contains("[[listener]]") && config.contains("[[pool]]"),
        "{config}"
    );
    assert!(
        !config.contains("{a}"),
        "placeholders are filled in:\n{config}"
    );
    assert!(
        config.starts_with("# The endpoint addresses below are ephemeral ports"),
        "the printed addresses are said to be this run's only:\n{config}"
    );
    let file = TempConfig::new("demo.toml", &config);
    let out = switchyard(&["check", "-c", file.path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{}: configuration is valid\n", file.path.display())
    );
}

/// Every shipped configuration (examples/, bench/) passes `check`, so the
/// docs never point at a broken file.
#[test]
fn shipped_configs_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in ["examples", "bench"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            // The benchmark's TLS listener reads run.py's certificate from
            // /tmp/swbench; check it against the example certificate.
            let text_in = std::fs::read_to_string(&path).unwrap();
            let checked_path = if text_in.contains("/tmp/swbench/") {
                let certs = root.join("examples/certs");
                let rewritten = text_in
                    .replace(
                        "/tmp/swbench/cert.pem",
                        certs.join("site.pem").to_str().unwrap(),
                    )
                    .replace(
                        "/tmp/swbench/key.pem",
                        certs.join("site.key").to_str().unwrap(),
                    );
                let copy = std::env::temp_dir().join(format!(
                    "switchyard-shipped-{}-{}",
                    std::process::id(),
                    path.file_name().unwrap().to_str().unwrap()
                ));
                std::fs::write(&copy, rewritten).unwrap();
                copy
            } else {
                path.clone()
            };
            let out = switchyard(&["check", "-c", checked_path.to_str().unwrap()]);
            if checked_path != path {
                let _ = std::fs::remove_file(&checked_path);
            }
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}:\n{}",
                path.display(),
                text(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} configs found");
}

/// A TLS listener config whose one certificate is `cert`/`key` as written.
fn tls_config(cert: &str, key: &str) -> String {
    format!(
        r#"[[listener]]
name = "web"
address = "127.0.0.1:0"
  [listener.tls]
  certificates = [{{ cert = {cert}, key = {key} }}]
  [[listener.route]]
  name = "all"
  pool = "p"

[[pool]]
name = "p"
endpoints = [{{ address = "127.0.0.1:9" }}]
"#
    )
}

const CERT_HELP: &str = "point `cert` at the PEM certificate chain (leaf first) and `key` at its private key (PKCS#8, PKCS#1 or SEC1 PEM)";

#[test]
fn check_reports_a_missing_certificate_file_at_its_position() {
    use common::tls::*;
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let site = ca
        .issue(LeafSpec::server("site", &["site.example.com"]))
        .write(&dir, "site");
    let missing = dir.file("missing.pem");
    let cert = toml_path(&missing);
    let toml = tls_config(&cert, &toml_path(&site.key));
    let file = TempConfig::new("tls.toml", &toml);
    let out = switchyard(&["check", "-c", file.path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_diagnostic(
        &stderr,
        &file.path,
        pos(&toml, &cert, 0, 0),
        &format!(
            "certificate #1 in [listener.tls] of listener \"web\": cannot read {}: No such file or directory (os error 2)",
            missing.display()
        ),
        CERT_HELP,
    );
    assert_eq!(stderr.matches(": error: ").count(), 1, "{stderr}");
}

#[test]
fn check_reports_a_key_that_does_not_match_its_certificate_at_the_key() {
    use common::tls::*;
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let site = ca
        .issue(LeafSpec::server("site", &["site.example.com"]))
        .write(&dir, "site");
    let other = ca
        .issue(LeafSpec::server("other", &["site.example.com"]))
        .write(&dir, "other");
    let key = toml_path(&other.key);
    let toml = tls_config(&toml_path(&site.cert), &key);
    let file = TempConfig::new("tls.toml", &toml);
    let out = switchyard(&["check", "-c", file.path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_diagnostic(
        &text(&out.stderr),
        &file.path,
        pos(&toml, &key, 0, 0),
        &format!(
            "certificate #1 in [listener.tls] of listener \"web\": the private key in {} does not match the certificate in {}",
            other.key.display(),
            site.cert.display()
        ),
        CERT_HELP,
    );
}

#[test]
fn check_resolves_relative_certificate_paths_against_the_config_directory() {
    use common::tls::*;
    let toml = tls_config("\"certs/site.pem\"", "\"certs/site.key\"");
    let file = TempConfig::new("tls.toml", &toml);
    let dir = file.path.parent().unwrap();
    let check_from_root = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["check", "-c", file.path.to_str().unwrap()])
            .current_dir("/")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    // Not there yet: the error names the path resolved against the
    // config's directory (not the working directory, `/`).
    let out = check_from_root();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot read {}",
            dir.join("certs/site.pem").display()
        )),
        "{stderr}"
    );

    std::fs::create_dir(dir.join("certs")).unwrap();
    let site = Ca::new("Test CA").issue(LeafSpec::server("site", &["site.example.com"]));
    std::fs::write(dir.join("certs/site.pem"), &site.cert_pem).unwrap();
    std::fs::write(dir.join("certs/site.key"), &site.key_pem).unwrap();
    let out = check_from_root();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn check_refuses_tls_versions_below_1_2() {
    use common::tls::*;
    let dir = TempDir::new();
    let site = Ca::new("Test CA")
        .issue(LeafSpec::server("site", &["site.example.com"]))
        .write(&dir, "site");
    let toml = tls_config(&toml_path(&site.cert), &toml_path(&site.key)).replace(
        "  [[listener.route]]",
        "  min_version = \"1.1\"\n  [[listener.route]]",
    );
    let file = TempConfig::new("tls.toml", &toml);
    let out = switchyard(&["check", "-c", file.path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_diagnostic(
        &text(&out.stderr),
        &file.path,
        pos(&toml, "\"1.1\"", 0, 0),
        "unsupported min_version \"1.1\" in [listener.tls] of listener \"web\"",
        "TLS 1.0 and 1.1 are not supported (insecure): use \"1.2\" or \"1.3\"",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_names_a_busy_address_once_and_exits() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let file = TempConfig::new(
        "busy.toml",
        &format!(
            "[[listener]]\nname = \"web\"\naddress = \"{addr}\"\n  [[listener.route]]\n  pool = \"p\"\n\
             [[pool]]\nname = \"p\"\nendpoints = [{{ address = \"127.0.0.1:9\" }}]\n"
        ),
    );
    let out = run_to_exit(&file.path, "on a busy address").await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "listener \"web\": cannot listen on {addr}: Address already in use"
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "{stderr}"
    );
}
