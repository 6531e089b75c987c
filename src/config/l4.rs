//! L4 checks: listener protocols (`http`, `tcp`, `udp`) and the keys each
//! takes, connection admission, the PROXY protocol, SNI routes, UDP flow
//! limits, and the L4 settings of pools.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::file::{FileListener, FilePool, FileSni};
use super::key_spans::key_spans;
use super::model::{
    Admission, HostMatch, IpNet, NonTls, OnLimit, Protocol, ProxyIn, ProxyVersion, ProxyVersions,
    SniRouteCfg, TcpCfg, UdpCfg,
};
use super::pool::PoolIndex;
use super::route::host_pattern;
use super::suggest::did_you_mean;
use super::validate::V;

/// Listener keys that only HTTP listeners take.
const HTTP_ONLY: &[&str] = &[
    "route",
    "max_header_bytes",
    "max_headers",
    "max_uri_bytes",
    "request_header_timeout",
    "request_body_timeout",
    "send_timeout",
    "max_connection_duration",
    "forwarded",
    "request_id",
    "normalize_path",
    "tls",
    "http2",
    "h2_max_concurrent_streams",
    "h2_max_pending_resets",
    "h2_server",
    "h2_keepalive_interval",
    "h2_keepalive_timeout",
    "https_redirect",
    "tunnel_idle_timeout",
];

/// Listener keys of every TCP-based listener (http and tcp).
const TCP_BASED: &[&str] = &[
    "max_connections",
    "on_limit",
    "queue_timeout",
    "tcp_keepalive",
    "tcp_nodelay",
    "proxy_protocol",
    "trusted_proxies",
    "backlog",
];

/// Listener keys that only TCP (stream) listeners take.
const TCP_ONLY: &[&str] = &["pool", "sni", "non_tls", "peek_timeout"];

/// Listener keys that UDP listeners take (besides `access_log`).
const UDP_ONLY: &[&str] = &["pool", "max_sessions"];

/// The listener's protocol (`http` when absent or invalid).
pub(super) fn protocol(v: &mut V<'_, '_>, f: &FileListener, ctx: &str) -> Protocol {
    let Some(p) = &f.protocol else {
        return Protocol::Http;
    };
    match p.get_ref().as_str() {
        "http" => Protocol::Http,
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        other => {
            let hint = did_you_mean(other, &["http", "tcp", "udp"])
                .map(|s| format!("did you mean {s:?}? "))
                .unwrap_or_default();
            v.error(
                p.span(),
                format!("unsupported protocol {other:?} in {ctx}"),
                format!("{hint}supported: \"http\" (L7, the default), \"tcp\" and \"udp\" (L4)"),
            );
            Protocol::Http
        }
    }
}

