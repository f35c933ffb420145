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

/// The TCP connections this network namespace has opened actively: the kernel's
/// `ActiveOpens` (`/proc/net/snmp`), counted as a connect sends its SYN. Exact in a private
/// namespace ([`in_netns`](crate::in_netns)), where nothing but the test connects.
#[cfg(target_os = "linux")]
pub fn tcp_active_opens() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp")?;
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return Err(io::Error::other("/proc/net/snmp has no Tcp lines"));
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ActiveOpens")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| io::Error::other("/proc/net/snmp has no ActiveOpens count"))
}
