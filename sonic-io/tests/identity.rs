//! Handles carry their Io's identity: a stream handle, timer or region of one Io used on
//! another is refused with a clear error, never taken for the other Io's object in the
//! same slot (before, a timer hit the other Io's timer slot: a subtract with overflow in
//! debug builds, a wrapped `pending()` in release).

mod common;
use common::counter;

use std::time::Duration;

use sonic_io::{ErrorKind, Io, Timer, UnixStream};

const FOREIGN: &str = "the handle belongs to another Io";

fn is_foreign(e: iox::Error) {
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains(FOREIGN), "{e}");
}

#[test]
fn a_stream_handle_of_another_io_is_refused() {
    let mut a = Io::new().unwrap();
    let mut b = Io::new().unwrap();
    let [x, y] = sock::UnixConn::pair().unwrap();
    let on_a = UnixStream::add(&mut a, x).unwrap();
    let on_b = UnixStream::add(&mut b, y).unwrap();
    assert_eq!(
        format!("{on_a:?}"),
        format!("{on_b:?}"),
        "same slot, same generation"
    );

    let r = on_a
        .async_read(&mut b, vec![0u8; 4], |_, _, _| panic!("never runs"))
        .unwrap_err();
    is_foreign(r.error);
    assert_eq!(r.buf.len(), 4, "the buffer comes back");
    is_foreign(
        on_a.async_write_all(&mut b, b"x", |_, _, _| panic!("never runs"))
            .unwrap_err()
            .error,
    );
    is_foreign(on_a.get(&b).unwrap_err());
    is_foreign(on_a.read(&mut b, &mut [0u8; 4]).unwrap_err());
    is_foreign(on_a.write(&mut b, b"x").unwrap_err());
    is_foreign(on_a.cancel(&mut b).unwrap_err());
    is_foreign(on_a.close(&mut b).unwrap_err());
    is_foreign(on_a.take(&mut b).unwrap_err());
    assert!(!on_a.is_open(&b));
    // b's own stream is untouched, and a's still works on a.
    assert_eq!(b.objects(), 1);
    assert!(on_b.is_open(&b));
    assert_eq!(on_a.write(&mut a, b"hi").unwrap(), 2);
    assert_eq!(on_b.read(&mut b, &mut [0u8; 4]).unwrap(), 2);
}

#[test]
fn a_timer_of_another_io_is_refused_and_leaves_the_other_ios_timers_alone() {
    let mut a = Io::new().unwrap();
    let mut b = Io::new().unwrap();
    let ta = Timer::new(&mut a).unwrap();
    let tb = Timer::new(&mut b).unwrap();
    let fired = counter();
    let f = fired.clone();
    tb.schedule_once(&mut b, Duration::ZERO, move |_, _| f.set(1))
        .unwrap();
    assert_eq!(b.pending(), 1);
    is_foreign(
        ta.schedule_once(&mut b, Duration::ZERO, |_, _| panic!("never runs"))
            .unwrap_err(),
    );
    assert!(
        !ta.cancel(&mut b),
        "refused: b's timer in the same slot stays"
    );
    assert!(!ta.scheduled(&mut b));
    assert_eq!(ta.deadline(&mut b), None);
    ta.close(&mut b);
    assert_eq!(b.pending(), 1);
    b.run_pending().unwrap();
    assert_eq!(fired.get(), 1);
    assert_eq!(a.pending(), 0);
    assert_eq!(b.pending(), 0);
}

#[test]
fn a_region_of_another_io_is_refused() {
    let mut a = Io::new().unwrap();
    let mut b = Io::new().unwrap();
    let ida = a.add_bytes(vec![1u8; 16]).unwrap();
    let idb = b.add_bytes(vec![2u8; 16]).unwrap();
    let ra = a.region(ida, 0..8).unwrap();
    is_foreign(b.bytes(ra).unwrap_err());
    is_foreign(b.bytes_mut(ra).unwrap_err());
    is_foreign(b.region(ida, 0..8).unwrap_err());
    is_foreign(b.remove_bytes(ida).unwrap_err());
    let [x, _y] = sock::UnixConn::pair().unwrap();
    let s = UnixStream::add(&mut b, x).unwrap();
    is_foreign(
        s.async_read(&mut b, ra, |_, _, _| panic!("never runs"))
            .unwrap_err()
            .error,
    );
    assert_eq!(b.bytes(b.region(idb, 0..8).unwrap()).unwrap(), [2u8; 8]);
    assert_eq!(a.bytes(ra).unwrap(), [1u8; 8]);
}
