//! Reads the cleartext TLS ClientHello at the start of a TCP connection, so the
//! stream proxy can route TLS passthrough by server name (SNI) and ALPN without
//! terminating TLS and without consuming a byte: the proxy peeks, calls
//! [`parse_client_hello`] on everything peeked so far, and relays the untouched
//! stream to the backend it picked.
//!
//! The parser is pure and stateless: each call re-reads the buffer from its
//! first byte (at most [`MAX_HELLO_BYTES`], so this is cheap). It copes with a
//! ClientHello spread over several TCP segments and over several TLS records.
//!
//! Verdicts are *final*: once a buffer yields anything but [`Peek::NeedMore`],
//! every longer buffer with the same prefix yields the same verdict (the fuzz
//! target `client_hello` checks this). So the caller may stop peeking at the
//! first decisive answer.

use std::borrow::Cow;

/// What the bytes seen so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// Not enough bytes yet to decide; peek more (the caller bounds the wait and the size).
    NeedMore,
    /// The stream does not start with a TLS handshake record (e.g. plain HTTP, SSH, SSLv2).
    NotTls,
    /// A complete ClientHello.
    Hello(ClientHello),
    /// Starts like TLS but is malformed (reason for logs).
    Invalid(&'static str),
}

/// The routing-relevant fields of a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// The server_name (host_name type) from the SNI extension, ASCII-lower-cased,
    /// trailing dot removed; None if absent.
    pub server_name: Option<String>,
    /// ALPN protocol names in client preference order (e.g. b"h2", b"http/1.1");
    /// empty if the client sent no ALPN extension.
    pub alpn: Vec<Vec<u8>>,
    /// The client offers TLS 1.3: its supported_versions extension lists 0x0304
    /// (a TLS 1.2-only client sends no such extension). For logs.
    pub tls13_offered: bool,
}

/// The largest ClientHello handshake message accepted (4-byte header included):
/// 16 KiB, room for post-quantum key shares and a padding extension.
const MAX_HANDSHAKE_LEN: usize = 16 * 1024;
/// Every TLS record starts with content type, version (2) and length (2).
const RECORD_HEADER_LEN: usize = 5;
/// Upper bound the caller should allow for peeking: a 16 KiB handshake message
/// plus the headers of up to 8 records carrying it. A hello not complete within
/// this many bytes is `Invalid("ClientHello too large")`.
pub const MAX_HELLO_BYTES: usize = MAX_HANDSHAKE_LEN + 8 * RECORD_HEADER_LEN;
/// TLSPlaintext.length may not exceed 2^14; a little slack for sloppy clients.
const MAX_RECORD_LEN: usize = (1 << 14) + 256;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const NAME_TYPE_HOST_NAME: u8 = 0;
/// The longest DNS name in text form, without its trailing dot.
const MAX_HOST_NAME_LEN: usize = 253;

const TOO_LARGE: &str = "ClientHello too large";

/// Parses the bytes a connection has sent so far (from its very first byte).
///
/// Decides `NotTls` from the first two bytes, rejects an impossible record or
/// handshake header as soon as it is visible, and otherwise waits for the
/// record that completes the ClientHello. Bytes after that record (e.g. 0-RTT
/// data) are ignored. Never panics; allocates at most about the hello's size.
pub fn parse_client_hello(buf: &[u8]) -> Peek {
    match reassemble(buf) {
        Err(verdict) => verdict,
        Ok(Some(body)) => match parse_body(&body) {
            Ok(hello) => Peek::Hello(hello),
            Err(why) => Peek::Invalid(why),
        },
        // Only a record header cut by the limit gets here; the contract is to
        // never ask for more than MAX_HELLO_BYTES.
        Ok(None) if buf.len() >= MAX_HELLO_BYTES => Peek::Invalid(TOO_LARGE),
        Ok(None) => Peek::NeedMore,
    }
}

