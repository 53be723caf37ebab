//! The embedding API's error.

use std::fmt;

use rocketlog_core::engine::commitlog::EngineError;
use rocketlog_core::engine::dledger::DLedgerError;
use rocketlog_core::store::StoreError;

use crate::flusher::WaitError;

/// What went wrong in a store call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// Storage failed (or is latched after an earlier failure: reopen the store).
    Store(StoreError),
    /// The RocketMQ engine refused or failed.
    Engine(EngineError),
    /// The DLedger engine refused or failed.
    DLedger(DLedgerError),
    /// A sync-mode write was not made durable in time, or the flush failed.
    Flush(WaitError),
    /// Disk usage is above the "disk full" level: writes are refused until it drops.
    DiskFull {
        /// The usage ratio seen.
        ratio: f64,
    },
    /// The store was closed.
    Closed,
    /// A read outside what is stored.
    NotFound(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "{e}"),
            Self::Engine(e) => write!(f, "{e}"),
            Self::DLedger(e) => write!(f, "{e}"),
            Self::Flush(e) => write!(f, "{e}"),
            Self::DiskFull { ratio } => write!(
                f,
                "disk full ({:.0}% used): writes refused until space is freed",
                ratio * 100.0
            ),
            Self::Closed => f.write_str("the store is closed"),
            Self::NotFound(w) => write!(f, "not found: {w}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        Self::Engine(e)
    }
}
impl From<DLedgerError> for Error {
    fn from(e: DLedgerError) -> Self {
        Self::DLedger(e)
    }
}
impl From<WaitError> for Error {
    fn from(e: WaitError) -> Self {
        Self::Flush(e)
    }
}
