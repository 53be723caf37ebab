//! Recovery of a RocketMQ store on open: stricter than the reference.
//!
//! The reference (`CommitLog.recoverNormally/recoverAbnormally`) starts from a
//! recent file, checks only the body CRC, never compares the stored physical
//! offset with the real position, truncates by moving in-memory positions (the
//! stale tail parses again after a restart), and deletes the active index file
//! after a crash. Here:
//!
//! 1. **Commitlog, read only.** Every file is checked from the first record
//!    (BODYCRC, the `__CRC32#` property when present, PHYSICALOFFSET equal to
//!    the actual position, lengths, BLANK size equal to the rest of the file, at
//!    least 8 bytes left after every record). The scan ends at the first record
//!    that fails; the end is *clean* if only zeros follow. The records are
//!    checked in stretches by the jobs of a [`Fanout`](super::fanout::Fanout)
//!    (all cores on a native host) and joined in log order, which gives the
//!    sequential result exactly (`stretches`); the zeros past the end are
//!    read only where the store reports data
//!    ([`PageRead::data_range`]: the holes of a preallocated file are not
//!    faulted in).
//! 2. **Decision.** [`RecoveryMode::Strict`] refuses (and changes nothing) if
//!    any non-zero byte lies past the valid end; [`RecoveryMode::Repair`]
//!    zeroes the torn tail durably and removes later files, so nothing cut off
//!    can ever parse again.
//! 3. **Consume queues.** Each queue is read up to its first invalid unit;
//!    every unit a valid record should have is checked or re-dispatched, units
//!    pointing past the valid end are zeroed, and a queue whose first file
//!    starts above 0 gets `fillPreBlank` fillers. The records are decoded
//!    again for this (and for the index) by the fanout's jobs, in pieces
//!    between the record boundaries step 1 noted; the units are compared and
//!    written in log order on the calling thread (`redispatch`).
//! 4. **IndexFile.** Sealed (full, synced) files are kept while their entries
//!    lie below the valid end; the first file that does not qualify (always
//!    the active one after an abnormal shutdown) is rebuilt in place from the
//!    commitlog instead of being deleted.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::commitlog::seglog::SegLog;
use super::commitlog::{CommitLog, EngineError};
use super::dispatch::{
    ConsumeQueue, IndexFiles, RecordRef, UnitPut, UnitPutError, trailing_keys_of_last, unit_pos,
};
use super::fanout::Sequential;
use crate::codec::checkpoint::StoreCheckpoint;
use crate::codec::consume_queue::{CQ_UNIT_SIZE, CqUnit};
use crate::codec::message::{self, DecodeOptions, PropCrcCheck, Record};
use crate::codec::properties;
use crate::error::DecodeError;
use crate::layout::MIN_BLANK_LEN;
use crate::scan::zeros;
use crate::store::{LogId, MetaFile, PageRead, PageStore, SegmentId};

/// What recovery may do with invalid commitlog data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Report and refuse to open if any non-zero byte lies past the valid end.
    Strict,
    /// Truncate at the last valid record (zeroing the tail durably).
    #[default]
    Repair,
}

/// A byte range that was zeroed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Log.
    pub log: LogId,
    /// First byte zeroed (absolute).
    pub from: u64,
    /// End of the zeroed range (absolute).
    pub to: u64,
}

