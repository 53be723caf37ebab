//! [`RocketMqStore`]: a RocketMQ-format store on disk, shared between threads.
//!
//! * **Writers** (`put`, `put_batch`) take the engine lock only to encode and
//!   copy their records into the mapped commitlog; in `SYNC_FLUSH` mode they
//!   then wait, *without* the lock, for the group commit to cover them.
//! * **Readers** (`get`, `consume`) never take the engine lock: they read the
//!   mapped consume queues and commitlog below the published watermarks
//!   (bytes the writer will not touch again), concurrently with the writer,
//!   the flush thread and the clean thread.
//! * A process killed at any instant loses nothing a `SYNC_FLUSH` put
//!   acknowledged: the acknowledgement comes after `msync` + `fdatasync` of
//!   the record's bytes, and recovery keeps every record that checks out.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rocketlog_core::checked::Checked;
use rocketlog_core::codec::consume_queue::{CQ_UNIT_SIZE, CqUnit};
use rocketlog_core::codec::message::{
    self, DecodeOptions, MIN_RECORD_LEN, MessageView, Record, SysFlag,
};
use rocketlog_core::engine::commitlog::{Batch, CommitLog, EngineError, Message, PutResult};
use rocketlog_core::engine::dispatch::{IndexNamer, QueueKey};
use rocketlog_core::engine::expiry::{self, CleanDecision, CleanInputs, SegmentAge};
use rocketlog_core::engine::recovery::RecoveryReport;
use rocketlog_core::store::{LogId, MetaFile, PageRead, PageStore, StoreError, StoreErrorKind};

use super::config::{FlushDiskType, RocketMqConfig};
use super::error::Error;
use crate::cleaner::{CleanStats, Cleanable, Cleaner};
use crate::flusher::{FlushSettings, FlushStats, Flusher, Hook};
use crate::store::{DiskStore, Fx, Layout, Prefault, StoreLock, Threads, os};

type Engine = CommitLog<Checked<DiskStore>>;

/// A stored message: its commitlog offset and whole record bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Physical (commitlog) offset.
    pub offset: u64,
    /// The whole record, byte for byte as stored.
    pub bytes: Vec<u8>,
}

impl StoredMessage {
    /// The decoded record (topic, body, properties, ...).
    pub fn view(&self) -> Option<MessageView<'_>> {
        match message::decode(&self.bytes, self.offset, DecodeOptions::LENIENT) {
            Ok(Record::Message(m)) => Some(m),
            _ => None,
        }
    }
}

/// A consume queue's bounds as published to lock-free readers, and its log
/// name (kept here so a read builds no `LogId`).
#[derive(Debug)]
struct QueueBounds {
    min: AtomicI64,
    max: AtomicI64,
    log: LogId,
}

impl QueueBounds {
    fn new(topic: &str, queue_id: i32, min: i64, max: i64) -> Arc<Self> {
        Arc::new(Self {
            min: AtomicI64::new(min),
            max: AtomicI64::new(max),
            log: LogId::ConsumeQueue {
                topic: topic.to_owned(),
                queue_id,
            },
        })
    }
    fn get(&self) -> (i64, i64) {
        (
            self.min.load(Ordering::Acquire),
            self.max.load(Ordering::Acquire),
        )
    }
}

type QueueMap = HashMap<(String, i32), Arc<QueueBounds>, Fx>;

/// Store statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct RocketMqStats {
    /// First stored commitlog offset.
    pub min_offset: u64,
    /// End of the written commitlog.
    pub max_offset: u64,
    /// Everything below this is durable.
    pub durable_offset: u64,
    /// Every consume queue: (topic, queue id, min offset, max offset).
    pub queues: Vec<(String, i32, i64, i64)>,
    /// Flush thread counters.
    pub flush: FlushStats,
    /// Clean thread counters (if it runs).
    pub clean: Option<CleanStats>,
    /// Disk usage is above the warning level: puts are refused.
    pub disk_full: bool,
}

struct Inner {
    cfg: RocketMqConfig,
    store: DiskStore,
    engine: Arc<Mutex<Option<Engine>>>,
    flusher: Flusher,
    /// Published for lock-free readers (Release after the bytes are written).
    committed_end: AtomicU64,
    min_offset: AtomicU64,
    queues: RwLock<QueueMap>,
    disk_full: AtomicBool,
    disk_ratio_bits: AtomicU64,
    _lock: StoreLock,
}

