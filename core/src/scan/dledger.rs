//! DLedger stores read the way Java's `DLedgerMmapFileStore.load()` +
//! `recover()` read them, so that a dump ends exactly where Java ends.
//!
//! * [`recover`] replays the recovery of spec §5.2 (classic 0.3.x) or §5.6
//!   (master): the start-file pre-check over the last three data files with its
//!   index cross-check, the scan checks, the index rebuild on the first
//!   mismatch, the begin index from the first data file, and the committed
//!   index from the `checkpoint`. Java's quirks are kept on purpose, among them
//!   bug B2 (stale entries after a follower truncation are resurrected when
//!   they start exactly at the end with a consecutive index) and B4 (files
//!   before the scan window are never validated).
//! * [`walk`] visits the entries from the begin to the end index in order,
//!   each as Java's `get(i)` would return it, with the end-of-file blanks
//!   between them. [`get`] reads one entry.
//! * [`verify`] checks everything strictly (CRCs when present, every index
//!   record, file sizes and names) and reports each [`Problem`].
//! * [`walk_messages`] reads RocketMQ messages stored one per entry body
//!   (DLedger commitlog mode, spec §8.3), up to the committed position.
//!
//! Everything runs over any [`PageRead`] and borrows segment bytes through
//! [`PageRead::with_view`]; nothing copies a whole segment.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::ControlFlow;

use crate::be;
use crate::codec::dledger::{
    self as dl, BLANK_MAGIC, DataRecord, EntryView, HEADER_LEN, HEADER_SIZE_MIN, Header,
    INDEX_UNIT_SIZE, IndexRecord, Line,
};
use crate::codec::kv::{CurrTerm, DLedgerCheckpoint};
use crate::codec::message::{self as msg, DecodeOptions, MessageView, Record};
use crate::error::DecodeError;
use crate::layout;
use crate::scan::{Problem, ProblemKind, Severity};
use crate::store::{LogId, MetaFile, PageRead, SegmentId, SegmentInfo, StoreError};

/// DLedger's default index file size (`32 * 5 * 1024 * 1024`), used only when
/// a store has no index file to measure.
pub const DEFAULT_INDEX_FILE_SIZE: u64 = 32 * 5 * 1024 * 1024;

/// How many data files the recovery pre-check starts from (the last three).
const PRECHECK_FILES: usize = 3;

const DATA: LogId = LogId::DLedgerData;
const INDEX: LogId = LogId::DLedgerIndex;
const UNIT: u64 = INDEX_UNIT_SIZE as u64;

// ---------------------------------------------------------------------------
// Options, geometry, results
// ---------------------------------------------------------------------------

/// What the caller knows about the store; everything else is inferred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// The code line; `None` detects it (see [`LineSource`]).
    pub line: Option<Line>,
    /// Data file size; `None` infers it from the segment lengths.
    pub data_file_size: Option<u64>,
    /// Index file size; `None` infers it from the segment lengths.
    pub index_file_size: Option<u64>,
}

/// Why a line was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineSource {
    /// [`Options::line`] said so.
    Given,
    /// A data file starts with an entry of magic 2 or 3 (master entry types).
    NoopOrConfigMagic,
    /// The first data file starts with a blank (a master head blank).
    HeadBlank,
    /// Entry bodies are RocketMQ messages: RocketMQ embeds the classic line.
    RocketMqBodies,
    /// There is no `checkpoint` file (master dropped it).
    NoCheckpoint,
    /// Nothing pointed either way: classic, RocketMQ's line.
    Default,
}

/// File sizes in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per data file.
    pub data_file_size: u64,
    /// Bytes per index file (a multiple of 32).
    pub index_file_size: u64,
}

/// Why the recovery scan stopped (spec §5.2 step 4: any failed check ends it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// There are no data files.
    NoDataFiles,
    /// A blank filled the last data file (or its last bytes were reached).
    EndOfLastFile,
    /// The record header runs past the end of its file.
    Truncated,
    /// `size == 0`: the end of written data.
    ZeroSize,
    /// The stored `pos` is not the entry's position (classic only).
    PosMismatch {
        /// Stored `pos`.
        stored: i64,
    },
    /// `size != 48 + bodyLength`.
    LengthMismatch {
        /// Stored size.
        size: i32,
        /// Stored body length.
        body_len: i32,
    },
    /// The entry would end outside its file.
    Overrun {
        /// Stored size.
        size: i32,
    },
    /// A magic this line does not accept.
    BadMagic {
        /// The magic.
        magic: i32,
    },
    /// The index is not the previous one plus one.
    IndexGap {
        /// Expected index.
        expected: i64,
        /// Stored index.
        found: i64,
    },
    /// The term is lower than the previous entry's.
    TermDecreased {
        /// Previous term.
        previous: i64,
        /// Stored term.
        found: i64,
    },
    /// `size <= 44`, or 45..=47 (a negative body length Java cannot read back).
    SizeTooSmall {
        /// Stored size.
        size: i32,
    },
    /// The index record cannot be rebuilt at `index * 32` (negative or overflowing index).
    BadIndex {
        /// Stored index.
        index: i64,
    },
    /// A master-line blank whose size is not positive (Java would loop forever).
    BlankSize {
        /// Stored size.
        size: i32,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDataFiles => f.write_str("no data files"),
            Self::EndOfLastFile => f.write_str("end of the last data file"),
            Self::Truncated => f.write_str("record header runs past the end of the file"),
            Self::ZeroSize => f.write_str("size 0 (end of written data)"),
            Self::PosMismatch { stored } => write!(f, "stored pos {stored} is not the position"),
            Self::LengthMismatch { size, body_len } => {
                write!(f, "size {size} != 48 + bodyLength {body_len}")
            }
            Self::Overrun { size } => write!(f, "entry of size {size} runs past the file end"),
            Self::BadMagic { magic } => write!(f, "magic {magic} not valid for this line"),
            Self::IndexGap { expected, found } => {
                write!(f, "index {found} where {expected} was expected")
            }
            Self::TermDecreased { previous, found } => {
                write!(f, "term {found} below the previous term {previous}")
            }
            Self::SizeTooSmall { size } => write!(f, "size {size} too small"),
            Self::BadIndex { index } => write!(f, "index {index} has no index position"),
            Self::BlankSize { size } => write!(f, "blank of size {size}"),
        }
    }
}

/// Where and why the recovery scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Absolute data offset of the record that stopped the scan.
    pub offset: u64,
    /// The data file holding it, if any.
    pub segment: Option<SegmentId>,
    /// Why.
    pub reason: StopReason,
}

/// Recovery found the index disagreeing with the data (or missing) and, like
/// Java, rewrites it from the data from this entry on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRebuild {
    /// First entry whose index record is rewritten.
    pub from_index: i64,
    /// Its absolute data position.
    pub from_pos: u64,
}

/// The state Java holds after `load()` + `recover()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Code line used.
    pub line: Line,
    /// Why that line.
    pub line_source: LineSource,
    /// File sizes used.
    pub geometry: Geometry,
    /// Data files as listed (a master all-blank first file is left out, as Java removes it).
    pub data_files: Vec<SegmentInfo>,
    /// Index files as listed.
    pub index_files: Vec<SegmentInfo>,
    /// Data file where the scan started (`None` without data files).
    pub scan_start: Option<SegmentId>,
    /// Index of the first entry of the scan start file when the pre-check
    /// passed there, −1 when no file passed (the scan then starts at file 0).
    pub precheck_index: i64,
    /// Where Java rewrites the index, if it does.
    pub index_rebuild: Option<IndexRebuild>,
    /// Ledger begin index (classic `ledgerBeginIndex`, master `ledgerBeforeBeginIndex + 1`), −1 when empty.
    pub begin_index: i64,
    /// Ledger end index, −1 when empty.
    pub end_index: i64,
    /// Term of the last entry, −1 when empty.
    pub end_term: i64,
    /// Absolute data position after the last entry (Java's `processOffset`).
    pub data_write_pos: u64,
    /// Index write position, `(end_index + 1) * 32`.
    pub index_write_pos: u64,
    /// Committed index after recovery: the checkpoint's `committedIndex`
    /// clamped to the end index (§6.5); −1 for master or without a checkpoint.
    pub committed_index: i64,
    /// End of the committed entry (`pos + size`), −1 when nothing is committed.
    pub committed_pos: i64,
    /// The `checkpoint` file, parsed.
    pub checkpoint: Option<DLedgerCheckpoint>,
    /// The `currterm` file, parsed.
    pub curr_term: Option<CurrTerm>,
    /// Where and why the scan stopped.
    pub stop: Stop,
    /// Store-level findings of load and recovery: files Java refuses (wrong
    /// size, gaps), its `System.exit` sanity stop, unreadable meta files.
    pub problems: Vec<Problem>,
}