/// Walks the records and gathers the ClientHello body (the handshake message
/// without its 4-byte header). `Ok(None)`: the buffer ends before the record
/// completing the hello does. Borrows when the body sits in one record.
fn reassemble(buf: &[u8]) -> Result<Option<Cow<'_, [u8]>>, Peek> {
    let mut head = [0u8; 4];
    let mut head_len = 0;
    let mut body_len: Option<usize> = None;
    let mut body: Vec<u8> = Vec::new();
    let mut pos = 0;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let first = pos == 0;
        // Content type, then version; in the first record they decide NotTls.
        match rest.first() {
            None => return Ok(None),
            Some(&CONTENT_HANDSHAKE) => {}
            Some(_) if first => return Err(Peek::NotTls),
            Some(_) => {
                return Err(Peek::Invalid(
                    "non-handshake record before the end of the ClientHello",
                ));
            }
        }
        match rest.get(1) {
            None => return Ok(None),
            Some(3) => {}
            Some(_) if first => return Err(Peek::NotTls),
            Some(_) => return Err(Peek::Invalid("bad record version")),
        }
        match rest.get(2) {
            None => return Ok(None),
            Some(1..=4) => {}
            Some(_) => return Err(Peek::Invalid("unsupported record version")),
        }
        let &[_, _, _, hi, lo, ..] = rest else {
            return Ok(None);
        };
        let rec_len = usize::from(u16::from_be_bytes([hi, lo]));
        if rec_len == 0 {
            return Err(Peek::Invalid("empty handshake record"));
        }
        if rec_len > MAX_RECORD_LEN {
            return Err(Peek::Invalid("record longer than 2^14 bytes"));
        }
        let rec_end = pos + RECORD_HEADER_LEN + rec_len;
        if rec_end > MAX_HELLO_BYTES {
            return Err(Peek::Invalid(TOO_LARGE));
        }
        let frag_end = rec_end.min(buf.len());
        let mut frag = buf
            .get(pos + RECORD_HEADER_LEN..frag_end)
            .unwrap_or_default();

        // The handshake header may itself be split across records; check it
        // as soon as its bytes are visible, even in an incomplete record.
        while head_len < head.len() {
            let Some((&b, tail)) = frag.split_first() else {
                break;
            };
            if let Some(slot) = head.get_mut(head_len) {
                *slot = b;
            }
            head_len += 1;
            frag = tail;
            if head_len == 1 && b != HANDSHAKE_CLIENT_HELLO {
                return Err(Peek::Invalid("not a ClientHello"));
            }
            if head_len == head.len() {
                let len =
                    (usize::from(head[1]) << 16) | (usize::from(head[2]) << 8) | usize::from(b);
                if 4 + len > MAX_HANDSHAKE_LEN {
                    return Err(Peek::Invalid(TOO_LARGE));
                }
                body_len = Some(len);
            }
        }
        if let Some(len) = body_len
            && frag.len() > len.saturating_sub(body.len())
        {
            // RFC 8446 5.1: a ClientHello must end on a record boundary.
            return Err(Peek::Invalid("data after the ClientHello in its record"));
        }
        if frag_end < rec_end {
            return Ok(None); // the record is still arriving
        }
        pos = rec_end;
        let Some(len) = body_len else {
            continue; // this record held only part of the handshake header
        };
        if body.is_empty() && frag.len() == len {
            return Ok(Some(Cow::Borrowed(frag)));
        }
        body.extend_from_slice(frag);
        if body.len() == len {
            return Ok(Some(Cow::Owned(body)));
        }
    }
}

/// A bounds-checked cursor over a complete handshake message.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.0.split_first()?;
        self.0 = tail;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let &[hi, lo, ..] = self.0 else { return None };
        self.0 = self.0.get(2..)?;
        Some(u16::from_be_bytes([hi, lo]))
    }

    /// A vector with a one-byte length prefix.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Parses the ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2).
fn parse_body(body: &[u8]) -> Result<ClientHello, &'static str> {
    let mut r = Reader(body);
    let legacy_version = r.u16().ok_or("ClientHello truncated in legacy_version")?;
    if legacy_version >> 8 != 3 {
        return Err("bad ClientHello legacy_version");
    }
    r.take(32).ok_or("ClientHello truncated in random")?;
    let session_id = r.vec8().ok_or("session_id overruns the ClientHello")?;
    if session_id.len() > 32 {
        return Err("session_id longer than 32 bytes");
    }
    let suites = r.vec16().ok_or("cipher_suites overrun the ClientHello")?;
    if suites.len() < 2 || suites.len() % 2 != 0 {
        return Err("bad cipher_suites length");
    }
    let compression = r
        .vec8()
        .ok_or("compression_methods overrun the ClientHello")?;
    if compression.is_empty() {
        return Err("no compression methods");
    }
    let mut hello = ClientHello::default();
    if r.is_empty() {
        return Ok(hello); // extensions are optional before TLS 1.3
    }
    let extensions = r.vec16().ok_or("extensions overrun the ClientHello")?;
    if !r.is_empty() {
        return Err("trailing bytes after the extensions");
    }
    parse_extensions(extensions, &mut hello)?;
    Ok(hello)
}

