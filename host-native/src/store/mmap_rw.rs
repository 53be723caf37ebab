//! [`DiskStore`]: the read-write, memory-mapped [`PageStore`].

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use memmap2::MmapMut;
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

use super::fxhash::Fx;
use super::layout::Layout;
use super::prefault::{self, Mapped, Prefault, Prefaulter, WINDOW};
use super::{io_err, meta};

/// One mapped segment file.
struct Segment {
    path: PathBuf,
    file: File,
    map: MmapMut,
    /// `map.as_mut_ptr()`, taken once at creation: writes go through it so
    /// that `&Segment` can be shared between the writer and readers.
    ptr: *mut u8,
    len: usize,
    /// How far the populate thread has been asked to fault pages in.
    ahead: AtomicUsize,
    /// The next segment has been asked for (see [`Disk::maybe_stage`]).
    staged_next: AtomicBool,
}

impl Mapped for Segment {
    fn mapping(&self) -> (*mut u8, usize) {
        (self.ptr, self.len)
    }
    fn ahead(&self) -> &AtomicUsize {
        &self.ahead
    }
}

// SAFETY: `Segment` is only `!Send`/`!Sync` because of `ptr`, which points into
// `map`, owned by the same struct and never remapped. Access through `ptr`
// follows the core's concurrency contract (one writer, never writing below the
// committed watermark; readers only below it), so the writer's copies and the
// readers' views never touch the same bytes at the same time.
unsafe impl Send for Segment {}
// SAFETY: see `Send` above.
unsafe impl Sync for Segment {}

impl Segment {
    fn range(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
    ) -> Result<Range<usize>, StoreError> {
        let err = || StoreError::out_of_range(log, seg, pos, len, self.len as u64);
        let end = pos.checked_add(len).ok_or_else(err)?;
        if end > self.len as u64 {
            return Err(err());
        }
        // Both are at most `self.len`, a usize.
        Ok(pos as usize..end as usize)
    }

    fn view(&self, r: Range<usize>) -> &[u8] {
        // SAFETY: `r` lies inside the mapping (checked by `range`), which lives
        // as long as `self`. Under the core's contract no other thread writes
        // these bytes while they are viewed: readers only view committed bytes,
        // and the single writer only reads what it wrote itself.
        unsafe { std::slice::from_raw_parts(self.ptr.add(r.start), r.len()) }
    }

