//! in_subprocess isolates process-wide changes and reports the child's failure.

fn nofile_limit() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0);
    lim
}

#[test]
fn rlimit_change_stays_in_the_child() {
    let before = nofile_limit();
    testkit::in_subprocess(|| {
        assert!(testkit::is_subprocess());
        let lim = libc::rlimit {
            rlim_cur: 32,
            rlim_max: before.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        assert_eq!(rc, 0);
        assert_eq!(nofile_limit().rlim_cur, 32);
    });
    // Only the parent gets here, with its limit untouched.
    assert!(!testkit::is_subprocess());
    assert_eq!(nofile_limit().rlim_cur, before.rlim_cur);
}

#[test]
fn helper_fails_in_a_subprocess() {
    // Passes when run directly; fails when a parent runs it as its subprocess.
    if testkit::is_subprocess() {
        panic!("deliberate failure in the child");
    }
}

#[test]
#[should_panic(expected = "failed")]
fn a_failing_child_fails_the_parent() {
    if testkit::is_subprocess() {
        return;
    }
    testkit::in_subprocess_named("helper_fails_in_a_subprocess", || unreachable!());
}

#[test]
#[should_panic(expected = "ran no test")]
fn a_child_that_runs_no_test_fails_the_parent() {
    if testkit::is_subprocess() {
        return;
    }
    testkit::in_subprocess_named("no_such_test_in_this_binary", || unreachable!());
}

#[test]
fn open_fds_sees_a_new_descriptor() {
    testkit::in_subprocess(|| {
        let before = testkit::open_fds().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(testkit::open_fds().unwrap(), before + 1);
        drop(f);
        assert_eq!(testkit::open_fds().unwrap(), before);
    });
}

#[test]
fn loopback_pairs_carry_bytes() {
    use std::io::{Read, Write};
    let (mut c, mut s) = testkit::tcp_pair().unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let (a, b) = testkit::udp_pair().unwrap();
    a.send(b"dgram").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(b.recv(&mut buf).unwrap(), 5);
}

#[test]
fn helper_hangs_in_a_subprocess() {
    // Returns at once when run directly; as a parent's subprocess it waits for a message
    // that never comes, far past the parent's limit (bounded all the same, should the
    // watchdog ever miss it).
    if testkit::is_subprocess() {
        let (_never, rx) = std::sync::mpsc::channel::<()>();
        let _ = rx.recv_timeout(std::time::Duration::from_secs(60));
    }
}

#[test]
#[should_panic(expected = "was killed")]
fn a_hanging_child_is_killed_and_fails_the_parent() {
    if testkit::is_subprocess() {
        return;
    }
    testkit::in_subprocess_named_within(
        "helper_hangs_in_a_subprocess",
        std::time::Duration::from_secs(1),
        || unreachable!(),
    );
}

/// Under a runner (qemu-user), a child that prints nothing (a fork that deadlocked before
/// exec) is killed and started again. Here the runner is a script that stalls silently the
/// first time and runs the test binary the second: the helper test must pass, after one
/// restart said on stderr.
#[test]
#[cfg(target_os = "linux")]
fn a_child_that_never_starts_under_a_runner_is_started_again() {
    if testkit::is_subprocess() || std::env::var_os("TESTKIT_RUNNER").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("testkit-runner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("stalled-once");
    let script = dir.join("runner.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e {m} ]; then exec \"$@\"; fi\ntouch {m}\nexec sleep 3600\n",
            m = marker.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_runs_through_a_runner_that_stalls_once",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TESTKIT_RUNNER", format!("sh {}", script.display()))
        .env("TESTKIT_SUBPROCESS_START_SECS", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert_eq!(
        stderr.matches("starting it again").count(),
        1,
        "one restart: {stderr}"
    );
}

/// Run by the test above with its stalling runner.
#[test]
fn helper_runs_through_a_runner_that_stalls_once() {
    if std::env::var_os("TESTKIT_SUBPROCESS_START_SECS").is_none() {
        return;
    }
    testkit::in_subprocess(|| {});
}
