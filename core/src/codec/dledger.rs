//! DLedger entries (48-byte header + body), the end-of-file filler (magic -1)
//! and the 32-byte index record.
//!
//! ```text
//! entry:  0 magic i32 | 4 size i32 | 8 index i64 | 16 term i64 | 24 pos i64
//!        32 channel i32 | 36 chainCrc i32 | 40 bodyCrc i32 | 44 bodyLength i32 | 48 body
//! blank:  0 0xFFFFFFFF | 4 length i32 (to the end of the file) | zeros
//! index:  0 magic i32 | 4 pos i64 | 12 size i32 | 16 index i64 | 24 term i64
//! ```

use crate::be;
use crate::crc::masked_crc32;
use crate::error::{DecodeError, DecodeErrorKind as K, EncodeError};

/// Header bytes before the body (`BODY_OFFSET`).
pub const HEADER_LEN: usize = 48;
/// `DLedgerEntry.HEADER_SIZE`: recovery requires `size > 44`.
pub const HEADER_SIZE_MIN: i32 = 44;
/// Offset of the `pos` field.
pub const POS_OFFSET: usize = 24;
/// Bytes of an index record.
pub const INDEX_UNIT_SIZE: usize = 32;
/// Magic of the end-of-file filler.
pub const BLANK_MAGIC: i32 = -1;
/// Normal entry (the only magic of the 0.3.x line).
pub const MAGIC_NORMAL: i32 = 1;
/// Master line: no-op entry.
pub const MAGIC_NOOP: i32 = 2;
/// Master line: configuration change.
pub const MAGIC_CONFIG_CHANGE: i32 = 3;

/// Which DLedger code line wrote (or will read) a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// 0.1 .. 0.3.x (RocketMQ's): magic 1 only, `pos` must equal the position, checkpoint file.
    Classic,
    /// master / 0.4.0: magic 1, 2 or 3, head blanks, no checkpoint.
    Master,
}

impl Line {
    /// Whether `magic` is an entry magic on this line.
    pub const fn valid_magic(self, magic: i32) -> bool {
        match self {
            Self::Classic => magic == MAGIC_NORMAL,
            Self::Master => matches!(magic, MAGIC_NORMAL | MAGIC_NOOP | MAGIC_CONFIG_CHANGE),
        }
    }
}

/// A decoded entry borrowing its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// magic.
    pub magic: i32,
    /// size (48 + body length).
    pub size: i32,
    /// Raft index.
    pub index: i64,
    /// Raft term.
    pub term: i64,
    /// Stored position.
    pub pos: i64,
    /// channel.
    pub channel: i32,
    /// chainCrc (0 when never computed, as Java writes).
    pub chain_crc: i32,
    /// bodyCrc (0 when never computed, as Java writes).
    pub body_crc: i32,
    /// Body length as stored.
    pub body_len: i32,
    /// The body.
    pub body: &'a [u8],
    /// The whole entry.
    pub raw: &'a [u8],
}

/// What lies at an entry position in a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataRecord<'a> {
    /// An entry.
    Entry(EntryView<'a>),
    /// Filler (magic -1) of `len` bytes.
    Blank {
        /// The stored length.
        len: i32,
    },
}

/// Reads just the header fields (no body, no checks beyond presence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// magic.
    pub magic: i32,
    /// size.
    pub size: i32,
    /// index.
    pub index: i64,
    /// term.
    pub term: i64,
    /// pos.
    pub pos: i64,
    /// channel.
    pub channel: i32,
    /// chainCrc.
    pub chain_crc: i32,
    /// bodyCrc.
    pub body_crc: i32,
    /// bodyLength.
    pub body_len: i32,
}

impl Header {
    /// Reads a header from the first 48 bytes of `b`, `None` if shorter.
    pub fn read(b: &[u8]) -> Option<Self> {
        Some(Self {
            magic: be::i32_at(b, 0)?,
            size: be::i32_at(b, 4)?,
            index: be::i64_at(b, 8)?,
            term: be::i64_at(b, 16)?,
            pos: be::i64_at(b, 24)?,
            channel: be::i32_at(b, 32)?,
            chain_crc: be::i32_at(b, 36)?,
            body_crc: be::i32_at(b, 40)?,
            body_len: be::i32_at(b, 44)?,
        })
    }
}

