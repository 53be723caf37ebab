//! Consume queues as Java sees them after `DefaultMessageStore.load()`.
//!
//! Each queue goes through what Java does to it, in order:
//!
//! 1. `ConsumeQueue.recover`: scan from the third-last file while units are
//!    valid (`offset >= 0 && size > 0`; fillers count), set the write position
//!    after the last valid unit and drop later files; `maxPhysicOffset` is
//!    `offset + size` of the last valid unit scanned;
//! 2. re-dispatch ([`ConsumeQueues::dispatch`]) of records the CommitLog
//!    recovery finds missing, with `putMessagePositionInfo`'s rules (skip when
//!    `offset + size <= maxPhysicOffset`, skip queue offsets already written,
//!    append at the write position otherwise, `fillPreBlank` for a queue's
//!    first file);
//! 3. `truncateDirtyLogicFiles` at the CommitLog's recovered end;
//! 4. `correctMinOffset` against the CommitLog's min offset.
//!
//! Units written by step 2 are kept in memory; everything else is read from
//! the store when needed, one file view at a time.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::consume_queue::{CQ_UNIT_SIZE, CqUnit};
use crate::scan::rocketmq::{DispatchRequest, infer_file_size, load_files};
use crate::scan::{Problem, ProblemKind, Severity};
use crate::store::{LogId, PageRead, SegmentInfo, StoreError};

const UNIT: u64 = CQ_UNIT_SIZE as u64;

/// Consume-queue settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// `mappedFileSizeConsumeQueue` (rounded up to a multiple of 20 as Java's
    /// getter does); inferred from the files when `None`.
    pub file_size: Option<u64>,
}

/// One `(topic, queueId)` queue.
#[derive(Debug, Clone)]
pub struct Queue {
    topic: String,
    queue_id: i32,
    log: LogId,
    file_size: u64,
    /// Files on disk that survived recovery.
    disk: Vec<SegmentInfo>,
    /// Start of every file Java holds (disk files and files created while
    /// re-dispatching), ascending.
    files: Vec<u64>,
    /// Logical write position (bytes): `maxOffsetInQueue * 20`.
    write: u64,
    /// Where units written in memory begin.
    mem_start: u64,
    /// `fillPreBlank` units at `mem_start`.
    fillers: u64,
    /// Units appended in memory after the fillers.
    mem: Vec<CqUnit>,
    /// `minLogicOffset` (bytes).
    min_logic: u64,
    /// `maxPhysicOffset`.
    max_physic: i64,
}

/// All consume queues, ordered by topic then queue id.
#[derive(Debug, Clone, Default)]
pub struct ConsumeQueues {
    file_size: u64,
    queues: BTreeMap<(String, i32), Queue>,
    problems: Vec<Problem>,
}

/// What a consume-queue unit should agree with: the record at its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    /// TOTALSIZE.
    pub size: i32,
    /// Tags code (as `checkMessageAndReturnSize` computes it).
    pub tags_code: i64,
    /// Topic.
    pub topic: String,
    /// QUEUEID.
    pub queue_id: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
}

/// Queue offsets whose unit was checked against its record (by a walk over
/// the records), per queue: see [`ConsumeQueues::verify_except`].
#[derive(Debug, Clone, Default)]
pub struct Confirmed(BTreeMap<(String, i32), OffsetSet>);

/// A set of queue offsets, as bits from the first one added, grown only as
/// far as offsets that were added (never sized by a stored field alone).
#[derive(Debug, Clone, Default)]
struct OffsetSet {
    first: u64,
    bits: Vec<u64>,
}

