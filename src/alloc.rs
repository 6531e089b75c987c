//! The global allocator: mimalloc, called without its alignment wrapper
//! for ordinary allocations.
//!
//! The `mimalloc` crate routes every allocation through
//! `mi_malloc_aligned`, which costs more than `mi_malloc` even for the
//! 8-byte alignment nearly every Rust allocation has. The proxy makes many
//! small short-lived allocations per request (header maps, buffers), so
//! this wrapper uses the plain entry points whenever mimalloc's natural
//! alignment (8 bytes for every size class) suffices.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Alignment every mimalloc block has.
const NATURAL_ALIGN: usize = 8;

/// mimalloc as a `GlobalAlloc` (install with `#[global_allocator]`).
pub struct Mimalloc;

// SAFETY: mimalloc is a thread-safe allocator; every path returns memory of
// at least `layout.size()` bytes aligned to `layout.align()` (the plain
// calls only when the requested alignment is the natural one), and frees
// go to `mi_free`, which accepts both kinds of block.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: FFI calls with a size (and power-of-two alignment) from a valid Layout.
        unsafe {
            if layout.align() <= NATURAL_ALIGN {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if layout.align() <= NATURAL_ALIGN {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe {
            if layout.align() <= NATURAL_ALIGN {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_t`, the
/// same in mimalloc 2 and 3; the Rust bindings have no constant for it).
const MI_OPTION_PURGE_DELAY: mi::mi_option_t = 15;

/// How long memory freed inside the process stays resident before it goes
/// back to the operating system. mimalloc 3's default is 1000 ms: memory a
/// burst of connections used (thousands of upstream connections at once)
/// stayed resident for seconds after they went idle; 100 ms is short
/// enough for that and long enough that steady traffic, which reuses its
/// freed pages within milliseconds, never pays for a purge.
pub const PURGE_DELAY_MS: i64 = 100;

/// Sets the allocator's options; call once, first thing in `main`.
pub fn configure() {
    // SAFETY: mi_option_set takes any option index and value.
    unsafe { mi::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as std::ffi::c_long) }
}

/// Returns this thread's free memory to the operating system (a no-op cost
/// when mimalloc is not the global allocator). Workers call it once a
/// second: after a burst of connections, or when idle connections are
/// parked, freed buffers otherwise stay resident.
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks the calling thread's own heap.
    unsafe { mi::mi_collect(false) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_configure_sets() {
        // SAFETY: mi_option_get/mi_option_set take any option index.
        let (default, set) = unsafe {
            let default = mi::mi_option_get(MI_OPTION_PURGE_DELAY);
            configure();
            (default, mi::mi_option_get(MI_OPTION_PURGE_DELAY))
        };
        // mimalloc 3's documented default for purge_delay (unless the
        // environment overrides it): the index names that option.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(default, 1000);
        }
        assert_eq!(set, PURGE_DELAY_MS as std::ffi::c_long);
    }

    #[test]
    fn every_alignment_and_size_is_honoured() {
        let a = Mimalloc;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1usize, 7, 8, 24, 100, 1000, 8192, 100_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero size; the block is written within bounds and freed once.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xab, size);
                    let q = a.realloc(p, layout, size * 2);
                    assert_eq!(q as usize % align, 0);
                    assert_eq!(*q.add(size - 1), 0xab);
                    a.dealloc(q, Layout::from_size_align(size * 2, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
