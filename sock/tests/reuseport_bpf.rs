//! `SO_ATTACH_REUSEPORT_CBPF`: a classic BPF program picks the listener of a reuseport group.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::time::{Duration, Instant};

use sock::bpf::{FALLBACK, Insn, Program, attach_reuseport_cbpf, detach_reuseport_bpf};
use sock::{Family, ListenOptions, TcpConn, TcpListener};

const REUSE: ListenOptions = ListenOptions {
    backlog: 64,
    reuse_address: true,
    reuse_port: true,
    only_v6: None,
};

fn group() -> [TcpListener; 2] {
    let a = TcpListener::bind_with("127.0.0.1:0", Family::V4, REUSE).unwrap();
    let b = TcpListener::bind_with(a.local_addr().unwrap(), Family::V4, REUSE).unwrap();
    [a, b]
}

/// Connects `n` clients and returns how many each listener accepted (bounded: 5 s).
fn spread(ls: &[TcpListener; 2], n: usize) -> [usize; 2] {
    let addr = ls[0].local_addr().unwrap();
    let clients: Vec<TcpConn> = (0..n).map(|_| TcpConn::connect(addr).unwrap()).collect();
    let mut got = [0usize; 2];
    let end = Instant::now() + Duration::from_secs(5);
    while got.iter().sum::<usize>() < n && Instant::now() < end {
        for (i, l) in ls.iter().enumerate() {
            let mut peer = sockaddr::SockaddrStorage::new();
            match l.try_accept_into(&mut peer) {
                Ok(_) => got[i] += 1,
                Err(e) if e.is_would_block() => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
    drop(clients);
    got
}

fn skip_under_qemu() -> bool {
    testkit::under_qemu()
}

#[test]
fn a_program_returning_one_sends_every_connection_to_the_second_listener() {
    if skip_under_qemu() {
        testkit::skip!("qemu-user does not translate SO_ATTACH_REUSEPORT_CBPF");
    }
    let ls = group();
    attach_reuseport_cbpf(&ls[0], &Program::new(vec![Insn::ret(1)]).unwrap()).unwrap();
    assert_eq!(spread(&ls, 16), [0, 16]);
    // Replaced: now every connection goes to the first.
    attach_reuseport_cbpf(&ls[1], &Program::new(vec![Insn::ret(0)]).unwrap()).unwrap();
    assert_eq!(spread(&ls, 16), [16, 0]);
}

#[test]
fn an_index_past_the_group_falls_back_to_the_kernel_hash() {
    if skip_under_qemu() {
        testkit::skip!("qemu-user does not translate SO_ATTACH_REUSEPORT_CBPF");
    }
    let ls = group();
    attach_reuseport_cbpf(&ls[0], &Program::new(vec![Insn::ret(FALLBACK)]).unwrap()).unwrap();
    // Every connection is served by one of them; nothing is asserted about the spread.
    assert_eq!(spread(&ls, 16).iter().sum::<usize>(), 16);
    // The CPU program on CPUs no socket runs on falls back too.
    let p = Program::index_by_cpu(&[100_000]).unwrap();
    attach_reuseport_cbpf(&ls[0], &p).unwrap();
    assert_eq!(spread(&ls, 16).iter().sum::<usize>(), 16);
    detach_reuseport_bpf(&ls[0]).unwrap();
    assert_eq!(spread(&ls, 16).iter().sum::<usize>(), 16);
}

#[test]
fn the_kernel_checker_refuses_an_unknown_opcode() {
    if skip_under_qemu() {
        testkit::skip!("qemu-user does not translate SO_ATTACH_REUSEPORT_CBPF");
    }
    let ls = group();
    let bad = Program::new(vec![Insn::raw(0xffff, 0, 0, 0), Insn::ret(0)]).unwrap();
    let e = attach_reuseport_cbpf(&ls[0], &bad).unwrap_err();
    assert_eq!(e.kind(), iox::ErrorKind::InvalidInput, "{e}");
}
