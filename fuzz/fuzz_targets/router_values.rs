//! The router's request-side parsers (host normalisation, cookies, query
//! strings with percent-decoding) see raw client input: never panic.
#![no_main]

use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use switchyard::config::{MatchCfg, NamedMatch, RouteAction, RouteCfg, ValueMatch};
use switchyard::http::router::{self, RequestView, Router};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut fields = text.splitn(3, '\n');
    let host = fields.next().unwrap_or_default();
    let cookie = fields.next().unwrap_or_default();
    let query = fields.next().unwrap_or_default();
    let host = router::normalize_host(host);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(cookie) {
        headers.insert(http::header::COOKIE, v);
    }
    let _ = router::cookie(&headers, "sid");
    let cond = |name: &str| NamedMatch { name: name.into(), value: ValueMatch::Present };
    let routes = vec![RouteCfg {
        name: "r".into(),
        matcher: MatchCfg { cookies: vec![cond("sid")], query: vec![cond("q")], ..MatchCfg::default() },
        action: RouteAction::Pool(0),
    }];
    let r = Router::new(&routes);
    let view = RequestView { method: &Method::GET, host: &host, path: "/", query: Some(query), headers: &headers };
    let _ = r.find(&view);
});
