//! Fault injection on the native host.
//!
//! * **Injected EIO / ENOSPC** ([`FaultyDisk`] around the real memory-mapped
//!   `DiskStore`, under both core engines): the n-th write, sync, file
//!   creation (create + preallocate + map), meta-file write, directory sync,
//!   removal or read fails. The error reaches the caller with its kind; the
//!   store latches (every later mutation fails, nothing is retried); a reopen
//!   over a plain `DiskStore` recovers every acknowledged record (a `flush`
//!   that returned `Ok`), accepts nothing torn (the half-written record of a
//!   failed write), and hands out only records that were written.
//! * **Real OS failures** through the embedding API: a full tmpfs (ENOSPC)
//!   for DLedger and for RocketMQ in async mode (the sync RocketMQ case is in
//!   `native_store.rs`), a filesystem remounted read-only under an open
//!   store, and files removed underneath an open store.
//!
//! The tmpfs cases need `mount` (root); they print `SKIPPED: <reason>` and
//! pass when it is refused.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rocketlog::embed::{
    DLedgerStore, DLedgerStoreConfig, Error, FlushDiskType, Host, Message, RocketMqConfig,
    RocketMqStore,
};
use rocketlog::store::{DiskStore, Layout, os};
use rocketlog_core::checked::Checked;
use rocketlog_core::codec::dledger::{DataRecord, Line, decode as decode_entry};
use rocketlog_core::codec::message::{DecodeOptions, Record, decode as decode_message};
use rocketlog_core::engine::commitlog::{CommitLog, CommitLogConfig, EngineError};
use rocketlog_core::engine::dledger::{DLedger, DLedgerConfig, DLedgerError};
use rocketlog_core::store::{PageStore, StoreError, StoreErrorKind};
use rocketlog_tests::faulty_disk::{FaultyDisk, Op};

fn body(i: u64) -> Vec<u8> {
    let len = 60 + (i * 104_729 % 900) as usize;
    format!("b{i};").bytes().cycle().take(len).collect()
}

