//! Criterion benches of the core: encode, decode, CRC, index math and the
//! recovery scan over in-memory pages. `cargo bench -p rocketlog-core`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocketlog_core::codec::index_file::{IndexGeometry, key_hash};
use rocketlog_core::codec::message::{self, DecodeOptions, Host, MessageParts};
use rocketlog_core::crc::masked_crc32;
use rocketlog_core::json;
use rocketlog_core::layout::{fit, locate};

fn parts(body: &[u8]) -> MessageParts<'_> {
    MessageParts {
        v2: None,
        body_crc: None,
        queue_id: 3,
        flag: 0,
        queue_offset: 42,
        physical_offset: 1 << 20,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: Host::V4 {
            addr: [10, 0, 0, 1],
            port: 5555,
        },
        store_timestamp: 1_700_000_000_001,
        store_host: Host::V4 {
            addr: [10, 0, 0, 2],
            port: 10911,
        },
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body,
        topic: b"BenchTopic",
        properties: b"KEYS\x01w0-12345\x02UNIQ_KEY\x01AC11000100002A9F0000000000000001\x02",
        append_prop_crc: false,
    }
}

fn encode_decode(c: &mut Criterion) {
    let body = vec![0x42u8; 1024];
    let p = parts(&body);
    let mut buf = vec![0u8; p.encoded_len()];
    let mut g = c.benchmark_group("message");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("encode 1KiB", |b| {
        b.iter(|| black_box(p.encode(black_box(&mut buf)).ok()))
    });
    g.bench_function("decode 1KiB strict", |b| {
        b.iter(|| {
            black_box(message::decode(black_box(&buf), 1 << 20, DecodeOptions::STRICT).is_ok())
        })
    });
    g.bench_function("decode 1KiB lenient", |b| {
        b.iter(|| {
            black_box(message::decode(black_box(&buf), 1 << 20, DecodeOptions::LENIENT).is_ok())
        })
    });
    if let Ok(message::Record::Message(m)) = message::decode(&buf, 1 << 20, DecodeOptions::LENIENT)
    {
        let mut line = String::new();
        g.bench_function("jsonl 1KiB", |b| {
            b.iter(|| {
                line.clear();
                json::push_message(&mut line, black_box(&m), 1 << 20);
                black_box(line.len())
            })
        });
    }
    g.finish();
}

fn crc(c: &mut Criterion) {
    let data = vec![0x5au8; 1 << 20];
    let mut g = c.benchmark_group("crc");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("masked_crc32 1MiB", |b| {
        b.iter(|| black_box(masked_crc32(black_box(&data))))
    });
    g.bench_function("crc32fast 1MiB", |b| {
        b.iter(|| black_box(crc32fast::hash(black_box(&data))))
    });
    g.finish();
}

fn index_math(c: &mut Criterion) {
    let geo = IndexGeometry {
        slots: 5_000_000,
        entries: 20_000_000,
    };
    c.bench_function("index key_hash + slot", |b| {
        b.iter(|| {
            let h = key_hash(black_box("BenchTopic#w0-123456"));
            black_box(geo.slot_pos(h as u32 % geo.slots))
        })
    });
    c.bench_function("layout locate + fit", |b| {
        b.iter(|| {
            let l = locate(black_box(3_221_225_000), 1 << 30);
            black_box((l, fit(1100, black_box(1_073_741_000), 1 << 30)))
        })
    });
}

criterion_group!(benches, encode_decode, crc, index_math);
criterion_main!(benches);
