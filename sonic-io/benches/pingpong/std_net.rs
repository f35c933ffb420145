//! std's harness: blocking `std::net` sockets, a thread per side, no poller.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::harness::{CLIENT_SLACK, MSG, MSG_LEN, Plan, Recorder, Run};

pub(crate) fn accept_bounded(
    l: &std::net::TcpListener,
    deadline: Instant,
) -> io::Result<std::net::TcpStream> {
    l.set_nonblocking(true)?;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(ErrorKind::TimedOut, "no client connected"));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn std_tcp_server(l: std::net::TcpListener, backstop_after: Duration) -> io::Result<()> {
    let deadline = Instant::now() + backstop_after;
    let mut s = accept_bounded(&l, deadline)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(backstop_after))?;
    let mut buf = [0u8; MSG_LEN];
    while Instant::now() < deadline {
        if s.read_exact(&mut buf).is_err() || s.write_all(&buf).is_err() {
            break;
        }
    }
    Ok(())
}

pub(crate) fn std_tcp_client(addr: SocketAddr, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let r = (|| -> io::Result<()> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(plan.cap + CLIENT_SLACK))?;
        let mut buf = [0u8; MSG_LEN];
        loop {
            let t0 = Instant::now();
            s.write_all(&MSG)?;
            s.read_exact(&mut buf)?;
            if !rec.record(t0) {
                return Ok(());
            }
        }
    })();
    rec.finish(None, r.err().map(|e| e.to_string()))
}

pub(crate) fn std_udp_server(s: std::net::UdpSocket, backstop_after: Duration) -> io::Result<()> {
    let deadline = Instant::now() + backstop_after;
    s.set_read_timeout(Some(backstop_after))?;
    let mut buf = [0u8; MSG_LEN];
    while Instant::now() < deadline {
        match s.recv_from(&mut buf) {
            Ok((0, _)) | Err(_) => break,
            Ok((n, from)) => {
                s.send_to(&buf[..n], from)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn std_udp_client(addr: SocketAddr, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let r = (|| -> io::Result<()> {
        let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
        s.connect(addr)?;
        s.set_read_timeout(Some(plan.cap + CLIENT_SLACK))?;
        let mut buf = [0u8; MSG_LEN];
        loop {
            let t0 = Instant::now();
            s.send(&MSG)?;
            s.recv(&mut buf)?;
            if !rec.record(t0) {
                return Ok(());
            }
        }
    })();
    rec.finish(None, r.err().map(|e| e.to_string()))
}
