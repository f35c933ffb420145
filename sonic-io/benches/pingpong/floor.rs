//! The floor: what a round trip costs with no reactor at all. Both ends spin on a
//! non-blocking `recv` (`WouldBlock` means "again", at once) and send as soon as a message is
//! in; no poll, no readiness, no callback. A reactor's hot loop can approach this, not beat
//! it: the goal is sonic-io's hot loop within 1.05× of it at p50 and 1.15× at p99.
//!
//! The client counts its own syscalls: its reads include every empty `recv` of the spin, so
//! they show how long it waited in units of one `recv`.

use std::io::{self, ErrorKind, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::harness::{CLIENT_SLACK, Cost, MSG, MSG_LEN, Plan, Recorder, Run, retry, write_spin};
use crate::std_net::accept_bounded;

/// Empty `recv`s between two looks at the clock: the deadline costs nothing per message.
const SPINS_PER_CLOCK: u32 = 1024;

/// Counts one empty `recv` of a spin; an error once `deadline` has passed.
#[inline]
fn spun(spins: &mut u32, deadline: Instant) -> io::Result<()> {
    *spins = spins.wrapping_add(1);
    if spins.is_multiple_of(SPINS_PER_CLOCK) && Instant::now() >= deadline {
        return Err(io::Error::new(ErrorKind::TimedOut, "nothing arrived"));
    }
    Ok(())
}

pub(crate) fn tcp_server(l: std::net::TcpListener, backstop_after: Duration) -> io::Result<()> {
    let deadline = Instant::now() + backstop_after;
    let mut s = accept_bounded(&l, deadline)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    let mut buf = [0u8; MSG_LEN];
    let (mut spins, mut spare) = (0u32, 0u64);
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => write_spin(&mut s, &buf[..n], deadline, &mut spare)?,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if spun(&mut spins, deadline).is_err() {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // The client's close may reset the connection: the end either way.
            Err(_) => return Ok(()),
        }
    }
}

pub(crate) fn tcp_client(addr: SocketAddr, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let r = (|| -> io::Result<Cost> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let deadline = rec.deadline + CLIENT_SLACK;
        let mut counts = Cost::default();
        let mut buf = [0u8; MSG_LEN];
        let mut spins = 0u32;
        loop {
            let t0 = Instant::now();
            write_spin(&mut s, &MSG, deadline, &mut counts.writes)?;
            let mut have = 0;
            while have < MSG_LEN {
                counts.reads += 1;
                match s.read(&mut buf[have..]) {
                    Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                    Ok(n) => have += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => spun(&mut spins, deadline)?,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if !rec.record(t0) {
                break;
            }
            if rec.warm_ended() {
                counts = Cost::default();
            }
        }
        Ok(Cost {
            rounds: rec.measured(),
            ..counts
        })
    })();
    match r {
        Ok(c) => rec.finish(Some(c), None),
        Err(e) => rec.finish(None, Some(e.to_string())),
    }
}

/// Echoes datagrams to their senders until an empty one (the bye) or the backstop.
pub(crate) fn udp_server(s: std::net::UdpSocket, backstop_after: Duration) -> io::Result<()> {
    let deadline = Instant::now() + backstop_after;
    s.set_nonblocking(true)?;
    let mut buf = [0u8; MSG_LEN];
    let (mut spins, mut spare) = (0u32, 0u64);
    loop {
        match s.recv_from(&mut buf) {
            Ok((0, _)) => return Ok(()),
            Ok((n, from)) => {
                retry(deadline, &mut spare, || s.send_to(&buf[..n], from))?;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if spun(&mut spins, deadline).is_err() {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn udp_client(addr: SocketAddr, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let r = (|| -> io::Result<Cost> {
        let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
        s.connect(addr)?;
        s.set_nonblocking(true)?;
        let deadline = rec.deadline + CLIENT_SLACK;
        let mut counts = Cost::default();
        let mut buf = [0u8; MSG_LEN];
        let mut spins = 0u32;
        loop {
            let t0 = Instant::now();
            retry(deadline, &mut counts.writes, || s.send(&MSG))?;
            loop {
                counts.reads += 1;
                match s.recv(&mut buf) {
                    Ok(_) => break,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => spun(&mut spins, deadline)?,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if !rec.record(t0) {
                break;
            }
            if rec.warm_ended() {
                counts = Cost::default();
            }
        }
        Ok(Cost {
            rounds: rec.measured(),
            ..counts
        })
    })();
    match r {
        Ok(c) => rec.finish(Some(c), None),
        Err(e) => rec.finish(None, Some(e.to_string())),
    }
}
