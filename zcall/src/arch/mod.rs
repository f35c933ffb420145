//! Inline-asm syscall entry points, one file per architecture, and the matching number table.

#[cfg(target_arch = "x86_64")]
#[path = "x86_64.rs"]
mod imp;
#[cfg(target_arch = "aarch64")]
#[path = "aarch64.rs"]
mod imp;
#[cfg(target_arch = "riscv64")]
#[path = "riscv64.rs"]
mod imp;
#[cfg(target_arch = "loongarch64")]
#[path = "loongarch64.rs"]
mod imp;

#[cfg(target_arch = "x86_64")]
#[path = "../nr/x86_64.rs"]
pub mod nr;
#[cfg(not(target_arch = "x86_64"))]
#[path = "../nr/generic.rs"]
pub mod nr;

pub(crate) use imp::*;
