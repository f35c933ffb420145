//! `cargo xtask vm`: the workspace's test binaries inside a real distribution kernel booted in
//! `qemu-system-x86_64`, for what neither this machine's kernel nor qemu-user can show:
//! SCTP against the kernel's own stack, sonic-io's io_uring backend on an older kernel's
//! io_uring, and the socket suites on the LTS kernel users run.
//!
//! Everything comes from Debian's archive through apt: the newest `linux-image-6.1.0-N-amd64`
//! (Debian 12's kernel, whose `sctp.ko` is a module), `busybox-static` for the guest's shell,
//! and `qemu-system-x86`. The packages are downloaded once and unpacked with `dpkg-deb -x`
//! under `<target>/vm/`. The test binaries are the ones `cargo test --workspace
//! --all-features` builds (the native run's), copied with the shared libraries `ldd` names
//! and their debug info stripped, beside iproute2's `ip` and `tc`, util-linux's `unshare`,
//! strace and (but for the `sctp` suite) python3 with its standard library from this machine
//! (`testkit::in_netns`, the syscall-count tests and sock's Python peers need them).
//! They go into a `newc` initramfs whose `/init` mounts the pseudo file systems, brings `lo`
//! up, loads the SCTP module and its dependencies with `insmod`, raises the descriptor limit
//! to 65536 (the suites open thousands), runs each binary under a time limit with
//! `--nocapture` (so what a test says it skipped reaches the summary) and powers off. The
//! guest has no network device (`-nic none`): nothing it sends leaves it. Test binaries the
//! guest cannot run are left out, saying why ([`SKIPPED`]).
//!
//! KVM is used when `/dev/kvm` opens and the guest reaches `/init` within [`KVM_PROBE`];
//! otherwise (this project's machines run in a VM whose KVM starts no stock guest) the run
//! starts again under TCG, and the summary says which ran. The whole boot is bounded: a guest
//! still running at its time limit is killed and the step fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod guest;

use crate::install::Installer;
use crate::run::{Counts, Report, cmd, output, status};
use guest::{Console, TestBin, build_initramfs, module_order};

/// How long a KVM guest may take to reach `/init` before the run falls back to TCG (a stock
/// guest under TCG reaches it in about 4 s here, one under KVM in under 2 s).
pub(crate) const KVM_PROBE: Duration = Duration::from_secs(10);

/// The kernel the guest boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Debian 12's `linux-image-6.1.0-N-amd64`, the newest ABI the archive has.
    Debian61,
}

impl Kernel {
    fn name(self) -> &'static str {
        match self {
            Kernel::Debian61 => "debian-6.1",
        }
    }

    /// `apt-cache search` pattern of the kernel image packages of this series.
    fn package_pattern(self) -> &'static str {
        match self {
            Kernel::Debian61 => r"^linux-image-6\.1\.0-[0-9]+-amd64$",
        }
    }
}

/// Which test binaries run in the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suite {
    /// sock's `tests/sctp.rs`.
    Sctp,
    /// sonic-io's `tests/uring.rs`: the io_uring backend (reads in the ring, the read polls
    /// on demand, cancels racing completions, the seccomp fallback) on this kernel's
    /// io_uring.
    Uring,
    /// `cargo xtask ci`'s boot: [`Sctp`](Suite::Sctp) and [`Uring`](Suite::Uring) together.
    Ci,
    /// Every test binary of sock (its unit tests and integration tests).
    Sock,
    /// Every test binary of [`ALL_CRATES`], but those in [`SKIPPED`].
    All,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Sctp => "sctp",
            Suite::Uring => "uring",
            Suite::Ci => "sctp+uring",
            Suite::Sock => "sock",
            Suite::All => "all",
        }
    }

    /// Whether the test target `target` of crate `krate` belongs to the suite.
    fn wants(self, krate: &str, target: &str) -> bool {
        match self {
            Suite::Sctp => krate == "sock" && target == "sctp",
            Suite::Uring => krate == "sonic-io" && target == "uring",
            Suite::Ci => Suite::Sctp.wants(krate, target) || Suite::Uring.wants(krate, target),
            Suite::Sock => krate == "sock",
            Suite::All => ALL_CRATES.contains(&krate),
        }
    }

    /// The default time limit of the whole boot (TCG, two cores, a loaded machine).
    fn default_limit(self) -> Duration {
        Duration::from_secs(match self {
            Suite::Sctp | Suite::Uring => 240,
            Suite::Ci => 420,
            Suite::Sock => 900,
            Suite::All => 2400,
        })
    }
}

