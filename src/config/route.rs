//! Route checks: host patterns, path matchers, methods, header / cookie /
//! query conditions and the action (`pool` or `split`).

use std::net::Ipv6Addr;
use std::ops::Range;

use http::{HeaderName, Method};
use toml::Spanned;

use super::file::{FileCondition, FileRoute, FileSplit, OneOrMany};
use super::key_spans::key_spans;
use super::model::{
    HeaderMatch, HostMatch, MatchCfg, NamedMatch, PathMatch, RouteAction, RouteCfg, ValueMatch,
};
use super::parse::route_desc;
use super::pool::PoolIndex;
use super::validate::V;

/// The condition keys of a route: a route with none of them matches all.
const CONDITION_KEYS: &[&str] = &[
    "host",
    "path",
    "path_prefix",
    "path_regex",
    "methods",
    "headers",
    "cookies",
    "query",
];

/// True when the route, as written, has no condition (none was removed for
/// being wrong either): it matches every request.
pub(super) fn is_catch_all(v: &V<'_, '_>, r: &Spanned<FileRoute>) -> bool {
    let f = r.get_ref();
    f.host.is_none()
        && f.path.is_none()
        && f.path_prefix.is_none()
        && f.path_regex.is_none()
        && f.methods.is_none()
        && f.headers.is_none()
        && f.cookies.is_none()
        && f.query.is_none()
        && v.report_missing(&r.span(), CONDITION_KEYS)
}

/// Checks route `j` of listener `lctx`; marks the pools it uses.
pub(super) fn route(
    v: &mut V<'_, '_>,
    lctx: &str,
    j: usize,
    r: &Spanned<FileRoute>,
    pools: &PoolIndex,
    used: &mut [bool],
) -> RouteCfg {
    let f = r.get_ref();
    let ctx = format!(
        "{} in {lctx}",
        route_desc(f.name.as_ref().map(|n| n.get_ref().as_str()), j)
    );
    let name = match &f.name {
        Some(n) if n.get_ref().is_empty() => {
            v.error(
                n.span(),
                format!("empty route name in {lctx}"),
                format!(
                    "remove `name` (the route is then called \"route-{}\") or give it a name",
                    j + 1
                ),
            );
            String::new()
        }
        Some(n) => n.get_ref().clone(),
        None => format!("route-{}", j + 1),
    };
    let matcher = MatchCfg {
        hosts: hosts(v, f, &ctx),
        path: path(v, f, &ctx),
        methods: methods(v, f, &ctx),
        headers: conditions(v, &f.headers, Kind::Header, &ctx)
            .into_iter()
            .filter_map(|(name, value)| {
                HeaderName::from_bytes(name.as_bytes())
                    .ok()
                    .map(|name| HeaderMatch { name, value })
            })
            .collect(),
        cookies: conditions(v, &f.cookies, Kind::Cookie, &ctx)
            .into_iter()
            .map(|(name, value)| NamedMatch { name, value })
            .collect(),
        query: conditions(v, &f.query, Kind::Query, &ctx)
            .into_iter()
            .map(|(name, value)| NamedMatch { name, value })
            .collect(),
    };
    let action = action(v, r, &ctx, pools, used);
    RouteCfg {
        name,
        matcher,
        action,
    }
}

fn hosts(v: &mut V<'_, '_>, f: &FileRoute, ctx: &str) -> Vec<HostMatch> {
    let Some(host) = &f.host else {
        return Vec::new();
    };
    let items: Vec<(&str, Range<usize>)> = match host.get_ref() {
        OneOrMany::One(s) => vec![(s.as_str(), host.span())],
        OneOrMany::Many(list) => {
            if list.is_empty() {
                v.error(
                    host.span(),
                    format!("`host` is an empty list in {ctx}"),
                    "list at least one host, or remove `host` to match any host",
                );
            }
            list.iter()
                .map(|h| (h.get_ref().as_str(), h.span()))
                .collect()
        }
    };
    let mut out = Vec::new();
    for (raw, span) in items {
        match host_pattern(raw) {
            Ok(h) => out.push(h),
            Err((reason, help)) => v.error(
                span,
                format!("invalid host pattern {raw:?} in {ctx}: {reason}"),
                help,
            ),
        }
    }
    out
}

