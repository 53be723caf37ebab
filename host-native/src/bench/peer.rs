//! The peer: `bench/peer` (the published `rocketmq-store` crate) runs the same
//! append and read workloads in its own process and prints JSON lines
//! (`{"workload": "peer/...", "value": .., "unit": "msgs/s" | "µs p99", ...}`).
//! Each peer figure is listed, followed by the rocketlog / peer ratio of the
//! rocketlog figure of the same workload. The peer is given the same sizes
//! (messages, reads, sync run length, store size) and the selected workloads.

use std::path::Path;
use std::process::Command;

use super::{Config, Figure, Percentiles};

fn dur_us(v: &serde_json::Value, k: &str) -> std::time::Duration {
    std::time::Duration::from_secs_f64(
        v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0) / 1e6,
    )
}

/// The fill of the store the reads run on.
const FILL: &str = "append/async/1KiB/1w/fill";

/// The workloads the peer runs, named after `peer/`; rocketlog's figure of
/// the same workload is `rocketmq/` and the same rest.
const WORKLOADS: &[&str] = &[
    "append/async/1KiB/1w",
    "append/async/1KiB/4w",
    "append/async/100B/1w",
    "append/async/100B/4w",
    "append/sync/1KiB/1w",
    "append/sync/1KiB/16w",
    "append/sync/1KiB/64w",
    FILL,
    "get/by-commitlog-offset",
    "get/by-queue-offset",
    "get/by-key",
];

/// The peer workload (`peer/...`) a rocketlog workload is compared with.
pub(super) fn counterpart(workload: &str) -> Option<String> {
    let rest = workload.strip_prefix("rocketmq/")?;
    WORKLOADS.contains(&rest).then(|| format!("peer/{rest}"))
}

/// The peer workloads `cfg` selects: those whose own name, or whose ratio's
/// name (`rocketmq/.../vs-peer`), contains one of the `--only` substrings.
/// Its fill, as rocketlog's (`Config::wants_fill`), only when a read on the
/// filled store is selected or a substring names the fill (`fill`).
pub(super) fn selected(cfg: &Config) -> Vec<String> {
    let hit = |rest: &str| {
        cfg.only.iter().any(|s| {
            format!("peer/{rest}").contains(s.as_str())
                || format!("rocketmq/{rest}/vs-peer").contains(s.as_str())
        })
    };
    let mut out: Vec<String> = WORKLOADS
        .iter()
        .filter(|rest| **rest != FILL && (cfg.only.is_empty() || hit(rest)))
        .map(|rest| format!("peer/{rest}"))
        .collect();
    let reads = out.iter().any(|w| w.starts_with("peer/get/"));
    let named = cfg.only.iter().any(|s| s.contains("fill") && hit(FILL));
    if cfg.only.is_empty() || reads || named {
        out.push(format!("peer/{FILL}"));
    }
    out
}

/// Runs the peer binary (if any of its workloads is selected) and adds its
/// figures and the ratios to `figs`.
pub(super) fn run(
    cfg: &Config,
    bin: &Path,
    dir: &Path,
    figs: &mut Vec<Figure>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let wanted = selected(cfg);
    if wanted.is_empty() {
        return Ok(());
    }
    progress(&format!("peer: rocketmq-store ({})", bin.display()));
    let scratch = super::fresh(dir, "peer")?;
    let mut cmd = Command::new(bin);
    cmd.arg("--dir").arg(&scratch);
    cmd.arg("--msgs").arg(cfg.async_msgs().to_string());
    cmd.arg("--reads").arg(cfg.reads().to_string());
    cmd.arg("--sync-ms")
        .arg(cfg.sync_run().as_millis().to_string());
    cmd.arg("--fill-bytes").arg(cfg.store_bytes().to_string());
    if !cfg.only.is_empty() {
        for w in &wanted {
            cmd.arg("--only").arg(w);
        }
    }
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed ({}): {}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut peer = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(w), Some(value)) = (
            v.get("workload").and_then(serde_json::Value::as_str),
            v.get("value").and_then(serde_json::Value::as_f64),
        ) else {
            continue;
        };
        let unit = match v.get("unit").and_then(serde_json::Value::as_str) {
            Some("msgs/s") => "msgs/s",
            Some("µs p99") => "µs p99",
            _ => "",
        };
        let mut f = Figure::rate(w, value, unit);
        f.mb_s = v.get("mb_s").and_then(serde_json::Value::as_f64);
        f.latency = Some(Percentiles {
            p50: dur_us(&v, "p50_us"),
            p99: dur_us(&v, "p99_us"),
            p999: dur_us(&v, "p999_us"),
        });
        f.writers = v
            .get("writers")
            .and_then(serde_json::Value::as_u64)
            .map(|n| n as usize);
        f.note = v
            .get("note")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned();
        peer.push(f);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    for p in peer {
        let ours_name = p.workload.replacen("peer/", "rocketmq/", 1);
        let ours = figs.iter().find(|f| f.workload == ours_name).cloned();
        figs.push(p.clone());
        if let Some(o) = ours
            && p.value > 0.0
            && o.value > 0.0
        {
            // Higher is better for rates, lower for latencies: the ratio is
            // always "how many times better rocketlog is".
            let x = if p.unit == "msgs/s" {
                o.value / p.value
            } else {
                p.value / o.value
            };
            let mut f = Figure::rate(format!("{ours_name}/vs-peer"), x, "×");
            f.note = format!("rocketlog {:.3} vs peer {:.3} {}", o.value, p.value, p.unit);
            figs.push(f);
        }
    }
    Ok(())
}
