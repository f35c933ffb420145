//! A TLS 1.3 echo server and client on loopback, each on its own thread and Io, with a
//! self-signed certificate made at start-up (rcgen). The client runs a bounded number of
//! round trips and prints the latency percentiles.
//!
//! `cargo run --release -p sonic-tls --example tls_echo [round_trips] [message_bytes]`

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use sonic_bytes::ByteBuffer;
use sonic_io::{Io, Listener, TcpStream};
use sonic_tls::{ClientOptions, ServerOptions, TlsStream, Versions};

fn main() -> iox::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .map_or(20_000, |a| a.parse().expect("round trips"));
    let size: usize = args
        .next()
        .map_or(64, |a| a.parse().expect("message bytes"));

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let server_config = ServerOptions::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
        .versions(Versions::Tls13)
        .build()?;
    let client_config = ClientOptions::new()
        .pem_roots(cert_pem.as_bytes())?
        .versions(Versions::Tls13)
        .build()?;

    let listener = sock::TcpListener::bind("127.0.0.1:0")?;
    let addr = std::net::SocketAddr::try_from(listener.local_addr()?)
        .map_err(|_| iox::Error::invalid_input("not an inet address"))?;
    let server = std::thread::spawn(move || -> iox::Result<()> {
        let mut io = Io::new()?;
        let l = Listener::add(&mut io, listener)?;
        l.async_accept(&mut io, move |io, r| {
            let (tcp, _) = r.expect("accept");
            // Without TCP_NODELAY the last segment of a large echo waits for the client's
            // delayed ACK: 44 ms per 100 KB round trip here.
            tcp.get(io)
                .and_then(|t| t.set_nodelay(true))
                .expect("nodelay");
            TlsStream::accept(io, tcp, server_config, move |io, r| {
                let tls = r.expect("server handshake");
                echo(io, tls, ByteBuffer::with_capacity(READ_MAX));
            })
            .expect("accept TLS");
        })?;
        io.run()
    });

    let mut io = Io::new()?;
    let samples = Rc::new(RefCell::new(Vec::with_capacity(rounds)));
    let s = samples.clone();
    TcpStream::dial(&mut io, addr, move |io, r| {
        let tcp = r.expect("dial");
        tcp.get(io)
            .and_then(|t| t.set_nodelay(true))
            .expect("nodelay");
        TlsStream::connect(io, tcp, client_config, "localhost", move |io, r| {
            let tls = r.expect("client handshake");
            ping(io, tls, vec![7u8; size], rounds, s);
        })
        .expect("connect TLS");
    })?;
    io.run()?;
    server.join().expect("server thread")?;

    let mut ns: Vec<u64> = samples.borrow().iter().map(|d| *d as u64).collect();
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "TLS 1.3 echo, {size} B, {} round trips on loopback: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
        ns.len(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    Ok(())
}

/// The most one read takes from the TLS stream.
const READ_MAX: usize = 64 << 10;

/// The server: echo what arrives until the client's close_notify, then close. Plaintext
/// lands in the FIFO's free space and the write sends it from there: nothing is copied or
/// cleared per message (a `Vec` target would be truncated to the count and zeroed back).
fn echo(io: &mut Io, tls: TlsStream, fifo: ByteBuffer) {
    tls.async_read_into(io, fifo, READ_MAX, move |io, r, fifo| match r {
        Ok(0) | Err(_) => {
            let _ = tls.close(io, |io, _| io.close().expect("close the server's Io"));
        }
        Ok(_) => {
            tls.async_write_from(io, fifo, move |io, r, fifo| {
                r.expect("echo");
                echo(io, tls, fifo);
            })
            .expect("write");
        }
    })
    .expect("read");
}

/// The client: `left` round trips, each timed from the write to the whole echo.
fn ping(io: &mut Io, tls: TlsStream, buf: Vec<u8>, left: usize, samples: Rc<RefCell<Vec<u128>>>) {
    if left == 0 {
        tls.close(io, |io, r| {
            r.expect("close");
            io.close().expect("close the client's Io");
        })
        .expect("close");
        return;
    }
    let t0 = Instant::now();
    tls.async_write_all(io, buf, move |io, r, buf| {
        r.expect("write");
        tls.async_read_exact(io, buf, move |io, r, buf| {
            r.expect("read");
            samples.borrow_mut().push(t0.elapsed().as_nanos());
            ping(io, tls, buf, left - 1, samples);
        })
        .expect("read");
    })
    .expect("write");
}