/// Parses a host pattern: `example.com`, `*.example.com` or `[::1]`.
pub(super) fn host_pattern(raw: &str) -> Result<HostMatch, (String, String)> {
    let err = |reason: &str, help: &str| Err((reason.to_string(), help.to_string()));
    if raw.is_empty() {
        return err(
            "it is empty",
            "write a host such as \"example.com\", or remove `host` to match any host",
        );
    }
    if raw == "*" {
        return err(
            "`*` alone is not a pattern",
            "remove `host` to match any host, or write \"*.example.com\" to match subdomains",
        );
    }
    if !raw.is_ascii() {
        return err(
            "non-ASCII host",
            "write internationalized names in their ASCII (punycode, xn--...) form",
        );
    }
    let host = raw.to_ascii_lowercase();
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(_) => Ok(HostMatch::Exact(host)),
            Err(_) => err("invalid IPv6 address", "write an IPv6 host as \"[::1]\""),
        };
    }
    if host.contains("://") || host.contains('/') {
        return err(
            "a host has no scheme or path",
            "write only the host name, e.g. \"example.com\" (match paths with `path_prefix`)",
        );
    }
    if let Some((name, _port)) = host.rsplit_once(':') {
        return Err((
            "it includes a port".to_string(),
            format!("hosts are matched without the port: write {name:?}"),
        ));
    }
    let (suffix, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host.as_str()),
    };
    if name.contains('*') {
        return if !suffix && host.starts_with('*') {
            err(
                "a wildcard must be a whole label",
                "write \"*.example.com\" to match any subdomain of example.com",
            )
        } else {
            err(
                "a wildcard is only allowed as the first label",
                "write the pattern as \"*.example.com\" (matches any subdomain at any depth)",
            )
        };
    }
    if name.len() > 253 {
        return err("it is longer than 253 characters", "use a valid DNS name");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return err(
                "empty label (two dots in a row, or a leading or trailing dot)",
                "remove the extra dot, e.g. \"example.com\"",
            );
        }
        if label.len() > 63 {
            return err(
                "a label is longer than 63 characters",
                "use a valid DNS name",
            );
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err((
                format!("invalid character {c:?}"),
                "a host has letters, digits, `-`, `_` and `.` only, e.g. \"api.example.com\""
                    .to_string(),
            ));
        }
    }
    Ok(if suffix {
        HostMatch::Suffix(format!(".{name}"))
    } else {
        HostMatch::Exact(host)
    })
}

fn path(v: &mut V<'_, '_>, f: &FileRoute, ctx: &str) -> Option<PathMatch> {
    let given: Vec<(&str, &Spanned<String>)> = [
        ("path", &f.path),
        ("path_prefix", &f.path_prefix),
        ("path_regex", &f.path_regex),
    ]
    .into_iter()
    .filter_map(|(k, value)| value.as_ref().map(|value| (k, value)))
    .collect();
    if let Some((first, _)) = given.first() {
        for (other, value) in &given[1..] {
            v.error(
                value.span(),
                format!("{ctx} has both `{first}` and `{other}`"),
                "a route matches the path one way only: keep one of `path`, `path_prefix` and `path_regex`",
            );
        }
    }
    let mut matchers = Vec::new();
    for (key, value) in given {
        let s = value.get_ref();
        let m = if key == "path_regex" {
            v.regex(value, key, ctx).map(PathMatch::Regex)
        } else if !s.starts_with('/') {
            v.error(
                value.span(),
                format!("`{key}` {s:?} in {ctx} must start with `/`"),
                format!("write \"/{s}\""),
            );
            None
        } else if s.contains('?') {
            v.error(
                value.span(),
                format!("`{key}` {s:?} in {ctx} contains a query string"),
                "paths are matched without the query: match parameters with query = [{ name = \"...\", exact = \"...\" }]",
            );
            None
        } else if key == "path" {
            Some(PathMatch::Exact(s.clone()))
        } else {
            Some(PathMatch::Prefix(s.clone()))
        };
        matchers.extend(m);
    }
    matchers.into_iter().next()
}

