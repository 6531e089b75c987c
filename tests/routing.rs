//! Every route matcher through real proxied requests: one proxy, one demo
//! backend per pool, and each backend named after its pool, so the
//! `x-backend` response header tells which route matched.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::*;
use reqwest::Method;
use switchyard::demo::BackendHandle;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The routes of the `web` listener, in config order (first match wins).
/// Each route's pool is named after what it tests.
const ROUTES: &str = r#"
  [[listener.route]]
  name = "order-early"
  path_prefix = "/order/"
  methods = ["GET"]
  pool = "early"

  [[listener.route]]
  name = "order-late"
  path = "/order/item"
  pool = "late"

  [[listener.route]]
  name = "combo"
  host = "shop.example.com"
  path_prefix = "/cart/"
  methods = ["POST"]
  headers = [{ name = "x-tenant", exact = "acme" }]
  cookies = [{ name = "tier", exact = "gold" }]
  query = [{ name = "v", exact = "2" }]
  pool = "combo"

  [[listener.route]]
  name = "host-exact"
  host = "api.example.com"
  pool = "host_exact"

  [[listener.route]]
  name = "host-wild"
  host = "*.example.com"
  pool = "host_wild"

  [[listener.route]]
  name = "path-exact"
  path = "/exact"
  pool = "path_exact"

  [[listener.route]]
  name = "path-prefix"
  path_prefix = "/static/"
  pool = "path_prefix"

  [[listener.route]]
  name = "path-regex"
  path_regex = "^/users/[0-9]+/profile$"
  pool = "path_regex"

  [[listener.route]]
  name = "methods"
  path_prefix = "/m/"
  methods = ["PUT", "DELETE"]
  pool = "methods"

  [[listener.route]]
  name = "split-2"
  path_prefix = "/split2/"
  split = [{ pool = "stable", weight = 90 }, { pool = "canary", weight = 10 }]

  [[listener.route]]
  name = "split-3"
  path_prefix = "/split3/"
  split = [{ pool = "s1", weight = 6 }, { pool = "s2", weight = 3 }, { pool = "s3", weight = 1 }]

  [[listener.route]]
  name = "hdr-exact"
  headers = [{ name = "x-canary", exact = "1" }]
  pool = "hdr_exact"

  [[listener.route]]
  name = "hdr-regex"
  headers = [{ name = "x-client", regex = "^mobile-(ios|android)$" }]
  pool = "hdr_regex"

  [[listener.route]]
  name = "hdr-present"
  headers = [{ name = "x-debug", present = true }]
  pool = "hdr_present"

  [[listener.route]]
  name = "hdr-absent"
  path_prefix = "/guarded"
  headers = [{ name = "authorization", present = false }]
  pool = "hdr_absent"

  [[listener.route]]
  name = "cookie"
  cookies = [{ name = "beta", exact = "yes" }]
  pool = "cookie"

  [[listener.route]]
  name = "query-exact"
  query = [{ name = "variant", exact = "b" }]
  pool = "query_exact"

  [[listener.route]]
  name = "query-present"
  query = [{ name = "debug", present = true }]
  pool = "query_present"

  [[listener.route]]
  name = "query-decoded"
  query = [{ name = "q", exact = "a b&c" }]
  pool = "query_decoded"

  [[listener.route]]
  name = "default"
  pool = "default"
"#;

/// Every pool; each gets one backend with the same name.
const POOLS: &[&str] = &[
    "early",
    "late",
    "combo",
    "host_exact",
    "host_wild",
    "path_exact",
    "path_prefix",
    "path_regex",
    "methods",
    "stable",
    "canary",
    "s1",
    "s2",
    "s3",
    "hdr_exact",
    "hdr_regex",
    "hdr_present",
    "hdr_absent",
    "cookie",
    "query_exact",
    "query_present",
    "query_decoded",
    "default",
    "strict",
];

/// A request (path, headers) and the pool expected to answer it.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

/// The routing proxy: listener `web` with [`ROUTES`], and listener `strict`
/// that has a single `/only/` route and no default.
struct Fixture {
    proxy: Proxy,
    backends: Vec<BackendHandle>,
    client: reqwest::Client,
}

