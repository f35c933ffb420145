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
