//! Running part of a test in a fresh child process.
//!
//! Tests share one process and run in parallel, so a test that changes process-wide state
//! (rlimits, signal masks and dispositions, namespaces, the set of open descriptors it
//! counts) must not run beside the others. [`in_subprocess`] re-runs the current test binary
//! filtered to the calling test, in a child process where the closure runs alone, and fails
//! the parent test if the child fails, if the child ran no test, or if it is still running
//! after [`limit`] (it is then killed: a hang becomes a failure that names the test).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Overrides [`limit`], in whole seconds.
pub(crate) const ENV_LIMIT: &str = "TESTKIT_SUBPROCESS_LIMIT_SECS";

/// How long a child may run before it is killed: 300 s, or [`ENV_LIMIT`] seconds.
pub(crate) fn limit() -> Duration {
    let secs = std::env::var(ENV_LIMIT)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// How long a child under a runner (qemu-user) may print nothing before it is taken for a
/// fork that never reached exec, killed and started again: 30 s, or [`ENV_START`] seconds.
fn start_limit() -> Duration {
    let secs = std::env::var(ENV_START)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Overrides [`start_limit`], in whole seconds.
pub(crate) const ENV_START: &str = "TESTKIT_SUBPROCESS_START_SECS";

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

/// [`in_subprocess_named`] with its own time limit instead of the default 300 s, for a test
/// known to be long (or, in testkit's own tests, to prove the watchdog with a short one).
#[track_caller]
pub fn in_subprocess_named_within(name: &str, limit: Duration, f: impl FnOnce()) {
    run_within(name, false, limit, f);
}

/// Either runs `f` (in the child) or spawns the child and checks what it did.
#[track_caller]
pub(crate) fn run(name: &str, netns: bool, f: impl FnOnce()) {
    run_within(name, netns, limit(), f);
}

/// [`run`] with an explicit time limit for the child.
#[track_caller]
fn run_within(name: &str, netns: bool, limit: Duration, f: impl FnOnce()) {
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

    // Under qemu-user, a process forked by a multithreaded one can deadlock inside qemu
    // before it execs (qemu 7.2's fork emulation; seen in CI: both threads of the forked
    // copy waiting on a futex). Such a child never starts the test binary, so it prints
    // nothing: a child that has printed nothing after START is killed and spawned again,
    // twice at most. Natively there is no such deadlock and no retry.
    let retries = if std::env::var_os(ENV_RUNNER).is_some() {
        2
    } else {
        0
    };
    let mut attempt = 0;
    let (waited, out_reader, err_reader) = loop {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).env(ENV_TEST, name);
        if netns {
            cmd.env(ENV_NETNS, "1");
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => panic!("testkit: cannot start {:?}: {e}", argv[0]),
        };
        // Drained on their own threads so a chatty child never blocks on a full pipe; the
        // first bytes of stdout (libtest's "running 1 test") tell that the child started.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let drain = |mut pipe: Box<dyn Read + Send>,
                     started: Option<std::sync::mpsc::Sender<()>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            bytes.extend_from_slice(&chunk[..n]);
                            if let Some(tx) = &started {
                                let _ = tx.send(());
                            }
                        }
                    }
                }
                bytes
            })
        };
        let out_reader = drain(
            Box::new(child.stdout.take().expect("piped stdout")),
            Some(started_tx),
        );
        let err_reader = drain(Box::new(child.stderr.take().expect("piped stderr")), None);
        // The exit is waited for on a thread that owns the child; this thread waits for that
        // event with a bound. Until the waiter reaps it, the child's pid cannot be reused, so
        // the kill below reaches the right process.
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let kill = || {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        };
        let start = start_limit();
        if attempt < retries && started_rx.recv_timeout(start).is_err() && rx.try_recv().is_err() {
            kill();
            let _ = rx.recv();
            attempt += 1;
            let _ = writeln!(
                std::io::stderr(),
                "testkit: the subprocess for {name} printed nothing in {} s (a fork that \
                 never reached exec under qemu-user): killed, starting it again",
                start.as_secs()
            );
            continue;
        }
        let waited = match rx.recv_timeout(limit) {
            Ok(waited) => waited,
            Err(_) => {
                kill();
                let _ = rx.recv();
                panic!(
                    "testkit: the subprocess running {name} was still running after {} s and \
                     was killed (a hang; raise {ENV_LIMIT} if it is only slow)",
                    limit.as_secs()
                );
            }
        };
        break (waited, out_reader, err_reader);
    };
    let status = match waited {
        Ok(status) => status,
        Err(e) => panic!("testkit: waiting for the subprocess running {name}: {e}"),
    };
    let out_bytes = out_reader.join().unwrap_or_default();
    let err_bytes = err_reader.join().unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out_bytes);
    let stderr = String::from_utf8_lossy(&err_bytes);
    // Skip notices reach the real stderr; the rest shows with the test's own output.
    for line in stderr.lines().filter(|l| l.starts_with("testkit: SKIPPED")) {
        let _ = writeln!(std::io::stderr(), "{line} (in a subprocess)");
    }
    eprint!("--- subprocess stdout\n{stdout}--- subprocess stderr\n{stderr}");
    assert!(
        status.success(),
        "testkit: the subprocess running {name} failed ({status})"
    );
    assert!(
        stdout.contains(DONE_MARKER),
        "testkit: the subprocess ran no test named {name}: is that the test's full path?"
    );
}
