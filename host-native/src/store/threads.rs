//! [`Threads`]: the core's [`Fanout`] on scoped OS threads.

use std::num::NonZero;
use std::sync::{Mutex, PoisonError};

use rocketlog_core::engine::fanout::Fanout;

/// Threads never exceed this, whatever the machine reports.
const MAX_THREADS: usize = 8;

/// Runs the core's jobs on up to `n` threads (the calling one included),
/// started for each [`Fanout::run`] and joined before it returns.
#[derive(Debug, Clone, Copy)]
pub struct Threads {
    n: usize,
}

impl Threads {
    /// One thread per core (`available_parallelism`, at most 8); the
    /// environment variable `ROCKETLOG_SCAN_THREADS` overrides the count, as
    /// for the parallel walk (1: everything on the calling thread).
    pub fn host() -> Self {
        let n = std::env::var(crate::walk::parallel::THREADS_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZero::get));
        Self::new(n)
    }

    /// `n` threads (1: every job on the calling thread; at most 8).
    pub fn new(n: usize) -> Self {
        Self {
            n: n.clamp(1, MAX_THREADS),
        }
    }
}

impl Fanout for Threads {
    fn width(&self) -> usize {
        self.n
    }

    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        let helpers = self.n.min(jobs.len()).saturating_sub(1);
        // Each thread takes the next job not yet taken.
        let next = Mutex::new(jobs.iter_mut());
        let work = || {
            loop {
                let job = next.lock().unwrap_or_else(PoisonError::into_inner).next();
                match job {
                    Some(job) => job(),
                    None => break,
                }
            }
        };
        std::thread::scope(|s| {
            for _ in 0..helpers {
                // A thread that cannot be started leaves its share to the others.
                let _ = std::thread::Builder::new()
                    .name("rocketlog-fanout".into())
                    .spawn_scoped(s, work);
            }
            work();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn every_job_runs_once_and_they_run_at_the_same_time() {
        let t = Threads::new(3);
        assert_eq!(t.width(), 3);
        // Three jobs that each wait for the other two: only finishes if they
        // run at the same time.
        let barrier = Arc::new(Barrier::new(3));
        let runs: Vec<AtomicUsize> = (0..40).map(|_| AtomicUsize::new(0)).collect();
        let mut jobs: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let b = Arc::clone(&barrier);
                move || {
                    if i < 3 {
                        b.wait();
                    }
                    r.fetch_add(1, Ordering::Relaxed);
                }
            })
            .collect();
        let mut refs: Vec<&mut (dyn FnMut() + Send)> = jobs
            .iter_mut()
            .map(|j| j as &mut (dyn FnMut() + Send))
            .collect();
        t.run(&mut refs);
        assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
        assert_eq!(Threads::new(0).width(), 1);
        assert_eq!(Threads::new(99).width(), MAX_THREADS);
    }
}
