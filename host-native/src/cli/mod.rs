//! The `rocketlog` command line, as a function ([`run`]) so tests can call it
//! in-process; `main.rs` only wires it to the real stdout and stderr.
//!
//! Every command but `append`, `recover` and `convert` is read-only: it
//! never creates, locks, truncates or writes anything under PATH
//! (`recover --dry-run` included).
//!
//! # Exit codes
//!
//! | code | meaning |
//! | --- | --- |
//! | [`exit::OK`] = 0 | success; `verify`: no problem (notices, e.g. a torn tail after a crash, may be printed) |
//! | [`exit::PROBLEMS`] = 1 | the store has problems: `verify` found warnings or errors; `dump`, `stat` and `query-key` printed what the reference would read and reported problems on stderr |
//! | [`exit::USAGE`] = 2 | bad usage, or PATH cannot be read as a store (missing, unreadable, not a store, ambiguous), or an output error |
//!
//! Writing to a closed pipe (`rocketlog dump ... | head`) stops quietly with 0.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use rocketlog_core::scan::{Problem, Severity};
use rocketlog_core::store::LogId;

use crate::mmap::{MmapStore, Skipped, segment_name};
use crate::resolve::{Resolved, resolve};

mod bench;
mod dump;
mod jsonl_input;
mod lookup;
mod progress;
mod query;
mod stat;
mod table;
mod verify;
mod write_append;
mod write_convert;
mod write_dlcl;
mod write_recover;

/// Exit codes of the `rocketlog` binary.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The store has problems (reported on stdout for `verify`, stderr otherwise).
    pub const PROBLEMS: i32 = 1;
    /// Bad usage, or PATH is not a readable store, or output failed.
    pub const USAGE: i32 = 2;
}

/// Read RocketMQ and DLedger stores without changing them.
#[derive(Debug, Parser)]
#[command(name = "rocketlog", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 problems found in the store, 2 usage error or unreadable input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every record: messages (RocketMQ, either mode) or entries (DLedger).
    Dump(dump::Args),
    /// Look a key up in the IndexFiles of a RocketMQ store.
    QueryKey(query::Args),
    /// Check records, CRCs, stored offsets, DLedger index vs data and consume
    /// queues vs commitlog.
    Verify(verify::Args),
    /// Files, offset ranges, counts, time range, blanks, checkpoints.
    Stat(stat::Args),
    /// Measure read throughput (dump, verify, crc32) over PATH's main log.
    #[command(hide = true)]
    BenchRead(bench::Args),
    /// Measure appends, reads, scans and recovery on a temporary store, each
    /// beside the machine limit that bounds it (and the peer, if built).
    Bench(bench::BenchArgs),
    /// Append records given as JSON lines on stdin (the dump schema).
    Append(write_append::Args),
    /// Run recovery (repairing the store) and print the report.
    Recover(write_recover::Args),
    /// Copy a store into DLedger commitlog mode, back, or to other file sizes.
    Convert(write_convert::Args),
    /// Print one record: by physical offset, by queue position or by DLedger index.
    Get(lookup::GetArgs),
    /// Print the messages of one consume queue from a queue offset on.
    Consume(lookup::ConsumeArgs),
}

/// Output format of record listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ListFormat {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object per line (the fixtures' `expected*.jsonl`).
    Jsonl,
}

/// How [`run_with`] behaves beyond its arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Draw progress bars on the real stderr for long scans.
    pub progress: bool,
}

/// Runs the CLI with `args` (including the program name) and returns the exit code.
pub fn run<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with(args, stdout, stderr, Options::default())
}

/// [`run`] with [`Options`].
pub fn run_with<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write, opts: Options) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_inner(args, None, stdout, stderr, opts)
}

/// [`run`] reading `stdin` (for `append`) instead of the process's.
pub fn run_with_stdin<I, T>(
    args: I,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_inner(args, Some(stdin), stdout, stderr, Options::default())
}

