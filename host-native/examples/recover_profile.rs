//! A repeatable driver of RocketMQ store recovery, for a wall-clock look or
//! `valgrind --tool=callgrind`: fills a store at DIR (1 KiB bodies with a
//! `KEYS` property, 8 queues, async flush) if it does not exist yet, then
//! opens it again, after a clean close (`normal`) or with the abort marker a
//! killed broker leaves (`abnormal`), and prints the open's time and report.
//!
//! ```text
//! cargo build --release -p rocketlog --example recover_profile
//! target/release/examples/recover_profile DIR [MiB] [normal|abnormal]
//! ```
//!
//! Recovery checks the commitlog on every core; `ROCKETLOG_SCAN_THREADS=1`
//! runs it on one thread, to compare. The zeros past the end of the data are
//! read only where the file has data (`SEEK_DATA`): a store whose page cache
//! was dropped past the end (or that was never read there) shows the cost of
//! a fresh open; pages read there once stay cached and count as data.

use std::io::Write;
use std::time::Instant;

use rocketlog::embed::{FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: recover_profile DIR [MiB] [normal|abnormal]")?,
    );
    let mib: u64 = args.next().map_or(Ok(96), |s| s.parse())?;
    let kind = args.next().unwrap_or_else(|| "abnormal".into());
    let cfg = || RocketMqConfig {
        flush_disk_type: FlushDiskType::AsyncFlush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    };
    if !dir.exists() {
        let (store, _) = RocketMqStore::open(&dir, cfg())?;
        let body = vec![0x42u8; 1024];
        let mut n = 0u64;
        loop {
            let mut pb = [0u8; 64];
            let mut c = std::io::Cursor::new(&mut pb[..]);
            let _ = write!(c, "KEYS\x01w0-{n}\x02");
            let plen = c.position() as usize;
            let r = store.put(&Message {
                topic: "BenchTopic",
                queue_id: (n % 8) as i32,
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
            n += 1;
            if r.physical_offset + r.size >= mib << 20 {
                break;
            }
        }
        store.close()?;
        eprintln!("filled {mib} MiB with {n} messages");
    }
    if kind == "abnormal" {
        std::fs::write(dir.join("abort"), b"1")?;
    }
    let t = Instant::now();
    let (store, rep) = RocketMqStore::open(&dir, cfg())?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{kind} open: {secs:.3} s; {} records in {} file(s), valid end {}",
        rep.records_checked, rep.segments_checked, rep.valid_end
    );
    store.close()?;
    Ok(())
}
