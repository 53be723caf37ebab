//! The hostile-input matrix for the `rocketlog` CLI, run as a real child
//! process (its exit status, its signals, its peak RSS): every case is a
//! small store with one defect, run through `verify`, `dump --format jsonl`
//! and `stat`. Each run must
//!
//! * exit with a documented code (0 ok, 1 problems, 2 unusable input) and
//!   the case's expected one, never die of a signal or print a panic;
//! * name the offending file (and the absolute offset, for record damage);
//! * stay within a memory bound relative to the input: peak RSS ≤ 64 MiB +
//!   2 × the bytes under PATH (files are mapped, so touched input pages count),
//!   measured with `/usr/bin/time -f %M` (`getrusage` of the child);
//! * leave the input unchanged (checked by `cli_hostile.rs` for the same
//!   commands in-process; not repeated here).
//!
//! The categories of docs/RELIABILITY.md ("Hostile inputs"): zero-length,
//! all-zero, all-0xFF and random files of every file kind; a record cut at
//! every field boundary; size fields of 0, negative and huge; wrong magic;
//! files of the wrong size; names that are not offsets; gaps and overlaps;
//! symlinks (to the store, dangling, loops); unreadable files (the CLI runs
//! as user `nobody` through `setpriv`, since the tests run as root); a
//! directory where a file should be. `cli_hostile.rs` has the in-process
//! checks of the first categories.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rocketlog_tests::fixtures;

const F0: &str = "00000000000000000000";
const MIB: u64 = 1 << 20;

/// The `rocketlog` binary of this build (built on first use).
fn cli_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<this test> -> target/<profile>/rocketlog
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let bin = profile_dir.join("rocketlog");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = profile_dir.parent().unwrap();
        let ok = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "rocketlog",
                "--bin",
                "rocketlog",
                "--target-dir",
            ])
            .arg(target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok || bin.exists(),
            "cannot build the rocketlog binary and none exists at {}",
            bin.display()
        );
        if !ok {
            eprintln!("note: build failed; using the existing {}", bin.display());
        }
        bin
    })
}

fn has_time() -> bool {
    Path::new("/usr/bin/time").exists()
}

struct Ran {
    code: Option<i32>,
    out: String,
    err: String,
    /// Peak RSS in bytes (None: `/usr/bin/time` missing).
    rss: Option<u64>,
}

/// Runs the CLI (as `nobody` if `unprivileged`), with a 120 s watchdog.
fn run(args: &[&str], unprivileged: bool) -> Ran {
    let scratch = tempfile::tempdir().unwrap();
    let rss_file = scratch.path().join("rss");
    // `time` (as root) writes the figure; `setpriv` then drops to `nobody`.
    let mut argv: Vec<String> = Vec::new();
    if has_time() {
        argv.extend([
            "/usr/bin/time".into(),
            "-f".into(),
            "%M".into(),
            "-o".into(),
        ]);
        argv.push(rss_file.to_str().unwrap().into());
    }
    if unprivileged {
        argv.extend(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]
            .into_iter()
            .map(String::from),
        );
    }
    argv.push(cli_bin().to_str().unwrap().into());
    argv.extend(args.iter().map(|s| s.to_string()));
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let started = Instant::now();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(100));
            if !Path::new(&format!("/proc/{id}")).exists() {
                return false;
            }
        }
        let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
        true
    });
    let out = child.wait_with_output().unwrap();
    // The child is reaped: the watchdog sees it gone within 100 ms.
    let hung = watchdog.join().unwrap_or(false);
    assert!(!hung, "{args:?} ran for 120 s");
    let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
    // With `time`, a non-zero exit adds "Command exited with non-zero status N".
    err = err
        .lines()
        .filter(|l| !l.starts_with("Command exited with non-zero status"))
        .collect::<Vec<_>>()
        .join("\n");
    let rss = fs::read_to_string(&rss_file).ok().and_then(|s| {
        s.lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .next_back()
            .map(|kb| kb * 1024)
    });
    let code = if has_time() {
        // `time` exits with the child's code; a signal shows in its output.
        let text = fs::read_to_string(&rss_file).unwrap_or_default();
        if text.contains("terminated by signal") {
            None
        } else {
            out.status.code()
        }
    } else {
        out.status.code()
    };
    Ran {
        code,
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
        rss,
    }
}

