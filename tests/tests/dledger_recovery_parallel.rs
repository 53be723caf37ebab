//! DLedger recovery with its entry checks spread over threads
//! (`DLedger::open_with` and a `Fanout`) gives exactly what the sequential
//! open gives: the same report (or refusal), the same state and every file of
//! the store byte for byte afterwards, on clean stores and on stores with bit
//! flips in bodies, headers and index records, torn tails, zeroed pages and
//! stale copies of entries, under repair and strict recovery, with the index
//! files viewed at once and with too many of them for that. The sequential
//! open is the oracle.

use rocketlog::store::Threads;
use rocketlog_core::engine::dledger::{DLedger, DLedgerConfig, RecoveryMode};
use rocketlog_core::engine::fanout::{Fanout, Reversed, Sequential};
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile, PageRead};
use rocketlog_tests::crash::XorShift;

const DATA_SIZE: u64 = 64 << 10;

/// `index_file_size` 4 KiB: a few index files, viewed at once; 128 bytes:
/// more than a hundred, checked by reading each record.
fn cfg(index_file_size: u64, mode: RecoveryMode) -> DLedgerConfig {
    DLedgerConfig {
        data_file_size: DATA_SIZE,
        index_file_size,
        recovery: mode,
        ..DLedgerConfig::default()
    }
}

/// A store of about three data files: varied bodies (some holding bytes
/// that look like an entry header naming its own position), three terms.
fn store(seed: u64, index_file_size: u64) -> MemStore {
    let mut rng = XorShift::new(seed + 1);
    let (mut dl, _) =
        DLedger::open(MemStore::new(), cfg(index_file_size, RecoveryMode::Repair)).unwrap();
    let mut i = 0u64;
    while dl.data_end() < 3 * DATA_SIZE - 3000 {
        if i.is_multiple_of(150) {
            dl.set_term(1 + (i / 150) as i64, None).unwrap();
        }
        let len = 1 + (rng.next_u64() % 900) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if i.is_multiple_of(3) && len > 40 {
            // A fake header 8 bytes into the body (48 into the entry):
            // magic 1 and the absolute offset it will sit at.
            let at = dl.data_end() + 48 + 8;
            body[8..12].copy_from_slice(&1i32.to_be_bytes());
            body[8 + 24..8 + 32].copy_from_slice(&at.to_be_bytes());
        }
        let _ = dl.append_as_leader(&body).unwrap();
        i += 1;
    }
    let end = dl.end_index();
    dl.update_committed(dl.end_term(), end - 5).unwrap();
    dl.flush_all().unwrap();
    dl.persist_checkpoint().unwrap();
    dl.into_store()
}

/// Every file of the store, in order, with its bytes.
fn files(s: &MemStore) -> Vec<(LogId, u64, Vec<u8>)> {
    let mut out = Vec::new();
    for log in [LogId::DLedgerData, LogId::DLedgerIndex] {
        for seg in s.segments(&log).unwrap() {
            out.push((log.clone(), seg.id, s.segment_bytes(&log, seg.id).unwrap()));
        }
    }
    out
}

/// A deep copy (a `MemStore` clone shares its contents).
fn copy(s: &MemStore) -> MemStore {
    let c = MemStore::new();
    for (log, seg, bytes) in files(s) {
        c.insert_segment(log, seg, bytes);
    }
    for m in [MetaFile::DLedgerCheckpoint, MetaFile::CurrTerm] {
        if let Some(b) = s.read_meta(m).unwrap() {
            c.insert_meta(m, b);
        }
    }
    c
}

/// What an open did: its outcome and the store afterwards.
fn open(img: &MemStore, isize: u64, mode: RecoveryMode, fanout: &dyn Fanout) -> String {
    let s = copy(img);
    match DLedger::open_with(s, cfg(isize, mode), fanout) {
        Ok((dl, rep)) => {
            let out = format!(
                "ok {rep:?} [{}, {}] term {} committed {} at {} data {}..{} index end {}",
                dl.begin_index(),
                dl.end_index(),
                dl.end_term(),
                dl.committed_index(),
                dl.committed_pos(),
                dl.data_start(),
                dl.data_end(),
                dl.index_end(),
            );
            let s = dl.into_store();
            let metas: Vec<_> = [MetaFile::DLedgerCheckpoint, MetaFile::CurrTerm]
                .into_iter()
                .map(|m| s.read_meta(m).unwrap())
                .collect();
            format!("{out}\n{metas:?}\n{:?}", files(&s))
        }
        Err(x) => format!("err {x}\n{:?}", files(img)),
    }
}

