//! gRPC through the proxy, with real tonic clients and tonic-served
//! backends (messages are raw bytes: see `common::h2::RawCodec`): per-RPC
//! balancing of one client connection, all four call shapes (streaming
//! without buffering), status pass-through, routing by service, the gRPC
//! form of the proxy's own errors, and `grpc-timeout`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::h2::*;
use common::{Proxy, listener_routes, pool, proxy_config, route, within};
use futures_util::StreamExt;
use http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// Listener "web" (h2c) with unnamed `routes` (path prefix, pool), and
/// `pools` (name, endpoints) speaking HTTP/2 to their endpoints, each with
/// `pool_extra` keys added.
fn config_with(
    routes: &[(&str, &str)],
    pools: &[(&str, &[SocketAddr])],
    pool_extra: &str,
) -> String {
    let routes: Vec<String> = routes
        .iter()
        .map(|(prefix, pool)| route("", prefix, pool))
        .collect();
    let mut sections = vec![listener_routes("web", "http2 = true", "", &routes)];
    for (name, eps) in pools {
        sections.push(pool(
            name,
            eps,
            &format!(
                "algorithm = \"round_robin\"\nhttp_version = \"2\"\nfail_timeout = \"0s\"\n{pool_extra}"
            ),
        ));
    }
    proxy_config(2, &sections)
}

/// [`config_with`] without extra pool keys.
fn config(routes: &[(&str, &str)], pools: &[(&str, &[SocketAddr])]) -> String {
    config_with(routes, pools, "")
}

/// A [`GrpcBackend`] "g" behind a proxy that routes `/pkg.Echo/` to it,
/// and a tonic client over a channel to the proxy.
async fn echo_setup() -> (GrpcBackend, Proxy, tonic::client::Grpc<Channel>) {
    let b = GrpcBackend::start("g").await;
    let proxy = Proxy::start(&config(&[("/pkg.Echo/", "grpc")], &[("grpc", &[b.addr])]));
    let (channel, _) = grpc_channel(proxy.addr()).await;
    (b, proxy, tonic::client::Grpc::new(channel))
}

fn msg(s: &str) -> Request<Bytes> {
    Request::new(Bytes::copy_from_slice(s.as_bytes()))
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// (backend tag, rest) of a `NAME:MSG` reply.
fn split(b: &Bytes) -> (String, String) {
    let t = text(b);
    let (n, m) = t.split_once(':').expect("NAME:MSG");
    (n.to_owned(), m.to_owned())
}

/// One `Stall` call (answered after 5 s) with a `grpc-timeout` of
/// `timeout`, failing the test if it has no answer within `limit`: its
/// error (it must fail) and how long it took.
async fn stall<T>(
    client: &mut tonic::client::Grpc<T>,
    timeout: Duration,
    limit: Duration,
) -> (Status, Duration)
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError>,
    T::Error: Into<tonic::codegen::StdError>,
{
    let mut req = msg("slow");
    req.set_timeout(timeout);
    let start = Instant::now();
    let err = within(limit, unary(client, "/pkg.Echo/Stall", req))
        .await
        .expect_err("deadline");
    (err, start.elapsed())
}

// ---- 6. per-RPC balancing ----------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unary_rpcs_over_one_channel_are_balanced_per_call() {
    let backends = [
        GrpcBackend::start("g1").await,
        GrpcBackend::start("g2").await,
        GrpcBackend::start("g3").await,
    ];
    let eps: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let proxy = Proxy::start(&config(&[("/pkg.Echo/", "grpc")], &[("grpc", &eps)]));
    let (channel, connects) = grpc_channel(proxy.addr()).await;
    let mut client = tonic::client::Grpc::new(channel);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    within(Duration::from_secs(20), async {
        for i in 0..300 {
            let r = unary(&mut client, "/pkg.Echo/Unary", msg(&format!("m{i}")))
                .await
                .unwrap_or_else(|s| panic!("call {i}: {s:?}"));
            let (backend, echoed) = split(r.get_ref());
            assert_eq!(echoed, format!("m{i}"));
            *seen.entry(backend).or_default() += 1;
        }
    })
    .await;
    assert_eq!(
        connects.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one HTTP/2 connection to the proxy"
    );
    for b in &backends {
        let n = seen.get(&b.name).copied().unwrap_or(0);
        assert!((80..=120).contains(&n), "{}: {n} calls", b.name);
        // round_robin on one worker: exactly a third.
        assert_eq!(n, 100, "{} calls", b.name);
        assert_eq!(b.calls(), 100);
    }
}