/// Reports keys set on a listener whose protocol does not use them.
pub(super) fn check_protocol_keys(
    v: &mut V<'_, '_>,
    f: &FileListener,
    protocol: Protocol,
    ctx: &str,
) {
    let set: Vec<(&str, Range<usize>)> = key_spans!(f;
        route,
        max_header_bytes,
        max_headers,
        max_uri_bytes,
        request_header_timeout,
        request_body_timeout,
        send_timeout,
        max_connection_duration,
        forwarded,
        request_id,
        normalize_path,
        access_log,
        pool,
        sni,
        non_tls,
        peek_timeout,
        max_connections,
        on_limit,
        queue_timeout,
        tcp_keepalive,
        tcp_nodelay,
        proxy_protocol,
        trusted_proxies,
        max_sessions,
        backlog,
        tls,
        http2,
        h2_max_concurrent_streams,
        h2_max_pending_resets,
        h2_server,
        h2_keepalive_interval,
        h2_keepalive_timeout,
        https_redirect,
        tunnel_idle_timeout,
    )
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect();
    let allowed = |key: &str| {
        key == "access_log"
            || match protocol {
                Protocol::Http => HTTP_ONLY.contains(&key) || TCP_BASED.contains(&key),
                Protocol::Tcp => TCP_ONLY.contains(&key) || TCP_BASED.contains(&key),
                Protocol::Udp => UDP_ONLY.contains(&key),
            }
    };
    for (key, span) in set {
        if allowed(key) {
            continue;
        }
        let name = match protocol {
            Protocol::Http => "http",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let help = if HTTP_ONLY.contains(&key) {
            if key == "route" {
                "tcp and udp listeners send everything to `pool` (tcp: or route TLS by SNI with \
                 [[listener.sni]]); HTTP routing needs protocol = \"http\""
                    .to_string()
            } else {
                format!("`{key}` applies to http listeners only; remove it")
            }
        } else if protocol == Protocol::Http && key == "pool" {
            "an http listener routes with [[listener.route]] sections: add one with pool = \"...\" \
             (a route without conditions catches every request)"
                .to_string()
        } else {
            format!("`{key}` does not apply to {name} listeners; remove it")
        };
        v.error(
            span,
            format!("`{key}` is not a setting of {name} listeners ({ctx})"),
            help,
        );
    }
}

/// `max_connections`, `on_limit`, `queue_timeout`, `tcp_keepalive`.
pub(super) fn admission(v: &mut V<'_, '_>, f: &FileListener, ctx: &str) -> Admission {
    let max = v.int(
        &f.max_connections,
        "max_connections",
        ctx,
        0..=10_000_000,
        0,
        "use 0 (no limit) or a number of open connections from 1 to 10000000",
    );
    let keepalive = v.duration(&f.tcp_keepalive, "tcp_keepalive", ctx, "0s", true);
    Admission {
        max_connections: usize::try_from(max).unwrap_or(0),
        on_limit: on_limit(v, &f.on_limit, &f.queue_timeout, ctx),
        tcp_keepalive: (!keepalive.is_zero()).then_some(keepalive),
        tcp_nodelay: f.tcp_nodelay.as_ref().is_none_or(|n| *n.get_ref()),
    }
}

/// `on_limit` and its `queue_timeout` (listeners and pools alike).
pub(super) fn on_limit(
    v: &mut V<'_, '_>,
    value: &Option<Spanned<String>>,
    queue_timeout: &Option<Spanned<String>>,
    ctx: &str,
) -> OnLimit {
    let timeout = v.duration(queue_timeout, "queue_timeout", ctx, "5s", false);
    match value.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("refuse", _)) => {
            if let Some(q) = queue_timeout
                && value.is_none()
            {
                v.warning(
                    q.span(),
                    format!("`queue_timeout` in {ctx} has no effect without on_limit = \"queue\""),
                    "add on_limit = \"queue\", or remove queue_timeout",
                );
            }
            OnLimit::Refuse
        }
        Some(("queue", _)) => OnLimit::Queue(timeout),
        Some((other, span)) => {
            let hint = did_you_mean(other, &["refuse", "queue"])
                .map(|s| format!("did you mean {s:?}? "))
                .unwrap_or_default();
            v.error(
                span,
                format!("invalid on_limit {other:?} in {ctx}"),
                format!(
                    "{hint}use \"refuse\" (close at once) or \"queue\" (wait up to queue_timeout)"
                ),
            );
            OnLimit::Refuse
        }
    }
}

