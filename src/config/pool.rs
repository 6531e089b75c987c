//! Pool checks: names, algorithm and its options, timeouts, endpoints
//! (addresses resolved at load), and the pool warnings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;

use http::HeaderName;
use toml::Spanned;

use super::file::{FileEndpoint, FilePool};
use super::key_spans::key_spans;
use super::model::{
    EndpointCfg, HashKey, ListenerCfg, PoolCfg, RouteAction, StatusSet, UpstreamHttp,
};
use super::parse::{ITEM, pool_desc};
use super::suggest::{did_you_mean, quoted_list};
use super::validate::V;
use crate::balance::{Algorithm, DEFAULT_TABLE_SIZE};

/// Pool names → index in the file (first definition wins).
pub(super) struct PoolIndex {
    names: Vec<String>,
    by_name: HashMap<String, usize>,
}

impl PoolIndex {
    pub(super) fn new(pools: &[Spanned<FilePool>]) -> Self {
        let mut names = Vec::new();
        let mut by_name = HashMap::new();
        for (i, p) in pools.iter().enumerate() {
            if let Some(n) = &p.get_ref().name {
                by_name.entry(n.get_ref().clone()).or_insert(i);
                names.push(n.get_ref().clone());
            }
        }
        PoolIndex { names, by_name }
    }

    /// The index of the pool a route names; reports an unknown pool.
    pub(super) fn lookup(
        &self,
        v: &mut V<'_, '_>,
        pool: &Spanned<String>,
        ctx: &str,
        used: &mut [bool],
    ) -> Option<usize> {
        let name = pool.get_ref();
        if let Some(&i) = self.by_name.get(name) {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            return Some(i);
        }
        if v.partial {
            return None;
        }
        let help = if self.names.is_empty() {
            format!("no pool is defined: add a [[pool]] section with name = {name:?}")
        } else {
            let known: Vec<&str> = self.names.iter().map(String::as_str).collect();
            match did_you_mean(name, &known) {
                Some(s) => format!("did you mean {s:?}? defined pools: {}", quoted_list(&known)),
                None => format!("defined pools: {}", quoted_list(&known)),
            }
        };
        v.error(
            pool.span(),
            format!("{ctx} uses pool {name:?}, which does not exist"),
            help,
        );
        None
    }
}

/// Checks every pool; `used[i]` says whether a route uses pool `i`.
pub(super) fn pools(v: &mut V<'_, '_>, pools: &[Spanned<FilePool>], used: &[bool]) -> Vec<PoolCfg> {
    let mut names: HashMap<&str, Range<usize>> = HashMap::new();
    let mut out = Vec::with_capacity(pools.len());
    for (i, p) in pools.iter().enumerate() {
        let f = p.get_ref();
        let ctx = pool_desc(f.name.as_ref().map(|n| n.get_ref().as_str()), i);
        let mut unique = true;
        match &f.name {
            None => {
                if v.report_missing(&p.span(), &["name"]) {
                    v.error(
                        p.span(),
                        format!("{ctx} has no `name`"),
                        "add a unique name that routes refer to, e.g. name = \"api\"",
                    );
                }
                unique = false;
            }
            Some(n) if n.get_ref().is_empty() => {
                v.error(
                    n.span(),
                    "pool name is empty",
                    "give the pool a unique name, e.g. name = \"api\"",
                );
            }
            Some(n) => {
                if let Some(first) = names.get(n.get_ref().as_str()) {
                    let line = v.line_of(first);
                    v.error(
                        n.span(),
                        format!("duplicate pool name {:?}", n.get_ref()),
                        format!(
                            "pool names must be unique; {:?} is already defined on line {line}: rename or merge them",
                            n.get_ref()
                        ),
                    );
                    unique = false;
                } else {
                    names.insert(n.get_ref(), n.span());
                }
            }
        }
        let cfg = pool(v, p, &ctx);
        if unique && !v.partial && !used.get(i).copied().unwrap_or(true) {
            let span = f.name.as_ref().map_or(p.span(), Spanned::span);
            v.warning(
                span,
                format!("{ctx} is not used by any route"),
                format!(
                    "send traffic to it with pool = {:?} in a [[listener.route]], or remove it",
                    cfg.name
                ),
            );
        }
        out.push(cfg);
    }
    out
}

