//! `cargo xtask vm`: the workspace's test binaries inside a real distribution kernel booted in
//! `qemu-system-x86_64`, for what neither this machine's kernel nor qemu-user can show:
//! SCTP against the kernel's own stack, and the socket suites on the LTS kernel users run.
//!
//! Everything comes from Debian's archive through apt: the newest `linux-image-6.1.0-N-amd64`
//! (Debian 12's kernel, whose `sctp.ko` is a module), `busybox-static` for the guest's shell,
//! and `qemu-system-x86`. The packages are downloaded once and unpacked with `dpkg-deb -x`
//! under `<target>/vm/`. The test binaries are the ones `cargo test --workspace
//! --all-features` builds (the native run's), copied with the shared libraries `ldd` names
//! and their debug info stripped, beside iproute2's `ip` and `tc` and util-linux's `unshare`
//! from this machine (`testkit::in_netns` needs them). They go into a `newc` initramfs whose
//! `/init` mounts the pseudo file systems, brings `lo` up, loads the SCTP module and its
//! dependencies with `insmod`, raises the descriptor limit to 65536 (the suites open
//! thousands), runs each binary under a time limit and powers off. The guest
//! has no network device (`-nic none`): nothing it sends leaves it.
//!
//! KVM is used when `/dev/kvm` opens and the guest reaches `/init` within [`KVM_PROBE`];
//! otherwise (this project's machines run in a VM whose KVM starts no stock guest) the run
//! starts again under TCG, and the summary says which ran. The whole boot is bounded: a guest
//! still running at its time limit is killed and the step fails.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cpio::Cpio;
use crate::install::Installer;
use crate::run::{Counts, Report, cmd, output, parse_test_result, status};

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
    /// Every test binary of sock (its unit tests and integration tests).
    Sock,
    /// Every test binary of [`ALL_CRATES`], but those in [`SKIPPED`].
    All,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Sctp => "sctp",
            Suite::Sock => "sock",
            Suite::All => "all",
        }
    }

    /// Whether the test target `target` of crate `krate` belongs to the suite.
    fn wants(self, krate: &str, target: &str) -> bool {
        match self {
            Suite::Sctp => krate == "sock" && target == "sctp",
            Suite::Sock => krate == "sock",
            Suite::All => ALL_CRATES.contains(&krate),
        }
    }

    /// The default time limit of the whole boot (TCG, two cores, a loaded machine).
    fn default_limit(self) -> Duration {
        Duration::from_secs(match self {
            Suite::Sctp => 240,
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
/// `testkit::in_netns`; `sch_tbf` for sock's qdisc test.
pub(crate) const MODULES: &[&str] = &["crc32c_generic", "sctp", "veth", "sch_tbf"];

/// Programs copied from this machine into the guest's `/usr/bin` with their libraries.
const HOST_TOOLS: &[&str] = &["ip", "tc", "unshare"];

/// The guest's `/etc`: `localhost` for the tests that resolve it (glibc reads `/etc/hosts`
/// through `nsswitch.conf`), and root's entries.
const ETC: &[(&str, &str)] = &[
    (
        "/etc/hosts",
        "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
    ),
    (
        "/etc/nsswitch.conf",
        "hosts: files\npasswd: files\ngroup: files\n",
    ),
    ("/etc/passwd", "root:x:0:0:root:/tmp:/bin/sh\n"),
    ("/etc/group", "root:x:0:\n"),
];

/// Limit for one test binary inside the guest.
const BINARY_LIMIT_SECS: u64 = 600;

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
            suite: Suite::Sctp,
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
                    "sock" => Suite::Sock,
                    "all" => Suite::All,
                    other => {
                        return Err(format!("unknown suite {other:?} (sctp, sock or all)"));
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

/// One test binary the guest runs.
#[derive(Clone, Debug)]
struct TestBin {
    /// `sock/sctp`, `sock/lib`.
    label: String,
    path: PathBuf,
}

/// What one boot printed about one binary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BinResult {
    pub(crate) label: String,
    pub(crate) counts: Counts,
    /// The exit status `/init` saw (`None`: the binary never finished).
    pub(crate) status: Option<i32>,
    /// Lines the binary printed that say it skipped something or found it unsupported
    /// ([`SKIP_WORDS`]).
    pub(crate) skips: Vec<String>,
}

impl BinResult {
    pub(crate) fn ok(&self) -> bool {
        self.status == Some(0) && self.counts.failed == 0
    }
}

/// What the console said: the kernel's release, each binary's result, whether `/init` ran
/// to its end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Console {
    pub(crate) release: Option<String>,
    pub(crate) failed_modules: Vec<String>,
    pub(crate) results: Vec<BinResult>,
    pub(crate) done: bool,
}

/// Words of the lines a test prints when it skips something or finds it unsupported (the
/// suites' convention: `skipped: <reason>`, `lacks X (Unsupported, as asserted)`); the
/// binaries run with `--nocapture` so those lines reach the console.
const SKIP_WORDS: &[&str] = &["skipp", ": skip", "unsupported", "needs linux", " lacks "];

/// Marker lines `/init` prints; everything else on the console is the tests' output.
const MARK: &str = "@@xtask-vm";

impl Console {
    /// Takes one console line (a trailing `\r` from the serial line discipline removed).
    pub(crate) fn line(&mut self, line: &str) {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix(MARK) {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                ["init", release, ..] => self.release = Some((*release).to_owned()),
                ["insmod-failed", m] => self.failed_modules.push((*m).to_owned()),
                ["begin", label] => self.results.push(BinResult {
                    label: (*label).to_owned(),
                    ..BinResult::default()
                }),
                ["end", _, rc] => {
                    if let Some(r) = self.results.last_mut() {
                        r.status = rc.parse().ok();
                    }
                }
                ["done"] => self.done = true,
                _ => {}
            }
            return;
        }
        let Some(r) = self.results.last_mut() else {
            return;
        };
        if r.status.is_some() {
            return;
        }
        if let Some(c) = parse_test_result(line) {
            // The binary's own summary is its last such line: earlier ones are the output of
            // the test processes testkit re-executes (`in_subprocess`), relayed.
            r.counts = c;
        } else {
            let l = line.to_ascii_lowercase();
            if SKIP_WORDS.iter().any(|w| l.contains(w)) {
                r.skips.push(line.trim().to_owned());
            }
        }
    }
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

/// `cargo xtask ci`'s step: the SCTP suite, or a skip that says why where apt's archive has
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
    inst.ensure_apt(&["qemu-system-x86"])?;
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
                    "the KVM guest did not reach /init within {} s",
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

/// The `.ko` files under `moddir`, by module name (`-` and `_` alike).
fn module_index(moddir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![moddir.join("kernel")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(stem) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".ko"))
            {
                out.push((stem.replace('-', "_"), p));
            }
        }
    }
    out
}

