//! Scripted readers and writers, a recording policy and a fake clock for iox's tests.
#![allow(dead_code, unreachable_pub)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use iox::{Clock, Error, Op, PolicyAction, SemanticPolicy};

/// One scripted answer of a reader.
#[derive(Debug)]
pub enum R {
    Data(&'static [u8]),
    Fail(io::Error),
}

pub fn wb() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

pub fn more() -> io::Error {
    io::Error::from(Error::MORE)
}

/// A reader that answers from a script, then reports end of input.
pub struct ScriptReader {
    pub script: VecDeque<R>,
    pub reads: usize,
}

impl ScriptReader {
    pub fn new(script: Vec<R>) -> Self {
        ScriptReader {
            script: script.into(),
            reads: 0,
        }
    }
}

impl Read for ScriptReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        match self.script.pop_front() {
            None => Ok(0),
            Some(R::Data(d)) => {
                assert!(
                    d.len() <= buf.len(),
                    "script chunk larger than the copy buffer"
                );
                buf[..d.len()].copy_from_slice(d);
                Ok(d.len())
            }
            Some(R::Fail(e)) => Err(e),
        }
    }
}

/// A seekable source over bytes that can also fail on a scripted read.
pub struct SeekReader {
    pub data: io::Cursor<Vec<u8>>,
    pub fail_at: Vec<Option<io::Error>>,
}

impl Read for SeekReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(slot) = self.fail_at.first_mut()
            && let Some(e) = slot.take()
        {
            self.fail_at.remove(0);
            return Err(e);
        }
        if !self.fail_at.is_empty() {
            self.fail_at.remove(0);
        }
        self.data.read(buf)
    }
}

impl Seek for SeekReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.data.seek(pos)
    }
}

/// One scripted answer of a writer: accept up to n bytes, or fail.
#[derive(Debug)]
pub enum W {
    Take(usize),
    Fail(io::Error),
}

/// A writer that answers from a script (then accepts everything) and keeps what it took.
pub struct ScriptWriter {
    pub script: VecDeque<W>,
    pub got: Vec<u8>,
    pub writes: usize,
}

impl ScriptWriter {
    pub fn new(script: Vec<W>) -> Self {
        ScriptWriter {
            script: script.into(),
            got: Vec::new(),
            writes: 0,
        }
    }
}

impl Write for ScriptWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        match self.script.pop_front() {
            None => {
                self.got.extend_from_slice(buf);
                Ok(buf.len())
            }
            Some(W::Take(n)) => {
                let n = n.min(buf.len());
                self.got.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            Some(W::Fail(e)) => Err(e),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A policy that answers from fixed actions and records every call.
pub struct Recorder {
    pub on_wb: PolicyAction,
    pub on_more: PolicyAction,
    pub yields: Vec<Op>,
    pub asked: Vec<(Op, &'static str)>,
}

impl Recorder {
    pub fn new(on_wb: PolicyAction, on_more: PolicyAction) -> Self {
        Recorder {
            on_wb,
            on_more,
            yields: Vec::new(),
            asked: Vec::new(),
        }
    }
}

impl SemanticPolicy for Recorder {
    fn yield_now(&mut self, op: Op) {
        self.yields.push(op);
    }
    fn on_would_block(&mut self, op: Op) -> PolicyAction {
        self.asked.push((op, "wb"));
        self.on_wb
    }
    fn on_more(&mut self, op: Op) -> PolicyAction {
        self.asked.push((op, "more"));
        self.on_more
    }
}

/// A clock whose time moves only when something sleeps on it.
pub struct FakeClock {
    pub start: Instant,
    pub offset: Cell<Duration>,
    pub sleeps: RefCell<Vec<Duration>>,
    pub yields: Cell<u32>,
    pub spins: Cell<u32>,
}

impl FakeClock {
    pub fn new() -> Self {
        FakeClock {
            start: Instant::now(),
            offset: Cell::new(Duration::ZERO),
            sleeps: RefCell::new(Vec::new()),
            yields: Cell::new(0),
            spins: Cell::new(0),
        }
    }
    pub fn elapsed(&self) -> Duration {
        self.offset.get()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.offset.get()
    }
    fn sleep(&self, d: Duration) {
        self.sleeps.borrow_mut().push(d);
        self.offset.set(self.offset.get() + d);
    }
    fn yield_now(&self) {
        self.yields.set(self.yields.get() + 1);
    }
    fn spin(&self) {
        self.spins.set(self.spins.get() + 1);
    }
}
