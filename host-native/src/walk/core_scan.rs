//! The walks, on top of `rocketlog_core::scan` (recovery, walk, verify).

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use rocketlog_core::codec::consume_queue::CqUnit;
use rocketlog_core::codec::dledger::BLANK_MAGIC as DLEDGER_BLANK;
use rocketlog_core::codec::message::{self, BLANK_MAGIC, DecodeOptions, Record};
use rocketlog_core::layout;
use rocketlog_core::scan::consume_queue::{self, ConsumeQueues, RecordFacts};
use rocketlog_core::scan::index::{self, IndexService};
use rocketlog_core::scan::{Problem, ProblemKind, Severity, dledger, rocketmq};
use rocketlog_core::store::{LogId, MetaFile, PageRead, StoreError};

use super::parallel::{self, Parallelism};
use super::{Blank, CqVisitor, EntryVisitor, MessageVisitor, WalkReport};
use crate::mmap::{MmapStore, SegmentView};
use crate::resolve::{Resolved, StoreKind};

fn store_problem(log: LogId, e: StoreError) -> Problem {
    Problem {
        log,
        segment: None,
        offset: 0,
        severity: Severity::Error,
        kind: ProblemKind::Store(e),
    }
}

fn scan_problem(e: dledger::ScanError) -> Problem {
    match e {
        dledger::ScanError::Store(e) => store_problem(LogId::DLedgerData, e),
        other => Problem {
            log: LogId::DLedgerData,
            segment: None,
            offset: 0,
            severity: Severity::Error,
            kind: ProblemKind::Other(other.to_string()),
        },
    }
}

/// Java's default `mappedFileSizeConsumeQueue` (300,000 units).
const DEFAULT_CQ_FILE_SIZE: u64 = 6_000_000;

/// Java's defaults, with file sizes inferred from the files. Without any
/// consume-queue file (a PATH naming only the commitlog) there is nothing to
/// infer the queue file size from: recovery re-dispatches into queues of
/// Java's default size.
fn rocketmq_config(store: &MmapStore) -> rocketmq::Config {
    let like = LogId::ConsumeQueue {
        topic: String::new(),
        queue_id: 0,
    };
    let mut cfg = rocketmq::Config::default();
    if store.logs(&like).is_ok_and(|l| l.is_empty()) {
        cfg.consume_queue.file_size = Some(DEFAULT_CQ_FILE_SIZE);
    }
    cfg
}

fn dledger_blank(b: &dledger::Blank) -> Blank {
    Blank {
        offset: b.pos,
        size: b.size,
        magic: DLEDGER_BLANK,
        next: b.next_entry_pos,
    }
}

pub(super) fn commitlog(store: &MmapStore, visit: &mut MessageVisitor<'_>) -> WalkReport {
    let mut rep = WalkReport::default();
    let rec = match rocketmq::recover(store, &rocketmq_config(store)) {
        Ok(r) => r,
        Err(e) => {
            rep.problems.push(store_problem(LogId::CommitLog, e));
            return rep;
        }
    };
    rep.problems.extend(rec.problems.iter().cloned());
    let fs = rec.summary.file_size;
    let mut blanks = Vec::new();
    let walked = parallel::walk(
        store,
        &rec.summary,
        rocketmq::WalkOptions::default(),
        Parallelism::host(),
        |it| match it {
            rocketmq::Item::Message { offset, view } => visit(offset, &view),
            rocketmq::Item::Blank { offset, total_size } => {
                blanks.push(Blank {
                    offset,
                    size: total_size,
                    magic: BLANK_MAGIC,
                    next: layout::roll_next_file(offset, fs).unwrap_or(u64::MAX),
                });
                ControlFlow::Continue(())
            }
        },
    );
    rep.blanks = blanks;
    rep.end = rec.summary.end;
    match walked {
        Ok(w) => {
            rep.problems.extend(w.problems);
            rep.stopped = w.stopped_by_visitor;
        }
        Err(e) => rep.problems.push(store_problem(LogId::CommitLog, e)),
    }
    rep
}

fn dledger_recover(rep: &mut WalkReport) -> impl FnOnce(&MmapStore) -> Option<dledger::Recovered> {
    move |store| match dledger::recover(store, &dledger::Options::default()) {
        Ok(r) => {
            rep.problems.extend(r.problems.iter().cloned());
            Some(r)
        }
        Err(e) => {
            rep.problems.push(scan_problem(e));
            None
        }
    }
}

