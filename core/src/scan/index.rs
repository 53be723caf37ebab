//! Key look-ups through IndexFile hash chains, exactly as
//! `DefaultMessageStore.queryMessage(topic, key, 64, 0, Long.MAX_VALUE)`
//! returns offsets after Java's `load()`.
//!
//! Java's index after load is:
//!
//! * the index files, in name order, minus — after an unclean shutdown — every
//!   file whose `endTimestamp` is past the checkpoint's `indexMsgTimestamp`
//!   (`IndexService.load(lastExitOK=false)` deletes them);
//! * plus the keys of every record the CommitLog recovery re-dispatches
//!   (`IndexService.buildIndex`): appended to the last file while it is not
//!   full, else to a new file, skipping records below that file's
//!   `endPhyOffset` and ROLLBACK records; UNIQ_KEY first, then each KEYS token.
//!
//! Keys added in memory are kept as sparse overlays (header, touched slots,
//! new entries), so the memory used is proportional to the keys added, never
//! to a file size read from disk.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;

use crate::codec::checkpoint::StoreCheckpoint;
use crate::codec::index_file::{
    self, ENTRY_LEN, HEADER_LEN, IndexEntry, IndexGeometry, IndexHeader, SLOT_LEN, key_hash,
};
use crate::codec::message::{MessageView, SysFlag};
use crate::codec::properties::{self, keys};
use crate::scan::rocketmq::{self, DispatchRequest, Item, Summary, WalkOptions};
use crate::scan::{Problem, ProblemKind, Severity};
use crate::store::{LogId, PageRead, SegmentId, SegmentInfo, StoreError};

/// Index settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `maxHashSlotNum` / `maxIndexNum`; inferred from the file length with
    /// [`IndexGeometry::guess`] when `None` (the default geometry without files).
    pub geometry: Option<IndexGeometry>,
    /// `maxMsgsNumBatch` (default 64): the cap on offsets per query.
    pub max_msgs_num_batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            geometry: None,
            max_msgs_num_batch: 64,
        }
    }
}

/// One index file as Java holds it.
#[derive(Debug, Clone)]
pub struct IndexFileState {
    /// The segment (17-digit name) on disk; `None` for a file created in memory.
    name: Option<SegmentId>,
    disk_len: u64,
    /// Java's in-memory header (`indexCount <= 0` loads as 1).
    header: IndexHeader,
    /// Entries numbered from here on live in `entries`.
    base_count: i32,
    slots: BTreeMap<u32, i32>,
    entries: Vec<IndexEntry>,
}

impl IndexFileState {
    /// The segment id on disk (`None` for a file created while re-dispatching).
    pub fn name(&self) -> Option<SegmentId> {
        self.name
    }
    /// The header as Java holds it.
    pub fn header(&self) -> &IndexHeader {
        &self.header
    }
    /// Keys added in memory.
    pub fn added(&self) -> usize {
        self.entries.len()
    }
}

/// The index files after Java's load and recovery.
#[derive(Debug, Clone)]
pub struct IndexService {
    geometry: IndexGeometry,
    max_num: usize,
    files: Vec<IndexFileState>,
    problems: Vec<Problem>,
}

fn problem(segment: Option<u64>, severity: Severity, text: String) -> Problem {
    Problem {
        log: LogId::IndexFile,
        segment,
        offset: 0,
        severity,
        kind: ProblemKind::Other(text),
    }
}

/// Reads a slot or entry: the overlay first, then the disk bytes (`disk` is
/// the file's bytes cut at the geometry's length), zeros past them.
struct Source<'a> {
    g: IndexGeometry,
    f: &'a IndexFileState,
    disk: &'a [u8],
}

