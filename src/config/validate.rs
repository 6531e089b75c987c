//! Stage 2: [`FileConfig`] → [`Config`], collecting every semantic error.
//!
//! Each check reports at the span of the offending value (or of the table
//! header when a key is missing) and says how to fix it. Checks keep going
//! after an error, using defaults in place of bad values, so one run reports
//! everything; the model is only returned when there was no error.
//!
//! Routes are checked in `route.rs`, pools in `pool.rs`; single values
//! (listen addresses, regex errors) are read in `values.rs`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use regex::Regex;
use toml::Spanned;

use super::diagnostic::Reporter;
use super::duration;
use super::file::{FileGlobal, FileListener};
use super::l4;
use super::model::{
    Config, Forwarding, Global, H2Keepalive, HttpLimits, ListenerCfg, ListenerTimeouts, Protocol,
};
use super::parse::{Parsed, Removed, listener_desc};
use super::pool::{PoolIndex, pools};
use super::route::{is_catch_all, route};
use super::values::{parse_listen_address, regex_error};

/// Resolves `host:port` to socket addresses (the first one is used).
pub type Resolver = dyn Fn(&str) -> io::Result<Vec<SocketAddr>>;

/// Shared state of one validation run.
pub(super) struct V<'r, 'a> {
    pub(super) rep: &'r mut Reporter<'a>,
    removed: &'r Removed,
    /// The file had syntax errors: skip checks that missing parts mislead.
    pub(super) partial: bool,
    pub(super) resolve: &'r Resolver,
}

/// Listener addresses seen so far, per transport (a UDP listener may share
/// a port number with a TCP one): address, span, listener name.
#[derive(Default)]
pub(super) struct Addresses {
    tcp: Vec<(SocketAddr, Range<usize>, String)>,
    udp: Vec<(SocketAddr, Range<usize>, String)>,
}

/// Validates a parsed file; `None` when any error was reported.
pub(crate) fn validate(
    rep: &mut Reporter<'_>,
    parsed: &Parsed,
    resolve: &Resolver,
) -> Option<Config> {
    let mut v = V {
        rep,
        removed: &parsed.removed,
        partial: parsed.partial,
        resolve,
    };
    let file = &parsed.file;
    let global = v.global(file.global.as_ref().map(Spanned::get_ref));
    let index = PoolIndex::new(&file.pools);
    let mut used = vec![false; file.pools.len()];
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut addresses = Addresses::default();
    let listeners: Vec<ListenerCfg> = file
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| v.listener(i, l, &mut names, &mut addresses, &index, &mut used))
        .collect();
    let pools = pools(&mut v, &file.pools, &used);
    super::pool::http_keys_on_l4_pools(&mut v, &file.pools, &pools, &listeners);
    let engine = (file.engine.is_some() || !file.vips.is_empty())
        .then(|| super::vip::engine(&mut v, file.engine.as_ref(), global.control_socket.as_ref()));
    let vips = match &engine {
        Some(e) => super::vip::vips(&mut v, &file.vips, e),
        None => Vec::new(),
    };
    // Only on their own: with other errors, the file is still being written.
    if !v.rep.has_errors() {
        for (f, l) in file.listeners.iter().zip(&listeners) {
            if l.protocol == Protocol::Http {
                let ctx = listener_desc(Some(&l.name), 0);
                v.routes_used(&ctx, &f.span(), f.get_ref(), l.https_redirect.is_some());
            }
        }
    }
    if file.listeners.is_empty() && file.vips.is_empty() && !v.rep.has_errors() {
        v.error(
            0..0,
            "nothing to serve: the file has no [[listener]] and no [[vip]]",
            "add a listener, e.g. [[listener]] with name, address and a [[listener.route]]; \
             `switchyard demo --print-config` prints a complete example",
        );
    }
    if v.rep.has_errors() {
        return None;
    }
    Some(Config {
        source: None,
        global,
        listeners,
        pools,
        engine,
        vips,
    })
}

impl V<'_, '_> {
    /// Warns about a route `path` or `path_prefix` no normalised request
    /// path can match (it has `..`, `//`, an encoded letter, ...).
    fn unnormal_path(&mut self, f: &super::file::FileRoute, route: &str, lctx: &str) {
        for (key, value) in [("path", &f.path), ("path_prefix", &f.path_prefix)] {
            let Some(value) = value else { continue };
            let s = value.get_ref();
            let normal = crate::http::router::normalize_path(s);
            // A prefix may end inside a segment (`/api/v1.`), which only
            // looks like a dot segment.
            if s.starts_with('/')
                && normal != s.as_str()
                && !(key == "path_prefix" && s.ends_with('.'))
            {
                self.warning(
                    value.span(),
                    format!("`{key}` {s:?} of route {route:?} in {lctx} never matches: requests are matched by their normalised path"),
                    format!("write {normal:?} (or set normalize_path = false on the listener to match paths as sent)"),
                );
            }
        }
    }

