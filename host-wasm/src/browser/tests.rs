//! wasm-bindgen tests of the browser API against the fixtures' expected files.
//! Run with `scripts/test-wasm.sh` equivalent:
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
//!  cargo test -p rocketlog-wasm --target wasm32-unknown-unknown`
//! (node; set `WASM_BINDGEN_USE_BROWSER=1` + `CHROMEDRIVER` for Chromium).

use super::*;
use wasm_bindgen_test::wasm_bindgen_test;

macro_rules! files {
    ($dir:literal; $($name:literal),+) => {
        [$(($name, &include_bytes!(concat!("../../../tests/fixtures/", $dir, "/", $name))[..])),+]
    };
}

fn commitlog() -> [(&'static str, &'static [u8]); 8] {
    files!("rocketmq/basic/store/commitlog";
        "00000000000000000000", "00000000000000065536", "00000000000000131072", "00000000000000196608",
        "00000000000000262144", "00000000000000327680", "00000000000000393216", "00000000000000458752")
}

fn rocketmq_dledger() -> [(&'static str, &'static [u8]); 5] {
    files!("rocketmq-dledger/basic/store/dledger-n0/data";
        "00000000000000000000", "00000000000000065536", "00000000000000131072", "00000000000000196608",
        "00000000000000262144")
}

fn feed_session(s: &mut Session, files: &[(&str, &[u8])], chunk: usize) {
    for (name, bytes) in files {
        let base = parse_file_name(name).unwrap();
        s.begin_file(base, bytes.len() as f64, None, None).unwrap();
        for c in bytes.chunks(chunk) {
            s.push(c).unwrap();
        }
        s.end_file().unwrap();
    }
}

fn export(format: &str, view: &str, ids: Option<Vec<u32>>, files: &[(&str, &[u8])]) -> String {
    let mut r = Replay::exporter(Some(format.into()), None, view, ids).unwrap();
    let mut out = String::new();
    for (name, bytes) in files {
        r.begin_file(
            parse_file_name(name).unwrap(),
            bytes.len() as f64,
            None,
            None,
        )
        .unwrap();
        for c in bytes.chunks(10_000) {
            out.push_str(&r.push(c).unwrap());
        }
        out.push_str(&r.end_file().unwrap());
    }
    out
}

const EXPECTED: &str = include_str!("../../../tests/fixtures/rocketmq/basic/expected.jsonl");
const EXPECTED_RD: &str =
    include_str!("../../../tests/fixtures/rocketmq-dledger/basic/expected.jsonl");
const EXPECTED_RD_ENTRIES: &str =
    include_str!("../../../tests/fixtures/rocketmq-dledger/basic/expected_dledger.jsonl");

#[wasm_bindgen_test]
fn commitlog_session_summary_filters_and_export() {
    let files = commitlog();
    let mut s = Session::new(None, None).unwrap();
    feed_session(&mut s, &files, 3001);
    let summary = s.finish();
    assert!(
        summary.starts_with("{\"kind\":\"commitlog\",\"files\":8,"),
        "{summary}"
    );
    assert_eq!(s.record_count(), 60.0);
    assert_eq!(s.format().as_deref(), Some("commitlog"));

    // Counts from the expected file (an independent oracle).
    let lines: Vec<&str> = EXPECTED.lines().collect();
    let topic_a = lines
        .iter()
        .filter(|l| l.contains("\"topic\":\"TopicA\""))
        .count();
    let ids = s.filter(Some("TopicA".into()), None, None, None, None, None, None);
    assert_eq!(ids.len(), topic_a);
    let tag_a = lines
        .iter()
        .filter(|l| l.contains("\"TAGS\":\"TagA\""))
        .count();
    assert_eq!(
        s.filter(None, None, Some("TagA".into()), None, None, None, None)
            .len(),
        tag_a
    );
    assert_eq!(
        s.filter(Some("Nope".into()), None, None, None, None, None, None)
            .len(),
        0
    );

    // Export of everything equals the expected file; of a subset, its lines.
    assert_eq!(export("commitlog", "messages", None, &files), EXPECTED);
    let sub = export("commitlog", "messages", Some(ids.clone()), &files);
    let want: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("\"topic\":\"TopicA\""))
        .collect();
    assert_eq!(sub.lines().collect::<Vec<_>>(), want);

    // The record view: bytes located by the session decode to the same line.
    let loc = s.locate(5).unwrap();
    let (f, pos, size) = (loc[0] as usize, loc[1] as usize, loc[2] as usize);
    let bytes = &files[f].1[pos..pos + size];
    let v = s.inspect(5, bytes, "messages").unwrap();
    let mut want_json = String::new();
    rocketlog_core::json::push_str(&mut want_json, lines[5]);
    assert!(
        v.starts_with(&format!("{{\"json\":{want_json},\"spans\":[")),
        "{v}"
    );
    assert!(v.contains("\"name\":\"storeTimestamp\""));

    // Sorting by size descending puts the largest record first.
    let sorted = s.sort((0..60).collect(), "size", true).unwrap();
    let max = s.sizes().into_iter().max().unwrap();
    assert_eq!(s.sizes()[sorted[0] as usize], max);
    assert!(s.sort(vec![1], "nonsense", false).is_err());
}

#[wasm_bindgen_test]
fn dledger_mode_messages_and_entries() {
    let files = rocketmq_dledger();
    let mut s = Session::new(None, Some(true)).unwrap();
    feed_session(&mut s, &files, 65536);
    let summary = s.finish();
    assert!(
        summary.starts_with("{\"kind\":\"rocketmq-dledger\""),
        "{summary}"
    );
    assert_eq!(export("dledger", "messages", None, &files), EXPECTED_RD);
    assert_eq!(
        export("dledger", "entries", None, &files),
        EXPECTED_RD_ENTRIES
    );
}

#[wasm_bindgen_test]
fn body_search_finds_ascii_bodies() {
    let files = commitlog();
    // Bodies are hex in the expected file: count lines whose body contains "msg-1".
    let needle_hex = "6d73672d31";
    let want = EXPECTED
        .lines()
        .filter(|l| {
            let b = l
                .split("\"body\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("");
            (0..b.len())
                .step_by(2)
                .any(|i| b[i..].starts_with(needle_hex))
        })
        .count();
    let mut r = Replay::body_search(Some("commitlog".into()), None, "msg-1").unwrap();
    for (name, bytes) in files {
        r.begin_file(
            parse_file_name(name).unwrap(),
            bytes.len() as f64,
            None,
            None,
        )
        .unwrap();
        r.push(bytes).unwrap();
        r.end_file().unwrap();
    }
    assert_eq!(r.hits().len(), want);
}

#[wasm_bindgen_test]
fn garbage_is_a_typed_error() {
    let mut s = Session::new(None, None).unwrap();
    s.begin_file(0.0, 1000.0, None, None).unwrap();
    let garbage: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
    let e = s.push(&garbage).unwrap_err();
    let kind = js_sys::Reflect::get(&e, &"kind".into()).unwrap();
    assert_eq!(kind.as_string().as_deref(), Some("unknown-format"));
    let off = js_sys::Reflect::get(&e, &"offset".into()).unwrap();
    assert_eq!(off.as_f64(), Some(0.0));
    assert!(e.is_instance_of::<js_sys::Error>());
    assert!(Session::new(Some("bogus".into()), None).is_err());
    assert_eq!(detect_format(b"hello world, not a log"), "unknown");
}
