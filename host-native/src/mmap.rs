//! [`MmapStore`]: a read-only, memory-mapped [`PageRead`] over a store on disk.
//!
//! Where each log lives is given by [`StorePaths`] (see [`crate::resolve`] for
//! how a user's PATH becomes one). Files are opened read-only and mapped with
//! [`memmap2::Mmap`]; nothing is ever created, locked, truncated, written or
//! touched (no mtime change). Mappings are made lazily, on the first read of a
//! segment, and lent to callers through [`PageRead::with_view`] without a copy.
//!
//! Files in a log directory whose names are not offsets (or that are
//! directories) are not segments: they are skipped and remembered in
//! [`MmapStore::skipped`], so read commands can report them without failing.
//!
//! # Mapping hazard
//!
//! A memory map of a file that another process truncates turns reads of the
//! vanished pages into `SIGBUS`. This host assumes what the Java brokers
//! guarantee: data files are created at full size and never shrunk in place
//! (they are deleted whole, which keeps an existing mapping valid). A store
//! being *appended to* is fine: the mapping sees the bytes as they land, and
//! the core only trusts bytes its own walk validates.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use memmap2::Mmap;
use rocketlog_core::layout;
use rocketlog_core::store::{
    LogId, MetaFile, PageRead, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

/// Where one log's segments are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    /// A directory of segment files named by their start offsets.
    Dir(PathBuf),
    /// A single segment file, with the start offset taken from its name.
    File {
        /// The file.
        path: PathBuf,
        /// Its start offset.
        id: SegmentId,
    },
}

impl LogSource {
    /// The directory or file.
    pub fn path(&self) -> &Path {
        match self {
            Self::Dir(p) | Self::File { path: p, .. } => p,
        }
    }
}

/// The on-disk places of a store's logs and meta files. `None` means the store
/// (as given by the user's PATH) has no such part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorePaths {
    /// RocketMQ store root: `consumequeue/`, `batchconsumequeue/`, `index/`,
    /// `checkpoint`, `abort`.
    pub root: Option<PathBuf>,
    /// RocketMQ commitlog.
    pub commitlog: Option<LogSource>,
    /// DLedger member directory (`dledger-<id>`): `checkpoint`, `currterm`.
    pub dledger: Option<PathBuf>,
    /// DLedger data log.
    pub dledger_data: Option<LogSource>,
    /// DLedger index log.
    pub dledger_index: Option<LogSource>,
}

impl StorePaths {
    /// The path of a log's segment directory (or single file), if the store has it.
    pub fn log_path(&self, log: &LogId) -> Option<PathBuf> {
        self.source(log).map(|s| s.path().to_path_buf())
    }

    /// The path of segment `seg` of `log` (whether or not it exists).
    pub fn segment_path(&self, log: &LogId, seg: SegmentId) -> Option<PathBuf> {
        match self.source(log)? {
            LogSource::File { path, .. } => Some(path),
            LogSource::Dir(dir) => Some(dir.join(segment_name(log, seg))),
        }
    }

    /// The path of a meta file, if the store has the directory that holds it.
    pub fn meta_path(&self, file: MetaFile) -> Option<PathBuf> {
        match file {
            MetaFile::StoreCheckpoint => Some(self.root.as_ref()?.join("checkpoint")),
            MetaFile::Abort => Some(self.root.as_ref()?.join("abort")),
            MetaFile::DLedgerCheckpoint => Some(self.dledger.as_ref()?.join("checkpoint")),
            MetaFile::CurrTerm => Some(self.dledger.as_ref()?.join("currterm")),
            MetaFile::IndexSyncPoint => Some(self.root.as_ref()?.join(".rocketlog-index-sync")),
        }
    }

