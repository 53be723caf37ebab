//! The native host's writing half: the read-write page store, the lock, the
//! abort marker, flush and clean threads, and the embedding API, exercised
//! on real files (and a real, tiny tmpfs for the full-disk cases).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, Error, FlushDiskType, Host, Message, RocketMqConfig,
    RocketMqStore,
};
use rocketlog_core::codec::dledger::{
    DataRecord, EntryParts, Line, MAGIC_NORMAL, decode as decode_entry,
};
use rocketlog_core::engine::commitlog::EngineError;
use rocketlog_core::store::StoreErrorKind;

fn body(t: u64, i: u64, len: usize) -> Vec<u8> {
    let seed = format!("t{t}-i{i};");
    seed.bytes().cycle().take(len).collect()
}

fn msg<'a>(topic: &'a str, q: i32, body: &'a [u8], props: &'a [u8]) -> Message<'a> {
    Message {
        topic,
        queue_id: q,
        flag: 0,
        body,
        properties: props,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: Host::V4 {
            addr: [10, 1, 2, 3],
            port: 4567,
        },
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn small(flush: FlushDiskType) -> RocketMqConfig {
    RocketMqConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 200,
        max_hash_slot_num: 64,
        max_index_num: 256,
        flush_disk_type: flush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    }
}

fn store_kind(e: &Error) -> Option<StoreErrorKind> {
    match e {
        Error::Store(s) | Error::Engine(EngineError::Store(s)) => Some(s.kind),
        _ => None,
    }
}

#[test]
fn readers_run_concurrently_with_writers_flush_and_cleaning() {
    for flush in [FlushDiskType::AsyncFlush, FlushDiskType::SyncFlush] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RocketMqConfig {
            // Everything older than 0 hours expires, every hour is a delete hour:
            // the clean thread deletes head files while readers read them.
            file_reserved_time: 0,
            delete_when: (0..24)
                .map(|h| format!("{h:02}"))
                .collect::<Vec<_>>()
                .join(";"),
            clean_resource_interval: 20,
            delete_commit_log_files_interval: 1,
            flush_interval_commit_log: 5,
            flush_interval_consume_queue: 30,
            ..small(flush)
        };
        let (store, _) = RocketMqStore::open(dir.path(), cfg).unwrap();
        let store = Arc::new(store);
        const WRITERS: u64 = 3;
        const PER: u64 = 300;
        let done = AtomicBool::new(false);
        let read_ok = AtomicU64::new(0);
        std::thread::scope(|s| {
            let mut ws = Vec::new();
            for t in 0..WRITERS {
                let store = &store;
                ws.push(s.spawn(move || {
                    for i in 0..PER {
                        let b = body(t, i, 200 + (i as usize * 37) % 600);
                        let r = store.put(&msg("C", t as i32, &b, b"")).unwrap();
                        assert_eq!(r.queue_offset, i as i64);
                    }
                }));
            }
            for t in 0..WRITERS {
                let (store, done, read_ok) = (&store, &done, &read_ok);
                s.spawn(move || {
                    let mut next = 0i64;
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        let got = store.consume("C", t as i32, next, 50).unwrap();
                        for m in &got {
                            let v = m.view().unwrap();
                            let qo = v.queue_offset;
                            assert!(qo >= next, "queue offsets go forward");
                            let len = 200 + (qo as usize * 37) % 600;
                            assert_eq!(v.body, body(t, qo as u64, len), "reader {t} at {qo}");
                            next = qo + 1;
                            read_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        // Expired records are skipped: move on to what is left.
                        if got.is_empty() {
                            let max = store.queue_max_offset("C", t as i32);
                            if finished && next >= max {
                                break;
                            }
                            if next < max
                                && store.consume("C", t as i32, next, 1).unwrap().is_empty()
                            {
                                next += 1;
                            }
                        }
                    }
                });
            }
            for w in ws {
                w.join().unwrap();
            }
            // Keep writing (another topic) until the clean thread has deleted
            // files under the readers' feet, however fast the machine is.
            let t0 = std::time::Instant::now();
            let filler = vec![9u8; 1000];
            while store.stats().clean.is_none_or(|c| c.deleted < 2)
                && t0.elapsed() < std::time::Duration::from_secs(20)
            {
                store.put(&msg("X", 0, &filler, b"")).unwrap();
            }
            done.store(true, Ordering::Release);
        });
        let st = store.stats();
        assert!(st.queues.len() >= WRITERS as usize);
        for (topic, _, _, max) in &st.queues {
            if topic == "C" {
                assert_eq!(*max, PER as i64);
            }
        }
        let clean = st.clean.unwrap();
        assert!(
            clean.deleted > 0,
            "{flush:?}: the clean thread deleted files: {clean:?}"
        );
        assert!(st.min_offset > 0, "head files are gone");
        assert!(read_ok.load(Ordering::Relaxed) > 0);
        assert!(st.flush.syncs > 0);
        Arc::into_inner(store).unwrap().close().unwrap();
        // What is left reopens cleanly.
        let (store, report) = RocketMqStore::open(dir.path(), small(flush)).unwrap();
        assert!(!report.abnormal_shutdown);
        assert!(report.truncated.is_empty(), "{report}");
        store.close().unwrap();
    }
}

