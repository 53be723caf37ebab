//! Recovery's check of the entries of one data file, over one view of it,
//! in stretches checked by a [`Fanout`]'s jobs.
//!
//! [`run`] is the sequential check: entries one after the other from a
//! position, each against the previous one. [`file`] cuts the file (up to
//! the end of its data, as far as the store's hints tell) into stretches. A
//! job per stretch finds the first position that looks like an entry of
//! this file (the entry magic and a `pos` field naming the position), takes
//! that entry's header on trust as "the previous entry" and checks the
//! entries after it with [`run`], until one starts past the stretch. The
//! calling thread joins the stretches in order: a stretch's result is taken
//! only if it starts exactly where the entries of the previous ones ended
//! and its first entry, checked there against the true previous entry, is
//! accepted and is the entry the job assumed; else the stretch is checked
//! again from there. Each piece joined is thus [`run`] from the true entry
//! boundary with the true previous entry, so the result is exactly the
//! sequential one, whatever the stored bytes.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::dledger::{self as codec, DataRecord, HEADER_LEN, Header, IndexRecord, Line};
use crate::engine::fanout::Fanout;
use crate::layout;
use crate::scan::zeros;

use super::MAX_INDEX;

/// The last entry seen by the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Last {
    pub(super) index: i64,
    pub(super) term: i64,
    pub(super) chain: i32,
    /// Both CRC fields were present.
    pub(super) crc: bool,
}

impl Last {
    fn of(h: &Header) -> Self {
        Self {
            index: h.index,
            term: h.term,
            chain: h.chain_crc,
            crc: h.body_crc != 0 && h.chain_crc != 0,
        }
    }
}

/// What the first entry of the whole scan is checked against (it has no
/// previous entry).
#[derive(Debug, Clone, Copy)]
pub(super) struct First {
    /// The index the start marker names.
    pub(super) index: Option<i64>,
    /// The chain CRC the first entry was computed from, when known.
    pub(super) prev_chain: Option<i32>,
}

/// Why a run ended for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Halt {
    /// Zeros: the end of the written data.
    Zeros,
    /// A rejected record at this absolute offset.
    Stop(u64, String),
}

/// The entries checked from a position of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Run {
    /// Position in the file just past the last accepted entry (or filler).
    pub(super) end: u64,
    pub(super) entries: u64,
    pub(super) crcs: u64,
    pub(super) first_index: Option<i64>,
    pub(super) last: Option<Last>,
    /// First entry whose index record disagrees: (index, data offset).
    pub(super) index_mismatch: Option<(i64, u64)>,
    /// Set when the entries end before the file does.
    pub(super) halt: Option<Halt>,
}

impl Run {
    fn empty(at: u64) -> Self {
        Self {
            end: at,
            entries: 0,
            crcs: 0,
            first_index: None,
            last: None,
            index_mismatch: None,
            halt: None,
        }
    }

    /// Appends `r`, which started where `self` ended.
    fn join(&mut self, r: Self) {
        self.entries += r.entries;
        self.crcs += r.crcs;
        self.first_index = self.first_index.or(r.first_index);
        self.last = r.last.or(self.last);
        self.index_mismatch = self.index_mismatch.or(r.index_mismatch);
        self.end = r.end;
        self.halt = r.halt;
    }
}

