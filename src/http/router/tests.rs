//! Unit tests of the router: one group per matcher kind, then combinations,
//! ordering and host normalisation. The randomised comparison against a naive
//! matcher lives in `prop_tests.rs`.

use http::header::{HeaderName, HeaderValue};
use regex::Regex;

use super::*;
use crate::config::model::{
    HeaderMatch, HostMatch, MatchCfg, NamedMatch, PathMatch, RouteAction, RouteCfg, ValueMatch,
};

// ---- builders -------------------------------------------------------------

pub(super) fn route(matcher: MatchCfg) -> RouteCfg {
    RouteCfg {
        name: String::new(),
        matcher,
        action: RouteAction::Pool(0),
    }
}

fn hosts(hs: &[&str]) -> Vec<HostMatch> {
    hs.iter()
        .map(|h| match h.strip_prefix('*') {
            Some(suffix) => HostMatch::Suffix(suffix.to_string()),
            None => HostMatch::Exact(h.to_string()),
        })
        .collect()
}

fn on_hosts(hs: &[&str]) -> MatchCfg {
    MatchCfg {
        hosts: hosts(hs),
        ..MatchCfg::default()
    }
}

fn on_path(path: PathMatch) -> MatchCfg {
    MatchCfg {
        path: Some(path),
        ..MatchCfg::default()
    }
}

fn exact(p: &str) -> PathMatch {
    PathMatch::Exact(p.to_string())
}

fn prefix(p: &str) -> PathMatch {
    PathMatch::Prefix(p.to_string())
}

fn re(p: &str) -> Regex {
    Regex::new(p).unwrap()
}

fn is(v: &str) -> ValueMatch {
    ValueMatch::Exact(v.to_string())
}

fn header(name: &'static str, value: ValueMatch) -> HeaderMatch {
    HeaderMatch {
        name: HeaderName::from_static(name),
        value,
    }
}

fn named(name: &str, value: ValueMatch) -> NamedMatch {
    NamedMatch {
        name: name.to_string(),
        value,
    }
}

/// An owned request; `view()` borrows it as the router sees it.
pub(super) struct Req {
    pub method: Method,
    pub host: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

impl Req {
    /// `GET` of `target` (`/path?query`) on `host` (normalised here).
    pub fn get(host: &str, target: &str) -> Req {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (target, None),
        };
        Req {
            method: Method::GET,
            host: normalize_host(host).into_owned(),
            path: path.to_string(),
            query,
            headers: HeaderMap::new(),
        }
    }

    pub fn method(mut self, m: Method) -> Req {
        self.method = m;
        self
    }

    /// Appends a header line (repeat for several lines).
    pub fn header(mut self, name: &'static str, value: &str) -> Req {
        self.headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }
}

fn router(matchers: Vec<MatchCfg>) -> Router {
    let routes: Vec<RouteCfg> = matchers.into_iter().map(route).collect();
    Router::new(&routes)
}

fn find(r: &Router, req: Req) -> Option<usize> {
    r.find(&req.view())
}

// ---- hosts ----------------------------------------------------------------

#[test]
fn host_exact() {
    let r = router(vec![
        on_hosts(&["a.example.com"]),
        on_hosts(&["b.example.com"]),
    ]);
    assert_eq!(find(&r, Req::get("a.example.com", "/")), Some(0));
    assert_eq!(find(&r, Req::get("b.example.com", "/x")), Some(1));
    assert_eq!(find(&r, Req::get("c.example.com", "/")), None);
    assert_eq!(find(&r, Req::get("example.com", "/")), None);
    // Normalised request hosts: case, port, trailing dot.
    assert_eq!(find(&r, Req::get("A.Example.COM:8080", "/")), Some(0));
    assert_eq!(find(&r, Req::get("b.example.com.", "/")), Some(1));
}

#[test]
fn host_config_values_are_normalised_too() {
    let r = router(vec![
        on_hosts(&["API.Example.com"]),
        on_hosts(&["*.Example.ORG"]),
    ]);
    assert_eq!(find(&r, Req::get("api.example.com", "/")), Some(0));
    assert_eq!(find(&r, Req::get("x.example.org", "/")), Some(1));
}