#[test]
fn repeated_open_close_keeps_everything_and_manages_abort() {
    let dir = tempfile::tempdir().unwrap();
    let abort = dir.path().join("abort");
    let mut offsets = Vec::new();
    for round in 0..15u64 {
        let (store, report) =
            RocketMqStore::open(dir.path(), small(FlushDiskType::AsyncFlush)).unwrap();
        assert!(!report.abnormal_shutdown, "round {round}");
        // While open: the abort marker holds our PID, and the lock holds "lock".
        assert_eq!(
            fs::read_to_string(&abort).unwrap(),
            std::process::id().to_string()
        );
        assert_eq!(&fs::read(dir.path().join("lock")).unwrap()[..4], b"lock");
        assert_eq!(store.queue_max_offset("R", 0), round as i64 * 10);
        for i in 0..10 {
            let b = body(round, i, 900);
            offsets.push(store.put(&msg("R", 0, &b, b"")).unwrap().physical_offset);
        }
        store.close().unwrap();
        assert!(!abort.exists(), "clean close removes abort");
        assert_eq!(
            fs::metadata(dir.path().join("checkpoint")).unwrap().len(),
            4096
        );
    }
    let (store, _) = RocketMqStore::open(dir.path(), small(FlushDiskType::AsyncFlush)).unwrap();
    let all = store.consume("R", 0, 0, 1000).unwrap();
    assert_eq!(all.len(), 150);
    for (k, m) in all.iter().enumerate() {
        assert_eq!(m.offset, offsets[k]);
        assert_eq!(
            m.view().unwrap().body,
            body(k as u64 / 10, k as u64 % 10, 900)
        );
    }
    store.close().unwrap();
}

#[test]
fn the_lock_refuses_a_second_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocketMqStore::open(dir.path(), small(FlushDiskType::AsyncFlush)).unwrap();
    let e = RocketMqStore::open(dir.path(), small(FlushDiskType::AsyncFlush)).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("locked by another writer"), "{text}");
    assert!(
        text.contains(&dir.path().join("lock").display().to_string()),
        "{text}"
    );
    // The refused open touched nothing: the first handle still works.
    store.put(&msg("L", 0, b"x", b"")).unwrap();
    // Another process is refused as well (the child writer exits at once).
    let out = Command::new(env!("CARGO_BIN_EXE_native_writer"))
        .args(["rocketmq", dir.path().to_str().unwrap(), "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked by another writer"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("READY"));
    store.close().unwrap();
    let (store, _) = RocketMqStore::open(dir.path(), small(FlushDiskType::AsyncFlush)).unwrap();
    assert_eq!(store.queue_max_offset("L", 0), 1);
    store.close().unwrap();
    // DLedger member directories have their own lock.
    let mut c = DLedgerStoreConfig::new(dir.path(), "n1");
    c.mapped_file_size_for_entry_data = 1 << 16;
    c.mapped_file_size_for_entry_index = 1 << 12;
    let (d, _) = DLedgerStore::open(c.clone()).unwrap();
    assert!(
        DLedgerStore::open(c.clone())
            .unwrap_err()
            .to_string()
            .contains("locked")
    );
    d.close().unwrap();
    DLedgerStore::open(c).unwrap().0.close().unwrap();
}

