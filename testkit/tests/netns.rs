//! in_netns: a private namespace whose veth pair carries IPv4 and IPv6 multicast.
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

fn setsockopt<T>(s: &UdpSocket, level: i32, name: i32, value: &T) {
    // SAFETY: `value` is a live `T` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt({level}, {name}): {}",
        std::io::Error::last_os_error()
    );
}

fn receive(rx: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = rx
        .recv_from(&mut buf)
        .expect("the datagram crossed the veth pair");
    (buf[..n].to_vec(), from)
}

#[test]
fn ipv4_multicast_crosses_the_veth_pair() {
    testkit::in_netns(|ns| {
        let group = Ipv4Addr::new(239, 77, 0, 1);
        let rx = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = rx.local_addr().unwrap().port();
        // Joined on veth1 only.
        rx.join_multicast_v4(&group, &ns.b.ipv4).unwrap();

        let tx = UdpSocket::bind((ns.a.ipv4, 0)).unwrap();
        tx.set_multicast_loop_v4(false).unwrap();
        let ifaddr = libc::in_addr {
            s_addr: u32::from(ns.a.ipv4).to_be(),
        };
        setsockopt(&tx, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &ifaddr);
        tx.send_to(b"v4 across", (group, port)).unwrap();

        let (data, from) = receive(&rx);
        assert_eq!(data, b"v4 across");
        assert_eq!(from.ip(), ns.a.ipv4);
    });
}

#[test]
fn ipv6_multicast_crosses_the_veth_pair() {
    testkit::in_netns(|ns| {
        let group: Ipv6Addr = "ff15::77".parse().unwrap();
        let rx = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).unwrap();
        let port = rx.local_addr().unwrap().port();
        rx.join_multicast_v6(&group, ns.b.index).unwrap();

        let tx = UdpSocket::bind((ns.a.ipv6, 0)).unwrap();
        tx.set_multicast_loop_v6(false).unwrap();
        setsockopt(
            &tx,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_IF,
            &(ns.a.index as libc::c_int),
        );
        tx.send_to(b"v6 across", (group, port)).unwrap();

        let (data, from) = receive(&rx);
        assert_eq!(data, b"v6 across");
        assert_eq!(from.ip(), ns.a.ipv6);
    });
}

#[test]
fn namespace_has_only_lo_and_the_pair() {
    testkit::in_netns(|ns| {
        let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        // /sys reflects the namespace that mounted it, so fall back to if_nametoindex.
        if names.is_empty() || !names.contains(&"veth0".to_owned()) {
            assert!(ns.a.index > 0 && ns.b.index > 0 && ns.a.index != ns.b.index);
        } else {
            assert_eq!(names, ["lo", "veth0", "veth1"]);
        }
        ns.add_permanent_neighbour(&ns.a, "10.77.0.99".parse().unwrap(), "02:00:00:00:00:99")
            .unwrap();
        ns.tc(&[
            "qdisc", "add", "dev", "veth0", "root", "tbf", "rate", "8kbit", "burst", "1540",
            "limit", "1",
        ])
        .unwrap();
    });
}
