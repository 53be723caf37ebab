//! The plugin's session: `rocketlog_core::stream::Decoder` (the streaming
//! decoder every host shares) with the plugin's error policy on top.
//!
//! The core decoder reports what it finds as problems and goes on; a plugin
//! caller wants a clear failure instead. A session therefore fails, and stays
//! failed, at the first problem that ends a file's walk (an invalid record or
//! a record cut short: severity `Error`, or a torn tail), and with
//! [`Options::verify`] at the first warning too (`__CRC32#`, PHYSICALOFFSET,
//! DLedger `pos`/index/CRCs, gaps between files). Records before the failure
//! have already gone to the sink; nothing after it does.
//!
//! Memory: the core decoder keeps one partial record (bounded by the file size
//! and [`stream::DEFAULT_MAX_RECORD_LEN`]) and a capped summary; the session
//! adds nothing proportional to the input.

use std::vec::Vec;

use rocketlog_core::be;
use rocketlog_core::codec::consume_queue::CqUnit;
use rocketlog_core::codec::dledger::{self, EntryView};
use rocketlog_core::codec::message::{self, MessageView};
use rocketlog_core::scan::{Problem, ProblemKind, Severity};
use rocketlog_core::stream::{
    self, Decoder, Detected, Event, FileSpec, Format, RecBody, StreamError, StreamErrorKind,
};

use super::error::PluginError;

pub use rocketlog_core::stream::Summary;

/// Which log the files belong to, and which records a dump shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A RocketMQ `commitlog/` directory: messages.
    CommitLog,
    /// DLedger `data/` files: the entries themselves (also for entries that
    /// carry RocketMQ messages).
    DLedger,
    /// DLedger `data/` files written by RocketMQ's DLedger commitlog: the
    /// RocketMQ message in each entry.
    DLedgerCommitLog,
}

impl Kind {
    /// Every kind, in code order (1, 2, 3 in the C ABI flags).
    pub const ALL: [Self; 3] = [Self::CommitLog, Self::DLedger, Self::DLedgerCommitLog];

    /// The kebab-case name used in JSON and WIT.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CommitLog => "commitlog",
            Self::DLedger => "dledger",
            Self::DLedgerCommitLog => "dledger-commitlog",
        }
    }

    /// Inverse of [`Kind::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How to walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// The log kind, or `None` to detect it from the first file: then a DLedger
    /// entry shows as its RocketMQ message when it carries one, else as itself.
    pub kind: Option<Kind>,
    /// Fail on warnings too (checks beyond what the Java readers do).
    pub verify: bool,
}

/// One decoded record, borrowing the input.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A RocketMQ message at absolute `offset`; `entry` is the DLedger entry
    /// around it (DLedger commitlog mode).
    Message {
        /// Where the message bytes start.
        offset: u64,
        /// The message.
        message: MessageView<'a>,
        /// The enclosing DLedger entry, if any.
        entry: Option<EntryView<'a>>,
    },
    /// A DLedger entry at absolute `offset`.
    Entry {
        /// Where the entry starts.
        offset: u64,
        /// The entry.
        entry: EntryView<'a>,
    },
    /// A consume-queue unit (when consume-queue files are given).
    Unit {
        /// Absolute offset in the queue's files.
        offset: u64,
        /// Queue offset (offset / 20).
        queue_offset: u64,
        /// The unit.
        unit: CqUnit,
    },
    /// Filler: the end-of-file blank, or a DLedger head blank.
    Blank {
        /// Where the blank starts.
        offset: u64,
        /// Bytes it covers.
        len: u64,
    },
}

