//! The DLedger log store (classic 0.3.1.2 line, as RocketMQ uses it) over a
//! [`PageStore`]: recovery, leader and follower appends, reads, follower
//! truncation and rebuild, expiry, the committed index, `checkpoint` and
//! `currterm`, and flush planning.
//!
//! Files are byte-compatible with Java 0.3.1.2: entries, index records and
//! fillers are laid out exactly as Java lays them out (see the fixture tests).
//! The differences are improvements Java ignores or cannot observe:
//!
//! * **CRCs** ([`CrcMode::Rocketlog`], the default): `bodyCrc` holds the
//!   masked CRC-32 of the body and `chainCrc` a CRC chained over the previous
//!   entry's (both never 0). Recovery checks them when non-zero, over the whole
//!   log (Java scans only the last 3 files: bug B4; it checks no CRC: B3).
//!   [`CrcMode::JavaZeros`] writes zeros exactly as Java does.
//! * **Truncation zeroes** the truncated bytes and is synced before it
//!   returns, so truncated entries never come back (B2).
//! * **Follower positions are checked before writing** (B7).
//! * **The store latches** on the first I/O failure ([`Checked`]): after a
//!   failed index write no second entry can reuse the index (B6).
//! * **`checkpoint` and `currterm`** are replaced through the atomic, durable
//!   [`PageStore::write_meta`] (B5: Java deletes then renames, without fsync).
//! * **Truncation lowers the committed index** when it cuts below it (B12).
//! * **The log start survives a follower rebuild** (B1). A rebuild at
//!   `(index i, pos p)` leaves zeros before `p` in the first data file, which
//!   Java 0.3.1.2's recovery reads as "empty log". Head blanks (the master
//!   line's fix) would make Java skip the file's entries, so instead the start
//!   is persisted in the `checkpoint` file as two extra keys,
//!   `rocketlog.beginPos=<p>` and `rocketlog.beginIndex=<i>`. Java's
//!   `Properties.load` ignores unknown keys, so Java still reads the file (and
//!   behaves exactly as before); rocketlog's recovery starts its scan there
//!   when `p` lies in the first data file and requires index `i` there. The
//!   marker is also rewritten after each expiry (with the chainCrc of the
//!   entry before the new first one, `rocketlog.beginPrevChain`), so the first
//!   entry of the log is as well protected as every later one.
//!
//! # Calling order
//!
//! 1. [`DLedger::open`] runs recovery and returns the store and a
//!    [`RecoveryReport`]. Nothing can be appended before it has finished.
//! 2. Mutations: [`append_as_leader`](DLedger::append_as_leader),
//!    [`append_as_follower`](DLedger::append_as_follower),
//!    [`truncate_follower`](DLedger::truncate_follower),
//!    [`remove_expired_head`](DLedger::remove_expired_head),
//!    [`update_committed`](DLedger::update_committed),
//!    [`set_term`](DLedger::set_term).
//! 3. Durability: either drive [`poll_flush`](DLedger::poll_flush) /
//!    [`complete_flush`](DLedger::complete_flush) with the host clock, or call
//!    [`flush_all`](DLedger::flush_all); then
//!    [`persist_checkpoint`](DLedger::persist_checkpoint) every few seconds
//!    (Java: 3 s) and at shutdown. An entry is durable once `flush_all`
//!    returned after it was appended.
//! 4. After any error from the store, every call fails with `PreviousIo`:
//!    drop the engine, and open the store again.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::be;
use crate::checked::Checked;
use crate::codec::dledger::{
    self as codec, DataRecord, EntryParts, EntryView, HEADER_LEN, INDEX_UNIT_SIZE, IndexRecord,
    Line, MAGIC_NORMAL,
};
use crate::codec::{kv, message};
use crate::engine::fanout::{Fanout, Sequential};
use crate::engine::flush::{FlushPlanner, FlushPolicy, FlushRequest};
use crate::engine::segments::{SegmentError, SegmentQueue};
use crate::error::DecodeError;
use crate::layout;
use crate::store::{LogId, MetaFile, PageRead, PageStore, SegmentId, StoreError};

mod entries;
mod recover;

pub use recover::{Cut, RecoveryMode, RecoveryReport, ScanStop};

/// Largest encoded entry Java can write (`localEntryBuffer` is 4 MiB; B16).
pub const MAX_ENTRY_LEN: u64 = 4 * 1024 * 1024;
/// Checkpoint key holding the data offset where the log starts after a rebuild.
pub const BEGIN_POS_KEY: &str = "rocketlog.beginPos";
/// Checkpoint key holding the index of the entry at [`BEGIN_POS_KEY`].
pub const BEGIN_INDEX_KEY: &str = "rocketlog.beginIndex";
/// Checkpoint key holding the chainCrc of the entry before the first one (after an expiry).
pub const BEGIN_PREV_CHAIN_KEY: &str = "rocketlog.beginPrevChain";

const INDEX_UNIT: u64 = INDEX_UNIT_SIZE as u64;
/// Largest index whose record offset (`index * 32`) fits in an `i64`.
pub const MAX_INDEX: i64 = i64::MAX / INDEX_UNIT_SIZE as i64;

