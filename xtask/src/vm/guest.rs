//! The guest side of `cargo xtask vm`: what goes into the initramfs (the test binaries
//! without debug info, their `ldd` libraries, busybox, the host's `ip`/`tc`/`unshare`, the
//! kernel modules in dependency order, a small `/etc`), the `/init` script that runs them,
//! and the reading of what it prints on the serial console.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cpio::Cpio;
use crate::run::{Counts, output, parse_test_result};

/// Programs copied from this machine into the guest's `/usr/bin` with their libraries:
/// iproute2 and util-linux for `testkit::in_netns` (busybox's `ip` has no `nodad`, no veth),
/// strace for the syscall-count tests.
const HOST_TOOLS: &[&str] = &["ip", "tc", "unshare", "strace"];

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

/// One test binary the guest runs.
#[derive(Clone, Debug)]
pub(crate) struct TestBin {
    /// `sock/sctp`, `sock/lib`.
    pub(crate) label: String,
    pub(crate) path: PathBuf,
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
pub(crate) fn module_order(
    moddir: &Path,
    wanted: &[&str],
) -> Result<Vec<(String, PathBuf)>, String> {
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
pub(crate) fn build_initramfs(
    path: &Path,
    strip_dir: &Path,
    busybox: &Path,
    modules: &[(String, PathBuf)],
    bins: &[TestBin],
    with_python: bool,
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
    if with_python {
        add_python(&mut a, &mut libs).map_err(err)?;
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

/// Parts of the standard library no test's Python peer imports (GUI, tests, packaging).
const PYTHON_LEFT_OUT: &[&str] = &[
    "test",
    "__pycache__",
    "site-packages",
    "dist-packages",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
];

/// This machine's `python3` with its standard library (less [`PYTHON_LEFT_OUT`]) and the
/// libraries of it and its extension modules, for sock's Python peers (`tests/unix.rs`'s
/// 108-byte paths, `tests/fds.rs`'s `socket.send_fds`). Where there is none, the guest has no
/// python3 and those tests say they skipped.
fn add_python<W: std::io::Write>(
    a: &mut Cpio<W>,
    libs: &mut BTreeSet<PathBuf>,
) -> std::io::Result<()> {
    let Ok(exe) = std::fs::canonicalize("/usr/bin/python3") else {
        println!("xtask vm: no /usr/bin/python3 here: the guest's Python peer tests skip");
        return Ok(());
    };
    let Some(name) = exe.file_name().and_then(|n| n.to_str()).map(String::from) else {
        return Ok(());
    };
    let stdlib = PathBuf::from("/usr/lib").join(&name);
    if !stdlib.join("os.py").is_file() {
        println!(
            "xtask vm: {} has no os.py: the guest's Python peer tests skip",
            stdlib.display()
        );
        return Ok(());
    }
    let bytes = std::fs::read(&exe)?;
    a.file(&format!("/usr/bin/{name}"), 0o755, &bytes)?;
    a.symlink("/usr/bin/python3", &name)?;
    libs.extend(shared_libraries(&exe).map_err(std::io::Error::other)?);
    let mut stack = vec![stdlib];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let base = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if PYTHON_LEFT_OUT.contains(&base) || base.starts_with("config-") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p)?;
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                a.file(&p.to_string_lossy(), 0o644, &std::fs::read(&p)?)?;
                if base.ends_with(".so") {
                    libs.extend(shared_libraries(&p).unwrap_or_default());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
