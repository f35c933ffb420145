//! The crate's `unsafe` outside the platform module: inline type erasure, and a
//! fixed-capacity vector filled in place.

pub(crate) mod payload;
// Its one user, the batch read, exists where `recvmmsg` does.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) mod stack;
