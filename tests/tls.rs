//! TLS termination and upstream TLS, end to end: certificates generated
//! with rcgen at test time (in a temp directory removed at the end), the
//! proxy started in-process on `127.0.0.1:0`, demo backends and TLS
//! upstreams on ephemeral ports, and real clients (rustls via tokio-rustls
//! and hyper, reqwest with a preconfigured rustls config, and `curl` /
//! `openssl s_client` where installed).
//!
//! Certificates are identified by comparing the DER the client received
//! with the DER that was issued, never by trusting the proxy's own view.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tls::*;
use common::*;
use rustls::pki_types::CertificateDer;
use rustls::{HandshakeKind, ProtocolVersion};

const SITE: &str = "site.example.com";
const H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
const H1_ONLY: &[&[u8]] = &[b"http/1.1"];

// ---------------------------------------------------------------------------
// Config text
// ---------------------------------------------------------------------------

fn config(body: &str) -> String {
    format!("[global]\nworkers = 2\n{body}")
}

/// An HTTP listener on 127.0.0.1:0 with `extra` keys, `[listener.tls]`
/// holding `tls` (none when empty) and one catch-all route to `pool`.
fn listener(name: &str, extra: &str, tls: &str, pool: &str) -> String {
    let tls = if tls.is_empty() {
        String::new()
    } else {
        format!("  [listener.tls]\n  {tls}\n")
    };
    format!(
        r#"
[[listener]]
name = "{name}"
address = "127.0.0.1:0"
access_log = false
{extra}
{tls}
  [[listener.route]]
  name = "all"
  pool = "{pool}"
"#
    )
}

fn pool(name: &str, addr: impl std::fmt::Display, extra: &str) -> String {
    format!("\n[[pool]]\nname = \"{name}\"\nendpoints = [{{ address = \"{addr}\" }}]\n{extra}\n")
}

/// `{ cert = "...", key = "..." }`.
fn cert(f: &CertFiles) -> String {
    format!(
        "{{ cert = {}, key = {} }}",
        toml_path(&f.cert),
        toml_path(&f.key)
    )
}

/// `{ cert = "...", key = "...", server_names = [...] }`.
fn cert_named(f: &CertFiles, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "{{ cert = {}, key = {}, server_names = [{}] }}",
        toml_path(&f.cert),
        toml_path(&f.key),
        names.join(", ")
    )
}

fn certificates(entries: &[String]) -> String {
    format!("certificates = [\n    {},\n  ]", entries.join(",\n    "))
}

// ---------------------------------------------------------------------------
// Fixtures and small helpers
// ---------------------------------------------------------------------------

/// A temp directory, a CA and a server certificate for `site.example.com`.
struct Site {
    dir: TempDir,
    ca: Ca,
    ca_file: std::path::PathBuf,
    leaf: Issued,
    files: CertFiles,
}

impl Site {
    fn new() -> Site {
        let dir = TempDir::new();
        let ca = Ca::new("Test Server CA");
        let ca_file = ca.write(&dir, "ca.pem");
        let leaf = ca.issue(LeafSpec::server("site", &[SITE]));
        let files = leaf.write(&dir, "site");
        Site {
            dir,
            ca,
            ca_file,
            leaf,
            files,
        }
    }

    /// `certificates = [ site ]`.
    fn tls(&self) -> String {
        certificates(&[cert(&self.files)])
    }

    /// A verifying client for this site's CA.
    fn client(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        Arc::new(client_config(self.ca.roots(), versions, alpn, None))
    }
}

/// A verifying client without session resumption: every handshake is a
/// full one, so the certificate it reports is the one served right now.
fn fresh_client(ca: &Ca) -> Arc<rustls::ClientConfig> {
    let mut c = client_config(ca.roots(), BOTH, H1_ONLY, None);
    c.resumption = rustls::client::Resumption::disabled();
    Arc::new(c)
}

/// The leaf a new full handshake for `name` gets.
async fn served_leaf(addr: SocketAddr, ca: &Ca, name: &str) -> CertificateDer<'static> {
    let tls = tls_connect(addr, &fresh_client(ca), name)
        .await
        .unwrap_or_else(|e| panic!("handshake for {name}: {}", error_chain(&e)));
    negotiated(&tls).leaf
}

/// Which of `certs` `leaf` is (by DER), for readable assertions.
fn which<'a>(leaf: &CertificateDer<'_>, certs: &[(&'a str, &Issued)]) -> &'a str {
    certs
        .iter()
        .find(|(_, c)| c.der == *leaf)
        .map_or("<unknown certificate>", |(n, _)| n)
}

/// The DER of the certificate reqwest saw for `resp` (client built with
/// `https_client`, which enables `tls_info`).
fn reqwest_peer_cert(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info with a peer certificate")
        .to_vec()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Polls `cond` every 5 ms until it holds or 10 s pass.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------
// 1. SNI
// ---------------------------------------------------------------------------

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
    let be = backend("be");
    let tls = certificates(&[
        cert(&fd),
        cert_named(&fb, &["b.example.com", "*.b.example.org"]),
        cert(&fw),
    ]);
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "", &tls, "p"),
        pool("p", be.addr, "")
    )));
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
        assert_eq!(header(&resp, "x-backend"), Some("be"), "via {name}");
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
    assert_eq!(header(&resp, "x-backend"), Some("be"));

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
// 2. ALPN
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn alpn_negotiates_http2_by_default_and_http1_when_disabled() {
    let site = Site::new();
    let be = backend("be");
    // "h2" omits `http2` (default true with TLS); "h1" turns it off.
    let proxy = Proxy::start(&config(&format!(
        "{}{}{}",
        listener("h2", "", &site.tls(), "p"),
        listener("h1", "http2 = false", &site.tls(), "p"),
        pool("p", be.addr, "")
    )));
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
        assert_eq!(header(&resp, "x-backend"), Some("be"));
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
// 3. Protocol versions and key types
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn min_version_decides_whether_tls12_clients_are_accepted() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}{}{}",
        listener(
            "v12",
            "",
            &format!("{}\n  min_version = \"1.2\"", site.tls()),
            "p"
        ),
        listener(
            "v13",
            "",
            &format!("{}\n  min_version = \"1.3\"", site.tls()),
            "p"
        ),
        // No min_version: 1.2 is the default.
        listener("default", "", &site.tls(), "p"),
        pool("p", be.addr, "")
    )));
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
    let listeners: String = kinds
        .iter()
        .map(|(label, _, files)| listener(label, "", &certificates(&[cert(files)]), "p"))
        .collect();
    let proxy = Proxy::start(&config(&format!("{listeners}{}", pool("p", be.addr, ""))));

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

