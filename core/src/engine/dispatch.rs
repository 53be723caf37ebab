//! Dispatch: what the reference's `ReputMessageService` derives from each
//! stored record, namely a ConsumeQueue unit (`ConsumeQueue.putMessagePositionInfo`,
//! with `fillPreBlank`) and IndexFile entries (`IndexService.buildIndex`,
//! `IndexFile.putKey`), written through a [`PageStore`].
//!
//! Index files can be hundreds of megabytes, so keys are inserted and looked up
//! with small reads and writes (header, one slot, one entry), never by loading
//! a whole file.

use crate::codec::checkpoint::IndexSyncPoint;
use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};

use super::commitlog::seglog::SegLog;
use super::commitlog::{EngineError, MAX_QUEUE_OFFSET};
use crate::be;
use crate::codec::consume_queue::{CQ_UNIT_SIZE, CqUnit};
use crate::codec::index_file::{
    ENTRY_LEN, HEADER_LEN, IndexEntry, IndexGeometry, IndexHeader, index_key, index_key_hash,
    key_hash,
};
use crate::codec::message::{MessageView, SysFlag};
use crate::codec::properties::keys;
use crate::store::{LogId, PageStore, SegmentId, StoreError};

/// What dispatch needs to know about a stored record (`DispatchRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// Physical offset of the record.
    pub offset: u64,
    /// TOTALSIZE.
    pub size: i32,
    /// Topic (decoded as Java does).
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// SYSFLAG.
    pub sys_flag: i32,
    /// STORETIMESTAMP.
    pub store_timestamp: i64,
    /// Consume-queue tags code.
    pub tags_code: i64,
    /// `UNIQ_KEY` property.
    pub uniq_key: Option<String>,
    /// `KEYS` property.
    pub keys: Option<String>,
}

impl RecordMeta {
    /// Extracts the dispatch facts of a decoded record at `offset`.
    pub fn of(m: &MessageView<'_>, offset: u64) -> Self {
        RecordRef::of(m, offset).into_owned()
    }

    /// Whether the record gets a consume-queue unit (transaction NOT or COMMIT).
    pub fn to_queue(&self) -> bool {
        self.as_ref().to_queue()
    }

    /// Whether the record is indexed (everything but ROLLBACK).
    pub fn to_index(&self) -> bool {
        self.as_ref().to_index()
    }

    /// The consume-queue unit for this record.
    pub fn unit(&self) -> CqUnit {
        self.as_ref().unit()
    }

    /// The index keys in insertion order: `topic#UNIQ_KEY`, then `topic#k` for
    /// every non-empty space-separated token of `KEYS`.
    pub fn index_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = &self.uniq_key {
            out.push(index_key(&self.topic, u));
        }
        if let Some(k) = &self.keys {
            for t in k.split(' ').filter(|t| !t.is_empty()) {
                out.push(index_key(&self.topic, t));
            }
        }
        out
    }
}

impl RecordMeta {
    /// The same facts, borrowed.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            offset: self.offset,
            size: self.size,
            topic: Cow::Borrowed(&self.topic),
            queue_id: self.queue_id,
            queue_offset: self.queue_offset,
            sys_flag: self.sys_flag,
            store_timestamp: self.store_timestamp,
            tags_code: self.tags_code,
            uniq_key: self.uniq_key.as_deref().map(Cow::Borrowed),
            keys: self.keys.as_deref().map(Cow::Borrowed),
        }
    }
}

/// [`RecordMeta`] borrowing from the record: what the put path dispatches,
/// with no allocation unless a text field is not valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Physical offset of the record.
    pub offset: u64,
    /// TOTALSIZE.
    pub size: i32,
    /// Topic (decoded as Java does).
    pub topic: Cow<'a, str>,
    /// Queue id.
    pub queue_id: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// SYSFLAG.
    pub sys_flag: i32,
    /// STORETIMESTAMP.
    pub store_timestamp: i64,
    /// Consume-queue tags code.
    pub tags_code: i64,
    /// `UNIQ_KEY` property.
    pub uniq_key: Option<Cow<'a, str>>,
    /// `KEYS` property.
    pub keys: Option<Cow<'a, str>>,
}

