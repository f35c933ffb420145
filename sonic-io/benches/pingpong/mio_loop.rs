//! mio's harness: edge-triggered, each side reads until `WouldBlock` as mio requires; a
//! zero-timeout poll in a loop (hot) or a poll bounded by the case's remaining time
//! (blocking: the same `epoll_wait` as `None`). The client counts its own syscalls.

use std::io::{self, ErrorKind, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::harness::{CLIENT_SLACK, Cost, MSG, MSG_LEN, Plan, Recorder, Run, retry, write_spin};

const LISTENER: Token = Token(0);
pub(crate) const CONN: Token = Token(1);

/// A mio poll in hot (zero timeout) or blocking mode, bounded by a deadline, counting
/// the syscalls its owner makes.
pub(crate) struct MioLoop {
    pub(crate) poll: Poll,
    events: Events,
    hot: bool,
    pub(crate) deadline: Instant,
    pub(crate) counts: Cost,
}

impl MioLoop {
    pub(crate) fn new(hot: bool, deadline: Instant) -> io::Result<MioLoop> {
        Ok(MioLoop {
            poll: Poll::new()?,
            events: Events::with_capacity(64),
            hot,
            deadline,
            counts: Cost::default(),
        })
    }

    /// One wait (zero timeout when hot, else until the deadline); `false` once the
    /// deadline has passed.
    #[inline]
    pub(crate) fn wait(&mut self) -> io::Result<bool> {
        let now = Instant::now();
        if now >= self.deadline {
            return Ok(false);
        }
        let t = if self.hot {
            Duration::ZERO
        } else {
            self.deadline - now
        };
        self.counts.waits += 1;
        match self.poll.poll(&mut self.events, Some(t)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }

    #[inline]
    pub(crate) fn has(&self, t: Token) -> bool {
        self.events.iter().any(|e| e.token() == t)
    }
}

pub(crate) fn mio_tcp_server(
    l: std::net::TcpListener,
    hot: bool,
    backstop_after: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + backstop_after;
    l.set_nonblocking(true)?;
    let mut l = mio::net::TcpListener::from_std(l);
    let mut ml = MioLoop::new(hot, deadline)?;
    ml.poll
        .registry()
        .register(&mut l, LISTENER, Interest::READABLE)?;
    let mut s = loop {
        if !ml.wait()? {
            return Ok(());
        }
        if ml.has(LISTENER) {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    };
    s.set_nodelay(true)?;
    ml.poll
        .registry()
        .register(&mut s, CONN, Interest::READABLE)?;
    let mut buf = [0u8; 256];
    let mut spare = 0u64;
    loop {
        if !ml.wait()? {
            return Ok(());
        }
        if !ml.has(CONN) {
            continue;
        }
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => write_spin(&mut s, &buf[..n], deadline, &mut spare)?,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The client's close may reset the connection: the end either way.
                Err(_) => return Ok(()),
            }
        }
    }
}

pub(crate) fn mio_tcp_client(addr: SocketAddr, hot: bool, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let r = (|| -> io::Result<Cost> {
        let s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let mut s = mio::net::TcpStream::from_std(s);
        let mut ml = MioLoop::new(hot, rec.deadline + CLIENT_SLACK)?;
        ml.poll
            .registry()
            .register(&mut s, CONN, Interest::READABLE)?;
        let mut buf = [0u8; 256];
        loop {
            let t0 = Instant::now();
            write_spin(&mut s, &MSG, ml.deadline, &mut ml.counts.writes)?;
            let mut have = 0;
            while have < MSG_LEN {
                if !ml.wait()? {
                    return Err(io::Error::new(ErrorKind::TimedOut, "no echo"));
                }
                if !ml.has(CONN) {
                    continue;
                }
                loop {
                    ml.counts.reads += 1;
                    match s.read(&mut buf) {
                        Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                        Ok(n) => have += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if !rec.record(t0) {
                break;
            }
            if rec.warm_ended() {
                ml.counts = Cost::default();
            }
        }
        Ok(Cost {
            rounds: rec.measured(),
            ..ml.counts
        })
    })();
    match r {
        Ok(c) => rec.finish(Some(c), None),
        Err(e) => rec.finish(None, Some(e.to_string())),
    }
}

pub(crate) fn mio_udp_server(
    s: std::net::UdpSocket,
    hot: bool,
    backstop_after: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + backstop_after;
    s.set_nonblocking(true)?;
    let mut s = mio::net::UdpSocket::from_std(s);
    let mut ml = MioLoop::new(hot, deadline)?;
    ml.poll
        .registry()
        .register(&mut s, CONN, Interest::READABLE)?;
    let mut buf = [0u8; MSG_LEN];
    let mut spare = 0u64;
    loop {
        if !ml.wait()? {
            return Ok(());
        }
        if !ml.has(CONN) {
            continue;
        }
        loop {
            match s.recv_from(&mut buf) {
                Ok((0, _)) => return Ok(()),
                Ok((n, from)) => {
                    retry(deadline, &mut spare, || s.send_to(&buf[..n], from))?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

pub(crate) fn mio_udp_client(addr: SocketAddr, hot: bool, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let r = (|| -> io::Result<Cost> {
        let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
        s.connect(addr)?;
        s.set_nonblocking(true)?;
        let mut s = mio::net::UdpSocket::from_std(s);
        let mut ml = MioLoop::new(hot, rec.deadline + CLIENT_SLACK)?;
        ml.poll
            .registry()
            .register(&mut s, CONN, Interest::READABLE)?;
        let mut buf = [0u8; MSG_LEN];
        loop {
            let t0 = Instant::now();
            let deadline = ml.deadline;
            retry(deadline, &mut ml.counts.writes, || s.send(&MSG))?;
            let mut got = false;
            while !got {
                if !ml.wait()? {
                    return Err(io::Error::new(ErrorKind::TimedOut, "no echo"));
                }
                if !ml.has(CONN) {
                    continue;
                }
                loop {
                    ml.counts.reads += 1;
                    match s.recv(&mut buf) {
                        Ok(_) => got = true,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if !rec.record(t0) {
                break;
            }
            if rec.warm_ended() {
                ml.counts = Cost::default();
            }
        }
        Ok(Cost {
            rounds: rec.measured(),
            ..ml.counts
        })
    })();
    match r {
        Ok(c) => rec.finish(Some(c), None),
        Err(e) => rec.finish(None, Some(e.to_string())),
    }
}
