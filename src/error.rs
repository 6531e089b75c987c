//! Proxy errors and the one place that maps them to HTTP responses.
//!
//! Every failure on the request path becomes a [`ProxyError`] that knows
//! which side failed ([`Side`]) and whether a retry would be safe; the status
//! code, the short body and the log line are all decided here (Pingora's
//! `ErrorSource` idea), so no handler invents its own error responses.

use std::time::Duration;

use http::StatusCode;

/// Which side of the proxy caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client sent something we refuse.
    Downstream,
    /// The upstream endpoint failed or misbehaved.
    Upstream,
    /// Our own configuration or state (no route, empty pool).
    Internal,
}

/// Everything that can go wrong while proxying one request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("method {0} is not supported by this proxy")]
    MethodNotAllowed(&'static str),
    #[error("WebSocket version not supported (only 13)")]
    WebSocketVersion,
    #[error("request target longer than {limit} bytes")]
    UriTooLong { limit: usize },
    /// More header fields than `max_headers` (HTTP/2: the HTTP/1.1 parser
    /// counts them as it reads).
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    /// A request head larger than `max_header_bytes`.
    #[error("request head larger than {limit} bytes")]
    HeadTooLarge { limit: usize },
    #[error("no route matches this request")]
    NoRoute,
    #[error("no usable endpoint in pool {pool}")]
    NoEndpoint { pool: String },
    #[error(
        "every endpoint of pool {pool} has {limit} requests in flight (max_connections_per_endpoint)"
    )]
    Busy { pool: String, limit: usize },
    #[error("connect to {endpoint} failed: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("connect to {endpoint} timed out after {after:?}")]
    ConnectTimeout { endpoint: String, after: Duration },
    #[error("{endpoint} sent no response head within {after:?} of the request's end")]
    ResponseTimeout { endpoint: String, after: Duration },
    #[error("the client sent no part of the request body for {after:?}")]
    RequestBodyTimeout { after: Duration },
    /// Part of a request head came, the rest not in time (slowloris).
    #[error("request head not received in time ({after:?})")]
    RequestHeaderTimeout { after: Duration },
    #[error("{endpoint} took no part of the request body for {after:?}")]
    RequestBodyStalled { endpoint: String, after: Duration },
    #[error("{endpoint} failed before responding: {reason}")]
    UpstreamFailed { endpoint: String, reason: String },
    /// The client's request body broke off or broke its framing while it
    /// was being sent upstream (a bad chunk, a body shorter than its
    /// Content-Length): the client's fault, not the endpoint's.
    #[error("the request body is malformed or incomplete: {reason}")]
    BadRequestBody { reason: String },
}

impl ProxyError {
    /// The side to blame (for logs and, later, for metrics).
    pub fn side(&self) -> Side {
        match self {
            ProxyError::BadRequest(_)
            | ProxyError::MethodNotAllowed(_)
            | ProxyError::UriTooLong { .. }
            | ProxyError::TooManyHeaders { .. }
            | ProxyError::HeadTooLarge { .. }
            | ProxyError::WebSocketVersion
            | ProxyError::RequestBodyTimeout { .. }
            | ProxyError::RequestHeaderTimeout { .. }
            | ProxyError::BadRequestBody { .. } => Side::Downstream,
            ProxyError::NoRoute | ProxyError::NoEndpoint { .. } | ProxyError::Busy { .. } => {
                Side::Internal
            }
            ProxyError::Connect { .. }
            | ProxyError::ConnectTimeout { .. }
            | ProxyError::ResponseTimeout { .. }
            | ProxyError::RequestBodyStalled { .. }
            | ProxyError::UpstreamFailed { .. } => Side::Upstream,
        }
    }

    /// The access log's `flags` for this error (Envoy's response flags,
    /// where one fits): what went wrong, in two or three letters.
    pub fn flag(&self) -> &'static str {
        match self {
            ProxyError::BadRequest(_)
            | ProxyError::MethodNotAllowed(_)
            | ProxyError::UriTooLong { .. }
            | ProxyError::TooManyHeaders { .. }
            | ProxyError::HeadTooLarge { .. }
            | ProxyError::WebSocketVersion
            | ProxyError::BadRequestBody { .. } => "DPE",
            ProxyError::RequestBodyTimeout { .. } | ProxyError::RequestHeaderTimeout { .. } => "DT",
            ProxyError::NoRoute => "NR",
            ProxyError::NoEndpoint { .. } => "UH",
            ProxyError::Busy { .. } => "UO",
            ProxyError::Connect { .. } | ProxyError::ConnectTimeout { .. } => "UF",
            ProxyError::ResponseTimeout { .. } | ProxyError::RequestBodyStalled { .. } => "UT",
            ProxyError::UpstreamFailed { .. } => "UC",
        }
    }

    /// Whether another endpoint may be tried: only when nothing of the
    /// request has been sent (the connection never opened).
    pub fn retry_safe(&self) -> bool {
        matches!(
            self,
            ProxyError::Connect { .. } | ProxyError::ConnectTimeout { .. }
        )
    }

    /// The status code the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadRequest(_) | ProxyError::BadRequestBody { .. } => {
                StatusCode::BAD_REQUEST
            }
            ProxyError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ProxyError::TooManyHeaders { .. } | ProxyError::HeadTooLarge { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ProxyError::WebSocketVersion => StatusCode::UPGRADE_REQUIRED,
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoEndpoint { .. } | ProxyError::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Connect { .. }
            | ProxyError::ConnectTimeout { .. }
            | ProxyError::UpstreamFailed { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::ResponseTimeout { .. } | ProxyError::RequestBodyStalled { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            ProxyError::RequestBodyTimeout { .. } | ProxyError::RequestHeaderTimeout { .. } => {
                StatusCode::REQUEST_TIMEOUT
            }
        }
    }

    /// Whether the client connection must be closed after the response
    /// (the request body may be unread or its framing is untrustworthy).
    pub fn must_close(&self) -> bool {
        self.side() == Side::Downstream || matches!(self, ProxyError::RequestBodyStalled { .. })
    }

    /// The short plain-text body naming the reason. Upstream details (addresses,
    /// OS errors) stay in the log, not in the response.
    pub fn body(&self) -> String {
        let reason = match self {
            ProxyError::BadRequest(why) => return format!("400 bad request: {why}\n"),
            ProxyError::BadRequestBody { .. } => {
                return "400 bad request: malformed or incomplete request body\n".into();
            }
            ProxyError::MethodNotAllowed(m) => return format!("405 method {m} is not supported\n"),
            ProxyError::UriTooLong { .. } => "request target too long",
            ProxyError::TooManyHeaders { .. } => "too many header fields",
            ProxyError::HeadTooLarge { .. } => "request header fields too large",
            ProxyError::WebSocketVersion => "WebSocket version 13 required",
            ProxyError::NoRoute => "no route for this request",
            ProxyError::NoEndpoint { .. } => "no usable upstream endpoint",
            ProxyError::Busy { .. } => "every upstream endpoint is busy",
            ProxyError::Connect { .. } | ProxyError::ConnectTimeout { .. } => {
                "could not connect to an upstream endpoint"
            }
            ProxyError::ResponseTimeout { .. } => "upstream did not respond in time",
            ProxyError::RequestBodyTimeout { .. } => "request body timeout",
            ProxyError::RequestHeaderTimeout { .. } => "request header timeout",
            ProxyError::RequestBodyStalled { .. } => {
                "upstream did not read the request body in time"
            }
            ProxyError::UpstreamFailed { .. } => "upstream failed before responding",
        };
        format!("{} {reason}\n", self.status().as_u16())
    }
}