/// A RocketMQ store opened for writing. `Send + Sync`: share it with an `Arc`.
///
/// ```
/// use rocketlog::embed::{FlushDiskType, RocketMqConfig, RocketMqStore, Message, Host};
/// let dir = tempfile::tempdir().unwrap();
/// let cfg = RocketMqConfig {
///     mapped_file_size_commit_log: 1 << 20,
///     mapped_file_size_consume_queue: 20 * 1000,
///     max_hash_slot_num: 64,
///     max_index_num: 256,
///     flush_disk_type: FlushDiskType::SyncFlush,
///     ..RocketMqConfig::default()
/// };
/// let (store, report) = RocketMqStore::open(dir.path(), cfg.clone()).unwrap();
/// assert!(!report.abnormal_shutdown);
/// let msg = Message {
///     topic: "T", queue_id: 0, flag: 0, body: b"hello",
///     properties: b"KEYS\x01k1\x02", sys_flag: 0, born_timestamp: 1,
///     born_host: Host::V4 { addr: [127, 0, 0, 1], port: 1 },
///     reconsume_times: 0, prepared_transaction_offset: 0,
/// };
/// let put = store.put(&msg).unwrap();
/// let got = store.consume("T", 0, 0, 10).unwrap();
/// assert_eq!(got[0].offset, put.physical_offset);
/// assert_eq!(got[0].view().unwrap().body, b"hello");
/// assert_eq!(store.find_by_key("T", "k1").unwrap().len(), 1);
/// store.close().unwrap();
/// // Reopen: a clean shutdown, the message is still there.
/// let (store, report) = RocketMqStore::open(dir.path(), cfg).unwrap();
/// assert!(!report.abnormal_shutdown);
/// assert_eq!(store.get(put.physical_offset).unwrap().view().unwrap().body, b"hello");
/// ```
pub struct RocketMqStore {
    inner: Arc<Inner>,
    cleaner: Mutex<Option<Cleaner>>,
}

impl std::fmt::Debug for RocketMqStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocketMqStore")
            .field("layout", self.inner.store.layout())
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    os::now_ms()
}

impl Inner {
    fn engine(&self) -> MutexGuard<'_, Option<Engine>> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the engine's state to lock-free readers.
    fn publish(&self, e: &Engine) {
        // Commitlog bounds before queue bounds (see `publish_queue`).
        self.committed_end.store(e.max_offset(), Ordering::Release);
        self.min_offset.store(e.min_offset(), Ordering::Release);
        let mut q = self.queues.write().unwrap_or_else(PoisonError::into_inner);
        for (t, id, min, max) in e.queues() {
            match q.get(&(t.as_str(), id) as &dyn QueueKey) {
                Some(b) => {
                    b.min.store(min, Ordering::Release);
                    b.max.store(max, Ordering::Release);
                }
                None => {
                    let b = QueueBounds::new(&t, id, min, max);
                    q.insert((t, id), b);
                }
            }
        }
    }

