//! `syscall0`..`syscall6` for Linux aarch64.
//!
//! The number goes in `x8`, the arguments in `x0..x5`, the result comes back in `x0`.
//! `svc 0` preserves every other register and the condition flags.
//! No `nomem`/`readonly` option: the kernel may read and write any memory the arguments name.

use core::arch::asm;

/// # Safety
/// The caller must satisfy the contract of system call `nr` for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall0(nr: usize) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the asm names every register the
    // instruction and the kernel change.
    unsafe {
        asm!("svc 0", in("x8") nr, lateout("x0") ret,
             options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// The caller must satisfy the contract of system call `nr` for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall1(nr: usize, a1: usize) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the asm names every register the
    // instruction and the kernel change.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a1 => ret,
             options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// The caller must satisfy the contract of system call `nr` for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall2(nr: usize, a1: usize, a2: usize) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the asm names every register the
    // instruction and the kernel change.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a1 => ret, in("x1") a2,
             options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// The caller must satisfy the contract of system call `nr` for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall3(nr: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the asm names every register the
    // instruction and the kernel change.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a1 => ret, in("x1") a2, in("x2") a3,
             options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// The caller must satisfy the contract of system call `nr` for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall4(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the asm names every register the
    // instruction and the kernel change.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a1 => ret, in("x1") a2, in("x2") a3, in("x3") a4,
             options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// The caller must satisfy the contract of system call `nr` for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall5(
    nr: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the asm names every register the
    // instruction and the kernel change.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a1 => ret, in("x1") a2, in("x2") a3, in("x3") a4, in("x4") a5,
             options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// The caller must satisfy the contract of system call `nr` for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall6(
    nr: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> usize {
    let ret;
    // SAFETY: the caller upholds the syscall's contract; the asm names every register the
    // instruction and the kernel change.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a1 => ret, in("x1") a2, in("x2") a3, in("x3") a4, in("x4") a5, in("x5") a6,
             options(nostack, preserves_flags));
    }
    ret
}