/// What recovery checked, where valid data ends, and what it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The `abort` marker was present (the last shutdown was not clean).
    pub abnormal_shutdown: bool,
    /// The mode used.
    pub mode: RecoveryMode,
    /// Commitlog files checked.
    pub segments_checked: usize,
    /// Records whose CRCs, lengths and offsets were checked.
    pub records_checked: u64,
    /// End-of-file BLANK records checked.
    pub blanks_checked: u64,
    /// First commitlog offset stored.
    pub min_offset: u64,
    /// Where valid data ends.
    pub valid_end: u64,
    /// Why the scan stopped, when non-zero bytes follow the valid end.
    pub stopped_by: Option<DecodeError>,
    /// Non-zero bytes found past the valid end (whole later files included).
    pub dirty_bytes_past_end: u64,
    /// Ranges zeroed.
    pub truncated: Vec<Truncation>,
    /// Files removed.
    pub removed: Vec<(LogId, SegmentId)>,
    /// Consume-queue units compared with their records.
    pub queue_units_checked: u64,
    /// Units that disagreed with their record (rewritten).
    pub queue_units_mismatched: u64,
    /// Units written from the commitlog (missing after the crash).
    pub queue_units_redispatched: u64,
    /// Filler units written (`fillPreBlank` or gaps).
    pub queue_fillers: u64,
    /// Units dropped because they point past the valid end.
    pub queue_units_truncated: u64,
    /// The first index file rebuilt from the commitlog, if any.
    pub index_rebuilt: Option<SegmentId>,
    /// Index keys written during recovery.
    pub index_keys_added: u64,
    /// Anything else worth knowing.
    pub notes: Vec<String>,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} shutdown, {:?} mode: {} files, {} records and {} blanks checked; valid data [{}, {})",
            if self.abnormal_shutdown {
                "abnormal"
            } else {
                "clean"
            },
            self.mode,
            self.segments_checked,
            self.records_checked,
            self.blanks_checked,
            self.min_offset,
            self.valid_end
        )?;
        if let Some(e) = &self.stopped_by {
            write!(f, "; stopped by {e}")?;
        }
        if self.dirty_bytes_past_end > 0 {
            write!(
                f,
                "; {} non-zero bytes past the end",
                self.dirty_bytes_past_end
            )?;
        }
        for t in &self.truncated {
            write!(f, "; zeroed {} [{}, {})", t.log, t.from, t.to)?;
        }
        for (log, seg) in &self.removed {
            write!(f, "; removed {log}/{seg}")?;
        }
        write!(
            f,
            "; queue units: {} checked, {} mismatched, {} re-dispatched, {} fillers, {} truncated",
            self.queue_units_checked,
            self.queue_units_mismatched,
            self.queue_units_redispatched,
            self.queue_fillers,
            self.queue_units_truncated
        )?;
        if let Some(s) = self.index_rebuilt {
            write!(f, "; index rebuilt from file {s}")?;
        }
        write!(f, "; {} index keys added", self.index_keys_added)?;
        for n in &self.notes {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// Result of checking (part of) one commitlog file.
#[derive(Debug, Clone, Default)]
struct SegScan {
    records: u64,
    blanks: u64,
    /// Where the scan stopped: the position of the first record at or past
    /// the bound it was given, or where valid data ends (the file size after
    /// a BLANK).
    end_pos: u64,
    /// The file ends with a valid BLANK.
    rolled: bool,
    /// Why the records ended before the end of the file (not rolled).
    stop: Option<DecodeError>,
    last_record: Option<u64>,
}

impl SegScan {
    /// The records ended in this stretch (a BLANK or a record that failed).
    fn ended(&self) -> bool {
        self.rolled || self.stop.is_some()
    }
}

/// Checks the records of a commitlog file (`buf`, the whole file, at `base`)
/// starting at `from` (a record boundary) until one starts at or past `to`,
/// or the records end: a BLANK reaching the end of the file, or the first
/// record that fails a check. Starting at 0 with `to` at least the file size
/// this is the whole file's scan; stretches of it can be checked apart and
/// joined in order when each starts where the previous one's `end_pos` is.
fn scan_segment(buf: &[u8], base: u64, opts: DecodeOptions, from: u64, to: u64) -> SegScan {
    let size = buf.len() as u64;
    let mut s = SegScan::default();
    let mut pos = from;
    loop {
        if pos >= to {
            s.end_pos = pos;
            return s;
        }
        let abs = base + pos;
        let rest = buf.get(pos as usize..).unwrap_or_default();
        let err = match decode_checked(rest, abs, opts) {
            Ok(Record::Message(m)) => {
                let len = m.total_size as u64;
                if let Some(field) = implausible(&m, abs) {
                    DecodeError::new(abs, crate::DecodeErrorKind::BadField { field, value: 0 })
                } else if pos + len + MIN_BLANK_LEN > size {
                    // The writer only places a record when the 8-byte BLANK still fits after it.
                    DecodeError::new(
                        abs,
                        crate::DecodeErrorKind::SizeOutOfRange {
                            field: "totalSize (no room for the end-of-file blank)",
                            value: len as i64,
                            min: message::MIN_RECORD_LEN as i64,
                            max: (size - pos - MIN_BLANK_LEN) as i64,
                        },
                    )
                } else {
                    s.records += 1;
                    s.last_record = Some(abs);
                    pos += len;
                    continue;
                }
            }
            Ok(Record::Blank { total_size }) => {
                if total_size as u64 == size - pos && total_size as u64 >= MIN_BLANK_LEN {
                    s.blanks += 1;
                    s.rolled = true;
                    s.end_pos = size;
                    return s;
                }
                DecodeError::new(
                    abs,
                    crate::DecodeErrorKind::BadField {
                        field: "blank totalSize (must reach the end of the file)",
                        value: total_size.into(),
                    },
                )
            }
            Err(e) => e,
        };
        s.end_pos = pos;
        s.stop = Some(err);
        return s;
    }
}

/// [`message::decode`] with `opts`, looking for the `__CRC32#` property
/// (under [`PropCrcCheck::IfPresent`]) only in records whose properties hold
/// a `#`: finding a key means parsing every pair, and most stores have none.
fn decode_checked(buf: &[u8], offset: u64, opts: DecodeOptions) -> Result<Record<'_>, DecodeError> {
    if opts.prop_crc != PropCrcCheck::IfPresent {
        return message::decode(buf, offset, opts);
    }
    let first = DecodeOptions {
        prop_crc: PropCrcCheck::Ignore,
        ..opts
    };
    match message::decode(buf, offset, first) {
        Ok(Record::Message(m)) if properties::find_byte(m.properties, b'#').is_some() => {
            // The body CRC passed already; check the property alone.
            let prop = DecodeOptions {
                check_body_crc: false,
                ..opts
            };
            message::decode(buf, offset, prop)
        }
        other => other,
    }
}

