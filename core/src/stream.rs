//! A streaming, chunk-fed decoder for one log given as files in offset order:
//! a RocketMQ CommitLog, DLedger data files (plain, or RocketMQ in DLedger
//! commitlog mode, whose entry bodies are CommitLog records), or
//! consume-queue files.
//!
//! Memory stays bounded independently of the file sizes: a [`Decoder`] keeps
//! only the partial record that straddles two chunks (never more than the
//! record's declared length, which is checked against the bytes left in the
//! file and against [`Options::max_record_len`] *before* anything is
//! buffered), a small head buffer for format detection, and the [`Summary`]
//! (whose maps and problem list are capped).
//!
//! # Use
//!
//! ```
//! use rocketlog_core::stream::{Decoder, Event, FileSpec, Options, View};
//! # let files: [(&str, &[u8]); 0] = [];
//! let mut dec = Decoder::new(Options::default());
//! let mut jsonl = String::new();
//! for (name, bytes) in files {
//!     let spec = FileSpec::from_name(name, bytes.len() as u64).expect("20-digit name");
//!     dec.begin_file(spec)?;
//!     // Feed any chunking of the file, in order.
//!     for chunk in bytes.chunks(4 << 20) {
//!         dec.push(chunk, &mut |ev: Event<'_>| {
//!             if let Event::Record(r) = ev {
//!                 if r.write_json(View::Messages, &mut jsonl) {
//!                     jsonl.push('\n');
//!                 }
//!             }
//!         })?;
//!     }
//!     dec.end_file(&mut |_: Event<'_>| {})?;
//! }
//! let summary = dec.finish();
//! # let _ = summary;
//! # Ok::<(), rocketlog_core::stream::StreamError>(())
//! ```
//!
//! [`decode_files`] does the loop above for whole buffers.
//!
//! # What the walk checks and where it stops
//!
//! Each file is walked from byte 0 the way the Java recovery scans do:
//!
//! * **CommitLog**: a record must decode with BODYCRC checked (as
//!   `checkCRCOnRecover`); a mismatching `__CRC32#` property or PHYSICALOFFSET
//!   field is reported as a warning and the record kept (Java does not check
//!   them by default). A BLANK record ends the file (roll to the next one).
//! * **DLedger**: entry magic 1, 2 or 3, `size == 48 + bodyLength`, `pos`
//!   equal to the entry's offset, consecutive indexes and non-decreasing terms.
//!   Non-zero body/chain CRCs are verified (warning only: Java never checks
//!   them). A blank (magic −1) reaching the end of the file rolls; a shorter
//!   blank (a master-line head blank) is skipped. When an entry body is a
//!   CommitLog record it is decoded too (DLedger commitlog mode).
//! * **Consume queue**: 20-byte units; the first unit with `offset < 0` or
//!   `size <= 0` ends the file.
//!
//! In every format eight zero bytes at a record position end the file
//! ("zero tail": never-written, preallocated space), and the first invalid
//! record ends it with a problem. A file that ends anywhere but at a roll
//! point ends what a sequential recovery keeps: [`Summary::recovery_end`];
//! records decoded from later files are still reported, flagged
//! [`Rec::beyond_recovery`]. This is the sequential walk's answer; the Java
//! recoveries may start later (they pick a start file) and, for RocketMQ in
//! DLedger mode, end at the committed position from the checkpoint.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::be;
use crate::codec::consume_queue::{CQ_UNIT_SIZE, CqUnit};
use crate::codec::dledger::{self, DataRecord, EntryView};
use crate::codec::message::{self, DecodeOptions, MessageView, Record};
use crate::codec::properties;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::json;
use crate::layout;
use crate::scan::{Problem, ProblemKind, Severity};
use crate::store::LogId;

/// Default largest record accepted (and therefore the largest carry): 64 MiB.
pub const DEFAULT_MAX_RECORD_LEN: u64 = 64 << 20;
/// Bytes of a file's head looked at to detect its format.
pub const DETECT_LEN: usize = 160;
/// At most this many problems are kept in a [`Summary`]; the rest are counted.
pub const MAX_PROBLEMS: usize = 1000;
/// At most this many distinct topics, queues and terms are kept in a [`Summary`].
pub const MAX_DISTINCT: usize = 10_000;

/// Which record format a log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// RocketMQ CommitLog records (magic V1/V2 at byte 4).
    CommitLog,
    /// DLedger data entries (magic at byte 0), possibly carrying CommitLog records.
    DLedger,
    /// RocketMQ consume-queue units (20 bytes).
    ConsumeQueue,
}

impl Format {
    /// Short stable name: `commitlog`, `dledger`, `consumequeue`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CommitLog => "commitlog",
            Self::DLedger => "dledger",
            Self::ConsumeQueue => "consumequeue",
        }
    }
    /// Parses [`Self::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "commitlog" => Some(Self::CommitLog),
            "dledger" => Some(Self::DLedger),
            "consumequeue" => Some(Self::ConsumeQueue),
            _ => None,
        }
    }
}

/// What [`detect`] makes of a file's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A recognised format.
    Format(Format),
    /// Only zeros (a preallocated, never-written file) or nothing at all.
    Empty,
    /// Not a format this decoder knows.
    Unknown,
}

/// Guesses the format from the first bytes of a file (up to [`DETECT_LEN`]).
///
/// * CommitLog: MAGIC V1/V2 (or the BLANK magic) at byte 4, TOTALSIZE ≥ 8.
/// * DLedger: −1 at byte 0 with a length ≥ 8, or magic 1..=3 at byte 0 with
///   `size == 48 + bodyLength` and `size ≥ 48`.
/// * Consume queue: every whole 20-byte unit up to the first all-zero one is
///   valid (`offset ≥ 0`, `0 < size ≤ 64 MiB` or the filler unit), there is at
///   least one, and the offsets of non-filler units increase.
pub fn detect(head: &[u8]) -> Detected {
    if head.iter().all(|&b| b == 0) {
        return Detected::Empty;
    }
    let (Some(a), Some(b)) = (be::i32_at(head, 0), be::i32_at(head, 4)) else {
        return Detected::Unknown;
    };
    if matches!(
        b,
        message::MAGIC_V1 | message::MAGIC_V2 | message::BLANK_MAGIC
    ) && a >= 8
    {
        return Detected::Format(Format::CommitLog);
    }
    if a == dledger::BLANK_MAGIC && b >= 8 {
        return Detected::Format(Format::DLedger);
    }
    if (1..=3).contains(&a)
        && let Some(h) = dledger::Header::read(head)
        && h.size >= dledger::HEADER_LEN as i32
        && i64::from(h.body_len) + dledger::HEADER_LEN as i64 == i64::from(h.size)
    {
        return Detected::Format(Format::DLedger);
    }
    if looks_like_consume_queue(head) {
        return Detected::Format(Format::ConsumeQueue);
    }
    Detected::Unknown
}

fn looks_like_consume_queue(head: &[u8]) -> bool {
    let mut seen = 0;
    let mut last = -1i64;
    for u in head.chunks_exact(CQ_UNIT_SIZE) {
        let Some(unit) = CqUnit::decode(u) else {
            break;
        };
        if u.iter().all(|&b| b == 0) {
            break;
        }
        if unit.is_filler() {
            seen += 1;
            continue;
        }
        if !unit.is_valid()
            || i64::from(unit.size) > DEFAULT_MAX_RECORD_LEN as i64
            || unit.physical_offset <= last
        {
            return false;
        }
        last = unit.physical_offset;
        seen += 1;
    }
    seen > 0
}

/// One file of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Absolute offset of the file's first byte (its 20-digit name).
    pub base: u64,
    /// The file's size in bytes (as the file system reports it).
    pub size: u64,
    /// For consume-queue files: the topic and queue id (from the directory
    /// path `consumequeue/<topic>/<queueId>/`), when known.
    pub queue: Option<(String, i32)>,
}

impl FileSpec {
    /// A spec from a 20-digit file name; `None` for any other name.
    pub fn from_name(name: &str, size: u64) -> Option<Self> {
        Some(Self {
            base: layout::parse_file_name(name)?,
            size,
            queue: None,
        })
    }
}

/// Decoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Use this format instead of detecting it from content.
    pub format: Option<Format>,
    /// Largest record (or entry) accepted; larger declared lengths are
    /// reported as `SizeOutOfRange` and end the file. Also bounds the carry.
    pub max_record_len: u64,
    /// Verify CRCs (CommitLog BODYCRC as recovery does, `__CRC32#` when
    /// present, non-zero DLedger CRCs). Off: structure only.
    pub verify_crc: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            format: None,
            max_record_len: DEFAULT_MAX_RECORD_LEN,
            verify_crc: true,
        }
    }
}

/// Which objects JSON rendering produces for DLedger data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// RocketMQ messages: CommitLog records, and the records inside DLedger
    /// entries (entries without one are skipped). Consume-queue units as units.
    Messages,
    /// DLedger entries (CommitLog records and units render as in `Messages`).
    Entries,
}

/// A decoded record, borrowing the caller's chunk (or the decoder's carry).
#[derive(Debug, Clone, Copy)]
pub struct Rec<'a> {
    /// Sequence number of the record in this decoder (0, 1, 2, ...): stable
    /// across replays of the same files with the same options.
    pub seq: u64,
    /// Absolute offset of the record (for DLedger, of the entry header).
    pub offset: u64,
    /// The whole record's bytes.
    pub raw: &'a [u8],
    /// Index of the file in the session (0 = first `begin_file`).
    pub file: u32,
    /// True when an earlier file ended where a sequential recovery stops, so
    /// recovery would not keep this record.
    pub beyond_recovery: bool,
    /// What it is.
    pub body: RecBody<'a>,
}

