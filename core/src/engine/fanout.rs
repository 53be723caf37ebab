//! Independent jobs on more than one core, when the host has them.
//!
//! The core has no threads; checking a commitlog is per-byte work (CRC of
//! every body) that one core cannot do at the machine's speed. A host that
//! can run threads implements [`Fanout`] and passes it to the engine's open
//! ([`super::commitlog::CommitLog::open_with`]); the engine splits work into
//! jobs whose results it joins in log order, so the outcome is exactly the
//! sequential one whatever order or threads the jobs ran on.

/// Runs independent jobs, possibly at the same time on several threads.
pub trait Fanout {
    /// How many jobs run at once: work is split for about this many (at
    /// least 1; 1 means one after the other).
    fn width(&self) -> usize;

    /// Runs every job exactly once and returns when all have returned. Jobs
    /// may run in any order, on any thread, at the same time.
    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]);
}

/// One job after the other on the calling thread: memory stores, wasm.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sequential;

impl Fanout for Sequential {
    fn width(&self) -> usize {
        1
    }

    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        for job in jobs.iter_mut() {
            job();
        }
    }
}

/// One job after the other on the calling thread, last first: a joined
/// result must not depend on the order the jobs ran in, and this is the order
/// least like [`Sequential`]'s (for tests of that). `width` is what the
/// engine is told, so it splits work as for that many threads.
#[derive(Debug, Clone, Copy)]
pub struct Reversed(pub usize);

impl Fanout for Reversed {
    fn width(&self) -> usize {
        self.0.max(1)
    }

    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        for j in jobs.iter_mut().rev() {
            j();
        }
    }
}