/// `proxy_protocol` and `trusted_proxies`.
pub(super) fn proxy_in(
    v: &mut V<'_, '_>,
    f: &FileListener,
    header: &Range<usize>,
    ctx: &str,
) -> Option<ProxyIn> {
    let trusted = f.trusted_proxies.as_ref().map(|list| {
        list.get_ref()
            .iter()
            .filter_map(|n| match parse_net(n.get_ref()) {
                Ok(net) => Some(net),
                Err(why) => {
                    v.error(
                        n.span(),
                        format!("invalid network {:?} in `trusted_proxies` of {ctx}: {why}", n.get_ref()),
                        "write an address or a network in CIDR form, e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\"",
                    );
                    None
                }
            })
            .collect::<Vec<_>>()
    });
    let Some(p) = &f.proxy_protocol else {
        if let Some(list) = &f.trusted_proxies {
            v.warning(
                list.span(),
                format!("`trusted_proxies` in {ctx} has no effect without `proxy_protocol`"),
                "add proxy_protocol = \"v1\", \"v2\" or \"any\", or remove trusted_proxies",
            );
        }
        return None;
    };
    let versions = match p.get_ref().as_str() {
        "v1" => ProxyVersions::V1,
        "v2" => ProxyVersions::V2,
        "any" => ProxyVersions::Any,
        other => {
            v.error(
                p.span(),
                format!("invalid proxy_protocol {other:?} in {ctx}"),
                "use \"v1\", \"v2\" or \"any\" (the version the peer in front of this listener sends)",
            );
            ProxyVersions::Any
        }
    };
    let listed_none = f
        .trusted_proxies
        .as_ref()
        .is_some_and(|l| l.get_ref().is_empty());
    let trusted = match trusted {
        Some(t) if !listed_none => t,
        Some(_) => {
            if let Some(list) = &f.trusted_proxies {
                v.error(
                    list.span(),
                    format!("`trusted_proxies` is empty in {ctx}"),
                    "list the peers allowed to send PROXY headers, e.g. trusted_proxies = [\"10.0.0.0/8\"]",
                );
            }
            Vec::new()
        }
        None => {
            if v.report_missing(header, &["trusted_proxies"]) {
                v.error(
                    p.span(),
                    format!("{ctx} accepts the PROXY protocol but has no `trusted_proxies`"),
                    "a PROXY header sets the client address, so only peers you trust may send one: \
                     add trusted_proxies = [\"10.0.0.0/8\"] (addresses or CIDR networks)",
                );
            }
            Vec::new()
        }
    };
    Some(ProxyIn {
        versions,
        trusted,
        timeout: Duration::from_secs(5),
    })
}

/// Parses `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`, `::1`.
pub(super) fn parse_net(s: &str) -> Result<IpNet, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("prefix length {p:?} must be a number from 0 to {max}"))?,
    };
    Ok(IpNet { addr, prefix })
}

/// Whether every name `n` matches is matched by `m` too.
fn covers(m: &HostMatch, n: &HostMatch) -> bool {
    match (m, n) {
        (HostMatch::Exact(a), HostMatch::Exact(b)) => a == b,
        (HostMatch::Suffix(x), HostMatch::Exact(b)) => b.len() > x.len() && b.ends_with(x.as_str()),
        // `*.example.com` covers `*.example.com` and `*.a.example.com`.
        (HostMatch::Suffix(x), HostMatch::Suffix(y)) => y.ends_with(x.as_str()),
        (HostMatch::Exact(_), HostMatch::Suffix(_)) => false,
    }
}

