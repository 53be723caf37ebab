//! The plain RocketMQ CommitLog walk, ending exactly where the Java
//! reference's `DefaultMessageStore.load()` ends.
//!
//! Java's load runs, in this order (see `DefaultMessageStore.load/recover`):
//!
//! 1. consume queues are loaded and each recovered ([`ConsumeQueues::load`]);
//!    `dispatchFromPhyOffset` is the largest `maxPhysicOffset` of any queue;
//! 2. the checkpoint and the index files are loaded ([`IndexService::load`],
//!    which drops unflushed index files after an unclean shutdown);
//! 3. the CommitLog is recovered: a start file is chosen (normal recovery:
//!    the last file whose first message has PHYSICALOFFSET ≤ dispatchFrom;
//!    abnormal: the last whose first message is older than the checkpoint's
//!    min timestamp), records are checked from there with
//!    `checkMessageAndReturnSize` (body CRC on), and every record that the
//!    queues or the index lack is re-dispatched to them; the first record that
//!    fails ends the log (`processOffset`);
//! 4. consume queues are truncated at that end and their min offsets
//!    corrected against the commitlog's first file.
//!
//! [`recover`] reproduces all four steps and returns the result. [`walk`] then
//! visits every record from the min offset to the end, one segment view at a
//! time (no whole-segment copies over hosts that lend their bytes), and
//! [`verify`] does the same with strict checks and reports every problem.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;

use crate::codec::checkpoint::StoreCheckpoint;
use crate::codec::consume_queue::CqUnit;
use crate::codec::message::{
    self, DecodeOptions, MessageView, PropCrcCheck, Record, SCHEDULE_TOPIC, SysFlag,
};
use crate::codec::properties::{self, keys};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::scan::consume_queue::{self, Confirmed, ConsumeQueues, UnitWindow};
use crate::scan::index::{self, IndexService};
use crate::scan::{Problem, ProblemKind, Severity};
use crate::store::{LogId, MetaFile, PageRead, SegmentId, SegmentInfo, StoreError};

/// Which recovery Java runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Abnormal if the `abort` marker exists, else normal (what Java does).
    #[default]
    Auto,
    /// `recoverNormally` regardless of the marker.
    Normal,
    /// `recoverAbnormally` regardless of the marker.
    Abnormal,
}

/// How to read a plain RocketMQ store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `mappedFileSizeCommitLog`; inferred from the segment lengths when `None`.
    pub file_size: Option<u64>,
    /// `checkCRCOnRecover` (default true): recovery checks body CRCs.
    pub check_crc_on_recover: bool,
    /// Normal or abnormal recovery.
    pub recovery: RecoveryMode,
    /// `messageIndexEnable` (default true).
    pub message_index_enable: bool,
    /// `messageIndexSafe` (default false): the start file's first message must
    /// also be older than the checkpoint's `indexMsgTimestamp`.
    pub message_index_safe: bool,
    /// Consume-queue settings.
    pub consume_queue: consume_queue::Config,
    /// Index settings.
    pub index: index::Config,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            file_size: None,
            check_crc_on_recover: true,
            recovery: RecoveryMode::Auto,
            message_index_enable: true,
            message_index_safe: false,
            consume_queue: consume_queue::Config::default(),
            index: index::Config::default(),
        }
    }
}

/// What `checkMessageAndReturnSize` extracts from a record for the consume
/// queues and the index (Java's `DispatchRequest`), owned so that it can come
/// from any log (plain CommitLog or DLedger entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRequest {
    /// The PHYSICALOFFSET field as stored (Java dispatches this, not the position).
    pub commit_log_offset: i64,
    /// TOTALSIZE.
    pub size: i32,
    /// Tags code as `checkMessageAndReturnSize` computes it.
    pub tags_code: i64,
    /// Topic (decoded like Java's `new String(bytes, UTF_8)`).
    pub topic: String,
    /// QUEUEID.
    pub queue_id: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// SYSFLAG.
    pub sys_flag: i32,
    /// STORETIMESTAMP.
    pub store_timestamp: i64,
    /// The KEYS property (space-separated), if any.
    pub keys: Option<String>,
    /// The UNIQ_KEY property, if any.
    pub uniq_key: Option<String>,
}

impl DispatchRequest {
    /// Builds the request Java would build for this record.
    pub fn from_view(v: &MessageView<'_>) -> Self {
        let prop = |k: &str| properties::get(v.properties, k).map(properties::lossy);
        Self {
            commit_log_offset: v.physical_offset,
            size: v.total_size,
            tags_code: v.tags_code(),
            topic: properties::lossy(v.topic),
            queue_id: v.queue_id,
            queue_offset: v.queue_offset,
            sys_flag: v.sys_flag.0,
            store_timestamp: v.store_timestamp,
            keys: prop(keys::KEYS),
            uniq_key: prop(keys::UNIQ_KEY),
        }
    }