impl<'a> RecordRef<'a> {
    /// Extracts the dispatch facts of a decoded record at `offset`.
    pub fn of(m: &MessageView<'a>, offset: u64) -> Self {
        let text = |k: &str| m.property(k).map(String::from_utf8_lossy);
        Self {
            offset,
            size: m.total_size,
            topic: m.topic_str(),
            queue_id: m.queue_id,
            queue_offset: m.queue_offset,
            sys_flag: m.sys_flag.0,
            store_timestamp: m.store_timestamp,
            tags_code: m.tags_code(),
            uniq_key: text(keys::UNIQ_KEY),
            keys: text(keys::KEYS),
        }
    }

    /// Whether the record gets a consume-queue unit (transaction NOT or COMMIT).
    pub fn to_queue(&self) -> bool {
        SysFlag(self.sys_flag).dispatched_to_queue()
    }

    /// Whether the record is indexed (everything but ROLLBACK).
    pub fn to_index(&self) -> bool {
        SysFlag(self.sys_flag).transaction() != SysFlag::TRANSACTION_ROLLBACK
    }

    /// The consume-queue unit for this record.
    pub fn unit(&self) -> CqUnit {
        CqUnit {
            physical_offset: self.offset as i64,
            size: self.size,
            tags_code: self.tags_code,
        }
    }

    /// The same facts, owned.
    pub fn into_owned(self) -> RecordMeta {
        RecordMeta {
            offset: self.offset,
            size: self.size,
            topic: self.topic.into_owned(),
            queue_id: self.queue_id,
            queue_offset: self.queue_offset,
            sys_flag: self.sys_flag,
            store_timestamp: self.store_timestamp,
            tags_code: self.tags_code,
            uniq_key: self.uniq_key.map(Cow::into_owned),
            keys: self.keys.map(Cow::into_owned),
        }
    }

    /// The index keys (without the `topic#` prefix) in insertion order, as
    /// [`RecordMeta::index_keys`] lists them.
    pub fn key_suffixes(&self) -> impl Iterator<Item = &str> {
        self.uniq_key.as_deref().into_iter().chain(
            self.keys
                .as_deref()
                .into_iter()
                .flat_map(|k| k.split(' ').filter(|t| !t.is_empty())),
        )
    }
}

/// A consume queue's name, `(topic, queue id)`, looked up in maps keyed by
/// `(String, i32)` without building a `String`: `map.get(&("T", 0) as &dyn QueueKey)`.
pub trait QueueKey {
    /// Topic and queue id (one call: map searches compare many keys).
    fn key(&self) -> (&str, i32);
}

impl QueueKey for (String, i32) {
    fn key(&self) -> (&str, i32) {
        (&self.0, self.1)
    }
}

impl QueueKey for (&str, i32) {
    fn key(&self) -> (&str, i32) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn QueueKey + 'a> for (String, i32) {
    fn borrow(&self) -> &(dyn QueueKey + 'a) {
        self
    }
}

// Ordering, equality and hash agree with `(String, i32)`'s, as `Borrow` requires.
impl PartialEq for dyn QueueKey + '_ {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for dyn QueueKey + '_ {}
impl PartialOrd for dyn QueueKey + '_ {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for dyn QueueKey + '_ {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key().cmp(&o.key())
    }
}
impl Hash for dyn QueueKey + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // As `(String, i32)` hashes: the topic's bytes, then the id.
        let (t, q) = self.key();
        t.hash(h);
        q.hash(h);
    }
}

/// Byte position of queue offset `qo` in its consume queue, if it has one
/// (`0..=MAX_QUEUE_OFFSET`; a record's QUEUEOFFSET is an untrusted field).
pub(crate) fn unit_pos(qo: i64) -> Option<u64> {
    if (0..=MAX_QUEUE_OFFSET).contains(&qo) {
        u64::try_from(qo).ok()?.checked_mul(CQ_UNIT_SIZE as u64)
    } else {
        None
    }
}

