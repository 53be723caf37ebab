//! Which head segments expire: pure functions, for both formats.
//!
//! The host supplies everything the reference reads from the environment:
//! segment mtimes (ms), the current time, the local hour of day, and disk
//! usage ratios (`ceil(100*used/(used+usable))/100`, or a negative value when
//! unknown, exactly as the Java helpers return them). The answer is a number
//! of head segments to delete, oldest first; the engines do the deleting.
//!
//! Shared rules (`deleteExpiredFileByTime` in both references): walk the
//! segments oldest to newest, never the last one; a segment qualifies when
//! `now >= mtime + reserved` or when cleaning immediately; stop at the first
//! one that does not qualify (no holes); at most a batch (10) per run.

use crate::store::SegmentId;

/// A segment and its modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentAge {
    /// Segment start.
    pub id: SegmentId,
    /// Last modification time (ms since the epoch).
    pub mtime_ms: u64,
}

/// At most this many segments per run (`deleteFileBatchMax`, `DELETE_FILES_BATCH_MAX`).
pub const DELETE_BATCH_MAX: usize = 10;

const HOUR_MS: u64 = 3_600_000;

/// `isItTimeToDo(deleteWhen)`: whether `local_hour` is one of the
/// `;`-separated hours. As in Java, an entry that is not an integer ends the
/// check with `false` (Java throws there, which aborts the cleaning run),
/// and hours are compared numerically (`"4"` and `"04"` both match 4).
pub fn is_time_to_delete(delete_when: &str, local_hour: u32) -> bool {
    // Java's String.split drops trailing empty strings.
    let trimmed = delete_when.trim_end_matches(';');
    let items = if trimmed.is_empty() && !delete_when.is_empty() {
        ""
    } else {
        trimmed
    };
    for w in items.split(';') {
        match parse_java_int(w) {
            Some(h) if i64::from(local_hour) == h => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// `Integer.parseInt`: optional sign, ASCII digits, no spaces, i32 range.
fn parse_java_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = s.parse().ok()?;
    i32::try_from(v).ok().map(i64::from)
}

/// How many head segments to delete: the shared walk described in the module docs.
pub fn select_expired(
    segs: &[SegmentAge],
    now_ms: u64,
    reserved_ms: u64,
    clean_immediately: bool,
    batch_max: usize,
) -> usize {
    let candidates = segs.len().saturating_sub(1);
    segs[..candidates]
        .iter()
        .take(batch_max)
        .take_while(|s| clean_immediately || now_ms >= s.mtime_ms.saturating_add(reserved_ms))
        .count()
}

/// What a cleaning run decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanDecision {
    /// Head segments to delete now.
    pub delete: usize,
    /// Usage is above the "disk full" level: appends must be refused.
    pub disk_full: bool,
    /// Deleting regardless of age (if force cleaning is enabled).
    pub clean_immediately: bool,
    /// The local hour is a `deleteWhen` hour.
    pub time_up: bool,
    /// Usage is above the expiry-check level.
    pub space_low: bool,
}

/// RocketMQ commitlog cleaning settings (`MessageStoreConfig`, spec §8.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocketMqClean {
    /// `fileReservedTime` in hours (72).
    pub file_reserved_hours: u64,
    /// `diskMaxUsedSpaceRatio` in percent (75), clamped to [10, 95].
    pub disk_max_used_space_ratio: i32,
    /// `diskSpaceCleanForciblyRatio` (0.85), clamped to [0.30, 0.85].
    pub disk_space_clean_forcibly_ratio: f64,
    /// `diskSpaceWarningLevelRatio` (0.90), clamped to [0.35, 0.90].
    pub disk_space_warning_level_ratio: f64,
    /// `cleanFileForciblyEnable` (true).
    pub clean_file_forcibly_enable: bool,
    /// `deleteFileBatchMax` (10).
    pub delete_file_batch_max: usize,
}

impl Default for RocketMqClean {
    fn default() -> Self {
        Self {
            file_reserved_hours: 72,
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 0.85,
            disk_space_warning_level_ratio: 0.90,
            clean_file_forcibly_enable: true,
            delete_file_batch_max: DELETE_BATCH_MAX,
        }
    }
}

