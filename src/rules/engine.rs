//! The pure engine: `plan(event, ticket, context, clock) -> Plan`, with no
//! I/O. Everything it needs (the rules, names and ids, calendars, which
//! `once` rules already fired) comes in; a plan comes out.
//!
//! Rules run in file order. Each sees the ticket as the rules before it
//! left it in the plan: after `set_status = "pending"`, a later rule's
//! `ticket.status is pending` holds. The `changed` operators look only at
//! the event's own change (what someone else did), never at the plan.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::directory::{Directory, status_of};
use super::load::RuleSet;
use super::model::{
    ActionSpec, ClockField, Condition, FieldRef, Leaf, Literal, Once, Op, Operand, Rule, Trigger,
};
use super::plan::{Effect, Plan, PlanProblem, Step};
use crate::calendar::Calendars;
use crate::clock::Clock;
use crate::helpdesk::clocks::TicketClocks;
use crate::helpdesk::{CustomFieldValue, Id, Role, Status, StatusCategory, Ticket, User};
use crate::template::{ArticleVars, MailVars, RequesterVars, TemplateContext, TicketVars, instant};
use crate::tickets::{NewComment, TicketChange};

/// A mail as rules see it (`mail.*`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MailFacts {
    /// `new`, `reply`, `follow_up` (a reply to a closed ticket, which
    /// opened a follow-up), `auto_reply`, `bounce`.
    pub kind: String,
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub message_id: String,
    pub received_at: Option<DateTime<Utc>>,
    /// The sender is one of `[mail] internal_senders`: ingest added the
    /// reply as an internal note.
    #[serde(default)]
    pub internal: bool,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    TicketCreated,
    TicketUpdated,
    MailReceived(MailFacts),
    /// The named schedule rules are due. A set: a sweep asks it once per
    /// rule and ticket.
    Schedule(BTreeSet<String>),
}

impl EventKind {
    pub fn trigger(&self) -> Trigger {
        match self {
            EventKind::TicketCreated => Trigger::TicketCreated,
            EventKind::TicketUpdated => Trigger::TicketUpdated,
            EventKind::MailReceived(_) => Trigger::MailReceived,
            EventKind::Schedule(_) => Trigger::Schedule,
        }
    }
}

/// An event about one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// For ticket events, what changed (for `TicketCreated`, its comments).
    pub change: TicketChange,
    /// How many of carteiro's own writes led here: 0 for a change by
    /// someone else. Above 0 only `cascade` rules run.
    pub depth: u32,
    /// Help Center articles for the ticket (`articles` in templates). The
    /// engine does no I/O: the caller searches first, and only when a rule
    /// that fires renders a template that reads them (see
    /// [`super::articles`]). Empty otherwise.
    pub articles: Vec<ArticleVars>,
}

impl Event {
    pub fn new(kind: EventKind) -> Event {
        Event {
            kind,
            change: TicketChange::default(),
            depth: 0,
            articles: Vec::new(),
        }
    }
}

/// The ticket an event is about, as last known.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFacts {
    pub ticket: Ticket,
    pub clocks: TicketClocks,
    pub requester: Option<User>,
}

/// Everything else the engine reads.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub rules: &'a RuleSet,
    pub directory: &'a Directory,
    pub calendars: &'a Calendars,
    /// Whether a `once = "per_ticket"` rule already fired for a ticket.
    pub fired_once: &'a (dyn Fn(&str, Id) -> bool + Sync),
    /// How deep a chain of carteiro's own writes may go.
    pub max_cascade: u32,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("rules", &self.rules.hash)
            .field("max_cascade", &self.max_cascade)
            .finish_non_exhaustive()
    }
}

/// What a condition saw, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTrace {
    /// Nesting depth, for indentation.
    pub depth: usize,
    /// `all`, `any`, `not`, or the leaf as written.
    pub text: String,
    /// The value seen, for a leaf.
    pub seen: Option<String>,
    pub held: bool,
}

/// Why a rule did or did not fire, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    pub rule: String,
    pub fired: bool,
    /// Why it was not even evaluated, when it was not.
    pub skipped: Option<String>,
    pub conditions: Vec<ConditionTrace>,
}

/// Plans what `event` does to `facts` under `context`'s rules.
pub fn plan(event: &Event, facts: &TicketFacts, context: &Context<'_>, clock: &dyn Clock) -> Plan {
    Planner::new(event, context).plan(facts, clock, None)
}

/// [`plan`], also recording every rule's conditions into `trace`.
pub fn plan_traced(
    event: &Event,
    facts: &TicketFacts,
    context: &Context<'_>,
    clock: &dyn Clock,
    trace: Option<&mut Vec<RuleTrace>>,
) -> Plan {
    Planner::new(event, context).plan(facts, clock, trace)
}

/// Why a rule is not evaluated for an event, whatever the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Trigger,
    NotDue,
    OwnChange,
    TooDeep,
}

/// One event planned for many tickets (a schedule sweep): what depends
/// only on the event (which rules run, their calendars) is worked out
/// once.
#[derive(Debug)]
pub struct Planner<'a> {
    event: &'a Event,
    context: &'a Context<'a>,
    /// Per rule: why it does not run for this event, if it does not.
    skips: Vec<Option<Skip>>,
    /// Per rule: its calendar.
    calendars: Vec<Option<&'a crate::calendar::Calendar>>,
}