impl OffsetSet {
    fn contains(&self, n: u64) -> bool {
        let Some(i) = n.checked_sub(self.first) else {
            return false;
        };
        usize::try_from(i / 64)
            .ok()
            .and_then(|w| self.bits.get(w))
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

impl Confirmed {
    /// Records that unit `n` of `queue` matches its record. `n` must be the
    /// offset of a unit the queue holds (its storage bounds the set's size).
    pub fn add(&mut self, queue: &Queue, n: u64) {
        let set = self
            .0
            .entry((queue.topic.clone(), queue.queue_id))
            .or_insert_with(|| OffsetSet {
                first: queue.min_logic / UNIT,
                bits: Vec::new(),
            });
        let Some(i) = n.checked_sub(set.first) else {
            return;
        };
        let Ok(w) = usize::try_from(i / 64) else {
            return;
        };
        if w >= set.bits.len() {
            set.bits.resize(w + 1, 0);
        }
        set.bits[w] |= 1 << (i % 64);
    }

    /// Whether unit `n` of the queue `(topic, queue_id)` was added.
    pub fn contains(&self, key: &(String, i32), n: u64) -> bool {
        self.0.get(key).is_some_and(|s| s.contains(n))
    }

    /// Adds every unit `w` confirmed ([`UnitWindow::confirm`]).
    pub fn absorb(&mut self, w: UnitWindow<'_>) {
        let q = w.queue;
        let set = self
            .0
            .entry((q.topic.clone(), q.queue_id))
            .or_insert_with(|| OffsetSet {
                first: w.confirmed.first,
                bits: Vec::new(),
            });
        if set.first == w.confirmed.first {
            if set.bits.len() < w.confirmed.bits.len() {
                set.bits.resize(w.confirmed.bits.len(), 0);
            }
            for (a, b) in set.bits.iter_mut().zip(&w.confirmed.bits) {
                *a |= b;
            }
        } else {
            // Sets of one queue share their first offset; should one not,
            // its offsets are added one by one.
            let first = w.confirmed.first;
            for (i, &word) in w.confirmed.bits.iter().enumerate() {
                for b in (0..64).filter(|b| word & (1 << b) != 0) {
                    set.insert(first + i as u64 * 64 + b);
                }
            }
        }
    }
}

impl OffsetSet {
    /// Adds `n` (offsets below `first` are not kept).
    fn insert(&mut self, n: u64) {
        let Some(i) = n.checked_sub(self.first) else {
            return;
        };
        let Ok(w) = usize::try_from(i / 64) else {
            return;
        };
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= 1 << (i % 64);
    }
}

/// Units read ahead per window refill of a [`UnitWindow`] (1.5 KiB per
/// queue held: a store may have thousands of queues).
const WINDOW_UNITS: u64 = 64;

/// Reads one queue's units at increasing queue offsets (a walk meeting the
/// queue's messages in log order) a window of units per store call, and
/// collects the units found to match their records for [`Confirmed`].
/// [`UnitWindow::get`] returns exactly what [`Queue::get`] returns.
#[derive(Debug)]
pub struct UnitWindow<'q> {
    queue: &'q Queue,
    /// Queue offset of `units[0]`.
    start: u64,
    /// Units `start..start + units.len()`, as [`Queue::get`] returns them.
    units: Vec<CqUnit>,
    confirmed: OffsetSet,
}

impl<'q> UnitWindow<'q> {
    /// An empty window over `queue`.
    pub fn new(queue: &'q Queue) -> Self {
        Self {
            queue,
            start: 0,
            units: Vec::new(),
            confirmed: OffsetSet {
                first: queue.min_logic / UNIT,
                bits: Vec::new(),
            },
        }
    }

    /// The queue.
    pub fn queue(&self) -> &'q Queue {
        self.queue
    }

    /// `Queue::get(store, n)`.
    pub fn get<S: PageRead>(&mut self, store: &S, n: u64) -> Result<Option<CqUnit>, StoreError> {
        if let Some(u) = n
            .checked_sub(self.start)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.units.get(i))
        {
            return Ok(Some(*u));
        }
        self.start = n;
        self.units.clear();
        if self
            .queue
            .read_run(store, n, WINDOW_UNITS, &mut self.units)?
        {
            return Ok(self.units.first().copied());
        }
        // Not a plain run of disk units: the unit on its own.
        self.queue.get(store, n)
    }

    /// Records that unit `n` matches its record (see [`Confirmed::add`]).
    pub fn confirm(&mut self, n: u64) {
        self.confirmed.insert(n);
    }
}