    /// The mapped bytes of `r`, writable in place (records encoded straight
    /// into the file).
    #[allow(clippy::mut_from_ref)]
    fn view_mut(&self, r: Range<usize>) -> &mut [u8] {
        // SAFETY: `r` lies inside the mapping (checked by `range`), which is
        // writable (MAP_SHARED, PROT_WRITE) and lives as long as `self`. As
        // for `write`: one writer at a time (the owner's engine lock), and it
        // only writes above the committed watermark, below which alone
        // readers look, so no other reference to these bytes exists while
        // the writer holds this one (it is dropped before the bytes are
        // published).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }

    fn write(&self, r: Range<usize>, data: &[u8]) {
        debug_assert_eq!(r.len(), data.len());
        // SAFETY: `r` lies inside the mapping (checked by `range`); the mapping
        // is writable (MAP_SHARED, PROT_WRITE) and lives as long as `self`.
        // There is one writer at a time (the core's contract, enforced by the
        // owner's engine lock) and it never writes below the committed
        // watermark, below which alone readers look: no byte is read and
        // written concurrently. `data` is a separate allocation (not the map).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(r.start), r.len()) }
    }
}

/// The mapped segments of one log.
type LogSegments = HashMap<SegmentId, Arc<Segment>, Fx>;

/// A store on disk: one file per segment, created full size and mapped
/// read-write; meta files replaced atomically. See the [module docs](super).
///
/// Mutations that fail latch the store: every later call fails with
/// [`StoreErrorKind::PreviousIo`] (a failed `fdatasync` is never retried; see
/// `rocketlog_core::checked`). The latch is shared by every thread using the
/// store, so a failed sync on the flusher thread stops the writer too.
///
/// ```
/// use rocketlog::store::{DiskStore, Layout};
/// use rocketlog_core::store::{LogId, PageRead, PageStore};
/// let dir = tempfile::tempdir().unwrap();
/// let s = DiskStore::new(Layout::rocketmq(dir.path()));
/// s.create(&LogId::CommitLog, 0, 4096).unwrap();
/// s.sync_dir(&LogId::CommitLog).unwrap();
/// s.write(&LogId::CommitLog, 0, 10, b"hello").unwrap();
/// s.sync(&LogId::CommitLog, 0, 0..4096).unwrap();
/// let got = s.with_view(&LogId::CommitLog, 0, 10, 5, |b| b.to_vec()).unwrap();
/// assert_eq!(got, b"hello");
/// assert!(dir.path().join("commitlog/00000000000000000000").is_file());
/// ```
#[derive(Clone)]
pub struct DiskStore(Arc<Disk>);

struct Disk {
    layout: Layout,
    /// Mapped segments by log, then segment: looked up by `&LogId` so the
    /// hot path (every write and read) never clones a `LogId` (a consume
    /// queue's carries its topic `String`).
    segs: RwLock<HashMap<LogId, LogSegments, Fx>>,
    /// Set (Release) once `latched` holds an error: the check every call makes
    /// is one atomic load, not a mutex.
    failed: AtomicBool,
    latched: Mutex<Option<StoreError>>,
    /// Populates pages ahead of the writer (see `prefault`).
    prefault: Prefaulter,
    /// The next segment of a large sequential log, created (allocated,
    /// mapped, its head populated) by the background thread under a staging
    /// name while the writer fills the current one; `create` renames it into
    /// place. See [`Disk::maybe_stage`].
    staged: Arc<Mutex<Option<(LogId, Segment)>>>,
}

/// Logs whose next segment is prepared ahead: the large, sequentially
/// written ones (1 GiB by default), where creating and faulting in a fresh
/// file at roll time stalls the writer.
fn staged_log(log: &LogId) -> bool {
    matches!(log, LogId::CommitLog | LogId::DLedgerData)
}

/// Segments smaller than this are created at the roll as before: creating
/// them is cheap, and small test stores keep exactly their own files.
const MIN_STAGED_LEN: usize = 4 * WINDOW;

/// Prefix of staging files (in the store's top directory, which the Java
/// reference and the read-only tools ignore unknown entries of).
const STAGING_PREFIX: &str = ".rocketlog-next-";

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("layout", &self.0.layout)
            .field("latched", &self.0.latched())
            .finish_non_exhaustive()
    }
}

/// The error for a log [`Layout::log_dir`] has no directory for.
fn no_dir(log: &LogId) -> StoreError {
    if let LogId::ConsumeQueue { topic, .. } | LogId::BatchConsumeQueue { topic, .. } = log
        && let Err(e) = rocketlog_core::topic::check(topic.as_bytes())
    {
        return StoreError::new(StoreErrorKind::Other, format!("{log}: {e}"));
    }
    not_in_layout(log)
}

fn not_in_layout(what: impl std::fmt::Display) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        format!("{what} is not part of this kind of store"),
    )
}

impl Drop for Disk {
    fn drop(&mut self) {
        // A staged file nobody will use (the next open would remove it too).
        let staged = self
            .staged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((_, s)) = staged {
            let _ = fs::remove_file(&s.path);
        }
    }
}

impl Disk {
    fn new(layout: Layout) -> Self {
        Self {
            layout,
            segs: RwLock::new(HashMap::default()),
            failed: AtomicBool::new(false),
            latched: Mutex::new(None),
            prefault: Prefaulter::new(),
            staged: Arc::new(Mutex::new(None)),
        }
    }

    fn latched(&self) -> Option<StoreError> {
        self.latched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn check(&self) -> Result<(), StoreError> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        match &*self.latched.lock().unwrap_or_else(PoisonError::into_inner) {
            None => Ok(()),
            Some(e) => Err(StoreError::new(
                StoreErrorKind::PreviousIo,
                format!("refusing after an earlier failure ({e}); reopen the store"),
            )),
        }
    }

    fn mutate(&self, f: impl FnOnce() -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.check()?;
        f().inspect_err(|e| {
            let mut l = self.latched.lock().unwrap_or_else(PoisonError::into_inner);
            l.get_or_insert_with(|| e.clone());
            self.failed.store(true, Ordering::Release);
        })
    }

    fn segment_path(&self, log: &LogId, seg: SegmentId) -> Result<PathBuf, StoreError> {
        let dir = self.layout.log_dir(log).ok_or_else(|| no_dir(log))?;
        Ok(dir.join(Layout::segment_name(log, seg)))
    }

