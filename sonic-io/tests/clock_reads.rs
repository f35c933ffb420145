//! How often the Io reads its clock on the message path, counted through an injected clock:
//! none in a blocking loop with no timer, at most one per turn with a timer scheduled
//! (before, every turn read it twice and walked the timer heap twice).

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_io::{Io, TcpStream, Timer};

/// The real clock, counting its reads.
struct Counting(Rc<Cell<u64>>);

impl iox::Clock for Counting {
    fn now(&self) -> Instant {
        self.0.set(self.0.get() + 1);
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
    fn yield_now(&self) {}
    fn spin(&self) {}
}

/// Echoes `rounds` 64-byte messages from a peer outside the Io, driving it with `run_one`
/// (a blocking wait each turn); returns the clock reads and the waits of the loop.
fn echo_rounds(far_timer: bool, rounds: u32) -> (u64, u64) {
    let reads = Rc::new(Cell::new(0));
    let mut io = Io::builder()
        .clock(Box::new(Counting(reads.clone())))
        .build()
        .unwrap();
    if far_timer {
        let t = Timer::new(&mut io).unwrap();
        t.schedule_once(&mut io, Duration::from_secs(3600), |_, _| {})
            .unwrap();
    }
    let (a, mut peer) = testkit::tcp_pair().unwrap();
    a.set_nodelay(true).unwrap();
    peer.set_nodelay(true).unwrap();
    let s = TcpStream::add(&mut io, sock::TcpConn::try_from(a).unwrap()).unwrap();
    let served = Rc::new(Cell::new(0u32));
    fn serve(io: &mut Io, s: TcpStream, served: Rc<Cell<u32>>) {
        s.async_read_exact(io, vec![0u8; 64], move |io, r, buf| {
            // The last read is cancelled when the Io is dropped.
            if r.is_err() {
                return;
            }
            s.write(io, &buf).unwrap();
            served.set(served.get() + 1);
            serve(io, s, served);
        })
        .unwrap();
    }
    serve(&mut io, s, served.clone());
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    reads.set(0);
    io.reset_stats();
    let mut back = [0u8; 64];
    for i in 0..rounds {
        peer.write_all(&[i as u8; 64]).unwrap();
        while served.get() < i + 1 {
            io.run_one().unwrap();
        }
        peer.read_exact(&mut back).unwrap();
    }
    (reads.get(), io.stats().waits)
}

#[test]
fn a_blocking_loop_without_timers_reads_no_clock() {
    let (reads, waits) = echo_rounds(false, 200);
    assert!(waits >= 200, "{waits}");
    assert_eq!(reads, 0, "clock reads over {waits} turns");
}

#[test]
fn a_far_off_timer_costs_at_most_one_clock_read_per_turn() {
    let (reads, waits) = echo_rounds(true, 200);
    assert!(waits >= 200, "{waits}");
    assert!(reads <= waits, "{reads} clock reads over {waits} turns");
}
