//! The executor: applies a [`Plan`] through the helpdesk and the outbox,
//! exactly once, across conflicts, retries and crashes. It is the last
//! stage of the data flow (events → plan → executor → Zendesk and mail).
//!
//! Each event on a ticket has an [`EventKey`] (the ticket and the version
//! or mail that triggered it). Before any call, the plan is written to the
//! store's rule journal under that key; after each call, the steps it did
//! are recorded there. A key already applied does nothing. The work of a
//! plan, in order:
//!
//! 1. each `create_ticket`: one `POST` carrying an `external_id` derived
//!    from the key, so a retry after a crash finds the ticket;
//! 2. the ticket's own changes: one `safe_update` per group (a group ends
//!    at a `commit = true`, or where a second comment would start), each
//!    against the `updated_at` of the ticket as last read or written. A
//!    409 re-reads the ticket, re-plans and retries what is left, so an
//!    agent's edit is never overwritten. A note naming each created
//!    ticket ("Chamado vinculado: #N") rides in the first group;
//! 3. each `send_mail`: composed with a Message-ID derived from the key,
//!    and enqueued in the transaction that records the step done.
//!
//! `docs/executor.md` describes the journal and its known windows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::plan::{Effect, Plan, Step};
use crate::clock::Clock;
use crate::helpdesk::{
    CustomFieldValue, EmailCc, HelpDesk, HelpDeskError, Id, NewComment, NewTicket, Status, Ticket,
    TicketUpdate,
};
use crate::outbound::{Attachment, ComposeOptions, MailAddress, MailKind, OutgoingMail, compose};
use crate::store::{
    Direction, Enqueued, GuardPolicy, JournalEntry, JournalState, NewJournalEntry, NewOutboxMail, Store,
    StoreError,
};

/// How many earlier Message-IDs `References` carries at most.
const MAX_REFERENCES: usize = 20;

/// The identity of one event on one ticket: the journal key. Applying a
/// plan twice under the same key has one effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub ticket_id: Id,
    /// What triggered the event, stable across restarts: see the
    /// constructors.
    pub trigger: String,
}

impl EventKey {
    /// A change someone made: the ticket at its `updated_at`.
    pub fn ticket_version(ticket_id: Id, updated_at: DateTime<Utc>) -> EventKey {
        EventKey {
            ticket_id,
            trigger: format!("version:{}", updated_at.timestamp()),
        }
    }

    /// A mail that arrived on the ticket, by its Message-ID.
    pub fn mail(ticket_id: Id, message_id: &str) -> EventKey {
        EventKey {
            ticket_id,
            trigger: format!("mail:{message_id}"),
        }
    }

    /// A schedule tick: the instant the due rules were due.
    pub fn schedule(ticket_id: Id, due_at: DateTime<Utc>) -> EventKey {
        EventKey {
            ticket_id,
            trigger: format!("schedule:{}", due_at.timestamp()),
        }
    }

    /// The key as stored: `ticket/trigger`.
    pub fn text(&self) -> String {
        format!("{}/{}", self.ticket_id, self.trigger)
    }
}

/// What an executor needs beyond the helpdesk and the store.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How mail is composed (From, Message-ID domain, subject tag).
    pub compose: ComposeOptions,
    /// The guards every enqueue runs.
    pub guards: GuardPolicy,
    /// The folder `send_mail` attachments are relative to.
    pub rules_dir: PathBuf,
    /// How many times one application re-plans after a 409 before it
    /// gives up (the row stays planned, for a later resume).
    pub max_replans: u32,
    /// The agent (by e-mail) an unassigned ticket is assigned to when a
    /// plan solves or closes it; `None`: carteiro's own user.
    pub solve_assignee: Option<String>,
}

/// One event's plan, ready to apply.
#[derive(Debug, Clone)]
pub struct Job {
    pub key: EventKey,
    /// The ticket as read when the plan was made: its `updated_at` is the
    /// stamp of the first write.
    pub ticket: Ticket,
    pub plan: Plan,
    /// The rules of the set with `once = "per_ticket"`; those among the
    /// fired ones are recorded, so they never fire on this ticket again.
    pub once_rules: BTreeSet<String>,
}

/// What applying came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// No rule fired: nothing recorded, nothing done.
    Nothing,
    /// The key was applied before: nothing done this time.
    AlreadyApplied { key: String },
    /// The key failed before and stays failed: nothing done this time.
    AlreadyFailed { key: String, error: String },
    /// Applied now.
    Done(Box<Report>),
}

/// What one application did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub key: String,
    /// The ticket after the last write (or as last read): the caller saves
    /// it as the snapshot, so carteiro's own writes do not trigger rules.
    pub ticket: Ticket,
    /// How many `update_ticket` calls landed.
    pub updates: u32,
    /// Tickets created, with the rule that created each.
    pub created: Vec<(String, Id)>,
    /// What the outbox did with each mail.
    pub mails: Vec<Enqueued>,
    /// How many times a 409 made it re-plan.
    pub replans: u32,
    /// The `once = "per_ticket"` rules recorded as fired on the ticket
    /// (for a [`FiredOnce`] cache).
    pub once: Vec<String>,
}

/// The `once = "per_ticket"` record in memory, for the engine's
/// `Context::fired_once`: loaded from the store at start, then told what
/// each [`Report`] recorded.
#[derive(Debug, Default)]
pub struct FiredOnce {
    fired: std::sync::Mutex<BTreeSet<(String, Id)>>,
}

impl FiredOnce {
    /// Everything the store recorded.
    pub fn load(store: &Store) -> Result<FiredOnce, StoreError> {
        Ok(FiredOnce {
            fired: std::sync::Mutex::new(store.fired_once_all()?.into_iter().collect()),
        })
    }

    /// Whether `rule` already fired on `ticket_id`.
    pub fn fired(&self, rule: &str, ticket_id: Id) -> bool {
        self.lock().contains(&(rule.to_owned(), ticket_id))
    }

