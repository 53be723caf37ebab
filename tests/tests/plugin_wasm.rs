//! The wasm plugin (`target/plugin/*.wasm`, built by `scripts/build-plugin.sh`)
//! loaded by wasmtime 48 with memory limits and fuel: every fixture decoded
//! through the core module (C ABI) and through the component (WIT) must equal
//! the fixture's `expected*.jsonl` (what Java read back); hostile input must
//! come back as error values, never as a trap; limits must stop a call cleanly.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use rocketlog_core::codec::message;
use rocketlog_core::json;
use rocketlog_tests::fixtures::{self, Fixture};
use serde_json::Value;
use wasmtime::{
    Config, Engine, Instance, Module, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};

mod comp {
    wasmtime::component::bindgen!({ world: "plugin", path: "../host-wasm/wit" });
}

use comp::exports::rocketlog::plugin::decoder::DecodeError;
use comp::rocketlog::plugin::types::{File as WitFile, LogRecord, StoreKind};

/// Fuel for ordinary calls: far more than any fixture needs.
const PLENTY: u64 = 20_000_000_000;
/// Memory limit for ordinary calls.
const MEMORY: usize = 256 << 20;

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin")
}

fn wasm(name: &str) -> PathBuf {
    let p = plugin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/build-plugin.sh first",
        p.display()
    );
    p
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut c = Config::new();
        c.consume_fuel(true);
        Engine::new(&c).expect("engine")
    })
}

fn core_module() -> &'static Module {
    static M: OnceLock<Module> = OnceLock::new();
    M.get_or_init(|| {
        Module::from_file(engine(), wasm("rocketlog_plugin.wasm")).expect("core module")
    })
}

fn component() -> &'static wasmtime::component::Component {
    static C: OnceLock<wasmtime::component::Component> = OnceLock::new();
    C.get_or_init(|| {
        wasmtime::component::Component::from_file(engine(), wasm("rocketlog_component.wasm"))
            .expect("component")
    })
}

// ---------------------------------------------------------------- core host

/// The core module behind its C ABI.
struct Core {
    store: Store<StoreLimits>,
    memory: wasmtime::Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    status: TypedFunc<(), i32>,
    decode: TypedFunc<(u32, u64, u32, u32), u32>,
    session_new: TypedFunc<u32, u32>,
    begin_file: TypedFunc<(u32, u64, u64), u32>,
    feed: TypedFunc<(u32, u32, u32), u32>,
    end_file: TypedFunc<u32, u32>,
    finish: TypedFunc<u32, u32>,
}

/// What a call returned: the JSON lines and the error object, if any.
#[derive(Debug)]
struct Output {
    lines: Vec<String>,
    error: Option<Value>,
    status: i32,
}

impl Core {
    fn new(memory: usize, fuel: u64) -> wasmtime::Result<Self> {
        let limits = StoreLimitsBuilder::new().memory_size(memory).build();
        let mut store = Store::new(engine(), limits);
        store.limiter(|l| l);
        store.set_fuel(fuel)?;
        let inst = Instance::new(&mut store, core_module(), &[])?;
        let memory = inst
            .get_memory(&mut store, "memory")
            .ok_or_else(|| wasmtime::format_err!("no memory export"))?;
        Ok(Self {
            alloc: inst.get_typed_func(&mut store, "rl_alloc")?,
            free: inst.get_typed_func(&mut store, "rl_free")?,
            status: inst.get_typed_func(&mut store, "rl_status")?,
            decode: inst.get_typed_func(&mut store, "rl_decode")?,
            session_new: inst.get_typed_func(&mut store, "rl_session_new")?,
            begin_file: inst.get_typed_func(&mut store, "rl_session_begin_file")?,
            feed: inst.get_typed_func(&mut store, "rl_session_feed")?,
            end_file: inst.get_typed_func(&mut store, "rl_session_end_file")?,
            finish: inst.get_typed_func(&mut store, "rl_session_finish")?,
            memory,
            store,
        })
    }

    fn plenty() -> Self {
        Self::new(MEMORY, PLENTY).expect("instantiate core module")
    }

    /// Copies `data` into a fresh block; `None` when the guest cannot allocate.
    fn put(&mut self, data: &[u8]) -> wasmtime::Result<Option<u32>> {
        let p = self.alloc.call(&mut self.store, data.len() as u32)?;
        if p == 0 {
            return Ok(None);
        }
        self.memory.write(&mut self.store, p as usize, data)?;
        Ok(Some(p))
    }

