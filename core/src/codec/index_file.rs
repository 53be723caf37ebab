//! The RocketMQ IndexFile: a 40-byte header, `slots` 4-byte hash slots, then
//! `entries` 20-byte items chained per slot.
//!
//! ```text
//! header: 0 beginTimestamp i64 | 8 endTimestamp i64 | 16 beginPhyOffset i64
//!         24 endPhyOffset i64 | 32 hashSlotCount i32 | 36 indexCount i32
//! slot s at 40 + 4s: newest entry number in the bucket (0 = empty)
//! entry n at 40 + 4*slots + 20n: keyHash i32 | phyOffset i64 | timeDiff i32 (s) | prevIndex i32
//! ```

use alloc::vec::Vec;

use crate::be;
use crate::java::string_hash;

/// Header bytes.
pub const HEADER_LEN: usize = 40;
/// Bytes per hash slot.
pub const SLOT_LEN: usize = 4;
/// Bytes per entry.
pub const ENTRY_LEN: usize = 20;

/// Slot and entry counts (`maxHashSlotNum`, `maxIndexNum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexGeometry {
    /// Hash slots.
    pub slots: u32,
    /// Entries (entry 0 is never used).
    pub entries: u32,
}

impl IndexGeometry {
    /// Defaults: 5,000,000 slots, 20,000,000 entries.
    pub const DEFAULT: Self = Self {
        slots: 5_000_000,
        entries: 20_000_000,
    };
    /// File length for this geometry.
    pub const fn file_len(&self) -> u64 {
        HEADER_LEN as u64
            + self.slots as u64 * SLOT_LEN as u64
            + self.entries as u64 * ENTRY_LEN as u64
    }
    /// Byte position of slot `s`.
    pub const fn slot_pos(&self, s: u32) -> usize {
        HEADER_LEN + s as usize * SLOT_LEN
    }
    /// Byte position of entry `n`.
    pub const fn entry_pos(&self, n: u32) -> usize {
        HEADER_LEN + self.slots as usize * SLOT_LEN + n as usize * ENTRY_LEN
    }
    /// Infers the geometry from a file length, given the slot count or the
    /// entry count as a hint (an IndexFile does not record either).
    pub fn from_len_and_slots(len: u64, slots: u32) -> Option<Self> {
        let rest = len.checked_sub(HEADER_LEN as u64 + u64::from(slots) * SLOT_LEN as u64)?;
        (rest % ENTRY_LEN as u64 == 0).then(|| Self {
            slots,
            entries: (rest / ENTRY_LEN as u64) as u32,
        })
    }
    /// Infers the geometry from a file length, given the entry count.
    pub fn from_len_and_entries(len: u64, entries: u32) -> Option<Self> {
        let rest = len.checked_sub(HEADER_LEN as u64 + u64::from(entries) * ENTRY_LEN as u64)?;
        (rest % SLOT_LEN as u64 == 0).then(|| Self {
            slots: (rest / SLOT_LEN as u64) as u32,
            entries,
        })
    }
    /// Guesses a geometry for a file length: the reference default ratio
    /// (entries = 4 × slots) first, then every slot count that divides evenly
    /// with the entry count a multiple of the slot count, smallest ratio first.
    pub fn guess(len: u64) -> Option<Self> {
        let body = len.checked_sub(HEADER_LEN as u64)?;
        // 4s + 20·4s = 84s
        if body % 84 == 0 && body > 0 {
            let s = body / 84;
            if s <= u64::from(u32::MAX) {
                return Some(Self {
                    slots: s as u32,
                    entries: (4 * s) as u32,
                });
            }
        }
        // entries = k · slots: body = s (4 + 20k)
        for k in 1..=64u64 {
            let per = 4 + 20 * k;
            if body % per == 0 && body > 0 {
                let s = body / per;
                if s * k <= u64::from(u32::MAX) {
                    return Some(Self {
                        slots: s as u32,
                        entries: (s * k) as u32,
                    });
                }
            }
        }
        None
    }
}

/// The 40-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    /// Store time of the first indexed message.
    pub begin_timestamp: i64,
    /// Store time of the last indexed message.
    pub end_timestamp: i64,
    /// Commitlog offset of the first indexed message.
    pub begin_phy_offset: i64,
    /// Commitlog offset of the last indexed message.
    pub end_phy_offset: i64,
    /// Slots used at least once.
    pub hash_slot_count: i32,
    /// Next entry number (starts at 1).
    pub index_count: i32,
}

