//! From a user's PATH to a store: which kind it is and where its logs are.
//!
//! Accepted forms (the kind is decided from the bytes where names leave a doubt):
//!
//! | PATH | reads |
//! | --- | --- |
//! | RocketMQ store root (`commitlog/`, `consumequeue/`, ...) | the whole store |
//! | RocketMQ root in DLedger commitlog mode (holds `dledger-<id>/`) | the whole store |
//! | a `commitlog/` directory (or any directory of commitlog files) | that commitlog only |
//! | a single commitlog file (base offset from its 20-digit name) | that file only |
//! | a DLedger store: the directory holding `dledger-<id>/`, or `dledger-<id>/` | data, index, checkpoint, currterm |
//! | a DLedger `data/` directory | that data log only |
//! | a single DLedger data file | that file only |
//!
//! A DLedger store whose entries hold CommitLog records is a RocketMQ store in
//! DLedger commitlog mode even when PATH names only its `dledger-<id>/` or `data/`.
//! Narrower forms read less: consume queues and index files need the root.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rocketlog_core::be;
use rocketlog_core::codec::{dledger, message};
use rocketlog_core::layout;

use crate::error::Error;
use crate::mmap::{LogSource, StorePaths};

/// Which kind of store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Plain RocketMQ (CommitLog files).
    RocketMq,
    /// RocketMQ in DLedger commitlog mode: one message per DLedger entry.
    RocketMqDLedger,
    /// A DLedger store (entries with opaque bodies).
    DLedger,
}

impl StoreKind {
    /// Short name for output.
    pub fn name(self) -> &'static str {
        match self {
            Self::RocketMq => "rocketmq",
            Self::RocketMqDLedger => "rocketmq-dledger",
            Self::DLedger => "dledger",
        }
    }
}

/// Which form of PATH was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathForm {
    /// A RocketMQ store root.
    Root,
    /// A directory of commitlog files.
    CommitLogDir,
    /// One commitlog file.
    CommitLogFile,
    /// A directory holding one `dledger-<id>/`.
    DLedgerParent,
    /// A `dledger-<id>/` directory.
    DLedgerMember,
    /// A directory of DLedger data files.
    DLedgerDataDir,
    /// One DLedger data file.
    DLedgerDataFile,
}

/// A resolved PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The PATH as given.
    pub path: PathBuf,
    /// The kind of store.
    pub kind: StoreKind,
    /// The form of PATH.
    pub form: PathForm,
    /// Where its logs are.
    pub paths: StorePaths,
}

/// Resolves PATH. Reads directory listings and the first bytes of at most a
/// few files; never writes.
pub fn resolve(path: &Path) -> Result<Resolved, Error> {
    let md = fs::metadata(path).map_err(|e| Error::io(path, "read metadata of", e))?;
    let (kind, form, paths) = if md.is_file() {
        resolve_file(path)?
    } else if md.is_dir() {
        resolve_dir(path)?
    } else {
        return Err(not_store(path, "neither a regular file nor a directory"));
    };
    Ok(Resolved {
        path: path.to_path_buf(),
        kind,
        form,
        paths,
    })
}

