//! Step 5 of recovery: every valid record re-checked against its consume-queue
//! unit (or re-dispatched) and, past the index plan's start, indexed again.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Records decoded per view in step 5 of recovery.
const BATCH: usize = 4096;

/// What step 5 keeps of a record: the consume-queue facts, no allocation.
pub(super) struct UnitFacts {
    pub(super) offset: u64,
    pub(super) size: i32,
    /// Index into [`Queues::known`], if the record goes to a consume queue.
    pub(super) queue: Option<usize>,
    pub(super) queue_offset: i64,
    pub(super) store_timestamp: i64,
    pub(super) tags_code: i64,
    /// 1 + index of its text in the batch's [`IndexText`] when it gets indexed, else 0.
    pub(super) meta: usize,
}

/// The properties dispatch reads, found in one pass over the pairs (the
/// codec's per-key look-ups would parse them once per key).
pub(super) struct DispatchProps<'a> {
    pub(super) tags_code: i64,
    pub(super) uniq_key: Option<&'a [u8]>,
    pub(super) keys: Option<&'a [u8]>,
}

impl<'a> DispatchProps<'a> {
    pub(super) fn of(m: &message::MessageView<'a>) -> Self {
        use crate::codec::properties::keys;
        let (mut tags, mut uniq_key, mut keys_v) = (None, None, None);
        // Last occurrence wins, as in Java's map (and `properties::get`).
        properties::for_each_pair(m.properties, |k, v| {
            if k == keys::TAGS.as_bytes() {
                tags = Some(v);
            } else if k == keys::UNIQ_KEY.as_bytes() {
                uniq_key = Some(v);
            } else if k == keys::KEYS.as_bytes() {
                keys_v = Some(v);
            }
        });
        let tags_code = if m.topic == message::SCHEDULE_TOPIC {
            // Delayed messages: the deliver time (the codec's rule).
            m.tags_code()
        } else {
            match tags {
                Some(t) if !t.is_empty() => i64::from(crate::java::bytes_hash(t)),
                _ => 0,
            }
        };
        Self {
            tags_code,
            uniq_key,
            keys: keys_v,
        }
    }
}

/// Where one indexed record's text lies in [`IndexText::bytes`].
struct TextRanges {
    topic: Range<usize>,
    uniq_key: Option<Range<usize>>,
    keys: Option<Range<usize>>,
    queue_id: i32,
    sys_flag: i32,
}

/// The text (topic, `UNIQ_KEY`, `KEYS`) of the records of one batch that get
/// indexed, copied out of the commitlog view into one reusable buffer: the
/// index is built after the view closes, without a `String` per record.
#[derive(Default)]
pub(super) struct IndexText {
    bytes: Vec<u8>,
    recs: Vec<TextRanges>,
}

impl IndexText {
    fn clear(&mut self) {
        self.bytes.clear();
        self.recs.clear();
    }

    fn copy(&mut self, b: &[u8]) -> Range<usize> {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(b);
        at..self.bytes.len()
    }

    /// Keeps the text of `m`; returns 1 + its index.
    pub(super) fn push(
        &mut self,
        m: &message::MessageView<'_>,
        props: &DispatchProps<'_>,
    ) -> usize {
        let r = TextRanges {
            topic: self.copy(m.topic),
            uniq_key: props.uniq_key.map(|v| self.copy(v)),
            keys: props.keys.map(|v| self.copy(v)),
            queue_id: m.queue_id,
            sys_flag: m.sys_flag.0,
        };
        self.recs.push(r);
        self.recs.len()
    }

