//! Writing every message of the `rocketmq/basic` fixture through the CommitLog
//! engine reproduces the Java-written commitlog, consume-queue and index files
//! and the checkpoint byte for byte.

use std::path::Path;

use rocketlog_core::codec::message::{Host, MessageParts};
use rocketlog_core::engine::commitlog::{CommitLog, CommitLogConfig, FlushDiskType};
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile, PageRead};
use rocketlog_tests::fixtures;
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("fixture hex"))
        .collect()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("fixture file"),
            )
        })
        .collect();
    v.sort();
    v
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn fixture() -> fixtures::Fixture {
    fixtures::all()
        .into_iter()
        .find(|f| f.name == "rocketmq/basic")
        .expect("rocketmq/basic fixture")
}

fn config(meta: &Value) -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: meta["mappedFileSizeCommitLog"].as_u64().unwrap(),
        mapped_file_size_consume_queue: meta["mappedFileSizeConsumeQueue"].as_u64().unwrap(),
        max_hash_slot_num: meta["maxHashSlotNum"].as_u64().unwrap() as u32,
        max_index_num: meta["maxIndexNum"].as_u64().unwrap() as u32,
        flush_disk_type: FlushDiskType::SyncFlush,
        store_host: Host::parse("192.168.7.21:10911").unwrap(),
        ..CommitLogConfig::default()
    }
}

/// Replays the fixture's messages into a fresh store and shuts it down.
fn replay() -> (fixtures::Fixture, MemStore) {
    let fx = fixture();
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(fx.file("expected_meta.json").unwrap()).unwrap(),
    )
    .unwrap();
    let msgs = fixtures::read_jsonl(&fx.file("expected.jsonl").unwrap()).unwrap();
    assert_eq!(msgs.len() as u64, meta["messageCount"].as_u64().unwrap());
    // Index file names are creation times on the Java host; hand them out in order.
    let mut names: Vec<u64> = meta["indexFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().parse().unwrap())
        .collect();
    names.reverse();
    let namer = Box::new(move |_ms: i64| names.pop().expect("more index files than the fixture"));
    let mut e = CommitLog::open(MemStore::new(), config(&meta), namer, 0).unwrap();
    for m in &msgs {
        let body = hex(m["body"].as_str().unwrap());
        let topic = m["topic"].as_str().unwrap();
        let props = m["propertiesString"].as_str().unwrap();
        let parts = MessageParts {
            v2: Some(
                m["magic"].as_i64().unwrap() as i32 == rocketlog_core::codec::message::MAGIC_V2,
            ),
            body_crc: Some(m["bodyCrc"].as_i64().unwrap() as i32),
            queue_id: m["queueId"].as_i64().unwrap() as i32,
            flag: m["flag"].as_i64().unwrap() as i32,
            queue_offset: m["queueOffset"].as_i64().unwrap(),
            physical_offset: m["physicalOffsetField"].as_i64().unwrap(),
            sys_flag: m["sysFlag"].as_i64().unwrap() as i32,
            born_timestamp: m["bornTimestamp"].as_i64().unwrap(),
            born_host: Host::parse(m["bornHost"].as_str().unwrap()).unwrap(),
            store_timestamp: m["storeTimestamp"].as_i64().unwrap(),
            store_host: Host::parse(m["storeHost"].as_str().unwrap()).unwrap(),
            reconsume_times: m["reconsumeTimes"].as_i64().unwrap() as i32,
            prepared_transaction_offset: m["preparedTransactionOffset"].as_i64().unwrap(),
            body: &body,
            topic: topic.as_bytes(),
            properties: props.as_bytes(),
            append_prop_crc: false,
        };
        let r = e.put_replay(&parts).unwrap();
        assert_eq!(r.physical_offset, m["physicalOffset"].as_u64().unwrap());
        assert_eq!(r.msg_id(0).unwrap(), m["msgId"].as_str().unwrap());
    }
    assert_eq!(
        e.max_offset(),
        meta["commitLogMaxOffsetAfterRecovery"].as_u64().unwrap()
    );
    let store = e.shutdown().unwrap();
    (fx, store)
}

