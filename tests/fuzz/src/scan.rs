//! Whole-store readers over a [`MemStore`] built from fuzzer bytes: kind
//! detection, RocketMQ recovery/walk/verify with the consume queues and the
//! index, and DLedger recovery/walk/verify/get/walk_messages.

use core::ops::ControlFlow;

use rocketlog_core::codec::dledger::Line;
use rocketlog_core::mem::MemStore;
use rocketlog_core::scan::consume_queue::{self, ConsumeQueues};
use rocketlog_core::scan::dledger::{self as sdl, MessageItem};
use rocketlog_core::scan::index::{self, IndexService};
use rocketlog_core::scan::rocketmq::{self, Item, RecoveryMode, WalkOptions};
use rocketlog_core::scan::{ProblemKind, detect};

use super::input::StoreSpec;

/// Flag bits of the store encoding's first byte used here.
const NORMAL: u8 = 0x01;
const ABNORMAL: u8 = 0x02;
const NO_CRC: u8 = 0x04;
const INDEX_SAFE: u8 = 0x08;
const LINE_SHIFT: u8 = 4;
const LAST_EXIT_OK: u8 = 0x40;
const GIVE_SIZES: u8 = 0x80;

/// Runs every store reader over the store; checks the walks stay inside the
/// recovered ranges in increasing order and that every problem renders.
pub fn scan_store(data: &[u8]) {
    let spec = StoreSpec::parse(data);
    let store = spec.mem();
    let f = spec.flags;

    if let Ok(d) = detect::detect(&store) {
        let _ = d.kind.to_string();
    } else if let Err(e) = detect::detect(&store) {
        let _ = e.to_string();
    }

    rocketmq_side(&spec, &store, f);
    dledger_side(&spec, &store, f);

    // The queues and the index on their own.
    if let Ok(mut q) = ConsumeQueues::load(&store, &consume_queue::Config::default()) {
        for p in q.take_problems() {
            let _ = p.to_string();
        }
        if let Ok(ps) = q.verify(&store, |_| Ok(None)) {
            for p in ps {
                let _ = p.to_string();
            }
        }
    }
    let ckpt = rocketmq::read_checkpoint(&store, &mut Vec::new()).unwrap_or_default();
    if let Ok(ix) = IndexService::load(
        &store,
        &index::Config::default(),
        f & LAST_EXIT_OK != 0,
        &ckpt,
    ) {
        for k in ["k0", "k1", "UNIQ"] {
            for t in ["TopicA", "TopicB"] {
                let _ = ix.query_offset(&store, t, k, 64, 0, i64::MAX);
            }
        }
    }
}

