//! The RocketMQ `checkpoint` file (4096 bytes; five i64 at offsets 0..40).

use crate::be;
use crate::error::{DecodeError, DecodeErrorKind as K};

/// Size of the checkpoint file.
pub const CHECKPOINT_FILE_LEN: usize = 4096;

/// StoreCheckpoint contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCheckpoint {
    /// Store time of the last flushed commitlog message.
    pub physic_msg_timestamp: i64,
    /// Store time of the last dispatched consume-queue unit.
    pub logics_msg_timestamp: i64,
    /// End time of the last full index file flushed.
    pub index_msg_timestamp: i64,
    /// HA flushed offset.
    pub master_flushed_offset: i64,
    /// Confirm offset (start of the last valid message after plain recovery).
    pub confirm_phy_offset: i64,
}

impl StoreCheckpoint {
    /// Decodes a checkpoint file. Files shorter than 24 bytes are errors; 4.x
    /// files of 24..40 bytes leave the later fields 0.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() < 24 {
            return Err(DecodeError::new(
                0,
                K::Truncated {
                    needed: (24 - b.len()) as u64,
                },
            ));
        }
        Ok(Self {
            physic_msg_timestamp: be::i64_at(b, 0).unwrap_or(0),
            logics_msg_timestamp: be::i64_at(b, 8).unwrap_or(0),
            index_msg_timestamp: be::i64_at(b, 16).unwrap_or(0),
            master_flushed_offset: be::i64_at(b, 24).unwrap_or(0),
            confirm_phy_offset: be::i64_at(b, 32).unwrap_or(0),
        })
    }
    /// Encodes the whole 4096-byte file.
    pub fn encode(&self) -> [u8; CHECKPOINT_FILE_LEN] {
        let mut b = [0u8; CHECKPOINT_FILE_LEN];
        let mut w = be::Writer::new(&mut b);
        w.i64(self.physic_msg_timestamp);
        w.i64(self.logics_msg_timestamp);
        w.i64(self.index_msg_timestamp);
        w.i64(self.master_flushed_offset);
        w.i64(self.confirm_phy_offset);
        b
    }
    /// `getMinTimestamp()`: `max(0, min(physic, logics) - 3000)`, with Java's
    /// wrapping `long` subtraction (a hostile file may hold `Long.MIN_VALUE`).
    pub fn min_timestamp(&self) -> i64 {
        (self.physic_msg_timestamp.min(self.logics_msg_timestamp))
            .wrapping_sub(3000)
            .max(0)
    }
    /// `getMinTimestampIndex()`.
    pub fn min_timestamp_index(&self) -> i64 {
        self.min_timestamp().min(self.index_msg_timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let c = StoreCheckpoint {
            physic_msg_timestamp: 1,
            logics_msg_timestamp: 2,
            index_msg_timestamp: 3,
            master_flushed_offset: 4,
            confirm_phy_offset: -5,
        };
        let b = c.encode();
        assert_eq!(StoreCheckpoint::decode(&b), Ok(c));
        assert!(b[40..].iter().all(|&x| x == 0));
        assert!(
            StoreCheckpoint::decode(&b[..23])
                .unwrap_err()
                .is_truncated()
        );
    }
}
