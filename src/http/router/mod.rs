//! Request routing: picks the route of an HTTP request.
//!
//! A listener's routes are compiled once per config load into a [`Router`];
//! every request then asks [`Router::find`] for the first route, in config
//! order, whose conditions all hold. Routing runs on every request, so the
//! router never scans all routes: an index by host and path (`index.rs`,
//! `trie.rs`) yields a few sorted candidate lists, a k-way merge
//! (`candidates.rs`) walks them in config order, and each candidate's remaining
//! method/header/cookie/query/regex conditions (`values.rs`) are checked until
//! one holds.
//!
//! Matching semantics (the config model, `config::model::MatchCfg`): all
//! conditions of a route must hold; empty lists mean "any"; hosts and methods
//! are "any of"; headers, cookies and query parameters are "all of". Hosts
//! are compared after [`normalize_host`]; `*.example.com` (stored as the
//! suffix `.example.com`) matches any subdomain at any depth, not the bare
//! domain. Path prefixes are plain string prefixes; path and value regexes
//! are unanchored searches. See `values.rs` for how header lines, cookies and
//! query parameters are read.

mod candidates;
mod index;
mod path;
mod trie;
mod values;

pub use path::normalize_path;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use http::{HeaderMap, Method};
use regex::Regex;

use crate::config::model::{HeaderMatch, NamedMatch, PathMatch, RouteCfg};

use candidates::Candidates;
use index::HostIndex;
use values::RequestValues;

/// The parts of a request that routing looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    /// Already normalised by [`normalize_host`].
    pub host: &'a str,
    /// Path only, no query.
    pub path: &'a str,
    /// Raw query string without the `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// A compiled, immutable route table for one listener.
pub struct Router {
    routes: Vec<Residual>,
    index: HostIndex,
    /// The first route has no condition: every request takes it, and
    /// nothing needs looking at (a listener with one catch-all route, the
    /// commonest shape, pays no index walk per request).
    first_takes_all: bool,
}

/// The conditions of a route that the index does not decide.
#[derive(Debug)]
struct Residual {
    methods: Box<[Method]>,
    /// Only for regex paths (exact and prefix paths are decided by the index).
    path_regex: Option<Regex>,
    headers: Box<[HeaderMatch]>,
    cookies: Box<[NamedMatch]>,
    query: Box<[NamedMatch]>,
}

impl Residual {
    #[inline]
    fn accepts(&self, req: &RequestView<'_>, values: &RequestValues<'_>) -> bool {
        (self.methods.is_empty() || self.methods.contains(req.method))
            && self
                .headers
                .iter()
                .all(|h| values::header_matches(req.headers, h))
            && self
                .path_regex
                .as_ref()
                .is_none_or(|re| re.is_match(req.path))
            && (self.cookies.is_empty() || values.cookies_match(&self.cookies))
            && (self.query.is_empty() || values.query_match(&self.query))
    }
}

/// Route indices are stored as `u32`; routes past this many are ignored
/// (`u32::MAX` is the merge's "no route" sentinel).
const MAX_ROUTES: usize = u32::MAX as usize;

impl Router {
    /// Compiles `routes` (in config order). Never fails: the config model is
    /// already validated and its regexes compiled.
    pub fn new(routes: &[RouteCfg]) -> Router {
        let routes = &routes[..routes.len().min(MAX_ROUTES)];
        let mut index = HostIndex::default();
        let mut residuals = Vec::with_capacity(routes.len());
        for (i, route) in routes.iter().enumerate() {
            let m = &route.matcher;
            // `i < MAX_ROUTES = u32::MAX`, so the cast is lossless.
            index.insert(i as u32, &m.hosts, m.path.as_ref());
            residuals.push(Residual {
                methods: m.methods.clone().into_boxed_slice(),
                path_regex: match &m.path {
                    Some(PathMatch::Regex(re)) => Some(re.clone()),
                    _ => None,
                },
                headers: m.headers.clone().into_boxed_slice(),
                cookies: m.cookies.clone().into_boxed_slice(),
                query: m.query.clone().into_boxed_slice(),
            });
        }
        Router {
            routes: residuals,
            index,
            first_takes_all: routes.first().is_some_and(|r| r.matcher.is_catch_all()),
        }
    }

    /// The index (into the `routes` given to [`Router::new`]) of the first
    /// route whose conditions all hold, or `None`.
    pub fn find(&self, req: &RequestView<'_>) -> Option<usize> {
        self.find_with(req, &RequestValues::new(req.headers, req.query))
    }

    /// [`Router::find`] with the request's lazily parsed values supplied by
    /// the caller (tests inspect what was parsed).
    fn find_with(&self, req: &RequestView<'_>, values: &RequestValues<'_>) -> Option<usize> {
        if self.first_takes_all {
            return Some(0);
        }
        let mut candidates = Candidates::new();
        self.index.collect(req.host, req.path, &mut candidates);
        candidates
            .first_match(|i| self.routes[i as usize].accepts(req, values))
            .map(|i| i as usize)
    }

    /// Whether any route matches on the host. When none does, callers may
    /// skip normalising it ([`normalize_host`]): [`Router::find`] never
    /// reads it.
    pub fn uses_host(&self) -> bool {
        self.index.uses_host()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .field("index", &self.index)
            .finish()
    }
}

/// The value of the first cookie called `name` across all `Cookie` header
/// lines, parsed exactly as route cookie conditions parse them (for callers
/// such as cookie-keyed hashing that need one cookie without routing).
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    values::find_cookie(headers, name)
}

/// Normalises a `Host` header value (or URI authority) for routing:
/// strips a `:port` (`[::1]:8080` → `[::1]`; a bare IPv6 address without
/// brackets has several colons and is left alone), strips one trailing `.`,
/// and lower-cases ASCII (hosts are ASCII; IDNs arrive as punycode). Borrows
/// when the input is already normal.
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    let mut host = raw;
    if host.starts_with('[') {
        if let Some(end) = host.find(']') {
            host = &host[..=end];
        }
    } else if let Some(colon) = host.find(':')
        && !host[colon + 1..].contains(':')
    {
        host = &host[..colon];
    }
    if let Some(stripped) = host.strip_suffix('.') {
        host = stripped;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}
