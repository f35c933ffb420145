//! sonic-io's harness: the echo servers and the clients, TCP and UDP, in the hot loop
//! (`Io::poll_one` in a loop) or the blocking loop (`Io::run_one`), on the epoll or the
//! io_uring backend; the server's syscalls from `Io::stats`, restarted when its warm-up
//! ends.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_io::{Backend, Io, Listener, PacketConn, Stats, TcpStream, Timer};

use crate::harness::{CLIENT_SLACK, Cost, MSG, MSG_LEN, Plan, Recorder, Run};

/// Drives `io` in `hot` (`poll_one` in a loop) or blocking (`run_one`) mode until it is
/// closed: by the last round trip, by the peer's end of stream, or by its backstop timer.
pub(crate) fn drive(io: &mut Io, hot: bool) -> Result<(), String> {
    while !io.closed() {
        let r = if hot { io.poll_one() } else { io.run_one() };
        if let Err(e) = r {
            if io.closed() {
                break;
            }
            return Err(format!("drive: {e}"));
        }
    }
    Ok(())
}

/// Closes `io` after `after`, whatever happens: the time bound of a drive loop.
pub(crate) fn backstop(io: &mut Io, after: Duration) {
    let t = Timer::new(io).expect("timer");
    t.schedule_once(io, after, |io, _| {
        let _ = io.close();
    })
    .expect("backstop timer");
}

/// A server's echo count; the Io's counters restart when the warm-up ends.
#[derive(Debug)]
struct Echoes {
    n: Cell<u64>,
    warmup: u64,
}

impl Echoes {
    fn new(warmup: u64) -> Rc<Echoes> {
        Rc::new(Echoes {
            n: Cell::new(0),
            warmup,
        })
    }
    #[inline]
    fn bump(&self, io: &mut Io) {
        let n = self.n.get() + 1;
        self.n.set(n);
        if n == self.warmup {
            io.reset_stats();
        }
    }
    fn cost(&self, s: Stats) -> Cost {
        Cost::from_stats(s, self.n.get().saturating_sub(self.warmup))
    }
}

/// Echoes 64-byte messages on `c` until it fails or ends, which closes the server.
fn serve_tcp(io: &mut Io, c: TcpStream, buf: Vec<u8>, e: Rc<Echoes>) {
    let armed = c.async_read_exact(io, buf, move |io, r, buf| {
        if r.is_err() {
            let _ = io.close();
            return;
        }
        let armed = c.async_write_all(io, buf, move |io, r, buf| {
            if r.is_err() {
                let _ = io.close();
                return;
            }
            e.bump(io);
            serve_tcp(io, c, buf, e);
        });
        if armed.is_err() {
            let _ = io.close();
        }
    });
    if armed.is_err() {
        let _ = io.close();
    }
}

fn accept_loop(io: &mut Io, l: Listener<sock::TcpListener>, e: Rc<Echoes>) {
    let armed = l.async_accept(io, move |io, r| {
        let Ok((c, _)) = r else {
            // EMFILE, or the Io's close cancelling the last accept.
            let _ = io.close();
            return;
        };
        if let Ok(s) = c.get(io) {
            let _ = s.set_nodelay(true);
        }
        serve_tcp(io, c, vec![0u8; MSG_LEN], e.clone());
        accept_loop(io, l, e);
    });
    if armed.is_err() {
        let _ = io.close();
    }
}

/// An Io on `backend` with room for `objects`; where the backend is refused (io_uring in a
/// container, say), the error says so and the row reports it.
pub(crate) fn new_io(backend: Backend, objects: usize) -> Result<Io, String> {
    Io::builder()
        .backend(backend)
        .objects(objects)
        .build()
        .map_err(|e| format!("{backend}: {e}"))
}

pub(crate) fn sonic_tcp_server(
    l: sock::TcpListener,
    backend: Backend,
    hot: bool,
    warmup: u64,
    objects: usize,
    backstop_after: Duration,
) -> Result<Option<Cost>, String> {
    let mut io = new_io(backend, objects)?;
    backstop(&mut io, backstop_after);
    let e = Echoes::new(warmup);
    let l = Listener::add(&mut io, l).map_err(|e| e.to_string())?;
    accept_loop(&mut io, l, e.clone());
    drive(&mut io, hot)?;
    Ok(Some(e.cost(io.stats())))
}

type Rec = Rc<RefCell<Recorder>>;

/// Records a round trip from inside a callback; `true` to go on.
#[inline]
fn record(io: &mut Io, rec: &Rec, t0: Instant) -> bool {
    let (go, warm_ended) = {
        let mut r = rec.borrow_mut();
        (r.record(t0), r.warm_ended())
    };
    if warm_ended {
        io.reset_stats();
    }
    go
}

/// One TCP round trip; the next starts from the read's callback.
fn tcp_round(io: &mut Io, c: TcpStream, buf: Vec<u8>, rec: Rec) {
    let t0 = Instant::now();
    let armed = c.async_write_all(io, &MSG, move |io, r, _| {
        if r.is_err() {
            let _ = io.close();
            return;
        }
        let armed = c.async_read_exact(io, buf, move |io, r, buf| {
            if r.is_err() {
                let _ = io.close();
                return;
            }
            if record(io, &rec, t0) {
                tcp_round(io, c, buf, rec);
            } else {
                let _ = io.close();
            }
        });
        if armed.is_err() {
            let _ = io.close();
        }
    });
    if armed.is_err() {
        let _ = io.close();
    }
}

