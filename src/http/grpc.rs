//! gRPC awareness: the proxy forwards gRPC like any HTTP/2 request (so each
//! RPC is balanced on its own), but two things need to know it is gRPC:
//!
//! - **errors**: a gRPC client expects a gRPC status, not an HTTP error
//!   page. The proxy answers as a gRPC server would: HTTP 200 with
//!   `grpc-status`/`grpc-message` in a trailers-only response (HTTP→gRPC
//!   code mapping per the gRPC spec's `http-grpc-status-mapping.md`);
//! - **deadlines**: `grpc-timeout` bounds how long the proxy waits for the
//!   upstream's response head (never longer than the pool's
//!   `response_timeout`).

use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::error::ProxyError;

/// `grpc-timeout`.
pub static GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");
/// `grpc-status`.
pub static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
/// `grpc-message`.
pub static GRPC_MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");

/// Whether the request is a gRPC call (`content-type: application/grpc*`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit (`H`,
/// `M`, `S`, `m`, `u`, `n`). `None` when malformed (the header is then
/// ignored, as gRPC servers do).
pub fn parse_timeout(v: &[u8]) -> Option<Duration> {
    let (unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The deadline a gRPC request asks for, if any.
pub fn timeout(headers: &HeaderMap) -> Option<Duration> {
    parse_timeout(headers.get(&GRPC_TIMEOUT)?.as_bytes())
}

/// The gRPC status code for a proxy error.
pub fn status_code(err: &ProxyError) -> u8 {
    match err {
        // The deadline passed while waiting for the upstream.
        ProxyError::ResponseTimeout { .. } => 4, // DEADLINE_EXCEEDED
        _ => match err.status() {
            StatusCode::BAD_REQUEST => 13,  // INTERNAL
            StatusCode::UNAUTHORIZED => 16, // UNAUTHENTICATED
            StatusCode::FORBIDDEN => 7,     // PERMISSION_DENIED
            StatusCode::NOT_FOUND => 12,    // UNIMPLEMENTED
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => 14, // UNAVAILABLE
            _ => 2,                         // UNKNOWN
        },
    }
}

/// Fills `headers` for a trailers-only gRPC error response (status 200,
/// empty body: hyper sends the headers with END_STREAM).
pub fn error_headers(headers: &mut HeaderMap, err: &ProxyError) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(
        GRPC_STATUS.clone(),
        HeaderValue::from(u16::from(status_code(err))),
    );
    // grpc-message is percent-encoded; the body text is plain ASCII words.
    let msg: String = err
        .body()
        .trim_end()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b' ' || b == b'.' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&msg.replace(' ', "%20")) {
        headers.insert(GRPC_MESSAGE.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(b"1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_timeout(b"250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout(b"3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_timeout(b"7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            parse_timeout(b"99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in [
            &b""[..],
            b"S",
            b"1",
            b"1x",
            b"123456789S",
            b"-1S",
            b"1.5S",
            b" 1S",
        ] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn status_mapping() {
        let unavailable = ProxyError::NoEndpoint { pool: "p".into() };
        assert_eq!(status_code(&unavailable), 14);
        let busy = ProxyError::Busy {
            pool: "p".into(),
            limit: 1,
        };
        assert_eq!(status_code(&busy), 14, "a full pool is UNAVAILABLE too");
        let deadline = ProxyError::ResponseTimeout {
            endpoint: "e".into(),
            after: Duration::from_secs(1),
        };
        assert_eq!(status_code(&deadline), 4);
        assert_eq!(status_code(&ProxyError::NoRoute), 12);
        let mut h = HeaderMap::new();
        error_headers(&mut h, &unavailable);
        assert_eq!(h[&GRPC_STATUS], "14");
        assert_eq!(h[header::CONTENT_TYPE], "application/grpc");
        assert!(
            h[&GRPC_MESSAGE]
                .to_str()
                .is_ok_and(|m| m.contains("upstream"))
        );
    }
}
