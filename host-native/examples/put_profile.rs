//! A small, repeatable driver of the RocketMQ put and get paths, for
//! `valgrind --tool=callgrind` (instruction counts) or a quick wall-clock look:
//! the shape of `rocketlog bench`'s "async 1 KiB, 1 writer" workload (a
//! `KEYS` property per message, 8 queues), then random gets by commitlog
//! offset, by consume-queue offset and by key; or (`dledger`) the DLedger
//! store's async 1 KiB append and gets by raft index.
//!
//! ```text
//! cargo build --release -p rocketlog --example put_profile
//! valgrind --tool=callgrind target/release/examples/put_profile [PUTS] [GETS] [put|all|dledger]
//! ```

use std::io::Write;
use std::time::Instant;

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore,
};

const QUEUES: i32 = 8;
const TOPIC: &str = "BenchTopic";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let puts: u64 = args.next().map_or(Ok(20_000), |s| s.parse())?;
    let gets: u64 = args.next().map_or(Ok(20_000), |s| s.parse())?;
    let what = args.next().unwrap_or_else(|| "all".into());
    let dir = std::env::temp_dir().join(format!("rocketlog-put-profile-{}", std::process::id()));
    if what == "dledger" {
        return dledger(&dir, puts, gets);
    }
    let cfg = RocketMqConfig {
        flush_disk_type: FlushDiskType::AsyncFlush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    };
    let (store, _) = RocketMqStore::open(&dir, cfg)?;
    let body = vec![0x42u8; 1024];
    let mut offsets = Vec::with_capacity(puts as usize);
    let t = Instant::now();
    let cpu0 = thread_cpu();
    let faults0 = thread_faults();
    let mut worst = std::time::Duration::ZERO;
    for n in 0..puts {
        let t1 = Instant::now();
        let mut pb = [0u8; 64];
        let mut c = std::io::Cursor::new(&mut pb[..]);
        let _ = write!(c, "KEYS\x01w0-{n}\x02");
        let plen = c.position() as usize;
        let r = store.put(&Message {
            topic: TOPIC,
            queue_id: (n % QUEUES as u64) as i32,
            flag: 0,
            body: &body,
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
        offsets.push(r.physical_offset);
        worst = worst.max(t1.elapsed());
    }
    let put_time = t.elapsed();
    let cpu = thread_cpu() - cpu0;
    let faults = thread_faults() - faults0;
    eprintln!(
        "{puts} puts: {:.0} msgs/s; writer thread: {:.0} ns CPU/put, {faults} page faults; \
         slowest put {worst:?}",
        puts as f64 / put_time.as_secs_f64(),
        cpu * 1e9 / puts.max(1) as f64
    );
    if what != "put" && puts > 0 {
        // A cheap deterministic sequence (xorshift) of message numbers.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % puts
        };
        let mut sum = 0usize;
        let t = Instant::now();
        for _ in 0..gets {
            sum += store.get(offsets[next() as usize])?.bytes.len();
        }
        eprintln!("{gets} gets by offset: {:?}", t.elapsed() / gets as u32);
        let t = Instant::now();
        for _ in 0..gets {
            let n = next();
            let q = (n % QUEUES as u64) as i32;
            sum += store
                .consume(TOPIC, q, (n / QUEUES as u64) as i64, 1)?
                .len();
        }
        eprintln!(
            "{gets} gets by queue offset: {:?}",
            t.elapsed() / gets as u32
        );
        let t = Instant::now();
        for _ in 0..gets / 10 {
            sum += store.find_by_key(TOPIC, &format!("w0-{}", next()))?.len();
        }
        eprintln!(
            "{} gets by key: {:?} (checksum {sum})",
            gets / 10,
            t.elapsed() / (gets / 10).max(1) as u32
        );
    }
    store.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn dledger(dir: &std::path::Path, puts: u64, gets: u64) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = DLedgerStoreConfig {
        sync_flush: false,
        clean_interval: 0,
        ..DLedgerStoreConfig::new(dir, "n0")
    };
    let (store, _) = DLedgerStore::open(cfg)?;
    let body = vec![0x42u8; 1024];
    let t = Instant::now();
    let cpu0 = thread_cpu();
    let faults0 = thread_faults();
    let mut last = 0;
    for _ in 0..puts {
        last = store.append(&body)?.index;
    }
    eprintln!(
        "{puts} appends: {:.0} msgs/s; writer thread: {:.0} ns CPU/append, {} page faults",
        puts as f64 / t.elapsed().as_secs_f64(),
        (thread_cpu() - cpu0) * 1e9 / puts.max(1) as f64,
        thread_faults() - faults0
    );
    let t = Instant::now();
    let mut sum = 0;
    for i in 0..gets {
        sum += store
            .get(((i * 7919) % (last as u64 + 1)) as i64)
            .map_or(0, |b| b.len());
    }
    eprintln!(
        "{gets} gets by index: {:?} (checksum {sum})",
        t.elapsed() / gets.max(1) as u32
    );
    store.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

/// CPU time of the calling thread, in seconds (user + system).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Page faults (minor + major) taken by the calling thread so far.
fn thread_faults() -> i64 {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the call's duration.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if r != 0 {
        return 0;
    }
    ru.ru_minflt + ru.ru_majflt
}
