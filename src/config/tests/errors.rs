//! One test per error kind: exact `line:col`, message and help.

use super::{MINIMAL, check, errors, listener_with, load, pool_with, the_error};

/// MINIMAL with `extra` appended to the route table (after line 6).
fn route_with(extra: &str) -> String {
    MINIMAL.replacen(
        "  pool = \"api\"\n",
        &format!("  pool = \"api\"\n{extra}\n"),
        1,
    )
}

#[test]
fn syntax_error_unquoted_string() {
    let d = the_error("[[listener]]\nname = web\n");
    check(
        &d,
        2,
        8,
        "invalid TOML: string values must be quoted",
        "put the value in double quotes: \"web\"",
    );
}

#[test]
fn syntax_error_unclosed_array_points_at_the_bracket() {
    let d = the_error("[global]\nworkers = [1, 2\nlog_level = \"info\"\n[[pool]]\nname = \"p\"\n");
    check(
        &d,
        2,
        11,
        "invalid TOML: unclosed array: this bracket is never closed",
        "add the closing bracket where the array ends; everything up to line 5 was read as part of it",
    );
}

/// What an unclosed array swallowed (the next pool, read as its items)
/// gets no errors of its own: they would all be false. A note says that
/// checks across sections wait for the syntax to be fixed.
#[test]
fn an_unclosed_array_hides_the_errors_about_what_it_swallowed() {
    let text = "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n  [[listener.route]]\n  pool = \"app\"\n\n[[pool]]\nname = \"app\"\nendpoints = [\n  { address = \"127.0.0.1:9001\" },\n  { address = \"127.0.0.1:9002\" },\n\n[[pool]]\nname = \"other\"\nalgorithm = \"maglev\"\nendpoints = [{ address = \"127.0.0.1:9003\" }]\n";
    let all = load(text).unwrap_err().diagnostics;
    assert_eq!(all.len(), 2, "{}", super::render_all(&all));
    check(
        &all[0],
        9,
        13,
        "invalid TOML: unclosed array: this bracket is never closed",
        "add the closing bracket where the array ends; everything up to line 16 was read as part of it",
    );
    assert_eq!(all[1].severity, crate::config::Severity::Note);
    assert_eq!(
        all[1].message,
        "checks across sections (pools that routes name, required keys, unused pools) were skipped"
    );
    assert_eq!(super::render_all(&all).lines().last(), Some("1 error"));
}

/// A key given twice leaves the rest of the tree whole, so the checks
/// across sections still run (a route naming a missing pool is found).
#[test]
fn a_duplicate_key_does_not_hide_a_missing_pool() {
    let text = "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\nidle_timeout = \"5s\"\nidle_timeout = \"6s\"\n  [[listener.route]]\n  pool = \"missing\"\n[[pool]]\nname = \"app\"\nendpoints = [{ address = \"127.0.0.1:9001\" }]\n";
    let all = load(text).unwrap_err().diagnostics;
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "duplicate key `idle_timeout`",
            "route #1 in listener \"web\" uses pool \"missing\", which does not exist",
            "pool \"app\" is not used by any route",
        ]
    );
}

/// An array where a table belongs is one error, with the item numbers as
/// written (serde would read it as the table's fields in order).
#[test]
fn an_array_where_a_table_belongs_is_one_error() {
    let e = errors(&pool_with("").replace(
        "endpoints = [{ address = \"127.0.0.1:9001\" }]",
        "endpoints = [{ address = \"127.0.0.1:9001\" }, [\"127.0.0.1:9002\", 2], []]",
    ));
    let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "wrong type for `endpoints` item #2 in pool \"api\": expected a table, found an array",
            "wrong type for `endpoints` item #3 in pool \"api\": expected a table, found an array",
        ]
    );
    let d = the_error(&listener_with("tls = [\"cert.pem\", \"key.pem\"]"));
    check(
        &d,
        5,
        7,
        "wrong type for `tls` in listener \"web\": expected a table, found an array",
        "write it like: [listener.tls] (or [pool.tls]) as a table below the section",
    );
}

#[test]
fn syntax_error_duplicate_key_and_table() {
    let e = errors("[global]\nworkers = 1\nworkers = 2\n[global]\n");
    assert_eq!(e.len(), 2);
    check(
        &e[0],
        3,
        1,
        "duplicate key `workers`",
        "a key may appear only once per table; remove one of them",
    );
    check(
        &e[1],
        4,
        2,
        "duplicate table [global]",
        "a table may appear only once; merge the two [global] sections (use [[...]] for a list)",
    );
}

