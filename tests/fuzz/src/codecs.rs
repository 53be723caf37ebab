//! Record codecs: CommitLog messages, DLedger entries and index records, and
//! the small fixed-layout and text files.

use rocketlog_core::codec::checkpoint::StoreCheckpoint;
use rocketlog_core::codec::consume_queue::{BCQ_UNIT_SIZE, BcqUnit, CQ_UNIT_SIZE, CqUnit};
use rocketlog_core::codec::dledger::{
    self, DataRecord, Header, INDEX_UNIT_SIZE, IndexRecord, Line,
};
use rocketlog_core::codec::index_file::{
    self, ENTRY_LEN, HEADER_LEN, IndexEntry, IndexGeometry, IndexHeader, PutKey,
};
use rocketlog_core::codec::kv::{self, CurrTerm, DLedgerCheckpoint};
use rocketlog_core::codec::message::{
    self, BLANK_MAGIC, DecodeOptions, MAGIC_V1, MAGIC_V2, PropCrcCheck, Record,
};
use rocketlog_core::codec::properties;
use rocketlog_core::error::{DecodeError, DecodeErrorKind};
use rocketlog_core::{json, layout};

use super::input::Input;

/// Every combination of [`DecodeOptions`].
fn all_options() -> impl Iterator<Item = DecodeOptions> {
    [false, true].into_iter().flat_map(|check_body_crc| {
        [
            PropCrcCheck::Ignore,
            PropCrcCheck::IfPresent,
            PropCrcCheck::Require,
        ]
        .into_iter()
        .flat_map(move |prop_crc| {
            [false, true]
                .into_iter()
                .map(move |check_physical_offset| DecodeOptions {
                    check_body_crc,
                    prop_crc,
                    check_physical_offset,
                })
        })
    })
}

/// A `Truncated` error must describe a real prefix: `needed` more bytes
/// complete the 8-byte head, or the record's stored TOTALSIZE / size.
fn check_truncated(e: &DecodeError, buf: &[u8], offset: u64, size_at: usize) {
    assert_eq!(e.offset, offset, "error offset is the record's offset");
    if let DecodeErrorKind::Truncated { needed } = e.kind {
        assert!(needed > 0, "Truncated needs at least one byte");
        if buf.len() < 8 {
            assert_eq!(needed, 8 - buf.len() as u64);
        } else {
            let mut t = [0u8; 4];
            t.copy_from_slice(&buf[size_at..size_at + 4]);
            let total = u64::from(u32::from_be_bytes(t));
            let have = buf.len() as u64;
            // Either the declared size or (DLedger) the 48-byte header is missing.
            assert!(
                have + needed == total || have + needed == dledger::HEADER_LEN as u64,
                "Truncated {{ needed: {needed} }} with {have} bytes and declared size {total}"
            );
        }
    }
}

/// `codec::message::decode` with every option set. Checks: a decoded
/// message re-encodes to exactly its raw bytes; stricter options never accept
/// what laxer ones reject, and agree on what they accept; errors carry the
/// record offset; `Truncated` only for a real prefix (and every proper prefix
/// of a decoded record is `Truncated` with the right count).
pub fn decode_message(data: &[u8]) {
    let mut inp = Input::new(data);
    let offset = inp.u64();
    let buf = inp.rest();
    let lenient = message::decode(buf, offset, DecodeOptions::LENIENT);
    for opts in all_options() {
        let r = message::decode(buf, offset, opts);
        match r {
            Ok(Record::Message(v)) => {
                assert_eq!(lenient, r, "a stricter decode disagrees with LENIENT");
                assert_eq!(v.raw, &buf[..v.total_size as usize]);
                assert!(matches!(v.magic, MAGIC_V1 | MAGIC_V2));
                let parts = v.parts();
                assert_eq!(parts.encoded_len(), v.raw.len());
                let mut out = vec![0u8; v.raw.len()];
                let n = parts.encode(&mut out).expect("a decoded record re-encodes");
                assert_eq!(n, v.raw.len());
                assert_eq!(out, v.raw, "re-encoding differs from the decoded bytes");
                if opts.check_physical_offset {
                    assert_eq!(v.physical_offset as u64, offset);
                }
            }
            Ok(Record::Blank { total_size }) => {
                assert_eq!(buf[4..8], BLANK_MAGIC.to_be_bytes());
                assert_eq!(buf[..4], total_size.to_be_bytes());
            }
            Err(e) => {
                check_truncated(&e, buf, offset, 0);
                // A lenient failure is a failure under every option.
                if let Err(le) = &lenient {
                    assert_eq!(&e, le, "stricter options fail differently from LENIENT");
                }
            }
        }
    }
    if let Ok(Record::Message(v)) = lenient {
        // Accessors and the JSON rendering must not panic.
        let _ = v.topic_str();
        let _ = v.msg_id();
        let _ = v.tags_code();
        let _ = v.property(properties::keys::KEYS);
        let mut s = String::new();
        json::push_message(&mut s, &v, offset);
        // Proper prefixes are Truncated by exactly the missing bytes.
        let n = v.raw.len();
        for k in [0, 1, 7, 8, 9, n / 2, n - 1] {
            if k >= n {
                continue;
            }
            match message::decode(&buf[..k], offset, DecodeOptions::LENIENT) {
                Err(DecodeError {
                    kind: DecodeErrorKind::Truncated { needed },
                    ..
                }) => {
                    let want = if k < 8 { 8 - k } else { n - k };
                    assert_eq!(needed, want as u64, "prefix of {k} of a {n}-byte record");
                }
                other => panic!("prefix of {k} bytes of a {n}-byte record gave {other:?}"),
            }
        }
    }
}

