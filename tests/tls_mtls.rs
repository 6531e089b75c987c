//! Client certificates (mTLS) on TLS listeners, end to end: `client_auth`
//! required or optional, the verified identity passed to backends in
//! `x-client-cert-*` headers (client-sent copies replaced or removed),
//! routes that match on that identity and cannot be fooled by forged
//! headers or URI SANs, resumed sessions keeping their identity, and a
//! reload that changes the client CA refusing sessions the old CA
//! verified.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::tls::*;
use common::*;
use rustls::HandshakeKind;
use switchyard::demo::BackendHandle;

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
    /// CN `x,CN=admin`: written `CN=x\,CN=admin` in the subject header.
    comma: Issued,
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
        let comma = clients.issue(LeafSpec::client("x,CN=admin"));
        Mtls {
            site,
            clients_file,
            alice,
            admin,
            zoe,
            mallory,
            comma,
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

// ---------------------------------------------------------------------------
// Verification and identity headers
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn mtls_required_refuses_clients_without_a_valid_certificate() {
    let m = Mtls::new();
    // client_auth defaults to "required".
    let (be, proxy) = web_proxy("", &m.tls(""));
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
    let (_be, proxy) = web_proxy("", &m.tls("client_auth = \"required\""));
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
    let (be, proxy) = web_proxy("", &m.tls("client_auth = \"optional\""));
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

// ---------------------------------------------------------------------------
// Routing on the verified identity
// ---------------------------------------------------------------------------

/// A proxy whose listener "web" (`[listener.tls]` holding `tls`) sends
/// requests whose header `name` matches `regex` (TOML-escaped) to backend
/// "admins" (route "admin"), and everything else to backend "users"
/// (route "everyone").
fn admin_routed(tls: &str, name: &str, regex: &str) -> (BackendHandle, BackendHandle, Proxy) {
    let (admins, users) = (backend("admins"), backend("users"));
    let admin = format!(
        "\n  [[listener.route]]\n  name = \"admin\"\n  headers = [{{ name = \"{name}\", regex = \"{regex}\" }}]\n  pool = \"admins\"\n"
    );
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener_routes("web", "", tls, &[admin, route("everyone", "", "users")]),
            pool("admins", &[admins.addr], ""),
            pool("users", &[users.addr], ""),
        ],
    ));
    (admins, users, proxy)
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_match_the_verified_identity_not_client_sent_headers() {
    let m = Mtls::new();
    let (_admins, _users, proxy) = admin_routed(
        &m.tls("client_auth = \"optional\""),
        "x-client-cert-subject",
        "^CN=admin(,|$)",
    );
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
                header_value(&resp, "x-backend"),
                Some(*want),
                "{what} over {:?}",
                resp.version()
            );
        }
    }
}

/// The subject regex docs/tls.md shows: a whole `CN=admin` attribute
/// passes, one hidden behind an escaped comma in another value does not.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_subject_regex_is_not_fooled_by_an_escaped_comma() {
    let m = Mtls::new();
    // In a TOML basic string `\\\\` is the regex's `\\`: a literal backslash.
    let (_admins, _users, proxy) = admin_routed(
        &m.tls("client_auth = \"optional\""),
        "x-client-cert-subject",
        r"(^|[^\\\\],)CN=admin(,|$)",
    );
    let addr = proxy.addr_of("web");
    for (who, want) in [
        (&m.admin, "admins"),
        (&m.comma, "users"),
        (&m.alice, "users"),
    ] {
        let client = https_client(m.client(Some(who), BOTH, H1_ONLY), &[SITE], addr);
        let resp = client
            .get(proxy.https_url("web", SITE, "/echo"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let backend = header_value(&resp, "x-backend").map(str::to_owned);
        let body = resp.text().await.unwrap();
        assert_eq!(backend.as_deref(), Some(want), "{body}");
    }
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
    let (_admins, _users, proxy) = admin_routed(
        &format!(
            "{}\n  client_ca = {}",
            m.site.tls(),
            toml_path(&clients_file)
        ),
        "x-client-cert-san",
        r"(^|, )DNS:admin\\.example\\.com(, |$)",
    );
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

// ---------------------------------------------------------------------------
// Resumption and reloads
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn resumed_mtls_sessions_keep_their_identity() {
    let m = Mtls::new();
    let (_be, proxy) = web_proxy("", &m.tls(""));
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
        let tls = format!("{}\n  client_ca = {}", m.site.tls(), toml_path(ca));
        web_config("", &tls, be.addr)
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