/// Checks one entry (`b`, at absolute `pos`) after `prev`.
fn check(
    b: &[u8],
    pos: u64,
    prev: Option<Last>,
    first: &First,
) -> Result<(IndexRecord, Last), String> {
    let e = match codec::decode(b, pos, Line::Classic) {
        Ok(DataRecord::Entry(e)) => e,
        Ok(DataRecord::Blank { .. }) => return Err(String::from("unexpected filler")),
        Err(e) => return Err(format!("{e}")),
    };
    if e.pos != pos as i64 {
        return Err(format!("pos field {} is not the entry's offset", e.pos));
    }
    if e.channel != 0 {
        return Err(format!("channel {} (always 0)", e.channel));
    }
    match (prev, first.index) {
        (Some(p), _) if e.index != p.index + 1 => {
            return Err(format!("index {} after {}", e.index, p.index));
        }
        (Some(p), _) if e.term < p.term => {
            return Err(format!("term {} below the previous {}", e.term, p.term));
        }
        (None, Some(want)) if e.index != want => {
            return Err(format!(
                "first index {} but the checkpoint says {want}",
                e.index
            ));
        }
        _ => {}
    }
    if e.index < 0 || e.term < 0 || e.index > MAX_INDEX {
        return Err(format!("index {} or term {} out of range", e.index, e.term));
    }
    // One leader writes every entry of a term, so CRCs cannot go from
    // present to absent within a term: zeros there are a torn write (a lost
    // tail of the header reads as "no CRC").
    if let Some(p) = prev
        && p.crc
        && p.term == e.term
        && (e.body_crc == 0 || e.chain_crc == 0)
    {
        return Err(String::from(
            "CRC fields missing after CRC'd entries of the same term",
        ));
    }
    // The first entry's chain is checked against the chain it was computed
    // from, when known: 0 at the origin of the log, or the value persisted
    // with the start marker after an expiry.
    let prev_chain = match prev {
        Some(p) => Some(p.chain),
        None => first.prev_chain,
    };
    codec::check_crcs(&e, pos, prev_chain).map_err(|err| format!("{err}"))?;
    Ok((
        IndexRecord::of(&e),
        Last {
            index: e.index,
            term: e.term,
            chain: e.chain_crc,
            crc: e.body_crc != 0 && e.chain_crc != 0,
        },
    ))
}

/// Checks the entries of `buf` (a whole data file at `base`) from `from`
/// after `prev`, until the file ends, an entry is rejected, zeros follow, or
/// an entry would start at or past `limit`. `index_ok` compares an entry's
/// index record with the index files.
pub(super) fn run(
    buf: &[u8],
    base: u64,
    from: u64,
    limit: u64,
    prev: Option<Last>,
    first: &First,
    index_ok: &dyn Fn(&IndexRecord) -> bool,
) -> Run {
    let size = buf.len() as u64;
    let mut r = Run::empty(from);
    let mut prev = prev;
    let mut p = from;
    let stop = |r: &mut Run, p: u64, reason: String| r.halt = Some(Halt::Stop(base + p, reason));
    while p < size && p < limit {
        let rem = size - p;
        if rem < layout::MIN_BLANK_LEN {
            stop(&mut r, p, format!("only {rem} bytes left in the file"));
            break;
        }
        // `rem >= 8` and `p < size`: in bounds.
        let at = p as usize;
        let h = &buf[at..at + 8];
        let magic = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let len = i32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        if magic == codec::BLANK_MAGIC {
            if u64::try_from(len) != Ok(rem) {
                stop(
                    &mut r,
                    p,
                    format!("filler of length {len} does not reach the file end ({rem} bytes)"),
                );
                break;
            }
            p = size;
            r.end = p;
            continue;
        }
        if magic == 0 && len == 0 {
            r.halt = Some(Halt::Zeros);
            break;
        }
        let ulen = u64::try_from(len).unwrap_or(0);
        if ulen < HEADER_LEN as u64 || ulen > rem {
            stop(
                &mut r,
                p,
                format!("entry size {len} outside 48..={rem} (magic {magic})"),
            );
            break;
        }
        let (rec, last) = match check(&buf[at..at + ulen as usize], base + p, prev, first) {
            Ok(v) => v,
            Err(reason) => {
                stop(&mut r, p, reason);
                break;
            }
        };
        if r.index_mismatch.is_none() && !index_ok(&rec) {
            r.index_mismatch = Some((rec.index, base + p));
        }
        r.crcs += u64::from(last.crc);
        r.entries += 1;
        r.first_index.get_or_insert(rec.index);
        r.last = Some(last);
        prev = Some(last);
        p += ulen;
        r.end = p;
    }
    r
}

