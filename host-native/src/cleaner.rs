//! The clean thread: applies the core's expiry decisions
//! (`rocketlog_core::engine::expiry`) on a timer.
//!
//! The environment inputs the core cannot see are gathered here: segment
//! mtimes, the current time, the local hour (for `deleteWhen`) and disk usage
//! ratios of the real filesystems ([`crate::store::os`]). Deletion happens one
//! segment at a time, each under a short hold of the writer's lock, so a
//! cleaning run never stalls writers for more than one file removal.

use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use rocketlog_core::engine::expiry::CleanDecision;

/// Something that can run one cleaning pass.
pub trait Cleanable: Send + Sync {
    /// Decides and deletes; returns the decision and the number of files deleted.
    fn clean_once(&self) -> Result<(CleanDecision, usize), String>;
}

/// What the last cleaning pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Passes run.
    pub runs: u64,
    /// Files deleted in total.
    pub deleted: u64,
    /// The last decision.
    pub last: Option<CleanDecision>,
    /// The last error, if the last pass failed.
    pub last_error: Option<String>,
}

struct Shared {
    stop: Mutex<bool>,
    cv: Condvar,
    stats: Mutex<CleanStats>,
}

/// The clean thread. Stops (and joins) when dropped.
pub struct Cleaner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Cleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cleaner")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Cleaner {
    /// Runs `target.clean_once()` every `interval` (first run after
    /// `first_delay`) until dropped or the target is gone.
    pub fn start(
        target: Weak<dyn Cleanable>,
        first_delay: Duration,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            cv: Condvar::new(),
            stats: Mutex::new(CleanStats::default()),
        });
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("rocketlog-clean".into())
            .spawn(move || {
                let mut delay = first_delay;
                loop {
                    {
                        let stop = sh.stop.lock().unwrap_or_else(PoisonError::into_inner);
                        let (stop, _) = sh
                            .cv
                            .wait_timeout_while(stop, delay, |s| !*s)
                            .unwrap_or_else(PoisonError::into_inner);
                        if *stop {
                            return;
                        }
                    }
                    delay = interval;
                    let Some(t) = target.upgrade() else { return };
                    let r = t.clean_once();
                    drop(t);
                    let mut s = sh.stats.lock().unwrap_or_else(PoisonError::into_inner);
                    s.runs += 1;
                    match r {
                        Ok((d, n)) => {
                            s.deleted += n as u64;
                            s.last = Some(d);
                            s.last_error = None;
                        }
                        Err(e) => s.last_error = Some(e),
                    }
                }
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Counters.
    pub fn stats(&self) -> CleanStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops and joins the thread.
    pub fn stop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            // A panicking clean pass is a bug already printed by the panic hook.
            let _ = t.join();
        }
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        self.stop();
    }
}
