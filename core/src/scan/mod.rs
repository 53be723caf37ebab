//! Store readers: walk whole stores the way the Java reference's load and
//! recovery do, so that they end where Java ends, and report every problem
//! with its log and absolute offset.
//!
//! * [`detect`]: which kind of store a [`crate::store::PageRead`] holds, and file sizes.
//! * [`rocketmq`]: the plain CommitLog walk (normal and abnormal recovery end).
//! * [`consume_queue`]: consume queues as Java sees them after load.
//! * [`index`]: key look-ups through IndexFile hash chains.
//! * [`dledger`]: DLedger data/index walk (classic 0.3.x and master lines), and
//!   RocketMQ messages inside DLedger entries (DLedger commitlog mode).
//! * [`zeros`]: fast tests for never-written (all-zero) space.

use alloc::string::String;
use core::fmt;

use crate::error::DecodeError;
use crate::store::{LogId, StoreError};

pub mod consume_queue;
pub mod detect;
pub mod dledger;
pub mod index;
pub mod rocketmq;
pub mod zeros;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Expected after a crash: a torn tail, unsynced zeros, stale bytes past the end.
    Notice,
    /// Data that the reference would accept but is wrong (CRC mismatch in a
    /// record Java does not check, index disagreeing with data, ...).
    Warning,
    /// Data that cannot be read.
    Error,
}

/// Something wrong in a store, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Which log.
    pub log: LogId,
    /// Start offset of the segment (file name), when the problem is inside one.
    pub segment: Option<u64>,
    /// Absolute offset in the log.
    pub offset: u64,
    /// How serious.
    pub severity: Severity,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A record failed to decode.
    Decode(DecodeError),
    /// The storage failed.
    Store(StoreError),
    /// Anything else, described in words.
    Other(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{sev}: {}", self.log)?;
        if let Some(s) = self.segment {
            write!(f, "/{}", crate::layout::file_name(s))?;
        }
        write!(f, " at offset {}: ", self.offset)?;
        match &self.kind {
            ProblemKind::Decode(e) => write!(f, "{}", e.kind),
            ProblemKind::Store(e) => write!(f, "{e}"),
            ProblemKind::Other(s) => f.write_str(s),
        }
    }
}
