//! The HTTP/2 listener's safety limits, end to end: the advertised and
//! enforced SETTINGS_MAX_CONCURRENT_STREAMS, Rapid Reset floods (GOAWAY
//! ENHANCE_YOUR_CALM while well-behaved clients go on being served; so
//! does a burst of resets of forwarded streams, while a client cancelling
//! streams one at a time is never disconnected),
//! header lists over `max_header_bytes` (431, then the connection for
//! floods far beyond it), more fields than `max_headers` (431), CONTINUATION floods, and floods of empty DATA,
//! PRIORITY and WINDOW_UPDATE frames. Attacks are written
//! frame by frame (`common::h2::RawH2`); the proxy runs in-process in front
//! of a demo backend.

mod common;

use std::time::{Duration, Instant};

use common::h2::*;
use common::{eventually, within};
use http::{StatusCode, Version};

#[tokio::test(flavor = "multi_thread")]
async fn max_concurrent_streams_is_advertised_and_enforced() {
    let (_b, proxy) = h2c_proxy_to_demo(1, "h2_max_concurrent_streams = 2");

    // A raw client reads it in the server's SETTINGS.
    let mut raw = RawH2::connect(proxy.addr()).await;
    assert!(
        raw.server_settings
            .contains(&(SETTINGS_MAX_CONCURRENT_STREAMS, 2)),
        "server SETTINGS: {:?}",
        raw.server_settings
    );

    // The h2 crate sees it as its send limit.
    let mut send = h2_crate_client(proxy.addr()).await;
    let req = http::Request::get(format!("http://{}/", proxy.addr()))
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    assert_eq!(resp.await.unwrap().status(), StatusCode::OK);
    let send = send.ready().await.unwrap();
    assert_eq!(send.current_max_send_streams(), 2);

    // A third concurrent stream is refused (REFUSED_STREAM), the first two
    // are not.
    let authority = proxy.addr().to_string();
    let mut burst = Vec::new();
    for id in [1, 3] {
        burst.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            id,
            &get_block(&authority, "/slow?ms=3000"),
        ));
    }
    burst.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        5,
        &get_block(&authority, "/"),
    ));
    raw.send(&burst).await.unwrap();
    let rst = raw
        .until(Duration::from_secs(5), |f| f.kind == RST_STREAM)
        .await
        .expect("a RST_STREAM");
    assert_eq!(rst.stream, 5, "the refused stream");
    assert_eq!(rst.error_code(), REFUSED_STREAM);
}