    fn source(&self, log: &LogId) -> Option<LogSource> {
        // A topic that is not one safe directory name would lead the reader
        // out of `consumequeue/`: no such queue.
        if let LogId::ConsumeQueue { topic, .. } | LogId::BatchConsumeQueue { topic, .. } = log
            && rocketlog_core::topic::check(topic.as_bytes()).is_err()
        {
            return None;
        }
        match log {
            LogId::CommitLog => self.commitlog.clone(),
            LogId::DLedgerData => self.dledger_data.clone(),
            LogId::DLedgerIndex => self.dledger_index.clone(),
            LogId::IndexFile => Some(LogSource::Dir(self.root.as_ref()?.join("index"))),
            LogId::ConsumeQueue { topic, queue_id } => Some(LogSource::Dir(
                self.root
                    .as_ref()?
                    .join("consumequeue")
                    .join(topic)
                    .join(queue_id.to_string()),
            )),
            LogId::BatchConsumeQueue { topic, queue_id } => Some(LogSource::Dir(
                self.root
                    .as_ref()?
                    .join("batchconsumequeue")
                    .join(topic)
                    .join(queue_id.to_string()),
            )),
        }
    }
}

/// The file name of segment `seg` (17-digit time for index files, else 20 digits).
pub fn segment_name(log: &LogId, seg: SegmentId) -> String {
    match log {
        LogId::IndexFile => format!("{seg:017}"),
        _ => layout::file_name(seg),
    }
}

/// Parses a segment file name of `log`.
pub fn parse_segment_name(log: &LogId, name: &str) -> Option<SegmentId> {
    match log {
        LogId::IndexFile => layout::parse_index_file_name(name),
        _ => layout::parse_file_name(name),
    }
}

/// A directory entry that is not a segment: it was left out of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The log whose directory holds it.
    pub log: LogId,
    /// The entry.
    pub path: PathBuf,
    /// Why it was left out.
    pub why: &'static str,
}

/// One mapped segment. Zero-length files cannot be mapped, so they are `Empty`.
#[derive(Debug)]
enum Mapped {
    Empty,
    Map(Mmap),
}

impl Mapped {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Empty => &[],
            Self::Map(m) => m,
        }
    }
}

/// Keep at most this many mappings cached; past it the cache is emptied (views
/// already lent keep their mapping alive through their `Arc`).
const MAX_CACHED_MAPS: usize = 512;

/// A read-only memory-mapped store. See the [module docs](self).
#[derive(Debug)]
pub struct MmapStore {
    paths: StorePaths,
    /// Mappings by log, then segment (nested so that a look-up by `&LogId`
    /// clones no topic string).
    maps: Mutex<BTreeMap<LogId, BTreeMap<SegmentId, Arc<Mapped>>>>,
    skipped: Mutex<Vec<Skipped>>,
}

impl MmapStore {
    /// A store over `paths`. Nothing is opened until it is read.
    pub fn new(paths: StorePaths) -> Self {
        Self {
            paths,
            maps: Mutex::new(BTreeMap::new()),
            skipped: Mutex::new(Vec::new()),
        }
    }

    /// Where the logs are.
    pub fn paths(&self) -> &StorePaths {
        &self.paths
    }

    /// Entries of log directories that were listed but are not segments
    /// (names that are not offsets, directories), in the order first seen.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.skipped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The whole mapped bytes of a segment (an `Arc` so they outlive the cache).
    pub fn segment_bytes(&self, log: &LogId, seg: SegmentId) -> Result<SegmentView, StoreError> {
        Ok(SegmentView(self.map(log, seg)?))
    }

    fn note_skipped(&self, log: &LogId, path: PathBuf, why: &'static str) {
        let mut s = self.skipped.lock().unwrap_or_else(PoisonError::into_inner);
        if !s.iter().any(|k| k.path == path) {
            s.push(Skipped {
                log: log.clone(),
                path,
                why,
            });
        }
    }

    fn map(&self, log: &LogId, seg: SegmentId) -> Result<Arc<Mapped>, StoreError> {
        if let Some(m) = self
            .maps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(log)
            .and_then(|l| l.get(&seg))
        {
            return Ok(Arc::clone(m));
        }
        let path = match self.paths.source(log) {
            Some(LogSource::File { path, id }) if id == seg => path,
            Some(LogSource::Dir(dir)) => dir.join(segment_name(log, seg)),
            _ => return Err(StoreError::not_found(log, seg)),
        };
        let mapped = Arc::new(map_file(&path).map_err(|e| io_error(&e, &path))?);
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        if maps.values().map(BTreeMap::len).sum::<usize>() >= MAX_CACHED_MAPS {
            maps.clear();
        }
        maps.entry(log.clone())
            .or_default()
            .insert(seg, Arc::clone(&mapped));
        Ok(mapped)
    }

