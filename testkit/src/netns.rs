//! A private network namespace with a veth pair, for traffic that must cross a link:
//! multicast (IPv6 multicast does not loop back over `lo`, and `lo` ignores
//! `IP_MULTICAST_LOOP=0`), SYNs that vanish, a congested qdisc.
//!
//! Nothing here ever touches a real interface: the namespace is created empty and owns
//! only `lo` and the pair `veth0`/`veth1`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use crate::subprocess::{self, ENV_NETNS};

/// One end of the veth pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Interface name (`veth0`, `veth1`).
    pub name: &'static str,
    /// Interface index in the namespace.
    pub index: u32,
    /// IPv4 address (`/24`).
    pub ipv4: Ipv4Addr,
    /// IPv6 address (`/64`), added without duplicate address detection.
    pub ipv6: Ipv6Addr,
}

/// The namespace a test runs in, as [`in_netns`] hands it over.
///
/// * `a` = `veth0`: 10.77.0.1/24, fd00:77::1/64; `b` = `veth1`: 10.77.0.2/24, fd00:77::2/64.
/// * Both up, multicast on; `lo` up.
/// * Group routes on `a`: 224.0.0.0/4 and ff00::/8, so a multicast send with no
///   interface named leaves through `veth0` (tests should still name it).
/// * `accept_local=1`, `rp_filter=0`: a datagram sent from `a` to a group joined on `b`
///   arrives at `b` although its source address is local.
/// * Duplicate address detection off, so every address (link-local too) is usable at once.
#[derive(Debug)]
pub struct NetNs {
    /// `veth0`.
    pub a: Iface,
    /// `veth1`, the peer of `a`.
    pub b: Iface,
}

/// Runs `f` in a child process (as [`in_subprocess`](crate::in_subprocess)) inside a new,
/// private network namespace set up as [`NetNs`] describes.
///
/// Needs `unshare` and `ip` (util-linux, iproute2) and user namespaces: on Ubuntu 24.04
/// `kernel.apparmor_restrict_unprivileged_userns=0`. The child's failure, or a setup step
/// that fails, fails the test with the reason.
///
/// ```no_run
/// #[test]
/// fn multicast_crosses_the_pair() {
///     testkit::in_netns(|ns| {
///         assert_eq!(ns.a.name, "veth0");
///         // open sockets, join on ns.b.index, send from ns.a ...
///     });
/// }
/// ```
#[track_caller]
pub fn in_netns(f: impl FnOnce(&NetNs)) {
    let name = std::thread::current().name().unwrap_or("main").to_owned();
    subprocess::run(&name, true, || {
        assert!(
            std::env::var_os(ENV_NETNS).is_some(),
            "testkit: in_netns child without a namespace"
        );
        let ns = NetNs::setup()
            .unwrap_or_else(|e| panic!("testkit: network namespace setup failed: {e}"));
        f(&ns);
    });
}

fn run(program: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(program).args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn ifindex(name: &str) -> io::Result<u32> {
    let cname = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: `cname` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

impl NetNs {
    fn setup() -> io::Result<NetNs> {
        // Addresses on interfaces created from now on skip DAD (link-local ones too).
        Self::write_sysctl("net/ipv6/conf/default/accept_dad", "0")?;
        Self::write_sysctl("net/ipv6/conf/all/accept_dad", "0")?;
        run("ip", &["link", "set", "lo", "up"])?;
        run(
            "ip",
            &[
                "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
            ],
        )?;
        let ends = [
            ("veth0", "10.77.0.1", "fd00:77::1"),
            ("veth1", "10.77.0.2", "fd00:77::2"),
        ];
        for (dev, v4, v6) in ends {
            run("ip", &["link", "set", dev, "multicast", "on", "up"])?;
            run("ip", &["addr", "add", &format!("{v4}/24"), "dev", dev])?;
            run(
                "ip",
                &[
                    "-6",
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ],
            )?;
        }
        for conf in ["all", "default", "veth0", "veth1"] {
            Self::write_sysctl(&format!("net/ipv4/conf/{conf}/accept_local"), "1")?;
            Self::write_sysctl(&format!("net/ipv4/conf/{conf}/rp_filter"), "0")?;
        }
        run("ip", &["route", "add", "224.0.0.0/4", "dev", "veth0"])?;
        run(
            "ip",
            &[
                "-6", "route", "add", "ff00::/8", "dev", "veth0", "table", "main",
            ],
        )?;
        let iface = |name: &'static str, v4: Ipv4Addr, v6: Ipv6Addr| -> io::Result<Iface> {
            Ok(Iface {
                name,
                index: ifindex(name)?,
                ipv4: v4,
                ipv6: v6,
            })
        };
        Ok(NetNs {
            a: iface(
                "veth0",
                Ipv4Addr::new(10, 77, 0, 1),
                Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 1),
            )?,
            b: iface(
                "veth1",
                Ipv4Addr::new(10, 77, 0, 2),
                Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 2),
            )?,
        })
    }

    fn write_sysctl(key: &str, value: &str) -> io::Result<()> {
        std::fs::write(format!("/proc/sys/{key}"), value)
            .map_err(|e| io::Error::new(e.kind(), format!("sysctl {key}={value}: {e}")))
    }

    /// Sets a sysctl of this namespace (`net/ipv4/conf/veth0/forwarding`), path-style.
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        Self::write_sysctl(key, value)
    }

    /// Runs `ip` with `args` in this namespace.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        run("ip", args)
    }

    /// Runs `tc` with `args` in this namespace, e.g. a tiny token bucket that makes UDP
    /// sends fail with ENOBUFS: `["qdisc", "add", "dev", "veth0", "root", "tbf", "rate",
    /// "8kbit", "burst", "1540", "limit", "1"]`.
    pub fn tc(&self, args: &[&str]) -> io::Result<()> {
        run("tc", args)
    }

    /// Adds a permanent neighbour entry for `addr` on `iface`, so packets to an address
    /// nobody holds leave the interface at once (no ARP/NDP wait) and vanish: the way to
    /// make a SYN go unanswered.
    pub fn add_permanent_neighbour(
        &self,
        iface: &Iface,
        addr: IpAddr,
        mac: &str,
    ) -> io::Result<()> {
        let addr = addr.to_string();
        run(
            "ip",
            &[
                "neigh",
                "replace",
                &addr,
                "lladdr",
                mac,
                "nud",
                "permanent",
                "dev",
                iface.name,
            ],
        )
    }
}