impl Recovered {
    /// Number of entries from begin to end (0 when empty or inconsistent).
    pub fn entry_count(&self) -> u64 {
        if self.end_index < 0 || self.begin_index < 0 || self.begin_index > self.end_index {
            return 0;
        }
        (self.end_index - self.begin_index) as u64 + 1
    }
}

/// A failure that prevents reading the store at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The storage failed.
    Store(StoreError),
    /// File sizes cannot be determined or are unusable.
    Geometry {
        /// Which log.
        log: LogId,
        /// What is wrong.
        detail: &'static str,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "{e}"),
            Self::Geometry { log, detail } => write!(f, "{log}: {detail}"),
        }
    }
}

impl core::error::Error for ScanError {}

impl From<StoreError> for ScanError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// One end-of-file blank between two entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blank {
    /// Absolute position of the blank.
    pub pos: u64,
    /// Its stored size (bytes to the end of the file).
    pub size: i32,
    /// Where the next entry starts.
    pub next_entry_pos: u64,
}

/// What [`walk`] visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// An entry as Java's `get(i)` returns it; `pos` is where it actually lies.
    Entry {
        /// Absolute data position.
        pos: u64,
        /// The entry.
        entry: EntryView<'a>,
    },
    /// A blank between the previous entry and the next.
    Blank(Blank),
    /// An entry Java cannot read back, or a gap that is not a blank.
    Problem(Problem),
}

/// Why [`get`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// Outside `[begin, end]` (Java: `INDEX_OUT_OF_RANGE` / `INDEX_LESS_THAN_LOCAL_BEGIN`).
    OutOfRange {
        /// Requested index.
        index: i64,
        /// Begin index.
        begin: i64,
        /// End index.
        end: i64,
    },
    /// No index record for it (Java: `DISK_ERROR`, "Get null index").
    NoIndexRecord {
        /// Requested index.
        index: i64,
    },
    /// The index record points outside the readable data (Java: "Get null data").
    NoData {
        /// Requested index.
        index: i64,
        /// Position from the index record.
        pos: i64,
        /// Size from the index record.
        size: i32,
    },
    /// The bytes there are not an entry.
    Decode(DecodeError),
    /// The entry's stored pos differs from the index record's (classic check).
    PosMismatch {
        /// Requested index.
        index: i64,
        /// Position from the index record.
        pos: i64,
        /// Stored pos of the entry.
        stored: i64,
    },
    /// The storage failed.
    Store(StoreError),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { index, begin, end } => {
                write!(f, "entry {index} outside [{begin}, {end}]")
            }
            Self::NoIndexRecord { index } => write!(f, "no index record for entry {index}"),
            Self::NoData { index, pos, size } => write!(
                f,
                "index record of entry {index} points at {size} bytes at {pos}, outside the data"
            ),
            Self::Decode(e) => write!(f, "{e}"),
            Self::PosMismatch { index, pos, stored } => write!(
                f,
                "entry {index}: index record says pos {pos}, entry says {stored}"
            ),
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for GetError {}

impl From<StoreError> for GetError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn problem(
    log: LogId,
    segment: Option<SegmentId>,
    offset: u64,
    severity: Severity,
    kind: ProblemKind,
) -> Problem {
    Problem {
        log,
        segment,
        offset,
        severity,
        kind,
    }
}

fn other(
    log: LogId,
    segment: Option<SegmentId>,
    offset: u64,
    severity: Severity,
    text: String,
) -> Problem {
    problem(log, segment, offset, severity, ProblemKind::Other(text))
}

/// The file holding absolute `off` in a sorted list of files of `size` bytes.
fn find_file(files: &[SegmentInfo], off: u64, size: u64) -> Option<(usize, SegmentInfo)> {
    let i = files.partition_point(|s| s.id <= off).checked_sub(1)?;
    let s = files[i];
    (off - s.id < size).then_some((i, s))
}

/// Bytes of a data file Java can see: its length, capped at the file size.
fn view_len(seg: &SegmentInfo, file_size: u64) -> u64 {
    seg.len.min(file_size)
}

fn i32_at(buf: &[u8], at: u64) -> Option<i32> {
    be::i32_at(buf, usize::try_from(at).ok()?)
}

/// Reads the index record of entry `i`, `None` when there is none.
fn index_record<S: PageRead + ?Sized>(
    store: &S,
    files: &[SegmentInfo],
    index_file_size: u64,
    i: i64,
) -> Result<Option<IndexRecord>, StoreError> {
    let Some(off) = u64::try_from(i).ok().and_then(|i| i.checked_mul(UNIT)) else {
        return Ok(None);
    };
    let Some((_, seg)) = find_file(files, off, index_file_size) else {
        return Ok(None);
    };
    let rel = off - seg.id;
    if rel + UNIT > view_len(&seg, index_file_size) {
        return Ok(None);
    }
    let mut b = [0u8; INDEX_UNIT_SIZE];
    store.read(&INDEX, seg.id, rel, &mut b)?;
    Ok(IndexRecord::decode(&b))
}

/// Most common non-zero segment length (the first segment's wins ties), the
/// file size of a log whose files are all equal.
pub fn infer_file_size(segments: &[SegmentInfo]) -> Option<u64> {
    let mut counts: Vec<(u64, usize)> = Vec::new();
    for s in segments.iter().filter(|s| s.len > 0) {
        match counts.iter_mut().find(|(l, _)| *l == s.len) {
            Some(c) => c.1 += 1,
            None => counts.push((s.len, 1)),
        }
    }
    let mut best: Option<(u64, usize)> = None;
    for &(l, c) in &counts {
        if best.is_none_or(|(_, bc)| c > bc) {
            best = Some((l, c));
        }
    }
    best.map(|(l, _)| l)
}

/// Reports what Java's `load()` and `checkSelf()` refuse: files of the wrong
/// length (load returns false, the store exits), names that are not multiples
/// of the file size, and adjacent files that are not exactly one size apart.
/// Positions are Java longs: a file named so that it ends past `i64::MAX`
/// has none, and `base + position` sums over it would overflow. Such files
/// are reported and dropped before anything reads them.
fn skip_past_max_offset(log: &LogId, files: &mut Vec<SegmentInfo>, out: &mut Vec<Problem>) {
    files.retain(|f| {
        let fits =
            f.id.checked_add(f.len)
                .is_some_and(|e| e <= i64::MAX as u64);
        if !fits {
            out.push(other(
                log.clone(),
                Some(f.id),
                f.id,
                Severity::Error,
                alloc::format!(
                    "file of {} bytes would end past the largest offset {}; skipped",
                    f.len,
                    i64::MAX
                ),
            ));
        }
        fits
    });
}

fn check_files(log: &LogId, files: &[SegmentInfo], size: u64, out: &mut Vec<Problem>) {
    let mut prev: Option<SegmentId> = None;
    for s in files {
        if s.len != size {
            out.push(other(
                log.clone(),
                Some(s.id),
                s.id,
                Severity::Error,
                alloc::format!(
                    "file is {} bytes, not {size}: Java's load() refuses the store",
                    s.len
                ),
            ));
        }
        if s.id % size != 0 {
            out.push(other(
                log.clone(),
                Some(s.id),
                s.id,
                Severity::Error,
                alloc::format!(
                    "file start {} is not a multiple of the file size {size}",
                    s.id
                ),
            ));
        }
        if let Some(p) = prev
            && s.id.checked_sub(p) != Some(size)
        {
            out.push(other(
                log.clone(),
                Some(s.id),
                s.id,
                Severity::Error,
                alloc::format!(
                    "file follows {} instead of {}: Java's checkSelf() fails (DISK_ERROR)",
                    layout::file_name(p),
                    layout::file_name(p.saturating_add(size))
                ),
            ));
        }
        prev = Some(s.id);
    }
}

