//! The writer harness: N threads calling one operation, bounded by a count
//! or a deadline, each operation timed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::stats::{Latencies, Percentiles};

/// How long a run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// This many operations per writer.
    Count(u64),
    /// Until the deadline (every writer stops at its next operation).
    For(Duration),
    /// Until the operation reports that it is done (returns `Ok(None)`).
    UntilDone,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Operations completed.
    pub ops: u64,
    /// Bytes the operations reported.
    pub bytes: u64,
    /// Wall time of the whole run.
    pub secs: f64,
    /// Latency percentiles over every operation of every writer.
    pub lat: Percentiles,
}

impl Outcome {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    /// MB/s (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
}

/// Runs `op(writer, n)` on `writers` threads; `op` returns the bytes it wrote
/// (or `None` to stop that writer under [`Bound::UntilDone`]).
pub fn writers<F>(writers: usize, bound: Bound, op: F) -> anyhow::Result<Outcome>
where
    F: Fn(usize, u64) -> anyhow::Result<Option<u64>> + Sync,
{
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let results: Vec<anyhow::Result<(u64, u64, Latencies)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (op, stop) = (&op, &stop);
                s.spawn(move || -> anyhow::Result<(u64, u64, Latencies)> {
                    let cap = match bound {
                        Bound::Count(n) => n as usize,
                        _ => 1 << 16,
                    };
                    let mut lat = Latencies::with_capacity(cap);
                    let (mut n, mut bytes) = (0u64, 0u64);
                    loop {
                        match bound {
                            Bound::Count(c) if n >= c => break,
                            Bound::For(d) if start.elapsed() >= d => break,
                            _ if stop.load(Ordering::Relaxed) => break,
                            _ => {}
                        }
                        let t = Instant::now();
                        let r = op(w, n);
                        let el = t.elapsed();
                        match r {
                            Ok(Some(b)) => bytes += b,
                            Ok(None) => break,
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                        lat.push(el);
                        n += 1;
                    }
                    Ok((n, bytes, lat))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a bench writer panicked")))
            })
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let (mut ops, mut bytes, mut all) = (0, 0, Latencies::default());
    for r in results {
        let (n, b, l) = r?;
        ops += n;
        bytes += b;
        all.merge(l);
    }
    Ok(Outcome {
        ops,
        bytes,
        secs,
        lat: all.percentiles(),
    })
}

/// One cell of an engine's append matrix.
#[derive(Debug)]
pub(super) struct AppendCell<'a> {
    /// Workload name, e.g. `dledger/append/sync/1KiB/16w`.
    pub name: String,
    /// The body every append writes.
    pub body: &'a [u8],
    /// Concurrent writers.
    pub writers: usize,
    /// `SYNC_FLUSH` (group commit) rather than async flush.
    pub sync: bool,
    /// How long the writers run: a count for async cells, a time for sync ones.
    pub bound: Bound,
}

/// The append matrix every engine runs: async 1 KiB / 100 B bodies with 1 and
/// 4 writers, then sync 1 KiB bodies with 1, 16 and 64 writers. `cell` runs
/// one selected cell on a fresh store and returns its figure.
pub(super) fn append_matrix(
    cfg: &super::Config,
    engine: &str,
    figs: &mut Vec<super::Figure>,
    progress: &mut dyn FnMut(&str),
    mut cell: impl FnMut(&AppendCell<'_>) -> anyhow::Result<super::Figure>,
) -> anyhow::Result<()> {
    let kib = vec![0x42u8; 1024];
    let small = vec![0x42u8; 100];
    let mut cells = Vec::new();
    for (body, label) in [(&kib, "1KiB"), (&small, "100B")] {
        for writers in [1usize, 4] {
            let per = cfg.async_msgs() / writers as u64;
            cells.push((body, label, writers, false, Bound::Count(per)));
        }
    }
    for writers in [1usize, 16, 64] {
        cells.push((&kib, "1KiB", writers, true, Bound::For(cfg.sync_run())));
    }
    for (body, label, writers, sync, bound) in cells {
        let mode = if sync { "sync" } else { "async" };
        let name = format!("{engine}/append/{mode}/{label}/{writers}w");
        if !cfg.wants(&name) {
            continue;
        }
        progress(&format!(
            "{engine}: append {mode} {label} {writers} writer(s)"
        ));
        figs.push(cell(&AppendCell {
            name,
            body,
            writers,
            sync,
            bound,
        })?);
    }
    Ok(())
}
