//! Atomic, durable replacement of small whole files (checkpoints, `currterm`, `abort`).
//!
//! `new contents → <name>.tmp, fsync → (copy the old file to <name>.bak) →
//! rename over <name> → fsync the directory`. A crash at any point leaves
//! either the old or the new file, never a mix. The `.bak` copy is what
//! Java's `string2File` keeps for its text files; nothing reads it back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use rocketlog_core::store::StoreError;

use super::io_err;

/// Fsyncs a directory, making entries created, renamed or removed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(&e, "fsync directory", dir, None))
}

/// Creates `dir` and any missing parents, fsyncing each parent that gained an entry.
pub(crate) fn create_dirs(dir: &Path) -> Result<(), StoreError> {
    // A relative path's last parent is "": the current directory, which exists.
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io_err(&e, "create directory", dir, None)),
    }
    match dir.parent() {
        Some(p) if p.as_os_str().is_empty() => sync_dir(Path::new(".")),
        Some(p) => sync_dir(p),
        None => Ok(()),
    }
}

/// Replaces `path` with `contents` atomically and durably; `keep_bak` first
/// copies the old contents to `<path>.bak`. `None` removes the file.
pub(crate) fn replace(
    path: &Path,
    contents: Option<&[u8]>,
    keep_bak: bool,
) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let Some(contents) = contents else {
        return match fs::remove_file(path) {
            Ok(()) => sync_dir(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&e, "remove", path, None)),
        };
    };
    create_dirs(dir)?;
    let tmp = with_suffix(path, ".tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| io_err(&e, "create", &tmp, None))?;
    f.write_all(contents)
        .map_err(|e| io_err(&e, "write", &tmp, Some(0)))?;
    f.sync_all().map_err(|e| io_err(&e, "fsync", &tmp, None))?;
    drop(f);
    if keep_bak {
        let bak = with_suffix(path, ".bak");
        match fs::copy(path, &bak) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&e, "copy to", &bak, None)),
        }
    }
    fs::rename(&tmp, path).map_err(|e| io_err(&e, "rename over", path, None))?;
    sync_dir(dir)
}

/// Reads a whole meta file; `None` if it does not exist.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&e, "read", path, None)),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}