/// The first 56 bytes of a data file (or fewer), for cheap looks.
fn head<S: PageRead + ?Sized>(
    store: &S,
    seg: &SegmentInfo,
    at: u64,
    file_size: u64,
) -> Result<Vec<u8>, StoreError> {
    let n = view_len(seg, file_size).saturating_sub(at).min(56);
    let mut b = alloc::vec![0u8; n as usize];
    if n > 0 {
        store.read(&DATA, seg.id, at, &mut b)?;
    }
    Ok(b)
}

/// Whether bytes look like a RocketMQ CommitLog record of `len` bytes.
fn looks_like_message(b: &[u8], len: i32) -> bool {
    matches!(be::i32_at(b, 4), Some(msg::MAGIC_V1 | msg::MAGIC_V2)) && be::i32_at(b, 0) == Some(len)
}

/// Picks the line from content (spec §0.2): magic 2/3 or a head blank mean
/// master; RocketMQ bodies mean classic; no checkpoint file means master.
fn detect_line<S: PageRead + ?Sized>(
    store: &S,
    files: &[SegmentInfo],
    file_size: u64,
    has_checkpoint: bool,
) -> Result<(Line, LineSource), StoreError> {
    let mut rocketmq = false;
    for (i, seg) in files.iter().enumerate() {
        let mut b = head(store, seg, 0, file_size)?;
        if be::i32_at(&b, 0) == Some(BLANK_MAGIC) {
            if i == 0 {
                return Ok((Line::Master, LineSource::HeadBlank));
            }
            continue;
        }
        if i == 0 && b.iter().all(|&x| x == 0) {
            continue;
        }
        if let Some(dl::MAGIC_NOOP | dl::MAGIC_CONFIG_CHANGE) = be::i32_at(&b, 0) {
            return Ok((Line::Master, LineSource::NoopOrConfigMagic));
        }
        if let Some(size) = be::i32_at(&b, 4)
            && b.len() >= HEADER_LEN + 8
        {
            let body = b.split_off(HEADER_LEN);
            rocketmq |= looks_like_message(&body, size.wrapping_sub(HEADER_LEN as i32));
        }
    }
    Ok(if rocketmq {
        (Line::Classic, LineSource::RocketMqBodies)
    } else if !has_checkpoint && !files.is_empty() {
        (Line::Master, LineSource::NoCheckpoint)
    } else {
        (Line::Classic, LineSource::Default)
    })
}

/// Master `checkFirstFileAllBlank`: a first file made only of blanks is removed.
fn first_file_all_blank<S: PageRead + ?Sized>(
    store: &S,
    seg: &SegmentInfo,
    file_size: u64,
) -> Result<bool, StoreError> {
    let len = view_len(seg, file_size);
    store.with_view(&DATA, seg.id, 0, len, |buf| {
        let mut pos = 0u64;
        // Java walks `pos += size` until it lands on the file size exactly; a
        // size that does not advance would loop forever there, so stop.
        while pos != file_size {
            match (i32_at(buf, pos), i32_at(buf, pos + 4)) {
                (Some(BLANK_MAGIC), Some(size)) if size > 0 => pos += size as u64,
                _ => return false,
            }
        }
        true
    })
}

// ---------------------------------------------------------------------------
// The scan (spec §5.2 step 4, §5.6)
// ---------------------------------------------------------------------------

/// What a scan sink says after an entry.
enum Flow {
    Continue,
    Halt,
    Stop(StopReason),
}

enum SegEnd {
    NextFile,
    Halt,
    Stop(Stop),
}

struct ScanState {
    file: usize,
    rel: u64,
    process_offset: u64,
    last_index: i64,
    last_term: i64,
}

