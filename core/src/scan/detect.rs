//! Which kind of store a [`PageRead`] holds, judged from content (the first
//! record of the first written segment), not from names, and its file sizes.
//!
//! * plain RocketMQ: CommitLog records, magic V1/V2 at byte 4 (TOTALSIZE at 0);
//! * DLedger: entries with magic 1..=3 at byte 0 and the size at byte 4, or a
//!   blank (−1) at byte 0;
//! * RocketMQ in DLedger mode: DLedger entries whose bodies are CommitLog records.
//!
//! Both the `commitlog` log and the DLedger `data` log are examined, so a host
//! that mapped a directory to the wrong log still learns what it holds
//! ([`Detection::data_log`]).

use core::fmt;

use crate::be;
use crate::codec::dledger::{self as dl, HEADER_LEN, INDEX_UNIT_SIZE, Line};
use crate::codec::message as msg;
use crate::scan::dledger::infer_file_size;
use crate::store::{LogId, PageRead, SegmentId, SegmentInfo, StoreError};

/// How many segments of a log are looked at before giving up on finding a
/// written one (a file of zeros is unwritten).
const MAX_PROBES: usize = 4;

/// Bytes read from the start of a segment: a DLedger header, the next blank or
/// the message header inside the body.
const PROBE: usize = HEADER_LEN + 8;

/// The kind of store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Plain RocketMQ CommitLog.
    RocketMq,
    /// A DLedger store with opaque entry bodies.
    DLedger,
    /// RocketMQ in DLedger commitlog mode: one message per entry body.
    RocketMqDLedger,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RocketMq => "rocketmq",
            Self::DLedger => "dledger",
            Self::RocketMqDLedger => "rocketmq-dledger",
        })
    }
}

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The kind.
    pub kind: StoreKind,
    /// The log whose content decided it (normally `CommitLog` for RocketMQ and
    /// `DLedgerData` otherwise).
    pub data_log: LogId,
    /// Size of the files of `data_log`, inferred from their lengths.
    pub file_size: u64,
    /// DLedger index file size, when DLedger index files exist.
    pub index_file_size: Option<u64>,
    /// DLedger line evidence: `Some(Master)` when the content shows master
    /// entry types (magic 2/3) or a head blank; `None` when it does not tell.
    pub line_hint: Option<Line>,
    /// File size of an old-format commitlog kept beside DLedger data (a store
    /// upgraded to DLedger mode), if there is one.
    pub old_commitlog_file_size: Option<u64>,
}

/// Why detection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectError {
    /// No commitlog or DLedger data segment holds any written byte.
    Empty,
    /// The first written record is neither format.
    Foreign {
        /// Which log.
        log: LogId,
        /// Which segment.
        segment: SegmentId,
        /// The first bytes found there.
        head: [u8; 8],
    },
    /// The storage failed.
    Store(StoreError),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => {
                f.write_str("empty store: no commitlog or DLedger data file holds a written record")
            }
            Self::Foreign { log, segment, head } => {
                write!(
                    f,
                    "{log}/{} does not start with a RocketMQ or DLedger record (first bytes ",
                    crate::layout::file_name(*segment)
                )?;
                for b in head {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(")")
            }
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for DetectError {}

impl From<StoreError> for DetectError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// What one record head looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// Nothing written (zeros).
    Unwritten,
    /// A CommitLog record or blank.
    Message,
    /// A DLedger entry; `rocketmq` when its body is a CommitLog record.
    Entry { magic: i32, rocketmq: bool },
    /// A DLedger blank of this size.
    Blank(u64),
    /// Neither.
    Foreign,
}

