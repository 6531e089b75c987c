//! `XskPort`: one AF_XDP socket bound to one (interface, queue), as a
//! `Port` of the packet engine; this file sets it up, `datapath.rs` moves
//! the frames.
//!
//! The socket owns a UMEM (anonymous memory cut into `frame_size` frames)
//! and the four rings of `ring.rs`. The first half of the frames belongs to
//! receiving: they circulate fill ring → kernel → RX ring → `on_frame` →
//! fill ring. The second half belongs to sending: a free-frame stack →
//! TX ring → kernel → completion ring → free-frame stack. Each frame is
//! always in exactly one of those places, so the rings (sized to the next
//! power of two above each half) can never overflow.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::error::{self, XdpError};
use super::program::{AttachMode, XdpProgram};
use super::ring::{Mmap, Offsets, Ring};
use super::sys;

/// Sizing of one AF_XDP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskOptions {
    /// The receive queue to bind to (`0..queue_count(ifname)`).
    pub queue: u32,
    /// UMEM frames, half for receiving and half for sending (default 4096).
    pub frames: u32,
    /// Bytes per frame: a power of two from 2048 to the page size (default
    /// 2048). The kernel keeps 256 bytes of each receive frame as headroom.
    pub frame_size: u32,
}

impl Default for XskOptions {
    fn default() -> XskOptions {
        XskOptions {
            queue: 0,
            frames: 4096,
            frame_size: 2048,
        }
    }
}

/// `struct xdp_desc`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct XdpDesc {
    pub(super) addr: u64,
    pub(super) len: u32,
    pub(super) options: u32,
}

/// The frame split and ring sizes for `opts` (pure, so it can be tested).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub rx_frames: u32,
    pub tx_frames: u32,
    pub rx_ring: u32,
    pub tx_ring: u32,
    pub umem_bytes: usize,
}

pub(crate) fn layout(opts: &XskOptions, page_size: u32) -> Result<Layout, XdpError> {
    let fs = opts.frame_size;
    if !fs.is_power_of_two() || fs < 2048 || fs > page_size {
        return Err(XdpError::Options(format!(
            "frame_size {fs} must be a power of two between 2048 and the page size ({page_size})"
        )));
    }
    if !(16..=1 << 20).contains(&opts.frames) {
        return Err(XdpError::Options(format!(
            "frames {} must be between 16 and 1048576",
            opts.frames
        )));
    }
    let rx_frames = opts.frames / 2;
    let tx_frames = opts.frames - rx_frames;
    Ok(Layout {
        rx_frames,
        tx_frames,
        rx_ring: rx_frames.next_power_of_two(),
        tx_ring: tx_frames.next_power_of_two(),
        umem_bytes: opts.frames as usize * fs as usize,
    })
}

/// An AF_XDP socket with its UMEM and rings; frames go through the XDP
/// program's redirect into it, and out of it onto the wire.
pub struct XskPort {
    // Rings before the socket before the UMEM: drop order.
    pub(super) rx: Ring<XdpDesc>,
    pub(super) tx: Ring<XdpDesc>,
    pub(super) fill: Ring<u64>,
    pub(super) comp: Ring<u64>,
    pub(super) fd: OwnedFd,
    pub(super) umem: Mmap,
    pub(super) frame_size: u32,
    /// Receive frames waiting for room in the fill ring (normally empty).
    pub(super) rx_spare: Vec<u64>,
    /// Transmit frames we own.
    pub(super) tx_free: Vec<u64>,
    /// Transmit frames pushed but not published yet.
    pub(super) tx_queued: u32,
    /// Transmit frames owned by the kernel (published, not completed).
    pub(super) tx_in_flight: u32,
    /// The kernel honours XDP_USE_NEED_WAKEUP flags.
    pub(super) need_wakeup: bool,
    pub(super) zero_copy: bool,
    pub(super) queue: u32,
}

// SAFETY: every raw pointer in the port points into mappings it owns
// exclusively; the kernel side is synchronised through the ring indices.
// The port is moved between threads, never shared (not Sync).
unsafe impl Send for XskPort {}

