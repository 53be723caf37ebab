//! kill -9 tests of the native host: a child process (`native_writer`)
//! appends in sync-flush mode from several threads and prints every
//! acknowledgement; it is killed with SIGKILL at random moments, several times
//! over the same store; after each kill the store is reopened (recovery runs)
//! and every acknowledged record is checked byte for byte.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, FlushDiskType, RocketMqConfig, RocketMqStore,
};
use rocketlog_core::codec::dledger::{DataRecord, Line, decode as decode_entry};
use rocketlog_tests::crash::XorShift;

const KILLS: usize = 6;
const THREADS: &str = "4";

fn fnv64(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Same function as the child's: the body of thread `t`'s record `i`.
fn body(t: u64, i: u64) -> Vec<u8> {
    let len = 100 + ((t * 7919 + i * 104_729) % 1000) as usize;
    let seed = format!("t{t}-i{i};");
    seed.bytes().cycle().take(len).collect()
}

fn rocketmq_config() -> RocketMqConfig {
    RocketMqConfig {
        mapped_file_size_commit_log: 256 * 1024,
        mapped_file_size_consume_queue: 20 * 1024,
        max_hash_slot_num: 128,
        max_index_num: 512,
        flush_disk_type: FlushDiskType::SyncFlush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    }
}

fn dledger_config(dir: &Path) -> DLedgerStoreConfig {
    let mut c = DLedgerStoreConfig::new(dir, "n0");
    c.mapped_file_size_for_entry_data = 256 * 1024;
    c.mapped_file_size_for_entry_index = 32 * 1024;
    c.sync_flush = true;
    c.clean_interval = 0;
    c
}

/// Runs the child until `after` has passed since it printed READY, kills it
/// with SIGKILL and returns the ACK lines it printed.
fn run_and_kill(kind: &str, dir: &Path, after: Duration) -> Vec<Vec<u64>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_native_writer"))
        .args([kind, dir.to_str().unwrap(), THREADS])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn native_writer");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait for READY (recovery of the previous crash happens before it).
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(l) if l == "READY" => {}
        Ok(l) => panic!("unexpected line before READY: {l}"),
        Err(_) => {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child never got ready: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed");
    reader.join().unwrap();
    let mut acks = Vec::new();
    for l in rx.try_iter() {
        let mut it = l.split(' ');
        assert_eq!(it.next(), Some("ACK"), "line {l}");
        // A line cut by the kill is not an acknowledgement the parent saw whole.
        let nums: Result<Vec<u64>, _> = it.map(str::parse).collect();
        if let Ok(n) = nums {
            acks.push(n);
        }
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(stderr.is_empty(), "child reported an error: {stderr}");
    acks
}

#[test]
fn rocketmq_kill9_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(0x5eed_0001);
    // (thread, queue offset) -> (physical offset, len, fnv)
    let mut acked: BTreeMap<(u64, u64), (u64, u64, u64)> = BTreeMap::new();
    for round in 0..KILLS {
        let after = Duration::from_millis(50 + rng.below(450));
        let acks = run_and_kill("rocketmq", dir.path(), after);
        assert!(
            !acks.is_empty() || round > 0,
            "the child acknowledged nothing"
        );
        for a in &acks {
            let prev = acked.insert((a[0], a[1]), (a[2], a[3], a[4]));
            assert!(prev.is_none(), "queue offset acknowledged twice: {a:?}");
        }
        // Reopen in this process: recovery runs, then every ack must hold.
        let (store, report) = RocketMqStore::open(dir.path(), rocketmq_config()).unwrap();
        assert!(
            report.abnormal_shutdown,
            "round {round}: the abort marker says crash"
        );
        for (&(t, qo), &(phy, len, h)) in &acked {
            let got = store.consume("KILL", t as i32, qo as i64, 1).unwrap();
            assert_eq!(
                got.len(),
                1,
                "round {round}: thread {t} queue offset {qo} lost"
            );
            let m = &got[0];
            assert_eq!(m.offset, phy, "round {round}: ({t},{qo}) moved");
            assert_eq!(
                (m.bytes.len() as u64, fnv64(&m.bytes)),
                (len, h),
                "({t},{qo}) bytes differ"
            );
            assert_eq!(m.view().unwrap().body, body(t, qo), "({t},{qo}) body");
            assert_eq!(store.get(phy).unwrap().bytes, m.bytes);
            // The index answers for it too, whether recovery kept the active
            // index file (checked against its records) or rebuilt it.
            let by_key = store.find_by_key("KILL", &format!("k{t}-{qo}")).unwrap();
            assert!(
                by_key.iter().any(|x| x.offset == phy),
                "round {round}: key k{t}-{qo} does not find {phy}: {report}"
            );
        }
        // Per queue, the acknowledged offsets form a prefix of what is stored.
        for t in 0..4u64 {
            let n = acked.range((t, 0)..(t + 1, 0)).count() as i64;
            assert!(store.queue_max_offset("KILL", t as i32) >= n);
        }
        println!(
            "round {round}: killed after {after:?}, {} acks this run, {} total; recovery: {report}",
            acks.len(),
            acked.len()
        );
        store.close().unwrap();
    }
    assert!(acked.len() > 100, "only {} acks in total", acked.len());
}

#[test]
fn dledger_kill9_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(0x5eed_0002);
    // index -> (len, fnv, thread, i)
    let mut acked: BTreeMap<u64, (u64, u64, u64, u64)> = BTreeMap::new();
    for round in 0..KILLS {
        let after = Duration::from_millis(50 + rng.below(450));
        let acks = run_and_kill("dledger", dir.path(), after);
        let mut this_run = BTreeMap::new();
        for a in &acks {
            let prev = this_run.insert(a[0], (a[1], a[2], a[3], a[4]));
            assert!(prev.is_none(), "index acknowledged twice in one run: {a:?}");
        }
        // A new run appends after the recovered end: indexes acknowledged
        // earlier are never reused.
        if let (Some(old), Some(new)) = (acked.keys().next_back(), this_run.keys().next()) {
            assert!(new > old, "index {new} reused (previous max {old})");
        }
        acked.extend(this_run);
        let (store, _report) = DLedgerStore::open(dledger_config(dir.path())).unwrap();
        for (&idx, &(len, h, t, i)) in &acked {
            let raw = store
                .get(idx as i64)
                .unwrap_or_else(|e| panic!("round {round}: entry {idx} lost: {e}"));
            assert_eq!(
                (raw.len() as u64, fnv64(&raw)),
                (len, h),
                "entry {idx} bytes differ"
            );
            let Ok(DataRecord::Entry(e)) = decode_entry(&raw, 0, Line::Classic) else {
                panic!("entry {idx} does not decode");
            };
            assert_eq!(e.body, body(t, i), "entry {idx} body");
        }
        println!(
            "round {round}: killed after {after:?}, {} acks total, end index {}",
            acked.len(),
            store.stats().end_index
        );
        store.close().unwrap();
    }
    assert!(acked.len() > 100, "only {} acks in total", acked.len());
}
