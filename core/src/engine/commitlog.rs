//! The RocketMQ CommitLog engine: appends messages, batches and transaction
//! records to `commitlog/` exactly as the reference's `CommitLog` +
//! `DefaultAppendMessageCallback` + `MessageExtEncoder` do, dispatches them into
//! consume queues and IndexFiles, keeps the `checkpoint`, and recovers on open
//! (see [`super::recovery`]).
//!
//! ```text
//! put ──encode──▶ roll rule (blank + next file) ──▶ commitlog write ──▶ [SYNC_FLUSH: sync]
//!                                                        └─▶ consume-queue unit + index keys
//! ```
//!
//! Everything lives behind a [`PageStore`]; time comes in as `now_ms`. Any
//! storage failure while writing latches the engine: every later call returns
//! the error until the store is reopened (and recovered), so a failed sync is
//! never mistaken for durable data.

pub(crate) mod seglog;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use self::seglog::SegLog;
use super::dispatch::{ConsumeQueue, IndexFiles, IndexNamer, QueueKey, RecordRef};
use super::recovery::{RecoveryMode, RecoveryReport};
use crate::codec::checkpoint::StoreCheckpoint;
use crate::codec::consume_queue::CqUnit;
use crate::codec::index_file::{IndexGeometry, IndexHeader};
use crate::codec::message::{
    self, DecodeOptions, Host, MIN_RECORD_LEN, MessageParts, Record, SysFlag, blank_header,
};
use crate::codec::properties::{self, keys};
use crate::error::{DecodeError, EncodeError};
use crate::layout::{Fit, fit, locate};
use crate::store::{LogId, MetaFile, PageStore, SegmentId, StoreError, StoreErrorKind};

/// The offset msgId ([`message::msg_id`]) without `core::fmt`: store host
/// address bytes, port (8 digits) and PHYSICALOFFSET (16 digits), upper-case
/// hex. `core::fmt` made this 16% of a put.
fn offset_msg_id(host: &Host, physical_offset: i64) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(host.addr().len() * 2 + 24);
    let mut hex = |v: u64, digits: u32| {
        for i in (0..digits).rev() {
            s.push(HEX[((v >> (4 * i)) & 15) as usize] as char);
        }
    };
    for &b in host.addr() {
        hex(u64::from(b), 2);
    }
    hex(u64::from(host.port() as u32), 8);
    hex(physical_offset as u64, 16);
    s
}

/// Largest queue offset whose consume-queue position fits a `u64` byte offset.
pub(crate) const MAX_QUEUE_OFFSET: i64 = i64::MAX / 20;

/// Extra bytes a whole record may have beyond `maxMessageSize` (the body limit).
const RECORD_SLACK: usize = 64 * 1024;

/// When a put is acknowledged relative to the disk (`flushDiskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// `SYNC_FLUSH`: a put returns after the commitlog bytes are synced.
    SyncFlush,
    /// `ASYNC_FLUSH`: a put returns at once; [`CommitLog::flush`] syncs.
    AsyncFlush,
}

/// Engine settings, named after `MessageStoreConfig`.
#[derive(Debug, Clone)]
pub struct CommitLogConfig {
    /// `mappedFileSizeCommitLog` (1 GiB).
    pub mapped_file_size_commit_log: u64,
    /// `mappedFileSizeConsumeQueue` (6,000,000; rounded up to a multiple of 20).
    pub mapped_file_size_consume_queue: u64,
    /// `maxHashSlotNum` (5,000,000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (20,000,000).
    pub max_index_num: u32,
    /// `enabledAppendPropCRC` (false): append the `__CRC32#` whole-record CRC.
    pub enabled_append_prop_crc: bool,
    /// `forceVerifyPropCRC` (false): recovery requires the `__CRC32#` property
    /// on every record. Otherwise it is verified where present. Only a store
    /// written entirely with `enabledAppendPropCRC` should turn this on; it is
    /// what makes a torn or flipped header or properties field detectable.
    pub force_verify_prop_crc: bool,
    /// `messageIndexEnable` (true).
    pub message_index_enable: bool,
    /// `maxMessageSize` (4 MiB), a body limit.
    pub max_message_size: usize,
    /// `autoMessageVersionOnTopicLen` (true): V2 magic for topics over 127 bytes.
    pub auto_message_version_on_topic_len: bool,
    /// `flushDiskType` (ASYNC_FLUSH).
    pub flush_disk_type: FlushDiskType,
    /// The broker address stored in every record (`brokerIP1` + listen port).
    pub store_host: Host,
    /// What recovery does with invalid data.
    pub recovery_mode: RecoveryMode,
}

impl Default for CommitLogConfig {
    fn default() -> Self {
        Self {
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            max_hash_slot_num: 5_000_000,
            max_index_num: 5_000_000 * 4,
            enabled_append_prop_crc: false,
            force_verify_prop_crc: false,
            message_index_enable: true,
            max_message_size: 1024 * 1024 * 4,
            auto_message_version_on_topic_len: true,
            flush_disk_type: FlushDiskType::AsyncFlush,
            store_host: Host::V4 {
                addr: [127, 0, 0, 1],
                port: 10911,
            },
            recovery_mode: RecoveryMode::Repair,
        }
    }
}

