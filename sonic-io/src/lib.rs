//! A single-threaded completion reactor for the lowest latency.
//!
//! One [`Io`] per thread owns sockets, files, timers and buffers and drives them with
//! completion callbacks. Each operation tries its syscall at once and completes inline when
//! it can (the seed's immediate completion, bounded by [`MAX_DEPTH`] nested callbacks);
//! otherwise it waits, with no further syscall, for an edge of the one registration its
//! object made (edge-triggered epoll with cached readiness; kqueue `EV_CLEAR` on macOS and
//! FreeBSD). Callbacks and their buffers live inline in the operation record
//! ([`PAYLOAD_BYTES`]): nothing is allocated per operation, and a closure too large for
//! the record is a build error, not a hidden allocation.
//!
//! | item | what |
//! |---|---|
//! | [`Io`], [`IoBuilder`] | the reactor and its drive calls: [`run`](Io::run), [`run_one`](Io::run_one), [`run_one_for`](Io::run_one_for), [`run_pending`](Io::run_pending), [`run_warm`](Io::run_warm), [`poll_one`](Io::poll_one), [`poll`](Io::poll) |
//! | [`TcpStream`], [`UnixStream`] ([`Stream`]) | `dial`, `async_read`, `async_read_exact`, `async_write`, `async_write_all`, `async_read_into`/`async_write_from` a FIFO, `cancel`, `close`, `shutdown` |
//! | [`Listener`] | `async_accept` (accept4, EMFILE does not kill it) |
//! | [`PacketConn`] | `async_read_from`, `async_write_to`, connected reads and writes, batch reads into [`Datagrams`] (`recvmmsg`), ENOBUFS handling; kernel receive stamps ([`Timestamp`]) with `async_read_from_timestamped` and [`Datagram::timestamp`] |
//! | [`File`] | regular files: always ready, complete at once |
//! | [`Adapter`] | any non-blocking `Read + Write + AsFd` (TLS) with the same API |
//! | [`Timer`] | one-shot and drift-free repeating timers on one heap; no syscall to arm |
//! | [`Poster`] | run closures on the Io from other threads |
//! | [`Region`], [`BytesId`] | Io-owned blocks that several armed reads target |
//! | [`codec`] | [`Decoder`](codec::Decoder)/[`Encoder`](codec::Encoder), [`CodecConn`](codec::CodecConn), the 4-byte length [`Frame`](codec::Frame) |
//! | [`ByteStream`], [`StreamId`] | the byte-stream seam: codecs run over a stream, an adapter or a type built on one (TLS) alike |
//! | [`Stats`] | syscalls and completions, counted by the Io itself |
//! | [`shard`] | scale-out: N Ios on N pinned threads, one `SO_REUSEPORT` socket each, placed by hash, `SO_INCOMING_CPU` or a CPU-aware BPF program; orderly shutdown |
//!
//! `sonic-io/DESIGN.md` explains the choices: ownership, readiness, the dispatch depth,
//! close, timers, posts.
//!
//! ```
//! use sonic_io::{Io, Listener, TcpStream};
//!
//! let mut io = Io::new().unwrap();
//! let l = Listener::add(&mut io, sock::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
//! let addr = l.get(&io).unwrap().local_addr().unwrap();
//! // Echo one message back.
//! l.async_accept(&mut io, |io, r| {
//!     let (conn, _peer) = r.unwrap();
//!     conn.async_read(io, vec![0u8; 64], move |io, r, mut buf| {
//!         buf.truncate(r.unwrap());
//!         conn.async_write_all(io, buf, |_, r, _| assert_eq!(r.unwrap(), 5)).unwrap();
//!     })
//!     .unwrap();
//! })
//! .unwrap();
//! TcpStream::dial(&mut io, addr, |io, r| {
//!     let c = r.unwrap();
//!     c.async_write_all(io, b"hello", |_, r, _| r.map(drop).unwrap()).unwrap();
//!     c.async_read_exact(io, vec![0u8; 5], |io, r, buf| {
//!         assert_eq!(&buf[..r.unwrap()], b"hello");
//!         io.close().unwrap();
//!     })
//!     .unwrap();
//! })
//! .unwrap();
//! io.run().unwrap();
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod backend;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod batch;
mod buf;
pub mod codec;
mod error;
mod file;
mod handle;
mod heap;
mod io;
mod listener;
mod object;
mod op;
mod ops;
mod packet;
mod post;
mod poster;
mod raw;
mod ready;
pub mod shard;
mod slab;
mod stats;
mod stream;
mod sys;
mod timer;

pub use adapter::Adapter;
pub use backend::{BACKEND_ENV, Backend, BackendUsed, BusyPoll};
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub use batch::{Datagram, Datagrams};
pub use buf::{BytesId, IoBuf, IoBufMut, Region};
pub use error::{Partial, Rejected};
pub use file::{File, FileOf, FileSock};
pub use io::{Io, IoBuilder, MAX_DEPTH};
pub use listener::{Listener, ListenerSock, TcpAcceptor};
pub use object::{AdapterIo, ReadAhead, Register};
pub use packet::{PacketConn, PacketSock, UdpSocket};
pub use poster::Poster;
pub use raw::payload::PAYLOAD_BYTES;
pub use stats::Stats;
pub use stream::{ByteStream, Stream, StreamId, StreamSock, TcpStream, UnixStream};
pub use timer::Timer;

/// A kernel timestamp (`CLOCK_REALTIME`), as `sock::timestamp` reads it.
pub use sock::timestamp::Timestamp;

pub use iox::{Error, ErrorKind, Result};

/// Pins the calling thread to CPU `cpu`, for a hot loop that should own a core (Linux;
/// `Unsupported` elsewhere).
pub fn pin_thread(cpu: usize) -> Result<()> {
    raw::calls::pin_thread(cpu)
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
