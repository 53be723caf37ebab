//! `rocketlog query-key`: physical offsets stored under a key in the IndexFiles.

use std::path::PathBuf;

use anyhow::bail;
use rocketlog_core::json;

use super::{Ctx, ListFormat, open, report_on_stderr};
use crate::resolve::StoreKind;
use crate::walk;

/// `query-key` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// RocketMQ store root (the directory holding index/).
    store: PathBuf,
    /// Topic.
    #[arg(long)]
    topic: String,
    /// Key (a KEYS value or a UNIQ_KEY).
    #[arg(long)]
    key: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Jsonl)]
    format: ListFormat,
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let o = open(&a.store)?;
    if o.resolved.kind == StoreKind::DLedger || o.resolved.paths.root.is_none() {
        bail!(
            "{}: has no index files (pass the RocketMQ store root, the directory holding index/)",
            a.store.display()
        );
    }
    let (mut offsets, problems) = walk::query_key(&o.store, &o.resolved, &a.topic, &a.key);
    match a.format {
        ListFormat::Jsonl => {
            let mut line = String::new();
            json::push_key_query(&mut line, &a.topic, &a.key, &offsets);
            line.push('\n');
            ctx.out.write_all(line.as_bytes())?;
        }
        ListFormat::Table => {
            offsets.sort_unstable();
            writeln!(ctx.out, "{:<20} {:<40} OFFSETS", "TOPIC", "KEY")?;
            let list: Vec<String> = offsets.iter().map(i64::to_string).collect();
            writeln!(ctx.out, "{:<20} {:<40} {}", a.topic, a.key, list.join(" "))?;
        }
    }
    report_on_stderr(ctx, &o, &problems)
}
