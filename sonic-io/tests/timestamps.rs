//! Kernel receive stamps through the reactor's datagram reads, with the kernel as referee:
//! `async_read_from_timestamped` and batch reads into `Datagrams::with_timestamps` give each
//! datagram the time the kernel received it, between a `CLOCK_REALTIME` read before its send
//! and one after its callback (ordering only, never a duration); stamps off give `None`;
//! the stamped reads allocate nothing per datagram and make one syscall per datagram (one
//! `recvmsg`) or per batch (one `recvmmsg`), counted by `strace` as well as by the Io.
#![cfg(target_os = "linux")]

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sock::SockaddrAny;
use sonic_io::{Datagrams, Io, Timestamp, UdpSocket};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

const BOUND: Duration = Duration::from_secs(10);

struct Pair {
    io: Io,
    tx: sock::UdpConn,
    rx: UdpSocket,
    to: SockaddrAny,
}

fn pair(rx_addr: SocketAddr, tx_addr: SocketAddr, stamps: bool) -> Pair {
    let mut io = Io::new().unwrap();
    let rx = sock::UdpConn::bind(rx_addr).unwrap();
    sock::opt::set_recv_buffer_size(&rx, 1 << 20).unwrap();
    if stamps {
        rx.set_rx_timestamps(true).unwrap();
    }
    let to = rx.local_addr().unwrap();
    let rx = UdpSocket::add(&mut io, rx).unwrap();
    let tx = sock::UdpConn::bind(tx_addr).unwrap();
    let mut p = Pair { io, tx, rx, to };
    if stamps {
        warm(&mut p);
    }
    p
}

fn loopback(stamps: bool) -> Pair {
    let lo = SocketAddr::from(([127, 0, 0, 1], 0));
    pair(lo, lo, stamps)
}

/// One datagram through `async_read_from_timestamped`: (bytes, source, stamp), and the
/// clock read before the send and after the callback.
fn one(
    p: &mut Pair,
    payload: &[u8],
) -> (
    Vec<u8>,
    SockaddrAny,
    Option<Timestamp>,
    Timestamp,
    Timestamp,
) {
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let before = Timestamp::now();
    p.tx.send_to(payload, &p.to).unwrap();
    p.rx.async_read_from_timestamped(&mut p.io, vec![0u8; 64], move |_, r, buf| {
        let (n, from, stamp) = r.unwrap();
        *g.borrow_mut() = Some((buf[..n].to_vec(), from, stamp, Timestamp::now()));
    })
    .unwrap();
    let give_up = Instant::now() + BOUND;
    while got.borrow().is_none() {
        assert!(Instant::now() < give_up, "no datagram");
        p.io.run_one_for(Duration::from_millis(100)).unwrap();
    }
    let (bytes, from, stamp, after) = got.borrow_mut().take().unwrap();
    (bytes, from, stamp, before, after)
}

/// The kernel turns stamps on system-wide from a work queue when the first socket asks,
/// so the first datagrams may come unstamped: send until one is stamped (bounded).
fn warm(p: &mut Pair) {
    let give_up = Instant::now() + BOUND;
    while one(p, b"warm").2.is_none() {
        assert!(Instant::now() < give_up, "no datagram was ever stamped");
    }
}

fn each_stamped(p: &mut Pair, n: usize) {
    let from_want = p.tx.local_addr().unwrap();
    let mut last = Timestamp::default();
    for i in 0..n {
        let payload = (i as u32).to_ne_bytes();
        let (bytes, from, stamp, before, after) = one(p, &payload);
        assert_eq!(bytes, payload);
        assert_eq!(from, from_want);
        let s = stamp.unwrap_or_else(|| panic!("datagram {i} unstamped"));
        assert!(
            before <= s && s <= after,
            "datagram {i}: stamp {s:?} not between the send ({before:?}) and the callback ({after:?})"
        );
        assert!(s >= last);
        last = s;
    }
}

#[test]
fn async_read_from_timestamped_stamps_every_datagram_between_send_and_callback() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let mut p = loopback(true);
    each_stamped(&mut p, 32);
}

