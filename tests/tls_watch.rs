//! TLS files other than the listener's certificates, replaced on disk while
//! the proxy runs, end to end: a listener's client CA (sessions the old CA
//! verified do not resume; a rewrite with the same contents changes
//! nothing), a pool's CA file and a pool's client certificate. New
//! handshakes use the new files after the next check, connections already
//! open keep working, and a bad file keeps the previous one in use.
//!
//! Files are replaced the way operators are told to (write a temporary
//! file, rename it over the old one): a new inode, so the change is seen
//! whatever the file system's timestamp resolution.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::tls::*;
use common::*;
use rustls::HandshakeKind;

/// Writes `contents` to `path` by rename, as `mv` of a new file does.
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_ca_file_replaced_on_disk_verifies_new_handshakes_without_a_reload() {
    let site = Site::new();
    let old_ca = Ca::new("Old Clients CA");
    let new_ca = Ca::new("New Clients CA");
    let ca_file = old_ca.write(&site.dir, "clients-ca.pem");
    let alice = old_ca.issue(LeafSpec::client("alice"));
    let bob = new_ca.issue(LeafSpec::client("bob"));
    let tls = format!("{}\n  client_ca = {}", site.tls(), toml_path(&ca_file));
    let (be, proxy) = web_proxy("", &tls);
    let addr = proxy.addr_of("web");
    let client = |who: &Issued| Arc::new(client_config(site.ca.roots(), TLS13, H1_ONLY, Some(who)));
    let (alice_cfg, bob_cfg) = (client(&alice), client(&bob));

    let (n, reply) = https_get(addr, &alice_cfg, SITE, "/", &[]).await.unwrap();
    assert_eq!(
        (n.kind, reply.status.as_u16()),
        (Some(HandshakeKind::Full), 200)
    );
    https_get(addr, &bob_cfg, SITE, "/", &[])
        .await
        .expect_err("bob's CA is not trusted yet");
    // A keep-alive connection alice opens before the CA changes.
    let mut kept = H1::over(tls_connect(addr, &alice_cfg, SITE).await.unwrap()).await;
    assert_eq!(kept.get(SITE, "/", &[]).await.unwrap().status, 200);

    // Rewritten with the same certificate: nothing changes, and alice's
    // session still resumes.
    replace(&ca_file, &old_ca.pem);
    proxy.check_certificates();
    let (n, reply) = https_get(addr, &alice_cfg, SITE, "/", &[]).await.unwrap();
    assert_eq!(
        (n.kind, reply.status.as_u16()),
        (Some(HandshakeKind::Resumed), 200)
    );

    // Replaced by the new CA: no reload, no restart.
    replace(&ca_file, &new_ca.pem);
    https_get(addr, &bob_cfg, SITE, "/", &[])
        .await
        .expect_err("nothing changes before the check");
    proxy.check_certificates();
    let (n, reply) = https_get(addr, &bob_cfg, SITE, "/", &[]).await.unwrap();
    assert_eq!(
        (n.kind, reply.status.as_u16()),
        (Some(HandshakeKind::Full), 200)
    );
    // alice still holds a ticket the old CA's verification earned: it must
    // not let her in.
    let result = https_get(addr, &alice_cfg, SITE, "/", &[]).await;
    assert!(
        result.is_err(),
        "alice must be refused once the client CA changed, got {:?}",
        result.map(|(n, r)| (n.kind, r.status))
    );
    // The connection opened before the change is not interrupted.
    assert_eq!(kept.get(SITE, "/", &[]).await.unwrap().status, 200);

    // A broken file: the new CA stays in use (a fresh client, so the
    // handshake is a full one, verified again).
    replace(&ca_file, "not a certificate\n");
    proxy.check_certificates();
    let (n, reply) = https_get(addr, &client(&bob), SITE, "/", &[])
        .await
        .unwrap();
    assert_eq!(
        (n.kind, reply.status.as_u16()),
        (Some(HandshakeKind::Full), 200)
    );
    https_get(addr, &client(&alice), SITE, "/", &[])
        .await
        .expect_err("the old CA does not come back");
    assert_eq!(
        be.hits(),
        6,
        "every refused client was stopped at the handshake"
    );
}

