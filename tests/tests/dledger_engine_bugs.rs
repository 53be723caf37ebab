//! One test per DLedger 0.3.1.2 bug the engine avoids (spec §9).

use rocketlog_core::codec::dledger::{EntryParts, Header};
use rocketlog_core::codec::kv::DLedgerCheckpoint;
use rocketlog_core::engine::dledger::{
    CrcMode, DLedger, DLedgerConfig, DLedgerError, RecoveryMode,
};
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, MetaFile, PageRead, StoreErrorKind};
use rocketlog_tests::crash::{CrashStore, Tear};
use rocketlog_tests::fault::{Fault, FaultStore};

fn cfg(recovery: RecoveryMode) -> DLedgerConfig {
    DLedgerConfig {
        data_file_size: 256,
        index_file_size: 128,
        recovery,
        ..DLedgerConfig::default()
    }
}

/// Appendix A workload: six entries `"msg-<i>-" + "x"*(10*i)` -> three data files.
fn appendix_a(mem: MemStore) -> DLedger<MemStore> {
    let (mut dl, _) = DLedger::open(mem, cfg(RecoveryMode::Strict)).unwrap();
    dl.set_term(3, None).unwrap();
    for i in 0..6 {
        let body = format!("msg-{i}-{}", "x".repeat(10 * i));
        let a = dl.append_as_leader(body.as_bytes()).unwrap();
        assert_eq!(a.pos, [0, 54, 118, 256, 340, 512][i]);
    }
    dl.flush_all().unwrap();
    dl
}

fn reopen(dl: DLedger<MemStore>, mode: RecoveryMode) -> Result<DLedger<MemStore>, DLedgerError> {
    DLedger::open(dl.into_store(), cfg(mode)).map(|(d, _)| d)
}

fn parts(b: &[u8]) -> EntryParts<'_> {
    let h = Header::read(b).unwrap();
    EntryParts {
        magic: h.magic,
        index: h.index,
        term: h.term,
        pos: h.pos,
        channel: h.channel,
        chain_crc: h.chain_crc,
        body_crc: h.body_crc,
        body: &b[48..],
    }
}

fn flip(mem: &MemStore, log: LogId, at: u64, size: u64) {
    let seg = at - at % size;
    let mut b = mem.segment_bytes(&log, seg).unwrap();
    b[(at - seg) as usize] ^= 0x10;
    mem.insert_segment(log, seg, b);
}

#[test]
fn b1_rebuilt_follower_keeps_its_log_across_a_restart() {
    // Spec example: an empty follower truncates with the leader's entry 7 at pos 600 (60 bytes).
    let (mut dl, _) = DLedger::open(MemStore::new(), cfg(RecoveryMode::Strict)).unwrap();
    let body = [7u8; 12];
    let e = EntryParts {
        magic: 1,
        index: 7,
        term: 2,
        pos: 600,
        channel: 0,
        chain_crc: 0,
        body_crc: 0,
        body: &body,
    };
    assert_eq!(dl.truncate_follower(&e).unwrap(), 7);
    assert_eq!((dl.begin_index(), dl.end_index()), (7, 7));
    let mem = dl.into_store();
    // Same layout as Java: zeros at [0, 88) of data file 512, the record for 7 at 96 of index file 128.
    let f = mem.segment_bytes(&LogId::DLedgerData, 512).unwrap();
    assert!(f[..88].iter().all(|&b| b == 0));
    assert_eq!(&f[88..92], &[0, 0, 0, 1]);
    let ix = mem.segment_bytes(&LogId::DLedgerIndex, 128).unwrap();
    assert!(ix[..96].iter().all(|&b| b == 0));
    // The checkpoint still parses the Java way, with the start as extra keys.
    let ck = mem.read_meta(MetaFile::DLedgerCheckpoint).unwrap().unwrap();
    assert_eq!(DLedgerCheckpoint::parse(&ck).unwrap().end_index, 7);
    let text = String::from_utf8(ck.clone()).unwrap();
    assert!(text.contains("rocketlog.beginPos=600\n") && text.contains("rocketlog.beginIndex=7\n"));
    // Restart: the log is still there (Java 0.3.1.2 ends with end = -1 here).
    let (dl, rep) = DLedger::open(mem.clone(), cfg(RecoveryMode::Strict)).unwrap();
    assert!(rep.is_clean(), "{rep}");
    assert_eq!((dl.begin_index(), dl.end_index()), (7, 7));
    assert_eq!(&dl.get(7).unwrap()[48..], &body);
    // Without the marker keys the head zeros read as an empty log, as in Java.
    let java_ck = text
        .lines()
        .filter(|l| !l.starts_with("rocketlog."))
        .collect::<Vec<_>>()
        .join("\n");
    mem.insert_meta(MetaFile::DLedgerCheckpoint, java_ck.into_bytes());
    let (dl, _) = DLedger::open(mem, cfg(RecoveryMode::Repair)).unwrap();
    assert_eq!(dl.end_index(), -1);
}

