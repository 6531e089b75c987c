//! TLS listeners whose certificates change while the proxy runs: files
//! rewritten or replaced on disk (taken at the next check, bad ones ignored,
//! connections opened before the swap kept), certificates selected by their
//! new names, config reloads that point at missing or mismatched files
//! (refused, the old certificate serving on), and TLS 1.3 tickets that stay
//! valid across a reload. Client-CA reloads are in `tls_mtls.rs`.

mod common;

use std::sync::Arc;

use common::tls::*;
use common::*;
use rustls::HandshakeKind;

// ---------------------------------------------------------------------------
// Session tickets across a config reload
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn tls13_tickets_stay_valid_across_a_config_reload() {
    let site = Site::new();
    let be = backend("be");
    let text = web_config("", &site.tls(), be.addr);
    let mut proxy = Proxy::start(&text);
    let addr = proxy.addr_of("web");
    let cfg = site.client(TLS13, H1_ONLY);
    let (n, _) = https_get(addr, &cfg, SITE, "/", &[]).await.unwrap();
    assert_eq!(n.kind, Some(HandshakeKind::Full));

    let summary = proxy.reload(&text).expect("reload");
    assert_eq!(summary.kept, ["web"]);
    assert_eq!(proxy.addr_of("web"), addr);
    let (n, reply) = https_get(addr, &cfg, SITE, "/", &[]).await.unwrap();
    assert_eq!(
        n.kind,
        Some(HandshakeKind::Resumed),
        "a ticket issued before the reload resumes after it"
    );
    assert_eq!(reply.status, 200);
}

