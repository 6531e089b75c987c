//! The TLS, HTTP/2 and upgrade settings: what loads, and each error with
//! its exact position and help.

use super::{MINIMAL, check, errors, listener_with, load, the_error};
use crate::config::{Severity, TlsVersion, UpstreamHttp};

/// The example certificate shipped in `examples/certs`.
fn cert(file: &str) -> String {
    format!("{}/examples/certs/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// A test RSA certificate or key file (`src/tls/testdata`).
fn rsa(file: &str) -> String {
    format!("{}/src/tls/testdata/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn tls_table(extra: &str) -> String {
    listener_with(&format!(
        "  [listener.tls]\n  certificates = [{{ cert = \"{}\", key = \"{}\" }}]\n{extra}",
        cert("site.pem"),
        cert("site.key")
    ))
}

#[test]
fn a_full_tls_listener_and_pool_load() {
    let text = format!(
        "{}\n  [pool.tls]\n  ca = \"{}\"\n  server_name = \"api.internal\"\n",
        tls_table(
            "  min_version = \"1.3\"\n  client_ca = \"CA\"\n  client_auth = \"optional\"\n  hsts = \"max-age=60\"",
        )
        .replace("\"CA\"", &format!("\"{}\"", cert("ca.pem")))
        .replace(
            "endpoints = [",
            "http_version = \"2\"\nendpoints = ["
        ),
        cert("ca.pem")
    );
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let l = &loaded.config.listeners[0];
    let tls = l.tls.as_ref().expect("tls");
    assert_eq!(tls.min_version, TlsVersion::V1_3);
    assert!(tls.session_tickets);
    assert_eq!(tls.hsts.as_deref(), Some("max-age=60"));
    assert!(tls.client_auth.as_ref().is_some_and(|c| !c.required));
    assert!(l.http2, "http2 defaults to on with tls");
    assert_eq!(l.h2.max_concurrent_streams, 100);
    let p = &loaded.config.pools[0];
    assert_eq!(p.http_version, UpstreamHttp::Http2);
    let up = p.tls.as_ref().expect("pool tls");
    assert_eq!(up.server_name.as_deref(), Some("api.internal"));
    assert!(up.send_sni && !up.insecure_skip_verify);
}

#[test]
fn http2_is_off_by_default_without_tls() {
    let loaded = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert!(!loaded.config.listeners[0].http2);
    assert!(loaded.config.listeners[0].tls.is_none());
}

#[test]
fn a_missing_certificate_file_is_an_error_at_cert() {
    let text = listener_with(
        "  [listener.tls]\n  certificates = [{ cert = \"/nonexistent/site.pem\", key = \"/nonexistent/site.key\" }]",
    );
    let d = the_error(&text);
    assert_eq!((d.line, d.col), (6, 28), "{}", d.render());
    assert!(
        d.message.contains("/nonexistent/site.pem"),
        "{}",
        d.render()
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_an_error_at_key() {
    // The CA certificate with the site's key: they do not match.
    let text = listener_with(&format!(
        "  [listener.tls]\n  certificates = [{{ cert = \"{}\", key = \"{}\" }}]",
        cert("ca.pem"),
        cert("site.key")
    ));
    let d = the_error(&text);
    let key_col = text
        .lines()
        .nth(5)
        .and_then(|l| l.find("key = "))
        .map(|c| c + 7);
    assert_eq!((d.line, Some(d.col)), (6, key_col), "{}", d.render());
    assert!(d.message.contains("does not match"), "{}", d.render());
}

#[test]
fn tls_without_certificates() {
    let d = the_error(&listener_with("  [listener.tls]\n  hsts = \"max-age=1\""));
    assert_eq!(d.line, 5, "{}", d.render());
    assert!(
        d.message.contains("has no `certificates`"),
        "{}",
        d.render()
    );
}

#[test]
fn old_tls_versions_are_refused() {
    let d = the_error(&tls_table("  min_version = \"1.1\""));
    check(
        &d,
        7,
        17,
        "unsupported min_version \"1.1\" in [listener.tls] of listener \"web\"",
        "TLS 1.0 and 1.1 are not supported (insecure): use \"1.2\" or \"1.3\"",
    );
}

#[test]
fn client_auth_needs_client_ca() {
    let d = the_error(&tls_table("  client_auth = \"optional\""));
    check(
        &d,
        7,
        17,
        "`client_auth` in [listener.tls] of listener \"web\" needs `client_ca`",
        "add client_ca = \"clients-ca.pem\" (the CA that signs client certificates)",
    );
}

#[test]
fn a_redirect_listener_cannot_terminate_tls() {
    let text = tls_table("").replace(
        "address = \"127.0.0.1:0\"\n",
        "address = \"127.0.0.1:0\"\nhttps_redirect = 443\n",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .contains("both terminates TLS and redirects to HTTPS"),
        "{}",
        e[0].render()
    );
}

#[test]
fn tls_is_refused_on_tcp_listeners() {
    let text = format!(
        "[[listener]]\nname = \"t\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"p\"\n  [listener.tls]\n  certificates = [{{ cert = \"{}\", key = \"{}\" }}]\n[[pool]]\nname = \"p\"\nendpoints = [{{ address = \"127.0.0.1:9001\" }}]\n",
        cert("site.pem"),
        cert("site.key")
    );
    let d = the_error(&text);
    assert_eq!(d.line, 6, "{}", d.render());
    assert_eq!(
        d.message,
        "`tls` is not a setting of tcp listeners (listener \"t\")"
    );
}

#[test]
fn unknown_http_version_suggests() {
    let text = MINIMAL.replace("endpoints = [", "http_version = \"2.1\"\nendpoints = [");
    let d = the_error(&text);
    assert_eq!(d.line, 10, "{}", d.render());
    assert_eq!(d.message, "unknown http_version \"2.1\" in pool \"api\"");
    assert!(d.help.as_deref().is_some_and(|h| h.contains("\"2\"")));
}

#[test]
fn unknown_key_in_the_tls_table_suggests() {
    let d = the_error(&tls_table("  session_ticket = true"));
    assert_eq!((d.line, d.col), (7, 3), "{}", d.render());
    assert!(
        d.message.contains("unknown key `session_ticket`"),
        "{}",
        d.render()
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `session_tickets`?"));
}

#[test]
fn a_client_cert_needs_its_key() {
    let text = format!(
        "{MINIMAL}  [pool.tls]\n  client_cert = \"{}\"\n",
        cert("site.pem")
    );
    let d = the_error(&text);
    assert_eq!(d.line, 12, "{}", d.render());
    assert_eq!(
        d.message,
        "`client_cert` in [pool.tls] of pool \"api\" needs `client_key`"
    );
}

#[test]
fn skipping_upstream_verification_warns() {
    let text = format!("{MINIMAL}  [pool.tls]\n  insecure_skip_verify = true\n");
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<_> = loaded
        .warnings
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(w.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(w[0].line, 12);
    assert!(
        w[0].message
            .contains("does not verify endpoint certificates")
    );
    // With a `ca` it would ignore: said too.
    let text = format!(
        "{MINIMAL}  [pool.tls]\n  ca = \"{}\"\n  insecure_skip_verify = true\n",
        cert("ca.pem")
    );
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded.warnings.iter().any(|d| d
            .message
            .contains("`ca` that insecure_skip_verify makes unused")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn h2_server_chooses_the_http2_server_and_refuses_anything_else() {
    let own = load(&listener_with("http2 = true")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !own.config.listeners[0].h2.hyper_server,
        "own is the default"
    );
    let hyper = load(&listener_with("http2 = true\nh2_server = \"hyper\""))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(hyper.config.listeners[0].h2.hyper_server);
    let d = the_error(&listener_with("h2_server = \"nghttp2\""));
    assert_eq!((d.line, d.col), (5, 13), "{}", d.render());
    assert!(d.message.contains("unknown h2_server"), "{}", d.render());
    assert!(
        d.help.as_deref().is_some_and(|h| h.contains("\"own\"")),
        "{}",
        d.render()
    );
}

/// A TLS listener whose one certificate is the OCSP test leaf, with
/// `ocsp = "<testdata>/ocsp/{ocsp}"`.
fn ocsp_listener(ocsp: &str) -> String {
    let data = |f: &str| format!("{}/src/tls/testdata/ocsp/{f}", env!("CARGO_MANIFEST_DIR"));
    listener_with(&format!(
        "  [listener.tls]\n  certificates = [{{ cert = \"{}\", key = \"{}\", ocsp = \"{}\" }}]",
        data("leaf.pem"),
        data("leaf-key.pem"),
        data(ocsp)
    ))
}

/// The column just inside the quotes of `ocsp = "…"` on line 6.
fn ocsp_col(text: &str) -> Option<usize> {
    text.lines()
        .nth(5)
        .and_then(|l| l.find("ocsp = "))
        .map(|c| c + 8)
}

#[test]
fn an_ocsp_response_loads_with_its_certificate() {
    let loaded = load(&ocsp_listener("ocsp-good.der")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty());
    let tls = loaded.config.listeners[0].tls.as_ref().expect("tls");
    let ocsp = tls.certificates[0].ocsp.as_ref().expect("ocsp path");
    assert!(ocsp.ends_with("ocsp/ocsp-good.der"));
}

#[test]
fn a_revoked_or_missing_ocsp_response_is_an_error_at_ocsp() {
    for (file, says) in [
        ("ocsp-revoked.der", "revoked"),
        ("leaf.pem", "not a DER OCSP response"),
        ("nonexistent.der", "cannot read OCSP response"),
    ] {
        let text = ocsp_listener(file);
        let d = the_error(&text);
        assert_eq!(
            (d.line, Some(d.col)),
            (6, ocsp_col(&text)),
            "{}",
            d.render()
        );
        assert!(d.message.contains(says), "{file}: {}", d.render());
        assert!(
            d.help
                .as_deref()
                .is_some_and(|h| h.contains("openssl ocsp")),
            "{}",
            d.render()
        );
    }
}

#[test]
fn an_out_of_date_ocsp_response_is_a_warning() {
    let text = ocsp_listener("ocsp-expired.der");
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let [w] = loaded.warnings.as_slice() else {
        panic!("{:?}", loaded.warnings)
    };
    assert_eq!(
        (w.line, Some(w.col)),
        (6, ocsp_col(&text)),
        "{}",
        w.render()
    );
    assert!(w.message.contains("out of date"), "{}", w.render());
}

#[test]
fn cipher_suites_load_in_the_order_given() {
    let text = tls_table(
        "  cipher_suites = [\"TLS_AES_256_GCM_SHA384\", \"tls_chacha20_poly1305_sha256\", \
         \"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\"]",
    );
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let tls = loaded.config.listeners[0].tls.as_ref().expect("tls");
    assert_eq!(
        tls.cipher_suites,
        [
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ]
    );
    // Unset: empty, the built-in order.
    let loaded = load(&tls_table("")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded.config.listeners[0]
            .tls
            .as_ref()
            .expect("tls")
            .cipher_suites
            .is_empty()
    );
}

#[test]
fn bad_cipher_suites_are_refused_where_they_are_written() {
    // Line 7 holds the key; the list opens at column 19, its first string
    // at 20, the second at 46.
    let d = the_error(&tls_table(
        "  cipher_suites = [\"TLS_AES_128_GCM_SHA256\", \"ECDHE-RSA-AES128-GCM-SHA256\"]",
    ));
    assert_eq!((d.line, d.col), (7, 46), "{}", d.render());
    assert_eq!(
        d.message,
        "unknown cipher suite \"ECDHE-RSA-AES128-GCM-SHA256\" in [listener.tls] of listener \"web\""
    );
    assert!(
        d.help
            .as_deref()
            .unwrap_or_default()
            .starts_with("use IANA names, not OpenSSL's: TLS_AES_128_GCM_SHA256, "),
        "{}",
        d.render()
    );

    let d = the_error(&tls_table(
        "  cipher_suites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\", \"TLS_AES_128_GCM_SHA256\"]",
    ));
    assert_eq!((d.line, d.col), (7, 20), "{}", d.render());
    assert!(
        d.help
            .as_deref()
            .unwrap_or_default()
            .starts_with("only AEAD suites are offered"),
        "{}",
        d.render()
    );

    let d = the_error(&tls_table(
        "  cipher_suites = [\"TLS_AES_128_GCM_SHA256\", \"TLS_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]",
    ));
    assert_eq!((d.line, d.col), (7, 46), "{}", d.render());
    assert!(d.message.contains("is listed twice"), "{}", d.render());

    let d = the_error(&tls_table(
        "  cipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]",
    ));
    assert_eq!((d.line, d.col), (7, 19), "{}", d.render());
    assert!(
        d.message.ends_with("has no TLS 1.3 suite"),
        "{}",
        d.render()
    );
    let d = the_error(&tls_table("  cipher_suites = []"));
    assert!(
        d.message.ends_with("has no TLS 1.3 suite"),
        "{}",
        d.render()
    );

    // Only TLS 1.3 suites: refused with min_version 1.2 (the default),
    // accepted with 1.3.
    let d = the_error(&tls_table("  cipher_suites = [\"TLS_AES_128_GCM_SHA256\"]"));
    assert!(d.message.contains("has no TLS 1.2 suite"), "{}", d.render());
    assert!(
        load(&tls_table(
            "  min_version = \"1.3\"\n  cipher_suites = [\"TLS_AES_128_GCM_SHA256\"]"
        ))
        .is_ok()
    );
}

#[test]
fn malformed_hsts_values_are_refused_with_the_reason() {
    for (value, why) in [
        ("max-age=abc", "max-age must be a number of seconds"),
        ("max-age=-5", "max-age must be a number of seconds"),
        ("max-age=", "max-age must be a number of seconds"),
        ("includeSubDomains", "max-age is missing"),
        ("max-age=1; max-age=2", "a directive appears twice"),
        (
            "max-age=1; includeSubDomains=yes",
            "includeSubDomains takes no value",
        ),
        (
            "max-age=1; in cludeSubDomains",
            "a directive name is not a token",
        ),
    ] {
        let d = the_error(&tls_table(&format!("  hsts = \"{value}\"")));
        assert!(d.message.contains(why), "{value}: {}", d.render());
    }
    for value in [
        "max-age=0",
        "max-age=\\\"31536000\\\"; includeSubDomains; preload",
        "MAX-AGE=60;includesubdomains",
    ] {
        let text = tls_table(&format!("  hsts = \"{value}\""));
        let loaded = load(&text).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert!(
            loaded.config.listeners[0]
                .tls
                .as_ref()
                .is_some_and(|t| t.hsts.is_some())
        );
    }
}

/// `check` warns about a certificate clients would refuse for its dates.
#[test]
fn an_expired_certificate_is_warned_about() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["old.test".to_owned()]).expect("SAN");
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).expect("self-signed");
    let dir = std::env::temp_dir().join(format!("sy-expired-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (c, k) = (dir.join("old.pem"), dir.join("old.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let text = listener_with(&format!(
        "  [listener.tls]\n  certificates = [{{ cert = \"{}\", key = \"{}\" }}]\n",
        c.display(),
        k.display()
    ));
    let loaded = load(&text);
    let _ = std::fs::remove_dir_all(&dir);
    let loaded = loaded.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("expired") && w.line == 6),
        "{:?}",
        loaded
            .warnings
            .iter()
            .map(|w| w.render())
            .collect::<Vec<_>>()
    );
}

/// `cipher_suites` whose TLS 1.2 suites fit none of the certificates' keys
/// would fail every TLS 1.2 client: refused. Fitting some: the others are
/// warned about, at their entry.
#[test]
fn tls12_suites_must_fit_the_certificates_keys() {
    // The example certificate has an ECDSA key.
    let text = tls_table(
        "  cipher_suites = [\"TLS_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]",
    );
    let d = the_error(&text);
    assert_eq!(
        d.message,
        "`cipher_suites` in [listener.tls] of listener \"web\" has no TLS 1.2 suite for its \
         certificates' keys (an ECDSA key), so TLS 1.2 clients would fail"
    );
    assert_eq!(
        d.help.as_deref(),
        Some("add TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, or set min_version = \"1.3\"")
    );
    let line = text
        .lines()
        .position(|l| l.contains("cipher_suites"))
        .expect("line");
    assert_eq!(d.line, line + 1);
    // TLS 1.3 only: nothing to fit.
    let only13 =
        tls_table("  min_version = \"1.3\"\n  cipher_suites = [\"TLS_AES_128_GCM_SHA256\"]");
    assert!(load(&only13).unwrap().warnings.is_empty());

    // An ECDSA and an RSA certificate with ECDSA suites only: the RSA one
    // is warned about.
    let text = listener_with(&format!(
        "  [listener.tls]\n  certificates = [\n    {{ cert = \"{}\", key = \"{}\" }},\n    \
         {{ cert = \"{}\", key = \"{}\" }},\n  ]\n  cipher_suites = [\"TLS_AES_128_GCM_SHA256\", \
         \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n",
        cert("site.pem"),
        cert("site.key"),
        rsa("rsa-cert.pem"),
        rsa("rsa-key.pem"),
    ));
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let fit: Vec<_> = loaded
        .warnings
        .iter()
        .filter(|w| w.message.contains("TLS 1.2 suite"))
        .collect();
    assert_eq!(fit.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(
        fit[0].message,
        "certificate #2 in [listener.tls] of listener \"web\" has an RSA key, and no TLS 1.2 \
         suite in `cipher_suites` serves it"
    );
    let rsa_line = text
        .lines()
        .position(|l| l.contains("rsa-cert"))
        .expect("line");
    assert_eq!((fit[0].line, fit[0].col), (rsa_line + 1, 5));
    // With an RSA suite too: no warning.
    let both = text.replace(
        "\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]",
        "\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]",
    );
    let loaded = load(&both).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("TLS 1.2 suite")),
        "{:?}",
        loaded.warnings
    );
}

/// A certificate with the key type of an earlier one for the same name is
/// never served for it: warned about at its entry. Another key type for
/// the same name is not (each client gets one it can use).
#[test]
fn a_certificate_shadowed_by_an_earlier_one_of_its_key_type_is_warned_about() {
    let text = listener_with(&format!(
        "  [listener.tls]\n  certificates = [\n    \
         {{ cert = \"{c}\", key = \"{k}\", server_names = [\"a.test\"] }},\n    \
         {{ cert = \"{r}\", key = \"{rk}\", server_names = [\"a.test\"] }},\n    \
         {{ cert = \"{c}\", key = \"{k}\", server_names = [\"b.test\", \"A.test\"] }},\n  ]\n",
        c = cert("site.pem"),
        k = cert("site.key"),
        r = rsa("rsa-cert.pem"),
        rk = rsa("rsa-key.pem"),
    ));
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let shadowed: Vec<_> = loaded
        .warnings
        .iter()
        .filter(|w| w.message.contains("never served"))
        .collect();
    assert_eq!(shadowed.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(
        shadowed[0].message,
        "certificate #3 in [listener.tls] of listener \"web\" is never served for \"a.test\": \
         certificate #1 comes first for that name with the same key type (ECDSA)"
    );
    let line = text
        .lines()
        .position(|l| l.contains("b.test"))
        .expect("line");
    assert_eq!((shadowed[0].line, shadowed[0].col), (line + 1, 5));
}
