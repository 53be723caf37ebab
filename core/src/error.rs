//! Decoding errors: every one says *what* is wrong and *where* (absolute offset).

use core::fmt;

/// Why a record could not be decoded.
///
/// `Truncated` means the bytes simply end too early (a torn tail, or a chunk
/// boundary when streaming); everything else means the bytes that are there are wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends before the record does: `needed` more bytes are required.
    Truncated {
        /// How many more bytes the record needs.
        needed: u64,
    },
    /// The magic code is not one this record kind accepts.
    BadMagic {
        /// The magic found.
        found: i32,
    },
    /// A size or length field is outside the range the format allows.
    SizeOutOfRange {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// The total size does not match the sum of the field lengths.
    LengthMismatch {
        /// The stored total size.
        stored: i64,
        /// The size computed from the fields.
        computed: i64,
    },
    /// A stored CRC does not match the bytes.
    CrcMismatch {
        /// Which CRC (`bodyCrc`, `__CRC32#`, ...).
        field: &'static str,
        /// Stored value.
        stored: i64,
        /// Computed value.
        computed: i64,
    },
    /// The record's stored position is not where it actually is.
    OffsetMismatch {
        /// Which field.
        field: &'static str,
        /// Stored value.
        stored: i64,
        /// Actual position.
        actual: i64,
    },
    /// Some other field has a value the format forbids.
    BadField {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// Text that should be a number or key=value pairs is not.
    BadText {
        /// What was being parsed.
        what: &'static str,
    },
}

/// A decoding failure at an absolute offset of a log (or of a file, for small files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Absolute offset of the record that failed (not of the field).
    pub offset: u64,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// Builds an error for the record at `offset`.
    pub const fn new(offset: u64, kind: DecodeErrorKind) -> Self {
        Self { offset, kind }
    }

    /// True when the bytes end early (a torn tail) rather than being wrong.
    pub const fn is_truncated(&self) -> bool {
        matches!(self.kind, DecodeErrorKind::Truncated { .. })
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed } => write!(f, "truncated: needs {needed} more bytes"),
            Self::BadMagic { found } => {
                write!(f, "bad magic code {found} (0x{:08X})", *found as u32)
            }
            Self::SizeOutOfRange {
                field,
                value,
                min,
                max,
            } => {
                write!(f, "{field} {value} out of range [{min}, {max}]")
            }
            Self::LengthMismatch { stored, computed } => {
                write!(f, "stored size {stored} but fields add up to {computed}")
            }
            Self::CrcMismatch {
                field,
                stored,
                computed,
            } => {
                write!(f, "{field} mismatch: stored {stored}, computed {computed}")
            }
            Self::OffsetMismatch {
                field,
                stored,
                actual,
            } => {
                write!(f, "{field} {stored} differs from actual position {actual}")
            }
            Self::BadField { field, value } => write!(f, "invalid {field} {value}"),
            Self::BadText { what } => write!(f, "unparseable {what}"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.kind)
    }
}

impl core::error::Error for DecodeError {}

/// Encoding failures: the caller's buffer or values do not fit the format.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small: `needed` bytes are required.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
    /// A value does not fit its on-disk field.
    FieldTooLarge {
        /// Which field.
        field: &'static str,
        /// Its length or value.
        value: u64,
        /// The largest the format allows.
        max: u64,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: needs {needed} bytes")
            }
            Self::FieldTooLarge { field, value, max } => {
                write!(f, "{field} is {value}, more than the format allows ({max})")
            }
        }
    }
}

impl core::error::Error for EncodeError {}
