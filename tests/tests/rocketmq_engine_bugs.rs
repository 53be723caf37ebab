//! One test per reference bug from the spec that the CommitLog engine avoids,
//! plus strict-mode refusal and `fillPreBlank` on rebuild.

#[path = "rocketmq_engine_support.rs"]
mod support;

use std::rc::Rc;

use rocketlog_core::codec::message::{self, DecodeOptions, Record};
use rocketlog_core::engine::commitlog::{
    CommitLog, CommitLogConfig, EngineError, FlushDiskType, Message,
};
use rocketlog_core::engine::recovery::RecoveryMode;
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile, PageRead, PageStore, StoreErrorKind};
use rocketlog_tests::fault::{Fault, FaultStore};
use support::{Shared, T0, host, namer};

fn cfg(crc: bool) -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: 4096,
        mapped_file_size_consume_queue: 200,
        max_hash_slot_num: 8,
        max_index_num: 32,
        enabled_append_prop_crc: crc,
        force_verify_prop_crc: crc,
        flush_disk_type: FlushDiskType::SyncFlush,
        ..CommitLogConfig::default()
    }
}

fn msg<'a>(body: &'a [u8], props: &'a [u8]) -> Message<'a> {
    Message {
        topic: "TopicT",
        queue_id: 2,
        flag: 0,
        body,
        properties: props,
        sys_flag: 0,
        born_timestamp: T0,
        born_host: host(3),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// Writes `n` messages with keys `key-i` and returns the store (no clean
/// shutdown: the abort marker stays) and the record offsets and sizes.
fn store_with(n: usize, c: &CommitLogConfig) -> (MemStore, Vec<(u64, u64)>) {
    let mut e = CommitLog::open(MemStore::new(), c.clone(), namer(), T0).unwrap();
    let mut out = vec![];
    for i in 0..n {
        let props = format!("KEYS\u{1}key-{i}\u{2}UNIQ_KEY\u{1}U{i}\u{2}");
        let r = e
            .put(
                &msg(&[i as u8 + 1; 40], props.as_bytes()),
                T0 + 1000 * i as i64,
            )
            .unwrap();
        out.push((r.physical_offset, r.size));
    }
    (e.into_store(), out)
}

fn patch(s: &MemStore, abs: u64, f: impl FnOnce(&mut [u8])) {
    let seg = abs - abs % 4096;
    let mut b = s.segment_bytes(&LogId::CommitLog, seg).unwrap();
    f(&mut b[(abs - seg) as usize..]);
    s.insert_segment(LogId::CommitLog, seg, b);
}

fn tail_is_zero(s: &MemStore, from: u64) -> bool {
    let seg = from - from % 4096;
    s.segment_bytes(&LogId::CommitLog, seg).unwrap()[(from - seg) as usize..]
        .iter()
        .all(|&b| b == 0)
}

#[test]
fn torn_write_is_not_accepted_as_valid_data() {
    // The last record's second half never reached the disk (zeros), as after a
    // power cut in the middle of a page write-back.
    for crc in [false, true] {
        let c = cfg(crc);
        let (s, recs) = store_with(5, &c);
        let (off, size) = recs[4];
        patch(&s, off + size / 2, |b| {
            b[..(size - size / 2) as usize].fill(0)
        });
        let e = CommitLog::open(s, c.clone(), namer(), T0 + 99_000).unwrap();
        let r = e.recovery_report();
        assert_eq!(r.valid_end, off, "crc {crc}: {r}");
        assert!(r.stopped_by.is_some());
        assert!(e.read(off).is_err());
        assert_eq!(e.queue_max_offset("TopicT", 2), 4);
        assert!(e.find_by_key("TopicT", "key-4").unwrap().is_empty());
        assert_eq!(e.find_by_key("TopicT", "key-3").unwrap(), [recs[3].0]);
    }
}

#[test]
fn truncated_data_is_not_resurrected_after_restart_10666() {
    // A corrupt record in the middle: everything after it is cut. The
    // reference only moves in-memory positions, so the intact records after
    // the cut parse again after the next restart. Here they are zeroed on disk.
    let c = cfg(false);
    let (s, recs) = store_with(6, &c);
    let (bad, _) = recs[2];
    patch(&s, bad + 90, |b| b[0] ^= 0xFF); // inside the body: BODYCRC mismatch
    let e = CommitLog::open(s, c.clone(), namer(), T0 + 99_000).unwrap();
    assert_eq!(e.max_offset(), bad);
    let r = e.recovery_report().clone();
    assert_eq!(r.truncated[0].from, bad);
    let s = e.into_store();
    assert!(tail_is_zero(&s, bad), "stale records must not stay on disk");
    let e = CommitLog::open(s, c.clone(), namer(), T0 + 100_000).unwrap();
    assert_eq!(e.max_offset(), bad, "second restart: nothing comes back");
    assert!(e.read(recs[4].0).is_err());
    assert_eq!(e.queue_max_offset("TopicT", 2), 2);
    // A shorter record at the cut does not make the old tail reachable.
    let mut e = e;
    let r = e.put(&msg(b"x", b""), T0 + 200_000).unwrap();
    let e = CommitLog::open(e.into_store(), c, namer(), T0 + 300_000).unwrap();
    assert_eq!(e.max_offset(), r.physical_offset + r.size);
}

#[test]
fn fsync_errors_are_not_swallowed_5235() {
    let c = cfg(false);
    // Probe: count the mutating operations of open + one put.
    let probe = Rc::new(FaultStore::counting(MemStore::new()));
    let mut e = CommitLog::open(Shared(probe.clone()), c.clone(), namer(), T0).unwrap();
    e.put(&msg(b"first", b""), T0).unwrap();
    let n = probe.ops();
    // Same steps, but the second put's sync (its write is n+1) fails.
    let fs = Rc::new(FaultStore::new(
        MemStore::new(),
        Some(n + 2),
        Fault::Io,
        false,
    ));
    let mut e = CommitLog::open(Shared(fs.clone()), c.clone(), namer(), T0).unwrap();
    e.put(&msg(b"first", b""), T0).unwrap();
    let err = e.put(&msg(b"lost", b""), T0 + 1).unwrap_err();
    assert!(fs.fired(), "the sync was the failing operation");
    assert!(
        matches!(err, EngineError::Store(ref s) if s.kind == StoreErrorKind::Io),
        "{err}"
    );
    // Latched: nothing is acknowledged afterwards, not even by a flush, although
    // the store itself works again (a retried fsync would report success).
    for _ in 0..2 {
        let err = e.put(&msg(b"later", b""), T0 + 2).unwrap_err();
        assert!(
            matches!(err, EngineError::Store(ref s) if s.kind == StoreErrorKind::PreviousIo),
            "{err}"
        );
        assert!(e.flush().is_err());
    }
    // Reopening recovers; the unacknowledged record may or may not be there,
    // but the log is consistent.
    let e = CommitLog::open(e.into_store(), c, namer(), T0 + 5).unwrap();
    assert!(e.read(0).is_ok());
}

#[test]
fn active_index_file_survives_a_crash_3868() {
    let c = cfg(false);
    let (s, recs) = store_with(20, &c);
    assert!(
        s.read_meta(MetaFile::Abort).unwrap().is_some(),
        "no clean shutdown"
    );
    let before: Vec<u64> = s
        .segments(&LogId::IndexFile)
        .unwrap()
        .iter()
        .map(|x| x.id)
        .collect();
    assert!(before.len() >= 2, "index files rolled");
    let e = CommitLog::open(s, c, namer(), T0 + 99_000).unwrap();
    let r = e.recovery_report();
    assert!(r.abnormal_shutdown);
    // Java deletes it; this engine keeps it when it replays consistently
    // (a process crash: every entry is in the page cache) and indexes only
    // what came after its last entry: here nothing.
    assert_eq!(r.index_rebuilt, None, "{r}");
    assert_eq!(r.index_keys_added, 0, "{r}");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("kept after the abnormal")),
        "{r}"
    );
    let after: Vec<u64> = e.index_files().iter().map(|x| x.0).collect();
    assert_eq!(after, before);
    for (i, (off, _)) in recs.iter().enumerate() {
        assert_eq!(
            e.find_by_key("TopicT", &format!("key-{i}")).unwrap(),
            [*off]
        );
        assert_eq!(e.find_by_key("TopicT", &format!("U{i}")).unwrap(), [*off]);
    }
}

