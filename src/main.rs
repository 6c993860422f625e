//! The `carteiro` binary: parse the arguments, run the command. The work is
//! in the library (`carteiro::cli`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    carteiro::cli::run(carteiro::cli::Cli::parse())
}
