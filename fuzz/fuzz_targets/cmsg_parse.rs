//! Arbitrary bytes as a received control buffer: the walk never panics, never reads past
//! the buffer, and stops after a malformed message; the timestamp readers
//! (`sock::timestamp::{rx_timestamp, tx_timestamp}`) never panic on it either, and a stamp
//! they find is never zero.
#![no_main]

use sock::cmsg::{Cmsg, CmsgIter};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut seen = 0usize;
    for m in CmsgIter::new(data) {
        seen += 1;
        assert!(seen <= data.len(), "every message consumes at least a header");
        match m {
            Ok(Cmsg::Rights(fds)) => {
                let n = fds.count();
                assert!(n * 4 <= data.len());
            }
            Ok(Cmsg::Other { data: d, .. }) => assert!(d.len() <= data.len()),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if let Some(t) = sock::timestamp::rx_timestamp(data) {
        assert!(t.as_nanos() > 0, "a zero stamp means none");
    }
    if let Some(Ok(t)) = sock::timestamp::tx_timestamp(data) {
        assert!(t.software.is_none_or(|s| s.as_nanos() > 0));
    }
});
