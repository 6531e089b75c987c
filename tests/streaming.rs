//! Bodies stream through the proxy in both directions and are never
//! buffered: gigabyte downloads and uploads with bounded memory, and a
//! client that walks away mid-download does not hurt the proxy.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use switchyard::demo::backend::pattern_byte;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xxhash_rust::xxh3::Xxh3;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
/// How much this process may grow while a gigabyte streams through it.
const RSS_BUDGET: u64 = 200 * MIB;

/// The memory test measures this whole process: other tests in this binary
/// wait for it so they cannot skew the measurement.
static RSS_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn config(b: std::net::SocketAddr) -> String {
    fill(
        r#"
[global]
workers = 2
[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
  [[listener.route]]
  pool = "p"
[[pool]]
name = "p"
response_timeout = "60s"
endpoints = [{ address = "{b}" }]
"#,
        &[("b", b.to_string())],
    )
}

/// This process's resident set size, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

/// Samples the RSS every 50 ms on its own thread and keeps the maximum
/// (measurement only: nothing waits on it).
struct RssSampler {
    max: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let max = Arc::new(AtomicU64::new(rss()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (max.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                m.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            max,
            stop,
            thread: Some(thread),
        }
    }

    /// The largest RSS seen so far (including now).
    fn max(&self) -> u64 {
        self.max.fetch_max(rss(), Ordering::Relaxed).max(rss())
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `/bytes` content from offset 0: a buffer long enough that any window of
/// `WINDOW` bytes starting at any pattern phase is a slice of it.
const WINDOW: usize = 256 * 1024;
fn pattern_buffer() -> Vec<u8> {
    (0..(WINDOW as u64 + 251)).map(pattern_byte).collect()
}

/// Checks `chunk`, found at offset `at` of a `/bytes` body, against the pattern.
fn verify_chunk(pattern: &[u8], at: u64, chunk: &[u8]) {
    let mut off = at;
    for piece in chunk.chunks(WINDOW) {
        let phase = (off % 251) as usize;
        if piece != &pattern[phase..phase + piece.len()] {
            let bad = piece
                .iter()
                .zip(&pattern[phase..])
                .position(|(a, b)| a != b)
                .unwrap();
            panic!("byte {} of the download is wrong", off + bad as u64);
        }
        off += piece.len() as u64;
    }
}

/// Downloads `/bytes?n=N{extra}` through the proxy, verifying every byte
/// against the pattern; returns the response's Content-Length header.
async fn download(url: &str, n: u64, pattern: &[u8]) -> Option<u64> {
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let declared = resp
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let chunked = resp
        .headers()
        .get("transfer-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    if declared.is_none() {
        assert_eq!(
            chunked.as_deref(),
            Some("chunked"),
            "neither Content-Length nor chunked"
        );
    }
    let mut stream = resp.bytes_stream();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("download failed after {got} bytes: {e}"));
        verify_chunk(pattern, got, &chunk);
        got += chunk.len() as u64;
    }
    assert_eq!(got, n, "download length");
    declared
}

/// Upload content: chunks of varying sizes (so boundaries fall everywhere)
/// cut from a pseudo-random buffer; `total` bytes in all.
fn upload_chunks(total: u64) -> impl Iterator<Item = Bytes> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..2 * MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let noise = Bytes::from(noise);
    let sizes = [65_536usize, 1, 131_072 + 13, 4_093, 1_000_000, 16_384];
    let mut left = total;
    let mut i = 0usize;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = (sizes[i % sizes.len()] as u64).min(left) as usize;
        let start = (i * 7_919) % (noise.len() - n);
        i += 1;
        left -= n as u64;
        Some(noise.slice(start..start + n))
    })
}

fn xxh3_of(chunks: impl Iterator<Item = Bytes>) -> u64 {
    let mut h = Xxh3::new();
    chunks.for_each(|c| h.update(&c));
    h.digest()
}

