//! Replays the committed fuzz findings under `tests/fuzz-crashers/<target>/`
//! through the same harness code the cargo-fuzz targets run
//! (`tests/fuzz/src/`, included here by path), so every regression runs in the
//! normal `cargo test` on stable.
//!
//! Files named `open-*` are findings whose fix is not in yet: the per-target
//! replay skips them (give each its own `#[ignore]`d test naming the bug,
//! calling the harness directly, until it is fixed and renamed).
//!
//! The fixture stores themselves are also run through the store harnesses
//! (encoded the way `scripts/fuzz-smoke.sh` seeds the corpora): real
//! Java-written stores must pass every invariant the fuzzers check.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

fn crashers(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-crashers")
        .join(target)
}

fn harness_fn(target: &str) -> fn(&[u8]) {
    harness::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no harness named {target}"))
}

fn run_file(target: &str, path: &Path) {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("replaying {}", path.display());
    harness_fn(target)(&data);
}

/// Replays every crasher of `target` except the `open-*` ones; returns how many ran.
fn replay(target: &str) -> usize {
    let dir = crashers(target);
    let Ok(rd) = fs::read_dir(&dir) else {
        return 0;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with("open-") && !name.starts_with('.')
        })
        .collect();
    files.sort();
    for p in &files {
        run_file(target, p);
    }
    files.len()
}

#[test]
fn decode_message_crashers() {
    replay("decode_message");
}

#[test]
fn decode_dledger_crashers() {
    replay("decode_dledger");
}

#[test]
fn decode_small_crashers() {
    replay("decode_small");
}

#[test]
fn scan_store_crashers() {
    replay("scan_store");
}

#[test]
fn stream_decode_crashers() {
    replay("stream_decode");
}

#[test]
fn recover_engine_crashers() {
    replay("recover_engine");
}

#[test]
fn recover_dledger_crashers() {
    replay("recover_dledger");
}

#[test]
fn append_jsonl_crashers() {
    replay("append_jsonl");
}

#[test]
fn plugin_session_crashers() {
    replay("plugin_session");
}

// ---------------------------------------------------------------------------
// Fixed findings, by name (the per-target replays above cover them too; these
// fail loudly if a file is renamed or lost)
// ---------------------------------------------------------------------------

/// Findings that were once open, with the bug each one caught.
const FIXED: &[(&str, &str, &str)] = &[
    (
        "recover_engine",
        "cq-queue-offset-overflow",
        "a record with QUEUEOFFSET i64::MAX: `qo as u64 * 20` overflowed in ConsumeQueue::put",
    ),
    (
        "recover_engine",
        "cq-queue-offset-huge-gap",
        "queue offsets 0 then 2^40: the gap was filled with filler units without bound",
    ),
    (
        "recover_engine",
        "commitlog-file-near-u64-max",
        "a commitlog file named near u64::MAX passed the engine's layout check: id + position overflowed",
    ),
    (
        "recover_engine",
        "index-header-end-past-log",
        "an index header claiming endPhyOffset past the commitlog's end was kept: no later message was indexed",
    ),
    (
        "recover_dledger",
        "data-file-past-i64-max",
        "a DLedger data file named past i64::MAX loaded: the leader wrote an entry with a negative position",
    ),
    (
        "recover_dledger",
        "negative-current-term",
        "currTerm -1: the leader appended, flushed and committed an entry the reopen discarded",
    ),
    (
        "scan_store",
        "walk-overlapping-file",
        "a commitlog file named inside the previous one: the read-only walk went back in the log",
    ),
    (
        "scan_store",
        "dledger-data-file-past-i64-max",
        "a DLedger data file named near u64::MAX: the read-only scan's process offset overflowed",
    ),
    (
        "append_jsonl",
        "topic-with-nul",
        "a topic with NUL latched the store after its record was written (and `..`, `/` left consumequeue/)",
    ),
    (
        "stream_decode",
        "stream-record-limit-chunking",
        "max_record_len was applied only to records straddling two chunks",
    ),
    (
        "stream_decode",
        "stream-base-overflow",
        "a file named near u64::MAX: base + size overflowed in Decoder::end_file",
    ),
];

#[test]
fn fixed_findings_replay_cleanly() {
    for (target, name, bug) in FIXED {
        let path = crashers(target).join(name);
        assert!(path.is_file(), "{} is missing ({bug})", path.display());
        run_file(target, &path);
    }
}

/// The RocketMQ scan skips (and reports) a file that would end past
/// `i64::MAX`, so its later `id + position` sums cannot overflow.
#[test]
fn scan_skips_files_ending_past_the_largest_offset() {
    use rocketlog_core::mem::MemStore;
    use rocketlog_core::scan::rocketmq::load_files;
    use rocketlog_core::store::LogId;

    let store = MemStore::new();
    let top = i64::MAX as u64;
    let hostile = [u64::MAX - 10, top - 99, top];
    for id in [0, top - 100].into_iter().chain(hostile) {
        store.insert_segment(LogId::CommitLog, id, vec![0; 100]);
    }
    let mut problems = Vec::new();
    let (files, _) = load_files(&store, &LogId::CommitLog, Some(100), &mut problems).unwrap();
    let kept: Vec<u64> = files.iter().map(|f| f.id).collect();
    assert_eq!(kept, [0, top - 100]);
    let mut skipped: Vec<u64> = problems
        .iter()
        .filter(|p| p.to_string().contains("past the largest offset"))
        .map(|p| p.offset)
        .collect();
    skipped.sort();
    let mut want = hostile.to_vec();
    want.sort();
    assert_eq!(skipped, want, "{problems:?}");
}