/// The decoded content of a [`Rec`].
#[derive(Debug, Clone, Copy)]
pub enum RecBody<'a> {
    /// A CommitLog message.
    Message(MessageView<'a>),
    /// A DLedger entry and, in DLedger commitlog mode, the message it carries
    /// (at `offset + 48`).
    Entry {
        /// The entry.
        entry: EntryView<'a>,
        /// The CommitLog record in its body, if it holds one.
        message: Option<MessageView<'a>>,
    },
    /// A consume-queue unit.
    Unit {
        /// The unit.
        unit: CqUnit,
        /// Its queue offset (absolute offset / 20).
        queue_offset: u64,
        /// Topic of the queue (empty when unknown).
        topic: &'a str,
        /// Queue id (−1 when unknown).
        queue_id: i32,
    },
}

/// A compact, format-independent summary of a record for tables.
/// Fields that do not apply are 0 / empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Row<'a> {
    /// Absolute offset of the record.
    pub offset: u64,
    /// Bytes of the record (entry, message or unit).
    pub size: u32,
    /// True if a RocketMQ message is present (CommitLog, or DLedger commitlog mode).
    pub has_message: bool,
    /// Absolute offset of the message bytes (entry offset + 48 in DLedger mode).
    pub message_offset: u64,
    /// Topic.
    pub topic: &'a [u8],
    /// Queue id.
    pub queue_id: i32,
    /// Queue offset.
    pub queue_offset: i64,
    /// Store timestamp (ms).
    pub store_timestamp: i64,
    /// Born timestamp (ms).
    pub born_timestamp: i64,
    /// TAGS property.
    pub tags: &'a [u8],
    /// KEYS property (space-separated keys; see [`split_keys`]).
    pub keys: &'a [u8],
    /// UNIQ_KEY property.
    pub uniq_key: &'a [u8],
    /// Body length (message body, or entry body without a message).
    pub body_len: u32,
    /// DLedger index (−1 otherwise).
    pub index: i64,
    /// DLedger term (−1 otherwise).
    pub term: i64,
    /// Consume-queue tags code, else the message's tags code.
    pub tags_code: i64,
}

/// The keys of a KEYS property value (Java splits on a single space).
pub fn split_keys(keys: &[u8]) -> impl Iterator<Item = &[u8]> {
    keys.split(|&b| b == b' ').filter(|k| !k.is_empty())
}

impl<'a> Rec<'a> {
    /// The message, if the record is or carries one.
    pub fn message(&self) -> Option<&MessageView<'a>> {
        match &self.body {
            RecBody::Message(m) => Some(m),
            RecBody::Entry { message, .. } => message.as_ref(),
            RecBody::Unit { .. } => None,
        }
    }

    /// Absolute offset of the message bytes, if any.
    pub fn message_offset(&self) -> Option<u64> {
        match &self.body {
            RecBody::Message(_) => Some(self.offset),
            RecBody::Entry {
                message: Some(_), ..
            } => Some(self.offset + dledger::HEADER_LEN as u64),
            _ => None,
        }
    }

    /// The payload: the message body, else the entry body (empty for units).
    pub fn payload(&self) -> &'a [u8] {
        match &self.body {
            RecBody::Message(m) => m.body,
            RecBody::Entry {
                message: Some(m), ..
            } => m.body,
            RecBody::Entry { entry, .. } => entry.body,
            RecBody::Unit { .. } => &[],
        }
    }

    /// The compact summary of this record.
    pub fn row(&self) -> Row<'a> {
        let mut r = Row {
            offset: self.offset,
            size: self.raw.len() as u32,
            index: -1,
            term: -1,
            queue_id: -1,
            ..Row::default()
        };
        if let RecBody::Entry { entry, .. } = &self.body {
            r.index = entry.index;
            r.term = entry.term;
            r.body_len = entry.body.len() as u32;
        }
        if let RecBody::Unit {
            unit,
            queue_offset,
            topic,
            queue_id,
        } = &self.body
        {
            r.topic = topic.as_bytes();
            r.queue_id = *queue_id;
            r.queue_offset = *queue_offset as i64;
            r.tags_code = unit.tags_code;
            r.message_offset = unit.physical_offset as u64;
        }
        if let (Some(m), Some(mo)) = (self.message(), self.message_offset()) {
            r.has_message = true;
            r.message_offset = mo;
            r.topic = m.topic;
            r.queue_id = m.queue_id;
            r.queue_offset = m.queue_offset;
            r.store_timestamp = m.store_timestamp;
            r.born_timestamp = m.born_timestamp;
            r.tags = m.property(properties::keys::TAGS).unwrap_or(&[]);
            r.keys = m.property(properties::keys::KEYS).unwrap_or(&[]);
            r.uniq_key = m.property(properties::keys::UNIQ_KEY).unwrap_or(&[]);
            r.body_len = m.body.len() as u32;
            r.tags_code = m.tags_code();
        }
        r
    }

    /// Appends the record's `rocketlog dump --format jsonl` object (no
    /// newline) for `view`. Returns false (and appends nothing) when the view
    /// has no object for this record (a DLedger entry without a message in
    /// [`View::Messages`]).
    pub fn write_json(&self, view: View, out: &mut String) -> bool {
        match (&self.body, view) {
            (RecBody::Message(m), _) => json::push_message(out, m, self.offset),
            (
                RecBody::Entry {
                    message: Some(m), ..
                },
                View::Messages,
            ) => json::push_message(out, m, self.offset + dledger::HEADER_LEN as u64),
            (RecBody::Entry { .. }, View::Messages) => return false,
            (RecBody::Entry { entry, .. }, View::Entries) => json::push_entry(out, entry),
            (
                RecBody::Unit {
                    unit,
                    queue_offset,
                    topic,
                    queue_id,
                },
                _,
            ) => json::push_cq_unit(out, topic, *queue_id, *queue_offset, unit),
        }
        true
    }
}

/// Why the walk of a file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// An end-of-file BLANK: the log continues in the next file.
    Blank,
    /// Zero bytes at a record position: never-written space.
    ZeroTail,
    /// A record failed to decode (see the problems).
    Invalid,
    /// The file ends inside a record (a torn tail or a short file).
    Truncated,
    /// The last record ends exactly at the end of the file (no blank).
    EndOfFile,
}

impl Stop {
    /// Short stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Blank => "blank",
            Self::ZeroTail => "zero-tail",
            Self::Invalid => "invalid",
            Self::Truncated => "truncated",
            Self::EndOfFile => "end-of-file",
        }
    }
}

/// What the walk found in one file: enough to draw a map of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Index of the file in the session.
    pub file: u32,
    /// Absolute offset of the file.
    pub base: u64,
    /// Declared size.
    pub size: u64,
    /// Bytes actually fed.
    pub fed: u64,
    /// Records decoded.
    pub records: u64,
    /// Bytes covered by records (head blanks excluded).
    pub record_bytes: u64,
    /// Position (relative) where the walk ended; records lie before it.
    pub end: u64,
    /// The end-of-file blank (relative position, length), if any.
    pub blank: Option<(u64, u64)>,
    /// Why the walk ended.
    pub stop: Stop,
    /// Detected format of this file (`None`: empty).
    pub format: Option<Format>,
}

/// What [`Decoder::push`] reports through its sink.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A record.
    Record(&'a Rec<'a>),
    /// A blank (end-of-file filler or head blank) at `offset`, `len` bytes.
    Blank {
        /// Index of the file.
        file: u32,
        /// Absolute offset.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
    /// A problem (also kept in the summary, up to [`MAX_PROBLEMS`]).
    Problem(&'a Problem),
    /// A file is done (from [`Decoder::end_file`]).
    FileEnd(&'a FileReport),
}

/// Receives [`Event`]s. Any `FnMut(Event<'_>)` is a sink.
pub trait Sink {
    /// Called for each event, in log order.
    fn event(&mut self, e: Event<'_>);
}

impl<F: FnMut(Event<'_>)> Sink for F {
    fn event(&mut self, e: Event<'_>) {
        self(e)
    }
}

/// Misuse of the decoder or input that cannot be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// Absolute offset the error is about (the file's base for file-level errors).
    pub offset: u64,
    /// What is wrong.
    pub kind: StreamErrorKind,
}

/// Kinds of [`StreamError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamErrorKind {
    /// The first non-empty file is not a RocketMQ or DLedger log file.
    UnknownFormat,
    /// A file looks like another format than the session's.
    MixedFormats {
        /// The session's format.
        session: Format,
        /// The file's.
        file: Format,
    },
    /// Files must be given in increasing, non-overlapping offset order.
    FileOrder {
        /// End of the previous file.
        previous_end: u64,
    },
    /// `push`/`end_file` without `begin_file`, or `begin_file` twice.
    NoFile,
    /// More bytes than the declared file size were pushed.
    TooManyBytes {
        /// The declared size.
        size: u64,
    },
    /// The file would end past the largest offset, `i64::MAX` (offsets are
    /// Java longs): its base (a name near `u64::MAX`) plus its size overflows.
    OffsetOverflow {
        /// The declared size.
        size: u64,
    },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StreamErrorKind::UnknownFormat => write!(
                f,
                "file at offset {} is not a RocketMQ commitlog, DLedger data or consume-queue file \
                 (no known magic at its start)",
                self.offset
            ),
            StreamErrorKind::MixedFormats { session, file } => write!(
                f,
                "file at offset {} holds {} data, but the session holds {} data",
                self.offset,
                file.name(),
                session.name()
            ),
            StreamErrorKind::FileOrder { previous_end } => write!(
                f,
                "file at offset {} overlaps or precedes the previous file (which ends at {previous_end}); \
                 give files in offset order",
                self.offset
            ),
            StreamErrorKind::NoFile => {
                write!(f, "no file is open (call begin_file / end_file in turn)")
            }
            StreamErrorKind::TooManyBytes { size } => write!(
                f,
                "more bytes than the declared size {size} were pushed for the file at offset {}",
                self.offset
            ),
            StreamErrorKind::OffsetOverflow { size } => write!(
                f,
                "file at offset {} with {size} bytes would end past the largest offset {} \
                 (offsets are Java longs)",
                self.offset,
                i64::MAX
            ),
        }
    }
}

impl StreamErrorKind {
    /// Short stable name for hosts (`unknown-format`, ...).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::UnknownFormat => "unknown-format",
            Self::MixedFormats { .. } => "mixed-formats",
            Self::FileOrder { .. } => "file-order",
            Self::NoFile => "no-file",
            Self::TooManyBytes { .. } => "too-many-bytes",
            Self::OffsetOverflow { .. } => "offset-overflow",
        }
    }
}