#[test]
fn syntax_errors_do_not_hide_other_errors() {
    let e = errors("[global]\nworkers = \"x\nlog_level = \"\"\n[[listener]]\nnmae = \"a\"\n");
    assert_eq!(e.len(), 3, "{}", super::render_all(&e));
    assert_eq!((e[0].line, e[1].line, e[2].line), (2, 3, 5));
    assert_eq!(e[2].message, "unknown key `nmae` in listener #1");
    // With a syntax error, "listener #1 has no `address`" is not reported: the
    // recovered tree may just be missing it.
}

#[test]
fn unknown_top_level_key() {
    let d = the_error("[[listeners]]\nname = \"web\"\n");
    check(
        &d,
        1,
        3,
        "unknown top-level key `listeners`",
        "did you mean [[listener]]?",
    );
    let d = the_error("workers = 4\n");
    check(
        &d,
        1,
        1,
        "unknown top-level key `workers`",
        "`workers` belongs in a section: put it below a [global] line",
    );
}

#[test]
fn unknown_key_with_suggestion() {
    let d = the_error(&listener_with("adress = \"127.0.0.1:80\""));
    check(
        &d,
        5,
        1,
        "unknown key `adress` in listener \"web\"",
        "did you mean `address`?",
    );
    let d = the_error(&pool_with("endpoint = []"));
    check(
        &d,
        11,
        1,
        "unknown key `endpoint` in pool \"api\"",
        "did you mean `endpoints`?",
    );
}

#[test]
fn misspelt_required_key_is_not_also_missing() {
    let d = the_error(&MINIMAL.replace("name = \"web\"", "nmae = \"web\""));
    check(
        &d,
        3,
        1,
        "unknown key `nmae` in listener #1",
        "did you mean `name`?",
    );
}

#[test]
fn unknown_key_lists_valid_keys() {
    let d = the_error("[global]\ncolour = \"blue\"\n");
    check(
        &d,
        2,
        1,
        "unknown key `colour` in [global]",
        "valid keys here: `workers`, `shutdown_timeout`, `log_level`, `control_socket`",
    );
    let d = the_error(&pool_with(
        "endpoints = [{ address = \"127.0.0.1:1\", wieght = 2, zone = \"a\" }]",
    ));
    // `endpoints` is given twice (MINIMAL has one): that is the only error.
    assert_eq!(d.message, "duplicate key `endpoints`");
    let text = MINIMAL.replace(
        "{ address = \"127.0.0.1:9001\" }",
        "{ address = \"127.0.0.1:9001\", zone = \"a\" }",
    );
    let d = the_error(&text);
    check(
        &d,
        10,
        44,
        "unknown key `zone` in endpoint #1 in pool \"api\"",
        "valid keys here: `address`, `weight`",
    );
}

#[test]
fn unknown_key_in_the_wrong_table() {
    let d = the_error(&listener_with("path_prefix = \"/api\""));
    check(
        &d,
        5,
        1,
        "unknown key `path_prefix` in listener \"web\"",
        "`path_prefix` is a route setting: put it in a [[listener.route]] section below this listener",
    );
    let d = the_error(&route_with("backlog = 10"));
    check(
        &d,
        7,
        1,
        "unknown key `backlog` in route #1 in listener \"web\"",
        "`backlog` is a listener setting, but keys after a [[listener.route]] header belong to that \
         route: move it above the listener's first [[listener.route]]",
    );
}

#[test]
fn wrong_type() {
    let d = the_error(&listener_with("backlog = \"1024\""));
    check(
        &d,
        5,
        11,
        "wrong type for `backlog` in listener \"web\": expected an integer, found string \"1024\"",
        "write it like: backlog = 1024",
    );
    let d = the_error(&listener_with("access_log = 1"));
    check(
        &d,
        5,
        14,
        "wrong type for `access_log` in listener \"web\": expected a boolean (true or false), found integer `1`",
        "write it like: access_log = true",
    );
    let d = the_error(&listener_with("forwarded = [\"for\", \"prot\"]"));
    check(
        &d,
        5,
        21,
        "unknown forwarded header \"prot\" in listener \"web\"",
        "did you mean \"proto\"? the values are \"for\", \"proto\" and \"host\" (X-Forwarded-For, -Proto, -Host)",
    );
    let d = the_error("[global]\nworkers = 99999999999999999999\n");
    check(
        &d,
        2,
        11,
        "`workers` in [global] is out of range: 99999999999999999999 does not fit in 64 bits",
        "write it like: workers = 4",
    );
    let d = the_error("[global]\nshutdown_timeout = 1979-05-27\n");
    assert_eq!(
        d.message,
        "wrong type for `shutdown_timeout` in [global]: expected a string, found datetime `1979-05-27`"
    );
    // A wrongly typed required key is not also reported as missing.
    let d = the_error(&MINIMAL.replace("name = \"web\"", "name = 7"));
    check(
        &d,
        3,
        8,
        "wrong type for `name` in listener #1: expected a string, found integer `7`",
        "write it like: name = \"web\"",
    );
}

