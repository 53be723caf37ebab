//! Recovery over the real disk store skips the holes of sparse and
//! preallocated files (`PageRead::data_range`, `lseek(SEEK_DATA)`) and still
//! finds every non-zero byte past the valid end: a stray byte far past the
//! end, after a hole, makes strict recovery refuse and repair zero it, in the
//! last commitlog file, in a later commitlog file and in a consume queue.
//! The oracle is the file's bytes read back with `std::fs`.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rocketlog::store::{DiskStore, Layout};
use rocketlog_core::codec::message::{DecodeOptions, Host};
use rocketlog_core::engine::commitlog::{CommitLog, CommitLogConfig, EngineError, Message};
use rocketlog_core::engine::recovery::{RecoveryMode, Truncation, check_commitlog};
use rocketlog_core::store::{LogId, PageRead};

const LOG_SIZE: u64 = 64 << 20;
const CQ_SIZE: u64 = 20 * 200_000;
const T0: i64 = 1_700_000_000_000;

fn cfg(mode: RecoveryMode) -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: LOG_SIZE,
        mapped_file_size_consume_queue: CQ_SIZE,
        max_hash_slot_num: 64,
        max_index_num: 256,
        recovery_mode: mode,
        ..CommitLogConfig::default()
    }
}

fn open(dir: &Path, mode: RecoveryMode) -> Result<CommitLog<DiskStore>, EngineError> {
    let store = DiskStore::new(Layout::rocketmq(dir));
    CommitLog::open(store, cfg(mode), Box::new(|ms| ms as u64), T0)
}

/// A store with `n` records in queue `Q`/0, closed cleanly; returns the
/// valid end.
fn fill(dir: &Path, n: usize) -> u64 {
    let mut e = open(dir, RecoveryMode::Repair).unwrap();
    for i in 0..n {
        let body = format!("body {i}").repeat(20);
        e.put(
            &Message {
                topic: "Q",
                queue_id: 0,
                flag: 0,
                body: body.as_bytes(),
                properties: format!("KEYS\x01k{i}\x02").as_bytes(),
                sys_flag: 0,
                born_timestamp: T0,
                born_host: Host::V4 {
                    addr: [10, 0, 0, 1],
                    port: 1,
                },
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            },
            T0 + i as i64,
        )
        .unwrap();
    }
    let end = e.max_offset();
    e.shutdown().unwrap();
    end
}

fn byte_at(path: &Path, at: u64) -> u8 {
    let mut b = [0u8];
    File::open(path).unwrap().read_exact_at(&mut b, at).unwrap();
    b[0]
}

fn poke(path: &Path, at: u64, v: u8) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(&[v], at)
        .unwrap();
}

/// Makes `path` a sparse file holding only its first `keep` bytes.
fn make_sparse(path: &Path, keep: u64) {
    let mut head = vec![0u8; keep as usize];
    File::open(path)
        .unwrap()
        .read_exact_at(&mut head, 0)
        .unwrap();
    let len = fs::metadata(path).unwrap().len();
    fs::remove_file(path).unwrap();
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    f.write_all_at(&head, 0).unwrap();
    f.sync_all().unwrap();
}

/// Strict refuses, the read-only check agrees, repair zeroes exactly the
/// stray byte's range and a strict reopen then accepts.
fn refused_then_repaired(dir: &Path, end: u64, stray_file: &Path, stray_abs: u64, in_last: bool) {
    let seg_pos = stray_abs % LOG_SIZE;
    assert_eq!(byte_at(stray_file, seg_pos), 0x5A);
    let rep = match open(dir, RecoveryMode::Strict) {
        Err(EngineError::Refused(rep)) => rep,
        other => panic!("strict recovery must refuse: {:?}", other.map(|_| ())),
    };
    assert_eq!(rep.valid_end, end);
    assert_eq!(rep.dirty_bytes_past_end, 1);
    assert_eq!(byte_at(stray_file, seg_pos), 0x5A, "strict changed nothing");
    let store = DiskStore::new(Layout::rocketmq(dir));
    let chk = check_commitlog(&store, LOG_SIZE, DecodeOptions::STRICT).unwrap();
    assert_eq!((chk.valid_end, chk.dirty_bytes_past_end), (end, 1));
    drop(store);

    let e = open(dir, RecoveryMode::Repair).unwrap();
    let rep = e.recovery_report().clone();
    assert_eq!(e.max_offset(), end);
    if in_last {
        assert_eq!(
            rep.truncated,
            [Truncation {
                log: LogId::CommitLog,
                from: end,
                to: stray_abs + 1,
            }]
        );
    } else {
        assert_eq!(rep.removed, [(LogId::CommitLog, stray_abs - seg_pos)]);
    }
    e.shutdown().unwrap();
    if in_last {
        assert_eq!(byte_at(stray_file, seg_pos), 0);
    } else {
        assert!(!stray_file.exists());
    }
    let e = open(dir, RecoveryMode::Strict).unwrap();
    assert_eq!(e.max_offset(), end);
    assert_eq!(e.recovery_report().dirty_bytes_past_end, 0);
}

#[test]
fn a_stray_byte_after_a_hole_in_the_last_file_is_found() {
    for sparse in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let end = fill(dir.path(), 300);
        let file = dir.path().join("commitlog/00000000000000000000");
        if sparse {
            make_sparse(&file, end);
        }
        // Far past the end and past the pages populated ahead of the writer.
        let stray = 48 << 20 | 3;
        poke(&file, stray, 0x5A);
        let store = DiskStore::new(Layout::rocketmq(dir.path()));
        let hint = store
            .data_range(&LogId::CommitLog, 0, stray & !0xFFF, LOG_SIZE)
            .unwrap();
        assert!(
            hint.as_ref().is_some_and(|r| r.contains(&stray)),
            "{hint:?}"
        );
        drop(store);
        refused_then_repaired(dir.path(), end, &file, stray, true);
    }
}

#[test]
fn a_stray_byte_in_a_later_sparse_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let end = fill(dir.path(), 50);
    let file = dir.path().join("commitlog/00000000000067108864");
    let f = File::create(&file).unwrap();
    f.set_len(LOG_SIZE).unwrap();
    let stray = LOG_SIZE + (40 << 20) + 11;
    f.write_all_at(&[0x5A], stray - LOG_SIZE).unwrap();
    drop(f);
    refused_then_repaired(dir.path(), end, &file, stray, false);
}

#[test]
fn a_stray_byte_after_a_hole_in_a_consume_queue_is_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let end = fill(dir.path(), 40);
    let cq = dir.path().join("consumequeue/Q/0/00000000000000000000");
    make_sparse(&cq, 40 * 20);
    let stray = (3 << 20) + 7;
    poke(&cq, stray, 0x5A);
    let e = open(dir.path(), RecoveryMode::Strict).unwrap();
    assert_eq!(e.max_offset(), end);
    assert_eq!(e.queues(), [("Q".to_owned(), 0, 0, 40)]);
    let t = &e.recovery_report().truncated;
    assert_eq!(
        t,
        &[Truncation {
            log: LogId::ConsumeQueue {
                topic: "Q".into(),
                queue_id: 0
            },
            from: 40 * 20,
            to: stray + 1,
        }]
    );
    e.shutdown().unwrap();
    assert_eq!(byte_at(&cq, stray), 0);
    assert_ne!(byte_at(&cq, 11), 0, "the units are kept (size of unit 0)");
}
