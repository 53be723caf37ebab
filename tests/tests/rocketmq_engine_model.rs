//! Model test: random operation sequences against the engine and a plain
//! in-memory model (its own roll rule, queue counters, transaction rules and
//! key sets), compared after every step by offset, by (topic, queue, queue
//! offset) and by key; with clean restarts, crash restarts and expiries.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rocketlog_core::codec::message::{self, DecodeOptions, Record, SysFlag};
use rocketlog_core::engine::commitlog::{
    Batch, BatchItem, CommitLog, CommitLogConfig, FlushDiskType, Message,
};
use rocketlog_core::mem::MemStore;

#[path = "rocketmq_engine_support.rs"]
mod support;
use support::{T0, host, namer};

const FILE: u64 = 1024;

#[derive(Debug, Clone)]
enum Step {
    Put {
        topic: u8,
        queue: u8,
        body: u16,
        key: u8,
        tx: u8,
    },
    Batch {
        topic: u8,
        queue: u8,
        n: u8,
        body: u16,
    },
    End {
        pick: u8,
        commit: bool,
    },
    Restart {
        clean: bool,
    },
    Expire,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..2u8, 0..3u8, 0..300u16, 0..6u8, 0..6u8)
            .prop_map(|(topic, queue, body, key, tx)| Step::Put { topic, queue, body, key, tx }),
        2 => (0..2u8, 0..3u8, 1..4u8, 0..120u16).prop_map(|(topic, queue, n, body)| Step::Batch { topic, queue, n, body }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(pick, commit)| Step::End { pick, commit }),
        1 => any::<bool>().prop_map(|clean| Step::Restart { clean }),
        1 => Just(Step::Expire),
    ]
}

/// A stored record as the model sees it.
#[derive(Debug, Clone)]
struct Rec {
    topic: String,
    queue: i32,
    queue_offset: i64,
    keys: Vec<String>,
    body: Vec<u8>,
    tx: i32,
}

#[derive(Default)]
struct Model {
    end: u64,
    min: u64,
    recs: BTreeMap<u64, Rec>,
    counters: BTreeMap<(String, i32), i64>,
    prepared: Vec<u64>,
}

impl Model {
    /// Where a record of `len` bytes lands (the roll rule, from the spec).
    fn place(&mut self, len: u64) -> u64 {
        let pos = self.end % FILE;
        if len + 8 > FILE - pos {
            self.end += FILE - pos;
        }
        let at = self.end;
        self.end += len;
        at
    }
}

const TOPICS: [&str; 2] = ["Orders", "Pay"];

fn cfg() -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: FILE,
        mapped_file_size_consume_queue: 60,
        max_hash_slot_num: 3,
        max_index_num: 7,
        flush_disk_type: FlushDiskType::SyncFlush,
        ..CommitLogConfig::default()
    }
}