    /// The published bounds of a queue (lock-free readers).
    fn queue_bounds(&self, topic: &str, queue_id: i32) -> Option<Arc<QueueBounds>> {
        self.queues
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(topic, queue_id) as &dyn QueueKey)
            .cloned()
    }

    /// Publishes one queue's bounds after a put `r` into it (`dispatched`:
    /// its records took queue offsets, i.e. not PREPARED or ROLLBACK).
    fn publish_queue(
        &self,
        e: &Engine,
        topic: &str,
        queue_id: i32,
        r: &PutResult,
        dispatched: bool,
    ) {
        // The commitlog end first: a reader that sees the new queue bound
        // must also see the record it points to.
        self.committed_end.store(e.max_offset(), Ordering::Release);
        if !dispatched {
            // No queue offset taken: the bounds are unchanged.
            return;
        }
        // The records took queue offsets `queue_offset..+count` (after any
        // `fillPreBlank` fillers): the queue's next offset follows them.
        let max = r.queue_offset + i64::from(r.count);
        {
            let q = self.queues.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(b) = q.get(&(topic, queue_id) as &dyn QueueKey) {
                b.max.store(max, Ordering::Release);
                return;
            }
        }
        // A new queue (or a PREPARED/ROLLBACK put to an unknown one).
        let min = e
            .queues()
            .into_iter()
            .find(|(t, id, _, _)| t == topic && *id == queue_id)
            .map_or(0, |x| x.2);
        let mut q = self.queues.write().unwrap_or_else(PoisonError::into_inner);
        match q.get(&(topic, queue_id) as &dyn QueueKey) {
            Some(b) => b.max.store(max, Ordering::Release),
            None => {
                q.insert(
                    (topic.to_owned(), queue_id),
                    QueueBounds::new(topic, queue_id, min, max),
                );
            }
        }
    }

    fn write<F>(&self, queue: (&str, i32), dispatched: bool, f: F) -> Result<PutResult, Error>
    where
        F: FnOnce(&mut Engine) -> Result<PutResult, EngineError>,
    {
        if self.disk_full.load(Ordering::Acquire) {
            return Err(Error::DiskFull {
                ratio: f64::from_bits(self.disk_ratio_bits.load(Ordering::Acquire)),
            });
        }
        let end = {
            let mut g = self.engine();
            let e = g.as_mut().ok_or(Error::Closed)?;
            let before = e.max_offset();
            let r = f(e)?;
            let end = r.physical_offset + r.size;
            let size = self.cfg.mapped_file_size_commit_log;
            super::note_writes(
                &self.flusher,
                &[(&LogId::CommitLog, size, before, end)],
                end,
            );
            self.publish_queue(e, queue.0, queue.1, &r, dispatched);
            (r, end)
        };
        if self.cfg.flush_disk_type == FlushDiskType::SyncFlush {
            self.flusher
                .wait_durable(end.1, Duration::from_millis(self.cfg.sync_flush_timeout))?;
        }
        let mut r = end.0;
        r.synced = self.cfg.flush_disk_type == FlushDiskType::SyncFlush;
        Ok(r)
    }

    fn read_record(&self, offset: u64) -> Result<StoredMessage, Error> {
        let min = self.min_offset.load(Ordering::Acquire);
        let end = self.committed_end.load(Ordering::Acquire);
        let nf = || {
            Error::NotFound(format!(
                "no message at commitlog offset {offset} (stored: {min}..{end})"
            ))
        };
        if offset < min || offset >= end {
            return Err(nf());
        }
        let size = self.cfg.mapped_file_size_commit_log;
        let seg = offset - offset % size;
        let pos = offset - seg;
        // Expired (removed by the clean thread) after the bounds check above.
        let expired = |e: StoreError| {
            if e.kind == StoreErrorKind::NotFound
                && offset < self.min_offset.load(Ordering::Acquire)
            {
                Error::NotFound(format!("commitlog offset {offset} expired"))
            } else {
                Error::Store(e)
            }
        };
        // One view over everything committed after `offset` in its file (a
        // single segment look-up); the record's own length bounds the copy.
        let avail = (size - pos).min(end - offset);
        let got = self
            .store
            .with_view_brief(&LogId::CommitLog, seg, pos, avail, |v| {
                let total = v
                    .get(..4)
                    .map_or(0, |h| u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize);
                if total < MIN_RECORD_LEN || total > v.len() {
                    return None;
                }
                let rec = &v[..total];
                Some(match message::decode(rec, offset, DecodeOptions::STRICT) {
                    Ok(Record::Message(_)) => Ok(rec.to_vec()),
                    Ok(Record::Blank { .. }) => Err(None),
                    Err(e) => Err(Some(format!("commitlog: {e}"))),
                })
            })
            .map_err(expired)?;
        match got {
            Some(Ok(bytes)) => Ok(StoredMessage { offset, bytes }),
            None | Some(Err(None)) => Err(nf()),
            Some(Err(Some(e))) => Err(Error::NotFound(e)),
        }
    }
}

impl RocketMqStore {
    /// Opens (creating if needed) the store rooted at `root`: takes the
    /// `lock`, runs recovery (returning its report), writes the `abort`
    /// marker with this process id, and starts the flush and clean threads.
    pub fn open(root: &Path, cfg: RocketMqConfig) -> Result<(Self, RecoveryReport), Error> {
        Self::open_with_namer(root, cfg, Box::new(os::index_file_name))
    }

