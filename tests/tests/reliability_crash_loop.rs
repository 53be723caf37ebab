//! Process-level crash loops: the `crash_loop` child writes to a store and
//! prints what it did; it is killed with SIGKILL at random moments — while
//! appending, rolling files, truncating (DLedger), deleting expired files,
//! and while recovering from the previous kill — many times over the same
//! store, for both kinds and both flush modes.
//!
//! After each kill a copy of the store is opened (recovery runs) and checked
//! against a model built from the child's output:
//!
//! * every acknowledged record that must be durable (sync: every ACK; async:
//!   every ACK printed before a completed `flush()`) is present, at the same
//!   place, byte for byte (unless it expired: below the first stored offset);
//! * every record the store hands out is one the child wrote, intact (body,
//!   queue offset / index), and the queues / indexes are contiguous — nothing
//!   torn or foreign is accepted;
//! * nothing a completed truncation removed (or a later write replaced) comes
//!   back, and an acknowledged position is never handed out again.
//!
//! The copy keeps the original in its crashed state, so the next child's
//! recovery is a crash recovery too (and may itself be killed).
//!
//! Scale: `ROCKETLOG_CRASH_KILLS` kills per configuration (default 12);
//! `ROCKETLOG_SOAK_SECS` keeps each configuration going for that long
//! (`scripts/soak.sh`). Each test prints one `crash-loop:` line of figures.
//!
//! A SIGKILL does not drop the page cache: bytes copied into the mapping
//! survive it even unsynced. These loops therefore test what a *process*
//! crash can do (a record half-copied, a file half-rolled, a truncation or
//! deletion half-done, a recovery half-run); power loss, where unsynced
//! pages vanish or tear, is the crash matrices' job (`*_engine_crash.rs`).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, FlushDiskType, RocketMqConfig, RocketMqStore,
};
use rocketlog_core::codec::dledger::{DataRecord, Line, decode as decode_entry};
use rocketlog_tests::crash::XorShift;