fn bytes_under(p: &Path) -> u64 {
    let Ok(md) = fs::metadata(p) else { return 0 };
    if md.is_file() {
        return md.len();
    }
    let mut n = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| !t.is_symlink()) {
                n += bytes_under(&e.path());
            }
        }
    }
    n
}

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

/// The expected exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// 0.
    Ok,
    /// 1: problems found (the store is readable).
    Problems,
    /// 2: PATH cannot be read as a store.
    Usage,
    /// 0 or 1: a notice or a problem (e.g. a torn tail, which the reference
    /// treats as the normal end of a crashed log).
    OkOrProblems,
    /// 1 or 2.
    Fails,
    /// 0, 1 or 2 (the commands disagree; each still names the file).
    Any,
}

impl Exit {
    fn allows(self, code: i32) -> bool {
        match self {
            Self::Ok => code == 0,
            Self::Problems => code == 1,
            Self::Usage => code == 2,
            Self::OkOrProblems => code == 0 || code == 1,
            Self::Fails => code == 1 || code == 2,
            Self::Any => code <= 2,
        }
    }
}

struct Case {
    name: String,
    /// The case's own directory (the input bytes are counted under it).
    root: PathBuf,
    /// PATH given to the CLI.
    path: PathBuf,
    exit: Exit,
    /// Text every failing run must contain (a file name; "<file> at offset N").
    names: Vec<String>,
    unprivileged: bool,
}

/// Runs `verify`, `dump --format jsonl` and `stat` on a case; returns the
/// table row and any failures.
fn check(c: &Case, fails: &mut Vec<String>) -> String {
    let p = c.path.to_str().unwrap();
    let input = bytes_under(&c.root);
    let bound = 64 * MIB + 2 * input;
    let mut row = format!("| {} |", c.name);
    for cmd in [
        &["verify", p][..],
        &["dump", p, "--format", "jsonl"][..],
        &["stat", p][..],
    ] {
        let r = run(cmd, c.unprivileged);
        let what = format!("{} / {}", c.name, cmd[0]);
        let all = format!("{}{}", r.out, r.err);
        let Some(code) = r.code else {
            fails.push(format!("{what}: killed by a signal: {}", r.err));
            continue;
        };
        row.push_str(&format!(" {code} |"));
        if all.contains("panicked") || code > 2 {
            fails.push(format!("{what}: exit {code}, panic?\n{all}"));
        }
        // `stat` summarises and `dump` reports on stderr; `verify` must
        // agree with the case; all three must name what they complain about.
        let expected = match (cmd[0], c.exit) {
            // dump/stat may print what they can and still exit 0 on a notice.
            ("dump" | "stat", Exit::Problems) => Exit::OkOrProblems,
            ("dump" | "stat", Exit::Fails) => Exit::Fails,
            (_, e) => e,
        };
        if !expected.allows(code) {
            fails.push(format!(
                "{what}: exit {code}, expected {expected:?}\n{}",
                all.chars().take(1500).collect::<String>()
            ));
        }
        if (code != 0 && cmd[0] != "stat") || code == 2 {
            for n in &c.names {
                if !all.contains(n.as_str()) {
                    fails.push(format!(
                        "{what}: output lacks {n:?}\n{}",
                        all.chars().take(1500).collect::<String>()
                    ));
                }
            }
        }
        if let Some(rss) = r.rss
            && rss > bound
        {
            fails.push(format!(
                "{what}: peak RSS {} KiB > bound {} KiB (input {input} bytes)",
                rss / 1024,
                bound / 1024
            ));
        }
        if cmd[0] == "verify" {
            row.push_str(&format!(
                " {} |",
                r.rss
                    .map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / MIB as f64))
            ));
        }
    }
    row
}

/// Byte offsets of the field boundaries of a commitlog record (v1, IPv4).
fn commitlog_boundaries(rec: &[u8]) -> Vec<usize> {
    let mut v = vec![4, 8, 12, 16, 20, 28, 36, 40, 48, 56, 64, 72, 76, 84];
    let body_len = u32::from_be_bytes(rec[84..88].try_into().unwrap()) as usize;
    v.push(88);
    v.push(88 + body_len);
    let topic_len = rec[88 + body_len] as usize;
    v.push(89 + body_len);
    v.push(89 + body_len + topic_len);
    v.push(91 + body_len + topic_len);
    v.retain(|&b| b < rec.len());
    v
}