    fn output(&mut self, ptr: u32) -> wasmtime::Result<Output> {
        let status = self.status.call(&mut self.store, ())?;
        if ptr == 0 {
            return Ok(Output {
                lines: vec![],
                error: None,
                status,
            });
        }
        let mut h = [0u8; 4];
        self.memory.read(&self.store, ptr as usize, &mut h)?;
        // The buffer header is a wasm (little-endian) u32.
        #[allow(clippy::little_endian_bytes)]
        let n = u32::from_le_bytes(h) as usize;
        let mut text = vec![0u8; n];
        self.memory.read(&self.store, ptr as usize + 4, &mut text)?;
        let text = String::from_utf8(text)?;
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut error = None;
        if status != 0 {
            let last = lines.pop().unwrap_or_default();
            let v: Value = serde_json::from_str(&last)?;
            error = Some(v["error"].clone());
        }
        Ok(Output {
            lines,
            error,
            status,
        })
    }

    /// One whole file through `rl_decode`.
    fn decode_file(&mut self, flags: u32, base: u64, data: &[u8]) -> wasmtime::Result<Output> {
        let Some(p) = self.put(data)? else {
            return Ok(Output {
                lines: vec![],
                error: None,
                status: 3,
            });
        };
        let out = self
            .decode
            .call(&mut self.store, (flags, base, p, data.len() as u32))?;
        let o = self.output(out)?;
        self.free.call(&mut self.store, (p, data.len() as u32))?;
        Ok(o)
    }

    /// Files through one session, `chunk` bytes per feed; stops at the first error.
    fn session(
        &mut self,
        flags: u32,
        files: &[(u64, Vec<u8>)],
        chunk: usize,
    ) -> wasmtime::Result<Output> {
        let h = self.session_new.call(&mut self.store, flags)?;
        assert_ne!(h, 0, "rl_session_new refused flags {flags}");
        let mut lines = Vec::new();
        let step = |c: &mut Self, ptr: u32, lines: &mut Vec<String>| -> wasmtime::Result<Output> {
            let o = c.output(ptr)?;
            lines.extend(o.lines.iter().cloned());
            Ok(o)
        };
        for (base, data) in files {
            let o = {
                let r = self
                    .begin_file
                    .call(&mut self.store, (h, *base, data.len() as u64))?;
                step(self, r, &mut lines)?
            };
            if o.status != 0 {
                return Ok(Output { lines, ..o });
            }
            for c in data.chunks(chunk.max(1)) {
                let p = self.put(c)?.expect("guest alloc");
                let r = self.feed.call(&mut self.store, (h, p, c.len() as u32))?;
                let o = step(self, r, &mut lines)?;
                self.free.call(&mut self.store, (p, c.len() as u32))?;
                if o.status != 0 {
                    return Ok(Output { lines, ..o });
                }
            }
            let r = self.end_file.call(&mut self.store, h)?;
            let o = step(self, r, &mut lines)?;
            if o.status != 0 {
                return Ok(Output { lines, ..o });
            }
        }
        let r = self.finish.call(&mut self.store, h)?;
        let mut o = self.output(r)?;
        if o.status == 0 {
            let summary = o.lines.pop().unwrap_or_default();
            assert!(summary.starts_with("{\"summary\":"), "{summary}");
        }
        Ok(Output { lines, ..o })
    }
}

// ----------------------------------------------------------- component host

struct Host {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    limits: StoreLimits,
}