/// The first position in `from..to` of `buf` (a data file at `base`) that
/// looks like an entry of this file: the entry magic and a `pos` field equal
/// to the position's absolute offset.
fn candidate(buf: &[u8], base: u64, from: u64, to: u64) -> Option<u64> {
    let last = buf.len().checked_sub(HEADER_LEN)?;
    let to = usize::try_from(to).ok()?.min(last + 1);
    let magic = codec::MAGIC_NORMAL.to_be_bytes();
    let mut p = usize::try_from(from).ok()?;
    while p < to {
        // The magic's last byte is its only non-zero one: test it first.
        let b = buf[p + 3];
        if b == magic[3] && buf[p..p + 4] == magic {
            let mut o = [0u8; 8];
            o.copy_from_slice(&buf[p + codec::POS_OFFSET..p + codec::POS_OFFSET + 8]);
            if i64::from_be_bytes(o) as u64 == base.wrapping_add(p as u64) {
                return Some(p as u64);
            }
        } else if b == 0 {
            // An entry at q has a non-zero byte at q + 3: go to the next
            // non-zero byte after p + 3 (runs of zeros a word at a time).
            // `to + 3 <= buf.len()` as `to <= buf.len() - 48 + 1`.
            p += zeros::first_nonzero(&buf[p + 3..to + 3])?;
            continue;
        }
        p += 1;
    }
    None
}

/// What a stretch's job found: its first entry (taken on trust) and the
/// entries checked after it.
#[derive(Debug)]
struct Piece {
    start: u64,
    first: Last,
    /// Where `rest` starts: just past the first entry.
    rest_from: u64,
    rest: Run,
}

/// Bytes per stretch at most: large enough that the jobs' set-up is noise,
/// small enough that every core stays busy to the end.
const STRETCH: u64 = 4 << 20;
/// Bytes per stretch at least.
const MIN_STRETCH: u64 = 4 << 10;

/// [`run`] of a whole file (`buf`, at `base`) from `from` to its end, the
/// entries up to `data_end` checked in stretches by `fanout`'s jobs.
#[allow(clippy::too_many_arguments)]
pub(super) fn file(
    buf: &[u8],
    base: u64,
    from: u64,
    data_end: u64,
    prev: Option<Last>,
    first: &First,
    index_ok: &(dyn Fn(&IndexRecord) -> bool + Sync),
    fanout: &dyn Fanout,
) -> Run {
    let size = buf.len() as u64;
    let data_end = data_end.min(size);
    let stretch = stretch_for(data_end.saturating_sub(from), fanout.width());
    file_in(
        buf, base, from, data_end, stretch, prev, first, index_ok, fanout,
    )
}

/// The stretch size for `bytes` of entries checked by `width` jobs at a
/// time: about eight stretches per job.
fn stretch_for(bytes: u64, width: usize) -> u64 {
    (bytes / (width.max(1) as u64 * 8)).clamp(MIN_STRETCH, STRETCH)
}

