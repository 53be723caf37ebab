//! The RocketMQ store readers against the Java-written fixtures (and corrupted
//! copies of them): messages, consume queues and key look-ups must be what
//! Java's `DefaultMessageStore.load()` yields.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rocketlog_core::codec::checkpoint::StoreCheckpoint;
use rocketlog_core::codec::consume_queue::CqUnit;
use rocketlog_core::codec::dledger::{self, DataRecord, Line};
use rocketlog_core::codec::index_file::{self, IndexGeometry};
use rocketlog_core::codec::message::{self, DecodeOptions, Record};
use rocketlog_core::error::DecodeErrorKind;
use rocketlog_core::json;
use rocketlog_core::layout::{parse_file_name, parse_index_file_name};
use rocketlog_core::mem::MemStore;
use rocketlog_core::scan::consume_queue::{self, ConsumeQueues, RecordFacts};
use rocketlog_core::scan::index::{self, IndexService};
use rocketlog_core::scan::rocketmq::{
    self, Config, DispatchRequest, Item, RecoveryMode, StopReason, Summary, WalkOptions,
};
use rocketlog_core::scan::{Problem, ProblemKind, Severity};
use rocketlog_core::store::{LogId, MetaFile, PageRead, PageStore};
use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(rel)
}

fn sorted_dir(p: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<_> = match fs::read_dir(p) {
        Ok(d) => d
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), e.path())
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Loads a RocketMQ store root (plain or DLedger commitlog mode) into memory.
fn load_store(root: &Path) -> MemStore {
    let s = MemStore::new();
    for (name, p) in sorted_dir(&root.join("commitlog")) {
        s.insert_segment(
            LogId::CommitLog,
            parse_file_name(&name).unwrap(),
            fs::read(p).unwrap(),
        );
    }
    for (topic, tp) in sorted_dir(&root.join("consumequeue")) {
        for (qid, qp) in sorted_dir(&tp) {
            let log = LogId::ConsumeQueue {
                topic: topic.clone(),
                queue_id: qid.parse().unwrap(),
            };
            for (name, p) in sorted_dir(&qp) {
                s.insert_segment(
                    log.clone(),
                    parse_file_name(&name).unwrap(),
                    fs::read(p).unwrap(),
                );
            }
        }
    }
    for (name, p) in sorted_dir(&root.join("index")) {
        s.insert_segment(
            LogId::IndexFile,
            parse_index_file_name(&name).unwrap(),
            fs::read(p).unwrap(),
        );
    }
    for (name, p) in sorted_dir(&root.join("dledger-n0/data")) {
        s.insert_segment(
            LogId::DLedgerData,
            parse_file_name(&name).unwrap(),
            fs::read(p).unwrap(),
        );
    }
    if let Ok(b) = fs::read(root.join("checkpoint")) {
        s.insert_meta(MetaFile::StoreCheckpoint, b);
    }
    if let Ok(b) = fs::read(root.join("abort")) {
        s.insert_meta(MetaFile::Abort, b);
    }
    s
}

fn jsonl(p: &Path) -> Vec<Value> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn meta(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("expected_meta.json")).unwrap()).unwrap()
}

/// Field-by-field comparison with a message naming the first difference.
fn assert_same(what: &str, got: &Value, want: &Value) {
    let (Value::Object(g), Value::Object(w)) = (got, want) else {
        panic!("{what}: not objects");
    };
    for (k, wv) in w {
        assert_eq!(g.get(k), Some(wv), "{what}: field {k}");
    }
    assert_eq!(
        g.len(),
        w.len(),
        "{what}: field sets differ: {g:?} vs {w:?}"
    );
}

fn basic() -> (PathBuf, MemStore) {
    let dir = fixture("rocketmq/basic");
    let s = load_store(&dir.join("store"));
    (dir, s)
}

