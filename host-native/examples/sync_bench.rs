//! Group-commit driver: `SYNC_FLUSH` RocketMQ puts of 1 KiB bodies from N
//! writer threads, reporting msgs/s, syncs and msgs per sync beside the
//! limit `N / median fdatasync latency` (measured here on the same disk).
//!
//! ```text
//! cargo run --release -p rocketlog --example sync_bench -- [WRITERS,..] [SECONDS|COUNTx] [DIR]
//! ```
//!
//! `WRITERS` defaults to `1,16,64`, the run length to 2 seconds per writer
//! count. A length written `500x` runs a fixed 500 puts per writer instead
//! (repeatable work for `valgrind --tool=callgrind`). `DIR` (default: the
//! temporary directory) must be on the disk to measure; the scratch store is
//! removed afterwards. `SYNC_BENCH_DLEDGER=1` runs DLedger `sync_flush`
//! appends instead. Measurements only: nothing here is asserted.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore,
};
use rocketlog::flusher::FlushStats;

/// The store under test.
enum Store {
    RocketMq(RocketMqStore),
    DLedger(DLedgerStore),
}

impl Store {
    fn open(root: &Path) -> Result<Self, rocketlog::embed::Error> {
        if std::env::var_os("SYNC_BENCH_DLEDGER").is_some() {
            let cfg = DLedgerStoreConfig {
                sync_flush: true,
                clean_interval: 0,
                ..DLedgerStoreConfig::new(root, "n0")
            };
            return Ok(Self::DLedger(DLedgerStore::open(cfg)?.0));
        }
        let cfg = RocketMqConfig {
            flush_disk_type: FlushDiskType::SyncFlush,
            clean_resource_interval: 0,
            // `SYNC_BENCH_NO_INDEX=1`: no index file (isolates the commitlog's syncs).
            message_index_enable: std::env::var_os("SYNC_BENCH_NO_INDEX").is_none(),
            ..RocketMqConfig::default()
        };
        Ok(Self::RocketMq(RocketMqStore::open(root, cfg)?.0))
    }
    fn put(&self, body: &[u8], w: usize, n: u64) -> Result<(), rocketlog::embed::Error> {
        match self {
            Self::RocketMq(s) => put(s, body, w, n),
            Self::DLedger(s) => s.append(body).map(drop),
        }
    }
    fn flush_stats(&self) -> FlushStats {
        match self {
            Self::RocketMq(s) => s.stats().flush,
            Self::DLedger(s) => s.stats().flush,
        }
    }
    fn close(self) -> Result<(), rocketlog::embed::Error> {
        match self {
            Self::RocketMq(s) => s.close(),
            Self::DLedger(s) => s.close(),
        }
    }
}

/// How long, or how much, each writer runs.
#[derive(Clone, Copy)]
enum Length {
    For(Duration),
    Count(u64),
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let writers: Vec<usize> = match args.next() {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 16, 64],
    };
    let length = match args.next() {
        Some(s) => match s.strip_suffix('x') {
            Some(n) => Length::Count(n.parse()?),
            None => Length::For(Duration::from_secs_f64(s.parse()?)),
        },
        None => Length::For(Duration::from_secs(2)),
    };
    let base = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("rocketlog-sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let r = run(&dir, &writers, length);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn run(dir: &Path, writers: &[usize], length: Length) -> Result<(), Box<dyn std::error::Error>> {
    let fsync = fdatasync_median(dir, 200)?;
    println!(
        "fdatasync 4 KiB median: {:.1} us",
        fsync.as_secs_f64() * 1e6
    );
    for &n in writers {
        let root = dir.join(format!("store-{n}"));
        let store = Store::open(&root)?;
        let body = vec![0x42u8; 1024];
        let cpu0 = cpu_secs();
        let io0 = io_write_bytes();
        let start = Instant::now();
        let ops: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..n)
                .map(|w| {
                    let (store, body) = (&store, &body);
                    s.spawn(move || -> Result<u64, String> {
                        let mut k = 0u64;
                        loop {
                            match length {
                                Length::For(d) if start.elapsed() >= d => break,
                                Length::Count(c) if k >= c => break,
                                _ => {}
                            }
                            store.put(body, w, k).map_err(|e| e.to_string())?;
                            k += 1;
                        }
                        Ok(k)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().map_err(|_| "writer panicked".to_string())?)
                .sum::<Result<u64, String>>()
        })?;
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu0;
        let io = io_write_bytes().saturating_sub(io0);
        let st = store.flush_stats();
        store.close()?;
        std::fs::remove_dir_all(&root)?;
        let rate = ops as f64 / secs;
        let limit = n as f64 / fsync.as_secs_f64();
        let syncs = st.syncs.max(1) as f64;
        let sync_us = st.sync_micros as f64 / syncs;
        let cycle_us = secs * 1e6 / syncs;
        // The disk is shared and noisy: `eff` compares with the syncs this
        // run actually got (N writers per average sync = 1.0).
        println!(
            "{n:>3}w: {rate:>9.0} msgs/s  {ops} msgs  {} syncs  {:.1} msgs/sync  sync {sync_us:.0} us  \
             cycle {cycle_us:.0} us  gather {:.0} us ({} timed out)  cpu {:.1} us/msg  dirtied {:.0} KiB/sync  eff {:.2}  ratio {:.2}",
            st.syncs,
            ops as f64 / syncs,
            st.gather_micros as f64 / syncs,
            st.gathers_timed_out,
            cpu * 1e6 / ops.max(1) as f64,
            io as f64 / 1024.0 / syncs,
            rate * sync_us / 1e6 / n as f64,
            rate / limit
        );
    }
    Ok(())
}

fn put(
    store: &RocketMqStore,
    body: &[u8],
    w: usize,
    n: u64,
) -> Result<(), rocketlog::embed::Error> {
    // A unique key per message, as the bench does: every put is indexed.
    let mut pb = [0u8; 64];
    let mut c = std::io::Cursor::new(&mut pb[..]);
    let _ = write!(c, "KEYS\x01w{w}-{n}\x02");
    let plen = usize::try_from(c.position()).unwrap_or(0);
    store.put(&Message {
        topic: "BenchTopic",
        queue_id: i32::try_from((w as u64 + n) % 8).unwrap_or(0),
        flag: 0,
        body,
        properties: &pb[..plen],
        sys_flag: 0,
        born_timestamp: 1,
        born_host: Host::V4 {
            addr: [127, 0, 0, 1],
            port: 1,
        },
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    })?;
    Ok(())
}

/// Bytes this process caused to be written to storage (Linux
/// `/proc/self/io` `write_bytes`: counted when pages are dirtied, a whole
/// folio at a time), 0 where unavailable.
fn io_write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of the whole process so far.
fn cpu_secs() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given and keeps no pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Median of `write(4 KiB) + fdatasync` on a fresh preallocated file in `dir`.
fn fdatasync_median(dir: &Path, n: usize) -> std::io::Result<Duration> {
    let p = dir.join("probe");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&p)?;
    f.set_len(0)?;
    let block = [1u8; 4096];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        f.write_all(&block)?;
        let t = Instant::now();
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    drop(f);
    std::fs::remove_file(&p)?;
    lat.sort();
    Ok(lat[n / 2])
}
