//! The group-commit wait/notify protocol, apart from what is synced and when.
//!
//! One mutex guards the flusher's state `S`, which carries a [`Registry`] of
//! the writers blocked in [`GroupCommit::wait_durable`]. Around it:
//!
//! * the `work` condition variable wakes the flush thread (new writes, stop),
//!   and only when it sleeps: a writer noting a write while the thread is
//!   busy syncing does not pay a wake-up (it is seen at the thread's next look);
//! * each blocked writer parks on its *own* thread handle, registered with
//!   the end offset it waits for. [`GroupCommit::publish`] moves exactly the
//!   writers whose record the new watermark covers (all of them after a
//!   failure or stop) out of the registry, and the caller unparks them
//!   [after releasing the lock](GroupCommit::unpark): no thundering herd of
//!   every waiter on one condition variable, and the woken writers do not
//!   queue on the mutex, because they read the watermark from an atomic
//!   mirror of it;
//! * the `done` condition variable wakes `flush_now` callers waiting for a
//!   sync in flight (rare: shutdown, segment removal).
//!
//! The rules that make the wait correct (no lost wake-up, no early success):
//! every change that can end a wait — a higher watermark, the error latch,
//! the stop flag — is made under the lock and followed by
//! [`GroupCommit::publish`] in the same critical section, which updates the
//! atomic mirror and takes the covered writers out; a writer tests its
//! [`verdict`] under the same lock before it registers and parks, so a
//! publish either happened before (the verdict sees it) or finds it
//! registered (and unparks it). A parked writer re-checks the mirror on every
//! return from `park` (spurious returns, stale unparks and timeouts included)
//! and re-takes the lock only when it is not covered. The protocol is
//! model-checked with loom (`scripts/loom.sh`): under `cfg(all(loom, test))`
//! the primitives are loom's. Loom has no clock (a timed park there is a plain
//! park that never times out), so the deadline path is covered by the
//! real-time unit tests here and in the parent module.

#[cfg(all(loom, test))]
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(all(loom, test))]
use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(all(loom, test))]
use loom::thread::{Thread, current};
use std::sync::PoisonError;
#[cfg(not(all(loom, test)))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(all(loom, test)))]
use std::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(all(loom, test)))]
use std::thread::{Thread, current};
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
    /// The blocked writers and the flush thread's sleep flag.
    fn registry(&mut self) -> &mut Registry;
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

/// One writer parked until the watermark reaches `end`.
struct Waiter {
    end: u64,
    ticket: u64,
    thread: Thread,
}

/// The part of the flusher's state the protocol itself keeps (behind the
/// same lock): who waits for what, and whether the flush thread sleeps.
#[derive(Default)]
pub(crate) struct Registry {
    /// Parked writers, in no particular order (at most one per writer thread).
    waiters: Vec<Waiter>,
    next_ticket: u64,
    /// The flush thread is (about to be) asleep in [`GroupCommit::wait_work`].
    flusher_idle: bool,
    /// Writers released by a publish that have not noted a new write since
    /// (see [`GroupCommit::arrived`]).
    outstanding: usize,
    /// The flush thread holds back a sync until the outstanding writers
    /// arrive (or its deadline): a note wakes it only when the last does.
    gathering: bool,
    /// Threads in [`GroupCommit::wait_published`].
    published_waiters: usize,
}

impl Registry {
    fn ticket(&mut self) -> u64 {
        self.next_ticket = self.next_ticket.wrapping_add(1);
        self.next_ticket
    }
    fn remove(&mut self, ticket: u64) {
        if let Some(i) = self.waiters.iter().position(|w| w.ticket == ticket) {
            self.waiters.swap_remove(i);
        }
    }
    fn register(&mut self, end: u64, ticket: u64, thread: &Thread) {
        if !self.waiters.iter().any(|w| w.ticket == ticket) {
            self.waiters.push(Waiter {
                end,
                ticket,
                thread: thread.clone(),
            });
        }
    }
    /// Released writers that have not written again since.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding
    }
    /// Gives up on the outstanding writers (a gather timed out: they are
    /// not coming back soon, e.g. they stopped writing).
    pub(crate) fn forget_outstanding(&mut self) {
        self.outstanding = 0;
    }
    /// Sets whether the flush thread, when it sleeps next, waits for the
    /// outstanding writers (see [`GroupCommit::wake_flusher`]).
    pub(crate) fn set_gathering(&mut self, on: bool) {
        self.gathering = on;
    }
    /// Writers blocked right now.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }
}

/// Threads to unpark once the lock is released (see [`GroupCommit::unpark`]).
/// The flush thread keeps one and reuses its capacity.
pub(crate) type Wakes = Vec<Thread>;

/// The flusher's state behind its mutex, the flush thread's condition
/// variable and the watermark's lock-free mirror.
pub(crate) struct GroupCommit<S> {
    st: Mutex<S>,
    work: Condvar,
    done: Condvar,
    /// `S::durable` as of the last publish.
    durable: AtomicU64,
    /// A failure is latched or the flusher stopped: waiters must take the
    /// lock for their verdict even when the mirror covers them.
    ended: AtomicBool,
}

