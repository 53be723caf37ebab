//! The embedding API: RocketMQ-format and DLedger stores on disk, opened for
//! writing by one process, shared by any number of threads.
//!
//! * [`RocketMqStore`]: `open` (recovery + report), `put`, `put_batch`,
//!   `get`, `consume`, `find_by_key`, `flush`, `stats`, `close`.
//! * [`DLedgerStore`]: `open`, `append`, `append_as_follower`, `get`,
//!   `truncate`, `commit`, `set_term`, `stats`, `close`.
//!
//! Both take the store's `lock` (a second writer is refused), run a flush
//! thread ([`crate::flusher`]) and a clean thread ([`crate::cleaner`]), and are
//! `Send + Sync`. Settings carry the reference's names and defaults
//! ([`RocketMqConfig`], [`DLedgerStoreConfig`]).
//!
//! # Synchronous flush is a group commit
//!
//! The core engines never sync inside a put. Under `SYNC_FLUSH` (or
//! [`DLedgerStoreConfig::sync_flush`]) a writer copies its record under the
//! engine lock, notes the dirty range with the flush thread, releases the
//! lock and only then waits until the flush thread's durable watermark
//! passes its record. One `msync` + `fdatasync` therefore covers every
//! record written while the previous one ran: with many writers, far fewer
//! syncs than puts (`tests/tests/cli_write_fixes.rs`,
//! `sync_flush_puts_share_fsyncs`). The flush planner marks clean only the
//! bytes that were dirty when it planned a sync, so a record landing in the
//! same page during that sync is never acknowledged by it.

mod config;
mod dledger;
mod error;
mod rocketmq;

pub use config::{DLedgerStoreConfig, FlushDiskType, RocketMqConfig};
pub use dledger::{DLedgerStats, DLedgerStore};
pub use error::Error;
pub use rocketmq::{RocketMqStats, RocketMqStore, StoredMessage};

pub use rocketlog_core::codec::message::Host;
pub use rocketlog_core::engine::commitlog::{Batch, BatchItem, Message, PutResult};
pub use rocketlog_core::engine::dledger::Appended;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<RocketMqStore>();
        assert_send_sync::<DLedgerStore>();
    }
}