    /// Transaction type NOT or COMMIT: the only ones that reach a consume queue.
    pub fn goes_to_consume_queue(&self) -> bool {
        matches!(
            SysFlag(self.sys_flag).transaction(),
            SysFlag::TRANSACTION_NOT | SysFlag::TRANSACTION_COMMIT
        )
    }
}

/// Why the recovery scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// There are no commitlog files.
    NoFiles,
    /// A BLANK in the last file: nothing follows.
    BlankInLastFile,
    /// The last file was fully used (no BLANK, no room left).
    EndOfFiles,
    /// The record at the stop offset is not one Java accepts (zeros, a torn
    /// tail, a CRC mismatch, garbage ...).
    Rejected(DecodeError),
}

/// Where and why the recovery scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Absolute offset (= the recovered end).
    pub offset: u64,
    /// Why.
    pub reason: StopReason,
}

/// The CommitLog after Java's load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// File size used (configured or inferred).
    pub file_size: u64,
    /// The commitlog files Java loads, in order (a zero-length last file is
    /// left out: Java deletes it).
    pub files: Vec<SegmentInfo>,
    /// `getMinOffset()`: start of the first file (0 without files).
    pub min_offset: u64,
    /// `getMaxOffset()` after recovery (`processOffset`).
    pub end: u64,
    /// Whether normal recovery ran (else abnormal).
    pub normal: bool,
    /// The file the recovery scan started in.
    pub recovery_start: SegmentId,
    /// `dispatchFromPhyOffset`: the largest consume-queue `maxPhysicOffset` (-1 if none).
    pub dispatch_from: i64,
    /// Start of the last valid record (Java's confirm offset in plain mode).
    pub last_record: Option<u64>,
    /// Where and why the scan stopped.
    pub stop: Stop,
    /// Files entirely past the end, which Java deletes.
    pub files_past_end: Vec<SegmentId>,
    /// Records dispatched to the consume queues and the index during recovery.
    pub redispatched: u64,
}

/// Everything Java has after `load()`.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The CommitLog.
    pub summary: Summary,
    /// The consume queues.
    pub queues: ConsumeQueues,
    /// The index files.
    pub index: IndexService,
    /// The checkpoint as read (zeros when missing, as Java creates it).
    pub checkpoint: StoreCheckpoint,
    /// Problems noticed on the way.
    pub problems: Vec<Problem>,
}

/// A record visited by [`walk`].
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A message at absolute `offset`.
    Message {
        /// Where the record starts.
        offset: u64,
        /// The decoded record.
        view: MessageView<'a>,
    },
    /// An end-of-file BLANK at `offset`; the walk continues with the next file.
    Blank {
        /// Where the BLANK header starts.
        offset: u64,
        /// Its TOTALSIZE.
        total_size: i32,
    },
}

/// How [`walk`] reads records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkOptions {
    /// Checks applied to every record. A record failing only the extra checks
    /// of this over [`DecodeOptions::LENIENT`] is reported and still visited.
    pub decode: DecodeOptions,
}

impl Default for WalkOptions {
    fn default() -> Self {
        Self {
            decode: DecodeOptions::JAVA_RECOVERY,
        }
    }
}

impl WalkOptions {
    /// Every check (`DecodeOptions::STRICT`).
    pub const STRICT: Self = Self {
        decode: DecodeOptions::STRICT,
    };
}

/// What [`walk`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkReport {
    /// Messages visited.
    pub messages: u64,
    /// BLANKs visited.
    pub blanks: u64,
    /// Records that failed a check, and unreadable stretches.
    pub problems: Vec<Problem>,
    /// The visitor asked to stop.
    pub stopped_by_visitor: bool,
}

fn problem(segment: Option<u64>, offset: u64, severity: Severity, kind: ProblemKind) -> Problem {
    Problem {
        log: LogId::CommitLog,
        segment,
        offset,
        severity,
        kind,
    }
}

fn other(segment: Option<u64>, offset: u64, severity: Severity, text: String) -> Problem {
    problem(segment, offset, severity, ProblemKind::Other(text))
}

/// Java `Integer.parseInt` on ASCII text (sign, then at least one digit, in range).
fn java_parse_int(v: &[u8]) -> Option<i32> {
    core::str::from_utf8(v).ok()?.parse::<i32>().ok()
}

/// Checks a record the way `checkMessageAndReturnSize(checkCRC)` does:
/// `Ok(Record)` exactly when Java reports success.
///
/// Beyond [`message::decode`] this applies two Java rules: a BLANK whose
/// TOTALSIZE exceeds the bytes left fails, and a delayed message whose DELAY
/// property is not an integer fails (Java's `Integer.parseInt` throws).
pub fn check_record(buf: &[u8], offset: u64, check_crc: bool) -> Result<Record<'_>, DecodeError> {
    let opts = DecodeOptions {
        check_body_crc: check_crc,
        prop_crc: PropCrcCheck::Ignore,
        check_physical_offset: false,
    };
    let rec = message::decode(buf, offset, opts)?;
    match rec {
        Record::Blank { total_size } => {
            // Java: `remaining < totalSize - 4` fails before the magic is read.
            if i64::from(total_size) > buf.len() as i64 {
                return Err(DecodeError::new(
                    offset,
                    DecodeErrorKind::Truncated {
                        needed: (i64::from(total_size) - buf.len() as i64) as u64,
                    },
                ));
            }
        }
        Record::Message(v) => {
            if v.topic == SCHEDULE_TOPIC
                && let Some(level) = properties::get(v.properties, keys::DELAY)
                && java_parse_int(level).is_none()
            {
                return Err(DecodeError::new(
                    offset,
                    DecodeErrorKind::BadText {
                        what: "DELAY property (not an integer)",
                    },
                ));
            }
        }
    }
    Ok(rec)
}

