//! Validation of the TLS and HTTP/2 settings: `[listener.tls]`, the
//! listener's `http2`/`h2_*`/`https_redirect`/`tunnel_idle_timeout` keys,
//! and a pool's `[pool.tls]` and `http_version`.
//!
//! Certificate, key and CA files are read here, at load: a file that is
//! missing, unreadable, not PEM, or a key that does not match its
//! certificate is reported at the key that names it (so `switchyard check`
//! catches it, and a reload with a bad certificate keeps the old config).
//! Relative paths are resolved against the config file's directory.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::file::{FileCert, FileListener, FileListenerTls, FilePool, FilePoolTls, OneOrMany};
use super::model::{
    CertCfg, ClientAuthCfg, H2Limits, Protocol, TlsClientCfg, TlsServerCfg, TlsVersion,
    UpstreamHttp,
};
use super::route::host_pattern;
use super::suggest::did_you_mean;
use super::validate::V;

/// The TLS/HTTP/2 part of a listener.
pub(super) struct ListenerTls {
    pub tls: Option<TlsServerCfg>,
    pub http2: bool,
    pub h2: H2Limits,
    pub https_redirect: Option<u16>,
    pub tunnel_idle_timeout: Duration,
}

/// `h2_server`: `"own"` (the default) or `"hyper"`; true for hyper.
fn h2_server(v: &mut V<'_, '_>, value: &Option<Spanned<String>>, ctx: &str) -> bool {
    match value.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("own", _)) => false,
        Some(("hyper", _)) => true,
        Some((other, span)) => {
            v.error(
                span,
                format!("{ctx}: unknown h2_server {other:?}"),
                "use h2_server = \"own\" (the default) or \"hyper\" (hyper's HTTP/2 server)",
            );
            false
        }
    }
}

/// Validates the listener's TLS and HTTP/2 keys (HTTP listeners only: on
/// others they are reported by `check_protocol_keys`).
pub(super) fn listener(
    v: &mut V<'_, '_>,
    f: &FileListener,
    protocol: Protocol,
    ctx: &str,
) -> ListenerTls {
    let tls = match (&f.tls, protocol) {
        (Some(t), Protocol::Http) => server(v, t, ctx),
        _ => None,
    };
    let http2 = f.http2.as_ref().map_or(f.tls.is_some(), |h| *h.get_ref());
    let h2 = H2Limits {
        max_concurrent_streams: u32::try_from(v.int(
            &f.h2_max_concurrent_streams,
            "h2_max_concurrent_streams",
            ctx,
            1..=10_000,
            100,
            "allow 1 to 10000 concurrent streams per client connection; the default is 100",
        ))
        .unwrap_or(100),
        max_pending_resets: usize::try_from(v.int(
            &f.h2_max_pending_resets,
            "h2_max_pending_resets",
            ctx,
            1..=10_000,
            20,
            "use 1 to 10000; the default, 20, stops Rapid Reset floods early",
        ))
        .unwrap_or(20),
        hyper_server: h2_server(v, &f.h2_server, ctx),
        keepalive: v.h2_keepalive(&f.h2_keepalive_interval, &f.h2_keepalive_timeout, ctx),
    };
    if !http2
        && protocol == Protocol::Http
        && let Some(i) = &f.h2_keepalive_interval
    {
        v.warning(
            i.span(),
            format!(
                "`h2_keepalive_interval` in {ctx} does nothing: the listener does not accept HTTP/2"
            ),
            "set http2 = true, or remove h2_keepalive_interval",
        );
    }
    let https_redirect = f.https_redirect.as_ref().and_then(|p| {
        let port = v.int(
            &Some(p.clone()),
            "https_redirect",
            ctx,
            1..=65535,
            443,
            "name the HTTPS port to redirect to, e.g. https_redirect = 443",
        );
        if let Some(t) = &f.tls {
            v.error(
                t.span(),
                format!("{ctx} both terminates TLS and redirects to HTTPS"),
                "a redirect listener is the plain-HTTP one: remove `https_redirect` here, or \
                 remove [listener.tls] and keep this listener as the redirect",
            );
        }
        u16::try_from(port).ok()
    });
    let tunnel_idle_timeout = v.duration(
        &f.tunnel_idle_timeout,
        "tunnel_idle_timeout",
        ctx,
        "1h",
        false,
    );
    ListenerTls {
        tls,
        http2,
        h2,
        https_redirect,
        tunnel_idle_timeout,
    }
}