fn compare(e: &CommitLog<MemStore>, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.max_offset(), m.end);
    prop_assert_eq!(e.min_offset(), m.min);
    let mut by_key: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    for (&off, r) in m.recs.range(m.min..) {
        let raw = e
            .read(off)
            .map_err(|x| TestCaseError::fail(format!("read {off}: {x}")))?;
        let Ok(Record::Message(v)) = message::decode(&raw, off, DecodeOptions::STRICT) else {
            return Err(TestCaseError::fail(format!(
                "record at {off} does not decode"
            )));
        };
        prop_assert_eq!(v.topic, r.topic.as_bytes());
        prop_assert_eq!(v.body, &r.body[..]);
        prop_assert_eq!(v.queue_offset, r.queue_offset);
        prop_assert_eq!(v.sys_flag.transaction(), r.tx);
        if SysFlag(r.tx).dispatched_to_queue() {
            let got = e.read_by_queue(&r.topic, r.queue, r.queue_offset).unwrap();
            prop_assert_eq!(
                got.as_deref(),
                Some(&raw[..]),
                "by queue {} {} {}",
                r.topic,
                r.queue,
                r.queue_offset
            );
        }
        if r.tx != SysFlag::TRANSACTION_ROLLBACK {
            for k in &r.keys {
                by_key
                    .entry((r.topic.clone(), k.clone()))
                    .or_default()
                    .insert(off);
            }
        }
    }
    for ((t, q), &next) in &m.counters {
        prop_assert_eq!(e.queue_max_offset(t, *q), next, "{} {}", t, q);
    }
    for ((t, k), offs) in &by_key {
        let got: BTreeSet<u64> = e.find_by_key(t, k).unwrap().into_iter().collect();
        prop_assert_eq!(&got, offs, "key {}#{}", t, k);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_model(steps in proptest::collection::vec(step(), 1..60)) {
        let mut e = CommitLog::open(MemStore::new(), cfg(), namer(), T0).unwrap();
        let mut m = Model::default();
        for (i, s) in steps.iter().enumerate() {
            let now = T0 + 10 + i as i64;
            match s {
                Step::Put { topic, queue, body, key, tx } => {
                    let topic = TOPICS[*topic as usize];
                    let tx = if *tx == 5 { SysFlag::TRANSACTION_PREPARED } else { 0 };
                    let keys = vec![format!("u{i}"), format!("k{key}")];
                    let props = format!("UNIQ_KEY\u{1}{}\u{2}KEYS\u{1}{}\u{2}", keys[0], keys[1]);
                    let body = vec![i as u8; *body as usize];
                    let msg = Message {
                        topic, queue_id: i32::from(*queue), flag: 0, body: &body, properties: props.as_bytes(),
                        sys_flag: tx, born_timestamp: now, born_host: host(1), reconsume_times: 0,
                        prepared_transaction_offset: 0,
                    };
                    let r = e.put(&msg, now).unwrap();
                    let len = 91 + body.len() + topic.len() + props.len();
                    prop_assert_eq!(r.physical_offset, m.place(len as u64));
                    let key = (topic.to_string(), i32::from(*queue));
                    let qo = if tx == 0 { *m.counters.entry(key.clone()).or_default() } else { 0 };
                    if tx == 0 { *m.counters.entry(key).or_default() += 1; } else { m.prepared.push(r.physical_offset); }
                    m.recs.insert(r.physical_offset, Rec { topic: topic.into(), queue: i32::from(*queue), queue_offset: qo, keys, body, tx });
                }
                Step::Batch { topic, queue, n, body } => {
                    let topic = TOPICS[*topic as usize];
                    let props: Vec<String> = (0..*n).map(|j| format!("KEYS\u{1}b{i}-{j}\u{2}")).collect();
                    let bodies: Vec<Vec<u8>> = (0..*n).map(|j| vec![j; *body as usize]).collect();
                    let items: Vec<BatchItem<'_>> = (0..*n as usize).map(|j| BatchItem { flag: 0, body: &bodies[j], properties: props[j].as_bytes() }).collect();
                    let b = Batch { topic, queue_id: i32::from(*queue), sys_flag: 0, born_timestamp: now, born_host: host(2), reconsume_times: 0, messages: &items };
                    let r = e.put_batch(&b, now).unwrap();
                    let lens: Vec<u64> = (0..*n as usize).map(|j| (91 + bodies[j].len() + topic.len() + props[j].len()) as u64).collect();
                    prop_assert_eq!(r.physical_offset, m.place(lens.iter().sum()));
                    let key = (topic.to_string(), i32::from(*queue));
                    let base = *m.counters.entry(key.clone()).or_default();
                    *m.counters.entry(key).or_default() += i64::from(*n);
                    let mut off = r.physical_offset;
                    for j in 0..*n as usize {
                        m.recs.insert(off, Rec { topic: topic.into(), queue: i32::from(*queue), queue_offset: base + j as i64, keys: vec![format!("b{i}-{j}")], body: bodies[j].clone(), tx: 0 });
                        off += lens[j];
                    }
                }
                Step::End { pick, commit } => {
                    let min = m.min;
                    m.prepared.retain(|&o| o >= min);
                    if m.prepared.is_empty() { continue; }
                    let half = m.prepared.remove(*pick as usize % m.prepared.len());
                    let r = e.end_transaction(half, *commit, now).unwrap();
                    let h = m.recs[&half].clone();
                    let props_len = "UNIQ_KEY\u{1}\u{2}KEYS\u{1}\u{2}".len() + h.keys[0].len() + h.keys[1].len();
                    let len = 91 + h.body.len() + h.topic.len() + props_len;
                    prop_assert_eq!(r.physical_offset, m.place(len as u64));
                    let tx = if *commit { SysFlag::TRANSACTION_COMMIT } else { SysFlag::TRANSACTION_ROLLBACK };
                    let key = (h.topic.clone(), h.queue);
                    let qo = if *commit { let c = m.counters.entry(key).or_default(); *c += 1; *c - 1 } else { 0 };
                    m.recs.insert(r.physical_offset, Rec { queue_offset: qo, tx, ..h });
                }
                Step::Restart { clean } => {
                    let s = if *clean { e.shutdown().unwrap() } else { e.into_store() };
                    e = CommitLog::open(s, cfg(), namer(), now).unwrap();
                    let r = e.recovery_report();
                    prop_assert_eq!(r.abnormal_shutdown, !*clean);
                    prop_assert!(r.truncated.is_empty() && r.queue_units_redispatched == 0, "{}", r);
                }
                Step::Expire => {
                    let n = e.delete_head_files(1).unwrap();
                    if n == 1 { m.min += FILE; }
                    prop_assert_eq!(e.min_offset(), m.min);
                }
            }
            compare(&e, &m)?;
        }
    }
}