#[test]
fn section_of_the_wrong_shape() {
    let d = the_error("[listener]\nname = \"web\"\n");
    check(
        &d,
        1,
        1,
        "`listener` must be an array of tables, not a table",
        "write each listener as its own [[listener]] section (double brackets)",
    );
    let d = the_error("[[listener.route]]\npool = \"x\"\n");
    assert_eq!(
        d.help.as_deref(),
        Some(
            "a [[listener.route]] section belongs to the [[listener]] above it: add a [[listener]] section (name, address) before it"
        )
    );
    let d = the_error("pool = [\"api\"]\n");
    check(
        &d,
        1,
        9,
        "pool #1 must be a table, not a string",
        "write each pool as its own [[pool]] section (double brackets)",
    );
}

/// A section dropped for its shape (`[pool]` for `[[pool]]`, an inline
/// `listener = { ... }`) takes its names with it: the routes that name its
/// pools, and the pools its routes would use, are not also reported
/// (the note says those checks wait).
#[test]
fn a_section_of_the_wrong_shape_hides_the_checks_across_sections() {
    let text = "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"app\"\n\n[pool]\nname = \"app\"\nendpoints = [{ address = \"127.0.0.1:9001\" }]\n";
    let all = load(text).unwrap_err().diagnostics;
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`pool` must be an array of tables, not a table",
            "checks across sections (pools that routes name, required keys, unused pools) were skipped",
        ],
        "{}",
        super::render_all(&all)
    );
    let text = "listener = { name = \"web\", address = \"127.0.0.1:0\" }\n[[pool]]\nname = \"app\"\nendpoints = [{ address = \"127.0.0.1:9001\" }]\n";
    let all = load(text).unwrap_err().diagnostics;
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`listener` must be an array of tables, not a table",
            "checks across sections (pools that routes name, required keys, unused pools) were skipped",
        ],
        "{}",
        super::render_all(&all)
    );
}

/// An endpoint may be a bare "host:port" (weight 1), beside tables; its
/// errors point at the string.
#[test]
fn an_endpoint_may_be_a_bare_address() {
    let text = pool_with("").replace(
        "endpoints = [{ address = \"127.0.0.1:9001\" }]",
        "endpoints = [\"127.0.0.1:9001\", { address = \"127.0.0.1:9002\", weight = 3 }, \"localhost:9003\"]",
    );
    let pool = &load(&text).unwrap().config.pools[0];
    let got: Vec<(String, u32)> = pool
        .endpoints
        .iter()
        .map(|e| (e.resolved.to_string(), e.weight))
        .collect();
    assert_eq!(
        got,
        [
            ("127.0.0.1:9001".to_string(), 1),
            ("127.0.0.1:9002".to_string(), 3),
            ("127.0.0.1:9003".to_string(), 1),
        ]
    );
    let text = pool_with("").replace(
        "endpoints = [{ address = \"127.0.0.1:9001\" }]",
        "endpoints = [\"127.0.0.1:9001\", \"nowhere.invalid:80\", \"127.0.0.1:9001\"]",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{}", super::render_all(&e));
    assert_eq!((e[0].line, e[0].col), (10, 32), "{}", e[0].render());
    assert!(
        e[0].message
            .starts_with("invalid address \"nowhere.invalid:80\" for endpoint #2"),
        "{}",
        e[0].render()
    );
    check(
        &e[1],
        10,
        54,
        "endpoint \"127.0.0.1:9001\" is listed twice in pool \"api\"",
        "list each endpoint once (first on line 10); raise its weight to send it more traffic",
    );
}

/// Endpoints all dropped for their own errors do not also make the pool
/// "empty".
#[test]
fn endpoints_dropped_for_errors_are_not_also_missing() {
    let e = load(&pool_with("").replace(
        "endpoints = [{ address = \"127.0.0.1:9001\" }]",
        "endpoints = [9001, true]",
    ))
    .unwrap_err()
    .diagnostics;
    let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "wrong type for `endpoints` item #1 in pool \"api\": expected an endpoint: \"host:port\" or a table { address = \"host:port\", weight = N }, found integer `9001`",
            "wrong type for `endpoints` item #2 in pool \"api\": expected an endpoint: \"host:port\" or a table { address = \"host:port\", weight = N }, found boolean `true`",
        ]
    );
    // Written empty, it is reported.
    let w = load(&pool_with("").replace(
        "endpoints = [{ address = \"127.0.0.1:9001\" }]",
        "endpoints = []",
    ))
    .unwrap()
    .warnings;
    assert!(
        w.iter()
            .any(|d| d.message == "pool \"api\" has no endpoints; requests routed to it get 503"),
        "{}",
        super::render_all(&w)
    );
}

