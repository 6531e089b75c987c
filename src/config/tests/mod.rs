//! Loader tests: a full valid config, rendering, and the test helpers;
//! one test per error kind in `errors.rs`, warnings and "report everything
//! at once" in `warnings.rs`.

mod docs;
mod errors;
mod lifetimes;
mod mistakes;
mod tls;
mod vip;
mod warnings;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::balance::Algorithm;

/// Resolves `backend.internal` and `localhost` without DNS; nothing else.
pub(super) fn resolver(host_port: &str) -> io::Result<Vec<SocketAddr>> {
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    let port: u16 = port.parse().expect("port");
    match host {
        "backend.internal" => Ok(vec![SocketAddr::from(([10, 0, 0, 8], port))]),
        "localhost" => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
        _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
    }
}

pub(super) fn load(text: &str) -> Result<Loaded, ConfigError> {
    load_str_with_resolver("test.toml", text, &resolver)
}

/// The errors of a config that must not load.
pub(super) fn errors(text: &str) -> Vec<Diagnostic> {
    match load(text) {
        Ok(_) => panic!("config loaded but should not:\n{text}"),
        Err(e) => e.errors().cloned().collect(),
    }
}

/// The single error of a config; fails if there are more.
pub(super) fn the_error(text: &str) -> Diagnostic {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{}", render_all(&errors));
    errors.into_iter().next().expect("one error")
}

/// Asserts position, message and help of a diagnostic.
#[track_caller]
pub(super) fn check(d: &Diagnostic, line: usize, col: usize, message: &str, help: &str) {
    assert_eq!((d.line, d.col), (line, col), "{}", d.render());
    assert_eq!(d.message, message, "{}", d.render());
    assert_eq!(d.help.as_deref(), Some(help), "{}", d.render());
}

/// A minimal valid config with one listener, one route and one pool.
pub(super) const MINIMAL: &str = r#"
[[listener]]
name = "web"
address = "127.0.0.1:0"
  [[listener.route]]
  pool = "api"

[[pool]]
name = "api"
endpoints = [{ address = "127.0.0.1:9001" }]
"#;

/// MINIMAL with `extra` after the listener's address (line 4), so `extra`
/// starts on line 5.
pub(super) fn listener_with(extra: &str) -> String {
    MINIMAL.replacen(
        "address = \"127.0.0.1:0\"\n",
        &format!("address = \"127.0.0.1:0\"\n{extra}\n"),
        1,
    )
}

/// MINIMAL with `extra` appended to the pool table (from line 11).
pub(super) fn pool_with(extra: &str) -> String {
    format!("{MINIMAL}{extra}\n")
}

const FULL: &str = r#"
[global]
workers = 3
shutdown_timeout = "45s"
log_level = "info,switchyard=debug"

[[listener]]
name = "web"
address = "127.0.0.1:8080"
protocol = "http"
backlog = 512
access_log = false
max_header_bytes = 32768
max_headers = 50
max_uri_bytes = 4096
request_header_timeout = "5s"
idle_timeout = "1m30s"
request_body_timeout = "20s"
send_timeout = "45s"

  [[listener.route]]
  name = "api"
  host = ["API.example.com", "*.Example.org"]
  path_prefix = "/api/"
  methods = ["GET", "POST"]
  headers = [ { name = "X-Canary", exact = "1" }, { name = "x-debug", present = true }, { name = "x-user", regex = "^u" } ]
  cookies = [ { name = "beta", exact = "yes" } ]
  query   = [ { name = "debug", present = false } ]
  pool = "api"

  [[listener.route]]
  path_regex = '^/v[0-9]+/'
  split = [ { pool = "v1", weight = 90 }, { pool = "v2", weight = 10 } ]

  [[listener.route]]
  path = "/exact"
  pool = "v1"

[[listener]]
name = "v6"
address = "[::1]:0"
  [[listener.route]]
  host = "v6.example.com"
  pool = "api"