fn classify(b: &[u8], seg_len: u64) -> Head {
    let (Some(a), Some(s)) = (be::i32_at(b, 0), be::i32_at(b, 4)) else {
        return if b.iter().all(|&x| x == 0) {
            Head::Unwritten
        } else {
            Head::Foreign
        };
    };
    if a == 0 && s == 0 {
        return Head::Unwritten;
    }
    let fits = |n: i32| u64::try_from(n).is_ok_and(|n| n <= seg_len);
    if matches!(s, msg::MAGIC_V1 | msg::MAGIC_V2) && a >= msg::MIN_RECORD_LEN as i32 && fits(a) {
        return Head::Message;
    }
    if s == msg::BLANK_MAGIC && fits(a) && a > 0 {
        return Head::Message;
    }
    if a == dl::BLANK_MAGIC && s >= crate::layout::MIN_BLANK_LEN as i32 && fits(s) {
        return Head::Blank(s as u64);
    }
    if Line::Master.valid_magic(a)
        && s >= HEADER_LEN as i32
        && fits(s)
        && be::i32_at(b, 44).map(|l| l.wrapping_add(HEADER_LEN as i32)) == Some(s)
    {
        let body = b.get(HEADER_LEN..).unwrap_or(&[]);
        let rocketmq = matches!(be::i32_at(body, 4), Some(msg::MAGIC_V1 | msg::MAGIC_V2))
            && be::i32_at(body, 0) == Some(s - HEADER_LEN as i32);
        return Head::Entry { magic: a, rocketmq };
    }
    Head::Foreign
}

/// The verdict on one log: kind, master evidence.
struct Verdict {
    kind: StoreKind,
    master: bool,
}

fn probe_log<S: PageRead + ?Sized>(
    store: &S,
    log: &LogId,
    segs: &[SegmentInfo],
) -> Result<Option<Verdict>, DetectError> {
    let mut master = false;
    for (n, seg) in segs
        .iter()
        .filter(|s| s.len > 0)
        .take(MAX_PROBES)
        .enumerate()
    {
        let mut at = 0u64;
        // A head blank can precede the first entry (master); look past it once.
        for _ in 0..2 {
            let want = (seg.len.saturating_sub(at)).min(PROBE as u64);
            let mut b = [0u8; PROBE];
            let b = &mut b[..want as usize];
            store.read(log, seg.id, at, b)?;
            match classify(b, seg.len - at) {
                Head::Unwritten => break,
                Head::Message => {
                    return Ok(Some(Verdict {
                        kind: StoreKind::RocketMq,
                        master,
                    }));
                }
                Head::Entry { magic, rocketmq } => {
                    return Ok(Some(Verdict {
                        kind: if rocketmq {
                            StoreKind::RocketMqDLedger
                        } else {
                            StoreKind::DLedger
                        },
                        master: master || magic != dl::MAGIC_NORMAL,
                    }));
                }
                Head::Blank(len) => {
                    master |= n == 0 && at == 0;
                    at += len;
                    if at >= seg.len {
                        break;
                    }
                }
                Head::Foreign => {
                    let mut head = [0u8; 8];
                    let k = b.len().min(8);
                    head[..k].copy_from_slice(&b[..k]);
                    return Err(DetectError::Foreign {
                        log: log.clone(),
                        segment: seg.id,
                        head,
                    });
                }
            }
        }
    }
    Ok(None)
}

