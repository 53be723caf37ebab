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

/// Size of an encoded [`IndexSyncPoint`].
pub const INDEX_SYNC_POINT_LEN: usize = 32;
const INDEX_SYNC_MAGIC: &[u8; 4] = b"RLIX";
const INDEX_SYNC_VERSION: i32 = 1;

/// How much of the active index file was durable at the last index flush:
/// entries `1..count` of the file named `file` had been synced.
///
/// rocketlog's own meta file ([`crate::store::MetaFile::IndexSyncPoint`],
/// `.rocketlog-index-sync` in the store root: the reference neither reads
/// nor writes it, and the `checkpoint` stays byte for byte the reference's).
/// Written (atomically, durably) after the index sync it describes.
/// Recovery after an abnormal shutdown trusts those entries and checks only
/// the later ones against their records, instead of rebuilding the file.
///
/// Layout (32 bytes, big-endian): `RLIX`, version 1 (i32), file (i64),
/// count (i32), 0 (i32), masked CRC32 of bytes 0..24 (i32), 0 (i32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSyncPoint {
    /// Name (creation time) of the index file.
    pub file: u64,
    /// Its `indexCount` at the sync (entries `1..count` are durable).
    pub count: i32,
}

impl IndexSyncPoint {
    /// The file's contents.
    pub fn encode(&self) -> [u8; INDEX_SYNC_POINT_LEN] {
        let mut b = [0u8; INDEX_SYNC_POINT_LEN];
        b[..4].copy_from_slice(INDEX_SYNC_MAGIC);
        be::put_i32(&mut b, 4, INDEX_SYNC_VERSION);
        be::put_i64(&mut b, 8, self.file as i64);
        be::put_i32(&mut b, 16, self.count);
        let crc = crate::crc::masked_crc32(&b[..24]);
        be::put_i32(&mut b, 24, crc);
        b
    }

    /// Decodes the file; `None` unless it is exactly a valid sync point
    /// (a torn or foreign file vouches for nothing).
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != INDEX_SYNC_POINT_LEN
            || &b[..4] != INDEX_SYNC_MAGIC
            || be::i32_at(b, 4)? != INDEX_SYNC_VERSION
            || be::i32_at(b, 24)? != crate::crc::masked_crc32(&b[..24])
        {
            return None;
        }
        let count = be::i32_at(b, 16)?;
        (count >= 1).then_some(Self {
            file: be::i64_at(b, 8)? as u64,
            count,
        })
    }
}

#[cfg(test)]
mod sync_point_tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let p = IndexSyncPoint {
            file: 20_261_121_202_848_825,
            count: 942_001,
        };
        let b = p.encode();
        assert_eq!(IndexSyncPoint::decode(&b), Some(p));
        for bit in 0..28 * 8 {
            let mut f = b;
            f[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(IndexSyncPoint::decode(&f), None, "bit {bit}");
        }
        assert_eq!(IndexSyncPoint::decode(&b[..31]), None);
        assert_eq!(IndexSyncPoint::decode(&[0u8; 32]), None);
        let zero = IndexSyncPoint { file: 1, count: 0 };
        assert_eq!(IndexSyncPoint::decode(&zero.encode()), None);
    }
}
