//! The SNI resolver, `ServerTls::build`, hot reload, and real handshakes.

use super::*;
use crate::config::model::ClientAuthCfg;
use crate::tls::TlsError;
use crate::tls::server::ServerTls;

const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Three certificates: `a` (default) for a.test by SAN, `b` for b.test and
/// *.b.test by SAN, `c` configured for c.test and *.wild.test (its SANs
/// also name ignored.test, which the configured names replace).
struct Three {
    dir: TempDir,
    a: Pem,
    b: Pem,
    c: Pem,
}

fn three() -> Three {
    let dir = TempDir::new();
    Three {
        a: p256(&["a.test"]),
        b: self_signed(&rcgen::PKCS_ECDSA_P384_SHA384, &["B.test", "*.b.test"]),
        c: self_signed(
            &rcgen::PKCS_ED25519,
            &["ignored.test", "c.test", "*.wild.test"],
        ),
        dir,
    }
}

impl Three {
    fn cfg(&self) -> TlsServerCfg {
        server_cfg(vec![
            cert_cfg(&self.dir, "a", &self.a, &[]),
            cert_cfg(&self.dir, "b", &self.b, &[]),
            cert_cfg(&self.dir, "c", &self.c, &["C.test", "*.wild.test"]),
        ])
    }
}

/// What a client offering every scheme rustls verifies gets.
const ANY_SCHEME: &[rustls::SignatureScheme] = &[
    rustls::SignatureScheme::ECDSA_NISTP256_SHA256,
    rustls::SignatureScheme::ECDSA_NISTP384_SHA384,
    rustls::SignatureScheme::ED25519,
    rustls::SignatureScheme::RSA_PSS_SHA256,
    rustls::SignatureScheme::RSA_PKCS1_SHA256,
];

fn served(tls: &ServerTls, sni: Option<&str>) -> CertificateDer<'static> {
    served_for(tls, sni, ANY_SCHEME)
}

fn served_for(
    tls: &ServerTls,
    sni: Option<&str>,
    schemes: &[rustls::SignatureScheme],
) -> CertificateDer<'static> {
    served_with(tls, sni, schemes, ANY_SUITE)
}

/// Every suite, TLS 1.3 ones included: the key type never matters.
const ANY_SUITE: &[rustls::CipherSuite] = &[
    rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

fn served_with(
    tls: &ServerTls,
    sni: Option<&str>,
    schemes: &[rustls::SignatureScheme],
    suites: &[rustls::CipherSuite],
) -> CertificateDer<'static> {
    tls.resolver()
        .lookup(sni, schemes, suites)
        .expect("a certificate")
        .cert[0]
        .clone()
}

/// An ECDSA and an RSA certificate for one name: each client gets the one
/// it can verify, the first listed when it can verify both, with SNI and
/// without (the first certificate's name is the default).
#[test]
fn a_name_with_several_certificates_gets_the_one_the_client_can_verify() {
    let dir = TempDir::new();
    let ecdsa = p256(&["rsa.test"]);
    let cfg = server_cfg(vec![
        cert_cfg(&dir, "ecdsa", &ecdsa, &[]),
        CertCfg {
            cert: testdata("rsa-cert.pem"),
            key: testdata("rsa-key.pem"),
            server_names: vec![],
            ocsp: None,
        },
    ]);
    let tls = ServerTls::build(&cfg, ALPN, None).expect("build");
    let rsa_der = crate::tls::certs::load_chain(&testdata("rsa-cert.pem")).expect("rsa")[0].clone();
    let rsa_only = [
        rustls::SignatureScheme::RSA_PSS_SHA256,
        rustls::SignatureScheme::RSA_PKCS1_SHA256,
    ];
    let ecdsa_only = [rustls::SignatureScheme::ECDSA_NISTP256_SHA256];
    for sni in [Some("rsa.test"), None] {
        assert_eq!(served_for(&tls, sni, &rsa_only), rsa_der, "{sni:?}");
        assert_eq!(served_for(&tls, sni, &ecdsa_only), ecdsa.der, "{sni:?}");
        assert_eq!(served_for(&tls, sni, ANY_SCHEME), ecdsa.der, "{sni:?}");
    }
    // A client that can verify neither gets the first (and fails the
    // handshake as it would anyway).
    let none = [rustls::SignatureScheme::ED448];
    assert_eq!(served_for(&tls, Some("rsa.test"), &none), ecdsa.der);
}