impl ConsumeQueues {
    /// Loads and recovers every `consumequeue/<topic>/<queueId>` of the store
    /// (steps 1 of the module doc).
    pub fn load<S: PageRead>(store: &S, cfg: &Config) -> Result<Self, StoreError> {
        let like = LogId::ConsumeQueue {
            topic: String::new(),
            queue_id: 0,
        };
        let logs = store.logs(&like)?;
        let mut all = Vec::new();
        let mut segs = Vec::new();
        for log in logs {
            let s = store.segments(&log)?;
            segs.extend_from_slice(&s);
            all.push(log);
        }
        let inferred = cfg
            .file_size
            .or_else(|| infer_file_size(&segs))
            .unwrap_or(0);
        let file_size = inferred.div_ceil(UNIT).saturating_mul(UNIT);
        let mut out = Self {
            file_size,
            queues: BTreeMap::new(),
            problems: Vec::new(),
        };
        for log in all {
            let LogId::ConsumeQueue { topic, queue_id } = &log else {
                continue;
            };
            let (disk, _) = load_files(store, &log, Some(file_size), &mut out.problems)?;
            let mut q = Queue::new(topic.clone(), *queue_id, file_size);
            q.files = disk.iter().map(|s| s.id).collect();
            q.disk = disk;
            q.recover(store)?;
            out.queues.insert((topic.clone(), *queue_id), q);
        }
        Ok(out)
    }

    /// File size in use (a multiple of 20).
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// `getMaxPhyOffsetInConsumeQueue` (Java's `dispatchFromPhyOffset`), -1 if none.
    pub fn max_physic_offset(&self) -> i64 {
        self.queues
            .values()
            .map(|q| q.max_physic)
            .max()
            .unwrap_or(-1)
            .max(-1)
    }