/// What goes into the two CRC fields of new entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcMode {
    /// Masked CRC-32 of the body in `bodyCrc`, the chained CRC in `chainCrc`.
    Rocketlog,
    /// Zeros, as every Java version writes.
    JavaZeros,
}

/// Store configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DLedgerConfig {
    /// `mappedFileSizeForEntryData` (Java default 1 GiB).
    pub data_file_size: u64,
    /// `mappedFileSizeForEntryIndex` (Java default 160 MiB; a multiple of 32).
    pub index_file_size: u64,
    /// CRC fields of new entries.
    pub crc: CrcMode,
    /// RocketMQ DLedger commitlog mode: each body is one commitlog record whose
    /// PHYSICALOFFSET is set to `pos + 48` (and `__CRC32#` restamped) before
    /// the leader writes it, as RocketMQ's append hook does.
    pub commitlog_mode: bool,
    /// What recovery does with damage.
    pub recovery: RecoveryMode,
    /// Flush policy for [`DLedger::poll_flush`].
    pub flush: FlushPolicy,
}

impl Default for DLedgerConfig {
    fn default() -> Self {
        Self {
            data_file_size: 1024 * 1024 * 1024,
            index_file_size: INDEX_UNIT * 5 * 1024 * 1024,
            crc: CrcMode::Rocketlog,
            commitlog_mode: false,
            recovery: RecoveryMode::Repair,
            flush: FlushPolicy::DLEDGER,
        }
    }
}

/// A DLedger store failure.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DLedgerError {
    /// The store failed (or is latched after an earlier failure).
    Store(StoreError),
    /// A segment-level problem (wrong file size, gap, ...), naming the file.
    Segment(SegmentError),
    /// Strict recovery found damage and changed nothing; the report says what and where.
    Refused(alloc::boxed::Box<RecoveryReport>),
    /// A meta file that cannot be parsed.
    BadMeta {
        /// Which file.
        file: MetaFile,
        /// Why.
        error: DecodeError,
    },
    /// Unusable configuration.
    Config(&'static str),
    /// A follower entry whose index is not the next one.
    InconsistentIndex {
        /// The index expected.
        expected: i64,
        /// The index given.
        got: i64,
    },
    /// A follower entry whose `pos` is not where it would be written (checked before writing: B7).
    InconsistentPos {
        /// The entry's index.
        index: i64,
        /// Where it would land.
        expected: u64,
        /// Its `pos` field.
        got: i64,
    },
    /// A term lower than the last entry's or the current term.
    TermDecreased {
        /// The current / last term.
        last: i64,
        /// The term given.
        got: i64,
    },
    /// An index outside `[begin, end]`.
    IndexOutOfRange {
        /// Requested.
        index: i64,
        /// First index (-1: empty).
        begin: i64,
        /// Last index (-1: empty).
        end: i64,
    },
    /// An entry larger than Java can handle or than a data file can hold.
    EntryTooLarge {
        /// Encoded length.
        len: u64,
        /// Largest allowed.
        max: u64,
    },
    /// An entry given or read back that is malformed.
    BadEntry(DecodeError),
    /// Commitlog mode: the body is not one commitlog record.
    NotAMessage {
        /// The entry index it would get.
        index: i64,
    },
}

impl fmt::Display for DLedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "{e}"),
            Self::Segment(e) => write!(f, "{e}"),
            Self::Refused(r) => write!(f, "strict recovery refused: {r}"),
            Self::BadMeta { file, error } => write!(f, "{file}: {error}"),
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::InconsistentIndex { expected, got } => {
                write!(f, "entry index {got}, expected {expected}")
            }
            Self::InconsistentPos {
                index,
                expected,
                got,
            } => write!(
                f,
                "entry {index}: pos {got} but it would be written at {expected} (nothing written)"
            ),
            Self::TermDecreased { last, got } => write!(f, "term {got} below {last}"),
            Self::IndexOutOfRange { index, begin, end } => {
                write!(f, "index {index} outside the log [{begin}, {end}]")
            }
            Self::EntryTooLarge { len, max } => write!(f, "entry of {len} bytes exceeds {max}"),
            Self::BadEntry(e) => write!(f, "bad entry: {e}"),
            Self::NotAMessage { index } => {
                write!(f, "entry {index}: body is not one commitlog record")
            }
        }
    }
}

impl core::error::Error for DLedgerError {}

impl From<StoreError> for DLedgerError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<SegmentError> for DLedgerError {
    fn from(e: SegmentError) -> Self {
        match e {
            SegmentError::Store(s) => Self::Store(s),
            other => Self::Segment(other),
        }
    }
}

/// Where an appended entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Appended {
    /// Raft index.
    pub index: i64,
    /// Term.
    pub term: i64,
    /// Data offset of the entry.
    pub pos: u64,
    /// Encoded size (48 + body).
    pub size: u32,
}

/// The persisted start of the log (see the module docs, B1): written after
/// a follower rebuild and after an expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartMarker {
    /// Data offset of the first entry.
    pub pos: u64,
    /// Its index.
    pub index: i64,
    /// chainCrc of the entry before it, when known (after an expiry), so
    /// recovery can verify the first entry's chain too.
    pub prev_chain: Option<i32>,
}