/// Receives records in log order.
pub trait Sink {
    /// Takes one record; an error fails the session.
    fn item(&mut self, item: &Item<'_>) -> Result<(), PluginError>;
}

/// A sink that drops everything (summaries and verification).
impl Sink for () {
    fn item(&mut self, _: &Item<'_>) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Whether `p` fails a session under `opts`.
fn fails(p: &Problem, verify: bool) -> bool {
    let torn = matches!(&p.kind, ProblemKind::Decode(e) if e.is_truncated());
    p.severity == Severity::Error || torn || (verify && p.severity >= Severity::Warning)
}

fn problem_error(p: &Problem) -> PluginError {
    match &p.kind {
        ProblemKind::Decode(e) => PluginError::Decode {
            file: p.segment.unwrap_or(0),
            error: e.clone(),
        },
        _ => PluginError::Problem {
            file: p.segment,
            offset: p.offset,
            message: p.to_string(),
        },
    }
}

fn stream_error(e: StreamError) -> PluginError {
    match e.kind {
        StreamErrorKind::UnknownFormat => PluginError::UnknownKind {
            file: e.offset,
            offset: e.offset,
        },
        StreamErrorKind::FileOrder { previous_end } => PluginError::NotContiguous {
            expected: previous_end,
            found: e.offset,
        },
        StreamErrorKind::MixedFormats { .. } => PluginError::Problem {
            file: Some(e.offset),
            offset: e.offset,
            message: e.to_string(),
        },
        StreamErrorKind::NoFile => PluginError::InvalidCall {
            what: "feed or end-file without begin-file, or begin-file twice",
        },
        StreamErrorKind::TooManyBytes { .. } => PluginError::InvalidCall {
            what: "more bytes fed than the file length given to begin-file",
        },
        _ => PluginError::Problem {
            file: None,
            offset: e.offset,
            message: e.to_string(),
        },
    }
}

/// Turns core decoder events into [`Item`]s until the first failure.
struct Adapter<'s> {
    sink: &'s mut dyn Sink,
    kind: Option<Kind>,
    verify: bool,
    failed: Option<PluginError>,
}

impl Adapter<'_> {
    fn deliver(&mut self, item: &Item<'_>) {
        if let Err(e) = self.sink.item(item) {
            self.failed = Some(e);
        }
    }
}

impl stream::Sink for Adapter<'_> {
    fn event(&mut self, e: Event<'_>) {
        if self.failed.is_some() {
            return;
        }
        match e {
            Event::Record(r) => match (&r.body, self.kind) {
                (RecBody::Message(m), _) => self.deliver(&Item::Message {
                    offset: r.offset,
                    message: *m,
                    entry: None,
                }),
                (
                    RecBody::Entry {
                        entry,
                        message: Some(m),
                    },
                    None | Some(Kind::DLedgerCommitLog | Kind::CommitLog),
                ) => self.deliver(&Item::Message {
                    offset: r.offset + dledger::HEADER_LEN as u64,
                    message: *m,
                    entry: Some(*entry),
                }),
                (RecBody::Entry { entry, .. }, _) => self.deliver(&Item::Entry {
                    offset: r.offset,
                    entry: *entry,
                }),
                (
                    RecBody::Unit {
                        unit, queue_offset, ..
                    },
                    _,
                ) => self.deliver(&Item::Unit {
                    offset: r.offset,
                    queue_offset: *queue_offset,
                    unit: *unit,
                }),
            },
            Event::Blank { offset, len, .. } => self.deliver(&Item::Blank { offset, len }),
            Event::Problem(p) => {
                if fails(p, self.verify) {
                    self.failed = Some(problem_error(p));
                }
            }
            Event::FileEnd(_) => {}
        }
    }
}

/// A streaming walk over the files of one log (see the module docs).
#[derive(Debug)]
pub struct Session {
    opts: Options,
    dec: Option<Decoder>,
    /// Problems of the summary already looked at.
    seen: usize,
    failed: Option<PluginError>,
}

impl Session {
    /// A session with nothing fed yet.
    pub fn new(opts: Options) -> Self {
        let format = opts.kind.map(|k| match k {
            Kind::CommitLog => Format::CommitLog,
            Kind::DLedger | Kind::DLedgerCommitLog => Format::DLedger,
        });
        Self {
            opts,
            dec: Some(Decoder::new(stream::Options {
                format,
                ..stream::Options::default()
            })),
            seen: 0,
            failed: None,
        }
    }

    /// Starts the next file (base offset `base`, `len` bytes).
    pub fn begin_file(&mut self, base: u64, len: u64) -> Result<(), PluginError> {
        if len == 0 {
            return self.fail(PluginError::EmptyInput { file: base });
        }
        let spec = FileSpec {
            base,
            size: len,
            queue: None,
        };
        self.run(&mut (), |d, _| d.begin_file(spec))
    }