/// Says which kind of store `store` holds and infers its file sizes. Looks at
/// no more than the first record (or two, past a head blank) of the first few
/// segments of the commitlog and DLedger data logs.
pub fn detect<S: PageRead + ?Sized>(store: &S) -> Result<Detection, DetectError> {
    let dledger = store.segments(&LogId::DLedgerData)?;
    let commitlog = store.segments(&LogId::CommitLog)?;
    let index_file_size = infer_file_size(&store.segments(&LogId::DLedgerIndex)?)
        .filter(|s| s % INDEX_UNIT_SIZE as u64 == 0);

    let d = probe_log(store, &LogId::DLedgerData, &dledger)?;
    let c = probe_log(store, &LogId::CommitLog, &commitlog)?;
    let (verdict, log, segs) = match (d, c) {
        (Some(d), _) => (d, LogId::DLedgerData, &dledger),
        (None, Some(c)) => (c, LogId::CommitLog, &commitlog),
        (None, None) => return Err(DetectError::Empty),
    };
    let file_size = infer_file_size(segs).ok_or(DetectError::Empty)?;
    let old_commitlog_file_size = match (&log, verdict.kind) {
        (LogId::DLedgerData, StoreKind::RocketMqDLedger) => infer_file_size(&commitlog),
        _ => None,
    };
    let kind = match (verdict.kind, old_commitlog_file_size) {
        // DLedger entries next to an old commitlog: an upgraded RocketMQ store.
        (StoreKind::DLedger, _) if log == LogId::DLedgerData && !commitlog.is_empty() => {
            StoreKind::RocketMqDLedger
        }
        (k, _) => k,
    };
    Ok(Detection {
        kind,
        data_log: log,
        file_size,
        index_file_size: match verdict.kind {
            StoreKind::RocketMq => None,
            _ => index_file_size,
        },
        line_hint: verdict.master.then_some(Line::Master),
        old_commitlog_file_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::dledger::EntryParts;
    use crate::mem::MemStore;
    use alloc::vec;
    use alloc::vec::Vec;

    fn entry(magic: i32, body: &[u8]) -> Vec<u8> {
        let p = EntryParts {
            magic,
            index: 0,
            term: 1,
            pos: 0,
            channel: 0,
            chain_crc: 0,
            body_crc: 0,
            body,
        };
        let mut b = vec![0u8; p.encoded_len()];
        p.encode(&mut b).unwrap();
        b
    }

    #[test]
    fn empty_and_zero_stores() {
        let s = MemStore::new();
        assert_eq!(detect(&s), Err(DetectError::Empty));
        s.insert_segment(LogId::DLedgerData, 0, vec![0; 512]);
        assert_eq!(detect(&s), Err(DetectError::Empty));
    }

    #[test]
    fn foreign_bytes() {
        let s = MemStore::new();
        let mut f = vec![0u8; 512];
        f[..8].copy_from_slice(b"PK\x03\x04abcd");
        s.insert_segment(LogId::DLedgerData, 0, f);
        let e = detect(&s).unwrap_err();
        assert!(matches!(e, DetectError::Foreign { segment: 0, .. }), "{e}");
        assert!(alloc::format!("{e}").contains("504b0304"));
    }

    #[test]
    fn dledger_entry_and_master_hints() {
        let s = MemStore::new();
        let mut f = vec![0u8; 1024];
        let e = entry(1, b"hello");
        f[..e.len()].copy_from_slice(&e);
        s.insert_segment(LogId::DLedgerData, 0, f.clone());
        s.insert_segment(LogId::DLedgerIndex, 0, vec![0; 256]);
        let d = detect(&s).unwrap();
        assert_eq!(d.kind, StoreKind::DLedger);
        assert_eq!(
            (d.file_size, d.index_file_size, d.line_hint),
            (1024, Some(256), None)
        );

        // A head blank of 100 bytes, then a NOOP entry.
        let mut g = vec![0u8; 1024];
        g[..8].copy_from_slice(&dl::blank_header(100));
        let n = entry(2, b"");
        g[100..100 + n.len()].copy_from_slice(&n);
        let s = MemStore::new();
        s.insert_segment(LogId::DLedgerData, 0, g);
        let d = detect(&s).unwrap();
        assert_eq!(
            (d.kind, d.line_hint),
            (StoreKind::DLedger, Some(Line::Master))
        );
    }

    #[test]
    fn hostile_sizes_are_foreign() {
        let s = MemStore::new();
        let mut f = vec![0u8; 64];
        f[..8].copy_from_slice(&[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
        s.insert_segment(LogId::DLedgerData, 0, f);
        assert!(matches!(detect(&s), Err(DetectError::Foreign { .. })));
    }
}
