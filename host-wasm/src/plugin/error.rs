//! Plugin errors: each says what is wrong and where (the file's base offset and
//! the absolute offset of the record), so a host can print or map it.

use core::fmt;
use std::string::String;

use rocketlog_core::layout;
use rocketlog_core::{DecodeError, DecodeErrorKind};

/// Why a plugin call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// A file (or the whole input) has no bytes.
    EmptyInput {
        /// Base offset of the empty file.
        file: u64,
    },
    /// A file name is not 20 decimal digits.
    BadFileName {
        /// The name given.
        name: String,
    },
    /// Files must follow each other without gaps, in base-offset order.
    NotContiguous {
        /// Where the next file had to start.
        expected: u64,
        /// Where it starts.
        found: u64,
    },
    /// The first record is neither a CommitLog nor a DLedger record.
    UnknownKind {
        /// Base offset of the file.
        file: u64,
        /// Absolute offset of the bytes looked at.
        offset: u64,
    },
    /// A record failed to decode (the core codec's error, absolute offset).
    Decode {
        /// Base offset of the file holding the record.
        file: u64,
        /// What and where.
        error: DecodeError,
    },
    /// Something else the core decoder reported (a gap between files, mixed
    /// formats, a file that is not a log file).
    Problem {
        /// Base offset of the file, if the problem is inside one.
        file: Option<u64>,
        /// Absolute offset.
        offset: u64,
        /// What is wrong (the core decoder's words, with the place).
        message: String,
    },
    /// The plugin could not allocate memory (the host's memory limit).
    OutOfMemory {
        /// Bytes requested.
        requested: u64,
    },
    /// The host called the API out of order or with bad arguments.
    InvalidCall {
        /// What was wrong.
        what: &'static str,
    },
}

impl PluginError {
    /// A stable kebab-case name for the error class (the WIT case names, and
    /// the `code` of the C ABI's error object).
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyInput { .. } => "empty-input",
            Self::BadFileName { .. } => "bad-file-name",
            Self::NotContiguous { .. } => "not-contiguous",
            Self::UnknownKind { .. } => "unknown-kind",
            Self::Decode { error, .. } => match error.kind {
                DecodeErrorKind::Truncated { .. } => "truncated",
                DecodeErrorKind::BadMagic { .. } => "bad-magic",
                DecodeErrorKind::SizeOutOfRange { .. } => "size-out-of-range",
                DecodeErrorKind::LengthMismatch { .. } => "length-mismatch",
                DecodeErrorKind::CrcMismatch { .. } => "crc-mismatch",
                DecodeErrorKind::OffsetMismatch { .. } => "offset-mismatch",
                DecodeErrorKind::BadField { .. } => "bad-field",
                DecodeErrorKind::BadText { .. } => "bad-text",
                _ => "bad-record",
            },
            Self::Problem { .. } => "problem",
            Self::OutOfMemory { .. } => "out-of-memory",
            Self::InvalidCall { .. } => "invalid-call",
        }
    }

    /// The file's base offset, when the error is inside a file.
    pub fn file(&self) -> Option<u64> {
        match self {
            Self::EmptyInput { file }
            | Self::UnknownKind { file, .. }
            | Self::Decode { file, .. } => Some(*file),
            Self::Problem { file, .. } => *file,
            Self::NotContiguous { found, .. } => Some(*found),
            _ => None,
        }
    }

    /// The absolute offset of the record (or bytes) at fault.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Self::EmptyInput { file } => Some(*file),
            Self::UnknownKind { offset, .. } | Self::Problem { offset, .. } => Some(*offset),
            Self::Decode { error, .. } => Some(error.offset),
            Self::NotContiguous { found, .. } => Some(*found),
            _ => None,
        }
    }

    /// Whether the input merely ends early (more bytes would help).
    pub fn is_truncated(&self) -> bool {
        matches!(self, Self::Decode { error, .. } if error.is_truncated())
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyInput { file } => write!(f, "file {} is empty", layout::file_name(*file)),
            Self::BadFileName { name } => write!(
                f,
                "file name {name:?} is not a 20-digit base offset (like 00000000000000065536)"
            ),
            Self::NotContiguous { expected, found } => write!(
                f,
                "files are not contiguous: the next file had to start at {expected}, got {}",
                layout::file_name(*found)
            ),
            Self::UnknownKind { file, offset } => write!(
                f,
                "file {} at offset {offset}: neither a CommitLog nor a DLedger record",
                layout::file_name(*file)
            ),
            Self::Decode { file, error } => write!(
                f,
                "file {} at offset {}: {}",
                layout::file_name(*file),
                error.offset,
                error.kind
            ),
            Self::Problem { message, .. } => f.write_str(message),
            Self::OutOfMemory { requested } => {
                write!(f, "out of memory (could not allocate {requested} bytes)")
            }
            Self::InvalidCall { what } => write!(f, "invalid call: {what}"),
        }
    }
}

impl core::error::Error for PluginError {}