#[test]
fn commitlog_consume_queue_index_and_checkpoint_match_java_bytes() {
    let (fx, store) = replay();
    let root = fx.store();

    let want = files(&root.join("commitlog"));
    let got: Vec<u64> = store
        .segments(&LogId::CommitLog)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(got.len(), want.len());
    for (name, bytes) in &want {
        let id: u64 = name.parse().unwrap();
        assert!(
            store.segment_bytes(&LogId::CommitLog, id).as_ref() == Some(bytes),
            "commitlog file {name} differs"
        );
    }

    let mut queues = 0;
    for topic in names(&root.join("consumequeue")) {
        for q in names(&root.join("consumequeue").join(&topic)) {
            let log = LogId::ConsumeQueue {
                topic: topic.clone(),
                queue_id: q.parse().unwrap(),
            };
            let want = files(&root.join("consumequeue").join(&topic).join(&q));
            assert_eq!(store.segments(&log).unwrap().len(), want.len(), "{log}");
            for (name, bytes) in &want {
                assert!(
                    store.segment_bytes(&log, name.parse().unwrap()).as_ref() == Some(bytes),
                    "{log} file {name} differs"
                );
            }
            queues += 1;
        }
    }
    assert_eq!(queues, 6);
    assert_eq!(
        store
            .logs(&LogId::ConsumeQueue {
                topic: String::new(),
                queue_id: 0
            })
            .unwrap()
            .len(),
        6
    );

    let want = files(&root.join("index"));
    let got = store.segments(&LogId::IndexFile).unwrap();
    assert_eq!(got.len(), want.len());
    for (name, bytes) in &want {
        assert!(
            store
                .segment_bytes(&LogId::IndexFile, name.parse().unwrap())
                .as_ref()
                == Some(bytes),
            "index file {name} differs"
        );
    }

    let cp = std::fs::read(root.join("checkpoint")).unwrap();
    assert_eq!(
        store.read_meta(MetaFile::StoreCheckpoint).unwrap().unwrap(),
        cp
    );
    assert_eq!(
        store.read_meta(MetaFile::Abort).unwrap(),
        None,
        "clean shutdown removes abort"
    );
}

#[test]
fn reopened_fixture_answers_every_expected_lookup() {
    let (fx, store) = replay();
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(fx.file("expected_meta.json").unwrap()).unwrap(),
    )
    .unwrap();
    let e = CommitLog::open(store, config(&meta), Box::new(|ms| ms as u64), 0).unwrap();
    let rep = e.recovery_report();
    assert!(!rep.abnormal_shutdown);
    assert_eq!(rep.records_checked, 60);
    assert_eq!(rep.blanks_checked, 7);
    assert!(rep.truncated.is_empty() && rep.removed.is_empty(), "{rep}");
    assert_eq!(rep.queue_units_checked, 60);
    assert_eq!(
        rep.queue_units_redispatched + rep.index_keys_added,
        0,
        "{rep}"
    );

    for u in fixtures::read_jsonl(&fx.file("expected_consumequeue.jsonl").unwrap()).unwrap() {
        let unit = e
            .queue_unit(
                u["topic"].as_str().unwrap(),
                u["queueId"].as_i64().unwrap() as i32,
                u["queueOffset"].as_i64().unwrap(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(unit.physical_offset, u["physicalOffset"].as_i64().unwrap());
        assert_eq!(unit.size as i64, u["size"].as_i64().unwrap());
        assert_eq!(unit.tags_code, u["tagsCode"].as_i64().unwrap());
    }
    let lookups = fixtures::read_jsonl(&fx.file("expected_index.jsonl").unwrap()).unwrap();
    assert_eq!(lookups.len(), 112);
    for q in lookups {
        let (topic, key) = (q["topic"].as_str().unwrap(), q["key"].as_str().unwrap());
        let mut got = e.query_offsets(topic, key, 64, 0, i64::MAX).unwrap();
        got.sort_unstable();
        let want: Vec<i64> = q["physicalOffsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(got, want, "{topic}#{key}");
    }
    for m in fixtures::read_jsonl(&fx.file("expected.jsonl").unwrap()).unwrap() {
        let off = m["physicalOffset"].as_u64().unwrap();
        assert_eq!(
            e.read(off).unwrap().len() as i64,
            m["totalSize"].as_i64().unwrap()
        );
    }
}
