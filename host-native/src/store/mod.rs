//! The writing half of the native host: a memory-mapped, read-write
//! [`PageStore`](rocketlog_core::store::PageStore) on disk ([`DiskStore`]),
//! the store's `lock` file ([`StoreLock`]), atomic meta-file writes and the
//! few facts the core needs from the operating system ([`os`]).
//!
//! # Directory layout
//!
//! The reference's own layout ([`Layout`]), so Java reads what we write:
//!
//! ```text
//! RocketMQ <root>/                         DLedger <base>/dledger-<selfId>/
//!   commitlog/00000000000000000000           data/00000000000000000000
//!   consumequeue/<topic>/<queue>/<20 dig>    index/00000000000000000000
//!   index/<yyyyMMddHHmmssSSS>                checkpoint (+ .bak)
//!   checkpoint  abort (+ .bak)  lock         currterm (+ .bak)  lock
//! ```
//!
//! # Concurrency contract
//!
//! The core writes through one writer at a time, never below a log's
//! committed watermark, and readers only read below it
//! (`rocketlog_core::store`, "Concurrency"). [`DiskStore`] relies on exactly
//! that to lend mapped bytes to readers on other threads while the writer
//! copies new bytes further on; every `unsafe` block cites it.

mod fxhash;
mod layout;
mod lock;
mod meta;
mod mmap_rw;
pub mod os;
mod prefault;
mod threads;

pub(crate) use fxhash::Fx;
pub use layout::Layout;
pub use lock::StoreLock;
pub use mmap_rw::DiskStore;
pub use prefault::Prefault;
pub use threads::Threads;

use std::io;
use std::path::Path;

use rocketlog_core::store::{StoreError, StoreErrorKind};

/// Maps an OS error to a [`StoreError`] whose message names the operation,
/// the file and (when known) the offset in it.
pub(crate) fn io_err(e: &io::Error, op: &str, path: &Path, at: Option<u64>) -> StoreError {
    let kind = match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreErrorKind::NoSpace,
        Some(libc::EACCES) | Some(libc::EPERM) => StoreErrorKind::PermissionDenied,
        Some(libc::EROFS) => StoreErrorKind::ReadOnly,
        Some(libc::ENOENT) => StoreErrorKind::NotFound,
        _ => match e.kind() {
            io::ErrorKind::NotFound => StoreErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => StoreErrorKind::PermissionDenied,
            _ => StoreErrorKind::Io,
        },
    };
    let msg = match at {
        Some(at) => format!("{op} {} at offset {at}: {e}", path.display()),
        None => format!("{op} {}: {e}", path.display()),
    };
    StoreError::new(kind, msg)
}

/// Creates a store's top directory (and missing parents), durably.
pub(crate) fn create_root(dir: &Path) -> Result<(), StoreError> {
    meta::create_dirs(dir)
}
