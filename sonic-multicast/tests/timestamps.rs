//! Kernel timestamps through the multicast peer, across the veth pair of a private network
//! namespace (`testkit::in_netns`; nothing leaves it): each datagram of a group read with
//! `async_read_timestamped` or a batch read into `Datagrams::with_timestamps` carries the
//! time the kernel received it, between a `CLOCK_REALTIME` read before the send and one in
//! the callback (ordering only); the sender's transmit stamps come back numbered by
//! `OPT_ID`; stamps off give `None`; the stamped reads allocate nothing.
#![cfg(target_os = "linux")]

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sock::SockaddrAny;
use sock::timestamp::{self, TimestampFlags, TxPoint};
use sonic_io::{Datagrams, Io, Timestamp};
use sonic_multicast::{Iface, UdpPeer};
use testkit::NetNs;

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);
const BOUND: Duration = Duration::from_secs(10);

struct Setup {
    io: Io,
    tx: UdpPeer,
    rx: UdpPeer,
    to: SockaddrAny,
}

fn setup(ns: &NetNs, stamps: bool) -> Setup {
    let mut io = Io::new().unwrap();
    let rx = UdpPeer::bind(&mut io, "0.0.0.0:0").unwrap();
    rx.join_on(&mut io, GROUP.into(), Iface::Index(ns.b.index))
        .unwrap();
    if stamps {
        rx.set_rx_timestamps(&mut io, true).unwrap();
        assert_eq!(rx.timestamping(&io).unwrap(), timestamp::RX_SOFTWARE);
    }
    let tx = UdpPeer::bind(
        &mut io,
        SockaddrAny::from(SocketAddr::new(IpAddr::V4(ns.a.ipv4), 0)),
    )
    .unwrap();
    tx.set_outbound(&mut io, Iface::Index(ns.a.index)).unwrap();
    tx.set_loop(&mut io, false).unwrap();
    let to = SockaddrAny::from(SocketAddr::new(GROUP.into(), rx.local_addr().port()));
    let mut s = Setup { io, tx, rx, to };
    if stamps {
        // The kernel turns stamps on system-wide from a work queue when the first socket
        // asks: the first datagrams may come unstamped.
        let give_up = Instant::now() + BOUND;
        while one(&mut s, b"warm").1.is_none() {
            assert!(Instant::now() < give_up, "no datagram was ever stamped");
        }
    }
    s
}

/// One datagram to the group, read with `async_read_timestamped`: its bytes, its stamp,
/// the clock before the send and in the callback.
fn one(s: &mut Setup, payload: &[u8]) -> (Vec<u8>, Option<Timestamp>, Timestamp, Timestamp) {
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let before = Timestamp::now();
    s.tx.write_to(&s.io, payload, &s.to).unwrap();
    s.rx.async_read_timestamped(&mut s.io, vec![0u8; 256], move |_, r, buf| {
        let (n, _from, stamp) = r.unwrap();
        *g.borrow_mut() = Some((buf[..n].to_vec(), stamp, Timestamp::now()));
    })
    .unwrap();
    let give_up = Instant::now() + BOUND;
    while got.borrow().is_none() {
        assert!(Instant::now() < give_up, "no datagram");
        s.io.run_one_for(Duration::from_millis(100)).unwrap();
    }
    let (bytes, stamp, after) = got.borrow_mut().take().unwrap();
    (bytes, stamp, before, after)
}

#[test]
fn each_group_datagram_is_stamped_between_its_send_and_its_callback() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    testkit::in_netns(|ns| {
        let mut s = setup(ns, true);
        let mut last = Timestamp::default();
        for i in 0..32u32 {
            let (bytes, stamp, before, after) = one(&mut s, &i.to_ne_bytes());
            assert_eq!(bytes, i.to_ne_bytes());
            let t = stamp.unwrap_or_else(|| panic!("datagram {i} unstamped"));
            assert!(before <= t && t <= after, "datagram {i}");
            assert!(t >= last);
            last = t;
        }
        println!("ran in a private network namespace across veth0/veth1");
    });
}

#[test]
fn batch_reads_of_a_group_give_each_datagram_its_own_stamp() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    testkit::in_netns(|ns| {
        let mut s = setup(ns, true);
        const N: usize = 24;
        let mut sent_at = Vec::new();
        for i in 0..N {
            sent_at.push(Timestamp::now());
            s.tx.write_to(&s.io, &[i as u8; 16], &s.to).unwrap();
        }
        let taken = Rc::new(RefCell::new(Vec::new()));
        let slots = Rc::new(Cell::new(Some(Datagrams::with_timestamps(64, 256))));
        let give_up = Instant::now() + BOUND;
        while taken.borrow().len() < N {
            assert!(Instant::now() < give_up, "{} of {N}", taken.borrow().len());
            let (t, back) = (taken.clone(), slots.clone());
            s.rx.async_read_batch(&mut s.io, slots.take().unwrap(), move |_, r, b| {
                r.unwrap();
                let after = Timestamp::now();
                for d in b.iter() {
                    t.borrow_mut().push((d.bytes()[0], d.timestamp(), after));
                }
                back.set(Some(b));
            })
            .unwrap();
            while slots.take().map(|b| slots.set(Some(b))).is_none() {
                s.io.run_one_for(Duration::from_millis(100)).unwrap();
            }
        }
        let mut last = Timestamp::default();
        for (i, (first, stamp, after)) in taken.borrow().iter().enumerate() {
            assert_eq!(*first as usize, i);
            let t = stamp.unwrap_or_else(|| panic!("datagram {i} unstamped"));
            assert!(sent_at[i] <= t && t <= *after, "datagram {i}");
            assert!(t >= last);
            last = t;
        }
    });
}

