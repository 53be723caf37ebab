//! The writing half of the `rocketlog` CLI: `append` (fresh and `--replay`),
//! `recover [--dry-run]`, `convert`, `get` and `consume`, against the
//! Java-written fixtures.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use rocketlog_tests::fixtures::{self, Fixture};
use serde_json::Value;

fn cli(args: &[&str]) -> (i32, String, String) {
    cli_in(args, &mut std::io::empty())
}

fn cli_in(args: &[&str], stdin: &mut dyn Read) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("rocketlog").chain(args.iter().copied());
    let code = rocketlog::cli::run_with_stdin(argv, stdin, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn dump(store: &Path, extra: &[&str]) -> String {
    let mut args = vec!["dump", "--format", "jsonl", s(store)];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "dump {}: {err}", store.display());
    out
}

/// Relative path -> bytes of every data file the replay must reproduce:
/// commitlog, consume queues, DLedger data and index, and (in name order)
/// the IndexFiles.
fn data_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            continue;
        }
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let parent = p
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let wanted = rel.starts_with("commitlog/")
            || rel.starts_with("consumequeue/")
            || rel.starts_with("index/")
            || (rel.starts_with("dledger-") && (parent == "data" || parent == "index"));
        if wanted {
            out.insert(rel, fs::read(&p).unwrap());
        }
    }
    out
}

fn fixture(name: &str) -> Fixture {
    fixtures::all()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
}

#[test]
fn replay_reproduces_every_fixture_byte_for_byte() {
    let fxs = fixtures::all();
    assert!(fxs.len() >= 4, "fixtures found: {}", fxs.len());
    for fx in fxs {
        let src = fx.store();
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("replayed");
        let input = dump(&src, &[]);
        let (code, acks, err) = cli_in(
            &["append", s(&dst), "--replay", "--like", s(&src)],
            &mut input.as_bytes(),
        );
        assert_eq!(code, 0, "{}: {err}", fx.name);
        assert_eq!(acks.lines().count(), input.lines().count(), "{}", fx.name);
        let want = data_files(&src);
        let got = data_files(&dst);
        assert!(!want.is_empty());
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>(),
            "{}: file sets differ",
            fx.name
        );
        for (name, bytes) in &want {
            assert!(&got[name] == bytes, "{}: {name} differs", fx.name);
        }
        // The replayed store dumps as the original.
        assert_eq!(dump(&dst, &[]), input, "{}", fx.name);
    }
}