#[test]
fn b2_truncated_entries_never_come_back() {
    let mut dl = appendix_a(MemStore::new());
    let e2 = dl.get(2).unwrap();
    let old3 = dl.get(3).unwrap();
    assert_eq!(dl.truncate_follower(&parts(&e2)).unwrap(), 2);
    assert_eq!((dl.end_index(), dl.data_end()), (2, 192));
    let mem = dl.into_store();
    // Java leaves the old bytes; here everything after the cut is zero.
    let f0 = mem.segment_bytes(&LogId::DLedgerData, 0).unwrap();
    assert!(f0[192..].iter().all(|&b| b == 0));
    assert!(mem.segment_bytes(&LogId::DLedgerData, 256).is_none());
    let ix = mem.segment_bytes(&LogId::DLedgerIndex, 0).unwrap();
    assert!(ix[96..].iter().all(|&b| b == 0));
    // Restart: still 2 (Java resurrects entries after the cut when they line up).
    let (mut dl, rep) = DLedger::open(mem, cfg(RecoveryMode::Strict)).unwrap();
    assert!(rep.is_clean());
    assert_eq!(dl.end_index(), 2);
    // A new entry 3 is the new one, not the old bytes.
    let a = dl.append_as_leader(b"new").unwrap();
    assert_eq!((a.index, a.pos), (3, 192));
    assert_ne!(dl.get(3).unwrap(), old3);
}

#[test]
fn b3_torn_body_with_valid_header_is_detected() {
    let dl = appendix_a(MemStore::new());
    let mem = dl.into_store();
    flip(&mem, LogId::DLedgerData, 340 + 50, 256); // body of entry 4
    let err = DLedger::open(mem.clone(), cfg(RecoveryMode::Strict)).unwrap_err();
    let DLedgerError::Refused(rep) = &err else {
        panic!("{err}")
    };
    let stop = rep.stop.as_ref().unwrap();
    assert_eq!((stop.offset, stop.segment), (340, 256));
    assert!(stop.reason.contains("bodyCrc"), "{}", stop.reason);
    assert!(format!("{err}").contains("data/00000000000000000256"));
    // Nothing was changed by the refusal.
    assert!(mem.segment_bytes(&LogId::DLedgerData, 512).is_some());
    // Repair cuts at the last valid entry and zeroes the rest.
    let (dl, rep) = DLedger::open(mem, cfg(RecoveryMode::Repair)).unwrap();
    assert_eq!((dl.end_index(), rep.valid_end), (3, 340));
    // Data file 512 goes; index file 128 starts exactly at (3+1)*32 and is kept, empty.
    assert_eq!(rep.removed, [(LogId::DLedgerData, 512)]);
    assert_eq!(dl.index_end(), 128);
}