impl Fixture {
    fn start() -> Fixture {
        let backends: Vec<BackendHandle> = POOLS.iter().map(|p| backend(p)).collect();
        let pools: String = backends
            .iter()
            .map(|b| {
                format!(
                    "[[pool]]\nname = \"{}\"\nendpoints = [{{ address = \"{}\" }}]\n\n",
                    b.name, b.addr
                )
            })
            .collect();
        let config = format!(
            r#"
[global]
workers = 2

[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
{ROUTES}

[[listener]]
name = "strict"
address = "127.0.0.1:0"
access_log = false

  [[listener.route]]
  name = "only"
  path_prefix = "/only/"
  pool = "strict"

{pools}"#
        );
        Fixture {
            proxy: Proxy::start(&config),
            backends,
            client: client(),
        }
    }

    /// Sends `method path` with `headers` to the `web` listener; asserts a
    /// 200 and returns the name of the backend (= pool) that answered.
    async fn hit(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> String {
        let mut req = self.client.request(method.clone(), self.proxy.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 200, "{method} {path} {headers:?}");
        let be = resp
            .headers()
            .get("x-backend")
            .map(|v| v.to_str().unwrap().to_owned());
        resp.bytes().await.unwrap(); // read to the end: the connection is reused
        be.unwrap_or_default()
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> String {
        self.hit(Method::GET, path, headers).await
    }

    /// Asserts that each `(path, headers)` GET is answered by pool `want`.
    async fn expect_all(&self, cases: &[Case<'_>]) {
        for (path, headers, want) in cases {
            assert_eq!(
                self.get(path, headers).await,
                *want,
                "GET {path} {headers:?}"
            );
        }
    }

    fn total_hits(&self) -> u64 {
        self.backends.iter().map(BackendHandle::hits).sum()
    }
}

/// Sends one raw request on a fresh connection and returns (status, x-backend).
async fn raw_request(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let r = read_response(&mut s).await.expect("a response");
    (
        r.status,
        r.header("x-backend").unwrap_or_default().to_owned(),
    )
}

/// Sends `n` GETs for `path`, `concurrency` at a time, and counts the
/// answering backends.
async fn tally(f: &Fixture, path: &str, n: usize, concurrency: usize) -> HashMap<String, usize> {
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let c = f.client.clone();
            let url = f.proxy.url(path);
            let share = n / concurrency + usize::from(t < n % concurrency);
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(share);
                for _ in 0..share {
                    let (status, be, _) = get(&c, &url).await;
                    assert_eq!(status, 200);
                    seen.push(be);
                }
                seen
            })
        })
        .collect();
    let mut counts = HashMap::new();
    for t in tasks {
        for be in t.await.unwrap() {
            *counts.entry(be).or_insert(0) += 1;
        }
    }
    counts
}