/// The settings of a `protocol = "tcp"` listener.
pub(super) fn tcp(
    v: &mut V<'_, '_>,
    f: &FileListener,
    header: &Range<usize>,
    ctx: &str,
    index: &PoolIndex,
    used: &mut [bool],
) -> TcpCfg {
    let default_pool = f.pool.as_ref().and_then(|p| index.lookup(v, p, ctx, used));
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut sni = Vec::new();
    for (j, s) in f.sni.iter().enumerate() {
        if let Some(route) = sni_route(v, j, s, ctx, index, used) {
            let span = s.get_ref().name.as_ref().map_or(s.span(), Spanned::span);
            if let Some(first) = names.get(&route.name) {
                let line = v.line_of(first);
                v.error(
                    span,
                    format!("duplicate sni route name {:?} in {ctx}", route.name),
                    format!("names must be unique within a listener; {:?} is already used on line {line}", route.name),
                );
            } else {
                names.insert(route.name.clone(), span);
            }
            // A name an earlier route already takes for every protocol
            // (the same name, a wildcard over it, or a route with no
            // names at all): this route never sees it (first match wins).
            let earlier = |n: &HostMatch| {
                sni.iter().find(|r: &&SniRouteCfg| {
                    r.alpn.is_empty()
                        && (r.server_names.is_empty()
                            || r.server_names.iter().any(|m| covers(m, n)))
                })
            };
            let catch_all = || {
                sni.iter()
                    .find(|r: &&SniRouteCfg| r.alpn.is_empty() && r.server_names.is_empty())
            };
            if route.server_names.is_empty()
                && let Some(r) = catch_all()
            {
                v.warning(
                    s.span(),
                    format!(
                        "sni route {:?} in {ctx} never matches: sni route {:?} above it has no server_name and no alpn, so it takes every connection",
                        route.name, r.name
                    ),
                    "move the route without names last, or remove one of them",
                );
            } else if let Some((n, r)) = route
                .server_names
                .iter()
                .find_map(|n| earlier(n).map(|r| (n, r)))
            {
                let shown = match n {
                    HostMatch::Exact(e) => e.clone(),
                    HostMatch::Suffix(x) => format!("*{x}"),
                };
                v.warning(
                    s.span(),
                    format!(
                        "server_name {shown:?} of sni route {:?} in {ctx} is already taken by sni route {:?} above it",
                        route.name, r.name
                    ),
                    "connections for it go to the first matching route: remove the name here, or give the routes different alpn lists",
                );
            }
            sni.push(route);
        }
    }
    if f.pool.is_none() && f.sni.is_empty() && v.report_missing(header, &["pool", "sni"]) {
        v.error(
            header.clone(),
            format!("{ctx} has no `pool` and no [[listener.sni]] routes"),
            "say where connections go: pool = \"NAME\", or route TLS connections by name with \
             [[listener.sni]] sections",
        );
    }
    let non_tls = match f.non_tls.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None => {
            if f.pool.is_some() {
                NonTls::DefaultPool
            } else {
                NonTls::Refuse
            }
        }
        Some(("default", span)) => {
            if f.pool.is_none() {
                v.error(
                    span,
                    format!("non_tls = \"default\" in {ctx} needs a default `pool`"),
                    "add pool = \"NAME\" for connections that are not TLS, or use non_tls = \"refuse\"",
                );
            }
            NonTls::DefaultPool
        }
        Some(("refuse", _)) => NonTls::Refuse,
        Some((other, span)) => {
            v.error(
                span,
                format!("invalid non_tls {other:?} in {ctx}"),
                "use \"default\" (send them to `pool`) or \"refuse\" (close the connection)",
            );
            NonTls::Refuse
        }
    };
    if sni.is_empty()
        && let Some(n) = &f.non_tls
    {
        v.warning(
            n.span(),
            format!("`non_tls` in {ctx} has no effect without [[listener.sni]] routes"),
            "remove it, or add SNI routes",
        );
    }
    TcpCfg {
        default_pool,
        sni,
        non_tls,
        peek_timeout: v.duration(&f.peek_timeout, "peek_timeout", ctx, "5s", false),
        idle_timeout: Duration::ZERO,
    }
}