/// `[listener.tls]`.
fn server(v: &mut V<'_, '_>, t: &Spanned<FileListenerTls>, ctx: &str) -> Option<TlsServerCfg> {
    let f = t.get_ref();
    let ctx = format!("[listener.tls] of {ctx}");
    let mut certificates = Vec::new();
    // Each loaded certificate's key type and names, for the checks of
    // shadowed certificates and of cipher_suites.
    let mut keys = Vec::new();
    match &f.certificates {
        None => {
            if v.report_missing(&t.span(), &["certificates"]) {
                v.error(
                    t.span(),
                    format!("{ctx} has no `certificates`"),
                    "add certificates = [{ cert = \"site.pem\", key = \"site.key\" }] (the first \
                     one is the default certificate)",
                );
            }
        }
        Some(list) if list.get_ref().is_empty() => v.error(
            list.span(),
            format!("`certificates` in {ctx} is empty"),
            "add at least one { cert = \"...\", key = \"...\" }",
        ),
        Some(list) => {
            for (i, c) in list.get_ref().iter().enumerate() {
                if let Some((cfg, info)) = certificate(v, c, i, &ctx) {
                    certificates.push(cfg);
                    if let Some(info) = info {
                        keys.push((i, info, c.span()));
                    }
                }
            }
        }
    }
    let min_version = match f.min_version.as_ref() {
        None => TlsVersion::V1_2,
        Some(m) => match m.get_ref().as_str() {
            "1.2" => TlsVersion::V1_2,
            "1.3" => TlsVersion::V1_3,
            other => {
                let help = if matches!(other, "1.0" | "1.1" | "1" | "ssl3") {
                    "TLS 1.0 and 1.1 are not supported (insecure): use \"1.2\" or \"1.3\""
                } else {
                    "use \"1.2\" (TLS 1.2 and 1.3, the default) or \"1.3\" (TLS 1.3 only)"
                };
                v.error(
                    m.span(),
                    format!("unsupported min_version {other:?} in {ctx}"),
                    help,
                );
                TlsVersion::V1_2
            }
        },
    };
    let client_auth = match (&f.client_ca, &f.client_auth) {
        (None, Some(a)) => {
            v.error(
                a.span(),
                format!("`client_auth` in {ctx} needs `client_ca`"),
                "add client_ca = \"clients-ca.pem\" (the CA that signs client certificates)",
            );
            None
        }
        (None, None) => None,
        (Some(ca), auth) => {
            let required = match auth {
                None => true,
                Some(a) => match a.get_ref().as_str() {
                    "required" => true,
                    "optional" => false,
                    other => {
                        v.error(
                            a.span(),
                            format!("unknown client_auth {other:?} in {ctx}"),
                            "use \"required\" (refuse clients without a valid certificate) or \
                             \"optional\" (verify one when offered)",
                        );
                        true
                    }
                },
            };
            let path = resolve_path(v, ca.get_ref());
            if let Err(e) = crate::tls::certs::load_roots(&path) {
                v.error(
                    ca.span(),
                    format!("bad `client_ca` in {ctx}: {e}"),
                    "point client_ca at a readable PEM file of CA certificates",
                );
            }
            Some(ClientAuthCfg { ca: path, required })
        }
    };
    let hsts = f.hsts.as_ref().and_then(|h| {
        let value = h.get_ref();
        let problem = if http::HeaderValue::from_str(value).is_err() {
            Some("characters a header value cannot hold")
        } else {
            sts_problem(value)
        };
        match problem {
            None => Some(value.clone()),
            Some(why) => {
                v.error(
                    h.span(),
                    format!("invalid `hsts` in {ctx}: {why}"),
                    "write a Strict-Transport-Security value, e.g. hsts = \"max-age=31536000; \
                     includeSubDomains\" (browsers ignore a malformed one, RFC 6797 §8.1)",
                );
                None
            }
        }
    });
    let cipher_suites = f
        .cipher_suites
        .as_ref()
        .map(|list| cipher_suites(v, list, min_version, &ctx))
        .unwrap_or_default();
    shadowed(v, &keys, &ctx);
    if let Some(list) = &f.cipher_suites
        && min_version == TlsVersion::V1_2
    {
        suites_for_keys(v, list, &cipher_suites, &keys, &ctx);
    }
    Some(TlsServerCfg {
        certificates,
        min_version,
        session_tickets: f.session_tickets.as_ref().is_none_or(|s| *s.get_ref()),
        client_auth,
        hsts,
        cipher_suites,
    })
}