    /// Adds what an application recorded.
    pub fn note(&self, report: &Report) {
        let mut fired = self.lock();
        for rule in &report.once {
            fired.insert((rule.clone(), report.ticket.id));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, Id)>> {
        self.fired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why applying stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The store failed; nothing after the last recorded step was done.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A helpdesk call failed in a way worth retrying (a timeout, a 5xx, a
    /// rate limit, conflicts past `max_replans`): the journal row stays
    /// planned and [`Executor::resume_pending`] finishes it.
    #[error("applying {key}: {source}")]
    Retry {
        key: String,
        #[source]
        source: HelpDeskError,
    },
    /// The plan cannot be applied (Zendesk refused a write, a mail cannot
    /// be composed, no re-plan was possible): the row is marked failed.
    #[error("applying {key} failed: {reason}")]
    Failed { key: String, reason: String },
}

/// How far a journal row got; stored as JSON in the row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Progress {
    /// Step ids (`rule#n`) done, plus `rule#n/link` for a link note.
    done: BTreeSet<String>,
    /// Ticket created by each `create_ticket` step.
    created: BTreeMap<String, Id>,
    /// A write that was started and whose outcome is not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    in_flight: Option<InFlight>,
    /// The `updated_at` of the ticket the current plan was made from, or
    /// of carteiro's last write to it.
    based_on: DateTime<Utc>,
    replans: u32,
    updates: u32,
}

/// A write whose outcome is not known yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct InFlight {
    steps: Vec<String>,
    /// For an update: the stamp it was sent with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stamp: Option<DateTime<Utc>>,
    /// For an update: the comment it carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

/// One piece of work: one helpdesk call or one enqueue.
#[derive(Debug, Clone, PartialEq)]
enum Unit {
    Create(usize),
    /// Step indices, and the created-ticket step ids whose link note rides
    /// along.
    Update(Vec<usize>, Vec<String>),
    Mail(usize),
}

/// Applies plans. See the module documentation.
#[derive(Debug)]
pub struct Executor<H> {
    helpdesk: H,
    store: Arc<Store>,
    options: ExecOptions,
    clock: Arc<dyn Clock>,
    /// carteiro's own user (the API token's), looked up once.
    me: std::sync::OnceLock<Id>,
    /// Who becomes the assignee of a ticket solved unassigned, looked up
    /// once.
    solver: std::sync::OnceLock<Id>,
}

impl<H: HelpDesk> Executor<H> {
    /// An executor writing through `helpdesk`, journaling in `store`.
    pub fn new(helpdesk: H, store: Arc<Store>, options: ExecOptions, clock: Arc<dyn Clock>) -> Executor<H> {
        Executor {
            helpdesk,
            store,
            options,
            clock,
            me: std::sync::OnceLock::new(),
            solver: std::sync::OnceLock::new(),
        }
    }

    /// How it composes and guards mail (the runner's digests use the same).
    pub fn options(&self) -> &ExecOptions {
        &self.options
    }

    /// Applies `job.plan`, once per `job.key`. On a 409 it re-reads the
    /// ticket and calls `replan` with it; the new plan's steps that are not
    /// done yet are applied instead. A key whose earlier application was
    /// interrupted is finished, as [`Executor::resume_pending`] would.
    pub async fn apply(
        &self,
        job: Job,
        mut replan: impl FnMut(Ticket) -> Option<Plan> + Send,
    ) -> Result<Applied, ExecError> {
        let Job {
            key,
            ticket,
            plan,
            once_rules,
        } = job;
        if plan.fired.is_empty() && plan.steps.is_empty() {
            return Ok(Applied::Nothing);
        }
        let key_text = key.text();
        let progress = Progress {
            based_on: ticket.updated_at,
            ..Progress::default()
        };
        let entry = self.store.journal_begin(&NewJournalEntry {
            key: key_text.clone(),
            ticket_id: key.ticket_id,
            trigger: key.trigger.clone(),
            rules_hash: plan.rules_hash.clone(),
            plan: to_json(&plan),
            progress: to_json(&progress),
        })?;
        match entry.state {
            JournalState::Applied => {
                tracing::info!(key = %key_text, ticket = key.ticket_id, "event already applied; nothing to do");
                return Ok(Applied::AlreadyApplied { key: key_text });
            }
            JournalState::Failed => {
                let error = entry.error.unwrap_or_default();
                tracing::info!(key = %key_text, ticket = key.ticket_id, %error, "event failed before; not applying it again");
                return Ok(Applied::AlreadyFailed { key: key_text, error });
            }
            JournalState::Planned => {}
        }
        if entry.attempts > 1 {
            // An earlier attempt stopped midway: continue from the journal.
            tracing::info!(key = %key_text, ticket = key.ticket_id, "finishing an interrupted application");
            return self.resume(&key, entry, &once_rules, &mut replan).await;
        }
        self.run(&key, plan, progress, ticket, &once_rules, &mut replan)
            .await
    }

    /// Finishes every journal row left planned by a crash or a failed call.
    /// `replan` is asked for a fresh plan when the ticket moved since the
    /// stored one was made (`None` marks the row failed).
    pub async fn resume_pending(
        &self,
        once_rules: &BTreeSet<String>,
        mut replan: impl FnMut(&EventKey, Ticket) -> Option<Plan> + Send,
    ) -> Result<Vec<(String, Result<Applied, ExecError>)>, ExecError> {
        let mut out = Vec::new();
        for entry in self.store.journal_pending()? {
            let key = EventKey {
                ticket_id: entry.ticket_id,
                trigger: entry.trigger.clone(),
            };
            // Counts the attempt.
            let entry = self.store.journal_begin(&NewJournalEntry {
                key: entry.key.clone(),
                ticket_id: entry.ticket_id,
                trigger: entry.trigger.clone(),
                rules_hash: entry.rules_hash.clone(),
                plan: entry.plan.clone(),
                progress: entry.progress.clone(),
            })?;
            let text = entry.key.clone();
            let mut replan_one = |ticket: Ticket| replan(&key, ticket);
            let result = self.resume(&key, entry, once_rules, &mut replan_one).await;
            out.push((text, result));
        }
        Ok(out)
    }

    /// Continues a planned row: settles a write in flight, re-plans when
    /// the ticket moved, then applies what is left.
    async fn resume(
        &self,
        key: &EventKey,
        entry: JournalEntry,
        once_rules: &BTreeSet<String>,
        replan: &mut (dyn FnMut(Ticket) -> Option<Plan> + Send),
    ) -> Result<Applied, ExecError> {
        let key_text = entry.key.clone();
        let mut plan: Plan = from_json(&key_text, &entry.plan)?;
        let mut progress: Progress = from_json(&key_text, &entry.progress)?;
        let ticket = self.read_ticket(&key_text, key.ticket_id).await?;
        if let Some(in_flight) = progress.in_flight.take() {
            self.settle(&key_text, &plan, &mut progress, in_flight, &ticket)
                .await?;
            self.store
                .journal_progress(&key_text, &to_json(&plan), &to_json(&progress))?;
        }
        if ticket.updated_at.timestamp() != progress.based_on.timestamp() && has_update_left(&plan, &progress)
        {
            let Some(fresh) = replan(ticket.clone()) else {
                return Err(self.fail(
                    &key_text,
                    &progress,
                    "the ticket changed and it could not be re-planned",
                ));
            };
            plan = fresh;
            progress.replans += 1;
        }
        progress.based_on = ticket.updated_at;
        self.run(key, plan, progress, ticket, once_rules, replan).await
    }

    /// Settles a write started before a crash: a create is looked up by
    /// its `external_id`; an update is taken as landed when the ticket
    /// shows every effect (and its comment, written since the stamp).
    async fn settle(
        &self,
        key_text: &str,
        plan: &Plan,
        progress: &mut Progress,
        in_flight: InFlight,
        ticket: &Ticket,
    ) -> Result<(), ExecError> {
        let ids = step_ids(plan);
        match in_flight.stamp {
            None => {
                // A create: the journal-derived external_id finds it.
                for step_id in &in_flight.steps {
                    let external_id = external_id_for(key_text, step_id);
                    let found = self
                        .helpdesk
                        .find_tickets_by_external_id(&external_id)
                        .await
                        .map_err(|source| retry(key_text, source))?;
                    if let Some(created) = found.first() {
                        tracing::info!(key = %key_text, ticket = ticket.id, created = created.id, %external_id,
                            "the ticket created before a restart was found; not creating it again");
                        progress.created.insert(step_id.clone(), created.id);
                        progress.done.insert(step_id.clone());
                    }
                }
            }
            Some(stamp) => {
                let effects: Vec<&Effect> = in_flight
                    .steps
                    .iter()
                    .filter_map(|id| ids.iter().position(|s| s == id))
                    .map(|i| &plan.steps[i].effect)
                    .collect();
                // Not "moved past the stamp": Zendesk's updated_at is whole
                // seconds, and a write landing within the second of the
                // stamp leaves it equal. The effects, and the comment, say
                // whether the ticket is as the write would leave it.
                let mut landed = effects.iter().all(|e| shows(ticket, e));
                if landed && let Some(body) = &in_flight.comment {
                    landed = self.comment_since(key_text, ticket.id, body, stamp).await?;
                }
                if landed {
                    tracing::info!(key = %key_text, ticket = ticket.id, "the update sent before a restart landed");
                    progress.done.extend(in_flight.steps.iter().cloned());
                    progress.updates += 1;
                    progress.based_on = ticket.updated_at;
                } else {
                    tracing::info!(key = %key_text, ticket = ticket.id, "the update sent before a restart did not land; applying it again");
                }
            }
        }
        Ok(())
    }

    /// Whether `ticket_id` got a comment with `body` at or after `since`.
    async fn comment_since(
        &self,
        key_text: &str,
        ticket_id: Id,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, ExecError> {
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .helpdesk
                .list_comments_page(ticket_id, cursor.as_deref())
                .await
                .map_err(|source| retry(key_text, source))?;
            if page.items.iter().any(|c| {
                c.body.trim() == body.trim()
                    && c.created_at.is_none_or(|at| at.timestamp() >= since.timestamp())
            }) {
                return Ok(true);
            }
            match page.after_cursor {
                Some(next) if page.has_more => cursor = Some(next),
                _ => return Ok(false),
            }
        }
    }

    /// Applies what is left of `plan`, re-planning on a conflict.
    async fn run(
        &self,
        key: &EventKey,
        mut plan: Plan,
        mut progress: Progress,
        mut ticket: Ticket,
        once_rules: &BTreeSet<String>,
        replan: &mut (dyn FnMut(Ticket) -> Option<Plan> + Send),
    ) -> Result<Applied, ExecError> {
        let key_text = key.text();
        let mut mails = Vec::new();
        'plan: loop {
            let ids = step_ids(&plan);
            for unit in units(&plan, &progress) {
                match unit {
                    Unit::Create(index) => {
                        self.create(&key_text, &plan, &ids, index, &mut progress).await?;
                    }
                    Unit::Mail(index) => {
                        mails.push(self.mail(&key_text, &plan, &ids, index, &mut progress)?);
                    }
                    Unit::Update(indices, links) => {
                        let built = build_update(&plan, &indices, &links, &progress);
                        let (mut update, comment) = (built.update, built.comment);
                        if built.solves && ticket.assignee_id.is_none() && update.assignee_id.is_none() {
                            update.assignee_id = Some(self.solver(&key_text, &progress).await?);
                        }
                        let rules = indices.iter().map(|&i| plan.steps[i].rule.as_str());
                        update.metadata = Some(audit_metadata(rules, &plan.rules_hash, &key_text));
                        let mut steps: Vec<String> = indices.iter().map(|&i| ids[i].clone()).collect();
                        steps.extend(links.iter().map(|l| link_id(l)));
                        progress.in_flight = Some(InFlight {
                            steps: steps.clone(),
                            stamp: Some(ticket.updated_at),
                            comment,
                        });
                        self.store
                            .journal_progress(&key_text, &to_json(&plan), &to_json(&progress))?;
                        match self
                            .helpdesk
                            .update_ticket(ticket.id, &update, ticket.updated_at)
                            .await
                        {
                            Ok(written) => {
                                ticket = written;
                                progress.in_flight = None;
                                progress.done.extend(steps);
                                progress.updates += 1;
                                progress.based_on = ticket.updated_at;
                                self.store.journal_progress(
                                    &key_text,
                                    &to_json(&plan),
                                    &to_json(&progress),
                                )?;
                                for &i in &indices {
                                    log_step(&key_text, &plan, &plan.steps[i]);
                                }
                            }
                            Err(HelpDeskError::Conflict { after_retry, .. }) => {
                                let in_flight = progress.in_flight.take();
                                let fresh = self.read_ticket(&key_text, ticket.id).await?;
                                if after_retry && let Some(in_flight) = in_flight {
                                    // The first try of the retried write may be
                                    // what moved the ticket on.
                                    self.settle(&key_text, &plan, &mut progress, in_flight, &fresh)
                                        .await?;
                                    if steps.iter().all(|s| progress.done.contains(s)) {
                                        ticket = fresh;
                                        self.store.journal_progress(
                                            &key_text,
                                            &to_json(&plan),
                                            &to_json(&progress),
                                        )?;
                                        for &i in &indices {
                                            log_step(&key_text, &plan, &plan.steps[i]);
                                        }
                                        continue 'plan;
                                    }
                                }
                                ticket = fresh;
                                if progress.replans >= self.options.max_replans {
                                    self.store.journal_progress(
                                        &key_text,
                                        &to_json(&plan),
                                        &to_json(&progress),
                                    )?;
                                    return Err(retry(
                                        &key_text,
                                        HelpDeskError::Conflict {
                                            endpoint: "PUT /api/v2/tickets/{id}".to_owned(),
                                            after_retry,
                                        },
                                    ));
                                }
                                tracing::info!(key = %key_text, ticket = ticket.id, replans = progress.replans + 1,
                                    "the ticket changed meanwhile; re-planning");
                                let Some(fresh_plan) = replan(ticket.clone()) else {
                                    return Err(self.fail(
                                        &key_text,
                                        &progress,
                                        "the ticket changed and it could not be re-planned",
                                    ));
                                };
                                plan = fresh_plan;
                                progress.replans += 1;
                                progress.based_on = ticket.updated_at;
                                self.store.journal_progress(
                                    &key_text,
                                    &to_json(&plan),
                                    &to_json(&progress),
                                )?;
                                continue 'plan;
                            }
                            Err(err) => {
                                let rules: Vec<&str> =
                                    indices.iter().map(|&i| plan.steps[i].rule.as_str()).collect();
                                let note = refusal_note(&rules, &err);
                                let failure = self.helpdesk_failure(&key_text, &plan, &progress, err);
                                if let Some(note) = note {
                                    self.note_refusal(&key_text, &plan, ticket.id, &rules, note).await;
                                }
                                return Err(failure);
                            }
                        }
                    }
                }
            }
            break;
        }
        let mut once: BTreeSet<String> = plan
            .fired
            .iter()
            .filter(|r| once_rules.contains(*r))
            .cloned()
            .collect();
        for done in &progress.done {
            if let Some((rule, _)) = done.rsplit_once('#')
                && once_rules.contains(rule)
            {
                once.insert(rule.to_owned());
            }
        }
        let once: Vec<String> = once.into_iter().collect();
        self.store
            .journal_applied(&key_text, &to_json(&progress), &once)?;
        tracing::info!(key = %key_text, ticket = ticket.id, rules_hash = %plan.rules_hash,
            updates = progress.updates, replans = progress.replans, "event applied");
        let mut created: Vec<(String, Id)> = progress
            .created
            .iter()
            .map(|(step, id)| {
                (
                    step.rsplit_once('#').map_or(step.as_str(), |(r, _)| r).to_owned(),
                    *id,
                )
            })
            .collect();
        created.sort_by_key(|(_, id)| *id);
        Ok(Applied::Done(Box::new(Report {
            key: key_text,
            ticket,
            updates: progress.updates,
            created,
            mails,
            replans: progress.replans,
            once,
        })))
    }

    /// One `create_ticket` step.
    async fn create(
        &self,
        key_text: &str,
        plan: &Plan,
        ids: &[String],
        index: usize,
        progress: &mut Progress,
    ) -> Result<(), ExecError> {
        let step = &plan.steps[index];
        let Effect::CreateTicket {
            subject,
            requester_id,
            assignee_id,
            group_id,
            cc,
            status,
            tags,
            internal_note,
            ..
        } = &step.effect
        else {
            return Ok(());
        };
        let step_id = &ids[index];
        let external_id = external_id_for(key_text, step_id);
        progress.in_flight = Some(InFlight {
            steps: vec![step_id.clone()],
            stamp: None,
            comment: None,
        });
        self.store
            .journal_progress(key_text, &to_json(plan), &to_json(progress))?;
        let body = if internal_note.trim().is_empty() {
            subject.clone()
        } else {
            internal_note.clone()
        };
        // The first comment is the submitter's, and the submitter is the
        // requester unless named (developer.zendesk.com, Tickets,
        // "Requesters and submitters"): without this the note opening the
        // ticket would read as the customer's.
        let me = self.me(key_text).await?;
        let new = NewTicket {
            subject: Some(subject.clone()),
            comment: NewComment {
                author_id: Some(me),
                ..NewComment::internal(body)
            },
            submitter_id: Some(me),
            requester_id: *requester_id,
            assignee_id: *assignee_id,
            group_id: *group_id,
            status: *status,
            tags: tags.clone(),
            email_ccs: cc
                .iter()
                .map(|address| EmailCc {
                    user_email: address.clone(),
                    user_name: None,
                    action: "put".to_owned(),
                })
                .collect(),
            external_id: Some(external_id.clone()),
            metadata: Some(audit_metadata([step.rule.as_str()], &plan.rules_hash, key_text)),
            ..NewTicket::default()
        };
        let created = match self.helpdesk.create_ticket(&new).await {
            Ok(created) => created,
            Err(err) => {
                let note = refusal_note(&[step.rule.as_str()], &err);
                let failure = self.helpdesk_failure(key_text, plan, progress, err);
                if let Some(note) = note {
                    self.note_refusal(key_text, plan, plan.ticket_id, &[step.rule.as_str()], note)
                        .await;
                }
                return Err(failure);
            }
        };
        progress.in_flight = None;
        progress.created.insert(step_id.clone(), created.id);
        progress.done.insert(step_id.clone());
        self.store
            .journal_progress(key_text, &to_json(plan), &to_json(progress))?;
        tracing::info!(key = %key_text, rule = %step.rule, ticket = plan.ticket_id, action = step.effect.key(),
            rules_hash = %plan.rules_hash, created = created.id, %external_id, "rule action applied");
        Ok(())
    }

    /// One `send_mail` step: composed, then enqueued in the transaction
    /// that records it done.
    fn mail(
        &self,
        key_text: &str,
        plan: &Plan,
        ids: &[String],
        index: usize,
        progress: &mut Progress,
    ) -> Result<Enqueued, ExecError> {
        let step = &plan.steps[index];
        let Effect::SendMail {
            to,
            cc,
            subject,
            text,
            html,
            attachments,
            ..
        } = &step.effect
        else {
            return Err(self.fail(key_text, progress, "a mail step is not a send_mail"));
        };
        let step_id = &ids[index];
        let ticket_id = plan.ticket_id;
        let message_id = format!(
            "carteiro.{ticket_id}.{}@{}",
            EventKey::digest_text(key_text, step_id),
            self.options.compose.message_id_domain
        );
        let attachments = match attachments
            .iter()
            .map(|path| Attachment::from_rules_file(&self.options.rules_dir, path))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(files) => files,
            Err(err) => {
                return Err(self.fail(key_text, progress, &format!("cannot attach to the mail: {err}")));
            }
        };
        let thread = self.store.ticket_thread(ticket_id)?;
        let in_reply_to = thread.last().map(|(id, _)| id.clone());
        let kind = match thread.last() {
            Some((_, Direction::In)) => MailKind::ReplyToPerson,
            _ => MailKind::Generated,
        };
        let mut references: Vec<String> = thread.into_iter().map(|(id, _)| id).collect();
        if references.len() > MAX_REFERENCES {
            let tail = references.split_off(references.len() - (MAX_REFERENCES - 1));
            references.truncate(1);
            references.extend(tail);
        }
        let outgoing = OutgoingMail {
            ticket_id,
            to: to.iter().map(MailAddress::new).collect(),
            cc: cc.iter().map(MailAddress::new).collect(),
            subject: subject.clone(),
            text: text.clone(),
            html: html.clone(),
            attachments,
            in_reply_to,
            references,
            kind,
            date: self.clock.now(),
            message_id: Some(message_id),
        };
        let composed = match compose(&outgoing, &self.options.compose) {
            Ok(composed) => composed,
            Err(err) => {
                return Err(self.fail(key_text, progress, &format!("cannot compose the mail: {err}")));
            }
        };
        let mail = NewOutboxMail {
            message_id: composed.message_id,
            ticket_id,
            envelope_from: composed.envelope.from,
            recipients: composed.envelope.to,
            subject: composed.subject,
            raw: composed.raw,
        };
        progress.done.insert(step_id.clone());
        let enqueued = self.store.journal_enqueue(
            key_text,
            &to_json(plan),
            &to_json(progress),
            &mail,
            &self.options.guards,
        )?;
        crate::outbound::action::log_enqueued(&mail, &enqueued);
        log_step(key_text, plan, step);
        Ok(enqueued)
    }

