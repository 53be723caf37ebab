//! The active index file after an abnormal shutdown: kept and checked
//! (entries replayed, those past the durable sync point compared with their
//! records) instead of rebuilt, and byte for byte what a rebuild writes.
//!
//! Oracle: the index files as the engine left them at the "crash" (a
//! `MemStore` keeps every write, as the page cache does when a process dies),
//! and the same store recovered through the rebuild path (forced by damage
//! that the check must catch).

#[path = "rocketmq_engine_support.rs"]
mod support;

use rocketlog_core::codec::checkpoint::IndexSyncPoint;
use rocketlog_core::codec::index_file::{ENTRY_LEN, HEADER_LEN, IndexGeometry, IndexHeader};
use rocketlog_core::engine::commitlog::{CommitLog, CommitLogConfig, FlushDiskType, Message};
use rocketlog_core::engine::recovery::RecoveryReport;
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile, PageRead, SegmentId};
use support::{T0, host, namer};

const RECORDS: usize = 40;

fn cfg() -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 100,
        max_hash_slot_num: 16,
        // 63 entries per file: the 3-key records roll it mid-record.
        max_index_num: 64,
        flush_disk_type: FlushDiskType::AsyncFlush,
        ..CommitLogConfig::default()
    }
}

fn geometry() -> IndexGeometry {
    IndexGeometry {
        slots: 16,
        entries: 64,
    }
}

/// `n` records with a `UNIQ_KEY` and two `KEYS` each (three index keys),
/// a flush after record `flush_at` (if any); no clean shutdown.
fn crashed_store(n: usize, flush_at: Option<usize>) -> MemStore {
    let mut e = CommitLog::open(MemStore::new(), cfg(), namer(), T0).unwrap();
    for i in 0..n {
        let props = format!("UNIQ_KEY\u{1}U{i}\u{2}KEYS\u{1}a{i} b{i}\u{2}");
        e.put(
            &Message {
                topic: "TopicK",
                queue_id: (i % 3) as i32,
                flag: 0,
                body: &[i as u8; 100],
                properties: props.as_bytes(),
                sys_flag: 0,
                born_timestamp: T0,
                born_host: host(1),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            },
            // Several seconds apart: time differences are whole seconds.
            T0 + 2_500 * i as i64,
        )
        .unwrap();
        if flush_at == Some(i) {
            e.flush().unwrap();
        }
    }
    let s = e.into_store();
    assert!(s.read_meta(MetaFile::Abort).unwrap().is_some());
    s
}

fn index_files(s: &MemStore) -> Vec<(SegmentId, Vec<u8>)> {
    s.segments(&LogId::IndexFile)
        .unwrap()
        .iter()
        .map(|x| (x.id, s.segment_bytes(&LogId::IndexFile, x.id).unwrap()))
        .collect()
}

fn active(s: &MemStore) -> (SegmentId, Vec<u8>) {
    index_files(s).pop().unwrap()
}

fn patch_active(s: &MemStore, f: impl FnOnce(&mut Vec<u8>)) {
    let (seg, mut b) = active(s);
    f(&mut b);
    s.insert_segment(LogId::IndexFile, seg, b);
}

fn header(b: &[u8]) -> IndexHeader {
    IndexHeader::decode(&b[..HEADER_LEN]).unwrap()
}

fn recover(s: MemStore) -> (MemStore, RecoveryReport) {
    let e = CommitLog::open(s, cfg(), namer(), T0 + 10_000_000).unwrap();
    let r = e.recovery_report().clone();
    // Every key still answers with its record.
    for i in 0..RECORDS {
        for k in [format!("U{i}"), format!("a{i}"), format!("b{i}")] {
            assert_eq!(
                e.find_by_key("TopicK", &k).unwrap().len(),
                1,
                "key {k} after: {r}"
            );
        }
    }
    (e.into_store(), r)
}

fn kept(r: &RecoveryReport) -> bool {
    assert!(r.abnormal_shutdown);
    r.index_rebuilt.is_none()
        && r.notes
            .iter()
            .any(|n| n.contains("kept after the abnormal"))
}

#[test]
fn a_consistent_active_file_is_kept_unchanged() {
    for flush_at in [None, Some(5), Some(RECORDS - 1)] {
        let s = crashed_store(RECORDS, flush_at);
        let before = index_files(&s);
        assert!(before.len() >= 2, "index files rolled");
        let (s, r) = recover(s);
        assert!(kept(&r), "flush at {flush_at:?}: {r}");
        assert_eq!(r.index_keys_added, 0, "{r}");
        assert_eq!(index_files(&s), before, "flush at {flush_at:?}");
        // Past the sync point only: with a flush after the last record nothing
        // is compared with its record, without one every entry is.
        let checked = r
            .notes
            .iter()
            .find_map(|n| n.split(" past its sync point").next()?.rsplit(", ").next())
            .unwrap()
            .to_string();
        let entries = header(&before.last().unwrap().1).index_count - 1;
        let want = match flush_at {
            None => entries.to_string(),
            Some(i) if i == RECORDS - 1 => "0".into(),
            // A flush in an earlier file: this file has no sync point.
            Some(_) => entries.to_string(),
        };
        assert!(checked.ends_with(&want), "{checked} vs {want}: {r}");
        // The recovered store has a sync point for the active file now.
        let p = IndexSyncPoint::decode(&s.read_meta(MetaFile::IndexSyncPoint).unwrap().unwrap())
            .unwrap();
        assert_eq!(p.file, before.last().unwrap().0);
        assert_eq!(p.count, entries + 1);
    }
}