impl wasmtime_wasi::WasiView for Host {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

struct Comp {
    store: Store<Host>,
    plugin: comp::Plugin,
}

impl Comp {
    fn new(memory: usize, fuel: u64) -> wasmtime::Result<Self> {
        let mut linker = wasmtime::component::Linker::<Host>::new(engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let host = Host {
            ctx: wasmtime_wasi::WasiCtxBuilder::new().build(),
            table: wasmtime::component::ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(memory).build(),
        };
        let mut store = Store::new(engine(), host);
        store.limiter(|h| &mut h.limits);
        store.set_fuel(fuel)?;
        let plugin = comp::Plugin::instantiate(&mut store, component(), &linker)?;
        Ok(Self { store, plugin })
    }

    fn plenty() -> Self {
        Self::new(MEMORY, PLENTY).expect("instantiate component")
    }

    fn jsonl(
        &mut self,
        files: &[WitFile],
        kind: Option<StoreKind>,
    ) -> wasmtime::Result<Result<String, DecodeError>> {
        self.plugin
            .rocketlog_plugin_decoder()
            .call_decode_jsonl(&mut self.store, files, kind)
    }

    fn records(
        &mut self,
        files: &[WitFile],
        kind: Option<StoreKind>,
    ) -> wasmtime::Result<Result<Vec<LogRecord>, DecodeError>> {
        self.plugin
            .rocketlog_plugin_decoder()
            .call_decode(&mut self.store, files, kind)
    }

    /// Files through a session resource, `chunk` bytes per feed.
    fn session_jsonl(
        &mut self,
        files: &[(u64, Vec<u8>)],
        chunk: usize,
    ) -> wasmtime::Result<Result<String, DecodeError>> {
        let d = self.plugin.rocketlog_plugin_decoder();
        let s = d.session();
        let h = s.call_constructor(&mut self.store, None, false)?;
        let mut out = String::new();
        let r = (|| {
            for (base, data) in files {
                if let Err(e) = s.call_begin_file(&mut self.store, h, *base, data.len() as u64)? {
                    return Ok(Err(e));
                }
                for c in data.chunks(chunk.max(1)) {
                    match s.call_feed_jsonl(&mut self.store, h, c)? {
                        Ok(t) => out.push_str(&t),
                        Err(e) => return Ok(Err(e)),
                    }
                }
                match s.call_end_file_jsonl(&mut self.store, h)? {
                    Ok(t) => out.push_str(&t),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(s.call_finish(&mut self.store, h)?.map(|_| ()))
        })();
        h.resource_drop(&mut self.store)?;
        r.map(|r| r.map(|()| out))
    }
}

// ------------------------------------------------------------------ inputs

/// The log files of a fixture (commitlog/ or dledger-*/data/), in name order.
fn log_files(f: &Fixture) -> Vec<(u64, Vec<u8>)> {
    let store = f.store();
    let mut dir = store.join("commitlog");
    if !dir.is_dir() {
        let d = std::fs::read_dir(&store)
            .expect("store dir")
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("dledger-"))
            .expect("a commitlog/ or dledger-*/ directory");
        dir = d.path().join("data");
    }
    let mut files: Vec<(u64, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("log dir")
        .flatten()
        .filter_map(|e| {
            let base = rocketlog_core::layout::parse_file_name(&e.file_name().to_string_lossy())?;
            Some((base, std::fs::read(e.path()).ok()?))
        })
        .collect();
    files.sort_by_key(|f| f.0);
    assert!(!files.is_empty(), "{}: no log files", f.name);
    files
}

fn wit_files(files: &[(u64, Vec<u8>)]) -> Vec<WitFile> {
    files
        .iter()
        .map(|(b, d)| WitFile {
            base_offset: *b,
            data: d.clone(),
        })
        .collect()
}

fn parse_lines<S: AsRef<str>>(lines: &[S]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l.as_ref()).expect("plugin line is JSON"))
        .collect()
}

fn expected(f: &Fixture, name: &str) -> Vec<Value> {
    fixtures::read_jsonl(&f.file(name).expect("expected file")).expect("expected jsonl")
}

fn assert_same(what: &str, got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len(), "{what}: record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{what}: record {i} differs");
    }
}

fn all_fixtures() -> Vec<Fixture> {
    let all = fixtures::all();
    assert!(
        all.len() >= 4,
        "fixtures missing under {}",
        fixtures::root().display()
    );
    all
}

// ------------------------------------------------------------------- tests

#[test]
fn core_module_has_no_imports_and_exports_the_abi() {
    let m = core_module();
    assert_eq!(
        m.imports().count(),
        0,
        "the core module must be import-free"
    );
    for name in [
        "memory",
        "rl_abi_version",
        "rl_alloc",
        "rl_free",
        "rl_status",
        "rl_detect",
        "rl_decode",
        "rl_decode_named",
        "rl_session_new",
        "rl_session_begin_file",
        "rl_session_begin_file_named",
        "rl_session_feed",
        "rl_session_end_file",
        "rl_session_finish",
        "rl_session_free",
    ] {
        assert!(m.get_export(name).is_some(), "missing export {name}");
    }
}

