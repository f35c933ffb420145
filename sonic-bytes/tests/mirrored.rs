//! The mirrored mapping itself: rounding, the mirror, options, errors, unmapping.
#![cfg(all(target_os = "linux", not(miri)))]

mod maps;
use maps::mirror_mappings;

use sonic_bytes::{Fifo, MirrorOptions, MirroredBuffer, rounded_size};

#[test]
fn sizes_round_up_to_pages_not_powers_of_two() {
    assert_eq!(rounded_size(1, false).unwrap(), 4096);
    assert_eq!(rounded_size(3 * 4096, false).unwrap(), 3 * 4096);
    assert_eq!(rounded_size(3 * 4096 + 1, false).unwrap(), 4 * 4096);
    assert_eq!(rounded_size(1, true).unwrap(), 2 << 20);
    let e = MirroredBuffer::new(0).unwrap_err();
    assert_eq!(e.kind(), iox::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("must be positive"));
    let huge = usize::MAX / 2;
    let e = MirroredBuffer::new(huge).unwrap_err();
    assert_eq!(e.size(), huge);
    let text = e.to_string();
    assert!(text.contains("exceeds the address space"), "{text}");
    assert!(
        text.contains(&huge.to_string()),
        "the size is in the message: {text}"
    );
    let io = std::io::Error::from(e);
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(io.to_string(), text);
    assert_eq!(MirroredBuffer::new(5 * 4096).unwrap().capacity(), 5 * 4096);
}

#[test]
fn a_message_across_the_wrap_is_one_slice() {
    for pages in [1usize, 3, 5] {
        let mut m = MirroredBuffer::new(pages * 4096).unwrap();
        let cap = m.capacity();
        // Fill all but 7 bytes, consume all but 3: the next claim starts 7 bytes before
        // the end of the first view and runs on into the second.
        m.claim(cap - 7).fill(0xaa);
        m.commit(cap - 7);
        m.consume(cap - 10);
        let msg: Vec<u8> = (0..100u8).collect();
        let room = m.claim(100);
        assert_eq!(room.len(), 100);
        room.copy_from_slice(&msg);
        assert_eq!(m.commit(100), 100);
        assert_eq!(&m.data()[..3], &[0xaa; 3]);
        assert_eq!(&m.data()[3..], &msg[..], "{pages} pages");
        // Consuming past the end wraps the head back to the start of the first view.
        m.consume(50);
        assert_eq!(m.data(), &msg[47..]);
        assert_eq!(m.free(), cap - 53);
    }
}

#[test]
fn options_map_and_unmap_cleanly() {
    testkit::in_subprocess(|| {
        let len = 3 * 4096;
        assert_eq!(mirror_mappings(len), 0);
        {
            let o = MirrorOptions {
                prefault: true,
                lock: true,
                dont_fork: true,
                huge_pages: false,
            };
            let mut m = MirroredBuffer::with_options(len, o).unwrap();
            m.claim(10).fill(1);
            m.commit(10);
            assert_eq!(m.data(), &[1; 10]);
            assert_eq!(
                mirror_mappings(len),
                2,
                "two views, no reservation left over"
            );
        }
        assert_eq!(
            mirror_mappings(len),
            0,
            "everything mapped was unmapped on drop"
        );
    });
}

#[test]
fn huge_pages_where_the_system_has_them() {
    testkit::in_subprocess(|| {
        let nr = |s: &str| s.trim().parse::<u64>().unwrap_or(0);
        let before = std::fs::read_to_string("/proc/sys/vm/nr_hugepages")
            .map(|s| nr(&s))
            .unwrap_or(0);
        let mut raised = false;
        // Only root can raise the pool; elsewhere the write fails and the test skips.
        if before < 2 {
            raised = std::fs::write("/proc/sys/vm/nr_hugepages", "2").is_ok();
        }
        let o = MirrorOptions {
            huge_pages: true,
            ..MirrorOptions::default()
        };
        match MirroredBuffer::with_options(1, o) {
            Ok(mut m) => {
                assert_eq!(m.capacity(), 2 << 20);
                m.claim(4).copy_from_slice(b"huge");
                m.commit(4);
                assert_eq!(m.data(), b"huge");
            }
            Err(e) => {
                if raised {
                    let _ = std::fs::write("/proc/sys/vm/nr_hugepages", before.to_string());
                }
                testkit::skip!("no huge pages for a mirrored buffer here ({e})");
            }
        }
        if raised {
            std::fs::write("/proc/sys/vm/nr_hugepages", before.to_string()).unwrap();
        }
    });
}

/// The descriptor behind the mapping is gone once the buffer exists: nothing leaks, and
/// nothing is inherited across exec.
#[test]
fn no_descriptor_outlives_construction() {
    testkit::in_subprocess(|| {
        let before = testkit::open_fds().unwrap();
        let m = MirroredBuffer::new(4096).unwrap();
        assert_eq!(testkit::open_fds().unwrap(), before);
        drop(m);
    });
}
