//! [`SegmentQueue`]: one log as a queue of fixed-size segments (the
//! reference's `MappedFileQueue` / `MmapFileList`).
//!
//! Offsets are absolute (segment start + position). The queue knows where
//! writing continues (`wrote`), how far readers may go (`committed`) and how
//! far the disk is known to hold the data (`flushed`), and it applies the roll
//! rule of its format ([`Filler`]).
//!
//! Durability rules kept here:
//!
//! * A segment is created full-size and zero-filled, then the directory is
//!   synced, before anything is written into it.
//! * Segments are removed one at a time with a directory sync after each:
//!   from the newest down when truncating, from the oldest up when expiring,
//!   so a crash never leaves a hole in the middle of a log.
//! * Truncation zeroes the truncated bytes (bug B2 of the DLedger reference:
//!   stale bytes after the end come back to life on the next recovery). The
//!   zeroed range is reported as dirty like any write; the caller syncs it.
//!
//! Every write is recorded in a [`Dirty`] set that the owner moves into a
//! [`FlushPlanner`](super::flush::FlushPlanner) with [`SegmentQueue::take_dirty`].

use alloc::vec::Vec;
use core::fmt;

use crate::codec::{dledger, message};
use crate::engine::flush::Dirty;
use crate::layout::{self, Fit};
use crate::scan::zeros;
use crate::store::{LogId, PageRead, PageStore, SegmentId, StoreError};

/// How the end of a segment is padded when a record does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filler {
    /// No filler: records have a fixed size that divides the segment size
    /// (DLedger index, consume queues). A record that does not fit exactly is an error.
    None,
    /// RocketMQ commitlog BLANK: `[remaining i32][0xCBD43194]`, only these 8 bytes written.
    CommitLog,
    /// DLedger data filler: `[-1 i32][remaining i32]` then zeros to the segment end.
    DLedger,
}

/// A segment-queue failure; every variant names the log and the segment or offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentError {
    /// The store failed.
    Store(StoreError),
    /// The configured segment size is unusable (0, or too large for an `i32` filler length).
    BadSegmentSize {
        /// The log.
        log: LogId,
        /// The size.
        seg_size: u64,
    },
    /// A segment whose length is not the configured size.
    WrongSize {
        /// The log.
        log: LogId,
        /// The segment.
        seg: SegmentId,
        /// Its length.
        len: u64,
        /// The configured size.
        expected: u64,
    },
    /// A segment whose start is not a multiple of the segment size.
    Misaligned {
        /// The log.
        log: LogId,
        /// The segment.
        seg: SegmentId,
        /// The configured size.
        seg_size: u64,
    },
    /// A segment missing between two others.
    Gap {
        /// The log.
        log: LogId,
        /// The start that should come next.
        expected: SegmentId,
        /// The start found instead.
        found: SegmentId,
    },
    /// A segment that would end past `i64::MAX`: offsets are Java longs, so
    /// it holds no valid offset (and sums of its start and a position would
    /// overflow).
    PastMaxOffset {
        /// The log.
        log: LogId,
        /// The segment.
        seg: SegmentId,
    },
    /// A record that can never fit in a segment.
    TooLarge {
        /// The log.
        log: LogId,
        /// Record length.
        len: u64,
        /// Segment size.
        seg_size: u64,
    },
    /// A fixed-size record that would straddle a segment end (no-filler logs).
    Straddles {
        /// The log.
        log: LogId,
        /// Where it would start.
        offset: u64,
        /// Its length.
        len: u64,
    },
    /// An offset outside what the operation allows.
    OutOfRange {
        /// The log.
        log: LogId,
        /// Requested offset.
        offset: u64,
        /// Requested length.
        len: u64,
        /// Lowest allowed offset.
        min: u64,
        /// Highest allowed end.
        max: u64,
    },
    /// A write that does not start at the write position.
    NotAtEnd {
        /// The log.
        log: LogId,
        /// Requested position.
        offset: u64,
        /// The write position.
        wrote: u64,
    },
    /// The last segment cannot be removed by expiry.
    LastSegment {
        /// The log.
        log: LogId,
    },
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = layout::file_name;
        match self {
            Self::Store(e) => write!(f, "{e}"),
            Self::BadSegmentSize { log, seg_size } => {
                write!(f, "{log}: unusable segment size {seg_size}")
            }
            Self::WrongSize {
                log,
                seg,
                len,
                expected,
            } => write!(f, "{log}/{}: length {len}, expected {expected}", name(*seg)),
            Self::Misaligned { log, seg, seg_size } => write!(
                f,
                "{log}/{}: start is not a multiple of the segment size {seg_size}",
                name(*seg)
            ),
            Self::Gap {
                log,
                expected,
                found,
            } => write!(
                f,
                "{log}: segment {} is missing (next one found is {})",
                name(*expected),
                name(*found)
            ),
            Self::PastMaxOffset { log, seg } => write!(
                f,
                "{log}/{}: ends past the largest offset (2^63 - 1)",
                name(*seg)
            ),
            Self::TooLarge { log, len, seg_size } => write!(
                f,
                "{log}: a record of {len} bytes cannot fit a segment of {seg_size}"
            ),
            Self::Straddles { log, offset, len } => write!(
                f,
                "{log}: a {len}-byte record at {offset} would straddle a segment end"
            ),
            Self::OutOfRange {
                log,
                offset,
                len,
                min,
                max,
            } => write!(
                f,
                "{log}: {len} bytes at {offset} outside the valid range {min}..{max}"
            ),
            Self::NotAtEnd { log, offset, wrote } => write!(
                f,
                "{log}: write at {offset} but the write position is {wrote}"
            ),
            Self::LastSegment { log } => write!(f, "{log}: the last segment is never removed"),
        }
    }
}

