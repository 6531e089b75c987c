//! Randomised check of the indexed router against a naive linear matcher.
//!
//! A seeded xorshift generator builds a few hundred routes from a small
//! vocabulary (so routes overlap and shadow each other) and thousands of
//! requests from a matching vocabulary; `Router::find` must agree with a
//! first-match linear scan written as plainly as possible, independently of
//! the router's index, merge and lazy parsing.

use http::header::HeaderName;
use http::{HeaderMap, Method};
use regex::Regex;

use super::tests::{Req, route};
use super::{RequestView, Router};
use crate::config::model::{
    HeaderMatch, HostMatch, MatchCfg, NamedMatch, PathMatch, RouteCfg, ValueMatch,
};

/// xorshift64*: tiny, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

// ---- vocabulary -----------------------------------------------------------

const EXACT_HOSTS: &[&str] = &["a.com", "x.a.com", "y.x.a.com", "b.org", "c.net"];
const SUFFIXES: &[&str] = &[".a.com", ".x.a.com", ".com", ".org", ".b.org"];
const REQ_HOSTS: &[&str] = &[
    "a.com",
    "x.a.com",
    "y.x.a.com",
    "z.y.x.a.com",
    "q.a.com",
    "com",
    "b.org",
    "w.b.org",
    "c.net",
    "other",
    "",
    "A.COM:80",
    "x.a.com.",
    ".x.a.com",
];
const EXACT_PATHS: &[&str] = &["/", "/api", "/api/v1", "/static/app.css", ""];
const PREFIXES: &[&str] = &["", "/", "/a", "/api", "/api/", "/api/v1", "/st", "/static/"];
const REGEXES: &[&str] = &["^/api/v[0-9]$", "css$", "v1", "^/$", "[xyz]"];
const REQ_PATHS: &[&str] = &[
    "/",
    "/api",
    "/api/",
    "/api/v1",
    "/api/v1/users",
    "/api/v2",
    "/apix",
    "/static/app.css",
    "/static/",
    "/stx",
    "/a",
    "",
    "/x",
];
const HEADER_NAMES: &[&str] = &["x-a", "x-b"];
const VALUES: &[&str] = &["1", "2", "3", ""];
const COOKIE_NAMES: &[&str] = &["s", "t"];
const QUERY_NAMES: &[&str] = &["q", "k", "a b"];
const QUERY_PARAMS: &[&str] = &[
    "q=1", "q=2", "%71=1", "q=%32", "q", "k=1", "k=%33", "a%20b=1", "a+b=2", "k=2", "q=%zz",
];

fn value_match(rng: &mut Rng) -> ValueMatch {
    match rng.below(5) {
        0 | 1 => ValueMatch::Exact(rng.pick(VALUES).to_string()),
        2 => ValueMatch::Regex(Regex::new(rng.pick(&["^[12]$", "2", "^$"])).unwrap()),
        3 => ValueMatch::Present,
        _ => ValueMatch::Absent,
    }
}

fn random_route(rng: &mut Rng) -> RouteCfg {
    let mut m = MatchCfg::default();
    if rng.chance(95) {
        for _ in 0..1 + rng.below(2) {
            m.hosts.push(if rng.chance(60) {
                HostMatch::Exact(rng.pick(EXACT_HOSTS).to_string())
            } else {
                HostMatch::Suffix(rng.pick(SUFFIXES).to_string())
            });
        }
    }
    m.path = match rng.below(11) {
        0 => None,
        1..=4 => Some(PathMatch::Exact(rng.pick(EXACT_PATHS).to_string())),
        5..=8 => Some(PathMatch::Prefix(rng.pick(PREFIXES).to_string())),
        _ => Some(PathMatch::Regex(Regex::new(rng.pick(REGEXES)).unwrap())),
    };
    // Host-less routes match some paths only (the catch-all runs add a real
    // catch-all), so that some requests match nothing.
    let any_path = match &m.path {
        None => true,
        Some(PathMatch::Prefix(p)) => p.is_empty(),
        Some(_) => false,
    };
    if m.hosts.is_empty() && any_path {
        m.path = Some(PathMatch::Regex(Regex::new(rng.pick(REGEXES)).unwrap()));
    }
    if rng.chance(35) {
        let all = [Method::GET, Method::POST, Method::PUT];
        for _ in 0..1 + rng.below(2) {
            m.methods.push(rng.pick(&all));
        }
    }
    if rng.chance(45) {
        for _ in 0..1 + rng.below(2) {
            m.headers.push(HeaderMatch {
                name: HeaderName::from_static(rng.pick(HEADER_NAMES)),
                value: value_match(rng),
            });
        }
    }
    if rng.chance(30) {
        m.cookies.push(NamedMatch {
            name: rng.pick(COOKIE_NAMES).to_string(),
            value: value_match(rng),
        });
    }
    if rng.chance(30) {
        m.query.push(NamedMatch {
            name: rng.pick(QUERY_NAMES).to_string(),
            value: value_match(rng),
        });
    }
    route(m)
}