/// Why [`ConsumeQueue::put`] wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitPutError {
    /// The page store failed.
    Store(StoreError),
    /// The record's QUEUEOFFSET has no place in the queue.
    QueueOffset {
        /// The consume queue.
        log: LogId,
        /// The QUEUEOFFSET given.
        given: i64,
        /// The queue's next offset.
        next: i64,
        /// Why it cannot be placed.
        why: &'static str,
    },
}

impl fmt::Display for UnitPutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "{e}"),
            Self::QueueOffset {
                log,
                given,
                next,
                why,
            } => write!(f, "{log}: queue offset {given} {why} (next offset {next})"),
        }
    }
}

impl core::error::Error for UnitPutError {}

impl From<StoreError> for UnitPutError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<UnitPutError> for EngineError {
    fn from(e: UnitPutError) -> Self {
        match e {
            UnitPutError::Store(e) => Self::Store(e),
            UnitPutError::QueueOffset { given, next, .. } => Self::ReplayMismatch {
                field: "queueOffset",
                expected: next,
                given,
            },
        }
    }
}

/// Result of [`ConsumeQueue::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitPut {
    /// Written at the expected position.
    Appended,
    /// Written after `fillPreBlank` filled the first file up to it.
    AfterPreBlank {
        /// Filler units written.
        fillers: u64,
    },
    /// Written after filling a gap of `fillers` units with fillers.
    AfterGap {
        /// Filler units written.
        fillers: u64,
    },
}

/// One consume queue (`consumequeue/<topic>/<queue>/`): 20-byte units at
/// `queue offset × 20`.
#[derive(Debug, Clone)]
pub struct ConsumeQueue {
    pub(crate) log: SegLog,
}

impl ConsumeQueue {
    /// An empty queue with files of `file_size` bytes (a multiple of 20).
    pub fn new(topic: &str, queue_id: i32, file_size: u64) -> Self {
        Self {
            log: SegLog::new(
                LogId::ConsumeQueue {
                    topic: topic.to_string(),
                    queue_id,
                },
                file_size,
                0,
            ),
        }
    }

    /// Next queue offset (units written, fillers included).
    pub fn max_offset(&self) -> i64 {
        (self.log.end / CQ_UNIT_SIZE as u64) as i64
    }

    /// First queue offset still stored.
    pub fn min_offset(&self) -> i64 {
        (self.log.min() / CQ_UNIT_SIZE as u64) as i64
    }

    /// The unit at queue offset `qo`, if stored.
    pub fn unit<S: PageStore>(&self, store: &S, qo: i64) -> Result<Option<CqUnit>, StoreError> {
        if qo < self.min_offset() || qo >= self.max_offset() {
            return Ok(None);
        }
        let Some(abs) = unit_pos(qo) else {
            return Ok(None);
        };
        let mut b = [0u8; CQ_UNIT_SIZE];
        self.log.read_at(store, abs, &mut b)?;
        Ok(CqUnit::decode(&b))
    }

    /// Makes every unit written so far durable.
    pub fn sync<S: PageStore>(&mut self, store: &S) -> Result<(), StoreError> {
        self.log.sync(store)
    }

    /// Writes fillers over `[from, to)` (byte offsets, unit aligned).
    fn fill<S: PageStore>(&mut self, store: &S, from: u64, to: u64) -> Result<u64, StoreError> {
        const PER: usize = 204; // 204 units = 4080 bytes per write
        let chunk: Vec<u8> = (0..PER).flat_map(|_| CqUnit::FILLER.encode()).collect();
        let mut p = from;
        while p < to {
            let seg_end = (p / self.log.file_size + 1) * self.log.file_size;
            let n = (to - p).min(chunk.len() as u64).min(seg_end - p);
            self.log.write_at(store, p, &chunk[..n as usize])?;
            p += n;
        }
        Ok((to - from) / CQ_UNIT_SIZE as u64)
    }