impl<'a> Planner<'a> {
    pub fn new(event: &'a Event, context: &'a Context<'a>) -> Planner<'a> {
        let trigger = event.kind.trigger();
        let skips = context
            .rules
            .rules
            .iter()
            .map(|rule| {
                if !rule.runs_on(trigger) {
                    Some(Skip::Trigger)
                } else if let EventKind::Schedule(due) = &event.kind
                    && !due.contains(&rule.name)
                {
                    Some(Skip::NotDue)
                } else if event.depth > 0 && !rule.cascade {
                    Some(Skip::OwnChange)
                } else if event.depth > context.max_cascade {
                    Some(Skip::TooDeep)
                } else {
                    None
                }
            })
            .collect();
        let calendars = context
            .rules
            .rules
            .iter()
            .map(|rule| context.calendars.get(&rule.calendar))
            .collect();
        Planner {
            event,
            context,
            skips,
            calendars,
        }
    }

    fn skip_reason(&self, skip: Skip) -> String {
        match skip {
            Skip::Trigger => format!("does not run on {}", self.event.kind.trigger()),
            Skip::NotDue => "its schedule is not due in this tick".to_owned(),
            Skip::OwnChange => {
                "the change was carteiro's own, and the rule does not set cascade = true".to_owned()
            }
            Skip::TooDeep => format!(
                "the cascade is {} deep, over the limit of {}",
                self.event.depth, self.context.max_cascade
            ),
        }
    }

    /// Plans the event for one ticket; with `trace`, records every rule's
    /// conditions.
    pub fn plan(
        &self,
        facts: &TicketFacts,
        clock: &dyn Clock,
        mut trace: Option<&mut Vec<RuleTrace>>,
    ) -> Plan {
        let event = self.event;
        let context = self.context;
        let now = clock.now();
        // Copied only once a rule plans a change.
        let mut state: Cow<'_, TicketFacts> = Cow::Borrowed(facts);
        let mut plan = Plan {
            ticket_id: facts.ticket.id,
            rules_hash: context.rules.hash.clone(),
            now,
            fired: Vec::new(),
            steps: Vec::new(),
            problems: Vec::new(),
            stopped_by: None,
        };
        let trigger = event.kind.trigger();
        for (index, rule) in context.rules.rules.iter().enumerate() {
            let skipped = if let Some(stopper) = &plan.stopped_by {
                trace
                    .is_some()
                    .then(|| format!("not evaluated: rule {stopper:?} stopped the event"))
                    .or(Some(String::new()))
            } else if let Some(skip) = self.skips[index] {
                Some(if trace.is_some() {
                    self.skip_reason(skip)
                } else {
                    String::new()
                })
            } else if rule.once == Once::PerTicket && (context.fired_once)(&rule.name, facts.ticket.id) {
                Some("once = \"per_ticket\", and it already fired for this ticket".to_owned())
            } else {
                None
            };
            if let Some(why) = skipped {
                if let Some(trace) = trace.as_deref_mut() {
                    trace.push(RuleTrace {
                        rule: rule.name.clone(),
                        fired: false,
                        skipped: Some(why),
                        conditions: Vec::new(),
                    });
                }
                continue;
            }
            let calendar = self.calendars[index];
            // A ticket event with several new comments: the rule fires once,
            // for the first comment that satisfies it.
            let comments: &[NewComment] =
                if matches!(trigger, Trigger::TicketCreated | Trigger::TicketUpdated) {
                    &event.change.comments
                } else {
                    &[]
                };
            let comments = comments
                .iter()
                .map(Some)
                .chain(comments.is_empty().then_some(None));
            let mut held = false;
            let mut conditions = Vec::new();
            let mut bound_comment = None;
            for comment in comments {
                let eval = Evaluator {
                    event,
                    state: &state,
                    comment,
                    context,
                    calendar,
                    now,
                };
                let mut local = trace.is_some().then(Vec::new);
                if eval.eval(&rule.condition, 0, &mut local) {
                    held = true;
                    bound_comment = comment;
                    conditions = local.unwrap_or_default();
                    break;
                }
                conditions = local.unwrap_or_default();
            }
            let mut fired = false;
            if held {
                let captures = Evaluator {
                    event,
                    state: &state,
                    comment: bound_comment,
                    context,
                    calendar,
                    now,
                }
                .captures(&rule.condition);
                match plan_actions(rule, &state, event, (bound_comment, &captures), context, now) {
                    Ok((steps, stop, working)) => {
                        state = Cow::Owned(working);
                        fired = true;
                        plan.fired.push(rule.name.clone());
                        plan.steps.extend(steps);
                        if stop || rule.stop {
                            plan.stopped_by = Some(rule.name.clone());
                        }
                    }
                    Err(message) => plan.problems.push(PlanProblem {
                        rule: rule.name.clone(),
                        message,
                    }),
                }
            }
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(RuleTrace {
                    rule: rule.name.clone(),
                    fired,
                    skipped: None,
                    conditions,
                });
            }
        }
        plan
    }
}

/// A value a condition read, borrowed from the ticket where it can be: a
/// sweep reads millions of them.
#[derive(Debug, Clone, PartialEq)]
enum Seen<'a> {
    Absent,
    Text(Cow<'a, str>),
    /// A thing with several names (an agent: e-mail and name); a
    /// comparison holds when it holds for one of them.
    Names(Vec<&'a str>),
    Number(i64),
    Bool(bool),
    List(Cow<'a, [String]>),
    Time(DateTime<Utc>),
}

impl std::fmt::Display for Seen<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Absent => f.write_str("(absent)"),
            Seen::Text(s) => write!(f, "{s:?}"),
            Seen::Names(names) => write!(f, "{}", names.join(" / ")),
            Seen::Number(n) => write!(f, "{n}"),
            Seen::Bool(b) => write!(f, "{b}"),
            Seen::List(items) => write!(f, "{items:?}"),
            Seen::Time(t) => f.write_str(&instant(*t)),
        }
    }
}

