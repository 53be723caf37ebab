//! DLedger store readers against the Java-written fixtures (entries, recovery
//! facts and DLedger-mode messages read back by the real Java code), then
//! against corrupted copies whose Java outcome the spec documents (§5.4, §9).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rocketlog_core::codec::dledger::{self as dl, Line};
use rocketlog_core::json;
use rocketlog_core::mem::MemStore;
use rocketlog_core::scan::Severity;
use rocketlog_core::scan::detect::{self, DetectError, StoreKind};
use rocketlog_core::scan::dledger::{
    self as sd, Blank, Item, LineSource, MessageItem, Options, Recovered, StopReason, VerifyOptions,
};
use rocketlog_core::store::{LogId, MetaFile, PageRead, PageStore};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).to_path_buf()
}

fn load_dir(store: &MemStore, log: LogId, dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let id = rocketlog_core::layout::parse_file_name(&name).expect("20-digit name");
        store.insert_segment(log.clone(), id, std::fs::read(e.path()).unwrap());
    }
}

/// A fixture's DLedger directory (`.../store/dledger-n0`) loaded into memory.
fn load(fixture: &str) -> MemStore {
    let dir = fixtures().join(fixture).join("store/dledger-n0");
    let s = MemStore::new();
    load_dir(&s, LogId::DLedgerData, &dir.join("data"));
    load_dir(&s, LogId::DLedgerIndex, &dir.join("index"));
    for (meta, name) in [
        (MetaFile::DLedgerCheckpoint, "checkpoint"),
        (MetaFile::CurrTerm, "currterm"),
    ] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            s.insert_meta(meta, b);
        }
    }
    s
}

fn jsonl(fixture: &str, file: &str) -> Vec<Value> {
    std::fs::read_to_string(fixtures().join(fixture).join(file))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn meta(fixture: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(fixture).join("expected_meta.json")).unwrap(),
    )
    .unwrap()
}

/// Everything a walk yields, rendered.
#[derive(Debug, Default)]
struct Walked {
    entries: Vec<Value>,
    positions: Vec<u64>,
    blanks: Vec<Blank>,
    problems: Vec<String>,
}

fn walk(s: &impl PageRead, rec: &Recovered) -> Walked {
    let mut w = Walked::default();
    sd::walk(s, rec, |item| {
        match item {
            Item::Entry { pos, entry } => {
                let mut o = String::new();
                json::push_entry(&mut o, &entry);
                w.entries.push(serde_json::from_str(&o).unwrap());
                w.positions.push(pos);
            }
            Item::Blank(b) => w.blanks.push(b),
            Item::Problem(p) => w.problems.push(p.to_string()),
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    w
}

fn assert_same_objects(got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_object().unwrap(), w.as_object().unwrap());
        for (k, v) in w {
            assert_eq!(g.get(k), Some(v), "record {i}, field {k}");
        }
        assert_eq!(g.len(), w.len(), "record {i}: field set");
    }
}

fn problems(s: &impl PageRead, rec: &Recovered, opts: VerifyOptions) -> Vec<(Severity, String)> {
    let mut out = Vec::new();
    sd::verify(s, rec, &opts, |p| out.push((p.severity, p.to_string()))).unwrap();
    out
}

fn i64_of(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        v => v.as_i64().unwrap(),
    }
}

