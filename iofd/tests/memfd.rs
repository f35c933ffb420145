//! MemFd against the real kernel: sizes, seals, positioned I/O, names, huge pages.
#![cfg(target_os = "linux")]

use iofd::{MEMFD_NAME_MAX, MemFd, Seals};
use iox::ErrorKind;

#[test]
fn size_read_write_and_seals() {
    let m = MemFd::sealable("iofd-test").unwrap();
    assert_eq!(m.size().unwrap(), 0);
    assert_eq!(m.write_at(b"hello", 10).unwrap(), 5);
    assert_eq!(m.size().unwrap(), 15);
    let mut b = [0u8; 5];
    assert_eq!(m.read_at(&mut b, 10).unwrap(), 5);
    assert_eq!(&b, b"hello");
    m.truncate(4).unwrap();
    assert_eq!(m.size().unwrap(), 4);
    assert!(m.seals().unwrap().is_empty());
    m.seal(Seals::SHRINK | Seals::GROW).unwrap();
    assert_eq!(m.seals().unwrap(), Seals::SHRINK | Seals::GROW);
    assert_eq!(
        m.truncate(8).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        m.truncate(2).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    m.seal(Seals::SEAL).unwrap();
    assert_eq!(
        m.seal(Seals::WRITE).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn plain_memfds_refuse_seals() {
    let m = MemFd::new("plain").unwrap();
    assert!(m.as_fd_ref().is_cloexec().unwrap());
    assert_eq!(
        m.seal(Seals::GROW).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        m.seals().unwrap(),
        Seals::SEAL,
        "a memfd without ALLOW_SEALING is born sealed"
    );
}

#[test]
fn names_are_checked_before_the_kernel() {
    let long = "x".repeat(MEMFD_NAME_MAX);
    MemFd::new(&long).unwrap();
    MemFd::new("").unwrap();
    let e = MemFd::new(&"x".repeat(MEMFD_NAME_MAX + 1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("exceeds 249 bytes"), "{e}");
    assert_eq!(
        MemFd::new("a\0b").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

fn nr_hugepages() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/nr_hugepages")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[test]
fn huge_page_memfd() {
    testkit::in_subprocess(|| {
        let before = nr_hugepages().unwrap_or(0);
        let mut raised = false;
        // SAFETY: geteuid cannot fail.
        if before == 0 && unsafe { libc::geteuid() } == 0 {
            raised = std::fs::write("/proc/sys/vm/nr_hugepages", "2").is_ok()
                && nr_hugepages().unwrap_or(0) > 0;
        }
        if nr_hugepages().unwrap_or(0) == 0 {
            testkit::skip!(
                "no huge pages on this system (vm.nr_hugepages = 0, and not root to raise it)"
            );
        }
        let m = match MemFd::huge_pages("iofd-huge") {
            Ok(m) => m,
            Err(e) => testkit::skip!("memfd_create(MFD_HUGETLB) refused here: {e}"),
        };
        let huge = 2 * 1024 * 1024;
        m.truncate(huge).unwrap();
        assert_eq!(m.size().unwrap(), huge);
        drop(m);
        if raised {
            std::fs::write("/proc/sys/vm/nr_hugepages", before.to_string()).unwrap();
        }
    });
}
