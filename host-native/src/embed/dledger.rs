//! [`DLedgerStore`]: a DLedger store (`dledger-<selfId>/{data,index,checkpoint,currterm}`)
//! on disk, shared between threads.
//!
//! Writers take the engine lock to copy an entry and its index record into
//! the mapped files; the flush thread syncs data before index every
//! `flushFileInterval` (10 ms) outside that lock and persists the
//! `checkpoint` every `checkPointInterval` (3 s). With
//! [`DLedgerStoreConfig::sync_flush`] an append also waits for the group
//! commit. Readers (`get`) read the mapped index and data below the published
//! end without the engine lock; only a follower truncation (which rewrites
//! bytes in place) excludes them, briefly.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rocketlog_core::codec::dledger::{
    self as codec, DataRecord, EntryParts, INDEX_UNIT_SIZE, IndexRecord, Line,
};
use rocketlog_core::engine::dledger::{Appended, DLedger, DLedgerError, RecoveryReport};
use rocketlog_core::engine::expiry::{self, CleanDecision, CleanInputs, SegmentAge};
use rocketlog_core::store::{LogId, PageRead, StoreError, StoreErrorKind};

use super::config::DLedgerStoreConfig;
use super::error::Error;
use crate::cleaner::{CleanStats, Cleanable, Cleaner};
use crate::flusher::{FlushSettings, FlushStats, Flusher, Hook};
use crate::store::{DiskStore, Layout, Prefault, StoreLock, Threads, os};

type Engine = DLedger<DiskStore>;

const UNIT: u64 = INDEX_UNIT_SIZE as u64;

/// Store statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct DLedgerStats {
    /// First index (-1: empty).
    pub begin_index: i64,
    /// Last index (-1: empty).
    pub end_index: i64,
    /// Committed index.
    pub committed_index: i64,
    /// Data offsets: first valid, written end, durable end.
    pub data: (u64, u64, u64),
    /// Flush thread counters.
    pub flush: FlushStats,
    /// Clean thread counters (if it runs).
    pub clean: Option<CleanStats>,
    /// Disk usage is above the "disk full" level: appends are refused.
    pub disk_full: bool,
}

struct Inner {
    cfg: DLedgerStoreConfig,
    store: DiskStore,
    engine: Arc<Mutex<Option<Engine>>>,
    flusher: Flusher,
    begin: AtomicI64,
    end: AtomicI64,
    /// Readers hold it shared; a truncation (in-place rewrite) holds it exclusively.
    rewrite: RwLock<()>,
    disk_full: AtomicBool,
    disk_ratio_bits: AtomicU64,
    _lock: StoreLock,
}

/// A DLedger store opened for writing. `Send + Sync`.
///
/// ```
/// use rocketlog::embed::{DLedgerStore, DLedgerStoreConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let mut cfg = DLedgerStoreConfig::new(dir.path(), "n0");
/// cfg.mapped_file_size_for_entry_data = 1 << 16;
/// cfg.mapped_file_size_for_entry_index = 32 * 1024;
/// cfg.sync_flush = true;
/// let (store, _report) = DLedgerStore::open(cfg.clone()).unwrap();
/// store.set_term(1, None).unwrap();
/// let a = store.append(b"first").unwrap();
/// assert_eq!((a.index, a.term), (0, 1));
/// store.commit(1, 0).unwrap();
/// let raw = store.get(0).unwrap();
/// assert!(raw.ends_with(b"first"));
/// store.close().unwrap();
/// let (store, _) = DLedgerStore::open(cfg).unwrap();
/// assert_eq!(store.stats().committed_index, 0);
/// assert!(store.get(0).unwrap().ends_with(b"first"));
/// ```
pub struct DLedgerStore {
    inner: Arc<Inner>,
    cleaner: Mutex<Option<Cleaner>>,
}

impl std::fmt::Debug for DLedgerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DLedgerStore")
            .field("layout", self.inner.store.layout())
            .finish_non_exhaustive()
    }
}

