//! Store settings named after the reference's (`MessageStoreConfig`,
//! `DLedgerConfig`), with the reference's defaults.

use std::path::PathBuf;

use rocketlog_core::codec::message::Host;
use rocketlog_core::engine::commitlog::{CommitLogConfig, FlushDiskType as CoreFlush};
use rocketlog_core::engine::dledger::{CrcMode, DLedgerConfig as CoreDLedger};
use rocketlog_core::engine::expiry::{DLedgerClean, RocketMqClean};
use rocketlog_core::engine::flush::{FlushMode, FlushPolicy};

/// `flushDiskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// `SYNC_FLUSH`: a put returns once its bytes are durable (group commit).
    SyncFlush,
    /// `ASYNC_FLUSH`: a put returns at once; a thread flushes on a timer.
    AsyncFlush,
}

/// RocketMQ store settings (`MessageStoreConfig`, spec Appendix A).
///
/// ```
/// use rocketlog::embed::{FlushDiskType, RocketMqConfig};
/// let cfg = RocketMqConfig {
///     mapped_file_size_commit_log: 64 * 1024 * 1024,
///     flush_disk_type: FlushDiskType::SyncFlush,
///     ..RocketMqConfig::default()
/// };
/// assert_eq!(cfg.flush_interval_commit_log, 500);
/// assert_eq!(cfg.sync_flush_timeout, 5000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RocketMqConfig {
    /// `mappedFileSizeCommitLog` (1 GiB).
    pub mapped_file_size_commit_log: u64,
    /// `mappedFileSizeConsumeQueue` (6,000,000).
    pub mapped_file_size_consume_queue: u64,
    /// `maxHashSlotNum` (5,000,000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (20,000,000).
    pub max_index_num: u32,
    /// `messageIndexEnable` (true).
    pub message_index_enable: bool,
    /// `maxMessageSize` (4 MiB).
    pub max_message_size: usize,
    /// `enabledAppendPropCRC` (false).
    pub enabled_append_prop_crc: bool,
    /// `brokerIP1` + listen port stored in every record (127.0.0.1:10911).
    pub store_host: Host,
    /// `flushDiskType` (ASYNC_FLUSH).
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog` ms (500).
    pub flush_interval_commit_log: u64,
    /// `flushCommitLogLeastPages` (4).
    pub flush_commit_log_least_pages: u64,
    /// `flushCommitLogThoroughInterval` ms (10,000).
    pub flush_commit_log_thorough_interval: u64,
    /// `syncFlushTimeout` ms (5000).
    pub sync_flush_timeout: u64,
    /// `flushIntervalConsumeQueue` ms (1000): consume queues, index and checkpoint.
    pub flush_interval_consume_queue: u64,
    /// `fileReservedTime` hours (72).
    pub file_reserved_time: u64,
    /// `deleteWhen` ("04").
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio` percent (75).
    pub disk_max_used_space_ratio: i32,
    /// `diskSpaceCleanForciblyRatio` percent (85).
    pub disk_space_clean_forcibly_ratio: i32,
    /// `diskSpaceWarningLevelRatio` percent (90).
    pub disk_space_warning_level_ratio: i32,
    /// `cleanFileForciblyEnable` (true).
    pub clean_file_forcibly_enable: bool,
    /// `deleteFileBatchMax` (10).
    pub delete_file_batch_max: usize,
    /// `cleanResourceInterval` ms (10,000); 0 disables the clean thread.
    pub clean_resource_interval: u64,
    /// `deleteCommitLogFilesInterval` ms (100) between two deletions.
    pub delete_commit_log_files_interval: u64,
    /// What recovery does with invalid data (repair, as the reference does).
    pub recovery_mode: rocketlog_core::engine::recovery::RecoveryMode,
}

impl Default for RocketMqConfig {
    fn default() -> Self {
        let c = CommitLogConfig::default();
        Self {
            mapped_file_size_commit_log: c.mapped_file_size_commit_log,
            mapped_file_size_consume_queue: c.mapped_file_size_consume_queue,
            max_hash_slot_num: c.max_hash_slot_num,
            max_index_num: c.max_index_num,
            message_index_enable: c.message_index_enable,
            max_message_size: c.max_message_size,
            enabled_append_prop_crc: c.enabled_append_prop_crc,
            store_host: c.store_host,
            flush_disk_type: FlushDiskType::AsyncFlush,
            flush_interval_commit_log: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval: 10_000,
            sync_flush_timeout: 5000,
            flush_interval_consume_queue: 1000,
            file_reserved_time: 72,
            delete_when: "04".into(),
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 85,
            disk_space_warning_level_ratio: 90,
            clean_file_forcibly_enable: true,
            delete_file_batch_max: 10,
            clean_resource_interval: 10_000,
            delete_commit_log_files_interval: 100,
            recovery_mode: c.recovery_mode,
        }
    }
}

impl RocketMqConfig {
    /// The core engine's settings. The engine never syncs inline: durability
    /// is the host's group commit.
    pub fn engine(&self) -> CommitLogConfig {
        CommitLogConfig {
            mapped_file_size_commit_log: self.mapped_file_size_commit_log,
            mapped_file_size_consume_queue: self.mapped_file_size_consume_queue,
            max_hash_slot_num: self.max_hash_slot_num,
            max_index_num: self.max_index_num,
            enabled_append_prop_crc: self.enabled_append_prop_crc,
            message_index_enable: self.message_index_enable,
            max_message_size: self.max_message_size,
            flush_disk_type: CoreFlush::AsyncFlush,
            store_host: self.store_host,
            recovery_mode: self.recovery_mode,
            ..CommitLogConfig::default()
        }
    }