/// Scans one data file from `st.rel` with Java's checks, handing each
/// accepted entry to `sink`.
fn scan_segment(
    buf: &[u8],
    seg: SegmentId,
    file_size: u64,
    line: Line,
    st: &mut ScanState,
    sink: &mut dyn FnMut(&EntryView<'_>, u64) -> Result<Flow, StoreError>,
) -> Result<SegEnd, StoreError> {
    let len = buf.len() as u64;
    loop {
        let rel = st.rel;
        let abs = seg + rel;
        let stop = |reason| {
            Ok(SegEnd::Stop(Stop {
                offset: abs,
                segment: Some(seg),
                reason,
            }))
        };
        let Some(magic) = i32_at(buf, rel) else {
            return stop(StopReason::Truncated);
        };
        if magic == BLANK_MAGIC {
            match line {
                // Classic ignores the blank's size: the rest of the file is filler.
                Line::Classic => {
                    st.process_offset = seg + file_size;
                    return Ok(SegEnd::NextFile);
                }
                Line::Master => {
                    let Some(size) = i32_at(buf, rel + 4) else {
                        return stop(StopReason::Truncated);
                    };
                    if size <= 0 {
                        return stop(StopReason::BlankSize { size });
                    }
                    let next = rel + size as u64;
                    st.process_offset += size as u64;
                    if next == file_size {
                        return Ok(SegEnd::NextFile);
                    }
                    if next > len {
                        // Java has already advanced processOffset when the
                        // position change throws.
                        return stop(StopReason::Truncated);
                    }
                    st.rel = next;
                    continue;
                }
            }
        }
        let Some(size) = i32_at(buf, rel + 4) else {
            return stop(StopReason::Truncated);
        };
        if size == 0 {
            return stop(StopReason::ZeroSize);
        }
        let Some(h) = usize::try_from(rel)
            .ok()
            .and_then(|r| buf.get(r..))
            .and_then(Header::read)
        else {
            return stop(StopReason::Truncated);
        };
        if line == Line::Classic && h.pos != abs as i64 {
            return stop(StopReason::PosMismatch { stored: h.pos });
        }
        // Java adds in 32-bit arithmetic.
        if h.body_len.wrapping_add(HEADER_LEN as i32) != size {
            return stop(StopReason::LengthMismatch {
                size,
                body_len: h.body_len,
            });
        }
        let next = rel as i64 + i64::from(size);
        if next < 0 || next as u64 > len {
            return stop(StopReason::Overrun { size });
        }
        if !line.valid_magic(magic) {
            return stop(StopReason::BadMagic { magic });
        }
        if st.last_index != -1 && h.index != st.last_index.wrapping_add(1) {
            return stop(StopReason::IndexGap {
                expected: st.last_index.wrapping_add(1),
                found: h.index,
            });
        }
        if h.term < st.last_term {
            return stop(StopReason::TermDecreased {
                previous: st.last_term,
                found: h.term,
            });
        }
        // Java accepts 45..=47 here (negative body length) but cannot decode
        // such an entry back; treat it as the end rather than yield it.
        if size <= HEADER_SIZE_MIN || (size as usize) < HEADER_LEN {
            return stop(StopReason::SizeTooSmall { size });
        }
        let (r, n) = (rel as usize, next as usize);
        let e = EntryView {
            magic,
            size,
            index: h.index,
            term: h.term,
            pos: h.pos,
            channel: h.channel,
            chain_crc: h.chain_crc,
            body_crc: h.body_crc,
            body_len: h.body_len,
            body: &buf[r + HEADER_LEN..n],
            raw: &buf[r..n],
        };
        match sink(&e, abs)? {
            Flow::Continue => {}
            Flow::Halt => return Ok(SegEnd::Halt),
            Flow::Stop(reason) => return stop(reason),
        }
        st.last_index = h.index;
        st.last_term = h.term;
        st.process_offset += size as u64;
        st.rel = next as u64;
    }
}

/// Scans from `st` across files until a stop, the last file's end, or a halt.
fn scan<S: PageRead + ?Sized>(
    store: &S,
    files: &[SegmentInfo],
    file_size: u64,
    line: Line,
    st: &mut ScanState,
    sink: &mut dyn FnMut(&EntryView<'_>, u64) -> Result<Flow, StoreError>,
) -> Result<Option<Stop>, StoreError> {
    loop {
        let seg = files[st.file];
        let len = view_len(&seg, file_size);
        let end = store.with_view(&DATA, seg.id, 0, len, |buf| {
            scan_segment(buf, seg.id, file_size, line, st, sink)
        })??;
        match end {
            SegEnd::Halt => return Ok(None),
            SegEnd::Stop(s) => return Ok(Some(s)),
            SegEnd::NextFile => {
                if st.file + 1 >= files.len() {
                    return Ok(Some(Stop {
                        offset: st.process_offset,
                        segment: Some(seg.id),
                        reason: StopReason::EndOfLastFile,
                    }));
                }
                st.file += 1;
                st.rel = 0;
                st.process_offset = files[st.file].id;
            }
        }
    }
}

/// The recovery pre-check on one file (spec §5.2 step 3, §5.6): the first
/// entry must be sane, and its index record must mirror it.
fn precheck<S: PageRead + ?Sized>(
    store: &S,
    seg: &SegmentInfo,
    geo: Geometry,
    line: Line,
    index_files: &[SegmentInfo],
) -> Result<Option<i64>, StoreError> {
    let b = head(store, seg, 0, geo.data_file_size)?;
    let Some(h) = Header::read(&b) else {
        return Ok(None);
    };
    let magic_ok = match line {
        // As written (`magic >= MAGIC_1 && MAGIC_1 <= CURRENT_MAGIC`): any magic >= 1.
        Line::Classic => h.magic != BLANK_MAGIC && h.magic >= dl::MAGIC_NORMAL,
        Line::Master => line.valid_magic(h.magic),
    };
    let pos_ok = line == Line::Master || h.pos == seg.id as i64;
    if !magic_ok
        || h.size <= HEADER_SIZE_MIN
        || !pos_ok
        || h.body_len.wrapping_add(HEADER_LEN as i32) != h.size
    {
        return Ok(None);
    }
    let want = IndexRecord {
        magic: h.magic,
        pos: seg.id as i64,
        size: h.size,
        index: h.index,
        term: h.term,
    };
    let rec = index_record(store, index_files, geo.index_file_size, h.index)?;
    Ok((rec == Some(want)).then_some(h.index))
}

// ---------------------------------------------------------------------------
// recover
// ---------------------------------------------------------------------------

/// Replays Java's `load()` + `recover()` (spec §5) without changing anything.
pub fn recover<S: PageRead + ?Sized>(store: &S, opts: &Options) -> Result<Recovered, ScanError> {
    let mut data_files = store.segments(&DATA)?;
    let mut index_files = store.segments(&INDEX)?;
    let mut problems = Vec::new();
    skip_past_max_offset(&DATA, &mut data_files, &mut problems);
    skip_past_max_offset(&INDEX, &mut index_files, &mut problems);

    let data_file_size = match opts.data_file_size.or_else(|| infer_file_size(&data_files)) {
        Some(0) => {
            return Err(ScanError::Geometry {
                log: DATA,
                detail: "data file size 0",
            });
        }
        Some(s) => s,
        None if data_files.is_empty() => layout::OS_PAGE_SIZE,
        None => {
            return Err(ScanError::Geometry {
                log: DATA,
                detail: "every data file is empty: cannot infer the file size",
            });
        }
    };
    let index_file_size = match opts
        .index_file_size
        .or_else(|| infer_file_size(&index_files))
    {
        Some(0) => {
            return Err(ScanError::Geometry {
                log: INDEX,
                detail: "index file size 0",
            });
        }
        Some(s) => s,
        None => DEFAULT_INDEX_FILE_SIZE,
    };
    let geometry = Geometry {
        data_file_size,
        index_file_size,
    };
    if index_file_size % UNIT != 0 {
        problems.push(other(
            INDEX,
            None,
            0,
            Severity::Error,
            alloc::format!(
                "index file size {index_file_size} is not a multiple of 32: index appends fail at file ends"
            ),
        ));
    }
    check_files(&DATA, &data_files, data_file_size, &mut problems);
    check_files(&INDEX, &index_files, index_file_size, &mut problems);

    let checkpoint_raw = store.read_meta(MetaFile::DLedgerCheckpoint)?;
    let checkpoint = match checkpoint_raw.as_deref().map(DLedgerCheckpoint::parse) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            // Java's Long.valueOf would throw out of recover(): startup fails.
            problems.push(other(
                DATA,
                None,
                0,
                Severity::Error,
                alloc::format!("checkpoint unreadable ({e}): Java's recover() throws"),
            ));
            None
        }
    };
    let curr_term = match store
        .read_meta(MetaFile::CurrTerm)?
        .as_deref()
        .map(CurrTerm::parse)
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            problems.push(other(
                DATA,
                None,
                0,
                Severity::Warning,
                alloc::format!("currterm unreadable ({e}): Java resets the term to 0"),
            ));
            None
        }
    };

    let (line, line_source) = match opts.line {
        Some(l) => (l, LineSource::Given),
        None => detect_line(store, &data_files, data_file_size, checkpoint_raw.is_some())?,
    };

    if line == Line::Master
        && let Some(first) = data_files.first().copied()
        && first_file_all_blank(store, &first, data_file_size)?
    {
        problems.push(other(
            DATA,
            Some(first.id),
            first.id,
            Severity::Notice,
            String::from("first data file holds only blanks: master recovery deletes it"),
        ));
        data_files.remove(0);
    }

    let empty = |stop: Stop, problems, data_files, scan_start, precheck_index| Recovered {
        line,
        line_source,
        geometry,
        data_files,
        index_files: index_files.clone(),
        scan_start,
        precheck_index,
        index_rebuild: None,
        begin_index: -1,
        end_index: -1,
        end_term: -1,
        data_write_pos: stop.offset,
        index_write_pos: 0,
        committed_index: -1,
        committed_pos: -1,
        checkpoint,
        curr_term: curr_term.clone(),
        stop,
        problems,
    };
    if data_files.is_empty() {
        let stop = Stop {
            offset: 0,
            segment: None,
            reason: StopReason::NoDataFiles,
        };
        return Ok(empty(stop, problems, data_files, None, -1));
    }

    // Step 3: pick the start file.
    let mut start = data_files.len().saturating_sub(PRECHECK_FILES);
    let mut precheck_index = -1;
    loop {
        if let Some(i) = precheck(store, &data_files[start], geometry, line, &index_files)? {
            precheck_index = i;
            break;
        }
        if start == 0 {
            break;
        }
        start -= 1;
    }

    // Step 4: scan, comparing with the index until the first mismatch.
    let target = match (line, checkpoint) {
        (Line::Classic, Some(c)) => Some(c.committed_index),
        _ => None,
    };
    let mut rebuild: Option<IndexRebuild> = None;
    let mut last_entry: Option<(u64, i32)> = None;
    let mut at_target: Option<(u64, i32)> = None;
    let mut st = ScanState {
        file: start,
        rel: 0,
        process_offset: data_files[start].id,
        last_index: -1,
        last_term: -1,
    };
    let stop = {
        let idx_files = &index_files;
        let mut sink = |e: &EntryView<'_>, abs: u64| -> Result<Flow, StoreError> {
            if rebuild.is_none() {
                let want = IndexRecord {
                    magic: e.magic,
                    pos: abs as i64,
                    size: e.size,
                    index: e.index,
                    term: e.term,
                };
                if index_record(store, idx_files, index_file_size, e.index)? != Some(want) {
                    if e.index < 0 || e.index.checked_mul(UNIT as i64).is_none() {
                        return Ok(Flow::Stop(StopReason::BadIndex { index: e.index }));
                    }
                    rebuild = Some(IndexRebuild {
                        from_index: e.index,
                        from_pos: abs,
                    });
                }
            }
            if Some(e.index) == target {
                at_target = Some((abs, e.size));
            }
            last_entry = Some((abs, e.size));
            Ok(Flow::Continue)
        };
        scan(store, &data_files, data_file_size, line, &mut st, &mut sink)?
    };
    // A halt never happens during recovery; `None` cannot occur.
    let stop = stop.unwrap_or(Stop {
        offset: st.process_offset,
        segment: None,
        reason: StopReason::EndOfLastFile,
    });
    let process_offset = st.process_offset;
    let scan_start = Some(data_files[start].id);

    // Step 5: Java exits when the end lies more than a file before the last file.
    if let Some(last) = data_files.last()
        && last.id > process_offset
        && last.id - process_offset > data_file_size
    {
        problems.push(other(
            DATA,
            Some(last.id),
            process_offset,
            Severity::Error,
            alloc::format!(
                "recovered end {process_offset} lies more than one file before the last file: \
                 Java logs \"processOffset is too small\" and exits"
            ),
        ));
    }

    if st.last_index == -1 {
        let mut r = empty(stop, problems, data_files, scan_start, precheck_index);
        r.data_write_pos = process_offset;
        return Ok(r);
    }
    let end_index = st.last_index;
    let end_term = st.last_term;

    // reviseLedgerBeginIndex: the index field of the first record of the first file.
    let first = data_files[0];
    let b = head(store, &first, 0, data_file_size)?;
    let begin_index = match line {
        Line::Classic => be::i64_at(&b, 8),
        Line::Master => master_begin(store, &first, data_file_size, &b)?,
    };
    let begin_index = begin_index.unwrap_or_else(|| {
        problems.push(other(
            DATA,
            Some(first.id),
            first.id,
            Severity::Error,
            String::from(
                "first data file too short to read the begin index: Java's recover() throws",
            ),
        ));
        end_index
    });

    // Step 7: the checkpoint's committed index, clamped (§6.5).
    let mut committed_index = -1;
    let mut committed_pos = -1;
    if let Some(c) = target
        && c != -1
        && c >= begin_index
    {
        let c = c.min(end_index);
        let pos_size = match rebuild {
            Some(r) if c >= r.from_index => if c == end_index {
                last_entry
            } else {
                at_target
            }
            .map(|(p, s)| (p as i64, s)),
            _ => index_record(store, &index_files, index_file_size, c)?.map(|r| (r.pos, r.size)),
        };
        match pos_size {
            Some((p, s)) => {
                committed_index = c;
                committed_pos = p.wrapping_add(i64::from(s));
            }
            None => problems.push(other(
                INDEX,
                None,
                (c as u64).wrapping_mul(UNIT),
                Severity::Error,
                alloc::format!(
                    "no index record for committed entry {c}: Java's recover() fails (DISK_ERROR)"
                ),
            )),
        }
    }

    Ok(Recovered {
        line,
        line_source,
        geometry,
        data_files,
        index_files,
        scan_start,
        precheck_index,
        index_rebuild: rebuild,
        begin_index,
        end_index,
        end_term,
        data_write_pos: process_offset,
        index_write_pos: ((end_index as u64).wrapping_add(1)).wrapping_mul(UNIT),
        committed_index,
        committed_pos,
        checkpoint,
        curr_term,
        stop,
        problems,
    })
}

