//! Configs that are valid TOML and mostly valid Switchyard but almost
//! certainly not what their author meant: a log filter that silences the
//! logs, a control socket path that names a file, listeners whose routes
//! are missing or never used. Found by an operator's-eye review.

use super::*;

#[test]
fn a_log_level_that_is_no_level_is_refused() {
    for (typo, word) in [
        ("verbose", "verbose"),
        ("warning", "warning"),
        ("info,debg", "debg"),
    ] {
        let d = the_error(&format!("[global]\nlog_level = \"{typo}\"\n{MINIMAL}"));
        assert_eq!((d.line, d.col), (2, 13), "{}", d.render());
        assert!(
            d.message.contains(&format!("{word:?} is not a level")),
            "{}",
            d.render()
        );
    }
    for fine in ["debug", "info,switchyard=trace", "warn,access=info"] {
        assert!(
            load(&format!("[global]\nlog_level = \"{fine}\"\n{MINIMAL}")).is_ok(),
            "{fine}"
        );
    }
}

#[test]
fn a_control_socket_path_naming_a_file_or_directory_is_refused() {
    let dir = std::env::temp_dir().join(format!("sy-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, "keep me").expect("write");
    for (path, what) in [(&file, "a file"), (&dir, "a directory")] {
        let d = the_error(&format!(
            "[global]\ncontrol_socket = {:?}\n{MINIMAL}",
            path.display().to_string()
        ));
        check(
            &d,
            2,
            18,
            &format!("`control_socket` in [global] names {what}, not a socket"),
            "give a path where switchyard may create its socket (it is made at start and \
             removed at exit), e.g. control_socket = \"/run/switchyard/control.sock\"",
        );
    }
    // A path that does not exist yet is what a socket path normally is.
    let fresh = dir.join("control.sock");
    assert!(
        load(&format!(
            "[global]\ncontrol_socket = {:?}\n{MINIMAL}",
            fresh.display().to_string()
        ))
        .is_ok()
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        "keep me"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn an_http_listener_without_routes_is_warned_about() {
    let text = "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n";
    let loaded = load(text).expect("loads: it is valid, just useless");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    check(
        &loaded.warnings[0],
        1,
        1,
        "listener \"web\" has no routes: every request to it gets 404",
        "add a [[listener.route]] with a `pool`; a route without conditions matches every request",
    );
    // A redirect listener needs none.
    let redirect = format!("{text}https_redirect = 443\n");
    assert!(load(&redirect).expect("loads").warnings.is_empty());
}

#[test]
fn the_routes_of_a_redirect_listener_are_warned_about() {
    let loaded = load(&listener_with("https_redirect = 443")).expect("loads");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    check(
        &loaded.warnings[0],
        6,
        3,
        "the routes of listener \"web\" are never used: it redirects every request to HTTPS",
        "remove the routes, or remove `https_redirect` to serve them",
    );
}

#[test]
fn a_section_with_more_errors_than_are_checked_says_so() {
    let keys: String = (0..205).map(|i| format!("bogus{i} = 1\n")).collect();
    let e = errors(&pool_with(&keys));
    let last = e
        .iter()
        .find(|d| {
            d.message
                .starts_with("more than 200 errors in this section")
        })
        .unwrap_or_else(|| panic!("no note that checking stopped:\n{}", render_all(&e)));
    assert_eq!(
        last.help.as_deref(),
        Some("fix the errors above and run check again")
    );
    assert_eq!(
        e.iter()
            .filter(|d| d.message.starts_with("unknown key `bogus"))
            .count(),
        200
    );
}

#[test]
fn a_lower_case_method_is_read_in_upper_case_and_warned_about() {
    let loaded = load(&MINIMAL.replace(
        "  pool = \"api\"",
        "  pool = \"api\"\n  methods = [\"get\", \"POST\"]",
    ))
    .expect("loads");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(
        loaded.warnings[0].message,
        "method \"get\" in route #1 in listener \"web\" is read as \"GET\""
    );
    let route = &loaded.config.listeners[0].routes[0];
    assert_eq!(
        route.matcher.methods,
        vec![http::Method::GET, http::Method::POST]
    );
}

#[test]
fn a_pool_listed_twice_in_a_split_is_warned_about() {
    let text = MINIMAL.replace(
        "  pool = \"api\"",
        "  split = [{ pool = \"api\", weight = 1 }, { pool = \"api\", weight = 3 }]",
    );
    let loaded = load(&text).expect("loads");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(
        loaded.warnings[0].message,
        "pool \"api\" is listed twice in the `split` of route #1 in listener \"web\""
    );
}

#[test]
fn endpoint_addresses_that_are_no_address_say_what_they_are() {
    for (address, says) in [
        ("300.1.1.1:80", "invalid IPv4 address \"300.1.1.1\""),
        ("10.0.0:80", "invalid IPv4 address \"10.0.0\""),
        ("", "it is empty"),
    ] {
        let d = the_error(&MINIMAL.replace("127.0.0.1:9001", address));
        assert!(d.message.contains(says), "{address}: {}", d.render());
        assert!(!d.message.contains("resolve"), "{address}: {}", d.render());
    }
}

#[test]
fn an_sni_route_shadowed_by_an_earlier_one_and_an_empty_alpn_are_warned_about() {
    let text = "[[listener]]\nname = \"tls\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\n\
  [[listener.sni]]\n  name = \"first\"\n  server_name = \"a.example.com\"\n  pool = \"db\"\n\
  [[listener.sni]]\n  name = \"second\"\n  server_name = [\"b.example.com\", \"a.example.com\"]\n  alpn = []\n  pool = \"db\"\n\
[[pool]]\nname = \"db\"\nendpoints = [{ address = \"127.0.0.1:5432\" }]\n";
    let loaded = load(text).expect("loads");
    let messages: Vec<&str> = loaded.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "server_name \"a.example.com\" of sni route \"second\" in listener \"tls\" is already taken by sni route \"first\" above it",
            "`alpn` is an empty list in sni route \"second\" in listener \"tls\": it matches any protocol",
        ],
        "{:?}",
        loaded.warnings
    );
}

/// Wildcards cover the names under them, and a route without names takes
/// every connection: later routes they shadow are warned about; a route
/// with an `alpn` list shadows nothing, and a name outside the wildcard
/// is fine.
#[test]
fn sni_routes_shadowed_by_a_wildcard_or_a_catch_all_are_warned_about() {
    let route = |name: &str, names: &str, alpn: &str| {
        format!("  [[listener.sni]]\n  name = \"{name}\"\n{names}{alpn}  pool = \"db\"\n")
    };
    let config = |routes: &[String]| {
        format!(
            "[[listener]]\nname = \"tls\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\n{}\
             [[pool]]\nname = \"db\"\nendpoints = [\"127.0.0.1:5432\"]\n",
            routes.concat()
        )
    };
    let messages = |text: String| -> Vec<String> {
        load(&text)
            .expect("loads")
            .warnings
            .into_iter()
            .map(|w| w.message)
            .collect()
    };
    let got = messages(config(&[
        route("wild", "  server_name = \"*.example.com\"\n", ""),
        route("exact", "  server_name = \"a.example.com\"\n", ""),
        route("deeper", "  server_name = \"*.b.example.com\"\n", ""),
        route("bare", "  server_name = \"example.com\"\n", ""),
        route("any", "", ""),
        route("late", "  server_name = \"other.org\"\n", ""),
        route("last", "", ""),
    ]));
    assert_eq!(
        got,
        [
            "server_name \"a.example.com\" of sni route \"exact\" in listener \"tls\" is already taken by sni route \"wild\" above it",
            "server_name \"*.b.example.com\" of sni route \"deeper\" in listener \"tls\" is already taken by sni route \"wild\" above it",
            "server_name \"other.org\" of sni route \"late\" in listener \"tls\" is already taken by sni route \"any\" above it",
            "sni route \"last\" in listener \"tls\" never matches: sni route \"any\" above it has no server_name and no alpn, so it takes every connection",
        ]
    );
    // Behind an alpn condition, a wildcard shadows nothing.
    let got = messages(config(&[
        route(
            "h2",
            "  server_name = \"*.example.com\"\n",
            "  alpn = [\"h2\"]\n",
        ),
        route("exact", "  server_name = \"a.example.com\"\n", ""),
    ]));
    assert!(got.is_empty(), "{got:?}");
}
