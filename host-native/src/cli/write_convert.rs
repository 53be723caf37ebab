//! `rocketlog convert SRC DST --to dledger|rocketmq [--file-size N]`: copies
//! every message of a RocketMQ store (either mode) into a new store of the
//! other mode (or the same mode with other file sizes), keeping topic, queue,
//! body, flag, properties (in stored order), sysFlag, timestamps, hosts and
//! reconsume times. Physical offsets, queue offsets and so msgIds are
//! assigned anew; a transaction's commit or rollback record keeps pointing at
//! its (moved) half message.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use rocketlog_core::codec::message::{Host, MAGIC_V2, MessageParts, MessageView};
use rocketlog_core::engine::commitlog::EngineError;

use super::write_append::{Geometry, SizeArgs, is_fresh, namer_like};
use super::write_dlcl::DlclWriter;
use super::{Ctx, exit};
use crate::embed::{Error as EmbedError, RocketMqStore};
use crate::mmap::MmapStore;
use crate::resolve::{StoreKind, resolve};
use crate::walk;

/// The mode to convert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum To {
    /// RocketMQ DLedger commitlog mode (`dledger-<id>/` + consume queues).
    Dledger,
    /// Plain RocketMQ (`commitlog/` + consume queues).
    Rocketmq,
}

/// `convert` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The store to read (RocketMQ, either mode); never modified.
    src: PathBuf,
    /// The new store (must not exist, or be an empty directory).
    dst: PathBuf,
    /// Mode of the new store.
    #[arg(long, value_enum)]
    to: To,
    /// Commitlog / DLedger data file size of the new store (default: SRC's).
    #[arg(long, value_name = "BYTES")]
    file_size: Option<u64>,
    /// DLedger member id of the new store.
    #[arg(long, default_value = "n0")]
    self_id: String,
    #[command(flatten)]
    sizes: SizeArgs,
}

enum Dst {
    Rocketmq(RocketMqStore),
    Dledger(Box<DlclWriter>),
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let r = resolve(&a.src)?;
    if r.kind == StoreKind::DLedger {
        bail!(
            "{}: a plain DLedger store holds no RocketMQ messages",
            a.src.display()
        );
    }
    if !is_fresh(&a.dst) {
        bail!("{}: exists and is not empty", a.dst.display());
    }
    let mut g = Geometry::of_store(&r, &a.sizes)?;
    if let Some(n) = a.file_size {
        g.commitlog = n;
        g.data = n;
    }
    // Same sizes in both modes: RocketMQ rolls DLedger blanks by its own file size.
    if a.to == To::Dledger && r.kind == StoreKind::RocketMq && a.file_size.is_none() {
        g.data = g.commitlog;
    }
    let host = Host::V4 {
        addr: [127, 0, 0, 1],
        port: 10911,
    };
    let mut dst = match a.to {
        To::Rocketmq => {
            let (s, _) = RocketMqStore::open(&a.dst, g.rocketmq(host))
                .with_context(|| format!("cannot create {}", a.dst.display()))?;
            Dst::Rocketmq(s)
        }
        To::Dledger => Dst::Dledger(Box::new(DlclWriter::create(
            &a.dst,
            &a.self_id,
            g.dlcl(),
            namer_like(None),
        )?)),
    };
    let src = MmapStore::new(r.paths.clone());
    let mut moved: HashMap<i64, i64> = HashMap::new();
    let mut count = 0u64;
    let mut failed: Option<anyhow::Error> = None;
    let rep = walk::messages(&src, &r, &mut |at, m| match copy(&mut dst, m, &mut moved) {
        Ok(to) => {
            moved.insert(at as i64, to);
            count += 1;
            ControlFlow::Continue(())
        }
        Err(e) => {
            failed = Some(e.context(format!("message at physical offset {at} of SRC")));
            ControlFlow::Break(())
        }
    });
    let closed = match dst {
        Dst::Rocketmq(s) => s.close().map_err(anyhow::Error::from),
        Dst::Dledger(d) => d.close(),
    };
    if let Some(e) = failed {
        return Err(e);
    }
    closed?;
    let mut code = exit::OK;
    for p in rep
        .problems
        .iter()
        .filter(|p| p.severity >= rocketlog_core::scan::Severity::Warning)
    {
        writeln!(ctx.err, "rocketlog: SRC: {:?}", p.kind)?;
        code = exit::PROBLEMS;
    }
    writeln!(
        ctx.out,
        "{{\"messages\":{count},\"to\":\"{}\"}}",
        match a.to {
            To::Dledger => "rocketmq-dledger",
            To::Rocketmq => "rocketmq",
        }
    )?;
    Ok(code)
}

/// Writes one message; returns its new physical offset.
fn copy(dst: &mut Dst, m: &MessageView<'_>, moved: &mut HashMap<i64, i64>) -> anyhow::Result<i64> {
    let prepared = match m.prepared_transaction_offset {
        0 => 0,
        p => moved.get(&p).copied().unwrap_or(p),
    };
    let mut parts = MessageParts {
        v2: Some(m.magic == MAGIC_V2),
        body_crc: Some(m.body_crc),
        queue_id: m.queue_id,
        flag: m.flag,
        queue_offset: m.queue_offset,
        physical_offset: 0,
        sys_flag: m.sys_flag.0,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        store_timestamp: m.store_timestamp,
        store_host: m.store_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: prepared,
        body: m.body,
        topic: m.topic,
        properties: m.properties,
        append_prop_crc: false,
    };
    match dst {
        Dst::Dledger(d) => {
            let (a, _) = d.put(&parts)?;
            Ok(a.pos as i64 + 48)
        }
        Dst::Rocketmq(s) => {
            let topic = String::from_utf8_lossy(m.topic);
            if m.sys_flag.dispatched_to_queue() {
                parts.queue_offset = s.queue_max_offset(&topic, m.queue_id);
            }
            parts.physical_offset = s.stats().max_offset as i64;
            // The landing offset moves past a blank when the record does not
            // fit the current file: the engine names it, then the put succeeds.
            for _ in 0..2 {
                match s.put_replay(&parts) {
                    Ok(r) => return Ok(r.physical_offset as i64),
                    Err(EmbedError::Engine(EngineError::ReplayMismatch {
                        field: "physicalOffset",
                        expected,
                        ..
                    })) => parts.physical_offset = expected,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(anyhow!("no place for the record"))
        }
    }
}