/// A store with three commitlog files, closed.
fn three_files(dir: &Path) -> Vec<PathBuf> {
    let (store, _) = RocketMqStore::open(dir, small(FlushDiskType::AsyncFlush)).unwrap();
    let b = vec![7u8; 1000];
    while store.stats().max_offset < 2 * 64 * 1024 + 10 {
        store.put(&msg("F", 0, &b, b"")).unwrap();
    }
    store.close().unwrap();
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    files
}

#[test]
fn wrong_sized_missing_and_extra_files_are_clear_errors() {
    let open = |d: &Path| RocketMqStore::open(d, small(FlushDiskType::AsyncFlush));
    // Wrong size.
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .unwrap()
        .set_len(1000)
        .unwrap();
    let e = open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("00000000000000065536") && e.contains("1000"),
        "{e}"
    );
    // Missing file in the middle.
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    fs::remove_file(&files[1]).unwrap();
    let e = open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("00000000000000131072") && (e.contains("missing") || e.contains("consecutive")),
        "{e}"
    );
    // An extra, unrelated file.
    let dir = tempfile::tempdir().unwrap();
    three_files(dir.path());
    fs::write(dir.path().join("commitlog/readme.txt"), b"hi").unwrap();
    let e = open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("readme.txt") && e.contains("not a segment"),
        "{e}"
    );
    // A zero-length last file (a crash during creation) is removed, as Java does.
    let dir = tempfile::tempdir().unwrap();
    three_files(dir.path());
    let empty = dir.path().join("commitlog/00000000000000196608");
    fs::write(&empty, b"").unwrap();
    let (s, _) = open(dir.path()).unwrap();
    assert!(!empty.exists());
    assert!(s.stats().max_offset > 2 * 64 * 1024);
    s.close().unwrap();
    // Nothing was created by the failed opens beyond the lock file.
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    fs::remove_file(&files[1]).unwrap();
    let before: Vec<_> = fs::read_dir(dir.path().join("commitlog"))
        .unwrap()
        .count()
        .to_string()
        .into();
    assert!(open(dir.path()).is_err());
    let after: Vec<_> = fs::read_dir(dir.path().join("commitlog"))
        .unwrap()
        .count()
        .to_string()
        .into();
    assert_eq!(before, after);
}

#[test]
fn reopen_after_a_crash_recovers_and_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocketMqStore::open(dir.path(), small(FlushDiskType::SyncFlush)).unwrap();
    let mut acked = Vec::new();
    for i in 0..50 {
        let b = body(0, i, 500);
        acked.push(store.put(&msg("K", 1, &b, b"KEYS\x01key\x02")).unwrap());
    }
    let end = store.stats().max_offset;
    // "Crash": drop without close (abort stays), then a torn write after the end.
    drop(store);
    assert!(dir.path().join("abort").exists());
    let seg = end - end % (64 * 1024);
    let path = dir.path().join(format!("commitlog/{seg:020}"));
    let mut bytes = fs::read(&path).unwrap();
    let at = (end - seg) as usize;
    bytes[at..at + 40].copy_from_slice(&[0xAB; 40]);
    fs::write(&path, &bytes).unwrap();
    let (store, report) = RocketMqStore::open(dir.path(), small(FlushDiskType::SyncFlush)).unwrap();
    assert!(report.abnormal_shutdown);
    assert_eq!(report.valid_end, end);
    assert!(
        !report.truncated.is_empty(),
        "the torn bytes were cut: {report}"
    );
    for (i, r) in acked.iter().enumerate() {
        let m = store.get(r.physical_offset).unwrap();
        assert_eq!(m.view().unwrap().body, body(0, i as u64, 500));
    }
    assert_eq!(store.find_by_key("K", "key").unwrap().len(), 50);
    // The next put lands exactly at the old end.
    let r = store.put(&msg("K", 1, b"after", b"")).unwrap();
    assert_eq!(r.physical_offset, end);
    assert_eq!(r.queue_offset, 50);
    store.close().unwrap();
    let raw = fs::read(&path).unwrap();
    let next = (end - seg) as usize + r.size as usize;
    assert!(
        raw[next..next + 40].iter().all(|&b| b == 0),
        "no torn byte survives"
    );
}