// ---- 7. streaming -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn server_streaming_through_the_proxy() {
    let (_b, _proxy, mut client) = echo_setup().await;
    client.ready().await.unwrap();
    let resp = client
        .server_streaming(
            msg("500"),
            PathAndQuery::from_static("/pkg.Echo/ServerStream"),
            RawCodec,
        )
        .await
        .expect("stream starts");
    let mut stream = resp.into_inner();
    let mut got = Vec::new();
    within(Duration::from_secs(10), async {
        while let Some(m) = stream.message().await.expect("message") {
            got.push(text(&m));
        }
    })
    .await;
    let want: Vec<String> = (0..500).map(|i| format!("g:{i}")).collect();
    // `message()` ended with Ok(None): tonic found `grpc-status: 0` in
    // the trailers (it reports a missing grpc-status as an error).
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_streaming_through_the_proxy() {
    let (_b, _proxy, mut client) = echo_setup().await;
    client.ready().await.unwrap();
    // 200 messages of 1 KiB: more than one flow-control window's worth
    // of small frames, concatenated by the backend.
    let parts: Vec<Bytes> = (0..200u8)
        .map(|i| Bytes::from(vec![b'a' + i % 26; 1024]))
        .collect();
    let want: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let resp = within(
        Duration::from_secs(10),
        client.client_streaming(
            Request::new(futures_util::stream::iter(parts)),
            PathAndQuery::from_static("/pkg.Echo/ClientStream"),
            RawCodec,
        ),
    )
    .await
    .expect("client streaming call");
    let reply = resp.into_inner();
    assert_eq!(&reply[..2], b"g:");
    assert_eq!(reply.len() - 2, want.len());
    assert!(reply[2..] == want[..], "concatenation differs");
}

#[tokio::test(flavor = "multi_thread")]
async fn bidi_streaming_is_not_buffered() {
    let (_b, _proxy, mut client) = echo_setup().await;
    client.ready().await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    tx.send(Bytes::from_static(b"0")).await.unwrap();
    let resp = within(
        Duration::from_secs(5),
        client.streaming(
            Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            PathAndQuery::from_static("/pkg.Echo/Bidi"),
            RawCodec,
        ),
    )
    .await
    .expect("bidi call starts");
    let mut replies = resp.into_inner();
    // Ping-pong: the next message is sent only once the previous reply is
    // back, so any buffering of either direction would deadlock here.
    within(Duration::from_secs(10), async {
        for i in 0..50 {
            let r = replies
                .message()
                .await
                .expect("reply")
                .expect("stream open");
            assert_eq!(text(&r), format!("g:{i}"));
            if i < 49 {
                tx.send(Bytes::from((i + 1).to_string())).await.unwrap();
            }
        }
    })
    .await;
    drop(tx);
    let end = within(Duration::from_secs(5), replies.message()).await;
    assert!(matches!(end, Ok(None)), "clean end of stream: {end:?}");
}

// ---- 8. status pass-through ---------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn backend_status_passes_through() {
    let (b, _proxy, mut client) = echo_setup().await;

    // Trailers-only error response.
    let err = unary(&mut client, "/pkg.Echo/NotFound", msg("thing x is missing"))
        .await
        .expect_err("NOT_FOUND");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(err.message(), "thing x is missing");

    // Status in trailers after data frames.
    client.ready().await.unwrap();
    let resp = client
        .server_streaming(
            msg(""),
            PathAndQuery::from_static("/pkg.Echo/StreamThenAbort"),
            RawCodec,
        )
        .await
        .expect("stream starts");
    let mut stream = resp.into_inner();
    assert_eq!(text(&stream.message().await.unwrap().unwrap()), "g:first");
    assert_eq!(text(&stream.message().await.unwrap().unwrap()), "g:second");
    let err = stream.message().await.expect_err("ABORTED after the data");
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert_eq!(err.message(), "stopped midway");

    // The backend's own UNIMPLEMENTED (not the proxy's).
    let err = unary(&mut client, "/pkg.Echo/NoSuchMethod", msg(""))
        .await
        .expect_err("UNIMPLEMENTED");
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(err.message(), "no method NoSuchMethod");
    assert_eq!(b.calls(), 3);
}