/// Decodes the data record at the start of `buf` (absolute `offset`).
///
/// Checks structure only: a known magic (blank or `line`'s entry magics),
/// `size == 48 + bodyLength`, `size > 44`, and enough bytes. Position, index
/// continuity and CRCs are the caller's (see [`check_crcs`]).
pub fn decode(buf: &[u8], offset: u64, line: Line) -> Result<DataRecord<'_>, DecodeError> {
    if buf.len() < 8 {
        return Err(DecodeError::new(
            offset,
            K::Truncated {
                needed: (8 - buf.len()) as u64,
            },
        ));
    }
    let magic = be::i32_at(buf, 0).unwrap_or(0);
    let size = be::i32_at(buf, 4).unwrap_or(0);
    if magic == BLANK_MAGIC {
        return Ok(DataRecord::Blank { len: size });
    }
    if !line.valid_magic(magic) {
        return Err(DecodeError::new(offset, K::BadMagic { found: magic }));
    }
    if size < HEADER_LEN as i32 {
        return Err(DecodeError::new(
            offset,
            K::SizeOutOfRange {
                field: "size",
                value: size.into(),
                min: HEADER_LEN as i64,
                max: i32::MAX.into(),
            },
        ));
    }
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::new(
            offset,
            K::Truncated {
                needed: (HEADER_LEN - buf.len()) as u64,
            },
        ));
    }
    let h =
        Header::read(buf).ok_or_else(|| DecodeError::new(offset, K::Truncated { needed: 48 }))?;
    if i64::from(h.body_len) + HEADER_LEN as i64 != i64::from(size) {
        return Err(DecodeError::new(
            offset,
            K::LengthMismatch {
                stored: size.into(),
                computed: i64::from(h.body_len) + HEADER_LEN as i64,
            },
        ));
    }
    let size_us = size as usize;
    if buf.len() < size_us {
        return Err(DecodeError::new(
            offset,
            K::Truncated {
                needed: (size_us - buf.len()) as u64,
            },
        ));
    }
    Ok(DataRecord::Entry(EntryView {
        magic,
        size,
        index: h.index,
        term: h.term,
        pos: h.pos,
        channel: h.channel,
        chain_crc: h.chain_crc,
        body_crc: h.body_crc,
        body_len: h.body_len,
        body: &buf[HEADER_LEN..size_us],
        raw: &buf[..size_us],
    }))
}

/// The chain CRC rocketlog writes: masked CRC-32 over the previous entry's
/// chain CRC (4 bytes, big-endian) followed by this entry's header fields
/// index, term and pos and its body CRC. 0 stays reserved for "absent".
pub fn chain_crc(prev_chain: i32, index: i64, term: i64, pos: i64, body_crc: i32) -> i32 {
    // The 32 bytes in one buffer: one CRC call instead of five (recovery
    // computes this for every entry).
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&prev_chain.to_be_bytes());
    b[4..12].copy_from_slice(&index.to_be_bytes());
    b[12..20].copy_from_slice(&term.to_be_bytes());
    b[20..28].copy_from_slice(&pos.to_be_bytes());
    b[28..].copy_from_slice(&body_crc.to_be_bytes());
    match masked_crc32(&b) {
        0 => 1,
        v => v,
    }
}

/// Body CRC as rocketlog writes it (masked CRC-32; 0 is mapped to 1 so that 0
/// keeps meaning "not computed", as every Java writer leaves it).
pub fn body_crc(body: &[u8]) -> i32 {
    match masked_crc32(body) {
        0 => 1,
        v => v,
    }
}

/// Checks a non-zero bodyCrc (and, given the previous entry's chain CRC, a
/// non-zero chainCrc). Zero fields are accepted: Java writes zeros.
pub fn check_crcs(
    e: &EntryView<'_>,
    offset: u64,
    prev_chain: Option<i32>,
) -> Result<(), DecodeError> {
    if e.body_crc != 0 {
        let c = body_crc(e.body);
        if c != e.body_crc {
            return Err(DecodeError::new(
                offset,
                K::CrcMismatch {
                    field: "bodyCrc",
                    stored: e.body_crc.into(),
                    computed: c.into(),
                },
            ));
        }
    }
    if let Some(prev) = prev_chain
        && e.chain_crc != 0
    {
        let c = chain_crc(prev, e.index, e.term, e.pos, e.body_crc);
        if c != e.chain_crc {
            return Err(DecodeError::new(
                offset,
                K::CrcMismatch {
                    field: "chainCrc",
                    stored: e.chain_crc.into(),
                    computed: c.into(),
                },
            ));
        }
    }
    Ok(())
}

/// An entry to encode.
#[derive(Debug, Clone, Copy)]
pub struct EntryParts<'a> {
    /// magic.
    pub magic: i32,
    /// index.
    pub index: i64,
    /// term.
    pub term: i64,
    /// pos.
    pub pos: i64,
    /// channel.
    pub channel: i32,
    /// chainCrc.
    pub chain_crc: i32,
    /// bodyCrc.
    pub body_crc: i32,
    /// body.
    pub body: &'a [u8],
}