impl core::error::Error for SegmentError {}

impl From<StoreError> for SegmentError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Bytes zeroed at a time; also the granularity of the "already zero?" check.
const ZERO_CHUNK: usize = 4096;
static ZEROS: [u8; ZERO_CHUNK] = [0; ZERO_CHUNK];

/// What a truncation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truncation {
    /// Absolute range overwritten with zeros (only chunks that held non-zero bytes were written).
    pub zeroed: core::ops::Range<u64>,
    /// Whether any non-zero byte was found (and zeroed) in that range.
    pub had_data: bool,
    /// Segments removed, newest first.
    pub removed: Vec<SegmentId>,
}

/// One log as a queue of equal-sized, contiguous segments.
#[derive(Debug, Clone)]
pub struct SegmentQueue {
    log: LogId,
    seg_size: u64,
    filler: Filler,
    /// Segment starts, ascending and contiguous.
    segs: Vec<SegmentId>,
    /// Lowest valid offset (the reference's first file `from + startPosition`).
    start: u64,
    wrote: u64,
    committed: u64,
    flushed: u64,
    dirty: Dirty,
}

impl SegmentQueue {
    /// An empty queue whose first segment will hold `base` (its start is
    /// `base` rounded down to the segment size). `base` is 0 for a new log,
    /// or e.g. RocketMQ's `dividedCommitlogOffset`.
    pub fn new(log: LogId, seg_size: u64, filler: Filler, base: u64) -> Result<Self, SegmentError> {
        Self::check_size(&log, seg_size, filler)?;
        Ok(Self {
            log,
            seg_size,
            filler,
            segs: Vec::new(),
            start: base,
            wrote: base,
            committed: base,
            flushed: base,
            dirty: Dirty::new(),
        })
    }

    fn check_size(log: &LogId, seg_size: u64, filler: Filler) -> Result<(), SegmentError> {
        let max = match filler {
            Filler::None => u64::MAX / 2,
            Filler::CommitLog | Filler::DLedger => i32::MAX as u64,
        };
        if seg_size == 0 || seg_size > max {
            return Err(SegmentError::BadSegmentSize {
                log: log.clone(),
                seg_size,
            });
        }
        Ok(())
    }