#[test]
fn host_wildcard_any_depth_but_not_bare_domain() {
    let r = router(vec![on_hosts(&["*.example.com"])]);
    assert_eq!(find(&r, Req::get("a.example.com", "/")), Some(0));
    assert_eq!(find(&r, Req::get("a.b.c.example.com", "/")), Some(0));
    assert_eq!(find(&r, Req::get("WWW.Example.Com:443", "/")), Some(0));
    assert_eq!(find(&r, Req::get("example.com", "/")), None);
    assert_eq!(find(&r, Req::get("badexample.com", "/")), None);
    assert_eq!(find(&r, Req::get("a.example.com.evil", "/")), None);
    assert_eq!(find(&r, Req::get("com", "/")), None);
}

#[test]
fn host_wildcards_nested_and_exact_first_match_wins() {
    let r = router(vec![
        on_hosts(&["*.b.example.com"]),
        on_hosts(&["a.example.com"]),
        on_hosts(&["*.example.com"]),
        on_hosts(&["example.com"]),
    ]);
    assert_eq!(find(&r, Req::get("x.b.example.com", "/")), Some(0));
    assert_eq!(find(&r, Req::get("b.example.com", "/")), Some(2));
    assert_eq!(find(&r, Req::get("a.example.com", "/")), Some(1));
    assert_eq!(find(&r, Req::get("z.example.com", "/")), Some(2));
    assert_eq!(find(&r, Req::get("example.com", "/")), Some(3));
}

#[test]
fn host_any_of_several_and_duplicates() {
    let r = router(vec![
        MatchCfg {
            hosts: hosts(&["a.com", "*.a.com", "*.x.a.com", "a.com"]),
            headers: vec![header("x-go", is("1"))],
            ..MatchCfg::default()
        },
        on_hosts(&["b.com", "*.b.com"]),
    ]);
    // y.x.a.com sits in two suffix buckets: route 0 is offered once, fails,
    // and nothing else matches.
    assert_eq!(find(&r, Req::get("y.x.a.com", "/")), None);
    assert_eq!(
        find(&r, Req::get("y.x.a.com", "/").header("x-go", "1")),
        Some(0)
    );
    assert_eq!(
        find(&r, Req::get("a.com", "/").header("x-go", "1")),
        Some(0)
    );
    assert_eq!(find(&r, Req::get("b.com", "/")), Some(1));
    assert_eq!(find(&r, Req::get("q.b.com", "/")), Some(1));
}

// ---- paths ----------------------------------------------------------------

#[test]
fn path_exact() {
    let r = router(vec![on_path(exact("/health")), on_path(exact(""))]);
    assert_eq!(find(&r, Req::get("h", "/health")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/health?x=1")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/health/")), None);
    assert_eq!(find(&r, Req::get("h", "/Health")), None);
    assert_eq!(find(&r, Req::get("h", "")), Some(1));
}

