//! The host's error type: what went wrong, and with which path.

use std::fmt;
use std::io;
use std::path::PathBuf;

use rocketlog_core::StoreError;

/// An error of the native host. Every variant names the path concerned.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The path does not exist.
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The path exists but is not a store, nor a part of one that can be read alone.
    NotAStore {
        /// The path.
        path: PathBuf,
        /// Why not.
        why: String,
    },
    /// The path could be more than one store (e.g. several `dledger-<id>` directories).
    Ambiguous {
        /// The path.
        path: PathBuf,
        /// The choices.
        why: String,
    },
    /// An operating-system error on a path.
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A storage error from the page store.
    Store(StoreError),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            return Self::NotFound { path };
        }
        Self::Io { path, op, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { path } => write!(f, "{}: no such file or directory", path.display()),
            Self::NotAStore { path, why } => {
                write!(
                    f,
                    "{}: not a RocketMQ or DLedger store: {why}",
                    path.display()
                )
            }
            Self::Ambiguous { path, why } => {
                write!(f, "{}: ambiguous store: {why}", path.display())
            }
            Self::Io { path, op, source } => write!(f, "{}: cannot {op}: {source}", path.display()),
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
