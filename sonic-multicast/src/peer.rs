//! The multicast peer: one UDP socket owned by an `Io`, its memberships and its options.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::rc::Rc;

use iox::{Error, ErrorKind, Result};
use sock::mcast::{self, Interface};
use sock::{NetSocket, SockaddrAny, ToSockaddr, UdpConn, opt};
use sockaddr::Sockaddr;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
use sonic_io::Datagrams;
use sonic_io::{Io, IoBuf, IoBufMut, Region, Rejected, Timestamp, UdpSocket};

use crate::iface::Iface;
use crate::stats::Stats;

/// One membership the peer holds, with the interface it was joined on (the interface its
/// leave uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    /// The group.
    pub group: IpAddr,
    /// The one source of a source-specific join; `None` for any source.
    pub source: Option<IpAddr>,
    /// The interface index it was joined on (0: chosen by the kernel).
    pub interface: u32,
}

#[derive(Debug, Default)]
struct State {
    memberships: Vec<Membership>,
    outbound: u32,
}

#[derive(Debug)]
struct Inner {
    sock: UdpSocket,
    local: SocketAddr,
    state: RefCell<State>,
    stats: Cell<Stats>,
    /// Set while this peer submits an operation: a callback that runs then completed
    /// immediately.
    submitting: Cell<bool>,
}

impl Inner {
    fn count(&self, read: bool) {
        let mut s = self.stats.get();
        match (read, self.submitting.get()) {
            (true, true) => s.reads_immediate += 1,
            (true, false) => s.reads_scheduled += 1,
            (false, true) => s.writes_immediate += 1,
            (false, false) => s.writes_scheduled += 1,
        }
        self.stats.set(s);
    }

    /// Runs a submission with `submitting` set, restoring the outer value (a callback may
    /// submit again).
    fn submit<T>(&self, f: impl FnOnce() -> T) -> T {
        let outer = self.submitting.replace(true);
        let r = f();
        self.submitting.set(outer);
        r
    }
}

/// A UDP multicast peer on an [`Io`]: it reads and writes groups, joins them on chosen
/// interfaces (any-source or source-specific), blocks and unblocks sources at run time,
/// for IPv4 and IPv6 alike.
///
/// The socket belongs to the `Io` (a [`UdpSocket`] handle); a `UdpPeer` is a cheap,
/// cloneable handle to it and to the memberships it joined, to be moved into callbacks. It
/// is `!Send`, like the `Io`.
///
/// Reads and writes complete at once when the syscall succeeds (the callback runs before
/// the call returns, up to the Io's dispatch depth) and wait for readiness otherwise; the
/// buffer is moved in and handed back, so a steady read or write loop allocates nothing
/// (`tests/alloc.rs`).
///
/// ```no_run
/// use sonic_io::Io;
/// use sonic_multicast::{Iface, UdpPeer};
///
/// let mut io = Io::new().unwrap();
/// let peer = UdpPeer::bind(&mut io, "0.0.0.0:5000").unwrap();
/// peer.join_on(&mut io, "239.1.2.3".parse().unwrap(), Iface::Name("eth0")).unwrap();
/// peer.async_read(&mut io, vec![0u8; 1500], |_, r, buf| {
///     let (n, from) = r.unwrap();
///     println!("{n} bytes from {from}: {:?}", &buf[..n]);
/// })
/// .unwrap();
/// io.run_one().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct UdpPeer {
    inner: Rc<Inner>,
}

