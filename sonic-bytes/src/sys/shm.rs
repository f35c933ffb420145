//! macOS and FreeBSD: a POSIX shared-memory object (`shm_open`, unlinked at once) mapped
//! twice, back to back, inside one `PROT_NONE` reservation.
//!
//! `cargo xtask ci` runs the mirrored-buffer tests through this file on Linux too (built
//! with `--cfg sonic_bytes_shm`, where glibc's `shm_open` lives in `/dev/shm`); for macOS
//! and FreeBSD it is compiled by `cargo xtask cross` but no runner of theirs executes it.

use std::ffi::CString;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Mapping;
use crate::mirrored::MirrorOptions;

fn last(what: &'static str) -> iox::Error {
    iox::Error::from(io::Error::last_os_error()).context(what)
}

/// A closed-on-drop descriptor of the (already unlinked) shared-memory object.
struct Shm(libc::c_int);

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Creates an anonymous shared-memory object: a fresh name, created exclusively, unlinked
/// at once so nothing else can open it and nothing is left behind.
fn anonymous_shm() -> iox::Result<Shm> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for _ in 0..64 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // macOS limits names to 31 bytes.
        let name = CString::new(format!("/sonic.{:x}.{n:x}", std::process::id()))
            .map_err(|_| iox::Error::invalid_input("shm name"))?;
        // POSIX has shm_open set FD_CLOEXEC itself (glibc and FreeBSD do; macOS may refuse an
        // explicit O_CLOEXEC), so it is not passed.
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        // macOS declares shm_open variadic (the mode is promoted to an unsigned int);
        // FreeBSD takes a mode_t.
        #[cfg(target_vendor = "apple")]
        let mode: libc::c_uint = 0o600;
        #[cfg(not(target_vendor = "apple"))]
        let mode: libc::mode_t = 0o600;
        // SAFETY: `name` is a valid NUL-terminated string; `mode` has the type the
        // platform's declaration expects.
        let fd = unsafe { libc::shm_open(name.as_ptr(), flags, mode) };
        if fd < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST) {
                continue;
            }
            return Err(last("shm_open for the mirrored buffer"));
        }
        let shm = Shm(fd);
        // SAFETY: `name` is valid; unlinking only removes the name, the object lives on
        // through `fd`.
        unsafe { libc::shm_unlink(name.as_ptr()) };
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
    // SAFETY: resizing the descriptor this function owns.
    if unsafe { libc::ftruncate(shm.0, size) } != 0 {
        return Err(last("ftruncate of the mirrored buffer"));
    }
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
                shm.0,
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