#[test]
fn physical_offset_is_checked_10017() {
    // A stale but intact record (magic and CRCs valid) sits where the next
    // record would go, as in a reused file: its PHYSICALOFFSET names another place.
    let c = cfg(true);
    let (s, recs) = store_with(4, &c);
    let (src, size) = recs[1];
    let end = recs[3].0 + recs[3].1;
    let seg = s.segment_bytes(&LogId::CommitLog, 0).unwrap();
    let stale = seg[src as usize..(src + size) as usize].to_vec();
    assert!(matches!(
        message::decode(&stale, src, DecodeOptions::STRICT),
        Ok(Record::Message(_))
    ));
    patch(&s, end, |b| b[..stale.len()].copy_from_slice(&stale));
    let e = CommitLog::open(s, c, namer(), T0 + 99_000).unwrap();
    let r = e.recovery_report();
    assert_eq!(r.valid_end, end, "{r}");
    assert!(
        format!("{}", r.stopped_by.as_ref().unwrap()).contains("physicalOffset"),
        "{r}"
    );
    assert_eq!(e.queue_max_offset("TopicT", 2), 4);
}

#[test]
fn whole_record_crc_is_checked_not_only_the_body_7437() {
    // One byte of the properties changes: BODYCRC still matches.
    let c = cfg(true);
    let (s, recs) = store_with(3, &c);
    let (off, size) = recs[2];
    patch(&s, off + size - 25, |b| b[0] = b'Z');
    let e = CommitLog::open(s, c, namer(), T0 + 99_000).unwrap();
    let r = e.recovery_report();
    assert_eq!(r.valid_end, off, "{r}");
    assert!(
        format!("{}", r.stopped_by.as_ref().unwrap()).contains("__CRC32#"),
        "{r}"
    );
}

