//! Request-framing tracker: the request-smuggling guard.
//!
//! hyper parses requests leniently in two places that matter for smuggling:
//! it silently drops `Content-Length` when `Transfer-Encoding` is present and
//! collapses duplicate equal `Content-Length` lines, so the service never
//! sees that the client sent an ambiguous message. This tracker watches the
//! raw bytes as they are read from the client (before hyper parses them),
//! follows the HTTP/1.1 message framing (head, then a Content-Length or
//! chunked body, then the next pipelined head) and records one [`Verdict`]
//! per request head, in order. The service pops the verdict of each request
//! and refuses ambiguous ones with 400 before anything is forwarded.
//!
//! The tracker is sans-io and never panics: it is fed byte slices and
//! unit-tested and fuzzed on its own. When it cannot follow the framing any
//! more it says so ([`Verdict::Lost`]); the proxy then fails closed.

use std::collections::VecDeque;

/// What the tracker concluded about one request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Unambiguous framing.
    Ok,
    /// Ambiguous or unsupported framing; the reason is sent to the client.
    Reject(&'static str),
    /// The tracker lost the framing (oversized or unparsable head, CONNECT).
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request head (possibly after leading empty lines).
    Head,
    /// Skipping `n` more bytes of a Content-Length body.
    Body(u64),
    /// Chunk-size line: accumulated size, whether any digit was seen, whether
    /// we are past the digits (in an extension or whitespace).
    ChunkSize { size: u64, digits: bool, tail: bool },
    /// Skipping `n` more bytes of chunk data.
    ChunkData(u64),
    /// Expecting the CRLF after chunk data.
    ChunkDataEnd,
    /// Trailer section: bytes on the current line so far.
    Trailer { line: usize },
    /// Framing could not be followed; nothing more is checked.
    Lost,
}

/// Follows request framing over a client byte stream.
#[derive(Debug)]
pub struct Framing {
    state: State,
    /// Bytes of a head that has not been completed yet.
    partial: Vec<u8>,
    max_head: usize,
    verdicts: VecDeque<Verdict>,
}

/// Longest chunk-size line or trailer line we follow before giving up.
const MAX_LINE: usize = 64 * 1024;

impl Framing {
    /// A tracker for a new connection; heads longer than `max_head` bytes
    /// make it give up (hyper refuses those with 431 anyway).
    pub fn new(max_head: usize) -> Framing {
        Framing {
            state: State::Head,
            partial: Vec::new(),
            max_head,
            verdicts: VecDeque::new(),
        }
    }

    /// The verdict for the next request head, in arrival order. `None` when
    /// no complete head has been seen (the caller treats it as lost).
    pub fn next_verdict(&mut self) -> Option<Verdict> {
        self.verdicts.pop_front()
    }

    /// The verdict [`next_verdict`](Self::next_verdict) would return,
    /// left in place.
    pub fn peek_verdict(&self) -> Option<Verdict> {
        self.verdicts.front().copied()
    }

    /// Frees buffers kept from earlier requests (called when the
    /// connection goes idle for a while).
    pub fn release_memory(&mut self) {
        if self.partial.is_empty() {
            self.partial = Vec::new();
        }
        if self.verdicts.is_empty() {
            self.verdicts = VecDeque::new();
        }
    }

    /// The caller parsed a complete request head with no body framing (no
    /// Content-Length but a single `0`, no Transfer-Encoding, not CONNECT, within the size
    /// limit) and did not feed its bytes. Between messages that is the same
    /// as feeding them: an `Ok` verdict, and the next head expected. Returns
    /// false, recording nothing, when the tracker is anywhere else (the
    /// caller then feeds the bytes).
    pub fn bodiless_head(&mut self) -> bool {
        if self.state == State::Head && self.partial.is_empty() {
            self.verdicts.push_back(Verdict::Ok);
            true
        } else {
            false
        }
    }

    /// True once the tracker gave up following the stream.
    pub fn is_lost(&self) -> bool {
        self.state == State::Lost
    }