    /// The dispatch facts of record `f` (its text at `f.meta`), decoded as
    /// Java does ([`RecordRef::of`]); borrowed unless not valid UTF-8.
    pub(super) fn record(&self, f: &UnitFacts) -> Option<RecordRef<'_>> {
        let r = self.recs.get(f.meta.checked_sub(1)?)?;
        let text = |r: &Range<usize>| -> Cow<'_, str> {
            let b = self.bytes.get(r.clone()).unwrap_or_default();
            // `from_utf8` checks ASCII a word at a time; `from_utf8_lossy`
            // (the same result for valid text) goes byte by byte.
            match core::str::from_utf8(b) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(b),
            }
        };
        Some(RecordRef {
            offset: f.offset,
            size: f.size,
            topic: text(&r.topic),
            queue_id: r.queue_id,
            queue_offset: f.queue_offset,
            sys_flag: r.sys_flag,
            store_timestamp: f.store_timestamp,
            tags_code: f.tags_code,
            uniq_key: r.uniq_key.as_ref().map(text),
            keys: r.keys.as_ref().map(text),
        })
    }
}

/// One consume queue met in step 5.
struct KnownQueue {
    /// Its key in `CommitLog::queues` (topic decoded as Java does).
    key: (String, i32),
    /// The topic bytes it was first met with.
    topic: Vec<u8>,
    /// The queue offset of the last unit checked or written (`seen`).
    seen: Option<i64>,
    /// The structural scan's units, valid below `cache_upto`.
    first: i64,
    units: Vec<CqUnit>,
    cache_upto: i64,
}

impl KnownQueue {
    fn cached(&self, qo: i64) -> Option<CqUnit> {
        if qo < self.first || qo >= self.cache_upto {
            return None;
        }
        self.units
            .get(usize::try_from(qo - self.first).ok()?)
            .copied()
    }
}

/// The consume queues of step 5, looked up by the record's topic bytes and
/// queue id without building a `String` per record.
#[derive(Default)]
pub(super) struct Queues {
    known: Vec<KnownQueue>,
    /// Topic bytes, then queue id, to an index into `known`.
    by_topic: alloc::collections::BTreeMap<Vec<u8>, alloc::collections::BTreeMap<i32, usize>>,
    /// Queue key to an index into `known`.
    by_key: alloc::collections::BTreeMap<(String, i32), usize>,
    /// The last look-up (records of one queue often come in runs).
    last: Option<usize>,
}

impl Queues {
    fn intern(
        &mut self,
        topic: &[u8],
        queue_id: i32,
        scans: &mut alloc::collections::BTreeMap<(String, i32), QueueScan>,
    ) -> usize {
        if let Some(i) = self.last
            && let Some(k) = self.known.get(i)
            && k.key.1 == queue_id
            && k.topic == topic
        {
            return i;
        }
        let i = match self.by_topic.get(topic).and_then(|m| m.get(&queue_id)) {
            Some(&i) => i,
            None => {
                let key = (properties::lossy(topic), queue_id);
                // Topics that differ only in invalid UTF-8 are one queue in Java.
                let i = match self.by_key.get(&key) {
                    Some(&i) => i,
                    None => {
                        // The scan's units move here (finish_queues needs only `end`).
                        let (first, units) = match scans.get_mut(&key) {
                            Some(s) => (s.first, core::mem::take(&mut s.units)),
                            None => (0, Vec::new()),
                        };
                        self.by_key.insert(key.clone(), self.known.len());
                        self.known.push(KnownQueue {
                            cache_upto: first + units.len() as i64,
                            key,
                            topic: topic.to_vec(),
                            seen: None,
                            first,
                            units,
                        });
                        self.known.len() - 1
                    }
                };
                self.by_topic
                    .entry(topic.to_vec())
                    .or_default()
                    .insert(queue_id, i);
                i
            }
        };
        self.last = Some(i);
        i
    }

    /// The `seen` map of the queues that had a unit checked or written.
    pub(super) fn take_seen(&mut self) -> alloc::collections::BTreeMap<(String, i32), i64> {
        self.known
            .drain(..)
            .filter_map(|k| k.seen.map(|qo| (k.key, qo)))
            .collect()
    }
}