// ---------------------------------------------------------------------------
// 4. Session resumption
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
    let proxy = Proxy::start(&config(&format!(
        "{}{}{}",
        // session_tickets defaults to true.
        listener("tickets", "", &site.tls(), "p"),
        listener(
            "no-tickets",
            "",
            &format!("{}\n  session_tickets = false", site.tls()),
            "p"
        ),
        pool("p", be.addr, "")
    )));
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

#[tokio::test(flavor = "multi_thread")]
async fn tls13_tickets_stay_valid_across_a_config_reload() {
    let site = Site::new();
    let be = backend("be");
    let text = config(&format!(
        "{}{}",
        listener("web", "", &site.tls(), "p"),
        pool("p", be.addr, "")
    ));
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
// 5. Certificates reloaded from disk
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn certificate_files_changed_on_disk_are_reloaded_and_bad_ones_ignored() {
    let site = Site::new();
    let (ca, files) = (&site.ca, &site.files);
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "", &site.tls(), "p"),
        pool("p", be.addr, "")
    )));
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

// ---------------------------------------------------------------------------
// 6. Config reload with bad certificates
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn config_reload_with_a_bad_certificate_is_refused_and_the_old_one_serves() {
    let site = Site::new();
    let be = backend("be");
    let with = |tls: &str| {
        config(&format!(
            "{}{}",
            listener("web", "", tls, "p"),
            pool("p", be.addr, "")
        ))
    };
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

// ---------------------------------------------------------------------------
// 7. HSTS
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn hsts_is_added_to_every_response_of_listeners_that_set_it() {
    let site = Site::new();
    let be = backend("be");
    let hsts = "max-age=31536000; includeSubDomains";
    // Only /app is routed: other paths get the proxy's own 404.
    let routed = |name: &str, tls: &str| {
        format!(
            r#"
[[listener]]
name = "{name}"
address = "127.0.0.1:0"
access_log = false
  [listener.tls]
  {tls}
  [[listener.route]]
  name = "app"
  path_prefix = "/app"
  pool = "p"
"#
        )
    };
    let proxy = Proxy::start(&config(&format!(
        "{}{}{}",
        routed("hsts", &format!("{}\n  hsts = \"{hsts}\"", site.tls())),
        routed("plain", &site.tls()),
        pool("p", be.addr, "")
    )));
    let h2 = https_client(
        client_config(site.ca.roots(), BOTH, H2_H1, None),
        &[SITE],
        proxy.addr_of("hsts"),
    );
    let h1 = site.client(BOTH, H1_ONLY);
    for (listener, want) in [("hsts", Some(hsts)), ("plain", None)] {
        for (path, status) in [("/app", 200), ("/nothing-here", 404)] {
            let resp = h2
                .get(proxy.https_url(listener, SITE, path))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.version(), http::Version::HTTP_2);
            assert_eq!(resp.status(), status, "{listener}{path}");
            assert_eq!(
                header(&resp, "strict-transport-security"),
                want,
                "HTTP/2 {listener}{path}"
            );
            let (_, reply) = https_get(proxy.addr_of(listener), &h1, SITE, path, &[])
                .await
                .unwrap();
            assert_eq!(reply.status, status);
            assert_eq!(
                reply.header("strict-transport-security"),
                want,
                "HTTP/1.1 {listener}{path}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 8. HTTP→HTTPS redirect listener
// ---------------------------------------------------------------------------

fn location(resp: &str) -> Option<&str> {
    resp.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location").then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_listener_answers_308_to_https_with_host_path_and_query() {
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}{}",
        listener("redirect", "https_redirect = 8443", "", "p"),
        listener("redirect443", "https_redirect = 443", "", "p"),
        pool("p", be.addr, "")
    )));
    let r = proxy.addr_of("redirect");
    let cases: &[(&str, &[u8], u16, Option<&str>)] = &[
        (
            "origin form",
            b"GET /x?y=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            308,
            Some("https://example.com:8443/x?y=1"),
        ),
        (
            "Host with a port",
            b"GET /x?y=1 HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n",
            308,
            Some("https://example.com:8443/x?y=1"),
        ),
        (
            "IPv6 literal",
            b"GET /a/b HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
            308,
            Some("https://[::1]:8443/a/b"),
        ),
        (
            "absolute form",
            b"GET http://abs.example.com/p?q=2 HTTP/1.1\r\nHost: abs.example.com\r\nConnection: close\r\n\r\n",
            308,
            Some("https://abs.example.com:8443/p?q=2"),
        ),
        (
            "POST keeps its method with 308",
            b"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            308,
            Some("https://example.com:8443/form"),
        ),
        (
            // Asterisk form: no path to keep; the server's root.
            "OPTIONS *",
            b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            308,
            Some("https://example.com:8443/"),
        ),
        (
            "HTTP/1.0 without Host",
            b"GET /x HTTP/1.0\r\n\r\n",
            400,
            None,
        ),
    ];
    for (what, req, status, loc) in cases {
        let resp = raw(r, req).await;
        assert_eq!(status_of(&resp), *status, "{what}:\n{resp}");
        assert_eq!(location(&resp), *loc, "{what}:\n{resp}");
    }
    let resp = raw(
        proxy.addr_of("redirect443"),
        b"GET /x?y=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 308, "{resp}");
    assert_eq!(
        location(&resp),
        Some("https://example.com/x?y=1"),
        "port 443 is omitted:\n{resp}"
    );
    let resp = raw(
        proxy.addr_of("redirect443"),
        b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(location(&resp), Some("https://example.com/"), "{resp}");
    assert_eq!(be.hits(), 0, "a redirect listener never proxies");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_following_the_redirect_lands_on_the_tls_listener() {
    let site = Site::new();
    let be = backend("be");
    let text = |port: u16| {
        config(&format!(
            "{}{}{}",
            listener("redirect", &format!("https_redirect = {port}"), "", "p"),
            listener("web", "", &site.tls(), "p"),
            pool("p", be.addr, "")
        ))
    };
    // The TLS port is known once the proxy runs: point the redirect at it.
    let mut proxy = Proxy::start(&text(8443));
    let (redirect, web) = (proxy.addr_of("redirect"), proxy.addr_of("web"));
    proxy.reload(&text(web.port())).expect("reload");
    assert_eq!(proxy.addr_of("redirect"), redirect);

    let client = https_client(
        client_config(site.ca.roots(), BOTH, H2_H1, None),
        &[SITE],
        web,
    );
    let start = format!("http://{SITE}:{}/echo?x=1", redirect.port());
    let resp = client.get(&start).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.url().as_str(),
        format!("https://{SITE}:{}/echo?x=1", web.port())
    );
    let body = resp.text().await.unwrap();
    assert_eq!(echoed(&body, "x-forwarded-proto"), ["https"], "{body}");
    assert_eq!(be.hits(), 1);
}

// ---------------------------------------------------------------------------
// 9. mTLS
// ---------------------------------------------------------------------------

/// A site whose listener verifies client certificates from `clients`, and
/// client certificates: alice (with SANs), admin, and mallory from another CA.
struct Mtls {
    site: Site,
    clients_file: std::path::PathBuf,
    alice: Issued,
    admin: Issued,
    /// Non-ASCII and RFC 4514 special characters in its subject, no SANs.
    zoe: Issued,
    mallory: Issued,
}

impl Mtls {
    fn new() -> Mtls {
        let site = Site::new();
        let clients = Ca::new("Test Clients CA");
        let clients_file = clients.write(&site.dir, "clients-ca.pem");
        let alice = clients.issue(
            LeafSpec::client("alice")
                .org("Example, Inc.")
                .dns("alice.example.com")
                .uri("spiffe://example.org/alice"),
        );
        let admin = clients.issue(LeafSpec::client("admin").org("Example, Inc."));
        let zoe = clients.issue(LeafSpec::client("Zo\u{eb}").org("#A+B "));
        let mallory = Ca::new("Rogue CA").issue(LeafSpec::client("admin"));
        Mtls {
            site,
            clients_file,
            alice,
            admin,
            zoe,
            mallory,
        }
    }

    fn tls(&self, auth: &str) -> String {
        format!(
            "{}\n  client_ca = {}\n  {auth}",
            self.site.tls(),
            toml_path(&self.clients_file)
        )
    }

    fn client(
        &self,
        who: Option<&Issued>,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> rustls::ClientConfig {
        client_config(self.site.ca.roots(), versions, alpn, who)
    }
}

const ALICE_SUBJECT: &str = "CN=alice,O=Example\\, Inc.";
const ALICE_SAN: &str = "DNS:alice.example.com, URI:spiffe://example.org/alice";
const FORGED: &[(&str, &str)] = &[
    ("x-client-cert-subject", "CN=admin"),
    ("x-client-cert-san", "DNS:evil.example"),
    ("x-client-cert-sha256", "00"),
];

#[tokio::test(flavor = "multi_thread")]
async fn mtls_required_refuses_clients_without_a_valid_certificate() {
    let m = Mtls::new();
    let be = backend("be");
    // client_auth defaults to "required".
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "", &m.tls(""), "p"),
        pool("p", be.addr, "")
    )));
    let addr = proxy.addr_of("web");

    for (versions, v) in [(TLS13, "TLS 1.3"), (TLS12, "TLS 1.2")] {
        let none = Arc::new(m.client(None, versions, H1_ONLY));
        let err = https_get(addr, &none, SITE, "/echo", &[])
            .await
            .expect_err("no client certificate");
        if v == "TLS 1.3" {
            assert!(err.contains("CertificateRequired"), "{v}: {err}");
        }
        let rogue = Arc::new(m.client(Some(&m.mallory), versions, H1_ONLY));
        https_get(addr, &rogue, SITE, "/echo", &[])
            .await
            .expect_err("a certificate from an unknown CA");
    }
    let rogue = https_client(m.client(Some(&m.mallory), BOTH, H2_H1), &[SITE], addr);
    rogue
        .get(proxy.https_url("web", SITE, "/echo"))
        .send()
        .await
        .expect_err("reqwest with an unknown CA's certificate");
    assert_eq!(be.hits(), 0, "nothing reached the backend");

    // A valid certificate: served, over both protocols.
    let alice = Arc::new(m.client(Some(&m.alice), BOTH, H1_ONLY));
    let (_, reply) = https_get(addr, &alice, SITE, "/echo", &[]).await.unwrap();
    assert_eq!(reply.status, 200);
    let h2 = https_client(m.client(Some(&m.alice), BOTH, H2_H1), &[SITE], addr);
    let resp = h2
        .get(proxy.https_url("web", SITE, "/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    assert_eq!(be.hits(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_identity_reaches_the_backend_and_forged_headers_are_replaced() {
    let m = Mtls::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "", &m.tls("client_auth = \"required\""), "p"),
        pool("p", be.addr, "")
    )));
    let addr = proxy.addr_of("web");
    let check = |body: &str, what: &str| {
        assert_eq!(
            echoed(body, "x-client-cert-subject"),
            [ALICE_SUBJECT],
            "{what}:\n{body}"
        );
        assert_eq!(echoed(body, "x-client-cert-san"), [ALICE_SAN], "{what}");
        assert_eq!(
            echoed(body, "x-client-cert-sha256"),
            [m.alice.sha256_hex()],
            "{what}"
        );
    };

    // HTTP/1.1, with and without forged headers.
    let alice = Arc::new(m.client(Some(&m.alice), BOTH, H1_ONLY));
    for forged in [&[][..], FORGED] {
        let (_, reply) = https_get(addr, &alice, SITE, "/echo", forged)
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
        check(&reply.body, &format!("HTTP/1.1, forged: {forged:?}"));
    }
    // HTTP/2 (reqwest), forged headers too.
    let h2 = https_client(m.client(Some(&m.alice), BOTH, H2_H1), &[SITE], addr);
    let mut req = h2.get(proxy.https_url("web", SITE, "/echo"));
    for (k, v) in FORGED {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    check(&resp.text().await.unwrap(), "HTTP/2, forged");

    // A subject with UTF-8 and RFC 4514 specials (leading `#`, `+`, a
    // trailing space) arrives escaped as printable ASCII, the final space
    // as `\20` (HTTP trims trailing whitespace, so `\ ` would arrive as a
    // dangling `\`); a certificate without SANs sends no SAN header, even
    // when the client forged one.
    let zoe = Arc::new(m.client(Some(&m.zoe), BOTH, H1_ONLY));
    let (_, reply) = https_get(addr, &zoe, SITE, "/echo", FORGED).await.unwrap();
    assert_eq!(
        echoed(&reply.body, "x-client-cert-subject"),
        ["CN=Zo\\c3\\ab,O=\\#A\\+B\\20"],
        "{}",
        reply.body
    );
    assert_eq!(
        echoed(&reply.body, "x-client-cert-san"),
        Vec::<String>::new()
    );
    assert_eq!(
        echoed(&reply.body, "x-client-cert-sha256"),
        [m.zoe.sha256_hex()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_optional_accepts_anonymous_clients_but_strips_forged_identity() {
    let m = Mtls::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "", &m.tls("client_auth = \"optional\""), "p"),
        pool("p", be.addr, "")
    )));
    let addr = proxy.addr_of("web");

    let anonymous = Arc::new(m.client(None, BOTH, H1_ONLY));
    let (_, reply) = https_get(addr, &anonymous, SITE, "/echo", FORGED)
        .await
        .expect("no certificate is fine when optional");
    assert_eq!(reply.status, 200);
    for (name, _) in FORGED {
        assert_eq!(
            echoed(&reply.body, name),
            Vec::<String>::new(),
            "forged {name} removed:\n{}",
            reply.body
        );
    }

    let alice = Arc::new(m.client(Some(&m.alice), BOTH, H1_ONLY));
    let (_, reply) = https_get(addr, &alice, SITE, "/echo", FORGED)
        .await
        .unwrap();
    assert_eq!(
        echoed(&reply.body, "x-client-cert-subject"),
        [ALICE_SUBJECT]
    );
    assert_eq!(
        echoed(&reply.body, "x-client-cert-sha256"),
        [m.alice.sha256_hex()]
    );

    // Optional still verifies a certificate that is offered.
    let rogue = Arc::new(m.client(Some(&m.mallory), BOTH, H1_ONLY));
    https_get(addr, &rogue, SITE, "/echo", &[])
        .await
        .expect_err("a certificate from an unknown CA is refused even when optional");
    assert_eq!(be.hits(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_match_the_verified_identity_not_client_sent_headers() {
    let m = Mtls::new();
    let (admins, users) = (backend("admins"), backend("users"));
    let proxy = Proxy::start(&config(&format!(
        r#"
[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
  [listener.tls]
  {}
  [[listener.route]]
  name = "admin"
  headers = [{{ name = "x-client-cert-subject", regex = "^CN=admin(,|$)" }}]
  pool = "admins"
  [[listener.route]]
  name = "everyone"
  pool = "users"
{}{}"#,
        m.tls("client_auth = \"optional\""),
        pool("admins", admins.addr, ""),
        pool("users", users.addr, "")
    )));
    let addr = proxy.addr_of("web");
    let forge: &[(&str, &str)] = &[("x-client-cert-subject", "CN=admin")];
    // (client certificate, extra request headers, backend expected, what)
    type Case<'a> = (
        Option<&'a Issued>,
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
    );
    let cases: &[Case] = &[
        (Some(&m.admin), &[], "admins", "admin certificate"),
        (Some(&m.alice), &[], "users", "alice's certificate"),
        (Some(&m.alice), forge, "users", "alice claiming CN=admin"),
        (None, forge, "users", "no certificate, claiming CN=admin"),
    ];
    for (who, headers, want, what) in cases {
        for alpn in [H1_ONLY, H2_H1] {
            let client = https_client(m.client(*who, BOTH, alpn), &[SITE], addr);
            let mut req = client.get(proxy.https_url("web", SITE, "/"));
            for (k, v) in *headers {
                req = req.header(*k, *v);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200, "{what}");
            assert_eq!(
                header(&resp, "x-backend"),
                Some(*want),
                "{what} over {:?}",
                resp.version()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resumed_mtls_sessions_keep_their_identity() {
    let m = Mtls::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "", &m.tls(""), "p"),
        pool("p", be.addr, "")
    )));
    for (versions, v) in [(TLS13, "TLS 1.3"), (TLS12, "TLS 1.2")] {
        let alice = Arc::new(m.client(Some(&m.alice), versions, H1_ONLY));
        for kind in [HandshakeKind::Full, HandshakeKind::Resumed] {
            let (n, reply) = https_get(proxy.addr_of("web"), &alice, SITE, "/echo", FORGED)
                .await
                .unwrap();
            assert_eq!(n.kind, Some(kind), "{v}");
            assert_eq!(
                echoed(&reply.body, "x-client-cert-subject"),
                [ALICE_SUBJECT],
                "{v} {kind:?}"
            );
            assert_eq!(
                echoed(&reply.body, "x-client-cert-sha256"),
                [m.alice.sha256_hex()],
                "{v} {kind:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_changes_client_ca_does_not_resume_sessions_verified_by_the_old_one() {
    let m = Mtls::new();
    let be = backend("be");
    let other_ca = Ca::new("Replacement Clients CA");
    let other_file = other_ca.write(&m.site.dir, "other-clients-ca.pem");
    let with_ca = |ca: &Path| {
        config(&format!(
            "{}{}",
            listener(
                "web",
                "",
                &format!("{}\n  client_ca = {}", m.site.tls(), toml_path(ca)),
                "p"
            ),
            pool("p", be.addr, "")
        ))
    };
    let mut proxy = Proxy::start(&with_ca(&m.clients_file));
    let addr = proxy.addr_of("web");
    let alice = Arc::new(m.client(Some(&m.alice), TLS13, H1_ONLY));
    let (n, _) = https_get(addr, &alice, SITE, "/", &[]).await.unwrap();
    assert_eq!(n.kind, Some(HandshakeKind::Full));

    // Same client CA: the session (and its verified identity) carries over.
    proxy.reload(&with_ca(&m.clients_file)).unwrap();
    let (n, reply) = https_get(addr, &alice, SITE, "/", &[]).await.unwrap();
    assert_eq!(n.kind, Some(HandshakeKind::Resumed));
    assert_eq!(reply.status, 200);

    // A CA that never signed alice's certificate: her ticket must not let
    // her skip verification.
    proxy.reload(&with_ca(&other_file)).unwrap();
    let result = https_get(addr, &alice, SITE, "/", &[]).await;
    assert!(
        result.is_err(),
        "alice must be refused after the client CA changed, got {:?}",
        result.map(|(n, r)| (n.kind, r.status))
    );
    assert_eq!(be.hits(), 2);
}

// ---------------------------------------------------------------------------
// 10. Upstream TLS
// ---------------------------------------------------------------------------

/// An upstream CA, an upstream certificate for `backend.internal` and
/// 127.0.0.1, and a CA that signed nothing the upstream uses.
struct UpstreamPki {
    dir: TempDir,
    ca_file: std::path::PathBuf,
    wrong_ca_file: std::path::PathBuf,
    leaf: Issued,
}

impl UpstreamPki {
    fn new() -> UpstreamPki {
        let dir = TempDir::new();
        let ca = Ca::new("Upstream CA");
        let ca_file = ca.write(&dir, "upstream-ca.pem");
        let wrong_ca_file = Ca::new("Unrelated CA").write(&dir, "unrelated-ca.pem");
        let leaf = ca.issue(LeafSpec::server(
            "backend",
            &["backend.internal", "127.0.0.1"],
        ));
        UpstreamPki {
            dir,
            ca_file,
            wrong_ca_file,
            leaf,
        }
    }

    async fn upstream(&self, name: &str, alpn: &[&[u8]]) -> TlsUpstream {
        TlsUpstream::start(name, upstream_config(&self.leaf, alpn, None)).await
    }
}

/// A plain HTTP listener with one `path_prefix` route per pool name (`/NAME`).
fn routed_listener(pools: &[&str]) -> String {
    let mut s = String::from(
        "\n[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\naccess_log = false\n",
    );
    for p in pools {
        s.push_str(&format!(
            "  [[listener.route]]\n  name = \"{p}\"\n  path_prefix = \"/{p}\"\n  pool = \"{p}\"\n"
        ));
    }
    s
}

/// A pool of one endpoint with `[pool.tls]` holding `tls`.
fn tls_pool(name: &str, endpoint: &str, pool_extra: &str, tls: &str) -> String {
    format!(
        "\n[[pool]]\nname = \"{name}\"\nendpoints = [{{ address = \"{endpoint}\" }}]\n{pool_extra}\n  [pool.tls]\n  {tls}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_tls_verifies_the_endpoint_and_sends_the_expected_sni() {
    let pki = UpstreamPki::new();
    let ca = format!("ca = {}", toml_path(&pki.ca_file));
    let named = pki.upstream("named", H1_ONLY).await;
    let host = pki.upstream("host", H1_ONLY).await;
    let ip = pki.upstream("ip", H1_ONLY).await;
    let nosni = pki.upstream("nosni", H1_ONLY).await;
    let text = config(&format!(
        "{}{}{}{}{}",
        routed_listener(&["named", "host", "ip", "nosni"]),
        // By IP, verified as (and SNI) the configured server_name.
        tls_pool(
            "named",
            &named.addr.to_string(),
            "",
            &format!("{ca}\n  server_name = \"backend.internal\"")
        ),
        // By host name: verified as (and SNI) that host.
        tls_pool(
            "host",
            &format!("backend.internal:{}", host.addr.port()),
            "",
            &ca
        ),
        // By IP without server_name: verified against the IP SAN, no SNI.
        tls_pool("ip", &ip.addr.to_string(), "", &ca),
        // sni = false: still verified as server_name, but no SNI sent.
        tls_pool(
            "nosni",
            &nosni.addr.to_string(),
            "",
            &format!("{ca}\n  server_name = \"backend.internal\"\n  sni = false")
        ),
    ));
    let proxy = Proxy::start_resolving(&text, &[("backend.internal", Ipv4Addr::LOCALHOST.into())]);
    let client = client();
    for (up, sni) in [
        (&named, Some("backend.internal")),
        (&host, Some("backend.internal")),
        (&ip, None),
        (&nosni, None),
    ] {
        let name = up.name.as_str();
        let (status, be, body) = get(&client, &proxy.url(&format!("/{name}/x"))).await;
        assert_eq!((status, be.as_str()), (200, name), "pool {name}: {body}");
        assert!(body.contains(&format!("GET /{name}/x HTTP/1.1")), "{body}");
        let seen = up.seen();
        assert_eq!(seen.len(), 1, "pool {name}: one handshake");
        assert_eq!(seen[0].sni.as_deref(), sni, "SNI of pool {name}");
        assert_eq!(
            seen[0].client_cert, None,
            "no client certificate configured"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_tls_answers_502_for_untrusted_or_misnamed_endpoints_unless_insecure() {
    let pki = UpstreamPki::new();
    let wrongca = pki.upstream("wrongca", H1_ONLY).await;
    let wrongname = pki.upstream("wrongname", H1_ONLY).await;
    let insecure = pki.upstream("insecure", H1_ONLY).await;
    let text = config(&format!(
        "{}{}{}{}",
        routed_listener(&["wrongca", "wrongname", "insecure"]),
        tls_pool(
            "wrongca",
            &wrongca.addr.to_string(),
            "",
            &format!("ca = {}", toml_path(&pki.wrong_ca_file))
        ),
        tls_pool(
            "wrongname",
            &wrongname.addr.to_string(),
            "",
            &format!(
                "ca = {}\n  server_name = \"other.internal\"",
                toml_path(&pki.ca_file)
            )
        ),
        // Trusting nothing that signed the endpoint, but told not to verify.
        tls_pool(
            "insecure",
            &insecure.addr.to_string(),
            "",
            &format!(
                "ca = {}\n  insecure_skip_verify = true",
                toml_path(&pki.wrong_ca_file)
            )
        ),
    ));
    let proxy = Proxy::start(&text);
    let client = client();
    for up in [&wrongca, &wrongname] {
        let name = up.name.as_str();
        let (status, be, body) = get(&client, &proxy.url(&format!("/{name}"))).await;
        assert_eq!(status, 502, "pool {name}: {body}");
        assert_eq!(be, "", "the proxy answered, not the endpoint");
        eventually(&format!("{name} sees the handshake fail"), || {
            up.failed_handshakes
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 1
        })
        .await;
        assert_eq!(up.requests(), 0, "no request sent to {name}");
        assert!(proxy.endpoint_connect_failures(&up.addr.to_string()) >= 1);
    }
    let (status, be, body) = get(&client, &proxy.url("/insecure")).await;
    assert_eq!((status, be.as_str()), (200, "insecure"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_tls_presents_the_configured_client_certificate() {
    let pki = UpstreamPki::new();
    let proxy_ca = Ca::new("Proxy Clients CA");
    let proxy_cert = proxy_ca.issue(LeafSpec::client("switchyard-proxy"));
    let files = proxy_cert.write(&pki.dir, "proxy-client");
    // Both upstreams refuse clients without a certificate from proxy_ca.
    let strict = |name: &'static str| {
        TlsUpstream::start(name, upstream_config(&pki.leaf, H1_ONLY, Some(&proxy_ca)))
    };
    let (withcert, nocert) = (strict("withcert").await, strict("nocert").await);
    let ca = format!("ca = {}", toml_path(&pki.ca_file));
    let proxy = Proxy::start(&config(&format!(
        "{}{}{}",
        routed_listener(&["withcert", "nocert"]),
        tls_pool(
            "withcert",
            &withcert.addr.to_string(),
            "",
            &format!(
                "{ca}\n  client_cert = {}\n  client_key = {}",
                toml_path(&files.cert),
                toml_path(&files.key)
            )
        ),
        tls_pool("nocert", &nocert.addr.to_string(), "", &ca),
    )));
    let client = client();
    let (status, be, body) = get(&client, &proxy.url("/withcert")).await;
    assert_eq!((status, be.as_str()), (200, "withcert"), "{body}");
    let seen = withcert.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].client_cert.as_ref(),
        Some(&proxy_cert.der),
        "the upstream verified the proxy's certificate"
    );

    let (status, _, body) = get(&client, &proxy.url("/nocert")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(nocert.requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_http_version_auto_follows_alpn() {
    let pki = UpstreamPki::new();
    let ca = format!("ca = {}", toml_path(&pki.ca_file));
    let h2_up = pki.upstream("h2-capable", H2_H1).await;
    let h1_up = pki.upstream("h1-only", H1_ONLY).await;
    let pools = [
        ("auto-h2", &h2_up, "auto", "HTTP/2.0", &b"h2"[..]),
        ("auto-h1", &h1_up, "auto", "HTTP/1.1", &b"http/1.1"[..]),
        ("two", &h2_up, "2", "HTTP/2.0", &b"h2"[..]),
        ("one", &h2_up, "1.1", "HTTP/1.1", &b"http/1.1"[..]),
    ];
    let mut text = routed_listener(&pools.map(|p| p.0));
    for (name, up, version, _, _) in &pools {
        text.push_str(&tls_pool(
            name,
            &up.addr.to_string(),
            &format!("http_version = \"{version}\""),
            &ca,
        ));
    }
    let proxy = Proxy::start(&config(&text));
    let client = client();
    for (name, up, _, want, alpn) in &pools {
        let before = up.seen().len();
        let resp = client
            .get(proxy.url(&format!("/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "pool {name}");
        assert_eq!(header(&resp, "x-backend"), Some(up.name.as_str()));
        assert_eq!(
            header(&resp, "x-upstream-version"),
            Some(*want),
            "version the endpoint saw for pool {name}"
        );
        let body = resp.text().await.unwrap();
        let request_line = body.lines().nth(1).unwrap_or_default();
        assert!(
            request_line.starts_with("GET ") && request_line.contains(&format!("/{name} ")),
            "the endpoint got GET /{name}: {body}"
        );
        let seen = up.seen();
        assert_eq!(seen.len(), before + 1, "pool {name}: a new connection");
        assert_eq!(seen[before].alpn.as_deref(), Some(*alpn), "ALPN for {name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_tls_connections_are_reused_and_new_ones_resume_sessions() {
    let pki = UpstreamPki::new();
    let ca = format!("ca = {}", toml_path(&pki.ca_file));
    let pooled = pki.upstream("pooled", H1_ONLY).await;
    let fresh = pki.upstream("fresh", H1_ONLY).await;
    // One worker: every request shares its idle-connection cache.
    let text = format!(
        "[global]\nworkers = 1\n{}{}{}",
        routed_listener(&["pooled", "fresh"]),
        tls_pool("pooled", &pooled.addr.to_string(), "", &ca),
        tls_pool(
            "fresh",
            &fresh.addr.to_string(),
            "max_idle_per_endpoint = 0",
            &ca
        ),
    );
    let proxy = Proxy::start(&text);
    let client = client();
    for _ in 0..3 {
        for name in ["pooled", "fresh"] {
            let (status, be, _) = get(&client, &proxy.url(&format!("/{name}"))).await;
            assert_eq!((status, be.as_str()), (200, name));
        }
    }
    assert_eq!(pooled.requests(), 3);
    assert_eq!(pooled.seen().len(), 1, "one TLS connection reused");
    assert_eq!(fresh.requests(), 3);
    let kinds: Vec<_> = fresh.seen().iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            Some(HandshakeKind::Full),
            Some(HandshakeKind::Resumed),
            Some(HandshakeKind::Resumed)
        ],
        "new upstream connections resume the TLS session"
    );
}

// ---------------------------------------------------------------------------
// 11. X-Forwarded-Proto
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn x_forwarded_proto_is_https_on_tls_listeners() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}{}",
        listener("tls", "", &site.tls(), "p"),
        listener("plain", "", "", "p"),
        pool("p", be.addr, "")
    )));
    let spoof: &[(&str, &str)] = &[("x-forwarded-proto", "http")];
    let (_, reply) = https_get(
        proxy.addr_of("tls"),
        &site.client(BOTH, H1_ONLY),
        SITE,
        "/echo",
        spoof,
    )
    .await
    .unwrap();
    assert_eq!(
        echoed(&reply.body, "x-forwarded-proto"),
        ["https"],
        "{}",
        reply.body
    );
    let h2 = https_client(
        client_config(site.ca.roots(), BOTH, H2_H1, None),
        &[SITE],
        proxy.addr_of("tls"),
    );
    let resp = h2
        .get(proxy.https_url("tls", SITE, "/echo"))
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(
        echoed(&resp.text().await.unwrap(), "x-forwarded-proto"),
        ["https"]
    );
    let (_, _, body) = get(
        &client(),
        &format!("http://{}/echo", proxy.addr_of("plain")),
    )
    .await;
    assert_eq!(echoed(&body, "x-forwarded-proto"), ["http"], "{body}");
}

// ---------------------------------------------------------------------------
// Handshake robustness
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_handshake_is_closed_after_request_header_timeout() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener(
            "web",
            "request_header_timeout = \"300ms\"",
            &site.tls(),
            "p"
        ),
        pool("p", be.addr, "")
    )));
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
async fn plain_http_on_a_tls_listener_gets_no_http_response() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "", &site.tls(), "p"),
        pool("p", be.addr, "")
    )));
    let addr = proxy.addr_of("web");
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        raw(addr, b"GET / HTTP/1.1\r\nHost: site.example.com\r\n\r\n"),
    )
    .await
    .expect("the proxy closes the connection");
    assert!(!resp.contains("HTTP/1."), "answered in plaintext: {resp:?}");
    assert_eq!(be.hits(), 0);
    let (_, reply) = https_get(addr, &site.client(BOTH, H1_ONLY), SITE, "/", &[])
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_tls_keepalive_connections_close_after_idle_timeout() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener("web", "idle_timeout = \"300ms\"", &site.tls(), "p"),
        pool("p", be.addr, "")
    )));
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

