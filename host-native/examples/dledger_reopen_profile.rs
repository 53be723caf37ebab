//! A repeatable driver of DLedger store recovery, for a wall-clock look or
//! `valgrind --tool=callgrind`: fills a DLedger store at DIR (1 KiB bodies,
//! async flush, the configuration of `put_profile dledger`) if it does not
//! exist yet, then opens it again and prints the open's time and report.
//!
//! ```text
//! cargo build --release -p rocketlog --example dledger_reopen_profile
//! target/release/examples/dledger_reopen_profile DIR [MiB]
//! ```
//!
//! Recovery checks the entries on every core; `ROCKETLOG_SCAN_THREADS=1`
//! runs it on one thread, to compare.

use std::time::Instant;

use rocketlog::embed::{DLedgerStore, DLedgerStoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: dledger_reopen_profile DIR [MiB]")?,
    );
    let mib: u64 = args.next().map_or(Ok(96), |s| s.parse())?;
    let cfg = || DLedgerStoreConfig {
        sync_flush: false,
        clean_interval: 0,
        ..DLedgerStoreConfig::new(&dir, "n0")
    };
    if !dir.exists() {
        let (store, _) = DLedgerStore::open(cfg())?;
        let body = vec![0x42u8; 1024];
        let mut n = 0u64;
        loop {
            let a = store.append(&body)?;
            n += 1;
            if a.pos + u64::from(a.size) >= mib << 20 {
                break;
            }
        }
        store.close()?;
        eprintln!("filled {mib} MiB with {n} entries");
    }
    let t = Instant::now();
    let (store, rep) = DLedgerStore::open(cfg())?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!("open: {secs:.3} s; {rep}");
    store.close()?;
    Ok(())
}
