//! TLS termination on HTTP listeners, end to end: which certificate SNI
//! selects, ALPN, protocol versions and key types, session resumption, and
//! handshakes that stall, speak plaintext or go idle. Certificates are
//! generated with rcgen at test time, the proxy runs in-process on
//! `127.0.0.1:0` in front of a demo backend, and real clients connect
//! (rustls via tokio-rustls and hyper, reqwest with a preconfigured rustls
//! config, and `curl` / `openssl s_client` where installed).
//!
//! Certificates are identified by comparing the DER the client received
//! with the DER that was issued, never by trusting the proxy's own view.
//! HTTPS at the HTTP level, reloads, client certificates and upstream TLS
//! have their own files (`tls_https.rs`, `tls_reload.rs`, `tls_mtls.rs`,
//! `tls_upstream.rs`).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tls::*;
use common::*;
use rustls::pki_types::CertificateDer;
use rustls::{HandshakeKind, ProtocolVersion};

// ---------------------------------------------------------------------------
// SNI
// ---------------------------------------------------------------------------

/// The DER of the certificate reqwest saw for `resp` (client built with
/// `https_client`, which enables `tls_info`).
fn reqwest_peer_cert(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info with a peer certificate")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn sni_selects_the_exact_wildcard_or_default_certificate() {
    let dir = TempDir::new();
    let ca = Ca::new("Test Server CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let default = ca.issue(LeafSpec::server("cert-default", &["default.example.com"]));
    // Served by its configured server_names only: its SAN
    // b-san-only.example.com must not select it.
    let b = ca.issue(LeafSpec::server(
        "cert-b",
        &["b.example.com", "*.b.example.org", "b-san-only.example.com"],
    ));
    // No server_names: selected by its wildcard SAN.
    let wild = ca.issue(LeafSpec::server("cert-wild", &["*.w.example.net"]));
    let (fd, fb, fw) = (
        default.write(&dir, "default"),
        b.write(&dir, "b"),
        wild.write(&dir, "wild"),
    );
    let (_be, proxy) = web_proxy(
        "",
        &certificates(&[
            cert(&fd),
            cert_named(&fb, &["b.example.com", "*.b.example.org"]),
            cert(&fw),
        ]),
    );
    let addr = proxy.addr_of("web");
    let certs = [
        ("cert-default", &default),
        ("cert-b", &b),
        ("cert-wild", &wild),
    ];

    // Which leaf each ClientHello gets (any certificate accepted, so a
    // wrong pick shows up as a wrong leaf rather than a handshake error).
    let any = Arc::new(accept_any_config(&[]));
    let mut no_sni = accept_any_config(&[]);
    no_sni.enable_sni = false;
    let no_sni = Arc::new(no_sni);
    let cases: &[(&str, &Arc<rustls::ClientConfig>, &str)] = &[
        ("default.example.com", &any, "cert-default"),
        ("b.example.com", &any, "cert-b"),
        ("B.Example.COM", &any, "cert-b"),
        ("x.b.example.org", &any, "cert-b"),
        ("b-san-only.example.com", &any, "cert-default"),
        ("y.w.example.net", &any, "cert-wild"),
        // A wildcard covers exactly one label.
        ("a.y.w.example.net", &any, "cert-default"),
        ("w.example.net", &any, "cert-default"),
        ("nobody.example", &any, "cert-default"),
        // No SNI at all: SNI disabled, and an IP address (never sent as SNI).
        ("default.example.com", &no_sni, "cert-default"),
        ("127.0.0.1", &any, "cert-default"),
    ];
    for (name, cfg, want) in cases {
        let sni = if Arc::ptr_eq(cfg, &no_sni) {
            "<none>"
        } else {
            name
        };
        let tls = tls_connect(addr, cfg, name)
            .await
            .unwrap_or_else(|e| panic!("handshake with SNI {sni}: {e}"));
        let got = which(&negotiated(&tls).leaf, &certs);
        assert_eq!(got, *want, "certificate for SNI {sni}");
    }

    // Real HTTPS requests, verifying the chain and name, through each
    // certificate: the request reaches the backend.
    let names = [
        ("default.example.com", "cert-default"),
        ("b.example.com", "cert-b"),
        ("x.b.example.org", "cert-b"),
        ("y.w.example.net", "cert-wild"),
    ];
    let client = https_client(
        client_config(ca.roots(), BOTH, H2_H1, None),
        &names.map(|(n, _)| n),
        addr,
    );
    for (name, want) in names {
        let resp = client
            .get(proxy.https_url("web", name, "/"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET https://{name}: {}", error_chain(&e)));
        assert_eq!(resp.status(), 200, "via {name}");
        assert_eq!(header_value(&resp, "x-backend"), Some("be"), "via {name}");
        let leaf = CertificateDer::from(reqwest_peer_cert(&resp));
        assert_eq!(
            which(&leaf, &certs),
            want,
            "reqwest's certificate for {name}"
        );
    }
    let mut cfg = client_config(ca.roots(), BOTH, H2_H1, None);
    cfg.enable_sni = false;
    let no_sni_client = https_client(cfg, &["default.example.com"], addr);
    let resp = no_sni_client
        .get(proxy.https_url("web", "default.example.com", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header_value(&resp, "x-backend"), Some("be"));

    // An independent TLS stack agrees (chain verified by OpenSSL).
    if have_tool("openssl", "openssl s_client SNI check") {
        let connect = addr.to_string();
        let ca_arg = ca_file.to_str().unwrap();
        for (sni_args, cn) in [
            (vec!["-servername", "x.b.example.org"], "cert-b"),
            (vec!["-servername", "y.w.example.net"], "cert-wild"),
            (vec!["-noservername"], "cert-default"),
        ] {
            let mut args = vec!["s_client", "-connect", &connect, "-CAfile", ca_arg];
            args.extend(&sni_args);
            let (_, out, err) = run_tool("openssl", &args).await;
            assert!(
                out.contains(&format!("subject=CN = {cn}")),
                "openssl {sni_args:?}: expected {cn}\nstdout:\n{out}\nstderr:\n{err}"
            );
            assert!(
                out.contains("Verify return code: 0 (ok)"),
                "openssl {sni_args:?} verification:\n{out}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// ALPN
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn alpn_negotiates_http2_by_default_and_http1_when_disabled() {
    let site = Site::new();
    let be = backend("be");
    // "h2" omits `http2` (default true with TLS); "h1" turns it off.
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener("h2", "", &site.tls(), "p"),
            listener("h1", "http2 = false", &site.tls(), "p"),
            pool("p", &[be.addr], ""),
        ],
    ));
    let (h2_addr, h1_addr) = (proxy.addr_of("h2"), proxy.addr_of("h1"));

    // What ALPN settles on, seen by a rustls client.
    let offer_both = site.client(BOTH, H2_H1);
    let tls = tls_connect(h2_addr, &offer_both, SITE).await.unwrap();
    assert_eq!(negotiated(&tls).alpn.as_deref(), Some(&b"h2"[..]));
    let tls = tls_connect(h1_addr, &offer_both, SITE).await.unwrap();
    assert_eq!(negotiated(&tls).alpn.as_deref(), Some(&b"http/1.1"[..]));
    // A client offering no ALPN at all gets HTTP/1.1 on the h2 listener.
    let tls = tls_connect(h2_addr, &site.client(BOTH, &[]), SITE)
        .await
        .unwrap();
    assert_eq!(negotiated(&tls).alpn, None);
    let reply = H1::over(tls).await.get(SITE, "/echo", &[]).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.version, http::Version::HTTP_11);
    // A client offering only `http/1.0` (`curl --http1.0`) gets it, as
    // from NGINX, on both listeners, and is served.
    for addr in [h2_addr, h1_addr] {
        let tls = tls_connect(addr, &site.client(BOTH, &[b"spdy/3", b"http/1.0"]), SITE)
            .await
            .unwrap();
        assert_eq!(negotiated(&tls).alpn.as_deref(), Some(&b"http/1.0"[..]));
        let reply = H1::over(tls).await.get(SITE, "/echo", &[]).await.unwrap();
        assert_eq!(reply.status, 200);
    }

    // reqwest speaks what was negotiated; the backend gets HTTP/1.1 either way.
    let client = https_client(
        client_config(site.ca.roots(), BOTH, H2_H1, None),
        &[SITE],
        h2_addr,
    );
    for (listener, version) in [
        ("h2", http::Version::HTTP_2),
        ("h1", http::Version::HTTP_11),
    ] {
        let resp = client
            .get(proxy.https_url(listener, SITE, "/echo"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{listener}");
        assert_eq!(resp.version(), version, "{listener}");
        assert_eq!(header_value(&resp, "x-backend"), Some("be"));
        let body = resp.text().await.unwrap();
        assert!(
            body.lines().nth(1).unwrap().ends_with("HTTP/1.1"),
            "backend request line: {body}"
        );
    }

    if have_tool("curl", "curl --http2 check") {
        for (listener, want) in [("h2", "2"), ("h1", "1.1")] {
            let port = proxy.addr_of(listener).port();
            let resolve = format!("{SITE}:{port}:127.0.0.1");
            let url = proxy.https_url(listener, SITE, "/");
            let (ok, out, err) = run_tool(
                "curl",
                &[
                    "-sS",
                    "--http2",
                    "--cacert",
                    site.ca_file.to_str().unwrap(),
                    "--resolve",
                    &resolve,
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_version} %{response_code}",
                    &url,
                ],
            )
            .await;
            assert!(ok, "curl {url}: {err}");
            assert_eq!(out, format!("{want} 200"), "curl --http2 on {listener}");
        }
    }
}

// ---------------------------------------------------------------------------
// Protocol versions and key types
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn min_version_decides_whether_tls12_clients_are_accepted() {
    let site = Site::new();
    let be = backend("be");
    let min = |v: &str| format!("{}\n  min_version = \"{v}\"", site.tls());
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener("v12", "", &min("1.2"), "p"),
            listener("v13", "", &min("1.3"), "p"),
            // No min_version: 1.2 is the default.
            listener("default", "", &site.tls(), "p"),
            pool("p", &[be.addr], ""),
        ],
    ));
    let tls12 = site.client(TLS12, H1_ONLY);
    let tls13 = site.client(TLS13, H1_ONLY);
    let both = site.client(BOTH, H1_ONLY);

    for l in ["v12", "default"] {
        let (n, reply) = https_get(proxy.addr_of(l), &tls12, SITE, "/", &[])
            .await
            .unwrap_or_else(|e| panic!("TLS 1.2 client on {l}: {e}"));
        assert_eq!(n.version, Some(ProtocolVersion::TLSv1_2), "{l}");
        assert_eq!(reply.status, 200, "{l}");
        assert_eq!(reply.header("x-backend"), Some("be"));
    }
    let err = https_get(proxy.addr_of("v13"), &tls12, SITE, "/", &[])
        .await
        .expect_err("a TLS 1.2-only client must be refused by min_version 1.3");
    assert!(
        err.contains("ProtocolVersion") || err.contains("protocol version"),
        "refused for the protocol version: {err}"
    );

    for l in ["v12", "v13", "default"] {
        for (cfg, what) in [(&tls13, "TLS 1.3-only"), (&both, "1.2+1.3")] {
            let (n, reply) = https_get(proxy.addr_of(l), cfg, SITE, "/", &[])
                .await
                .unwrap_or_else(|e| panic!("{what} client on {l}: {e}"));
            assert_eq!(n.version, Some(ProtocolVersion::TLSv1_3), "{what} on {l}");
            assert_eq!(reply.status, 200);
        }
    }
    assert_eq!(
        be.hits(),
        2 + 6,
        "every accepted request reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_prefers_aes_128_gcm_and_accepts_the_other_aead_suites() {
    use rustls::CipherSuite as C;
    let site = Site::new();
    let (_be, proxy) = web_proxy("", &site.tls());
    let addr = proxy.addr_of("web");
    let suite = |versions, suites: &[C]| {
        let cfg = Arc::new(client_config_suites(site.ca.roots(), versions, suites));
        async move {
            let (n, reply) = https_get(addr, &cfg, SITE, "/", &[]).await.unwrap();
            assert_eq!(reply.status, 200);
            n.suite
        }
    };
    // rustls's own client order puts AES-256 first: the server's wins.
    let default = site.client(BOTH, H1_ONLY);
    let (n, _) = https_get(addr, &default, SITE, "/", &[]).await.unwrap();
    assert_eq!(n.suite, Some(C::TLS13_AES_128_GCM_SHA256));
    // Whatever the client's order, in either version.
    for (versions, offered, chosen) in [
        (
            TLS13,
            [
                C::TLS13_AES_256_GCM_SHA384,
                C::TLS13_CHACHA20_POLY1305_SHA256,
                C::TLS13_AES_128_GCM_SHA256,
            ],
            C::TLS13_AES_128_GCM_SHA256,
        ),
        (
            TLS12,
            [
                C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
    ] {
        assert_eq!(suite(versions, &offered).await, Some(chosen));
    }
    // Clients that offer only another AEAD suite get it.
    for (versions, only) in [
        (TLS13, C::TLS13_AES_256_GCM_SHA384),
        (TLS13, C::TLS13_CHACHA20_POLY1305_SHA256),
        (TLS12, C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        (TLS12, C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ] {
        assert_eq!(suite(versions, &[only]).await, Some(only));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cipher_suites_restrict_and_order_what_a_listener_offers() {
    use rustls::CipherSuite as C;
    let site = Site::new();
    let tls = format!(
        "{}\n  cipher_suites = [\"TLS_AES_256_GCM_SHA384\", \"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\"]",
        site.tls()
    );
    let (_be, proxy) = web_proxy("", &tls);
    let addr = proxy.addr_of("web");
    let get = |versions, suites: &[C]| {
        let cfg = Arc::new(client_config_suites(site.ca.roots(), versions, suites));
        async move {
            https_get(addr, &cfg, SITE, "/", &[])
                .await
                .map(|(n, r)| (n.suite, r.status.as_u16()))
        }
    };
    // Every suite offered, AES-128 first: the one TLS 1.3 suite listed.
    let all13 = [C::TLS13_AES_128_GCM_SHA256, C::TLS13_AES_256_GCM_SHA384];
    assert_eq!(
        get(TLS13, &all13).await,
        Ok((Some(C::TLS13_AES_256_GCM_SHA384), 200))
    );
    let all12 = [
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ];
    assert_eq!(
        get(TLS12, &all12).await,
        Ok((Some(C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), 200))
    );
    // Suites not listed are not offered.
    for (versions, only) in [
        (TLS13, C::TLS13_AES_128_GCM_SHA256),
        (TLS12, C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ] {
        let result = get(versions, &[only]).await;
        assert!(result.is_err(), "{only:?} must be refused: {result:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ecdsa_ed25519_and_rsa_certificates_each_serve_handshakes() {
    let dir = TempDir::new();
    let ca = Ca::new("Test Server CA");
    let be = backend("be");
    let mut kinds: Vec<(&str, Issued, CertFiles)> = Vec::new();
    for (label, alg) in [
        ("p256", Alg::P256),
        ("p384", Alg::P384),
        ("ed25519", Alg::Ed25519),
    ] {
        let leaf = ca.issue(LeafSpec::server(label, &[SITE]).alg(alg));
        let files = leaf.write(&dir, label);
        kinds.push((label, leaf, files));
    }
    // RSA keys cannot be generated with rcgen on ring; openssl makes one.
    // The key files are also written in the "traditional" encodings the
    // proxy accepts besides PKCS#8: PKCS#1 for RSA, SEC1 for EC.
    if have_tool("openssl", "RSA certificate and PKCS#1/SEC1 key files") {
        let key = openssl_rsa_key().await.expect("openssl RSA key");
        let rsa = ca.issue(LeafSpec::server("rsa", &[SITE]).key(key));
        let mut files = rsa.write(&dir, "rsa");
        files.key = openssl_traditional(&dir, &rsa.key_pem, "rsa-pkcs1.key").await;
        let key_text = std::fs::read_to_string(&files.key).unwrap();
        assert!(key_text.contains("BEGIN RSA PRIVATE KEY"), "{key_text}");
        kinds.push(("rsa-pkcs1", rsa, files));

        let ec = ca.issue(LeafSpec::server("p256-sec1", &[SITE]));
        let mut files = ec.write(&dir, "p256-sec1");
        files.key = openssl_traditional(&dir, &ec.key_pem, "p256-sec1.key").await;
        let key_text = std::fs::read_to_string(&files.key).unwrap();
        assert!(key_text.contains("BEGIN EC PRIVATE KEY"), "{key_text}");
        kinds.push(("p256-sec1", ec, files));
    }
    let mut sections: Vec<String> = kinds
        .iter()
        .map(|(label, _, files)| listener(label, "", &certificates(&[cert(files)]), "p"))
        .collect();
    sections.push(pool("p", &[be.addr], ""));
    let proxy = Proxy::start(&proxy_config(2, &sections));

    for (label, leaf, _) in &kinds {
        for (versions, v) in [
            (TLS13, ProtocolVersion::TLSv1_3),
            (TLS12, ProtocolVersion::TLSv1_2),
        ] {
            let cfg = Arc::new(client_config(ca.roots(), versions, H1_ONLY, None));
            let (n, reply) = https_get(proxy.addr_of(label), &cfg, SITE, "/", &[])
                .await
                .unwrap_or_else(|e| panic!("{label} over {v:?}: {e}"));
            assert_eq!(n.leaf, leaf.der, "{label} serves its certificate");
            assert_eq!(n.version, Some(v));
            assert_eq!(reply.status, 200, "{label} over {v:?}");
        }
    }
}

/// An ECDSA and an RSA certificate for one name: a TLS 1.2-only client
/// that lists ECDSA signature schemes (rustls does) but offers only an
/// ECDHE_RSA suite gets the RSA certificate and a handshake, not the
/// ECDSA one and a failure; one offering an ECDHE_ECDSA suite gets ECDSA.
#[tokio::test(flavor = "multi_thread")]
async fn a_tls12_client_gets_the_certificate_its_cipher_suites_can_carry() {
    use rustls::CipherSuite as C;
    if !have_tool("openssl", "an RSA certificate") {
        return;
    }
    let dir = TempDir::new();
    let ca = Ca::new("Test Server CA");
    let be = backend("be");
    let ecdsa = ca.issue(LeafSpec::server("ecdsa", &[SITE]));
    let key = openssl_rsa_key().await.expect("openssl RSA key");
    let rsa = ca.issue(LeafSpec::server("rsa", &[SITE]).key(key));
    let files = [ecdsa.write(&dir, "ecdsa"), rsa.write(&dir, "rsa")];
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener(
                "web",
                "",
                &certificates(&[cert(&files[0]), cert(&files[1])]),
                "p",
            ),
            pool("p", &[be.addr], ""),
        ],
    ));
    for (suite, leaf) in [
        (C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, &rsa),
        (C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, &ecdsa),
    ] {
        let cfg = Arc::new(client_config_suites(ca.roots(), TLS12, &[suite]));
        let (n, reply) = https_get(proxy.addr_of("web"), &cfg, SITE, "/", &[])
            .await
            .unwrap_or_else(|e| panic!("{suite:?}: {e}"));
        assert_eq!(n.leaf, leaf.der, "{suite:?}");
        assert_eq!(reply.status, 200);
    }
}

// ---------------------------------------------------------------------------
// Session resumption
// ---------------------------------------------------------------------------

/// Two connections from the same client configuration, one request each
/// (reading the first response also reads the TLS 1.3 tickets); returns
/// both handshake kinds.
async fn two_connections(
    addr: SocketAddr,
    cfg: &Arc<rustls::ClientConfig>,
) -> (Option<HandshakeKind>, Option<HandshakeKind>) {
    let mut kinds = Vec::new();
    for i in 0..2 {
        let (n, reply) = https_get(addr, cfg, SITE, "/", &[])
            .await
            .unwrap_or_else(|e| panic!("connection #{i}: {e}"));
        assert_eq!(reply.status, 200);
        kinds.push(n.kind);
    }
    (kinds[0], kinds[1])
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_resume_over_tls13_and_tls12_with_and_without_tickets() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            // session_tickets defaults to true.
            listener("tickets", "", &site.tls(), "p"),
            listener(
                "no-tickets",
                "",
                &format!("{}\n  session_tickets = false", site.tls()),
                "p",
            ),
            pool("p", &[be.addr], ""),
        ],
    ));
    for l in ["tickets", "no-tickets"] {
        for (versions, v) in [(TLS13, "TLS 1.3"), (TLS12, "TLS 1.2")] {
            let cfg = site.client(versions, H1_ONLY);
            let kinds = two_connections(proxy.addr_of(l), &cfg).await;
            assert_eq!(
                kinds,
                (Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)),
                "{v} on listener {l}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Handshake robustness
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_handshake_is_closed_after_request_header_timeout() {
    let site = Site::new();
    let (_be, proxy) = web_proxy("request_header_timeout = \"300ms\"", &site.tls());
    let addr = proxy.addr_of("web");
    // Silent, and half a ClientHello (a TLS record header promising more).
    for (what, bytes) in [
        ("silent client", &b""[..]),
        (
            "partial ClientHello",
            &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..],
        ),
    ] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, bytes)
            .await
            .unwrap();
        let start = Instant::now();
        let rest = wait_closed(&mut s, Duration::from_secs(10)).await;
        let took = start.elapsed();
        assert!(rest.is_some(), "{what}: still open after 10 s");
        assert!(
            took >= Duration::from_millis(250),
            "{what}: closed after {took:?}, before the timeout"
        );
    }
    // The listener still serves.
    let (_, reply) = https_get(addr, &site.client(BOTH, H1_ONLY), SITE, "/", &[])
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_tls_keepalive_connections_close_after_idle_timeout() {
    let site = Site::new();
    let (_be, proxy) = web_proxy("idle_timeout = \"300ms\"", &site.tls());
    let addr = proxy.addr_of("web");

    let tls = tls_connect(addr, &site.client(BOTH, H1_ONLY), SITE)
        .await
        .unwrap();
    let mut h1 = H1::over(tls).await;
    assert_eq!(h1.get(SITE, "/", &[]).await.unwrap().status, 200);
    let start = Instant::now();
    assert!(
        h1.closed_within(Duration::from_secs(10)).await,
        "HTTP/1.1 over TLS: idle connection still open after 10 s"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );

    let tls = tls_connect(addr, &site.client(BOTH, &[b"h2"]), SITE)
        .await
        .unwrap();
    assert_eq!(negotiated(&tls).alpn.as_deref(), Some(&b"h2"[..]));
    let mut h2 = H2::over(tls).await;
    assert_eq!(h2.get(SITE, "/").await.unwrap().status, 200);
    let start = Instant::now();
    assert!(
        h2.closed_within(Duration::from_secs(10)).await,
        "HTTP/2 over TLS: idle connection still open after 10 s"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}
