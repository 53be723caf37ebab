//! `rocketlog stat`: what a store holds. Key names follow the fixtures'
//! `expected_meta.json` where the fact is the same.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use rocketlog_core::codec::checkpoint::{IndexSyncPoint, StoreCheckpoint};
use rocketlog_core::codec::kv;
use rocketlog_core::store::{LogId, MetaFile, PageRead};
use serde_json::{Map, Value, json};

use super::progress::Progress;
use super::table::utc;
use super::{Ctx, Opened, dump, open, report_on_stderr, seg_name};
use crate::resolve::{PathForm, StoreKind};
use crate::walk::{self, Blank};

/// Output format of `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatFormat {
    /// `key: value` lines.
    Table,
    /// One JSON object.
    Json,
}

/// `stat` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Any PATH form `dump` accepts.
    path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatFormat::Table)]
    format: StatFormat,
}

fn files(o: &Opened, log: &LogId) -> anyhow::Result<Value> {
    let segs = o.store.segments(log)?;
    Ok(Value::Array(
        segs.iter()
            .map(|s| json!({"name": seg_name(log, s.id), "size": s.len}))
            .collect(),
    ))
}

#[derive(Default)]
struct QueueStat {
    count: u64,
    min_qoff: Option<i64>,
    max_qoff: Option<i64>,
}

