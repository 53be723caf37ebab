//! The parallel CommitLog walk (`rocketlog::walk::parallel`) against the
//! core's sequential `rocketmq::walk` / `verify_visiting` (the oracle): on the
//! fixture store and on corrupted copies (bit flips in a body, a header, the
//! stored offset, a magic, zeroed stretches, in a middle file of the log), the
//! visited items, counts, problems (kind, file, offset, order), recovered end
//! and visitor stops must be identical, for any thread count and stretch size.

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use rocketlog::mmap::MmapStore;
use rocketlog::resolve::resolve;
use rocketlog::walk::parallel::{self, Parallelism};
use rocketlog_core::codec::message::PHYSICAL_OFFSET_POS;
use rocketlog_core::scan::Problem;
use rocketlog_core::scan::rocketmq::{
    self, Config, Item, RecoveryMode, Summary, WalkOptions, WalkReport, WalkVisitor,
};
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

fn fixture_store() -> PathBuf {
    fixtures::all()
        .into_iter()
        .find(|f| f.group() == "rocketmq")
        .expect("a rocketmq fixture")
        .store()
}

fn open(root: &Path) -> MmapStore {
    MmapStore::new(resolve(root).unwrap().paths)
}

/// What a walk showed its visitor: (offset, message or blank, size).
type Seen = Vec<(u64, bool, i32)>;

fn sequential(
    store: &MmapStore,
    s: &Summary,
    opts: WalkOptions,
    stop_after: usize,
) -> (Seen, WalkReport) {
    let mut seen = Seen::new();
    let rep = rocketmq::walk(store, s, opts, |it| record(&mut seen, it, stop_after)).unwrap();
    (seen, rep)
}

fn par(
    store: &MmapStore,
    s: &Summary,
    opts: WalkOptions,
    p: Parallelism,
    stop_after: usize,
) -> (Seen, WalkReport) {
    let mut seen = Seen::new();
    let rep = parallel::walk(store, s, opts, p, |it| record(&mut seen, it, stop_after)).unwrap();
    (seen, rep)
}

