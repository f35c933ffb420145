//! Classic BPF programs that choose a socket of an `SO_REUSEPORT` group (Linux).
//!
//! A group of sockets bound to one address with `SO_REUSEPORT` shares its traffic: by
//! default the kernel picks a socket by a hash of the packet's addresses. A classic BPF
//! program attached to the group with [`attach_reuseport_cbpf`] (`SO_ATTACH_REUSEPORT_CBPF`)
//! picks instead: it runs on each new connection's SYN (each datagram, for UDP) and returns
//! an **index into the group**, the order in which its sockets joined it (for TCP: the order
//! of their `listen` calls, which [`TcpListener::bind_with`](crate::TcpListener::bind_with)
//! makes in one step). An index past the group's end makes the kernel fall back to its hash.
//!
//! [`Program::index_by_cpu`] builds the program that keeps a connection on the CPU that
//! received it: "return the index of the socket whose thread runs on the current CPU".
//! [`Insn`] is a small typed builder for other programs; [`Program::new`] checks what the
//! kernel would refuse (empty, longer than [`MAX_INSNS`], a jump out of the program, no
//! final return) and names it.
//!
//! ```
//! use sock::bpf::{Insn, Program, attach_reuseport_cbpf};
//! use sock::{ListenOptions, TcpListener, Family};
//!
//! let o = ListenOptions { reuse_port: true, ..Default::default() };
//! let a = TcpListener::bind_with("127.0.0.1:0", Family::V4, o).unwrap();
//! let b = TcpListener::bind_with(a.local_addr().unwrap(), Family::V4, o).unwrap();
//! // Shard 0 runs on CPU 0, shard 1 on CPU 1: connections stay on the CPU that received them.
//! let p = Program::index_by_cpu(&[0, 1]).unwrap();
//! assert_eq!(p.insns()[0], Insn::ld_cpu());
//! attach_reuseport_cbpf(&a, &p).unwrap();
//! # drop(b);
//! ```
//!
//! See `socket(7)` (`SO_ATTACH_REUSEPORT_CBPF`) and `filter(2)`.

use std::os::fd::{AsFd, AsRawFd};

/// The most instructions a classic BPF program may have (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;

/// The return value that selects no socket: the kernel falls back to its hash.
pub const FALLBACK: u32 = u32::MAX;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const RET_A: u16 = (libc::BPF_RET | libc::BPF_A) as u16;
/// `SKF_AD_OFF + SKF_AD_CPU`: the offset whose load yields the current CPU.
const AD_CPU: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32;

/// One classic BPF instruction: a `struct sock_filter` (`code`, `jt`, `jf`, `k`).
///
/// Built by the constructors below, each naming the instruction as `bpf_asm` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

static_assertions::assert_eq_size!(Insn, libc::sock_filter);

impl Insn {
    /// `ld [SKF_AD_OFF + SKF_AD_CPU]`: loads the number of the CPU running the program
    /// (the one that received the packet) into the accumulator.
    pub const fn ld_cpu() -> Insn {
        Insn::raw(LD_W_ABS, 0, 0, AD_CPU)
    }

    /// `ld [k]`: loads the 32-bit big-endian word at offset `k` of the packet (for a
    /// reuseport program: of the transport payload, the UDP or TCP header excluded).
    pub const fn ld_abs_w(k: u32) -> Insn {
        Insn::raw(LD_W_ABS, 0, 0, k)
    }

    /// `jeq #k, jt, jf`: skips `jt` instructions if the accumulator equals `k`, else `jf`.
    pub const fn jeq(k: u32, jt: u8, jf: u8) -> Insn {
        Insn::raw(JEQ_K, jt, jf, k)
    }

    /// `ja k`: skips `k` instructions.
    pub const fn ja(k: u32) -> Insn {
        Insn::raw(JA, 0, 0, k)
    }

