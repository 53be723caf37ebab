//! `rocketlog dump`: every record of a store, in log order.

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::bail;
use rocketlog_core::codec::properties;
use rocketlog_core::json;
use rocketlog_core::store::{LogId, PageRead};

use super::progress::Progress;
use super::table::{clip, printable, utc};
use super::{Ctx, ListFormat, Opened, open, report_on_stderr};
use crate::resolve::StoreKind;
use crate::walk::{self, WalkReport};

/// `dump` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Store root, commitlog directory or file, DLedger store, `dledger-<id>`, `data/` or data file.
    path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    /// Print the DLedger entries of a DLedger-mode RocketMQ store instead of its messages.
    #[arg(long, conflicts_with = "consume_queue")]
    entries: bool,
    /// Print every consume-queue unit instead of the messages.
    #[arg(long)]
    consume_queue: bool,
}

/// Writes lines to the command's stdout, remembering the first error so the
/// walk can stop (a closed pipe ends the dump quietly).
pub(crate) struct LineOut<'a, 'b> {
    out: &'a mut (dyn Write + 'b),
    line: String,
    err: Option<io::Error>,
}

impl<'a, 'b> LineOut<'a, 'b> {
    pub(crate) fn new(out: &'a mut (dyn Write + 'b)) -> Self {
        Self {
            out,
            line: String::with_capacity(4096),
            err: None,
        }
    }
    /// Writes `line` + newline after `fill` built it.
    pub(crate) fn emit(&mut self, fill: impl FnOnce(&mut String)) -> ControlFlow<()> {
        if self.err.is_some() {
            return ControlFlow::Break(());
        }
        self.line.clear();
        fill(&mut self.line);
        self.line.push('\n');
        match self.out.write_all(self.line.as_bytes()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.err = Some(e);
                ControlFlow::Break(())
            }
        }
    }
    pub(crate) fn finish(self) -> io::Result<()> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let o = open(&a.path)?;
    let kind = o.resolved.kind;
    let rep = if a.consume_queue {
        if kind == StoreKind::DLedger || o.resolved.paths.root.is_none() {
            bail!(
                "{}: has no consume queues (pass the RocketMQ store root, the directory holding consumequeue/)",
                a.path.display()
            );
        }
        dump_cq(ctx, &o, a.format)?
    } else if a.entries || kind == StoreKind::DLedger {
        if kind == StoreKind::RocketMq {
            bail!(
                "{}: a plain RocketMQ store has no DLedger entries (--entries is for DLedger commitlog mode)",
                a.path.display()
            );
        }
        dump_entries(ctx, &o, a.format)?
    } else {
        dump_messages(ctx, &o, a.format)?
    };
    report_on_stderr(ctx, &o, &rep.problems)
}

/// Absolute start and end of the main log, for the progress bar.
pub(crate) fn main_log_range(o: &Opened, log: &LogId) -> (u64, u64) {
    let segs = o.store.segments(log).unwrap_or_default();
    let start = segs.first().map_or(0, |s| s.id);
    let end = segs.last().map_or(0, |s| s.id.saturating_add(s.len));
    (start, end)
}

pub(crate) fn main_log(o: &Opened) -> LogId {
    match o.resolved.kind {
        StoreKind::RocketMq => LogId::CommitLog,
        _ => LogId::DLedgerData,
    }
}

fn dump_messages(ctx: &mut Ctx<'_>, o: &Opened, format: ListFormat) -> anyhow::Result<WalkReport> {
    let (start, end) = main_log_range(o, &main_log(o));
    let progress = Progress::new(ctx.progress, "dump", start, end);
    let mut out = LineOut::new(&mut *ctx.out);
    if format == ListFormat::Table {
        // A failed header write is kept in `out` and stops the walk at its first record.
        let _ = out.emit(|l| {
            l.push_str(&format!(
                "{:>14} {:>8} {:<20} {:>5} {:>10} {:<24} {:<16} {:<24} {:>8}",
                "OFFSET", "SIZE", "TOPIC", "QUEUE", "QOFFSET", "STORED", "TAGS", "KEYS", "BODY"
            ))
        });
    }
    let rep = walk::messages(&o.store, &o.resolved, &mut |at, m| {
        progress.at(at);
        out.emit(|l| match format {
            ListFormat::Jsonl => json::push_message(l, m, at),
            ListFormat::Table => {
                let text = |k| {
                    m.property(k)
                        .map(|v| printable(&String::from_utf8_lossy(v)))
                        .unwrap_or_default()
                };
                l.push_str(&format!(
                    "{:>14} {:>8} {:<20} {:>5} {:>10} {:<24} {:<16} {:<24} {:>8}",
                    at,
                    m.total_size,
                    clip(&printable(&m.topic_str()), 20),
                    m.queue_id,
                    m.queue_offset,
                    utc(m.store_timestamp),
                    clip(&text(properties::keys::TAGS), 16),
                    clip(&text(properties::keys::KEYS), 24),
                    m.body.len()
                ));
            }
        })
    });
    progress.finish();
    out.finish()?;
    Ok(rep)
}

fn dump_entries(ctx: &mut Ctx<'_>, o: &Opened, format: ListFormat) -> anyhow::Result<WalkReport> {
    let (start, end) = main_log_range(o, &LogId::DLedgerData);
    let progress = Progress::new(ctx.progress, "dump", start, end);
    let mut out = LineOut::new(&mut *ctx.out);
    if format == ListFormat::Table {
        // A failed header write is kept in `out` and stops the walk at its first record.
        let _ = out.emit(|l| {
            l.push_str(&format!(
                "{:>10} {:>8} {:>14} {:>10} {:>5} {:>7} {:>11} {:>11} {:>10}",
                "INDEX", "TERM", "POS", "SIZE", "MAGIC", "CHANNEL", "CHAINCRC", "BODYCRC", "BODY"
            ))
        });
    }
    let rep = walk::entries(&o.store, &o.resolved, &mut |e| {
        progress.at(e.pos as u64);
        out.emit(|l| match format {
            ListFormat::Jsonl => json::push_entry(l, e),
            ListFormat::Table => l.push_str(&format!(
                "{:>10} {:>8} {:>14} {:>10} {:>5} {:>7} {:>11} {:>11} {:>10}",
                e.index,
                e.term,
                e.pos,
                e.size,
                e.magic,
                e.channel,
                e.chain_crc,
                e.body_crc,
                e.body_len
            )),
        })
    });
    progress.finish();
    out.finish()?;
    Ok(rep)
}

fn dump_cq(ctx: &mut Ctx<'_>, o: &Opened, format: ListFormat) -> anyhow::Result<WalkReport> {
    let mut out = LineOut::new(&mut *ctx.out);
    if format == ListFormat::Table {
        // A failed header write is kept in `out` and stops the walk at its first record.
        let _ = out.emit(|l| {
            l.push_str(&format!(
                "{:<20} {:>5} {:>10} {:>14} {:>8} {:>20}",
                "TOPIC", "QUEUE", "QOFFSET", "OFFSET", "SIZE", "TAGSCODE"
            ))
        });
    }
    let rep = walk::cq_units(&o.store, &o.resolved, &mut |topic, q, qoff, u| {
        out.emit(|l| match format {
            ListFormat::Jsonl => json::push_cq_unit(l, topic, q, qoff, u),
            ListFormat::Table => l.push_str(&format!(
                "{:<20} {:>5} {:>10} {:>14} {:>8} {:>20}",
                clip(&printable(topic), 20),
                q,
                qoff,
                u.physical_offset,
                u.size,
                u.tags_code
            )),
        })
    });
    out.finish()?;
    Ok(rep)
}