/// The `depends=` entry of a module's `.modinfo` section (NUL-separated `key=value`).
pub(crate) fn module_depends(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    let Some(at) = ko.windows(key.len()).position(|w| w == key) else {
        return Vec::new();
    };
    let rest = &ko[at + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('-', "_"))
        .collect()
}

/// `wanted` and their dependencies, each after what it depends on.
fn module_order(moddir: &Path, wanted: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let index = module_index(moddir);
    let find = |name: &str| {
        index
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| format!("module {name} is not under {}", moddir.display()))
    };
    let mut order: Vec<(String, PathBuf)> = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        name: &str,
        find: &dyn Fn(&str) -> Result<PathBuf, String>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<(String, PathBuf)>,
    ) -> Result<(), String> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        let path = find(name)?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for d in module_depends(&bytes) {
            visit(&d, find, seen, order)?;
        }
        order.push((name.to_owned(), path));
        Ok(())
    }
    for w in wanted {
        visit(w, &find, &mut seen, &mut order)?;
    }
    Ok(order)
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

/// The shared libraries `ldd` names for `exe`, the dynamic loader included.
fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, String> {
    let mut c = Command::new("ldd");
    c.arg(exe);
    let out = output(c).ok_or_else(|| format!("ldd {} failed", exe.display()))?;
    Ok(parse_ldd(&out))
}

