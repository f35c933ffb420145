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

/// The 2 MiB huge-page pool (`/sys/kernel/mm/hugepages/hugepages-2048kB`).
const HUGE_POOL: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";

fn pool_count(file: &str) -> u64 {
    let path = format!("{HUGE_POOL}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.trim().parse().unwrap()
}

/// Free 2 MiB huge pages that no mapping has reserved yet.
fn available_huge_pages() -> u64 {
    pool_count("free_hugepages").saturating_sub(pool_count("resv_hugepages"))
}

/// Puts the pool's size back when dropped, if it was raised (also when the test fails).
struct PoolRestore(Option<u64>);

impl Drop for PoolRestore {
    fn drop(&mut self) {
        if let Some(before) = self.0 {
            let _ = std::fs::write(format!("{HUGE_POOL}/nr_hugepages"), before.to_string());
        }
    }
}

/// The mappings of the mirrored buffer's memory object and each one's kernel page size, in
/// KiB (from `/proc/self/smaps`).
fn mirror_page_sizes() -> Vec<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut sizes = Vec::new();
    let mut in_mirror = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header line: `start-end perms offset dev inode [path]`.
            in_mirror = line.contains("sonic-bytes-mirror");
        } else if in_mirror && let Some(kib) = line.strip_prefix("KernelPageSize:") {
            sizes.push(kib.trim().trim_end_matches("kB").trim().parse().unwrap());
        }
    }
    sizes
}

/// Where 2 MiB huge pages can be had, a huge-page buffer must work: it is made (with
/// and without the other options), its reservation is 2 MiB aligned (a `MAP_FIXED` hugetlb
/// view needs that), both views are backed by 2 MiB pages, and a message across the wrap
/// is one slice. As root the test raises the pool to have the pages it needs (and puts it
/// back). It skips, saying why, only where no huge page can be had: a kernel without 2 MiB
/// huge pages, no free one and no right to add one, or a kernel that found no contiguous
/// memory for one.
#[test]
#[cfg(not(sonic_bytes_shm))]
fn huge_page_buffers_where_the_system_has_them() {
    testkit::in_subprocess(|| {
        const HUGE: usize = 2 << 20;
        /// Two buffers of one huge page each.
        const NEED: u64 = 2;
        if !std::path::Path::new(HUGE_POOL).exists() {
            testkit::skip!("this kernel has no 2 MiB huge pages ({HUGE_POOL} is missing)");
        }
        let mut restore = PoolRestore(None);
        let have = available_huge_pages();
        if have < NEED {
            let before = pool_count("nr_hugepages");
            let want = before + (NEED - have);
            if let Err(e) = std::fs::write(format!("{HUGE_POOL}/nr_hugepages"), want.to_string()) {
                testkit::skip!(
                    "{have} free 2 MiB huge pages, {NEED} needed, and the pool cannot be \
                     raised here ({e}; it takes root)"
                );
            }
            restore.0 = Some(before);
            let now = available_huge_pages();
            if now < NEED {
                testkit::skip!(
                    "the kernel found contiguous memory for only {now} of {NEED} 2 MiB huge \
                     pages (memory too fragmented)"
                );
            }
        }

        let plain = MirrorOptions {
            huge_pages: true,
            ..MirrorOptions::default()
        };
        let all = MirrorOptions {
            huge_pages: true,
            prefault: true,
            lock: true,
            dont_fork: true,
        };
        let mut buffers = Vec::new();
        for o in [plain, all] {
            let mut m = MirroredBuffer::with_options(1, o)
                .unwrap_or_else(|e| panic!("{NEED} huge pages are free, yet {o:?}: {e}"));
            assert_eq!(m.capacity(), HUGE);
            let at = m.claim(4).as_ptr() as usize;
            assert_eq!(at % HUGE, 0, "the reservation is 2 MiB aligned ({at:#x})");
            // A message across the wrap: one slice, through both views.
            m.claim(HUGE - 2).fill(1);
            m.commit(HUGE - 2);
            m.consume(HUGE - 4);
            m.claim(6).copy_from_slice(b"huge!!");
            assert_eq!(m.commit(6), 6);
            assert_eq!(m.data(), b"\x01\x01huge!!");
            buffers.push(m);
        }
        assert_eq!(
            mirror_page_sizes(),
            [2048; 4],
            "two views of each buffer, all on 2 MiB pages"
        );
        drop(buffers);
        assert_eq!(mirror_mappings(HUGE), 0, "everything was unmapped on drop");
    });
}

/// The `shm_open` mapping (macOS, FreeBSD) has no huge pages: a clear `Unsupported`.
#[test]
#[cfg(sonic_bytes_shm)]
fn huge_pages_are_unsupported_by_the_shm_mapping() {
    let o = MirrorOptions {
        huge_pages: true,
        ..MirrorOptions::default()
    };
    let e = MirroredBuffer::with_options(1, o).unwrap_err();
    assert_eq!(e.kind(), iox::ErrorKind::Unsupported);
    assert!(e.to_string().contains("Linux-only"), "{e}");
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