/// The crates of `--suite all`: the layers up to sonic-multicast.
pub(crate) const ALL_CRATES: &[&str] = &[
    "zcall",
    "iox",
    "iofd",
    "sockaddr",
    "sock",
    "sonic-bytes",
    "sonic-io",
    "sonic-multicast",
];

/// Test binaries that cannot run in the guest, and why (printed when they are left out).
pub(crate) const SKIPPED: &[(&str, &str, &str)] = &[(
    "sonic-io",
    "peers",
    "builds sonic-io's echo example with cargo and drives it with socat, nc and python3; \
     the guest has neither cargo nor those peers",
)];

/// The kernel modules loaded in the guest (their dependencies first, read from each
/// module's `depends=`): SCTP; `crc32c_generic`, the crc32c that `libcrc32c` asks the crypto
/// API for (the guest has no modprobe to load it on demand); `veth` for
/// `testkit::in_netns`; `sch_tbf` for sock's qdisc test; the congestion controls whose
/// `TCP_INFO` views sock's `tests/tcpinfo.rs` reads (Debian builds them as modules).
pub(crate) const MODULES: &[&str] = &[
    "crc32c_generic",
    "sctp",
    "veth",
    "sch_tbf",
    "tcp_bbr",
    "tcp_dctcp",
    "tcp_vegas",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) kernel: Kernel,
    pub(crate) suite: Suite,
    pub(crate) limit: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            kernel: Kernel::Debian61,
            suite: Suite::Ci,
            limit: None,
        }
    }
}

pub(crate) fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kernel" => {
                let v = it.next().ok_or("--kernel needs a value")?;
                o.kernel = match v.as_str() {
                    "debian-6.1" => Kernel::Debian61,
                    other => return Err(format!("unknown kernel {other:?} (known: debian-6.1)")),
                };
            }
            "--suite" => {
                let v = it.next().ok_or("--suite needs a value")?;
                o.suite = match v.as_str() {
                    "sctp" => Suite::Sctp,
                    "uring" => Suite::Uring,
                    "ci" => Suite::Ci,
                    "sock" => Suite::Sock,
                    "all" => Suite::All,
                    other => {
                        return Err(format!(
                            "unknown suite {other:?} (sctp, uring, ci, sock or all)"
                        ));
                    }
                };
            }
            "--timeout" => {
                let v = it.next().ok_or("--timeout needs a value")?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--timeout wants whole seconds, not {v:?}"))?;
                o.limit = Some(Duration::from_secs(secs));
            }
            "--install" => {}
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(o)
}

/// Runs the suite in the guest as a step of `report`, adding its counts.
pub(crate) fn vm_step(inst: &mut Installer, report: &mut Report, o: &Options) -> bool {
    let mut counts = None;
    let name = format!("vm {} {}", o.kernel.name(), o.suite.name());
    let ok = report.step_noted(&name, || {
        let (n, note) = vm(inst, o)?;
        counts = Some(n);
        Ok(note)
    });
    if let Some(n) = counts {
        report.tests.add(n);
    }
    ok
}

/// `cargo xtask ci`'s step: the SCTP and io_uring suites in one boot, or a skip that says why where apt's archive has
/// no kernel of the series (a distribution other than Debian 12).
pub(crate) fn ci_step(inst: &mut Installer, report: &mut Report) -> bool {
    let o = Options::default();
    if kernel_package(o.kernel).is_err() {
        let name = format!("vm {} {}", o.kernel.name(), o.suite.name());
        return report.step_noted(&name, || {
            Ok(format!(
                "skipped: apt has no {} package here (not Debian 12)",
                o.kernel.package_pattern()
            ))
        });
    }
    vm_step(inst, report, &o)
}