    /// Appends `unit` at queue offset `qo`, which must be at or after the
    /// current end. A queue with no file yet whose first unit is not at 0 gets
    /// its first file pre-filled with fillers up to `qo` (`fillPreBlank`); a gap
    /// in a queue that has files is filled with fillers too (the reference only
    /// logs it and then writes at the wrong position).
    ///
    /// `qo` comes from a record, so nothing is sized by it: it must lie in
    /// `0..=MAX_QUEUE_OFFSET`, not below the first stored unit, and at most
    /// one file past the current end (so at most one file of fillers is
    /// written); otherwise [`UnitPutError::QueueOffset`] and nothing changes.
    pub fn put<S: PageStore>(
        &mut self,
        store: &S,
        qo: i64,
        unit: CqUnit,
    ) -> Result<UnitPut, UnitPutError> {
        let refuse = |why| UnitPutError::QueueOffset {
            log: self.log.log.clone(),
            given: qo,
            next: self.max_offset(),
            why,
        };
        let Some(abs) = unit_pos(qo) else {
            return Err(refuse("is negative or beyond any consume-queue position"));
        };
        let fresh = self.log.segs.is_empty() && self.log.end == 0;
        if !fresh && abs < self.log.min() {
            return Err(refuse("lies below the first stored unit"));
        }
        if !fresh && abs - self.log.end.min(abs) > self.log.file_size {
            // Filling this gap would write fillers sized by the record's field.
            return Err(refuse("jumps more than one consume-queue file ahead"));
        }
        let mut out = UnitPut::Appended;
        if fresh && abs > 0 {
            let first = abs - abs % self.log.file_size;
            self.log.end = first;
            self.log.synced = first;
            let fillers = self.fill(store, first, abs)?;
            out = UnitPut::AfterPreBlank { fillers };
        } else if abs > self.log.end {
            let fillers = self.fill(store, self.log.end, abs)?;
            out = UnitPut::AfterGap { fillers };
        }
        self.log.write_at(store, abs, &unit.encode())?;
        Ok(out)
    }
}

/// The IndexFile set (`index/`): files named by creation time, the last one
/// active.
#[derive(Debug, Clone)]
pub struct IndexFiles {
    /// Slot and entry counts.
    pub geometry: IndexGeometry,
    /// Every file with its header, ascending by name.
    pub(crate) files: Vec<(SegmentId, IndexHeader)>,
    /// `endTimestamp` of the last file sealed because it became full
    /// (`indexMsgTimestamp`).
    pub sealed_timestamp: i64,
    /// The active file has unsynced changes.
    pub(crate) dirty: bool,
    /// What the last [`Self::sync`] made durable: the checkpoint carries it
    /// so that recovery after a crash checks only the entries after it.
    pub(crate) synced: Option<IndexSyncPoint>,
    /// The sync point last written to the store.
    pub(crate) sync_point_written: Option<IndexSyncPoint>,
}

/// Names a new index file (`yyyyMMddHHmmssSSS` of the given time, local time
/// zone); the host supplies it because the core has no clock or time zone.
/// `Send`, so an engine holding one can move to (and be shared through a
/// mutex with) other threads.
pub type IndexNamer = dyn FnMut(i64) -> u64 + Send;

impl IndexFiles {
    /// No files yet.
    pub fn new(geometry: IndexGeometry) -> Self {
        Self {
            geometry,
            files: Vec::new(),
            sealed_timestamp: 0,
            dirty: false,
            synced: None,
            sync_point_written: None,
        }
    }

    /// The files and their headers, oldest first.
    pub fn files(&self) -> &[(SegmentId, IndexHeader)] {
        &self.files
    }

    /// Reads a header from the store.
    pub(crate) fn read_header<S: PageStore>(
        store: &S,
        seg: SegmentId,
    ) -> Result<IndexHeader, StoreError> {
        let mut b = [0u8; HEADER_LEN];
        store.read(&LogId::IndexFile, seg, 0, &mut b)?;
        Ok(IndexHeader::decode(&b).unwrap_or_default())
    }

