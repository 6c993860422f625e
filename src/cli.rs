//! The command line: `carteiro demo`, `carteiro sim`, `carteiro check`, `carteiro mail`,
//! `carteiro calendar`, `carteiro rules`, `carteiro version`.
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

pub mod calendar;
pub mod rules;

use crate::config::{self, LoadOptions, LogConfig, LogFormat};
use crate::helpdesk::sim::{MailOutlet, RateLimit, Seed, SimOptions, Simulator};

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
    /// Play a scripted day of support with the shipped rule packs, the
    /// built-in simulator and local Maildirs: no account, no network. Prints
    /// what happened as a table and where to look afterwards.
    Demo(DemoArgs),
    /// Run the daemon: read the configured mailboxes into Zendesk until
    /// SIGTERM or Ctrl-C.
    Run(RunArgs),
    /// Run the Zendesk-compatible simulator (in memory, for tests and trials).
    Sim(SimArgs),
    /// Validate the configuration, render every mail template against a
    /// sample and load the rules folder; print one line per problem on
    /// stdout.
    Check(CheckArgs),
    /// Business calendars: holidays, due dates, elapsed business time.
    Calendar {
        /// What to compute.
        #[command(subcommand)]
        command: calendar::CalendarCommand,
    },
    /// Work with mail: inspect, quarantine, send, outbox.
    Mail {
        /// What to do with mail.
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Rules: the file schema, scenario tests, and why a rule fires or not.
    Rules {
        /// What to do with the rules.
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Print what carteiro would do now, on live data, without doing it:
    /// the tickets changed recently and the mails not processed yet, each
    /// with its plan and the mails it would send. Writes nothing, sends
    /// nothing, moves no cursor.
    DryRun(DryRunArgs),
    /// Print carteiro's version.
    Version,
}

/// Options of `carteiro demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The folder to write into (rules, mail, state, simulator state). A
    /// folder from an earlier demo is replaced; any other non-empty folder
    /// is refused.
    #[arg(long, value_name = "DIR", default_value = "carteiro-demo")]
    pub out: PathBuf,
}

/// Options of `carteiro dry-run`.
#[derive(Debug, Args)]
pub struct DryRunArgs {
    /// Configuration file to read instead of config/default.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How far back to look at changed tickets, e.g. 30m, 24h.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_since)]
    pub since: Duration,
}

fn parse_since(text: &str) -> Result<Duration, String> {
    config::parse_duration(text).map_err(|e| e.to_string())
}

/// The `carteiro mail` subcommands.
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Show what carteiro would make of mail files (.eml), offline: one JSON
    /// object per file on stdout, with its kind (new, reply, auto_reply,
    /// bounce, list, own or quarantine).
    Inspect {
        /// Take the [mail] settings (own addresses, Message-ID domain, loop
        /// header, subject tag, attachment cap) from this configuration file;
        /// without it the built-in defaults are used.
        #[arg(long, value_name = "CONFIG")]
        config: Option<PathBuf>,
        /// The raw mail files to read.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Render a template for a ticket and put the mail in the outbox; the
    /// daemon (`carteiro run`) delivers it.
    Send(SendArgs),
    /// The outbox: list what waits or was sent, and nudge it.
    Outbox {
        /// Configuration file to read instead of config/default.toml.
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Mails that could not be processed: list, show, retry.
    Quarantine {
        /// Configuration file to read instead of config/default.toml.
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: QuarantineCommand,
    },
}

/// Options of `carteiro mail send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Configuration file to read instead of config/default.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The template's name: NAME.txt.j2 (and NAME.html.j2) in mail.templates.
    #[arg(long, value_name = "NAME")]
    pub template: String,
    /// A recipient; repeat for more.
    #[arg(long, value_name = "ADDR", required = true)]
    pub to: Vec<String>,
    /// A copy recipient; repeat for more.
    #[arg(long, value_name = "ADDR")]
    pub cc: Vec<String>,
    /// The ticket the mail belongs to; its data fills the template.
    #[arg(long, value_name = "N")]
    pub ticket: u64,
    /// The subject (before the ticket tag); the ticket's subject by default.
    #[arg(long)]
    pub subject: Option<String>,
    /// A template variable, `vars.NAME`; repeat for more.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// A file to attach, relative to the rules folder (the parent of
    /// mail.templates); repeat for more.
    #[arg(long, value_name = "PATH")]
    pub attach: Vec<PathBuf>,
}

