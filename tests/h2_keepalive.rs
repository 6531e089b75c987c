//! HTTP/2 keepalive PINGs, end to end.
//!
//! Listener side (`h2_keepalive_interval` on a listener, both HTTP/2
//! servers): a client that stops answering is let go after the keepalive
//! timeout, while one that answers keeps a stream slower than both.
//!
//! Pool side (`h2_keepalive_interval` on an HTTP/2 pool): the upstream
//! connection runs through a [`Cable`] that can be cut, a black hole that
//! keeps both sockets open but carries nothing more, as when a middlebox
//! drops a connection's state or the upstream host vanishes. The proxy
//! notices, closes the connection, and the next request opens a new one; a
//! request in flight on it gets a 502 at once instead of waiting out
//! `response_timeout`. Without keepalive, a request that gave up on its
//! response head has the connection probed with one PING.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::h2::{
    ACK, AbortOnDrop, END_HEADERS, END_STREAM, GOAWAY, H2Backend, H2Opts, HEADERS, PING,
    RST_STREAM, RawH2, bind, frame, get_block, h2c_config,
};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

const KEEPALIVE: &str = "h2_keepalive_interval = \"200ms\"\nh2_keepalive_timeout = \"1s\"";

/// A proxy whose h2c listener (served by `server`) sends keepalive PINGs,
/// to `endpoint`; and a raw HTTP/2 client connected to it.
async fn client_through_keepalive_listener(
    server: &str,
    endpoint: std::net::SocketAddr,
) -> (Proxy, RawH2) {
    let proxy = Proxy::start(&h2c_config(
        1,
        &format!("{KEEPALIVE}\nh2_server = \"{server}\""),
        "",
        &[endpoint],
    ));
    let raw = RawH2::connect(proxy.addr()).await;
    (proxy, raw)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_answering_pings_is_let_go() {
    let b = backend("a");
    for server in ["own", "hyper"] {
        let (proxy, mut raw) = client_through_keepalive_listener(server, b.addr).await;
        raw.ack_pings = false;
        // A stream is open (its answer is 30 s away): only the keepalive
        // can end this connection before that.
        let block = get_block("a", "/slow?ms=30000");
        raw.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block))
            .await
            .unwrap();
        let start = Instant::now();
        let ping = raw
            .until(Duration::from_secs(10), |f| {
                f.kind == PING && f.flags & ACK == 0
            })
            .await;
        assert!(ping.is_some(), "{server} server: a keepalive PING");
        // Unanswered: the connection ends (a GOAWAY may come first).
        let other = raw
            .until(Duration::from_secs(10), |f| {
                f.kind != GOAWAY && f.kind != PING && f.kind != RST_STREAM
            })
            .await;
        assert!(
            other.is_none(),
            "{server} server: the connection ended, got {other:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{server} server: let go long before the stream's answer"
        );
        assert!(
            eventually(Duration::from_secs(5), || proxy.open_connections("web")
                == 0)
            .await,
            "{server} server: the proxy closed its side"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_answers_pings_keeps_a_stream_slower_than_the_keepalive() {
    let b = backend("a");
    for server in ["own", "hyper"] {
        let (_proxy, mut raw) = client_through_keepalive_listener(server, b.addr).await;
        let block = get_block("a", "/slow?ms=1500");
        raw.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block))
            .await
            .unwrap();
        let mut pings = 0;
        let head = loop {
            let f = raw
                .read_frame_within(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("{server} server: the connection ended"));
            match f.kind {
                PING if f.flags & ACK == 0 => pings += 1,
                HEADERS if f.stream == 1 => break f,
                GOAWAY | RST_STREAM => panic!("{server} server: {f:?}"),
                _ => {}
            }
        };
        // `:status: 200` is HPACK static index 8 (after a dynamic table
        // size update, `001xxxxx`, if any).
        let status = head.payload.iter().find(|b| *b & 0xe0 != 0x20);
        assert_eq!(status, Some(&0x88), "{server} server: a 200");
        assert!(
            pings >= 2,
            "{server} server: PINGs while the stream waited ({pings})"
        );
    }
}