#[test]
fn stamps_off_give_none_through_both_reads() {
    let mut p = loopback(false);
    for _ in 0..4 {
        let (bytes, _, stamp, _, _) = one(&mut p, b"plain");
        assert_eq!((bytes.as_slice(), stamp), (&b"plain"[..], None));
    }
    for _ in 0..3 {
        p.tx.send_to(b"plain", &p.to).unwrap();
    }
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    p.rx.async_read_batch(
        &mut p.io,
        Datagrams::with_timestamps(8, 64),
        move |_, r, b| {
            assert_eq!(r.unwrap(), 3);
            assert!(
                b.iter()
                    .all(|d| d.timestamp().is_none() && d.control().is_empty())
            );
            s.set(3);
        },
    )
    .unwrap();
    assert_eq!(seen.get(), 3, "completed at once");
}

#[test]
fn a_datagram_longer_than_the_buffer_is_message_too_large_with_stamps_too() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let mut p = loopback(true);
    p.tx.send_to(&[1u8; 100], &p.to).unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    p.rx.async_read_from_timestamped(&mut p.io, vec![0u8; 10], move |_, r, _| {
        *g.borrow_mut() = Some(r.map(|_| ()).unwrap_err().kind());
    })
    .unwrap();
    assert_eq!(*got.borrow(), Some(sonic_io::ErrorKind::MessageTooLarge));
}

/// A batch of `n` datagrams sent back to back, read with one `recvmmsg`: each slot carries
/// its own stamp, each after its own send and before the callback, in arrival order.
fn batch_stamped(p: &mut Pair, n: usize, batch: Datagrams) -> Datagrams {
    let mut sent_at = Vec::new();
    for i in 0..n {
        sent_at.push(Timestamp::now());
        p.tx.send_to(&[i as u8; 8], &p.to).unwrap();
    }
    let back = Rc::new(RefCell::new(None));
    let b2 = back.clone();
    let reads = p.io.stats().reads;
    p.rx.async_read_batch(&mut p.io, batch, move |_, r, b| {
        let after = Timestamp::now();
        assert_eq!(r.unwrap(), n);
        let mut last = Timestamp::default();
        for (i, d) in b.iter().enumerate() {
            assert_eq!(d.bytes(), [i as u8; 8]);
            let s = d
                .timestamp()
                .unwrap_or_else(|| panic!("slot {i} unstamped"));
            assert!(sent_at[i] <= s && s <= after, "slot {i}");
            assert!(s >= last, "slot {i} in arrival order");
            last = s;
        }
        *b2.borrow_mut() = Some(b);
    })
    .unwrap();
    let b = back
        .borrow_mut()
        .take()
        .expect("datagrams queued: completed at once");
    assert_eq!(
        p.io.stats().reads - reads,
        n.div_ceil(64) as u64,
        "one recvmmsg per 64 slots"
    );
    b
}

#[test]
fn batch_reads_give_each_slot_its_own_stamp() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let mut p = loopback(true);
    let b = batch_stamped(&mut p, 40, Datagrams::with_timestamps(64, 64));
    // The slots are reused: the same batch stamps afresh.
    batch_stamped(&mut p, 40, b);
    // More than 64 slots: two recvmmsg calls, each slot still its own stamp.
    batch_stamped(&mut p, 100, Datagrams::with_timestamps(100, 64));
}

#[test]
fn a_batch_without_control_space_reads_no_stamp_even_when_the_socket_has_them_on() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let mut p = loopback(true);
    for _ in 0..4 {
        p.tx.send_to(b"x", &p.to).unwrap();
    }
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let batch = Datagrams::new(8, 64);
    assert_eq!(batch.control_len(), 0);
    p.rx.async_read_batch(&mut p.io, batch, move |_, r, b| {
        assert_eq!(r.unwrap(), 4);
        assert!(b.iter().all(|d| d.timestamp().is_none()));
        s.set(4);
    })
    .unwrap();
    assert_eq!(seen.get(), 4);
}

/// Across the veth pair of a private namespace: the same, through a real link's receive
/// path.
#[test]
fn stamps_across_a_veth_pair_in_a_private_namespace() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    testkit::in_netns(|ns| {
        let mut p = pair(
            SocketAddr::from((ns.b.ipv4, 0)),
            SocketAddr::from((ns.a.ipv4, 0)),
            true,
        );
        each_stamped(&mut p, 16);
        batch_stamped(&mut p, 16, Datagrams::with_timestamps(16, 64));
        println!("ran in a private network namespace across veth0/veth1");
    });
}