/// Master `reviseLedgerBeforeBeginIndex`: skip a head blank, then read the index.
fn master_begin<S: PageRead + ?Sized>(
    store: &S,
    first: &SegmentInfo,
    file_size: u64,
    b: &[u8],
) -> Result<Option<i64>, StoreError> {
    if be::i32_at(b, 0) != Some(BLANK_MAGIC) {
        return Ok(match be::i32_at(b, 4) {
            Some(0) => Some(0),
            _ => be::i64_at(b, 8),
        });
    }
    let Some(skip) = be::i32_at(b, 4).and_then(|s| u64::try_from(s).ok()) else {
        return Ok(None);
    };
    let h = head(store, first, skip, file_size)?;
    Ok(match be::i32_at(&h, 4) {
        // An empty log keeps ledgerBeforeBeginIndex at −1.
        Some(0) => Some(0),
        _ => be::i64_at(&h, 8),
    })
}

// ---------------------------------------------------------------------------
// get / walk
// ---------------------------------------------------------------------------

/// Java's `get(i)` through the on-disk index record (valid below the rebuild point).
fn get_on_disk<S: PageRead + ?Sized, R>(
    store: &S,
    rec: &Recovered,
    i: i64,
    f: impl FnOnce(u64, EntryView<'_>) -> R,
) -> Result<R, GetError> {
    let geo = rec.geometry;
    let r = index_record(store, &rec.index_files, geo.index_file_size, i)?
        .ok_or(GetError::NoIndexRecord { index: i })?;
    let no_data = GetError::NoData {
        index: i,
        pos: r.pos,
        size: r.size,
    };
    let (Ok(pos), Ok(size)) = (u64::try_from(r.pos), u64::try_from(r.size)) else {
        return Err(no_data);
    };
    let Some((_, seg)) = find_file(&rec.data_files, pos, geo.data_file_size) else {
        return Err(no_data);
    };
    let rel = pos - seg.id;
    // Readable: up to the file end, and in the last kept file up to the write position.
    let limit = view_len(&seg, geo.data_file_size).min(rec.data_write_pos.saturating_sub(seg.id));
    if rel.checked_add(size).is_none_or(|e| e > limit) {
        return Err(no_data);
    }
    let line = rec.line;
    store
        .with_view(&DATA, seg.id, rel, size, |buf| {
            match dl::decode(buf, pos, line).map_err(GetError::Decode)? {
                DataRecord::Entry(e) => {
                    if line == Line::Classic && e.pos != r.pos {
                        return Err(GetError::PosMismatch {
                            index: i,
                            pos: r.pos,
                            stored: e.pos,
                        });
                    }
                    Ok(f(pos, e))
                }
                DataRecord::Blank { .. } => Err(GetError::Decode(DecodeError::new(
                    pos,
                    crate::error::DecodeErrorKind::BadMagic { found: BLANK_MAGIC },
                ))),
            }
        })
        .map_err(GetError::Store)?
}

/// The scan cursor at an absolute entry position.
fn cursor(rec: &Recovered, pos: u64) -> Option<ScanState> {
    let (file, seg) = find_file(&rec.data_files, pos, rec.geometry.data_file_size)?;
    Some(ScanState {
        file,
        rel: pos - seg.id,
        process_offset: pos,
        last_index: -1,
        last_term: -1,
    })
}

/// Reads entry `index` as Java's `get(index)` does after recovery (spec §6.3):
/// through the index record, or, from the rebuild point on, through the index
/// Java rewrote from the data (found here by re-scanning from that point).
/// `f` gets the entry's absolute position and the entry.
pub fn get<S: PageRead + ?Sized, R>(
    store: &S,
    rec: &Recovered,
    index: i64,
    f: impl FnOnce(u64, EntryView<'_>) -> R,
) -> Result<R, GetError> {
    if index < 0 || index < rec.begin_index || index > rec.end_index {
        return Err(GetError::OutOfRange {
            index,
            begin: rec.begin_index,
            end: rec.end_index,
        });
    }
    match rec.index_rebuild {
        Some(rb) if index >= rb.from_index => {
            let mut f = Some(f);
            let mut out = None;
            let Some(mut st) = cursor(rec, rb.from_pos) else {
                return Err(GetError::NoIndexRecord { index });
            };
            let mut sink = |e: &EntryView<'_>, abs: u64| -> Result<Flow, StoreError> {
                if e.index == index {
                    if let Some(f) = f.take() {
                        out = Some(f(abs, *e));
                    }
                    return Ok(Flow::Halt);
                }
                Ok(if e.index >= rec.end_index {
                    Flow::Halt
                } else {
                    Flow::Continue
                })
            };
            scan(
                store,
                &rec.data_files,
                rec.geometry.data_file_size,
                rec.line,
                &mut st,
                &mut sink,
            )?;
            out.ok_or(GetError::NoIndexRecord { index })
        }
        _ => get_on_disk(store, rec, index, f),
    }
}

/// Tracks the end of the previous entry to report what lies between entries.
struct Gaps {
    prev_end: Option<u64>,
}

impl Gaps {
    /// Before an entry at `pos`: the blank (or gap problem) since the previous one.
    fn between<S: PageRead + ?Sized>(
        &mut self,
        store: &S,
        rec: &Recovered,
        pos: u64,
        size: i32,
    ) -> Result<Option<Item<'static>>, StoreError> {
        let prev = self
            .prev_end
            .replace(pos.saturating_add(size.max(0) as u64));
        let Some(prev) = prev.filter(|&p| p != pos) else {
            return Ok(None);
        };
        let fs = rec.geometry.data_file_size;
        let header = match find_file(&rec.data_files, prev, fs) {
            Some((_, seg)) if prev - seg.id + 8 <= view_len(&seg, fs) => {
                let mut b = [0u8; 8];
                store.read(&DATA, seg.id, prev - seg.id, &mut b)?;
                Some((seg.id, b))
            }
            _ => None,
        };
        Ok(Some(match header {
            Some((_, b)) if be::i32_at(&b, 0) == Some(BLANK_MAGIC) => Item::Blank(Blank {
                pos: prev,
                size: be::i32_at(&b, 4).unwrap_or(0),
                next_entry_pos: pos,
            }),
            h => Item::Problem(other(
                DATA,
                h.map(|(s, _)| s),
                prev,
                Severity::Warning,
                alloc::format!(
                    "{} bytes between entries are not a blank",
                    pos.wrapping_sub(prev)
                ),
            )),
        }))
    }
}

