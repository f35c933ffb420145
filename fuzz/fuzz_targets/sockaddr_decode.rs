//! Arbitrary bytes and a claimed length, as a kernel (or a peer) might hand them over,
//! decoded into a `SockaddrAny`: decoding never panics, and whatever decodes re-encodes to
//! an address that decodes to itself, and prints and parses back (IP addresses).
#![no_main]

use sockaddr::{Sockaddr, SockaddrAny, SockaddrStorage};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&claimed, bytes)) = data.split_first() else { return };
    let mut s = SockaddrStorage::new();
    let n = bytes.len().min(s.as_mut_bytes().len());
    s.as_mut_bytes()[..n].copy_from_slice(&bytes[..n]);
    if s.set_len(usize::from(claimed)).is_err() {
        assert!(usize::from(claimed) > 128);
        return;
    }
    let Ok(a) = s.decode() else { return };
    let again = SockaddrStorage::from(&a).decode().expect("an address that decoded re-encodes");
    assert_eq!(again, a);
    assert!(a.as_bytes().len() <= 128);
    let text = a.to_string();
    match a {
        SockaddrAny::Inet4(v4) => assert_eq!(text.parse::<SockaddrAny>().unwrap(), SockaddrAny::Inet4(v4)),
        SockaddrAny::Inet6(v6) => {
            let SockaddrAny::Inet6(back) = text.parse::<SockaddrAny>().unwrap() else { panic!("{text}") };
            assert_eq!((back.ip(), back.port(), back.scope_id()), (v6.ip(), v6.port(), v6.scope_id()));
        }
        SockaddrAny::Unix(_) => {}
    }
});
