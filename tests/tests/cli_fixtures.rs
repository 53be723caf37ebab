//! The `rocketlog` CLI against the Java-written fixtures: every record, unit and
//! key look-up the Java reference read back, every PATH form, `stat` facts,
//! `verify`, and the read-only guarantee (no byte, mtime or file changes).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rocketlog_tests::fixtures::{self, Fixture};
use serde_json::Value;

/// Runs the CLI in-process: (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("rocketlog").chain(args.iter().copied());
    let code = rocketlog::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("stdout is UTF-8"),
        String::from_utf8(err).expect("stderr is UTF-8"),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("fixture paths are UTF-8")
}

/// Every file and directory under `root`: bytes and mtime (directories: mtime only).
type Snapshot = BTreeMap<PathBuf, (Option<Vec<u8>>, SystemTime)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = fs::symlink_metadata(&p).unwrap();
        let mtime = md.modified().unwrap();
        if md.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            out.insert(p, (None, mtime));
        } else {
            out.insert(p.clone(), (Some(fs::read(&p).unwrap()), mtime));
        }
    }
    out
}

/// Runs a command and checks it left `store` exactly as it was.
fn cli_ro(store: &Path, args: &[&str]) -> (i32, String, String) {
    let before = snapshot(store);
    let r = cli(args);
    let after = snapshot(store);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "{args:?} created or removed files under {}",
        store.display()
    );
    for (p, b) in &before {
        assert!(
            after[p] == *b,
            "{args:?} changed {} (bytes or mtime)",
            p.display()
        );
    }
    r
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn assert_same_records(what: &str, got: &[Value], want: &[Value]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (Value::Object(go), Value::Object(wo)) = (g, w) else {
            panic!("{what}: line {i} is not an object");
        };
        for (k, wv) in wo {
            assert_eq!(go.get(k), Some(wv), "{what}: line {i}, field {k}");
        }
        assert_eq!(go.len(), wo.len(), "{what}: line {i}: extra fields in {g}");
    }
    assert_eq!(got.len(), want.len(), "{what}: record count");
}

fn expected(f: &Fixture, name: &str) -> Option<Vec<Value>> {
    f.file(name).map(|p| fixtures::read_jsonl(&p).unwrap())
}

fn meta(f: &Fixture) -> Value {
    let p = f.file("expected_meta.json").expect("expected_meta.json");
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

fn all() -> Vec<Fixture> {
    let all = fixtures::all();
    assert!(
        all.len() >= 4,
        "fixtures not found under {}",
        fixtures::root().display()
    );
    all
}

fn dledger_member(store: &Path) -> PathBuf {
    fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("dledger-")
        })
        .expect("a dledger-<id> directory")
}

fn first_file(dir: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.remove(0)
}

#[test]
fn dump_jsonl_equals_expected() {
    for f in all() {
        let store = f.store();
        let want = expected(&f, "expected.jsonl").unwrap();
        let (code, out, err) = cli_ro(&store, &["dump", s(&store), "--format", "jsonl"]);
        assert_eq!(code, 0, "{}: {err}", f.name);
        assert_same_records(&f.name, &parse_lines(&out), &want);
        if let Some(want) = expected(&f, "expected_dledger.jsonl") {
            let (code, out, err) = cli_ro(
                &store,
                &["dump", s(&store), "--format", "jsonl", "--entries"],
            );
            assert_eq!(code, 0, "{}: {err}", f.name);
            assert_same_records(&format!("{} --entries", f.name), &parse_lines(&out), &want);
        }
    }
}

#[test]
fn dump_jsonl_is_byte_identical_to_json_module() {
    // Same objects, and the exact bytes of the shared renderer: one object per line.
    let f = all().into_iter().find(|f| f.group() == "rocketmq").unwrap();
    let (_, out, _) = cli(&["dump", s(&f.store()), "--format", "jsonl"]);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("{\"physicalOffset\":0,\"totalSize\":"),
        "{first}"
    );
    assert!(out.ends_with("}\n"));
}

#[test]
fn consume_queues_equal_expected() {
    for f in all() {
        let Some(want) = expected(&f, "expected_consumequeue.jsonl") else {
            continue;
        };
        let store = f.store();
        let (code, out, err) = cli_ro(
            &store,
            &["dump", s(&store), "--format", "jsonl", "--consume-queue"],
        );
        assert_eq!(code, 0, "{}: {err}", f.name);
        assert_same_records(&format!("{} cq", f.name), &parse_lines(&out), &want);
    }
}