/// Visits the entries from the begin to the end index, in order, as Java's
/// `get(i)` returns them after recovery, with the blanks between them.
/// Entries Java cannot read back come as [`Item::Problem`]. `f` may stop the
/// walk with [`ControlFlow::Break`].
pub fn walk<S: PageRead + ?Sized>(
    store: &S,
    rec: &Recovered,
    mut f: impl FnMut(Item<'_>) -> ControlFlow<()>,
) -> Result<(), ScanError> {
    if rec.end_index < 0 {
        return Ok(());
    }
    let begin = rec.begin_index.max(0);
    if begin > rec.end_index {
        let _ = f(Item::Problem(other(
            DATA,
            None,
            0,
            Severity::Error,
            alloc::format!(
                "begin index {} lies after the end index {}: Java can read no entry",
                rec.begin_index,
                rec.end_index
            ),
        )));
        return Ok(());
    }
    let mut gaps = Gaps { prev_end: None };
    let disk_end = match rec.index_rebuild {
        Some(rb) => rb.from_index.clamp(begin, rec.end_index + 1),
        None => rec.end_index + 1,
    };

    // Below the rebuild point: through the on-disk index, like Java.
    let mut i = begin;
    while i < disk_end {
        let got = get_on_disk(
            store,
            rec,
            i,
            |pos, entry| -> Result<ControlFlow<()>, StoreError> {
                if let Some(item) = gaps.between(store, rec, pos, entry.size)?
                    && f(item).is_break()
                {
                    return Ok(ControlFlow::Break(()));
                }
                Ok(f(Item::Entry { pos, entry }))
            },
        );
        let item = match got {
            Ok(flow) => {
                if flow?.is_break() {
                    return Ok(());
                }
                i += 1;
                continue;
            }
            Err(GetError::Store(e)) => return Err(e.into()),
            Err(GetError::NoIndexRecord { .. }) => {
                // Report a whole run of missing index records at once.
                let next = next_indexed(rec, i)
                    .unwrap_or(disk_end)
                    .clamp(i + 1, disk_end.max(i + 1));
                let item = other(
                    INDEX,
                    None,
                    (i as u64).wrapping_mul(UNIT),
                    Severity::Error,
                    alloc::format!(
                        "entries {i}..={} have no index record: Java's get() fails",
                        next - 1
                    ),
                );
                i = next;
                item
            }
            Err(e) => {
                let item = other(
                    INDEX,
                    None,
                    (i as u64).wrapping_mul(UNIT),
                    Severity::Error,
                    alloc::format!("entry {i} unreadable: {e}"),
                );
                i += 1;
                item
            }
        };
        if f(Item::Problem(item)).is_break() {
            return Ok(());
        }
    }

    // From the rebuild point on: the data itself, as Java re-indexed it.
    if let Some(rb) = rec.index_rebuild {
        let Some(mut st) = cursor(rec, rb.from_pos) else {
            return Ok(());
        };
        let end = rec.end_index;
        let mut sink = |e: &EntryView<'_>, abs: u64| -> Result<Flow, StoreError> {
            if e.index >= begin {
                if let Some(item) = gaps.between(store, rec, abs, e.size)?
                    && f(item).is_break()
                {
                    return Ok(Flow::Halt);
                }
                if f(Item::Entry {
                    pos: abs,
                    entry: *e,
                })
                .is_break()
                {
                    return Ok(Flow::Halt);
                }
            }
            Ok(if e.index >= end {
                Flow::Halt
            } else {
                Flow::Continue
            })
        };
        scan(
            store,
            &rec.data_files,
            rec.geometry.data_file_size,
            rec.line,
            &mut st,
            &mut sink,
        )?;
    }
    Ok(())
}

/// The first entry index after `i` whose index record lies in an existing index file.
fn next_indexed(rec: &Recovered, i: i64) -> Option<i64> {
    let off = (i as u64).checked_mul(UNIT)?;
    let fs = rec.geometry.index_file_size;
    let next = rec
        .index_files
        .iter()
        .find(|s| s.id.saturating_add(fs) > off.saturating_add(UNIT))?;
    let start = next.id.max(off + UNIT);
    i64::try_from(start.div_ceil(UNIT)).ok()
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

/// What [`verify`] checks besides the DLedger structure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Entry bodies are RocketMQ messages (DLedger commitlog mode): check
    /// each strictly (CRCs, `PHYSICALOFFSET == pos + 48`, `size == TOTALSIZE + 48`).
    pub messages: bool,
}

/// Counts from [`verify`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Entries checked.
    pub entries: u64,
    /// Blanks checked.
    pub blanks: u64,
    /// Messages checked (commitlog mode).
    pub messages: u64,
    /// Problems reported.
    pub problems: u64,
}

struct Verifier<'r, F> {
    rec: &'r Recovered,
    opts: VerifyOptions,
    on_problem: F,
    stats: VerifyStats,
    prev: Option<(i64, i64, i32)>,
}