fn sonic_client_end(io: Io, rec: Rec, failed: Option<String>) -> Run {
    let stats = io.stats();
    drop(io);
    let rec = Rc::try_unwrap(rec)
        .expect("the closed Io dropped every callback")
        .into_inner();
    let rounds = rec.measured();
    rec.finish(Some(Cost::from_stats(stats, rounds)), failed)
}

pub(crate) fn sonic_tcp_client(addr: SocketAddr, backend: Backend, hot: bool, plan: Plan) -> Run {
    let mut io = match new_io(backend, 64) {
        Ok(io) => io,
        Err(e) => return Run::failed(e),
    };
    backstop(&mut io, plan.cap + CLIENT_SLACK);
    let rec = Rc::new(RefCell::new(Recorder::new(&plan)));
    let failed: Rc<RefCell<Option<String>>> = Rc::default();
    let (r, f) = (rec.clone(), failed.clone());
    let dialer = sock::TcpDialer {
        nodelay: true,
        ..Default::default()
    };
    let dialed = TcpStream::dial_with(&mut io, &dialer, addr, move |io, res| match res {
        Ok(c) => tcp_round(io, c, vec![0u8; MSG_LEN], r),
        Err(e) => {
            *f.borrow_mut() = Some(format!("dial: {e}"));
            let _ = io.close();
        }
    });
    let mut err = dialed.err().map(|e| format!("dial: {e}"));
    if err.is_none() {
        err = drive(&mut io, hot).err();
    }
    let err = err.or_else(|| failed.take());
    sonic_client_end(io, rec, err)
}

type SonicUdp = PacketConn<sock::UdpConn>;

/// Echoes datagrams to their senders until an empty one (the bye) or an error.
fn serve_udp(io: &mut Io, s: SonicUdp, buf: Vec<u8>, e: Rc<Echoes>) {
    let armed = s.async_read_from(io, buf, move |io, r, mut buf| {
        let (n, from) = match r {
            Ok((n, from)) if n > 0 => (n, from),
            _ => {
                let _ = io.close();
                return;
            }
        };
        buf.truncate(n);
        let armed = s.async_write_to(io, buf, &from, move |io, r, mut buf| {
            if r.is_err() {
                let _ = io.close();
                return;
            }
            buf.resize(MSG_LEN, 0);
            e.bump(io);
            serve_udp(io, s, buf, e);
        });
        if armed.is_err() {
            let _ = io.close();
        }
    });
    if armed.is_err() {
        let _ = io.close();
    }
}

pub(crate) fn sonic_udp_server(
    s: std::net::UdpSocket,
    backend: Backend,
    hot: bool,
    warmup: u64,
    backstop_after: Duration,
) -> Result<Option<Cost>, String> {
    let mut io = new_io(backend, 64)?;
    backstop(&mut io, backstop_after);
    let s = sock::UdpConn::try_from(s).map_err(|e| e.to_string())?;
    let s = PacketConn::add(&mut io, s).map_err(|e| e.to_string())?;
    let e = Echoes::new(warmup);
    serve_udp(&mut io, s, vec![0u8; MSG_LEN], e.clone());
    drive(&mut io, hot)?;
    Ok(Some(e.cost(io.stats())))
}

/// One UDP round trip on a connected socket; the next starts from the read's callback.
fn udp_round(io: &mut Io, c: SonicUdp, buf: Vec<u8>, rec: Rec) {
    let t0 = Instant::now();
    let armed = c.async_write(io, &MSG, move |io, r, _| {
        if r.is_err() {
            let _ = io.close();
            return;
        }
        let armed = c.async_read(io, buf, move |io, r, buf| {
            if r.is_err() {
                let _ = io.close();
                return;
            }
            if record(io, &rec, t0) {
                udp_round(io, c, buf, rec);
            } else {
                let _ = io.close();
            }
        });
        if armed.is_err() {
            let _ = io.close();
        }
    });
    if armed.is_err() {
        let _ = io.close();
    }
}

pub(crate) fn sonic_udp_client(addr: SocketAddr, backend: Backend, hot: bool, plan: Plan) -> Run {
    let mut io = match new_io(backend, 64) {
        Ok(io) => io,
        Err(e) => return Run::failed(e),
    };
    backstop(&mut io, plan.cap + CLIENT_SLACK);
    let c = match sock::UdpConn::dial(None, addr).and_then(|s| PacketConn::add(&mut io, s)) {
        Ok(c) => c,
        Err(e) => return Run::failed(format!("udp dial: {e}")),
    };
    let rec = Rc::new(RefCell::new(Recorder::new(&plan)));
    udp_round(&mut io, c, vec![0u8; MSG_LEN], rec.clone());
    let err = drive(&mut io, hot).err();
    sonic_client_end(io, rec, err)
}