    /// `ret #k`: returns `k` (for a reuseport program, the socket's index in the group;
    /// [`FALLBACK`] for the kernel's hash).
    pub const fn ret(k: u32) -> Insn {
        Insn::raw(RET_K, 0, 0, k)
    }

    /// `ret a`: returns the accumulator.
    pub const fn ret_a() -> Insn {
        Insn::raw(RET_A, 0, 0, 0)
    }

    /// Any instruction, from its four fields (`linux/filter.h`); the kernel checks it.
    pub const fn raw(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// The opcode.
    pub const fn code(&self) -> u16 {
        self.code
    }

    /// The jump when true.
    pub const fn jt(&self) -> u8 {
        self.jt
    }

    /// The jump when false.
    pub const fn jf(&self) -> u8 {
        self.jf
    }

    /// The constant.
    pub const fn k(&self) -> u32 {
        self.k
    }

    fn is_ret(&self) -> bool {
        self.code & 0x07 == libc::BPF_RET as u16
    }

    fn is_jmp(&self) -> bool {
        self.code & 0x07 == libc::BPF_JMP as u16
    }

    pub(crate) fn to_sock_filter(self) -> libc::sock_filter {
        libc::sock_filter {
            code: self.code,
            jt: self.jt,
            jf: self.jf,
            k: self.k,
        }
    }
}

/// A classic BPF program the kernel will accept for its shape.
///
/// Invariant, checked once in [`Program::new`]: 1 to [`MAX_INSNS`] instructions, the last a
/// return, and every jump lands inside the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    /// Checks `insns`: `InvalidInput` naming what is wrong for an empty program, one longer
    /// than [`MAX_INSNS`], a jump past the end, or a last instruction that is not a return.
    /// (The kernel checks the rest: opcodes, loads it does not know.)
    pub fn new(insns: Vec<Insn>) -> iox::Result<Program> {
        if insns.is_empty() {
            return Err(iox::Error::invalid_input(
                "a BPF program needs at least one instruction",
            ));
        }
        if insns.len() > MAX_INSNS {
            return Err(iox::Error::invalid_input(
                "a BPF program exceeds BPF_MAXINSNS (4096 instructions)",
            ));
        }
        if !insns[insns.len() - 1].is_ret() {
            return Err(iox::Error::invalid_input(
                "a BPF program must end with a return",
            ));
        }
        for (i, insn) in insns.iter().enumerate() {
            if !insn.is_jmp() {
                continue;
            }
            let rest = insns.len() - i - 1;
            let far = if insn.code == JA {
                insn.k as usize
            } else {
                usize::from(insn.jt.max(insn.jf))
            };
            if far >= rest {
                return Err(iox::Error::invalid_input(
                    "a BPF jump lands past the program's end",
                ));
            }
        }
        Ok(Program { insns })
    }

    /// The program that returns the index of the socket whose thread runs on the current
    /// CPU: `cpus[i]` is the CPU of the group's socket `i`. It reads
    ///
    /// ```text
    /// ld [SKF_AD_OFF + SKF_AD_CPU]
    /// jeq #cpus[0], 0, 1
    /// ret #0
    /// ...                           ; one jeq/ret pair per socket
    /// ret #0xffffffff               ; a CPU with no socket: the kernel's hash
    /// ```
    ///
    /// `InvalidInput` for an empty list, a CPU listed twice (two sockets cannot both be the
    /// one on a CPU), or more than 2,047 sockets (the program would pass [`MAX_INSNS`]).
    pub fn index_by_cpu(cpus: &[usize]) -> iox::Result<Program> {
        if cpus.is_empty() {
            return Err(iox::Error::invalid_input(
                "index_by_cpu needs at least one CPU",
            ));
        }
        if 2 * cpus.len() + 2 > MAX_INSNS {
            return Err(iox::Error::invalid_input(
                "index_by_cpu: more than 2047 sockets exceed BPF_MAXINSNS (4096 instructions)",
            ));
        }
        for (i, c) in cpus.iter().enumerate() {
            if cpus[..i].contains(c) {
                return Err(iox::Error::invalid_input(
                    "index_by_cpu: a CPU is listed twice",
                ));
            }
        }
        let mut insns = Vec::with_capacity(2 * cpus.len() + 2);
        insns.push(Insn::ld_cpu());
        for (i, &cpu) in cpus.iter().enumerate() {
            let cpu = u32::try_from(cpu)
                .map_err(|_| iox::Error::invalid_input("index_by_cpu: a CPU number exceeds u32"))?;
            insns.push(Insn::jeq(cpu, 0, 1));
            insns.push(Insn::ret(i as u32));
        }
        insns.push(Insn::ret(FALLBACK));
        Program::new(insns)
    }

