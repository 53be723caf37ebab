//! The group-commit wait/notify protocol, apart from what is synced and when.
//!
//! One mutex guards the flusher's state `S`; two condition variables hang off
//! it:
//!
//! * `work` wakes the flush thread (new writes, stop);
//! * `done` wakes writers blocked in [`GroupCommit::wait_durable`] (the
//!   durable watermark moved, a sync failed, the flusher stopped) and
//!   `flush_now` callers waiting for a sync in flight.
//!
//! The rules that make the wait correct (no lost wake-up, no early success):
//! every change that can end a wait — a higher watermark, the error latch,
//! the stop flag — is made under the lock and followed by [`GroupCommit::publish`]
//! before the lock is released; a writer tests its [`verdict`] under the same
//! lock before every wait. The protocol is model-checked with loom
//! (`scripts/loom.sh`): under `cfg(all(loom, test))` the primitives are
//! loom's. Loom has no clock (its timed wait never times out), so the
//! deadline path is covered by the real-time unit tests in the parent module.

#[cfg(all(loom, test))]
use loom::sync::{Condvar, Mutex, MutexGuard};
use std::sync::PoisonError;
#[cfg(not(all(loom, test)))]
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rocketlog_core::store::StoreError;

use super::WaitError;

/// What a durability wait looks at in the flusher's state.
pub(crate) trait Watermark {
    /// Every byte of the primary log below this offset is on disk.
    fn durable(&self) -> u64;
    /// The latched sync failure, if any (never cleared).
    fn failure(&self) -> Option<&StoreError>;
    /// The flusher stopped with nothing left to sync: the watermark will
    /// never move again.
    fn stopped(&self) -> bool;
}

/// How a wait for `end` ends given the state, or `None` to keep waiting.
/// A latched failure wins over a watermark that already covers `end`: after
/// a failure every waiter, present and future, gets the error.
pub(crate) fn verdict<S: Watermark>(st: &S, end: u64) -> Option<Result<(), WaitError>> {
    if let Some(e) = st.failure() {
        return Some(Err(WaitError::Failed(e.clone())));
    }
    if st.durable() >= end {
        return Some(Ok(()));
    }
    if st.stopped() {
        return Some(Err(WaitError::Stopped));
    }
    None
}

/// The flusher's state behind its mutex, with the two condition variables.
pub(crate) struct GroupCommit<S> {
    st: Mutex<S>,
    work: Condvar,
    done: Condvar,
}

impl<S: Watermark> GroupCommit<S> {
    pub(crate) fn new(st: S) -> Self {
        Self {
            st: Mutex::new(st),
            work: Condvar::new(),
            done: Condvar::new(),
        }
    }

    /// Locks the state. A panic while holding the lock (a bug) does not make
    /// every later writer panic too: the state is still consistent, because
    /// each field is updated in one step.
    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        self.st.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the flush thread (call with the lock held, after noting writes).
    pub(crate) fn wake_flusher(&self) {
        self.work.notify_one();
    }

    /// Wakes every thread waiting on `work` (stop).
    pub(crate) fn wake_flusher_all(&self) {
        self.work.notify_all();
    }

    /// Wakes every waiter after a change that may end a wait (watermark,
    /// failure, stop, a sync no longer in flight). Call with the lock held.
    pub(crate) fn publish(&self) {
        self.done.notify_all();
    }