    /// The queues, by topic then queue id.
    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues.values()
    }

    /// One queue.
    pub fn get(&self, topic: &str, queue_id: i32) -> Option<&Queue> {
        self.queues.get(&(String::from(topic), queue_id))
    }

    /// One queue, by its `(topic, queue id)` key as owned by the caller (no
    /// `String` is built for the look-up).
    pub fn get_key(&self, key: &(String, i32)) -> Option<&Queue> {
        self.queues.get(key)
    }

    /// `CommitLogDispatcherBuildConsumeQueue.dispatch`: transaction types NOT
    /// and COMMIT go to `(topic, queueId)`, created if missing.
    pub fn dispatch(&mut self, req: &DispatchRequest) {
        if !req.goes_to_consume_queue() {
            return;
        }
        let fs = self.file_size;
        let q = self
            .queues
            .entry((req.topic.clone(), req.queue_id))
            .or_insert_with(|| Queue::new(req.topic.clone(), req.queue_id, fs));
        if let Some(p) = q.put(
            req.commit_log_offset,
            req.size,
            req.tags_code,
            req.queue_offset,
        ) {
            self.problems.push(p);
        }
    }

    /// `ConsumeQueueStore.truncateDirty`: when any queue reaches `phy_offset`,
    /// every queue drops its units at or beyond it.
    pub fn truncate_dirty<S: PageRead>(
        &mut self,
        store: &S,
        phy_offset: i64,
    ) -> Result<(), StoreError> {
        if self.max_physic_offset() >= phy_offset {
            for q in self.queues.values_mut() {
                q.truncate(store, phy_offset)?;
            }
        }
        Ok(())
    }

    /// `recoverOffsetTable`'s `correctMinOffset` on every queue.
    pub fn correct_min_offset<S: PageRead>(
        &mut self,
        store: &S,
        min_commit_log_offset: i64,
    ) -> Result<(), StoreError> {
        for q in self.queues.values_mut() {
            if let Some(p) = q.correct_min_offset(store, min_commit_log_offset)? {
                self.problems.push(p);
            }
        }
        Ok(())
    }

    /// What Java does when the commitlog has no files: drop every queue.
    pub fn destroy(&mut self) {
        self.queues.clear();
    }

    /// Problems found so far (moved out).
    pub fn take_problems(&mut self) -> Vec<Problem> {
        core::mem::take(&mut self.problems)
    }

    /// Checks every unit of every queue against the record it points at;
    /// `lookup(offset)` returns the facts of the record starting at `offset`
    /// (`None` when no record starts there). Fillers are skipped.
    pub fn verify<S: PageRead>(
        &self,
        store: &S,
        lookup: impl FnMut(i64) -> Result<Option<RecordFacts>, StoreError>,
    ) -> Result<Vec<Problem>, StoreError> {
        self.verify_except(store, &Confirmed::default(), lookup)
    }

    /// [`Self::verify`], skipping the units `confirmed` already found equal
    /// to the record they point at (so they need no look-up: a unit that
    /// points back at its record with the record's size and tags code passes
    /// every check here).
    pub fn verify_except<S: PageRead>(
        &self,
        store: &S,
        confirmed: &Confirmed,
        mut lookup: impl FnMut(i64) -> Result<Option<RecordFacts>, StoreError>,
    ) -> Result<Vec<Problem>, StoreError> {
        let mut out = Vec::new();
        for q in self.queues.values() {
            let done = confirmed.0.get(&(q.topic.clone(), q.queue_id));
            let mut units = Vec::new();
            q.for_each_unit(store, |n, u| units.push((n, u)))?;
            for (n, u) in units {
                if u.is_filler() || done.is_some_and(|d| d.contains(n)) {
                    continue;
                }
                let at = n * UNIT;
                let seg = q.file_of(at);
                let mut bad = |severity, text: String| {
                    out.push(Problem {
                        log: q.log.clone(),
                        segment: seg,
                        offset: at,
                        severity,
                        kind: ProblemKind::Other(text),
                    })
                };
                let Some(r) = lookup(u.physical_offset)? else {
                    bad(
                        Severity::Error,
                        alloc::format!(
                            "unit {n} points at commitlog offset {} where no record starts",
                            u.physical_offset
                        ),
                    );
                    continue;
                };
                if r.size != u.size {
                    bad(
                        Severity::Error,
                        alloc::format!(
                            "unit {n}: size {} but the record at {} is {} bytes",
                            u.size,
                            u.physical_offset,
                            r.size
                        ),
                    );
                }
                if r.tags_code != u.tags_code {
                    bad(
                        Severity::Warning,
                        alloc::format!(
                            "unit {n}: tags code {} but the record at {} has {}",
                            u.tags_code,
                            u.physical_offset,
                            r.tags_code
                        ),
                    );
                }
                if r.topic != q.topic || r.queue_id != q.queue_id {
                    bad(
                        Severity::Warning,
                        alloc::format!(
                            "unit {n}: the record at {} belongs to {}/{}",
                            u.physical_offset,
                            r.topic,
                            r.queue_id
                        ),
                    );
                } else if r.queue_offset != n as i64 {
                    bad(
                        Severity::Warning,
                        alloc::format!(
                            "unit {n}: the record at {} has queue offset {}",
                            u.physical_offset,
                            r.queue_offset
                        ),
                    );
                }
            }
        }
        Ok(out)
    }
}

impl Queue {
    fn new(topic: String, queue_id: i32, file_size: u64) -> Self {
        Self {
            log: LogId::ConsumeQueue {
                topic: topic.clone(),
                queue_id,
            },
            topic,
            queue_id,
            file_size,
            disk: Vec::new(),
            files: Vec::new(),
            write: 0,
            mem_start: 0,
            fillers: 0,
            mem: Vec::new(),
            min_logic: 0,
            max_physic: -1,
        }
    }