fn methods(v: &mut V<'_, '_>, f: &FileRoute, ctx: &str) -> Vec<Method> {
    let Some(list) = &f.methods else {
        return Vec::new();
    };
    if list.get_ref().is_empty() {
        v.error(
            list.span(),
            format!("`methods` is an empty list in {ctx}"),
            "list at least one method, e.g. methods = [\"GET\"], or remove `methods` to match any method",
        );
    }
    let mut out = Vec::new();
    for m in list.get_ref() {
        let upper = m.get_ref().to_ascii_uppercase();
        match Method::from_bytes(upper.as_bytes()) {
            Ok(method) if upper != *m.get_ref() => {
                // HTTP methods are case-sensitive: say what was meant.
                v.warning(
                    m.span(),
                    format!("method {:?} in {ctx} is read as {upper:?}", m.get_ref()),
                    format!(
                        "HTTP methods are case-sensitive and clients send them in upper case: \
                         write \"{upper}\""
                    ),
                );
                if !out.contains(&method) {
                    out.push(method);
                }
            }
            Ok(method) => {
                if !out.contains(&method) {
                    out.push(method);
                }
            }
            Err(_) => v.error(
                m.span(),
                format!("invalid HTTP method {:?} in {ctx}", m.get_ref()),
                "a method is one token such as GET, POST, PUT, DELETE, PATCH, HEAD or OPTIONS; \
                 list several as separate strings: [\"GET\", \"POST\"]",
            ),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Header,
    Cookie,
    Query,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Header => "header",
            Kind::Cookie => "cookie",
            Kind::Query => "query",
        }
    }
}

/// Checks `headers` / `cookies` / `query`; returns (name, match) pairs of
/// the valid ones (header names already checked).
fn conditions(
    v: &mut V<'_, '_>,
    list: &Option<Spanned<Vec<Spanned<FileCondition>>>>,
    kind: Kind,
    ctx: &str,
) -> Vec<(String, ValueMatch)> {
    let Some(list) = list else { return Vec::new() };
    let mut out = Vec::new();
    for (k, c) in list.get_ref().iter().enumerate() {
        let f = c.get_ref();
        let word = kind.word();
        let cctx = match &f.name {
            Some(n) => format!("{word} condition {:?} in {ctx}", n.get_ref()),
            None => format!("{word} condition #{} in {ctx}", k + 1),
        };
        let name_ok = match &f.name {
            None => {
                if v.report_missing(&c.span(), &["name"]) {
                    v.error(
                        c.span(),
                        format!("{cctx} has no `name`"),
                        format!(
                            "add the {word} name, e.g. {{ name = \"x-canary\", exact = \"1\" }}"
                        ),
                    );
                }
                false
            }
            Some(n) => condition_name(v, n, kind, ctx),
        };
        let value = condition_value(v, c, &cctx);
        if let (true, Some(value)) = (name_ok, value) {
            let name = f
                .name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default();
            out.push((name, value));
        }
    }
    out
}

fn condition_name(v: &mut V<'_, '_>, n: &Spanned<String>, kind: Kind, ctx: &str) -> bool {
    let s = n.get_ref();
    let word = kind.word();
    let problem = match kind {
        Kind::Header => HeaderName::from_bytes(s.as_bytes()).err().map(|_| {
            "header names are tokens: letters, digits and !#$%&'*+-.^_`|~ (no spaces or colons)"
        }),
        _ if s.is_empty() => Some("the name must not be empty"),
        Kind::Cookie => s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "=;,\"".contains(c))
            .then_some("cookie names have no spaces, `=`, `;`, `,` or quotes"),
        Kind::Query => None,
    };
    if let Some(help) = problem {
        v.error(
            n.span(),
            format!("invalid {word} name {s:?} in {ctx}"),
            help,
        );
        return false;
    }
    true
}

fn condition_value(
    v: &mut V<'_, '_>,
    c: &Spanned<FileCondition>,
    cctx: &str,
) -> Option<ValueMatch> {
    let f = c.get_ref();
    let given: Vec<(&str, Range<usize>)> = key_spans!(f; exact, regex, present)
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
    match given.as_slice() {
        [] => {
            if v.report_missing(&c.span(), &["exact", "regex", "present"]) {
                v.error(
                    c.span(),
                    format!("{cctx} says nothing about the value"),
                    "add one of `exact = \"...\"`, `regex = \"...\"` or `present = true|false`",
                );
            }
            None
        }
        [(first, _), rest @ ..] if !rest.is_empty() => {
            for (other, span) in rest {
                v.error(
                    span.clone(),
                    format!("{cctx} has both `{first}` and `{other}`"),
                    "use exactly one of `exact`, `regex` and `present` per condition; add another \
                     condition with the same name to combine them",
                );
            }
            None
        }
        _ => {
            if let Some(e) = &f.exact {
                Some(ValueMatch::Exact(e.get_ref().clone()))
            } else if let Some(r) = &f.regex {
                v.regex(r, "regex", cctx).map(ValueMatch::Regex)
            } else {
                f.present.as_ref().map(|p| {
                    if *p.get_ref() {
                        ValueMatch::Present
                    } else {
                        ValueMatch::Absent
                    }
                })
            }
        }
    }
}

