//! DLedger recovery: data against index, with the index rebuilt from the data.
//!
//! Stricter than Java 0.3.1.2's `recover()`:
//!
//! * the whole log is scanned, not only the last three files (B4);
//! * non-zero `bodyCrc` / `chainCrc` fields are checked (B3);
//! * `channel` must be 0 (no DLedger version ever sets it, so anything else is damage);
//! * a blank's length must reach exactly to the end of its file;
//! * the log may start at a persisted [`StartMarker`] (B1).
//!
//! Everything else follows Java: `pos` must equal the offset, indices are
//! consecutive, terms never decrease, `size == 48 + bodySize`. The index
//! record of every entry is compared with the entry; from the first mismatch
//! on, the index is cut and rewritten from the data.
//!
//! [`RecoveryMode::Strict`] refuses (changing nothing) when any non-zero data
//! would be discarded; [`RecoveryMode::Repair`] cuts the data at the last valid
//! entry, zeroes the rest of that file, removes later files, and syncs all of
//! it before the store is handed out.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::entries::{self, First, Halt, Last};
use super::{
    DLedger, DLedgerConfig, DLedgerError, INDEX_UNIT, StartMarker, parse_checkpoint, read_meta,
};
use crate::checked::Checked;
use crate::codec::dledger::{self as codec, HEADER_LEN, Header, IndexRecord};
use crate::codec::kv;
use crate::engine::fanout::{Fanout, Sequential};
use crate::engine::flush::FlushPlanner;
use crate::engine::segments::{Filler, SegmentQueue, Truncation};
use crate::layout;
use crate::scan::zeros;
use crate::store::{LogId, MetaFile, PageRead, PageStore, SegmentId, StoreError};

/// What recovery does when it finds damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Report and refuse: return [`DLedgerError::Refused`] without changing anything
    /// if any non-zero data would be discarded (a torn tail included).
    Strict,
    /// Cut at the last valid entry, zero the torn tail, remove later files.
    Repair,
}

/// Why the scan stopped before a clean end (zeros or the end of the last file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanStop {
    /// Absolute data offset of the rejected record.
    pub offset: u64,
    /// The data file holding it.
    pub segment: SegmentId,
    /// What was wrong.
    pub reason: String,
}

/// Non-zero bytes beyond the valid end that were (or, in strict mode, would be) discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The log.
    pub log: LogId,
    /// The file.
    pub segment: SegmentId,
    /// First discarded absolute offset.
    pub from: u64,
    /// First non-zero byte found there.
    pub first_nonzero: u64,
    /// Why it is not part of the log.
    pub reason: String,
}

/// What recovery checked, where the valid data ends, and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The mode used.
    pub mode: RecoveryMode,
    /// Data files found.
    pub data_files: Vec<SegmentId>,
    /// Index files found.
    pub index_files: Vec<SegmentId>,
    /// Where the scan started (the first data file, or the start marker).
    pub scan_start: u64,
    /// The start marker used, if any.
    pub start_marker: Option<StartMarker>,
    /// Entries validated.
    pub entries: u64,
    /// Entries whose body CRC (non-zero) was verified.
    pub crcs_checked: u64,
    /// Absolute data offset where valid data ends.
    pub valid_end: u64,
    /// First index (-1: empty).
    pub begin_index: i64,
    /// Last index (-1: empty).
    pub end_index: i64,
    /// Term of the last entry (-1: empty).
    pub end_term: i64,
    /// Why the scan stopped early (`None`: clean end).
    pub stop: Option<ScanStop>,
    /// Non-zero data discarded beyond the valid end.
    pub discarded: Vec<Cut>,
    /// Files removed (data and index).
    pub removed: Vec<(LogId, SegmentId)>,
    /// The index was rewritten from the data from this entry on.
    pub index_rebuilt_from: Option<i64>,
    /// Committed index after loading the checkpoint.
    pub committed_index: i64,
    /// Other observations (unreadable meta files in repair mode, ...).
    pub notes: Vec<String>,
}

