//! After warm-up, a message costs no allocation: sent (serialized into the send FIFO,
//! masked by the client), received (borrowed from the receive FIFO by the client, unmasked
//! into the reused buffer by the server), echoed, with and without permessage-deflate, whole
//! or in fragments with a ping in between (per-thread counting allocator).

mod common;
use common::*;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use sonic_io::{Io, TcpStream};
use sonic_websocket::{ClientConfig, DeflateConfig, Message, Opcode, ServerConfig, WebSocket};

#[global_allocator]
static ALLOC: testkit::CountingAlloc = testkit::CountingAlloc;

type Slot = Rc<RefCell<Option<WebSocket<TcpStream>>>>;

const PAYLOAD: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// One round: the client sends a 64-byte message (whole, or in three fragments with a
/// ping between them), the server echoes it, the client reads it back.
fn ping(
    io: &mut Io,
    mut ws: WebSocket<TcpStream>,
    left: Rc<Cell<usize>>,
    slot: Slot,
    fragmented: bool,
) {
    if fragmented {
        let tx = ws.sender();
        tx.send_frame(io, Opcode::Binary, false, &PAYLOAD[..20])
            .unwrap();
        tx.ping(io, b"p").unwrap();
        tx.send_frame(io, Opcode::Continuation, false, &PAYLOAD[20..40])
            .unwrap();
        tx.send_frame(io, Opcode::Continuation, true, &PAYLOAD[40..])
            .unwrap();
    } else {
        ws.send_binary(io, PAYLOAD).unwrap();
    }
    read_echo(io, ws, left, slot, fragmented);
}

fn read_echo(
    io: &mut Io,
    ws: WebSocket<TcpStream>,
    left: Rc<Cell<usize>>,
    slot: Slot,
    fragmented: bool,
) {
    ws.async_read(io, move |io, r, mut ws| {
        r.unwrap();
        match ws.message() {
            Some(Message::Pong(b"p")) => return read_echo(io, ws, left, slot, fragmented),
            Some(Message::Binary(b)) => assert_eq!(b, PAYLOAD),
            other => panic!("unexpected {other:?}"),
        }
        left.set(left.get() - 1);
        if left.get() > 0 {
            ping(io, ws, left, slot, fragmented);
        } else {
            *slot.borrow_mut() = Some(ws);
        }
    })
    .unwrap();
}

fn rounds(io: &mut Io, slot: &Slot, n: usize, fragmented: bool) {
    let ws = slot.borrow_mut().take().unwrap();
    let left = Rc::new(Cell::new(n));
    ping(io, ws, left.clone(), slot.clone(), fragmented);
    drive(io, || slot.borrow().is_some());
}

fn measure(deflate: bool, fragmented: bool, what: &str) {
    let mut io = Io::new().unwrap();
    let (l, url) = listen(&mut io);
    let (mut scfg, mut ccfg) = (ServerConfig::default(), ClientConfig::default());
    if deflate {
        scfg = scfg.deflate(DeflateConfig::default());
        ccfg = ccfg.deflate(DeflateConfig::default());
    }
    serve_echo(&mut io, l, Rc::new(scfg));
    let slot: Slot = slot();
    let s = slot.clone();
    WebSocket::dial(&mut io, &url, &ccfg, move |_, r| {
        *s.borrow_mut() = Some(r.unwrap())
    })
    .unwrap();
    drive(&mut io, || slot.borrow().is_some());
    assert_eq!(
        slot.borrow()
            .as_ref()
            .unwrap()
            .handshake()
            .deflate
            .is_some(),
        deflate
    );
    // Warm-up: buffers reach their working size.
    rounds(&mut io, &slot, 100, fragmented);
    let ((), short) = testkit::count_allocs(|| rounds(&mut io, &slot, 10, fragmented));
    let ((), long) = testkit::count_allocs(|| rounds(&mut io, &slot, 5_010, fragmented));
    // `rounds` itself allocates its round counter; what 5,000 more round trips add: nothing.
    let extra = long.beyond(short);
    testkit::bench::report_allocs(what, 5_000, extra);
    assert_eq!(
        (extra.allocs, extra.bytes),
        (0, 0),
        "{what}: {long:?} vs {short:?}"
    );
}

#[test]
fn echo_round_trips_allocate_nothing() {
    measure(
        false,
        false,
        "websocket echo round trip, 64 B binary, client and server on one Io",
    );
}

#[test]
fn compressed_echo_round_trips_allocate_nothing() {
    measure(
        true,
        false,
        "websocket echo round trip, 64 B binary, permessage-deflate both ways",
    );
}

#[test]
fn fragmented_messages_with_a_ping_inside_allocate_nothing() {
    measure(
        false,
        true,
        "websocket echo round trip, 64 B in 3 fragments with a ping between",
    );
}
