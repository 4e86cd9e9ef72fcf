//! The `praxis` binary: parse the command line, send diagnostics to stderr, run, exit.
//!
//! Everything of substance lives in the library; this file only picks the exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = praxis::cli::Cli::parse();
    praxis::cli::init_tracing(&cli);
    praxis::cli::run(cli)
}
