//! `CrashStore`: a [`PageStore`] that remembers what a power cut would leave.
//!
//! Every segment has a *live* image (what reads see) and a *durable* image
//! (what survives a crash). The durable image advances only on
//! [`PageStore::sync`] (a byte range), [`PageStore::sync_dir`] (segment
//! creations and removals of a log) and [`PageStore::write_meta`] (atomic and
//! durable by contract). Writes not yet synced are kept, in order, as
//! *pending* writes; a [`Tear`] decides which of them a crash keeps.
//!
//! A crash can be scheduled at the N-th durability call (sync, sync_dir or
//! write_meta, counted from 1): that call fails without effect and the store
//! refuses everything afterwards, as a dead machine would. The image after
//! the crash comes from [`CrashStore::crash_image`] as a fresh [`MemStore`]
//! (or [`CrashStore::crash_store`] for a new `CrashStore` to crash again).
//!
//! Everything is deterministic: the only randomness is a seeded [`XorShift`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Range;

use rocketlog_core::mem::MemStore;
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

/// A small deterministic PRNG (xorshift64*), enough for test schedules.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Seeded generator (any seed, 0 included).
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

/// What a crash does to the writes that were not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// All unsynced bytes are lost.
    LoseUnsynced,
    /// Unsynced writes reach the disk in write order and the crash cuts the
    /// stream after a random number of bytes (possibly inside a write).
    KeepPrefix,
    /// Each page touched by an unsynced write independently keeps either its
    /// old durable bytes or its new bytes (the kernel's arbitrary write-back).
    RandomPages,
    /// Everything unsynced survives, but in each log one random bit of the
    /// last unsynced write is flipped.
    FlipLastPage,
}

impl Tear {
    /// Every mode.
    pub const ALL: [Self; 4] = [
        Self::LoseUnsynced,
        Self::KeepPrefix,
        Self::RandomPages,
        Self::FlipLastPage,
    ];
}

#[derive(Debug, Clone)]
struct Seg {
    live: Vec<u8>,
    durable: Vec<u8>,
    live_exists: bool,
    durable_exists: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    log: LogId,
    seg: SegmentId,
    pos: u64,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
struct State {
    segs: BTreeMap<(LogId, SegmentId), Seg>,
    meta: BTreeMap<MetaFile, Vec<u8>>,
    pending: Vec<Pending>,
}

/// The crash-simulating store.
#[derive(Debug)]
pub struct CrashStore {
    state: RefCell<State>,
    page: u64,
    durability_calls: Cell<u64>,
    crash_at: Cell<Option<u64>>,
    crashed: Cell<bool>,
}

impl Default for CrashStore {
    fn default() -> Self {
        Self::new(4096)
    }
}

fn oor(log: &LogId, seg: SegmentId, pos: u64, len: u64, seg_len: u64) -> StoreError {
    StoreError::out_of_range(log, seg, pos, len, seg_len)
}

impl CrashStore {
    /// An empty store whose tear granularity ([`Tear::RandomPages`]) is `page` bytes.
    pub fn new(page: u64) -> Self {
        Self {
            state: RefCell::new(State::default()),
            page: page.max(1),
            durability_calls: Cell::new(0),
            crash_at: Cell::new(None),
            crashed: Cell::new(false),
        }
    }

    /// A store whose live and durable images are both `mem`'s contents.
    pub fn from_mem(mem: &MemStore, page: u64) -> Self {
        let s = Self::new(page);
        {
            let mut st = s.state.borrow_mut();
            for like in [
                LogId::DLedgerData,
                LogId::DLedgerIndex,
                LogId::CommitLog,
                LogId::IndexFile,
                LogId::ConsumeQueue {
                    topic: String::new(),
                    queue_id: 0,
                },
                LogId::BatchConsumeQueue {
                    topic: String::new(),
                    queue_id: 0,
                },
            ] {
                for log in mem.logs(&like).unwrap_or_default() {
                    for info in mem.segments(&log).unwrap_or_default() {
                        let bytes = mem.segment_bytes(&log, info.id).unwrap_or_default();
                        st.segs.insert(
                            (log.clone(), info.id),
                            Seg {
                                live: bytes.clone(),
                                durable: bytes,
                                live_exists: true,
                                durable_exists: true,
                            },
                        );
                    }
                }
            }
            for f in [
                MetaFile::StoreCheckpoint,
                MetaFile::Abort,
                MetaFile::DLedgerCheckpoint,
                MetaFile::CurrTerm,
                MetaFile::IndexSyncPoint,
            ] {
                if let Ok(Some(b)) = mem.read_meta(f) {
                    st.meta.insert(f, b);
                }
            }
        }
        s
    }