    fn list_dir(&self, log: &LogId, dir: &Path) -> Result<Vec<SegmentInfo>, StoreError> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&e, dir)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| io_error(&e, dir))?;
            let path = ent.path();
            let name = ent.file_name();
            let Some(id) = name.to_str().and_then(|n| parse_segment_name(log, n)) else {
                self.note_skipped(log, path, "name is not a segment offset");
                continue;
            };
            // `metadata` follows symlinks, as opening the file would.
            let md = fs::metadata(&path).map_err(|e| io_error(&e, &path))?;
            if !md.is_file() {
                self.note_skipped(log, path, "not a regular file");
                continue;
            }
            out.push(SegmentInfo { id, len: md.len() });
        }
        out.sort_by_key(|s| s.id);
        Ok(out)
    }

    fn list_queues(&self, like: &LogId, dir: &Path) -> Result<Vec<LogId>, StoreError> {
        let batch = matches!(like, LogId::BatchConsumeQueue { .. });
        let mut out = Vec::new();
        let topics = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_error(&e, dir)),
        };
        for t in topics {
            let t = t.map_err(|e| io_error(&e, dir))?;
            let tpath = t.path();
            if !tpath.is_dir() {
                continue;
            }
            let Some(topic) = t.file_name().to_str().map(str::to_owned) else {
                self.note_skipped(like, tpath, "topic directory name is not UTF-8");
                continue;
            };
            let queues = fs::read_dir(&tpath).map_err(|e| io_error(&e, &tpath))?;
            for q in queues {
                let q = q.map_err(|e| io_error(&e, &tpath))?;
                // Java ignores queue directories whose names are not numbers.
                let Some(queue_id) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
                else {
                    self.note_skipped(like, q.path(), "queue directory name is not a number");
                    continue;
                };
                if !q.path().is_dir() {
                    self.note_skipped(like, q.path(), "queue entry is not a directory");
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
}

/// A whole segment's mapped bytes, kept alive while held.
#[derive(Debug, Clone)]
pub struct SegmentView(Arc<Mapped>);

impl std::ops::Deref for SegmentView {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// Opens `path` read-only and maps all of it.
fn map_file(path: &Path) -> io::Result<Mapped> {
    // Read-only open: no create, no truncate, no lock; reading does not change mtime.
    let file = File::open(path)?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if md.len() == 0 {
        return Ok(Mapped::Empty);
    }
    // SAFETY: `Mmap::map` is unsafe because the mapped bytes may change or
    // disappear underneath us if another process modifies the file. The map is
    // read-only (PROT_READ, MAP_SHARED) and we only ever hand out `&[u8]` views:
    // - Concurrent appends by a broker change bytes we may be reading. The core
    //   treats every byte as untrusted input (bounds-checked decoding, CRCs), so
    //   a torn or changing record yields a decode error, never undefined
    //   behaviour in our code: `u8` has no invalid bit patterns.
    // - Truncation below the mapped length would make reads of the lost pages
    //   raise SIGBUS. RocketMQ and DLedger create their files at full size and
    //   never shrink them in place (they delete whole files, which keeps existing
    //   mappings valid), and rocketlog's own writer follows the same rule. We
    //   rely on that: a store must not be truncated in place while it is read.
    let map = unsafe { Mmap::map(&file)? };
    // The file descriptor is not needed once mapped; dropping `file` closes it.
    Ok(Mapped::Map(map))
}

/// The first data extent of `path` within `pos..end` (`Ok(None)`: only holes
/// there), from `lseek(SEEK_DATA / SEEK_HOLE)`; `Err` when the file system
/// cannot tell (the caller then assumes data everywhere).
///
/// The answer is as of the call: a live broker may write into a hole a moment
/// later, exactly as it may write a moment after the bytes were read.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn data_extent(path: &Path, pos: u64, end: u64) -> io::Result<Option<std::ops::Range<u64>>> {
    use std::os::fd::AsRawFd;
    // Read-only open, as `map_file`: no create, no truncate, no lock.
    let file = File::open(path)?;
    let fd = file.as_raw_fd();
    let Ok(at) = libc::off_t::try_from(pos) else {
        return Err(io::Error::other("offset past off_t"));
    };
    // SAFETY: `lseek` only moves the offset of `fd`, a descriptor this
    // function owns (through `file`) for the whole call; it reads no memory
    // of ours.
    let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
    if data < 0 {
        let e = io::Error::last_os_error();
        // ENXIO: no data at or after `pos` (or `pos` is past the end of file).
        return match e.raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            _ => Err(e),
        };
    }
    // Non-negative here.
    let data = data as u64;
    if data >= end {
        return Ok(None);
    }
    if data < pos {
        return Err(io::Error::other("SEEK_DATA went backwards"));
    }
    // SAFETY: as above; `data` came from the kernel and fits an `off_t`.
    let hole = unsafe { libc::lseek(fd, data as libc::off_t, libc::SEEK_HOLE) };
    if hole < 0 {
        // Data found but not where it ends: assume it runs to `end`.
        return Ok(Some(data..end));
    }
    let hole = (hole as u64).clamp(data + 1, end);
    Ok(Some(data..hole))
}

/// Elsewhere the file system is not asked: data may be everywhere.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn data_extent(_path: &Path, pos: u64, end: u64) -> io::Result<Option<std::ops::Range<u64>>> {
    Ok(Some(pos..end))
}

