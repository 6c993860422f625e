//! Scenario tests for a rules folder (`carteiro rules test`), in the spirit
//! of `promtool test rules` and `sieve-test`: each scenario gives a ticket
//! (and its history, a mail, an event) and the effects the rules must plan,
//! in order. The runner loads the files and fixtures, plans with the same
//! engine the daemon uses, and returns a [`Report`]; it prints nothing and
//! never talks to a helpdesk.
//!
//! A scenario file (TOML, unknown keys are errors):
//!
//! ```toml
//! rules = ".."                              # default: the parent of tests/
//! directory = "fixtures/directory.json"     # optional Directory fixture
//! files = ["ouvidoria.toml"]                # only these rule files; default all
//! [[scenario]]
//! name = "cliente pediu ouvidoria"
//! now = "2026-03-02T10:00:00-03:00"
//! ticket = "fixtures/ticket-123.json"       # a ticket, or {ticket, requester, audits, comments}
//! mail = "fixtures/pedido.eml"              # for mail.received
//! event = { type = "ticket.updated", changes = { tags_added = ["ouvidoria_solicitada"] } }
//! # event = { type = "mail.received", internal = true }   # a reply from an internal sender
//! fired_once = ["rule-name"]
//! articles = "fixtures/artigos.json"        # what the Help Center search answers
//! expect = [ { public_reply = {} }, { set_status = "solved" } ]
//! ```
//!
//! An expected entry matches a planned effect when it names the same action
//! and every key it gives equals the planned one (`{ public_reply = {} }`
//! matches any reply); the counts must be equal. `{ contains = "..." }`
//! in place of a text matches any text that contains it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value as Json;
use toml::Spanned;

use super::articles;
use super::directory::Directory;
use super::engine::{Context, Event, EventKind, MailFacts, TicketFacts, plan};
use super::load::{RuleProblem, RuleSet, load_dir};
use super::model::Trigger;
use super::plan::{Effect, Plan, Step};
use crate::calendar::Calendars;
use crate::clock::FixedClock;
use crate::config::Location;
use crate::helpdesk::clocks::ticket_clocks;
use crate::helpdesk::{Article, Audit, Comment, Ticket, User};
use crate::mail::parse::{ParseOptions, parse};
use crate::mail::{ParsedMail, Sender};
use crate::tickets::TicketChange;

/// The folder under a rules folder that holds its scenario files.
pub const TESTS_DIR: &str = "tests";

/// The keys of a `TicketChange` in `changes`, so a typo is an error rather
/// than a change silently ignored.
const CHANGE_KEYS: &[&str] = &[
    "status",
    "custom_status",
    "group",
    "assignee",
    "requester",
    "priority",
    "ticket_type",
    "subject",
    "due_at",
    "tags_added",
    "tags_removed",
    "fields",
    "comments",
];

/// A scenario file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenarioFile {
    #[serde(default)]
    rules: Option<Spanned<String>>,
    #[serde(default)]
    directory: Option<Spanned<String>>,
    /// The rule files (names in the rules folder) the scenarios run, for a
    /// pack tested apart from the others in its folder; default all.
    #[serde(default)]
    files: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    scenario: Vec<Spanned<RawScenario>>,
}

/// One `[[scenario]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    now: Spanned<String>,
    #[serde(default)]
    ticket: Option<Spanned<String>>,
    #[serde(default)]
    mail: Option<Spanned<String>>,
    event: Spanned<RawEvent>,
    #[serde(default)]
    fired_once: Vec<String>,
    /// What the Help Center search answers for this scenario's ticket: a
    /// JSON file with a list of articles (`id`, `title`, `html_url`,
    /// `snippet`), as the search returns them.
    #[serde(default)]
    articles: Option<Spanned<String>>,
    expect: Vec<Spanned<toml::Table>>,
}

/// `event = { type = "…", changes = {…}, rules = […] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    changes: Option<Spanned<toml::Table>>,
    /// For `schedule`: the rules that are due; default every schedule rule.
    #[serde(default)]
    rules: Option<Vec<String>>,
    /// How many of carteiro's own writes led here (default 0).
    #[serde(default)]
    depth: u32,
    /// For `mail.received`: the sender is one of `[mail]
    /// internal_senders` (`mail.internal`, for a reply).
    #[serde(default)]
    internal: bool,
    /// For `mail.received` of a reply: the threaded ticket was closed, so
    /// the mail opened a follow-up, the scenario's ticket (`mail.kind` is
    /// `follow_up`).
    #[serde(default)]
    follow_up: bool,
}