/// The `carteiro mail outbox` subcommands.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// One line per mail not yet sent (every mail with --all): id, state,
    /// attempts, ticket, recipients, next attempt, last error; then the
    /// suppression counts per guard.
    List {
        /// Include the mails already sent.
        #[arg(long)]
        all: bool,
    },
    /// Make a queued, held or failed mail due now (a held or failed one
    /// only once its recipients are no longer marked bouncing).
    Retry {
        /// The mail's id, from `list`.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every mail not yet sent.
        #[arg(long)]
        all: bool,
    },
    /// Forget that an address bounces, so mail to it is no longer held.
    ClearBounce {
        /// The address.
        address: String,
    },
}

/// The `carteiro mail quarantine` subcommands.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// One line per quarantined mail: id, retries, mailbox, Message-ID, reason.
    List {
        /// Include the entries already resolved by a retry.
        #[arg(long)]
        all: bool,
    },
    /// One entry with its raw mail.
    Show {
        /// The entry's id, from `list`.
        id: i64,
    },
    /// Process quarantined mail again (after a fix or a configuration change).
    Retry {
        /// The entry's id, from `list`.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every unresolved entry.
        #[arg(long)]
        all: bool,
    },
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
    /// Deliver the triggers' e-mail notifications to this SMTP server
    /// (plain SMTP, no TLS, no AUTH: a server on loopback).
    #[arg(long, value_name = "HOST:PORT", value_parser = MailOutlet::smtp, conflicts_with = "maildir")]
    pub smtp: Option<MailOutlet>,
    /// Deliver the triggers' e-mail notifications into DIR/<recipient
    /// address>/new/, one Maildir per recipient.
    #[arg(long, value_name = "DIR")]
    pub maildir: Option<PathBuf>,
}

/// Options of `carteiro check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file to read instead of config/default.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The rules folder to check instead of the configuration's
    /// `rules.dir`. Without --config and --online, only the rules are
    /// checked.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Also resolve every group, agent, custom status and field the rules
    /// name against the helpdesk (read-only).
    #[arg(long)]
    pub online: bool,
}

/// Runs the command and returns the process's exit code: 0 on success, 1
/// on an invalid configuration or a failure (clap itself exits 2 on bad
/// arguments).
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Version => version(),
        Command::Demo(args) => demo(args),
        Command::Check(args) => check(args),
        Command::Mail { command } => mail(command),
        Command::Calendar { command } => calendar::run(command),
        Command::Rules { command } => rules::run(command),
        Command::Sim(args) => sim(args),
        Command::Run(args) => run_daemon(args),
        Command::DryRun(args) => dry_run(args),
    }
}

