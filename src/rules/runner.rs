//! The rule runner: the one serial consumer of events.
//!
//! Pollers and timers only produce events: the ticket poller queues ticket
//! events in the store, inbound mail queues `mail.received` events, and
//! schedule rules come due on their cron. This loop takes them one at a
//! time, plans each with the rules running now (see [`super::reload`]),
//! and hands the plan to the [`Executor`]. One consumer means a ticket is
//! never planned from two events at once, and the order of events is the
//! order of their effects.
//!
//! After carteiro's own write the ticket's snapshot is saved from the
//! answer, so the poller does not see the write as someone else's change.
//! Rules with `cascade = true` then get a `ticket.updated` event for it,
//! up to `max_cascade` levels.
//!
//! When a rule that fires renders a template reading `articles`, the
//! event is planned again with the Help Center articles found from the
//! ticket's subject ([`super::articles`]).
//!
//! A queued event is marked done only once its plan is applied (or failed
//! for good): a crash replays it, and the executor's journal makes the
//! replay a no-op or finishes the interrupted part.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::articles;
use super::digest::SummaryMail;
use super::directory::Directory;
use super::engine::{Context, Event, EventKind, MailFacts, Planner, TicketFacts, plan};
use super::exec::{Applied, EventKey, ExecError, Executor, FiredOnce, Job};
use super::load::RuleSet;
use super::model::{ActionSpec, Once, Rule, Trigger};
use super::plan::{Effect, Plan};
use super::reload::RulesHandle;
use super::report::Period;
use super::schedule::due_rules;
use crate::clock::Clock;
use crate::helpdesk::{HelpDesk, HelpDeskError, Id, Status, Ticket, User};
use crate::store::{Store, StoreError};
use crate::tickets::{Snapshot, TicketEvent, TicketEventKind, diff};

/// The cursor holding an unfinished schedule sweep.
pub const SWEEP_CURSOR: &str = "schedule_sweep";

/// The cursor prefix of each schedule rule's last run.
pub const LAST_RUN_PREFIX: &str = "schedule_last_run:";

/// How the runner paces itself.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// How deep a chain of carteiro's own writes may trigger cascade rules.
    pub max_cascade: u32,
    /// Tickets one schedule run plans at most; the rest continue on the
    /// next tick.
    pub sweep_limit: usize,
    /// How often the queue is looked at when idle.
    pub idle: Duration,
    /// How often groups, agents, custom statuses and fields are re-read.
    pub directory_refresh: chrono::TimeDelta,
}

impl Default for RunnerOptions {
    fn default() -> RunnerOptions {
        RunnerOptions {
            max_cascade: 3,
            sweep_limit: 1_000,
            idle: Duration::from_secs(1),
            directory_refresh: chrono::TimeDelta::minutes(10),
        }
    }
}

/// Why a step of the loop must be retried later.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    HelpDesk(#[from] HelpDeskError),
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// A schedule sweep in progress, saved so a capped run (or a crash)
/// continues where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {
    /// The rules due.
    pub rules: BTreeSet<String>,
    /// The tick they are due for: part of each ticket's journal key.
    pub tick: DateTime<Utc>,
    /// The last ticket planned.
    pub after: Option<Id>,
    /// A capped sweep continues at the next tick, not at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<DateTime<Utc>>,
}

/// What one pass of the loop did, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub ticket_events: usize,
    pub mail_events: usize,
    pub swept: usize,
    pub applied: usize,
    /// Whether a capped sweep is left for the next tick.
    pub sweep_unfinished: bool,
}

/// The serial consumer. See the module documentation.
#[derive(Debug)]
pub struct RuleRunner<H> {
    helpdesk: H,
    store: Arc<Store>,
    rules: Arc<RulesHandle>,
    executor: Executor<H>,
    directory: Directory,
    directory_read_at: Option<DateTime<Utc>>,
    /// The directory was given, not read: never refreshed.
    directory_fixed: bool,
    once: FiredOnce,
    people: HashMap<Id, Option<User>>,
    clock: Arc<dyn Clock>,
    options: RunnerOptions,
}

