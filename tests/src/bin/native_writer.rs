//! Child process for the kill -9 tests (`tests/tests/native_crash.rs`).
//!
//! `native_writer rocketmq|dledger DIR THREADS` opens the store in sync-flush
//! mode and appends forever from THREADS threads, printing one line per
//! acknowledged record to stdout (flushed at once):
//!
//! * RocketMQ: `ACK <thread> <queue offset> <physical offset> <len> <fnv64 of the record>`
//!   (thread t writes topic `KILL`, queue t; the body is a function of (t, queue offset)).
//! * DLedger: `ACK <index> <len> <fnv64 of the entry> <thread> <i>` (the body is a function of (thread, i)).
//!
//! The parent kills it with SIGKILL at a random moment, reopens the store and
//! checks every acknowledged record byte for byte.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore,
};

/// FNV-1a, 64 bits: the record fingerprint printed with each acknowledgement.
pub fn fnv64(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The body of thread `t`'s record number `i`: 100..1100 bytes, deterministic.
pub fn body(t: u64, i: u64) -> Vec<u8> {
    let len = 100 + ((t * 7919 + i * 104_729) % 1000) as usize;
    let seed = format!("t{t}-i{i};");
    seed.bytes().cycle().take(len).collect()
}

/// Small files so the kills also land around file rolls.
pub fn rocketmq_config() -> RocketMqConfig {
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

/// Small files so the kills also land around file rolls.
pub fn dledger_config(dir: PathBuf) -> DLedgerStoreConfig {
    let mut c = DLedgerStoreConfig::new(dir, "n0");
    c.mapped_file_size_for_entry_data = 256 * 1024;
    c.mapped_file_size_for_entry_index = 32 * 1024;
    c.sync_flush = true;
    c.clean_interval = 0;
    c
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: native_writer rocketmq|dledger DIR THREADS");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[2]);
    let threads: u64 = args[3].parse().unwrap_or(4);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let say = move |line: String| {
        let mut o = out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The parent may have stopped reading; there is nothing to do about it.
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    };
    match args[1].as_str() {
        "rocketmq" => {
            let (store, _) = match RocketMqStore::open(&dir, rocketmq_config()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("open: {e}");
                    std::process::exit(1);
                }
            };
            let store = Arc::new(store);
            say("READY".into());
            std::thread::scope(|s| {
                for t in 0..threads {
                    let store = Arc::clone(&store);
                    let say = say.clone();
                    s.spawn(move || {
                        let q = t as i32;
                        let mut i = store.queue_max_offset("KILL", q) as u64;
                        loop {
                            let b = body(t, i);
                            let key = format!("k{t}-{i}");
                            let props = format!("KEYS\u{1}{key}\u{2}");
                            let m = Message {
                                topic: "KILL",
                                queue_id: q,
                                flag: 0,
                                body: &b,
                                properties: props.as_bytes(),
                                sys_flag: 0,
                                born_timestamp: 1,
                                born_host: Host::V4 {
                                    addr: [10, 0, 0, 1],
                                    port: 7,
                                },
                                reconsume_times: 0,
                                prepared_transaction_offset: 0,
                            };
                            match store.put(&m) {
                                Ok(r) => {
                                    let rec = match store.get(r.physical_offset) {
                                        Ok(rec) => rec.bytes,
                                        Err(e) => {
                                            eprintln!("read back: {e}");
                                            std::process::exit(1);
                                        }
                                    };
                                    say(format!(
                                        "ACK {t} {} {} {} {}",
                                        r.queue_offset,
                                        r.physical_offset,
                                        rec.len(),
                                        fnv64(&rec)
                                    ));
                                    i += 1;
                                }
                                Err(e) => {
                                    eprintln!("put: {e}");
                                    std::process::exit(1);
                                }
                            }
                        }
                    });
                }
            });
        }
        "dledger" => {
            let (store, _) = match DLedgerStore::open(dledger_config(dir)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("open: {e}");
                    std::process::exit(1);
                }
            };
            if let Err(e) = store.set_term(1, None) {
                eprintln!("set_term: {e}");
                std::process::exit(1);
            }
            let store = Arc::new(store);
            say("READY".into());
            std::thread::scope(|s| {
                for t in 0..threads {
                    let store = Arc::clone(&store);
                    let say = say.clone();
                    s.spawn(move || {
                        for i in 0.. {
                            match store.append(&body(t, i)) {
                                Ok(a) => match store.get(a.index) {
                                    Ok(rec) => say(format!(
                                        "ACK {} {} {} {t} {i}",
                                        a.index,
                                        rec.len(),
                                        fnv64(&rec)
                                    )),
                                    Err(e) => {
                                        eprintln!("read back: {e}");
                                        std::process::exit(1);
                                    }
                                },
                                Err(e) => {
                                    eprintln!("append: {e}");
                                    std::process::exit(1);
                                }
                            }
                        }
                    });
                }
            });
        }
        k => {
            eprintln!("unknown kind {k}");
            std::process::exit(2);
        }
    }
}