#[test]
fn b4_damage_in_an_old_file_is_found() {
    // Eight data files; damage in the first one (Java scans only the last three).
    let (mut dl, _) = DLedger::open(MemStore::new(), cfg(RecoveryMode::Strict)).unwrap();
    for i in 0..16u8 {
        let _ = dl.append_as_leader(&[i; 70]).unwrap();
    }
    dl.flush_all().unwrap();
    assert!(dl.data_segments().len() >= 8);
    let p1 = dl.index_record(1).unwrap().pos as u64;
    let mem = dl.into_store();
    flip(&mem, LogId::DLedgerData, p1 + 60, 256);
    let Err(DLedgerError::Refused(rep)) = DLedger::open(mem, cfg(RecoveryMode::Strict)) else {
        panic!("damage in file 0 must be found")
    };
    assert_eq!(rep.stop.unwrap().offset, p1);
    assert_eq!(rep.entries, 1);
}

#[test]
fn b5_checkpoint_and_currterm_are_replaced_atomically_and_durably() {
    let crash = CrashStore::new(4096);
    let (mut dl, _) = DLedger::open(crash, cfg(RecoveryMode::Strict)).unwrap();
    dl.set_term(5, Some("n1")).unwrap();
    // A crash while writing the next term leaves the old one, never nothing.
    dl.store().crash_at(Some(1));
    assert!(dl.set_term(6, Some("n2")).is_err());
    let img = dl.store().crash_image(Tear::LoseUnsynced, 0);
    let (dl2, _) = DLedger::open(img, cfg(RecoveryMode::Strict)).unwrap();
    assert_eq!(dl2.current_term().term, 5);
    assert_eq!(dl2.current_term().vote_for.as_deref(), Some("n1"));
    // Once set_term returned, the term survives a crash that loses everything unsynced.
    let (mut dl3, _) = DLedger::open(
        CrashStore::from_mem(&dl2.into_store(), 4096),
        cfg(RecoveryMode::Strict),
    )
    .unwrap();
    dl3.set_term(7, None).unwrap();
    let _ = dl3.append_as_leader(b"x").unwrap();
    dl3.update_committed(7, 0).unwrap();
    dl3.persist_checkpoint().unwrap();
    let img = dl3.store().crash_image(Tear::LoseUnsynced, 1);
    let t = rocketlog_core::codec::kv::CurrTerm::parse(
        &img.read_meta(MetaFile::CurrTerm).unwrap().unwrap(),
    )
    .unwrap();
    assert_eq!(t.term, 7);
    let ck =
        DLedgerCheckpoint::parse(&img.read_meta(MetaFile::DLedgerCheckpoint).unwrap().unwrap())
            .unwrap();
    assert_eq!(ck.committed_index, 0);
}

#[test]
fn b6_failed_index_write_cannot_produce_a_duplicate_index() {
    // Find the operation number of the second append's index write.
    let probe = FaultStore::counting(MemStore::new());
    let (mut dl, _) = DLedger::open(probe, cfg(RecoveryMode::Strict)).unwrap();
    let _ = dl.append_as_leader(b"first").unwrap();
    let _ = dl.append_as_leader(b"second").unwrap();
    let index_write = dl.store().ops();
    // Fail exactly that write.
    let fs = FaultStore::new(MemStore::new(), Some(index_write), Fault::Io, false);
    let (mut dl, _) = DLedger::open(fs, cfg(RecoveryMode::Strict)).unwrap();
    let _ = dl.append_as_leader(b"first").unwrap();
    assert!(dl.append_as_leader(b"second").is_err());
    // Java would now write "third" with index 1 again; here the store is latched.
    match dl.append_as_leader(b"third") {
        Err(DLedgerError::Store(e)) => assert_eq!(e.kind, StoreErrorKind::PreviousIo),
        other => panic!("{other:?}"),
    }
    // Reopen: the index is rebuilt from the data, indices stay unique.
    let mem = dl.into_store().into_inner();
    let (mut dl, rep) = DLedger::open(mem, cfg(RecoveryMode::Repair)).unwrap();
    assert_eq!(dl.end_index(), 1);
    assert_eq!(rep.index_rebuilt_from, Some(1));
    assert_eq!(&dl.get(1).unwrap()[48..], b"second");
    assert_eq!(dl.append_as_leader(b"third").unwrap().index, 2);
}

