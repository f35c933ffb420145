//! tokio's harness: a current_thread runtime on each side, one task, one timeout for the
//! whole case (not one per operation).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{CLIENT_SLACK, MSG, MSG_LEN, Plan, Proto, Recorder, Run};

fn tokio_rt() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

async fn tokio_tcp_serve(l: std::net::TcpListener) -> io::Result<()> {
    let l = tokio::net::TcpListener::from_std(l)?;
    let (mut s, _) = l.accept().await?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; MSG_LEN];
    loop {
        if s.read_exact(&mut buf).await.is_err() {
            return Ok(());
        }
        s.write_all(&buf).await?;
    }
}

pub(crate) fn tokio_tcp_server(
    l: std::net::TcpListener,
    backstop_after: Duration,
) -> io::Result<()> {
    l.set_nonblocking(true)?;
    tokio_rt()?.block_on(async move {
        tokio::time::timeout(backstop_after, tokio_tcp_serve(l))
            .await
            .unwrap_or(Ok(()))
    })
}

async fn tokio_tcp_rounds(addr: SocketAddr, rec: &mut Recorder) -> io::Result<()> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; MSG_LEN];
    loop {
        let t0 = Instant::now();
        s.write_all(&MSG).await?;
        s.read_exact(&mut buf).await?;
        if !rec.record(t0) {
            return Ok(());
        }
    }
}

async fn tokio_udp_serve(s: std::net::UdpSocket) -> io::Result<()> {
    let s = tokio::net::UdpSocket::from_std(s)?;
    let mut buf = [0u8; MSG_LEN];
    loop {
        let (n, from) = s.recv_from(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        s.send_to(&buf[..n], from).await?;
    }
}

pub(crate) fn tokio_udp_server(s: std::net::UdpSocket, backstop_after: Duration) -> io::Result<()> {
    s.set_nonblocking(true)?;
    tokio_rt()?.block_on(async move {
        tokio::time::timeout(backstop_after, tokio_udp_serve(s))
            .await
            .unwrap_or(Ok(()))
    })
}

async fn tokio_udp_rounds(addr: SocketAddr, rec: &mut Recorder) -> io::Result<()> {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    s.connect(addr).await?;
    let mut buf = [0u8; MSG_LEN];
    loop {
        let t0 = Instant::now();
        s.send(&MSG).await?;
        s.recv(&mut buf).await?;
        if !rec.record(t0) {
            return Ok(());
        }
    }
}

pub(crate) fn tokio_client(addr: SocketAddr, proto: Proto, plan: Plan) -> Run {
    let mut rec = Recorder::new(&plan);
    let rt = match tokio_rt() {
        Ok(rt) => rt,
        Err(e) => return rec.finish(None, Some(e.to_string())),
    };
    let bound = plan.cap + CLIENT_SLACK;
    let r = rt.block_on(async {
        // One timer for the whole case, not one per operation.
        match proto {
            Proto::Tcp => tokio::time::timeout(bound, tokio_tcp_rounds(addr, &mut rec)).await,
            Proto::Udp => tokio::time::timeout(bound, tokio_udp_rounds(addr, &mut rec)).await,
        }
    });
    let err = match r {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out".into()),
    };
    rec.finish(None, err)
}
