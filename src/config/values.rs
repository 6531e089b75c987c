//! Reading single values of the file, with messages that say what is
//! wrong and how to write it: listen addresses (`IP:port`, with the
//! mistakes operators make: a host name, missing brackets or port, an
//! IPv4-mapped IPv6 address Linux will not bind) and where a regular
//! expression fails.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

/// Parses a listen address (`IP:port`); the error says why and how to fix.
pub(super) fn parse_listen_address(s: &str) -> Result<SocketAddr, (String, String)> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        // A bracketed address makes an IPv6-only socket, and Linux will not
        // bind one to an IPv4-mapped address (EINVAL at start).
        if let SocketAddr::V6(a) = addr
            && let Some(v4) = a.ip().to_ipv4_mapped()
        {
            return Err((
                "an IPv4-mapped IPv6 address cannot be listened on".into(),
                format!("listen on the IPv4 address itself: \"{v4}:{}\"", a.port()),
            ));
        }
        return Ok(addr);
    }
    if s.starts_with('[') && !s.contains(']') {
        return Err((
            "missing `]` after the IPv6 address".into(),
            "close the brackets before the port, e.g. \"[::1]:8080\"".into(),
        ));
    }
    let example = "e.g. \"127.0.0.1:8080\", \"0.0.0.0:80\" or \"[::1]:8080\"";
    if let Ok(ip) = s.parse::<IpAddr>() {
        let fix = match ip {
            IpAddr::V4(_) => format!("\"{s}:8080\""),
            IpAddr::V6(_) => format!("\"[{s}]:8080\""),
        };
        return Err((
            "the port is missing".into(),
            format!("add a port, e.g. {fix}"),
        ));
    }
    if s.matches(':').count() > 1 && !s.starts_with('[') {
        return Err((
            "IPv6 addresses need brackets".into(),
            "write the IPv6 address in brackets before the port, e.g. \"[::1]:8080\"".into(),
        ));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_err() => Err((
            format!("invalid port {port:?}"),
            format!("a port is a number from 0 to 65535, e.g. \"{host}:8080\""),
        )),
        Some((host, _))
            if !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            Err((
                format!("invalid IPv4 address {host:?}"),
                "an IPv4 address is four numbers from 0 to 255, e.g. \"127.0.0.1:8080\"".into(),
            ))
        }
        Some((host, port)) if host.parse::<IpAddr>().is_err() => Err((
            "a listener needs an IP address, not a host name".into(),
            format!(
                "listen on an IP: \"127.0.0.1:{port}\" (this machine only) or \"0.0.0.0:{port}\" (all interfaces)"
            ),
        )),
        _ => Err((
            "expected IP:port".into(),
            format!("write the address as IP:port, {example}"),
        )),
    }
}

/// The reason a regex failed, and the span to point at: the character
/// regex points at when the pattern is written literally in the file,
/// else the whole string.
pub(super) fn regex_error(
    text: &str,
    span: Range<usize>,
    pattern: &str,
    err: &regex::Error,
) -> (String, Range<usize>) {
    let msg = err.to_string();
    let reason = msg
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map_or_else(
            || {
                msg.lines()
                    .last()
                    .unwrap_or("invalid pattern")
                    .trim()
                    .to_string()
            },
            str::to_string,
        );
    // regex's message: "regex parse error:", "    <pattern>", "    ^^^", "error: ...".
    let lines: Vec<&str> = msg.lines().collect();
    let caret = lines.iter().position(|l| {
        let t = l.trim();
        !t.is_empty() && t.chars().all(|c| c == '^')
    });
    let narrowed = caret
        .filter(|&c| c == 2 && lines[1].get(4..) == Some(pattern))
        .and_then(|c| {
            let line = lines[c];
            let first = line.find('^')?.checked_sub(4)?;
            let len = line.matches('^').count();
            let raw = text.get(span.clone())?;
            let quoted = raw.len() == pattern.len() + 2
                && (raw.starts_with('"') || raw.starts_with('\''))
                && raw.get(1..raw.len() - 1) == Some(pattern);
            if !quoted {
                return None;
            }
            let offset: usize = pattern.chars().take(first).map(char::len_utf8).sum();
            let width: usize = pattern
                .chars()
                .skip(first)
                .take(len)
                .map(char::len_utf8)
                .sum();
            let start = span.start + 1 + offset;
            Some(start..start + width.max(1))
        });
    (reason, narrowed.unwrap_or(span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn listen_addresses() {
        assert!(parse_listen_address("127.0.0.1:0").is_ok());
        assert!(parse_listen_address("[::1]:8080").is_ok());
        let reason = |s| parse_listen_address(s).unwrap_err().0;
        assert_eq!(reason("127.0.0.1"), "the port is missing");
        assert_eq!(reason("::1:99999"), "IPv6 addresses need brackets");
        // Without brackets, "::1:80" is an IPv6 address with no port.
        assert_eq!(reason("::1:80"), "the port is missing");
        assert_eq!(
            reason("localhost:80"),
            "a listener needs an IP address, not a host name"
        );
        assert_eq!(reason("127.0.0.1:99999"), "invalid port \"99999\"");
        assert_eq!(reason("web"), "expected IP:port");
        assert_eq!(reason("[::1:23012"), "missing `]` after the IPv6 address");
        assert_eq!(reason("999.1.1.1:80"), "invalid IPv4 address \"999.1.1.1\"");
        assert_eq!(reason("10.0.0:80"), "invalid IPv4 address \"10.0.0\"");
        let (reason, help) = parse_listen_address("[::ffff:127.0.0.1]:23271").unwrap_err();
        assert_eq!(reason, "an IPv4-mapped IPv6 address cannot be listened on");
        assert_eq!(
            help,
            "listen on the IPv4 address itself: \"127.0.0.1:23271\""
        );
        assert!(parse_listen_address("[::]:80").is_ok());
    }

    #[test]
    fn regex_error_points_into_the_pattern() {
        let text = r#"path_regex = "^/v[0-9+/""#;
        let span = 13..text.len();
        let pattern = String::from("^/v[0-9+/");
        let err = Regex::new(&pattern).unwrap_err();
        let (reason, at) = regex_error(text, span, "^/v[0-9+/", &err);
        assert_eq!(reason, "unclosed character class");
        assert_eq!(at, 17..18);
        assert_eq!(&text[at], "[");
    }
}