fn record(seen: &mut Seen, it: Item<'_>, stop_after: usize) -> ControlFlow<()> {
    match it {
        Item::Message { offset, view } => seen.push((offset, true, view.total_size)),
        Item::Blank { offset, total_size } => seen.push((offset, false, total_size)),
    }
    if seen.len() >= stop_after {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}

const SPLITS: [Parallelism; 4] = [
    Parallelism {
        threads: 2,
        stretch: 97,
    },
    Parallelism {
        threads: 3,
        stretch: 777,
    },
    Parallelism {
        threads: 2,
        stretch: 16 << 10,
    },
    Parallelism {
        threads: 4,
        stretch: 4 << 20,
    },
];

/// Every comparison for one store; returns the sequential verify problems.
fn compare(root: &Path, mode: RecoveryMode) -> Vec<Problem> {
    let store = open(root);
    let cfg = Config {
        recovery: mode,
        ..Config::default()
    };
    let rec = rocketmq::recover(&store, &cfg).unwrap();
    let s = &rec.summary;
    for opts in [WalkOptions::default(), WalkOptions::STRICT] {
        let (seen, rep) = sequential(&store, s, opts, usize::MAX);
        assert!(!seen.is_empty(), "{root:?}: nothing walked");
        // Stops: early, in the middle, at the last item, never.
        for stop in [
            1,
            seen.len() / 3,
            seen.len() / 2 + 1,
            seen.len(),
            usize::MAX,
        ] {
            let want = sequential(&store, s, opts, stop);
            for p in SPLITS {
                let got = par(&store, s, opts, p, stop);
                assert_eq!(got, want, "{root:?} {mode:?} {opts:?} {p:?} stop {stop}");
            }
        }
        let _ = rep;
    }

    // verify: the core's sequential walk against the parallel walker.
    let mut want_units = Vec::new();
    let (_, want) = rocketmq::verify_visiting(&store, &cfg, |at, m, u| {
        want_units.push((at, m.queue_offset, u.clone().ok()));
    })
    .unwrap();
    for p in SPLITS {
        let mut got_units = Vec::new();
        let walker = |s: &Summary, o, v: &mut WalkVisitor<'_>| parallel::walk(&store, s, o, p, v);
        let (_, got) = rocketmq::verify_walking(&store, &cfg, walker, |at, m, u| {
            got_units.push((at, m.queue_offset, u.clone().ok()));
        })
        .unwrap();
        assert_eq!(got, want, "{root:?} {mode:?} {p:?}: verify problems");
        assert_eq!(got_units, want_units, "{root:?} {p:?}: units");

        // As the CLI runs it: the index check on its own thread beside the walk.
        let rec = rocketmq::recover(&store, &cfg).unwrap();
        let summary = rec.summary.clone();
        let (_, got) = std::thread::scope(|s| {
            let index = s.spawn(|| rocketmq::index_check(&store, &cfg, &summary));
            let walker =
                |s: &Summary, o, v: &mut WalkVisitor<'_>| parallel::walk(&store, s, o, p, v);
            rocketmq::verify_recovered(&store, rec, walker, |_, _, _| {}, || index.join().unwrap())
        })
        .unwrap();
        assert_eq!(
            got, want,
            "{root:?} {mode:?} {p:?}: verify with a threaded index check"
        );
    }
    want
}

/// The messages of a store in log order: (offset, size).
fn messages(root: &Path) -> Vec<(u64, i32)> {
    let store = open(root);
    let rec = rocketmq::recover(&store, &Config::default()).unwrap();
    let (seen, _) = sequential(&store, &rec.summary, WalkOptions::default(), usize::MAX);
    seen.into_iter()
        .filter(|x| x.1)
        .map(|x| (x.0, x.2))
        .collect()
}

/// The recovered end of a store.
fn msgs_end(root: &Path) -> u64 {
    let store = open(root);
    rocketmq::recover(&store, &Config::default())
        .unwrap()
        .summary
        .end
}

fn segment_len(root: &Path) -> u64 {
    let first = fs::read_dir(root.join("commitlog"))
        .unwrap()
        .flatten()
        .next()
        .unwrap();
    first.metadata().unwrap().len()
}

/// Flips the bits of `mask` in the commitlog byte at absolute offset `at`.
fn flip(root: &Path, at: u64, mask: u8) {
    let size = segment_len(root);
    let path = root
        .join("commitlog")
        .join(format!("{:020}", at / size * size));
    let mut b = fs::read(&path).unwrap();
    b[(at % size) as usize] ^= mask;
    fs::write(&path, b).unwrap();
}

#[test]
fn fixture_parallel_walk_matches_sequential() {
    let src = fixture_store();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&src, &root);
    for mode in [RecoveryMode::Normal, RecoveryMode::Abnormal] {
        let problems = compare(&root, mode);
        assert!(
            problems
                .iter()
                .all(|p| p.severity < rocketlog_core::scan::Severity::Warning),
            "the fixture verifies clean: {problems:?}"
        );
    }
}

