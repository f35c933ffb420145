//! `cargo xtask autobahn`: the Autobahn|TestSuite cases, replayed by `kosoku` (PyPI), against
//! sonic-websocket in both directions: kosoku's fuzzing client against the `ws_echo_server`
//! example (our server) and kosoku's fuzzing server against `ws_client --autobahn` (our
//! client).
//!
//! kosoku is installed pinned into the virtual environment of the Python peers under the
//! target directory ([`crate::install::Installer::ensure_python_venv`], the one
//! sonic-websocket's interop tests make for `websockets`). Both examples are built in
//! release. The selected cases are cut into chunks of about [`CHUNK_SECS`] estimated
//! seconds, and `--jobs` workers (by default one per core plus one: see [`default_jobs`])
//! take the chunks, both directions
//! mixed, longest first: a chunk is one kosoku process on its own case list, against the
//! worker's own echo server (server direction), or a kosoku fuzzing server on a port of its
//! own with one `ws_client` running every case it serves (client direction). A case is a
//! strict ping-pong between two processes, so one case keeps about one core busy; the
//! workers keep both busy. Every process listens and connects on 127.0.0.1 only, and each
//! is killed when its chunk's time limit ([`chunk_limit`]) passes.
//!
//! The chunks' `index.json` reports are merged per direction into
//! `target/autobahn-report/{server,client}/index.json`, a table of cases per section and
//! outcome is printed for both directions (and written to `summary.md` beside them), and the
//! run fails on any case whose behaviour is not OK, NON-STRICT or INFORMATIONAL, whose
//! closing behaviour is not OK or INFORMATIONAL, or that has no result.
//!
//! What runs: `--full` (the GitHub workflow's `autobahn` job) every case of sections 1 to 13;
//! by default (the `ci` step) every case of sections 1 to 11 and a spread of sections 12 and
//! 13 ([`in_ci_spread`]); `--cases PATTERN[,PATTERN...]` the cases matching kosoku-style globs (`12.2.*`,
//! `6.4.3`). Both examples compress at `--level N` ([`LEVEL`], 1, by default): sections 12
//! and 13 are mostly deflate, and level 1 brought the full run here from 605 to 435
//! CPU-seconds, 515 to 290 s of wall time on 2 shared cores (the crate README has both
//! runs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::install::Installer;
use crate::run::{cmd, status};

/// The kosoku release the case lists and the report format were checked against.
pub(crate) const KOSOKU_PIN: &str = "kosoku==0.1.0";

/// What `cargo xtask autobahn` runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Globs over case ids; empty: the default selection.
    pub(crate) cases: Vec<String>,
    /// Every case of sections 1 to 13 (otherwise sections 12 and 13 are sampled).
    pub(crate) full: bool,
    /// Workers (0: [`default_jobs`]).
    pub(crate) jobs: usize,
    /// The compression level both examples deflate at (`None`: [`LEVEL`]).
    pub(crate) level: Option<u32>,
}

/// The compression level the examples run at by default here: 1, zlib-rs's fastest. RFC
/// 7692 leaves the level to the sender, and sections 12 and 13 are 1,000 strictly
/// sequential compressed messages per case whose time is mostly deflate on both ends.
pub(crate) const LEVEL: u32 = 1;

/// `--cases PATTERN[,PATTERN...]` (repeatable), `--jobs N`, `--level 0-9`, `--full`.
pub(crate) fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cases" => {
                let v = it.next().ok_or("--cases needs a value")?;
                o.cases.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(String::from),
                );
            }
            "--jobs" => {
                let v = it.next().ok_or("--jobs needs a value")?;
                o.jobs = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--jobs takes a positive number, not {v:?}"))?;
            }
            "--level" => {
                let v = it.next().ok_or("--level needs a value")?;
                o.level = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n <= 9)
                        .ok_or_else(|| format!("--level takes 0 to 9, not {v:?}"))?,
                );
            }
            "--full" => o.full = true,
            "--install" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// Which side of the connection is ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    /// Our `ws_echo_server`, driven by kosoku's fuzzing client.
    Server,
    /// Our `ws_client --autobahn`, against kosoku's fuzzing server.
    Client,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// `*` matches any run of characters (dots included), `?` one character.