/// A ticket fixture with its history.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketBundle {
    ticket: Ticket,
    #[serde(default)]
    requester: Option<User>,
    #[serde(default)]
    audits: Vec<Audit>,
    #[serde(default)]
    comments: Vec<Comment>,
}

/// What running scenario files found.
#[derive(Debug, Default)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.scenarios)
            .filter(|s| s.passed())
            .count()
    }

    /// Failed scenarios, plus one per file that could not be run at all.
    pub fn failed(&self) -> usize {
        self.files
            .iter()
            .map(|f| f.scenarios.iter().filter(|s| !s.passed()).count() + usize::from(!f.problems.is_empty()))
            .sum()
    }
}

/// One scenario file.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    /// What kept the file (or some of its scenarios) from running: a
    /// syntax error, an unknown key, rules that do not load, a missing
    /// fixture; each as `path:line:col: message`.
    pub problems: Vec<RuleProblem>,
    pub scenarios: Vec<ScenarioReport>,
}

/// One scenario's outcome.
#[derive(Debug)]
pub struct ScenarioReport {
    pub name: String,
    /// Where its `[[scenario]]` starts.
    pub location: Location,
    /// One line per expected or planned effect, in order.
    pub rows: Vec<Row>,
    /// The plan's problems (a rule that matched but could not be planned).
    pub plan_problems: Vec<String>,
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.mismatch.is_none()) && self.plan_problems.is_empty()
    }
}

/// One position of the comparison: what was expected there, what was
/// planned, and what differs.
#[derive(Debug)]
pub struct Row {
    /// The expectation, rendered compactly; `None` past the expected ones.
    pub expected: Option<String>,
    /// The planned effect and its rule; `None` past the planned ones.
    pub planned: Option<String>,
    /// `None` when they match; else what differs.
    pub mismatch: Option<String>,
}

/// The scenario files named by `paths`: files as given, folders by their
/// `*.toml` files in name order.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, RuleProblem> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(super::load::rule_files(path)?);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(RuleProblem {
                location: Location::WholeFile { path: path.clone() },
                message: "no such scenario file or folder".to_owned(),
            });
        }
    }
    Ok(files)
}

/// Runs every scenario of `files`. Rules folders are loaded once each.
pub fn run(files: &[PathBuf], calendars: &Calendars, max_cascade: u32) -> Report {
    let mut loaded: BTreeMap<PathBuf, Result<RuleSet, Vec<RuleProblem>>> = BTreeMap::new();
    let files = files
        .iter()
        .map(|path| run_file(path, calendars, max_cascade, &mut loaded))
        .collect();
    Report { files }
}

