//! Warnings, and reporting every error of a file in one run.

use super::{MINIMAL, check, load};
use crate::config::{Severity, render_all};

#[test]
fn route_after_a_catch_all_is_unreachable() {
    let text = MINIMAL.replace(
        "  pool = \"api\"\n",
        "  name = \"all\"\n  pool = \"api\"\n  [[listener.route]]\n  name = \"late\"\n  path = \"/x\"\n  pool = \"api\"\n",
    );
    let loaded = load(&text).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    let w = &loaded.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    check(
        w,
        8,
        3,
        "route \"late\" in listener \"web\" is unreachable: route \"all\" (line 5) above it has no conditions and matches every request",
        "move the catch-all route to the end of the listener, or give it conditions",
    );
    // A catch-all last is fine.
    let text = MINIMAL.replace(
        "  pool = \"api\"\n",
        "  path = \"/x\"\n  pool = \"api\"\n  [[listener.route]]\n  pool = \"api\"\n",
    );
    assert!(load(&text).unwrap().warnings.is_empty());
}

#[test]
fn pool_no_route_uses() {
    let loaded = load(&format!(
        "{MINIMAL}[[pool]]\nname = \"spare\"\nendpoints = [{{ address = \"127.0.0.1:9\" }}]\n"
    ))
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    check(
        &loaded.warnings[0],
        12,
        8,
        "pool \"spare\" is not used by any route",
        "send traffic to it with pool = \"spare\" in a [[listener.route]], or remove it",
    );
}

#[test]
fn weights_with_round_robin_are_ignored() {
    let text = MINIMAL.replace(
        "[{ address = \"127.0.0.1:9001\" }]",
        "[{ address = \"127.0.0.1:9001\" }, { address = \"127.0.0.1:9002\", weight = 3 }]",
    );
    let loaded = load(&text).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    check(
        &loaded.warnings[0],
        10,
        85,
        "pool \"api\" uses round_robin, which ignores endpoint weights",
        "set algorithm = \"weighted_round_robin\" to send traffic in proportion to the weights",
    );
    // The caret goes to the weight that stands out, also when it comes
    // first (it went to the unweighted endpoint after it).
    let first = MINIMAL.replace(
        "[{ address = \"127.0.0.1:9001\" }]",
        "[{ address = \"127.0.0.1:9001\", weight = 3 }, { address = \"127.0.0.1:9002\" }]",
    );
    let warnings = load(&first).unwrap().warnings;
    assert_eq!(warnings.len(), 1);
    assert_eq!((warnings[0].line, warnings[0].col), (10, 53));
    // Uniform weights, or a weighted algorithm: no warning.
    assert!(
        load(&text.replace("weight = 3", "weight = 1"))
            .unwrap()
            .warnings
            .is_empty()
    );
    let wrr = text.replace(
        "name = \"api\"\n",
        "name = \"api\"\nalgorithm = \"least_connections\"\n",
    );
    assert!(load(&wrr).unwrap().warnings.is_empty());
}

#[test]
fn pool_without_endpoints() {
    let loaded = load(&MINIMAL.replace(
        "endpoints = [{ address = \"127.0.0.1:9001\" }]",
        "endpoints = []",
    ))
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    check(
        &loaded.warnings[0],
        10,
        13,
        "pool \"api\" has no endpoints; requests routed to it get 503",
        "add endpoints = [{ address = \"127.0.0.1:9001\" }]",
    );
    // No `endpoints` key at all: the warning points at the [[pool]] header.
    let loaded =
        load(&MINIMAL.replace("endpoints = [{ address = \"127.0.0.1:9001\" }]", "")).unwrap();
    assert_eq!((loaded.warnings[0].line, loaded.warnings[0].col), (8, 1));
}

#[test]
fn errors_come_with_the_warnings() {
    let text = format!(
        "{MINIMAL}[[pool]]\nname = \"spare\"\nendpoints = [{{ address = \"127.0.0.1:0\" }}]\n"
    );
    let e = load(&text).unwrap_err();
    assert_eq!(e.diagnostics.len(), 2);
    assert_eq!(e.errors().count(), 1);
    assert!(e.to_string().ends_with("\n1 error, 1 warning"), "{e}");
}

