//! The chunk-fed decoder: the same files fed whole and in arbitrary chunks
//! (including empty and one-byte chunks) must give the same events and the
//! same summary, and the decoder's buffer stays within its bound.

use core::fmt::Write;

use rocketlog_core::store::LogId;
use rocketlog_core::stream::{
    DETECT_LEN, Decoder, Event, FileSpec, Format, Options, RecBody, View, field_spans, render_json,
};

use super::input::{Input, Rng, StoreSpec};

/// What one run saw, rendered for comparison.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    events: Vec<String>,
    result: Result<rocketlog_core::stream::Summary, String>,
}

fn log_event(out: &mut Vec<String>, e: Event<'_>) {
    let mut s = String::new();
    match e {
        Event::Record(r) => {
            let _ = write!(
                s,
                "rec seq={} off={} file={} beyond={} raw={}:{:016x}",
                r.seq,
                r.offset,
                r.file,
                r.beyond_recovery,
                r.raw.len(),
                Rng::from_bytes(r.raw).next_u64()
            );
            // JSON (with hex bodies) is costly: render it for the first
            // records only; the raw bytes' hash covers the rest.
            if r.seq < 16 {
                for view in [View::Messages, View::Entries] {
                    let mut j = String::new();
                    if r.write_json(view, &mut j) {
                        s.push(' ');
                        s.push_str(&j);
                    }
                }
            }
            let _ = r.row();
            let _ = r.payload();
            let _ = r.message_offset();
            if r.seq < 16 {
                let format = match r.body {
                    RecBody::Message(_) => Format::CommitLog,
                    RecBody::Entry { .. } => Format::DLedger,
                    RecBody::Unit { .. } => Format::ConsumeQueue,
                };
                let _ = field_spans(format, r.raw, r.offset);
                let mut j = String::new();
                let _ = render_json(
                    format,
                    View::Entries,
                    r.raw,
                    r.offset,
                    Some(("T", 0)),
                    &mut j,
                );
            }
        }
        Event::Blank { file, offset, len } => {
            let _ = write!(s, "blank file={file} off={offset} len={len}");
        }
        Event::Problem(p) => {
            let _ = write!(s, "problem {p}");
        }
        Event::FileEnd(r) => {
            let _ = write!(s, "end {r:?}");
        }
    }
    out.push(s);
}

/// Feeds `files` through one decoder; `chunks` picks the chunk sizes.
fn run(files: &[(FileSpec, Vec<u8>)], opts: Options, mut chunks: Option<Rng>) -> Run {
    let bound = opts.max_record_len.max(DETECT_LEN as u64);
    let mut events = Vec::new();
    let mut dec = Decoder::new(opts);
    let mut sink = |e: Event<'_>| log_event(&mut events, e);
    let mut body = || -> Result<(), String> {
        for (spec, bytes) in files {
            dec.begin_file(spec.clone()).map_err(|e| e.to_string())?;
            let mut rest: &[u8] = bytes;
            match chunks.as_mut() {
                None => dec.push(rest, &mut sink).map_err(|e| e.to_string())?,
                Some(rng) => {
                    while !rest.is_empty() {
                        let n = match rng.below(4) {
                            0 => 0,
                            1 => 1,
                            2 => rng.below(64),
                            _ => rng.below(rest.len() as u64 + 1),
                        } as usize;
                        let (a, b) = rest.split_at(n.min(rest.len()));
                        dec.push(a, &mut sink).map_err(|e| e.to_string())?;
                        assert!(dec.buffered() as u64 <= bound, "carry exceeds its bound");
                        rest = b;
                    }
                }
            }
            dec.end_file(&mut sink).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let r = body();
    let result = r.map(|()| dec.finish());
    Run { events, result }
}

/// Picks one log out of the store (commitlog, DLedger data or one consume
/// queue, by the flags) as the file list, sorted by offset, and compares a
/// whole-file run with a chunked one. Knob 0x10 sets a small
/// `max_record_len` (4096), which must not make the output depend on the
/// chunking either; a file whose base + size passes `i64::MAX` must be
/// refused the same way in both runs.
pub fn stream_decode(data: &[u8]) {
    let mut inp = Input::new(data);
    let knobs = inp.u8();
    let spec = StoreSpec::parse(inp.rest());
    let want = match knobs & 3 {
        0 => LogId::CommitLog,
        1 => LogId::DLedgerData,
        _ => spec
            .segments
            .iter()
            .find(|s| matches!(s.log, LogId::ConsumeQueue { .. }))
            .map_or(LogId::CommitLog, |s| s.log.clone()),
    };
    let queue = match &want {
        LogId::ConsumeQueue { topic, queue_id } => Some((topic.clone(), *queue_id)),
        _ => None,
    };
    let mut files: Vec<(FileSpec, Vec<u8>)> = spec
        .segments
        .iter()
        .filter(|s| s.log == want)
        .map(|s| {
            (
                FileSpec {
                    base: s.id,
                    size: s.len,
                    queue: queue.clone(),
                },
                s.bytes(),
            )
        })
        .collect();
    files.sort_by_key(|(f, _)| f.base);
    files.dedup_by_key(|(f, _)| f.base);
    let opts = Options {
        format: match (knobs >> 2) & 3 {
            1 => Some(Format::CommitLog),
            2 => Some(Format::DLedger),
            3 => Some(Format::ConsumeQueue),
            _ => None,
        },
        max_record_len: if knobs & 0x10 != 0 {
            4096
        } else {
            Options::default().max_record_len
        },
        verify_crc: knobs & 0x20 == 0,
    };
    let whole = run(&files, opts, None);
    let rng = Rng::from_bytes(data);
    let chunked = run(&files, opts, Some(rng));
    if whole != chunked {
        let n = whole
            .events
            .iter()
            .zip(&chunked.events)
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| whole.events.len().min(chunked.events.len()));
        panic!(
            "chunking changes the output: first difference at event {n}:\n whole:   {:?}\n chunked: {:?}\n results equal: {}",
            whole.events.get(n),
            chunked.events.get(n),
            whole.result == chunked.result
        );
    }
}
