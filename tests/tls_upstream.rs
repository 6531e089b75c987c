//! TLS from the proxy to its pools' endpoints (`[pool.tls]`), end to end
//! against TLS upstreams that record each handshake: verification and the
//! SNI sent, `502` for untrusted or misnamed endpoints (unless told not to
//! verify), the proxy's client certificate, the HTTP version chosen by
//! ALPN, connection reuse and session resumption, large bodies through
//! TLS on both sides, and the handshake bounded by `connect_timeout`.

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::tls::*;
use common::*;
use rustls::HandshakeKind;

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

    /// `ca = "<upstream CA file>"`.
    fn ca(&self) -> String {
        format!("ca = {}", toml_path(&self.ca_file))
    }

    async fn upstream(&self, name: &str, alpn: &[&[u8]]) -> TlsUpstream {
        TlsUpstream::start(name, upstream_config(&self.leaf, alpn, None)).await
    }
}

/// Routes "NAME" sending `/NAME` to pool NAME, one per pool name.
fn prefix_routes(pools: &[&str]) -> Vec<String> {
    pools
        .iter()
        .map(|p| route(p, &format!("/{p}"), p))
        .collect()
}

/// A plain HTTP listener "web" with [`prefix_routes`] to `pools`.
fn routed_listener(pools: &[&str]) -> String {
    listener_routes("web", "", "", &prefix_routes(pools))
}

/// A pool of one endpoint with `[pool.tls]` holding `tls`.
fn tls_pool(name: &str, endpoint: &str, pool_extra: &str, tls: &str) -> String {
    pool(
        name,
        &[endpoint],
        &format!("{pool_extra}\n  [pool.tls]\n  {tls}"),
    )
}

// ---------------------------------------------------------------------------
// Verification and SNI
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn upstream_tls_verifies_the_endpoint_and_sends_the_expected_sni() {
    let pki = UpstreamPki::new();
    let ca = pki.ca();
    let named = pki.upstream("named", H1_ONLY).await;
    let host = pki.upstream("host", H1_ONLY).await;
    let ip = pki.upstream("ip", H1_ONLY).await;
    let nosni = pki.upstream("nosni", H1_ONLY).await;
    let text = proxy_config(
        2,
        &[
            routed_listener(&["named", "host", "ip", "nosni"]),
            // By IP, verified as (and SNI) the configured server_name.
            tls_pool(
                "named",
                &named.addr.to_string(),
                "",
                &format!("{ca}\n  server_name = \"backend.internal\""),
            ),
            // By host name: verified as (and SNI) that host.
            tls_pool(
                "host",
                &format!("backend.internal:{}", host.addr.port()),
                "",
                &ca,
            ),
            // By IP without server_name: verified against the IP SAN, no SNI.
            tls_pool("ip", &ip.addr.to_string(), "", &ca),
            // sni = false: still verified as server_name, but no SNI sent.
            tls_pool(
                "nosni",
                &nosni.addr.to_string(),
                "",
                &format!("{ca}\n  server_name = \"backend.internal\"\n  sni = false"),
            ),
        ],
    );
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
    let text = proxy_config(
        2,
        &[
            routed_listener(&["wrongca", "wrongname", "insecure"]),
            tls_pool(
                "wrongca",
                &wrongca.addr.to_string(),
                "",
                &format!("ca = {}", toml_path(&pki.wrong_ca_file)),
            ),
            tls_pool(
                "wrongname",
                &wrongname.addr.to_string(),
                "",
                &format!(
                    "ca = {}\n  server_name = \"other.internal\"",
                    toml_path(&pki.ca_file)
                ),
            ),
            // Trusting nothing that signed the endpoint, but told not to verify.
            tls_pool(
                "insecure",
                &insecure.addr.to_string(),
                "",
                &format!(
                    "ca = {}\n  insecure_skip_verify = true",
                    toml_path(&pki.wrong_ca_file)
                ),
            ),
        ],
    );
    let proxy = Proxy::start(&text);
    let client = client();
    for up in [&wrongca, &wrongname] {
        let name = up.name.as_str();
        let (status, be, body) = get(&client, &proxy.url(&format!("/{name}"))).await;
        assert_eq!(status, 502, "pool {name}: {body}");
        assert_eq!(be, "", "the proxy answered, not the endpoint");
        let failed = || up.failed_handshakes.load(Ordering::SeqCst) >= 1;
        assert!(
            eventually(Duration::from_secs(10), failed).await,
            "timed out waiting for: {name} sees the handshake fail"
        );
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
    let ca = pki.ca();
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            routed_listener(&["withcert", "nocert"]),
            tls_pool(
                "withcert",
                &withcert.addr.to_string(),
                "",
                &format!(
                    "{ca}\n  client_cert = {}\n  client_key = {}",
                    toml_path(&files.cert),
                    toml_path(&files.key)
                ),
            ),
            tls_pool("nocert", &nocert.addr.to_string(), "", &ca),
        ],
    ));
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

