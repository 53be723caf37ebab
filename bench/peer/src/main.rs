//! The peer of `rocketlog bench`: the same append and read workloads on the
//! published `rocketmq-store` crate 1.0.0 (the Rust port of RocketMQ's store),
//! driven the way its own `commit_log_performance` bench and
//! `architecture_store_performance_collector` example drive it:
//! `LocalFileMessageStore` (init + load + start, so its reput service builds
//! the consume queues and the index in the background, and its flush /
//! group-commit services run) on its `rocketmq-runtime` (tokio) runtime.
//!
//! ```text
//! cargo build --release --manifest-path bench/peer/Cargo.toml   # from the repository root
//! bench/peer/target/release/rocketlog-bench-peer [--dir DIR] [--quick] [--only SUBSTR]...
//!     [--msgs N] [--reads N] [--sync-ms MS] [--fill-bytes N]
//! rocketlog bench --quick          # runs it when built (or --peer PATH, --no-peer)
//! ```
//!
//! The first build compiles ~300 crates (about 10 minutes on 2 loaded cores).
//!
//! Prints one JSON object per line (`workload`, `value`, `unit`, `writers`,
//! `p50_us`, `p99_us`, `p999_us`, `mb_s`, `note`); `rocketlog bench` reads them
//! and prints rocketlog / peer ratios. Workload names match rocketlog's with
//! `peer/` in place of `rocketmq/`. `--only SUBSTR` (repeatable) runs only the
//! workloads whose names contain one of the substrings (the reads still fill
//! their store first). `--msgs`, `--reads`, `--sync-ms`, `--fill-bytes`
//! override the sizes (`rocketlog bench` passes its own, so both sides run
//! the same counts).
//!
//! Kept the same as rocketlog's workloads: topic `BenchTopic`, 8 queues
//! (queue `(writer + n) % 8`), a `0x42`-filled body of 1 KiB or 100 B, the
//! properties exactly `KEYS\x01w{writer}-{n}\x02` (a unique key per put, so
//! every put is indexed), the store's default configuration otherwise
//! (1 GiB commitlog files, index enabled, consume queues), the same flush
//! mode (`ASYNC_FLUSH` / `SYNC_FLUSH` group commit), N concurrent writers
//! each waiting for its own put before the next, the same message counts,
//! sync run length, read counts and store size for the reads (rocketlog's
//! are filled the same way: one async 1 KiB writer up to the size).
//!
//! What differs:
//! * The peer builds the consume queues and the index asynchronously (its
//!   reput service, as Java's broker does); rocketlog does it inside `put`.
//!   Append rates are measured to the last acknowledged put, as rocketlog's;
//!   the `note` also gives the rate until the reput service had indexed
//!   everything.
//! * A put builds a `MessageExtBrokerInner` (its API's input; the body is a
//!   shared `Bytes`, not copied); rocketlog borrows the message. Both are
//!   inside the timed operation.
//! * Puts go through `StorePorts::put_message_shared(&self)`, the
//!   store-level put its broker shares between concurrent producers (the
//!   `BrokerWriteStore::put_message` entry takes `&mut self`; the peer's
//!   own benches call `CommitLog::put_message`, which skips the store's
//!   checks and never wakes the reput service, so nothing gets indexed).
//! * Writers are tasks on the store's tokio runtime (as its broker serves
//!   producers; `PEER_WRITERS=threads` makes them OS threads blocking on
//!   each put, as rocketlog's, which measured slower for the peer: 1 writer
//!   async p50 18-20 µs against 9 µs).
//! * The timer wheel is disabled (`timer_wheel_enable = false`, as in the
//!   peer's collector): rocketlog has no timer store. HA listening is off.
//!   The clean service runs once, at start (`clean_resource_interval` 1 h):
//!   rocketlog's bench runs without its clean thread.
//! * The peer refuses writes when its disk is over 90 % used counting the
//!   root-reserved blocks (`DISK_FULL`, `LOGIC_DISK_FULL`; the threshold is
//!   clamped to at most 90 %). On such a disk (this machine's: 91 %) the
//!   bench clears those two flags after the store's one check at start; see
//!   `Peer::lift_disk_guard`.
//! * Get by commitlog offset is `look_message_by_offset` (decodes the record
//!   into a `MessageExt`); rocketlog's `get` copies and checks the record.
//!   The note gives `select_one_message_by_offset` (a zero-copy slice of the
//!   mapping) too. Get by queue offset is `get_message(group, topic, queue,
//!   offset, 1, None)`; get by key is `query_message(topic, key, 32, 0, MAX)`.
//!   Measured, not configured: the peer's `get_message` copies and compares
//!   the consume-queue file from the offset to its written end on every call
//!   (`ConsumeQueue::get_index_buffer` -> `select_mapped_buffer_with_position`:
//!   `Bytes::copy_from_slice` + `mapped_snapshot_matches_admitted`, ~95 % of
//!   its time under `perf`), so its latency grows with the queue length
//!   (p50 ~20 µs on a 256 MiB store, ~140 µs on 1 GiB).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cheetah_string::CheetahString;
use dashmap::DashMap;
use rocketmq_model::common::config::TopicConfig;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_ext_broker_inner::MessageExtBrokerInner;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use rocketmq_store::{
    BrokerReadStore, BrokerReplicationStore, BrokerStorePort, FlushDiskType, GetMessageStatus,
    LocalFileMessageStore, MessageStoreConfig, PutMessageStatus, StorePorts, StoreRuntimeConfig,
};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Queues the writers spread over (as rocketlog's bench).
const QUEUES: u64 = 8;
/// The topic of every workload (as rocketlog's bench).
const TOPIC: &str = "BenchTopic";
/// Consumer group of the queue reads (any name: the store keeps no state for it).
const GROUP: &str = "BenchGroup";

/// The peer's runtime owner: the store's services run on it, and the writer
/// threads drive their puts with its `block_on`.
fn owner() -> Res<&'static RuntimeOwner> {
    static OWNER: OnceLock<RuntimeOwner> = OnceLock::new();
    if let Some(o) = OWNER.get() {
        return Ok(o);
    }
    let o = RuntimeOwner::plan(RuntimeConfig::server_default("rocketlog-bench-peer"))
        .map_err(|e| format!("runtime configuration: {e:?}"))?
        .build()
        .map_err(|e| format!("runtime: {e:?}"))?;
    Ok(OWNER.get_or_init(|| o))
}