/// A TLS 1.2-only client whose suites can carry only an RSA key gets the
/// RSA certificate, whatever signature schemes it lists (with the ECDSA
/// one, no suite would fit and the handshake fail), as HAProxy's bundles
/// decide; with a TLS 1.3 suite any key fits, and the first is served.
#[test]
fn a_tls12_client_gets_the_certificate_its_suites_can_carry() {
    use rustls::CipherSuite as S;
    let dir = TempDir::new();
    let ecdsa = p256(&["rsa.test"]);
    let rsa = CertCfg {
        cert: testdata("rsa-cert.pem"),
        key: testdata("rsa-key.pem"),
        server_names: vec![],
        ocsp: None,
    };
    let tls = ServerTls::build(
        &server_cfg(vec![cert_cfg(&dir, "ecdsa", &ecdsa, &[]), rsa.clone()]),
        ALPN,
        None,
    )
    .expect("build");
    let rsa_der = crate::tls::certs::load_chain(&testdata("rsa-cert.pem")).expect("rsa")[0].clone();
    let rsa_suites = [S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    let sni = Some("rsa.test");
    assert_eq!(served_with(&tls, sni, ANY_SCHEME, &rsa_suites), rsa_der);
    let ecdsa_suites = [S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384];
    assert_eq!(served_with(&tls, sni, ANY_SCHEME, &ecdsa_suites), ecdsa.der);
    let with13 = [
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        S::TLS13_AES_128_GCM_SHA256,
    ];
    assert_eq!(served_with(&tls, sni, ANY_SCHEME, &with13), ecdsa.der);
    // Only the listener's own suites count: without ECDHE_RSA ones in
    // `cipher_suites`, nothing carries the RSA client; the first is served
    // (and the handshake fails, as check warns).
    let mut cfg = server_cfg(vec![cert_cfg(&dir, "ecdsa2", &ecdsa, &[]), rsa]);
    cfg.cipher_suites = vec![
        S::TLS13_AES_128_GCM_SHA256,
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ];
    let tls = ServerTls::build(&cfg, ALPN, None).expect("build");
    assert_eq!(served_with(&tls, sni, ANY_SCHEME, &rsa_suites), ecdsa.der);
}

#[test]
fn sni_selects_exact_then_wildcard_then_default() {
    let t = three();
    let tls = ServerTls::build(&t.cfg(), ALPN, None).expect("build");
    assert_eq!(served(&tls, Some("a.test")), t.a.der);
    assert_eq!(served(&tls, Some("b.test")), t.b.der);
    assert_eq!(served(&tls, Some("B.TEST")), t.b.der);
    assert_eq!(served(&tls, Some("x.b.test")), t.b.der);
    assert_eq!(served(&tls, Some("c.test")), t.c.der);
    assert_eq!(served(&tls, Some("x.wild.test")), t.c.der);
    // Configured server_names replace the certificate's own SANs.
    assert_eq!(served(&tls, Some("ignored.test")), t.a.der);
    // No SNI, or a name nothing covers: the first certificate.
    assert_eq!(served(&tls, None), t.a.der);
    assert_eq!(served(&tls, Some("other.test")), t.a.der);
}

#[test]
fn wildcards_cover_exactly_one_label() {
    let t = three();
    let tls = ServerTls::build(&t.cfg(), ALPN, None).expect("build");
    assert_eq!(served(&tls, Some("x.wild.test")), t.c.der);
    assert_eq!(served(&tls, Some("x.y.wild.test")), t.a.der);
    assert_eq!(served(&tls, Some("wild.test")), t.a.der);
    assert_eq!(served(&tls, Some(".wild.test")), t.a.der);
    assert_eq!(served(&tls, Some("y.x.b.test")), t.a.der);
}

#[test]
fn earlier_certificates_win_duplicate_names() {
    let dir = TempDir::new();
    let first = p256(&["dup.test", "*.dup.test"]);
    let second = p256(&["dup.test", "*.dup.test", "only.test"]);
    let cfg = server_cfg(vec![
        cert_cfg(&dir, "first", &first, &[]),
        cert_cfg(&dir, "second", &second, &[]),
    ]);
    let tls = ServerTls::build(&cfg, ALPN, None).expect("build");
    assert_eq!(served(&tls, Some("dup.test")), first.der);
    assert_eq!(served(&tls, Some("x.dup.test")), first.der);
    assert_eq!(served(&tls, Some("only.test")), second.der);
}

#[test]
fn build_errors_name_the_file() {
    let dir = TempDir::new();
    let a = p256(&["a.test"]);
    let mut bad = cert_cfg(&dir, "a", &a, &[]);
    bad.key = dir.path("missing.key");
    let err = ServerTls::build(&server_cfg(vec![bad]), ALPN, None).expect_err("missing key");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            dir.path("missing.key").display()
        )
    );

    // Keys of another certificate.
    let b = p256(&["b.test"]);
    let mut swapped = cert_cfg(&dir, "a", &a, &[]);
    swapped.key = cert_cfg(&dir, "b", &b, &[]).key;
    let err =
        ServerTls::build(&server_cfg(vec![swapped.clone()]), ALPN, None).expect_err("mismatch");
    assert_eq!(
        err,
        TlsError::KeyMismatch {
            cert: swapped.cert,
            key: swapped.key
        }
    );

    // No DNS SAN and no server_names: nothing would ever select it.
    let no_names = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256, &[]);
    let cfg = server_cfg(vec![cert_cfg(&dir, "nonames", &no_names, &[])]);
    assert_eq!(
        ServerTls::build(&cfg, ALPN, None)
            .expect_err("no names")
            .to_string(),
        format!(
            "{}: certificate has no DNS names in subjectAltName; set server_names",
            dir.path("nonames.crt").display()
        )
    );
    // ...unless server_names says what it serves.
    let cfg = server_cfg(vec![cert_cfg(&dir, "nonames", &no_names, &["n.test"])]);
    ServerTls::build(&cfg, ALPN, None).expect("named by config");

    assert_eq!(
        ServerTls::build(&server_cfg(vec![]), ALPN, None).expect_err("none"),
        TlsError::NoCertificates
    );
}