impl EntryParts<'_> {
    /// Encoded length (48 + body).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }
    /// Encodes into `out` and returns the length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.encoded_len();
        if len > i32::MAX as usize {
            return Err(EncodeError::FieldTooLarge {
                field: "entry",
                value: len as u64,
                max: i32::MAX as u64,
            });
        }
        let Some(out) = out.get_mut(..len) else {
            return Err(EncodeError::BufferTooSmall { needed: len });
        };
        let mut w = be::Writer::new(out);
        w.i32(self.magic);
        w.i32(len as i32);
        w.i64(self.index);
        w.i64(self.term);
        w.i64(self.pos);
        w.i32(self.channel);
        w.i32(self.chain_crc);
        w.i32(self.body_crc);
        w.i32(self.body.len() as i32);
        w.bytes(self.body);
        w.finish()
            .ok_or(EncodeError::BufferTooSmall { needed: len })
    }
}

impl<'a> EntryView<'a> {
    /// Parts that re-encode this entry byte for byte.
    pub fn parts(&self) -> EntryParts<'a> {
        EntryParts {
            magic: self.magic,
            index: self.index,
            term: self.term,
            pos: self.pos,
            channel: self.channel,
            chain_crc: self.chain_crc,
            body_crc: self.body_crc,
            body: self.body,
        }
    }
}

/// Encodes the 8-byte header of a filler of `len` bytes (the rest is zeros).
pub fn blank_header(len: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
    b[4..].copy_from_slice(&len.to_be_bytes());
    b
}

/// A 32-byte index record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexRecord {
    /// magic of the entry.
    pub magic: i32,
    /// Position of the entry in the data log.
    pub pos: i64,
    /// Size of the entry.
    pub size: i32,
    /// index.
    pub index: i64,
    /// term.
    pub term: i64,
}

impl IndexRecord {
    /// Decodes a record from the first 32 bytes of `b`.
    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            magic: be::i32_at(b, 0)?,
            pos: be::i64_at(b, 4)?,
            size: be::i32_at(b, 12)?,
            index: be::i64_at(b, 16)?,
            term: be::i64_at(b, 24)?,
        })
    }
    /// Encodes the record.
    pub fn encode(&self) -> [u8; INDEX_UNIT_SIZE] {
        let mut b = [0u8; INDEX_UNIT_SIZE];
        let mut w = be::Writer::new(&mut b);
        w.i32(self.magic);
        w.i64(self.pos);
        w.i32(self.size);
        w.i64(self.index);
        w.i64(self.term);
        b
    }
    /// The index record describing an entry.
    pub fn of(e: &EntryView<'_>) -> Self {
        Self {
            magic: e.magic,
            pos: e.pos,
            size: e.size,
            index: e.index,
            term: e.term,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appendix_a_golden_bytes() {
        let body = b"msg-0-";
        let p = EntryParts {
            magic: 1,
            index: 0,
            term: 3,
            pos: 0,
            channel: 0,
            chain_crc: 0,
            body_crc: 0,
            body,
        };
        let mut b = [0u8; 54];
        assert_eq!(p.encode(&mut b), Ok(54));
        assert_eq!(&b[..8], &[0, 0, 0, 1, 0, 0, 0, 0x36]);
        assert_eq!(&b[44..], &[0, 0, 0, 6, b'm', b's', b'g', b'-', b'0', b'-']);
        let DataRecord::Entry(e) = decode(&b, 0, Line::Classic).unwrap() else {
            panic!()
        };
        assert_eq!(e.parts().encoded_len(), 54);
        let r = IndexRecord {
            magic: 1,
            pos: 0x154,
            size: 0x5e,
            index: 4,
            term: 3,
        }
        .encode();
        assert_eq!(
            r,
            [
                0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x54, 0, 0, 0, 0x5e, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0,
                0, 0, 0, 0, 0, 3
            ]
        );
        assert_eq!(IndexRecord::decode(&r).unwrap().pos, 0x154);
        assert_eq!(blank_header(64), [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x40]);
    }

    #[test]
    fn magic_lines() {
        let p = EntryParts {
            magic: 2,
            index: 0,
            term: 0,
            pos: 0,
            channel: 0,
            chain_crc: 0,
            body_crc: 0,
            body: b"",
        };
        let mut b = [0u8; 48];
        p.encode(&mut b).unwrap();
        assert!(decode(&b, 0, Line::Master).is_ok());
        assert!(matches!(
            decode(&b, 0, Line::Classic),
            Err(DecodeError {
                kind: K::BadMagic { found: 2 },
                ..
            })
        ));
    }
}
