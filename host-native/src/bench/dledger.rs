//! The same append, read and recovery workloads on [`DLedgerStore`].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::limits::Limits;
use super::rocketmq::{Rng, read_figure, sync_figure};
use super::run::{self, Bound, Outcome};
use super::{Config, Figure, fresh};
use crate::embed::{DLedgerStore, DLedgerStoreConfig};

fn store_cfg(root: &Path, sync: bool) -> DLedgerStoreConfig {
    DLedgerStoreConfig {
        sync_flush: sync,
        // No clean thread: nothing expires during a run.
        clean_interval: 0,
        ..DLedgerStoreConfig::new(root, "n0")
    }
}

fn append(store: &DLedgerStore, body: &[u8]) -> anyhow::Result<Option<u64>> {
    Ok(Some(u64::from(store.append(body)?.size)))
}

fn append_figure(name: String, o: &Outcome, writers: usize, lim: &Limits) -> Figure {
    let rec = o.bytes as f64 / o.ops.max(1) as f64;
    let mut f = Figure::rate(name, o.ops_per_sec(), "msgs/s").rate_limit(
        lim.memcpy_warm / rec,
        "memcpy of the entries into a warm mapping",
    );
    f.mb_s = Some(o.mb_per_sec());
    f.latency = Some(o.lat);
    f.writers = Some(writers);
    f
}

/// Runs every DLedger workload, appending figures to `figs`.
pub(super) fn run(
    cfg: &Config,
    dir: &Path,
    lim: &Limits,
    figs: &mut Vec<Figure>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    run::append_matrix(cfg, "dledger", figs, progress, |c| {
        let root = fresh(dir, if c.sync { "dl-sync" } else { "dl-async" })?;
        let (store, _) = DLedgerStore::open(store_cfg(&root, c.sync))?;
        let o = run::writers(c.writers, c.bound, |_, _| append(&store, c.body))?;
        let syncs = store.stats().flush.syncs;
        store.close()?;
        Ok(if c.sync {
            sync_figure(c.name.clone(), &o, c.writers, lim, syncs)
        } else {
            append_figure(c.name.clone(), &o, c.writers, lim)
        })
    })?;
    let kib = vec![0x42u8; 1024];

    let on_store = ["dledger/get/by-index", "dledger/recovery/reopen"];
    if !cfg.wants_fill("dledger", &on_store) {
        return Ok(());
    }
    let target = cfg.store_bytes();
    progress(&format!("dledger: fill a {} MiB store", target >> 20));
    let root = fresh(dir, "dl-store")?;
    let (store, _) = DLedgerStore::open(store_cfg(&root, false))?;
    let end = AtomicU64::new(0);
    let o = run::writers(1, Bound::UntilDone, |_, _| {
        if end.load(Ordering::Relaxed) >= target {
            return Ok(None);
        }
        let a = store.append(&kib)?;
        end.store(a.pos + u64::from(a.size), Ordering::Relaxed);
        Ok(Some(u64::from(a.size)))
    })?;
    let mut fill = append_figure("dledger/append/async/1KiB/1w/fill".into(), &o, 1, lim);
    fill.note = format!("{} MiB store", o.bytes >> 20);
    figs.push(fill);
    let entries = o.ops;

    if cfg.wants(on_store[0]) {
        progress("dledger: random reads by index");
        // Timed on a quiesced store: the fill leaves up to a GiB of dirty
        // pages whose writeback would otherwise share the cores with the reads.
        store.flush()?;
        let mut rng = Rng(0x5EED);
        let idx: Vec<i64> = (0..20_000).map(|_| rng.below(entries) as i64).collect();
        let o = run::writers(1, Bound::Count(cfg.reads() as u64), |_, i| {
            let b = store.get(idx[i as usize % idx.len()])?;
            Ok(Some(b.len() as u64))
        })?;
        figs.push(read_figure(on_store[0], &o, 1024.0 + 48.0, lim));
    }
    store.close()?;

    if !cfg.wants(on_store[1]) {
        std::fs::remove_dir_all(&root)?;
        return Ok(());
    }
    progress("dledger: recovery");
    let t = Instant::now();
    let (store, rep) = DLedgerStore::open(store_cfg(&root, false))?;
    let secs = t.elapsed().as_secs_f64();
    store.close()?;
    let checked = rep.valid_end.saturating_sub(rep.scan_start);
    let mut f = Figure::rate(on_store[1], secs, "s").time_limit(
        checked as f64 / lim.crc32,
        "crc32fast over the bytes recovery checked",
    );
    f.note = format!(
        "{} MiB checked, {} entries, {} body CRCs",
        checked >> 20,
        rep.entries,
        rep.crcs_checked
    );
    figs.push(f);
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
