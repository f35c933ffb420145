//! The one system call xtask makes itself: probing io_uring. The only `unsafe` in xtask.

/// `Ok` when an io_uring can be set up here: `io_uring_setup(2)` with 8 entries and zeroed
/// parameters succeeds (the ring is closed again). Otherwise why not, with
/// `kernel.io_uring_disabled` when the kernel has that sysctl (6.6 and later).
#[cfg(target_os = "linux")]
pub(crate) fn io_uring_probe() -> Result<(), String> {
    // A zeroed `struct io_uring_params` (120 bytes), 8-byte aligned as its u64 fields need.
    let mut params = [0u64; 15];
    // SAFETY: `params` is a writable `struct io_uring_params` alive for the call; the kernel
    // reads its flags (none) and writes the ring offsets into it.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 8u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: `fd` is the ring's descriptor, owned here alone and closed once.
        unsafe { libc::close(fd as libc::c_int) };
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|s| s.trim().to_owned());
    Err(explain(err, disabled.as_deref()))
}

/// io_uring is a Linux interface.
#[cfg(not(target_os = "linux"))]
pub(crate) fn io_uring_probe() -> Result<(), String> {
    Err("io_uring exists on Linux only".into())
}

/// The reason the probe gives for `io_uring_setup`'s error, read with the sysctl's value.
#[cfg(target_os = "linux")]
fn explain(err: std::io::Error, disabled: Option<&str>) -> String {
    let why = match (err.raw_os_error(), disabled) {
        (Some(libc::ENOSYS), _) => "the kernel has no io_uring (built without CONFIG_IO_URING)",
        (_, Some("2")) => "kernel.io_uring_disabled = 2: io_uring is disabled for every process",
        (_, Some("1")) => {
            "kernel.io_uring_disabled = 1: io_uring is allowed only to CAP_SYS_ADMIN and the group in kernel.io_uring_group"
        }
        (Some(libc::EPERM), _) => {
            "refused although the kernel allows io_uring: a seccomp filter (a container runtime's default profile) or an LSM"
        }
        _ => "",
    };
    if why.is_empty() {
        format!("io_uring_setup fails: {err}")
    } else {
        format!("io_uring_setup fails ({err}): {why}")
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_sysctl_or_the_filter() {
        let e = |n| std::io::Error::from_raw_os_error(n);
        assert!(explain(e(libc::EPERM), Some("2")).contains("io_uring_disabled = 2"));
        assert!(explain(e(libc::EPERM), Some("1")).contains("io_uring_group"));
        assert!(explain(e(libc::EPERM), Some("0")).contains("seccomp"));
        assert!(explain(e(libc::EPERM), None).contains("seccomp"));
        assert!(explain(e(libc::ENOSYS), Some("0")).contains("CONFIG_IO_URING"));
        assert!(explain(e(libc::ENOMEM), None).starts_with("io_uring_setup fails: "));
    }

    #[test]
    fn the_probe_answers() {
        // Either way it returns: a ring here, or a reason.
        if let Err(why) = io_uring_probe() {
            assert!(why.starts_with("io_uring_setup fails"), "{why}");
        }
    }
}
