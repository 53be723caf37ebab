//! The read operations the CLI runs over a resolved store: messages, DLedger
//! entries, consume-queue units, key look-ups and verification, each reporting
//! the problems it met as [`Problem`]s with log and absolute offset.
//!
//! Records are handed to a visitor that may stop the walk (`ControlFlow::Break`),
//! e.g. when stdout is closed.

use std::ops::ControlFlow;

use rocketlog_core::codec::consume_queue::CqUnit;
use rocketlog_core::codec::dledger::EntryView;
use rocketlog_core::codec::message::MessageView;
use rocketlog_core::scan::Problem;

use crate::mmap::MmapStore;
use crate::resolve::{Resolved, StoreKind};

mod core_scan;
pub mod parallel;

/// What a walk saw besides the records it handed out.
#[derive(Debug, Clone, Default)]
pub struct WalkReport {
    /// Problems met, in log order.
    pub problems: Vec<Problem>,
    /// Where the walk ended (absolute offset of the first byte not read).
    pub end: u64,
    /// Whether the visitor stopped the walk early.
    pub stopped: bool,
    /// End-of-file blanks passed, in log order.
    pub blanks: Vec<Blank>,
}

/// An end-of-file blank record the walk rolled over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blank {
    /// Absolute offset of the blank.
    pub offset: u64,
    /// Its stored size field (bytes to the end of the file).
    pub size: i32,
    /// Its magic (`-875286124` CommitLog, `-1` DLedger).
    pub magic: i32,
    /// Where the walk went on (the next file's start).
    pub next: u64,
}

/// A message visitor: `(physical offset, message)`.
pub type MessageVisitor<'v> = dyn FnMut(u64, &MessageView<'_>) -> ControlFlow<()> + 'v;
/// A DLedger entry visitor.
pub type EntryVisitor<'v> = dyn FnMut(&EntryView<'_>) -> ControlFlow<()> + 'v;
/// A consume-queue unit visitor: `(topic, queue id, queue offset, unit)`.
pub type CqVisitor<'v> = dyn FnMut(&str, i32, u64, &CqUnit) -> ControlFlow<()> + 'v;

/// Every message of a RocketMQ store (either mode), in log order, ending where
/// the Java reference's recovery ends.
pub fn messages(store: &MmapStore, r: &Resolved, visit: &mut MessageVisitor<'_>) -> WalkReport {
    match r.kind {
        StoreKind::RocketMq => core_scan::commitlog(store, visit),
        StoreKind::RocketMqDLedger => core_scan::dledger_messages(store, r, visit),
        StoreKind::DLedger => WalkReport::default(),
    }
}

/// Every DLedger entry (DLedger store, or DLedger-mode RocketMQ store), from
/// the begin to the end index as Java's `get(i)` returns them.
pub fn entries(store: &MmapStore, r: &Resolved, visit: &mut EntryVisitor<'_>) -> WalkReport {
    match r.kind {
        StoreKind::RocketMq => WalkReport::default(),
        _ => core_scan::dledger_entries(store, visit),
    }
}

/// Every consume-queue unit as Java sees it after load, queue by queue
/// (topic, then queue id order).
pub fn cq_units(store: &MmapStore, r: &Resolved, visit: &mut CqVisitor<'_>) -> WalkReport {
    core_scan::cq_units(store, r, visit)
}

/// What `queryMessage(topic, key)` returns after load: sorted physical offsets.
pub fn query_key(
    store: &MmapStore,
    r: &Resolved,
    topic: &str,
    key: &str,
) -> (Vec<i64>, Vec<Problem>) {
    core_scan::query_key(store, r, topic, key)
}

/// Everything the core verifiers check, as problems.
pub fn verify(store: &MmapStore, r: &Resolved) -> Vec<Problem> {
    core_scan::verify(store, r)
}
