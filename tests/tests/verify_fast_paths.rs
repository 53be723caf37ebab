//! The shortcuts `rocketlog verify` takes on a plain RocketMQ store, each
//! against an oracle that takes none:
//!
//! * the CLI's verify (parallel walk, index check on its own thread with its
//!   prefetching key-hash reader, consume-queue units read a window at a
//!   time, holes of the commitlog skipped through `PageRead::data_range`)
//!   reports exactly the problems of the core's sequential verifier run over
//!   a store that gives no hole hints, with the index checked through the
//!   original `index::verify` + `rocketmq::index_key_hashes` (one `Vec` per
//!   message), on the fixture and on copies with corrupted index entries,
//!   slots and a sparse commitlog tail holding a stray byte after a hole;
//! * `UnitWindow::get` returns what `Queue::get` returns for every queue
//!   offset, in any order, including units re-dispatched into memory.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rocketlog::mmap::MmapStore;
use rocketlog::resolve::resolve;
use rocketlog_core::codec::index_file::IndexGeometry;
use rocketlog_core::scan::consume_queue::{Confirmed, UnitWindow};
use rocketlog_core::scan::rocketmq::{self, Config, RecoveryMode, Summary, WalkVisitor};
use rocketlog_core::scan::{Problem, index};
use rocketlog_core::store::{LogId, MetaFile, PageRead, SegmentId, SegmentInfo, StoreError};
use rocketlog_tests::fixtures;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::write(&t, fs::read(e.path()).unwrap()).unwrap();
        }
    }
}

/// A writable copy of the RocketMQ fixture store.
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let src = fixtures::all()
        .into_iter()
        .find(|f| f.group() == "rocketmq")
        .expect("a rocketmq fixture")
        .store();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    copy_dir(&src, &root);
    (t, root)
}

/// The store as read, minus any hole hint: every byte is read (the default
/// `data_range`).
struct NoHints<'a>(&'a MmapStore);

impl PageRead for NoHints<'_> {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.0.logs(like)
    }
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.0.segments(log)
    }
    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.0.with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.read_meta(file)
    }
}

/// What `rocketlog verify` reports (the CLI's own code path).
fn cli(root: &Path) -> Vec<Problem> {
    let r = resolve(root).unwrap();
    let store = MmapStore::new(r.paths.clone());
    rocketlog::walk::verify(&store, &r)
}

/// The oracle: one sequential recovery and walk over a store without hole
/// hints, the index checked through the `Vec`-returning key-hash path.
fn oracle(root: &Path) -> Vec<Problem> {
    let r = resolve(root).unwrap();
    let mmap = MmapStore::new(r.paths.clone());
    let store = NoHints(&mmap);
    let cfg = Config::default();
    let rec = rocketmq::recover(&store, &cfg).unwrap();
    let summary: Summary = rec.summary.clone();
    let walker = |s: &Summary, o, v: &mut WalkVisitor<'_>| rocketmq::walk(&store, s, o, v);
    let (_, problems) = rocketmq::verify_recovered(
        &store,
        rec,
        walker,
        |_, _, _| {},
        || {
            index::verify(&store, &cfg.index, summary.min_offset, summary.end, |o| {
                rocketmq::index_key_hashes(&store, &summary, o)
            })
        },
    )
    .unwrap();
    problems
}

fn index_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The fixture's index geometry (from its expected metadata).
fn geometry() -> IndexGeometry {
    let (_t, root) = fixture_copy();
    let len = fs::metadata(&index_files(&root)[0]).unwrap().len();
    // maxHashSlotNum 16, maxIndexNum 64 (expected_meta.json).
    let g = IndexGeometry::from_len_and_slots(len, 16).unwrap();
    assert_eq!(g.entries, 64, "fixture geometry");
    g
}

