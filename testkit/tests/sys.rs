//! The process-wide fault helpers work in a child process and refuse the shared one.

#[test]
fn process_wide_helpers_refuse_the_shared_process() {
    assert!(!testkit::is_subprocess());
    let r = std::panic::catch_unwind(|| testkit::set_open_files_limit(3));
    assert!(
        r.is_err(),
        "a lower limit here would break every other test"
    );
    assert!(std::panic::catch_unwind(testkit::default_sigpipe).is_err());
}

#[test]
fn a_lower_descriptor_limit_gives_emfile() {
    testkit::in_subprocess(|| {
        let open = testkit::open_fds().unwrap() as u64;
        let old = testkit::set_open_files_limit(open + 4).unwrap();
        let mut files = Vec::new();
        let e = (0..64)
            .find_map(|_| match std::fs::File::open("/dev/null") {
                Ok(f) => {
                    files.push(f);
                    None
                }
                Err(e) => Some(e),
            })
            .expect("EMFILE within 64 descriptors");
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
        drop(files);
        assert_eq!(testkit::set_open_files_limit(old).unwrap(), open + 4);
    });
}

#[test]
#[cfg(target_os = "linux")]
fn a_seccomp_filter_fails_one_call_only() {
    testkit::skip_unless_behaviour!("seccomp");
    testkit::in_subprocess(|| {
        testkit::fail_syscall(libc::SYS_socket, libc::EACCES).unwrap();
        let e = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
        assert!(
            std::fs::File::open("/dev/null").is_ok(),
            "other calls go on"
        );
    });
}

/// `io_uring_setup(8, &params)` with zeroed 120-byte `io_uring_params`; the ring's
/// descriptor is closed.
#[cfg(target_os = "linux")]
fn io_uring_setup() -> std::io::Result<()> {
    // 8-byte aligned, as the struct's u64 fields need.
    let mut params = [0u64; 15];
    // SAFETY: `params` is a writable, zeroed `struct io_uring_params` (120 bytes), alive for
    // the call; the kernel fills in the offsets it maps.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 8u32, params.as_mut_ptr()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is the ring's descriptor, owned here and closed once.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

#[test]
#[cfg(target_os = "linux")]
fn a_seccomp_filter_refuses_io_uring_setup_with_eperm() {
    testkit::skip_unless_behaviour!("seccomp");
    testkit::in_subprocess(|| {
        // A thread started before the filter takes it too (SECCOMP_FILTER_FLAG_TSYNC).
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let earlier = std::thread::spawn(move || {
            wait.recv().unwrap();
            io_uring_setup()
        });
        testkit::refuse_syscalls(
            &[libc::SYS_io_uring_setup, libc::SYS_io_uring_enter],
            libc::EPERM,
        )
        .unwrap();
        let e = io_uring_setup().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        go.send(()).unwrap();
        let e = earlier.join().unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "the earlier thread");
        let e = std::thread::spawn(io_uring_setup)
            .join()
            .unwrap()
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "a later thread");
        assert!(
            std::fs::File::open("/dev/null").is_ok(),
            "other calls go on"
        );
    });
}

#[test]
#[cfg(target_os = "linux")]
fn io_uring_setup_succeeds_without_a_filter() {
    testkit::skip_unless_syscall!("io_uring_setup");
    testkit::in_subprocess(|| match io_uring_setup() {
        Ok(()) => {}
        Err(e) => {
            // Refused by the administrator (0 allows every process, 1 members of
            // io_uring_group, 2 none): nothing to compare the filter against.
            let disabled =
                std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
            if !matches!(disabled.trim(), "" | "0") {
                testkit::skip!(
                    "io_uring_setup fails ({e}): kernel.io_uring_disabled = {}",
                    disabled.trim()
                );
            }
            panic!("io_uring_setup fails without a filter: {e}");
        }
    });
}

#[test]
fn exhausting_descriptors_leaves_none_and_no_fd_leak_sees_a_leak() {
    testkit::in_subprocess(|| {
        testkit::no_fd_leak(|| {
            let (fillers, old) = testkit::exhaust_descriptors(4).unwrap();
            // The limit bounds descriptor numbers: free numbers below it are taken too.
            assert!(
                fillers.len() >= 4,
                "the headroom, filled: {}",
                fillers.len()
            );
            let e = std::fs::File::open("/dev/null").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
            drop(fillers);
            testkit::set_open_files_limit(old).unwrap();
        });
        let leaked = std::panic::catch_unwind(|| {
            testkit::no_fd_leak(|| std::mem::forget(std::fs::File::open("/dev/null").unwrap()))
        });
        assert!(leaked.is_err(), "a descriptor left open is reported");
    });
}