/// `cipher_suites`: IANA names, each once, with a TLS 1.3 suite (always
/// offered) and a TLS 1.2 one unless `min_version` is 1.3.
fn cipher_suites(
    v: &mut V<'_, '_>,
    list: &Spanned<Vec<Spanned<String>>>,
    min_version: TlsVersion,
    ctx: &str,
) -> Vec<rustls::CipherSuite> {
    let known = || {
        crate::tls::CIPHER_SUITES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    let mut bad = false;
    for name in list.get_ref() {
        let wanted = name.get_ref().trim();
        let found = crate::tls::CIPHER_SUITES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(wanted));
        match found {
            Some((_, suite)) if out.contains(suite) => {
                bad = true;
                v.error(
                    name.span(),
                    format!("cipher suite {wanted:?} is listed twice in {ctx}"),
                    "list each suite once, in order of preference",
                );
            }
            Some((_, suite)) => out.push(*suite),
            None => {
                bad = true;
                let help = if wanted.contains('-') {
                    format!("use IANA names, not OpenSSL's: {}", known())
                } else {
                    format!(
                        "only AEAD suites are offered (no CBC, no RSA key exchange): {}",
                        known()
                    )
                };
                v.error(
                    name.span(),
                    format!("unknown cipher suite {wanted:?} in {ctx}"),
                    help,
                );
            }
        }
    }
    if bad {
        return Vec::new();
    }
    let tls13 = out.iter().any(|s| crate::tls::is_tls13(*s));
    let tls12 = out.iter().any(|s| !crate::tls::is_tls13(*s));
    if !tls13 {
        v.error(
            list.span(),
            format!("`cipher_suites` in {ctx} has no TLS 1.3 suite"),
            "TLS 1.3 is always offered: add TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or \
             TLS_CHACHA20_POLY1305_SHA256",
        );
    } else if !tls12 && min_version == TlsVersion::V1_2 {
        v.error(
            list.span(),
            format!("`cipher_suites` in {ctx} has no TLS 1.2 suite, so TLS 1.2 clients would fail"),
            "add a TLS_ECDHE_..._GCM_... suite, or set min_version = \"1.3\"",
        );
    }
    out
}

/// A certificate with the key type of an earlier one for the same name is
/// never served for that name (the handshake takes the first, in order,
/// whose key the client can use): warned about, at its entry.
fn shadowed(v: &mut V<'_, '_>, keys: &[(usize, KeyInfo, std::ops::Range<usize>)], ctx: &str) {
    for (n, (i, info, span)) in keys.iter().enumerate() {
        let earlier = keys[..n].iter().find_map(|(j, e, _)| {
            let name = info.names.iter().find(|name| e.names.contains(name))?;
            (e.algorithm == info.algorithm).then_some((j, name))
        });
        if let Some((j, name)) = earlier {
            v.warning(
                span.clone(),
                format!(
                    "certificate #{} in {ctx} is never served for {name:?}: certificate #{} \
                     comes first for that name with the same key type ({:?})",
                    i + 1,
                    j + 1,
                    info.algorithm
                ),
                "remove one of them, or give them different server_names (certificates of \
                 different key types for one name are fine: each client gets one it can use)",
            );
        }
    }
}