[[pool]]
name = "api"
algorithm = "maglev"
hash_key = "header:x-user-id"
maglev_table_size = 65537
connect_timeout = "1s"
response_timeout = "10s"
response_body_timeout = "2m"
idle_timeout = "0s"
max_idle_per_endpoint = 0
fail_timeout = "0s"
max_fails = 4
fail_statuses = [503, 502]
endpoints = [ { address = "127.0.0.1:9001", weight = 1 }, { address = "[::1]:9002" }, { address = "backend.internal:8080", weight = 3 } ]

[[pool]]
name = "v1"
algorithm = "weighted_round_robin"
endpoints = [ { address = "127.0.0.1:9101", weight = 2 } ]

[[pool]]
name = "v2"
algorithm = "ring_hash"
endpoints = [ { address = "127.0.0.1:9201" } ]
"#;

#[test]
fn full_config_compiles_into_the_model() {
    let loaded = load(FULL).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded.warnings.is_empty(),
        "{}",
        render_all(&loaded.warnings)
    );
    let c = loaded.config;
    assert_eq!(c.source, None);
    assert_eq!(c.global.workers, 3);
    assert_eq!(c.global.shutdown_timeout, Duration::from_secs(45));
    assert_eq!(c.global.log_level, "info,switchyard=debug");

    assert_eq!(c.listeners.len(), 2);
    let web = &c.listeners[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.address, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(web.protocol, Protocol::Http);
    assert_eq!(web.backlog, 512);
    assert!(!web.access_log);
    assert_eq!(web.limits.max_header_bytes, 32768);
    assert_eq!(web.limits.max_headers, 50);
    assert_eq!(web.limits.max_uri_bytes, 4096);
    assert_eq!(web.timeouts.request_header, Duration::from_secs(5));
    assert_eq!(web.timeouts.idle, Duration::from_secs(90));
    assert_eq!(web.timeouts.request_body, Duration::from_secs(20));
    assert_eq!(web.timeouts.send, Duration::from_secs(45));

    assert_eq!(web.routes.len(), 3);
    let api = &web.routes[0];
    assert_eq!(api.name, "api");
    let m = &api.matcher;
    assert_eq!(
        m.hosts,
        [
            HostMatch::Exact("api.example.com".into()),
            HostMatch::Suffix(".example.org".into())
        ]
    );
    assert!(matches!(&m.path, Some(PathMatch::Prefix(p)) if p == "/api/"));
    assert_eq!(m.methods, [http::Method::GET, http::Method::POST]);
    assert_eq!(m.headers.len(), 3);
    assert_eq!(m.headers[0].name, "x-canary");
    assert!(matches!(&m.headers[0].value, ValueMatch::Exact(v) if v == "1"));
    assert!(matches!(m.headers[1].value, ValueMatch::Present));
    assert!(matches!(&m.headers[2].value, ValueMatch::Regex(r) if r.as_str() == "^u"));
    assert_eq!(m.cookies[0].name, "beta");
    assert!(matches!(&m.cookies[0].value, ValueMatch::Exact(v) if v == "yes"));
    assert_eq!(m.query[0].name, "debug");
    assert!(matches!(m.query[0].value, ValueMatch::Absent));
    assert!(matches!(api.action, RouteAction::Pool(0)));

    let split = &web.routes[1];
    assert_eq!(split.name, "route-2");
    assert!(matches!(&split.matcher.path, Some(PathMatch::Regex(r)) if r.as_str() == "^/v[0-9]+/"));
    assert!(matches!(&split.action, RouteAction::Split(s) if s == &[(1, 90), (2, 10)]));
    assert_eq!(web.routes[2].name, "route-3");
    assert!(matches!(&web.routes[2].matcher.path, Some(PathMatch::Exact(p)) if p == "/exact"));
    assert!(matches!(web.routes[2].action, RouteAction::Pool(1)));

    let v6 = &c.listeners[1];
    assert_eq!(v6.address, "[::1]:0".parse().unwrap());
    // Defaults.
    assert_eq!(v6.backlog, 1024);
    assert!(v6.access_log);
    assert_eq!(v6.limits.max_header_bytes, 65536);
    assert_eq!(v6.limits.max_headers, 100);
    assert_eq!(v6.limits.max_uri_bytes, 8192);
    assert_eq!(v6.timeouts.request_header, Duration::from_secs(10));
    assert_eq!(v6.timeouts.idle, Duration::from_secs(60));
    assert_eq!(v6.timeouts.request_body, Duration::from_secs(60));
    assert_eq!(v6.timeouts.send, Duration::from_secs(60));

    assert_eq!(c.pools.len(), 3);
    let p = &c.pools[0];
    assert_eq!(p.name, "api");
    assert_eq!(p.algorithm, Algorithm::Maglev { table_size: 65537 });
    assert_eq!(
        p.hash_key,
        Some(HashKey::Header(http::HeaderName::from_static("x-user-id")))
    );
    assert_eq!(p.connect_timeout, Duration::from_secs(1));
    assert_eq!(p.response_timeout, Duration::from_secs(10));
    assert_eq!(p.response_body_timeout, Duration::from_secs(120));
    assert_eq!(p.idle_timeout, Duration::ZERO);
    assert_eq!(p.max_idle_per_endpoint, 0);
    assert_eq!(p.fail_timeout, Duration::ZERO);
    assert_eq!(p.max_fails, 4);
    assert_eq!(p.fail_statuses.codes().collect::<Vec<_>>(), [502, 503]);
    assert!(p.fail_statuses.contains(503) && !p.fail_statuses.contains(500));
    let endpoint = |address: &str, resolved: &str, weight| EndpointCfg {
        address: address.into(),
        resolved: resolved.parse().unwrap(),
        weight,
    };
    assert_eq!(
        p.endpoints,
        [
            endpoint("127.0.0.1:9001", "127.0.0.1:9001", 1),
            endpoint("[::1]:9002", "[::1]:9002", 1),
            endpoint("backend.internal:8080", "10.0.0.8:8080", 3),
        ]
    );
    assert_eq!(c.pools[1].algorithm, Algorithm::WeightedRoundRobin);
    assert_eq!(c.pools[1].hash_key, None);
    assert_eq!(c.pools[2].algorithm, Algorithm::RingHash);
    assert_eq!(c.pools[2].hash_key, Some(HashKey::ClientIp));
    // Pool defaults.
    assert_eq!(c.pools[1].connect_timeout, Duration::from_secs(2));
    assert_eq!(c.pools[1].response_timeout, Duration::from_secs(30));
    assert_eq!(c.pools[1].response_body_timeout, Duration::from_secs(60));
    assert_eq!(c.pools[1].idle_timeout, Duration::from_secs(60));
    assert_eq!(c.pools[1].max_idle_per_endpoint, 32);
    assert_eq!(c.pools[1].fail_timeout, Duration::from_secs(10));
    assert_eq!(c.pools[1].max_fails, 1);
    assert!(c.pools[1].fail_statuses.is_empty());
}