    /// Loads the existing segments of `log`: every one must be `seg_size`
    /// long, aligned, and contiguous with the previous one. As in the
    /// reference, loaded segments count as full (`wrote` is the end of the
    /// last one) until recovery finds the real end and calls [`truncate`](Self::truncate).
    pub fn load(
        store: &impl PageRead,
        log: LogId,
        seg_size: u64,
        filler: Filler,
    ) -> Result<Self, SegmentError> {
        Self::check_size(&log, seg_size, filler)?;
        let infos = store.segments(&log)?;
        let mut segs = Vec::with_capacity(infos.len());
        for info in &infos {
            if info.len != seg_size {
                return Err(SegmentError::WrongSize {
                    log,
                    seg: info.id,
                    len: info.len,
                    expected: seg_size,
                });
            }
            if Self::past_max_offset(info.id, seg_size) {
                return Err(SegmentError::PastMaxOffset { log, seg: info.id });
            }
            if info.id % seg_size != 0 {
                return Err(SegmentError::Misaligned {
                    log,
                    seg: info.id,
                    seg_size,
                });
            }
            if let Some(&prev) = segs.last() {
                let expected = prev + seg_size;
                if info.id != expected {
                    return Err(SegmentError::Gap {
                        log,
                        expected,
                        found: info.id,
                    });
                }
            }
            segs.push(info.id);
        }
        let start = segs.first().copied().unwrap_or(0);
        let end = segs.last().map_or(0, |&s| s + seg_size);
        Ok(Self {
            log,
            seg_size,
            filler,
            segs,
            start,
            wrote: end,
            committed: end,
            flushed: end,
            dirty: Dirty::new(),
        })
    }

    /// The log.
    pub fn log(&self) -> &LogId {
        &self.log
    }
    /// Segment size.
    pub fn seg_size(&self) -> u64 {
        self.seg_size
    }
    /// Segment starts, ascending.
    pub fn segments(&self) -> &[SegmentId] {
        &self.segs
    }
    /// Lowest valid offset.
    pub fn min_offset(&self) -> u64 {
        self.start
    }
    /// Where the next write goes (`getMaxWrotePosition`).
    pub fn wrote(&self) -> u64 {
        self.wrote
    }
    /// Readers may read below this.
    pub fn committed(&self) -> u64 {
        self.committed
    }
    /// Known durable below this (set by the owner after syncs).
    pub fn flushed(&self) -> u64 {
        self.flushed
    }
    /// The end of the last segment (`wrote` after [`load`](Self::load)); `None` if there is none.
    pub fn end_of_segments(&self) -> Option<u64> {
        self.segs.last().map(|&s| s + self.seg_size)
    }

    /// Lets readers see everything written so far.
    pub fn commit(&mut self) {
        self.committed = self.wrote;
    }

    /// Records that everything below `offset` is durable (clamped to `wrote`).
    pub fn set_flushed(&mut self, offset: u64) {
        self.flushed = offset.min(self.wrote);
    }

    /// Takes the ranges written since the last call.
    pub fn take_dirty(&mut self) -> Dirty {
        core::mem::take(&mut self.dirty)
    }

    /// The ranges written since they were last taken or drained (drain them
    /// with [`Dirty::drain_into`] to keep the allocation).
    pub fn dirty_mut(&mut self) -> &mut Dirty {
        &mut self.dirty
    }

    /// The segment holding `offset`, if it exists.
    pub fn segment_of(&self, offset: u64) -> Option<SegmentId> {
        let s = offset - offset % self.seg_size;
        self.segs.binary_search(&s).ok().map(|_| s)
    }

    /// Where a record of `len` bytes would be placed now (no side effects).
    pub fn next_position(&self, len: u64) -> Result<u64, SegmentError> {
        Ok(self.plan(len)?.0)
    }

    /// (position, blank before it: (offset, len)).
    fn plan(&self, len: u64) -> Result<(u64, Option<(u64, u64)>), SegmentError> {
        let too_large = || SegmentError::TooLarge {
            log: self.log.clone(),
            len,
            seg_size: self.seg_size,
        };
        let in_seg = self.wrote % self.seg_size;
        let full = self.segs.is_empty() || self.end_of_segments() == Some(self.wrote);
        match self.filler {
            Filler::None => {
                if len > self.seg_size || len == 0 {
                    return Err(too_large());
                }
                // A fresh segment starts at its offset 0 unless the queue begins mid-segment.
                let pos_in = if full && !self.segs.is_empty() {
                    0
                } else {
                    in_seg
                };
                if pos_in + len > self.seg_size {
                    return Err(SegmentError::Straddles {
                        log: self.log.clone(),
                        offset: self.wrote,
                        len,
                    });
                }
                Ok((self.wrote, None))
            }
            Filler::CommitLog | Filler::DLedger => {
                if full && !self.segs.is_empty() {
                    // At a segment end: the record starts the next segment.
                    return match layout::fit(len, 0, self.seg_size) {
                        Fit::TooLarge => Err(too_large()),
                        _ => Ok((self.wrote, None)),
                    };
                }
                match layout::fit(len, in_seg, self.seg_size) {
                    Fit::Here => Ok((self.wrote, None)),
                    Fit::RollAfterBlank { blank_len } if blank_len >= layout::MIN_BLANK_LEN => {
                        Ok((self.wrote + blank_len, Some((self.wrote, blank_len))))
                    }
                    // Less room than a filler header: only a foreign or damaged
                    // write position can get here (every record leaves 8 bytes).
                    Fit::RollAfterBlank { .. } => Err(SegmentError::Straddles {
                        log: self.log.clone(),
                        offset: self.wrote,
                        len,
                    }),
                    Fit::TooLarge => Err(too_large()),
                }
            }
        }
    }