impl core::error::Error for StreamError {}

/// Totals over a session; cheap to keep, capped in size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The session's format (`None` while only empty files were seen).
    pub format: Option<Format>,
    /// Files seen.
    pub files: u32,
    /// Bytes fed.
    pub bytes: u64,
    /// Records (messages, entries or units).
    pub records: u64,
    /// RocketMQ messages (CommitLog records, or messages inside entries).
    pub messages: u64,
    /// DLedger entries.
    pub entries: u64,
    /// Consume-queue units.
    pub units: u64,
    /// Blank records.
    pub blanks: u64,
    /// Offset of the first record.
    pub first_offset: Option<u64>,
    /// End (exclusive) of the last record.
    pub end_offset: Option<u64>,
    /// Smallest store timestamp of a message.
    pub min_store_timestamp: Option<i64>,
    /// Largest store timestamp of a message.
    pub max_store_timestamp: Option<i64>,
    /// Smallest DLedger index.
    pub min_index: Option<i64>,
    /// Largest DLedger index.
    pub max_index: Option<i64>,
    /// Messages (or units) per topic.
    pub topics: BTreeMap<String, u64>,
    /// Messages (or units) per (topic, queue id).
    pub queues: BTreeMap<(String, i32), u64>,
    /// Entries per DLedger term.
    pub terms: BTreeMap<i64, u64>,
    /// Records not counted in the maps above because they were full.
    pub distinct_overflow: u64,
    /// Problems found (the first [`MAX_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// Problems beyond [`MAX_PROBLEMS`].
    pub problems_dropped: u64,
    /// Where a sequential recovery walk ends (absolute); `None` for consume
    /// queues and while no file ended.
    pub recovery_end: Option<u64>,
    /// Records decoded past [`Self::recovery_end`] (in later files).
    pub beyond_recovery: u64,
    /// One report per file.
    pub file_reports: Vec<FileReport>,
}

impl Summary {
    /// What the data is: `commitlog`, `dledger`, `rocketmq-dledger` (DLedger
    /// entries carrying messages), `consumequeue`, or `empty`.
    pub fn kind_name(&self) -> &'static str {
        match self.format {
            None => "empty",
            Some(Format::DLedger) if self.messages > 0 => "rocketmq-dledger",
            Some(f) => f.name(),
        }
    }

    fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, k: K, overflow: &mut u64) {
        if let Some(v) = map.get_mut(&k) {
            *v += 1;
        } else if map.len() < MAX_DISTINCT {
            map.insert(k, 1);
        } else {
            *overflow += 1;
        }
    }

    fn observe(&mut self, r: &Rec<'_>) {
        self.records += 1;
        if r.beyond_recovery {
            self.beyond_recovery += 1;
        }
        let end = r.offset + r.raw.len() as u64;
        self.first_offset = Some(self.first_offset.map_or(r.offset, |f| f.min(r.offset)));
        self.end_offset = Some(self.end_offset.map_or(end, |e| e.max(end)));
        if let RecBody::Entry { entry, .. } = &r.body {
            self.entries += 1;
            self.min_index = Some(self.min_index.map_or(entry.index, |v| v.min(entry.index)));
            self.max_index = Some(self.max_index.map_or(entry.index, |v| v.max(entry.index)));
            Self::bump(&mut self.terms, entry.term, &mut self.distinct_overflow);
        }
        if let RecBody::Unit {
            topic, queue_id, ..
        } = &r.body
        {
            self.units += 1;
            Self::bump(
                &mut self.topics,
                (*topic).to_string(),
                &mut self.distinct_overflow,
            );
            Self::bump(
                &mut self.queues,
                ((*topic).to_string(), *queue_id),
                &mut self.distinct_overflow,
            );
        }
        if let Some(m) = r.message() {
            self.messages += 1;
            let ts = m.store_timestamp;
            self.min_store_timestamp = Some(self.min_store_timestamp.map_or(ts, |v| v.min(ts)));
            self.max_store_timestamp = Some(self.max_store_timestamp.map_or(ts, |v| v.max(ts)));
            let topic = m.topic_str();
            if !self.topics.contains_key(topic.as_ref()) && self.topics.len() >= MAX_DISTINCT {
                self.distinct_overflow += 1;
            } else {
                *self.topics.entry(topic.to_string()).or_insert(0) += 1;
            }
            Self::bump(
                &mut self.queues,
                (topic.into_owned(), m.queue_id),
                &mut self.distinct_overflow,
            );
        }
    }

    /// The summary as one JSON object (stable key names, for hosts).
    pub fn to_json(&self) -> String {
        let mut o = String::new();
        let opt = |o: &mut String, v: Option<i128>| match v {
            Some(v) => {
                let _ = write!(o, "{v}");
            }
            None => o.push_str("null"),
        };
        o.push_str("{\"kind\":");
        json::push_str(&mut o, self.kind_name());
        let _ = write!(
            o,
            ",\"files\":{},\"bytes\":{},\"records\":{},\"messages\":{},\"entries\":{},\"units\":{},\"blanks\":{}",
            self.files,
            self.bytes,
            self.records,
            self.messages,
            self.entries,
            self.units,
            self.blanks
        );
        for (k, v) in [
            ("firstOffset", self.first_offset.map(i128::from)),
            ("endOffset", self.end_offset.map(i128::from)),
            (
                "minStoreTimestamp",
                self.min_store_timestamp.map(i128::from),
            ),
            (
                "maxStoreTimestamp",
                self.max_store_timestamp.map(i128::from),
            ),
            ("minIndex", self.min_index.map(i128::from)),
            ("maxIndex", self.max_index.map(i128::from)),
            ("recoveryEnd", self.recovery_end.map(i128::from)),
        ] {
            let _ = write!(o, ",\"{k}\":");
            opt(&mut o, v);
        }
        let _ = write!(
            o,
            ",\"beyondRecovery\":{},\"distinctOverflow\":{},\"problemsDropped\":{}",
            self.beyond_recovery, self.distinct_overflow, self.problems_dropped
        );
        o.push_str(",\"topics\":{");
        for (i, (t, n)) in self.topics.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            json::push_str(&mut o, t);
            let _ = write!(o, ":{n}");
        }
        o.push_str("},\"queues\":[");
        for (i, ((t, q), n)) in self.queues.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"topic\":");
            json::push_str(&mut o, t);
            let _ = write!(o, ",\"queueId\":{q},\"count\":{n}}}");
        }
        o.push_str("],\"terms\":[");
        for (i, (t, n)) in self.terms.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{{\"term\":{t},\"count\":{n}}}");
        }
        o.push_str("],\"problems\":[");
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            push_problem_json(&mut o, p);
        }
        o.push_str("],\"fileReports\":[");
        for (i, f) in self.file_reports.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"file\":{},\"base\":{},\"name\":\"{}\",\"size\":{},\"fed\":{},\"records\":{},\"recordBytes\":{},\"end\":{},\"stop\":\"{}\",\"format\":",
                f.file,
                f.base,
                layout::file_name(f.base),
                f.size,
                f.fed,
                f.records,
                f.record_bytes,
                f.end,
                f.stop.name()
            );
            match f.format {
                Some(fm) => json::push_str(&mut o, fm.name()),
                None => o.push_str("null"),
            }
            match f.blank {
                Some((p, l)) => {
                    let _ = write!(o, ",\"blank\":{{\"pos\":{p},\"len\":{l}}}}}");
                }
                None => o.push_str(",\"blank\":null}"),
            }
        }
        o.push_str("]}");
        o
    }
}

/// Appends a problem as a JSON object: `severity`, `kind` (short name),
/// `offset`, `segment` (file name or null), `log`, `message`.
pub fn push_problem_json(o: &mut String, p: &Problem) {
    let sev = match p.severity {
        Severity::Notice => "notice",
        Severity::Warning => "warning",
        Severity::Error => "error",
    };
    let _ = write!(
        o,
        "{{\"severity\":\"{sev}\",\"kind\":\"{}\",\"offset\":{},\"segment\":",
        problem_kind_name(p),
        p.offset
    );
    match p.segment {
        Some(s) => json::push_str(o, &layout::file_name(s)),
        None => o.push_str("null"),
    }
    o.push_str(",\"log\":");
    json::push_str(o, &p.log.to_string());
    o.push_str(",\"message\":");
    json::push_str(o, &p.to_string());
    o.push('}');
}

/// A short stable name for a problem: `crc-mismatch`, `torn-tail`,
/// `bad-magic`, `offset-mismatch`, `size-out-of-range`, `length-mismatch`,
/// `bad-field`, `bad-text`, `store`, `other`.
pub fn problem_kind_name(p: &Problem) -> &'static str {
    match &p.kind {
        ProblemKind::Decode(e) => match e.kind {
            DecodeErrorKind::Truncated { .. } => "torn-tail",
            DecodeErrorKind::BadMagic { .. } => "bad-magic",
            DecodeErrorKind::SizeOutOfRange { .. } => "size-out-of-range",
            DecodeErrorKind::LengthMismatch { .. } => "length-mismatch",
            DecodeErrorKind::CrcMismatch { .. } => "crc-mismatch",
            DecodeErrorKind::OffsetMismatch { .. } => "offset-mismatch",
            DecodeErrorKind::BadField { .. } => "bad-field",
            DecodeErrorKind::BadText { .. } => "bad-text",
        },
        ProblemKind::Store(_) => "store",
        _ => "other",
    }
}

/// The per-file state of the walk.
#[derive(Debug)]
struct FileState {
    index: u32,
    spec: FileSpec,
    log: LogId,
    /// Bytes of this file received so far (head buffer included).
    fed: u64,
    /// Relative position of the next record to decode.
    pos: u64,
    /// Total bytes the carried partial record needs (when `carry` is non-empty).
    want: usize,
    stop: Option<Stop>,
    head_done: bool,
    format: Option<Format>,
    records: u64,
    record_bytes: u64,
    blank: Option<(u64, u64)>,
}

