//! The hot paths allocate nothing: measured with testkit's per-thread counting allocator.
#![cfg(target_os = "linux")]

use std::time::Duration;

use iofd::{ClockId, EventFd, Fd, SigSet, SignalFd, TimerFd};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

#[test]
fn fd_read_write() {
    let [r, w] = Fd::pipe().unwrap();
    let mut buf = [0u8; 64];
    testkit::assert_no_alloc_reported("Fd::write + Fd::read (a pipe, 7 bytes)", 1000, || {
        for _ in 0..1000 {
            w.write(b"payload").unwrap();
            r.read(&mut buf).unwrap();
        }
        assert!(r.read(&mut buf).unwrap_err().is_would_block());
    });
}

#[test]
fn eventfd_signal_wait_value() {
    let ev = EventFd::new(0).unwrap();
    testkit::assert_no_alloc_reported("EventFd::signal + EventFd::wait", 1000, || {
        for i in 1..1000u64 {
            ev.signal(i).unwrap();
            assert_eq!(ev.wait().unwrap(), i);
        }
        ev.signal(5).unwrap();
        assert_eq!(ev.value().unwrap(), 5);
    });
}

#[test]
fn timerfd_arm_expirations() {
    let t = TimerFd::new(ClockId::Monotonic).unwrap();
    testkit::assert_no_alloc_reported("TimerFd::arm + TimerFd::expirations", 1001, || {
        for _ in 0..1000 {
            t.arm(Duration::from_secs(60), Duration::ZERO).unwrap();
            assert!(t.expirations().unwrap_err().is_would_block());
        }
        t.arm(Duration::ZERO, Duration::ZERO).unwrap();
        let mut fired = 0;
        // Bounded busy wait on the kernel (the timer is due immediately).
        for _ in 0..10_000_000 {
            if let Ok(n) = t.expirations() {
                fired = n;
                break;
            }
            std::hint::spin_loop();
        }
        assert_eq!(fired, 1);
    });
}

#[test]
fn signalfd_read() {
    testkit::skip_unless_behaviour!("self-directed signals");
    testkit::in_subprocess(|| {
        let set = SigSet::of(&[libc::SIGUSR2]).unwrap();
        set.block_thread().unwrap();
        let sfd = SignalFd::new(set).unwrap();
        let (pid, tid) = (zcall::getpid(), zcall::gettid());
        testkit::assert_no_alloc_reported("SignalFd::read of a queued signal", 100, || {
            for _ in 0..100 {
                zcall::tgkill(pid, tid, libc::SIGUSR2).unwrap();
                assert_eq!(sfd.read().unwrap().signo(), libc::SIGUSR2 as u32);
            }
        });
    });
}