    fn meta_path(&self, file: MetaFile) -> Result<PathBuf, StoreError> {
        self.layout
            .meta_path(file)
            .ok_or_else(|| not_in_layout(file))
    }

    /// Runs `f` on a segment. A cached segment is used under the cache's read
    /// lock, without touching its reference count: every put makes several
    /// small writes, and two atomic read-modify-writes less per access was
    /// measurable. `f` must not call back into the store (it only copies).
    fn on_segment<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        f: impl FnOnce(&Arc<Segment>) -> R,
    ) -> Result<R, StoreError> {
        {
            let g = self.segs.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = g.get(log).and_then(|m| m.get(&seg)) {
                return Ok(f(s));
            }
        }
        let s = self.segment(log, seg)?;
        Ok(f(&s))
    }

    fn segment(&self, log: &LogId, seg: SegmentId) -> Result<Arc<Segment>, StoreError> {
        if let Some(s) = self
            .segs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(log)
            .and_then(|m| m.get(&seg))
        {
            return Ok(Arc::clone(s));
        }
        let path = self.segment_path(log, seg)?;
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::not_found(log, seg));
            }
            Err(e) => return Err(io_err(&e, "open", &path, None)),
        };
        let s = Arc::new(map(file, path)?);
        let mut segs = self.segs.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = segs.get(log).and_then(|m| m.get(&seg)) {
            return Ok(Arc::clone(c));
        }
        // `remove` unlinks under this lock: if the file went away after we
        // opened it, do not cache a mapping that would pin the deleted file.
        if !s.path.exists() {
            return Err(StoreError::not_found(log, seg));
        }
        segs.entry(log.clone())
            .or_default()
            .insert(seg, Arc::clone(&s));
        Ok(s)
    }

    fn list_queues(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        let Layout::RocketMq { root } = &self.layout else {
            return Ok(Vec::new());
        };
        let batch = matches!(like, LogId::BatchConsumeQueue { .. });
        let dir = root.join(if batch {
            "batchconsumequeue"
        } else {
            "consumequeue"
        });
        let mut out = Vec::new();
        for (topic, tpath) in list_dir(&dir)? {
            if !tpath.is_dir() {
                continue;
            }
            let Some(topic) = topic.to_str().map(str::to_owned) else {
                continue;
            };
            for (q, qpath) in list_dir(&tpath)? {
                // Java ignores queue directories whose names are not numbers.
                let Some(queue_id) = q.to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                if !qpath.is_dir() {
                    continue;
                }
                let topic = topic.clone();
                out.push(if batch {
                    LogId::BatchConsumeQueue { topic, queue_id }
                } else {
                    LogId::ConsumeQueue { topic, queue_id }
                });
            }
        }
        out.sort();
        Ok(out)
    }

    fn all_logs(&self) -> Result<Vec<LogId>, StoreError> {
        let mut out = Vec::new();
        for l in self.layout.fixed_logs() {
            out.extend(self.logs(l)?);
        }
        if let Layout::RocketMq { .. } = self.layout {
            out.extend(self.list_queues(&LogId::ConsumeQueue {
                topic: String::new(),
                queue_id: 0,
            })?);
        }
        Ok(out)
    }

    /// The staging file for the next segment of `log`.
    fn staging_path(&self, log: &LogId) -> Option<PathBuf> {
        let dir = self.layout.log_dir(log)?;
        let name = dir.file_name()?.to_str()?.to_owned();
        Some(self.layout.dir().join(format!("{STAGING_PREFIX}{name}")))
    }

    /// Called after a write ending at `end` of segment `s` of `log`: once
    /// the writer is within the populate window of the end of a large
    /// sequential log's segment, the background thread creates the next
    /// segment's file under a staging name (allocated in full, mapped, its
    /// head populated), for `create` to rename into place at the roll.
    fn maybe_stage(&self, log: &LogId, s: &Segment, end: usize) {
        if !staged_log(log)
            || s.len < MIN_STAGED_LEN
            || end + WINDOW < s.len
            || s.staged_next.load(Ordering::Relaxed)
            || s.staged_next.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let Some(path) = self.staging_path(log) else {
            return;
        };
        let (slot, log, len, write) = (
            Arc::clone(&self.staged),
            log.clone(),
            s.len as u64,
            self.prefault.writes(),
        );
        self.prefault.run_task(Box::new(move || {
            {
                let g = slot.lock().unwrap_or_else(PoisonError::into_inner);
                if g.as_ref()
                    .is_some_and(|(l, st)| *l == log && st.len as u64 == len)
                {
                    return;
                }
            }
            // Best effort: on any failure the roll creates the file itself.
            let _ = fs::remove_file(&path);
            let Ok(file) = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            else {
                return;
            };
            let staged = preallocate(&file, len, &path).and_then(|()| map(file, path.clone()));
            let Ok(seg) = staged else {
                let _ = fs::remove_file(&path);
                return;
            };
            prefault::populate_head(&seg, WINDOW, write);
            if Arc::strong_count(&slot) == 1 {
                // The store is gone: nobody will adopt it.
                let _ = fs::remove_file(&path);
                return;
            }
            let old = slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .replace((log, seg));
            if let Some((_, o)) = old
                && o.path != path
            {
                let _ = fs::remove_file(&o.path);
            }
        }));
    }

    /// Takes the staged segment file if it fits `(log, len)` and renames it
    /// to `path`; `None` if there is none (or it could not be used).
    fn adopt_staged(&self, log: &LogId, len: u64, path: &Path) -> Option<Segment> {
        let mut g = self.staged.lock().unwrap_or_else(PoisonError::into_inner);
        if !g
            .as_ref()
            .is_some_and(|(l, s)| l == log && s.len as u64 == len)
        {
            return None;
        }
        let (_, mut seg) = g.take()?;
        drop(g);
        // `create_new` semantics: never replace an existing segment.
        if path.exists() || fs::rename(&seg.path, path).is_err() {
            let _ = fs::remove_file(&seg.path);
            return None;
        }
        seg.path = path.to_path_buf();
        Some(seg)
    }

    fn remove_empty_tails(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
        // Staging files left by a process that stopped before using them.
        for log in [LogId::CommitLog, LogId::DLedgerData] {
            if let Some(p) = self.staging_path(&log)
                && p.is_file()
            {
                fs::remove_file(&p).map_err(|e| io_err(&e, "remove", &p, None))?;
                removed.push(p);
            }
        }
        for log in self.all_logs()? {
            let segs = self.segments(&log)?;
            if let Some(last) = segs.last()
                && last.len == 0
            {
                let path = self.segment_path(&log, last.id)?;
                self.remove(&log, last.id)?;
                self.sync_dir(&log)?;
                removed.push(path);
            }
        }
        Ok(removed)
    }
}

