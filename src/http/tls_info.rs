//! What a TLS client connection tells the proxy about its client: the
//! verified certificate (mTLS), turned once per connection into the
//! `X-Client-Cert-*` headers that routing can match and upstreams receive.

use http::{HeaderMap, HeaderName, HeaderValue};

/// `X-Client-Cert-Subject`: the subject DN (`CN=alice,O=Example`).
pub static SUBJECT: HeaderName = HeaderName::from_static("x-client-cert-subject");
/// `X-Client-Cert-San`: `DNS:a.example.com, URI:spiffe://...`.
pub static SAN: HeaderName = HeaderName::from_static("x-client-cert-san");
/// `X-Client-Cert-Sha256`: the certificate's SHA-256 fingerprint (hex).
pub static SHA256: HeaderName = HeaderName::from_static("x-client-cert-sha256");

/// The verified client certificate of a connection, as header values.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    subject: Option<HeaderValue>,
    san: Option<HeaderValue>,
    sha256: HeaderValue,
}

impl IdentityHeaders {
    /// The identity of a handshake's verified client certificate, if any.
    pub fn of(conn: &rustls::ServerConnection) -> Option<IdentityHeaders> {
        let leaf = conn.peer_certificates()?.first()?;
        let id = crate::tls::identity::identity(leaf)?;
        Some(IdentityHeaders {
            subject: HeaderValue::from_str(&id.subject).ok(),
            san: (!id.sans.is_empty())
                .then(|| HeaderValue::from_str(&id.sans.join(", ")).ok())
                .flatten(),
            sha256: HeaderValue::from_str(&id.sha256).ok()?,
        })
    }
}

/// Replaces any client-sent `X-Client-Cert-*` headers with the verified
/// identity (none when the client presented no certificate): a client
/// cannot claim an identity it did not prove.
pub fn apply(headers: &mut HeaderMap, identity: Option<&IdentityHeaders>) {
    if identity.is_none()
        && !headers
            .keys()
            .any(|n| n.as_str().starts_with("x-client-cert-"))
    {
        // The common case, one pass over the names instead of three
        // hashed removals.
        return;
    }
    headers.remove(&SUBJECT);
    headers.remove(&SAN);
    headers.remove(&SHA256);
    let Some(id) = identity else { return };
    if let Some(s) = &id.subject {
        headers.insert(SUBJECT.clone(), s.clone());
    }
    if let Some(s) = &id.san {
        headers.insert(SAN.clone(), s.clone());
    }
    headers.insert(SHA256.clone(), id.sha256.clone());
}