fn same_as_sequential(img: &MemStore, isize: u64, what: &str) -> String {
    let mut first = String::new();
    for mode in [RecoveryMode::Repair, RecoveryMode::Strict] {
        let want = open(img, isize, mode, &Sequential);
        for fanout in [&Threads::new(2) as &dyn Fanout, &Reversed(3)] {
            let got = open(img, isize, mode, fanout);
            assert!(
                got == want,
                "{what}, {mode:?}, width {}:\n{}\n!=\n{}",
                fanout.width(),
                &got[..got.len().min(800)],
                &want[..want.len().min(800)]
            );
        }
        if first.is_empty() {
            first = want;
        }
    }
    first
}

fn edit(
    s: &MemStore,
    log: LogId,
    size: u64,
    at: u64,
    f: impl FnOnce(&mut Vec<u8>, usize),
) -> MemStore {
    let c = copy(s);
    let seg = at - at % size;
    let mut b = c.segment_bytes(&log, seg).unwrap();
    f(&mut b, (at - seg) as usize);
    c.insert_segment(log, seg, b);
    c
}

fn data_edit(s: &MemStore, at: u64, f: impl FnOnce(&mut Vec<u8>, usize)) -> MemStore {
    edit(s, LogId::DLedgerData, DATA_SIZE, at, f)
}

#[test]
fn parallel_recovery_equals_sequential_recovery() {
    for (seed, isize) in [(0, 4096), (1, 128), (2, 4096)] {
        let clean = store(seed, isize);
        let end = clean
            .segments(&LogId::DLedgerData)
            .unwrap()
            .last()
            .map(|s| s.id + DATA_SIZE)
            .unwrap();
        let index_end = clean
            .segments(&LogId::DLedgerIndex)
            .unwrap()
            .last()
            .map(|s| s.id + isize)
            .unwrap();
        let out = same_as_sequential(&clean, isize, "clean");
        assert!(
            out.starts_with("ok") && out.contains("stop: None"),
            "{out:.400}"
        );
        let mut rng = XorShift::new(seed + 100);
        // Bit flips anywhere in the data: headers, bodies, fillers, zeros.
        for n in 0..24 {
            let at = rng.next_u64() % end;
            let bit = 1u8 << (rng.next_u64() % 8);
            let img = data_edit(&clean, at, |b, p| b[p] ^= bit);
            same_as_sequential(&img, isize, &format!("flip {n} at {at}"));
        }
        // Bit flips in index records (rewritten from the data).
        for n in 0..8 {
            let at = rng.next_u64() % index_end;
            let img = edit(&clean, LogId::DLedgerIndex, isize, at, |b, p| b[p] ^= 4);
            same_as_sequential(&img, isize, &format!("index flip {n} at {at}"));
        }
        // Torn tails and zeroed pages.
        for n in 0..8 {
            let at = rng.next_u64() % end;
            let img = data_edit(&clean, at, |b, p| b[p..].fill(0));
            same_as_sequential(&img, isize, &format!("zeros from {at}"));
            let img = data_edit(&clean, at, |b, p| {
                let q = (p + 4096).min(b.len());
                b[p..q].fill(0);
            });
            same_as_sequential(&img, isize, &format!("zeroed page {n} at {at}"));
        }
        // Entries copied to another place (their pos fields are wrong there),
        // and old entries left past a torn end.
        let img = data_edit(&clean, DATA_SIZE + 100, |b, p| {
            b.copy_within(p..p + 9000, p + 20_000)
        });
        same_as_sequential(&img, isize, "stale copy");
        let img = data_edit(&clean, DATA_SIZE + 30_000, |b, p| b[p..p + 50].fill(0));
        same_as_sequential(&img, isize, "stale entries past a torn entry");
    }
}