fn run_file(
    path: &Path,
    calendars: &Calendars,
    max_cascade: u32,
    loaded: &mut BTreeMap<PathBuf, Result<RuleSet, Vec<RuleProblem>>>,
) -> FileReport {
    let mut report = FileReport {
        path: path.to_path_buf(),
        problems: Vec::new(),
        scenarios: Vec::new(),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            report.problems.push(RuleProblem {
                location: Location::WholeFile {
                    path: path.to_path_buf(),
                },
                message: format!("cannot read the scenario file: {e}"),
            });
            return report;
        }
    };
    let at = |span: Range<usize>| Location::in_file(path, &text, span.start);
    let raw: RawScenarioFile = match toml::from_str(&text) {
        Ok(raw) => raw,
        Err(e) => {
            report.problems.push(RuleProblem {
                location: at(e.span().unwrap_or(0..0)),
                message: e.message().trim().to_owned(),
            });
            return report;
        }
    };
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let rules_dir = match &raw.rules {
        Some(dir) => base.join(dir.get_ref()),
        None => base
            .parent()
            .map_or_else(|| PathBuf::from(".."), Path::to_path_buf),
    };
    let rules_dir = if rules_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rules_dir
    };
    let key = std::fs::canonicalize(&rules_dir).unwrap_or_else(|_| rules_dir.clone());
    let rules = loaded
        .entry(key)
        .or_insert_with(|| load_dir(&rules_dir, calendars));
    let rules = match rules {
        Ok(rules) => rules,
        Err(problems) => {
            let span = raw.rules.as_ref().map_or(0..0, Spanned::span);
            report.problems.push(RuleProblem {
                location: at(span),
                message: format!(
                    "the rules in {} do not load ({} problem{}; `carteiro check --rules {}` lists them)",
                    rules_dir.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" },
                    rules_dir.display()
                ),
            });
            report.problems.extend(problems.iter().cloned());
            return report;
        }
    };
    let only;
    let rules: &RuleSet = match &raw.files {
        None => rules,
        Some(names) => match only_files(rules, names.get_ref()) {
            Ok(set) => {
                only = set;
                &only
            }
            Err(message) => {
                report.problems.push(RuleProblem {
                    location: at(names.span()),
                    message,
                });
                return report;
            }
        },
    };
    let directory = match &raw.directory {
        Some(file) => match read_json::<Directory>(&base.join(file.get_ref())) {
            Ok(mut directory) => {
                directory.index();
                directory
            }
            Err(message) => {
                report.problems.push(RuleProblem {
                    location: at(file.span()),
                    message,
                });
                return report;
            }
        },
        None => Directory::default(),
    };
    for scenario in &raw.scenario {
        let location = at(scenario.span());
        let scenario = scenario.get_ref();
        match run_scenario(scenario, &base, rules, &directory, calendars, max_cascade) {
            Ok(plan) => report.scenarios.push(ScenarioReport {
                name: scenario.name.clone(),
                location,
                rows: compare(&scenario.expect, &plan),
                plan_problems: plan.problems.iter().map(ToString::to_string).collect(),
            }),
            Err((span, message)) => report.problems.push(RuleProblem {
                location: at(span),
                message: format!("scenario {:?}: {message}", scenario.name),
            }),
        }
    }
    report
}

/// The rules of `set` that come from the files `names` (file names in the
/// rules folder), in their order, with the same templates.
fn only_files(set: &RuleSet, names: &[String]) -> Result<RuleSet, String> {
    let file_name = |path: &Path| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let known: Vec<String> = set.files.iter().map(|p| file_name(p)).collect();
    if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
        return Err(format!(
            "no rule file {unknown:?} in {}; the files are {}",
            set.dir.display(),
            known.join(", ")
        ));
    }
    let wanted = |path: &Path| names.contains(&file_name(path));
    Ok(RuleSet {
        rules: set
            .rules
            .iter()
            .filter(|r| match &r.location {
                Location::File { path, .. } | Location::WholeFile { path } => wanted(path),
                Location::Env { .. } => false,
            })
            .cloned()
            .collect(),
        identities: set.identities.clone(),
        hash: set.hash.clone(),
        dir: set.dir.clone(),
        files: set.files.iter().filter(|p| wanted(p)).cloned().collect(),
        templates: set.templates.clone(),
    })
}

type SpannedError = (Range<usize>, String);

fn run_scenario(
    scenario: &RawScenario,
    base: &Path,
    rules: &RuleSet,
    directory: &Directory,
    calendars: &Calendars,
    max_cascade: u32,
) -> Result<Plan, SpannedError> {
    let now = DateTime::parse_from_rfc3339(scenario.now.get_ref())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            (
                scenario.now.span(),
                format!(
                    "expected an RFC 3339 instant such as \"2026-03-02T10:00:00-03:00\" in `now`; got {:?} ({e})",
                    scenario.now.get_ref()
                ),
            )
        })?;
    for (index, expected) in scenario.expect.iter().enumerate() {
        check_expectation(expected.get_ref())
            .map_err(|m| (expected.span(), format!("expect[{index}]: {m}")))?;
    }
    let event = event(scenario, base, rules)?;
    let facts = match &scenario.ticket {
        Some(file) => ticket_facts(&base.join(file.get_ref()), directory).map_err(|m| (file.span(), m))?,
        None => {
            return Err((
                scenario.event.span(),
                "needs `ticket`, the ticket the event is about (a JSON file)".to_owned(),
            ));
        }
    };
    let fired_once = |name: &str, _ticket| scenario.fired_once.iter().any(|n| n == name);
    let context = Context {
        rules,
        directory,
        calendars,
        fired_once: &fired_once,
        max_cascade,
    };
    let clock = FixedClock::at(now);
    let planned = plan(&event, &facts, &context, &clock);
    // The daemon's decision: search only when a rule that fires renders a
    // template reading `articles`. The fixture stands for the search.
    let Some(file) = &scenario.articles else {
        return Ok(planned);
    };
    let found: Vec<Article> = read_json(&base.join(file.get_ref())).map_err(|m| (file.span(), m))?;
    if articles::prefetch_query(rules, &event, &planned, facts.ticket.subject.as_deref()).is_none() {
        return Ok(planned);
    }
    let mut event = event;
    event.articles = found
        .iter()
        .take(articles::MAX_ARTICLES)
        .map(articles::vars)
        .collect();
    Ok(plan(&event, &facts, &context, &clock))
}

