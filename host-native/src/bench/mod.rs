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
    /// Run only the workloads whose names contain one of these substrings
    /// (empty: all). The machine limits are always measured. See
    /// [`Config::wants`].
    pub only: Vec<String>,
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

    /// Whether the workload named `workload` (e.g.
    /// `rocketmq/append/sync/1KiB/64w`) is selected: no `--only` given, or
    /// its name contains one of the substrings. A RocketMQ workload the peer
    /// also runs is selected too when a substring matches its ratio's name
    /// (`rocketmq/.../vs-peer`) and the peer is run, so `--only peer` or
    /// `--only vs-peer` runs every pair and prints every ratio.
    pub fn wants(&self, workload: &str) -> bool {
        let hit = |name: &str| self.only.iter().any(|s| name.contains(s.as_str()));
        if self.only.is_empty() || hit(workload) {
            return true;
        }
        self.peer.is_some()
            && peer::counterpart(workload).is_some()
            && hit(&format!("{workload}/vs-peer"))
    }

    /// Whether any of `workloads` is selected.
    pub fn wants_any(&self, workloads: &[&str]) -> bool {
        workloads.iter().any(|w| self.wants(w))
    }

    /// Whether the large store must be filled: one of the workloads on it
    /// is selected, or a substring names the fill (`fill`). An append
    /// substring alone (`append/async/1KiB/1w`) does not fill 1 GiB.
    pub(crate) fn wants_fill(&self, engine: &str, on_store: &[&str]) -> bool {
        let fill = format!("{engine}/append/async/1KiB/1w/fill");
        self.only.is_empty()
            || on_store.iter().any(|w| self.wants(w))
            || self
                .only
                .iter()
                .any(|s| s.contains("fill") && fill.contains(s.as_str()))
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
        peer::run(cfg, p, &scratch.0, &mut figs, progress)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(only: &[&str], peer: bool) -> Config {
        Config {
            quick: true,
            dir: PathBuf::from("unused"),
            peer: peer.then(|| PathBuf::from("peer-bin")),
            skip_dledger: false,
            only: only.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn only_selects_by_substring() {
        let all = cfg(&[], false);
        assert!(all.wants("rocketmq/scan/walk") && all.wants("dledger/get/by-index"));
        let c = cfg(&["append/sync/1KiB/64w", "get/by-key"], false);
        assert!(c.wants("rocketmq/append/sync/1KiB/64w"));
        assert!(c.wants("dledger/append/sync/1KiB/64w"));
        assert!(c.wants("rocketmq/get/by-key"));
        assert!(!c.wants("rocketmq/append/sync/1KiB/16w"));
        assert!(!c.wants("rocketmq/append/async/1KiB/1w"));
        assert!(c.wants_any(&["rocketmq/scan/walk", "rocketmq/get/by-key"]));
        assert!(!c.wants_any(&["rocketmq/scan/walk", "rocketmq/recovery/normal"]));
    }

    #[test]
    fn only_peer_selects_the_pairs_when_the_peer_runs() {
        let fill = "peer/append/async/1KiB/1w/fill".to_owned();
        let c = cfg(&["peer"], true);
        assert!(c.wants("rocketmq/append/sync/1KiB/64w"));
        assert!(c.wants("rocketmq/get/by-queue-offset"));
        // No peer counterpart, or no peer: not selected.
        assert!(!c.wants("rocketmq/scan/walk"));
        assert!(!c.wants("dledger/append/sync/1KiB/64w"));
        assert!(!cfg(&["peer"], false).wants("rocketmq/append/sync/1KiB/64w"));
        assert_eq!(peer::selected(&c).len(), 11);
        assert_eq!(
            peer::selected(&cfg(&["append/sync/1KiB/64w"], true)),
            ["peer/append/sync/1KiB/64w"]
        );
        // `rocketmq/...` substrings also name the ratios, so the peer's
        // counterparts run (`--no-peer` measures rocketlog alone).
        assert_eq!(
            peer::selected(&cfg(&["rocketmq/append/sync"], true)),
            [
                "peer/append/sync/1KiB/1w",
                "peer/append/sync/1KiB/16w",
                "peer/append/sync/1KiB/64w"
            ]
        );
        assert!(peer::selected(&cfg(&["rocketmq/scan", "dledger/"], true)).is_empty());
        // The peer fills its store for its reads only, as rocketlog does.
        assert!(!peer::selected(&cfg(&["rocketmq/append"], true)).contains(&fill));
        assert!(peer::selected(&cfg(&["get/by-key"], true)).contains(&fill));
        assert!(peer::selected(&cfg(&["1w/fill"], true)).contains(&fill));
        assert_eq!(peer::selected(&cfg(&[], true)).len(), 11);
    }

    #[test]
    fn the_large_store_is_filled_only_when_needed() {
        let on = ["rocketmq/get/by-key", "rocketmq/scan/walk"];
        assert!(cfg(&[], false).wants_fill("rocketmq", &on));
        assert!(!cfg(&["append/async/1KiB/1w"], false).wants_fill("rocketmq", &on));
        assert!(!cfg(&["rocketmq/append"], false).wants_fill("rocketmq", &on));
        assert!(cfg(&["get/by-key"], false).wants_fill("rocketmq", &on));
        assert!(cfg(&["fill"], false).wants_fill("rocketmq", &on));
        assert!(cfg(&["rocketmq/append/async/1KiB/1w/fill"], false).wants_fill("rocketmq", &on));
        assert!(!cfg(&["rocketmq/append/async/1KiB/1w/fill"], false).wants_fill("dledger", &on));
    }
}