/// Steady state: 1,000 stamped single reads and 200 stamped batch reads of 16, each
/// buffer handed back by its callback, allocate nothing.
#[test]
fn stamped_reads_allocate_nothing_per_datagram() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    let mut p = loopback(true);
    let spare: Rc<Cell<Option<Vec<u8>>>> = Rc::new(Cell::new(Some(vec![0u8; 64])));
    let stamped = Rc::new(Cell::new(0usize));
    let single = |p: &mut Pair| {
        p.tx.send_to(b"0123456789", &p.to).unwrap();
        let back = spare.clone();
        let st = stamped.clone();
        p.rx.async_read_from_timestamped(&mut p.io, spare.take().unwrap(), move |_, r, b| {
            let (n, _, s) = r.unwrap();
            assert_eq!(n, 10);
            st.set(st.get() + usize::from(s.is_some()));
            back.set(Some(b));
        })
        .unwrap();
    };
    for _ in 0..10 {
        single(&mut p);
    }
    let (_, stats) = testkit::count_allocs(|| {
        for _ in 0..1000 {
            single(&mut p);
        }
    });
    assert_eq!(stats.allocs, 0, "single stamped reads: {stats:?}");
    assert_eq!(stamped.get(), 1010, "every datagram stamped");

    let batch: Rc<Cell<Option<Datagrams>>> =
        Rc::new(Cell::new(Some(Datagrams::with_timestamps(16, 64))));
    let round = |p: &mut Pair| {
        for _ in 0..16 {
            p.tx.send_to(b"0123456789", &p.to).unwrap();
        }
        let back = batch.clone();
        let st = stamped.clone();
        p.rx.async_read_batch(&mut p.io, batch.take().unwrap(), move |_, r, b| {
            assert_eq!(r.unwrap(), 16);
            st.set(st.get() + b.iter().filter(|d| d.timestamp().is_some()).count());
            back.set(Some(b));
        })
        .unwrap();
    };
    round(&mut p);
    let (_, stats) = testkit::count_allocs(|| {
        for _ in 0..200 {
            round(&mut p);
        }
    });
    assert_eq!(stats.allocs, 0, "batch stamped reads: {stats:?}");
    assert_eq!(stamped.get(), 1010 + 201 * 16);
}

// -----------------------------------------------------------------------------------------
// System calls, counted by strace: a child process of this binary receives datagrams with
// and without stamps; the difference between a run of 2n and one of n datagrams, over n,
// is the cost of one datagram, with the process's start and setup taken out.

const CHILD_ENV: &str = "SONIC_IO_TIMESTAMPS_CHILD";

/// The child's work, chosen by `SONIC_IO_TIMESTAMPS_CHILD=<mode>:<n>`: `n` datagrams, each
/// sent with `sendto` and received with a read that completes at once (`plain`,
/// `stamped`), or sent in bursts of 16, each burst taken by one batch read (`batch`,
/// `batch-stamped`).
#[test]
#[ignore = "the child of stamped_reads_cost_the_same_syscalls_as_plain_reads_under_strace"]
fn strace_child() {
    let spec = std::env::var(CHILD_ENV).expect("run by the parent test");
    let (mode, n) = spec.split_once(':').unwrap();
    let n: usize = n.parse().unwrap();
    let mut p = loopback(mode.ends_with("stamped"));
    let done = Rc::new(Cell::new(0usize));
    if mode.starts_with("batch") {
        // Bursts of 16 datagrams, each burst taken by one batch read of 16 slots.
        let slots = Rc::new(Cell::new(Some(if mode == "batch-stamped" {
            Datagrams::with_timestamps(16, 64)
        } else {
            Datagrams::new(16, 64)
        })));
        let stamped = mode == "batch-stamped";
        for _ in 0..n / 16 {
            for _ in 0..16 {
                p.tx.send_to(b"0123456789", &p.to).unwrap();
            }
            let (d, back) = (done.clone(), slots.clone());
            p.rx.async_read_batch(&mut p.io, slots.take().unwrap(), move |_, r, b| {
                assert_eq!(r.unwrap(), 16);
                assert!(b.iter().all(|g| g.timestamp().is_some() == stamped));
                d.set(d.get() + 16);
                back.set(Some(b));
            })
            .unwrap();
        }
        assert_eq!(done.get(), n / 16 * 16, "every batch completed at once");
        return;
    }
    for _ in 0..n {
        p.tx.send_to(b"0123456789", &p.to).unwrap();
        let d = done.clone();
        match mode {
            "plain" => {
                p.rx.async_read_from(&mut p.io, vec![0u8; 64], move |_, r, _| {
                    r.unwrap();
                    d.set(d.get() + 1);
                })
            }
            "stamped" => {
                p.rx.async_read_from_timestamped(&mut p.io, vec![0u8; 64], move |_, r, _| {
                    assert!(r.unwrap().2.is_some());
                    d.set(d.get() + 1);
                })
            }
            other => panic!("mode {other}"),
        }
        .unwrap();
    }
    assert_eq!(done.get(), n, "every read completed at once");
}