/// What one decoding step did.
enum Step {
    /// Consumed `n` bytes; the next record follows.
    Advance(u64),
    /// The record needs this many bytes in total (from its start).
    Need(u64),
    /// The walk of this file is over.
    Stop,
}

/// What running over one buffer did.
enum Outcome {
    /// Everything in the buffer was used (or skipped).
    Exhausted,
    /// The record at `pos` needs this many bytes in total; carry it.
    NeedMore(u64),
    /// The file's walk ended.
    Stopped,
}

/// The streaming decoder. See the [module docs](self).
#[derive(Debug)]
pub struct Decoder {
    opts: Options,
    format: Option<Format>,
    file: Option<FileState>,
    files: u32,
    /// Where the previous file ended, and its consume-queue label.
    prev: Option<(u64, Option<(String, i32)>)>,
    /// The partial record straddling chunks, or the detection head.
    carry: Vec<u8>,
    /// The previous DLedger entry (index, term, chain CRC).
    last_entry: Option<(i64, i64, i32)>,
    /// False once a file ended where recovery stops.
    recovery_open: bool,
    seq: u64,
    summary: Summary,
}

impl Decoder {
    /// A decoder for one log.
    pub fn new(opts: Options) -> Self {
        Self {
            opts,
            format: opts.format,
            file: None,
            files: 0,
            prev: None,
            carry: Vec::new(),
            last_entry: None,
            recovery_open: true,
            seq: 0,
            summary: Summary {
                format: opts.format,
                ..Summary::default()
            },
        }
    }

    /// The session's format, once known.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// Totals so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Records decoded so far.
    pub fn records(&self) -> u64 {
        self.seq
    }

    /// Bytes currently buffered (the carried partial record or the detection
    /// head): bounded by [`Options::max_record_len`] and the file size.
    pub fn buffered(&self) -> usize {
        self.carry.len()
    }

    /// Starts the next file. Files must come in increasing offset order and
    /// end at or below `i64::MAX` (so no `base + position` sum can overflow).
    pub fn begin_file(&mut self, spec: FileSpec) -> Result<(), StreamError> {
        if self.file.is_some() {
            return Err(StreamError {
                offset: spec.base,
                kind: StreamErrorKind::NoFile,
            });
        }
        if spec
            .base
            .checked_add(spec.size)
            .is_none_or(|end| end > i64::MAX as u64)
        {
            return Err(StreamError {
                offset: spec.base,
                kind: StreamErrorKind::OffsetOverflow { size: spec.size },
            });
        }
        let same_group = self.prev.as_ref().is_some_and(|(_, q)| *q == spec.queue);
        if let Some((prev_end, _)) = &self.prev
            && same_group
            && spec.base < *prev_end
        {
            return Err(StreamError {
                offset: spec.base,
                kind: StreamErrorKind::FileOrder {
                    previous_end: *prev_end,
                },
            });
        }
        let log = match &spec.queue {
            Some((topic, queue_id)) => LogId::ConsumeQueue {
                topic: topic.clone(),
                queue_id: *queue_id,
            },
            None => match self.format {
                Some(Format::DLedger) => LogId::DLedgerData,
                _ => LogId::CommitLog,
            },
        };
        if !same_group && self.prev.is_some() {
            // A new consume queue: continuity and recovery start afresh.
            self.recovery_open = true;
        } else if let Some((prev_end, _)) = &self.prev
            && spec.base > *prev_end
        {
            let gap = *prev_end;
            self.problem(
                &mut |_: Event<'_>| {},
                Problem {
                    log: log.clone(),
                    segment: Some(spec.base),
                    offset: gap,
                    severity: Severity::Warning,
                    kind: ProblemKind::Other(alloc::format!(
                        "missing data: the previous file ends at {gap}, this one starts at {}",
                        spec.base
                    )),
                },
            );
            self.close_recovery(gap);
        }
        self.carry.clear();
        self.file = Some(FileState {
            index: self.files,
            spec,
            log,
            fed: 0,
            pos: 0,
            want: 0,
            stop: None,
            head_done: false,
            format: None,
            records: 0,
            record_bytes: 0,
            blank: None,
        });
        self.files += 1;
        self.summary.files = self.files;
        Ok(())
    }

    fn close_recovery(&mut self, at: u64) {
        if self.recovery_open {
            self.recovery_open = false;
            if self.format != Some(Format::ConsumeQueue) {
                self.summary.recovery_end = Some(at);
            }
        }
    }

    /// Feeds the next bytes of the current file.
    pub fn push<S: Sink + ?Sized>(
        &mut self,
        chunk: &[u8],
        sink: &mut S,
    ) -> Result<(), StreamError> {
        let Some(f) = self.file.as_mut() else {
            return Err(StreamError {
                offset: 0,
                kind: StreamErrorKind::NoFile,
            });
        };
        if f.fed + chunk.len() as u64 > f.spec.size {
            return Err(StreamError {
                offset: f.spec.base,
                kind: StreamErrorKind::TooManyBytes { size: f.spec.size },
            });
        }
        self.summary.bytes += chunk.len() as u64;
        if f.head_done {
            self.feed(chunk, sink);
            return Ok(());
        }
        // Gather the head for detection first.
        let head_len = (DETECT_LEN as u64).min(f.spec.size) as usize;
        let take = (head_len - self.carry.len()).min(chunk.len());
        self.carry.extend_from_slice(&chunk[..take]);
        if self.carry.len() < head_len {
            f.fed += take as u64;
            return Ok(());
        }
        self.detect_head()?;
        let head = core::mem::take(&mut self.carry);
        self.feed(&head, sink);
        // The head buffer may hold a carried record now; otherwise reuse it.
        if self.carry.is_empty() {
            self.carry = head;
            self.carry.clear();
        }
        self.feed(&chunk[take..], sink);
        Ok(())
    }