/// What to run, and how much.
struct Opts {
    dir: PathBuf,
    only: Vec<String>,
    msgs: u64,
    reads: u64,
    sync_for: Duration,
    fill_bytes: u64,
}

impl Opts {
    fn parse() -> Res<Self> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = Opts {
            dir: std::env::temp_dir().join(format!("rocketlog-bench-peer-{}", std::process::id())),
            only: Vec::new(),
            msgs: if quick { 300_000 } else { 1_000_000 },
            reads: if quick { 100_000 } else { 500_000 },
            sync_for: Duration::from_millis(if quick { 1500 } else { 4000 }),
            fill_bytes: if quick { 1 << 30 } else { 4 << 30 },
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val =
                || -> Res<&String> { Ok(it.next().ok_or(format!("{a}: missing value"))?) };
            match a.as_str() {
                "--quick" => {}
                "--dir" => o.dir = PathBuf::from(val()?),
                "--only" => o.only.push(val()?.clone()),
                "--msgs" => o.msgs = val()?.parse()?,
                "--reads" => o.reads = val()?.parse()?,
                "--sync-ms" => o.sync_for = Duration::from_millis(val()?.parse()?),
                "--fill-bytes" => o.fill_bytes = val()?.parse()?,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        Ok(o)
    }

    fn wants(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| workload.contains(s.as_str()))
    }
}

/// A started store in its own fresh directory (shut down and removed on
/// drop), owned the way the peer's broker owns it: a [`StorePorts`], whose
/// `put_message_shared(&self)` is the store-level put (checks, append, flush
/// or group commit, reput notification) that concurrent producers share.
struct Peer {
    ports: Arc<StorePorts>,
    dir: PathBuf,
}