fn event(scenario: &RawScenario, base: &Path, rules: &RuleSet) -> Result<Event, SpannedError> {
    let raw = scenario.event.get_ref();
    let kind_span = raw.kind.span();
    let trigger = Trigger::parse(raw.kind.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
        (
            kind_span.clone(),
            format!(
                "unknown event type {:?}; expected one of {}",
                raw.kind.get_ref(),
                names.join(", ")
            ),
        )
    })?;
    if raw.rules.is_some() && trigger != Trigger::Schedule {
        return Err((
            kind_span,
            "`rules` is for events of type \"schedule\" only".to_owned(),
        ));
    }
    let kind = match trigger {
        Trigger::TicketCreated => EventKind::TicketCreated,
        Trigger::TicketUpdated => EventKind::TicketUpdated,
        Trigger::Schedule => EventKind::Schedule(match &raw.rules {
            Some(names) => {
                for name in names {
                    if rules.rule(name).is_none_or(|r| !r.runs_on(Trigger::Schedule)) {
                        return Err((kind_span, format!("no schedule rule is called {name:?}")));
                    }
                }
                names.iter().cloned().collect()
            }
            None => rules
                .rules
                .iter()
                .filter(|r| r.runs_on(Trigger::Schedule))
                .map(|r| r.name.clone())
                .collect(),
        }),
        Trigger::MailReceived => {
            let file = scenario.mail.as_ref().ok_or_else(|| {
                (
                    kind_span.clone(),
                    "a \"mail.received\" event needs `mail`, an .eml file".to_owned(),
                )
            })?;
            let path = base.join(file.get_ref());
            let bytes = std::fs::read(&path)
                .map_err(|e| (file.span(), format!("cannot read {}: {e}", path.display())))?;
            let mut facts = mail_facts(&parse(&bytes, &ParseOptions::default()));
            if raw.follow_up {
                if facts.kind != "reply" {
                    return Err((
                        kind_span,
                        format!(
                            "follow_up = true: {} is no reply (it is {:?}), so it cannot follow up a closed ticket",
                            file.get_ref(),
                            facts.kind
                        ),
                    ));
                }
                facts.kind = "follow_up".to_owned();
            }
            facts.internal = raw.internal && facts.kind == "reply";
            EventKind::MailReceived(facts)
        }
    };
    let change = match &raw.changes {
        Some(changes) => {
            if let Some(unknown) = changes
                .get_ref()
                .keys()
                .find(|k| !CHANGE_KEYS.contains(&k.as_str()))
            {
                return Err((
                    changes.span(),
                    format!(
                        "unknown key `{unknown}` in `changes`; expected one of {}",
                        CHANGE_KEYS.join(", ")
                    ),
                ));
            }
            toml::Value::Table(changes.get_ref().clone())
                .try_into::<TicketChange>()
                .map_err(|e| (changes.span(), format!("in `changes`: {}", e.message().trim())))?
        }
        None => TicketChange::default(),
    };
    Ok(Event {
        kind,
        change,
        depth: raw.depth,
        articles: Vec::new(),
    })
}

