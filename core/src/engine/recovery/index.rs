//! Step 4 of recovery: which index files are kept and where indexing resumes.

#[allow(clippy::wildcard_imports)]
use super::*;

impl<S: PageStore> CommitLog<S> {
    /// Decides which index files to keep and where indexing resumes: returns
    /// (first offset to index, keys of the record at that offset to skip).
    pub(super) fn plan_index(
        &mut self,
        rep: &mut RecoveryReport,
        min: u64,
        end: u64,
        now_ms: i64,
    ) -> Result<(u64, usize), EngineError> {
        let g = self.cfg.index_geometry();
        let mut files: Vec<(SegmentId, crate::codec::index_file::IndexHeader)> = Vec::new();
        for s in self.store.segments(&LogId::IndexFile)? {
            if s.len != g.file_len() {
                self.store.remove(&LogId::IndexFile, s.id)?;
                self.store.sync_dir(&LogId::IndexFile)?;
                rep.removed.push((LogId::IndexFile, s.id));
                rep.notes.push(alloc::format!(
                    "index file {} has {} bytes, not {}; removed",
                    s.id,
                    s.len,
                    g.file_len()
                ));
                continue;
            }
            files.push((s.id, IndexFiles::read_header(&self.store, s.id)?));
        }
        let valid = |h: &crate::codec::index_file::IndexHeader| {
            h.index_count >= 0
                && (h.index_count as u32) <= g.entries
                && h.hash_slot_count >= 0
                && (h.index_count <= 1
                    || (h.end_phy_offset >= 0 && (h.end_phy_offset as u64) < end))
        };
        let mut target = files.iter().position(|(_, h)| !valid(h));
        if let Some(last) = files.len().checked_sub(1)
            && (rep.abnormal_shutdown || files[last].1.index_count <= 1)
        {
            target = Some(target.map_or(last, |t| t.min(last)));
        }
        let mut idx = IndexFiles::new(g);
        let Some(t) = target else {
            // Everything is trusted: index what the last file has not seen.
            let from = match files.last() {
                Some((_, h)) if h.end_phy_offset as u64 >= min => {
                    (h.end_phy_offset as u64, usize::MAX)
                }
                _ => (min, 0),
            };
            idx.sealed_timestamp = sealed_ts(&files, &self.checkpoint);
            idx.files = files;
            self.index = idx;
            return Ok(from);
        };
        for (seg, _) in files.drain(t + 1..).rev() {
            self.store.remove(&LogId::IndexFile, seg)?;
            rep.removed.push((LogId::IndexFile, seg));
        }
        let (name, _) = files.remove(t);
        self.store.remove(&LogId::IndexFile, name)?;
        self.store.sync_dir(&LogId::IndexFile)?;
        rep.index_rebuilt = Some(name);
        let (from, skip) = match files.last() {
            Some(&(seg, h)) if h.end_phy_offset > 0 && h.end_phy_offset as u64 >= min => (
                h.end_phy_offset as u64,
                trailing_keys_of_last(&self.store, g, seg, &h)?,
            ),
            _ => (min, 0),
        };
        idx.sealed_timestamp = files.last().map_or(0, |(_, h)| h.end_timestamp);
        idx.files = files;
        self.index = idx;
        // Recreate the file under its old name, header pre-set from its predecessor.
        let mut keep_name = Some(name);
        let mut namer = |ms: i64| keep_name.take().unwrap_or(ms as u64);
        self.index.create(&self.store, &mut namer, now_ms)?;
        Ok((from, skip))
    }
}

fn sealed_ts(
    files: &[(SegmentId, crate::codec::index_file::IndexHeader)],
    cp: &StoreCheckpoint,
) -> i64 {
    match files.len() {
        0 | 1 => cp.index_msg_timestamp,
        n => files[n - 2].1.end_timestamp,
    }
}