#[test]
fn b7_follower_position_is_checked_before_writing() {
    let mut dl = appendix_a(MemStore::new());
    let before: Vec<_> = [0u64, 256, 512]
        .iter()
        .map(|&s| dl.store().segment_bytes(&LogId::DLedgerData, s))
        .collect();
    let body = [1u8; 10];
    let e = EntryParts {
        magic: 1,
        index: 6,
        // A new term: entries without CRCs after CRC'd ones of the same term are refused.
        term: 4,
        pos: 999, // should be 616
        channel: 0,
        chain_crc: 0,
        body_crc: 0,
        body: &body,
    };
    let err = dl.append_as_follower(&e).unwrap_err();
    assert_eq!(
        err,
        DLedgerError::InconsistentPos {
            index: 6,
            expected: 616,
            got: 999
        }
    );
    assert_eq!(
        (dl.end_index(), dl.data_end(), dl.index_end()),
        (5, 616, 192)
    );
    let after: Vec<_> = [0u64, 256, 512]
        .iter()
        .map(|&s| dl.store().segment_bytes(&LogId::DLedgerData, s))
        .collect();
    assert_eq!(before, after, "nothing written");
    // The right position is accepted.
    let ok = EntryParts { pos: 616, ..e };
    assert_eq!(dl.append_as_follower(&ok).unwrap().pos, 616);
}

#[test]
fn b12_truncation_lowers_the_committed_index() {
    let mut dl = appendix_a(MemStore::new());
    dl.update_committed(3, 4).unwrap();
    assert_eq!((dl.committed_index(), dl.committed_pos()), (4, 434));
    let e2 = dl.get(2).unwrap();
    let _ = dl.truncate_follower(&parts(&e2)).unwrap();
    // Java keeps committed = 4 with committedPos beyond the data end.
    assert_eq!((dl.committed_index(), dl.committed_pos()), (2, 192));
    assert!(dl.committed_pos() as u64 <= dl.data_end());
    let dl = reopen(dl, RecoveryMode::Strict).unwrap();
    assert_eq!(dl.committed_index(), 2);
}

#[test]
fn java_zero_crc_mode_and_commitlog_hook_rejects_non_messages() {
    let c = DLedgerConfig {
        crc: CrcMode::JavaZeros,
        commitlog_mode: true,
        ..cfg(RecoveryMode::Strict)
    };
    let (mut dl, _) = DLedger::open(MemStore::new(), c).unwrap();
    assert_eq!(
        dl.append_as_leader(b"not a message").unwrap_err(),
        DLedgerError::NotAMessage { index: 0 }
    );
    assert_eq!(dl.end_index(), -1);
    assert!(dl.store().segments(&LogId::DLedgerData).unwrap().is_empty());
}

/// Found by the `recover_dledger` fuzz target: a `currterm` holding a
/// negative term let the leader append entries that recovery (rightly)
/// discards, so an acknowledged, flushed and committed entry was gone after
/// a reopen. The append is refused instead, and nothing is written.
#[test]
fn a_negative_current_term_refuses_appends_instead_of_losing_them() {
    let mem = MemStore::new();
    mem.insert_meta(MetaFile::CurrTerm, b"currTerm=-1\n".to_vec());
    let (mut dl, _) = DLedger::open(mem, cfg(RecoveryMode::Strict)).unwrap();
    assert_eq!(dl.current_term().term, -1);
    assert!(matches!(
        dl.append_as_leader(b"entry"),
        Err(DLedgerError::TermDecreased { got: -1, .. })
    ));
    assert_eq!(dl.end_index(), -1);
    assert!(dl.store().segments(&LogId::DLedgerData).unwrap().is_empty());
    // A real term (from an election) makes the leader usable again, and what
    // it appends survives a reopen.
    dl.set_term(1, None).unwrap();
    let a = dl.append_as_leader(b"entry").unwrap();
    dl.flush_all().unwrap();
    dl.update_committed(a.term, a.index).unwrap();
    dl.persist_checkpoint().unwrap();
    let dl = reopen(dl, RecoveryMode::Strict).unwrap();
    assert_eq!((dl.end_index(), dl.committed_index()), (0, 0));
}