#[test]
fn defaults_and_workers_zero() {
    let c = load(MINIMAL).unwrap().config;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(c.global.workers, cpus);
    assert_eq!(c.global.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(c.global.log_level, "info");
    assert_eq!(c.pools[0].algorithm, Algorithm::RoundRobin);
    assert_eq!(c.pools[0].hash_key, None);
    assert_eq!(c.listeners[0].routes[0].name, "route-1");
    // A small header limit lowers the default URI limit with it.
    let small = MINIMAL.replace(
        "address = \"127.0.0.1:0\"",
        "address = \"127.0.0.1:0\"\nmax_header_bytes = 2048",
    );
    assert_eq!(
        load(&small).unwrap().config.listeners[0]
            .limits
            .max_uri_bytes,
        2048
    );
}

#[test]
fn a_file_with_nothing_to_serve_is_refused() {
    for text in ["# nothing yet\n", "", "[global]\nworkers = 2\n"] {
        check(
            &the_error(text),
            1,
            1,
            "nothing to serve: the file has no [[listener]] and no [[vip]]",
            "add a listener, e.g. [[listener]] with name, address and a [[listener.route]]; \
             `switchyard demo --print-config` prints a complete example",
        );
    }
}

#[test]
fn rendering_matches_the_documented_format() {
    let text =
        "[[listener]]\nname = \"web\"\n\nadress = \"127.0.0.1:80\"\naddress = \"127.0.0.1:80\"\n";
    let e = load_str_with_resolver("bad.toml", text, &resolver).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad.toml:4:1: error: unknown key `adress` in listener \"web\"\n   \
         |\n 4 | adress = \"127.0.0.1:80\"\n   | ^^^^^^\n   = help: did you mean `address`?\n\n1 error"
    );
}

