//! Step 5 of recovery: every valid record re-checked against its consume-queue
//! unit (or re-dispatched) and, past the index plan's start, indexed again.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Bytes of records one job of step 5 decodes at a time: a piece longer than
/// this (one whose next record boundary step 1 did not note) is read in
/// parts, one after the other.
const PIECE: u64 = stretches::STRETCH;

/// What step 5 keeps of a record: the consume-queue facts, no allocation.
pub(super) struct UnitFacts {
    pub(super) offset: u64,
    pub(super) size: i32,
    /// Where its topic lies in the file's view (interned once the jobs are done).
    pub(super) topic: Range<usize>,
    pub(super) queue_id: i32,
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
    /// The queue itself, moved out of `CommitLog::queues` for step 5 (no
    /// map look-up per record) and put back at its end.
    q: ConsumeQueue,
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

/// Queue ids below this are looked up in a table per topic.
const SMALL_QUEUE_IDS: usize = 1024;

/// The queues of one topic (as stored, bytes), by queue id.
struct TopicQueues {
    topic: Vec<u8>,
    /// `small[queue_id]` = 1 + index into [`Queues::known`], 0 if not met yet.
    small: Vec<u32>,
    /// Queue ids outside `small`.
    other: alloc::collections::BTreeMap<i32, usize>,
}

impl TopicQueues {
    fn get(&self, queue_id: i32) -> Option<usize> {
        match usize::try_from(queue_id) {
            Ok(i) if i < SMALL_QUEUE_IDS => {
                let v = *self.small.get(i)?;
                (v > 0).then(|| v as usize - 1)
            }
            _ => self.other.get(&queue_id).copied(),
        }
    }

    fn set(&mut self, queue_id: i32, known: usize) {
        match usize::try_from(queue_id) {
            Ok(i) if i < SMALL_QUEUE_IDS => {
                if self.small.len() <= i {
                    self.small.resize(i + 1, 0);
                }
                // At most one queue per record: far below u32::MAX.
                self.small[i] = u32::try_from(known + 1).unwrap_or(0);
            }
            _ => {
                self.other.insert(queue_id, known);
            }
        }
    }
}

/// The consume queues of step 5, looked up by the record's topic bytes and
/// queue id without building a `String` per record: the topic of the last
/// record is tried first (one comparison of its bytes), then a map; the
/// queue id indexes a table.
#[derive(Default)]
pub(super) struct Queues {
    known: Vec<KnownQueue>,
    topics: Vec<TopicQueues>,
    /// Topic bytes to an index into `topics`.
    by_topic: alloc::collections::BTreeMap<Vec<u8>, usize>,
    /// Queue key to an index into `known`.
    by_key: alloc::collections::BTreeMap<(String, i32), usize>,
    /// The topic of the last look-up.
    last_topic: usize,
}

/// The queue of `(topic, queue_id)` in [`Queues`]' name tables if met
/// already, without changing anything (the jobs of step 5 look up at the same
/// time); `last` is the caller's topic of its previous look-up.
fn find(
    topics: &[TopicQueues],
    by_topic: &alloc::collections::BTreeMap<Vec<u8>, usize>,
    topic: &[u8],
    queue_id: i32,
    last: &mut usize,
) -> Option<usize> {
    let t = match topics.get(*last) {
        Some(t) if t.topic == topic => *last,
        _ => *by_topic.get(topic)?,
    };
    *last = t;
    topics[t].get(queue_id)
}

/// What [`apply_fast`] did with the facts of a round.
#[derive(Default)]
struct Applied {
    /// The first fact not applied: (piece, fact) of the round.
    stop: (usize, usize),
    /// Units compared and found equal.
    checked: u64,
    /// STORETIMESTAMP of the last fact applied, and of the last given a unit.
    last_store_ts: Option<i64>,
    last_dispatch_ts: Option<i64>,
}

/// Applies the facts of a round of pieces, in order, as long as applying one
/// only compares its unit with the one the structural scan read (the common
/// case: nothing to read from or write to the store, nothing to index); stops
/// at the first other one, which [`CommitLog::recheck`] applies then. Runs
/// as a job next to the reading of the next round.
fn apply_fast(pieces: &[Piece], known: &mut [KnownQueue], indexing: bool) -> Applied {
    let mut out = Applied::default();
    for (pi, p) in pieces.iter().enumerate() {
        for (fi, f) in p.facts.iter().enumerate() {
            out.stop = (pi, fi);
            if indexing && f.meta != 0 {
                return out;
            }
            if let Some(qi) = f.queue {
                let Some(k) = known.get_mut(qi) else {
                    return out;
                };
                let qo = f.queue_offset;
                let q = &k.q;
                if q.log.segs.is_empty() {
                    return out;
                }
                if qo >= q.min_offset() {
                    // As `recheck`: in range, cached and equal, or stop.
                    let unit = CqUnit {
                        physical_offset: f.offset as i64,
                        size: f.size,
                        tags_code: f.tags_code,
                    };
                    if qo >= q.max_offset() || unit_pos(qo).is_none() || k.cached(qo) != Some(unit)
                    {
                        return out;
                    }
                    out.checked += 1;
                    k.seen = Some(qo);
                }
                out.last_dispatch_ts = Some(f.store_timestamp);
            }
            out.last_store_ts = Some(f.store_timestamp);
        }
    }
    out.stop = (pieces.len(), 0);
    out
}

impl Queues {
    fn intern(
        &mut self,
        topic: &[u8],
        queue_id: i32,
        scans: &mut alloc::collections::BTreeMap<(String, i32), QueueScan>,
        queues: &mut alloc::collections::BTreeMap<(String, i32), ConsumeQueue>,
        cq_size: u64,
    ) -> usize {
        let t = match self.topics.get(self.last_topic) {
            Some(t) if t.topic == topic => self.last_topic,
            _ => match self.by_topic.get(topic) {
                Some(&t) => t,
                None => {
                    self.topics.push(TopicQueues {
                        topic: topic.to_vec(),
                        small: Vec::new(),
                        other: alloc::collections::BTreeMap::new(),
                    });
                    self.by_topic.insert(topic.to_vec(), self.topics.len() - 1);
                    self.topics.len() - 1
                }
            },
        };
        self.last_topic = t;
        if let Some(i) = self.topics[t].get(queue_id) {
            return i;
        }
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
                let q = queues
                    .remove(&key)
                    .unwrap_or_else(|| ConsumeQueue::new(&key.0, key.1, cq_size));
                self.by_key.insert(key.clone(), self.known.len());
                self.known.push(KnownQueue {
                    cache_upto: first + units.len() as i64,
                    key,
                    q,
                    seen: None,
                    first,
                    units,
                });
                self.known.len() - 1
            }
        };
        self.topics[t].set(queue_id, i);
        i
    }

    /// Puts the queues back into `queues` and returns the `seen` map of the
    /// queues that had a unit checked or written.
    pub(super) fn finish(
        &mut self,
        queues: &mut alloc::collections::BTreeMap<(String, i32), ConsumeQueue>,
    ) -> alloc::collections::BTreeMap<(String, i32), i64> {
        let mut seen = alloc::collections::BTreeMap::new();
        for k in self.known.drain(..) {
            if let Some(qo) = k.seen {
                seen.insert(k.key.clone(), qo);
            }
            queues.insert(k.key, k.q);
        }
        seen
    }
}

