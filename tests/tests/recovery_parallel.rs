//! Recovery with its commitlog checks spread over threads
//! (`CommitLog::open_with` and a `Fanout`) gives exactly what the sequential
//! open gives: the same report (or refusal), the same queues and every file
//! of the store byte for byte afterwards, on clean stores and on stores with
//! bit flips, torn tails, zeroed pages and stale copies of records, under
//! repair and strict recovery. The sequential open is the oracle.

#[path = "rocketmq_engine_support.rs"]
mod support;

use rocketlog::store::Threads;
use rocketlog_core::engine::commitlog::{CommitLog, CommitLogConfig, Message};
use rocketlog_core::engine::fanout::{Fanout, Reversed, Sequential};
use rocketlog_core::engine::recovery::RecoveryMode;
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile, PageRead};
use rocketlog_tests::crash::XorShift;
use support::{T0, TOPICS, host, namer};

const LOG_SIZE: u64 = 64 << 10;

fn cfg(seed: u64, mode: RecoveryMode) -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: LOG_SIZE,
        mapped_file_size_consume_queue: 20 * 64,
        max_hash_slot_num: 16,
        max_index_num: 64,
        enabled_append_prop_crc: seed % 2 == 1,
        force_verify_prop_crc: seed % 3 == 1,
        recovery_mode: mode,
        ..CommitLogConfig::default()
    }
}

/// A store of about three commitlog files: varied bodies (some holding
/// bytes that look like a record header naming its own position), topics,
/// queues and keys; left without a clean shutdown.
fn store(seed: u64) -> MemStore {
    let mut rng = XorShift::new(seed + 1);
    let mut e = CommitLog::open(
        MemStore::new(),
        cfg(seed, RecoveryMode::Repair),
        namer(),
        T0,
    )
    .unwrap();
    let mut i = 0u64;
    while e.max_offset() < 3 * LOG_SIZE - 5000 {
        let len = 1 + (rng.next_u64() % 900) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if i.is_multiple_of(4) && len > 40 {
            // A fake header: magic, and the offset the body will sit near.
            body[4..8].copy_from_slice(&0xDAA3_20A7_u32.to_be_bytes());
            body[28..36].copy_from_slice(&(e.max_offset() + 100).to_be_bytes());
        }
        let props = format!("KEYS\x01k{i} j{}\x02TAGS\x01t{}\x02", i % 7, i % 3);
        e.put(
            &Message {
                topic: TOPICS[(i % 3) as usize],
                queue_id: (i % 5) as i32,
                flag: 0,
                body: &body,
                properties: props.as_bytes(),
                sys_flag: 0,
                born_timestamp: T0,
                born_host: host(i),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            },
            T0 + i as i64,
        )
        .unwrap();
        i += 1;
    }
    e.flush().unwrap();
    e.into_store()
}

/// Every file of the store, in order, with its bytes.
fn files(s: &MemStore) -> Vec<(LogId, u64, Vec<u8>)> {
    let mut logs = vec![LogId::CommitLog, LogId::IndexFile];
    logs.extend(
        s.logs(&LogId::ConsumeQueue {
            topic: String::new(),
            queue_id: 0,
        })
        .unwrap(),
    );
    let mut out = Vec::new();
    for log in logs {
        for seg in s.segments(&log).unwrap() {
            out.push((log.clone(), seg.id, s.segment_bytes(&log, seg.id).unwrap()));
        }
    }
    out
}

/// What an open did: its outcome and the store afterwards.
fn open(img: &MemStore, seed: u64, mode: RecoveryMode, fanout: &dyn Fanout) -> String {
    let s = img.clone();
    match CommitLog::open_with(s, cfg(seed, mode), namer(), T0 + 99_000, fanout) {
        Ok(e) => {
            let out = format!(
                "ok {:?} queues {:?} end {} checkpoint {:?}",
                e.recovery_report(),
                e.queues(),
                e.max_offset(),
                e.checkpoint(),
            );
            let s = e.into_store();
            format!("{out}\n{:?}", files(&s))
        }
        Err(x) => format!("err {x}\n{:?}", files(img)),
    }
}

fn same_as_sequential(img: &MemStore, seed: u64, what: &str) {
    for mode in [RecoveryMode::Repair, RecoveryMode::Strict] {
        let want = open(img, seed, mode, &Sequential);
        for fanout in [&Threads::new(2) as &dyn Fanout, &Reversed(3)] {
            let got = open(img, seed, mode, fanout);
            assert!(
                got == want,
                "{what}, {mode:?}, width {}:\n{}\n!=\n{}",
                fanout.width(),
                &got[..got.len().min(600)],
                &want[..want.len().min(600)]
            );
        }
    }
}

