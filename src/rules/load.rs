//! Loading a rules folder: parse every file, check every rule, compile
//! regexes, durations, cron expressions and templates, and enforce the
//! loop guard. The result is a [`RuleSet`], or every problem found, each
//! located as `path:line:col: message`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::model::{
    ActionEntry, ActionSpec, Assign, Condition, CreateTicketSpec, FieldKind, FieldRef, Leaf, Literal, Once,
    Op, Operand, Rule, SendDigestSpec, SendMailSpec, SendReportSpec, Trigger,
};
use super::syntax::{RawAction, RawActionKind, RawCondition, RawFile, RawRule};
use crate::calendar::{Calendars, Duration};
use crate::config::Location;
use crate::helpdesk::Status;
use crate::template::{TemplateOptions, Templates};

/// The folder under the rules folder that holds the templates.
pub const TEMPLATES_DIR: &str = "templates";

/// The zone rules run in when a file names none.
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::America::Sao_Paulo;

/// The priorities `set_priority` takes: Zendesk's.
pub const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];

/// One thing wrong with the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub location: Location,
    pub message: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A loaded, checked set of rules: what the engine runs. Cheap to share
/// behind an `Arc`; hot reload builds a new one and swaps it in.
#[derive(Debug)]
pub struct RuleSet {
    /// In file order (files sorted by name), then as written.
    pub rules: Vec<Rule>,
    /// Addresses that are carteiro itself.
    pub identities: Vec<String>,
    /// A short hash of every file's name and bytes, logged with each
    /// action so a log line says which rules planned it.
    pub hash: String,
    /// The rules folder.
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub templates: Arc<Templates>,
}