impl<'a> Seen<'a> {
    /// Whether `test` holds for one of the value's texts (a list has none:
    /// its elements are compared by the list operators).
    fn any_text(&self, mut test: impl FnMut(&str) -> bool) -> bool {
        match self {
            Seen::Text(s) => test(s),
            Seen::Names(names) => names.iter().any(|n| test(n)),
            Seen::Number(n) => test(&n.to_string()),
            Seen::Bool(b) => test(if *b { "true" } else { "false" }),
            Seen::Time(t) => test(&instant(*t)),
            Seen::List(_) | Seen::Absent => false,
        }
    }

    fn text(value: Option<&'a String>) -> Seen<'a> {
        match value {
            Some(s) if !s.is_empty() => Seen::Text(Cow::Borrowed(s)),
            _ => Seen::Absent,
        }
    }

    fn list(items: &'a [String]) -> Seen<'a> {
        if items.is_empty() {
            Seen::Absent
        } else {
            Seen::List(Cow::Borrowed(items))
        }
    }

    fn from_json(value: &'a Json) -> Seen<'a> {
        match value {
            Json::Null => Seen::Absent,
            Json::String(s) if s.is_empty() => Seen::Absent,
            Json::String(s) => Seen::Text(Cow::Borrowed(s)),
            Json::Bool(b) => Seen::Bool(*b),
            Json::Number(n) => n
                .as_i64()
                .map_or_else(|| Seen::Text(Cow::Owned(n.to_string())), Seen::Number),
            Json::Array(items) if items.is_empty() => Seen::Absent,
            Json::Array(items) => Seen::List(Cow::Owned(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect(),
            )),
            Json::Object(_) => Seen::Text(Cow::Owned(value.to_string())),
        }
    }
}

/// Whether a condition walks a calendar: a business-time comparison.
fn is_costly(condition: &Condition) -> bool {
    matches!(
        condition,
        Condition::Leaf(Leaf {
            operand: Operand::Duration(d),
            ..
        }) if d.is_business()
    )
}

/// Text equality as rules mean it: trimmed, case-insensitive.
///
/// Byte by byte first, folding ASCII case: texts that agree so are equal,
/// and a difference between two ASCII bytes (with everything before it
/// equal) is a real one. Only a difference in a non-ASCII character takes
/// the Unicode path.
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if x.len() == y.len() {
        let mut unicode = false;
        for (p, q) in x.iter().zip(y) {
            if p.eq_ignore_ascii_case(q) {
                continue;
            }
            if p.is_ascii() && q.is_ascii() {
                return false;
            }
            unicode = true;
            break;
        }
        if !unicode {
            return true;
        }
    } else if a.is_ascii() && b.is_ascii() {
        return false;
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Whether `haystack` contains `needle`, case-insensitively.
fn contains_text(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// Whether `test` holds for one of the literal's texts.
fn literal_any(literal: &Literal, test: &mut impl FnMut(&str) -> bool) -> bool {
    match literal {
        Literal::Text(s) => test(s),
        Literal::Number(n) => test(&n.to_string()),
        Literal::Bool(b) => test(if *b { "true" } else { "false" }),
        Literal::List(items) => items.iter().any(|i| literal_any(i, test)),
    }
}

/// `seen is literal` (for a list literal: `seen in literal`).
/// The number a text field holds, if it reads as one: `"6"`, `" 6 "`,
/// `"5.5"` or `"5,5"` (a Brazilian decimal comma).
fn number_in_text(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b',' | b'-' | b'+'))
    {
        return None;
    }
    text.replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

/// Whether two fields hold the same value: numbers and booleans exactly,
/// texts trimmed and case-insensitively. An absent side is never equal.
fn same_value(a: &Seen<'_>, b: &Seen<'_>) -> bool {
    match (a, b) {
        (Seen::Absent | Seen::List(_), _) | (_, Seen::Absent | Seen::List(_)) => false,
        (Seen::Number(x), Seen::Number(y)) => x == y,
        (Seen::Bool(x), Seen::Bool(y)) => x == y,
        (a, b) => a.any_text(|x| b.any_text(|y| same_text(x, y))),
    }
}

fn is(seen: &Seen<'_>, literal: &Literal) -> bool {
    match (seen, literal) {
        (Seen::Absent | Seen::List(_), _) => false,
        (Seen::Bool(a), Literal::Bool(b)) => a == b,
        (Seen::Number(a), Literal::Number(b)) => a == b,
        (seen, literal) => seen.any_text(|s| literal_any(literal, &mut |w| same_text(s, w))),
    }
}

struct Evaluator<'a> {
    event: &'a Event,
    state: &'a TicketFacts,
    comment: Option<&'a NewComment>,
    context: &'a Context<'a>,
    /// The rule's calendar, for business durations.
    calendar: Option<&'a crate::calendar::Calendar>,
    now: DateTime<Utc>,
}

impl<'a> Evaluator<'a> {
    /// Evaluates `condition`; with a trace, every branch is evaluated (no
    /// short circuit) so `explain` shows every value.
    fn eval(&self, condition: &Condition, depth: usize, trace: &mut Option<Vec<ConditionTrace>>) -> bool {
        let tracing = trace.is_some();
        match condition {
            Condition::Leaf(leaf) => {
                if let Some(trace) = trace {
                    let (held, seen) = self.leaf_traced(leaf);
                    trace.push(ConditionTrace {
                        depth,
                        text: leaf.to_string(),
                        seen: Some(seen),
                        held,
                    });
                    held
                } else {
                    self.leaf(leaf)
                }
            }
            Condition::All(parts) | Condition::Any(parts) | Condition::Not(parts) => {
                let (name, is_all, negate) = match condition {
                    Condition::All(_) => ("all", true, false),
                    Condition::Any(_) => ("any", false, false),
                    _ => ("not", false, true),
                };
                // The top level is the rule's own `all`: not shown as a
                // group of its own.
                let shown = depth > 0 || !is_all;
                let slot = trace.as_mut().filter(|_| shown).map(|t| {
                    t.push(ConditionTrace {
                        depth,
                        text: name.to_owned(),
                        seen: None,
                        held: false,
                    });
                    t.len() - 1
                });
                let child_depth = if shown { depth + 1 } else { depth };
                if !tracing {
                    // Conditions have no side effects, so the cheap ones
                    // go first: a business-time comparison walks the
                    // calendar, and is only worth it when the rest holds.
                    let mut none = None;
                    let cheap = parts.iter().filter(|p| !is_costly(p));
                    let costly = parts.iter().filter(|p| is_costly(p));
                    let found = cheap
                        .chain(costly)
                        .any(|part| self.eval(part, child_depth, &mut none) != is_all);
                    let result = if found { !is_all } else { is_all };
                    return if negate { !result } else { result };
                }
                let mut result = is_all;
                for part in parts {
                    let held = self.eval(part, child_depth, trace);
                    if is_all {
                        result &= held;
                        if !result && !tracing {
                            break;
                        }
                    } else {
                        result |= held;
                        if result && !tracing {
                            break;
                        }
                    }
                }
                // `not [a, b]` holds when none holds.
                let held = if negate { !result } else { result };
                if let (Some(trace), Some(slot)) = (trace.as_mut(), slot) {
                    trace[slot].held = held;
                }
                held
            }
        }
    }

    /// The named groups of the `matches` conditions that hold, outside
    /// `not`: the first match of each regex, the first value of each name.
    fn captures(&self, condition: &Condition) -> Captures {
        let mut out = Captures::new();
        self.collect_captures(condition, &mut out);
        out
    }

    fn collect_captures(&self, condition: &Condition, out: &mut Captures) {
        match condition {
            Condition::All(parts) | Condition::Any(parts) => {
                for part in parts {
                    self.collect_captures(part, out);
                }
            }
            Condition::Not(_) => {}
            Condition::Leaf(leaf) => {
                let (Op::Matches, Operand::Regex(re)) = (&leaf.op, &leaf.operand) else {
                    return;
                };
                if re.capture_names().flatten().next().is_none() {
                    return;
                }
                let seen = self.lookup(&leaf.field);
                let texts: Vec<&str> = match &seen {
                    Seen::Text(s) => vec![s.as_ref()],
                    Seen::Names(names) => names.clone(),
                    Seen::List(items) => items.iter().map(String::as_str).collect(),
                    _ => Vec::new(),
                };
                let Some(found) = texts.iter().find_map(|t| re.captures(t)) else {
                    return;
                };
                for name in re.capture_names().flatten() {
                    if let Some(m) = found.name(name) {
                        out.entry(name.to_owned())
                            .or_insert_with(|| m.as_str().to_owned());
                    }
                }
            }
        }
    }

    fn leaf(&self, leaf: &Leaf) -> bool {
        match leaf.op {
            Op::Changed | Op::ChangedTo | Op::ChangedFrom => {
                let (changed, from, to) = self.delta(&leaf.field);
                self.delta_holds(leaf, changed, &from, &to)
            }
            _ => self.compare(&self.lookup(&leaf.field), leaf),
        }
    }

    /// The leaf's result and the value it saw, for `explain`.
    fn leaf_traced(&self, leaf: &Leaf) -> (bool, String) {
        match leaf.op {
            Op::Changed | Op::ChangedTo | Op::ChangedFrom => {
                let (changed, from, to) = self.delta(&leaf.field);
                let seen = if changed {
                    format!("{from} → {to}")
                } else {
                    "(unchanged)".to_owned()
                };
                (self.delta_holds(leaf, changed, &from, &to), seen)
            }
            _ => {
                let seen = self.lookup(&leaf.field);
                (self.compare(&seen, leaf), seen.to_string())
            }
        }
    }

    fn delta_holds(&self, leaf: &Leaf, changed: bool, from: &Seen<'_>, to: &Seen<'_>) -> bool {
        match (&leaf.op, &leaf.operand) {
            (Op::Changed, _) => changed,
            (Op::ChangedTo, Operand::Literal(l)) => changed && self.delta_matches(&leaf.field, to, l, true),
            (Op::ChangedFrom, Operand::Literal(l)) => {
                changed && self.delta_matches(&leaf.field, from, l, false)
            }
            _ => false,
        }
    }

    fn delta_matches(&self, field: &FieldRef, side: &Seen<'_>, literal: &Literal, to: bool) -> bool {
        if *field == FieldRef::Tags {
            let change = &self.event.change;
            let list = if to {
                &change.tags_added
            } else {
                &change.tags_removed
            };
            return list
                .iter()
                .any(|t| literal_any(literal, &mut |w| same_text(t, w)));
        }
        is(side, literal)
    }

    fn compare(&self, seen: &Seen<'_>, leaf: &Leaf) -> bool {
        match (&leaf.op, &leaf.operand) {
            (Op::Present, _) => *seen != Seen::Absent,
            (Op::Absent, _) => *seen == Seen::Absent,
            (Op::Is | Op::In, Operand::Literal(l)) => is(seen, l),
            (Op::IsNot, Operand::Literal(l)) => !is(seen, l),
            (Op::Is, Operand::Field(other)) => same_value(seen, &self.lookup(other)),
            (Op::IsNot, Operand::Field(other)) => !same_value(seen, &self.lookup(other)),
            (Op::Contains, Operand::Literal(l)) => match seen {
                Seen::List(items) => items.iter().any(|i| literal_any(l, &mut |w| same_text(i, w))),
                other => other.any_text(|s| literal_any(l, &mut |w| contains_text(s, w))),
            },
            (Op::Matches, Operand::Regex(re)) => match seen {
                Seen::List(items) => items.iter().any(|i| re.is_match(i)),
                other => other.any_text(|s| re.is_match(s)),
            },
            (Op::OlderThan | Op::NewerThan, Operand::Duration(d)) => {
                let Seen::Time(at) = seen else {
                    return false;
                };
                let Some(calendar) = self.calendar else {
                    return false;
                };
                let result = if leaf.op == Op::OlderThan {
                    calendar.older_than(*at, *d, self.now)
                } else {
                    calendar.newer_than(*at, *d, self.now)
                };
                result.unwrap_or(false)
            }
            (Op::GreaterThan | Op::LessThan, Operand::Literal(Literal::Number(bound))) => {
                // A number, or a text that reads as one ("6", " 6 ", "5,5").
                let number = match seen {
                    Seen::Number(n) => Some(*n as f64),
                    Seen::Text(s) => number_in_text(s),
                    _ => None,
                };
                number.is_some_and(|n| {
                    let bound = *bound as f64;
                    if leaf.op == Op::GreaterThan {
                        n > bound
                    } else {
                        n < bound
                    }
                })
            }
            (Op::CnpjValid, _) => seen.any_text(super::cnpj::is_valid),
            _ => false,
        }
    }

    fn person(&self, id: Option<Id>) -> Seen<'a> {
        let Some(id) = id else {
            return Seen::Absent;
        };
        match self.context.directory.user(id) {
            Some(user) => {
                let mut names = Vec::with_capacity(2);
                if let Some(email) = &user.email {
                    names.push(email.as_str());
                }
                names.push(user.name.as_str());
                Seen::Names(names)
            }
            None => Seen::Text(Cow::Owned(id.to_string())),
        }
    }

    fn group(&self, id: Option<Id>) -> Seen<'a> {
        match id {
            None => Seen::Absent,
            Some(id) => match self.context.directory.group(id) {
                Some(g) => Seen::Text(Cow::Borrowed(&g.name)),
                None => Seen::Text(Cow::Owned(id.to_string())),
            },
        }
    }

    fn custom_status(&self, id: Option<Id>) -> Seen<'a> {
        match id {
            None => Seen::Absent,
            Some(id) => match self.context.directory.custom_status(id) {
                Some(s) => Seen::Text(Cow::Borrowed(&s.agent_label)),
                None => Seen::Text(Cow::Owned(id.to_string())),
            },
        }
    }

