//! Where each log and meta file of a store lives on disk.

use std::path::{Path, PathBuf};

use rocketlog_core::layout;
use rocketlog_core::store::{LogId, MetaFile, SegmentId};

/// The on-disk layout of one writable store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A RocketMQ store root (`storePathRootDir`).
    RocketMq {
        /// The root: `commitlog/`, `consumequeue/`, `index/`, `checkpoint`, `abort`, `lock`.
        root: PathBuf,
    },
    /// A DLedger member directory, `<storeBaseDir>/dledger-<selfId>`.
    DLedger {
        /// The member directory: `data/`, `index/`, `checkpoint`, `currterm`, `lock`.
        dir: PathBuf,
    },
}

impl Layout {
    /// A RocketMQ store rooted at `root`.
    pub fn rocketmq(root: impl Into<PathBuf>) -> Self {
        Self::RocketMq { root: root.into() }
    }

    /// The DLedger member `self_id` under `store_base_dir`
    /// (`<store_base_dir>/dledger-<self_id>`).
    pub fn dledger(store_base_dir: impl AsRef<Path>, self_id: &str) -> Self {
        Self::DLedger {
            dir: store_base_dir.as_ref().join(format!("dledger-{self_id}")),
        }
    }

    /// The directory everything lives in (and the `lock` file's directory).
    pub fn dir(&self) -> &Path {
        match self {
            Self::RocketMq { root } => root,
            Self::DLedger { dir } => dir,
        }
    }

    /// The lock file (`<dir>/lock`).
    pub fn lock_path(&self) -> PathBuf {
        self.dir().join("lock")
    }

    /// The directory of a log's segments, `None` if this kind of store has no
    /// such log, or if the topic of a queue cannot name a directory inside
    /// `consumequeue/` (`..`, `/`, an absolute path, NUL: see
    /// [`rocketlog_core::topic`]); joining it would leave the store.
    pub fn log_dir(&self, log: &LogId) -> Option<PathBuf> {
        if let LogId::ConsumeQueue { topic, .. } | LogId::BatchConsumeQueue { topic, .. } = log
            && rocketlog_core::topic::check(topic.as_bytes()).is_err()
        {
            return None;
        }
        match (self, log) {
            (Self::RocketMq { root }, LogId::CommitLog) => Some(root.join("commitlog")),
            (Self::RocketMq { root }, LogId::IndexFile) => Some(root.join("index")),
            (Self::RocketMq { root }, LogId::ConsumeQueue { topic, queue_id }) => Some(
                root.join("consumequeue")
                    .join(topic)
                    .join(queue_id.to_string()),
            ),
            (Self::RocketMq { root }, LogId::BatchConsumeQueue { topic, queue_id }) => Some(
                root.join("batchconsumequeue")
                    .join(topic)
                    .join(queue_id.to_string()),
            ),
            (Self::DLedger { dir }, LogId::DLedgerData) => Some(dir.join("data")),
            (Self::DLedger { dir }, LogId::DLedgerIndex) => Some(dir.join("index")),
            _ => None,
        }
    }

    /// The path of a meta file, `None` if this kind of store has none.
    pub fn meta_path(&self, file: MetaFile) -> Option<PathBuf> {
        match (self, file) {
            (Self::RocketMq { root }, MetaFile::StoreCheckpoint) => Some(root.join("checkpoint")),
            (Self::RocketMq { root }, MetaFile::Abort) => Some(root.join("abort")),
            (Self::RocketMq { root }, MetaFile::IndexSyncPoint) => {
                Some(root.join(".rocketlog-index-sync"))
            }
            (Self::DLedger { dir }, MetaFile::DLedgerCheckpoint) => Some(dir.join("checkpoint")),
            (Self::DLedger { dir }, MetaFile::CurrTerm) => Some(dir.join("currterm")),
            (Self::DLedger { dir }, MetaFile::Abort) => Some(dir.join("abort")),
            _ => None,
        }
    }

    /// The file name of a segment: 17-digit time for index files, else the 20-digit offset.
    pub fn segment_name(log: &LogId, seg: SegmentId) -> String {
        match log {
            LogId::IndexFile => format!("{seg:017}"),
            _ => layout::file_name(seg),
        }
    }

    /// Parses a segment file name of `log`.
    pub fn parse_segment_name(log: &LogId, name: &str) -> Option<SegmentId> {
        match log {
            LogId::IndexFile => layout::parse_index_file_name(name),
            _ => layout::parse_file_name(name),
        }
    }

    /// Every log directory this store could have that holds segments, found on disk
    /// (consume queues are enumerated).
    pub(crate) fn fixed_logs(&self) -> &'static [LogId] {
        match self {
            Self::RocketMq { .. } => &[LogId::CommitLog, LogId::IndexFile],
            Self::DLedger { .. } => &[LogId::DLedgerData, LogId::DLedgerIndex],
        }
    }
}