fn msg<'a>(b: &'a [u8], props: &'a [u8]) -> Message<'a> {
    Message {
        topic: "F",
        queue_id: 0,
        flag: 0,
        body: b,
        properties: props,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: Host::V4 {
            addr: [10, 9, 8, 7],
            port: 6,
        },
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn mq_cfg() -> CommitLogConfig {
    CommitLogConfig {
        mapped_file_size_commit_log: 16 * 1024,
        mapped_file_size_consume_queue: 20 * 64,
        max_hash_slot_num: 32,
        max_index_num: 64,
        ..CommitLogConfig::default()
    }
}

fn mq_open<S: PageStore>(s: S) -> Result<CommitLog<S>, EngineError> {
    CommitLog::open(s, mq_cfg(), Box::new(os::index_file_name), os::now_ms())
}

fn dl_cfg() -> DLedgerConfig {
    DLedgerConfig {
        data_file_size: 16 * 1024,
        index_file_size: 32 * 64,
        ..DLedgerConfig::default()
    }
}

fn engine_store_kind(e: &EngineError) -> Option<StoreErrorKind> {
    match e {
        EngineError::Store(s) => Some(s.kind),
        _ => None,
    }
}

fn dledger_store_kind(e: &DLedgerError) -> Option<StoreErrorKind> {
    match e {
        DLedgerError::Store(s) => Some(s.kind),
        _ => None,
    }
}

/// What a fault case did.
struct Outcome {
    fired: bool,
    acked: u64,
    attempted: u64,
    recovered: u64,
}

const PUTS: u64 = 160;
const FLUSH_EVERY: u64 = 8;

/// Puts into the RocketMQ engine over a `FaultyDisk` armed with `op`/`nth`,
/// flushing every few puts (a flush that returns `Ok` acknowledges every put
/// before it), then reopens over a plain `DiskStore` and checks.
fn mq_case(op: Op, nth: u64, kind: StoreErrorKind) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::rocketmq(dir.path());
    let mut e = mq_open(Checked::new(FaultyDisk::new(DiskStore::new(
        layout.clone(),
    ))))
    .unwrap();
    e.store().inner().arm(op, nth, kind, false);
    let (mut acked, mut attempted) = (0, 0);
    let mut failure: Option<EngineError> = None;
    for i in 0..PUTS {
        attempted = i + 1;
        let b = body(i);
        let props = format!("KEYS\u{1}k{i}\u{2}");
        if let Err(err) = e.put(&msg(&b, props.as_bytes()), os::now_ms()) {
            failure = Some(err);
            break;
        }
        if (i + 1) % FLUSH_EVERY == 0 {
            match e.flush() {
                Ok(()) => acked = i + 1,
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if op == Op::Read && i % 16 == 15 {
            // Reads: look a record up through the queue and the index.
            if let Err(err) = e
                .read_by_queue("F", 0, (i / 2) as i64)
                .and_then(|_| e.find_by_key("F", &format!("k{}", i / 3)))
            {
                failure = Some(err);
                break;
            }
        }
    }
    let fired = e.store().inner().fired();
    let what = format!("{op:?} #{nth} {kind:?}");
    if let Some(err) = &failure {
        assert!(fired, "{what}: failed without an injected fault: {err}");
        assert_eq!(engine_store_kind(err), Some(kind), "{what}: {err}");
        assert!(err.to_string().contains("injected"), "{what}: {err}");
        if op != Op::Read {
            // Latched: the next put and flush fail without touching the disk,
            // even though the fault is not sticky.
            let b = body(attempted);
            let again = e.put(&msg(&b, b""), os::now_ms()).unwrap_err();
            assert!(
                matches!(
                    engine_store_kind(&again),
                    Some(StoreErrorKind::PreviousIo) | Some(_)
                ),
                "{what}: {again}"
            );
            assert!(e.flush().is_err(), "{what}: flush after a failure");
            assert!(e.store().is_latched(), "{what}: the store latched");
        }
    } else {
        assert!(!fired, "{what}: a fault fired but no call failed");
    }
    drop(e);
    // Reopen over the real store: recovery, then check.
    let e = mq_open(Checked::new(DiskStore::new(layout))).unwrap_or_else(|err| {
        panic!("{what}: reopen failed: {err}");
    });
    let n = u64::try_from(e.queue_max_offset("F", 0)).unwrap_or(0);
    assert!(
        (acked..=attempted).contains(&n),
        "{what}: {n} records recovered, {acked} acknowledged, {attempted} attempted"
    );
    for qo in 0..n {
        let rec = e
            .read_by_queue("F", 0, qo as i64)
            .unwrap_or_else(|err| panic!("{what}: record {qo}: {err}"))
            .unwrap_or_else(|| panic!("{what}: record {qo} missing"));
        let Ok(Record::Message(m)) = decode_message(&rec, 0, DecodeOptions::LENIENT) else {
            panic!("{what}: record {qo} does not decode");
        };
        assert_eq!(m.body, body(qo), "{what}: record {qo}");
        assert_eq!(m.queue_offset, qo as i64, "{what}: record {qo}");
    }
    // The index was rebuilt or kept for what survived.
    if n > 0 {
        let k = n - 1;
        assert!(
            !e.find_by_key("F", &format!("k{k}")).unwrap().is_empty(),
            "{what}: key k{k} not indexed after recovery"
        );
    }
    e.shutdown().unwrap();
    Outcome {
        fired,
        acked,
        attempted,
        recovered: n,
    }
}

/// The same for the DLedger engine (appends as leader, `flush_all` acknowledges).
fn dl_case(op: Op, nth: u64, kind: StoreErrorKind) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::dledger(dir.path(), "n0");
    let (mut e, _) =
        DLedger::open(FaultyDisk::new(DiskStore::new(layout.clone())), dl_cfg()).unwrap();
    e.set_term(2, None).unwrap();
    e.store().arm(op, nth, kind, false);
    let (mut acked, mut attempted) = (0, 0);
    let mut failure: Option<DLedgerError> = None;
    for i in 0..PUTS {
        attempted = i + 1;
        if let Err(err) = e.append_as_leader(&body(i)) {
            failure = Some(err);
            break;
        }
        if (i + 1) % FLUSH_EVERY == 0 {
            match e.flush_all().and_then(|()| e.persist_checkpoint()) {
                Ok(()) => acked = i + 1,
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if op == Op::Read
            && i % 16 == 15
            && let Err(err) = e.get((i / 2) as i64)
        {
            failure = Some(err);
            break;
        }
    }
    let fired = e.store().fired();
    let what = format!("dledger {op:?} #{nth} {kind:?}");
    if let Some(err) = &failure {
        assert!(fired, "{what}: failed without an injected fault: {err}");
        assert_eq!(dledger_store_kind(err), Some(kind), "{what}: {err}");
        if op != Op::Read {
            assert!(
                e.append_as_leader(b"after").is_err(),
                "{what}: append after a failure"
            );
            assert!(e.flush_all().is_err(), "{what}: flush after a failure");
            assert!(e.latched().is_some(), "{what}: the engine latched");
        }
    } else {
        assert!(!fired, "{what}: a fault fired but no call failed");
    }
    drop(e);
    let (e, report) = DLedger::open(DiskStore::new(layout), dl_cfg())
        .unwrap_or_else(|err| panic!("{what}: reopen failed: {err}"));
    let n = u64::try_from(e.end_index() + 1).unwrap_or(0);
    assert!(
        (acked..=attempted).contains(&n),
        "{what}: {n} entries recovered, {acked} acknowledged, {attempted} attempted; {report:?}"
    );
    for i in 0..n {
        let raw = e
            .get(i as i64)
            .unwrap_or_else(|err| panic!("{what}: entry {i}: {err}"));
        let Ok(DataRecord::Entry(v)) = decode_entry(&raw, 0, Line::Classic) else {
            panic!("{what}: entry {i} does not decode");
        };
        assert_eq!((v.index, v.term), (i as i64, 2), "{what}");
        assert_eq!(v.body, body(i), "{what}: entry {i}");
    }
    Outcome {
        fired,
        acked,
        attempted,
        recovered: n,
    }
}

const NTHS: [u64; 5] = [1, 2, 3, 7, 25];

fn matrix(name: &str, case: fn(Op, u64, StoreErrorKind) -> Outcome) {
    let mut fired = 0;
    let mut total = 0;
    let mut lost_unacked = 0;
    for op in [
        Op::Write,
        Op::Sync,
        Op::Create,
        Op::WriteMeta,
        Op::SyncDir,
        Op::Read,
    ] {
        for nth in NTHS {
            for kind in [
                StoreErrorKind::Io,
                StoreErrorKind::NoSpace,
                StoreErrorKind::ReadOnly,
            ] {
                if kind != StoreErrorKind::Io && !matches!(op, Op::Write | Op::Create) {
                    continue;
                }
                let o = case(op, nth, kind);
                total += 1;
                if o.fired {
                    fired += 1;
                    lost_unacked += o.attempted - o.recovered;
                }
                assert!(o.acked <= o.recovered);
            }
        }
    }
    println!(
        "faults: {name}: {total} cases, {fired} fired; {lost_unacked} unacknowledged records not recovered in all"
    );
    assert!(
        fired * 4 >= total * 3,
        "only {fired} of {total} faults fired"
    );
}

#[test]
fn rocketmq_engine_on_disk_survives_injected_eio_and_enospc() {
    matrix("rocketmq", mq_case);
}

#[test]
fn dledger_engine_on_disk_survives_injected_eio_and_enospc() {
    matrix("dledger", dl_case);
}

#[test]
fn a_failed_removal_latches_and_reopens_with_every_remaining_record() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::rocketmq(dir.path());
    let mut e = mq_open(Checked::new(FaultyDisk::new(DiskStore::new(
        layout.clone(),
    ))))
    .unwrap();
    for i in 0..100 {
        e.put(&msg(&body(i), b""), os::now_ms()).unwrap();
    }
    e.flush().unwrap();
    e.store()
        .inner()
        .arm(Op::Remove, 1, StoreErrorKind::Io, false);
    let err = e.delete_head_files(2).unwrap_err();
    assert_eq!(engine_store_kind(&err), Some(StoreErrorKind::Io), "{err}");
    assert!(e.put(&msg(b"x", b""), os::now_ms()).is_err());
    drop(e);
    let e = mq_open(Checked::new(DiskStore::new(layout))).unwrap();
    let min_q = e.queues()[0].2;
    assert_eq!(e.queue_max_offset("F", 0), 100);
    for qo in 0..100 {
        match e.read_by_queue("F", 0, qo).unwrap() {
            Some(rec) => {
                let Ok(Record::Message(m)) = decode_message(&rec, 0, DecodeOptions::LENIENT) else {
                    panic!("record {qo}");
                };
                assert_eq!(m.body, body(qo as u64));
            }
            // Only records of a removed head file may be missing.
            None => assert!(
                qo < 100 && e.min_offset() > 0,
                "record {qo} (queue min {min_q})"
            ),
        }
    }
}

// ------------------------------------------------------------ real OS faults

/// A tmpfs mounted at a fresh directory; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, opt: &str) -> Result<(), String> {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(self.dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn embed_store_kind(e: &Error) -> Option<StoreErrorKind> {
    match e {
        Error::Store(s)
        | Error::Engine(EngineError::Store(s))
        | Error::DLedger(DLedgerError::Store(s))
        | Error::Flush(rocketlog::flusher::WaitError::Failed(s)) => Some(s.kind),
        _ => None,
    }
}

fn dl_embed_cfg(base: &Path, sync: bool) -> DLedgerStoreConfig {
    let mut c = DLedgerStoreConfig::new(base, "n0");
    c.mapped_file_size_for_entry_data = 64 * 1024;
    c.mapped_file_size_for_entry_index = 32 * 1024;
    c.sync_flush = sync;
    c.clean_interval = 0;
    c
}

fn mq_embed_cfg(flush: FlushDiskType) -> RocketMqConfig {
    RocketMqConfig {
        mapped_file_size_commit_log: 64 * 1024,
        mapped_file_size_consume_queue: 20 * 256,
        max_hash_slot_num: 64,
        max_index_num: 256,
        flush_disk_type: flush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    }
}

#[test]
fn dledger_on_a_full_disk_fails_cleanly_latches_and_recovers() {
    let fs_ = match Tmpfs::mount("1m") {
        Ok(t) => t,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let cfg = dl_embed_cfg(fs_.path(), true);
    let (s, _) = DLedgerStore::open(cfg.clone()).unwrap();
    s.set_term(1, None).unwrap();
    let mut acked = 0u64;
    let err = loop {
        match s.append(&body(acked)) {
            Ok(a) => {
                assert_eq!(a.index, acked as i64);
                acked += 1;
            }
            Err(e) => break e,
        }
        assert!(acked < 100_000, "the disk never filled");
    };
    assert_eq!(
        embed_store_kind(&err),
        Some(StoreErrorKind::NoSpace),
        "{err}"
    );
    assert!(
        err.to_string().contains(&fs_.path().display().to_string()),
        "names the file: {err}"
    );
    let again = s.append(b"x").unwrap_err();
    assert_eq!(
        embed_store_kind(&again),
        Some(StoreErrorKind::PreviousIo),
        "latched: {again}"
    );
    assert!(acked > 100, "{acked}");
    drop(s);
    // Reopen on the same full disk: every acknowledged entry is there.
    let (s, _) = DLedgerStore::open(cfg).unwrap();
    assert!(s.stats().end_index + 1 >= acked as i64);
    for i in 0..acked {
        let raw = s.get(i as i64).unwrap();
        assert!(raw.ends_with(&body(i)), "entry {i}");
    }
}

#[test]
fn rocketmq_async_on_a_full_disk_keeps_everything_flushed() {
    let fs_ = match Tmpfs::mount("1m") {
        Ok(t) => t,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let root = fs_.path().join("store");
    let cfg = mq_embed_cfg(FlushDiskType::AsyncFlush);
    let (s, _) = RocketMqStore::open(&root, cfg.clone()).unwrap();
    let (mut flushed, mut put) = (0u64, 0u64);
    let err = loop {
        let b = body(put);
        let r = s.put(&msg(&b, b"")).and_then(|_| {
            put += 1;
            if put % 10 == 0 {
                s.flush().map(|()| flushed = put)
            } else {
                Ok(())
            }
        });
        if let Err(e) = r {
            break e;
        }
        assert!(put < 100_000, "the disk never filled");
    };
    assert_eq!(
        embed_store_kind(&err),
        Some(StoreErrorKind::NoSpace),
        "{err}"
    );
    assert!(
        s.put(&msg(b"x", b"")).is_err() && s.flush().is_err(),
        "latched"
    );
    drop(s);
    // Recovery rebuilds the consume queue of the records put since the last
    // flush, which may need a file the full disk cannot hold: then the
    // reopen fails, clearly, and succeeds once there is room.
    let (s, report) = match RocketMqStore::open(&root, cfg.clone()) {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(embed_store_kind(&e), Some(StoreErrorKind::NoSpace), "{e}");
            assert!(e.to_string().contains(&root.display().to_string()), "{e}");
            println!("reopen on the full disk: {e}");
            fs_.remount("size=4m").unwrap();
            RocketMqStore::open(&root, cfg).unwrap()
        }
    };
    assert!(report.abnormal_shutdown);
    let n = s.queue_max_offset("F", 0) as u64;
    // The failed put itself may survive whole (its commitlog record was
    // written; what failed was the consume-queue file after it): a failed
    // put is "unknown", like a timeout, never "torn".
    assert!(
        (flushed..=put + 1).contains(&n),
        "{n} recovered, {flushed} flushed, {put} put"
    );
    let got = s.consume("F", 0, 0, usize::MAX).unwrap();
    assert_eq!(got.len() as u64, n);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.view().unwrap().body, body(i as u64), "record {i}");
    }
}

#[test]
fn a_read_only_filesystem_refuses_writers_clearly_and_recovers_after() {
    // Linux refuses to remount a filesystem read-only while a file on it is
    // open for writing ("mount point is busy"), so an open store cannot see
    // EROFS appear under it; the injected-fault matrices cover that path
    // (`ReadOnly` on create and meta writes). Here: a crashed store on a
    // filesystem that is then remounted read-only.
    let fs_ = match Tmpfs::mount("4m") {
        Ok(t) => t,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let root = fs_.path().join("store");
    let cfg = mq_embed_cfg(FlushDiskType::SyncFlush);
    let (s, _) = RocketMqStore::open(&root, cfg.clone()).unwrap();
    let mut offs = Vec::new();
    for i in 0..200 {
        offs.push(s.put(&msg(&body(i), b"")).unwrap().physical_offset);
    }
    // Dropped without close: the abort marker stays (a crash, as far as
    // recovery can tell), and nothing is open any more.
    drop(s);
    if let Err(why) = fs_.remount("ro") {
        println!("SKIPPED: remount read-only refused: {why}");
        return;
    }
    // A writer is refused with a clear error naming the store.
    let e = RocketMqStore::open(&root, cfg.clone()).unwrap_err();
    assert!(
        matches!(
            embed_store_kind(&e),
            Some(StoreErrorKind::ReadOnly | StoreErrorKind::PermissionDenied)
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&root.display().to_string()), "{e}");
    let e = DLedgerStore::open(dl_embed_cfg(fs_.path(), true)).unwrap_err();
    assert!(
        matches!(
            embed_store_kind(&e),
            Some(StoreErrorKind::ReadOnly | StoreErrorKind::PermissionDenied)
        ),
        "{e}"
    );
    // The read-only CLI still reads it (and cannot have written anything).
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = ["rocketlog", "verify", root.to_str().unwrap()];
    let code = rocketlog::cli::run(argv, &mut out, &mut err);
    assert!(
        code == rocketlog::cli::exit::OK || code == rocketlog::cli::exit::PROBLEMS,
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    // Writable again: recovery runs and every acknowledged record is there.
    fs_.remount("rw").unwrap();
    let (s, report) = RocketMqStore::open(&root, cfg).unwrap();
    assert!(report.abnormal_shutdown);
    for (i, &o) in offs.iter().enumerate() {
        assert_eq!(
            s.get(o).unwrap().view().unwrap().body,
            body(i as u64),
            "record {i}"
        );
    }
    s.close().unwrap();
}

fn commitlog_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn files_removed_underneath_an_open_store() {
    // The head file removed while open: the store keeps working on its
    // mapping; the reopened store starts at the next file and says where.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let cfg = mq_embed_cfg(FlushDiskType::SyncFlush);
    let (s, _) = RocketMqStore::open(&root, cfg.clone()).unwrap();
    let mut offs = Vec::new();
    for i in 0..600 {
        offs.push(s.put(&msg(&body(i), b"")).unwrap().physical_offset);
    }
    let files = commitlog_files(&root);
    assert!(files.len() >= 4, "{files:?}");
    fs::remove_file(&files[0]).unwrap();
    // Still readable through the existing mapping, still writable.
    assert_eq!(s.get(offs[0]).unwrap().view().unwrap().body, body(0));
    for i in 600..620 {
        offs.push(s.put(&msg(&body(i), b"")).unwrap().physical_offset);
    }
    s.close().unwrap();
    let (s, report) = RocketMqStore::open(&root, cfg.clone()).unwrap();
    let size = cfg.mapped_file_size_commit_log;
    assert_eq!(s.stats().min_offset, size, "{report}");
    for (i, &o) in offs.iter().enumerate() {
        match s.get(o) {
            Ok(m) => assert_eq!(m.view().unwrap().body, body(i as u64)),
            Err(Error::NotFound(w)) => assert!(o < size, "record {i} at {o} lost: {w}"),
            Err(e) => panic!("record {i} at {o}: {e}"),
        }
    }
    s.close().unwrap();

    // A middle file removed: a hole in the commitlog. Reopen must not panic
    // or hand out garbage; it either refuses with a message naming the gap
    // or keeps what lies before it.
    let files = commitlog_files(&root);
    assert!(files.len() >= 3, "{files:?}");
    let gone = &files[1];
    fs::remove_file(gone).unwrap();
    match RocketMqStore::open(&root, cfg) {
        Err(e) => {
            let m = e.to_string();
            println!("reopen with a hole: {m}");
            assert!(m.contains("commitlog"), "{m}");
        }
        Ok((s, report)) => {
            println!("reopen with a hole: {report}");
            for (i, &o) in offs.iter().enumerate() {
                if let Ok(m) = s.get(o) {
                    assert_eq!(m.view().unwrap().body, body(i as u64), "record {i} at {o}");
                }
            }
            let got = s.consume("F", 0, 0, usize::MAX).unwrap();
            for m in &got {
                let v = m.view().unwrap();
                assert_eq!(v.body, body(v.queue_offset as u64));
            }
        }
    }
}

#[test]
fn store_errors_from_the_faulty_disk_name_the_operation() {
    // The wrapper itself: counts per kind, fires once, reports where.
    let dir = tempfile::tempdir().unwrap();
    let d = FaultyDisk::new(DiskStore::new(Layout::rocketmq(dir.path())));
    let log = rocketlog_core::store::LogId::CommitLog;
    d.create(&log, 0, 4096).unwrap();
    d.arm(Op::Write, 2, StoreErrorKind::Io, false);
    d.write(&log, 0, 0, b"abcd").unwrap();
    let e: StoreError = d.write(&log, 0, 4, b"efgh").unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Io);
    assert!(d.fired_at().unwrap().contains("commitlog segment 0 at 4"));
    d.write(&log, 0, 8, b"ijkl").unwrap();
    let mut b = [0u8; 12];
    rocketlog_core::store::PageRead::read(&d, &log, 0, 0, &mut b).unwrap();
    // The failed write landed half (a short write), the next one whole.
    assert_eq!(&b, b"abcdef\0\0ijkl");
    assert_eq!(d.seen(), 3);
}
