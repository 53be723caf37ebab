//! The `rocketlog` CLI on hostile inputs: empty, all-zero, all-0xFF and random
//! files, wrong sizes, names that are not offsets, directories where files
//! should be, hostile length fields, unreadable files. Each must give a clear
//! message naming the file (and the offset, for record problems) and the
//! documented exit code — never a panic — and must leave the input unchanged.
//!
//! Exit codes (see `rocketlog::cli`): 0 ok, 1 problems found, 2 usage error or
//! unreadable input.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rocketlog::cli::exit;
use rocketlog_tests::fixtures;

fn cli(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("rocketlog").chain(args.iter().copied());
    let code = rocketlog::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

type Snapshot = BTreeMap<PathBuf, (Option<Vec<u8>>, SystemTime)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        let mtime = md.modified().unwrap();
        if md.is_dir() {
            if let Ok(rd) = fs::read_dir(&p) {
                for e in rd {
                    stack.push(e.unwrap().path());
                }
            }
            out.insert(p, (None, mtime));
        } else {
            out.insert(p.clone(), (fs::read(&p).ok(), mtime));
        }
    }
    out
}

/// Runs `cmd PATH` and checks nothing under `root` changed.
fn run_ro(root: &Path, args: &[&str]) -> (i32, String, String) {
    let before = snapshot(root);
    let r = cli(args);
    assert!(
        snapshot(root) == before,
        "{args:?} modified {}",
        root.display()
    );
    r
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        v.extend_from_slice(&seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_be_bytes());
    }
    v.truncate(n);
    v
}

const F0: &str = "00000000000000000000";

fn write(p: &Path, b: &[u8]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, b).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn fixture(group: &str) -> PathBuf {
    fixtures::all()
        .into_iter()
        .find(|f| f.group() == group)
        .unwrap_or_else(|| panic!("no {group} fixture"))
        .store()
}

/// A RocketMQ root whose commitlog holds one file with `bytes`.
fn commitlog_root(bytes: &[u8]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("commitlog").join(F0), bytes);
    fs::create_dir_all(t.path().join("consumequeue")).unwrap();
    t
}

/// A DLedger member directory whose data log holds one file with `bytes`.
fn dledger_member(bytes: &[u8]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("dledger-n0");
    write(&m.join("data").join(F0), bytes);
    fs::create_dir_all(m.join("index")).unwrap();
    t
}

/// `verify` exits 1 and names `file` and `offset`; `dump` exits 1 and says the same on stderr.
fn assert_reported(root: &Path, path: &Path, file: &Path, offset: u64) {
    let (code, out, err) = run_ro(root, &["verify", s(path)]);
    assert_eq!(
        code,
        exit::PROBLEMS,
        "verify {}: {out}{err}",
        path.display()
    );
    let needle = format!("{} at offset {offset}", file.display());
    assert!(
        out.contains(&needle),
        "verify output lacks {needle:?}:\n{out}"
    );
    let (code, _, err) = run_ro(root, &["dump", s(path), "--format", "jsonl"]);
    assert_eq!(code, exit::PROBLEMS, "dump {}: {err}", path.display());
    assert!(
        err.contains(&needle),
        "dump stderr lacks {needle:?}:\n{err}"
    );
}

