//! Running part of a test in a fresh child process.
//!
//! Tests share one process and run in parallel, so a test that changes process-wide state
//! (rlimits, signal masks and dispositions, namespaces, the set of open descriptors it
//! counts) must not run beside the others. [`in_subprocess`] re-runs the current test binary
//! filtered to the calling test, in a child process where the closure runs alone, and fails
//! the parent test if the child fails or if the child ran no test.

use std::ffi::OsString;
use std::io::Write;
use std::process::Command;

/// Set in the child: the name of the test it runs.
const ENV_TEST: &str = "TESTKIT_SUBPROCESS";
/// Set in the child by [`in_netns`](crate::in_netns): build the namespace before running.
pub(crate) const ENV_NETNS: &str = "TESTKIT_NETNS";
/// A command prefix for running the test binary (under `cargo xtask cross`:
/// `qemu-aarch64 -L /usr/aarch64-linux-gnu`), split on white space.
pub const ENV_RUNNER: &str = "TESTKIT_RUNNER";

/// `true` in a child process started by [`in_subprocess`] or [`in_netns`](crate::in_netns).
pub fn is_subprocess() -> bool {
    std::env::var_os(ENV_TEST).is_some()
}

/// What the child prints when `f` returned.
const DONE_MARKER: &str = "testkit: subprocess closure completed";

/// The running test's name: libtest names each test's thread after the test.
fn current_test_name() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => panic!(
            "testkit::in_subprocess: cannot tell the test's name from this thread; \
             call it from the test's own thread, or use in_subprocess_named"
        ),
    }
}

/// Runs `f` in a child process that runs only the calling test, and waits for it.
///
/// The test function runs again from the top in the child, where this call runs `f` and
/// then ends the child process: code before the call runs in both processes, code after
/// it only in the parent (so call it first). A panic in `f` fails the child, which fails
/// the test in the parent with the child's output; so does a child that never reached `f`.
///
/// ```no_run
/// #[test]
/// fn lowers_the_descriptor_limit() {
///     testkit::in_subprocess(|| {
///         // Process-wide change, invisible to the other tests.
///         let lim = libc::rlimit { rlim_cur: 16, rlim_max: 16 };
///         assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
///     });
/// }
/// ```
#[track_caller]
pub fn in_subprocess(f: impl FnOnce()) {
    let name = current_test_name();
    run(&name, false, f);
}

/// [`in_subprocess`] for a test whose thread does not carry its name: `name` is the test's
/// full path as libtest lists it (`module::test_name`).
#[track_caller]
pub fn in_subprocess_named(name: &str, f: impl FnOnce()) {
    run(name, false, f);
}

/// Either runs `f` (in the child) or spawns the child and checks what it did.
#[track_caller]
pub(crate) fn run(name: &str, netns: bool, f: impl FnOnce()) {
    if std::env::var_os(ENV_TEST).is_some_and(|v| v == name) {
        f();
        // The rest of the test function belongs to the parent: end the child here, and
        // tell the parent that `f` ran to its end.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\n{DONE_MARKER}");
        let _ = out.flush();
        std::process::exit(0);
    }
    let mut argv: Vec<OsString> = Vec::new();
    if netns {
        // A user namespace makes the network namespace available without privileges; it
        // must be created by a single-threaded process, which unshare(1) is.
        argv.extend(["unshare", "--user", "--map-root-user", "--net", "--"].map(OsString::from));
    }
    if let Some(runner) = std::env::var_os(ENV_RUNNER) {
        argv.extend(
            runner
                .to_string_lossy()
                .split_whitespace()
                .map(OsString::from),
        );
    }
    argv.push(
        std::env::current_exe()
            .expect("current_exe")
            .into_os_string(),
    );
    argv.extend([name, "--exact", "--nocapture", "--test-threads=1"].map(OsString::from));

    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env(ENV_TEST, name);
    if netns {
        cmd.env(ENV_NETNS, "1");
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("testkit: cannot start {:?}: {e}", argv[0]),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Skip notices reach the real stderr; the rest shows with the test's own output.
    for line in stderr.lines().filter(|l| l.starts_with("testkit: SKIPPED")) {
        let _ = writeln!(std::io::stderr(), "{line} (in a subprocess)");
    }
    eprint!("--- subprocess stdout\n{stdout}--- subprocess stderr\n{stderr}");
    assert!(
        out.status.success(),
        "testkit: the subprocess running {name} failed ({})",
        out.status
    );
    assert!(
        stdout.contains(DONE_MARKER),
        "testkit: the subprocess ran no test named {name}: is that the test's full path?"
    );
}
