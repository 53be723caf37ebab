//! ConsumeQueue units (20 bytes) and BatchConsumeQueue units (46 bytes).

use crate::be;

/// Bytes of a ConsumeQueue unit.
pub const CQ_UNIT_SIZE: usize = 20;
/// Bytes of a BatchConsumeQueue unit.
pub const BCQ_UNIT_SIZE: usize = 46;
/// Size of a filler unit written before the first real unit of a queue whose
/// first file starts at a non-zero queue offset (`fillPreBlank`).
pub const FILLER_SIZE: i32 = i32::MAX;

/// A ConsumeQueue unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CqUnit {
    /// Commitlog physical offset of the message.
    pub physical_offset: i64,
    /// Message TOTALSIZE.
    pub size: i32,
    /// Tags code (or an ext-file address when ConsumeQueueExt is on).
    pub tags_code: i64,
}

impl CqUnit {
    /// Decodes the first 20 bytes of `b`.
    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            physical_offset: be::i64_at(b, 0)?,
            size: be::i32_at(b, 8)?,
            tags_code: be::i64_at(b, 12)?,
        })
    }
    /// Encodes the unit.
    pub fn encode(&self) -> [u8; CQ_UNIT_SIZE] {
        let mut b = [0u8; CQ_UNIT_SIZE];
        let mut w = be::Writer::new(&mut b);
        w.i64(self.physical_offset);
        w.i32(self.size);
        w.i64(self.tags_code);
        b
    }
    /// The reference's validity test (`offset >= 0 && size > 0`); fillers count as valid.
    pub const fn is_valid(&self) -> bool {
        self.physical_offset >= 0 && self.size > 0
    }
    /// A `fillPreBlank` hole.
    pub const fn is_filler(&self) -> bool {
        self.physical_offset == 0 && self.size == FILLER_SIZE && self.tags_code == 0
    }
    /// The filler unit.
    pub const FILLER: Self = Self {
        physical_offset: 0,
        size: FILLER_SIZE,
        tags_code: 0,
    };
}

/// A BatchConsumeQueue unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BcqUnit {
    /// Commitlog physical offset.
    pub physical_offset: i64,
    /// Record size.
    pub size: i32,
    /// Tags code.
    pub tags_code: i64,
    /// Store timestamp.
    pub store_timestamp: i64,
    /// Queue offset of the first message in the record.
    pub msg_base_offset: i64,
    /// Messages in the record.
    pub batch_size: i16,
    /// Compacted offset (`-1` when unused).
    pub compacted_offset: i32,
}

impl BcqUnit {
    /// Decodes the first 46 bytes of `b`.
    pub fn decode(b: &[u8]) -> Option<Self> {
        // The reserved i32 at 42 must be present for a whole unit.
        be::i32_at(b, 42)?;
        Some(Self {
            physical_offset: be::i64_at(b, 0)?,
            size: be::i32_at(b, 8)?,
            tags_code: be::i64_at(b, 12)?,
            store_timestamp: be::i64_at(b, 20)?,
            msg_base_offset: be::i64_at(b, 28)?,
            batch_size: be::i16_at(b, 36)?,
            compacted_offset: be::i32_at(b, 38)?,
        })
    }
    /// Encodes the unit (reserved bytes zero).
    pub fn encode(&self) -> [u8; BCQ_UNIT_SIZE] {
        let mut b = [0u8; BCQ_UNIT_SIZE];
        let mut w = be::Writer::new(&mut b);
        w.i64(self.physical_offset);
        w.i32(self.size);
        w.i64(self.tags_code);
        w.i64(self.store_timestamp);
        w.i64(self.msg_base_offset);
        w.i16(self.batch_size);
        w.i32(self.compacted_offset);
        w.i32(0);
        b
    }
    /// The reference's validity test.
    pub const fn is_valid(&self) -> bool {
        self.physical_offset >= 0
            && self.size > 0
            && self.msg_base_offset >= 0
            && self.batch_size > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cq_roundtrip(o in any::<i64>(), s in any::<i32>(), t in any::<i64>()) {
            let u = CqUnit { physical_offset: o, size: s, tags_code: t };
            prop_assert_eq!(CqUnit::decode(&u.encode()), Some(u));
        }
        #[test]
        fn bcq_roundtrip(o in any::<i64>(), s in any::<i32>(), t in any::<i64>(), ts in any::<i64>(),
                         b in any::<i64>(), n in any::<i16>(), c in any::<i32>()) {
            let u = BcqUnit { physical_offset: o, size: s, tags_code: t, store_timestamp: ts,
                              msg_base_offset: b, batch_size: n, compacted_offset: c };
            prop_assert_eq!(BcqUnit::decode(&u.encode()), Some(u));
        }
    }

    #[test]
    fn tag_code_bytes_from_spec() {
        let u = CqUnit {
            physical_offset: 0,
            size: 1,
            tags_code: 2_598_919,
        };
        assert_eq!(&u.encode()[12..], &[0, 0, 0, 0, 0, 0x27, 0xa8, 0x07]);
        let u = CqUnit {
            physical_offset: 0,
            size: 1,
            tags_code: -1_829_193_424,
        };
        assert_eq!(
            &u.encode()[12..],
            &[0xff, 0xff, 0xff, 0xff, 0x92, 0xf8, 0xb9, 0x30]
        );
    }
}
