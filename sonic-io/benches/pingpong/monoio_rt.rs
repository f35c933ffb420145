//! monoio's harness: its io_uring driver (`RuntimeBuilder::<IoUringDriver>`, a runtime on the
//! current thread, as every monoio runtime is) on each side, one task, one timeout for the
//! whole case (not one per operation). monoio's I/O takes its buffer by value (the kernel
//! owns it while an operation is in flight): each side allocates one before its loop and
//! passes it in and takes it back on every operation. The sockets stay in blocking mode, as
//! monoio's own are under io_uring: the ring tries a socket operation without blocking and
//! arms a poll when it would block, whatever the descriptor's mode. monoio counts no
//! syscalls, so its rows have none (`strace -f -c` here: 2 `io_uring_enter` per round trip
//! per side, one for each operation awaited).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
use monoio::time::TimeDriver;
use monoio::{IoUringDriver, Runtime, RuntimeBuilder};

use crate::harness::{CLIENT_SLACK, MSG, MSG_LEN, Plan, Proto, Recorder, Run};

type Rt = Runtime<TimeDriver<IoUringDriver>>;

/// A monoio runtime on the io_uring driver, with its timer (for the backstops).
fn monoio_rt() -> io::Result<Rt> {
    RuntimeBuilder::<IoUringDriver>::new()
        .enable_timer()
        .build()
}

/// Whether this machine lets monoio set up its ring (a container's seccomp profile, a
/// `kernel.io_uring_disabled` sysctl or user-mode QEMU may not): run before a case, so that a
/// refused ring fails the row at once instead of leaving the other side to its backstop.
pub(crate) fn probe() -> Result<(), String> {
    monoio_rt()
        .map(drop)
        .map_err(|e| format!("io_uring unavailable: {e}"))
}

async fn tcp_serve(l: std::net::TcpListener) -> io::Result<()> {
    let l = monoio::net::TcpListener::from_std(l)?;
    let (mut s, _) = l.accept().await?;
    s.set_nodelay(true)?;
    let mut buf = Box::new([0u8; MSG_LEN]);
    loop {
        let (r, b) = s.read_exact(buf).await;
        if r.is_err() {
            // The client's close (an end of file or a reset): the end either way.
            return Ok(());
        }
        let (r, b) = s.write_all(b).await;
        r?;
        buf = b;
    }
}

pub(crate) fn monoio_tcp_server(
    l: std::net::TcpListener,
    backstop_after: Duration,
) -> io::Result<()> {
    monoio_rt()?.block_on(async move {
        monoio::time::timeout(backstop_after, tcp_serve(l))
            .await
            .unwrap_or(Ok(()))
    })
}

async fn tcp_rounds(addr: SocketAddr, rec: &mut Recorder) -> io::Result<()> {
    let mut s = monoio::net::TcpStream::connect_addr(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = Box::new([0u8; MSG_LEN]);
    loop {
        let t0 = Instant::now();
        s.write_all(&MSG).await.0?;
        let (r, b) = s.read_exact(buf).await;
        r?;
        buf = b;
        if !rec.record(t0) {
            return Ok(());
        }
    }
}

async fn udp_serve(s: std::net::UdpSocket) -> io::Result<()> {
    let s = monoio::net::udp::UdpSocket::from_std(s)?;
    let mut buf = Box::new([0u8; MSG_LEN]);
    loop {
        let (r, b) = s.recv_from(buf).await;
        let (n, from) = r?;
        if n == 0 {
            return Ok(());
        }
        let (r, b) = s.send_to(b.slice(..n), from).await;
        r?;
        buf = b.into_inner();
    }
}

pub(crate) fn monoio_udp_server(
    s: std::net::UdpSocket,
    backstop_after: Duration,
) -> io::Result<()> {
    monoio_rt()?.block_on(async move {
        monoio::time::timeout(backstop_after, udp_serve(s))
            .await
            .unwrap_or(Ok(()))
    })
}

async fn udp_rounds(addr: SocketAddr, rec: &mut Recorder) -> io::Result<()> {
    let s = monoio::net::udp::UdpSocket::bind("127.0.0.1:0")?;
    s.connect(addr).await?;
    let mut buf = Box::new([0u8; MSG_LEN]);
    loop {
        let t0 = Instant::now();
        s.send(&MSG).await.0?;
        let (r, b) = s.recv(buf).await;
        r?;
        buf = b;
        if !rec.record(t0) {
            return Ok(());
        }
    }
}

pub(crate) fn monoio_client(addr: SocketAddr, proto: Proto, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let mut rt = match monoio_rt() {
        Ok(rt) => rt,
        Err(e) => return rec.finish(None, Some(format!("io_uring unavailable: {e}"))),
    };
    let bound = plan.cap + CLIENT_SLACK;
    let r = rt.block_on(async {
        // One timer for the whole case, not one per operation.
        match proto {
            Proto::Tcp => monoio::time::timeout(bound, tcp_rounds(addr, &mut rec)).await,
            Proto::Udp => monoio::time::timeout(bound, udp_rounds(addr, &mut rec)).await,
        }
    });
    let err = match r {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out".into()),
    };
    rec.finish(None, err)
}
