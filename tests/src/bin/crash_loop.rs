//! Child process of the crash loops (`tests/tests/reliability_crash_loop.rs`).
//!
//! `crash_loop KIND MODE SCENARIO DIR SEQ`
//!
//! * KIND: `rocketmq` | `dledger`; MODE: `sync` | `async`;
//! * SCENARIO: `roll` (appends into small files: many rolls), `expiry` (the
//!   clean thread deletes head files all the time), `truncate` (DLedger only:
//!   follower truncations between appends);
//! * SEQ: the first sequence number this run may use (DLedger bodies carry it,
//!   so every write of every run is distinct).
//!
//! It opens the store (recovery), prints `READY`, then writes forever and
//! prints what it did, one line at a time, flushed at once (the parent kills
//! it with SIGKILL and replays the lines):
//!
//! * RocketMQ (2 writer threads, thread t writes queue t of topic `L`; the
//!   body is a function of (t, queue offset)):
//!   `ACK <t> <queue offset> <physical offset> <record len> <fnv64 of the record>`
//! * DLedger (one writer): `ACK <index> <seq> <entry len> <fnv64 of the entry>`,
//!   `TRUNCATING <index>` before and `TRUNC <index>` after a truncation that
//!   keeps entries up to `index`.
//! * Both, async mode: `FLUSHING` before and `FLUSHED` after a `flush()`:
//!   every ACK printed before `FLUSHING` is durable once `FLUSHED` is printed.
//!
//! Any error is printed on stderr (`ERROR ...`) and the process exits 1.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore,
};
use rocketlog_core::codec::dledger::{DataRecord, EntryParts, Line, decode as decode_entry};
use rocketlog_tests::crash::XorShift;

/// FNV-1a, 64 bits: the record fingerprint printed with each acknowledgement.
fn fnv64(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// RocketMQ body of thread `t`'s record at queue offset `qo` (same function as the parent's).
fn mq_body(t: u64, qo: u64) -> Vec<u8> {
    let len = 50 + ((t * 7919 + qo * 104_729) % 700) as usize;
    format!("t{t}-q{qo};").bytes().cycle().take(len).collect()
}

/// DLedger body of write number `seq` (same function as the parent's).
fn dl_body(seq: u64) -> Vec<u8> {
    let len = 40 + (seq * 104_729 % 600) as usize;
    format!("s{seq};").bytes().cycle().take(len).collect()
}

/// Every hour is a delete hour: with 0 reserved hours every full file expires.
fn all_hours() -> String {
    (0..24)
        .map(|h| format!("{h:02}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn rocketmq_config(sync: bool, expiry: bool) -> RocketMqConfig {
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
        flush_interval_commit_log: 20,
        flush_interval_consume_queue: 50,
        file_reserved_time: 0,
        delete_when: all_hours(),
        clean_resource_interval: if expiry { 30 } else { 0 },
        delete_commit_log_files_interval: 1,
        ..RocketMqConfig::default()
    }
}

fn dledger_config(dir: &Path, sync: bool, expiry: bool) -> DLedgerStoreConfig {
    let mut c = DLedgerStoreConfig::new(dir, "n0");
    c.mapped_file_size_for_entry_data = 64 * 1024;
    c.mapped_file_size_for_entry_index = 32 * 256;
    c.sync_flush = sync;
    c.check_point_interval = 50;
    c.file_reserved_hours = 0;
    c.delete_when = all_hours();
    c.clean_interval = if expiry { 30 } else { 0 };
    c
}

/// Stdout shared by the writer threads; one whole line per call.
#[derive(Clone)]
struct Out(Arc<Mutex<std::io::Stdout>>);

impl Out {
    fn say(&self, line: &str) {
        let mut o = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // The parent may have stopped reading; there is nothing to do about it.
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("ERROR {what}: {e}");
    std::process::exit(1)
}

fn run_rocketmq(dir: &Path, sync: bool, expiry: bool, out: &Out) {
    let (store, _) =
        RocketMqStore::open(dir, rocketmq_config(sync, expiry)).unwrap_or_else(|e| fail("open", e));
    out.say("READY");
    let store = Arc::new(store);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (store, out) = (Arc::clone(&store), out.clone());
            s.spawn(move || {
                let q = t as i32;
                let mut qo = u64::try_from(store.queue_max_offset("L", q)).unwrap_or(0);
                let mut rng = XorShift::new(t + 1);
                loop {
                    let b = mq_body(t, qo);
                    let key = format!("k{t}-{qo}");
                    let props = format!("KEYS\u{1}{key}\u{2}");
                    let m = Message {
                        topic: "L",
                        queue_id: q,
                        flag: 0,
                        body: &b,
                        properties: props.as_bytes(),
                        sys_flag: 0,
                        born_timestamp: 1,
                        born_host: Host::V4 {
                            addr: [10, 0, 0, 2],
                            port: 9,
                        },
                        reconsume_times: 0,
                        prepared_transaction_offset: 0,
                    };
                    let r = store.put(&m).unwrap_or_else(|e| fail("put", e));
                    if r.queue_offset != qo as i64 {
                        fail("put", format!("queue offset {} != {qo}", r.queue_offset));
                    }
                    let rec = match store.get(r.physical_offset) {
                        Ok(rec) => rec.bytes,
                        // Expired already (expiry scenario): the parent checks the rest.
                        Err(rocketlog::embed::Error::NotFound(_)) if expiry => Vec::new(),
                        Err(e) => fail("read back", e),
                    };
                    out.say(&format!(
                        "ACK {t} {qo} {} {} {}",
                        r.physical_offset,
                        rec.len(),
                        fnv64(&rec)
                    ));
                    qo += 1;
                    if !sync && t == 0 && rng.below(40) == 0 {
                        out.say("FLUSHING");
                        store.flush().unwrap_or_else(|e| fail("flush", e));
                        out.say("FLUSHED");
                    }
                }
            });
        }
    });
}

