//! Step 1 of recovery on all cores: one commitlog file checked in stretches.
//!
//! The file's bytes up to the end of its data (as far as the store's
//! [`data_range`](crate::store::PageRead::data_range) hints tell) are cut into
//! stretches of a fixed size. A job per stretch finds the first position that
//! looks like a record of this file (a message magic and a stored
//! PHYSICALOFFSET equal to the position) and checks the records from there,
//! with [`scan_segment`], until one starts past the stretch. The calling
//! thread then joins the stretches in order: a stretch's result is taken only
//! if it started exactly where the records of the previous ones ended, else
//! that stretch is checked again from there on the calling thread; after the
//! last stretch the records are followed to the end of the file. Each piece
//! joined is thus [`scan_segment`] from the true record boundary, so the
//! result (counts, end, the failure that ends the records) is exactly the
//! sequential scan's, whatever the stored bytes.

use alloc::vec::Vec;

use super::{SegScan, scan_segment};
use crate::codec::message::{self, DecodeOptions};
use crate::engine::fanout::Fanout;
use crate::scan::zeros;

/// Bytes per stretch at most: large enough that the jobs' set-up is noise,
/// small enough that a stretch re-checked on the calling thread costs little
/// and every core stays busy to the end.
pub(super) const STRETCH: u64 = 4 << 20;

/// Bytes per stretch at least.
const MIN_STRETCH: u64 = 4 << 10;

/// The stretch size for a file whose data ends at `data_end`, checked by
/// `width` jobs at a time: about eight stretches per job.
pub(super) fn stretch_for(data_end: u64, width: usize) -> u64 {
    (data_end / (width.max(1) as u64 * 8)).clamp(MIN_STRETCH, STRETCH)
}

/// The first position in `from..to` of `buf` (a commitlog file at `base`)
/// that looks like the start of a message: a message magic at +4 and a
/// stored PHYSICALOFFSET equal to the position's absolute offset. Runs of
/// zeros are skipped a word at a time.
fn candidate(buf: &[u8], base: u64, from: u64, to: u64) -> Option<u64> {
    const HEAD: usize = message::PHYSICAL_OFFSET_POS + 8;
    let to = usize::try_from(to)
        .ok()?
        .min(buf.len().saturating_sub(HEAD - 1));
    let mut p = usize::try_from(from).ok()?;
    let magic = message::MAGIC_V1.to_be_bytes();
    while p < to {
        let head = &buf[p..p + HEAD];
        if head[4] == magic[0] {
            let m = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            let mut o = [0u8; 8];
            o.copy_from_slice(&head[message::PHYSICAL_OFFSET_POS..]);
            if (m == message::MAGIC_V1 || m == message::MAGIC_V2)
                && i64::from_be_bytes(o) as u64 == base.wrapping_add(p as u64)
            {
                return Some(p as u64);
            }
        } else if head[4] == 0 {
            // A record at q has a non-zero byte at q + 4 (its magic): go to
            // the next non-zero byte after p + 4 (at least one further on).
            let k = zeros::first_nonzero(&buf[p + 4..to + 4])?;
            p += k;
            continue;
        }
        p += 1;
    }
    None
}

/// What one stretch's job found: where it started and what it checked.
type Piece = Option<(u64, SegScan)>;

/// A file's scan joined from stretches.
#[derive(Debug)]
pub(super) struct Joined {
    pub(super) scan: SegScan,
    /// Stretches whose job's result was taken (the rest were re-checked).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) taken: usize,
    /// Record boundaries (positions in the file) where the joined stretches
    /// start, ascending, 0 first: one per stretch at most.
    pub(super) starts: Vec<u64>,
}