#[test]
fn dledger_append_get_truncate_commit_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = DLedgerStoreConfig::new(dir.path(), "n0");
    c.mapped_file_size_for_entry_data = 4096;
    c.mapped_file_size_for_entry_index = 32 * 64;
    c.sync_flush = true;
    let (s, _) = DLedgerStore::open(c.clone()).unwrap();
    s.set_term(3, Some("n1")).unwrap();
    for i in 0..40u64 {
        let a = s.append(&body(9, i, 300)).unwrap();
        assert_eq!((a.index, a.term), (i as i64, 3));
    }
    s.commit(3, 30).unwrap();
    // Truncate as a follower to an entry the log already holds (the leader's
    // copy of entry 20, CRC fields included): everything after it is cut.
    let raw20 = s.get(20).unwrap();
    let Ok(DataRecord::Entry(v)) = decode_entry(&raw20, 0, Line::Classic) else {
        panic!("entry 20 decodes")
    };
    let b = v.body.to_vec();
    let e = EntryParts {
        magic: MAGIC_NORMAL,
        index: v.index,
        term: v.term,
        pos: v.pos,
        channel: v.channel,
        chain_crc: v.chain_crc,
        body_crc: v.body_crc,
        body: &b,
    };
    assert_eq!(s.truncate(&e).unwrap(), 20);
    assert!(s.get(21).is_err());
    assert!(s.get(20).unwrap().ends_with(&b));
    let st = s.stats();
    assert_eq!(st.end_index, 20);
    assert!(st.committed_index <= 20);
    s.close().unwrap();
    let m = dir.path().join("dledger-n0");
    let ct = fs::read_to_string(m.join("currterm")).unwrap();
    assert!(
        ct.contains("currTerm=3") && ct.contains("voteLeader=n1"),
        "{ct}"
    );
    assert!(
        fs::read_to_string(m.join("checkpoint"))
            .unwrap()
            .contains("endIndex=20")
    );
    let (s, report) = DLedgerStore::open(c).unwrap();
    assert_eq!(s.stats().end_index, 20, "{report}");
    for i in 0..20 {
        assert!(s.get(i).unwrap().ends_with(&body(9, i as u64, 300)));
    }
    s.close().unwrap();
}

/// Mounts a tmpfs of `size` at `dir`; `None` if this process may not mount.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_fs) = Tmpfs::mount(dir.path(), "1m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    };
    let root = dir.path().join("store");
    let cfg = RocketMqConfig {
        mapped_file_size_commit_log: 128 * 1024,
        ..small(FlushDiskType::SyncFlush)
    };
    let (store, _) = RocketMqStore::open(&root, cfg.clone()).unwrap();
    let mut acked = Vec::new();
    let err = loop {
        let b = body(1, acked.len() as u64, 1024);
        match store.put(&msg("D", 0, &b, b"")) {
            Ok(r) => acked.push(r.physical_offset),
            Err(e) => break e,
        }
        assert!(acked.len() < 10_000, "the disk never filled");
    };
    assert_eq!(store_kind(&err), Some(StoreErrorKind::NoSpace), "{err}");
    assert!(
        err.to_string().contains(&root.display().to_string()),
        "names the file: {err}"
    );
    // Latched: later puts fail without touching the disk.
    let e2 = store.put(&msg("D", 0, b"x", b"")).unwrap_err();
    assert_eq!(store_kind(&e2), Some(StoreErrorKind::PreviousIo), "{e2}");
    assert!(acked.len() > 100);
    drop(store);
    // Reopen on the same full disk: recovery works and keeps every acked record.
    let (store, report) = RocketMqStore::open(&root, cfg).unwrap();
    assert!(report.abnormal_shutdown);
    for (i, &o) in acked.iter().enumerate() {
        assert_eq!(
            store.get(o).unwrap().view().unwrap().body,
            body(1, i as u64, 1024)
        );
    }
    drop(store);
}

