//! Shared pieces of the CommitLog engine tests (included with `#[path]` by the
//! `rocketmq_engine_*` test files): a shared-ownership store handle, seeded
//! workloads, and the consistency check run on every recovered image.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::rc::Rc;

use rocketlog_core::codec::consume_queue::CqUnit;
use rocketlog_core::codec::message::{self, DecodeOptions, Host, Record};
use rocketlog_core::engine::commitlog::{
    Batch, BatchItem, CommitLog, CommitLogConfig, EngineError, FlushDiskType, Message, PutResult,
};
use rocketlog_core::engine::dispatch::{self, RecordMeta};
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError,
};
use rocketlog_tests::crash::XorShift;

/// A store handle the engine can own while the test keeps another.
pub struct Shared<T>(pub Rc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Rc::clone(&self.0))
    }
}

impl<T: PageRead> PageRead for Shared<T> {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.0.logs(like)
    }
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.0.segments(log)
    }
    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        self.0.read(log, seg, pos, out)
    }
    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.0.with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.read_meta(file)
    }
}

impl<T: PageStore> PageStore for Shared<T> {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.0.create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.0.write(log, seg, pos, data)
    }
    fn sync(
        &self,
        log: &LogId,
        seg: SegmentId,
        range: std::ops::Range<u64>,
    ) -> Result<(), StoreError> {
        self.0.sync(log, seg, range)
    }
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.0.remove(log, seg)
    }
    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.0.sync_dir(log)
    }
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.0.write_meta(file, contents)
    }
}

pub const T0: i64 = 1_700_000_000_000;

pub fn namer() -> Box<dyn FnMut(i64) -> u64 + Send> {
    // Stand-in for the host's yyyyMMddHHmmssSSS: any increasing function of time.
    Box::new(|ms| 20_260_000_000_000_000 + (ms - T0).max(0) as u64)
}

pub fn host(i: u64) -> Host {
    Host::V4 {
        addr: [10, 0, (i >> 8) as u8, i as u8],
        port: 50_000 + (i % 1000) as i32,
    }
}

/// Small files so that commitlog, consume-queue and index files all roll.
pub fn small_config(seed: u64) -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: 2048,
        mapped_file_size_consume_queue: 100,
        max_hash_slot_num: 4,
        max_index_num: 12,
        enabled_append_prop_crc: seed % 2 == 1,
        force_verify_prop_crc: seed % 2 == 1,
        flush_disk_type: if seed % 4 < 2 {
            FlushDiskType::SyncFlush
        } else {
            FlushDiskType::AsyncFlush
        },
        store_host: Host::parse("192.168.7.21:10911").unwrap(),
        ..CommitLogConfig::default()
    }
}

/// One step of a workload.
#[derive(Debug, Clone)]
pub enum Op {
    Put {
        topic: &'static str,
        queue: i32,
        body: Vec<u8>,
        props: Vec<u8>,
    },
    Batch {
        topic: &'static str,
        queue: i32,
        items: Vec<(Vec<u8>, Vec<u8>)>,
    },
    Prepare {
        topic: &'static str,
        queue: i32,
        body: Vec<u8>,
        props: Vec<u8>,
    },
    /// End the n-th outstanding prepared message (mod count).
    End {
        pick: usize,
        commit: bool,
    },
    Flush,
    Expire,
}

pub const TOPICS: [&str; 3] = ["TopicA", "TopicB", "%RETRY%g"];

pub fn props(seed: u64, i: u64, rng: &mut XorShift) -> Vec<u8> {
    let mut p = format!("UNIQ_KEY\u{1}U{seed:x}-{i}\u{2}TAGS\u{1}T{}\u{2}", i % 3);
    match rng.below(3) {
        0 => {}
        1 => p.push_str(&format!("KEYS\u{1}k{}\u{2}", i % 7)),
        _ => p.push_str(&format!("KEYS\u{1}k{} x{i}  y\u{2}", i % 5)),
    }
    p.into_bytes()
}

/// A seeded workload of puts, batches, transactions, flushes and expiries.
pub fn workload(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = XorShift::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut ops = Vec::with_capacity(len);
    for i in 0..len as u64 {
        let topic = TOPICS[rng.below(3) as usize];
        let queue = rng.below(2) as i32;
        let body = (0..rng.below(260))
            .map(|b| (b as u8) ^ (i as u8))
            .collect::<Vec<u8>>();
        let op = match rng.below(100) {
            0..=54 => Op::Put {
                topic,
                queue,
                body,
                props: props(seed, i, &mut rng),
            },
            55..=69 => Op::Batch {
                topic,
                queue,
                items: (0..1 + rng.below(4))
                    .map(|j| {
                        (
                            vec![j as u8; rng.below(120) as usize],
                            props(seed, i * 10 + j, &mut rng),
                        )
                    })
                    .collect(),
            },
            70..=77 => Op::Prepare {
                topic,
                queue,
                body,
                props: props(seed, i, &mut rng),
            },
            78..=87 => Op::End {
                pick: rng.below(8) as usize,
                commit: rng.coin(),
            },
            88..=96 => Op::Flush,
            _ => Op::Expire,
        };
        ops.push(op);
    }
    ops
}

