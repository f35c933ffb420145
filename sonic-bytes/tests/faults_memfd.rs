//! Fault: `memfd_create` is unavailable (an old kernel, or a seccomp sandbox that refuses
//! it), forced here with a seccomp filter in a child process that answers it with ENOSYS.
//!
//! What the user sees: `MirroredBuffer::new` has no fallback on Linux; it fails with
//! `Unsupported`, the errno, the size asked for and the call that failed in the message, and
//! leaves no descriptor and no mapping behind. Built with `--cfg sonic_bytes_shm` (the
//! macOS/FreeBSD mapping, also run on Linux by `cargo xtask ci`) it does not need memfd and
//! works under the same filter.
#![cfg(all(target_os = "linux", not(miri)))]

mod maps;
use maps::mirror_mappings;

use sonic_bytes::{BipBuffer, ByteBuffer, Fifo, MirroredBuffer};

#[test]
fn a_mirrored_buffer_without_memfd_fails_clearly_and_leaks_nothing() {
    testkit::skip_unless_behaviour!("seccomp");
    testkit::in_subprocess(|| {
        let fds = testkit::open_fds().unwrap();
        testkit::fail_syscall(libc::SYS_memfd_create, libc::ENOSYS).unwrap();
        let probe = iofd::MemFd::new("probe").unwrap_err();
        assert_eq!(
            probe.errno(),
            Some(zcall::Errno::ENOSYS),
            "the filter is in force"
        );

        let size = 3 * 4096;
        let made = MirroredBuffer::new(size);
        #[cfg(not(sonic_bytes_shm))]
        {
            let e = made.unwrap_err();
            assert_eq!(e.kind(), iox::ErrorKind::Unsupported);
            assert_eq!(e.error().errno(), Some(zcall::Errno::ENOSYS));
            assert_eq!(e.size(), size);
            assert_eq!(
                e.to_string(),
                "mirrored buffer of 12288 bytes: unsupported: memfd_create for the mirrored \
                 buffer (ENOSYS)"
            );
        }
        #[cfg(sonic_bytes_shm)]
        {
            let mut m = made.expect("the shm_open mapping needs no memfd");
            m.claim(4).copy_from_slice(b"shm!");
            m.commit(4);
            assert_eq!(m.data(), b"shm!");
        }
        assert_eq!(testkit::open_fds().unwrap(), fds, "no descriptor left open");
        assert_eq!(mirror_mappings(size), 0, "nothing left mapped");

        // The buffers that need no memory object still work: the caller's fallback.
        let mut b = ByteBuffer::with_capacity(size);
        b.claim(5).copy_from_slice(b"bytes");
        b.commit(5);
        assert_eq!(b.data(), b"bytes");
        let mut bip = BipBuffer::new(size);
        bip.claim(3).copy_from_slice(b"bip");
        bip.commit(3);
        assert_eq!(bip.data(), b"bip");
    });
}