// ---------------------------------------------------------------------------
// Certificates reloaded from disk
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn certificate_files_changed_on_disk_are_reloaded_and_bad_ones_ignored() {
    let site = Site::new();
    let (ca, files) = (&site.ca, &site.files);
    let (_be, proxy) = web_proxy("", &site.tls());
    let addr = proxy.addr_of("web");
    let new = ca.issue(LeafSpec::server("cert-new", &[SITE, "new.example.com"]));
    let third = ca.issue(LeafSpec::server("cert-third", &[SITE, "third.example.com"]));
    let fourth = ca.issue(LeafSpec::server("cert-fourth", &[SITE]));
    let certs = [
        ("cert-old", &site.leaf),
        ("cert-new", &new),
        ("cert-third", &third),
        ("cert-fourth", &fourth),
    ];
    let served = || async { which(&served_leaf(addr, ca, SITE).await, &certs) };

    // A keep-alive connection opened (and used) before any change.
    let cfg = fresh_client(ca);
    let before = tls_connect(addr, &cfg, SITE).await.unwrap();
    assert_eq!(negotiated(&before).leaf, site.leaf.der);
    let mut before = H1::over(before).await;
    assert_eq!(before.get(SITE, "/", &[]).await.unwrap().status, 200);

    // Nothing changed: nothing reloaded.
    proxy.check_certificates();
    assert_eq!(served().await, "cert-old");

    // Rewritten in place with a new certificate and key.
    new.overwrite(files);
    assert_eq!(served().await, "cert-old", "no reload before the check");
    proxy.check_certificates();
    assert_eq!(
        served().await,
        "cert-new",
        "new handshakes get the new leaf"
    );
    let (_, reply) = https_get(addr, &cfg, "new.example.com", "/", &[])
        .await
        .expect("the new certificate's own name verifies");
    assert_eq!(reply.status, 200);

    // The connection opened before the swap keeps working.
    let reply = before.get(SITE, "/", &[]).await.expect("old connection");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-backend"), Some("be"));

    // A garbage key file: the last good certificate stays.
    std::fs::write(
        &files.key,
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    proxy.check_certificates();
    assert_eq!(
        served().await,
        "cert-new",
        "garbage key: keep the last good"
    );

    // Half an update (new certificate, key not yet written): refused...
    std::fs::write(&files.cert, &third.cert_pem).unwrap();
    proxy.check_certificates();
    assert_eq!(
        served().await,
        "cert-new",
        "mismatched key: keep the last good"
    );
    // ...and taken once the key arrives (the failed check retries).
    std::fs::write(&files.key, &third.key_pem).unwrap();
    proxy.check_certificates();
    assert_eq!(served().await, "cert-third");

    // Replaced by rename (how cert managers update files atomically).
    let tmp = fourth.write(&site.dir, "incoming");
    std::fs::rename(&tmp.cert, &files.cert).unwrap();
    std::fs::rename(&tmp.key, &files.key).unwrap();
    proxy.check_certificates();
    assert_eq!(served().await, "cert-fourth");

    let reply = before.get(SITE, "/", &[]).await.expect("old connection");
    assert_eq!(reply.status, 200, "still serving after three swaps");
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_reloaded_from_disk_are_selected_by_their_new_names() {
    let site = Site::new();
    let extra = site
        .ca
        .issue(LeafSpec::server("extra-v1", &["old-name.example.com"]));
    let files = extra.write(&site.dir, "extra");
    let (_be, proxy) = web_proxy("", &certificates(&[cert(&site.files), cert(&files)]));
    let addr = proxy.addr_of("web");
    let v2 = site
        .ca
        .issue(LeafSpec::server("extra-v2", &["new-name.example.com"]));
    let certs = [
        ("site", &site.leaf),
        ("extra-v1", &extra),
        ("extra-v2", &v2),
    ];
    let any = Arc::new(accept_any_config(&[]));
    let pick = |name: &'static str| {
        let any = any.clone();
        async move {
            let tls = tls_connect(addr, &any, name).await.unwrap();
            negotiated(&tls).leaf
        }
    };
    assert_eq!(
        which(&pick("old-name.example.com").await, &certs),
        "extra-v1"
    );
    assert_eq!(which(&pick("new-name.example.com").await, &certs), "site");

    v2.overwrite(&files);
    proxy.check_certificates();
    assert_eq!(
        which(&pick("new-name.example.com").await, &certs),
        "extra-v2"
    );
    assert_eq!(
        which(&pick("old-name.example.com").await, &certs),
        "site",
        "the old name no longer selects the replaced certificate"
    );
}

// ---------------------------------------------------------------------------
// Config reload with bad certificates
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn config_reload_with_a_bad_certificate_is_refused_and_the_old_one_serves() {
    let site = Site::new();
    let be = backend("be");
    let with = |tls: &str| web_config("", tls, be.addr);
    let mut proxy = Proxy::start(&with(&site.tls()));
    let addr = proxy.addr_of("web");
    let check_old_serves = || async {
        assert_eq!(served_leaf(addr, &site.ca, SITE).await, site.leaf.der);
        let (_, reply) = https_get(addr, &fresh_client(&site.ca), SITE, "/", &[])
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
    };

    let missing = site.dir.file("missing.pem");
    let err = proxy
        .reload(&with(&certificates(&[cert(&CertFiles {
            cert: missing.clone(),
            key: site.files.key.clone(),
        })])))
        .expect_err("a missing certificate file is refused");
    assert!(
        err.contains(&format!("cannot read {}", missing.display())),
        "names the file: {err}"
    );
    check_old_serves().await;

    let other = site.ca.issue(LeafSpec::server("other", &[SITE]));
    let other_files = other.write(&site.dir, "other");
    let err = proxy
        .reload(&with(&certificates(&[cert(&CertFiles {
            cert: other_files.cert.clone(),
            key: site.files.key.clone(),
        })])))
        .expect_err("a key of another certificate is refused");
    assert!(err.contains("does not match"), "{err}");
    check_old_serves().await;

    let garbage = site.dir.write("garbage.pem", "this is not PEM\n");
    let err = proxy
        .reload(&with(&certificates(&[cert(&CertFiles {
            cert: garbage.clone(),
            key: site.files.key.clone(),
        })])))
        .expect_err("a file without a certificate is refused");
    assert!(err.contains(&garbage.display().to_string()), "{err}");
    check_old_serves().await;

    // A good certificate in a new file is taken: the refusals above were
    // about the files, not reloads in general.
    proxy
        .reload(&with(&certificates(&[cert(&other_files)])))
        .expect("a valid certificate reloads");
    assert_eq!(served_leaf(addr, &site.ca, SITE).await, other.der);
}
