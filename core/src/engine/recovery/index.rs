//! Step 4 of recovery: which index files are kept and where indexing resumes.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::codec::checkpoint::IndexSyncPoint;
use crate::codec::index_file::{
    ENTRY_LEN, IndexEntry, IndexGeometry, IndexHeader, SLOT_LEN, index_key_hash,
};
use crate::store::StoreError;

impl<S: PageStore> CommitLog<S> {
    /// Decides which index files to keep and where indexing resumes: returns
    /// (first offset to index, keys of the record at that offset to skip).
    pub(super) fn plan_index(
        &mut self,
        rep: &mut RecoveryReport,
        min: u64,
        end: u64,
        now_ms: i64,
    ) -> Result<(u64, usize), EngineError> {
        let g = self.cfg.index_geometry();
        let mut files: Vec<(SegmentId, IndexHeader)> = Vec::new();
        for s in self.store.segments(&LogId::IndexFile)? {
            if s.len != g.file_len() {
                self.store.remove(&LogId::IndexFile, s.id)?;
                self.store.sync_dir(&LogId::IndexFile)?;
                rep.removed.push((LogId::IndexFile, s.id));
                rep.notes.push(alloc::format!(
                    "index file {} has {} bytes, not {}; removed",
                    s.id,
                    s.len,
                    g.file_len()
                ));
                continue;
            }
            files.push((s.id, IndexFiles::read_header(&self.store, s.id)?));
        }
        // rocketlog's index sync point, if any.
        let sync_point = self
            .store
            .read_meta(MetaFile::IndexSyncPoint)?
            .and_then(|b| IndexSyncPoint::decode(&b));
        // A header claiming records at or past the commitlog's end (or
        // before 0) is not trusted, whatever its count: indexing resumes from
        // the last trusted file's `endPhyOffset`, and `buildIndex` skips every
        // record below it, so one such header (even of an empty file) would
        // leave every later message unindexed.
        let valid = |h: &IndexHeader| {
            h.index_count >= 0
                && (h.index_count as u32) <= g.entries
                && h.hash_slot_count >= 0
                && h.end_phy_offset >= 0
                && (h.end_phy_offset == 0 || (h.end_phy_offset as u64) < end)
        };
        let mut target = files.iter().position(|(_, h)| !valid(h));
        // Keys of the last record of the active file already in it, when an
        // abnormal shutdown left that file consistent (see `keep_active`).
        let mut kept_skip = None;
        if let Some(last) = files.len().checked_sub(1)
            && target.is_none()
        {
            let (seg, h) = files[last];
            if h.index_count <= 1 {
                target = Some(last);
            } else if rep.abnormal_shutdown {
                let synced = sync_point.filter(|p| p.file == seg).map_or(1, |p| p.count);
                // A new file's header starts from its predecessor's end
                // (`IndexFiles::create`): entry 1's time difference is
                // measured from there.
                let preset = last
                    .checked_sub(1)
                    .map_or(0, |p| files[p].1.end_timestamp.max(0));
                let ctx = KeepCtx {
                    synced,
                    preset_begin_ts: preset,
                    log_size: self.cfg.mapped_file_size_commit_log,
                    min,
                    end,
                };
                match keep_active(&self.store, g, seg, &h, &ctx)? {
                    Ok(k) => {
                        rep.notes.push(alloc::format!(
                            "index file {seg} kept after the abnormal shutdown: {} entries \
                             replayed, {} past its sync point checked against their records, \
                             {} slots and {} bytes of stale entries repaired",
                            k.entries,
                            k.checked,
                            k.slots_repaired,
                            k.stale_bytes
                        ));
                        kept_skip = Some(k.skip);
                    }
                    Err(why) => {
                        rep.notes.push(alloc::format!(
                            "index file {seg} rebuilt after the abnormal shutdown: {why}"
                        ));
                        target = Some(last);
                    }
                }
            }
        }
        let mut idx = IndexFiles::new(g);
        let Some(t) = target else {
            // Everything is trusted: index what the last file has not seen.
            let from = match files.last() {
                Some((_, h)) if h.end_phy_offset as u64 >= min => {
                    (h.end_phy_offset as u64, kept_skip.unwrap_or(usize::MAX))
                }
                _ => (min, 0),
            };
            idx.sealed_timestamp = sealed_ts(&files, &self.checkpoint);
            idx.files = files;
            // Repairs (if any) are made durable with the rest of recovery.
            idx.dirty = kept_skip.is_some();
            self.index = idx;
            return Ok(from);
        };
        if let Some(p) = sync_point
            && files[t..].iter().any(|&(seg, _)| seg == p.file)
        {
            // The file is recreated under its name: the sync point must not
            // vouch for the new one's entries. Dropped durably first.
            self.store.write_meta(MetaFile::IndexSyncPoint, None)?;
        }
        for (seg, _) in files.drain(t + 1..).rev() {
            self.store.remove(&LogId::IndexFile, seg)?;
            rep.removed.push((LogId::IndexFile, seg));
        }
        let (name, _) = files.remove(t);
        self.store.remove(&LogId::IndexFile, name)?;
        self.store.sync_dir(&LogId::IndexFile)?;
        rep.index_rebuilt = Some(name);
        let (from, skip) = match files.last() {
            Some(&(seg, h)) if h.end_phy_offset > 0 && h.end_phy_offset as u64 >= min => (
                h.end_phy_offset as u64,
                trailing_keys_of_last(&self.store, g, seg, &h)?,
            ),
            _ => (min, 0),
        };
        idx.sealed_timestamp = files.last().map_or(0, |(_, h)| h.end_timestamp);
        idx.files = files;
        self.index = idx;
        // Recreate the file under its old name, header pre-set from its predecessor.
        let mut keep_name = Some(name);
        let mut namer = |ms: i64| keep_name.take().unwrap_or(ms as u64);
        self.index.create(&self.store, &mut namer, now_ms)?;
        Ok((from, skip))
    }
}

