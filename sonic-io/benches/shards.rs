//! Scale-out: messages/s and latency of one Io against two Ios (`sonic_io::shard`), a
//! 64-byte TCP echo on loopback, with the client load in another process (this binary
//! re-executed with `--client`, as `benches/syscalls.rs` re-executes itself).
//!
//! The server runs in this process: `Shards` pinned to the first 1, then 2, allowed CPUs,
//! `Placement::Hash`. The client process runs 2 threads, each one Io driving 16 connections
//! in a closed loop (write 64 bytes, read the 64 back, record the round trip, again) for the
//! run's length; it is not pinned. Each run prints messages/s, the round trip's
//! p50/p99/p99.9, and the CPU time each process used (from `/proc/<pid>/stat`), so the table
//! says whether the clients had room: when server and clients together use every core, the
//! clients were competing with the server for it, and the ratio is a floor, not the scaling.
//!
//! `cargo bench -p sonic-io --bench shards [-- --quick]` (1 s a run instead of 3).

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("sonic-io shards: linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::{Cell, RefCell};
    use std::process::{Command, Stdio};
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use sonic_io::shard::{Placement, Shards};
    use sonic_io::{Io, Listener, TcpStream};
    use testkit::bench::Figure;

    const MSG: usize = 64;
    const CLIENT_THREADS: usize = 2;
    const CONNS_PER_THREAD: usize = 16;
    /// A client process that runs longer than this past its run has hung.
    const CHILD_LIMIT: Duration = Duration::from_secs(60);

    /// CPU seconds (user + system) the process `pid` ("self" for this one) used so far.
    fn cpu_seconds(pid: &str) -> f64 {
        let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return f64::NAN;
        };
        // Fields after the command name (which may hold spaces) start at its ')'.
        let rest = &s[s.rfind(')').map_or(0, |i| i + 2)..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the ')'.
        let ticks: f64 =
            f[11].parse::<f64>().unwrap_or(f64::NAN) + f[12].parse::<f64>().unwrap_or(f64::NAN);
        // USER_HZ is 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
        ticks / 100.0
    }

    /// CPU seconds every CPU of the machine spent busy so far (`/proc/stat`: all but idle
    /// and iowait), to tell how much of the machine other processes took.
    fn machine_busy_seconds() -> f64 {
        let Ok(s) = std::fs::read_to_string("/proc/stat") else {
            return f64::NAN;
        };
        let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
            return f64::NAN;
        };
        let v: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 5 {
            return f64::NAN;
        }
        (v.iter().sum::<f64>() - v[3] - v[4]) / 100.0
    }

    // ---- the server: an echo on every shard ----

    fn accept(io: &mut Io, l: Listener<sock::TcpListener>) {
        let _ = l.async_accept(io, move |io, r| {
            let Ok((c, _)) = r else { return };
            let _ = c.get(io).map(|s| s.set_nodelay(true));
            echo(io, c, vec![0u8; MSG]);
            accept(io, l);
        });
    }

    fn echo(io: &mut Io, c: TcpStream, buf: Vec<u8>) {
        let r = c.async_read(io, buf, move |io, r, mut buf| match r {
            Ok(n) if n > 0 => {
                buf.truncate(n);
                let _ = c.async_write_all(io, buf, move |io, r, mut buf| {
                    buf.resize(MSG, 0);
                    if r.is_ok() {
                        echo(io, c, buf);
                    } else {
                        let _ = c.close(io);
                    }
                });
            }
            _ => {
                let _ = c.close(io);
            }
        });
        if r.is_err() {
            let _ = c.close(io);
        }
    }

    // ---- the client process ----

    struct Load {
        end: Instant,
        left: Cell<usize>,
        samples: RefCell<Vec<u32>>,
    }

    fn round(io: &mut Io, c: TcpStream, load: Rc<Load>, buf: Vec<u8>) {
        let t0 = Instant::now();
        let l = load.clone();
        let r = c.async_write_all(io, buf, move |io, r, buf| {
            if r.is_err() {
                return finish(io, c, &l);
            }
            let r = c.async_read_exact(io, buf, move |io, r, buf| {
                if r.is_err() {
                    return finish(io, c, &l);
                }
                l.samples
                    .borrow_mut()
                    .push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                if Instant::now() < l.end {
                    round(io, c, l, buf);
                } else {
                    finish(io, c, &l);
                }
            });
            if r.is_err() {
                panic!("read refused");
            }
        });
        if r.is_err() {
            panic!("write refused");
        }
        drop(load);
    }

    fn finish(io: &mut Io, c: TcpStream, l: &Load) {
        let _ = c.close(io);
        l.left.set(l.left.get() - 1);
        if l.left.get() == 0 {
            let _ = io.close();
        }
    }

    /// Runs the load for `secs`; prints `messages p50 p99 p999 cpu_seconds` (ns).
    fn client(addr: String, secs: f64) {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let threads: Vec<_> = (0..CLIENT_THREADS)
            .map(|_| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let mut io = Io::new().unwrap();
                    let load = Rc::new(Load {
                        end,
                        left: Cell::new(CONNS_PER_THREAD),
                        samples: RefCell::new(Vec::with_capacity(4 << 20)),
                    });
                    for _ in 0..CONNS_PER_THREAD {
                        let l = load.clone();
                        TcpStream::dial(&mut io, addr.as_str(), move |io, r| {
                            let c = r.expect("dial");
                            let _ = c.get(io).map(|s| s.set_nodelay(true));
                            round(io, c, l, vec![0x5a; MSG]);
                        })
                        .unwrap();
                    }
                    io.run().unwrap();
                    load.samples.take()
                })
            })
            .collect();
        let mut all: Vec<u32> = Vec::new();
        for t in threads {
            all.extend(t.join().unwrap());
        }
        all.sort_unstable();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        println!(
            "{} {} {} {} {}",
            all.len(),
            pct(0.50),
            pct(0.99),
            pct(0.999),
            cpu_seconds("self")
        );
    }

    struct Run {
        ios: usize,
        msgs_per_s: f64,
        p50: f64,
        p99: f64,
        p999: f64,
        server_cpu: f64,
        client_cpu: f64,
        machine_cpu: f64,
        secs: f64,
    }

    fn run(ios: usize, secs: f64) -> Result<Run, String> {
        let shards = Shards::builder()
            .shards(ios)
            .placement(Placement::Hash)
            .serve_tcp("127.0.0.1:0", |io, _, l| {
                accept(io, l);
                Ok(())
            })
            .map_err(|e| format!("{ios} Ios: {e}"))?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let cpu0 = cpu_seconds("self");
        let machine0 = machine_busy_seconds();
        let start = Instant::now();
        let mut child = Command::new(exe)
            .args([
                "--client",
                &shards.local_addr().to_string(),
                &secs.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        loop {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                break;
            }
            if start.elapsed() > CHILD_LIMIT + Duration::from_secs_f64(secs) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the client of {ios} Ios hung"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let server_cpu = cpu_seconds("self") - cpu0;
        let machine_cpu = machine_busy_seconds() - machine0;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        shards.shutdown().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("the client of {ios} Ios failed ({})", out.status));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        if f.len() != 5 {
            return Err(format!("client output: {text}"));
        }
        Ok(Run {
            ios,
            msgs_per_s: f[0] / secs,
            p50: f[1] / 1e3,
            p99: f[2] / 1e3,
            p999: f[3] / 1e3,
            server_cpu,
            client_cpu: f[4],
            machine_cpu,
            secs,
        })
    }

    pub(crate) fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(i) = args.iter().position(|a| a == "--client") {
            let addr = args.get(i + 1).expect("address").clone();
            let secs: f64 = args
                .get(i + 2)
                .and_then(|s| s.parse().ok())
                .expect("seconds");
            client(addr, secs);
            return;
        }
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("SONIC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let secs = if quick { 1.0 } else { 3.0 };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            println!("sonic-io shards: one CPU: 2 Ios cannot be compared with 1");
            return;
        }
        println!(
            "sonic-io shards: 64-byte TCP echo, {CLIENT_THREADS}x{CONNS_PER_THREAD} closed-loop connections in a client process, {secs} s a run, {cores} CPUs"
        );
        println!(
            "{:>4} {:>12} {:>9} {:>9} {:>9} {:>12} {:>12} {:>12}",
            "Ios",
            "msgs/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "server CPU",
            "client CPU",
            "others' CPU"
        );
        let mut runs = Vec::new();
        for ios in [1, 2] {
            match run(ios, secs) {
                Ok(r) => {
                    println!(
                        "{:>4} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>11.0}% {:>11.0}% {:>11.0}%",
                        r.ios,
                        r.msgs_per_s,
                        r.p50,
                        r.p99,
                        r.p999,
                        100.0 * r.server_cpu / r.secs,
                        100.0 * r.client_cpu / r.secs,
                        100.0 * (r.machine_cpu - r.server_cpu - r.client_cpu).max(0.0) / r.secs
                    );
                    runs.push(r);
                }
                Err(e) => {
                    eprintln!("sonic-io shards: {e}");
                    std::process::exit(1);
                }
            }
        }
        let ratio = runs[1].msgs_per_s / runs[0].msgs_per_s;
        let r = &runs[1];
        let machine = r.machine_cpu / r.secs;
        let (server, clients) = (r.server_cpu / r.secs, r.client_cpu / r.secs);
        let others = (machine - server - clients).max(0.0);
        println!("scaling, 2 Ios / 1 Io: {ratio:.2}x messages/s");
        println!(
            "with 2 Ios the {cores} CPUs were {machine:.2} busy: server {server:.2}, clients {clients:.2}, other processes {others:.2}"
        );
        let stolen = runs
            .iter()
            .map(|r| ((r.machine_cpu - r.server_cpu - r.client_cpu) / r.secs).max(0.0))
            .fold(0.0f64, f64::max);
        if stolen > 0.1 {
            println!(
                "other processes took up to {stolen:.2} CPUs during the runs: neither the server nor the clients had their cores, so the ratio measures the machine's load, not the scaling; run it on a quiet machine"
            );
        } else if machine > 0.9 * cores as f64 {
            println!(
                "the clients were the bottleneck: with 2 Ios they took {clients:.2} of the {cores} CPUs the server needed, so the ratio is a floor, not the scaling"
            );
        } else {
            println!(
                "the clients left the server room: {machine:.2} of {cores} CPUs busy with 2 Ios"
            );
        }
        let mut figs = Vec::new();
        let names = ["1 Io", "2 Ios"];
        for (r, n) in runs.iter().zip(names) {
            figs.push(Figure {
                name: "sharded echo msgs/s",
                subject: n,
                unit: "msg/s",
                value: r.msgs_per_s,
            });
            figs.push(Figure {
                name: "sharded echo p99",
                subject: n,
                unit: "us",
                value: r.p99,
            });
        }
        figs.push(Figure {
            name: "sharded echo scaling",
            subject: "2 Ios / 1 Io",
            unit: "x",
            value: ratio,
        });
        // Where the CPUs went with 2 Ios, and the most any other process took in either run:
        // the report says from these whether the ratio measures the scaling.
        for (subject, value) in [
            ("server", server),
            ("clients", clients),
            ("other processes", others),
            ("other processes, most in a run", stolen),
        ] {
            figs.push(Figure {
                name: "sharded echo CPUs busy",
                subject,
                unit: "CPUs",
                value,
            });
        }
        if let Err(e) = testkit::bench::record("sonic-io", &figs) {
            eprintln!("sonic-io shards: cannot record the figures: {e}");
        }
    }
}
