//! A log of fixed-size segments with a write end and a durable watermark: the
//! part of the reference's `MappedFileQueue` the CommitLog engine needs for the
//! commitlog and for each consume queue.
//!
//! Records never span segments, so every write here lies inside one segment.

use alloc::vec::Vec;

use crate::layout::locate;
use crate::store::{LogId, PageStore, SegmentId, StoreError, StoreErrorKind};

/// Zeros written per call when clearing a tail.
const ZERO_CHUNK: usize = 4096;

/// Segment bookkeeping for one log.
#[derive(Debug, Clone)]
pub(crate) struct SegLog {
    /// Which log.
    pub log: LogId,
    /// Bytes per segment.
    pub file_size: u64,
    /// Existing segments, ascending and contiguous.
    pub segs: Vec<SegmentId>,
    /// Absolute end of the written data.
    pub end: u64,
    /// Everything below this is durable.
    pub synced: u64,
}

impl SegLog {
    /// An empty log whose first write goes to `end`.
    pub fn new(log: LogId, file_size: u64, end: u64) -> Self {
        Self {
            log,
            file_size,
            segs: Vec::new(),
            end,
            synced: end,
        }
    }

    /// The first byte still stored (the first segment's start, else the end).
    pub fn min(&self) -> u64 {
        self.segs.first().copied().unwrap_or(self.end)
    }

    fn seg_of(&self, abs: u64) -> Result<(SegmentId, u64), StoreError> {
        let loc = locate(abs, self.file_size)
            .ok_or_else(|| StoreError::new(StoreErrorKind::Other, "segment size is zero"))?;
        Ok((loc.file_start, loc.pos))
    }

    /// Creates segment `seg` (zero-filled) if it is missing, durably.
    pub fn ensure<S: PageStore>(&mut self, store: &S, seg: SegmentId) -> Result<(), StoreError> {
        if let Err(i) = self.segs.binary_search(&seg) {
            store.create(&self.log, seg, self.file_size)?;
            store.sync_dir(&self.log)?;
            self.segs.insert(i, seg);
        }
        Ok(())
    }

    /// Writes `data` at absolute `abs` (inside one segment, created if missing)
    /// and moves the write end past it.
    pub fn write_at<S: PageStore>(
        &mut self,
        store: &S,
        abs: u64,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let (seg, pos) = self.seg_of(abs)?;
        if pos + data.len() as u64 > self.file_size {
            return Err(StoreError::out_of_range(
                &self.log,
                seg,
                pos,
                data.len() as u64,
                self.file_size,
            ));
        }
        self.ensure(store, seg)?;
        store.write(&self.log, seg, pos, data)?;
        self.end = self.end.max(abs + data.len() as u64);
        Ok(())
    }

    /// Lets `f` fill `len` bytes at absolute `abs` in place (inside one
    /// segment, created if missing); moves the write end past them only when
    /// `f` succeeds.
    pub fn write_with<S: PageStore, R, E>(
        &mut self,
        store: &S,
        abs: u64,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> Result<R, E>,
    ) -> Result<Result<R, E>, StoreError> {
        let (seg, pos) = self.seg_of(abs)?;
        if pos + len as u64 > self.file_size {
            return Err(StoreError::out_of_range(
                &self.log,
                seg,
                pos,
                len as u64,
                self.file_size,
            ));
        }
        self.ensure(store, seg)?;
        let r = store.write_with(&self.log, seg, pos, len, f)?;
        if r.is_ok() {
            self.end = self.end.max(abs + len as u64);
        }
        Ok(r)
    }

    /// Reads `out.len()` bytes at absolute `abs` (inside one segment).
    pub fn read_at<S: PageStore>(
        &self,
        store: &S,
        abs: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        let (seg, pos) = self.seg_of(abs)?;
        if self.segs.binary_search(&seg).is_err() {
            return Err(StoreError::not_found(&self.log, seg));
        }
        store.read(&self.log, seg, pos, out)
    }

    /// Makes everything written so far durable.
    pub fn sync<S: PageStore>(&mut self, store: &S) -> Result<(), StoreError> {
        let (from, to) = (self.synced.max(self.min()), self.end);
        for &seg in &self.segs {
            let (a, b) = (seg.max(from), (seg + self.file_size).min(to));
            if a < b {
                store.sync(&self.log, seg, a - seg..b - seg)?;
            }
        }
        self.synced = self.end;
        Ok(())
    }

    /// Writes zeros over `[from, to)` (absolute, inside one existing segment)
    /// and syncs them.
    pub fn zero<S: PageStore>(&mut self, store: &S, from: u64, to: u64) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        let (seg, pos) = self.seg_of(from)?;
        let zeros = [0u8; ZERO_CHUNK];
        let mut p = pos;
        let end = pos + (to - from);
        while p < end {
            let n = (end - p).min(ZERO_CHUNK as u64);
            store.write(&self.log, seg, p, &zeros[..n as usize])?;
            p += n;
        }
        store.sync(&self.log, seg, pos..end)
    }

    /// Removes every segment that starts after `abs`'s segment (a segment
    /// starting exactly at `abs` is kept), durably.
    pub fn remove_after<S: PageStore>(&mut self, store: &S, abs: u64) -> Result<usize, StoreError> {
        let (keep, _) = self.seg_of(abs)?;
        let mut removed = 0;
        while let Some(&last) = self.segs.last() {
            if last <= keep {
                break;
            }
            store.remove(&self.log, last)?;
            self.segs.pop();
            removed += 1;
        }
        if removed > 0 {
            store.sync_dir(&self.log)?;
        }
        Ok(removed)
    }

    /// Removes the oldest segment, durably.
    pub fn remove_first<S: PageStore>(&mut self, store: &S) -> Result<(), StoreError> {
        if let Some(&first) = self.segs.first() {
            store.remove(&self.log, first)?;
            store.sync_dir(&self.log)?;
            self.segs.remove(0);
        }
        Ok(())
    }
}