/// What a run wrote: every record (offset → bytes) and how far puts were
/// acknowledged as durable.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    pub records: BTreeMap<u64, Vec<u8>>,
    pub acked_end: u64,
    /// Commitlog minimum after the last expiry that completed.
    pub min_after_expiry: u64,
    pub ops_done: usize,
}

fn note<S: PageStore>(e: &CommitLog<S>, r: &PutResult, t: &mut Trace) -> Result<(), EngineError> {
    let mut off = r.physical_offset;
    for _ in 0..r.count {
        let raw = e.read(off)?;
        let n = raw.len() as u64;
        t.records.insert(off, raw);
        off += n;
    }
    if r.synced {
        t.acked_end = t.acked_end.max(r.physical_offset + r.size);
    }
    Ok(())
}

/// Runs `ops` from now; stops at the first error (a crash or a fault).
pub fn run<S: PageStore>(
    e: &mut CommitLog<S>,
    ops: &[Op],
    t: &mut Trace,
) -> Result<(), EngineError> {
    let mut prepared: Vec<u64> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let now = T0 + 1000 + i as i64 * 7;
        let born = host(i as u64);
        let msg = |topic, queue, body, props, sys_flag| Message {
            topic,
            queue_id: queue,
            flag: i as i32,
            body,
            properties: props,
            sys_flag,
            born_timestamp: now - 5,
            born_host: born,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        match op {
            Op::Put {
                topic,
                queue,
                body,
                props,
            } => {
                let r = e.put(&msg(topic, *queue, body, props, 0), now)?;
                note(e, &r, t)?;
            }
            Op::Prepare {
                topic,
                queue,
                body,
                props,
            } => {
                let r = e.put(
                    &msg(
                        topic,
                        *queue,
                        body,
                        props,
                        message::SysFlag::TRANSACTION_PREPARED,
                    ),
                    now,
                )?;
                note(e, &r, t)?;
                prepared.push(r.physical_offset);
            }
            Op::End { pick, commit } => {
                prepared.retain(|&o| o >= e.min_offset());
                if !prepared.is_empty() {
                    let off = prepared.remove(pick % prepared.len());
                    let r = e.end_transaction(off, *commit, now)?;
                    note(e, &r, t)?;
                }
            }
            Op::Batch {
                topic,
                queue,
                items,
            } => {
                let items: Vec<BatchItem<'_>> = items
                    .iter()
                    .map(|(b, p)| BatchItem {
                        flag: 3,
                        body: b,
                        properties: p,
                    })
                    .collect();
                let b = Batch {
                    topic,
                    queue_id: *queue,
                    sys_flag: 0,
                    born_timestamp: now - 5,
                    born_host: born,
                    reconsume_times: 1,
                    messages: &items,
                };
                let r = e.put_batch(&b, now)?;
                note(e, &r, t)?;
            }
            Op::Flush => {
                e.flush()?;
                t.acked_end = t.acked_end.max(e.synced_offset());
            }
            Op::Expire => {
                e.delete_head_files(1)?;
                t.min_after_expiry = e.min_offset();
            }
        }
        t.ops_done = i + 1;
    }
    Ok(())
}

/// Walks the stored records of `[min, end)` (BLANKs skipped).
pub fn stored_records<S: PageStore>(e: &CommitLog<S>) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let size = e.config().mapped_file_size_commit_log;
    let mut out = Vec::new();
    let mut pos = e.min_offset();
    while pos < e.max_offset() {
        let mut head = [0u8; 8];
        e.store()
            .read(&LogId::CommitLog, pos - pos % size, pos % size, &mut head)
            .map_err(|x| format!("read at {pos}: {x}"))?;
        if i32::from_be_bytes([head[4], head[5], head[6], head[7]]) == message::BLANK_MAGIC {
            pos = pos - pos % size + size;
            continue;
        }
        let raw = e.read(pos).map_err(|x| format!("record at {pos}: {x}"))?;
        let n = raw.len() as u64;
        out.push((pos, raw));
        pos += n;
    }
    if pos != e.max_offset() {
        return Err(format!(
            "records end at {pos}, engine says {}",
            e.max_offset()
        ));
    }
    Ok(out)
}

pub fn meta_of(raw: &[u8], off: u64) -> RecordMeta {
    match message::decode(raw, off, DecodeOptions::LENIENT) {
        Ok(Record::Message(m)) => RecordMeta::of(&m, off),
        _ => panic!("engine returned an undecodable record at {off}"),
    }
}