/// `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`: the paths; `linux-vdso.so.1` has none.
pub(crate) fn parse_ldd(out: &str) -> Vec<PathBuf> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// `name` on PATH or in the sbin directories.
fn host_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `exe` without its debug info, cached under `dir` while the original is unchanged.
fn stripped(dir: &Path, exe: &Path) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = exe.file_name().unwrap_or_default();
    let out = dir.join(name);
    let newer = |a: &Path, b: &Path| -> bool {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        matches!((m(a), m(b)), (Some(x), Some(y)) if x >= y)
    };
    if !newer(&out, exe) {
        let mut c = Command::new("objcopy");
        c.arg("--strip-debug").arg(exe).arg(&out);
        let st = c.status().map_err(|e| format!("cannot run objcopy: {e}"))?;
        if !st.success() {
            return Err(format!("objcopy --strip-debug {} failed", exe.display()));
        }
    }
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}

/// The `/init` script: mounts, `lo`, the modules, each binary under a limit, power off.
pub(crate) fn init_script(modules: &[String], bins: &[(String, String)]) -> String {
    let mut s = String::from(
        "#!/bin/busybox sh\n\
         /bin/busybox --install -s /bin\n\
         export PATH=/usr/bin:/bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\n\
         mkdir -p /dev/pts /dev/shm\n\
         mount -t devpts devpts /dev/pts\n\
         mount -t tmpfs tmpfs /dev/shm\n\
         mount -t tmpfs tmpfs /tmp\n\
         ulimit -n 65536\n\
         ip link set lo up\n",
    );
    s.push_str(&format!("echo \"{MARK} init $(uname -r) $(nproc)\"\n"));
    for m in modules {
        s.push_str(&format!(
            "insmod /lib/modules/{m}.ko || echo \"{MARK} insmod-failed {m}\"\n"
        ));
    }
    s.push_str(
        "export HOME=/tmp TMPDIR=/tmp RUST_BACKTRACE=1\n\
         cd /tmp\n",
    );
    for (label, path) in bins {
        s.push_str(&format!(
            "echo \"{MARK} begin {label}\"\n\
             timeout -s KILL {BINARY_LIMIT_SECS} {path} --nocapture 2>&1\n\
             echo \"{MARK} end {label} $?\"\n"
        ));
    }
    s.push_str(&format!("echo \"{MARK} done\"\npoweroff -f\n"));
    s
}

