//! `rocketlog append`: records as JSON lines on stdin (the `dump --format
//! jsonl` schema) appended to a store.
//!
//! * Without `--replay`, the fields a broker (or DLedger leader) assigns —
//!   offsets, storeTimestamp, storeHost, msgId, index, term, pos, CRCs — are
//!   assigned; missing optional fields get defaults (queueId 0, flag 0,
//!   sysFlag 0, bornTimestamp now, bornHost 127.0.0.1:0, no properties).
//! * With `--replay --like SRC`, every field is kept as given and the kind and
//!   file sizes come from SRC, so `dump --format jsonl SRC | append DST
//!   --replay --like SRC` reproduces SRC's files byte for byte.
//!
//! Each record is acknowledged on stdout with one JSON line. With
//! `--flush sync` the acknowledgement comes only after the record is durable:
//! records are made durable together (one group commit) whenever no more
//! input is waiting, or every 4096 records.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use rocketlog_core::codec::dledger::{EntryParts, HEADER_LEN, MAGIC_NORMAL};
use rocketlog_core::codec::index_file::IndexGeometry;
use rocketlog_core::codec::message::Host;
use rocketlog_core::engine::commitlog::{CommitLogConfig, Message};
use rocketlog_core::engine::dispatch::IndexNamer;
use rocketlog_core::engine::dledger::DLedgerConfig;
use rocketlog_core::json::push_str;
use rocketlog_core::store::{LogId, PageRead};

use super::jsonl_input::{InputError, Lines, MessageIn, RecordIn, parse};
use super::write_dlcl::{DlclSizes, DlclWriter};
use super::{Ctx, exit};
use crate::embed::{
    DLedgerStore, DLedgerStoreConfig, FlushDiskType, RocketMqConfig, RocketMqStore,
};
use crate::mmap::MmapStore;
use crate::resolve::{Resolved, StoreKind, resolve};
use crate::store::os;

/// Records are made durable at least this often under `--flush sync`.
const GROUP_MAX: usize = 4096;

/// Which kind of store to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// Plain RocketMQ: `commitlog/`, `consumequeue/`, `index/`.
    Rocketmq,
    /// A DLedger store (`dledger-<id>/`), opaque entry bodies.
    Dledger,
    /// RocketMQ in DLedger commitlog mode (new stores only).
    RocketmqDledger,
}

impl Kind {
    pub(crate) fn of(k: StoreKind) -> Self {
        match k {
            StoreKind::RocketMq => Self::Rocketmq,
            StoreKind::DLedger => Self::Dledger,
            StoreKind::RocketMqDLedger => Self::RocketmqDledger,
        }
    }
}

/// When acknowledgements are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Flush {
    /// After the record is durable (group commit).
    Sync,
    /// At once; everything is made durable at the end.
    Async,
}

/// File sizes (`--create`, or to fill in what an existing store does not show).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct SizeArgs {
    /// mappedFileSizeCommitLog (RocketMQ; also the DLedger data file size in DLedger mode).
    #[arg(long, value_name = "BYTES")]
    pub(crate) commitlog_file_size: Option<u64>,
    /// mappedFileSizeConsumeQueue.
    #[arg(long, value_name = "BYTES")]
    pub(crate) consume_queue_file_size: Option<u64>,
    /// maxHashSlotNum of IndexFiles.
    #[arg(long, value_name = "N")]
    pub(crate) max_hash_slot_num: Option<u32>,
    /// maxIndexNum of IndexFiles.
    #[arg(long, value_name = "N")]
    pub(crate) max_index_num: Option<u32>,
    /// DLedger data file size (mappedFileSizeForEntryData).
    #[arg(long, value_name = "BYTES")]
    pub(crate) data_file_size: Option<u64>,
    /// DLedger index file size (mappedFileSizeForEntryIndex, a multiple of 32).
    #[arg(long, value_name = "BYTES")]
    pub(crate) index_file_size: Option<u64>,
}

/// `append` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Store to append to: a RocketMQ store root, or the directory holding `dledger-<id>/`.
    store: PathBuf,
    /// Kind of store (default: the existing store's, else rocketmq).
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// sync: acknowledge each record once durable; async: at once.
    #[arg(long, value_enum, default_value_t = Flush::Async)]
    flush: Flush,
    /// Create the store if it does not exist.
    #[arg(long)]
    create: bool,
    #[command(flatten)]
    sizes: SizeArgs,
    /// Keep every field of the input (offsets, timestamps, hosts, terms, CRCs).
    #[arg(long, requires = "like")]
    replay: bool,
    /// Take the kind and every file size from this store (and, with
    /// `--replay`, its index file names and DLedger terms).
    #[arg(long, value_name = "SRC")]
    like: Option<PathBuf>,
    /// DLedger member id (`dledger-<id>`).
    #[arg(long, default_value = "n0")]
    self_id: String,
    /// RocketMQ: the broker address stored in new records.
    #[arg(long, default_value = "127.0.0.1:10911")]
    store_host: String,
    /// DLedger: the term to append in (raised if the store's is lower).
    #[arg(long)]
    term: Option<i64>,
}