pub(crate) fn glob_match(pat: &str, s: &str) -> bool {
    let (p, s) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The numeric parts of a case id (`12.2.10` → `[12, 2, 10]`).
fn parts(id: &str) -> Vec<u32> {
    id.split('.').filter_map(|p| p.parse().ok()).collect()
}

/// Payload length of each message of cases `12.j.i` and `13.j.i`, by `i` (Autobahn's
/// `MSG_SIZES`; 8 and later auto-fragment, at 256 B for 11-15, then 1, 4 and 32 KiB).
const DEFLATE_SIZES: [u32; 18] = [
    16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072, 8192, 16384, 32768, 65536, 131072,
    131072, 131072, 131072,
];

/// The CI selection of sections 12 and 13. Each of their 12 subsections (12.1-12.5: five
/// data sets with the default offer; 13.1-13.7: the seven negotiated parameter
/// combinations: no context takeover and window bits 9 and 15, asked by either side) runs
/// its four cheap message shapes (16 B to 1 KiB, 1,000 messages each) and two of the 14
/// larger ones (4 KiB to 128 KiB, whole or auto-fragmented at 256 B to 32 KiB): subsection
/// `k` (0 to 11) takes shapes `5 + k % 14` and `5 + (k + 7) % 14`, so every shape runs at
/// least once and every parameter combination of section 13 meets a message of 16 KiB or
/// more and a fragmented one. That is 72 of the 216 cases and about a seventh of their
/// time; `--full` runs them all.
pub(crate) fn in_ci_spread(id: &str) -> bool {
    let p = parts(id);
    let [s @ (12 | 13), j, i] = p[..] else {
        return true;
    };
    if i <= 4 {
        return true;
    }
    // Subsection ordinal 0..12 over 12.1-12.5 then 13.1-13.7.
    let k = if s == 12 { j - 1 } else { 5 + j - 1 };
    i == 5 + k % 14 || i == 5 + (k + 7) % 14
}

/// Estimated seconds of one case on an idle core (both processes together), from the
/// per-case durations of a full run here: the compressed cases scale with the payload, by
/// data set (lena's bitmap and Faust's text compress slowest); a few of sections 5, 6 and 9
/// wait on timers or move large messages.
fn estimate(id: &str) -> f64 {
    let p = parts(id);
    match p[..] {
        [s @ (12 | 13), j, i] => {
            let len = DEFLATE_SIZES
                .get(i.saturating_sub(1) as usize)
                .copied()
                .unwrap_or(131072);
            let factor = match (s, j) {
                (12, 2) | (12, 3) => 4.5,
                (12, 5) => 3.8,
                (12, 4) => 1.8,
                _ => 1.0,
            };
            // Auto-fragmented 128 KiB messages (shapes 15-18) cost more per byte.
            let frames = if i >= 15 { 1.6 } else { 1.0 };
            0.3 + f64::from(len) / 131072.0 * 3.5 * factor * frames
        }
        [5, 19] | [5, 20] | [6, 4, _] => 1.1,
        [9, ..] => 0.3,
        _ => 0.05,
    }
}

/// Estimated seconds of work in one chunk (a kosoku process), when cases are cheap.
pub(crate) const CHUNK_SECS: f64 = 6.0;

/// How long a chunk may run before its processes are killed: generous for a loaded
/// machine, bounded for a hang.
fn chunk_limit(est: f64) -> Duration {
    Duration::from_secs_f64(120.0 + 6.0 * est)
}

#[derive(Clone, Debug)]
struct Chunk {
    side: Side,
    n: usize,
    ids: Vec<String>,
    est: f64,
}

/// Consecutive ids packed into chunks of about [`CHUNK_SECS`], per side, longest first.
fn chunks(ids: &[String]) -> Vec<Chunk> {
    let mut out = Vec::new();
    for side in [Side::Server, Side::Client] {
        let mut cur = Chunk {
            side,
            n: 0,
            ids: Vec::new(),
            est: 0.0,
        };
        for id in ids {
            let e = estimate(id);
            if !cur.ids.is_empty() && cur.est + e > CHUNK_SECS {
                let next = Chunk {
                    side,
                    n: cur.n + 1,
                    ids: Vec::new(),
                    est: 0.0,
                };
                out.push(std::mem::replace(&mut cur, next));
            }
            cur.ids.push(id.clone());
            cur.est += e;
        }
        if !cur.ids.is_empty() {
            out.push(cur);
        }
    }
    out.sort_by(|a, b| b.est.total_cmp(&a.est));
    out
}

/// One case's result as kosoku reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CaseResult {
    pub(crate) behavior: String,
    pub(crate) behavior_close: String,
    pub(crate) duration_ms: u64,
}