/// The checkpoint as Java reads it: a missing or short file reads as zeros.
pub fn read_checkpoint<S: PageRead>(
    store: &S,
    problems: &mut Vec<Problem>,
) -> Result<StoreCheckpoint, StoreError> {
    let mut b = [0u8; 40];
    match store.read_meta(MetaFile::StoreCheckpoint)? {
        Some(raw) => {
            let n = raw.len().min(b.len());
            b[..n].copy_from_slice(&raw[..n]);
            if raw.len() < 40 {
                problems.push(other(
                    None,
                    0,
                    Severity::Warning,
                    alloc::format!(
                        "checkpoint is {} bytes, shorter than 40: missing fields read as 0",
                        raw.len()
                    ),
                ));
            }
        }
        None => problems.push(other(
            None,
            0,
            Severity::Notice,
            String::from("no checkpoint file: Java creates one of zeros"),
        )),
    }
    // 40 bytes are always enough for `decode`.
    Ok(StoreCheckpoint::decode(&b).unwrap_or_default())
}

/// The most common segment length (ties: the larger), ignoring empty segments.
pub fn infer_file_size(segs: &[SegmentInfo]) -> Option<u64> {
    let mut lens: Vec<u64> = segs.iter().map(|s| s.len).filter(|&l| l > 0).collect();
    lens.sort_unstable();
    let mut best: Option<(usize, u64)> = None;
    let mut i = 0;
    while i < lens.len() {
        let mut j = i;
        while j < lens.len() && lens[j] == lens[i] {
            j += 1;
        }
        if best.is_none_or(|(n, _)| j - i >= n) {
            best = Some((j - i, lens[i]));
        }
        i = j;
    }
    best.map(|(_, l)| l)
}

/// The files Java's `MappedFileQueue.load` keeps, the file size, and the
/// problems it would have with them (wrong sizes make Java refuse to start).
pub fn load_files<S: PageRead>(
    store: &S,
    log: &LogId,
    configured: Option<u64>,
    problems: &mut Vec<Problem>,
) -> Result<(Vec<SegmentInfo>, u64), StoreError> {
    let mut files = store.segments(log)?;
    // Offsets are Java longs: a file named so that it ends past i64::MAX
    // (or past u64::MAX) has no offsets; skip it so no `id + position` sum
    // downstream can overflow.
    files.retain(|f| {
        let end = f.id.checked_add(f.len);
        let fits = end.is_some_and(|e| e <= i64::MAX as u64);
        if !fits {
            problems.push(Problem {
                log: log.clone(),
                segment: Some(f.id),
                offset: f.id,
                severity: Severity::Error,
                kind: ProblemKind::Other(alloc::format!(
                    "file of {} bytes would end past the largest offset {}; skipped",
                    f.len,
                    i64::MAX
                )),
            });
        }
        fits
    });
    let file_size = configured.or_else(|| infer_file_size(&files)).unwrap_or(0);
    // Java deletes a zero-length last file on load.
    if files.last().is_some_and(|l| l.len == 0)
        && let Some(l) = files.pop()
    {
        problems.push(Problem {
            log: log.clone(),
            segment: Some(l.id),
            offset: l.id,
            severity: Severity::Notice,
            kind: ProblemKind::Other(String::from("empty last file: Java deletes it on load")),
        });
    }
    let mut prev: Option<SegmentInfo> = None;
    let mut kept = Vec::with_capacity(files.len());
    for f in &files {
        // A file starting inside the previous one (whatever its size) would
        // make every walk go back in the log: Java's offset arithmetic
        // cannot address it either. It is reported and skipped.
        if let Some(p) = prev
            && f.id < p.id.saturating_add(p.len)
        {
            problems.push(Problem {
                log: log.clone(),
                segment: Some(f.id),
                offset: f.id,
                severity: Severity::Error,
                kind: ProblemKind::Other(alloc::format!(
                    "overlaps the previous file ({} bytes from {}); skipped",
                    p.len,
                    p.id
                )),
            });
            continue;
        }
        kept.push(*f);
        let mut push = |severity, text: String| {
            problems.push(Problem {
                log: log.clone(),
                segment: Some(f.id),
                offset: f.id,
                severity,
                kind: ProblemKind::Other(text),
            })
        };
        if f.len != file_size {
            push(
                Severity::Error,
                alloc::format!(
                    "file is {} bytes, not the file size {file_size}: Java's load() refuses the store",
                    f.len
                ),
            );
        }
        if file_size > 0 && f.id % file_size != 0 {
            push(
                Severity::Warning,
                alloc::format!("file name is not a multiple of the file size {file_size}"),
            );
        }
        if let Some(p) = prev
            && p.id.checked_add(file_size) != Some(f.id)
        {
            push(
                Severity::Warning,
                alloc::format!(
                    "gap or overlap: previous file starts at {}, so this one should start at {}",
                    p.id,
                    p.id.saturating_add(file_size)
                ),
            );
        }
        prev = Some(*f);
    }
    Ok((kept, file_size))
}

