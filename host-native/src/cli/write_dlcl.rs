//! Writing a RocketMQ store in DLedger commitlog mode (`DLedgerCommitLog`):
//! one message per DLedger entry in `<root>/dledger-<id>/`, with the usual
//! `consumequeue/`, `index/` and `checkpoint` next to it. Used by
//! `append` (new stores, and `--replay --like` of such a store) and
//! `convert --to dledger`.
//!
//! The DLedger engine writes the entries (in commitlog mode it patches each
//! message's PHYSICALOFFSET to `pos + 48`); each message is then dispatched to
//! its consume queue and the IndexFile exactly as the CommitLog engine does.
//! Only new stores can be written this way: the consume-queue state of an
//! existing DLedger-mode store is not rebuilt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rocketlog_core::codec::checkpoint::StoreCheckpoint;
use rocketlog_core::codec::dledger::{EntryParts, HEADER_LEN};
use rocketlog_core::codec::index_file::IndexGeometry;
use rocketlog_core::codec::message::{self, DecodeOptions, MessageParts, Record, SysFlag};
use rocketlog_core::engine::dispatch::{ConsumeQueue, IndexFiles, IndexNamer, RecordMeta};
use rocketlog_core::engine::dledger::{Appended, CrcMode, DLedger, DLedgerConfig};
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError,
};

use crate::store::{DiskStore, Layout, StoreLock, os};

/// The two halves of a DLedger-mode store as one page store: DLedger logs and
/// meta files go to `dledger-<id>/`, everything else to the RocketMQ root.
#[derive(Clone)]
pub(crate) struct Split {
    rmq: DiskStore,
    dl: DiskStore,
}

impl Split {
    fn pick_log(&self, log: &LogId) -> &DiskStore {
        match log {
            LogId::DLedgerData | LogId::DLedgerIndex => &self.dl,
            _ => &self.rmq,
        }
    }
    fn pick_meta(&self, file: MetaFile) -> &DiskStore {
        match file {
            MetaFile::DLedgerCheckpoint | MetaFile::CurrTerm => &self.dl,
            _ => &self.rmq,
        }
    }
}

impl PageRead for Split {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.pick_log(like).logs(like)
    }
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.pick_log(log).segments(log)
    }
    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        self.pick_log(log).read(log, seg, pos, out)
    }
    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.pick_log(log).with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.pick_meta(file).read_meta(file)
    }
}

impl PageStore for Split {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.pick_log(log).create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.pick_log(log).write(log, seg, pos, data)
    }
    fn sync(
        &self,
        log: &LogId,
        seg: SegmentId,
        range: core::ops::Range<u64>,
    ) -> Result<(), StoreError> {
        self.pick_log(log).sync(log, seg, range)
    }
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.pick_log(log).remove(log, seg)
    }
    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.pick_log(log).sync_dir(log)
    }
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.pick_meta(file).write_meta(file, contents)
    }
}

/// File sizes of a DLedger-mode store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DlclSizes {
    pub(crate) data_file_size: u64,
    pub(crate) index_file_size: u64,
    pub(crate) consume_queue_file_size: u64,
    pub(crate) index: IndexGeometry,
}

/// A new DLedger-mode RocketMQ store being written.
pub(crate) struct DlclWriter {
    store: Split,
    engine: DLedger<Split>,
    queues: BTreeMap<(String, i32), ConsumeQueue>,
    index: IndexFiles,
    namer: Box<IndexNamer>,
    cq_size: u64,
    last_store_ts: i64,
    buf: Vec<u8>,
    _locks: (StoreLock, StoreLock),
}

/// `<root>/dledger-<id>`.
pub(crate) fn member_dir(root: &Path, self_id: &str) -> PathBuf {
    root.join(format!("dledger-{self_id}"))
}

impl DlclWriter {
    /// Creates the store under `root` (which must not hold a store yet).
    pub(crate) fn create(
        root: &Path,
        self_id: &str,
        sizes: DlclSizes,
        namer: Box<IndexNamer>,
    ) -> anyhow::Result<Self> {
        for d in ["commitlog", "consumequeue", "index"] {
            if root.join(d).exists() {
                bail!(
                    "{}: already holds a store ({d}/ exists); DLedger-mode stores can only be written new",
                    root.display()
                );
            }
        }
        if member_dir(root, self_id).join("data").exists() {
            bail!(
                "{}: already holds a DLedger store; DLedger-mode stores can only be written new",
                root.display()
            );
        }
        let rl = Layout::rocketmq(root);
        let dl = Layout::dledger(root, self_id);
        crate::store::create_root(dl.dir())?;
        let l1 = StoreLock::acquire(&rl.lock_path())?;
        let l2 = StoreLock::acquire(&dl.lock_path())?;
        let store = Split {
            rmq: DiskStore::new(rl),
            dl: DiskStore::new(dl),
        };
        let cfg = DLedgerConfig {
            data_file_size: sizes.data_file_size,
            index_file_size: sizes.index_file_size,
            // As RocketMQ writes them (Java never fills the DLedger CRCs).
            crc: CrcMode::JavaZeros,
            commitlog_mode: true,
            ..DLedgerConfig::default()
        };
        let (engine, _report) =
            DLedger::open(store.clone(), cfg).context("cannot open the DLedger half")?;
        store.write_meta(MetaFile::Abort, Some(b""))?;
        Ok(Self {
            store,
            engine,
            queues: BTreeMap::new(),
            index: IndexFiles::new(sizes.index),
            namer,
            cq_size: sizes.consume_queue_file_size.div_ceil(20) * 20,
            last_store_ts: 0,
            buf: Vec::new(),
            _locks: (l1, l2),
        })
    }

