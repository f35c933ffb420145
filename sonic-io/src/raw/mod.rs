//! The crate's `unsafe` outside the platform module: inline type erasure, and a
//! fixed-capacity vector filled in place.

pub(crate) mod payload;
pub(crate) mod stack;