impl Source<'_> {
    fn slot(&self, s: u32) -> i32 {
        if let Some(&v) = self.f.slots.get(&s) {
            return v;
        }
        read_i32(self.disk, self.g.slot_pos(s))
    }

    /// `None` past the geometry (Java's buffer access throws there).
    fn entry(&self, n: i32) -> Option<IndexEntry> {
        if n < 0 || n as u32 >= self.g.entries {
            return None;
        }
        if n >= self.f.base_count
            && let Some(e) = usize::try_from(n - self.f.base_count)
                .ok()
                .and_then(|i| self.f.entries.get(i))
        {
            return Some(*e);
        }
        let p = self.g.entry_pos(n as u32);
        let mut b = [0u8; ENTRY_LEN];
        if let Some(src) = self.disk.get(p..) {
            let k = src.len().min(ENTRY_LEN);
            b[..k].copy_from_slice(&src[..k]);
        }
        IndexEntry::decode(&b)
    }

    /// `IndexFile.selectPhyOffset`.
    fn select(&self, key: &str, begin: i64, end: i64, max: usize, out: &mut Vec<i64>) {
        let g = self.g;
        if g.slots == 0 {
            return;
        }
        let h = &self.f.header;
        let hash = key_hash(key);
        let head = self.slot(hash as u32 % g.slots);
        let count = h.index_count;
        if head <= 0 || head > count || count <= 1 {
            return;
        }
        let mut cur = head;
        // A chain visits each entry once unless it is corrupt; Java would
        // loop forever on a cycle, this stops after as many steps as entries.
        for _ in 0..=g.entries {
            if out.len() >= max {
                break;
            }
            let Some(e) = self.entry(cur) else { break };
            if e.time_diff < 0 {
                break;
            }
            let t = h
                .begin_timestamp
                .wrapping_add(i64::from(e.time_diff) * 1000);
            if e.key_hash == hash && t >= begin && t <= end {
                out.push(e.phy_offset);
            }
            let prev = e.prev;
            if prev <= 0 || prev > count || prev == cur || t < begin {
                break;
            }
            cur = prev;
        }
    }
}

/// The geometry every index file must have: configured, else guessed from
/// the most common file length ([`IndexGeometry::DEFAULT`] when that fails,
/// with an error).
fn geometry_of(cfg: &Config, segs: &[SegmentInfo], problems: &mut Vec<Problem>) -> IndexGeometry {
    let guessed = rocketmq::infer_file_size(segs).and_then(IndexGeometry::guess);
    match (cfg.geometry, guessed) {
        (Some(g), _) | (None, Some(g)) => g,
        (None, None) => {
            if !segs.is_empty() {
                problems.push(problem(
                    None,
                    Severity::Error,
                    String::from(
                        "cannot infer the index geometry from the file lengths: using the defaults",
                    ),
                ));
            }
            IndexGeometry::DEFAULT
        }
    }
}

/// Hash slots tested for emptiness at once by [`verify`].
const SLOTS_PER_BLOCK: usize = 16;

fn read_i32(b: &[u8], at: usize) -> i32 {
    // Whole field in bounds (always, in a file of the right length): no
    // variable-length copy.
    if let Some(v) = crate::be::i32_at(b, at) {
        return v;
    }
    let mut x = [0u8; 4];
    if let Some(src) = b.get(at..) {
        let k = src.len().min(4);
        x[..k].copy_from_slice(&src[..k]);
    }
    i32::from_be_bytes(x)
}

impl IndexService {
    /// `IndexService.load(lastExitOK)`: the index files in name order; after
    /// an unclean shutdown (`last_exit_ok == false`) files whose endTimestamp
    /// is past `checkpoint.indexMsgTimestamp` are dropped.
    pub fn load<S: PageRead>(
        store: &S,
        cfg: &Config,
        last_exit_ok: bool,
        checkpoint: &StoreCheckpoint,
    ) -> Result<Self, StoreError> {
        let segs = store.segments(&LogId::IndexFile)?;
        let mut problems = Vec::new();
        let geometry = geometry_of(cfg, &segs, &mut problems);
        let mut files = Vec::new();
        for s in segs {
            if s.len != geometry.file_len() {
                problems.push(problem(
                    Some(s.id),
                    Severity::Warning,
                    alloc::format!(
                        "index file is {} bytes, not {} ({} slots, {} entries): Java maps it at that size",
                        s.len,
                        geometry.file_len(),
                        geometry.slots,
                        geometry.entries
                    ),
                ));
            }
            let mut hb = [0u8; HEADER_LEN];
            let n = s.len.min(HEADER_LEN as u64);
            store.read(&LogId::IndexFile, s.id, 0, &mut hb[..n as usize])?;
            // 40 bytes always decode.
            let mut header = IndexHeader::decode(&hb).unwrap_or_default();
            header.index_count = header.effective_count();
            if !last_exit_ok && header.end_timestamp > checkpoint.index_msg_timestamp {
                problems.push(problem(
                    Some(s.id),
                    Severity::Notice,
                    alloc::format!(
                        "unclean shutdown: index file ends at {} after the checkpoint's {}, Java deletes it and rebuilds its keys",
                        header.end_timestamp,
                        checkpoint.index_msg_timestamp
                    ),
                ));
                continue;
            }
            files.push(IndexFileState {
                name: Some(s.id),
                disk_len: s.len,
                base_count: header.index_count,
                header,
                slots: BTreeMap::new(),
                entries: Vec::new(),
            });
        }
        Ok(Self {
            geometry,
            max_num: cfg.max_msgs_num_batch,
            files,
            problems,
        })
    }