/// A proxy whose pool "p" reaches `up` over TLS with `tls` (lines of
/// `[pool.tls]`), never keeping an idle connection: every request
/// handshakes with the configuration of the moment.
fn pool_proxy(up: &TlsUpstream, tls: &str) -> Proxy {
    Proxy::start(&proxy_config(
        2,
        &[
            listener("web", "", "", "p"),
            pool(
                "p",
                &[up.addr],
                &format!("max_idle_per_endpoint = 0\n  [pool.tls]\n  {tls}"),
            ),
        ],
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_ca_file_replaced_on_disk_is_trusted_for_new_connections() {
    let dir = TempDir::new();
    let right = Ca::new("Upstream CA");
    let wrong = Ca::new("Unrelated CA");
    let leaf = right.issue(LeafSpec::server("backend", &["127.0.0.1"]));
    let up = TlsUpstream::start("up", upstream_config(&leaf, H1_ONLY, None)).await;
    let ca_file = wrong.write(&dir, "pool-ca.pem");
    let proxy = pool_proxy(&up, &format!("ca = {}", toml_path(&ca_file)));
    let client = client();

    let (status, _, body) = get(&client, &proxy.url("/")).await;
    assert_eq!(status, 502, "the endpoint's CA is not trusted yet: {body}");
    assert_eq!(up.requests(), 0);

    replace(&ca_file, &right.pem);
    proxy.check_certificates();
    let (status, be, body) = get(&client, &proxy.url("/")).await;
    assert_eq!((status, be.as_str()), (200, "up"), "{body}");

    // A broken file keeps the trusted CA: new connections still verify.
    replace(&ca_file, "-----BEGIN CERTIFICATE-----\nnot base64\n");
    proxy.check_certificates();
    let (status, be, body) = get(&client, &proxy.url("/")).await;
    assert_eq!((status, be.as_str()), (200, "up"), "{body}");
    // Back to the wrong CA: refused again.
    replace(&ca_file, &wrong.pem);
    proxy.check_certificates();
    let (status, _, body) = get(&client, &proxy.url("/")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(up.requests(), 2);
    assert_eq!(up.seen().len(), 2, "two handshakes verified, two refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_client_certificate_replaced_on_disk_is_presented_on_new_connections() {
    let dir = TempDir::new();
    let upstream_ca = Ca::new("Upstream CA");
    let leaf = upstream_ca.issue(LeafSpec::server("backend", &["127.0.0.1"]));
    let ca_file = upstream_ca.write(&dir, "upstream-ca.pem");
    let clients = Ca::new("Proxy Clients CA");
    let first = clients.issue(LeafSpec::client("switchyard-2026"));
    let renewed = clients.issue(LeafSpec::client("switchyard-2027"));
    let files = first.write(&dir, "proxy-client");
    let up = TlsUpstream::start("up", upstream_config(&leaf, H1_ONLY, Some(&clients))).await;
    let proxy = pool_proxy(
        &up,
        &format!(
            "ca = {}\n  client_cert = {}\n  client_key = {}",
            toml_path(&ca_file),
            toml_path(&files.cert),
            toml_path(&files.key)
        ),
    );
    let client = client();
    let presented = || up.seen().last().and_then(|s| s.client_cert.clone());

    let (status, _, body) = get(&client, &proxy.url("/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(presented(), Some(first.der.clone()));

    // Renewed: key first, then certificate (a moment where the two do not
    // match), each by rename.
    replace(&files.key, &renewed.key_pem);
    proxy.check_certificates();
    let (status, _, body) = get(&client, &proxy.url("/")).await;
    assert_eq!(status, 200, "a mismatched pair keeps the old one: {body}");
    assert_eq!(presented(), Some(first.der.clone()));
    replace(&files.cert, &renewed.cert_pem);
    proxy.check_certificates();
    let (status, _, body) = get(&client, &proxy.url("/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(presented(), Some(renewed.der.clone()));
    assert_eq!(up.seen().len(), 3);
    assert_eq!(
        up.failed_handshakes
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

/// Idle upstream connections are reused by the TLS configuration they
/// were made with only: once the pool's CA file is replaced, the next
/// request opens a new connection verified under the new file (whose CA
/// could have been the one removed), over HTTP/1.1 and HTTP/2 alike.
#[tokio::test(flavor = "multi_thread")]
async fn idle_pool_connections_made_before_a_ca_file_change_are_not_reused() {
    for (alpn, version) in [(H1_ONLY, "1.1"), (H2_H1, "2")] {
        let dir = TempDir::new();
        let ca = Ca::new("Upstream CA");
        let other = Ca::new("Another CA");
        let leaf = ca.issue(LeafSpec::server("backend", &["127.0.0.1"]));
        let up = TlsUpstream::start("up", upstream_config(&leaf, alpn, None)).await;
        let ca_file = ca.write(&dir, "pool-ca.pem");
        // One worker: every request shares its idle-connection cache.
        let proxy = Proxy::start(&proxy_config(
            1,
            &[
                listener("web", "", "", "p"),
                pool(
                    "p",
                    &[up.addr],
                    &format!(
                        "http_version = \"{version}\"\n  [pool.tls]\n  ca = {}",
                        toml_path(&ca_file)
                    ),
                ),
            ],
        ));
        let client = client();
        for _ in 0..2 {
            let (status, _, body) = get(&client, &proxy.url("/")).await;
            assert_eq!(status, 200, "HTTP/{version}: {body}");
        }
        assert_eq!(up.seen().len(), 1, "HTTP/{version}: one connection, reused");

        // Still trusted, but by a changed file: the old connection retires.
        replace(&ca_file, &format!("{}{}", other.pem, ca.pem));
        proxy.check_certificates();
        for _ in 0..2 {
            let (status, _, body) = get(&client, &proxy.url("/")).await;
            assert_eq!(status, 200, "HTTP/{version}: {body}");
        }
        assert_eq!(
            up.seen().len(),
            2,
            "HTTP/{version}: a new connection under the new CA file, then reused"
        );
        assert_eq!(up.requests(), 4);
    }
}

/// A config reload keeps a pool's upstream TLS, and the idle connections
/// made with it, when the pool's TLS settings are the same; a reload that
/// changes them (here: `sni = false`) makes the next request connect afresh.
#[tokio::test(flavor = "multi_thread")]
async fn a_config_reload_keeps_idle_upstream_tls_connections_unless_the_pool_tls_changed() {
    let dir = TempDir::new();
    let ca = Ca::new("Upstream CA");
    let leaf = ca.issue(LeafSpec::server("backend", &["127.0.0.1"]));
    let up = TlsUpstream::start("up", upstream_config(&leaf, H1_ONLY, None)).await;
    let ca_file = ca.write(&dir, "pool-ca.pem");
    let text = |listener_extra: &str, tls_extra: &str| {
        proxy_config(
            1,
            &[
                listener("web", listener_extra, "", "p"),
                pool(
                    "p",
                    &[up.addr],
                    &format!("[pool.tls]\n  ca = {}\n  {tls_extra}", toml_path(&ca_file)),
                ),
            ],
        )
    };
    let mut proxy = Proxy::start(&text("", ""));
    // A new client after each reload: the reload closes the idle client
    // connections of the listener it changed.
    let (status, _, body) = get(&client(), &proxy.url("/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.seen().len(), 1);

    // The listener changes, the pool does not.
    proxy
        .reload(&text("idle_timeout = \"30s\"", ""))
        .expect("reload");
    let (status, _, body) = get(&client(), &proxy.url("/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        up.seen().len(),
        1,
        "the idle connection outlived the reload"
    );

    // The pool's TLS changes.
    proxy
        .reload(&text("idle_timeout = \"30s\"", "sni = false"))
        .expect("reload");
    let (status, _, body) = get(&client(), &proxy.url("/")).await;
    assert_eq!(status, 200, "{body}");
    let seen = up.seen();
    assert_eq!(seen.len(), 2, "a new connection under the new settings");
    assert_eq!(seen[1].sni, None);
    assert_eq!(up.requests(), 3);
}