impl UdpPeer {
    /// Opens a peer bound to `addr`: `0.0.0.0:port` (any group delivered to the port),
    /// `<group>:port` (only that group), `<interface address>:port`, and the same for IPv6
    /// (`[::]:port`, `[ff15::1]:port`). `SO_REUSEADDR` is set before the bind (and
    /// `SO_REUSEPORT` on the BSDs, not on Linux, where IPv4 would then hand each datagram
    /// to one peer of the port, picked per sender, instead of to each that joined), so several peers can share a port and
    /// each receives its groups; an IPv6 peer is IPv6-only
    /// (`IPV6_V6ONLY`); on Linux `IP_MULTICAST_ALL`/`IPV6_MULTICAST_ALL` are turned off, so
    /// a peer receives only the groups it joined itself, not every group some socket on the
    /// host joined. The socket is non-blocking and registered with `io`.
    pub fn bind(io: &mut Io, addr: impl ToSockaddr) -> Result<UdpPeer> {
        let a = addr.to_sockaddr(sock::Family::Any)?;
        let v4 = match a {
            SockaddrAny::Inet4(_) => true,
            SockaddrAny::Inet6(_) => false,
            SockaddrAny::Unix(_) => {
                return Err(Error::with_context(
                    ErrorKind::AddressFamilyNotSupported,
                    "a multicast peer needs an IPv4 or IPv6 address",
                ));
            }
        };
        let domain = if v4 { libc::AF_INET } else { libc::AF_INET6 };
        let s = NetSocket::new(domain, libc::SOCK_DGRAM, libc::IPPROTO_UDP)?;
        opt::set_reuse_address(&s, true)?;
        // Linux: SO_REUSEADDR alone lets several peers share the port, and each gets every
        // datagram of the groups it joined. With SO_REUSEPORT as well (the Go peer set
        // both) the sockets form a reuse-port group, and over IPv4 the kernel hands each
        // datagram to one of them, picked per sender, joined or not
        // (`peers_sharing_a_port_each_get_every_datagram_unlike_reuse_port_sockets`). The
        // BSDs need SO_REUSEPORT to share a multicast port.
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        opt::set_reuse_port(&s, true)?;
        if !v4 {
            opt::set_only_v6(&s, true)?;
        }
        s.bind(&a)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if v4 {
            mcast::set_all_v4(&s, false)?;
        } else {
            mcast::set_all_v6(&s, false)?;
        }
        let local = s.local_addr()?.as_socket().ok_or(Error::with_context(
            ErrorKind::AddressFamilyNotSupported,
            "the bound address is not IP",
        ))?;
        let conn = UdpConn::try_from(OwnedFd::from(s))?;
        let sock = UdpSocket::add(io, conn)?;
        Ok(UdpPeer {
            inner: Rc::new(Inner {
                sock,
                local,
                state: RefCell::new(State::default()),
                stats: Cell::new(Stats::default()),
                submitting: Cell::new(false),
            }),
        })
    }

    /// The address the peer is bound to (the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// `true` for an IPv4 peer.
    pub fn is_ipv4(&self) -> bool {
        self.inner.local.is_ipv4()
    }

    /// The socket handle in the `Io`: the next layer down, for what this type does not
    /// cover (`handle().get(io)` gives the [`UdpConn`] and its options).
    pub fn handle(&self) -> UdpSocket {
        self.inner.sock
    }