/// `fail_statuses`: error statuses, each once.
fn fail_statuses(
    v: &mut V<'_, '_>,
    list: &Option<Spanned<Vec<Spanned<i64>>>>,
    ctx: &str,
) -> StatusSet {
    let mut set = StatusSet::default();
    for s in list.iter().flat_map(|l| l.get_ref()) {
        let code = *s.get_ref();
        match u16::try_from(code).ok().filter(|c| (400..=599).contains(c)) {
            Some(c) if set.contains(c) => v.warning(
                s.span(),
                format!("status {c} is listed twice in `fail_statuses` of {ctx}"),
                "remove the repeated status",
            ),
            Some(c) => set.insert(c),
            None => v.error(
                s.span(),
                format!("`fail_statuses` in {ctx} lists {code}, which is not an error status"),
                "list statuses from 400 to 599, e.g. fail_statuses = [502, 503, 504]",
            ),
        }
    }
    set
}

fn pool(v: &mut V<'_, '_>, p: &Spanned<FilePool>, ctx: &str) -> PoolCfg {
    let f = p.get_ref();
    let algorithm = algorithm(v, f, ctx);
    let hash_key = hash_key(v, f, algorithm, ctx);
    let max_idle = v.int(
        &f.max_idle_per_endpoint,
        "max_idle_per_endpoint",
        ctx,
        0..=10_000,
        32,
        "use 0 (no reuse) to 10000 idle connections per endpoint; the default is 32",
    );
    let max_fails = v.int(
        &f.max_fails,
        "max_fails",
        ctx,
        1..=1000,
        1,
        "use 1 to 1000 failures in a row; to never skip an endpoint, set fail_timeout = \"0s\"",
    );
    let l4 = super::l4::pool_l4(v, f, ctx);
    let (tls, http_version) = super::tls::pool(v, f, ctx);
    let cfg = PoolCfg {
        name: f
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_default(),
        algorithm: algorithm.unwrap_or(Algorithm::RoundRobin),
        hash_key,
        endpoints: endpoints(v, p, ctx),
        connect_timeout: v.duration(&f.connect_timeout, "connect_timeout", ctx, "2s", false),
        response_timeout: v.duration(&f.response_timeout, "response_timeout", ctx, "30s", false),
        response_body_timeout: v.duration(
            &f.response_body_timeout,
            "response_body_timeout",
            ctx,
            "60s",
            false,
        ),
        h2_keepalive: v.h2_keepalive(&f.h2_keepalive_interval, &f.h2_keepalive_timeout, ctx),
        idle_timeout: v.duration(&f.idle_timeout, "idle_timeout", ctx, "60s", true),
        max_idle_per_endpoint: usize::try_from(max_idle).unwrap_or(32),
        fail_timeout: v.duration(&f.fail_timeout, "fail_timeout", ctx, "10s", true),
        max_fails: u32::try_from(max_fails).unwrap_or(1),
        fail_statuses: fail_statuses(v, &f.fail_statuses, ctx),
        send_proxy: l4.send_proxy,
        forward_proxy_tlvs: l4.forward_tlvs,
        max_connections_per_endpoint: l4.max_connections_per_endpoint,
        on_limit: l4.on_limit,
        drain_timeout: l4.drain_timeout,
        tls,
        http_version,
    };
    if cfg.http_version == UpstreamHttp::Http1
        && let Some(i) = &f.h2_keepalive_interval
    {
        v.warning(
            i.span(),
            format!("`h2_keepalive_interval` in {ctx} does nothing: the pool speaks HTTP/1.1"),
            "set http_version = \"2\" (or \"auto\" with [pool.tls]), or remove \
             h2_keepalive_interval",
        );
    }
    if algorithm == Some(Algorithm::RoundRobin)
        && let Some(list) = &f.endpoints
    {
        let weight =
            |e: &Spanned<FileEndpoint>| e.get_ref().weight.as_ref().map_or(1, |w| *w.get_ref());
        let valid: Vec<&Spanned<FileEndpoint>> = list
            .get_ref()
            .iter()
            .filter(|e| (1..=65535).contains(&weight(e)))
            .collect();
        // The caret goes to a weight that stands out: the first one
        // written above the smallest (an endpoint without one weighs 1).
        let least = valid.iter().map(|e| weight(e)).min().unwrap_or(1);
        let odd = valid.iter().find(|e| weight(e) != least);
        if let Some(span) = odd.and_then(|e| e.get_ref().weight.as_ref().map(Spanned::span)) {
            v.warning(
                span,
                format!("{ctx} uses round_robin, which ignores endpoint weights"),
                "set algorithm = \"weighted_round_robin\" to send traffic in proportion to the weights",
            );
        }
    }
    cfg
}