#[test]
fn core_module_decodes_every_fixture_like_java() {
    for f in all_fixtures() {
        let files = log_files(&f);
        let want = expected(&f, "expected.jsonl");
        let mut c = Core::plenty();
        // Whole files, then odd chunk sizes (records straddle chunks).
        for chunk in [usize::MAX, 4096, 777, 61] {
            let o = c.session(0, &files, chunk).expect("no trap");
            assert_eq!(o.status, 0, "{}: {:?}", f.name, o.error);
            assert_same(
                &format!("{} core chunk {chunk}", f.name),
                &parse_lines(&o.lines),
                &want,
            );
        }
        if let Some(p) = f.file("expected_dledger.jsonl") {
            // kind 2 = dledger: the entries themselves.
            let o = c.session(2, &files, 8192).expect("no trap");
            assert_eq!(o.status, 0, "{}: {:?}", f.name, o.error);
            let want = fixtures::read_jsonl(&p).expect("expected_dledger");
            assert_same(
                &format!("{} core entries", f.name),
                &parse_lines(&o.lines),
                &want,
            );
        }
    }
}

#[test]
fn core_module_single_file_calls_agree_with_the_session() {
    for f in all_fixtures() {
        let files = log_files(&f);
        let want = expected(&f, "expected.jsonl");
        let mut c = Core::plenty();
        let mut got = Vec::new();
        for (base, data) in &files {
            let o = c.decode_file(0, *base, data).expect("no trap");
            assert_eq!(o.status, 0, "{}: {:?}", f.name, o.error);
            got.extend(parse_lines(&o.lines));
        }
        assert_same(&format!("{} rl_decode per file", f.name), &got, &want);
    }
}

#[test]
fn component_decodes_every_fixture_like_java() {
    let mut c = Comp::plenty();
    for f in all_fixtures() {
        let files = log_files(&f);
        let want = expected(&f, "expected.jsonl");
        let text = c
            .jsonl(&wit_files(&files), None)
            .expect("no trap")
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        let lines: Vec<&str> = text.lines().collect();
        assert_same(
            &format!("{} component", f.name),
            &parse_lines(&lines),
            &want,
        );

        let text = c
            .session_jsonl(&files, 1000)
            .expect("no trap")
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        let lines: Vec<&str> = text.lines().collect();
        assert_same(
            &format!("{} component session", f.name),
            &parse_lines(&lines),
            &want,
        );

        // Typed records carry the same values as the JSON objects.
        let recs = c
            .records(&wit_files(&files), None)
            .expect("no trap")
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        let typed: Vec<Value> = recs
            .iter()
            .filter_map(|r| match r {
                LogRecord::Message(m) => Some(serde_json::json!({
                    "physicalOffset": m.physical_offset, "msgId": m.msg_id, "topic": m.topic,
                    "bodyLength": m.body.len(), "tagsCode": m.tags_code, "queueOffset": m.queue_offset,
                })),
                LogRecord::EntryMessage(em) => Some(serde_json::json!({
                    "physicalOffset": em.message.physical_offset, "msgId": em.message.msg_id,
                    "topic": em.message.topic, "bodyLength": em.message.body.len(),
                    "tagsCode": em.message.tags_code, "queueOffset": em.message.queue_offset,
                })),
                LogRecord::Entry(e) => Some(serde_json::json!({
                    "index": e.index, "term": e.term, "pos": e.pos, "size": e.size,
                })),
                _ => None,
            })
            .collect();
        let projected: Vec<Value> = want
            .iter()
            .map(|w| {
                let keys: &[&str] = if w.get("msgId").is_some() {
                    &[
                        "physicalOffset",
                        "msgId",
                        "topic",
                        "bodyLength",
                        "tagsCode",
                        "queueOffset",
                    ]
                } else {
                    &["index", "term", "pos", "size"]
                };
                Value::Object(
                    keys.iter()
                        .map(|k| ((*k).to_owned(), w[*k].clone()))
                        .collect(),
                )
            })
            .collect();
        assert_same(&format!("{} component typed", f.name), &typed, &projected);
        let blanks = recs
            .iter()
            .filter(|r| matches!(r, LogRecord::Blank(_)))
            .count();
        assert_eq!(
            blanks,
            files.len() - 1,
            "{}: one blank per rolled file",
            f.name
        );

        if let Some(p) = f.file("expected_dledger.jsonl") {
            let text = c
                .jsonl(&wit_files(&files), Some(StoreKind::Dledger))
                .expect("no trap")
                .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
            let lines: Vec<&str> = text.lines().collect();
            let want = fixtures::read_jsonl(&p).expect("expected_dledger");
            assert_same(
                &format!("{} component entries", f.name),
                &parse_lines(&lines),
                &want,
            );
        }
    }
}

