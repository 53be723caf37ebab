//! Index math: where an absolute offset lives, how files are named, and the
//! roll rules that decide whether a record fits in the current file.

use alloc::string::String;
use core::fmt::Write;

/// Bytes in an OS page as the reference counts them (`OS_PAGE_SIZE`).
pub const OS_PAGE_SIZE: u64 = 4096;

/// The smallest end-of-file filler both formats write (`END_FILE_MIN_BLANK_LENGTH`, `MIN_BLANK_LEN`).
pub const MIN_BLANK_LEN: u64 = 8;

/// The 20-digit, zero-padded decimal name of the file starting at `offset`.
pub fn file_name(offset: u64) -> String {
    let mut s = String::with_capacity(20);
    // Writing to a String cannot fail.
    let _ = write!(s, "{offset:020}");
    s
}

/// Parses a 20-digit file name back into its start offset. Anything other than
/// exactly 20 ASCII digits is rejected (`None`).
pub fn parse_file_name(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Parses a 17-digit `yyyyMMddHHmmssSSS` IndexFile name into its numeric value.
pub fn parse_index_file_name(name: &str) -> Option<u64> {
    if name.len() != 17 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Where an absolute offset lives in a log of fixed-size files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Start offset of the file (its name).
    pub file_start: u64,
    /// Position inside that file.
    pub pos: u64,
}

/// Maps `offset` to (file start, position) for files of `file_size` bytes.
/// `None` when `file_size` is 0.
pub fn locate(offset: u64, file_size: u64) -> Option<Location> {
    let pos = offset.checked_rem(file_size)?;
    Some(Location {
        file_start: offset - pos,
        pos,
    })
}

/// The start of the file after the one holding `offset` (`rollNextFile`).
pub fn roll_next_file(offset: u64, file_size: u64) -> Option<u64> {
    let loc = locate(offset, file_size)?;
    loc.file_start.checked_add(file_size)
}

/// The result of asking whether `len` bytes fit at `write_pos` of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Write the record at the current position.
    Here,
    /// Write an end-of-file blank of `blank_len` bytes (all that remains), then
    /// put the record at the start of the next file.
    RollAfterBlank {
        /// Bytes from the write position to the end of the file.
        blank_len: u64,
    },
    /// The record can never fit in a file of this size.
    TooLarge,
}

/// The roll rule shared by the RocketMQ CommitLog and the DLedger data log:
/// a record is placed only if at least [`MIN_BLANK_LEN`] bytes remain after it,
/// so the filler always has room.
pub fn fit(len: u64, write_pos: u64, file_size: u64) -> Fit {
    if len.saturating_add(MIN_BLANK_LEN) > file_size {
        return Fit::TooLarge;
    }
    let remaining = file_size.saturating_sub(write_pos);
    if len + MIN_BLANK_LEN > remaining {
        Fit::RollAfterBlank {
            blank_len: remaining,
        }
    } else {
        Fit::Here
    }
}

/// Consume-queue (20-byte unit) position of queue offset `n`.
pub fn cq_location(queue_offset: u64, file_size: u64) -> Option<Location> {
    locate(
        queue_offset.checked_mul(crate::codec::consume_queue::CQ_UNIT_SIZE as u64)?,
        file_size,
    )
}

/// DLedger index position of entry `index` (32-byte records at `index * 32`).
pub fn dledger_index_location(index: u64, file_size: u64) -> Option<Location> {
    locate(
        index.checked_mul(crate::codec::dledger::INDEX_UNIT_SIZE as u64)?,
        file_size,
    )
}

/// Rounds `x` down to a page boundary.
pub const fn page_floor(x: u64) -> u64 {
    x - x % OS_PAGE_SIZE
}

/// Rounds `x` up to a page boundary (saturating).
pub const fn page_ceil(x: u64) -> u64 {
    match x % OS_PAGE_SIZE {
        0 => x,
        r => x.saturating_add(OS_PAGE_SIZE - r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert_eq!(file_name(1 << 30), "00000000001073741824");
        assert_eq!(parse_file_name("00000000001073741824"), Some(1 << 30));
        assert_eq!(parse_file_name("0000000000107374182"), None);
        assert_eq!(parse_file_name("0000000000107374182x"), None);
        assert_eq!(
            parse_index_file_name("20261121141212191"),
            Some(20261121141212191)
        );
    }

    #[test]
    fn roll_rule_examples() {
        // DLedger appendix A: file 256, entry of 84 bytes at 192 -> blank of 64.
        assert_eq!(fit(84, 192, 256), Fit::RollAfterBlank { blank_len: 64 });
        assert_eq!(fit(74, 118, 256), Fit::Here);
        // Exactly 8 bytes must remain after a record.
        assert_eq!(fit(248, 0, 256), Fit::Here);
        assert_eq!(fit(249, 0, 256), Fit::TooLarge);
    }

    proptest! {
        #[test]
        fn locate_roundtrip(off in 0u64..u64::MAX / 2, size in 1u64..(1 << 32)) {
            let l = locate(off, size).unwrap();
            prop_assert_eq!(l.file_start + l.pos, off);
            prop_assert!(l.pos < size);
            prop_assert_eq!(l.file_start % size, 0);
            prop_assert_eq!(parse_file_name(&file_name(l.file_start)), Some(l.file_start));
        }

        #[test]
        fn fit_leaves_room_for_blank(len in 0u64..10_000, pos in 0u64..10_000, size in 8u64..10_000) {
            prop_assume!(pos <= size);
            match fit(len, pos, size) {
                Fit::Here => prop_assert!(pos + len + MIN_BLANK_LEN <= size),
                Fit::RollAfterBlank { blank_len } => {
                    prop_assert_eq!(blank_len, size - pos);
                    prop_assert!(pos + len + MIN_BLANK_LEN > size);
                }
                Fit::TooLarge => prop_assert!(len + MIN_BLANK_LEN > size),
            }
        }
    }
}
