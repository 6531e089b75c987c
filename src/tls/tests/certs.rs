//! PEM loading, key matching, DNS names, trust roots and file stamps.

use super::*;
use crate::tls::TlsError;
use crate::tls::certs::*;

#[test]
fn every_supported_key_type_loads() {
    let dir = TempDir::new();
    for (name, alg) in [
        ("p256", &rcgen::PKCS_ECDSA_P256_SHA256),
        ("p384", &rcgen::PKCS_ECDSA_P384_SHA384),
        ("ed25519", &rcgen::PKCS_ED25519),
    ] {
        let pem = self_signed(alg, &[&format!("{name}.test")]);
        let cert = dir.write(&format!("{name}.crt"), &pem.cert);
        let key = dir.write(&format!("{name}.key"), &pem.key);
        let ck = load_certified_key(&cert, &key).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ck.cert[0], pem.der, "{name}");
    }
    // RSA (PKCS#1) and ECDSA in SEC1 after an `EC PARAMETERS` section, from openssl.
    for name in ["rsa", "sec1"] {
        let cert = testdata(&format!("{name}-cert.pem"));
        let key = testdata(&format!("{name}-key.pem"));
        load_certified_key(&cert, &key).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(matches!(
        load_key(&testdata("rsa-key.pem")),
        Ok(rustls::pki_types::PrivateKeyDer::Pkcs1(_))
    ));
    assert!(matches!(
        load_key(&testdata("sec1-key.pem")),
        Ok(rustls::pki_types::PrivateKeyDer::Sec1(_))
    ));
}

#[test]
fn chain_keeps_file_order_and_skips_other_sections() {
    let dir = TempDir::new();
    let leaf = p256(&["a.test"]);
    let other = p256(&["b.test"]);
    // A combined file: key first, then the chain.
    let path = dir.write(
        "combined.pem",
        format!("{}{}{}", leaf.key, leaf.cert, other.cert),
    );
    let chain = load_chain(&path).expect("chain");
    assert_eq!(chain, vec![leaf.der.clone(), other.der.clone()]);
    // And the key comes out of the same file.
    load_certified_key(&path, &path).expect("combined cert and key");
}

#[test]
fn errors_name_the_file() {
    let dir = TempDir::new();
    let missing = dir.path("nope.pem");
    let err = load_chain(&missing).expect_err("missing file");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );

    let pem = p256(&["a.test"]);
    let key_only = dir.write("key-only.pem", &pem.key);
    assert_eq!(
        load_chain(&key_only).expect_err("no cert").to_string(),
        format!("{} contains no PEM certificate", key_only.display())
    );

    let cert_only = dir.write("cert-only.pem", &pem.cert);
    assert_eq!(
        load_key(&cert_only).expect_err("no key").to_string(),
        format!(
            "{} contains no private key (expected PKCS#8, PKCS#1 or SEC1 PEM)",
            cert_only.display()
        )
    );

    let encrypted = testdata("encrypted-key.pem");
    let err = load_key(&encrypted).expect_err("encrypted");
    assert!(matches!(err, TlsError::UnsupportedKey { .. }), "{err:?}");
    assert!(err.to_string().contains("encrypted"), "{err}");

    let truncated = dir.write("truncated.pem", &pem.cert[..pem.cert.len() - 30]);
    let err = load_chain(&truncated).expect_err("truncated");
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("invalid PEM in {}", truncated.display()))
    );
}

#[test]
fn mismatched_key_is_refused() {
    let dir = TempDir::new();
    let a = p256(&["a.test"]);
    let b = p256(&["b.test"]);
    let cert = dir.write("a.crt", &a.cert);
    let key = dir.write("b.key", &b.key);
    let err = load_certified_key(&cert, &key).expect_err("mismatch");
    assert_eq!(
        err,
        TlsError::KeyMismatch {
            cert: cert.clone(),
            key: key.clone()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the private key in {} does not match the certificate in {}",
            key.display(),
            cert.display()
        )
    );
    // Same algorithm family is no excuse: an RSA key for an ECDSA cert too.
    let err = load_certified_key(&cert, &testdata("rsa-key.pem")).expect_err("mismatch");
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
}