impl<F: FnMut(Problem)> Verifier<'_, F> {
    fn report(&mut self, p: Problem) {
        self.stats.problems += 1;
        (self.on_problem)(p);
    }

    fn data(&mut self, seg: SegmentId, at: u64, sev: Severity, text: String) {
        self.report(other(DATA, Some(seg), at, sev, text));
    }

    fn decode(&mut self, seg: SegmentId, e: DecodeError, sev: Severity) {
        self.report(problem(
            DATA,
            Some(seg),
            e.offset,
            sev,
            ProblemKind::Decode(e),
        ));
    }

    /// Strict checks of one entry at `abs` in file `seg`.
    fn entry<S: PageRead + ?Sized>(
        &mut self,
        store: &S,
        seg: SegmentId,
        abs: u64,
        rel: u64,
        e: &EntryView<'_>,
    ) -> Result<(), StoreError> {
        let rec = self.rec;
        self.stats.entries += 1;
        if e.pos != abs as i64 {
            let sev = match rec.line {
                Line::Classic => Severity::Error,
                // Master followers keep the leader's pos.
                Line::Master => Severity::Notice,
            };
            self.decode(
                seg,
                DecodeError::new(
                    abs,
                    crate::error::DecodeErrorKind::OffsetMismatch {
                        field: "pos",
                        stored: e.pos,
                        actual: abs as i64,
                    },
                ),
                sev,
            );
        }
        if rel + e.size as u64 + layout::MIN_BLANK_LEN > rec.geometry.data_file_size {
            self.data(
                seg,
                abs,
                Severity::Warning,
                String::from("entry ends within the last 8 bytes of its file (roll rule broken)"),
            );
        }
        match self.prev {
            Some((pi, pt, pc)) => {
                if e.index != pi.wrapping_add(1) {
                    self.data(
                        seg,
                        abs,
                        Severity::Error,
                        alloc::format!("index {} follows {pi}", e.index),
                    );
                }
                if e.term < pt {
                    self.data(
                        seg,
                        abs,
                        Severity::Error,
                        alloc::format!("term {} below the previous term {pt}", e.term),
                    );
                }
                if let Err(d) = dl::check_crcs(e, abs, Some(pc)) {
                    self.decode(seg, d, Severity::Warning);
                }
            }
            None => {
                if e.index != rec.begin_index {
                    self.data(
                        seg,
                        abs,
                        Severity::Warning,
                        alloc::format!(
                            "first entry has index {}, but the begin index is {}",
                            e.index,
                            rec.begin_index
                        ),
                    );
                }
                if let Err(d) = dl::check_crcs(e, abs, None) {
                    self.decode(seg, d, Severity::Warning);
                }
            }
        }
        self.prev = Some((e.index, e.term, e.chain_crc));
        self.index_of(store, abs, e)?;
        if self.opts.messages {
            self.message(seg, abs, e);
        }
        Ok(())
    }

    /// The index record of an entry must mirror it.
    fn index_of<S: PageRead + ?Sized>(
        &mut self,
        store: &S,
        abs: u64,
        e: &EntryView<'_>,
    ) -> Result<(), StoreError> {
        let rec = self.rec;
        if e.index < rec.begin_index || e.index > rec.end_index {
            return Ok(());
        }
        let rebuilt = rec.index_rebuild.is_some_and(|r| e.index >= r.from_index);
        let at = (e.index as u64).wrapping_mul(UNIT);
        let seg = find_file(&rec.index_files, at, rec.geometry.index_file_size).map(|(_, s)| s.id);
        // Inside the scan window Java repairs the index; before it, get() reads it as is.
        let sev = if rebuilt {
            Severity::Warning
        } else {
            Severity::Error
        };
        let want = IndexRecord::of(e);
        let want = IndexRecord {
            pos: abs as i64,
            ..want
        };
        match index_record(
            store,
            &rec.index_files,
            rec.geometry.index_file_size,
            e.index,
        )? {
            None => self.report(other(
                INDEX,
                seg,
                at,
                sev,
                alloc::format!("entry {} has no index record", e.index),
            )),
            Some(r) if r != want => self.report(other(
                INDEX,
                seg,
                at,
                sev,
                alloc::format!(
                    "index record of entry {} is {:?}, data says {:?}",
                    e.index,
                    r,
                    want
                ),
            )),
            Some(_) => {}
        }
        Ok(())
    }

    /// Commitlog mode: the body is one message at `abs + 48`.
    fn message(&mut self, seg: SegmentId, abs: u64, e: &EntryView<'_>) {
        let off = abs + HEADER_LEN as u64;
        match msg::decode(e.body, off, DecodeOptions::STRICT) {
            Ok(Record::Message(m)) => {
                self.stats.messages += 1;
                if i64::from(m.total_size) + HEADER_LEN as i64 != i64::from(e.size) {
                    self.data(
                        seg,
                        off,
                        Severity::Error,
                        alloc::format!(
                            "message TOTALSIZE {} + 48 differs from entry size {}",
                            m.total_size,
                            e.size
                        ),
                    );
                }
            }
            Ok(Record::Blank { .. }) => self.data(
                seg,
                off,
                Severity::Error,
                String::from("entry body is a commitlog blank, not a message"),
            ),
            Err(d) => self.decode(seg, d, Severity::Error),
        }
    }
}

/// Checks the whole store strictly and reports every [`Problem`] through
/// `on_problem` (the recovery's own findings in `rec.problems` included):
/// every entry (structure, non-zero CRCs, `pos`, index and term continuity),
/// every index record of `[begin, end]` against the data, the blanks, files
/// of the wrong size or out of sequence, bytes past the recovered end and
/// index or data files Java would delete.
pub fn verify<S: PageRead + ?Sized>(
    store: &S,
    rec: &Recovered,
    opts: &VerifyOptions,
    on_problem: impl FnMut(Problem),
) -> Result<VerifyStats, ScanError> {
    let mut v = Verifier {
        rec,
        opts: *opts,
        on_problem,
        stats: VerifyStats::default(),
        prev: None,
    };
    for p in &rec.problems {
        v.report(p.clone());
    }
    if let Some(rb) = rec.index_rebuild {
        v.report(other(
            INDEX,
            None,
            (rb.from_index as u64).wrapping_mul(UNIT),
            Severity::Warning,
            alloc::format!(
                "index disagrees with the data from entry {}: Java rewrites it from there",
                rb.from_index
            ),
        ));
    }
    report_stop(&mut v);
    let fs = rec.geometry.data_file_size;
    let end = rec.data_write_pos;
    for (n, seg) in rec.data_files.iter().enumerate() {
        let len = view_len(seg, fs);
        if seg.id == end {
            // Kept by Java with write position 0; the tail check below covers it.
            continue;
        }
        if seg.id > end {
            // Entirely past the recovered end: Java deletes it.
            let b = head(store, seg, 0, fs)?;
            if b.iter().any(|&x| x != 0) {
                v.data(
                    seg.id,
                    seg.id,
                    Severity::Notice,
                    String::from(
                        "data file lies past the recovered end: Java's recovery deletes it",
                    ),
                );
            }
            continue;
        }
        store.with_view(&DATA, seg.id, 0, len, |buf| {
            verify_file(store, &mut v, buf, *seg, n == 0)
        })??;
    }
    if let Some((_, seg)) = find_file(&rec.data_files, end, fs) {
        let rel = end - seg.id;
        let b = head(store, &seg, rel, fs)?;
        let b = &b[..b.len().min(8)];
        if b.iter().any(|&x| x != 0) && be::i32_at(b, 0) != Some(BLANK_MAGIC) {
            v.data(
                seg.id,
                end,
                Severity::Notice,
                String::from(
                    "bytes after the recovered end (torn or stale tail, discarded by Java)",
                ),
            );
        }
    }
    verify_index_files(store, &mut v)?;
    if rec.line == Line::Classic {
        match rec.checkpoint {
            None if rec.end_index >= 0 => v.report(other(
                DATA,
                None,
                0,
                Severity::Notice,
                String::from("no checkpoint: nothing counts as committed after recovery"),
            )),
            Some(c) if c.committed_index > rec.end_index => v.report(other(
                DATA,
                None,
                0,
                Severity::Notice,
                alloc::format!(
                    "checkpoint committedIndex {} beyond the end index {}: clamped",
                    c.committed_index,
                    rec.end_index
                ),
            )),
            _ => {}
        }
    }
    Ok(v.stats)
}

/// Where Java's recovery stopped, when that was not a clean end.
fn report_stop<F: FnMut(Problem)>(v: &mut Verifier<'_, F>) {
    let rec = v.rec;
    let stop = &rec.stop;
    if matches!(
        stop.reason,
        StopReason::ZeroSize | StopReason::EndOfLastFile | StopReason::NoDataFiles
    ) {
        return;
    }
    let last = rec.data_files.last().map(|s| s.id);
    let severity = if rec.end_index < 0 {
        Severity::Error
    } else if stop.segment == last {
        Severity::Notice
    } else {
        Severity::Warning
    };
    let what = if rec.end_index < 0 {
        "no entry is recoverable"
    } else {
        "recovery ends here, everything after is discarded"
    };
    v.report(other(
        DATA,
        stop.segment,
        stop.offset,
        severity,
        alloc::format!("{what}: {}", stop.reason),
    ));
}

