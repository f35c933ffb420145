//! A TCP echo server on one thread.
//!
//! `cargo run --release -p sonic-io --example echo_server -- [--hot] [--port P] [--seconds S]`
//!
//! `--hot` busy-polls (lowest latency, one core at 100 %); without it the loop blocks in
//! the kernel between events. It stops after `--seconds` (default 60).

use std::time::Duration;

use sonic_io::{Io, Listener, TcpStream, Timer};

fn serve(io: &mut Io, conn: TcpStream, buf: Vec<u8>) {
    let r = conn.async_read(io, buf, move |io, r, mut buf| match r {
        Ok(0) | Err(_) => {
            let _ = conn.close(io);
        }
        Ok(n) => {
            let cap = buf.len();
            buf.truncate(n);
            let w = conn.async_write_all(io, buf, move |io, r, mut buf| {
                if r.is_ok() {
                    buf.resize(cap, 0);
                    serve(io, conn, buf);
                } else {
                    let _ = conn.close(io);
                }
            });
            if w.is_err() {
                let _ = conn.close(io);
            }
        }
    });
    if r.is_err() {
        let _ = conn.close(io);
    }
}

fn accept(io: &mut Io, l: Listener<sock::TcpListener>) {
    let r = l.async_accept(io, move |io, r| {
        match r {
            Ok((conn, peer)) => {
                let _ = conn.get(io).map(|c| c.set_nodelay(true));
                eprintln!("accepted {peer}");
                serve(io, conn, vec![0u8; 4096]);
            }
            // EMFILE and friends: report and keep accepting.
            Err(e) => eprintln!("accept: {e}"),
        }
        accept(io, l);
    });
    if let Err(e) = r {
        eprintln!("async_accept: {e}");
    }
}

fn main() -> sonic_io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hot = args.iter().any(|a| a == "--hot");
    let value = |flag: &str, default: u64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let port = value("--port", 8080);
    let seconds = value("--seconds", 60);

    let mut io = Io::builder().objects(1024).build()?;
    let l = Listener::add(
        &mut io,
        sock::TcpListener::bind(format!("127.0.0.1:{port}").as_str())?,
    )?;
    println!(
        "echo server on {} ({} loop) for {seconds} s",
        l.get(&io)?.local_addr()?,
        if hot { "hot" } else { "blocking" }
    );
    accept(&mut io, l);
    let stop = Timer::new(&mut io)?;
    stop.schedule_once(&mut io, Duration::from_secs(seconds), |io, _| {
        io.close().unwrap()
    })?;
    if hot {
        // Spin through empty turns; block (1 ms) only after a long idle stretch.
        io.run_warm(1_000_000, Duration::from_millis(1))?;
    } else {
        io.run()?;
    }
    println!("stopped: {:?}", io.stats());
    Ok(())
}
