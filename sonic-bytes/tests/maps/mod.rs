//! A mirrored buffer's mappings, read from `/proc/self/maps`.
//!
//! Only the buffer's own lines are counted, never all of them: AddressSanitizer's allocator
//! (`cargo xtask sanitize`) maps memory of its own at any time.

/// How many mappings of a mirrored buffer of `len` bytes (its size after rounding) the
/// process has: its views, named after the memory object (`memfd:sonic-bytes-mirror`, or
/// `/dev/shm/sonic.*` for the `shm_open` mapping), and a reservation a failure left behind
/// (anonymous, `PROT_NONE`, `2 * len` bytes).
pub(crate) fn mirror_mappings(len: usize) -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| is_mirror(l, len))
        .count()
}

fn is_mirror(line: &str, len: usize) -> bool {
    let mut fields = line.split_whitespace();
    let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
        return false;
    };
    // Then offset, device and inode; the path, when there is one, follows.
    let path = fields.nth(3);
    if path.is_some_and(|p| p.contains("sonic-bytes-mirror") || p.starts_with("/dev/shm/sonic.")) {
        return true;
    }
    let size = range.split_once('-').and_then(|(a, b)| {
        let a = usize::from_str_radix(a, 16).ok()?;
        let b = usize::from_str_radix(b, 16).ok()?;
        b.checked_sub(a)
    });
    path.is_none() && perms == "---p" && size == Some(2 * len)
}