/// The `expected_meta.json` facts of a DLedger store.
fn assert_meta(rec: &Recovered, w: &Walked, m: &Value) {
    assert_eq!(rec.begin_index, i64_of(&m["ledgerBeginIndex"]));
    assert_eq!(rec.end_index, i64_of(&m["ledgerEndIndex"]));
    assert_eq!(rec.end_term, i64_of(&m["ledgerEndTerm"]));
    assert_eq!(
        rec.committed_index,
        i64_of(&m["committedIndexAfterRecovery"])
    );
    if let Some(p) = m.get("committedPosAfterRecovery") {
        assert_eq!(rec.committed_pos, i64_of(p));
    }
    assert_eq!(rec.data_write_pos as i64, i64_of(&m["dataWritePos"]));
    assert_eq!(rec.index_write_pos as i64, i64_of(&m["indexWritePos"]));
    assert_eq!(
        rec.geometry.data_file_size as i64,
        i64_of(&m["dataFileSize"])
    );
    assert_eq!(
        rec.geometry.index_file_size as i64,
        i64_of(&m["indexFileSize"])
    );
    let names = |v: &Value| -> Vec<(String, i64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap().to_owned(), i64_of(&f["size"])))
            .collect()
    };
    let ours = |fs: &[rocketlog_core::store::SegmentInfo]| -> Vec<(String, i64)> {
        fs.iter()
            .map(|f| (rocketlog_core::layout::file_name(f.id), f.len as i64))
            .collect()
    };
    assert_eq!(ours(&rec.data_files), names(&m["dataFiles"]));
    assert_eq!(ours(&rec.index_files), names(&m["indexFiles"]));
    let blanks: Vec<(i64, i64, i64)> = m["endOfFileBlanks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(i64_of(&b["magic"]), -1);
            (
                i64_of(&b["pos"]),
                i64_of(&b["size"]),
                i64_of(&b["nextEntryPos"]),
            )
        })
        .collect();
    let got: Vec<(i64, i64, i64)> = w
        .blanks
        .iter()
        .map(|b| (b.pos as i64, i64::from(b.size), b.next_entry_pos as i64))
        .collect();
    assert_eq!(got, blanks);
    let ct = rec.curr_term.as_ref().expect("currterm");
    assert_eq!(ct.term, i64_of(&m["currTerm"]));
    assert_eq!(ct.vote_for.as_deref(), m["currVoteFor"].as_str());
    let props = &m["propertyFiles"];
    match (props.get("checkpoint"), rec.checkpoint) {
        (Some(c), Some(ours)) => {
            assert_eq!(ours.committed_index, i64_of(&c["committedIndex"]));
            assert_eq!(ours.end_index, i64_of(&c["endIndex"]));
        }
        (None, None) => {}
        (c, o) => panic!("checkpoint: fixture {c:?}, ours {o:?}"),
    }
}

fn recover(s: &MemStore) -> Recovered {
    sd::recover(s, &Options::default()).unwrap()
}

// ---------------------------------------------------------------------------
// The fixtures, as Java read them back
// ---------------------------------------------------------------------------

#[test]
fn classic_basic_matches_java() {
    let s = load("dledger/basic");
    let rec = recover(&s);
    assert_eq!(
        (rec.line, rec.line_source),
        (Line::Classic, LineSource::Default)
    );
    assert_eq!(rec.index_rebuild, None);
    assert_eq!(rec.stop.reason, StopReason::ZeroSize);
    assert_eq!(rec.stop.offset, rec.data_write_pos);
    assert!(rec.problems.is_empty(), "{:?}", rec.problems);
    let w = walk(&s, &rec);
    assert!(w.problems.is_empty(), "{:?}", w.problems);
    assert_same_objects(&w.entries, &jsonl("dledger/basic", "expected.jsonl"));
    for (e, p) in w.entries.iter().zip(&w.positions) {
        assert_eq!(e["pos"].as_u64(), Some(*p));
    }
    assert_meta(&rec, &w, &meta("dledger/basic"));
    assert!(problems(&s, &rec, VerifyOptions::default()).is_empty());
}

#[test]
fn master_basic_matches_java() {
    let s = load("dledger/master-basic");
    let rec = recover(&s);
    // Same bytes as the classic store; only the missing checkpoint tells.
    assert_eq!(
        (rec.line, rec.line_source),
        (Line::Master, LineSource::NoCheckpoint)
    );
    let w = walk(&s, &rec);
    assert_same_objects(&w.entries, &jsonl("dledger/master-basic", "expected.jsonl"));
    assert_meta(&rec, &w, &meta("dledger/master-basic"));
    assert_eq!(rec.committed_pos, -1);
    assert!(problems(&s, &rec, VerifyOptions::default()).is_empty());
}

