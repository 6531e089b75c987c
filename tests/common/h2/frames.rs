//! HTTP/2 by hand, for what no well-behaved client library sends: frame
//! constants, frames written byte by byte (with a minimal HPACK encoder),
//! frames read back, and [`RawH2`], a client connection driven frame by
//! frame.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame: 9-byte header and payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24);
    let mut f = Vec::with_capacity(9 + len);
    f.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// RST_STREAM(`code`) on `stream`.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK integer with an `n`-bit prefix, first byte OR-ed with `flags`.
pub fn hpack_int(out: &mut Vec<u8>, flags: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

fn hpack_str(out: &mut Vec<u8>, s: &[u8]) {
    // Not Huffman-coded (H bit 0).
    hpack_int(out, 0x00, 7, s.len());
    out.extend_from_slice(s);
}

/// A literal header field without indexing, with a new name.
pub fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0x00);
    hpack_str(out, name.as_bytes());
    hpack_str(out, value);
}

/// A literal header field without indexing whose name is static-table
/// entry `index` (1 = `:authority`, 4 = `:path`).
pub fn hpack_literal_indexed_name(out: &mut Vec<u8>, index: usize, value: &[u8]) {
    hpack_int(out, 0x00, 4, index);
    hpack_str(out, value);
}

/// The header block of `GET http://authority{path}`: `:method GET`
/// (static 2), `:scheme http` (static 6), `:path` (static 4 for `/`, else
/// a literal with the static name), literal `:authority`.
pub fn get_block(authority: &str, path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86];
    if path == "/" {
        b.push(0x84);
    } else {
        hpack_literal_indexed_name(&mut b, 4, path.as_bytes());
    }
    hpack_literal_indexed_name(&mut b, 1, authority.as_bytes());
    b
}

/// A frame read back.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a GOAWAY or RST_STREAM frame.
    pub fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }

    /// The (identifier, value) pairs of a SETTINGS frame.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }
}

/// The next frame from `r`; `None` at end of stream or on a read error.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Option<Frame> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// A raw HTTP/2 connection.
pub struct RawH2 {
    pub tcp: TcpStream,
    /// The server's SETTINGS (its first frame).
    pub server_settings: Vec<(u16, u32)>,
    /// Answer PINGs (default true).
    pub ack_pings: bool,
}

impl RawH2 {
    /// Connects, sends the preface and an empty SETTINGS, acknowledges the
    /// server's SETTINGS and waits for the server to acknowledge ours.
    pub async fn connect(addr: SocketAddr) -> RawH2 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let _ = tcp.set_nodelay(true);
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        tcp.write_all(&hello).await.unwrap();
        let mut raw = RawH2 {
            tcp,
            server_settings: Vec::new(),
            ack_pings: true,
        };
        let (mut got_settings, mut got_ack) = (false, false);
        while !(got_settings && got_ack) {
            let f = raw
                .read_frame_within(Duration::from_secs(5))
                .await
                .expect("server SETTINGS");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                raw.server_settings = f.settings();
                raw.send(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
                got_settings = true;
            } else if f.kind == SETTINGS {
                got_ack = true;
            }
        }
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tcp.write_all(bytes).await
    }

    /// The next frame; `None` at end of stream or on a read error. PINGs
    /// are acknowledged, as any client must (unless `ack_pings` is off).
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let f = read_frame(&mut self.tcp).await?;
        if self.ack_pings && f.kind == PING && f.flags & ACK == 0 {
            let _ = self.send(&frame(PING, ACK, 0, &f.payload)).await;
        }
        Some(f)
    }

    /// The next frame within `limit`; `None` on timeout, end of stream or
    /// error.
    pub async fn read_frame_within(&mut self, limit: Duration) -> Option<Frame> {
        tokio::time::timeout(limit, self.read_frame())
            .await
            .ok()
            .flatten()
    }

    /// Reads frames until one satisfies `pred` (returned), the connection
    /// ends (`None`) or `limit` passes (panics).
    pub async fn until(&mut self, limit: Duration, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let read = async {
            while let Some(f) = self.read_frame().await {
                if pred(&f) {
                    return Some(f);
                }
            }
            None
        };
        tokio::time::timeout(limit, read)
            .await
            .expect("no matching frame nor end of connection in time")
    }
}

/// A raw HTTP/2 upstream on `l`, for answers no HTTP/2 library would send:
/// it takes the preface, acknowledges SETTINGS and answers every request's
/// HEADERS on stream N with the frames `answer(N)` returns.
pub async fn raw_upstream(l: tokio::net::TcpListener, answer: fn(u32) -> Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut tcp, _)) = l.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut preface = [0u8; 24];
            if tcp.read_exact(&mut preface).await.is_err() {
                return;
            }
            let _ = tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await;
            while let Some(f) = read_frame(&mut tcp).await {
                let out = match f.kind {
                    SETTINGS if f.flags & ACK == 0 => frame(SETTINGS, ACK, 0, &[]),
                    HEADERS => answer(f.stream),
                    _ => continue,
                };
                if tcp.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}
