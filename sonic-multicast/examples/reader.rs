//! Joins a group and prints what arrives, for a number of datagrams or seconds.
//!
//! ```text
//! cargo run -p sonic-multicast --example reader -- [--group 239.1.2.3] [--port 5000]
//!     [--iface lo] [--source 127.0.0.1] [--count 10] [--seconds 10]
//! ```
//!
//! With `--source`, the join is source-specific. The defaults stay on `lo`; pair it with
//! the `writer` example.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sonic_io::Io;
use sonic_multicast::{Iface, UdpPeer};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// Reads one datagram, prints it, and arms the next read while `left` is above zero.
fn read(io: &mut Io, peer: UdpPeer, buf: Vec<u8>, left: Rc<Cell<u64>>) {
    let p = peer.clone();
    peer.async_read(io, buf, move |io, r, buf| {
        let Ok((n, from)) = r else { return };
        println!(
            "{n} bytes from {from}: {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        left.set(left.get().saturating_sub(1));
        if left.get() > 0 {
            read(io, p, buf, left);
        }
    })
    .unwrap();
}

fn main() -> sonic_multicast::Result<()> {
    let group: IpAddr = arg("--group", "239.1.2.3").parse().expect("--group");
    let port: u16 = arg("--port", "5000").parse().expect("--port");
    let iface = arg("--iface", "lo");
    let count: u64 = arg("--count", "10").parse().expect("--count");
    let seconds: u64 = arg("--seconds", "10").parse().expect("--seconds");
    let any: IpAddr = if group.is_ipv4() {
        "0.0.0.0".parse().unwrap()
    } else {
        "::".parse().unwrap()
    };
    let mut io = Io::new()?;
    let peer = UdpPeer::bind(&mut io, sock::SockaddrAny::from(SocketAddr::new(any, port)))?;
    match arg("--source", "") {
        s if s.is_empty() => peer.join_on(&mut io, group, Iface::Name(&iface))?,
        s => peer.join_source_on(
            &mut io,
            group,
            s.parse().expect("--source"),
            Iface::Name(&iface),
        )?,
    }
    println!(
        "joined {group} on {iface}, port {port}: {:?}",
        peer.memberships()
    );
    let left = Rc::new(Cell::new(count));
    read(&mut io, peer.clone(), vec![0u8; 65536], left.clone());
    let end = Instant::now() + Duration::from_secs(seconds);
    while left.get() > 0 && Instant::now() < end {
        io.run_one_for(end.saturating_duration_since(Instant::now()))?;
    }
    println!("read stats: {:?}", peer.stats());
    Ok(())
}