    /// The commitlog flush policy.
    pub fn flush_policy(&self) -> FlushPolicy {
        match self.flush_disk_type {
            FlushDiskType::SyncFlush => FlushPolicy::ROCKETMQ_SYNC,
            FlushDiskType::AsyncFlush => FlushPolicy {
                mode: FlushMode::Async,
                interval_ms: self.flush_interval_commit_log,
                least_pages: self.flush_commit_log_least_pages,
                thorough_interval_ms: self.flush_commit_log_thorough_interval,
            },
        }
    }

    /// The cleaning settings.
    pub fn clean(&self) -> RocketMqClean {
        RocketMqClean {
            file_reserved_hours: self.file_reserved_time,
            disk_max_used_space_ratio: self.disk_max_used_space_ratio,
            disk_space_clean_forcibly_ratio: f64::from(self.disk_space_clean_forcibly_ratio)
                / 100.0,
            disk_space_warning_level_ratio: f64::from(self.disk_space_warning_level_ratio) / 100.0,
            clean_file_forcibly_enable: self.clean_file_forcibly_enable,
            delete_file_batch_max: self.delete_file_batch_max,
        }
    }
}

/// DLedger store settings (`DLedgerConfig`, spec §4).
///
/// ```
/// use rocketlog::embed::DLedgerStoreConfig;
/// let cfg = DLedgerStoreConfig::new("/tmp/dledgerstore", "n0");
/// assert_eq!(cfg.flush_file_interval, 10);
/// assert_eq!(cfg.mapped_file_size_for_entry_index, 32 * 5 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DLedgerStoreConfig {
    /// `storeBaseDir`.
    pub store_base_dir: PathBuf,
    /// `selfId` ("n0"): the member directory is `dledger-<selfId>`.
    pub self_id: String,
    /// `mappedFileSizeForEntryData` (1 GiB).
    pub mapped_file_size_for_entry_data: u64,
    /// `mappedFileSizeForEntryIndex` (160 MiB).
    pub mapped_file_size_for_entry_index: u64,
    /// `flushFileInterval` ms (10).
    pub flush_file_interval: u64,
    /// `checkPointInterval` ms (3000).
    pub check_point_interval: u64,
    /// Appends wait until durable (group commit), up to `sync_flush_timeout`.
    /// The reference never waits (false).
    pub sync_flush: bool,
    /// How long a synchronous append waits (ms, 5000).
    pub sync_flush_timeout: u64,
    /// `fileReservedHours` (72).
    pub file_reserved_hours: i64,
    /// `deleteWhen` ("04").
    pub delete_when: String,
    /// `diskSpaceRatioToCheckExpired` (0.70).
    pub disk_space_ratio_to_check_expired: f32,
    /// `diskSpaceRatioToForceClean` (0.85).
    pub disk_space_ratio_to_force_clean: f32,
    /// `enableDiskForceClean` (true).
    pub enable_disk_force_clean: bool,
    /// Clean thread period ms (the reference: 100); 0 disables it.
    pub clean_interval: u64,
    /// CRC fields of new entries.
    pub crc: CrcMode,
    /// Bodies are RocketMQ commitlog records (RocketMQ's DLedger commitlog).
    pub commitlog_mode: bool,
}

impl DLedgerStoreConfig {
    /// Defaults for member `self_id` under `store_base_dir`.
    pub fn new(store_base_dir: impl Into<PathBuf>, self_id: &str) -> Self {
        let c = CoreDLedger::default();
        let k = DLedgerClean::default();
        Self {
            store_base_dir: store_base_dir.into(),
            self_id: self_id.into(),
            mapped_file_size_for_entry_data: c.data_file_size,
            mapped_file_size_for_entry_index: c.index_file_size,
            flush_file_interval: 10,
            check_point_interval: 3000,
            sync_flush: false,
            sync_flush_timeout: 5000,
            file_reserved_hours: k.file_reserved_hours,
            delete_when: "04".into(),
            disk_space_ratio_to_check_expired: k.check_expired_ratio,
            disk_space_ratio_to_force_clean: k.force_clean_ratio,
            enable_disk_force_clean: k.enable_force_clean,
            clean_interval: 100,
            crc: c.crc,
            commitlog_mode: c.commitlog_mode,
        }
    }

    /// The core engine's settings.
    pub fn engine(&self) -> CoreDLedger {
        CoreDLedger {
            data_file_size: self.mapped_file_size_for_entry_data,
            index_file_size: self.mapped_file_size_for_entry_index,
            crc: self.crc,
            commitlog_mode: self.commitlog_mode,
            flush: self.flush_policy(),
            ..CoreDLedger::default()
        }
    }

    /// The flush policy.
    pub fn flush_policy(&self) -> FlushPolicy {
        if self.sync_flush {
            FlushPolicy {
                mode: FlushMode::Sync,
                ..FlushPolicy::DLEDGER
            }
        } else {
            FlushPolicy {
                interval_ms: self.flush_file_interval,
                ..FlushPolicy::DLEDGER
            }
        }
    }

    /// The cleaning settings.
    pub fn clean(&self) -> DLedgerClean {
        DLedgerClean {
            file_reserved_hours: self.file_reserved_hours,
            check_expired_ratio: self.disk_space_ratio_to_check_expired,
            force_clean_ratio: self.disk_space_ratio_to_force_clean,
            enable_force_clean: self.enable_disk_force_clean,
        }
    }
}
