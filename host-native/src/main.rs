//! The `rocketlog` binary: [`rocketlog::cli::run_with`] on the real stdout
//! (buffered, locked) and stderr. See `rocketlog::cli` for the exit codes.

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let stderr = std::io::stderr();
    let progress = stderr.is_terminal();
    let mut err = stderr.lock();
    let code = rocketlog::cli::run_with(
        std::env::args_os(),
        &mut out,
        &mut err,
        rocketlog::cli::Options { progress },
    );
    // `run_with` flushed and handled a closed pipe; nothing more to report.
    let _ = out.flush();
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