// ---- 9. routing by service --------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_service() {
    let a = GrpcBackend::start("A").await;
    let b = GrpcBackend::start("B").await;
    let proxy = Proxy::start(&config(
        &[("/pkg.Echo/", "a"), ("/pkg.Other/", "b")],
        &[("a", &[a.addr]), ("b", &[b.addr])],
    ));
    let (channel, _) = grpc_channel(proxy.addr()).await;
    let mut client = tonic::client::Grpc::new(channel);
    for _ in 0..5 {
        let r = unary(&mut client, "/pkg.Echo/Unary", msg("e"))
            .await
            .unwrap();
        assert_eq!(text(r.get_ref()), "A:e");
        assert_eq!(r.metadata().get("x-backend").unwrap(), "A");
        let r = unary(&mut client, "/pkg.Other/Unary", msg("o"))
            .await
            .unwrap();
        assert_eq!(text(r.get_ref()), "B:o");
    }
    assert_eq!((a.calls(), b.calls()), (5, 5));
}

// ---- 10. the proxy's own errors as gRPC statuses -----------------------------

#[tokio::test(flavor = "multi_thread")]
async fn dead_endpoint_is_unavailable_and_no_route_is_unimplemented() {
    let (_hold, dead) = common::held_dead_addr();
    let proxy = Proxy::start(&config(&[("/pkg.Echo/", "grpc")], &[("grpc", &[dead])]));
    let (channel, _) = grpc_channel(proxy.addr()).await;
    let mut client = tonic::client::Grpc::new(channel);

    let err = unary(&mut client, "/pkg.Echo/Unary", msg("x"))
        .await
        .expect_err("no endpoint");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(!err.message().is_empty());

    let err = unary(&mut client, "/pkg.Nope/Unary", msg("x"))
        .await
        .expect_err("no route");
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");

    // On the wire: HTTP 200, a trailers-only response (HEADERS with
    // END_STREAM) carrying grpc-status.
    let mut send = h2_crate_client(proxy.addr()).await;
    for (path, status) in [("/pkg.Echo/Unary", "14"), ("/pkg.Nope/Unary", "12")] {
        let req = http::Request::post(format!("http://{}{path}", proxy.addr()))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        send = send.ready().await.unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = within(Duration::from_secs(5), resp).await.unwrap();
        assert_eq!(resp.status(), http::StatusCode::OK, "{path}");
        let h = resp.headers();
        assert_eq!(h["grpc-status"], status, "{path}: {h:?}");
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/grpc")
        );
        assert!(h.contains_key("grpc-message"), "{path}: {h:?}");
        assert!(resp.body().is_end_stream(), "{path}: trailers-only");
    }
}