/// The algorithm; `None` when it is invalid (already reported).
fn algorithm(v: &mut V<'_, '_>, f: &FilePool, ctx: &str) -> Option<Algorithm> {
    let name = f
        .algorithm
        .as_ref()
        .map_or("round_robin", |a| a.get_ref().as_str());
    let algorithm = match name {
        "round_robin" => Algorithm::RoundRobin,
        "weighted_round_robin" => Algorithm::WeightedRoundRobin,
        "least_connections" => Algorithm::LeastConnections,
        "p2c_ewma" => Algorithm::P2cEwma,
        "random" => Algorithm::Random,
        "ring_hash" => Algorithm::RingHash,
        "maglev" => Algorithm::Maglev {
            table_size: table_size(v, f, ctx),
        },
        other => {
            let names = Algorithm::NAMES.join(", ");
            let help = match did_you_mean(other, Algorithm::NAMES) {
                Some(s) => format!("did you mean \"{s}\"? algorithms: {names}"),
                None => format!("algorithms: {names}"),
            };
            let span = f.algorithm.as_ref().map_or(0..0, Spanned::span);
            v.error(span, format!("unknown algorithm {other:?} in {ctx}"), help);
            return None;
        }
    };
    if let Some(size) = &f.maglev_table_size
        && !matches!(algorithm, Algorithm::Maglev { .. })
    {
        v.error(
            size.span(),
            format!(
                "`maglev_table_size` only applies to algorithm = \"maglev\", but {ctx} uses {name}"
            ),
            "remove maglev_table_size, or set algorithm = \"maglev\"",
        );
    }
    Some(algorithm)
}

fn table_size(v: &mut V<'_, '_>, f: &FilePool, ctx: &str) -> u32 {
    let Some(size) = &f.maglev_table_size else {
        return DEFAULT_TABLE_SIZE;
    };
    let n = *size.get_ref();
    const MIN: i64 = 7;
    const MAX: i64 = 1_000_003;
    if !(MIN..=MAX).contains(&n) {
        v.error(
            size.span(),
            format!("`maglev_table_size` in {ctx} must be a prime between {MIN} and {MAX}, not {n}"),
            format!("use a prime much larger than the number of endpoints, e.g. {DEFAULT_TABLE_SIZE} (the default)"),
        );
    } else if !is_prime(n as u64) {
        let below = (MIN..n).rev().find(|&k| is_prime(k as u64));
        let above = (n + 1..=MAX).find(|&k| is_prime(k as u64));
        let near: Vec<String> = below
            .into_iter()
            .chain(above)
            .map(|k| k.to_string())
            .collect();
        v.error(
            size.span(),
            format!("`maglev_table_size` {n} in {ctx} is not a prime number"),
            format!(
                "Maglev needs a prime table size; the nearest primes are {}",
                near.join(" and ")
            ),
        );
    } else {
        return u32::try_from(n).unwrap_or(DEFAULT_TABLE_SIZE);
    }
    DEFAULT_TABLE_SIZE
}

/// Trial division; fine for table sizes (at most ~10^6).
pub(super) fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

fn hash_key(
    v: &mut V<'_, '_>,
    f: &FilePool,
    algorithm: Option<Algorithm>,
    ctx: &str,
) -> Option<HashKey> {
    let hashing = algorithm.is_some_and(|a| a.is_hashing());
    let Some(key) = &f.hash_key else {
        return hashing.then_some(HashKey::ClientIp);
    };
    if algorithm.is_some() && !hashing {
        let name = f
            .algorithm
            .as_ref()
            .map_or("round_robin", |a| a.get_ref().as_str());
        v.error(
            key.span(),
            format!("`hash_key` only applies to hashing algorithms (ring_hash, maglev), but {ctx} uses {name}"),
            "remove hash_key, or set algorithm = \"ring_hash\" or \"maglev\"",
        );
        return None;
    }
    let s = key.get_ref();
    let parsed = match s.split_once(':') {
        None if s == "client_ip" => Ok(HashKey::ClientIp),
        None if s == "client_ip_port" => Ok(HashKey::ClientIpPort),
        None if s == "path" => Ok(HashKey::Path),
        Some(("header", name)) => HeaderName::from_bytes(name.as_bytes())
            .map(HashKey::Header)
            .map_err(|_| {
                format!(
                    "invalid header name {name:?}; write header:NAME, e.g. \"header:x-user-id\""
                )
            }),
        Some(("cookie", name)) if !name.is_empty() && !name.contains([' ', ';', '=', ',']) => {
            Ok(HashKey::Cookie(name.to_string()))
        }
        Some(("cookie", name)) => Err(format!(
            "invalid cookie name {name:?}; write cookie:NAME, e.g. \"cookie:session\""
        )),
        _ => {
            let forms = ["client_ip", "path", "client_ip_port", "header:", "cookie:"];
            let head = s.split(':').next().unwrap_or(s);
            // `header` and `cookie` need a name: suggest the full form.
            let hint = did_you_mean(head, &forms[..3])
                .map(str::to_owned)
                .or_else(|| did_you_mean(head, &["header", "cookie"]).map(|m| format!("{m}:NAME")))
                .map(|m| format!("did you mean \"{m}\"? "))
                .unwrap_or_default();
            Err(format!(
                "{hint}use client_ip, client_ip_port, path, header:NAME or cookie:NAME"
            ))
        }
    };
    match parsed {
        Ok(k) => hashing.then_some(k),
        Err(help) => {
            v.error(key.span(), format!("invalid hash_key {s:?} in {ctx}"), help);
            None
        }
    }
}