/// `codec::dledger::decode` for both lines, plus index records. Checks:
/// entries re-encode exactly; the master line accepts everything the classic
/// line accepts, identically; `Truncated` only for a real prefix; index
/// records round-trip.
pub fn decode_dledger(data: &[u8]) {
    let mut inp = Input::new(data);
    let offset = inp.u64();
    let buf = inp.rest();
    let classic = dledger::decode(buf, offset, Line::Classic);
    let master = dledger::decode(buf, offset, Line::Master);
    if classic.is_ok() {
        assert_eq!(
            classic, master,
            "classic accepts what master decodes differently"
        );
    }
    for r in [&classic, &master] {
        match r {
            Ok(DataRecord::Entry(e)) => {
                assert_eq!(e.raw, &buf[..e.size as usize]);
                assert_eq!(e.body.len() + dledger::HEADER_LEN, e.raw.len());
                let h = Header::read(buf).expect("an entry has a header");
                assert_eq!((h.index, h.term, h.pos), (e.index, e.term, e.pos));
                let parts = e.parts();
                let mut out = vec![0u8; parts.encoded_len()];
                let n = parts.encode(&mut out).expect("a decoded entry re-encodes");
                assert_eq!(
                    &out[..n],
                    e.raw,
                    "re-encoding differs from the decoded bytes"
                );
                let ir = IndexRecord::of(e);
                assert_eq!(IndexRecord::decode(&ir.encode()), Some(ir));
                let _ = dledger::check_crcs(e, offset, None);
                let _ = dledger::check_crcs(e, offset, Some(e.chain_crc));
                let mut s = String::new();
                json::push_entry(&mut s, e);
                if e.body_crc != 0 && dledger::check_crcs(e, offset, None).is_ok() {
                    assert_eq!(dledger::body_crc(e.body), e.body_crc);
                }
                // Proper prefixes are Truncated.
                let size = e.raw.len();
                for k in [0, 7, 8, 47, size - 1] {
                    if k >= size {
                        continue;
                    }
                    let p = dledger::decode(&buf[..k], offset, Line::Master);
                    assert!(
                        matches!(&p, Err(e) if e.is_truncated()),
                        "prefix of {k} bytes of a {size}-byte entry gave {p:?}"
                    );
                }
            }
            Ok(DataRecord::Blank { len }) => {
                assert_eq!(buf[..4], dledger::BLANK_MAGIC.to_be_bytes());
                assert_eq!(buf[4..8], len.to_be_bytes());
            }
            Err(e) => check_truncated(e, buf, offset, 4),
        }
    }
    for c in buf.chunks_exact(INDEX_UNIT_SIZE) {
        let r = IndexRecord::decode(c).expect("32 bytes decode");
        assert_eq!(r.encode(), c, "index record round trip");
    }
}

