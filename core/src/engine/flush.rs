//! Flush mechanism: dirty ranges per segment, page rounding, and a
//! deterministic planner the host drives with the current time.
//!
//! The *policy* (sync or async, intervals, page thresholds) is plain data,
//! [`FlushPolicy`]; the host owns the threads and the clock. The planner only
//! answers "what should be synced now, and when should I be asked again".
//!
//! ```text
//! writes --note_write/absorb--> FlushPlanner --poll_flush(now)--> FlushRequest
//!                                    ^                                 |
//!                                    +------ on_flushed(req, now) <-- store.sync(log, seg, range)
//! ```

use alloc::vec::Vec;
use core::ops::Range;

use crate::layout::{OS_PAGE_SIZE, page_ceil, page_floor};
use crate::store::{LogId, SegmentId};

/// Bytes written but not yet synced, one hull per segment.
///
/// Writes to a log are nearly always sequential, so one range per segment
/// (the hull of everything written since the last sync) loses almost nothing
/// and keeps the bookkeeping allocation-free after the first write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirty {
    /// Ascending by segment, one entry per segment: a sorted `Vec` (one or
    /// two entries in practice) keeps its allocation across `drain_into`, so
    /// an append allocates nothing here.
    ranges: Vec<(SegmentId, Range<u64>)>,
}

impl Dirty {
    /// Nothing dirty.
    pub const fn new() -> Self {
        Self { ranges: Vec::new() }
    }

    fn find(&self, seg: SegmentId) -> Result<usize, usize> {
        self.ranges.binary_search_by_key(&seg, |e| e.0)
    }

    /// Records that `range` of `seg` was written.
    pub fn note(&mut self, seg: SegmentId, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        match self.find(seg) {
            Ok(i) => {
                let r = &mut self.ranges[i].1;
                r.start = r.start.min(range.start);
                r.end = r.end.max(range.end);
            }
            Err(i) => self.ranges.insert(i, (seg, range)),
        }
    }

    /// Forgets a removed segment.
    pub fn forget(&mut self, seg: SegmentId) {
        if let Ok(i) = self.find(seg) {
            self.ranges.remove(i);
        }
    }

    /// Moves everything from `other` into `self`.
    pub fn merge(&mut self, mut other: Self) {
        other.drain_into(self);
    }

    /// Moves everything into `dst`, leaving `self` empty (its allocation kept).
    pub fn drain_into(&mut self, dst: &mut Self) {
        for (seg, r) in self.ranges.drain(..) {
            dst.note(seg, r);
        }
    }

    /// True when nothing is dirty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The dirty hull of each segment, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (SegmentId, &Range<u64>)> {
        self.ranges.iter().map(|(s, r)| (*s, r))
    }

    /// Dirty OS pages (each hull rounded out to page boundaries).
    pub fn pages(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(_, r)| (page_ceil(r.end) - page_floor(r.start)) / OS_PAGE_SIZE)
            .sum()
    }

    /// The lowest dirty absolute offset (segment start + position): every
    /// byte below it that was written is durable.
    pub fn lowest(&self) -> Option<u64> {
        self.ranges
            .iter()
            .map(|(s, r)| s.saturating_add(r.start))
            .min()
    }

    /// Marks `synced` of `seg` clean. Bytes written after the matching
    /// [`FlushRequest`] was planned (beyond its end) stay dirty.
    pub fn clear(&mut self, seg: SegmentId, synced: &Range<u64>) {
        let Ok(i) = self.find(seg) else {
            return;
        };
        let r = &mut self.ranges[i].1;
        if synced.start <= r.start {
            if synced.end >= r.end {
                self.ranges.remove(i);
            } else if synced.end > r.start {
                r.start = synced.end;
            }
        } else if synced.end >= r.end && synced.start < r.end {
            r.end = synced.start;
        }
    }
}

/// Whether appends wait for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Every write is flushed as soon as the host polls (RocketMQ `SYNC_FLUSH`).
    Sync,
    /// Flushed in the background on a timer (RocketMQ `ASYNC_FLUSH`, DLedger).
    Async,
}

