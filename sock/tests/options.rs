//! Every option of `sock::opt::TABLE`, exercised as its row says: set the sample and read it
//! back by the row's rule, or prove the missing direction fails.

use sock::opt::{self, Access, OptionInfo, Readback};
use sock::{NetSocket, TcpConn, TcpListener};

fn socket_for(row: &OptionInfo) -> NetSocket {
    let (domain, ty, proto) = match row.level {
        l if l == libc::IPPROTO_IPV6 => (libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_TCP),
        l if l == libc::IPPROTO_UDP => (libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        _ => (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP),
    };
    NetSocket::new(domain, ty, proto).unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn every_option_behaves_as_its_row_says() {
    let mut exercised = 0;
    for row in opt::TABLE {
        let Some(option) = row.option else {
            // Absent here: the named accessors say Unsupported.
            assert_eq!(
                opt::get_named(&socket_for(row), row.name)
                    .unwrap_err()
                    .kind(),
                sock::ErrorKind::Unsupported
            );
            continue;
        };
        if let Some(why) = testkit::qemu::sockopt_unsupported(row.level, option) {
            eprintln!(
                "options: {} skipped: qemu-user cannot emulate {why}",
                row.name
            );
            continue;
        }
        if !row.privilege.is_empty() && !is_root() {
            eprintln!("options: {} skipped: needs {}", row.name, row.privilege);
            continue;
        }
        let s = socket_for(row);
        match row.access {
            Access::GetOnly => {
                opt::get_named(&s, row.name).unwrap_or_else(|e| panic!("get {}: {e}", row.name));
                let e = opt::set_named(&s, row.name, row.sample).unwrap_err();
                assert!(
                    e.errno().is_some(),
                    "{}: setting a read-only option fails in the kernel",
                    row.name
                );
            }
            Access::SetOnly => {
                opt::set_named(&s, row.name, row.sample)
                    .unwrap_or_else(|e| panic!("set {}: {e}", row.name));
                assert!(
                    opt::get_named(&s, row.name).is_err(),
                    "{}: write-only",
                    row.name
                );
            }
            Access::GetSet => {
                opt::set_named(&s, row.name, row.sample)
                    .unwrap_or_else(|e| panic!("set {}: {e}", row.name));
                let got = opt::get_named(&s, row.name)
                    .unwrap_or_else(|e| panic!("get {}: {e}", row.name));
                match row.readback {
                    Readback::Exact => assert_eq!(got, row.sample, "{}", row.name),
                    Readback::Bool => assert_eq!(got != 0, row.sample != 0, "{}", row.name),
                    Readback::Doubled => assert_eq!(got, row.sample * 2, "{}", row.name),
                    Readback::AtLeast => {
                        assert!(got >= row.sample, "{}: {got} < {}", row.name, row.sample)
                    }
                    Readback::None => {}
                }
            }
        }
        exercised += 1;
    }
    eprintln!(
        "options: {exercised} of {} rows exercised",
        opt::TABLE.len()
    );
    assert!(exercised >= 20);
}

#[test]
fn typed_accessors_and_special_options() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpConn::connect(l.local_addr().unwrap()).unwrap();
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_keepalive(Some(std::time::Duration::from_secs(42)))
        .unwrap();
    assert_eq!(
        opt::keepalive_time(&c).unwrap(),
        Some(std::time::Duration::from_secs(42))
    );
    assert_eq!(
        opt::keepalive_interval(&c).unwrap(),
        std::time::Duration::from_secs(42)
    );
    c.set_keepalive(None).unwrap();
    assert_eq!(opt::keepalive_time(&c).unwrap(), None);
    assert_eq!(
        opt::set_keepalive_time(&c, Some(std::time::Duration::from_millis(10)))
            .unwrap_err()
            .kind(),
        sock::ErrorKind::InvalidInput
    );
    opt::set_linger(&c, Some(std::time::Duration::from_secs(3))).unwrap();
    assert_eq!(
        opt::linger(&c).unwrap(),
        Some(std::time::Duration::from_secs(3))
    );
    opt::set_linger(&c, None).unwrap();
    assert_eq!(opt::linger(&c).unwrap(), None);
    assert_eq!(opt::take_error(&c).unwrap(), None);
    assert_eq!(opt::socket_type(&c).unwrap(), libc::SOCK_STREAM);
    assert_eq!(
        opt::set_send_buffer_size(&c, usize::MAX)
            .unwrap_err()
            .kind(),
        sock::ErrorKind::InvalidInput
    );
    assert!(opt::set_tos(&c, u32::MAX).is_err(), "out of range");
    #[cfg(target_os = "linux")]
    {
        opt::set_congestion(&c, "reno").unwrap();
        assert_eq!(opt::congestion(&c).unwrap().as_str(), "reno");
        assert!(opt::set_congestion(&c, "no-such-algorithm").is_err());
        if is_root() && !testkit::under_qemu() {
            opt::set_bind_device(&c, "lo").unwrap();
            assert_eq!(opt::bind_device(&c).unwrap().as_str(), "lo");
            opt::set_bind_device(&c, "").unwrap();
            assert_eq!(opt::bind_device(&c).unwrap().as_str(), "");
        }
        assert_eq!(
            opt::set_bind_device(&c, "an-interface-name-too-long")
                .unwrap_err()
                .kind(),
            sock::ErrorKind::InvalidInput
        );
    }
}

/// Loopback has no NAPI context: busy polling has nothing to poll there, and the socket's
/// NAPI id reads 0 once traffic arrived (the module docs say so).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn loopback_traffic_carries_no_napi_id() {
    testkit::skip_unless_sockopt!(libc::SOL_SOCKET, libc::SO_INCOMING_NAPI_ID);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpConn::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    c.write_all(b"napi?").unwrap();
    let mut buf = [0u8; 8];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match s.read(&mut buf) {
            Ok(n) if n > 0 => break,
            Err(e) if e.is_would_block() => assert!(std::time::Instant::now() < deadline),
            r => panic!("{r:?}"),
        }
    }
    assert_eq!(opt::incoming_napi_id(&s).unwrap(), 0);
}
