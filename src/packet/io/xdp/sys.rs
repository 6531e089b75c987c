//! Thin wrappers over the `bpf()` system call.
//!
//! There is no libc wrapper for `bpf()`, so each command used here gets a
//! `#[repr(C)]` prefix of `union bpf_attr` (layouts from the kernel's
//! `include/uapi/linux/bpf.h`; the kernel zero-extends a shorter attr) and a
//! safe function returning an `OwnedFd` or an errno. Nothing here knows
//! about the classifier; `program.rs` composes these.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;

/// `BPF_MAP_TYPE_HASH`.
pub const MAP_TYPE_HASH: u32 = 1;
/// `BPF_MAP_TYPE_XSKMAP`.
pub const MAP_TYPE_XSKMAP: u32 = 17;
/// `BPF_PROG_TYPE_XDP`.
const PROG_TYPE_XDP: u32 = 6;
/// `BPF_PROG_TYPE_SCHED_CLS` (tc classifier).
pub const PROG_TYPE_SCHED_CLS: u32 = 3;
/// `BPF_TCX_INGRESS` (`enum bpf_attach_type`, Linux 6.6+).
pub const ATTACH_TYPE_TCX_INGRESS: u32 = 46;
/// `BPF_XDP` (`enum bpf_attach_type`).
const ATTACH_TYPE_XDP: u32 = 37;
/// `BPF_ANY`: create or replace.
const UPDATE_ANY: u64 = 0;

/// `XDP_FLAGS_SKB_MODE` (generic XDP).
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE` (native XDP in the driver).
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// Issues `bpf(cmd, attr, sizeof attr)`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of
    // `union bpf_attr` and its exact size is passed; the kernel reads (and
    // for some commands writes) at most that many bytes. Pointers inside it
    // refer to buffers the caller keeps alive across this call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn fd_from(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| io::Error::other("bpf() returned no descriptor"))?;
    // SAFETY: the bpf() commands used here return a new descriptor
    // (O_CLOEXEC) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

fn raw(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

/// `BPF_MAP_CREATE`.
pub fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_name: name16(name),
        ..Default::default()
    };
    fd_from(bpf(BPF_MAP_CREATE, &mut attr)?)
}

/// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`.
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: raw(map),
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags: UPDATE_ANY,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// `BPF_MAP_DELETE_ELEM`; a key that is already gone is not an error.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: raw(map),
        key: key.as_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other.map(drop),
    }
}

/// Every key of a map with 16-byte keys (`BPF_MAP_GET_NEXT_KEY` from "no
/// key" until `ENOENT`).
pub fn map_keys16(map: BorrowedFd<'_>) -> io::Result<Vec<[u8; 16]>> {
    let mut keys = Vec::new();
    let mut next = [0u8; 16];
    loop {
        let mut attr = MapElemAttr {
            map_fd: raw(map),
            key: keys.last().map_or(0, |k: &[u8; 16]| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => keys.push(next),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(keys),
            Err(e) => return Err(e),
        }
    }
}

/// What `BPF_PROG_LOAD` said when it refused a program.
pub struct LoadError {
    /// The errno.
    pub err: io::Error,
    /// The verifier log ("" if it could not be obtained).
    pub log: String,
}

/// `BPF_PROG_LOAD` of an XDP program under the GPL license (the redirect
/// helpers are GPL-only). Loads quietly first; on failure loads again with
/// the verifier log enabled to explain why.
pub fn prog_load_xdp(image: &[u8], name: &str) -> Result<OwnedFd, LoadError> {
    prog_load(image, name, PROG_TYPE_XDP)
}

/// `BPF_PROG_LOAD` of a program of `prog_type`, as [`prog_load_xdp`].
pub fn prog_load(image: &[u8], name: &str, prog_type: u32) -> Result<OwnedFd, LoadError> {
    const LICENSE: &[u8] = b"GPL\0";
    let insn_cnt = (image.len() / 8) as u32;
    let attr = |log: &mut Vec<u8>, level: u32| ProgLoadAttr {
        prog_type,
        insn_cnt,
        insns: image.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log_level: level,
        log_size: if level > 0 { log.len() as u32 } else { 0 },
        log_buf: if level > 0 {
            log.as_mut_ptr() as u64
        } else {
            0
        },
        prog_name: name16(name),
        ..Default::default()
    };
    let mut no_log = Vec::new();
    let err = match bpf(BPF_PROG_LOAD, &mut attr(&mut no_log, 0)) {
        Ok(fd) => {
            return fd_from(fd).map_err(|err| LoadError {
                err,
                log: String::new(),
            });
        }
        Err(err) => err,
    };
    let mut log = vec![0u8; 1 << 20];
    let retry = bpf(BPF_PROG_LOAD, &mut attr(&mut log, 1));
    if let Ok(fd) = retry {
        // Accepted the second time (a transient failure): use it.
        return fd_from(fd).map_err(|err| LoadError {
            err,
            log: String::new(),
        });
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    // The verdict is at the end of the log; keep the last 8 KiB.
    let tail = text.len().saturating_sub(8192);
    let start = (tail..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    Err(LoadError {
        err,
        log: text[start..].to_string(),
    })
}

/// `BPF_LINK_CREATE` attaching an XDP program to an interface; closing the
/// returned link detaches it.
pub fn link_create_xdp(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    link_create(prog, ifindex, ATTACH_TYPE_XDP, flags)
}

/// `BPF_LINK_CREATE` of any interface attach type (XDP, tcx).
pub fn link_create(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: u32,
    flags: u32,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: raw(prog),
        target_ifindex: ifindex,
        attach_type,
        flags,
    };
    fd_from(bpf(BPF_LINK_CREATE, &mut attr)?)
}

/// Lifts `RLIMIT_MEMLOCK` to infinity: kernels before 5.11 charge BPF maps
/// against it and the default (64 KiB or 8 MiB) is too small. Returns
/// whether it changed anything.
pub fn raise_memlock_limit() -> bool {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads one valid rlimit struct.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel_header() {
        // Offsets from include/uapi/linux/bpf.h (checked against a
        // 6.x header with offsetof).
        assert_eq!(size_of::<MapCreateAttr>(), 44);
        assert_eq!(std::mem::offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(std::mem::offset_of!(MapElemAttr, key), 8);
        assert_eq!(std::mem::offset_of!(MapElemAttr, flags), 24);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<LinkCreateAttr>(), 16);
    }

    #[test]
    fn names_are_truncated_and_terminated() {
        assert_eq!(&name16("sy_addrs")[..9], b"sy_addrs\0");
        assert_eq!(name16("a_name_longer_than_sixteen")[15], 0);
    }
}