    /// The instructions.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }
}

/// Attaches `program` to the `SO_REUSEPORT` group of `socket` (`SO_ATTACH_REUSEPORT_CBPF`):
/// from now on it picks the socket of the group that gets each new connection (TCP) or
/// datagram (UDP). Attach it to any socket of the group once all have joined; a later
/// attach replaces it. The kernel copies the program: `program` may be dropped afterwards.
///
/// Errors are the kernel's: `InvalidInput` for a program its checker refuses, or a socket
/// without `SO_REUSEPORT` on older kernels.
pub fn attach_reuseport_cbpf(socket: &impl AsFd, program: &Program) -> iox::Result<()> {
    let filters: Vec<libc::sock_filter> =
        program.insns.iter().map(|i| i.to_sock_filter()).collect();
    crate::sys::attach_reuseport_cbpf(socket.as_fd().as_raw_fd(), &filters)
}

/// Detaches the group's program (`SO_DETACH_REUSEPORT_BPF`, Linux 5.8+): back to the
/// kernel's hash. `NotFound`-like `ENOENT` when none was attached.
pub fn detach_reuseport_bpf(socket: &impl AsFd) -> iox::Result<()> {
    Ok(zcall::setsockopt(
        socket.as_fd().as_raw_fd(),
        libc::SOL_SOCKET,
        crate::sys::SO_DETACH_REUSEPORT_BPF,
        &0i32.to_ne_bytes(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_by_cpu_encodes_one_pair_per_socket_and_a_fallback() {
        let p = Program::index_by_cpu(&[3, 1]).unwrap();
        assert_eq!(
            p.insns(),
            &[
                Insn::raw(0x20, 0, 0, 0xffff_f024),
                Insn::raw(0x15, 0, 1, 3),
                Insn::raw(0x06, 0, 0, 0),
                Insn::raw(0x15, 0, 1, 1),
                Insn::raw(0x06, 0, 0, 1),
                Insn::raw(0x06, 0, 0, 0xffff_ffff),
            ]
        );
    }

    #[test]
    fn bad_programs_are_refused_by_name() {
        let msg = |r: iox::Result<Program>| r.unwrap_err().to_string();
        assert!(msg(Program::new(vec![])).contains("at least one"));
        assert!(msg(Program::new(vec![Insn::ld_cpu()])).contains("end with a return"));
        assert!(msg(Program::new(vec![Insn::ret(0); MAX_INSNS + 1])).contains("BPF_MAXINSNS"));
        assert!(msg(Program::new(vec![Insn::jeq(0, 1, 0), Insn::ret(0)])).contains("past"));
        assert!(msg(Program::new(vec![Insn::ja(1), Insn::ret(0)])).contains("past"));
        assert!(msg(Program::index_by_cpu(&[])).contains("at least one CPU"));
        assert!(msg(Program::index_by_cpu(&[1, 1])).contains("twice"));
        let many: Vec<usize> = (0..2048).collect();
        assert!(msg(Program::index_by_cpu(&many)).contains("BPF_MAXINSNS"));
        assert_eq!(
            Program::index_by_cpu(&many[..2047]).unwrap().insns().len(),
            MAX_INSNS
        );
    }
}