    /// Makes room for a record of `len` bytes: writes the end-of-segment
    /// filler and creates the next segment if needed (the reference's
    /// `preAppend`). Returns the record's position, which equals
    /// [`wrote`](Self::wrote) afterwards; then call [`write_at`](Self::write_at).
    pub fn reserve<S: PageStore>(&mut self, store: &S, len: u64) -> Result<u64, SegmentError> {
        let (pos, blank) = self.plan(len)?;
        if let Some((at, blank_len)) = blank {
            self.write_filler(store, at, blank_len)?;
            self.wrote = at + blank_len;
            self.committed = self.committed.max(self.wrote);
        }
        if self.segs.is_empty() || self.end_of_segments() == Some(self.wrote) {
            self.create_segment(store, pos - pos % self.seg_size)?;
        }
        debug_assert_eq!(pos, self.wrote);
        Ok(pos)
    }

    /// True if a segment starting at `id` would end past `i64::MAX`.
    fn past_max_offset(id: SegmentId, seg_size: u64) -> bool {
        id.checked_add(seg_size)
            .is_none_or(|end| end > i64::MAX as u64)
    }

    fn create_segment<S: PageStore>(
        &mut self,
        store: &S,
        id: SegmentId,
    ) -> Result<(), SegmentError> {
        if Self::past_max_offset(id, self.seg_size) {
            return Err(SegmentError::PastMaxOffset {
                log: self.log.clone(),
                seg: id,
            });
        }
        store.create(&self.log, id, self.seg_size)?;
        store.sync_dir(&self.log)?;
        self.segs.push(id);
        Ok(())
    }

    fn write_filler<S: PageStore>(
        &mut self,
        store: &S,
        at: u64,
        len: u64,
    ) -> Result<(), SegmentError> {
        let seg = at - at % self.seg_size;
        let pos = at - seg;
        // `len` is at most the segment size, which check_size bounds to i32.
        let len_i32 = i32::try_from(len).map_err(|_| SegmentError::BadSegmentSize {
            log: self.log.clone(),
            seg_size: self.seg_size,
        })?;
        match self.filler {
            Filler::None => {}
            Filler::CommitLog => {
                store.write(&self.log, seg, pos, &message::blank_header(len_i32))?;
                self.dirty.note(seg, pos..pos + 8);
            }
            Filler::DLedger => {
                store.write(&self.log, seg, pos, &dledger::blank_header(len_i32))?;
                // The rest of the filler is zeros, as Java writes it.
                let mut p = pos + 8;
                let end = pos + len;
                while p < end {
                    let n = (end - p).min(ZERO_CHUNK as u64);
                    store.write(&self.log, seg, p, &ZEROS[..n as usize])?;
                    p += n;
                }
                self.dirty.note(seg, pos..end);
            }
        }
        Ok(())
    }

    /// Writes a record at `offset`, which must be the write position and lie
    /// with the whole record inside an existing segment (use [`reserve`](Self::reserve) first).
    pub fn write_at<S: PageStore>(
        &mut self,
        store: &S,
        offset: u64,
        data: &[u8],
    ) -> Result<(), SegmentError> {
        if offset != self.wrote {
            return Err(SegmentError::NotAtEnd {
                log: self.log.clone(),
                offset,
                wrote: self.wrote,
            });
        }
        let len = data.len() as u64;
        let seg = offset - offset % self.seg_size;
        let pos = offset - seg;
        if self.segment_of(offset).is_none() || pos + len > self.seg_size {
            return Err(SegmentError::OutOfRange {
                log: self.log.clone(),
                offset,
                len,
                min: seg,
                max: seg + self.seg_size,
            });
        }
        store.write(&self.log, seg, pos, data)?;
        self.dirty.note(seg, pos..pos + len);
        self.wrote += len;
        Ok(())
    }

