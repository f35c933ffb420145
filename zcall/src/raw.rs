//! `syscall0`..`syscall6`: any Linux system call by number, with the error decoded.
//!
//! On the inline-asm targets (Linux x86_64, aarch64, riscv64, loongarch64) each is one
//! instruction and [`nr`] holds the numbers this crate uses. On Linux elsewhere they go
//! through `libc::syscall`. Other systems have no raw entry point here: use the typed
//! functions at the crate root.
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! // SAFETY: getpid takes no arguments and touches no memory.
//! let pid = unsafe { zcall::raw::syscall0(libc::SYS_getpid as usize) }.unwrap();
//! assert_eq!(pid, std::process::id() as usize);
//! # }
//! ```
#![cfg(any(target_os = "linux", target_os = "android"))]

use crate::{Errno, Result};

#[cfg(zcall_asm)]
pub use crate::arch::nr;

macro_rules! raw_syscalls {
    ($($name:ident($($a:ident),*);)*) => {$(
        #[doc = concat!("Issues system call `nr` with ", stringify!($($a),*), ".")]
        ///
        /// Returns the kernel's non-negative result, or the [`Errno`] it reported.
        ///
        /// # Safety
        ///
        /// The caller must satisfy the contract of system call `nr` for these arguments:
        /// every pointer valid for what the kernel reads or writes through it, every
        /// descriptor one the caller may use that way.
        #[inline(always)]
        pub unsafe fn $name(nr: usize $(, $a: usize)*) -> Result<usize> {
            #[cfg(zcall_asm)]
            {
                // SAFETY: the caller upholds the syscall's contract.
                Errno::from_ret(unsafe { crate::arch::$name(nr $(, $a)*) })
            }
            #[cfg(not(zcall_asm))]
            {
                // SAFETY: the caller upholds the syscall's contract.
                let ret = unsafe { libc::syscall(nr as libc::c_long $(, $a as libc::c_long)*) };
                if ret == -1 { Err(crate::sys::errno()) } else { Ok(ret as usize) }
            }
        }
    )*};
}

raw_syscalls! {
    syscall0();
    syscall1(a1);
    syscall2(a1, a2);
    syscall3(a1, a2, a3);
    syscall4(a1, a2, a3, a4);
    syscall5(a1, a2, a3, a4, a5);
    syscall6(a1, a2, a3, a4, a5, a6);
}
