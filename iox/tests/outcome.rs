//! Outcome and the predicates, for iox errors and std errors, wrapped or not.

use std::io;

use iox::{
    Error, ErrorKind, Outcome, classify, is_more, is_non_failure, is_progress, is_semantic,
    is_would_block,
};

#[test]
fn classify_iox_results() {
    assert_eq!(classify::<u8, Error>(&Ok(1)), Outcome::Ok);
    assert_eq!(
        classify::<u8, _>(&Err(Error::WOULD_BLOCK)),
        Outcome::WouldBlock
    );
    assert_eq!(classify::<u8, _>(&Err(Error::MORE)), Outcome::More);
    assert_eq!(
        classify::<u8, _>(&Err(Error::new(ErrorKind::ConnectionReset))),
        Outcome::Failure
    );
    assert_eq!(
        classify::<u8, _>(&Err(Error::new(ErrorKind::UnexpectedEof))),
        Outcome::Failure
    );
}

#[test]
fn classify_std_results_through_wrapping() {
    let wb = io::Error::from(io::ErrorKind::WouldBlock);
    assert_eq!(classify::<(), _>(&Err(wb)), Outcome::WouldBlock);
    let eagain = io::Error::from_raw_os_error(zcall::Errno::EAGAIN.raw());
    assert!(is_would_block(&eagain));
    let more = io::Error::other(io::Error::from(Error::MORE));
    assert_eq!(classify::<(), _>(&Err(more)), Outcome::More);
    let plain = io::Error::other("boom");
    assert_eq!(classify::<(), _>(&Err(plain)), Outcome::Failure);
}

#[test]
fn predicates() {
    // (result, would block, more, semantic, non-failure, progress)
    type Row = (Result<(), Error>, bool, bool, bool, bool, bool);
    let cases: [Row; 4] = [
        (Ok(()), false, false, false, true, true),
        (Err(Error::WOULD_BLOCK), true, false, true, true, false),
        (Err(Error::MORE), false, true, true, true, true),
        (Err(Error::TIMED_OUT), false, false, false, false, false),
    ];
    for (r, wb, more, sem, nonfail, prog) in cases {
        if let Err(e) = &r {
            assert_eq!(is_would_block(e), wb, "{r:?}");
            assert_eq!(is_more(e), more, "{r:?}");
            assert_eq!(is_semantic(e), sem, "{r:?}");
            assert_eq!(e.is_semantic(), sem);
        }
        assert_eq!(is_non_failure(&r), nonfail, "{r:?}");
        assert_eq!(is_progress(&r), prog, "{r:?}");
    }
    assert_eq!(Outcome::More.to_string(), "more");
}