#[test]
fn the_clean_thread_reads_real_disk_usage_and_refuses_puts_when_full() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_fs) = Tmpfs::mount(dir.path(), "2m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    };
    let root = dir.path().join("store");
    let (store, _) = RocketMqStore::open(&root, small(FlushDiskType::AsyncFlush)).unwrap();
    store.put(&msg("U", 0, b"before", b"")).unwrap();
    let (d, _) = store.clean_now().unwrap();
    assert!(!d.disk_full);
    // Fill the filesystem to ~95% with a ballast file.
    let ballast = dir.path().join("ballast");
    fs::write(&ballast, vec![1u8; 1_950_000]).unwrap();
    let (d, _) = store.clean_now().unwrap();
    assert!(d.disk_full && d.clean_immediately, "{d:?}");
    let e = store.put(&msg("U", 0, b"refused", b"")).unwrap_err();
    assert!(matches!(e, Error::DiskFull { ratio } if ratio > 0.9), "{e}");
    assert!(store.stats().disk_full);
    // Reads still work; freeing space lets writes in again.
    assert_eq!(store.consume("U", 0, 0, 10).unwrap().len(), 1);
    fs::remove_file(&ballast).unwrap();
    store.clean_now().unwrap();
    store.put(&msg("U", 0, b"after", b"")).unwrap();
    store.close().unwrap();
}

/// Problems the independent read-only scanner (`rocketlog_core::scan`, the
/// Java-faithful walk) finds at Warning level or worse.
fn scan_problems_rocketmq(root: &Path, file_size: u64) -> Vec<String> {
    use rocketlog_core::scan::{Severity, rocketmq};
    let ro = rocketlog::MmapStore::new(rocketlog::resolve::rocketmq_root(root));
    let cfg = rocketmq::Config {
        file_size: Some(file_size),
        ..rocketmq::Config::default()
    };
    let (_, problems) = rocketmq::verify(&ro, &cfg).unwrap();
    problems
        .into_iter()
        .filter(|p| p.severity >= Severity::Warning)
        .map(|p| format!("{p:?}"))
        .collect()
}

#[test]
fn written_stores_pass_the_independent_scanner() {
    // RocketMQ: several files, several queues, keys, after a clean close.
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocketMqStore::open(dir.path(), small(FlushDiskType::AsyncFlush)).unwrap();
    for i in 0..400u64 {
        let b = body(i % 3, i, 100 + (i as usize * 13) % 700);
        let props = format!("KEYS\u{1}k{i}\u{2}TAGS\u{1}tag{}\u{2}", i % 5);
        store
            .put(&msg("S", (i % 3) as i32, &b, props.as_bytes()))
            .unwrap();
    }
    store.close().unwrap();
    let p = scan_problems_rocketmq(dir.path(), 64 * 1024);
    assert!(p.is_empty(), "{p:#?}");
    // DLedger: the scanner's recovery ends where ours does, with no problem.
    let mut c = DLedgerStoreConfig::new(dir.path(), "n2");
    c.mapped_file_size_for_entry_data = 8192;
    c.mapped_file_size_for_entry_index = 32 * 100;
    let (s, _) = DLedgerStore::open(c).unwrap();
    s.set_term(1, None).unwrap();
    for i in 0..150u64 {
        let _ = s.append(&body(5, i, 50 + (i as usize * 31) % 400)).unwrap();
    }
    s.close().unwrap();
    use rocketlog_core::scan::{Severity, dledger};
    let ro = rocketlog::MmapStore::new(rocketlog::StorePaths {
        dledger: Some(dir.path().join("dledger-n2")),
        dledger_data: Some(rocketlog::LogSource::Dir(
            dir.path().join("dledger-n2/data"),
        )),
        dledger_index: Some(rocketlog::LogSource::Dir(
            dir.path().join("dledger-n2/index"),
        )),
        ..rocketlog::StorePaths::default()
    });
    let rec = dledger::recover(&ro, &dledger::Options::default()).unwrap();
    let mut problems = Vec::new();
    let stats = dledger::verify(&ro, &rec, &dledger::VerifyOptions::default(), |p| {
        if p.severity >= Severity::Warning {
            problems.push(format!("{p:?}"));
        }
    })
    .unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(stats.entries, 150);
}
