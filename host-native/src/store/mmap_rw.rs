//! [`DiskStore`]: the read-write, memory-mapped [`PageStore`].

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use memmap2::MmapMut;
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

use super::layout::Layout;
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
    segs: RwLock<HashMap<LogId, HashMap<SegmentId, Arc<Segment>>>>,
    latched: Mutex<Option<StoreError>>,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("layout", &self.0.layout)
            .field("latched", &self.0.latched())
            .finish_non_exhaustive()
    }
}

fn not_in_layout(what: impl std::fmt::Display) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        format!("{what} is not part of this kind of store"),
    )
}

impl Disk {
    fn new(layout: Layout) -> Self {
        Self {
            layout,
            segs: RwLock::new(HashMap::new()),
            latched: Mutex::new(None),
        }
    }

    fn latched(&self) -> Option<StoreError> {
        self.latched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn check(&self) -> Result<(), StoreError> {
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
        })
    }

    fn segment_path(&self, log: &LogId, seg: SegmentId) -> Result<PathBuf, StoreError> {
        let dir = self.layout.log_dir(log).ok_or_else(|| not_in_layout(log))?;
        Ok(dir.join(Layout::segment_name(log, seg)))
    }

    fn meta_path(&self, file: MetaFile) -> Result<PathBuf, StoreError> {
        self.layout
            .meta_path(file)
            .ok_or_else(|| not_in_layout(file))
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

    fn remove_empty_tails(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
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

    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        self.check()?;
        let s = self.segment(log, seg)?;
        let r = s.range(log, seg, pos, len)?;
        Ok(f(s.view(r)))
    }

    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        meta::read(&self.meta_path(file)?)
    }
}

impl PageStore for Disk {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.mutate(|| {
            let path = self.segment_path(log, seg)?;
            if let Some(dir) = path.parent() {
                meta::create_dirs(dir)?;
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
            let s = self.segment(log, seg)?;
            let r = s.range(log, seg, pos, data.len() as u64)?;
            s.write(r, data);
            Ok(())
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
            let dir = self.layout.log_dir(log).ok_or_else(|| not_in_layout(log))?;
            meta::sync_dir(&dir)
        })
    }

    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        self.mutate(|| {
            let path = self.meta_path(file)?;
            // Java's string2File keeps a `.bak` of its text files; the RocketMQ
            // checkpoint is a mapped file and has none.
            let bak = !matches!(file, MetaFile::StoreCheckpoint);
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
}

impl PageStore for DiskStore {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        self.0.create(log, seg, len)
    }
    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        self.0.write(log, seg, pos, data)
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