impl<S: PageStore> CommitLog<S> {
    /// Step 5 of recovery: walks the valid records from `min` to `end` once,
    /// re-checking (or writing) each record's consume-queue unit and indexing
    /// the records from `index_from` on.
    ///
    /// Records are decoded in batches of [`BATCH`] per view, structure only
    /// (step 1 checked them fully); only the facts the queues need are kept,
    /// without allocating, and the text the index needs (topic, keys,
    /// `UNIQ_KEY`) is copied into a reused buffer only for records that get
    /// indexed.
    pub(super) fn redispatch(
        &mut self,
        rep: &mut RecoveryReport,
        scans: &mut alloc::collections::BTreeMap<(String, i32), QueueScan>,
        min: u64,
        end: u64,
        index_from: Option<(u64, usize)>,
        now_ms: i64,
    ) -> Result<Queues, EngineError> {
        let size = self.cfg.mapped_file_size_commit_log;
        let mut queues = Queues::default();
        for q in self.queues.values_mut() {
            q.log.synced = q.log.min();
        }
        let mut facts: Vec<UnitFacts> = Vec::with_capacity(BATCH);
        let mut text = IndexText::default();
        let mut pos = min;
        while pos < end {
            let seg = pos - pos % size;
            let upto = (end - seg).min(size);
            facts.clear();
            text.clear();
            let next = self.store.with_view(&LogId::CommitLog, seg, 0, upto, |b| {
                let mut p = (pos - seg) as usize;
                while facts.len() < BATCH
                    && let Some(rest) = b.get(p..)
                    && let Ok(Record::Message(m)) =
                        message::decode(rest, seg + p as u64, DecodeOptions::LENIENT)
                {
                    let at = seg + p as u64;
                    let indexed = index_from.is_some_and(|(from, _)| at >= from);
                    let props = DispatchProps::of(&m);
                    facts.push(UnitFacts {
                        offset: at,
                        size: m.total_size,
                        queue: if m.sys_flag.dispatched_to_queue() {
                            Some(queues.intern(m.topic, m.queue_id, scans))
                        } else {
                            None
                        },
                        queue_offset: m.queue_offset,
                        store_timestamp: m.store_timestamp,
                        tags_code: props.tags_code,
                        meta: if indexed { text.push(&m, &props) } else { 0 },
                    });
                    p += m.total_size as usize;
                }
                // Where the next batch starts (`upto` when this file is done).
                if facts.len() < BATCH { upto } else { p as u64 }
            })?;
            for f in &facts {
                if let Some(qi) = f.queue {
                    self.recheck(f, qi, rep, &mut queues)?;
                }
                if let Some((from, skip)) = index_from
                    && let Some(rec) = text.record(f)
                {
                    // After `from` every key is indexed; of the record at `from`
                    // the first `skip` keys are already in a kept file.
                    let skip = if f.offset == from { skip } else { 0 };
                    rep.index_keys_added +=
                        self.index
                            .build_ref(&self.store, &rec, skip, &mut *self.namer, now_ms)?;
                }
                self.last_store_ts = f.store_timestamp;
            }
            pos = if next >= upto { seg + size } else { seg + next };
        }
        Ok(queues)
    }