    /// The agent who becomes the assignee of a ticket a plan solves or
    /// closes while nobody is assigned. Zendesk refuses that solve ("A
    /// ticket's status can't be set to Solved by an end user or agent
    /// without an assignee", support.zendesk.com article 4408894213018)
    /// unless the account auto-assigns on solve, which an admin can turn
    /// off; so carteiro never relies on it. `tickets.solve_assignee`, or
    /// carteiro's own user.
    async fn solver(&self, key_text: &str, progress: &Progress) -> Result<Id, ExecError> {
        if let Some(id) = self.solver.get() {
            return Ok(*id);
        }
        let found = match &self.options.solve_assignee {
            None => Some(self.me(key_text).await?),
            Some(email) => self
                .helpdesk
                .list_agents()
                .await
                .map_err(|source| retry(key_text, source))?
                .iter()
                .find(|a| a.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
                .map(|a| a.id),
        };
        match found {
            Some(id) => Ok(*self.solver.get_or_init(|| id)),
            None => Err(self.fail(
                key_text,
                progress,
                &format!(
                    "tickets.solve_assignee {:?} is no agent of the helpdesk, and Zendesk solves and closes \
                     only assigned tickets: set it to an agent's e-mail, or leave it out for carteiro's own user",
                    self.options.solve_assignee.as_deref().unwrap_or_default()
                ),
            )),
        }
    }

    /// carteiro's own user: the author of every internal note it writes.
    async fn me(&self, key_text: &str) -> Result<Id, ExecError> {
        if let Some(id) = self.me.get() {
            return Ok(*id);
        }
        let me = self
            .helpdesk
            .me()
            .await
            .map_err(|source| retry(key_text, source))?;
        Ok(*self.me.get_or_init(|| me.id))
    }

    async fn read_ticket(&self, key_text: &str, id: Id) -> Result<Ticket, ExecError> {
        self.helpdesk
            .show_ticket(id)
            .await
            .map_err(|source| retry(key_text, source))
    }

    /// A helpdesk error: refusals fail the row, the rest leave it planned
    /// for a resume.
    fn helpdesk_failure(
        &self,
        key_text: &str,
        plan: &Plan,
        progress: &Progress,
        err: HelpDeskError,
    ) -> ExecError {
        match err {
            HelpDeskError::Unprocessable { .. } | HelpDeskError::NotFound { .. } => {
                self.fail(key_text, progress, &err.to_string())
            }
            other => {
                // The in-flight write stays recorded: a resume settles it.
                if let Err(store) = self
                    .store
                    .journal_progress(key_text, &to_json(plan), &to_json(progress))
                {
                    tracing::warn!(key = %key_text, error = %store, "cannot save the progress");
                }
                retry(key_text, other)
            }
        }
    }

    /// Tells the agents, in an internal note on `ticket_id`, that Zendesk
    /// refused what `rules` planned and why: the entry is failed for good
    /// (a refusal is not retried), so without the note only the log would
    /// know. Best effort, once: a note that cannot be written is logged.
    async fn note_refusal(&self, key_text: &str, plan: &Plan, ticket_id: Id, rules: &[&str], note: String) {
        let update = TicketUpdate {
            comment: Some(NewComment::internal(note)),
            metadata: Some(audit_metadata(rules.iter().copied(), &plan.rules_hash, key_text)),
            ..TicketUpdate::default()
        };
        match self.helpdesk.append_to_ticket(ticket_id, &update).await {
            Ok(_) => {
                tracing::info!(key = %key_text, ticket = ticket_id, "the refusal is noted on the ticket")
            }
            Err(err) => {
                tracing::warn!(key = %key_text, ticket = ticket_id, error = %err, "cannot note the refusal on the ticket")
            }
        }
    }

    /// Marks the row failed and says why.
    fn fail(&self, key_text: &str, progress: &Progress, reason: &str) -> ExecError {
        tracing::warn!(key = %key_text, %reason, "event failed; its journal entry is marked failed");
        if let Err(err) = self.store.journal_failed(key_text, &to_json(progress), reason) {
            tracing::warn!(key = %key_text, error = %err, "cannot mark the journal entry failed");
        }
        ExecError::Failed {
            key: key_text.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

impl EventKey {
    fn digest_text(key_text: &str, part: &str) -> String {
        let digest = Sha256::digest(format!("{key_text}|{part}").as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

/// What every write of a plan tells Zendesk about itself, in its audit's
/// `metadata.custom`: which rules did it, under which rule set, for which
/// event. An agent or a script reading the ticket's events sees why it
/// changed; `carteiro history` has the rest.
pub fn audit_metadata<'a>(
    rules: impl IntoIterator<Item = &'a str>,
    rules_hash: &str,
    event: &str,
) -> serde_json::Value {
    let mut names: Vec<&str> = Vec::new();
    for rule in rules {
        if !names.contains(&rule) {
            names.push(rule);
        }
    }
    serde_json::json!({
        "carteiro": { "rules": names, "rules_hash": rules_hash, "event": event }
    })
}

/// The internal note for a write Zendesk refused (a 422 or 400), in
/// Portuguese for the agents: which rules, and Zendesk's own reason. `None`
/// for other failures, and for a closed ticket, which takes no note either
/// (the log says so).
fn refusal_note(rules: &[&str], err: &HelpDeskError) -> Option<String> {
    let HelpDeskError::Unprocessable { message, details, .. } = err else {
        return None;
    };
    let closed = details
        .as_ref()
        .and_then(|d| {
            d.get("status")?
                .get(0)?
                .get("description")?
                .as_str()
                .map(str::to_owned)
        })
        .is_some_and(|d| d.contains("closed"));
    if closed {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    for rule in rules {
        if !names.contains(rule) {
            names.push(rule);
        }
    }
    Some(format!(
        "O carteiro não conseguiu aplicar a regra {} neste chamado: o Zendesk recusou a alteração \
         ({message}). Ela não foi feita e o carteiro não tenta de novo; ajuste o chamado ou a regra.",
        names.join(", ")
    ))
}

/// The `external_id` of the ticket a `create_ticket` step makes.
pub fn external_id_for(key_text: &str, step_id: &str) -> String {
    format!("carteiro:rule:{}", EventKey::digest_text(key_text, step_id))
}

fn retry(key_text: &str, source: HelpDeskError) -> ExecError {
    ExecError::Retry {
        key: key_text.to_owned(),
        source,
    }
}

fn log_step(key_text: &str, plan: &Plan, step: &Step) {
    tracing::info!(key = %key_text, rule = %step.rule, ticket = plan.ticket_id, action = step.effect.key(),
        rules_hash = %plan.rules_hash, effect = %step.effect, "rule action applied");
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: for<'de> Deserialize<'de>>(key_text: &str, text: &str) -> Result<T, ExecError> {
    serde_json::from_str(text).map_err(|err| ExecError::Failed {
        key: key_text.to_owned(),
        reason: format!("the journal entry cannot be read back: {err}"),
    })
}

/// Each step's id: its rule and its ordinal among that rule's steps
/// (`rule#0`). Stable across re-plans as long as a rule plans the same
/// steps, so a step done before a 409 is not done again.
fn step_ids(plan: &Plan) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    plan.steps
        .iter()
        .map(|step| {
            let n = seen.entry(step.rule.as_str()).or_default();
            let id = format!("{}#{n}", step.rule);
            *n += 1;
            id
        })
        .collect()
}

fn link_id(create_step: &str) -> String {
    format!("{create_step}/link")
}

fn is_comment(effect: &Effect) -> bool {
    matches!(effect, Effect::InternalNote { .. } | Effect::PublicReply { .. })
}

/// The work left: creates, then the ticket's update groups (split where a
/// second comment would start), then mails.
fn units(plan: &Plan, progress: &Progress) -> Vec<Unit> {
    let ids = step_ids(plan);
    let mut creates = Vec::new();
    let mut mails = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let done = progress.done.contains(&ids[i]);
        match &step.effect {
            Effect::CreateTicket { .. } if !done => creates.push(Unit::Create(i)),
            Effect::SendMail { .. } if !done => mails.push(Unit::Mail(i)),
            effect if effect.is_ticket_update() && !done => {
                if is_comment(effect) && current.iter().any(|&j| is_comment(&plan.steps[j].effect)) {
                    groups.push(std::mem::take(&mut current));
                }
                current.push(i);
            }
            _ => {}
        }
        if step.commit && !current.is_empty() {
            groups.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    // Links for tickets created (now or earlier) whose note is not done:
    // into the first group without a public reply.
    // A ticket created under an earlier plan (before a re-plan) is linked
    // too, even when the new plan no longer creates it.
    let mut links: Vec<String> = progress.created.keys().cloned().collect();
    for (i, step) in plan.steps.iter().enumerate() {
        if matches!(step.effect, Effect::CreateTicket { .. }) && !links.contains(&ids[i]) {
            links.push(ids[i].clone());
        }
    }
    links.retain(|id| !progress.done.contains(&link_id(id)));
    let mut updates: Vec<Unit> = Vec::new();
    for group in groups {
        let public = group
            .iter()
            .any(|&j| matches!(plan.steps[j].effect, Effect::PublicReply { .. }));
        let take = if public {
            Vec::new()
        } else {
            std::mem::take(&mut links)
        };
        updates.push(Unit::Update(group, take));
    }
    if !links.is_empty() {
        updates.push(Unit::Update(Vec::new(), links));
    }
    let mut out = creates;
    out.extend(updates);
    out.extend(mails);
    out
}

/// Whether any ticket change of `plan` is still to do.
fn has_update_left(plan: &Plan, progress: &Progress) -> bool {
    units(plan, progress)
        .iter()
        .any(|u| matches!(u, Unit::Update(..)))
}

/// One group's update, ready to send.
#[derive(Debug)]
struct Built {
    update: TicketUpdate,
    /// The body of the comment it carries.
    comment: Option<String>,
    /// Whether it leaves the ticket solved or closed.
    solves: bool,
}

/// The update for one group, and the comment body it carries. The link
/// notes of created tickets join the group's internal note, or are it.
fn build_update(plan: &Plan, indices: &[usize], links: &[String], progress: &Progress) -> Built {
    let mut update = TicketUpdate::default();
    let mut solves = false;
    let mut add: Vec<String> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    let mut fields: Vec<CustomFieldValue> = Vec::new();
    let mut comment: Option<NewComment> = None;
    for &i in indices {
        match &plan.steps[i].effect {
            Effect::SetStatus(status) => {
                update.status = Some(*status);
                update.custom_status_id = None;
                solves = matches!(status, Status::Solved | Status::Closed);
            }
            Effect::Solve => {
                update.status = Some(Status::Solved);
                update.custom_status_id = None;
                solves = true;
            }
            Effect::SetCustomStatus { id, solved, .. } => {
                update.custom_status_id = Some(*id);
                update.status = None;
                solves = *solved;
            }
            Effect::Assign {
                user_id, group_id, ..
            } => {
                if user_id.is_some() {
                    update.assignee_id = *user_id;
                }
                if group_id.is_some() {
                    update.group_id = *group_id;
                }
            }
            Effect::AddTags(tags) => {
                for tag in tags {
                    remove.retain(|t| t != tag);
                    if !add.contains(tag) {
                        add.push(tag.clone());
                    }
                }
            }
            Effect::RemoveTags(tags) => {
                for tag in tags {
                    add.retain(|t| t != tag);
                    if !remove.contains(tag) {
                        remove.push(tag.clone());
                    }
                }
            }
            Effect::SetField { id, value, .. } => {
                fields.retain(|f| f.id != *id);
                fields.push(CustomFieldValue {
                    id: *id,
                    value: value.clone(),
                });
            }
            Effect::SetDue(at) => update.due_at = Some(Some(*at)),
            Effect::SetPriority(p) => update.priority = Some(p.clone()),
            Effect::ClearDue => update.due_at = Some(None),
            Effect::InternalNote { body, .. } => comment = Some(NewComment::internal(body.clone())),
            Effect::PublicReply { body, html, .. } => {
                comment = Some(NewComment {
                    body: Some(body.clone()),
                    html_body: html.clone(),
                    public: true,
                    ..NewComment::default()
                });
            }
            Effect::SendMail { .. } | Effect::CreateTicket { .. } => {}
        }
    }
    let link_lines: Vec<String> = links
        .iter()
        .filter_map(|step| progress.created.get(step))
        .map(|id| format!("Chamado vinculado: #{id}"))
        .collect();
    if !link_lines.is_empty() {
        let text = link_lines.join("\n");
        comment = Some(match comment {
            Some(mut note) if !note.public => {
                let body = note.body.take().unwrap_or_default();
                note.body = Some(format!("{body}\n\n{text}"));
                note
            }
            _ => NewComment::internal(text),
        });
    }
    if !add.is_empty() {
        update.additional_tags = Some(add);
    }
    if !remove.is_empty() {
        update.remove_tags = Some(remove);
    }
    if !fields.is_empty() {
        update.custom_fields = Some(fields);
    }
    let body = comment.as_ref().and_then(|c| c.body.clone());
    update.comment = comment;
    Built {
        update,
        comment: body,
        solves,
    }
}

/// Whether `ticket` shows `effect` (for settling an update whose answer
/// was lost). Comments are checked apart.
fn shows(ticket: &Ticket, effect: &Effect) -> bool {
    match effect {
        Effect::SetStatus(status) => ticket.status == *status,
        Effect::Solve => ticket.status == Status::Solved,
        Effect::SetCustomStatus { id, .. } => ticket.custom_status_id == Some(*id),
        Effect::Assign {
            user_id, group_id, ..
        } => {
            user_id.is_none_or(|u| ticket.assignee_id == Some(u))
                && group_id.is_none_or(|g| ticket.group_id == Some(g))
        }
        Effect::AddTags(tags) => tags.iter().all(|t| ticket.tags.contains(t)),
        Effect::RemoveTags(tags) => tags.iter().all(|t| !ticket.tags.contains(t)),
        Effect::SetField { id, value, .. } => ticket.custom_field(*id) == Some(value),
        Effect::SetDue(at) => ticket.due_at.map(|d| d.timestamp()) == Some(at.timestamp()),
        Effect::SetPriority(p) => ticket.priority.as_deref() == Some(p.as_str()),
        Effect::ClearDue => ticket.due_at.is_none(),
        Effect::InternalNote { .. }
        | Effect::PublicReply { .. }
        | Effect::SendMail { .. }
        | Effect::CreateTicket { .. } => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rule: &str, effect: Effect, commit: bool) -> Step {
        Step {
            rule: rule.to_owned(),
            effect,
            commit,
        }
    }

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            ticket_id: 7,
            rules_hash: "h".to_owned(),
            now: DateTime::<Utc>::UNIX_EPOCH,
            fired: vec!["a".to_owned()],
            steps,
            problems: Vec::new(),
            stopped_by: None,
        }
    }

    fn note(body: &str) -> Effect {
        Effect::InternalNote {
            template: "t".to_owned(),
            body: body.to_owned(),
        }
    }

    #[test]
    fn two_comments_in_one_group_become_two_updates() {
        let p = plan(vec![
            step("a", Effect::AddTags(vec!["x".to_owned()]), false),
            step("a", note("um"), false),
            step("b", note("dois"), false),
        ]);
        let units = units(&p, &Progress::default());
        assert_eq!(
            units,
            vec![
                Unit::Update(vec![0, 1], Vec::new()),
                Unit::Update(vec![2], Vec::new())
            ]
        );
    }

    #[test]
    fn set_priority_rides_in_the_update_and_shows_on_the_ticket() {
        let p = plan(vec![step("vip", Effect::SetPriority("high".to_owned()), false)]);
        let Built { update, comment, .. } = build_update(&p, &[0], &[], &Progress::default());
        assert_eq!(update.priority.as_deref(), Some("high"));
        assert_eq!(comment, None);
        let mut ticket: Ticket = serde_json::from_value(serde_json::json!({
            "id": 1, "created_at": "2026-03-02T12:00:00Z", "updated_at": "2026-03-02T12:00:00Z",
            "status": "open", "priority": "normal",
        }))
        .expect("ticket");
        assert!(!shows(&ticket, &p.steps[0].effect));
        ticket.priority = Some("high".to_owned());
        assert!(shows(&ticket, &p.steps[0].effect));
    }

    #[test]
    fn clear_due_removes_the_due_date() {
        let p = plan(vec![step("prazo", Effect::ClearDue, false)]);
        let update = build_update(&p, &[0], &[], &Progress::default()).update;
        assert_eq!(update.due_at, Some(None));
        let json = serde_json::to_value(&update).expect("json");
        assert_eq!(json["due_at"], serde_json::Value::Null);
        assert!(
            json.as_object().is_some_and(|o| o.contains_key("due_at")),
            "{json}"
        );
    }

    #[test]
    fn creates_go_first_mails_last_and_the_link_rides_in_the_first_update() {
        let create = Effect::CreateTicket {
            subject: "OUVIDORIA".to_owned(),
            requester_id: None,
            assignee_id: None,
            assignee: None,
            group_id: None,
            group: None,
            cc: Vec::new(),
            status: None,
            tags: Vec::new(),
            internal_note: "n".to_owned(),
        };
        let mail = Effect::SendMail {
            template: "t".to_owned(),
            to: vec!["a@b.example".to_owned()],
            cc: Vec::new(),
            subject: "s".to_owned(),
            text: "x".to_owned(),
            html: None,
            attachments: Vec::new(),
        };
        let p = plan(vec![
            step("a", mail, false),
            step("a", Effect::SetStatus(Status::Open), true),
            step("b", create, false),
            step("b", note("ok"), false),
        ]);
        let mut progress = Progress::default();
        progress.created.insert("b#0".to_owned(), 99);
        assert_eq!(
            units(&p, &progress),
            vec![
                Unit::Create(2),
                Unit::Update(vec![1], vec!["b#0".to_owned()]),
                Unit::Update(vec![3], Vec::new()),
                Unit::Mail(0),
            ]
        );
        let Built { update, comment, .. } = build_update(&p, &[3], &["b#0".to_owned()], &progress);
        assert_eq!(comment.as_deref(), Some("ok\n\nChamado vinculado: #99"));
        assert_eq!(update.comment.map(|c| c.public), Some(false));
        progress.done.insert("b#1".to_owned());
        progress.done.insert(link_id("b#0"));
        assert_eq!(
            units(&p, &progress),
            vec![Unit::Create(2), Unit::Update(vec![1], Vec::new()), Unit::Mail(0)]
        );
    }

    #[test]
    fn step_ids_count_within_each_rule() {
        let p = plan(vec![
            step("a", Effect::Solve, false),
            step("b", Effect::Solve, false),
            step("a", Effect::Solve, false),
        ]);
        assert_eq!(step_ids(&p), vec!["a#0", "b#0", "a#1"]);
    }
}
