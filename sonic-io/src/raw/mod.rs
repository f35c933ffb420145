//! The crate's `unsafe` outside the platform module: inline type erasure.

pub(crate) mod payload;
