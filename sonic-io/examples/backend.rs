//! Which backend an `Io` gets on this machine: builds one with `Backend::Auto` and prints
//! the backend in use and, when io_uring was refused, why (a seccomp filter,
//! `kernel.io_uring_disabled`, an old kernel). `cargo xtask ci` runs it to decide whether
//! the io_uring half of the test matrix can run here.
//!
//! `cargo run -p sonic-io --example backend`

use sonic_io::{Backend, Io};

fn main() -> Result<(), sonic_io::Error> {
    let io = Io::builder().backend(Backend::Auto).build()?;
    // One line: "io_uring (stream reads in the ring)", or "epoll (io_uring unavailable:
    // <reason>)".
    println!("{}", io.backend());
    Ok(())
}
