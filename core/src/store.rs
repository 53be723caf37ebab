//! The page-store trait: the only way the core touches storage.
//!
//! A store holds several *logs* ([`LogId`]): the commitlog, one consume queue
//! per topic and queue, the index files, and the DLedger data and index logs.
//! Each log is a sequence of fixed-size *segments* addressed by their start
//! offset ([`SegmentId`], which is also the file name). Small whole files
//! (checkpoints, `currterm`, the abort marker) are [`MetaFile`]s.
//!
//! # Contract
//!
//! * **Addressing.** `pos` is a byte position inside a segment. Reading or
//!   writing past the segment's length is an error (`OutOfRange`); a segment
//!   never grows implicitly.
//! * **Creation.** `create` makes a segment of exactly `len` zero bytes.
//! * **Durability.** After `sync(log, seg, range)` returns `Ok`, the bytes of
//!   `range` written before the call survive a crash. Nothing else is promised:
//!   unsynced bytes may be lost, kept, or kept in part (page by page). A failed
//!   sync leaves the durable state unknown; callers must not retry it (see
//!   [`crate::checked::Checked`]).
//! * **Removal** of a segment and creation of a segment are durable once
//!   `sync_dir` returns.
//! * **Concurrency.** The core writes through one writer at a time, never
//!   below the log's *committed* watermark, and readers only read below it.
//!   Hosts may therefore hand out views of committed bytes to other threads.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A segment's start offset in its log (also its file name).
pub type SegmentId = u64;

/// Which log of a store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogId {
    /// RocketMQ `commitlog/`.
    CommitLog,
    /// RocketMQ `consumequeue/<topic>/<queue>/`.
    ConsumeQueue {
        /// Topic.
        topic: String,
        /// Queue id.
        queue_id: i32,
    },
    /// RocketMQ `batchconsumequeue/<topic>/<queue>/`.
    BatchConsumeQueue {
        /// Topic.
        topic: String,
        /// Queue id.
        queue_id: i32,
    },
    /// RocketMQ `index/` (segments are named by creation time, 17 digits).
    IndexFile,
    /// DLedger `data/`.
    DLedgerData,
    /// DLedger `index/`.
    DLedgerIndex,
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CommitLog => f.write_str("commitlog"),
            Self::ConsumeQueue { topic, queue_id } => write!(f, "consumequeue/{topic}/{queue_id}"),
            Self::BatchConsumeQueue { topic, queue_id } => {
                write!(f, "batchconsumequeue/{topic}/{queue_id}")
            }
            Self::IndexFile => f.write_str("index"),
            Self::DLedgerData => f.write_str("data"),
            Self::DLedgerIndex => f.write_str("index"),
        }
    }
}

/// A small whole file next to the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetaFile {
    /// RocketMQ `checkpoint` (4096 bytes).
    StoreCheckpoint,
    /// RocketMQ `abort` marker.
    Abort,
    /// DLedger `checkpoint` (text).
    DLedgerCheckpoint,
    /// DLedger `currterm` (text).
    CurrTerm,
    /// rocketlog's index sync point (`.rocketlog-index-sync` in a RocketMQ
    /// store's root, which the reference ignores): see
    /// [`crate::codec::checkpoint::IndexSyncPoint`].
    IndexSyncPoint,
}

impl fmt::Display for MetaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StoreCheckpoint => "checkpoint",
            Self::Abort => "abort",
            Self::DLedgerCheckpoint => "checkpoint",
            Self::CurrTerm => "currterm",
            Self::IndexSyncPoint => ".rocketlog-index-sync",
        })
    }
}

/// What kind of storage failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The segment or file does not exist.
    NotFound,
    /// A read or write past the end of a segment.
    OutOfRange,
    /// No space left.
    NoSpace,
    /// Permission denied.
    PermissionDenied,
    /// Any other I/O failure.
    Io,
    /// An earlier failure latched the store: reopen it.
    PreviousIo,
    /// The store is read-only.
    ReadOnly,
    /// Something else (a wrong-sized file, a bad name, ...).
    Other,
}

/// A storage failure, with the log, segment and position when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// What kind.
    pub kind: StoreErrorKind,
    /// Human-readable detail (file, offset, OS message).
    pub message: String,
}