    /// Feeds bytes read from the client, in order.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Lost => return,
                State::Head => data = self.feed_head(data),
                State::Body(n) => {
                    let take = n.min(data.len() as u64);
                    data = &data[take as usize..];
                    self.state = if take == n {
                        State::Head
                    } else {
                        State::Body(n - take)
                    };
                }
                State::ChunkData(n) => {
                    let take = n.min(data.len() as u64);
                    data = &data[take as usize..];
                    self.state = if take == n {
                        State::ChunkDataEnd
                    } else {
                        State::ChunkData(n - take)
                    };
                }
                _ => {
                    let b = data[0];
                    data = &data[1..];
                    self.chunk_byte(b);
                }
            }
        }
    }

    /// One byte of chunk-size line, chunk-data terminator or trailer.
    fn chunk_byte(&mut self, b: u8) {
        self.state = match self.state {
            State::ChunkSize { size, digits, tail } => match b {
                b'\n' if digits && size == 0 => State::Trailer { line: 0 },
                b'\n' if digits => State::ChunkData(size),
                b'\n' => State::Lost,
                _ if tail => State::ChunkSize { size, digits, tail },
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let v = u64::from((b as char).to_digit(16).unwrap_or(0));
                    match size.checked_mul(16).and_then(|s| s.checked_add(v)) {
                        Some(size) => State::ChunkSize {
                            size,
                            digits: true,
                            tail,
                        },
                        None => State::Lost,
                    }
                }
                b';' | b' ' | b'\t' | b'\r' if digits => State::ChunkSize {
                    size,
                    digits,
                    tail: true,
                },
                _ => State::Lost,
            },
            State::ChunkDataEnd => match b {
                b'\r' => State::ChunkDataEnd,
                b'\n' => State::ChunkSize {
                    size: 0,
                    digits: false,
                    tail: false,
                },
                _ => State::Lost,
            },
            State::Trailer { line } => match b {
                b'\n' if line == 0 => State::Head,
                b'\n' => State::Trailer { line: 0 },
                b'\r' if line == 0 => State::Trailer { line: 0 },
                _ if line >= MAX_LINE => State::Lost,
                _ => State::Trailer { line: line + 1 },
            },
            other => other,
        };
    }

    /// Consumes head bytes; returns what follows the head (if it ended).
    fn feed_head<'a>(&mut self, mut data: &'a [u8]) -> &'a [u8] {
        if self.partial.is_empty() {
            // RFC 9112 §2.2: ignore empty lines before the request line.
            let skip = data
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            data = &data[skip..];
            if data.is_empty() {
                return data;
            }
            if let Some(end) = head_end(data, 0) {
                self.finish_head_in(&data[..end]);
                return &data[end..];
            }
        }
        let old = self.partial.len();
        let room = (self.max_head + 1).saturating_sub(old);
        self.partial
            .extend_from_slice(&data[..data.len().min(room)]);
        match head_end(&self.partial, old.saturating_sub(3)) {
            Some(end) => {
                let head = std::mem::take(&mut self.partial);
                self.finish_head_in(&head[..end]);
                &data[end - old..]
            }
            None => {
                if self.partial.len() > self.max_head {
                    self.partial = Vec::new();
                    self.verdicts.push_back(Verdict::Lost);
                    self.state = State::Lost;
                }
                &[]
            }
        }
    }

    fn finish_head_in(&mut self, head: &[u8]) {
        if head.len() > self.max_head {
            self.verdicts.push_back(Verdict::Lost);
            self.state = State::Lost;
            return;
        }
        let (verdict, next) = judge_head(head);
        self.verdicts.push_back(verdict);
        self.state = if verdict == Verdict::Ok {
            next
        } else {
            State::Lost
        };
    }
}

/// Index just past the empty line ending a head, searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let tail = buf.get(from..)?;
    for i in memchr::memchr_iter(b'\n', tail) {
        let nl = from + i;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => {}
        }
    }
    None
}

/// Decides a complete head and the framing of the body that follows.
fn judge_head(head: &[u8]) -> (Verdict, State) {
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    if request_line.starts_with(b"CONNECT ") {
        return (Verdict::Lost, State::Lost);
    }
    // RFC 9112 §3.2: a request target has no fragment. URI parsers drop
    // it, so a route would match, and the upstream see, less than was sent
    // (HAProxy refuses it too, CVE-2023-45539).
    let target = request_line
        .splitn(2, |b| *b == b' ')
        .nth(1)
        .unwrap_or_default();
    if target.contains(&b'#') {
        return (
            Verdict::Reject("a fragment (#) in the request target"),
            State::Lost,
        );
    }
    let http10 = request_line.ends_with(b"HTTP/1.0");
    let mut content_length: Option<u64> = None;
    let mut cl_lines = 0;
    let mut te_lines = 0;
    let mut te_chunked = true;
    for line in lines {
        // Only two names matter: the position of the colon rules out almost
        // every line before any comparison (a space before the colon makes
        // hyper refuse the request anyway).
        let is_cl =
            line.get(14) == Some(&b':') && line[..14].eq_ignore_ascii_case(b"content-length");
        let is_te = !is_cl
            && line.get(17) == Some(&b':')
            && line[..17].eq_ignore_ascii_case(b"transfer-encoding");
        if !is_cl && !is_te {
            continue;
        }
        let value = line[if is_cl { 15 } else { 18 }..].trim_ascii();
        if is_cl {
            cl_lines += 1;
            content_length = parse_length(value);
            if content_length.is_none() {
                return (Verdict::Reject("invalid Content-Length"), State::Lost);
            }
        } else {
            te_lines += 1;
            te_chunked &= value.eq_ignore_ascii_case(b"chunked");
        }
    }
    if cl_lines > 1 {
        return (Verdict::Reject("duplicate Content-Length"), State::Lost);
    }
    if te_lines > 0 {
        if cl_lines > 0 {
            return (
                Verdict::Reject("Content-Length together with Transfer-Encoding"),
                State::Lost,
            );
        }
        if http10 {
            return (
                Verdict::Reject("Transfer-Encoding in an HTTP/1.0 request"),
                State::Lost,
            );
        }
        if te_lines > 1 || !te_chunked {
            return (
                Verdict::Reject("Transfer-Encoding other than a single `chunked`"),
                State::Lost,
            );
        }
        return (
            Verdict::Ok,
            State::ChunkSize {
                size: 0,
                digits: false,
                tail: false,
            },
        );
    }
    match content_length {
        Some(n) if n > 0 => (Verdict::Ok, State::Body(n)),
        _ => (Verdict::Ok, State::Head),
    }
}