/// Pieces per job of the fanout in one round of step 5. Memory: a
/// [`PIECE`] of the smallest records (91 bytes) is ~46k records, ~3.7 MB of
/// facts; of 1 KiB records ~0.3 MB.
const ROUND_PER_JOB: usize = 2;

/// [`UnitFacts::queue`] of a record whose queue a job did not find.
const UNSEEN: usize = usize::MAX;

/// One job of step 5: the records of `from..to` of a commitlog file (a
/// stretch between two record boundaries), decoded into facts.
#[derive(Default)]
struct Piece {
    from: u64,
    to: u64,
    /// Where the records not read yet start (`to` once the piece is done).
    next: u64,
    facts: Vec<UnitFacts>,
    text: IndexText,
}

impl Piece {
    /// Decodes (structure only: step 1 checked them fully) the records
    /// starting in `from..to`, at most [`PIECE`] bytes of them, keeping only
    /// what the queues and, past `index_from`, the index need.
    fn read(
        &mut self,
        b: &[u8],
        seg: u64,
        index_from: Option<(u64, usize)>,
        names: (
            &[TopicQueues],
            &alloc::collections::BTreeMap<Vec<u8>, usize>,
        ),
    ) {
        let mut last_topic = 0;
        self.facts.clear();
        self.text.clear();
        let bound = self.to.min(self.from.saturating_add(PIECE));
        let mut p = self.from;
        self.next = self.to;
        while p < bound {
            let Some(rest) = b.get(p as usize..) else {
                return;
            };
            let Ok(Record::Message(m)) = message::decode(rest, seg + p, DecodeOptions::LENIENT)
            else {
                // A BLANK (or nothing more): the file's records are done.
                return;
            };
            let at = seg + p;
            let indexed = index_from.is_some_and(|(from, _)| at >= from);
            let props = DispatchProps::of(&m);
            // The topic's place in `b` (a sub-slice of it).
            let t = m.topic.as_ptr() as usize - b.as_ptr() as usize;
            self.facts.push(UnitFacts {
                offset: at,
                size: m.total_size,
                topic: t..t + m.topic.len(),
                queue_id: m.queue_id,
                // A queue met before, else [`UNSEEN`]: interned in log order.
                queue: m.sys_flag.dispatched_to_queue().then(|| {
                    find(names.0, names.1, m.topic, m.queue_id, &mut last_topic).unwrap_or(UNSEEN)
                }),
                queue_offset: m.queue_offset,
                store_timestamp: m.store_timestamp,
                tags_code: props.tags_code,
                meta: if indexed {
                    self.text.push(&m, &props)
                } else {
                    0
                },
            });
            p += m.total_size as u64;
        }
        if p < self.to {
            self.next = p;
        }
    }
}