    /// Decides the format of the current file from the gathered head.
    fn detect_head(&mut self) -> Result<(), StreamError> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.head_done = true;
        // The head bytes get re-fed through `feed`, which counts them again.
        f.fed = 0;
        let detected = detect(&self.carry);
        let base = f.spec.base;
        match (self.format, detected) {
            (_, Detected::Empty) => f.format = None,
            (None, Detected::Unknown) => {
                return Err(StreamError {
                    offset: base,
                    kind: StreamErrorKind::UnknownFormat,
                });
            }
            (Some(s), Detected::Unknown) => f.format = Some(s),
            (None, Detected::Format(d)) => {
                self.format = Some(d);
                self.summary.format = Some(d);
                f.format = Some(d);
                if f.spec.queue.is_none() && d == Format::DLedger {
                    f.log = LogId::DLedgerData;
                }
            }
            (Some(s), Detected::Format(d)) if s == d => f.format = Some(d),
            (Some(s), Detected::Format(d)) => {
                // A forced format is the caller's word; otherwise refuse to mix.
                if self.opts.format.is_none() {
                    return Err(StreamError {
                        offset: base,
                        kind: StreamErrorKind::MixedFormats {
                            session: s,
                            file: d,
                        },
                    });
                }
                f.format = Some(s);
            }
        }
        Ok(())
    }

    /// The carry/run loop over a chunk of the current (detected) file.
    fn feed<S: Sink + ?Sized>(&mut self, mut data: &[u8], sink: &mut S) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let mut at = f.fed;
        f.fed += data.len() as u64;
        loop {
            let Some(f) = self.file.as_ref() else {
                return;
            };
            if f.stop.is_some() {
                self.carry.clear();
                return;
            }
            if !self.carry.is_empty() {
                let want = f.want;
                let take = want.saturating_sub(self.carry.len()).min(data.len());
                self.carry.extend_from_slice(&data[..take]);
                data = &data[take..];
                at += take as u64;
                if self.carry.len() < want {
                    return;
                }
                let mut buf = core::mem::take(&mut self.carry);
                let base = f.pos;
                let outcome = self.run(&buf, base, sink);
                let pos = self.file.as_ref().map_or(base, |f| f.pos);
                let keep_from = (pos - base) as usize;
                if let Outcome::NeedMore(total) = outcome
                    && keep_from < buf.len()
                {
                    buf.drain(..keep_from);
                    if let Some(f) = self.file.as_mut() {
                        f.want = total as usize;
                    }
                } else {
                    buf.clear();
                }
                self.carry = buf;
                continue;
            }
            if data.is_empty() {
                return;
            }
            let end = at + data.len() as u64;
            if f.pos >= end {
                return;
            }
            // Skip bytes before the next record (after a head blank).
            let skip = f.pos.saturating_sub(at) as usize;
            data = &data[skip..];
            at += skip as u64;
            if let Outcome::NeedMore(total) = self.run(data, at, sink)
                && let Some(f) = self.file.as_mut()
            {
                let k = (f.pos - at) as usize;
                self.carry.extend_from_slice(&data[k..]);
                f.want = total as usize;
            }
            return;
        }
    }

    /// Decodes records from `buf` (which starts at relative position `base`,
    /// with `base <= pos`) until it runs out or the file's walk ends.
    fn run<S: Sink + ?Sized>(&mut self, buf: &[u8], base: u64, sink: &mut S) -> Outcome {
        loop {
            let Some(f) = self.file.as_ref() else {
                return Outcome::Stopped;
            };
            if f.stop.is_some() {
                return Outcome::Stopped;
            }
            if f.pos >= f.spec.size {
                self.set_stop(Stop::EndOfFile);
                return Outcome::Stopped;
            }
            let rel = (f.pos - base) as usize;
            let Some(b) = buf.get(rel..).filter(|b| !b.is_empty()) else {
                return Outcome::Exhausted;
            };
            // At most the file's rest, and at most `max_record_len`: a longer
            // record then asks for more (`Step::Need`) and is refused below,
            // exactly as when it straddles two chunks, so the limit and the
            // output do not depend on the chunking.
            let limit = (f.spec.size - f.pos).min(self.opts.max_record_len);
            let b = &b[..b.len().min(usize::try_from(limit).unwrap_or(usize::MAX))];
            match self.step(b, sink) {
                Step::Advance(n) => {
                    if let Some(f) = self.file.as_mut() {
                        f.pos += n;
                    }
                }
                Step::Stop => return Outcome::Stopped,
                Step::Need(total) => {
                    let (off, remaining) = match self.file.as_ref() {
                        Some(f) => (f.spec.base + f.pos, f.spec.size - f.pos),
                        None => return Outcome::Stopped,
                    };
                    if total > remaining {
                        // The record claims more bytes than the file has left:
                        // a torn tail, or a garbage length. Never buffer it.
                        let kind = if total > self.opts.max_record_len {
                            DecodeErrorKind::SizeOutOfRange {
                                field: "record length",
                                value: total as i64,
                                min: 0,
                                max: remaining as i64,
                            }
                        } else {
                            DecodeErrorKind::Truncated {
                                needed: total - remaining,
                            }
                        };
                        let stop = if matches!(kind, DecodeErrorKind::Truncated { .. }) {
                            Stop::Truncated
                        } else {
                            Stop::Invalid
                        };
                        self.decode_problem(sink, DecodeError::new(off, kind), stop);
                        return Outcome::Stopped;
                    }
                    if total > self.opts.max_record_len {
                        let e = DecodeError::new(
                            off,
                            DecodeErrorKind::SizeOutOfRange {
                                field: "record length",
                                value: total as i64,
                                min: 0,
                                max: self.opts.max_record_len as i64,
                            },
                        );
                        self.decode_problem(sink, e, Stop::Invalid);
                        return Outcome::Stopped;
                    }
                    return Outcome::NeedMore(total);
                }
            }
        }
    }

    fn set_stop(&mut self, stop: Stop) {
        if let Some(f) = self.file.as_mut()
            && f.stop.is_none()
        {
            f.stop = Some(stop);
        }
    }

    fn problem<S: Sink + ?Sized>(&mut self, sink: &mut S, p: Problem) {
        sink.event(Event::Problem(&p));
        if self.summary.problems.len() < MAX_PROBLEMS {
            self.summary.problems.push(p);
        } else {
            self.summary.problems_dropped += 1;
        }
    }

    fn decode_problem<S: Sink + ?Sized>(&mut self, sink: &mut S, e: DecodeError, stop: Stop) {
        let severity = match stop {
            Stop::Truncated => Severity::Notice,
            Stop::Invalid => Severity::Error,
            _ => Severity::Warning,
        };
        self.file_problem(sink, e, severity);
        if matches!(stop, Stop::Truncated | Stop::Invalid) {
            self.set_stop(stop);
        }
    }

    fn file_problem<S: Sink + ?Sized>(&mut self, sink: &mut S, e: DecodeError, severity: Severity) {
        let (log, segment) = match self.file.as_ref() {
            Some(f) => (f.log.clone(), Some(f.spec.base)),
            None => (LogId::CommitLog, None),
        };
        self.problem(
            sink,
            Problem {
                log,
                segment,
                offset: e.offset,
                severity,
                kind: ProblemKind::Decode(e),
            },
        );
    }

    fn emit<S: Sink + ?Sized>(&mut self, sink: &mut S, offset: u64, raw: &[u8], body: RecBody<'_>) {
        let file = self.file.as_ref().map_or(0, |f| f.index);
        let rec = Rec {
            seq: self.seq,
            offset,
            raw,
            file,
            beyond_recovery: !self.recovery_open,
            body,
        };
        self.seq += 1;
        self.summary.observe(&rec);
        if let Some(f) = self.file.as_mut() {
            f.records += 1;
            f.record_bytes += raw.len() as u64;
        }
        sink.event(Event::Record(&rec));
    }

    fn emit_blank<S: Sink + ?Sized>(&mut self, sink: &mut S, pos: u64, len: u64) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let (file, offset) = (f.index, f.spec.base + pos);
        if pos + len >= f.spec.size {
            f.blank = Some((pos, len));
        }
        self.summary.blanks += 1;
        sink.event(Event::Blank { file, offset, len });
    }

    /// Decodes one record at the current position from `b` (which starts
    /// there and ends at most at the file's end).
    fn step<S: Sink + ?Sized>(&mut self, b: &[u8], sink: &mut S) -> Step {
        let Some(f) = self.file.as_ref() else {
            return Step::Stop;
        };
        let (pos, size, off) = (f.pos, f.spec.size, f.spec.base + f.pos);
        let Some(format) = f.format else {
            // An empty (all-zero head) file: nothing to decode.
            self.set_stop(Stop::ZeroTail);
            return Step::Stop;
        };
        let header = match format {
            Format::ConsumeQueue => CQ_UNIT_SIZE,
            _ => 8,
        };
        if b.len() < header {
            return Step::Need(header as u64);
        }
        if b[..header].iter().all(|&x| x == 0) {
            self.set_stop(Stop::ZeroTail);
            return Step::Stop;
        }
        match format {
            Format::CommitLog => self.step_commitlog(b, pos, size, off, sink),
            Format::DLedger => self.step_dledger(b, pos, size, off, sink),
            Format::ConsumeQueue => self.step_cq(b, off, sink),
        }
    }

    /// Decodes a message checking what recovery checks; the optional checks
    /// (`__CRC32#`, PHYSICALOFFSET) only warn.
    fn decode_message<'b, S: Sink + ?Sized>(
        &mut self,
        b: &'b [u8],
        off: u64,
        sink: &mut S,
    ) -> Result<Record<'b>, DecodeError> {
        if !self.opts.verify_crc {
            let opts = DecodeOptions {
                check_physical_offset: true,
                ..DecodeOptions::LENIENT
            };
            return match message::decode(b, off, opts) {
                Err(e) if matches!(e.kind, DecodeErrorKind::OffsetMismatch { .. }) => {
                    self.file_problem(sink, e, Severity::Warning);
                    message::decode(b, off, DecodeOptions::LENIENT)
                }
                r => r,
            };
        }
        match message::decode(b, off, DecodeOptions::STRICT) {
            Err(e)
                if matches!(
                    e.kind,
                    DecodeErrorKind::OffsetMismatch { .. }
                        | DecodeErrorKind::CrcMismatch {
                            field: "__CRC32#",
                            ..
                        }
                ) =>
            {
                let r = message::decode(b, off, DecodeOptions::JAVA_RECOVERY);
                if r.is_ok() {
                    self.file_problem(sink, e, Severity::Warning);
                }
                r
            }
            r => r,
        }
    }

    fn step_commitlog<S: Sink + ?Sized>(
        &mut self,
        b: &[u8],
        pos: u64,
        size: u64,
        off: u64,
        sink: &mut S,
    ) -> Step {
        match self.decode_message(b, off, sink) {
            Ok(Record::Message(m)) => {
                let n = m.raw.len() as u64;
                self.emit(sink, off, m.raw, RecBody::Message(m));
                Step::Advance(n)
            }
            Ok(Record::Blank { total_size }) => {
                let remaining = size - pos;
                if i64::from(total_size) != remaining as i64 {
                    let e = DecodeError::new(
                        off,
                        DecodeErrorKind::BadField {
                            field: "blank totalSize (bytes to the end of the file)",
                            value: total_size.into(),
                        },
                    );
                    self.file_problem(sink, e, Severity::Warning);
                }
                self.emit_blank(sink, pos, remaining);
                self.set_stop(Stop::Blank);
                Step::Stop
            }
            Err(e) if e.is_truncated() => Step::Need(b.len() as u64 + truncated_needed(&e)),
            Err(e) => {
                self.decode_problem(sink, e, Stop::Invalid);
                Step::Stop
            }
        }
    }

    fn step_dledger<S: Sink + ?Sized>(
        &mut self,
        b: &[u8],
        pos: u64,
        size: u64,
        off: u64,
        sink: &mut S,
    ) -> Step {
        let e = match dledger::decode(b, off, dledger::Line::Master) {
            Ok(DataRecord::Blank { len }) => {
                let remaining = size - pos;
                let len = i64::from(len);
                if len >= layout::MIN_BLANK_LEN as i64 && (len as u64) < remaining {
                    // A master-line head blank: skip it and go on in this file.
                    self.emit_blank(sink, pos, len as u64);
                    return Step::Advance(len as u64);
                }
                if len != remaining as i64 {
                    let e = DecodeError::new(
                        off,
                        DecodeErrorKind::BadField {
                            field: "blank length (bytes to the end of the file)",
                            value: len,
                        },
                    );
                    self.file_problem(sink, e, Severity::Warning);
                }
                self.emit_blank(sink, pos, remaining);
                self.set_stop(Stop::Blank);
                return Step::Stop;
            }
            Ok(DataRecord::Entry(e)) => e,
            Err(e) if e.is_truncated() => {
                return Step::Need(b.len() as u64 + truncated_needed(&e));
            }
            Err(e) => {
                self.decode_problem(sink, e, Stop::Invalid);
                return Step::Stop;
            }
        };
        // The checks of the recovery scan (classic line: pos too).
        let fail = if e.pos != off as i64 {
            Some(DecodeErrorKind::OffsetMismatch {
                field: "pos",
                stored: e.pos,
                actual: off as i64,
            })
        } else {
            match self.last_entry {
                Some((index, _, _)) if e.index != index.wrapping_add(1) => {
                    Some(DecodeErrorKind::BadField {
                        field: "index (not previous + 1)",
                        value: e.index,
                    })
                }
                Some((_, term, _)) if e.term < term => Some(DecodeErrorKind::BadField {
                    field: "term (lower than the previous entry's)",
                    value: e.term,
                }),
                _ => None,
            }
        };
        if let Some(kind) = fail {
            self.decode_problem(sink, DecodeError::new(off, kind), Stop::Invalid);
            return Step::Stop;
        }
        if self.opts.verify_crc
            && let Err(err) = dledger::check_crcs(&e, off, self.last_entry.map(|l| l.2))
        {
            self.file_problem(sink, err, Severity::Warning);
        }
        self.last_entry = Some((e.index, e.term, e.chain_crc));
        let message = self.entry_message(&e, off, sink);
        let n = e.raw.len() as u64;
        self.emit(sink, off, e.raw, RecBody::Entry { entry: e, message });
        Step::Advance(n)
    }

    /// The CommitLog record inside an entry body (DLedger commitlog mode).
    fn entry_message<'b, S: Sink + ?Sized>(
        &mut self,
        e: &EntryView<'b>,
        off: u64,
        sink: &mut S,
    ) -> Option<MessageView<'b>> {
        let magic = be::i32_at(e.body, 4)?;
        if magic != message::MAGIC_V1 && magic != message::MAGIC_V2 {
            return None;
        }
        let moff = off + dledger::HEADER_LEN as u64;
        match self.decode_message(e.body, moff, sink) {
            Ok(Record::Message(m)) if m.raw.len() == e.body.len() => Some(m),
            Ok(Record::Message(m)) => {
                let err = DecodeError::new(
                    moff,
                    DecodeErrorKind::LengthMismatch {
                        stored: i64::from(m.total_size),
                        computed: e.body.len() as i64,
                    },
                );
                self.file_problem(sink, err, Severity::Warning);
                None
            }
            Ok(Record::Blank { .. }) => None,
            Err(err) => {
                // The entry is valid DLedger data; only the message is bad.
                self.file_problem(sink, err, Severity::Error);
                None
            }
        }
    }

    fn step_cq<S: Sink + ?Sized>(&mut self, b: &[u8], off: u64, sink: &mut S) -> Step {
        let Some(unit) = CqUnit::decode(b) else {
            return Step::Need(CQ_UNIT_SIZE as u64);
        };
        if !unit.is_valid() {
            let e = DecodeError::new(
                off,
                DecodeErrorKind::BadField {
                    field: if unit.physical_offset < 0 {
                        "unit commitlog offset"
                    } else {
                        "unit size"
                    },
                    value: if unit.physical_offset < 0 {
                        unit.physical_offset
                    } else {
                        unit.size.into()
                    },
                },
            );
            self.decode_problem(sink, e, Stop::Invalid);
            return Step::Stop;
        }
        let (topic, queue_id) = match self.file.as_ref().and_then(|f| f.spec.queue.clone()) {
            Some((t, q)) => (t, q),
            None => (String::new(), -1),
        };
        let raw = &b[..CQ_UNIT_SIZE];
        self.emit(
            sink,
            off,
            raw,
            RecBody::Unit {
                unit,
                queue_offset: off / CQ_UNIT_SIZE as u64,
                topic: &topic,
                queue_id,
            },
        );
        Step::Advance(CQ_UNIT_SIZE as u64)
    }

    /// Ends the current file: reports a torn tail or a short file, and
    /// emits its [`FileReport`].
    pub fn end_file<S: Sink + ?Sized>(&mut self, sink: &mut S) -> Result<(), StreamError> {
        let Some(f) = self.file.as_ref() else {
            return Err(StreamError {
                offset: 0,
                kind: StreamErrorKind::NoFile,
            });
        };
        if !f.head_done {
            // A file shorter than the detection head: detect what there is.
            let detected_ok = self.detect_head();
            let head = core::mem::take(&mut self.carry);
            if let Err(e) = detected_ok {
                self.file = None;
                return Err(e);
            }
            self.feed(&head, sink);
        }
        let Some(f) = self.file.as_ref() else {
            return Ok(());
        };
        if f.stop.is_none() {
            let (off, fed, size) = (f.spec.base + f.pos, f.fed, f.spec.size);
            if f.pos >= size {
                self.set_stop(Stop::EndOfFile);
            } else if !self.carry.is_empty() || fed < size {
                // Either the file (as fed) ends inside a record, or fewer bytes
                // than declared arrived: a torn tail.
                let needed = (f.want as u64)
                    .saturating_sub(self.carry.len() as u64)
                    .max(1);
                let e = DecodeError::new(off, DecodeErrorKind::Truncated { needed });
                self.decode_problem(sink, e, Stop::Truncated);
            } else {
                self.set_stop(Stop::EndOfFile);
            }
        }
        self.carry.clear();
        let Some(f) = self.file.take() else {
            return Ok(());
        };
        let stop = f.stop.unwrap_or(Stop::EndOfFile);
        let end = match stop {
            Stop::Blank => f.blank.map_or(f.pos, |(p, _)| p),
            _ => f.pos.min(f.spec.size),
        };
        let report = FileReport {
            file: f.index,
            base: f.spec.base,
            size: f.spec.size,
            fed: f.fed,
            records: f.records,
            record_bytes: f.record_bytes,
            end,
            blank: f.blank,
            stop,
            format: f.format,
        };
        match stop {
            Stop::Blank => {}
            Stop::EndOfFile if f.pos >= f.spec.size => {}
            _ => self.close_recovery(f.spec.base + end),
        }
        self.prev = Some((f.spec.base + f.spec.size, f.spec.queue.clone()));
        sink.event(Event::FileEnd(&report));
        self.summary.file_reports.push(report);
        Ok(())
    }

    /// Ends the session and returns the totals. When every file ended at a
    /// roll point, the recovery end is the end of the last record.
    pub fn finish(mut self) -> Summary {
        if self.recovery_open && self.format != Some(Format::ConsumeQueue) {
            self.summary.recovery_end = self.summary.end_offset.or(Some(0));
        }
        self.summary
    }
}

