//! `MemStore`: an in-memory [`PageStore`] (used by the wasm host and the tests).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::Range;

use crate::store::{
    LogId, MetaFile, PageRead, PageStore, SegmentId, SegmentInfo, StoreError, StoreErrorKind,
};

/// Segments and meta files held in memory. Every write is immediately
/// "durable"; `sync` only checks its arguments.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    inner: RefCell<Inner>,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    logs: BTreeMap<LogId, BTreeMap<SegmentId, Vec<u8>>>,
    meta: BTreeMap<MetaFile, Vec<u8>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a segment with the given bytes, e.g. a file the user uploaded.
    pub fn insert_segment(&self, log: LogId, seg: SegmentId, bytes: Vec<u8>) {
        self.inner
            .borrow_mut()
            .logs
            .entry(log)
            .or_default()
            .insert(seg, bytes);
    }

    /// Sets a meta file.
    pub fn insert_meta(&self, file: MetaFile, bytes: Vec<u8>) {
        self.inner.borrow_mut().meta.insert(file, bytes);
    }

    /// A copy of a segment's bytes.
    pub fn segment_bytes(&self, log: &LogId, seg: SegmentId) -> Option<Vec<u8>> {
        self.inner.borrow().logs.get(log)?.get(&seg).cloned()
    }

    fn check(
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: usize,
        seg_len: usize,
    ) -> Result<Range<usize>, StoreError> {
        let end = pos.checked_add(len as u64);
        match end {
            Some(end) if end <= seg_len as u64 => Ok(pos as usize..end as usize),
            _ => Err(StoreError::out_of_range(
                log,
                seg,
                pos,
                len as u64,
                seg_len as u64,
            )),
        }
    }
}

impl PageRead for MemStore {
    fn logs(&self, like: &LogId) -> Result<Vec<LogId>, StoreError> {
        let same = |l: &LogId| core::mem::discriminant(l) == core::mem::discriminant(like);
        Ok(self
            .inner
            .borrow()
            .logs
            .keys()
            .filter(|l| same(l))
            .cloned()
            .collect())
    }

    fn segments(&self, log: &LogId) -> Result<Vec<SegmentInfo>, StoreError> {
        Ok(self
            .inner
            .borrow()
            .logs
            .get(log)
            .map(|m| {
                m.iter()
                    .map(|(&id, v)| SegmentInfo {
                        id,
                        len: v.len() as u64,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn with_view<R>(
        &self,
        log: &LogId,
        seg: SegmentId,
        pos: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, StoreError> {
        let inner = self.inner.borrow();
        let data = inner
            .logs
            .get(log)
            .and_then(|m| m.get(&seg))
            .ok_or_else(|| StoreError::not_found(log, seg))?;
        let len = usize::try_from(len)
            .map_err(|_| StoreError::out_of_range(log, seg, pos, len, data.len() as u64))?;
        let r = Self::check(log, seg, pos, len, data.len())?;
        Ok(f(&data[r]))
    }

    fn read_meta(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.borrow().meta.get(&file).cloned())
    }
}

impl PageStore for MemStore {
    fn create(&self, log: &LogId, seg: SegmentId, len: u64) -> Result<(), StoreError> {
        let len = usize::try_from(len)
            .map_err(|_| StoreError::new(StoreErrorKind::NoSpace, "segment larger than memory"))?;
        let mut inner = self.inner.borrow_mut();
        let m = inner.logs.entry(log.clone()).or_default();
        if m.contains_key(&seg) {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                alloc::format!("{log} segment {seg} exists"),
            ));
        }
        m.insert(seg, alloc::vec![0u8; len]);
        Ok(())
    }

    fn write(&self, log: &LogId, seg: SegmentId, pos: u64, data: &[u8]) -> Result<(), StoreError> {
        let mut inner = self.inner.borrow_mut();
        let buf = inner
            .logs
            .get_mut(log)
            .and_then(|m| m.get_mut(&seg))
            .ok_or_else(|| StoreError::not_found(log, seg))?;
        let r = Self::check(log, seg, pos, data.len(), buf.len())?;
        buf[r].copy_from_slice(data);
        Ok(())
    }

    fn sync(&self, log: &LogId, seg: SegmentId, range: Range<u64>) -> Result<(), StoreError> {
        let inner = self.inner.borrow();
        let buf = inner
            .logs
            .get(log)
            .and_then(|m| m.get(&seg))
            .ok_or_else(|| StoreError::not_found(log, seg))?;
        if range.start > range.end || range.end > buf.len() as u64 {
            return Err(StoreError::out_of_range(
                log,
                seg,
                range.start,
                range.end.saturating_sub(range.start),
                buf.len() as u64,
            ));
        }
        Ok(())
    }

    fn remove(&self, log: &LogId, seg: SegmentId) -> Result<(), StoreError> {
        let mut inner = self.inner.borrow_mut();
        let m = inner
            .logs
            .get_mut(log)
            .ok_or_else(|| StoreError::not_found(log, seg))?;
        m.remove(&seg)
            .map(|_| ())
            .ok_or_else(|| StoreError::not_found(log, seg))
    }

    fn sync_dir(&self, _log: &LogId) -> Result<(), StoreError> {
        Ok(())
    }

    fn write_meta(&self, file: MetaFile, contents: Option<&[u8]>) -> Result<(), StoreError> {
        let mut inner = self.inner.borrow_mut();
        match contents {
            Some(c) => inner.meta.insert(file, c.to_vec()),
            None => inner.meta.remove(&file),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract() {
        let s = MemStore::new();
        let log = LogId::CommitLog;
        s.create(&log, 0, 16).unwrap();
        assert!(s.create(&log, 0, 16).is_err());
        s.write(&log, 0, 4, b"abcd").unwrap();
        let mut out = [0u8; 6];
        s.read(&log, 0, 3, &mut out).unwrap();
        assert_eq!(&out, b"\0abcd\0");
        assert_eq!(
            s.write(&log, 0, 14, b"abc").unwrap_err().kind,
            StoreErrorKind::OutOfRange
        );
        assert_eq!(
            s.read(&log, 16, 0, &mut out).unwrap_err().kind,
            StoreErrorKind::NotFound
        );
        assert_eq!(s.segments(&log).unwrap(), [SegmentInfo { id: 0, len: 16 }]);
        s.remove(&log, 0).unwrap();
        assert!(s.segments(&log).unwrap().is_empty());
    }
}
