//! Router hot paths: compiling a 10 000-route table and matching requests
//! against it (early hit, late hit, wildcard host, regex path, fall-through to
//! the catch-all), and normalising the path routes see. Targets: compile <
//! 100 ms, match < 1 µs.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use regex::Regex;
use switchyard::config::model::{
    HeaderMatch, HostMatch, MatchCfg, PathMatch, RouteAction, RouteCfg, ValueMatch,
};
use switchyard::http::router::{RequestView, Router, normalize_host};

const ROUTES: usize = 10_000;

/// The shape of route `i` (`i < ROUTES - 1`; the last route is a catch-all).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// `svc{i/20}.example.com` + regex path (1 %).
    Regex,
    /// `*.tenant{i}.example.org` + prefix `/app/` (8 %).
    Wildcard,
    /// `svc{i/20}.example.com` + exact `/health/{i}` (10 %).
    ExactPath,
    /// `svc{i/20}.example.com` + prefix + `x-canary: on` (10 %).
    Header,
    /// Any host + exact `/static/{i}.css` (5 %).
    AnyHostExact,
    /// `svc{i/20}.example.com` + prefix, POST/PUT only (5 %).
    Methods,
    /// `svc{i/20}.example.com` + prefix `/api/v{i%50}/` (61 %).
    Plain,
}

fn shape(i: usize) -> Shape {
    match i % 100 {
        0 => Shape::Regex,
        1..=8 => Shape::Wildcard,
        9..=18 => Shape::ExactPath,
        19..=28 => Shape::Header,
        29..=33 => Shape::AnyHostExact,
        34..=38 => Shape::Methods,
        _ => Shape::Plain,
    }
}

fn svc(i: usize) -> String {
    format!("svc{}.example.com", i / 20)
}

fn api_prefix(i: usize) -> String {
    format!("/api/v{}/", i % 50)
}

fn build_routes() -> Vec<RouteCfg> {
    let item = Regex::new(r"^/items/[0-9]+$").unwrap();
    let mut routes: Vec<RouteCfg> = (0..ROUTES - 1)
        .map(|i| {
            let host = || vec![HostMatch::Exact(svc(i))];
            let matcher = match shape(i) {
                Shape::Regex => MatchCfg {
                    hosts: host(),
                    path: Some(PathMatch::Regex(item.clone())),
                    ..MatchCfg::default()
                },
                Shape::Wildcard => MatchCfg {
                    hosts: vec![HostMatch::Suffix(format!(".tenant{i}.example.org"))],
                    path: Some(PathMatch::Prefix("/app/".into())),
                    ..MatchCfg::default()
                },
                Shape::ExactPath => MatchCfg {
                    hosts: host(),
                    path: Some(PathMatch::Exact(format!("/health/{i}"))),
                    ..MatchCfg::default()
                },
                Shape::Header => MatchCfg {
                    hosts: host(),
                    path: Some(PathMatch::Prefix(api_prefix(i))),
                    headers: vec![HeaderMatch {
                        name: HeaderName::from_static("x-canary"),
                        value: ValueMatch::Exact("on".into()),
                    }],
                    ..MatchCfg::default()
                },
                Shape::AnyHostExact => MatchCfg {
                    path: Some(PathMatch::Exact(format!("/static/{i}.css"))),
                    ..MatchCfg::default()
                },
                Shape::Methods => MatchCfg {
                    hosts: host(),
                    path: Some(PathMatch::Prefix(api_prefix(i))),
                    methods: vec![Method::POST, Method::PUT],
                    ..MatchCfg::default()
                },
                Shape::Plain => MatchCfg {
                    hosts: host(),
                    path: Some(PathMatch::Prefix(api_prefix(i))),
                    ..MatchCfg::default()
                },
            };
            RouteCfg {
                name: format!("r{i}"),
                matcher,
                action: RouteAction::Pool(i % 8),
            }
        })
        .collect();
    routes.push(RouteCfg {
        name: "default".into(),
        matcher: MatchCfg::default(),
        action: RouteAction::Pool(0),
    });
    routes
}

/// An owned request; `view()` borrows it the way the proxy does.
struct Req {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

impl Req {
    fn new(host: &str, path: &str) -> Req {
        let mut headers = HeaderMap::new();
        for (n, v) in [
            ("host", host),
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench"),
            ("accept", "application/json"),
            ("accept-encoding", "gzip, br"),
            ("cookie", "session=0123456789abcdef; theme=dark"),
        ] {
            headers.append(
                HeaderName::from_static(n),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Req {
            method: Method::GET,
            host: normalize_host(host).into_owned(),
            path: path.into(),
            query: Some("page=2&sort=desc".into()),
            headers,
        }
    }

    fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }
}

/// A request that plain route `i` matches.
fn plain_request(i: usize) -> Req {
    Req::new(&svc(i), &format!("{}users/42", api_prefix(i)))
}

fn bench_compile(c: &mut Criterion) {
    let routes = build_routes();
    c.bench_function("router/compile_10k", |b| {
        b.iter(|| Router::new(black_box(&routes)))
    });
}

fn bench_find(c: &mut Criterion) {
    let routes = build_routes();
    let router = Router::new(&routes);
    let find = |req: &Req| router.find(&req.view());

    // Pick inputs from the table, then check that they hit what they claim.
    let first_plain = (0..ROUTES).find(|&i| shape(i) == Shape::Plain).unwrap();
    let last_plain = (0..ROUTES - 1)
        .rev()
        .find(|&i| shape(i) == Shape::Plain)
        .unwrap();
    let last_wild = (0..ROUTES - 1)
        .rev()
        .find(|&i| shape(i) == Shape::Wildcard)
        .unwrap();
    let last_regex = (0..ROUTES - 1)
        .rev()
        .find(|&i| shape(i) == Shape::Regex)
        .unwrap();
    let cases = [
        ("early_hit", plain_request(first_plain), first_plain),
        ("late_hit", plain_request(last_plain), last_plain),
        (
            "wildcard_hit",
            Req::new(
                &format!("a.b.tenant{last_wild}.example.org:8443"),
                "/app/dashboard",
            ),
            last_wild,
        ),
        (
            "regex_hit",
            Req::new(&svc(last_regex), "/items/12345"),
            last_regex,
        ),
        (
            "catch_all_unknown_host",
            Req::new("unknown.example.net", "/nothing/here"),
            ROUTES - 1,
        ),
        (
            "catch_all_known_host",
            Req::new(&svc(last_plain), "/api/other/path/that/misses"),
            ROUTES - 1,
        ),
    ];
    let mut group = c.benchmark_group("router/find");
    for (name, req, want) in &cases {
        assert_eq!(find(req), Some(*want), "{name}");
        group.bench_function(*name, |b| b.iter(|| find(black_box(req))));
    }
    group.finish();
}

/// The path normalisation every request of a listener with path routes
/// goes through: a usual path (one scan, borrowed) and one that needs the
/// work (decoding, dot segments, merged slashes).
fn bench_normalize(c: &mut Criterion) {
    let mut group = c.benchmark_group("router/normalize_path");
    for (name, path) in [
        ("usual", "/api/v1/users/42/profile"),
        ("unusual", "/api//v1/./users/%34%32/../42/profile"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| switchyard::http::router::normalize_path(black_box(path)).len())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_compile, bench_find, bench_normalize);
criterion_main!(benches);