/// A parsed mail as rules see it.
pub fn mail_facts(mail: &ParsedMail) -> MailFacts {
    let kind = match &mail.sender {
        Sender::Person
            if mail.ticket_ref.is_some() || !mail.in_reply_to.is_empty() || !mail.references.is_empty() =>
        {
            "reply"
        }
        Sender::Person => "new",
        other => other.label(),
    };
    MailFacts {
        kind: kind.to_owned(),
        from: mail.from.as_ref().map(|a| a.email.clone()).unwrap_or_default(),
        to: mail.to.iter().map(|a| a.email.clone()).collect(),
        cc: mail.cc.iter().map(|a| a.email.clone()).collect(),
        subject: mail.subject.clone(),
        body: mail.body_text.clone(),
        attachments: mail.attachments.iter().map(|a| a.name.clone()).collect(),
        message_id: mail.message_id.clone(),
        received_at: mail.date,
        internal: false,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
}

/// A ticket fixture: a ticket alone, or `{ticket, requester, audits,
/// comments}`; the clocks come from the history.
fn ticket_facts(path: &Path, directory: &Directory) -> Result<TicketFacts, String> {
    let value: Json = read_json(path)?;
    let bundle: TicketBundle = if value.get("ticket").is_some() {
        serde_json::from_value(value).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        TicketBundle {
            ticket: serde_json::from_value(value).map_err(|e| format!("{}: {e}", path.display()))?,
            requester: None,
            audits: Vec::new(),
            comments: Vec::new(),
        }
    };
    let requester = bundle.requester.or_else(|| {
        bundle
            .ticket
            .requester_id
            .and_then(|id| directory.user(id).cloned())
    });
    Ok(facts_from_history(
        bundle.ticket,
        requester,
        &bundle.audits,
        &bundle.comments,
        directory,
    ))
}

/// The facts about a ticket, with its clocks computed from its history.
pub fn facts_from_history(
    ticket: Ticket,
    requester: Option<User>,
    audits: &[Audit],
    comments: &[Comment],
    directory: &Directory,
) -> TicketFacts {
    let clocks = ticket_clocks(&ticket, audits, comments, |id| {
        requester
            .as_ref()
            .filter(|r| r.id == id)
            .or_else(|| directory.user(id))
            .map(|u| u.role)
    });
    TicketFacts {
        ticket,
        clocks,
        requester,
    }
}

/// Whether an expectation is one known action key.
fn check_expectation(expected: &toml::Table) -> Result<(), String> {
    let keys: Vec<&String> = expected.keys().collect();
    let known = || effect_keys().join(", ");
    match keys.as_slice() {
        [key] if effect_keys().contains(&key.as_str()) => Ok(()),
        [key] => Err(format!("unknown action `{key}`; expected one of {}", known())),
        [] => Err(format!("an expectation names one action, one of {}", known())),
        _ => Err(format!(
            "an expectation names one action, but this one has {}: write each as its own entry",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

/// The keys a planned effect can have (every action key but `stop`).
fn effect_keys() -> Vec<&'static str> {
    super::syntax::ACTION_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "stop")
        .collect()
}

/// A planned effect as `(key, value)`: `{"set_status":"open"}` gives
/// `("set_status", "open")`, `solve` gives `("solve", null)`.
fn effect_value(effect: &Effect) -> Json {
    match serde_json::to_value(effect).unwrap_or(Json::Null) {
        Json::Object(map) => map.into_iter().next().map(|(_, v)| v).unwrap_or(Json::Null),
        _ => Json::Null,
    }
}

fn compare(expect: &[Spanned<toml::Table>], plan: &Plan) -> Vec<Row> {
    let count = expect.len().max(plan.steps.len());
    (0..count)
        .map(|i| {
            let expected = expect.get(i).map(|e| e.get_ref());
            let planned = plan.steps.get(i);
            let mismatch = match (expected, planned) {
                (Some(e), Some(p)) => mismatch(e, p),
                (Some(_), None) => Some("expected, but nothing more was planned".to_owned()),
                (None, Some(_)) => Some("planned, but not expected".to_owned()),
                (None, None) => None,
            };
            Row {
                expected: expected.map(render_expected),
                planned: planned.map(render_step),
                mismatch,
            }
        })
        .collect()
}

fn mismatch(expected: &toml::Table, step: &Step) -> Option<String> {
    let (key, value) = expected.iter().next()?;
    if key != step.effect.key() {
        return Some(format!("expected `{key}`, planned `{}`", step.effect.key()));
    }
    let expected = toml_to_json(value);
    let planned = effect_value(&step.effect);
    let mut differences = Vec::new();
    subset(&expected, &planned, key, &mut differences);
    (!differences.is_empty()).then(|| differences.join("; "))
}

/// Whether `expected` is within `planned`: objects by the keys expected
/// gives, anything else by equality. Each difference is named by its path.
fn subset(expected: &Json, planned: &Json, path: &str, differences: &mut Vec<String>) {
    match (expected, planned) {
        // `{ solve = {} }` and `{ solve = true }` both mean "a solve".
        (Json::Object(e), Json::Null) if e.is_empty() => {}
        (Json::Bool(true), Json::Null) => {}
        // `{ contains = "..." }` against a text: a part of it (a mail's
        // body, say, whose whole text is too long to repeat).
        (Json::Object(e), Json::String(p)) if e.len() == 1 && e.contains_key("contains") => {
            match e.get("contains") {
                Some(Json::String(part)) if p.contains(part.as_str()) => {}
                Some(part) => differences.push(format!(
                    "{path}: expected a text containing {}, planned {}",
                    compact(part),
                    compact(planned)
                )),
                None => {}
            }
        }
        (Json::Object(e), Json::Object(p)) => {
            for (key, value) in e {
                let inner = format!("{path}.{key}");
                match p.get(key) {
                    Some(planned) => subset(value, planned, &inner, differences),
                    None => {
                        differences.push(format!("{inner}: expected {}, planned nothing", compact(value)))
                    }
                }
            }
        }
        (e, p) if same_value(e, p) => {}
        (e, p) => differences.push(format!("{path}: expected {}, planned {}", compact(e), compact(p))),
    }
}

/// Equality, with numbers compared by value (`7` equals `7.0`).
fn same_value(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}

fn toml_to_json(value: &toml::Value) -> Json {
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => {
            Json::Object(table.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect())
        }
    }
}

fn render_expected(expected: &toml::Table) -> String {
    match expected.iter().next() {
        Some((key, value)) => format!("{key} {}", compact(&toml_to_json(value))),
        None => "(nothing)".to_owned(),
    }
}

fn render_step(step: &Step) -> String {
    let value = effect_value(&step.effect);
    let value = match value {
        Json::Null => String::new(),
        other => format!(" {}", compact(&other)),
    };
    format!("{}{value}  (rule {})", step.effect.key(), step.rule)
}

/// JSON on one line, long strings shortened.
fn compact(value: &Json) -> String {
    const LONGEST: usize = 60;
    fn shorten(value: &Json) -> Json {
        match value {
            Json::String(s) if s.chars().count() > LONGEST => {
                let head: String = s.chars().take(LONGEST).collect();
                Json::String(format!("{head}…"))
            }
            Json::Array(items) => Json::Array(items.iter().map(shorten).collect()),
            Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect()),
            other => other.clone(),
        }
    }
    shorten(value).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::helpdesk::Status;

    fn step(effect: Effect) -> Step {
        Step {
            rule: "r".to_owned(),
            effect,
            commit: false,
        }
    }

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("table")
    }

    #[test]
    fn an_expectation_matches_by_key_and_the_keys_it_gives() {
        let reply = step(Effect::PublicReply {
            template: "aberta".to_owned(),
            body: "Olá".to_owned(),
            html: None,
        });
        assert_eq!(mismatch(&table("public_reply = {}"), &reply), None);
        assert_eq!(
            mismatch(&table("public_reply = { template = \"aberta\" }"), &reply),
            None
        );
        assert_eq!(
            mismatch(&table("public_reply = { template = \"fechada\" }"), &reply),
            Some("public_reply.template: expected \"fechada\", planned \"aberta\"".to_owned())
        );
        assert_eq!(
            mismatch(&table("public_reply = { assunto = \"x\" }"), &reply),
            Some("public_reply.assunto: expected \"x\", planned nothing".to_owned())
        );
        assert_eq!(
            mismatch(&table("set_status = \"open\""), &reply),
            Some("expected `set_status`, planned `public_reply`".to_owned())
        );
        let status = step(Effect::SetStatus(Status::Solved));
        assert_eq!(mismatch(&table("set_status = \"solved\""), &status), None);
        assert_eq!(mismatch(&table("solve = {}"), &step(Effect::Solve)), None);
        assert_eq!(mismatch(&table("solve = true"), &step(Effect::Solve)), None);
        let field = step(Effect::SetField {
            id: 501,
            field: "Equipamentos".to_owned(),
            value: json!(7),
        });
        assert_eq!(mismatch(&table("set_field = { value = 7 }"), &field), None);
        // Lists are compared whole, in order.
        let tags = step(Effect::AddTags(vec!["a".to_owned(), "b".to_owned()]));
        assert!(mismatch(&table("add_tags = [\"a\"]"), &tags).is_some());
        assert_eq!(mismatch(&table("add_tags = [\"a\", \"b\"]"), &tags), None);
    }

    #[test]
    fn files_names_only_rule_files_of_the_folder() {
        let set = RuleSet::empty();
        assert_eq!(
            only_files(&set, &["consultoria.toml".to_owned()]).map(|s| s.rules.len()),
            Err("no rule file \"consultoria.toml\" in ; the files are ".to_owned())
        );
        assert_eq!(only_files(&set, &[]).map(|s| s.rules.len()), Ok(0));
    }

    #[test]
    fn contains_matches_a_part_of_a_text() {
        let reply = step(Effect::PublicReply {
            template: "aberta".to_owned(),
            body: "Olá, Maria.\n\n- Artigo um\n".to_owned(),
            html: None,
        });
        assert_eq!(
            mismatch(
                &table("public_reply = { body = { contains = \"- Artigo um\" } }"),
                &reply
            ),
            None
        );
        assert_eq!(
            mismatch(&table("public_reply = { body = { contains = \"Artigo dois\" } }"), &reply),
            Some(
                "public_reply.body: expected a text containing \"Artigo dois\", planned \"Olá, Maria.\\n\\n- Artigo um\\n\""
                    .to_owned()
            )
        );
    }

    #[test]
    fn an_expectation_names_exactly_one_known_action() {
        assert_eq!(check_expectation(&table("set_status = \"open\"")), Ok(()));
        assert!(
            check_expectation(&table("stop = true"))
                .is_err_and(|e| e.starts_with("unknown action `stop`; expected one of set_status,"))
        );
        assert_eq!(
            check_expectation(&table("add_tags = [\"a\"]\nsolve = true")),
            Err("an expectation names one action, but this one has `add_tags` and `solve`: write each as its own entry".to_owned())
        );
        assert!(
            check_expectation(&table("")).is_err_and(|e| e.starts_with("an expectation names one action"))
        );
    }

    #[test]
    fn the_change_keys_are_the_ticket_change_fields() {
        // A listed key that were not a field would be ignored, and its
        // wrong value accepted; every field is a delta or a list, so a bare
        // number is an error for each real one.
        for key in CHANGE_KEYS {
            let mut table = toml::Table::new();
            table.insert((*key).to_owned(), toml::Value::Integer(1));
            assert!(
                toml::Value::Table(table).try_into::<TicketChange>().is_err(),
                "{key} is not a field of TicketChange"
            );
        }
    }

    #[test]
    fn mail_kinds_follow_the_classification() {
        let raw = b"From: Maria <maria@cliente.com.br>\r\nTo: suporte@empresa.com.br\r\nSubject: Ausente\r\n\
Auto-Submitted: auto-replied\r\nMessage-ID: <a@cliente.com.br>\r\n\r\nFora.\r\n";
        let facts = mail_facts(&parse(raw, &ParseOptions::default()));
        assert_eq!(facts.kind, "auto_reply");
        assert_eq!(facts.from, "maria@cliente.com.br");
        let raw = b"From: Maria <maria@cliente.com.br>\r\nTo: suporte@empresa.com.br\r\nSubject: Pedido\r\n\
Message-ID: <b@cliente.com.br>\r\n\r\nOi.\r\n";
        assert_eq!(mail_facts(&parse(raw, &ParseOptions::default())).kind, "new");
        let raw =
            b"From: Maria <maria@cliente.com.br>\r\nTo: suporte@empresa.com.br\r\nSubject: Re: Pedido\r\n\
In-Reply-To: <x@empresa.com.br>\r\nMessage-ID: <c@cliente.com.br>\r\n\r\nOi.\r\n";
        assert_eq!(mail_facts(&parse(raw, &ParseOptions::default())).kind, "reply");
    }
}
