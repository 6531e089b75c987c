//! The PROXY protocol through real sockets: headers accepted from trusted
//! peers (v1 and v2, IPv4 and IPv6) and sent to backends (v1 and v2), TLVs
//! forwarded or dropped, untrusted peers and garbage refused, and an HTTP
//! listener that takes the client address from the header. Headers are
//! built and checked with the crate's own codec.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::l4::*;
use common::*;
use switchyard::l4::proxy_protocol::{
    self as pp, Command, PP2_TYPE_AUTHORITY, Parsed, ProxyHeader, Tlv, Transport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend behind a PROXY-sending pool: reads the whole stream (clients
/// half-close), parses the header with the crate's `parse`, and answers
/// `VERSION src=.. dst=.. tlvs=..\n` followed by the payload after the
/// header, then closes. Anything but a header is answered `bad ...\n`.
struct PpBackend {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl PpBackend {
    async fn start() -> PpBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut all = Vec::new();
                    if s.read_to_end(&mut all).await.is_err() {
                        return;
                    }
                    let out = match pp::parse(&all) {
                        Parsed::Header { header, consumed } => {
                            let mut out = describe(&header).into_bytes();
                            out.extend_from_slice(&all[consumed..]);
                            out
                        }
                        other => format!("bad {other:?}\n").into_bytes(),
                    };
                    let _ = s.write_all(&out).await;
                });
            }
        });
        PpBackend {
            addr,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for PpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn describe(h: &ProxyHeader) -> String {
    let addr = |a: Option<SocketAddr>| a.map_or("-".to_owned(), |a| a.to_string());
    let tlvs: Vec<String> = h
        .tlvs
        .iter()
        .map(|t| format!("{:#04x}={}", t.kind, String::from_utf8_lossy(&t.value)))
        .collect();
    format!(
        "{:?} src={} dst={} tlvs=[{}]\n",
        h.version,
        addr(h.source),
        addr(h.destination),
        tlvs.join(",")
    )
}

/// Sends `bytes`, half-closes, and reads everything back: (the backend's
/// first line, the rest, our local address).
async fn exchange(proxy: SocketAddr, bytes: &[u8]) -> (String, Vec<u8>, SocketAddr) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
        .await
        .expect("answer within 10 s")
        .unwrap();
    let nl = all
        .iter()
        .position(|b| *b == b'\n')
        .map_or(all.len(), |i| i + 1);
    let rest = all.split_off(nl);
    (String::from_utf8_lossy(&all).into_owned(), rest, local)
}

/// Listeners named by `listeners` = (name, extra keys, pool), all to the
/// backend at `backend` through pools "v1", "v2", "fwd" (v2 + forward
/// TLVs) and "drop" (v2, TLVs dropped).
fn config(backend: SocketAddr, listeners: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("[global]\nworkers = 2\n");
    for (name, extra, pool) in listeners {
        text.push_str(&format!(
            "[[listener]]\nname = \"{name}\"\naddress = \"127.0.0.1:0\"\nprotocol = \"tcp\"\n\
             access_log = false\npool = \"{pool}\"\n{extra}\n"
        ));
    }
    for (pool, keys) in [
        ("v1", "send_proxy_protocol = \"v1\""),
        ("v2", "send_proxy_protocol = \"v2\""),
        (
            "fwd",
            "send_proxy_protocol = \"v2\"\nproxy_protocol_tlvs = \"forward\"",
        ),
        (
            "drop",
            "send_proxy_protocol = \"v2\"\nproxy_protocol_tlvs = \"drop\"",
        ),
    ] {
        text.push_str(&format!(
            "[[pool]]\nname = \"{pool}\"\nendpoints = [{{ address = \"{backend}\" }}]\n{keys}\n"
        ));
    }
    text
}

const TRUSTED: &str = "proxy_protocol = \"any\"\ntrusted_proxies = [\"127.0.0.0/8\"]";

fn payload() -> Vec<u8> {
    let mut p = b"PROXY TCP4 look-alike text in the payload\r\n".to_vec();
    p.extend((0..100_000u32).map(|i| (i % 253) as u8));
    p
}