impl<H: HelpDesk + Clone> RuleRunner<H> {
    pub fn new(
        helpdesk: H,
        store: Arc<Store>,
        rules: Arc<RulesHandle>,
        executor: Executor<H>,
        clock: Arc<dyn Clock>,
        options: RunnerOptions,
    ) -> Result<RuleRunner<H>, StoreError> {
        let once = FiredOnce::load(&store)?;
        Ok(RuleRunner {
            helpdesk,
            store,
            rules,
            executor,
            directory: Directory::default(),
            directory_read_at: None,
            directory_fixed: false,
            once,
            people: HashMap::new(),
            clock,
            options,
        })
    }

    /// Sets the directory instead of reading it from the helpdesk (tests,
    /// and the demo, which knows its names).
    pub fn with_directory(mut self, directory: Directory) -> RuleRunner<H> {
        self.directory = directory;
        self.directory_read_at = Some(self.clock.now());
        self.directory_fixed = true;
        self
    }

    /// Runs until `token` is cancelled: finishes what a crash left, then
    /// takes events and schedules as they come.
    pub async fn run(mut self, token: CancellationToken) {
        if let Err(e) = self.resume().await {
            tracing::warn!(error = %e, "could not finish the plans a stop interrupted; retrying later");
        }
        let mut failures: u32 = 0;
        loop {
            let pass = self.pass().await;
            let wait = match &pass {
                Ok(report) if report.ticket_events + report.mail_events > 0 => Duration::ZERO,
                Ok(_) => {
                    failures = 0;
                    self.options.idle
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = self.options.idle * 2u32.saturating_pow(failures.min(8));
                    tracing::warn!(error = %e, retry_in = ?wait, "the rule runner will retry");
                    wait
                }
            };
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("rule runner stopped");
    }

    /// Finishes the journal rows a crash left planned.
    pub async fn resume(&mut self) -> Result<(), RunError> {
        self.refresh_directory().await?;
        let set = self.rules.current();
        let once_rules = once_rules(&set);
        let schedule_rules: BTreeSet<String> = set
            .rules
            .iter()
            .filter(|r| r.runs_on(Trigger::Schedule) && !r.is_summary())
            .map(|r| r.name.clone())
            .collect();
        let directory = &self.directory;
        let calendars = self.rules.calendars();
        let once = &self.once;
        let fired = |rule: &str, ticket: Id| once.fired(rule, ticket);
        let context = Context {
            rules: &set,
            directory,
            calendars,
            fired_once: &fired,
            max_cascade: self.options.max_cascade,
        };
        let clock = self.clock.clone();
        let store = self.store.clone();
        // A ticket event left half-applied is still in the queue and is
        // finished when it is taken again; a schedule's is re-planned here
        // with the same rules. A mail's event is kept in its queue too.
        let results = self
            .executor
            .resume_pending(&once_rules, |key, ticket| {
                if !key.trigger.starts_with("schedule:") {
                    return None;
                }
                let snapshot = store.snapshot(ticket.id).ok().flatten();
                let facts = TicketFacts {
                    clocks: snapshot.map(|s| s.clocks).unwrap_or_default(),
                    ticket,
                    requester: None,
                };
                let event = Event::new(EventKind::Schedule(schedule_rules.clone()));
                Some(plan(&event, &facts, &context, clock.as_ref()))
            })
            .await?;
        for (key, result) in results {
            match result {
                Ok(Applied::Done(report)) => {
                    self.once.note(&report);
                    tracing::info!(%key, "finished an interrupted plan");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%key, error = %e, "an interrupted plan is not finished yet"),
            }
        }
        Ok(())
    }

    /// One pass: the queued events, then the schedules.
    pub async fn pass(&mut self) -> Result<PassReport, RunError> {
        self.refresh_directory_if_stale().await;
        let mut report = PassReport::default();
        for (id, event) in self.store.pending_ticket_events(100)? {
            report.applied += self.ticket_event(&event).await?;
            self.store.finish_ticket_event(id)?;
            report.ticket_events += 1;
        }
        for (id, ticket_id, mail) in self.store.pending_mail_events(100)? {
            report.applied += self.mail_event(ticket_id, mail).await?;
            self.store.finish_mail_event(id)?;
            report.mail_events += 1;
        }
        self.schedules(&mut report).await?;
        Ok(report)
    }

    async fn ticket_event(&mut self, queued: &TicketEvent) -> Result<usize, RunError> {
        let Some(snapshot) = self.store.snapshot(queued.ticket_id)? else {
            return Ok(0);
        };
        let kind = match queued.kind {
            TicketEventKind::Created => EventKind::TicketCreated,
            TicketEventKind::Updated => EventKind::TicketUpdated,
        };
        let event = Event {
            kind,
            change: queued.change.clone(),
            depth: 0,
            articles: Vec::new(),
        };
        let key = EventKey::ticket_version(queued.ticket_id, queued.version);
        self.apply_event(event, snapshot, key).await
    }

    async fn mail_event(&mut self, ticket_id: Id, mail: MailFacts) -> Result<usize, RunError> {
        let snapshot = match self.store.snapshot(ticket_id)? {
            Some(snapshot) => snapshot,
            // A ticket the poller has not seen yet: read it once.
            None => match self.helpdesk.show_ticket(ticket_id).await {
                Ok(ticket) => Snapshot {
                    ticket,
                    clocks: Default::default(),
                    last_audit_id: None,
                },
                // Deleted since: the event has no ticket left to act on,
                // and must not hold up the queue behind it.
                Err(HelpDeskError::NotFound { .. }) => {
                    tracing::warn!(ticket = ticket_id, message_id = %mail.message_id, "the mail's ticket is gone; its event is dropped");
                    return Ok(0);
                }
                Err(e) => return Err(e.into()),
            },
        };
        let key = EventKey::mail(ticket_id, &mail.message_id);
        self.apply_event(Event::new(EventKind::MailReceived(mail)), snapshot, key)
            .await
    }

    /// Plans `event` for the ticket in `snapshot` and applies the plan;
    /// then, while cascade rules exist, the ticket.updated event of
    /// carteiro's own write. Returns how many plans were applied.
    async fn apply_event(
        &mut self,
        mut event: Event,
        mut snapshot: Snapshot,
        mut key: EventKey,
    ) -> Result<usize, RunError> {
        let mut applied = 0;
        loop {
            let set = self.rules.current();
            let facts = self.facts(&snapshot).await?;
            let mut planned = self.plan(&set, &event, &facts);
            if let Some(query) =
                articles::prefetch_query(&set, &event, &planned, facts.ticket.subject.as_deref())
            {
                // The Help Center's default locale: the search takes none.
                event.articles = articles::search(&self.helpdesk, facts.ticket.id, &query, None).await;
                if !event.articles.is_empty() {
                    planned = self.plan(&set, &event, &facts);
                }
            }
            if planned.fired.is_empty() && planned.problems.is_empty() {
                return Ok(applied);
            }
            for problem in &planned.problems {
                tracing::warn!(ticket = facts.ticket.id, rules_hash = %set.hash, %problem, "a rule was left out of the plan");
            }
            if planned.fired.is_empty() {
                return Ok(applied);
            }
            let public = planned
                .steps
                .iter()
                .any(|s| matches!(s.effect, Effect::PublicReply { .. }));
            let job = Job {
                key: key.clone(),
                ticket: snapshot.ticket.clone(),
                plan: planned,
                once_rules: once_rules(&set),
            };
            let result = {
                let directory = &self.directory;
                let calendars = self.rules.calendars();
                let once = &self.once;
                let fired = |rule: &str, ticket: Id| once.fired(rule, ticket);
                let context = Context {
                    rules: &set,
                    directory,
                    calendars,
                    fired_once: &fired,
                    max_cascade: self.options.max_cascade,
                };
                let clock = self.clock.clone();
                let event = &event;
                let facts = &facts;
                self.executor
                    .apply(job, |ticket: Ticket| {
                        let fresh = TicketFacts {
                            ticket,
                            ..facts.clone()
                        };
                        Some(plan(event, &fresh, &context, clock.as_ref()))
                    })
                    .await
            };
            let report = match result {
                Ok(Applied::Done(report)) => report,
                Ok(_) => return Ok(applied),
                Err(ExecError::Failed { key, reason }) => {
                    tracing::error!(%key, %reason, rules_hash = %set.hash, "a plan failed for good");
                    return Ok(applied);
                }
                Err(e) => return Err(e.into()),
            };
            applied += 1;
            self.once.note(&report);
            for (rule, created) in &report.created {
                // The ticket carteiro created is its own write too: a
                // baseline snapshot keeps the poller from calling it new.
                match self.helpdesk.show_ticket(*created).await {
                    Ok(ticket) => self.store.save_snapshot(&Snapshot {
                        ticket,
                        clocks: Default::default(),
                        last_audit_id: None,
                    })?,
                    Err(e) => {
                        tracing::warn!(%rule, ticket = created, error = %e, "cannot read the created ticket")
                    }
                }
            }
            let moved = report.ticket.updated_at != snapshot.ticket.updated_at;
            let after = snapshot.after_own_write(report.ticket.clone(), public);
            self.store.save_snapshot(&after)?;
            let cascades = set.rules.iter().any(|r| r.cascade);
            if !moved || !cascades || event.depth >= self.options.max_cascade {
                return Ok(applied);
            }
            event = Event {
                kind: EventKind::TicketUpdated,
                change: diff(&snapshot.ticket, &after.ticket),
                depth: event.depth + 1,
                articles: Vec::new(),
            };
            key = EventKey::ticket_version(after.ticket.id, after.ticket.updated_at);
            snapshot = after;
        }
    }

    fn plan(&self, set: &RuleSet, event: &Event, facts: &TicketFacts) -> Plan {
        let once = &self.once;
        let fired = |rule: &str, ticket: Id| once.fired(rule, ticket);
        let context = Context {
            rules: set,
            directory: &self.directory,
            calendars: self.rules.calendars(),
            fired_once: &fired,
            max_cascade: self.options.max_cascade,
        };
        plan(event, facts, &context, self.clock.as_ref())
    }

    async fn facts(&mut self, snapshot: &Snapshot) -> Result<TicketFacts, RunError> {
        let requester = match snapshot.ticket.requester_id {
            Some(id) => self.person(id).await?,
            None => None,
        };
        Ok(TicketFacts {
            ticket: snapshot.ticket.clone(),
            clocks: snapshot.clocks,
            requester,
        })
    }

    /// A person, from memory, the store, or (once) the helpdesk.
    async fn person(&mut self, id: Id) -> Result<Option<User>, RunError> {
        if let Some(known) = self.people.get(&id) {
            return Ok(known.clone());
        }
        let person = match self.store.person(id)? {
            Some(person) => Some(person),
            None => {
                let users = self.helpdesk.show_users(&[id]).await?;
                self.store.save_people(&users)?;
                users.into_iter().next()
            }
        };
        if self.people.len() > 100_000 {
            self.people.clear();
        }
        self.people.insert(id, person.clone());
        Ok(person)
    }

    async fn refresh_directory_if_stale(&mut self) {
        let stale = self
            .directory_read_at
            .is_none_or(|at| self.clock.now() - at >= self.options.directory_refresh);
        if stale && let Err(e) = self.refresh_directory().await {
            tracing::warn!(error = %e, "cannot read groups, agents, statuses and fields; using the last ones, retrying in a minute");
            // Try again in a minute, not on every pass.
            self.directory_read_at =
                Some(self.clock.now() - self.options.directory_refresh + chrono::TimeDelta::minutes(1));
        }
    }

    async fn refresh_directory(&mut self) -> Result<(), RunError> {
        if self.directory_fixed {
            return Ok(());
        }
        self.directory = Directory::fetch(&self.helpdesk).await?;
        self.directory_read_at = Some(self.clock.now());
        Ok(())
    }

    /// Runs the schedule rules that are due, sweeping the open tickets'
    /// snapshots, at most `sweep_limit` per run.
    async fn schedules(&mut self, report: &mut PassReport) -> Result<(), RunError> {
        let now = self.clock.now();
        if let Some(text) = self.store.cursor(SWEEP_CURSOR)?.filter(|t| !t.is_empty()) {
            match serde_json::from_str::<Sweep>(&text) {
                Ok(sweep) if sweep.resume_at.is_some_and(|at| now < at) => return Ok(()),
                Ok(sweep) => {
                    if !self.sweep(sweep, report).await? {
                        return Ok(());
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "dropping an unreadable saved sweep");
                    self.store.set_cursor(SWEEP_CURSOR, "")?;
                }
            }
        }
        let set = self.rules.current();
        let mut last_run = HashMap::new();
        for rule in set.rules.iter().filter(|r| r.runs_on(Trigger::Schedule)) {
            if let Some(text) = self.store.cursor(&format!("{LAST_RUN_PREFIX}{}", rule.name))?
                && let Ok(at) = DateTime::parse_from_rfc3339(&text)
            {
                last_run.insert(rule.name.clone(), at.with_timezone(&Utc));
            }
        }
        let (due, new_rules) = due_rules(&set, &last_run, now);
        for name in new_rules {
            self.store
                .set_cursor(&format!("{LAST_RUN_PREFIX}{name}"), &now.to_rfc3339())?;
        }
        // Digests first, each enqueued before its last run moves: a crash
        // in between sends the same tick's digest again, which its fixed
        // Message-ID makes a no-op in the outbox.
        let mut swept_rules = BTreeSet::new();
        for d in &due {
            match set.rule(&d.rule) {
                Some(rule) if rule.is_summary() => self.summary(&set, rule, d.tick, report)?,
                _ => {
                    swept_rules.insert(d.rule.clone());
                }
            }
        }
        let Some(tick) = due
            .iter()
            .filter(|d| swept_rules.contains(&d.rule))
            .map(|d| d.tick)
            .max()
        else {
            for d in &due {
                self.store
                    .set_cursor(&format!("{LAST_RUN_PREFIX}{}", d.rule), &d.tick.to_rfc3339())?;
            }
            return Ok(());
        };
        let sweep = Sweep {
            rules: swept_rules,
            tick,
            after: None,
            resume_at: None,
        };
        // The sweep first, then the last runs: a crash between them sweeps
        // the same tick again, which the journal makes a no-op.
        self.save_sweep(&sweep)?;
        for d in &due {
            if d.missed > 1 {
                tracing::info!(rule = %d.rule, missed = d.missed, tick = %d.tick, "ticks were missed while stopped; running once");
            }
            self.store
                .set_cursor(&format!("{LAST_RUN_PREFIX}{}", d.rule), &d.tick.to_rfc3339())?;
        }
        self.sweep(sweep, report).await?;
        Ok(())
    }

    /// Sends `rule`'s digests and reports for `tick`: over every snapshot
    /// its conditions match (all of them, not `sweep_limit`), one mail per
    /// `send_digest` or `send_report` action, enqueued once per (rule,
    /// tick, action) by its fixed Message-ID. A template or address the
    /// mail cannot be made from is logged and the tick passes; a store
    /// failure is retried.
    ///
    /// A digest lists tickets not closed; a report also counts the closed
    /// ones updated since its period began.
    fn summary(
        &mut self,
        set: &RuleSet,
        rule: &Rule,
        tick: DateTime<Utc>,
        report: &mut PassReport,
    ) -> Result<(), RunError> {
        const PAGE: usize = 2_000;
        let event = Event::new(EventKind::Schedule(BTreeSet::from([rule.name.clone()])));
        let calendars = self.rules.calendars();
        let calendar = calendars
            .get(&rule.calendar)
            .unwrap_or_else(|| calendars.default_calendar());
        let closed_since = rule
            .actions
            .iter()
            .filter_map(|entry| match &entry.action {
                ActionSpec::SendReport(spec) => Some(Period::before(tick, spec.days, calendar).start),
                _ => None,
            })
            .min();
        let mut matched = Vec::new();
        {
            let once = &self.once;
            let fired = |rule: &str, ticket: Id| once.fired(rule, ticket);
            let context = Context {
                rules: set,
                directory: &self.directory,
                calendars,
                fired_once: &fired,
                max_cascade: self.options.max_cascade,
            };
            let planner = Planner::new(&event, &context);
            let mut after = None;
            loop {
                let page = self.store.summary_snapshots(after, PAGE, closed_since)?;
                let Some(last) = page.last().map(|s| s.ticket.id) else {
                    break;
                };
                after = Some(last);
                report.swept += page.len();
                for snapshot in page {
                    // The requester from the store only: a summary asks
                    // the helpdesk nothing per ticket.
                    let requester = snapshot.ticket.requester_id.and_then(|id| {
                        self.people
                            .get(&id)
                            .cloned()
                            .flatten()
                            .or_else(|| self.store.person(id).ok().flatten())
                    });
                    let facts = TicketFacts {
                        ticket: snapshot.ticket,
                        clocks: snapshot.clocks,
                        requester,
                    };
                    let planned = planner.plan(&facts, self.clock.as_ref(), None);
                    if planned.fired.contains(&rule.name) {
                        matched.push(facts);
                    }
                }
            }
        }
        let now = self.clock.now();
        let options = self.executor.options();
        for (index, entry) in rule.actions.iter().enumerate() {
            let key = format!("{}#{index}", rule.name);
            let base = super::digest::summary_context(&rule.vars);
            let (to, template, subject) = match &entry.action {
                ActionSpec::SendDigest(spec) => (&spec.to, &spec.template, &spec.subject),
                ActionSpec::SendReport(spec) => (&spec.to, &spec.template, &spec.subject),
                _ => continue,
            };
            let summary = SummaryMail {
                to,
                template,
                subject,
                key: &key,
                tick,
            };
            let (value, what, tickets) = match &entry.action {
                ActionSpec::SendReport(spec) => {
                    let period = Period::before(tick, spec.days, calendar);
                    let figures = super::report::build(
                        matched.iter().map(|f| (&f.ticket, &f.clocks)),
                        spec,
                        &self.directory,
                        &period,
                        now,
                    );
                    let counted = figures.received + figures.solved + figures.open;
                    (base.report_value(&figures), "report", counted)
                }
                ActionSpec::SendDigest(spec) => {
                    let open = matched
                        .iter()
                        .map(|f| &f.ticket)
                        .filter(|t| t.status != Status::Closed);
                    let digest = super::digest::build(open, &self.directory, now, calendar, spec.soon_days);
                    (base.digest_value(&digest), "digest", digest.total)
                }
                _ => continue,
            };
            let mail =
                match super::digest::compose_summary(&summary, &value, &set.templates, &options.compose) {
                    Ok(mail) => mail,
                    Err(e) => {
                        tracing::error!(rule = %rule.name, %tick, error = %e, rules_hash = %set.hash,
                        "cannot make the {what} mail; this tick sends none");
                        continue;
                    }
                };
            let enqueued = self.store.enqueue_mail(&mail, &options.guards)?;
            crate::outbound::action::log_enqueued(&mail, &enqueued);
            tracing::info!(rule = %rule.name, %tick, tickets = tickets, "{what} sent to the outbox");
            report.applied += 1;
        }
        Ok(())
    }

    fn save_sweep(&self, sweep: &Sweep) -> Result<(), RunError> {
        let text = serde_json::to_string(sweep).unwrap_or_default();
        self.store.set_cursor(SWEEP_CURSOR, &text)?;
        Ok(())
    }

    /// Continues `sweep`; returns whether it finished (else it is saved
    /// for the next tick).
    ///
    /// Each page of snapshots is first planned in memory, with the work
    /// that depends only on the event done once ([`Planner`]); only the
    /// tickets with something to do are then applied (planned again with
    /// fresh facts). `sweep_limit` caps the tickets acted on per run.
    async fn sweep(&mut self, mut sweep: Sweep, report: &mut PassReport) -> Result<bool, RunError> {
        const PAGE: usize = 2_000;
        let limit = self.options.sweep_limit.max(1);
        let mut acted = 0;
        let event = Event::new(EventKind::Schedule(sweep.rules.clone()));
        loop {
            let page = self.store.sweep_snapshots(sweep.after, PAGE)?;
            let Some(last) = page.last().map(|s| s.ticket.id) else {
                self.store.set_cursor(SWEEP_CURSOR, "")?;
                return Ok(true);
            };
            let page_len = page.len();
            let candidates = self.candidates(&event, page);
            let mut stopped_at = None;
            for (examined, snapshot) in candidates {
                let id = snapshot.ticket.id;
                let key = EventKey::schedule(id, sweep.tick);
                report.applied += self.apply_event(event.clone(), snapshot, key).await?;
                acted += 1;
                if acted >= limit {
                    stopped_at = Some((id, examined));
                    break;
                }
            }
            match stopped_at {
                Some((id, examined)) => {
                    report.swept += examined;
                    sweep.after = Some(id);
                    break;
                }
                None => {
                    report.swept += page_len;
                    sweep.after = Some(last);
                    self.save_sweep(&sweep)?;
                }
            }
        }
        sweep.resume_at = super::schedule::next_tick(&self.rules.current(), self.clock.now());
        self.save_sweep(&sweep)?;
        tracing::info!(acted, after = ?sweep.after, resume_at = ?sweep.resume_at, "schedule sweep capped; the rest continues on the next tick");
        report.sweep_unfinished = true;
        Ok(false)
    }

    /// The snapshots of `page` that `event` plans something for, each with
    /// how many snapshots of the page were looked at up to it. The
    /// requester comes from the store; a ticket whose requester is not
    /// known there is kept, to be planned with the helpdesk's answer.
    fn candidates(&self, event: &Event, page: Vec<Snapshot>) -> Vec<(usize, Snapshot)> {
        let set = self.rules.current();
        let once = &self.once;
        let fired = |rule: &str, ticket: Id| once.fired(rule, ticket);
        let context = Context {
            rules: &set,
            directory: &self.directory,
            calendars: self.rules.calendars(),
            fired_once: &fired,
            max_cascade: self.options.max_cascade,
        };
        let planner = Planner::new(event, &context);
        let mut out = Vec::new();
        for (index, snapshot) in page.into_iter().enumerate() {
            let requester = match snapshot.ticket.requester_id {
                None => None,
                Some(id) => match self
                    .people
                    .get(&id)
                    .cloned()
                    .or_else(|| self.store.person(id).ok().flatten().map(Some))
                {
                    Some(person) => person,
                    None => {
                        out.push((index + 1, snapshot));
                        continue;
                    }
                },
            };
            let facts = TicketFacts {
                ticket: snapshot.ticket.clone(),
                clocks: snapshot.clocks,
                requester,
            };
            let planned = planner.plan(&facts, self.clock.as_ref(), None);
            if !planned.fired.is_empty() || !planned.problems.is_empty() {
                out.push((index + 1, snapshot));
            }
        }
        out
    }
}

/// The rules of `set` with `once = "per_ticket"`.
fn once_rules(set: &RuleSet) -> BTreeSet<String> {
    set.rules
        .iter()
        .filter(|r| r.once == Once::PerTicket)
        .map(|r| r.name.clone())
        .collect()
}
