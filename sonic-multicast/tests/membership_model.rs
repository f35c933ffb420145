//! A model test of a peer's memberships, with the kernel as referee: random sequences of
//! joins, source joins, leaves, blocks and unblocks over three groups and three sources,
//! IPv4 and IPv6, in a private network namespace (`testkit::in_netns`). After every step
//!
//! * the step's result is the model's (success, or the error kind a user can act on),
//! * `UdpPeer::memberships` is the model's memberships, each listed once,
//! * the namespace's `/proc/net/igmp` (`igmp6`) lists exactly the model's groups on `veth1`;
//! * the socket's filter for each group, read back from the kernel (`getsockopt`
//!   `MCAST_MSFILTER`), is the model's: include mode and the joined sources for a
//!   source-specific membership, exclude mode and the blocked sources for an any-source one,
//!   and no membership (`EADDRNOTAVAIL`) for a group the model does not hold;
//! * every row `mcfilter` (`mcfilter6`) shows for the test's groups is one the model has.
//!   That table is only checked one way: Linux (6.18 here) lists a device's source filters
//!   only when the device's most recently joined group has one (its first-entry lookup
//!   looks at the head of the device's group list alone), so after an any-source join it
//!   shows none of them;
//!
//! and closing the peer leaves no group behind. Nothing is sent: these are the kernel's own
//! account of what the socket asked for.
#![cfg(target_os = "linux")]

mod common;
use common::{filter_hex, igmp_hex};

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sock::SockaddrAny;
use sonic_io::{ErrorKind, Io};
use sonic_multicast::{Iface, Membership, UdpPeer};

/// What a group's membership is, as the socket holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    /// Any source, except the blocked ones (`EXCLUDE` mode).
    Any { blocked: BTreeSet<usize> },
    /// Only these sources, each joined on its own (`INCLUDE` mode).
    Only { sources: Vec<usize> },
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Join(usize),
    JoinSource(usize, usize),
    Leave(usize),
    LeaveSource(usize, usize),
    Block(usize, usize),
    Unblock(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    let g = 0..3usize;
    let s = 0..3usize;
    prop_oneof![
        g.clone().prop_map(Step::Join),
        (g.clone(), s.clone()).prop_map(|(g, s)| Step::JoinSource(g, s)),
        g.clone().prop_map(Step::Leave),
        (g.clone(), s.clone()).prop_map(|(g, s)| Step::LeaveSource(g, s)),
        (g.clone(), s.clone()).prop_map(|(g, s)| Step::Block(g, s)),
        (g, s).prop_map(|(g, s)| Step::Unblock(g, s)),
    ]
}

/// The model: the result a step must have, and the state after it. `None` is success.
fn apply(model: &mut BTreeMap<usize, Mode>, st: Step) -> Option<ErrorKind> {
    match st {
        Step::Join(g) => {
            if model.contains_key(&g) {
                return Some(ErrorKind::AddressInUse);
            }
            model.insert(
                g,
                Mode::Any {
                    blocked: BTreeSet::new(),
                },
            );
            None
        }
        Step::JoinSource(g, s) => match model.get_mut(&g) {
            None => {
                model.insert(g, Mode::Only { sources: vec![s] });
                None
            }
            Some(Mode::Only { sources }) if sources.contains(&s) => Some(ErrorKind::AddressInUse),
            Some(Mode::Only { sources }) => {
                sources.push(s);
                None
            }
            // A source-specific join on an any-source membership: the modes differ.
            Some(Mode::Any { .. }) => Some(ErrorKind::InvalidInput),
        },
        Step::Leave(g) => model
            .remove(&g)
            .map_or(Some(ErrorKind::InvalidInput), |_| None),
        Step::LeaveSource(g, s) => match model.get_mut(&g) {
            Some(Mode::Only { sources }) if sources.contains(&s) => {
                sources.retain(|x| *x != s);
                if sources.is_empty() {
                    model.remove(&g);
                }
                None
            }
            _ => Some(ErrorKind::InvalidInput),
        },
        Step::Block(g, s) => match model.get_mut(&g) {
            Some(Mode::Any { blocked }) => {
                if blocked.insert(s) {
                    None
                } else {
                    Some(ErrorKind::AddressNotAvailable)
                }
            }
            _ => Some(ErrorKind::InvalidInput),
        },
        Step::Unblock(g, s) => match model.get_mut(&g) {
            Some(Mode::Any { blocked }) => {
                if blocked.remove(&s) {
                    None
                } else {
                    Some(ErrorKind::AddressNotAvailable)
                }
            }
            _ => Some(ErrorKind::InvalidInput),
        },
    }
}

