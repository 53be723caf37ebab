//! Topics name directories (`consumequeue/<topic>/<queueId>/`): a topic that
//! is not one safe directory name is refused before anything is written, the
//! store stays usable, and nothing is ever created outside it. Found by the
//! `append_jsonl` fuzz target (a topic with NUL latched the store; `..`,
//! `a/b` and absolute paths were joined as given).
//!
//! Oracle: the file system. After every refusal the store directory holds
//! only what the accepted messages put there, and its parent holds only the
//! store.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use rocketlog::embed::{Error, FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore};
use rocketlog_core::codec::message::MessageParts;
use rocketlog_core::engine::commitlog::{Batch, BatchItem, EngineError};

/// Topics no store may hold, each with why. Each test adds an absolute path
/// inside its own temporary directory (`Path::join` replaces the base with
/// it), so that a regression writes there and not elsewhere on the machine.
const HOSTILE: &[(&str, &str)] = &[
    ("", "empty"),
    (".", "the queue directory itself"),
    ("..", "the parent directory"),
    ("a/b", "a nested directory"),
    ("../../escape", "leaves the store"),
    ("..\\x", "a Windows separator"),
    ("To\0pic", "NUL: no file system names it"),
];

fn host() -> Host {
    Host::V4 {
        addr: [10, 0, 0, 1],
        port: 50000,
    }
}