fn sealed_ts(files: &[(SegmentId, IndexHeader)], cp: &StoreCheckpoint) -> i64 {
    match files.len() {
        0 | 1 => cp.index_msg_timestamp,
        n => files[n - 2].1.end_timestamp,
    }
}

/// What [`keep_active`] needs besides the file.
#[derive(Clone, Copy)]
struct KeepCtx {
    /// Entries below it are covered by the index sync point (1: none).
    synced: i32,
    /// `beginTimestamp` the file was created with (its predecessor's end).
    preset_begin_ts: i64,
    /// Commitlog file size.
    log_size: u64,
    /// Commitlog minimum offset and valid end.
    min: u64,
    end: u64,
}

/// What [`keep_active`] found and repaired.
struct Kept {
    /// Entries replayed (1..indexCount).
    entries: u32,
    /// Of them, entries checked against their records (past the sync point).
    checked: u32,
    /// Hash slots rewritten to the newest entry of their chain.
    slots_repaired: u64,
    /// Bytes zeroed past the last entry.
    stale_bytes: u64,
    /// Entries at the end whose offset is `endPhyOffset`: the keys of the
    /// last record already indexed.
    skip: usize,
}

/// Entries read per chunk by [`keep_active`].
const ENTRY_CHUNK: usize = 2048;