// ---------------------------------------------------------------------------
// HTTP version, reuse and resumption
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn upstream_http_version_auto_follows_alpn() {
    let pki = UpstreamPki::new();
    let ca = pki.ca();
    let h2_up = pki.upstream("h2-capable", H2_H1).await;
    let h1_up = pki.upstream("h1-only", H1_ONLY).await;
    let pools = [
        ("auto-h2", &h2_up, "auto", "HTTP/2.0", &b"h2"[..]),
        ("auto-h1", &h1_up, "auto", "HTTP/1.1", &b"http/1.1"[..]),
        ("two", &h2_up, "2", "HTTP/2.0", &b"h2"[..]),
        ("one", &h2_up, "1.1", "HTTP/1.1", &b"http/1.1"[..]),
    ];
    let mut sections = vec![routed_listener(&pools.map(|p| p.0))];
    for (name, up, version, _, _) in &pools {
        sections.push(tls_pool(
            name,
            &up.addr.to_string(),
            &format!("http_version = \"{version}\""),
            &ca,
        ));
    }
    let proxy = Proxy::start(&proxy_config(2, &sections));
    let client = client();
    for (name, up, _, want, alpn) in &pools {
        let before = up.seen().len();
        let resp = client
            .get(proxy.url(&format!("/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "pool {name}");
        assert_eq!(header_value(&resp, "x-backend"), Some(up.name.as_str()));
        assert_eq!(
            header_value(&resp, "x-upstream-version"),
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
    let ca = pki.ca();
    let pooled = pki.upstream("pooled", H1_ONLY).await;
    let fresh = pki.upstream("fresh", H1_ONLY).await;
    // One worker: every request shares its idle-connection cache.
    let text = proxy_config(
        1,
        &[
            routed_listener(&["pooled", "fresh"]),
            tls_pool("pooled", &pooled.addr.to_string(), "", &ca),
            tls_pool(
                "fresh",
                &fresh.addr.to_string(),
                "max_idle_per_endpoint = 0",
                &ca,
            ),
        ],
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
// Bodies and timeouts
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_stream_through_tls_in_both_directions() {
    const N: usize = 8 << 20;
    let site = Site::new();
    let pki = UpstreamPki::new();
    let be = backend("be");
    let up_h1 = pki.upstream("up-h1", H1_ONLY).await;
    let up_h2 = pki.upstream("up-h2", H2_H1).await;
    let ca = pki.ca();
    let mut routes = prefix_routes(&["up-h1", "up-h2"]);
    routes.push(route("all", "", "p"));
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener_routes("web", "", &site.tls(), &routes),
            pool("p", &[be.addr], ""),
            tls_pool("up-h1", &up_h1.addr.to_string(), "", &ca),
            tls_pool(
                "up-h2",
                &up_h2.addr.to_string(),
                "http_version = \"2\"",
                &ca,
            ),
        ],
    ));
    let upload = demo_pattern(N as u64);
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
                is_demo_pattern(&body),
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
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            routed_listener(&["silent"]),
            tls_pool(
                "silent",
                &silent_addr.to_string(),
                "connect_timeout = \"300ms\"",
                &pki.ca(),
            ),
        ],
    ));
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

// ---------------------------------------------------------------------------
// WebSocket upgrades to TLS endpoints of HTTP/2 pools
// ---------------------------------------------------------------------------

/// A WebSocket echo server behind TLS that offers `h2` and `http/1.1` by
/// ALPN (as a backend serving gRPC and WebSocket on one port does); it
/// records the protocol each handshake picked.
async fn tls_ws_echo(
    pki: &UpstreamPki,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Option<Vec<u8>>>>>,
    tokio::task::JoinHandle<()>,
) {
    use futures_util::{SinkExt, StreamExt};
    let config = upstream_config(&pki.leaf, H2_H1, None);
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let alpns: std::sync::Arc<std::sync::Mutex<Vec<Option<Vec<u8>>>>> = Default::default();
    let seen = alpns.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                seen.lock().unwrap().push(alpn);
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, alpns, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_upgrades_to_an_http2_tls_pool_use_http1_alpn() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let pki = UpstreamPki::new();
    let (addr, alpns, task) = tls_ws_echo(&pki).await;
    let text = proxy_config(
        1,
        &[
            routed_listener(&["ws"]),
            tls_pool(
                "ws",
                &addr.to_string(),
                "http_version = \"2\"",
                &format!("{}\n  server_name = \"backend.internal\"", pki.ca()),
            ),
        ],
    );
    let proxy = Proxy::start(&text);
    let url = format!("ws://{}/ws/echo", proxy.addr_of("web"));
    let (mut ws, resp) = within(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("WebSocket handshake through an HTTP/2 TLS pool");
    assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("through TLS")).await.unwrap();
    let echoed = within(Duration::from_secs(5), ws.next())
        .await
        .expect("an echo")
        .expect("no error");
    assert_eq!(echoed, Message::text("through TLS"));
    // The pool speaks h2 by ALPN, but the upgrade connection offered (and
    // the backend picked) http/1.1.
    assert_eq!(
        alpns.lock().unwrap().as_slice(),
        &[Some(b"http/1.1".to_vec())]
    );
    task.abort();
}