/// Walks messages and blanks, returning rendered messages and blanks.
fn walk_all(s: &MemStore, sum: &Summary) -> (Vec<Value>, Vec<(u64, i32)>, Vec<Problem>) {
    let mut msgs = Vec::new();
    let mut blanks = Vec::new();
    let report = rocketmq::walk(s, sum, WalkOptions::default(), |it| {
        match it {
            Item::Message { offset, view } => {
                let mut o = String::new();
                json::push_message(&mut o, &view, offset);
                msgs.push(serde_json::from_str(&o).unwrap());
            }
            Item::Blank { offset, total_size } => blanks.push((offset, total_size)),
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    (msgs, blanks, report.problems)
}

fn cq_lines(s: &MemStore, qs: &ConsumeQueues) -> Vec<Value> {
    let mut out = Vec::new();
    for q in qs.queues() {
        for (n, u) in q.units(s).unwrap() {
            let mut o = String::new();
            json::push_cq_unit(&mut o, q.topic(), q.queue_id(), n, &u);
            out.push(serde_json::from_str(&o).unwrap());
        }
    }
    out
}

fn offsets_of(v: &Value) -> Vec<i64> {
    v["physicalOffsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn facts(
    s: &MemStore,
    sum: &Summary,
) -> impl FnMut(i64) -> Result<Option<RecordFacts>, rocketlog_core::StoreError> {
    move |off| rocketmq::record_facts(s, sum, off)
}

#[test]
fn basic_messages_blanks_and_end_match_java() {
    let (dir, s) = basic();
    let m = meta(&dir);
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    let sum = &rec.summary;
    assert!(sum.normal);
    assert_eq!(m["abortFilePresent"], Value::Bool(false));
    assert_eq!(
        sum.file_size,
        m["mappedFileSizeCommitLog"].as_u64().unwrap()
    );
    assert_eq!(
        sum.min_offset,
        m["commitLogMinOffsetAfterRecovery"].as_u64().unwrap()
    );
    assert_eq!(
        sum.end,
        m["commitLogMaxOffsetAfterRecovery"].as_u64().unwrap()
    );
    // Clean shutdown with complete queues: nothing to re-dispatch, and the
    // scan starts in the last file.
    assert_eq!(sum.redispatched, 0);
    assert_eq!(sum.recovery_start, 458_752);
    assert!(rec.problems.is_empty(), "{:?}", rec.problems);

    let (msgs, blanks, problems) = walk_all(&s, sum);
    assert!(problems.is_empty(), "{problems:?}");
    let want = jsonl(&dir.join("expected.jsonl"));
    assert_eq!(msgs.len(), want.len());
    assert_eq!(msgs.len() as u64, m["messageCount"].as_u64().unwrap());
    for (i, (g, w)) in msgs.iter().zip(&want).enumerate() {
        assert_same(&format!("message {i}"), g, w);
    }
    let want_blanks: Vec<(u64, i32)> = m["endOfFileBlanks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["magic"].as_i64(), Some(i64::from(message::BLANK_MAGIC)));
            (
                b["physicalOffset"].as_u64().unwrap(),
                b["totalSize"].as_i64().unwrap() as i32,
            )
        })
        .collect();
    assert_eq!(blanks, want_blanks);

    // Strict verification finds nothing wrong in a clean Java store.
    let (_, problems) = rocketmq::verify(&s, &Config::default()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn basic_consume_queues_match_java() {
    let (dir, s) = basic();
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    assert_eq!(
        rec.queues.file_size(),
        meta(&dir)["mappedFileSizeConsumeQueue"].as_u64().unwrap()
    );
    let got = cq_lines(&s, &rec.queues);
    let want = jsonl(&dir.join("expected_consumequeue.jsonl"));
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_same(&format!("cq unit {i}"), g, w);
    }
    let problems = rec.queues.verify(&s, facts(&s, &rec.summary)).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn basic_index_lookups_match_java() {
    let (dir, s) = basic();
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    assert_eq!(
        rec.index.geometry(),
        IndexGeometry {
            slots: 16,
            entries: 64
        }
    );
    let want = jsonl(&dir.join("expected_index.jsonl"));
    for w in &want {
        let (t, k) = (w["topic"].as_str().unwrap(), w["key"].as_str().unwrap());
        let got = rec
            .index
            .query_message(&s, t, k, rec.summary.min_offset, rec.summary.end)
            .unwrap();
        assert_eq!(got, offsets_of(w), "{t}#{k}");
    }
    // Every key of every message is in the expected file, and vice versa.
    let keys = index::all_keys(&s, &rec.summary).unwrap();
    let want_keys: BTreeSet<(String, String)> = want
        .iter()
        .map(|w| {
            (
                w["topic"].as_str().unwrap().into(),
                w["key"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(keys, want_keys);
    // Explicit geometry gives the same answers.
    let cfg = Config {
        index: index::Config {
            geometry: Some(IndexGeometry {
                slots: 16,
                entries: 64,
            }),
            ..index::Config::default()
        },
        ..Config::default()
    };
    let rec2 = rocketmq::recover(&s, &cfg).unwrap();
    let w = &want[5];
    assert_eq!(
        rec2.index
            .query_message(
                &s,
                w["topic"].as_str().unwrap(),
                w["key"].as_str().unwrap(),
                0,
                rec2.summary.end
            )
            .unwrap(),
        offsets_of(w)
    );
}

/// DLedger commitlog mode: the consume-queue and index code fed with messages
/// decoded from DLedger entries (body at pos + 48).
#[test]
fn dledger_mode_consume_queues_and_index_match_java() {
    let dir = fixture("rocketmq-dledger/basic");
    let s = load_store(&dir.join("store"));
    let m = meta(&dir);
    let end = m["commitLogMaxOffsetAfterRecovery"].as_u64().unwrap();

    // Messages, in log order, up to the committed end.
    let mut reqs = Vec::new();
    let mut rendered = Vec::new();
    for seg in s.segments(&LogId::DLedgerData).unwrap() {
        s.with_view(&LogId::DLedgerData, seg.id, 0, seg.len, |buf| {
            let mut pos = 0usize;
            while seg.id + (pos as u64) < end {
                match dledger::decode(&buf[pos..], seg.id + pos as u64, Line::Classic).unwrap() {
                    DataRecord::Entry(e) => {
                        let at = e.pos as u64 + 48;
                        let Record::Message(v) =
                            message::decode(e.body, at, DecodeOptions::STRICT).unwrap()
                        else {
                            panic!("blank inside an entry");
                        };
                        let mut o = String::new();
                        json::push_message(&mut o, &v, at);
                        rendered.push(serde_json::from_str::<Value>(&o).unwrap());
                        reqs.push(DispatchRequest::from_view(&v));
                        pos += e.size as usize;
                    }
                    DataRecord::Blank { .. } => break,
                }
            }
        })
        .unwrap();
    }
    let want_msgs = jsonl(&dir.join("expected.jsonl"));
    assert_eq!(rendered.len(), want_msgs.len());
    for (i, (g, w)) in rendered.iter().zip(&want_msgs).enumerate() {
        assert_same(&format!("dledger message {i}"), g, w);
    }

    // Java's load: queues recovered, normal recovery re-dispatches records
    // past the queues' max physical offset, then truncation at the end.
    let mut qs = ConsumeQueues::load(&s, &consume_queue::Config::default()).unwrap();
    assert_eq!(qs.file_size(), 120);
    let ckpt = rocketmq::read_checkpoint(&s, &mut Vec::new()).unwrap();
    let mut idx = IndexService::load(&s, &index::Config::default(), true, &ckpt).unwrap();
    let from = qs.max_physic_offset();
    for r in reqs.iter().filter(|r| r.commit_log_offset > from) {
        qs.dispatch(r);
        idx.build(&s, r).unwrap();
    }
    qs.truncate_dirty(&s, end as i64).unwrap();
    qs.correct_min_offset(&s, 0).unwrap();
    let got = cq_lines(&s, &qs);
    let want = jsonl(&dir.join("expected_consumequeue.jsonl"));
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_same(&format!("dledger cq unit {i}"), g, w);
    }
    for w in jsonl(&dir.join("expected_index.jsonl")) {
        let (t, k) = (w["topic"].as_str().unwrap(), w["key"].as_str().unwrap());
        assert_eq!(
            idx.query_message(&s, t, k, 0, end).unwrap(),
            offsets_of(&w),
            "{t}#{k}"
        );
    }

    // Rebuilding everything from the messages alone (queues and index
    // deleted) gives the same answers: the re-dispatch model is complete.
    let empty = MemStore::new();
    let mut qs2 = ConsumeQueues::load(
        &empty,
        &consume_queue::Config {
            file_size: Some(120),
        },
    )
    .unwrap();
    let mut idx2 = IndexService::load(
        &empty,
        &index::Config {
            geometry: Some(IndexGeometry {
                slots: 16,
                entries: 64,
            }),
            ..index::Config::default()
        },
        true,
        &StoreCheckpoint::default(),
    )
    .unwrap();
    for r in &reqs {
        qs2.dispatch(r);
        idx2.build(&empty, r).unwrap();
    }
    assert_eq!(cq_lines(&empty, &qs2), want);
    for w in jsonl(&dir.join("expected_index.jsonl")) {
        let (t, k) = (w["topic"].as_str().unwrap(), w["key"].as_str().unwrap());
        assert_eq!(
            idx2.query_message(&empty, t, k, 0, end).unwrap(),
            offsets_of(&w),
            "{t}#{k}"
        );
    }
}

fn copy(s: &MemStore) -> MemStore {
    s.clone()
}

fn flip(s: &MemStore, log: &LogId, seg: u64, pos: u64, mask: u8) {
    let mut b = [0u8; 1];
    s.read(log, seg, pos, &mut b).unwrap();
    s.write(log, seg, pos, &[b[0] ^ mask]).unwrap();
}

fn expected_offsets(dir: &Path) -> Vec<(u64, u64, usize)> {
    // (offset, totalSize, bodyLength) of every expected message.
    jsonl(&dir.join("expected.jsonl"))
        .iter()
        .map(|v| {
            (
                v["physicalOffset"].as_u64().unwrap(),
                v["totalSize"].as_u64().unwrap(),
                v["bodyLength"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

/// Position of the body inside a V1 record with IPv4 hosts.
const BODY_POS: u64 = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 8 + 4;

#[test]
fn body_bit_flip_in_last_file_ends_recovery_there() {
    let (dir, s) = basic();
    let msgs = expected_offsets(&dir);
    let &(off, _, _) = msgs
        .iter()
        .find(|(o, _, b)| *o > 458_752 + 100 && *b > 0)
        .unwrap();
    let s = copy(&s);
    let seg = 458_752;
    flip(&s, &LogId::CommitLog, seg, off - seg + BODY_POS, 0x01);
    let (rec, problems) = rocketmq::verify(&s, &Config::default()).unwrap();
    assert_eq!(rec.summary.end, off);
    assert!(matches!(
        &rec.summary.stop.reason,
        StopReason::Rejected(e) if matches!(e.kind, DecodeErrorKind::CrcMismatch { field: "bodyCrc", .. }) && e.offset == off
    ));
    assert!(
        problems
            .iter()
            .any(|p| p.offset == off && p.segment == Some(seg))
    );
    // Consume-queue units at or past the end are gone.
    let units = cq_lines(&s, &rec.queues);
    let want: Vec<Value> = jsonl(&dir.join("expected_consumequeue.jsonl"))
        .into_iter()
        .filter(|u| u["physicalOffset"].as_u64().unwrap() < off)
        .collect();
    assert_eq!(units, want);
    // The walk ends before the bad record.
    let (got, _, _) = walk_all(&s, &rec.summary);
    assert_eq!(got.len(), msgs.iter().filter(|m| m.0 < off).count());
    // Index hits past the end are dropped.
    for w in jsonl(&dir.join("expected_index.jsonl")) {
        let want: Vec<i64> = offsets_of(&w)
            .into_iter()
            .filter(|&o| (o as u64) < off)
            .collect();
        let got = rec
            .index
            .query_message(
                &s,
                w["topic"].as_str().unwrap(),
                w["key"].as_str().unwrap(),
                0,
                rec.summary.end,
            )
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn body_bit_flip_before_recovery_start_is_reported_not_fatal() {
    let (dir, s) = basic();
    let msgs = expected_offsets(&dir);
    let &(off, _, _) = msgs
        .iter()
        .find(|(o, _, b)| *o < 65_536 && *b > 10)
        .unwrap();
    let s = copy(&s);
    flip(&s, &LogId::CommitLog, 0, off + BODY_POS + 3, 0x80);
    let (rec, problems) = rocketmq::verify(&s, &Config::default()).unwrap();
    // Java's normal recovery starts in the last file and never sees it.
    assert_eq!(rec.summary.end, 484_512);
    let crc: Vec<&Problem> = problems
        .iter()
        .filter(|p| matches!(&p.kind, ProblemKind::Decode(e) if matches!(e.kind, DecodeErrorKind::CrcMismatch { .. })))
        .collect();
    assert_eq!(crc.len(), 1, "{problems:?}");
    assert_eq!(
        (crc[0].offset, crc[0].segment, crc[0].severity),
        (off, Some(0), Severity::Error)
    );
    assert!(
        crc[0]
            .to_string()
            .contains("commitlog/00000000000000000000 at offset")
    );
    // Every message is still visited by the strict walk (it continues past it).
    let mut n = 0;
    let report = rocketmq::walk(&s, &rec.summary, WalkOptions::STRICT, |_| {
        n += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(report.messages, msgs.len() as u64);
    assert_eq!(report.problems.len(), 1);
    // The consume queue still points at a record of the right size there.
    assert!(
        rec.queues
            .verify(&s, facts(&s, &rec.summary))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn zeroed_header_mid_last_file_ends_the_walk_there() {
    let (dir, s) = basic();
    let msgs = expected_offsets(&dir);
    let last_file: Vec<_> = msgs.iter().filter(|m| m.0 >= 458_752).collect();
    let &(off, _, _) = last_file[last_file.len() / 2];
    let s = copy(&s);
    s.write(&LogId::CommitLog, 458_752, off - 458_752, &[0u8; 8])
        .unwrap();
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    assert_eq!(rec.summary.end, off);
    // A zero header is an ordinary end: no problem raised for it.
    assert!(rec.problems.is_empty(), "{:?}", rec.problems);
    let (got, _, _) = walk_all(&s, &rec.summary);
    assert_eq!(got.len(), msgs.iter().filter(|m| m.0 < off).count());
    // The stale records after the end are noticed by verify.
    let past = rocketmq::check_past_end(&s, &rec.summary).unwrap();
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].severity, Severity::Notice);
    assert!(past[0].offset > off);
}

#[test]
fn zeroed_header_in_first_file_is_not_seen_by_normal_recovery() {
    let (dir, s) = basic();
    let msgs = expected_offsets(&dir);
    let off = msgs[3].0;
    let s = copy(&s);
    s.write(&LogId::CommitLog, 0, off, &[0u8; 8]).unwrap();
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    assert_eq!(rec.summary.end, 484_512);
    let (got, _, problems) = walk_all(&s, &rec.summary);
    // The walk reports the hole and resumes at the next file.
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].offset, off);
    assert_eq!(
        got.len(),
        msgs.iter().filter(|m| m.0 < off || m.0 >= 65_536).count()
    );
    // Abnormal recovery (no file old enough) scans from file 0 and stops there.
    let cfg = Config {
        recovery: RecoveryMode::Abnormal,
        ..Config::default()
    };
    let rec = rocketmq::recover(&s, &cfg).unwrap();
    assert!(!rec.summary.normal);
    assert_eq!(rec.summary.end, off);
}

#[test]
fn truncated_last_file_stops_at_the_torn_record() {
    let (dir, s) = basic();
    let msgs = expected_offsets(&dir);
    let &(last, size, _) = msgs.last().unwrap();
    let s = copy(&s);
    let seg = 458_752;
    let mut bytes = s.segment_bytes(&LogId::CommitLog, seg).unwrap();
    bytes.truncate((last - seg + size / 2) as usize);
    s.insert_segment(LogId::CommitLog, seg, bytes);
    let (rec, problems) = rocketmq::verify(&s, &Config::default()).unwrap();
    assert_eq!(rec.summary.file_size, 65_536);
    assert_eq!(rec.summary.end, last);
    assert!(matches!(&rec.summary.stop.reason, StopReason::Rejected(e) if e.is_truncated()));
    // Java refuses a wrong-sized file: reported as an error on that segment.
    assert!(problems.iter().any(|p| p.severity == Severity::Error
        && p.segment == Some(seg)
        && p.log == LogId::CommitLog));
    assert!(
        problems
            .iter()
            .any(|p| p.offset == last && p.severity == Severity::Notice)
    );
}

#[test]
fn abort_marker_runs_abnormal_recovery() {
    let (dir, s) = basic();
    let s = copy(&s);
    s.insert_meta(MetaFile::Abort, b"12345".to_vec());
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    let sum = &rec.summary;
    assert!(!sum.normal);
    // Every message is newer than the checkpoint's min timestamp - 3 s, so no
    // file qualifies and recovery re-dispatches from file 0.
    assert_eq!(sum.recovery_start, 0);
    assert_eq!(sum.redispatched, 60);
    assert_eq!(sum.end, 484_512);
    // Queues already hold every record: unchanged.
    assert_eq!(
        cq_lines(&s, &rec.queues),
        jsonl(&dir.join("expected_consumequeue.jsonl"))
    );
    // The index file written after the checkpoint's indexMsgTimestamp is
    // dropped and its keys rebuilt in memory.
    let files = rec.index.files();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].name(), Some(20261121141212191));
    assert_eq!(files[1].name(), None);
    let boundary = files[0].header().end_phy_offset;
    let mut duplicated = Vec::new();
    for w in jsonl(&dir.join("expected_index.jsonl")) {
        let (t, k) = (w["topic"].as_str().unwrap(), w["key"].as_str().unwrap());
        let got = rec.index.query_message(&s, t, k, 0, sum.end).unwrap();
        let mut dedup = got.clone();
        dedup.dedup();
        assert_eq!(dedup, offsets_of(&w), "{t}#{k}");
        // Java re-adds the keys of the record at the kept file's endPhyOffset
        // (its skip rule is `offset < endPhyOffset`): the only duplicates.
        if got.len() != dedup.len() {
            duplicated.push(got);
        }
    }
    // The kept file filled up at that record's UNIQ_KEY: exactly one key.
    assert_eq!(duplicated, [vec![boundary as i64, boundary as i64]]);
}

#[test]
fn expired_head_starts_at_the_second_file() {
    let (dir, s) = basic();
    let s = copy(&s);
    s.remove(&LogId::CommitLog, 0).unwrap();
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    assert_eq!(rec.summary.min_offset, 65_536);
    assert_eq!(rec.summary.end, 484_512);
    let (got, _, problems) = walk_all(&s, &rec.summary);
    assert!(problems.is_empty());
    let want: Vec<Value> = jsonl(&dir.join("expected.jsonl"))
        .into_iter()
        .filter(|m| m["physicalOffset"].as_u64().unwrap() >= 65_536)
        .collect();
    assert_eq!(got, want);
    // correctMinOffset moves each queue's min to its first unit at or past
    // 65536, searching only the queue's first file (Java's rule).
    let all = jsonl(&dir.join("expected_consumequeue.jsonl"));
    for q in rec.queues.queues() {
        let mine: Vec<&Value> = all
            .iter()
            .filter(|u| u["topic"] == q.topic() && u["queueId"] == q.queue_id())
            .collect();
        let first_file = &mine[..mine.len().min(8)];
        let want_min = first_file
            .iter()
            .position(|u| u["physicalOffset"].as_u64().unwrap() >= 65_536)
            .unwrap_or(0) as u64;
        assert_eq!(q.min_offset(), want_min, "{}/{}", q.topic(), q.queue_id());
    }
    // Index hits below the min offset have no data: dropped.
    for w in jsonl(&dir.join("expected_index.jsonl")) {
        let want: Vec<i64> = offsets_of(&w)
            .into_iter()
            .filter(|&o| o >= 65_536)
            .collect();
        let got = rec
            .index
            .query_message(
                &s,
                w["topic"].as_str().unwrap(),
                w["key"].as_str().unwrap(),
                65_536,
                484_512,
            )
            .unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn deleted_consume_queues_are_rebuilt_by_recovery() {
    // "Delete consumequeue/ to rebuild": dispatchFrom = -1, the scan starts at
    // file 0 and every record is dispatched.
    let (dir, s) = basic();
    let t = MemStore::new();
    for seg in s.segments(&LogId::CommitLog).unwrap() {
        t.insert_segment(
            LogId::CommitLog,
            seg.id,
            s.segment_bytes(&LogId::CommitLog, seg.id).unwrap(),
        );
    }
    t.insert_meta(
        MetaFile::StoreCheckpoint,
        s.read_meta(MetaFile::StoreCheckpoint).unwrap().unwrap(),
    );
    let cfg = Config {
        consume_queue: consume_queue::Config {
            file_size: Some(160),
        },
        index: index::Config {
            geometry: Some(IndexGeometry {
                slots: 16,
                entries: 64,
            }),
            ..index::Config::default()
        },
        ..Config::default()
    };
    let rec = rocketmq::recover(&t, &cfg).unwrap();
    assert_eq!(rec.summary.dispatch_from, -1);
    assert_eq!(rec.summary.recovery_start, 0);
    assert_eq!(
        cq_lines(&t, &rec.queues),
        jsonl(&dir.join("expected_consumequeue.jsonl"))
    );
    for w in jsonl(&dir.join("expected_index.jsonl")) {
        let (tp, k) = (w["topic"].as_str().unwrap(), w["key"].as_str().unwrap());
        assert_eq!(
            rec.index
                .query_message(&t, tp, k, 0, rec.summary.end)
                .unwrap(),
            offsets_of(&w)
        );
    }
}

#[test]
fn consume_queue_verify_reports_a_wrong_unit() {
    let (_, s) = basic();
    let s = copy(&s);
    let log = LogId::ConsumeQueue {
        topic: "TopicB".into(),
        queue_id: 0,
    };
    // Unit 2: bump its size field.
    flip(&s, &log, 0, 2 * 20 + 11, 0x01);
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    let problems = rec.queues.verify(&s, facts(&s, &rec.summary)).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (
            problems[0].log.clone(),
            problems[0].offset,
            problems[0].severity
        ),
        (log, 40, Severity::Error)
    );
}

#[test]
fn hostile_fields_do_not_panic_or_allocate() {
    let (_, s) = basic();
    let s = copy(&s);
    // A record header claiming 2 GiB in the last file.
    let at = 470_000 - 458_752;
    let rec0 = rocketmq::recover(&s, &Config::default()).unwrap();
    let (msgs, _, _) = walk_all(&s, &rec0.summary);
    let off = msgs
        .iter()
        .map(|m| m["physicalOffset"].as_u64().unwrap())
        .find(|&o| o >= 458_752 + at)
        .unwrap();
    s.write(
        &LogId::CommitLog,
        458_752,
        off - 458_752,
        &i32::MAX.to_be_bytes(),
    )
    .unwrap();
    // Index: indexCount huge, every slot pointing far away; CQ units negative.
    let idx = s.segments(&LogId::IndexFile).unwrap();
    s.write(&LogId::IndexFile, idx[1].id, 36, &i32::MAX.to_be_bytes())
        .unwrap();
    for slot in 0..16u64 {
        s.write(
            &LogId::IndexFile,
            idx[1].id,
            40 + 4 * slot,
            &(i32::MAX - 1).to_be_bytes(),
        )
        .unwrap();
    }
    let cq = LogId::ConsumeQueue {
        topic: "TopicC".into(),
        queue_id: 5,
    };
    s.write(&cq, 160, 0, &[0xff; 20]).unwrap();
    let (rec, problems) = rocketmq::verify(&s, &Config::default()).unwrap();
    assert_eq!(rec.summary.end, off);
    assert!(problems.iter().any(|p| p.offset == off));
    for q in rec.queues.queues() {
        q.units(&s).unwrap();
    }
    for (t, k) in index::all_keys(&s, &rec.summary).unwrap() {
        rec.index
            .query_message(&s, &t, &k, 0, rec.summary.end)
            .unwrap();
    }
}

fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_files_give_problems_not_panics() {
    let s = MemStore::new();
    s.insert_segment(LogId::CommitLog, 0, garbage(1, 4096));
    s.insert_segment(LogId::CommitLog, 4096, garbage(2, 4000));
    s.insert_segment(LogId::CommitLog, 9999, garbage(3, 4096));
    s.insert_segment(
        LogId::ConsumeQueue {
            topic: "T".into(),
            queue_id: 1,
        },
        0,
        garbage(4, 200),
    );
    s.insert_segment(LogId::IndexFile, 20260101000000000, garbage(5, 1384));
    s.insert_meta(MetaFile::StoreCheckpoint, garbage(6, 7));
    let (rec, problems) = rocketmq::verify(&s, &Config::default()).unwrap();
    assert_eq!(rec.summary.file_size, 4096);
    assert_eq!(rec.summary.end, 0);
    assert!(
        problems
            .iter()
            .any(|p| p.segment == Some(4096) && p.severity == Severity::Error)
    );
    assert!(problems.iter().any(|p| p.segment == Some(9999)));
    for q in rec.queues.queues() {
        q.units(&s).unwrap();
    }
    rec.index.query_message(&s, "T", "k", 0, u64::MAX).unwrap();
    let empty = MemStore::new();
    let rec = rocketmq::recover(&empty, &Config::default()).unwrap();
    assert_eq!(rec.summary.stop.reason, StopReason::NoFiles);
    assert_eq!((rec.summary.min_offset, rec.summary.end), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes in any file: recovery, walks, queue listing and queries
    /// finish without panicking and the end never exceeds the data.
    #[test]
    fn arbitrary_stores_never_panic(
        files in proptest::collection::vec((0u64..4, proptest::collection::vec(any::<u8>(), 0..600)), 0..4),
        cq in proptest::collection::vec(any::<u8>(), 0..120),
        ix in proptest::collection::vec(any::<u8>(), 0..400),
        abort in any::<bool>(),
    ) {
        let s = MemStore::new();
        for (i, (slot, bytes)) in files.iter().enumerate() {
            s.insert_segment(LogId::CommitLog, slot * 512 + i as u64, bytes.clone());
        }
        s.insert_segment(LogId::ConsumeQueue { topic: "T".into(), queue_id: 0 }, 0, cq);
        s.insert_segment(LogId::IndexFile, 1, ix);
        if abort { s.insert_meta(MetaFile::Abort, Vec::new()); }
        let (rec, _) = rocketmq::verify(&s, &Config::default()).unwrap();
        let total: u64 = s.segments(&LogId::CommitLog).unwrap().iter().map(|f| f.id + f.len).max().unwrap_or(0);
        prop_assert!(rec.summary.end <= total.max(rec.summary.min_offset));
        for q in rec.queues.queues() { q.units(&s).unwrap(); }
        rec.index.query_message(&s, "T", "k", 0, u64::MAX).unwrap();
    }

    /// The in-memory index overlay answers exactly like the codec's
    /// `put_key`/`select` on a whole file, also on top of a file on disk.
    #[test]
    fn index_overlay_matches_codec(
        puts in proptest::collection::vec((0u8..6, 0i64..5_000), 1..40),
        on_disk in 0usize..40,
    ) {
        let g = IndexGeometry { slots: 4, entries: 48 };
        let mut whole = vec![0u8; g.file_len() as usize];
        let mut disk = vec![0u8; g.file_len() as usize];
        let mut ts = 1_700_000_000_000i64;
        let mut reqs = Vec::new();
        for (i, (k, dt)) in puts.iter().enumerate() {
            ts += dt;
            let key = format!("key-{k}");
            let phy = i as i64 * 100;
            index_file::put_key(&mut whole, g, &format!("T#{key}"), phy, ts);
            if i < on_disk {
                index_file::put_key(&mut disk, g, &format!("T#{key}"), phy, ts);
            } else {
                reqs.push(DispatchRequest {
                    commit_log_offset: phy, size: 100, tags_code: 0, topic: "T".into(),
                    queue_id: 0, queue_offset: i as i64, sys_flag: 0, store_timestamp: ts,
                    keys: Some(key), uniq_key: None,
                });
            }
        }
        let s = MemStore::new();
        if on_disk > 0 {
            s.insert_segment(LogId::IndexFile, 1, disk);
        }
        let cfg = index::Config { geometry: Some(g), ..index::Config::default() };
        let mut svc = IndexService::load(&s, &cfg, true, &StoreCheckpoint::default()).unwrap();
        for r in &reqs { svc.build(&s, r).unwrap(); }
        for k in 0..6 {
            let key = format!("key-{k}");
            let mut want = Vec::new();
            index_file::select(&whole, g, &format!("T#{key}"), 0, i64::MAX, 64, &mut want);
            prop_assert_eq!(svc.query_offset(&s, "T", &key, 64, 0, i64::MAX).unwrap(), want);
        }
    }

    /// Re-dispatching the same records twice changes nothing (the
    /// `offset + size <= maxPhysicOffset` rule), whatever their order.
    #[test]
    fn consume_queue_redispatch_is_idempotent(n in 1usize..30, fs_units in 1u64..6) {
        let reqs: Vec<DispatchRequest> = (0..n).map(|i| DispatchRequest {
            commit_log_offset: i as i64 * 200, size: 150, tags_code: i as i64, topic: "T".into(),
            queue_id: (i % 2) as i32, queue_offset: (i / 2) as i64, sys_flag: 0,
            store_timestamp: 0, keys: None, uniq_key: None,
        }).collect();
        let s = MemStore::new();
        let mut qs = ConsumeQueues::load(&s, &consume_queue::Config { file_size: Some(fs_units * 20) }).unwrap();
        for r in &reqs { qs.dispatch(r); }
        let once: BTreeMap<(String, i32), Vec<(u64, CqUnit)>> =
            qs.queues().map(|q| ((q.topic().into(), q.queue_id()), q.units(&s).unwrap())).collect();
        for r in &reqs { qs.dispatch(r); }
        let twice: BTreeMap<(String, i32), Vec<(u64, CqUnit)>> =
            qs.queues().map(|q| ((q.topic().into(), q.queue_id()), q.units(&s).unwrap())).collect();
        prop_assert_eq!(&once, &twice);
        for (k, units) in &once {
            let want: Vec<(u64, CqUnit)> = reqs.iter().filter(|r| r.queue_id == k.1)
                .map(|r| (r.queue_offset as u64, CqUnit { physical_offset: r.commit_log_offset, size: r.size, tags_code: r.tags_code }))
                .collect();
            prop_assert_eq!(units, &want);
        }
        // Truncation keeps exactly the units below the cut.
        let cut = (n as i64 / 2) * 200;
        qs.truncate_dirty(&s, cut).unwrap();
        for q in qs.queues() {
            let units = q.units(&s).unwrap();
            prop_assert!(units.iter().all(|(_, u)| u.physical_offset < cut));
            let want = reqs.iter().filter(|r| r.queue_id == q.queue_id() && r.commit_log_offset < cut).count();
            prop_assert_eq!(units.len(), want);
        }
    }
}

// ---- IndexFile verification --------------------------------------------------

/// The fixture's index geometry (1,384-byte files: 16 slots, 64 entries).
const IDX: IndexGeometry = IndexGeometry {
    slots: 16,
    entries: 64,
};

/// The fixture store, its index files (oldest first) and the first one's bytes.
fn index_store() -> (MemStore, Vec<u64>, Vec<u8>) {
    let (_, s) = basic();
    let segs: Vec<u64> = s
        .segments(&LogId::IndexFile)
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect();
    assert!(!segs.is_empty());
    let first = s.segment_bytes(&LogId::IndexFile, segs[0]).unwrap();
    assert_eq!(first.len() as u64, IDX.file_len());
    (s, segs, first)
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn put_i32(s: &MemStore, seg: u64, at: usize, v: i32) {
    s.write(&LogId::IndexFile, seg, at as u64, &v.to_be_bytes())
        .unwrap();
}

/// The problems `verify` reports, keeping only those in index files.
fn index_problems(s: &MemStore) -> Vec<Problem> {
    let (_, problems) = rocketmq::verify(s, &Config::default()).unwrap();
    problems
        .into_iter()
        .filter(|p| p.log == LogId::IndexFile)
        .collect()
}

fn text(p: &Problem) -> String {
    p.to_string()
}

#[test]
fn index_verify_is_clean_on_java_files() {
    let (s, segs, _) = index_store();
    let problems = index::verify(&s, &index::Config::default(), 0, u64::MAX, |o| {
        // Every entry of the Java-written files points at a message.
        Ok(Some(vec![o as i32]))
    })
    .unwrap();
    // With a lookup that never matches, every used entry is a keyHash
    // mismatch: proves the entries are really checked against the messages.
    // (Listed: at most 32 per file, the rest counted in one more line.)
    let used: Vec<usize> = segs
        .iter()
        .map(|&seg| {
            let b = s.segment_bytes(&LogId::IndexFile, seg).unwrap();
            (i32_at(&b, 36).max(1) - 1) as usize
        })
        .collect();
    assert!(used.iter().all(|&u| u > 0));
    let listed: usize = used.iter().map(|&u| u.min(32)).sum();
    let more = used.iter().filter(|&&u| u > 32).count();
    assert_eq!(problems.len(), listed + more, "{problems:#?}");
    let mismatches = problems
        .iter()
        .filter(|p| text(p).contains("none of the index keys"))
        .count();
    assert_eq!(mismatches, listed, "{problems:#?}");
    // The real lookup finds nothing wrong.
    assert!(index_problems(&s).is_empty());
}

#[test]
fn index_verify_reports_a_flipped_key_hash() {
    let (s, segs, b) = index_store();
    let at = IDX.entry_pos(1);
    let h = i32_at(&b, at);
    // Flip a high bit: the hash stays non-negative and in the same slot
    // (16 slots use the low 4 bits), so only the message check can see it.
    put_i32(&s, segs[0], at, h ^ (1 << 20));
    let problems = index_problems(&s);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!(
        (p.segment, p.offset, p.severity),
        (Some(segs[0]), at as u64, Severity::Warning)
    );
    assert!(text(p).contains("keyHash"), "{p}");
}

#[test]
fn index_verify_reports_a_slot_past_index_count() {
    let (s, segs, b) = index_store();
    let count = i32_at(&b, 36);
    // Every slot of the fixture is used: breaking slot 3 also cuts its chain
    // off, whose entries (followed here through prev) become unreachable.
    let slot = 3;
    let mut chain = Vec::new();
    let mut cur = i32_at(&b, IDX.slot_pos(slot));
    while cur > 0 {
        chain.push(IDX.entry_pos(cur as u32) as u64);
        cur = i32_at(&b, IDX.entry_pos(cur as u32) + 16);
    }
    assert!(!chain.is_empty());
    for bad in [count + 3, count] {
        // indexCount itself is no used entry either (entries are 1..count).
        put_i32(&s, segs[0], IDX.slot_pos(slot), bad);
        let problems = index_problems(&s);
        assert_eq!(problems.len(), 1 + chain.len(), "{problems:#?}");
        let p = &problems[0];
        assert_eq!(
            (p.segment, p.offset, p.severity),
            (Some(segs[0]), IDX.slot_pos(slot) as u64, Severity::Warning)
        );
        assert!(
            text(p).contains(&format!("slot {slot} holds entry {bad}")),
            "{p}"
        );
        let mut unreachable: Vec<u64> = problems[1..]
            .iter()
            .inspect(|q| assert!(text(q).contains("no slot chain reaches"), "{q}"))
            .map(|q| q.offset)
            .collect();
        unreachable.sort_unstable();
        chain.sort_unstable();
        assert_eq!(unreachable, chain);
    }
}

#[test]
fn index_verify_reports_a_wrong_sized_file() {
    let (s, segs, _) = index_store();
    let last = *segs.last().unwrap();
    // A torn copy, one entry short (two files of different lengths tie: the
    // larger length wins, as for the commitlog).
    let mut b = s.segment_bytes(&LogId::IndexFile, last).unwrap();
    b.truncate(b.len() - 20);
    s.insert_segment(LogId::IndexFile, last, b);
    let problems = index_problems(&s);
    // Reported once (the load's warning about the same file is folded in).
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!(
        (p.segment, p.offset, p.severity),
        (Some(last), 0, Severity::Error)
    );
    assert!(text(p).contains("1364 bytes, not 1384"), "{p}");
}

#[test]
fn index_verify_reports_a_cycle_in_prev() {
    let (s, segs, b) = index_store();
    let count = i32_at(&b, 36);
    // An entry whose prev is another entry: link that one back to it.
    let (k, p) = (1..count)
        .map(|k| (k, i32_at(&b, IDX.entry_pos(k as u32) + 16)))
        .find(|&(_, p)| p > 0)
        .expect("the fixture has a chain of two");
    let at = IDX.entry_pos(p as u32);
    put_i32(&s, segs[0], at + 16, k);
    let problems = index_problems(&s);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let q = &problems[0];
    assert_eq!(
        (q.segment, q.offset, q.severity),
        (Some(segs[0]), at as u64, Severity::Warning)
    );
    assert!(
        text(q).contains(&format!("entry {p} links to prev {k}")),
        "{q}"
    );
    // Look-ups still end (Java's would loop forever).
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    for (t, key) in index::all_keys(&s, &rec.summary).unwrap() {
        rec.index
            .query_message(&s, &t, &key, 0, rec.summary.end)
            .unwrap();
    }
}

#[test]
fn index_verify_stops_at_a_garbage_header() {
    let (s, segs, _) = index_store();
    put_i32(&s, segs[0], 36, 65);
    let problems = index_problems(&s);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(
        (
            problems[0].segment,
            problems[0].offset,
            problems[0].severity
        ),
        (Some(segs[0]), 36, Severity::Error)
    );
    // Garbage everywhere but a sane count: many problems, listed at most 32
    // per file plus one line counting the rest.
    let mut g: Vec<u8> = (0..IDX.file_len() as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    g[32..40].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 64]);
    s.insert_segment(LogId::IndexFile, segs[0], g);
    let problems = index_problems(&s);
    assert_eq!(problems.len(), 33, "{problems:#?}");
    assert!(text(&problems[32]).contains("more problems"));
}

/// The one-walk verifier skips the consume-queue look-up only for units the
/// walk found pointing back at their record: on a store with damaged units it
/// reports exactly what checking every unit reports (the oracle:
/// `ConsumeQueues::verify`, which looks every unit's record up), each once.
#[test]
fn verify_reports_each_damaged_unit_once_as_the_full_check_does() {
    let (_, s) = basic();
    let log = LogId::ConsumeQueue {
        topic: "TopicA".into(),
        queue_id: 0,
    };
    // Unit 1: wrong size; unit 2: points where no record starts; unit 3:
    // wrong tags code (the walk must not confirm it either).
    let mut u = [0u8; 20];
    for (n, patch) in [(1u64, 0usize), (2, 1), (3, 2)] {
        s.read(&log, 0, n * 20, &mut u).unwrap();
        let mut unit = CqUnit::decode(&u).unwrap();
        match patch {
            0 => unit.size += 1,
            1 => unit.physical_offset += 1,
            _ => unit.tags_code ^= 1,
        }
        s.write(&log, 0, n * 20, &unit.encode()).unwrap();
    }
    let rec = rocketmq::recover(&s, &Config::default()).unwrap();
    let want = rec.queues.verify(&s, facts(&s, &rec.summary)).unwrap();
    assert_eq!(want.len(), 3, "{want:?}");

    let mut visited = 0;
    let (_, problems) = rocketmq::verify_visiting(&s, &Config::default(), |_, _, _| {
        visited += 1;
    })
    .unwrap();
    let got: Vec<&Problem> = problems
        .iter()
        .filter(|p| matches!(p.log, LogId::ConsumeQueue { .. }))
        .collect();
    assert_eq!(got, want.iter().collect::<Vec<_>>());
    let (msgs, _, _) = walk_all(&s, &rec.summary);
    assert_eq!(visited, msgs.len(), "every message goes to a queue here");
}
