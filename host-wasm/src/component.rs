//! The WebAssembly component face of the plugin (`wit/plugin.wit`, world
//! `plugin`): the same [`crate::plugin::session`] as the core module, with
//! typed records and errors instead of JSON.

use std::cell::RefCell;
use std::string::{String, ToString};
use std::vec::Vec;

use rocketlog_core::DecodeErrorKind;
use rocketlog_core::codec::properties;
use rocketlog_core::layout;
use rocketlog_core::scan::Severity as CoreSeverity;
use rocketlog_core::stream;

use crate::plugin::error::PluginError;
use crate::plugin::jsonl::JsonSink;
use crate::plugin::session::{self, Item, Kind, Options, Session, Sink};

wit_bindgen::generate!({ world: "plugin", path: "wit" });

use exports::rocketlog::plugin::decoder::{Guest, GuestSession};
use rocketlog::plugin::types::{
    BadValue, Blank, CqUnit, DecodeError, Entry, EntryHeader, EntryMessage, File, Gap, Location,
    LogRecord, Message, Mismatch, Other, OutOfRange, Problem, Severity, StoreKind, Summary,
    Truncation,
};

struct Plugin;

fn kind_of(k: StoreKind) -> Kind {
    match k {
        StoreKind::Commitlog => Kind::CommitLog,
        StoreKind::Dledger => Kind::DLedger,
        StoreKind::DledgerCommitlog => Kind::DLedgerCommitLog,
    }
}

fn store_kind(k: Kind) -> StoreKind {
    match k {
        Kind::CommitLog => StoreKind::Commitlog,
        Kind::DLedger => StoreKind::Dledger,
        Kind::DLedgerCommitLog => StoreKind::DledgerCommitlog,
    }
}

fn wit_error(e: &PluginError) -> DecodeError {
    let at = |file: u64, offset: u64| Location { file, offset };
    match e {
        PluginError::EmptyInput { file } => DecodeError::EmptyInput(*file),
        PluginError::BadFileName { name } => DecodeError::BadFileName(name.clone()),
        PluginError::NotContiguous { expected, found } => DecodeError::NotContiguous(Gap {
            expected: *expected,
            found: *found,
        }),
        PluginError::UnknownKind { file, offset } => DecodeError::UnknownKind(at(*file, *offset)),
        PluginError::Decode { file, error } => {
            let loc = at(*file, error.offset);
            match &error.kind {
                DecodeErrorKind::Truncated { needed } => DecodeError::Truncated(Truncation {
                    at: loc,
                    needed: *needed,
                }),
                DecodeErrorKind::BadMagic { found } => DecodeError::BadMagic(BadValue {
                    at: loc,
                    field: "magic".into(),
                    value: (*found).into(),
                }),
                DecodeErrorKind::SizeOutOfRange {
                    field,
                    value,
                    min,
                    max,
                } => DecodeError::SizeOutOfRange(OutOfRange {
                    at: loc,
                    field: (*field).into(),
                    value: *value,
                    min: *min,
                    max: *max,
                }),
                DecodeErrorKind::LengthMismatch { stored, computed } => {
                    DecodeError::LengthMismatch(Mismatch {
                        at: loc,
                        field: "size".into(),
                        stored: *stored,
                        computed: *computed,
                    })
                }
                DecodeErrorKind::CrcMismatch {
                    field,
                    stored,
                    computed,
                } => DecodeError::CrcMismatch(Mismatch {
                    at: loc,
                    field: (*field).into(),
                    stored: *stored,
                    computed: *computed,
                }),
                DecodeErrorKind::OffsetMismatch {
                    field,
                    stored,
                    actual,
                } => DecodeError::OffsetMismatch(Mismatch {
                    at: loc,
                    field: (*field).into(),
                    stored: *stored,
                    computed: *actual,
                }),
                DecodeErrorKind::BadField { field, value } => DecodeError::BadField(BadValue {
                    at: loc,
                    field: (*field).into(),
                    value: *value,
                }),
                _ => DecodeError::Other(Other {
                    at: Some(loc),
                    message: e.to_string(),
                }),
            }
        }
        PluginError::Problem { file, offset, .. } => DecodeError::Other(Other {
            at: Some(at(file.unwrap_or(0), *offset)),
            message: e.to_string(),
        }),
        PluginError::OutOfMemory { requested } => DecodeError::OutOfMemory(*requested),
        PluginError::InvalidCall { what } => DecodeError::InvalidCall((*what).into()),
    }
}