fn action(
    v: &mut V<'_, '_>,
    r: &Spanned<FileRoute>,
    ctx: &str,
    pools: &PoolIndex,
    used: &mut [bool],
) -> RouteAction {
    let f = r.get_ref();
    let placeholder = RouteAction::Pool(0);
    match (&f.pool, &f.split) {
        (Some(_), Some(split)) => {
            v.error(
                split.span(),
                format!("{ctx} has both `pool` and `split`"),
                "use `pool` to send every matching request to one pool, or `split` to divide them \
                 between pools, not both",
            );
            placeholder
        }
        (None, None) => {
            if v.report_missing(&r.span(), &["pool", "split"]) {
                v.error(
                    r.span(),
                    format!("{ctx} has no `pool` or `split`"),
                    "say where matching requests go: pool = \"NAME\", or split = [{ pool = \"a\", \
                     weight = 90 }, { pool = \"b\", weight = 10 }]",
                );
            }
            placeholder
        }
        (Some(pool), None) => match pools.lookup(v, pool, ctx, used) {
            Some(i) => RouteAction::Pool(i),
            None => placeholder,
        },
        (None, Some(split)) => {
            if split.get_ref().is_empty() {
                v.error(
                    split.span(),
                    format!("`split` is empty in {ctx}"),
                    "list the pools to split between: split = [{ pool = \"a\", weight = 90 }, { pool = \"b\", weight = 10 }]",
                );
            }
            let mut out: Vec<(usize, u32)> = Vec::new();
            for (k, e) in split.get_ref().iter().enumerate() {
                let Some((i, w)) = split_entry(v, k, e, ctx, pools, used) else {
                    continue;
                };
                if out.iter().any(|(j, _)| *j == i) {
                    let name = e
                        .get_ref()
                        .pool
                        .as_ref()
                        .map_or("", |p| p.get_ref().as_str());
                    v.warning(
                        e.span(),
                        format!("pool {name:?} is listed twice in the `split` of {ctx}"),
                        "give each pool one entry: the weights of its entries add up",
                    );
                }
                out.push((i, w));
            }
            RouteAction::Split(out)
        }
    }
}

fn split_entry(
    v: &mut V<'_, '_>,
    k: usize,
    e: &Spanned<FileSplit>,
    ctx: &str,
    pools: &PoolIndex,
    used: &mut [bool],
) -> Option<(usize, u32)> {
    let f = e.get_ref();
    let ectx = format!("split entry #{} in {ctx}", k + 1);
    let weight = v.int(
        &f.weight,
        "weight",
        &ectx,
        1..=65535,
        1,
        "a split weight is from 1 to 65535 (the share of requests, relative to the other entries); \
         remove the entry to send a pool nothing",
    );
    let Some(pool) = &f.pool else {
        if v.report_missing(&e.span(), &["pool"]) {
            v.error(
                e.span(),
                format!("{ectx} has no `pool`"),
                "name the pool: { pool = \"NAME\", weight = 10 }",
            );
        }
        return None;
    };
    let index = pools.lookup(v, pool, ctx, used)?;
    Some((index, u32::try_from(weight).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert_eq!(
            host_pattern("API.Example.com"),
            Ok(HostMatch::Exact("api.example.com".into()))
        );
        assert_eq!(
            host_pattern("*.example.com"),
            Ok(HostMatch::Suffix(".example.com".into()))
        );
        assert_eq!(host_pattern("[::1]"), Ok(HostMatch::Exact("[::1]".into())));
        assert_eq!(
            host_pattern("my_host"),
            Ok(HostMatch::Exact("my_host".into()))
        );
        let reason = |s| host_pattern(s).unwrap_err().0;
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason("*"), "`*` alone is not a pattern");
        assert_eq!(
            reason("a.*.b"),
            "a wildcard is only allowed as the first label"
        );
        assert_eq!(reason("*foo.com"), "a wildcard must be a whole label");
        assert_eq!(
            reason("*.*.com"),
            "a wildcard is only allowed as the first label"
        );
        assert_eq!(reason("example.com:8080"), "it includes a port");
        assert_eq!(reason("exa mple.com"), "invalid character ' '");
        assert_eq!(reason("example..com"), reason("example.com."));
        assert_eq!(reason("http://x.com"), "a host has no scheme or path");
        assert_eq!(reason("bücher.de"), "non-ASCII host");
        assert_eq!(reason("[zz]"), "invalid IPv6 address");
    }
}