impl RecoveryReport {
    /// True when nothing was discarded and the scan ended cleanly.
    pub fn is_clean(&self) -> bool {
        self.stop.is_none() && self.discarded.is_empty()
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} entries [{}, {}] checked from {} to {}",
            self.entries, self.begin_index, self.end_index, self.scan_start, self.valid_end
        )?;
        if let Some(s) = &self.stop {
            write!(
                f,
                "; stopped at data/{} offset {}: {}",
                layout::file_name(s.segment),
                s.offset,
                s.reason
            )?;
        }
        for c in &self.discarded {
            write!(
                f,
                "; {}/{} from {} (non-zero at {}): {}",
                c.log,
                layout::file_name(c.segment),
                c.from,
                c.first_nonzero,
                c.reason
            )?;
        }
        if !self.removed.is_empty() {
            write!(f, "; removed {} files", self.removed.len())?;
        }
        if let Some(i) = self.index_rebuilt_from {
            write!(f, "; index rewritten from entry {i}")?;
        }
        Ok(())
    }
}

struct Scan {
    end: u64,
    entries: u64,
    crcs: u64,
    first_index: Option<i64>,
    last: Option<Last>,
    stop: Option<ScanStop>,
    /// First entry whose index record disagrees: (index, data offset).
    index_mismatch: Option<(i64, u64)>,
}

fn stop(offset: u64, segment: SegmentId, reason: String) -> Option<ScanStop> {
    Some(ScanStop {
        offset,
        segment,
        reason,
    })
}

/// Index files viewed at once at most: their views are nested (a stack
/// frame each); a store with more is checked on one thread, reading each
/// index record.
const MAX_INDEX_VIEWS: usize = 64;

/// Calls `f` with views of the whole of every segment in `segs` (after those
/// in `acc`).
fn with_views<S: PageRead, R>(
    store: &S,
    log: &LogId,
    segs: &[SegmentId],
    len: u64,
    acc: &[&[u8]],
    f: &mut dyn FnMut(&[&[u8]]) -> R,
) -> Result<R, StoreError> {
    match segs.split_first() {
        None => Ok(f(acc)),
        Some((&seg, rest)) => store.with_view(log, seg, 0, len, |v| {
            let mut a = Vec::with_capacity(acc.len() + 1);
            a.extend_from_slice(acc);
            a.push(v);
            with_views(store, log, rest, len, &a, f)
        })?,
    }
}

impl<S: PageStore> DLedger<S> {
    /// Walks the data from `start`, validating every entry: one view per
    /// data file, the entries checked in stretches by `fanout`'s jobs against
    /// views of the index files (see [`entries`]).
    fn scan(&self, start: u64, marker: Option<StartMarker>, fanout: &dyn Fanout) -> Scan {
        let first = First {
            index: marker.map(|m| m.index),
            prev_chain: match marker {
                Some(m) => m.prev_chain,
                None if start == 0 => Some(0),
                None => None,
            },
        };
        let isegs = self.index.segments();
        if isegs.len() <= MAX_INDEX_VIEWS {
            let isize = self.cfg.index_file_size;
            let base = isegs.first().copied().unwrap_or(0);
            let viewed = with_views(
                &self.store,
                &LogId::DLedgerIndex,
                isegs,
                isize,
                &[],
                &mut |views: &[&[u8]]| {
                    // As a read of the index queue: a record outside its
                    // files does not match.
                    let lookup = |rec: &IndexRecord| {
                        // The scan bounds indices by MAX_INDEX: no overflow.
                        let Some(rel) = (rec.index as u64 * INDEX_UNIT).checked_sub(base) else {
                            return false;
                        };
                        let (i, off) = ((rel / isize) as usize, (rel % isize) as usize);
                        views
                            .get(i)
                            .and_then(|v| v.get(off..off + INDEX_UNIT as usize))
                            .and_then(IndexRecord::decode)
                            == Some(*rec)
                    };
                    self.scan_files(start, &first, &lookup, Some(&lookup), fanout)
                },
            );
            if let Ok(s) = viewed {
                return s;
            }
        }
        let lookup = |rec: &IndexRecord| self.index_matches(rec);
        self.scan_files(start, &first, &lookup, None, &Sequential)
    }

