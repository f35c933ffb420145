//! Linux: a memfd mapped twice, back to back, inside one `PROT_NONE` reservation.

use std::os::fd::AsRawFd;

use iofd::{MemFd, MemFdFlags};

use super::Mapping;
use crate::mirrored::MirrorOptions;

fn os(e: zcall::Errno, what: &'static str) -> iox::Error {
    iox::Error::from(e).context(what)
}

/// Maps `len` bytes (a multiple of the page size, or of the huge page size) twice.
pub(super) fn map(len: usize, o: &MirrorOptions) -> iox::Result<Mapping> {
    let flags = if o.huge_pages {
        MemFdFlags::CLOEXEC | MemFdFlags::HUGETLB
    } else {
        MemFdFlags::CLOEXEC
    };
    // No fallback: without memfd_create (before Linux 3.17, or refused by a seccomp
    // filter) the error says which call failed and why.
    let fd = MemFd::with_flags("sonic-bytes-mirror", flags)
        .map_err(|e| e.context("memfd_create for the mirrored buffer"))?;
    fd.truncate(len as u64)?;
    let total = len
        .checked_mul(2)
        .ok_or(iox::Error::invalid_input("mirrored buffer size overflows"))?;
    // SAFETY: a fresh anonymous reservation at an address of the kernel's choosing
    // replaces nothing.
    let base = unsafe {
        zcall::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    }
    .map_err(|e| os(e, "reserving address space for the mirrored buffer"))?
    .cast::<u8>();
    let guard = Mapping { base, len };
    let mut view_flags = libc::MAP_SHARED | libc::MAP_FIXED;
    if o.prefault {
        view_flags |= libc::MAP_POPULATE;
    }
    for half in 0..2 {
        // SAFETY: `[base + half * len, + len)` lies inside the reservation made above,
        // which only this function knows of: MAP_FIXED replaces nothing else.
        unsafe {
            zcall::mmap(
                base.wrapping_add(half * len).cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                view_flags,
                fd.as_raw_fd(),
                0,
            )
        }
        .map_err(|e| os(e, "mapping a view of the mirrored buffer"))?;
    }
    if o.dont_fork {
        // SAFETY: MADV_DONTFORK only hides the range from a forked child.
        unsafe { zcall::madvise(base.cast(), total, libc::MADV_DONTFORK) }
            .map_err(|e| os(e, "MADV_DONTFORK"))?;
    }
    if o.lock {
        // SAFETY: mlock pins the pages in memory; it changes no contents.
        let rc = unsafe { libc::mlock(base.cast(), total) };
        if rc != 0 {
            return Err(iox::Error::from(std::io::Error::last_os_error())
                .context("mlock of the mirrored buffer"));
        }
    }
    // The memfd closes here; the views keep the pages alive.
    drop(fd);
    Ok(guard)
}