impl<S: Watermark> GroupCommit<S> {
    pub(crate) fn new(st: S) -> Self {
        let durable = AtomicU64::new(st.durable());
        Self {
            st: Mutex::new(st),
            work: Condvar::new(),
            done: Condvar::new(),
            durable,
            ended: AtomicBool::new(false),
        }
    }

    /// Locks the state. A panic while holding the lock (a bug) does not make
    /// every later writer panic too: the state is still consistent, because
    /// each field is updated in one step.
    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        self.st.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a write noted by a writer (call with the lock held, before
    /// [`wake_flusher`](Self::wake_flusher)): one fewer outstanding writer.
    pub(crate) fn arrived(&self, st: &mut S) {
        let r = st.registry();
        r.outstanding = r.outstanding.saturating_sub(1);
    }

    /// Wakes the flush thread if it sleeps (call with the lock held, after
    /// noting writes). A busy thread looks at the state again before it
    /// sleeps, under the same lock, so it needs no signal; a gathering one
    /// only when the last outstanding writer arrived (its own deadline
    /// covers writers that never come back).
    pub(crate) fn wake_flusher(&self, st: &mut S) {
        let r = st.registry();
        if r.flusher_idle && !(r.gathering && r.outstanding > 0) {
            r.flusher_idle = false;
            self.work.notify_one();
        }
    }

    /// Wakes every thread waiting on `work` (stop).
    pub(crate) fn wake_flusher_all(&self) {
        self.work.notify_all();
    }

    /// After a change that may end a wait (watermark, failure, stop, a sync
    /// no longer in flight): updates the mirror and moves the writers it
    /// releases into `wakes`. Call with the lock held, then
    /// [`unpark`](Self::unpark) `wakes` once the lock is released.
    pub(crate) fn publish(&self, st: &mut S, wakes: &mut Wakes) {
        let durable = st.durable();
        let ended = st.failure().is_some() || st.stopped();
        self.durable.store(durable, Ordering::Release);
        if ended {
            self.ended.store(true, Ordering::Release);
        }
        let r = st.registry();
        let mut i = 0;
        let mut released = 0;
        while i < r.waiters.len() {
            if ended || r.waiters[i].end <= durable {
                wakes.push(r.waiters.swap_remove(i).thread);
                released += 1;
            } else {
                i += 1;
            }
        }
        r.outstanding = if ended { 0 } else { r.outstanding + released };
        if r.published_waiters > 0 {
            self.done.notify_all();
        }
    }

    /// Unparks the writers [`publish`](Self::publish) released (call without
    /// the lock: each unpark is a system call, and the writers need not
    /// wait for it).
    pub(crate) fn unpark(wakes: &mut Wakes) {
        for t in wakes.drain(..) {
            t.unpark();
        }
    }

    /// Releases the lock until the next [`publish`](Self::publish) (or a
    /// spurious wake-up: callers re-check their condition).
    pub(crate) fn wait_published<'a>(&self, mut st: MutexGuard<'a, S>) -> MutexGuard<'a, S> {
        st.registry().published_waiters += 1;
        let mut st = self.done.wait(st).unwrap_or_else(PoisonError::into_inner);
        st.registry().published_waiters -= 1;
        st
    }

    /// The flush thread's sleep: until woken for work, or `timeout` (if any)
    /// passes. Callers re-check their state either way.
    pub(crate) fn wait_work<'a>(
        &self,
        mut st: MutexGuard<'a, S>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, S> {
        st.registry().flusher_idle = true;
        let mut st = match timeout {
            Some(d) => {
                self.work
                    .wait_timeout(st, d)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => self.work.wait(st).unwrap_or_else(PoisonError::into_inner),
        };
        st.registry().flusher_idle = false;
        st
    }

    /// The mirror says `end` is durable and nothing ended the flusher.
    fn covered(&self, end: u64) -> bool {
        !self.ended.load(Ordering::Acquire) && self.durable.load(Ordering::Acquire) >= end
    }

    /// Blocks until the watermark covers `end` (`Ok`), a sync failed, the
    /// flusher stopped short of `end`, or `timeout` passed.
    pub(crate) fn wait_durable(&self, end: u64, timeout: Duration) -> Result<(), WaitError> {
        if self.covered(end) {
            return Ok(());
        }
        let start = Instant::now();
        let me = current();
        let mut st = self.lock();
        let ticket = st.registry().ticket();
        loop {
            if let Some(v) = verdict(&*st, end) {
                st.registry().remove(ticket);
                return v;
            }
            let waited = start.elapsed();
            if waited >= timeout {
                st.registry().remove(ticket);
                return Err(WaitError::Timeout {
                    offset: end,
                    waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                });
            }
            // Registered under the lock after a negative verdict: the next
            // publish that covers `end` (or ends the flusher) unparks us.
            st.registry().register(end, ticket, &me);
            drop(st);
            park_for(timeout - waited);
            // The publish that set the mirror took this waiter out of the
            // registry in the same critical section: nothing to clean up.
            if self.covered(end) {
                return Ok(());
            }
            st = self.lock();
        }
    }
}