// ---- 11. grpc-timeout -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn grpc_timeout_bounds_the_wait_for_a_stalled_backend() {
    let (b, proxy, mut client) = echo_setup().await;

    // A tonic channel: the deadline fires within ~1 s. tonic enforces it
    // too, and reports its own expiry as CANCELLED ("Timeout expired"), so
    // either side may answer first.
    let (err, took) = stall(
        &mut client,
        Duration::from_millis(200),
        Duration::from_secs(3),
    )
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(
        err.code() == Code::DeadlineExceeded
            || (err.code() == Code::Cancelled && err.message().contains("Timeout expired")),
        "{err:?}"
    );

    // A tonic client over a plain hyper connection (no client-side
    // deadline): only the proxy can end the call, with DEADLINE_EXCEEDED.
    let mut client = grpc_over_hyper(proxy.addr()).await;
    let (err, took) = stall(
        &mut client,
        Duration::from_millis(200),
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(1),
        "{took:?}"
    );

    // Raw HTTP/2 with `grpc-timeout: 200m` and no client deadline at all:
    // the proxy's trailers-only answer says DEADLINE_EXCEEDED (4).
    let mut send = h2_crate_client(proxy.addr()).await;
    let req = http::Request::post(format!("http://{}/pkg.Echo/Stall", proxy.addr()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "200m")
        .body(())
        .unwrap();
    let (resp, mut body) = send.send_request(req, false).unwrap();
    // One gRPC frame: uncompressed, 4 bytes.
    body.send_data(Bytes::from_static(b"\0\0\0\0\x04slow"), true)
        .unwrap();
    let start = Instant::now();
    let resp = within(Duration::from_secs(10), resp).await.unwrap();
    let took = start.elapsed();
    assert_eq!(resp.status(), http::StatusCode::OK);
    assert_eq!(resp.headers()["grpc-status"], "4", "{:?}", resp.headers());
    assert!(resp.body().is_end_stream(), "trailers-only");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(b.calls(), 3, "each call reached the backend");
    // A client's deadline shorter than the pool's response_timeout is not
    // the endpoint's failure: it is not marked down for it.
    assert_eq!(proxy.endpoint_response_failures(&b.addr.to_string()), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_streams_of_one_connection_run_concurrently() {
    // Many concurrent calls on one channel, some stalled: the others are
    // not held up behind them (per-stream, not per-connection, forwarding).
    let b = GrpcBackend::start("g").await;
    let proxy = Proxy::start(&config(&[("/pkg.Echo/", "grpc")], &[("grpc", &[b.addr])]));
    let (channel, connects) = grpc_channel(proxy.addr()).await;
    let stalled: Vec<_> = (0..3)
        .map(|_| {
            let mut c = tonic::client::Grpc::new(channel.clone());
            tokio::spawn(async move {
                let _ = unary(&mut c, "/pkg.Echo/Stall", msg("s")).await;
            })
        })
        .collect();
    let mut client = tonic::client::Grpc::new(channel);
    let start = Instant::now();
    let calls = futures_util::stream::iter(0..50)
        .map(|i| {
            let mut c = client.clone();
            async move { unary(&mut c, "/pkg.Echo/Unary", msg(&i.to_string())).await }
        })
        .buffer_unordered(10)
        .collect::<Vec<_>>();
    let results = within(Duration::from_secs(4), calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(start.elapsed() < Duration::from_secs(4));
    unary(&mut client, "/pkg.Echo/Unary", msg("last"))
        .await
        .unwrap();
    assert_eq!(connects.load(std::sync::atomic::Ordering::SeqCst), 1);
    for s in stalled {
        s.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_timeout_never_raises_the_pool_response_timeout() {
    let b = GrpcBackend::start("g").await;
    let proxy = Proxy::start(&config_with(
        &[("/pkg.Echo/", "grpc")],
        &[("grpc", &[b.addr])],
        "response_timeout = \"300ms\"",
    ));
    // No client-side deadline enforcement: the proxy's answer, after the
    // pool's 300 ms, not the client's 10 s.
    let mut client = grpc_over_hyper(proxy.addr()).await;
    let (err, took) = stall(&mut client, Duration::from_secs(10), Duration::from_secs(5)).await;
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // Without grpc-timeout: the same.
    let start = Instant::now();
    let err = unary(&mut client, "/pkg.Echo/Stall", msg("slow"))
        .await
        .expect_err("deadline");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn large_messages_cross_the_proxy_both_ways() {
    // 3 MiB each way: several flow-control windows on both HTTP/2 hops.
    let (_b, _proxy, mut client) = echo_setup().await;
    let big: Bytes = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
    let r = within(
        Duration::from_secs(20),
        unary(&mut client, "/pkg.Echo/Unary", Request::new(big.clone())),
    )
    .await
    .expect("3 MiB unary call");
    let reply = r.into_inner();
    assert_eq!(&reply[..2], b"g:");
    assert_eq!(reply.len() - 2, big.len());
    assert!(reply[2..] == big[..], "3 MiB message corrupted");
}
