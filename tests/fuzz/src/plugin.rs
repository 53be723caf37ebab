//! The plugin session (`rocketlog_wasm::plugin::session`), natively: one to
//! three files cut from the input, fed whole and in arbitrary chunks.
//!
//! Invariants: no panic; an error is a value with an offset inside the input
//! files (`base ..= base + total`); the JSON lines, the result and the error
//! are the same whatever the chunking, and the same as `decode_files`.

use rocketlog_wasm::plugin::error::PluginError;
use rocketlog_wasm::plugin::jsonl::JsonSink;
use rocketlog_wasm::plugin::session::{Kind, Options, Session, Summary, decode_files};

use super::input::{Input, Rng};

/// One walk: the JSON lines and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    out: String,
    result: Result<Summary, PluginError>,
}

fn walk(files: &[(u64, &[u8])], opts: Options, mut chunks: Option<Rng>) -> Run {
    let mut sink = JsonSink::default();
    let mut s = Session::new(opts);
    let mut body = || -> Result<Summary, PluginError> {
        for (base, bytes) in files {
            s.begin_file(*base, bytes.len() as u64)?;
            let mut rest: &[u8] = bytes;
            match chunks.as_mut() {
                None => s.feed(rest, &mut sink)?,
                Some(rng) => {
                    while !rest.is_empty() {
                        let n = match rng.below(4) {
                            0 => 0,
                            1 => 1,
                            2 => rng.below(64),
                            _ => rng.below(rest.len() as u64 + 1),
                        } as usize;
                        let (a, b) = rest.split_at(n.min(rest.len()));
                        s.feed(a, &mut sink)?;
                        rest = b;
                    }
                }
            }
            s.end_file(&mut sink)?;
        }
        s.finish()
    };
    let result = body();
    Run {
        out: sink.out,
        result,
    }
}

/// Byte 0: bits 0-1 the kind (detect, commitlog, dledger,
/// dledger-commitlog), bit 2 verify, bits 3-4 the number of files - 1 (at
/// most 3); byte 1: the first base offset in KiB. The rest is cut into equal
/// files (the last takes the remainder), each starting where the one before
/// ends.
pub fn plugin_session(data: &[u8]) {
    let mut inp = Input::new(data);
    let knobs = inp.u8();
    let base0 = u64::from(inp.u8()) * 1024;
    let rest = inp.rest();
    let opts = Options {
        kind: match knobs & 3 {
            1 => Some(Kind::CommitLog),
            2 => Some(Kind::DLedger),
            3 => Some(Kind::DLedgerCommitLog),
            _ => None,
        },
        verify: knobs & 4 != 0,
    };
    let n = (usize::from((knobs >> 3) & 3) + 1).min(3);
    let each = rest.len() / n;
    let mut files: Vec<(u64, &[u8])> = Vec::with_capacity(n);
    let mut at = 0usize;
    for i in 0..n {
        let len = if i + 1 == n { rest.len() - at } else { each };
        files.push((base0 + at as u64, &rest[at..at + len]));
        at += len;
    }
    let end = base0 + rest.len() as u64;

    let whole = walk(&files, opts, None);
    if let Err(e) = &whole.result {
        let off = e.offset();
        assert!(
            off.is_some_and(|o| (base0..=end).contains(&o)),
            "error {e} ({}) has offset {off:?}, input is {base0}..{end}",
            e.code()
        );
        let file = e.file();
        assert!(
            file.is_none_or(|f| files.iter().any(|(b, _)| *b == f)),
            "error {e} names file {file:?}, files are {:?}",
            files.iter().map(|f| f.0).collect::<Vec<_>>()
        );
        let _ = e.to_string();
    }
    for line in whole.out.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON object line: {line}"
        );
    }
    let chunked = walk(&files, opts, Some(Rng::from_bytes(data)));
    assert_eq!(whole, chunked, "chunking changes the output");
    let mut sink = JsonSink::default();
    let all = decode_files(&files, opts, &mut sink);
    assert_eq!(
        (&whole.out, &whole.result),
        (&sink.out, &all),
        "decode_files differs from the session"
    );
}
