//! `rocketlog bench`: whole-system measurements on a temporary store, each
//! beside the machine limit that bounds it, measured in the same process.
//!
//! * [`limits`]: memcpy into a fresh and a warm mapping, crc32fast, fdatasync.
//! * [`rocketmq`]: appends (async 1 and 4 writers, 1 KiB and 100 B bodies;
//!   sync group commit with 1, 16, 64 writers), reads by commitlog offset,
//!   consume-queue offset and key, scan / verify / dump over the closed store,
//!   normal and abnormal recovery.
//! * [`dledger`]: the same for the DLedger engine (reads by raft index).
//! * [`peer`]: the `bench/peer` binary (the published `rocketmq-store`), when built.
//!
//! Every figure carries a `ratio`: the fraction of its limit reached (value /
//! limit for rates, limit / value for times), so 1.0 means "at the machine's
//! limit". Measurements only: nothing here is asserted by tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod dledger;
mod limits;
mod peer;
mod report;
mod rocketmq;
mod run;
mod stats;

pub use limits::Limits;
pub use report::{json_lines, svg_sync_chart, table};
pub use stats::{Latencies, Percentiles};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Small sizes for CI-like runs (a 1 GiB store instead of 4 GiB, shorter runs).
    pub quick: bool,
    /// Scratch directory (created, and removed afterwards) on the disk to measure.
    pub dir: PathBuf,
    /// The peer binary (`bench/peer/target/release/rocketlog-bench-peer`), if any.
    pub peer: Option<PathBuf>,
    /// Skip the DLedger workloads.
    pub skip_dledger: bool,
}

impl Config {
    /// Bytes of the store that scan and recovery run over.
    pub fn store_bytes(&self) -> u64 {
        if self.quick { 1 << 30 } else { 4 << 30 }
    }

    /// How long each duration-bounded (sync) run lasts.
    pub fn sync_run(&self) -> Duration {
        if self.quick {
            Duration::from_millis(1500)
        } else {
            Duration::from_secs(4)
        }
    }

    /// Messages per count-bounded (async) run besides the fill.
    pub fn async_msgs(&self) -> u64 {
        if self.quick { 300_000 } else { 1_000_000 }
    }

    /// Random reads per read workload.
    pub fn reads(&self) -> usize {
        if self.quick { 100_000 } else { 500_000 }
    }
}

/// One measured figure.
#[derive(Debug, Clone, Default)]
pub struct Figure {
    /// Workload name, e.g. `rocketmq/append/async/1KiB/1w`.
    pub workload: String,
    /// The figure.
    pub value: f64,
    /// Its unit (`msgs/s`, `GB/s`, `s`, `µs`).
    pub unit: &'static str,
    /// The limit in the same unit, if one applies.
    pub limit: Option<f64>,
    /// What the limit is.
    pub limit_name: String,
    /// Fraction of the limit reached (higher is better; 1.0 = at the limit).
    pub ratio: Option<f64>,
    /// Throughput in MB/s (appends and scans).
    pub mb_s: Option<f64>,
    /// Per-operation latencies.
    pub latency: Option<Percentiles>,
    /// Writers (appends).
    pub writers: Option<usize>,
    /// Anything else (syncs per run, bytes scanned).
    pub note: String,
}

impl Figure {
    /// A rate (higher is better) beside its limit.
    pub fn rate(workload: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self {
            workload: workload.into(),
            value,
            unit,
            ..Self::default()
        }
    }

    /// Sets a rate limit: ratio = value / limit.
    pub fn rate_limit(mut self, limit: f64, name: impl Into<String>) -> Self {
        self.limit = Some(limit);
        self.limit_name = name.into();
        self.ratio = (limit > 0.0).then(|| self.value / limit);
        self
    }

    /// Sets a time limit: ratio = limit / value.
    pub fn time_limit(mut self, limit: f64, name: impl Into<String>) -> Self {
        self.limit = Some(limit);
        self.limit_name = name.into();
        self.ratio = (self.value > 0.0).then(|| limit / self.value);
        self
    }
}

/// Runs every workload; `progress` gets a line before each step.
pub fn run(cfg: &Config, progress: &mut dyn FnMut(&str)) -> anyhow::Result<Vec<Figure>> {
    std::fs::create_dir_all(&cfg.dir)?;
    let scratch = Scratch(cfg.dir.clone());
    let mut figs = Vec::new();
    progress("limits: memcpy, crc32fast, fdatasync");
    let lim = limits::measure(&scratch.0, 256 << 20, if cfg.quick { 200 } else { 500 })?;
    figs.extend(report::limit_figures(&lim));
    rocketmq::run(cfg, &scratch.0, &lim, &mut figs, progress)?;
    if !cfg.skip_dledger {
        dledger::run(cfg, &scratch.0, &lim, &mut figs, progress)?;
    }
    if let Some(p) = &cfg.peer {
        progress("peer: rocketmq-store");
        peer::run(cfg, p, &scratch.0, &mut figs)?;
    }
    drop(scratch);
    Ok(figs)
}

/// The scratch directory, removed when dropped (also on error).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty subdirectory of the scratch directory.
fn fresh(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(name);
    if p.exists() {
        std::fs::remove_dir_all(&p)?;
    }
    std::fs::create_dir_all(&p)?;
    Ok(p)
}
