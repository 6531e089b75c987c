//! OCSP stapling end to end: a TLS listener whose certificate has an
//! `ocsp` file staples it in TLS 1.3 and TLS 1.2 handshakes of a real
//! rustls client (which asks for it, as browsers do); a replaced file is
//! stapled from the next check on, a revoked one too (what the CA says
//! now), and an out-of-date one is not stapled.
//! The certificate and the responses were made by `openssl ocsp`
//! (`src/tls/testdata/ocsp`).

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::tls::*;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/tls/testdata/ocsp")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

/// Verifies the server against the test CA and keeps the stapled OCSP
/// response it was given.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    stapled: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        leaf: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.stapled.lock().unwrap() = Some(ocsp.to_vec());
        self.inner.verify_server_cert(leaf, chain, name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// One full handshake with `versions` to `ocsp.test`: the OCSP response
/// stapled (empty when none was).
async fn stapled(
    addr: std::net::SocketAddr,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(testdata("ca.pem")).unwrap())
        .unwrap();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .unwrap();
    let verifier = Arc::new(Recording {
        inner,
        stapled: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    tls_connect(addr, &Arc::new(config), "ocsp.test")
        .await
        .expect("handshake");
    let got = verifier.stapled.lock().unwrap().take();
    got.expect("the certificate was verified")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ocsp_response_is_stapled_and_follows_the_file() {
    let dir = TempDir::new();
    let cert = dir.write("leaf.pem", read("leaf.pem"));
    let key = dir.write("leaf.key", read("leaf-key.pem"));
    let ocsp = dir.write("leaf.ocsp", read("ocsp-good.der"));
    let tls = format!(
        "certificates = [{{ cert = {}, key = {}, ocsp = {} }}]",
        toml_path(&cert),
        toml_path(&key),
        toml_path(&ocsp)
    );
    let (_be, proxy) = web_proxy("", &tls);
    let addr = proxy.addr_of("web");
    for versions in [TLS13, TLS12] {
        assert_eq!(stapled(addr, versions).await, read("ocsp-good.der"));
    }

    // A fresh response: stapled from the next check on.
    dir.write("leaf.ocsp", read("ocsp-nonext.der"));
    proxy.check_certificates();
    assert_eq!(stapled(addr, TLS13).await, read("ocsp-nonext.der"));

    // A revoked one is what the CA says now: stapled (the earlier "good"
    // one is not kept on), so clients that check refuse the certificate.
    dir.write("leaf.ocsp", read("ocsp-revoked.der"));
    proxy.check_certificates();
    assert_eq!(stapled(addr, TLS13).await, read("ocsp-revoked.der"));

    // An out-of-date one: nothing is stapled, the certificate still serves.
    dir.write("leaf.ocsp", read("ocsp-expired.der"));
    proxy.check_certificates();
    for versions in [TLS13, TLS12] {
        assert_eq!(stapled(addr, versions).await, Vec::<u8>::new());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_s_client_reads_the_stapled_response() {
    if !have_tool(
        "openssl",
        "openssl s_client -status against the stapling listener",
    ) {
        return;
    }
    let tls = format!(
        "certificates = [{{ cert = {}, key = {}, ocsp = {} }}]",
        toml_path(&testdata("leaf.pem")),
        toml_path(&testdata("leaf-key.pem")),
        toml_path(&testdata("ocsp-good.der"))
    );
    let (_be, proxy) = web_proxy("", &tls);
    let addr = proxy.addr_of("web").to_string();
    let ca = testdata("ca.pem");
    let (_, out, err) = run_tool(
        "openssl",
        &[
            "s_client",
            "-connect",
            &addr,
            "-servername",
            "ocsp.test",
            "-status",
            "-CAfile",
            ca.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.contains("OCSP Response Status: successful"),
        "{out}\n{err}"
    );
    assert!(out.contains("Cert Status: good"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
}
