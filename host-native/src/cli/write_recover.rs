//! `rocketlog recover`: runs the engine's recovery and prints its report.
//!
//! Without `--dry-run` the store is opened for writing (taking its `lock`),
//! repaired as the engine's recovery decides, and closed cleanly. With
//! `--dry-run` recovery runs over [`Overlay`]: reads go to the read-only
//! mapping of the files, writes stay in memory, so nothing under PATH is
//! created, changed or touched.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;
use rocketlog_core::codec::message::Host;
use rocketlog_core::engine::commitlog::CommitLog;
use rocketlog_core::engine::dledger::{DLedger, DLedgerConfig};
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError,
};

use super::write_append::{Geometry, SizeArgs, target_of};
use super::{Ctx, exit};
use crate::embed::{DLedgerStore, RocketMqStore};
use crate::mmap::MmapStore;
use crate::resolve::{StoreKind, resolve};
use crate::store::{DiskStore, Layout, StoreLock, os};

/// `recover` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Store root, or the directory holding `dledger-<id>/`.
    store: PathBuf,
    /// Run recovery in memory and print what it would do; write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    sizes: SizeArgs,
}

/// A copy-on-write view of a read-only store: reads fall through to `base`
/// until a segment or meta file is written, created or removed; from then on
/// the in-memory copy answers. Segments are copied whole on their first write.
pub(crate) struct Overlay<'a, B: PageRead> {
    base: &'a B,
    mem: MemStore,
    /// Base segments removed (or shadowed by a fresh `create`).
    gone: RefCell<BTreeSet<(LogId, SegmentId)>>,
    meta: RefCell<BTreeMap<MetaFile, Option<Vec<u8>>>>,
}

impl<'a, B: PageRead> Overlay<'a, B> {
    pub(crate) fn new(base: &'a B) -> Self {
        Self {
            base,
            mem: MemStore::new(),
            gone: RefCell::new(BTreeSet::new()),
            meta: RefCell::new(BTreeMap::new()),
        }
    }

    fn in_mem(&self, log: &LogId, seg: SegmentId) -> bool {
        self.mem
            .segments(log)
            .is_ok_and(|v| v.iter().any(|s| s.id == seg))
    }

    fn in_base(&self, log: &LogId, seg: SegmentId) -> Result<Option<u64>, StoreError> {
        if self.gone.borrow().contains(&(log.clone(), seg)) {
            return Ok(None);
        }
        Ok(self
            .base
            .segments(log)?
            .into_iter()
            .find(|s| s.id == seg)
            .map(|s| s.len))
    }

    /// Copies a base segment into memory before its first change.
    fn own(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        if self.in_mem(log, seg) {
            return Ok(());
        }
        let Some(len) = self.in_base(log, seg)? else {
            return Err(StoreError::not_found(log, seg));
        };
        let bytes = self.base.with_view(log, seg, 0, len, <[u8]>::to_vec)?;
        self.mem.insert_segment(log.clone(), seg, bytes);
        Ok(())
    }
}

impl<B: PageRead> PageRead for Overlay<'_, B> {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        let mut v = self.base.logs(like)?;
        for l in self.mem.logs(like)? {
            if !v.contains(&l) {
                v.push(l);
            }
        }
        v.sort();
        Ok(v)
    }
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        let gone = self.gone.borrow();
        let mut m: BTreeMap<SegmentId, u64> = self
            .base
            .segments(log)?
            .into_iter()
            .filter(|s| !gone.contains(&(log.clone(), s.id)))
            .map(|s| (s.id, s.len))
            .collect();
        for s in self.mem.segments(log)? {
            m.insert(s.id, s.len);
        }
        Ok(m.into_iter()
            .map(|(id, len)| SegmentInfo { id, len })
            .collect())
    }
    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        if self.in_mem(log, seg) {
            return self.mem.read(log, seg, pos, out);
        }
        if self.in_base(log, seg)?.is_none() {
            return Err(StoreError::not_found(log, seg));
        }
        self.base.read(log, seg, pos, out)
    }
    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        if self.in_mem(log, seg) {
            return self.mem.with_view(log, seg, pos, len, f);
        }
        if self.in_base(log, seg)?.is_none() {
            return Err(StoreError::not_found(log, seg));
        }
        self.base.with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        match self.meta.borrow().get(&file) {
            Some(v) => Ok(v.clone()),
            None => self.base.read_meta(file),
        }
    }
}