#[test]
fn stamps_off_give_none() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    testkit::in_netns(|ns| {
        let mut s = setup(ns, false);
        for _ in 0..4 {
            let (bytes, stamp, _, _) = one(&mut s, b"plain");
            assert_eq!((bytes.as_slice(), stamp), (&b"plain"[..], None));
        }
        s.rx.set_rx_timestamps(&mut s.io, false).unwrap();
        assert_eq!(s.rx.timestamping(&s.io).unwrap(), TimestampFlags::empty());
    });
}

#[test]
fn the_senders_tx_stamps_come_back_numbered_by_opt_id() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    testkit::in_netns(|ns| {
        let mut s = setup(ns, false);
        s.tx.set_timestamping(&mut s.io, timestamp::TX_SOFTWARE)
            .unwrap();
        const N: u32 = 10;
        let mut before = Vec::new();
        for i in 0..N {
            before.push(Timestamp::now());
            let (bytes, _, _, _) = one(&mut s, &i.to_ne_bytes());
            assert_eq!(bytes, i.to_ne_bytes());
        }
        let give_up = Instant::now() + BOUND;
        let mut stamps = Vec::new();
        while stamps.len() < N as usize {
            match s.tx.read_tx_timestamp(&s.io) {
                Ok(t) => stamps.push(t),
                Err(e) if e.is_would_block() && Instant::now() < give_up => {
                    std::thread::yield_now()
                }
                Err(e) => panic!("{e} after {} stamps", stamps.len()),
            }
        }
        for (i, t) in stamps.iter().enumerate() {
            assert_eq!((t.id, t.point), (i as u32, TxPoint::Sent));
            let sw = t.software.expect("a software stamp");
            assert!(before[i] <= sw && sw <= Timestamp::now());
        }
        assert!(s.tx.read_tx_timestamp(&s.io).unwrap_err().is_would_block());
    });
}

/// 500 stamped single reads and 100 stamped batch reads of 8, buffers handed back by each
/// callback: no allocation.
#[test]
fn stamped_peer_reads_allocate_nothing() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    testkit::in_netns(|ns| {
        let mut s = setup(ns, true);
        let buf = Rc::new(Cell::new(Some(vec![0u8; 256])));
        let stamped = Rc::new(Cell::new(0usize));
        let single = |s: &mut Setup| {
            s.tx.write_to(&s.io, b"0123456789", &s.to).unwrap();
            let (back, st) = (buf.clone(), stamped.clone());
            s.rx.async_read_timestamped(&mut s.io, buf.take().unwrap(), move |_, r, b| {
                st.set(st.get() + usize::from(r.unwrap().2.is_some()));
                back.set(Some(b));
            })
            .unwrap();
            while buf.take().map(|b| buf.set(Some(b))).is_none() {
                s.io.run_one().unwrap();
            }
        };
        single(&mut s);
        let (_, stats) = testkit::count_allocs(|| {
            for _ in 0..500 {
                single(&mut s);
            }
        });
        assert_eq!(stats.allocs, 0, "{stats:?}");
        let slots = Rc::new(Cell::new(Some(Datagrams::with_timestamps(8, 256))));
        let batch = |s: &mut Setup| {
            for _ in 0..8 {
                s.tx.write_to(&s.io, b"0123456789", &s.to).unwrap();
            }
            let (back, st) = (slots.clone(), stamped.clone());
            s.rx.async_read_batch(&mut s.io, slots.take().unwrap(), move |_, r, b| {
                r.unwrap();
                st.set(st.get() + b.iter().filter(|d| d.timestamp().is_some()).count());
                back.set(Some(b));
            })
            .unwrap();
            while slots.take().map(|b| slots.set(Some(b))).is_none() {
                s.io.run_one().unwrap();
            }
        };
        batch(&mut s);
        let (_, stats) = testkit::count_allocs(|| {
            for _ in 0..100 {
                batch(&mut s);
            }
        });
        assert_eq!(stats.allocs, 0, "{stats:?}");
        assert!(
            stamped.get() >= 501 + 8,
            "stamps arrived: {}",
            stamped.get()
        );
    });
}
