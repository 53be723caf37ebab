//! The flush thread and the group-commit wait, driven by the core's
//! [`FlushPlanner`].
//!
//! Writers record what they wrote with [`Flusher::note`] (while still holding
//! their engine lock, so notes arrive in write order). A background thread
//! asks the planner what to sync and when, performs `msync` + `fdatasync`
//! through the shared [`DiskStore`] *without* any engine lock (writers keep
//! appending meanwhile), and publishes the *durable watermark* of the primary
//! log (commitlog or DLedger data): every byte written below it is on disk.
//!
//! * **Async mode** ([`FlushMode::Async`]): the thread sleeps until the
//!   planner's [`poll_timeout`](FlushPlanner::poll_timeout): RocketMQ's 500 ms
//!   / 4 pages / 10 s thorough, DLedger's 10 ms.
//! * **Sync mode** (group commit): [`Flusher::note`] wakes the thread at once
//!   if it sleeps (a busy thread picks the write up when its sync returns);
//!   a writer then blocks in [`Flusher::wait_durable`] until the watermark
//!   covers its record. Each sync covers everything written up to the moment
//!   it starts; the thread starts the next one once the writers the last one
//!   released have written again, or after half an average sync (the
//!   *gather*), so every writer that wrote before a sync
//!   started shares that one `fdatasync`, and only the writers it covers are
//!   woken (see [`group_commit`]). Secondary logs (DLedger's index) are
//!   synced at least every policy interval even while the primary is busy.
//!   The wait has a deadline
//!   (`syncFlushTimeout`, 5 s): past it the writer gets
//!   [`WaitError::Timeout`], never a hang.
//! * **Failure**: the first failed sync latches the store (never retried);
//!   every waiting and later writer gets [`WaitError::Failed`].
//!
//! A periodic *hook* (RocketMQ: flush consume queues and index, write the
//! checkpoint; DLedger: persist the checkpoint) runs on the same thread.

mod group_commit;

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rocketlog_core::engine::flush::{FlushMode, FlushPlanner, FlushPolicy, FlushRequest};
use rocketlog_core::layout::{page_ceil, page_floor};
use rocketlog_core::store::{LogId, PageStore, SegmentId, StoreError};

use crate::store::DiskStore;

use group_commit::{GroupCommit, Registry, Wakes, Watermark};
#[cfg(all(loom, test))]
use loom::sync::MutexGuard;
#[cfg(not(all(loom, test)))]
use std::sync::MutexGuard;

/// Work the flush thread runs every `interval` (errors latch the flusher).
pub type Hook = Box<dyn FnMut() -> Result<(), StoreError> + Send>;

/// Why a durability wait ended without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitError {
    /// The watermark did not reach the record in time (`FLUSH_DISK_TIMEOUT`):
    /// the record is written but not known to be durable.
    Timeout {
        /// The end offset waited for.
        offset: u64,
        /// How long the writer waited (ms).
        waited_ms: u64,
    },
    /// A sync failed; the store is latched.
    Failed(StoreError),
    /// The flusher was stopped before the record became durable.
    Stopped,
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout { offset, waited_ms } => write!(
                f,
                "flush timed out after {waited_ms} ms waiting for offset {offset} to be durable"
            ),
            Self::Failed(e) => write!(f, "flush failed: {e}"),
            Self::Stopped => f.write_str("the store was closed before the flush"),
        }
    }
}

impl std::error::Error for WaitError {}

/// Counters of the flush thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// `sync` calls performed.
    pub syncs: u64,
    /// Bytes covered by those syncs (page-rounded ranges).
    pub synced_bytes: u64,
    /// Total time spent in `sync` (µs).
    pub sync_micros: u64,
    /// Hook runs.
    pub hooks: u64,
    /// Sync mode: time the thread held a sync back for released writers to
    /// write again (µs; see the group commit's gather in the module docs).
    pub gather_micros: u64,
    /// Gathers that ended at their deadline rather than with every released
    /// writer's next write.
    pub gathers_timed_out: u64,
    /// Durable watermark of the primary log.
    pub durable: u64,
    /// Written end of the primary log.
    pub written: u64,
}