    /// Creates a new file after the last one, its header pre-set from the
    /// previous file's end as `new IndexFile(..., endPhyOffset, endTimestamp)` does.
    pub(crate) fn create<S: PageStore>(
        &mut self,
        store: &S,
        namer: &mut dyn FnMut(i64) -> u64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut name = namer(now_ms);
        if let Some(&(last, _)) = self.files.last()
            && name <= last
        {
            // Two files in one millisecond (or a clock step back): keep names unique and ordered.
            name = last + 1;
        }
        let mut h = IndexHeader::default();
        if let Some(&(_, prev)) = self.files.last() {
            if prev.end_phy_offset > 0 {
                h.begin_phy_offset = prev.end_phy_offset;
                h.end_phy_offset = prev.end_phy_offset;
            }
            if prev.end_timestamp > 0 {
                h.begin_timestamp = prev.end_timestamp;
                h.end_timestamp = prev.end_timestamp;
            }
        }
        store.create(&LogId::IndexFile, name, self.geometry.file_len())?;
        store.sync_dir(&LogId::IndexFile)?;
        store.write(&LogId::IndexFile, name, 0, &h.encode())?;
        self.files.push((name, h));
        self.dirty = true;
        Ok(())
    }

    /// Makes the active file durable, and remembers how far ([`Self::sync_point`]).
    pub fn sync<S: PageStore>(&mut self, store: &S) -> Result<(), StoreError> {
        if let Some(&(seg, h)) = self.files.last() {
            let point = IndexSyncPoint {
                file: seg,
                count: h.effective_count(),
            };
            // Also when nothing changed since this engine opened the file:
            // the sync point may only vouch for what this process synced.
            if self.dirty || self.synced != Some(point) {
                store.sync(&LogId::IndexFile, seg, 0..self.geometry.file_len())?;
            }
            self.synced = Some(point);
        }
        self.dirty = false;
        Ok(())
    }

    /// The active file's entries the last [`Self::sync`] made durable.
    pub fn sync_point(&self) -> Option<IndexSyncPoint> {
        self.synced
    }

    /// `IndexService.buildIndex` for one record, skipping its first `skip`
    /// keys (already stored in the previous file when a rebuild starts at a
    /// record split across two files). Returns the number of keys added.
    pub fn build<S: PageStore>(
        &mut self,
        store: &S,
        rec: &RecordMeta,
        skip: usize,
        namer: &mut dyn FnMut(i64) -> u64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.build_ref(store, &rec.as_ref(), skip, namer, now_ms)
    }

    /// [`Self::build`] for a borrowed record: no key string is built (the
    /// `topic#key` hash is computed piecewise).
    pub fn build_ref<S: PageStore>(
        &mut self,
        store: &S,
        rec: &RecordRef<'_>,
        skip: usize,
        namer: &mut dyn FnMut(i64) -> u64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        if !rec.to_index() {
            return Ok(0);
        }
        let mut n = 0;
        for key in rec.key_suffixes().skip(skip) {
            self.put_key(
                store,
                index_key_hash(&rec.topic, key),
                rec.offset as i64,
                rec.store_timestamp,
                namer,
                now_ms,
            )?;
            n += 1;
        }
        Ok(n)
    }

    fn put_key<S: PageStore>(
        &mut self,
        store: &S,
        hash: i32,
        phy: i64,
        ts: i64,
        namer: &mut dyn FnMut(i64) -> u64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // A fresh file always has room (the config requires at least 2 entries),
        // so this loop runs at most twice.
        for _ in 0..3 {
            if self.files.is_empty() {
                self.create(store, namer, now_ms)?;
            }
            let g = self.geometry;
            let Some((seg, h)) = self.files.last_mut() else {
                continue;
            };
            if put_key_at(store, g, *seg, h, hash, phy, ts)? {
                self.dirty = true;
                return Ok(());
            }
            // Full: make it durable before anything goes to the next file, and
            // remember its end as indexMsgTimestamp.
            let (seg, end_ts) = (*seg, h.end_timestamp);
            store.sync(&LogId::IndexFile, seg, 0..g.file_len())?;
            self.dirty = false;
            self.sealed_timestamp = end_ts;
            self.create(store, namer, now_ms)?;
        }
        Err(StoreError::new(
            crate::store::StoreErrorKind::Other,
            "index file geometry leaves no room for a key",
        ))
    }