    fn conn<'a>(&self, io: &'a Io) -> Result<&'a UdpConn> {
        self.inner.sock.get(io)
    }

    /// Closes the socket; its pending operations complete with `Cancelled`, its
    /// memberships end with it. Later calls fail with `Closed`.
    pub fn close(&self, io: &mut Io) -> Result<()> {
        self.inner.state.borrow_mut().memberships.clear();
        self.inner.sock.close(io)
    }

    // -------------------------------------------------------------------------------
    // Memberships

    fn check_group(&self, group: IpAddr) -> Result<()> {
        if !group.is_multicast() {
            return Err(Error::with_context(
                ErrorKind::InvalidInput,
                "group is not a multicast address",
            ));
        }
        if group.is_ipv4() != self.is_ipv4() {
            return Err(Error::with_context(
                ErrorKind::InvalidInput,
                if self.is_ipv4() {
                    "an IPv6 group on an IPv4 peer"
                } else {
                    "an IPv4 group on an IPv6 peer"
                },
            ));
        }
        Ok(())
    }

    fn check_source(&self, source: IpAddr) -> Result<()> {
        if source.is_ipv4() != self.is_ipv4() {
            return Err(Error::with_context(
                ErrorKind::InvalidInput,
                "the source is not of the peer's family",
            ));
        }
        if source.is_multicast() || source.is_unspecified() {
            return Err(Error::with_context(
                ErrorKind::InvalidInput,
                "a source is a unicast address",
            ));
        }
        Ok(())
    }

    /// Joins `group` from any source on the interface the kernel picks (its route).
    pub fn join(&self, io: &mut Io, group: IpAddr) -> Result<()> {
        self.join_on(io, group, Iface::Any)
    }

    /// Joins `group` from any source on `iface` (`IP_ADD_MEMBERSHIP` with `ip_mreqn`, or
    /// `IPV6_JOIN_GROUP`). Joining twice is the kernel's `AddrInUse`.
    pub fn join_on(&self, io: &mut Io, group: IpAddr, iface: Iface<'_>) -> Result<()> {
        self.check_group(group)?;
        let index = iface.resolve()?;
        mcast::join(self.conn(io)?, group, Interface::Index(index))?;
        self.record(group, None, index);
        Ok(())
    }

    /// Joins `group` receiving only from `source` (source-specific multicast,
    /// `MCAST_JOIN_SOURCE_GROUP`), on the interface the kernel picks. Each source is
    /// joined on its own.
    ///
    /// A group holds one kind of membership per interface: on a group the peer joined from
    /// any source on the same interface this is `InvalidInput` (Linux would otherwise turn
    /// that membership into this one source's, silently, while it has no blocked source),
    /// and a source joined twice is `AddressInUse`. The kernel's choice (here) is made by
    /// the group's route when the join runs, so beside any any-source membership of the
    /// group it is refused too: name the interface with
    /// [`join_source_on`](UdpPeer::join_source_on). Tested against the kernel's own tables
    /// by `tests/membership_model.rs`.
    pub fn join_source(&self, io: &mut Io, group: IpAddr, source: IpAddr) -> Result<()> {
        self.join_source_on(io, group, source, Iface::Any)
    }

    /// [`join_source`](UdpPeer::join_source) on `iface`.
    pub fn join_source_on(
        &self,
        io: &mut Io,
        group: IpAddr,
        source: IpAddr,
        iface: Iface<'_>,
    ) -> Result<()> {
        self.check_group(group)?;
        self.check_source(source)?;
        let index = iface.resolve()?;
        self.check_source_join(group, source, index)?;
        mcast::join_source(self.conn(io)?, group, source, Interface::Index(index))?;
        self.record(group, Some(source), index);
        Ok(())
    }

    /// Refuses a source-specific join the kernel would take in a way the peer's list could
    /// not show: on a group joined from any source on the same interface (Linux switches an
    /// any-source membership with no blocked source to that one source, silently), or a
    /// source joined twice (Linux's answer, `EADDRNOTAVAIL`, says nothing a user can act
    /// on). Index 0 is the kernel's choice, made by the group's route when the join runs, so
    /// it may be any interface: it meets every index, and the error says to name the
    /// interface (`tests/membership_model.rs`,
    /// `a_source_join_on_the_kernels_choice_meets_every_interface`).
    fn check_source_join(&self, group: IpAddr, source: IpAddr, index: u32) -> Result<()> {
        let state = self.inner.state.borrow();
        for m in state.memberships.iter().filter(|m| m.group == group) {
            let same = m.interface == index;
            if !same && m.interface != 0 && index != 0 {
                continue;
            }
            match m.source {
                None if same => {
                    return Err(Error::with_context(
                        ErrorKind::InvalidInput,
                        "the peer has joined that group from any source on that interface: \
                         leave it before joining it from one source",
                    ));
                }
                None => {
                    return Err(Error::with_context(
                        ErrorKind::InvalidInput,
                        "the peer has joined that group from any source, and one of the two \
                         joins is on the kernel's choice (index 0), which may be the other's \
                         interface: name the interfaces (join_on, join_source_on)",
                    ));
                }
                Some(s) if s == source && same => {
                    return Err(Error::with_context(
                        ErrorKind::AddressInUse,
                        "the peer has already joined that group from that source",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn record(&self, group: IpAddr, source: Option<IpAddr>, interface: u32) {
        self.inner.state.borrow_mut().memberships.push(Membership {
            group,
            source,
            interface,
        });
    }

    fn find(&self, group: IpAddr, source: Option<IpAddr>) -> Result<Membership> {
        self.inner
            .state
            .borrow()
            .memberships
            .iter()
            .find(|m| m.group == group && m.source == source)
            .copied()
            .ok_or(Error::with_context(
                ErrorKind::InvalidInput,
                if source.is_some() {
                    "the peer has not joined that group from that source"
                } else {
                    "the peer has not joined that group from any source"
                },
            ))
    }

    fn forget(&self, m: Membership) {
        self.inner
            .state
            .borrow_mut()
            .memberships
            .retain(|x| *x != m);
    }

    /// Leaves `group`: its any-source membership, or every source-specific one, each on the
    /// interface it was joined on (the Go peer always named 0.0.0.0, which misses a join on
    /// a chosen interface).
    pub fn leave(&self, io: &mut Io, group: IpAddr) -> Result<()> {
        self.check_group(group)?;
        let held: Vec<Membership> = self
            .inner
            .state
            .borrow()
            .memberships
            .iter()
            .filter(|m| m.group == group)
            .copied()
            .collect();
        if held.is_empty() {
            return Err(Error::with_context(
                ErrorKind::InvalidInput,
                "the peer has not joined that group",
            ));
        }
        for m in held {
            let fd = self.conn(io)?;
            match m.source {
                None => mcast::leave(fd, group, Interface::Index(m.interface))?,
                Some(s) => mcast::leave_source(fd, group, s, Interface::Index(m.interface))?,
            }
            self.forget(m);
        }
        Ok(())
    }

    /// Stops receiving `group` from `source` (a source-specific join).
    pub fn leave_source(&self, io: &mut Io, group: IpAddr, source: IpAddr) -> Result<()> {
        self.check_group(group)?;
        let m = self.find(group, Some(source))?;
        mcast::leave_source(self.conn(io)?, group, source, Interface::Index(m.interface))?;
        self.forget(m);
        Ok(())
    }

    /// Drops datagrams from `source` on the any-source membership of `group`, at run time
    /// (`MCAST_BLOCK_SOURCE`). A source already blocked is the kernel's
    /// `AddressNotAvailable`; a group joined from chosen sources only, or not joined, is
    /// `InvalidInput`.
    pub fn block_source(&self, io: &mut Io, group: IpAddr, source: IpAddr) -> Result<()> {
        self.check_group(group)?;
        self.check_source(source)?;
        let m = self.find(group, None)?;
        // The kernel's answer to a source it already blocks is EADDRNOTAVAIL, which alone
        // says nothing a user can act on.
        mcast::block_source(self.conn(io)?, group, source, Interface::Index(m.interface)).map_err(
            |e| match e.kind() {
                ErrorKind::AddressNotAvailable => {
                    e.context("that source is already blocked on that group")
                }
                _ => e,
            },
        )
    }

    /// Lets a blocked `source` through again (`MCAST_UNBLOCK_SOURCE`). A source that is not
    /// blocked is the kernel's `AddressNotAvailable`.
    pub fn unblock_source(&self, io: &mut Io, group: IpAddr, source: IpAddr) -> Result<()> {
        self.check_group(group)?;
        self.check_source(source)?;
        let m = self.find(group, None)?;
        mcast::unblock_source(self.conn(io)?, group, source, Interface::Index(m.interface)).map_err(
            |e| match e.kind() {
                ErrorKind::AddressNotAvailable => {
                    e.context("that source is not blocked on that group")
                }
                _ => e,
            },
        )
    }

    /// The memberships the peer holds, in the order they were joined.
    pub fn memberships(&self) -> Vec<Membership> {
        self.inner.state.borrow().memberships.clone()
    }

    // -------------------------------------------------------------------------------
    // Options

    /// The interface multicast sends leave through (`IP_MULTICAST_IF` by index,
    /// `IPV6_MULTICAST_IF`); [`Iface::Any`] goes back to the routing table. Errors are
    /// returned, not swallowed as the Go peer did.
    pub fn set_outbound(&self, io: &mut Io, iface: Iface<'_>) -> Result<()> {
        let index = iface.resolve()?;
        let fd = self.conn(io)?;
        if self.is_ipv4() {
            mcast::set_interface_v4(fd, Interface::Index(index))?;
        } else {
            mcast::set_interface_v6(fd, Interface::Index(index))?;
        }
        self.inner.state.borrow_mut().outbound = index;
        Ok(())
    }

    /// The interface index [`set_outbound`](UdpPeer::set_outbound) chose (0: none).
    pub fn outbound(&self) -> u32 {
        self.inner.state.borrow().outbound
    }

    /// Receives and sends only through `iface` (`SO_BINDTODEVICE`, Linux; needs
    /// `CAP_NET_RAW` on kernels before 5.7). [`Iface::Any`] unbinds. Prefer
    /// [`join_on`](UdpPeer::join_on) to select where a group is received.
    pub fn set_inbound(&self, io: &mut Io, iface: Iface<'_>) -> Result<()> {
        let fd = self.conn(io)?;
        match iface {
            Iface::Any => opt::set_bind_device(fd, ""),
            Iface::Name(n) => opt::set_bind_device(fd, n),
            other => {
                let index = other.resolve()?;
                let e = crate::sys::name_of(index)?;
                opt::set_bind_device(fd, e.name())
            }
        }
    }

    /// The interface `SO_BINDTODEVICE` names (empty when unbound), on the stack.
    pub fn inbound(&self, io: &Io) -> Result<opt::ShortName> {
        opt::bind_device(self.conn(io)?)
    }

    /// Whether this host's own sockets receive what the peer sends to a group
    /// (`IP_MULTICAST_LOOP`, `IPV6_MULTICAST_LOOP`). On by default.
    pub fn set_loop(&self, io: &mut Io, on: bool) -> Result<()> {
        let fd = self.conn(io)?;
        if self.is_ipv4() {
            mcast::set_loop_v4(fd, on)
        } else {
            mcast::set_loop_v6(fd, on)
        }
    }

    /// The loop option as the kernel has it (the Go getter returned its inverse).
    pub fn loop_enabled(&self, io: &Io) -> Result<bool> {
        let fd = self.conn(io)?;
        if self.is_ipv4() {
            mcast::loop_v4(fd)
        } else {
            mcast::loop_v6(fd)
        }
    }

    /// How many routers a multicast datagram may cross (`IP_MULTICAST_TTL`, or the hop
    /// limit `IPV6_MULTICAST_HOPS`). 1 by default: the local link only.
    pub fn set_ttl(&self, io: &mut Io, ttl: u8) -> Result<()> {
        let fd = self.conn(io)?;
        if self.is_ipv4() {
            mcast::set_ttl_v4(fd, ttl)
        } else {
            mcast::set_hops_v6(fd, Some(ttl))
        }
    }

    /// The TTL (hop limit for IPv6) as the kernel has it.
    pub fn ttl(&self, io: &Io) -> Result<u8> {
        let fd = self.conn(io)?;
        if self.is_ipv4() {
            mcast::ttl_v4(fd)
        } else {
            mcast::hops_v6(fd)
        }
    }

    /// Kernel receive stamps on or off (`SO_TIMESTAMPING` with `RX_SOFTWARE | SOFTWARE`;
    /// Linux, `Unsupported` elsewhere): each datagram then carries the time the kernel
    /// received it, read by [`async_read_timestamped`](UdpPeer::async_read_timestamped) and
    /// by batch reads into `Datagrams::with_timestamps`. The first datagrams after a host's
    /// first socket asks may come unstamped (the kernel turns stamps on from a work queue).
    /// Replaces transmit-stamp flags; for both, use
    /// [`set_timestamping`](UdpPeer::set_timestamping).
    pub fn set_rx_timestamps(&self, io: &mut Io, on: bool) -> Result<()> {
        self.conn(io)?.set_rx_timestamps(on)
    }

    /// `SO_TIMESTAMPING` with any flags (`sock::timestamp::TimestampFlags`): receive and
    /// transmit stamps together, say. Transmit stamps are read with
    /// [`read_tx_timestamp`](UdpPeer::read_tx_timestamp).
    pub fn set_timestamping(
        &self,
        io: &mut Io,
        flags: sock::timestamp::TimestampFlags,
    ) -> Result<()> {
        self.conn(io)?.set_timestamping(flags)
    }

    /// The `SO_TIMESTAMPING` flags as the kernel has them.
    pub fn timestamping(&self, io: &Io) -> Result<sock::timestamp::TimestampFlags> {
        self.conn(io)?.timestamping()
    }

    /// The next transmit stamp of this peer's sends from the socket's error queue (never
    /// blocks: `WouldBlock` when none is queued yet), matched to its send by
    /// [`TxTimestamp::id`](sock::timestamp::TxTimestamp::id): with
    /// `sock::timestamp::TX_SOFTWARE` flags set, 0 for the first send after stamps were
    /// turned on, then one more per datagram. See `NetSocket::recv_tx_timestamp`.
    pub fn read_tx_timestamp(&self, io: &Io) -> Result<sock::timestamp::TxTimestamp> {
        self.conn(io)?.recv_tx_timestamp()
    }

    /// Whether a wildcard-bound peer receives every group joined by any socket on the host
    /// (`IP_MULTICAST_ALL`, `IPV6_MULTICAST_ALL`; Linux). [`bind`](UdpPeer::bind) turns it
    /// off.
    pub fn set_all(&self, io: &mut Io, on: bool) -> Result<()> {
        let fd = self.conn(io)?;
        if self.is_ipv4() {
            mcast::set_all_v4(fd, on)
        } else {
            mcast::set_all_v6(fd, on)
        }
    }

    /// The `*_MULTICAST_ALL` option as the kernel has it.
    pub fn all(&self, io: &Io) -> Result<bool> {
        let fd = self.conn(io)?;
        if self.is_ipv4() {
            mcast::all_v4(fd)
        } else {
            mcast::all_v6(fd)
        }
    }

    // -------------------------------------------------------------------------------
    // Reads and writes

    /// Receives one datagram into `buf`; the callback gets its length and source and the
    /// buffer back. Completes at once when a datagram is queued and the Io knows it (on
    /// sonic-io's io_uring backend a read after a completion from the ring goes to the
    /// kernel: see `sonic_io::PacketConn::async_read`).
    pub fn async_read<B, F>(
        &self,
        io: &mut Io,
        buf: B,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: IoBufMut,
        F: FnOnce(&mut Io, Result<(usize, SockaddrAny)>, B) + 'static,
    {
        let inner = self.inner.clone();
        let sock = self.inner.sock;
        self.inner.submit(|| {
            sock.async_read_from(io, buf, move |io, r, b| {
                inner.count(true);
                drop(inner);
                f(io, r, b)
            })
        })
    }

    /// [`async_read`](UdpPeer::async_read) with the kernel's receive stamp of the datagram
    /// (`CLOCK_REALTIME`, software): the callback gets its length, its source and the time
    /// the kernel received it, `None` while stamps are off
    /// ([`set_rx_timestamps`](UdpPeer::set_rx_timestamps)). One `recvmsg`, the stamp read
    /// from control space on the stack: no extra syscall, no allocation
    /// (`tests/timestamps.rs`). `now - stamp` in the callback is the time the datagram
    /// spent between the kernel and the application (`benches/timestamps.rs`).
    ///
    /// ```no_run
    /// use sonic_io::{Io, Timestamp};
    /// use sonic_multicast::UdpPeer;
    ///
    /// let mut io = Io::new().unwrap();
    /// let peer = UdpPeer::bind(&mut io, "0.0.0.0:5000").unwrap();
    /// peer.join(&mut io, "239.1.2.3".parse().unwrap()).unwrap();
    /// peer.set_rx_timestamps(&mut io, true).unwrap();
    /// peer.async_read_timestamped(&mut io, vec![0u8; 1500], |_, r, _buf| {
    ///     let (_n, _from, stamp) = r.unwrap();
    ///     if let Some(t) = stamp {
    ///         println!("in the kernel {:?} ago", Timestamp::now().since(t));
    ///     }
    /// })
    /// .unwrap();
    /// io.run_one().unwrap();
    /// ```
    pub fn async_read_timestamped<B, F>(
        &self,
        io: &mut Io,
        buf: B,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: IoBufMut,
        F: FnOnce(&mut Io, Result<(usize, SockaddrAny, Option<Timestamp>)>, B) + 'static,
    {
        let inner = self.inner.clone();
        let sock = self.inner.sock;
        self.inner.submit(|| {
            sock.async_read_from_timestamped(io, buf, move |io, r, b| {
                inner.count(true);
                drop(inner);
                f(io, r, b)
            })
        })
    }

    /// Redirects the armed read to `region` of an Io-owned block: the seed's
    /// `SetAsyncReadBuffer`. Several peers may arm reads on the same region of one block;
    /// the first datagram fills it, and the application moves the others past it with this
    /// call, so the peers advance together through one buffer without a copy (the
    /// `shared_buffer` example). Refused when no read is armed or it does not target a
    /// region, and, on sonic-io's io_uring backend while the read's receive is in the
    /// kernel, when `region` is larger than 16 KiB.
    pub fn set_async_read_buffer(&self, io: &mut Io, region: Region) -> Result<()> {
        self.inner.sock.retarget_read(io, region)
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    /// Receives every queued datagram, up to `batch`'s capacity, with one `recvmmsg` per 64
    /// slots; the callback gets how many arrived and the batch
    /// ([`Datagrams::iter`](sonic_io::Datagrams::iter)). With a batch made by
    /// [`Datagrams::with_timestamps`](sonic_io::Datagrams::with_timestamps) and stamps on
    /// ([`set_rx_timestamps`](UdpPeer::set_rx_timestamps)), each datagram carries its kernel
    /// receive stamp ([`Datagram::timestamp`](sonic_io::Datagram::timestamp)) from the same
    /// `recvmmsg`.
    pub fn async_read_batch<F>(
        &self,
        io: &mut Io,
        batch: Datagrams,
        f: F,
    ) -> std::result::Result<(), Rejected<Datagrams>>
    where
        F: FnOnce(&mut Io, Result<usize>, Datagrams) + 'static,
    {
        let inner = self.inner.clone();
        let sock = self.inner.sock;
        self.inner.submit(|| {
            sock.async_read_batch(io, batch, move |io, r, b| {
                inner.count(true);
                drop(inner);
                f(io, r, b)
            })
        })
    }

    /// Sends `buf` as one datagram to `to` (a group and port, usually). Waits for room on
    /// `EAGAIN` and retries every 50 µs on `ENOBUFS` (a full device queue).
    pub fn async_write_to<B, F>(
        &self,
        io: &mut Io,
        buf: B,
        to: &impl Sockaddr,
        f: F,
    ) -> std::result::Result<(), Rejected<B>>
    where
        B: IoBuf,
        F: FnOnce(&mut Io, Result<usize>, B) + 'static,
    {
        let inner = self.inner.clone();
        let sock = self.inner.sock;
        self.inner.submit(|| {
            sock.async_write_to(io, buf, to, move |io, r, b| {
                inner.count(false);
                drop(inner);
                f(io, r, b)
            })
        })
    }

    /// One non-blocking send: `WouldBlock` when the socket has no room.
    pub fn write_to(&self, io: &Io, buf: &[u8], to: &impl Sockaddr) -> Result<usize> {
        self.conn(io)?.send_to(buf, to)
    }

    /// One non-blocking receive: `WouldBlock` when nothing is queued.
    pub fn read_from(&self, io: &Io, buf: &mut [u8]) -> Result<(usize, SockaddrAny)> {
        self.conn(io)?.recv_from(buf)
    }

    /// How the peer's asynchronous reads and writes completed.
    pub fn stats(&self) -> Stats {
        self.inner.stats.get()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.inner.stats.set(Stats::default());
    }
}
