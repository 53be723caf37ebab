//! `FaultyDisk`: a thread-safe [`PageStore`] wrapper that injects an error
//! into one kind of operation (write, sync, create — the host maps a file
//! when it creates it —, remove, sync_dir, write_meta, read), counted per
//! kind from the moment it is armed. A failing write first writes the front
//! half of its data, as a short write or a crash inside `memcpy` would.
//!
//! Unlike [`crate::fault::FaultStore`] (which counts every mutation of an
//! in-memory store, single-threaded), this one wraps the real memory-mapped
//! `DiskStore`, is `Sync`, and targets one operation kind, so a test can say
//! "the 3rd `fdatasync` after open fails with EIO".

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

/// The operation a fault is injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `PageStore::write`.
    Write,
    /// `PageStore::sync` (`msync` + `fdatasync`).
    Sync,
    /// `PageStore::create` (create, preallocate and map a segment).
    Create,
    /// `PageStore::remove`.
    Remove,
    /// `PageStore::sync_dir`.
    SyncDir,
    /// `PageStore::write_meta`.
    WriteMeta,
    /// `PageRead::read` and `PageRead::with_view`.
    Read,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    op: Op,
    /// Fail the n-th call (1-based) of `op` counted from `arm`.
    nth: u64,
    kind: StoreErrorKind,
    /// Every later call of `op` fails too.
    sticky: bool,
}

/// Injects one error (or a run of errors) into a [`PageStore`].
#[derive(Debug)]
pub struct FaultyDisk<S> {
    inner: S,
    plan: Mutex<Option<Plan>>,
    seen: AtomicU64,
    fired: AtomicBool,
    what: Mutex<Option<String>>,
}

impl<S> FaultyDisk<S> {
    /// A wrapper that injects nothing until [`arm`](Self::arm)ed.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            plan: Mutex::new(None),
            seen: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            what: Mutex::new(None),
        }
    }

    /// From now on, the `nth` call (1-based) of `op` fails with `kind`
    /// (`Io` = EIO, `NoSpace` = ENOSPC); with `sticky`, every later one too.
    pub fn arm(&self, op: Op, nth: u64, kind: StoreErrorKind, sticky: bool) {
        self.seen.store(0, Ordering::SeqCst);
        self.fired.store(false, Ordering::SeqCst);
        *self.plan.lock().unwrap_or_else(|p| p.into_inner()) = Some(Plan {
            op,
            nth,
            kind,
            sticky,
        });
    }

    /// Stops injecting.
    pub fn disarm(&self) {
        *self.plan.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Calls of the armed kind seen since `arm`.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// True once an error was injected.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Where the first injected error hit (operation, log, segment, position).
    pub fn fired_at(&self) -> Option<String> {
        self.what.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Counts a call of `op`; `Err` if it is to fail.
    fn tick(&self, op: Op, at: impl FnOnce() -> String) -> Result<(), StoreError> {
        let Some(p) = *self.plan.lock().unwrap_or_else(|p| p.into_inner()) else {
            return Ok(());
        };
        if p.op != op {
            return Ok(());
        }
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n == p.nth || (p.sticky && n > p.nth) {
            let what = format!("injected {op:?} failure #{n}: {}", at());
            self.fired.store(true, Ordering::SeqCst);
            self.what
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| what.clone());
            return Err(StoreError::new(p.kind, what));
        }
        Ok(())
    }
}

impl<S: PageRead> PageRead for FaultyDisk<S> {
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
        self.tick(Op::Read, || format!("read {log} segment {seg} at {pos}"))?;
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
        self.tick(Op::Read, || format!("read {log} segment {seg} at {pos}"))?;
        self.inner.with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read_meta(file)
    }
}

impl<S: PageStore> PageStore for FaultyDisk<S> {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.tick(Op::Create, || format!("create {log} segment {seg}"))?;
        self.inner.create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        if let Err(e) = self.tick(Op::Write, || {
            format!("write {} bytes to {log} segment {seg} at {pos}", data.len())
        }) {
            // A short write: the front half lands.
            let _ = self.inner.write(log, seg, pos, &data[..data.len() / 2]);
            return Err(e);
        }
        self.inner.write(log, seg, pos, data)
    }
    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        self.tick(Op::Sync, || format!("sync {log} segment {seg} {range:?}"))?;
        self.inner.sync(log, seg, range)
    }
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.tick(Op::Remove, || format!("remove {log} segment {seg}"))?;
        self.inner.remove(log, seg)
    }
    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.tick(Op::SyncDir, || format!("sync directory of {log}"))?;
        self.inner.sync_dir(log)
    }
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.tick(Op::WriteMeta, || format!("write {file}"))?;
        self.inner.write_meta(file, contents)
    }
}