impl<B: PageRead> PageStore for Overlay<'_, B> {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        if self.in_mem(log, seg) || self.in_base(log, seg)?.is_some() {
            return Err(StoreError::new(
                rocketlog_core::store::StoreErrorKind::Other,
                format!("{log} segment {seg} exists"),
            ));
        }
        self.mem.create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.own(log, seg)?;
        self.mem.write(log, seg, pos, data)
    }
    fn sync(
        &self,
        log: &LogId,
        seg: SegmentId,
        range: core::ops::Range<u64>,
    ) -> Result<(), StoreError> {
        if self.in_mem(log, seg) {
            return self.mem.sync(log, seg, range);
        }
        match self.in_base(log, seg)? {
            Some(_) => Ok(()),
            None => Err(StoreError::not_found(log, seg)),
        }
    }
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        let was_mem = self.in_mem(log, seg);
        if was_mem {
            self.mem.remove(log, seg)?;
        }
        let was_base = self.in_base(log, seg)?.is_some();
        if was_base {
            self.gone.borrow_mut().insert((log.clone(), seg));
        }
        if was_mem || was_base {
            Ok(())
        } else {
            Err(StoreError::not_found(log, seg))
        }
    }
    fn sync_dir(&self, _log: &LogId) -> Result<(), StoreError> {
        Ok(())
    }
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.meta
            .borrow_mut()
            .insert(file, contents.map(<[u8]>::to_vec));
        Ok(())
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let r = resolve(&a.store)?;
    let g = Geometry::of_store(&r, &a.sizes)?;
    let host = Host::V4 {
        addr: [127, 0, 0, 1],
        port: 10911,
    };
    let dl_cfg = DLedgerConfig {
        data_file_size: g.data,
        index_file_size: g.dindex,
        commitlog_mode: r.kind == StoreKind::RocketMqDLedger,
        ..DLedgerConfig::default()
    };
    let text = if a.dry_run {
        let base = MmapStore::new(r.paths.clone());
        let ov = Overlay::new(&base);
        let rep = match r.kind {
            StoreKind::RocketMq => {
                let e = CommitLog::open_with(
                    ov,
                    g.rocketmq(host).engine(),
                    Box::new(os::index_file_name),
                    os::now_ms(),
                    &crate::store::Threads::host(),
                )?;
                e.recovery_report().to_string()
            }
            _ => DLedger::open(ov, dl_cfg)?.1.to_string(),
        };
        format!("dry run (nothing written): {rep}")
    } else {
        let t = target_of(&r)?;
        match r.kind {
            StoreKind::RocketMq => {
                let (s, rep) = RocketMqStore::open(&t.root, g.rocketmq(host))
                    .with_context(|| format!("cannot open {}", t.root.display()))?;
                s.close()?;
                rep.to_string()
            }
            StoreKind::DLedger => {
                let (s, rep) = DLedgerStore::open(g.dledger(&t.root, &t.self_id))
                    .with_context(|| format!("cannot open {}", t.root.display()))?;
                s.close()?;
                rep.to_string()
            }
            StoreKind::RocketMqDLedger => {
                // The DLedger half; consume queues are not checked here.
                let layout = Layout::dledger(&t.root, &t.self_id);
                let _lock = StoreLock::acquire(&layout.lock_path())?;
                let (_e, rep) = DLedger::open(DiskStore::new(layout), dl_cfg)?;
                rep.to_string()
            }
        }
    };
    writeln!(ctx.out, "{text}")?;
    Ok(exit::OK)
}
