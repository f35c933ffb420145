//! Linux: a memfd mapped twice, back to back, inside one `PROT_NONE` reservation.

use std::os::fd::AsRawFd;

use iofd::{MemFd, MemFdFlags};

use super::Mapping;
use crate::mirrored::{HUGE_PAGE, MirrorOptions};

fn os(e: zcall::Errno, what: &'static str) -> iox::Error {
    iox::Error::from(e).context(what)
}

/// Reserves `total` bytes (a page multiple) of `PROT_NONE` address space starting at a
/// multiple of `align` (a multiple of the page size). Returns the start, and how many bytes
/// of the over-reservation were given back before and after the `total` kept.
///
/// `mmap` only promises page alignment, but a hugetlb view mapped `MAP_FIXED` must start on
/// a huge-page boundary: Linux 6.7 and later happen to align large anonymous mappings, older
/// kernels do not. So reserve `align - page` bytes more, keep the aligned `total` bytes
/// inside, and unmap the rest. With `align` the page size nothing is added or trimmed.
fn reserve(total: usize, align: usize) -> iox::Result<(*mut u8, usize, usize)> {
    let page = super::page_size();
    debug_assert!(align >= page && align.is_multiple_of(page));
    let extra = align - page;
    let span = total
        .checked_add(extra)
        .ok_or(iox::Error::invalid_input("mirrored buffer size overflows"))?;
    // SAFETY: a fresh anonymous reservation at an address of the kernel's choosing
    // replaces nothing.
    let start = unsafe {
        zcall::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    }
    .map_err(|e| os(e, "reserving address space for the mirrored buffer"))?
    .cast::<u8>();
    // `start` and `align` are page multiples, so the first aligned address is at most
    // `align - page` = `extra` bytes in, and `total` bytes from it still lie in the span.
    let head = (start as usize).next_multiple_of(align) - start as usize;
    let tail = extra - head;
    let base = start.wrapping_add(head);
    for (at, len) in [(start, head), (base.wrapping_add(total), tail)] {
        if len == 0 {
            continue;
        }
        // SAFETY: `[at, at + len)` is the part of the span reserved above that lies before
        // or after the `total` bytes kept; nothing else knows of it or uses it.
        if let Err(e) = unsafe { zcall::munmap(at.cast(), len) } {
            // SAFETY: the whole span is this function's own reservation (parts of it may
            // already be unmapped, which munmap allows); nothing uses any of it.
            let _ = unsafe { zcall::munmap(start.cast(), span) };
            return Err(os(e, "trimming the mirrored buffer's reservation"));
        }
    }
    Ok((base, head, tail))
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
    // Huge-page views need a huge-page-aligned reservation; page alignment is enough for
    // the others.
    let align = if o.huge_pages {
        HUGE_PAGE
    } else {
        super::page_size()
    };
    let (base, _, _) = reserve(total, align)?;
    let guard = Mapping { base, len };
    let mut view_flags = libc::MAP_SHARED | libc::MAP_FIXED;
    if o.prefault {
        view_flags |= libc::MAP_POPULATE;
    }
    for half in 0..2 {
        // SAFETY: `[base + half * len, + len)` lies inside the reservation made above,
        // which only this function knows of: MAP_FIXED replaces nothing else. (For huge
        // pages `base` and `len` are multiples of the huge page size, as hugetlb needs.)
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

// Not under Miri, which cannot map memory.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::{HUGE_PAGE, reserve};
    use crate::sys::page_size;

    /// `true` when the page at `at` is not mapped: a `MAP_FIXED_NOREPLACE` mapping there
    /// succeeds (and is undone).
    fn is_free(at: *mut u8) -> bool {
        let page = page_size();
        // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping: it fails with EEXIST when
        // the range is in use.
        let got = unsafe {
            zcall::mmap(
                at.cast(),
                page,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        match got {
            Ok(p) => {
                // SAFETY: `p` is the page just mapped here, used by nothing.
                unsafe { zcall::munmap(p, page) }.unwrap();
                // A kernel without MAP_FIXED_NOREPLACE (before 4.17) takes it as a hint.
                p.cast() == at
            }
            Err(e) => {
                assert_eq!(e, zcall::Errno::EEXIST);
                false
            }
        }
    }

    /// The reservation is aligned by this code, not by the kernel: the lengths here are
    /// not huge-page multiples, which no kernel aligns by itself. What was over-reserved is
    /// given back, and the `total` bytes kept are still reserved. In a child process, so
    /// that no other thread maps memory into the pages probed.
    #[test]
    fn reservations_are_aligned_and_trimmed() {
        testkit::in_subprocess(|| {
            let page = page_size();
            let mut trimmed_before = false;
            for total in [3 * page, 2 * HUGE_PAGE + 5 * page] {
                for _ in 0..16 {
                    let (base, head, tail) = reserve(total, HUGE_PAGE).unwrap();
                    assert_eq!(base as usize % HUGE_PAGE, 0, "{base:p} for {total} bytes");
                    assert_eq!(head + tail, HUGE_PAGE - page);
                    trimmed_before |= head > 0;
                    if head > 0 {
                        assert!(is_free(base.wrapping_sub(page)), "the head was unmapped");
                    }
                    if tail > 0 {
                        assert!(is_free(base.wrapping_add(total)), "the tail was unmapped");
                    }
                    assert!(!is_free(base), "the first page kept is reserved");
                    assert!(!is_free(base.wrapping_add(total - page)), "so is the last");
                    // SAFETY: the reservation made above, used by nothing.
                    unsafe { zcall::munmap(base.cast(), total) }.unwrap();
                }
            }
            assert!(
                trimmed_before,
                "the kernel's address was never misaligned, so the alignment was not tested"
            );
            // Page alignment: nothing over-reserved, nothing trimmed.
            let (base, head, tail) = reserve(3 * page, page).unwrap();
            assert_eq!((head, tail), (0, 0));
            // SAFETY: the reservation made above, used by nothing.
            unsafe { zcall::munmap(base.cast(), 3 * page) }.unwrap();
        });
    }
}
