//! Text addresses given to bind/dial: a malformed literal is reported precisely (what was
//! wrong), never handed to the resolver; only what looks like a host name is resolved.

use sock::{ErrorKind, TcpListener, UdpConn};

/// `(input, kind, words the message must contain)`.
const MALFORMED: &[(&str, ErrorKind, &str)] = &[
    // The three inputs of the issue.
    (
        "[fe80::1%nosuchif0]:80",
        ErrorKind::AddressNotAvailable,
        "unknown interface",
    ),
    ("[::1", ErrorKind::InvalidInput, "missing ']'"),
    ("999.1.1.1:80", ErrorKind::InvalidInput, "octet exceeds 255"),
    // More typos in numeric addresses.
    ("1.2.3.256:80", ErrorKind::InvalidInput, "octet exceeds 255"),
    (
        "1.2.3:80",
        ErrorKind::InvalidInput,
        "fewer than four octets",
    ),
    (
        "1.2.3.4.5:80",
        ErrorKind::InvalidInput,
        "more than four octets",
    ),
    ("1..3.4:80", ErrorKind::InvalidInput, "empty octet"),
    ("01.2.3.4:80", ErrorKind::InvalidInput, "leading zero"),
    ("127.0.0.1", ErrorKind::InvalidInput, "missing :port"),
    ("127.0.0.1:", ErrorKind::InvalidInput, "empty port"),
    (
        "127.0.0.1:70000",
        ErrorKind::InvalidInput,
        "port exceeds 65535",
    ),
    (
        "127.0.0.1:8o",
        ErrorKind::InvalidInput,
        "port is not a decimal",
    ),
    (":80", ErrorKind::InvalidInput, "missing host"),
    // IPv6 forms.
    ("[::1]", ErrorKind::InvalidInput, "missing :port"),
    ("[::1]80", ErrorKind::InvalidInput, "':port' after ']'"),
    ("[::1]:99999", ErrorKind::InvalidInput, "port exceeds 65535"),
    ("[]:80", ErrorKind::InvalidInput, "empty IPv6 address"),
    ("[::g]:80", ErrorKind::InvalidInput, "not an IPv6 address"),
    ("[::1%]:80", ErrorKind::InvalidInput, "empty IPv6 zone"),
    ("::1]:80", ErrorKind::InvalidInput, "missing '['"),
    ("::1:80", ErrorKind::InvalidInput, "needs brackets"),
    ("fe80::1", ErrorKind::InvalidInput, "needs brackets"),
    // Host names that cannot be names: refused before the resolver.
    ("local host:80", ErrorKind::InvalidInput, "host name holds"),
    (
        "-bad.example:80",
        ErrorKind::InvalidInput,
        "host name label",
    ),
    ("a..example:80", ErrorKind::InvalidInput, "empty label"),
    (
        "localhost:http",
        ErrorKind::InvalidInput,
        "port is not a decimal",
    ),
    ("localhost", ErrorKind::InvalidInput, "missing :port"),
];

#[test]
fn malformed_text_addresses_name_what_was_wrong() {
    for &(text, kind, words) in MALFORMED {
        for e in [
            TcpListener::bind(text).unwrap_err(),
            UdpConn::bind(text).unwrap_err(),
            UdpConn::dial(None, text).unwrap_err(),
        ] {
            assert_eq!(e.kind(), kind, "{text:?}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(words), "{text:?}: {msg:?} lacks {words:?}");
            assert_ne!(msg, "os error", "{text:?}");
            assert!(e.context_str().is_some(), "{text:?}: {e:?} has no context");
        }
    }
}

#[test]
fn a_long_host_label_or_name_is_refused() {
    let label = "a".repeat(64);
    let e = UdpConn::bind(format!("{label}.example:80")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("exceeds 63 bytes"), "{e}");
    let name = ["abcdefghi"; 26].join(".");
    assert!(name.len() > 253);
    let e = UdpConn::bind(format!("{name}:80")).unwrap_err();
    assert!(e.to_string().contains("exceeds 253 bytes"), "{e}");
}

#[test]
fn literals_and_host_names_still_work() {
    for ok in ["127.0.0.1:0", "[::1]:0", "[fe80::1%1]:0"] {
        // fe80::1 is not configured on lo: bind fails in the kernel, not in the parser.
        match UdpConn::bind(ok) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::AddressNotAvailable, "{ok}: {e}"),
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().as_socket().unwrap().port();
    // /etc/hosts names localhost: the one resolver call of these tests.
    let c = UdpConn::dial(None, format!("localhost:{port}")).unwrap();
    assert!(
        c.peer_addr()
            .unwrap()
            .as_socket()
            .unwrap()
            .ip()
            .is_loopback()
    );
}
