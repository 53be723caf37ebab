//! The DLedger engine against stores written by the real Java code:
//! writing every entry of a fixture through the engine reproduces the Java
//! data and index files byte for byte, and recovery of the Java store in
//! strict mode reads back exactly the entries Java read back.

use std::path::Path;

use rocketlog_core::codec::dledger::EntryParts;
use rocketlog_core::engine::dledger::{CrcMode, DLedger, DLedgerConfig, RecoveryMode};
use rocketlog_core::layout;
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile, PageRead};
use rocketlog_tests::fixtures::{self, Fixture};
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn load_dir(m: &MemStore, log: LogId, dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut files: Vec<(u64, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .flatten()
        .map(|e| {
            let id = layout::parse_file_name(&e.file_name().to_string_lossy()).expect("file name");
            (id, std::fs::read(e.path()).expect("fixture file"))
        })
        .collect();
    files.sort();
    for (id, b) in &files {
        m.insert_segment(log.clone(), *id, b.clone());
    }
    files
}

struct JavaStore {
    mem: MemStore,
    data: Vec<(u64, Vec<u8>)>,
    index: Vec<(u64, Vec<u8>)>,
    checkpoint: Option<Vec<u8>>,
}

fn java_store(dir: &Path) -> JavaStore {
    let mem = MemStore::new();
    let data = load_dir(&mem, LogId::DLedgerData, &dir.join("data"));
    let index = load_dir(&mem, LogId::DLedgerIndex, &dir.join("index"));
    let checkpoint = std::fs::read(dir.join("checkpoint")).ok();
    if let Some(c) = &checkpoint {
        mem.insert_meta(MetaFile::DLedgerCheckpoint, c.clone());
    }
    if let Ok(c) = std::fs::read(dir.join("currterm")) {
        mem.insert_meta(MetaFile::CurrTerm, c);
    }
    JavaStore {
        mem,
        data,
        index,
        checkpoint,
    }
}

fn find(name: &str) -> Fixture {
    fixtures::all()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("fixture {name} missing"))
}

/// Writes `rows` through a fresh engine as the leader and compares every file.
fn reproduce(
    name: &str,
    java: &JavaStore,
    rows: &[Value],
    data_size: u64,
    index_size: u64,
    commitlog_mode: bool,
) {
    let cfg = DLedgerConfig {
        data_file_size: data_size,
        index_file_size: index_size,
        crc: CrcMode::JavaZeros,
        commitlog_mode,
        ..DLedgerConfig::default()
    };
    let (mut dl, rep) = DLedger::open(MemStore::new(), cfg).unwrap();
    assert!(rep.is_clean() && rep.entries == 0);
    let term = rows[0]["term"].as_i64().unwrap();
    dl.set_term(term, Some("n0")).unwrap();
    for r in rows {
        let mut body = hex(r["body"].as_str().unwrap());
        let pos = r["pos"].as_u64().unwrap();
        if commitlog_mode {
            // The Java hook wrote PHYSICALOFFSET = pos + 48; blank it so the
            // engine's own hook has to put it back.
            assert_eq!(
                i64::from_be_bytes(body[28..36].try_into().unwrap()),
                pos as i64 + 48
            );
            body[28..36].fill(0);
        }
        let a = dl.append_as_leader(&body).unwrap();
        assert_eq!(a.index, r["index"].as_i64().unwrap(), "{name}");
        assert_eq!(a.pos, pos, "{name}: entry {}", a.index);
        assert_eq!(u64::from(a.size), r["size"].as_u64().unwrap());
    }
    dl.flush_all().unwrap();
    let mine = dl.store();
    for (log, files) in [
        (LogId::DLedgerData, &java.data),
        (LogId::DLedgerIndex, &java.index),
    ] {
        let ids: Vec<u64> = mine.segments(&log).unwrap().iter().map(|s| s.id).collect();
        let want: Vec<u64> = files.iter().map(|f| f.0).collect();
        assert_eq!(ids, want, "{name}: {log} file set");
        for (id, bytes) in files {
            let got = mine.segment_bytes(&log, *id).unwrap();
            if let Some(i) = got.iter().zip(bytes).position(|(a, b)| a != b) {
                panic!(
                    "{name}: {log}/{} differs first at byte {i}",
                    layout::file_name(*id)
                );
            }
            assert_eq!(got.len(), bytes.len());
        }
    }
    // The checkpoint text matches Java's (JDK 17 key order) for the same committed index.
    if let Some(ck) = &java.checkpoint {
        let c = rocketlog_core::codec::kv::DLedgerCheckpoint::parse(ck).unwrap();
        dl.update_committed(term, c.committed_index).unwrap();
        assert_eq!(
            dl.checkpoint_text().as_bytes(),
            &ck[..],
            "{name}: checkpoint"
        );
    }
}