impl<S: PageStore> CommitLog<S> {
    /// Step 5 of recovery: walks the valid records from `min` to `end` once,
    /// re-checking (or writing) each record's consume-queue unit and indexing
    /// the records from `index_from` on.
    ///
    /// The records are read in pieces between the record boundaries step 1
    /// noted (`starts`, absolute), by `fanout`'s jobs: each decodes its
    /// piece, structure only (step 1 checked the records fully), keeping
    /// only the facts the queues need and copying the text the index needs
    /// (topic, keys, `UNIQ_KEY`) into a reused buffer for the records that
    /// get indexed. The facts are then applied in log order on this thread.
    #[allow(clippy::too_many_arguments)] // the steps' results, passed on
    pub(super) fn redispatch(
        &mut self,
        rep: &mut RecoveryReport,
        scans: &mut alloc::collections::BTreeMap<(String, i32), QueueScan>,
        min: u64,
        end: u64,
        index_from: Option<(u64, usize)>,
        now_ms: i64,
        starts: &[u64],
        fanout: &dyn super::super::fanout::Fanout,
    ) -> Result<alloc::collections::BTreeMap<(String, i32), i64>, EngineError> {
        for q in self.queues.values_mut() {
            q.log.synced = q.log.min();
        }
        let mut queues = Queues::default();
        let r = self.redispatch_into(
            rep,
            scans,
            min,
            end,
            index_from,
            now_ms,
            &mut queues,
            starts,
            fanout,
        );
        // The queues moved into `queues` go back whatever happened.
        let seen = queues.finish(&mut self.queues);
        r.map(|()| seen)
    }