#[test]
fn append_assigns_broker_fields_and_dump_gives_the_records_back() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("s");
    let input = concat!(
        r#"{"topic":"T1","bodyText":"hello","properties":{"KEYS":"k1 k2","TAGS":"tagA"}}"#,
        "\n\n",
        r#"{"topic":"T1","queueId":2,"body":"00ff10","bornHost":"10.1.2.3:4567","bornTimestamp":1700000000000,"flag":7}"#,
        "\n",
        r#"{"topic":"Тема-€","bodyText":"x","propertiesString":"UNIQ_KEY\u0001U1\u0002A\u0001b\u0002"}"#,
        "\n",
    );
    let (code, acks, err) = cli_in(
        &[
            "append",
            s(&st),
            "--create",
            "--commitlog-file-size",
            "4096",
            "--consume-queue-file-size",
            "200",
            "--max-hash-slot-num",
            "8",
            "--max-index-num",
            "32",
        ],
        &mut input.as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    let acks = jsonl(&acks);
    assert_eq!(acks.len(), 3);
    assert_eq!(acks[0]["line"], 1);
    assert_eq!(acks[1]["line"], 3, "blank lines are counted");
    let got = jsonl(&dump(&st, &[]));
    assert_eq!(got.len(), 3);
    for (a, m) in acks.iter().zip(&got) {
        assert_eq!(a["physicalOffset"], m["physicalOffset"]);
        assert_eq!(a["queueOffset"], m["queueOffset"]);
        assert_eq!(a["msgId"], m["msgId"]);
    }
    assert_eq!(got[0]["body"], "68656c6c6f");
    assert_eq!(got[0]["properties"]["KEYS"], "k1 k2");
    assert_eq!(got[0]["storeHost"], "127.0.0.1:10911");
    assert_eq!(got[1]["queueId"], 2);
    assert_eq!(got[1]["body"], "00ff10");
    assert_eq!(got[1]["bornHost"], "10.1.2.3:4567");
    assert_eq!(got[1]["flag"], 7);
    assert_eq!(got[2]["topic"], "Тема-€");
    assert_eq!(
        got[2]["propertiesString"],
        "UNIQ_KEY\u{1}U1\u{2}A\u{1}b\u{2}"
    );
    // Indexed: query-key finds the keys.
    let (code, out, _) = cli(&["query-key", s(&st), "--topic", "T1", "--key", "k2"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&acks[0]["physicalOffset"].to_string()),
        "{out}"
    );
    // A second append continues the queues.
    let (code, acks2, err) = cli_in(
        &["append", s(&st)],
        &mut r#"{"topic":"T1","bodyText":"again"}"#.as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(jsonl(&acks2)[0]["queueOffset"], 1);
    assert_eq!(
        cli(&["verify", s(&st)]).0,
        0,
        "the appended store verifies clean"
    );
}

#[test]
fn dledger_append_assigns_index_term_pos() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("d");
    let input = "{\"bodyText\":\"a\"}\n{\"body\":\"0102\"}\n";
    let (code, acks, err) = cli_in(
        &[
            "append",
            s(&st),
            "--create",
            "--kind",
            "dledger",
            "--data-file-size",
            "4096",
            "--index-file-size",
            "320",
            "--term",
            "3",
            "--flush",
            "sync",
        ],
        &mut input.as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    let acks = jsonl(&acks);
    assert_eq!(acks[1]["index"], 1);
    assert_eq!(acks[1]["term"], 3);
    assert_eq!(acks[1]["pos"], 49);
    assert_eq!(acks[1]["durable"], true);
    let e = jsonl(&dump(&st, &[]));
    assert_eq!(e[1]["body"], "0102");
    let (code, out, _) = cli(&["get", s(&st), "--index", "1"]);
    assert_eq!(code, 0);
    assert_eq!(jsonl(&out)[0]["body"], "0102");
}

/// A stdin that hands out one line per read and, before each, checks that
/// every record acknowledged so far is already in the store's files.
struct Trickle {
    lines: Vec<Vec<u8>>,
    next: usize,
    acks: Rc<RefCell<Vec<u8>>>,
    store: PathBuf,
    checked: Rc<RefCell<usize>>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let acks = String::from_utf8(self.acks.borrow().clone()).unwrap();
        for a in jsonl(&acks) {
            assert_eq!(a["durable"], true);
            let off = a["physicalOffset"].to_string();
            let (code, out, err) = cli(&["get", s(&self.store), "--offset", &off]);
            assert_eq!(code, 0, "acknowledged offset {off} not in the files: {err}");
            assert_eq!(jsonl(&out)[0]["physicalOffset"], a["physicalOffset"]);
            *self.checked.borrow_mut() += 1;
        }
        let Some(l) = self.lines.get(self.next) else {
            return Ok(0);
        };
        self.next += 1;
        buf[..l.len()].copy_from_slice(l);
        Ok(l.len())
    }
}

struct Shared(Rc<RefCell<Vec<u8>>>);
impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn sync_acknowledgements_come_after_the_write_and_survive_reopen_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("s");
    let mut lines: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("{{\"topic\":\"T\",\"bodyText\":\"m{i}\"}}\n").into_bytes())
        .collect();
    // Line 6: hostile; everything before it was acknowledged and must stay.
    lines.push(b"{\"topic\":\"T\",\"body\":\"abc\"}\n".to_vec());
    lines.push(b"{\"topic\":\"T\",\"bodyText\":\"never\"}\n".to_vec());
    let acks = Rc::new(RefCell::new(Vec::new()));
    let checked = Rc::new(RefCell::new(0));
    let mut stdin = Trickle {
        lines,
        next: 0,
        acks: acks.clone(),
        store: st.clone(),
        checked: checked.clone(),
    };
    let mut out = Shared(acks.clone());
    let mut err = Vec::new();
    let argv = [
        "rocketlog",
        "append",
        s(&st),
        "--create",
        "--flush",
        "sync",
        "--commitlog-file-size",
        "65536",
        "--consume-queue-file-size",
        "200",
        "--max-hash-slot-num",
        "8",
        "--max-index-num",
        "32",
    ];
    let code = rocketlog::cli::run_with_stdin(argv, &mut stdin, &mut out, &mut err);
    let err = String::from_utf8(err).unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 6") && err.contains("`body`"), "{err}");
    let printed = jsonl(&String::from_utf8(acks.borrow().clone()).unwrap());
    assert_eq!(printed.len(), 5);
    // Each ack was printed before the next line was read (group of one).
    assert!(*checked.borrow() >= 10, "{}", checked.borrow());
    // Reopen (recovery runs): every acknowledged record is there, the rest is not.
    let (code, _, e) = cli(&["recover", s(&st)]);
    assert_eq!(code, 0, "{e}");
    let got = jsonl(&dump(&st, &[]));
    assert_eq!(got.len(), 5);
    for (a, m) in printed.iter().zip(&got) {
        assert_eq!(a["physicalOffset"], m["physicalOffset"]);
    }
}

