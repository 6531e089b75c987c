//! The four single-producer/single-consumer rings an AF_XDP socket shares
//! with the kernel, and the memory mappings behind them.
//!
//! Each ring is a power-of-two array of descriptors plus a producer and a
//! consumer index that only ever grow (wrapping at 2^32); a slot is
//! `index & mask`. We produce on the fill and TX rings and consume the RX
//! and completion rings. Ordering follows `Documentation/networking/
//! af_xdp.rst`: a consumer loads the producer index with Acquire before
//! reading descriptors and publishes its consumer index with Release after
//! it; a producer loads the consumer index with Acquire before overwriting
//! slots and publishes its producer index with Release after writing them.
//! The index arithmetic is in pure functions, unit-tested below.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// Entries ready to consume: `producer - consumer` (wrapping).
pub fn filled(producer: u32, consumer: u32) -> u32 {
    producer.wrapping_sub(consumer)
}

/// Slots a producer may still write: `size - (producer - consumer)`.
pub fn free(size: u32, producer: u32, consumer: u32) -> u32 {
    size.saturating_sub(filled(producer, consumer))
}

/// The array slot of index `idx`.
pub fn slot(idx: u32, mask: u32) -> usize {
    (idx & mask) as usize
}

/// An owned `mmap` region, unmapped on drop.
pub struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    /// Maps `len` bytes of `fd` at page offset `offset` (a ring), or
    /// anonymous memory when `fd` is `None` (the UMEM).
    pub fn new(len: usize, fd: Option<BorrowedFd<'_>>, offset: u64) -> io::Result<Mmap> {
        let (flags, raw) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd.as_raw_fd()),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
            ),
        };
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mmap offset out of range"))?;
        // SAFETY: a fresh mapping at an address of the kernel's choosing;
        // the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                raw,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(ptr.cast())
            .map(|ptr| Mmap { ptr, len })
            .ok_or_else(|| io::Error::other("mmap returned NULL"))
    }

    /// Start of the region.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the region was mapped by `new` with this length and is
        // not referenced after the owner is dropped.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Where the parts of one ring live inside its mapping
/// (`struct xdp_ring_offset`).
#[derive(Clone, Copy, Debug)]
pub struct Offsets {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    /// `None` on kernels before 5.4 (no need-wakeup flags).
    pub flags: Option<u64>,
}

/// One mapped ring of `T` descriptors (`u64` addresses for fill and
/// completion, `xdp_desc` for RX and TX).
///
/// `local` is our own, not yet published index: the producer index on a
/// ring we produce to, the consumer index on a ring we consume from.
/// `cached` is the last seen value of the other side's index.
pub struct Ring<T: Copy> {
    /// Owns the mapping every pointer below points into.
    _map: Mmap,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: Option<NonNull<AtomicU32>>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    local: u32,
    cached: u32,
    _t: PhantomData<T>,
}

fn field<U>(map: &Mmap, off: u64, len: usize) -> io::Result<NonNull<U>> {
    let off = usize::try_from(off).map_err(|_| io::Error::other("ring offset out of range"))?;
    let end = off
        .checked_add(len)
        .ok_or_else(|| io::Error::other("ring offset out of range"))?;
    if end > map.len() || off % std::mem::align_of::<U>() != 0 {
        return Err(io::Error::other(
            "kernel ring offsets do not fit the mapping",
        ));
    }
    // SAFETY: `off..end` lies inside the mapping (checked above).
    NonNull::new(unsafe { map.as_ptr().add(off) }.cast())
        .ok_or_else(|| io::Error::other("null ring"))
}

impl<T: Copy> Ring<T> {
    /// Maps the ring of `size` entries (a power of two) at page offset
    /// `pgoff` of the socket.
    pub fn map(fd: BorrowedFd<'_>, pgoff: u64, off: Offsets, size: u32) -> io::Result<Ring<T>> {
        let desc =
            usize::try_from(off.desc).map_err(|_| io::Error::other("ring offset out of range"))?;
        let bytes = (size as usize)
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|n| n.checked_add(desc))
            .ok_or_else(|| io::Error::other("ring size out of range"))?;
        let map = Mmap::new(bytes, Some(fd), pgoff)?;
        let producer = field::<AtomicU32>(&map, off.producer, 4)?;
        let consumer = field::<AtomicU32>(&map, off.consumer, 4)?;
        let flags = off
            .flags
            .map(|o| field::<AtomicU32>(&map, o, 4))
            .transpose()?;
        let descs = field::<T>(&map, off.desc, size as usize * std::mem::size_of::<T>())?;
        let mut ring = Ring {
            _map: map,
            producer,
            consumer,
            flags,
            descs,
            mask: size - 1,
            size,
            local: 0,
            cached: 0,
            _t: PhantomData,
        };
        // Start from wherever the kernel's indices are (0 on a new socket).
        ring.local = ring.producer().load(Ordering::Relaxed);
        ring.cached = ring.consumer().load(Ordering::Relaxed);
        Ok(ring)
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into `self.map`, 4-byte aligned (checked), and the
        // kernel only accesses it atomically.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    /// Whether the kernel asks to be woken (`XDP_RING_NEED_WAKEUP`).
    pub fn needs_wakeup(&self) -> bool {
        self.flags.is_some_and(|f| {
            // SAFETY: as for `producer`.
            let flags = unsafe { f.as_ref() }.load(Ordering::Relaxed);
            flags & libc::XDP_RING_NEED_WAKEUP != 0
        })
    }

    /// Number of entries.
    pub fn size(&self) -> u32 {
        self.size
    }

    // ---- producer side (fill, TX) ----