    /// [`reserve`](Self::reserve), [`write_at`](Self::write_at) and
    /// [`commit`](Self::commit) in one: returns the record's offset.
    pub fn append<S: PageStore>(&mut self, store: &S, data: &[u8]) -> Result<u64, SegmentError> {
        let at = self.reserve(store, data.len() as u64)?;
        self.write_at(store, at, data)?;
        self.commit();
        Ok(at)
    }

    fn check_read(&self, offset: u64, len: u64) -> Result<(SegmentId, u64), SegmentError> {
        let bad = || SegmentError::OutOfRange {
            log: self.log.clone(),
            offset,
            len,
            min: self.start,
            max: self.wrote,
        };
        let end = offset.checked_add(len).ok_or_else(bad)?;
        if offset < self.start || end > self.wrote {
            return Err(bad());
        }
        let seg = self.segment_of(offset).ok_or_else(bad)?;
        let pos = offset - seg;
        if pos + len > self.seg_size {
            return Err(bad());
        }
        Ok((seg, pos))
    }

    /// Copies `out.len()` bytes at `offset` (inside one segment, below `wrote`).
    pub fn read<S: PageRead>(
        &self,
        store: &S,
        offset: u64,
        out: &mut [u8],
    ) -> Result<(), SegmentError> {
        let (seg, pos) = self.check_read(offset, out.len() as u64)?;
        Ok(store.read(&self.log, seg, pos, out)?)
    }