    /// [`Self::scan`] with index records compared by `index_ok` (by
    /// `parallel` in `fanout`'s jobs, when given).
    fn scan_files(
        &self,
        start: u64,
        first: &First,
        index_ok: &dyn Fn(&IndexRecord) -> bool,
        parallel: Option<&(dyn Fn(&IndexRecord) -> bool + Sync)>,
        fanout: &dyn Fanout,
    ) -> Scan {
        let size = self.cfg.data_file_size;
        let log = LogId::DLedgerData;
        let mut s = Scan {
            end: start,
            entries: 0,
            crcs: 0,
            first_index: None,
            last: None,
            stop: None,
            index_mismatch: None,
        };
        let mut pos = start;
        // No segment holds `pos`: the end of the last file (it ended with a filler).
        while let Some(seg) = self.data.segment_of(pos) {
            let from = pos - seg;
            let prev = s.last;
            let viewed = match parallel {
                Some(ix) if fanout.width() > 1 => {
                    // A failing hint only costs the stretches past the data.
                    let end = zeros::data_end(&self.store, &log, seg, from, size).unwrap_or(size);
                    self.store.with_view(&log, seg, 0, size, |buf| {
                        entries::file(buf, seg, from, end, prev, first, ix, fanout)
                    })
                }
                _ => self.store.with_view(&log, seg, 0, size, |buf| {
                    entries::run(buf, seg, from, u64::MAX, prev, first, index_ok)
                }),
            };
            let r = match viewed {
                Ok(r) => r,
                Err(e) => {
                    s.stop = stop(pos, seg, format!("{e}"));
                    break;
                }
            };
            s.entries += r.entries;
            s.crcs += r.crcs;
            s.first_index = s.first_index.or(r.first_index);
            s.last = r.last.or(s.last);
            s.index_mismatch = s.index_mismatch.or(r.index_mismatch);
            s.end = seg + r.end;
            match r.halt {
                None => pos = seg + r.end,
                Some(Halt::Zeros) => break,
                Some(Halt::Stop(at, reason)) => {
                    s.stop = stop(at, seg, reason);
                    break;
                }
            }
        }
        s
    }

    fn index_matches(&self, rec: &IndexRecord) -> bool {
        let mut b = [0u8; 32];
        // The scan bounds indices by MAX_INDEX, so this cannot overflow.
        let at = rec.index as u64 * INDEX_UNIT;
        self.index.read(&self.store, at, &mut b).is_ok() && IndexRecord::decode(&b) == Some(*rec)
    }

    /// Appends index records for the entries in `[from, to)` of the data.
    fn rewrite_index(&mut self, from: u64, to: u64) -> Result<(), DLedgerError> {
        let size = self.cfg.data_file_size;
        let mut pos = from;
        while pos < to {
            let mut h = [0u8; HEADER_LEN];
            let seg = pos - pos % size;
            let n = (seg + size - pos).min(HEADER_LEN as u64) as usize;
            self.data.read(&self.store, pos, &mut h[..n])?;
            if i32::from_be_bytes([h[0], h[1], h[2], h[3]]) == codec::BLANK_MAGIC {
                pos = seg + size;
                continue;
            }
            // The scan validated these entries, so the header is complete.
            let Some(hd) = Header::read(&h) else {
                break;
            };
            let rec = IndexRecord {
                magic: hd.magic,
                pos: hd.pos,
                size: hd.size,
                index: hd.index,
                term: hd.term,
            };
            self.index.append(&self.store, &rec.encode())?;
            pos += u64::try_from(hd.size).unwrap_or(u64::MAX);
        }
        Ok(())
    }