fn io_error(e: &io::Error, path: &Path) -> StoreError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => StoreErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => StoreErrorKind::PermissionDenied,
        _ => StoreErrorKind::Io,
    };
    StoreError::new(kind, format!("{}: {e}", path.display()))
}

fn range_of(
    log: &LogId,
    seg: SegmentId,
    pos: u64,
    len: u64,
    have: usize,
) -> Result<std::ops::Range<usize>, StoreError> {
    let err = || StoreError::out_of_range(log, seg, pos, len, have as u64);
    let end = pos.checked_add(len).ok_or_else(err)?;
    if end > have as u64 {
        return Err(err());
    }
    // Both fit in `have`, which is a usize.
    Ok(pos as usize..end as usize)
}

impl PageRead for MmapStore {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        match like {
            LogId::ConsumeQueue { .. } | LogId::BatchConsumeQueue { .. } => {
                let Some(root) = &self.paths.root else {
                    return Ok(Vec::new());
                };
                let sub = if matches!(like, LogId::ConsumeQueue { .. }) {
                    "consumequeue"
                } else {
                    "batchconsumequeue"
                };
                self.list_queues(like, &root.join(sub))
            }
            other => Ok(match self.paths.source(other) {
                Some(LogSource::Dir(d)) if d.is_dir() => vec![other.clone()],
                Some(LogSource::File { path, .. }) if path.is_file() => vec![other.clone()],
                _ => Vec::new(),
            }),
        }
    }

    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        match self.paths.source(log) {
            None => Ok(Vec::new()),
            Some(LogSource::Dir(dir)) => self.list_dir(log, &dir),
            Some(LogSource::File { path, id }) => {
                let md = fs::metadata(&path).map_err(|e| io_error(&e, &path))?;
                Ok(vec![SegmentInfo { id, len: md.len() }])
            }
        }
    }

    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        let m = self.map(log, seg)?;
        let bytes = m.bytes();
        let r = range_of(log, seg, pos, len, bytes.len())?;
        Ok(f(&bytes[r]))
    }

    /// Asks the file system where `pos..end` of the segment file holds data
    /// (`lseek` `SEEK_DATA`, then `SEEK_HOLE`): holes of a sparse file and
    /// preallocated, never-written extents read as zeros and are skipped
    /// without faulting their pages in. The file is opened read-only for the
    /// question and closed again; nothing is locked or changed. Any answer
    /// the file system cannot give falls back to "maybe data everywhere".
    fn data_range(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        end: u64,
    ) -> Result<Option<std::ops::Range<u64>>, StoreError> {
        if pos >= end {
            return Ok(None);
        }
        let Some(path) = self.paths.segment_path(log, seg) else {
            return Ok(Some(pos..end));
        };
        Ok(data_extent(&path, pos, end).unwrap_or(Some(pos..end)))
    }

    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(path) = self.paths.meta_path(file) else {
            return Ok(None);
        };
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&e, &path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, b: &[u8]) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b).unwrap();
    }

    #[test]
    fn lists_maps_and_skips() {
        let t = tempfile::tempdir().unwrap();
        let cl = t.path().join("commitlog");
        write(&cl.join(layout::file_name(0)), &[1, 2, 3, 4]);
        write(&cl.join(layout::file_name(4)), &[]);
        write(&cl.join("not-an-offset"), &[9]);
        fs::create_dir_all(cl.join(layout::file_name(8))).unwrap();
        let s = MmapStore::new(StorePaths {
            root: Some(t.path().to_path_buf()),
            commitlog: Some(LogSource::Dir(cl.clone())),
            ..StorePaths::default()
        });
        let segs = s.segments(&LogId::CommitLog).unwrap();
        assert_eq!(
            segs,
            [SegmentInfo { id: 0, len: 4 }, SegmentInfo { id: 4, len: 0 }]
        );
        assert_eq!(s.skipped().len(), 2);
        let mut out = [0u8; 2];
        s.read(&LogId::CommitLog, 0, 1, &mut out).unwrap();
        assert_eq!(out, [2, 3]);
        let e = s.read(&LogId::CommitLog, 0, 3, &mut out).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::OutOfRange);
        // Zero-length segment: an empty view works, anything more is out of range.
        assert_eq!(s.with_view(&LogId::CommitLog, 4, 0, 0, |v| v.len()), Ok(0));
        assert!(s.read(&LogId::CommitLog, 4, 0, &mut out).is_err());
        let e = s.read(&LogId::CommitLog, 12, 0, &mut out).unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::NotFound);
        assert!(
            s.logs(&LogId::ConsumeQueue {
                topic: String::new(),
                queue_id: 0
            })
            .unwrap()
            .is_empty()
        );
        assert_eq!(s.read_meta(MetaFile::StoreCheckpoint), Ok(None));
    }

    /// `data_range` over a sparse file: holes are skipped, every data
    /// extent holding a non-zero byte is returned, and the scan through it
    /// finds the same first non-zero byte as reading everything (the oracle).
    #[test]
    fn data_range_skips_holes_and_keeps_data() {
        use std::io::{Seek, SeekFrom, Write};
        let t = tempfile::tempdir().unwrap();
        let cl = t.path().join("commitlog");
        fs::create_dir_all(&cl).unwrap();
        let path = cl.join(layout::file_name(0));
        let len: u64 = 64 << 20;
        let mut f = File::create(&path).unwrap();
        f.set_len(len).unwrap();
        // Data at the head, then a hole, then one non-zero byte at 40 MiB + 3.
        f.write_all(&[7u8; 4096]).unwrap();
        let late = (40 << 20) + 3;
        f.seek(SeekFrom::Start(late)).unwrap();
        f.write_all(&[0x99]).unwrap();
        f.sync_all().unwrap();
        drop(f);
        let s = MmapStore::new(StorePaths {
            commitlog: Some(LogSource::Dir(cl.clone())),
            ..StorePaths::default()
        });
        let log = LogId::CommitLog;
        let whole = s.segment_bytes(&log, 0).unwrap();
        for from in [0, 1, 4095, 4096, 8192, 1 << 20, late - 1, late, late + 1] {
            let want = rocketlog_core::scan::zeros::first_nonzero(&whole[from as usize..])
                .map(|p| from + p as u64);
            let got = rocketlog_core::scan::first_nonzero_in(&s, &log, 0, from, len).unwrap();
            assert_eq!(got, want, "from {from}");
            // Each hint lies within the asked range and starts at or after it.
            if let Some(r) = s.data_range(&log, 0, from, len).unwrap() {
                assert!(from <= r.start && r.start < r.end && r.end <= len, "{r:?}");
            }
        }
        // Past the last data there is nothing to read (where the file system
        // knows its holes; a file system that does not may say "data").
        if let Some(r) = s.data_range(&log, 0, late + 4096, len).unwrap() {
            assert!(
                whole[r.start as usize..r.end as usize]
                    .iter()
                    .all(|&b| b == 0)
            );
        }
        assert_eq!(s.data_range(&log, 0, 5, 5).unwrap(), None);
        // Nothing was created next to the file.
        assert_eq!(fs::read_dir(&cl).unwrap().count(), 1);
    }
}