/// `(name, path)` of each entry of `dir`; empty if `dir` does not exist.
fn list_dir(dir: &Path) -> Result<Vec<(std::ffi::OsString, PathBuf)>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&e, "list", dir, None)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| io_err(&e, "list", dir, None))?;
        out.push((ent.file_name(), ent.path()));
    }
    Ok(out)
}

fn map(file: File, path: PathBuf) -> Result<Segment, StoreError> {
    let len = file
        .metadata()
        .map_err(|e| io_err(&e, "stat", &path, None))?
        .len();
    let len = usize::try_from(len).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Other,
            format!("{}: {len} bytes cannot be mapped", path.display()),
        )
    })?;
    if len == 0 {
        return Err(StoreError::new(
            StoreErrorKind::Other,
            format!("{}: empty segment file", path.display()),
        ));
    }
    // SAFETY: mapping a file is unsafe because another process could change or
    // truncate it underneath us (truncation turns accesses into SIGBUS). The
    // store's `lock` file (StoreLock) keeps every other rocketlog writer and
    // Java broker out, segment files are never shrunk in place (they are
    // created full size and removed whole, which keeps existing mappings
    // valid), and all access through the mapping follows the core's
    // one-writer / committed-watermark contract (see `Segment`).
    let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| io_err(&e, "map", &path, None))?;
    let ptr = map.as_mut_ptr();
    Ok(Segment {
        path,
        file,
        map,
        ptr,
        len,
        ahead: AtomicUsize::new(0),
        staged_next: AtomicBool::new(false),
    })
}

/// Hands the range's mapped writes to the file. On Linux, mapped writes are
/// already in the page cache that `fdatasync` writes back, so `MS_ASYNC`
/// (which only schedules) suffices and the following `fdatasync` is the one
/// durability point: `MS_SYNC` there would force a second device flush per
/// sync (measured: it halves single-writer sync throughput). Elsewhere POSIX
/// only promises that `msync(MS_SYNC)` writes mapped pages, so it is used.
fn msync(map: &MmapMut, r: Range<usize>) -> io::Result<()> {
    if cfg!(target_os = "linux") {
        map.flush_async_range(r.start, r.len())
    } else {
        map.flush_range(r.start, r.len())
    }
}