/// Java's `isMappedFileMatchedRecover` for the first record of a file.
fn file_matches<S: PageRead>(
    store: &S,
    f: &SegmentInfo,
    cfg: &Config,
    normal: bool,
    dispatch_from: i64,
    ckpt: &StoreCheckpoint,
) -> Result<bool, StoreError> {
    // View only the first record: its TOTALSIZE when it fits the file, else
    // 8 bytes (enough for `check_record` to reject it as Java does).
    let mut head = [0u8; 4];
    if f.len < 8 {
        return Ok(false);
    }
    store.read(&LogId::CommitLog, f.id, 0, &mut head)?;
    let total = u64::from(u32::from_be_bytes(head));
    let n = if (8..=f.len).contains(&total) {
        total
    } else {
        8
    };
    store.with_view(&LogId::CommitLog, f.id, 0, n, |buf| {
        let Ok(Record::Message(v)) = check_record(buf, f.id, cfg.check_crc_on_recover) else {
            // A BLANK first record has store timestamp 0: not a match either.
            return false;
        };
        let ts = v.store_timestamp;
        if ts == 0 {
            return false;
        }
        if cfg.message_index_enable && cfg.message_index_safe && ts > ckpt.index_msg_timestamp {
            return false;
        }
        if normal {
            v.physical_offset <= dispatch_from
        } else {
            ts <= ckpt.min_timestamp()
        }
    })
}

/// Runs Java's whole `load()` on a plain RocketMQ store: consume queues,
/// checkpoint, index, CommitLog recovery with re-dispatch, then the consume
/// queue truncation and min-offset correction.
pub fn recover<S: PageRead>(store: &S, cfg: &Config) -> Result<Recovered, StoreError> {
    let mut problems = Vec::new();
    let normal = match cfg.recovery {
        RecoveryMode::Auto => store.read_meta(MetaFile::Abort)?.is_none(),
        RecoveryMode::Normal => true,
        RecoveryMode::Abnormal => false,
    };
    let (files, file_size) = load_files(store, &LogId::CommitLog, cfg.file_size, &mut problems)?;
    let mut queues = ConsumeQueues::load(store, &cfg.consume_queue)?;
    let checkpoint = read_checkpoint(store, &mut problems)?;
    let mut index = IndexService::load(store, &cfg.index, normal, &checkpoint)?;
    let dispatch_from = queues.max_physic_offset();

    let min_offset = files.first().map_or(0, |f| f.id);
    let mut summary = Summary {
        file_size,
        files: files.clone(),
        min_offset,
        end: 0,
        normal,
        recovery_start: min_offset,
        dispatch_from,
        last_record: None,
        stop: Stop {
            offset: 0,
            reason: StopReason::NoFiles,
        },
        files_past_end: Vec::new(),
        redispatched: 0,
    };
    if files.is_empty() {
        // Java: "The commitlog files are deleted, and delete the consume queue files".
        queues.destroy();
        problems.extend(queues.take_problems());
        problems.extend(index.take_problems());
        return Ok(Recovered {
            summary,
            queues,
            index,
            checkpoint,
            problems,
        });
    }

    // The start file: from the last one backwards (normal recovery never
    // tests file 0; it is the fallback of both).
    let lowest = usize::from(normal);
    let mut start = 0;
    for i in (lowest..files.len()).rev() {
        if file_matches(store, &files[i], cfg, normal, dispatch_from, &checkpoint)? {
            start = i;
            break;
        }
    }
    summary.recovery_start = files[start].id;

    let mut i = start;
    let (end, reason) = loop {
        let f = files[i];
        // (position in file, stop) of this file's scan.
        let step = store.with_view(&LogId::CommitLog, f.id, 0, f.len, |buf| {
            let mut pos = 0usize;
            loop {
                let at = f.id + pos as u64;
                match check_record(&buf[pos..], at, cfg.check_crc_on_recover) {
                    Ok(Record::Message(v)) => {
                        summary.last_record = Some(at);
                        let dispatch = !normal || v.physical_offset > dispatch_from;
                        if dispatch {
                            let req = DispatchRequest::from_view(&v);
                            summary.redispatched += 1;
                            queues.dispatch(&req);
                            if cfg.message_index_enable {
                                index.build(store, &req)?;
                            }
                        }
                        // TOTALSIZE >= 91 here, and the record fits in `buf`.
                        pos += v.total_size as usize;
                    }
                    Ok(Record::Blank { .. }) => return Ok((pos, None)),
                    Err(e) => return Ok((pos, Some(e))),
                }
            }
        })??;
        match step {
            (pos, Some(e)) => break (f.id + pos as u64, StopReason::Rejected(e)),
            (pos, None) => {
                i += 1;
                if i >= files.len() {
                    break (f.id + pos as u64, StopReason::BlankInLastFile);
                }
            }
        }
    };
    summary.end = end;
    summary.stop = Stop {
        offset: end,
        reason,
    };
    if let StopReason::Rejected(e) = &summary.stop.reason {
        let seg = files.iter().rev().find(|f| f.id <= end).map(|f| f.id);
        let at_file_end = seg.is_some_and(|s| end >= s.saturating_add(file_size));
        if at_file_end {
            summary.stop.reason = StopReason::EndOfFiles;
        } else if !is_zero_header(store, &files, end)? {
            let severity = if e.is_truncated() {
                Severity::Notice
            } else {
                Severity::Warning
            };
            problems.push(problem(
                seg,
                end,
                severity,
                ProblemKind::Other(alloc::format!(
                    "recovery stops here and Java truncates the commitlog: {}",
                    e.kind
                )),
            ));
        }
    }
    for f in &files {
        if f.id > end {
            summary.files_past_end.push(f.id);
        }
    }

    queues.truncate_dirty(store, end as i64)?;
    queues.correct_min_offset(store, min_offset as i64)?;
    problems.extend(queues.take_problems());
    problems.extend(index.take_problems());
    Ok(Recovered {
        summary,
        queues,
        index,
        checkpoint,
        problems,
    })
}