    /// Next queue offset of a queue.
    pub(crate) fn queue_max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queues
            .get(&(topic.to_owned(), queue_id))
            .map_or(0, ConsumeQueue::max_offset)
    }

    /// Appends a message as the leader: the queue offset is the queue's next
    /// (for records that go to a queue), PHYSICALOFFSET the entry's `pos + 48`;
    /// every other field is kept as given.
    pub(crate) fn put(&mut self, parts: &MessageParts<'_>) -> anyhow::Result<(Appended, i64)> {
        // Before anything is written: the topic names a directory.
        rocketlog_core::topic::check(parts.topic)?;
        let topic = String::from_utf8_lossy(parts.topic).into_owned();
        let qo = if SysFlag(parts.sys_flag).dispatched_to_queue() {
            self.queue_max_offset(&topic, parts.queue_id)
        } else {
            0
        };
        let p = MessageParts {
            queue_offset: qo,
            physical_offset: 0,
            ..*parts
        };
        self.buf.clear();
        self.buf.resize(p.encoded_len(), 0);
        let n = p.encode(&mut self.buf)?;
        self.buf.truncate(n);
        let a = self.engine.append_as_leader(&self.buf)?;
        self.dispatch(&a)?;
        Ok((a, qo))
    }

    /// Appends an entry exactly as given (its body one message record).
    pub(crate) fn put_entry(&mut self, e: &EntryParts<'_>) -> anyhow::Result<Appended> {
        match message::decode(
            e.body,
            u64::try_from(e.pos)? + HEADER_LEN as u64,
            DecodeOptions::LENIENT,
        ) {
            Ok(Record::Message(m)) if m.total_size as usize == e.body.len() => {
                rocketlog_core::topic::check(m.topic)?;
            }
            _ => bail!("entry {}: body is not one commitlog record", e.index),
        }
        let a = self.engine.append_as_follower(e)?;
        self.dispatch(&a)?;
        Ok(a)
    }

    fn dispatch(&mut self, a: &Appended) -> anyhow::Result<()> {
        let raw = self.engine.get(a.index)?;
        let at = a.pos + HEADER_LEN as u64;
        let Some(body) = raw.get(HEADER_LEN..) else {
            bail!("entry {} is shorter than its header", a.index);
        };
        let Ok(Record::Message(m)) = message::decode(body, at, DecodeOptions::LENIENT) else {
            bail!("entry {}: body is not one commitlog record", a.index);
        };
        let meta = RecordMeta::of(&m, at);
        if meta.to_queue() {
            let q = self
                .queues
                .entry((meta.topic.clone(), meta.queue_id))
                .or_insert_with(|| ConsumeQueue::new(&meta.topic, meta.queue_id, self.cq_size));
            q.put(&self.store, meta.queue_offset, meta.unit())?;
        }
        self.index
            .build(&self.store, &meta, 0, &mut *self.namer, os::now_ms())?;
        self.last_store_ts = meta.store_timestamp;
        Ok(())
    }

    /// Makes everything durable: entries (data, then index), consume queues,
    /// the IndexFile, the DLedger checkpoint (committed = everything) and the
    /// RocketMQ checkpoint.
    pub(crate) fn flush(&mut self) -> anyhow::Result<()> {
        self.engine.flush_all()?;
        if self.engine.end_index() >= 0 {
            let (term, end) = (self.engine.end_term(), self.engine.end_index());
            self.engine.update_committed(term, end)?;
        }
        self.engine.persist_checkpoint()?;
        for q in self.queues.values_mut() {
            q.sync(&self.store)?;
        }
        self.index.sync(&self.store)?;
        let cp = StoreCheckpoint {
            physic_msg_timestamp: self.last_store_ts,
            logics_msg_timestamp: self.last_store_ts,
            index_msg_timestamp: self.index.sealed_timestamp,
            ..StoreCheckpoint::default()
        };
        self.store
            .write_meta(MetaFile::StoreCheckpoint, Some(&cp.encode()))?;
        Ok(())
    }

    /// Sets the current term (written to `currterm`).
    pub(crate) fn set_term(&mut self, term: i64, vote: Option<&str>) -> anyhow::Result<()> {
        self.engine.set_term(term, vote)?;
        Ok(())
    }

    /// Flushes and removes the `abort` marker (clean shutdown).
    pub(crate) fn close(mut self) -> anyhow::Result<()> {
        self.flush()?;
        self.store.write_meta(MetaFile::Abort, None)?;
        Ok(())
    }
}