#[test]
fn rendering_aligns_wide_line_numbers_tabs_and_unicode() {
    let text = format!("{}[global]\n\t\"wörkers\" = 1\n", "\n".repeat(99));
    let e = load(&text).unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.col), (101, 2));
    assert_eq!(
        d.render(),
        "test.toml:101:2: error: unknown key `wörkers` in [global]\n     |\n 101 |     \"wörkers\" = 1\n     |     ^^^^^^^^^\n     = help: did you mean `workers`?\n"
    );
}

#[test]
fn summary_counts_errors_and_warnings() {
    let mut d = Diagnostic::without_position(Severity::Error, "f", "m".into(), None);
    let mut all = vec![d.clone(), d.clone()];
    d.severity = Severity::Warning;
    all.push(d);
    assert_eq!(summary(&all), "2 errors, 1 warning");
    assert_eq!(summary(&all[..1]), "1 error");
    assert_eq!(summary(&all[2..]), "1 warning");
    assert_eq!(summary(&[]), "no problems");
    assert!(render_all(&all).ends_with("\n2 errors, 1 warning"));
}

#[test]
fn load_file_reads_and_records_the_source() {
    let dir = std::env::temp_dir().join(format!("switchyard-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ok.toml");
    std::fs::write(&path, format!("[global]\nworkers = 2\n{MINIMAL}")).unwrap();
    let loaded = load_file(&path).unwrap();
    assert_eq!(loaded.config.source.as_deref(), Some(path.as_path()));
    assert_eq!(loaded.config.global.workers, 2);

    let missing = dir.join("missing.toml");
    let e = load_file(&missing).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.col), (0, 0));
    assert!(
        d.message.starts_with("cannot read config file: "),
        "{}",
        d.message
    );
    assert!(d.render().starts_with(&format!(
        "{}: error: cannot read config file",
        missing.display()
    )));
    assert!(d.help.as_deref().unwrap().starts_with("check the path"));

    std::fs::write(&path, b"\xff\xfe not utf-8").unwrap();
    let e = load_file(&path).unwrap_err();
    assert_eq!(
        e.diagnostics[0].help.as_deref(),
        Some("the config file must be UTF-8 text")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn odd_inputs_never_panic() {
    let inputs = [
        "",
        "\u{feff}",
        "\u{feff}[global]\nworkers = 1\r\n",
        "[",
        "[[listener]]\nname = \"a\"\naddress = \"",
        "listener = 5",
        "listener = [1, \"x\", {}]",
        "pool = [{ name = \"p\", endpoints = [{}] }]",
        "[[listener]]\n[[listener.route]]\nhost = []\nmethods = []\nsplit = []\n",
        "a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]",
        "[global]\nworkers = 99999999999999999999999\nshutdown_timeout = 1979-05-27T07:32:00Z",
        "[[pool]]\nname = \"\"\nmaglev_table_size = -1\nalgorithm = \"maglev\"",
        "\r\r\n\t\u{0}",
    ];
    for text in inputs {
        let _ = load(text);
    }
}

#[test]
fn load_str_uses_the_system_resolver_for_names_only() {
    // IP endpoints need no resolver at all.
    let loaded = load_str("minimal.toml", MINIMAL).unwrap();
    assert_eq!(
        loaded.config.pools[0].endpoints[0].resolved,
        "127.0.0.1:9001".parse().unwrap()
    );
}