    /// `IndexService.queryOffset`: offsets whose key hash matches
    /// `topic#key`, newest file first, stored in `[begin, end]`, at most `max`.
    /// Hash collisions are included, as in the reference.
    pub fn query<S: PageStore>(
        &self,
        store: &S,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let k = index_key(topic, key);
        let mut out = Vec::new();
        for &(seg, h) in self.files.iter().rev() {
            let matched = (begin < h.begin_timestamp && end > h.end_timestamp)
                || (begin >= h.begin_timestamp && begin <= h.end_timestamp)
                || (end >= h.begin_timestamp && end <= h.end_timestamp);
            if matched {
                select_at(store, self.geometry, seg, &h, &k, begin, end, max, &mut out)?;
            }
            if h.begin_timestamp < begin || out.len() >= max {
                break;
            }
        }
        Ok(out)
    }
}

fn read_i32<S: PageStore>(store: &S, seg: SegmentId, pos: usize) -> Result<i32, StoreError> {
    let mut b = [0u8; 4];
    store.read(&LogId::IndexFile, seg, pos as u64, &mut b)?;
    Ok(i32::from_be_bytes(b))
}

fn read_entry<S: PageStore>(
    store: &S,
    g: IndexGeometry,
    seg: SegmentId,
    n: u32,
) -> Result<IndexEntry, StoreError> {
    let mut b = [0u8; ENTRY_LEN];
    store.read(&LogId::IndexFile, seg, g.entry_pos(n) as u64, &mut b)?;
    Ok(IndexEntry::decode(&b).unwrap_or_default())
}

/// `IndexFile.putKey` over the store: entry, then slot, then header. `false`
/// when the file is full.
pub(crate) fn put_key_at<S: PageStore>(
    store: &S,
    g: IndexGeometry,
    seg: SegmentId,
    h: &mut IndexHeader,
    hash: i32,
    phy: i64,
    ts: i64,
) -> Result<bool, StoreError> {
    if h.index_count < 0 || h.index_count as u32 >= g.entries || g.slots == 0 {
        return Ok(false);
    }
    let s = (hash as u32) % g.slots;
    let count = h.effective_count();
    let mut slot_value = read_i32(store, seg, g.slot_pos(s))?;
    if slot_value <= 0 || slot_value > count {
        slot_value = 0;
    }
    let time_diff = if h.begin_timestamp <= 0 {
        0
    } else {
        // Java `long` arithmetic wraps; the header comes from the file.
        (ts.wrapping_sub(h.begin_timestamp) / 1000).clamp(0, i64::from(i32::MAX)) as i32
    };
    let e = IndexEntry {
        key_hash: hash,
        phy_offset: phy,
        time_diff,
        prev: slot_value,
    };
    let mut sb = [0u8; 4];
    be::put_i32(&mut sb, 0, count);
    let mut nh = *h;
    if nh.index_count <= 1 {
        nh.begin_phy_offset = phy;
        nh.begin_timestamp = ts;
    }
    if slot_value == 0 {
        nh.hash_slot_count = nh.hash_slot_count.wrapping_add(1);
    }
    nh.index_count = count + 1;
    nh.end_phy_offset = phy;
    nh.end_timestamp = ts;
    // Entry, then slot, then header, as `IndexFile.putKey` (one look-up).
    store.write_pieces(
        &LogId::IndexFile,
        seg,
        &[
            (g.entry_pos(count as u32) as u64, &e.encode()),
            (g.slot_pos(s) as u64, &sb),
            (0, &nh.encode()),
        ],
    )?;
    *h = nh;
    Ok(true)
}