/// The DLedger store.
#[derive(Debug)]
pub struct DLedger<S: PageStore> {
    store: Checked<S>,
    cfg: DLedgerConfig,
    data: SegmentQueue,
    index: SegmentQueue,
    planner: FlushPlanner,
    /// First index; -1 when the log is empty (Java's `ledgerBeginIndex`).
    begin: i64,
    /// Last index; -1 when nothing was ever appended (Java's `ledgerEndIndex`).
    end: i64,
    end_term: i64,
    /// chainCrc of the last entry (0 when absent or written by Java).
    last_chain: i32,
    committed_index: i64,
    committed_pos: i64,
    term: kv::CurrTerm,
    marker: Option<StartMarker>,
    buf: Vec<u8>,
}

impl<S: PageStore> DLedger<S> {
    /// Opens a store: loads the files, recovers (see [`RecoveryMode`]) and
    /// makes every repair durable before returning.
    pub fn open(store: S, cfg: DLedgerConfig) -> Result<(Self, RecoveryReport), DLedgerError> {
        Self::open_with(store, cfg, &Sequential)
    }

    /// [`open`](Self::open) with the entries checked by `fanout`'s jobs (on
    /// all cores, for a host that has threads). The outcome (report, state,
    /// every byte of the files) is exactly [`open`](Self::open)'s.
    pub fn open_with(
        store: S,
        cfg: DLedgerConfig,
        fanout: &dyn Fanout,
    ) -> Result<(Self, RecoveryReport), DLedgerError> {
        recover::open(Checked::new(store), cfg, fanout)
    }

