//! Parsing the text forms of IP socket addresses (`a.b.c.d:port`, `[v6%zone]:port`), with an
//! error that names what was wrong: the octet out of range, the missing bracket, the port.
//! No allocation.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{SockaddrInet4, SockaddrInet6};

fn bad(what: &'static str) -> iox::Error {
    iox::Error::invalid_input(what)
}

/// `true` when `host` can only be meant as an IPv4 address: digits and dots only. No host
/// name is all digits and dots (a top-level domain is never numeric), so such text is
/// parsed, and its error reported, rather than looked up.
pub(crate) fn is_numeric_host(host: &str) -> bool {
    host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// A decimal port, `0..=65535`.
pub(crate) fn port(s: &str) -> iox::Result<u16> {
    if s.is_empty() {
        return Err(bad("empty port after ':'"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("port is not a decimal number"));
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 5 {
        return Err(bad("port exceeds 65535"));
    }
    let mut v: u32 = 0;
    for b in digits.bytes() {
        v = v * 10 + u32::from(b - b'0');
    }
    u16::try_from(v).map_err(|_| bad("port exceeds 65535"))
}

/// A dotted quad: four decimal octets, each `0..=255`, without leading zeros (which some
/// parsers read as octal).
pub(crate) fn ipv4(s: &str) -> iox::Result<Ipv4Addr> {
    if s.is_empty() {
        return Err(bad("empty IPv4 address"));
    }
    let mut octets = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n == 4 {
            return Err(bad("IPv4 address has more than four octets"));
        }
        if part.is_empty() {
            return Err(bad("IPv4 address has an empty octet"));
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("IPv4 octet is not a decimal number"));
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err(bad(
                "IPv4 octet has a leading zero (ambiguous: octal to some parsers)",
            ));
        }
        if part.len() > 3 {
            return Err(bad("IPv4 octet exceeds 255"));
        }
        let v = part.bytes().fold(0u32, |v, b| v * 10 + u32::from(b - b'0'));
        octets[n] = u8::try_from(v).map_err(|_| bad("IPv4 octet exceeds 255"))?;
        n += 1;
    }
    if n < 4 {
        return Err(bad("IPv4 address has fewer than four octets"));
    }
    Ok(Ipv4Addr::from(octets))
}

/// `a.b.c.d:port`.
pub(crate) fn inet4(s: &str) -> iox::Result<SockaddrInet4> {
    let Some((host, p)) = s.rsplit_once(':') else {
        return Err(if s.is_empty() {
            bad("empty address")
        } else {
            bad("missing :port after the address (a.b.c.d:port)")
        });
    };
    if host.is_empty() {
        return Err(bad("missing host before ':port'"));
    }
    if host.contains(':') {
        return Err(bad("an IPv6 address needs brackets: [addr]:port"));
    }
    let ip = ipv4(host)?;
    Ok(SockaddrInet4::new(ip, port(p)?))
}

/// `[addr]:port` or `[addr%zone]:port`, the zone a number or an interface name.
pub(crate) fn inet6(s: &str) -> iox::Result<SockaddrInet6> {
    let inner = s
        .strip_prefix('[')
        .ok_or(bad("an IPv6 socket address starts with '[' ([addr]:port)"))?;
    let (host, rest) = inner
        .split_once(']')
        .ok_or(bad("missing ']' after the IPv6 address ([addr]:port)"))?;
    let p = match rest.strip_prefix(':') {
        Some(p) => p,
        None if rest.is_empty() => return Err(bad("missing :port after ']' ([addr]:port)")),
        None => return Err(bad("expected ':port' after ']' ([addr]:port)")),
    };
    let (ip, zone) = match host.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (host, None),
    };
    if ip.is_empty() {
        return Err(bad("empty IPv6 address between the brackets"));
    }
    let ip: Ipv6Addr = ip
        .parse()
        .map_err(|_| bad("not an IPv6 address between the brackets"))?;
    let port = port(p)?;
    let scope = match zone {
        Some(z) => crate::zone::scope_id(z)?,
        None => 0,
    };
    Ok(SockaddrInet6::new(ip, port, 0, scope))
}

