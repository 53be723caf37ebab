//! A small server-style program on the embedding API: producer threads put
//! messages into a `SYNC_FLUSH` RocketMQ store (each `put` returns once its
//! record is durable; concurrent producers share fsyncs through group commit),
//! while a consumer thread follows every queue by queue offset, reading the
//! mapped files without blocking the producers.
//!
//! ```text
//! cargo run --release -p rocketlog --example server -- [STORE_DIR] [MESSAGES_PER_PRODUCER]
//! ```
//!
//! Run it twice on the same directory: the second run recovers the first's
//! data (clean shutdown, so nothing to repair) and continues after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rocketlog::embed::{FlushDiskType, Host, Message, RocketMqConfig, RocketMqStore};

const PRODUCERS: i32 = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("rocketlog-server-{}", std::process::id())),
        PathBuf::from,
    );
    let per: i64 = args.next().map_or(Ok(2000), |s| s.parse())?;
    let cfg = RocketMqConfig {
        mapped_file_size_commit_log: 16 * 1024 * 1024,
        flush_disk_type: FlushDiskType::SyncFlush,
        ..RocketMqConfig::default()
    };
    let (store, report) = RocketMqStore::open(&dir, cfg)?;
    println!("opened {}: {report}", dir.display());
    let store = Arc::new(store);
    let start: Vec<i64> = (0..PRODUCERS)
        .map(|q| store.queue_max_offset("orders", q))
        .collect();
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    std::thread::scope(
        |s| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|q| {
                    let store = &store;
                    s.spawn(move || -> Result<(), rocketlog::embed::Error> {
                        for i in 0..per {
                            let body = format!("order {q}-{i}: {}", "x".repeat(200));
                            let keys = format!("KEYS\u{1}order-{q}-{i}\u{2}");
                            store.put(&Message {
                                topic: "orders",
                                queue_id: q,
                                flag: 0,
                                body: body.as_bytes(),
                                properties: keys.as_bytes(),
                                sys_flag: 0,
                                born_timestamp: rocketlog::store::os::now_ms(),
                                born_host: Host::V4 {
                                    addr: [127, 0, 0, 1],
                                    port: 9000 + q,
                                },
                                reconsume_times: 0,
                                prepared_transaction_offset: 0,
                            })?;
                        }
                        Ok(())
                    })
                })
                .collect();
            let consumer = {
                let (store, stop, start) = (&store, &stop, &start);
                s.spawn(move || -> Result<i64, rocketlog::embed::Error> {
                    let mut next = start.clone();
                    let mut seen = 0;
                    loop {
                        let done = stop.load(Ordering::Acquire);
                        let mut got_any = false;
                        for q in 0..PRODUCERS {
                            let batch = store.consume("orders", q, next[q as usize], 64)?;
                            for m in &batch {
                                let v = m.view().ok_or_else(|| {
                                    rocketlog::embed::Error::NotFound("undecodable record".into())
                                })?;
                                next[q as usize] = v.queue_offset + 1;
                                seen += 1;
                            }
                            got_any |= !batch.is_empty();
                        }
                        if done && !got_any {
                            return Ok(seen);
                        }
                        if !got_any {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            };
            for p in producers {
                p.join().map_err(|_| "producer panicked")??;
            }
            stop.store(true, Ordering::Release);
            let seen = consumer.join().map_err(|_| "consumer panicked")??;
            let secs = t0.elapsed().as_secs_f64();
            let n = i64::from(PRODUCERS) * per;
            println!(
                "{n} durable puts in {secs:.2}s ({:.0}/s); the consumer read {seen}",
                n as f64 / secs
            );
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;
    let hit = store.find_by_key("orders", "order-1-7")?;
    println!("key order-1-7 -> {} message(s)", hit.len());
    let st = store.stats();
    println!(
        "commitlog [{}, {}) durable to {}; {} syncs for {} puts",
        st.min_offset,
        st.max_offset,
        st.durable_offset,
        st.flush.syncs,
        i64::from(PRODUCERS) * per
    );
    Arc::into_inner(store)
        .ok_or("store still shared")?
        .close()?;
    Ok(())
}