fn run_inner<'a, I, T>(
    args: I,
    input: Option<&'a mut dyn Read>,
    stdout: &'a mut dyn Write,
    stderr: &'a mut dyn Write,
    opts: Options,
) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let text = e.render().to_string();
            let sink: &mut dyn Write = if e.use_stderr() { stderr } else { stdout };
            let _ = sink.write_all(text.as_bytes());
            let _ = sink.flush();
            return code;
        }
    };
    let mut ctx = Ctx {
        out: stdout,
        err: stderr,
        progress: opts.progress,
        input,
    };
    let result = match cli.command {
        Command::Dump(a) => dump::run(&mut ctx, &a),
        Command::QueryKey(a) => query::run(&mut ctx, &a),
        Command::Verify(a) => verify::run(&mut ctx, &a),
        Command::Stat(a) => stat::run(&mut ctx, &a),
        Command::BenchRead(a) => bench::run(&mut ctx, &a),
        Command::Bench(a) => bench::run_bench(&mut ctx, &a),
        Command::Append(a) => write_append::run(&mut ctx, &a),
        Command::Recover(a) => write_recover::run(&mut ctx, &a),
        Command::Convert(a) => write_convert::run(&mut ctx, &a),
        Command::Get(a) => lookup::get(&mut ctx, &a),
        Command::Consume(a) => lookup::consume(&mut ctx, &a),
    };
    let flushed = ctx.out.flush();
    match result.and_then(|code| flushed.map(|()| code).map_err(anyhow::Error::from)) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            let _ = writeln!(ctx.err, "rocketlog: error: {e:#}");
            let _ = ctx.err.flush();
            exit::USAGE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// What every command gets.
pub(crate) struct Ctx<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) err: &'a mut dyn Write,
    pub(crate) progress: bool,
    /// `append`'s input when not the process's stdin (tests).
    pub(crate) input: Option<&'a mut dyn Read>,
}

/// A resolved, opened store.
pub(crate) struct Opened {
    pub(crate) resolved: Resolved,
    pub(crate) store: MmapStore,
}

pub(crate) fn open(path: &Path) -> anyhow::Result<Opened> {
    let resolved = resolve(path)?;
    let store = MmapStore::new(resolved.paths.clone());
    Ok(Opened { resolved, store })
}

impl Opened {
    /// The file a problem is in, for messages.
    pub(crate) fn where_(&self, log: &LogId, segment: Option<u64>) -> PathBuf {
        let paths = &self.resolved.paths;
        match segment {
            Some(s) => paths.segment_path(log, s),
            None => paths.log_path(log),
        }
        .unwrap_or_else(|| PathBuf::from(log.to_string()))
    }

    /// One line describing a problem: severity, file, absolute offset, what.
    pub(crate) fn describe(&self, p: &Problem) -> String {
        let sev = match p.severity {
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let file = self.where_(&p.log, p.segment);
        let what = match &p.kind {
            rocketlog_core::scan::ProblemKind::Decode(e) => e.kind.to_string(),
            rocketlog_core::scan::ProblemKind::Store(e) => e.to_string(),
            rocketlog_core::scan::ProblemKind::Other(s) => s.clone(),
            other => format!("{other:?}"),
        };
        match p.segment {
            Some(seg) if p.offset >= seg => format!(
                "{sev}: {} at offset {} (position {} in the file): {what}",
                file.display(),
                p.offset,
                p.offset - seg
            ),
            _ => format!("{sev}: {} at offset {}: {what}", file.display(), p.offset),
        }
    }

    pub(crate) fn describe_skipped(&self, s: &Skipped) -> String {
        format!(
            "warning: {}: skipped, {} (not part of {})",
            s.path.display(),
            s.why,
            s.log
        )
    }
}

/// Reports warnings, errors and skipped entries on stderr; returns the exit code they imply.
pub(crate) fn report_on_stderr(
    ctx: &mut Ctx<'_>,
    o: &Opened,
    problems: &[Problem],
) -> anyhow::Result<i32> {
    let mut code = exit::OK;
    for s in o.store.skipped() {
        writeln!(ctx.err, "rocketlog: {}", o.describe_skipped(&s))?;
    }
    // Notices (a torn tail Java drops, a missing checkpoint) are `verify`'s
    // business; the read commands mention only what makes their output suspect.
    for p in problems.iter().filter(|p| p.severity >= Severity::Warning) {
        writeln!(ctx.err, "rocketlog: {}", o.describe(p))?;
        code = exit::PROBLEMS;
    }
    Ok(code)
}

/// `name` of a segment of `log` (20-digit offset, or 17-digit time for index files).
pub(crate) fn seg_name(log: &LogId, seg: u64) -> String {
    segment_name(log, seg)
}