fn msg<'a>(topic: &'a str, body: &'a [u8]) -> Message<'a> {
    Message {
        topic,
        queue_id: 0,
        flag: 0,
        body,
        properties: b"",
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: host(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn cfg() -> RocketMqConfig {
    RocketMqConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 100,
        max_hash_slot_num: 16,
        max_index_num: 64,
        flush_disk_type: FlushDiskType::AsyncFlush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    }
}

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// A record to replay at the store's end, with `topic` as given.
fn replayed<'a>(store: &RocketMqStore, topic: &'a [u8]) -> MessageParts<'a> {
    MessageParts {
        v2: None,
        body_crc: None,
        queue_id: 0,
        flag: 0,
        queue_offset: 0,
        physical_offset: store.stats().max_offset as i64,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: host(),
        store_timestamp: 2,
        store_host: host(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: b"b",
        topic,
        properties: b"",
        append_prop_crc: false,
    }
}

fn is_rejected(e: &Error) -> bool {
    matches!(e, Error::Engine(EngineError::Rejected(_)))
}

#[test]
fn the_embedding_api_refuses_hostile_topics_and_stays_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let (store, _) = RocketMqStore::open(&root, cfg()).unwrap();
    let long = "x".repeat(256);
    let abs = tmp.path().join("abs").display().to_string();
    let mut hostile: Vec<&str> = HOSTILE.iter().map(|h| h.0).collect();
    hostile.push(&long);
    hostile.push(&abs);
    let mut good = 0i64;
    for t in &hostile {
        let e = store.put(&msg(t, b"body")).unwrap_err();
        assert!(is_rejected(&e), "{t:?}: {e}");
        assert!(e.to_string().contains("topic"), "{t:?}: {e}");
        let items = [BatchItem {
            flag: 0,
            body: b"b",
            properties: b"",
        }];
        let e = store
            .put_batch(&Batch {
                topic: t,
                queue_id: 0,
                sys_flag: 0,
                born_timestamp: 1,
                born_host: host(),
                reconsume_times: 0,
                messages: &items,
            })
            .unwrap_err();
        assert!(is_rejected(&e), "batch {t:?}: {e}");
        // A replayed record carries its topic as bytes.
        let e = store
            .put_replay(&replayed(&store, t.as_bytes()))
            .unwrap_err();
        assert!(is_rejected(&e), "replay {t:?}: {e}");
        // Not latched: the next good message goes in.
        store.put(&msg("TopicA", b"after")).unwrap();
        good += 1;
    }
    // Bytes that are not UTF-8 only come in through a replay.
    let e = store.put_replay(&replayed(&store, b"T\xff")).unwrap_err();
    assert!(is_rejected(&e), "{e}");
    // Java's alphabet and other valid directory names are accepted.
    for t in ["%RETRY%group-1", "a|b", "topic.v2", &"y".repeat(255)] {
        store.put(&msg(t, b"ok")).unwrap();
    }
    assert_eq!(store.queue_max_offset("TopicA", 0), good);
    store.close().unwrap();

    // Nothing outside the store; inside, only the accepted topics' queues.
    assert_eq!(
        tree(tmp.path())
            .iter()
            .filter(|p| !p.starts_with("store"))
            .count(),
        0
    );
    let queues: BTreeSet<String> = fs::read_dir(root.join("consumequeue"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = ["%RETRY%group-1", "a|b", "topic.v2", "TopicA"]
        .iter()
        .map(|s| s.to_string())
        .chain([&"y".repeat(255)].iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(queues, want);

    // And it reopens with every accepted message.
    let (store, report) = RocketMqStore::open(&root, cfg()).unwrap();
    assert_eq!(store.queue_max_offset("TopicA", 0), good, "{report:?}");
    store.close().unwrap();
}

fn cli(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut input = stdin;
    let argv = std::iter::once("rocketlog").chain(args.iter().copied());
    let code = rocketlog::cli::run_with_stdin(argv, &mut input, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn append_refuses_hostile_topics_as_an_input_error_in_both_rocketmq_kinds() {
    for kind in ["rocketmq", "rocketmq-dledger"] {
        for i in 0..=HOSTILE.len() {
            let tmp = tempfile::tempdir().unwrap();
            let abs = tmp.path().join("abs").display().to_string();
            let (topic, why) = match HOSTILE.get(i) {
                Some(&(t, w)) => (t, w),
                None => (abs.as_str(), "an absolute path"),
            };
            let root = tmp.path().join("store");
            let r = root.to_str().unwrap();
            let good = serde_json::json!({"topic": "TopicA", "queueId": 0, "bodyText": "one"});
            let bad = serde_json::json!({"topic": topic, "queueId": 0, "bodyText": "two"});
            let input = format!("{good}\n{bad}\n");
            let (code, out, err) = cli(
                &["append", r, "--create", "--kind", kind, "--flush", "sync"],
                input.as_bytes(),
            );
            // The bad line is named; the good one before it is acknowledged
            // as durable and reads back.
            assert_eq!(code, 2, "{kind} {topic:?} ({why}): {err}");
            assert!(
                err.contains("stdin line 2") && err.contains("topic"),
                "{kind} {topic:?}: {err}"
            );
            assert!(!err.contains("latched"), "{kind} {topic:?}: {err}");
            assert_eq!(out.lines().count(), 1, "{kind} {topic:?}: {out}");
            assert!(out.contains("\"durable\":true"), "{out}");
            let (dcode, dump, derr) = cli(&["dump", r, "--format", "jsonl"], b"");
            assert_eq!(dcode, 0, "{derr}");
            assert_eq!(dump.lines().count(), 1, "{kind} {topic:?}: {dump}");
            assert!(dump.contains("\"topic\":\"TopicA\""), "{dump}");
            // Nothing but the store was created.
            let outside: Vec<String> = tree(tmp.path())
                .into_iter()
                .filter(|p| !p.starts_with("store"))
                .collect();
            assert!(outside.is_empty(), "{kind} {topic:?}: {outside:?}");
            // The store takes more afterwards (appending to an existing
            // DLedger-mode store is not something `append` does).
            if kind == "rocketmq" {
                let more = format!("{good}\n");
                let (code, _, err) = cli(&["append", r, "--flush", "sync"], more.as_bytes());
                assert_eq!(code, 0, "{kind} {topic:?}: {err}");
            }
        }
    }
}