    /// Non-zero data beyond `end` (in its file and in later files), and
    /// where the non-zero bytes of `end`'s file end (absolute; `end` if none).
    ///
    /// Only the ranges the store reports as possibly holding data are read
    /// ([`zeros::find_nonzero`]): the never-written tail of a file costs
    /// neither page faults nor a scan.
    fn beyond_end(
        &self,
        end: u64,
        stop: &Option<ScanStop>,
        fanout: &dyn Fanout,
    ) -> Result<(Vec<Cut>, u64), DLedgerError> {
        let size = self.cfg.data_file_size;
        let mut cuts = Vec::new();
        let reason = |default: &str| match stop {
            Some(s) => s.reason.clone(),
            None => String::from(default),
        };
        let log = LogId::DLedgerData;
        // The first and the last non-zero byte of `from..` of a file
        // (absolute): the last from the data ranges, the first by a scan of
        // what lies before it.
        let nonzero = |seg: SegmentId, from: u64| -> Result<Option<(u64, u64)>, DLedgerError> {
            let nz = zeros::find_nonzero(&self.store, &log, seg, from - seg, size, false, fanout)?;
            let Some(last_end) = nz.end else {
                return Ok(None);
            };
            let first = self.store.with_view(
                &log,
                seg,
                from - seg,
                last_end.saturating_sub(from - seg),
                zeros::first_nonzero,
            )?;
            Ok(Some((from + first.map_or(0, |i| i as u64), seg + last_end)))
        };
        let mut tail_end = end;
        if let Some(seg) = self.data.segment_of(end)
            && let Some((nz, last)) = nonzero(seg, end)?
        {
            tail_end = last;
            cuts.push(Cut {
                log: LogId::DLedgerData,
                segment: seg,
                from: end,
                first_nonzero: nz,
                reason: reason("non-zero bytes after the last valid entry"),
            });
        }
        for &seg in self.data.segments().iter().filter(|&&s| s > end) {
            if let Some((nz, _)) = nonzero(seg, seg)? {
                cuts.push(Cut {
                    log: LogId::DLedgerData,
                    segment: seg,
                    from: seg,
                    first_nonzero: nz,
                    reason: String::from("file after the end of the log"),
                });
            }
        }
        Ok((cuts, tail_end))
    }
}

/// [`SegmentQueue::truncate`] at `offset` after finding, from the store's
/// data ranges, where the non-zero bytes of `offset`'s file end: the cut
/// then zeroes only up to there instead of reading the whole rest of the
/// file. `known_end` is that end when the caller found it already.
fn cut_at<S: PageStore>(
    store: &Checked<S>,
    q: &mut SegmentQueue,
    offset: u64,
    known_end: Option<u64>,
    fanout: &dyn Fanout,
) -> Result<Truncation, DLedgerError> {
    if let Some(seg) = q.segment_of(offset)
        && offset <= q.wrote()
    {
        let end = match known_end {
            Some(e) => e,
            None => {
                let log = q.log().clone();
                let nz = zeros::find_nonzero(
                    store,
                    &log,
                    seg,
                    offset - seg,
                    q.seg_size(),
                    false,
                    fanout,
                )?;
                nz.end.map_or(offset, |e| seg + e)
            }
        };
        q.lower_wrote(end.max(offset));
    }
    Ok(q.truncate(store, offset)?)
}