/// Boots the kernel with the suite's binaries; the summed counts and the summary's note.
pub(crate) fn vm(inst: &mut Installer, o: &Options) -> Result<(Counts, String), String> {
    // qemu; objcopy (binutils) strips the binaries; iproute2, util-linux, strace and
    // python3 are the host tools the guest gets.
    inst.ensure_apt(&[
        "qemu-system-x86",
        "binutils",
        "iproute2",
        "util-linux",
        "strace",
        "python3",
    ])?;
    let cache = crate::bench::target_dir().join("vm");
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let kpkg = kernel_package(o.kernel)?;
    let kdir = unpacked(&cache, &kpkg)?;
    let bbdir = unpacked(&cache, "busybox-static")?;
    let version = kpkg.trim_start_matches("linux-image-");
    let vmlinuz = kdir.join("boot").join(format!("vmlinuz-{version}"));
    let moddir = kdir.join("lib/modules").join(version);
    let modules = module_order(&moddir, MODULES)?;

    let bins = test_binaries(o.suite)?;
    if bins.is_empty() {
        return Err(format!("suite {} has no test binary", o.suite.name()));
    }
    let initrd = cache.join(format!("initramfs-{}.cpio", o.suite.name()));
    let t = Instant::now();
    let size = build_initramfs(
        &initrd,
        &cache.join("stripped"),
        &bbdir.join("bin/busybox"),
        &modules,
        &bins,
        matches!(o.suite, Suite::Sock | Suite::All),
    )?;
    println!(
        "xtask vm: initramfs {} ({:.0} MiB, {} binaries, modules {}) in {:.1} s",
        initrd.display(),
        size as f64 / (1 << 20) as f64,
        bins.len(),
        modules
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        t.elapsed().as_secs_f64()
    );
    // Room for the unpacked initramfs (it stays in memory) and the tests.
    let mem_mib = 1024 + size / (1 << 20) * 2;
    let limit = o.limit.unwrap_or_else(|| o.suite.default_limit());
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let mut accel = "tcg";
    let mut why_tcg = String::from("/dev/kvm cannot be opened");
    let mut console = None;
    if kvm {
        match boot(&vmlinuz, &initrd, mem_mib, "kvm", limit, Some(KVM_PROBE))? {
            Some(c) => {
                accel = "kvm";
                console = Some(c);
            }
            None => {
                why_tcg = format!(
                    "the KVM guest did not reach /init within {} s (or qemu exited first)",
                    KVM_PROBE.as_secs()
                );
            }
        }
    }
    let console = match console {
        Some(c) => c,
        None => {
            println!("xtask vm: running under TCG: {why_tcg}");
            boot(&vmlinuz, &initrd, mem_mib, "tcg", limit, None)?
                .ok_or("the TCG guest never reached /init")?
        }
    };
    summarize(&console, &bins, accel, &kpkg)
}

/// The counts and the note, or an error naming what failed.
fn summarize(
    console: &Console,
    bins: &[TestBin],
    accel: &str,
    kpkg: &str,
) -> Result<(Counts, String), String> {
    let mut total = Counts::default();
    let mut failed = Vec::new();
    println!("\nxtask vm: results in the guest ({kpkg}, {accel}):");
    for b in bins {
        let Some(r) = console.results.iter().find(|r| r.label == b.label) else {
            println!("  {:<40} did not run", b.label);
            failed.push(format!("{} did not run", b.label));
            continue;
        };
        total.add(r.counts);
        let st = match r.status {
            Some(0) => "ok".to_owned(),
            Some(137) => "killed at its time limit".to_owned(),
            Some(rc) => format!("exit {rc}"),
            None => "never finished".to_owned(),
        };
        println!(
            "  {:<40} {} passed, {} failed, {} ignored ({st})",
            r.label, r.counts.passed, r.counts.failed, r.counts.ignored
        );
        for s in &r.skips {
            println!("      {s}");
        }
        if !r.ok() {
            failed.push(format!("{} ({st})", r.label));
        }
    }
    let release = console.release.as_deref().unwrap_or("?");
    let accel_name = if accel == "kvm" { "KVM" } else { "TCG" };
    let note = format!(
        "{release} under {accel_name}: {} passed, {} failed, {} ignored in {} binaries",
        total.passed,
        total.failed,
        total.ignored,
        bins.len()
    );
    println!("xtask vm: {note}");
    if !console.failed_modules.is_empty() {
        failed.push(format!(
            "insmod failed for {}",
            console.failed_modules.join(" ")
        ));
    }
    if !console.done {
        failed.push("/init did not reach its end".into());
    }
    if failed.is_empty() {
        Ok((total, note))
    } else {
        Err(format!("{note}; failed: {}", failed.join(", ")))
    }
}