impl CaseResult {
    fn missing() -> CaseResult {
        CaseResult {
            behavior: "MISSING".into(),
            behavior_close: "MISSING".into(),
            duration_ms: 0,
        }
    }

    /// OK, NON-STRICT or INFORMATIONAL, with a closing handshake that is OK or
    /// INFORMATIONAL.
    pub(crate) fn passed(&self) -> bool {
        matches!(
            self.behavior.as_str(),
            "OK" | "NON-STRICT" | "INFORMATIONAL"
        ) && matches!(self.behavior_close.as_str(), "OK" | "INFORMATIONAL")
    }
}

/// The cases of a kosoku `index.json` (`{agent: {id: {behavior, behaviorClose, duration}}}`).
pub(crate) fn parse_index(json: &str) -> Result<BTreeMap<String, CaseResult>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("index.json: {e}"))?;
    let agents = v.as_object().ok_or("index.json is not an object")?;
    let mut out = BTreeMap::new();
    for cases in agents.values() {
        let cases = cases
            .as_object()
            .ok_or("index.json: an agent is not an object")?;
        for (id, c) in cases {
            let s = |k: &str| c[k].as_str().unwrap_or("?").to_owned();
            out.insert(
                id.clone(),
                CaseResult {
                    behavior: s("behavior"),
                    behavior_close: s("behaviorClose"),
                    duration_ms: c["duration"].as_u64().unwrap_or(0),
                },
            );
        }
    }
    Ok(out)
}

/// How a child that did not succeed ended.
#[derive(Debug)]
struct Ended {
    /// What to print: who, and how it ended.
    msg: String,
    /// Killed by a signal it did not get from us (kosoku has aborted at its exit).
    crashed: bool,
}

impl From<Ended> for String {
    fn from(e: Ended) -> String {
        e.msg
    }
}