/// A deterministic byte source (xorshift) for garbage inputs.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The first record of every fixture's first file, as the only content of a file.
fn first_records() -> Vec<(String, Vec<u8>)> {
    all_fixtures()
        .iter()
        .map(|f| {
            let files = log_files(f);
            let data = &files[0].1;
            let size_at = if f.group() == "rocketmq" { 0 } else { 4 };
            let len = u32::from_be_bytes(data[size_at..size_at + 4].try_into().expect("4 bytes"));
            (f.name.clone(), data[..len as usize].to_vec())
        })
        .collect()
}

fn hostile_inputs() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![("zero-length".to_owned(), Vec::new())];
    for (i, n) in [1usize, 7, 8, 47, 48, 100, 4096, 70_000]
        .into_iter()
        .enumerate()
    {
        v.push((format!("random {n}"), noise(i as u64 + 1, n)));
    }
    for (name, rec) in first_records() {
        // Cut at every byte: covers every field boundary of the record.
        for cut in 1..rec.len() {
            v.push((format!("{name} cut at {cut}"), rec[..cut].to_vec()));
        }
        // Huge and negative size fields.
        let size_at = if rec.get(4..8) == Some(&message::MAGIC_V1.to_be_bytes()) {
            0
        } else {
            4
        };
        for bad in [i32::MAX, i32::MIN, -2, 0x10_0000, 47] {
            let mut r = rec.clone();
            r[size_at..size_at + 4].copy_from_slice(&bad.to_be_bytes());
            v.push((format!("{name} size {bad}"), r));
        }
        // Every length field inside a RocketMQ record set to its maximum.
        if size_at == 0 {
            let mut r = rec.clone();
            let body_len_at = 48 + 8 + 8 + 8 + 4 + 8;
            r[body_len_at..body_len_at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
            v.push((format!("{name} bodyLength max"), r));
        } else {
            let mut r = rec.clone();
            r[44..48].copy_from_slice(&i32::MAX.to_be_bytes());
            v.push((format!("{name} bodyLength max"), r));
        }
        // A flipped body bit (CRC mismatch for RocketMQ records).
        let mut r = rec.clone();
        let last = r.len() - 30;
        r[last] ^= 0x40;
        v.push((format!("{name} bit flip"), r));
    }
    v
}

/// Inputs that are not a valid log. (A prefix of zeros is a valid, empty,
/// preallocated file: DLedger magic and sizes start with zero bytes.)
fn must_fail(name: &str, data: &[u8]) -> bool {
    let zeros = !data.is_empty() && data.iter().all(|&b| b == 0);
    (name.contains(" cut at ") && !zeros)
        || name.starts_with("random")
        || name == "zero-length"
        || name.contains(" size ")
}

#[test]
fn core_module_turns_hostile_input_into_error_values() {
    let mut c = Core::plenty();
    let mut errors = 0;
    for (name, data) in hostile_inputs() {
        // No trap (a trap would be an Err here), and for anything that is not a
        // valid log an error object with a code and a message.
        let o = c
            .decode_file(0, 0, &data)
            .unwrap_or_else(|e| panic!("{name}: trapped: {e:?}"));
        let truncated = name.contains(" cut at ");
        if must_fail(&name, &data) {
            assert_ne!(o.status, 0, "{name}: accepted: {:?}", o.lines);
        }
        if let Some(e) = &o.error {
            errors += 1;
            assert!(
                e["code"].is_string() && e["message"].is_string(),
                "{name}: {e}"
            );
            if truncated && data.len() >= 8 {
                assert!(
                    e["offset"].as_u64().is_some(),
                    "{name}: offset missing in {e}"
                );
            }
        }
        // The same input, fed in tiny chunks through a session.
        let s = c
            .session(0, &[(0, data.clone())], 5)
            .unwrap_or_else(|e| panic!("{name}: session trapped: {e:?}"));
        assert_eq!(
            s.status != 0,
            o.status != 0,
            "{name}: session and rl_decode disagree"
        );
    }
    assert!(errors > 100, "only {errors} errors");
    // Contract violations are errors too, not traps.
    let out = c
        .decode
        .call(&mut c.store, (0, 0, 1 << 20, 100))
        .expect("no trap");
    let o = c.output(out).expect("output");
    assert_eq!(o.status, 2, "a pointer outside every block");
    let out = c
        .decode
        .call(&mut c.store, (0xFF, 0, 0, 0))
        .expect("no trap");
    assert_eq!(c.output(out).expect("output").status, 2, "unknown flags");
    let out = c.feed.call(&mut c.store, (12345, 0, 0)).expect("no trap");
    assert_eq!(c.output(out).expect("output").status, 2, "unknown session");
}