    /// Calls `f` with a view of `len` bytes at `offset` (zero-copy where the
    /// store can lend its bytes).
    pub fn with_view<S: PageRead, R>(
        &self,
        store: &S,
        offset: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, SegmentError> {
        let (seg, pos) = self.check_read(offset, len)?;
        Ok(store.with_view(&self.log, seg, pos, len, f)?)
    }

    /// The first non-zero byte in `[from, to)` of one segment (absolute offsets).
    pub fn first_nonzero<S: PageRead>(
        &self,
        store: &S,
        from: u64,
        to: u64,
    ) -> Result<Option<u64>, SegmentError> {
        let Some(seg) = self.segment_of(from) else {
            return Ok(None);
        };
        let to = to.min(seg + self.seg_size);
        if from >= to {
            return Ok(None);
        }
        // One view over the whole range: the block scan is far cheaper than a
        // view per chunk.
        let hit = store.with_view(&self.log, seg, from - seg, to - from, zeros::first_nonzero)?;
        Ok(hit.map(|i| from + i as u64))
    }

    /// Zeroes `[from, to)` inside one segment, writing only chunks that hold
    /// non-zero bytes. Returns whether anything was written.
    fn zero_range<S: PageStore>(
        &mut self,
        store: &S,
        seg: SegmentId,
        from: u64,
        to: u64,
    ) -> Result<bool, SegmentError> {
        let chunk = ZERO_CHUNK as u64;
        let mut p = from;
        let mut any = false;
        while p < to {
            // Skip the all-zero stretch ahead in one view (typically the whole
            // never-written tail of the segment).
            let Some(i) = store.with_view(&self.log, seg, p, to - p, zeros::first_nonzero)? else {
                break;
            };
            // Chunk boundaries aligned to the chunk size keep writes page-sized;
            // the chunk holding the first non-zero byte is dirty.
            let dirty = p + i as u64;
            let start = (dirty - dirty % chunk).max(p);
            let n = (chunk - start % chunk).min(to - start);
            store.write(&self.log, seg, start, &ZEROS[..n as usize])?;
            self.dirty.note(seg, start..start + n);
            any = true;
            p = start + n;
        }
        Ok(any)
    }

    /// Lowers the write position to `offset` (never below the minimum
    /// offset, never up), for a caller that knows every byte from `offset`
    /// to the old write position is zero: recovery, which found where the
    /// non-zero bytes of a loaded segment end, so that [`truncate`](Self::truncate)
    /// does not read the rest (up to a whole never-written file) again.
    pub fn lower_wrote(&mut self, offset: u64) {
        let w = offset.clamp(self.start, self.wrote);
        self.wrote = w;
        self.committed = self.committed.min(w);
        self.flushed = self.flushed.min(w);
    }

    /// Cuts the log at `offset`: removes every later segment (newest first,
    /// syncing the directory after each), zeroes `[offset, old write position)`
    /// in the segment holding `offset`, and lowers the watermarks. A segment
    /// starting exactly at `offset` is kept, empty (as the reference does).
    ///
    /// `offset` must lie in `[min_offset, wrote]`. The
    /// zeroed bytes are dirty: sync them before relying on the cut.
    pub fn truncate<S: PageStore>(
        &mut self,
        store: &S,
        offset: u64,
    ) -> Result<Truncation, SegmentError> {
        let max = self.wrote;
        if offset < self.start || offset > max {
            return Err(SegmentError::OutOfRange {
                log: self.log.clone(),
                offset,
                len: 0,
                min: self.start,
                max,
            });
        }
        let mut t = Truncation {
            zeroed: offset..offset,
            ..Truncation::default()
        };
        let keep = offset - offset % self.seg_size;
        while let Some(&last) = self.segs.last() {
            if last <= keep {
                break;
            }
            store.remove(&self.log, last)?;
            store.sync_dir(&self.log)?;
            self.segs.pop();
            self.dirty.forget(last);
            t.removed.push(last);
        }
        if self.segment_of(offset).is_some() {
            let to = self.wrote.clamp(offset, keep + self.seg_size);
            t.had_data = self.zero_range(store, keep, offset - keep, to - keep)?;
            t.zeroed = offset..to;
        }
        self.wrote = offset;
        self.committed = self.committed.min(offset);
        self.flushed = self.flushed.min(offset);
        Ok(t)
    }

    /// Drops every segment and starts over with one empty segment holding
    /// `offset`, which becomes both the minimum offset and the write position
    /// (the reference's `rebuildWithPos`). Returns the removed segments.
    pub fn reset<S: PageStore>(
        &mut self,
        store: &S,
        offset: u64,
    ) -> Result<Vec<SegmentId>, SegmentError> {
        let removed = self.clear(store, offset)?;
        self.create_segment(store, offset - offset % self.seg_size)?;
        Ok(removed)
    }

    /// Removes every segment (newest first, syncing the directory after each);
    /// the queue is then empty and continues at `base`. Returns the removed segments.
    pub fn clear<S: PageStore>(
        &mut self,
        store: &S,
        base: u64,
    ) -> Result<Vec<SegmentId>, SegmentError> {
        let mut removed = Vec::new();
        while let Some(&last) = self.segs.last() {
            store.remove(&self.log, last)?;
            store.sync_dir(&self.log)?;
            self.segs.pop();
            self.dirty.forget(last);
            removed.push(last);
        }
        self.start = base;
        self.wrote = base;
        self.committed = base;
        self.flushed = base;
        Ok(removed)
    }

    /// Removes the oldest segment (expiry). The last segment is never removed.
    pub fn remove_head<S: PageStore>(&mut self, store: &S) -> Result<SegmentId, SegmentError> {
        if self.segs.len() < 2 {
            return Err(SegmentError::LastSegment {
                log: self.log.clone(),
            });
        }
        let first = self.segs[0];
        store.remove(&self.log, first)?;
        store.sync_dir(&self.log)?;
        self.segs.remove(0);
        self.dirty.forget(first);
        self.start = self.start.max(self.segs[0]);
        Ok(first)
    }

    /// Moves the minimum offset up to `offset` (the reference's `resetOffset`),
    /// removing segments that lie entirely below it, oldest first. Returns them.
    pub fn set_start<S: PageStore>(
        &mut self,
        store: &S,
        offset: u64,
    ) -> Result<Vec<SegmentId>, SegmentError> {
        let mut removed = Vec::new();
        while let Some(&first) = self.segs.first() {
            if first + self.seg_size > offset {
                break;
            }
            store.remove(&self.log, first)?;
            store.sync_dir(&self.log)?;
            self.segs.remove(0);
            self.dirty.forget(first);
            removed.push(first);
        }
        if self.segs.is_empty() {
            // Everything was below `offset`: the next segment will hold it.
            self.wrote = self.wrote.max(offset);
            self.committed = self.committed.max(offset);
            self.flushed = self.flushed.max(offset);
        }
        self.start = self.start.max(offset).min(self.wrote.max(offset));
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;

    fn data_queue(size: u64) -> SegmentQueue {
        SegmentQueue::new(LogId::DLedgerData, size, Filler::DLedger, 0).unwrap()
    }

    #[test]
    fn dledger_appendix_a_layout() {
        // Appendix A: file 256, entries of 54, 64, 74, 84, 94, 104 bytes.
        let s = MemStore::new();
        let mut q = data_queue(256);
        let mut at = Vec::new();
        for i in 0..6u8 {
            let len = 54 + 10 * i as usize;
            at.push(q.append(&s, &alloc::vec![i + 1; len]).unwrap());
        }
        assert_eq!(at, [0, 54, 118, 256, 340, 512]);
        assert_eq!(q.segments(), [0, 256, 512]);
        assert_eq!(q.wrote(), 616);
        let f0 = s.segment_bytes(&LogId::DLedgerData, 0).unwrap();
        assert_eq!(f0[192..200], [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 64]);
        assert!(f0[200..].iter().all(|&b| b == 0));
        let f1 = s.segment_bytes(&LogId::DLedgerData, 256).unwrap();
        assert_eq!(
            f1[434 - 256..442 - 256],
            [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 78]
        );
        let mut b = [0u8; 4];
        q.read(&s, 340, &mut b).unwrap();
        assert_eq!(b, [5; 4]);
        // Reads past the write position or across a segment end are refused.
        assert!(q.read(&s, 614, &mut b).is_err());
        assert!(q.read(&s, 254, &mut b).is_err());
    }

    #[test]
    fn commitlog_blank_writes_only_eight_bytes() {
        let s = MemStore::new();
        let mut q = SegmentQueue::new(LogId::CommitLog, 64, Filler::CommitLog, 0).unwrap();
        assert_eq!(q.append(&s, &[7; 40]).unwrap(), 0);
        assert_eq!(q.append(&s, &[8; 20]).unwrap(), 64);
        let f0 = s.segment_bytes(&LogId::CommitLog, 0).unwrap();
        assert_eq!(f0[40..48], message::blank_header(24));
        assert!(f0[48..].iter().all(|&b| b == 0));
        // Too large for any segment: nothing written.
        assert!(matches!(
            q.append(&s, &[0; 57]),
            Err(SegmentError::TooLarge { len: 57, .. })
        ));
        assert_eq!(q.wrote(), 84);
    }

    #[test]
    fn no_filler_log_rolls_exactly_full() {
        let s = MemStore::new();
        let mut q = SegmentQueue::new(LogId::DLedgerIndex, 64, Filler::None, 0).unwrap();
        for i in 0..5u64 {
            assert_eq!(q.append(&s, &[i as u8; 32]).unwrap(), i * 32);
        }
        assert_eq!(q.segments(), [0, 64, 128]);
        // A record that would straddle a segment end is refused.
        let mut q2 = SegmentQueue::new(LogId::DLedgerIndex, 64, Filler::None, 48).unwrap();
        assert!(matches!(
            q2.append(&s, &[1; 32]),
            Err(SegmentError::Straddles { .. })
        ));
    }

    #[test]
    fn load_checks_sizes_alignment_and_gaps() {
        let s = MemStore::new();
        let log = LogId::DLedgerData;
        s.insert_segment(log.clone(), 0, alloc::vec![0; 256]);
        s.insert_segment(log.clone(), 512, alloc::vec![0; 256]);
        let e = SegmentQueue::load(&s, log.clone(), 256, Filler::DLedger).unwrap_err();
        assert_eq!(
            e,
            SegmentError::Gap {
                log: log.clone(),
                expected: 256,
                found: 512
            }
        );
        assert!(alloc::format!("{e}").contains("00000000000000000256"));
        s.insert_segment(log.clone(), 256, alloc::vec![0; 255]);
        let e = SegmentQueue::load(&s, log.clone(), 256, Filler::DLedger).unwrap_err();
        assert!(matches!(
            e,
            SegmentError::WrongSize {
                seg: 256,
                len: 255,
                ..
            }
        ));
        s.insert_segment(log.clone(), 256, alloc::vec![0; 256]);
        let q = SegmentQueue::load(&s, log.clone(), 256, Filler::DLedger).unwrap();
        assert_eq!((q.min_offset(), q.wrote()), (0, 768));
        let s2 = MemStore::new();
        s2.insert_segment(log.clone(), 100, alloc::vec![0; 256]);
        assert!(matches!(
            SegmentQueue::load(&s2, log, 256, Filler::DLedger),
            Err(SegmentError::Misaligned { seg: 100, .. })
        ));
    }

    #[test]
    fn segments_ending_past_the_largest_offset_are_refused() {
        let log = LogId::DLedgerData;
        // The last segment that still ends at or below i64::MAX loads...
        let last_ok = (i64::MAX as u64 + 1) - 512;
        let s = MemStore::new();
        s.insert_segment(log.clone(), last_ok, alloc::vec![0; 256]);
        let mut q = SegmentQueue::load(&s, log.clone(), 256, Filler::DLedger).unwrap();
        assert_eq!(q.wrote(), last_ok + 256);
        // ...but the log cannot roll into one that would not.
        q.truncate(&s, last_ok).unwrap();
        q.append(&s, &[7; 200]).unwrap();
        let e = q.append(&s, &[7; 200]).unwrap_err();
        assert!(
            matches!(e, SegmentError::PastMaxOffset { seg, .. } if seg == last_ok + 256),
            "{e:?}"
        );
        // A segment named past it (or near u64::MAX) does not load.
        for id in [last_ok + 256, u64::MAX - 255, (u64::MAX / 256) * 256] {
            let s = MemStore::new();
            s.insert_segment(log.clone(), id, alloc::vec![0; 256]);
            let e = SegmentQueue::load(&s, log.clone(), 256, Filler::DLedger).unwrap_err();
            assert!(
                matches!(e, SegmentError::PastMaxOffset { seg, .. } if seg == id),
                "{e:?}"
            );
            assert!(alloc::format!("{e}").contains("largest offset"), "{e}");
        }
    }

    #[test]
    fn truncate_zeroes_tail_and_removes_later_segments() {
        let s = MemStore::new();
        let mut q = data_queue(256);
        for _ in 0..6 {
            q.append(&s, &[9; 100]).unwrap();
        }
        assert_eq!(q.segments(), [0, 256, 512]);
        q.take_dirty();
        let t = q.truncate(&s, 100).unwrap();
        assert_eq!(t.removed, [512, 256]);
        assert_eq!(t.zeroed, 100..256);
        assert!(t.had_data);
        assert_eq!(q.wrote(), 100);
        let f0 = s.segment_bytes(&LogId::DLedgerData, 0).unwrap();
        assert!(f0[..100].iter().all(|&b| b == 9));
        assert!(f0[100..].iter().all(|&b| b == 0), "no stale byte survives");
        assert_eq!(s.segments(&LogId::DLedgerData).unwrap().len(), 1);
        // The zeroed bytes are dirty (to be synced).
        assert_eq!(q.take_dirty().lowest(), Some(100));
        // Truncating at a segment start keeps that segment, empty.
        q.append(&s, &[1; 100]).unwrap();
        q.append(&s, &[2; 100]).unwrap();
        assert_eq!(q.segments(), [0, 256]);
        let t = q.truncate(&s, 256).unwrap();
        assert!(t.removed.is_empty());
        assert!(t.had_data);
        assert_eq!(q.next_position(10).unwrap(), 256);
        assert!(q.truncate(&s, 300).is_err(), "cannot extend");
    }

    #[test]
    fn reset_head_removal_and_start() {
        let s = MemStore::new();
        let mut q = data_queue(256);
        for _ in 0..6 {
            q.append(&s, &[9; 100]).unwrap();
        }
        assert_eq!(q.remove_head(&s).unwrap(), 0);
        assert_eq!(q.min_offset(), 256);
        assert_eq!(q.set_start(&s, 600).unwrap(), [256]);
        assert_eq!((q.min_offset(), q.segments()), (600, &[512][..]));
        assert!(matches!(
            q.remove_head(&s),
            Err(SegmentError::LastSegment { .. })
        ));
        let removed = q.reset(&s, 1000).unwrap();
        assert_eq!(removed, [512]);
        assert_eq!(q.segments(), [768]);
        assert_eq!((q.min_offset(), q.wrote()), (1000, 1000));
        assert_eq!(q.append(&s, &[3; 10]).unwrap(), 1000);
        assert!(
            s.segment_bytes(&LogId::DLedgerData, 768).unwrap()[..232]
                .iter()
                .all(|&b| b == 0)
        );
    }
}
