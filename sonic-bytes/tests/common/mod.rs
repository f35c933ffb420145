//! What the property tests share.

use proptest::prelude::ProptestConfig;

/// 256 cases; under Miri 8, and no failure file (Miri isolates the file system).
pub(crate) fn config() -> ProptestConfig {
    let mut c = ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 256 },
        ..ProptestConfig::default()
    };
    if cfg!(miri) {
        c.failure_persistence = None;
    }
    c
}
