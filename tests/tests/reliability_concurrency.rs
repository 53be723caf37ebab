//! Concurrency stress: writers, readers, the flush thread and the clean
//! thread at once on one store, every read checked against what was
//! acknowledged (bounded: a few seconds per case).
//!
//! * RocketMQ, sync and async: 3 writers (one queue each), 3 readers that
//!   re-read random acknowledged records by physical offset, by queue offset
//!   and by key, and scan the queues ahead of the acknowledgements; the clean
//!   thread deletes head files all the time.
//! * DLedger, sync: one writer that also truncates, readers that read every
//!   index they can see; each entry read must be a write that was made at
//!   that index, intact.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, Error, FlushDiskType, Host, Message, RocketMqConfig,
    RocketMqStore,
};
use rocketlog_core::codec::dledger::{DataRecord, EntryParts, Line, decode as decode_entry};
use rocketlog_tests::crash::XorShift;

const RUN: Duration = Duration::from_millis(2500);

fn fnv64(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn mq_body(t: u64, qo: u64) -> Vec<u8> {
    let len = 50 + ((t * 7919 + qo * 104_729) % 700) as usize;
    format!("t{t}-q{qo};").bytes().cycle().take(len).collect()
}

fn all_hours() -> String {
    (0..24)
        .map(|h| format!("{h:02}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn stress_rocketmq(flush: FlushDiskType) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RocketMqConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 256,
        max_hash_slot_num: 64,
        max_index_num: 256,
        flush_disk_type: flush,
        flush_interval_commit_log: 5,
        flush_interval_consume_queue: 20,
        file_reserved_time: 0,
        delete_when: all_hours(),
        clean_resource_interval: 15,
        delete_commit_log_files_interval: 1,
        ..RocketMqConfig::default()
    };
    let (store, _) = RocketMqStore::open(dir.path(), cfg).unwrap();
    // (thread, queue offset) -> (physical offset, fnv of the record)
    let acked: Mutex<BTreeMap<(u64, u64), (u64, u64)>> = Mutex::new(BTreeMap::new());
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let expired = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (store, acked, stop) = (&store, &acked, &stop);
            s.spawn(move || {
                let mut qo = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let b = mq_body(t, qo);
                    let props = format!("KEYS\u{1}k{t}-{qo}\u{2}");
                    let m = Message {
                        topic: "S",
                        queue_id: t as i32,
                        flag: 0,
                        body: &b,
                        properties: props.as_bytes(),
                        sys_flag: 0,
                        born_timestamp: 1,
                        born_host: Host::V4 {
                            addr: [10, 0, 0, 3],
                            port: 3,
                        },
                        reconsume_times: 0,
                        prepared_transaction_offset: 0,
                    };
                    let r = store.put(&m).unwrap();
                    assert_eq!(r.queue_offset, qo as i64);
                    // The fingerprint of what was put, from a read right now
                    // (it may already have expired: then from the body only).
                    let f = store.get(r.physical_offset).map_or(0, |m| fnv64(&m.bytes));
                    acked
                        .lock()
                        .unwrap()
                        .insert((t, qo), (r.physical_offset, f));
                    qo += 1;
                }
            });
        }
        for reader in 0..3u64 {
            let (store, acked, stop, reads, expired) = (&store, &acked, &stop, &reads, &expired);
            s.spawn(move || {
                let mut rng = XorShift::new(reader + 11);
                while !stop.load(Ordering::Acquire) {
                    let t = rng.below(3);
                    let pick = {
                        let a = acked.lock().unwrap();
                        let n = a.range((t, 0)..(t + 1, 0)).count() as u64;
                        if n == 0 {
                            continue;
                        }
                        let qo = rng.below(n);
                        a.get(&(t, qo)).map(|&(p, f)| (qo, p, f))
                    };
                    let Some((qo, phy, f)) = pick else { continue };
                    // By physical offset.
                    match store.get(phy) {
                        Ok(m) => {
                            let v = m.view().unwrap();
                            assert_eq!(v.body, mq_body(t, qo), "get({phy})");
                            if f != 0 {
                                assert_eq!(fnv64(&m.bytes), f, "get({phy}) bytes");
                            }
                        }
                        Err(Error::NotFound(_)) if phy < store.stats().min_offset => {
                            expired.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("get({phy}) of ({t},{qo}): {e}"),
                    }
                    // By queue offset, and a scan ahead of the acknowledgements.
                    for m in store.consume("S", t as i32, qo as i64, 20).unwrap() {
                        let v = m.view().unwrap();
                        let q = v.queue_offset as u64;
                        assert!(q >= qo);
                        assert_eq!(v.body, mq_body(t, q), "consume ({t},{q})");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    // By key (the index), when not expired.
                    if rng.below(8) == 0 {
                        match store.find_by_key("S", &format!("k{t}-{qo}")) {
                            Ok(found) => {
                                for m in found {
                                    assert_eq!(m.view().unwrap().body, mq_body(t, qo));
                                }
                            }
                            Err(Error::NotFound(_)) => {}
                            Err(e) => panic!("find_by_key: {e}"),
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(RUN);
        stop.store(true, Ordering::Release);
    });
    let st = store.stats();
    let n = acked.lock().unwrap().len();
    println!(
        "concurrency: rocketmq {flush:?}: {n} puts, {} checked reads, {} expired reads, {} files deleted, {} syncs in {:.1}s",
        reads.load(Ordering::Relaxed),
        expired.load(Ordering::Relaxed),
        st.clean.as_ref().map_or(0, |c| c.deleted),
        st.flush.syncs,
        started.elapsed().as_secs_f64()
    );
    assert!(n > 100 && reads.load(Ordering::Relaxed) > 100);
    assert!(
        st.clean.as_ref().is_some_and(|c| c.deleted > 0),
        "the clean thread deleted files"
    );
    store.close().unwrap();
}

#[test]
fn rocketmq_sync_writers_readers_flusher_and_cleaner() {
    stress_rocketmq(FlushDiskType::SyncFlush);
}

#[test]
fn rocketmq_async_writers_readers_flusher_and_cleaner() {
    stress_rocketmq(FlushDiskType::AsyncFlush);
}

fn dl_body(seq: u64) -> Vec<u8> {
    let len = 40 + (seq * 104_729 % 600) as usize;
    format!("s{seq};").bytes().cycle().take(len).collect()
}

fn dl_seq(body: &[u8]) -> Option<u64> {
    let rest = body.strip_prefix(b"s")?;
    let end = rest.iter().position(|&b| b == b';')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[test]
fn dledger_writer_truncations_readers_flusher_and_cleaner() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = DLedgerStoreConfig::new(dir.path(), "n0");
    c.mapped_file_size_for_entry_data = 8 * 1024;
    c.mapped_file_size_for_entry_index = 32 * 64;
    c.sync_flush = true;
    c.file_reserved_hours = 0;
    c.delete_when = all_hours();
    c.clean_interval = 15;
    let (store, _) = DLedgerStore::open(c).unwrap();
    store.set_term(1, None).unwrap();
    let store = Arc::new(store);
    // index -> every write number ever written there (recorded before the write).
    let history: Mutex<HashMap<i64, Vec<u64>>> = Mutex::new(HashMap::new());
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let truncations = AtomicU64::new(0);
    std::thread::scope(|s| {
        let (st, hist, stop_, tr) = (&store, &history, &stop, &truncations);
        s.spawn(move || {
            let mut rng = XorShift::new(5);
            let mut seq = 0u64;
            while !stop_.load(Ordering::Acquire) {
                let next = st.stats().end_index + 1;
                hist.lock().unwrap().entry(next).or_default().push(seq);
                let a = st.append(&dl_body(seq)).unwrap();
                assert_eq!(a.index, next);
                seq += 1;
                if rng.below(30) == 0 {
                    let stats = st.stats();
                    let lo = stats.begin_index.max(stats.end_index - 20).max(0);
                    let k = lo + rng.below((stats.end_index - lo + 1) as u64) as i64;
                    let Ok(raw) = st.get(k) else { continue };
                    let Ok(DataRecord::Entry(v)) = decode_entry(&raw, 0, Line::Classic) else {
                        panic!("entry {k}");
                    };
                    let e = EntryParts {
                        magic: v.magic,
                        index: v.index,
                        term: v.term,
                        pos: v.pos,
                        channel: v.channel,
                        chain_crc: v.chain_crc,
                        body_crc: v.body_crc,
                        body: v.body,
                    };
                    assert_eq!(st.truncate(&e).unwrap(), k);
                    tr.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        for r in 0..3u64 {
            let (st, hist, stop_, reads) = (&store, &history, &stop, &reads);
            s.spawn(move || {
                let mut rng = XorShift::new(r + 100);
                while !stop_.load(Ordering::Acquire) {
                    // `stats` takes the engine lock: leave the writer room.
                    std::thread::sleep(Duration::from_micros(200));
                    let stats = st.stats();
                    if stats.begin_index < 0 || stats.end_index < stats.begin_index {
                        continue;
                    }
                    let span = (stats.end_index - stats.begin_index + 1) as u64;
                    let i = stats.begin_index + rng.below(span) as i64;
                    let raw = match st.get(i) {
                        Ok(r) => r,
                        // Expired or truncated meanwhile.
                        Err(Error::NotFound(_)) => continue,
                        Err(e) => panic!("get({i}): {e}"),
                    };
                    let Ok(DataRecord::Entry(v)) = decode_entry(&raw, 0, Line::Classic) else {
                        panic!("entry {i} does not decode");
                    };
                    assert_eq!(v.index, i);
                    let seq = dl_seq(v.body).expect("a body we wrote");
                    assert_eq!(v.body, dl_body(seq), "entry {i}");
                    let h = hist.lock().unwrap();
                    assert!(
                        h.get(&i).is_some_and(|w| w.contains(&seq)),
                        "entry {i} holds write {seq}, never written there"
                    );
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // Time passes: DLedger never expires a file younger than an hour.
        let data = dir.path().join("dledger-n0").join("data");
        let t0 = Instant::now();
        while t0.elapsed() < RUN {
            std::thread::sleep(Duration::from_millis(20));
            let Ok(rd) = std::fs::read_dir(&data) else {
                continue;
            };
            let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            files.sort();
            files.pop();
            let old = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
            for f in files {
                if let Ok(h) = std::fs::File::options().write(true).open(&f) {
                    let _ = h.set_modified(old);
                }
            }
        }
        stop.store(true, Ordering::Release);
    });
    let st = store.stats();
    println!(
        "concurrency: dledger sync: end index {}, {} truncations, {} checked reads, {} files deleted ({:?})",
        st.end_index,
        truncations.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed),
        st.clean.as_ref().map_or(0, |c| c.deleted),
        st.clean
    );
    assert!(reads.load(Ordering::Relaxed) > 100);
    assert!(
        st.clean.as_ref().is_some_and(|c| c.deleted > 0),
        "the clean thread deleted files"
    );
    Arc::into_inner(store).unwrap().close().unwrap();
}
