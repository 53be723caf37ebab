//! Store readers: walk whole stores the way the Java reference's load and
//! recovery do, so that they end where Java ends, and report every problem
//! with its log and absolute offset.
//!
//! * [`detect`]: which kind of store a [`crate::store::PageRead`] holds, and file sizes.
//! * [`rocketmq`]: the plain CommitLog walk (normal and abnormal recovery end).
//! * [`consume_queue`]: consume queues as Java sees them after load.
//! * [`index`]: key look-ups through IndexFile hash chains.
//! * [`dledger`]: DLedger data/index walk (classic 0.3.x and master lines), and
//!   RocketMQ messages inside DLedger entries (DLedger commitlog mode).
//! * [`zeros`]: fast tests for never-written (all-zero) space.

use alloc::string::String;
use core::fmt;

use crate::error::DecodeError;
use crate::store::{LogId, PageRead, SegmentId, StoreError};

pub mod consume_queue;
pub mod detect;
pub mod dledger;
pub mod index;
pub mod rocketmq;
pub mod zeros;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Expected after a crash: a torn tail, unsynced zeros, stale bytes past the end.
    Notice,
    /// Data that the reference would accept but is wrong (CRC mismatch in a
    /// record Java does not check, index disagreeing with data, ...).
    Warning,
    /// Data that cannot be read.
    Error,
}

/// Something wrong in a store, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Which log.
    pub log: LogId,
    /// Start offset of the segment (file name), when the problem is inside one.
    pub segment: Option<u64>,
    /// Absolute offset in the log.
    pub offset: u64,
    /// How serious.
    pub severity: Severity,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A record failed to decode.
    Decode(DecodeError),
    /// The storage failed.
    Store(StoreError),
    /// Anything else, described in words.
    Other(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{sev}: {}", self.log)?;
        if let Some(s) = self.segment {
            write!(f, "/{}", crate::layout::file_name(s))?;
        }
        write!(f, " at offset {}: ", self.offset)?;
        match &self.kind {
            ProblemKind::Decode(e) => write!(f, "{}", e.kind),
            ProblemKind::Store(e) => write!(f, "{e}"),
            ProblemKind::Other(s) => f.write_str(s),
        }
    }
}

/// Data ranges asked for before the first read; past these the rest is read
/// as one range (a file fragmented into more extents gains nothing more).
const MAX_RANGES: usize = 4096;

/// The position of the first non-zero byte in `from..to` of a segment
/// (relative to the segment), reading only the ranges
/// [`PageRead::data_range`] says may hold data: the same answer as
/// [`zeros::first_nonzero`] over the whole range, without faulting in the
/// holes of a sparse or preallocated file.
///
/// All ranges are asked for before any byte is read: reading through a
/// mapping brings pages past the read into the cache (read-ahead), and a file
/// system may then count those cached zeros as data.
pub fn first_nonzero_in<S: PageRead>(
    store: &S,
    log: &LogId,
    seg: SegmentId,
    from: u64,
    to: u64,
) -> Result<Option<u64>, StoreError> {
    let mut ranges = alloc::vec::Vec::new();
    let mut pos = from;
    while pos < to {
        if ranges.len() == MAX_RANGES {
            ranges.push(pos..to);
            break;
        }
        let Some(r) = store.data_range(log, seg, pos, to)? else {
            break;
        };
        // A hint out of bounds (or empty) is not trusted: read everything left.
        let r = if pos <= r.start && r.start < r.end && r.end <= to {
            r
        } else {
            pos..to
        };
        pos = r.end;
        ranges.push(r);
    }
    for r in ranges {
        let found = store.with_view(log, seg, r.start, r.end - r.start, zeros::first_nonzero)?;
        if let Some(p) = found {
            return Ok(Some(r.start + p as u64));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;
    use crate::store::{MetaFile, SegmentInfo};
    use alloc::vec;
    use alloc::vec::Vec;
    use core::ops::Range;

    /// A [`MemStore`] whose `data_range` answers from a list of extents
    /// (as a file system would), or lies.
    struct Sparse {
        inner: MemStore,
        /// Extents reported as data; everything else is a "hole".
        extents: Vec<Range<u64>>,
        /// Report this range whatever is asked (a hint out of bounds).
        lie: Option<Range<u64>>,
    }

    impl PageRead for Sparse {
        fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
            self.inner.logs(like)
        }
        fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
            self.inner.segments(log)
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
        fn data_range(
            &self,
            _: &LogId,
            _: SegmentId,
            pos: u64,
            end: u64,
        ) -> Result<Option<Range<u64>>, StoreError> {
            if let Some(l) = &self.lie {
                return Ok(Some(l.clone()));
            }
            Ok(self
                .extents
                .iter()
                .find(|e| e.end > pos && e.start < end)
                .map(|e| e.start.max(pos)..e.end.min(end)))
        }
    }

    /// `first_nonzero_in` equals `zeros::first_nonzero` over the whole range
    /// whenever the extents cover every non-zero byte, for every start and
    /// end, and for hints out of the asked bounds (not trusted). (A hint
    /// inside the bounds is trusted by contract.)
    #[test]
    fn first_nonzero_in_matches_a_full_scan() {
        let log = LogId::CommitLog;
        let mut bytes = vec![0u8; 4096];
        for &p in &[5usize, 1000, 1001, 3000, 4095] {
            bytes[p] = 0x5A;
        }
        // Data extents around the non-zero bytes (and one all-zero extent).
        let extents = vec![0..64, 960..1100, 2000..2100, 2990..3010, 4000..4096];
        for lie in [
            None,
            Some(0..1),
            // Reversed (empty) on purpose.
            Some(Range { start: 10, end: 5 }),
            Some(0..9999),
            Some(5000..6000),
        ] {
            let store = Sparse {
                inner: MemStore::new(),
                extents: extents.clone(),
                lie: lie.clone(),
            };
            store.inner.insert_segment(log.clone(), 0, bytes.clone());
            for from in (0..4096u64).step_by(37).chain([0, 5, 6, 1001, 1002, 4095]) {
                for to in [from, from + 1, 1001, 3000, 3001, 4095, 4096] {
                    if to < from {
                        continue;
                    }
                    let want = zeros::first_nonzero(&bytes[from as usize..to as usize])
                        .map(|p| from + p as u64);
                    let got = first_nonzero_in(&store, &log, 0, from, to).unwrap();
                    assert_eq!(got, want, "{from}..{to} lie {lie:?}");
                }
            }
        }
    }

    /// A store that reports no data skips the range unread (the hint is
    /// trusted: a missing segment is not even looked up).
    #[test]
    fn first_nonzero_in_trusts_holes() {
        let store = Sparse {
            inner: MemStore::new(),
            extents: Vec::new(),
            lie: None,
        };
        assert_eq!(
            first_nonzero_in(&store, &LogId::CommitLog, 0, 0, 1 << 30),
            Ok(None)
        );
    }
}