#[test]
fn rocketmq_dledger_entries_and_messages_match_java() {
    let s = load("rocketmq-dledger/basic");
    let rec = recover(&s);
    assert_eq!(
        (rec.line, rec.line_source),
        (Line::Classic, LineSource::RocketMqBodies)
    );
    let w = walk(&s, &rec);
    assert_same_objects(
        &w.entries,
        &jsonl("rocketmq-dledger/basic", "expected_dledger.jsonl"),
    );
    let m = meta("rocketmq-dledger/basic");
    assert_meta(&rec, &w, &m["dledger"]);

    let mut msgs = Vec::new();
    let mut blanks = Vec::new();
    let end = sd::walk_messages(&s, &rec, |item| {
        match item {
            MessageItem::Message { offset, message } => {
                assert_eq!(message.physical_offset as u64, offset);
                let mut o = String::new();
                json::push_message(&mut o, &message, offset);
                msgs.push(serde_json::from_str::<Value>(&o).unwrap());
            }
            MessageItem::Blank(b) => {
                blanks.push((b.pos as i64, i64::from(b.size), b.next_entry_pos as i64))
            }
            MessageItem::Problem(p) => panic!("{p}"),
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_same_objects(&msgs, &jsonl("rocketmq-dledger/basic", "expected.jsonl"));
    assert_eq!(
        end.max_offset as i64,
        i64_of(&m["commitLogMaxOffsetAfterRecovery"])
    );
    assert_eq!(end.end, end.max_offset);
    assert_eq!(end.messages as i64, i64_of(&m["messageCount"]));
    let want: Vec<(i64, i64, i64)> = m["endOfFileBlanks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["kind"], "dledger");
            (
                i64_of(&b["physicalOffset"]),
                i64_of(&b["size"]),
                i64_of(&b["nextOffset"]),
            )
        })
        .collect();
    assert_eq!(blanks, want);
    // Message start = entry pos + 48, for every entry.
    for (msg, e) in msgs.iter().zip(&w.entries) {
        assert_eq!(
            msg["physicalOffset"].as_i64().unwrap(),
            e["pos"].as_i64().unwrap() + 48
        );
    }
    let p = problems(&s, &rec, VerifyOptions { messages: true });
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn get_reads_every_entry() {
    let s = load("dledger/basic");
    let rec = recover(&s);
    let want = jsonl("dledger/basic", "expected.jsonl");
    for i in [37, 0, 17, 18, 9, 36] {
        let got = sd::get(&s, &rec, i, |pos, e| {
            let mut o = String::new();
            json::push_entry(&mut o, &e);
            (pos, serde_json::from_str::<Value>(&o).unwrap())
        })
        .unwrap();
        assert_eq!(got.1, want[i as usize]);
        assert_eq!(Some(got.0), want[i as usize]["pos"].as_u64());
    }
    assert!(matches!(
        sd::get(&s, &rec, 38, |_, _| ()),
        Err(sd::GetError::OutOfRange { .. })
    ));
    assert!(matches!(
        sd::get(&s, &rec, -1, |_, _| ()),
        Err(sd::GetError::OutOfRange { .. })
    ));
}

#[test]
fn detect_kinds_and_sizes() {
    let d = detect::detect(&load("dledger/basic")).unwrap();
    assert_eq!(d.kind, StoreKind::DLedger);
    assert_eq!((d.file_size, d.index_file_size), (65536, Some(512)));
    assert_eq!(d.data_log, LogId::DLedgerData);
    let d = detect::detect(&load("rocketmq-dledger/basic")).unwrap();
    assert_eq!(d.kind, StoreKind::RocketMqDLedger);
    assert_eq!((d.file_size, d.index_file_size), (65536, Some(1024)));

    let s = MemStore::new();
    load_dir(
        &s,
        LogId::CommitLog,
        &fixtures().join("rocketmq/basic/store/commitlog"),
    );
    let d = detect::detect(&s).unwrap();
    assert_eq!(
        (d.kind, d.file_size, d.index_file_size),
        (StoreKind::RocketMq, 65536, None)
    );

    // DLedger data mapped under the commitlog log is still recognised.
    let s2 = MemStore::new();
    load_dir(
        &s2,
        LogId::CommitLog,
        &fixtures().join("dledger/basic/store/dledger-n0/data"),
    );
    let d = detect::detect(&s2).unwrap();
    assert_eq!((d.kind, d.data_log), (StoreKind::DLedger, LogId::CommitLog));

    assert_eq!(detect::detect(&MemStore::new()), Err(DetectError::Empty));
}

// ---------------------------------------------------------------------------
// Damaged copies (spec §5.4 and §9 give Java's outcome)
// ---------------------------------------------------------------------------

const LAST_ENTRY_POS: u64 = 324485; // entry 37 of dledger/basic, in file 262144
const FILE: u64 = 65536;

fn patch(s: &MemStore, log: LogId, abs: u64, size: u64, bytes: &[u8]) {
    let seg = abs - abs % size;
    s.write(&log, seg, abs - seg, bytes).unwrap();
}

#[test]
fn zeroed_last_header_drops_the_entry() {
    let s = load("dledger/basic");
    patch(&s, LogId::DLedgerData, LAST_ENTRY_POS, FILE, &[0; 48]);
    let rec = recover(&s);
    assert_eq!(rec.end_index, 36);
    assert_eq!(rec.stop.reason, StopReason::ZeroSize);
    assert_eq!(rec.data_write_pos, LAST_ENTRY_POS);
    assert_eq!(rec.index_write_pos, 37 * 32);
    assert_eq!(rec.committed_index, 35);
    let w = walk(&s, &rec);
    assert_same_objects(&w.entries, &jsonl("dledger/basic", "expected.jsonl")[..37]);
    // The index record of 37 survives past the end: stale, a notice.
    let p = problems(&s, &rec, VerifyOptions::default());
    assert!(p.iter().all(|(sev, _)| *sev == Severity::Notice), "{p:?}");
    assert!(p.iter().any(|(_, t)| t.contains("stale index")), "{p:?}");
}

#[test]
fn garbage_body_is_accepted_and_flagged_only_with_a_crc() {
    let s = load("dledger/basic");
    let body_at = LAST_ENTRY_POS + 48;
    let original = {
        let mut b = vec![0u8; 2048];
        s.read(&LogId::DLedgerData, 262144, body_at - 262144, &mut b)
            .unwrap();
        b
    };
    let garbage: Vec<u8> = (0..2048u32).map(|i| (i * 7 + 3) as u8).collect();
    patch(&s, LogId::DLedgerData, body_at, FILE, &garbage);
    let rec = recover(&s);
    assert_eq!(rec.end_index, 37, "Java has no CRC: the entry stays (B3)");
    let w = walk(&s, &rec);
    let mut hex = String::new();
    json::push_hex(&mut hex, &garbage);
    assert_eq!(w.entries[37]["body"], Value::String(hex));
    assert!(problems(&s, &rec, VerifyOptions::default()).is_empty());

    // With a body CRC (of the original body) in the header, verify sees it.
    let crc = dl::body_crc(&original);
    patch(
        &s,
        LogId::DLedgerData,
        LAST_ENTRY_POS + 40,
        FILE,
        &crc.to_be_bytes(),
    );
    let rec = recover(&s);
    assert_eq!(rec.end_index, 37);
    let p = problems(&s, &rec, VerifyOptions::default());
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, Severity::Warning);
    assert!(p[0].1.contains("bodyCrc mismatch"), "{p:?}");
    assert!(
        p[0].1.contains(&format!("offset {LAST_ENTRY_POS}")),
        "{p:?}"
    );
}

#[test]
fn missing_index_files_are_rebuilt_like_java() {
    let want = jsonl("dledger/basic", "expected.jsonl");
    // The last index file: the scan window covers entries 18.. and rebuilds from 32.
    let s = load("dledger/basic");
    s.remove(&LogId::DLedgerIndex, 1024).unwrap();
    let rec = recover(&s);
    let rb = rec.index_rebuild.expect("rebuild");
    assert_eq!((rb.from_index, rb.from_pos), (32, 262144));
    assert_eq!(rec.end_index, 37);
    assert_eq!(rec.committed_pos, 324388 + 49);
    let w = walk(&s, &rec);
    assert!(w.problems.is_empty(), "{:?}", w.problems);
    assert_same_objects(&w.entries, &want);
    assert_eq!(w.blanks.len(), 4);
    let e33 = sd::get(&s, &rec, 33, |pos, e| (pos, e.index)).unwrap();
    assert_eq!(e33, (293192, 33));

    // All index files: the pre-check fails everywhere, the scan starts at file 0.
    let s = load("dledger/basic");
    for id in [0, 512, 1024] {
        s.remove(&LogId::DLedgerIndex, id).unwrap();
    }
    let rec = recover(&s);
    assert_eq!(rec.precheck_index, -1);
    assert_eq!(rec.scan_start, Some(0));
    assert_eq!(rec.index_rebuild.map(|r| r.from_index), Some(0));
    assert_same_objects(&walk(&s, &rec).entries, &want);

    // The first index file only: it lies before the scan window (B4), so
    // Java's get() fails for entries 0..=15; 16.. read fine.
    let s = load("dledger/basic");
    s.remove(&LogId::DLedgerIndex, 0).unwrap();
    let rec = recover(&s);
    assert_eq!(rec.index_rebuild, None);
    assert_eq!(rec.scan_start, Some(131072));
    let w = walk(&s, &rec);
    assert_eq!(w.problems.len(), 1, "{:?}", w.problems);
    assert!(w.problems[0].contains("entries 0..=15"), "{:?}", w.problems);
    assert_same_objects(&w.entries, &want[16..]);
    let p = problems(&s, &rec, VerifyOptions::default());
    assert_eq!(
        p.iter().filter(|(s, _)| *s == Severity::Error).count(),
        16,
        "{p:?}"
    );
}

#[test]
fn stale_tail_after_truncation_is_resurrected_b2() {
    // A follower truncated to entry 20 (ends in file 131072): Java deletes the
    // later data and index files, moves the write positions, zeroes nothing.
    let want = jsonl("dledger/basic", "expected.jsonl");
    let truncated = || {
        let s = load("dledger/basic");
        s.remove(&LogId::DLedgerData, 196608).unwrap();
        s.remove(&LogId::DLedgerData, 262144).unwrap();
        s.remove(&LogId::DLedgerIndex, 1024).unwrap();
        s
    };
    let s = truncated();
    let rec = recover(&s);
    // Stale entries 21..=25 start right at the end with consecutive indices.
    assert_eq!(rec.end_index, 25);
    assert_eq!(rec.stop.reason, StopReason::EndOfLastFile);
    assert_eq!(rec.data_write_pos, 196608);
    assert_eq!(rec.committed_index, 25, "checkpoint 35 clamped to the end");
    assert_eq!(rec.committed_pos, 172837 + 12048);
    assert_same_objects(&walk(&s, &rec).entries, &want[..26]);

    // What rocketlog's truncate does instead: zero the tail. Nothing comes back.
    let s = truncated();
    let end20 = 171168 + 381;
    let zeros = vec![0u8; (196608 - end20) as usize];
    patch(&s, LogId::DLedgerData, end20, FILE, &zeros);
    let rec = recover(&s);
    assert_eq!(rec.end_index, 20);
    assert_eq!(rec.data_write_pos, end20);
    assert_same_objects(&walk(&s, &rec).entries, &want[..21]);
}

#[test]
fn expired_head_moves_the_begin_index() {
    let s = load("dledger/basic");
    s.remove(&LogId::DLedgerData, 0).unwrap();
    let rec = recover(&s);
    assert_eq!(rec.begin_index, 9);
    assert_eq!(rec.end_index, 37);
    let w = walk(&s, &rec);
    assert!(w.problems.is_empty(), "{:?}", w.problems);
    assert_same_objects(&w.entries, &jsonl("dledger/basic", "expected.jsonl")[9..]);
    assert_eq!(w.blanks.len(), 3);
    assert!(sd::get(&s, &rec, 8, |_, _| ()).is_err());
    // Stale index records below the begin index are not an issue.
    let p = problems(&s, &rec, VerifyOptions::default());
    assert!(p.iter().all(|(sev, _)| *sev == Severity::Notice), "{p:?}");
}

#[test]
fn damage_before_the_last_files_makes_java_exit() {
    // Entry 18 opens file 131072; with its header zeroed the pre-check falls
    // back to file 65536, the scan stops at 131072, two files before the last.
    let s = load("dledger/basic");
    patch(&s, LogId::DLedgerData, 131072, FILE, &[0; 48]);
    let rec = recover(&s);
    assert_eq!(rec.scan_start, Some(65536));
    assert_eq!(rec.end_index, 17);
    assert_eq!(rec.data_write_pos, 131072);
    assert!(
        rec.problems
            .iter()
            .any(|p| p.severity == Severity::Error && p.to_string().contains("exits")),
        "{:?}",
        rec.problems
    );
}

#[test]
fn term_decrease_and_index_gap_stop_the_scan() {
    let s = load("dledger/basic");
    // Entry 35 with term 0 (< 1).
    patch(
        &s,
        LogId::DLedgerData,
        324388 + 16,
        FILE,
        &0i64.to_be_bytes(),
    );
    let rec = recover(&s);
    assert_eq!(rec.end_index, 34);
    assert_eq!(
        rec.stop.reason,
        StopReason::TermDecreased {
            previous: 1,
            found: 0
        }
    );
    // Committed 35 > end 34: clamped.
    assert_eq!(rec.committed_index, 34);

    let s = load("dledger/basic");
    patch(
        &s,
        LogId::DLedgerData,
        324388 + 8,
        FILE,
        &99i64.to_be_bytes(),
    );
    let rec = recover(&s);
    assert_eq!(rec.end_index, 34);
    assert_eq!(
        rec.stop.reason,
        StopReason::IndexGap {
            expected: 35,
            found: 99
        }
    );
}

#[test]
fn hostile_sizes_do_not_panic() {
    for (at, bytes) in [
        (4u64, i32::MAX.to_be_bytes()),
        (4, i32::MIN.to_be_bytes()),
        (4, (-48i32).to_be_bytes()),
        (4, 45i32.to_be_bytes()),
        (44, i32::MAX.to_be_bytes()),
        (44, (-49i32).to_be_bytes()),
        (0, (-1i32).to_be_bytes()),
    ] {
        for line in [Line::Classic, Line::Master] {
            let s = load("dledger/basic");
            patch(&s, LogId::DLedgerData, LAST_ENTRY_POS + at, FILE, &bytes);
            // Also a hostile blank size (master skips blanks by their size).
            patch(&s, LogId::DLedgerData, 246418 + 4, FILE, &bytes);
            // And an index record pointing far away.
            patch(
                &s,
                LogId::DLedgerIndex,
                20 * 32 + 4,
                512,
                &i64::MAX.to_be_bytes(),
            );
            let rec = sd::recover(
                &s,
                &Options {
                    line: Some(line),
                    ..Options::default()
                },
            )
            .unwrap();
            assert!(rec.end_index <= 37);
            let w = walk(&s, &rec);
            assert!(w.entries.len() <= 38);
            let _ = problems(&s, &rec, VerifyOptions { messages: true });
            let _ = sd::walk_messages(&s, &rec, |_| ControlFlow::Continue(()));
            for i in -1..40 {
                let _ = sd::get(&s, &rec, i, |_, e| e.size);
            }
        }
    }
}

#[test]
fn garbage_files_give_clear_results() {
    let s = MemStore::new();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    s.insert_segment(LogId::DLedgerData, 0, noise.clone());
    s.insert_segment(LogId::DLedgerData, 4096, noise.clone());
    s.insert_segment(LogId::DLedgerIndex, 0, noise[..1024].to_vec());
    s.insert_meta(MetaFile::DLedgerCheckpoint, b"committedIndex=oops".to_vec());
    s.insert_meta(MetaFile::CurrTerm, vec![0xff, 0xfe]);
    assert!(matches!(
        detect::detect(&s),
        Err(DetectError::Foreign { segment: 0, .. })
    ));
    let rec = recover(&s);
    assert_eq!((rec.begin_index, rec.end_index), (-1, -1));
    assert!(
        rec.problems
            .iter()
            .any(|p| p.to_string().contains("checkpoint"))
    );
    assert!(walk(&s, &rec).entries.is_empty());
    let p = problems(&s, &rec, VerifyOptions::default());
    assert!(
        p.iter().any(|(sev, t)| *sev == Severity::Error
            && t.contains("data/00000000000000000000 at offset 0")),
        "{p:?}"
    );

    // Files of different sizes and a gap in the names: Java refuses to load.
    let s = load("dledger/basic");
    s.remove(&LogId::DLedgerData, 131072).unwrap();
    s.insert_segment(LogId::DLedgerData, 262144, vec![0; 100]);
    let rec = recover(&s);
    assert_eq!(rec.geometry.data_file_size, 65536);
    let text: Vec<String> = rec.problems.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter().any(|t| t.contains("is 100 bytes, not 65536")),
        "{text:?}"
    );
    assert!(text.iter().any(|t| t.contains("checkSelf")), "{text:?}");

    // An empty store.
    let rec = recover(&MemStore::new());
    assert_eq!(rec.stop.reason, StopReason::NoDataFiles);
    assert_eq!(
        (rec.begin_index, rec.end_index, rec.committed_index),
        (-1, -1, -1)
    );
}

// ---------------------------------------------------------------------------
// Random damage
// ---------------------------------------------------------------------------

fn small_store() -> MemStore {
    // The first two data files and index files of dledger/basic (entries 0..=17).
    let full = load("dledger/basic");
    let s = MemStore::new();
    for id in [0, 65536] {
        s.insert_segment(
            LogId::DLedgerData,
            id,
            full.segment_bytes(&LogId::DLedgerData, id).unwrap(),
        );
    }
    for id in [0, 512] {
        s.insert_segment(
            LogId::DLedgerIndex,
            id,
            full.segment_bytes(&LogId::DLedgerIndex, id).unwrap(),
        );
    }
    s.insert_meta(MetaFile::DLedgerCheckpoint, b"committedIndex=12\n".to_vec());
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn random_flips_never_panic(
        flips in proptest::collection::vec((0u64..131072, any::<u8>()), 1..24),
        index_flips in proptest::collection::vec((0u64..1024, any::<u8>()), 0..8),
        master in any::<bool>(),
    ) {
        let s = small_store();
        // Flips land near entry headers more often than uniformly would.
        for (at, v) in flips {
            let at = if v % 2 == 0 { at - at % 49 } else { at };
            let seg = at - at % 65536;
            s.write(&LogId::DLedgerData, seg, at - seg, &[v]).unwrap();
        }
        for (at, v) in index_flips {
            let seg = at - at % 512;
            s.write(&LogId::DLedgerIndex, seg, at - seg, &[v]).unwrap();
        }
        let opts = Options { line: Some(if master { Line::Master } else { Line::Classic }), ..Options::default() };
        let rec = sd::recover(&s, &opts).unwrap();
        let mut n = 0u64;
        sd::walk(&s, &rec, |_| { n += 1; ControlFlow::Continue(()) }).unwrap();
        // Every item is an entry, a blank or a problem about distinct bytes.
        prop_assert!(n <= 2 * 131072 / 48 + 4);
        let _ = problems(&s, &rec, VerifyOptions { messages: true });
        let _ = sd::walk_messages(&s, &rec, |_| ControlFlow::Continue(()));
        let _ = detect::detect(&s);
        for i in [0, 5, rec.end_index] {
            let _ = sd::get(&s, &rec, i, |_, e| e.size);
        }
    }
}

// ---------------------------------------------------------------------------
// Master line, built by hand from spec §2.3 / §5.6 / §6.2
// ---------------------------------------------------------------------------

/// A master store after a reset: file 0 starts with a 200-byte head blank, then
/// entries 7.. (a NOOP among them) whose stored pos is the leader's (+1000),
/// as master followers keep it. Data files 1024 B, index files 256 B.
fn master_store() -> (MemStore, Vec<(u64, i64, i32)>) {
    let s = MemStore::new();
    let mut data = vec![0u8; 1024];
    data[..8].copy_from_slice(&dl::blank_header(200));
    let mut index = vec![0u8; 512];
    let mut at = 200usize;
    let mut placed = Vec::new();
    for (k, magic) in [(7i64, 1), (8, 2), (9, 1)] {
        let body = vec![k as u8; 10 * k as usize];
        let p = dl::EntryParts {
            magic,
            index: k,
            term: 4,
            pos: at as i64 + 1000,
            channel: 0,
            chain_crc: 0,
            body_crc: 0,
            body: &body,
        };
        let n = p.encode(&mut data[at..]).unwrap();
        let r = dl::IndexRecord {
            magic,
            pos: at as i64,
            size: n as i32,
            index: k,
            term: 4,
        };
        index[k as usize * 32..k as usize * 32 + 32].copy_from_slice(&r.encode());
        placed.push((at as u64, k, n as i32));
        at += n;
    }
    s.insert_segment(LogId::DLedgerData, 0, data);
    s.insert_segment(LogId::DLedgerIndex, 256, index.split_off(256));
    s.insert_segment(LogId::DLedgerIndex, 0, index);
    s.insert_meta(MetaFile::CurrTerm, b"voteLeader=n1\ncurrTerm=4\n".to_vec());
    (s, placed)
}

#[test]
fn master_head_blank_and_noop_entries() {
    let (s, placed) = master_store();
    let d = detect::detect(&s).unwrap();
    assert_eq!(
        (d.kind, d.line_hint),
        (StoreKind::DLedger, Some(Line::Master))
    );
    let rec = recover(&s);
    assert_eq!(
        (rec.line, rec.line_source),
        (Line::Master, LineSource::HeadBlank)
    );
    assert_eq!((rec.begin_index, rec.end_index, rec.end_term), (7, 9, 4));
    let end = placed.last().map(|&(p, _, n)| p + n as u64).unwrap();
    assert_eq!(rec.data_write_pos, end);
    assert_eq!(rec.committed_index, -1);
    let w = walk(&s, &rec);
    assert!(w.problems.is_empty(), "{:?}", w.problems);
    let got: Vec<(u64, i64, i32)> = w
        .positions
        .iter()
        .zip(&w.entries)
        .map(|(p, e)| {
            (
                *p,
                e["index"].as_i64().unwrap(),
                e["size"].as_i64().unwrap() as i32,
            )
        })
        .collect();
    assert_eq!(got, placed);
    assert_eq!(w.entries[1]["magic"], 2);
    // Follower pos differs from the position: a notice on master, not an error.
    let p = problems(&s, &rec, VerifyOptions::default());
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p.iter()
            .all(|(sev, t)| *sev == Severity::Notice && t.contains("pos")),
        "{p:?}"
    );

    // Read as classic (0.3.1.2 cannot read head blanks): the blank means "rest
    // of the file is filler", so nothing is recovered.
    let rec = sd::recover(
        &s,
        &Options {
            line: Some(Line::Classic),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!((rec.begin_index, rec.end_index), (-1, -1));
    assert_eq!(rec.stop.reason, StopReason::EndOfLastFile);
    assert_eq!(rec.data_write_pos, 1024);
}
