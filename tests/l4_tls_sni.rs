//! TLS passthrough routed by SNI and ALPN: real rustls clients and backends,
//! each backend with its own certificate. The proxy only peeks at the
//! ClientHello, so a client that verifies the certificate it got (and reads
//! the backend's line through the encrypted stream) proves the connection
//! reached the right backend untouched. Non-TLS and silent clients follow
//! `non_tls` after `peek_timeout`.

mod common;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::l4::*;
use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server with its own self-signed certificate (SANs `sans`) that
/// answers every handshake with `NAME sni=SNI alpn=ALPN\n` and closes.
struct TlsBackend {
    name: String,
    addr: SocketAddr,
    cert: CertificateDer<'static>,
    pem: String,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsBackend {
    async fn start(name: &str, sans: &[&str]) -> TlsBackend {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let signed = params.self_signed(&key).unwrap();
        let (cert, pem) = (signed.der().clone(), signed.pem());
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (count, me) = (accepted.clone(), name.to_owned());
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (acceptor, me) = (acceptor.clone(), me.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(s).await else {
                        return;
                    };
                    let conn = tls.get_ref().1;
                    let line = format!(
                        "{me} sni={} alpn={}\n",
                        conn.server_name().unwrap_or("-"),
                        conn.alpn_protocol()
                            .map_or("-".into(), |a| String::from_utf8_lossy(a).into_owned())
                    );
                    let _ = tls.write_all(line.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsBackend {
            name: name.to_owned(),
            addr,
            cert,
            pem,
            accepted,
            task,
        }
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Backends A, B, C (one certificate each) and the default pool's D.
struct Fixture {
    a: TlsBackend,
    b: TlsBackend,
    c: TlsBackend,
    d: TlsBackend,
    roots: Arc<rustls::RootCertStore>,
}

impl Fixture {
    async fn new() -> Fixture {
        let a = TlsBackend::start("a", &["a.example.com"]).await;
        let b = TlsBackend::start("b", &["b.example.com", "x.y.example.com"]).await;
        let c = TlsBackend::start("c", &["c.other.net"]).await;
        // The default pool's certificate also covers what falls through to
        // it: connections by IP, and c.other.net without ALPN h2.
        let d = TlsBackend::start("d", &["fallback.test", "c.other.net", "127.0.0.1"]).await;
        let mut roots = rustls::RootCertStore::empty();
        for t in [&a, &b, &c, &d] {
            roots.add(t.cert.clone()).unwrap();
        }
        Fixture {
            a,
            b,
            c,
            d,
            roots: Arc::new(roots),
        }
    }

    /// The SNI listener; connections no route takes go to `default`.
    fn config(&self, default: SocketAddr, non_tls: &str) -> String {
        fill(
            r#"
[global]
workers = 2
[[listener]]
name = "tls"
address = "127.0.0.1:0"
protocol = "tcp"
pool = "default"
non_tls = "{non_tls}"
peek_timeout = "200ms"
access_log = false
  [[listener.sni]]
  name = "exact"
  server_name = "a.example.com"
  pool = "a"
  [[listener.sni]]
  name = "wildcard"
  server_name = "*.example.com"
  pool = "b"
  [[listener.sni]]
  name = "c-h2"
  server_name = ["c.other.net"]
  alpn = ["h2"]
  pool = "c"
[[pool]]
name = "a"
endpoints = [{ address = "{a}" }]
[[pool]]
name = "b"
endpoints = [{ address = "{b}" }]
[[pool]]
name = "c"
endpoints = [{ address = "{c}" }]
[[pool]]
name = "default"
endpoints = [{ address = "{default}" }]
"#,
            &[
                ("non_tls", non_tls.into()),
                ("a", self.a.addr.to_string()),
                ("b", self.b.addr.to_string()),
                ("c", self.c.addr.to_string()),
                ("default", default.to_string()),
            ],
        )
    }

    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        self.connector_for(&[&rustls::version::TLS13, &rustls::version::TLS12], alpn)
    }

    fn connector_for(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> TlsConnector {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        TlsConnector::from(Arc::new(cfg))
    }

    /// A verified TLS session through `proxy` to whichever backend it picks,
    /// over `io`: the backend's certificate and the line it sent.
    async fn session<IO>(
        &self,
        io: IO,
        name: ServerName<'static>,
        alpn: &[&[u8]],
    ) -> (CertificateDer<'static>, String)
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let mut tls = tokio::time::timeout(
            Duration::from_secs(10),
            self.connector(alpn).connect(name, io),
        )
        .await
        .expect("handshake within 10 s")
        .expect("handshake succeeds and the certificate verifies");
        let cert = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let mut line = String::new();
        tls.read_to_string(&mut line).await.unwrap();
        (cert, line)
    }

    async fn connect(
        &self,
        proxy: SocketAddr,
        name: &str,
        alpn: &[&[u8]],
    ) -> (CertificateDer<'static>, String) {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let tcp = TcpStream::connect(proxy).await.unwrap();
        self.session(tcp, name, alpn).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_server_name_reaches_its_backend_end_to_end() {
    let f = Fixture::new().await;
    let proxy = Proxy::start(&f.config(f.d.addr, "default"));
    let (cert, line) = f.connect(proxy.addr(), "a.example.com", &[]).await;
    assert!(cert == f.a.cert, "not a's certificate");
    assert_eq!(line, "a sni=a.example.com alpn=-\n");
    assert_eq!(f.b.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn wildcard_takes_every_other_name_of_the_domain_at_any_depth() {
    let f = Fixture::new().await;
    let proxy = Proxy::start(&f.config(f.d.addr, "default"));
    for name in ["b.example.com", "x.y.example.com"] {
        let (cert, line) = f.connect(proxy.addr(), name, &[b"http/1.1"]).await;
        assert!(cert == f.b.cert, "{name}: not b's certificate");
        assert_eq!(line, format!("b sni={name} alpn=http/1.1\n"));
    }
    assert_eq!(f.a.accepted.load(Ordering::SeqCst), 0, "exact route taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn alpn_h2_route_takes_its_name_only_with_h2_offered() {
    let f = Fixture::new().await;
    let proxy = Proxy::start(&f.config(f.d.addr, "default"));
    let (cert, line) = f
        .connect(proxy.addr(), "c.other.net", &[b"h2", b"http/1.1"])
        .await;
    assert!(cert == f.c.cert, "not c's certificate");
    assert_eq!(line, "c sni=c.other.net alpn=h2\n");
    // Same name without h2: the route does not match; the default takes it.
    let (cert, line) = f.connect(proxy.addr(), "c.other.net", &[b"http/1.1"]).await;
    assert!(cert == f.d.cert, "ALPN mismatch did not fall through");
    assert_eq!(line, "d sni=c.other.net alpn=http/1.1\n");
    assert_eq!(f.c.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls12_only_client_hello_routes_the_same_way() {
    let f = Fixture::new().await;
    let proxy = Proxy::start(&f.config(f.d.addr, "default"));
    let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut tls = f
        .connector_for(&[&rustls::version::TLS12], &[b"h2"])
        .connect(ServerName::try_from("c.other.net").unwrap(), tcp)
        .await
        .expect("TLS 1.2 handshake through the proxy");
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert!(tls.get_ref().1.peer_certificates().unwrap()[0] == f.c.cert);
    let mut line = String::new();
    tls.read_to_string(&mut line).await.unwrap();
    assert_eq!(line, "c sni=c.other.net alpn=h2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_name_and_no_sni_go_to_the_default_pool() {
    let f = Fixture::new().await;
    let proxy = Proxy::start(&f.config(f.d.addr, "default"));
    let (cert, line) = f.connect(proxy.addr(), "fallback.test", &[]).await;
    assert!(cert == f.d.cert);
    assert_eq!(line, "d sni=fallback.test alpn=-\n");
    // rustls sends no SNI for an IP address.
    let ip = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    let (cert, line) = f.session(tcp, ip, &[]).await;
    assert!(cert == f.d.cert);
    assert_eq!(line, "d sni=- alpn=-\n");
}

/// A stream whose first `left` written bytes go out `chunk` bytes per
/// write, with a `flush` and a yield to the runtime between writes (each
/// its own segment: Nagle is off).
struct Dribble {
    inner: TcpStream,
    chunk: usize,
    left: usize,
    yielded: bool,
    writes: usize,
}

impl AsyncWrite for Dribble {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = buf.len().min(this.chunk).min(this.left);
        let r = Pin::new(&mut this.inner).poll_write(cx, &buf[..n]);
        if let Poll::Ready(Ok(m)) = r {
            this.left -= m;
            this.writes += 1;
            this.yielded = false;
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl AsyncRead for Dribble {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_hello_split_over_many_writes_still_routes() {
    let f = Fixture::new().await;
    let proxy = Proxy::start(&f.config(f.d.addr, "default"));
    for (name, chunk, backend) in [("a.example.com", 7, &f.a), ("x.y.example.com", 16, &f.b)] {
        let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut io = Dribble {
            inner: tcp,
            chunk,
            left: 4096, // the whole first flight
            yielded: false,
            writes: 0,
        };
        let mut tls = f
            .connector(&[])
            .connect(ServerName::try_from(name).unwrap(), &mut io)
            .await
            .expect("handshake through the proxy");
        let cert = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let mut line = String::new();
        tls.read_to_string(&mut line).await.unwrap();
        drop(tls);
        assert!(io.writes > 4, "hello not split ({} writes)", io.writes);
        assert!(cert == backend.cert, "{name}: wrong certificate");
        assert_eq!(line, format!("{} sni={name} alpn=-\n", backend.name));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_header_before_the_client_hello_is_removed_and_sni_still_routes() {
    let f = Fixture::new().await;
    let text = f.config(f.d.addr, "default").replace(
        "peek_timeout = \"200ms\"",
        "peek_timeout = \"200ms\"\nproxy_protocol = \"v1\"\ntrusted_proxies = [\"127.0.0.1\"]",
    );
    let proxy = Proxy::start(&text);
    let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    tcp.write_all(b"PROXY TCP4 203.0.113.7 192.0.2.1 4444 443\r\n")
        .await
        .unwrap();
    // The backend would fail the handshake on any byte of the header.
    let name = ServerName::try_from("a.example.com").unwrap();
    let (cert, line) = f.session(tcp, name, &[]).await;
    assert!(cert == f.a.cert);
    assert_eq!(line, "a sni=a.example.com alpn=-\n");
}

const PLAIN: &[u8] = b"GET / HTTP/1.1\r\nHost: plain\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn non_tls_bytes_go_to_the_default_pool_untouched() {
    let f = Fixture::new().await;
    let plain = TcpBackend::start("plain").await;
    let proxy = Proxy::start(&f.config(plain.addr, "default"));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(PLAIN).await.unwrap();
    assert_eq!(read_line(&mut s).await.as_deref(), Some("plain"));
    // The echo of exactly what we sent: nothing was consumed by the peek.
    let mut back = vec![0u8; PLAIN.len()];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, PLAIN);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_tls_bytes_are_refused_with_non_tls_refuse() {
    let f = Fixture::new().await;
    let plain = TcpBackend::start("plain").await;
    let proxy = Proxy::start(&f.config(plain.addr, "refuse"));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(PLAIN).await.unwrap();
    assert!(closed_without_data(&mut s, Duration::from_secs(5)).await);
    assert_eq!(plain.accepted(), 0);
    // TLS still routes on the same listener.
    let (cert, _) = f.connect(proxy.addr(), "a.example.com", &[]).await;
    assert!(cert == f.a.cert);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_client_goes_to_the_default_pool_after_peek_timeout() {
    let f = Fixture::new().await;
    let plain = TcpBackend::start("plain").await;
    let proxy = Proxy::start(&f.config(plain.addr, "default"));
    // Server speaks first: the client waits for the greeting.
    let started = Instant::now();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let greeting = tokio::time::timeout(Duration::from_secs(5), read_line(&mut s)).await;
    let waited = started.elapsed();
    assert_eq!(greeting.ok().flatten().as_deref(), Some("plain"));
    assert!(
        waited >= Duration::from_millis(200),
        "routed after {waited:?}, before peek_timeout"
    );
    round_trip(&mut s, b"hello after the greeting")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_client_is_closed_after_peek_timeout_with_non_tls_refuse() {
    let f = Fixture::new().await;
    let plain = TcpBackend::start("plain").await;
    let proxy = Proxy::start(&f.config(plain.addr, "refuse"));
    let started = Instant::now();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(closed_without_data(&mut s, Duration::from_secs(5)).await);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "closed after {waited:?}, before peek_timeout"
    );
    assert_eq!(plain.accepted(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_s_client_verifies_and_reads_through_the_proxy() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: openssl is not installed");
        return;
    }
    let f = Fixture::new().await;
    let proxy = Proxy::start(&f.config(f.d.addr, "default"));
    let ca = TempConfig::new("b.pem", &f.b.pem);
    let out = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &proxy.addr().to_string()])
        .args([
            "-servername",
            "b.example.com",
            "-verify_hostname",
            "b.example.com",
        ])
        .arg("-CAfile")
        .arg(&ca.path)
        .args(["-verify_return_error", "-ign_eof", "-quiet"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("s_client finishes within 20 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("b sni=b.example.com alpn=-"),
        "status {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