/// Writer invariants a torn or stale record tends to break, checked on top of
/// the codec's strict decode. Without the `__CRC32#` property the format has
/// no checksum over the header, topic and properties (reference issue #7437),
/// so these catch the common tears: zeroed pages and cut-off properties.
fn implausible(m: &message::MessageView<'_>, offset: u64) -> Option<&'static str> {
    use crate::codec::message::SysFlag;
    if m.sys_flag.0 & !0x7FF != 0 {
        return Some("sysFlag (unused bits 11..31 set)");
    }
    if m.topic.is_empty() || m.topic.iter().any(|&b| b < 0x20 || b == 0x7F) {
        return Some("topic (empty or control characters)");
    }
    if let Some(&last) = m.properties.last()
        && (last != properties::PROPERTY_SEPARATOR
            || properties::find_byte(m.properties, 0).is_some())
    {
        return Some("properties (not `key 0x01 value 0x02` text)");
    }
    let tx = m.sys_flag.transaction();
    if (tx == SysFlag::TRANSACTION_PREPARED || tx == SysFlag::TRANSACTION_ROLLBACK)
        && m.queue_offset != 0
    {
        return Some("queueOffset (PREPARED/ROLLBACK records store 0)");
    }
    if m.queue_offset < 0 {
        return Some("queueOffset (negative)");
    }
    let ptx = m.prepared_transaction_offset;
    if ptx < 0 || (ptx > 0 && ptx as u64 >= offset) {
        return Some("preparedTransactionOffset (not an earlier record)");
    }
    None
}

/// Units of one part of a consume-queue file, read up to the first one that
/// is bad on its own or after the part's earlier units.
#[derive(Default)]
struct UnitRun {
    units: Vec<CqUnit>,
    /// Fillers before the first real unit.
    fillers: usize,
    first_real: Option<i64>,
    /// PHYSICALOFFSET of the last real unit, -1 if none.
    last_real: i64,
    /// Stopped at a bad unit (else the part ended).
    bad: bool,
}

impl UnitRun {
    fn read(b: &[u8], plausible: &(impl Fn(&CqUnit) -> bool + Sync)) -> Self {
        let mut r = Self {
            last_real: -1,
            ..Self::default()
        };
        for c in b.chunks_exact(CQ_UNIT_SIZE) {
            let u = CqUnit::decode(c).unwrap_or_default();
            let real = !u.is_filler();
            // A filler after a real unit is not something a writer produces.
            let bad = !u.is_valid()
                || (real && (u.physical_offset <= r.last_real || !plausible(&u)))
                || (!real && r.last_real >= 0);
            if bad {
                r.bad = true;
                break;
            }
            if real {
                r.first_real.get_or_insert(u.physical_offset);
                r.last_real = u.physical_offset;
            } else {
                r.fillers += 1;
            }
            r.units.push(u);
        }
        r
    }
}

/// Units per part of a consume-queue file read by one job, at least.
const MIN_UNIT_PART: usize = 4096;

/// The units of a consume-queue file (`b`) up to the first invalid one, after
/// `prev_phy` (the last real unit's PHYSICALOFFSET before the file, -1 if
/// none), appended to `out`: how many, and whether the whole file was valid.
/// Parts of the file are read by `fanout`'s jobs and joined in order with
/// the checks that span parts, so the result is the one-pass reading's.
fn scan_units(
    b: &[u8],
    plausible: &(impl Fn(&CqUnit) -> bool + Sync),
    prev_phy: &mut i64,
    out: &mut Vec<CqUnit>,
    fanout: &dyn super::fanout::Fanout,
) -> (u64, bool) {
    let units = b.len() / CQ_UNIT_SIZE;
    let width = fanout.width();
    let per = if width <= 1 {
        units.max(1)
    } else {
        units.div_ceil(width * 8).max(MIN_UNIT_PART)
    };
    let mut runs: Vec<UnitRun> = Vec::new();
    runs.resize_with(units.div_ceil(per), UnitRun::default);
    if runs.len() <= 1 {
        runs.truncate(0);
        runs.push(UnitRun::read(b, plausible));
    } else {
        let mut jobs: Vec<_> = runs
            .iter_mut()
            .zip(b.chunks(per * CQ_UNIT_SIZE))
            .map(|(slot, part)| move || *slot = UnitRun::read(part, plausible))
            .collect();
        let mut refs: Vec<&mut (dyn FnMut() + Send)> = jobs
            .iter_mut()
            .map(|j| j as &mut (dyn FnMut() + Send))
            .collect();
        fanout.run(&mut refs);
    }
    let mut n = 0u64;
    for r in runs {
        // The checks across parts: no filler after a real unit, offsets rising.
        if *prev_phy >= 0 && r.fillers > 0 {
            return (n, false);
        }
        if r.first_real.is_some_and(|f| f <= *prev_phy) {
            out.extend_from_slice(&r.units[..r.fillers]);
            return (n + r.fillers as u64, false);
        }
        n += r.units.len() as u64;
        out.extend_from_slice(&r.units);
        if r.last_real >= 0 {
            *prev_phy = r.last_real;
        }
        if r.bad {
            return (n, false);
        }
    }
    (n, true)
}

/// Per-queue facts from the structural scan.
struct QueueScan {
    /// Byte offset after the last valid unit.
    end: u64,
    /// Queue offset of `units[0]`.
    first: i64,
    /// The units read by the scan, fillers included (`[first, end)`), so
    /// that re-checking a record does not read its unit again.
    units: Vec<CqUnit>,
}

mod index;
mod redispatch;
mod stretches;

impl<S: PageStore> CommitLog<S> {
    /// Recovers the commitlog, consume queues and index files (see the module docs).
    pub(crate) fn recover(
        &mut self,
        now_ms: i64,
        fanout: &dyn super::fanout::Fanout,
    ) -> Result<(), EngineError> {
        let mut rep = RecoveryReport {
            abnormal_shutdown: self.store.read_meta(MetaFile::Abort)?.is_some(),
            mode: self.cfg.recovery_mode,
            ..RecoveryReport::default()
        };
        if let Some(b) = self.store.read_meta(MetaFile::StoreCheckpoint)? {
            match StoreCheckpoint::decode(&b) {
                Ok(c) => self.checkpoint = c,
                Err(e) => rep.notes.push(alloc::format!("checkpoint unreadable: {e}")),
            }
        }
        let size = self.cfg.mapped_file_size_commit_log;

        // 1. Commitlog layout and read-only scan.
        let mut segs = self.store.segments(&LogId::CommitLog)?;
        if let Some(last) = segs.last()
            && last.len == 0
        {
            // A zero-length last file is an interrupted creation (the reference deletes it too).
            self.store.remove(&LogId::CommitLog, last.id)?;
            self.store.sync_dir(&LogId::CommitLog)?;
            rep.removed.push((LogId::CommitLog, last.id));
            segs.pop();
        }
        for (i, s) in segs.iter().enumerate() {
            // Offsets are Java longs: a file named so that it ends past
            // i64::MAX has no offsets, and every `id + position` below would
            // overflow.
            if s.id.checked_add(size).is_none_or(|e| e > i64::MAX as u64) {
                return Err(EngineError::Layout(alloc::format!(
                    "commitlog file {} ends past the largest offset (2^63 - 1)",
                    crate::layout::file_name(s.id)
                )));
            }
            if s.len != size || s.id % size != 0 {
                return Err(EngineError::Layout(alloc::format!(
                    "commitlog file {} is {} bytes (configured {size}) or misaligned",
                    crate::layout::file_name(s.id),
                    s.len
                )));
            }
            if i > 0 && segs[i - 1].id + size != s.id {
                return Err(EngineError::Layout(alloc::format!(
                    "commitlog files {} and {} are not consecutive",
                    crate::layout::file_name(segs[i - 1].id),
                    crate::layout::file_name(s.id)
                )));
            }
        }
        let opts = DecodeOptions {
            prop_crc: if self.cfg.force_verify_prop_crc {
                PropCrcCheck::Require
            } else {
                PropCrcCheck::IfPresent
            },
            ..DecodeOptions::STRICT
        };
        let min = segs.first().map_or(0, |s| s.id);
        let mut end = min;
        let mut ended = false;
        let mut tail_dirty_to = 0u64;
        let mut last_record = None;
        // Record boundaries noted by the scan, where step 5's pieces start.
        let mut starts = Vec::new();
        for s in &segs {
            if ended {
                let dirt = zeros::find_nonzero(
                    &self.store,
                    &LogId::CommitLog,
                    s.id,
                    0,
                    size,
                    true,
                    fanout,
                )?;
                rep.dirty_bytes_past_end += dirt.count;
                continue;
            }
            rep.segments_checked += 1;
            let data_end = if fanout.width() > 1 {
                zeros::data_end(&self.store, &LogId::CommitLog, s.id, 0, size)?
            } else {
                size
            };
            let joined = self
                .store
                .with_view(&LogId::CommitLog, s.id, 0, size, |b| {
                    stretches::scan_segment_parallel(
                        b,
                        s.id,
                        opts,
                        data_end,
                        stretches::stretch_for(data_end, fanout.width()),
                        fanout,
                    )
                })?;
            starts.extend(joined.starts.iter().map(|p| s.id + p));
            let r = joined.scan;
            rep.records_checked += r.records;
            rep.blanks_checked += r.blanks;
            last_record = r.last_record.or(last_record);
            end = s.id + r.end_pos;
            if !r.rolled {
                ended = true;
                let dirt = zeros::find_nonzero(
                    &self.store,
                    &LogId::CommitLog,
                    s.id,
                    r.end_pos,
                    size,
                    true,
                    fanout,
                )?;
                if let Some(to) = dirt.end {
                    tail_dirty_to = s.id + to;
                    rep.dirty_bytes_past_end += dirt.count;
                    rep.stopped_by = r.stop;
                }
            }
        }
        rep.min_offset = min;
        rep.valid_end = end;
        if rep.dirty_bytes_past_end > 0 && self.cfg.recovery_mode == RecoveryMode::Strict {
            return Err(EngineError::Refused(alloc::boxed::Box::new(rep)));
        }

        // 2. Repair the commitlog: zero the torn tail durably, drop later files.
        let mut log = SegLog::new(LogId::CommitLog, size, end);
        log.segs = segs.iter().map(|s| s.id).collect();
        if tail_dirty_to > end {
            log.zero(&self.store, end, tail_dirty_to)?;
            rep.truncated.push(Truncation {
                log: LogId::CommitLog,
                from: end,
                to: tail_dirty_to,
            });
        }
        let before: Vec<SegmentId> = log.segs.clone();
        log.remove_after(&self.store, end)?;
        for s in before.iter().filter(|s| !log.segs.contains(s)) {
            rep.removed.push((LogId::CommitLog, *s));
        }
        log.end = end;
        log.synced = end;
        self.log = log;

        // 3. Consume queues: structural scan.
        let mut scans = self.scan_queues(&mut rep, min, fanout)?;

        // 4. Index plan.
        let index_from = if self.cfg.message_index_enable {
            Some(self.plan_index(&mut rep, min, end, now_ms)?)
        } else {
            None
        };

        // 5. Re-check and re-dispatch from the commitlog.
        let seen = self.redispatch(
            &mut rep, &mut scans, min, end, index_from, now_ms, &starts, fanout,
        )?;

        // 6. Drop units past the valid end.
        self.finish_queues(&mut rep, &scans, &seen, min, fanout)?;
        self.index.sync(&self.store)?;
        if let Some(last) = last_record {
            self.checkpoint.confirm_phy_offset = last as i64;
        }
        self.write_checkpoint()?;
        self.report = rep;
        Ok(())
    }

    fn scan_queues(
        &mut self,
        rep: &mut RecoveryReport,
        min: u64,
        fanout: &dyn super::fanout::Fanout,
    ) -> Result<alloc::collections::BTreeMap<(String, i32), QueueScan>, EngineError> {
        let cq_size = self.cfg.consume_queue_file_size();
        let log_size = self.cfg.mapped_file_size_commit_log;
        // A unit must describe a record that can exist: a plausible size, inside
        // one commitlog file with room for the blank, and not straddling the
        // commitlog minimum (units below it cannot be checked against records).
        let plausible = |u: &CqUnit| {
            let (p, n) = (u.physical_offset as u64, u.size as u64);
            n >= message::MIN_RECORD_LEN as u64
                && p % log_size + n + MIN_BLANK_LEN <= log_size
                && (p >= min || p + n <= min)
        };
        let like = LogId::ConsumeQueue {
            topic: String::new(),
            queue_id: 0,
        };
        let mut scans = alloc::collections::BTreeMap::new();
        self.queues.clear();
        for log in self.store.logs(&like)? {
            let LogId::ConsumeQueue { topic, queue_id } = &log else {
                continue;
            };
            let segs = self.store.segments(&log)?;
            let mut q = ConsumeQueue::new(topic, *queue_id, cq_size);
            let mut kept = Vec::new();
            let mut bad_from = None;
            for (i, s) in segs.iter().enumerate() {
                let ok = s.len == cq_size
                    && s.id % cq_size == 0
                    && (i == 0 || segs[i - 1].id + cq_size == s.id);
                if !ok {
                    bad_from = Some(i);
                    break;
                }
                kept.push(s.id);
            }
            if let Some(i) = bad_from {
                for s in &segs[i..] {
                    self.store.remove(&log, s.id)?;
                    rep.removed.push((log.clone(), s.id));
                }
                self.store.sync_dir(&log)?;
                rep.notes.push(alloc::format!(
                    "{log}: wrong-sized or misplaced file; it and later files removed"
                ));
            }
            let mut end = kept.first().copied().unwrap_or(0);
            let first = (end / CQ_UNIT_SIZE as u64) as i64;
            let mut units_read = Vec::new();
            let mut prev_phy = -1i64;
            for &seg in &kept {
                // Units up to the first invalid one; a filler after a real unit
                // is not something a writer produces.
                let (units, complete) = self.store.with_view(&log, seg, 0, cq_size, |b| {
                    scan_units(b, &plausible, &mut prev_phy, &mut units_read, fanout)
                })?;
                end = seg + units * CQ_UNIT_SIZE as u64;
                if !complete {
                    break;
                }
            }
            q.log.segs = kept;
            q.log.end = end;
            q.log.synced = end;
            scans.insert(
                (topic.clone(), *queue_id),
                QueueScan {
                    end,
                    first,
                    units: units_read,
                },
            );
            self.queues.insert((topic.clone(), *queue_id), q);
        }
        Ok(scans)
    }
}

/// Checks a store without changing it: the read-only commitlog scan of
/// recovery, for tools and tests.
pub fn check_commitlog<R: PageRead>(
    store: &R,
    file_size: u64,
    opts: DecodeOptions,
) -> Result<RecoveryReport, EngineError> {
    let mut rep = RecoveryReport::default();
    let segs = store.segments(&LogId::CommitLog)?;
    let mut ended = false;
    rep.min_offset = segs.first().map_or(0, |s| s.id);
    rep.valid_end = rep.min_offset;
    for s in &segs {
        if s.len != file_size {
            return Err(EngineError::Layout(alloc::format!(
                "commitlog file {} is {} bytes, not {file_size}",
                s.id,
                s.len
            )));
        }
        if ended {
            rep.dirty_bytes_past_end +=
                zeros::find_nonzero(store, &LogId::CommitLog, s.id, 0, s.len, true, &Sequential)?
                    .count;
            continue;
        }
        rep.segments_checked += 1;
        let r = store.with_view(&LogId::CommitLog, s.id, 0, s.len, |b| {
            scan_segment(b, s.id, opts, 0, s.len)
        })?;
        rep.records_checked += r.records;
        rep.blanks_checked += r.blanks;
        rep.valid_end = s.id + r.end_pos;
        if !r.rolled {
            ended = true;
            let dirt = zeros::find_nonzero(
                store,
                &LogId::CommitLog,
                s.id,
                r.end_pos,
                s.len,
                true,
                &Sequential,
            )?;
            if dirt.end.is_some() {
                rep.dirty_bytes_past_end += dirt.count;
                rep.stopped_by = r.stop;
            }
        }
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::redispatch::{DispatchProps, IndexText, UnitFacts};
    use super::*;
    use crate::codec::message::{Host, MessageParts};
    use crate::engine::commitlog::CommitLogConfig;
    use crate::engine::dispatch::RecordMeta;
    use crate::mem::MemStore;
    use alloc::boxed::Box;
    use alloc::vec;

    /// A commitlog file holding one `TopicA`/0 record per queue offset.
    fn commitlog(file_size: u64, queue_offsets: &[i64]) -> (Vec<u8>, Vec<u64>) {
        let mut file = Vec::new();
        let mut at = Vec::new();
        for &qo in queue_offsets {
            let p = MessageParts {
                v2: None,
                body_crc: None,
                queue_id: 0,
                flag: 0,
                queue_offset: qo,
                physical_offset: file.len() as i64,
                sys_flag: 0,
                born_timestamp: 1,
                born_host: Host::V4 {
                    addr: [1, 2, 3, 4],
                    port: 5,
                },
                store_timestamp: 2,
                store_host: Host::V4 {
                    addr: [1, 2, 3, 4],
                    port: 6,
                },
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: b"body",
                topic: b"TopicA",
                properties: b"TAGS\x01a\x02",
                append_prop_crc: false,
            };
            let mut b = vec![0u8; p.encoded_len()];
            p.encode(&mut b).unwrap();
            at.push(file.len() as u64);
            file.extend_from_slice(&b);
        }
        file.resize(file_size as usize, 0);
        (file, at)
    }

    /// The one-pass property read agrees with the codec's per-key look-ups
    /// (`RecordMeta::of`, `MessageView::tags_code`) on Java's edge cases.
    #[test]
    fn dispatch_props_match_record_meta() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"TopicA", b"TAGS\x01a\x02"),
            (b"TopicA", b""),
            (
                b"TopicA",
                b"KEYS\x01k1 k2\x02UNIQ_KEY\x01U\x02TAGS\x01T\x02",
            ),
            (
                b"TopicA",
                b"TAGS\x01T\x02TAGS\x01U\x02KEYS\x01a\x02KEYS\x01b",
            ),
            (
                b"TopicA",
                b"TAGS\x01\x02\x01novalue\x02KEYS\x01\xff\xfe\x02",
            ),
            (b"SCHEDULE_TOPIC_XXXX", b"DELAY\x013\x02TAGS\x01T\x02"),
            (b"SCHEDULE_TOPIC_XXXX", b"DELAY\x01x\x02TAGS\x01T\x02"),
            (b"T\xc3", b"UNIQ_KEY\x01u\x02"),
        ];
        for (topic, props) in cases {
            let p = MessageParts {
                v2: None,
                body_crc: None,
                queue_id: 3,
                flag: 0,
                queue_offset: 7,
                physical_offset: 0,
                sys_flag: 0,
                born_timestamp: 1,
                born_host: Host::V4 {
                    addr: [1, 2, 3, 4],
                    port: 5,
                },
                store_timestamp: 1_000,
                store_host: Host::V4 {
                    addr: [1, 2, 3, 4],
                    port: 6,
                },
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: b"body",
                topic,
                properties: props,
                append_prop_crc: false,
            };
            let mut b = vec![0u8; p.encoded_len()];
            p.encode(&mut b).unwrap();
            let Ok(Record::Message(m)) = message::decode(&b, 0, DecodeOptions::LENIENT) else {
                panic!("decode");
            };
            let d = DispatchProps::of(&m);
            assert_eq!(d.tags_code, m.tags_code(), "{props:?}");
            let mut text = IndexText::default();
            let f = UnitFacts {
                offset: 42,
                size: m.total_size,
                topic: 0..0,
                queue_id: m.queue_id,
                queue: None,
                queue_offset: m.queue_offset,
                store_timestamp: m.store_timestamp,
                tags_code: d.tags_code,
                meta: text.push(&m, &d),
            };
            let want = RecordMeta::of(&m, 42);
            assert_eq!(text.record(&f), Some(want.as_ref()), "{props:?}");
        }
    }

    use crate::engine::fanout::Reversed;

    /// A consume-queue file read in parts gives the one-pass reading, with
    /// fillers, disorder, implausible and invalid units at part boundaries.
    #[test]
    fn unit_parts_join_to_the_one_pass_reading() {
        let n = 5 * MIN_UNIT_PART + 77;
        let unit = |i: usize| CqUnit {
            physical_offset: 1000 + 100 * i as i64,
            size: 100,
            tags_code: i as i64,
        };
        let plausible = |u: &CqUnit| u.size < 5000;
        let edits: [&[(usize, CqUnit)]; 9] = [
            &[],
            &[(0, CqUnit::FILLER), (1, CqUnit::FILLER)],
            &[(MIN_UNIT_PART, CqUnit::FILLER)],
            &[(MIN_UNIT_PART - 1, CqUnit::FILLER)],
            &[(2 * MIN_UNIT_PART, unit(3))],
            &[(2 * MIN_UNIT_PART + 1, unit(3))],
            &[(3 * MIN_UNIT_PART, CqUnit::default())],
            &[(
                4 * MIN_UNIT_PART,
                CqUnit {
                    size: 9999,
                    ..unit(4 * MIN_UNIT_PART)
                },
            )],
            &[(n - 1, CqUnit::default())],
        ];
        for (k, e) in edits.iter().enumerate() {
            for lead in [0usize, MIN_UNIT_PART + 5] {
                let mut units: Vec<CqUnit> = (0..n).map(unit).collect();
                for u in units.iter_mut().take(lead) {
                    *u = CqUnit::FILLER;
                }
                for &(i, u) in e.iter() {
                    units[i] = u;
                }
                let b: Vec<u8> = units.iter().flat_map(|u| u.encode()).collect();
                for prev in [-1i64, 500, 1000] {
                    let (mut p1, mut o1) = (prev, Vec::new());
                    let want = scan_units(&b, &plausible, &mut p1, &mut o1, &Sequential);
                    for w in [2, 3] {
                        let (mut p2, mut o2) = (prev, Vec::new());
                        let got = scan_units(&b, &plausible, &mut p2, &mut o2, &Reversed(w));
                        assert_eq!((got, p2), (want, p1), "edit {k} lead {lead} prev {prev}");
                        assert!(o1 == o2, "edit {k} lead {lead} prev {prev}");
                    }
                }
            }
        }
    }

    #[test]
    fn hostile_queue_offsets_are_noted_not_dispatched() {
        let cfg = CommitLogConfig {
            mapped_file_size_commit_log: 4096,
            mapped_file_size_consume_queue: 100,
            max_hash_slot_num: 8,
            max_index_num: 8,
            ..CommitLogConfig::default()
        };
        // Offsets 0 and 1 are real; 2^40 (a gap no filler run may fill) and
        // i64::MAX (no byte position) are hostile.
        let (file, at) = commitlog(4096, &[0, 1 << 40, i64::MAX, 1]);
        let store = MemStore::new();
        store.insert_segment(LogId::CommitLog, 0, file);
        let e = CommitLog::open(store, cfg, Box::new(|ms| ms as u64), 10).unwrap();
        assert_eq!(e.queues(), [("TopicA".into(), 0, 0, 2)]);
        let rep = e.recovery_report();
        assert_eq!(rep.records_checked, 4);
        assert_eq!(rep.queue_units_redispatched, 2);
        assert_eq!(rep.queue_fillers, 0);
        for (i, qo) in [(1, 1i64 << 40), (2, i64::MAX)] {
            assert!(
                rep.notes.iter().any(|n| n.contains(&alloc::format!(
                    "record at {}: consumequeue/TopicA/0: queue offset {qo}",
                    at[i]
                )) && n.ends_with("not dispatched")),
                "{:?}",
                rep.notes
            );
        }
        let log = LogId::ConsumeQueue {
            topic: "TopicA".into(),
            queue_id: 0,
        };
        assert_eq!(e.store().segments(&log).unwrap().len(), 1);
    }
}
