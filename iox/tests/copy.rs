//! Every branch of the copy engine and its policies, with scripted readers and writers.

mod common;
use common::{R, Recorder, ScriptReader, ScriptWriter, SeekReader, W, more, wb};
use std::io::{self, Cursor};

use iox::{
    AsReadFrom, AsWriteTo, Error, ErrorKind, Op, PolicyAction, ReadFrom, Seekable, WriteTo,
    YieldOnWriteWouldBlockPolicy, YieldPolicy, copy, copy_buffer, copy_buffer_policy, copy_n,
    copy_n_buffer, copy_n_policy, copy_policy, read_from_policy, write_to_policy,
};

fn kind(e: &io::Error) -> ErrorKind {
    Error::from_io(e).kind()
}

#[test]
fn copies_to_the_end() {
    let mut src = ScriptReader::new(vec![R::Data(b"abc"), R::Data(b"de")]);
    let mut dst = ScriptWriter::new(vec![]);
    assert_eq!(copy(&mut dst, &mut src).unwrap(), 5);
    assert_eq!(dst.got, b"abcde");
    assert_eq!(src.reads, 3, "the third read saw the end");
}

#[test]
fn a_read_signal_comes_after_the_data_before_it() {
    for (sig, want) in [(wb(), ErrorKind::WouldBlock), (more(), ErrorKind::More)] {
        let mut src = ScriptReader::new(vec![R::Data(b"xy"), R::Fail(sig), R::Data(b"z")]);
        let mut dst = ScriptWriter::new(vec![]);
        let e = copy(&mut dst, &mut src).unwrap_err();
        assert_eq!((e.written, e.kind()), (2, want));
        assert_eq!(dst.got, b"xy");
        // The copy resumes where it stopped.
        assert_eq!(copy(&mut dst, &mut src).unwrap(), 1);
        assert_eq!(dst.got, b"xyz");
    }
}

#[test]
fn a_read_failure_stops_with_the_count_and_interrupted_is_retried() {
    let mut src = ScriptReader::new(vec![
        R::Data(b"1"),
        R::Fail(io::ErrorKind::Interrupted.into()),
        R::Data(b"2"),
        R::Fail(io::ErrorKind::ConnectionReset.into()),
    ]);
    let mut dst = ScriptWriter::new(vec![]);
    let e = copy(&mut dst, &mut src).unwrap_err();
    assert_eq!(
        (e.written, e.error.kind()),
        (2, io::ErrorKind::ConnectionReset)
    );
}

#[test]
fn partial_writes_continue_and_a_zero_write_is_a_short_write() {
    let mut src = ScriptReader::new(vec![R::Data(b"abcdef")]);
    let mut dst = ScriptWriter::new(vec![W::Take(2), W::Take(1)]);
    assert_eq!(copy(&mut dst, &mut src).unwrap(), 6);
    assert_eq!(dst.got, b"abcdef");

    let mut src = ScriptReader::new(vec![R::Data(b"abc")]);
    let mut dst = ScriptWriter::new(vec![W::Take(1), W::Take(0)]);
    let e = copy(&mut dst, &mut src).unwrap_err();
    assert_eq!((e.written, e.kind()), (1, ErrorKind::ShortWrite));
    assert_eq!(e.error.kind(), io::ErrorKind::WriteZero);
}

#[test]
fn a_blocked_write_without_seek_is_no_seeker() {
    let mut src = ScriptReader::new(vec![R::Data(b"abcd")]);
    let mut dst = ScriptWriter::new(vec![W::Take(1), W::Fail(wb())]);
    let e = copy(&mut dst, &mut src).unwrap_err();
    assert_eq!((e.written, e.kind()), (1, ErrorKind::NoSeeker));
}

