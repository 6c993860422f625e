//! `carteiro rules`: the rule file schema, scenario tests and `explain`,
//! plus the rules part of `carteiro check`. The work is done in
//! [`crate::rules`]; this module reads the configuration, talks to the
//! helpdesk where asked, and prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Subcommand, ValueEnum};

use super::{fail, finish, stderr_line, stdout_lines};
use crate::calendar::Calendars;
use crate::clock::SystemClock;
use crate::config::{self, DEFAULT_MAX_CASCADE, LoadOptions};
use crate::helpdesk::zendesk::ZendeskClient;
use crate::helpdesk::{HelpDesk, Id};
use crate::rules::articles;
use crate::rules::directory::unknown_names;
use crate::rules::engine::{RuleTrace, plan_traced};
use crate::rules::scenario::{self, Report, TESTS_DIR};
use crate::rules::{
    Context as RulesContext, Directory, Event, EventKind, Plan, RuleProblem, RuleSet, load_dir,
};

/// The `carteiro rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print the JSON Schema of a rule file (for editors: taplo, Even Better
    /// TOML).
    Schema,
    /// Run scenario files: each plans an event against a ticket fixture
    /// and compares the plan with `expect`. Exit 1 if any fails.
    Test {
        /// Scenario files, folders of them, or a rules folder (its
        /// `tests/` is run); default `<rules dir>/tests/`.
        paths: Vec<PathBuf>,
        /// The rules folder, instead of the configuration's `rules.dir`.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Configuration file to read instead of config/default.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Show, for one ticket read from the helpdesk (read-only), why every
    /// rule fires or not: each condition with the value it saw, then the
    /// plan. Nothing is written.
    Explain {
        /// The ticket's id.
        ticket: Id,
        /// The event to explain. `schedule` (the default) treats every
        /// schedule rule as due now, so time-based rules are explained;
        /// `ticket.updated` and `ticket.created` use an empty change.
        #[arg(long, value_enum, default_value_t = ExplainEvent::Schedule)]
        event: ExplainEvent,
        /// The rules folder, instead of the configuration's `rules.dir`.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Configuration file to read instead of config/default.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// The events `explain` can replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainEvent {
    #[value(name = "schedule")]
    Schedule,
    #[value(name = "ticket.updated")]
    TicketUpdated,
    #[value(name = "ticket.created")]
    TicketCreated,
}

/// Runs a `carteiro rules` subcommand.
pub fn run(command: RulesCommand) -> ExitCode {
    match command {
        RulesCommand::Schema => schema(),
        RulesCommand::Test { paths, rules, config } => test(paths, rules, config),
        RulesCommand::Explain {
            ticket,
            event,
            rules,
            config,
        } => explain(ticket, event, rules, config),
    }
}

fn schema() -> ExitCode {
    match serde_json::to_string_pretty(&crate::rules::syntax::schema()) {
        Ok(text) => finish(stdout_lines([text])),
        Err(e) => fail(&anyhow!("cannot write the schema: {e}")),
    }
}

/// The calendars (from the configuration when there is one, else the
/// built-in `br`) and `rules.max_cascade`, for commands that need only the
/// rules.
fn rules_settings(config_file: Option<PathBuf>) -> Result<(Calendars, u32, Option<PathBuf>), ExitCode> {
    let options = LoadOptions::from_process(config_file);
    let calendars = config::load_calendars(&options).map_err(|invalid| {
        for problem in &invalid.problems {
            let _ = stdout_lines([problem.to_string()]);
        }
        let _ = stderr_line("error: the calendars in the configuration are invalid");
        ExitCode::FAILURE
    })?;
    // The rest of the configuration matters only for `rules.dir` and
    // `rules.max_cascade`; a configuration invalid elsewhere still lets
    // scenarios run.
    let (max_cascade, dir) = match config::load(&options) {
        Ok(loaded) => (loaded.config.rules.max_cascade, loaded.config.rules.dir),
        Err(_) => (DEFAULT_MAX_CASCADE, None),
    };
    Ok((calendars, max_cascade, dir))
}

fn test(paths: Vec<PathBuf>, rules: Option<PathBuf>, config_file: Option<PathBuf>) -> ExitCode {
    let (calendars, max_cascade, configured) = match rules_settings(config_file) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let paths = if paths.is_empty() {
        match rules.or(configured) {
            Some(dir) => vec![dir.join(TESTS_DIR)],
            None => {
                let _ = stderr_line(
                    "error: no scenario files given and no rules folder: pass PATH..., --rules DIR, or set \
                     rules.dir in the configuration",
                );
                return ExitCode::FAILURE;
            }
        }
    } else {
        // `carteiro rules test rules/`: a rules folder stands for its tests.
        paths
            .into_iter()
            .map(|path| {
                let tests = path.join(TESTS_DIR);
                if tests.is_dir() { tests } else { path }
            })
            .collect()
    };
    let files = match scenario::scenario_files(&paths) {
        Ok(files) => files,
        Err(problem) => {
            let _ = stdout_lines([problem.to_string()]);
            return ExitCode::FAILURE;
        }
    };
    let report = scenario::run(&files, &calendars, max_cascade);
    let written = stdout_lines(report_lines(&report));
    if report.failed() > 0 || files.is_empty() {
        if files.is_empty() {
            let _ = stderr_line("error: no scenario files found");
        }
        let _ = finish(written);
        ExitCode::FAILURE
    } else {
        finish(written)
    }
}

/// The report as printed: one line per scenario, a numbered diff under
/// each failure, and a count.
pub fn report_lines(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for file in &report.files {
        for problem in &file.problems {
            lines.push(format!("FAIL {problem}"));
        }
        for scenario in &file.scenarios {
            if scenario.passed() {
                lines.push(format!("ok   {}", scenario.name));
                continue;
            }
            let line = match &scenario.location {
                config::Location::File { path, line, .. } => format!("{}:{line}", path.display()),
                other => other.to_string(),
            };
            lines.push(format!("FAIL {} ({line})", scenario.name));
            let expected = scenario.rows.iter().filter(|r| r.expected.is_some()).count();
            let planned = scenario.rows.iter().filter(|r| r.planned.is_some()).count();
            lines.push(format!("     expected {expected} action(s), planned {planned}:"));
            for (index, row) in scenario.rows.iter().enumerate() {
                let mark = if row.mismatch.is_some() { "✗" } else { "✓" };
                lines.push(format!("     {mark} {}.", index + 1));
                lines.push(format!(
                    "         expected: {}",
                    row.expected.as_deref().unwrap_or("(nothing)")
                ));
                lines.push(format!(
                    "         planned:  {}",
                    row.planned.as_deref().unwrap_or("(nothing)")
                ));
                if let Some(mismatch) = &row.mismatch {
                    lines.push(format!("         differs:  {mismatch}"));
                }
            }
            for problem in &scenario.plan_problems {
                lines.push(format!("     plan problem: {problem}"));
            }
        }
    }
    lines.push(format!("{} passed, {} failed", report.passed(), report.failed()));
    lines
}

/// The rules part of `carteiro check`: every problem of the folder, and
/// with `online`, every name the helpdesk does not know.
pub fn check_rules(dir: &Path, calendars: &Calendars, online: Option<&config::Config>) -> Vec<String> {
    let rules = match load_dir(dir, calendars) {
        Ok(rules) => rules,
        Err(problems) => return problems.iter().map(ToString::to_string).collect(),
    };
    let Some(config) = online else {
        return Vec::new();
    };
    match fetch_directory(config) {
        Ok(directory) => unknown_names(&rules, &directory)
            .iter()
            .map(RuleProblem::to_string)
            .collect(),
        Err(e) => vec![format!("cannot check the rules against the helpdesk: {e:#}")],
    }
}

fn client(config: &config::Config) -> anyhow::Result<ZendeskClient> {
    ZendeskClient::new(config.zendesk_client_settings()).context("cannot build the Zendesk client")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn fetch_directory(config: &config::Config) -> anyhow::Result<Directory> {
    let client = client(config)?;
    runtime()?.block_on(async {
        Directory::fetch(&client)
            .await
            .context("cannot read groups, agents, custom statuses and fields from the helpdesk")
    })
}

fn explain(
    ticket: Id,
    event: ExplainEvent,
    rules: Option<PathBuf>,
    config_file: Option<PathBuf>,
) -> ExitCode {
    let loaded = match config::load(&LoadOptions::from_process(config_file)) {
        Ok(loaded) => loaded,
        Err(invalid) => {
            let _ = stdout_lines(invalid.problems.iter().map(ToString::to_string));
            let _ = stderr_line("error: the configuration is invalid");
            return ExitCode::FAILURE;
        }
    };
    let config = loaded.config;
    let Some(dir) = rules.or_else(|| config.rules.dir.clone()) else {
        let _ = stderr_line("error: no rules folder: pass --rules DIR or set rules.dir in the configuration");
        return ExitCode::FAILURE;
    };
    let rule_set = match load_dir(&dir, &config.calendars) {
        Ok(rules) => rules,
        Err(problems) => {
            let _ = stdout_lines(problems.iter().map(ToString::to_string));
            let _ = stderr_line(&format!("error: the rules in {} do not load", dir.display()));
            return ExitCode::FAILURE;
        }
    };
    match explain_lines(ticket, event, &rule_set, &config) {
        Ok(lines) => finish(stdout_lines(lines)),
        Err(e) => fail(&e),
    }
}

fn explain_lines(
    ticket_id: Id,
    event: ExplainEvent,
    rules: &RuleSet,
    config: &config::Config,
) -> anyhow::Result<Vec<String>> {
    let client = client(config)?;
    let runtime = runtime()?;
    let (facts, directory) = runtime.block_on(async {
        let ticket = client
            .show_ticket(ticket_id)
            .await
            .with_context(|| format!("cannot read ticket #{ticket_id}"))?;
        let audits = client
            .list_audits(ticket_id)
            .await
            .with_context(|| format!("cannot read the audits of ticket #{ticket_id}"))?;
        let mut comments = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = client
                .list_comments_page(ticket_id, cursor.as_deref())
                .await
                .with_context(|| format!("cannot read the comments of ticket #{ticket_id}"))?;
            comments.extend(page.items);
            match page.after_cursor {
                Some(next) if page.has_more => cursor = Some(next),
                _ => break,
            }
        }
        let mut directory = Directory::fetch(&client)
            .await
            .context("cannot read groups, agents, custom statuses and fields from the helpdesk")?;
        let requester = match ticket.requester_id {
            Some(id) => client
                .show_users(&[id])
                .await
                .with_context(|| format!("cannot read the requester #{id}"))?
                .into_iter()
                .next(),
            None => None,
        };
        if let Some(requester) = &requester {
            directory.add_user(requester.clone());
        }
        let facts = scenario::facts_from_history(ticket, requester, &audits, &comments, &directory);
        anyhow::Ok((facts, directory))
    })?;
    let event = match event {
        ExplainEvent::Schedule => Event::new(EventKind::Schedule(
            rules
                .rules
                .iter()
                .filter(|r| r.runs_on(crate::rules::model::Trigger::Schedule))
                .map(|r| r.name.clone())
                .collect(),
        )),
        ExplainEvent::TicketUpdated => Event::new(EventKind::TicketUpdated),
        ExplainEvent::TicketCreated => Event::new(EventKind::TicketCreated),
    };
    // `once` rules are explained as if they had not fired yet: the record
    // of which did lives in the daemon's store, which explain leaves alone.
    let never = |_: &str, _: Id| false;
    let context = RulesContext {
        rules,
        directory: &directory,
        calendars: &config.calendars,
        fired_once: &never,
        max_cascade: config.rules.max_cascade,
    };
    // The same prefetch as the daemon: search the Help Center only when a
    // rule that fires renders a template reading `articles`.
    let mut event = event;
    let untraced = crate::rules::engine::plan(&event, &facts, &context, &SystemClock);
    if let Some(query) = articles::prefetch_query(rules, &event, &untraced, facts.ticket.subject.as_deref()) {
        event.articles = runtime.block_on(articles::search(&client, ticket_id, &query, None));
    }
    let mut traces = Vec::new();
    let plan = plan_traced(&event, &facts, &context, &SystemClock, Some(&mut traces));
    let ticket = &facts.ticket;
    let mut lines = vec![format!(
        "ticket #{} {:?}: status {}{}{}",
        ticket.id,
        ticket.subject.as_deref().unwrap_or_default(),
        ticket.status,
        ticket
            .custom_status_id
            .and_then(|id| directory.custom_status(id))
            .map(|s| format!(", custom status {:?}", s.agent_label))
            .unwrap_or_default(),
        ticket
            .group_id
            .and_then(|id| directory.group(id))
            .map(|g| format!(", group {:?}", g.name))
            .unwrap_or_default(),
    )];
    lines.push(format!(
        "event: {}, at {}",
        match event.kind {
            EventKind::Schedule(_) => "schedule (every schedule rule due)",
            EventKind::TicketCreated => "ticket.created (no change)",
            _ => "ticket.updated (no change)",
        },
        plan.now.to_rfc3339()
    ));
    lines.push(String::new());
    for trace in &traces {
        lines.extend(trace_lines(trace));
    }
    lines.push(String::new());
    lines.extend(plan_lines(&plan));
    Ok(lines)
}

fn trace_lines(trace: &RuleTrace) -> Vec<String> {
    let mut lines = Vec::new();
    match &trace.skipped {
        Some(why) => lines.push(format!("skipped    {} ({why})", trace.rule)),
        None if trace.fired => lines.push(format!("FIRED      {}", trace.rule)),
        None => lines.push(format!("not fired  {}", trace.rule)),
    }
    for condition in &trace.conditions {
        let indent = "  ".repeat(condition.depth + 2);
        let seen = condition
            .seen
            .as_deref()
            .map(|s| format!(" (saw {s})"))
            .unwrap_or_default();
        lines.push(format!("{indent}{}: {}{seen}", condition.text, condition.held));
    }
    lines
}

fn plan_lines(plan: &Plan) -> Vec<String> {
    let mut lines = vec!["plan:".to_owned()];
    if plan.steps.is_empty() {
        lines.push("  (nothing)".to_owned());
    }
    for (index, step) in plan.steps.iter().enumerate() {
        lines.push(format!(
            "  {}. {}  (rule {}{})",
            index + 1,
            step.effect,
            step.rule,
            if step.commit { ", commit" } else { "" }
        ));
    }
    for problem in &plan.problems {
        lines.push(format!("  problem: {problem}"));
    }
    if let Some(rule) = &plan.stopped_by {
        lines.push(format!("  stopped by rule {rule:?}"));
    }
    lines
}