#[test]
fn missing_and_foreign_paths_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("nope");
    let (code, _, err) = run_ro(t.path(), &["dump", s(&missing)]);
    assert_eq!(code, exit::USAGE);
    assert!(
        err.contains(s(&missing)) && err.contains("no such file"),
        "{err}"
    );

    // An empty directory.
    let (code, _, err) = run_ro(t.path(), &["verify", s(t.path())]);
    assert_eq!(code, exit::USAGE);
    assert!(err.contains("not a RocketMQ or DLedger store"), "{err}");

    // A zero-length file, with a name that does not tell its kind.
    let empty = t.path().join("x").join(F0);
    write(&empty, &[]);
    let (code, _, err) = run_ro(t.path(), &["stat", s(&empty)]);
    assert_eq!(code, exit::USAGE);
    assert!(err.contains(s(&empty)), "{err}");

    // A file whose name is not an offset.
    let named = t.path().join("segment.bin");
    write(&named, &noise(4096, 1));
    let (code, _, err) = run_ro(t.path(), &["dump", s(&named)]);
    assert_eq!(code, exit::USAGE);
    assert!(err.contains("20-digit"), "{err}");

    // Random bytes in a directory of offset-named files.
    let dir = t.path().join("logs");
    write(&dir.join(F0), &noise(4096, 2));
    let (code, _, err) = run_ro(t.path(), &["dump", s(&dir)]);
    assert_eq!(code, exit::USAGE);
    assert!(err.contains(s(&dir)) && err.contains("neither"), "{err}");

    // A directory named like a log file, with nothing in it.
    let d = t.path().join("d").join(F0);
    fs::create_dir_all(&d).unwrap();
    let (code, _, err) = run_ro(t.path(), &["verify", s(&d)]);
    assert_eq!(code, exit::USAGE, "{err}");
}

#[test]
fn all_zero_and_empty_commitlogs_are_empty_stores() {
    for bytes in [vec![0u8; 65536], Vec::new()] {
        let t = commitlog_root(&bytes);
        let (code, out, err) = run_ro(t.path(), &["dump", s(t.path()), "--format", "jsonl"]);
        assert_eq!((code, out.as_str()), (exit::OK, ""), "{err}");
        let (code, out, err) = run_ro(t.path(), &["verify", s(t.path())]);
        assert_eq!(code, exit::OK, "{out}{err}");
        let (code, _, err) = run_ro(t.path(), &["stat", s(t.path()), "--format", "json"]);
        assert_eq!(code, exit::OK, "{err}");
    }
}

#[test]
fn garbage_commitlogs_are_reported_with_file_and_offset() {
    for (what, bytes) in [("0xFF", vec![0xFFu8; 65536]), ("random", noise(65536, 7))] {
        let t = commitlog_root(&bytes);
        let file = t.path().join("commitlog").join(F0);
        assert_reported(t.path(), t.path(), &file, 0);
        // The commitlog directory and the single file as PATH.
        assert_reported(t.path(), &t.path().join("commitlog"), &file, 0);
        assert_reported(t.path(), &file, &file, 0);
        let _ = what;
    }
}

#[test]
fn garbage_dledger_data_is_reported_with_file_and_offset() {
    for bytes in [vec![0xFFu8; 65536], noise(65536, 11)] {
        let t = dledger_member(&bytes);
        let m = t.path().join("dledger-n0");
        let (code, out, err) = run_ro(t.path(), &["verify", s(&m)]);
        assert_eq!(code, exit::PROBLEMS, "{out}{err}");
        let file = m.join("data").join(F0);
        assert!(out.contains(s(&file)), "{out}");
    }
}