#[test]
fn a_blocked_write_rolls_a_seekable_source_back() {
    for sig in [wb(), more()] {
        let want = kind(&sig);
        let data = b"0123456789".to_vec();
        let mut src = Seekable(SeekReader {
            data: Cursor::new(data.clone()),
            fail_at: vec![],
        });
        let mut dst = ScriptWriter::new(vec![W::Take(3), W::Fail(sig)]);
        let mut buf = [0u8; 4];
        let e = copy_buffer(&mut dst, &mut src, &mut buf).unwrap_err();
        assert_eq!((e.written, e.kind()), (3, want));
        assert_eq!(
            src.0.data.position(),
            3,
            "the unwritten byte went back to the source"
        );
        assert_eq!(copy_buffer(&mut dst, &mut src, &mut buf).unwrap(), 7);
        assert_eq!(dst.got, data, "every byte exactly once");
    }
}

#[test]
fn a_write_failure_is_returned_without_roll_back() {
    let mut src = Seekable(Cursor::new(b"abcdef".to_vec()));
    let mut dst = ScriptWriter::new(vec![W::Take(2), W::Fail(io::ErrorKind::BrokenPipe.into())]);
    let e = copy(&mut dst, &mut src).unwrap_err();
    assert_eq!((e.written, e.error.kind()), (2, io::ErrorKind::BrokenPipe));
    assert_eq!(src.0.position(), 6);
}

#[test]
fn an_empty_buffer_is_invalid_input() {
    let mut dst = Vec::new();
    let e = copy_buffer(&mut dst, &mut &b"x"[..], &mut []).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("copy buffer is empty"), "{e}");
}

#[test]
fn copy_n_rules() {
    let mut src = ScriptReader::new(vec![R::Data(b"abcdef")]);
    let mut dst = Vec::new();
    let mut buf = [0u8; 8];
    // Reads no more than asked: the first read asks for 4 bytes only.
    let mut four = ScriptReader::new(vec![R::Data(b"abcd"), R::Data(b"ef")]);
    assert_eq!(copy_n_buffer(&mut dst, &mut four, 4, &mut buf).unwrap(), 4);
    assert_eq!(four.reads, 1);
    dst.clear();
    let e = copy_n(&mut dst, &mut src, 10).unwrap_err();
    assert_eq!((e.written, e.kind()), (6, ErrorKind::UnexpectedEof));
    let mut untouched = ScriptReader::new(vec![R::Data(b"a")]);
    assert_eq!(copy_n(&mut dst, &mut untouched, 0).unwrap(), 0);
    assert_eq!(untouched.reads, 0);
    let mut blocking = ScriptReader::new(vec![R::Data(b"ab"), R::Fail(wb())]);
    let e = copy_n(&mut dst, &mut blocking, 5).unwrap_err();
    assert_eq!((e.written, e.kind()), (2, ErrorKind::WouldBlock));
    let mut short = ScriptReader::new(vec![R::Data(b"ab")]);
    let e = copy_n_policy(&mut dst, &mut short, 3, &mut YieldPolicy::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "with a policy too");
}

#[test]
fn retry_policy_waits_out_read_signals() {
    let mut p = Recorder::new(PolicyAction::Retry, PolicyAction::Retry);
    let mut src = ScriptReader::new(vec![
        R::Data(b"a"),
        R::Fail(wb()),
        R::Fail(more()),
        R::Data(b"b"),
    ]);
    let mut dst = ScriptWriter::new(vec![]);
    assert_eq!(copy_policy(&mut dst, &mut src, &mut p).unwrap(), 2);
    assert_eq!(p.asked, [(Op::CopyRead, "wb"), (Op::CopyRead, "more")]);
    assert_eq!(p.yields, [Op::CopyRead, Op::CopyRead]);
}

#[test]
fn retry_policy_resumes_a_blocked_write_without_roll_back() {
    let mut p = Recorder::new(PolicyAction::Retry, PolicyAction::Return);
    let mut src = ScriptReader::new(vec![R::Data(b"abcdef")]);
    let mut dst = ScriptWriter::new(vec![W::Take(2), W::Fail(wb()), W::Take(1)]);
    let mut buf = [0u8; 16];
    assert_eq!(
        copy_buffer_policy(&mut dst, &mut src, &mut buf, &mut p).unwrap(),
        6
    );
    assert_eq!(dst.got, b"abcdef");
    assert_eq!(p.yields, [Op::CopyWrite]);
    // More on the write side is returned by this policy: roll back needed, no seek: NoSeeker.
    let mut src = ScriptReader::new(vec![R::Data(b"abc")]);
    let mut dst = ScriptWriter::new(vec![W::Take(1), W::Fail(more())]);
    let e = copy_policy(&mut dst, &mut src, &mut p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSeeker);
    assert_eq!(p.asked.last(), Some(&(Op::CopyWrite, "more")));
}