fn dl_store_error(e: DLedgerError) -> StoreError {
    match e {
        DLedgerError::Store(s) => s,
        other => StoreError::new(StoreErrorKind::Other, other.to_string()),
    }
}

impl Inner {
    fn engine(&self) -> MutexGuard<'_, Option<Engine>> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, e: &Engine) {
        self.begin.store(e.begin_index(), Ordering::Release);
        self.end.store(e.end_index(), Ordering::Release);
    }

    /// Runs an append (leader or follower) and records what it wrote.
    fn append_with(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<Appended, DLedgerError>,
    ) -> Result<Appended, Error> {
        if self.disk_full.load(Ordering::Acquire) {
            return Err(Error::DiskFull {
                ratio: f64::from_bits(self.disk_ratio_bits.load(Ordering::Acquire)),
            });
        }
        let (a, end) = {
            let mut g = self.engine();
            let e = g.as_mut().ok_or(Error::Closed)?;
            let before = e.data_end();
            let a = f(e)?;
            let end = a.pos + u64::from(a.size);
            let at = a.index as u64 * UNIT;
            super::note_writes(
                &self.flusher,
                &[
                    (
                        &LogId::DLedgerData,
                        self.cfg.mapped_file_size_for_entry_data,
                        before,
                        end,
                    ),
                    (
                        &LogId::DLedgerIndex,
                        self.cfg.mapped_file_size_for_entry_index,
                        at,
                        at + UNIT,
                    ),
                ],
                end,
            );
            self.publish(e);
            (a, end)
        };
        if self.cfg.sync_flush {
            self.flusher
                .wait_durable(end, Duration::from_millis(self.cfg.sync_flush_timeout))?;
        }
        Ok(a)
    }

    fn read_entry(&self, index: i64) -> Result<Vec<u8>, Error> {
        let _shared = self.rewrite.read().unwrap_or_else(PoisonError::into_inner);
        let (begin, end) = (
            self.begin.load(Ordering::Acquire),
            self.end.load(Ordering::Acquire),
        );
        let nf = || Error::NotFound(format!("no entry {index} (stored: {begin}..={end})"));
        if begin < 0 || index < begin || index > end {
            return Err(nf());
        }
        let at = index as u64 * UNIT;
        let isize = self.cfg.mapped_file_size_for_entry_index;
        let mut b = [0u8; INDEX_UNIT_SIZE];
        self.store
            .read(&LogId::DLedgerIndex, at - at % isize, at % isize, &mut b)?;
        let rec = IndexRecord::decode(&b).ok_or_else(nf)?;
        let (Ok(pos), Ok(size)) = (u64::try_from(rec.pos), u64::try_from(rec.size)) else {
            return Err(nf());
        };
        let dsize = self.cfg.mapped_file_size_for_entry_data;
        let seg = pos - pos % dsize;
        let bytes =
            self.store
                .with_view(&LogId::DLedgerData, seg, pos - seg, size, <[u8]>::to_vec)?;
        match codec::decode(&bytes, pos, Line::Classic) {
            Ok(DataRecord::Entry(e)) if e.index == index && e.pos == rec.pos => Ok(bytes),
            Ok(_) => Err(nf()),
            Err(e) => Err(Error::NotFound(format!("data: {e}"))),
        }
    }

    fn clean(&self) -> Result<(CleanDecision, usize), String> {
        let Layout::DLedger { dir } = self.store.layout() else {
            return Err("not a DLedger store".into());
        };
        let segs = self
            .store
            .segments(&LogId::DLedgerData)
            .map_err(|e| e.to_string())?;
        let ages: Vec<SegmentAge> = segs
            .iter()
            .map(|s| SegmentAge {
                id: s.id,
                mtime_ms: self
                    .store
                    .segment_path(&LogId::DLedgerData, s.id)
                    .map_or(0, |p| os::mtime_ms(&p)),
            })
            .collect();
        let now_ms = os::now_ms();
        let inputs = CleanInputs {
            now_ms: u64::try_from(now_ms).unwrap_or(0),
            local_hour: os::local_hour(now_ms),
            delete_when: &self.cfg.delete_when,
        };
        let base_ratio = os::disk_used_ratio(&self.cfg.store_base_dir);
        let data_ratio = os::disk_used_ratio(&dir.join("data"));
        let d = expiry::dledger(&ages, &inputs, base_ratio, data_ratio, &self.cfg.clean());
        self.disk_ratio_bits
            .store(base_ratio.max(data_ratio).to_bits(), Ordering::Release);
        self.disk_full.store(d.disk_full, Ordering::Release);
        let mut deleted = 0;
        for i in 0..d.delete {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
            // Readers are kept out while the head file and begin index change.
            let _excl = self.rewrite.write().unwrap_or_else(PoisonError::into_inner);
            let mut g = self.engine();
            let Some(e) = g.as_mut() else { break };
            self.flusher.flush_now().map_err(|e| e.to_string())?;
            let seg = e.remove_expired_head().map_err(|e| e.to_string())?;
            self.flusher.forget_segment(&LogId::DLedgerData, seg);
            self.publish(e);
            deleted += 1;
        }
        Ok((d, deleted))
    }
}

