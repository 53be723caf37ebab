//! The store's `lock` file: one writer per store, across processes.
//!
//! As the reference does (`DefaultMessageStore.start`, spec §6.3) the lock is
//! taken on byte 0 of `<dir>/lock`, then the 4 ASCII bytes `lock` are written
//! there and forced. On Linux the lock is an *open file description* record
//! lock (`F_OFD_SETLK`): it conflicts with the POSIX `fcntl` lock a Java
//! broker takes on the same byte, and, unlike a POSIX lock, also with a second
//! open of the same store inside this process. Elsewhere `flock` is used.
//! The lock is released when the [`StoreLock`] is dropped: explicitly, before
//! the descriptor closes, because a child process forked by another thread
//! holds a copy of the descriptor until it execs, and an open file
//! description's lock lives as long as any copy (a close-then-reopen would
//! then find the store "locked by another writer"). A dying process releases
//! it too.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rocketlog_core::store::{StoreError, StoreErrorKind};

use super::io_err;

/// A held store lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Creates (if needed) and locks `path`. Fails with a message naming the
    /// path when another writer holds it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use rocketlog::store::StoreLock;
    /// let lock = StoreLock::acquire(&dir.path().join("lock")).unwrap();
    /// // A second writer is refused while the first holds the lock.
    /// assert!(StoreLock::acquire(&dir.path().join("lock")).is_err());
    /// drop(lock);
    /// assert!(StoreLock::acquire(&dir.path().join("lock")).is_ok());
    /// ```
    pub fn acquire(path: &Path) -> Result<Self, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_err(&e, "open lock file", path, None))?;
        if let Err(e) = try_lock(&file) {
            return Err(match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EACCES) => StoreError::new(
                    StoreErrorKind::Other,
                    format!(
                        "{}: the store is locked by another writer (a running broker or another \
                         rocketlog handle); only one writer may open a store",
                        path.display()
                    ),
                ),
                _ => io_err(&e, "lock", path, None),
            });
        }
        // As Java: write "lock" at position 0 and force it.
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(b"lock"))
            .and_then(|()| file.sync_data())
            .map_err(|e| io_err(&e, "write", path, Some(0)))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open lock file (kept open for the lifetime of the lock).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Nothing to do on failure: the descriptor closes right after.
        let _ = unlock(&self.file);
    }
}

#[cfg(target_os = "linux")]
fn unlock(file: &File) -> io::Result<()> {
    ofd_lock(file, libc::F_UNLCK)
}

#[cfg(not(target_os = "linux"))]
fn unlock(file: &File) -> io::Result<()> {
    // SAFETY: the descriptor is open (owned by `file`) for the duration of the call.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn try_lock(file: &File) -> io::Result<()> {
    ofd_lock(file, libc::F_WRLCK)
}

/// `F_OFD_SETLK` of type `l_type` (`F_WRLCK` or `F_UNLCK`) on byte 0, the
/// byte Java's broker locks.
#[cfg(target_os = "linux")]
fn ofd_lock(file: &File, l_type: libc::c_int) -> io::Result<()> {
    // SAFETY: `flock` is a plain C struct for which all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 1;
    fl.l_pid = 0; // required by F_OFD_SETLK
    // SAFETY: the descriptor is open (owned by `file`) for the duration of
    // the call and `fl` points to a valid, initialised `struct flock`.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn try_lock(file: &File) -> io::Result<()> {
    // SAFETY: the descriptor is open for the duration of the call.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the descriptor (what a child forked by another thread holds
    /// until it execs) must not keep the lock after the holder drops it.
    #[test]
    fn dropping_the_lock_releases_it_while_a_copy_of_the_descriptor_lives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let lock = StoreLock::acquire(&path).unwrap();
        let copy = lock.file().try_clone().unwrap();
        assert!(StoreLock::acquire(&path).is_err(), "held");
        drop(lock);
        let again = StoreLock::acquire(&path);
        assert!(again.is_ok(), "still locked after drop: {again:?}");
        drop(copy);
    }
}
