//! Timers: a one-shot, a repeating timer that stops itself, and one cancelled before it
//! fires.
//!
//! `cargo run -p sonic-io --example timer`

use std::time::Duration;

use sonic_io::{Io, Timer};

fn main() -> sonic_io::Result<()> {
    let mut io = Io::new()?;
    let once = Timer::new(&mut io)?;
    once.schedule_once(&mut io, Duration::from_millis(5), |io, _| {
        println!("{:>8.3} ms  one-shot fired", io.now().as_secs_f64() * 1e3);
    })?;

    let tick = Timer::new(&mut io)?;
    let mut n = 0;
    tick.schedule_repeating(&mut io, Duration::from_millis(2), move |io, t| {
        n += 1;
        // Deadlines stay on the 2 ms grid whatever this callback costs.
        println!(
            "{:>8.3} ms  tick {n}, next at {:?}",
            io.now().as_secs_f64() * 1e3,
            t.deadline(io).unwrap()
        );
        if n == 5 {
            t.cancel(io);
        }
    })?;

    let never = Timer::new(&mut io)?;
    never.schedule_once(&mut io, Duration::from_secs(3600), |_, _| {
        unreachable!("cancelled")
    })?;
    assert!(never.cancel(&mut io));

    io.run_pending()?;
    println!("done: {:?}", io.stats());
    Ok(())
}
