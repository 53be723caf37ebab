//! `rocketlog append`: arbitrary bytes as its JSON-lines stdin, through the
//! public CLI entry point (`rocketlog::cli::run_with_stdin`) on a fresh store
//! with tiny file sizes (so rolls happen within a few KB of input).
//!
//! Invariants: no panic; the exit code is 0 or 2; on 2 the error names a
//! stdin line (or, when the disk is full, the file it could not write);
//! every record acknowledged on stdout reads back from the store with
//! `rocketlog dump --format jsonl` (an error line included: what was
//! acknowledged is durable; after a full disk, what was acknowledged as
//! durable).

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::input::Input;

/// Input bytes past this are dropped: keeps every run fast.
const MAX_INPUT: usize = 4096;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("rocketlog-fuzz-append-{}-{n}", std::process::id()));
        // A leftover of an earlier, killed run with the same pid.
        let _ = fs::remove_dir_all(&p);
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The number after the first `"key":` of `line`, if any. Lines written by
/// rocketlog: a key inside a string value has its quotes escaped, so the
/// first unescaped `"key":` is the object's own field.
fn num_field(line: &str, key: &str) -> Option<i64> {
    let pat = format!("\"{key}\":");
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    let end = rest
        .find(|c: char| c != '-' && !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut input = stdin;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = rocketlog::cli::run_with_stdin(args.iter().copied(), &mut input, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// First byte: bits 0-1 the store kind (rocketmq, dledger,
/// rocketmq-dledger), bit 2 `--flush sync`; the rest (at most 4 KB) is stdin.
pub fn append_jsonl(data: &[u8]) {
    let mut inp = Input::new(data);
    let knobs = inp.u8();
    let stdin = &inp.rest()[..inp.rest().len().min(MAX_INPUT)];
    let kind = match knobs & 3 {
        1 => "dledger",
        2 => "rocketmq-dledger",
        _ => "rocketmq",
    };
    let flush = if knobs & 4 != 0 { "sync" } else { "async" };
    let dir = TempDir::new();
    let store = dir.0.join("store");
    let Some(store_s) = store.to_str() else {
        return;
    };
    let args = [
        "rocketlog",
        "append",
        store_s,
        "--create",
        "--kind",
        kind,
        "--flush",
        flush,
        "--commitlog-file-size",
        "2048",
        "--consume-queue-file-size",
        "200",
        "--max-hash-slot-num",
        "4",
        "--max-index-num",
        "16",
        "--data-file-size",
        "2048",
        "--index-file-size",
        "320",
    ];
    let (code, out, err) = run(&args, stdin);
    assert!(
        code == 0 || code == 2,
        "exit code {code}; stderr: {err}; stdout: {out}"
    );
    // A full disk (ENOSPC, EDQUOT) is the machine's state, not the input's:
    // the error must still name the file it hit, and what was acknowledged
    // as durable before it must still read back (checked below).
    let full = code == 2 && (err.contains("(os error 28)") || err.contains("(os error 122)"));
    if code == 2 {
        assert!(
            err.contains("line ") || (full && err.contains(store_s)),
            "exit 2 without a line number: {err}"
        );
    } else {
        assert!(err.is_empty(), "exit 0 with stderr: {err}");
    }
    // Acknowledged records, by the field that names them in a dump.
    let key = if kind == "dledger" {
        "index"
    } else {
        "physicalOffset"
    };
    let mut acked = BTreeSet::new();
    for line in out.lines() {
        assert!(line.starts_with("{\"line\":"), "not an ack: {line}");
        let n = num_field(line, "line");
        assert!(n.is_some_and(|n| n >= 1), "ack without a line: {line}");
        let v = num_field(line, key);
        assert!(v.is_some(), "ack without {key}: {line}");
        // `"durable":false` (async) promises nothing once the final flush
        // failed: in the DLedger kinds such a record may stay uncommitted.
        if full && !line.ends_with("\"durable\":true}") {
            continue;
        }
        acked.extend(v);
    }
    if acked.is_empty() {
        return;
    }
    let (dcode, dout, derr) = run(&["rocketlog", "dump", store_s, "--format", "jsonl"], b"");
    assert_eq!(dcode, 0, "dump after append failed: {derr}");
    let dumped: BTreeSet<i64> = dout.lines().filter_map(|l| num_field(l, key)).collect();
    let lost: Vec<&i64> = acked.difference(&dumped).collect();
    assert!(
        lost.is_empty(),
        "acknowledged {key}s missing from the dump: {lost:?}\n acks: {out}\n dump: {dout}"
    );
}