    // ---- getters --------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &DLedgerConfig {
        &self.cfg
    }
    /// The store (through the failure latch).
    pub fn store(&self) -> &S {
        self.store.inner()
    }
    /// Gives the store back (e.g. to reopen it after a failure).
    pub fn into_store(self) -> S {
        self.store.into_inner()
    }
    /// The failure that latched the store, if any.
    pub fn latched(&self) -> Option<StoreError> {
        self.store.latched()
    }
    /// `ledgerBeginIndex` (-1: empty).
    pub fn begin_index(&self) -> i64 {
        self.begin
    }
    /// `ledgerEndIndex` (-1: nothing appended).
    pub fn end_index(&self) -> i64 {
        self.end
    }
    /// `ledgerEndTerm`.
    pub fn end_term(&self) -> i64 {
        self.end_term
    }
    /// True when the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.end < 0 || self.begin < 0 || self.begin > self.end
    }
    /// `committedIndex` (-1: none).
    pub fn committed_index(&self) -> i64 {
        self.committed_index
    }
    /// `committedPos`: the end of the committed entry (-1: none).
    pub fn committed_pos(&self) -> i64 {
        self.committed_pos
    }
    /// Current term and vote (`currterm`).
    pub fn current_term(&self) -> &kv::CurrTerm {
        &self.term
    }
    /// The persisted log start after a rebuild, if any.
    pub fn start_marker(&self) -> Option<StartMarker> {
        self.marker
    }
    /// The data log's write position (`dataFileList.getMaxWrotePosition`).
    pub fn data_end(&self) -> u64 {
        self.data.wrote()
    }
    /// The data log's lowest valid offset.
    pub fn data_start(&self) -> u64 {
        self.data.min_offset()
    }
    /// The index log's write position (`(end + 1) * 32` when the log is consistent).
    pub fn index_end(&self) -> u64 {
        self.index.wrote()
    }
    /// Data segments, oldest first (for expiry decisions).
    pub fn data_segments(&self) -> &[SegmentId] {
        self.data.segments()
    }
    /// Index segments, oldest first.
    pub fn index_segments(&self) -> &[SegmentId] {
        self.index.segments()
    }

    /// Every call fails once the store is latched, even one that would not touch it.
    fn alive(&self) -> Result<(), DLedgerError> {
        match self.store.latched() {
            None => Ok(()),
            Some(e) => Err(DLedgerError::Store(StoreError::new(
                crate::store::StoreErrorKind::PreviousIo,
                format!("refusing after an earlier failure ({e}); reopen the store"),
            ))),
        }
    }

    // ---- reads ----------------------------------------------------------

    fn check_index(&self, index: i64) -> Result<(), DLedgerError> {
        if self.is_empty() || index < self.begin || index > self.end {
            return Err(DLedgerError::IndexOutOfRange {
                index,
                begin: self.begin,
                end: self.end,
            });
        }
        Ok(())
    }

    /// The index record of `index` (which must be in the log).
    pub fn index_record(&self, index: i64) -> Result<IndexRecord, DLedgerError> {
        self.alive()?;
        self.check_index(index)?;
        let mut b = [0u8; INDEX_UNIT_SIZE];
        self.index
            .read(&self.store, index as u64 * INDEX_UNIT, &mut b)?;
        IndexRecord::decode(&b).ok_or(DLedgerError::Config("index record"))
    }

    /// Calls `f` with entry `index`, borrowed from the store where possible.
    /// The entry's `pos` and `index` must match its index record.
    pub fn with_entry<R>(
        &self,
        index: i64,
        f: impl FnOnce(&EntryView<'_>) -> R,
    ) -> Result<R, DLedgerError> {
        let rec = self.index_record(index)?;
        let pos = u64::try_from(rec.pos).map_err(|_| {
            DLedgerError::BadEntry(DecodeError::new(
                index as u64 * INDEX_UNIT,
                crate::DecodeErrorKind::BadField {
                    field: "index pos",
                    value: rec.pos,
                },
            ))
        })?;
        let size = u64::try_from(rec.size).unwrap_or(0);
        self.data.with_view(&self.store, pos, size, |b| {
            match codec::decode(b, pos, Line::Classic) {
                Ok(DataRecord::Entry(e)) if e.pos == rec.pos && e.index == index => Ok(f(&e)),
                Ok(_) => Err(DLedgerError::BadEntry(DecodeError::new(
                    pos,
                    crate::DecodeErrorKind::OffsetMismatch {
                        field: "pos/index",
                        stored: rec.pos,
                        actual: pos as i64,
                    },
                ))),
                Err(e) => Err(DLedgerError::BadEntry(e)),
            }
        })?
    }

    /// Entry `index` as raw bytes (header and body).
    pub fn get(&self, index: i64) -> Result<Vec<u8>, DLedgerError> {
        self.with_entry(index, |e| e.raw.to_vec())
    }

    // ---- appends --------------------------------------------------------

    fn check_size(&self, len: u64) -> Result<(), DLedgerError> {
        let max = MAX_ENTRY_LEN.min(self.cfg.data_file_size - layout::MIN_BLANK_LEN);
        if len > max {
            return Err(DLedgerError::EntryTooLarge { len, max });
        }
        Ok(())
    }

    /// The index log must continue exactly at `index * 32`.
    fn check_index_slot(&self, index: i64) -> Result<(), DLedgerError> {
        let want = index as u64 * INDEX_UNIT;
        let at = self.index.next_position(INDEX_UNIT)?;
        if at != want {
            return Err(DLedgerError::Segment(SegmentError::NotAtEnd {
                log: LogId::DLedgerIndex,
                offset: want,
                wrote: at,
            }));
        }
        Ok(())
    }

    /// Appends `body` as the leader: assigns the next index, the current term
    /// and the position (rolling with a -1 filler when needed), writes the
    /// entry and its index record. Not durable until flushed.
    pub fn append_as_leader(&mut self, body: &[u8]) -> Result<Appended, DLedgerError> {
        self.alive()?;
        let term = self.term.term;
        // A negative `currTerm` (only a damaged or hostile `currterm` file
        // holds one) would stamp entries that recovery rightly discards:
        // refuse rather than acknowledge what a reopen loses.
        if term < 0 {
            return Err(DLedgerError::TermDecreased { last: 0, got: term });
        }
        if term < self.end_term {
            return Err(DLedgerError::TermDecreased {
                last: self.end_term,
                got: term,
            });
        }
        let index = self.end + 1;
        let len = (HEADER_LEN + body.len()) as u64;
        self.check_size(len)?;
        self.check_index_slot(index)?;
        if self.cfg.commitlog_mode {
            check_message(body, index)?;
        }
        // Position first (this may write the filler and create a segment),
        // then the bytes that depend on it.
        let pos = self.data.reserve(&self.store, len)?;
        let mut buf = core::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(len as usize, 0);
        buf[HEADER_LEN..].copy_from_slice(body);
        if self.cfg.commitlog_mode {
            patch_message(&mut buf[HEADER_LEN..], pos);
        }
        // Recovery treats missing CRCs after CRC'd entries of the same term
        // as a torn write, so such an entry gets them even under JavaZeros.
        let crc = match self.cfg.crc {
            CrcMode::Rocketlog => true,
            CrcMode::JavaZeros => self.prev_has_crcs(index, term)?,
        };
        let (body_crc, chain_crc) = match crc {
            false => (0, 0),
            true => {
                let b = codec::body_crc(&buf[HEADER_LEN..]);
                (
                    b,
                    codec::chain_crc(self.last_chain, index, term, pos as i64, b),
                )
            }
        };
        let mut header = [0u8; HEADER_LEN];
        let hdr = EntryParts {
            magic: MAGIC_NORMAL,
            index,
            term,
            pos: pos as i64,
            channel: 0,
            chain_crc,
            body_crc,
            body: &[],
        };
        // A 48-byte buffer always holds an empty-body entry; the size field is fixed below.
        let _ = hdr.encode(&mut header);
        be::put_i32(&mut header, 4, len as i32);
        be::put_i32(&mut header, 44, body.len() as i32);
        buf[..HEADER_LEN].copy_from_slice(&header);
        let r = self.write_entry(&buf, pos, index, term, MAGIC_NORMAL, chain_crc);
        self.buf = buf;
        r
    }

    fn write_entry(
        &mut self,
        bytes: &[u8],
        pos: u64,
        index: i64,
        term: i64,
        magic: i32,
        chain: i32,
    ) -> Result<Appended, DLedgerError> {
        self.data.write_at(&self.store, pos, bytes)?;
        self.data.commit();
        let rec = IndexRecord {
            magic,
            pos: pos as i64,
            size: bytes.len() as i32,
            index,
            term,
        };
        self.index.append(&self.store, &rec.encode())?;
        self.end = index;
        self.end_term = term;
        if self.begin < 0 {
            self.begin = index;
        }
        self.last_chain = chain;
        self.absorb_dirty();
        Ok(Appended {
            index,
            term,
            pos,
            size: bytes.len() as u32,
        })
    }

    /// Checks a replicated entry: classic magic, channel 0, body length and
    /// non-zero CRCs (the chain against our last entry).
    fn check_replicated(
        &self,
        e: &EntryParts<'_>,
        chain_prev: Option<i32>,
    ) -> Result<(), DLedgerError> {
        let mut buf = alloc::vec![0u8; e.encoded_len()];
        e.encode(&mut buf)
            .map_err(|_| DLedgerError::EntryTooLarge {
                len: e.encoded_len() as u64,
                max: i32::MAX as u64,
            })?;
        let at = u64::try_from(e.pos).unwrap_or(0);
        let v = match codec::decode(&buf, at, Line::Classic) {
            Ok(DataRecord::Entry(v)) => v,
            Ok(DataRecord::Blank { .. }) => {
                return Err(DLedgerError::BadEntry(DecodeError::new(
                    at,
                    crate::DecodeErrorKind::BadMagic { found: e.magic },
                )));
            }
            Err(err) => return Err(DLedgerError::BadEntry(err)),
        };
        if v.channel != 0 || v.index < 0 || v.term < 0 || v.pos < 0 {
            return Err(DLedgerError::BadEntry(DecodeError::new(
                at,
                crate::DecodeErrorKind::BadField {
                    field: "channel/index/term/pos",
                    value: i64::from(v.channel),
                },
            )));
        }
        codec::check_crcs(&v, at, chain_prev).map_err(DLedgerError::BadEntry)
    }

    /// Appends a replicated entry as a follower. It must carry the next index,
    /// a term not below the last one, and a `pos` equal to where it will be
    /// written; all of this is checked before anything is written (B7).
    pub fn append_as_follower(&mut self, e: &EntryParts<'_>) -> Result<Appended, DLedgerError> {
        self.alive()?;
        let expected = self.end + 1;
        if e.index != expected {
            return Err(DLedgerError::InconsistentIndex {
                expected,
                got: e.index,
            });
        }
        self.check_follower_entry(e)?;
        let len = e.encoded_len() as u64;
        let at = self.data.next_position(len)?;
        if i64::try_from(at) != Ok(e.pos) {
            return Err(DLedgerError::InconsistentPos {
                index: e.index,
                expected: at,
                got: e.pos,
            });
        }
        self.check_index_slot(e.index)?;
        // Exactly what recovery will check against the entry before it.
        self.check_after_prev(e)?;
        let pos = self.data.reserve(&self.store, len)?;
        self.encode_and_write(e, pos)
    }

    fn check_follower_entry(&self, e: &EntryParts<'_>) -> Result<(), DLedgerError> {
        if e.term < self.end_term {
            return Err(DLedgerError::TermDecreased {
                last: self.end_term,
                got: e.term,
            });
        }
        self.check_size(e.encoded_len() as u64)?;
        self.check_replicated(e, None)
    }

    /// Whether the entry before `index` (if stored) is of term `term` and
    /// carries both CRCs: then recovery requires the entry at `index` to
    /// carry them too.
    fn prev_has_crcs(&self, index: i64, term: i64) -> Result<bool, DLedgerError> {
        if self.is_empty() || index <= self.begin || index - 1 > self.end {
            return Ok(false);
        }
        self.with_entry(index - 1, |v| {
            v.term == term && v.body_crc != 0 && v.chain_crc != 0
        })
    }

    /// Checks a replicated entry against the stored entry before it exactly
    /// as recovery will: CRCs present after CRC'd entries of the same term,
    /// and a non-zero `chainCrc` chained from the previous entry's. An entry
    /// recovery would cut is refused before anything is written.
    fn check_after_prev(&self, e: &EntryParts<'_>) -> Result<(), DLedgerError> {
        if self.is_empty() || e.index <= self.begin || e.index - 1 > self.end {
            return Ok(());
        }
        let (term, crcs, chain) = self.with_entry(e.index - 1, |v| {
            (v.term, v.body_crc != 0 && v.chain_crc != 0, v.chain_crc)
        })?;
        let at = u64::try_from(e.pos).unwrap_or(0);
        if crcs && term == e.term && (e.body_crc == 0 || e.chain_crc == 0) {
            return Err(DLedgerError::BadEntry(DecodeError::new(
                at,
                crate::DecodeErrorKind::BadField {
                    field: "bodyCrc/chainCrc (0 after CRC'd entries of the same term)",
                    value: i64::from(if e.body_crc == 0 {
                        e.body_crc
                    } else {
                        e.chain_crc
                    }),
                },
            )));
        }
        if e.chain_crc != 0 {
            let want = codec::chain_crc(chain, e.index, e.term, e.pos, e.body_crc);
            if want != e.chain_crc {
                return Err(DLedgerError::BadEntry(DecodeError::new(
                    at,
                    crate::DecodeErrorKind::CrcMismatch {
                        field: "chainCrc",
                        stored: e.chain_crc.into(),
                        computed: want.into(),
                    },
                )));
            }
        }
        Ok(())
    }

    fn encode_and_write(&mut self, e: &EntryParts<'_>, pos: u64) -> Result<Appended, DLedgerError> {
        let mut buf = core::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(e.encoded_len(), 0);
        // check_replicated encoded the same parts already, so this cannot fail.
        let _ = e.encode(&mut buf);
        let r = self.write_entry(&buf, pos, e.index, e.term, e.magic, e.chain_crc);
        self.buf = buf;
        r
    }

    /// Java `DLedgerEntry.equals`: everything but the two CRCs.
    fn same_entry(&self, e: &EntryParts<'_>) -> bool {
        self.with_entry(e.index, |v| {
            v.magic == e.magic
                && v.index == e.index
                && v.term == e.term
                && v.pos == e.pos
                && v.channel == e.channel
                && v.body == e.body
        })
        .unwrap_or(false)
    }

    /// Follower truncation (the leader's TRUNCATE push): afterwards the log
    /// ends with `e`. If the log already holds `e`, everything after it is
    /// cut; if `e`'s slot is inside the log (or right after it), the log is
    /// cut at `e.pos` and `e` appended; otherwise the log is rebuilt to start
    /// at `e` (the logs do not overlap) and the start is persisted (B1).
    ///
    /// Cut bytes are zeroed (B2), the committed index is lowered if it was
    /// beyond (B12), and everything is synced and the checkpoint written before
    /// this returns. Returns `e.index`.
    pub fn truncate_follower(&mut self, e: &EntryParts<'_>) -> Result<i64, DLedgerError> {
        self.alive()?;
        if e.index < 0 || e.index > MAX_INDEX {
            return Err(DLedgerError::IndexOutOfRange {
                index: e.index,
                begin: 0,
                end: MAX_INDEX,
            });
        }
        if e.term < 0 {
            return Err(DLedgerError::TermDecreased {
                last: 0,
                got: e.term,
            });
        }
        self.check_size(e.encoded_len() as u64)?;
        self.check_replicated(e, None)?;
        let len = e.encoded_len() as u64;
        let epos = u64::try_from(e.pos).unwrap_or(u64::MAX);
        let existing =
            !self.is_empty() && (self.begin..=self.end).contains(&e.index) && self.same_entry(e);
        if existing {
            self.cut(epos + len, e.index + 1)?;
            self.end = e.index;
            self.end_term = e.term;
            // The stored entry stays (Java's equality ignores the CRCs): chain from its CRC.
            self.last_chain = self.with_entry(e.index, |v| v.chain_crc)?;
        } else {
            let in_place = if self.is_empty() {
                false
            } else if e.index == self.end + 1 {
                self.data.next_position(len).ok() == Some(epos)
            } else if (self.begin..=self.end).contains(&e.index) {
                self.index_record(e.index).map(|r| r.pos).ok() == Some(e.pos)
                    && e.term >= self.term_before(e.index)?
            } else {
                false
            };
            if in_place {
                // The entry before `e` survives the cut: `e` must be one
                // recovery accepts after it.
                self.check_after_prev(e)?;
                if e.index == self.begin
                    && let Some(m) = self.marker.as_mut()
                    && m.prev_chain.is_some()
                {
                    // The replacement of the first entry was chained from the
                    // leader's predecessor, which we no longer hold: forget the
                    // stored chain first, durably, so a crash in between cannot
                    // make recovery reject the new entry.
                    m.prev_chain = None;
                    self.persist_checkpoint()?;
                }
                if e.index <= self.end {
                    self.cut(epos, e.index)?;
                    self.end = e.index - 1;
                    self.end_term = self.term_before(e.index)?;
                    self.last_chain = self.chain_before(e.index)?;
                }
                let at = self.data.next_position(len)?;
                if at != epos {
                    return Err(DLedgerError::InconsistentPos {
                        index: e.index,
                        expected: at,
                        got: e.pos,
                    });
                }
                self.check_index_slot(e.index)?;
                let pos = self.data.reserve(&self.store, len)?;
                let _ = self.encode_and_write(e, pos)?;
            } else {
                self.rebuild(e, epos)?;
            }
        }
        if self.committed_index > self.end {
            self.committed_index = self.end;
            self.committed_pos = e.pos + len as i64;
        }
        self.flush_all()?;
        self.persist_checkpoint()?;
        Ok(e.index)
    }

    /// Term of the entry before `index` (-1 if none).
    fn term_before(&self, index: i64) -> Result<i64, DLedgerError> {
        if index <= self.begin {
            return Ok(-1);
        }
        Ok(self.index_record(index - 1)?.term)
    }

    fn chain_before(&self, index: i64) -> Result<i32, DLedgerError> {
        if index <= self.begin {
            return Ok(0);
        }
        self.with_entry(index - 1, |v| v.chain_crc)
    }

    /// Cuts data at `data_at` and the index at `next_index * 32`, zeroing both tails.
    fn cut(&mut self, data_at: u64, next_index: i64) -> Result<(), DLedgerError> {
        let t = self.data.truncate(&self.store, data_at)?;
        for s in &t.removed {
            self.planner.forget_segment(&LogId::DLedgerData, *s);
        }
        let t = self
            .index
            .truncate(&self.store, next_index as u64 * INDEX_UNIT)?;
        for s in &t.removed {
            self.planner.forget_segment(&LogId::DLedgerIndex, *s);
        }
        self.absorb_dirty();
        Ok(())
    }

    /// `rebuildWithPos`: drop everything, start both logs at `e`.
    fn rebuild(&mut self, e: &EntryParts<'_>, epos: u64) -> Result<(), DLedgerError> {
        let len = e.encoded_len() as u64;
        if layout::fit(len, epos % self.cfg.data_file_size, self.cfg.data_file_size)
            != layout::Fit::Here
        {
            return Err(DLedgerError::InconsistentPos {
                index: e.index,
                expected: epos - epos % self.cfg.data_file_size + self.cfg.data_file_size,
                got: e.pos,
            });
        }
        for s in self.data.reset(&self.store, epos)? {
            self.planner.forget_segment(&LogId::DLedgerData, s);
        }
        for s in self.index.reset(&self.store, e.index as u64 * INDEX_UNIT)? {
            self.planner.forget_segment(&LogId::DLedgerIndex, s);
        }
        self.begin = -1;
        self.end = e.index - 1;
        self.end_term = e.term;
        let pos = self.data.reserve(&self.store, len)?;
        let _ = self.encode_and_write(e, pos)?;
        self.begin = e.index;
        // Persisted even at a file start: it also pins the first index.
        self.marker = Some(StartMarker {
            pos: epos,
            index: e.index,
            prev_chain: None,
        });
        Ok(())
    }

    // ---- expiry and begin index -----------------------------------------

    /// Removes the oldest data file (never the last one), then revises the
    /// begin index from the new first file and drops index files entirely
    /// below it (`reviseLedgerBeginIndex`). Returns the removed file.
    pub fn remove_expired_head(&mut self) -> Result<SegmentId, DLedgerError> {
        self.alive()?;
        let Some(&next) = self.data.segments().get(1) else {
            return Err(DLedgerError::Segment(SegmentError::LastSegment {
                log: LogId::DLedgerData,
            }));
        };
        // The new start, and the chain its first entry was computed from,
        // are persisted before the file goes: recovery ignores a marker that
        // does not lie in the first file, so a crash on either side is safe.
        let first = self.first_index_at(next);
        let prev_chain = match first {
            Some(i) if i > self.begin && i <= self.end => {
                Some(self.with_entry(i - 1, |v| v.chain_crc)?)
            }
            _ => None,
        };
        if let Some(index) = first {
            self.marker = Some(StartMarker {
                pos: next,
                index,
                prev_chain,
            });
            self.persist_checkpoint()?;
        }
        // (With no entry in the next file the old marker stays on disk: it
        // points below the new first file, so recovery ignores it.)
        let seg = self.data.remove_head(&self.store)?;
        self.planner.forget_segment(&LogId::DLedgerData, seg);
        if self.marker.is_some_and(|m| m.pos < self.data.min_offset()) {
            self.marker = None;
        }
        self.revise_begin()?;
        Ok(seg)
    }

    /// The index of the entry at `offset` (a data file start), if one is there.
    fn first_index_at(&self, offset: u64) -> Option<i64> {
        let mut h = [0u8; HEADER_LEN];
        self.data.read(&self.store, offset, &mut h).ok()?;
        let h = codec::Header::read(&h)?;
        (h.magic == MAGIC_NORMAL && h.pos == offset as i64).then_some(h.index)
    }

    fn revise_begin(&mut self) -> Result<(), DLedgerError> {
        match self.first_index_at(self.data.min_offset()) {
            Some(i) => self.begin = i,
            // The first file holds no entry yet: the log is empty from here on.
            None => self.begin = self.end + 1,
        }
        if self.begin >= 0 {
            for s in self
                .index
                .set_start(&self.store, self.begin as u64 * INDEX_UNIT)?
            {
                self.planner.forget_segment(&LogId::DLedgerIndex, s);
            }
        }
        Ok(())
    }

    // ---- committed index, term, checkpoint ------------------------------

    /// `updateCommittedIndex(term, index)`: ignored for -1, an empty log, an
    /// older term, or no change; ignored if below the committed or begin index;
    /// clamped to the end index. Sets `committedPos` to the entry's end.
    pub fn update_committed(&mut self, term: i64, index: i64) -> Result<(), DLedgerError> {
        self.alive()?;
        if index == -1
            || self.is_empty()
            || term < self.term.term
            || index == self.committed_index
            || index < self.committed_index
            || index < self.begin
        {
            return Ok(());
        }
        let index = index.min(self.end);
        let rec = self.index_record(index)?;
        self.committed_index = index;
        self.committed_pos = rec.pos + i64::from(rec.size);
        Ok(())
    }

    /// The `checkpoint` contents: Java's two keys, plus the start marker keys after a rebuild.
    pub fn checkpoint_text(&self) -> String {
        let mut s = kv::DLedgerCheckpoint {
            committed_index: self.committed_index,
            end_index: self.end,
        }
        .render();
        if let Some(m) = self.marker {
            s.push_str(&kv::render(&[
                (BEGIN_POS_KEY, &format!("{}", m.pos)),
                (BEGIN_INDEX_KEY, &format!("{}", m.index)),
            ]));
            if let Some(c) = m.prev_chain {
                s.push_str(&kv::render(&[(BEGIN_PREV_CHAIN_KEY, &format!("{c}"))]));
            }
        }
        s
    }

    /// Writes `checkpoint` atomically and durably (B5).
    pub fn persist_checkpoint(&self) -> Result<(), DLedgerError> {
        self.alive()?;
        let t = self.checkpoint_text();
        self.store
            .write_meta(MetaFile::DLedgerCheckpoint, Some(t.as_bytes()))?;
        Ok(())
    }

    /// Sets the current term and vote and writes `currterm` atomically and
    /// durably before returning (B5). Terms never go down.
    pub fn set_term(&mut self, term: i64, vote_for: Option<&str>) -> Result<(), DLedgerError> {
        self.alive()?;
        if term < self.term.term {
            return Err(DLedgerError::TermDecreased {
                last: self.term.term,
                got: term,
            });
        }
        let next = kv::CurrTerm {
            term,
            vote_for: vote_for.map(String::from),
        };
        self.store
            .write_meta(MetaFile::CurrTerm, Some(next.render().as_bytes()))?;
        self.term = next;
        Ok(())
    }

    // ---- flushing -------------------------------------------------------

    fn absorb_dirty(&mut self) {
        self.planner
            .absorb_from(&LogId::DLedgerData, self.data.dirty_mut());
        self.planner
            .absorb_from(&LogId::DLedgerIndex, self.index.dirty_mut());
    }

    /// The next sync the flush policy asks for (data before index).
    pub fn poll_flush(&mut self, now_ms: u64) -> Option<FlushRequest> {
        self.planner.poll_flush(now_ms)
    }

    /// When to poll again (see [`FlushPlanner::poll_timeout`]).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.planner.poll_timeout()
    }

    /// Performs a planned sync and records it.
    pub fn complete_flush(&mut self, req: &FlushRequest, now_ms: u64) -> Result<(), DLedgerError> {
        self.alive()?;
        self.store.sync(&req.log, req.seg, req.range.clone())?;
        self.planner.on_flushed(req, now_ms);
        self.update_flushed();
        Ok(())
    }

    fn update_flushed(&mut self) {
        let d = self
            .planner
            .dirty_from(&LogId::DLedgerData)
            .unwrap_or_else(|| self.data.wrote());
        self.data.set_flushed(d);
        let i = self
            .planner
            .dirty_from(&LogId::DLedgerIndex)
            .unwrap_or_else(|| self.index.wrote());
        self.index.set_flushed(i);
    }

    /// Syncs everything written so far (data, then index).
    pub fn flush_all(&mut self) -> Result<(), DLedgerError> {
        self.alive()?;
        self.absorb_dirty();
        while let Some(req) = self.planner.poll_flush_all() {
            self.store.sync(&req.log, req.seg, req.range.clone())?;
            self.planner.on_flushed(&req, 0);
        }
        self.update_flushed();
        Ok(())
    }

    /// Data offset below which everything written is durable.
    pub fn data_flushed(&self) -> u64 {
        self.data.flushed()
    }
}