/// Calls per syscall name from `strace -c` output.
fn parse_strace(text: &str) -> std::collections::BTreeMap<String, i64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0].starts_with('%') || f[0].starts_with('-') {
            continue;
        }
        let name = f[f.len() - 1];
        if let (false, Ok(calls)) = (name == "total", f[3].parse::<i64>()) {
            *out.entry(name.to_string()).or_insert(0) += calls;
        }
    }
    out
}

fn traced(mode: &str, n: usize) -> std::collections::BTreeMap<String, i64> {
    let exe = std::env::current_exe().unwrap();
    let out = std::env::temp_dir().join(format!(
        "sonic-io-timestamps-{}-{mode}-{n}.txt",
        std::process::id()
    ));
    let status = std::process::Command::new("strace")
        .arg("-f")
        .arg("-c")
        .arg("-o")
        .arg(&out)
        .arg(&exe)
        .args(["--ignored", "--exact", "strace_child", "--test-threads=1"])
        .env(CHILD_ENV, format!("{mode}:{n}"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the {mode} child failed");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    parse_strace(&text)
}

fn per_datagram(mode: &str, n: usize) -> std::collections::BTreeMap<String, f64> {
    let (a, b) = (traced(mode, n), traced(mode, 2 * n));
    b.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (v - a.get(k).copied().unwrap_or(0)) as f64 / n as f64,
            )
        })
        .filter(|(_, v)| v.abs() > 0.05)
        .collect()
}

#[test]
fn stamped_reads_cost_the_same_syscalls_as_plain_reads_under_strace() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_TIMESTAMPING);
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        testkit::skip!("strace is not installed");
    }
    // Stamps are switched on system-wide while some socket wants them, and the first socket
    // to ask switches them on from a work queue: this one holds them on (warmed) while the
    // children run, so each child's warm-up takes the same single datagram in both runs.
    let _held_on = loopback(true);
    let n = 320;
    let plain = per_datagram("plain", n);
    let stamped = per_datagram("stamped", n);
    println!("per datagram: plain {plain:?}, stamped {stamped:?}");
    // Single reads. Plain: one sendto and one recvfrom. Stamped: one sendto and one recvmsg.
    let total = |m: &std::collections::BTreeMap<String, f64>| m.values().sum::<f64>();
    assert_eq!(plain.get("recvfrom").copied(), Some(1.0), "{plain:?}");
    assert_eq!(stamped.get("recvmsg").copied(), Some(1.0), "{stamped:?}");
    assert_eq!(stamped.get("recvfrom"), None, "{stamped:?}");
    assert!(
        (total(&stamped) - total(&plain)).abs() < 0.01,
        "a stamp costs no syscall: plain {plain:?}, stamped {stamped:?}"
    );
    // Batches of 16: one sendto per datagram, one recvmmsg per 16, stamps or not.
    let plain = per_datagram("batch", n);
    let stamped = per_datagram("batch-stamped", n);
    println!("per datagram, batches of 16: plain {plain:?}, stamped {stamped:?}");
    assert_eq!(
        plain.get("recvmmsg").copied(),
        Some(1.0 / 16.0),
        "{plain:?}"
    );
    assert_eq!(stamped, plain, "a stamp costs no syscall in a batch either");
}