/// The smaller of two optional values (`None` when both are).
fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn range(min: Option<i64>, max: Option<i64>) -> Value {
    match (min, max) {
        (Some(a), Some(b)) => json!({"min": a, "max": b, "minUtc": utc(a), "maxUtc": utc(b)}),
        _ => Value::Null,
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let o = open(&a.path)?;
    let r = &o.resolved;
    let mut m = Map::new();
    m.insert("path".into(), json!(r.path.display().to_string()));
    m.insert("kind".into(), json!(r.kind.name()));
    m.insert("form".into(), json!(format!("{:?}", r.form)));
    let mut problems = Vec::new();

    if r.kind != StoreKind::DLedger {
        messages(ctx, &o, &mut m, &mut problems)?;
    }
    if r.kind != StoreKind::RocketMq {
        let d = dledger(ctx, &o, &mut problems)?;
        if r.kind == StoreKind::DLedger {
            m.extend(d);
        } else {
            m.insert("dledger".into(), Value::Object(d));
        }
    }
    let skipped: Vec<Value> = o
        .store
        .skipped()
        .iter()
        .map(|s| json!({"path": s.path.display().to_string(), "why": s.why}))
        .collect();
    m.insert("skipped".into(), Value::Array(skipped));
    let v = Value::Object(m);
    match a.format {
        StatFormat::Json => {
            serde_json::to_writer_pretty(&mut *ctx.out, &v)?;
            writeln!(ctx.out)?;
        }
        StatFormat::Table => print_table(ctx.out, "", &v)?,
    }
    report_on_stderr(ctx, &o, &problems)
}

fn messages(
    ctx: &mut Ctx<'_>,
    o: &Opened,
    m: &mut Map<String, Value>,
    problems: &mut Vec<rocketlog_core::scan::Problem>,
) -> anyhow::Result<()> {
    let r = &o.resolved;
    if r.paths.commitlog.is_some() || r.paths.root.is_some() || r.kind == StoreKind::RocketMq {
        m.insert("commitLogFiles".into(), files(o, &LogId::CommitLog)?);
    }
    if let Some(root) = &r.paths.root {
        let mut cqs = Map::new();
        let like = LogId::ConsumeQueue {
            topic: String::new(),
            queue_id: 0,
        };
        for log in o.store.logs(&like)? {
            if let LogId::ConsumeQueue { topic, queue_id } = &log {
                cqs.insert(format!("{topic}/{queue_id}"), files(o, &log)?);
            }
        }
        m.insert("consumeQueueFiles".into(), Value::Object(cqs));
        m.insert("indexFiles".into(), files(o, &LogId::IndexFile)?);
        m.insert(
            "abortFilePresent".into(),
            json!(root.join("abort").exists()),
        );
        let cp = match o.store.read_meta(MetaFile::StoreCheckpoint)? {
            Some(b) => match StoreCheckpoint::decode(&b) {
                Ok(c) => json!({
                    "physicMsgTimestamp": c.physic_msg_timestamp,
                    "logicsMsgTimestamp": c.logics_msg_timestamp,
                    "indexMsgTimestamp": c.index_msg_timestamp,
                    "masterFlushedOffset": c.master_flushed_offset,
                    "confirmPhyOffset": c.confirm_phy_offset,
                }),
                Err(e) => json!({"error": format!("{}: {e}", root.join("checkpoint").display())}),
            },
            None => Value::Null,
        };
        m.insert("checkpoint".into(), cp);
        // rocketlog's own index sync point, when a rocketlog engine wrote the store.
        if let Some(b) = o.store.read_meta(MetaFile::IndexSyncPoint)? {
            let v = match IndexSyncPoint::decode(&b) {
                Some(p) => json!({"indexFile": p.file, "indexCount": p.count}),
                None => json!({"error": format!(
                    "{}: not a valid index sync point ({} bytes)",
                    root.join(".rocketlog-index-sync").display(),
                    b.len()
                )}),
            };
            m.insert("indexSyncPoint".into(), v);
        }
    }

    let log = dump::main_log(o);
    let (start, end) = dump::main_log_range(o, &log);
    let progress = Progress::new(ctx.progress, "stat", start, end);
    let mut count = 0u64;
    let mut bytes = 0u64;
    let (mut first, mut last_end) = (None, None);
    let (mut tmin, mut tmax) = (None::<i64>, None::<i64>);
    // Keyed by the topic's bytes, so that a message costs no `String`; merged
    // by the decoded topic below (distinct invalid bytes may decode alike).
    let mut by_bytes: BTreeMap<Vec<u8>, BTreeMap<i32, QueueStat>> = BTreeMap::new();
    let rep = walk::messages(&o.store, r, &mut |at, msg| {
        progress.at(at);
        count += 1;
        bytes += msg.total_size as u64;
        first.get_or_insert(at);
        last_end = Some(at + msg.total_size as u64);
        let t = msg.store_timestamp;
        tmin = Some(tmin.map_or(t, |x| x.min(t)));
        tmax = Some(tmax.map_or(t, |x| x.max(t)));
        let per_queue = match by_bytes.get_mut(msg.topic) {
            Some(q) => q,
            None => by_bytes.entry(msg.topic.to_vec()).or_default(),
        };
        let q = per_queue.entry(msg.queue_id).or_default();
        q.count += 1;
        let qo = msg.queue_offset;
        q.min_qoff = Some(q.min_qoff.map_or(qo, |x| x.min(qo)));
        q.max_qoff = Some(q.max_qoff.map_or(qo, |x| x.max(qo)));
        ControlFlow::Continue(())
    });
    progress.finish();
    let mut queues: BTreeMap<String, BTreeMap<i32, QueueStat>> = BTreeMap::new();
    for (topic, per_queue) in by_bytes {
        let t = queues
            .entry(String::from_utf8_lossy(&topic).into_owned())
            .or_default();
        for (id, s) in per_queue {
            let q = t.entry(id).or_default();
            q.count += s.count;
            q.min_qoff = min_opt(q.min_qoff, s.min_qoff);
            q.max_qoff = q.max_qoff.max(s.max_qoff);
        }
    }
    problems.extend(rep.problems.iter().cloned());
    m.insert("messageCount".into(), json!(count));
    m.insert("messageBytes".into(), json!(bytes));
    m.insert("firstMessageOffset".into(), json!(first));
    m.insert("commitLogMinOffset".into(), json!(start));
    // Where reading ends: the end of the last message Java would read.
    m.insert(
        "commitLogMaxOffset".into(),
        json!(last_end.unwrap_or(if r.kind == StoreKind::RocketMq {
            start
        } else {
            0
        })),
    );
    m.insert("storeTimestamp".into(), range(tmin, tmax));
    let topics: Map<String, Value> = queues
        .into_iter()
        .map(|(t, qs)| {
            let qs: Map<String, Value> = qs
                .into_iter()
                .map(|(q, s)| {
                    (
                        q.to_string(),
                        json!({"count": s.count, "minQueueOffset": s.min_qoff, "maxQueueOffset": s.max_qoff}),
                    )
                })
                .collect();
            (t, Value::Object(qs))
        })
        .collect();
    m.insert("topics".into(), Value::Object(topics));
    let blanks: Vec<Value> = rep
        .blanks
        .iter()
        .map(|b: &Blank| {
            if r.kind == StoreKind::RocketMq {
                json!({"physicalOffset": b.offset, "totalSize": b.size, "magic": b.magic})
            } else {
                json!({"physicalOffset": b.offset, "kind": "dledger", "magic": b.magic, "size": b.size, "nextOffset": b.next})
            }
        })
        .collect();
    m.insert("endOfFileBlanks".into(), Value::Array(blanks));
    Ok(())
}

fn dledger(
    ctx: &mut Ctx<'_>,
    o: &Opened,
    problems: &mut Vec<rocketlog_core::scan::Problem>,
) -> anyhow::Result<Map<String, Value>> {
    let mut m = Map::new();
    let r = &o.resolved;
    if let Some(d) = &r.paths.dledger {
        m.insert(
            "dir".into(),
            json!(d.file_name().map(|n| n.to_string_lossy().into_owned())),
        );
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(id) = name.strip_prefix("dledger-") {
            m.insert("selfId".into(), json!(id));
        }
    }
    m.insert("dataFiles".into(), files(o, &LogId::DLedgerData)?);
    if r.paths.dledger_index.is_some() {
        m.insert("indexFiles".into(), files(o, &LogId::DLedgerIndex)?);
    }
    let (start, end) = dump::main_log_range(o, &LogId::DLedgerData);
    let progress = Progress::new(ctx.progress, "stat", start, end);
    let mut count = 0u64;
    let (mut begin, mut last) = (None, None::<(i64, i64)>);
    let mut terms: BTreeMap<i64, u64> = BTreeMap::new();
    let mut write_pos = None;
    let rep = walk::entries(&o.store, r, &mut |e| {
        progress.at(e.pos as u64);
        count += 1;
        begin.get_or_insert(e.index);
        last = Some((e.index, e.term));
        write_pos = Some(e.pos + i64::from(e.size));
        *terms.entry(e.term).or_default() += 1;
        ControlFlow::Continue(())
    });
    progress.finish();
    problems.extend(rep.problems.iter().cloned());
    m.insert("entryCount".into(), json!(count));
    m.insert("ledgerBeginIndex".into(), json!(begin.unwrap_or(-1)));
    m.insert("ledgerEndIndex".into(), json!(last.map_or(-1, |l| l.0)));
    m.insert("ledgerEndTerm".into(), json!(last.map_or(-1, |l| l.1)));
    m.insert(
        "dataWritePos".into(),
        json!(write_pos.unwrap_or(start as i64)),
    );
    if r.paths.dledger_index.is_some() {
        m.insert(
            "indexWritePos".into(),
            json!(last.map_or(0, |l| (l.0 + 1).saturating_mul(32))),
        );
    }
    let per_term: Map<String, Value> = terms
        .into_iter()
        .map(|(t, n)| (t.to_string(), json!(n)))
        .collect();
    m.insert("entriesPerTerm".into(), Value::Object(per_term));
    let blanks: Vec<Value> = rep
        .blanks
        .iter()
        .map(|b| json!({"pos": b.offset, "magic": b.magic, "size": b.size, "nextEntryPos": b.next}))
        .collect();
    m.insert("endOfFileBlanks".into(), Value::Array(blanks));

    let mut props = Map::new();
    for (file, name) in [
        (MetaFile::CurrTerm, "currterm"),
        (MetaFile::DLedgerCheckpoint, "checkpoint"),
    ] {
        let Some(b) = o.store.read_meta(file)? else {
            continue;
        };
        match kv::parse(&b) {
            Ok(pairs) => {
                let obj: Map<String, Value> = pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                props.insert(name.into(), Value::Object(obj));
            }
            Err(e) => {
                props.insert(name.into(), json!({"error": e.to_string()}));
            }
        }
    }
    let get = |f: &str, k: &str| {
        props
            .get(f)
            .and_then(|o| o.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let Some(t) = get("currterm", "currTerm").and_then(|t| t.parse::<i64>().ok()) {
        m.insert("currTerm".into(), json!(t));
    }
    if let Some(v) = get("currterm", "voteLeader") {
        m.insert("currVoteFor".into(), json!(v));
    }
    if let Some(c) = get("checkpoint", "committedIndex").and_then(|t| t.parse::<i64>().ok()) {
        m.insert("committedIndex".into(), json!(c));
    }
    if r.form != PathForm::DLedgerDataDir && r.form != PathForm::DLedgerDataFile {
        m.insert("propertyFiles".into(), Value::Object(props));
    }
    Ok(m)
}

/// Prints a JSON value as indented `key: value` lines.
fn print_table(out: &mut dyn Write, indent: &str, v: &Value) -> std::io::Result<()> {
    let Value::Object(m) = v else {
        return writeln!(out, "{indent}{v}");
    };
    for (k, v) in m {
        match v {
            Value::Object(o) if o.is_empty() => writeln!(out, "{indent}{k}: (none)")?,
            Value::Object(_) => {
                writeln!(out, "{indent}{k}:")?;
                print_table(out, &format!("{indent}  "), v)?;
            }
            Value::Array(a) if a.is_empty() => writeln!(out, "{indent}{k}: (none)")?,
            Value::Array(a) => {
                writeln!(out, "{indent}{k}:")?;
                for item in a {
                    let line = match item {
                        Value::Object(o) => o
                            .iter()
                            .map(|(k, v)| format!("{k}={}", plain(v)))
                            .collect::<Vec<_>>()
                            .join(" "),
                        other => plain(other),
                    };
                    writeln!(out, "{indent}  - {line}")?;
                }
            }
            other => writeln!(out, "{indent}{k}: {}", plain(other))?,
        }
    }
    Ok(())
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
