//! Frame I/O of the packet engine: how Ethernet frames get from a NIC to a
//! worker and back (issue 5, item 4).
//!
//! The engine's forwarding logic never touches a socket; it sees frames
//! through a [`Port`], one per (worker, interface). Two implementations:
//!
//! - `afpacket`: an `AF_PACKET` socket with a `TPACKET_V3` receive ring,
//!   joined to a `PACKET_FANOUT_HASH` group so the kernel spreads flows over
//!   workers, and batched `sendmmsg` transmission. Works on every Linux
//!   interface and needs nothing but the socket API: the fallback that is
//!   always there.
//! - `xdp`: `AF_XDP` sockets fed by a small XDP program (assembled in Rust,
//!   loaded with the `bpf()` syscall) that redirects only the engine's
//!   traffic and passes everything else to the kernel: the fast path.
//!
//! Both receive in batches ([`Port::recv`] hands over every frame that is
//! ready, up to a budget) and transmit in batches ([`Port::send`] queues,
//! [`Port::flush`] pushes the whole batch with one system call).

use std::io;
use std::time::Duration;

/// One worker's access to one interface.
pub trait Port: Send {
    /// Waits up to `timeout` for at least one frame, then passes every ready
    /// frame (a whole Ethernet frame, FCS excluded), at most `budget` of
    /// them, to `on_frame`. Returns how many were passed (0 on timeout).
    /// The slice is only valid during the call.
    fn recv(
        &mut self,
        budget: usize,
        timeout: Duration,
        on_frame: &mut dyn FnMut(&[u8]),
    ) -> io::Result<usize>;

    /// Queues one frame for transmission (it is copied). Returns `false`
    /// when the transmit queue is full and the frame was dropped (the caller
    /// counts it); a full queue is flushed first, so this only happens when
    /// the kernel does not keep up.
    fn send(&mut self, frame: &[u8]) -> io::Result<bool>;

    /// Hands every queued frame to the kernel.
    fn flush(&mut self) -> io::Result<()>;

    /// `"af_packet"` or `"af_xdp"`, for logs and `vip list`.
    fn kind(&self) -> &'static str;
}

pub mod afpacket;
pub mod xdp;