#[test]
fn missing_required_keys() {
    let e = errors("[[listener]]\n[[pool]]\nendpoints = [{ weight = 2 }]\n");
    assert_eq!(e.len(), 4, "{}", super::render_all(&e));
    check(
        &e[0],
        1,
        1,
        "listener #1 has no `name`",
        "add a unique name, e.g. name = \"web\" (used in logs and metrics)",
    );
    check(
        &e[1],
        1,
        1,
        "listener #1 has no `address`",
        "add the IP and port to listen on, e.g. address = \"127.0.0.1:8080\"",
    );
    check(
        &e[2],
        2,
        1,
        "pool #1 has no `name`",
        "add a unique name that routes refer to, e.g. name = \"api\"",
    );
    check(
        &e[3],
        3,
        14,
        "endpoint #1 in pool #1 has no `address`",
        "add the backend's host:port, e.g. { address = \"127.0.0.1:9001\" }",
    );
}

#[test]
fn duplicate_names() {
    let text = format!(
        "{MINIMAL}\n[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n  [[listener.route]]\n  name = \"a\"\n  path = \"/a\"\n  pool = \"api\"\n  [[listener.route]]\n  name = \"a\"\n  pool = \"api\"\n[[pool]]\nname = \"api\"\n"
    );
    let e = errors(&text);
    assert_eq!(e.len(), 3, "{}", super::render_all(&e));
    check(
        &e[0],
        13,
        8,
        "duplicate listener name \"web\"",
        "listener names must be unique; \"web\" is already used on line 3: rename one of them",
    );
    check(
        &e[1],
        20,
        10,
        "duplicate route name \"a\" in listener \"web\"",
        "route names must be unique within a listener; \"a\" is already used on line 16: rename one of them",
    );
    check(
        &e[2],
        23,
        8,
        "duplicate pool name \"api\"",
        "pool names must be unique; \"api\" is already defined on line 9: rename or merge them",
    );
}

#[test]
fn two_listeners_on_one_address() {
    let text = "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:8080\"\n[[listener]]\nname = \"b\"\naddress = \"127.0.0.1:8080\"\n";
    let d = the_error(text);
    check(
        &d,
        6,
        11,
        "address 127.0.0.1:8080 of listener \"b\" is already used by listener \"a\" (127.0.0.1:8080, line 3)",
        "each listener needs its own address: change the port (or the IP) of one of them",
    );
    let d = the_error(&text.replace(
        "address = \"127.0.0.1:8080\"\n[",
        "address = \"0.0.0.0:8080\"\n[",
    ));
    assert_eq!(
        d.message,
        "address 127.0.0.1:8080 of listener \"b\" overlaps listener \"a\" (0.0.0.0:8080, line 3)"
    );
    // Port 0 asks the kernel for a free port: never a clash.
    assert!(load(&text.replace("8080", "0")).is_ok());
}

#[test]
fn unparsable_listener_address() {
    let d = the_error(&MINIMAL.replace("127.0.0.1:0", "localhost:8080"));
    check(
        &d,
        4,
        11,
        "invalid address \"localhost:8080\" for listener \"web\": a listener needs an IP address, not a host name",
        "listen on an IP: \"127.0.0.1:8080\" (this machine only) or \"0.0.0.0:8080\" (all interfaces)",
    );
    let d = the_error(&MINIMAL.replace("127.0.0.1:0", "127.0.0.1"));
    check(
        &d,
        4,
        11,
        "invalid address \"127.0.0.1\" for listener \"web\": the port is missing",
        "add a port, e.g. \"127.0.0.1:8080\"",
    );
}