    /// The geometry in use.
    pub fn geometry(&self) -> IndexGeometry {
        self.geometry
    }

    /// The files, oldest first.
    pub fn files(&self) -> &[IndexFileState] {
        &self.files
    }

    /// Problems found so far (moved out).
    pub fn take_problems(&mut self) -> Vec<Problem> {
        core::mem::take(&mut self.problems)
    }

    fn is_full(&self, f: &IndexFileState) -> bool {
        f.header.index_count < 0 || f.header.index_count as u32 >= self.geometry.entries
    }

    /// `getAndCreateLastIndexFile`: the last file unless it is full, else a
    /// new one whose header starts at the full file's end values.
    fn last_writable(&mut self) -> usize {
        let (end_phy, end_ts) = match self.files.last() {
            Some(f) if !self.is_full(f) => return self.files.len() - 1,
            Some(f) => (f.header.end_phy_offset, f.header.end_timestamp),
            None => (0, 0),
        };
        let mut header = IndexHeader {
            index_count: 1,
            ..IndexHeader::default()
        };
        if end_phy > 0 {
            header.begin_phy_offset = end_phy;
            header.end_phy_offset = end_phy;
        }
        if end_ts > 0 {
            header.begin_timestamp = end_ts;
            header.end_timestamp = end_ts;
        }
        self.files.push(IndexFileState {
            name: None,
            disk_len: 0,
            header,
            base_count: 1,
            slots: BTreeMap::new(),
            entries: Vec::new(),
        });
        self.files.len() - 1
    }

    /// `IndexFile.putKey` on file `i`; false when it is full.
    fn put_key<S: PageRead>(
        &mut self,
        store: &S,
        i: usize,
        key: &str,
        phy: i64,
        ts: i64,
    ) -> Result<bool, StoreError> {
        let g = self.geometry;
        let full = self.is_full(&self.files[i]);
        let f = &mut self.files[i];
        if full || g.slots == 0 {
            return Ok(false);
        }
        let hash = key_hash(key);
        let s = hash as u32 % g.slots;
        let mut slot_value = match (f.slots.get(&s), f.name) {
            (Some(&v), _) => v,
            (None, Some(seg)) => {
                let pos = g.slot_pos(s) as u64;
                let mut b = [0u8; SLOT_LEN];
                if pos + SLOT_LEN as u64 <= f.disk_len {
                    store.read(&LogId::IndexFile, seg, pos, &mut b)?;
                }
                i32::from_be_bytes(b)
            }
            (None, None) => 0,
        };
        let h = &mut f.header;
        if slot_value <= 0 || slot_value > h.index_count {
            slot_value = 0;
        }
        let diff = ts.wrapping_sub(h.begin_timestamp) / 1000;
        let time_diff = if h.begin_timestamp <= 0 {
            0
        } else {
            diff.clamp(0, i64::from(i32::MAX)) as i32
        };
        let n = h.index_count;
        f.entries.push(IndexEntry {
            key_hash: hash,
            phy_offset: phy,
            time_diff,
            prev: slot_value,
        });
        f.slots.insert(s, n);
        if h.index_count <= 1 {
            h.begin_phy_offset = phy;
            h.begin_timestamp = ts;
        }
        if slot_value == 0 {
            h.hash_slot_count = h.hash_slot_count.wrapping_add(1);
        }
        h.index_count += 1;
        h.end_phy_offset = phy;
        h.end_timestamp = ts;
        Ok(true)
    }

    /// `IndexService.buildIndex` for a re-dispatched record.
    pub fn build<S: PageRead>(
        &mut self,
        store: &S,
        req: &DispatchRequest,
    ) -> Result<(), StoreError> {
        let mut i = self.last_writable();
        if req.commit_log_offset < self.files[i].header.end_phy_offset {
            return Ok(());
        }
        if SysFlag(req.sys_flag).transaction() == SysFlag::TRANSACTION_ROLLBACK {
            return Ok(());
        }
        for key in index_keys(req.uniq_key.as_deref(), req.keys.as_deref()) {
            let k = build_key(&req.topic, key);
            // A full file gets a fresh successor; the fresh one always has room.
            for _ in 0..2 {
                if self.put_key(store, i, &k, req.commit_log_offset, req.store_timestamp)? {
                    break;
                }
                i = self.last_writable();
            }
        }
        Ok(())
    }

