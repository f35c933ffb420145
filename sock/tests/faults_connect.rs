//! A dial whose SYNs vanish times out: inside a private network namespace, an address on
//! the veth's subnet whose neighbour entry is permanent and leads nowhere.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use sock::{ErrorKind, TcpDialer};

#[test]
fn a_dial_into_a_blackhole_times_out() {
    testkit::in_netns(|ns| {
        ns.add_permanent_neighbour(&ns.a, "10.77.0.99".parse().unwrap(), "02:00:00:00:00:99")
            .unwrap();
        let timeout = Duration::from_millis(300);
        let t = Instant::now();
        let e = TcpDialer {
            timeout: Some(timeout),
            ..Default::default()
        }
        .dial("10.77.0.99:9")
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert!(t.elapsed() >= timeout);
    });
}