    fn lookup(&self, field: &FieldRef) -> Seen<'a> {
        let ticket = &self.state.ticket;
        let clocks = &self.state.clocks;
        let time = |t: Option<DateTime<Utc>>| t.map_or(Seen::Absent, Seen::Time);
        let mail = match &self.event.kind {
            EventKind::MailReceived(mail) => Some(mail),
            _ => None,
        };
        match field {
            FieldRef::TicketId => Seen::Number(i64::try_from(ticket.id).unwrap_or(i64::MAX)),
            FieldRef::Subject => Seen::text(ticket.subject.as_ref()),
            FieldRef::Description => Seen::text(ticket.description.as_ref()),
            FieldRef::Status => Seen::Text(Cow::Borrowed(ticket.status.as_str())),
            FieldRef::CustomStatus => self.custom_status(ticket.custom_status_id),
            FieldRef::Group => self.group(ticket.group_id),
            FieldRef::Assignee => self.person(ticket.assignee_id),
            FieldRef::Tags => Seen::list(&ticket.tags),
            FieldRef::Priority => Seen::text(ticket.priority.as_ref()),
            FieldRef::TicketType => Seen::text(ticket.ticket_type.as_ref()),
            FieldRef::Via => ticket
                .via
                .as_ref()
                .map_or(Seen::Absent, |via| Seen::from_json(&via.channel)),
            FieldRef::DueAt => time(ticket.due_at),
            FieldRef::CreatedAt => Seen::Time(ticket.created_at),
            FieldRef::UpdatedAt => Seen::Time(ticket.updated_at),
            FieldRef::ExternalId => Seen::text(ticket.external_id.as_ref()),
            FieldRef::CustomField(name) => match self.context.directory.field_named(name) {
                Some(field) => ticket
                    .custom_field(field.id)
                    .map_or(Seen::Absent, Seen::from_json),
                None => Seen::Absent,
            },
            FieldRef::Clock(clock) => time(match clock {
                ClockField::StatusChangedAt => clocks.status_changed_at,
                ClockField::CustomStatusChangedAt => clocks.custom_status_changed_at,
                ClockField::LastRequesterCommentAt => clocks.last_requester_comment_at,
                ClockField::LastAgentPublicCommentAt => clocks.last_agent_public_comment_at,
                ClockField::AssignedAt => clocks.assigned_at,
                ClockField::SolvedAt => clocks.solved_at,
            }),
            FieldRef::RequesterEmail => {
                Seen::text(self.state.requester.as_ref().and_then(|u| u.email.as_ref()))
            }
            FieldRef::RequesterName => Seen::text(self.state.requester.as_ref().map(|u| &u.name)),
            FieldRef::CommentBody => Seen::text(self.comment.map(|c| &c.body)),
            FieldRef::CommentPublic => self.comment.map_or(Seen::Absent, |c| Seen::Bool(c.public)),
            FieldRef::CommentAuthor => self.comment.map_or(Seen::Absent, |c| self.person(c.author_id)),
            FieldRef::CommentAuthorRole => {
                self.comment
                    .and_then(|c| c.author_role)
                    .map_or(Seen::Absent, |role| {
                        Seen::Text(Cow::Borrowed(match role {
                            Role::EndUser => "end-user",
                            Role::Agent => "agent",
                            Role::Admin => "admin",
                        }))
                    })
            }
            FieldRef::CommentByRequester => self.comment.map_or(Seen::Absent, |c| {
                Seen::Bool(c.author_id.is_some() && c.author_id == ticket.requester_id)
            }),
            FieldRef::MailKind => Seen::text(mail.map(|m| &m.kind)),
            FieldRef::MailFrom => Seen::text(mail.map(|m| &m.from)),
            FieldRef::MailTo => mail.map_or(Seen::Absent, |m| Seen::list(&m.to)),
            FieldRef::MailCc => mail.map_or(Seen::Absent, |m| Seen::list(&m.cc)),
            FieldRef::MailSubject => Seen::text(mail.map(|m| &m.subject)),
            FieldRef::MailBody => Seen::text(mail.map(|m| &m.body)),
            FieldRef::MailAttachments => mail.map_or(Seen::Absent, |m| Seen::list(&m.attachments)),
            FieldRef::MailInternal => mail.map_or(Seen::Absent, |m| Seen::Bool(m.internal)),
        }
    }

    /// Whether `field` changed in the event, and its values before and
    /// after.
    fn delta(&self, field: &FieldRef) -> (bool, Seen<'a>, Seen<'a>) {
        let change = &self.event.change;
        let unchanged = (false, Seen::Absent, Seen::Absent);
        match field {
            FieldRef::Status => change.status.as_ref().map_or(unchanged, |d| {
                (
                    true,
                    Seen::Text(Cow::Borrowed(d.from.as_str())),
                    Seen::Text(Cow::Borrowed(d.to.as_str())),
                )
            }),
            FieldRef::CustomStatus => change.custom_status.as_ref().map_or(unchanged, |d| {
                (true, self.custom_status(d.from), self.custom_status(d.to))
            }),
            FieldRef::Group => change
                .group
                .as_ref()
                .map_or(unchanged, |d| (true, self.group(d.from), self.group(d.to))),
            FieldRef::Assignee => change
                .assignee
                .as_ref()
                .map_or(unchanged, |d| (true, self.person(d.from), self.person(d.to))),
            FieldRef::RequesterEmail => change
                .requester
                .as_ref()
                .map_or(unchanged, |d| (true, self.person(d.from), self.person(d.to))),
            FieldRef::Priority => change.priority.as_ref().map_or(unchanged, |d| {
                (true, Seen::text(d.from.as_ref()), Seen::text(d.to.as_ref()))
            }),
            FieldRef::TicketType => change.ticket_type.as_ref().map_or(unchanged, |d| {
                (true, Seen::text(d.from.as_ref()), Seen::text(d.to.as_ref()))
            }),
            FieldRef::Subject => change.subject.as_ref().map_or(unchanged, |d| {
                (true, Seen::text(d.from.as_ref()), Seen::text(d.to.as_ref()))
            }),
            FieldRef::DueAt => change.due_at.as_ref().map_or(unchanged, |d| {
                (
                    true,
                    d.from.map_or(Seen::Absent, Seen::Time),
                    d.to.map_or(Seen::Absent, Seen::Time),
                )
            }),
            FieldRef::Tags => {
                let changed = !change.tags_added.is_empty() || !change.tags_removed.is_empty();
                (
                    changed,
                    Seen::List(Cow::Borrowed(&change.tags_removed)),
                    Seen::List(Cow::Borrowed(&change.tags_added)),
                )
            }
            FieldRef::CustomField(name) => {
                let Some(field) = self.context.directory.field_named(name) else {
                    return unchanged;
                };
                change.field(field.id).map_or(unchanged, |d| {
                    (true, Seen::from_json(&d.from), Seen::from_json(&d.to))
                })
            }
            _ => unchanged,
        }
    }
}