fn truncated_needed(e: &DecodeError) -> u64 {
    match e.kind {
        DecodeErrorKind::Truncated { needed } => needed,
        _ => 0,
    }
}

/// Decodes whole files (given in offset order) in one go.
pub fn decode_files<'f, S: Sink + ?Sized>(
    files: impl IntoIterator<Item = (FileSpec, &'f [u8])>,
    opts: Options,
    sink: &mut S,
) -> Result<Summary, StreamError> {
    let mut dec = Decoder::new(opts);
    for (spec, bytes) in files {
        dec.begin_file(spec)?;
        dec.push(bytes, sink)?;
        dec.end_file(sink)?;
    }
    Ok(dec.finish())
}

/// Decodes whole files and returns their JSON lines for `view` (one object
/// per line, each ending in `\n`) with the summary.
pub fn to_jsonl<'f>(
    files: impl IntoIterator<Item = (FileSpec, &'f [u8])>,
    opts: Options,
    view: View,
) -> Result<(String, Summary), StreamError> {
    let mut out = String::new();
    let summary = decode_files(files, opts, &mut |e: Event<'_>| {
        if let Event::Record(r) = e
            && r.write_json(view, &mut out)
        {
            out.push('\n');
        }
    })?;
    Ok((out, summary))
}

/// One named field of a record for a hex view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpan {
    /// Field name as in the format's documentation (`totalSize`, `body`, ...).
    pub name: &'static str,
    /// `entry`, `message`, `blank` or `unit`: which structure the field belongs to.
    pub group: &'static str,
    /// Offset of the field from the start of the record bytes.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
    /// The value, as text.
    pub value: String,
}

fn span(
    out: &mut Vec<FieldSpan>,
    group: &'static str,
    name: &'static str,
    offset: usize,
    len: usize,
    value: impl fmt::Display,
) {
    out.push(FieldSpan {
        name,
        group,
        offset: offset as u32,
        len: len as u32,
        value: value.to_string(),
    });
}

fn message_spans(out: &mut Vec<FieldSpan>, m: &MessageView<'_>, at: usize) {
    let g = "message";
    let b = m.born_host.encoded_len();
    let s = m.store_host.encoded_len();
    let tl = if m.magic == message::MAGIC_V2 { 2 } else { 1 };
    span(out, g, "totalSize", at, 4, m.total_size);
    span(
        out,
        g,
        "magic",
        at + 4,
        4,
        format_args!("0x{:08X}", m.magic as u32),
    );
    span(out, g, "bodyCrc", at + 8, 4, m.body_crc);
    span(out, g, "queueId", at + 12, 4, m.queue_id);
    span(out, g, "flag", at + 16, 4, m.flag);
    span(out, g, "queueOffset", at + 20, 8, m.queue_offset);
    span(out, g, "physicalOffset", at + 28, 8, m.physical_offset);
    span(
        out,
        g,
        "sysFlag",
        at + 36,
        4,
        format_args!("0x{:X}", m.sys_flag.0),
    );
    span(out, g, "bornTimestamp", at + 40, 8, m.born_timestamp);
    span(out, g, "bornHost", at + 48, b, m.born_host);
    let p = at + 48 + b;
    span(out, g, "storeTimestamp", p, 8, m.store_timestamp);
    span(out, g, "storeHost", p + 8, s, m.store_host);
    let p = p + 8 + s;
    span(out, g, "reconsumeTimes", p, 4, m.reconsume_times);
    span(
        out,
        g,
        "preparedTransactionOffset",
        p + 4,
        8,
        m.prepared_transaction_offset,
    );
    span(out, g, "bodyLength", p + 12, 4, m.body.len());
    let p = p + 16;
    if !m.body.is_empty() {
        span(
            out,
            g,
            "body",
            p,
            m.body.len(),
            format_args!("{} bytes", m.body.len()),
        );
    }
    let p = p + m.body.len();
    span(out, g, "topicLength", p, tl, m.topic.len());
    if !m.topic.is_empty() {
        span(out, g, "topic", p + tl, m.topic.len(), m.topic_str());
    }
    let p = p + tl + m.topic.len();
    span(out, g, "propertiesLength", p, 2, m.properties.len());
    if !m.properties.is_empty() {
        let text: String = properties::lossy(m.properties)
            .chars()
            .map(|c| match c {
                '\u{1}' => '=',
                '\u{2}' => ';',
                c => c,
            })
            .collect();
        span(out, g, "properties", p + 2, m.properties.len(), text);
    }
}