#[test]
fn write_only_policy_returns_read_signals_and_retries_write_ones() {
    let mut yields = Vec::new();
    {
        let mut p = YieldOnWriteWouldBlockPolicy::with(|op| yields.push(op));
        let mut src = ScriptReader::new(vec![R::Data(b"ab"), R::Fail(wb())]);
        let mut dst = ScriptWriter::new(vec![W::Fail(wb()), W::Take(1)]);
        let e = copy_policy(&mut dst, &mut src, &mut p).unwrap_err();
        assert_eq!((e.written, e.kind()), (2, ErrorKind::WouldBlock));
    }
    assert_eq!(yields, [Op::CopyWrite]);
}

#[test]
fn wrapped_signals_reach_the_policy() {
    let mut p = Recorder::new(PolicyAction::Return, PolicyAction::Return);
    let wrapped = io::Error::other(io::Error::from(Error::MORE));
    let mut src = ScriptReader::new(vec![R::Fail(wrapped)]);
    let e = copy_policy(&mut Vec::new(), &mut src, &mut p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::More);
    assert_eq!(p.asked, [(Op::CopyRead, "more")]);
}

#[test]
fn write_to_fast_paths_are_resumable() {
    let mut src: &[u8] = b"hello world";
    let mut dst = ScriptWriter::new(vec![W::Take(5), W::Fail(wb())]);
    let e = src.write_to(&mut dst).unwrap_err();
    assert_eq!((e.written, e.kind()), (5, ErrorKind::WouldBlock));
    assert_eq!(src, b" world");
    assert_eq!(src.write_to(&mut dst).unwrap(), 6);
    assert_eq!(dst.got, b"hello world");

    let mut cur = Cursor::new(b"cursor".to_vec());
    let mut dst = ScriptWriter::new(vec![W::Take(2), W::Fail(wb())]);
    let mut p = Recorder::new(PolicyAction::Retry, PolicyAction::Return);
    assert_eq!(write_to_policy(&mut dst, &mut cur, &mut p).unwrap(), 6);
    assert_eq!(dst.got, b"cursor");
    assert_eq!(p.yields, [Op::CopyWriteTo]);
}

#[test]
fn read_from_and_the_adapters() {
    let mut v = Vec::new();
    let mut src = ScriptReader::new(vec![R::Data(b"ab"), R::Fail(wb()), R::Data(b"c")]);
    let e = v.read_from(&mut src).unwrap_err();
    assert_eq!((e.written, e.kind()), (2, ErrorKind::WouldBlock));
    assert_eq!(v.read_from(&mut src).unwrap(), 1);
    assert_eq!(v, b"abc");

    let mut p = Recorder::new(PolicyAction::Retry, PolicyAction::Return);
    let mut src = ScriptReader::new(vec![R::Data(b"x"), R::Fail(wb()), R::Data(b"y")]);
    let mut dst = AsReadFrom(Vec::new());
    assert_eq!(read_from_policy(&mut dst, &mut src, &mut p).unwrap(), 2);
    assert_eq!(dst.0, b"xy");
    assert_eq!(p.yields, [Op::CopyReadFrom]);

    let mut w = AsWriteTo(Seekable(Cursor::new(b"seek".to_vec())));
    let mut dst = ScriptWriter::new(vec![W::Take(1), W::Fail(wb())]);
    assert_eq!(w.write_to(&mut dst).unwrap_err().written, 1);
    assert_eq!(w.write_to(&mut dst).unwrap(), 3);
    assert_eq!(dst.got, b"seek");
    let mut plain = AsWriteTo(&b"plain"[..]);
    let mut out = Vec::new();
    assert_eq!(plain.write_to(&mut out).unwrap(), 5);
}