impl StoreError {
    /// Builds an error.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    /// A read or write past a segment's end.
    pub fn out_of_range(log: &LogId, seg: SegmentId, pos: u64, len: u64, seg_len: u64) -> Self {
        Self::new(
            StoreErrorKind::OutOfRange,
            alloc::format!("{log} segment {seg}: {len} bytes at {pos} past its end {seg_len}"),
        )
    }
    /// A missing segment.
    pub fn not_found(log: &LogId, seg: SegmentId) -> Self {
        Self::new(
            StoreErrorKind::NotFound,
            alloc::format!("{log} segment {seg} does not exist"),
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            StoreErrorKind::NotFound => "not found",
            StoreErrorKind::OutOfRange => "out of range",
            StoreErrorKind::NoSpace => "no space left",
            StoreErrorKind::PermissionDenied => "permission denied",
            StoreErrorKind::Io => "I/O error",
            StoreErrorKind::PreviousIo => "store latched after an earlier I/O failure",
            StoreErrorKind::ReadOnly => "read-only store",
            StoreErrorKind::Other => "error",
        };
        write!(f, "{k}: {}", self.message)
    }
}

impl core::error::Error for StoreError {}

/// A segment and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Start offset (name).
    pub id: SegmentId,
    /// Length in bytes.
    pub len: u64,
}

/// Read access to a store.
pub trait PageRead {
    /// The logs of a kind that exist: used to enumerate consume queues (pass a
    /// `ConsumeQueue` with any topic) or to test whether a log exists.
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError>;
    /// Segments of `log`, ascending by id. A missing log has none.
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError>;
    /// Calls `f` with a view of `len` bytes at `pos` of a segment.
    ///
    /// This is the one read primitive: every host we have can lend its bytes
    /// (memory maps, memory), so scans run without copies. A host that cannot
    /// lend implements it by reading into a buffer of `len` bytes.
    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError>;
    /// Copies `out.len()` bytes at `pos` of a segment into `out`.
    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        self.with_view(log, seg, pos, out.len() as u64, |v| out.copy_from_slice(v))
    }
    /// The contents of a meta file, `None` if it does not exist.
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError>;
    /// The first range within `pos..end` of a segment that may hold non-zero
    /// bytes, `None` if all of `pos..end` is known to read as zeros without
    /// looking at it (holes of a sparse file, never-written extents).
    ///
    /// A hint for scans that look for the last non-zero byte of a mostly
    /// empty file: a hole costs a page fault and a zeroed page per 4 KiB
    /// when read through a mapping. The returned range may still be all
    /// zeros; the default knows nothing and returns `pos..end`.
    fn data_range(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        end: u64,
    ) -> Result<Option<core::ops::Range<u64>>, StoreError> {
        let _ = (log, seg);
        Ok((pos < end).then_some(pos..end))
    }
}

/// Write access to a store.
pub trait PageStore: PageRead {
    /// Creates a zero-filled segment of exactly `len` bytes.
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError>;
    /// Writes `data` at `pos` of a segment.
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError>;
    /// Lets `f` fill the `len` bytes at `pos` of a segment in place: a host
    /// with a writable mapping lends the mapped bytes (records are encoded
    /// straight into the file), the default fills a zeroed buffer and writes
    /// it. `f` must overwrite all `len` bytes (a mapping lends them as they
    /// are); what it leaves there stays even if its own result is an error.
    fn write_with<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, StoreError> {
        let mut buf = alloc::vec![0u8; len];
        let r = f(&mut buf);
        self.write(log, seg, pos, &buf)?;
        Ok(r)
    }
    /// Writes each `(pos, data)` piece into one segment, in order. The same
    /// as one [`Self::write`] per piece, except that a host may check every
    /// range before writing any and look the segment up once (the index
    /// file takes three small writes per key).
    fn write_pieces(
        &self,
        log: &LogId,
        seg: SegmentId,
        pieces: &[(u64, &[u8])],
    ) -> Result<(), StoreError> {
        for &(pos, data) in pieces {
            self.write(log, seg, pos, data)?;
        }
        Ok(())
    }
    /// Makes `range` of a segment durable. Never retried after a failure.
    fn sync(
        &self,
        log: &LogId,
        seg: SegmentId,
        range: core::ops::Range<u64>,
    ) -> Result<(), StoreError>;
    /// Removes a segment.
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError>;
    /// Makes segment creations and removals of `log` durable.
    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError>;
    /// Replaces a meta file atomically and durably (`None` removes it).
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError>;
}