/// Waits for `child` until `deadline`; kills it there. `Ok` when it exited with success,
/// else how it ended, naming `what`.
fn wait_until(child: &mut Child, deadline: Instant, what: &str) -> Result<(), Ended> {
    use std::os::unix::process::ExitStatusExt;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => {
                return Err(Ended {
                    msg: format!("{what} exited with {st}"),
                    crashed: st.signal().is_some(),
                });
            }
            Ok(None) => {}
            Err(e) => {
                return Err(Ended {
                    msg: format!("{what}: {e}"),
                    crashed: false,
                });
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Ended {
                msg: format!("{what} was still running at its time limit: killed"),
                crashed: false,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last `n` lines of a log, indented, for a message (empty when unreadable).
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    lines[from..]
        .iter()
        .map(|l| format!("\n    | {l}"))
        .collect()
}

/// A child killed (if still running) and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `path` until a line satisfies `f` (its result returned) or `limit` passes, or
/// `child` exits.
fn wait_for_line<T>(
    path: &Path,
    child: &mut Child,
    limit: Duration,
    f: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Some(v) = text.lines().find_map(&f)
        {
            return Some(v);
        }
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn log_file(path: &Path) -> Result<File, String> {
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// The programs and where the reports go.
struct Env {
    kosoku: PathBuf,
    server: PathBuf,
    client: PathBuf,
    out: PathBuf,
    /// `--level N` for both examples.
    level: String,
}

/// A worker's own echo server, started when first needed and again if it died.
#[derive(Default)]
struct EchoServer {
    child: Option<Reaped>,
    addr: String,
    started: usize,
}

impl EchoServer {
    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.0.try_wait().ok().flatten().is_none())
    }

    fn ensure(&mut self, env: &Env, worker: usize) -> Result<&str, String> {
        if self.alive() {
            return Ok(&self.addr);
        }
        if self.child.take().is_some() {
            eprintln!("autobahn: worker {worker}'s echo server had exited; starting another");
        }
        self.started += 1;
        let base = env
            .out
            .join(format!("echo-server-{worker}-{}", self.started));
        let mut c = Command::new(&env.server);
        c.args(["--port", "0", "--host", "127.0.0.1", "--level", &env.level])
            .stdin(Stdio::null())
            .stdout(log_file(&base.with_extension("out"))?)
            .stderr(log_file(&base.with_extension("err"))?);
        let mut child = Reaped(
            c.spawn()
                .map_err(|e| format!("cannot run {}: {e}", env.server.display()))?,
        );
        let addr = wait_for_line(
            &base.with_extension("out"),
            &mut child.0,
            Duration::from_secs(20),
            |l| {
                l.trim()
                    .starts_with("127.0.0.1:")
                    .then(|| l.trim().to_owned())
            },
        )
        .ok_or("ws_echo_server did not print its address within 20 s")?;
        self.addr = addr;
        self.child = Some(child);
        Ok(&self.addr)
    }
}

/// What one chunk gave.
struct ChunkRun {
    side: Side,
    ids: Vec<String>,
    results: BTreeMap<String, CaseResult>,
    secs: f64,
    error: Option<String>,
}

fn run_chunk(env: &Env, chunk: &Chunk, echo: &mut EchoServer, worker: usize) -> ChunkRun {
    let t = Instant::now();
    let dir = env
        .out
        .join(chunk.side.name())
        .join(format!("chunk-{:03}", chunk.n));
    let mut r = run_chunk_in(env, chunk, echo, worker, &dir);
    // kosoku crashing before it wrote any report (a signal we did not send) tells nothing
    // of our side: the chunk runs once more, from scratch. A second crash fails the step.
    if let Err(e) = &r
        && e.crashed
        && !dir.join("index.json").is_file()
    {
        println!(
            "autobahn: {} chunk {}: {} before writing its reports; running the chunk again. Its log:{}",
            chunk.side.name(),
            chunk.n,
            e.msg,
            log_tail(&dir.join("kosoku.log"), 12)
        );
        r = run_chunk_in(env, chunk, echo, worker, &dir);
    }
    let results = std::fs::read_to_string(dir.join("index.json"))
        .ok()
        .and_then(|j| parse_index(&j).ok())
        .unwrap_or_default();
    ChunkRun {
        side: chunk.side,
        ids: chunk.ids.clone(),
        results,
        secs: t.elapsed().as_secs_f64(),
        error: r.err().map(String::from),
    }
}

impl From<String> for Ended {
    fn from(msg: String) -> Ended {
        Ended {
            msg,
            crashed: false,
        }
    }
}

impl From<&str> for Ended {
    fn from(msg: &str) -> Ended {
        Ended::from(msg.to_owned())
    }
}

/// kosoku ended by a signal after it wrote its reports (seen twice, once in each mode:
/// SIGABRT at its exit after "2 cases passed"): a crash of the peer that says nothing of
/// ours, so the cases are judged from the reports, where a case it did not write is MISSING
/// and fails the step. Its log's end is printed, to learn the cause.
fn judged_from_reports(r: Result<(), Ended>, dir: &Path) -> Result<(), Ended> {
    match r {
        Err(e) if e.crashed && dir.join("index.json").is_file() => {
            println!(
                "autobahn: {} after writing its reports (judged from them). Its log:{}",
                e.msg,
                log_tail(&dir.join("kosoku.log"), 12)
            );
            Ok(())
        }
        r => r,
    }
}

fn run_chunk_in(
    env: &Env,
    chunk: &Chunk,
    echo: &mut EchoServer,
    worker: usize,
    dir: &Path,
) -> Result<(), Ended> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let deadline = Instant::now() + chunk_limit(chunk.est);
    let mut k = Command::new(&env.kosoku);
    k.stdin(Stdio::null());
    for id in &chunk.ids {
        k.args(["-i", id]);
    }
    k.arg("-o").arg(dir);
    let klog = dir.join("kosoku.log");
    match chunk.side {
        Side::Server => {
            let addr = echo.ensure(env, worker)?.to_owned();
            k.args(["-m", "fuzzingclient", &addr]);
            k.stdout(log_file(&klog)?).stderr(log_file(&klog)?);
            let mut child = k.spawn().map_err(|e| format!("cannot run kosoku: {e}"))?;
            let r = wait_until(&mut child, deadline, "kosoku's fuzzing client");
            // A server that died under a case fails the chunk (its log stays); the next
            // chunk starts another.
            if !echo.alive() {
                return Err(format!(
                    "ws_echo_server exited during the chunk (log: {})",
                    env.out.display()
                )
                .into());
            }
            judged_from_reports(r, dir)
        }
        Side::Client => {
            k.args(["-m", "fuzzingserver", "127.0.0.1:0"]);
            k.stdout(log_file(&klog)?).stderr(log_file(&klog)?);
            let mut server = Reaped(k.spawn().map_err(|e| format!("cannot run kosoku: {e}"))?);
            let port = wait_for_line(&klog, &mut server.0, Duration::from_secs(30), |l| {
                l.split_once("listening on ws://")
                    .and_then(|(_, a)| a.trim().rsplit_once(':'))
                    .and_then(|(_, p)| p.parse::<u16>().ok())
            });
            let Some(port) = port else {
                // Ended before it listened: a crash is retried like any other.
                return Err(
                    match wait_until(&mut server.0, Instant::now(), "kosoku's fuzzing server") {
                        Err(e) if e.crashed => e,
                        _ => "kosoku's fuzzing server did not say where it listens within 30 s"
                            .into(),
                    },
                );
            };
            let clog = dir.join("ws_client.log");
            let mut c = Command::new(&env.client);
            c.args(["--autobahn", &format!("ws://127.0.0.1:{port}")])
                .args(["--level", &env.level])
                .stdin(Stdio::null())
                .stdout(log_file(&clog)?)
                .stderr(log_file(&clog)?);
            let mut client = c
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", env.client.display()))?;
            let rc = wait_until(&mut client, deadline, "ws_client --autobahn");
            // It writes its reports once the client asked for them, then exits.
            let rs = wait_until(&mut server.0, deadline, "kosoku's fuzzing server");
            match rc {
                Ok(()) => judged_from_reports(rs, dir),
                // Our client failing is ours, whatever the server did; a server crash
                // without reports explains it and is retried.
                Err(e) => match rs {
                    Err(s) if s.crashed && !dir.join("index.json").is_file() => Err(Ended {
                        msg: format!("{}; {}", s.msg, e.msg),
                        crashed: true,
                    }),
                    _ => Err(e),
                },
            }
        }
    }
}

/// Outcome counts of one section, one side: `34 OK, 3 INFORMATIONAL`.
fn outcome_cell(results: &[&CaseResult]) -> String {
    const ORDER: [&str; 6] = [
        "OK",
        "NON-STRICT",
        "INFORMATIONAL",
        "UNIMPLEMENTED",
        "FAILED",
        "MISSING",
    ];
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        *counts.entry(r.behavior.as_str()).or_default() += 1;
    }
    let mut cells: Vec<String> = ORDER
        .iter()
        .filter_map(|o| counts.remove(o).map(|n| format!("{n} {o}")))
        .collect();
    cells.extend(counts.iter().map(|(o, n)| format!("{n} {o}")));
    cells.join(", ")
}

