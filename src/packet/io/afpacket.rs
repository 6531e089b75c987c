//! The always-available data path: an `AF_PACKET` socket per (worker,
//! interface) with a `TPACKET_V3` receive ring and batched `sendmmsg`.
//!
//! Receive: the kernel writes frames into blocks of a memory-mapped ring and
//! hands a block over when it is full or its retire timer (1 ms) fires; we
//! walk the frames of every handed-over block without a system call per
//! frame, and give the block back when all its frames are consumed. All
//! workers' sockets on one interface join one `PACKET_FANOUT_HASH` group,
//! so the kernel steers each flow (by its symmetric flow hash) to one
//! worker, whose connection table then sees all of that flow's packets.
//! Frames we send ourselves are not received (`PACKET_IGNORE_OUTGOING`).
//!
//! Transmit: frames are copied into a fixed arena and pushed with one
//! `sendmmsg` per batch, past the qdisc layer (`PACKET_QDISC_BYPASS`), the
//! way a NIC driver's transmit ring would take them.
//!
//! The kernel still sees every received frame too: the engine's host must
//! not forward or answer VIP traffic itself (keep `ip_forward` off and the
//! VIP unassigned on the engine's host; see `docs/packet-engine.md`).
//! Frames whose VLAN tag the kernel stripped (`TP_STATUS_VLAN_VALID`) are
//! passed without their tag: VLANs are not supported on this path yet.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::Duration;

use super::Port;

/// Ring geometry: 64 blocks of 128 KiB (8 MiB per socket). A block holds
/// about a thousand small frames, so a burst fills blocks and they are
/// handed over at once; the 1 ms retire timer bounds the wait at low rates.
const BLOCK_SIZE: u32 = 128 * 1024;
const BLOCK_COUNT: u32 = 64;
const FRAME_SIZE: u32 = 2048;
const RETIRE_MS: u32 = 1;

/// Transmit batch: frames queued before a `sendmmsg`.
const TX_BATCH: usize = 64;
/// Largest frame we transmit (a 1500-byte MTU frame plus headroom for a
/// tunnel header); longer frames are refused by `send`.
const TX_SLOT: usize = 2048;

// Offsets in `struct tpacket_block_desc` / `tpacket_hdr_v1`.
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST: usize = 16;
// Offsets in `struct tpacket3_hdr`.
const H_NEXT: usize = 0;
const H_SNAPLEN: usize = 12;
const H_STATUS: usize = 20;
const H_MAC: usize = 24;
/// The frame's L4 checksum is left to the hardware (local or veth traffic).
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TPACKET_V3: libc::c_int = 2;
const ETH_P_ALL: u16 = 0x0003;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

/// Where the reader is inside the ring.
struct Cursor {
    block: u32,
    /// Frames of the current block not yet consumed (0: block not opened).
    left: u32,
    /// Offset of the next frame inside the current block.
    offset: usize,
}

/// One `AF_PACKET` socket with its mapped receive ring and transmit arena.
pub struct AfPacketPort {
    fd: OwnedFd,
    ring: NonNull<u8>,
    ring_len: usize,
    cursor: Cursor,
    tx_buf: Vec<u8>,
    tx_len: Vec<usize>,
    tx_dropped: u64,
}

// SAFETY: the ring mapping is owned by this value alone and only touched
// through `&mut self`; moving it to another thread is fine.
unsafe impl Send for AfPacketPort {}