/// `n` bytes of the demo pattern.
fn pattern(n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(switchyard::demo::backend::pattern_byte)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_stream_through_tls_in_both_directions() {
    const N: usize = 8 << 20;
    let site = Site::new();
    let pki = UpstreamPki::new();
    let be = backend("be");
    let up_h1 = pki.upstream("up-h1", H1_ONLY).await;
    let up_h2 = pki.upstream("up-h2", H2_H1).await;
    let ca = format!("ca = {}", toml_path(&pki.ca_file));
    let proxy = Proxy::start(&config(&format!(
        r#"
[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
  [listener.tls]
  {}
  [[listener.route]]
  name = "up-h1"
  path_prefix = "/up-h1"
  pool = "up-h1"
  [[listener.route]]
  name = "up-h2"
  path_prefix = "/up-h2"
  pool = "up-h2"
  [[listener.route]]
  name = "all"
  pool = "p"
{}{}{}"#,
        site.tls(),
        pool("p", be.addr, ""),
        tls_pool("up-h1", &up_h1.addr.to_string(), "", &ca),
        tls_pool(
            "up-h2",
            &up_h2.addr.to_string(),
            "http_version = \"2\"",
            &ca
        ),
    )));
    let upload = pattern(N);
    let want_upload = format!(
        "be received {N} bytes xxh3={:016x}\n",
        xxhash_rust::xxh3::xxh3_64(&upload)
    );
    for alpn in [H1_ONLY, H2_H1] {
        let client = https_client(
            client_config(site.ca.roots(), BOTH, alpn, None),
            &[SITE],
            proxy.addr_of("web"),
        );
        for path in [
            format!("/bytes?n={N}"),
            format!("/up-h1/bytes?n={N}"),
            format!("/up-h2/bytes?n={N}"),
        ] {
            let resp = client
                .get(proxy.https_url("web", SITE, &path))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let version = resp.version();
            let body = resp.bytes().await.unwrap();
            assert_eq!(body.len(), N, "{path} over {version:?}");
            assert!(
                body.iter()
                    .enumerate()
                    .all(|(i, b)| *b == switchyard::demo::backend::pattern_byte(i as u64)),
                "{path} over {version:?}: corrupted body"
            );
        }
        let resp = client
            .post(proxy.https_url("web", SITE, "/upload"))
            .body(upload.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let version = resp.version();
        assert_eq!(resp.text().await.unwrap(), want_upload, "{version:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_tls_handshake_is_bounded_by_connect_timeout() {
    let pki = UpstreamPki::new();
    // Accepts TCP connections and never answers the ClientHello.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            conns.push(s);
        }
    });
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        routed_listener(&["silent"]),
        tls_pool(
            "silent",
            &silent_addr.to_string(),
            "connect_timeout = \"300ms\"",
            &format!("ca = {}", toml_path(&pki.ca_file))
        ),
    )));
    let start = Instant::now();
    let (status, _, body) = tokio::time::timeout(
        Duration::from_secs(10),
        get(&client(), &proxy.url("/silent")),
    )
    .await
    .expect("the proxy answers within 10 s");
    let took = start.elapsed();
    assert_eq!(status, 502, "{body}");
    assert!(
        took >= Duration::from_millis(250),
        "answered after {took:?}, before the connect timeout"
    );
    held.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_reloaded_from_disk_are_selected_by_their_new_names() {
    let site = Site::new();
    let extra = site
        .ca
        .issue(LeafSpec::server("extra-v1", &["old-name.example.com"]));
    let files = extra.write(&site.dir, "extra");
    let be = backend("be");
    let proxy = Proxy::start(&config(&format!(
        "{}{}",
        listener(
            "web",
            "",
            &certificates(&[cert(&site.files), cert(&files)]),
            "p"
        ),
        pool("p", be.addr, "")
    )));
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

#[tokio::test(flavor = "multi_thread")]
async fn a_uri_san_cannot_impersonate_a_dns_san_in_the_san_header() {
    // The CA signed a certificate whose ONLY SAN is a URI containing the
    // header's ", " separator (valid_uri_names does not validate URIs; a
    // space is not legal in a URI, RFC 3986). A route that requires the
    // DNS SAN admin.example.com must not match it.
    let m = Mtls::new();
    let clients = Ca::new("Clients CA with loose URI policy");
    let clients_file = clients.write(&m.site.dir, "loose-ca.pem");
    let forger = clients
        .issue(LeafSpec::client("forger").uri("spiffe://example.org/x, DNS:admin.example.com"));
    let real_admin = clients.issue(LeafSpec::client("admin").dns("admin.example.com"));
    let (admins, users) = (backend("admins"), backend("users"));
    let proxy = Proxy::start(&config(&format!(
        r#"
[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
  [listener.tls]
  {}
  client_ca = {}
  [[listener.route]]
  name = "admin"
  headers = [{{ name = "x-client-cert-san", regex = "(^|, )DNS:admin\\.example\\.com(, |$)" }}]
  pool = "admins"
  [[listener.route]]
  name = "everyone"
  pool = "users"
{}{}"#,
        m.site.tls(),
        toml_path(&clients_file),
        pool("admins", admins.addr, ""),
        pool("users", users.addr, "")
    )));
    let addr = proxy.addr_of("web");
    for (who, want) in [(&real_admin, "admins"), (&forger, "users")] {
        let cfg = Arc::new(m.client(Some(who), BOTH, H1_ONLY));
        let (_, reply) = https_get(addr, &cfg, SITE, "/echo", &[]).await.unwrap();
        assert_eq!(
            reply.header("x-backend"),
            Some(want),
            "x-client-cert-san sent: {:?}",
            echoed(&reply.body, "x-client-cert-san")
        );
    }
}
