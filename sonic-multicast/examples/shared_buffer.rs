//! Several peers advancing through one buffer, without a copy and without `unsafe`: the
//! seed's `SetAsyncReadBuffer` pattern.
//!
//! Three peers join three groups on `lo` (the same port); one Io-owned block receives
//! everything. Every peer arms its read on the block's free tail; the first datagram fills
//! it, and the callback moves the cursor past it and redirects the other armed reads to the
//! new tail with `set_async_read_buffer`. The block ends up holding the datagrams back to
//! back, in arrival order, whichever peer took each.
//!
//! ```text
//! cargo run -p sonic-multicast --example shared_buffer -- [--iface lo] [--count 12]
//! ```

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sock::SockaddrAny;
use sonic_io::{BytesId, Io};
use sonic_multicast::{Iface, UdpPeer};

/// The largest datagram one read takes.
const SLOT: usize = 1500;

struct Log {
    block: BytesId,
    /// Where the next datagram goes.
    cursor: usize,
    peers: Vec<UdpPeer>,
    /// (peer, offset, length) of each datagram, in arrival order.
    entries: Vec<(usize, usize, usize)>,
}

/// Arms peer `i`'s read on the block's free tail.
fn arm(io: &mut Io, log: &Rc<RefCell<Log>>, i: usize) {
    let (block, cursor, peer) = {
        let l = log.borrow();
        (l.block, l.cursor, l.peers[i].clone())
    };
    let tail = io.region(block, cursor..cursor + SLOT).unwrap();
    let l = log.clone();
    peer.async_read(io, tail, move |io, r, _| {
        let Ok((n, _)) = r else { return };
        let (block, others, next) = {
            let mut g = l.borrow_mut();
            let at = g.cursor;
            g.entries.push((i, at, n));
            g.cursor += n;
            let others: Vec<UdpPeer> = g
                .peers
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, p)| p.clone())
                .collect();
            (g.block, others, g.cursor)
        };
        // The others were waiting on the same tail: move them past this datagram.
        let tail = io.region(block, next..next + SLOT).unwrap();
        for p in others {
            p.set_async_read_buffer(io, tail).unwrap();
        }
        arm(io, &l, i);
    })
    .unwrap();
}

fn main() -> sonic_multicast::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let iface = arg("--iface", "lo");
    let count: usize = arg("--count", "12").parse().expect("--count");
    let groups: [IpAddr; 3] = [
        Ipv4Addr::new(239, 5, 5, 1).into(),
        Ipv4Addr::new(239, 5, 5, 2).into(),
        Ipv4Addr::new(239, 5, 5, 3).into(),
    ];
    let mut io = Io::new()?;
    let first = UdpPeer::bind(&mut io, "0.0.0.0:0")?;
    let port = first.local_addr().port();
    let mut peers = vec![first];
    for _ in 1..groups.len() {
        peers.push(UdpPeer::bind(&mut io, format!("0.0.0.0:{port}").as_str())?);
    }
    for (p, g) in peers.iter().zip(groups) {
        p.join_on(&mut io, g, Iface::Name(&iface))?;
    }
    let block = io.add_bytes(vec![0u8; count * 64 + SLOT])?;
    let log = Rc::new(RefCell::new(Log {
        block,
        cursor: 0,
        peers: peers.clone(),
        entries: Vec::new(),
    }));
    for i in 0..peers.len() {
        arm(&mut io, &log, i);
    }

    let writer = UdpPeer::bind(&mut io, "0.0.0.0:0")?;
    writer.set_outbound(&mut io, Iface::Name(&iface))?;
    writer.set_loop(&mut io, true)?;
    let end = Instant::now() + Duration::from_secs(5);
    for k in 0..count {
        let g = groups[k % groups.len()];
        let msg = format!("#{k} to {g}");
        writer.write_to(
            &io,
            msg.as_bytes(),
            &SockaddrAny::from(SocketAddr::new(g, port)),
        )?;
        while log.borrow().entries.len() <= k && Instant::now() < end {
            io.run_one_for(Duration::from_millis(100))?;
        }
    }
    let (entries, cursor) = {
        let l = log.borrow();
        (l.entries.clone(), l.cursor)
    };
    for p in &peers {
        p.close(&mut io)?;
    }
    println!(
        "{} datagrams, {cursor} bytes, back to back in one block:",
        entries.len()
    );
    for (i, at, n) in entries {
        let bytes = io.bytes(io.region(block, at..at + n)?)?;
        println!("  peer {i} at {at:4}: {}", String::from_utf8_lossy(bytes));
    }
    Ok(())
}