/// A deep copy (a `MemStore` clone shares its contents).
fn copy(s: &MemStore) -> MemStore {
    let c = MemStore::new();
    for (log, seg, bytes) in files(s) {
        c.insert_segment(log, seg, bytes);
    }
    for m in [MetaFile::StoreCheckpoint, MetaFile::Abort] {
        if let Some(b) = s.read_meta(m).unwrap() {
            c.insert_meta(m, b);
        }
    }
    c
}

fn edit(s: &MemStore, at: u64, f: impl FnOnce(&mut Vec<u8>, usize)) -> MemStore {
    let c = copy(s);
    let seg = at - at % LOG_SIZE;
    let mut b = c.segment_bytes(&LogId::CommitLog, seg).unwrap();
    f(&mut b, (at - seg) as usize);
    c.insert_segment(LogId::CommitLog, seg, b);
    c
}

#[test]
fn parallel_recovery_equals_sequential_recovery() {
    for seed in 0..3 {
        let clean = store(seed);
        let end = clean
            .segments(&LogId::CommitLog)
            .unwrap()
            .last()
            .map(|s| s.id + LOG_SIZE)
            .unwrap();
        same_as_sequential(&copy(&clean), seed, "clean");
        let mut rng = XorShift::new(seed + 100);
        // Bit flips anywhere: headers, bodies, properties, blanks, zeros.
        for n in 0..24 {
            let at = rng.next_u64() % end;
            let bit = 1u8 << (rng.next_u64() % 8);
            let img = edit(&clean, at, |b, p| b[p] ^= bit);
            same_as_sequential(&img, seed, &format!("flip {n} at {at}"));
        }
        // Torn tails and zeroed pages.
        for n in 0..8 {
            let at = rng.next_u64() % end;
            let img = edit(&clean, at, |b, p| b[p..].fill(0));
            same_as_sequential(&img, seed, &format!("zeros from {at}"));
            let img = edit(&clean, at, |b, p| {
                let q = (p + 512).min(b.len());
                b[p..q].fill(0);
            });
            same_as_sequential(&img, seed, &format!("zeroed page {n} at {at}"));
        }
        // Consume-queue units that disagree with their records (rewritten).
        let queues: Vec<(LogId, u64, Vec<u8>)> = files(&clean)
            .into_iter()
            .filter(|(l, _, _)| matches!(l, LogId::ConsumeQueue { .. }))
            .collect();
        for n in 0..8 {
            let (log, seg, bytes) = &queues[rng.next_u64() as usize % queues.len()];
            let used = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
            if used == 0 {
                continue;
            }
            let img = copy(&clean);
            let mut b = bytes.clone();
            let at = rng.next_u64() as usize % used;
            b[at] ^= 1 << (rng.next_u64() % 8);
            img.insert_segment(log.clone(), *seg, b);
            same_as_sequential(&img, seed, &format!("unit flip {n} in {log} at {at}"));
        }
        // Records copied to another place (their stored offsets are wrong there).
        let img = edit(&clean, LOG_SIZE + 100, |b, p| {
            b.copy_within(p..p + 9000, p + 20_000)
        });
        same_as_sequential(&img, seed, "stale copy");
    }
}

#[test]
fn a_clean_store_checked_by_threads_is_unchanged_by_its_recovery() {
    let clean = store(7);
    let e = CommitLog::open_with(
        copy(&clean),
        cfg(7, RecoveryMode::Strict),
        namer(),
        T0 + 99_000,
        &Threads::new(2),
    )
    .unwrap();
    let rep = e.recovery_report();
    assert!(rep.records_checked > 100, "{rep}");
    assert_eq!(rep.segments_checked, 3);
    assert_eq!(rep.dirty_bytes_past_end, 0);
    assert_eq!(rep.queue_units_mismatched + rep.queue_units_redispatched, 0);
    let before = files(&clean);
    let after = files(&e.into_store());
    let log_files = |f: &[(LogId, u64, Vec<u8>)]| -> Vec<(LogId, u64, Vec<u8>)> {
        f.iter()
            .filter(|(l, _, _)| *l != LogId::IndexFile)
            .cloned()
            .collect()
    };
    assert_eq!(log_files(&after), log_files(&before));
}
