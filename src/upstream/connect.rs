//! Opening a transport to an endpoint: TCP connect (bounded by the pool's
//! connect timeout), the PROXY protocol header when the pool sends one,
//! then the TLS handshake when the pool speaks TLS. The HTTP layers
//! (HTTP/1.1 in `conns`, HTTP/2 in `h2`) run over the resulting [`Stream`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::error::ProxyError;
use crate::net::Stream;
use crate::tls::client::ClientTls;

/// A PROXY header to send on a new upstream connection.
#[derive(Debug, Clone, Copy)]
pub struct ProxyOut {
    pub version: crate::config::ProxyVersion,
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// How to reach one endpoint.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub addr: SocketAddr,
    /// The endpoint as written in the config (`host:port`): names it in
    /// errors, and its host is the default TLS server name.
    pub label: &'a str,
    /// The whole connect (TCP and TLS handshakes) must finish within this.
    pub timeout: Duration,
    pub proxy: Option<ProxyOut>,
    pub tls: Option<&'a ClientTls>,
}

/// Connects to the endpoint; the whole sequence is bounded by `timeout`.
pub async fn connect(t: Target<'_>) -> Result<Stream, ProxyError> {
    match tokio::time::timeout(t.timeout, connect_inner(t)).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::ConnectTimeout {
            endpoint: t.label.to_owned(),
            after: t.timeout,
        }),
    }
}

async fn connect_inner(t: Target<'_>) -> Result<Stream, ProxyError> {
    let failed = |reason: String| ProxyError::Connect {
        endpoint: t.label.to_owned(),
        reason,
    };
    let stream = TcpStream::connect(t.addr)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    if let Some(p) = t.proxy {
        use crate::l4::proxy_protocol as pp;
        let header = match p.version {
            crate::config::ProxyVersion::V1 => pp::encode_v1(p.source, p.destination),
            crate::config::ProxyVersion::V2 => pp::encode_v2(
                pp::Command::Proxy,
                pp::Transport::Stream,
                Some(p.source),
                Some(p.destination),
                &[],
            ),
        };
        crate::l4::relay::write_all(&stream, &header)
            .await
            .map_err(|e| failed(format!("sending the PROXY header: {e}")))?;
    }
    let Some(tls) = t.tls else {
        return Ok(Stream::plain(stream));
    };
    let name = tls
        .server_name_for(host_of(t.label))
        .map_err(|e| failed(e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(tls.config());
    let tls_stream = connector
        .connect(name, crate::net::cork::Tcp::new(stream))
        .await
        .map_err(|e| failed(handshake_failure(&e)))?;
    Ok(Stream::ClientTls(Box::new(tls_stream)))
}

/// Why an upstream TLS handshake failed, for the log: rustls's reason,
/// with what it most likely means when the endpoint answered with
/// something that is not TLS at all.
fn handshake_failure(e: &std::io::Error) -> String {
    let not_tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            )
        });
    if not_tls {
        format!("TLS handshake: {e} (the endpoint does not speak TLS: plain HTTP?)")
    } else {
        format!("TLS handshake: {e}")
    }
}

/// The host part of `host:port` (IPv6 brackets removed).
pub fn host_of(label: &str) -> &str {
    let host = match label.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => label,
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::{handshake_failure, host_of};

    #[test]
    fn hosts() {
        assert_eq!(host_of("api.internal:443"), "api.internal");
        assert_eq!(host_of("10.0.0.1:80"), "10.0.0.1");
        assert_eq!(host_of("[::1]:8443"), "::1");
        assert_eq!(host_of("name"), "name");
    }

    #[test]
    fn an_endpoint_answering_without_tls_is_named_as_such() {
        let not_tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert!(handshake_failure(&not_tls).contains("does not speak TLS"));
        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::General("x".into()),
        );
        assert!(!handshake_failure(&other).contains("does not speak TLS"));
    }
}