    /// Topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// Queue id.
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }
    /// `getMinOffsetInQueue`.
    pub fn min_offset(&self) -> u64 {
        self.min_logic / UNIT
    }
    /// `getMaxOffsetInQueue` (units, fillers included).
    pub fn max_offset(&self) -> u64 {
        self.write / UNIT
    }
    /// `getMaxPhysicOffset`.
    pub fn max_physic_offset(&self) -> i64 {
        self.max_physic
    }
    /// Start offsets (names) of the files Java holds for this queue.
    pub fn files(&self) -> &[u64] {
        &self.files
    }

    /// The file holding logical byte `pos`, like `findMappedFileByOffset`.
    fn file_of(&self, pos: u64) -> Option<u64> {
        self.files
            .iter()
            .rev()
            .find(|&&s| s <= pos && pos - s < self.file_size)
            .copied()
    }

    /// `getReadPosition` of the file starting at `start`.
    fn read_position(&self, start: u64) -> u64 {
        if self.files.last() == Some(&start) {
            self.write.saturating_sub(start)
        } else {
            self.file_size
        }
    }

    fn mem_unit(&self, pos: u64) -> Option<CqUnit> {
        if pos < self.mem_start || pos >= self.write {
            return None;
        }
        let n = (pos - self.mem_start) / UNIT;
        if n < self.fillers {
            return Some(CqUnit::FILLER);
        }
        usize::try_from(n - self.fillers)
            .ok()
            .and_then(|i| self.mem.get(i))
            .copied()
    }

    /// The 20 bytes Java's buffer holds at logical `pos` of the file starting
    /// at `file`, whatever the write position: memory units, else the disk
    /// file's bytes, else zeros (fresh or missing space).
    fn raw_unit<S: PageRead>(&self, store: &S, file: u64, pos: u64) -> Result<CqUnit, StoreError> {
        if let Some(u) = self.mem_unit(pos) {
            return Ok(u);
        }
        let Some(d) = self.disk.iter().find(|d| d.id == file) else {
            return Ok(CqUnit::default());
        };
        let rel = pos - file;
        if rel + UNIT > d.len {
            return Ok(CqUnit::default());
        }
        let mut b = [0u8; CQ_UNIT_SIZE];
        store.read(&self.log, d.id, rel, &mut b)?;
        Ok(CqUnit::decode(&b).unwrap_or_default())
    }

    /// Calls `f(relative position, unit)` for every unit slot of the file at
    /// `file`, in order, until it returns false; one view per disk file.
    fn scan_file<S: PageRead>(
        &self,
        store: &S,
        file: u64,
        mut f: impl FnMut(u64, CqUnit) -> bool,
    ) -> Result<(), StoreError> {
        let fs = self.file_size;
        let disk = self.disk.iter().find(|d| d.id == file).copied();
        let mut run = |bytes: &[u8]| {
            let mut rel = 0;
            while rel + UNIT <= fs {
                let pos = file + rel;
                let u = self.mem_unit(pos).unwrap_or_else(|| {
                    usize::try_from(rel)
                        .ok()
                        .and_then(|r| bytes.get(r..))
                        .and_then(CqUnit::decode)
                        .unwrap_or_default()
                });
                if !f(rel, u) {
                    break;
                }
                rel += UNIT;
            }
        };
        match disk {
            Some(d) => store.with_view(&self.log, d.id, 0, d.len, |b| run(b))?,
            None => run(&[]),
        }
        Ok(())
    }

    /// `ConsumeQueue.recover` over the disk files.
    fn recover<S: PageRead>(&mut self, store: &S) -> Result<(), StoreError> {
        let fs = self.file_size;
        if self.files.is_empty() || fs == 0 {
            return Ok(());
        }
        let mut idx = self.files.len().saturating_sub(3);
        let mut max_physic = self.max_physic;
        let process = loop {
            let file = self.files[idx];
            let mut valid_end = 0;
            self.scan_file(store, file, |rel, u| {
                if u.is_valid() {
                    valid_end = rel + UNIT;
                    max_physic = u.physical_offset.wrapping_add(i64::from(u.size));
                    true
                } else {
                    false
                }
            })?;
            if valid_end == fs {
                idx += 1;
                if idx >= self.files.len() {
                    break file + fs;
                }
            } else {
                break file + valid_end;
            }
        };
        self.max_physic = max_physic;
        // `truncateDirtyFiles(processOffset)`: later files are deleted.
        self.files.retain(|&s| s <= process);
        self.disk.retain(|d| d.id <= process);
        self.write = process;
        self.mem_start = process;
        Ok(())
    }

    /// `putMessagePositionInfo`. Returns a problem for Java's `[BUG]` cases.
    fn put(&mut self, offset: i64, size: i32, tags_code: i64, cq_offset: i64) -> Option<Problem> {
        if offset.wrapping_add(i64::from(size)) <= self.max_physic {
            return None;
        }
        let fs = self.file_size;
        let expect = match cq_offset.checked_mul(UNIT as i64) {
            Some(e) if e >= 0 && fs > 0 => e as u64,
            _ => {
                return Some(self.problem(
                    self.write,
                    Severity::Error,
                    alloc::format!(
                        "record at {offset} has queue offset {cq_offset}, which no consume queue can hold"
                    ),
                ));
            }
        };
        if self.mem.is_empty() && self.fillers == 0 {
            self.mem_start = self.write;
        }
        // `getLastMappedFile(expectLogicOffset)`.
        let mut first_create = false;
        match self.files.last().copied() {
            None => {
                let start = expect - expect % fs;
                self.files.push(start);
                self.write = start;
                self.mem_start = start;
                first_create = true;
            }
            Some(last) if self.write >= last + fs => self.files.push(last + fs),
            Some(_) => {}
        }
        if first_create && cq_offset != 0 {
            self.min_logic = expect;
            self.fillers = (expect % fs).div_ceil(UNIT);
            self.write += self.fillers * UNIT;
        }
        let mut warn = None;
        if cq_offset != 0 {
            if expect < self.write {
                // "Build consume queue repeatedly": already there.
                return None;
            }
            if expect != self.write {
                warn = Some(self.problem(
                    self.write,
                    Severity::Warning,
                    alloc::format!(
                        "record at {offset} has queue offset {cq_offset} but the queue ends at {}: Java appends it there ([BUG]logic queue order maybe wrong)",
                        self.write / UNIT
                    ),
                ));
            }
        }
        self.max_physic = offset.wrapping_add(i64::from(size));
        self.mem.push(CqUnit {
            physical_offset: offset,
            size,
            tags_code,
        });
        self.write += UNIT;
        warn
    }

    fn set_write(&mut self, w: u64) {
        self.write = w;
        if w <= self.mem_start {
            self.mem.clear();
            self.fillers = 0;
            self.mem_start = w;
        } else {
            let n = (w - self.mem_start) / UNIT;
            if n <= self.fillers {
                self.fillers = n;
                self.mem.clear();
            } else {
                let keep = usize::try_from(n - self.fillers).unwrap_or(usize::MAX);
                self.mem.truncate(keep);
            }
        }
    }

    /// `truncateDirtyLogicFiles(phyOffset)`.
    fn truncate<S: PageRead>(&mut self, store: &S, phy: i64) -> Result<(), StoreError> {
        self.max_physic = phy;
        let fs = self.file_size;
        while let Some(&last) = self.files.last() {
            let mut w = last;
            let mut delete = false;
            let mut max_physic = self.max_physic;
            self.scan_file(store, last, |rel, u| {
                if rel == 0 {
                    // The first unit is taken without a validity check.
                    if u.physical_offset >= phy {
                        delete = true;
                        return false;
                    }
                    w = last + UNIT;
                    max_physic = u.physical_offset.wrapping_add(i64::from(u.size));
                    true
                } else if u.is_valid() {
                    if u.physical_offset >= phy {
                        return false;
                    }
                    w = last + rel + UNIT;
                    max_physic = u.physical_offset.wrapping_add(i64::from(u.size));
                    // A full file ends the truncation.
                    rel + UNIT != fs
                } else {
                    false
                }
            })?;
            self.max_physic = max_physic;
            if delete {
                self.files.pop();
                self.disk.retain(|d| d.id != last);
                self.set_write(last);
                continue;
            }
            // (Java would loop forever on a one-unit file whose unit is kept.)
            self.set_write(w);
            break;
        }
        if self.files.is_empty() {
            self.set_write(0);
            self.min_logic = 0;
        }
        Ok(())
    }

    /// `correctMinOffset(minCommitLogOffset)`.
    fn correct_min_offset<S: PageRead>(
        &mut self,
        store: &S,
        min_commit: i64,
    ) -> Result<Option<Problem>, StoreError> {
        if self.min_logic >= self.write {
            return Ok(None);
        }
        let Some(&last) = self.files.last() else {
            return Ok(None);
        };
        let readable = self.write - last;
        if readable < UNIT {
            // Java's `selectMappedBuffer(readPosition - 20, 20)` throws here,
            // and the exception makes its `load()` fail.
            return Ok(Some(self.problem(
                last,
                Severity::Error,
                String::from(
                    "last file has no unit but the queue is not empty: Java's correctMinOffset throws and load() fails",
                ),
            )));
        }
        let u = self.raw_unit(store, last, last + readable - UNIT)?;
        if u.physical_offset < min_commit {
            self.min_logic = last + readable;
            return Ok(None);
        }
        let first = self.files[0];
        let (start, intact) = match self.min_logic.checked_sub(first) {
            Some(s) => (s, true),
            None => (0, false),
        };
        let rp = self.read_position(first);
        if start >= rp {
            return Ok(None);
        }
        let size = rp - start;
        let base = first + start;
        let off_at = |q: &Self, rel: u64| -> Result<i64, StoreError> {
            Ok(q.raw_unit(store, first, base + rel)?.physical_offset)
        };
        if intact && off_at(self, 0)? >= min_commit {
            return Ok(None);
        }
        let mut low = 0u64;
        let mut high = size.saturating_sub(UNIT);
        while high - low > UNIT {
            let mid = (low + high) / 2 / UNIT * UNIT;
            let o = off_at(self, mid)?;
            if o > min_commit {
                high = mid;
            } else if o == min_commit {
                low = mid;
                high = mid;
                break;
            } else {
                low = mid;
            }
        }
        let mut i = low;
        while i <= high {
            if off_at(self, i)? >= min_commit {
                self.min_logic = base + i;
                break;
            }
            i += UNIT;
        }
        Ok(None)
    }

    fn problem(&self, at: u64, severity: Severity, text: String) -> Problem {
        Problem {
            log: self.log.clone(),
            segment: self.file_of(at),
            offset: at,
            severity,
            kind: ProblemKind::Other(text),
        }
    }

    /// `get(i)` for every `i` from `getMinOffsetInQueue` to
    /// `getMaxOffsetInQueue`: calls `f(queue offset, unit)` in order. Units
    /// in no file (a gap in the names) are skipped, as `get` returns null.
    pub fn for_each_unit<S: PageRead>(
        &self,
        store: &S,
        mut f: impl FnMut(u64, CqUnit),
    ) -> Result<(), StoreError> {
        for &file in &self.files {
            let lo = self.min_logic.max(file);
            let hi = self.write.min(file + self.read_position(file));
            if lo >= hi {
                continue;
            }
            self.scan_file(store, file, |rel, u| {
                let pos = file + rel;
                if pos >= hi {
                    return false;
                }
                if pos >= lo {
                    f(pos / UNIT, u);
                }
                true
            })?;
        }
        Ok(())
    }

    /// All units with their queue offsets (see [`Self::for_each_unit`]).
    pub fn units<S: PageRead>(&self, store: &S) -> Result<Vec<(u64, CqUnit)>, StoreError> {
        let mut v = Vec::new();
        self.for_each_unit(store, |n, u| v.push((n, u)))?;
        Ok(v)
    }

    /// `get(i)`: the unit at queue offset `i`, `None` outside
    /// `[min_offset, max_offset)` or where no file holds it.
    pub fn get<S: PageRead>(&self, store: &S, i: u64) -> Result<Option<CqUnit>, StoreError> {
        let Some((file, pos)) = self.locate(i) else {
            return Ok(None);
        };
        self.raw_unit(store, file, pos).map(Some)
    }

    /// The file and logical position [`Self::get`] reads unit `i` from,
    /// `None` where it returns `None`.
    fn locate(&self, i: u64) -> Option<(u64, u64)> {
        let pos = i.checked_mul(UNIT)?;
        if pos < self.min_logic || pos >= self.write {
            return None;
        }
        let file = self.file_of(pos)?;
        if pos - file + UNIT > self.read_position(file) {
            return None;
        }
        Some((file, pos))
    }

    /// Where [`Self::raw_unit`] takes unit `i` from the disk file's bytes:
    /// (the disk file, position in it), `None` for units it takes elsewhere.
    fn disk_unit(&self, i: u64) -> Option<(SegmentInfo, u64)> {
        let (file, pos) = self.locate(i)?;
        if self.mem_unit(pos).is_some() {
            return None;
        }
        let d = self.disk.iter().find(|d| d.id == file)?;
        let rel = pos - file;
        (rel + UNIT <= d.len).then_some((*d, rel))
    }

    /// How many units from `i` (a disk unit at `rel` of `d`), at most `max`,
    /// [`Self::disk_unit`] places consecutively in `d`: the bounds it checks
    /// unit by unit, solved for the run at once (each holds for a prefix of
    /// the run). The run's last unit is checked unit-wise too; should the two
    /// ever disagree, every unit is checked.
    fn run_len(&self, i: u64, d: SegmentInfo, rel: u64, max: u64) -> u64 {
        let pos0 = d.id + rel;
        let file = d.id;
        // Starts must stay below: the write position, the units held in
        // memory, the next file, the end of this file's span.
        let next_file = self
            .files
            .iter()
            .copied()
            .find(|&s| s > file)
            .unwrap_or(u64::MAX);
        let below = self
            .write
            .min(self.mem_start.max(pos0.saturating_add(1)))
            .min(next_file)
            .min(file.saturating_add(self.file_size));
        // Ends must stay within the read position and the disk file.
        let fits = file.saturating_add(self.read_position(file).min(d.len));
        let by_start = below.saturating_sub(pos0).div_ceil(UNIT);
        let by_end = fits.saturating_sub(pos0) / UNIT;
        let k = max.min(by_start).min(by_end).max(1);
        let same = |k: u64| {
            i.checked_add(k)
                .and_then(|j| self.disk_unit(j))
                .is_some_and(|(e, r)| e.id == d.id && Some(r) == rel.checked_add(k * UNIT))
        };
        if self.mem_start > pos0 && same(k - 1) {
            return k;
        }
        // Unit by unit.
        let mut k = 1u64;
        while k < max && same(k) {
            k += 1;
        }
        k
    }

    /// Units `i, i + 1, ...` (at most `max`) appended to `out`, exactly as
    /// [`Self::get`] returns them, read in one store call as long as they
    /// are consecutive in one disk file. False (nothing appended) when unit
    /// `i` is not a disk unit; the caller then uses [`Self::get`].
    fn read_run<S: PageRead>(
        &self,
        store: &S,
        i: u64,
        max: u64,
        out: &mut Vec<CqUnit>,
    ) -> Result<bool, StoreError> {
        let Some((d, rel)) = self.disk_unit(i) else {
            return Ok(false);
        };
        let k = self.run_len(i, d, rel, max);
        let read = store.with_view(&self.log, d.id, rel, k * UNIT, |b| {
            out.extend(
                b.chunks_exact(CQ_UNIT_SIZE)
                    .map(|u| CqUnit::decode(u).unwrap_or_default()),
            );
        });
        // A file shorter than listed: `get` reports (or reads) it unit by unit.
        Ok(read.is_ok())
    }
}