/// True when the 8 bytes at `offset` are zero or absent (never-written space).
fn is_zero_header<S: PageRead>(
    store: &S,
    files: &[SegmentInfo],
    offset: u64,
) -> Result<bool, StoreError> {
    let Some(f) = files.iter().rev().find(|f| f.id <= offset) else {
        return Ok(true);
    };
    let pos = offset - f.id;
    let n = f.len.saturating_sub(pos).min(8);
    store.with_view(&LogId::CommitLog, f.id, pos.min(f.len), n, |b| {
        b.iter().all(|&x| x == 0)
    })
}

/// Visits every record from the min offset to the recovered end, in log
/// order: messages, then a [`Item::Blank`] at the end of each full file.
///
/// Records before the recovery start file are not checked by Java's recovery;
/// one that cannot be read is reported and the walk resumes at the next file.
/// Each segment is read through one [`PageRead::with_view`] call, limited to
/// the bytes below the end.
pub fn walk<S: PageRead>(
    store: &S,
    summary: &Summary,
    opts: WalkOptions,
    mut visit: impl FnMut(Item<'_>) -> ControlFlow<()>,
) -> Result<WalkReport, StoreError> {
    let mut report = WalkReport::default();
    for f in &summary.files {
        if f.id >= summary.end {
            break;
        }
        let len = f.len.min(summary.end - f.id);
        let stopped = store.with_view(&LogId::CommitLog, f.id, 0, len, |buf| {
            walk_file(f.id, buf, opts, &mut report, &mut visit)
        })?;
        if stopped {
            report.stopped_by_visitor = true;
            break;
        }
    }
    Ok(report)
}

/// Where [`check_stretch`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StretchEnd {
    /// The first record start at or past `to` (or where the records ended).
    pub next: usize,
    /// The segment's records ended at `next` (a BLANK, a record that cannot
    /// be framed, or the end of the bytes): [`walk`] goes on with the next file.
    pub end_of_records: bool,
}

/// The problems [`walk`] reports for one stretch of a segment, without
/// visiting: the records starting at `from` (a record boundary of the walk)
/// are checked with `opts` until one starts at or past `to`, or the segment's
/// records end (a BLANK, or a record that cannot be framed). `buf` is the
/// segment's bytes from its first byte, cut at the end as [`walk`] cuts it.
///
/// Problems are the ones [`walk`] would report for the same records, in the
/// same order, so a host may check stretches of a segment (and different
/// segments) in parallel and concatenate the results in log order, as long as
/// each stretch starts where the previous one's [`StretchEnd::next`] is (the
/// first starts at 0). [`record_candidate`] guesses such starts.
pub fn check_stretch(
    seg: u64,
    buf: &[u8],
    from: usize,
    to: usize,
    opts: WalkOptions,
    problems: &mut Vec<Problem>,
) -> StretchEnd {
    check_stretch_items(seg, buf, from, to, opts, problems, |_| {})
}