    /// Whether a missing key should be reported: not when it was removed
    /// for being wrong (already reported) or the file failed to parse.
    pub(super) fn report_missing(&self, table: &Range<usize>, keys: &[&str]) -> bool {
        !self.partial && !self.removed(table, keys)
    }

    /// Whether one of `keys` (or [`ITEM`](super::parse::ITEM), an array
    /// item) was removed from `table` for an error already reported.
    pub(super) fn removed(&self, table: &Range<usize>, keys: &[&str]) -> bool {
        self.removed.covers(table, keys)
    }

    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.rep.error(span, message, help);
    }

    pub(super) fn warning(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.rep.warning(span, message, help);
    }

    /// The directory of the config file, for relative paths in it (`None`
    /// for a bare file name: the current directory).
    pub(super) fn base_dir(&self) -> Option<std::path::PathBuf> {
        std::path::Path::new(&self.rep.file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf)
    }

    pub(super) fn line_of(&self, span: &Range<usize>) -> usize {
        self.rep.line_of(span.start)
    }

    /// An integer in `range`, `default` when absent (or invalid).
    pub(super) fn int(
        &mut self,
        value: &Option<Spanned<i64>>,
        key: &str,
        ctx: &str,
        range: RangeInclusive<i64>,
        default: i64,
        help: &str,
    ) -> i64 {
        let Some(value) = value else { return default };
        let n = *value.get_ref();
        if range.contains(&n) {
            return n;
        }
        self.error(
            value.span(),
            format!(
                "`{key}` in {ctx} must be between {} and {}, not {n}",
                range.start(),
                range.end()
            ),
            help,
        );
        default
    }

    /// `h2_keepalive_interval` and `h2_keepalive_timeout` (of a listener or
    /// a pool): keepalive PINGs when the interval is set.
    pub(super) fn h2_keepalive(
        &mut self,
        interval: &Option<Spanned<String>>,
        timeout: &Option<Spanned<String>>,
        ctx: &str,
    ) -> Option<H2Keepalive> {
        if interval.is_none() {
            if let Some(t) = timeout {
                self.warning(
                    t.span(),
                    format!("`h2_keepalive_timeout` in {ctx} does nothing without `h2_keepalive_interval`"),
                    "set h2_keepalive_interval = \"30s\" to send keepalive PINGs, or remove \
                     h2_keepalive_timeout",
                );
            }
            return None;
        }
        let timeout = self.duration(timeout, "h2_keepalive_timeout", ctx, "20s", false);
        let interval = self.opt_duration(interval, "h2_keepalive_interval", ctx, "30s")?;
        Some(H2Keepalive { interval, timeout })
    }

    /// A duration that is off when absent: `None` then (or when invalid);
    /// must be > 0. `example`: a sensible value for the help text.
    pub(super) fn opt_duration(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        ctx: &str,
        example: &str,
    ) -> Option<Duration> {
        let value = value.as_ref()?;
        match duration::parse(value.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.error(
                    value.span(),
                    format!("`{key}` in {ctx} must be greater than 0"),
                    format!(
                        "set a positive duration, e.g. {key} = \"{example}\", or remove it (off)"
                    ),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    value.span(),
                    format!("invalid duration for `{key}` in {ctx}: {}", e.message),
                    e.help,
                );
                None
            }
        }
    }

    /// A duration, `default` when absent (or invalid); must be > 0 unless
    /// `zero_ok`.
    pub(super) fn duration(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        ctx: &str,
        default: &str,
        zero_ok: bool,
    ) -> Duration {
        let fallback = duration::parse(default).unwrap_or_default();
        let Some(value) = value else { return fallback };
        match duration::parse(value.get_ref()) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.error(
                    value.span(),
                    format!("`{key}` in {ctx} must be greater than 0"),
                    format!("set a positive duration, e.g. {key} = \"{default}\" (the default)"),
                );
                fallback
            }
            Ok(d) => d,
            Err(e) => {
                self.error(
                    value.span(),
                    format!("invalid duration for `{key}` in {ctx}: {}", e.message),
                    e.help,
                );
                fallback
            }
        }
    }

    /// Compiles a regex; the error points into the pattern when possible.
    pub(super) fn regex(&mut self, value: &Spanned<String>, key: &str, ctx: &str) -> Option<Regex> {
        let pattern = value.get_ref();
        let err = match Regex::new(pattern) {
            Ok(re) => return Some(re),
            Err(e) => e,
        };
        let (reason, span) = regex_error(self.rep.map.text(), value.span(), pattern, &err);
        self.error(
            span,
            format!("invalid regular expression in `{key}` of {ctx}: {reason}"),
            "fix the pattern (syntax: https://docs.rs/regex/#syntax); in a \"...\" TOML string a \
             backslash must be doubled (\"\\\\d+\"), or use a '...' literal string ('\\d+')",
        );
        None
    }

    fn global(&mut self, g: Option<&FileGlobal>) -> Global {
        let empty = FileGlobal::default();
        let g = g.unwrap_or(&empty);
        let ctx = "[global]";
        let workers = self.int(
            &g.workers,
            "workers",
            ctx,
            0..=1024,
            0,
            "use 0 for one worker per CPU, or a number of worker threads from 1 to 1024",
        );
        let workers = match usize::try_from(workers) {
            Ok(0) | Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Ok(n) => n,
        };
        let shutdown_timeout =
            self.duration(&g.shutdown_timeout, "shutdown_timeout", ctx, "30s", true);
        let log_level = match &g.log_level {
            None => "info".to_string(),
            Some(level) => {
                let s = level.get_ref();
                let invalid = if s.trim().is_empty() {
                    Some("it is empty".to_string())
                } else {
                    crate::telemetry::filter_problem(s)
                };
                if let Some(reason) = invalid {
                    self.error(
                        level.span(),
                        format!("invalid `log_level` {s:?} in [global]: {reason}"),
                        "use a level (error, warn, info, debug, trace) or a tracing filter such \
                         as \"info,switchyard=debug\"",
                    );
                }
                s.clone()
            }
        };
        let control_socket = match &g.control_socket {
            Some(p) if p.get_ref().trim().is_empty() => {
                self.error(
                    p.span(),
                    "`control_socket` in [global] is empty",
                    "give the path of a Unix socket, e.g. control_socket = \"/run/switchyard/control.sock\", or remove the key",
                );
                None
            }
            Some(p) => {
                self.socket_path(p, "[global]");
                Some(std::path::PathBuf::from(p.get_ref()))
            }
            None => None,
        };
        Global {
            workers,
            shutdown_timeout,
            log_level,
            control_socket,
        }
    }

    /// An HTTP listener without routes answers every request 404; a
    /// redirect listener never uses the routes it has. Both load (they are
    /// valid) but are almost always a mistake.
    fn routes_used(&mut self, ctx: &str, header: &Range<usize>, f: &FileListener, redirect: bool) {
        match (f.route.first(), redirect) {
            (None, false) => self.warning(
                header.clone(),
                format!("{ctx} has no routes: every request to it gets 404"),
                "add a [[listener.route]] with a `pool`; a route without conditions matches every request",
            ),
            (Some(r), true) => self.warning(
                r.span(),
                format!("the routes of {ctx} are never used: it redirects every request to HTTPS"),
                "remove the routes, or remove `https_redirect` to serve them",
            ),
            _ => {}
        }
    }

    /// A control socket path that names something other than a socket:
    /// starting would refuse to replace it, so `check` says so first.
    pub(super) fn socket_path(&mut self, p: &Spanned<String>, ctx: &str) {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(m) = std::fs::symlink_metadata(p.get_ref())
            && !m.file_type().is_socket()
        {
            let what = if m.is_dir() { "a directory" } else { "a file" };
            self.error(
                p.span(),
                format!("`control_socket` in {ctx} names {what}, not a socket"),
                "give a path where switchyard may create its socket (it is made at start and \
                 removed at exit), e.g. control_socket = \"/run/switchyard/control.sock\"",
            );
        }
    }

    fn listener(
        &mut self,
        i: usize,
        l: &Spanned<FileListener>,
        names: &mut HashMap<String, Range<usize>>,
        addresses: &mut Addresses,
        index: &PoolIndex,
        used: &mut [bool],
    ) -> ListenerCfg {
        let header = l.span();
        let f = l.get_ref();
        let name = f.name.as_ref().map(|n| n.get_ref().clone());
        let ctx = listener_desc(name.as_deref(), i);
        match &f.name {
            None if self.report_missing(&header, &["name"]) => self.error(
                header.clone(),
                format!("{ctx} has no `name`"),
                "add a unique name, e.g. name = \"web\" (used in logs and metrics)",
            ),
            None => {}
            Some(n) if n.get_ref().is_empty() => self.error(
                n.span(),
                "listener name is empty",
                "give the listener a unique name, e.g. name = \"web\"",
            ),
            Some(n) => {
                if let Some(first) = names.get(n.get_ref()) {
                    let line = self.line_of(first);
                    self.error(
                        n.span(),
                        format!("duplicate listener name {:?}", n.get_ref()),
                        format!("listener names must be unique; {:?} is already used on line {line}: rename one of them", n.get_ref()),
                    );
                } else {
                    names.insert(n.get_ref().clone(), n.span());
                }
            }
        }
        let protocol = l4::protocol(self, f, &ctx);
        l4::check_protocol_keys(self, f, protocol, &ctx);
        let address = if protocol == Protocol::Udp {
            // UDP and TCP ports are separate: a UDP listener may share a
            // number with a TCP one.
            self.listener_address(f, &header, &ctx, &mut addresses.udp)
        } else {
            self.listener_address(f, &header, &ctx, &mut addresses.tcp)
        };

        let backlog = self.int(
            &f.backlog,
            "backlog",
            &ctx,
            1..=65535,
            1024,
            "use a listen backlog from 1 to 65535 (the kernel caps it at net.core.somaxconn)",
        );
        let limits = self.limits(f, &ctx);
        let timeouts = ListenerTimeouts {
            request_header: self.duration(
                &f.request_header_timeout,
                "request_header_timeout",
                &ctx,
                "10s",
                false,
            ),
            request_body: self.duration(
                &f.request_body_timeout,
                "request_body_timeout",
                &ctx,
                "60s",
                false,
            ),
            send: self.duration(&f.send_timeout, "send_timeout", &ctx, "60s", false),
            max_connection: self.opt_duration(
                &f.max_connection_duration,
                "max_connection_duration",
                &ctx,
                "1h",
            ),
            idle: self.duration(
                &f.idle_timeout,
                "idle_timeout",
                &ctx,
                match protocol {
                    Protocol::Http => "60s",
                    Protocol::Tcp => "10m",
                    Protocol::Udp => "30s",
                },
                false,
            ),
        };

        let mut route_names: HashMap<String, Range<usize>> = HashMap::new();
        let mut routes = Vec::with_capacity(f.route.len());
        let mut catch_all: Option<(String, Range<usize>)> = None;
        let normalize = f.normalize_path.as_ref().is_none_or(|a| *a.get_ref());
        for (j, r) in f.route.iter().enumerate() {
            let cfg = route(self, &ctx, j, r, index, used);
            if normalize {
                self.unnormal_path(r.get_ref(), &cfg.name, &ctx);
            }
            let span = r.get_ref().name.as_ref().map_or(r.span(), Spanned::span);
            if let Some(first) = route_names.get(&cfg.name) {
                let line = self.line_of(first);
                self.error(
                    span.clone(),
                    format!("duplicate route name {:?} in {ctx}", cfg.name),
                    format!(
                        "route names must be unique within a listener; {:?} is already used on line {line}: rename one of them",
                        cfg.name
                    ),
                );
            } else {
                route_names.insert(cfg.name.clone(), span);
            }
            if let Some((first, first_span)) = &catch_all {
                let line = self.line_of(first_span);
                self.warning(
                    r.span(),
                    format!(
                        "route {:?} in {ctx} is unreachable: route {first:?} (line {line}) above it has no conditions and matches every request",
                        cfg.name
                    ),
                    "move the catch-all route to the end of the listener, or give it conditions",
                );
            } else if is_catch_all(self, r) {
                catch_all = Some((cfg.name.clone(), r.span()));
            }
            routes.push(cfg);
        }

        let admission = l4::admission(self, f, &ctx);
        let proxy_in = l4::proxy_in(self, f, &header, &ctx);
        let tcp = (protocol == Protocol::Tcp).then(|| {
            let mut t = l4::tcp(self, f, &header, &ctx, index, used);
            t.idle_timeout = timeouts.idle;
            t
        });
        let udp = (protocol == Protocol::Udp).then(|| {
            let mut u = l4::udp(self, f, &header, &ctx, index, used);
            u.session_timeout = timeouts.idle;
            u
        });
        let tls = super::tls::listener(self, f, protocol, &ctx);
        ListenerCfg {
            name: name.unwrap_or_default(),
            address,
            protocol,
            backlog: u32::try_from(backlog).unwrap_or(1024),
            access_log: f.access_log.as_ref().is_none_or(|a| *a.get_ref()),
            forwarding: self.forwarding(f, &ctx),
            normalize_path: f.normalize_path.as_ref().is_none_or(|a| *a.get_ref()),
            limits,
            timeouts,
            routes,
            admission,
            proxy_in,
            tcp,
            udp,
            tls: tls.tls,
            http2: tls.http2,
            h2: tls.h2,
            https_redirect: tls.https_redirect,
            tunnel_idle_timeout: tls.tunnel_idle_timeout,
        }
    }

    /// `forwarded = [...]` and `request_id`.
    fn forwarding(&mut self, f: &FileListener, ctx: &str) -> Forwarding {
        let mut fw = Forwarding {
            request_id: f.request_id.as_ref().is_none_or(|r| *r.get_ref()),
            ..Forwarding::default()
        };
        let Some(list) = &f.forwarded else {
            return fw;
        };
        fw.xff = false;
        fw.proto = false;
        fw.host = false;
        const NAMES: &[&str] = &["for", "proto", "host"];
        for item in list.get_ref() {
            match item.get_ref().to_ascii_lowercase().as_str() {
                "for" => fw.xff = true,
                "proto" => fw.proto = true,
                "host" => fw.host = true,
                other => {
                    let help = match super::suggest::did_you_mean(other, NAMES) {
                        Some(s) => format!("did you mean {s:?}? the values are \"for\", \"proto\" and \"host\" (X-Forwarded-For, -Proto, -Host)"),
                        None => "the values are \"for\", \"proto\" and \"host\" (X-Forwarded-For, -Proto, -Host); [] sets none".to_owned(),
                    };
                    self.error(
                        item.span(),
                        format!("unknown forwarded header {:?} in {ctx}", item.get_ref()),
                        help,
                    );
                }
            }
        }
        fw
    }

    fn listener_address(
        &mut self,
        f: &FileListener,
        header: &Range<usize>,
        ctx: &str,
        addresses: &mut Vec<(SocketAddr, Range<usize>, String)>,
    ) -> SocketAddr {
        let placeholder = SocketAddr::from(([0, 0, 0, 0], 0));
        let Some(a) = &f.address else {
            if self.report_missing(header, &["address"]) {
                self.error(
                    header.clone(),
                    format!("{ctx} has no `address`"),
                    "add the IP and port to listen on, e.g. address = \"127.0.0.1:8080\"",
                );
            }
            return placeholder;
        };
        let addr = match parse_listen_address(a.get_ref()) {
            Ok(addr) => addr,
            Err((reason, help)) => {
                self.error(
                    a.span(),
                    format!("invalid address {:?} for {ctx}: {reason}", a.get_ref()),
                    help,
                );
                return placeholder;
            }
        };
        if addr.port() != 0 {
            let clash = addresses.iter().find(|(other, _, _)| {
                other.port() == addr.port()
                    && other.is_ipv4() == addr.is_ipv4()
                    && (other.ip() == addr.ip()
                        || other.ip().is_unspecified()
                        || addr.ip().is_unspecified())
            });
            if let Some((other, span, other_ctx)) = clash {
                let line = self.line_of(span);
                let verb = if *other == addr {
                    "is already used by"
                } else {
                    "overlaps"
                };
                self.error(
                    a.span(),
                    format!("address {addr} of {ctx} {verb} {other_ctx} ({other}, line {line})"),
                    "each listener needs its own address: change the port (or the IP) of one of them",
                );
            }
        }
        addresses.push((addr, a.span(), ctx.to_string()));
        addr
    }

    fn limits(&mut self, f: &FileListener, ctx: &str) -> HttpLimits {
        let max_header_bytes = self.int(
            &f.max_header_bytes,
            "max_header_bytes",
            ctx,
            1024..=1_048_576,
            65536,
            "use 1024 to 1048576 bytes (larger request heads get 431); the default is 65536",
        );
        let max_headers = self.int(
            &f.max_headers,
            "max_headers",
            ctx,
            1..=1000,
            100,
            "use 1 to 1000 header fields (more get 431); the default is 100",
        );
        // The default URI limit shrinks with a small header limit.
        let uri_default = max_header_bytes.min(8192);
        let max_uri_bytes = self.int(
            &f.max_uri_bytes,
            "max_uri_bytes",
            ctx,
            256..=max_header_bytes,
            uri_default,
            &format!(
                "use 256 bytes up to max_header_bytes ({max_header_bytes}); longer URIs get 414"
            ),
        );
        let size = |n: i64| usize::try_from(n).unwrap_or(0);
        HttpLimits {
            max_header_bytes: size(max_header_bytes),
            max_headers: size(max_headers),
            max_uri_bytes: size(max_uri_bytes),
        }
    }
}