    /// Schedules a crash at the `n`-th durability call from now on (1-based,
    /// counted across sync, sync_dir and write_meta); `None` cancels it.
    pub fn crash_at(&self, n: Option<u64>) {
        self.crash_at
            .set(n.map(|n| self.durability_calls.get() + n.max(1)));
    }

    /// Durability calls made so far (a probe run uses this to size the matrix).
    pub fn durability_calls(&self) -> u64 {
        self.durability_calls.get()
    }

    /// True once the scheduled crash happened.
    pub fn crashed(&self) -> bool {
        self.crashed.get()
    }

    /// Bytes written but not yet durable.
    pub fn pending_bytes(&self) -> u64 {
        self.state
            .borrow()
            .pending
            .iter()
            .map(|p| p.data.len() as u64)
            .sum()
    }

    fn alive(&self) -> Result<(), StoreError> {
        if self.crashed.get() {
            Err(StoreError::new(
                StoreErrorKind::Io,
                "simulated crash: machine is down",
            ))
        } else {
            Ok(())
        }
    }

    /// Counts a durability call; fails it (and crashes) if it is the scheduled one.
    fn durability_point(&self) -> Result<(), StoreError> {
        self.alive()?;
        let n = self.durability_calls.get() + 1;
        self.durability_calls.set(n);
        if self.crash_at.get() == Some(n) {
            self.crashed.set(true);
            return Err(StoreError::new(
                StoreErrorKind::Io,
                format!("simulated crash at durability call {n}"),
            ));
        }
        Ok(())
    }

    /// The image a crash leaves behind now, as a fresh `MemStore`.
    pub fn crash_image(&self, tear: Tear, seed: u64) -> MemStore {
        let st = self.state.borrow();
        let mut rng = XorShift::new(seed);
        // Start from the durable image of segments whose directory entry is durable.
        let mut img: BTreeMap<(LogId, SegmentId), Vec<u8>> = st
            .segs
            .iter()
            .filter(|(_, s)| s.durable_exists)
            .map(|(k, s)| (k.clone(), s.durable.clone()))
            .collect();
        let apply = |img: &mut BTreeMap<(LogId, SegmentId), Vec<u8>>, p: &Pending, n: usize| {
            if let Some(buf) = img.get_mut(&(p.log.clone(), p.seg)) {
                let at = p.pos as usize;
                let n = n.min(p.data.len()).min(buf.len().saturating_sub(at));
                buf[at..at + n].copy_from_slice(&p.data[..n]);
            }
        };
        match tear {
            Tear::LoseUnsynced => {}
            Tear::KeepPrefix => {
                let total: u64 = st.pending.iter().map(|p| p.data.len() as u64).sum();
                let mut keep = rng.below(total + 1) as usize;
                for p in &st.pending {
                    if keep == 0 {
                        break;
                    }
                    let n = keep.min(p.data.len());
                    apply(&mut img, p, n);
                    keep -= n;
                }
            }
            Tear::RandomPages => {
                let mut pages: BTreeMap<(LogId, SegmentId, u64), ()> = BTreeMap::new();
                for p in &st.pending {
                    let end = p.pos + p.data.len() as u64;
                    let mut pg = p.pos / self.page;
                    while pg * self.page < end {
                        pages.insert((p.log.clone(), p.seg, pg), ());
                        pg += 1;
                    }
                }
                for (log, seg, pg) in pages.into_keys() {
                    if !rng.coin() {
                        continue;
                    }
                    let (Some(buf), Some(s)) =
                        (img.get_mut(&(log.clone(), seg)), st.segs.get(&(log, seg)))
                    else {
                        continue;
                    };
                    let a = (pg * self.page) as usize;
                    let b = (a + self.page as usize).min(buf.len()).min(s.live.len());
                    if a < b {
                        buf[a..b].copy_from_slice(&s.live[a..b]);
                    }
                }
            }
            Tear::FlipLastPage => {
                let mut last: BTreeMap<LogId, &Pending> = BTreeMap::new();
                for p in &st.pending {
                    apply(&mut img, p, p.data.len());
                    if !p.data.is_empty() {
                        last.insert(p.log.clone(), p);
                    }
                }
                for (log, p) in last {
                    if let Some(buf) = img.get_mut(&(log, p.seg)) {
                        let at = p.pos as usize + rng.below(p.data.len() as u64) as usize;
                        if at < buf.len() {
                            buf[at] ^= 1 << rng.below(8);
                        }
                    }
                }
            }
        }
        let m = MemStore::new();
        for ((log, seg), bytes) in img {
            m.insert_segment(log, seg, bytes);
        }
        for (f, b) in &st.meta {
            m.insert_meta(*f, b.clone());
        }
        m
    }