#[test]
fn bad_endpoint_addresses() {
    let text = MINIMAL.replace(
        "[{ address = \"127.0.0.1:9001\" }]",
        "[{ address = \"backend\" }, { address = \"nowhere.internal:80\" }, { address = \"::1:80\" }, { address = \"localhost:http\" }]",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 4, "{}", super::render_all(&e));
    check(
        &e[0],
        10,
        26,
        "invalid address \"backend\" for endpoint #1 in pool \"api\": the port is missing",
        "write host:port, e.g. \"backend:8080\"",
    );
    check(
        &e[1],
        10,
        51,
        "invalid address \"nowhere.internal:80\" for endpoint #2 in pool \"api\": cannot resolve host \"nowhere.internal\" (no such host)",
        "check the name, or use an IP address (names are resolved at load and at every reload)",
    );
    check(
        &e[2],
        10,
        88,
        "invalid address \"::1:80\" for endpoint #3 in pool \"api\": IPv6 addresses need brackets",
        "write the IPv6 address in brackets before the port, e.g. \"[::1]:9001\"",
    );
    check(
        &e[3],
        10,
        112,
        "invalid address \"localhost:http\" for endpoint #4 in pool \"api\": invalid port \"http\"",
        "a port is a number from 1 to 65535, e.g. \"localhost:8080\"",
    );
}

#[test]
fn route_to_a_pool_that_does_not_exist() {
    let d = the_error(&MINIMAL.replace("pool = \"api\"", "pool = \"apj\""));
    check(
        &d,
        6,
        10,
        "route #1 in listener \"web\" uses pool \"apj\", which does not exist",
        "did you mean \"api\"? defined pools: \"api\"",
    );
    let text = "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n  [[listener.route]]\n  pool = \"api\"\n";
    let d = the_error(text);
    assert_eq!(
        d.help.as_deref(),
        Some("no pool is defined: add a [[pool]] section with name = \"api\"")
    );
}

#[test]
fn weights_must_be_positive() {
    let d = the_error(&MINIMAL.replace("\"127.0.0.1:9001\" }", "\"127.0.0.1:9001\", weight = 0 }"));
    check(
        &d,
        10,
        53,
        "`weight` in endpoint #1 in pool \"api\" must be between 1 and 65535, not 0",
        "an endpoint weight is from 1 to 65535; to stop sending an endpoint traffic, remove it",
    );
    let d = the_error(&MINIMAL.replace(
        "pool = \"api\"\n\n",
        "split = [{ pool = \"api\", weight = -5 }]\n\n",
    ));
    check(
        &d,
        6,
        37,
        "`weight` in split entry #1 in route #1 in listener \"web\" must be between 1 and 65535, not -5",
        "a split weight is from 1 to 65535 (the share of requests, relative to the other entries); remove the entry to send a pool nothing",
    );
}

#[test]
fn regex_that_does_not_compile() {
    let d = the_error(&route_with("  path_regex = \"^/(v1|v2\""));
    check(
        &d,
        7,
        19,
        "invalid regular expression in `path_regex` of route #1 in listener \"web\": unclosed group",
        "fix the pattern (syntax: https://docs.rs/regex/#syntax); in a \"...\" TOML string a backslash must be doubled (\"\\\\d+\"), or use a '...' literal string ('\\d+')",
    );
    let d = the_error(&route_with(
        "  headers = [{ name = \"x-user\", regex = 'a{2,1}' }]",
    ));
    assert_eq!((d.line, d.col), (7, 43)); // the `{` of the bad repetition
    assert_eq!(
        d.message,
        "invalid regular expression in `regex` of header condition \"x-user\" in route #1 in listener \"web\": invalid repetition count range, the start must be <= the end"
    );
}

#[test]
fn invalid_durations() {
    let d = the_error(&listener_with("idle_timeout = \"30\""));
    check(
        &d,
        5,
        16,
        "invalid duration for `idle_timeout` in listener \"web\": missing unit after `30` in duration `30`",
        "write a whole number followed by a unit (ms, s, m, h), e.g. \"250ms\", \"5s\", \"1m30s\" or \"2h\"",
    );
    let d = the_error(&listener_with("request_header_timeout = \"0s\""));
    check(
        &d,
        5,
        26,
        "`request_header_timeout` in listener \"web\" must be greater than 0",
        "set a positive duration, e.g. request_header_timeout = \"10s\" (the default)",
    );
    let d = the_error(&listener_with("request_body_timeout = \"0s\""));
    check(
        &d,
        5,
        24,
        "`request_body_timeout` in listener \"web\" must be greater than 0",
        "set a positive duration, e.g. request_body_timeout = \"60s\" (the default)",
    );
    let d = the_error(&pool_with("response_body_timeout = \"0s\""));
    check(
        &d,
        11,
        25,
        "`response_body_timeout` in pool \"api\" must be greater than 0",
        "set a positive duration, e.g. response_body_timeout = \"60s\" (the default)",
    );
    let d = the_error(&pool_with("connect_timeout = 2"));
    check(
        &d,
        11,
        19,
        "wrong type for `connect_timeout` in pool \"api\": expected a string, found integer `2`",
        "write it like: connect_timeout = \"2s\"",
    );
}