pub(super) fn open<S: PageStore>(
    store: Checked<S>,
    cfg: DLedgerConfig,
    fanout: &dyn Fanout,
) -> Result<(DLedger<S>, RecoveryReport), DLedgerError> {
    if cfg.index_file_size == 0 || !cfg.index_file_size.is_multiple_of(INDEX_UNIT) {
        return Err(DLedgerError::Config(
            "index file size must be a positive multiple of 32",
        ));
    }
    if cfg.data_file_size <= (HEADER_LEN as u64) + layout::MIN_BLANK_LEN
        || cfg.data_file_size > i32::MAX as u64
    {
        return Err(DLedgerError::Config(
            "data file size must be in 57..=2^31-1",
        ));
    }
    let data = SegmentQueue::load(
        &store,
        LogId::DLedgerData,
        cfg.data_file_size,
        Filler::DLedger,
    )?;
    let index = SegmentQueue::load(
        &store,
        LogId::DLedgerIndex,
        cfg.index_file_size,
        Filler::None,
    )?;
    let mut rep = RecoveryReport {
        mode: cfg.recovery,
        data_files: data.segments().to_vec(),
        index_files: index.segments().to_vec(),
        scan_start: data.min_offset(),
        start_marker: None,
        entries: 0,
        crcs_checked: 0,
        valid_end: data.min_offset(),
        begin_index: -1,
        end_index: -1,
        end_term: -1,
        stop: None,
        discarded: Vec::new(),
        removed: Vec::new(),
        index_rebuilt_from: None,
        committed_index: -1,
        notes: Vec::new(),
    };
    let strict = cfg.recovery == RecoveryMode::Strict;
    let (ck_committed, ck_marker) = match read_meta(&store, MetaFile::DLedgerCheckpoint)? {
        None => (-1, None),
        Some(t) => match parse_checkpoint(&t) {
            Ok(v) => v,
            Err(error) if strict => {
                return Err(DLedgerError::BadMeta {
                    file: MetaFile::DLedgerCheckpoint,
                    error,
                });
            }
            Err(e) => {
                rep.notes.push(format!("checkpoint ignored: {e}"));
                (-1, None)
            }
        },
    };
    let term = match read_meta(&store, MetaFile::CurrTerm)? {
        None => kv::CurrTerm::default(),
        Some(t) => match kv::CurrTerm::parse(&t) {
            Ok(v) => v,
            Err(error) if strict => {
                return Err(DLedgerError::BadMeta {
                    file: MetaFile::CurrTerm,
                    error,
                });
            }
            Err(e) => {
                rep.notes.push(format!("currterm ignored: {e}"));
                kv::CurrTerm::default()
            }
        },
    };
    let mut planner = FlushPlanner::new(cfg.flush);
    planner.track(LogId::DLedgerData, cfg.data_file_size);
    planner.track(LogId::DLedgerIndex, cfg.index_file_size);
    let mut dl = DLedger {
        store,
        cfg,
        data,
        index,
        planner,
        begin: -1,
        end: -1,
        end_term: -1,
        last_chain: 0,
        committed_index: -1,
        committed_pos: -1,
        term,
        marker: None,
        buf: Vec::new(),
    };

    let Some(&first) = dl.data.segments().first() else {
        // No data: no log. Index files are derived data; drop them.
        for s in dl.index.clear(&dl.store, 0)? {
            rep.removed.push((LogId::DLedgerIndex, s));
        }
        return finish(dl, rep, ck_marker.is_some());
    };
    // The marker names where the log starts. It may lie in a later file when
    // an expiry persisted it but crashed before removing the older files.
    let files_end = dl.data.end_of_segments().unwrap_or(first);
    let marker = ck_marker.filter(|m| m.pos >= first && m.pos < files_end);
    let start = marker.map_or(first, |m| m.pos);
    if marker.is_none() && ck_marker.is_some() {
        rep.notes
            .push(String::from("start marker outside the data files ignored"));
    }
    rep.scan_start = start;
    rep.start_marker = marker;

    let scan = dl.scan(start, marker, fanout);
    rep.entries = scan.entries;
    rep.crcs_checked = scan.crcs;
    rep.valid_end = scan.end;
    rep.stop = scan.stop.clone();
    let (discarded, tail_end) = dl.beyond_end(scan.end, &scan.stop, fanout)?;
    rep.discarded = discarded;
    if strict && !rep.discarded.is_empty() {
        return Err(DLedgerError::Refused(alloc::boxed::Box::new(rep)));
    }

    let (Some(first_index), Some(last)) = (scan.first_index, scan.last) else {
        // Nothing valid: start over at the first file's offset.
        for s in dl.data.clear(&dl.store, first)? {
            rep.removed.push((LogId::DLedgerData, s));
        }
        for s in dl.index.clear(&dl.store, 0)? {
            rep.removed.push((LogId::DLedgerIndex, s));
        }
        return finish(dl, rep, ck_marker.is_some());
    };

    // Files wholly before the start: finish the interrupted expiry.
    for s in dl.data.set_start(&dl.store, start)? {
        rep.removed.push((LogId::DLedgerData, s));
        rep.notes.push(format!(
            "data/{} before the start marker removed",
            layout::file_name(s)
        ));
    }
    // Data: cut at the valid end (zeroing the rest of its file).
    let t = cut_at(&dl.store, &mut dl.data, scan.end, Some(tail_end), fanout)?;
    rep.removed
        .extend(t.removed.iter().map(|&s| (LogId::DLedgerData, s)));
    dl.begin = first_index;
    dl.end = last.index;
    dl.end_term = last.term;
    dl.last_chain = last.chain;
    dl.marker = marker;

    // Index: keep what matches, rewrite the rest from the data.
    let want_end = (last.index + 1) as u64 * INDEX_UNIT;
    match scan.index_mismatch {
        None => {
            let t = cut_at(&dl.store, &mut dl.index, want_end, None, fanout)?;
            rep.removed
                .extend(t.removed.iter().map(|&s| (LogId::DLedgerIndex, s)));
        }
        Some((k, kpos)) => {
            let at = k as u64 * INDEX_UNIT;
            let (k, kpos) = if at >= dl.index.min_offset()
                && at <= dl.index.wrote()
                && !dl.index.segments().is_empty()
            {
                let t = cut_at(&dl.store, &mut dl.index, at, None, fanout)?;
                rep.removed
                    .extend(t.removed.iter().map(|&s| (LogId::DLedgerIndex, s)));
                (k, kpos)
            } else {
                // A hole in the index files: rewrite all of it.
                let from = first_index as u64 * INDEX_UNIT;
                for s in dl.index.reset(&dl.store, from)? {
                    rep.removed.push((LogId::DLedgerIndex, s));
                }
                (first_index, start)
            };
            rep.index_rebuilt_from = Some(k);
            dl.rewrite_index(kpos, scan.end)?;
        }
    }
    for s in dl
        .index
        .set_start(&dl.store, first_index as u64 * INDEX_UNIT)?
    {
        rep.removed.push((LogId::DLedgerIndex, s));
    }

    // Committed index from the checkpoint (`updateCommittedIndex` at startup).
    if ck_committed >= dl.begin && ck_committed >= 0 {
        let c = ck_committed.min(dl.end);
        let rec = dl.index_record(c)?;
        dl.committed_index = c;
        dl.committed_pos = rec.pos + i64::from(rec.size);
    }
    if dl.term.term < dl.end_term {
        rep.notes.push(format!(
            "currterm {} is below the last entry's term {}",
            dl.term.term, dl.end_term
        ));
    }
    rep.begin_index = dl.begin;
    rep.end_index = dl.end;
    rep.end_term = dl.end_term;
    rep.committed_index = dl.committed_index;
    let rewrite_ck = ck_marker.is_some() && marker.is_none();
    finish(dl, rep, rewrite_ck)
}

/// Makes every repair durable (and drops a stale start marker) before handing out the store.
fn finish<S: PageStore>(
    mut dl: DLedger<S>,
    rep: RecoveryReport,
    rewrite_checkpoint: bool,
) -> Result<(DLedger<S>, RecoveryReport), DLedgerError> {
    dl.flush_all()?;
    if rewrite_checkpoint {
        dl.persist_checkpoint()?;
    }
    Ok((dl, rep))
}