#[test]
fn hostile_stdin_is_refused_with_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{\"topic\":\"T\",\"bodyText\":\"ok\"}\n{oops\n",
            "line 2",
            "malformed JSON",
        ),
        ("{\"bodyText\":\"x\"}\n", "line 1", "`topic`"),
        ("{\"topic\":\"T\",\"body\":\"zz\"}\n", "line 1", "`body`"),
        (
            "{\"topic\":\"T\",\"bodyText\":\"x\",\"queueId\":99999999999}\n",
            "line 1",
            "`queueId`",
        ),
        (
            "{\"topic\":\"T\",\"bodyText\":\"x\",\"bodyLength\":5}\n",
            "line 1",
            "`bodyLength`",
        ),
        ("[1,2]\n", "line 1", "JSON object"),
        ("\u{0}\u{1}\u{2}\n", "line 1", "malformed"),
        ("{\"topic\":\"\",\"bodyText\":\"x\"}\n", "line 1", "`topic`"),
        (
            "{\"topic\":\"T\",\"bodyText\":\"x\",\"bornHost\":\"::::\"}\n",
            "line 1",
            "`bornHost`",
        ),
    ];
    for (input, line, what) in cases {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("s");
        let (code, out, err) = cli_in(
            &[
                "append",
                s(&st),
                "--create",
                "--commitlog-file-size",
                "65536",
            ],
            &mut input.as_bytes(),
        );
        assert_eq!(code, 2, "{input:?}: {err}");
        assert!(err.contains(line) && err.contains(what), "{input:?}: {err}");
        // What was acknowledged before the bad line is in the store.
        let n = out.lines().count();
        if n > 0 {
            assert_eq!(jsonl(&dump(&st, &[])).len(), n, "{input:?}");
        } else {
            // Nothing acknowledged, nothing stored: not even a commitlog file.
            assert!(!st.join("commitlog").join("00000000000000000000").exists());
        }
    }
    // Invalid UTF-8 and a replay of a record that does not fit.
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("s");
    let (code, _, err) = cli_in(&["append", s(&st), "--create"], &mut &b"\xff\xfe\n"[..]);
    assert_eq!(code, 2);
    assert!(err.contains("line 1") && err.contains("UTF-8"), "{err}");
    let fx = fixture("rocketmq/basic");
    let first = dump(&fx.store(), &[]).lines().nth(1).unwrap().to_owned();
    let dst = dir.path().join("r");
    let (code, _, err) = cli_in(
        &["append", s(&dst), "--replay", "--like", s(&fx.store())],
        &mut first.as_bytes(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("line 1") && err.contains("physicalOffset"),
        "{err}"
    );
    // Missing store without --create.
    let (code, _, err) = cli(&["append", s(&dir.path().join("none"))]);
    assert_eq!(code, 2);
    assert!(err.contains("--create"), "{err}");
}

type Snapshot = BTreeMap<PathBuf, (Option<Vec<u8>>, SystemTime)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            out.insert(p, (None, md.modified().unwrap()));
        } else {
            out.insert(
                p.clone(),
                (Some(fs::read(&p).unwrap()), md.modified().unwrap()),
            );
        }
    }
    out
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