/// Checks a recovered engine against what was written and acknowledged:
/// the log is a prefix of the written records, acknowledged records are all
/// there byte for byte, the tail is zero, and consume queues and index files
/// agree with the log. Returns the violations.
pub fn check<S: PageStore>(e: &CommitLog<S>, t: &Trace) -> Vec<String> {
    let mut v = Vec::new();
    let (min, end) = (e.min_offset(), e.max_offset());
    let recs = match stored_records(e) {
        Ok(r) => r,
        Err(x) => return vec![x],
    };
    // Prefix: exactly the written records in [min, end), identical bytes.
    let written: Vec<(&u64, &Vec<u8>)> = t
        .records
        .range(min..)
        .filter(|(o, b)| **o + b.len() as u64 <= end)
        .collect();
    if written.len() != recs.len() {
        v.push(format!(
            "{} records recovered in [{min}, {end}), {} written there",
            recs.len(),
            written.len()
        ));
    }
    for (o, raw) in &recs {
        match t.records.get(o) {
            Some(w) if w == raw => {}
            Some(_) => v.push(format!("record at {o} differs from what was written")),
            None => v.push(format!("record at {o} was never written")),
        }
    }
    if t.acked_end > min && end < t.acked_end {
        v.push(format!(
            "acknowledged data up to {} but recovered end is {end}",
            t.acked_end
        ));
    }
    // Zero tail, no later files.
    let size = e.config().mapped_file_size_commit_log;
    let segs = e.store().segments(&LogId::CommitLog).unwrap_or_default();
    if let Some(last) = segs.last() {
        if last.id > end {
            v.push(format!(
                "commitlog file {} lies past the end {end}",
                last.id
            ));
        }
        if end < last.id + size && end >= last.id {
            let tail_nonzero = e
                .store()
                .with_view(
                    &LogId::CommitLog,
                    last.id,
                    end - last.id,
                    last.id + size - end,
                    |b| b.iter().any(|&x| x != 0),
                )
                .unwrap_or(true);
            if tail_nonzero {
                v.push(format!("non-zero bytes after the end {end}"));
            }
        }
    }
    // Consume queues.
    let mut last_qo: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let metas: Vec<RecordMeta> = recs.iter().map(|(o, r)| meta_of(r, *o)).collect();
    for m in &metas {
        if m.to_queue() {
            last_qo.insert((m.topic.clone(), m.queue_id), m.queue_offset);
            match e.queue_unit(&m.topic, m.queue_id, m.queue_offset) {
                Ok(Some(u)) if u == m.unit() => {}
                other => v.push(format!(
                    "record at {} ({} q{} #{}): unit {other:?}",
                    m.offset, m.topic, m.queue_id, m.queue_offset
                )),
            }
        }
    }
    for (topic, q, qmin, qmax) in e.queues() {
        if let Some(&lq) = last_qo.get(&(topic.clone(), q))
            && qmax != lq + 1
        {
            v.push(format!(
                "{topic} q{q}: max offset {qmax}, last record has {lq}"
            ));
        }
        for qo in qmin..qmax {
            match e.queue_unit(&topic, q, qo) {
                Ok(Some(u)) if u.is_filler() => {}
                Ok(Some(u)) if u.physical_offset + i64::from(u.size) > end as i64 => {
                    v.push(format!("{topic} q{q} #{qo} points past the end: {u:?}"))
                }
                Ok(Some(u)) if u.physical_offset >= min as i64 => {
                    let ok = t
                        .records
                        .get(&(u.physical_offset as u64))
                        .is_some_and(|r| r.len() as i32 == u.size);
                    if !ok {
                        v.push(format!("{topic} q{q} #{qo} points at no record: {u:?}"));
                    }
                }
                Ok(Some(_)) => {}
                other => v.push(format!("{topic} q{q} #{qo}: {other:?}")),
            }
        }
    }
    // Index: every key of every indexable record finds it; no entry past the end.
    for m in &metas {
        if !m.to_index() {
            continue;
        }
        for k in m.index_keys() {
            let key = &k[m.topic.len() + 1..];
            match e.find_by_key(&m.topic, key) {
                Ok(hits) if hits.contains(&m.offset) => {}
                other => v.push(format!("key {k} of record {}: {other:?}", m.offset)),
            }
        }
    }
    let g = e.config().index_geometry();
    for (seg, _) in e.index_files() {
        for en in dispatch::entries(e.store(), g, *seg).unwrap_or_default() {
            if en.phy_offset as u64 >= end && end > 0 {
                v.push(format!(
                    "index file {seg} has an entry at {} past the end {end}",
                    en.phy_offset
                ));
            }
        }
    }
    v
}

/// The consume-queue unit a record should have.
pub fn unit_of(m: &RecordMeta) -> CqUnit {
    m.unit()
}