/// The named fields of the record at the start of `bytes` (absolute
/// `offset`), for a hex view. DLedger entries carrying a message list the
/// entry header then the message's fields (group `message`) instead of `body`.
pub fn field_spans(
    format: Format,
    bytes: &[u8],
    offset: u64,
) -> Result<Vec<FieldSpan>, DecodeError> {
    let mut out = Vec::new();
    match format {
        Format::CommitLog => match message::decode(bytes, offset, DecodeOptions::LENIENT)? {
            Record::Message(m) => message_spans(&mut out, &m, 0),
            Record::Blank { total_size } => {
                span(&mut out, "blank", "totalSize", 0, 4, total_size);
                span(&mut out, "blank", "magic", 4, 4, "0xCBD43194 (BLANK)");
            }
        },
        Format::DLedger => match dledger::decode(bytes, offset, dledger::Line::Master)? {
            DataRecord::Blank { len } => {
                span(&mut out, "blank", "magic", 0, 4, "-1 (BLANK)");
                span(&mut out, "blank", "length", 4, 4, len);
            }
            DataRecord::Entry(e) => {
                let g = "entry";
                span(&mut out, g, "magic", 0, 4, e.magic);
                span(&mut out, g, "size", 4, 4, e.size);
                span(&mut out, g, "index", 8, 8, e.index);
                span(&mut out, g, "term", 16, 8, e.term);
                span(&mut out, g, "pos", 24, 8, e.pos);
                span(&mut out, g, "channel", 32, 4, e.channel);
                span(&mut out, g, "chainCrc", 36, 4, e.chain_crc);
                span(&mut out, g, "bodyCrc", 40, 4, e.body_crc);
                span(&mut out, g, "bodyLength", 44, 4, e.body_len);
                let moff = offset + dledger::HEADER_LEN as u64;
                match message::decode(e.body, moff, DecodeOptions::LENIENT) {
                    Ok(Record::Message(m)) if m.raw.len() == e.body.len() => {
                        message_spans(&mut out, &m, dledger::HEADER_LEN);
                    }
                    _ if !e.body.is_empty() => {
                        let n = e.body.len();
                        span(&mut out, g, "body", 48, n, format_args!("{n} bytes"));
                    }
                    _ => {}
                }
            }
        },
        Format::ConsumeQueue => {
            let u = cq_unit(bytes, offset)?;
            span(&mut out, "unit", "physicalOffset", 0, 8, u.physical_offset);
            span(&mut out, "unit", "size", 8, 4, u.size);
            span(&mut out, "unit", "tagsCode", 12, 8, u.tags_code);
        }
    }
    Ok(out)
}

fn cq_unit(bytes: &[u8], offset: u64) -> Result<CqUnit, DecodeError> {
    CqUnit::decode(bytes).ok_or_else(|| {
        DecodeError::new(
            offset,
            DecodeErrorKind::Truncated {
                needed: (CQ_UNIT_SIZE - bytes.len().min(CQ_UNIT_SIZE)) as u64,
            },
        )
    })
}