/// A Content-Length value: 1 to 19 ASCII digits, nothing else.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(chunks: &[&[u8]]) -> Vec<Verdict> {
        let mut f = Framing::new(8192);
        for c in chunks {
            f.feed(c);
        }
        std::iter::from_fn(|| f.next_verdict()).collect()
    }

    #[test]
    fn simple_get_is_ok() {
        assert_eq!(
            verdicts(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]),
            [Verdict::Ok]
        );
    }

    #[test]
    fn pipelined_requests_with_bodies_each_get_a_verdict() {
        let stream = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHost: a\r\n\r\n\
POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n\
GET /d HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n";
        let want = [
            Verdict::Ok,
            Verdict::Ok,
            Verdict::Ok,
            Verdict::Reject("duplicate Content-Length"),
        ];
        assert_eq!(verdicts(&[stream]), want);
        // Byte by byte gives the same answer.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(verdicts(&bytes), want);
    }

    #[test]
    fn smuggling_shapes_are_rejected() {
        let cases: [(&[u8], &str); 8] = [
            (b"GET /a#b HTTP/1.1\r\n\r\n", "a fragment (#) in the request target"),
            (b"GET http://a/#b HTTP/1.1\r\n\r\n", "a fragment (#) in the request target"),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
                "Content-Length together with Transfer-Encoding",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
                "Content-Length together with Transfer-Encoding",
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 4\r\ncontent-length: 4\r\n\r\n", "duplicate Content-Length"),
            (b"POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\n", "invalid Content-Length"),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "Transfer-Encoding other than a single `chunked`",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "Transfer-Encoding other than a single `chunked`",
            ),
        ];
        for (head, why) in cases {
            assert_eq!(
                verdicts(&[head]),
                [Verdict::Reject(why)],
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn a_request_hidden_in_a_body_is_not_a_head() {
        // The body bytes look like a request but are body: one verdict only.
        let s =
            b"POST / HTTP/1.1\r\nContent-Length: 30\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n\r\n";
        assert_eq!(s.len() - s.iter().position(|b| *b == b'G').unwrap(), 30);
        assert_eq!(verdicts(&[s]), [Verdict::Ok]);
    }

    #[test]
    fn bare_lf_and_leading_empty_lines() {
        assert_eq!(
            verdicts(&[b"\r\n\r\nGET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\r\n\r\n"]),
            [Verdict::Ok, Verdict::Ok]
        );
    }

    #[test]
    fn oversized_head_is_lost() {
        let mut f = Framing::new(64);
        f.feed(b"GET / HTTP/1.1\r\n");
        f.feed(&[b'a'; 100]);
        assert_eq!(f.next_verdict(), Some(Verdict::Lost));
        assert!(f.is_lost());
    }

    #[test]
    fn head_split_across_reads_at_every_point() {
        let s: &[u8] =
            b"GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokGET /b HTTP/1.1\r\n\r\n";
        for cut in 0..s.len() {
            assert_eq!(
                verdicts(&[&s[..cut], &s[cut..]]),
                [Verdict::Ok, Verdict::Ok],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn connect_and_bad_chunks_are_lost() {
        assert_eq!(
            verdicts(&[b"CONNECT a:443 HTTP/1.1\r\n\r\n"]),
            [Verdict::Lost]
        );
        let mut f = Framing::new(1024);
        f.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        assert_eq!(f.next_verdict(), Some(Verdict::Ok));
        assert!(f.is_lost());
    }
}
