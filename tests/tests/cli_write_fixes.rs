//! Engine and host fixes that came with the writing CLI: DLedger writes and
//! recovery agree on CRC fields, and the embedding API's SYNC_FLUSH is a
//! group commit. (The flush planner fix has its unit test in
//! `core/src/engine/flush.rs`; the `Send` index namer is checked at compile
//! time below.)

use std::sync::Arc;

use rocketlog::embed::{FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore};
use rocketlog_core::codec::dledger::{self as codec, EntryParts, Header};
use rocketlog_core::engine::dledger::{
    CrcMode, DLedger, DLedgerConfig, DLedgerError, RecoveryMode,
};
use rocketlog_core::mem::MemStore;

fn cfg(crc: CrcMode) -> DLedgerConfig {
    DLedgerConfig {
        data_file_size: 256,
        index_file_size: 128,
        crc,
        recovery: RecoveryMode::Strict,
        ..DLedgerConfig::default()
    }
}

fn crc_log() -> DLedger<MemStore> {
    let (mut dl, _) = DLedger::open(MemStore::new(), cfg(CrcMode::Rocketlog)).unwrap();
    dl.set_term(3, None).unwrap();
    for i in 0..4 {
        let _ = dl
            .append_as_leader(format!("entry-{i}").as_bytes())
            .unwrap();
    }
    dl.flush_all().unwrap();
    dl
}

#[test]
fn index_namer_is_send() {
    fn send<T: Send>() {}
    send::<Box<rocketlog_core::engine::dispatch::IndexNamer>>();
    send::<rocketlog_core::engine::commitlog::CommitLog<MemStore>>();
}

#[test]
fn follower_entry_without_crcs_after_crcd_entries_of_its_term_is_refused() {
    let mut dl = crc_log();
    let last = Header::read(&dl.get(3).unwrap()).unwrap();
    let body = b"replacement";
    // Replaces entry 3 in place (same pos), same term, zero CRC fields:
    // recovery would cut it, so the write must refuse it.
    let zero = EntryParts {
        magic: 1,
        index: 3,
        term: 3,
        pos: last.pos,
        channel: 0,
        chain_crc: 0,
        body_crc: 0,
        body,
    };
    let before = dl.get(3).unwrap();
    assert!(matches!(
        dl.truncate_follower(&zero),
        Err(DLedgerError::BadEntry(_))
    ));
    assert_eq!(dl.get(3).unwrap(), before, "nothing written");
    let mut next = EntryParts {
        index: 4,
        pos: dl.data_end() as i64,
        ..zero
    };
    if let Err(DLedgerError::InconsistentPos { expected, .. }) = dl.append_as_follower(&next) {
        // It rolls to the next file.
        next.pos = expected as i64;
    }
    assert!(matches!(
        dl.append_as_follower(&next),
        Err(DLedgerError::BadEntry(_))
    ));
    assert_eq!(dl.end_index(), 3);
    // With CRCs chained from entry 2 it is accepted, and survives a reopen.
    let prev_chain = Header::read(&dl.get(2).unwrap()).unwrap().chain_crc;
    let bc = codec::body_crc(body);
    let good = EntryParts {
        body_crc: bc,
        chain_crc: codec::chain_crc(prev_chain, 3, 3, last.pos, bc),
        ..zero
    };
    // A wrong chain is refused too (recovery checks it against entry 2).
    assert!(
        dl.truncate_follower(&EntryParts {
            chain_crc: good.chain_crc ^ 1,
            ..good
        })
        .is_err()
    );
    assert_eq!(dl.truncate_follower(&good).unwrap(), 3);
    let (dl, rep) = DLedger::open(dl.into_store(), cfg(CrcMode::Rocketlog)).unwrap();
    assert_eq!(dl.end_index(), 3, "{rep}");
    assert!(dl.get(3).unwrap().ends_with(body));
    // A new term may start without CRCs (a Java leader).
    let mut dl = dl;
    let mut next = EntryParts {
        index: 4,
        term: 4,
        pos: dl.data_end() as i64,
        ..zero
    };
    if let Err(DLedgerError::InconsistentPos { expected, .. }) = dl.append_as_follower(&next) {
        next.pos = expected as i64;
    }
    let _ = dl.append_as_follower(&next).unwrap();
    dl.flush_all().unwrap();
    let (dl, _) = DLedger::open(dl.into_store(), cfg(CrcMode::Rocketlog)).unwrap();
    assert_eq!(dl.end_index(), 4);
}

#[test]
fn java_zeros_leader_fills_crcs_in_after_crcd_entries_of_the_same_term() {
    let dl = crc_log();
    let (mut dl, _) = DLedger::open(dl.into_store(), cfg(CrcMode::JavaZeros)).unwrap();
    let a = dl.append_as_leader(b"after").unwrap();
    let h = Header::read(&dl.get(a.index).unwrap()).unwrap();
    assert!(h.body_crc != 0 && h.chain_crc != 0);
    dl.flush_all().unwrap();
    let (mut dl, rep) = DLedger::open(dl.into_store(), cfg(CrcMode::JavaZeros)).unwrap();
    assert_eq!(dl.end_index(), a.index, "recovery kept it: {rep}");
    // In a new term, JavaZeros writes zeros again.
    dl.set_term(4, None).unwrap();
    let b = dl.append_as_leader(b"new term").unwrap();
    let h = Header::read(&dl.get(b.index).unwrap()).unwrap();
    assert_eq!((h.body_crc, h.chain_crc), (0, 0));
}

#[test]
fn sync_flush_puts_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RocketMqConfig {
        mapped_file_size_commit_log: 1 << 22,
        mapped_file_size_consume_queue: 20 * 1000,
        max_hash_slot_num: 64,
        max_index_num: 256,
        flush_disk_type: FlushDiskType::SyncFlush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    };
    let (store, _) = RocketMqStore::open(dir.path(), cfg).unwrap();
    let store = Arc::new(store);
    let (threads, per) = (8, 60);
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..per {
                    let body = format!("t{t}-m{i}");
                    let r = store
                        .put(&Message {
                            topic: "G",
                            queue_id: t,
                            flag: 0,
                            body: body.as_bytes(),
                            properties: b"",
                            sys_flag: 0,
                            born_timestamp: 1,
                            born_host: Host::V4 {
                                addr: [127, 0, 0, 1],
                                port: 1,
                            },
                            reconsume_times: 0,
                            prepared_transaction_offset: 0,
                        })
                        .unwrap();
                    // Acknowledged only once durable.
                    assert!(r.synced);
                    assert!(store.stats().durable_offset >= r.physical_offset + r.size);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let st = store.stats();
    let puts = (threads * per) as u64;
    eprintln!("{puts} SYNC_FLUSH puts, {} syncs", st.flush.syncs);
    assert!(
        st.flush.syncs < puts,
        "{} syncs for {puts} puts: no group commit",
        st.flush.syncs
    );
}