/// [`check_stretch`], also handing every record [`walk`] would visit in the
/// stretch to `items`, in order (the BLANK that ends a file included).
pub fn check_stretch_items<'a>(
    seg: u64,
    buf: &'a [u8],
    from: usize,
    to: usize,
    opts: WalkOptions,
    problems: &mut Vec<Problem>,
    mut items: impl FnMut(Item<'a>),
) -> StretchEnd {
    let mut pos = from;
    while pos < to {
        if pos >= buf.len() {
            break;
        }
        let at = seg + pos as u64;
        let rec = match message::decode(&buf[pos..], at, opts.decode) {
            Ok(r) => r,
            Err(strict) => {
                problems.push(problem(
                    Some(seg),
                    at,
                    Severity::Error,
                    ProblemKind::Decode(strict),
                ));
                match message::decode(&buf[pos..], at, DecodeOptions::LENIENT) {
                    Ok(r) => r,
                    Err(_) => {
                        return StretchEnd {
                            next: pos,
                            end_of_records: true,
                        };
                    }
                }
            }
        };
        match rec {
            Record::Message(view) => {
                // TOTALSIZE >= the minimum record length here, and the record fits.
                pos += view.total_size as usize;
                items(Item::Message { offset: at, view });
            }
            Record::Blank { total_size } => {
                items(Item::Blank {
                    offset: at,
                    total_size,
                });
                return StretchEnd {
                    next: pos,
                    end_of_records: true,
                };
            }
        }
    }
    StretchEnd {
        next: pos,
        end_of_records: pos >= buf.len(),
    }
}

/// The first position in `buf[from..to)` that looks like the start of a
/// message of segment `seg`: a message magic at +4 and a stored
/// PHYSICALOFFSET equal to the position's absolute offset. Only a guess (a
/// body may contain such bytes): a host using it as a stretch start for
/// [`check_stretch`] must check that the previous stretch ended exactly there.
pub fn record_candidate(seg: u64, buf: &[u8], from: usize, to: usize) -> Option<usize> {
    let to = to.min(buf.len());
    let mut p = from;
    while p < to {
        let head = buf.get(p..p + message::PHYSICAL_OFFSET_POS + 8)?;
        let magic = crate::be::i32_at(head, 4).unwrap_or(0);
        if (magic == message::MAGIC_V1 || magic == message::MAGIC_V2)
            && crate::be::i64_at(head, message::PHYSICAL_OFFSET_POS)
                .is_some_and(|o| o as u64 == seg.wrapping_add(p as u64))
        {
            return Some(p);
        }
        p += 1;
    }
    None
}