impl RocketMqClean {
    /// The effective expiry-check ratio (percent clamped to [10, 95], as a fraction).
    pub fn max_used_ratio(&self) -> f64 {
        f64::from(self.disk_max_used_space_ratio.clamp(10, 95)) / 100.0
    }
    /// The effective clean-forcibly ratio.
    pub fn clean_forcibly_ratio(&self) -> f64 {
        self.disk_space_clean_forcibly_ratio.clamp(0.30, 0.85)
    }
    /// The effective warning (disk full) ratio.
    pub fn warning_ratio(&self) -> f64 {
        self.disk_space_warning_level_ratio.clamp(0.35, 0.90)
    }
}

/// Inputs of one cleaning run that come from the environment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanInputs<'a> {
    /// Current time (ms).
    pub now_ms: u64,
    /// Local hour of day (0..=23).
    pub local_hour: u32,
    /// `deleteWhen`, e.g. `"04"` or `"04;16"`.
    pub delete_when: &'a str,
}

/// RocketMQ `CleanCommitLogService.deleteExpiredFiles` for the commitlog.
///
/// `commitlog_ratio` is the minimum usage over the commitlog paths,
/// `consume_queue_ratio` that of the consume queue path (`None` to skip it);
/// `manual` is a pending manual delete request.
pub fn rocketmq_commitlog(
    segs: &[SegmentAge],
    inp: &CleanInputs<'_>,
    commitlog_ratio: f64,
    consume_queue_ratio: Option<f64>,
    manual: bool,
    cfg: &RocketMqClean,
) -> CleanDecision {
    let mut d = CleanDecision {
        time_up: is_time_to_delete(inp.delete_when, inp.local_hour),
        ..CleanDecision::default()
    };
    // isSpaceToDelete: the commitlog check returns early when it already says yes.
    let ratio = cfg.max_used_ratio();
    let check = |r: f64, d: &mut CleanDecision| {
        if r > cfg.warning_ratio() {
            d.disk_full = true;
            d.clean_immediately = true;
        } else if r > cfg.clean_forcibly_ratio() {
            d.clean_immediately = true;
        }
        r < 0.0 || r > ratio
    };
    d.space_low =
        check(commitlog_ratio, &mut d) || consume_queue_ratio.is_some_and(|r| check(r, &mut d));
    if d.time_up || d.space_low || manual {
        let at_once = cfg.clean_file_forcibly_enable && d.clean_immediately;
        d.delete = select_expired(
            segs,
            inp.now_ms,
            cfg.file_reserved_hours.saturating_mul(HOUR_MS),
            at_once,
            cfg.delete_file_batch_max,
        );
    }
    d
}

/// DLedger cleaning settings (`DLedgerConfig`, spec §4 and §7.2). The ratios
/// are Java `float`s: they are compared after widening, as Java does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DLedgerClean {
    /// `fileReservedHours` (72; values under 1 count as 1).
    pub file_reserved_hours: i64,
    /// `diskSpaceRatioToCheckExpired` (0.70).
    pub check_expired_ratio: f32,
    /// `diskSpaceRatioToForceClean` (0.85; values under 0.50 count as 0.50).
    pub force_clean_ratio: f32,
    /// `enableDiskForceClean` (true).
    pub enable_force_clean: bool,
}

impl Default for DLedgerClean {
    fn default() -> Self {
        Self {
            file_reserved_hours: 72,
            check_expired_ratio: 0.70,
            force_clean_ratio: 0.85,
            enable_force_clean: true,
        }
    }
}

impl DLedgerClean {
    /// `getDiskSpaceRatioToForceClean()`: raised to at least 0.50.
    pub fn effective_force_clean_ratio(&self) -> f32 {
        if self.force_clean_ratio < 0.50 {
            0.50
        } else {
            self.force_clean_ratio
        }
    }
    /// `getDiskFullRatio()`: force-clean ratio + 0.05, computed in `f32`, capped at 0.95.
    pub fn disk_full_ratio(&self) -> f32 {
        let r = self.effective_force_clean_ratio() + 0.05f32;
        if r > 0.95f32 { 0.95f32 } else { r }
    }
    /// Reserved time in ms (at least one hour).
    pub fn reserved_ms(&self) -> u64 {
        u64::try_from(self.file_reserved_hours.max(1))
            .unwrap_or(1)
            .saturating_mul(HOUR_MS)
    }
}

