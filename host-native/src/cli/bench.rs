//! `rocketlog bench`: the whole-system workloads of [`crate::bench`] on a
//! temporary store, each beside the limit that bounds it.
//!
//! `rocketlog bench-read PATH` (hidden): read throughput of `dump --format
//! jsonl` to /dev/null, of `verify`, and of crc32fast over the same mapped
//! bytes, in one run so the numbers are comparable. Measurements only; nothing
//! here is asserted anywhere.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use rocketlog_core::json;
use rocketlog_core::store::PageRead;

use super::dump::main_log;
use super::{Ctx, exit, open};
use crate::resolve::StoreKind;
use crate::walk;

/// Output format of `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchFormat {
    /// Aligned columns.
    Table,
    /// One JSON object per workload per line.
    Json,
}

/// `bench` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Small sizes (a 1 GiB store, short runs): for CI-like runs.
    #[arg(long)]
    quick: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BenchFormat::Table)]
    format: BenchFormat,
    /// Scratch directory on the disk to measure (created, removed afterwards).
    /// Default: a new directory under the system temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The peer binary; default `bench/peer/target/release/rocketlog-bench-peer`
    /// under the current directory, if it exists.
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Do not run the peer even if it is built.
    #[arg(long)]
    no_peer: bool,
    /// Skip the DLedger workloads.
    #[arg(long)]
    skip_dledger: bool,
    /// Run only the workloads whose names contain SUBSTR (repeatable: any
    /// of them), e.g. `--only rocketmq/append/sync/1KiB/64w`,
    /// `--only get/by-key`, `--only peer` (the peer's workloads, rocketlog's
    /// counterparts and the `vs-peer` ratios). A workload the peer also runs
    /// is selected on both sides when SUBSTR is in either name or in the
    /// ratio's (`rocketmq/.../vs-peer`; add `--no-peer` for rocketlog alone).
    /// The machine limits are always measured; the large store is filled only
    /// for the reads, scans and recoveries on it (or when SUBSTR names the
    /// `fill`).
    #[arg(long, value_name = "SUBSTR")]
    only: Vec<String>,
    /// Also write the sync-flush chart (SVG) here.
    #[arg(long)]
    svg: Option<PathBuf>,
}

pub(crate) fn run_bench(ctx: &mut Ctx<'_>, a: &BenchArgs) -> anyhow::Result<i32> {
    let dir = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("rocketlog-bench-{}", std::process::id()))
    });
    anyhow::ensure!(
        !dir.exists() || dir.read_dir()?.next().is_none(),
        "{}: the scratch directory must be new or empty (it is removed afterwards)",
        dir.display()
    );
    let default_peer = PathBuf::from("bench/peer/target/release/rocketlog-bench-peer");
    let peer = match (&a.peer, a.no_peer) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        (None, false) => default_peer.is_file().then_some(default_peer),
    };
    let cfg = crate::bench::Config {
        quick: a.quick,
        dir,
        peer,
        skip_dledger: a.skip_dledger,
        only: a.only.clone(),
    };
    let err = &mut *ctx.err;
    let figs = crate::bench::run(&cfg, &mut |step| {
        let _ = writeln!(err, "rocketlog bench: {step}");
    })?;
    let text = match a.format {
        BenchFormat::Table => crate::bench::table(&figs),
        BenchFormat::Json => crate::bench::json_lines(&figs),
    };
    ctx.out.write_all(text.as_bytes())?;
    if let Some(p) = &a.svg {
        std::fs::write(p, crate::bench::svg_sync_chart(&figs))?;
    }
    Ok(exit::OK)
}

/// `bench-read` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Any PATH form `dump` accepts.
    path: PathBuf,
    /// Repetitions of each measurement (the best is reported).
    #[arg(long, default_value_t = 3)]
    runs: u32,
}

fn best(runs: u32, mut f: impl FnMut() -> anyhow::Result<u64>) -> anyhow::Result<(f64, u64)> {
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        n = f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok((best, n))
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let o = open(&a.path)?;
    let log = main_log(&o);
    let segs = o.store.segments(&log)?;
    let file_bytes: u64 = segs.iter().map(|s| s.len).sum();

    // crc32fast over every mapped byte of the main log (also warms the page cache).
    let crc = |_: ()| -> anyhow::Result<u64> {
        let mut h = crc32fast::Hasher::new();
        for s in &segs {
            let v = o.store.segment_bytes(&log, s.id)?;
            h.update(&v);
        }
        Ok(u64::from(h.finalize()))
    };
    crc(())?;
    let (t_crc, _) = best(a.runs, || crc(()))?;

    // dump --format jsonl into /dev/null (io::sink if it cannot be opened).
    let (t_dump, walked) = best(a.runs, || {
        let sink: Box<dyn Write> = match OpenOptions::new().write(true).open("/dev/null") {
            Ok(f) => Box::new(f),
            Err(_) => Box::new(io::sink()),
        };
        let mut w = BufWriter::with_capacity(1 << 16, sink);
        let mut line = String::new();
        let mut failed = None;
        let rep = if o.resolved.kind == StoreKind::DLedger {
            walk::entries(&o.store, &o.resolved, &mut |e| {
                line.clear();
                json::push_entry(&mut line, e);
                line.push('\n');
                match w.write_all(line.as_bytes()) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        failed = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })
        } else {
            walk::messages(&o.store, &o.resolved, &mut |at, m| {
                line.clear();
                json::push_message(&mut line, m, at);
                line.push('\n');
                match w.write_all(line.as_bytes()) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        failed = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })
        };
        if let Some(e) = failed {
            return Err(e.into());
        }
        w.flush()?;
        let first = segs.first().map_or(0, |s| s.id);
        Ok(rep.end.saturating_sub(first))
    })?;

    let (t_verify, nproblems) = best(a.runs, || {
        Ok(walk::verify(&o.store, &o.resolved).len() as u64)
    })?;

    let gbs = |bytes: u64, t: f64| bytes as f64 / t / 1e9;
    writeln!(
        ctx.out,
        "store: {} ({} store), main log {} files, {} bytes; walked {} bytes",
        o.resolved.path.display(),
        o.resolved.kind.name(),
        segs.len(),
        file_bytes,
        walked
    )?;
    writeln!(
        ctx.out,
        "crc32fast over mapped files: {:>8.3} s  {:>7.2} GB/s (of file bytes)",
        t_crc,
        gbs(file_bytes, t_crc)
    )?;
    writeln!(
        ctx.out,
        "dump --format jsonl > null: {:>8.3} s  {:>7.2} GB/s (of walked bytes)",
        t_dump,
        gbs(walked, t_dump)
    )?;
    writeln!(
        ctx.out,
        "verify:                     {:>8.3} s  {:>7.2} GB/s (of walked bytes; {} problems)",
        t_verify,
        gbs(walked, t_verify),
        nproblems
    )?;
    Ok(exit::OK)
}