    /// Slots we may write now (refreshing the consumer index only when
    /// the cached one says the ring is full).
    pub fn prod_free(&mut self) -> u32 {
        let mut n = free(self.size, self.local, self.cached);
        if n == 0 {
            self.cached = self.consumer().load(Ordering::Acquire);
            n = free(self.size, self.local, self.cached);
        }
        n
    }

    /// Writes one descriptor at the local producer index; `false` if full.
    pub fn prod_push(&mut self, desc: T) -> bool {
        if self.prod_free() == 0 {
            return false;
        }
        // SAFETY: the slot is inside the descriptor array and, as the ring
        // is not full, the kernel is not reading it.
        unsafe {
            self.descs
                .as_ptr()
                .add(slot(self.local, self.mask))
                .write_volatile(desc)
        };
        self.local = self.local.wrapping_add(1);
        true
    }

    /// Publishes every pushed descriptor to the kernel.
    pub fn prod_publish(&mut self) {
        self.producer().store(self.local, Ordering::Release);
    }

    /// Pushed descriptors the kernel has not consumed yet.
    pub fn prod_outstanding(&mut self) -> u32 {
        self.cached = self.consumer().load(Ordering::Acquire);
        filled(self.local, self.cached)
    }

    // ---- consumer side (RX, completion) ----

    /// Entries ready to read, at most `max`.
    pub fn cons_available(&mut self, max: u32) -> u32 {
        let mut n = filled(self.cached, self.local);
        if n < max {
            self.cached = self.producer().load(Ordering::Acquire);
            n = filled(self.cached, self.local);
        }
        n.min(max)
    }

    /// The `i`-th entry after the local consumer index (`i` below what
    /// [`Ring::cons_available`] returned).
    pub fn cons_read(&self, i: u32) -> T {
        // SAFETY: the slot is inside the array; the kernel published it
        // (Acquire in `cons_available`) and will not rewrite it before we
        // release it.
        unsafe {
            self.descs
                .as_ptr()
                .add(slot(self.local.wrapping_add(i), self.mask))
                .read_volatile()
        }
    }

    /// Hands `n` read entries back to the kernel.
    pub fn cons_release(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.consumer().store(self.local, Ordering::Release);
    }
}

// The ring's pointers all point into its own mapping.
// SAFETY: a ring is used by one thread at a time (it is owned by one
// XskPort, which is `Send` but not `Sync`).
unsafe impl<T: Copy + Send> Send for Ring<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_wraparound() {
        assert_eq!(filled(5, 2), 3);
        assert_eq!(filled(2, u32::MAX - 1), 4);
        assert_eq!(filled(7, 7), 0);
        assert_eq!(free(8, 5, 2), 5);
        assert_eq!(free(8, 3, u32::MAX - 4), 0);
        assert_eq!(free(8, 1, u32::MAX - 2), 4);
    }

    #[test]
    fn slots_wrap_with_the_mask() {
        assert_eq!(slot(0, 7), 0);
        assert_eq!(slot(9, 7), 1);
        assert_eq!(slot(u32::MAX, 7), 7);
        assert_eq!(slot(u32::MAX.wrapping_add(1), 7), 0);
    }

    /// A ring on anonymous memory plays both roles against itself.
    #[test]
    fn push_publish_read_release_on_a_private_ring() {
        let size = 4u32;
        let map = Mmap::new(64 + 4 * 8, None, 0).expect("anonymous mapping");
        let off = Offsets {
            producer: 0,
            consumer: 32,
            desc: 64,
            flags: Some(16),
        };
        let ring = |map: Mmap| -> Ring<u64> {
            Ring {
                producer: field(&map, off.producer, 4).expect("field"),
                consumer: field(&map, off.consumer, 4).expect("field"),
                flags: Some(field(&map, 16, 4).expect("field")),
                descs: field(&map, off.desc, 32).expect("field"),
                _map: map,
                mask: size - 1,
                size,
                local: 0,
                cached: 0,
                _t: PhantomData,
            }
        };
        let mut r = ring(map);
        // Start just below the wrap to exercise it.
        let start = u32::MAX - 1;
        r.producer().store(start, Ordering::Relaxed);
        r.consumer().store(start, Ordering::Relaxed);
        r.local = start;
        r.cached = start;
        for v in 0..4u64 {
            assert!(r.prod_push(100 + v));
        }
        assert!(!r.prod_push(999), "a full ring refuses");
        r.prod_publish();
        assert_eq!(r.prod_outstanding(), 4);
        // Consume as the kernel would: read the producer, then release.
        let produced = r.producer().load(Ordering::Acquire);
        assert_eq!(filled(produced, start), 4);
        r.consumer().store(start.wrapping_add(2), Ordering::Release);
        assert_eq!(r.prod_outstanding(), 2);
        assert!(r.prod_push(104) && r.prod_push(105));
        assert!(!r.needs_wakeup());
        // The same memory seen by a consumer.
        let mut c = ring(Mmap::new(64 + 32, None, 0).expect("anonymous mapping"));
        c.producer().store(3, Ordering::Release);
        for i in 0..3u32 {
            // SAFETY: writes inside the 4-entry array of the test mapping.
            unsafe { c.descs.as_ptr().add(i as usize).write(u64::from(i) * 10) };
        }
        assert_eq!(c.cons_available(8), 3);
        assert_eq!(c.cons_available(2), 2);
        assert_eq!(
            [c.cons_read(0), c.cons_read(1), c.cons_read(2)],
            [0, 10, 20]
        );
        c.cons_release(3);
        assert_eq!(c.consumer().load(Ordering::Acquire), 3);
        assert_eq!(c.cons_available(8), 0);
    }
}
