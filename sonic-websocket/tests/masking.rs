//! Masking keys and handshake nonces come from the OS's cryptographic generator: a raw TCP
//! peer reads what two of our clients in one process put on the wire, and neither key
//! stream repeats itself, follows a fixed step, or meets the other's.

mod common;
use common::*;

use std::collections::HashSet;
use std::io::{Read, Write};

use sonic_io::Io;
use sonic_websocket::{ClientConfig, accept_key};

const FRAMES: usize = 300;

/// Upgrades a client, and reads `FRAMES` masked frames of 8 bytes: returns
/// the handshake nonce and every masking key.
fn raw_server(mut s: std::net::TcpStream) -> (String, Vec<[u8; 4]>) {
    s.set_read_timeout(Some(HANG)).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "the request ended early");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let nonce = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a Sec-WebSocket-Key")
        .trim()
        .to_owned();
    write!(
        s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(nonce.as_bytes())
    )
    .unwrap();
    let mut keys = Vec::new();
    for _ in 0..FRAMES {
        // FIN|binary, MASK|8, key, 8 bytes.
        let mut f = [0u8; 14];
        s.read_exact(&mut f).unwrap();
        assert_eq!(&f[..2], &[0x82, 0x80 | 8]);
        let key = [f[2], f[3], f[4], f[5]];
        let payload: Vec<u8> = f[6..]
            .iter()
            .zip(key.iter().cycle())
            .map(|(b, k)| b ^ k)
            .collect();
        assert_eq!(payload, b"masked!!");
        keys.push(key);
    }
    (nonce, keys)
}

#[test]
fn two_clients_in_one_process_draw_unrelated_keys_from_the_os() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let first = l.accept().unwrap().0;
        let first = std::thread::spawn(move || raw_server(first));
        let second = raw_server(l.accept().unwrap().0);
        (first.join().unwrap(), second)
    });
    let mut io = Io::new().unwrap();
    let mut a = dial(&mut io, &url, &ClientConfig::default());
    let mut b = dial(&mut io, &url, &ClientConfig::default());
    for _ in 0..FRAMES {
        a.send_binary(&mut io, b"masked!!").unwrap();
        b.send_binary(&mut io, b"masked!!").unwrap();
    }
    let a = flush(&mut io, a);
    let b = flush(&mut io, b);
    let ((na, ka), (nb, kb)) = server.join().unwrap();
    let _ = (a.close(&mut io), b.close(&mut io));

    assert_ne!(na, nb, "the handshake nonces");
    for keys in [&ka, &kb] {
        let as_u32: Vec<u32> = keys.iter().map(|k| u32::from_be_bytes(*k)).collect();
        let distinct: HashSet<u32> = as_u32.iter().copied().collect();
        // 300 draws from 2^32: a repeat has probability about 1e-5.
        assert!(
            distinct.len() >= FRAMES - 1,
            "{} distinct keys",
            distinct.len()
        );
        let steps: HashSet<u32> = as_u32.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        assert!(steps.len() >= FRAMES - 2, "keys follow a fixed step");
    }
    let sa: HashSet<[u8; 4]> = ka.iter().copied().collect();
    let shared = kb.iter().filter(|k| sa.contains(*k)).count();
    assert!(shared <= 1, "{shared} keys in common");
    assert!(ka.iter().zip(&kb).filter(|(x, y)| x == y).count() <= 1);
}