#[test]
fn invalid_header_names_and_methods() {
    let d = the_error(&route_with(
        "  headers = [{ name = \"x user\", present = true }]",
    ));
    check(
        &d,
        7,
        23,
        "invalid header name \"x user\" in route #1 in listener \"web\"",
        "header names are tokens: letters, digits and !#$%&'*+-.^_`|~ (no spaces or colons)",
    );
    let d = the_error(&route_with("  methods = [\"GET\", \"GET,POST\"]"));
    check(
        &d,
        7,
        21,
        "invalid HTTP method \"GET,POST\" in route #1 in listener \"web\"",
        "a method is one token such as GET, POST, PUT, DELETE, PATCH, HEAD or OPTIONS; list several as separate strings: [\"GET\", \"POST\"]",
    );
}

#[test]
fn invalid_host_patterns() {
    let e = errors(&route_with(
        "  host = [\"*\", \"a.*.b\", \"*foo.com\", \"\", \"a b\", \"x.com:443\"]",
    ));
    let got: Vec<(usize, &str)> = e.iter().map(|d| (d.col, d.message.as_str())).collect();
    let ctx = "in route #1 in listener \"web\"";
    assert_eq!(
        got,
        [
            (
                11,
                &*format!("invalid host pattern \"*\" {ctx}: `*` alone is not a pattern")
            ),
            (
                16,
                &*format!(
                    "invalid host pattern \"a.*.b\" {ctx}: a wildcard is only allowed as the first label"
                )
            ),
            (
                25,
                &*format!(
                    "invalid host pattern \"*foo.com\" {ctx}: a wildcard must be a whole label"
                )
            ),
            (
                37,
                &*format!("invalid host pattern \"\" {ctx}: it is empty")
            ),
            (
                41,
                &*format!("invalid host pattern \"a b\" {ctx}: invalid character ' '")
            ),
            (
                48,
                &*format!("invalid host pattern \"x.com:443\" {ctx}: it includes a port")
            ),
        ]
    );
    assert_eq!(
        e[5].help.as_deref(),
        Some("hosts are matched without the port: write \"x.com\"")
    );
    let d = the_error(&route_with("  host = []"));
    check(
        &d,
        7,
        10,
        "`host` is an empty list in route #1 in listener \"web\"",
        "list at least one host, or remove `host` to match any host",
    );
}

#[test]
fn pool_and_split() {
    let d = the_error(&route_with("  split = [{ pool = \"api\" }]"));
    check(
        &d,
        7,
        11,
        "route #1 in listener \"web\" has both `pool` and `split`",
        "use `pool` to send every matching request to one pool, or `split` to divide them between pools, not both",
    );
    let d = the_error(&MINIMAL.replace("  pool = \"api\"\n", "  path = \"/\"\n"));
    check(
        &d,
        5,
        3,
        "route #1 in listener \"web\" has no `pool` or `split`",
        "say where matching requests go: pool = \"NAME\", or split = [{ pool = \"a\", weight = 90 }, { pool = \"b\", weight = 10 }]",
    );
}

#[test]
fn path_matchers() {
    let d = the_error(&route_with("  path = \"/a\"\n  path_regex = \"^/b\""));
    check(
        &d,
        8,
        16,
        "route #1 in listener \"web\" has both `path` and `path_regex`",
        "a route matches the path one way only: keep one of `path`, `path_prefix` and `path_regex`",
    );
    let d = the_error(&route_with("  path_prefix = \"api/\""));
    check(
        &d,
        7,
        17,
        "`path_prefix` \"api/\" in route #1 in listener \"web\" must start with `/`",
        "write \"/api/\"",
    );
}

