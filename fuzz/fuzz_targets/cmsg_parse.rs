//! Arbitrary bytes as a received control buffer: the walk never panics, never reads past
//! the buffer, and stops after a malformed message.
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
});
