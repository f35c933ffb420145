//! The crate's `unsafe` outside the pollers (`sys`): inline type erasure, a fixed-capacity
//! vector filled in place, and the system calls the core makes itself.

pub(crate) mod calls;
pub(crate) mod payload;
// Its one user, the batch read, exists where `recvmmsg` does.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) mod stack;
