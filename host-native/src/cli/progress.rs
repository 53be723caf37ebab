//! Progress bars on stderr for long scans (none unless asked for, which the
//! binary does only when stderr is a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Scans shorter than this many bytes get no bar: they finish in a moment.
const MIN_BYTES: u64 = 64 << 20;

/// A byte-position progress bar, or a no-op.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    start: u64,
    last: std::cell::Cell<u64>,
}

impl Progress {
    /// A bar over absolute offsets `start..end` of a log, shown only when
    /// `enabled` and the range is large.
    pub(crate) fn new(enabled: bool, what: &str, start: u64, end: u64) -> Self {
        let total = end.saturating_sub(start);
        let bar = (enabled && total >= MIN_BYTES).then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_message(what.to_owned());
            b
        });
        Self {
            bar,
            start,
            last: std::cell::Cell::new(0),
        }
    }

    /// The scan reached absolute offset `at`.
    pub(crate) fn at(&self, at: u64) {
        if let Some(b) = &self.bar {
            // Updating once per MiB keeps the bar off the per-record path.
            let done = at.saturating_sub(self.start);
            if done.saturating_sub(self.last.get()) >= 1 << 20 {
                self.last.set(done);
                b.set_position(done);
            }
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