    /// Feeds the next bytes of the current file; records go to `sink`.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn Sink) -> Result<(), PluginError> {
        self.run(sink, |d, a| d.push(chunk, a))
    }

    /// Ends the current file (records of a file shorter than the detection
    /// head come out here); a file cut inside a record fails.
    pub fn end_file(&mut self, sink: &mut dyn Sink) -> Result<(), PluginError> {
        self.run(sink, |d, a| d.end_file(a))
    }

    /// Ends the walk and returns what it saw.
    pub fn finish(&mut self) -> Result<Summary, PluginError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.dec.take() {
            Some(d) => Ok(d.finish()),
            None => Err(PluginError::InvalidCall {
                what: "finish called twice",
            }),
        }
    }

    /// The summary so far.
    pub fn summary(&self) -> Option<&Summary> {
        self.dec.as_ref().map(Decoder::summary)
    }

    fn fail<T>(&mut self, e: PluginError) -> Result<T, PluginError> {
        self.failed = Some(e.clone());
        Err(e)
    }

    /// Runs one decoder call through the adapter and applies the policy.
    fn run(
        &mut self,
        sink: &mut dyn Sink,
        f: impl FnOnce(&mut Decoder, &mut Adapter<'_>) -> Result<(), StreamError>,
    ) -> Result<(), PluginError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Some(dec) = self.dec.as_mut() else {
            return self.fail(PluginError::InvalidCall {
                what: "session already finished",
            });
        };
        let mut a = Adapter {
            sink,
            kind: self.opts.kind,
            verify: self.opts.verify,
            failed: None,
        };
        let r = f(dec, &mut a);
        let mut failure = a.failed.take();
        if let Err(e) = r {
            failure.get_or_insert_with(|| stream_error(e));
        }
        // Problems that were not sent as events (gaps between files).
        let problems = &dec.summary().problems;
        if failure.is_none()
            && let Some(p) = problems
                .get(self.seen..)
                .and_then(|new| new.iter().find(|p| fails(p, self.opts.verify)))
        {
            failure = Some(problem_error(p));
        }
        self.seen = problems.len();
        match failure {
            Some(e) => self.fail(e),
            None => Ok(()),
        }
    }
}

/// Decodes whole files (any order; walked in base-offset order) in one go.
pub fn decode_files(
    files: &[(u64, &[u8])],
    opts: Options,
    sink: &mut dyn Sink,
) -> Result<Summary, PluginError> {
    if files.is_empty() {
        return Err(PluginError::EmptyInput { file: 0 });
    }
    let mut order: Vec<&(u64, &[u8])> = files.iter().collect();
    order.sort_by_key(|f| f.0);
    let mut s = Session::new(opts);
    for (base, bytes) in order {
        s.begin_file(*base, bytes.len() as u64)?;
        s.feed(bytes, sink)?;
        s.end_file(sink)?;
    }
    s.finish()
}

/// The kind of the log whose first file starts with `head` (a few hundred
/// bytes are enough; the first DLedger entry's header and 8 body bytes decide
/// between plain DLedger and RocketMQ's DLedger commitlog).
pub fn detect(head: &[u8]) -> Result<Kind, PluginError> {
    if head.is_empty() {
        return Err(PluginError::EmptyInput { file: 0 });
    }
    match stream::detect(head.get(..stream::DETECT_LEN).unwrap_or(head)) {
        Detected::Format(Format::CommitLog) => Ok(Kind::CommitLog),
        Detected::Format(Format::DLedger) => {
            // The body of a RocketMQ entry starts with TOTALSIZE == bodyLength, then a message magic.
            let body_len = be::i32_at(head, 44);
            let at = dledger::HEADER_LEN;
            let carries = be::i32_at(head, 0).is_some_and(|m| m != dledger::BLANK_MAGIC)
                && be::i32_at(head, at).is_some_and(|t| Some(t) == body_len)
                && be::i32_at(head, at + 4)
                    .is_some_and(|m| m == message::MAGIC_V1 || m == message::MAGIC_V2);
            Ok(if carries {
                Kind::DLedgerCommitLog
            } else {
                Kind::DLedger
            })
        }
        Detected::Format(Format::ConsumeQueue) => Err(PluginError::Problem {
            file: Some(0),
            offset: 0,
            message: "a consume-queue file, not a CommitLog or DLedger data file".into(),
        }),
        Detected::Empty => Err(PluginError::Problem {
            file: Some(0),
            offset: 0,
            message: "only zero bytes (a preallocated, never-written file)".into(),
        }),
        Detected::Unknown => Err(PluginError::UnknownKind { file: 0, offset: 0 }),
    }
}