#[test]
fn recover_dry_run_changes_nothing_and_reports_what_recovery_would_do() {
    for fx in fixtures::all() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("s");
        copy_dir(&fx.store(), &st);
        let before = snapshot(&st);
        let (code, out, err) = cli(&["recover", "--dry-run", s(&st)]);
        assert_eq!(code, 0, "{}: {err}", fx.name);
        assert!(out.starts_with("dry run"), "{out}");
        assert_eq!(
            before,
            snapshot(&st),
            "{}: dry run changed the store",
            fx.name
        );
    }
    // With damage: the dry run reports a cut, the real run makes it, the dry run after finds none.
    let fx = fixture("dledger/basic");
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("s");
    copy_dir(&fx.store(), &st);
    let last = dir.path().join("s/dledger-n0/data/00000000000000262144");
    let mut b = fs::read(&last).unwrap();
    // Past the last entry (no entry ends within a file's last 8 bytes).
    let n = b.len();
    b[n - 3] = 0x5a;
    fs::write(&last, &b).unwrap();
    let before = snapshot(&st);
    let (code, dry, _) = cli(&["recover", "--dry-run", s(&st)]);
    assert_eq!(code, 0);
    assert_eq!(before, snapshot(&st));
    let (code, real, err) = cli(&["recover", s(&st)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(dry.trim_start_matches("dry run (nothing written): "), real);
    assert_ne!(
        fs::read(&last).unwrap(),
        b,
        "the real run repaired the file"
    );
}

const MESSAGE_FIELDS: &[&str] = &[
    "topic",
    "body",
    "properties",
    "propertiesString",
    "bornTimestamp",
    "storeTimestamp",
    "bornHost",
    "storeHost",
    "queueId",
    "flag",
    "sysFlag",
    "reconsumeTimes",
    "bodyCrc",
    "tagsCode",
];

#[test]
fn convert_rocketmq_to_dledger_and_back_keeps_every_message() {
    let fx = fixture("rocketmq/basic");
    let want: Vec<Value> = fixtures::read_jsonl(&fx.file("expected.jsonl").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl");
    let back = dir.path().join("back");
    let resized = dir.path().join("resized");
    let (code, out, err) = cli(&["convert", s(&fx.store()), s(&dl), "--to", "dledger"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"messages\":60"), "{out}");
    let (code, _, err) = cli(&["convert", s(&dl), s(&back), "--to", "rocketmq"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&[
        "convert",
        s(&fx.store()),
        s(&resized),
        "--to",
        "rocketmq",
        "--file-size",
        "100000",
    ]);
    assert_eq!(code, 0, "{err}");
    for store in [&dl, &back, &resized] {
        let got = jsonl(&dump(store, &[]));
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            for f in MESSAGE_FIELDS {
                assert_eq!(g[f], w[f], "{}: {f}", store.display());
            }
            // Same queues, same order: queue offsets are kept.
            assert_eq!(g["queueOffset"], w["queueOffset"]);
        }
        assert_eq!(cli(&["verify", s(store)]).0, 0, "{}", store.display());
        // Every key look-up finds the same messages (by UNIQ_KEY).
        let (code, _, err) = cli(&["dump", "--consume-queue", "--format", "jsonl", s(store)]);
        assert_eq!(code, 0, "{err}");
    }
    // The DLedger-mode store holds one entry per message, entry pos + 48 = offset.
    let entries = jsonl(&dump(&dl, &["--entries"]));
    let msgs = jsonl(&dump(&dl, &[]));
    assert_eq!(entries.len(), 60);
    for (e, m) in entries.iter().zip(&msgs) {
        assert_eq!(
            e["pos"].as_u64().unwrap() + 48,
            m["physicalOffset"].as_u64().unwrap()
        );
    }
    // Back in plain mode with the original sizes: the same bytes as the original commitlog.
    let orig = data_files(&fx.store());
    let got = data_files(&back);
    for (name, bytes) in orig.iter().filter(|(n, _)| n.starts_with("commitlog/")) {
        assert!(&got[name] == bytes, "{name} differs after the round trip");
    }
}

#[test]
fn get_and_consume_match_the_fixtures_expected_files() {
    for name in ["rocketmq/basic", "rocketmq-dledger/basic"] {
        let fx = fixture(name);
        let st = fx.store();
        let msgs = fixtures::read_jsonl(&fx.file("expected.jsonl").unwrap()).unwrap();
        for m in msgs.iter().step_by(7) {
            let off = m["physicalOffset"].to_string();
            let (code, out, err) = cli(&["get", s(&st), "--offset", &off]);
            assert_eq!(code, 0, "{name} {off}: {err}");
            let g = &jsonl(&out)[0];
            for f in MESSAGE_FIELDS {
                assert_eq!(g[f], m[f], "{name} {off} {f}");
            }
            assert_eq!(g["msgId"], m["msgId"]);
        }
        let units = fixtures::read_jsonl(&fx.file("expected_consumequeue.jsonl").unwrap()).unwrap();
        for u in units.iter().step_by(5) {
            let (t, q, qo) = (
                u["topic"].as_str().unwrap(),
                u["queueId"].to_string(),
                u["queueOffset"].to_string(),
            );
            let (code, out, err) = cli(&[
                "get",
                s(&st),
                "--topic",
                t,
                "--queue",
                &q,
                "--queue-offset",
                &qo,
            ]);
            assert_eq!(code, 0, "{err}");
            assert_eq!(jsonl(&out)[0]["physicalOffset"], u["physicalOffset"]);
        }
        // consume: a whole queue in queue order.
        let u0 = &units[0];
        let (t, q) = (
            u0["topic"].as_str().unwrap(),
            u0["queueId"].as_i64().unwrap(),
        );
        let want: Vec<&Value> = units
            .iter()
            .filter(|u| u["topic"] == t && u["queueId"] == q)
            .map(|u| &u["physicalOffset"])
            .collect();
        let (code, out, err) = cli(&[
            "consume",
            s(&st),
            "--topic",
            t,
            "--queue",
            &q.to_string(),
            "--max",
            "1000",
        ]);
        assert_eq!(code, 0, "{err}");
        let got: Vec<Value> = jsonl(&out)
            .into_iter()
            .map(|m| m["physicalOffset"].clone())
            .collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want);
        let (code, out, _) = cli(&[
            "consume",
            s(&st),
            "--topic",
            t,
            "--queue",
            &q.to_string(),
            "--from",
            "1",
            "--max",
            "2",
        ]);
        assert_eq!(code, 0);
        let got: Vec<Value> = jsonl(&out)
            .into_iter()
            .map(|m| m["physicalOffset"].clone())
            .collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want[1..3].to_vec());
        // Not there: exit 1.
        assert_eq!(cli(&["get", s(&st), "--offset", "1"]).0, 1);
        assert_eq!(
            cli(&[
                "get",
                s(&st),
                "--topic",
                t,
                "--queue",
                &q.to_string(),
                "--queue-offset",
                "100000"
            ])
            .0,
            1
        );
    }
    let fx = fixture("dledger/basic");
    for e in fixtures::read_jsonl(&fx.file("expected.jsonl").unwrap())
        .unwrap()
        .iter()
        .step_by(5)
    {
        let i = e["index"].to_string();
        let (code, out, err) = cli(&["get", s(&fx.store()), "--index", &i]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(&jsonl(&out)[0], e);
    }
    assert_eq!(cli(&["get", s(&fx.store()), "--index", "38"]).0, 1);
    assert_eq!(cli(&["get", s(&fx.store())]).0, 2, "no position given");
}

/// `stat` shows rocketlog's index sync point of a store a rocketlog engine
/// wrote (checked against the index file's own header), and reports a
/// damaged one as an error field instead of failing.
#[test]
fn stat_shows_the_index_sync_point() {
    use rocketlog::embed::{FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore};
    let dir = tempfile::tempdir().unwrap();
    let cfg = RocketMqConfig {
        flush_disk_type: FlushDiskType::AsyncFlush,
        clean_resource_interval: 0,
        ..RocketMqConfig::default()
    };
    let (store, _) = RocketMqStore::open(dir.path(), cfg).unwrap();
    for i in 0..5 {
        let props = format!("KEYS\u{1}k{i} j{i}\u{2}");
        store
            .put(&Message {
                topic: "T",
                queue_id: 0,
                flag: 0,
                body: b"body",
                properties: props.as_bytes(),
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
    }
    store.close().unwrap();
    // The oracle: the last index file's name and its header's indexCount.
    let mut names: Vec<_> = fs::read_dir(dir.path().join("index"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let last = names.last().unwrap();
    let header = fs::read(dir.path().join("index").join(last)).unwrap();
    let count = i32::from_be_bytes(header[36..40].try_into().unwrap());
    assert_eq!(count, 11, "two keys per message, counted from 1");
    let (code, out, err) = cli(&["stat", s(dir.path()), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["indexSyncPoint"]["indexFile"],
        last.parse::<u64>().unwrap()
    );
    assert_eq!(v["indexSyncPoint"]["indexCount"], count);
    // Damaged: reported, not fatal; the rest of `stat` is still there.
    fs::write(dir.path().join(".rocketlog-index-sync"), b"garbage").unwrap();
    let (code, out, err) = cli(&["stat", s(dir.path()), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let e = v["indexSyncPoint"]["error"].as_str().unwrap();
    assert!(
        e.contains(".rocketlog-index-sync") && e.contains("7 bytes"),
        "{e}"
    );
    assert!(v["checkpoint"]["physicMsgTimestamp"].as_i64().unwrap() > 0);
}
