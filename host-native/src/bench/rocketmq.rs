//! RocketMQ-format workloads on [`RocketMqStore`], plus scan / verify / dump
//! over the closed store through the read-only CLI path.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use rocketlog_core::json;
use rocketlog_core::store::{LogId, PageRead};

use super::limits::{Limits, crc_rate};
use super::run::{self, Bound, Outcome};
use super::{Config, Figure, fresh};
use crate::embed::{FlushDiskType, Host, Message, PutResult, RocketMqConfig, RocketMqStore};
use crate::mmap::MmapStore;
use crate::resolve::resolve;
use crate::walk;

/// The workloads on the large (filled) store, in the order they run: reads,
/// scans, recoveries.
const ON_STORE: &[&str] = &[
    "rocketmq/get/by-commitlog-offset",
    "rocketmq/get/by-queue-offset",
    "rocketmq/get/by-key",
    "rocketmq/scan/walk",
    "rocketmq/scan/verify",
    "rocketmq/scan/dump-jsonl",
    "rocketmq/recovery/normal",
    "rocketmq/recovery/abnormal",
];

/// Queues the writers spread over.
const QUEUES: i32 = 8;
/// The topic of every workload.
pub(super) const TOPIC: &str = "BenchTopic";

fn store_cfg(flush: FlushDiskType) -> RocketMqConfig {
    RocketMqConfig {
        flush_disk_type: flush,
        // No clean thread: nothing expires during a run.
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    }
}

/// `KEYS` property with a unique key per (writer, n): every put is indexed.
fn props(buf: &mut [u8; 64], w: usize, n: u64) -> usize {
    let mut c = io::Cursor::new(&mut buf[..]);
    // 64 bytes hold the longest key ("KEYS\x01w{usize}-{u64}\x02" < 50 bytes).
    let _ = write!(c, "KEYS\x01w{w}-{n}\x02");
    c.position() as usize
}

fn put(store: &RocketMqStore, body: &[u8], w: usize, n: u64) -> anyhow::Result<Option<u64>> {
    Ok(Some(put_at(store, body, w, n)?.size))
}