fn fnv64(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Same functions and settings as the child's (`tests/src/bin/crash_loop.rs`).
fn mq_body(t: u64, qo: u64) -> Vec<u8> {
    let len = 50 + ((t * 7919 + qo * 104_729) % 700) as usize;
    format!("t{t}-q{qo};").bytes().cycle().take(len).collect()
}

fn dl_body(seq: u64) -> Vec<u8> {
    let len = 40 + (seq * 104_729 % 600) as usize;
    format!("s{seq};").bytes().cycle().take(len).collect()
}

/// The write number a DLedger body carries (`s<seq>;...`).
fn dl_seq(body: &[u8]) -> Option<u64> {
    let rest = body.strip_prefix(b"s")?;
    let end = rest.iter().position(|&b| b == b';')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

fn rocketmq_config(sync: bool) -> RocketMqConfig {
    RocketMqConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 256,
        max_hash_slot_num: 64,
        max_index_num: 256,
        flush_disk_type: if sync {
            FlushDiskType::SyncFlush
        } else {
            FlushDiskType::AsyncFlush
        },
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    }
}

fn dledger_config(dir: &Path, sync: bool) -> DLedgerStoreConfig {
    let mut c = DLedgerStoreConfig::new(dir, "n0");
    c.mapped_file_size_for_entry_data = 64 * 1024;
    c.mapped_file_size_for_entry_index = 32 * 256;
    c.sync_flush = sync;
    c.clean_interval = 0;
    c
}

/// Makes every file of `dir` but the newest two hours old, as if time had
/// passed: DLedger never expires a file younger than an hour.
fn age_files(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    files.sort();
    files.pop();
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    for f in files {
        if let Ok(h) = fs::File::options().write(true).open(&f) {
            let _ = h.set_modified(old);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// What one child run printed before it was killed.
struct Run {
    lines: Vec<String>,
    ready: Option<Duration>,
}

/// Starts the child, kills it with SIGKILL after `kill_after` (counted from
/// READY, or from the spawn if `before_ready`), returns its output. A child
/// that reports an error or exits by itself is a violation.
fn run_child(
    args: &[&str],
    before_ready: bool,
    kill_after: Duration,
    violations: &mut Vec<String>,
) -> Run {
    let spawned = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_loop"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn crash_loop");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut ready = None;
    if before_ready {
        std::thread::sleep(kill_after);
    } else {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok((l, at)) if l == "READY" => {
                ready = Some(at - spawned);
                lines.push(l);
            }
            Ok((l, _)) => violations.push(format!("line before READY: {l}")),
            Err(_) => violations.push("the child never got ready".into()),
        }
        std::thread::sleep(kill_after);
    }
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    for (l, at) in rx.try_iter() {
        if l == "READY" {
            ready = Some(at - spawned);
        }
        lines.push(l);
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    if let Some(st) = exited {
        violations.push(format!("the child exited by itself ({st}): {stderr}"));
    } else if !stderr.is_empty() {
        violations.push(format!("the child reported: {stderr}"));
    }
    Run { lines, ready }
}

/// Parses `WORD n n n ...`; a line cut by the kill is not an acknowledgement.
fn nums(l: &str, word: &str, n: usize) -> Option<Vec<u64>> {
    let rest = l.strip_prefix(word)?.strip_prefix(' ')?;
    let v: Vec<u64> = rest
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (v.len() == n).then_some(v)
}

#[derive(Default)]
struct Figures {
    kills: u64,
    in_recovery: u64,
    acks: u64,
    truncations: u64,
    checked: u64,
    /// Acknowledged records found expired (deleted by the clean thread).
    expired: u64,
    scanned: u64,
    violations: Vec<String>,
}

/// An acknowledged record as the child reported it.
#[derive(Clone, Copy)]
struct Ack {
    /// Physical offset (RocketMQ) or write number (DLedger).
    at: u64,
    len: u64,
    fnv: u64,
    /// Must survive: sync mode, or covered by a completed flush.
    required: bool,
}

trait Model {
    fn apply(&mut self, run: &[String], sync: bool, f: &mut Figures);
    fn verify(&self, copy: &Path, sync: bool, f: &mut Figures);
}

// ---------------------------------------------------------------- RocketMQ

#[derive(Default)]
struct MqModel {
    /// (thread, queue offset) -> ack.
    acked: BTreeMap<(u64, u64), Ack>,
}

impl Model for MqModel {
    fn apply(&mut self, run: &[String], sync: bool, f: &mut Figures) {
        let mut unflushed = Vec::new();
        let mut flushing = Vec::new();
        for l in run {
            if let Some(a) = nums(l, "ACK", 5) {
                let key = (a[0], a[1]);
                if let Some(old) = self.acked.get(&key)
                    && old.required
                {
                    f.violations.push(format!(
                        "queue {} offset {} acknowledged again: the earlier record was lost",
                        a[0], a[1]
                    ));
                }
                self.acked.insert(
                    key,
                    Ack {
                        at: a[2],
                        len: a[3],
                        fnv: a[4],
                        required: sync,
                    },
                );
                unflushed.push(key);
                f.acks += 1;
            } else if l == "FLUSHING" {
                flushing = std::mem::take(&mut unflushed);
            } else if l == "FLUSHED" {
                for k in flushing.drain(..) {
                    if let Some(a) = self.acked.get_mut(&k) {
                        a.required = true;
                    }
                }
            }
        }
    }

    fn verify(&self, copy: &Path, sync: bool, f: &mut Figures) {
        let (store, _report) = match RocketMqStore::open(copy, rocketmq_config(sync)) {
            Ok(s) => s,
            Err(e) => {
                f.violations.push(format!("reopen failed: {e}"));
                return;
            }
        };
        let min = store.stats().min_offset;
        for t in 0..2u64 {
            let qmax = u64::try_from(store.queue_max_offset("L", t as i32)).unwrap_or(0);
            // Acknowledged records.
            for (&(_, qo), a) in self.acked.range((t, 0)..(t + 1, 0)) {
                if a.at < min {
                    f.expired += 1;
                    continue;
                }
                if qo >= qmax {
                    if a.required {
                        f.violations
                            .push(format!("queue {t} offset {qo} (at {}) lost", a.at));
                    }
                    continue;
                }
                match store.consume("L", t as i32, qo as i64, 1) {
                    Ok(m) if m.len() == 1 => {
                        let m = &m[0];
                        if m.offset != a.at
                            || (a.len > 0
                                && (m.bytes.len() as u64, fnv64(&m.bytes)) != (a.len, a.fnv))
                        {
                            f.violations.push(format!(
                                "queue {t} offset {qo}: acknowledged at {} ({} bytes), found at {} ({} bytes)",
                                a.at,
                                a.len,
                                m.offset,
                                m.bytes.len()
                            ));
                        }
                        f.checked += 1;
                    }
                    // Expired between the bounds check and the read: not here.
                    Ok(_) if a.at < store.stats().min_offset => {}
                    Ok(_) => f
                        .violations
                        .push(format!("queue {t} offset {qo} (at {}) missing", a.at)),
                    Err(e) => f
                        .violations
                        .push(format!("queue {t} offset {qo}: read failed: {e}")),
                }
            }
            // Everything the queue hands out: contiguous, intact, ours.
            let mut next: Option<u64> = None;
            let mut from = 0i64;
            while (from as u64) < qmax {
                let got = match store.consume("L", t as i32, from, 256) {
                    Ok(g) => g,
                    Err(e) => {
                        f.violations.push(format!("queue {t} scan at {from}: {e}"));
                        break;
                    }
                };
                if got.is_empty() {
                    // `consume` skips expired records up to the queue's end:
                    // nothing after the last one handed out may be skipped.
                    if let Some(n) = next
                        && n < qmax
                    {
                        f.violations
                            .push(format!("queue {t}: offsets {n}..{qmax} unreadable"));
                    }
                    break;
                }
                for m in &got {
                    let Some(v) = m.view() else {
                        f.violations
                            .push(format!("queue {t}: undecodable record at {}", m.offset));
                        continue;
                    };
                    let qo = v.queue_offset as u64;
                    if next.is_some_and(|n| n != qo) {
                        f.violations
                            .push(format!("queue {t}: offset {qo} follows {next:?}"));
                    }
                    if v.topic != b"L" || v.queue_id != t as i32 || v.body != mq_body(t, qo) {
                        f.violations.push(format!(
                            "queue {t} offset {qo} at {}: content is not what was written",
                            m.offset
                        ));
                    }
                    next = Some(qo + 1);
                    f.scanned += 1;
                }
                from = next.map_or(from + 256, |n| n as i64);
            }
        }
        // Dropped, not closed: the copy is thrown away anyway.
        drop(store);
    }
}

// ---------------------------------------------------------------- DLedger

#[derive(Default)]
struct DlModel {
    /// index -> ack (`at` = write number).
    acked: BTreeMap<u64, Ack>,
    /// Write numbers a completed truncation removed or a later write replaced.
    dead: HashSet<u64>,
}

impl Model for DlModel {
    fn apply(&mut self, run: &[String], sync: bool, f: &mut Figures) {
        let mut unflushed = Vec::new();
        let mut flushing = Vec::new();
        for l in run {
            if let Some(a) = nums(l, "ACK", 4) {
                // A write at index i means the log ended at i - 1 then:
                // everything acknowledged from i on was cut (by an
                // interrupted truncation, or lost in async mode) and must
                // never come back.
                for (j, old) in self.acked.split_off(&a[0]) {
                    if old.required {
                        f.violations.push(format!(
                            "index {j} (write {}) was lost: index {} written again by write {}",
                            old.at, a[0], a[1]
                        ));
                    }
                    self.dead.insert(old.at);
                }
                self.acked.insert(
                    a[0],
                    Ack {
                        at: a[1],
                        len: a[2],
                        fnv: a[3],
                        required: sync,
                    },
                );
                unflushed.push(a[0]);
                f.acks += 1;
            } else if let Some(k) = nums(l, "TRUNCATING", 1) {
                // A truncation cut short by the kill may have removed any of these.
                for (_, a) in self.acked.range_mut(k[0] + 1..) {
                    a.required = false;
                }
            } else if let Some(k) = nums(l, "TRUNC", 1) {
                let cut = self.acked.split_off(&(k[0] + 1));
                self.dead.extend(cut.values().map(|a| a.at));
                f.truncations += 1;
            } else if l == "FLUSHING" {
                flushing = std::mem::take(&mut unflushed);
            } else if l == "FLUSHED" {
                for i in flushing.drain(..) {
                    if let Some(a) = self.acked.get_mut(&i) {
                        a.required = true;
                    }
                }
            }
        }
    }

    fn verify(&self, copy: &Path, sync: bool, f: &mut Figures) {
        let (store, _report) = match DLedgerStore::open(dledger_config(copy, sync)) {
            Ok(s) => s,
            Err(e) => {
                f.violations.push(format!("reopen failed: {e}"));
                return;
            }
        };
        let st = store.stats();
        let (begin, end) = (st.begin_index, st.end_index);
        for (&i, a) in &self.acked {
            if (i as i64) < begin {
                f.expired += 1;
                continue;
            }
            if !a.required {
                // May have been cut; if present, the scan below checks it.
                continue;
            }
            if i as i64 > end {
                f.violations
                    .push(format!("index {i} (write {}) lost: end is {end}", a.at));
                continue;
            }
            match store.get(i as i64) {
                Ok(raw) => {
                    if a.len > 0 && (raw.len() as u64, fnv64(&raw)) != (a.len, a.fnv) {
                        f.violations.push(format!(
                            "index {i}: acknowledged write {} ({} bytes) differs from the stored {} bytes",
                            a.at,
                            a.len,
                            raw.len()
                        ));
                    }
                    f.checked += 1;
                }
                Err(e) => f.violations.push(format!("index {i}: {e}")),
            }
        }
        if begin >= 0 {
            for i in begin..=end {
                let raw = match store.get(i) {
                    Ok(r) => r,
                    Err(e) => {
                        f.violations
                            .push(format!("index {i} in {begin}..={end}: {e}"));
                        continue;
                    }
                };
                let Ok(DataRecord::Entry(v)) = decode_entry(&raw, 0, Line::Classic) else {
                    f.violations.push(format!("index {i}: does not decode"));
                    continue;
                };
                let seq = dl_seq(v.body);
                match seq {
                    Some(s) if v.index == i && v.body == dl_body(s) => {
                        if self.dead.contains(&s) {
                            f.violations.push(format!(
                                "index {i}: write {s} came back after a truncation or overwrite"
                            ));
                        }
                        // A different write where an acknowledged one was:
                        // only a later, unacknowledged write may replace
                        // one that was not required to survive.
                        if let Some(a) = self.acked.get(&(i as u64))
                            && a.at != s
                            && (a.required || s < a.at)
                        {
                            f.violations.push(format!(
                                "index {i}: holds write {s}, acknowledged was write {}",
                                a.at
                            ));
                        }
                    }
                    _ => f
                        .violations
                        .push(format!("index {i}: content is not what was written")),
                }
                f.scanned += 1;
            }
        }
        drop(store);
    }
}

// ---------------------------------------------------------------- driver

fn crash_loop(kind: &str, mode: &str, scenario: &str, seed: u64) {
    let sync = mode == "sync";
    let kills = env_u64("ROCKETLOG_CRASH_KILLS").unwrap_or(12);
    let soak = env_u64("ROCKETLOG_SOAK_SECS").map(Duration::from_secs);
    let started = Instant::now();
    let mut rng = XorShift::new(seed);
    let mut f = Figures::default();
    let work = tempfile::tempdir().unwrap();
    let mut model: Box<dyn Model> = Box::new(MqModel::default());
    let mut ready_ms = 20u64;
    let mut round = 0u64;
    let mut store_no = 0u64;
    // Bounds the store's size in long runs: a fresh store every 40 kills.
    const ROUNDS_PER_STORE: u64 = 40;
    loop {
        let more = match soak {
            Some(d) => started.elapsed() < d || round < kills,
            None => round < kills,
        };
        if !more {
            break;
        }
        if round.is_multiple_of(ROUNDS_PER_STORE) {
            store_no += 1;
            model = match kind {
                "rocketmq" => Box::new(MqModel::default()),
                _ => Box::new(DlModel::default()),
            };
        }
        let dir = work.path().join(format!("store{store_no}"));
        if scenario == "expiry" {
            age_files(&dir.join("commitlog"));
            age_files(&dir.join("dledger-n0").join("data"));
        }
        // Distinct write numbers in every run.
        let seq = (round + 1) * 10_000_000;
        // One kill in four lands in recovery (before READY).
        let before_ready = !round.is_multiple_of(ROUNDS_PER_STORE) && rng.below(4) == 0;
        let after = if before_ready {
            Duration::from_millis(rng.below(ready_ms + 1))
        } else {
            Duration::from_millis(10 + rng.below(150))
        };
        let seq_s = seq.to_string();
        let args = [kind, mode, scenario, dir.to_str().unwrap(), &seq_s];
        let run = run_child(&args, before_ready, after, &mut f.violations);
        f.kills += 1;
        match run.ready {
            Some(r) => ready_ms = (r.as_millis() as u64).clamp(1, 2000),
            None => f.in_recovery += 1,
        }
        let before = f.violations.len();
        model.apply(&run.lines, sync, &mut f);
        let copy = work.path().join("copy");
        let _ = fs::remove_dir_all(&copy);
        if dir.exists() {
            copy_dir(&dir, &copy);
            model.verify(&copy, sync, &mut f);
        }
        if f.violations.len() > before {
            f.violations.push(format!(
                "(above: round {round}, killed {} READY after {after:?})",
                if before_ready { "before" } else { "after" }
            ));
        }
        round += 1;
        if f.violations.len() > 50 {
            break;
        }
    }
    println!(
        "crash-loop: {kind} {mode} {scenario}: kills={} (in recovery {}) acks={} truncations={} \
         acked-records-verified={} expired={} records-scanned={} violations={} ({:.1}s)",
        f.kills,
        f.in_recovery,
        f.acks,
        f.truncations,
        f.checked,
        f.expired,
        f.scanned,
        f.violations.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        f.violations.is_empty(),
        "{kind} {mode} {scenario}:\n{}",
        f.violations.join("\n")
    );
    assert!(f.acks > 0, "the child acknowledged nothing");
    assert!(f.checked > 0, "nothing was verified");
    if scenario == "expiry" {
        assert!(f.expired > 0, "the clean thread expired nothing");
    }
}

#[test]
fn rocketmq_sync_roll() {
    crash_loop("rocketmq", "sync", "roll", 0xc1a5_0001);
}

#[test]
fn rocketmq_async_roll() {
    crash_loop("rocketmq", "async", "roll", 0xc1a5_0002);
}

#[test]
fn rocketmq_sync_expiry() {
    crash_loop("rocketmq", "sync", "expiry", 0xc1a5_0003);
}

#[test]
fn rocketmq_async_expiry() {
    crash_loop("rocketmq", "async", "expiry", 0xc1a5_0004);
}

#[test]
fn dledger_sync_truncate() {
    crash_loop("dledger", "sync", "truncate", 0xc1a5_0005);
}

#[test]
fn dledger_async_truncate() {
    crash_loop("dledger", "async", "truncate", 0xc1a5_0006);
}

#[test]
fn dledger_sync_expiry() {
    crash_loop("dledger", "sync", "expiry", 0xc1a5_0007);
}

#[test]
fn dledger_async_expiry() {
    crash_loop("dledger", "async", "expiry", 0xc1a5_0008);
}