/// [`scan_segment`] of a whole file (`buf`, at `base`) with the records up
/// to `data_end` checked in stretches of `stretch` bytes by `fanout`'s jobs.
pub(super) fn scan_segment_parallel(
    buf: &[u8],
    base: u64,
    opts: DecodeOptions,
    data_end: u64,
    stretch: u64,
    fanout: &dyn Fanout,
) -> Joined {
    let size = buf.len() as u64;
    let data_end = data_end.min(size);
    let stretch = stretch.max(1);
    let n = data_end.div_ceil(stretch);
    if fanout.width() <= 1 || n < 2 {
        return Joined {
            scan: scan_segment(buf, base, opts, 0, size),
            taken: 0,
            starts: alloc::vec![0],
        };
    }
    // At most one piece per `stretch` bytes of the file: bounded by its size.
    let mut pieces: Vec<Piece> = Vec::new();
    pieces.resize_with(n as usize, || None);
    let mut jobs: Vec<_> = pieces
        .iter_mut()
        .enumerate()
        .map(|(i, slot)| {
            let (a, b) = (i as u64 * stretch, (i as u64 + 1) * stretch);
            move || {
                let start = if a == 0 {
                    Some(0)
                } else {
                    candidate(buf, base, a, b)
                };
                *slot = start.map(|s| (s, scan_segment(buf, base, opts, s, b)));
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

    let mut out = SegScan::default();
    let mut taken = 0;
    let mut starts = Vec::new();
    let join = |out: &mut SegScan, r: SegScan| {
        out.records += r.records;
        out.blanks += r.blanks;
        out.last_record = r.last_record.or(out.last_record);
        out.end_pos = r.end_pos;
        out.rolled = r.rolled;
        out.stop = r.stop;
    };
    for (i, piece) in pieces.into_iter().enumerate() {
        let b = (i as u64 + 1) * stretch;
        if out.end_pos >= b {
            // A record of an earlier stretch reaches past this one.
            continue;
        }
        starts.push(out.end_pos);
        let r = match piece {
            Some((start, r)) if start == out.end_pos => {
                taken += 1;
                r
            }
            // The job guessed wrong (or found nothing): check it here.
            _ => scan_segment(buf, base, opts, out.end_pos, b),
        };
        join(&mut out, r);
        if out.ended() {
            return Joined {
                scan: out,
                taken,
                starts,
            };
        }
    }
    starts.push(out.end_pos);
    let r = scan_segment(buf, base, opts, out.end_pos, size);
    join(&mut out, r);
    Joined {
        scan: out,
        taken,
        starts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::message::{Host, MessageParts};
    use crate::engine::fanout::Sequential;
    use alloc::vec;

    use crate::engine::fanout::Reversed;

    /// A commitlog file of `size` bytes at `base`: records of varied sizes
    /// (some bodies holding a fake record header that names its own position,
    /// the worst case for the stretch guesses), then a BLANK when `rolled`.
    fn file(base: u64, size: usize, records: usize, rolled: bool) -> Vec<u8> {
        let mut f = Vec::new();
        for i in 0..records {
            let at = f.len();
            let mut body = vec![(i % 251) as u8 + 1; 20 + (i * 7919) % 700];
            if i % 3 == 0 && body.len() > 64 {
                // A fake header inside the body (which starts 88 bytes into
                // a record with IPv4 hosts), naming the position it sits at.
                let p = 10;
                let fake = base + (at + 88 + p) as u64;
                body[p + 4..p + 8].copy_from_slice(&message::MAGIC_V1.to_be_bytes());
                body[p + 28..p + 36].copy_from_slice(&fake.to_be_bytes());
            }
            let props: &[u8] = if i % 5 == 0 {
                b"TAGS\x01t\x02KEYS\x01k\x02"
            } else {
                b"TAGS\x01t\x02"
            };
            let p = MessageParts {
                v2: None,
                body_crc: None,
                queue_id: (i % 4) as i32,
                flag: 0,
                queue_offset: (i / 4) as i64,
                physical_offset: (base + at as u64) as i64,
                sys_flag: 0,
                born_timestamp: 1,
                born_host: Host::V4 {
                    addr: [1, 2, 3, 4],
                    port: 5,
                },
                store_timestamp: 2,
                store_host: Host::V4 {
                    addr: [1, 2, 3, 4],
                    port: 6,
                },
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: &body,
                topic: b"TopicA",
                properties: props,
                append_prop_crc: i % 7 == 0,
            };
            let mut b = vec![0u8; p.encoded_len()];
            p.encode(&mut b).unwrap();
            if f.len() + b.len() + 8 > size {
                break;
            }
            f.extend_from_slice(&b);
        }
        if rolled {
            let rest = size - f.len();
            f.extend_from_slice(&(rest as i32).to_be_bytes());
            f.extend_from_slice(&message::BLANK_MAGIC.to_be_bytes());
        }
        f.resize(size, 0);
        f
    }

    fn same(a: &SegScan, b: &SegScan) -> bool {
        (
            a.records,
            a.blanks,
            a.end_pos,
            a.rolled,
            &a.stop,
            a.last_record,
        ) == (
            b.records,
            b.blanks,
            b.end_pos,
            b.rolled,
            &b.stop,
            b.last_record,
        )
    }

    fn check(buf: &[u8], base: u64, what: &str) -> usize {
        let opts = DecodeOptions {
            prop_crc: message::PropCrcCheck::IfPresent,
            ..DecodeOptions::STRICT
        };
        let want = scan_segment(buf, base, opts, 0, buf.len() as u64);
        let mut taken = 0;
        for stretch in [97u64, 1000, 4096, 65536] {
            for data_end in [buf.len() as u64, buf.len() as u64 / 2, 0] {
                for w in [2usize, 3] {
                    let j = scan_segment_parallel(buf, base, opts, data_end, stretch, &Reversed(w));
                    let got = &j.scan;
                    assert!(
                        same(got, &want),
                        "{what}: stretch {stretch}: {got:?} != {want:?}"
                    );
                    // Every start is on the record chain: scanning from it
                    // ends where the whole scan ends.
                    assert_eq!(j.starts.first(), Some(&0));
                    assert!(j.starts.windows(2).all(|w| w[0] < w[1]));
                    for &s in &j.starts {
                        let from = scan_segment(buf, base, opts, s, buf.len() as u64);
                        assert_eq!(from.end_pos, want.end_pos, "{what}: start {s}");
                    }
                    taken += j.taken;
                }
            }
        }
        let j = scan_segment_parallel(buf, base, opts, buf.len() as u64, 97, &Sequential);
        assert!(same(&j.scan, &want) && j.taken == 0, "{what}: sequential");
        taken
    }

    #[test]
    fn the_stretches_join_to_the_sequential_scan() {
        let size = 96 * 1024;
        let base = 7 * size as u64;
        for rolled in [true, false] {
            let clean = file(base, size, 400, rolled);
            let want = scan_segment(&clean, base, DecodeOptions::STRICT, 0, size as u64);
            assert!(want.records > 100, "{want:?}");
            assert_eq!(want.rolled, rolled);
            assert!(
                check(&clean, base, "clean") > 0,
                "no stretch taken from a job"
            );
            // A bit flip at many places: in headers, bodies, properties, the blank.
            let mut at = 3;
            while at < size {
                let mut b = clean.clone();
                b[at] ^= 0x10;
                check(&b, base, &alloc::format!("flip at {at}"));
                at += 1237;
            }
            // Torn tails: zeros from a point on, and stale records after it.
            for cut in [1usize, 500, 20_000, 50_001, 90_000] {
                let mut b = clean.clone();
                b[cut..].fill(0);
                check(&b, base, &alloc::format!("zeros from {cut}"));
                let mut b = clean.clone();
                b[cut..cut + 40].fill(0);
                check(&b, base, &alloc::format!("zeroed page at {cut}"));
            }
            // Records copied from another place (wrong stored offsets).
            let mut b = clean.clone();
            b.copy_within(1000..30_000, 40_000);
            check(&b, base, "stale copy");
        }
    }

    #[test]
    fn candidates_need_the_magic_and_their_own_offset() {
        let base = 1 << 30;
        let buf = file(base, 8192, 10, true);
        let want = scan_segment(&buf, base, DecodeOptions::STRICT, 0, 8192);
        let second = candidate(&buf, base, 1, 8192);
        assert!(second.is_some());
        // The first candidate after 1 is the second record (the fake headers
        // hold a magic but not their own position).
        let first_len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as u64;
        assert_eq!(second, Some(first_len));
        assert_eq!(candidate(&buf, base + 1, 0, 8192), None);
        assert_eq!(candidate(&[0u8; 4096], base, 0, 4096), None);
        assert!(want.rolled);
    }
}