/// Writes the initramfs; its size in bytes.
fn build_initramfs(
    path: &Path,
    strip_dir: &Path,
    busybox: &Path,
    modules: &[(String, PathBuf)],
    bins: &[TestBin],
) -> Result<u64, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let f = std::fs::File::create(path).map_err(err)?;
    let mut a = Cpio::new(std::io::BufWriter::new(f));
    for d in ["/proc", "/sys", "/dev", "/tmp", "/run", "/usr/bin", "/t"] {
        a.dir(d).map_err(err)?;
    }
    let bb = std::fs::read(busybox).map_err(|e| format!("{}: {e}", busybox.display()))?;
    a.file("/bin/busybox", 0o755, &bb).map_err(err)?;
    a.symlink("/bin/sh", "busybox").map_err(err)?;
    for (path, text) in ETC {
        a.file(path, 0o644, text.as_bytes()).map_err(err)?;
    }
    let mut libs = BTreeSet::new();
    for (name, ko) in modules {
        let bytes = std::fs::read(ko).map_err(|e| format!("{}: {e}", ko.display()))?;
        a.file(&format!("/lib/modules/{name}.ko"), 0o644, &bytes)
            .map_err(err)?;
    }
    for tool in HOST_TOOLS {
        match host_tool(tool) {
            Some(p) => {
                let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                a.file(&format!("/usr/bin/{tool}"), 0o755, &bytes)
                    .map_err(err)?;
                libs.extend(shared_libraries(&p)?);
            }
            None => println!(
                "xtask vm: {tool} is not on this machine: the guest uses busybox's, and tests \
                 needing the full one fail saying so"
            ),
        }
    }
    let mut listed = Vec::new();
    for (i, b) in bins.iter().enumerate() {
        let bytes = stripped(strip_dir, &b.path)?;
        // The file name cargo gave it (`mirrored-0123abcd`), as in the native run: tests that
        // look for their own mappings by name must not find the binary's path.
        let file = b.path.file_name().map(|n| n.to_string_lossy().into_owned());
        let at = format!("/t/{}", file.unwrap_or_else(|| format!("test-{i}")));
        a.file(&at, 0o755, &bytes).map_err(err)?;
        libs.extend(shared_libraries(&b.path)?);
        listed.push((b.label.clone(), at));
    }
    for lib in &libs {
        // Read through symlinks (/lib64/ld-linux-x86-64.so.2, merged /usr): the guest gets
        // a real file at the path the binary asks for.
        let bytes = std::fs::read(lib).map_err(|e| format!("{}: {e}", lib.display()))?;
        a.file(&lib.to_string_lossy(), 0o755, &bytes).map_err(err)?;
    }
    let names: Vec<String> = modules.iter().map(|(n, _)| n.clone()).collect();
    a.file("/init", 0o755, init_script(&names, &listed).as_bytes())
        .map_err(err)?;
    let (_, n) = a.finish().map_err(err)?;
    Ok(n)
}

/// Boots the guest and reads its console until it powers off. `probe`: the time the guest
/// has to reach `/init`; past it the guest is killed and `None` returned. A guest still
/// running at `limit` is killed and the boot fails.
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
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    println!(
        "$ qemu-system-x86_64 -accel {accel} -smp 2 -m {mem_mib} -nic none -kernel {} -initrd {} (limit {} s)",
        vmlinuz.display(),
        initrd.display(),
        limit.as_secs()
    );
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run qemu-system-x86_64: {e}"))?;
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
    let mut out = std::io::stdout();
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
                let _ = writeln!(out, "{}", line.trim_end_matches('\r'));
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
    fn the_newest_abi_is_chosen() {
        let s = "linux-image-6.1.0-9-amd64 - Linux 6.1\n\
                 linux-image-6.1.0-57-amd64 - Linux 6.1\n\
                 linux-image-6.1.0-47-amd64 - Linux 6.1\n";
        assert_eq!(newest_abi(s).as_deref(), Some("linux-image-6.1.0-57-amd64"));
        assert_eq!(newest_abi(""), None);
    }

    #[test]
    fn module_dependencies_come_from_modinfo() {
        let ko =
            b"\x7fELF...\0license=GPL\0depends=udp_tunnel,ip6_udp_tunnel,libcrc32c\0intree=Y\0";
        assert_eq!(
            module_depends(ko),
            ["udp_tunnel", "ip6_udp_tunnel", "libcrc32c"]
        );
        assert!(module_depends(b"\0depends=\0name=x\0").is_empty());
        assert!(module_depends(b"nothing").is_empty());
    }

    #[test]
    fn ldd_paths() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(out),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
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

    #[test]
    fn the_init_script_runs_each_binary_under_a_limit_and_powers_off() {
        let s = init_script(
            &["libcrc32c".into(), "sctp".into()],
            &[("sock/sctp".into(), "/t/000-sock-sctp".into())],
        );
        assert!(s.starts_with("#!/bin/busybox sh\n"));
        let lib = s.find("insmod /lib/modules/libcrc32c.ko").unwrap();
        let sctp = s.find("insmod /lib/modules/sctp.ko").unwrap();
        assert!(lib < sctp);
        assert!(s.contains("timeout -s KILL 600 /t/000-sock-sctp --nocapture 2>&1\n"));
        assert!(s.contains("@@xtask-vm end sock/sctp $?"));
        assert!(s.trim_end().ends_with("poweroff -f"));
    }
}
