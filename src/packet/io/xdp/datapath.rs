//! The data path of [`XskPort`]: batched receive and transmit over the
//! rings, as the engine's [`Port`].
//!
//! Receive drains up to `budget` RX descriptors, hands each frame to the
//! callback, and gives the buffers straight back through the fill ring.
//! Transmit copies frames into free UMEM frames and pushes descriptors;
//! `flush` publishes them and kicks the kernel with `sendto`, then takes
//! completed frames back onto the free stack. Wake-ups (`poll`, `recvfrom`,
//! `sendto`) are only issued when the kernel asks for them through the
//! need-wakeup flags, or when there is nothing to do but wait.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::socket::{XdpDesc, XskPort};
use crate::packet::io::Port;

impl XskPort {
    /// Moves spare receive frames into the fill ring and publishes them.
    pub(super) fn refill(&mut self) {
        let before = self.rx_spare.len();
        while let Some(&addr) = self.rx_spare.last() {
            if !self.fill.prod_push(addr) {
                break;
            }
            self.rx_spare.pop();
        }
        if self.rx_spare.len() != before {
            self.fill.prod_publish();
        }
    }

    /// Takes completed transmit frames back.
    fn reclaim(&mut self) {
        let n = self.comp.cons_available(self.comp.size());
        let mask = !(u64::from(self.frame_size) - 1);
        for i in 0..n {
            self.tx_free.push(self.comp.cons_read(i) & mask);
        }
        if n > 0 {
            self.comp.cons_release(n);
            self.tx_in_flight = self.tx_in_flight.saturating_sub(n);
        }
    }

    /// An empty `sendto`: asks the kernel to process the TX ring.
    fn kick_tx(&self) -> io::Result<()> {
        // SAFETY: a zero-length send with no buffer and no address.
        let ret = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// An empty `recvfrom`: asks the driver to look at the fill ring.
    fn kick_rx(&self) {
        // SAFETY: a zero-length receive with no buffer and no address.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<()> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round sub-millisecond waits up rather than spinning.
        let ms = if ms == 0 && !timeout.is_zero() { 1 } else { ms };
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The UMEM bytes of a descriptor, if it lies inside the UMEM.
    fn frame(&mut self, desc: XdpDesc) -> Option<&mut [u8]> {
        let start = usize::try_from(desc.addr).ok()?;
        let end = start.checked_add(desc.len as usize)?;
        if end > self.umem.len() {
            return None;
        }
        // SAFETY: `start..end` is inside the UMEM mapping, and the kernel
        // handed this frame to us (it does not write it until we put it
        // back on the fill ring).
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.umem.as_ptr().add(start), desc.len as usize)
        })
    }
}

impl Port for XskPort {
    fn recv(
        &mut self,
        budget: usize,
        timeout: Duration,
        on_frame: &mut dyn FnMut(&[u8]),
    ) -> io::Result<usize> {
        let budget = u32::try_from(budget).unwrap_or(u32::MAX);
        if budget == 0 {
            return Ok(0);
        }
        let mut n = self.rx.cons_available(budget);
        if n == 0 {
            if self.need_wakeup && self.fill.needs_wakeup() {
                self.kick_rx();
            }
            self.wait_readable(timeout)?;
            n = self.rx.cons_available(budget);
            if n == 0 {
                return Ok(0);
            }
        }
        let mask = !(u64::from(self.frame_size) - 1);
        for i in 0..n {
            let desc = self.rx.cons_read(i);
            // A descriptor outside the UMEM would be a kernel bug; skip the
            // frame but keep the buffer in circulation.
            if let Some(frame) = self.frame(desc) {
                // Frames from virtual links and the host itself may carry
                // a checksum left to the hardware (no flag says so here).
                crate::packet::rewrite::checksum::complete_if_partial(frame);
                on_frame(frame);
            }
            self.rx_spare.push(desc.addr & mask);
        }
        self.rx.cons_release(n);
        self.refill();
        if self.need_wakeup && self.fill.needs_wakeup() {
            self.kick_rx();
        }
        Ok(n as usize)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<bool> {
        if frame.len() > self.frame_size as usize {
            return Ok(false);
        }
        if self.tx_free.is_empty() {
            self.reclaim();
        }
        if self.tx_free.is_empty() || self.tx.prod_free() == 0 {
            self.flush()?;
        }
        let Some(addr) = self.tx_free.pop() else {
            return Ok(false);
        };
        let offset = usize::try_from(addr)
            .ok()
            .filter(|o| o + frame.len() <= self.umem.len());
        let Some(offset) = offset else {
            return Ok(false);
        };
        let desc = XdpDesc {
            addr,
            len: frame.len() as u32,
            options: 0,
        };
        if !self.tx.prod_push(desc) {
            self.tx_free.push(addr);
            return Ok(false);
        }
        // SAFETY: the frame is ours (from the free stack) and inside the
        // UMEM (checked); the kernel reads it only after `flush` publishes
        // the descriptor pushed above.
        unsafe {
            std::ptr::copy_nonoverlapping(
                frame.as_ptr(),
                self.umem.as_ptr().add(offset),
                frame.len(),
            )
        };
        self.tx_queued += 1;
        Ok(true)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.tx_queued > 0 {
            self.tx.prod_publish();
            self.tx_in_flight += self.tx_queued;
            self.tx_queued = 0;
        }
        // In copy mode each sendto transmits a bounded batch (32 frames)
        // and reports EAGAIN when more are left: kick until the ring is
        // drained, a bounded number of times.
        let rounds = self.tx.size() / 16 + 2;
        for _ in 0..rounds {
            if self.tx.prod_outstanding() == 0 {
                break;
            }
            if self.need_wakeup && !self.tx.needs_wakeup() {
                break;
            }
            match self.kick_tx() {
                Ok(()) => {}
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::EINTR) => {}
                    // Out of memory or the link is down: the frames stay
                    // queued for the next flush.
                    Some(libc::ENOBUFS) | Some(libc::ENETDOWN) | Some(libc::ENXIO) => break,
                    _ => return Err(e),
                },
            }
            self.reclaim();
        }
        self.reclaim();
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "af_xdp"
    }
}
