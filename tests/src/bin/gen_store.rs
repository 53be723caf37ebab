//! Writes a plain RocketMQ store of about N MiB for read-throughput measurements:
//! commitlog files under the Java roll rule (end-of-file blanks included),
//! matching consume queues, and a checkpoint. No index files.
//!
//! ```text
//! cargo run --release -p rocketlog-tests --bin gen_store -- OUT_DIR SIZE_MIB [FILE_SIZE_BYTES]
//! rocketlog bench-read OUT_DIR
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use rocketlog_core::codec::checkpoint::StoreCheckpoint;
use rocketlog_core::codec::consume_queue::{CQ_UNIT_SIZE, CqUnit};
use rocketlog_core::codec::message::{self, Host, MessageParts};
use rocketlog_core::codec::properties;
use rocketlog_core::layout::{self, Fit};

/// Java's default consume-queue file size (300,000 units).
const CQ_FILE_SIZE: usize = 6_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: gen_store OUT_DIR SIZE_MIB [FILE_SIZE_BYTES (default 134217728)]");
    }
    let out = Path::new(&args[1]);
    let mib: u64 = args[2].parse().context("SIZE_MIB")?;
    let file_size: u64 = match args.get(3) {
        Some(s) => s.parse().context("FILE_SIZE_BYTES")?,
        None => 128 << 20,
    };
    if out.exists() {
        bail!("{} exists: refusing to write into it", out.display());
    }
    let target = mib << 20;
    let cl_dir = out.join("commitlog");
    fs::create_dir_all(&cl_dir)?;
    let fs_usize = usize::try_from(file_size)?;

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let topics = ["TopicA", "TopicB", "TopicC", "BenchTopicWithALongerName"];
    let mut queues: BTreeMap<(usize, i32), Vec<CqUnit>> = BTreeMap::new();
    let mut body = vec![0u8; 8192];
    for (i, b) in body.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    let mut file = vec![0u8; fs_usize];
    let mut file_start = 0u64;
    let mut pos = 0u64;
    let mut n = 0u64;
    let born_host = Host::V4 {
        addr: [10, 0, 0, 1],
        port: 50000,
    };
    let store_host = Host::V4 {
        addr: [192, 168, 7, 21],
        port: 10911,
    };
    let mut last_ts = 0;
    let mut record = vec![0u8; 16384];
    while file_start + pos < target {
        let t = rng.below(topics.len() as u64) as usize;
        let q = rng.below(4) as i32;
        let body_len = 64 + rng.below(2048) as usize;
        let key = format!("order-{n}");
        let uniq = format!("0A0000011F9018B4AAC2{n:012X}");
        let tag = ["TagA", "TagB", "TagC"][rng.below(3) as usize];
        let props = properties::encode([
            (properties::keys::KEYS, key.as_str()),
            (properties::keys::UNIQ_KEY, uniq.as_str()),
            (properties::keys::TAGS, tag),
            (properties::keys::WAIT, "true"),
        ]);
        let units = queues.entry((t, q)).or_default();
        let store_ts = 1_795_000_000_000 + n as i64;
        let mut parts = MessageParts {
            v2: None,
            body_crc: None,
            queue_id: q,
            flag: 0,
            queue_offset: units.len() as i64,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000 + n as i64,
            born_host,
            store_timestamp: store_ts,
            store_host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: &body[..body_len],
            topic: topics[t].as_bytes(),
            properties: &props,
            append_prop_crc: false,
        };
        let len = parts.encoded_len() as u64;
        match layout::fit(len, pos, file_size) {
            Fit::Here => {}
            Fit::RollAfterBlank { blank_len } => {
                let p = pos as usize;
                file[p..p + 8].copy_from_slice(&message::blank_header(blank_len as i32));
                fs::write(cl_dir.join(layout::file_name(file_start)), &file)?;
                file.fill(0);
                file_start += file_size;
                pos = 0;
            }
            Fit::TooLarge => bail!("a {len}-byte record never fits files of {file_size} bytes"),
        }
        parts.physical_offset = (file_start + pos) as i64;
        let written = parts.encode(&mut record)?;
        let p = pos as usize;
        file[p..p + written].copy_from_slice(&record[..written]);
        units.push(CqUnit {
            physical_offset: parts.physical_offset,
            size: written as i32,
            tags_code: message::tags_code_of(parts.topic, &props, store_ts),
        });
        pos += len;
        n += 1;
        last_ts = store_ts;
    }
    fs::write(cl_dir.join(layout::file_name(file_start)), &file)?;

    for ((t, q), units) in &queues {
        let dir = out
            .join("consumequeue")
            .join(topics[*t])
            .join(q.to_string());
        fs::create_dir_all(&dir)?;
        for (k, chunk) in units.chunks(CQ_FILE_SIZE / CQ_UNIT_SIZE).enumerate() {
            let mut b = vec![0u8; CQ_FILE_SIZE];
            for (i, u) in chunk.iter().enumerate() {
                b[i * CQ_UNIT_SIZE..(i + 1) * CQ_UNIT_SIZE].copy_from_slice(&u.encode());
            }
            fs::write(dir.join(layout::file_name((k * CQ_FILE_SIZE) as u64)), &b)?;
        }
    }
    let cp = StoreCheckpoint {
        physic_msg_timestamp: last_ts,
        logics_msg_timestamp: last_ts,
        index_msg_timestamp: 0,
        master_flushed_offset: 0,
        confirm_phy_offset: 0,
    };
    fs::write(out.join("checkpoint"), cp.encode())?;
    println!(
        "{}: {n} messages, {} bytes of commitlog in {} files of {file_size} bytes",
        out.display(),
        file_start + pos,
        file_start / file_size + 1
    );
    Ok(())
}