impl Cleanable for Inner {
    fn clean_once(&self) -> Result<(CleanDecision, usize), String> {
        self.clean()
    }
}

impl DLedgerStore {
    /// Opens (creating if needed) `<store_base_dir>/dledger-<self_id>`: takes
    /// its `lock`, recovers (returning the report), and starts the flush and
    /// clean threads.
    pub fn open(cfg: DLedgerStoreConfig) -> Result<(Self, RecoveryReport), Error> {
        let layout = Layout::dledger(&cfg.store_base_dir, &cfg.self_id);
        crate::store::create_root(layout.dir())?;
        let lock = StoreLock::acquire(&layout.lock_path())?;
        let store = DiskStore::new(layout);
        // Writers that wait for fdatasync must not find dirty zeros ahead.
        store.set_prefault(if cfg.sync_flush {
            Prefault::Read
        } else {
            Prefault::Write
        });
        store.remove_empty_tails()?;
        let (engine, report) = DLedger::open_with(store.clone(), cfg.engine(), &Threads::host())?;
        let settings = FlushSettings {
            policy: cfg.flush_policy(),
            logs: vec![
                (LogId::DLedgerData, cfg.mapped_file_size_for_entry_data),
                (LogId::DLedgerIndex, cfg.mapped_file_size_for_entry_index),
            ],
            primary: LogId::DLedgerData,
            hook_interval_ms: cfg.check_point_interval,
        };
        let end = engine.data_end();
        let (b, e) = (engine.begin_index(), engine.end_index());
        let engine = Arc::new(Mutex::new(Some(engine)));
        let for_hook = Arc::clone(&engine);
        let hook: Hook = Box::new(move || {
            let mut g = for_hook.lock().unwrap_or_else(PoisonError::into_inner);
            match g.as_mut() {
                Some(e) => e
                    .flush_all()
                    .and_then(|()| e.persist_checkpoint())
                    .map_err(dl_store_error),
                None => Ok(()),
            }
        });
        let flusher = Flusher::start(store.clone(), settings, end, Some(hook))?;
        let inner = Arc::new(Inner {
            cfg,
            store,
            engine,
            flusher,
            begin: AtomicI64::new(b),
            end: AtomicI64::new(e),
            rewrite: RwLock::new(()),
            disk_full: AtomicBool::new(false),
            disk_ratio_bits: AtomicU64::new(0),
            _lock: lock,
        });
        let cleaner = if inner.cfg.clean_interval > 0 {
            let interval = Duration::from_millis(inner.cfg.clean_interval);
            let arc: Arc<dyn Cleanable> = inner.clone();
            let weak = Arc::downgrade(&arc);
            drop(arc);
            Some(Cleaner::start(weak, interval, interval).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Io,
                    format!("cannot start the clean thread: {e}"),
                )
            })?)
        } else {
            None
        };
        Ok((
            Self {
                inner,
                cleaner: Mutex::new(cleaner),
            },
            report,
        ))
    }

    /// The settings.
    pub fn config(&self) -> &DLedgerStoreConfig {
        &self.inner.cfg
    }

    /// Appends `body` as the leader (next index, current term).
    pub fn append(&self, body: &[u8]) -> Result<Appended, Error> {
        self.inner.append_with(|e| e.append_as_leader(body))
    }

    /// Appends an entry received from the leader (its index, term and pos are checked).
    pub fn append_as_follower(&self, entry: &EntryParts<'_>) -> Result<Appended, Error> {
        self.inner.append_with(|e| e.append_as_follower(entry))
    }

    /// Entry `index`, header and body, as stored (lock-free).
    pub fn get(&self, index: i64) -> Result<Vec<u8>, Error> {
        self.inner.read_entry(index)
    }

    /// Follower truncation: afterwards the log ends with `entry` (see the
    /// core's `DLedger::truncate_follower`). Durable when it returns.
    pub fn truncate(&self, entry: &EntryParts<'_>) -> Result<i64, Error> {
        let _excl = self
            .inner
            .rewrite
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut g = self.inner.engine();
        let e = g.as_mut().ok_or(Error::Closed)?;
        // Nothing may be left to sync in the files the truncation removes.
        self.inner.flusher.flush_now()?;
        let r = e.truncate_follower(entry)?;
        // The truncation synced everything it wrote; the entry's bytes too.
        e.flush_all()?;
        self.inner.flusher.reset_written(e.data_end());
        self.inner.publish(e);
        Ok(r)
    }

    /// `updateCommittedIndex(term, index)`.
    pub fn commit(&self, term: i64, index: i64) -> Result<(), Error> {
        let mut g = self.inner.engine();
        g.as_mut()
            .ok_or(Error::Closed)?
            .update_committed(term, index)?;
        Ok(())
    }

    /// Sets the current term and vote (`currterm`, durable before returning).
    pub fn set_term(&self, term: i64, vote_for: Option<&str>) -> Result<(), Error> {
        let mut g = self.inner.engine();
        g.as_mut().ok_or(Error::Closed)?.set_term(term, vote_for)?;
        Ok(())
    }

    /// Makes everything durable and writes the checkpoint.
    pub fn flush(&self) -> Result<(), Error> {
        let mut g = self.inner.engine();
        let e = g.as_mut().ok_or(Error::Closed)?;
        self.inner.flusher.flush_now()?;
        e.flush_all()?;
        e.persist_checkpoint()?;
        Ok(())
    }

    /// Runs one cleaning pass now.
    pub fn clean_now(&self) -> Result<(CleanDecision, usize), Error> {
        self.inner.clean().map_err(Error::NotFound)
    }

    /// Statistics.
    pub fn stats(&self) -> DLedgerStats {
        let g = self.inner.engine();
        let (c, data) = g.as_ref().map_or((-1, (0, 0, 0)), |e| {
            (
                e.committed_index(),
                (e.data_start(), e.data_end(), self.inner.flusher.durable()),
            )
        });
        drop(g);
        DLedgerStats {
            begin_index: self.inner.begin.load(Ordering::Acquire),
            end_index: self.inner.end.load(Ordering::Acquire),
            committed_index: c,
            data,
            flush: self.inner.flusher.stats(),
            clean: self
                .cleaner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(Cleaner::stats),
            disk_full: self.inner.disk_full.load(Ordering::Acquire),
        }
    }

    /// Clean shutdown: stops the threads, flushes, writes the checkpoint, releases the lock.
    pub fn close(self) -> Result<(), Error> {
        if let Some(mut c) = self
            .cleaner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            c.stop();
        }
        let engine = self.inner.engine().take();
        let Some(mut engine) = engine else {
            return Ok(());
        };
        self.inner.flusher.stop()?;
        engine.flush_all()?;
        engine.persist_checkpoint()?;
        Ok(())
    }
}

impl Drop for DLedgerStore {
    fn drop(&mut self) {
        if let Some(mut c) = self
            .cleaner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            c.stop();
        }
        let _ = self.inner.flusher.stop();
    }
}