fn describe(e: &DecodeError) -> String {
    let place = |l: &Location| format!("file {} at offset {}", layout::file_name(l.file), l.offset);
    match e {
        DecodeError::EmptyInput(f) => format!("file {} is empty", layout::file_name(*f)),
        DecodeError::BadFileName(n) => format!("file name {n:?} is not a 20-digit base offset"),
        DecodeError::NotContiguous(g) => format!(
            "files are not in order: the next file had to start at or after {}, got {}",
            g.expected, g.found
        ),
        DecodeError::UnknownKind(l) => {
            format!("{}: neither a CommitLog nor a DLedger record", place(l))
        }
        DecodeError::Truncated(t) => {
            format!("{}: truncated, needs {} more bytes", place(&t.at), t.needed)
        }
        DecodeError::BadMagic(v) => format!("{}: bad magic code {}", place(&v.at), v.value),
        DecodeError::SizeOutOfRange(r) => format!(
            "{}: {} {} out of range [{}, {}]",
            place(&r.at),
            r.field,
            r.value,
            r.min,
            r.max
        ),
        DecodeError::LengthMismatch(m) => format!(
            "{}: stored size {} but fields add up to {}",
            place(&m.at),
            m.stored,
            m.computed
        ),
        DecodeError::CrcMismatch(m) => format!(
            "{}: {} mismatch: stored {}, computed {}",
            place(&m.at),
            m.field,
            m.stored,
            m.computed
        ),
        DecodeError::OffsetMismatch(m) => format!(
            "{}: {} {} differs from actual position {}",
            place(&m.at),
            m.field,
            m.stored,
            m.computed
        ),
        DecodeError::BadField(v) => {
            format!("{}: invalid {} {}", place(&v.at), v.field, v.value)
        }
        DecodeError::Other(o) => o.message.clone(),
        DecodeError::OutOfMemory(n) => format!("out of memory (could not allocate {n} bytes)"),
        DecodeError::InvalidCall(w) => format!("invalid call: {w}"),
    }
}

fn message(m: &rocketlog_core::codec::message::MessageView<'_>, offset: u64) -> Message {
    Message {
        physical_offset: offset,
        total_size: m.total_size,
        magic: m.magic,
        body_crc: m.body_crc,
        queue_id: m.queue_id,
        flag: m.flag,
        queue_offset: m.queue_offset,
        physical_offset_field: m.physical_offset,
        sys_flag: m.sys_flag.0,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host.to_string(),
        store_timestamp: m.store_timestamp,
        store_host: m.store_host.to_string(),
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        body: m.body.to_vec(),
        topic: m.topic_str().into_owned(),
        properties: properties::to_sorted_map(m.properties),
        properties_string: properties::lossy(m.properties),
        msg_id: m.msg_id(),
        tags_code: m.tags_code(),
    }
}

/// Collects typed records.
#[derive(Default)]
struct Records(Vec<LogRecord>);

impl Sink for Records {
    fn item(&mut self, item: &Item<'_>) -> Result<(), PluginError> {
        self.0
            .try_reserve(1)
            .map_err(|_| PluginError::OutOfMemory {
                requested: size_of::<LogRecord>() as u64,
            })?;
        let r = match item {
            Item::Message {
                offset,
                message: m,
                entry: None,
            } => LogRecord::Message(message(m, *offset)),
            Item::Message {
                offset,
                message: m,
                entry: Some(e),
            } => LogRecord::EntryMessage(EntryMessage {
                entry: EntryHeader {
                    index: e.index,
                    term: e.term,
                    pos: e.pos,
                    size: e.size,
                },
                message: message(m, *offset),
            }),
            Item::Entry { entry: e, .. } => LogRecord::Entry(Entry {
                index: e.index,
                term: e.term,
                pos: e.pos,
                size: e.size,
                magic: e.magic,
                channel: e.channel,
                chain_crc: e.chain_crc,
                body_crc: e.body_crc,
                body_length: e.body_len,
                body: e.body.to_vec(),
            }),
            Item::Blank { offset, len } => LogRecord::Blank(Blank {
                offset: *offset,
                length: *len,
            }),
            Item::Unit {
                offset,
                queue_offset,
                unit,
            } => LogRecord::Unit(CqUnit {
                offset: *offset,
                queue_offset: *queue_offset,
                physical_offset: unit.physical_offset,
                size: unit.size,
                tags_code: unit.tags_code,
            }),
        };
        self.0.push(r);
        Ok(())
    }
}