fn setsockopt<T>(
    fd: &OwnedFd,
    name: libc::c_int,
    value: &T,
    call: &'static str,
) -> Result<(), XdpError> {
    // SAFETY: `value` is valid for reads of its size.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(error::os(call, io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

/// Reads the ring offsets, accepting the pre-5.4 layout without flags.
fn mmap_offsets(fd: &OwnedFd) -> Result<[Offsets; 4], XdpError> {
    let mut raw = [0u64; 16];
    let mut len = std::mem::size_of_val(&raw) as libc::socklen_t;
    // SAFETY: `raw` is valid for writes of `len` bytes.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            raw.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(error::os(
            "getsockopt(XDP_MMAP_OFFSETS)",
            io::Error::last_os_error(),
        ));
    }
    // rx, tx, fill, completion; 4 u64 per ring (3 before Linux 5.4).
    let per = match len as usize {
        128 => 4,
        96 => 3,
        other => {
            return Err(XdpError::Options(format!(
                "unexpected XDP_MMAP_OFFSETS size {other}"
            )));
        }
    };
    Ok(std::array::from_fn(|i| Offsets {
        producer: raw[i * per],
        consumer: raw[i * per + 1],
        desc: raw[i * per + 2],
        flags: (per == 4).then(|| raw[i * per + 3]),
    }))
}