fn assert_rss(what: &str, sampler: &RssSampler, base: u64, took: Duration) {
    let peak = sampler.max();
    let growth = peak.saturating_sub(base);
    eprintln!("{what}: {took:.1?}, RSS peak growth {} MiB", growth / MIB);
    assert!(
        growth < RSS_BUDGET,
        "{what}: RSS grew by {} MiB (from {} MiB to {} MiB): the body is being buffered",
        growth / MIB,
        base / MIB,
        peak / MIB
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gigabyte_bodies_stream_both_ways_in_bounded_memory() {
    let _exclusive = RSS_LOCK.lock().await;
    let b = backend("big");
    let proxy = Proxy::start(&config(b.addr));
    let pattern = pattern_buffer();
    // Warm up every party (allocator arenas, connection pools) before the baseline.
    download(&proxy.url("/bytes?n=10000000"), 10_000_000, &pattern).await;
    let sampler = RssSampler::start();
    let base = rss();

    // 1 GiB download with Content-Length.
    let t = Instant::now();
    let declared = download(&proxy.url(&format!("/bytes?n={GIB}")), GIB, &pattern).await;
    assert_eq!(declared, Some(GIB), "Content-Length is passed through");
    assert_rss("1 GiB Content-Length download", &sampler, base, t.elapsed());

    // 1 GiB chunked download.
    let t = Instant::now();
    let declared = download(
        &proxy.url(&format!("/bytes?n={GIB}&chunked=1")),
        GIB,
        &pattern,
    )
    .await;
    assert_eq!(declared, None, "a chunked response stays chunked");
    assert_rss("1 GiB chunked download", &sampler, base, t.elapsed());

    // 1 GiB chunked upload (a reqwest stream body is sent chunked).
    let t = Instant::now();
    let expected = xxh3_of(upload_chunks(GIB));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        upload_chunks(GIB).map(Ok::<_, std::io::Error>),
    ));
    let resp = client()
        .post(proxy.url("/upload"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        format!("big received {GIB} bytes xxh3={expected:016x}\n")
    );
    assert_rss("1 GiB chunked upload", &sampler, base, t.elapsed());

    // 64 MiB Content-Length upload over a raw socket.
    let t = Instant::now();
    let len = 64 * MIB;
    let expected = xxh3_of(upload_chunks(len));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in upload_chunks(len) {
        s.write_all(&chunk).await.unwrap();
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out);
    assert_eq!(status_of(&out), 200, "{out}");
    assert!(
        out.ends_with(&format!(
            "\r\n\r\nbig received {len} bytes xxh3={expected:016x}\n"
        )),
        "{out}"
    );
    assert_rss("64 MiB Content-Length upload", &sampler, base, t.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_abandoning_a_large_download_leaves_the_proxy_healthy() {
    let _exclusive = RSS_LOCK.lock().await;
    let b = backend("big");
    let proxy = Proxy::start(&config(b.addr).replace("workers = 2", "workers = 1"));
    let pattern = pattern_buffer();

    // Read 8 MiB of a 1 GiB response, then close the connection.
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(format!("GET /bytes?n={GIB} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < 8 * MIB as usize {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "the proxy closed the download early");
        got += n;
    }
    drop(s);

    // The proxy keeps serving, on the same worker and upstream endpoint. A
    // half-read upstream connection must not be reused: the next /bytes
    // response would then start with the abandoned body's leftovers.
    let c = client();
    for _ in 0..3 {
        let declared = download(&proxy.url("/bytes?n=3000000"), 3_000_000, &pattern).await;
        assert_eq!(declared, Some(3_000_000));
        let (status, be, body) = get(&c, &proxy.url("/")).await;
        assert_eq!((status, be.as_str(), body.as_str()), (200, "big", "big\n"));
    }
    // The abandoned upstream connection was discarded, not returned to the
    // idle pool; one fresh connection served everything after it.
    assert_eq!(b.connections(), 2, "upstream connections");
}