pub(super) fn dledger_entries(store: &MmapStore, visit: &mut EntryVisitor<'_>) -> WalkReport {
    let mut rep = WalkReport::default();
    let Some(rec) = dledger_recover(&mut rep)(store) else {
        return rep;
    };
    let (mut blanks, mut problems, mut stopped) = (Vec::new(), Vec::new(), false);
    let walked = dledger::walk(store, &rec, |it| match it {
        dledger::Item::Entry { entry, .. } => {
            let flow = visit(&entry);
            stopped = flow.is_break();
            flow
        }
        dledger::Item::Blank(b) => {
            blanks.push(dledger_blank(&b));
            ControlFlow::Continue(())
        }
        dledger::Item::Problem(p) => {
            problems.push(p);
            ControlFlow::Continue(())
        }
    });
    if let Err(e) = walked {
        problems.push(scan_problem(e));
    }
    rep.problems.extend(problems);
    rep.blanks = blanks;
    rep.end = rec.data_write_pos;
    rep.stopped = stopped;
    rep
}

/// A PATH naming only DLedger data files has no `checkpoint`: everything
/// written counts as committed (a whole store without one reads as Java does).
fn commit_all_without_checkpoint(r: &Resolved, rec: &mut dledger::Recovered) {
    if r.paths.dledger.is_none() && rec.checkpoint.is_none() && rec.end_index >= 0 {
        rec.committed_index = rec.end_index;
        rec.committed_pos = i64::try_from(rec.data_write_pos).unwrap_or(i64::MAX);
    }
}

pub(super) fn dledger_messages(
    store: &MmapStore,
    r: &Resolved,
    visit: &mut MessageVisitor<'_>,
) -> WalkReport {
    let mut rep = WalkReport::default();
    let Some(mut rec) = dledger_recover(&mut rep)(store) else {
        return rep;
    };
    commit_all_without_checkpoint(r, &mut rec);
    let (mut blanks, mut problems, mut stopped) = (Vec::new(), Vec::new(), false);
    let walked = dledger::walk_messages(store, &rec, |it| match it {
        dledger::MessageItem::Message { offset, message } => {
            let flow = visit(offset, &message);
            stopped = flow.is_break();
            flow
        }
        dledger::MessageItem::Blank(b) => {
            blanks.push(dledger_blank(&b));
            ControlFlow::Continue(())
        }
        dledger::MessageItem::Problem(p) => {
            problems.push(p);
            ControlFlow::Continue(())
        }
    });
    match walked {
        Ok(end) => rep.end = end.end,
        Err(e) => problems.push(scan_problem(e)),
    }
    rep.problems.extend(problems);
    rep.blanks = blanks;
    rep.stopped = stopped;
    rep
}

/// The consume queues after load, and the commitlog range they index.
struct Queues {
    queues: ConsumeQueues,
    end: u64,
    rocketmq: Option<rocketmq::Recovered>,
    dledger: Option<dledger::Recovered>,
}

fn load_queues(store: &MmapStore, r: &Resolved, problems: &mut Vec<Problem>) -> Option<Queues> {
    match r.kind {
        StoreKind::RocketMq => match rocketmq::recover(store, &rocketmq_config(store)) {
            Ok(mut rec) => {
                problems.extend(rec.problems.iter().cloned());
                let queues = std::mem::take(&mut rec.queues);
                Some(Queues {
                    queues,
                    end: rec.summary.end,
                    rocketmq: Some(rec),
                    dledger: None,
                })
            }
            Err(e) => {
                problems.push(store_problem(LogId::CommitLog, e));
                None
            }
        },
        StoreKind::RocketMqDLedger => {
            // DLedgerCommitLog: the commitlog is DLedger's data up to the
            // committed position; queues are truncated there and their min
            // offsets corrected against the first data file.
            let mut rec = match dledger::recover(store, &dledger::Options::default()) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(scan_problem(e));
                    return None;
                }
            };
            commit_all_without_checkpoint(r, &mut rec);
            problems.extend(rec.problems.iter().cloned());
            let min = rec.data_files.first().map_or(0, |s| s.id);
            let end = u64::try_from(rec.committed_pos).unwrap_or(min);
            let load = || -> Result<ConsumeQueues, StoreError> {
                let mut q = ConsumeQueues::load(store, &consume_queue::Config::default())?;
                q.truncate_dirty(store, end as i64)?;
                q.correct_min_offset(store, min as i64)?;
                Ok(q)
            };
            match load() {
                Ok(mut queues) => {
                    problems.extend(queues.take_problems());
                    Some(Queues {
                        queues,
                        end,
                        rocketmq: None,
                        dledger: Some(rec),
                    })
                }
                Err(e) => {
                    problems.push(store_problem(LogId::CommitLog, e));
                    None
                }
            }
        }
        StoreKind::DLedger => None,
    }
}