impl RuleSet {
    /// The rule called `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// An empty set (no rules, no templates), for a daemon started without
    /// a rules folder.
    pub fn empty() -> RuleSet {
        let templates = Templates::from_sources(Path::new("."), Vec::new(), &TemplateOptions::default())
            .unwrap_or_else(|_| unreachable_empty());
        RuleSet {
            rules: Vec::new(),
            identities: Vec::new(),
            hash: hash_files(&[]),
            dir: PathBuf::new(),
            files: Vec::new(),
            templates: Arc::new(templates),
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_empty() -> Templates {
    // An empty source list has nothing that can fail.
    panic!("an empty template set failed to build")
}

/// The rule files of `dir`: `*.toml` directly in it, sorted by name.
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, RuleProblem> {
    let entries = std::fs::read_dir(dir).map_err(|e| RuleProblem {
        location: Location::WholeFile {
            path: dir.to_path_buf(),
        },
        message: format!("cannot read the rules folder: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads the rules folder `dir`: its `*.toml` files in name order, and its
/// `templates/` folder.
pub fn load_dir(dir: &Path, calendars: &Calendars) -> Result<RuleSet, Vec<RuleProblem>> {
    let files = rule_files(dir).map_err(|p| vec![p])?;
    let mut sources = Vec::with_capacity(files.len());
    let mut problems = Vec::new();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push((path, text)),
            Err(e) => problems.push(RuleProblem {
                location: Location::WholeFile { path },
                message: format!("cannot read: {e}"),
            }),
        }
    }
    let templates_dir = dir.join(TEMPLATES_DIR);
    let templates = if templates_dir.is_dir() {
        match Templates::load_dir(&templates_dir, &TemplateOptions::default()) {
            Ok(templates) => {
                problems.extend(templates.check().into_iter().map(template_problem));
                templates
            }
            Err(found) => {
                problems.extend(found.into_iter().map(template_problem));
                return Err(problems);
            }
        }
    } else {
        Templates::from_sources(&templates_dir, Vec::new(), &TemplateOptions::default())
            .map_err(|found| found.into_iter().map(template_problem).collect::<Vec<_>>())?
    };
    match load_sources(dir, &sources, templates, calendars) {
        Ok(set) if problems.is_empty() => Ok(set),
        Ok(_) => Err(problems),
        Err(mut more) => {
            problems.append(&mut more);
            Err(problems)
        }
    }
}

fn template_problem(problem: crate::template::TemplateProblem) -> RuleProblem {
    let location = match problem.line {
        Some(line) => Location::File {
            path: problem.file,
            line,
            column: 1,
        },
        None => Location::WholeFile { path: problem.file },
    };
    RuleProblem {
        location,
        message: problem.message,
    }
}

/// Loads rules from `(path, text)` pairs (already in run order) with the
/// given templates. `dir` is where attachments are looked up.
pub fn load_sources(
    dir: &Path,
    sources: &[(PathBuf, String)],
    templates: Templates,
    calendars: &Calendars,
) -> Result<RuleSet, Vec<RuleProblem>> {
    // Files are checked in parallel (regex compilation dominates a large
    // set), then merged in file order, where duplicate names are found.
    let regexes = RegexCache::default();
    let checked: Vec<CheckedFile> = {
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, sources.len().max(1));
        let chunk = sources.len().div_ceil(workers).max(1);
        let check = |part: &[(PathBuf, String)]| -> Vec<CheckedFile> {
            part.iter()
                .map(|(path, text)| check_file(path, text, dir, &templates, calendars, &regexes))
                .collect()
        };
        if workers <= 1 || sources.len() <= 1 {
            check(sources)
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = sources
                    .chunks(chunk)
                    .map(|part| scope.spawn(move || check(part)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                    .collect()
            })
        }
    };
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    let mut identities = Vec::new();
    let mut names: HashMap<String, Location> = HashMap::new();
    for file in checked {
        problems.extend(file.problems);
        identities.extend(file.identities);
        for (rule, _) in file.rules {
            let location = rule.location.clone();
            match names.get(&rule.name) {
                Some(first) => problems.push(RuleProblem {
                    location,
                    message: format!(
                        "duplicate rule name {:?}: it is already the name of the rule at {first}; \
                         names identify rules in logs and in the journal, so each must be unique",
                        rule.name
                    ),
                }),
                None => {
                    names.insert(rule.name.clone(), location);
                    rules.push(rule);
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let files: Vec<PathBuf> = sources.iter().map(|(p, _)| p.clone()).collect();
    Ok(RuleSet {
        rules,
        identities,
        hash: hash_files(sources),
        dir: dir.to_path_buf(),
        files,
        templates: Arc::new(templates),
    })
}

/// What checking one file found.
struct CheckedFile {
    rules: Vec<(Rule, Range<usize>)>,
    identities: Vec<String>,
    problems: Vec<RuleProblem>,
}

fn check_file(
    path: &Path,
    text: &str,
    dir: &Path,
    templates: &Templates,
    calendars: &Calendars,
    regexes: &RegexCache,
) -> CheckedFile {
    let mut problems = Vec::new();
    let mut identities = Vec::new();
    let mut file = FileChecker {
        path,
        text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        dir,
        templates,
        calendars,
        regexes,
        problems: &mut problems,
        captures: Vec::new(),
    };
    let rules = match read_raw(text) {
        Ok(raw) => file.file(raw, &mut identities),
        Err(problems) => {
            for (span, message) in problems {
                file.error(span, message);
            }
            Vec::new()
        }
    };
    CheckedFile {
        rules,
        identities,
        problems,
    }
}

/// Regexes compiled during one load, by pattern: the same pattern in many
/// rules is compiled once (a `Regex` is cheap to clone).
#[derive(Debug, Default)]
struct RegexCache {
    compiled: std::sync::Mutex<HashMap<String, regex::Regex>>,
}

impl RegexCache {
    fn get(&self, pattern: &str) -> Result<regex::Regex, regex::Error> {
        let lock = |m: &std::sync::Mutex<HashMap<String, regex::Regex>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(pattern)
                .cloned()
        };
        if let Some(found) = lock(&self.compiled) {
            return Ok(found);
        }
        let compiled = regex::Regex::new(pattern)?;
        self.compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(pattern.to_owned(), compiled.clone());
        Ok(compiled)
    }
}

/// The rule file in `text`, with its `[params]` put in place
/// ([`super::params`]); otherwise every problem found, with its span.
fn read_raw(text: &str) -> Result<RawFile, Vec<(Range<usize>, String)>> {
    use serde::Deserialize as _;
    let toml_problem = |e: toml::de::Error| (e.span().unwrap_or(0..0), toml_message(&e));
    let mut root = toml::de::DeTable::parse(text).map_err(|e| vec![toml_problem(e)])?;
    let problems = super::params::substitute(root.get_mut());
    if !problems.is_empty() {
        return Err(problems);
    }
    RawFile::deserialize(toml::de::Deserializer::from(root)).map_err(|e| vec![toml_problem(e)])
}

/// The TOML error's message without the excerpt the crate draws around it
/// (the location says where).
fn toml_message(error: &toml::de::Error) -> String {
    error.message().trim().to_owned()
}

fn hash_files(sources: &[(PathBuf, String)]) -> String {
    let mut hasher = Sha256::new();
    for (path, text) in sources {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Checks one file, collecting its problems.
struct FileChecker<'a> {
    path: &'a Path,
    text: &'a str,
    /// Where each line starts, so a location costs a binary search.
    line_starts: Vec<usize>,
    dir: &'a Path,
    templates: &'a Templates,
    calendars: &'a Calendars,
    regexes: &'a RegexCache,
    problems: &'a mut Vec<RuleProblem>,
    /// The named groups of the current rule's `matches` conditions (outside
    /// `not`): what `captures.NAME` may name in its actions.
    captures: Vec<String>,
}

/// What a file says about the rules in it.
struct FileSettings {
    timezone: Tz,
    calendar: String,
}

impl FileChecker<'_> {
    fn location(&self, span: Range<usize>) -> Location {
        let mut offset = span.start.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        Location::File {
            path: self.path.to_path_buf(),
            line,
            column: self.text[start..offset].chars().count() + 1,
        }
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let location = self.location(span);
        self.problems.push(RuleProblem {
            location,
            message: message.into(),
        });
    }

    fn file(&mut self, raw: RawFile, identities: &mut Vec<String>) -> Vec<(Rule, Range<usize>)> {
        if *raw.version.get_ref() != 1 {
            self.error(
                raw.version.span(),
                format!(
                    "unknown version {}: this carteiro reads version 1",
                    raw.version.get_ref()
                ),
            );
        }
        let timezone = match &raw.timezone {
            None => DEFAULT_TIMEZONE,
            Some(zone) => match Tz::from_str(zone.get_ref()) {
                Ok(tz) => tz,
                Err(_) => {
                    self.error(
                        zone.span(),
                        format!(
                            "unknown time zone {:?}: use an IANA name such as \"America/Sao_Paulo\"",
                            zone.get_ref()
                        ),
                    );
                    DEFAULT_TIMEZONE
                }
            },
        };
        let calendar = match &raw.calendar {
            None => self.calendars.default_calendar().name().to_owned(),
            Some(name) => {
                if self.calendars.get(name.get_ref()).is_none() {
                    let known: Vec<&str> = self.calendars.names().collect();
                    self.error(
                        name.span(),
                        format!(
                            "unknown calendar {:?}: the configuration defines {}",
                            name.get_ref(),
                            known.join(", ")
                        ),
                    );
                }
                name.get_ref().clone()
            }
        };
        for identity in &raw.identities {
            if !identity.get_ref().contains('@') {
                self.error(
                    identity.span(),
                    format!("{:?} is not an e-mail address", identity.get_ref()),
                );
            }
            identities.push(identity.get_ref().to_ascii_lowercase());
        }
        let settings = FileSettings { timezone, calendar };
        raw.rules
            .into_iter()
            .filter_map(|rule| {
                let span = rule.name.span();
                self.rule(rule, &settings).map(|r| (r, span))
            })
            .collect()
    }

    fn rule(&mut self, raw: RawRule, settings: &FileSettings) -> Option<Rule> {
        let before = self.problems.len();
        let name = raw.name.get_ref().trim().to_owned();
        if name.is_empty() {
            self.error(raw.name.span(), "a rule needs a name");
        }
        let mut on = Vec::new();
        if raw.on.get_ref().is_empty() {
            self.error(
                raw.on.span(),
                "`on` lists no event: name at least one of ticket.created, ticket.updated, mail.received, \
                 schedule",
            );
        }
        for event in raw.on.get_ref() {
            match Trigger::parse(event.get_ref()) {
                Some(trigger) if !on.contains(&trigger) => on.push(trigger),
                Some(_) => self.error(event.span(), format!("{:?} is listed twice", event.get_ref())),
                None => self.error(
                    event.span(),
                    format!(
                        "unknown event {:?}, expected one of: ticket.created, ticket.updated, \
                         mail.received, schedule",
                        event.get_ref()
                    ),
                ),
            }
        }
        let cron = match (&raw.cron, on.contains(&Trigger::Schedule)) {
            (Some(expr), true) => match cron::Schedule::from_str(expr.get_ref()) {
                Ok(schedule) => Some(schedule),
                Err(e) => {
                    self.error(
                        expr.span(),
                        format!(
                            "invalid cron expression {:?}: {e}; the first field is seconds, e.g. \
                             \"0 */10 * * * *\" for every 10 minutes",
                            expr.get_ref()
                        ),
                    );
                    None
                }
            },
            (Some(expr), false) => {
                self.error(
                    expr.span(),
                    "`cron` is only for rules with on = [\"schedule\"]; remove it or add the event",
                );
                None
            }
            (None, true) => {
                self.error(
                    raw.name.span(),
                    format!("rule {name:?} runs on schedule but has no `cron` expression"),
                );
                None
            }
            (None, false) => None,
        };
        let once = match &raw.once {
            None => Once::Always,
            Some(text) if text.get_ref() == "per_ticket" => Once::PerTicket,
            Some(text) => {
                self.error(
                    text.span(),
                    format!(
                        "unknown `once` {:?}: the only value is \"per_ticket\"",
                        text.get_ref()
                    ),
                );
                Once::Always
            }
        };
        let mut parts = Vec::new();
        for cond in raw.all {
            parts.extend(self.condition(cond, &on));
        }
        if !raw.any.is_empty() {
            let any: Vec<Condition> = raw
                .any
                .into_iter()
                .filter_map(|c| self.condition(c, &on))
                .collect();
            parts.push(Condition::Any(any));
        }
        if !raw.not.is_empty() {
            let not: Vec<Condition> = raw
                .not
                .into_iter()
                .filter_map(|c| self.condition(c, &on))
                .collect();
            parts.push(Condition::Not(not));
        }
        self.captures = Vec::new();
        for part in &parts {
            capture_names(part, &mut self.captures);
        }
        let actions_span = raw.actions.span();
        let mut actions = Vec::new();
        let mut summary_span = None;
        for action in raw.actions.into_inner() {
            if summary_span.is_none()
                && matches!(
                    action.get_ref().kind,
                    RawActionKind::SendDigest(_) | RawActionKind::SendReport(_)
                )
            {
                summary_span = Some(action.span());
            }
            if let Some(entry) = self.action(action) {
                actions.push(entry);
            }
        }
        if let Some(span) = summary_span {
            self.summary_rule(span, &on, &actions);
        }
        if actions.is_empty() && self.problems.len() == before {
            self.error(actions_span.clone(), "a rule needs at least one action");
        }
        if actions.iter().any(|a| matches!(a.action, ActionSpec::Revert(_)))
            && on.iter().any(|t| *t != Trigger::TicketUpdated)
        {
            self.error(
                actions_span,
                "revert puts back what the event's change replaced: the rule must run only on \
                 ticket.updated",
            );
        }
        let rule = Rule {
            name,
            description: raw.description,
            location: self.location(raw.name.span()),
            on,
            cron,
            timezone: settings.timezone,
            calendar: settings.calendar.clone(),
            condition: Condition::All(parts),
            actions,
            stop: raw.stop,
            once,
            cascade: raw.cascade,
            vars: raw.vars,
        };
        // The guard judges the rule as written: after an action was
        // refused it would only add a second, misleading error.
        if self.problems.len() == before
            && rule.runs_on(Trigger::Schedule)
            && rule.once != Once::PerTicket
            && let Err(why) = super::guard::check_loop_guard(&rule)
        {
            self.error(raw.name.span(), format!("rule {:?}: {why}", rule.name));
        }
        (self.problems.len() == before).then_some(rule)
    }

    /// `send_digest` and `send_report` send one mail per tick about many
    /// tickets: they run only on `schedule`, and with no action that
    /// changes a ticket.
    fn summary_rule(&mut self, span: Range<usize>, on: &[Trigger], actions: &[ActionEntry]) {
        let key = actions
            .iter()
            .find(|a| a.action.is_summary())
            .map_or("send_digest", |a| a.action.key());
        if on != [Trigger::Schedule] {
            self.error(
                span,
                format!(
                    "{key} sends one mail per tick about the tickets the conditions match: the rule must \
                     run only on schedule (on = [\"schedule\"])"
                ),
            );
        } else if let Some(other) = actions.iter().find(|a| !a.action.is_summary()) {
            self.error(
                span,
                format!(
                    "{key} changes no ticket and cannot be mixed with {}: write that action in a rule \
                     of its own",
                    other.action.key()
                ),
            );
        }
    }

    fn condition(&mut self, raw: Spanned<RawCondition>, on: &[Trigger]) -> Option<Condition> {
        let span = raw.span();
        let raw = raw.into_inner();
        let groups = [raw.all.is_some(), raw.any.is_some(), raw.not.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        let leaf = raw.field.is_some() || raw.op.is_some() || raw.value.is_some();
        if groups > 1 || (groups == 1 && leaf) {
            self.error(
                span,
                "a condition is either { field, op, value } or one group (all, any or not), not both; \
                 nest groups as their own entries",
            );
            return None;
        }
        let nest = |checker: &mut Self, list: Vec<Spanned<RawCondition>>| -> Vec<Condition> {
            list.into_iter()
                .filter_map(|c| checker.condition(c, on))
                .collect()
        };
        if let Some(list) = raw.all {
            return Some(Condition::All(nest(self, list)));
        }
        if let Some(list) = raw.any {
            return Some(Condition::Any(nest(self, list)));
        }
        if let Some(list) = raw.not {
            return Some(Condition::Not(nest(self, list)));
        }
        let Some(field_text) = raw.field else {
            self.error(
                span,
                "a condition needs `field` and `op` (or is a group: all, any, not)",
            );
            return None;
        };
        let Some(field) = FieldRef::parse(field_text.get_ref()) else {
            let known: Vec<&str> = FieldRef::FIXED.iter().map(|(n, _)| *n).collect();
            self.error(
                field_text.span(),
                format!(
                    "unknown field {:?}; known fields: {}, and ticket.fields.NAME for a custom field",
                    field_text.get_ref(),
                    known.join(", ")
                ),
            );
            return None;
        };
        let Some(op_text) = raw.op else {
            self.error(span, format!("the condition on {} needs an `op`", field.path()));
            return None;
        };
        let Some(op) = Op::parse(op_text.get_ref()) else {
            let known: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
            self.error(
                op_text.span(),
                format!(
                    "unknown operator {:?}, expected one of: {}",
                    op_text.get_ref(),
                    known.join(", ")
                ),
            );
            return None;
        };
        let op_span = op_text.span();
        if let Err(why) = event_allows(&field, op, on) {
            self.error(field_text.span(), why);
            return None;
        }
        if let Err(why) = kind_allows(&field, op) {
            self.error(op_span, why);
            return None;
        }
        let operand = match (op.takes_value(), raw.value) {
            (false, None) => Operand::None,
            (false, Some(value)) => {
                self.error(value.span(), format!("`{op}` takes no value; remove `value`"));
                return None;
            }
            (true, None) => {
                self.error(span, format!("`{op}` needs a `value`"));
                return None;
            }
            (true, Some(value)) if value.get_ref().is_table() => self.field_operand(op, value, on)?,
            (true, Some(value)) => self.operand(&field, op, value)?,
        };
        Some(Condition::Leaf(Leaf { field, op, operand }))
    }

    /// `value = { field = "..." }`: a reference to another field, compared
    /// with `is` or `is_not`.
    fn field_operand(&mut self, op: Op, value: Spanned<toml::Value>, on: &[Trigger]) -> Option<Operand> {
        let span = value.span();
        let reference = value
            .get_ref()
            .as_table()
            .filter(|table| table.len() == 1)
            .and_then(|table| table.get("field"))
            .and_then(toml::Value::as_str);
        let Some(path) = reference else {
            self.error(
                span,
                "a table as `value` names another field: { field = \"ticket.fields.UF atual\" }",
            );
            return None;
        };
        if !matches!(op, Op::Is | Op::IsNot) {
            self.error(
                span,
                format!("`{op}` cannot compare with another field; only `is` and `is_not` can"),
            );
            return None;
        }
        let Some(field) = FieldRef::parse(path) else {
            self.error(span, format!("unknown field {path:?} in `value`"));
            return None;
        };
        if matches!(field.kind(), FieldKind::List | FieldKind::Time) {
            self.error(span, format!("{path} cannot be compared with `{op}`"));
            return None;
        }
        if let Err(why) = event_allows(&field, Op::Is, on) {
            self.error(span, why);
            return None;
        }
        Some(Operand::Field(field))
    }

    fn operand(&mut self, field: &FieldRef, op: Op, value: Spanned<toml::Value>) -> Option<Operand> {
        let span = value.span();
        let literal = match literal(value.get_ref()) {
            Ok(literal) => literal,
            Err(why) => {
                self.error(span, why);
                return None;
            }
        };
        match op {
            Op::Matches => {
                let Literal::Text(pattern) = literal else {
                    self.error(span, "`matches` takes a regular expression as a string");
                    return None;
                };
                match self.regexes.get(&pattern) {
                    Ok(re) => Some(Operand::Regex(re)),
                    Err(e) => {
                        let detail = e.to_string();
                        let last = detail.lines().last().unwrap_or_default().trim().to_owned();
                        self.error(span, format!("invalid regular expression {pattern:?}: {last}"));
                        None
                    }
                }
            }
            Op::OlderThan | Op::NewerThan => {
                let Literal::Text(text) = literal else {
                    self.error(span, format!("`{op}` takes a duration such as \"7d\" or \"5bd\""));
                    return None;
                };
                match Duration::parse(&text) {
                    Ok(d) => Some(Operand::Duration(d)),
                    Err(e) => {
                        self.error(span, e.to_string());
                        None
                    }
                }
            }
            Op::GreaterThan | Op::LessThan => {
                let number = match &literal {
                    Literal::Number(n) => Some(*n),
                    Literal::Text(text) => text.trim().parse::<i64>().ok(),
                    _ => None,
                };
                let Some(number) = number else {
                    self.error(span, format!("`{op}` takes a whole number, such as 5"));
                    return None;
                };
                Some(Operand::Literal(Literal::Number(number)))
            }
            Op::In => {
                if !matches!(literal, Literal::List(_)) {
                    self.error(span, "`in` takes a list, e.g. [\"open\", \"pending\"]");
                    return None;
                }
                self.check_statuses(field, &literal, span)?;
                Some(Operand::Literal(literal))
            }
            _ => {
                if matches!(literal, Literal::List(_)) {
                    self.error(span, format!("`{op}` takes one value; use `in` for a list"));
                    return None;
                }
                self.check_statuses(field, &literal, span)?;
                Some(Operand::Literal(literal))
            }
        }
    }

    /// A status compared with an unknown name never matches: say so now.
    fn check_statuses(&mut self, field: &FieldRef, literal: &Literal, span: Range<usize>) -> Option<()> {
        if *field != FieldRef::Status {
            return Some(());
        }
        let items = match literal {
            Literal::List(items) => items.clone(),
            other => vec![other.clone()],
        };
        for item in items {
            let ok =
                matches!(&item, Literal::Text(s) if Status::parse(s).is_some_and(|s| s != Status::Deleted));
            if !ok {
                self.error(
                    span.clone(),
                    format!(
                        "unknown status {item}: ticket.status is one of new, open, pending, hold, solved, \
                         closed (a custom status is ticket.custom_status)"
                    ),
                );
                return None;
            }
        }
        Some(())
    }

    fn action(&mut self, raw: Spanned<RawAction>) -> Option<ActionEntry> {
        let span = raw.span();
        let RawAction { kind, commit } = raw.into_inner();
        let action = match kind {
            RawActionKind::SetStatus(status) => ActionSpec::SetStatus(self.settable_status(&status)?),
            RawActionKind::SetCustomStatus(name) => {
                if name.get_ref().trim().is_empty() {
                    self.error(name.span(), "set_custom_status needs the custom status's name");
                    return None;
                }
                ActionSpec::SetCustomStatus(name.into_inner())
            }
            RawActionKind::Assign(assign) => {
                if assign.user.is_none() && assign.group.is_none() {
                    self.error(span, "assign needs a `user` (e-mail or name), a `group`, or both");
                    return None;
                }
                ActionSpec::Assign(Assign {
                    user: assign.user.map(Spanned::into_inner),
                    group: assign.group.map(Spanned::into_inner),
                })
            }
            RawActionKind::AddTags(tags) => ActionSpec::AddTags(self.tags(tags, span)?),
            RawActionKind::RemoveTags(tags) => ActionSpec::RemoveTags(self.tags(tags, span)?),
            RawActionKind::SetField(set) => {
                let value = match literal(set.value.get_ref()) {
                    Ok(value) => value,
                    Err(why) => {
                        self.error(set.value.span(), why);
                        return None;
                    }
                };
                if let Literal::Text(source) = &value
                    && (source.contains("{{") || source.contains("{%"))
                {
                    self.inline(Spanned::new(set.value.span(), source.clone()))?;
                }
                ActionSpec::SetField {
                    field: set.field.into_inner(),
                    value,
                }
            }
            RawActionKind::SetDue(text) => match Duration::parse(text.get_ref()) {
                Ok(d) => ActionSpec::SetDue(d),
                Err(e) => {
                    self.error(text.span(), format!("set_due: {e}"));
                    return None;
                }
            },
            RawActionKind::SetPriority(priority) => {
                let value = priority.get_ref().trim();
                if !PRIORITIES.contains(&value) {
                    self.error(
                        priority.span(),
                        format!(
                            "set_priority: unknown priority {value:?}; one of: {}",
                            PRIORITIES.join(", ")
                        ),
                    );
                    return None;
                }
                ActionSpec::SetPriority(value.to_owned())
            }
            RawActionKind::Revert(path) => match FieldRef::parse(path.get_ref().trim()) {
                Some(FieldRef::DueAt) => ActionSpec::Revert(FieldRef::DueAt),
                _ => {
                    self.error(
                        path.span(),
                        format!(
                            "revert: cannot revert {:?}; only ticket.due_at can be reverted",
                            path.get_ref()
                        ),
                    );
                    return None;
                }
            },
            RawActionKind::InternalNote(template) => ActionSpec::InternalNote(self.template(template)?),
            RawActionKind::PublicReply(template) => {
                let at = template.span();
                let name = self.template(template)?;
                self.agents_only(&name, at, "public_reply", "a public reply reaches the customer")?;
                ActionSpec::PublicReply(name)
            }
            RawActionKind::SendMail(mail) => {
                let at = mail.template.span();
                let template = self.template(mail.template)?;
                if mail.to.0.is_empty() {
                    self.error(span.clone(), "send_mail needs at least one address in `to`");
                    return None;
                }
                let to = self.addresses(mail.to.0, span.clone())?;
                let cc = self.addresses(mail.cc.0, span.clone())?;
                if to.iter().chain(&cc).any(|a| a == "requester") {
                    self.agents_only(&template, at, "send_mail", "this mail goes to the requester")?;
                }
                let subject = match mail.subject {
                    Some(subject) => Some(self.inline(subject)?),
                    None => None,
                };
                let mut attachments = Vec::new();
                for file in mail.attachments {
                    attachments.push(self.attachment(file)?);
                }
                ActionSpec::SendMail(SendMailSpec {
                    to,
                    cc,
                    template,
                    subject,
                    attachments,
                })
            }
            RawActionKind::CreateTicket(create) => {
                let subject = self.inline(create.subject)?;
                let internal_note = self.template(create.internal_note)?;
                let status = match create.status {
                    Some(status) => Some(self.settable_status(&status)?),
                    None => None,
                };
                let cc = self.addresses(create.cc, span.clone())?;
                ActionSpec::CreateTicket(CreateTicketSpec {
                    subject,
                    internal_note,
                    assignee: create.assignee.map(Spanned::into_inner),
                    group: create.group.map(Spanned::into_inner),
                    cc,
                    status,
                    tags: create.tags,
                })
            }
            RawActionKind::SendDigest(digest) => {
                let template = self.template(digest.template)?;
                let to = self.summary_recipients("send_digest", "a digest", digest.to.0, &span)?;
                let subject = self.inline(digest.subject)?;
                ActionSpec::SendDigest(SendDigestSpec {
                    to,
                    template,
                    subject,
                    soon_days: digest.soon_days.unwrap_or(2),
                })
            }
            RawActionKind::SendReport(report) => {
                let template = self.template(report.template)?;
                let to = self.summary_recipients("send_report", "a report", report.to.0, &span)?;
                let days = report.days.unwrap_or(7);
                if !(1..=366).contains(&days) {
                    self.error(
                        span.clone(),
                        format!("send_report: `days` is {days}; write 1 to 366 (7 is a week)"),
                    );
                    return None;
                }
                let mut by = Vec::with_capacity(report.by.len());
                for (name, path) in report.by {
                    let field = FieldRef::parse(path.get_ref().trim()).filter(|f| f.is_breakdown());
                    let Some(field) = field else {
                        self.error(
                            path.span(),
                            format!(
                                "send_report: `by.{name}` is {:?}; a report breaks down by {}, or \
                                 ticket.fields.NAME for a custom field",
                                path.get_ref(),
                                FieldRef::BREAKDOWNS.join(", ")
                            ),
                        );
                        return None;
                    };
                    by.push((name, field));
                }
                let subject = self.inline(report.subject)?;
                ActionSpec::SendReport(SendReportSpec {
                    to,
                    template,
                    subject,
                    days,
                    by,
                })
            }
            RawActionKind::Solve(yes) | RawActionKind::Stop(yes) if !yes => {
                self.error(span, "write `true`, or remove the action");
                return None;
            }
            RawActionKind::Solve(_) => ActionSpec::Solve,
            RawActionKind::Stop(_) => ActionSpec::Stop,
        };
        Some(ActionEntry { action, commit })
    }

    fn settable_status(&mut self, status: &Spanned<String>) -> Option<Status> {
        match Status::parse(status.get_ref()) {
            Some(s) if s != Status::New && s != Status::Deleted => Some(s),
            _ => {
                self.error(
                    status.span(),
                    format!(
                        "unknown status {:?}: set open, pending, hold, solved or closed (a custom status \
                         is set with set_custom_status)",
                        status.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn tags(&mut self, tags: Vec<String>, span: Range<usize>) -> Option<Vec<String>> {
        if tags.is_empty() {
            self.error(span, "the tag list is empty");
            return None;
        }
        if let Some(bad) = tags
            .iter()
            .find(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            self.error(
                span,
                format!("{bad:?} is not a tag: tags are one word, no spaces"),
            );
            return None;
        }
        Some(tags)
    }

    /// Refuses template `name` in a mail or reply a customer reads when it
    /// shows `ticket.agent_url`: the agent's page, which a customer cannot
    /// open, and which tells them nothing they should see.
    fn agents_only(&mut self, name: &str, at: Range<usize>, action: &str, why: &str) -> Option<()> {
        if self.templates.mentions(name, "agent_url") {
            self.error(
                at,
                format!(
                    "{action}: template {name:?} shows ticket.agent_url, a link only agents can open, \
                     and {why}; keep it for mails to agents (a sector, the managers)"
                ),
            );
            return None;
        }
        Some(())
    }

    fn template(&mut self, name: Spanned<String>) -> Option<String> {
        let base = name
            .get_ref()
            .trim_end_matches(crate::template::TEXT_SUFFIX)
            .trim_end_matches(crate::template::HTML_SUFFIX)
            .to_owned();
        if self.templates.contains(&base) {
            Some(base)
        } else {
            let known: Vec<&str> = self.templates.names().collect();
            self.error(
                name.span(),
                format!(
                    "unknown template {:?}: expected {base}{} in {}{}",
                    name.get_ref(),
                    crate::template::TEXT_SUFFIX,
                    self.templates.dir().display(),
                    if known.is_empty() {
                        String::new()
                    } else {
                        format!(" (templates there: {})", known.join(", "))
                    }
                ),
            );
            None
        }
    }

    fn inline(&mut self, source: Spanned<String>) -> Option<String> {
        let unknown: Vec<String> = captures_named(source.get_ref())
            .into_iter()
            .filter(|name| !self.captures.contains(name))
            .collect();
        if let Some(name) = unknown.first() {
            let known = if self.captures.is_empty() {
                "it has none".to_owned()
            } else {
                format!("it has: {}", self.captures.join(", "))
            };
            self.error(
                source.span(),
                format!(
                    "`captures.{name}` is no named group of this rule's `matches` conditions (outside \
                     `not`); {known}"
                ),
            );
            return None;
        }
        match self.templates.check_inline(source.get_ref()) {
            Ok(()) => Some(source.into_inner()),
            Err(why) => {
                self.error(source.span(), format!("template error: {why}"));
                None
            }
        }
    }

    /// The `to` of a mail about many tickets (`send_digest`,
    /// `send_report`): at least one address, and no `requester`, since
    /// there is no one ticket.
    fn summary_recipients(
        &mut self,
        key: &str,
        what: &str,
        list: Vec<Spanned<String>>,
        span: &Range<usize>,
    ) -> Option<Vec<String>> {
        if list.is_empty() {
            self.error(span.clone(), format!("{key} needs at least one address in `to`"));
            return None;
        }
        let to = self.addresses(list, span.clone())?;
        if let Some(requester) = to.iter().find(|a| *a == "requester") {
            self.error(
                span.clone(),
                format!("{key}: {requester:?} means no one here: {what} is about many tickets"),
            );
            return None;
        }
        Some(to)
    }

    fn addresses(&mut self, list: Vec<Spanned<String>>, fallback: Range<usize>) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for address in list {
            let text = address.get_ref().trim();
            if text != "requester" && !text.contains('@') {
                let span = if address.span().is_empty() {
                    fallback.clone()
                } else {
                    address.span()
                };
                self.error(
                    span,
                    format!(
                        "{text:?} is not an e-mail address (or \"requester\" for the ticket's requester)"
                    ),
                );
                return None;
            }
            out.push(text.to_owned());
        }
        Some(out)
    }

    fn attachment(&mut self, file: Spanned<String>) -> Option<PathBuf> {
        let relative = PathBuf::from(file.get_ref());
        let inside = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            self.error(
                file.span(),
                "attachments are paths inside the rules folder, without `..` or a leading `/`",
            );
            return None;
        }
        if !self.dir.join(&relative).is_file() {
            self.error(
                file.span(),
                format!(
                    "no file {} in the rules folder {}",
                    relative.display(),
                    self.dir.display()
                ),
            );
            return None;
        }
        Some(relative)
    }
}

/// Whether the rule's events give `field` (and the `changed` operators)
/// a value at all.
/// Collects the named groups of the `matches` conditions in `condition`,
/// outside `not`.
fn capture_names(condition: &Condition, out: &mut Vec<String>) {
    match condition {
        Condition::All(parts) | Condition::Any(parts) => {
            for part in parts {
                capture_names(part, out);
            }
        }
        Condition::Not(_) => {}
        Condition::Leaf(leaf) => {
            if let (Op::Matches, Operand::Regex(re)) = (&leaf.op, &leaf.operand) {
                for name in re.capture_names().flatten() {
                    if !out.iter().any(|n| n == name) {
                        out.push(name.to_owned());
                    }
                }
            }
        }
    }
}

/// The names a template reads as `captures.NAME`.
fn captures_named(source: &str) -> Vec<String> {
    static REFERENCE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\bcaptures\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)").expect("a valid regex")
    });
    REFERENCE.captures_iter(source).map(|c| c[1].to_owned()).collect()
}

fn event_allows(field: &FieldRef, op: Op, on: &[Trigger]) -> Result<(), String> {
    let path = field.path();
    let has = |t: Trigger| on.contains(&t);
    if path.starts_with("mail.") && on.iter().any(|t| *t != Trigger::MailReceived) {
        return Err(format!(
            "{path} exists only for mail.received; this rule also runs on other events, where it would \
             always be absent. Split the rule, or use ticket fields"
        ));
    }
    if path.starts_with("comment.") && (has(Trigger::Schedule) || has(Trigger::MailReceived)) {
        return Err(format!(
            "{path} is the new comment of a ticket.created or ticket.updated event; schedule and \
             mail.received events have none (use mail.body for a mail)"
        ));
    }
    if matches!(op, Op::Changed | Op::ChangedTo | Op::ChangedFrom)
        && on.iter().any(|t| *t != Trigger::TicketUpdated)
    {
        return Err(format!(
            "`{op}` compares with the previous version of the ticket, which only ticket.updated has; \
             this rule also runs on {}",
            on.iter()
                .filter(|t| **t != Trigger::TicketUpdated)
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// Whether `op` makes sense for the kind of `field`.
fn kind_allows(field: &FieldRef, op: Op) -> Result<(), String> {
    let kind = field.kind();
    let path = field.path();
    let ok = match op {
        Op::Is | Op::IsNot | Op::In => !matches!(kind, FieldKind::List | FieldKind::Time),
        Op::Contains | Op::Matches => matches!(kind, FieldKind::Text | FieldKind::List | FieldKind::Any),
        Op::Changed | Op::ChangedTo | Op::ChangedFrom => field.is_diffable(),
        Op::Present | Op::Absent => true,
        Op::OlderThan | Op::NewerThan => kind == FieldKind::Time,
        Op::GreaterThan | Op::LessThan => {
            matches!(kind, FieldKind::Number | FieldKind::Text | FieldKind::Any)
        }
        Op::CnpjValid => matches!(kind, FieldKind::Text | FieldKind::Any),
    };
    if ok {
        return Ok(());
    }
    Err(match (op, kind) {
        (Op::Is | Op::IsNot | Op::In, FieldKind::List) => {
            format!("{path} is a list: use `contains` (or `not` with `contains`)")
        }
        (Op::Is | Op::IsNot | Op::In, FieldKind::Time) => {
            format!("{path} is an instant: compare it with `older_than` or `newer_than`")
        }
        (Op::Changed | Op::ChangedTo | Op::ChangedFrom, _) => format!(
            "`{op}` applies to what a ticket update can change (status, custom status, group, assignee, \
             tags, priority, type, subject, due date, requester, custom fields); {path} is not one"
        ),
        (Op::OlderThan | Op::NewerThan, _) => {
            format!("`{op}` compares instants; {path} is not one (try ticket.clock.status_changed_at)")
        }
        (Op::GreaterThan | Op::LessThan, FieldKind::Time) => {
            format!("{path} is an instant: compare it with `older_than` or `newer_than`")
        }
        (Op::GreaterThan | Op::LessThan, _) => format!("`{op}` compares numbers; {path} is not one"),
        _ => format!("`{op}` does not apply to {path}"),
    })
}

/// A TOML value as a rule literal.
fn literal(value: &toml::Value) -> Result<Literal, String> {
    Ok(match value {
        toml::Value::String(s) => Literal::Text(s.clone()),
        toml::Value::Integer(n) => Literal::Number(*n),
        toml::Value::Boolean(b) => Literal::Bool(*b),
        toml::Value::Array(items) => Literal::List(items.iter().map(literal).collect::<Result<_, _>>()?),
        toml::Value::Float(_) => {
            return Err("decimal numbers are not supported here; use a string".to_owned());
        }
        toml::Value::Datetime(_) => {
            return Err(
                "write the instant as a string, or compare times with older_than/newer_than".to_owned(),
            );
        }
        toml::Value::Table(_) => return Err("a table is not a value here".to_owned()),
    })
}

/// The `vars` a rule's templates see, shared by the engine.
pub type Vars = BTreeMap<String, String>;
