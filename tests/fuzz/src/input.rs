//! Reading structure out of fuzzer bytes: a cursor that never fails (missing
//! bytes read as zero) and the compact store encoding shared by `scan_store`,
//! `stream_decode` and `recover_engine`.
//!
//! # Store encoding
//!
//! ```text
//! flags u8
//! item*  (at most MAX_ITEMS):
//!   tag u8 (mod 10)
//!   0..=5 segment: 0 commitlog, 1 consume queue, 2 index file, 3 DLedger data,
//!                  4 DLedger index, 5 batch consume queue
//!     [queue u8]            only for 1 and 5: topic TOPICS[q & 3], queue id q >> 2
//!     len u32               segment length, capped at MAX_SEGMENT
//!     id u8                 < 255: segment id = id * len; 255: a raw u64 id follows
//!     [id u64]
//!     n u32, bytes[n]       the segment's first bytes (the rest is zeros)
//!   6..=9 meta file: 6 store checkpoint, 7 abort, 8 DLedger checkpoint, 9 currterm
//!     n u32, bytes[n]
//! ```
//!
//! `scripts/fuzz-smoke.sh` writes fixture stores in this encoding as seeds.

use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile};

/// A cursor over fuzzer bytes; reads past the end give zeros / empty slices.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }
    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.data
    }
    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let b = self.bytes(N);
        out[..b.len()].copy_from_slice(b);
        out
    }
    /// A byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    /// A big-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }
    /// A big-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }
    /// A big-endian u64.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }
}

/// Largest segment a fuzz store holds.
pub const MAX_SEGMENT: u64 = 1 << 20;
/// Largest total of segment lengths.
pub const MAX_TOTAL: u64 = 8 << 20;
/// Most items parsed from one input.
pub const MAX_ITEMS: usize = 64;
/// Consume-queue topics.
pub const TOPICS: [&str; 4] = ["TopicA", "TopicB", "TopicC", "TopicD"];

/// One segment of a fuzz store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The log.
    pub log: LogId,
    /// Segment id (start offset / file name).
    pub id: u64,
    /// Its length.
    pub len: u64,
    /// Its first bytes (at most `len`); the rest is zeros.
    pub head: Vec<u8>,
}

impl Segment {
    /// The whole segment's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.head.clone();
        b.resize(usize::try_from(self.len).unwrap_or(0), 0);
        b
    }
}

/// A store described by fuzzer bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSpec {
    /// Option bits for the harness.
    pub flags: u8,
    /// Segments in input order (a later one replaces an earlier one with the same log and id).
    pub segments: Vec<Segment>,
    /// Meta files (a later one replaces an earlier one).
    pub meta: Vec<(MetaFile, Vec<u8>)>,
}

impl StoreSpec {
    /// Parses the encoding in the module docs; never fails.
    pub fn parse(data: &[u8]) -> Self {
        let mut inp = Input::new(data);
        let mut spec = Self {
            flags: inp.u8(),
            ..Self::default()
        };
        let mut total = 0u64;
        for _ in 0..MAX_ITEMS {
            if inp.is_empty() {
                break;
            }
            let tag = inp.u8() % 10;
            let log = match tag {
                0 => Some(LogId::CommitLog),
                1 | 5 => {
                    let q = inp.u8();
                    let topic = TOPICS[usize::from(q & 3)].to_string();
                    let queue_id = i32::from(q >> 2);
                    Some(if tag == 1 {
                        LogId::ConsumeQueue { topic, queue_id }
                    } else {
                        LogId::BatchConsumeQueue { topic, queue_id }
                    })
                }
                2 => Some(LogId::IndexFile),
                3 => Some(LogId::DLedgerData),
                4 => Some(LogId::DLedgerIndex),
                _ => None,
            };
            match log {
                Some(log) => {
                    let len = u64::from(inp.u32()).min(MAX_SEGMENT);
                    let id = match inp.u8() {
                        255 => inp.u64(),
                        k => u64::from(k) * len,
                    };
                    let n = inp.u32() as usize;
                    let head = inp.bytes(n.min(len as usize)).to_vec();
                    if total + len > MAX_TOTAL {
                        continue;
                    }
                    total += len;
                    spec.segments.push(Segment { log, id, len, head });
                }
                None => {
                    let file = match tag {
                        6 => MetaFile::StoreCheckpoint,
                        7 => MetaFile::Abort,
                        8 => MetaFile::DLedgerCheckpoint,
                        _ => MetaFile::CurrTerm,
                    };
                    let n = inp.u32() as usize;
                    spec.meta.push((file, inp.bytes(n).to_vec()));
                }
            }
        }
        spec
    }

    /// The store as a [`MemStore`].
    pub fn mem(&self) -> MemStore {
        let s = MemStore::new();
        for seg in &self.segments {
            s.insert_segment(seg.log.clone(), seg.id, seg.bytes());
        }
        for (f, b) in &self.meta {
            s.insert_meta(*f, b.clone());
        }
        s
    }
}

/// A small deterministic PRNG (xorshift64*) for chunk plans and picks.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from bytes (FNV-1a); never zero.
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for &x in b {
            h = (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        }
        Self(h | 1)
    }
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}
