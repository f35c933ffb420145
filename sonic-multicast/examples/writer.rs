//! Sends numbered datagrams to a group through one interface.
//!
//! ```text
//! cargo run -p sonic-multicast --example writer -- [--group 239.1.2.3] [--port 5000]
//!     [--iface lo] [--count 10] [--interval-ms 100]
//! ```
//!
//! The defaults stay on `lo` (TTL 1, loop on, so a `reader` on this host receives them).

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use sonic_io::{Io, Timer};
use sonic_multicast::{Iface, UdpPeer};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() -> sonic_multicast::Result<()> {
    let group: IpAddr = arg("--group", "239.1.2.3").parse().expect("--group");
    let port: u16 = arg("--port", "5000").parse().expect("--port");
    let iface = arg("--iface", "lo");
    let count: u64 = arg("--count", "10").parse().expect("--count");
    let interval: u64 = arg("--interval-ms", "100").parse().expect("--interval-ms");
    let any: IpAddr = if group.is_ipv4() {
        "0.0.0.0".parse().unwrap()
    } else {
        "::".parse().unwrap()
    };
    let mut io = Io::new()?;
    let peer = UdpPeer::bind(&mut io, sock::SockaddrAny::from(SocketAddr::new(any, 0)))?;
    peer.set_outbound(&mut io, Iface::Name(&iface))?;
    peer.set_ttl(&mut io, 1)?;
    peer.set_loop(&mut io, true)?;
    let to = sock::SockaddrAny::from(SocketAddr::new(group, port));
    let sent = Rc::new(Cell::new(0u64));
    let s = sent.clone();
    let p = peer.clone();
    let timer = Timer::new(&mut io)?;
    timer.schedule_repeating(
        &mut io,
        Duration::from_millis(interval.max(1)),
        move |io, _| {
            if s.get() >= count {
                return;
            }
            let n = s.get();
            let msg = format!("datagram {n}").into_bytes();
            p.async_write_to(io, msg, &to, |_, r, _| {
                if let Err(e) = r {
                    eprintln!("send failed: {e}");
                }
            })
            .unwrap();
            s.set(n + 1);
        },
    )?;
    while sent.get() < count {
        io.run_one()?;
    }
    timer.cancel(&mut io);
    println!(
        "sent {count} datagrams to {group}:{port} via {iface}: {:?}",
        peer.stats()
    );
    Ok(())
}
