//! The peer of `rocketlog bench`: the same append and read workloads on the
//! published `rocketmq-store` crate (the Rust port of RocketMQ's store),
//! driven the way its own `commit_log_performance` bench drives it
//! (`LocalFileMessageStore` + `CommitLog::put_message` on a tokio runtime).
//!
//! ```text
//! cargo build --release --manifest-path bench/peer/Cargo.toml
//! bench/peer/target/release/rocketlog-bench-peer --dir /tmp/x [--quick]
//! ```
//!
//! Prints one JSON object per line; `rocketlog bench` reads them and prints
//! rocketlog / peer ratios. Workload names match rocketlog's with `peer/`
//! in place of `rocketmq/`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cheetah_string::CheetahString;
use dashmap::DashMap;
use rocketmq_model::common::config::TopicConfig;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_ext_broker_inner::MessageExtBrokerInner;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_runtime::{ChildServiceContext, RuntimeConfig, RuntimeOwner};
use rocketmq_store::{
    BrokerReadStore, FlushDiskType, LocalFileMessageStore, MessageStoreConfig, PutMessageStatus,
    StoreRuntimeConfig,
};

fn context() -> ChildServiceContext {
    static OWNER: OnceLock<RuntimeOwner> = OnceLock::new();
    OWNER
        .get_or_init(|| {
            RuntimeOwner::plan(RuntimeConfig::server_default("rocketlog-bench-peer"))
                .expect("runtime configuration")
                .build()
                .expect("runtime")
        })
        .root_context()
        .component("rocketlog-bench-peer-store")
}

fn open(dir: &std::path::Path, flush: FlushDiskType) -> LocalFileMessageStore {
    let cfg = MessageStoreConfig {
        store_path_root_dir: dir.to_string_lossy().to_string().into(),
        flush_disk_type: flush,
        ha_listen_port: 0,
        ..MessageStoreConfig::default()
    };
    let mut store = LocalFileMessageStore::new(
        Arc::new(cfg),
        rocketmq_store_local::commit_log::append::micro_batch::MicroBatchPolicy::disabled(1)
            .expect("policy"),
        Arc::new(StoreRuntimeConfig::default()),
        Arc::new(DashMap::<CheetahString, Arc<TopicConfig>>::new()),
        None,
        false,
        context(),
    )
    .expect("store")
    .expect("timer store configuration");
    store.wire_owned_root_dependencies().expect("wire store");
    store
}

fn message(queue_id: i32, body: &[u8], n: u64) -> MessageExtBrokerInner {
    let mut m = Message::builder()
        .topic(CheetahString::from("BenchTopic"))
        .body(body.to_vec())
        .build_unchecked();
    m.set_keys(CheetahString::from(format!("w0-{n}")));
    let mut inner = MessageExtBrokerInner {
        message_ext_inner: MessageExt {
            message: m,
            ..Default::default()
        },
        ..Default::default()
    };
    inner.message_ext_inner.set_queue_id(queue_id);
    inner
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
) {
    let mut o = serde_json::json!({
        "workload": workload, "value": value, "unit": unit, "writers": writers,
        "p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99), "p999_us": pct(lat, 0.999),
    });
    if let Some(m) = mb_s {
        o["mb_s"] = serde_json::json!(m);
    }
    println!("{o}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("rocketlog-bench-peer"));
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let n_async: u64 = if quick { 100_000 } else { 300_000 };
    let sync_for = if quick {
        Duration::from_millis(1500)
    } else {
        Duration::from_secs(4)
    };

    for (label, body_len) in [("1KiB", 1024usize), ("100B", 100)] {
        let d = dir.join(format!("async-{label}"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        let store = open(&d, FlushDiskType::AsyncFlush);
        let body = vec![0x42u8; body_len];
        let mut lat = Vec::with_capacity(n_async as usize);
        let mut offsets = Vec::new();
        let mut bytes = 0u64;
        let t = Instant::now();
        for n in 0..n_async {
            let m = message((n % 8) as i32, &body, n);
            let s = Instant::now();
            let r = rt.block_on(store.get_commit_log().put_message(m));
            lat.push(s.elapsed().as_nanos() as u64);
            assert_eq!(r.put_message_status(), PutMessageStatus::PutOk);
            if let Some(a) = r.append_message_result() {
                bytes += a.wrote_bytes as u64;
                if n % 16 == 0 {
                    offsets.push(a.wrote_offset);
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        emit(
            &format!("peer/append/async/{label}/1w"),
            n_async as f64 / secs,
            "msgs/s",
            Some(bytes as f64 / secs / 1e6),
            &mut lat,
            1,
        );
        if label == "1KiB" && !offsets.is_empty() {
            let reads = if quick { 50_000 } else { 200_000 };
            let mut lat = Vec::with_capacity(reads);
            for i in 0..reads {
                let off = offsets[(i * 7919) % offsets.len()];
                let s = Instant::now();
                let m = store.look_message_by_offset(off);
                lat.push(s.elapsed().as_nanos() as u64);
                assert!(m.is_some(), "no message at {off}");
            }
            let p99 = pct(&mut lat, 0.99);
            emit(
                "peer/get/by-commitlog-offset",
                p99,
                "µs p99",
                None,
                &mut lat,
                1,
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&d);
    }

    // SYNC_FLUSH: as the peer's own bench, init + load + start first.
    for writers in [1usize, 16, 64] {
        let d = dir.join(format!("sync-{writers}"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        let mut store = open(&d, FlushDiskType::SyncFlush);
        rt.block_on(async {
            store.init().await.expect("init");
            assert!(store.load().await, "load");
            store.start().await.expect("start");
        });
        let body = vec![0x42u8; 1024];
        let mut lat = Vec::new();
        let mut n = 0u64;
        let t = Instant::now();
        // `writers` puts in flight at a time (join_all), as concurrent producers.
        while t.elapsed() < sync_for {
            let s = Instant::now();
            let cl = store.get_commit_log();
            let futs: Vec<_> = (0..writers)
                .map(|w| cl.put_message(message(w as i32 % 8, &body, n + w as u64)))
                .collect();
            for r in rt.block_on(futures_join(futs)) {
                assert_eq!(r.put_message_status(), PutMessageStatus::PutOk);
            }
            let el = s.elapsed().as_nanos() as u64;
            lat.extend(std::iter::repeat_n(el, writers));
            n += writers as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        emit(
            &format!("peer/append/sync/1KiB/{writers}w"),
            n as f64 / secs,
            "msgs/s",
            Some(n as f64 * 1024.0 / secs / 1e6),
            &mut lat,
            writers,
        );
        rt.block_on(async { store.shutdown().await });
        drop(store);
        let _ = std::fs::remove_dir_all(&d);
    }
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    futures_util::future::join_all(fs).await
}
