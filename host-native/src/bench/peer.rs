//! The peer: `bench/peer` (the published `rocketmq-store` crate) runs the same
//! append and read workloads in its own process and prints JSON lines
//! (`{"workload": "peer/...", "value": .., "unit": "msgs/s" | "µs p99", ...}`).
//! Each peer figure is listed, followed by the rocketlog / peer ratio of the
//! rocketlog figure of the same workload.

use std::path::Path;
use std::process::Command;

use super::{Config, Figure, Percentiles};

fn dur_us(v: &serde_json::Value, k: &str) -> std::time::Duration {
    std::time::Duration::from_secs_f64(
        v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0) / 1e6,
    )
}

/// Runs the peer binary and adds its figures and the ratios to `figs`.
pub(super) fn run(
    cfg: &Config,
    bin: &Path,
    dir: &Path,
    figs: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let scratch = super::fresh(dir, "peer")?;
    let mut cmd = Command::new(bin);
    cmd.arg("--dir").arg(&scratch);
    if cfg.quick {
        cmd.arg("--quick");
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