/// One family's addresses: three groups, three sources.
struct Addrs {
    v4: bool,
    any: IpAddr,
    groups: [IpAddr; 3],
    sources: [IpAddr; 3],
}

fn addrs(v4: bool) -> Addrs {
    if v4 {
        let a = |d| IpAddr::V4(Ipv4Addr::new(10, 77, 0, d));
        Addrs {
            v4,
            any: Ipv4Addr::UNSPECIFIED.into(),
            groups: [239, 232, 238].map(|a0| IpAddr::V4(Ipv4Addr::new(a0, 1, 2, 3))),
            sources: [a(11), a(12), a(13)],
        }
    } else {
        let p = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
        Addrs {
            v4,
            any: Ipv6Addr::UNSPECIFIED.into(),
            groups: [p("ff15::7:1"), p("ff35::7:2"), p("ff15::7:3")],
            sources: [p("fd00:77::11"), p("fd00:77::12"), p("fd00:77::13")],
        }
    }
}

fn run(io: &mut Io, p: &UdpPeer, a: &Addrs, dev: u32, st: Step) -> sonic_io::Result<()> {
    let on = Iface::Index(dev);
    match st {
        Step::Join(g) => p.join_on(io, a.groups[g], on),
        Step::JoinSource(g, s) => p.join_source_on(io, a.groups[g], a.sources[s], on),
        Step::Leave(g) => p.leave(io, a.groups[g]),
        Step::LeaveSource(g, s) => p.leave_source(io, a.groups[g], a.sources[s]),
        Step::Block(g, s) => p.block_source(io, a.groups[g], a.sources[s]),
        Step::Unblock(g, s) => p.unblock_source(io, a.groups[g], a.sources[s]),
    }
}

/// The model's memberships as the peer lists them (order aside).
fn model_memberships(model: &BTreeMap<usize, Mode>, a: &Addrs, dev: u32) -> Vec<Membership> {
    let mut v = Vec::new();
    for (g, m) in model {
        match m {
            Mode::Any { .. } => v.push(Membership {
                group: a.groups[*g],
                source: None,
                interface: dev,
            }),
            Mode::Only { sources } => v.extend(sources.iter().map(|s| Membership {
                group: a.groups[*g],
                source: Some(a.sources[*s]),
                interface: dev,
            })),
        }
    }
    v
}

fn sorted(mut v: Vec<Membership>) -> Vec<String> {
    let mut s: Vec<String> = v.drain(..).map(|m| format!("{m:?}")).collect();
    s.sort();
    s
}

/// The model's kernel view on `veth1`: the groups joined (as `igmp` prints them), and per
/// (group, source) the (include, exclude) counts (as `mcfilter` prints them).
type Tables = (BTreeSet<String>, BTreeMap<(String, String), (u32, u32)>);

fn model_tables(model: &BTreeMap<usize, Mode>, a: &Addrs) -> Tables {
    let mut groups = BTreeSet::new();
    let mut filters = BTreeMap::new();
    for (g, m) in model {
        groups.insert(igmp_hex(a.groups[*g]));
        for (s, counts) in filter_of(m) {
            filters.insert((filter_hex(a.groups[*g]), filter_hex(a.sources[s])), counts);
        }
    }
    (groups, filters)
}

/// A membership's sources and the (include, exclude) counts each has in `mcfilter`.
fn filter_of(m: &Mode) -> Vec<(usize, (u32, u32))> {
    match m {
        Mode::Any { blocked } => blocked.iter().map(|s| (*s, (0, 1))).collect(),
        Mode::Only { sources } => sources.iter().map(|s| (*s, (1, 0))).collect(),
    }
}