/// Flusher settings.
#[derive(Debug, Clone)]
pub struct FlushSettings {
    /// The policy (mode, interval, least pages, thorough interval).
    pub policy: FlushPolicy,
    /// Logs to sync, in the order they must reach the disk, with their segment sizes.
    pub logs: Vec<(LogId, u64)>,
    /// The log whose durable watermark acknowledges writes.
    pub primary: LogId,
    /// How often the hook runs (ms; 0 = never).
    pub hook_interval_ms: u64,
}

struct State {
    planner: FlushPlanner,
    written: u64,
    durable: u64,
    in_flight: bool,
    error: Option<StoreError>,
    stop: bool,
    next_hook_ms: u64,
    stats: FlushStats,
    registry: Registry,
    /// Moving average of a sync's duration (µs): bounds a gather.
    sync_avg_micros: u64,
    /// When the flush thread began holding back the next sync.
    gather_since: Option<Instant>,
    /// Sync mode: when the secondary logs were last left clean (ms).
    secondary_clean_ms: u64,
}

impl Watermark for State {
    fn durable(&self) -> u64 {
        self.durable
    }
    fn failure(&self) -> Option<&StoreError> {
        self.error.as_ref()
    }
    fn stopped(&self) -> bool {
        self.stop && self.planner.is_clean()
    }
    fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }
}

struct Shared {
    store: DiskStore,
    primary: LogId,
    /// The tracked logs and their segment sizes.
    logs: Vec<(LogId, u64)>,
    hook_interval_ms: u64,
    epoch: Instant,
    /// The state, the flush thread's wake-up and the writers' wake-up.
    gc: GroupCommit<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.gc.lock()
    }
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    /// Recomputes the durable watermark; true when it changed.
    fn update(&self, st: &mut State) -> bool {
        let before = st.durable;
        st.durable = st.planner.dirty_from(&self.primary).unwrap_or(st.written);
        st.stats.durable = st.durable;
        st.stats.written = st.written;
        st.durable != before
    }

    /// Publishes the state to waiters (lock held), then releases the lock to
    /// wake the writers it released, and takes it again.
    fn publish_and_wake<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        wakes: &mut Wakes,
    ) -> MutexGuard<'a, State> {
        self.gc.publish(&mut st, wakes);
        if wakes.is_empty() {
            return st;
        }
        drop(st);
        GroupCommit::<State>::unpark(wakes);
        self.lock()
    }

    /// Performs one planned sync with the lock released. The planner marks
    /// clean only what was dirty when it planned `req`: a write that lands in
    /// the same page during the sync stays dirty.
    fn sync_one<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        req: FlushRequest,
        wakes: &mut Wakes,
    ) -> MutexGuard<'a, State> {
        st.in_flight = true;
        drop(st);
        let t = Instant::now();
        let r = self.store.sync(&req.log, req.seg, req.range.clone());
        let took = micros(t.elapsed());
        let mut st = self.lock();
        st.in_flight = false;
        // An average over the last few syncs (weight 1/8): the machine's
        // sync latency moves with its load.
        st.sync_avg_micros = st.sync_avg_micros.saturating_mul(7).saturating_add(took) / 8;
        st.stats.syncs += 1;
        st.stats.sync_micros += took;
        st.stats.synced_bytes += req.range.end - req.range.start;
        match r {
            Ok(()) => {
                let now = self.now_ms();
                st.planner.on_flushed(&req, now);
                self.update(&mut st);
            }
            Err(e) => {
                st.error.get_or_insert(e);
            }
        }
        self.publish_and_wake(st, wakes)
    }
}