/// Parks the current thread for at most `d` (or until unparked; spurious
/// returns are possible).
#[cfg(not(all(loom, test)))]
fn park_for(d: Duration) {
    std::thread::park_timeout(d);
}

/// Loom has no clock: a timed park is a park.
#[cfg(all(loom, test))]
fn park_for(_d: Duration) {
    loom::thread::park();
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
        reg: Registry,
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
        fn registry(&mut self) -> &mut Registry {
            &mut self.reg
        }
    }

    /// Spins (sleeping) until `n` writers are registered.
    fn until_waiting(gc: &GroupCommit<St>, n: usize) {
        let t = Instant::now();
        while gc.lock().reg.waiting() != n {
            assert!(t.elapsed() < Duration::from_secs(10), "never {n} waiters");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Publishes a new watermark as the flush thread does.
    fn advance(gc: &GroupCommit<St>, durable: u64) {
        let mut wakes = Wakes::new();
        {
            let mut st = gc.lock();
            st.durable = durable;
            gc.publish(&mut st, &mut wakes);
        }
        GroupCommit::<St>::unpark(&mut wakes);
    }

    #[test]
    fn publish_releases_exactly_the_covered_writers() {
        let gc = GroupCommit::new(St::default());
        std::thread::scope(|s| {
            let ws: Vec<_> = [10u64, 20, 30]
                .into_iter()
                .map(|end| {
                    let gc = &gc;
                    s.spawn(move || gc.wait_durable(end, Duration::from_secs(30)))
                })
                .collect();
            until_waiting(&gc, 3);
            advance(&gc, 20);
            // The writers for 10 and 20 are out of the registry and return;
            // the one for 30 stays parked.
            assert_eq!(gc.lock().reg.waiting(), 1);
            let mut ws = ws.into_iter();
            for w in ws.by_ref().take(2) {
                assert_eq!(w.join().unwrap(), Ok(()));
            }
            assert_eq!(gc.lock().reg.waiting(), 1);
            advance(&gc, 30);
            assert_eq!(ws.next().unwrap().join().unwrap(), Ok(()));
            assert_eq!(gc.lock().reg.waiting(), 0);
        });
        // Covered already: no lock, no registration.
        assert_eq!(gc.wait_durable(30, Duration::ZERO), Ok(()));
    }

    #[test]
    fn a_failure_releases_every_writer_and_every_later_one() {
        let gc = GroupCommit::new(St::default());
        let e = StoreError::new(StoreErrorKind::Io, "EIO");
        std::thread::scope(|s| {
            let ws: Vec<_> = [10u64, 20]
                .into_iter()
                .map(|end| {
                    let gc = &gc;
                    s.spawn(move || gc.wait_durable(end, Duration::from_secs(30)))
                })
                .collect();
            until_waiting(&gc, 2);
            let mut wakes = Wakes::new();
            {
                let mut st = gc.lock();
                st.durable = 10;
                st.error = Some(e.clone());
                gc.publish(&mut st, &mut wakes);
            }
            GroupCommit::<St>::unpark(&mut wakes);
            for w in ws {
                assert_eq!(w.join().unwrap(), Err(WaitError::Failed(e.clone())));
            }
        });
        assert_eq!(
            gc.wait_durable(0, Duration::ZERO),
            Err(WaitError::Failed(e))
        );
    }

    #[test]
    fn a_timed_out_writer_leaves_the_registry() {
        let gc = GroupCommit::new(St::default());
        let r = gc.wait_durable(10, Duration::from_millis(20));
        assert!(
            matches!(r, Err(WaitError::Timeout { offset: 10, .. })),
            "{r:?}"
        );
        assert_eq!(gc.lock().reg.waiting(), 0);
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
        reg: Registry,
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
        fn registry(&mut self) -> &mut Registry {
            &mut self.reg
        }
    }

    fn eio() -> StoreError {
        StoreError::new(StoreErrorKind::Io, "EIO")
    }

    /// The flush thread: `fail_at` = index of the sync that fails (if any).
    fn flusher(gc: &GroupCommit<Model>, fail_at: Option<usize>) {
        let mut st = gc.lock();
        let mut syncs = 0;
        let mut wakes = Wakes::new();
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
                gc.publish(&mut st, &mut wakes);
                drop(st);
                GroupCommit::<Model>::unpark(&mut wakes);
                st = gc.lock();
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
            gc.wake_flusher(&mut st);
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
        let mut wakes = Wakes::new();
        {
            let mut st = gc.lock();
            st.stop = true;
            gc.wake_flusher_all();
            gc.publish(&mut st, &mut wakes);
        }
        GroupCommit::<Model>::unpark(&mut wakes);
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
            reg: Registry::default(),
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