/// Asserts `count` is within `k` standard deviations of a Binomial(n, p).
fn assert_binomial(what: &str, count: usize, n: usize, p: f64, k: f64) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - mean).abs() <= k * sd,
        "{what}: {count} of {n}, expected {mean} ± {:.1} ({k} sd)",
        k * sd
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_exact_ignores_port_and_case() {
    let f = Fixture::start();
    f.expect_all(&[
        ("/", &[("host", "api.example.com")], "host_exact"),
        ("/", &[("host", "API.Example.com:8080")], "host_exact"),
        ("/exact", &[("host", "api.example.com.")], "host_exact"),
        // Other hosts: a name that merely starts with it, another domain.
        ("/", &[("host", "api.example.com.evil.net")], "default"),
        ("/", &[("host", "api.example.org")], "default"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_wildcard_matches_subdomains_at_any_depth_but_not_the_apex() {
    let f = Fixture::start();
    f.expect_all(&[
        ("/", &[("host", "a.example.com")], "host_wild"),
        ("/", &[("host", "a.b.example.com")], "host_wild"),
        ("/", &[("host", "A.B.Example.COM:443")], "host_wild"),
        ("/", &[("host", "example.com")], "default"),
        ("/", &[("host", "notexample.com")], "default"),
        ("/", &[("host", "example.com.au")], "default"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn path_exact_prefix_and_regex() {
    let f = Fixture::start();
    f.expect_all(&[
        ("/exact", &[], "path_exact"),
        ("/exact?q=1", &[], "path_exact"), // the query is not part of the path
        ("/exact/", &[], "default"),
        ("/exactly", &[], "default"),
        ("/static/app.js", &[], "path_prefix"),
        ("/static/", &[], "path_prefix"),
        ("/static", &[], "default"),
        ("/staticx/app.js", &[], "default"),
        ("/users/42/profile", &[], "path_regex"),
        ("/users/42/profile?tab=1", &[], "path_regex"),
        ("/users/abc/profile", &[], "default"),
        ("/users/42/profile/edit", &[], "default"),
        ("/v1/users/42/profile", &[], "default"),
    ])
    .await;
}

/// Routes match the normalised path: other spellings of a path a backend
/// reads alike (encoded unreserved characters, dot segments, doubled
/// slashes) cannot step around a route. The request goes upstream as the
/// client sent it.
#[tokio::test(flavor = "multi_thread")]
async fn paths_match_normalised_and_go_upstream_as_sent() {
    let f = Fixture::start();
    let addr = f.proxy.addr();
    for (target, pool) in [
        ("/%65xact", "path_exact"),
        ("/static/../exact", "path_exact"),
        ("/static/%2e%2E/exact", "path_exact"),
        ("/./exact", "path_exact"),
        ("//static/app.js", "path_prefix"),
        ("/%73tatic/app.js", "path_prefix"),
        ("/users/4%32/profile", "path_regex"),
        // An encoded slash is a slash (as to NGINX, and to a backend that
        // decodes the path).
        ("/static%2Fapp.js", "path_prefix"),
        ("/x/..%2fexact", "path_exact"),
    ] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assert_eq!(
            raw_request(addr, &head).await,
            (200, pool.to_owned()),
            "GET {target}"
        );
    }
    // `/%65cho` is `/echo` to the router (no route for it: the default),
    // but the backend gets `/%65cho`, which is not its echo page.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /%65cho HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s).await.expect("a response");
    assert_eq!(String::from_utf8_lossy(&r.body), "default\n");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s).await.expect("a response");
    assert!(String::from_utf8_lossy(&r.body).contains("GET /echo "));
}

/// `normalize_path = false`: routes see the path as sent (HAProxy's way).
#[tokio::test(flavor = "multi_thread")]
async fn normalize_path_off_matches_the_raw_path() {
    let b = backend("exact");
    let d = backend("default");
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener_routes(
                "web",
                "normalize_path = false",
                "",
                &[route("", "/exact", "exact"), route("", "", "default")],
            ),
            pool("exact", &[b.addr], ""),
            pool("default", &[d.addr], ""),
        ],
    ));
    let head = "GET /%65xact HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_eq!(
        raw_request(proxy.addr(), head).await,
        (200, "default".to_owned())
    );
    let head = "GET /exact HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_eq!(
        raw_request(proxy.addr(), head).await,
        (200, "exact".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_match_any_listed_method() {
    let f = Fixture::start();
    assert_eq!(f.hit(Method::PUT, "/m/x", &[]).await, "methods");
    assert_eq!(f.hit(Method::DELETE, "/m/x", &[]).await, "methods");
    assert_eq!(f.hit(Method::GET, "/m/x", &[]).await, "default");
    assert_eq!(f.hit(Method::POST, "/m/x", &[]).await, "default");
    assert_eq!(f.hit(Method::PATCH, "/m/x", &[]).await, "default");
    // Methods are case-sensitive tokens on the wire: `put` is not PUT.
    let (status, be) = raw_request(
        f.proxy.addr(),
        "put /m/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!((status, be.as_str()), (200, "default"));
}

#[tokio::test(flavor = "multi_thread")]
async fn header_exact_regex_present_and_absent() {
    let f = Fixture::start();
    f.expect_all(&[
        ("/", &[("x-canary", "1")], "hdr_exact"),
        ("/", &[("x-canary", "10")], "default"),
        ("/", &[("x-canary", "0")], "default"),
        // Any line of a repeated header may match.
        ("/", &[("x-canary", "0"), ("x-canary", "1")], "hdr_exact"),
        ("/", &[("x-client", "mobile-ios")], "hdr_regex"),
        ("/", &[("x-client", "mobile-android")], "hdr_regex"),
        ("/", &[("x-client", "mobile-web")], "default"),
        ("/", &[("x-client", "old-mobile-ios")], "default"),
        ("/", &[("x-debug", "")], "hdr_present"),
        ("/", &[("X-Debug", "yes")], "hdr_present"),
        ("/guarded", &[], "hdr_absent"),
        ("/guarded/area", &[], "hdr_absent"),
        ("/guarded", &[("authorization", "Bearer t")], "default"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_exact_among_several_pairs() {
    let f = Fixture::start();
    f.expect_all(&[
        ("/", &[("cookie", "beta=yes")], "cookie"),
        (
            "/",
            &[("cookie", "session=abc; beta=yes; theme=dark")],
            "cookie",
        ),
        ("/", &[("cookie", "session=abc;beta=yes")], "cookie"),
        (
            "/",
            &[("cookie", "session=abc"), ("cookie", "beta=yes")],
            "cookie",
        ),
        (
            "/",
            &[("cookie", "session=abc; beta=no; theme=dark")],
            "default",
        ),
        ("/", &[("cookie", "notbeta=yes; betas=yes")], "default"),
        // The first occurrence of a name wins.
        ("/", &[("cookie", "beta=no; beta=yes")], "default"),
        ("/", &[], "default"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_exact_present_and_percent_decoded() {
    let f = Fixture::start();
    f.expect_all(&[
        ("/?variant=b", &[], "query_exact"),
        ("/?x=1&variant=b&y=2", &[], "query_exact"),
        ("/?variant=B", &[], "default"),
        ("/?variant=bb", &[], "default"),
        ("/?debug", &[], "query_present"),
        ("/?debug=", &[], "query_present"),
        ("/?a=1&debug=0", &[], "query_present"),
        ("/?debugx=1", &[], "default"),
        ("/?q=a%20b%26c", &[], "query_decoded"),
        ("/?%71=a%20b%26c", &[], "query_decoded"), // the name is decoded too
        ("/?q=a+b%26c", &[], "default"),           // `+` is not a space in a URI
        ("/?q=a%20b&c", &[], "default"),           // an unescaped `&` splits the value
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn combined_route_needs_every_condition() {
    let f = Fixture::start();
    let host = ("host", "shop.example.com");
    let tenant = ("x-tenant", "acme");
    let cookie = ("cookie", "sid=1; tier=gold");
    let full = [host, tenant, cookie];
    assert_eq!(f.hit(Method::POST, "/cart/items?v=2", &full).await, "combo");
    // Drop one condition at a time: the request falls through to the next
    // route that matches (the `*.example.com` wildcard, or the default).
    let silver = [host, tenant, ("cookie", "tier=silver")];
    let other_host = [("host", "shop.example.org"), tenant, cookie];
    let misses: [(Method, Case<'_>); 6] = [
        (Method::GET, ("/cart/items?v=2", &full, "host_wild")),
        (Method::POST, ("/shop/items?v=2", &full, "host_wild")),
        (Method::POST, ("/cart/items?v=1", &full, "host_wild")),
        (
            Method::POST,
            ("/cart/items?v=2", &[host, cookie], "host_wild"),
        ),
        (Method::POST, ("/cart/items?v=2", &silver, "host_wild")),
        (Method::POST, ("/cart/items?v=2", &other_host, "default")),
    ];
    for (method, (path, headers, want)) in misses {
        assert_eq!(
            f.hit(method.clone(), path, headers).await,
            want,
            "{method} {path} {headers:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn first_matching_route_in_config_order_wins() {
    let f = Fixture::start();
    // `/order/item` matches both `order-early` (prefix + GET) and the more
    // specific `order-late` (exact path): the earlier route wins.
    assert_eq!(f.hit(Method::GET, "/order/item", &[]).await, "early");
    // The later route is reachable when the earlier one does not match.
    assert_eq!(f.hit(Method::POST, "/order/item", &[]).await, "late");
    assert_eq!(f.hit(Method::POST, "/order/other", &[]).await, "default");
    // `api.example.com` matches the exact host route and the wildcard after it;
    // the host route also shadows the path routes below it.
    assert_eq!(
        f.get("/exact", &[("host", "api.example.com")]).await,
        "host_exact"
    );
    // Header, cookie and query routes in order: the first listed wins.
    let all = [("x-canary", "1"), ("cookie", "beta=yes")];
    assert_eq!(f.get("/?variant=b&debug", &all).await, "hdr_exact");
    assert_eq!(
        f.get("/?variant=b&debug", &[("cookie", "beta=yes")]).await,
        "cookie"
    );
    assert_eq!(f.get("/?variant=b&debug", &[]).await, "query_exact");
    assert_eq!(f.get("/?debug&q=a%20b%26c", &[]).await, "query_present");
}

#[tokio::test(flavor = "multi_thread")]
async fn default_route_catches_everything_else() {
    let f = Fixture::start();
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/anything/else?x=1"),
        (Method::POST, "/form"),
        (Method::PUT, "/m"),
    ] {
        assert_eq!(
            f.hit(method, path, &[("x-unrelated", "1")]).await,
            "default",
            "{path}"
        );
    }
    let (status, be) = raw_request(f.proxy.addr(), "GET /raw HTTP/1.0\r\n\r\n").await;
    assert_eq!((status, be.as_str()), (200, "default"));
}

#[tokio::test(flavor = "multi_thread")]
async fn listener_without_default_route_answers_404_and_never_reaches_a_backend() {
    let f = Fixture::start();
    let strict = f.proxy.addr_of("strict");
    for path in ["/", "/only", "/onlyx/y", "/Only/x", "/elsewhere?only/=1"] {
        let resp = f
            .client
            .get(format!("http://{strict}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert!(resp.headers().get("x-backend").is_none());
        assert_eq!(
            resp.text().await.unwrap(),
            "404 no route for this request\n"
        );
    }
    let (status, _) = raw_request(
        strict,
        "DELETE /x HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(f.total_hits(), 0, "an unrouted request reached a backend");
    // The listener's own route works, on the same keep-alive client.
    let (status, be, _) = get(&f.client, &format!("http://{strict}/only/x")).await;
    assert_eq!((status, be.as_str()), (200, "strict"));
    assert_eq!(f.total_hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn weighted_split_90_10() {
    let f = Fixture::start();
    let n = 2000;
    let counts = tally(&f, "/split2/x", n, 4).await;
    let stable = counts.get("stable").copied().unwrap_or(0);
    let canary = counts.get("canary").copied().unwrap_or(0);
    assert_eq!(stable + canary, n, "{counts:?}");
    // Each request draws the pool independently from an entropy-seeded
    // source: canary ~ Binomial(2000, 0.1), sd = 13.4. A 6 sd band
    // (200 ± 80) fails with probability ~2e-9.
    assert_binomial("canary", canary, n, 0.1, 6.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn route_split_across_three_pools() {
    let f = Fixture::start();
    let n = 2000;
    let counts = tally(&f, "/split3/x", n, 4).await;
    let c = |p: &str| counts.get(p).copied().unwrap_or(0);
    assert_eq!(c("s1") + c("s2") + c("s3"), n, "{counts:?}");
    // Weights 6/3/1. Each count is Binomial(2000, p): sd 21.9, 20.5, 13.4;
    // 6 sd bands fail with probability ~2e-9 each.
    assert_binomial("s1", c("s1"), n, 0.6, 6.0);
    assert_binomial("s2", c("s2"), n, 0.3, 6.0);
    assert_binomial("s3", c("s3"), n, 0.1, 6.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_routes_route_correctly() {
    const ROUTES: usize = 2000;
    const POOLS: usize = 5;
    let backends: Vec<BackendHandle> = (0..POOLS)
        .map(|i| backend(&format!("p{i}")))
        .chain([backend("wild")])
        .collect();
    let mut config = String::from(
        "[global]\nworkers = 2\n\n[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\naccess_log = false\n",
    );
    for i in 0..ROUTES {
        config.push_str(&format!(
            "\n  [[listener.route]]\n  host = \"svc{i}.example.com\"\n  path_prefix = \"/v{}/\"\n  pool = \"p{}\"\n",
            i % 3,
            i % POOLS
        ));
    }
    config.push_str("\n  [[listener.route]]\n  host = \"*.example.com\"\n  pool = \"wild\"\n");
    for b in &backends {
        config.push_str(&format!(
            "\n[[pool]]\nname = \"{}\"\nendpoints = [{{ address = \"{}\" }}]\n",
            b.name, b.addr
        ));
    }
    let proxy = Proxy::start(&config);
    assert_eq!(proxy.route_count("web"), ROUTES + 1);
    let c = client();
    let send = |host: String, path: String| {
        let c = c.clone();
        let url = proxy.url(&path);
        async move {
            let resp = c
                .get(url)
                .header("host", host.as_str())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let be = resp
                .headers()
                .get("x-backend")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, be, host, path)
        }
    };
    // Early, middle and last routes, and their neighbours.
    for i in [0, 1, 2, 3, 998, 999, 1000, 1001, 1997, 1998, 1999] {
        let (status, be, host, path) = send(
            format!("svc{i}.example.com"),
            format!("/v{}/x?i={i}", i % 3),
        )
        .await;
        assert_eq!(
            (status, be),
            (200, format!("p{}", i % POOLS)),
            "{host}{path}"
        );
        // Port and case in the request, same route.
        let (status, be, host, path) =
            send(format!("SVC{i}.Example.com:8080"), format!("/v{}/", i % 3)).await;
        assert_eq!(
            (status, be),
            (200, format!("p{}", i % POOLS)),
            "{host}{path}"
        );
        // Right host, wrong path prefix: falls through to the wildcard.
        let (status, be, host, path) = send(
            format!("svc{i}.example.com"),
            format!("/v{}/x", (i + 1) % 3),
        )
        .await;
        assert_eq!((status, be.as_str()), (200, "wild"), "{host}{path}");
    }
    // No such service: the wildcard; another domain: no route at all.
    let (status, be, ..) = send("svc2000.example.com".into(), "/v0/x".into()).await;
    assert_eq!((status, be.as_str()), (200, "wild"));
    let (status, ..) = send("svc1.example.org".into(), "/v1/x".into()).await;
    assert_eq!(status, 404);
}
