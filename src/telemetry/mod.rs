//! Logging setup and the access log.
//!
//! Logs go through `tracing`; the access log is the `access` target at INFO,
//! one line per request, written when the response body has been sent (so
//! it carries the real byte count and total duration). Lines reach stdout
//! through [`writer`]'s thread, never blocking a worker.

pub mod throttle;
pub mod writer;

use std::net::SocketAddr;
use std::time::Instant;

use http::StatusCode;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` if set, else `default_filter`,
/// writing to stdout through the log thread. Keep the guard until the
/// process ends: dropping it writes what is still queued. Safe to call more
/// than once (later calls do nothing and return `None`).
#[must_use = "dropping the guard at once may lose log lines at exit"]
pub fn init(default_filter: &str) -> Option<writer::LogGuard> {
    let directives = match std::env::var("RUST_LOG") {
        Ok(d) => match filter_problem(&d) {
            None => d,
            Some(why) => {
                // No subscriber yet: stderr is the only place to say it.
                eprintln!("switchyard: ignoring RUST_LOG={d:?}: {why}; using {default_filter:?}");
                default_filter.to_owned()
            }
        },
        Err(_) => default_filter.to_owned(),
    };
    let filter = EnvFilter::try_new(quiet_rustls(&directives))
        .unwrap_or_else(|_| EnvFilter::new(quiet_rustls("info")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi);
    match writer::spawn(std::io::stdout()) {
        Some((w, guard)) => builder
            .with_writer(move || w.clone())
            .try_init()
            .ok()
            .map(|()| guard),
        None => {
            let _ = builder.try_init();
            None
        }
    }
}

/// Why a log filter (`log_level`, `RUST_LOG`) would not do what its author
/// meant, or `None` when it is fine: it does not parse, or one of its
/// directives is a bare word that is no level ("verbose", "warning"). Such a
/// word parses as a *target* and hides every other line, almost always a
/// typo for a level. Bare targets Switchyard's lines come from are fine.
pub fn filter_problem(filter: &str) -> Option<String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    const TARGETS: &[&str] = &["switchyard", "access", "hyper", "h2", "rustls", "tokio"];
    if let Err(e) = EnvFilter::builder().parse(filter) {
        return Some(e.to_string());
    }
    filter.split(',').map(str::trim).find_map(|d| {
        let fine = d.is_empty()
            || d.contains(['=', '['])
            || LEVELS.iter().any(|l| d.eq_ignore_ascii_case(l))
            || TARGETS
                .iter()
                .any(|t| d == *t || d.starts_with(&format!("{t}::")));
        (!fine).then(|| {
            format!(
                "{d:?} is not a level (off, error, warn, info, debug, trace); as a target name \
                 it would show that target's lines only and hide all others"
            )
        })
    })
}

/// `directives` with rustls capped at ERROR, unless they name rustls.
///
/// rustls logs events a peer controls at WARN, once per connection: every
/// client that sends an IP address as its SNI name (wrk, curl to an IP) or
/// makes a handshake fail would add a line, so any client could fill the
/// log. Switchyard's own `debug` line already says why a handshake failed.
/// An operator who wants rustls's lines names it, e.g. `info,rustls=debug`.
fn quiet_rustls(directives: &str) -> String {
    if directives.contains("rustls") {
        directives.to_owned()
    } else if directives.trim().is_empty() {
        "rustls=error".to_owned()
    } else {
        format!("{directives},rustls=error")
    }
}

/// Everything one access-log line says about a request.
#[derive(Debug)]
pub struct AccessRecord {
    pub start: Instant,
    /// From `start` to the response head (the upstream's or the proxy's
    /// own answer); `None` when the request ended without one.
    pub response: Option<std::time::Duration>,
    /// The client's protocol: `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`.
    pub proto: &'static str,
    pub user_agent: String,
    pub listener: String,
    pub client: SocketAddr,
    pub method: String,
    pub host: String,
    pub path: String,
    pub status: StatusCode,
    pub route: String,
    pub pool: String,
    pub endpoint: String,
    pub request_id: String,
    /// What went wrong, `-` when nothing did (see `ProxyError::flag`;
    /// `DC` the client left, `LR` shutdown cut it, `UC`/`UT` the upstream's body broke off or
    /// stalled).
    pub flags: &'static str,
}

impl AccessRecord {
    /// The record of a request refused before it could be read whole (a
    /// malformed or oversized head, a head that took too long): no method,
    /// host or path to tell.
    /// `start`: when the head began to arrive (now, if unknown).
    pub fn refused(
        listener: &str,
        client: SocketAddr,
        status: StatusCode,
        flags: &'static str,
        start: Option<Instant>,
    ) -> Self {
        let start = start.unwrap_or_else(Instant::now);
        AccessRecord {
            start,
            response: Some(start.elapsed()),
            proto: "HTTP/1.1",
            user_agent: String::new(),
            listener: listener.to_owned(),
            client,
            method: "-".to_owned(),
            host: String::new(),
            path: String::new(),
            status,
            route: String::new(),
            pool: String::new(),
            endpoint: String::new(),
            request_id: String::new(),
            flags,
        }
    }

    /// Writes the line; `complete` is false when the body was cut short.
    pub fn emit(&self, complete: bool, bytes: u64) {
        tracing::info!(
            target: "access",
            listener = %self.listener,
            client = %self.client,
            proto = %self.proto,
            method = %self.method,
            host = %Plain(&self.host),
            path = %Plain(&self.path),
            status = self.status.as_u16(),
            route = %self.route,
            pool = %self.pool,
            endpoint = %self.endpoint,
            bytes,
            complete,
            flags = %self.flags,
            response_us = self.response.map(micros),
            duration_us = micros(self.start.elapsed()),
            request_id = %Plain(&self.request_id),
            user_agent = ?self.user_agent,
        );
    }
}

/// A client-supplied value in a `key=value` log line: as it is when plain
/// (visible ASCII, no quote or backslash), else quoted and escaped
/// (logfmt's rule), so a value with spaces cannot end its field and forge
/// others (`request_id=x status=500`).
struct Plain<'a>(&'a str);

impl std::fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self
            .0
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::{Plain, filter_problem, quiet_rustls};

    #[test]
    fn plain_values_are_logged_as_they_are_and_others_quoted() {
        for plain in ["", "abc-123", "/a/b?c=d", "a=b", "ZGF0YQ=="] {
            assert_eq!(Plain(plain).to_string(), plain);
        }
        assert_eq!(Plain("x status=500").to_string(), "\"x status=500\"");
        assert_eq!(Plain("a\"b").to_string(), "\"a\\\"b\"");
        assert_eq!(Plain("a\\b").to_string(), "\"a\\\\b\"");
        assert_eq!(Plain("tab\there").to_string(), "\"tab\\there\"");
        assert_eq!(Plain("é").to_string(), "\"é\"");
    }

    #[test]
    fn filters_that_would_hide_the_logs_are_named() {
        for fine in [
            "info",
            "WARN",
            "info,switchyard=debug",
            "access=off",
            "switchyard",
            "h2::proto",
        ] {
            assert_eq!(filter_problem(fine), None, "{fine}");
        }
        for typo in ["verbose", "warning", "info,debg", "bogus==="] {
            assert!(filter_problem(typo).is_some(), "{typo} passed");
        }
    }

    #[test]
    fn rustls_is_capped_at_error_unless_the_filter_names_it() {
        assert_eq!(quiet_rustls("info"), "info,rustls=error");
        assert_eq!(
            quiet_rustls("warn,switchyard=debug"),
            "warn,switchyard=debug,rustls=error"
        );
        assert_eq!(quiet_rustls(""), "rustls=error");
        assert_eq!(quiet_rustls("info,rustls=debug"), "info,rustls=debug");
    }
}