/// A change made to the active index file's bytes.
type Damage = Box<dyn Fn(&mut Vec<u8>)>;

/// The rebuild path's result for `s` (damaged so that the check refuses the
/// file) equals `want`, the files as they were at the crash.
fn rebuilt_equals(s: MemStore, want: &[(SegmentId, Vec<u8>)], why: &str) {
    let (s, r) = recover(s);
    assert!(!kept(&r), "{why}: kept: {r}");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("rebuilt after the abnormal")),
        "{r}"
    );
    assert_eq!(r.index_rebuilt, Some(want.last().unwrap().0), "{r}");
    assert_eq!(index_files(&s), want, "{why}");
}

#[test]
fn damage_the_check_must_catch_leads_to_the_same_file_rebuilt() {
    let g = geometry();
    let base = crashed_store(RECORDS, None);
    let want = index_files(&base);
    let count = header(&want.last().unwrap().1).index_count as u32;
    assert!(count > 8);
    let at = move |n: u32| g.entry_pos(n);
    let cases: Vec<(&str, Damage)> = vec![
        (
            "a middle entry zeroed (a page that never reached the disk)",
            Box::new(move |b| b[at(count / 2)..at(count / 2) + ENTRY_LEN].fill(0)),
        ),
        (
            "a key hash changed",
            Box::new(move |b| b[at(3) + 3] ^= 0x10),
        ),
        (
            "a physical offset changed",
            Box::new(move |b| b[at(count - 2) + 11] ^= 0x04),
        ),
        (
            "a time difference changed",
            Box::new(move |b| b[at(4) + 15] ^= 0x01),
        ),
        (
            "a previous-entry link changed",
            Box::new(move |b| b[at(count - 1) + 19] ^= 0x02),
        ),
        ("beginTimestamp changed", Box::new(|b| b[7] ^= 0x08)),
        ("endTimestamp changed", Box::new(|b| b[15] ^= 0x08)),
        (
            "indexCount one too high (an all-zero entry below it)",
            Box::new(|b| {
                let mut h = header(b);
                h.index_count += 1;
                b[..HEADER_LEN].copy_from_slice(&h.encode());
            }),
        ),
    ];
    for (why, f) in cases {
        let s = base.clone();
        patch_active(&s, |b| f(b));
        rebuilt_equals(s, &want, why);
    }
}

#[test]
fn repairable_states_are_repaired_in_place() {
    let g = geometry();
    let base = crashed_store(RECORDS, None);
    let want = index_files(&base);
    let (_, last) = want.last().unwrap().clone();
    let h = header(&last);

    // A wrong hash-slot count is recomputed.
    let s = base.clone();
    patch_active(&s, |b| b[35] ^= 0x01);
    let (s, r) = recover(s);
    assert!(kept(&r), "{r}");
    assert_eq!(index_files(&s), want);

    // A slot pointing at a lost entry (written after the sync, the entry
    // not) is set back to its chain's newest entry.
    let s = base.clone();
    patch_active(&s, |b| {
        let p = g.slot_pos(5);
        b[p..p + 4].copy_from_slice(&(h.index_count + 7).to_be_bytes());
    });
    let (s, r) = recover(s);
    assert!(kept(&r), "{r}");
    assert!(r.notes.iter().any(|n| n.contains(" 1 slots")), "{r}");
    assert_eq!(index_files(&s), want);

    // The header of two records earlier survived, their entries too: the
    // entries past it are stale, zeroed, and indexed again identically.
    let s = base.clone();
    patch_active(&s, |b| {
        let mut old = h;
        old.index_count -= 6;
        let n = old.index_count as u32 - 1;
        let e = &b[g.entry_pos(n)..g.entry_pos(n) + ENTRY_LEN];
        old.end_phy_offset = i64::from_be_bytes(e[4..12].try_into().unwrap());
        old.end_timestamp = T0 + 2_500 * (RECORDS as i64 - 3);
        b[..HEADER_LEN].copy_from_slice(&old.encode());
    });
    let (s, r) = recover(s);
    assert!(kept(&r), "{r}");
    assert_eq!(r.index_keys_added, 6, "{r}");
    assert_eq!(index_files(&s), want);

    // A crash between two keys of the last put: its first key is in, the
    // other two are added.
    let s = base.clone();
    patch_active(&s, |b| {
        let mut old = h;
        old.index_count -= 2;
        b[..HEADER_LEN].copy_from_slice(&old.encode());
        // The lost entries never reached the file.
        let from = g.entry_pos(old.index_count as u32);
        b[from..from + 2 * ENTRY_LEN].fill(0);
    });
    let (s, r) = recover(s);
    assert!(kept(&r), "{r}");
    assert_eq!(r.index_keys_added, 2, "{r}");
    assert_eq!(index_files(&s), want);
}

#[test]
fn a_sync_point_for_a_rebuilt_file_is_dropped_first() {
    // Flushed after the last record: the sync point names the active file.
    let s = crashed_store(RECORDS, Some(RECORDS - 1));
    let want = index_files(&s);
    assert!(s.read_meta(MetaFile::IndexSyncPoint).unwrap().is_some());
    patch_active(&s, |b| b[7] ^= 0x08);
    let (s, r) = recover(s);
    assert_eq!(r.index_rebuilt, Some(want.last().unwrap().0), "{r}");
    assert_eq!(index_files(&s), want);
    // Recovery ends with a sync: a new sync point for the rebuilt file.
    let p =
        IndexSyncPoint::decode(&s.read_meta(MetaFile::IndexSyncPoint).unwrap().unwrap()).unwrap();
    assert_eq!(p.file, want.last().unwrap().0);
}
