//! The DLedger engine: open (and recover) over an arbitrary store, read what
//! it kept, append as the leader, flush, commit, shut down and reopen.

use rocketlog_core::codec::dledger::HEADER_LEN;
use rocketlog_core::engine::dledger::RecoveryMode;
use rocketlog_core::engine::dledger::{CrcMode, DLedger, DLedgerConfig};
use rocketlog_core::store::LogId;

use super::engine::CappedStore;
use super::input::StoreSpec;

/// One index record.
const INDEX_UNIT: u64 = 32;

fn config(spec: &StoreSpec) -> DLedgerConfig {
    let len = |log: LogId| spec.segments.iter().find(|s| s.log == log).map(|s| s.len);
    let data = len(LogId::DLedgerData).unwrap_or(4096).clamp(256, 1 << 20);
    let index =
        (len(LogId::DLedgerIndex).unwrap_or(320) / INDEX_UNIT).clamp(4, 1 << 14) * INDEX_UNIT;
    DLedgerConfig {
        data_file_size: data,
        index_file_size: index,
        crc: if spec.flags & 0x40 != 0 {
            CrcMode::JavaZeros
        } else {
            CrcMode::Rocketlog
        },
        recovery: if spec.flags & 0x20 != 0 {
            RecoveryMode::Strict
        } else {
            RecoveryMode::Repair
        },
        ..DLedgerConfig::default()
    }
}

/// Opens the DLedger engine over the store. When it opens: its indexes are
/// ordered, the committed index is inside the log, every entry in range
/// reads back (or errs, never panics) as an entry of its own index; an
/// appended entry reads back with its body; after a flush, a commit and a
/// clean shutdown a reopen keeps it, committed. New segments are capped
/// ([`CappedStore`]): a hostile field must not make the engine grow without
/// bound.
pub fn recover_dledger(data: &[u8]) {
    let spec = StoreSpec::parse(data);
    let store = CappedStore::new(spec.mem());
    let cfg = config(&spec);
    let Ok((mut e, _report)) = DLedger::open(store, cfg) else {
        return;
    };
    let (begin, end) = (e.begin_index(), e.end_index());
    assert!(begin >= -1 && end >= begin - 1, "begin {begin}, end {end}");
    assert!(
        e.committed_index() <= end,
        "committed {} past the end {end}",
        e.committed_index()
    );
    let hi = end.min(begin.saturating_add(32));
    for i in begin.max(0)..=hi {
        if let Ok(raw) = e.get(i) {
            assert!(raw.len() >= HEADER_LEN, "entry {i} shorter than a header");
        }
        let _ = e.index_record(i);
    }
    let _ = e.get(-1);
    let _ = e.get(i64::MAX);

    let body = b"fuzz entry body";
    let Ok(a) = e.append_as_leader(body) else {
        return;
    };
    assert_eq!(a.index, end + 1, "the leader appended somewhere else");
    let raw = e.get(a.index).expect("an entry just appended reads back");
    assert_eq!(raw.len() as u64, u64::from(a.size));
    assert_eq!(&raw[HEADER_LEN..], body, "entry body changed");
    if e.flush_all().is_err() || e.update_committed(a.term, a.index).is_err() {
        return;
    }
    if e.persist_checkpoint().is_err() {
        return;
    }
    let store = e.into_store();
    let (e2, _) = DLedger::open(store, cfg).expect("a store the engine flushed reopens");
    assert_eq!(e2.end_index(), a.index, "reopen moved the end");
    assert!(
        e2.committed_index() >= a.index,
        "committed {} lost on reopen (was {})",
        e2.committed_index(),
        a.index
    );
    assert_eq!(
        e2.get(a.index).ok().as_deref(),
        Some(&raw[..]),
        "the entry flushed before the reopen is lost or changed"
    );
}