/// Keys that only HTTP requests use, on pools that only `tcp`/`udp`
/// listeners use: they do nothing there, and the operator should know.
/// `[pool.tls]` is an error: the stream proxy relays bytes as they come
/// and never speaks TLS to an endpoint, so the traffic would go out in
/// the clear where the file asks for it encrypted.
pub(super) fn http_keys_on_l4_pools(
    v: &mut V<'_, '_>,
    pools: &[Spanned<FilePool>],
    cfgs: &[PoolCfg],
    listeners: &[ListenerCfg],
) {
    // Indices of pools that do not exist (already reported) are skipped.
    let mark = |v: &mut Vec<bool>, i: usize| {
        if let Some(u) = v.get_mut(i) {
            *u = true;
        }
    };
    let mut http = vec![false; pools.len()];
    let mut l4 = vec![false; pools.len()];
    for l in listeners {
        for r in &l.routes {
            match &r.action {
                RouteAction::Pool(i) => mark(&mut http, *i),
                RouteAction::Split(parts) => parts.iter().for_each(|(i, _)| mark(&mut http, *i)),
            }
        }
        if let Some(t) = &l.tcp {
            t.default_pool.iter().for_each(|i| mark(&mut l4, *i));
            t.sni.iter().for_each(|s| mark(&mut l4, s.pool));
        }
        if let Some(u) = &l.udp {
            mark(&mut l4, u.pool);
        }
    }
    for (i, p) in pools.iter().enumerate() {
        if !l4.get(i).copied().unwrap_or(false) || http.get(i).copied().unwrap_or(true) {
            continue;
        }
        let f = p.get_ref();
        let ctx = pool_desc(f.name.as_ref().map(|n| n.get_ref().as_str()), i);
        if let Some(t) = &f.tls {
            v.error(
                t.span(),
                format!("[pool.tls] in {ctx} does nothing: only tcp/udp listeners use the pool, and they relay bytes as they come, never encrypting them"),
                "remove [pool.tls] and let clients speak TLS end to end (SNI routes keep it so), or serve the traffic from an http listener, which re-encrypts to the pool",
            );
        }
        let spans = key_spans!(f;
            fail_statuses,
            http_version,
            response_timeout,
            response_body_timeout,
            h2_keepalive_interval,
            h2_keepalive_timeout,
            idle_timeout,
            max_idle_per_endpoint,
        );
        for (key, span) in spans {
            let Some(span) = span else { continue };
            v.warning(
                span,
                format!("`{key}` in {ctx} does nothing: only tcp/udp listeners use the pool, and it applies to HTTP requests"),
                if key.ends_with("timeout") {
                    format!("remove `{key}`; on tcp listeners, the listener's `idle_timeout` bounds a quiet connection")
                } else {
                    format!("remove `{key}`")
                },
            );
        }
        let http_hash = matches!(
            cfgs.get(i).and_then(|c| c.hash_key.as_ref()),
            Some(HashKey::Path | HashKey::Header(_) | HashKey::Cookie(_))
        );
        if let (true, Some(k)) = (http_hash, &f.hash_key) {
            v.warning(
                k.span(),
                format!("`hash_key` {:?} in {ctx} cannot be read: only tcp/udp listeners use the pool, so every connection gets a random endpoint", k.get_ref()),
                "use hash_key = \"client_ip\" (or \"client_ip_port\") for affinity on L4",
            );
        }
    }
}

