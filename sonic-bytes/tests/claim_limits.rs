//! A claim of any size, however absurd, returns at most what the buffer can give and never
//! panics or aborts (the `Fifo` contract: "at most `n`"). Before the fix
//! `ByteBuffer::claim(usize::MAX)` panicked with "capacity overflow" and `claim(1 << 40)`
//! aborted the process on the allocation.
//!
//! The growth policy: a claim grows a `ByteBuffer` by at most the larger of its size and
//! `CLAIM_GROWTH` (doubling when that is enough); `reserve` grows by any amount or returns
//! an error.
//!
//! Tests that grow a buffer by `CLAIM_GROWTH` (16 MiB, zeroed) do not run under Miri, where
//! zeroing it byte by byte takes minutes; `growth_steps` checks the same policy on small
//! sizes and runs there.

use std::io::Cursor;

use sonic_bytes::{ByteBuffer, CLAIM_GROWTH, Fifo};

/// Fills the buffer with `hello`, consumes `he`: a claim must leave `llo` as it is.
fn with_llo() -> ByteBuffer {
    let mut b = ByteBuffer::with_capacity(16);
    b.claim(5).copy_from_slice(b"hello");
    b.commit(5);
    b.consume(2);
    b
}

#[test]
#[cfg(not(miri))] // Zeroes 16 MiB.
fn claim_of_usize_max_gives_fewer_bytes_and_no_panic() {
    let mut b = with_llo();
    let got = b.claim(usize::MAX);
    // Compacted ("llo" at the start), then grown by CLAIM_GROWTH: all of that is free.
    assert_eq!(got.len(), 16 + CLAIM_GROWTH - 3);
    got[..3].copy_from_slice(b"abc");
    assert_eq!(b.commit(3), 3);
    assert_eq!(b.data(), b"lloabc");
    assert_eq!(b.capacity(), 16 + CLAIM_GROWTH);
}

/// Growth steps on small sizes: doubling when that covers the claim, exactly the claim
/// when it needs more than doubling (up to the step), never more than one step.
#[test]
fn growth_steps() {
    let mut b = with_llo();
    assert_eq!(b.claim(20).len(), 20, "3 held + 20 > 16: grows");
    b.commit(0);
    assert_eq!(b.capacity(), 32, "doubling covered it");
    assert_eq!(b.claim(1000).len(), 1000);
    b.commit(0);
    assert_eq!(
        b.capacity(),
        1003,
        "doubling did not: exactly what the claim needs"
    );
    assert_eq!(b.data(), b"llo");
    // A claim that fits after compaction does not grow.
    b.claim(1000).fill(7);
    b.commit(1000);
    b.consume(1000);
    assert_eq!(b.claim(1000).len(), 1000);
    b.commit(0);
    assert_eq!(b.capacity(), 1003);
    assert_eq!(b.data(), [7; 3]);
}

/// A buffer larger than `CLAIM_GROWTH` may still double in one claim.
#[test]
#[cfg(not(miri))] // Zeroes 40 MiB.
fn a_large_buffer_may_double_in_one_claim() {
    let mut b = ByteBuffer::with_capacity(20 << 20);
    b.claim(3).copy_from_slice(b"abc");
    b.commit(3);
    assert_eq!(b.claim(usize::MAX).len(), (40 << 20) - 3);
    b.commit(0);
    assert_eq!(b.capacity(), 40 << 20);
    assert_eq!(b.data(), b"abc");
}

#[test]
fn reserve_past_the_address_space_is_an_error() {
    let mut b = with_llo();
    for n in [usize::MAX, usize::MAX - 2, isize::MAX as usize] {
        let e = b.reserve(n).unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::InvalidInput, "reserve({n})");
        assert_eq!(
            e.to_string(),
            "invalid input: ByteBuffer size exceeds the address space"
        );
        assert_eq!(b.data(), b"llo", "the bytes held are unchanged");
    }
    // Still usable.
    b.reserve(100).unwrap();
    assert!(b.free() >= 100);
    assert_eq!(b.claim(100).len(), 100);
}

/// `write_pending` of a real slice grows as `reserve` does (without the claim's step).
#[test]
#[cfg(not(miri))] // Zeroes 20 MiB.
fn write_pending_grows_past_the_claim_step() {
    let mut b = with_llo();
    let big = vec![9u8; CLAIM_GROWTH + 1000];
    b.write_pending(&big).unwrap();
    assert_eq!(b.pending_len(), big.len());
    assert_eq!(b.commit_pending(usize::MAX), big.len());
    assert_eq!(b.len(), 3 + big.len());
    assert_eq!(&b.data()[..3], b"llo");
    assert!(b.data()[3..].iter().all(|&x| x == 9));
}

