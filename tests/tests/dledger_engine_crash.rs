//! Crash matrix, fault injection and model test for the DLedger engine.
//!
//! A seeded workload (leader appends of varied sizes with rolls, flushes,
//! follower truncations to an existing entry, truncations that replace an
//! entry, rebuilds at a far position, expiry of head files, committed-index
//! checkpoints, term changes) runs against the engine and against a plain
//! model (a `Vec` of entries whose bytes the model encodes itself: position
//! by the roll rule, CRCs by the codec).
//!
//! Crash matrix: the workload is cut at every durability call (sync,
//! sync_dir, write_meta) and every tear mode is applied to what was not
//! synced; the image is recovered in repair mode and must satisfy:
//!
//! * the recovered log is a prefix (from its first entry) of some state the
//!   log went through since the last point where everything was durable;
//! * every entry acknowledged as durable is present and byte-identical;
//! * nothing truncated reappears (a truncation is durable when it returns, so
//!   old states are no longer candidates afterwards);
//! * the index agrees with the data, nothing non-zero lies past either end,
//!   and recovering the result again is clean and changes nothing.

use rocketlog_core::codec::dledger::{self as codec, EntryParts, Header};
use rocketlog_core::engine::dledger::{
    CrcMode, DLedger, DLedgerConfig, DLedgerError, RecoveryMode,
};
use rocketlog_core::layout::{self, Fit};
use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{LogId, PageStore, StoreErrorKind};
use rocketlog_tests::crash::{CrashStore, Tear, XorShift};
use rocketlog_tests::fault::{Fault, FaultStore};

const DATA: u64 = 512;
const INDEX: u64 = 128;

type Log = Vec<(i64, Vec<u8>)>;

fn cfg(crc: CrcMode, recovery: RecoveryMode) -> DLedgerConfig {
    DLedgerConfig {
        data_file_size: DATA,
        index_file_size: INDEX,
        crc,
        recovery,
        ..DLedgerConfig::default()
    }
}

/// The model: entries with their exact bytes, and what a crash may leave.
#[derive(Debug, Clone, Default)]
struct Model {
    entries: Log,
    /// Data write position.
    wrote: u64,
    term: i64,
    /// States since the last point where everything was durable.
    candidates: Vec<Log>,
    /// Entries known durable.
    must: Log,
}

fn hdr(b: &[u8]) -> Header {
    Header::read(b).expect("model entry")
}

impl Model {
    fn new() -> Self {
        Self {
            candidates: vec![Vec::new()],
            ..Self::default()
        }
    }
    fn end(&self) -> i64 {
        self.entries.last().map_or(-1, |e| e.0)
    }
    fn chain_of_last(&self) -> i32 {
        self.entries.last().map_or(0, |e| hdr(&e.1).chain_crc)
    }
    fn encode(
        &self,
        crc: CrcMode,
        index: i64,
        term: i64,
        pos: u64,
        prev_chain: i32,
        body: &[u8],
    ) -> Vec<u8> {
        let (b, c) = match crc {
            CrcMode::JavaZeros => (0, 0),
            CrcMode::Rocketlog => {
                let b = codec::body_crc(body);
                (b, codec::chain_crc(prev_chain, index, term, pos as i64, b))
            }
        };
        let p = EntryParts {
            magic: 1,
            index,
            term,
            pos: pos as i64,
            channel: 0,
            chain_crc: c,
            body_crc: b,
            body,
        };
        let mut out = vec![0u8; p.encoded_len()];
        p.encode(&mut out).unwrap();
        out
    }
    /// Where the leader puts `len` bytes (the roll rule, independently).
    fn next_pos(&self, len: u64) -> u64 {
        match layout::fit(len, self.wrote % DATA, DATA) {
            Fit::Here => self.wrote,
            Fit::RollAfterBlank { blank_len } => self.wrote + blank_len,
            Fit::TooLarge => panic!("workload entry too large"),
        }
    }
    fn durable_now(&mut self) {
        self.must = self.entries.clone();
        self.candidates = vec![self.entries.clone()];
    }
}

