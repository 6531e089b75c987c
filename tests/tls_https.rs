//! What a TLS listener changes at the HTTP level, end to end: the
//! `Strict-Transport-Security` header of listeners that set `hsts`, the
//! plain-HTTP listener that redirects every request to HTTPS (`308`, host,
//! path and query kept), and `X-Forwarded-Proto: https` on TLS listeners
//! whatever the client sent. The proxy runs in-process in front of a demo
//! backend; certificates come from `common::tls::Site`.

mod common;

use common::tls::*;
use common::*;

// ---------------------------------------------------------------------------
// HSTS
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn hsts_is_added_to_every_response_of_listeners_that_set_it() {
    let site = Site::new();
    let be = backend("be");
    let hsts = "max-age=31536000; includeSubDomains";
    // Only /app is routed: other paths get the proxy's own 404.
    let routed =
        |name: &str, tls: &str| listener_routes(name, "", tls, &[route("app", "/app", "p")]);
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            routed("hsts", &format!("{}\n  hsts = \"{hsts}\"", site.tls())),
            routed("plain", &site.tls()),
            pool("p", &[be.addr], ""),
        ],
    ));
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
                header_value(&resp, "strict-transport-security"),
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

/// An upstream's own `Strict-Transport-Security` (here `max-age=0`, which
/// would lift the policy) is replaced by the listener's.
#[tokio::test(flavor = "multi_thread")]
async fn the_listeners_hsts_replaces_the_upstreams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    let answer = b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=0\r\nContent-Length: 2\r\n\r\nok";
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let site = Site::new();
    let hsts = "max-age=31536000";
    let proxy = Proxy::start(&proxy_config(
        1,
        &[
            listener(
                "web",
                "",
                &format!("{}\n  hsts = \"{hsts}\"", site.tls()),
                "p",
            ),
            pool("p", &[up], ""),
        ],
    ));
    let h1 = site.client(BOTH, H1_ONLY);
    let (_, reply) = https_get(proxy.addr_of("web"), &h1, SITE, "/", &[])
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("strict-transport-security"), Some(hsts));
}

// ---------------------------------------------------------------------------
// HTTP→HTTPS redirect listener
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
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener("redirect", "https_redirect = 8443", "", "p"),
            listener("redirect443", "https_redirect = 443", "", "p"),
            pool("p", &[be.addr], ""),
        ],
    ));
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
        proxy_config(
            2,
            &[
                listener("redirect", &format!("https_redirect = {port}"), "", "p"),
                listener("web", "", &site.tls(), "p"),
                pool("p", &[be.addr], ""),
            ],
        )
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
// X-Forwarded-Proto
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn x_forwarded_proto_is_https_on_tls_listeners() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener("tls", "", &site.tls(), "p"),
            listener("plain", "", "", "p"),
            pool("p", &[be.addr], ""),
        ],
    ));
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

/// Plain HTTP sent to a TLS listener gets a readable 400 that says so (as
/// from NGINX), not a TLS alert; it is never forwarded, and TLS clients
/// of the same listener are served as before.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_on_a_tls_listener_gets_a_400_that_says_why() {
    let site = Site::new();
    let be = backend("be");
    let proxy = Proxy::start(&proxy_config(
        2,
        &[
            listener("tls", "", &site.tls(), "p"),
            pool("p", &[be.addr], ""),
        ],
    ));
    let plain = format!("http://{}/echo", proxy.addr_of("tls"));
    let resp = client().get(&plain).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "connection"), "close");
    let body = resp.text().await.unwrap();
    assert_eq!(
        body,
        "400 plain HTTP sent to an HTTPS port: use https:// here\n"
    );
    // A client still sending its body reads the answer too (the close
    // lingers instead of resetting).
    let resp = client()
        .post(&plain)
        .body(vec![b'x'; 256 << 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(be.hits(), 0, "never forwarded");
    let (_, reply) = https_get(
        proxy.addr_of("tls"),
        &site.client(BOTH, H1_ONLY),
        SITE,
        "/",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(be.hits(), 1);
}