/// `IndexFile.selectPhyOffset` over the store.
#[allow(clippy::too_many_arguments)]
fn select_at<S: PageStore>(
    store: &S,
    g: IndexGeometry,
    seg: SegmentId,
    h: &IndexHeader,
    key: &str,
    begin: i64,
    end: i64,
    max: usize,
    out: &mut Vec<i64>,
) -> Result<(), StoreError> {
    if g.slots == 0 {
        return Ok(());
    }
    let hash = key_hash(key);
    let head = read_i32(store, seg, g.slot_pos((hash as u32) % g.slots))?;
    let count = h.index_count;
    if head <= 0 || head > count || count <= 1 {
        return Ok(());
    }
    let mut cur = head;
    // Entry numbers can only repeat in a hostile file; bound the walk anyway.
    for _ in 0..g.entries {
        if out.len() >= max || cur as u32 >= g.entries {
            break;
        }
        let e = read_entry(store, g, seg, cur as u32)?;
        if e.time_diff < 0 {
            break;
        }
        let t = h
            .begin_timestamp
            .saturating_add(i64::from(e.time_diff) * 1000);
        if e.key_hash == hash && t >= begin && t <= end {
            out.push(e.phy_offset);
        }
        let prev = e.prev;
        if prev <= 0 || prev > count || prev == cur || t < begin {
            break;
        }
        cur = prev;
    }
    Ok(())
}

/// Number of trailing entries of a file whose offset equals its `endPhyOffset`
/// (the keys of the last record that went into it).
pub(crate) fn trailing_keys_of_last<S: PageStore>(
    store: &S,
    g: IndexGeometry,
    seg: SegmentId,
    h: &IndexHeader,
) -> Result<usize, StoreError> {
    let mut n = 0;
    let mut i = h.index_count.saturating_sub(1);
    while i >= 1 && (i as u32) < g.entries {
        if read_entry(store, g, seg, i as u32)?.phy_offset != h.end_phy_offset {
            break;
        }
        n += 1;
        i -= 1;
    }
    Ok(n)
}