/// [`file`] in stretches of `stretch` bytes.
#[allow(clippy::too_many_arguments)]
fn file_in(
    buf: &[u8],
    base: u64,
    from: u64,
    data_end: u64,
    stretch: u64,
    prev: Option<Last>,
    first: &First,
    index_ok: &(dyn Fn(&IndexRecord) -> bool + Sync),
    fanout: &dyn Fanout,
) -> Run {
    let size = buf.len() as u64;
    let stretch = stretch.max(1);
    let n = data_end.saturating_sub(from).div_ceil(stretch);
    if fanout.width() <= 1 || n < 2 {
        return run(buf, base, from, u64::MAX, prev, first, index_ok);
    }
    // At most one piece per `stretch` bytes of the file: bounded by its size.
    let mut pieces: Vec<Option<Piece>> = Vec::new();
    pieces.resize_with(n as usize, || None);
    let mut jobs: Vec<_> = pieces
        .iter_mut()
        .enumerate()
        .map(|(i, slot)| {
            let (a, b) = (from + i as u64 * stretch, from + (i as u64 + 1) * stretch);
            move || {
                *slot = candidate(buf, base, a, b).and_then(|s| {
                    let at = s as usize;
                    let h = Header::read(buf.get(at..at + HEADER_LEN)?)?;
                    let len = u64::try_from(h.size).ok()?;
                    if len < HEADER_LEN as u64 || len > size - s {
                        return None;
                    }
                    let prev = Some(Last::of(&h));
                    let rest = run(buf, base, s + len, b, prev, first, index_ok);
                    Some(Piece {
                        start: s,
                        first: Last::of(&h),
                        rest_from: s + len,
                        rest,
                    })
                });
            }
        })
        .collect();
    let mut refs: Vec<&mut (dyn FnMut() + Send)> = jobs
        .iter_mut()
        .map(|j| j as &mut (dyn FnMut() + Send))
        .collect();
    fanout.run(&mut refs);
    drop(refs);
    drop(jobs);

    let mut out = Run::empty(from);
    let mut last = prev;
    for (i, piece) in pieces.into_iter().enumerate() {
        let b = from + (i as u64 + 1) * stretch;
        if out.end >= b {
            // An entry of an earlier stretch reaches past this one.
            continue;
        }
        let mut taken = false;
        if let Some(pc) = piece
            && pc.start == out.end
        {
            // The first entry, checked here against the true previous one.
            let one = run(buf, base, pc.start, pc.start + 1, last, first, index_ok);
            if one.halt.is_none() && one.end == pc.rest_from && one.last == Some(pc.first) {
                out.join(one);
                out.join(pc.rest);
                taken = true;
            }
        }
        if !taken {
            // The job guessed wrong (or found nothing): check it here.
            out.join(run(buf, base, out.end, b, last, first, index_ok));
        }
        last = out.last.or(prev);
        if out.halt.is_some() {
            return out;
        }
    }
    out.join(run(buf, base, out.end, u64::MAX, last, first, index_ok));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::dledger::EntryParts;
    use crate::crc::MaskedCrc;
    use crate::engine::fanout::Sequential;
    use alloc::vec;

    use crate::engine::fanout::Reversed;

    /// A data file of `size` bytes at `base` whose first entry has index
    /// `index0` and chains from `prev_chain`: entries of varied sizes (some
    /// bodies holding a fake header naming its own position), a term change,
    /// then a filler when `rolled`.
    fn file_bytes(base: u64, size: usize, index0: i64, prev_chain: i32, rolled: bool) -> Vec<u8> {
        let mut f = Vec::new();
        let mut chain = prev_chain;
        for i in 0..10_000i64 {
            let at = f.len();
            let pos = (base + at as u64) as i64;
            let mut body = vec![(i % 251) as u8 + 1; 1 + (i as usize * 7919) % 700];
            if i % 3 == 0 && body.len() > 40 {
                body[8..12].copy_from_slice(&codec::MAGIC_NORMAL.to_be_bytes());
                let fake = base + (at + HEADER_LEN + 8) as u64;
                body[8 + 24..8 + 32].copy_from_slice(&fake.to_be_bytes());
            }
            let (index, term) = (index0 + i, 3 + i / 40);
            let bc = codec::body_crc(&body);
            let cc = codec::chain_crc(chain, index, term, pos, bc);
            let e = EntryParts {
                magic: codec::MAGIC_NORMAL,
                index,
                term,
                pos,
                channel: 0,
                chain_crc: cc,
                body_crc: bc,
                body: &body,
            };
            let mut b = vec![0u8; e.encoded_len()];
            e.encode(&mut b).unwrap();
            if at + b.len() + 8 > size {
                break;
            }
            f.extend_from_slice(&b);
            chain = cc;
        }
        if rolled {
            let rest = size - f.len();
            f.extend_from_slice(&codec::blank_header(rest as i32));
        }
        f.resize(size, 0);
        f
    }

    /// Index records of every third entry from 200 on disagree with the data.
    fn index_ok(rec: &IndexRecord) -> bool {
        rec.index % 3 != 1 || rec.index < 200
    }

    fn check(buf: &[u8], base: u64, from: u64, prev: Option<Last>, first: &First, what: &str) {
        let want = run(buf, base, from, u64::MAX, prev, first, &index_ok);
        for stretch in [97u64, 1000, 4096, 65536] {
            for data_end in [buf.len() as u64, buf.len() as u64 / 2, 0] {
                for w in [2usize, 3] {
                    let got = file_in(
                        buf,
                        base,
                        from,
                        data_end,
                        stretch,
                        prev,
                        first,
                        &index_ok,
                        &Reversed(w),
                    );
                    assert_eq!(got, want, "{what}: stretch {stretch}, data end {data_end}");
                }
            }
        }
        let got = file_in(
            buf,
            base,
            from,
            buf.len() as u64,
            97,
            prev,
            first,
            &index_ok,
            &Sequential,
        );
        assert_eq!(got, want, "{what}: sequential");
    }

    #[test]
    fn the_stretches_join_to_the_sequential_run() {
        let size = 96 * 1024;
        let base = 7 * size as u64;
        let first = First {
            index: None,
            prev_chain: Some(55),
        };
        let prev = Some(Last {
            index: 99,
            term: 3,
            chain: 55,
            crc: true,
        });
        for rolled in [true, false] {
            let clean = file_bytes(base, size, 100, 55, rolled);
            let want = run(&clean, base, 0, u64::MAX, prev, &first, &index_ok);
            assert!(
                want.entries > 100 && want.halt.is_none() == rolled,
                "{want:?}"
            );
            assert_eq!(want.index_mismatch.map(|m| m.0), Some(202));
            check(&clean, base, 0, prev, &first, "clean");
            // From the first entry of the scan (no previous one), and from a later one.
            check(&clean, base, 0, None, &first, "first of the log");
            let second = u64::from(u32::from_be_bytes([clean[4], clean[5], clean[6], clean[7]]));
            check(&clean, base, second, prev, &first, "from the second entry");
            // A bit flip at many places: headers, bodies, the filler.
            let mut at = 3;
            while at < size {
                let mut b = clean.clone();
                b[at] ^= 0x10;
                check(&b, base, 0, prev, &first, &alloc::format!("flip at {at}"));
                at += 1237;
            }
            // Torn tails, zeroed pages, entries copied elsewhere.
            for cut in [1usize, 500, 20_000, 50_001, 90_000] {
                let mut b = clean.clone();
                b[cut..].fill(0);
                check(
                    &b,
                    base,
                    0,
                    prev,
                    &first,
                    &alloc::format!("zeros from {cut}"),
                );
                let mut b = clean.clone();
                b[cut..cut + 40].fill(0);
                check(
                    &b,
                    base,
                    0,
                    prev,
                    &first,
                    &alloc::format!("zeroed at {cut}"),
                );
            }
            let mut b = clean.clone();
            b.copy_within(1000..30_000, 40_000);
            check(&b, base, 0, prev, &first, "stale copy");
        }
    }

    #[test]
    fn candidates_need_the_magic_and_their_own_pos() {
        let base = 1 << 30;
        let buf = file_bytes(base, 8192, 0, 0, true);
        let len_at = |p: usize| {
            u64::from(u32::from_be_bytes([
                buf[p + 4],
                buf[p + 5],
                buf[p + 6],
                buf[p + 7],
            ]))
        };
        let e1 = len_at(0);
        let e2 = e1 + len_at(e1 as usize);
        let e3 = e2 + len_at(e2 as usize);
        assert_eq!(candidate(&buf, base, 0, 8192), Some(0));
        assert_eq!(candidate(&buf, base, 1, 8192), Some(e1));
        // Entry 3's body holds a header naming its own position: the worst
        // case, a candidate the join must reject.
        assert_eq!(
            candidate(&buf, base, e3 + 1, 8192),
            Some(e3 + HEADER_LEN as u64 + 8)
        );
        // Nothing names a position of a file at another base.
        assert_eq!(candidate(&buf, base + 1, 0, 8192), None);
        assert_eq!(candidate(&[0u8; 4096], base, 0, 4096), None);
    }

    /// The chain CRC of the codec (one buffer) against its definition,
    /// computed field by field.
    #[test]
    fn chain_crc_is_the_crc_of_the_fields_in_order() {
        for (p, i, t, pos, b) in [
            (0, 0, 0, 0, 1),
            (55, 1 << 40, 7, 123_456, -5),
            (-1, 3, 3, 54, 0x7FFF_FFFF),
        ] {
            let mut c = MaskedCrc::new();
            c.update(&i32::to_be_bytes(p));
            c.update(&i64::to_be_bytes(i));
            c.update(&i64::to_be_bytes(t));
            c.update(&i64::to_be_bytes(pos));
            c.update(&i32::to_be_bytes(b));
            let want = match c.finish() {
                0 => 1,
                v => v,
            };
            assert_eq!(codec::chain_crc(p, i, t, pos, b), want);
        }
    }
}
