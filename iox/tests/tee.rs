//! TeeReader and TeeWriter: counts, precedence, deferred side errors, policies.

mod common;
use common::{R, Recorder, ScriptReader, ScriptWriter, W, wb};
use std::io::{self, Read, Write};

use iox::{Error, ErrorKind, Op, PolicyAction, TeeReader, TeeWriter, is_would_block};

#[test]
fn tee_reader_mirrors_and_passes_signals_through() {
    let src = ScriptReader::new(vec![R::Data(b"ab"), R::Fail(wb()), R::Data(b"c")]);
    let mut tee = TeeReader::new(src, Vec::new());
    let mut buf = [0u8; 8];
    assert_eq!(tee.read(&mut buf).unwrap(), 2);
    assert!(is_would_block(&tee.read(&mut buf).unwrap_err()));
    assert_eq!(tee.read(&mut buf).unwrap(), 1);
    assert_eq!(tee.read(&mut buf).unwrap(), 0);
    let (_, side, _) = tee.into_inner();
    assert_eq!(side, b"abc");
}

#[test]
fn tee_reader_returns_the_data_then_the_side_error() {
    let src = ScriptReader::new(vec![R::Data(b"abc"), R::Data(b"d")]);
    let side = ScriptWriter::new(vec![W::Take(1), W::Fail(io::ErrorKind::BrokenPipe.into())]);
    let mut tee = TeeReader::new(src, side);
    let mut buf = [0u8; 8];
    assert_eq!(
        tee.read(&mut buf).unwrap(),
        3,
        "the bytes read are not lost"
    );
    assert_eq!(
        tee.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    assert_eq!(tee.read(&mut buf).unwrap(), 1);
}

#[test]
fn tee_reader_policy_retries_side_and_read_signals() {
    let src = ScriptReader::new(vec![R::Fail(wb()), R::Data(b"xy")]);
    let side = ScriptWriter::new(vec![W::Take(1), W::Fail(wb())]);
    let mut tee = TeeReader::with_policy(
        src,
        side,
        Recorder::new(PolicyAction::Retry, PolicyAction::Return),
    );
    let mut buf = [0u8; 8];
    assert_eq!(tee.read(&mut buf).unwrap(), 2);
    let (_, side, p) = tee.into_inner();
    assert_eq!(side.got, b"xy");
    assert_eq!(p.yields, [Op::TeeReaderRead, Op::TeeReaderSideWrite]);
}

#[test]
fn tee_writer_mirrors_what_the_primary_accepted() {
    let primary = ScriptWriter::new(vec![W::Take(3)]);
    let mut tee = TeeWriter::new(primary, Vec::new());
    assert_eq!(
        tee.write(b"abcdef").unwrap(),
        6,
        "partial acceptance continues"
    );
    tee.flush().unwrap();
    let (p, t, _) = tee.into_inner();
    assert_eq!(
        (p.got.as_slice(), t.as_slice()),
        (&b"abcdef"[..], &b"abcdef"[..])
    );
}

#[test]
fn tee_writer_signals_and_short_writes() {
    let primary = ScriptWriter::new(vec![W::Fail(wb()), W::Take(2), W::Fail(wb())]);
    let mut tee = TeeWriter::new(primary, Vec::new());
    assert!(
        is_would_block(&tee.write(b"abcd").unwrap_err()),
        "nothing accepted: the signal"
    );
    assert_eq!(tee.write(b"abcd").unwrap(), 2, "some accepted: the count");
    let mut zero = TeeWriter::new(ScriptWriter::new(vec![W::Take(0)]), Vec::new());
    let e = zero.write(b"x").unwrap_err();
    assert_eq!(Error::from(e).kind(), ErrorKind::ShortWrite);
}

#[test]
fn tee_writer_defers_the_tee_error_and_retries_under_policy() {
    let tee_side = ScriptWriter::new(vec![W::Fail(io::ErrorKind::BrokenPipe.into())]);
    let mut tee = TeeWriter::new(Vec::new(), tee_side);
    assert_eq!(tee.write(b"abc").unwrap(), 3);
    assert_eq!(
        tee.write(b"d").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );

    let primary = ScriptWriter::new(vec![W::Take(1), W::Fail(wb())]);
    let side = ScriptWriter::new(vec![W::Fail(wb())]);
    let mut tee = TeeWriter::with_policy(
        primary,
        side,
        Recorder::new(PolicyAction::Retry, PolicyAction::Return),
    );
    assert_eq!(tee.write(b"abc").unwrap(), 3);
    let (p, t, pol) = tee.into_inner();
    assert_eq!(
        (p.got.as_slice(), t.got.as_slice()),
        (&b"abc"[..], &b"abc"[..])
    );
    assert_eq!(
        pol.yields,
        [Op::TeeWriterTeeWrite, Op::TeeWriterPrimaryWrite]
    );
}
