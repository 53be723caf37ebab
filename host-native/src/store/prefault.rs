//! Pre-faulting ahead of the writer, off the hot path.
//!
//! The first write to each page of a fresh mapping takes a page fault that
//! allocates and zeroes a page-cache page: memcpy into a fresh mapping runs
//! at a fraction of the warm rate (measured here: ~1.0 GB/s against 7.5 GB/s).
//! Every write of the store's single writer that ends within [`WINDOW`] of
//! the populated frontier of its segment asks a background thread to
//! populate the next stretch with `madvise(MADV_POPULATE_WRITE)`, which takes
//! the same faults without touching the bytes: it is safe to run while the
//! writer copies into pages just below, and never changes what they hold.
//!
//! Populating for writing marks the pages dirty (zeros), so the first
//! `fdatasync` after a populated stretch also writes it back. Stores whose
//! writers wait for `fdatasync` ([`Prefault::Read`], set by the embedding
//! API under `SYNC_FLUSH`) populate for reading instead: page-cache pages
//! are allocated and mapped, clean, and the writer's first store to each
//! only takes a cheap write-protect fault. Measured on the async 1 KiB put
//! driver (`examples/put_profile`): ~85,000 writer faults for 300,000 puts
//! without populating, ~16,000 with `Read`, ~600 with `Write`.
//!
//! Off Linux (or on kernels before 5.14, which refuse the advice) nothing is
//! populated and the writer takes its own faults, as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

/// How far ahead of the write position pages are kept populated.
pub(super) const WINDOW: usize = 16 << 20;
/// How much is populated per request (beyond the window).
const STEP: usize = 4 << 20;

/// A mapping the populate thread can work on.
pub(super) trait Mapped: Send + Sync {
    /// Start and length of the mapping (valid while `self` lives).
    fn mapping(&self) -> (*mut u8, usize);
    /// End of what has been asked for so far.
    fn ahead(&self) -> &AtomicUsize;
}

/// How pages ahead of the writer are populated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefault {
    /// Not at all: the writer takes its own page faults.
    Off,
    /// `MADV_POPULATE_READ`: allocated and mapped clean (no extra writeback).
    Read,
    /// `MADV_POPULATE_WRITE`: mapped writable (dirty zeros until overwritten).
    Write,
}

/// A request for the background thread.
enum Job {
    /// Populate `[from, to)` of a mapping (kept alive by the `Arc`), for writing.
    Populate(Arc<dyn Mapped>, usize, usize, bool),
    /// Anything else to do off the writer's path (preparing the next segment).
    Run(Box<dyn FnOnce() + Send>),
}

/// A handle on the populate thread (started on first use; it exits when the
/// handle, and with it the channel, is dropped).
pub(super) struct Prefaulter {
    tx: Mutex<Option<Sender<Job>>>,
    disabled: Arc<AtomicBool>,
    /// `Prefault::Write` (else read; `Off` sets `disabled`).
    write: AtomicBool,
}

impl Prefaulter {
    pub(super) fn new() -> Self {
        Self {
            tx: Mutex::new(None),
            disabled: Arc::new(AtomicBool::new(!cfg!(target_os = "linux"))),
            write: AtomicBool::new(true),
        }
    }

    /// Sets the mode (for pages not yet asked for).
    pub(super) fn set_mode(&self, mode: Prefault) {
        self.write.store(mode == Prefault::Write, Ordering::Relaxed);
        if mode == Prefault::Off || !cfg!(target_os = "linux") {
            self.disabled.store(true, Ordering::Relaxed);
        } else {
            self.disabled.store(false, Ordering::Relaxed);
        }
    }