/// The newest kernel image package of the series the archive has (`apt-get update` first
/// when the package lists know none).
fn kernel_package(k: Kernel) -> Result<String, String> {
    let search = || {
        let out = output(cmd(
            "apt-cache",
            &["search", "--names-only", k.package_pattern()],
        ))
        .unwrap_or_default();
        newest_abi(&out)
    };
    if let Some(p) = search() {
        return Ok(p);
    }
    status(cmd("apt-get", &["update", "-qq"]))?;
    search().ok_or_else(|| {
        format!(
            "apt knows no package matching {} (the kernel {} comes from Debian 12's archive)",
            k.package_pattern(),
            k.name()
        )
    })
}

/// From `apt-cache search` lines (`linux-image-6.1.0-57-amd64 - Linux 6.1 ...`), the
/// package with the highest ABI number.
pub(crate) fn newest_abi(search: &str) -> Option<String> {
    search
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|p| {
            let abi = p
                .strip_prefix("linux-image-")?
                .split('-')
                .nth(1)?
                .parse::<u32>()
                .ok()?;
            Some((abi, p.to_owned()))
        })
        .max()
        .map(|(_, p)| p)
}

/// The package's files under `<cache>/<pkg>/`, downloaded and unpacked when not there yet.
fn unpacked(cache: &Path, pkg: &str) -> Result<PathBuf, String> {
    let dir = cache.join(pkg);
    let done = dir.join(".unpacked");
    if done.exists() {
        return Ok(dir);
    }
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let mut c = cmd("apt-get", &["download", "-qq", pkg]);
    c.current_dir(&debs);
    status(c)?;
    let prefix = format!("{pkg}_");
    let deb = std::fs::read_dir(&debs)
        .map_err(|e| format!("{}: {e}", debs.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .max()
        .ok_or_else(|| format!("apt-get download {pkg} left no .deb in {}", debs.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut x = cmd("dpkg-deb", &["-x"]);
    x.arg(&deb).arg(&dir);
    status(x)?;
    std::fs::write(&done, deb.to_string_lossy().as_bytes())
        .map_err(|e| format!("{}: {e}", done.display()))?;
    Ok(dir)
}

/// The suite's test executables, as `cargo test --workspace --all-features --no-run` (the
/// native test step's build) lists them.
fn test_binaries(suite: Suite) -> Result<Vec<TestBin>, String> {
    let meta = crate::run::workspace_metadata()?;
    let names: Vec<(PathBuf, String)> = meta["packages"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    Some((
                        PathBuf::from(p["manifest_path"].as_str()?),
                        p["name"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut c = cmd(
        "cargo",
        &[
            "test",
            "--workspace",
            "--all-features",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ],
    );
    c.stdout(Stdio::piped());
    println!("$ cargo test --workspace --all-features --no-run --message-format=json");
    let out = c
        .output()
        .map_err(|e| format!("cannot run cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed ({})", out.status));
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" || v["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        let manifest = PathBuf::from(v["manifest_path"].as_str().unwrap_or_default());
        let Some((_, krate)) = names.iter().find(|(m, _)| *m == manifest) else {
            continue;
        };
        let target = v["target"]["name"].as_str().unwrap_or_default();
        let kinds: Vec<&str> = v["target"]["kind"]
            .as_array()
            .map(|k| k.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        let label = if kinds.contains(&"test") {
            format!("{krate}/{target}")
        } else if kinds.iter().any(|k| k.ends_with("lib")) {
            format!("{krate}/lib")
        } else {
            continue;
        };
        if !suite.wants(krate, target) {
            continue;
        }
        if let Some((_, _, why)) = SKIPPED.iter().find(|(k, t, _)| k == krate && *t == target) {
            println!("xtask vm: {label} left out: {why}");
            continue;
        }
        if bins.iter().any(|b: &TestBin| b.label == label) {
            continue;
        }
        bins.push(TestBin {
            label,
            path: PathBuf::from(exe),
        });
    }
    bins.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(bins)
}

/// Boots the guest and reads its console until it powers off. `probe`: the time the guest
/// has to reach `/init`; past it (or when qemu exits before) the guest is killed and `None`
/// returned. A guest still running at `limit` is killed and the boot fails.
fn boot(
    vmlinuz: &Path,
    initrd: &Path,
    mem_mib: u64,
    accel: &str,
    limit: Duration,
    probe: Option<Duration>,
) -> Result<Option<Console>, String> {
    let mut c = Command::new("qemu-system-x86_64");
    c.args(["-accel", accel, "-smp", "2", "-m"])
        .arg(mem_mib.to_string())
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-nic",
            "none",
            "-kernel",
        ])
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init",
        ]);
    println!(
        "$ qemu-system-x86_64 -accel {accel} -smp 2 -m {mem_mib} -nic none -kernel {} -initrd {} (limit {} s)",
        vmlinuz.display(),
        initrd.display(),
        limit.as_secs()
    );
    watch(c, accel, limit, probe)
}

/// Runs `c` (qemu, or a stand-in in the tests) with its standard output read as the guest's
/// console, under [`boot`]'s rules for `probe` and `limit`.
fn watch(
    mut c: Command,
    accel: &str,
    limit: Duration,
    probe: Option<Duration>,
) -> Result<Option<Console>, String> {
    c.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", c.get_program()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut console = Console::default();
    let mut started = false;
    let verdict = loop {
        let elapsed = start.elapsed();
        let until = match probe {
            Some(p) if !started => p.min(limit),
            _ => limit,
        };
        if elapsed >= until {
            break if started || probe.is_none() {
                Err(format!(
                    "the guest was still running after {} s and was killed",
                    limit.as_secs()
                ))
            } else {
                Ok(None)
            };
        }
        match rx.recv_timeout(until - elapsed) {
            Ok(line) => {
                // println! (not a write to stdout's handle): libtest captures it, so the unit
                // tests' stand-in consoles do not reach `cargo xtask ci`'s count of results.
                println!("{}", line.trim_end_matches('\r'));
                console.line(&line);
                started |= console.release.is_some();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(Some(())),
        }
    };
    if !matches!(verdict, Ok(Some(()))) {
        let _ = child.kill();
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    let _ = reader.join();
    match verdict {
        // A KVM that refuses the guest can also make qemu exit at once (`-cpu host` here: an
        // MSR it cannot set): under a probe that is a fallback, not a failure.
        Ok(Some(())) if !started && probe.is_some() => {
            println!("xtask vm: qemu ({accel}) exited ({st}) before the guest reached /init");
            Ok(None)
        }
        Ok(Some(())) if !started => Err(format!(
            "qemu ({accel}) exited ({st}) before the guest reached /init"
        )),
        Ok(Some(())) => {
            println!(
                "xtask vm: the guest ({accel}) ran {:.1} s",
                start.elapsed().as_secs_f64()
            );
            Ok(Some(console))
        }
        Ok(None) => {
            println!(
                "xtask vm: the {accel} guest printed no /init line within {} s: killed",
                probe.unwrap_or_default().as_secs()
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stand_in(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_guest_past_its_limit_is_killed_and_fails() {
        let t = Instant::now();
        let e = watch(
            stand_in("echo '@@xtask-vm init 6.1.0-57-amd64 2'; exec sleep 60"),
            "tcg",
            Duration::from_secs(1),
            None,
        )
        .unwrap_err();
        assert!(e.contains("was killed"), "{e}");
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "killed, not waited for"
        );
    }

    #[test]
    fn a_probe_that_sees_no_init_falls_back_and_one_that_does_completes() {
        let silent = watch(
            stand_in("exec sleep 60"),
            "kvm",
            Duration::from_secs(60),
            Some(Duration::from_millis(300)),
        );
        assert_eq!(silent, Ok(None));
        let exited = watch(
            stand_in("exit 1"),
            "kvm",
            Duration::from_secs(60),
            Some(Duration::from_secs(30)),
        );
        assert_eq!(exited, Ok(None), "qemu gone before /init: fall back");
        assert!(watch(stand_in("exit 1"), "tcg", Duration::from_secs(60), None).is_err());
        let ran = watch(
            stand_in(
                "echo '@@xtask-vm init 6.1.0-57-amd64 2'; echo '@@xtask-vm begin sock/sctp'; \
                 echo 'test result: ok. 7 passed; 0 failed; 0 ignored'; \
                 echo '@@xtask-vm end sock/sctp 0'; echo '@@xtask-vm done'",
            ),
            "kvm",
            Duration::from_secs(60),
            Some(Duration::from_secs(30)),
        )
        .unwrap()
        .expect("the guest reached /init");
        assert!(ran.done);
        assert_eq!(ran.results[0].counts.passed, 7);
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
        let a: Vec<String> = [
            "--kernel",
            "debian-6.1",
            "--suite",
            "all",
            "--timeout",
            "60",
        ]
        .map(String::from)
        .to_vec();
        let o = parse_args(&a).unwrap();
        assert_eq!(o.suite, Suite::All);
        assert_eq!(o.limit, Some(Duration::from_secs(60)));
        assert!(parse_args(&["--suite".into(), "udp".into()]).is_err());
        assert!(parse_args(&["--kernel".into(), "6.12".into()]).is_err());
        assert!(parse_args(&["--timeout".into(), "0".into()]).is_err());
    }

    #[test]
    fn the_ci_boot_runs_sctp_and_the_uring_backend_only() {
        assert_eq!(Options::default().suite, Suite::Ci);
        assert!(Suite::Ci.wants("sock", "sctp"));
        assert!(Suite::Ci.wants("sonic-io", "uring"));
        assert!(!Suite::Ci.wants("sock", "tcp"));
        assert!(!Suite::Ci.wants("sonic-io", "syscalls"));
        assert!(!Suite::Ci.wants("sonic-multicast", "uring"));
        let o = parse_args(&["--suite".into(), "uring".into()]).unwrap();
        assert_eq!(o.suite, Suite::Uring);
    }

    #[test]
    fn the_newest_abi_is_chosen() {
        let s = "linux-image-6.1.0-9-amd64 - Linux 6.1\n\
                 linux-image-6.1.0-57-amd64 - Linux 6.1\n\
                 linux-image-6.1.0-47-amd64 - Linux 6.1\n";
        assert_eq!(newest_abi(s).as_deref(), Some("linux-image-6.1.0-57-amd64"));
        assert_eq!(newest_abi(""), None);
    }

    #[test]
    fn console_lines_give_each_binary_its_counts() {
        let mut c = Console::default();
        for l in [
            "[    1.0] random kernel line\r",
            "@@xtask-vm init 6.1.0-57-amd64 2\r",
            "@@xtask-vm insmod-failed veth",
            "@@xtask-vm begin sock/sctp",
            "running 2 tests",
            "--- subprocess stdout",
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out",
            "sctp: peeloff: skipped, the kernel refused it",
            "test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out",
            "@@xtask-vm end sock/sctp 0",
            "@@xtask-vm begin sock/tcp",
            "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
            "@@xtask-vm end sock/tcp 101",
            "@@xtask-vm begin sock/udp",
            "@@xtask-vm end sock/udp 137",
        ] {
            c.line(l);
        }
        assert_eq!(c.release.as_deref(), Some("6.1.0-57-amd64"));
        assert_eq!(c.failed_modules, ["veth"]);
        assert!(!c.done);
        assert_eq!(c.results.len(), 3);
        assert!(c.results[0].ok());
        assert_eq!(c.results[0].counts.ignored, 1);
        assert_eq!(
            c.results[0].counts.passed, 2,
            "the binary's own line, not its child's"
        );
        assert_eq!(c.results[0].skips.len(), 1);
        assert!(!c.results[1].ok());
        assert!(!c.results[2].ok(), "killed, no result line");
        c.line("@@xtask-vm done");
        assert!(c.done);
        let bins: Vec<TestBin> = ["sock/sctp", "sock/tcp", "sock/udp", "sock/unix"]
            .iter()
            .map(|l| TestBin {
                label: (*l).into(),
                path: PathBuf::new(),
            })
            .collect();
        let e = summarize(&c, &bins, "tcg", "k").unwrap_err();
        assert!(e.contains("sock/tcp (exit 101)"), "{e}");
        assert!(e.contains("sock/udp (killed at its time limit)"), "{e}");
        assert!(e.contains("sock/unix did not run"), "{e}");
        assert!(e.contains("insmod failed for veth"), "{e}");
        let ok = summarize(&c, &bins[..1], "tcg", "k");
        assert!(ok.is_err(), "a module that failed to load fails the step");
    }
}