/// A TCP relay to `to` whose connections can be cut: after [`Cable::cut`]
/// the connections it carries forward nothing more either way, but both
/// their sockets stay open (a black hole, not a reset). It counts the cut
/// connections the proxy side closed, and the PINGs the proxy sent.
/// Connections made after the cut relay normally.
struct Cable {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    pings: Arc<AtomicUsize>,
    /// Connections numbered up to this value (from 1) are cut.
    cut: watch::Sender<usize>,
    closed_after_cut: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

impl Cable {
    async fn start(to: std::net::SocketAddr) -> Cable {
        let (listener, addr) = bind().await;
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed_after_cut = Arc::new(AtomicUsize::new(0));
        let pings = Arc::new(AtomicUsize::new(0));
        let (cut, _) = watch::channel(0usize);
        let (acc, closed, cut_tx) = (accepted.clone(), closed_after_cut.clone(), cut.clone());
        let p = pings.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((a, _)) = listener.accept().await {
                let id = acc.fetch_add(1, Ordering::SeqCst) + 1;
                let Ok(b) = TcpStream::connect(to).await else {
                    continue;
                };
                let counter = PingCounter {
                    buf: Vec::new(),
                    pings: p.clone(),
                };
                conns.spawn(relay(id, a, b, cut_tx.subscribe(), closed.clone(), counter));
            }
        });
        Cable {
            addr,
            accepted,
            pings,
            cut,
            closed_after_cut,
            _task: AbortOnDrop(task),
        }
    }

    /// Cuts every connection made so far.
    fn cut(&self) {
        self.cut.send_replace(self.accepted.load(Ordering::SeqCst));
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn closed_after_cut(&self) -> usize {
        self.closed_after_cut.load(Ordering::SeqCst)
    }

    /// PING frames (not ACKs) the proxy sent through the cable.
    fn pings(&self) -> usize {
        self.pings.load(Ordering::SeqCst)
    }
}

/// Counts the PING frames in what an HTTP/2 client sends (after its
/// preface).
struct PingCounter {
    buf: Vec<u8>,
    pings: Arc<AtomicUsize>,
}

impl PingCounter {
    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        let mut at = common::h2::PREFACE.len();
        if self.buf.len() < at {
            return;
        }
        while self.buf.len() >= at + 9 {
            let h = &self.buf[at..at + 9];
            let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
            if self.buf.len() < at + 9 + len {
                break;
            }
            if h[3] == PING && h[4] & ACK == 0 {
                self.pings.fetch_add(1, Ordering::SeqCst);
            }
            at += 9 + len;
        }
        // Keep the preface's room, drop the frames counted.
        let pre = common::h2::PREFACE.len();
        self.buf.drain(pre..at);
    }
}

async fn relay(
    id: usize,
    a: TcpStream,
    b: TcpStream,
    mut cut: watch::Receiver<usize>,
    closed_after_cut: Arc<AtomicUsize>,
    mut counter: PingCounter,
) {
    let (mut ar, mut aw) = a.into_split();
    let (mut br, mut bw) = b.into_split();
    let (mut abuf, mut bbuf) = (vec![0u8; 16 << 10], vec![0u8; 16 << 10]);
    loop {
        let is_cut = *cut.borrow_and_update() >= id;
        tokio::select! {
            n = ar.read(&mut abuf) => match n {
                Ok(0) | Err(_) => {
                    if is_cut {
                        closed_after_cut.fetch_add(1, Ordering::SeqCst);
                    }
                    return;
                }
                // Cut: what the proxy sends goes nowhere.
                Ok(n) => {
                    counter.feed(&abuf[..n]);
                    if !is_cut && bw.write_all(&abuf[..n]).await.is_err() {
                        return;
                    }
                }
            },
            n = br.read(&mut bbuf), if !is_cut => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if aw.write_all(&bbuf[..n]).await.is_err() {
                    return;
                },
            },
            r = cut.changed() => if r.is_err() {
                return;
            },
        }
    }
}