#[test]
fn every_index_key_resolves() {
    for f in all() {
        let Some(want) = expected(&f, "expected_index.jsonl") else {
            continue;
        };
        let store = f.store();
        for w in &want {
            let topic = w["topic"].as_str().unwrap();
            let key = w["key"].as_str().unwrap();
            let (code, out, err) = cli_ro(
                &store,
                &["query-key", s(&store), "--topic", topic, "--key", key],
            );
            assert_eq!(code, 0, "{} {topic}#{key}: {err}", f.name);
            let got = parse_lines(&out);
            assert_eq!(got.len(), 1, "{out}");
            assert_eq!(&got[0], w, "{}: {topic}#{key}", f.name);
        }
        // A key that was never stored finds nothing.
        let (code, out, _) = cli(&[
            "query-key",
            s(&store),
            "--topic",
            "TopicA",
            "--key",
            "no-such-key",
        ]);
        assert_eq!(code, 0);
        assert_eq!(
            parse_lines(&out)[0]["physicalOffsets"],
            Value::Array(vec![])
        );
    }
}

/// Every PATH form of a fixture and the records `dump` must print for it.
fn path_forms(f: &Fixture) -> Vec<(PathBuf, &'static str)> {
    let store = f.store();
    let mut v = vec![(store.clone(), "root")];
    match f.group() {
        "rocketmq" => {
            v.push((store.join("commitlog"), "commitlog dir"));
            v.push((first_file(&store.join("commitlog")), "commitlog file"));
        }
        _ => {
            let m = dledger_member(&store);
            v.push((first_file(&m.join("data")), "data file"));
            v.push((m.join("data"), "data dir"));
            v.push((m, "dledger member dir"));
        }
    }
    v
}

#[test]
fn every_path_form_resolves_and_verifies() {
    for f in all() {
        let want = expected(&f, "expected.jsonl").unwrap();
        for (path, form) in path_forms(&f) {
            let (code, out, err) = cli_ro(&f.store(), &["verify", s(&path)]);
            assert_eq!(code, 0, "{} {form}: verify: {out}{err}", f.name);
            assert!(out.contains("no problems"), "{out}");

            let (code, out, err) = cli_ro(&f.store(), &["dump", s(&path), "--format", "jsonl"]);
            assert_eq!(code, 0, "{} {form}: dump: {err}", f.name);
            let got = parse_lines(&out);
            if form.ends_with("file") {
                // One file: the records that start inside it (it is the first file).
                let size = fs::metadata(&path).unwrap().len();
                let pos_key = if f.group() == "dledger" {
                    "pos"
                } else {
                    "physicalOffset"
                };
                let inside: Vec<Value> = want
                    .iter()
                    .filter(|w| w[pos_key].as_u64().unwrap() < size)
                    .cloned()
                    .collect();
                assert!(!inside.is_empty());
                assert_same_records(&format!("{} {form}", f.name), &got, &inside);
            } else {
                assert_same_records(&format!("{} {form}", f.name), &got, &want);
            }
            // The table format prints a header and one line per record.
            let (code, out, _) = cli(&["dump", s(&path)]);
            assert_eq!(code, 0);
            assert_eq!(
                out.lines().count(),
                got.len() + 1,
                "{} {form} table",
                f.name
            );
        }
    }
}