    #[allow(clippy::too_many_arguments)]
    fn redispatch_into(
        &mut self,
        rep: &mut RecoveryReport,
        scans: &mut alloc::collections::BTreeMap<(String, i32), QueueScan>,
        min: u64,
        end: u64,
        index_from: Option<(u64, usize)>,
        now_ms: i64,
        queues: &mut Queues,
        starts: &[u64],
        fanout: &dyn super::super::fanout::Fanout,
    ) -> Result<(), EngineError> {
        let size = self.cfg.mapped_file_size_commit_log;
        let cq_size = self.cfg.consume_queue_file_size();
        // Pieces per round: a few per job, so that the jobs even out and
        // rounds (each a `run`) are few. Two sets: the facts of one round are
        // applied (as far as `apply_fast` goes) by a job of the next round,
        // next to the reading of its pieces.
        let per_round = fanout.width().max(1) * ROUND_PER_JOB;
        let mut bufs: [Vec<Piece>; 2] = [Vec::new(), Vec::new()];
        for b in &mut bufs {
            b.resize_with(per_round, Piece::default);
        }
        let (mut cur, mut pending) = (0usize, 0usize);
        let mut seg_start = min;
        while seg_start < end {
            let seg = seg_start - seg_start % size;
            let upto = (end - seg).min(size);
            // The file's pieces: from each record boundary step 1 noted to the next.
            let mut todo: alloc::collections::VecDeque<(u64, u64)> =
                alloc::collections::VecDeque::new();
            let mut from = seg_start - seg;
            for &s in starts {
                if s > seg + from && s < seg + upto {
                    todo.push_back((from, s - seg));
                    from = s - seg;
                }
            }
            todo.push_back((from, upto));
            while !todo.is_empty() {
                let [b0, b1] = &mut bufs;
                let (reading, waiting) = if cur == 0 { (b0, b1) } else { (b1, b0) };
                // A round: up to `per_round` pieces, all but the last short
                // enough to be read whole (so their facts are applied in log
                // order).
                let mut n = 0;
                while n < per_round
                    && let Some(&(a, b)) = todo.get(n)
                {
                    reading[n].from = a;
                    reading[n].to = b;
                    n += 1;
                    if b - a > PIECE {
                        break;
                    }
                }
                let round = &mut reading[..n];
                let waiting = &waiting[..pending];
                let store = &self.store;
                let self_queues = &mut self.queues;
                let mut fast = Applied::default();
                store.with_view(&LogId::CommitLog, seg, 0, upto, |b| {
                    {
                        let Queues {
                            known,
                            topics,
                            by_topic,
                            ..
                        } = &mut *queues;
                        let names = (&topics[..], &*by_topic);
                        let mut work: Vec<_> = round
                            .iter_mut()
                            .map(|p| move || p.read(b, seg, index_from, names))
                            .collect();
                        let mut apply = || fast = apply_fast(waiting, known, index_from.is_some());
                        let mut refs: Vec<&mut (dyn FnMut() + Send)> = Vec::new();
                        // On one thread nothing overlaps: `apply` alone (the
                        // test oracle of the overlapped path) does all.
                        if !waiting.is_empty() && fanout.width() > 1 {
                            refs.push(&mut apply);
                        }
                        refs.extend(work.iter_mut().map(|j| j as &mut (dyn FnMut() + Send)));
                        fanout.run(&mut refs);
                    }
                    // Queues met for the first time are interned in log
                    // order, while the topics are in view.
                    for p in round.iter_mut() {
                        for f in p.facts.iter_mut().filter(|f| f.queue == Some(UNSEEN)) {
                            let topic = b.get(f.topic.clone()).unwrap_or_default();
                            f.queue =
                                Some(queues.intern(topic, f.queue_id, scans, self_queues, cq_size));
                        }
                    }
                })?;
                if !waiting.is_empty() {
                    rep.queue_units_checked += fast.checked;
                    if let Some(ts) = fast.last_dispatch_ts {
                        self.last_dispatch_ts = ts;
                    }
                    if let Some(ts) = fast.last_store_ts {
                        self.last_store_ts = ts;
                    }
                    self.apply(waiting, fast.stop, rep, queues, index_from, now_ms)?;
                }
                let last = &reading[n - 1];
                let (next, to) = (last.next, last.to);
                todo.drain(..n - 1);
                if next < to {
                    todo[0] = (next, to);
                } else {
                    todo.pop_front();
                }
                pending = n;
                cur = 1 - cur;
            }
            seg_start = seg + size;
        }
        // The last round's facts.
        self.apply(
            &bufs[1 - cur][..pending],
            (0, 0),
            rep,
            queues,
            index_from,
            now_ms,
        )
    }

    /// Applies the facts of `pieces` from `stop` (piece, fact) on, in order:
    /// each record's unit re-checked or written, and indexed past the plan's
    /// start.
    fn apply(
        &mut self,
        pieces: &[Piece],
        stop: (usize, usize),
        rep: &mut RecoveryReport,
        queues: &mut Queues,
        index_from: Option<(u64, usize)>,
        now_ms: i64,
    ) -> Result<(), EngineError> {
        for (pi, p) in pieces.iter().enumerate().skip(stop.0) {
            let skip_facts = if pi == stop.0 { stop.1 } else { 0 };
            for f in p.facts.iter().skip(skip_facts) {
                if let Some(qi) = f.queue {
                    self.recheck(f, qi, rep, queues)?;
                }
                if let Some((from, skip)) = index_from
                    && f.meta != 0
                    && let Some(rec) = p.text.record(f)
                {
                    // After `from` every key is indexed; of the record at
                    // `from` the first `skip` keys are already in a kept file.
                    let skip = if f.offset == from { skip } else { 0 };
                    rep.index_keys_added +=
                        self.index
                            .build_ref(&self.store, &rec, skip, &mut *self.namer, now_ms)?;
                }
                self.last_store_ts = f.store_timestamp;
            }
        }
        Ok(())
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
        let known = &mut queues.known[qi];
        let qo = f.queue_offset;
        let cached = known.cached(qo);
        let q = &mut known.q;
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
            let stored = match cached {
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
        fanout: &dyn super::super::fanout::Fanout,
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
                let dirt = zeros::find_nonzero(
                    &self.store,
                    &q.log.log,
                    seg,
                    fin - seg,
                    q.log.file_size,
                    false,
                    fanout,
                )?;
                if let Some(l) = dirt.end {
                    let to = seg + l;
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