impl Peer {
    fn open(dir: &Path, flush: FlushDiskType) -> Res<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let cfg = MessageStoreConfig {
            store_path_root_dir: dir.to_string_lossy().to_string().into(),
            flush_disk_type: flush,
            ha_listen_port: 0,
            timer_wheel_enable: false,
            // One disk check (at start) and no expiry during a run: rocketlog's
            // bench runs without its clean thread.
            clean_resource_interval: 3_600_000,
            ..MessageStoreConfig::default()
        };
        let owner = owner()?;
        let mut store = LocalFileMessageStore::new(
            Arc::new(cfg),
            rocketmq_store_local::commit_log::append::micro_batch::MicroBatchPolicy::disabled(1)
                .ok_or("invalid micro-batch policy")?,
            Arc::new(StoreRuntimeConfig::default()),
            Arc::new(DashMap::<CheetahString, Arc<TopicConfig>>::new()),
            None,
            false,
            owner.root_context().component("rocketlog-bench-peer-store"),
        )
        .map_err(|e| format!("create store: {e:?}"))?
        .ok_or("invalid timer store configuration")?;
        store
            .wire_owned_root_dependencies()
            .map_err(|e| format!("wire store: {e:?}"))?;
        owner.block_on(async {
            store.init().await.map_err(|e| format!("init: {e:?}"))?;
            if !store.load().await {
                return Err(format!("load {} failed", dir.display()));
            }
            store.start().await.map_err(|e| format!("start: {e:?}"))
        })?;
        let peer = Peer {
            ports: Arc::new(StorePorts::local_file(store)),
            dir: dir.to_path_buf(),
        };
        peer.lift_disk_guard()?;
        Ok(peer)
    }

    /// The peer refuses writes (flags `DISK_FULL` and `LOGIC_DISK_FULL`)
    /// when its disk is more than 90 % used, counting the blocks reserved for
    /// root as used (its cap: `disk_space_warning_level_ratio` is clamped to
    /// 90). On such a disk this waits for its one disk check at start and
    /// clears the two flags, before anything is put.
    fn lift_disk_guard(&self) -> Res<()> {
        const DISK_FULL: i32 = 1 << 4;
        const LOGIC_DISK_FULL: i32 = 1 << 6;
        let (total, avail) = (
            fs2::total_space(&self.dir)?,
            fs2::available_space(&self.dir)?,
        );
        let used = total.saturating_sub(avail) as f64 / total.max(1) as f64;
        let flags = self.store().get_running_flags();
        if used > 0.90 {
            let t = Instant::now();
            while flags.get_flag_bits() & (DISK_FULL | LOGIC_DISK_FULL)
                != DISK_FULL | LOGIC_DISK_FULL
            {
                if t.elapsed() > Duration::from_secs(60) {
                    return Err(format!(
                        "disk {:.1} % used, but the peer's disk check did not run within 60 s",
                        used * 100.0
                    )
                    .into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            flags.get_and_make_disk_ok();
            flags.get_and_make_logic_disk_ok();
        }
        match flags.get_flag_bits() {
            0 => Ok(()),
            bits => Err(format!("the peer store is not writable (running flags {bits:#x})").into()),
        }
    }

    fn store(&self) -> &LocalFileMessageStore {
        let StorePorts::LocalFileStore(s) = &*self.ports;
        s
    }

    /// Waits until the reput service has dispatched every byte (consume
    /// queues and index built).
    fn wait_dispatched(&self) -> Res<()> {
        let t = Instant::now();
        while self.store().dispatch_behind_bytes() > 0 {
            if t.elapsed() > Duration::from_secs(300) {
                return Err("the reput service did not catch up within 300 s".into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The writers' clones are gone once `append` returns.
        if let (Ok(o), Some(StorePorts::LocalFileStore(s))) =
            (owner(), Arc::get_mut(&mut self.ports))
        {
            o.block_on(s.shutdown());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn message(body: &Bytes, w: usize, n: u64) -> MessageExtBrokerInner {
    let key = format!("w{w}-{n}");
    let mut m = Message::builder()
        .topic(CheetahString::from_static_str(TOPIC))
        .body(body.clone())
        .build_unchecked();
    // The stored properties are `properties_string`; the map is what the put
    // path inspects. Both say exactly what rocketlog's bench stores.
    let props = format!("KEYS\u{1}{key}\u{2}");
    m.set_keys(CheetahString::from(key));
    let mut inner = MessageExtBrokerInner {
        message_ext_inner: MessageExt {
            message: m,
            ..Default::default()
        },
        properties_string: CheetahString::from(props),
        ..Default::default()
    };
    inner
        .message_ext_inner
        .set_queue_id(((w as u64 + n) % QUEUES) as i32);
    inner
}

/// How long a run goes on.
#[derive(Clone, Copy)]
enum Bound {
    Count(u64),
    For(Duration),
    /// Until the commitlog reaches this many bytes.
    Bytes(u64),
}

/// What a run did.
struct Outcome {
    ops: u64,
    bytes: u64,
    secs: f64,
    lat: Vec<u64>,
}

/// What the writers of one run share.
struct Run {
    ports: Arc<StorePorts>,
    body: Bytes,
    bound: Bound,
    start: Instant,
    stop: AtomicBool,
    /// Commitlog end offset reached so far.
    end: AtomicI64,
}

type WriterResult = Result<(u64, u64, Vec<u64>), String>;

/// One writer: puts 1 message at a time and waits for its acknowledgement.
async fn writer(run: Arc<Run>, w: usize) -> WriterResult {
    let mut lat = Vec::with_capacity(match run.bound {
        Bound::Count(c) => c as usize,
        _ => 1 << 16,
    });
    let (mut n, mut bytes) = (0u64, 0u64);
    loop {
        let done = match run.bound {
            Bound::Count(c) => n >= c,
            Bound::For(d) => run.start.elapsed() >= d,
            Bound::Bytes(b) => run.end.load(Ordering::Relaxed) as u64 >= b,
        };
        if done || run.stop.load(Ordering::Relaxed) {
            return Ok((n, bytes, lat));
        }
        let t = Instant::now();
        let r = run.ports.put_message_shared(message(&run.body, w, n)).await;
        let el = t.elapsed().as_nanos() as u64;
        if r.put_message_status() != PutMessageStatus::PutOk {
            run.stop.store(true, Ordering::Relaxed);
            let StorePorts::LocalFileStore(s) = &*run.ports;
            let pf = s.put_message_preflight();
            return Err(format!(
                "put: {:?} (store flags {:#x}, shut down: {})",
                r.put_message_status(),
                pf.flag_bits(),
                pf.is_shutdown()
            ));
        }
        if let Some(a) = r.append_message_result() {
            bytes += a.wrote_bytes as u64;
            run.end
                .fetch_max(a.wrote_offset + a.wrote_bytes as i64, Ordering::Relaxed);
        }
        lat.push(el);
        n += 1;
    }
}

/// `writers` concurrent writers, each a task on the store's runtime (as the
/// peer's broker runs its producers' requests), or with `PEER_WRITERS=threads`
/// an OS thread each blocking on its puts (as rocketlog's writer harness).
fn append(peer: &Peer, writers: usize, body: &Bytes, bound: Bound) -> Res<Outcome> {
    let owner = owner()?;
    let run = Arc::new(Run {
        ports: Arc::clone(&peer.ports),
        body: body.clone(),
        bound,
        start: Instant::now(),
        stop: AtomicBool::new(false),
        end: AtomicI64::new(0),
    });
    let threads = std::env::var("PEER_WRITERS").is_ok_and(|v| v == "threads");
    let results: Vec<WriterResult> = if threads {
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..writers)
                .map(|w| {
                    let run = Arc::clone(&run);
                    s.spawn(move || owner.block_on(writer(run, w)))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a writer panicked".into())))
                .collect()
        })
    } else {
        owner.block_on(async {
            let rt = tokio::runtime::Handle::current();
            let hs: Vec<_> = (0..writers)
                .map(|w| rt.spawn(writer(Arc::clone(&run), w)))
                .collect();
            let mut out = Vec::with_capacity(writers);
            for h in hs {
                out.push(
                    h.await
                        .unwrap_or_else(|e| Err(format!("a writer failed: {e}"))),
                );
            }
            out
        })
    };
    let secs = run.start.elapsed().as_secs_f64();
    let mut o = Outcome {
        ops: 0,
        bytes: 0,
        secs,
        lat: Vec::new(),
    };
    for r in results {
        let (n, b, l) = r?;
        o.ops += n;
        o.bytes += b;
        o.lat.extend(l);
    }
    Ok(o)
}

fn pct(v: &mut [u64], q: f64) -> f64 {
    v.sort_unstable();
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1] as f64 / 1e3
}

fn emit(
    workload: &str,
    value: f64,
    unit: &str,
    mb_s: Option<f64>,
    lat: &mut [u64],
    writers: usize,
    note: &str,
) {
    let mut o = serde_json::json!({
        "workload": workload, "value": value, "unit": unit, "writers": writers,
        "p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99), "p999_us": pct(lat, 0.999),
        "note": note,
    });
    if let Some(m) = mb_s {
        o["mb_s"] = serde_json::json!(m);
    }
    println!("{o}");
}

/// Emits an append figure; `t_indexed` is when the reput service caught up.
fn emit_append(name: &str, o: &mut Outcome, writers: usize, t_indexed: Option<f64>, extra: &str) {
    let rate = o.ops as f64 / o.secs;
    let mut note = String::new();
    if let Some(t) = t_indexed {
        note = format!("{:.0} msgs/s until indexed", o.ops as f64 / t);
    }
    if !extra.is_empty() {
        if !note.is_empty() {
            note.push_str("; ");
        }
        note.push_str(extra);
    }
    emit(
        name,
        rate,
        "msgs/s",
        Some(o.bytes as f64 / o.secs / 1e6),
        &mut o.lat,
        writers,
        &note,
    );
}

/// The same generator as rocketlog's bench (`bench::rocketmq::Rng`).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn timed(n: u64, mut op: impl FnMut(u64) -> Res<()>) -> Res<(Vec<u64>, f64)> {
    let mut lat = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i)?;
        lat.push(t.elapsed().as_nanos() as u64);
    }
    Ok((lat, t0.elapsed().as_secs_f64()))
}

fn reads(o: &Opts, peer: &Peer, msgs: u64) -> Res<()> {
    let owner = owner()?;
    let store = peer.store();
    let topic = CheetahString::from_static_str(TOPIC);
    let group = CheetahString::from_static_str(GROUP);
    let per_queue = msgs / QUEUES;
    // Commitlog offsets to read, found through the queues beforehand.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut offsets = Vec::new();
    for _ in 0..o.reads.min(20_000) {
        let q = rng.below(QUEUES) as i32;
        let off = store.get_commit_log_offset_in_queue(&topic, q, rng.below(per_queue) as i64);
        if off >= 0 {
            offsets.push(off);
        }
    }
    if offsets.is_empty() {
        return Err("the peer store has no messages in its queues".into());
    }
    let at = |i: u64| offsets[(i as usize * 7919) % offsets.len()];

    if o.wants("peer/get/by-commitlog-offset") {
        let (_, _) = timed(o.reads.min(10_000), |i| {
            store
                .look_message_by_offset(at(i))
                .map(|_| ())
                .ok_or_else(|| "warm-up".into())
        })?;
        let (mut sel, _) = timed(o.reads, |i| {
            let m = store.select_one_message_by_offset(at(i));
            match m {
                Some(m) if m.size() > 0 => Ok(()),
                _ => Err(format!("select_one_message_by_offset({}): nothing", at(i)).into()),
            }
        })?;
        let sel_p99 = pct(&mut sel, 0.99);
        let (mut lat, secs) = timed(o.reads, |i| {
            let m = store.look_message_by_offset(at(i));
            match m {
                Some(m) if m.get_body().is_some_and(|b| b.len() == 1024) => Ok(()),
                _ => Err(format!("look_message_by_offset({}): no 1 KiB message", at(i)).into()),
            }
        })?;
        let p99 = pct(&mut lat, 0.99);
        let note = format!(
            "{:.0} reads/s on 1 thread (look_message_by_offset); select_one_message_by_offset p99 {sel_p99:.2} µs",
            o.reads as f64 / secs
        );
        emit(
            "peer/get/by-commitlog-offset",
            p99,
            "µs p99",
            None,
            &mut lat,
            1,
            &note,
        );
    }

    // The peer's queue and key reads are async: each loop runs inside one
    // `block_on` on the store's runtime (as its own collector drives them).
    if o.wants("peer/get/by-queue-offset") {
        let mut rng = Rng(7);
        let (mut lat, secs) = owner.block_on(async {
            let mut lat = Vec::with_capacity(o.reads as usize);
            let t0 = Instant::now();
            for _ in 0..o.reads {
                let (q, qo) = (rng.below(QUEUES) as i32, rng.below(per_queue) as i64);
                let t = Instant::now();
                let r = store.get_message(&group, &topic, q, qo, 1, None).await;
                let el = t.elapsed().as_nanos() as u64;
                match r {
                    Some(r)
                        if r.status() == Some(GetMessageStatus::Found)
                            && r.message_count() == 1 => {}
                    r => {
                        return Err(format!(
                            "get_message(queue {q}, offset {qo}): {:?}",
                            r.map(|r| (r.status(), r.message_count()))
                        ));
                    }
                }
                lat.push(el);
            }
            Ok((lat, t0.elapsed().as_secs_f64()))
        })?;
        let p99 = pct(&mut lat, 0.99);
        let note = format!(
            "{:.0} reads/s on 1 thread (get_message, 1 message; it copies and compares the rest of the consume-queue file per call)",
            o.reads as f64 / secs
        );
        emit(
            "peer/get/by-queue-offset",
            p99,
            "µs p99",
            None,
            &mut lat,
            1,
            &note,
        );
    }

    if o.wants("peer/get/by-key") {
        let mut rng = Rng(11);
        let n = (o.reads / 10).max(1);
        let (mut lat, secs) = owner.block_on(async {
            let mut lat = Vec::with_capacity(n as usize);
            let t0 = Instant::now();
            for _ in 0..n {
                let k = rng.below(msgs);
                let t = Instant::now();
                let key = CheetahString::from(format!("w0-{k}"));
                let r = store.query_message(&topic, &key, 32, 0, i64::MAX).await;
                let el = t.elapsed().as_nanos() as u64;
                match r {
                    Some(r) if r.message_maped_list.len() == 1 => {}
                    r => {
                        return Err(format!(
                            "query_message(key w0-{k}): {:?} messages",
                            r.map(|r| r.message_maped_list.len())
                        ));
                    }
                }
                lat.push(el);
            }
            Ok((lat, t0.elapsed().as_secs_f64()))
        })?;
        let p99 = pct(&mut lat, 0.99);
        let note = format!("{:.0} reads/s on 1 thread (query_message)", n as f64 / secs);
        emit("peer/get/by-key", p99, "µs p99", None, &mut lat, 1, &note);
    }
    Ok(())
}

fn run(o: &Opts) -> Res<()> {
    std::fs::create_dir_all(&o.dir)?;
    let kib = Bytes::from(vec![0x42u8; 1024]);
    let small = Bytes::from(vec![0x42u8; 100]);

    for (body, label) in [(&kib, "1KiB"), (&small, "100B")] {
        for writers in [1usize, 4] {
            let name = format!("peer/append/async/{label}/{writers}w");
            if !o.wants(&name) {
                continue;
            }
            eprintln!("rocketlog-bench-peer: {name}");
            let peer = Peer::open(&o.dir.join("async"), FlushDiskType::AsyncFlush)?;
            let t = Instant::now();
            let mut out = append(&peer, writers, body, Bound::Count(o.msgs / writers as u64))?;
            peer.wait_dispatched()?;
            let indexed = t.elapsed().as_secs_f64();
            emit_append(&name, &mut out, writers, Some(indexed), "");
        }
    }

    for writers in [1usize, 16, 64] {
        let name = format!("peer/append/sync/1KiB/{writers}w");
        if !o.wants(&name) {
            continue;
        }
        eprintln!("rocketlog-bench-peer: {name}");
        let peer = Peer::open(&o.dir.join("sync"), FlushDiskType::SyncFlush)?;
        let io = |p: &Peer| {
            p.store()
                .get_commit_log()
                .mapped_file_io_stats()
                .flush_operations
        };
        let before = io(&peer);
        let mut out = append(&peer, writers, &kib, Bound::For(o.sync_for))?;
        let flushes = io(&peer).saturating_sub(before);
        let extra = format!(
            "{flushes} mapped-file flushes, {:.1} msgs/flush",
            out.ops as f64 / flushes.max(1) as f64
        );
        emit_append(&name, &mut out, writers, None, &extra);
    }

    // The read store: filled by one async writer to the size rocketlog's reads use.
    let fill = "peer/append/async/1KiB/1w/fill";
    let any_read = [
        "peer/get/by-commitlog-offset",
        "peer/get/by-queue-offset",
        "peer/get/by-key",
    ]
    .iter()
    .any(|n| o.wants(n));
    if any_read || o.only.iter().any(|s| s.contains("fill")) {
        eprintln!("rocketlog-bench-peer: fill {} MiB", o.fill_bytes >> 20);
        let peer = Peer::open(&o.dir.join("store"), FlushDiskType::AsyncFlush)?;
        let t = Instant::now();
        let mut out = append(&peer, 1, &kib, Bound::Bytes(o.fill_bytes))?;
        peer.wait_dispatched()?;
        let indexed = t.elapsed().as_secs_f64();
        let msgs = out.ops;
        if o.wants(fill) {
            let extra = format!("{} MiB store", out.bytes >> 20);
            emit_append(fill, &mut out, 1, Some(indexed), &extra);
        }
        drop(out);
        eprintln!("rocketlog-bench-peer: reads");
        reads(o, &peer, msgs)?;
    }
    Ok(())
}

fn main() {
    // The peer's warnings (it logs through `tracing`) go to stderr, which
    // `rocketlog bench` shows only when the peer fails.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let res = Opts::parse().and_then(|o| {
        let r = run(&o);
        let _ = std::fs::remove_dir_all(&o.dir);
        r
    });
    if let Err(e) = res {
        eprintln!("rocketlog-bench-peer: {e}");
        std::process::exit(1);
    }
}
