//! Relaying bytes between two TCP sockets, both directions, until both end.
//!
//! Each direction starts as a buffered copy (`recv` into a pooled buffer,
//! `send` out) and switches to **zero-copy `splice(2)`** through a pipe as
//! soon as a read fills the buffer — bulk traffic, where splicing pays —
//! like HAProxy's `option splice-auto`. In copy mode a read that returns
//! less than asked means the socket is drained (TCP `recv` takes all that is
//! queued up to the length asked), so the direction waits for readiness
//! instead of paying for a read that would only say "try again".
//!
//! Half-close is propagated: when one side ends its stream, the other side
//! gets `shutdown(Write)` once everything before the end has been
//! delivered, and the opposite direction keeps flowing until it ends too.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Size of a copy buffer; a read that fills it switches to splicing.
pub const BUF_SIZE: usize = 16 * 1024;

/// Bytes a splice call asks for (a pipe holds 64 KiB by default).
const SPLICE_LEN: usize = 64 * 1024;

/// Copy buffers kept for reuse by one worker.
#[derive(Default)]
pub struct BufPool {
    free: RefCell<Vec<Box<[u8]>>>,
}

impl BufPool {
    fn take(&self) -> Box<[u8]> {
        self.free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0u8; BUF_SIZE].into_boxed_slice())
    }

    fn give(&self, buf: Box<[u8]>) {
        let mut free = self.free.borrow_mut();
        if free.len() < 256 {
            free.push(buf);
        }
    }
}

/// Counts bytes moved; a connection is idle while the count stands still.
#[derive(Default)]
pub struct Activity {
    pub bytes: Cell<u64>,
}

/// A pipe for splicing, closed on drop.
struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

impl Pipe {
    /// A pipe for splicing; elsewhere than Linux there is none and the
    /// relay keeps copying.
    #[cfg(not(target_os = "linux"))]
    fn new() -> io::Result<Pipe> {
        Err(io::ErrorKind::Unsupported.into())
    }

    #[cfg(target_os = "linux")]
    fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two descriptors into `fds` on success.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        Ok(unsafe {
            Pipe {
                r: OwnedFd::from_raw_fd(fds[0]),
                w: OwnedFd::from_raw_fd(fds[1]),
            }
        })
    }
}

#[cfg(not(target_os = "linux"))]
fn splice(_from: RawFd, _to: RawFd, _len: usize) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(target_os = "linux")]
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain syscall on descriptors owned by the caller; null offsets
    // (sockets and pipes have none).
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Moves one direction from `src` to `dst` until `src` ends; then
/// half-closes `dst`. Returns the bytes moved.
pub async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    pool: &BufPool,
    activity: &Activity,
) -> io::Result<u64> {
    let mut total = 0u64;
    let mut pipe: Option<Pipe> = None;
    loop {
        if let Some(p) = &pipe {
            // Splice mode: socket → pipe → socket.
            let n = loop {
                match src.try_io(Interest::READABLE, || {
                    splice(src.as_raw_fd(), p.w.as_raw_fd(), SPLICE_LEN)
                }) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => src.readable().await?,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                break;
            }
            let mut left = n;
            while left > 0 {
                match dst.try_io(Interest::WRITABLE, || {
                    splice(p.r.as_raw_fd(), dst.as_raw_fd(), left)
                }) {
                    Ok(m) => left -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
                    Err(e) => return Err(e),
                }
            }
            total += n as u64;
            activity.bytes.set(activity.bytes.get() + n as u64);
            // A short splice does not mean the socket is drained (the pipe
            // may have run out of slots for fragmented data): only EAGAIN
            // says so, or the sender could stall on a full window.
            continue;
        }
        // Copy mode: wait for data before taking a buffer, so an idle
        // direction holds none.
        src.readable().await?;
        let mut buf = pool.take();
        let n = match src.try_io(Interest::READABLE, || recv(src.as_raw_fd(), &mut buf)) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                pool.give(buf);
                continue;
            }
            Err(e) => {
                pool.give(buf);
                return Err(e);
            }
        };
        if n == 0 {
            pool.give(buf);
            break;
        }
        let sent = send_all(dst, &buf[..n]).await;
        pool.give(buf);
        sent?;
        total += n as u64;
        activity.bytes.set(activity.bytes.get() + n as u64);
        if n == BUF_SIZE {
            // Bulk: splice from now on (fall back to copying if the
            // process is out of pipes).
            pipe = Pipe::new().ok();
        } else {
            mark_drained(src);
        }
    }
    // End of stream: pass the half-close on.
    // SAFETY: shutdown on a descriptor owned by `dst`.
    unsafe { libc::shutdown(dst.as_raw_fd(), libc::SHUT_WR) };
    Ok(total)
}

/// A short read emptied the receive queue: forget the readiness so the
/// next wait parks until new data arrives (tokio only clears the readiness
/// it observed, so data that arrived meanwhile is not missed).
fn mark_drained(s: &TcpStream) {
    let _ = s.try_io(Interest::READABLE, || -> io::Result<()> {
        Err(io::ErrorKind::WouldBlock.into())
    });
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

async fn send_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match dst.try_io(Interest::WRITABLE, || {
            // SAFETY: `data` is valid for `data.len()` bytes.
            let n = unsafe {
                libc::send(
                    dst.as_raw_fd(),
                    data.as_ptr().cast(),
                    data.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes `data` fully (a PROXY header, or bytes already read from a peer).
pub async fn write_all(dst: &TcpStream, data: &[u8]) -> io::Result<()> {
    send_all(dst, data).await
}

/// Shared with the connection: the worker's buffer pool.
pub type SharedPool = Rc<BufPool>;