fn parse_extensions(list: &[u8], hello: &mut ClientHello) -> Result<(), &'static str> {
    let mut r = Reader(list);
    // At most list.len() / 4 entries: bounded by the hello's size.
    let mut seen: Vec<u16> = Vec::new();
    while !r.is_empty() {
        let ty = r.u16().ok_or("truncated extension header")?;
        let data = r.vec16().ok_or("extension overruns the extension list")?;
        seen.push(ty);
        match ty {
            EXT_SERVER_NAME => hello.server_name = parse_server_name(data)?,
            EXT_ALPN => hello.alpn = parse_alpn(data)?,
            EXT_SUPPORTED_VERSIONS => hello.tls13_offered = parse_supported_versions(data)?,
            _ => {}
        }
    }
    seen.sort_unstable();
    if seen.windows(2).any(|w| w.first() == w.get(1)) {
        return Err("duplicate extension");
    }
    Ok(())
}

/// RFC 6066 section 3: a list of (name_type, name); at most one host_name.
/// Entries of other name types (none are defined) are skipped.
fn parse_server_name(data: &[u8]) -> Result<Option<String>, &'static str> {
    let mut r = Reader(data);
    let list = r.vec16().ok_or("server_name list overruns its extension")?;
    if !r.is_empty() {
        return Err("trailing bytes in the server_name extension");
    }
    if list.is_empty() {
        return Err("empty server_name list");
    }
    let mut r = Reader(list);
    let mut host = None;
    while !r.is_empty() {
        let name_type = r.u8().ok_or("server_name list overruns its extension")?;
        let name = r
            .vec16()
            .ok_or("server name overruns the server_name list")?;
        if name_type != NAME_TYPE_HOST_NAME {
            continue;
        }
        if host.is_some() {
            return Err("more than one host_name in server_name");
        }
        host = Some(host_name(name)?);
    }
    Ok(host)
}

/// Checks that `raw` is a plausible DNS host name (letters, digits, `-`, `_`,
/// dot-separated labels of 1..=63 bytes) and returns it lower-cased, without
/// its trailing dot.
fn host_name(raw: &[u8]) -> Result<String, &'static str> {
    let name = raw.strip_suffix(b".").unwrap_or(raw);
    if let Some(&bad) = name
        .iter()
        .find(|&&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    {
        return Err(if bad.is_ascii_control() {
            "control character in host_name"
        } else if !bad.is_ascii() {
            "non-ASCII host_name"
        } else {
            "invalid character in host_name"
        });
    }
    if name.is_empty() {
        return Err("empty host_name");
    }
    if name.len() > MAX_HOST_NAME_LEN {
        return Err("host_name longer than 253 bytes");
    }
    for label in name.split(|&b| b == b'.') {
        if label.is_empty() {
            return Err("empty label in host_name");
        }
        if label.len() > 63 {
            return Err("host_name label longer than 63 bytes");
        }
    }
    Ok(name
        .iter()
        .map(|&b| char::from(b.to_ascii_lowercase()))
        .collect())
}

/// RFC 7301 section 3.1: a non-empty list of non-empty protocol names.
fn parse_alpn(data: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut r = Reader(data);
    let list = r.vec16().ok_or("ALPN list overruns its extension")?;
    if !r.is_empty() {
        return Err("trailing bytes in the ALPN extension");
    }
    if list.is_empty() {
        return Err("empty ALPN list");
    }
    let mut r = Reader(list);
    let mut protocols = Vec::new();
    while !r.is_empty() {
        let name = r.vec8().ok_or("ALPN protocol name overruns the list")?;
        if name.is_empty() {
            return Err("empty ALPN protocol name");
        }
        protocols.push(name.to_vec());
    }
    Ok(protocols)
}

/// RFC 8446 4.2.1 (ClientHello form): a one-byte-length list of versions.
fn parse_supported_versions(data: &[u8]) -> Result<bool, &'static str> {
    let mut r = Reader(data);
    let list = r
        .vec8()
        .ok_or("supported_versions list overruns its extension")?;
    if !r.is_empty() {
        return Err("trailing bytes in the supported_versions extension");
    }
    if list.len() < 2 || list.len() % 2 != 0 {
        return Err("bad supported_versions length");
    }
    Ok(list.chunks_exact(2).any(|v| v == [3, 4]))
}

#[cfg(test)]
mod tests;
