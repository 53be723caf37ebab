//! `FaultStore`: a [`PageStore`] wrapper that fails the N-th mutating
//! operation (create, write, sync, remove, sync_dir, write_meta) with an I/O
//! error or "no space". A failing write first writes the front half of its
//! data, as a short write would. Reads are never failed or counted.
//!
//! Wrap a [`crate::crash::CrashStore`] to reopen "over the durable state"
//! after the failure.

use std::cell::Cell;
use std::ops::Range;

use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

/// Which error the injected failure reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `StoreErrorKind::Io`.
    Io,
    /// `StoreErrorKind::NoSpace`.
    NoSpace,
}

/// Fails one mutating operation (or every one from it on).
#[derive(Debug)]
pub struct FaultStore<S> {
    inner: S,
    ops: Cell<u64>,
    fail_at: Cell<Option<u64>>,
    sticky: bool,
    fault: Fault,
    fired: Cell<bool>,
}

impl<S> FaultStore<S> {
    /// Fails mutating operation number `fail_at` (1-based; `None`: never).
    /// With `sticky`, every later mutating operation fails too.
    pub fn new(inner: S, fail_at: Option<u64>, fault: Fault, sticky: bool) -> Self {
        Self {
            inner,
            ops: Cell::new(0),
            fail_at: Cell::new(fail_at),
            sticky,
            fault,
            fired: Cell::new(false),
        }
    }
    /// A store that never fails but counts (for probe runs).
    pub fn counting(inner: S) -> Self {
        Self::new(inner, None, Fault::Io, false)
    }
    /// Mutating operations seen so far.
    pub fn ops(&self) -> u64 {
        self.ops.get()
    }
    /// True once the failure was injected.
    pub fn fired(&self) -> bool {
        self.fired.get()
    }
    /// Stops injecting failures.
    pub fn disarm(&self) {
        self.fail_at.set(None);
    }
    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Counts an operation; `Err` if it is to fail.
    fn tick(&self, what: &str) -> Result<(), StoreError> {
        let n = self.ops.get() + 1;
        self.ops.set(n);
        let hit = match self.fail_at.get() {
            Some(k) => n == k || (self.sticky && n > k),
            None => false,
        };
        if !hit {
            return Ok(());
        }
        self.fired.set(true);
        let kind = match self.fault {
            Fault::Io => StoreErrorKind::Io,
            Fault::NoSpace => StoreErrorKind::NoSpace,
        };
        Err(StoreError::new(
            kind,
            format!("injected failure of {what} (operation {n})"),
        ))
    }
}

impl<S: PageRead> PageRead for FaultStore<S> {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.inner.logs(like)
    }
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.inner.segments(log)
    }
    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
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
        self.inner.with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read_meta(file)
    }
}

impl<S: PageStore> PageStore for FaultStore<S> {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.tick("create")?;
        self.inner.create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        if let Err(e) = self.tick("write") {
            // A short write: the front half lands, then the error.
            let _ = self.inner.write(log, seg, pos, &data[..data.len() / 2]);
            return Err(e);
        }
        self.inner.write(log, seg, pos, data)
    }
    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        self.tick("sync")?;
        self.inner.sync(log, seg, range)
    }
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.tick("remove")?;
        self.inner.remove(log, seg)
    }
    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.tick("sync_dir")?;
        self.inner.sync_dir(log)
    }
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.tick("write_meta")?;
        self.inner.write_meta(file, contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketlog_core::mem::MemStore;

    #[test]
    fn fails_exactly_the_nth_operation() {
        let s = FaultStore::new(MemStore::new(), Some(3), Fault::NoSpace, false);
        let l = LogId::DLedgerIndex;
        s.create(&l, 0, 8).unwrap();
        s.write(&l, 0, 0, b"ab").unwrap();
        let e = s.write(&l, 0, 2, b"cdef").unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::NoSpace);
        assert!(s.fired());
        // Short write: "cd" landed.
        assert_eq!(s.inner().segment_bytes(&l, 0).unwrap(), b"abcd\0\0\0\0");
        s.sync(&l, 0, 0..8).unwrap();
        assert_eq!(s.ops(), 4);
        let sticky = FaultStore::new(MemStore::new(), Some(1), Fault::Io, true);
        assert!(sticky.create(&l, 0, 8).is_err());
        assert!(sticky.sync_dir(&l).is_err());
    }
}
