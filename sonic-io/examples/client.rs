//! The seed's client example: 10 connections to an echo server, each sending numbered
//! messages and checking the echo.
//!
//! `cargo run -p sonic-io --example client -- [--port P] [--messages N]`
//!
//! With no server on the port it starts one of its own (on another thread), so the
//! example runs alone.

use std::cell::Cell;
use std::rc::Rc;

use sonic_io::{Io, TcpStream};

fn exchange(io: &mut Io, c: TcpStream, id: usize, seq: u64, left: u64, done: Rc<Cell<usize>>) {
    let msg = format!("conn {id} message {seq:06}\n").into_bytes();
    let len = msg.len();
    c.async_write_all(io, msg, move |io, r, _| {
        r.expect("write");
        c.async_read_exact(io, vec![0u8; len], move |io, r, buf| {
            r.expect("read");
            assert_eq!(
                buf,
                format!("conn {id} message {seq:06}\n").into_bytes(),
                "echo matches"
            );
            if left > 1 {
                exchange(io, c, id, seq + 1, left - 1, done);
            } else {
                println!("connection {id}: {} messages echoed", seq + 1);
                done.set(done.get() + 1);
                let _ = c.close(io);
            }
        })
        .expect("arm read");
    })
    .expect("arm write");
}

fn main() -> sonic_io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: u64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let messages = value("--messages", 1000);
    let addr = match args.iter().position(|a| a == "--port") {
        Some(_) => format!("127.0.0.1:{}", value("--port", 8080)),
        None => {
            // A blocking std echo server of our own, on an ephemeral port.
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = l.local_addr().expect("addr").to_string();
            std::thread::spawn(move || {
                for s in l.incoming().take(10).flatten() {
                    std::thread::spawn(move || {
                        let mut r = s.try_clone().expect("clone");
                        let mut w = s;
                        let _ = std::io::copy(&mut r, &mut w);
                    });
                }
            });
            addr
        }
    };
    let mut io = Io::new()?;
    let done = Rc::new(Cell::new(0));
    for id in 0..10 {
        let d = done.clone();
        TcpStream::dial(&mut io, addr.as_str(), move |io, r| {
            let c = r.expect("dial");
            exchange(io, c, id, 0, messages, d);
        })?;
    }
    let start = std::time::Instant::now();
    while done.get() < 10 {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            return Err(sonic_io::Error::new(sonic_io::ErrorKind::TimedOut));
        }
        io.run_one_for(std::time::Duration::from_secs(1))?;
    }
    println!("10 connections done: {:?}", io.stats());
    Ok(())
}