/// Commitlog mode: the body must be exactly one commitlog record.
fn check_message(body: &[u8], index: i64) -> Result<(), DLedgerError> {
    let total = be::i32_at(body, 0);
    let magic = be::i32_at(body, 4);
    let ok = body.len() >= message::PHYSICAL_OFFSET_POS + 8
        && total.is_some_and(|t| i64::from(t) == body.len() as i64)
        && matches!(magic, Some(message::MAGIC_V1 | message::MAGIC_V2));
    if ok {
        Ok(())
    } else {
        Err(DLedgerError::NotAMessage { index })
    }
}

/// RocketMQ's append hook: PHYSICALOFFSET = pos + 48, then restamp `__CRC32#`
/// if the record carries one.
fn patch_message(body: &mut [u8], pos: u64) {
    be::put_i64(
        body,
        message::PHYSICAL_OFFSET_POS,
        (pos + HEADER_LEN as u64) as i64,
    );
    let n = body.len();
    let has_crc = n >= message::CRC32_RESERVED_LEN
        && body[n - message::CRC32_RESERVED_LEN..].starts_with(b"__CRC32#");
    if has_crc {
        message::stamp_prop_crc(body);
    }
}

/// Reads the `checkpoint` file: (committedIndex, start marker).
fn parse_checkpoint(text: &[u8]) -> Result<(i64, Option<StartMarker>), DecodeError> {
    let c = kv::DLedgerCheckpoint::parse(text)?;
    let pairs = kv::parse(text)?;
    let pos = kv::get_i64(&pairs, BEGIN_POS_KEY)?;
    let idx = kv::get_i64(&pairs, BEGIN_INDEX_KEY)?;
    let prev = kv::get_i64(&pairs, BEGIN_PREV_CHAIN_KEY)?;
    let marker = match (pos, idx) {
        (Some(p), Some(i)) if p >= 0 && (0..=MAX_INDEX).contains(&i) => Some(StartMarker {
            pos: p as u64,
            index: i,
            prev_chain: prev.and_then(|c| i32::try_from(c).ok()),
        }),
        _ => None,
    };
    Ok((c.committed_index, marker))
}

/// Used by the recovery module to read a store's meta file.
fn read_meta<S: PageRead>(store: &S, f: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
    store.read_meta(f)
}