    /// The crash image as a new `CrashStore` (everything in it durable).
    pub fn crash_store(&self, tear: Tear, seed: u64) -> Self {
        Self::from_mem(&self.crash_image(tear, seed), self.page)
    }

    /// What reads see now (no crash), as a `MemStore`.
    pub fn live_image(&self) -> MemStore {
        let st = self.state.borrow();
        let m = MemStore::new();
        for ((log, seg), s) in &st.segs {
            if s.live_exists {
                m.insert_segment(log.clone(), *seg, s.live.clone());
            }
        }
        for (f, b) in &st.meta {
            m.insert_meta(*f, b.clone());
        }
        m
    }

    fn with_live<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        f: impl FnOnce(&Seg) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let st = self.state.borrow();
        match st.segs.get(&(log.clone(), seg)) {
            Some(s) if s.live_exists => f(s),
            _ => Err(StoreError::not_found(log, seg)),
        }
    }
}

impl PageRead for CrashStore {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.alive()?;
        let same = |l: &LogId| std::mem::discriminant(l) == std::mem::discriminant(like);
        let st = self.state.borrow();
        let mut v: Vec<LogId> = st
            .segs
            .iter()
            .filter(|((l, _), s)| s.live_exists && same(l))
            .map(|((l, _), _)| l.clone())
            .collect();
        v.dedup();
        Ok(v)
    }

    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.alive()?;
        let st = self.state.borrow();
        Ok(st
            .segs
            .iter()
            .filter(|((l, _), s)| l == log && s.live_exists)
            .map(|((_, id), s)| SegmentInfo {
                id: *id,
                len: s.live.len() as u64,
            })
            .collect())
    }

    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.alive()?;
        self.with_live(log, seg, |s| {
            let n = s.live.len() as u64;
            match pos.checked_add(len) {
                Some(end) if end <= n => Ok(f(&s.live[pos as usize..end as usize])),
                _ => Err(oor(log, seg, pos, len, n)),
            }
        })
    }

    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.alive()?;
        Ok(self.state.borrow().meta.get(&file).cloned())
    }
}