fn parts(b: &[u8]) -> EntryParts<'_> {
    let h = hdr(b);
    EntryParts {
        magic: h.magic,
        index: h.index,
        term: h.term,
        pos: h.pos,
        channel: h.channel,
        chain_crc: h.chain_crc,
        body_crc: h.body_crc,
        body: &b[48..],
    }
}

fn random_body(rng: &mut XorShift, max: u64) -> Vec<u8> {
    let n = rng.below(max + 1) as usize;
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// Runs `steps` workload steps; stops at the first error.
fn drive<S: PageStore>(
    dl: &mut DLedger<S>,
    m: &mut Model,
    rng: &mut XorShift,
    steps: usize,
    crc: CrcMode,
) -> Result<(), DLedgerError> {
    for _ in 0..steps {
        let r = rng.below(100);
        if r < 48 || m.entries.is_empty() {
            let body = random_body(rng, 150);
            let len = 48 + body.len() as u64;
            let pos = m.next_pos(len);
            let index = m.end() + 1;
            let bytes = m.encode(crc, index, m.term, pos, m.chain_of_last(), &body);
            let mut next = m.entries.clone();
            next.push((index, bytes.clone()));
            m.candidates.push(next.clone());
            let a = dl.append_as_leader(&body)?;
            assert_eq!((a.index, a.pos), (index, pos));
            assert_eq!(
                dl.get(index)?,
                bytes,
                "engine encodes what the model encodes"
            );
            m.entries = next;
            m.wrote = pos + len;
        } else if r < 60 {
            dl.flush_all()?;
            m.durable_now();
        } else if r < 68 {
            // Truncate to an existing entry.
            let k = rng.below(m.entries.len() as u64) as usize;
            let keep: Log = m.entries[..=k].to_vec();
            m.must.retain(|e| e.0 <= keep[k].0);
            m.candidates.push(keep.clone());
            let b = keep[k].1.clone();
            dl.truncate_follower(&parts(&b))?;
            let h = hdr(&b);
            m.entries = keep;
            m.wrote = h.pos as u64 + h.size as u64;
            m.durable_now();
        } else if r < 75 {
            // Replace entry k (and cut everything after it).
            let k = rng.below(m.entries.len() as u64) as usize;
            let old = hdr(&m.entries[k].1);
            let pos = old.pos as u64;
            let room = DATA - pos % DATA - 8 - 48;
            let body = random_body(rng, room.min(150));
            let prev_chain = if k == 0 {
                0
            } else {
                hdr(&m.entries[k - 1].1).chain_crc
            };
            let term = m.term.max(old.term);
            let bytes = m.encode(crc, old.index, term, pos, prev_chain, &body);
            let mut next: Log = m.entries[..k].to_vec();
            next.push((old.index, bytes.clone()));
            m.must.retain(|e| e.0 < old.index);
            m.candidates.push(next.clone());
            dl.truncate_follower(&parts(&bytes))?;
            m.wrote = pos + bytes.len() as u64;
            m.entries = next;
            m.term = term;
            m.durable_now();
        } else if r < 79 {
            // Rebuild: the leader's begin entry lies beyond our end.
            let index = m.end() + 2 + rng.below(5) as i64;
            let body = random_body(rng, 100);
            let len = 48 + body.len() as u64;
            let seg = (m.wrote / DATA + 1 + rng.below(3)) * DATA;
            let pos = seg + rng.below(DATA - len - 8 + 1);
            let bytes = m.encode(crc, index, m.term, pos, 0, &body);
            m.must.clear();
            m.candidates.push(vec![(index, bytes.clone())]);
            dl.truncate_follower(&parts(&bytes))?;
            m.entries = vec![(index, bytes)];
            m.wrote = pos + len;
            m.durable_now();
        } else if r < 87 {
            let segs = dl.data_segments().to_vec();
            if segs.len() < 2 {
                continue;
            }
            let cut = segs[1];
            let after: Log = m
                .entries
                .iter()
                .filter(|e| hdr(&e.1).pos as u64 >= cut)
                .cloned()
                .collect();
            m.must.retain(|e| hdr(&e.1).pos as u64 >= cut);
            m.candidates.push(after.clone());
            dl.remove_expired_head()?;
            m.entries = after;
            if let Some(first) = m.entries.first() {
                assert_eq!(
                    dl.begin_index(),
                    first.0,
                    "begin revised from the new first file"
                );
            }
        } else if r < 94 {
            let c = m.end() - rng.below(3) as i64;
            dl.update_committed(m.term, c)?;
            dl.persist_checkpoint()?;
        } else {
            dl.set_term(m.term + 1, Some("n0"))?;
            m.term += 1;
        }
    }
    Ok(())
}

/// Checks a recovered store against the model; returns a violation message.
fn check(dl: &DLedger<MemStore>, m: &Model) -> Result<(), String> {
    let mut got: Log = Vec::new();
    if !dl.is_empty() {
        for i in dl.begin_index()..=dl.end_index() {
            got.push((i, dl.get(i).map_err(|e| format!("get({i}): {e}"))?));
        }
    }
    let prefix_of = |c: &Log| {
        got.is_empty()
            || (c.first().map(|e| e.0) == Some(got[0].0)
                && c.len() >= got.len()
                && c[..got.len()] == got[..])
    };
    if !m.candidates.iter().any(prefix_of) {
        let show = |l: &Log| {
            l.iter()
                .map(|e| format!("{}@{}", e.0, hdr(&e.1).pos))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut cands: Vec<String> = m.candidates.iter().map(&show).collect();
        for (i, b) in &got {
            for c in &m.candidates {
                if let Some((_, cb)) = c.iter().find(|e| e.0 == *i) {
                    let d = cb.iter().zip(b).position(|(x, y)| x != y);
                    cands.push(format!(
                        "entry {i}: first diff {d:?} len {} vs {}",
                        b.len(),
                        cb.len()
                    ));
                }
            }
        }
        return Err(format!(
            "recovered [{}] is not a prefix of any candidate state: {}",
            show(&got),
            cands.join(" | ")
        ));
    }
    for (i, b) in &m.must {
        if !got.iter().any(|(j, c)| j == i && c == b) {
            return Err(format!("durable entry {i} lost or changed"));
        }
    }
    // The index agrees with the data and ends where the data ends.
    for (i, b) in &got {
        let r = dl.index_record(*i).map_err(|e| format!("{e}"))?;
        let h = hdr(b);
        if (r.magic, r.pos, r.size, r.term) != (h.magic, h.pos, h.size, h.term) {
            return Err(format!("index record {i} disagrees with the data"));
        }
    }
    if let Some(last) = got.last() {
        if dl.index_end() != (last.0 as u64 + 1) * 32 {
            return Err(format!(
                "index ends at {}, log at {}",
                dl.index_end(),
                last.0
            ));
        }
        // The data ends after the last entry, or at the end of its file when
        // a filler was written for an append that did not complete.
        let h = hdr(&last.1);
        let e = h.pos as u64 + h.size as u64;
        let d = dl.data_end();
        if d != e && !(d.is_multiple_of(DATA) && d > e && d - e < DATA) {
            return Err(format!("data end {d} is not the last entry's end {e}"));
        }
    }
    // Nothing non-zero past either end (no stale entry can come back later).
    for (log, end) in [
        (LogId::DLedgerData, dl.data_end()),
        (LogId::DLedgerIndex, dl.index_end()),
    ] {
        let size = if log == LogId::DLedgerData {
            DATA
        } else {
            INDEX
        };
        let seg = end - end % size;
        if let Some(b) = dl.store().segment_bytes(&log, seg)
            && b[(end - seg) as usize..].iter().any(|&x| x != 0)
        {
            return Err(format!("{log}: non-zero bytes after the end {end}"));
        }
    }
    Ok(())
}

/// Recovers an image and checks it; also that a second recovery is clean and identical.
fn recover_and_check(img: MemStore, m: &Model, crc: CrcMode) -> Result<(), String> {
    let (dl, rep) = DLedger::open(img, cfg(crc, RecoveryMode::Repair))
        .map_err(|e| format!("recovery failed: {e}"))?;
    check(&dl, m).map_err(|e| format!("{e} [report: {rep}; marker {:?}]", rep.start_marker))?;
    let (b, e) = (dl.begin_index(), dl.end_index());
    let (dl2, rep2) = DLedger::open(dl.into_store(), cfg(crc, RecoveryMode::Strict))
        .map_err(|e| format!("second recovery failed: {e}"))?;
    if !rep2.is_clean()
        || rep2.index_rebuilt_from.is_some()
        || (dl2.begin_index(), dl2.end_index()) != (b, e)
    {
        return Err(format!("second recovery not clean: {rep2}"));
    }
    Ok(())
}

const STEPS: usize = 60;

/// Runs the workload with a crash at durability call `k` (None: probe).
fn crashed_run(seed: u64, k: Option<u64>, crc: CrcMode) -> (CrashStore, Model, bool) {
    let store = CrashStore::new(64);
    store.crash_at(k);
    let mut m = Model::new();
    let mut rng = XorShift::new(seed);
    let (mut dl, _) = match DLedger::open(store, cfg(crc, RecoveryMode::Repair)) {
        Ok(v) => v,
        Err(e) => panic!("open of an empty store failed: {e}"),
    };
    let r = drive(&mut dl, &mut m, &mut rng, STEPS, crc);
    let crashed = dl.store().crashed();
    if let Err(e) = &r {
        assert!(crashed, "seed {seed}: workload failed without a crash: {e}");
        // Once the store failed, every call fails.
        assert!(dl.append_as_leader(b"late").is_err());
        assert!(dl.flush_all().is_err());
    }
    (dl.into_store(), m, crashed)
}

fn matrix(seeds: std::ops::Range<u64>, crc: CrcMode, tears: &[Tear]) -> (u64, Vec<String>) {
    let mut images = 0;
    let mut violations = Vec::new();
    for seed in seeds {
        let (probe, _, _) = crashed_run(seed, None, crc);
        let calls = probe.durability_calls();
        for k in 1..=calls {
            let (store, m, crashed) = crashed_run(seed, Some(k), crc);
            assert!(
                crashed,
                "seed {seed}: crash point {k} of {calls} not reached"
            );
            for (t, &tear) in tears.iter().enumerate() {
                images += 1;
                let img = store.crash_image(tear, seed * 1_000_003 + k * 7 + t as u64);
                if let Err(v) = recover_and_check(img, &m, crc) {
                    violations.push(format!("seed {seed} crash {k}/{calls} {tear:?}: {v}"));
                }
            }
        }
    }
    (images, violations)
}

#[test]
fn crash_matrix() {
    let (images, violations) = matrix(0..24, CrcMode::Rocketlog, &Tear::ALL);
    // Java-compatible zero CRCs: only losing unsynced bytes is safe without a CRC (B3).
    let (images2, violations2) = matrix(100..106, CrcMode::JavaZeros, &[Tear::LoseUnsynced]);
    let total = images + images2;
    let bad: Vec<_> = violations.iter().chain(&violations2).collect();
    println!(
        "dledger crash-matrix: {total} images, {} violations",
        bad.len()
    );
    for v in bad.iter().take(10) {
        println!("  {v}");
    }
    assert!(total >= 5000, "only {total} images");
    assert!(bad.is_empty());
}

#[test]
fn fault_injection_every_operation() {
    let crc = CrcMode::Rocketlog;
    let mut checked = 0;
    for seed in 0..3u64 {
        // Probe: how many mutating operations the workload performs.
        let probe = FaultStore::counting(CrashStore::new(64));
        let (mut dl, _) = DLedger::open(probe, cfg(crc, RecoveryMode::Repair)).unwrap();
        drive(
            &mut dl,
            &mut Model::new(),
            &mut XorShift::new(seed),
            40,
            crc,
        )
        .unwrap();
        let ops = dl.store().ops();
        for n in 1..=ops {
            let fault = if n % 2 == 0 {
                Fault::Io
            } else {
                Fault::NoSpace
            };
            let fs = FaultStore::new(CrashStore::new(64), Some(n), fault, false);
            let mut m = Model::new();
            let dl = match DLedger::open(fs, cfg(crc, RecoveryMode::Repair)) {
                Ok((mut dl, _)) => {
                    let r = drive(&mut dl, &mut m, &mut XorShift::new(seed), 40, crc);
                    let err = r.expect_err("the injected failure must surface");
                    assert!(matches!(err, DLedgerError::Store(_)), "n={n}: {err}");
                    // Latched: every later call fails, with PreviousIo.
                    for e in [
                        dl.append_as_leader(b"x").map(|_| ()).unwrap_err(),
                        dl.flush_all().unwrap_err(),
                        dl.persist_checkpoint().unwrap_err(),
                        dl.get(dl.end_index().max(0)).map(|_| ()).unwrap_err(),
                    ] {
                        match e {
                            DLedgerError::Store(s) => {
                                assert_eq!(s.kind, StoreErrorKind::PreviousIo)
                            }
                            DLedgerError::IndexOutOfRange { .. } => {}
                            other => panic!("n={n}: {other}"),
                        }
                    }
                    dl.into_store()
                }
                Err(e) => panic!("n={n}: open of an empty store touched storage and failed: {e}"),
            };
            assert!(dl.fired());
            let crash = dl.into_inner();
            // Reopen over the durable state, and over the live state (no crash).
            for img in [crash.crash_image(Tear::LoseUnsynced, n), crash.live_image()] {
                if let Err(v) = recover_and_check(img, &m, crc) {
                    panic!("seed {seed} fault at op {n}/{ops}: {v}");
                }
                checked += 1;
            }
        }
    }
    println!("dledger fault injection: {checked} reopened images");
}

#[test]
fn model_test_with_reopens() {
    let crc = CrcMode::Rocketlog;
    for seed in 0..40u64 {
        let mut rng = XorShift::new(seed ^ 0xABCD);
        let mut m = Model::new();
        let (mut dl, _) = DLedger::open(MemStore::new(), cfg(crc, RecoveryMode::Strict)).unwrap();
        for step in 0..80 {
            drive(&mut dl, &mut m, &mut rng, 1, crc).unwrap();
            // Compare the whole log after every step.
            let end = m.end();
            assert_eq!(dl.end_index(), end, "seed {seed} step {step}");
            if let Some(first) = m.entries.first() {
                assert_eq!(dl.begin_index(), first.0);
            }
            for (i, b) in &m.entries {
                assert_eq!(&dl.get(*i).unwrap(), b, "seed {seed} step {step} entry {i}");
            }
            assert_eq!(dl.data_end(), m.wrote);
            if rng.below(10) == 0 {
                // Clean reopen: flush, reopen strictly, same log.
                dl.flush_all().unwrap();
                dl.persist_checkpoint().unwrap();
                let committed = dl.committed_index();
                let begin = dl.begin_index();
                let (dl2, rep) =
                    DLedger::open(dl.into_store(), cfg(crc, RecoveryMode::Strict)).unwrap();
                assert!(rep.is_clean(), "seed {seed} step {step}: {rep}");
                // Java's rule: a committed index below the begin index is ignored at startup.
                let want = if committed >= begin && committed >= 0 {
                    committed
                } else {
                    -1
                };
                assert_eq!(dl2.committed_index(), want, "seed {seed} step {step}");
                dl = dl2;
                m.durable_now();
                check(&dl, &m).unwrap();
            }
        }
    }
}