/// What text that is neither a Unix address nor bracketed IPv6 was meant as, for the error.
pub(crate) fn inet_error(s: &str) -> iox::Error {
    let host = s.rsplit_once(':').map_or(s, |(h, _)| h);
    if host.contains(']') {
        bad("missing '[' before the IPv6 address ([addr]:port)")
    } else if host.contains(':') {
        bad("an IPv6 address needs brackets: [addr]:port")
    } else {
        bad("not an address: a.b.c.d:port, [v6]:port, a /path or an @abstract name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: iox::Result<impl core::fmt::Debug>) -> &'static str {
        r.unwrap_err().context_str().unwrap()
    }

    #[test]
    fn ipv4_errors_say_what() {
        assert_eq!(ipv4("10.0.0.255").unwrap(), Ipv4Addr::new(10, 0, 0, 255));
        assert_eq!(ipv4("0.0.0.0").unwrap(), Ipv4Addr::UNSPECIFIED);
        assert!(msg(ipv4("256.0.0.1")).contains("exceeds 255"));
        assert!(msg(ipv4("1.2.3.99999999999")).contains("exceeds 255"));
        assert!(msg(ipv4("1.2.3")).contains("fewer than four"));
        assert!(msg(ipv4("1.2.3.4.5")).contains("more than four"));
        assert!(msg(ipv4("1.2..4")).contains("empty octet"));
        assert!(msg(ipv4("1.2.3.")).contains("empty octet"));
        assert!(msg(ipv4("1.2.3.x")).contains("not a decimal"));
        assert!(msg(ipv4("1.2.3.+4")).contains("not a decimal"));
        assert!(msg(ipv4("010.0.0.1")).contains("leading zero"));
        assert!(msg(ipv4("")).contains("empty IPv4"));
    }

    #[test]
    fn ports() {
        assert_eq!(port("0").unwrap(), 0);
        assert_eq!(port("65535").unwrap(), 65535);
        assert_eq!(port("0080").unwrap(), 80);
        assert!(msg(port("65536")).contains("exceeds 65535"));
        assert!(msg(port("1000000")).contains("exceeds 65535"));
        assert!(msg(port("")).contains("empty port"));
        assert!(msg(port("-1")).contains("not a decimal"));
        assert!(msg(port("+1")).contains("not a decimal"));
    }

    #[test]
    fn ipv6_forms() {
        let a = inet6("[::1]:80").unwrap();
        assert_eq!(
            (a.ip(), a.port(), a.scope_id()),
            (Ipv6Addr::LOCALHOST, 80, 0)
        );
        assert_eq!(inet6("[fe80::1%7]:9").unwrap().scope_id(), 7);
        assert!(msg(inet6("::1]:80")).contains("starts with '['"));
        assert!(msg(inet6("[::1")).contains("missing ']'"));
        assert!(msg(inet6("[::1]")).contains("missing :port"));
        assert!(msg(inet6("[::1]x80")).contains("':port' after ']'"));
        assert!(msg(inet6("[]:80")).contains("empty IPv6"));
        assert!(msg(inet6("[1.2.3.4]:80")).contains("not an IPv6"));
        assert!(msg(inet6("[::1]:65536")).contains("exceeds 65535"));
        assert!(msg(inet6("[::1%]:80")).contains("empty IPv6 zone"));
    }

    #[test]
    fn what_unbracketed_text_was_meant_as() {
        assert!(is_numeric_host("999.1.1.1") && is_numeric_host("1"));
        assert!(!is_numeric_host("a1.example") && !is_numeric_host("::1"));
        assert!(
            inet_error("::1:80")
                .context_str()
                .unwrap()
                .contains("brackets")
        );
        assert!(
            inet_error("::1]:80")
                .context_str()
                .unwrap()
                .contains("missing '['")
        );
        assert!(
            inet_error("localhost:80")
                .context_str()
                .unwrap()
                .contains("not an address")
        );
        assert!(msg(inet4(":80")).contains("missing host"));
        assert!(msg(inet4("1.2.3.4")).contains("missing :port"));
    }
}