/// `carteiro demo`: the table on stdout, the log in the demo folder.
fn demo(args: DemoArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| {
            runtime.block_on(async {
                let mut out = std::io::stdout();
                crate::demo::run(&args.out, &mut out).await
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn dry_run(args: DryRunArgs) -> ExitCode {
    let loaded = match config::load(&LoadOptions::from_process(args.config)) {
        Ok(loaded) => loaded,
        Err(invalid) => {
            let _ = stdout_lines(invalid.problems.iter().map(ToString::to_string));
            let _ = stderr_line("error: the configuration is invalid");
            return ExitCode::FAILURE;
        }
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(crate::dry_run::dry_run(&loaded.config, args.since)));
    match result {
        Ok(lines) => match stdout_lines(lines) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.into()),
        },
        Err(e) => fail(&e),
    }
}

/// Options of `carteiro run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file to read instead of config/default.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `carteiro run`: nothing starts on an invalid configuration.
fn run_daemon(args: RunArgs) -> ExitCode {
    let loaded = match config::load(&LoadOptions::from_process(args.config)) {
        Ok(loaded) => loaded,
        Err(invalid) => {
            let _ = stdout_lines(invalid.problems.iter().map(ToString::to_string));
            let _ = stderr_line("error: the configuration is invalid; nothing was started");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = init_logging(&loaded.config.log) {
        return fail(&e);
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(crate::daemon::run(loaded.config, shutdown_signal())));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
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
    if let (Some(dir), None, false) = (&args.rules, &args.config, args.online) {
        return check_rules_only(dir);
    }
    let options = LoadOptions::from_process(args.config);
    match config::load(&options) {
        Ok(loaded) => {
            let source = match &loaded.file {
                Some(path) => format!("read {}", path.display()),
                None => "no config file; built-in defaults and environment".to_owned(),
            };
            // Every template is rendered against the full sample context, so
            // an undefined name fails here, with its file and line.
            let template_problems = match &loaded.config.mail.templates {
                Some(dir) => crate::template::check_dir(dir, &crate::template::TemplateOptions::default()),
                None => Vec::new(),
            };
            if !template_problems.is_empty() {
                let count = template_problems.len();
                let warnings = loaded.warnings.iter().map(|w| format!("warning: {w}"));
                let problems = template_problems.iter().map(ToString::to_string);
                let written = stdout_lines(warnings.chain(problems)).and_then(|()| {
                    stderr_line(&format!(
                        "error: the mail templates have {count} problem{}",
                        if count == 1 { "" } else { "s" }
                    ))
                });
                let _ = finish(written);
                return ExitCode::FAILURE;
            }
            let rules_dir = args.rules.as_ref().or(loaded.config.rules.dir.as_ref());
            if let Some(dir) = rules_dir {
                let online = args.online.then_some(&loaded.config);
                let problems = rules::check_rules(dir, &loaded.config.calendars, online);
                if !problems.is_empty() {
                    return rules_failed(problems);
                }
            }
            let templates = match &loaded.config.mail.templates {
                Some(dir) => format!("; mail templates in {} render", dir.display()),
                None => String::new(),
            };
            let templates = match rules_dir {
                Some(dir) if args.online => {
                    format!(
                        "{templates}; rules in {} load and name only known things",
                        dir.display()
                    )
                }
                Some(dir) => format!("{templates}; rules in {} load", dir.display()),
                None => templates,
            };
            let lines = loaded
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .chain([format!("ok: configuration is valid ({source}){templates}")]);
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

/// `check --rules DIR` alone: the rules folder, with the calendars of the
/// configuration when there is one.
fn check_rules_only(dir: &std::path::Path) -> ExitCode {
    let calendars = match config::load_calendars(&LoadOptions::from_process(None)) {
        Ok(calendars) => calendars,
        Err(invalid) => {
            let _ = stdout_lines(invalid.problems.iter().map(ToString::to_string));
            let _ = stderr_line("error: the calendars in the configuration are invalid");
            return ExitCode::FAILURE;
        }
    };
    let problems = rules::check_rules(dir, &calendars, None);
    if !problems.is_empty() {
        return rules_failed(problems);
    }
    finish(stdout_lines([format!("ok: the rules in {} load", dir.display())]))
}

fn rules_failed(problems: Vec<String>) -> ExitCode {
    let count = problems.len();
    let written = stdout_lines(problems).and_then(|()| {
        stderr_line(&format!(
            "error: the rules have {count} problem{}",
            if count == 1 { "" } else { "s" }
        ))
    });
    let _ = finish(written);
    ExitCode::FAILURE
}

fn mail(command: MailCommand) -> ExitCode {
    match command {
        MailCommand::Inspect { config, files } => mail_inspect(config, &files),
        MailCommand::Quarantine { config, command } => quarantine(config, command),
        MailCommand::Send(args) => mail_send(args),
        MailCommand::Outbox { config, command } => outbox(config, command),
    }
}

/// Loads the configuration and opens the store, or says why not on stderr.
fn config_and_store(config_file: Option<PathBuf>) -> Result<(config::Config, crate::store::Store), ExitCode> {
    let loaded = match config::load(&LoadOptions::from_process(config_file)) {
        Ok(loaded) => loaded,
        Err(invalid) => {
            for problem in &invalid.problems {
                let _ = stderr_line(&problem.to_string());
            }
            let _ = stderr_line("error: the configuration is invalid");
            return Err(ExitCode::FAILURE);
        }
    };
    match crate::daemon::open_store(&loaded.config) {
        Ok(store) => Ok((loaded.config, store)),
        Err(e) => Err(fail(&e)),
    }
}

/// `carteiro mail send`: prints what the outbox did with the mail.
fn mail_send(args: SendArgs) -> ExitCode {
    use crate::outbound::{MailAddress, TemplateMail};
    use crate::store::Enqueued;
    let (config, store) = match config_and_store(args.config) {
        Ok(found) => found,
        Err(code) => return code,
    };
    if let Err(e) = init_logging(&config.log) {
        return fail(&e);
    }
    let request = TemplateMail {
        template: args.template,
        ticket_id: args.ticket,
        to: args.to.into_iter().map(MailAddress::new).collect(),
        cc: args.cc.into_iter().map(MailAddress::new).collect(),
        subject: args.subject,
        vars: args.vars.into_iter().collect(),
        attachments: args.attach,
        kind: None,
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(crate::daemon::send_mail(&config, &store, &request)));
    match result {
        Ok(Enqueued::Queued { id, message_id, .. }) => {
            finish(stdout_lines([format!("queued\t{id}\t<{message_id}>")]))
        }
        Ok(Enqueued::AlreadyQueued { id }) => finish(stdout_lines([format!("already queued\t{id}")])),
        Ok(Enqueued::Held {
            id,
            message_id,
            reason,
        }) => {
            let _ = stdout_lines([format!("held\t{id}\t<{message_id}>\t{reason}")]);
            ExitCode::FAILURE
        }
        Ok(Enqueued::Suppressed { reason, detail }) => {
            let _ = stdout_lines([format!("suppressed\t{}\t{detail}", reason.name())]);
            ExitCode::FAILURE
        }
        Err(e) => fail(&e),
    }
}

/// `carteiro mail outbox`: reads and nudges the store only; the daemon
/// delivers.
fn outbox(config_file: Option<PathBuf>, command: OutboxCommand) -> ExitCode {
    let (_, store) = match config_and_store(config_file) {
        Ok(found) => found,
        Err(code) => return code,
    };
    match command {
        OutboxCommand::List { all } => {
            let entries = match store.outbox_list(all) {
                Ok(entries) => entries,
                Err(e) => return fail(&anyhow::Error::new(e)),
            };
            let counts = match store.suppression_counts() {
                Ok(counts) => counts,
                Err(e) => return fail(&anyhow::Error::new(e)),
            };
            let lines = entries
                .iter()
                .map(|e| {
                    format!(
                        "{}\t{}\t{} attempts\t#{}\t{}\t{}\t{}",
                        e.id,
                        e.state.name(),
                        e.attempts,
                        e.ticket_id,
                        e.recipients.join(","),
                        match e.state {
                            crate::store::OutboxState::Sent =>
                                format!("sent {}", e.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default()),
                            _ => format!("next {}", e.next_attempt_at.to_rfc3339()),
                        },
                        e.response.as_deref().or(e.last_error.as_deref()).unwrap_or("-"),
                    )
                })
                .chain(counts.iter().map(|c| {
                    format!(
                        "suppressed\t{}\t{}\tlast {}{}",
                        c.reason,
                        c.count,
                        c.last_at.to_rfc3339(),
                        c.last_recipient
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    )
                }));
            finish(stdout_lines(lines))
        }
        OutboxCommand::Retry { id, all } => {
            let ids: Vec<i64> = if all {
                match store.outbox_list(false) {
                    Ok(entries) => entries.iter().map(|e| e.id).collect(),
                    Err(e) => return fail(&anyhow::Error::new(e)),
                }
            } else {
                id.into_iter().collect()
            };
            let mut ok = true;
            let mut lines = Vec::new();
            for id in ids {
                match store.outbox_retry(id) {
                    Ok(Ok(())) => lines.push(format!("{id}\tdue now")),
                    Ok(Err(reason)) => {
                        ok = false;
                        lines.push(format!("{id}\tnot retried: {reason}"));
                    }
                    Err(e) => return fail(&anyhow::Error::new(e)),
                }
            }
            match (finish(stdout_lines(lines)), ok) {
                (code, true) => code,
                (_, false) => ExitCode::FAILURE,
            }
        }
        OutboxCommand::ClearBounce { address } => match store.clear_bouncing(&address) {
            Ok(true) => finish(stdout_lines([format!("{address}\tno longer bouncing")])),
            Ok(false) => {
                let _ = stdout_lines([format!("{address}\twas not marked bouncing")]);
                ExitCode::FAILURE
            }
            Err(e) => fail(&anyhow::Error::new(e)),
        },
    }
}

/// `carteiro mail quarantine`: list and show read the store; retry also
/// needs the helpdesk, as ingest does.
fn quarantine(config_file: Option<PathBuf>, command: QuarantineCommand) -> ExitCode {
    let loaded = match config::load(&LoadOptions::from_process(config_file)) {
        Ok(loaded) => loaded,
        Err(invalid) => {
            for problem in &invalid.problems {
                let _ = stderr_line(&problem.to_string());
            }
            let _ = stderr_line("error: the configuration is invalid");
            return ExitCode::FAILURE;
        }
    };
    let store = match crate::daemon::open_store(&loaded.config) {
        Ok(store) => store,
        Err(e) => return fail(&e),
    };
    match command {
        QuarantineCommand::List { all } => match store.quarantine_list(all) {
            Ok(entries) => {
                let lines = entries.iter().map(|e| {
                    format!(
                        "{}\t{} retries\t{}\t{}\t{}{}",
                        e.id,
                        e.retry_count,
                        e.mailbox,
                        e.message_id.as_deref().unwrap_or("-"),
                        e.reason,
                        e.resolved
                            .as_deref()
                            .map(|r| format!(" (resolved: {r})"))
                            .unwrap_or_default()
                    )
                });
                finish(stdout_lines(lines))
            }
            Err(e) => fail(&anyhow::Error::new(e)),
        },
        QuarantineCommand::Show { id } => match store.quarantine_get(id) {
            Ok(Some(e)) => {
                let header = [
                    format!("id: {}", e.id),
                    format!(
                        "mailbox: {} (uidvalidity {}, uid {})",
                        e.mailbox, e.uidvalidity, e.uid
                    ),
                    format!("message-id: {}", e.message_id.as_deref().unwrap_or("-")),
                    format!("reason: {}", e.reason),
                    format!("retries: {}", e.retry_count),
                    format!("quarantined at: {}", e.created_at.to_rfc3339()),
                    format!("resolved: {}", e.resolved.as_deref().unwrap_or("no")),
                    String::new(),
                    String::from_utf8_lossy(e.raw.as_deref().unwrap_or_default()).into_owned(),
                ];
                finish(stdout_lines(header))
            }
            Ok(None) => fail(&anyhow::anyhow!("no quarantine entry {id}")),
            Err(e) => fail(&anyhow::Error::new(e)),
        },
        QuarantineCommand::Retry { id, all } => {
            if let Err(e) = init_logging(&loaded.config.log) {
                return fail(&e);
            }
            let ids: Vec<i64> = if all {
                match store.quarantine_list(false) {
                    Ok(entries) => entries.iter().map(|e| e.id).collect(),
                    Err(e) => return fail(&anyhow::Error::new(e)),
                }
            } else {
                id.into_iter().collect()
            };
            let result = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")
                .and_then(|runtime| {
                    runtime.block_on(crate::daemon::retry_quarantined(loaded.config, store, &ids))
                });
            match result {
                Ok(lines) => {
                    let all_resolved = lines.iter().all(|(_, ok)| *ok);
                    let written = stdout_lines(lines.into_iter().map(|(line, _)| line));
                    match (finish(written), all_resolved) {
                        (code, true) => code,
                        (_, false) => ExitCode::FAILURE,
                    }
                }
                Err(e) => fail(&e),
            }
        }
    }
}

/// One JSON line per file; exit 1 when a file could not be read (or its
/// inspection failed) or the configuration given is invalid, 0 when every
/// file got a decision.
fn mail_inspect(config_file: Option<PathBuf>, files: &[PathBuf]) -> ExitCode {
    let options = match config_file {
        None => crate::mail::parse::ParseOptions::default(),
        Some(file) => match config::load(&LoadOptions::from_process(Some(file))) {
            Ok(loaded) => crate::mail::parse::ParseOptions::from_config(&loaded.config.mail),
            Err(invalid) => {
                // stdout is for the JSON lines; the problems go to stderr.
                for problem in &invalid.problems {
                    let _ = stderr_line(&problem.to_string());
                }
                let _ = stderr_line("error: the configuration is invalid; no mail was inspected");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut failed = false;
    for file in files {
        let value = crate::mail::inspect::inspect_file(file, &options);
        failed |= value.get("error").is_some();
        if let Err(e) = stdout_lines([value.to_string()]) {
            return fail(&anyhow::Error::new(e).context("cannot write to stdout"));
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
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
        mail_outlet: match (args.smtp, args.maildir) {
            (Some(smtp), _) => smtp,
            (None, Some(dir)) => MailOutlet::Maildir(dir),
            (None, None) => MailOutlet::None,
        },
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
/// `NAME=VALUE` for `--var`.
fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.to_owned())),
        _ => Err(format!(
            "expected NAME=VALUE, e.g. setor=Financeiro; got {text:?}"
        )),
    }
}

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