/// Every file size of a store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) commitlog: u64,
    pub(crate) consume_queue: u64,
    pub(crate) index: IndexGeometry,
    pub(crate) data: u64,
    pub(crate) dindex: u64,
}

impl Geometry {
    /// `SizeArgs` over the reference's defaults.
    pub(crate) fn from_args(a: &SizeArgs) -> anyhow::Result<Self> {
        let c = CommitLogConfig::default();
        let d = DLedgerConfig::default();
        let g = Self {
            commitlog: a
                .commitlog_file_size
                .unwrap_or(c.mapped_file_size_commit_log),
            consume_queue: a
                .consume_queue_file_size
                .unwrap_or(c.mapped_file_size_consume_queue),
            index: IndexGeometry {
                slots: a.max_hash_slot_num.unwrap_or(c.max_hash_slot_num),
                entries: a.max_index_num.unwrap_or(c.max_index_num),
            },
            data: a
                .data_file_size
                .or(a.commitlog_file_size)
                .unwrap_or(d.data_file_size),
            dindex: a.index_file_size.unwrap_or(d.index_file_size),
        };
        g.check()?;
        Ok(g)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.dindex == 0 || !self.dindex.is_multiple_of(32) {
            bail!(
                "--index-file-size {}: must be a positive multiple of 32",
                self.dindex
            );
        }
        if self.data < 1024 || self.data > i32::MAX as u64 {
            bail!(
                "--data-file-size {}: must be between 1 KiB and 2 GiB",
                self.data
            );
        }
        if self.consume_queue == 0 {
            bail!("--consume-queue-file-size must be positive");
        }
        Ok(())
    }

    /// The sizes of an existing store, read from its files; what it has no
    /// file for comes from `a` (or the defaults).
    pub(crate) fn of_store(r: &Resolved, a: &SizeArgs) -> anyhow::Result<Self> {
        let mut g = Self::from_args(a)?;
        let s = MmapStore::new(r.paths.clone());
        let first = |log: &LogId| -> Option<u64> { s.segments(log).ok()?.first().map(|x| x.len) };
        if let Some(n) = first(&LogId::CommitLog) {
            g.commitlog = n;
        }
        if let Some(n) = first(&LogId::DLedgerData) {
            g.data = n;
            if r.kind == StoreKind::RocketMqDLedger {
                g.commitlog = n;
            }
        }
        if let Some(n) = first(&LogId::DLedgerIndex) {
            g.dindex = n;
        }
        let any_cq = LogId::ConsumeQueue {
            topic: String::new(),
            queue_id: 0,
        };
        if let Some(n) = s.logs(&any_cq).unwrap_or_default().iter().find_map(&first) {
            g.consume_queue = n;
        }
        if let Some(n) = first(&LogId::IndexFile) {
            g.index = match (a.max_hash_slot_num, a.max_index_num) {
                (Some(slots), Some(entries)) => IndexGeometry { slots, entries },
                _ => IndexGeometry::guess(n).ok_or_else(|| {
                    anyhow!(
                        "cannot tell maxHashSlotNum and maxIndexNum from index files of {n} bytes: pass --max-hash-slot-num and --max-index-num"
                    )
                })?,
            };
        }
        Ok(g)
    }

    pub(crate) fn rocketmq(&self, store_host: Host) -> RocketMqConfig {
        RocketMqConfig {
            mapped_file_size_commit_log: self.commitlog,
            mapped_file_size_consume_queue: self.consume_queue,
            max_hash_slot_num: self.index.slots,
            max_index_num: self.index.entries,
            store_host,
            flush_disk_type: FlushDiskType::AsyncFlush,
            // The CLI never deletes files.
            clean_resource_interval: 0,
            ..RocketMqConfig::default()
        }
    }

    pub(crate) fn dledger(&self, base: &Path, self_id: &str) -> DLedgerStoreConfig {
        let mut c = DLedgerStoreConfig::new(base, self_id);
        c.mapped_file_size_for_entry_data = self.data;
        c.mapped_file_size_for_entry_index = self.dindex;
        c.clean_interval = 0;
        c
    }

