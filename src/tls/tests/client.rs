//! `ClientTls`: verification against a configured CA, the insecure mode,
//! client certificates (mTLS), and server names.

use super::*;
use crate::config::model::ClientAuthCfg;
use crate::tls::TlsError;
use crate::tls::client::ClientTls;
use crate::tls::server::ServerTls;

const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// An upstream server with a certificate for `upstream.test` issued by `ca`.
fn upstream(dir: &TempDir, ca: &Ca, client_auth: Option<ClientAuthCfg>) -> ServerTls {
    let leaf = ca.issue("upstream.test", &["upstream.test"], false);
    let mut cfg = server_cfg(vec![cert_cfg(dir, "upstream", &leaf, &[])]);
    cfg.client_auth = client_auth;
    ServerTls::build(&cfg, ALPN, None).expect("upstream TLS")
}

#[tokio::test]
async fn verifies_against_the_configured_ca() {
    let dir = TempDir::new();
    let ca = Ca::new("Upstream CA");
    let server = upstream(&dir, &ca, None);

    let client = ClientTls::build(&client_cfg(Some(dir.write("ca.pem", ca.pem()))), ALPN)
        .expect("client TLS");
    let name = client.server_name_for("upstream.test").expect("name");
    let hs = handshake(server.config(), client.config(), name)
        .await
        .expect("verified handshake");
    assert_eq!(hs.alpn.as_deref(), Some(&b"h2"[..]));

    // The right CA, the wrong name.
    let wrong_name = client.server_name_for("other.test").expect("name");
    let err = handshake(server.config(), client.config(), wrong_name)
        .await
        .expect_err("name mismatch");
    assert!(err.contains("client:"), "{err}");

    // Another CA.
    let other = Ca::new("Other CA");
    let stranger = ClientTls::build(&client_cfg(Some(dir.write("other.pem", other.pem()))), ALPN)
        .expect("client TLS");
    let name = stranger.server_name_for("upstream.test").expect("name");
    let err = handshake(server.config(), stranger.config(), name)
        .await
        .expect_err("unknown issuer");
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_certificate() {
    let dir = TempDir::new();
    let ca = Ca::new("Unknown CA");
    let server = upstream(&dir, &ca, None);
    let mut cfg = client_cfg(None);
    cfg.insecure_skip_verify = true;
    let client = ClientTls::build(&cfg, ALPN).expect("client TLS");
    // Neither the issuer nor the name is known.
    let name = client.server_name_for("127.0.0.1").expect("name");
    let hs = handshake(server.config(), client.config(), name)
        .await
        .expect("unverified handshake");
    assert!(hs.server_cert.is_some());
}

#[tokio::test]
async fn presents_the_client_certificate() {
    let dir = TempDir::new();
    let server_ca = Ca::new("Upstream CA");
    let client_ca = Ca::new("Proxy CA");
    let server = upstream(
        &dir,
        &server_ca,
        Some(ClientAuthCfg {
            ca: dir.write("clients.pem", client_ca.pem()),
            required: true,
        }),
    );
    let proxy = client_ca.issue("proxy", &[], true);
    let mut cfg = client_cfg(Some(dir.write("ca.pem", server_ca.pem())));
    cfg.client_cert = Some((
        dir.write("proxy.crt", &proxy.cert),
        dir.write("proxy.key", &proxy.key),
    ));
    let client = ClientTls::build(&cfg, ALPN).expect("client TLS");
    let name = client.server_name_for("upstream.test").expect("name");
    let hs = handshake(server.config(), client.config(), name)
        .await
        .expect("mTLS handshake");
    assert_eq!(hs.client_cert, Some(proxy.der.clone()));

    // Without it, the upstream refuses.
    cfg.client_cert = None;
    let anonymous = ClientTls::build(&cfg, ALPN).expect("client TLS");
    let name = anonymous.server_name_for("upstream.test").expect("name");
    handshake(server.config(), anonymous.config(), name)
        .await
        .expect_err("client certificate required");

    // A client key that is not the certificate's: named at build time.
    let other = client_ca.issue("other", &[], true);
    let (cert, key) = (dir.path("proxy.crt"), dir.write("other.key", &other.key));
    cfg.client_cert = Some((cert.clone(), key.clone()));
    assert_eq!(
        ClientTls::build(&cfg, ALPN).expect_err("mismatch"),
        TlsError::KeyMismatch { cert, key }
    );
}

#[test]
fn server_names_and_sni_setting() {
    let dir = TempDir::new();
    let ca = dir.write("ca.pem", Ca::new("CA").pem());
    let mut cfg = client_cfg(Some(ca.clone()));
    let client = ClientTls::build(&cfg, ALPN).expect("client TLS");
    assert!(client.config().enable_sni && client.send_sni);
    assert_eq!(
        client.server_name_for("api.internal").expect("dns"),
        dns("api.internal")
    );
    assert_eq!(
        client.server_name_for("10.0.0.1").expect("v4"),
        ServerName::IpAddress(std::net::Ipv4Addr::new(10, 0, 0, 1).into())
    );
    assert_eq!(
        client.server_name_for("[::1]").expect("v6"),
        ServerName::IpAddress(std::net::Ipv6Addr::LOCALHOST.into())
    );
    assert_eq!(
        client.server_name_for("::1").expect("v6"),
        ServerName::IpAddress(std::net::Ipv6Addr::LOCALHOST.into())
    );
    let err = client.server_name_for("bad name!").expect_err("invalid");
    assert!(matches!(err, TlsError::ServerName { .. }), "{err:?}");

    cfg.server_name = Some("svc.example".into());
    cfg.send_sni = false;
    let client = ClientTls::build(&cfg, ALPN).expect("client TLS");
    assert!(!client.config().enable_sni && !client.send_sni);
    assert_eq!(
        client.server_name_for("10.0.0.1").expect("configured"),
        dns("svc.example")
    );
    assert_eq!(
        client.config().alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn bad_ca_files_are_named() {
    let dir = TempDir::new();
    let missing = dir.path("missing.pem");
    let err = ClientTls::build(&client_cfg(Some(missing.clone())), ALPN).expect_err("missing");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{err}"
    );
    let empty = dir.write("empty.pem", "# nothing\n");
    let err = ClientTls::build(&client_cfg(Some(empty.clone())), ALPN).expect_err("empty");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid CA file {}: it contains no PEM certificate",
            empty.display()
        )
    );
}