/// After an abnormal shutdown, checks whether the active index file holds
/// exactly what [`IndexFiles::build_ref`] writes for its records, so that
/// only records after `endPhyOffset` need indexing (this engine used to
/// rebuild the whole file; the reference deletes it).
///
/// * Every entry `1..indexCount` is replayed in order against an in-memory
///   slot table: its `prev` must be its chain's newest entry at that point
///   (what `putKey` read from the slot), its offset inside `[beginPhyOffset,
///   endPhyOffset]` and non-decreasing, the last one at `endPhyOffset`; an
///   all-zero entry (a page that never reached the disk) fails.
/// * Entries from `synced` on (not covered by the checkpoint's
///   [`IndexSyncPoint`]; all of them when there is none) are also checked
///   against their records: the key hashes of `topic#key` in insertion
///   order, the time difference, and the header's begin and end times.
/// * Then the slots are set to the replay's (a slot written after the sync
///   may point at a lost entry), the header's slot count to the replay's,
///   and whatever lies after the last entry (entries written after the
///   header that survived) is zeroed: the file is byte for byte what a
///   rebuild from the commitlog would write.
///
/// `Ok(Err(why))`: not kept, rebuild it. Memory: one slot table of the
/// configured geometry and one chunk of entries.
fn keep_active<S: PageStore>(
    store: &S,
    g: IndexGeometry,
    seg: SegmentId,
    h: &IndexHeader,
    ctx: &KeepCtx,
) -> Result<Result<Kept, &'static str>, StoreError> {
    let KeepCtx {
        synced,
        preset_begin_ts,
        log_size,
        min,
        end,
    } = *ctx;
    // `valid` checked 2 <= indexCount <= entries and endPhyOffset < end.
    let count = h.index_count as u32;
    if g.slots == 0 || h.begin_phy_offset < 0 || (h.begin_phy_offset as u64) < min {
        return Ok(Err("its first record is no longer in the commitlog"));
    }
    let synced = synced.clamp(1, h.index_count) as u32;
    let mut slots = alloc::vec![0u32; g.slots as usize];
    // Slots the replay filled: `hashSlotCount` as `putKey` counts it.
    let mut used_slots = 0u32;
    let mut chunk = alloc::vec![0u8; ENTRY_CHUNK * ENTRY_LEN];
    let mut last_phy = h.begin_phy_offset;
    let mut tail = 0usize;
    // The record whose keys the entries being checked belong to.
    let mut rec: Option<RecordKeys> = None;
    let mut checked = 0u32;
    // Next key of `rec` expected, and whether `rec` had all its keys.
    let mut key_at = 0usize;
    let mut rec_done: Option<bool> = None;
    let mut n = 1u32;
    while n < count {
        let k = (count - n).min(ENTRY_CHUNK as u32);
        let buf = &mut chunk[..k as usize * ENTRY_LEN];
        store.read(&LogId::IndexFile, seg, g.entry_pos(n) as u64, buf)?;
        for raw in buf.chunks_exact(ENTRY_LEN) {
            if raw.iter().all(|&x| x == 0) {
                return Ok(Err("an entry below indexCount is all zeros"));
            }
            let Some(e) = IndexEntry::decode(raw) else {
                return Ok(Err("an entry below indexCount does not decode"));
            };
            if e.key_hash < 0 || e.time_diff < 0 {
                return Ok(Err("an entry has a negative key hash or time difference"));
            }
            if e.phy_offset < last_phy || e.phy_offset > h.end_phy_offset {
                return Ok(Err(
                    "entry offsets are not ascending inside the header's range",
                ));
            }
            if n == 1 && e.phy_offset != h.begin_phy_offset {
                return Ok(Err("the first entry is not at the header's beginPhyOffset"));
            }
            let s = (e.key_hash as u32 % g.slots) as usize;
            if e.prev < 0 || e.prev as u32 != slots[s] {
                return Ok(Err("an entry's previous-entry link is not its chain's"));
            }
            used_slots += u32::from(slots[s] == 0);
            slots[s] = n;
            tail = if e.phy_offset == last_phy && n > 1 {
                tail + 1
            } else {
                1
            };
            let prev_phy = last_phy;
            last_phy = e.phy_offset;
            if n >= synced || n == 1 {
                let mut r = rec.take().unwrap_or_default();
                if r.hashes.is_empty() || r.offset != e.phy_offset as u64 {
                    r.hashes.clear();
                    if !r.read_into(store, e.phy_offset as u64, log_size, end)? {
                        return Ok(Err("an entry points at no indexed record"));
                    }
                }
                let fresh = n == 1 || e.phy_offset != prev_phy;
                if n == 1 && r.store_timestamp != h.begin_timestamp {
                    return Ok(Err("beginTimestamp is not its first record's"));
                }
                // What `put_key_at` computed: from the header as it was
                // before this entry (entry 1: the preset one).
                let begin = if n == 1 {
                    preset_begin_ts
                } else {
                    h.begin_timestamp
                };
                let want = if begin <= 0 {
                    0
                } else {
                    (r.store_timestamp.wrapping_sub(begin) / 1000).clamp(0, i64::from(i32::MAX))
                        as i32
                };
                // The record's keys in insertion order: from its first key
                // when its entries start here, else from where its earlier
                // entries (in the previous file, or below `synced`) left off.
                let j = if fresh && n > 1 {
                    if let Some(done) = &rec_done
                        && !done
                    {
                        return Ok(Err("a record before the last one lacks keys"));
                    }
                    0
                } else if key_at < r.hashes.len() && r.hashes[key_at] == e.key_hash {
                    key_at
                } else {
                    match r.hashes.iter().position(|&x| x == e.key_hash) {
                        Some(j) => j,
                        None => return Ok(Err("an entry does not match its record")),
                    }
                };
                if e.time_diff != want || r.hashes.get(j) != Some(&e.key_hash) {
                    return Ok(Err("an entry does not match its record"));
                }
                key_at = j + 1;
                rec_done = Some(key_at == r.hashes.len());
                if n >= synced {
                    checked += 1;
                }
                rec = Some(r);
            }
            n += 1;
        }
    }
    if last_phy != h.end_phy_offset {
        return Ok(Err("the last entry is not at the header's endPhyOffset"));
    }
    // The last record: its entries must be its first `tail` keys, in order
    // (a crash between two keys of one put leaves a prefix; the rest is
    // indexed again), and its time the header's end time.
    let Some(last) = RecordKeys::read(store, h.end_phy_offset as u64, log_size, end)? else {
        return Ok(Err("endPhyOffset is not an indexed record"));
    };
    if last.store_timestamp != h.end_timestamp {
        return Ok(Err("endTimestamp is not its last record's"));
    }
    if tail as u32 >= count - 1 || tail > last.hashes.len() {
        return Ok(Err("it holds only the keys of its last record"));
    }
    let mut trailing = alloc::vec![0u8; tail * ENTRY_LEN];
    store.read(
        &LogId::IndexFile,
        seg,
        g.entry_pos(count - tail as u32) as u64,
        &mut trailing,
    )?;
    let in_order = trailing
        .chunks_exact(ENTRY_LEN)
        .zip(&last.hashes)
        .all(|(raw, &want)| IndexEntry::decode(raw).is_some_and(|e| e.key_hash == want));
    if !in_order {
        return Ok(Err("its last record's keys are not in insertion order"));
    }
    // Slots: the replay's values.
    let mut slots_repaired = 0u64;
    let stored = store.with_view(
        &LogId::IndexFile,
        seg,
        g.slot_pos(0) as u64,
        u64::from(g.slots) * SLOT_LEN as u64,
        |b| {
            let mut diffs: Vec<(u32, u32)> = Vec::new();
            // Blocks of slots compared as bytes (nearly always equal), one
            // slot at a time only inside a block that differs.
            const BLOCK: usize = 16;
            let mut want = [0u8; BLOCK * SLOT_LEN];
            for (k, (raw, mine)) in b
                .chunks(BLOCK * SLOT_LEN)
                .zip(slots.chunks(BLOCK))
                .enumerate()
            {
                for (w, v) in want.chunks_exact_mut(SLOT_LEN).zip(mine) {
                    w.copy_from_slice(&v.to_be_bytes());
                }
                if raw == &want[..raw.len()] {
                    continue;
                }
                for (i, (r, v)) in raw.chunks_exact(SLOT_LEN).zip(mine).enumerate() {
                    if r != v.to_be_bytes() {
                        diffs.push(((k * BLOCK + i) as u32, *v));
                    }
                }
            }
            diffs
        },
    )?;
    for (s, v) in stored {
        store.write(
            &LogId::IndexFile,
            seg,
            g.slot_pos(s) as u64,
            &v.to_be_bytes(),
        )?;
        slots_repaired += 1;
    }
    let used = used_slots as i32;
    if used != h.hash_slot_count {
        let fixed = IndexHeader {
            hash_slot_count: used,
            ..*h
        };
        store.write(&LogId::IndexFile, seg, 0, &fixed.encode())?;
    }
    // Stale entries past the last one.
    let stop = g.entry_pos(count) as u64;
    // Ranges asked for before any is read (see `zeros::find_nonzero`).
    let stale_to = zeros::find_nonzero(
        store,
        &LogId::IndexFile,
        seg,
        stop,
        g.file_len(),
        false,
        &Sequential,
    )?
    .end
    .unwrap_or(stop)
    .max(stop);
    let zero = [0u8; 4096];
    let mut at = stop;
    while at < stale_to {
        let k = (stale_to - at).min(zero.len() as u64);
        store.write(&LogId::IndexFile, seg, at, &zero[..k as usize])?;
        at += k;
    }
    Ok(Ok(Kept {
        entries: count - 1,
        checked,
        slots_repaired,
        stale_bytes: stale_to - stop,
        skip: tail,
    }))
}

