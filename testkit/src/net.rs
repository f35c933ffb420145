//! Loopback pairs on ephemeral ports.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

/// A connected TCP pair on 127.0.0.1: `(client, server side)`, both blocking.
pub fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, peer) = listener.accept()?;
    debug_assert_eq!(peer, client.local_addr()?);
    Ok((client, server))
}

/// Two UDP sockets on 127.0.0.1, each connected to the other.
pub fn udp_pair() -> io::Result<(UdpSocket, UdpSocket)> {
    let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let (aa, ba): (SocketAddr, SocketAddr) = (a.local_addr()?, b.local_addr()?);
    a.connect(ba)?;
    b.connect(aa)?;
    Ok((a, b))
}