impl XskPort {
    /// Creates an AF_XDP socket with its UMEM and rings, binds it to
    /// `(program.ifindex(), opts.queue)` and registers it in the program's
    /// XSKMAP slot `opts.queue`. Must run in the interface's network
    /// namespace. Zero-copy is used when the driver supports it and the
    /// program runs natively; otherwise copy mode.
    pub fn open(program: &XdpProgram, opts: &XskOptions) -> Result<XskPort, XdpError> {
        if opts.queue >= program.queues() {
            return Err(XdpError::Options(format!(
                "queue {} does not exist: {} has {} receive queue(s)",
                opts.queue,
                program.ifname(),
                program.queues()
            )));
        }
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let lay = layout(opts, u32::try_from(page).unwrap_or(4096))?;

        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(error::os("socket(AF_XDP)", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a new descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let umem = Mmap::new(lay.umem_bytes, None, 0).map_err(|e| error::os("mmap(UMEM)", e))?;
        let reg = libc::xdp_umem_reg {
            addr: umem.as_ptr() as u64,
            len: lay.umem_bytes as u64,
            chunk_size: opts.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(&fd, libc::XDP_UMEM_REG, &reg, "setsockopt(XDP_UMEM_REG)")?;
        setsockopt(
            &fd,
            libc::XDP_UMEM_FILL_RING,
            &lay.rx_ring,
            "setsockopt(XDP_UMEM_FILL_RING)",
        )?;
        setsockopt(
            &fd,
            libc::XDP_UMEM_COMPLETION_RING,
            &lay.tx_ring,
            "setsockopt(XDP_UMEM_COMPLETION_RING)",
        )?;
        setsockopt(
            &fd,
            libc::XDP_RX_RING,
            &lay.rx_ring,
            "setsockopt(XDP_RX_RING)",
        )?;
        setsockopt(
            &fd,
            libc::XDP_TX_RING,
            &lay.tx_ring,
            "setsockopt(XDP_TX_RING)",
        )?;

        let [rx_off, tx_off, fill_off, comp_off] = mmap_offsets(&fd)?;
        let map_err = |e| error::os("mmap(AF_XDP ring)", e);
        let rx = Ring::map(
            fd.as_fd(),
            libc::XDP_PGOFF_RX_RING as u64,
            rx_off,
            lay.rx_ring,
        )
        .map_err(map_err)?;
        let tx = Ring::map(
            fd.as_fd(),
            libc::XDP_PGOFF_TX_RING as u64,
            tx_off,
            lay.tx_ring,
        )
        .map_err(map_err)?;
        let fill = Ring::map(
            fd.as_fd(),
            libc::XDP_UMEM_PGOFF_FILL_RING,
            fill_off,
            lay.rx_ring,
        )
        .map_err(map_err)?;
        let comp = Ring::map(
            fd.as_fd(),
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            comp_off,
            lay.tx_ring,
        )
        .map_err(map_err)?;
        let need_wakeup = rx_off.flags.is_some();

        let fs = u64::from(opts.frame_size);
        let mut port = XskPort {
            rx,
            tx,
            fill,
            comp,
            fd,
            umem,
            frame_size: opts.frame_size,
            rx_spare: (0..u64::from(lay.rx_frames)).map(|i| i * fs).collect(),
            tx_free: (u64::from(lay.rx_frames)..u64::from(opts.frames))
                .rev()
                .map(|i| i * fs)
                .collect(),
            tx_queued: 0,
            tx_in_flight: 0,
            need_wakeup,
            zero_copy: false,
            queue: opts.queue,
        };
        port.refill();

        let mut flags = if need_wakeup {
            libc::XDP_USE_NEED_WAKEUP
        } else {
            0
        };
        if program.mode() == AttachMode::Generic {
            // Generic XDP hands over socket buffers: only copy mode works.
            flags |= libc::XDP_COPY;
        }
        let addr = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: program.ifindex(),
            sxdp_queue_id: opts.queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `addr` is a valid sockaddr_xdp of the length passed.
        let ret = unsafe {
            libc::bind(
                port.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(error::os("bind(AF_XDP)", io::Error::last_os_error()));
        }
        port.zero_copy = port.query_zero_copy();

        let fd_value = port.fd.as_raw_fd().to_ne_bytes();
        sys::map_update(program.xsk_map(), &opts.queue.to_ne_bytes(), &fd_value)
            .map_err(|e| error::os("bpf(BPF_MAP_UPDATE_ELEM) on the XSKMAP", e))?;
        Ok(port)
    }

    /// Whether the kernel bound the socket in zero-copy mode.
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// The queue this socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    fn query_zero_copy(&self) -> bool {
        let mut opts = libc::xdp_options { flags: 0 };
        let mut len = std::mem::size_of::<libc::xdp_options>() as libc::socklen_t;
        // SAFETY: `opts` is valid for writes of `len` bytes.
        let ret = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_OPTIONS,
                (&mut opts as *mut libc::xdp_options).cast(),
                &mut len,
            )
        };
        ret == 0 && opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0
    }
}

impl std::fmt::Debug for XskPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskPort")
            .field("queue", &self.queue)
            .field("frame_size", &self.frame_size)
            .field("zero_copy", &self.zero_copy)
            .field("tx_in_flight", &self.tx_in_flight)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_splits_frames_and_rounds_rings() {
        let l = layout(&XskOptions::default(), 4096).expect("valid");
        assert_eq!(
            (l.rx_frames, l.tx_frames, l.rx_ring, l.tx_ring),
            (2048, 2048, 2048, 2048)
        );
        assert_eq!(l.umem_bytes, 4096 * 2048);
        let l = layout(
            &XskOptions {
                queue: 0,
                frames: 100,
                frame_size: 4096,
            },
            4096,
        )
        .expect("valid");
        assert_eq!(
            (l.rx_frames, l.tx_frames, l.rx_ring, l.tx_ring),
            (50, 50, 64, 64)
        );
        let l = layout(
            &XskOptions {
                queue: 0,
                frames: 33,
                frame_size: 2048,
            },
            4096,
        )
        .expect("valid");
        assert_eq!(
            (l.rx_frames, l.tx_frames, l.rx_ring, l.tx_ring),
            (16, 17, 16, 32)
        );
    }

    #[test]
    fn layout_rejects_bad_sizes() {
        for (frames, frame_size) in [
            (4096, 1024),
            (4096, 3000),
            (4096, 8192),
            (8, 2048),
            (0, 2048),
        ] {
            let opts = XskOptions {
                queue: 0,
                frames,
                frame_size,
            };
            assert!(layout(&opts, 4096).is_err(), "{frames} x {frame_size}");
        }
    }

    #[test]
    fn descriptor_layout() {
        assert_eq!(std::mem::size_of::<XdpDesc>(), 16);
        assert_eq!(std::mem::size_of::<libc::sockaddr_xdp>(), 16);
        assert_eq!(std::mem::size_of::<libc::xdp_umem_reg>(), 32);
    }
}