impl PageStore for CrashStore {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.alive()?;
        let mut st = self.state.borrow_mut();
        let key = (log.clone(), seg);
        if st.segs.get(&key).is_some_and(|s| s.live_exists) {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                format!("{log} segment {seg} exists"),
            ));
        }
        let zeros = vec![0u8; len as usize];
        // Pending writes of a removed incarnation can no longer reach this file.
        st.pending.retain(|p| !(p.log == *log && p.seg == seg));
        let durable_exists = st.segs.get(&key).is_some_and(|s| s.durable_exists);
        st.segs.insert(
            key,
            Seg {
                live: zeros.clone(),
                durable: zeros,
                live_exists: true,
                durable_exists,
            },
        );
        Ok(())
    }

    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.alive()?;
        let mut st = self.state.borrow_mut();
        let s = match st.segs.get_mut(&(log.clone(), seg)) {
            Some(s) if s.live_exists => s,
            _ => return Err(StoreError::not_found(log, seg)),
        };
        let n = s.live.len() as u64;
        let end = match pos.checked_add(data.len() as u64) {
            Some(e) if e <= n => e,
            _ => return Err(oor(log, seg, pos, data.len() as u64, n)),
        };
        s.live[pos as usize..end as usize].copy_from_slice(data);
        st.pending.push(Pending {
            log: log.clone(),
            seg,
            pos,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        self.durability_point()?;
        let mut st = self.state.borrow_mut();
        let s = match st.segs.get_mut(&(log.clone(), seg)) {
            Some(s) if s.live_exists => s,
            _ => return Err(StoreError::not_found(log, seg)),
        };
        let n = s.live.len() as u64;
        if range.start > range.end || range.end > n {
            return Err(oor(
                log,
                seg,
                range.start,
                range.end.saturating_sub(range.start),
                n,
            ));
        }
        let (a, b) = (range.start as usize, range.end as usize);
        let live = s.live[a..b].to_vec();
        s.durable[a..b].copy_from_slice(&live);
        // Cut the synced range out of the pending writes (splitting where needed).
        let old = std::mem::take(&mut st.pending);
        for p in old {
            let (ps, pe) = (p.pos, p.pos + p.data.len() as u64);
            if p.log != *log || p.seg != seg || pe <= range.start || ps >= range.end {
                st.pending.push(p);
                continue;
            }
            if ps < range.start {
                st.pending.push(Pending {
                    log: p.log.clone(),
                    seg,
                    pos: ps,
                    data: p.data[..(range.start - ps) as usize].to_vec(),
                });
            }
            if pe > range.end {
                st.pending.push(Pending {
                    log: p.log.clone(),
                    seg,
                    pos: range.end,
                    data: p.data[(range.end - ps) as usize..].to_vec(),
                });
            }
        }
        Ok(())
    }

    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.alive()?;
        let mut st = self.state.borrow_mut();
        match st.segs.get_mut(&(log.clone(), seg)) {
            Some(s) if s.live_exists => {
                s.live_exists = false;
                Ok(())
            }
            _ => Err(StoreError::not_found(log, seg)),
        }
    }

    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.durability_point()?;
        let mut st = self.state.borrow_mut();
        for ((l, _), s) in st.segs.iter_mut() {
            if l == log {
                s.durable_exists = s.live_exists;
            }
        }
        let removed: Vec<SegmentId> = st
            .segs
            .iter()
            .filter(|((l, _), s)| l == log && !s.live_exists)
            .map(|((_, id), _)| *id)
            .collect();
        for id in removed {
            st.segs.remove(&(log.clone(), id));
            st.pending.retain(|p| !(p.log == *log && p.seg == id));
        }
        Ok(())
    }

    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.durability_point()?;
        let mut st = self.state.borrow_mut();
        match contents {
            Some(c) => st.meta.insert(file, c.to_vec()),
            None => st.meta.remove(&file),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: LogId = LogId::DLedgerData;

    fn seg(m: &MemStore, id: SegmentId) -> Option<Vec<u8>> {
        m.segment_bytes(&L, id)
    }

    #[test]
    fn durable_image_advances_only_on_sync() {
        let s = CrashStore::new(4);
        s.create(&L, 0, 16).unwrap();
        // Created but the directory is not synced: gone after a crash.
        assert!(seg(&s.crash_image(Tear::LoseUnsynced, 0), 0).is_none());
        s.sync_dir(&L).unwrap();
        s.write(&L, 0, 0, b"abcdefgh").unwrap();
        assert_eq!(
            seg(&s.crash_image(Tear::LoseUnsynced, 0), 0).unwrap(),
            [0; 16]
        );
        s.sync(&L, 0, 0..4).unwrap();
        let img = seg(&s.crash_image(Tear::LoseUnsynced, 0), 0).unwrap();
        assert_eq!(&img[..8], b"abcd\0\0\0\0");
        // Everything unsynced survives with FlipLastPage, except one flipped bit.
        let img = seg(&s.crash_image(Tear::FlipLastPage, 3), 0).unwrap();
        let diff: u32 = img[..8]
            .iter()
            .zip(b"abcdefgh")
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(diff, 1);
        assert_eq!(&img[..4], b"abcd", "synced bytes are never touched");
        // Prefix keeps a write-ordered prefix of "efgh".
        for seed in 0..20 {
            let img = seg(&s.crash_image(Tear::KeepPrefix, seed), 0).unwrap();
            let kept = img[4..8].iter().take_while(|&&b| b != 0).count();
            assert_eq!(&img[4..4 + kept], &b"efgh"[..kept]);
            assert!(img[4 + kept..].iter().all(|&b| b == 0));
        }
        // Random pages: each 4-byte page is all-old or all-new.
        let mut seen = [false; 2];
        for seed in 0..20 {
            let img = seg(&s.crash_image(Tear::RandomPages, seed), 0).unwrap();
            assert!(img[4..8] == *b"efgh" || img[4..8] == [0; 4]);
            seen[usize::from(img[4] != 0)] = true;
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn removal_durable_on_sync_dir_and_scheduled_crash() {
        let s = CrashStore::new(4096);
        s.create(&L, 0, 8).unwrap();
        s.sync_dir(&L).unwrap();
        s.remove(&L, 0).unwrap();
        assert!(s.segments(&L).unwrap().is_empty());
        assert!(seg(&s.crash_image(Tear::LoseUnsynced, 0), 0).is_some());
        s.sync_dir(&L).unwrap();
        assert!(seg(&s.crash_image(Tear::LoseUnsynced, 0), 0).is_none());
        // Crash at the 2nd durability call from now.
        s.crash_at(Some(2));
        s.write_meta(MetaFile::CurrTerm, Some(b"currTerm=1\n"))
            .unwrap();
        assert!(
            s.write_meta(MetaFile::CurrTerm, Some(b"currTerm=2\n"))
                .is_err()
        );
        assert!(s.crashed());
        assert!(s.segments(&L).is_err(), "a crashed machine answers nothing");
        let img = s.crash_image(Tear::LoseUnsynced, 0);
        assert_eq!(
            img.read_meta(MetaFile::CurrTerm).unwrap().unwrap(),
            b"currTerm=1\n"
        );
    }
}
