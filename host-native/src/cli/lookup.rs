//! `rocketlog get` and `rocketlog consume`: single records and consume-queue
//! reads, printed as `dump --format jsonl` lines. Read-only: they read the
//! store the way `dump` does (what the Java reference reads after load).
//!
//! Exit codes: 0 found, 1 nothing at that position, 2 usage or unreadable store.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::bail;
use rocketlog_core::json;

use super::{Ctx, exit, open, report_on_stderr};
use crate::walk;

/// `get` arguments: exactly one of `--offset`, `--index`, or `--topic` +
/// `--queue` + `--queue-offset`.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// Store root or any PATH form `dump` accepts.
    path: PathBuf,
    /// Physical (commitlog) offset of a message.
    #[arg(long, conflicts_with_all = ["index", "topic"])]
    offset: Option<u64>,
    /// DLedger index of an entry.
    #[arg(long, conflicts_with = "topic")]
    index: Option<i64>,
    /// Topic (with --queue and --queue-offset).
    #[arg(long, requires_all = ["queue", "queue_offset"])]
    topic: Option<String>,
    /// Queue id.
    #[arg(long)]
    queue: Option<i32>,
    /// Queue offset.
    #[arg(long)]
    queue_offset: Option<u64>,
}

/// `consume` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ConsumeArgs {
    /// Store root.
    path: PathBuf,
    /// Topic.
    #[arg(long)]
    topic: String,
    /// Queue id.
    #[arg(long)]
    queue: i32,
    /// First queue offset.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// At most this many messages.
    #[arg(long, default_value_t = 32)]
    max: usize,
}

/// Physical offsets of a queue's units from `from` on (fillers skipped), in queue order.
fn queue_offsets(
    o: &super::Opened,
    topic: &str,
    queue: i32,
    from: u64,
    max: usize,
) -> (Vec<(u64, u64)>, walk::WalkReport) {
    let mut v = Vec::new();
    let rep = walk::cq_units(&o.store, &o.resolved, &mut |t, q, qo, u| {
        if t == topic
            && q == queue
            && qo >= from
            && v.len() < max
            && u.physical_offset >= 0
            && u.size > 0
        {
            v.push((qo, u.physical_offset as u64));
        }
        ControlFlow::Continue(())
    });
    (v, rep)
}

/// Prints the messages at `offsets` in the given order; returns how many were found.
fn print_messages(
    ctx: &mut Ctx<'_>,
    o: &super::Opened,
    offsets: &[u64],
) -> anyhow::Result<(usize, walk::WalkReport)> {
    let wanted: BTreeMap<u64, usize> = offsets.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    let mut lines: Vec<Option<String>> = vec![None; offsets.len()];
    let last = offsets.iter().copied().max();
    let rep = walk::messages(&o.store, &o.resolved, &mut |at, m| {
        if let Some(&i) = wanted.get(&at) {
            let mut l = String::new();
            json::push_message(&mut l, m, at);
            lines[i] = Some(l);
        }
        if last.is_some_and(|l| at >= l) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let mut n = 0;
    for l in lines.into_iter().flatten() {
        writeln!(ctx.out, "{l}")?;
        n += 1;
    }
    Ok((n, rep))
}

pub(crate) fn get(ctx: &mut Ctx<'_>, a: &GetArgs) -> anyhow::Result<i32> {
    let o = open(&a.path)?;
    if let Some(index) = a.index {
        let mut line = None;
        let rep = walk::entries(&o.store, &o.resolved, &mut |e| {
            if e.index == index {
                let mut l = String::new();
                json::push_entry(&mut l, e);
                line = Some(l);
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let code = report_on_stderr(ctx, &o, &rep.problems)?;
        return match line {
            Some(l) => {
                writeln!(ctx.out, "{l}")?;
                Ok(code)
            }
            None => {
                writeln!(
                    ctx.err,
                    "rocketlog: no DLedger entry {index} in {}",
                    a.path.display()
                )?;
                Ok(exit::PROBLEMS)
            }
        };
    }
    let (offset, what) = match (a.offset, &a.topic, a.queue, a.queue_offset) {
        (Some(off), None, _, _) => (Some(off), format!("no message at physical offset {off}")),
        (None, Some(t), Some(q), Some(qo)) => {
            let (v, _) = queue_offsets(&o, t, q, qo, 1);
            (
                v.first().filter(|x| x.0 == qo).map(|x| x.1),
                format!("no message at {t} queue {q} offset {qo}"),
            )
        }
        _ => bail!("pass --offset N, --index N, or --topic T --queue Q --queue-offset N"),
    };
    let Some(offset) = offset else {
        writeln!(ctx.err, "rocketlog: {what}")?;
        return Ok(exit::PROBLEMS);
    };
    let (n, rep) = print_messages(ctx, &o, &[offset])?;
    let code = report_on_stderr(ctx, &o, &rep.problems)?;
    if n == 0 {
        writeln!(ctx.err, "rocketlog: {what}")?;
        return Ok(exit::PROBLEMS);
    }
    Ok(code)
}

pub(crate) fn consume(ctx: &mut Ctx<'_>, a: &ConsumeArgs) -> anyhow::Result<i32> {
    let o = open(&a.path)?;
    if o.resolved.paths.root.is_none() {
        bail!(
            "{}: has no consume queues (pass the RocketMQ store root)",
            a.path.display()
        );
    }
    let (v, rep) = queue_offsets(&o, &a.topic, a.queue, a.from, a.max);
    let offsets: Vec<u64> = v.iter().map(|x| x.1).collect();
    let (_, rep2) = print_messages(ctx, &o, &offsets)?;
    let mut problems = rep.problems;
    problems.extend(rep2.problems);
    report_on_stderr(ctx, &o, &problems)
}
