//! Append throughput of the native host next to this machine's own limits,
//! measured in the same run. Ignored by default (timings are not asserted):
//!
//! ```text
//! cargo test --release -p rocketlog-tests --test native_bench -- --ignored --nocapture
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketlog::embed::{FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore};
use rocketlog::store::{DiskStore, Layout};
use rocketlog_core::store::{LogId, PageStore};

const BODY: usize = 1024;

fn cfg(flush: FlushDiskType) -> RocketMqConfig {
    RocketMqConfig {
        mapped_file_size_commit_log: 256 * 1024 * 1024,
        mapped_file_size_consume_queue: 20 * 300_000,
        max_hash_slot_num: 500_000,
        max_index_num: 2_000_000,
        flush_disk_type: flush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    }
}

fn msg(body: &[u8], q: i32) -> Message<'_> {
    Message {
        topic: "BENCH",
        queue_id: q,
        flag: 0,
        body,
        properties: b"",
        sys_flag: 0,
        born_timestamp: 1,
        born_host: Host::V4 {
            addr: [127, 0, 0, 1],
            port: 1,
        },
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn row(what: &str, ops: f64, bytes: f64, secs: f64, extra: &str) {
    println!(
        "| {what:<38} | {:>12.0} | {:>9.1} | {extra}",
        ops / secs,
        bytes / secs / 1e6
    );
}

/// Copies 1 KiB records into a fresh mapped segment through `DiskStore::write`.
fn memcpy_into_mapping(dir: &std::path::Path) {
    let s = DiskStore::new(Layout::rocketmq(dir));
    let size = 256u64 * 1024 * 1024;
    s.create(&LogId::CommitLog, 0, size).unwrap();
    let rec = vec![0x5a; BODY];
    // Touch once (page faults), then time a second pass over the same pages.
    for pass in 0..2 {
        let t = Instant::now();
        let mut p = 0;
        while p + BODY as u64 <= size {
            s.write(&LogId::CommitLog, 0, p, &rec).unwrap();
            p += BODY as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        let n = (size / BODY as u64) as f64;
        let what = if pass == 0 {
            "memcpy into a new mapping (faults)"
        } else {
            "memcpy into a mapped, faulted file"
        };
        row(what, n, n * BODY as f64, secs, "");
    }
}

fn fdatasync_latency(dir: &std::path::Path) -> Duration {
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(dir.join("probe"))
        .unwrap();
    let block = vec![1u8; 4096];
    let mut lat = Vec::new();
    for _ in 0..200 {
        f.write_all(&block).unwrap();
        let t = Instant::now();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    let med = lat[lat.len() / 2];
    println!(
        "| {:<38} | {:>12.0} | {:>9} | median {:?}, p99 {:?}",
        "write 4 KiB + fdatasync",
        1.0 / med.as_secs_f64(),
        "",
        med,
        lat[lat.len() * 99 / 100]
    );
    med
}

fn puts(flush: FlushDiskType, writers: usize, total: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocketMqStore::open(dir.path(), cfg(flush)).unwrap();
    let store = Arc::new(store);
    let body = vec![0x42u8; BODY];
    let per = total / writers;
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            let (store, body) = (&store, &body);
            s.spawn(move || {
                for _ in 0..per {
                    store.put(&msg(body, (w % 8) as i32)).unwrap();
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let st = store.stats();
    let n = (per * writers) as f64;
    let what = match flush {
        FlushDiskType::AsyncFlush => format!("put, ASYNC_FLUSH, {writers} writer(s)"),
        FlushDiskType::SyncFlush => format!("put, SYNC_FLUSH, {writers} writer(s)"),
    };
    let extra = format!(
        "{} syncs ({:.1} puts/sync, {:.0} µs/sync)",
        st.flush.syncs,
        n / st.flush.syncs.max(1) as f64,
        st.flush.sync_micros as f64 / st.flush.syncs.max(1) as f64
    );
    row(&what, n, n * BODY as f64, secs, &extra);
    Arc::into_inner(store).unwrap().close().unwrap();
}

#[test]
#[ignore = "measurement: run with --ignored --nocapture (in --release)"]
fn append_throughput_table() {
    let dir = tempfile::tempdir().unwrap();
    println!();
    println!(
        "| {:<38} | {:>12} | {:>9} | notes",
        "what (1 KiB bodies)", "ops/s", "MB/s"
    );
    println!("|{:-<40}|{:-<14}|{:-<11}|------", "", "", "");
    memcpy_into_mapping(dir.path());
    let med = fdatasync_latency(dir.path());
    puts(FlushDiskType::AsyncFlush, 1, 200_000);
    let n = ((2.0 / med.as_secs_f64()) as usize).clamp(200, 20_000);
    for w in [1, 16, 64] {
        puts(FlushDiskType::SyncFlush, w, (n * w.min(16)).max(w * 20));
    }
}