    /// Releases the lock until the next [`publish`](Self::publish) (or a
    /// spurious wake-up: callers re-check their condition).
    pub(crate) fn wait_published<'a>(&self, st: MutexGuard<'a, S>) -> MutexGuard<'a, S> {
        self.done.wait(st).unwrap_or_else(PoisonError::into_inner)
    }

    /// The flush thread's sleep: until woken for work, or `timeout` (if any)
    /// passes. Callers re-check their state either way.
    pub(crate) fn wait_work<'a>(
        &self,
        st: MutexGuard<'a, S>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, S> {
        match timeout {
            Some(d) => {
                self.work
                    .wait_timeout(st, d)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => self.work.wait(st).unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Blocks until the watermark covers `end` (`Ok`), a sync failed, the
    /// flusher stopped short of `end`, or `timeout` passed.
    pub(crate) fn wait_durable(&self, end: u64, timeout: Duration) -> Result<(), WaitError> {
        let start = Instant::now();
        let mut st = self.lock();
        loop {
            if let Some(v) = verdict(&*st, end) {
                return v;
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(WaitError::Timeout {
                    offset: end,
                    waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                });
            }
            st = self
                .done
                .wait_timeout(st, timeout - waited)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use rocketlog_core::store::StoreErrorKind;

    #[derive(Default)]
    struct St {
        durable: u64,
        error: Option<StoreError>,
        stop: bool,
    }
    impl Watermark for St {
        fn durable(&self) -> u64 {
            self.durable
        }
        fn failure(&self) -> Option<&StoreError> {
            self.error.as_ref()
        }
        fn stopped(&self) -> bool {
            self.stop
        }
    }

    #[test]
    fn verdict_prefers_the_failure_then_the_watermark_then_stop() {
        let mut st = St::default();
        assert_eq!(verdict(&st, 0), Some(Ok(())));
        assert_eq!(verdict(&st, 1), None);
        st.stop = true;
        assert_eq!(verdict(&st, 1), Some(Err(WaitError::Stopped)));
        st.durable = 5;
        assert_eq!(verdict(&st, 5), Some(Ok(())));
        let e = StoreError::new(StoreErrorKind::Io, "EIO");
        st.error = Some(e.clone());
        assert_eq!(verdict(&st, 1), Some(Err(WaitError::Failed(e))));
    }

    #[test]
    fn wait_durable_times_out_without_a_publisher() {
        let gc = GroupCommit::new(St::default());
        let t = Instant::now();
        let r = gc.wait_durable(10, Duration::from_millis(30));
        assert!(
            matches!(r, Err(WaitError::Timeout { offset: 10, waited_ms }) if waited_ms >= 30),
            "{r:?}"
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
    }
}

/// Loom model of the protocol: a flush thread shaped like the real one
/// (sleep on `work` until there is something unsynced, sync with the lock
/// released, publish the new watermark or latch the error) and writers that
/// note a write, wake it, and wait for their own end offset.
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use rocketlog_core::store::StoreErrorKind;

    /// A real wait never hits its deadline in these models.
    const FOREVER: Duration = Duration::from_secs(3600);

    struct Model {
        written: u64,
        durable: u64,
        error: Option<StoreError>,
        stop: bool,
    }
    impl Watermark for Model {
        fn durable(&self) -> u64 {
            self.durable
        }
        fn failure(&self) -> Option<&StoreError> {
            self.error.as_ref()
        }
        fn stopped(&self) -> bool {
            self.stop && self.durable >= self.written
        }
    }

    fn eio() -> StoreError {
        StoreError::new(StoreErrorKind::Io, "EIO")
    }

    /// The flush thread: `fail_at` = index of the sync that fails (if any).
    fn flusher(gc: &GroupCommit<Model>, fail_at: Option<usize>) {
        let mut st = gc.lock();
        let mut syncs = 0;
        loop {
            if st.error.is_some() || (st.stop && st.durable >= st.written) {
                return;
            }
            if st.durable < st.written {
                // Plan: everything written so far; sync with the lock released.
                let target = st.written;
                drop(st);
                st = gc.lock();
                if fail_at == Some(syncs) {
                    st.error.get_or_insert_with(eio);
                } else {
                    st.durable = st.durable.max(target);
                }
                syncs += 1;
                gc.publish();
                continue;
            }
            st = gc.wait_work(st, None);
        }
    }

    /// A writer: note the write that ends at `end`, wake the flusher, wait.
    fn writer(gc: &GroupCommit<Model>, end: u64) -> Result<(), WaitError> {
        {
            let mut st = gc.lock();
            st.written = st.written.max(end);
            gc.wake_flusher();
        }
        let r = gc.wait_durable(end, FOREVER);
        let st = gc.lock();
        match &r {
            // Ok only if the published watermark covers the record (it never
            // goes down, so checking it now is checking it at the verdict).
            Ok(()) => assert!(st.durable >= end, "Ok for {end} at {}", st.durable),
            Err(WaitError::Failed(e)) => {
                assert_eq!(e, &eio());
                assert!(st.error.is_some());
            }
            Err(other) => panic!("writer for {end}: unexpected {other:?}"),
        }
        r
    }

    fn stop(gc: &GroupCommit<Model>) {
        let mut st = gc.lock();
        st.stop = true;
        gc.wake_flusher_all();
        gc.publish();
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(2);
        }
        b.check(f);
    }

    fn new_gc() -> Arc<GroupCommit<Model>> {
        Arc::new(GroupCommit::new(Model {
            written: 0,
            durable: 0,
            error: None,
            stop: false,
        }))
    }

    /// Three writers with different targets share syncs; the flusher
    /// publishes the watermark in as many steps as the interleaving gives.
    /// Every writer returns Ok (a lost wake-up would be a loom deadlock).
    #[test]
    fn group_commit_every_writer_wakes_once_covered() {
        model(|| {
            let gc = new_gc();
            let f = {
                let gc = Arc::clone(&gc);
                thread::spawn(move || flusher(&gc, None))
            };
            let ws: Vec<_> = [10, 20, 30]
                .into_iter()
                .map(|end| {
                    let gc = Arc::clone(&gc);
                    thread::spawn(move || writer(&gc, end))
                })
                .collect();
            for w in ws {
                assert_eq!(w.join().unwrap(), Ok(()));
            }
            stop(&gc);
            f.join().unwrap();
            assert_eq!(gc.lock().durable, 30);
        });
    }

    /// The first or second sync fails: every writer returns, a writer past
    /// the last published watermark gets the error, and so does every later
    /// waiter (the failure is latched), even for an offset already durable.
    #[test]
    fn group_commit_a_failed_sync_reaches_every_waiter() {
        for fail_at in [0, 1] {
            model(move || {
                let gc = new_gc();
                let f = {
                    let gc = Arc::clone(&gc);
                    thread::spawn(move || flusher(&gc, Some(fail_at)))
                };
                let ws: Vec<_> = [10, 20, 30]
                    .into_iter()
                    .map(|end| {
                        let gc = Arc::clone(&gc);
                        (end, thread::spawn(move || writer(&gc, end)))
                    })
                    .collect();
                let rs: Vec<_> = ws
                    .into_iter()
                    .map(|(e, w)| (e, w.join().unwrap()))
                    .collect();
                // With `fail_at == 1` one sync may have covered both writers:
                // then there is no second sync and nothing fails.
                let (failed, durable) = {
                    let st = gc.lock();
                    (st.error.is_some(), st.durable)
                };
                assert!(failed || fail_at > 0, "the first sync always fails");
                for (end, r) in rs {
                    if !failed {
                        assert_eq!(r, Ok(()), "writer for {end}");
                    } else if end > durable {
                        assert_eq!(r, Err(WaitError::Failed(eio())), "writer for {end}");
                    }
                }
                if failed {
                    assert_eq!(gc.wait_durable(0, FOREVER), Err(WaitError::Failed(eio())));
                }
                stop(&gc);
                f.join().unwrap();
            });
        }
    }

    /// A waiter for bytes that are never written is released by stop.
    #[test]
    fn group_commit_stop_releases_a_waiter_for_unwritten_bytes() {
        model(|| {
            let gc = new_gc();
            let f = {
                let gc = Arc::clone(&gc);
                thread::spawn(move || flusher(&gc, None))
            };
            let w = {
                let gc = Arc::clone(&gc);
                thread::spawn(move || writer(&gc, 10))
            };
            let stray = {
                let gc = Arc::clone(&gc);
                thread::spawn(move || gc.wait_durable(50, FOREVER))
            };
            assert_eq!(w.join().unwrap(), Ok(()));
            stop(&gc);
            assert_eq!(stray.join().unwrap(), Err(WaitError::Stopped));
            f.join().unwrap();
        });
    }
}
