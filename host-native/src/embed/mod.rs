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

type Piece = (
    rocketlog_core::store::LogId,
    rocketlog_core::store::SegmentId,
    std::ops::Range<u64>,
);

/// A write of absolute `[from, to)` to `log` (segments of `seg_size` bytes).
type Write<'a> = (&'a rocketlog_core::store::LogId, u64, u64, u64);

/// Splits writes into per-segment pieces in `out`, as `flusher::split` does;
/// `None` when they do not fit.
fn split_into(writes: &[Write<'_>], out: &mut [Piece]) -> Option<usize> {
    let mut n = 0;
    for &(log, seg_size, from, to) in writes {
        let mut p = from;
        while p < to && seg_size > 0 {
            let seg = p - p % seg_size;
            let end = to.min(seg + seg_size);
            *out.get_mut(n)? = (log.clone(), seg, p - seg..end - seg);
            n += 1;
            p = end;
        }
    }
    Some(n)
}

/// Tells the flusher about `writes` split per segment, on the stack: a put's
/// writes span at most two segments per log, so nothing is allocated per
/// put (more pieces than fit fall back to `flusher::split`).
pub(crate) fn note_writes(
    flusher: &crate::flusher::Flusher,
    writes: &[Write<'_>],
    primary_end: u64,
) {
    let mut out: [Piece; 4] =
        std::array::from_fn(|_| (rocketlog_core::store::LogId::CommitLog, 0, 0..0));
    match split_into(writes, &mut out) {
        Some(n) => flusher.note(&out[..n], primary_end),
        None => {
            let v: Vec<Piece> = writes
                .iter()
                .flat_map(|&(l, s, f, t)| crate::flusher::split(l, s, f, t))
                .collect();
            flusher.note(&v, primary_end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn stack_split_matches_the_flusher_split() {
        use rocketlog_core::store::LogId;
        let (cl, idx) = (LogId::CommitLog, LogId::DLedgerIndex);
        let cases: [&[Write<'_>]; 5] = [
            &[(&cl, 1024, 100, 500)],
            &[(&cl, 1024, 1000, 1500)],
            &[(&cl, 1024, 1024, 1024)],
            &[(&cl, 1024, 900, 2100), (&idx, 64, 32, 64)],
            &[(&cl, 100, 0, 1000)],
        ];
        for writes in cases {
            let want: Vec<Piece> = writes
                .iter()
                .flat_map(|&(l, s, f, t)| crate::flusher::split(l, s, f, t))
                .collect();
            let mut out: [Piece; 4] = std::array::from_fn(|_| (LogId::CommitLog, 0, 0..0));
            match split_into(writes, &mut out) {
                Some(n) => assert_eq!(out[..n], want[..], "{writes:?}"),
                None => assert!(want.len() > 4, "{writes:?}: {want:?}"),
            }
        }
    }

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<RocketMqStore>();
        assert_send_sync::<DLedgerStore>();
    }
}
