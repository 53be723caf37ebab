//! The CommitLog engine: open (and recover) over an arbitrary store, read
//! what it kept, append one message, shut down cleanly and reopen. The
//! DLedger engine has its own target (`dledger_engine.rs`).

use core::cell::Cell;
use core::ops::Range;
use rocketlog_core::codec::index_file::IndexGeometry;
use rocketlog_core::codec::message::Host;
use rocketlog_core::engine::commitlog::{CommitLog, CommitLogConfig, FlushDiskType, Message};
use rocketlog_core::engine::recovery::RecoveryMode;

use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError,
};

use super::input::StoreSpec;

/// Names for new index files: the time, made strictly increasing.
fn namer() -> Box<dyn FnMut(i64) -> u64 + Send> {
    let mut last = 0u64;
    Box::new(move |ms: i64| {
        last = (ms.max(0) as u64).max(last + 1);
        last
    })
}

const NOW: i64 = 1_763_700_000_000;

/// Most bytes of new segments the engine may create over one fuzz store
/// (whose own segments total at most 8 MiB, each file at most 1 MiB).
pub const CREATE_CAP: u64 = 64 << 20;

/// A [`MemStore`] that panics when the engine creates more than
/// [`CREATE_CAP`] bytes of segments: an allocation sized by an untrusted
/// field then fails with a message instead of exhausting memory.
#[derive(Debug)]
pub struct CappedStore {
    inner: MemStore,
    created: Cell<u64>,
}

impl CappedStore {
    /// Wraps `inner`.
    pub fn new(inner: MemStore) -> Self {
        Self {
            inner,
            created: Cell::new(0),
        }
    }
}

impl PageRead for CappedStore {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.inner.logs(like)
    }
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.inner.segments(log)
    }
    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        self.inner.read(log, seg, pos, out)
    }
    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.inner.with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read_meta(file)
    }
}

impl PageStore for CappedStore {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        let total = self.created.get().saturating_add(len);
        assert!(
            total <= CREATE_CAP,
            "unbounded growth: creating {log} segment {seg} ({len} bytes) brings the engine's new segments to {total} bytes"
        );
        self.created.set(total);
        self.inner.create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.inner.write(log, seg, pos, data)
    }
    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        self.inner.sync(log, seg, range)
    }
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.inner.remove(log, seg)
    }
    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.inner.sync_dir(log)
    }
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.inner.write_meta(file, contents)
    }
}

fn config(spec: &StoreSpec) -> CommitLogConfig {
    let len = |f: &dyn Fn(&LogId) -> bool| spec.segments.iter().find(|s| f(&s.log)).map(|s| s.len);
    let cl = len(&|l| *l == LogId::CommitLog)
        .unwrap_or(4096)
        .clamp(128, 1 << 20);
    let cq = len(&|l| matches!(l, LogId::ConsumeQueue { .. }))
        .unwrap_or(120)
        .clamp(20, 1 << 16);
    let ix = len(&|l| *l == LogId::IndexFile)
        .and_then(IndexGeometry::guess)
        .filter(|g| g.slots <= 4096 && g.entries >= 2 && g.entries <= 16384)
        .unwrap_or(IndexGeometry {
            slots: 16,
            entries: 64,
        });
    CommitLogConfig {
        mapped_file_size_commit_log: cl,
        mapped_file_size_consume_queue: cq,
        max_hash_slot_num: ix.slots,
        max_index_num: ix.entries,
        max_message_size: 4096,
        flush_disk_type: if spec.flags & 0x10 != 0 {
            FlushDiskType::SyncFlush
        } else {
            FlushDiskType::AsyncFlush
        },
        recovery_mode: if spec.flags & 0x20 != 0 {
            RecoveryMode::Strict
        } else {
            RecoveryMode::Repair
        },
        store_host: Host::V4 {
            addr: [127, 0, 0, 1],
            port: 10911,
        },
        ..CommitLogConfig::default()
    }
}

/// Opens the engine over the store. When it opens: every queue unit in
/// range reads back (or errs, never panics), one appended message reads back
/// and is found by key, and after a clean shutdown a reopen keeps it.
/// Hostile QUEUEOFFSETs (negative, huge, or far past the queue's end) must
/// neither panic nor make the engine create more than [`CREATE_CAP`] bytes.
pub fn recover_engine(data: &[u8]) {
    let spec = StoreSpec::parse(data);
    let store = CappedStore::new(spec.mem());
    let cfg = config(&spec);
    let Ok(mut e) = CommitLog::open(store, cfg.clone(), namer(), NOW) else {
        return;
    };
    assert!(e.min_offset() <= e.max_offset().max(e.min_offset()));
    let _ = e.recovery_report();
    for (topic, qid, min, max) in e.queues() {
        let hi = max.min(min.saturating_add(32));
        for qo in min..hi {
            let _ = e.read_by_queue(&topic, qid, qo);
        }
        let _ = e.queue_unit(&topic, qid, -1);
        let _ = e.queue_unit(&topic, qid, i64::MAX);
    }
    let _ = e.read(e.min_offset());
    let _ = e.find_by_key("TopicA", "k1");

    let msg = Message {
        topic: "TopicA",
        queue_id: 0,
        flag: 0,
        body: b"fuzz body",
        properties: b"KEYS\x01fuzzkey\x02UNIQ_KEY\x01FUZZUNIQ\x02",
        sys_flag: 0,
        born_timestamp: NOW,
        born_host: Host::V4 {
            addr: [10, 0, 0, 1],
            port: 5000,
        },
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    };
    let Ok(put) = e.put(&msg, NOW) else {
        return;
    };
    let rec = e
        .read(put.physical_offset)
        .expect("a message just put reads back");
    assert_eq!(rec.len() as u64, put.size);
    // Java's look-up only sees an entry whose time (`beginTimestamp` +
    // `timeDiff`) lies in [0, now]: an index file begun by a record with a
    // hostile (negative or future) store timestamp hides new keys, as in Java.
    let sane_index = e
        .index_files()
        .last()
        .is_some_and(|(_, h)| (0..=put.store_timestamp).contains(&h.begin_timestamp));
    if let Ok(hits) = e.find_by_key("TopicA", "fuzzkey")
        && sane_index
    {
        assert!(
            hits.contains(&put.physical_offset),
            "key of the message just put not found"
        );
    }
    let end = e.max_offset();
    let Ok(store) = e.shutdown() else {
        return;
    };
    let e2 = CommitLog::open(store, cfg, namer(), NOW + 1)
        .expect("a store the engine shut down cleanly reopens");
    assert_eq!(e2.max_offset(), end, "clean reopen moved the end");
    assert_eq!(
        e2.read(put.physical_offset).as_deref().ok(),
        Some(&rec[..]),
        "the message put before a clean shutdown is lost or changed"
    );
}