/// Reserves the blocks of `[0, len)` so writes through the mapping can never
/// hit ENOSPC (which would be a SIGBUS); falls back to `set_len` (sparse) on
/// filesystems without `fallocate`.
fn preallocate(file: &File, len: u64, path: &Path) -> Result<(), StoreError> {
    let off_len = libc::off_t::try_from(len).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Other,
            format!("{}: size {len} too large", path.display()),
        )
    })?;
    // SAFETY: the descriptor is open for the duration of the call.
    let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, off_len) };
    match r {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => file
            .set_len(len)
            .map_err(|e| io_err(&e, "set length of", path, None)),
        errno => Err(io_err(
            &io::Error::from_raw_os_error(errno),
            "allocate",
            path,
            None,
        )),
    }
}

impl PageRead for Disk {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.check()?;
        match like {
            LogId::ConsumeQueue { .. } | LogId::BatchConsumeQueue { .. } => self.list_queues(like),
            other => Ok(match self.layout.log_dir(other) {
                Some(d) if d.is_dir() => vec![other.clone()],
                _ => Vec::new(),
            }),
        }
    }

    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.check()?;
        let Some(dir) = self.layout.log_dir(log) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (name, path) in list_dir(&dir)? {
            let parsed = name
                .to_str()
                .and_then(|n| Layout::parse_segment_name(log, n));
            let Some(id) = parsed else {
                // The reference refuses to start on a stray file; so do we, clearly.
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    format!(
                        "{}: unexpected entry in the {log} directory (not a segment file name); \
                         move it away",
                        path.display()
                    ),
                ));
            };
            let md = fs::metadata(&path).map_err(|e| io_err(&e, "stat", &path, None))?;
            if !md.is_file() {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    format!("{}: a segment must be a regular file", path.display()),
                ));
            }
            out.push(SegmentInfo { id, len: md.len() });
        }
        out.sort_by_key(|s| s.id);
        Ok(out)
    }

    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        self.check()?;
        // A copy: done under the cache lock (see `on_segment`).
        self.on_segment(log, seg, |s| {
            let r = s.range(log, seg, pos, out.len() as u64)?;
            out.copy_from_slice(s.view(r));
            Ok(())
        })?
    }

    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.check()?;
        // `f` is the caller's and may take long or use the store: it runs on
        // a counted reference, outside the cache lock.
        let s = self.segment(log, seg)?;
        let r = s.range(log, seg, pos, len)?;
        Ok(f(s.view(r)))
    }

    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        meta::read(&self.meta_path(file)?)
    }

    fn data_range(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        end: u64,
    ) -> Result<Option<Range<u64>>, StoreError> {
        self.check()?;
        self.on_segment(log, seg, |s| seek_data(&s.file, pos, end))
    }
}

/// [`PageRead::data_range`] of a file: `lseek(SEEK_DATA)` then
/// `lseek(SEEK_HOLE)`. Holes of a sparse file and unwritten (fallocated)
/// extents without pages in the page cache read as zeros; the kernel counts
/// dirty and cached pages of such extents as data, so bytes written through
/// the mapping but not yet written back are never skipped. A hint only: any
/// failure other than ENXIO ("no data at or after `pos`") answers `pos..end`.
#[cfg(target_os = "linux")]
fn seek_data(file: &File, pos: u64, end: u64) -> Option<Range<u64>> {
    if pos >= end {
        return None;
    }
    let everything = Some(pos..end);
    let Ok(at) = libc::off_t::try_from(pos) else {
        return everything;
    };
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is open for the duration of the call; lseek only moves the
    // file offset, which the store never uses (it reads and writes through
    // the mapping).
    let d = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
    if d < 0 {
        return match io::Error::last_os_error().raw_os_error() {
            Some(libc::ENXIO) => None,
            _ => everything,
        };
    }
    let d = d as u64;
    if d >= end {
        return None;
    }
    // SAFETY: as above.
    let h = unsafe { libc::lseek(fd, d as libc::off_t, libc::SEEK_HOLE) };
    if h < 0 {
        return Some(d.max(pos)..end);
    }
    let h = (h as u64).min(end);
    // A hole before the data it was asked from is not something lseek
    // returns; should it, trust nothing.
    if d < pos || h <= d {
        return everything;
    }
    Some(d..h)
}