/// Small codecs over the same bytes: consume-queue and batch units, IndexFile
/// header/entries with `select` and `put_key` on the bytes as a whole file,
/// the store checkpoint, DLedger `checkpoint`/`currterm` text, properties
/// pairs and file names.
pub fn decode_small(data: &[u8]) {
    let mut inp = Input::new(data);
    let sel = inp.u8();
    let arg = inp.u64();
    let buf = inp.rest();

    for c in buf.chunks_exact(CQ_UNIT_SIZE) {
        let u = CqUnit::decode(c).expect("20 bytes decode");
        assert_eq!(u.encode(), c, "cq unit round trip");
    }
    for c in buf.chunks_exact(BCQ_UNIT_SIZE) {
        let u = BcqUnit::decode(c).expect("46 bytes decode");
        assert_eq!(u.encode()[..42], c[..42], "bcq unit round trip");
    }
    index_file_checks(sel, arg, buf);

    match StoreCheckpoint::decode(buf) {
        Ok(c) => {
            assert!(buf.len() >= 24);
            // Only whole 8-byte fields are read; a partial one reads as 0.
            let enc = c.encode();
            let n = buf.len().min(40) / 8 * 8;
            assert_eq!(enc[..n], buf[..n], "checkpoint round trip");
            let _ = c.min_timestamp();
            let _ = c.min_timestamp_index();
        }
        Err(e) => assert!(e.is_truncated() && buf.len() < 24),
    }

    if let Ok(pairs) = kv::parse(buf) {
        let _ = kv::get(&pairs, "currTerm");
    }
    if let Ok(c) = DLedgerCheckpoint::parse(buf) {
        assert_eq!(DLedgerCheckpoint::parse(c.render().as_bytes()), Ok(c));
    }
    if let Ok(t) = CurrTerm::parse(buf) {
        let again = CurrTerm::parse(t.render().as_bytes()).expect("rendered currterm parses");
        assert_eq!(again.term, t.term);
        // A lone '\r' inside a value survives `parse` but is a line end
        // after rendering; only compare values without one.
        if !t.vote_for.as_deref().unwrap_or("").contains('\r') {
            assert_eq!(again, t, "currterm round trip");
        }
    }

    let pairs: Vec<(&[u8], &[u8])> = properties::pairs(buf).collect();
    for (k, v) in &pairs {
        assert!(!k.is_empty() && !v.is_empty());
        assert!(!k.contains(&properties::NAME_VALUE_SEPARATOR));
        assert!(!k.contains(&properties::PROPERTY_SEPARATOR));
        assert!(!v.contains(&properties::PROPERTY_SEPARATOR));
    }
    if let Some((k, v)) = pairs.last()
        && let Ok(k) = core::str::from_utf8(k)
    {
        let last = pairs.iter().rev().find(|(pk, _)| *pk == k.as_bytes());
        assert_eq!(properties::get(buf, k), last.map(|(_, v)| *v));
        let _ = v;
    }
    let text: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| Some((core::str::from_utf8(k).ok()?, core::str::from_utf8(v).ok()?)))
        .collect();
    if text.len() == pairs.len() {
        let enc = properties::encode(text.iter().copied());
        let back: Vec<(&[u8], &[u8])> = properties::pairs(&enc).collect();
        assert_eq!(back, pairs, "properties encode/parse round trip");
    }
    let _ = properties::to_sorted_map(buf);

    if let Ok(s) = core::str::from_utf8(buf) {
        if let Some(n) = layout::parse_file_name(s) {
            assert_eq!(layout::file_name(n), s, "file name round trip");
        }
        let _ = layout::parse_index_file_name(s);
    }
}

fn index_file_checks(sel: u8, arg: u64, buf: &[u8]) {
    if let Some(h) = IndexHeader::decode(buf) {
        assert_eq!(h.encode(), buf[..HEADER_LEN]);
    }
    let Some(entries) = buf.get(HEADER_LEN..) else {
        return;
    };
    for c in entries.chunks_exact(ENTRY_LEN) {
        let e = IndexEntry::decode(c).expect("20 bytes decode");
        assert_eq!(e.encode(), c);
    }
    let len = buf.len() as u64;
    let g = if sel & 1 == 0 {
        IndexGeometry::guess(len)
    } else {
        IndexGeometry::from_len_and_slots(len, u32::from(sel >> 1))
    };
    let Some(g) = g else { return };
    assert_eq!(g.file_len(), len, "guessed geometry covers the file");
    let key = format!("T#{}", arg % 1000);
    let mut out = Vec::new();
    index_file::select(buf, g, &key, i64::MIN, i64::MAX, 64, &mut out);
    assert!(out.len() <= 64);
    // `put_key` then `select` finds the new key first.
    let mut file = buf.to_vec();
    let ts = arg as i64;
    let phy = (arg.rotate_left(17) >> 1) as i64;
    if let PutKey::Stored(n) = index_file::put_key(&mut file, g, &key, phy, ts) {
        assert!(n >= 1);
        let mut hits = Vec::new();
        index_file::select(&file, g, &key, i64::MIN, i64::MAX, 1, &mut hits);
        assert_eq!(hits, [phy], "select after put_key");
    }
}
