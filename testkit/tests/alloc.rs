//! The counting allocator counts the calling thread only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

#[test]
fn counts_this_threads_allocations() {
    let (v, stats) = testkit::count_allocs(|| {
        let mut v: Vec<u64> = Vec::with_capacity(4);
        v.extend([1, 2, 3, 4, 5]); // grows: a realloc
        v
    });
    assert_eq!(v.len(), 5);
    assert_eq!(stats.allocs, 2, "{stats:?}");
    assert!(stats.bytes >= 5 * 8);
}

#[test]
#[should_panic(expected = "expected no allocation")]
fn assert_no_alloc_fails_on_an_allocation() {
    testkit::assert_no_alloc(|| std::hint::black_box(Box::new(7u32)));
}

#[test]
fn ignores_other_threads_allocations() {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let noisy = {
        let (stop, started) = (stop.clone(), started.clone());
        std::thread::spawn(move || {
            let mut total = 0usize;
            let mut rounds = 0u32;
            // Bounded: stops when told, or after a million rounds.
            while !stop.load(Ordering::Relaxed) && rounds < 1_000_000 {
                let v = std::hint::black_box(vec![rounds; 64]);
                total += v.len();
                rounds += 1;
                started.store(true, Ordering::Relaxed);
            }
            (total, rounds)
        })
    };
    while !started.load(Ordering::Relaxed) {
        std::hint::spin_loop();
    }
    let mut sum = 0u64;
    testkit::assert_no_alloc(|| {
        for i in 0..200_000u64 {
            sum = sum.wrapping_add(std::hint::black_box(i));
        }
    });
    stop.store(true, Ordering::Relaxed);
    let (total, rounds) = noisy.join().unwrap();
    assert!(rounds > 0 && total > 0);
    assert_eq!(sum, (0..200_000u64).sum::<u64>());
}