#[test]
fn garbage_key_is_unsupported() {
    let dir = TempDir::new();
    let a = p256(&["a.test"]);
    let cert = dir.write("a.crt", &a.cert);
    let key = dir.write(
        "bad.key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let err = load_certified_key(&cert, &key).expect_err("garbage key");
    assert!(
        err.to_string()
            .starts_with(&format!("unsupported key type in {}: ", key.display())),
        "{err}"
    );
}

#[test]
fn dns_names_are_lower_cased_with_wildcards() {
    let pem = p256(&["Example.COM", "*.Example.com", "api.example.com"]);
    assert_eq!(
        dns_names(&pem.der).expect("names"),
        ["example.com", "*.example.com", "api.example.com"]
    );
    let err = dns_names(&rustls::pki_types::CertificateDer::from(vec![1, 2, 3]))
        .expect_err("not a certificate");
    assert!(matches!(err, TlsError::CertificateDer(_)), "{err:?}");
}

#[test]
fn roots_need_at_least_one_certificate() {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let other = Ca::new("Other CA");
    let path = dir.write("ca.pem", format!("{}{}", ca.pem(), other.pem()));
    assert_eq!(load_roots(&path).expect("roots").len(), 2);

    let empty = dir.write("empty.pem", "");
    assert_eq!(
        load_roots(&empty).expect_err("empty").to_string(),
        format!(
            "invalid CA file {}: it contains no PEM certificate",
            empty.display()
        )
    );
    let junk = dir.write(
        "junk.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let err = load_roots(&junk).expect_err("junk");
    assert!(
        err.to_string()
            .starts_with(&format!("invalid CA file {}: ", junk.display())),
        "{err}"
    );
}

#[test]
fn file_stamps_notice_rewrites_and_removals() {
    let dir = TempDir::new();
    let a = dir.write("a", "one");
    let b = dir.write("b", "two");
    let stamps = FileStamps::new([&a, &b]);
    assert!(!stamps.changed());
    assert_eq!(stamps.paths().count(), 2);

    dir.write("b", "three"); // new length
    assert!(stamps.changed());
    let stamps = FileStamps::new([&a, &b]);
    assert!(!stamps.changed());

    // Same length, replaced by rename: a different file.
    let tmp = dir.write("b.tmp", "four!");
    std::fs::rename(&tmp, &b).expect("rename");
    assert!(stamps.changed());
    let stamps = FileStamps::new([&a, &b]);

    std::fs::remove_file(&a).expect("remove");
    assert!(stamps.changed());
    // Unreadable when recorded: always worth a (failing) reload attempt.
    assert!(FileStamps::new([&a]).changed());
}

/// A self-signed P-256 certificate valid from `not_before` to `not_after`
/// (rcgen writes dates before 2050 as UTCTime, later ones as
/// GeneralizedTime).
fn valid_between(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Pem {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["dated.test".to_owned()]).expect("SAN");
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params.self_signed(&key).expect("self-signed");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

#[test]
fn validity_is_read_in_both_time_forms() {
    let secs = |y: i64, m: i64, d: i64| {
        // Days from 1970-01-01, for the dates used here.
        let days = (y - 1970) * 365
            + (y - 1969) / 4
            + [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][(m - 1) as usize]
            + if m > 2 && y % 4 == 0 { 1 } else { 0 }
            + d
            - 1;
        std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(days as u64 * 86_400)
    };
    let pem = valid_between((2020, 3, 1), (2060, 1, 2));
    assert_eq!(
        validity(pem.der.as_ref()),
        Some((secs(2020, 3, 1), secs(2060, 1, 2)))
    );
    assert_eq!(validity(b"not a certificate"), None);
}

#[test]
fn expired_and_future_certificates_are_named() {
    let now = std::time::SystemTime::now();
    let expired = valid_between((2019, 1, 1), (2021, 1, 1));
    let problem = validity_problem(expired.der.as_ref(), now).expect("expired");
    assert!(problem.contains("expired"), "{problem}");
    let future = valid_between((2090, 1, 1), (2095, 1, 1));
    let problem = validity_problem(future.der.as_ref(), now).expect("future");
    assert!(problem.contains("not valid"), "{problem}");
    let current = valid_between((2020, 1, 1), (2090, 1, 1));
    assert_eq!(validity_problem(current.der.as_ref(), now), None);
}