    pub(crate) fn dlcl(&self) -> DlclSizes {
        DlclSizes {
            data_file_size: self.data,
            index_file_size: self.dindex,
            consume_queue_file_size: self.consume_queue,
            index: self.index,
        }
    }
}

/// Where a store to write lives.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) kind: Kind,
    /// RocketMQ root, or the directory holding `dledger-<id>/`.
    pub(crate) root: PathBuf,
    pub(crate) self_id: String,
    pub(crate) exists: bool,
}

/// The root and member id of an existing store.
pub(crate) fn target_of(r: &Resolved) -> anyhow::Result<Target> {
    let kind = Kind::of(r.kind);
    match kind {
        Kind::Rocketmq => {
            let root = r.paths.root.clone().ok_or_else(|| {
                anyhow!(
                    "{}: pass the store root (the directory holding commitlog/), not a commitlog file or directory",
                    r.path.display()
                )
            })?;
            Ok(Target {
                kind,
                root,
                self_id: String::new(),
                exists: true,
            })
        }
        Kind::Dledger | Kind::RocketmqDledger => {
            let member = r.paths.dledger.clone().ok_or_else(|| {
                anyhow!(
                    "{}: pass the directory holding dledger-<id>/ (or dledger-<id>/ itself)",
                    r.path.display()
                )
            })?;
            let name = member
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(id) = name.strip_prefix("dledger-") else {
                bail!("{}: not a dledger-<id> directory", member.display());
            };
            let root = member
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            Ok(Target {
                kind,
                root,
                self_id: id.to_owned(),
                exists: true,
            })
        }
    }
}

/// True if `path` is missing or an empty directory.
pub(crate) fn is_fresh(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut d) => d.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Index file names of `src` in order, then the clock (for `--replay`).
pub(crate) fn namer_like(src: Option<&Resolved>) -> Box<IndexNamer> {
    let mut names: Vec<u64> = src
        .map(|r| {
            MmapStore::new(r.paths.clone())
                .segments(&LogId::IndexFile)
                .unwrap_or_default()
                .iter()
                .map(|s| s.id)
                .collect()
        })
        .unwrap_or_default();
    names.reverse();
    Box::new(move |ms| names.pop().unwrap_or_else(|| os::index_file_name(ms)))
}

/// Acknowledgements: printed at once (`--flush async`), or held until the
/// records are durable (`--flush sync`).
struct Acks<'a, 'b> {
    out: &'a mut (dyn Write + 'b),
    pending: Vec<String>,
    sync: bool,
}