impl CommitLogConfig {
    /// The consume-queue file size as the reference's getter returns it
    /// (rounded up to a whole number of 20-byte units).
    pub fn consume_queue_file_size(&self) -> u64 {
        self.mapped_file_size_consume_queue.div_ceil(20) * 20
    }
    /// Index slot and entry counts.
    pub fn index_geometry(&self) -> IndexGeometry {
        IndexGeometry {
            slots: self.max_hash_slot_num,
            entries: self.max_index_num,
        }
    }
    fn validate(&self) -> Result<(), EngineError> {
        let bad = |what| Err(EngineError::Config(what));
        if self.mapped_file_size_commit_log < (MIN_RECORD_LEN as u64) + 8
            || self.mapped_file_size_commit_log > i32::MAX as u64
        {
            return bad("mappedFileSizeCommitLog must be between 99 bytes and 2 GiB");
        }
        if self.consume_queue_file_size() == 0 {
            return bad("mappedFileSizeConsumeQueue must be positive");
        }
        if self.max_hash_slot_num == 0 || self.max_index_num < 2 {
            return bad("maxHashSlotNum must be positive and maxIndexNum at least 2");
        }
        Ok(())
    }
}

/// A message to put (`MessageExtBrokerInner` as the store receives it).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Queue id.
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// Body (already compressed if the compression bits are set).
    pub body: &'a [u8],
    /// Serialised properties in the order to store (`key 0x01 value 0x02` ...).
    pub properties: &'a [u8],
    /// SYSFLAG: transaction type, compression and multi-tags bits (the IPv6
    /// bits are derived from the hosts).
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: Host,
    /// Redelivery count.
    pub reconsume_times: i32,
    /// For a transaction COMMIT/ROLLBACK record: the half message's offset.
    pub prepared_transaction_offset: i64,
}

/// One message of a batch (`MessageExtBatch` entry).
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// User flag.
    pub flag: i32,
    /// Body.
    pub body: &'a [u8],
    /// Serialised properties.
    pub properties: &'a [u8],
}

/// A batch put: every message shares topic, queue, hosts and timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Topic (at most 127 bytes).
    pub topic: &'a str,
    /// Queue id.
    pub queue_id: i32,
    /// SYSFLAG (transaction type must be NOT).
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: Host,
    /// Redelivery count.
    pub reconsume_times: i32,
    /// The messages.
    pub messages: &'a [BatchItem<'a>],
}

/// Where a put landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// Physical offset of the first record.
    pub physical_offset: u64,
    /// Bytes written (all records of a batch).
    pub size: u64,
    /// Queue offset of the first record (0 for PREPARED/ROLLBACK).
    pub queue_offset: i64,
    /// Records written.
    pub count: u32,
    /// STORETIMESTAMP written.
    pub store_timestamp: i64,
    /// The bytes are durable (SYNC_FLUSH).
    pub synced: bool,
    /// STOREHOST written (what the offset msgIds are made of).
    pub store_host: Host,
    /// Physical offset of every record when there are several (a batch);
    /// empty for one record, so a single put allocates nothing here.
    batch_offsets: Vec<u64>,
}

impl PutResult {
    /// Physical offset of record `i`, if there is one.
    pub fn record_offset(&self, i: usize) -> Option<u64> {
        if self.batch_offsets.is_empty() {
            (i == 0 && self.count == 1).then_some(self.physical_offset)
        } else {
            self.batch_offsets.get(i).copied()
        }
    }

    /// The offset msgId of record `i` ([`message::msg_id`]), computed on demand.
    pub fn msg_id(&self, i: usize) -> Option<String> {
        self.record_offset(i)
            .map(|o| offset_msg_id(&self.store_host, o as i64))
    }

    /// The offset msgIds, one per record.
    pub fn msg_ids(&self) -> Vec<String> {
        (0..self.count as usize)
            .filter_map(|i| self.msg_id(i))
            .collect()
    }
}

/// Engine failures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The page store failed (an earlier write failure shows as `PreviousIo`).
    Store(StoreError),
    /// A record could not be encoded.
    Encode(EncodeError),
    /// A setting is out of range.
    Config(&'static str),
    /// The request is not allowed (`what` says why).
    Rejected(&'static str),
    /// A message or batch is larger than allowed.
    TooLarge {
        /// What.
        what: &'static str,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A replayed record does not fit where the engine would put it.
    ReplayMismatch {
        /// Which field.
        field: &'static str,
        /// What the engine would assign.
        expected: i64,
        /// What the record carries.
        given: i64,
    },
    /// Nothing is stored at this offset.
    NotFound {
        /// Log.
        log: LogId,
        /// Absolute offset.
        offset: u64,
    },
    /// Stored bytes do not decode.
    Corrupt {
        /// Log.
        log: LogId,
        /// What is wrong, at which absolute offset.
        error: DecodeError,
    },
    /// The files do not have the configured shape.
    Layout(String),
    /// Strict recovery found data it would have to remove.
    Refused(Box<RecoveryReport>),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "storage: {e}"),
            Self::Encode(e) => write!(f, "encoding: {e}"),
            Self::Config(w) => write!(f, "configuration: {w}"),
            Self::Rejected(w) => write!(f, "rejected: {w}"),
            Self::TooLarge { what, len, max } => {
                write!(f, "{what} is {len} bytes, more than {max}")
            }
            Self::ReplayMismatch {
                field,
                expected,
                given,
            } => write!(
                f,
                "replayed record has {field} {given}, but the store would assign {expected}"
            ),
            Self::NotFound { log, offset } => write!(f, "{log}: nothing stored at {offset}"),
            Self::Corrupt { log, error } => write!(f, "{log}: {error}"),
            Self::Layout(m) => write!(f, "store layout: {m}"),
            Self::Refused(r) => write!(f, "strict recovery refused to remove data: {r}"),
        }
    }
}

impl core::error::Error for EngineError {}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<EncodeError> for EngineError {
    fn from(e: EncodeError) -> Self {
        Self::Encode(e)
    }
}

