//! Looking at the first bytes of a connection without consuming them
//! (`recv(MSG_PEEK)`), for the PROXY protocol header and the TLS
//! ClientHello: the bytes stay in the socket and reach the backend
//! untouched.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Why peeking ended without a decision.
#[derive(Debug, thiserror::Error)]
pub enum PeekError {
    #[error("no decision within {0:?}")]
    Timeout(Duration, usize),
    #[error("more than {0} bytes without a decision")]
    TooLarge(usize),
    #[error("connection closed after {0} bytes")]
    Closed(usize),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl PeekError {
    /// How many bytes had arrived.
    pub fn seen(&self) -> usize {
        match self {
            PeekError::Timeout(_, n) | PeekError::Closed(n) => *n,
            PeekError::TooLarge(n) => *n,
            PeekError::Io(_) => 0,
        }
    }
}

/// Peeks at up to `max` bytes until `decide` returns a value, waiting for
/// more data as needed, for at most `timeout` in all. `skip` bytes at the
/// start (already decided on, e.g. a PROXY header) are not shown to `decide`.
pub async fn peek_until<T>(
    stream: &TcpStream,
    skip: usize,
    max: usize,
    timeout: Duration,
    mut decide: impl FnMut(&[u8]) -> Option<T>,
) -> Result<T, PeekError> {
    let mut buf = vec![0u8; skip + max];
    let mut seen = 0usize;
    let work = async {
        loop {
            stream.readable().await?;
            let n = match stream.try_io(Interest::READABLE, || peek(stream, &mut buf)) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(PeekError::Io(e)),
            };
            seen = n.saturating_sub(skip);
            if n > skip
                && let Some(t) = decide(&buf[skip..n])
            {
                return Ok(t);
            }
            if n == buf.len() {
                return Err(PeekError::TooLarge(max));
            }
            if n == 0 || (n > 0 && is_eof_after(stream, n)) {
                return Err(PeekError::Closed(seen));
            }
            // Everything queued has been looked at: wait for new bytes
            // (tokio only forgets the readiness it saw).
            let _ = stream.try_io(Interest::READABLE, || -> io::Result<()> {
                Err(io::ErrorKind::WouldBlock.into())
            });
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(PeekError::Timeout(timeout, seen)),
    }
}

fn peek(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Whether the peer closed after sending what is queued (so waiting for
/// more bytes is pointless): a zero-length peek past the queued data is not
/// possible, so this checks the socket for a pending FIN.
fn is_eof_after(stream: &TcpStream, _queued: usize) -> bool {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // TCP_CLOSE_WAIT (8): the peer sent FIN.
    rc == 0 && info.tcpi_state == 8
}

/// Reads and discards exactly `n` bytes that were peeked before.
pub async fn consume(stream: &TcpStream, n: usize) -> io::Result<()> {
    let mut left = n;
    let mut scratch = [0u8; 512];
    while left > 0 {
        let want = left.min(scratch.len());
        match stream.try_io(Interest::READABLE, || {
            // SAFETY: `scratch` is valid for `want` bytes.
            let r = unsafe { libc::recv(stream.as_raw_fd(), scratch.as_mut_ptr().cast(), want, 0) };
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r as usize)
            }
        }) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(r) => left -= r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