#[test]
fn hostile_length_fields_do_not_allocate_or_panic() {
    // A commitlog record header claiming i32::MAX bytes, after a valid record.
    let src = fixture("rocketmq").join("commitlog").join(F0);
    let mut b = fs::read(&src).unwrap();
    let first = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    b[first..first + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    let t = commitlog_root(&b);
    let file = t.path().join("commitlog").join(F0);
    // Java's recovery ends the log there (it reads the length as a torn tail,
    // a notice); verify names the file and offset whatever the severity.
    let (code, out, _) = run_ro(t.path(), &["verify", s(t.path())]);
    assert!(code == exit::OK || code == exit::PROBLEMS, "{out}");
    assert!(
        out.contains(&format!("{} at offset {first}", file.display())),
        "{out}"
    );
    assert!(out.contains("2147"), "the claimed length is named: {out}");
    let (code, out, err) = run_ro(t.path(), &["dump", s(t.path()), "--format", "jsonl"]);
    assert!(code == exit::OK || code == exit::PROBLEMS, "{err}");
    assert_eq!(out.lines().count(), 1, "only the record before the bad one");

    // A DLedger entry of size i32::MAX.
    let src = fixture("dledger");
    let member = fs::read_dir(&src).unwrap().next().unwrap().unwrap().path();
    let mut b = fs::read(member.join("data").join(F0)).unwrap();
    b[4..8].copy_from_slice(&i32::MAX.to_be_bytes());
    let t = dledger_member(&b);
    let m = t.path().join("dledger-n0");
    let (code, out, err) = run_ro(t.path(), &["verify", s(&m)]);
    assert_eq!(code, exit::PROBLEMS, "{out}{err}");
    assert!(out.contains(s(&m.join("data").join(F0))), "{out}");
}

#[test]
fn wrong_file_sizes_are_reported() {
    let src = fixture("rocketmq").join("commitlog");
    let t = tempfile::tempdir().unwrap();
    let cl = t.path().join("commitlog");
    let second = "00000000000000065536";
    write(&cl.join(F0), &fs::read(src.join(F0)).unwrap());
    let b = fs::read(src.join(second)).unwrap();
    write(&cl.join(second), &b[..30000]);
    let (code, out, err) = run_ro(t.path(), &["verify", s(&cl)]);
    assert_eq!(code, exit::PROBLEMS, "{out}{err}");
    assert!(out.contains(s(&cl.join(second))), "{out}");
}

#[test]
fn stray_names_and_directories_are_reported_not_fatal() {
    let src = fixture("rocketmq");
    let want = fixtures::read_jsonl(&src.parent().unwrap().join("expected.jsonl")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    copy_dir(&src, &root);
    let junk = root.join("commitlog").join("junk.txt");
    write(&junk, b"not a segment");
    let dir = root.join("commitlog").join("00000000000001048576");
    fs::create_dir_all(&dir).unwrap();

    let (code, out, err) = run_ro(t.path(), &["dump", s(&root), "--format", "jsonl"]);
    assert_eq!(code, exit::OK, "{err}");
    assert_eq!(out.lines().count(), want.len());
    assert!(err.contains(s(&junk)) && err.contains(s(&dir)), "{err}");

    let (code, out, _) = run_ro(t.path(), &["verify", s(&root)]);
    assert_eq!(code, exit::PROBLEMS, "{out}");
    assert!(out.contains(s(&junk)) && out.contains(s(&dir)), "{out}");
}

#[test]
fn garbage_consume_queues_and_index_files_do_not_panic() {
    let src = fixture("rocketmq");
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    copy_dir(&src, &root);
    let cq = root.join("consumequeue").join("TopicA").join("0").join(F0);
    let len = fs::metadata(&cq).unwrap().len() as usize;
    write(&cq, &noise(len, 3));
    let (code, out, err) = run_ro(t.path(), &["verify", s(&root)]);
    assert_eq!(code, exit::PROBLEMS, "{out}{err}");
    assert!(out.contains("consumequeue"), "{out}");
    let (code, _, err) = run_ro(
        t.path(),
        &["dump", s(&root), "--consume-queue", "--format", "jsonl"],
    );
    assert!(code == exit::OK || code == exit::PROBLEMS, "{err}");

    for e in fs::read_dir(root.join("index")).unwrap() {
        let p = e.unwrap().path();
        let len = fs::metadata(&p).unwrap().len() as usize;
        write(&p, &noise(len, 5));
    }
    let (code, out, err) = run_ro(
        t.path(),
        &[
            "query-key",
            s(&root),
            "--topic",
            "TopicA",
            "--key",
            "order-0",
        ],
    );
    assert!(code == exit::OK || code == exit::PROBLEMS, "{out}{err}");
    assert!(out.starts_with("{\"topic\":\"TopicA\""), "{out}");
}

#[test]
fn unreadable_files_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let src = fixture("rocketmq");
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    copy_dir(&src, &root);
    let f = root.join("commitlog").join(F0);
    fs::set_permissions(&f, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&f).is_ok() {
        eprintln!("skipped: this user can read a mode-000 file (running as root)");
        return;
    }
    let (code, out, err) = run_ro(t.path(), &["verify", s(&root)]);
    assert_ne!(code, exit::OK, "{out}{err}");
    assert!(format!("{out}{err}").contains(s(&f)), "{out}{err}");
}