/// What the namespace's tables say about the test's groups on `veth1`.
fn kernel_tables(a: &Addrs) -> Tables {
    let ours_igmp: BTreeSet<String> = a.groups.iter().map(|g| igmp_hex(*g)).collect();
    let ours_filter: BTreeSet<String> = a.groups.iter().map(|g| filter_hex(*g)).collect();
    let (gpath, fpath) = if a.v4 {
        ("/proc/net/igmp", "/proc/net/mcfilter")
    } else {
        ("/proc/net/igmp6", "/proc/net/mcfilter6")
    };
    let mut groups = BTreeSet::new();
    let table = std::fs::read_to_string(gpath).unwrap();
    if a.v4 {
        // Groups are indented lines after their device's line.
        let mut in_dev = false;
        for line in table.lines().skip(1) {
            if !line.starts_with('\t') {
                in_dev = line.split_whitespace().nth(1) == Some("veth1");
            } else if in_dev
                && let Some(g) = line.split_whitespace().next()
                && ours_igmp.contains(g)
            {
                groups.insert(g.to_string());
            }
        }
    } else {
        for l in table.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() > 2 && w[1] == "veth1" && ours_igmp.contains(w[2]) {
                groups.insert(w[2].to_string());
            }
        }
    }
    let mut filters = BTreeMap::new();
    for l in std::fs::read_to_string(fpath).unwrap().lines().skip(1) {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() == 6 && w[1] == "veth1" && ours_filter.contains(w[2]) {
            filters.insert(
                (w[2].to_string(), w[3].to_string()),
                (w[4].parse().unwrap(), w[5].parse().unwrap()),
            );
        }
    }
    (groups, filters)
}

/// `MCAST_MSFILTER`'s argument: `struct group_filter` with room for eight sources
/// (`sockaddr_storage` is 8-aligned, so the group sits at offset 8, the sources at 144).
#[repr(C)]
struct GroupFilter {
    interface: u32,
    group: libc::sockaddr_storage,
    fmode: u32,
    numsrc: u32,
    sources: [libc::sockaddr_storage; 8],
}

const MCAST_MSFILTER: libc::c_int = 48;
const MCAST_INCLUDE: u32 = 1;

fn storage(a: IpAddr) -> libc::sockaddr_storage {
    // SAFETY: all-zero is a valid `sockaddr_storage`.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let p: *mut libc::sockaddr_storage = &mut ss;
    match a {
        IpAddr::V4(v4) => {
            // SAFETY: a `sockaddr_in` fits in the storage and needs no more alignment.
            let sin = unsafe { &mut *p.cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from(v4).to_be();
        }
        IpAddr::V6(v6) => {
            // SAFETY: as above, for `sockaddr_in6`.
            let sin6 = unsafe { &mut *p.cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.octets();
        }
    }
    ss
}

fn ip_of(ss: &libc::sockaddr_storage) -> IpAddr {
    let p: *const libc::sockaddr_storage = ss;
    if i32::from(ss.ss_family) == libc::AF_INET {
        // SAFETY: the family says the storage holds a `sockaddr_in`, which fits in it and
        // needs no more alignment than it has.
        let sin = unsafe { &*p.cast::<libc::sockaddr_in>() };
        IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    } else {
        // SAFETY: as above, for `sockaddr_in6`.
        let sin6 = unsafe { &*p.cast::<libc::sockaddr_in6>() };
        IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
    }
}

/// The socket's filter for `group` on `dev` as the kernel holds it: (include mode, sources),
/// or `None` if the socket holds no membership of it (`EADDRNOTAVAIL`).
fn socket_filter(fd: i32, v4: bool, group: IpAddr, dev: u32) -> Option<(bool, BTreeSet<IpAddr>)> {
    let mut gf = GroupFilter {
        interface: dev,
        group: storage(group),
        fmode: 0,
        numsrc: 8,
        // SAFETY: all-zero is a valid `sockaddr_storage`.
        sources: unsafe { std::mem::zeroed() },
    };
    let mut len = std::mem::size_of::<GroupFilter>() as libc::socklen_t;
    let level = if v4 { libc::SOL_IP } else { libc::SOL_IPV6 };
    // SAFETY: `gf` is a writable `group_filter` of `len` bytes with room for `numsrc`
    // sources; `len` is writable.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            MCAST_MSFILTER,
            (&raw mut gf).cast(),
            &raw mut len,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EADDRNOTAVAIL),
            "MCAST_MSFILTER: {e}"
        );
        return None;
    }
    let n = (gf.numsrc as usize).min(8);
    let sources = gf.sources[..n].iter().map(ip_of).collect();
    Some((gf.fmode == MCAST_INCLUDE, sources))
}

/// The model's filter for each group, as [`socket_filter`] reads it.
fn model_filter(
    model: &BTreeMap<usize, Mode>,
    a: &Addrs,
    g: usize,
) -> Option<(bool, BTreeSet<IpAddr>)> {
    model.get(&g).map(|m| {
        let include = matches!(m, Mode::Only { .. });
        (
            include,
            filter_of(m)
                .into_iter()
                .map(|(s, _)| a.sources[s])
                .collect(),
        )
    })
}