/// Plans one rule's actions against the working state, and returns the
/// state they leave. On an error the rule is left out whole.
fn plan_actions(
    rule: &Rule,
    state: &TicketFacts,
    event: &Event,
    (comment, captures): (Option<&NewComment>, &Captures),
    context: &Context<'_>,
    now: DateTime<Utc>,
) -> Result<(Vec<Step>, bool, TicketFacts), String> {
    let mut working = state.clone();
    let mut steps = Vec::new();
    let mut stop = false;
    let directory = context.directory;
    for entry in &rule.actions {
        let effect =
            match &entry.action {
                ActionSpec::Stop => {
                    stop = true;
                    break;
                }
                // The runner sends the digest or report once per tick,
                // for all the tickets matched: nothing is done to this one.
                ActionSpec::SendDigest(_) | ActionSpec::SendReport(_) => continue,
                ActionSpec::SetStatus(status) => Effect::SetStatus(*status),
                ActionSpec::Solve => Effect::Solve,
                ActionSpec::SetCustomStatus(name) => {
                    let status = directory.custom_status_named(name).ok_or_else(|| {
                        format!("no custom status {name:?} in the helpdesk (set_custom_status)")
                    })?;
                    Effect::SetCustomStatus {
                        id: status.id,
                        name: status.agent_label.clone(),
                        solved: status.status_category == StatusCategory::Solved,
                    }
                }
                ActionSpec::Assign(assign) => {
                    let user = match &assign.user {
                        Some(name) => Some(
                            directory
                                .user_named(name)
                                .ok_or_else(|| format!("no agent {name:?} in the helpdesk (assign)"))?,
                        ),
                        None => None,
                    };
                    let group = match &assign.group {
                        Some(name) => Some(
                            directory
                                .group_named(name)
                                .ok_or_else(|| format!("no group {name:?} in the helpdesk (assign)"))?,
                        ),
                        None => None,
                    };
                    Effect::Assign {
                        user_id: user.map(|u| u.id),
                        user: user.map(|u| u.email.clone().unwrap_or_else(|| u.name.clone())),
                        group_id: group.map(|g| g.id),
                        group: group.map(|g| g.name.clone()),
                    }
                }
                ActionSpec::AddTags(tags) => Effect::AddTags(tags.clone()),
                ActionSpec::RemoveTags(tags) => Effect::RemoveTags(tags.clone()),
                ActionSpec::SetField { field, value } => {
                    let found = directory
                        .field_named(field)
                        .ok_or_else(|| format!("no ticket field {field:?} in the helpdesk (set_field)"))?;
                    let value = match value {
                        // A template: `"{{ captures.nota }}"`.
                        Literal::Text(source) if source.contains("{{") || source.contains("{%") => {
                            let text = inline(context, rule, &working, event, (comment, captures), source)?;
                            field_value(&found.field_type, text)
                        }
                        other => literal_json(other),
                    };
                    Effect::SetField {
                        id: found.id,
                        field: found.title.clone(),
                        value,
                    }
                }
                ActionSpec::SetDue(duration) => {
                    let calendar = context
                        .calendars
                        .get(&rule.calendar)
                        .ok_or_else(|| format!("no calendar {:?}", rule.calendar))?;
                    let due = calendar
                        .add(now, *duration)
                        .map_err(|e| format!("cannot compute the due date: {e}"))?;
                    Effect::SetDue(due)
                }
                ActionSpec::SetPriority(priority) => Effect::SetPriority(priority.clone()),
                ActionSpec::Revert(_) => match &event.change.due_at {
                    Some(delta) => match delta.from {
                        Some(at) => Effect::SetDue(at),
                        None => Effect::ClearDue,
                    },
                    // The event did not change it: nothing to put back.
                    None => continue,
                },
                ActionSpec::InternalNote(template) => {
                    let rendered = render(context, rule, &working, event, (comment, captures), template)?;
                    Effect::InternalNote {
                        template: template.clone(),
                        body: rendered.text,
                    }
                }
                ActionSpec::PublicReply(template) => {
                    let rendered = render(context, rule, &working, event, (comment, captures), template)?;
                    Effect::PublicReply {
                        template: template.clone(),
                        body: rendered.text,
                        html: rendered.html,
                    }
                }
                ActionSpec::SendMail(spec) => {
                    let rendered = render(
                        context,
                        rule,
                        &working,
                        event,
                        (comment, captures),
                        &spec.template,
                    )?;
                    let subject = match &spec.subject {
                        Some(source) => inline(context, rule, &working, event, (comment, captures), source)?,
                        None => working.ticket.subject.clone().unwrap_or_default(),
                    };
                    Effect::SendMail {
                        template: spec.template.clone(),
                        to: addresses(&spec.to, &working)?,
                        cc: addresses(&spec.cc, &working)?,
                        subject,
                        text: rendered.text,
                        html: rendered.html,
                        attachments: spec.attachments.clone(),
                    }
                }
                ActionSpec::CreateTicket(spec) => {
                    let subject = inline(context, rule, &working, event, (comment, captures), &spec.subject)?;
                    let note = render(
                        context,
                        rule,
                        &working,
                        event,
                        (comment, captures),
                        &spec.internal_note,
                    )?;
                    let assignee =
                        match &spec.assignee {
                            Some(name) => Some(directory.user_named(name).ok_or_else(|| {
                                format!("no agent {name:?} in the helpdesk (create_ticket)")
                            })?),
                            None => None,
                        };
                    let group =
                        match &spec.group {
                            Some(name) => Some(directory.group_named(name).ok_or_else(|| {
                                format!("no group {name:?} in the helpdesk (create_ticket)")
                            })?),
                            None => None,
                        };
                    Effect::CreateTicket {
                        subject,
                        requester_id: working.ticket.requester_id,
                        assignee_id: assignee.map(|u| u.id),
                        assignee: assignee.map(|u| u.email.clone().unwrap_or_else(|| u.name.clone())),
                        group_id: group.map(|g| g.id),
                        group: group.map(|g| g.name.clone()),
                        cc: addresses(&spec.cc, &working)?,
                        status: spec.status,
                        tags: spec.tags.clone(),
                        internal_note: note.text,
                    }
                }
            };
        apply(&mut working, &effect, directory, now);
        steps.push(Step {
            rule: rule.name.clone(),
            effect,
            commit: entry.commit,
        });
    }
    Ok((steps, stop, working))
}

