//! The CommitLog walk with the record checks spread over threads.
//!
//! [`rocketmq::walk`] decodes and checks every record (body CRC and, for
//! `verify`, the `__CRC32#` property and the stored offset) on one thread.
//! Here each segment is cut into fixed-size stretches; worker threads decode
//! and check them with the core's [`rocketmq::check_stretch_items`], each
//! starting at the first likely record start of its stretch
//! ([`rocketmq::record_candidate`]), and return the stretch's problems and
//! decoded records (views into the segment's mapping, which the calling
//! thread holds). The calling thread merges the stretches in log order,
//! accepting a stretch only if it started exactly where the previous one
//! ended (else it decodes and checks that stretch itself), and hands the
//! records to the visitor. Records, counts and problems are the ones
//! [`rocketmq::walk`] gives, in the same order.

use std::collections::BTreeMap;
use std::num::NonZero;
use std::ops::ControlFlow;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rocketlog_core::scan::Problem;
use rocketlog_core::scan::rocketmq::{self, Item, StretchEnd, Summary, WalkOptions, WalkReport};
use rocketlog_core::store::{LogId, PageRead, StoreError};

use crate::mmap::MmapStore;

/// Threads never exceed this, whatever the machine reports.
const MAX_THREADS: usize = 8;

/// Bytes per checked stretch: small enough that a stretch is still cached
/// when the calling thread visits it (measured: 256 KiB beat 64 KiB and 1 MiB).
const STRETCH: usize = 256 << 10;

/// Stretches per checking thread that the checks may run ahead of the visits.
const WINDOW: usize = 2;

/// Overrides the number of checking threads.
pub const THREADS_VAR: &str = "ROCKETLOG_SCAN_THREADS";

/// How a parallel walk splits its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Checking threads (besides the calling thread, which frames and visits).
    /// Below 2 the walk is [`rocketmq::walk`] itself.
    pub threads: usize,
    /// Bytes of records per checked stretch (cut at the next record boundary).
    pub stretch: usize,
}

impl Parallelism {
    /// One checking thread per core (`available_parallelism`, at most 8),
    /// 256 KiB stretches. The environment variable `ROCKETLOG_SCAN_THREADS`
    /// overrides the thread count (1: the sequential walk), e.g. on a shared
    /// machine or to compare.
    pub fn host() -> Self {
        let n = std::env::var(THREADS_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZero::get));
        Self {
            threads: n.clamp(1, MAX_THREADS),
            stretch: STRETCH,
        }
    }
}

/// A checked stretch: where it started (`None`: no likely record start in
/// it), its problems, its records and where it ended.
type Checked<'a> = Option<(usize, Vec<Problem>, Vec<Item<'a>>, StretchEnd)>;

/// What the threads checking one segment share.
struct State<'a> {
    /// Next stretch to hand out.
    next: usize,
    /// Stretches merged by the calling thread (workers stay within a window of it).
    merged: usize,
    /// Results not merged yet, by stretch number.
    done: BTreeMap<usize, Checked<'a>>,
    /// The segment's walk is over: workers leave.
    cancel: bool,
}

struct Shared<'a> {
    seg: u64,
    buf: &'a [u8],
    opts: WalkOptions,
    stretch: usize,
    /// Stretches in the segment.
    count: usize,
    /// Stretches a worker may run ahead of the merge.
    window: usize,
    state: Mutex<State<'a>>,
    changed: Condvar,
}

impl<'a> Shared<'a> {
    fn lock(&self) -> MutexGuard<'_, State<'a>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'g>(&self, g: MutexGuard<'g, State<'a>>) -> MutexGuard<'g, State<'a>> {
        self.changed.wait(g).unwrap_or_else(PoisonError::into_inner)
    }

    fn cancel(&self) {
        self.lock().cancel = true;
        self.changed.notify_all();
    }

    /// Stretch `n` as `[from, to)`.
    fn bounds(&self, n: usize) -> (usize, usize) {
        let from = n.saturating_mul(self.stretch);
        (from, from.saturating_add(self.stretch).min(self.buf.len()))
    }

    /// The result of stretch `n`, waiting for it.
    fn take(&self, n: usize) -> Checked<'a> {
        let mut g = self.lock();
        loop {
            if let Some(r) = g.done.remove(&n) {
                g.merged = n + 1;
                drop(g);
                self.changed.notify_all();
                return r;
            }
            g = self.wait(g);
        }
    }
}