fn check(steps: &[Step], a: &Addrs, dev: u32) -> Result<(), TestCaseError> {
    let mut io = Io::new().unwrap();
    let p = UdpPeer::bind(&mut io, SockaddrAny::from(SocketAddr::new(a.any, 0))).unwrap();
    let mut model = BTreeMap::new();
    for (i, st) in steps.iter().enumerate() {
        let want = apply(&mut model, *st);
        let got = run(&mut io, &p, a, dev, *st);
        prop_assert_eq!(
            got.as_ref().err().map(|e| e.kind()),
            want,
            "step {} {:?}: {:?}",
            i,
            st,
            got
        );
        if let Err(e) = &got {
            prop_assert!(
                e.context_str().is_some(),
                "step {} {:?}: an error that does not say what was wrong: {:?}",
                i,
                st,
                e
            );
        }
        prop_assert_eq!(
            sorted(p.memberships()),
            sorted(model_memberships(&model, a, dev)),
            "memberships after step {} {:?}",
            i,
            st
        );
        let (groups, filters) = kernel_tables(a);
        let (want_groups, want_filters) = model_tables(&model, a);
        prop_assert_eq!(groups, want_groups, "igmp after step {} {:?}", i, st);
        for (k, v) in &filters {
            prop_assert_eq!(
                want_filters.get(k),
                Some(v),
                "mcfilter row {:?} after step {} {:?}",
                k,
                i,
                st
            );
        }
        let fd = p.handle().get(&io).unwrap().as_fd().as_raw_fd();
        for g in 0..a.groups.len() {
            prop_assert_eq!(
                socket_filter(fd, a.v4, a.groups[g], dev),
                model_filter(&model, a, g),
                "the socket's filter for group {} after step {} {:?}",
                g,
                i,
                st
            );
        }
    }
    p.close(&mut io).unwrap();
    prop_assert!(p.memberships().is_empty());
    prop_assert!(kernel_tables(a).0.is_empty(), "groups left after close");
    Ok(())
}

#[test]
fn memberships_follow_the_model_and_the_kernel_tables_agree() {
    testkit::in_netns(|ns| {
        for v4 in [true, false] {
            let a = addrs(v4);
            let mut runner = TestRunner::new(Config {
                cases: 64,
                failure_persistence: None,
                ..Config::default()
            });
            runner
                .run(&proptest::collection::vec(step(), 1..40), |steps| {
                    check(&steps, &a, ns.b.index)
                })
                .unwrap_or_else(|e| panic!("{}: {e}", if v4 { "IPv4" } else { "IPv6" }));
            println!(
                "ran in a private network namespace on veth1: 64 random sequences of membership \
                 steps ({}), each step checked against /proc/net tables",
                if v4 { "IPv4" } else { "IPv6" }
            );
        }
    });
}

/// Index 0 (the kernel's choice) is resolved by the kernel when the join runs (the
/// group's route), and a socket's filter cannot be read back for index 0 (Linux matches the
/// index it stored, the route's): so a source-specific join on index 0 is refused beside any
/// any-source membership of the group, naming the way out, and the same join naming the
/// other interface is taken. The namespace routes the groups through `veth0`.
#[test]
fn a_source_join_on_the_kernels_choice_meets_every_interface() {
    testkit::in_netns(|ns| {
        for v4 in [true, false] {
            let a = addrs(v4);
            let (g, src) = (a.groups[1], a.sources[0]);
            let mut io = Io::new().unwrap();
            let p = UdpPeer::bind(&mut io, SockaddrAny::from(SocketAddr::new(a.any, 0))).unwrap();
            p.join_on(&mut io, g, Iface::Index(ns.b.index)).unwrap();
            let e = p.join_source(&mut io, g, src).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            assert!(e.context_str().unwrap().contains("join_source_on"), "{e}");
            p.join_source_on(&mut io, g, src, Iface::Index(ns.a.index))
                .unwrap();
            let fd = p.handle().get(&io).unwrap().as_fd().as_raw_fd();
            assert_eq!(
                socket_filter(fd, v4, g, ns.b.index),
                Some((false, BTreeSet::new()))
            );
            assert_eq!(
                socket_filter(fd, v4, g, ns.a.index),
                Some((true, BTreeSet::from([src])))
            );
            p.close(&mut io).unwrap();
        }
        println!("ran in a private network namespace: index 0 meets every interface");
    });
}