#[test]
fn corrupted_copies_report_the_same_problems() {
    let src = fixture_store();
    let size = segment_len(&src);
    let msgs = messages(&src);
    let files = msgs.last().unwrap().0 / size + 1;
    assert!(files >= 4, "the fixture spans {files} files");
    // Messages of the second and third file.
    let in_file =
        |k: u64| -> Vec<(u64, i32)> { msgs.iter().copied().filter(|m| m.0 / size == k).collect() };
    let (f1, f2) = (in_file(1), in_file(2));
    assert!(f1.len() >= 3 && f2.len() >= 3);
    let mid = f2[f2.len() / 2];
    let body = |m: (u64, i32)| m.0 + 90;
    let cases: Vec<(&str, Vec<(u64, u8)>)> = vec![
        ("body of a middle message, file 2", vec![(body(mid), 0x10)]),
        (
            "bodies in files 1 and 2",
            vec![(body(f1[1]), 1), (body(mid), 4), (body(f2[0]), 0x80)],
        ),
        ("TOTALSIZE of a middle message, file 2", vec![(mid.0, 0x40)]),
        (
            "magic of the first message of file 2",
            vec![(f2[0].0 + 4, 1)],
        ),
        (
            "stored offset, file 1",
            vec![(f1[1].0 + PHYSICAL_OFFSET_POS as u64 + 7, 8)],
        ),
        (
            "header of file 1 and body of file 2",
            vec![(f1[2].0 + 6, 0xff), (body(mid), 2)],
        ),
    ];
    for (name, flips) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        copy_dir(&src, &root);
        for (at, mask) in &flips {
            flip(&root, *at, *mask);
        }
        for mode in [RecoveryMode::Normal, RecoveryMode::Abnormal] {
            let problems = compare(&root, mode);
            // (A torn-looking record ending abnormal recovery is a notice.)
            assert!(
                !problems.is_empty(),
                "{name} {mode:?}: the damage is reported"
            );
        }
        // Abnormal recovery checks from file 0: the first damaged record ends
        // the log there, whichever walk follows.
        let store = open(&root);
        let cfg = Config {
            recovery: RecoveryMode::Abnormal,
            ..Config::default()
        };
        let rec = rocketmq::recover(&store, &cfg).unwrap();
        if name.starts_with("stored offset") {
            // Java's recovery does not check the stored offset: only verify does.
            assert_eq!(rec.summary.end, msgs_end(&src), "{name}");
            continue;
        }
        let first = flips.iter().map(|f| f.0).min().unwrap();
        let damaged = msgs.iter().rev().find(|m| m.0 <= first).unwrap().0;
        assert_eq!(
            rec.summary.end, damaged,
            "{name}: the log ends at the damage"
        );
    }
}

#[test]
fn zeroed_tail_of_a_middle_file() {
    let src = fixture_store();
    let size = segment_len(&src);
    let msgs = messages(&src);
    let f2: Vec<_> = msgs.iter().filter(|m| m.0 / size == 2).collect();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&src, &root);
    let cut = f2[f2.len() / 2].0;
    let path = root.join("commitlog").join(format!("{:020}", 2 * size));
    let mut b = fs::read(&path).unwrap();
    let from = (cut % size) as usize;
    b[from..].fill(0);
    fs::write(&path, b).unwrap();
    for mode in [RecoveryMode::Normal, RecoveryMode::Abnormal] {
        compare(&root, mode);
    }
}

/// A body holding a fake record start (a message magic and its own offset as
/// PHYSICALOFFSET) right at a stretch boundary: the guessed start is wrong,
/// and the merge must notice and check that stretch from the true boundary.
#[test]
fn fake_record_start_inside_a_body() {
    let src = fixture_store();
    let size = segment_len(&src);
    let msgs = messages(&src);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&src, &root);
    let mut planted = 0;
    for stretch in [777u64, 16 << 10] {
        // A stretch boundary of file 2 inside a body, with room for the fake header.
        let fit = msgs.iter().find_map(|&(at, total)| {
            if at / size != 2 {
                return None;
            }
            let (body, end) = (at + 88, at + total as u64);
            let b = (body - 2 * size).div_ceil(stretch) * stretch + 2 * size;
            (b + 40 < end).then_some(b)
        });
        let Some(q) = fit else { continue };
        let path = root.join("commitlog").join(format!("{:020}", 2 * size));
        let mut b = fs::read(&path).unwrap();
        let p = (q % size) as usize;
        b[p + 4..p + 8].copy_from_slice(&rocketlog_core::codec::message::MAGIC_V1.to_be_bytes());
        b[p + PHYSICAL_OFFSET_POS..p + PHYSICAL_OFFSET_POS + 8].copy_from_slice(&q.to_be_bytes());
        fs::write(&path, b).unwrap();
        planted += 1;
    }
    assert!(planted > 0, "no body spans a stretch boundary");
    for mode in [RecoveryMode::Normal, RecoveryMode::Abnormal] {
        compare(&root, mode);
    }
}
