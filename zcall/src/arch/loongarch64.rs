//! `syscall0`..`syscall6` for Linux loongarch64.
//!
//! The number goes in `$a7`, the arguments in `$a0..$a5`, the result comes back in `$a0`.
//! The kernel does not preserve the temporaries `$t0..$t8` across `syscall 0`: they are clobbered.
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
        asm!("syscall 0", in("$a7") nr, lateout("$a0") ret, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _, lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _, lateout("$t7") _, lateout("$t8") _,
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
        asm!("syscall 0", in("$a7") nr, inlateout("$a0") a1 => ret, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _, lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _, lateout("$t7") _, lateout("$t8") _,
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
        asm!("syscall 0", in("$a7") nr, inlateout("$a0") a1 => ret, in("$a1") a2, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _, lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _, lateout("$t7") _, lateout("$t8") _,
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
        asm!("syscall 0", in("$a7") nr, inlateout("$a0") a1 => ret, in("$a1") a2, in("$a2") a3, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _, lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _, lateout("$t7") _, lateout("$t8") _,
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
        asm!("syscall 0", in("$a7") nr, inlateout("$a0") a1 => ret, in("$a1") a2, in("$a2") a3, in("$a3") a4, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _, lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _, lateout("$t7") _, lateout("$t8") _,
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
        asm!("syscall 0", in("$a7") nr, inlateout("$a0") a1 => ret, in("$a1") a2, in("$a2") a3, in("$a3") a4, in("$a4") a5, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _, lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _, lateout("$t7") _, lateout("$t8") _,
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
        asm!("syscall 0", in("$a7") nr, inlateout("$a0") a1 => ret, in("$a1") a2, in("$a2") a3, in("$a3") a4, in("$a4") a5, in("$a5") a6, lateout("$t0") _, lateout("$t1") _, lateout("$t2") _, lateout("$t3") _, lateout("$t4") _, lateout("$t5") _, lateout("$t6") _, lateout("$t7") _, lateout("$t8") _,
             options(nostack, preserves_flags));
    }
    ret
}
