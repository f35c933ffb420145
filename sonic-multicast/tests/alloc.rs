//! Steady-state reads and writes allocate nothing: a sender peer and a receiver peer on one
//! Io exchange 5,000 multicast datagrams across the namespace's veth pair, buffers handed
//! back by each callback; then 1,000 batch reads of 16 datagrams (per-thread counting
//! allocator). The figures go to the allocation report of `cargo xtask bench`.
#![cfg(target_os = "linux")]

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use sock::SockaddrAny;
use sonic_io::{Datagrams, Io};
use sonic_multicast::{Iface, UdpPeer};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);

/// The two buffers (outgoing, incoming) between rounds.
type Spare = Rc<Cell<Option<(Vec<u8>, Vec<u8>)>>>;

/// Where the callbacks leave the buffers: made once, cloned into each callback (an `Rc`
/// clone does not allocate).
#[derive(Clone, Default)]
struct Slots {
    sent: Rc<Cell<Option<Vec<u8>>>>,
    got: Rc<Cell<Option<Vec<u8>>>>,
}

/// Sends one datagram and reads it back, `n` times; the buffers travel through the
/// callbacks and back into `spare`.
fn rounds(
    io: &mut Io,
    tx: &UdpPeer,
    rx: &UdpPeer,
    to: &SockaddrAny,
    spare: &Spare,
    slots: &Slots,
    n: usize,
) {
    for _ in 0..n {
        let (out, inb) = spare.take().unwrap();
        // The read first, so the write's datagram completes it (scheduled or at once).
        let g = slots.got.clone();
        rx.async_read(io, inb, move |_, r, b| {
            assert_eq!(r.unwrap().0, 64);
            g.set(Some(b));
        })
        .unwrap();
        let s = slots.sent.clone();
        tx.async_write_to(io, out, to, move |_, r, b| {
            assert_eq!(r.unwrap(), 64);
            s.set(Some(b));
        })
        .unwrap();
        let start = std::time::Instant::now();
        loop {
            match (slots.sent.take(), slots.got.take()) {
                (Some(a), Some(b)) => {
                    spare.set(Some((a, b)));
                    break;
                }
                (a, b) => {
                    slots.sent.set(a);
                    slots.got.set(b);
                }
            }
            assert!(start.elapsed().as_secs() < 10, "a datagram was lost");
            io.run_one().unwrap();
        }
    }
}

#[test]
fn steady_reads_and_writes_allocate_nothing() {
    testkit::in_netns(|ns| {
        let mut io = Io::new().unwrap();
        let rx = UdpPeer::bind(&mut io, "0.0.0.0:0").unwrap();
        rx.join_on(&mut io, GROUP.into(), Iface::Index(ns.b.index))
            .unwrap();
        let tx = UdpPeer::bind(
            &mut io,
            SockaddrAny::from(SocketAddr::new(IpAddr::V4(ns.a.ipv4), 0)),
        )
        .unwrap();
        tx.set_outbound(&mut io, Iface::Index(ns.a.index)).unwrap();
        tx.set_loop(&mut io, false).unwrap();
        let to = SockaddrAny::from(SocketAddr::new(GROUP.into(), rx.local_addr().port()));
        let spare = Rc::new(Cell::new(Some((vec![5u8; 64], vec![0u8; 256]))));
        let slots = Slots::default();
        rounds(&mut io, &tx, &rx, &to, &spare, &slots, 100);
        testkit::assert_no_alloc_reported(
            "multicast async write + async read (round)",
            5000,
            || rounds(&mut io, &tx, &rx, &to, &spare, &slots, 5000),
        );
        let (r, w) = (rx.stats(), tx.stats());
        println!("receiver {r:?}, sender {w:?}");
        assert_eq!(r.reads_immediate + r.reads_scheduled, 5100);
        assert_eq!(w.writes_immediate, 5100, "sends complete at once");

        // Batch reads: 16 datagrams queued, batch reads until all are taken; 1,000 times.
        let batch = Rc::new(Cell::new(Some(Datagrams::new(16, 64))));
        let got = Rc::new(Cell::new(0));
        let batch_round = |io: &mut Io| {
            for _ in 0..16 {
                tx.write_to(io, &[1u8; 64], &to).unwrap();
            }
            let mut left = 16;
            while left > 0 {
                let b = batch.take().unwrap();
                let back = batch.clone();
                let g = got.clone();
                g.set(0);
                rx.async_read_batch(io, b, move |_, r, b| {
                    g.set(r.unwrap());
                    back.set(Some(b));
                })
                .unwrap();
                while got.get() == 0 {
                    io.run_one().unwrap();
                }
                left -= got.get();
            }
        };
        for _ in 0..10 {
            batch_round(&mut io);
        }
        testkit::assert_no_alloc_reported("multicast batch read (16 datagrams)", 1000, || {
            for _ in 0..1000 {
                batch_round(&mut io);
            }
        });
        println!("ran in a private network namespace across veth0/veth1: allocation counts");
    });
}
