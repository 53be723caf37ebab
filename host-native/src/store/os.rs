//! What the core asks of the environment and only the OS knows: disk usage
//! of a path, the local hour and the local-time name of a new index file.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `UtilAll.getDiskPartitionSpaceUsedPercent`: `ceil(100·used/(used+usable))/100`
/// for the filesystem holding `path`, from `statvfs`; −1.0 when the path does
/// not exist or cannot be examined (as Java returns).
///
/// ```
/// let r = rocketlog::store::os::disk_used_ratio(std::path::Path::new("/"));
/// assert!((0.0..=1.0).contains(&r));
/// assert_eq!(rocketlog::store::os::disk_used_ratio(std::path::Path::new("/no/such/dir")), -1.0);
/// ```
pub fn disk_used_ratio(path: &Path) -> f64 {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return -1.0;
    };
    // SAFETY: all-zero is a valid `statvfs`; `c` is a valid NUL-terminated
    // string and `st` a valid out-pointer for the duration of the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return -1.0;
    }
    let frsize = st.f_frsize as u128;
    let total = st.f_blocks as u128 * frsize;
    let free = st.f_bfree as u128 * frsize;
    let usable = st.f_bavail as u128 * frsize;
    let used = total.saturating_sub(free);
    let denom = used + usable;
    if denom == 0 {
        return -1.0;
    }
    // Java: long ratio = used*100/(used+usable), +1 if there is a remainder.
    let pct = (used * 100).div_ceil(denom);
    pct as f64 / 100.0
}

/// Broken-down local time of `ms` (`localtime_r`).
fn local_tm(ms: i64) -> Option<libc::tm> {
    let secs = libc::time_t::try_from(ms.div_euclid(1000)).ok()?;
    // SAFETY: all-zero is a valid `tm`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call;
    // `localtime_r` is the thread-safe variant.
    let r = unsafe { libc::localtime_r(&secs, &mut tm) };
    if r.is_null() { None } else { Some(tm) }
}

/// The local hour of day (0..=23) at `ms`, as `deleteWhen` compares it.
pub fn local_hour(ms: i64) -> u32 {
    local_tm(ms).map_or(0, |tm| u32::try_from(tm.tm_hour).unwrap_or(0))
}

/// `UtilAll.timeMillisToHumanString(ms)` as a number: the 17-digit local-time
/// name `yyyyMMddHHmmssSSS` of an index file created at `ms`.
pub fn index_file_name(ms: i64) -> u64 {
    let Some(tm) = local_tm(ms) else {
        return 0;
    };
    let part = |v: libc::c_int| u64::try_from(v).unwrap_or(0);
    let year = part(tm.tm_year) + 1900;
    let millis = u64::try_from(ms.rem_euclid(1000)).unwrap_or(0);
    ((((year * 100 + part(tm.tm_mon) + 1) * 100 + part(tm.tm_mday)) * 100 + part(tm.tm_hour)) * 100
        + part(tm.tm_min))
        * 100_000
        + part(tm.tm_sec) * 1000
        + millis
}

/// A file's modification time in ms since the epoch (0 if unknown).
pub fn mtime_ms(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