fn not_store(path: &Path, why: impl Into<String>) -> Error {
    Error::NotAStore {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// What the first bytes of a log file look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Looks {
    /// A CommitLog record (or a CommitLog end-of-file blank).
    CommitLog,
    /// A DLedger entry; `holds_message` when its body is a CommitLog record.
    DLedger { holds_message: bool },
    /// A DLedger blank (magic -1): a data file, contents unknown.
    DLedgerBlank,
    /// Zeros or nothing: could be any preallocated file.
    Empty,
    /// Neither format.
    Unknown,
}

const HEAD_LEN: usize = dledger::HEADER_LEN + 8;

fn head(path: &Path) -> Result<Vec<u8>, Error> {
    let f = fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut buf = Vec::with_capacity(HEAD_LEN);
    f.take(HEAD_LEN as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(buf)
}

fn looks(b: &[u8]) -> Looks {
    if b.iter().all(|&x| x == 0) {
        return Looks::Empty;
    }
    let m4 = be::i32_at(b, 4);
    if matches!(
        m4,
        Some(message::MAGIC_V1 | message::MAGIC_V2 | message::BLANK_MAGIC)
    ) {
        return Looks::CommitLog;
    }
    let m0 = be::i32_at(b, 0);
    if m0 == Some(dledger::BLANK_MAGIC) {
        return Looks::DLedgerBlank;
    }
    let size = m4.unwrap_or(0);
    if m0.is_some_and(|m| dledger::Line::Master.valid_magic(m))
        && size >= dledger::HEADER_LEN as i32
    {
        let inner = be::i32_at(b, dledger::HEADER_LEN + 4);
        return Looks::DLedger {
            holds_message: matches!(inner, Some(message::MAGIC_V1 | message::MAGIC_V2)),
        };
    }
    Looks::Unknown
}

/// Looks at the files of a log directory (in name order) until one tells.
fn looks_dir(dir: &Path) -> Result<(Looks, usize), Error> {
    let mut files = Vec::new();
    for ent in fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let ent = ent.map_err(|e| Error::io(dir, "list", e))?;
        let p = ent.path();
        if let Some(id) = ent.file_name().to_str().and_then(layout::parse_file_name)
            && p.is_file()
        {
            files.push((id, p));
        }
    }
    files.sort();
    let n = files.len();
    let mut verdict = Looks::Empty;
    for (_, p) in files.iter().take(8) {
        match looks(&head(p)?) {
            Looks::Empty => continue,
            Looks::DLedgerBlank => verdict = Looks::DLedgerBlank,
            other => return Ok((other, n)),
        }
    }
    Ok((verdict, n))
}

fn name_of(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

fn parent_name(p: &Path) -> &str {
    p.parent().map(name_of).unwrap_or("")
}

fn dledger_kind(looks: Looks) -> StoreKind {
    match looks {
        Looks::DLedger {
            holds_message: true,
        } => StoreKind::RocketMqDLedger,
        _ => StoreKind::DLedger,
    }
}

fn resolve_file(path: &Path) -> Result<(StoreKind, PathForm, StorePaths), Error> {
    let name = name_of(path);
    let Some(id) = layout::parse_file_name(name) else {
        return Err(not_store(
            path,
            "a single log file must keep its 20-digit offset name (it gives the base offset)",
        ));
    };
    let src = LogSource::File {
        path: path.to_path_buf(),
        id,
    };
    let parent = parent_name(path);
    let looks = looks(&head(path)?);
    let as_dledger = |looks| {
        Ok((
            dledger_kind(looks),
            PathForm::DLedgerDataFile,
            StorePaths {
                dledger_data: Some(src.clone()),
                ..StorePaths::default()
            },
        ))
    };
    let as_commitlog = || {
        Ok((
            StoreKind::RocketMq,
            PathForm::CommitLogFile,
            StorePaths {
                commitlog: Some(src.clone()),
                ..StorePaths::default()
            },
        ))
    };
    // Records decide; where they do not (zeros, a blank, garbage), the
    // directory name does, and the readers then report what is wrong.
    match (looks, parent) {
        (Looks::CommitLog, _) => as_commitlog(),
        (Looks::DLedger { .. }, _) => as_dledger(looks),
        (_, "commitlog") => as_commitlog(),
        (_, "data") | (Looks::DLedgerBlank, _) => as_dledger(looks),
        (Looks::Empty, _) => Err(not_store(
            path,
            "the file is empty or all zeros and its directory name (not `commitlog` or `data`) does not tell its kind",
        )),
        (Looks::Unknown, _) => Err(not_store(
            path,
            "at offset 0: neither a CommitLog record nor a DLedger entry",
        )),
    }
}

fn is_dir(p: &Path) -> bool {
    p.is_dir()
}

/// A `dledger-<id>`-like member directory: has `data/`.
fn member_paths(dir: &Path) -> StorePaths {
    let index = dir.join("index");
    StorePaths {
        dledger: Some(dir.to_path_buf()),
        dledger_data: Some(LogSource::Dir(dir.join("data"))),
        dledger_index: is_dir(&index).then_some(LogSource::Dir(index)),
        ..StorePaths::default()
    }
}

fn resolve_dir(dir: &Path) -> Result<(StoreKind, PathForm, StorePaths), Error> {
    let mut members = Vec::new();
    for ent in fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let ent = ent.map_err(|e| Error::io(dir, "list", e))?;
        let p = ent.path();
        if name_of(&p).starts_with("dledger-") && is_dir(&p.join("data")) {
            members.push(p);
        }
    }
    members.sort();
    let has = |n: &str| is_dir(&dir.join(n));
    let rocketmq_root = has("commitlog") || has("consumequeue") || has("batchconsumequeue");
    let commitlog = has("commitlog").then(|| LogSource::Dir(dir.join("commitlog")));

    // A DLedger member directory itself.
    if has("data") && (name_of(dir).starts_with("dledger-") || has("index")) {
        let (looks, _) = looks_dir(&dir.join("data"))?;
        return Ok((
            dledger_kind(looks),
            PathForm::DLedgerMember,
            member_paths(dir),
        ));
    }
    if members.len() > 1 {
        let names: Vec<&str> = members.iter().map(|p| name_of(p)).collect();
        return Err(Error::Ambiguous {
            path: dir.to_path_buf(),
            why: format!(
                "it holds several DLedger members ({}): pass one of them",
                names.join(", ")
            ),
        });
    }
    if let Some(member) = members.first() {
        let rocketmq_side = rocketmq_root || has("index") || dir.join("checkpoint").is_file();
        let (looks, _) = looks_dir(&member.join("data"))?;
        let mut paths = member_paths(member);
        if rocketmq_side {
            paths.root = Some(dir.to_path_buf());
            paths.commitlog = commitlog;
            return Ok((StoreKind::RocketMqDLedger, PathForm::Root, paths));
        }
        return Ok((dledger_kind(looks), PathForm::DLedgerParent, paths));
    }
    if rocketmq_root {
        // The root's layout says what it is; its records are checked by the readers.
        return Ok((
            StoreKind::RocketMq,
            PathForm::Root,
            StorePaths {
                root: Some(dir.to_path_buf()),
                commitlog,
                ..StorePaths::default()
            },
        ));
    }
    // A directory of log files.
    let (looks, files) = looks_dir(dir)?;
    let name = name_of(dir);
    let commitlog_dir = || StorePaths {
        commitlog: Some(LogSource::Dir(dir.to_path_buf())),
        ..StorePaths::default()
    };
    let data_dir = || StorePaths {
        dledger_data: Some(LogSource::Dir(dir.to_path_buf())),
        ..StorePaths::default()
    };
    match (looks, name) {
        (Looks::CommitLog, _) | (_, "commitlog") => {
            Ok((StoreKind::RocketMq, PathForm::CommitLogDir, commitlog_dir()))
        }
        (Looks::DLedger { .. } | Looks::DLedgerBlank, _) | (_, "data") => {
            Ok((dledger_kind(looks), PathForm::DLedgerDataDir, data_dir()))
        }
        (Looks::Empty, _) if files > 0 => Err(not_store(
            dir,
            "its files are empty or all zeros and the directory name (not `commitlog` or `data`) does not tell their kind",
        )),
        (Looks::Empty, _) => Err(not_store(
            dir,
            "no commitlog/, consumequeue/, dledger-<id>/ or 20-digit log files in it",
        )),
        (Looks::Unknown, _) => Err(not_store(
            dir,
            "at offset 0 of its first non-empty file: neither a CommitLog record nor a DLedger entry",
        )),
    }
}

/// Builds a resolved store for a path known to be a RocketMQ root (for tests
/// and embedders that know what they have).
pub fn rocketmq_root(root: &Path) -> StorePaths {
    StorePaths {
        root: Some(root.to_path_buf()),
        commitlog: Some(LogSource::Dir(root.join("commitlog"))),
        ..StorePaths::default()
    }
}