fn write_at(path: &Path, at: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

fn read_i64(path: &Path, at: usize) -> i64 {
    let b = fs::read(path).unwrap();
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

fn assert_same(root: &Path, what: &str) -> Vec<Problem> {
    let want = oracle(root);
    let got = cli(root);
    assert_eq!(got, want, "{what}");
    want
}

#[test]
fn fixture_cli_verify_matches_the_sequential_oracle() {
    let (_t, root) = fixture_copy();
    let p = assert_same(&root, "fixture");
    assert!(
        p.iter().all(|p| p.log != LogId::IndexFile),
        "the fixture's index is sound: {p:?}"
    );
}

/// Index entries and slots corrupted one at a time, in the first and the
/// last index file, at the first, a middle and the last used entry: the CLI
/// finds the same problems, in the same order, as the oracle (and finds some).
#[test]
fn corrupted_index_reports_the_same_problems() {
    let g = geometry();
    let (_t, base) = fixture_copy();
    let files = index_files(&base);
    let count = |p: &Path| {
        let b = fs::read(p).unwrap();
        i32::from_be_bytes(b[36..40].try_into().unwrap()) as u32
    };
    type Damage = fn(&Path, IndexGeometry, u32);
    let damages: [(&str, Damage); 6] = [
        ("keyHash flipped", |p, g, k| {
            write_at(p, g.entry_pos(k) as u64, &0x1234_5677i32.to_be_bytes());
        }),
        ("phyOffset into a body", |p, g, k| {
            let at = g.entry_pos(k) + 4;
            let o = read_i64(p, at);
            write_at(p, at as u64, &(o + 7).to_be_bytes());
        }),
        ("phyOffset past the end", |p, g, k| {
            write_at(p, (g.entry_pos(k) + 4) as u64, &(1i64 << 40).to_be_bytes());
        }),
        ("phyOffset negative", |p, g, k| {
            write_at(p, (g.entry_pos(k) + 4) as u64, &(-5i64).to_be_bytes());
        }),
        ("prev links forward", |p, g, k| {
            write_at(
                p,
                (g.entry_pos(k) + 16) as u64,
                &(k as i32 + 1).to_be_bytes(),
            );
        }),
        ("slot names an unused entry", |p, g, k| {
            write_at(p, g.slot_pos(k % g.slots) as u64, &60i32.to_be_bytes());
        }),
    ];
    let mut checked = 0;
    for (fi, file) in files.iter().enumerate() {
        let n = count(file);
        assert!(n > 2, "index file {file:?} has entries");
        for k in [1, n / 2, n - 1] {
            for (what, damage) in &damages {
                let t = tempfile::tempdir().unwrap();
                let root = t.path().join("store");
                copy_dir(&base, &root);
                damage(&index_files(&root)[fi], g, k);
                let p = assert_same(&root, &format!("{what}, file {fi}, entry {k}"));
                assert!(
                    p.iter().any(|p| p.log == LogId::IndexFile),
                    "{what}, file {fi}, entry {k}: no index problem found"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, files.len() * 3 * damages.len());
}

/// The last commitlog file made sparse past the end (a hole), with one stray
/// byte after the hole: the CLI, which skips holes, reports it at the same
/// offset as the oracle, which reads every byte; and the position is the
/// first non-zero byte after the end found by a plain byte loop.
#[test]
fn stray_byte_after_a_hole_is_still_reported() {
    let (_t, root) = fixture_copy();
    let want = oracle(&root);
    let r = resolve(&root).unwrap();
    let end = {
        let store = MmapStore::new(r.paths.clone());
        rocketmq::recover(&store, &Config::default())
            .unwrap()
            .summary
            .end
    };
    let dir = root.join("commitlog");
    let mut segs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs.last().unwrap().clone();
    let id: u64 = last.file_name().unwrap().to_str().unwrap().parse().unwrap();
    let bytes = fs::read(&last).unwrap();
    let len = bytes.len() as u64;
    assert!(id < end && end < id + len, "the end lies in the last file");
    // Rewrite the file: the records, then a hole to the end of the file.
    let keep = (end - id) as usize;
    fs::remove_file(&last).unwrap();
    let mut f = fs::File::create(&last).unwrap();
    f.write_all(&bytes[..keep]).unwrap();
    f.set_len(len).unwrap();
    drop(f);
    // Same store, same problems as before (nothing past the end).
    assert_eq!(cli(&root), want, "sparse tail, no stray byte");
    assert_eq!(oracle(&root), want, "sparse tail, no stray byte (oracle)");

    // A stray byte well past a hole (4 KiB-aligned blocks before it untouched).
    let stray = len - 1000;
    write_at(&last, stray, &[0x42]);
    let on_disk = fs::read(&last).unwrap();
    let first = on_disk[keep..].iter().position(|&b| b != 0).unwrap() as u64 + end;
    assert_eq!(first, id + stray);
    let got = assert_same(&root, "stray byte after a hole");
    let found: Vec<&Problem> = got
        .iter()
        .filter(|p| p.log == LogId::CommitLog && p.offset == first)
        .collect();
    assert_eq!(found.len(), 1, "{got:?}");
    assert!(
        found[0].to_string().contains("after the recovered end"),
        "{}",
        found[0]
    );
}

/// `UnitWindow::get` against `Queue::get`, every offset of every queue
/// (and a few past the end), ascending, descending and jumping, on the
/// fixture and on copies whose queues lost their last file (recovery then
/// re-dispatches the missing units into memory, with normal and abnormal
/// recovery).
#[test]
fn unit_window_reads_what_get_reads() {
    let (_t, base) = fixture_copy();
    let damaged = {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("store");
        copy_dir(&base, &root);
        // Every queue's last file removed, and one queue's first file cut short.
        let cq = root.join("consumequeue");
        let mut cut = false;
        for topic in fs::read_dir(&cq).unwrap() {
            for q in fs::read_dir(topic.unwrap().path()).unwrap() {
                let q = q.unwrap().path();
                let mut files: Vec<PathBuf> = fs::read_dir(&q)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                files.sort();
                if files.len() > 1 {
                    fs::remove_file(files.last().unwrap()).unwrap();
                }
                if !cut {
                    let f = OpenOptions::new().write(true).open(&files[0]).unwrap();
                    f.set_len(70).unwrap();
                    cut = true;
                }
            }
        }
        (t, root)
    };
    let mut compared = 0u64;
    let mut with_memory = false;
    for (root, mode) in [
        (&base, RecoveryMode::Normal),
        (&damaged.1, RecoveryMode::Normal),
        (&damaged.1, RecoveryMode::Abnormal),
    ] {
        let r = resolve(root).unwrap();
        let store = MmapStore::new(r.paths.clone());
        let cfg = Config {
            recovery: mode,
            ..Config::default()
        };
        let rec = rocketmq::recover(&store, &cfg).unwrap();
        with_memory |= root == &damaged.1 && rec.summary.redispatched > 0;
        for q in rec.queues.queues() {
            let top = q.max_offset() + 3;
            let orders: [Vec<u64>; 3] = [
                (0..top).collect(),
                (0..top).rev().collect(),
                (0..top).map(|i| (i * 7 + 3) % top).collect(),
            ];
            for order in orders {
                let mut w = UnitWindow::new(q);
                for n in order {
                    let want = q.get(&store, n);
                    let got = w.get(&store, n);
                    assert_eq!(
                        got,
                        want,
                        "{root:?} {mode:?} {} {} unit {n}",
                        q.topic(),
                        q.queue_id()
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(with_memory, "the damaged copy re-dispatched units");

    // Confirmations made through windows reach `Confirmed`, and only those.
    let r = resolve(&base).unwrap();
    let store = MmapStore::new(r.paths.clone());
    let rec = rocketmq::recover(&store, &Config::default()).unwrap();
    let mut confirmed = Confirmed::default();
    for q in rec.queues.queues() {
        let mut w = UnitWindow::new(q);
        for n in (0..q.max_offset() + 70).filter(|n| n % 3 == 1) {
            w.confirm(n);
        }
        confirmed.absorb(w);
    }
    for q in rec.queues.queues() {
        let key = (q.topic().to_owned(), q.queue_id());
        for n in 0..q.max_offset() + 70 {
            let want = n % 3 == 1 && n >= q.min_offset();
            assert_eq!(confirmed.contains(&key, n), want, "{key:?} {n}");
        }
    }
    assert!(compared > 100, "{compared}");
}

/// The CLI's verify is identical to the oracle on the copy with damaged
/// consume queues too (units read through windows on both sides; the unit
/// problems themselves come from `ConsumeQueues::verify_except`).
#[test]
fn damaged_queues_report_the_same_problems() {
    let (_t, root) = fixture_copy();
    let cq = root.join("consumequeue");
    let topic = fs::read_dir(&cq).unwrap().next().unwrap().unwrap().path();
    let q = fs::read_dir(&topic)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut files: Vec<PathBuf> = fs::read_dir(&q)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // A unit's size changed (the unit no longer matches its message).
    write_at(&files[0], 20 + 8, &77i32.to_be_bytes());
    let want = oracle(&root);
    let got = cli(&root);
    // The CLI adds its "unit does not point back" warnings after the
    // verifier's problems; the verifier's own part is identical.
    assert_eq!(&got[..want.len()], &want[..]);
    assert!(
        got[want.len()..]
            .iter()
            .all(|p| matches!(p.log, LogId::ConsumeQueue { .. })),
        "{:?}",
        &got[want.len()..]
    );
    assert!(
        want.iter()
            .any(|p| matches!(p.log, LogId::ConsumeQueue { .. }))
    );
}