/// Walks one file's bytes (already cut at the end); true if the visitor stopped.
fn walk_file(
    seg: u64,
    buf: &[u8],
    opts: WalkOptions,
    report: &mut WalkReport,
    visit: &mut impl FnMut(Item<'_>) -> ControlFlow<()>,
) -> bool {
    let mut pos = 0usize;
    while pos < buf.len() {
        let at = seg + pos as u64;
        let rec = match message::decode(&buf[pos..], at, opts.decode) {
            Ok(r) => r,
            Err(strict) => {
                report.problems.push(problem(
                    Some(seg),
                    at,
                    Severity::Error,
                    ProblemKind::Decode(strict),
                ));
                // Keep going past records whose structure is sound; otherwise
                // the rest of this file cannot be framed: go to the next one.
                match message::decode(&buf[pos..], at, DecodeOptions::LENIENT) {
                    Ok(r) => r,
                    Err(_) => return false,
                }
            }
        };
        match rec {
            Record::Message(view) => {
                report.messages += 1;
                pos += view.total_size as usize;
                if visit(Item::Message { offset: at, view }).is_break() {
                    return true;
                }
            }
            Record::Blank { total_size } => {
                report.blanks += 1;
                return visit(Item::Blank {
                    offset: at,
                    total_size,
                })
                .is_break();
            }
        }
    }
    false
}

/// Reads the record at absolute `offset` (e.g. from a consume-queue unit or an
/// index hit) and hands it to `f`. `Ok(None)` when no loaded file holds the
/// offset or it is not below the end.
pub fn read_at<S: PageRead, R>(
    store: &S,
    summary: &Summary,
    offset: u64,
    opts: DecodeOptions,
    f: impl FnOnce(Result<Record<'_>, DecodeError>) -> R,
) -> Result<Option<R>, StoreError> {
    if offset < summary.min_offset || offset >= summary.end {
        return Ok(None);
    }
    let Some(seg) = summary.files.iter().rev().find(|s| s.id <= offset) else {
        return Ok(None);
    };
    let pos = offset - seg.id;
    if pos >= seg.len {
        return Ok(None);
    }
    let len = seg.len.min(summary.end - seg.id) - pos;
    store
        .with_view(&LogId::CommitLog, seg.id, pos, len, |b| {
            f(message::decode(b, offset, opts))
        })
        .map(Some)
}

/// The facts of the message starting at `offset` (`None` when none starts
/// there): the lookup [`ConsumeQueues::verify`] needs for a plain commitlog.
pub fn record_facts<S: PageRead>(
    store: &S,
    summary: &Summary,
    offset: i64,
) -> Result<Option<consume_queue::RecordFacts>, StoreError> {
    let Ok(offset) = u64::try_from(offset) else {
        return Ok(None);
    };
    let facts = read_at(
        store,
        summary,
        offset,
        DecodeOptions::LENIENT,
        |r| match r {
            Ok(Record::Message(v)) => Some(consume_queue::RecordFacts {
                size: v.total_size,
                tags_code: v.tags_code(),
                topic: properties::lossy(v.topic),
                queue_id: v.queue_id,
                queue_offset: v.queue_offset,
            }),
            _ => None,
        },
    )?;
    Ok(facts.flatten())
}

/// Verifies a plain store: runs [`recover`], walks every record with
/// [`DecodeOptions::STRICT`] (body CRC, `__CRC32#` when present, stored
/// PHYSICALOFFSET), checks what lies past the end, checks every
/// consume-queue unit against the record it points at, and checks every
/// index file ([`index::verify`]). Returns the recovery
/// result and all problems (load problems first, then in log order).
pub fn verify<S: PageRead>(
    store: &S,
    cfg: &Config,
) -> Result<(Recovered, Vec<Problem>), StoreError> {
    verify_visiting(store, cfg, |_, _, _| {})
}

/// [`verify`] in one walk: every message that goes to a consume queue has its
/// unit (at its QUEUEOFFSET) looked up as the strict walk passes it, and is
/// handed to `visit` with that unit (`Ok(None)`: no queue or no unit there).
/// Units found pointing back at their record are not looked up again by the
/// consume-queue check.
pub fn verify_visiting<S: PageRead>(
    store: &S,
    cfg: &Config,
    visit: impl FnMut(u64, &MessageView<'_>, &Result<Option<CqUnit>, StoreError>),
) -> Result<(Recovered, Vec<Problem>), StoreError> {
    verify_walking(store, cfg, |s, o, v| walk(store, s, o, v), visit)
}

/// A record visitor handed to a [`Walker`].
pub type WalkVisitor<'v> = dyn FnMut(Item<'_>) -> ControlFlow<()> + 'v;

/// Something that walks like [`walk`] over the store being verified: same
/// items in the same order, same report (a host may check in parallel).
pub trait Walker:
    FnOnce(&Summary, WalkOptions, &mut WalkVisitor<'_>) -> Result<WalkReport, StoreError>
{
}

impl<F> Walker for F where
    F: FnOnce(&Summary, WalkOptions, &mut WalkVisitor<'_>) -> Result<WalkReport, StoreError>
{
}

/// [`verify_visiting`] with the strict walk done by `walker`, which must
/// report exactly what [`walk`] reports (e.g. a parallel walk built on
/// [`check_stretch`]).
pub fn verify_walking<S: PageRead>(
    store: &S,
    cfg: &Config,
    walker: impl Walker,
    visit: impl FnMut(u64, &MessageView<'_>, &Result<Option<CqUnit>, StoreError>),
) -> Result<(Recovered, Vec<Problem>), StoreError> {
    let rec = recover(store, cfg)?;
    let summary = rec.summary.clone();
    verify_recovered(store, rec, walker, visit, || {
        index_check(store, cfg, &summary)
    })
}

/// The index part of [`verify`]: every index file against the messages
/// between the min offset and the end of `summary` ([`index::verify`]). It
/// depends on nothing but the recovery, so a host may run it beside the walk
/// and hand its result to [`verify_recovered`].
pub fn index_check<S: PageRead>(
    store: &S,
    cfg: &Config,
    summary: &Summary,
) -> Result<Vec<Problem>, StoreError> {
    index::verify_into(
        store,
        &cfg.index,
        summary.min_offset,
        summary.end,
        |o, out| index_key_hashes_into(store, summary, o, out),
    )
}

/// The rest of [`verify_walking`] once [`recover`] gave `rec`: the strict
/// walk by `walker` (with each message's consume-queue unit), the bytes past
/// the end, the consume queues, then the index problems `index_problems`
/// returns (those of [`index_check`] on the same recovery: called last, as
/// [`verify_walking`] checks the index last).
pub fn verify_recovered<S: PageRead>(
    store: &S,
    rec: Recovered,
    walker: impl Walker,
    mut visit: impl FnMut(u64, &MessageView<'_>, &Result<Option<CqUnit>, StoreError>),
    index_problems: impl FnOnce() -> Result<Vec<Problem>, StoreError>,
) -> Result<(Recovered, Vec<Problem>), StoreError> {
    let mut problems = rec.problems.clone();
    let mut units = UnitCheck::new(&rec.queues);
    let report = walker(&rec.summary, WalkOptions::STRICT, &mut |it| {
        if let Item::Message { offset, view } = it
            && view.sys_flag.dispatched_to_queue()
        {
            let unit = units.check(store, offset, &view);
            visit(offset, &view, &unit);
        }
        ControlFlow::Continue(())
    })?;
    let confirmed = units.confirmed();
    problems.extend(report.problems);
    problems.extend(check_past_end(store, &rec.summary)?);
    problems.extend(
        rec.queues
            .verify_except(store, &confirmed, |o| record_facts(store, &rec.summary, o))?,
    );
    let index_problems = index_problems()?;
    // A wrong-sized index file is an error here; drop the load's warning
    // about the same file so it is reported once.
    problems.retain(|p| {
        !(p.log == LogId::IndexFile
            && p.severity == Severity::Warning
            && index_problems
                .iter()
                .any(|q| q.severity == Severity::Error && q.offset == 0 && q.segment == p.segment))
    });
    problems.extend(index_problems);
    Ok((rec, problems))
}

/// The unit of each message in its consume queue, looked up during a walk
/// (queues found by topic bytes, without a `String` per message; units read
/// a window at a time, [`consume_queue::UnitWindow`]).
struct UnitCheck<'q> {
    queues: &'q ConsumeQueues,
    /// Topic bytes, then queue id, to the queue's window in `windows`
    /// (`None`: no such queue).
    found: BTreeMap<Vec<u8>, BTreeMap<i32, Option<usize>>>,
    windows: Vec<UnitWindow<'q>>,
}

impl<'q> UnitCheck<'q> {
    fn new(queues: &'q ConsumeQueues) -> Self {
        Self {
            queues,
            found: BTreeMap::new(),
            windows: Vec::new(),
        }
    }

    /// The unit at the QUEUEOFFSET of message `m` (at `at`) in its queue; a
    /// unit pointing back at `m` with its size and tags code is confirmed.
    fn check<S: PageRead>(
        &mut self,
        store: &S,
        at: u64,
        m: &MessageView<'_>,
    ) -> Result<Option<CqUnit>, StoreError> {
        let w = match self.found.get(m.topic).and_then(|q| q.get(&m.queue_id)) {
            Some(w) => *w,
            None => {
                let q = self.queues.get(&properties::lossy(m.topic), m.queue_id);
                let w = q.map(|q| {
                    self.windows.push(UnitWindow::new(q));
                    self.windows.len() - 1
                });
                self.found
                    .entry(m.topic.to_vec())
                    .or_default()
                    .insert(m.queue_id, w);
                w
            }
        };
        let (Some(w), Ok(n)) = (
            w.and_then(|w| self.windows.get_mut(w)),
            u64::try_from(m.queue_offset),
        ) else {
            return Ok(None);
        };
        let unit = w.get(store, n)?;
        if let Some(u) = unit
            && u.physical_offset == at as i64
            && u.size == m.total_size
            && u.tags_code == m.tags_code()
        {
            w.confirm(n);
        }
        Ok(unit)
    }

    /// Every unit confirmed so far.
    fn confirmed(self) -> Confirmed {
        let mut c = Confirmed::default();
        for w in self.windows {
            c.absorb(w);
        }
        c
    }
}

/// The index key hashes of the message starting at `offset`
/// ([`index::message_key_hashes`]); `None` when no message starts there.
pub fn index_key_hashes<S: PageRead>(
    store: &S,
    summary: &Summary,
    offset: u64,
) -> Result<Option<Vec<i32>>, StoreError> {
    let hashes = read_at(
        store,
        summary,
        offset,
        DecodeOptions::LENIENT,
        |r| match r {
            Ok(Record::Message(v)) => Some(index::message_key_hashes(&v)),
            _ => None,
        },
    )?;
    Ok(hashes.flatten())
}

/// [`index_key_hashes`] appended to `out`; false when no message starts at
/// `offset`.
pub fn index_key_hashes_into<S: PageRead>(
    store: &S,
    summary: &Summary,
    offset: u64,
    out: &mut Vec<i32>,
) -> Result<bool, StoreError> {
    let found = read_at(
        store,
        summary,
        offset,
        DecodeOptions::LENIENT,
        |r| match r {
            Ok(Record::Message(v)) => {
                index::message_key_hashes_into(&v, out);
                true
            }
            _ => false,
        },
    )?;
    Ok(found == Some(true))
}

/// Notices for bytes past the recovered end: a stale or torn tail in the end
/// file and whole files that Java deletes (the all-zero preallocated file is
/// normal and not reported).
pub fn check_past_end<S: PageRead>(
    store: &S,
    summary: &Summary,
) -> Result<Vec<Problem>, StoreError> {
    let mut out = Vec::new();
    for f in &summary.files {
        // A file named near u64::MAX must not overflow (hostile names).
        if f.id.saturating_add(f.len) <= summary.end {
            continue;
        }
        let from = summary.end.saturating_sub(f.id);
        // Holes (a preallocated, nearly empty last file) are skipped unread.
        let nonzero = crate::scan::first_nonzero_in(store, &LogId::CommitLog, f.id, from, f.len)?;
        if let Some(p) = nonzero {
            let at = f.id + p;
            let text = if f.id >= summary.end && f.id > summary.min_offset && from == 0 {
                String::from("file past the recovered end holds data: Java deletes it on load")
            } else {
                String::from(
                    "non-zero bytes after the recovered end (torn or stale tail; Java ignores them)",
                )
            };
            out.push(other(Some(f.id), at, Severity::Notice, text));
        }
    }
    Ok(out)
}
