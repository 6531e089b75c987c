//! The proxy's own HTTP/1.1 reader and writer (`src/http/h1`) and its
//! handover to hyper: plain requests are served by the own path, the first
//! unusual one goes to hyper with every byte read, and the two paths answer
//! alike, in order, with the smuggling guard in step across the switch.

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads HTTP/1.1 responses off one connection, keeping bytes that belong
/// to the next response (pipelining).
struct Reader {
    s: TcpStream,
    buf: Vec<u8>,
}

/// One response: status line and headers, and its de-chunked body.
struct Resp {
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn status(&self) -> u16 {
        status_of(&self.head)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Reader {
    async fn connect(addr: std::net::SocketAddr) -> Reader {
        Reader {
            s: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16384];
        let n = self.s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed early; buffered: {}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Takes bytes up to and including the next CRLF.
    async fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                return self.buf.drain(..i + 2).collect();
            }
            self.fill().await;
        }
    }

    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill().await;
        }
        self.buf.drain(..n).collect()
    }

    /// One response; `head_request`: it answers a HEAD (no body follows).
    async fn response(&mut self, head_request: bool) -> Resp {
        let mut head = String::new();
        loop {
            let line = self.line().await;
            if line == b"\r\n" {
                break;
            }
            head.push_str(&String::from_utf8_lossy(&line));
        }
        let mut resp = Resp {
            head,
            body: Vec::new(),
        };
        if head_request || matches!(resp.status(), 204 | 304) {
            return resp;
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.ends_with("chunked"))
        {
            loop {
                let size_line = String::from_utf8(self.line().await).unwrap();
                let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
                if size == 0 {
                    // Trailers, then the empty line.
                    while self.line().await != b"\r\n" {}
                    break;
                }
                let data = self.take(size).await;
                resp.body.extend_from_slice(&data);
                assert_eq!(self.take(2).await, b"\r\n");
            }
        } else {
            let len: usize = resp
                .header("content-length")
                .expect("a length or chunked")
                .parse()
                .unwrap();
            resp.body = self.take(len).await;
        }
        resp
    }
}

/// The request line the demo backend's `/echo` saw.
fn echoed_request_line(r: &Resp) -> String {
    r.text().lines().nth(1).unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_switch_between_paths_and_answer_in_order() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let mut c = Reader::connect(proxy.addr()).await;
    // Own path, hyper (a body), and then hyper again for the rest of the
    // connection's busy time: one write, four requests.
    c.s.write_all(
        b"GET /echo?n=1 HTTP/1.1\r\nHost: a\r\n\r\n\
POST /echo?n=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
GET /echo?n=3 HTTP/1.1\r\nHost: a\r\n\r\n\
HEAD /echo?n=4 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    for (n, method) in [(1, "GET"), (2, "POST"), (3, "GET")] {
        let r = c.response(false).await;
        assert_eq!(r.status(), 200, "{}", r.head);
        assert_eq!(
            echoed_request_line(&r),
            format!("{method} /echo?n={n} HTTP/1.1"),
            "response {n} out of order:\n{}",
            r.text()
        );
    }
    let r = c.response(true).await;
    assert_eq!(r.status(), 200, "{}", r.head);
    // The connection still serves.
    c.s.write_all(b"GET /echo?n=5 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = c.response(false).await;
    assert_eq!(echoed_request_line(&r), "GET /echo?n=5 HTTP/1.1");
}

/// A POST with `Content-Length: 0` is served as a bodiless request: the
/// upstream gets the one `content-length: 0`, and the request pipelined
/// after it is answered next.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_with_a_zero_length_is_forwarded_once_and_the_next_request_follows() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let mut c = Reader::connect(proxy.addr()).await;
    c.s.write_all(
        b"POST /echo?n=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n\
GET /echo?n=2 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let r = c.response(false).await;
    assert_eq!(r.status(), 200, "{}", r.head);
    assert_eq!(echoed_request_line(&r), "POST /echo?n=1 HTTP/1.1");
    let lengths: Vec<String> = r
        .text()
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(lengths.len(), 1, "{}", r.text());
    assert!(lengths[0].ends_with(" 0"), "{}", r.text());
    let r = c.response(false).await;
    assert_eq!(echoed_request_line(&r), "GET /echo?n=2 HTTP/1.1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_smuggling_attempt_after_an_own_path_request_is_refused() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let mut c = Reader::connect(proxy.addr()).await;
    c.s.write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(c.response(false).await.status(), 200);
    // The guard must still be in step: this one is ambiguous.
    c.s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let r = c.response(false).await;
    assert_eq!(r.status(), 400, "{}", r.head);
    assert!(r.text().contains("Transfer-Encoding"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn head_answers_keep_the_length_and_send_no_body() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let mut c = Reader::connect(proxy.addr()).await;
    c.s.write_all(b"HEAD /bytes?n=5000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = c.response(true).await;
    assert_eq!(r.status(), 200, "{}", r.head);
    assert_eq!(r.header("content-length"), Some("5000"), "{}", r.head);
    assert!(r.header("date").is_some(), "{}", r.head);
    // Had a body been sent, this would read it as the next response.
    c.s.write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = c.response(false).await;
    assert_eq!(echoed_request_line(&r), "GET /echo HTTP/1.1");
}

/// An upstream that answers every request on its connections with
/// `response`.
async fn fixed_upstream(response: &'static [u8]) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                    while let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..i + 4);
                        if s.write_all(response).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_length_body_is_chunked_to_the_client() {
    let up = fixed_upstream(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    let proxy = Proxy::start(&simple_config("round_robin", &[up], ""));
    let mut c = Reader::connect(proxy.addr()).await;
    for _ in 0..2 {
        c.s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let r = c.response(false).await;
        assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{}", r.head);
        assert_eq!(r.text(), "hello world");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_asking_to_close_is_answered_and_closed() {
    let b = backend("b1");
    let proxy = Proxy::start(&simple_config("round_robin", &[b.addr], ""));
    let resp = raw(
        proxy.addr(),
        b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    // `raw` reads to end of stream: it returns only because the proxy
    // closed the connection after the response.
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(resp.contains("\r\nconnection: close\r\n"), "{resp}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_content_length_conflict_is_not_passed_on() {
    // hyper's client refuses this response; either way the client must not
    // get a body framed two ways.
    let up =
        fixed_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk")
            .await;
    let proxy = Proxy::start(&simple_config("round_robin", &[up], ""));
    let resp = raw(
        proxy.addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&resp), 502, "{resp}");
}