fn summary(s: &stream::Summary) -> Summary {
    Summary {
        kind: s.kind_name().into(),
        files: s.files,
        bytes: s.bytes,
        records: s.records,
        messages: s.messages,
        entries: s.entries,
        blanks: s.blanks,
        first_offset: s.first_offset,
        end_offset: s.end_offset,
        recovery_end: s.recovery_end,
        min_index: s.min_index,
        max_index: s.max_index,
        problems: s
            .problems
            .iter()
            .map(|p| Problem {
                severity: match p.severity {
                    CoreSeverity::Notice => Severity::Notice,
                    CoreSeverity::Warning => Severity::Warning,
                    CoreSeverity::Error => Severity::Error,
                },
                code: stream::problem_kind_name(p).into(),
                offset: p.offset,
                message: p.to_string(),
            })
            .collect(),
        json: s.to_json(),
    }
}

fn options(kind: Option<StoreKind>, verify: bool) -> Options {
    Options {
        kind: kind.map(kind_of),
        verify,
    }
}

fn run(files: &[File], opts: Options, sink: &mut dyn Sink) -> Result<stream::Summary, DecodeError> {
    let list: Vec<(u64, &[u8])> = files
        .iter()
        .map(|f| (f.base_offset, f.data.as_slice()))
        .collect();
    session::decode_files(&list, opts, sink).map_err(|e| wit_error(&e))
}

impl Guest for Plugin {
    type Session = SessionRes;

    fn detect(head: Vec<u8>) -> Result<StoreKind, DecodeError> {
        session::detect(&head)
            .map(store_kind)
            .map_err(|e| wit_error(&e))
    }

    fn parse_file_name(name: String) -> Result<u64, DecodeError> {
        layout::parse_file_name(&name).ok_or(DecodeError::BadFileName(name))
    }

    fn decode(files: Vec<File>, kind: Option<StoreKind>) -> Result<Vec<LogRecord>, DecodeError> {
        let mut sink = Records::default();
        run(&files, options(kind, false), &mut sink)?;
        Ok(sink.0)
    }

    fn decode_jsonl(files: Vec<File>, kind: Option<StoreKind>) -> Result<String, DecodeError> {
        let mut sink = JsonSink::default();
        run(&files, options(kind, false), &mut sink)?;
        Ok(sink.out)
    }

    fn verify(files: Vec<File>, kind: Option<StoreKind>) -> Result<Summary, DecodeError> {
        run(&files, options(kind, true), &mut ()).map(|s| summary(&s))
    }

    fn summarize(files: Vec<File>, kind: Option<StoreKind>) -> Result<Summary, DecodeError> {
        run(&files, options(kind, false), &mut ()).map(|s| summary(&s))
    }

    fn describe_error(error: DecodeError) -> String {
        describe(&error)
    }
}

/// A streaming session resource.
pub struct SessionRes(RefCell<Session>);

impl SessionRes {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<T, PluginError>,
    ) -> Result<T, DecodeError> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => f(&mut s).map_err(|e| wit_error(&e)),
            Err(_) => Err(DecodeError::InvalidCall("session busy".into())),
        }
    }
}

impl GuestSession for SessionRes {
    fn new(kind: Option<StoreKind>, verify: bool) -> Self {
        Self(RefCell::new(Session::new(options(kind, verify))))
    }

    fn begin_file(&self, base_offset: u64, length: u64) -> Result<(), DecodeError> {
        self.with(|s| s.begin_file(base_offset, length))
    }

    fn feed(&self, chunk: Vec<u8>) -> Result<Vec<LogRecord>, DecodeError> {
        let mut sink = Records::default();
        self.with(|s| s.feed(&chunk, &mut sink))?;
        Ok(sink.0)
    }

    fn feed_jsonl(&self, chunk: Vec<u8>) -> Result<String, DecodeError> {
        let mut sink = JsonSink::default();
        self.with(|s| s.feed(&chunk, &mut sink))?;
        Ok(sink.out)
    }

    fn end_file(&self) -> Result<Vec<LogRecord>, DecodeError> {
        let mut sink = Records::default();
        self.with(|s| s.end_file(&mut sink))?;
        Ok(sink.0)
    }

    fn end_file_jsonl(&self) -> Result<String, DecodeError> {
        let mut sink = JsonSink::default();
        self.with(|s| s.end_file(&mut sink))?;
        Ok(sink.out)
    }

    fn finish(&self) -> Result<Summary, DecodeError> {
        self.with(|s| s.finish()).map(|s| summary(&s))
    }
}

export!(Plugin);