pub(super) fn cq_units(store: &MmapStore, r: &Resolved, visit: &mut CqVisitor<'_>) -> WalkReport {
    let mut rep = WalkReport::default();
    let Some(q) = load_queues(store, r, &mut rep.problems) else {
        return rep;
    };
    for queue in q.queues.queues() {
        let (topic, id) = (queue.topic(), queue.queue_id());
        let res = queue.for_each_unit(store, |n, u| {
            if !rep.stopped && visit(topic, id, n, &u).is_break() {
                rep.stopped = true;
            }
        });
        if let Err(e) = res {
            rep.problems.push(store_problem(
                LogId::ConsumeQueue {
                    topic: topic.to_owned(),
                    queue_id: id,
                },
                e,
            ));
        }
        if rep.stopped {
            break;
        }
    }
    rep.end = q.end;
    rep
}

pub(super) fn query_key(
    store: &MmapStore,
    r: &Resolved,
    topic: &str,
    key: &str,
) -> (Vec<i64>, Vec<Problem>) {
    let mut problems = Vec::new();
    let found = match r.kind {
        StoreKind::RocketMq => match rocketmq::recover(store, &rocketmq_config(store)) {
            Ok(rec) => {
                problems.extend(rec.problems.iter().cloned());
                rec.index
                    .query_message(store, topic, key, rec.summary.min_offset, rec.summary.end)
            }
            Err(e) => Err(e),
        },
        StoreKind::RocketMqDLedger => {
            let rec = match dledger::recover(store, &dledger::Options::default()) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(scan_problem(e));
                    return (Vec::new(), problems);
                }
            };
            problems.extend(rec.problems.iter().cloned());
            let min = rec.data_files.first().map_or(0, |s| s.id);
            let end = u64::try_from(rec.committed_pos).unwrap_or(min);
            (|| {
                let clean = store.read_meta(MetaFile::Abort)?.is_none();
                let cp = rocketmq::read_checkpoint(store, &mut Vec::new())?;
                let idx = IndexService::load(store, &index::Config::default(), clean, &cp)?;
                idx.query_message(store, topic, key, min, end)
            })()
        }
        StoreKind::DLedger => Ok(Vec::new()),
    };
    match found {
        Ok(v) => (v, problems),
        Err(e) => {
            problems.push(store_problem(LogId::IndexFile, e));
            (Vec::new(), problems)
        }
    }
}

fn facts(m: &message::MessageView<'_>) -> RecordFacts {
    RecordFacts {
        size: m.total_size,
        tags_code: m.tags_code(),
        topic: m.topic_str().into_owned(),
        queue_id: m.queue_id,
        queue_offset: m.queue_offset,
    }
}

/// The facts of the message starting at `offset` of the DLedger data log (`None`
/// outside `[min, end)` or where no message starts).
fn dledger_facts(
    store: &MmapStore,
    rec: &dledger::Recovered,
    end: u64,
    offset: i64,
) -> Result<Option<RecordFacts>, StoreError> {
    let Ok(off) = u64::try_from(offset) else {
        return Ok(None);
    };
    let Some(seg) = rec.data_files.iter().rev().find(|s| s.id <= off) else {
        return Ok(None);
    };
    if off >= end || off - seg.id >= seg.len {
        return Ok(None);
    }
    let pos = off - seg.id;
    let len = seg.len.min(end - seg.id) - pos;
    store.with_view(
        &LogId::DLedgerData,
        seg.id,
        pos,
        len,
        |b| match message::decode(b, off, DecodeOptions::LENIENT) {
            Ok(Record::Message(m)) => Some(facts(&m)),
            _ => None,
        },
    )
}