/// Every entry of a file (numbers 1..indexCount), for checks.
pub fn entries<S: PageStore>(
    store: &S,
    g: IndexGeometry,
    seg: SegmentId,
) -> Result<Vec<IndexEntry>, StoreError> {
    let h = IndexFiles::read_header(store, seg)?;
    let n = (h.index_count.max(1) as u32).min(g.entries);
    let mut out = vec![];
    for i in 1..n {
        out.push(read_entry(store, g, seg, i)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;
    use crate::store::PageRead;

    const FILE: u64 = 5 * CQ_UNIT_SIZE as u64;

    fn unit(phy: i64) -> CqUnit {
        CqUnit {
            physical_offset: phy,
            size: 100,
            tags_code: 0,
        }
    }

    fn refused(r: Result<UnitPut, UnitPutError>) -> (i64, i64, &'static str) {
        match r {
            Err(UnitPutError::QueueOffset {
                given, next, why, ..
            }) => (given, next, why),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn segs(s: &MemStore) -> Vec<SegmentId> {
        let log = LogId::ConsumeQueue {
            topic: "T".to_string(),
            queue_id: 0,
        };
        s.segments(&log).unwrap().iter().map(|i| i.id).collect()
    }

    #[test]
    fn borrowed_queue_keys_find_what_owned_keys_stored() {
        use alloc::collections::BTreeMap;
        // Ordering must agree with `(String, i32)`'s for `BTreeMap` to work.
        let keys = [
            ("A", 2),
            ("A", 10),
            ("AB", 0),
            ("B", -1),
            ("", 5),
            ("\u{e9}", 1),
        ];
        let mut m = BTreeMap::new();
        for (i, (t, q)) in keys.iter().enumerate() {
            m.insert((t.to_string(), *q), i);
        }
        for (i, (t, q)) in keys.iter().enumerate() {
            assert_eq!(m.get(&(*t, *q) as &dyn QueueKey), Some(&i));
        }
        assert_eq!(m.get(&("A", 3) as &dyn QueueKey), None);
        assert_eq!(m.get(&("C", 2) as &dyn QueueKey), None);
        // Both feed a hasher the same stream (what `HashMap` needs).
        #[derive(Default)]
        struct Recorder(Vec<u8>);
        impl Hasher for Recorder {
            fn write(&mut self, b: &[u8]) {
                self.0.extend_from_slice(b);
            }
            fn finish(&self) -> u64 {
                0
            }
        }
        for (t, q) in keys {
            let (mut a, mut b) = (Recorder::default(), Recorder::default());
            (t.to_string(), q).hash(&mut a);
            (&(t, q) as &dyn QueueKey).hash(&mut b);
            assert_eq!(a.0, b.0, "{t} {q}");
        }
    }

    #[test]
    fn queue_offsets_without_a_position_are_refused() {
        let s = MemStore::new();
        let mut q = ConsumeQueue::new("T", 0, FILE);
        for qo in [-1, i64::MIN, i64::MAX, MAX_QUEUE_OFFSET + 1] {
            let (given, next, why) = refused(q.put(&s, qo, unit(0)));
            assert_eq!((given, next), (qo, 0));
            assert!(why.contains("negative or beyond"), "{why}");
        }
        assert!(segs(&s).is_empty(), "a refusal wrote something");
        // The last position there is: `fillPreBlank` writes one file at most.
        assert_eq!(
            q.put(&s, MAX_QUEUE_OFFSET, unit(0)).unwrap(),
            UnitPut::AfterPreBlank {
                fillers: (MAX_QUEUE_OFFSET % 5) as u64
            }
        );
        assert_eq!(segs(&s).len(), 1);
        assert_eq!(q.max_offset(), MAX_QUEUE_OFFSET + 1);
        assert_eq!(q.unit(&s, MAX_QUEUE_OFFSET).unwrap(), Some(unit(0)));
        assert_eq!(q.unit(&s, i64::MAX).unwrap(), None);
        assert_eq!(q.unit(&s, -1).unwrap(), None);
    }

    #[test]
    fn gaps_are_filled_up_to_one_file() {
        let s = MemStore::new();
        let mut q = ConsumeQueue::new("T", 0, FILE);
        assert_eq!(q.put(&s, 0, unit(0)).unwrap(), UnitPut::Appended);
        // 2^40: filling up to it would write ~22 TB of fillers.
        let (given, next, why) = refused(q.put(&s, 1 << 40, unit(100)));
        assert_eq!((given, next), (1 << 40, 1));
        assert!(why.contains("more than one consume-queue file"), "{why}");
        // One file past the end is the most a gap may take.
        let (_, _, why) = refused(q.put(&s, 1 + 5 + 1, unit(100)));
        assert!(why.contains("more than one"), "{why}");
        assert_eq!(segs(&s), [0]);
        assert_eq!(
            q.put(&s, 1 + 5, unit(100)).unwrap(),
            UnitPut::AfterGap { fillers: 5 }
        );
        assert_eq!(segs(&s), [0, FILE]);
        assert_eq!(q.unit(&s, 3).unwrap(), Some(CqUnit::FILLER));
        assert_eq!(q.unit(&s, 6).unwrap(), Some(unit(100)));
        assert_eq!(q.max_offset(), 7);
    }

    #[test]
    fn units_below_the_first_file_are_refused() {
        let s = MemStore::new();
        let mut q = ConsumeQueue::new("T", 0, FILE);
        assert_eq!(
            q.put(&s, 12, unit(0)).unwrap(),
            UnitPut::AfterPreBlank { fillers: 2 }
        );
        assert_eq!(q.min_offset(), 10);
        let (given, next, why) = refused(q.put(&s, 3, unit(0)));
        assert_eq!((given, next), (3, 13));
        assert!(why.contains("below the first"), "{why}");
        assert_eq!(segs(&s), [2 * FILE]);
        // The refusal converts to an engine error naming the field.
        let e = EngineError::from(q.put(&s, -5, unit(0)).unwrap_err());
        assert_eq!(
            e,
            EngineError::ReplayMismatch {
                field: "queueOffset",
                expected: 13,
                given: -5
            }
        );
    }
}