/// Renders the JSON object of one record given its bytes (as located by a
/// [`Row`]): decodes structure only (CRCs are the walk's business).
/// `queue` labels consume-queue units. Returns `Ok(false)` when `view` has
/// no object for the record.
pub fn render_json(
    format: Format,
    view: View,
    bytes: &[u8],
    offset: u64,
    queue: Option<(&str, i32)>,
    out: &mut String,
) -> Result<bool, DecodeError> {
    let body = match format {
        Format::CommitLog => match message::decode(bytes, offset, DecodeOptions::LENIENT)? {
            Record::Message(m) => RecBody::Message(m),
            Record::Blank { .. } => return Ok(false),
        },
        Format::DLedger => match dledger::decode(bytes, offset, dledger::Line::Master)? {
            DataRecord::Entry(entry) => {
                let moff = offset + dledger::HEADER_LEN as u64;
                let message = match message::decode(entry.body, moff, DecodeOptions::LENIENT) {
                    Ok(Record::Message(m)) if m.raw.len() == entry.body.len() => Some(m),
                    _ => None,
                };
                RecBody::Entry { entry, message }
            }
            DataRecord::Blank { .. } => return Ok(false),
        },
        Format::ConsumeQueue => {
            let unit = cq_unit(bytes, offset)?;
            let (topic, queue_id) = queue.unwrap_or(("", -1));
            RecBody::Unit {
                unit,
                queue_offset: offset / CQ_UNIT_SIZE as u64,
                topic,
                queue_id,
            }
        }
    };
    let rec = Rec {
        seq: 0,
        offset,
        raw: bytes,
        file: 0,
        beyond_recovery: false,
        body,
    };
    Ok(rec.write_json(view, out))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use alloc::vec;
    use std::path::{Path, PathBuf};

    fn fixture(group: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(group)
    }

    /// The files of `dir`, sorted by name, with their bytes.
    fn files(dir: &Path) -> Vec<(FileSpec, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v.into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                let name = p.file_name().unwrap().to_str().unwrap();
                (
                    FileSpec::from_name(name, bytes.len() as u64).unwrap(),
                    bytes,
                )
            })
            .collect()
    }

    fn expected(group: &str, file: &str) -> String {
        std::fs::read_to_string(fixture(group).join(file)).unwrap()
    }

    /// Decodes with every file split into `chunk`-byte pieces.
    fn chunked(fs: &[(FileSpec, Vec<u8>)], chunk: usize, view: View) -> (String, Summary) {
        let mut dec = Decoder::new(Options::default());
        let mut out = String::new();
        let mut max_buffered = 0;
        for (spec, bytes) in fs {
            dec.begin_file(spec.clone()).unwrap();
            for c in bytes.chunks(chunk) {
                dec.push(c, &mut |e: Event<'_>| {
                    if let Event::Record(r) = e
                        && r.write_json(view, &mut out)
                    {
                        out.push('\n');
                    }
                })
                .unwrap();
                max_buffered = max_buffered.max(dec.buffered());
            }
            dec.end_file(&mut |_: Event<'_>| {}).unwrap();
        }
        // The carry never exceeds the largest record (41 KiB in the fixtures).
        assert!(max_buffered <= 48 << 10, "buffered {max_buffered}");
        (out, dec.finish())
    }

    const CASES: [(&str, &str, &str, View); 5] = [
        (
            "rocketmq/basic",
            "store/commitlog",
            "expected.jsonl",
            View::Messages,
        ),
        (
            "dledger/basic",
            "store/dledger-n0/data",
            "expected.jsonl",
            View::Entries,
        ),
        (
            "dledger/master-basic",
            "store/dledger-n0/data",
            "expected.jsonl",
            View::Entries,
        ),
        (
            "rocketmq-dledger/basic",
            "store/dledger-n0/data",
            "expected.jsonl",
            View::Messages,
        ),
        (
            "rocketmq-dledger/basic",
            "store/dledger-n0/data",
            "expected_dledger.jsonl",
            View::Entries,
        ),
    ];

    #[test]
    fn fixtures_match_expected_for_any_chunking() {
        for (group, dir, exp, view) in CASES {
            let fs = files(&fixture(group).join(dir));
            let want = expected(group, exp);
            for chunk in [1, 7, 20, 48, 4096, 65536, 1 << 20] {
                let (got, s) = chunked(&fs, chunk, view);
                assert!(got == want, "{group} {exp} chunk {chunk}: output differs");
                assert!(s.problems.is_empty(), "{group}: {:?}", s.problems);
                assert_eq!(
                    s.records,
                    s.file_reports.iter().map(|f| f.records).sum::<u64>()
                );
            }
        }
    }

    #[test]
    fn summary_matches_meta() {
        let fs = files(&fixture("rocketmq/basic").join("store/commitlog"));
        let (_, s) = chunked(&fs, 1 << 16, View::Messages);
        assert_eq!(s.kind_name(), "commitlog");
        assert_eq!(s.messages, 60);
        assert_eq!(s.blanks, 7);
        // expected_meta.json: commitLogMaxOffsetAfterRecovery.
        assert_eq!(s.recovery_end, Some(484_512));
        assert_eq!(s.end_offset, Some(484_512));
        assert_eq!(
            s.topics.get("TopicC"),
            Some(&count_topic("rocketmq/basic", "TopicC"))
        );
        assert_eq!(s.file_reports[0].blank, Some((60_644, 4_892)));

        let fs = files(&fixture("rocketmq-dledger/basic").join("store/dledger-n0/data"));
        let (_, s) = chunked(&fs, 1 << 16, View::Messages);
        assert_eq!(s.kind_name(), "rocketmq-dledger");
        assert_eq!((s.entries, s.messages, s.blanks), (50, 50, 4));
        assert_eq!(s.recovery_end, Some(311_433));
        assert_eq!(s.terms.get(&0), Some(&50));

        let fs = files(&fixture("dledger/basic").join("store/dledger-n0/data"));
        let (_, s) = chunked(&fs, 1 << 16, View::Entries);
        assert_eq!(s.kind_name(), "dledger");
        assert_eq!((s.entries, s.messages, s.blanks), (38, 0, 4));
        assert_eq!((s.min_index, s.max_index), (Some(0), Some(37)));
    }

    fn count_topic(group: &str, topic: &str) -> u64 {
        let pat = alloc::format!("\"topic\":\"{topic}\"");
        expected(group, "expected.jsonl")
            .lines()
            .filter(|l| l.contains(&pat))
            .count() as u64
    }

    #[test]
    fn consume_queue_units_match_expected() {
        let root = fixture("rocketmq/basic").join("store/consumequeue");
        let mut want: Vec<String> = expected("rocketmq/basic", "expected_consumequeue.jsonl")
            .lines()
            .map(String::from)
            .collect();
        let mut got = Vec::new();
        for topic in ["TopicA", "TopicB", "TopicC"] {
            let mut qs: Vec<_> = std::fs::read_dir(root.join(topic))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            qs.sort();
            for q in qs {
                let qid: i32 = q.parse().unwrap();
                let fs = files(&root.join(topic).join(&q));
                let labelled = fs.into_iter().map(|(mut s, b)| {
                    s.queue = Some((topic.into(), qid));
                    (s, b)
                });
                let owned: Vec<_> = labelled.collect();
                let (text, s) = to_jsonl(
                    owned.iter().map(|(s, b)| (s.clone(), b.as_slice())),
                    Options::default(),
                    View::Messages,
                )
                .unwrap();
                assert_eq!(s.format, Some(Format::ConsumeQueue));
                got.extend(text.lines().map(String::from));
            }
        }
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }

    fn commitlog_record(physical_offset: i64, body: &[u8]) -> Vec<u8> {
        let p = message::MessageParts {
            v2: None,
            body_crc: None,
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: message::Host::V4 {
                addr: [1, 2, 3, 4],
                port: 5,
            },
            store_timestamp: 2,
            store_host: message::Host::V4 {
                addr: [1, 2, 3, 4],
                port: 6,
            },
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic: b"T",
            properties: b"TAGS\x01a\x02",
            append_prop_crc: false,
        };
        let mut b = vec![0u8; p.encoded_len()];
        p.encode(&mut b).unwrap();
        b
    }

    fn decode_one(bytes: &[u8], chunk: usize) -> Summary {
        let mut dec = Decoder::new(Options::default());
        dec.begin_file(FileSpec {
            base: 0,
            size: bytes.len() as u64,
            queue: None,
        })
        .unwrap();
        for c in bytes.chunks(chunk) {
            dec.push(c, &mut |_: Event<'_>| {}).unwrap();
            assert!(dec.buffered() <= 4096, "carry {}", dec.buffered());
        }
        dec.end_file(&mut |_: Event<'_>| {}).unwrap();
        dec.finish()
    }

    #[test]
    fn damage_is_reported_with_offsets() {
        let r0 = commitlog_record(0, b"hello");
        let r1 = commitlog_record(r0.len() as i64, b"world");
        let mut file = r0.clone();
        file.extend_from_slice(&r1);
        file.resize(4096, 0);
        let s = decode_one(&file, 13);
        assert_eq!((s.messages, s.problems.len()), (2, 0));
        assert_eq!(s.file_reports[0].stop, Stop::ZeroTail);
        assert_eq!(s.recovery_end, Some((r0.len() + r1.len()) as u64));

        // A body bit flip: CRC mismatch at the second record, which ends the walk.
        let mut bad = file.clone();
        // The body "world" ends 12 bytes before the record's end (topic, properties).
        bad[r0.len() + r1.len() - 14] ^= 1;
        let s = decode_one(&bad, 5);
        assert_eq!(s.messages, 1);
        assert_eq!(problem_kind_name(&s.problems[0]), "crc-mismatch");
        assert_eq!(s.problems[0].offset, r0.len() as u64);
        assert_eq!(s.recovery_end, Some(r0.len() as u64));

        // Wrong PHYSICALOFFSET: kept, with a warning.
        let mut moved = r0.clone();
        moved.extend_from_slice(&commitlog_record(999, b"x"));
        moved.resize(1024, 0);
        let s = decode_one(&moved, 64);
        assert_eq!(s.messages, 2);
        assert_eq!(problem_kind_name(&s.problems[0]), "offset-mismatch");

        // A torn tail: the file ends inside the second record.
        let torn = &file[..r0.len() + 50];
        let s = decode_one(torn, 16);
        assert_eq!(s.messages, 1);
        assert_eq!(problem_kind_name(&s.problems[0]), "torn-tail");
        assert_eq!(s.file_reports[0].stop, Stop::Truncated);

        // A hostile length: never buffered, reported where it is.
        let mut hostile = r0.clone();
        hostile.extend_from_slice(&r1);
        let at = r0.len();
        hostile[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        hostile.resize(4096, 0);
        let s = decode_one(&hostile, 100);
        assert_eq!(s.messages, 1);
        assert_eq!(s.problems[0].offset, at as u64);
        assert_eq!(problem_kind_name(&s.problems[0]), "size-out-of-range");

        // Bad magic in the middle.
        let mut magic = file.clone();
        magic[at + 4] = 0x11;
        let s = decode_one(&magic, 4096);
        assert_eq!(problem_kind_name(&s.problems[0]), "bad-magic");
    }

    /// Problems (kind, offset, message) and record offsets of `bytes` fed in
    /// `chunk`-byte pieces with `max_record_len` set to `max`.
    fn limited(bytes: &[u8], chunk: usize, max: u64) -> (Vec<(String, u64)>, Vec<u64>) {
        let mut dec = Decoder::new(Options {
            max_record_len: max,
            ..Options::default()
        });
        dec.begin_file(FileSpec {
            base: 0,
            size: bytes.len() as u64,
            queue: None,
        })
        .unwrap();
        let mut recs = Vec::new();
        let mut sink = |e: Event<'_>| {
            if let Event::Record(r) = e {
                recs.push(r.offset);
            }
        };
        for c in bytes.chunks(chunk) {
            dec.push(c, &mut sink).unwrap();
        }
        dec.end_file(&mut sink).unwrap();
        let s = dec.finish();
        let problems = s
            .problems
            .iter()
            .map(|p| (alloc::format!("{p}"), p.offset))
            .collect();
        (problems, recs)
    }

    #[test]
    fn record_limit_does_not_depend_on_chunking() {
        // Small records first, so the big one starts past the detection
        // head and can lie inside one chunk.
        let mut file = Vec::new();
        let mut starts = Vec::new();
        while file.len() <= DETECT_LEN {
            starts.push(file.len() as u64);
            file.extend_from_slice(&commitlog_record(file.len() as i64, b"small"));
        }
        let at = file.len() as u64;
        let big = commitlog_record(at as i64, &[7u8; 600]);
        file.extend_from_slice(&big);
        file.resize(4096, 0);
        let max = 512;
        assert!(big.len() as u64 > max);
        // Whole, in one chunk holding the big record, and in small pieces: the
        // big record is refused where it starts, the small ones kept.
        for chunk in [file.len(), 1024, 100, 7, 1] {
            let (problems, recs) = limited(&file, chunk, max);
            assert_eq!(recs, starts, "chunk {chunk}");
            assert_eq!(problems.len(), 1, "chunk {chunk}: {problems:?}");
            assert_eq!(problems[0].1, at, "chunk {chunk}");
            assert!(
                problems[0].0.contains("out of range [0, 512]"),
                "chunk {chunk}: {}",
                problems[0].0
            );
        }
        // At the limit it is kept.
        let (problems, recs) = limited(&file, file.len(), big.len() as u64);
        assert_eq!((problems.len(), recs.len()), (0, starts.len() + 1));
    }

    #[test]
    fn file_ending_past_the_largest_offset_is_refused() {
        let top = i64::MAX as u64;
        for (base, size) in [(u64::MAX - 10, 100), (top - 99, 100), (top, 1)] {
            let mut dec = Decoder::new(Options::default());
            let e = dec
                .begin_file(FileSpec {
                    base,
                    size,
                    queue: None,
                })
                .unwrap_err();
            assert_eq!(e.kind, StreamErrorKind::OffsetOverflow { size });
            assert_eq!(e.offset, base);
            assert!(alloc::format!("{e}").contains("largest offset"));
            // Nothing was opened.
            assert_eq!(
                dec.end_file(&mut |_: Event<'_>| {}).unwrap_err().kind,
                StreamErrorKind::NoFile
            );
        }
        // Ending exactly at i64::MAX is fine.
        let r = commitlog_record((top - 4096) as i64, b"x");
        let mut file = r.clone();
        file.resize(4096, 0);
        let s = decode_files(
            [(
                FileSpec {
                    base: top - 4096,
                    size: 4096,
                    queue: None,
                },
                &file[..],
            )],
            Options::default(),
            &mut |_: Event<'_>| {},
        )
        .unwrap();
        assert_eq!((s.messages, s.problems.len()), (1, 0));
    }

    #[test]
    fn foreign_and_empty_files() {
        let mut dec = Decoder::new(Options::default());
        dec.begin_file(FileSpec::from_name("00000000000000000000", 300).unwrap())
            .unwrap();
        let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let e = dec.push(&garbage, &mut |_: Event<'_>| {}).unwrap_err();
        assert_eq!(e.kind, StreamErrorKind::UnknownFormat);
        assert!(alloc::format!("{e}").contains("not a RocketMQ"));

        // A short garbage file is refused at end_file.
        let mut dec = Decoder::new(Options::default());
        dec.begin_file(FileSpec::from_name("00000000000000000000", 10).unwrap())
            .unwrap();
        let pushed = dec.push(&garbage[..10], &mut |_: Event<'_>| {});
        assert!(pushed.is_err() || dec.end_file(&mut |_: Event<'_>| {}).is_err());

        // All zeros: an empty preallocated file, no records and no error.
        let s = decode_one(&[0u8; 1000], 100);
        assert_eq!((s.records, s.format), (0, None));
        assert_eq!(s.kind_name(), "empty");
    }

    #[test]
    fn detection() {
        let r = commitlog_record(0, b"x");
        assert_eq!(detect(&r), Detected::Format(Format::CommitLog));
        let cq = CqUnit {
            physical_offset: 194,
            size: 195,
            tags_code: 7,
        };
        let mut b = CqUnit {
            physical_offset: 0,
            size: 194,
            tags_code: 1,
        }
        .encode()
        .to_vec();
        b.extend_from_slice(&cq.encode());
        b.resize(160, 0);
        assert_eq!(detect(&b), Detected::Format(Format::ConsumeQueue));
        assert_eq!(detect(&[0u8; 64]), Detected::Empty);
        assert_eq!(detect(b"not a log at all, sorry"), Detected::Unknown);
    }

    #[test]
    fn spans_cover_the_record() {
        let r = commitlog_record(0, b"hello");
        let spans = field_spans(Format::CommitLog, &r, 0).unwrap();
        let total: u32 = spans.iter().map(|s| s.len).sum();
        assert_eq!(total as usize, r.len());
        let mut at = 0;
        for s in &spans {
            assert_eq!(s.offset, at, "{}", s.name);
            at += s.len;
        }
        assert_eq!(spans.iter().find(|s| s.name == "topic").unwrap().value, "T");
        let mut json = String::new();
        assert!(render_json(Format::CommitLog, View::Messages, &r, 0, None, &mut json).unwrap());
        assert!(json.starts_with("{\"physicalOffset\":0,"));
    }
}