#[test]
fn component_turns_hostile_input_into_error_values() {
    let mut c = Comp::plenty();
    for (name, data) in hostile_inputs() {
        let r = c
            .records(
                &[WitFile {
                    base_offset: 0,
                    data: data.clone(),
                }],
                None,
            )
            .unwrap_or_else(|e| panic!("{name}: trapped: {e:?}"));
        if must_fail(&name, &data) {
            let e = r.expect_err(&name);
            let text = c
                .plugin
                .rocketlog_plugin_decoder()
                .call_describe_error(&mut c.store, &e)
                .expect("no trap");
            assert!(!text.is_empty(), "{name}");
            if name.contains(" cut at ") && data.len() >= 8 {
                assert!(
                    matches!(
                        e,
                        DecodeError::Truncated(_)
                            | DecodeError::UnknownKind(_)
                            | DecodeError::SizeOutOfRange(_)
                            | DecodeError::LengthMismatch(_)
                            | DecodeError::Other(_)
                    ),
                    "{name}: {e:?}"
                );
            }
        }
    }
}

#[test]
fn tiny_fuel_stops_a_call_with_a_clean_host_error() {
    let f = &all_fixtures()[0];
    let files = log_files(f);
    // Core module: instantiation is cheap; the decode runs out of fuel.
    let mut c = Core::new(MEMORY, 100_000).expect("instantiate with little fuel");
    let err = c
        .session(0, &files, usize::MAX)
        .expect_err("a decode of a whole store cannot finish on 100k fuel");
    assert_eq!(
        err.downcast_ref::<Trap>(),
        Some(&Trap::OutOfFuel),
        "{err:?}"
    );
    // Component.
    let r = Comp::new(MEMORY, 100_000).and_then(|mut c| c.jsonl(&wit_files(&files), None));
    let err = r.expect_err("out of fuel");
    assert_eq!(
        err.downcast_ref::<Trap>(),
        Some(&Trap::OutOfFuel),
        "{err:?}"
    );
}

#[test]
fn memory_limit_is_enforced_without_a_crash() {
    let big = vec![0x5Au8; 8 << 20];
    // Core module with 4 MiB of memory: an 8 MiB input cannot even be allocated.
    let mut c = Core::new(4 << 20, PLENTY).expect("instantiate in 4 MiB");
    assert_eq!(
        c.put(&big).expect("no trap"),
        None,
        "rl_alloc must return 0"
    );
    // It still works for small inputs afterwards.
    let f = &all_fixtures()[0];
    let files = log_files(f);
    let o = c.decode_file(0, files[0].0, &files[0].1).expect("no trap");
    assert_eq!(o.status, 0, "{:?}", o.error);
    // Input fits, output (about twice the input) does not: an error value
    // (status 3, out of memory) or a trap, never a crash.
    let data = synthetic_commitlog(4 << 20);
    let mut c = Core::new(7 << 20, PLENTY).expect("instantiate in 7 MiB");
    match c.decode_file(0, 0, &data) {
        Ok(o) => assert_eq!(o.status, 3, "{:?}", o.error),
        Err(e) => assert!(e.downcast_ref::<Trap>().is_some(), "{e:?}"),
    }
    // Component with 2 MiB: the canonical ABI cannot copy 8 MiB in: a host error.
    let r = Comp::new(2 << 20, PLENTY).and_then(|mut c| {
        c.jsonl(
            &[WitFile {
                base_offset: 0,
                data: big.clone(),
            }],
            None,
        )
    });
    assert!(
        r.is_err() || matches!(r, Ok(Err(_))),
        "8 MiB into 2 MiB must fail"
    );
}