    /// `IndexService.queryOffset(topic, key, maxNum, begin, end)`: offsets in
    /// chain order, newest file first, at most `min(max_num, maxMsgsNumBatch)`.
    pub fn query_offset<S: PageRead>(
        &self,
        store: &S,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let max = max_num.min(self.max_num);
        let k = build_key(topic, key);
        let mut out = Vec::new();
        let glen = self.geometry.file_len();
        for f in self.files.iter().rev() {
            let h = &f.header;
            let matched = (begin < h.begin_timestamp && end > h.end_timestamp)
                || (begin >= h.begin_timestamp && begin <= h.end_timestamp)
                || (end >= h.begin_timestamp && end <= h.end_timestamp);
            if matched {
                let g = self.geometry;
                match f.name {
                    Some(seg) => {
                        let len = f.disk_len.min(glen);
                        store.with_view(&LogId::IndexFile, seg, 0, len, |disk| {
                            Source { g, f, disk }.select(&k, begin, end, max, &mut out)
                        })?;
                    }
                    None => Source { g, f, disk: &[] }.select(&k, begin, end, max, &mut out),
                }
            }
            if h.begin_timestamp < begin || out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// What `queryMessage(topic, key, 64, 0, Long.MAX_VALUE)` returns, as
    /// sorted offsets: the index hits that lie in the commitlog's readable
    /// range `[min_offset, max_offset)` (others have no data and are dropped).
    pub fn query_message<S: PageRead>(
        &self,
        store: &S,
        topic: &str,
        key: &str,
        min_offset: u64,
        max_offset: u64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut v = self.query_offset(store, topic, key, 64, 0, i64::MAX)?;
        v.retain(|&o| o >= 0 && (o as u64) >= min_offset && (o as u64) < max_offset);
        v.sort_unstable();
        Ok(v)
    }
}

/// `topic + "#" + key`.
pub fn build_key(topic: &str, key: &str) -> String {
    let mut s = String::with_capacity(topic.len() + 1 + key.len());
    s.push_str(topic);
    s.push('#');
    s.push_str(key);
    s
}

/// The keys `buildIndex` indexes: UNIQ_KEY, then each non-empty KEYS token
/// split on a single space.
pub fn index_keys<'a>(uniq_key: Option<&'a str>, keys: Option<&'a str>) -> Vec<&'a str> {
    let mut v = Vec::new();
    if let Some(u) = uniq_key {
        v.push(u);
    }
    if let Some(k) = keys {
        v.extend(k.split(' ').filter(|t| !t.is_empty()));
    }
    v
}

/// The `(topic, key)` pairs a message is indexed under (ROLLBACK records none).
pub fn message_keys(v: &MessageView<'_>) -> Vec<(String, String)> {
    if v.sys_flag.transaction() == SysFlag::TRANSACTION_ROLLBACK {
        return Vec::new();
    }
    let topic = properties::lossy(v.topic);
    let uniq = properties::get(v.properties, keys::UNIQ_KEY).map(properties::lossy);
    let ks = properties::get(v.properties, keys::KEYS).map(properties::lossy);
    index_keys(uniq.as_deref(), ks.as_deref())
        .into_iter()
        .map(|k| (topic.clone(), String::from(k)))
        .collect()
}

/// Every `(topic, key)` pair the messages between the min offset and the end
/// are indexed under, sorted (so a caller can query every key).
pub fn all_keys<S: PageRead>(
    store: &S,
    summary: &Summary,
) -> Result<BTreeSet<(String, String)>, StoreError> {
    let mut out = BTreeSet::new();
    rocketmq::walk(store, summary, WalkOptions::default(), |it| {
        if let Item::Message { view, .. } = it {
            out.extend(message_keys(&view));
        }
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// The key hashes a message is indexed under (`topic#UNIQ_KEY`, then each
/// `topic#KEYS` token; none for a ROLLBACK record).
pub fn message_key_hashes(v: &MessageView<'_>) -> Vec<i32> {
    let mut out = Vec::new();
    message_key_hashes_into(v, &mut out);
    out
}

/// [`message_key_hashes`] appended to `out`, without building any string:
/// Java's `hashCode` of `topic#key` is the fold of the topic's UTF-16 units,
/// `#`, then the key's, so the topic's part is computed once. Text is decoded
/// as `String::from_utf8_lossy` decodes it (what [`message_keys`] hashes);
/// KEYS is split at spaces before decoding, which splits the same tokens (a
/// space byte is never part of an invalid sequence, and no replacement
/// character is a space).
pub fn message_key_hashes_into(v: &MessageView<'_>, out: &mut Vec<i32>) {
    message_key_hashes_with(v, out, &mut KeyHasher::default());
}

/// The `topic#` part of the key hashes of the last topic seen, so that a run
/// of messages of one topic hashes its name once
/// ([`message_key_hashes_with`]).
#[derive(Debug, Clone, Default)]
pub struct KeyHasher {
    /// Topic bytes and their `topic#` hash; empty before the first message.
    topic: Vec<u8>,
    prefix: Option<i32>,
}

impl KeyHasher {
    fn prefix(&mut self, topic: &[u8]) -> i32 {
        match self.prefix {
            Some(p) if self.topic == topic => p,
            _ => {
                let p = lossy_hash_from(0, topic)
                    .wrapping_mul(31)
                    .wrapping_add(i32::from(b'#'));
                self.topic.clear();
                self.topic.extend_from_slice(topic);
                self.prefix = Some(p);
                p
            }
        }
    }
}

/// [`message_key_hashes_into`] with the topic's part taken from `hasher`
/// when the topic is the one it saw last (same hashes).
pub fn message_key_hashes_with(v: &MessageView<'_>, out: &mut Vec<i32>, hasher: &mut KeyHasher) {
    if v.sys_flag.transaction() == SysFlag::TRANSACTION_ROLLBACK {
        return;
    }
    // One pass over the properties (last occurrence wins, as `properties::get`).
    let (mut uniq, mut ks) = (None, None);
    for (k, val) in properties::pairs(v.properties) {
        if k == keys::UNIQ_KEY.as_bytes() {
            uniq = Some(val);
        } else if k == keys::KEYS.as_bytes() {
            ks = Some(val);
        }
    }
    if uniq.is_none() && ks.is_none() {
        return;
    }
    let prefix = hasher.prefix(v.topic);
    let hash = |key: &[u8]| {
        let h = lossy_hash_from(prefix, key).wrapping_abs();
        if h < 0 { 0 } else { h }
    };
    if let Some(u) = uniq {
        out.push(hash(u));
    }
    if let Some(k) = ks {
        out.extend(k.split(|&c| c == b' ').filter(|t| !t.is_empty()).map(hash));
    }
}

/// Continues Java's `hashCode` `h` over the UTF-16 units of
/// `String::from_utf8_lossy(b)` (each invalid sequence one U+FFFD).
fn lossy_hash_from(h: i32, b: &[u8]) -> i32 {
    let step = |h: i32, c: u16| h.wrapping_mul(31).wrapping_add(i32::from(c));
    if b.is_ascii() {
        return b.iter().fold(h, |h, &c| step(h, u16::from(c)));
    }
    let mut h = h;
    for chunk in b.utf8_chunks() {
        h = chunk.valid().encode_utf16().fold(h, step);
        if !chunk.invalid().is_empty() {
            h = step(h, 0xFFFD);
        }
    }
    h
}

/// Detailed problems listed per index file; the rest are counted in one line
/// (a garbage file of 20 million entries must not produce 20 million lines).
const PROBLEMS_PER_FILE: usize = 32;

/// The problems of one index file, capped at [`PROBLEMS_PER_FILE`].
struct FileProblems {
    seg: SegmentId,
    list: Vec<Problem>,
    more: usize,
    worst_more: Severity,
}

impl FileProblems {
    fn new(seg: SegmentId) -> Self {
        Self {
            seg,
            list: Vec::new(),
            more: 0,
            worst_more: Severity::Notice,
        }
    }

    /// Adds a problem at byte `at` of the file; `text` is built only when listed.
    fn push(&mut self, at: usize, severity: Severity, text: impl FnOnce() -> String) {
        if self.list.len() < PROBLEMS_PER_FILE {
            self.list.push(Problem {
                log: LogId::IndexFile,
                segment: Some(self.seg),
                offset: at as u64,
                severity,
                kind: ProblemKind::Other(text()),
            });
        } else {
            self.more += 1;
            self.worst_more = self.worst_more.max(severity);
        }
    }

    fn finish(mut self, out: &mut Vec<Problem>) {
        if self.more > 0 {
            self.list.push(Problem {
                log: LogId::IndexFile,
                segment: Some(self.seg),
                offset: 0,
                severity: self.worst_more,
                kind: ProblemKind::Other(alloc::format!(
                    "{} more problems in this index file not listed",
                    self.more
                )),
            });
        }
        out.append(&mut self.list);
    }
}

/// Checks every index file on disk (not only those Java keeps after load):
///
/// * its length is the geometry's (configured, else inferred from the most
///   common length as [`IndexService::load`] does) — else an error, and the
///   file is not looked at further;
/// * the header: indexCount in `0..=entries` (else the file cannot be read
///   and is not looked at further), hashSlotCount in `0..=slots`, and begin
///   ≤ end for timestamps and offsets once an entry exists;
/// * every slot is 0 or names a used entry (`1..indexCount`);
/// * every used entry has a non-negative keyHash that belongs to the slot
///   whose chain holds it, a prev below its own number, a non-negative
///   timeDiff, is reached by a slot chain, and — when its phyOffset lies in
///   `[min_offset, end)` — points at a message one of whose index keys hashes
///   to keyHash. Entries below `min_offset` (expired commitlog files) or past
///   `end` (truncated by recovery) are counted in one notice per file.
///
/// `key_hashes_at(offset)` returns the index key hashes of the message
/// starting at `offset` ([`message_key_hashes`]), `None` when none starts
/// there. Problems carry the index file as segment and the byte position of
/// the header field, slot or entry inside the file as offset.
///
/// Work is bounded: every slot and entry is read once and every chain link
/// followed at most once; the allocations are one bit per used entry,
/// which the file's length bounds, and one buffer of key hashes reused for
/// every entry (as long as one message's keys).
pub fn verify<S: PageRead>(
    store: &S,
    cfg: &Config,
    min_offset: u64,
    end: u64,
    mut key_hashes_at: impl FnMut(u64) -> Result<Option<Vec<i32>>, StoreError>,
) -> Result<Vec<Problem>, StoreError> {
    verify_into(store, cfg, min_offset, end, |o, out| {
        Ok(key_hashes_at(o)?.map(|h| out.extend(h)).is_some())
    })
}

/// [`verify`] with `key_hashes_at(offset, out)` appending the hashes to
/// `out` (handed over empty) and returning whether a message starts there,
/// so that one buffer serves every entry.
pub fn verify_into<S: PageRead>(
    store: &S,
    cfg: &Config,
    min_offset: u64,
    end: u64,
    key_hashes_at: impl FnMut(u64, &mut Vec<i32>) -> Result<bool, StoreError>,
) -> Result<Vec<Problem>, StoreError> {
    verify_ahead(store, cfg, min_offset, end, key_hashes_at, |_| {})
}

/// Entries ahead of the one being checked whose phyOffset [`verify_ahead`]
/// announces.
pub const LOOK_AHEAD: u32 = 16;

/// [`verify_into`], also calling `ahead(phy_offset)` with the (untrusted)
/// phyOffset of the entry [`LOOK_AHEAD`] entries after each one checked, so
/// that a host can bring the messages `key_hashes_at` is about to read into
/// its caches. The problems do not depend on `ahead`.
pub fn verify_ahead<S: PageRead>(
    store: &S,
    cfg: &Config,
    min_offset: u64,
    end: u64,
    mut key_hashes_at: impl FnMut(u64, &mut Vec<i32>) -> Result<bool, StoreError>,
    mut ahead: impl FnMut(i64),
) -> Result<Vec<Problem>, StoreError> {
    let segs = store.segments(&LogId::IndexFile)?;
    let mut out = Vec::new();
    let g = geometry_of(cfg, &segs, &mut out);
    for s in &segs {
        let mut fp = FileProblems::new(s.id);
        if s.len != g.file_len() {
            fp.push(0, Severity::Error, || {
                alloc::format!(
                    "index file is {} bytes, not {} ({} slots, {} entries, the geometry of the other index files)",
                    s.len,
                    g.file_len(),
                    g.slots,
                    g.entries
                )
            });
        } else {
            store.with_view(&LogId::IndexFile, s.id, 0, s.len, |b| {
                check_file(
                    b,
                    g,
                    (min_offset, end),
                    &mut key_hashes_at,
                    &mut ahead,
                    &mut fp,
                )
            })??;
        }
        fp.finish(&mut out);
    }
    Ok(out)
}

/// The checks of [`verify`] on one file whose length is `g.file_len()`.
fn check_file(
    b: &[u8],
    g: IndexGeometry,
    (min_offset, end): (u64, u64),
    key_hashes_at: &mut impl FnMut(u64, &mut Vec<i32>) -> Result<bool, StoreError>,
    ahead: &mut impl FnMut(i64),
    fp: &mut FileProblems,
) -> Result<(), StoreError> {
    // The caller checked the length, which holds the 40-byte header.
    let h = IndexHeader::decode(b).unwrap_or_default();
    let count = h.index_count;
    if !(0..=i64::from(g.entries)).contains(&i64::from(count)) {
        fp.push(36, Severity::Error, || {
            alloc::format!(
                "indexCount {count} is outside 0..={}: the file's entries cannot be trusted and are not checked",
                g.entries
            )
        });
        return Ok(());
    }
    if !(0..=i64::from(g.slots)).contains(&i64::from(h.hash_slot_count)) {
        fp.push(32, Severity::Error, || {
            alloc::format!(
                "hashSlotCount {} is outside 0..={}",
                h.hash_slot_count,
                g.slots
            )
        });
    }
    if count > 1 {
        if h.begin_timestamp > h.end_timestamp {
            fp.push(0, Severity::Error, || {
                alloc::format!(
                    "beginTimestamp {} is after endTimestamp {}",
                    h.begin_timestamp,
                    h.end_timestamp
                )
            });
        }
        if h.begin_phy_offset > h.end_phy_offset {
            fp.push(16, Severity::Error, || {
                alloc::format!(
                    "beginPhyOffset {} is after endPhyOffset {}",
                    h.begin_phy_offset,
                    h.end_phy_offset
                )
            });
        }
    }
    // Used entries are 1..n (entry 0 is never written).
    let n = h.effective_count() as u32;
    let entry_at = |k: u32| index_file::entry(b, g, k).unwrap_or_default();
    // One bit per used entry: set once a slot chain reaches it.
    let mut reached = alloc::vec![0u64; (n as usize).div_ceil(64)];
    let is_reached = |r: &[u64], k: u32| r[k as usize / 64] & (1 << (k % 64)) != 0;
    if g.slots > 0 {
        // Slots are read 16 (one 64-byte block) at a time; most blocks of a
        // large file are empty and are skipped with one test.
        for first in (0..g.slots).step_by(SLOTS_PER_BLOCK) {
            let last = first.saturating_add(SLOTS_PER_BLOCK as u32).min(g.slots);
            if b.get(g.slot_pos(first)..g.slot_pos(last))
                .is_some_and(|blk| blk.iter().fold(0u8, |a, &x| a | x) == 0)
            {
                continue;
            }
            for s in first..last {
                let head = read_i32(b, g.slot_pos(s));
                if head == 0 {
                    continue;
                }
                if head < 1 || head as u32 >= n {
                    fp.push(g.slot_pos(s), Severity::Warning, || {
                        alloc::format!(
                            "slot {s} holds entry {head}, not 0 or a used entry in 1..{n}: Java treats the bucket as empty and its keys are lost"
                        )
                    });
                    continue;
                }
                // Chains strictly decrease (forward links are reported by the
                // entry pass and end the walk here), and an entry already reached
                // ends it too: every link is followed at most once in all.
                let mut cur = head as u32;
                loop {
                    if is_reached(&reached, cur) {
                        fp.push(g.entry_pos(cur), Severity::Warning, || {
                            alloc::format!(
                                "entry {cur} is on the chain of slot {s} and on another chain too"
                            )
                        });
                        break;
                    }
                    reached[cur as usize / 64] |= 1 << (cur % 64);
                    let e = entry_at(cur);
                    if e.key_hash >= 0 && e.key_hash as u32 % g.slots != s {
                        fp.push(g.entry_pos(cur), Severity::Warning, || {
                            alloc::format!(
                                "entry {cur} has keyHash {} of slot {}, but is on the chain of slot {s}",
                                e.key_hash,
                                e.key_hash as u32 % g.slots
                            )
                        });
                    }
                    if e.prev <= 0 || e.prev as u32 >= cur {
                        break;
                    }
                    cur = e.prev as u32;
                }
            }
        }
    }
    // (first entry position, how many) below the min offset and past the end.
    let (mut below, mut past) = ((0usize, 0u64), (0usize, 0u64));
    // Consecutive entries often share a message (UNIQ_KEY, then KEYS tokens):
    // the offset last looked up, whether a message starts there, its hashes.
    let mut last: Option<(u64, bool)> = None;
    let mut hashes = Vec::new();
    for k in 1..n.min(LOOK_AHEAD) {
        ahead(entry_at(k).phy_offset);
    }
    for k in 1..n {
        if let Some(f) = k.checked_add(LOOK_AHEAD).filter(|&f| f < n) {
            ahead(entry_at(f).phy_offset);
        }
        let at = g.entry_pos(k);
        let e = entry_at(k);
        if e.key_hash < 0 {
            fp.push(at, Severity::Warning, || {
                alloc::format!("entry {k} has a negative keyHash {}", e.key_hash)
            });
        }
        if e.prev < 0 || e.prev as u32 >= k {
            fp.push(at, Severity::Warning, || {
                alloc::format!(
                    "entry {k} links to prev {}, not 0 or an entry below {k} (a cycle or a forward link)",
                    e.prev
                )
            });
        }
        if e.time_diff < 0 {
            fp.push(at, Severity::Warning, || {
                alloc::format!(
                    "entry {k} has a negative timeDiff {}: Java's look-ups stop at it",
                    e.time_diff
                )
            });
        }
        if !is_reached(&reached, k) {
            fp.push(at, Severity::Warning, || {
                alloc::format!("no slot chain reaches entry {k}: its key cannot be found")
            });
        }
        let Ok(phy) = u64::try_from(e.phy_offset) else {
            fp.push(at, Severity::Warning, || {
                alloc::format!("entry {k} has a negative phyOffset {}", e.phy_offset)
            });
            continue;
        };
        if phy < min_offset {
            if below.1 == 0 {
                below.0 = at;
            }
            below.1 += 1;
            continue;
        }
        if phy >= end {
            if past.1 == 0 {
                past.0 = at;
            }
            past.1 += 1;
            continue;
        }
        let found = match last {
            Some((o, found)) if o == phy => found,
            _ => {
                hashes.clear();
                let found = key_hashes_at(phy, &mut hashes)?;
                last = Some((phy, found));
                found
            }
        };
        match found {
            true if hashes.contains(&e.key_hash) => {}
            true => fp.push(at, Severity::Warning, || {
                alloc::format!(
                    "entry {k} has keyHash {} but none of the index keys of the message at {phy} hashes to it",
                    e.key_hash
                )
            }),
            false => fp.push(at, Severity::Warning, || {
                alloc::format!("entry {k} points at commitlog offset {phy}, where no message starts")
            }),
        }
    }
    if let (at, below_n @ 1..) = below {
        fp.push(at, Severity::Notice, || {
            alloc::format!(
                "{below_n} entries point below the commitlog's min offset {min_offset} (expired files; look-ups drop them)"
            )
        });
    }
    if let (at, past_n @ 1..) = past {
        fp.push(at, Severity::Notice, || {
            alloc::format!(
                "{past_n} entries point at or past the commitlog's end {end} (truncated by recovery; look-ups drop them)"
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::message::{self, DecodeOptions, Host, MessageParts, Record};
    use alloc::vec;

    /// The one-pass hashes equal the hashes of the `(topic, key)` pairs
    /// `message_keys` lists (its definition), on Java's property edge cases.
    #[test]
    fn key_hashes_match_message_keys() {
        let cases: [(&[u8], &[u8], i32); 10] = [
            // A truncated sequence right before a space, and one at the end.
            (
                b"T\xe2\x82",
                b"KEYS\x01a\xe2\x82 \xf0\x9f b\xed\xa0\x80\x02",
                0,
            ),
            (b"Topic", b"UNIQ_KEY\x01u\x02KEYS\x01 \x02", 0),
            (b"Topi", b"KEYS\x01k\x02", 0),
            (b"TopicA", b"KEYS\x01k1 k2\x02UNIQ_KEY\x01U\x02", 0),
            (b"TopicA", b"KEYS\x01  a  b \x02KEYS\x01c d\x02", 0),
            (b"TopicA", b"UNIQ_KEY\x01u1\x02UNIQ_KEY\x01u2\x02", 0),
            (b"TopicA", b"", 0),
            (b"T\xc3opic", b"KEYS\x01cl\xc3\xa9 \xff\x02", 0),
            (b"TopicA", b"KEYS\x01\x02\x01x\x02UNIQ_KEY\x01u\x02", 0),
            (b"TopicA", b"KEYS\x01a\x02", SysFlag::TRANSACTION_ROLLBACK),
        ];
        // One hasher across all cases (topics repeat and change): the cached
        // topic part never leaks into another topic's hashes.
        let mut hasher = KeyHasher::default();
        for (topic, props, sys_flag) in cases
            .into_iter()
            .chain(cases)
            .chain(cases.into_iter().rev())
        {
            let p = MessageParts {
                v2: None,
                body_crc: None,
                queue_id: 0,
                flag: 0,
                queue_offset: 0,
                physical_offset: 0,
                sys_flag,
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
                body: b"b",
                topic,
                properties: props,
                append_prop_crc: false,
            };
            let mut b = vec![0u8; p.encoded_len()];
            p.encode(&mut b).unwrap();
            let Ok(Record::Message(m)) = message::decode(&b, 0, DecodeOptions::LENIENT) else {
                panic!("decode");
            };
            let want: Vec<i32> = message_keys(&m)
                .iter()
                .map(|(t, k)| key_hash(&build_key(t, k)))
                .collect();
            assert_eq!(message_key_hashes(&m), want, "{props:?}");
            let mut with = Vec::new();
            message_key_hashes_with(&m, &mut with, &mut hasher);
            assert_eq!(with, want, "{topic:?} {props:?} (shared hasher)");
            assert_eq!(
                want.is_empty(),
                sys_flag != 0 || props.is_empty(),
                "{props:?}"
            );
        }
    }
}
