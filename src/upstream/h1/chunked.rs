//! Decoding a chunked response body (RFC 9112 §7.1), sans-io: the caller
//! reads into a buffer, this takes framing out of it and hands data out as
//! slices of it (no copy).
//!
//! Strict where laxness lets two parsers disagree: chunk-size lines end in
//! CRLF, sizes are at most 16 hex digits, data is followed by CRLF, lines
//! and the trailer section are bounded. Chunk extensions are skipped.
//! Trailers are parsed into a header map (handed on as a trailers frame).

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// Longest chunk-size line, extensions included.
const MAX_LINE: usize = 4096;
/// Largest trailer section.
const MAX_TRAILERS: usize = 16 << 10;
/// Most trailer fields.
const MAX_TRAILER_FIELDS: usize = 64;

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data: this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailers, then the final CRLF.
    Trailers,
    /// The body is over.
    Done,
    /// The trailer section was invalid (it has been consumed; the error
    /// stays).
    BadTrailers,
}

/// One step's result.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The body is over; with the trailers when there were any.
    End(Option<HeaderMap>),
    /// More input is needed.
    Need,
}

/// Why the body is not valid chunked coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size line")]
    Size,
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    #[error("invalid or oversized trailer section")]
    Trailers,
}

/// A chunked-body decoder.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { state: State::Size }
    }
}

impl Decoder {
    /// Whether the last chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next piece of the body out of `buf`.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkError> {
        loop {
            match self.state {
                State::Done => return Ok(Step::End(None)),
                State::BadTrailers => return Err(ChunkError::Trailers),
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::Need);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Step::Data(data));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::Need);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkError::DataEnd);
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Size => {
                    let Some(lf) = memchr::memchr(b'\n', &buf[..buf.len().min(MAX_LINE)]) else {
                        return if buf.len() >= MAX_LINE {
                            Err(ChunkError::Size)
                        } else {
                            Ok(Step::Need)
                        };
                    };
                    let size = chunk_size(&buf[..lf])?;
                    buf.advance(lf + 1);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Trailers => {
                    if buf.len() < 2 {
                        return Ok(Step::Need);
                    }
                    if &buf[..2] == b"\r\n" {
                        buf.advance(2);
                        self.state = State::Done;
                        return Ok(Step::End(None));
                    }
                    let window = &buf[..buf.len().min(MAX_TRAILERS)];
                    let Some(end) = memchr::memmem::find(window, b"\r\n\r\n") else {
                        return if buf.len() >= MAX_TRAILERS {
                            Err(ChunkError::Trailers)
                        } else {
                            Ok(Step::Need)
                        };
                    };
                    let section = buf.split_to(end + 4).freeze();
                    let Ok(map) = trailers(&section) else {
                        self.state = State::BadTrailers;
                        return Err(ChunkError::Trailers);
                    };
                    self.state = State::Done;
                    return Ok(Step::End(Some(map)));
                }
            }
        }
    }
}

/// The size of a chunk-size line (without its LF): hex digits, then
/// nothing or an extension, then CR.
fn chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let line = line.strip_suffix(b"\r").ok_or(ChunkError::Size)?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(ChunkError::Size);
    }
    // Nothing, or an extension: optional spaces or tabs (BWS), then `;`.
    let rest = &line[digits..];
    let ext = rest.trim_ascii_start();
    let bws = &rest[..rest.len() - ext.len()];
    if !rest.is_empty() && (!ext.starts_with(b";") || bws.iter().any(|&b| b != b' ' && b != b'\t'))
    {
        return Err(ChunkError::Size);
    }
    if ext.iter().any(|&b| b == b'\r' || b == 0) {
        return Err(ChunkError::Size);
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| ChunkError::Size)?;
    u64::from_str_radix(hex, 16).map_err(|_| ChunkError::Size)
}

/// Parses a trailer section (fields, then the empty line).
fn trailers(section: &Bytes) -> Result<HeaderMap, ChunkError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
    let (len, parsed) = match httparse::parse_headers(section, &mut fields) {
        Ok(httparse::Status::Complete(r)) => r,
        _ => return Err(ChunkError::Trailers),
    };
    // The section must end where the fields end (a bare-LF empty line
    // earlier would hide the rest).
    if len != section.len() {
        return Err(ChunkError::Trailers);
    }
    let mut map = HeaderMap::with_capacity(parsed.len());
    for f in parsed.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| ChunkError::Trailers)?;
        let value = HeaderValue::from_maybe_shared(section.slice_ref(f.value))
            .map_err(|_| ChunkError::Trailers)?;
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests;