/// The flush thread and its group-commit state. See the [module docs](self).
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Flusher {
    /// Starts the flush thread. `written` is the primary log's current end
    /// (everything below it is already durable, e.g. right after recovery).
    pub fn start(
        store: DiskStore,
        settings: FlushSettings,
        written: u64,
        hook: Option<Hook>,
    ) -> Result<Self, StoreError> {
        let mut planner = FlushPlanner::new(settings.policy);
        for (log, size) in &settings.logs {
            planner.track(log.clone(), *size);
        }
        let shared = Arc::new(Shared {
            store,
            primary: settings.primary,
            logs: settings.logs.clone(),
            hook_interval_ms: settings.hook_interval_ms,
            epoch: Instant::now(),
            gc: GroupCommit::new(State {
                planner,
                written,
                durable: written,
                in_flight: false,
                error: None,
                stop: false,
                next_hook_ms: settings.hook_interval_ms,
                stats: FlushStats {
                    durable: written,
                    written,
                    ..FlushStats::default()
                },
                registry: Registry::default(),
                sync_avg_micros: 0,
                gather_since: None,
                secondary_clean_ms: 0,
            }),
        });
        let s2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("rocketlog-flush".into())
            .spawn(move || run(&s2, hook))
            .map_err(|e| {
                StoreError::new(
                    rocketlog_core::store::StoreErrorKind::Io,
                    format!("cannot start the flush thread: {e}"),
                )
            })?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Records writes (`(log, segment, range in the segment)`) and the primary
    /// log's new end. Call in write order (under the writer's lock).
    pub fn note(&self, writes: &[(LogId, SegmentId, Range<u64>)], primary_end: u64) {
        let mut st = self.shared.lock();
        let was_clean = st.planner.is_clean();
        for (log, seg, r) in writes {
            st.planner.note_write(log, *seg, r.clone());
        }
        st.written = st.written.max(primary_end);
        self.shared.gc.arrived(&mut st);
        // Sync mode: flush now. Async: a thread idle on a clean planner must
        // learn when to look again (the planner's timeout). Either way only
        // a sleeping thread is signalled.
        if st.planner.policy().mode == FlushMode::Sync || was_clean {
            self.shared.gc.wake_flusher(&mut st);
        }
        // A write only to a secondary log can move the primary's end while
        // it is clean: that raises the watermark.
        if self.shared.update(&mut st) {
            let mut wakes = Wakes::new();
            drop(self.shared.publish_and_wake(st, &mut wakes));
        }
    }

    /// Lowers the primary log's end after a truncation (everything below is durable).
    pub fn reset_written(&self, end: u64) {
        let mut st = self.shared.lock();
        st.written = end;
        self.shared.update(&mut st);
        let mut wakes = Wakes::new();
        drop(self.shared.publish_and_wake(st, &mut wakes));
    }

    /// Forgets a removed segment.
    pub fn forget_segment(&self, log: &LogId, seg: SegmentId) {
        self.shared.lock().planner.forget_segment(log, seg);
    }

    /// Blocks until everything below `end` of the primary log is durable, or
    /// `timeout` passes, or a sync fails.
    pub fn wait_durable(&self, end: u64, timeout: Duration) -> Result<(), WaitError> {
        self.shared.gc.wait_durable(end, timeout)
    }

    /// Syncs everything noted so far on the calling thread (waiting for a
    /// sync in flight first), ignoring the policy.
    pub fn flush_now(&self) -> Result<(), StoreError> {
        let mut st = self.shared.lock();
        let mut wakes = Wakes::new();
        loop {
            if let Some(e) = &st.error {
                return Err(e.clone());
            }
            if st.in_flight {
                st = self.shared.gc.wait_published(st);
                continue;
            }
            match st.planner.poll_flush_all() {
                Some(req) => st = self.shared.sync_one(st, req, &mut wakes),
                None => return Ok(()),
            }
        }
    }

    /// The failure that latched the flusher, if any.
    pub fn error(&self) -> Option<StoreError> {
        self.shared.lock().error.clone()
    }

    /// Durable watermark of the primary log.
    pub fn durable(&self) -> u64 {
        self.shared.lock().durable
    }

    /// Counters.
    pub fn stats(&self) -> FlushStats {
        self.shared.lock().stats
    }

    /// Flushes everything, then stops and joins the thread. Idempotent.
    pub fn stop(&self) -> Result<(), StoreError> {
        let r = self.flush_now();
        {
            let mut st = self.shared.lock();
            st.stop = true;
            self.shared.gc.wake_flusher_all();
            let mut wakes = Wakes::new();
            drop(self.shared.publish_and_wake(st, &mut wakes));
        }
        let t = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = t {
            // A panic on the flush thread is a bug; report it as an error, not a second panic.
            if t.join().is_err() {
                return Err(StoreError::new(
                    rocketlog_core::store::StoreErrorKind::Other,
                    "the flush thread panicked",
                ));
            }
        }
        r
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Errors were already reported to writers; nothing more to say here.
        let _ = self.stop();
    }
}

fn run(sh: &Shared, mut hook: Option<Hook>) {
    let mut st = sh.lock();
    // Reused for every publish: no allocation per sync.
    let mut wakes = Wakes::new();
    loop {
        if st.stop || st.error.is_some() {
            return;
        }
        let now = sh.now_ms();
        if let Some(req) = secondary_due(sh, &mut st, now) {
            st = sh.sync_one(st, req, &mut wakes);
            if sh.secondaries_clean(&st) {
                st.secondary_clean_ms = now;
            }
            continue;
        }
        if let Some(wait) = gather(&mut st) {
            st = sh.gc.wait_work(st, Some(wait));
            continue;
        }
        if let Some(req) = st.planner.poll_flush(now)
            && !st.in_flight
        {
            st = sh.sync_one(st, req, &mut wakes);
            continue;
        }
        if sh.hook_interval_ms > 0 && now >= st.next_hook_ms {
            st.next_hook_ms = now + sh.hook_interval_ms;
            if let Some(h) = hook.as_mut() {
                drop(st);
                let r = h();
                st = sh.lock();
                st.stats.hooks += 1;
                if let Err(e) = r {
                    st.error.get_or_insert(e);
                    st = sh.publish_and_wake(st, &mut wakes);
                }
                continue;
            }
        }
        let mut wake = st.planner.poll_timeout();
        if sh.hook_interval_ms > 0 && hook.is_some() {
            wake = Some(wake.map_or(st.next_hook_ms, |w| w.min(st.next_hook_ms)));
        }
        let timeout = wake.map(|w| Duration::from_millis(w.saturating_sub(now).max(1)));
        st = sh.gc.wait_work(st, timeout);
    }
}

impl Shared {
    fn secondaries_clean(&self, st: &State) -> bool {
        self.logs.iter().all(|(log, _)| {
            *log == self.primary || st.planner.dirty(log).is_none_or(|d| d.is_empty())
        })
    }
}

/// Sync mode with secondary logs (DLedger's index): the planner always
/// serves the primary log first, and under steady load the primary is dirty
/// again (the writers the last sync released) whenever it looks, so a
/// secondary would wait for a quiet moment. Nothing waits for it (waiters
/// watch the primary, and recovery rebuilds a short index from the data),
/// but it must not lag without bound: once the policy's interval has passed
/// since it was last clean, its next segment is synced right after a primary
/// sync, while the released writers come back for the next one.
fn secondary_due(sh: &Shared, st: &mut State, now: u64) -> Option<FlushRequest> {
    let policy = st.planner.policy();
    if policy.mode != FlushMode::Sync
        || st.in_flight
        || now < st.secondary_clean_ms.saturating_add(policy.interval_ms)
    {
        return None;
    }
    for (log, seg_size) in &sh.logs {
        if *log == sh.primary {
            continue;
        }
        let Some((seg, r)) = st.planner.dirty(log).and_then(|d| d.iter().next()) else {
            continue;
        };
        // As the planner rounds: whole pages, clamped to the segment.
        let end = page_ceil(r.end).min((*seg_size).max(r.end));
        return Some(FlushRequest {
            log: log.clone(),
            seg,
            range: page_floor(r.start)..end,
            planned: r.clone(),
        });
    }
    // All clean: nothing lags.
    st.secondary_clean_ms = now;
    None
}

/// The longest a sync is held back for writers still to arrive, as a
/// fraction of the average sync: half a sync's time buys up to a whole
/// group in the next one, and a writer that never comes back costs at most that.
const GATHER_DIVISOR: u64 = 2;

/// Group commit's gather: in sync mode, with something to sync, the writers
/// the last publish released are likely to write again within a moment (the
/// time to be scheduled and encode one record). Starting the sync at once
/// would leave them to the sync after, so every round would split in two;
/// holding it back until they all noted a write (the last one wakes the
/// thread) or for at most half an average sync puts them in this one.
/// Returns how long to sleep, or `None` to sync now.
fn gather(st: &mut State) -> Option<Duration> {
    let pending = st.planner.policy().mode == FlushMode::Sync
        && !st.in_flight
        && !st.planner.is_clean()
        && st.registry.outstanding() > 0;
    if !pending {
        if let Some(since) = st.gather_since.take() {
            st.stats.gather_micros += micros(since.elapsed());
        }
        st.registry.set_gathering(false);
        return None;
    }
    let cap = Duration::from_micros(st.sync_avg_micros / GATHER_DIVISOR);
    let since = *st.gather_since.get_or_insert_with(Instant::now);
    let waited = since.elapsed();
    let left = cap.checked_sub(waited).filter(|d| !d.is_zero());
    st.registry.set_gathering(left.is_some());
    if left.is_none() {
        // The writers still out are not coming back soon (they stopped, or
        // the machine is too busy to run them): sync what is there, and do
        // not wait for them again.
        st.gather_since = None;
        st.stats.gather_micros += micros(waited);
        st.stats.gathers_timed_out += 1;
        st.registry.forget_outstanding();
    }
    left
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Splits a write of absolute `[from, to)` in a log of `seg_size` segments
/// into per-segment ranges.
pub fn split(
    log: &LogId,
    seg_size: u64,
    from: u64,
    to: u64,
) -> Vec<(LogId, SegmentId, Range<u64>)> {
    let mut out = Vec::new();
    let mut p = from;
    while p < to && seg_size > 0 {
        let seg = p - p % seg_size;
        let end = to.min(seg + seg_size);
        out.push((log.clone(), seg, p - seg..end - seg));
        p = end;
    }
    out
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::store::Layout;
    use rocketlog_core::engine::flush::Dirty;

    fn setup(mode: FlushPolicy) -> (tempfile::TempDir, DiskStore, Flusher) {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::new(Layout::rocketmq(dir.path()));
        store.create(&LogId::CommitLog, 0, 1 << 20).unwrap();
        let f = Flusher::start(
            store.clone(),
            FlushSettings {
                policy: mode,
                logs: vec![(LogId::CommitLog, 1 << 20)],
                primary: LogId::CommitLog,
                hook_interval_ms: 0,
            },
            0,
            None,
        )
        .unwrap();
        (dir, store, f)
    }

    #[test]
    fn group_commit_shares_syncs_and_times_out_instead_of_hanging() {
        let (_d, store, f) = setup(FlushPolicy::ROCKETMQ_SYNC);
        let end = Mutex::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let at = {
                            let mut e = end.lock().unwrap();
                            let at = *e;
                            store.write(&LogId::CommitLog, 0, at, &[7; 100]).unwrap();
                            *e += 100;
                            f.note(&split(&LogId::CommitLog, 1 << 20, at, at + 100), at + 100);
                            at + 100
                        };
                        f.wait_durable(at, Duration::from_secs(5)).unwrap();
                        assert!(f.durable() >= at);
                    }
                });
            }
        });
        let st = f.stats();
        assert_eq!(st.durable, 16 * 20 * 100);
        assert!(st.syncs < 16 * 20, "writers shared syncs: {st:?}");
        // Waiting for bytes that never come ends with a timeout, not a hang.
        let t = Instant::now();
        let e = f
            .wait_durable(1 << 30, Duration::from_millis(50))
            .unwrap_err();
        assert!(matches!(e, WaitError::Timeout { offset, .. } if offset == 1 << 30));
        assert!(t.elapsed() >= Duration::from_millis(50) && t.elapsed() < Duration::from_secs(5));
        f.stop().unwrap();
    }

    #[test]
    fn a_busy_primary_log_does_not_starve_a_secondary_one() {
        // DLedger-shaped: data (primary) and index, group commit.
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::new(Layout::dledger(dir.path(), "n0"));
        store.create(&LogId::DLedgerData, 0, 1 << 22).unwrap();
        store.create(&LogId::DLedgerIndex, 0, 1 << 20).unwrap();
        let f = Flusher::start(
            store.clone(),
            FlushSettings {
                policy: FlushPolicy {
                    mode: FlushMode::Sync,
                    ..FlushPolicy::DLEDGER
                },
                logs: vec![
                    (LogId::DLedgerData, 1 << 22),
                    (LogId::DLedgerIndex, 1 << 20),
                ],
                primary: LogId::DLedgerData,
                hook_interval_ms: 0,
            },
            0,
            None,
        )
        .unwrap();
        let next = Mutex::new(0u64);
        let start = Instant::now();
        // Four writers keep the data log dirty whenever the thread looks.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    while start.elapsed() < Duration::from_millis(300) {
                        let end = {
                            let mut n = next.lock().unwrap();
                            let (at, ix) = (*n * 100, *n * 32);
                            if at + 100 > 1 << 22 {
                                return;
                            }
                            store.write(&LogId::DLedgerData, 0, at, &[3; 100]).unwrap();
                            store.write(&LogId::DLedgerIndex, 0, ix, &[4; 32]).unwrap();
                            *n += 1;
                            let mut w = split(&LogId::DLedgerData, 1 << 22, at, at + 100);
                            w.extend(split(&LogId::DLedgerIndex, 1 << 20, ix, ix + 32));
                            f.note(&w, at + 100);
                            at + 100
                        };
                        f.wait_durable(end, Duration::from_secs(5)).unwrap();
                    }
                });
            }
        });
        // While they ran, the index was synced too (at least every policy
        // interval): its first dirty byte moved past its start.
        let n = *next.lock().unwrap();
        let index_dirty_from = f
            .shared
            .lock()
            .planner
            .dirty(&LogId::DLedgerIndex)
            .and_then(Dirty::lowest)
            .unwrap_or(n * 32);
        assert!(index_dirty_from > 0, "index never synced ({n} entries)");
        f.stop().unwrap();
        assert_eq!(f.durable(), n * 100);
    }

    #[test]
    fn a_failed_sync_latches_and_wakes_every_writer() {
        let (_d, store, f) = setup(FlushPolicy::ROCKETMQ_SYNC);
        // A write noted in a segment that does not exist: its sync fails.
        f.note(&[(LogId::CommitLog, 1 << 20, 0..10)], (1 << 20) + 10);
        let e = f
            .wait_durable((1 << 20) + 10, Duration::from_secs(5))
            .unwrap_err();
        assert!(
            matches!(&e, WaitError::Failed(s) if s.kind == rocketlog_core::store::StoreErrorKind::NotFound),
            "{e}"
        );
        // The store itself is latched: nothing is retried or written any more.
        let e = store.write(&LogId::CommitLog, 0, 0, b"x").unwrap_err();
        assert_eq!(e.kind, rocketlog_core::store::StoreErrorKind::PreviousIo);
        assert!(matches!(
            f.wait_durable(1, Duration::from_secs(1)),
            Err(WaitError::Failed(_))
        ));
        assert!(f.stop().is_err());
    }

    #[test]
    fn async_mode_waits_for_the_interval_and_least_pages() {
        let policy = FlushPolicy {
            mode: FlushMode::Async,
            interval_ms: 30,
            least_pages: 4,
            thorough_interval_ms: 300,
        };
        let (_d, store, f) = setup(policy);
        store.write(&LogId::CommitLog, 0, 0, &[1; 100]).unwrap();
        f.note(&split(&LogId::CommitLog, 1 << 20, 0, 100), 100);
        // One page: not flushed at the interval, only at the thorough interval.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(f.durable(), 0);
        f.wait_durable(100, Duration::from_secs(5)).unwrap();
        // Four pages: flushed at the next interval.
        store
            .write(&LogId::CommitLog, 0, 100, &[2; 4 * 4096])
            .unwrap();
        let t = Instant::now();
        f.note(
            &split(&LogId::CommitLog, 1 << 20, 100, 100 + 4 * 4096),
            100 + 4 * 4096,
        );
        f.wait_durable(100 + 4 * 4096, Duration::from_secs(5))
            .unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        f.stop().unwrap();
    }
}