impl AfPacketPort {
    /// Opens a socket on interface `ifindex`, joined to fanout group
    /// `fanout_group` (every worker of one interface passes the same id).
    pub fn open(ifindex: u32, fanout_group: u16) -> io::Result<AfPacketPort> {
        let proto = ETH_P_ALL.to_be();
        // SAFETY: plain socket(2) call; the result is checked.
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(proto)) };
        if raw < 0 {
            return Err(annotate(io::Error::last_os_error(), "socket(AF_PACKET)"));
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        setsockopt(&fd, libc::PACKET_VERSION, &TPACKET_V3, "PACKET_VERSION")?;
        let req = TpacketReq3 {
            block_size: BLOCK_SIZE,
            block_nr: BLOCK_COUNT,
            frame_size: FRAME_SIZE,
            frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCK_COUNT,
            retire_blk_tov: RETIRE_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(&fd, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
        let ring_len = (BLOCK_SIZE * BLOCK_COUNT) as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(annotate(io::Error::last_os_error(), "mmap(rx ring)"));
        }
        let ring =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        let port = AfPacketPort {
            fd,
            ring,
            ring_len,
            cursor: Cursor {
                block: 0,
                left: 0,
                offset: 0,
            },
            tx_buf: vec![0; TX_BATCH * TX_SLOT],
            tx_len: Vec::with_capacity(TX_BATCH),
            tx_dropped: 0,
        };
        let one: libc::c_int = 1;
        setsockopt(
            &port.fd,
            libc::PACKET_IGNORE_OUTGOING,
            &one,
            "PACKET_IGNORE_OUTGOING",
        )?;
        // Best effort: bypassing the qdisc only makes sending cheaper.
        let _ = setsockopt(
            &port.fd,
            libc::PACKET_QDISC_BYPASS,
            &one,
            "PACKET_QDISC_BYPASS",
        );
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: passes a properly sized sockaddr_ll.
        let rc = unsafe {
            libc::bind(
                port.fd.as_raw_fd(),
                (&raw const sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(annotate(io::Error::last_os_error(), "bind(AF_PACKET)"));
        }
        let fanout: u32 = u32::from(fanout_group) | (libc::PACKET_FANOUT_HASH << 16);
        setsockopt(&port.fd, libc::PACKET_FANOUT, &fanout, "PACKET_FANOUT")?;
        Ok(port)
    }

    /// Frames dropped because the kernel would not take them.
    pub fn tx_dropped(&self) -> u64 {
        self.tx_dropped
    }

    fn block(&self, n: u32) -> *mut u8 {
        // SAFETY: n < BLOCK_COUNT, so the offset is inside the mapping.
        unsafe { self.ring.as_ptr().add(n as usize * BLOCK_SIZE as usize) }
    }

    fn block_status(&self, n: u32) -> u32 {
        // SAFETY: the status word is an aligned u32 inside the block
        // descriptor, shared with the kernel: read it atomically.
        let status = unsafe { &*self.block(n).add(BD_STATUS).cast::<AtomicU32>() };
        status.load(Ordering::Acquire)
    }

    fn release_block(&self, n: u32) {
        fence(Ordering::Release);
        // SAFETY: as in `block_status`.
        let status = unsafe { &*self.block(n).add(BD_STATUS).cast::<AtomicU32>() };
        status.store(TP_STATUS_KERNEL, Ordering::Release);
    }

    fn wait(&self, timeout: Duration) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }
}

fn read_u32(p: *const u8, off: usize) -> u32 {
    // SAFETY: callers pass offsets inside a block they own (status USER).
    unsafe { p.add(off).cast::<u32>().read_unaligned() }
}

fn read_u16(p: *const u8, off: usize) -> u16 {
    // SAFETY: as in `read_u32`.
    unsafe { p.add(off).cast::<u16>().read_unaligned() }
}

impl Port for AfPacketPort {
    fn recv(
        &mut self,
        budget: usize,
        timeout: Duration,
        on_frame: &mut dyn FnMut(&[u8]),
    ) -> io::Result<usize> {
        let mut n = 0;
        let mut waited = false;
        while n < budget {
            if self.cursor.left == 0 {
                let b = self.cursor.block;
                if self.block_status(b) & TP_STATUS_USER == 0 {
                    if n > 0 || waited {
                        break;
                    }
                    self.wait(timeout)?;
                    waited = true;
                    continue;
                }
                let base = self.block(b);
                self.cursor.left = read_u32(base, BD_NUM_PKTS);
                self.cursor.offset = read_u32(base, BD_FIRST) as usize;
                if self.cursor.left == 0 {
                    self.release_block(b);
                    self.cursor.block = (b + 1) % BLOCK_COUNT;
                    continue;
                }
            }
            let base = self.block(self.cursor.block);
            let off = self.cursor.offset;
            if off + 32 > BLOCK_SIZE as usize {
                // A corrupt offset: give the block back rather than read
                // outside it.
                self.cursor.left = 1;
            } else {
                // SAFETY: `off` is inside the block (checked above).
                let hdr = unsafe { base.add(off) };
                let snap = read_u32(hdr, H_SNAPLEN) as usize;
                let mac = usize::from(read_u16(hdr, H_MAC));
                if off + mac + snap <= BLOCK_SIZE as usize {
                    // SAFETY: the frame lies inside the block, which the
                    // kernel handed to us (status USER) until we release it;
                    // nothing else reads or writes it meanwhile.
                    let frame = unsafe { std::slice::from_raw_parts_mut(hdr.add(mac), snap) };
                    if read_u32(hdr, H_STATUS) & TP_STATUS_CSUMNOTREADY != 0 {
                        crate::packet::rewrite::checksum::complete_l4_checksum(frame);
                    }
                    on_frame(frame);
                    n += 1;
                }
                self.cursor.offset = off + read_u32(hdr, H_NEXT) as usize;
            }
            self.cursor.left -= 1;
            if self.cursor.left == 0 {
                self.release_block(self.cursor.block);
                self.cursor.block = (self.cursor.block + 1) % BLOCK_COUNT;
            }
        }
        Ok(n)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<bool> {
        if frame.len() > TX_SLOT {
            self.tx_dropped += 1;
            return Ok(false);
        }
        if self.tx_len.len() == TX_BATCH {
            self.flush()?;
        }
        let slot = self.tx_len.len() * TX_SLOT;
        self.tx_buf[slot..slot + frame.len()].copy_from_slice(frame);
        self.tx_len.push(frame.len());
        Ok(true)
    }

    fn flush(&mut self) -> io::Result<()> {
        let count = self.tx_len.len();
        if count == 0 {
            return Ok(());
        }
        let base = self.tx_buf.as_mut_ptr();
        let mut iov: [libc::iovec; TX_BATCH] = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; TX_BATCH];
        // SAFETY: mmsghdr is plain data; zero is a valid start.
        let mut msgs: [libc::mmsghdr; TX_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..count {
            // SAFETY: slot i is inside tx_buf (count <= TX_BATCH).
            iov[i].iov_base = unsafe { base.add(i * TX_SLOT) }.cast();
            iov[i].iov_len = self.tx_len[i];
            msgs[i].msg_hdr.msg_iov = &raw mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < count {
            // SAFETY: msgs[sent..count] point at live iovecs and buffers.
            let rc = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs.as_mut_ptr().add(sent),
                    (count - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    // The device queue is full (or the link went down):
                    // drop the rest of the batch, as a NIC would.
                    _ if matches!(
                        e.raw_os_error(),
                        Some(libc::EAGAIN | libc::ENOBUFS | libc::ENETDOWN | libc::ENXIO)
                    ) =>
                    {
                        self.tx_dropped += (count - sent) as u64;
                        break;
                    }
                    _ => {
                        self.tx_len.clear();
                        return Err(e);
                    }
                }
            }
            sent += rc as usize;
        }
        self.tx_len.clear();
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "af_packet"
    }
}

impl Drop for AfPacketPort {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`.
        unsafe {
            libc::munmap(self.ring.as_ptr().cast(), self.ring_len);
        }
    }
}

fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, value: &T, what: &str) -> io::Result<()> {
    // SAFETY: passes a pointer to `value` with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(annotate(io::Error::last_os_error(), what))
    }
}

fn annotate(e: io::Error, what: &str) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => " (needs root or CAP_NET_RAW)",
        _ => "",
    };
    io::Error::new(e.kind(), format!("{what}: {e}{hint}"))
}

/// The interface index of `name` (0 if there is no such interface).
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::other("interface name has a NUL byte"))?;
    // SAFETY: passes a valid C string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface named {name:?} in this network namespace"),
        ))
    } else {
        Ok(idx)
    }
}
