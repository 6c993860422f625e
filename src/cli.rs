//! The command line: `carteiro sim`, `carteiro check`, `carteiro version`.
//!
//! `main` parses [`Cli`] and hands it to [`run`]; everything else lives
//! here so it can be read and tested as library code. Output meant for
//! scripts (the simulator's address, `check`'s problem lines) goes to
//! stdout; logs and error summaries go to stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, LoadOptions, LogConfig, LogFormat};
use crate::helpdesk::sim::{RateLimit, Seed, SimOptions, Simulator};

/// carteiro runs support procedures beside Zendesk, from declarative rule
/// files.
#[derive(Debug, Parser)]
#[command(name = "carteiro", about, disable_version_flag = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. Only ones that work exist.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Zendesk-compatible simulator (in memory, for tests and trials).
    Sim(SimArgs),
    /// Validate the configuration; print one line per problem on stdout.
    Check(CheckArgs),
    /// Print carteiro's version.
    Version,
}

/// Options of `carteiro sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    pub listen: String,
    /// JSON seed: users, groups, custom statuses, ticket fields, tickets,
    /// Help Center articles.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Let the incremental export start less than a minute in the past
    /// (Zendesk refuses that; tests need it).
    #[arg(long)]
    pub relax_export_start: bool,
    /// Answer 429 once N requests were made within SECS seconds, e.g. 700/60.
    #[arg(long, value_name = "N/SECS", value_parser = parse_rate_limit)]
    pub rate_limit: Option<(u32, Duration)>,
}

/// Options of `carteiro check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file to read instead of config/default.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Runs the command and returns the process's exit code: 0 on success, 1
/// on an invalid configuration or a failure (clap itself exits 2 on bad
/// arguments).
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Version => version(),
        Command::Check(args) => check(args),
        Command::Sim(args) => sim(args),
    }
}

/// `carteiro X.Y.Z`, plus the commit when the build set
/// `CARTEIRO_GIT_COMMIT` (the Dockerfile and CI can; a plain `cargo build`
/// need not).
pub fn version_line() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("CARTEIRO_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => format!("carteiro {version} (commit {commit})"),
        _ => format!("carteiro {version}"),
    }
}

fn version() -> ExitCode {
    finish(stdout_lines([version_line()]))
}

fn check(args: CheckArgs) -> ExitCode {
    let options = LoadOptions::from_process(args.config);
    match config::load(&options) {
        Ok(loaded) => {
            let source = match &loaded.file {
                Some(path) => format!("read {}", path.display()),
                None => "no config file; built-in defaults and environment".to_owned(),
            };
            let lines = loaded
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .chain([format!("ok: configuration is valid ({source})")]);
            finish(stdout_lines(lines))
        }
        Err(invalid) => {
            let count = invalid.problems.len();
            let written = stdout_lines(invalid.problems.iter().map(ToString::to_string)).and_then(|()| {
                stderr_line(&format!(
                    "error: the configuration has {count} problem{}",
                    if count == 1 { "" } else { "s" }
                ))
            });
            let _ = finish(written);
            ExitCode::FAILURE
        }
    }
}

fn sim(args: SimArgs) -> ExitCode {
    let log = match config::load_log(&LoadOptions::from_process(None)) {
        Ok(log) => log,
        Err(invalid) => return fail(&anyhow::Error::new(invalid)),
    };
    if let Err(e) = init_logging(&log) {
        return fail(&e);
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run_sim(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn run_sim(args: SimArgs) -> anyhow::Result<()> {
    let seed = match &args.seed {
        Some(path) => Seed::from_path(path)?,
        None => Seed::default(),
    };
    let options = SimOptions {
        seed,
        relax_export_start: args.relax_export_start,
        rate_limit: args.rate_limit.map(|(limit, window)| RateLimit { limit, window }),
        ..SimOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("cannot read the address bound for {}", args.listen))?;
    stdout_lines([format!("listening on http://{addr}")]).context("cannot write to stdout")?;
    tracing::info!(%addr, seed = ?args.seed, "simulator listening");
    Simulator::new(options)
        .serve(listener, shutdown_signal())
        .await
        .with_context(|| format!("the simulator on {addr} failed"))?;
    tracing::info!("simulator stopped");
    Ok(())
}

/// Installs the global `tracing` subscriber: `log.level` as an `EnvFilter`,
/// text or JSON lines, to stderr.
pub fn init_logging(log: &LogConfig) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(&log.level)
        .with_context(|| format!("invalid log.level {:?}", log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the simulator")
            }
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}

/// Parses `N/SECS` (e.g. `700/60`) for `--rate-limit`.
fn parse_rate_limit(text: &str) -> Result<(u32, Duration), String> {
    let expected = || format!("expected N/SECS with whole numbers above zero, e.g. 700/60; got {text:?}");
    let (limit, secs) = text.split_once('/').ok_or_else(expected)?;
    let limit: u32 = limit.parse().map_err(|_| expected())?;
    let secs: u64 = secs.parse().map_err(|_| expected())?;
    if limit == 0 || secs == 0 {
        return Err(expected());
    }
    Ok((limit, Duration::from_secs(secs)))
}

/// Writes lines to stdout and flushes, so a reader sees them at once.
fn stdout_lines(lines: impl IntoIterator<Item = String>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

fn stderr_line(line: &str) -> std::io::Result<()> {
    writeln!(std::io::stderr().lock(), "{line}")
}

/// Reports an error on stderr (with its chain of causes) and returns exit 1.
fn fail(error: &anyhow::Error) -> ExitCode {
    let _ = stderr_line(&format!("error: {error:#}"));
    ExitCode::FAILURE
}

/// Exit 0, or 1 when stdout could not be written (a closed pipe).
fn finish(written: std::io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_parses_n_per_seconds() {
        assert_eq!(parse_rate_limit("700/60"), Ok((700, Duration::from_secs(60))));
        assert_eq!(
            parse_rate_limit("700"),
            Err("expected N/SECS with whole numbers above zero, e.g. 700/60; got \"700\"".to_owned())
        );
        assert!(parse_rate_limit("0/60").is_err_and(|e| e.contains("above zero")));
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