/// Byte offsets of the field boundaries of a DLedger entry header.
const DLEDGER_BOUNDARIES: [usize; 9] = [4, 8, 16, 24, 32, 36, 40, 44, 48];

struct Builder {
    tmp: tempfile::TempDir,
    cases: Vec<Case>,
    n: usize,
}

impl Builder {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        // Traversable by `nobody` (the unreadable-file cases).
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            tmp,
            cases: Vec::new(),
            n: 0,
        }
    }

    /// A fresh case directory.
    fn dir(&mut self) -> PathBuf {
        self.n += 1;
        let d = self.tmp.path().join(format!("c{}", self.n));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn add(
        &mut self,
        name: impl Into<String>,
        root: PathBuf,
        path: PathBuf,
        exit: Exit,
        names: Vec<String>,
    ) {
        self.cases.push(Case {
            name: name.into(),
            root,
            path,
            exit,
            names,
            unprivileged: false,
        });
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn at(p: &Path, off: u64) -> String {
    format!("{} at offset {off}", p.display())
}

/// A RocketMQ root (copied from the fixture) with commitlog file 0 replaced.
fn mq_with_first_file(b: &mut Builder, bytes: &[u8]) -> (PathBuf, PathBuf) {
    let d = b.dir();
    let file = d.join("commitlog").join(F0);
    write(&file, bytes);
    fs::create_dir_all(d.join("consumequeue")).unwrap();
    (d, file)
}

fn dl_with_first_file(b: &mut Builder, bytes: &[u8]) -> (PathBuf, PathBuf) {
    let d = b.dir();
    let m = d.join("dledger-n0");
    let file = m.join("data").join(F0);
    write(&file, bytes);
    fs::create_dir_all(m.join("index")).unwrap();
    (m, file)
}

fn build_cases() -> Builder {
    let mut b = Builder::new();
    let mq_fix = fixture("rocketmq");
    let cl0 = fs::read(mq_fix.join("commitlog").join(F0)).unwrap();
    let size = cl0.len();
    let first = u32::from_be_bytes(cl0[0..4].try_into().unwrap()) as usize;
    let second = u32::from_be_bytes(cl0[first..first + 4].try_into().unwrap()) as usize;
    let dl_fix = fs::read_dir(fixture("dledger"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let dl0 = fs::read(dl_fix.join("data").join(F0)).unwrap();
    let dfirst = u32::from_be_bytes(dl0[4..8].try_into().unwrap()) as usize;

    // ---- whole-file content, every file kind
    for (what, bytes) in [
        ("zero-length", Vec::new()),
        ("all-zero", vec![0u8; size]),
        ("all-0xFF", vec![0xFF; size]),
        ("random", noise(size, 1)),
        ("random 1 MiB", noise(MIB as usize, 2)),
    ] {
        let garbage = !bytes.is_empty() && bytes[0] != 0;
        let (root, file) = mq_with_first_file(&mut b, &bytes);
        let (exit, names) = if garbage {
            (Exit::Problems, vec![at(&file, 0)])
        } else {
            (Exit::Ok, vec![])
        };
        b.add(format!("commitlog {what}"), root.clone(), root, exit, names);
        let (m, file) = dl_with_first_file(&mut b, &bytes);
        let (exit, names) = if garbage {
            (Exit::Problems, vec![s(&file)])
        } else {
            (Exit::OkOrProblems, vec![])
        };
        b.add(format!("dledger data {what}"), m.clone(), m, exit, names);
    }
    for (what, bytes) in [
        ("all-0xFF", vec![0xFFu8; 4096]),
        ("random", noise(4096, 3)),
        ("zero-length", Vec::new()),
    ] {
        // Consume queue, index file, checkpoint of an otherwise good store.
        for rel in ["consumequeue/TopicA/0/00000000000000000000", "checkpoint"] {
            let d = b.dir();
            copy_dir(&mq_fix, &d);
            let f = d.join(rel);
            write(&f, &bytes);
            b.add(
                format!("{rel} {what}"),
                d.clone(),
                d,
                Exit::OkOrProblems,
                vec![],
            );
        }
        let d = b.dir();
        copy_dir(&mq_fix, &d);
        for e in fs::read_dir(d.join("index")).unwrap() {
            write(&e.unwrap().path(), &bytes);
        }
        b.add(
            format!("index files {what}"),
            d.clone(),
            d,
            Exit::OkOrProblems,
            vec![],
        );
        // DLedger index and checkpoint.
        for rel in ["index/00000000000000000000", "checkpoint", "currterm"] {
            let d = b.dir();
            copy_dir(&dl_fix, &d.join("dledger-n0"));
            let m = d.join("dledger-n0");
            write(&m.join(rel), &bytes);
            b.add(
                format!("dledger {rel} {what}"),
                d,
                m,
                Exit::OkOrProblems,
                vec![],
            );
        }
    }

    // ---- the second record cut at every field boundary (the rest zero: a
    // torn tail, as a crash leaves it) and the file cut there (wrong size)
    let rec2 = &cl0[first..first + second];
    for cut in commitlog_boundaries(rec2) {
        let mut z = cl0[..first + cut].to_vec();
        z.resize(size, 0);
        let (root, file) = mq_with_first_file(&mut b, &z);
        b.add(
            format!("commitlog record cut at +{cut}, zero tail"),
            root.clone(),
            root,
            Exit::OkOrProblems,
            vec![at(&file, first as u64)],
        );
        let (root, file) = mq_with_first_file(&mut b, &cl0[..first + cut]);
        b.add(
            format!("commitlog file cut at {}+{cut}", first),
            root.clone(),
            root,
            Exit::OkOrProblems,
            vec![s(&file)],
        );
    }
    let dsecond = u32::from_be_bytes(dl0[dfirst + 4..dfirst + 8].try_into().unwrap()) as usize;
    for cut in DLEDGER_BOUNDARIES.into_iter().chain([dsecond - 1]) {
        let mut z = dl0[..dfirst + cut].to_vec();
        z.resize(dl0.len(), 0);
        let (m, _) = dl_with_first_file(&mut b, &z);
        // (The index directory is empty in these cases: the index is
        // reported too; the data file only if the cut breaks an entry.)
        b.add(
            format!("dledger entry cut at +{cut}, zero tail"),
            m.clone(),
            m.clone(),
            Exit::OkOrProblems,
            vec![s(&m)],
        );
    }

    // ---- size fields and magic of the second record
    for (what, v) in [
        ("0", 0i32),
        ("-1", -1),
        ("i32::MIN", i32::MIN),
        ("i32::MAX", i32::MAX),
        ("file size + 1", size as i32 + 1),
        ("one byte short", second as i32 - 1),
    ] {
        let mut z = cl0.clone();
        z[first..first + 4].copy_from_slice(&v.to_be_bytes());
        let (root, file) = mq_with_first_file(&mut b, &z);
        b.add(
            format!("commitlog totalSize {what}"),
            root.clone(),
            root,
            Exit::OkOrProblems,
            vec![at(&file, first as u64)],
        );
        let mut z = dl0.clone();
        z[dfirst + 4..dfirst + 8].copy_from_slice(&v.to_be_bytes());
        let (m, file) = dl_with_first_file(&mut b, &z);
        b.add(
            format!("dledger size {what}"),
            m.clone(),
            m,
            Exit::OkOrProblems,
            vec![s(&file)],
        );
    }
    for (what, at_) in [("bodyLength", 84usize), ("queueOffset", 20)] {
        let mut z = cl0.clone();
        z[first + at_..first + at_ + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let (root, file) = mq_with_first_file(&mut b, &z);
        // A huge queue offset is a valid record whose consume queue cannot
        // exist: reported against the queue, naming the record's offset.
        let names = if what == "queueOffset" {
            vec![format!("record at {first}")]
        } else {
            vec![at(&file, first as u64)]
        };
        b.add(
            format!("commitlog {what} huge"),
            root.clone(),
            root,
            Exit::Problems,
            names,
        );
    }
    let mut z = cl0.clone();
    z[first + 4..first + 8].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
    let (root, file) = mq_with_first_file(&mut b, &z);
    b.add(
        "commitlog wrong magic",
        root.clone(),
        root,
        Exit::Problems,
        vec![at(&file, first as u64)],
    );
    let mut z = dl0.clone();
    z[dfirst..dfirst + 4].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
    let (m, file) = dl_with_first_file(&mut b, &z);
    b.add(
        "dledger wrong magic",
        m.clone(),
        m,
        Exit::Problems,
        vec![s(&file)],
    );

    // ---- layout: wrong sizes, names, gaps, overlaps
    let cl_files: Vec<PathBuf> = {
        let mut v: Vec<_> = fs::read_dir(mq_fix.join("commitlog"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let name_of = |i: usize| cl_files[i].file_name().unwrap().to_owned();
    {
        // The second file larger than the first.
        let d = b.dir();
        let cl = d.join("commitlog");
        write(&cl.join(name_of(0)), &cl0);
        let mut big = fs::read(&cl_files[1]).unwrap();
        big.resize(size * 2, 0);
        write(&cl.join(name_of(1)), &big);
        b.add(
            "commitlog file larger than its neighbour",
            d.clone(),
            cl.clone(),
            Exit::Problems,
            vec![s(&cl.join(name_of(1)))],
        );
        // A one-byte file at the end.
        let d = b.dir();
        let cl = d.join("commitlog");
        write(&cl.join(name_of(0)), &cl0);
        write(&cl.join(name_of(1)), &[0x42]);
        b.add(
            "commitlog one-byte last file",
            d.clone(),
            cl.clone(),
            Exit::Problems,
            vec![s(&cl.join(name_of(1)))],
        );
        // Gap: files 0 and 2.
        let d = b.dir();
        let cl = d.join("commitlog");
        write(&cl.join(name_of(0)), &cl0);
        write(&cl.join(name_of(2)), &fs::read(&cl_files[2]).unwrap());
        b.add(
            "commitlog gap between files",
            d.clone(),
            cl.clone(),
            Exit::Fails,
            vec![name_of(2).to_string_lossy().into_owned()],
        );
        // Overlap: a file named inside the first one.
        let d = b.dir();
        let cl = d.join("commitlog");
        write(&cl.join(name_of(0)), &cl0);
        let inside = format!("{:020}", size / 2);
        write(&cl.join(&inside), &fs::read(&cl_files[1]).unwrap());
        b.add(
            "commitlog overlapping files",
            d.clone(),
            cl.clone(),
            Exit::Fails,
            vec![inside],
        );
        // Names that are not offsets next to good files.
        for bad in [
            "0000000000000000000x",
            "123",
            "00000000000000065536.bak",
            "-0000000000000000001",
        ] {
            let d = b.dir();
            let cl = d.join("commitlog");
            write(&cl.join(name_of(0)), &cl0);
            write(&cl.join(bad), &noise(100, 4));
            b.add(
                format!("commitlog stray name {bad}"),
                d.clone(),
                cl.clone(),
                Exit::Problems,
                vec![bad.to_owned()],
            );
        }
        // DLedger gap.
        let d = b.dir();
        let m = d.join("dledger-n0");
        copy_dir(&dl_fix, &m);
        let mut data: Vec<_> = fs::read_dir(m.join("data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        data.sort();
        fs::remove_file(&data[1]).unwrap();
        b.add(
            "dledger gap between data files",
            d,
            m,
            Exit::Fails,
            vec![data[2].file_name().unwrap().to_string_lossy().into_owned()],
        );
    }

    // ---- symlinks
    {
        let d = b.dir();
        let real = d.join("real");
        copy_dir(&mq_fix, &real);
        let link = d.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        b.add("symlink to a good store", d.clone(), link, Exit::Ok, vec![]);
        let d = b.dir();
        let cl = d.join("commitlog");
        fs::create_dir_all(&cl).unwrap();
        fs::create_dir_all(d.join("consumequeue")).unwrap();
        std::os::unix::fs::symlink(mq_fix.join("commitlog").join(F0), cl.join(F0)).unwrap();
        b.add(
            "commitlog file symlinked to a good file",
            d.clone(),
            d,
            Exit::Ok,
            vec![],
        );
        let d = b.dir();
        let cl = d.join("commitlog");
        write(&cl.join(F0), &cl0);
        let dangling = cl.join(name_of(1));
        std::os::unix::fs::symlink(d.join("nowhere"), &dangling).unwrap();
        b.add(
            "dangling symlink as a commitlog file",
            d.clone(),
            cl,
            Exit::Fails,
            vec![s(&dangling)],
        );
        let d = b.dir();
        let (x, y) = (d.join("x"), d.join("y"));
        std::os::unix::fs::symlink(&y, &x).unwrap();
        std::os::unix::fs::symlink(&x, &y).unwrap();
        b.add(
            "symlink loop as PATH",
            d.clone(),
            x.clone(),
            Exit::Usage,
            vec![s(&x)],
        );
    }

    // ---- a directory where a file should be
    for rel in [
        "commitlog/00000000000000065536",
        "checkpoint",
        "consumequeue/TopicA/0/00000000000000000000",
    ] {
        let d = b.dir();
        copy_dir(&mq_fix, &d);
        let p = d.join(rel);
        fs::remove_file(&p).unwrap();
        fs::create_dir_all(p.join("sub")).unwrap();
        let exit = match rel {
            r if r.starts_with("commitlog") => Exit::Problems,
            // `stat` refuses (2) where `verify` and `dump` report (0/1).
            "checkpoint" => Exit::Any,
            _ => Exit::OkOrProblems,
        };
        let names = if rel.starts_with("commitlog") {
            vec![s(&p)]
        } else {
            vec![]
        };
        b.add(format!("directory as {rel}"), d.clone(), d, exit, names);
    }
    for rel in ["data/00000000000000065536", "index/00000000000000000000"] {
        let d = b.dir();
        let m = d.join("dledger-n0");
        copy_dir(&dl_fix, &m);
        let p = m.join(rel);
        fs::remove_file(&p).unwrap();
        fs::create_dir_all(&p).unwrap();
        b.add(
            format!("directory as dledger {rel}"),
            d,
            m,
            Exit::Fails,
            vec![s(&p)],
        );
    }

    // ---- unreadable files (the CLI runs as `nobody`)
    {
        use std::os::unix::fs::PermissionsExt;
        for rel in [
            "commitlog/00000000000000065536",
            "consumequeue/TopicA/0/00000000000000000000",
            "commitlog",
        ] {
            let d = b.dir();
            copy_dir(&mq_fix, &d);
            // Everything readable by others, then the one file (or dir) not.
            let _ = Command::new("chmod").args(["-R", "a+rX"]).arg(&d).status();
            let p = d.join(rel);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
            let exit = Exit::Fails;
            b.cases.push(Case {
                name: format!("unreadable {rel}"),
                root: d.clone(),
                path: d,
                exit,
                names: vec![s(&p)],
                unprivileged: true,
            });
        }
    }
    b
}

#[test]
fn hostile_input_matrix() {
    let _ = cli_bin();
    if !has_time() {
        println!("note: /usr/bin/time is missing: peak RSS is not measured");
    }
    let can_drop = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let b = build_cases();
    let mut fails = Vec::new();
    let mut rows = vec![
        "| case | verify | verify peak RSS (MiB) | dump | stat |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    let mut ran = 0;
    for c in &b.cases {
        if c.unprivileged && !can_drop {
            println!("SKIPPED {}: cannot run as nobody (setpriv)", c.name);
            continue;
        }
        rows.push(check(c, &mut fails));
        ran += 1;
    }
    println!(
        "hostile-matrix: {ran} cases x 3 commands\n{}",
        rows.join("\n")
    );
    assert!(
        fails.is_empty(),
        "{} failures:\n{}",
        fails.len(),
        fails.join("\n---\n")
    );
}

/// Index files replaced by random bytes must fail `verify` (it once checked
/// the commitlog and the consume queues only, and `query-key` then silently
/// found nothing), naming the files.
#[test]
fn verify_reports_garbage_index_files() {
    let b = Builder::new();
    let d = b.tmp.path().join("store");
    copy_dir(&fixture("rocketmq"), &d);
    let mut files = Vec::new();
    for e in fs::read_dir(d.join("index")).unwrap() {
        let p = e.unwrap().path();
        write(&p, &noise(4096, 9));
        files.push(p);
    }
    let r = run(&["verify", d.to_str().unwrap()], false);
    assert_eq!(r.code, Some(1), "{}{}", r.out, r.err);
    assert!(r.out.contains(&s(&files[0])), "{}", r.out);
}
