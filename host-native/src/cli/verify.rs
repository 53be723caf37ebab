//! `rocketlog verify`: every check the readers have, as a report.

use std::path::PathBuf;

use rocketlog_core::scan::Severity;

use super::{Ctx, exit, open};
use crate::walk;

/// `verify` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Any PATH form `dump` accepts.
    path: PathBuf,
}

pub(crate) fn run(ctx: &mut Ctx<'_>, a: &Args) -> anyhow::Result<i32> {
    let o = open(&a.path)?;
    let problems = walk::verify(&o.store, &o.resolved);
    let skipped = o.store.skipped();
    let count = |s| problems.iter().filter(|p| p.severity == s).count();
    let (errors, warnings, notices) = (
        count(Severity::Error),
        count(Severity::Warning) + skipped.len(),
        count(Severity::Notice),
    );
    for s in &skipped {
        writeln!(ctx.out, "{}", o.describe_skipped(s))?;
    }
    for p in &problems {
        writeln!(ctx.out, "{}", o.describe(p))?;
    }
    let what = format!(
        "{} store at {}",
        o.resolved.kind.name(),
        o.resolved.path.display()
    );
    if errors + warnings == 0 {
        writeln!(ctx.out, "ok: {what}: no problems ({notices} notices)")?;
        Ok(exit::OK)
    } else {
        writeln!(
            ctx.out,
            "{what}: {errors} errors, {warnings} warnings, {notices} notices"
        )?;
        Ok(exit::PROBLEMS)
    }
}