fn sni_route(
    v: &mut V<'_, '_>,
    j: usize,
    s: &Spanned<FileSni>,
    listener: &str,
    index: &PoolIndex,
    used: &mut [bool],
) -> Option<SniRouteCfg> {
    let f = s.get_ref();
    let name = f
        .name
        .as_ref()
        .map_or_else(|| format!("sni-{}", j + 1), |n| n.get_ref().clone());
    let ctx = format!("sni route {name:?} in {listener}");
    let mut server_names: Vec<HostMatch> = Vec::new();
    if let Some(names) = &f.server_name {
        let list: Vec<(String, Range<usize>)> = match names.get_ref() {
            super::file::OneOrMany::One(n) => vec![(n.clone(), names.span())],
            super::file::OneOrMany::Many(ns) => {
                ns.iter().map(|n| (n.get_ref().clone(), n.span())).collect()
            }
        };
        if list.is_empty() {
            v.error(
                names.span(),
                format!("`server_name` is an empty list in {ctx}"),
                "list at least one name, or remove server_name to match any name",
            );
        }
        for (raw, span) in list {
            match host_pattern(&raw) {
                Ok(h) => server_names.push(h),
                Err((msg, help)) => v.error(
                    span,
                    format!("invalid server_name {raw:?} in {ctx}: {msg}"),
                    help,
                ),
            }
        }
    }
    if let Some(list) = f.alpn.as_ref().filter(|l| l.get_ref().is_empty()) {
        // Read as "any protocol", like a missing key: probably not meant.
        v.warning(
            list.span(),
            format!("`alpn` is an empty list in {ctx}: it matches any protocol"),
            "list the protocols to match, e.g. alpn = [\"h2\"], or remove `alpn`",
        );
    }
    let alpn: Vec<String> = f
        .alpn
        .as_ref()
        .map(|list| {
            list.get_ref()
                .iter()
                .filter_map(|a| {
                    let s = a.get_ref();
                    if s.is_empty() || s.len() > 255 {
                        v.error(
                            a.span(),
                            format!("invalid ALPN protocol {s:?} in {ctx}"),
                            "an ALPN protocol name is 1 to 255 bytes, e.g. \"h2\" or \"http/1.1\"",
                        );
                        None
                    } else {
                        Some(s.clone())
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(pool) = &f.pool else {
        if v.report_missing(&s.span(), &["pool"]) {
            v.error(
                s.span(),
                format!("{ctx} has no `pool`"),
                "say where matching connections go: pool = \"NAME\"",
            );
        }
        return None;
    };
    let pool = index.lookup(v, pool, &ctx, used)?;
    Some(SniRouteCfg {
        name,
        server_names,
        alpn,
        pool,
    })
}

/// The settings of a `protocol = "udp"` listener.
pub(super) fn udp(
    v: &mut V<'_, '_>,
    f: &FileListener,
    header: &Range<usize>,
    ctx: &str,
    index: &PoolIndex,
    used: &mut [bool],
) -> UdpCfg {
    let pool = match &f.pool {
        Some(p) => index.lookup(v, p, ctx, used).unwrap_or(0),
        None => {
            if v.report_missing(header, &["pool"]) {
                v.error(
                    header.clone(),
                    format!("{ctx} has no `pool`"),
                    "say where datagrams go: pool = \"NAME\"",
                );
            }
            0
        }
    };
    let max_sessions = v.int(
        &f.max_sessions,
        "max_sessions",
        ctx,
        1..=10_000_000,
        65_536,
        "use a number of flows from 1 to 10000000; the default is 65536",
    );
    UdpCfg {
        pool,
        session_timeout: Duration::ZERO,
        max_sessions: usize::try_from(max_sessions).unwrap_or(65_536),
    }
}

/// The L4 settings of a pool.
pub(super) struct PoolL4 {
    pub send_proxy: Option<ProxyVersion>,
    pub forward_tlvs: bool,
    pub max_connections_per_endpoint: usize,
    pub on_limit: OnLimit,
    pub drain_timeout: Duration,
}

pub(super) fn pool_l4(v: &mut V<'_, '_>, f: &FilePool, ctx: &str) -> PoolL4 {
    let send_proxy = f
        .send_proxy_protocol
        .as_ref()
        .and_then(|p| match p.get_ref().as_str() {
            "v1" => Some(ProxyVersion::V1),
            "v2" => Some(ProxyVersion::V2),
            other => {
                v.error(
                    p.span(),
                    format!("invalid send_proxy_protocol {other:?} in {ctx}"),
                    "use \"v1\" (text) or \"v2\" (binary), whichever the backends accept",
                );
                None
            }
        });
    let forward_tlvs = match f
        .proxy_protocol_tlvs
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("drop", _)) => false,
        Some(("forward", _)) => true,
        Some((other, span)) => {
            v.error(
                span,
                format!("invalid proxy_protocol_tlvs {other:?} in {ctx}"),
                "use \"drop\" (default) or \"forward\" (pass the TLVs of an accepted v2 header on)",
            );
            false
        }
    };
    let max = v.int(
        &f.max_connections_per_endpoint,
        "max_connections_per_endpoint",
        ctx,
        0..=10_000_000,
        0,
        "use 0 (no limit) or a number of connections from 1 to 10000000",
    );
    PoolL4 {
        send_proxy,
        forward_tlvs,
        max_connections_per_endpoint: usize::try_from(max).unwrap_or(0),
        on_limit: on_limit(v, &f.on_limit, &f.queue_timeout, ctx),
        drain_timeout: v.duration(&f.drain_timeout, "drain_timeout", ctx, "30s", true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = parse_net("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.1.2".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(
            n.contains("::ffff:10.1.2.3".parse().unwrap()),
            "IPv4-mapped counts as IPv4"
        );
        let one = parse_net("192.0.2.7").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6 = parse_net("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(
            parse_net("0.0.0.0/0")
                .unwrap()
                .contains("203.0.113.9".parse().unwrap())
        );
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("nope/8").is_err());
    }
}