/// Flush policy: plain data, chosen by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Sync or async.
    pub mode: FlushMode,
    /// Async: how often to look (ms).
    pub interval_ms: u64,
    /// Async: flush only when at least this many dirty 4 KiB pages (0 = any).
    /// Dirty data in more than one segment (a rolled, full segment) always counts as enough.
    pub least_pages: u64,
    /// Async: flush whatever is dirty at least this often (ms; 0 = never forced).
    pub thorough_interval_ms: u64,
}

impl FlushPolicy {
    /// RocketMQ commitlog `ASYNC_FLUSH` defaults: 500 ms, 4 pages, 10 s.
    pub const ROCKETMQ_ASYNC: Self = Self {
        mode: FlushMode::Async,
        interval_ms: 500,
        least_pages: 4,
        thorough_interval_ms: 10_000,
    };
    /// RocketMQ commitlog `SYNC_FLUSH` (group commit).
    pub const ROCKETMQ_SYNC: Self = Self {
        mode: FlushMode::Sync,
        interval_ms: 10,
        least_pages: 0,
        thorough_interval_ms: 0,
    };
    /// RocketMQ consume queue flush: 1000 ms, 2 pages, 60 s.
    pub const ROCKETMQ_CONSUME_QUEUE: Self = Self {
        mode: FlushMode::Async,
        interval_ms: 1000,
        least_pages: 2,
        thorough_interval_ms: 60_000,
    };
    /// DLedger `flushFileInterval`: whatever is dirty, every 10 ms.
    pub const DLEDGER: Self = Self {
        mode: FlushMode::Async,
        interval_ms: 10,
        least_pages: 0,
        thorough_interval_ms: 0,
    };
}

/// One sync the host should perform: `store.sync(&log, seg, range)`.
#[must_use = "perform the sync, then report it with FlushPlanner::on_flushed"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushRequest {
    /// The log.
    pub log: LogId,
    /// The segment.
    pub seg: SegmentId,
    /// Byte range inside the segment, rounded out to pages and clamped to the segment.
    pub range: Range<u64>,
    /// The bytes that were dirty when the request was planned (inside
    /// `range`): only these become clean in [`FlushPlanner::on_flushed`]. A
    /// write that lands in the last page while the sync runs may or may not
    /// reach the disk with it, so it stays dirty.
    pub planned: Range<u64>,
}

#[derive(Debug, Clone)]
struct Tracked {
    log: LogId,
    seg_size: u64,
    dirty: Dirty,
    /// When the last completed flush of this log ended.
    last_flush_ms: u64,
    /// When the last flush that ignored `least_pages` ended.
    last_thorough_ms: u64,
    /// Not before this time will an async log be looked at again.
    next_check_ms: u64,
    /// A flush of this log is under way: keep emitting requests until clean.
    draining: Option<Drain>,
}

#[derive(Debug, Clone, Copy)]
struct Drain {
    thorough: bool,
}

/// The deterministic flush planner.
///
/// # Calling order
///
/// 1. **Setup:** [`FlushPlanner::new`] with a policy, then [`track`](Self::track)
///    each log in the order its segments must reach the disk (e.g. DLedger data
///    before its index, commitlog before consume queues).
/// 2. **After every mutation** of a tracked log: [`note_write`](Self::note_write)
///    (or [`absorb`](Self::absorb) a [`Dirty`] collected by a
///    [`SegmentQueue`](super::segments::SegmentQueue)), and
///    [`forget_segment`](Self::forget_segment) for removed segments.
/// 3. **Driving:** call [`poll_flush(now_ms)`](Self::poll_flush) until it
///    returns `None`; for each request call `store.sync(..)` and, only if it
///    succeeded, [`on_flushed(&req, now_ms)`](Self::on_flushed). A failed sync is
///    never retried (the store latches, see [`crate::checked::Checked`]).
/// 4. **Sleeping:** wait until [`poll_timeout`](Self::poll_timeout) (an absolute
///    time in ms; `None` = nothing to do until the next write), then go to 3.
///
/// `now_ms` must not go backwards.
#[derive(Debug, Clone)]
pub struct FlushPlanner {
    policy: FlushPolicy,
    logs: Vec<Tracked>,
    last_now: u64,
}