/// With `cipher_suites` restricting TLS 1.2, each certificate's key needs
/// a TLS 1.2 suite of its kind (ECDHE_ECDSA for ECDSA and Ed25519 keys,
/// ECDHE_RSA for RSA): a TLS 1.2 client given a certificate without one
/// fails the handshake. None for any certificate is an error (every TLS
/// 1.2 client fails); none for some, a warning.
fn suites_for_keys(
    v: &mut V<'_, '_>,
    list: &Spanned<Vec<Spanned<String>>>,
    suites: &[rustls::CipherSuite],
    keys: &[(usize, KeyInfo, std::ops::Range<usize>)],
    ctx: &str,
) {
    use crate::tls::{is_tls13, suite_serves_key};
    let tls12: Vec<_> = suites.iter().filter(|s| !is_tls13(**s)).collect();
    if tls12.is_empty() {
        // None at all, or the list was refused: said already.
        return;
    }
    let unserved: Vec<_> = keys
        .iter()
        .filter(|(_, key, _)| !tls12.iter().any(|s| suite_serves_key(**s, key.algorithm)))
        .collect();
    let kind = |key: rustls::SignatureAlgorithm| match key {
        rustls::SignatureAlgorithm::RSA => ("an RSA", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        rustls::SignatureAlgorithm::ED25519 => {
            ("an Ed25519", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        }
        _ => ("an ECDSA", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    };
    if !unserved.is_empty() && unserved.len() == keys.len() {
        let (what, suite) = kind(unserved[0].1.algorithm);
        v.error(
            list.span(),
            format!(
                "`cipher_suites` in {ctx} has no TLS 1.2 suite for its certificates' keys \
                 ({what} key), so TLS 1.2 clients would fail"
            ),
            format!("add {suite}, or set min_version = \"1.3\""),
        );
        return;
    }
    for (i, key, span) in unserved {
        let (what, suite) = kind(key.algorithm);
        v.warning(
            span.clone(),
            format!(
                "certificate #{} in {ctx} has {what} key, and no TLS 1.2 suite in \
                 `cipher_suites` serves it",
                i + 1
            ),
            format!(
                "TLS 1.2 clients given this certificate fail the handshake: add {suite} to \
                 cipher_suites"
            ),
        );
    }
}

/// What a certificate that loaded serves with: its key type and the
/// names it is selected by (lower case; `*.` for a wildcard).
struct KeyInfo {
    algorithm: rustls::SignatureAlgorithm,
    names: Vec<String>,
}

/// One `{ cert, key, server_names }` entry; its files are loaded to check
/// them. With it, what it serves with when it loaded.
fn certificate(
    v: &mut V<'_, '_>,
    c: &Spanned<FileCert>,
    i: usize,
    ctx: &str,
) -> Option<(CertCfg, Option<KeyInfo>)> {
    let f = c.get_ref();
    let ctx = format!("certificate #{} in {ctx}", i + 1);
    let mut missing = false;
    for (key, val) in [("cert", &f.cert), ("key", &f.key)] {
        if val.is_none() && v.report_missing(&c.span(), &[key]) {
            v.error(
                c.span(),
                format!("{ctx} has no `{key}`"),
                "write it like: { cert = \"site.pem\", key = \"site.key\" }",
            );
        }
        missing |= val.is_none();
    }
    let mut server_names = Vec::new();
    if let Some(names) = &f.server_names {
        let list: Vec<Spanned<String>> = match names.get_ref() {
            OneOrMany::One(s) => vec![Spanned::new(names.span(), s.clone())],
            OneOrMany::Many(m) => m.clone(),
        };
        for n in list {
            match host_pattern(n.get_ref()) {
                Ok(m) => server_names.push(m),
                Err((what, help)) => v.error(
                    n.span(),
                    format!("invalid server name {:?} in {ctx}: {what}", n.get_ref()),
                    help,
                ),
            }
        }
    }
    if missing {
        return None;
    }
    let (cert_s, key_s) = (f.cert.as_ref()?, f.key.as_ref()?);
    let cert = resolve_path(v, cert_s.get_ref());
    let key = resolve_path(v, key_s.get_ref());
    let ocsp = f
        .ocsp
        .as_ref()
        .map(|o| (resolve_path(v, o.get_ref()), o.span()));
    let mut info = None;
    match crate::tls::certs::load_certified_key(&cert, &key) {
        Ok(ck) => {
            let names = if server_names.is_empty() {
                ck.end_entity_cert()
                    .ok()
                    .and_then(|c| crate::tls::certs::dns_names(c).ok())
                    .unwrap_or_default()
            } else {
                server_names
                    .iter()
                    .map(|m| match m {
                        super::model::HostMatch::Exact(n) => n.to_ascii_lowercase(),
                        super::model::HostMatch::Suffix(s) => {
                            format!("*.{}", s.trim_start_matches('.')).to_ascii_lowercase()
                        }
                    })
                    .collect()
            };
            if server_names.is_empty() && i > 0 && names.is_empty() {
                // Only the default certificate may serve no name of its own.
                v.error(
                    cert_s.span(),
                    format!("{ctx}: the certificate has no DNS names to select it by SNI"),
                    "add server_names = [\"example.com\"], or use a certificate with DNS \
                     names in its subjectAltName",
                );
            }
            if let (Some((path, span)), Ok(leaf)) = (&ocsp, ck.end_entity_cert()) {
                check_ocsp(v, path, span.clone(), leaf, &ctx);
            }
            if let Ok(leaf) = ck.end_entity_cert()
                && let Some(problem) =
                    crate::tls::certs::validity_problem(leaf, std::time::SystemTime::now())
            {
                v.warning(
                    cert_s.span(),
                    format!("{ctx}: {problem}"),
                    "clients refuse it: renew the certificate (the files are re-read when they \
                     change)",
                );
            }
            info = Some(KeyInfo {
                algorithm: ck.key.algorithm(),
                names,
            });
        }
        Err(e) => {
            let span = if e.is_key_error() {
                key_s.span()
            } else {
                cert_s.span()
            };
            v.error(
                span,
                format!("{ctx}: {e}"),
                "point `cert` at the PEM certificate chain (leaf first) and `key` at its \
                 private key (PKCS#8, PKCS#1 or SEC1 PEM)",
            );
        }
    }
    Some((
        CertCfg {
            cert,
            key,
            server_names,
            ocsp: ocsp.map(|(p, _)| p),
        },
        info,
    ))
}

/// A certificate's `ocsp` file: readable, a successful response about
/// this certificate that does not say revoked (errors); current (a
/// warning: an out-of-date response is not stapled).
fn check_ocsp(v: &mut V<'_, '_>, path: &Path, span: Range<usize>, leaf: &[u8], ctx: &str) {
    let help = "point `ocsp` at the DER OCSP response for this certificate, as the CA's \
                responder gives it (e.g. `openssl ocsp -issuer ca.pem -cert site.pem -url URL \
                -respout site.ocsp.der`)";
    let der = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            let msg = format!("{ctx}: cannot read OCSP response {}: {e}", path.display());
            return v.error(span, msg, help);
        }
    };
    match crate::tls::ocsp::check(&der, leaf) {
        Err(reason) => {
            let msg = format!("{ctx}: OCSP response {}: {reason}", path.display());
            v.error(span, msg, help);
        }
        Ok(status) if status.revoked => {
            let msg = format!(
                "{ctx}: OCSP response {}: it says the certificate is revoked",
                path.display()
            );
            v.error(
                span,
                msg,
                "replace the certificate (clients that check refuse it), and point `ocsp` at \
                 the new one's response (`openssl ocsp -issuer ca.pem -cert site.pem -url URL \
                 -respout site.ocsp.der`)",
            );
        }
        Ok(status) if !status.is_current(std::time::SystemTime::now()) => v.warning(
            span,
            format!(
                "{ctx}: the OCSP response in {} is out of date; it is not stapled",
                path.display()
            ),
            "fetch a fresh response from the CA's OCSP responder; the file is re-read when \
             it changes",
        ),
        Ok(_) => {}
    }
}

/// The TLS/HTTP-version part of a pool.
pub(super) fn pool(
    v: &mut V<'_, '_>,
    f: &FilePool,
    ctx: &str,
) -> (Option<TlsClientCfg>, UpstreamHttp) {
    let tls = f.tls.as_ref().and_then(|t| client(v, t, ctx));
    let http_version = match f.http_version.as_ref() {
        None => UpstreamHttp::Http1,
        Some(h) => match h.get_ref().as_str() {
            "1.1" | "1" | "http/1.1" => UpstreamHttp::Http1,
            "2" | "2.0" | "h2" | "h2c" => UpstreamHttp::Http2,
            "auto" => {
                if f.tls.is_none() {
                    v.warning(
                        h.span(),
                        format!("http_version = \"auto\" in {ctx} without [pool.tls] is HTTP/1.1"),
                        "\"auto\" lets TLS ALPN choose; for h2c (HTTP/2 without TLS) write \
                         http_version = \"2\"",
                    );
                }
                UpstreamHttp::Auto
            }
            other => {
                let hint = did_you_mean(other, &["1.1", "2", "auto"])
                    .map(|s| format!("did you mean {s:?}? "))
                    .unwrap_or_default();
                v.error(
                    h.span(),
                    format!("unknown http_version {other:?} in {ctx}"),
                    format!("{hint}use \"1.1\" (default), \"2\" or \"auto\""),
                );
                UpstreamHttp::Http1
            }
        },
    };
    (tls, http_version)
}

/// `[pool.tls]`.
fn client(v: &mut V<'_, '_>, t: &Spanned<FilePoolTls>, ctx: &str) -> Option<TlsClientCfg> {
    let f = t.get_ref();
    let ctx = format!("[pool.tls] of {ctx}");
    let ca = f.ca.as_ref().map(|ca| {
        let path = resolve_path(v, ca.get_ref());
        if let Err(e) = crate::tls::certs::load_roots(&path) {
            v.error(
                ca.span(),
                format!("bad `ca` in {ctx}: {e}"),
                "point ca at a readable PEM file of CA certificates, or remove it to use the \
                 system's trust roots",
            );
        }
        path
    });
    let server_name = f.server_name.as_ref().and_then(|n| {
        let name = n.get_ref();
        match rustls::pki_types::ServerName::try_from(name.as_str()) {
            Ok(_) => Some(name.clone()),
            Err(_) => {
                v.error(
                    n.span(),
                    format!("invalid server_name {name:?} in {ctx}"),
                    "write a DNS name (e.g. \"api.internal\") or an IP address",
                );
                None
            }
        }
    });
    let client_cert = match (&f.client_cert, &f.client_key) {
        (Some(c), Some(k)) => {
            let (cp, kp) = (resolve_path(v, c.get_ref()), resolve_path(v, k.get_ref()));
            if let Err(e) = crate::tls::certs::load_certified_key(&cp, &kp) {
                let span = if e.is_key_error() { k.span() } else { c.span() };
                v.error(
                    span,
                    format!("bad client certificate in {ctx}: {e}"),
                    "point client_cert at a PEM chain and client_key at its private key",
                );
            }
            Some((cp, kp))
        }
        (Some(c), None) => {
            v.error(
                c.span(),
                format!("`client_cert` in {ctx} needs `client_key`"),
                "add client_key = \"client.key\"",
            );
            None
        }
        (None, Some(k)) => {
            v.error(
                k.span(),
                format!("`client_key` in {ctx} needs `client_cert`"),
                "add client_cert = \"client.pem\"",
            );
            None
        }
        (None, None) => None,
    };
    let insecure = f
        .insecure_skip_verify
        .as_ref()
        .is_some_and(|s| *s.get_ref());
    if let (true, Some(s)) = (insecure, &f.insecure_skip_verify) {
        v.warning(
            s.span(),
            format!("{ctx} does not verify endpoint certificates"),
            "anyone on the path to the endpoints can read and change the traffic; use `ca` \
             with the endpoints' CA instead",
        );
        if ca.is_some() {
            v.warning(
                s.span(),
                format!("{ctx} has a `ca` that insecure_skip_verify makes unused"),
                "remove insecure_skip_verify to verify endpoints against `ca`",
            );
        }
    }
    Some(TlsClientCfg {
        ca,
        server_name,
        send_sni: f.sni.as_ref().is_none_or(|s| *s.get_ref()),
        client_cert,
        insecure_skip_verify: insecure,
    })
}

/// A path from the config, relative to the config file's directory.
fn resolve_path(v: &V<'_, '_>, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match v.base_dir() {
        Some(dir) => dir.join(path),
        None => path.to_path_buf(),
    }
}

/// What is wrong with a `Strict-Transport-Security` value (RFC 6797 §6.1):
/// `;`-separated directives, names unique, `max-age` once with a number of
/// seconds, `includeSubDomains` without a value. A browser ignores the
/// whole header when any of it is malformed, so a typo turns HSTS off.
fn sts_problem(value: &str) -> Option<&'static str> {
    let mut seen: Vec<String> = Vec::new();
    let mut max_age = false;
    for directive in value.split(';') {
        let directive = directive.trim();
        if directive.is_empty() {
            continue;
        }
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (directive, None),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Some("a directive name is not a token");
        }
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Some("a directive appears twice");
        }
        match lower.as_str() {
            "max-age" => {
                let secs = arg.map(|a| {
                    a.strip_prefix('"')
                        .and_then(|a| a.strip_suffix('"'))
                        .unwrap_or(a)
                });
                if !secs.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) {
                    return Some("max-age must be a number of seconds");
                }
                max_age = true;
            }
            "includesubdomains" if arg.is_some() => {
                return Some("includeSubDomains takes no value");
            }
            _ => {}
        }
        seen.push(lower);
    }
    if max_age {
        None
    } else {
        Some("max-age is missing")
    }
}