/// DLedger `CleanSpaceService` for the data files. `store_base_ratio` is the
/// usage of `storeBaseDir`, `data_ratio` the minimum over the data paths.
pub fn dledger(
    segs: &[SegmentAge],
    inp: &CleanInputs<'_>,
    store_base_ratio: f64,
    data_ratio: f64,
    cfg: &DLedgerClean,
) -> CleanDecision {
    let above = |t: f32| store_base_ratio > f64::from(t) || data_ratio > f64::from(t);
    let mut d = CleanDecision {
        disk_full: above(cfg.disk_full_ratio()),
        time_up: is_time_to_delete(inp.delete_when, inp.local_hour),
        space_low: above(cfg.check_expired_ratio),
        clean_immediately: above(cfg.effective_force_clean_ratio()),
        delete: 0,
    };
    if d.time_up || d.space_low {
        d.delete = select_expired(
            segs,
            inp.now_ms,
            cfg.reserved_ms(),
            d.clean_immediately && cfg.enable_force_clean,
            DELETE_BATCH_MAX,
        );
    }
    // Report "immediately" only when it actually applied.
    d.clean_immediately &= cfg.enable_force_clean;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn ages(mtimes: &[u64]) -> Vec<SegmentAge> {
        mtimes
            .iter()
            .enumerate()
            .map(|(i, &m)| SegmentAge {
                id: i as u64 * 1024,
                mtime_ms: m,
            })
            .collect()
    }

    #[test]
    fn delete_when_hours() {
        assert!(is_time_to_delete("04", 4));
        assert!(!is_time_to_delete("04", 5));
        assert!(is_time_to_delete("04;16", 16));
        assert!(is_time_to_delete("4;", 4), "trailing separator is dropped");
        assert!(is_time_to_delete("+4", 4));
        // A bad entry stops the check (Java throws there) ...
        assert!(!is_time_to_delete("x;04", 4));
        assert!(!is_time_to_delete(" 04", 4));
        assert!(!is_time_to_delete("", 0));
        // ... but entries before it still match.
        assert!(is_time_to_delete("04;x", 4));
    }

    #[test]
    fn walk_never_last_stops_at_first_young_and_batches() {
        let h = HOUR_MS;
        let now = 100 * h;
        // Reserved 72 h: segments with mtime <= 28 h qualify.
        let s = ages(&[10 * h, 28 * h, 29 * h, h, 2 * h]);
        assert_eq!(
            select_expired(&s, now, 72 * h, false, 10),
            2,
            "stops at 29 h, no holes"
        );
        assert_eq!(
            select_expired(&s, now, 72 * h, true, 10),
            4,
            "never the last one"
        );
        assert_eq!(select_expired(&s, now, 72 * h, true, 3), 3, "batch limit");
        assert_eq!(select_expired(&s[..1], now, 0, true, 10), 0);
        assert_eq!(select_expired(&[], now, 0, true, 10), 0);
        // Boundary: now == mtime + reserved qualifies.
        assert_eq!(
            select_expired(&ages(&[28 * h, 0]), now, 72 * h, false, 10),
            1
        );
        assert_eq!(
            select_expired(&ages(&[28 * h + 1, 0]), now, 72 * h, false, 10),
            0
        );
        // Batch of 10 out of 15 old segments.
        let many = ages(&[0; 15]);
        assert_eq!(
            select_expired(&many, now, 72 * h, false, DELETE_BATCH_MAX),
            10
        );
    }

    #[test]
    fn rocketmq_thresholds_and_clamps() {
        let h = HOUR_MS;
        let old = ages(&[0, 0, 0]);
        let young = ages(&[99 * h, 99 * h, 99 * h]);
        let inp = CleanInputs {
            now_ms: 100 * h,
            local_hour: 3,
            delete_when: "04",
        };
        let cfg = RocketMqClean::default();
        // Quiet disk, wrong hour: nothing.
        let d = rocketmq_commitlog(&old, &inp, 0.5, None, false, &cfg);
        assert_eq!((d.delete, d.space_low, d.time_up), (0, false, false));
        // Right hour: expired files go.
        let d = rocketmq_commitlog(
            &old,
            &CleanInputs {
                local_hour: 4,
                ..inp
            },
            0.5,
            None,
            false,
            &cfg,
        );
        assert_eq!(d.delete, 2);
        // 0.76 > 0.75: expiry check, but young files stay.
        let d = rocketmq_commitlog(&young, &inp, 0.76, None, false, &cfg);
        assert_eq!(
            (d.space_low, d.clean_immediately, d.delete),
            (true, false, 0)
        );
        // 0.86 > 0.85: clean immediately (young files too, never the last).
        let d = rocketmq_commitlog(&young, &inp, 0.86, None, false, &cfg);
        assert_eq!(
            (d.clean_immediately, d.disk_full, d.delete),
            (true, false, 2)
        );
        // 0.91 > 0.90: disk full.
        let d = rocketmq_commitlog(&young, &inp, 0.91, None, false, &cfg);
        assert!(d.disk_full && d.clean_immediately);
        // Force cleaning disabled: young files stay even when full.
        let off = RocketMqClean {
            clean_file_forcibly_enable: false,
            ..cfg
        };
        assert_eq!(
            rocketmq_commitlog(&young, &inp, 0.95, None, false, &off).delete,
            0
        );
        // Consume queue usage counts when the commitlog does not decide.
        let d = rocketmq_commitlog(&young, &inp, 0.5, Some(0.86), false, &cfg);
        assert!(d.space_low && d.clean_immediately);
        // Unknown usage (-1) counts as "space to delete".
        assert!(rocketmq_commitlog(&young, &inp, -1.0, None, false, &cfg).space_low);
        // Manual delete runs the walk.
        assert_eq!(
            rocketmq_commitlog(&old, &inp, 0.5, None, true, &cfg).delete,
            2
        );
        // Clamps: 0.99 warning -> 0.90; 0.10 forcibly -> 0.30; 5 % -> 10 %.
        let wild = RocketMqClean {
            disk_space_warning_level_ratio: 0.99,
            disk_space_clean_forcibly_ratio: 0.10,
            disk_max_used_space_ratio: 5,
            ..cfg
        };
        assert_eq!(wild.warning_ratio(), 0.90);
        assert_eq!(wild.clean_forcibly_ratio(), 0.30);
        assert_eq!(wild.max_used_ratio(), 0.10);
        assert!(rocketmq_commitlog(&young, &inp, 0.91, None, false, &wild).disk_full);
        assert!(!rocketmq_commitlog(&young, &inp, 0.30, None, false, &wild).clean_immediately);
        assert!(rocketmq_commitlog(&young, &inp, 0.31, None, false, &wild).clean_immediately);
    }

    #[test]
    fn dledger_thresholds_in_f32() {
        let h = HOUR_MS;
        let young = ages(&[99 * h, 99 * h, 99 * h]);
        let inp = CleanInputs {
            now_ms: 100 * h,
            local_hour: 3,
            delete_when: "04",
        };
        let cfg = DLedgerClean::default();
        // 0.85f + 0.05f in f32 is 0.90000004 (widened: 0.9000000357627869).
        assert_eq!(
            f64::from(cfg.disk_full_ratio()),
            f64::from(0.85f32 + 0.05f32)
        );
        assert!(f64::from(cfg.disk_full_ratio()) > 0.90);
        // So usage 0.90 (as the Java helper reports it) is not "full"; 0.91 is.
        assert!(!dledger(&young, &inp, 0.90, 0.0, &cfg).disk_full);
        assert!(dledger(&young, &inp, 0.0, 0.91, &cfg).disk_full);
        // 0.85f widens to 0.8500000238...: 0.85 does not force, 0.86 does.
        let d = dledger(&young, &inp, 0.85, 0.0, &cfg);
        assert!(d.space_low && !d.clean_immediately && d.delete == 0);
        let d = dledger(&young, &inp, 0.86, 0.0, &cfg);
        assert_eq!((d.clean_immediately, d.delete), (true, 2));
        // 0.70f widens to 0.699999988...: usage 0.70 is above it.
        assert!(dledger(&young, &inp, 0.70, 0.0, &cfg).space_low);
        // Force-clean ratio under 0.50 counts as 0.50; the full ratio caps at 0.95.
        let low = DLedgerClean {
            force_clean_ratio: 0.2,
            ..cfg
        };
        assert_eq!(low.effective_force_clean_ratio(), 0.5);
        assert!(dledger(&young, &inp, 0.51, 0.0, &low).clean_immediately);
        let high = DLedgerClean {
            force_clean_ratio: 0.93,
            ..cfg
        };
        assert_eq!(high.disk_full_ratio(), 0.95);
        // Reserved hours under 1 count as 1.
        let zero = DLedgerClean {
            file_reserved_hours: 0,
            ..cfg
        };
        assert_eq!(zero.reserved_ms(), h);
        let old = ages(&[0, 0]);
        let d = dledger(
            &old,
            &CleanInputs {
                local_hour: 4,
                ..inp
            },
            0.1,
            0.1,
            &zero,
        );
        assert_eq!(d.delete, 1);
        // Force cleaning disabled.
        let off = DLedgerClean {
            enable_force_clean: false,
            ..cfg
        };
        let d = dledger(&young, &inp, 0.88, 0.0, &off);
        assert_eq!((d.clean_immediately, d.delete), (false, 0));
    }
}