impl IndexHeader {
    /// Decodes the header.
    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            begin_timestamp: be::i64_at(b, 0)?,
            end_timestamp: be::i64_at(b, 8)?,
            begin_phy_offset: be::i64_at(b, 16)?,
            end_phy_offset: be::i64_at(b, 24)?,
            hash_slot_count: be::i32_at(b, 32)?,
            index_count: be::i32_at(b, 36)?,
        })
    }
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let mut w = be::Writer::new(&mut b);
        w.i64(self.begin_timestamp);
        w.i64(self.end_timestamp);
        w.i64(self.begin_phy_offset);
        w.i64(self.end_phy_offset);
        w.i32(self.hash_slot_count);
        w.i32(self.index_count);
        b
    }
    /// indexCount as readers use it (`<= 0` counts as 1).
    pub fn effective_count(&self) -> i32 {
        self.index_count.max(1)
    }
}

/// An index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexEntry {
    /// Non-negative key hash.
    pub key_hash: i32,
    /// Commitlog offset.
    pub phy_offset: i64,
    /// Seconds since the header's beginTimestamp.
    pub time_diff: i32,
    /// Previous entry in the bucket (0 = end).
    pub prev: i32,
}

impl IndexEntry {
    /// Decodes an entry.
    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            key_hash: be::i32_at(b, 0)?,
            phy_offset: be::i64_at(b, 4)?,
            time_diff: be::i32_at(b, 12)?,
            prev: be::i32_at(b, 16)?,
        })
    }
    /// Encodes an entry.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        let mut w = be::Writer::new(&mut b);
        w.i32(self.key_hash);
        w.i64(self.phy_offset);
        w.i32(self.time_diff);
        w.i32(self.prev);
        b
    }
}

/// The index key for `topic` and `key`: `topic#key`.
pub fn index_key(topic: &str, key: &str) -> alloc::string::String {
    let mut s = alloc::string::String::with_capacity(topic.len() + 1 + key.len());
    s.push_str(topic);
    s.push('#');
    s.push_str(key);
    s
}

/// `abs(hashCode)` with `Integer.MIN_VALUE` mapped to 0.
pub fn key_hash(key: &str) -> i32 {
    abs_hash(string_hash(key))
}

fn abs_hash(h: i32) -> i32 {
    let h = h.wrapping_abs();
    if h < 0 { 0 } else { h }
}

/// `key_hash(&index_key(topic, key))` without building the string: Java's
/// `hashCode` runs over the UTF-16 units of `topic`, `#`, `key` in turn.
pub fn index_key_hash(topic: &str, key: &str) -> i32 {
    let h = crate::java::string_hash_from(0, topic);
    let h = h.wrapping_mul(31).wrapping_add(i32::from(b'#'));
    abs_hash(crate::java::string_hash_from(h, key))
}

/// Reads slot `s` from a whole index file.
pub fn slot(file: &[u8], g: IndexGeometry, s: u32) -> Option<i32> {
    be::i32_at(file, g.slot_pos(s))
}

/// Reads entry `n` from a whole index file.
pub fn entry(file: &[u8], g: IndexGeometry, n: u32) -> Option<IndexEntry> {
    IndexEntry::decode(file.get(g.entry_pos(n)..)?)
}

/// Looks `key` up in one index file the way `IndexFile.selectPhyOffset` does,
/// appending matching offsets (newest first) to `out` until it holds `max`.
/// Collisions on the 32-bit hash are returned too, as in the reference.
pub fn select(
    file: &[u8],
    g: IndexGeometry,
    key: &str,
    begin: i64,
    end: i64,
    max: usize,
    out: &mut Vec<i64>,
) {
    let Some(h) = IndexHeader::decode(file) else {
        return;
    };
    if g.slots == 0 {
        return;
    }
    let hash = key_hash(key);
    let s = (hash as u32) % g.slots;
    let Some(head) = slot(file, g, s) else { return };
    let count = h.index_count;
    if head <= 0 || head > count || count <= 1 {
        return;
    }
    let mut cur = head;
    // The chain can only visit each entry once if it strictly decreases; bound
    // the walk anyway so a hostile file cannot loop.
    for _ in 0..g.entries {
        if out.len() >= max {
            break;
        }
        let Some(e) = entry(file, g, cur as u32) else {
            break;
        };
        if e.time_diff < 0 {
            break;
        }
        let t = h
            .begin_timestamp
            .saturating_add(i64::from(e.time_diff) * 1000);
        let in_range = t >= begin && t <= end;
        if e.key_hash == hash && in_range {
            out.push(e.phy_offset);
        }
        let prev = e.prev;
        if prev <= 0 || prev > count || prev == cur || t < begin {
            break;
        }
        cur = prev;
    }
}

