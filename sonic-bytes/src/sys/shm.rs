//! macOS and FreeBSD: a POSIX shared-memory object (`shm_open`, unlinked at once) mapped
//! twice, back to back, inside one `PROT_NONE` reservation.
//!
//! `cargo xtask ci` runs the mirrored-buffer tests through this file on Linux too (built
//! with `--cfg sonic_bytes_shm`, where glibc's `shm_open` lives in `/dev/shm`); for macOS
//! and FreeBSD it is compiled by `cargo xtask cross` but no runner of theirs executes it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::Mode;
use rustix::shm::OFlags;

use super::Mapping;
use crate::mirrored::MirrorOptions;

fn last(what: &'static str) -> iox::Error {
    iox::Error::from(io::Error::last_os_error()).context(what)
}

fn failed(e: rustix::io::Errno, what: &'static str) -> iox::Error {
    iox::Error::from(io::Error::from(e)).context(what)
}

/// Creates an anonymous shared-memory object: a fresh name, created exclusively, unlinked
/// at once so nothing else can open it and nothing is left behind. Its descriptor closes
/// when dropped.
fn anonymous_shm() -> iox::Result<OwnedFd> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for _ in 0..64 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // macOS limits names to 31 bytes.
        let name = CString::new(format!("/sonic.{:x}.{n:x}", std::process::id()))
            .map_err(|_| iox::Error::invalid_input("shm name"))?;
        // POSIX has shm_open set FD_CLOEXEC itself (glibc and FreeBSD do; macOS may refuse an
        // explicit O_CLOEXEC), so it is not passed (rustix's flags have none; its
        // declaration of shm_open matches each platform's, variadic on macOS).
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL;
        let shm = match rustix::shm::open(name.as_c_str(), flags, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(failed(e, "shm_open for the mirrored buffer")),
        };
        // Unlinking only removes the name; the object lives on through `shm`.
        let _ = rustix::shm::unlink(name.as_c_str());
        return Ok(shm);
    }
    Err(iox::Error::from(io::Error::from_raw_os_error(libc::EEXIST))
        .context("no free shm name for the mirrored buffer"))
}

/// Maps `len` bytes (a multiple of the page size) twice.
pub(super) fn map(len: usize, o: &MirrorOptions) -> iox::Result<Mapping> {
    if o.huge_pages {
        return Err(iox::Error::unsupported(
            "huge pages for the mirrored buffer are Linux-only",
        ));
    }
    let total = len
        .checked_mul(2)
        .ok_or(iox::Error::invalid_input("mirrored buffer size overflows"))?;
    let shm = anonymous_shm()?;
    let size = libc::off_t::try_from(len)
        .map_err(|_| iox::Error::invalid_input("mirrored buffer size overflows off_t"))?;
    rustix::fs::ftruncate(&shm, size as u64)
        .map_err(|e| failed(e, "ftruncate of the mirrored buffer"))?;
    // SAFETY: a fresh anonymous reservation at an address of the kernel's choosing
    // replaces nothing.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(last("reserving address space for the mirrored buffer"));
    }
    let guard = Mapping {
        base: base.cast(),
        len,
    };
    for half in 0..2 {
        // SAFETY: `[base + half * len, + len)` lies inside the reservation made above,
        // which only this function knows of: MAP_FIXED replaces nothing else.
        let view = unsafe {
            libc::mmap(
                guard.base.wrapping_add(half * len).cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                shm.as_raw_fd(),
                0,
            )
        };
        if view == libc::MAP_FAILED {
            return Err(last("mapping a view of the mirrored buffer"));
        }
    }
    if o.dont_fork {
        hide_from_fork(guard.base, total)?;
    }
    if o.lock {
        // SAFETY: mlock pins the pages in memory; it changes no contents.
        if unsafe { libc::mlock(guard.base.cast(), total) } != 0 {
            return Err(last("mlock of the mirrored buffer"));
        }
    }
    if o.prefault {
        // No MAP_POPULATE here: write one zero per page of the first view (the object
        // is zero-filled, so contents do not change), which faults in both views' page.
        let page = super::page_size();
        for off in (0..len).step_by(page) {
            let at = guard.base.wrapping_add(off);
            // SAFETY: `at` is inside the first view, mapped writable above.
            unsafe { at.write_volatile(0) };
        }
    }
    Ok(guard)
}

/// Keeps a forked child from inheriting the range.
fn hide_from_fork(base: *mut u8, len: usize) -> iox::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: MADV_DONTFORK only changes what a forked child sees of the range.
    let rc = unsafe { libc::madvise(base.cast(), len, libc::MADV_DONTFORK) };
    #[cfg(target_vendor = "apple")]
    // SAFETY: minherit only changes what a forked child sees of the range.
    let rc = unsafe { libc::minherit(base.cast(), len, libc::VM_INHERIT_NONE) };
    #[cfg(target_os = "freebsd")]
    // SAFETY: minherit only changes what a forked child sees of the range.
    let rc = unsafe { libc::minherit(base.cast(), len, libc::INHERIT_NONE) };
    if rc != 0 {
        return Err(last("hiding the mirrored buffer from fork"));
    }
    Ok(())
}