#[cfg(not(target_os = "linux"))]
fn seek_data(_file: &File, pos: u64, end: u64) -> Option<Range<u64>> {
    (pos < end).then_some(pos..end)
}

impl PageStore for Disk {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.mutate(|| {
            let path = self.segment_path(log, seg)?;
            if let Some(dir) = path.parent() {
                meta::create_dirs(dir)?;
            }
            if staged_log(log)
                && let Some(s) = self.adopt_staged(log, len, &path)
            {
                self.segs
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(log.clone())
                    .or_default()
                    .insert(seg, Arc::new(s));
                return Ok(());
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| io_err(&e, "create", &path, None))?;
            preallocate(&file, len, &path)?;
            let s = Arc::new(map(file, path)?);
            self.segs
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(log.clone())
                .or_default()
                .insert(seg, s);
            Ok(())
        })
    }

    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.mutate(|| {
            self.on_segment(log, seg, |s| {
                let r = s.range(log, seg, pos, data.len() as u64)?;
                let end = r.end;
                s.write(r, data);
                self.prefault.after_write(s, end);
                self.maybe_stage(log, s, end);
                Ok(())
            })?
        })
    }

    fn write_with<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, StoreError> {
        let mut out = None;
        self.mutate(|| {
            self.on_segment(log, seg, |s| {
                let r = s.range(log, seg, pos, len as u64)?;
                let end = r.end;
                out = Some(f(s.view_mut(r)));
                self.prefault.after_write(s, end);
                self.maybe_stage(log, s, end);
                Ok(())
            })?
        })?;
        out.ok_or_else(|| StoreError::new(StoreErrorKind::Other, "write_with: no result"))
    }

    fn write_pieces(
        &self,
        log: &LogId,
        seg: SegmentId,
        pieces: &[(u64, &[u8])],
    ) -> Result<(), StoreError> {
        self.mutate(|| {
            self.on_segment(log, seg, |s| {
                // Every range is checked before anything is written.
                let mut end = 0;
                for &(pos, data) in pieces {
                    end = end.max(s.range(log, seg, pos, data.len() as u64)?.end);
                }
                for &(pos, data) in pieces {
                    let r = s.range(log, seg, pos, data.len() as u64)?;
                    s.write(r, data);
                }
                self.prefault.after_write(s, end);
                self.maybe_stage(log, s, end);
                Ok(())
            })?
        })
    }

    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        self.mutate(|| {
            let s = self.segment(log, seg)?;
            let len = range.end.saturating_sub(range.start);
            let r = s.range(log, seg, range.start, len)?;
            if !r.is_empty() {
                msync(&s.map, r.clone())
                    .map_err(|e| io_err(&e, "msync", &s.path, Some(range.start)))?;
            }
            s.file
                .sync_data()
                .map_err(|e| io_err(&e, "fdatasync", &s.path, Some(range.start)))
        })
    }

    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.mutate(|| {
            let path = self.segment_path(log, seg)?;
            // Views already lent keep their mapping alive through their Arc.
            // Unlink under the cache lock (see `segment`).
            let mut segs = self.segs.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(m) = segs.get_mut(log) {
                m.remove(&seg);
            }
            fs::remove_file(&path).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    StoreError::not_found(log, seg)
                } else {
                    io_err(&e, "remove", &path, None)
                }
            })
        })
    }

    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.mutate(|| {
            let dir = self.layout.log_dir(log).ok_or_else(|| no_dir(log))?;
            meta::sync_dir(&dir)
        })
    }

    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.mutate(|| {
            let path = self.meta_path(file)?;
            // Java's string2File keeps a `.bak` of its text files; the RocketMQ
            // checkpoint is a mapped file and has none.
            let bak = !matches!(file, MetaFile::StoreCheckpoint | MetaFile::IndexSyncPoint);
            meta::replace(&path, contents, bak)
        })
    }
}

/// A cheap-to-clone handle: the engine, the flush thread and readers share one store.
impl PageRead for DiskStore {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        self.0.logs(like)
    }
    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        self.0.segments(log)
    }
    fn read(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(), StoreError> {
        self.0.read(log, seg, pos, out)
    }
    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.0.with_view(log, seg, pos, len, f)
    }
    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.read_meta(file)
    }
    fn data_range(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        end: u64,
    ) -> Result<Option<Range<u64>>, StoreError> {
        self.0.data_range(log, seg, pos, end)
    }
}