fn run_dledger(dir: &Path, sync: bool, scenario: &str, seq: u64, out: &Out) {
    let expiry = scenario == "expiry";
    let (store, _) =
        DLedgerStore::open(dledger_config(dir, sync, expiry)).unwrap_or_else(|e| fail("open", e));
    store
        .set_term(1, None)
        .unwrap_or_else(|e| fail("set_term", e));
    out.say("READY");
    let mut rng = XorShift::new(seq | 1);
    for seq in seq.. {
        let b = dl_body(seq);
        let a = store.append(&b).unwrap_or_else(|e| fail("append", e));
        let raw = match store.get(a.index) {
            Ok(raw) => raw,
            Err(rocketlog::embed::Error::NotFound(_)) if expiry => Vec::new(),
            Err(e) => fail("read back", e),
        };
        out.say(&format!(
            "ACK {} {seq} {} {}",
            a.index,
            raw.len(),
            fnv64(&raw)
        ));
        if scenario == "truncate" && rng.below(25) == 0 {
            let st = store.stats();
            let lo = st.begin_index.max(st.end_index - 30).max(0);
            let k = lo + rng.below((st.end_index - lo + 1) as u64) as i64;
            let raw = store.get(k).unwrap_or_else(|e| fail("get", e));
            let Ok(DataRecord::Entry(v)) = decode_entry(&raw, 0, Line::Classic) else {
                fail("decode", format!("entry {k}"))
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
            out.say(&format!("TRUNCATING {k}"));
            store.truncate(&e).unwrap_or_else(|e| fail("truncate", e));
            out.say(&format!("TRUNC {k}"));
        }
        if !sync && rng.below(40) == 0 {
            out.say("FLUSHING");
            store.flush().unwrap_or_else(|e| fail("flush", e));
            out.say("FLUSHED");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: crash_loop rocketmq|dledger sync|async roll|expiry|truncate DIR SEQ");
        std::process::exit(2);
    }
    let sync = match args[2].as_str() {
        "sync" => true,
        "async" => false,
        m => fail("mode", m),
    };
    let dir = PathBuf::from(&args[4]);
    let seq: u64 = args[5].parse().unwrap_or_else(|e| fail("SEQ", e));
    let out = Out(Arc::new(Mutex::new(std::io::stdout())));
    match (args[1].as_str(), args[3].as_str()) {
        ("rocketmq", s @ ("roll" | "expiry")) => run_rocketmq(&dir, sync, s == "expiry", &out),
        ("dledger", s @ ("roll" | "expiry" | "truncate")) => run_dledger(&dir, sync, s, seq, &out),
        (k, s) => fail("kind/scenario", format!("{k} {s}")),
    }
}