#[test]
fn condition_needs_exactly_one_of_exact_regex_present() {
    let d = the_error(&route_with("  cookies = [{ name = \"beta\" }]"));
    check(
        &d,
        7,
        14,
        "cookie condition \"beta\" in route #1 in listener \"web\" says nothing about the value",
        "add one of `exact = \"...\"`, `regex = \"...\"` or `present = true|false`",
    );
    let d = the_error(&route_with(
        "  query = [{ name = \"debug\", exact = \"1\", present = true }]",
    ));
    check(
        &d,
        7,
        53,
        "query condition \"debug\" in route #1 in listener \"web\" has both `exact` and `present`",
        "use exactly one of `exact`, `regex` and `present` per condition; add another condition with the same name to combine them",
    );
}

#[test]
fn hash_key() {
    let d = the_error(&pool_with(
        "algorithm = \"ring_hash\"\nhash_key = \"header\"",
    ));
    check(
        &d,
        12,
        12,
        "invalid hash_key \"header\" in pool \"api\"",
        "did you mean \"header:NAME\"? use client_ip, client_ip_port, path, header:NAME or cookie:NAME",
    );
    let d = the_error(&pool_with("hash_key = \"path\""));
    check(
        &d,
        11,
        12,
        "`hash_key` only applies to hashing algorithms (ring_hash, maglev), but pool \"api\" uses round_robin",
        "remove hash_key, or set algorithm = \"ring_hash\" or \"maglev\"",
    );
}

#[test]
fn maglev_table_size() {
    let d = the_error(&pool_with(
        "algorithm = \"maglev\"\nmaglev_table_size = 1000",
    ));
    check(
        &d,
        12,
        21,
        "`maglev_table_size` 1000 in pool \"api\" is not a prime number",
        "Maglev needs a prime table size; the nearest primes are 997 and 1009",
    );
    let d = the_error(&pool_with("algorithm = \"maglev\"\nmaglev_table_size = 5"));
    assert_eq!(
        d.message,
        "`maglev_table_size` in pool \"api\" must be a prime between 7 and 1000003, not 5"
    );
    let d = the_error(&pool_with("maglev_table_size = 13"));
    check(
        &d,
        11,
        21,
        "`maglev_table_size` only applies to algorithm = \"maglev\", but pool \"api\" uses round_robin",
        "remove maglev_table_size, or set algorithm = \"maglev\"",
    );
}

#[test]
fn unknown_algorithm() {
    let d = the_error(&pool_with("algorithm = \"least_conn\""));
    check(
        &d,
        11,
        13,
        "unknown algorithm \"least_conn\" in pool \"api\"",
        "did you mean \"least_connections\"? algorithms: round_robin, weighted_round_robin, least_connections, p2c_ewma, random, ring_hash, maglev",
    );
}

#[test]
fn limits_out_of_range() {
    let d = the_error(&listener_with("max_headers = 0"));
    check(
        &d,
        5,
        15,
        "`max_headers` in listener \"web\" must be between 1 and 1000, not 0",
        "use 1 to 1000 header fields (more get 431); the default is 100",
    );
    let d = the_error(&listener_with(
        "max_header_bytes = 4096\nmax_uri_bytes = 8192",
    ));
    check(
        &d,
        6,
        17,
        "`max_uri_bytes` in listener \"web\" must be between 256 and 4096, not 8192",
        "use 256 bytes up to max_header_bytes (4096); longer URIs get 414",
    );
    let d = the_error(&pool_with("max_idle_per_endpoint = 10001"));
    assert_eq!((d.line, d.col), (11, 25));
    let d = the_error(&pool_with("max_fails = 0"));
    check(
        &d,
        11,
        13,
        "`max_fails` in pool \"api\" must be between 1 and 1000, not 0",
        "use 1 to 1000 failures in a row; to never skip an endpoint, set fail_timeout = \"0s\"",
    );
    let d = the_error(&pool_with("fail_statuses = [503, 200]"));
    check(
        &d,
        11,
        23,
        "`fail_statuses` in pool \"api\" lists 200, which is not an error status",
        "list statuses from 400 to 599, e.g. fail_statuses = [502, 503, 504]",
    );
    let d = the_error(&pool_with("fail_statuses = 503"));
    assert_eq!((d.line, d.col), (11, 17), "{}", d.render());
}

#[test]
fn protocol_other_than_http_tcp_udp() {
    let d = the_error(&listener_with("protocol = \"tpc\""));
    check(
        &d,
        5,
        12,
        "unsupported protocol \"tpc\" in listener \"web\"",
        "did you mean \"tcp\"? supported: \"http\" (L7, the default), \"tcp\" and \"udp\" (L4)",
    );
}

