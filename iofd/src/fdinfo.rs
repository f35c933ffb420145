//! Reading `/proc/self/fdinfo/<fd>` into a stack buffer, and picking a field from it.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;

/// Reads the fdinfo text of `fd` into `buf`; returns its length.
pub(crate) fn read(fd: i32, buf: &mut [u8]) -> iox::Result<usize> {
    // "/proc/self/fdinfo/" + up to 10 digits, formatted without allocating.
    let mut path = [0u8; 40];
    let prefix = b"/proc/self/fdinfo/";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 10];
    let mut n = fd.unsigned_abs();
    let mut d = 0;
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..d {
        path[prefix.len() + i] = digits[d - 1 - i];
    }
    let p = std::path::Path::new(std::ffi::OsStr::from_bytes(&path[..prefix.len() + d]));
    let mut f = std::fs::File::open(p).map_err(iox::Error::from)?;
    let mut len = 0;
    while len < buf.len() {
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(k) => len += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(len)
}

/// The number after `key` on its line, in `radix`.
pub(crate) fn field(text: &[u8], key: &[u8], radix: u32) -> Option<u64> {
    text.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(key)?;
        let s = std::str::from_utf8(rest).ok()?.trim();
        u64::from_str_radix(s, radix).ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn picks_fields() {
        let t = b"pos:\t0\nflags:\t02004002\nmnt_id:\t15\neventfd-count:                5\neventfd-id: 3\n";
        assert_eq!(super::field(t, b"eventfd-count:", 16), Some(5));
        assert_eq!(super::field(t, b"flags:", 8), Some(0o2004002));
        assert_eq!(super::field(t, b"missing:", 10), None);
    }
}