/// What the ticket looks like once `effect` is applied: the state later
/// rules see.
pub fn apply(facts: &mut TicketFacts, effect: &Effect, directory: &Directory, now: DateTime<Utc>) {
    let ticket = &mut facts.ticket;
    let clocks = &mut facts.clocks;
    let mut set_status = |ticket: &mut Ticket, status: Status, custom: Option<Id>| {
        if ticket.status != status {
            clocks.status_changed_at = Some(now);
            if status == Status::Solved {
                clocks.solved_at = Some(now);
            }
        }
        let custom = custom.or_else(|| directory.default_custom_status(status).map(|s| s.id));
        if custom != ticket.custom_status_id || ticket.status != status {
            clocks.custom_status_changed_at = Some(now);
        }
        ticket.status = status;
        ticket.custom_status_id = custom;
    };
    match effect {
        Effect::SetStatus(status) => set_status(ticket, *status, None),
        Effect::Solve => set_status(ticket, Status::Solved, None),
        Effect::SetCustomStatus { id, .. } => {
            let status = directory
                .custom_status(*id)
                .map_or(ticket.status, |s| status_of(s.status_category));
            set_status(ticket, status, Some(*id));
        }
        Effect::Assign {
            user_id, group_id, ..
        } => {
            if user_id.is_some() && *user_id != ticket.assignee_id {
                ticket.assignee_id = *user_id;
                clocks.assigned_at = Some(now);
            }
            if group_id.is_some() {
                ticket.group_id = *group_id;
            }
        }
        Effect::AddTags(tags) => {
            for tag in tags {
                if !ticket.tags.contains(tag) {
                    ticket.tags.push(tag.clone());
                }
            }
        }
        Effect::RemoveTags(tags) => ticket.tags.retain(|t| !tags.contains(t)),
        Effect::SetField { id, value, .. } => match ticket.custom_fields.iter_mut().find(|f| f.id == *id) {
            Some(field) => field.value = value.clone(),
            None => ticket.custom_fields.push(CustomFieldValue {
                id: *id,
                value: value.clone(),
            }),
        },
        Effect::SetDue(at) => ticket.due_at = Some(*at),
        Effect::SetPriority(p) => ticket.priority = Some(p.clone()),
        Effect::ClearDue => ticket.due_at = None,
        Effect::PublicReply { .. } => clocks.last_agent_public_comment_at = Some(now),
        Effect::InternalNote { .. } | Effect::SendMail { .. } | Effect::CreateTicket { .. } => {}
    }
}

