//! Elsewhere than Linux, macOS and FreeBSD the mirrored buffer is not available.

use super::Mapping;
use crate::mirrored::MirrorOptions;

/// Always `Unsupported`.
pub(super) fn map(_len: usize, _o: &MirrorOptions) -> iox::Result<Mapping> {
    Err(iox::Error::unsupported(
        "the mirrored buffer needs Linux, macOS or FreeBSD",
    ))
}