// ---------------------------------------------------------------------------
// The fixtures through the store harnesses
// ---------------------------------------------------------------------------

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `(start offset, path)` of the 20-digit-named files in `dir`, in order.
fn numbered(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n: u64 = e.file_name().to_str()?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// One segment item of the store encoding (`tests/fuzz/src/input.rs`).
fn seg(out: &mut Vec<u8>, tag: u8, queue: Option<u8>, id: u64, data: &[u8]) {
    out.push(tag);
    out.extend(queue);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.push(255);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

fn meta(out: &mut Vec<u8>, tag: u8, data: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// Encodes a fixture store directory (after the flags byte).
fn encode_store(store: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let read = |p: &Path| fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for (id, p) in numbered(&store.join("commitlog")) {
        seg(&mut out, 0, None, id, &read(&p));
    }
    let cq = store.join("consumequeue");
    for (t, topic) in harness::input::TOPICS.iter().enumerate() {
        for qid in 0u8..8 {
            for (id, p) in numbered(&cq.join(topic).join(qid.to_string())) {
                seg(&mut out, 1, Some(t as u8 | (qid << 2)), id, &read(&p));
            }
        }
    }
    for (id, p) in numbered(&store.join("index")) {
        seg(&mut out, 2, None, id, &read(&p));
    }
    let dl = store.join("dledger-n0");
    for (id, p) in numbered(&dl.join("data")) {
        seg(&mut out, 3, None, id, &read(&p));
    }
    for (id, p) in numbered(&dl.join("index")) {
        seg(&mut out, 4, None, id, &read(&p));
    }
    for (name, tag) in [("checkpoint", 8), ("currterm", 9)] {
        if let Ok(b) = fs::read(dl.join(name)) {
            meta(&mut out, tag, &b);
        }
    }
    if let Ok(b) = fs::read(store.join("checkpoint")) {
        meta(&mut out, 6, &b);
    }
    out
}

fn fixture_stores() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = ["rocketmq", "dledger", "rocketmq-dledger"]
        .iter()
        .filter_map(|kind| fs::read_dir(fixtures().join(kind)).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("store"))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn fixture_stores_pass_the_store_harnesses() {
    let stores = fixture_stores();
    assert!(
        stores.len() >= 4,
        "expected the fixture stores, found {stores:?}"
    );
    for store in stores {
        let enc = encode_store(&store);
        // The encoding round-trips to the same files.
        let spec = harness::input::StoreSpec::parse(&[&[0u8][..], &enc].concat());
        let on_disk: usize = spec.segments.len();
        assert!(on_disk > 0, "{}: no segments parsed", store.display());
        for s in &spec.segments {
            assert_eq!(
                s.head.len() as u64,
                s.len,
                "{}: segment {}",
                store.display(),
                s.id
            );
        }
        eprintln!("{}: {} segments", store.display(), on_disk);
        for flags in [0x00u8, 0x01, 0x02, 0x14, 0x28, 0x80] {
            let input = [&[flags][..], &enc].concat();
            harness::scan_store(&input);
            harness::recover_engine(&input);
            harness::recover_dledger(&input);
        }
        for knobs in [0x00u8, 0x01, 0x02, 0x21] {
            harness::stream_decode(&[&[knobs, 0][..], &enc].concat());
        }
    }
}

/// The fixtures' Java-read dumps through `append_jsonl`, and their first log
/// files through `plugin_session` (the smoke script's seeds).
#[test]
fn fixtures_pass_the_append_and_plugin_harnesses() {
    let mut ran = 0;
    for store in fixture_stores() {
        let Some(dir) = store.parent() else { continue };
        let kind_dir = dir.parent().and_then(Path::file_name);
        let kind = match kind_dir.and_then(|n| n.to_str()) {
            Some("dledger") => 1u8,
            Some("rocketmq-dledger") => 2,
            _ => 0,
        };
        if let Ok(exp) = fs::read(dir.join("expected.jsonl")) {
            let lines: Vec<&[u8]> = exp.split_inclusive(|b| *b == b'\n').take(4).collect();
            let stdin: Vec<u8> = lines.concat().into_iter().take(3072).collect();
            harness::append_jsonl(&[&[kind][..], &stdin].concat());
            ran += 1;
        }
        for log in [
            store.join("commitlog"),
            store.join("dledger-n0").join("data"),
        ] {
            if let Some((_, p)) = numbered(&log).first() {
                let b = fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let end = b.iter().rposition(|x| *x != 0).map_or(0, |i| i + 1);
                for knobs in [0u8, 0x04, 0x08] {
                    harness::plugin_session(&[&[knobs, 0][..], &b[..end.min(6144)]].concat());
                }
                ran += 1;
            }
        }
    }
    assert!(ran >= 8, "too few fixture inputs: {ran}");
}