fn section_name(s: u32) -> &'static str {
    match s {
        1 => "framing",
        2 => "pings/pongs",
        3 => "reserved bits",
        4 => "opcodes",
        5 => "fragmentation",
        6 => "UTF-8",
        7 => "close handling",
        9 => "limits/performance",
        10 => "misc",
        12 => "permessage-deflate",
        13 => "permessage-deflate parameters",
        _ => "",
    }
}

/// The table of cases per section and outcome, both sides, as Markdown.
pub(crate) fn table(
    ids: &[String],
    server: &BTreeMap<String, CaseResult>,
    client: &BTreeMap<String, CaseResult>,
) -> String {
    let missing = CaseResult::missing();
    let mut sections: BTreeMap<u32, Vec<&String>> = BTreeMap::new();
    for id in ids {
        sections.entry(parts(id)[0]).or_default().push(id);
    }
    let mut t = String::from(
        "| section | cases | server (kosoku's fuzzing client → ws_echo_server) | client (ws_client → kosoku's fuzzing server) |\n|---|---:|---|---|\n",
    );
    let cell = |map: &BTreeMap<String, CaseResult>, ids: &[&String]| {
        outcome_cell(
            &ids.iter()
                .map(|id| map.get(*id).unwrap_or(&missing))
                .collect::<Vec<_>>(),
        )
    };
    for (s, sids) in &sections {
        let _ = writeln!(
            t,
            "| {s} {} | {} | {} | {} |",
            section_name(*s),
            sids.len(),
            cell(server, sids),
            cell(client, sids)
        );
    }
    let all: Vec<&String> = ids.iter().collect();
    let _ = writeln!(
        t,
        "| all | {} | {} | {} |",
        ids.len(),
        cell(server, &all),
        cell(client, &all)
    );
    t
}