fn random_request(rng: &mut Rng) -> Req {
    let target = {
        let path = rng.pick(REQ_PATHS).to_string();
        match rng.below(3) {
            0 => path,
            _ => {
                let n = rng.below(4);
                let params: Vec<&str> = (0..n).map(|_| rng.pick(QUERY_PARAMS)).collect();
                format!("{path}?{}", params.join("&"))
            }
        }
    };
    let methods = [Method::GET, Method::POST, Method::PUT, Method::DELETE];
    let mut req = Req::get(rng.pick(REQ_HOSTS), &target).method(rng.pick(&methods));
    for name in HEADER_NAMES {
        for _ in 0..rng.below(3) {
            req = req.header(name, rng.pick(VALUES));
        }
    }
    for _ in 0..rng.below(3) {
        let n = 1 + rng.below(2);
        let line: Vec<String> = (0..n)
            .map(|_| format!("{}={}", rng.pick(COOKIE_NAMES), rng.pick(VALUES)))
            .collect();
        req = req.header("cookie", &line.join("; "));
    }
    req
}

// ---- the naive reference ----------------------------------------------------

fn naive_find(routes: &[RouteCfg], req: &RequestView<'_>) -> Option<usize> {
    routes.iter().position(|r| naive_matches(&r.matcher, req))
}

fn naive_matches(m: &MatchCfg, req: &RequestView<'_>) -> bool {
    let host_ok = m.hosts.is_empty()
        || m.hosts.iter().any(|h| match h {
            HostMatch::Exact(h) => req.host == h,
            HostMatch::Suffix(s) => req.host.ends_with(s.as_str()),
        });
    let path_ok = match &m.path {
        None => true,
        Some(PathMatch::Exact(p)) => req.path == p,
        Some(PathMatch::Prefix(p)) => req.path.starts_with(p.as_str()),
        Some(PathMatch::Regex(re)) => re.is_match(req.path),
    };
    let method_ok = m.methods.is_empty() || m.methods.contains(req.method);
    let headers_ok = m.headers.iter().all(|h| {
        let lines: Vec<Option<&str>> = req
            .headers
            .get_all(&h.name)
            .iter()
            .map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .collect();
        match &h.value {
            ValueMatch::Present => !lines.is_empty(),
            ValueMatch::Absent => lines.is_empty(),
            ValueMatch::Exact(w) => lines.contains(&Some(w.as_str())),
            ValueMatch::Regex(re) => lines.iter().flatten().any(|v| re.is_match(v)),
        }
    });
    let cookies = naive_cookies(req.headers);
    let cookies_ok = m
        .cookies
        .iter()
        .all(|c| naive_value(&c.value, first(&cookies, &c.name)));
    let params = naive_query(req.query.unwrap_or(""));
    let query_ok = m
        .query
        .iter()
        .all(|q| naive_value(&q.value, first(&params, &q.name)));
    host_ok && path_ok && method_ok && headers_ok && cookies_ok && query_ok
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn naive_value(m: &ValueMatch, v: Option<&str>) -> bool {
    match (m, v) {
        (ValueMatch::Present, v) => v.is_some(),
        (ValueMatch::Absent, v) => v.is_none(),
        (ValueMatch::Exact(w), Some(v)) => w == v,
        (ValueMatch::Regex(re), Some(v)) => re.is_match(v),
        (_, None) => false,
    }
}

fn naive_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in headers.get_all("cookie") {
        let line = std::str::from_utf8(line.as_bytes()).unwrap();
        for pair in line.split(';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn naive_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (naive_decode(n), naive_decode(v))
        })
        .collect()
}

/// Decodes `%XX` one character at a time (the vocabulary is ASCII).
fn naive_decode(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '%'
            && let Some(hex) = rest.get(1..3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            out.push(char::from(b));
            rest = &rest[3..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

// ---- the property -----------------------------------------------------------

#[test]
fn router_agrees_with_naive_linear_matcher() {
    let seeds = [0x9E37_79B9_7F4A_7C15u64, 1, 42, 0xDEAD_BEEF];
    for (run, seed) in seeds.into_iter().enumerate() {
        let with_catch_all = run % 2 == 1;
        let mut rng = Rng(seed);
        let mut routes: Vec<RouteCfg> = (0..250).map(|_| random_route(&mut rng)).collect();
        // Half the runs end in a catch-all.
        if with_catch_all {
            routes.push(route(MatchCfg::default()));
        }
        let router = Router::new(&routes);
        let (mut hits, mut misses) = (0, 0);
        let mut winners = std::collections::BTreeSet::new();
        for n in 0..4000 {
            let req = random_request(&mut rng);
            let view = req.view();
            let want = naive_find(&routes, &view);
            assert_eq!(
                router.find(&view),
                want,
                "seed {seed:#x}, request {n}: {} {} {:?} {:?} {:?}",
                req.method,
                req.host,
                req.path,
                req.query,
                req.headers
            );
            match want {
                Some(i) => {
                    hits += 1;
                    winners.insert(i);
                }
                None => misses += 1,
            }
        }
        // The vocabulary must exercise both outcomes (misses only without
        // the catch-all) and let many different routes win.
        let stats = format!(
            "seed {seed:#x}: {hits} hits, {misses} misses, {} winners",
            winners.len()
        );
        assert!(hits > 1000 && winners.len() > 25, "{stats}");
        if !with_catch_all {
            assert!(misses > 10, "{stats}");
        }
    }
}

#[test]
fn naive_decoder_agrees_on_ascii() {
    for s in QUERY_PARAMS {
        assert_eq!(super::values::percent_decode(s), naive_decode(s), "{s}");
    }
    assert_eq!(naive_decode("%4"), "%4");
    assert_eq!(naive_decode("%+1"), "%+1");
}