const L4_POOL: &str = "\n[[pool]]\nname = \"db\"\nendpoints = [{ address = \"127.0.0.1:5432\" }]\n";

#[test]
fn l4_listener_keys_follow_the_protocol() {
    // A tcp listener with an HTTP route, and a udp listener with an SNI key.
    let text = format!(
        "[[listener]]\nname = \"pg\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\n  [[listener.route]]\n  pool = \"db\"\n\
[[listener]]\nname = \"dns\"\naddress = \"127.0.0.1:0\"\nprotocol = \"udp\"\npool = \"db\"\nnon_tls = \"refuse\"\n{L4_POOL}"
    );
    let e = errors(&text);
    check(
        &e[0],
        6,
        3,
        "`route` is not a setting of tcp listeners (listener \"pg\")",
        "tcp and udp listeners send everything to `pool` (tcp: or route TLS by SNI with [[listener.sni]]); HTTP routing needs protocol = \"http\"",
    );
    check(
        &e[1],
        13,
        11,
        "`non_tls` is not a setting of udp listeners (listener \"dns\")",
        "`non_tls` does not apply to udp listeners; remove it",
    );
    assert_eq!(e.len(), 2, "{e:#?}");
}

#[test]
fn l4_proxy_protocol_needs_trusted_peers() {
    let text = format!(
        "[[listener]]\nname = \"pg\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\nproxy_protocol = \"v2\"\n{L4_POOL}"
    );
    check(
        &the_error(&text),
        6,
        18,
        "listener \"pg\" accepts the PROXY protocol but has no `trusted_proxies`",
        "a PROXY header sets the client address, so only peers you trust may send one: add trusted_proxies = [\"10.0.0.0/8\"] (addresses or CIDR networks)",
    );
    let text = format!(
        "[[listener]]\nname = \"pg\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\nproxy_protocol = \"any\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n{L4_POOL}"
    );
    check(
        &the_error(&text),
        7,
        20,
        "invalid network \"10.0.0.0/33\" in `trusted_proxies` of listener \"pg\": prefix length \"33\" must be a number from 0 to 32",
        "write an address or a network in CIDR form, e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\"",
    );
}

#[test]
fn l4_sni_route_to_a_missing_pool_and_no_pool_at_all() {
    let text = format!(
        "[[listener]]\nname = \"tls\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\n  [[listener.sni]]\n  server_name = \"*.example.com\"\n  pool = \"dbb\"\n\
[[listener]]\nname = \"bare\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\n{L4_POOL}"
    );
    let e = errors(&text);
    check(
        &e[0],
        7,
        10,
        "sni route \"sni-1\" in listener \"tls\" uses pool \"dbb\", which does not exist",
        "did you mean \"db\"? defined pools: \"db\"",
    );
    check(
        &e[1],
        8,
        1,
        "listener \"bare\" has no `pool` and no [[listener.sni]] routes",
        "say where connections go: pool = \"NAME\", or route TLS connections by name with [[listener.sni]] sections",
    );
}

#[test]
fn global_settings() {
    let e = errors("[global]\nworkers = 2000\nlog_level = \"\"\n");
    check(
        &e[0],
        2,
        11,
        "`workers` in [global] must be between 0 and 1024, not 2000",
        "use 0 for one worker per CPU, or a number of worker threads from 1 to 1024",
    );
    check(
        &e[1],
        3,
        13,
        "invalid `log_level` \"\" in [global]: it is empty",
        "use a level (error, warn, info, debug, trace) or a tracing filter such as \"info,switchyard=debug\"",
    );
}

#[test]
fn l4_admission_settings_reach_the_model() {
    let text = format!(
        "[[listener]]\nname = \"pg\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\n\
max_connections = 10\non_limit = \"queue\"\nqueue_timeout = \"2s\"\ntcp_keepalive = \"30s\"\ntcp_nodelay = false\n{L4_POOL}"
    );
    let c = crate::config::load_str("t.toml", &text).unwrap().config;
    let a = c.listeners[0].admission;
    assert_eq!(a.max_connections, 10);
    assert_eq!(
        a.on_limit,
        crate::config::OnLimit::Queue(std::time::Duration::from_secs(2))
    );
    assert_eq!(a.tcp_keepalive, Some(std::time::Duration::from_secs(30)));
    assert!(!a.tcp_nodelay);
    assert_eq!(
        c.listeners[0].timeouts.idle,
        std::time::Duration::from_secs(600),
        "tcp idle default is 10m"
    );
}