/// A plain store in one recovery and one strict walk: the core verifier's
/// checks, and (for a whole store) each message's unit in its consume queue,
/// checked on the same walk.
fn verify_rocketmq(store: &MmapStore, r: &Resolved) -> Vec<Problem> {
    let with_units = r.paths.root.is_some();
    let mut missing = Vec::new();
    let par = Parallelism::host();
    let walker = |s: &rocketmq::Summary, o, v: &mut rocketmq::WalkVisitor<'_>| {
        parallel::walk(store, s, o, par, v)
    };
    let visit = |at, m: &message::MessageView<'_>, unit: &_| {
        if with_units {
            unit_problem(at, m, unit, &mut missing);
        }
    };
    let cfg = rocketmq_config(store);
    let verified = if par.threads < 2 {
        rocketmq::verify_walking(store, &cfg, walker, visit)
    } else {
        // The index check needs only the recovery: it runs on its own thread
        // beside the walk, and its result is taken where the sequential
        // verifier computes it.
        rocketmq::recover(store, &cfg).and_then(|rec| {
            let summary = rec.summary.clone();
            std::thread::scope(|s| {
                let index = s.spawn(|| {
                    let mut hashes = KeyHashes::new(store, &summary);
                    let mut ahead = Prefetch::new(store, &summary);
                    index::verify_ahead(
                        store,
                        &cfg.index,
                        summary.min_offset,
                        summary.end,
                        |o, out| hashes.at(o, out),
                        |o| ahead.announce(o),
                    )
                });
                rocketmq::verify_recovered(store, rec, walker, visit, || {
                    index
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))
                })
            })
        })
    };
    let mut problems = Vec::new();
    match verified {
        Ok((_, p)) => problems.extend(p),
        Err(e) => problems.push(store_problem(LogId::CommitLog, e)),
    }
    problems.extend(missing);
    problems
}

/// [`rocketmq::index_key_hashes_into`] for the index check, holding the mapping
/// of the segment last read instead of looking it up for every entry.
struct KeyHashes<'a> {
    store: &'a MmapStore,
    summary: &'a rocketmq::Summary,
    /// The segment last read and its bytes.
    held: Option<(u64, SegmentView)>,
    /// The last topic's part of the hashes.
    hasher: index::KeyHasher,
}

impl<'a> KeyHashes<'a> {
    fn new(store: &'a MmapStore, summary: &'a rocketmq::Summary) -> Self {
        Self {
            store,
            summary,
            held: None,
            hasher: index::KeyHasher::default(),
        }
    }