/// Outcome of [`put_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutKey {
    /// Stored as entry number `n`.
    Stored(i32),
    /// The file is full (`indexCount >= entries`): start a new file.
    Full,
}

/// Inserts a key into a whole in-memory index file exactly as `IndexFile.putKey`
/// does (header written immediately). The caller persists the touched bytes:
/// the header, slot `hash % slots` and the new entry.
pub fn put_key(
    file: &mut [u8],
    g: IndexGeometry,
    key: &str,
    phy_offset: i64,
    store_timestamp: i64,
) -> PutKey {
    let Some(mut h) = IndexHeader::decode(file) else {
        return PutKey::Full;
    };
    if h.index_count < 0 || h.index_count as u32 >= g.entries || g.slots == 0 {
        return PutKey::Full;
    }
    let hash = key_hash(key);
    let s = (hash as u32) % g.slots;
    let mut slot_value = slot(file, g, s).unwrap_or(0);
    let count = h.effective_count();
    if slot_value <= 0 || slot_value > count {
        slot_value = 0;
    }
    // Java `long`/`int` arithmetic wraps; header fields come from the file.
    let mut diff = store_timestamp.wrapping_sub(h.begin_timestamp);
    diff /= 1000;
    let time_diff = if h.begin_timestamp <= 0 {
        0
    } else if diff > i64::from(i32::MAX) {
        i32::MAX
    } else if diff < 0 {
        0
    } else {
        diff as i32
    };
    let n = count;
    let e = IndexEntry {
        key_hash: hash,
        phy_offset,
        time_diff,
        prev: slot_value,
    };
    if !be::put(file, g.entry_pos(n as u32), &e.encode()) {
        return PutKey::Full;
    }
    be::put_i32(file, g.slot_pos(s), n);
    if h.index_count <= 1 {
        h.begin_phy_offset = phy_offset;
        h.begin_timestamp = store_timestamp;
    }
    if slot_value == 0 {
        h.hash_slot_count = h.hash_slot_count.wrapping_add(1);
    }
    h.index_count = n + 1;
    h.end_phy_offset = phy_offset;
    h.end_timestamp = store_timestamp;
    be::put(file, 0, &h.encode());
    PutKey::Stored(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn piecewise_key_hash_matches_the_joined_key() {
        assert_eq!(index_key_hash("TopicTest", "order-1"), 1_829_193_424);
        for (t, k) in [
            ("T", ""),
            ("", "k"),
            ("Topic\u{e9}", "cl\u{e9} \u{1F600}"),
            (
                "a-very-long-topic-name-that-overflows-the-hash-many-times",
                "w0-123456",
            ),
            ("BenchTopic", "\u{0}\u{7f}\u{80}"),
        ] {
            assert_eq!(index_key_hash(t, k), key_hash(&index_key(t, k)), "{t}#{k}");
        }
    }

    #[test]
    fn spec_hash_example() {
        assert_eq!(key_hash("TopicTest#order-1"), 1_829_193_424);
        assert_eq!(1_829_193_424 % 5_000_000, 4_193_424);
        assert_eq!(IndexGeometry::DEFAULT.file_len(), 420_000_040);
        assert_eq!(
            IndexGeometry::guess(1384),
            Some(IndexGeometry {
                slots: 16,
                entries: 64
            })
        );
        assert_eq!(
            IndexGeometry::guess(420_000_040),
            Some(IndexGeometry::DEFAULT)
        );
    }

    #[test]
    fn put_then_select() {
        let g = IndexGeometry {
            slots: 4,
            entries: 6,
        };
        let mut f = vec![0u8; g.file_len() as usize];
        for i in 0..5 {
            assert_eq!(
                put_key(&mut f, g, "T#k", i * 100, 1_000_000 + i * 1000),
                PutKey::Stored(i as i32 + 1)
            );
        }
        assert_eq!(put_key(&mut f, g, "T#k", 999, 2_000_000), PutKey::Full);
        let mut out = Vec::new();
        select(&f, g, "T#k", 0, i64::MAX, 64, &mut out);
        assert_eq!(out, [400, 300, 200, 100, 0]);
        let h = IndexHeader::decode(&f).unwrap();
        assert_eq!(
            (h.index_count, h.hash_slot_count, h.end_phy_offset),
            (6, 1, 400)
        );
    }
}