impl Acks<'_, '_> {
    fn push(&mut self, mut line: String) -> anyhow::Result<()> {
        if self.sync {
            self.pending.push(line);
            return Ok(());
        }
        line.push_str(",\"durable\":false}\n");
        self.out.write_all(line.as_bytes())?;
        Ok(())
    }
    /// Prints the held acknowledgements: their records are now durable.
    fn release(&mut self) -> anyhow::Result<()> {
        for mut l in self.pending.drain(..) {
            l.push_str(",\"durable\":true}\n");
            self.out.write_all(l.as_bytes())?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// The store being appended to.
enum Writer {
    Rocketmq(RocketMqStore),
    Dledger {
        store: DLedgerStore,
        /// (term, index) of the last entry appended.
        last: Option<(i64, i64)>,
    },
    Dlcl(Box<DlclWriter>),
}

impl Writer {
    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Rocketmq(s) => s.flush()?,
            Self::Dledger { store, last } => {
                store.flush()?;
                // A single writer: what is durable is committed.
                if let Some((term, index)) = *last {
                    store.commit(term, index)?;
                }
            }
            Self::Dlcl(w) => w.flush()?,
        }
        Ok(())
    }
    fn close(mut self) -> anyhow::Result<()> {
        self.flush()?;
        match self {
            Self::Rocketmq(s) => s.close()?,
            Self::Dledger { store, .. } => store.close()?,
            Self::Dlcl(w) => w.close()?,
        }
        Ok(())
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let like = match &a.like {
        Some(p) => Some(resolve(p).with_context(|| format!("--like {}", p.display()))?),
        None => None,
    };
    let existing = if is_fresh(&a.store) {
        None
    } else {
        Some(resolve(&a.store)?)
    };
    let (target, geom) = match (&existing, &like) {
        (Some(r), _) => {
            let t = target_of(r)?;
            if let Some(k) = a.kind
                && k != t.kind
            {
                bail!(
                    "{}: is a {} store, not --kind {k:?}",
                    a.store.display(),
                    r.kind.name()
                );
            }
            let g = Geometry::of_store(like.as_ref().unwrap_or(r), &a.sizes)?;
            (t, g)
        }
        (None, Some(src)) => {
            let t = Target {
                kind: Kind::of(src.kind),
                root: a.store.clone(),
                self_id: target_of(src)?.self_id,
                exists: false,
            };
            (t, Geometry::of_store(src, &a.sizes)?)
        }
        (None, None) => {
            if !a.create {
                bail!(
                    "{}: no store there (pass --create to make one)",
                    a.store.display()
                );
            }
            let t = Target {
                kind: a.kind.unwrap_or(Kind::Rocketmq),
                root: a.store.clone(),
                self_id: a.self_id.clone(),
                exists: false,
            };
            (t, Geometry::from_args(&a.sizes)?)
        }
    };
    let store_host = Host::parse(&a.store_host)
        .ok_or_else(|| anyhow!("--store-host {:?}: not ADDRESS:PORT", a.store_host))?;
    let namer = namer_like(if a.replay { like.as_ref() } else { None });
    let mut w = match target.kind {
        Kind::Rocketmq => {
            let (s, _) =
                RocketMqStore::open_with_namer(&target.root, geom.rocketmq(store_host), namer)
                    .with_context(|| format!("cannot open {}", target.root.display()))?;
            Writer::Rocketmq(s)
        }
        Kind::Dledger => {
            let (s, _) = DLedgerStore::open(geom.dledger(&target.root, &target.self_id))
                .with_context(|| format!("cannot open {}", target.root.display()))?;
            if let Some(t) = a.term {
                s.set_term(t, Some(&target.self_id))?;
            }
            Writer::Dledger {
                store: s,
                last: None,
            }
        }
        Kind::RocketmqDledger => {
            if target.exists {
                bail!(
                    "{}: appending to an existing DLedger-mode RocketMQ store is not supported (write a new one, or use convert)",
                    a.store.display()
                );
            }
            let mut d = DlclWriter::create(&target.root, &target.self_id, geom.dlcl(), namer)?;
            if let Some(t) = a.term {
                d.set_term(t, Some(&target.self_id))?;
            }
            Writer::Dlcl(Box::new(d))
        }
    };
    // DLedger-mode terms and CRCs the message dump does not carry: from SRC.
    let src_entries = match (&like, target.kind) {
        (Some(src), Kind::RocketmqDledger) if a.replay => entry_headers(src),
        _ => Vec::new(),
    };
    let mut acks = Acks {
        out: &mut *ctx.out,
        pending: Vec::new(),
        sync: a.flush == Flush::Sync,
    };
    let r = match ctx.input.take() {
        Some(input) => feed(
            &mut w,
            Lines::new(input),
            a,
            &target,
            &src_entries,
            &mut acks,
        ),
        None => feed(
            &mut w,
            Lines::new(std::io::stdin().lock()),
            a,
            &target,
            &src_entries,
            &mut acks,
        ),
    };
    // Whatever happened, make what was written durable, then acknowledge it:
    // nothing acknowledged is ever lost, a bad line included.
    w.close()?;
    acks.release()?;
    r.map(|()| exit::OK)
}

/// (term, chainCrc, bodyCrc) of every entry of `src`, by index.
fn entry_headers(src: &Resolved) -> Vec<(i64, i64, i32, i32)> {
    let s = MmapStore::new(src.paths.clone());
    let mut v = Vec::new();
    let _ = crate::walk::entries(&s, src, &mut |e| {
        v.push((e.index, e.term, e.chain_crc, e.body_crc));
        std::ops::ControlFlow::Continue(())
    });
    v
}

fn feed<R: Read>(
    w: &mut Writer,
    mut lines: Lines<R>,
    a: &Args,
    target: &Target,
    src_entries: &[(i64, i64, i32, i32)],
    acks: &mut Acks<'_, '_>,
) -> anyhow::Result<()> {
    let want_entry = target.kind == Kind::Dledger;
    let mut since_flush = 0usize;
    let mut next_index = 0i64;
    while let Some((n, text)) = lines.next_line()? {
        let rec = parse(n, &text, want_entry)?;
        let ack = match (rec, &mut *w) {
            (RecordIn::Message(m), Writer::Rocketmq(s)) => {
                let r = if a.replay {
                    s.put_replay(&m.replay_parts()?)
                } else {
                    s.put(&message_of(&m))
                }
                .map_err(|e| input_err(n, &e))?;
                let mut l = String::new();
                l.push_str(&format!(
                    "{{\"line\":{n},\"physicalOffset\":{},\"queueOffset\":{},\"storeTimestamp\":{},\"msgId\":",
                    r.physical_offset, r.queue_offset, r.store_timestamp
                ));
                push_str(&mut l, &r.msg_id(0).unwrap_or_default());
                l
            }
            (RecordIn::Entry(e), Writer::Dledger { store, last }) => {
                let got = if a.replay {
                    let need = |f: &'static str| InputError {
                        line: n,
                        field: Some(f),
                        why: "missing (required with --replay)".into(),
                    };
                    store.append_as_follower(&EntryParts {
                        magic: e.magic.unwrap_or(MAGIC_NORMAL),
                        index: e.index.ok_or_else(|| need("index"))?,
                        term: e.term.ok_or_else(|| need("term"))?,
                        pos: e.pos.ok_or_else(|| need("pos"))?,
                        channel: e.channel.unwrap_or(0),
                        chain_crc: e.chain_crc.unwrap_or(0),
                        body_crc: e.body_crc.unwrap_or(0),
                        body: &e.body,
                    })
                } else {
                    store.append(&e.body)
                }
                .map_err(|err| input_err(n, &err))?;
                *last = Some((got.term, got.index));
                format!(
                    "{{\"line\":{n},\"index\":{},\"term\":{},\"pos\":{}",
                    got.index, got.term, got.pos
                )
            }
            (RecordIn::Message(m), Writer::Dlcl(d)) => {
                let (got, qo) = if a.replay {
                    let parts = m.replay_parts()?;
                    let pos = parts.physical_offset - HEADER_LEN as i64;
                    let mut body = vec![0u8; parts.encoded_len()];
                    let len = parts.encode(&mut body).map_err(|e| input_err(n, &e))?;
                    body.truncate(len);
                    let (term, chain, bcrc) = src_entries
                        .iter()
                        .find(|x| x.0 == next_index)
                        .map_or((0, 0, 0), |x| (x.1, x.2, x.3));
                    let got = d
                        .put_entry(&EntryParts {
                            magic: MAGIC_NORMAL,
                            index: next_index,
                            term,
                            pos,
                            channel: 0,
                            chain_crc: chain,
                            body_crc: bcrc,
                            body: &body,
                        })
                        .map_err(|e| input_err(n, &*e))?;
                    (got, parts.queue_offset)
                } else {
                    let msg = message_of(&m);
                    let parts = rocketlog_core::codec::message::MessageParts {
                        v2: None,
                        body_crc: None,
                        queue_id: msg.queue_id,
                        flag: msg.flag,
                        queue_offset: 0,
                        physical_offset: 0,
                        sys_flag: msg.sys_flag,
                        born_timestamp: msg.born_timestamp,
                        born_host: msg.born_host,
                        store_timestamp: os::now_ms(),
                        store_host: Host::parse(&a.store_host).unwrap_or(msg.born_host),
                        reconsume_times: msg.reconsume_times,
                        prepared_transaction_offset: msg.prepared_transaction_offset,
                        body: msg.body,
                        topic: msg.topic.as_bytes(),
                        properties: msg.properties,
                        append_prop_crc: false,
                    };
                    d.put(&parts).map_err(|e| input_err(n, &*e))?
                };
                next_index = got.index + 1;
                format!(
                    "{{\"line\":{n},\"physicalOffset\":{},\"queueOffset\":{qo},\"index\":{},\"pos\":{}",
                    got.pos + HEADER_LEN as u64,
                    got.index,
                    got.pos
                )
            }
            _ => bail!("stdin line {n}: record does not fit the store kind"),
        };
        acks.push(ack)?;
        since_flush += 1;
        if acks.sync && (lines.would_block() || since_flush >= GROUP_MAX) {
            // Group commit: one flush for everything appended so far.
            w.flush()?;
            acks.release()?;
            since_flush = 0;
        }
    }
    Ok(())
}

/// A store or engine refusal of one record, as an input error of its line.
fn input_err(line: u64, e: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(InputError {
        line,
        field: None,
        why: format!("refused: {e}"),
    })
}

/// A new message from an input line, with defaults for what is missing.
fn message_of(m: &MessageIn) -> Message<'_> {
    Message {
        topic: &m.topic,
        queue_id: m.queue_id,
        flag: m.flag,
        body: &m.body,
        properties: &m.properties,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp.unwrap_or_else(os::now_ms),
        born_host: m.born_host.unwrap_or(Host::V4 {
            addr: [127, 0, 0, 1],
            port: 0,
        }),
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
    }
}