impl PageStore for DiskStore {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.0.create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.0.write(log, seg, pos, data)
    }
    fn write_pieces(
        &self,
        log: &LogId,
        seg: SegmentId,
        pieces: &[(u64, &[u8])],
    ) -> Result<(), StoreError> {
        self.0.write_pieces(log, seg, pieces)
    }
    fn write_with<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, StoreError> {
        self.0.write_with(log, seg, pos, len, f)
    }
    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        self.0.sync(log, seg, range)
    }
    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        self.0.remove(log, seg)
    }
    fn sync_dir(&self, log: &LogId) -> Result<(), StoreError> {
        self.0.sync_dir(log)
    }
    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.0.write_meta(file, contents)
    }
}

impl DiskStore {
    /// A store over `layout`. Nothing is opened or created until used; take a
    /// [`StoreLock`](super::StoreLock) first when writing.
    pub fn new(layout: Layout) -> Self {
        Self(Arc::new(Disk::new(layout)))
    }
    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    /// The failure that latched the store, if any.
    pub fn latched(&self) -> Option<StoreError> {
        self.0.latched()
    }
    /// How pages ahead of the writer are populated in the background
    /// (default [`Prefault::Write`]; see the `prefault` module).
    pub fn set_prefault(&self, mode: Prefault) {
        self.0.prefault.set_mode(mode);
    }
    /// [`PageRead::with_view`] for a short `f` that does not use the store
    /// (decode a record, copy it out): it runs under the segment cache's read
    /// lock instead of on a counted reference, two atomic operations less
    /// per read. A long `f` would hold up segment creation and removal.
    pub fn with_view_brief<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.0.check()?;
        self.0.on_segment(log, seg, |s| {
            let r = s.range(log, seg, pos, len)?;
            Ok(f(s.view(r)))
        })?
    }
    /// The file of segment `seg` of `log`.
    pub fn segment_path(&self, log: &LogId, seg: SegmentId) -> Result<PathBuf, StoreError> {
        self.0.segment_path(log, seg)
    }
    /// Every log that exists on disk (commitlog, index, every consume queue; or
    /// the DLedger data and index).
    pub fn all_logs(&self) -> Result<Vec<LogId>, StoreError> {
        self.0.all_logs()
    }
    /// What the reference does on load with a segment file left empty by a
    /// crash during creation (`MappedFileQueue.doLoad`: a zero-length *last*
    /// file is deleted): removes it, durably, and returns its path. Other
    /// wrong sizes are left for the engine to report.
    pub fn remove_empty_tails(&self) -> Result<Vec<PathBuf>, StoreError> {
        self.0.remove_empty_tails()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_next_big_segment_is_staged_off_the_writer_and_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStore::new(Layout::rocketmq(dir.path()));
        let log = LogId::CommitLog;
        let len = MIN_STAGED_LEN as u64;
        s.create(&log, 0, len).unwrap();
        let staging = dir.path().join(".rocketlog-next-commitlog");
        s.write(&log, 0, 100, b"head").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!staging.exists(), "staged long before the end");
        // Within the window of the end: the background thread stages the next file.
        s.write(&log, 0, len - 100, b"tail").unwrap();
        let t = std::time::Instant::now();
        while s.0.staged.lock().unwrap().is_none() {
            assert!(t.elapsed().as_secs() < 20, "nothing staged");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(fs::metadata(&staging).unwrap().len(), len);
        // The roll adopts it: renamed into place, the right size, all zeros.
        s.create(&log, len, len).unwrap();
        s.sync_dir(&log).unwrap();
        assert!(!staging.exists());
        let p = s.segment_path(&log, len).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), len);
        s.write(&log, len, 10, b"hello").unwrap();
        s.sync(&log, len, 0..4096).unwrap();
        let mut b = [0xffu8; 20];
        File::open(&p).unwrap().read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b[..10], &[0u8; 10]);
        assert_eq!(&b[10..15], b"hello");
        assert_eq!(&b[15..], &[0u8; 5]);
        let got = s.with_view(&log, len, 10, 5, |v| v.to_vec()).unwrap();
        assert_eq!(got, b"hello");
        // An existing segment is never replaced (create_new semantics).
        assert!(s.create(&log, len, len).is_err());
        // A staging file left by a stopped process goes at the next open.
        let s = DiskStore::new(Layout::rocketmq(dir.path()));
        fs::write(&staging, b"stale").unwrap();
        assert_eq!(
            s.remove_empty_tails().unwrap(),
            std::slice::from_ref(&staging)
        );
        assert!(!staging.exists());
        assert_eq!(
            s.segments(&log).unwrap(),
            [SegmentInfo { id: 0, len }, SegmentInfo { id: len, len }]
        );
    }

    /// `data_range` over a sparse file never hides a non-zero byte: the
    /// ranges it reports cover every one, lie inside what was asked, and a
    /// fully written file is one range.
    #[test]
    fn data_ranges_cover_every_written_byte() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStore::new(Layout::rocketmq(dir.path()));
        let log = LogId::CommitLog;
        let len = 8u64 << 20;
        fs::create_dir_all(dir.path().join("commitlog")).unwrap();
        let path = s.segment_path(&log, 0).unwrap();
        let f = File::create(&path).unwrap();
        f.set_len(len).unwrap();
        // Bytes written through the file (a hole between them), and one
        // through the mapping that is still only a dirty page.
        let marks = [10u64, 3 << 20, (6 << 20) + 5, len - 1];
        for &m in &marks[..3] {
            f.write_all_at(&[7], m).unwrap();
        }
        s.write(&log, 0, marks[3], &[9]).unwrap();
        let covered = |from: u64, to: u64| {
            let mut found: Vec<u64> = Vec::new();
            let mut pos = from;
            while let Some(r) = s.data_range(&log, 0, pos, to).unwrap() {
                assert!(from <= r.start && r.start < r.end && r.end <= to, "{r:?}");
                assert!(r.start >= pos, "{r:?} before {pos}");
                found.extend(marks.iter().filter(|&&m| r.contains(&m)));
                pos = r.end;
            }
            found
        };
        assert_eq!(covered(0, len), marks);
        assert_eq!(covered(11, len), &marks[1..]);
        assert_eq!(covered((3 << 20) + 1, (6 << 20) + 6), &marks[2..3]);
        assert_eq!(s.data_range(&log, 0, 5, 5).unwrap(), None);
        // Nothing past the end of the file.
        assert_eq!(s.data_range(&log, 0, len, len + 4096).unwrap(), None);
    }

    #[test]
    fn bounds_latch_and_meta() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStore::new(Layout::dledger(dir.path(), "n0"));
        let log = LogId::DLedgerData;
        s.create(&log, 0, 8192).unwrap();
        s.sync_dir(&log).unwrap();
        assert_eq!(
            fs::metadata(s.segment_path(&log, 0).unwrap())
                .unwrap()
                .len(),
            8192
        );
        assert_eq!(
            s.segments(&log).unwrap(),
            [SegmentInfo { id: 0, len: 8192 }]
        );
        // Reading past the end is an answer, not damage: no latch.
        let e = s.with_view(&log, 0, 8190, 4, |_| ()).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::OutOfRange);
        assert!(s.latched().is_none());
        s.write_meta(MetaFile::CurrTerm, Some(b"currTerm=1\n"))
            .unwrap();
        s.write_meta(MetaFile::CurrTerm, Some(b"currTerm=2\n"))
            .unwrap();
        let m = dir.path().join("dledger-n0");
        assert_eq!(fs::read(m.join("currterm")).unwrap(), b"currTerm=2\n");
        assert_eq!(fs::read(m.join("currterm.bak")).unwrap(), b"currTerm=1\n");
        assert!(!m.join("currterm.tmp").exists());
        assert!(s.write_meta(MetaFile::StoreCheckpoint, Some(b"x")).is_err());
        // A write past the end latches everything.
        let s = DiskStore::new(Layout::dledger(dir.path(), "n0"));
        let e = s.write(&log, 0, 8190, b"abcd").unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::OutOfRange);
        assert_eq!(
            s.read_meta(MetaFile::CurrTerm).unwrap_err().kind,
            StoreErrorKind::PreviousIo
        );
        // A stray file is a clear error naming it.
        let s = DiskStore::new(Layout::dledger(dir.path(), "n0"));
        fs::write(m.join("data/notes.txt"), b"x").unwrap();
        let e = s.segments(&log).unwrap_err();
        assert!(e.message.contains("notes.txt"), "{e}");
    }
}