/// [`rocketmq::walk`] over `store`, the records decoded and checked by
/// `par.threads` threads: same items in the same order to `visit` (on the
/// calling thread), same counts, same problems in the same order.
pub fn walk(
    store: &MmapStore,
    summary: &Summary,
    opts: WalkOptions,
    par: Parallelism,
    mut visit: impl FnMut(Item<'_>) -> ControlFlow<()>,
) -> Result<WalkReport, StoreError> {
    if par.threads < 2 {
        return rocketmq::walk(store, summary, opts, visit);
    }
    let mut report = WalkReport::default();
    for f in &summary.files {
        if f.id >= summary.end {
            break;
        }
        let len = f.len.min(summary.end - f.id);
        let stopped = store.with_view(&LogId::CommitLog, f.id, 0, len, |buf| {
            let shared = Shared {
                seg: f.id,
                buf,
                opts,
                stretch: par.stretch.max(1),
                count: buf.len().div_ceil(par.stretch.max(1)),
                window: WINDOW * par.threads,
                state: Mutex::new(State {
                    next: 0,
                    merged: 0,
                    done: BTreeMap::new(),
                    cancel: false,
                }),
                changed: Condvar::new(),
            };
            std::thread::scope(|s| {
                for _ in 0..par.threads.min(shared.count) {
                    let shared = &shared;
                    s.spawn(move || check_stretches(shared));
                }
                let stopped = merge_and_visit(&shared, &mut report, &mut visit);
                shared.cancel();
                stopped
            })
        })?;
        if stopped {
            report.stopped_by_visitor = true;
            break;
        }
    }
    Ok(report)
}

/// A worker: checks stretches in order until none is left or the walk is over.
fn check_stretches(shared: &Shared<'_>) {
    loop {
        let n = {
            let mut g = shared.lock();
            loop {
                if g.cancel || g.next >= shared.count {
                    return;
                }
                if g.next < g.merged + shared.window {
                    break;
                }
                g = shared.wait(g);
            }
            g.next += 1;
            g.next - 1
        };
        let (from, to) = shared.bounds(n);
        let (seg, buf) = (shared.seg, shared.buf);
        // A segment's first stretch starts at its first byte; the others at
        // their first likely record start.
        let start = if n == 0 {
            Some(0)
        } else {
            rocketmq::record_candidate(seg, buf, from, to)
        };
        let r = start.map(|p| {
            let (mut problems, mut items) = (Vec::new(), Vec::new());
            let end =
                rocketmq::check_stretch_items(seg, buf, p, to, shared.opts, &mut problems, |it| {
                    items.push(it)
                });
            (p, problems, items, end)
        });
        shared.lock().done.insert(n, r);
        shared.changed.notify_all();
    }
}

/// The calling thread's part for one segment: merges the stretches in order
/// and visits their records; true if the visitor stopped.
fn merge_and_visit(
    shared: &Shared<'_>,
    report: &mut WalkReport,
    visit: &mut impl FnMut(Item<'_>) -> ControlFlow<()>,
) -> bool {
    let first = report.problems.len();
    // Problems are known for the records starting below `covered`.
    let mut covered = 0usize;
    for n in 0..shared.count {
        let (_, to) = shared.bounds(n);
        let checked = shared.take(n);
        if covered >= to {
            // A record longer than the stretch covered it already.
            continue;
        }
        let (items, end) = match checked {
            Some((start, mut found, items, end)) if start == covered => {
                report.problems.append(&mut found);
                (items, end)
            }
            // The guessed start was not a record boundary (or none was
            // found): check from where the previous stretch ended.
            _ => {
                let mut items = Vec::new();
                let end = rocketmq::check_stretch_items(
                    shared.seg,
                    shared.buf,
                    covered,
                    to,
                    shared.opts,
                    &mut report.problems,
                    |it| items.push(it),
                );
                (items, end)
            }
        };
        covered = end.next;
        for it in items {
            let at = match it {
                Item::Message { offset, .. } => {
                    report.messages += 1;
                    offset
                }
                Item::Blank { offset, .. } => {
                    report.blanks += 1;
                    offset
                }
            };
            if visit(it).is_break() {
                // Problems of records past the one the visitor stopped at are
                // not reported (the sequential walk never reaches them).
                let keep = report.problems[first..]
                    .iter()
                    .take_while(|p| p.offset <= at)
                    .count();
                report.problems.truncate(first + keep);
                return true;
            }
        }
        if end.end_of_records {
            break;
        }
    }
    false
}