/// Every kind of mistake at once: each is reported, in file order.
const MANY: &str = r#"[global]
workers = -1
shutdown_timeout = "soon"

[[listener]]
name = "web"
adress = "127.0.0.1:8080"
address = "127.0.0.1:8080"
max_headers = 5000
  [[listener.route]]
  name = "api"
  host = "*.*.example.com"
  path = "/a"
  path_prefix = "/b"
  methods = ["G ET"]
  headers = [{ name = "x-a", exact = "1", regex = "2" }]
  pool = "ap"
  [[listener.route]]
  name = "api"
  path_regex = "(unclosed"
  split = [{ pool = "api", weight = 0 }]

[[listener]]
name = "web"
address = "127.0.0.1:8080"
protocol = "h2"

[[pool]]
name = "api"
algorithm = "maglev"
maglev_table_size = 100
hash_key = "cookie"
connect_timeout = "-1s"
endpoints = [{ address = "backend" }, { address = "127.0.0.1:1", weight = 0 }]

[[pool]]
name = "api"
algorithmm = "random"
"#;

#[test]
fn every_error_in_one_run() {
    let e = load(MANY).unwrap_err();
    let got: Vec<(usize, usize, &str)> = e
        .diagnostics
        .iter()
        .map(|d| (d.line, d.col, d.message.split(':').next().unwrap_or("")))
        .collect();
    let expected = [
        (
            2,
            11,
            "`workers` in [global] must be between 0 and 1024, not -1",
        ),
        (3, 20, "invalid duration for `shutdown_timeout` in [global]"),
        (7, 1, "unknown key `adress` in listener \"web\""),
        (
            9,
            15,
            "`max_headers` in listener \"web\" must be between 1 and 1000, not 5000",
        ),
        (
            12,
            10,
            "invalid host pattern \"*.*.example.com\" in route \"api\" in listener \"web\"",
        ),
        (
            14,
            17,
            "route \"api\" in listener \"web\" has both `path` and `path_prefix`",
        ),
        (
            15,
            14,
            "invalid HTTP method \"G ET\" in route \"api\" in listener \"web\"",
        ),
        (
            16,
            51,
            "header condition \"x-a\" in route \"api\" in listener \"web\" has both `exact` and `regex`",
        ),
        (
            17,
            10,
            "route \"api\" in listener \"web\" uses pool \"ap\", which does not exist",
        ),
        (19, 10, "duplicate route name \"api\" in listener \"web\""),
        (
            20,
            17,
            "invalid regular expression in `path_regex` of route \"api\" in listener \"web\"",
        ),
        (
            21,
            37,
            "`weight` in split entry #1 in route \"api\" in listener \"web\" must be between 1 and 65535, not 0",
        ),
        (24, 8, "duplicate listener name \"web\""),
        (25, 11, "address 127.0.0.1"),
        (26, 12, "unsupported protocol \"h2\" in listener \"web\""),
        (
            31,
            21,
            "`maglev_table_size` 100 in pool \"api\" is not a prime number",
        ),
        (32, 12, "invalid hash_key \"cookie\" in pool \"api\""),
        (
            33,
            19,
            "invalid duration for `connect_timeout` in pool \"api\"",
        ),
        (
            34,
            26,
            "invalid address \"backend\" for endpoint #1 in pool \"api\"",
        ),
        (
            34,
            75,
            "`weight` in endpoint #2 in pool \"api\" must be between 1 and 65535, not 0",
        ),
        // A warning, in file order with the errors.
        (
            36,
            1,
            "pool \"api\" has no endpoints; requests routed to it get 503",
        ),
        (37, 8, "duplicate pool name \"api\""),
        (38, 1, "unknown key `algorithmm` in pool \"api\""),
    ];
    assert_eq!(got, expected, "{e}");
    assert_eq!(e.errors().count(), 22);
    assert_eq!(e.diagnostics[20].severity, Severity::Warning);
    assert!(render_all(&e.diagnostics).ends_with("\n22 errors, 1 warning"));
    assert_eq!(
        e.diagnostics[22].help.as_deref(),
        Some("did you mean `algorithm`?")
    );
}

