//! `skip!`: end a test early with a reason that shows in the test output.

use std::io::Write;

/// Writes `testkit: SKIPPED <test>: <reason>` to the process's real standard error, which
/// the test harness does not capture, so the reason shows in every run. Used by [`skip!`](crate::skip).
pub fn skip_message(reason: std::fmt::Arguments<'_>) {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    let _ = writeln!(std::io::stderr(), "testkit: SKIPPED {name}: {reason}");
}

/// Ends the current test early (with `return`) after printing why.
///
/// ```
/// fn needs_raw_sockets() {
///     if true {
///         testkit::skip!("CAP_NET_RAW is missing (uid {})", 1000);
///     }
///     unreachable!();
/// }
/// needs_raw_sockets();
/// ```
#[macro_export]
macro_rules! skip {
    ($($arg:tt)+) => {{
        $crate::skip_message(format_args!($($arg)+));
        return;
    }};
}