/// The case ids kosoku 0.1.0 knows, in its order.
fn case_ids(python: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(python)
        .args(["-c", "import kosoku.cases as c; print('\\n'.join(c.CASES))"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err("kosoku's case index could not be read".into());
    }
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    if ids.len() < 500 {
        return Err(format!("kosoku lists {} cases, expected 517", ids.len()));
    }
    Ok(ids)
}

/// The selected ids, in kosoku's order.
fn select(all: &[String], o: &Options) -> Result<Vec<String>, String> {
    let ids: Vec<String> = if !o.cases.is_empty() {
        all.iter()
            .filter(|id| o.cases.iter().any(|p| glob_match(p, id)))
            .cloned()
            .collect()
    } else {
        all.iter()
            .filter(|id| parts(id).first().is_some_and(|&s| (1..=13).contains(&s)))
            .filter(|id| o.full || in_ci_spread(id))
            .cloned()
            .collect()
    };
    if ids.is_empty() {
        return Err(format!("no case matches {:?}", o.cases));
    }
    Ok(ids)
}

/// One worker per core plus one. A case's two processes hand the connection back and forth,
/// so a worker keeps about one core busy, less in the hand-offs and in the cases that wait
/// on a timer (5.19, 5.20, 6.4.x); the extra worker fills those gaps. The CI selection on
/// this 2-core machine, shared with other builds (load average 9 to 13): 166 and 176 s of
/// wall time with 2 workers, 124, 130 and 149 s with 3, 133 s with 4, for the same 167 to
/// 186 CPU-seconds.
pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
}

/// CPU seconds of this process's reaped children so far (`cutime` + `cstime` of
/// `/proc/self/stat`, clock ticks of 1/100 s), or 0 where there is no such file.
fn children_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name in parentheses; cutime and cstime are the 16th and
    // 17th fields of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    f.get(13)
        .zip(f.get(14))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// `cargo xtask autobahn`: returns the summary note, or an error naming the failing cases.