    /// [`Self::open`] with the function that names new index files (by
    /// default the local time, `yyyyMMddHHmmssSSS`): `append --replay` hands
    /// out the names of the store it reproduces.
    pub fn open_with_namer(
        root: &Path,
        cfg: RocketMqConfig,
        namer: Box<IndexNamer>,
    ) -> Result<(Self, RecoveryReport), Error> {
        let layout = Layout::rocketmq(root);
        crate::store::create_root(root)?;
        let lock = StoreLock::acquire(&layout.lock_path())?;
        let store = DiskStore::new(layout);
        // Writers that wait for fdatasync must not find dirty zeros ahead.
        store.set_prefault(if cfg.flush_disk_type == FlushDiskType::SyncFlush {
            Prefault::Read
        } else {
            Prefault::Write
        });
        store.remove_empty_tails()?;
        // Recovery checks the commitlog on every core.
        let engine = CommitLog::open_with(
            Checked::new(store.clone()),
            cfg.engine(),
            namer,
            now(),
            &Threads::host(),
        )?;
        let report = engine.recovery_report().clone();
        // As Java: the abort marker holds the broker's PID.
        store.write_meta(
            MetaFile::Abort,
            Some(std::process::id().to_string().as_bytes()),
        )?;
        let settings = FlushSettings {
            policy: cfg.flush_policy(),
            logs: vec![(LogId::CommitLog, cfg.mapped_file_size_commit_log)],
            primary: LogId::CommitLog,
            hook_interval_ms: cfg.flush_interval_consume_queue,
        };
        let end = engine.max_offset();
        let engine = Arc::new(Mutex::new(Some(engine)));
        let for_hook = Arc::clone(&engine);
        let hook: Hook = Box::new(move || {
            let mut g = for_hook.lock().unwrap_or_else(PoisonError::into_inner);
            match g.as_mut() {
                // Consume queues, index file and checkpoint (FlushConsumeQueueService).
                Some(e) => e.flush().map_err(engine_store_error),
                None => Ok(()),
            }
        });
        let flusher = Flusher::start(store.clone(), settings, end, Some(hook))?;
        let inner = Arc::new(Inner {
            cfg,
            store,
            engine,
            flusher,
            committed_end: AtomicU64::new(0),
            min_offset: AtomicU64::new(0),
            queues: RwLock::new(HashMap::default()),
            disk_full: AtomicBool::new(false),
            disk_ratio_bits: AtomicU64::new(0),
            _lock: lock,
        });
        if let Some(e) = inner.engine().as_ref() {
            inner.publish(e);
        }
        let cleaner = if inner.cfg.clean_resource_interval > 0 {
            let interval = Duration::from_millis(inner.cfg.clean_resource_interval);
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
    pub fn config(&self) -> &RocketMqConfig {
        &self.inner.cfg
    }

    /// Puts one message. Under `SYNC_FLUSH` it returns once the record is
    /// durable (or fails with [`Error::Flush`] after `syncFlushTimeout`).
    pub fn put(&self, msg: &Message<'_>) -> Result<PutResult, Error> {
        let dispatched = SysFlag(msg.sys_flag).dispatched_to_queue();
        self.inner
            .write((msg.topic, msg.queue_id), dispatched, |e| e.put(msg, now()))
    }

    /// Puts a batch: consecutive queue offsets, one store timestamp, never split across files.
    pub fn put_batch(&self, batch: &Batch<'_>) -> Result<PutResult, Error> {
        // Batches are never transactional (the engine refuses them).
        self.inner.write((batch.topic, batch.queue_id), true, |e| {
            e.put_batch(batch, now())
        })
    }

    /// Puts a record exactly as given (replication, `append --replay`); see
    /// `CommitLog::put_replay`.
    pub fn put_replay(&self, parts: &message::MessageParts<'_>) -> Result<PutResult, Error> {
        let topic = String::from_utf8_lossy(parts.topic).into_owned();
        let dispatched = SysFlag(parts.sys_flag).dispatched_to_queue();
        self.inner.write((&topic, parts.queue_id), dispatched, |e| {
            e.put_replay(parts)
        })
    }

    /// The message at commitlog offset `offset` (lock-free; checked strictly).
    pub fn get(&self, offset: u64) -> Result<StoredMessage, Error> {
        self.inner.read_record(offset)
    }

    /// Up to `max` messages of a queue from queue offset `offset` on
    /// (lock-free). Fillers and expired messages are skipped.
    pub fn consume(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max: usize,
    ) -> Result<Vec<StoredMessage>, Error> {
        let Some(bounds) = self.inner.queue_bounds(topic, queue_id) else {
            return Ok(Vec::new());
        };
        let (qmin, qmax) = bounds.get();
        let log = &bounds.log;
        let size = self.inner.cfg.engine().consume_queue_file_size();
        let min_phy = self.inner.min_offset.load(Ordering::Acquire);
        let mut out = Vec::new();
        let mut qo = offset.max(qmin).max(0);
        while qo < qmax && out.len() < max {
            let abs = qo as u64 * CQ_UNIT_SIZE as u64;
            let seg = abs - abs % size;
            let mut b = [0u8; CQ_UNIT_SIZE];
            match self.inner.store.read(log, seg, abs - seg, &mut b) {
                Ok(()) => {}
                // Expired by the clean thread meanwhile: continue with what is left.
                Err(e) if e.kind == StoreErrorKind::NotFound => {
                    qo += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            qo += 1;
            let Some(u) = CqUnit::decode(&b) else {
                continue;
            };
            if u.is_filler() || u.physical_offset < min_phy as i64 || u.physical_offset < 0 {
                continue;
            }
            match self.inner.read_record(u.physical_offset as u64) {
                Ok(m) => out.push(m),
                Err(Error::NotFound(_))
                    if (u.physical_offset as u64)
                        < self.inner.min_offset.load(Ordering::Acquire) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Messages of `topic` whose `UNIQ_KEY` or one of whose `KEYS` is `key`
    /// (index look-up, re-checked against the records).
    pub fn find_by_key(&self, topic: &str, key: &str) -> Result<Vec<StoredMessage>, Error> {
        // The engine reads and checks each hit once; its bytes are the answer.
        let g = self.inner.engine();
        let found = g
            .as_ref()
            .ok_or(Error::Closed)?
            .find_records_by_key(topic, key)?;
        drop(g);
        Ok(found
            .into_iter()
            .map(|(offset, bytes)| StoredMessage { offset, bytes })
            .collect())
    }

    /// Next queue offset of a queue (0 if it has none).
    pub fn queue_max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .queue_bounds(topic, queue_id)
            .map_or(0, |q| q.get().1)
    }

    /// Makes everything written so far durable (commitlog, consume queues,
    /// index) and writes the checkpoint.
    pub fn flush(&self) -> Result<(), Error> {
        let mut g = self.inner.engine();
        let e = g.as_mut().ok_or(Error::Closed)?;
        self.inner.flusher.flush_now()?;
        e.flush()?;
        Ok(())
    }

    /// Runs one cleaning pass now (what the clean thread does on its timer).
    pub fn clean_now(&self) -> Result<(CleanDecision, usize), Error> {
        self.inner.clean().map_err(Error::NotFound)
    }

    /// Statistics.
    pub fn stats(&self) -> RocketMqStats {
        let i = &self.inner;
        RocketMqStats {
            min_offset: i.min_offset.load(Ordering::Acquire),
            max_offset: i.committed_end.load(Ordering::Acquire),
            durable_offset: i.flusher.durable(),
            queues: {
                let q = i.queues.read().unwrap_or_else(PoisonError::into_inner);
                let mut v: Vec<_> = q
                    .iter()
                    .map(|((t, id), b)| {
                        let (min, max) = b.get();
                        (t.clone(), *id, min, max)
                    })
                    .collect();
                v.sort();
                v
            },
            flush: i.flusher.stats(),
            clean: self
                .cleaner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(Cleaner::stats),
            disk_full: i.disk_full.load(Ordering::Acquire),
        }
    }

    /// Clean shutdown: stops the clean thread, flushes everything, writes the
    /// checkpoint, removes the `abort` marker and releases the lock.
    pub fn close(self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<(), Error> {
        if let Some(mut c) = self
            .cleaner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            c.stop();
        }
        let engine = self.inner.engine().take();
        let Some(engine) = engine else {
            return Ok(());
        };
        let r = self.inner.flusher.stop();
        r?;
        engine.shutdown()?;
        Ok(())
    }
}

impl Drop for RocketMqStore {
    fn drop(&mut self) {
        // Dropped without `close`: stop the threads but keep the `abort`
        // marker (the next open recovers as after a crash).
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

impl Inner {
    fn clean(&self) -> Result<(CleanDecision, usize), String> {
        let Layout::RocketMq { root } = self.store.layout() else {
            return Err("not a RocketMQ store".into());
        };
        let segs = self
            .store
            .segments(&LogId::CommitLog)
            .map_err(|e| e.to_string())?;
        let ages: Vec<SegmentAge> = segs
            .iter()
            .map(|s| SegmentAge {
                id: s.id,
                mtime_ms: self
                    .store
                    .segment_path(&LogId::CommitLog, s.id)
                    .map_or(0, |p| os::mtime_ms(&p)),
            })
            .collect();
        let now_ms = now();
        let inputs = CleanInputs {
            now_ms: u64::try_from(now_ms).unwrap_or(0),
            local_hour: os::local_hour(now_ms),
            delete_when: &self.cfg.delete_when,
        };
        let cl_ratio = os::disk_used_ratio(&root.join("commitlog"));
        let cq_dir = root.join("consumequeue");
        let cq_ratio = cq_dir.is_dir().then(|| os::disk_used_ratio(&cq_dir));
        let d = expiry::rocketmq_commitlog(
            &ages,
            &inputs,
            cl_ratio,
            cq_ratio,
            false,
            &self.cfg.clean(),
        );
        self.disk_ratio_bits.store(
            cl_ratio.max(cq_ratio.unwrap_or(-1.0)).to_bits(),
            Ordering::Release,
        );
        self.disk_full.store(d.disk_full, Ordering::Release);
        let mut deleted = 0;
        for i in 0..d.delete {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(
                    self.cfg.delete_commit_log_files_interval,
                ));
            }
            let mut g = self.engine();
            let Some(e) = g.as_mut() else { break };
            // Nothing may still be waiting to be synced in a file about to go.
            self.flusher.flush_now().map_err(|e| e.to_string())?;
            let size = self.cfg.mapped_file_size_commit_log;
            let first = e.min_offset();
            let head = first - first % size;
            // Readers must stop trusting the head file before it goes.
            self.min_offset.store(head + size, Ordering::Release);
            let n = e.delete_head_files(1).map_err(|e| e.to_string());
            self.publish(e);
            let n = n?;
            if n == 0 {
                break;
            }
            self.flusher.forget_segment(&LogId::CommitLog, head);
            deleted += n;
        }
        Ok((d, deleted))
    }
}

impl Cleanable for Inner {
    fn clean_once(&self) -> Result<(CleanDecision, usize), String> {
        self.clean()
    }
}

fn engine_store_error(e: EngineError) -> StoreError {
    match e {
        EngineError::Store(s) => s,
        other => StoreError::new(StoreErrorKind::Other, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::Host;

    /// Set in the child process [`a_relative_root_works`] starts.
    const CHILD_DIR: &str = "ROCKETLOG_TEST_RELATIVE_ROOT_DIR";
    const NAME: &str = "embed::rocketmq::tests::a_relative_root_works";

    fn cfg() -> RocketMqConfig {
        RocketMqConfig {
            mapped_file_size_commit_log: 1 << 20,
            mapped_file_size_consume_queue: 20 * 1000,
            max_hash_slot_num: 64,
            max_index_num: 256,
            clean_resource_interval: 0,
            ..RocketMqConfig::default()
        }
    }

    fn msg(body: &[u8]) -> Message<'_> {
        Message {
            topic: "T",
            queue_id: 0,
            flag: 0,
            body,
            properties: b"KEYS\x01k1\x02",
            sys_flag: 0,
            born_timestamp: 1,
            born_host: Host::V4 {
                addr: [127, 0, 0, 1],
                port: 1,
            },
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }

    /// `open("pa")`: a root given as one relative component (its parent is
    /// the empty path) used to fail creating the directory.
    #[test]
    fn a_relative_root_works() {
        if let Ok(dir) = std::env::var(CHILD_DIR) {
            // The child runs this test alone, so changing its working
            // directory cannot disturb another test.
            std::env::set_current_dir(&dir).unwrap();
            let root = Path::new("pa");
            let (store, report) = RocketMqStore::open(root, cfg()).unwrap();
            assert!(!report.abnormal_shutdown);
            let put = store.put(&msg(b"hello")).unwrap();
            store.close().unwrap();
            let (store, report) = RocketMqStore::open(root, cfg()).unwrap();
            assert!(!report.abnormal_shutdown);
            let got = store.get(put.physical_offset).unwrap();
            assert_eq!(got.view().unwrap().body, b"hello");
            assert_eq!(store.find_by_key("T", "k1").unwrap(), [got]);
            store.close().unwrap();
            println!("relative root: checked");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The child really ran the checks, and wrote where the relative path points.
        assert!(stdout.contains("relative root: checked"), "{stdout}");
        let pa = dir.path().join("pa");
        assert!(pa.join("commitlog/00000000000000000000").is_file());
        assert!(pa.join("consumequeue/T/0/00000000000000000000").is_file());
        assert!(pa.join("checkpoint").is_file());
        assert!(!pa.join("abort").exists(), "closed cleanly");
    }
}