    /// Compares (or writes) the consume-queue unit of one valid record that
    /// goes to queue `qi` of `queues`.
    fn recheck(
        &mut self,
        f: &UnitFacts,
        qi: usize,
        rep: &mut RecoveryReport,
        queues: &mut Queues,
    ) -> Result<(), EngineError> {
        let cq_size = self.cfg.consume_queue_file_size();
        let known = &mut queues.known[qi];
        let q = self
            .queues
            .entry(known.key.clone())
            .or_insert_with(|| ConsumeQueue::new(&known.key.0, known.key.1, cq_size));
        let qo = f.queue_offset;
        let unit = CqUnit {
            physical_offset: f.offset as i64,
            size: f.size,
            tags_code: f.tags_code,
        };
        self.last_dispatch_ts = f.store_timestamp;
        let has_files = !q.log.segs.is_empty();
        if has_files && qo < q.min_offset() {
            // Its unit was in a consume-queue file already cleaned away.
            return Ok(());
        }
        if has_files
            && qo < q.max_offset()
            && let Some(abs) = unit_pos(qo)
        {
            rep.queue_units_checked += 1;
            // The unit as the structural scan read it, while nothing at or
            // below `qo` was rewritten since; else from the store.
            let stored = match known.cached(qo) {
                Some(u) => Some(u),
                None => q.unit(&self.store, qo)?,
            };
            if stored == Some(unit) {
                known.seen = Some(qo);
                return Ok(());
            }
            rep.queue_units_mismatched += 1;
            known.cache_upto = known.cache_upto.min(qo);
            q.log.end = abs;
            q.log.synced = q.log.synced.min(q.log.end);
        }
        // `put` refuses a queue offset that is out of range or jumps more than
        // one file past the queue's end (the fillers would be sized by a
        // stored field; the reference would not put the unit at `qo` either).
        let put = match q.put(&self.store, qo, unit) {
            Ok(put) => put,
            Err(UnitPutError::Store(e)) => return Err(e.into()),
            Err(e @ UnitPutError::QueueOffset { .. }) => {
                rep.notes.push(alloc::format!(
                    "record at {}: {e}; not dispatched",
                    f.offset
                ));
                return Ok(());
            }
        };
        match put {
            UnitPut::Appended => {}
            UnitPut::AfterPreBlank { fillers } => rep.queue_fillers += fillers,
            UnitPut::AfterGap { fillers } => {
                rep.queue_fillers += fillers;
                rep.notes.push(alloc::format!(
                    "{}: queue offsets jump to {qo}; {fillers} fillers written",
                    q.log.log
                ));
            }
        }
        rep.queue_units_redispatched += 1;
        known.seen = Some(qo);
        Ok(())
    }

    pub(super) fn finish_queues(
        &mut self,
        rep: &mut RecoveryReport,
        scans: &alloc::collections::BTreeMap<(String, i32), QueueScan>,
        seen: &alloc::collections::BTreeMap<(String, i32), i64>,
        min: u64,
    ) -> Result<(), EngineError> {
        for (key, q) in self.queues.iter_mut() {
            let scan = scans.get(key);
            let mut fin = match seen.get(key) {
                // Only dispatched (or matching) units are in `seen`: in range.
                Some(&qo) => unit_pos(qo).map_or(q.log.end, |p| p + CQ_UNIT_SIZE as u64),
                None => q.log.end,
            };
            if seen.get(key).is_none() {
                // No valid record of this queue: keep only units below the
                // commitlog minimum (their records were cleaned away).
                while fin > q.log.min() {
                    let mut b = [0u8; CQ_UNIT_SIZE];
                    q.log
                        .read_at(&self.store, fin - CQ_UNIT_SIZE as u64, &mut b)?;
                    let u = CqUnit::decode(&b).unwrap_or_default();
                    if u.is_filler() || (u.physical_offset as u64) < min {
                        break;
                    }
                    fin -= CQ_UNIT_SIZE as u64;
                }
            }
            let structural = scan.map_or(0, |s| s.end).max(q.log.end);
            if structural > fin {
                rep.queue_units_truncated += (structural - fin) / CQ_UNIT_SIZE as u64;
            }
            // Whatever follows the last kept unit in its file (stale units,
            // torn pages, units re-dispatched to a shorter end) is zeroed.
            let seg = fin - fin % q.log.file_size;
            if q.log.segs.binary_search(&seg).is_ok() {
                let from = fin - seg;
                let last = self.store.with_view(
                    &q.log.log,
                    seg,
                    from,
                    q.log.file_size - from,
                    zeros::last_nonzero,
                )?;
                if let Some(l) = last {
                    let to = fin + l as u64 + 1;
                    q.log.zero(&self.store, fin, to)?;
                    rep.truncated.push(Truncation {
                        log: q.log.log.clone(),
                        from: fin,
                        to,
                    });
                }
            }
            let before = q.log.segs.clone();
            q.log.remove_after(&self.store, fin)?;
            for s in before.iter().filter(|s| !q.log.segs.contains(s)) {
                rep.removed.push((q.log.log.clone(), *s));
            }
            q.log.end = fin;
            q.log.sync(&self.store)?;
        }
        Ok(())
    }
}