fn endpoints(v: &mut V<'_, '_>, p: &Spanned<FilePool>, ctx: &str) -> Vec<EndpointCfg> {
    let f = p.get_ref();
    let list = f
        .endpoints
        .as_ref()
        .map_or(&[][..], |l| l.get_ref().as_slice());
    // Not when every item was dropped for an error already reported.
    let dropped = |l: &Spanned<Vec<_>>| v.removed(&l.span(), &[ITEM]);
    let empty = match &f.endpoints {
        Some(l) => !dropped(l),
        None => v.report_missing(&p.span(), &["endpoints"]),
    };
    if list.is_empty() && empty {
        let span = f.endpoints.as_ref().map_or(p.span(), Spanned::span);
        v.warning(
            span,
            format!("{ctx} has no endpoints; requests routed to it get 503"),
            "add endpoints = [{ address = \"127.0.0.1:9001\" }]",
        );
    }
    let mut seen: HashMap<String, Range<usize>> = HashMap::new();
    let mut out = Vec::with_capacity(list.len());
    for (k, e) in list.iter().enumerate() {
        let ef = e.get_ref();
        let ectx = format!("endpoint #{} in {ctx}", k + 1);
        let weight = v.int(
            &ef.weight,
            "weight",
            &ectx,
            1..=65535,
            1,
            "an endpoint weight is from 1 to 65535; to stop sending an endpoint traffic, remove it",
        );
        let Some(address) = &ef.address else {
            if v.report_missing(&e.span(), &["address"]) {
                v.error(
                    e.span(),
                    format!("{ectx} has no `address`"),
                    "add the backend's host:port, e.g. { address = \"127.0.0.1:9001\" }",
                );
            }
            continue;
        };
        let text = address.get_ref();
        // A bare "host:port" item is its own address.
        let span = if address.span().is_empty() {
            e.span()
        } else {
            address.span()
        };
        if let Some(first) = seen.get(text) {
            let line = v.line_of(first);
            v.error(
                span.clone(),
                format!("endpoint {text:?} is listed twice in {ctx}"),
                format!("list each endpoint once (first on line {line}); raise its weight to send it more traffic"),
            );
            continue;
        }
        seen.insert(text.clone(), span.clone());
        let resolved = match resolve(v, text) {
            Ok(addr) => addr,
            Err((reason, help)) => {
                v.error(
                    span.clone(),
                    format!("invalid address {text:?} for {ectx}: {reason}"),
                    help,
                );
                continue;
            }
        };
        out.push(EndpointCfg {
            address: text.clone(),
            resolved,
            weight: u32::try_from(weight).unwrap_or(1),
        });
    }
    out
}

/// Parses and resolves an endpoint address (`host:port`).
fn resolve(v: &V<'_, '_>, s: &str) -> Result<SocketAddr, (String, String)> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err((
                "port 0".into(),
                "write the port the backend listens on, e.g. \"127.0.0.1:9001\"".into(),
            ));
        }
        return Ok(addr);
    }
    if let Some((scheme, _)) = s.split_once("://") {
        return Err((
            format!("`{scheme}://` is not part of an endpoint address"),
            "write only host:port, e.g. \"backend.internal:8080\"".into(),
        ));
    }
    if s.trim().is_empty() {
        return Err((
            "it is empty".into(),
            "write host:port, e.g. \"backend.internal:8080\" or \"10.0.0.5:8080\"".into(),
        ));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err((
            "the port is missing".into(),
            format!("write host:port, e.g. \"{s}:8080\""),
        ));
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err((
            "IPv6 addresses need brackets".into(),
            "write the IPv6 address in brackets before the port, e.g. \"[::1]:9001\"".into(),
        ));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => {
            return Err((
                format!("invalid port {port:?}"),
                format!("a port is a number from 1 to 65535, e.g. \"{host}:8080\""),
            ));
        }
        Ok(_) => {}
    }
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    // All digits and dots: meant as an IPv4 address (a DNS name needs a
    // letter in its last label), so no lookup that would blame DNS.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err((
            format!("invalid IPv4 address {host:?}"),
            "an IPv4 address is four numbers from 0 to 255, e.g. \"10.0.0.5:8080\"".into(),
        ));
    }
    if !valid_host {
        return Err((
            format!("invalid host name {host:?}"),
            "write host:port with a DNS name or an IP address, e.g. \"backend.internal:8080\" or \
             \"10.0.0.5:8080\" (no scheme or path)"
                .into(),
        ));
    }
    match (v.resolve)(s) {
        Ok(addrs) if !addrs.is_empty() => Ok(addrs[0]),
        Ok(_) => Err((
            format!("host {host:?} resolved to no address"),
            "check the name, or use an IP address (names are resolved at load and at every reload)"
                .into(),
        )),
        Err(e) => Err((
            format!("cannot resolve host {host:?} ({e})"),
            "check the name, or use an IP address (names are resolved at load and at every reload)"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let primes: Vec<u64> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65537));
        assert!(is_prime(1_000_003));
        assert!(!is_prime(65536));
    }
}