/// The CommitLog engine over a page store.
pub struct CommitLog<S: PageStore> {
    pub(crate) store: S,
    pub(crate) cfg: CommitLogConfig,
    pub(crate) namer: Box<IndexNamer>,
    pub(crate) log: SegLog,
    pub(crate) queues: BTreeMap<(String, i32), ConsumeQueue>,
    pub(crate) index: IndexFiles,
    pub(crate) checkpoint: StoreCheckpoint,
    /// STORETIMESTAMP of the last appended record.
    pub(crate) last_store_ts: i64,
    /// STORETIMESTAMP of the last record given a consume-queue unit.
    pub(crate) last_dispatch_ts: i64,
    failed: Option<StoreError>,
    pub(crate) report: RecoveryReport,
    buf: Vec<u8>,
}

impl<S: PageStore> fmt::Debug for CommitLog<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitLog")
            .field("min", &self.log.min())
            .field("end", &self.log.end)
            .field("synced", &self.log.synced)
            .field("queues", &self.queues.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// A topic names a consume-queue directory: puts refuse one that cannot,
/// before anything is written (see [`crate::topic`]).
impl From<crate::topic::TopicError> for EngineError {
    fn from(e: crate::topic::TopicError) -> Self {
        Self::Rejected(e.reason())
    }
}

/// Removes every `__CRC32#` pair from a serialised properties string, keeping
/// the other bytes as they are.
fn strip_crc_property(props: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(props.len());
    for seg in props.split_inclusive(|&b| b == properties::PROPERTY_SEPARATOR) {
        let key_end = seg
            .iter()
            .position(|&b| b == properties::NAME_VALUE_SEPARATOR)
            .unwrap_or(seg.len());
        if &seg[..key_end] != keys::CRC32.as_bytes() {
            out.extend_from_slice(seg);
        }
    }
    out
}

impl<S: PageStore> CommitLog<S> {
    /// Opens (and recovers) a store. `namer` turns a time in ms into the
    /// 17-digit `yyyyMMddHHmmssSSS` name of a new index file; `now_ms` is the
    /// current time. Afterwards the `abort` marker exists until [`Self::shutdown`].
    pub fn open(
        store: S,
        cfg: CommitLogConfig,
        namer: Box<IndexNamer>,
        now_ms: i64,
    ) -> Result<Self, EngineError> {
        Self::open_with(store, cfg, namer, now_ms, &super::fanout::Sequential)
    }

    /// [`Self::open`] with recovery's per-byte checks (the CRC of every
    /// record) spread over `fanout`'s jobs; the result is the same.
    pub fn open_with(
        store: S,
        cfg: CommitLogConfig,
        namer: Box<IndexNamer>,
        now_ms: i64,
        fanout: &dyn super::fanout::Fanout,
    ) -> Result<Self, EngineError> {
        cfg.validate()?;
        let mut e = Self {
            log: SegLog::new(LogId::CommitLog, cfg.mapped_file_size_commit_log, 0),
            index: IndexFiles::new(cfg.index_geometry()),
            store,
            cfg,
            namer,
            queues: BTreeMap::new(),
            checkpoint: StoreCheckpoint::default(),
            last_store_ts: 0,
            last_dispatch_ts: 0,
            failed: None,
            report: RecoveryReport::default(),
            buf: Vec::new(),
        };
        e.recover(now_ms, fanout)?;
        e.store.write_meta(MetaFile::Abort, Some(b""))?;
        Ok(e)
    }

    /// The report of the recovery done by [`Self::open`].
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }
    /// The page store.
    pub fn store(&self) -> &S {
        &self.store
    }
    /// Gives the page store back without a clean shutdown (as a crash would).
    pub fn into_store(self) -> S {
        self.store
    }
    /// The configuration.
    pub fn config(&self) -> &CommitLogConfig {
        &self.cfg
    }
    /// First stored commitlog offset.
    pub fn min_offset(&self) -> u64 {
        self.log.min()
    }
    /// End of the written commitlog (next record's offset, before any roll).
    pub fn max_offset(&self) -> u64 {
        self.log.end
    }
    /// Everything below this offset is durable.
    pub fn synced_offset(&self) -> u64 {
        self.log.synced
    }
    /// The checkpoint as last written.
    pub fn checkpoint(&self) -> StoreCheckpoint {
        self.checkpoint
    }
    /// Index files and their headers, oldest first.
    pub fn index_files(&self) -> &[(SegmentId, IndexHeader)] {
        self.index.files()
    }
    /// Every consume queue: (topic, queue id, min offset, max offset).
    pub fn queues(&self) -> Vec<(String, i32, i64, i64)> {
        self.queues
            .iter()
            .map(|((t, q), cq)| (t.clone(), *q, cq.min_offset(), cq.max_offset()))
            .collect()
    }
    /// Next queue offset of a queue (0 if it has none).
    pub fn queue_max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue(topic, queue_id)
            .map_or(0, ConsumeQueue::max_offset)
    }

    fn queue(&self, topic: &str, queue_id: i32) -> Option<&ConsumeQueue> {
        self.queues.get(&(topic, queue_id) as &dyn QueueKey)
    }

    fn live(&self) -> Result<(), EngineError> {
        match &self.failed {
            None => Ok(()),
            Some(e) => Err(EngineError::Store(StoreError::new(
                StoreErrorKind::PreviousIo,
                alloc::format!("an earlier write failed ({e}); reopen the store"),
            ))),
        }
    }

    /// Runs a mutation; a storage failure inside latches the engine.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        self.live()?;
        let r = f(self);
        if let Err(EngineError::Store(e)) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn next_queue_offset(&self, topic: &str, queue_id: i32, sys_flag: i32) -> i64 {
        if SysFlag(sys_flag).dispatched_to_queue() {
            self.queue_max_offset(topic, queue_id)
        } else {
            // PREPARED and ROLLBACK records store 0 and take no queue offset.
            0
        }
    }

    fn check_body(&self, len: usize) -> Result<(), EngineError> {
        if len > self.cfg.max_message_size {
            return Err(EngineError::TooLarge {
                what: "message body",
                len: len as u64,
                max: self.cfg.max_message_size as u64,
            });
        }
        Ok(())
    }

    fn check_record_len(&self, len: usize) -> Result<(), EngineError> {
        if len > self.cfg.max_message_size + RECORD_SLACK {
            return Err(EngineError::TooLarge {
                what: "record",
                len: len as u64,
                max: (self.cfg.max_message_size + RECORD_SLACK) as u64,
            });
        }
        Ok(())
    }

    fn encode_into(&mut self, parts: &MessageParts<'_>) -> Result<usize, EngineError> {
        let len = parts.encoded_len();
        self.check_record_len(len)?;
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        let n = parts.encode(&mut self.buf[start..])?;
        Ok(n)
    }

    /// Puts one message (`CommitLog.asyncPutMessage`). The queue offset comes
    /// from the queue's counter (0 for PREPARED/ROLLBACK), the store timestamp is
    /// `now_ms`, the store host comes from the configuration.
    pub fn put(&mut self, msg: &Message<'_>, now_ms: i64) -> Result<PutResult, EngineError> {
        self.live()?;
        crate::topic::check_str(msg.topic)?;
        self.check_body(msg.body.len())?;
        if msg.sys_flag & (SysFlag::INNER_BATCH | SysFlag::NEED_UNWRAP) != 0 {
            return Err(EngineError::Rejected(
                "inner-batch records need a BatchConsumeQueue topic",
            ));
        }
        let props = if self.cfg.enabled_append_prop_crc {
            Cow::Owned(strip_crc_property(msg.properties))
        } else {
            Cow::Borrowed(msg.properties)
        };
        let parts = MessageParts {
            v2: if self.cfg.auto_message_version_on_topic_len {
                None
            } else {
                Some(false)
            },
            body_crc: None,
            queue_id: msg.queue_id,
            flag: msg.flag,
            queue_offset: self.next_queue_offset(msg.topic, msg.queue_id, msg.sys_flag),
            physical_offset: 0,
            sys_flag: msg.sys_flag,
            born_timestamp: msg.born_timestamp,
            born_host: msg.born_host,
            store_timestamp: now_ms,
            store_host: self.cfg.store_host,
            reconsume_times: msg.reconsume_times,
            prepared_transaction_offset: msg.prepared_transaction_offset,
            body: msg.body,
            topic: msg.topic.as_bytes(),
            properties: &props,
            append_prop_crc: self.cfg.enabled_append_prop_crc,
        };
        let len = parts.validate()?;
        self.check_record_len(len)?;
        self.guarded(|e| e.append_in_place(&parts, msg.topic, len))
    }

    /// Appends one record encoded straight into the commitlog (no staging
    /// buffer, no decode of what was just encoded): roll if needed, encode
    /// with its final PHYSICALOFFSET (the `__CRC32#` trailer is stamped over
    /// the final bytes), sync under SYNC_FLUSH, then dispatch from the parts.
    /// `parts` has passed [`MessageParts::validate`] (`len`).
    fn append_in_place(
        &mut self,
        parts: &MessageParts<'_>,
        topic: &str,
        len: usize,
    ) -> Result<PutResult, EngineError> {
        let at = self.landing(len as u64)?;
        if at != self.log.end {
            // Not enough room: an 8-byte BLANK header claims the rest of the file.
            let hdr = blank_header((at - self.log.end) as i32);
            let end = self.log.end;
            self.log.write_at(&self.store, end, &hdr)?;
            self.log.end = at;
        }
        let parts = MessageParts {
            physical_offset: at as i64,
            ..*parts
        };
        self.log
            .write_with(&self.store, at, len, |buf| parts.encode(buf))??;
        if self.cfg.flush_disk_type == FlushDiskType::SyncFlush {
            self.log.sync(&self.store)?;
        }
        // The stored properties are `parts.properties` (plus, with
        // `enabledAppendPropCRC`, a `__CRC32#` pair, which parses apart and
        // is none of the keys read here): the facts equal `RecordRef::of`
        // over the stored record.
        let props = parts.properties;
        let ts = parts.store_timestamp;
        // The three properties dispatch reads, in one pass over the pairs
        // (last occurrence wins, as `properties::get` and Java's map).
        let (mut uniq, mut keys_v, mut tags) = (None, None, None);
        properties::for_each_pair(props, |k, v| {
            if k == keys::UNIQ_KEY.as_bytes() {
                uniq = Some(v);
            } else if k == keys::KEYS.as_bytes() {
                keys_v = Some(v);
            } else if k == keys::TAGS.as_bytes() {
                tags = Some(v);
            }
        });
        let tags_code = if topic.as_bytes() == message::SCHEDULE_TOPIC {
            // Delayed messages: the deliver time (the codec's rule).
            message::tags_code_of(topic.as_bytes(), props, ts)
        } else {
            match tags {
                Some(t) if !t.is_empty() => i64::from(crate::java::bytes_hash(t)),
                _ => 0,
            }
        };
        let meta = RecordRef {
            offset: at,
            size: len as i32,
            topic: Cow::Borrowed(topic),
            queue_id: parts.queue_id,
            queue_offset: parts.queue_offset,
            sys_flag: parts.stored_sys_flag(),
            store_timestamp: ts,
            tags_code,
            uniq_key: uniq.map(String::from_utf8_lossy),
            keys: keys_v.map(String::from_utf8_lossy),
        };
        self.last_store_ts = ts;
        self.dispatch(&meta, 0, ts)?;
        Ok(PutResult {
            physical_offset: at,
            size: len as u64,
            queue_offset: parts.queue_offset,
            count: 1,
            store_timestamp: ts,
            synced: self.cfg.flush_disk_type == FlushDiskType::SyncFlush,
            store_host: self.cfg.store_host,
            batch_offsets: Vec::new(),
        })
    }

    /// Puts a batch (`asyncPutMessages` with `MessageExtBatch`): one ordinary
    /// record per message, consecutive queue offsets, one store timestamp, and
    /// the whole batch moves to the next file if it does not fit.
    pub fn put_batch(&mut self, batch: &Batch<'_>, now_ms: i64) -> Result<PutResult, EngineError> {
        self.live()?;
        if batch.messages.is_empty() {
            return Err(EngineError::Rejected("empty batch"));
        }
        if SysFlag(batch.sys_flag).transaction() != SysFlag::TRANSACTION_NOT {
            return Err(EngineError::Rejected("batches cannot be transactional"));
        }
        if batch.sys_flag & (SysFlag::INNER_BATCH | SysFlag::NEED_UNWRAP) != 0 {
            return Err(EngineError::Rejected(
                "inner-batch records need a BatchConsumeQueue topic",
            ));
        }
        if batch.topic.len() > 127 {
            return Err(EngineError::Rejected(
                "batch topics are limited to 127 bytes",
            ));
        }
        crate::topic::check_str(batch.topic)?;
        // The client batch body: 22 bytes of framing plus body and properties per message.
        let wire: usize = batch
            .messages
            .iter()
            .map(|m| 22 + m.body.len() + m.properties.len())
            .sum();
        self.check_body(wire)?;
        let base = self.queue_max_offset(batch.topic, batch.queue_id);
        self.buf.clear();
        let mut lens = Vec::with_capacity(batch.messages.len());
        for (i, m) in batch.messages.iter().enumerate() {
            let props = if self.cfg.enabled_append_prop_crc {
                strip_crc_property(m.properties)
            } else {
                m.properties.to_vec()
            };
            let parts = MessageParts {
                v2: Some(false),
                body_crc: None,
                queue_id: batch.queue_id,
                flag: m.flag,
                queue_offset: base + i as i64,
                physical_offset: 0,
                sys_flag: batch.sys_flag,
                born_timestamp: batch.born_timestamp,
                born_host: batch.born_host,
                store_timestamp: now_ms,
                store_host: self.cfg.store_host,
                reconsume_times: batch.reconsume_times,
                prepared_transaction_offset: 0,
                body: m.body,
                topic: batch.topic.as_bytes(),
                properties: &props,
                append_prop_crc: self.cfg.enabled_append_prop_crc,
            };
            lens.push(self.encode_into(&parts)?);
        }
        self.guarded(|e| e.append(&lens, true, now_ms))
    }

    /// Puts a record exactly as given (offsets, timestamps, hosts, property
    /// order, BODYCRC when set), for byte-for-byte reproduction of a store. Its
    /// PHYSICALOFFSET must be where the engine puts it, and its QUEUEOFFSET the
    /// queue's next offset (or any offset for a queue with no file yet, which
    /// then starts with `fillPreBlank`).
    pub fn put_replay(&mut self, parts: &MessageParts<'_>) -> Result<PutResult, EngineError> {
        self.live()?;
        crate::topic::check(parts.topic)?;
        self.buf.clear();
        let len = self.encode_into(parts)?;
        let at = self.landing(len as u64)?;
        if parts.physical_offset != at as i64 {
            return Err(EngineError::ReplayMismatch {
                field: "physicalOffset",
                expected: at as i64,
                given: parts.physical_offset,
            });
        }
        if parts.queue_offset < 0 || parts.queue_offset > MAX_QUEUE_OFFSET {
            return Err(EngineError::Rejected("queue offset out of range"));
        }
        let topic = String::from_utf8_lossy(parts.topic);
        if SysFlag(parts.sys_flag).dispatched_to_queue()
            && let Some(q) = self.queue(&topic, parts.queue_id)
            && !(q.log.segs.is_empty() && q.log.end == 0)
            && q.max_offset() != parts.queue_offset
        {
            return Err(EngineError::ReplayMismatch {
                field: "queueOffset",
                expected: q.max_offset(),
                given: parts.queue_offset,
            });
        }
        self.guarded(|e| e.append(&[len], false, parts.store_timestamp))
    }

    /// Ends a transaction whose PREPARED record is at `prepared_offset`: writes a
    /// COMMIT (dispatched and indexed) or ROLLBACK (neither) record carrying
    /// the half message's topic, queue, body and properties.
    pub fn end_transaction(
        &mut self,
        prepared_offset: u64,
        commit: bool,
        now_ms: i64,
    ) -> Result<PutResult, EngineError> {
        let raw = self.read(prepared_offset)?;
        let Ok(Record::Message(m)) = message::decode(&raw, prepared_offset, DecodeOptions::STRICT)
        else {
            return Err(EngineError::Rejected("no message at the prepared offset"));
        };
        if m.sys_flag.transaction() != SysFlag::TRANSACTION_PREPARED {
            return Err(EngineError::Rejected(
                "the record is not a PREPARED message",
            ));
        }
        let topic = m.topic_str().into_owned();
        let props = strip_crc_property(m.properties);
        let tx = if commit {
            SysFlag::TRANSACTION_COMMIT
        } else {
            SysFlag::TRANSACTION_ROLLBACK
        };
        let msg = Message {
            topic: &topic,
            queue_id: m.queue_id,
            flag: m.flag,
            body: m.body,
            properties: &props,
            sys_flag: (m.sys_flag.0 & !SysFlag::TRANSACTION_MASK) | tx,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: prepared_offset as i64,
        };
        self.put(&msg, now_ms)
    }

    /// Where a record of `len` bytes would start (after any roll).
    fn landing(&self, len: u64) -> Result<u64, EngineError> {
        let size = self.cfg.mapped_file_size_commit_log;
        let pos = self.log.end % size;
        match fit(len, pos, size) {
            Fit::Here => Ok(self.log.end),
            Fit::RollAfterBlank { blank_len } => Ok(self.log.end + blank_len),
            Fit::TooLarge => Err(EngineError::TooLarge {
                what: "record (or batch)",
                len,
                max: size - 8,
            }),
        }
    }

    /// Appends the encoded records in `self.buf` (lengths `lens`): roll if
    /// needed, set PHYSICALOFFSET (and, when `assign`, re-stamp the CRC
    /// property), write, sync under SYNC_FLUSH, then dispatch.
    fn append(&mut self, lens: &[usize], assign: bool, ts: i64) -> Result<PutResult, EngineError> {
        let total = self.buf.len() as u64;
        let at = self.landing(total)?;
        if at != self.log.end {
            // Not enough room: an 8-byte BLANK header claims the rest of the file.
            let blank = at - self.log.end;
            let hdr = blank_header(blank as i32);
            let end = self.log.end;
            self.log.write_at(&self.store, end, &hdr)?;
            self.log.end = at;
        }
        let mut off = 0usize;
        for &len in lens {
            let rec = &mut self.buf[off..off + len];
            let phy = at + off as u64;
            if assign {
                let qo = crate::be::i64_at(rec, message::QUEUE_OFFSET_POS).unwrap_or(0);
                message::patch_offsets(rec, qo, phy as i64);
                if self.cfg.enabled_append_prop_crc {
                    message::stamp_prop_crc(rec);
                }
            }
            off += len;
        }
        let buf = core::mem::take(&mut self.buf);
        let r = self.write_and_dispatch(&buf, lens, at, ts);
        self.buf = buf;
        let queue_offset = r?;
        let synced = self.cfg.flush_disk_type == FlushDiskType::SyncFlush;
        let batch_offsets = if lens.len() > 1 {
            lens.iter()
                .scan(at, |o, &len| {
                    let this = *o;
                    *o += len as u64;
                    Some(this)
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(PutResult {
            physical_offset: at,
            size: total,
            queue_offset,
            count: lens.len() as u32,
            store_timestamp: ts,
            synced,
            store_host: self.cfg.store_host,
            batch_offsets,
        })
    }

    fn write_and_dispatch(
        &mut self,
        buf: &[u8],
        lens: &[usize],
        at: u64,
        now_ms: i64,
    ) -> Result<i64, EngineError> {
        self.log.write_at(&self.store, at, buf)?;
        if self.cfg.flush_disk_type == FlushDiskType::SyncFlush {
            self.log.sync(&self.store)?;
        }
        let mut off = 0usize;
        let mut first_qo = 0;
        for (i, &len) in lens.iter().enumerate() {
            let phy = at + off as u64;
            let rec = &buf[off..off + len];
            off += len;
            let Ok(Record::Message(m)) = message::decode(rec, phy, DecodeOptions::LENIENT) else {
                // The encoder produced these bytes; failing to decode them is a bug.
                return Err(EngineError::Rejected("encoded record does not decode"));
            };
            let meta = RecordRef::of(&m, phy);
            if i == 0 {
                first_qo = meta.queue_offset;
            }
            self.last_store_ts = meta.store_timestamp;
            self.dispatch(&meta, 0, now_ms)?;
        }
        Ok(first_qo)
    }

    /// Writes the consume-queue unit and index keys of one record.
    pub(crate) fn dispatch(
        &mut self,
        meta: &RecordRef<'_>,
        skip_keys: usize,
        now_ms: i64,
    ) -> Result<(), EngineError> {
        if meta.to_queue() {
            let key = (&*meta.topic, meta.queue_id);
            match self.queues.get_mut(&key as &dyn QueueKey) {
                Some(q) => {
                    q.put(&self.store, meta.queue_offset, meta.unit())?;
                }
                None => {
                    let cq_size = self.cfg.consume_queue_file_size();
                    let mut q = ConsumeQueue::new(&meta.topic, meta.queue_id, cq_size);
                    let r = q.put(&self.store, meta.queue_offset, meta.unit());
                    // Known from now on even if the put failed (as before).
                    self.queues
                        .insert((meta.topic.to_string(), meta.queue_id), q);
                    r?;
                }
            }
            self.last_dispatch_ts = meta.store_timestamp;
        }
        if self.cfg.message_index_enable {
            let skip_old = self
                .index
                .files
                .last()
                .is_some_and(|(_, h)| (meta.offset as i64) < h.end_phy_offset);
            if !skip_old {
                self.index
                    .build_ref(&self.store, meta, skip_keys, &mut *self.namer, now_ms)?;
            }
        }
        Ok(())
    }

    /// Makes everything durable (commitlog, consume queues, active index file)
    /// and writes the checkpoint.
    pub fn flush(&mut self) -> Result<(), EngineError> {
        self.guarded(|e| {
            e.log.sync(&e.store)?;
            for q in e.queues.values_mut() {
                q.log.sync(&e.store)?;
            }
            e.index.sync(&e.store)?;
            e.write_checkpoint()
        })
    }

    pub(crate) fn write_checkpoint(&mut self) -> Result<(), EngineError> {
        if self.last_store_ts > 0 {
            self.checkpoint.physic_msg_timestamp = self.last_store_ts;
        }
        if self.last_dispatch_ts > 0 {
            self.checkpoint.logics_msg_timestamp = self.last_dispatch_ts;
        }
        self.checkpoint.index_msg_timestamp = self.index.sealed_timestamp;
        self.store
            .write_meta(MetaFile::StoreCheckpoint, Some(&self.checkpoint.encode()))?;
        // After the index sync it describes; only when it moved.
        if let Some(p) = self.index.sync_point()
            && self.index.sync_point_written != Some(p)
        {
            self.store
                .write_meta(MetaFile::IndexSyncPoint, Some(&p.encode()))?;
            self.index.sync_point_written = Some(p);
        }
        Ok(())
    }

    /// Clean shutdown: flush, then remove the `abort` marker.
    pub fn shutdown(mut self) -> Result<S, EngineError> {
        self.flush()?;
        self.store.write_meta(MetaFile::Abort, None)?;
        Ok(self.store)
    }

    /// Deletes up to `max_files` of the oldest commitlog files (never the one
    /// being written), then the consume-queue files whose last unit points
    /// below the new minimum and the index files (never the last) whose
    /// `endPhyOffset` is below it (`deleteExpiredFile*`, `CleanConsumeQueueService`).
    /// Returns the number of commitlog files deleted.
    pub fn delete_head_files(&mut self, max_files: usize) -> Result<usize, EngineError> {
        self.guarded(|e| {
            let size = e.cfg.mapped_file_size_commit_log;
            let active = e.log.end - e.log.end % size;
            let mut n = 0;
            while n < max_files && e.log.segs.len() > 1 && e.log.segs[0] < active {
                e.log.remove_first(&e.store)?;
                n += 1;
            }
            let min = e.log.min() as i64;
            for q in e.queues.values_mut() {
                while q.log.segs.len() > 1 {
                    let last_unit = q.log.segs[0] + q.log.file_size - 20;
                    let mut b = [0u8; 20];
                    q.log.read_at(&e.store, last_unit, &mut b)?;
                    match CqUnit::decode(&b) {
                        Some(u)
                            if u.physical_offset.saturating_add(i64::from(u.size.max(0)))
                                <= min =>
                        {
                            q.log.remove_first(&e.store)?;
                        }
                        _ => break,
                    }
                }
            }
            while e.index.files.len() > 1 && e.index.files[0].1.end_phy_offset < min {
                e.store.remove(&LogId::IndexFile, e.index.files[0].0)?;
                e.store.sync_dir(&LogId::IndexFile)?;
                e.index.files.remove(0);
            }
            Ok(n)
        })
    }

    /// Reads the whole record at `offset`, checked strictly (CRCs, stored
    /// physical offset, lengths).
    pub fn read(&self, offset: u64) -> Result<Vec<u8>, EngineError> {
        let not_found = || EngineError::NotFound {
            log: LogId::CommitLog,
            offset,
        };
        if offset < self.log.min() || offset >= self.log.end {
            return Err(not_found());
        }
        let size = self.cfg.mapped_file_size_commit_log;
        let loc = locate(offset, size).ok_or_else(not_found)?;
        let mut head = [0u8; 8];
        if loc.pos + 8 > size {
            return Err(not_found());
        }
        self.log.read_at(&self.store, offset, &mut head)?;
        let total = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let room = size - loc.pos;
        if total < MIN_RECORD_LEN as i32 || total as u64 > room {
            return Err(not_found());
        }
        let mut rec = vec![0u8; total as usize];
        self.log.read_at(&self.store, offset, &mut rec)?;
        match message::decode(&rec, offset, DecodeOptions::STRICT) {
            Ok(Record::Message(_)) => Ok(rec),
            Ok(Record::Blank { .. }) => Err(not_found()),
            Err(error) => Err(EngineError::Corrupt {
                log: LogId::CommitLog,
                error,
            }),
        }
    }

    /// The consume-queue unit at `queue_offset` (fillers included), if stored.
    pub fn queue_unit(
        &self,
        topic: &str,
        queue_id: i32,
        queue_offset: i64,
    ) -> Result<Option<CqUnit>, EngineError> {
        match self.queue(topic, queue_id) {
            Some(q) => Ok(q.unit(&self.store, queue_offset)?),
            None => Ok(None),
        }
    }

    /// The record at (`topic`, `queue_id`, `queue_offset`), if stored (not a
    /// filler, and not below the commitlog minimum).
    pub fn read_by_queue(
        &self,
        topic: &str,
        queue_id: i32,
        queue_offset: i64,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let Some(u) = self.queue_unit(topic, queue_id, queue_offset)? else {
            return Ok(None);
        };
        if u.is_filler() || u.physical_offset < self.log.min() as i64 {
            return Ok(None);
        }
        self.read(u.physical_offset as u64).map(Some)
    }

    /// Index look-up as `IndexService.queryOffset` does it: offsets whose key
    /// hash matches, stored within `[begin, end]` ms, newest file first, at
    /// most `max` (hash collisions included).
    pub fn query_offsets(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Result<Vec<i64>, EngineError> {
        Ok(self.index.query(&self.store, topic, key, max, begin, end)?)
    }

    /// Offsets of the stored records of `topic` whose `UNIQ_KEY` or one of
    /// whose `KEYS` is `key`, ascending (index hits re-checked against the
    /// records, so collisions and expired records are dropped).
    pub fn find_by_key(&self, topic: &str, key: &str) -> Result<Vec<u64>, EngineError> {
        Ok(self
            .find_records_by_key(topic, key)?
            .into_iter()
            .map(|(o, _)| o)
            .collect())
    }

    /// [`Self::find_by_key`] with each record's bytes (read and checked once).
    pub fn find_records_by_key(
        &self,
        topic: &str,
        key: &str,
    ) -> Result<Vec<(u64, Vec<u8>)>, EngineError> {
        let hits = self.query_offsets(topic, key, usize::MAX, 0, i64::MAX)?;
        let mut out = Vec::new();
        for h in hits {
            if h < self.log.min() as i64 || h as u64 >= self.log.end {
                continue;
            }
            let raw = self.read(h as u64)?;
            if let Ok(Record::Message(m)) = message::decode(&raw, h as u64, DecodeOptions::LENIENT)
            {
                let meta = RecordRef::of(&m, h as u64);
                // As comparing `index_key(meta.topic, k)` with `index_key(topic, key)`.
                let same = |t: &str, k: &str| {
                    let hash = core::iter::once(&b'#');
                    t.len() + k.len() == topic.len() + key.len()
                        && t.as_bytes()
                            .iter()
                            .chain(hash.clone())
                            .chain(k.as_bytes())
                            .eq(topic.as_bytes().iter().chain(hash).chain(key.as_bytes()))
                };
                if meta.to_index() && meta.key_suffixes().any(|k| same(&meta.topic, k)) {
                    out.push((h as u64, raw));
                }
            }
        }
        out.sort_unstable_by_key(|r| r.0);
        out.dedup_by_key(|r| r.0);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;

    fn cfg() -> CommitLogConfig {
        CommitLogConfig {
            mapped_file_size_commit_log: 1024,
            mapped_file_size_consume_queue: 100,
            max_hash_slot_num: 8,
            max_index_num: 8,
            ..CommitLogConfig::default()
        }
    }

    fn namer() -> Box<IndexNamer> {
        Box::new(|ms| 20_000_000_000_000_000 + ms as u64)
    }

    fn msg<'a>(topic: &'a str, q: i32, body: &'a [u8], props: &'a [u8]) -> Message<'a> {
        Message {
            topic,
            queue_id: q,
            flag: 0,
            body,
            properties: props,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: Host::V4 {
                addr: [10, 0, 0, 1],
                port: 5000,
            },
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }

    #[test]
    fn offset_msg_id_matches_the_codec() {
        for (h, off) in [
            (
                Host::V4 {
                    addr: [10, 0, 255, 1],
                    port: 10911,
                },
                0i64,
            ),
            (
                Host::V4 {
                    addr: [1, 2, 3, 4],
                    port: -1,
                },
                i64::MAX,
            ),
            (
                Host::V6 {
                    addr: [0xab; 16],
                    port: 7,
                },
                -5,
            ),
        ] {
            assert_eq!(offset_msg_id(&h, off), message::msg_id(&h, off));
        }
    }

    #[test]
    fn put_rolls_dispatches_and_reads_back() {
        let mut e = CommitLog::open(MemStore::new(), cfg(), namer(), 1000).unwrap();
        let body = [7u8; 300];
        let mut offs = vec![];
        for i in 0..8 {
            let r = e
                .put(&msg("T", 1, &body, b"KEYS\x01k1 k2\x02"), 1000 + i)
                .unwrap();
            assert_eq!(r.queue_offset, i);
            offs.push(r.physical_offset);
        }
        // 300 + 91 + 1 + 11 = 403 bytes: two per 1024-byte file, then a blank.
        assert_eq!(offs[..4], [0, 403, 1024, 1427]);
        for (i, &o) in offs.iter().enumerate() {
            let raw = e.read(o).unwrap();
            assert_eq!(raw.len(), 403);
            let r = e.read_by_queue("T", 1, i as i64).unwrap().unwrap();
            assert_eq!(r, raw);
        }
        assert_eq!(e.find_by_key("T", "k2").unwrap(), offs);
        assert!(e.index_files().len() >= 2, "8 entries per file: rolled");
        assert!(e.read(5).is_err(), "not a record start");
        assert!(e.read(10_000).is_err());
    }

    #[test]
    fn prop_crc_is_stamped_after_offsets() {
        let c = CommitLogConfig {
            enabled_append_prop_crc: true,
            ..cfg()
        };
        let mut e = CommitLog::open(MemStore::new(), c, namer(), 1).unwrap();
        e.put(
            &msg("T", 0, b"x", b"A\x01b\x02__CRC32#\x010000000000\x02"),
            5,
        )
        .unwrap();
        let r = e.put(&msg("T", 0, b"y", b"A\x01b"), 6).unwrap();
        let raw = e.read(r.physical_offset).unwrap();
        let Ok(Record::Message(m)) = message::decode(
            &raw,
            r.physical_offset,
            DecodeOptions {
                prop_crc: message::PropCrcCheck::Require,
                ..DecodeOptions::STRICT
            },
        ) else {
            panic!()
        };
        assert_eq!(&m.properties[..4], b"A\x01b\x02");
        let first = e.read(0).unwrap();
        assert_eq!(first.windows(8).filter(|w| w == b"__CRC32#").count(), 1);
    }
}