#[test]
fn memory_per_call_stays_within_the_documented_bound() {
    // docs/plugin.md: linear memory <= 2 x input + 13 x chunk + largest record + 2 MiB.
    let f = all_fixtures()
        .into_iter()
        .find(|f| f.name == "rocketmq/basic")
        .expect("fixture");
    let files = log_files(&f);
    let input: usize = files.iter().map(|f| f.1.len()).sum();
    let mut c = Core::plenty();
    let o = c.session(0, &files, 64 << 10).expect("no trap");
    assert_eq!(o.status, 0);
    let used = c.memory.data_size(&c.store);
    let bound = 13 * (64 << 10) + 65_536 + (2 << 20);
    assert!(
        used <= bound,
        "memory {used} > bound {bound} (input {input})"
    );
}

// -------------------------------------------------------------- throughput

/// A commitlog of one `size`-byte file made of the fixture's records, with
/// offsets patched and an end-of-file blank, as the writer lays them out.
fn synthetic_commitlog(size: usize) -> Vec<u8> {
    let f = all_fixtures()
        .into_iter()
        .find(|f| f.name == "rocketmq/basic")
        .expect("fixture");
    let mut records = Vec::new();
    for (base, data) in log_files(&f) {
        let mut pos = 0usize;
        while let Ok(message::Record::Message(m)) = message::decode(
            &data[pos..],
            base + pos as u64,
            message::DecodeOptions::LENIENT,
        ) {
            records.push(m.raw.to_vec());
            pos += m.raw.len();
        }
    }
    let mut out = Vec::with_capacity(size);
    let mut q = 0i64;
    'fill: loop {
        for r in &records {
            if out.len() + r.len() + 8 > size {
                break 'fill;
            }
            let mut r = r.clone();
            assert!(message::patch_offsets(&mut r, q, out.len() as i64));
            q += 1;
            out.extend_from_slice(&r);
        }
    }
    let rest = size - out.len();
    out.extend_from_slice(&message::blank_header(rest as i32));
    out.resize(size, 0);
    out
}

fn native_jsonl(data: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0usize;
    while let Ok(message::Record::Message(m)) = message::decode(
        &data[pos..],
        pos as u64,
        message::DecodeOptions::JAVA_RECOVERY,
    ) {
        json::push_message(&mut out, &m, pos as u64);
        out.push('\n');
        pos += m.raw.len();
    }
    out
}

#[test]
#[ignore = "throughput measurement; run with --ignored --nocapture (release recommended)"]
fn plugin_throughput_next_to_native() {
    let size = 64 << 20;
    let data = synthetic_commitlog(size);
    let mib = size as f64 / (1 << 20) as f64;
    let rate = |t: std::time::Duration| mib / t.as_secs_f64();

    let t = Instant::now();
    let native = native_jsonl(&data);
    let native_t = t.elapsed();
    let lines = native.lines().count();

    let mut c = Core::plenty();
    let t = Instant::now();
    let o = c
        .session(0, &[(0, data.clone())], 4 << 20)
        .expect("core decode");
    let core_t = t.elapsed();
    assert_eq!(o.status, 0, "{:?}", o.error);
    assert_eq!(o.lines.len(), lines);

    let mut k = Comp::plenty();
    let t = Instant::now();
    let text = k
        .session_jsonl(&[(0, data.clone())], 4 << 20)
        .expect("no trap")
        .expect("component decode");
    let comp_t = t.elapsed();
    assert_eq!(text.lines().count(), lines);
    assert_eq!(text, native, "component output equals native output");

    println!(
        "decode to JSON lines, {mib:.0} MiB commitlog, {lines} messages:\n  native (core fns in-process): {:>8.1} MiB/s ({:?})\n  core module (wasmtime, 4 MiB chunks): {:>8.1} MiB/s ({:?})\n  component (session, 4 MiB chunks): {:>8.1} MiB/s ({:?})",
        rate(native_t),
        native_t,
        rate(core_t),
        core_t,
        rate(comp_t),
        comp_t
    );
}