/// An HTTP/2 upstream behind a [`Cable`], behind a proxy whose pool speaks
/// HTTP/2 to it with `pool_extra` keys.
async fn proxy_through_cable(pool_extra: &str) -> (H2Backend, Cable, Proxy) {
    let b = H2Backend::start("u", H2Opts::default()).await;
    let cable = Cable::start(b.addr).await;
    let proxy = Proxy::start(&h2c_config(
        1,
        "",
        &format!("http_version = \"2\"\n{pool_extra}"),
        &[cable.addr],
    ));
    (b, cable, proxy)
}

/// The next request is answered on the upstream connection numbered
/// `conn` (from 1).
async fn served_on(c: &reqwest::Client, proxy: &Proxy, conn: &str) {
    let r = c.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-conn"), conn, "the upstream connection");
}

/// Waits until the proxy closed the connection the cable cut. (The pool
/// keeps idle connections for 60 s, `idle_timeout`: only a PING can find
/// it dead sooner.)
async fn closed_by_the_proxy(cable: &Cable) {
    assert!(
        eventually(Duration::from_secs(10), || cable.closed_after_cut() == 1).await,
        "the proxy closed the silent connection"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_upstream_connection_gone_silent_is_closed_and_replaced() {
    let (b, cable, proxy) = proxy_through_cable(KEEPALIVE).await;
    let c = client();
    served_on(&c, &proxy, "1").await;
    cable.cut();
    closed_by_the_proxy(&cable).await;
    served_on(&c, &proxy, "2").await;
    assert_eq!((cable.accepted(), b.connections()), (2, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_on_an_upstream_connection_gone_silent_fails_fast() {
    let (b, cable, proxy) = proxy_through_cable(KEEPALIVE).await;
    let c = client();
    let slow = tokio::spawn({
        let c = c.clone();
        let url = proxy.url("/slow?ms=20000");
        async move {
            let start = Instant::now();
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), start.elapsed())
        }
    });
    assert!(
        eventually(Duration::from_secs(10), || b.requests() == 1).await,
        "the request reached the upstream"
    );
    // Answered PINGs keep the quiet connection while the upstream works.
    cable.cut();
    let (status, took) = within(Duration::from_secs(10), slow)
        .await
        .expect("the request task");
    // `response_timeout` is 30 s; without the keepalive the client would
    // wait that long.
    assert_eq!(status, 502, "the connection was closed under the request");
    assert!(took < Duration::from_secs(10), "{took:?}");
    served_on(&c, &proxy, "2").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_answers_pings_keeps_its_quiet_connection() {
    let (b, cable, proxy) = proxy_through_cable(KEEPALIVE).await;
    let c = client();
    // 1.5 s of silence on the connection: several keepalive rounds.
    let r = c.get(proxy.url("/slow?ms=1500")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // One PING learns the upstream's SETTINGS; the rest are keepalives.
    assert!(
        cable.pings() >= 3,
        "keepalive PINGs sent: {}",
        cable.pings()
    );
    served_on(&c, &proxy, "1").await;
    assert_eq!((cable.accepted(), b.connections()), (1, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_keepalive_a_timed_out_request_has_its_silent_connection_probed_and_replaced() {
    // No keepalive: the request that times out sends one PING, which goes
    // unanswered within the response timeout.
    let (b, cable, proxy) = proxy_through_cable("response_timeout = \"1s\"").await;
    let c = client();
    let r = c.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    cable.cut();
    let r = c.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    closed_by_the_proxy(&cable).await;
    served_on(&c, &proxy, "2").await;
    assert_eq!(b.connections(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_upstream_that_answers_the_probe_keeps_its_connection() {
    let (b, cable, proxy) = proxy_through_cable("response_timeout = \"1s\"").await;
    let c = client();
    let r = c.get(proxy.url("/slow?ms=3000")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    // The probe (after the PING that learns the SETTINGS) went out and was
    // answered: the connection stays.
    assert!(
        eventually(Duration::from_secs(10), || cable.pings() == 2).await,
        "a probe: {} PINGs",
        cable.pings()
    );
    served_on(&c, &proxy, "1").await;
    assert_eq!((cable.accepted(), b.connections()), (1, 1));
}