    /// Called after a write that ended at `end` in mapping `m`: keeps
    /// `[end, end + WINDOW)` populated. One atomic load when nothing is due.
    pub(super) fn after_write<M: Mapped + 'static>(&self, m: &Arc<M>, end: usize) {
        let (_, len) = m.mapping();
        let ahead = m.ahead().load(Ordering::Relaxed);
        if ahead >= len || end + WINDOW <= ahead || self.disabled.load(Ordering::Relaxed) {
            return;
        }
        let from = ahead.max(end);
        let to = (end + WINDOW + STEP).min(len);
        // One writer per store (the core's contract): no race on `ahead`
        // beyond a repeated, harmless populate.
        m.ahead().store(to, Ordering::Relaxed);
        let m: Arc<dyn Mapped> = Arc::clone(m) as Arc<dyn Mapped>;
        self.send(Job::Populate(
            m,
            from,
            to,
            self.write.load(Ordering::Relaxed),
        ));
    }

    /// Runs `f` on the background thread (not at all when populating is off).
    pub(super) fn run_task(&self, f: Box<dyn FnOnce() + Send>) {
        if !self.disabled.load(Ordering::Relaxed) {
            self.send(Job::Run(f));
        }
    }

    /// Whether populating writes (see [`Prefault`]).
    pub(super) fn writes(&self) -> bool {
        self.write.load(Ordering::Relaxed)
    }

    fn send(&self, job: Job) {
        let mut g = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        if g.is_none() {
            let (tx, rx) = mpsc::channel::<Job>();
            let disabled = Arc::clone(&self.disabled);
            let spawned = std::thread::Builder::new()
                .name("rocketlog-prefault".into())
                .spawn(move || run(&rx, &disabled));
            if spawned.is_err() {
                // No thread: the writer takes its own faults, as without this.
                self.disabled.store(true, Ordering::Relaxed);
                return;
            }
            *g = Some(tx);
        }
        if let Some(tx) = g.as_ref()
            && tx.send(job).is_err()
        {
            self.disabled.store(true, Ordering::Relaxed);
        }
    }
}

fn run(rx: &Receiver<Job>, disabled: &AtomicBool) {
    while let Ok(job) = rx.recv() {
        if disabled.load(Ordering::Relaxed) {
            continue;
        }
        match job {
            Job::Populate(m, from, to, write) => {
                let (ptr, len) = m.mapping();
                if !populate(ptr, from, to.min(len), write) {
                    disabled.store(true, Ordering::Relaxed);
                }
            }
            Job::Run(f) => f(),
        }
    }
}

/// Populates the first `n` bytes of mapping `m` now (on the calling thread)
/// and records them as asked for.
pub(super) fn populate_head(m: &dyn Mapped, n: usize, write: bool) {
    let (ptr, len) = m.mapping();
    let to = n.min(len);
    if populate(ptr, 0, to, write) {
        m.ahead().store(to, Ordering::Relaxed);
    }
}

/// Populates `[from, to)` of the mapping at `ptr` (page-aligned inward).
/// False if the kernel refuses the advice.
#[cfg(target_os = "linux")]
fn populate(ptr: *mut u8, from: usize, to: usize, write: bool) -> bool {
    const PAGE: usize = 4096;
    let a = from.div_ceil(PAGE) * PAGE;
    let b = to / PAGE * PAGE;
    if a >= b {
        return true;
    }
    // SAFETY: `[a, b)` lies inside the mapping (`to` is clamped to its
    // length; `a` and `b` are rounded inward), which the job's `Arc` keeps
    // mapped. MADV_POPULATE_WRITE only faults pages in
    // (writable), never changing their contents.
    let advice = if write {
        libc::MADV_POPULATE_WRITE
    } else {
        libc::MADV_POPULATE_READ
    };
    let r = unsafe { libc::madvise(ptr.add(a).cast(), b - a, advice) };
    // EINVAL: a kernel without MADV_POPULATE_WRITE. Anything else (EFAULT
    // past a truncated end, ENOMEM, EINTR) only means this stretch was not
    // populated: the writer faults it in itself.
    !(r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL))
}

#[cfg(not(target_os = "linux"))]
fn populate(_ptr: *mut u8, _from: usize, _to: usize, _write: bool) -> bool {
    false
}