impl FlushPlanner {
    /// A planner with no logs.
    pub const fn new(policy: FlushPolicy) -> Self {
        Self {
            policy,
            logs: Vec::new(),
            last_now: 0,
        }
    }

    /// The policy.
    pub const fn policy(&self) -> &FlushPolicy {
        &self.policy
    }

    /// Adds a log (no-op if already tracked). Logs are flushed in tracking order.
    pub fn track(&mut self, log: LogId, seg_size: u64) {
        if self.find(&log).is_none() {
            self.logs.push(Tracked {
                log,
                seg_size,
                dirty: Dirty::new(),
                last_flush_ms: 0,
                last_thorough_ms: 0,
                next_check_ms: 0,
                draining: None,
            });
        }
    }

    fn find(&self, log: &LogId) -> Option<usize> {
        self.logs.iter().position(|t| &t.log == log)
    }

    /// Records a write of `range` in `seg` of a tracked log (untracked logs are ignored).
    pub fn note_write(&mut self, log: &LogId, seg: SegmentId, range: Range<u64>) {
        if let Some(i) = self.find(log) {
            self.logs[i].dirty.note(seg, range);
        }
    }

    /// Records every range of `dirty` as written to `log`.
    pub fn absorb(&mut self, log: &LogId, dirty: Dirty) {
        if let Some(i) = self.find(log) {
            self.logs[i].dirty.merge(dirty);
        }
    }

    /// [`Self::absorb`] without moving the set: `dirty` is left empty with
    /// its allocation kept (the per-append path).
    pub fn absorb_from(&mut self, log: &LogId, dirty: &mut Dirty) {
        match self.find(log) {
            Some(i) => dirty.drain_into(&mut self.logs[i].dirty),
            None => dirty.ranges.clear(),
        }
    }

    /// Forgets a segment that was removed (nothing left to sync there).
    pub fn forget_segment(&mut self, log: &LogId, seg: SegmentId) {
        if let Some(i) = self.find(log) {
            self.logs[i].dirty.forget(seg);
        }
    }

    /// True when nothing tracked is dirty.
    pub fn is_clean(&self) -> bool {
        self.logs.iter().all(|t| t.dirty.is_empty())
    }

    /// The lowest dirty absolute offset of `log`; `None` when it is clean.
    /// Everything written below it is durable.
    pub fn dirty_from(&self, log: &LogId) -> Option<u64> {
        self.find(log).and_then(|i| self.logs[i].dirty.lowest())
    }

    /// The dirty ranges of `log`.
    pub fn dirty(&self, log: &LogId) -> Option<&Dirty> {
        self.find(log).map(|i| &self.logs[i].dirty)
    }

    /// The next sync to perform now, if the policy says so.
    pub fn poll_flush(&mut self, now_ms: u64) -> Option<FlushRequest> {
        self.last_now = self.last_now.max(now_ms);
        let policy = self.policy;
        for t in &mut self.logs {
            if t.dirty.is_empty() {
                continue;
            }
            if t.draining.is_none() {
                t.draining = Self::due(&policy, t, now_ms);
            }
            if t.draining.is_some() {
                return Self::request(t);
            }
        }
        None
    }

    /// Like [`poll_flush`](Self::poll_flush) but ignoring the policy: the next
    /// sync needed to make everything durable (shutdown, explicit flush).
    pub fn poll_flush_all(&mut self) -> Option<FlushRequest> {
        for t in &mut self.logs {
            if !t.dirty.is_empty() {
                t.draining.get_or_insert(Drain { thorough: true });
                return Self::request(t);
            }
        }
        None
    }