#[test]
fn a_status_listed_twice_in_fail_statuses() {
    let loaded = load(&super::pool_with("fail_statuses = [502, 503, 502]")).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    check(
        &loaded.warnings[0],
        11,
        28,
        "status 502 is listed twice in `fail_statuses` of pool \"api\"",
        "remove the repeated status",
    );
    assert_eq!(
        loaded.config.pools[0]
            .fail_statuses
            .codes()
            .collect::<Vec<_>>(),
        [502, 503]
    );
}

#[test]
fn a_route_path_no_normalised_request_path_can_match() {
    let text = MINIMAL.replace(
        "  pool = \"api\"\n",
        "  path_prefix = \"/static//%61ssets/\"\n  pool = \"api\"\n",
    );
    let loaded = load(&text).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{}", render_all(&loaded.warnings));
    check(
        &loaded.warnings[0],
        6,
        17,
        "`path_prefix` \"/static//%61ssets/\" of route \"route-1\" in listener \"web\" never matches: requests are matched by their normalised path",
        "write \"/static/assets/\" (or set normalize_path = false on the listener to match paths as sent)",
    );
    // Paths as sent: no warning.
    let raw = text.replace(
        "address = \"127.0.0.1:0\"\n",
        "address = \"127.0.0.1:0\"\nnormalize_path = false\n",
    );
    assert!(load(&raw).unwrap().warnings.is_empty());
    // A prefix may end inside a segment.
    let dot = MINIMAL.replace(
        "  pool = \"api\"\n",
        "  path_prefix = \"/files/.\"\n  pool = \"api\"\n",
    );
    assert!(load(&dot).unwrap().warnings.is_empty());
}

/// A pool only `tcp`/`udp` listeners use: the keys that apply to HTTP
/// requests are flagged where written (diagnostics come in file order), an HTTP hash key too; a pool an
/// `http` listener also uses is left alone.
#[test]
fn http_keys_on_a_pool_only_l4_listeners_use() {
    let text = "[[listener]]\nname = \"db\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"pg\"\n\n[[pool]]\nname = \"pg\"\nalgorithm = \"maglev\"\nhash_key = \"header:x-user\"\nresponse_timeout = \"5s\"\nfail_statuses = [502]\nendpoints = [{ address = \"127.0.0.1:9001\" }]\n";
    let loaded = load(text).unwrap();
    let w = &loaded.warnings;
    assert_eq!(w.len(), 3, "{}", render_all(w));
    check(
        &w[0],
        10,
        12,
        "`hash_key` \"header:x-user\" in pool \"pg\" cannot be read: only tcp/udp listeners use the pool, so every connection gets a random endpoint",
        "use hash_key = \"client_ip\" (or \"client_ip_port\") for affinity on L4",
    );
    check(
        &w[1],
        11,
        20,
        "`response_timeout` in pool \"pg\" does nothing: only tcp/udp listeners use the pool, and it applies to HTTP requests",
        "remove `response_timeout`; on tcp listeners, the listener's `idle_timeout` bounds a quiet connection",
    );
    check(
        &w[2],
        12,
        17,
        "`fail_statuses` in pool \"pg\" does nothing: only tcp/udp listeners use the pool, and it applies to HTTP requests",
        "remove `fail_statuses`",
    );
    // An http listener using the pool too: the keys do something.
    let shared = format!(
        "{text}\n[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"pg\"\n"
    );
    let w = load(&shared).unwrap().warnings;
    assert!(w.is_empty(), "{}", render_all(&w));
}

/// `[pool.tls]` on a pool only L4 listeners use would send in the clear
/// what the file asks to encrypt: refused.
#[test]
fn tls_to_a_pool_only_l4_listeners_use_is_refused() {
    let text = "[[listener]]\nname = \"dns\"\naddress = \"127.0.0.1:0\"\nprotocol = \"udp\"\npool = \"ns\"\n\n[[pool]]\nname = \"ns\"\nendpoints = [{ address = \"127.0.0.1:9001\" }]\n[pool.tls]\nsni = false\n";
    let d = super::the_error(text);
    check(
        &d,
        10,
        1,
        "[pool.tls] in pool \"ns\" does nothing: only tcp/udp listeners use the pool, and they relay bytes as they come, never encrypting them",
        "remove [pool.tls] and let clients speak TLS end to end (SNI routes keep it so), or serve the traffic from an http listener, which re-encrypts to the pool",
    );
}