    /// Exactly what `rocketmq::index_key_hashes_into(store, summary, o, out)` returns.
    fn at(&mut self, o: u64, out: &mut Vec<i32>) -> Result<bool, StoreError> {
        let s = self.summary;
        if o < s.min_offset || o >= s.end {
            return Ok(false);
        }
        let Some(seg) = s.files.iter().rev().find(|f| f.id <= o) else {
            return Ok(false);
        };
        let pos = o - seg.id;
        if pos >= seg.len {
            return Ok(false);
        }
        let len = seg.len.min(s.end - seg.id) - pos;
        if self.held.as_ref().is_none_or(|h| h.0 != seg.id) {
            self.held = None;
            if let Ok(v) = self.store.segment_bytes(&LogId::CommitLog, seg.id) {
                self.held = Some((seg.id, v));
            }
        }
        let range = usize::try_from(pos)
            .ok()
            .zip(usize::try_from(pos.saturating_add(len)).ok());
        match (&self.held, range) {
            (Some((_, bytes)), Some((from, to))) if to <= bytes.len() => {
                match message::decode(&bytes[from..to], o, DecodeOptions::LENIENT) {
                    Ok(Record::Message(m)) => {
                        index::message_key_hashes_with(&m, out, &mut self.hasher);
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            // Not mapped, or shorter than listed: the store's own read
            // reports it as it would.
            _ => rocketmq::index_key_hashes_into(self.store, s, o, out),
        }
    }
}

/// Brings the messages the index check is about to read into the CPU caches
/// ahead of it: the index entries name them in log order, 1 KiB or more
/// apart, so each read of a message's header and of its topic and
/// properties (after the body) would otherwise wait on memory. A hint only:
/// nothing read here decides anything.
struct Prefetch<'a> {
    store: &'a MmapStore,
    summary: &'a rocketmq::Summary,
    /// The segment last looked at and its bytes.
    held: Option<(u64, SegmentView)>,
}

impl<'a> Prefetch<'a> {
    fn new(store: &'a MmapStore, summary: &'a rocketmq::Summary) -> Self {
        Self {
            store,
            summary,
            held: None,
        }
    }

    /// The index check will read the message at `o` soon. Its header line
    /// is fetched, and the two lines before it: the end of the message
    /// before, where that one's topic and properties lie when the entries
    /// name consecutive messages (as they do, one key per message); the
    /// record's own length is not read (that would wait on memory).
    fn announce(&mut self, o: i64) {
        let Ok(o) = u64::try_from(o) else {
            return;
        };
        let s = self.summary;
        if o < s.min_offset || o >= s.end {
            return;
        }
        let Some(seg) = s.files.iter().rev().find(|f| f.id <= o) else {
            return;
        };
        if self.held.as_ref().is_none_or(|h| h.0 != seg.id) {
            self.held = None;
            if let Ok(v) = self.store.segment_bytes(&LogId::CommitLog, seg.id) {
                self.held = Some((seg.id, v));
            }
        }
        let (Some((_, b)), Ok(pos)) = (&self.held, usize::try_from(o - seg.id)) else {
            return;
        };
        prefetch(b, pos);
        prefetch(b, pos.wrapping_sub(64));
        prefetch(b, pos.wrapping_sub(128));
    }
}

/// Asks the CPU to bring the cache line holding `b[i]` closer (no-op when
/// `i` is out of bounds or the target has no prefetch instruction).
#[inline]
fn prefetch(b: &[u8], i: usize) {
    if i >= b.len() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it
        // is in the target's baseline); it is a hint that reads nothing
        // into the program and never faults, and the address is inside `b`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(b.as_ptr().add(i).cast::<i8>()) };
    }
}

pub(super) fn verify(store: &MmapStore, r: &Resolved) -> Vec<Problem> {
    let mut problems = Vec::new();
    match r.kind {
        StoreKind::RocketMq => return verify_rocketmq(store, r),
        kind => {
            let mut rep = WalkReport::default();
            if let Some(rec) = dledger_recover(&mut rep)(store) {
                let opts = dledger::VerifyOptions {
                    messages: kind == StoreKind::RocketMqDLedger,
                };
                // `verify` reports the recovery's own problems itself.
                rep.problems.clear();
                if let Err(e) = dledger::verify(store, &rec, &opts, |p| rep.problems.push(p)) {
                    rep.problems.push(scan_problem(e));
                }
            }
            // A PATH naming only data files has no index to check: Java would
            // rebuild it, which is not a problem of the data.
            let has_index = r.paths.dledger_index.is_some();
            problems.extend(
                rep.problems
                    .into_iter()
                    .filter(|p| has_index || p.log != LogId::DLedgerIndex),
            );
        }
    }
    if r.paths.root.is_none() || r.kind == StoreKind::DLedger {
        return problems;
    }
    // Consume queues against the records they point at.
    let mut load_problems = Vec::new();
    let Some(q) = load_queues(store, r, &mut load_problems) else {
        problems.extend(load_problems);
        return problems;
    };
    // Load problems of the commitlog side were reported by the verifier above;
    // keep only the queues' own.
    problems.extend(
        load_problems
            .into_iter()
            .filter(|p| matches!(p.log, LogId::ConsumeQueue { .. })),
    );
    let checked = q.queues.verify(store, |off| {
        if let Some(rec) = &q.rocketmq {
            let Ok(o) = u64::try_from(off) else {
                return Ok(None);
            };
            let f = rocketmq::read_at(
                store,
                &rec.summary,
                o,
                DecodeOptions::LENIENT,
                |r| match r {
                    Ok(Record::Message(m)) => Some(facts(&m)),
                    _ => None,
                },
            )?;
            Ok(f.flatten())
        } else if let Some(rec) = &q.dledger {
            dledger_facts(store, rec, q.end, off)
        } else {
            Ok(None)
        }
    });
    match checked {
        Ok(p) => problems.extend(p),
        Err(e) => problems.push(store_problem(LogId::CommitLog, e)),
    }
    problems.extend(missing_units(store, r, &q.queues));
    // The plain verifier checks the index files itself; in DLedger commitlog
    // mode they index positions of the DLedger data log.
    if let Some(rec) = &q.dledger {
        let min = rec.data_files.first().map_or(0, |s| s.id);
        let checked = index::verify(store, &index::Config::default(), min, q.end, |off| {
            dledger_key_hashes(store, rec, q.end, off)
        });
        match checked {
            Ok(p) => problems.extend(p),
            Err(e) => problems.push(store_problem(LogId::IndexFile, e)),
        }
    }
    problems
}

/// The index key hashes of the message starting at `offset` of the DLedger
/// data log (`None` outside `[min, end)` or where no message starts).
fn dledger_key_hashes(
    store: &MmapStore,
    rec: &dledger::Recovered,
    end: u64,
    off: u64,
) -> Result<Option<Vec<i32>>, StoreError> {
    let Some(seg) = rec.data_files.iter().rev().find(|s| s.id <= off) else {
        return Ok(None);
    };
    if off >= end || off - seg.id >= seg.len {
        return Ok(None);
    }
    let pos = off - seg.id;
    let len = seg.len.min(end - seg.id) - pos;
    store.with_view(
        &LogId::DLedgerData,
        seg.id,
        pos,
        len,
        |b| match message::decode(b, off, DecodeOptions::LENIENT) {
            Ok(Record::Message(m)) => Some(index::message_key_hashes(&m)),
            _ => None,
        },
    )
}

/// Queue keys by topic bytes and queue id, so that a walk does not build a
/// `String` per message to find its queue.
type QueueCache = BTreeMap<Vec<u8>, BTreeMap<i32, (String, i32)>>;

/// The other direction: a message that goes to a consume queue must have its
/// unit there, at its QUEUEOFFSET, pointing back at it.
fn missing_unit(
    store: &MmapStore,
    queues: &ConsumeQueues,
    found: &mut QueueCache,
    at: u64,
    m: &message::MessageView<'_>,
    out: &mut Vec<Problem>,
) {
    if !m.sys_flag.dispatched_to_queue() {
        return;
    }
    let key = match found.get(m.topic).and_then(|q| q.get(&m.queue_id)) {
        Some(k) => k,
        None => found
            .entry(m.topic.to_vec())
            .or_default()
            .entry(m.queue_id)
            .or_insert_with(|| (m.topic_str().into_owned(), m.queue_id)),
    };
    let queue = queues.get_key(key);
    let unit = match (queue, u64::try_from(m.queue_offset)) {
        (Some(q), Ok(n)) => q.get(store, n),
        _ => Ok(None),
    };
    unit_problem(at, m, &unit, out);
}

/// The problem of message `m` (at `at`) whose unit at its QUEUEOFFSET is
/// `unit`, if it does not point back at `m`.
fn unit_problem(
    at: u64,
    m: &message::MessageView<'_>,
    unit: &Result<Option<CqUnit>, StoreError>,
    out: &mut Vec<Problem>,
) {
    let text = match unit {
        Ok(Some(u)) if u.physical_offset == at as i64 && u.size == m.total_size => return,
        Ok(Some(u)) => format!(
            "unit {} points at offset {} size {}, not at the message at {at} (size {})",
            m.queue_offset, u.physical_offset, u.size, m.total_size
        ),
        Ok(None) => format!(
            "no unit {} for the message at {at}: Java cannot deliver it",
            m.queue_offset
        ),
        Err(e) => e.to_string(),
    };
    out.push(Problem {
        log: LogId::ConsumeQueue {
            topic: m.topic_str().into_owned(),
            queue_id: m.queue_id,
        },
        segment: None,
        offset: (m.queue_offset as u64).wrapping_mul(20),
        severity: Severity::Warning,
        kind: ProblemKind::Other(text),
    });
}

/// [`missing_unit`] for every message of the store (DLedger commitlog mode).
fn missing_units(store: &MmapStore, r: &Resolved, queues: &ConsumeQueues) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut found = QueueCache::default();
    let mut visit = |at: u64, m: &message::MessageView<'_>| {
        missing_unit(store, queues, &mut found, at, m, &mut out);
        ControlFlow::Continue(())
    };
    // Read problems of this pass were reported by the verifiers already.
    let _ = match r.kind {
        StoreKind::RocketMq => commitlog(store, &mut visit),
        _ => dledger_messages(store, r, &mut visit),
    };
    out
}