#[test]
fn only_aead_cipher_suites() {
    let t = three();
    let tls = ServerTls::build(&t.cfg(), ALPN, None).expect("build");
    let config = tls.config();
    let suites = &config.crypto_provider().cipher_suites;
    assert!(!suites.is_empty());
    for suite in suites {
        let name = format!("{:?}", suite.suite());
        assert!(
            (name.contains("GCM") || name.contains("CHACHA20_POLY1305")) && !name.contains("CBC"),
            "non-AEAD cipher suite {name}"
        );
    }
    // Mozilla's "intermediate" order: AES-128-GCM first, in both versions.
    let order: Vec<_> = suites.iter().map(|s| s.suite()).collect();
    assert_eq!(
        order[..3],
        [
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        ]
    );
    assert_eq!(
        order[3],
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );
    assert_eq!(order.len(), 9, "no suite dropped by the reordering");
    assert!(tls.config().ignore_client_order);
    assert_eq!(tls.config().max_early_data_size, 0);
    assert_eq!(
        tls.config().alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn tickets_survive_a_config_reload() {
    let t = three();
    let mut cfg = t.cfg();
    let first = ServerTls::build(&cfg, ALPN, None).expect("build");
    assert!(first.config().ticketer.enabled());
    let second = ServerTls::build(&cfg, ALPN, Some(&first)).expect("rebuild");
    assert!(Arc::ptr_eq(
        &first.config().ticketer,
        &second.config().ticketer
    ));
    let fresh = ServerTls::build(&cfg, ALPN, None).expect("fresh");
    assert!(!Arc::ptr_eq(
        &first.config().ticketer,
        &fresh.config().ticketer
    ));

    // New client-auth settings: resumed sessions would skip the new
    // verification, so the old tickets are not honoured.
    let ca = Ca::new("Clients");
    cfg.client_auth = Some(ClientAuthCfg {
        ca: t.dir.write("clients.pem", ca.pem()),
        required: true,
    });
    let with_auth = ServerTls::build(&cfg, ALPN, Some(&second)).expect("with auth");
    assert!(!Arc::ptr_eq(
        &second.config().ticketer,
        &with_auth.config().ticketer
    ));

    cfg.session_tickets = false;
    let off = ServerTls::build(&cfg, ALPN, Some(&with_auth)).expect("off");
    assert!(!off.config().ticketer.enabled());
}

#[test]
fn reload_swaps_certificates_and_keeps_them_on_error() {
    let t = three();
    let cfg = t.cfg();
    let tls = ServerTls::build(&cfg, ALPN, None).expect("build");
    assert_eq!(tls.files().len(), 6);
    assert_eq!(tls.files()[0], cfg.certificates[0].cert);
    assert_eq!(tls.files()[1], cfg.certificates[0].key);
    assert_eq!(tls.reload_if_changed().certificates, Ok(false));

    // A renewed certificate for a.test.
    let renewed = p256(&["a.test"]);
    cert_cfg(&t.dir, "a", &renewed, &[]);
    assert_eq!(tls.reload_if_changed().certificates, Ok(true));
    assert_eq!(served(&tls, Some("a.test")), renewed.der);
    assert_eq!(served(&tls, Some("b.test")), t.b.der);
    assert_eq!(tls.reload_if_changed().certificates, Ok(false));

    // A garbage key: the error names it, the renewed certificate stays, and
    // the error is said once: checks find nothing new to try until the
    // files change again.
    let key = t.dir.write("a.key", "not a key\n");
    let err = tls
        .reload_if_changed()
        .certificates
        .expect_err("garbage key");
    assert_eq!(err, TlsError::NoPrivateKey { path: key });
    assert_eq!(served(&tls, Some("a.test")), renewed.der);
    assert_eq!(tls.reload_if_changed().certificates, Ok(false));
    assert_eq!(served(&tls, Some("a.test")), renewed.der);
    // Half-written renewal (new cert, old key): still refused.
    let next = p256(&["a.test"]);
    t.dir.write("a.crt", &next.cert);
    t.dir.write("a.key", &renewed.key);
    assert!(matches!(
        tls.reload_if_changed().certificates,
        Err(TlsError::KeyMismatch { .. })
    ));
    assert_eq!(served(&tls, Some("a.test")), renewed.der);
    t.dir.write("a.key", &next.key);
    assert_eq!(tls.reload_if_changed().certificates, Ok(true));
    assert_eq!(served(&tls, Some("a.test")), next.der);
}

#[tokio::test]
async fn handshake_serves_the_certificate_for_the_sni() {
    let t = three();
    let tls = ServerTls::build(&t.cfg(), ALPN, None).expect("build");
    let roots = format!("{}{}{}", t.a.cert, t.b.cert, t.c.cert);
    let both = [&rustls::version::TLS13, &rustls::version::TLS12];
    for (sni, expect) in [
        ("a.test", &t.a),
        ("x.b.test", &t.b),
        ("c.test", &t.c),
        ("x.wild.test", &t.c),
    ] {
        let client = plain_client(&roots, &both, ALPN);
        let hs = handshake(tls.config(), client, dns(sni))
            .await
            .unwrap_or_else(|e| panic!("{sni}: {e}"));
        assert_eq!(hs.server_cert.as_ref(), Some(&expect.der), "{sni}");
        assert_eq!(hs.alpn.as_deref(), Some(&b"h2"[..]), "{sni}");
        assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_3));
    }
    // TLS 1.2 and HTTP/1.1 only: still fine with min_version 1.2.
    let client = plain_client(&roots, &[&rustls::version::TLS12], &[b"http/1.1"]);
    let hs = handshake(tls.config(), client, dns("a.test"))
        .await
        .expect("TLS 1.2 handshake");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(hs.alpn.as_deref(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn handshake_with_rsa_certificate() {
    let cfg = server_cfg(vec![CertCfg {
        cert: testdata("rsa-cert.pem"),
        key: testdata("rsa-key.pem"),
        server_names: vec![],
        ocsp: None,
    }]);
    let tls = ServerTls::build(&cfg, ALPN, None).expect("build");
    let roots = std::fs::read_to_string(testdata("rsa-cert.pem")).expect("read");
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let client = plain_client(&roots, versions, ALPN);
        handshake(tls.config(), client, dns("rsa.test"))
            .await
            .expect("RSA handshake");
    }
}

#[tokio::test]
async fn min_version_1_3_refuses_tls_1_2_clients() {
    let t = three();
    let mut cfg = t.cfg();
    cfg.min_version = TlsVersion::V1_3;
    let tls = ServerTls::build(&cfg, ALPN, None).expect("build");
    let roots = t.a.cert.clone();
    let old = plain_client(&roots, &[&rustls::version::TLS12], ALPN);
    let err = handshake(tls.config(), old, dns("a.test"))
        .await
        .expect_err("TLS 1.2 client refused");
    assert!(err.contains("client:"), "{err}");
    let new = plain_client(&roots, &[&rustls::version::TLS13], ALPN);
    let hs = handshake(tls.config(), new, dns("a.test"))
        .await
        .expect("TLS 1.3 client");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn client_certificates_required_or_optional() {
    let t = three();
    let ca = Ca::new("Clients");
    let mut cfg = t.cfg();
    cfg.client_auth = Some(ClientAuthCfg {
        ca: t.dir.write("clients.pem", ca.pem()),
        required: true,
    });
    let required = ServerTls::build(&cfg, ALPN, None).expect("build");
    let anonymous = plain_client(&t.a.cert, &[&rustls::version::TLS13], ALPN);
    handshake(required.config(), anonymous.clone(), dns("a.test"))
        .await
        .expect_err("no client certificate");

    if let Some(auth) = cfg.client_auth.as_mut() {
        auth.required = false;
    }
    let optional = ServerTls::build(&cfg, ALPN, None).expect("build");
    let hs = handshake(optional.config(), anonymous, dns("a.test"))
        .await
        .expect("anonymous client allowed");
    assert_eq!(hs.client_cert, None);
}

#[test]
fn shared_across_workers() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ServerTls>();
    send_sync::<crate::tls::server::SniResolver>();
    send_sync::<crate::tls::client::ClientTls>();
    send_sync::<TlsError>();
}

/// The OCSP response stapled for `ocsp.test`, if any.
fn staple(tls: &ServerTls) -> Option<Vec<u8>> {
    tls.resolver()
        .lookup(Some("ocsp.test"), ANY_SCHEME, ANY_SUITE)
        .and_then(|k| k.ocsp.clone())
}

#[test]
fn ocsp_responses_are_stapled_reloaded_and_never_stale() {
    let dir = TempDir::new();
    let data = |f: &str| std::fs::read(testdata(&format!("ocsp/{f}"))).unwrap();
    let cert = CertCfg {
        cert: dir.write("leaf.pem", data("leaf.pem")),
        key: dir.write("leaf-key.pem", data("leaf-key.pem")),
        server_names: vec![],
        ocsp: Some(dir.write("leaf.ocsp", data("ocsp-good.der"))),
    };
    let tls = ServerTls::build(&server_cfg(vec![cert.clone()]), ALPN, None).expect("build");
    assert_eq!(tls.files().len(), 3, "the OCSP file is watched");
    assert_eq!(staple(&tls), Some(data("ocsp-good.der")));
    assert_eq!(tls.reload_if_changed().certificates, Ok(false));

    // Once it goes out of date (in 2126) it is dropped at the next check,
    // though no file changed.
    let after = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5_000_000_000);
    assert_eq!(tls.reload_at(after).certificates, Ok(true));
    assert_eq!(staple(&tls), None);
    assert_eq!(
        tls.reload_at(after).certificates,
        Ok(false),
        "and not reloaded again"
    );

    // A new response replaces it.
    dir.write("leaf.ocsp", data("ocsp-nonext.der"));
    assert_eq!(tls.reload_if_changed().certificates, Ok(true));
    assert_eq!(staple(&tls), Some(data("ocsp-nonext.der")));

    // One that says revoked replaces it: the earlier "good" one is not
    // kept on (what the CA says now is stapled).
    dir.write("leaf.ocsp", data("ocsp-revoked.der"));
    assert_eq!(tls.reload_if_changed().certificates, Ok(true));
    assert_eq!(staple(&tls), Some(data("ocsp-revoked.der")));

    // One of unknown form is refused; the previous one stays.
    dir.write("leaf.ocsp", data("leaf.pem"));
    let err = tls.reload_if_changed().certificates.expect_err("not OCSP");
    assert!(matches!(&err, TlsError::Ocsp { .. }), "{err}");
    assert_eq!(staple(&tls), Some(data("ocsp-revoked.der")));

    // An out-of-date one: the certificate is served without a staple.
    dir.write("leaf.ocsp", data("ocsp-expired.der"));
    assert_eq!(tls.reload_if_changed().certificates, Ok(true));
    assert_eq!(staple(&tls), None);
    let fresh = ServerTls::build(&server_cfg(vec![cert]), ALPN, None).expect("build");
    assert_eq!(staple(&fresh), None, "stale at build: not stapled");
}

#[test]
fn a_changed_client_ca_file_swaps_the_configuration_and_its_ticket_keys() {
    let t = three();
    let mut cfg = t.cfg();
    let old = Ca::new("Old clients");
    let path = t.dir.write("clients.pem", old.pem());
    cfg.client_auth = Some(ClientAuthCfg {
        ca: path.clone(),
        required: true,
    });
    let tls = ServerTls::build(&cfg, ALPN, None).expect("build");
    let before = tls.config();
    assert_eq!(tls.reload_if_changed().client_ca, Ok(false));

    // Rewritten (new inode) with the same certificate: kept as it is.
    let tmp = t.dir.write("clients.new", old.pem());
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(tls.reload_if_changed().client_ca, Ok(false));
    assert!(Arc::ptr_eq(&before, &tls.config()));

    // A new CA: a new configuration with new ticket keys; the certificates
    // (the resolver) are shared.
    let tmp = t.dir.write("clients.new", Ca::new("New clients").pem());
    std::fs::rename(&tmp, &path).unwrap();
    let reload = tls.reload_if_changed();
    assert_eq!(reload.client_ca, Ok(true));
    assert_eq!(reload.certificates, Ok(false));
    let after = tls.config();
    assert!(!Arc::ptr_eq(&before, &after));
    assert!(!Arc::ptr_eq(&before.ticketer, &after.ticketer));
    assert!(after.ticketer.enabled());
    assert_eq!(served(&tls, Some("b.test")), t.b.der);
    // A config reload with that same CA keeps the new keys.
    let next = ServerTls::build(&cfg, ALPN, Some(&tls)).expect("rebuild");
    assert!(Arc::ptr_eq(&after.ticketer, &next.config().ticketer));

    // Garbage: the error names the file, the configuration stays, and
    // every check retries.
    let tmp = t.dir.write("clients.new", "no certificate here\n");
    std::fs::rename(&tmp, &path).unwrap();
    assert!(matches!(
        tls.reload_if_changed().client_ca,
        Err(TlsError::Ca { path: p, .. }) if p == path
    ));
    assert!(Arc::ptr_eq(&after, &tls.config()));
    assert!(tls.reload_if_changed().client_ca.is_err());
    // A missing file too.
    std::fs::remove_file(&path).unwrap();
    assert!(tls.reload_if_changed().client_ca.is_err());
    assert!(Arc::ptr_eq(&after, &tls.config()));
}