fn files_of(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn stat(path: &Path) -> Value {
    let (code, out, err) = cli_ro(path, &["stat", s(path), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn check_dledger_stat(name: &str, got: &Value, m: &Value) {
    for k in [
        "ledgerBeginIndex",
        "ledgerEndIndex",
        "ledgerEndTerm",
        "dataWritePos",
        "indexWritePos",
        "currTerm",
        "currVoteFor",
        "selfId",
    ] {
        assert_eq!(got[k], m[k], "{name}: {k}");
    }
    assert_eq!(
        files_of(&got["dataFiles"]),
        files_of(&m["dataFiles"]),
        "{name}"
    );
    assert_eq!(
        files_of(&got["indexFiles"]),
        files_of(&m["indexFiles"]),
        "{name}"
    );
    assert_eq!(
        got["endOfFileBlanks"], m["endOfFileBlanks"],
        "{name}: blanks"
    );
    assert_eq!(
        got["propertyFiles"], m["propertyFiles"],
        "{name}: property files"
    );
    let entries =
        m["ledgerEndIndex"].as_i64().unwrap() - m["ledgerBeginIndex"].as_i64().unwrap() + 1;
    assert_eq!(got["entryCount"].as_i64(), Some(entries), "{name}");
}

#[test]
fn stat_agrees_with_expected_meta() {
    for f in all() {
        let m = meta(&f);
        let got = stat(&f.store());
        let want = expected(&f, "expected.jsonl").unwrap();
        match f.group() {
            "dledger" => {
                assert_eq!(got["kind"], "dledger");
                check_dledger_stat(&f.name, &got, &m);
            }
            group => {
                assert_eq!(got["kind"], group, "{}", f.name);
                for k in ["messageCount", "abortFilePresent"] {
                    assert_eq!(got[k], m[k], "{}: {k}", f.name);
                }
                assert_eq!(
                    got["commitLogMinOffset"], m["commitLogMinOffsetAfterRecovery"],
                    "{}",
                    f.name
                );
                assert_eq!(
                    got["commitLogMaxOffset"], m["commitLogMaxOffsetAfterRecovery"],
                    "{}",
                    f.name
                );
                assert_eq!(got["checkpoint"], m["checkpointAsWritten"], "{}", f.name);
                assert_eq!(got["endOfFileBlanks"], m["endOfFileBlanks"], "{}", f.name);
                assert_eq!(
                    files_of(&got["commitLogFiles"]),
                    files_of(&m["commitLogFiles"]),
                    "{}",
                    f.name
                );
                assert_eq!(
                    files_of(&got["indexFiles"]),
                    files_of(&m["indexFiles"]),
                    "{}",
                    f.name
                );
                let cq_got = got["consumeQueueFiles"].as_object().unwrap();
                let cq_want = m["consumeQueueFiles"].as_object().unwrap();
                assert_eq!(
                    cq_got.keys().collect::<Vec<_>>(),
                    cq_want.keys().collect::<Vec<_>>()
                );
                for (k, v) in cq_want {
                    assert_eq!(files_of(&cq_got[k]), files_of(v), "{}: {k}", f.name);
                }
                // Per-queue counts and the time range, from expected.jsonl.
                let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
                for w in &want {
                    let key = (
                        w["topic"].as_str().unwrap().to_owned(),
                        w["queueId"].to_string(),
                    );
                    *counts.entry(key).or_default() += 1;
                }
                for ((t, q), n) in counts {
                    assert_eq!(
                        got["topics"][&t][&q]["count"].as_u64(),
                        Some(n),
                        "{}: {t}/{q}",
                        f.name
                    );
                }
                let times: Vec<i64> = want
                    .iter()
                    .map(|w| w["storeTimestamp"].as_i64().unwrap())
                    .collect();
                assert_eq!(
                    got["storeTimestamp"]["min"].as_i64(),
                    times.iter().min().copied()
                );
                assert_eq!(
                    got["storeTimestamp"]["max"].as_i64(),
                    times.iter().max().copied()
                );
                if group == "rocketmq-dledger" {
                    check_dledger_stat(&f.name, &got["dledger"], &m["dledger"]);
                }
            }
        }
    }
}

#[test]
fn stat_table_is_readable() {
    for f in all() {
        let (code, out, err) = cli(&["stat", s(&f.store())]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("kind: "), "{out}");
        assert!(out.contains("endOfFileBlanks:"), "{out}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = cli(&["dump"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&["no-such-command"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = cli(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("dump") && out.contains("verify") && out.contains("Exit codes"));
    let f = all().into_iter().find(|f| f.group() == "dledger").unwrap();
    // Consume queues and keys need a RocketMQ root.
    let (code, _, err) = cli(&["dump", s(&f.store()), "--consume-queue"]);
    assert_eq!(code, 2);
    assert!(err.contains("no consume queues"), "{err}");
    let (code, _, err) = cli(&["query-key", s(&f.store()), "--topic", "t", "--key", "k"]);
    assert_eq!(code, 2);
    assert!(err.contains("no index files"), "{err}");
}

/// The real binary, found next to this test executable's directory
/// (`target/<profile>/rocketlog`), built with `cargo build` if missing.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join(format!("rocketlog{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "rocketlog", "--bin", "rocketlog"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cargo build of the rocketlog binary failed"
        );
    }
    assert!(bin.is_file(), "{} not found", bin.display());
    bin
}

#[test]
fn real_binary_dumps_and_survives_a_closed_pipe() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let bin = binary();
    let f = all().into_iter().find(|f| f.group() == "rocketmq").unwrap();
    let store = f.store();
    let out = Command::new(&bin)
        .args(["dump", s(&store), "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let want = expected(&f, "expected.jsonl").unwrap();
    assert_same_records(
        "binary",
        &parse_lines(&String::from_utf8(out.stdout).unwrap()),
        &want,
    );

    // `| head -1`: read one line and close the pipe; exit 0 and nothing on stderr.
    let mut child = Command::new(&bin)
        .args(["dump", s(&store), "--format", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(&bin)
        .args(["verify", "/nonexistent/store"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