#[tokio::test(flavor = "multi_thread")]
async fn rapid_reset_flood_gets_goaway_enhance_your_calm() {
    let (b, proxy) = h2c_proxy_to_demo(2, "h2_max_pending_resets = 20");
    let addr = proxy.addr();

    // A well-behaved client on its own connection, before, during, after.
    let good = h2_client();
    let url = proxy.url("/");
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let (g, u, s, n) = (good.clone(), url.clone(), stop.clone(), served.clone());
    let during = tokio::spawn(async move {
        while !s.load(Ordering::SeqCst) {
            let r = g.get(&u).send().await.expect("good client request");
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.version(), Version::HTTP_2);
            r.bytes().await.unwrap();
            n.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert!(
        eventually(Duration::from_secs(5), || served.load(Ordering::SeqCst)
            >= 1)
        .await,
        "the good client is served before the flood"
    );

    let mut raw = RawH2::connect(addr).await;
    let block = get_block(&addr.to_string(), "/");
    let mut flood = Vec::new();
    for i in 0..1000u32 {
        let id = 2 * i + 1;
        flood.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &block));
        flood.extend(rst_stream(id, CANCEL));
    }
    // The proxy may close mid-flood: write errors are expected.
    let _ = raw.send(&flood).await;
    let goaway = raw
        .until(Duration::from_secs(10), |f| f.kind == GOAWAY)
        .await
        .expect("a GOAWAY before the connection ends");
    assert_eq!(goaway.error_code(), ENHANCE_YOUR_CALM, "GOAWAY error code");
    // Then the connection ends.
    let rest = within(Duration::from_secs(5), async {
        let mut n = 0;
        while raw.read_frame().await.is_some() {
            n += 1;
        }
        n
    })
    .await;
    assert!(rest < 100, "{rest} frames after GOAWAY");

    // The good client goes on being served after the flood's GOAWAY.
    let after = served.load(Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(5), || served.load(Ordering::SeqCst)
            >= after + 20)
        .await,
        "the good client stalled after the flood"
    );
    stop.store(true, Ordering::SeqCst);
    within(Duration::from_secs(10), during).await.unwrap();
    let ok = served.load(Ordering::SeqCst);
    let r = good.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Reset streams were (nearly all) never forwarded.
    let flooded = b.hits() as usize - ok - 1;
    assert!(
        flooded <= 100,
        "{flooded} of 1000 reset streams reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_cancelling_streams_one_at_a_time_is_never_disconnected() {
    // gRPC deadlines, aborted fetches: 200 slow requests on one connection,
    // each cancelled once it reached the backend, ten times the limit.
    let (b, proxy) = h2c_proxy_to_demo(1, "h2_max_pending_resets = 20");
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    let slow = get_block(&addr.to_string(), "/slow?ms=60000");
    for i in 0..200u32 {
        let id = 2 * i + 1;
        // A write error shows as the backend never seeing the request.
        let _ = raw
            .send(&frame(HEADERS, END_HEADERS | END_STREAM, id, &slow))
            .await;
        assert!(
            eventually(Duration::from_secs(5), || b.hits() == u64::from(i + 1)).await,
            "cancel #{i}: stream {id} never reached the backend (connection ended?)"
        );
        let _ = raw.send(&rst_stream(id, CANCEL)).await;
    }
    // The connection still serves: no GOAWAY came before this answer.
    let _ = raw
        .send(&frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            401,
            &get_block(&addr.to_string(), "/"),
        ))
        .await;
    let f = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == GOAWAY || (f.kind == HEADERS && f.stream == 401)
        })
        .await
        .expect("a frame before the connection ends");
    assert_eq!(
        (f.kind, f.stream),
        (HEADERS, 401),
        "GOAWAY {:#x} {:?} instead of an answer",
        f.error_code(),
        String::from_utf8_lossy(f.payload.get(8..).unwrap_or_default())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_resets_of_forwarded_streams_gets_goaway_enhance_your_calm() {
    // The streams reached the backend before the resets: a reset of a
    // forwarded stream counts like one of a stream never seen.
    let (b, proxy) = h2c_proxy_to_demo(1, "h2_max_pending_resets = 20");
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    let slow = get_block(&addr.to_string(), "/slow?ms=60000");
    let ids: Vec<u32> = (0..30).map(|i| 2 * i + 1).collect();
    let opens: Vec<u8> = ids
        .iter()
        .flat_map(|&id| frame(HEADERS, END_HEADERS | END_STREAM, id, &slow))
        .collect();
    raw.send(&opens).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || b.hits() == 30).await,
        "{} of 30 streams reached the backend",
        b.hits()
    );
    let resets: Vec<u8> = ids.iter().flat_map(|&id| rst_stream(id, CANCEL)).collect();
    let _ = raw.send(&resets).await;
    let goaway = raw
        .until(Duration::from_secs(5), |f| f.kind == GOAWAY)
        .await
        .expect("a GOAWAY before the connection ends");
    assert_eq!(goaway.error_code(), ENHANCE_YOUR_CALM, "GOAWAY error code");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_header_list_is_refused_with_431() {
    let (b, proxy) = h2c_proxy_to_demo(1, "max_header_bytes = 16384");
    let addr = proxy.addr();
    let mut send = h2_crate_client(addr).await;

    let big = "a".repeat(20_000);
    let req = http::Request::get(format!("http://{addr}/"))
        .header("x-big", big.as_str())
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let resp = within(Duration::from_secs(5), resp).await.unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(b.hits(), 0, "the oversized request was not forwarded");

    // The connection is still usable.
    let mut send = send.ready().await.unwrap();
    let req = http::Request::get(format!("http://{addr}/"))
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    assert_eq!(resp.await.unwrap().status(), StatusCode::OK);
    assert_eq!(b.hits(), 1);

    // Far beyond the limit (more CONTINUATION frames than any header list
    // within the limit needs): the whole connection goes, ENHANCE_YOUR_CALM.
    let huge = "a".repeat(200_000);
    let req = http::Request::get(format!("http://{addr}/"))
        .header("x-huge", huge.as_str())
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let err = within(Duration::from_secs(5), resp).await.unwrap_err();
    assert!(err.is_go_away(), "expected a GOAWAY, got {err:?}");
    assert_eq!(err.reason(), Some(::h2::Reason::ENHANCE_YOUR_CALM));
    assert_eq!(b.hits(), 1);

    // A fresh connection works.
    let r = h2_client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// `max_headers` holds for HTTP/2 requests as for HTTP/1.1 ones (it was
/// not counted: 1200 fields went through). Cookie crumbs count as one
/// field, as joined for an HTTP/1.1 backend. Both HTTP/2 servers.
#[tokio::test(flavor = "multi_thread")]
async fn more_header_fields_than_max_headers_get_431() {
    for server in ["own", "hyper"] {
        let (b, proxy) =
            h2c_proxy_to_demo(1, &format!("max_headers = 20\nh2_server = \"{server}\""));
        let addr = proxy.addr();
        let mut send = h2_crate_client(addr).await;
        let request = |fields: usize, cookies: usize| {
            let mut req = http::Request::get(format!("http://{addr}/"));
            for i in 0..fields {
                req = req.header(format!("x-h{i}"), "v");
            }
            for i in 0..cookies {
                req = req.header("cookie", format!("c{i}=v"));
            }
            req.body(()).unwrap()
        };
        // 21 fields: refused, never forwarded; the connection goes on.
        let (resp, _) = send.send_request(request(21, 0), true).unwrap();
        let resp = within(Duration::from_secs(5), resp).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{server}"
        );
        assert_eq!(b.hits(), 0, "{server}");
        // 19 fields and 30 cookie crumbs: 20 fields.
        let mut send = send.ready().await.unwrap();
        let (resp, _) = send.send_request(request(19, 30), true).unwrap();
        let resp = within(Duration::from_secs(5), resp).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{server}");
        assert_eq!(b.hits(), 1, "{server}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn continuation_flood_ends_the_connection() {
    let (b, proxy) = h2c_proxy_to_demo(1, "");
    let addr = proxy.addr();
    let raw = RawH2::connect(addr).await;
    let (mut rd, mut wr) = raw.tcp.into_split();

    // HEADERS without END_HEADERS, then CONTINUATION frames that never end
    // the block: 32 MiB of them unless the proxy stops reading first.
    const FLOOD: usize = 32 << 20;
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let start = frame(HEADERS, END_STREAM, 1, &get_block(&addr.to_string(), "/"));
        wr.write_all(&start).await?;
        let mut one = Vec::new();
        hpack_literal(&mut one, "x-f", b"1");
        let cont = frame(CONTINUATION, 0, 1, &one);
        let chunk: Vec<u8> = cont.repeat(64 * 1024 / cont.len());
        let mut sent = 0;
        while sent < FLOOD {
            wr.write_all(&chunk).await?;
            sent += chunk.len();
        }
        Ok::<usize, std::io::Error>(sent)
    });
    let started = Instant::now();
    let goaway = within(Duration::from_secs(10), async {
        while let Some(f) = read_frame(&mut rd).await {
            if f.kind == GOAWAY {
                return Some(f);
            }
        }
        None
    })
    .await
    .expect("a GOAWAY");
    assert_eq!(goaway.error_code(), ENHANCE_YOUR_CALM, "GOAWAY error code");
    // The connection ends, and the proxy stopped reading long before the
    // flood was over (the writer fails: the socket was closed).
    within(Duration::from_secs(5), async {
        while read_frame(&mut rd).await.is_some() {}
    })
    .await;
    let written = within(Duration::from_secs(10), writer).await.unwrap();
    assert!(
        written.is_err(),
        "the proxy kept reading a 32 MiB CONTINUATION flood ({written:?})"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(b.hits(), 0);

    // A fresh client is served.
    let r = h2_client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(b.hits(), 1);
}

/// Sends `flood` (after `opening`) on a raw connection and expects GOAWAY
/// ENHANCE_YOUR_CALM, then the end of the connection; a fresh client is
/// served after it.
async fn flood_gets_goaway(what: &str, opening: Vec<u8>, flood_frame: Vec<u8>) {
    let (_b, proxy) = h2c_proxy_to_demo(1, "");
    let addr = proxy.addr();
    let mut raw = RawH2::connect(addr).await;
    let mut input = opening;
    // 10 000 frames: far past every cap, small enough to write at once.
    input.extend(flood_frame.repeat(10_000));
    // The proxy may close mid-flood: write errors are expected.
    let _ = raw.send(&input).await;
    let goaway = raw
        .until(Duration::from_secs(10), |f| f.kind == GOAWAY)
        .await
        .unwrap_or_else(|| panic!("{what}: no GOAWAY"));
    assert_eq!(
        goaway.error_code(),
        ENHANCE_YOUR_CALM,
        "{what}: GOAWAY code"
    );
    within(Duration::from_secs(5), async {
        while raw.read_frame().await.is_some() {}
    })
    .await;
    let r = h2_client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{what}: a fresh client");
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_data_frame_flood_ends_the_connection() {
    // A POST (static index 3) whose body never comes: only empty DATA
    // frames.
    let mut block = vec![0x83];
    block.extend(&get_block("localhost", "/")[1..]);
    let open = frame(HEADERS, END_HEADERS, 1, &block);
    flood_gets_goaway("empty DATA", open, frame(DATA, 0, 1, b"")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn priority_frame_flood_ends_the_connection() {
    flood_gets_goaway(
        "PRIORITY",
        Vec::new(),
        frame(PRIORITY, 0, 1, &[0, 0, 0, 0, 15]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn window_update_flood_ends_the_connection() {
    flood_gets_goaway(
        "WINDOW_UPDATE",
        Vec::new(),
        frame(WINDOW_UPDATE, 0, 0, &1u32.to_be_bytes()),
    )
    .await;
}