fn verify_file<S: PageRead + ?Sized, F: FnMut(Problem)>(
    store: &S,
    v: &mut Verifier<'_, F>,
    buf: &[u8],
    seg: SegmentInfo,
    first: bool,
) -> Result<(), StoreError> {
    let rec = v.rec;
    let fs = rec.geometry.data_file_size;
    let end = rec.data_write_pos;
    let mut rel = 0u64;
    while rel < buf.len() as u64 {
        let abs = seg.id + rel;
        if abs >= end {
            return Ok(());
        }
        let r = rel as usize;
        match dl::decode(&buf[r..], abs, rec.line) {
            Ok(DataRecord::Blank { len }) => {
                v.stats.blanks += 1;
                let head_blank = first && rel == 0 && rec.line == Line::Master;
                if len < layout::MIN_BLANK_LEN as i32 || (rel + len as u64 != fs && !head_blank) {
                    v.data(
                        seg.id,
                        abs,
                        Severity::Error,
                        alloc::format!("blank of {len} bytes does not reach the file end at {fs}"),
                    );
                    return Ok(());
                }
                let stop = (rel + len as u64).min(buf.len() as u64) as usize;
                if buf[(r + 8).min(stop)..stop].iter().any(|&x| x != 0) {
                    v.data(
                        seg.id,
                        abs,
                        Severity::Warning,
                        String::from("blank filler holds non-zero bytes"),
                    );
                }
                if !head_blank {
                    return Ok(());
                }
                rel += len as u64;
            }
            Ok(DataRecord::Entry(e)) => {
                v.entry(store, seg.id, abs, rel, &e)?;
                rel += e.size as u64;
            }
            Err(d) => {
                v.decode(seg.id, d, Severity::Error);
                return Ok(());
            }
        }
    }
    Ok(())
}

fn verify_index_files<S: PageRead + ?Sized, F: FnMut(Problem)>(
    store: &S,
    v: &mut Verifier<'_, F>,
) -> Result<(), StoreError> {
    let rec = v.rec;
    let fs = rec.geometry.index_file_size;
    let begin_at = u64::try_from(rec.begin_index)
        .unwrap_or(0)
        .saturating_mul(UNIT);
    let end_at = if rec.end_index < 0 {
        0
    } else {
        rec.index_write_pos
    };
    for seg in &rec.index_files {
        let seg_end = seg.id.saturating_add(fs);
        if seg_end <= begin_at && rec.end_index >= 0 {
            v.report(other(
                INDEX,
                Some(seg.id),
                seg.id,
                Severity::Notice,
                String::from("index file lies below the begin index: Java deletes it"),
            ));
            continue;
        }
        let from = end_at.max(seg.id);
        if from >= seg_end {
            continue;
        }
        let rel = from - seg.id;
        if rel >= view_len(seg, fs) {
            continue;
        }
        let len = view_len(seg, fs) - rel;
        let stale = store.with_view(&INDEX, seg.id, rel, len, crate::scan::zeros::first_nonzero)?;
        if let Some(p) = stale {
            let at = from + p as u64;
            let text = if seg.id >= end_at {
                "index file lies past the end index: Java's recovery deletes it"
            } else {
                "stale index records after the end index (Java truncates them)"
            };
            v.report(other(
                INDEX,
                Some(seg.id),
                at,
                Severity::Notice,
                String::from(text),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// RocketMQ messages in DLedger entries (spec §8.3)
// ---------------------------------------------------------------------------

/// What [`walk_messages`] visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageItem<'a> {
    /// A message; `offset` is where its bytes start (entry pos + 48), the
    /// value of its PHYSICALOFFSET, consume-queue units and msgId.
    Message {
        /// Absolute offset of the message bytes.
        offset: u64,
        /// The message.
        message: MessageView<'a>,
    },
    /// A DLedger end-of-file blank (RocketMQ rolls to the next file).
    Blank(Blank),
    /// Where the walk had to stop before the committed position.
    Problem(Problem),
}

/// Where [`walk_messages`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageWalkEnd {
    /// RocketMQ's `getMaxOffset()`: the committed position, else the data's min offset, else 0.
    pub max_offset: u64,
    /// Where the walk ended (== `max_offset` when everything was read).
    pub end: u64,
    /// Messages visited.
    pub messages: u64,
}

/// Walks RocketMQ messages stored one per entry body, from the first data file
/// to RocketMQ's `getMaxOffset()` (DLedger's committed position, restored from
/// the checkpoint), the way the reput service reads them: a DLedger blank
/// rolls to the next file, anything else is a message at `p + 48`, advanced by
/// `TOTALSIZE + 48`. An old-format record (its magic where DLedger keeps the
/// size) is read in place. Decoding is lenient like the reput service (no CRC
/// check; [`verify`] with [`VerifyOptions::messages`] checks strictly).
pub fn walk_messages<S: PageRead + ?Sized>(
    store: &S,
    rec: &Recovered,
    mut f: impl FnMut(MessageItem<'_>) -> ControlFlow<()>,
) -> Result<MessageWalkEnd, ScanError> {
    let fs = rec.geometry.data_file_size;
    let min = rec.data_files.first().map_or(0, |s| s.id);
    let max = match rec.committed_pos {
        p if p > 0 => p as u64,
        _ => min,
    };
    let mut out = MessageWalkEnd {
        max_offset: max,
        end: min,
        messages: 0,
    };
    let mut p = min;
    while p < max {
        out.end = p;
        let Some((_, seg)) = find_file(&rec.data_files, p, fs) else {
            let _ = f(MessageItem::Problem(other(
                DATA,
                None,
                p,
                Severity::Error,
                String::from("no data file holds this offset"),
            )));
            return Ok(out);
        };
        let rel = p - seg.id;
        // getData(offset) is cut at the committed position.
        let readable = view_len(&seg, fs).min(max - seg.id);
        if rel >= readable {
            let _ = f(MessageItem::Problem(other(
                DATA,
                Some(seg.id),
                p,
                Severity::Error,
                String::from("offset lies past the end of its (short) data file"),
            )));
            return Ok(out);
        }
        let len = readable - rel;
        let next = store.with_view(&DATA, seg.id, rel, len, |buf| {
            message_step(buf, p, fs, &mut f, &mut out.messages)
        })?;
        match next {
            Step::Next(n) => p = n,
            Step::Stop => return Ok(out),
        }
    }
    out.end = p;
    Ok(out)
}

enum Step {
    Next(u64),
    Stop,
}

fn message_step(
    buf: &[u8],
    p: u64,
    fs: u64,
    f: &mut impl FnMut(MessageItem<'_>) -> ControlFlow<()>,
    count: &mut u64,
) -> Step {
    let fail = |f: &mut dyn FnMut(MessageItem<'_>) -> ControlFlow<()>, p: Problem| {
        let _ = f(MessageItem::Problem(p));
        Step::Stop
    };
    let (Some(first), Some(second)) = (be::i32_at(buf, 0), be::i32_at(buf, 4)) else {
        let p = other(
            DATA,
            None,
            p,
            Severity::Error,
            String::from("record header cut by the committed position or the file end"),
        );
        return fail(f, p);
    };
    let old_format = matches!(second, msg::MAGIC_V1 | msg::MAGIC_V2 | msg::BLANK_MAGIC);
    if !old_format && first == BLANK_MAGIC {
        let next = layout::roll_next_file(p, fs).unwrap_or(u64::MAX);
        return match f(MessageItem::Blank(Blank {
            pos: p,
            size: second,
            next_entry_pos: next,
        })) {
            ControlFlow::Break(()) => Step::Stop,
            ControlFlow::Continue(()) => Step::Next(next),
        };
    }
    let skip = if old_format { 0 } else { HEADER_LEN };
    let Some(body) = buf.get(skip..) else {
        let p = other(
            DATA,
            None,
            p,
            Severity::Error,
            String::from("entry header cut by the committed position or the file end"),
        );
        return fail(f, p);
    };
    let at = p + skip as u64;
    match msg::decode(body, at, DecodeOptions::LENIENT) {
        Ok(Record::Message(m)) => {
            *count += 1;
            let next = at + m.total_size as u64;
            match f(MessageItem::Message {
                offset: at,
                message: m,
            }) {
                ControlFlow::Break(()) => Step::Stop,
                ControlFlow::Continue(()) => Step::Next(next),
            }
        }
        Ok(Record::Blank { .. }) if old_format => {
            Step::Next(layout::roll_next_file(p, fs).unwrap_or(u64::MAX))
        }
        Ok(Record::Blank { .. }) => {
            let p = other(
                DATA,
                None,
                at,
                Severity::Error,
                String::from("entry body is a commitlog blank"),
            );
            fail(f, p)
        }
        Err(d) => fail(
            f,
            problem(
                DATA,
                None,
                d.offset,
                Severity::Error,
                ProblemKind::Decode(d),
            ),
        ),
    }
}