/// The named groups a rule's conditions captured, by name.
pub type Captures = BTreeMap<String, String>;

/// A rendered `set_field` value, as the field's type takes it: a number
/// for numeric fields when the text is one, the text otherwise.
fn field_value(field_type: &str, text: String) -> Json {
    let trimmed = text.trim();
    match field_type {
        "integer" => trimmed.parse::<i64>().map_or(Json::String(text), Json::from),
        "decimal" => trimmed
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Json::String(text), Json::Number),
        _ => Json::String(text),
    }
}

fn literal_json(literal: &Literal) -> Json {
    match literal {
        Literal::Text(s) => Json::String(s.clone()),
        Literal::Number(n) => Json::from(*n),
        Literal::Bool(b) => Json::Bool(*b),
        Literal::List(items) => Json::Array(items.iter().map(literal_json).collect()),
    }
}

fn addresses(list: &[String], facts: &TicketFacts) -> Result<Vec<String>, String> {
    list.iter()
        .map(|a| {
            if a == "requester" {
                facts
                    .requester
                    .as_ref()
                    .and_then(|u| u.email.clone())
                    .ok_or_else(|| "the ticket's requester has no e-mail address".to_owned())
            } else {
                Ok(a.clone())
            }
        })
        .collect()
}

/// The template context for a rule's action.
pub fn template_context(
    context: &Context<'_>,
    rule_vars: &BTreeMap<String, String>,
    facts: &TicketFacts,
    event: &Event,
    comment: Option<&NewComment>,
) -> TemplateContext {
    let ticket = &facts.ticket;
    let mut fields = BTreeMap::new();
    for value in &ticket.custom_fields {
        let Some(field) = context.directory.field(value.id) else {
            continue;
        };
        let text = match &value.value {
            Json::Null => continue,
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        fields.insert(field.title.clone(), text);
    }
    let mail = match &event.kind {
        EventKind::MailReceived(mail) => MailVars {
            subject: mail.subject.clone(),
            body: mail.body.clone(),
            from: mail.from.clone(),
            received_at: mail.received_at.map(instant).unwrap_or_default(),
        },
        _ => MailVars {
            subject: String::new(),
            body: comment.map(|c| c.body.clone()).unwrap_or_default(),
            from: String::new(),
            received_at: comment.map(|c| instant(c.created_at)).unwrap_or_default(),
        },
    };
    TemplateContext {
        ticket: TicketVars {
            id: ticket.id,
            subject: ticket.subject.clone().unwrap_or_default(),
            description: ticket.description.clone().unwrap_or_default(),
            status: ticket.status.as_str().to_owned(),
            created_at: instant(ticket.created_at),
            due_at: ticket.due_at.map(instant),
            agent_url: ticket.agent_url(),
            fields,
        },
        requester: RequesterVars {
            name: facts
                .requester
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            email: facts
                .requester
                .as_ref()
                .and_then(|u| u.email.clone())
                .unwrap_or_default(),
            organization: None,
        },
        mail,
        vars: rule_vars.clone(),
        captures: BTreeMap::new(),
        articles: event.articles.clone(),
    }
}

fn render(
    context: &Context<'_>,
    rule: &Rule,
    facts: &TicketFacts,
    event: &Event,
    (comment, captures): (Option<&NewComment>, &Captures),
    template: &str,
) -> Result<crate::template::Rendered, String> {
    let mut values = template_context(context, &rule.vars, facts, event, comment);
    values.captures = captures.clone();
    context
        .rules
        .templates
        .render(template, &values)
        .map_err(|e| format!("template {template:?}: {e}"))
}

fn inline(
    context: &Context<'_>,
    rule: &Rule,
    facts: &TicketFacts,
    event: &Event,
    (comment, captures): (Option<&NewComment>, &Captures),
    source: &str,
) -> Result<String, String> {
    let mut values = template_context(context, &rule.vars, facts, event, comment);
    values.captures = captures.clone();
    context
        .rules
        .templates
        .render_inline(source, &values)
        .map_err(|e| format!("template {source:?}: {e}"))
}