#[test]
#[cfg(not(miri))] // Zeroes 16 MiB.
fn read_from_with_usize_max_reads_what_there_is() {
    let mut b = with_llo();
    let n = b
        .read_from(&mut Cursor::new(&b" world"[..]), usize::MAX)
        .unwrap();
    assert_eq!(n, 6);
    assert_eq!(b.data(), b"llo world");
}

#[test]
#[cfg(not(miri))] // Zeroes 16 MiB.
fn write_area_of_usize_max_gives_fewer_bytes_and_no_panic() {
    let mut b = with_llo();
    let area = b.write_area(usize::MAX);
    assert_eq!(area.len(), 16 + CLAIM_GROWTH - 3);
    area[..2].copy_from_slice(b"!!");
    assert_eq!(b.advance_write(2), 2);
    assert_eq!(b.commit_pending(2), 2);
    assert_eq!(b.data(), b"llo!!");
}

/// Asking for a terabyte does not abort the process (run in a child process, so that an
/// abort fails this test instead of ending the test binary).
#[test]
#[cfg(not(miri))] // Miri cannot spawn the child process.
fn claim_of_a_terabyte_does_not_abort() {
    testkit::in_subprocess(|| {
        let mut b = with_llo();
        let len = b.claim(1 << 40).len();
        assert_eq!(len, 16 + CLAIM_GROWTH - 3, "one growth step");
        assert_eq!(b.commit(0), 0);
        assert_eq!(b.data(), b"llo");
        // Each call grows by one more step: the buffer now holds more than CLAIM_GROWTH,
        // so this one doubles it.
        let len = b.write_area(1 << 40).len();
        assert_eq!(len, 2 * (16 + CLAIM_GROWTH) - 3);
        assert_eq!(b.data(), b"llo");
    });
}

/// How much address space the process has mapped, from `/proc/self/status`.
#[cfg(all(target_os = "linux", not(miri)))]
fn vm_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// With the address space limited (RLIMIT_AS, in a child process), growth the allocator
/// refuses is an error from `reserve` and fewer bytes from a claim: no abort, nothing lost.
#[test]
#[cfg(all(target_os = "linux", not(miri)))]
fn growth_the_allocator_refuses_is_an_error_or_fewer_bytes() {
    testkit::in_subprocess(|| {
        if std::env::var_os("ASAN_OPTIONS").is_some() {
            testkit::skip!(
                "AddressSanitizer's allocator aborts on a refused allocation \
                 (allocator_may_return_null=0), so refusal cannot be tested under it"
            );
        }
        const MIB: usize = 1 << 20;
        let limit = (vm_size() + 256 * MIB) as libc::rlim_t;
        let lim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: `lim` is a valid rlimit, read by the kernel during the call.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
        if Vec::<u8>::new().try_reserve_exact(512 * MIB).is_ok() {
            testkit::skip!("RLIMIT_AS is not enforced here (qemu-user ignores it)");
        }

        let mut b = with_llo();
        let e = b.reserve(1 << 40).unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::OutOfMemory);
        assert_eq!(
            e.to_string(),
            "out of memory: ByteBuffer cannot grow: the allocator refused"
        );
        assert_eq!(b.data(), b"llo", "the bytes held are unchanged");
        assert_eq!(b.capacity(), 16);

        // 160 MiB fit; doubling them does not.
        let mut big = ByteBuffer::with_capacity(160 * MIB);
        big.claim(3).copy_from_slice(b"big");
        big.commit(3);
        let got = big.claim(usize::MAX).len();
        assert_eq!(
            got,
            160 * MIB - 3,
            "the doubling was refused: the free space"
        );
        big.commit(0);
        assert_eq!(big.capacity(), 160 * MIB);
        // Doubling is refused, but 8 MiB more than it has can be had.
        let got = big.claim(168 * MIB - 3).len();
        assert_eq!(got, 168 * MIB - 3, "exactly what the claim needs");
        big.commit(0);
        assert_eq!(big.capacity(), 168 * MIB);
        assert_eq!(big.data(), b"big");
        let e = big.reserve(400 * MIB).unwrap_err();
        assert_eq!(e.kind(), iox::ErrorKind::OutOfMemory);
        assert_eq!(big.data(), b"big");
    });
}