/// Puts one message; returns where it went.
fn put_at(store: &RocketMqStore, body: &[u8], w: usize, n: u64) -> anyhow::Result<PutResult> {
    let mut pb = [0u8; 64];
    let plen = props(&mut pb, w, n);
    let r = store.put(&Message {
        topic: TOPIC,
        queue_id: ((w as u64 + n) % QUEUES as u64) as i32,
        flag: 0,
        body,
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
    Ok(r)
}

fn append_figure(name: String, o: &Outcome, writers: usize, rec_len: f64, lim: &Limits) -> Figure {
    let mut f = Figure::rate(name, o.ops_per_sec(), "msgs/s").rate_limit(
        lim.memcpy_warm / rec_len,
        "memcpy of the records into a warm mapping",
    );
    f.mb_s = Some(o.mb_per_sec());
    f.latency = Some(o.lat);
    f.writers = Some(writers);
    f
}

/// Group commit: the limit is one `fdatasync` per round of `writers` puts.
pub(super) fn sync_figure(
    name: String,
    o: &Outcome,
    writers: usize,
    lim: &Limits,
    syncs: u64,
) -> Figure {
    let lat = lim.fdatasync_median.as_secs_f64();
    let mut f = Figure::rate(name, o.ops_per_sec(), "msgs/s").rate_limit(
        writers as f64 / lat,
        format!("{writers} writers / median fdatasync latency"),
    );
    f.mb_s = Some(o.mb_per_sec());
    f.latency = Some(o.lat);
    f.writers = Some(writers);
    // The second bound: one park + wake per sync put, at the measured wake rate.
    f.note = format!(
        "{syncs} syncs, {:.1} msgs/sync; {:.2} of the wake rate",
        o.ops as f64 / syncs.max(1) as f64,
        o.ops_per_sec() / lim.wakes.per_sec.max(1.0)
    );
    f
}

/// Runs every RocketMQ workload, appending figures to `figs`.
pub(super) fn run(
    cfg: &Config,
    dir: &Path,
    lim: &Limits,
    figs: &mut Vec<Figure>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    // Appends on fresh stores: async and sync (group commit).
    run::append_matrix(cfg, "rocketmq", figs, progress, |c| {
        let flush = if c.sync {
            FlushDiskType::SyncFlush
        } else {
            FlushDiskType::AsyncFlush
        };
        let root = fresh(dir, if c.sync { "rmq-sync" } else { "rmq-async" })?;
        let (store, _) = RocketMqStore::open(&root, store_cfg(flush))?;
        let o = run::writers(c.writers, c.bound, |w, n| put(&store, c.body, w, n))?;
        let syncs = store.stats().flush.syncs;
        store.close()?;
        Ok(if c.sync {
            sync_figure(c.name.clone(), &o, c.writers, lim, syncs)
        } else {
            let rec = o.bytes as f64 / o.ops.max(1) as f64;
            append_figure(c.name.clone(), &o, c.writers, rec, lim)
        })
    })?;
    let kib = vec![0x42u8; 1024];

    // The large store: filled by one async writer, then read, scanned, recovered.
    if !cfg.wants_fill("rocketmq", ON_STORE) {
        return Ok(());
    }
    let target = cfg.store_bytes();
    progress(&format!(
        "rocketmq: fill a {} MiB store (async, 1 KiB, 1 writer)",
        target >> 20
    ));
    let root = fresh(dir, "rmq-store")?;
    let (store, _) = RocketMqStore::open(&root, store_cfg(FlushDiskType::AsyncFlush))?;
    let end = std::sync::atomic::AtomicU64::new(0);
    let o = run::writers(1, Bound::UntilDone, |w, n| {
        if end.load(std::sync::atomic::Ordering::Relaxed) >= target {
            return Ok(None);
        }
        let r = put_at(&store, &kib, w, n)?;
        end.store(
            r.physical_offset + r.size,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(Some(r.size))
    })?;
    let mut fill = append_figure(
        "rocketmq/append/async/1KiB/1w/fill".into(),
        &o,
        1,
        o.bytes as f64 / o.ops.max(1) as f64,
        lim,
    );
    fill.note = format!("{} MiB store", o.bytes >> 20);
    figs.push(fill);
    let msgs = o.ops;

    if cfg.wants_any(&ON_STORE[..3]) {
        progress("rocketmq: random reads");
        // Timed on a quiesced store: the fill leaves up to a GiB of dirty
        // pages whose writeback would otherwise share the cores with the reads.
        store.flush()?;
        reads(cfg, &store, msgs, lim, figs)?;
    }
    store.close()?;

    if cfg.wants_any(&ON_STORE[3..6]) {
        progress("rocketmq: scan / verify / dump over the closed store");
        scans(cfg, &root, figs)?;
    }

    if cfg.wants_any(&ON_STORE[6..]) {
        progress("rocketmq: recovery (normal, abnormal)");
    }
    for abnormal in [false, true] {
        let kind = if abnormal { "abnormal" } else { "normal" };
        let name = format!("rocketmq/recovery/{kind}");
        if !cfg.wants(&name) {
            continue;
        }
        if abnormal {
            // What a killed broker leaves: the abort marker.
            std::fs::write(root.join("abort"), b"1")?;
        }
        let t = Instant::now();
        let (store, rep) = RocketMqStore::open(&root, store_cfg(FlushDiskType::AsyncFlush))?;
        let secs = t.elapsed().as_secs_f64();
        // The bytes recovery checked: the last `segments_checked` files up to the valid end.
        let segs = store_segments(&root)?;
        let checked: u64 = segs
            .iter()
            .rev()
            .take(rep.segments_checked)
            .map(|&(id, len)| len.min(rep.valid_end.saturating_sub(id)))
            .sum();
        store.close()?;
        let crc_secs = checked as f64 / lim.crc32;
        let mut f = Figure::rate(name, secs, "s")
            .time_limit(crc_secs, "crc32fast over the bytes recovery checked");
        f.note = format!(
            "{} MiB checked in {} file(s), {} records",
            checked >> 20,
            rep.segments_checked,
            rep.records_checked
        );
        figs.push(f);
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

fn store_segments(root: &Path) -> anyhow::Result<Vec<(u64, u64)>> {
    let r = resolve(root)?;
    let s = MmapStore::new(r.paths);
    Ok(s.segments(&LogId::CommitLog)?
        .iter()
        .map(|x| (x.id, x.len))
        .collect())
}

/// A small deterministic generator for the random reads.
pub(super) struct Rng(pub u64);

impl Rng {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// The p99 read latency limit: copying one record out of a warm mapping.
pub(super) fn read_figure(name: &str, o: &Outcome, rec_len: f64, lim: &Limits) -> Figure {
    let p99_us = o.lat.p99.as_secs_f64() * 1e6;
    let mut f = Figure::rate(name, p99_us, "µs p99").time_limit(
        rec_len / lim.memcpy_warm * 1e6,
        "memcpy of one record from a warm mapping",
    );
    f.latency = Some(o.lat);
    f.note = format!("{:.0} reads/s on 1 thread", o.ops_per_sec());
    f
}

fn reads(
    cfg: &Config,
    store: &RocketMqStore,
    msgs: u64,
    lim: &Limits,
    figs: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let per_queue = msgs / QUEUES as u64;
    let n = cfg.reads() as u64;
    // Commitlog offsets to read, found through the queues beforehand.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut offsets = Vec::with_capacity(n as usize);
    for _ in 0..n.min(20_000) {
        let q = rng.below(QUEUES as u64) as i32;
        if let Some(m) = store
            .consume(TOPIC, q, rng.below(per_queue) as i64, 1)?
            .first()
        {
            offsets.push(m.offset);
        }
    }
    anyhow::ensure!(!offsets.is_empty(), "the bench store has no messages");
    let rec_len = 1024.0 + 120.0;
    if cfg.wants(ON_STORE[0]) {
        let o = run::writers(1, Bound::Count(n), |_, i| {
            let off = offsets[(i as usize * 7919) % offsets.len()];
            Ok(Some(store.get(off)?.bytes.len() as u64))
        })?;
        figs.push(read_figure(ON_STORE[0], &o, rec_len, lim));
    }

    let rng = std::sync::Mutex::new(Rng(7));
    if cfg.wants(ON_STORE[1]) {
        let o = run::writers(1, Bound::Count(n), |_, _| {
            let (q, qo) = {
                let mut r = rng
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (r.below(QUEUES as u64) as i32, r.below(per_queue) as i64)
            };
            let got = store.consume(TOPIC, q, qo, 1)?;
            anyhow::ensure!(got.len() == 1, "queue {q} offset {qo}: no message");
            Ok(Some(got[0].bytes.len() as u64))
        })?;
        figs.push(read_figure(ON_STORE[1], &o, rec_len, lim));
    }

    if cfg.wants(ON_STORE[2]) {
        let o = run::writers(1, Bound::Count(n / 10), |_, _| {
            let k = {
                let mut r = rng
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                r.below(msgs)
            };
            let got = store.find_by_key(TOPIC, &format!("w0-{k}"))?;
            anyhow::ensure!(got.len() == 1, "key w0-{k}: {} messages", got.len());
            Ok(Some(got[0].bytes.len() as u64))
        })?;
        figs.push(read_figure(ON_STORE[2], &o, rec_len, lim));
    }
    Ok(())
}

fn scans(cfg: &Config, root: &Path, figs: &mut Vec<Figure>) -> anyhow::Result<()> {
    let r = resolve(root)?;
    let store = MmapStore::new(r.paths.clone());
    // The same bytes for the limit: every commitlog byte up to the end.
    let mut probe = walk::WalkReport::default();
    let mut secs_best = |f: &mut dyn FnMut() -> walk::WalkReport| {
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let t = Instant::now();
            probe = f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    };
    let t_scan =
        secs_best(&mut || walk::messages(&store, &r, &mut |_, _| ControlFlow::Continue(())));
    let end = probe.end;
    let mut crc_time = 0.0;
    let mut bytes = 0u64;
    for s in store.segments(&LogId::CommitLog)? {
        let v = store.segment_bytes(&LogId::CommitLog, s.id)?;
        let n = usize::try_from(s.len.min(end.saturating_sub(s.id)))?.min(v.len());
        if n > 0 {
            crc_time += n as f64 / crc_rate(&v[..n]);
            bytes += n as u64;
        }
    }
    let gb = |t: f64| bytes as f64 / t / 1e9;
    let crc_gbs = bytes as f64 / crc_time / 1e9;
    let push = |figs: &mut Vec<Figure>, name: &str, t: f64| {
        let mut f =
            Figure::rate(name, gb(t), "GB/s").rate_limit(crc_gbs, "crc32fast over the same bytes");
        f.mb_s = Some(gb(t) * 1e3);
        f.note = format!("{} MiB", bytes >> 20);
        figs.push(f);
    };
    if cfg.wants(ON_STORE[3]) {
        push(figs, ON_STORE[3], t_scan);
    }

    if cfg.wants(ON_STORE[4]) {
        verify(&store, &r, figs, &push)?;
    }
    if cfg.wants(ON_STORE[5]) {
        dump(&store, &r, figs, &push)?;
    }
    Ok(())
}

/// `verify` over the closed store, best of 2.
fn verify(
    store: &MmapStore,
    r: &crate::resolve::Resolved,
    figs: &mut Vec<Figure>,
    push: &dyn Fn(&mut Vec<Figure>, &str, f64),
) -> anyhow::Result<()> {
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let t = Instant::now();
        let p = walk::verify(store, r);
        best = best.min(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            p.iter()
                .all(|p| p.severity < rocketlog_core::scan::Severity::Warning),
            "verify found problems in the bench store: {:?}",
            p.first()
        );
    }
    push(figs, ON_STORE[4], best);
    Ok(())
}

/// `dump --format jsonl` into /dev/null, best of 2.
fn dump(
    store: &MmapStore,
    r: &crate::resolve::Resolved,
    figs: &mut Vec<Figure>,
    push: &dyn Fn(&mut Vec<Figure>, &str, f64),
) -> anyhow::Result<()> {
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let sink: Box<dyn Write> = match OpenOptions::new().write(true).open("/dev/null") {
            Ok(f) => Box::new(f),
            Err(_) => Box::new(io::sink()),
        };
        let mut w = BufWriter::with_capacity(1 << 16, sink);
        let mut line = String::new();
        let mut failed = None;
        let t = Instant::now();
        walk::messages(store, r, &mut |at, m| {
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
        });
        w.flush()?;
        best = best.min(t.elapsed().as_secs_f64());
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    push(figs, ON_STORE[5], best);
    Ok(())
}