    fn due(policy: &FlushPolicy, t: &mut Tracked, now: u64) -> Option<Drain> {
        match policy.mode {
            FlushMode::Sync => Some(Drain { thorough: true }),
            FlushMode::Async => {
                if policy.thorough_interval_ms > 0
                    && now
                        >= t.last_thorough_ms
                            .saturating_add(policy.thorough_interval_ms)
                {
                    return Some(Drain { thorough: true });
                }
                if now
                    < t.next_check_ms
                        .max(t.last_flush_ms.saturating_add(policy.interval_ms))
                {
                    return None;
                }
                let enough = policy.least_pages == 0
                    || t.dirty.pages() >= policy.least_pages
                    || t.dirty.iter().count() > 1;
                if enough {
                    Some(Drain {
                        thorough: policy.least_pages == 0,
                    })
                } else {
                    // RocketMQ sleeps a whole interval before looking again.
                    t.next_check_ms = now.saturating_add(policy.interval_ms.max(1));
                    None
                }
            }
        }
    }

    fn request(t: &Tracked) -> Option<FlushRequest> {
        let (seg, r) = t.dirty.iter().next()?;
        let end = page_ceil(r.end).min(t.seg_size.max(r.end));
        Some(FlushRequest {
            log: t.log.clone(),
            seg,
            range: page_floor(r.start)..end,
            planned: r.clone(),
        })
    }

    /// Reports that `req` was synced successfully at `now_ms`. Only what was
    /// dirty when `req` was planned ([`FlushRequest::planned`]) becomes
    /// clean; anything written since (even into the same page) stays dirty.
    pub fn on_flushed(&mut self, req: &FlushRequest, now_ms: u64) {
        self.last_now = self.last_now.max(now_ms);
        let Some(i) = self.find(&req.log) else {
            return;
        };
        let t = &mut self.logs[i];
        t.dirty.clear(req.seg, &req.planned);
        if t.dirty.is_empty()
            && let Some(d) = t.draining.take()
        {
            t.last_flush_ms = now_ms;
            t.next_check_ms = now_ms;
            if d.thorough {
                t.last_thorough_ms = now_ms;
            }
        }
    }

