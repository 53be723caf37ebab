//! [`Checked`]: a [`PageStore`] wrapper that latches the first I/O failure.
//!
//! After a failed `create`, `write`, `sync`, `remove`, `sync_dir` or
//! `write_meta`, the durable state of the store is unknown: a failed `fsync`
//! may have dropped dirty pages that a retry would then report as clean (the
//! "fsyncgate" problem), and a failed write may have landed in part. So the
//! first failure latches: every later call, reads included, returns
//! [`StoreErrorKind::PreviousIo`] (with the original error in its message)
//! until the store is reopened and recovery has run again. Nothing is ever
//! retried here.
//!
//! Failed *reads* do not latch: a missing segment or a read past the end is an
//! answer, not damage, and reading changes nothing.

use alloc::format;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::Range;

use crate::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

/// A store that refuses every call after its first failed mutation.
#[derive(Debug)]
pub struct Checked<S> {
    inner: S,
    latched: RefCell<Option<StoreError>>,
}

impl<S> Checked<S> {
    /// Wraps a store (un-latched).
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            latched: RefCell::new(None),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store, e.g. to reopen it after a failure.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The failure that latched the store, if any.
    pub fn latched(&self) -> Option<StoreError> {
        self.latched.borrow().clone()
    }

    /// True once a mutation has failed.
    pub fn is_latched(&self) -> bool {
        self.latched.borrow().is_some()
    }

    fn check(&self) -> Result<(), StoreError> {
        match &*self.latched.borrow() {
            None => Ok(()),
            Some(e) => Err(StoreError::new(
                StoreErrorKind::PreviousIo,
                format!("refusing after an earlier failure ({e}); reopen the store"),
            )),
        }
    }

    /// Runs a mutation; its failure latches the store.
    fn mutate(&self, f: impl FnOnce(&S) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.check()?;
        f(&self.inner).inspect_err(|e| {
            *self.latched.borrow_mut() = Some(e.clone());
        })
    }
}

impl<S: PageRead> PageRead for Checked<S> {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.check()?;
        self.inner.logs(like)
    }

    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.check()?;
        self.inner.segments(log)
    }

    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.read(log, seg, pos, out)
    }

    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.check()?;
        self.inner.with_view(log, seg, pos, len, f)
    }

    fn data_range(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        end: u64,
    ) -> Result<Option<Range<u64>>, StoreError> {
        self.check()?;
        self.inner.data_range(log, seg, pos, end)
    }

    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        self.inner.read_meta(file)
    }
}

impl<S: PageStore> PageStore for Checked<S> {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.mutate(|s| s.create(log, seg, len))
    }

    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.mutate(|s| s.write(log, seg, pos, data))
    }

    fn write_with<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, StoreError> {
        self.check()?;
        self.inner
            .write_with(log, seg, pos, len, f)
            .inspect_err(|e| {
                *self.latched.borrow_mut() = Some(e.clone());
            })
    }

    fn write_pieces(
        &self,
        log: &LogId,
        seg: SegmentId,
        pieces: &[(u64, &[u8])],
    ) -> Result<(), StoreError> {
        self.mutate(|s| s.write_pieces(log, seg, pieces))
    }

    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        self.mutate(|s| s.sync(log, seg, range))
    }

    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.mutate(|s| s.remove(log, seg))
    }

    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.mutate(|s| s.sync_dir(log))
    }

    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.mutate(|s| s.write_meta(file, contents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;

    #[test]
    fn first_failure_latches_everything() {
        let s = Checked::new(MemStore::new());
        let log = LogId::DLedgerData;
        s.create(&log, 0, 16).unwrap();
        s.write(&log, 0, 0, b"ab").unwrap();
        // A failed read does not latch.
        let mut out = [0u8; 2];
        assert_eq!(
            s.read(&log, 64, 0, &mut out).unwrap_err().kind,
            StoreErrorKind::NotFound
        );
        assert!(!s.is_latched());
        // A failed write does.
        let e = s.write(&log, 0, 15, b"xyz").unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::OutOfRange);
        assert!(s.is_latched());
        for r in [
            s.write(&log, 0, 0, b"a"),
            s.sync(&log, 0, 0..2),
            s.sync_dir(&log),
            s.create(&log, 16, 16),
            s.remove(&log, 0),
            s.write_meta(MetaFile::CurrTerm, Some(b"x")),
            s.read(&log, 0, 0, &mut out),
        ] {
            assert_eq!(r.unwrap_err().kind, StoreErrorKind::PreviousIo);
        }
        assert_eq!(
            s.segments(&log).unwrap_err().kind,
            StoreErrorKind::PreviousIo
        );
        // Nothing reached the inner store after the latch.
        let inner = s.into_inner();
        assert_eq!(inner.segment_bytes(&log, 0).unwrap()[..2], *b"ab");
        assert!(inner.read_meta(MetaFile::CurrTerm).unwrap().is_none());
    }
}