/// Connection-cache keys are never shared by two configurations, not even
/// by one built after another was dropped (whose memory, and address, the
/// new one may get: the address was the key before).
#[test]
fn every_configuration_has_its_own_key() {
    let dir = TempDir::new();
    let cfg = client_cfg(Some(dir.write("ca.pem", Ca::new("CA").pem())));
    let mut keys = Vec::new();
    for _ in 0..4 {
        let client = ClientTls::build(&cfg, ALPN).expect("client TLS");
        keys.push(client.key());
        drop(client);
    }
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
}

#[tokio::test]
async fn a_changed_ca_file_rebuilds_the_configuration_new_connections_use() {
    let dir = TempDir::new();
    let ca = Ca::new("Upstream CA");
    let server = upstream(&dir, &ca, None);
    let path = dir.write("ca.pem", Ca::new("Other CA").pem());
    let client = ClientTls::build(&client_cfg(Some(path.clone())), ALPN).expect("client TLS");
    assert!(client.watches_files());
    assert_eq!(client.reload_if_changed(), Ok(false));
    let name = || client.server_name_for("upstream.test").expect("name");
    let err = handshake(server.config(), client.config(), name())
        .await
        .expect_err("unknown issuer");
    assert!(err.contains("UnknownIssuer"), "{err}");

    let replace = |text: &str| {
        let tmp = dir.write("ca.new", text);
        std::fs::rename(&tmp, &path).unwrap();
    };
    // The key of idle connections changes with the configuration.
    let first_key = client.key();
    assert_ne!(first_key, 0, "0 is plain TCP");
    replace(&ca.pem());
    assert_eq!(client.reload_if_changed(), Ok(true));
    let second_key = client.key();
    assert_ne!(
        second_key, first_key,
        "connections of the old CA file are not reused"
    );
    assert_eq!(client.reload_if_changed(), Ok(false));
    assert_eq!(client.key(), second_key, "nothing changed");
    handshake(server.config(), client.config(), name())
        .await
        .expect("verified against the new file");

    // A bad file: the error names it and the working configuration stays.
    replace("# nothing\n");
    let before = client.config();
    assert!(matches!(client.reload_if_changed(), Err(TlsError::Ca { path: p, .. }) if p == path));
    assert!(Arc::ptr_eq(&before, &client.config()));
    assert_eq!(client.key(), second_key, "the working configuration stays");
    handshake(server.config(), client.config(), name())
        .await
        .expect("still verified");

    // Nothing to watch: system roots (or none checked).
    let mut insecure = client_cfg(Some(path.clone()));
    insecure.insecure_skip_verify = true;
    assert!(
        !ClientTls::build(&insecure, ALPN)
            .expect("insecure")
            .watches_files()
    );
}

#[test]
fn a_reload_may_keep_a_configuration_only_with_the_same_settings_and_a_ca_file() {
    let dir = TempDir::new();
    let cfg = client_cfg(Some(dir.write("ca.pem", Ca::new("CA").pem())));
    let client = ClientTls::build(&cfg, ALPN).expect("client TLS");
    assert!(client.reusable_for(&cfg, ALPN));
    assert!(!client.reusable_for(&cfg, &[b"http/1.1"]), "other ALPN");
    let mut named = cfg.clone();
    named.server_name = Some("svc.internal".into());
    assert!(!client.reusable_for(&named, ALPN), "other settings");
    // Trust that must be re-established at every load.
    assert!(ClientTls::may_outlive_a_reload(&cfg));
    assert!(
        !ClientTls::may_outlive_a_reload(&client_cfg(None)),
        "system roots are read afresh"
    );
    let mut insecure = cfg.clone();
    insecure.insecure_skip_verify = true;
    assert!(
        !ClientTls::may_outlive_a_reload(&insecure),
        "warned about at every load"
    );
    let c = ClientTls::build(&insecure, ALPN).expect("insecure");
    assert!(!c.reusable_for(&insecure, ALPN));
}