    /// When to call [`poll_flush`](Self::poll_flush) next (absolute ms; a time
    /// not after the last `now_ms` seen means "now"). `None`: nothing is dirty.
    pub fn poll_timeout(&self) -> Option<u64> {
        let p = &self.policy;
        self.logs
            .iter()
            .filter(|t| !t.dirty.is_empty())
            .map(|t| {
                if t.draining.is_some() || p.mode == FlushMode::Sync {
                    return self.last_now;
                }
                let check = t
                    .next_check_ms
                    .max(t.last_flush_ms.saturating_add(p.interval_ms));
                if p.thorough_interval_ms > 0 {
                    check.min(t.last_thorough_ms.saturating_add(p.thorough_interval_ms))
                } else {
                    check
                }
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CL: LogId = LogId::CommitLog;

    fn drain(p: &mut FlushPlanner, now: u64) -> Vec<FlushRequest> {
        let mut out = Vec::new();
        while let Some(r) = p.poll_flush(now) {
            p.on_flushed(&r, now);
            out.push(r);
        }
        out
    }

    #[test]
    fn dirty_hull_and_clear() {
        let mut d = Dirty::new();
        d.note(0, 10..20);
        d.note(0, 30..40);
        d.note(4096, 0..5);
        assert_eq!(
            d.iter().collect::<Vec<_>>(),
            [(0, &(10..40)), (4096, &(0..5))]
        );
        assert_eq!(d.lowest(), Some(10));
        assert_eq!(d.pages(), 2);
        // A sync planned before a later write keeps the later part dirty.
        d.note(0, 40..50);
        d.clear(0, &(0..40));
        assert_eq!(d.iter().next(), Some((0, &(40..50))));
        d.clear(0, &(0..4096));
        d.forget(4096);
        assert!(d.is_empty());
        assert_eq!(d.lowest(), None);
    }

    #[test]
    fn sync_mode_flushes_at_once_page_rounded() {
        let mut p = FlushPlanner::new(FlushPolicy::ROCKETMQ_SYNC);
        p.track(CL, 10_000);
        assert_eq!(p.poll_timeout(), None);
        p.note_write(&CL, 0, 5000..5100);
        assert_eq!(p.poll_timeout(), Some(0));
        let r = drain(&mut p, 7);
        // Rounded out to pages, clamped to the segment end.
        assert_eq!(
            r,
            [FlushRequest {
                log: CL,
                seg: 0,
                range: 4096..8192,
                planned: 5000..5100,
            }]
        );
        p.note_write(&CL, 0, 9000..9990);
        assert_eq!(drain(&mut p, 8)[0].range, 8192..10_000);
        assert!(p.is_clean());
    }

    #[test]
    fn async_least_pages_interval_and_thorough() {
        let mut p = FlushPlanner::new(FlushPolicy::ROCKETMQ_ASYNC);
        p.track(CL, 1 << 20);
        // First look at t=500 (interval after the epoch): 1 page is not enough.
        p.note_write(&CL, 0, 0..100);
        assert_eq!(p.poll_flush(100), None);
        assert_eq!(p.poll_timeout(), Some(500));
        assert_eq!(p.poll_flush(500), None);
        assert_eq!(p.poll_timeout(), Some(1000));
        // 4 pages dirty: flushed at the next check.
        p.note_write(&CL, 0, 100..4 * 4096);
        assert_eq!(p.poll_flush(999), None);
        assert_eq!(drain(&mut p, 1000).len(), 1);
        assert!(p.is_clean());
        // A small write waits for the thorough interval (10 s after the epoch).
        p.note_write(&CL, 0, 4 * 4096..4 * 4096 + 1);
        assert_eq!(p.poll_flush(1500), None);
        assert_eq!(p.poll_timeout(), Some(2000));
        for t in (2000..10_000).step_by(500) {
            assert_eq!(p.poll_flush(t), None, "at {t}");
        }
        assert_eq!(drain(&mut p, 10_000).len(), 1);
        assert_eq!(p.poll_timeout(), None);
        // Two dirty segments (a roll happened) count as enough.
        p.note_write(&CL, 0, 20_000..20_010);
        p.note_write(&CL, 1 << 20, 0..10);
        let r = drain(&mut p, 10_500);
        assert_eq!(r.iter().map(|r| r.seg).collect::<Vec<_>>(), [0, 1 << 20]);
    }

    #[test]
    fn logs_flush_in_tracking_order_and_dirty_from() {
        let mut p = FlushPlanner::new(FlushPolicy::DLEDGER);
        p.track(LogId::DLedgerData, 1024);
        p.track(LogId::DLedgerIndex, 64);
        p.note_write(&LogId::DLedgerIndex, 0, 0..32);
        p.note_write(&LogId::DLedgerData, 1024, 10..20);
        assert_eq!(p.dirty_from(&LogId::DLedgerData), Some(1034));
        let order: Vec<_> = drain(&mut p, 10).into_iter().map(|r| r.log).collect();
        assert_eq!(order, [LogId::DLedgerData, LogId::DLedgerIndex]);
        assert_eq!(p.dirty_from(&LogId::DLedgerData), None);
        // poll_flush_all ignores timing.
        p.note_write(&LogId::DLedgerData, 1024, 20..30);
        assert_eq!(p.poll_flush(11), None);
        let r = p.poll_flush_all().unwrap();
        p.on_flushed(&r, 11);
        assert!(p.is_clean());
    }

    #[test]
    fn a_write_into_the_last_page_during_a_sync_stays_dirty() {
        let mut p = FlushPlanner::new(FlushPolicy::ROCKETMQ_SYNC);
        p.track(CL, 1 << 20);
        p.note_write(&CL, 0, 0..100);
        let req = p.poll_flush(1).unwrap();
        // The sync covers the whole first page ...
        assert_eq!(req.range, 0..4096);
        // ... but a write lands in that page while it runs.
        p.note_write(&CL, 0, 100..200);
        p.on_flushed(&req, 2);
        assert!(!p.is_clean(), "the later write was counted as durable");
        assert_eq!(p.dirty_from(&CL), Some(100));
        let again = p.poll_flush(3).unwrap();
        assert_eq!(again.planned, 100..200);
        p.on_flushed(&again, 3);
        assert!(p.is_clean());
        assert_eq!(p.dirty_from(&CL), None);
    }
}