fn v2(src: &str, dst: &str, tlvs: &[Tlv]) -> Vec<u8> {
    pp::encode_v2(
        Command::Proxy,
        Transport::Stream,
        Some(src.parse().unwrap()),
        Some(dst.parse().unwrap()),
        tlvs,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn accepted_v1_and_v2_headers_set_the_source_the_backend_sees() {
    let b = PpBackend::start().await;
    let proxy = Proxy::start(&config(b.addr, &[("in", TRUSTED, "v2")]));
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "v1 TCP4",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 4444 443\r\n".to_vec(),
            "V2 src=203.0.113.7:4444 dst=192.0.2.1:443 tlvs=[]\n",
        ),
        (
            "v1 TCP6",
            b"PROXY TCP6 2001:db8::7 2001:db8::1 4444 443\r\n".to_vec(),
            "V2 src=[2001:db8::7]:4444 dst=[2001:db8::1]:443 tlvs=[]\n",
        ),
        (
            "v2 IPv4",
            v2("203.0.113.7:4444", "192.0.2.1:443", &[]),
            "V2 src=203.0.113.7:4444 dst=192.0.2.1:443 tlvs=[]\n",
        ),
        (
            "v2 IPv6",
            v2("[2001:db8::7]:4444", "[2001:db8::1]:443", &[]),
            "V2 src=[2001:db8::7]:4444 dst=[2001:db8::1]:443 tlvs=[]\n",
        ),
    ];
    for (what, header, want) in cases {
        let mut bytes = header;
        bytes.extend_from_slice(&payload());
        let (line, rest, _) = exchange(proxy.addr(), &bytes).await;
        assert_eq!(line, want, "{what}");
        assert!(
            rest == payload(),
            "{what}: payload changed ({} bytes)",
            rest.len()
        );
    }
    assert_eq!(b.accepted(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v2_local_header_keeps_the_real_peer_address() {
    let b = PpBackend::start().await;
    let proxy = Proxy::start(&config(b.addr, &[("in", TRUSTED, "v2")]));
    // LOCAL (a health check by the proxy in front): no client address.
    let mut bytes = pp::encode_v2(Command::Local, Transport::Stream, None, None, &[]);
    bytes.extend_from_slice(b"check");
    let (line, rest, client) = exchange(proxy.addr(), &bytes).await;
    assert_eq!(
        line,
        format!("V2 src={client} dst={} tlvs=[]\n", proxy.addr())
    );
    assert_eq!(rest, b"check");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_listener_sends_v1_and_v2_with_the_real_client_address() {
    let b = PpBackend::start().await;
    let proxy = Proxy::start(&config(b.addr, &[("one", "", "v1"), ("two", "", "v2")]));
    for (listener, version) in [("one", "V1"), ("two", "V2")] {
        let addr = proxy.addr_of(listener);
        let (line, rest, client) = exchange(addr, b"hello backend").await;
        assert_eq!(client.ip().to_string(), "127.0.0.1");
        assert_eq!(
            line,
            format!("{version} src={client} dst={addr} tlvs=[]\n"),
            "{listener}"
        );
        assert_eq!(rest, b"hello backend");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ipv6_listener_sends_the_ipv6_client_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let b = PpBackend::start().await;
    let text = config(b.addr, &[("one", "", "v1"), ("two", "", "v2")])
        .replace("address = \"127.0.0.1:0\"", "address = \"[::1]:0\"");
    let proxy = Proxy::start(&text);
    for (listener, version) in [("one", "V1"), ("two", "V2")] {
        let addr = proxy.addr_of(listener);
        assert!(addr.is_ipv6(), "{addr}");
        let (line, rest, client) = exchange(addr, b"over IPv6").await;
        assert_eq!(client.ip().to_string(), "::1");
        assert_eq!(line, format!("{version} src={client} dst={addr} tlvs=[]\n"));
        assert_eq!(rest, b"over IPv6");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_tlvs_are_forwarded_or_dropped_as_the_pool_says() {
    let b = PpBackend::start().await;
    let proxy = Proxy::start(&config(
        b.addr,
        &[("fwd", TRUSTED, "fwd"), ("drop", TRUSTED, "drop")],
    ));
    let tlvs = [
        Tlv {
            kind: 0xE0,
            value: b"custom-tlv".to_vec(),
        },
        Tlv {
            kind: PP2_TYPE_AUTHORITY,
            value: b"app.example.com".to_vec(),
        },
    ];
    let mut bytes = v2("203.0.113.7:4444", "192.0.2.1:443", &tlvs);
    bytes.extend_from_slice(b"payload");
    let src = "src=203.0.113.7:4444 dst=192.0.2.1:443";
    let (line, rest, _) = exchange(proxy.addr_of("fwd"), &bytes).await;
    assert_eq!(
        line,
        format!("V2 {src} tlvs=[0xe0=custom-tlv,0x02=app.example.com]\n")
    );
    assert_eq!(rest, b"payload");
    let (line, rest, _) = exchange(proxy.addr_of("drop"), &bytes).await;
    assert_eq!(line, format!("V2 {src} tlvs=[]\n"));
    assert_eq!(rest, b"payload");
}

/// Sends `bytes` and expects the connection closed with nothing relayed.
async fn assert_refused(proxy: SocketAddr, bytes: &[u8], what: &str) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    // The proxy may close (and reset) before reading everything.
    let _ = s.write_all(bytes).await;
    assert!(
        closed_without_data(&mut s, Duration::from_secs(5)).await,
        "{what}: not closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_from_an_untrusted_peer_closes_the_connection() {
    let b = PpBackend::start().await;
    let untrusted = "proxy_protocol = \"any\"\ntrusted_proxies = [\"10.0.0.0/8\"]";
    let proxy = Proxy::start(&config(b.addr, &[("in", untrusted, "v2")]));
    let v1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 4444 443\r\nhello";
    assert_refused(proxy.addr(), v1, "v1 from 127.0.0.1").await;
    let mut v2 = v2("203.0.113.7:4444", "192.0.2.1:443", &[]);
    v2.extend_from_slice(b"hello");
    assert_refused(proxy.addr(), &v2, "v2 from 127.0.0.1").await;
    assert_eq!(
        b.accepted(),
        0,
        "an untrusted connection reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_or_the_wrong_version_instead_of_a_header_closes_the_connection() {
    let b = PpBackend::start().await;
    let only_v2 = "proxy_protocol = \"v2\"\ntrusted_proxies = [\"127.0.0.0/8\"]";
    let proxy = Proxy::start(&config(
        b.addr,
        &[("any", TRUSTED, "v2"), ("v2", only_v2, "v2")],
    ));
    let mut bad_version = v2("203.0.113.7:4444", "192.0.2.1:443", &[]);
    bad_version[12] = 0x31; // version 3
    let cases: [(&str, &[u8]); 4] = [
        ("plain HTTP", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        (
            "broken v1",
            b"PROXY TCP4 not-an-address 192.0.2.1 1 2\r\nhello",
        ),
        (
            "v1 with a bad port",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 99999 443\r\n",
        ),
        ("v2 version 3", &bad_version),
    ];
    for (what, bytes) in cases {
        assert_refused(proxy.addr_of("any"), bytes, what).await;
    }
    let v1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 4444 443\r\nhello";
    assert_refused(proxy.addr_of("v2"), v1, "v1 on a v2 listener").await;
    assert_eq!(b.accepted(), 0, "a refused connection reached the backend");
    // The same listener still takes a good header.
    let (line, _, _) = exchange(
        proxy.addr_of("v2"),
        &v2("203.0.113.7:4444", "192.0.2.1:443", &[]),
    )
    .await;
    assert_eq!(line, "V2 src=203.0.113.7:4444 dst=192.0.2.1:443 tlvs=[]\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_listener_takes_the_client_address_from_a_v1_header() {
    let web = backend("web");
    let proxy = Proxy::start(&fill(
        r#"
[global]
workers = 1
[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false
proxy_protocol = "v1"
trusted_proxies = ["127.0.0.0/8"]
  [[listener.route]]
  pool = "web"
[[pool]]
name = "web"
endpoints = [{ address = "{web}" }]
"#,
        &[("web", web.addr.to_string())],
    ));
    let request = b"PROXY TCP4 198.51.100.9 203.0.113.1 5555 80\r\n\
GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let resp = raw(proxy.addr(), request).await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    let lower = resp.to_ascii_lowercase();
    assert!(
        lower.contains("\nx-forwarded-for: 198.51.100.9\n"),
        "{resp}"
    );
    // Without the header the connection is refused (the listener requires it).
    let plain = raw(proxy.addr(), b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(plain.is_empty(), "{plain}");
}