fn rocketmq_side(spec: &StoreSpec, store: &MemStore, f: u8) {
    let mut cfg = rocketmq::Config {
        recovery: match f & (NORMAL | ABNORMAL) {
            0 => RecoveryMode::Auto,
            NORMAL => RecoveryMode::Normal,
            _ => RecoveryMode::Abnormal,
        },
        check_crc_on_recover: f & NO_CRC == 0,
        message_index_safe: f & INDEX_SAFE != 0,
        ..rocketmq::Config::default()
    };
    if f & GIVE_SIZES != 0 {
        cfg.file_size = spec
            .segments
            .iter()
            .find(|s| s.log == rocketlog_core::LogId::CommitLog)
            .map(|s| s.len);
    }
    let Ok(mut rec) = rocketmq::recover(store, &cfg) else {
        return;
    };
    let s = &rec.summary;
    assert_eq!(s.stop.offset, s.end);
    for p in rec.problems.iter().chain(rec.queues.take_problems().iter()) {
        let _ = p.to_string();
    }
    for opts in [WalkOptions::default(), WalkOptions::STRICT] {
        let mut last: Option<u64> = None;
        let r = rocketmq::walk(store, s, opts, |it| {
            let (at, end) = match it {
                Item::Message { offset, view } => {
                    assert_eq!(view.raw.len(), view.total_size as usize);
                    (offset, offset + view.raw.len() as u64)
                }
                Item::Blank { offset, .. } => (offset, offset + 8),
            };
            assert!(
                at >= s.min_offset && end <= s.end.max(at + 8),
                "walk item at {at}..{end} outside [{}, {})",
                s.min_offset,
                s.end
            );
            assert!(last.is_none_or(|l| at > l), "walk goes backwards");
            last = Some(at);
            ControlFlow::Continue(())
        });
        if let Ok(r) = r {
            for p in &r.problems {
                let _ = p.to_string();
            }
        }
    }
    if let Ok((_, problems)) = rocketmq::verify(store, &cfg) {
        for p in &problems {
            let _ = p.to_string();
            if let ProblemKind::Decode(e) = &p.kind {
                let _ = e.to_string();
            }
        }
    }
    for q in rec.queues.queues() {
        if let Ok(units) = q.units(store) {
            for (n, _) in units.iter().take(64) {
                let _ = q.get(store, *n);
            }
        }
        let _ = q.get(store, q.max_offset());
        let _ = q.get(store, u64::MAX);
    }
    if let Ok(keys) = index::all_keys(store, s) {
        for (topic, key) in keys.iter().take(16) {
            if let Ok(hits) = rec
                .index
                .query_message(store, topic, key, s.min_offset, s.end)
            {
                for h in hits {
                    assert!(h >= 0 && (h as u64) >= s.min_offset && (h as u64) < s.end);
                }
            }
        }
    }
}

fn dledger_side(spec: &StoreSpec, store: &MemStore, f: u8) {
    let mut opts = sdl::Options {
        line: match (f >> LINE_SHIFT) & 3 {
            1 => Some(Line::Classic),
            2 => Some(Line::Master),
            _ => None,
        },
        ..sdl::Options::default()
    };
    if f & GIVE_SIZES != 0 {
        let len = |log| spec.segments.iter().find(|s| s.log == log).map(|s| s.len);
        opts.data_file_size = len(rocketlog_core::LogId::DLedgerData);
        opts.index_file_size = len(rocketlog_core::LogId::DLedgerIndex);
    }
    let Ok(rec) = sdl::recover(store, &opts) else {
        return;
    };
    for p in &rec.problems {
        let _ = p.to_string();
    }
    let _ = rec.entry_count();
    // Entries come as Java's `get(i)` returns them: through hostile index
    // records they may repeat or carry another index, so only their shape
    // is checked.
    let _ = sdl::walk(store, &rec, |it| {
        match it {
            sdl::Item::Entry { entry, .. } => {
                assert_eq!(entry.raw.len(), entry.size as usize);
            }
            sdl::Item::Blank(b) => assert!(b.next_entry_pos > b.pos),
            sdl::Item::Problem(p) => {
                let _ = p.to_string();
            }
        }
        ControlFlow::Continue(())
    });
    for messages in [false, true] {
        let _ = sdl::verify(store, &rec, &sdl::VerifyOptions { messages }, |p| {
            let _ = p.to_string();
        });
    }
    let mut last: Option<u64> = None;
    if let Ok(end) = sdl::walk_messages(store, &rec, |it| {
        if let MessageItem::Message { offset, message } = it {
            assert!(last.is_none_or(|l| offset > l), "messages go backwards");
            assert_eq!(message.raw.len(), message.total_size as usize);
            last = Some(offset);
        }
        ControlFlow::Continue(())
    }) {
        assert!(end.end <= end.max_offset.max(end.end));
    }
    if rec.end_index >= 0 {
        let lo = rec.begin_index.max(0);
        let hi = rec.end_index.min(lo.saturating_add(63));
        for i in lo..=hi {
            let _ = sdl::get(store, &rec, i, |pos, e| (pos, e.index));
        }
    }
    let _ = sdl::get(store, &rec, rec.end_index.saturating_add(1), |_, _| ());
    let _ = sdl::get(store, &rec, i64::MIN, |_, _| ());
}