pub(crate) fn autobahn(inst: &mut Installer, o: &Options) -> Result<String, String> {
    let t0 = Instant::now();
    let python = inst.ensure_python_venv(&[KOSOKU_PIN])?;
    let install_secs = t0.elapsed().as_secs_f64();
    let kosoku = python.with_file_name("kosoku");
    // The bench profile (release with line tables): the build `cargo xtask bench` makes of
    // the same dependencies, shared rather than made twice in one `cargo xtask ci`.
    status(cmd(
        "cargo",
        &[
            "build",
            "--profile",
            "bench",
            "--workspace",
            "--example",
            "ws_echo_server",
            "--example",
            "ws_client",
        ],
    ))?;
    let target = crate::bench::target_dir();
    let examples = target.join("release").join("examples");
    let all = case_ids(&python)?;
    let ids = select(&all, o)?;
    let jobs = if o.jobs > 0 { o.jobs } else { default_jobs() };
    let out = target.join("autobahn-report");
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let env = Env {
        kosoku,
        server: examples.join("ws_echo_server"),
        client: examples.join("ws_client"),
        out: out.clone(),
        level: o.level.unwrap_or(LEVEL).to_string(),
    };
    let queue = Arc::new(Mutex::new(chunks(&ids)));
    let nchunks = queue.lock().map(|q| q.len()).unwrap_or(0);
    println!(
        "autobahn: {} cases each way ({}), {nchunks} chunks on {jobs} workers, deflate level {}",
        ids.len(),
        if !o.cases.is_empty() {
            "--cases"
        } else if o.full {
            "--full"
        } else {
            "sections 1-11, a spread of 12-13"
        },
        env.level,
    );
    let t1 = Instant::now();
    let cpu0 = children_cpu_secs();
    let runs: Vec<ChunkRun> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs)
            .map(|w| {
                let queue = queue.clone();
                let env = &env;
                s.spawn(move || {
                    let mut echo = EchoServer::default();
                    let mut runs = Vec::new();
                    loop {
                        // Longest first: the queue is sorted longest first; take from the front.
                        let next = queue
                            .lock()
                            .ok()
                            .and_then(|mut q| (!q.is_empty()).then(|| q.remove(0)));
                        let Some(chunk) = next else { break };
                        let r = run_chunk(env, &chunk, &mut echo, w);
                        println!(
                            "autobahn: {} chunk {} ({} cases, {}..{}): {:.1} s{}",
                            chunk.side.name(),
                            chunk.n,
                            chunk.ids.len(),
                            chunk.ids[0],
                            chunk.ids[chunk.ids.len() - 1],
                            r.secs,
                            r.error
                                .as_deref()
                                .map(|e| format!(", {e}"))
                                .unwrap_or_default()
                        );
                        runs.push(r);
                    }
                    runs
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let run_secs = t1.elapsed().as_secs_f64();
    let cpu_secs = children_cpu_secs() - cpu0;
    let mut merged = [BTreeMap::new(), BTreeMap::new()];
    let mut errors = Vec::new();
    let mut cpu = [0.0, 0.0];
    for r in &runs {
        let i = r.side as usize;
        cpu[i] += r.secs;
        for id in &r.ids {
            if let Some(c) = r.results.get(id) {
                merged[i].insert(id.clone(), c.clone());
            }
        }
        if let Some(e) = &r.error {
            errors.push(format!("{} side, cases {}..: {e}", r.side.name(), r.ids[0]));
        }
    }
    let [server, client] = merged;
    for (side, m) in [(Side::Server, &server), (Side::Client, &client)] {
        let dir = out.join(side.name());
        let _ = std::fs::create_dir_all(&dir);
        let json: serde_json::Map<String, serde_json::Value> = m
            .iter()
            .map(|(id, c)| {
                (
                    id.clone(),
                    serde_json::json!({
                        "behavior": c.behavior,
                        "behaviorClose": c.behavior_close,
                        "duration": c.duration_ms,
                    }),
                )
            })
            .collect();
        let _ = std::fs::write(
            dir.join("index.json"),
            serde_json::to_string_pretty(&serde_json::json!({ "sonic-websocket": json }))
                .unwrap_or_default(),
        );
    }
    let tab = table(&ids, &server, &client);
    let summary = format!(
        "{tab}\nkosoku install check {install_secs:.1} s; cases {run_secs:.1} s wall on {jobs} workers, {cpu_secs:.0} CPU-seconds in kosoku and the examples (chunks' wall time summed: server side {:.1} s, client side {:.1} s)\n",
        cpu[0], cpu[1]
    );
    let _ = std::fs::write(out.join("summary.md"), &summary);
    println!("\n{summary}");
    let missing = CaseResult::missing();
    let mut bad = Vec::new();
    for (side, m) in [(Side::Server, &server), (Side::Client, &client)] {
        for id in &ids {
            let c = m.get(id).unwrap_or(&missing);
            if !c.passed() {
                bad.push(format!(
                    "{} {id}: {} (close {})",
                    side.name(),
                    c.behavior,
                    c.behavior_close
                ));
            }
        }
    }
    for e in &errors {
        eprintln!("autobahn: {e}");
    }
    if !bad.is_empty() {
        return Err(format!(
            "{} case results not OK, NON-STRICT or INFORMATIONAL: {}{}",
            bad.len(),
            bad.iter().take(20).cloned().collect::<Vec<_>>().join("; "),
            if bad.len() > 20 { "; ..." } else { "" }
        ));
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(format!(
        "{} cases each way passed in {run_secs:.0} s on {jobs} workers (reports in target/autobahn-report/)",
        ids.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_parsed_and_bounded() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(a(&[]).unwrap().level, None);
        assert_eq!(a(&["--level", "6", "--full"]).unwrap().level, Some(6));
        assert!(a(&["--level", "10"]).is_err());
        assert!(a(&["--level"]).is_err());
    }

    #[test]
    fn globs_match_case_ids() {
        assert!(glob_match("12.*", "12.2.10"));
        assert!(glob_match("6.4.3", "6.4.3"));
        assert!(!glob_match("6.4.3", "6.4.30"));
        assert!(glob_match("*", "1.1.1"));
        assert!(glob_match("1?.1.1", "13.1.1"));
        assert!(!glob_match("1.*", "12.1.1"));
        assert!(glob_match("*.18", "13.7.18"));
    }

    #[test]
    fn the_ci_spread_covers_every_subsection_and_every_message_shape() {
        let mut ids = Vec::new();
        for (s, n) in [(12, 5), (13, 7)] {
            for j in 1..=n {
                for i in 1..=18 {
                    ids.push(format!("{s}.{j}.{i}"));
                }
            }
        }
        let picked: Vec<&String> = ids.iter().filter(|id| in_ci_spread(id)).collect();
        for (s, n) in [(12, 5), (13, 7)] {
            for j in 1..=n {
                let sub = picked
                    .iter()
                    .filter(|id| id.starts_with(&format!("{s}.{j}.")))
                    .count();
                assert_eq!(sub, 6, "{s}.{j}");
            }
        }
        // Every negotiated combination meets a fragmented message and one of 16 KiB or more.
        for j in 1..=7 {
            let shapes: Vec<u32> = (1..=18)
                .filter(|i| in_ci_spread(&format!("13.{j}.{i}")))
                .collect();
            assert!(shapes.iter().any(|&i| i >= 11), "13.{j}: {shapes:?}");
            assert!(
                shapes
                    .iter()
                    .any(|&i| DEFLATE_SIZES[i as usize - 1] >= 16384),
                "13.{j}: {shapes:?}"
            );
        }
        for i in 1..=18 {
            assert!(
                picked.iter().any(|id| id.ends_with(&format!(".{i}"))),
                "message shape {i}"
            );
        }
        assert!(in_ci_spread("1.1.1") && in_ci_spread("9.8.6"));
    }

    #[test]
    fn chunks_keep_every_case_once_per_side() {
        let ids: Vec<String> = ["1.1.1", "5.19", "6.4.1", "12.2.10", "13.7.18", "9.1.1"]
            .map(String::from)
            .to_vec();
        let cs = chunks(&ids);
        for side in [Side::Server, Side::Client] {
            let mut got: Vec<&String> = cs
                .iter()
                .filter(|c| c.side == side)
                .flat_map(|c| &c.ids)
                .collect();
            got.sort();
            let mut want: Vec<&String> = ids.iter().collect();
            want.sort();
            assert_eq!(got, want);
        }
        assert!(cs.windows(2).all(|w| w[0].est >= w[1].est));
    }

    #[test]
    fn a_process_past_its_limit_is_killed_and_reported() {
        let mut child = Command::new("sleep").arg("600").spawn().unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        let e = wait_until(&mut child, deadline, "sleep").unwrap_err();
        assert!(e.msg.contains("time limit"), "{e:?}");
        // Our own kill is not the peer crashing.
        assert!(!e.crashed);
        // Killed and reaped: it has an exit status, from the signal.
        assert!(child.try_wait().unwrap().is_some_and(|st| !st.success()));
        let mut ok = Command::new("true").spawn().unwrap();
        assert!(wait_until(&mut ok, Instant::now() + Duration::from_secs(60), "true").is_ok());
    }

    #[test]
    fn a_peer_crash_is_told_from_a_failure_and_judged_from_its_reports() {
        let later = || Instant::now() + Duration::from_secs(60);
        let mut abort = Command::new("sh")
            .args(["-c", "kill -ABRT $$"])
            .spawn()
            .unwrap();
        let crash = wait_until(&mut abort, later(), "peer").unwrap_err();
        assert!(crash.crashed && crash.msg.contains("SIGABRT"), "{crash:?}");
        let mut fail = Command::new("false").spawn().unwrap();
        let failed = wait_until(&mut fail, later(), "peer").unwrap_err();
        assert!(!failed.crashed, "{failed:?}");

        let dir = std::env::temp_dir().join(format!("xtask-autobahn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("kosoku.log"), "2 cases passed\n").unwrap();
        // No reports: the crash stands (and run_chunk runs the chunk again).
        let r = judged_from_reports(Err(crash), &dir).unwrap_err();
        assert!(r.crashed);
        std::fs::write(dir.join("index.json"), "{}").unwrap();
        // Reports written: judged from them.
        assert!(judged_from_reports(Err(r), &dir).is_ok());
        // A peer exiting with a failure is never excused, reports or not.
        assert!(judged_from_reports(Err(failed), &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn results_parse_and_judge() {
        let json = r#"{"sonic-websocket": {
            "1.1.1": {"behavior": "OK", "behaviorClose": "OK", "duration": 2},
            "7.1.6": {"behavior": "INFORMATIONAL", "behaviorClose": "INFORMATIONAL", "duration": 1},
            "6.4.3": {"behavior": "NON-STRICT", "behaviorClose": "OK", "duration": 1},
            "12.1.1": {"behavior": "UNIMPLEMENTED", "behaviorClose": "OK", "duration": 1},
            "2.1": {"behavior": "OK", "behaviorClose": "WRONG CODE", "duration": 1}
        }}"#;
        let r = parse_index(json).unwrap();
        let passed: Vec<&str> = r
            .iter()
            .filter(|(_, c)| c.passed())
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(passed, ["1.1.1", "6.4.3", "7.1.6"]);
        assert!(!CaseResult::missing().passed());
        let ids: Vec<String> = r.keys().cloned().collect();
        let t = table(&ids, &r, &BTreeMap::new());
        assert!(
            t.contains("| 12 permessage-deflate | 1 | 1 UNIMPLEMENTED | 1 MISSING |"),
            "{t}"
        );
        assert!(
            t.contains("| 7 close handling | 1 | 1 INFORMATIONAL |"),
            "{t}"
        );
    }
}