#[test]
fn path_prefix_is_a_plain_string_prefix() {
    let r = router(vec![
        on_path(prefix("/api/v2/")),
        on_path(prefix("/api")),
        on_path(prefix("/static/")),
        on_path(prefix("")),
    ]);
    assert_eq!(find(&r, Req::get("h", "/api/v2/users")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/api/v2")), Some(1));
    assert_eq!(find(&r, Req::get("h", "/api")), Some(1));
    assert_eq!(find(&r, Req::get("h", "/apix")), Some(1));
    assert_eq!(find(&r, Req::get("h", "/static/app.js")), Some(2));
    assert_eq!(find(&r, Req::get("h", "/static")), Some(3));
    assert_eq!(find(&r, Req::get("h", "/")), Some(3));
    assert_eq!(find(&r, Req::get("h", "")), Some(3));
}

#[test]
fn path_regex_is_unanchored_unless_anchored() {
    let r = router(vec![
        on_path(PathMatch::Regex(re(r"^/items/[0-9]+$"))),
        on_path(PathMatch::Regex(re(r"\.css"))),
    ]);
    assert_eq!(find(&r, Req::get("h", "/items/42")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/items/42/x")), None);
    assert_eq!(find(&r, Req::get("h", "/x/items/42")), None);
    assert_eq!(find(&r, Req::get("h", "/a/b.css")), Some(1));
    assert_eq!(find(&r, Req::get("h", "/a/b.css.map")), Some(1));
    // The query is not part of the path.
    assert_eq!(find(&r, Req::get("h", "/a?f=b.css")), None);
}

#[test]
fn path_kinds_mixed_keep_config_order() {
    let r = router(vec![
        on_path(PathMatch::Regex(re("^/a/b"))),
        on_path(prefix("/a/")),
        on_path(exact("/a/c")),
        on_path(exact("/z")),
        on_path(prefix("/z")),
    ]);
    assert_eq!(find(&r, Req::get("h", "/a/b")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/a/c")), Some(1));
    assert_eq!(find(&r, Req::get("h", "/z")), Some(3));
    assert_eq!(find(&r, Req::get("h", "/zz")), Some(4));
}

// ---- methods --------------------------------------------------------------

#[test]
fn methods_any_of() {
    let r = router(vec![
        MatchCfg {
            methods: vec![Method::POST, Method::PUT],
            ..MatchCfg::default()
        },
        MatchCfg {
            methods: vec![Method::from_bytes(b"PURGE").unwrap()],
            ..MatchCfg::default()
        },
    ]);
    assert_eq!(find(&r, Req::get("h", "/").method(Method::POST)), Some(0));
    assert_eq!(find(&r, Req::get("h", "/").method(Method::PUT)), Some(0));
    assert_eq!(find(&r, Req::get("h", "/")), None);
    let purge = Method::from_bytes(b"PURGE").unwrap();
    assert_eq!(find(&r, Req::get("h", "/").method(purge)), Some(1));
}

// ---- headers --------------------------------------------------------------

#[test]
fn header_exact_and_regex_any_line() {
    let r = router(vec![
        MatchCfg {
            headers: vec![header("x-env", is("canary"))],
            ..MatchCfg::default()
        },
        MatchCfg {
            headers: vec![header("user-agent", ValueMatch::Regex(re("(?i)bot")))],
            ..MatchCfg::default()
        },
    ]);
    assert_eq!(
        find(&r, Req::get("h", "/").header("x-env", "canary")),
        Some(0)
    );
    assert_eq!(find(&r, Req::get("h", "/").header("x-env", "Canary")), None);
    assert_eq!(
        find(&r, Req::get("h", "/").header("x-env", "canary2")),
        None
    );
    let multi = Req::get("h", "/")
        .header("x-env", "prod")
        .header("x-env", "canary");
    assert_eq!(find(&r, multi), Some(0));
    let ua = Req::get("h", "/")
        .header("user-agent", "curl")
        .header("user-agent", "GoogleBot/2");
    assert_eq!(find(&r, ua), Some(1));
    assert_eq!(
        find(&r, Req::get("h", "/").header("user-agent", "curl")),
        None
    );
}

#[test]
fn header_present_and_absent() {
    let r = router(vec![
        MatchCfg {
            headers: vec![
                header("authorization", ValueMatch::Present),
                header("x-debug", ValueMatch::Absent),
            ],
            ..MatchCfg::default()
        },
        MatchCfg {
            headers: vec![header("x-debug", ValueMatch::Present)],
            ..MatchCfg::default()
        },
    ]);
    assert_eq!(
        find(&r, Req::get("h", "/").header("authorization", "")),
        Some(0)
    );
    let both = Req::get("h", "/")
        .header("authorization", "b")
        .header("x-debug", "1");
    assert_eq!(find(&r, both), Some(1));
    assert_eq!(find(&r, Req::get("h", "/")), None);
}

#[test]
fn header_non_utf8_values_never_match_exact_or_regex() {
    let r = router(vec![
        MatchCfg {
            headers: vec![header("x-v", ValueMatch::Regex(re(".")))],
            ..MatchCfg::default()
        },
        MatchCfg {
            headers: vec![header("x-v", ValueMatch::Present)],
            ..MatchCfg::default()
        },
    ]);
    let mut req = Req::get("h", "/");
    req.headers.append(
        HeaderName::from_static("x-v"),
        HeaderValue::from_bytes(b"caf\xe9").unwrap(),
    );
    assert_eq!(find(&r, req), Some(1));
    // Valid UTF-8 outside visible ASCII still matches (`to_str` would refuse).
    let mut req = Req::get("h", "/");
    req.headers.append(
        HeaderName::from_static("x-v"),
        HeaderValue::from_bytes("café".as_bytes()).unwrap(),
    );
    assert_eq!(find(&r, req), Some(0));
}

// ---- cookies --------------------------------------------------------------

#[test]
fn cookies_parsed_across_lines_first_wins() {
    let r = router(vec![
        MatchCfg {
            cookies: vec![
                named("beta", is("1")),
                named("session", ValueMatch::Present),
            ],
            ..MatchCfg::default()
        },
        MatchCfg {
            cookies: vec![named("theme", ValueMatch::Regex(re("^da")))],
            ..MatchCfg::default()
        },
        MatchCfg {
            cookies: vec![named("session", ValueMatch::Absent)],
            ..MatchCfg::default()
        },
    ]);
    let req = Req::get("h", "/")
        .header("cookie", "session=abc;beta=1")
        .header("cookie", " theme = dark ; beta=0");
    assert_eq!(find(&r, req), Some(0));
    // First occurrence of `beta` wins, across lines.
    let req = Req::get("h", "/")
        .header("cookie", "beta=0; session=abc")
        .header("cookie", "beta=1; theme=dark");
    assert_eq!(find(&r, req), Some(1));
    let req = Req::get("h", "/").header("cookie", "theme=light; other");
    assert_eq!(find(&r, req), Some(2));
    let req = Req::get("h", "/").header("cookie", "session; theme=light");
    assert_eq!(find(&r, req), None);
}

#[test]
fn cookie_pairs_are_trimmed_and_literal() {
    let headers = {
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_static("a=1;  b = 2 ;;c; d=\"q\"; e=x=y"),
        );
        h
    };
    let jar = values::parse_cookies(&headers);
    let pairs: Vec<(&str, &str)> = jar
        .as_slice()
        .iter()
        .map(|(n, v)| (n.as_ref(), v.as_ref()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("a", "1"),
            ("b", "2"),
            ("c", ""),
            ("d", "\"q\""),
            ("e", "x=y")
        ]
    );
    // The allocation-free single lookup agrees.
    assert_eq!(cookie(&headers, "b"), Some("2"));
    assert_eq!(cookie(&headers, "c"), Some(""));
    assert_eq!(cookie(&headers, "z"), None);
    let mut two = headers.clone();
    two.append("cookie", HeaderValue::from_static("z=9; a=2"));
    assert_eq!(cookie(&two, "a"), Some("1"));
    assert_eq!(cookie(&two, "z"), Some("9"));
}

// ---- query ----------------------------------------------------------------

#[test]
fn query_params_decoded_first_wins() {
    let r = router(vec![
        MatchCfg {
            query: vec![named("lang", is("en")), named("debug", ValueMatch::Absent)],
            ..MatchCfg::default()
        },
        MatchCfg {
            query: vec![named("a b", is("c&d"))],
            ..MatchCfg::default()
        },
        MatchCfg {
            query: vec![named("flag", ValueMatch::Present)],
            ..MatchCfg::default()
        },
        MatchCfg {
            query: vec![named("q", ValueMatch::Regex(re("^1\\+1$")))],
            ..MatchCfg::default()
        },
    ]);
    assert_eq!(find(&r, Req::get("h", "/?lang=en")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/?%6Cang=%65n")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/?lang=en&debug=1")), None);
    assert_eq!(find(&r, Req::get("h", "/?lang=fr&lang=en")), None);
    assert_eq!(find(&r, Req::get("h", "/?lang=en&lang=fr")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/?a%20b=c%26d")), Some(1));
    assert_eq!(find(&r, Req::get("h", "/?x=1&flag")), Some(2));
    assert_eq!(find(&r, Req::get("h", "/?flag=")), Some(2));
    // `+` is not a space.
    assert_eq!(find(&r, Req::get("h", "/?q=1+1")), Some(3));
    assert_eq!(find(&r, Req::get("h", "/?a+b=c%26d")), None);
    assert_eq!(find(&r, Req::get("h", "/")), None);
    assert_eq!(find(&r, Req::get("h", "/?")), None);
}

#[test]
fn percent_decoding() {
    use values::percent_decode as d;
    assert!(matches!(d("plain"), Cow::Borrowed("plain")));
    assert_eq!(d("%41%62c"), "Abc");
    assert_eq!(d("%4"), "%4");
    assert_eq!(d("%zz%41"), "%zzA");
    assert_eq!(d("100%"), "100%");
    assert_eq!(d("%%41"), "%A");
    assert_eq!(d("a+b"), "a+b");
    assert_eq!(d("caf%C3%A9"), "café");
    assert_eq!(d("%FF"), "\u{FFFD}");
}

#[test]
fn cookies_and_query_parsed_lazily_and_once() {
    let r = router(vec![
        on_path(exact("/q")),
        MatchCfg {
            path: Some(exact("/c")),
            cookies: vec![named("a", is("1"))],
            ..MatchCfg::default()
        },
        MatchCfg {
            path: Some(exact("/c")),
            cookies: vec![named("a", is("2"))],
            query: vec![named("x", ValueMatch::Present)],
            ..MatchCfg::default()
        },
    ]);
    let check = |target: &str, want: Option<usize>, parsed: (bool, bool)| {
        let req = Req::get("h", target).header("cookie", "a=2");
        let values = RequestValues::new(&req.headers, req.query.as_deref());
        assert_eq!(r.find_with(&req.view(), &values), want, "{target}");
        assert_eq!(values.parsed(), parsed, "{target}");
    };
    check("/q?x=1", Some(0), (false, false));
    check("/c", None, (true, true));
    check("/c?x", Some(2), (true, true));
}

// ---- combinations and ordering --------------------------------------------

#[test]
fn all_conditions_must_hold() {
    let r = router(vec![
        MatchCfg {
            hosts: hosts(&["api.example.com"]),
            path: Some(prefix("/v1/")),
            methods: vec![Method::POST],
            headers: vec![header("content-type", is("application/json"))],
            cookies: vec![named("tier", is("gold"))],
            query: vec![named("dry", ValueMatch::Absent)],
        },
        on_hosts(&["api.example.com"]),
    ]);
    let full = || {
        Req::get("api.example.com", "/v1/orders")
            .method(Method::POST)
            .header("content-type", "application/json")
            .header("cookie", "tier=gold")
    };
    assert_eq!(find(&r, full()), Some(0));
    assert_eq!(find(&r, full().method(Method::GET)), Some(1));
    assert_eq!(find(&r, full().header("cookie", "x=1")), Some(0));
    let mut req = full();
    req.query = Some("dry=1".into());
    assert_eq!(find(&r, req), Some(1));
    let mut req = full();
    req.path = "/v2/orders".into();
    assert_eq!(find(&r, req), Some(1));
    let mut req = full();
    req.headers.remove("content-type");
    assert_eq!(find(&r, req), Some(1));
    assert_eq!(find(&r, Req::get("other.com", "/v1/orders")), None);
}

#[test]
fn first_match_wins_across_buckets() {
    let r = router(vec![
        on_path(prefix("/admin")),
        MatchCfg {
            hosts: hosts(&["*.example.com"]),
            path: Some(exact("/x")),
            ..MatchCfg::default()
        },
        MatchCfg {
            hosts: hosts(&["a.example.com"]),
            path: Some(prefix("/")),
            ..MatchCfg::default()
        },
        on_hosts(&["a.example.com"]),
        MatchCfg::default(),
    ]);
    assert_eq!(find(&r, Req::get("a.example.com", "/admin/x")), Some(0));
    assert_eq!(find(&r, Req::get("a.example.com", "/x")), Some(1));
    assert_eq!(find(&r, Req::get("a.example.com", "/y")), Some(2));
    assert_eq!(find(&r, Req::get("a.example.com", "y")), Some(3));
    assert_eq!(find(&r, Req::get("b.example.com", "/y")), Some(4));
    assert_eq!(find(&r, Req::get("other", "/admin")), Some(0));
}

#[test]
fn catch_all_and_no_match() {
    let r = router(vec![
        on_path(exact("/a")),
        MatchCfg::default(),
        on_path(exact("/b")),
    ]);
    assert_eq!(find(&r, Req::get("h", "/a")), Some(0));
    assert_eq!(find(&r, Req::get("h", "/b")), Some(1));
    assert_eq!(find(&r, Req::get("", "")), Some(1));
    assert_eq!(r.len(), 3);
    assert!(!r.is_empty());

    let r = router(vec![on_path(exact("/a"))]);
    assert_eq!(find(&r, Req::get("h", "/b")), None);

    let empty = Router::new(&[]);
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(find(&empty, Req::get("h", "/")), None);
}

#[test]
fn a_catch_all_first_route_takes_every_request_before_more_specific_ones() {
    // First in config order wins, even over routes that match exactly.
    let r = router(vec![
        MatchCfg::default(),
        on_path(exact("/a")),
        on_hosts(&["a.example.com"]),
    ]);
    assert!(r.first_takes_all);
    for req in [
        Req::get("a.example.com", "/a"),
        Req::get("other", "/b"),
        Req::get("", ""),
    ] {
        assert_eq!(find(&r, req), Some(0));
    }
    // Any condition on the first route turns the shortcut off.
    for first in [
        on_path(prefix("/")),
        on_hosts(&["*.example.com"]),
        MatchCfg {
            methods: vec![Method::GET],
            ..MatchCfg::default()
        },
        MatchCfg {
            headers: vec![header("x-a", is("1"))],
            ..MatchCfg::default()
        },
    ] {
        let r = router(vec![first, MatchCfg::default()]);
        assert!(!r.first_takes_all);
    }
    let r = router(vec![on_path(exact("/a")), MatchCfg::default()]);
    assert_eq!(find(&r, Req::get("h", "/b")), Some(1));
}

#[test]
fn router_is_send_sync_debug() {
    fn assert_traits<T: Send + Sync + std::fmt::Debug>() {}
    assert_traits::<Router>();
    let r = router(vec![on_hosts(&["a.com", "*.b.com"]), on_path(prefix("/x"))]);
    let dbg = format!("{r:?}");
    assert!(dbg.contains("routes: 2"), "{dbg}");
}

// ---- normalize_host -------------------------------------------------------

#[test]
fn normalize_host_cases() {
    let cases = [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        ("example.com:", "example.com"),
        ("example.com.", "example.com"),
        ("Example.com.:443", "example.com"),
        ("example.com..", "example.com."),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
        ("[FE80::1]:80", "[fe80::1]"),
        ("::1", "::1"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("", ""),
        (".", ""),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_host(raw), want, "{raw:?}");
    }
    assert!(matches!(normalize_host("a.example.com"), Cow::Borrowed(_)));
    assert!(matches!(
        normalize_host("a.example.com:80"),
        Cow::Borrowed(_)
    ));
    assert!(matches!(normalize_host("[::1]:80"), Cow::Borrowed(_)));
    assert!(matches!(normalize_host("A.example.com"), Cow::Owned(_)));
}

#[test]
fn uses_host_only_when_a_route_names_a_host() {
    let no_hosts = router(vec![on_path(prefix("/api")), MatchCfg::default()]);
    assert!(!no_hosts.uses_host());
    // Such a router never reads the host: a raw, unnormalised one routes
    // as a normalised one would.
    let mut raw = Req::get("x", "/api/v1");
    raw.host = "WEIRD.Example.COM.:8080".to_string();
    assert_eq!(find(&no_hosts, raw), Some(0));
    assert_eq!(find(&no_hosts, Req::get("y", "/other")), Some(1));

    assert!(router(vec![on_hosts(&["a.example.com"])]).uses_host());
    assert!(router(vec![on_hosts(&["*.example.com"])]).uses_host());
}