#[test]
fn crc_is_checked_over_the_whole_log_not_from_a_recent_file() {
    // Corruption in the first file of several: the reference starts its scan
    // at a recent file and never looks; strict mode reports it and refuses.
    let c = CommitLogConfig {
        recovery_mode: RecoveryMode::Strict,
        ..cfg(false)
    };
    let (s, recs) = store_with(200, &c);
    assert!(s.segments(&LogId::CommitLog).unwrap().len() > 3);
    patch(&s, recs[1].0 + 95, |b| b[0] ^= 1);
    let snapshot = s.clone();
    let shared = Rc::new(s);
    let err =
        CommitLog::open(Shared(shared.clone()), c.clone(), namer(), T0 + 999_000).unwrap_err();
    let EngineError::Refused(r) = err else {
        panic!("{err}")
    };
    assert_eq!(r.valid_end, recs[1].0);
    assert!(r.dirty_bytes_past_end > 0);
    // Nothing was changed (the store is the one the engine had).
    let segs = snapshot.segments(&LogId::CommitLog).unwrap();
    assert_eq!(shared.segments(&LogId::CommitLog).unwrap(), segs);
    for seg in segs {
        assert!(
            shared.segment_bytes(&LogId::CommitLog, seg.id)
                == snapshot.segment_bytes(&LogId::CommitLog, seg.id)
        );
    }
    let repair = CommitLogConfig {
        recovery_mode: RecoveryMode::Repair,
        ..c
    };
    let e = CommitLog::open(snapshot, repair, namer(), T0 + 999_000).unwrap();
    assert_eq!(e.max_offset(), recs[1].0);
    assert_eq!(e.store().segments(&LogId::CommitLog).unwrap().len(), 1);
}

#[test]
fn strict_mode_refuses_and_changes_nothing() {
    let c = CommitLogConfig {
        recovery_mode: RecoveryMode::Strict,
        ..cfg(false)
    };
    let (s, recs) = store_with(5, &c);
    let (off, size) = recs[4];
    patch(&s, off + size - 3, |b| b[0] = 0);
    let before = s.segment_bytes(&LogId::CommitLog, 0);
    let cq = LogId::ConsumeQueue {
        topic: "TopicT".into(),
        queue_id: 2,
    };
    let cq_before = s.segment_bytes(&cq, 0);
    let idx_before = s.segments(&LogId::IndexFile).unwrap();
    let shared = Rc::new(s);
    let err = CommitLog::open(Shared(shared.clone()), c.clone(), namer(), T0 + 99_000).unwrap_err();
    assert!(
        matches!(err, EngineError::Refused(ref r) if r.valid_end == off),
        "{err}"
    );
    assert!(format!("{err}").contains("stopped by"));
    assert!(shared.segment_bytes(&LogId::CommitLog, 0) == before);
    assert!(shared.segment_bytes(&cq, 0) == cq_before);
    assert_eq!(shared.segments(&LogId::IndexFile).unwrap(), idx_before);
    // A clean store opens in strict mode.
    let (s, _) = store_with(5, &c);
    assert!(CommitLog::open(s, c, namer(), T0 + 99_000).is_ok());
}

#[test]
fn consume_queue_rebuilt_after_expiry_starts_with_fill_pre_blank() {
    // The commitlog head expired; then the consume queue directory is deleted
    // ("delete consumequeue/ to rebuild"): the first record left has queue
    // offset > 0, so the queue's first file is pre-filled with fillers.
    let c = CommitLogConfig {
        flush_disk_type: FlushDiskType::AsyncFlush,
        ..cfg(false)
    };
    let mut e = CommitLog::open(MemStore::new(), c.clone(), namer(), T0).unwrap();
    for i in 0..60u8 {
        e.put(&msg(&[i; 100], b"KEYS\x01k\x02"), T0 + i64::from(i))
            .unwrap();
    }
    assert!(e.delete_head_files(1).unwrap() == 1);
    let min = e.min_offset();
    let s = e.shutdown().unwrap();
    let cq = LogId::ConsumeQueue {
        topic: "TopicT".into(),
        queue_id: 2,
    };
    for seg in s.segments(&cq).unwrap() {
        s.remove(&cq, seg.id).unwrap();
    }
    let e = CommitLog::open(s, c, namer(), T0 + 99_000).unwrap();
    let r = e.recovery_report();
    let first = e.read(min).unwrap();
    let Ok(Record::Message(m)) = message::decode(&first, min, DecodeOptions::STRICT) else {
        panic!()
    };
    let qo = m.queue_offset;
    assert!(qo > 0);
    let per_file = 200 / 20;
    assert_eq!(r.queue_fillers, (qo % per_file) as u64, "{r}");
    let unit = e
        .queue_unit("TopicT", 2, qo - qo % per_file)
        .unwrap()
        .unwrap();
    if qo % per_file > 0 {
        assert!(unit.is_filler());
    }
    assert_eq!(e.read_by_queue("TopicT", 2, qo).unwrap().unwrap(), first);
    assert_eq!(e.queue_max_offset("TopicT", 2), 60);
    assert!(e.read_by_queue("TopicT", 2, qo - 1).unwrap().is_none());
}