/// The facts of one record an index entry is checked against.
#[derive(Default)]
struct RecordKeys {
    offset: u64,
    store_timestamp: i64,
    /// `topic#key` hashes in insertion order (`UNIQ_KEY`, then `KEYS`).
    hashes: Vec<i32>,
}

impl RecordKeys {
    /// The record at `offset` (below the commitlog's valid `end`), `None`
    /// if there is none or it is not indexed.
    fn read<S: PageStore>(
        store: &S,
        offset: u64,
        log_size: u64,
        end: u64,
    ) -> Result<Option<Self>, StoreError> {
        let mut r = Self::default();
        Ok(r.read_into(store, offset, log_size, end)?.then_some(r))
    }

    /// [`Self::read`] into `self` (its buffer reused); `false`: no record.
    fn read_into<S: PageStore>(
        &mut self,
        store: &S,
        offset: u64,
        log_size: u64,
        end: u64,
    ) -> Result<bool, StoreError> {
        if offset >= end || log_size == 0 {
            return Ok(false);
        }
        let seg = offset - offset % log_size;
        let pos = offset - seg;
        if pos + 4 > log_size {
            return Ok(false);
        }
        // One view for the usual record (up to 64 KiB); a longer one gets a
        // second view of its stored length, bounded by the file and `end`.
        let room = (log_size - pos).min(end - offset);
        self.hashes.clear();
        self.offset = offset;
        let hashes = &mut self.hashes;
        let mut ts = store.with_view(&LogId::CommitLog, seg, pos, room.min(1 << 16), |b| {
            keys_of(b, offset, hashes)
        })?;
        if let Err(n) = ts {
            if n > room {
                return Ok(false);
            }
            hashes.clear();
            ts = store.with_view(&LogId::CommitLog, seg, pos, n, |b| {
                keys_of(b, offset, hashes)
            })?;
        }
        match ts {
            Ok(Some(ts)) => {
                self.store_timestamp = ts;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// The index key hashes of the record at the start of `b` (at `offset`)
/// into `hashes`, and its store time; `Ok(None)`: no indexed record there;
/// `Err(n)`: the record is `n` bytes, longer than `b`.
fn keys_of(b: &[u8], offset: u64, hashes: &mut Vec<i32>) -> Result<Option<i64>, u64> {
    use crate::codec::message::SysFlag;
    use crate::codec::properties::{self, keys};
    fn text(b: &[u8]) -> Cow<'_, str> {
        String::from_utf8_lossy(b)
    }
    let Ok(Record::Message(m)) = message::decode(b, offset, DecodeOptions::LENIENT) else {
        return match crate::be::i32_at(b, 0) {
            Some(n) if n > 0 && n as usize > b.len() => Err(n as u64),
            _ => Ok(None),
        };
    };
    if m.sys_flag.transaction() == SysFlag::TRANSACTION_ROLLBACK {
        return Ok(None);
    }
    // One pass over the pairs; the last occurrence wins, as in Java's map
    // (what `RecordRef::of` reads).
    let (mut uniq, mut keys_v) = (None, None);
    properties::for_each_pair(m.properties, |k, v| {
        if k == keys::UNIQ_KEY.as_bytes() {
            uniq = Some(v);
        } else if k == keys::KEYS.as_bytes() {
            keys_v = Some(v);
        }
    });
    let topic = text(m.topic);
    if let Some(u) = uniq {
        hashes.push(index_key_hash(&topic, &text(u)));
    }
    if let Some(k) = keys_v {
        let k = text(k);
        for key in k.split(' ').filter(|t| !t.is_empty()) {
            hashes.push(index_key_hash(&topic, key));
        }
    }
    Ok(Some(m.store_timestamp))
}