/// Recovery of the Java-written store in strict mode: clean, same entries.
fn recover_java(name: &str, java: &JavaStore, rows: &[Value], data_size: u64, index_size: u64) {
    let cfg = DLedgerConfig {
        data_file_size: data_size,
        index_file_size: index_size,
        recovery: RecoveryMode::Strict,
        ..DLedgerConfig::default()
    };
    let (dl, rep) = DLedger::open(java.mem.clone(), cfg).unwrap();
    assert!(rep.is_clean(), "{name}: {rep}");
    assert_eq!(rep.entries as usize, rows.len());
    assert_eq!(
        rep.index_rebuilt_from, None,
        "{name}: Java's index is intact"
    );
    assert_eq!(dl.begin_index(), rows[0]["index"].as_i64().unwrap());
    assert_eq!(
        dl.end_index(),
        rows.last().unwrap()["index"].as_i64().unwrap()
    );
    for r in rows {
        let i = r["index"].as_i64().unwrap();
        dl.with_entry(i, |e| {
            assert_eq!(e.pos, r["pos"].as_i64().unwrap());
            assert_eq!(e.term, r["term"].as_i64().unwrap());
            assert_eq!(e.body, &hex(r["body"].as_str().unwrap())[..]);
            assert_eq!((e.chain_crc, e.body_crc), (0, 0));
        })
        .unwrap();
    }
    // Recovery changed no byte of the Java files.
    for (id, bytes) in &java.data {
        assert_eq!(
            &dl.store().segment_bytes(&LogId::DLedgerData, *id).unwrap(),
            bytes
        );
    }
}

#[test]
fn dledger_basic_and_master_basic_byte_for_byte() {
    for name in ["dledger/basic", "dledger/master-basic"] {
        let fx = find(name);
        let meta: Value =
            serde_json::from_slice(&std::fs::read(fx.file("expected_meta.json").unwrap()).unwrap())
                .unwrap();
        let rows = fixtures::read_jsonl(&fx.file("expected.jsonl").unwrap()).unwrap();
        let ds = meta["dataFileSize"].as_u64().unwrap();
        let is = meta["indexFileSize"].as_u64().unwrap();
        assert_eq!((ds, is), (65536, 512));
        let java = java_store(&fx.store().join("dledger-n0"));
        reproduce(name, &java, &rows, ds, is, false);
        recover_java(name, &java, &rows, ds, is);
        if name == "dledger/basic" {
            let (dl, _) = DLedger::open(
                java.mem.clone(),
                DLedgerConfig {
                    data_file_size: ds,
                    index_file_size: is,
                    ..DLedgerConfig::default()
                },
            )
            .unwrap();
            assert_eq!(
                dl.committed_index(),
                meta["committedIndexAfterRecovery"].as_i64().unwrap()
            );
            assert_eq!(dl.data_end(), meta["dataWritePos"].as_u64().unwrap());
            assert_eq!(dl.index_end(), meta["indexWritePos"].as_u64().unwrap());
        }
    }
}

#[test]
fn rocketmq_dledger_layer_byte_for_byte_with_the_commitlog_hook() {
    let fx = find("rocketmq-dledger/basic");
    let meta: Value =
        serde_json::from_slice(&std::fs::read(fx.file("expected_meta.json").unwrap()).unwrap())
            .unwrap();
    let d = &meta["dledger"];
    let (ds, is) = (
        d["dataFileSize"].as_u64().unwrap(),
        d["indexFileSize"].as_u64().unwrap(),
    );
    assert_eq!((ds, is), (65536, 1024));
    let rows = fixtures::read_jsonl(&fx.file("expected_dledger.jsonl").unwrap()).unwrap();
    let java = java_store(&fx.store().join("dledger-n0"));
    reproduce("rocketmq-dledger/basic", &java, &rows, ds, is, true);
    recover_java("rocketmq-dledger/basic", &java, &rows, ds, is);
    let (dl, _) = DLedger::open(
        java.mem.clone(),
        DLedgerConfig {
            data_file_size: ds,
            index_file_size: is,
            ..DLedgerConfig::default()
        },
    )
    .unwrap();
    assert_eq!(
        dl.committed_pos(),
        d["committedPosAfterRecovery"].as_i64().unwrap()
    );
}

#[test]
fn a_follower_replaying_java_entries_writes_the_same_files() {
    let fx = find("dledger/basic");
    let rows = fixtures::read_jsonl(&fx.file("expected.jsonl").unwrap()).unwrap();
    let java = java_store(&fx.store().join("dledger-n0"));
    let cfg = DLedgerConfig {
        data_file_size: 65536,
        index_file_size: 512,
        ..DLedgerConfig::default()
    };
    let (mut dl, _) = DLedger::open(MemStore::new(), cfg).unwrap();
    for r in &rows {
        let body = hex(r["body"].as_str().unwrap());
        let e = EntryParts {
            magic: 1,
            index: r["index"].as_i64().unwrap(),
            term: r["term"].as_i64().unwrap(),
            pos: r["pos"].as_i64().unwrap(),
            channel: 0,
            chain_crc: 0,
            body_crc: 0,
            body: &body,
        };
        let _ = dl.append_as_follower(&e).unwrap();
    }
    for (id, bytes) in &java.data {
        assert_eq!(
            &dl.store().segment_bytes(&LogId::DLedgerData, *id).unwrap(),
            bytes
        );
    }
    for (id, bytes) in &java.index {
        assert_eq!(
            &dl.store().segment_bytes(&LogId::DLedgerIndex, *id).unwrap(),
            bytes
        );
    }
}
