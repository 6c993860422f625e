//! The simulator's Zendesk account in memory, and the operations Zendesk
//! performs on it: create and update tickets (with their audits), tags,
//! bulk jobs, users, custom statuses and uploads.
//!
//! Nothing here knows about HTTP. The route handlers decode a request, call
//! one of these operations under the simulator's lock, and render the result
//! (URLs are filled in from the request's `Host` at that point). Every
//! operation validates completely before it changes anything, so a refused
//! write leaves no trace.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api_error::ApiError;
use super::notify::{Notification, Occasion};
use super::triggers::{self, Trigger};
use super::{AccountProfile, AccountSettings, Seed};
use crate::helpdesk::model::{
    Article, Attachment, Audit, AuditEvent, Comment, CustomFieldValue, CustomStatus, EmailCc, Group, Id,
    JobResult, JobState, NewComment, NewTicket, Role, Status, StatusCategory, Ticket, TicketField,
    TicketUpdate, User, UserUpsert, Via,
};

/// Where new user ids start (Zendesk's are 12-digit numbers).
const USER_IDS_FROM: Id = 370_000_000_001;
/// Audits, their events and comments share one id space, as in Zendesk
/// (a comment's id is the id of its `Comment` audit event).
const EVENT_IDS_FROM: Id = 650_000_000_001;
const ATTACHMENT_IDS_FROM: Id = 490_000_000_001;
const CUSTOM_STATUS_IDS_FROM: Id = 12_480_000_000_001;
/// How long an upload token stays usable.
const UPLOAD_LIFETIME: TimeDelta = TimeDelta::days(3);
/// The e-mail of the admin a `Bearer` token acts as when the seed has none.
pub const BOT_EMAIL: &str = "carteiro-bot@sim.invalid";

/// Who a request acts as, from its `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Basic auth (`{email}/token:{token}` or `{email}:{password}`).
    Email(String),
    /// An OAuth bearer token: acts as the account's first admin.
    Bearer,
}

/// How a tag write changes the ticket's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagChange {
    /// `PUT .../tags`: add to the list.
    Add,
    /// `POST .../tags`: replace the list.
    Replace,
    /// `DELETE .../tags`: remove from the list.
    Remove,
}

/// A background job (`create_many`, `update_many`). Its effect is applied
/// when it is created; polling only walks it through Zendesk's states.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub total: u64,
    pub results: Vec<JobResult>,
    /// How many times `GET /api/v2/job_statuses/{id}` asked about it.
    pub polls: u32,
}

/// What a job poll sees.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: String,
    pub total: u64,
    pub progress: Option<u64>,
    pub state: JobState,
    pub message: Option<String>,
    pub results: Option<Vec<JobResult>>,
}

/// One item of `update_many`: the ticket id, and the update with the
/// fields it set to `null` (or why the item did not decode).
pub type BulkUpdate = (Option<Id>, Result<(TicketUpdate, BTreeSet<String>), ApiError>);

/// An upload token and the files sent under it, until a comment uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub attachment_ids: Vec<Id>,
}

/// A file the simulator keeps, with its metadata (URLs left empty).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAttachment {
    pub meta: Attachment,
    pub bytes: Vec<u8>,
}

/// The fields of `{"custom_status": {...}}` in a create or update.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CustomStatusInput {
    #[serde(default)]
    pub status_category: Option<StatusCategory>,
    #[serde(default)]
    pub agent_label: Option<String>,
    #[serde(default)]
    pub end_user_label: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub end_user_description: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// The next id of each kind.
#[derive(Debug, Clone)]
struct Counters {
    ticket: Id,
    user: Id,
    event: Id,
    attachment: Id,
    custom_status: Id,
    trigger: Id,
    job: u64,
    upload: u64,
}

/// The whole account.
#[derive(Debug)]
pub struct State {
    /// Every ticket, deleted ones included (with status `deleted`).
    pub tickets: BTreeMap<Id, Ticket>,
    /// Each ticket's latest change number.
    change_of: BTreeMap<Id, u64>,
    /// Change number → ticket: the export order.
    changes: BTreeMap<u64, Id>,
    last_change: u64,
    pub comments: BTreeMap<Id, Vec<Comment>>,
    pub audits: BTreeMap<Id, Vec<Audit>>,
    pub users: BTreeMap<Id, User>,
    /// Lowercased e-mail → user: requesters are looked up on every create.
    by_email: HashMap<String, Id>,
    pub groups: Vec<Group>,
    pub custom_statuses: Vec<CustomStatus>,
    pub ticket_fields: Vec<TicketField>,
    pub articles: Vec<Article>,
    pub jobs: BTreeMap<String, Job>,
    pub uploads: BTreeMap<String, UploadRecord>,
    pub attachments: BTreeMap<Id, StoredAttachment>,
    pub settings: AccountSettings,
    /// Who the account is (name, subdomain, support address).
    pub account: AccountProfile,
    /// The ticket triggers, in no particular order (they run by position).
    pub triggers: Vec<Trigger>,
    /// Every e-mail a trigger sent, in order.
    pub notifications: Vec<Notification>,
    /// Indexes into `notifications` not yet handed to the mail outlet.
    pub(super) outbox: Vec<usize>,
    /// The `Idempotency-Key`s of recent creates.
    pub idempotency: super::idempotency::Keys,
    next: Counters,
}

/// Who writes a comment, settled on commit (a new requester exists only
/// then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Author {
    User(Id),
    /// The ticket's requester.
    Requester,
}

/// A comment checked and ready to store.
#[derive(Debug, Clone)]
struct PreparedComment {
    author: Author,
    body: String,
    html_body: String,
    public: bool,
    attachment_ids: Vec<Id>,
    tokens: Vec<String>,
}

/// A ticket write checked and ready to commit.
#[derive(Debug, Clone)]
struct Prepared {
    ticket: Ticket,
    comment: Option<PreparedComment>,
    /// CCs to add by e-mail (users created on commit when unknown).
    cc_add: Vec<EmailCc>,
    cc_remove: Vec<String>,
    /// A requester to find or create by e-mail on commit.
    requester: Option<(String, Option<String>)>,
    /// The audit's `metadata.custom`: what the writer sent as `metadata`.
    custom: Value,
}

/// How e-mails are compared: trimmed, without case.
fn email_key(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

impl State {
    /// An account holding `seed`. Each status category without a seeded
    /// default status gets Zendesk's ("New", "Open", "Pending", "On-hold",
    /// "Solved").
    pub fn new(seed: Seed, now: DateTime<Utc>) -> State {
        let now = whole(now);
        let Seed {
            users,
            groups,
            mut custom_statuses,
            ticket_fields,
            tickets,
            articles,
            settings,
            account,
            triggers: seed_triggers,
        } = seed;
        let max_id = |ids: &mut dyn Iterator<Item = Id>| ids.max().unwrap_or(0);
        let mut next = Counters {
            ticket: max_id(&mut tickets.iter().map(|t| t.id)).saturating_add(1),
            user: USER_IDS_FROM.max(max_id(&mut users.iter().map(|u| u.id)).saturating_add(1)),
            event: EVENT_IDS_FROM,
            attachment: ATTACHMENT_IDS_FROM,
            custom_status: CUSTOM_STATUS_IDS_FROM
                .max(max_id(&mut custom_statuses.iter().map(|c| c.id)).saturating_add(1)),
            trigger: triggers::TRIGGER_IDS_FROM
                .max(max_id(&mut seed_triggers.iter().flatten().filter_map(|t| t.0.id)).saturating_add(1)),
            job: 0,
            upload: 0,
        };
        // Every Zendesk account has a default status in each category.
        for default in default_custom_statuses(&mut next.custom_status, now) {
            let category = default.status_category;
            if !custom_statuses
                .iter()
                .any(|c| c.status_category == category && c.default)
            {
                custom_statuses.push(default);
            }
        }
        // A new account has the standard triggers; a seed's list replaces
        // them (an empty list: an account whose triggers were all deleted).
        let triggers = match seed_triggers {
            None => triggers::standard(&mut next.trigger, now),
            Some(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let id = t.0.id.unwrap_or_else(|| take(&mut next.trigger));
                    triggers::from_record(t.0, id, i as i64, now)
                })
                .collect(),
        };
        let mut state = State {
            tickets: BTreeMap::new(),
            change_of: BTreeMap::new(),
            changes: BTreeMap::new(),
            last_change: 0,
            comments: BTreeMap::new(),
            audits: BTreeMap::new(),
            by_email: users
                .iter()
                .filter_map(|u| Some((email_key(u.email.as_deref()?), u.id)))
                .collect(),
            users: users.into_iter().map(|u| (u.id, u)).collect(),
            groups,
            custom_statuses,
            ticket_fields,
            articles,
            jobs: BTreeMap::new(),
            uploads: BTreeMap::new(),
            attachments: BTreeMap::new(),
            settings,
            account,
            triggers,
            notifications: Vec::new(),
            outbox: Vec::new(),
            idempotency: super::idempotency::Keys::default(),
            next,
        };
        let mut seeded = tickets;
        seeded.sort_by_key(|t| (t.updated_at, t.id));
        for mut ticket in seeded {
            ticket.created_at = whole(ticket.created_at);
            ticket.updated_at = whole(ticket.updated_at);
            ticket.generated_timestamp = Some(
                ticket
                    .generated_timestamp
                    .unwrap_or(ticket.updated_at.timestamp()),
            );
            ticket.url = None;
            let id = ticket.id;
            state.tickets.insert(id, ticket);
            state.record_change(id);
        }
        state
    }

    // -- lookups -----------------------------------------------------------

    /// A live (not deleted) ticket.
    pub fn ticket(&self, id: Id) -> Result<&Ticket, ApiError> {
        self.tickets
            .get(&id)
            .filter(|t| t.status != Status::Deleted)
            .ok_or_else(ApiError::not_found)
    }

    /// The user with this e-mail, compared without case.
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.by_email
            .get(&email_key(email))
            .and_then(|id| self.users.get(id))
    }

    /// The number of the latest change to any ticket.
    pub fn last_change(&self) -> u64 {
        self.last_change
    }

    /// Tickets in the order they last changed, after change number `after`,
    /// each with its change number.
    pub fn changes_after(&self, after: u64) -> impl Iterator<Item = (u64, &Ticket)> {
        self.changes
            .range(after.saturating_add(1)..)
            .filter_map(|(seq, id)| self.tickets.get(id).map(|t| (*seq, t)))
    }

    /// The custom status a ticket in `category` gets when none is named: the
    /// category's default, else its first active one.
    pub fn default_custom_status(&self, category: StatusCategory) -> Option<Id> {
        let active = || {
            self.custom_statuses
                .iter()
                .filter(move |c| c.status_category == category && c.active)
        };
        active()
            .find(|c| c.default)
            .or_else(|| active().next())
            .map(|c| c.id)
    }

    // -- users --------------------------------------------------------------

    /// The user a request acts as, created on first sight (an agent named
    /// after the e-mail; for a bearer token, the first admin or a bot admin).
    pub fn actor(&mut self, credentials: &Credentials, now: DateTime<Utc>) -> Id {
        match credentials {
            Credentials::Email(email) => self.ensure_user(email, Some(email.as_str()), Role::Agent, now),
            Credentials::Bearer => match self.users.values().find(|u| u.role == Role::Admin) {
                Some(admin) => admin.id,
                None => self.ensure_user(BOT_EMAIL, Some("carteiro bot"), Role::Admin, now),
            },
        }
    }

    /// The id of the user with `email`, creating one with `role` if unknown.
    /// Without a name, Zendesk names a new user after the e-mail's local part.
    pub fn ensure_user(&mut self, email: &str, name: Option<&str>, role: Role, now: DateTime<Utc>) -> Id {
        if let Some(user) = self.user_by_email(email) {
            return user.id;
        }
        let email = email.trim();
        let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => email.split('@').next().unwrap_or(email).to_owned(),
        };
        let id = take(&mut self.next.user);
        let now = whole(now);
        self.by_email.insert(email_key(email), id);
        self.users.insert(
            id,
            User {
                id,
                url: None,
                name,
                email: Some(email.to_owned()),
                role,
                active: Some(true),
                verified: Some(false),
                suspended: Some(false),
                external_id: None,
                organization_id: None,
                default_group_id: None,
                locale: Some("en-US".to_owned()),
                time_zone: None,
                iana_time_zone: None,
                phone: None,
                tags: Vec::new(),
                user_fields: Some(json!({})),
                created_at: Some(now),
                updated_at: Some(now),
                ..User::default()
            },
        );
        id
    }

    /// `create_or_update`: matched by e-mail, then by `external_id`. Returns
    /// the user's id and whether it was created.
    pub fn upsert_user(&mut self, upsert: &UserUpsert, now: DateTime<Utc>) -> Result<(Id, bool), ApiError> {
        if !looks_like_email(&upsert.email) {
            return Err(ApiError::invalid(
                "email",
                format!("Email: {} is not properly formatted", upsert.email),
            ));
        }
        if upsert.name.trim().is_empty() {
            return Err(ApiError::invalid("name", "Name: cannot be blank"));
        }
        let existing = self.user_by_email(&upsert.email).map(|u| u.id).or_else(|| {
            let external = upsert.external_id.as_deref()?;
            self.users
                .values()
                .find(|u| u.external_id.as_deref() == Some(external))
                .map(|u| u.id)
        });
        let (id, created) = match existing {
            Some(id) => (id, false),
            None => (
                self.ensure_user(
                    &upsert.email,
                    Some(&upsert.name),
                    upsert.role.unwrap_or(Role::EndUser),
                    now,
                ),
                true,
            ),
        };
        if let Some(user) = self.users.get_mut(&id) {
            user.name = upsert.name.trim().to_owned();
            if user.email.is_none() {
                user.email = Some(upsert.email.trim().to_owned());
                self.by_email.insert(email_key(&upsert.email), id);
            }
            if let Some(role) = upsert.role {
                user.role = role;
            }
            if let Some(external_id) = &upsert.external_id {
                user.external_id = Some(external_id.clone());
            }
            if let Some(verified) = upsert.verified {
                user.verified = Some(verified);
            }
            user.updated_at = Some(whole(now));
        }
        Ok((id, created))
    }

    fn check_user(&self, field: &str, label: &str, id: Id) -> Result<&User, ApiError> {
        self.users
            .get(&id)
            .ok_or_else(|| ApiError::invalid(field, format!("{label}: {id} is not a valid user")))
    }

    fn check_agent(&self, id: Id) -> Result<(), ApiError> {
        let user = self.check_user("assignee_id", "Assignee", id)?;
        if user.role.is_staff() {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "assignee_id",
                format!("Assignee: {} is not an agent", user.name),
            ))
        }
    }

    fn check_group(&self, id: Id) -> Result<(), ApiError> {
        if self.groups.iter().any(|g| g.id == id && g.deleted != Some(true)) {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "group_id",
                format!("Group: {id} is not a valid group"),
            ))
        }
    }

    // -- tickets ------------------------------------------------------------

    /// `POST /api/v2/tickets`: the new ticket's id and its first audit's id.
    pub fn create_ticket(
        &mut self,
        new: &NewTicket,
        actor: Id,
        now: DateTime<Utc>,
    ) -> Result<(Id, Id), ApiError> {
        let prepared = self.prepare_create(new, actor, now)?;
        let source = new.via_followup_source_id;
        let id = take(&mut self.next.ticket);
        let audit_id = self.commit(id, None, prepared, actor, now);
        if let Some(source_id) = source {
            self.link_followup(source_id, id, now);
        }
        Ok((id, audit_id))
    }

    fn prepare_create(&self, new: &NewTicket, actor: Id, now: DateTime<Utc>) -> Result<Prepared, ApiError> {
        let now = whole(now);
        let (requester_id, requester) = match (&new.requester, new.requester_id) {
            (Some(spec), _) => {
                if !looks_like_email(&spec.email) {
                    return Err(ApiError::invalid(
                        "requester",
                        format!("Requester: Email: {} is not properly formatted", spec.email),
                    ));
                }
                let known = self.user_by_email(&spec.email).map(|u| u.id);
                (known, Some((spec.email.clone(), spec.name.clone())))
            }
            (None, Some(id)) => {
                self.check_user("requester_id", "Requester", id)?;
                (Some(id), None)
            }
            (None, None) => (Some(actor), None),
        };
        let mut via = api_via();
        if let Some(source_id) = new.via_followup_source_id {
            let source = self
                .tickets
                .get(&source_id)
                .filter(|t| t.status != Status::Deleted);
            match source {
                Some(source) if source.status == Status::Closed => {
                    via.source = Some(json!({
                        "from": { "ticket_id": source_id, "subject": source.subject },
                        "to": {},
                        "rel": "follow_up",
                    }));
                }
                Some(source) => {
                    return Err(ApiError::invalid(
                        "via_followup_source_id",
                        format!(
                            "Via followup source: ticket {source_id} is {}, only closed tickets can be followed up",
                            source.status
                        ),
                    ));
                }
                None => {
                    return Err(ApiError::invalid(
                        "via_followup_source_id",
                        format!("Via followup source: ticket {source_id} does not exist"),
                    ));
                }
            }
        }
        let assignee_id = match (&new.assignee_email, new.assignee_id) {
            (Some(email), _) => Some(self.agent_by_email(email)?),
            (None, Some(id)) => {
                self.check_agent(id)?;
                Some(id)
            }
            (None, None) => None,
        };
        if let Some(group_id) = new.group_id {
            self.check_group(group_id)?;
        }
        if let Some(submitter_id) = new.submitter_id {
            self.check_user("submitter_id", "Submitter", submitter_id)?;
        }
        check_priority(new.priority.as_deref())?;
        check_type(new.ticket_type.as_deref())?;
        let fallback = if assignee_id.is_some() {
            Status::Open
        } else {
            Status::New
        };
        let (mut status, mut custom_status_id) =
            self.resolve_status(None, new.status, new.custom_status_id, fallback)?;
        if status == Status::New && assignee_id.is_some() {
            status = Status::Open;
            custom_status_id = self.default_custom_status(StatusCategory::Open);
        }
        let assignee_id = self.solver(status, assignee_id, actor)?;
        // "The submitter is the user who created a ticket. By default, the
        // requester of a ticket is the submitter. [...] The submitter is
        // always the first comment author [...] Exception: If the ticket is
        // created as a follow-up ticket [...] any submitter_id attribute is
        // ignored. The API sets whoever created the follow-up ticket (for
        // the API, always the authenticated user) as the first comment
        // author" (developer.zendesk.com, Tickets, "Requesters and
        // submitters"). A comment's own `author_id` names its author.
        let follow_up = new.via_followup_source_id.is_some();
        let submitter = match new.submitter_id {
            Some(id) if !follow_up => Author::User(id),
            _ if follow_up => Author::User(actor),
            _ => Author::Requester,
        };
        let author = new.comment.author_id.map_or(submitter, Author::User);
        let comment = self.prepare_comment(&new.comment, author)?;
        let Some(comment) = comment else {
            return Err(ApiError::invalid("description", "Description: cannot be blank"));
        };
        for cc in &new.email_ccs {
            check_cc(cc)?;
        }
        let mut ticket = Ticket {
            id: 0,
            url: None,
            external_id: new.external_id.clone(),
            via: Some(via),
            created_at: now,
            updated_at: now,
            generated_timestamp: None,
            ticket_type: new.ticket_type.clone(),
            subject: new.subject.clone(),
            raw_subject: new.subject.clone(),
            description: Some(comment.body.clone()),
            priority: new.priority.clone(),
            status,
            custom_status_id,
            recipient: None,
            requester_id,
            submitter_id: match submitter {
                Author::User(id) => Some(id),
                Author::Requester => requester_id,
            },
            assignee_id,
            organization_id: None,
            group_id: new.group_id,
            collaborator_ids: Vec::new(),
            follower_ids: Vec::new(),
            email_cc_ids: Vec::new(),
            problem_id: None,
            has_incidents: Some(false),
            is_public: Some(comment.public),
            due_at: new.due_at.map(whole),
            tags: normalize_tags(&new.tags),
            custom_fields: self.empty_custom_fields(),
            satisfaction_rating: None,
            via_followup_source_id: new.via_followup_source_id,
            followup_ids: Vec::new(),
            ticket_form_id: new.ticket_form_id,
            brand_id: new.brand_id,
            allow_channelback: Some(false),
            allow_attachments: Some(true),
            ..Ticket::default()
        };
        self.set_custom_fields(&mut ticket, &new.custom_fields);
        Ok(Prepared {
            ticket,
            comment: Some(comment),
            cc_add: new
                .email_ccs
                .iter()
                .filter(|c| c.action != "delete")
                .cloned()
                .collect(),
            cc_remove: Vec::new(),
            requester: if requester_id.is_none() { requester } else { None },
            custom: custom_metadata(new.metadata.as_ref()),
        })
    }

    /// `PUT /api/v2/tickets/{id}`. `cleared` names the fields the request set
    /// to an explicit `null` (e.g. `assignee_id` to unassign). Returns the
    /// audit's id.
    pub fn update_ticket(
        &mut self,
        id: Id,
        update: &TicketUpdate,
        cleared: &BTreeSet<String>,
        actor: Id,
        now: DateTime<Utc>,
    ) -> Result<Id, ApiError> {
        let old = self.ticket(id)?;
        check_stamp(old, update.safe_update == Some(true), update.updated_stamp)?;
        if old.status == Status::Closed {
            return Err(ApiError::closed());
        }
        let prepared = self.prepare_update(old, update, cleared, actor)?;
        let old = old.clone();
        Ok(self.commit(id, Some(old), prepared, actor, now))
    }

    fn prepare_update(
        &self,
        old: &Ticket,
        update: &TicketUpdate,
        cleared: &BTreeSet<String>,
        actor: Id,
    ) -> Result<Prepared, ApiError> {
        let mut ticket = old.clone();
        let is_cleared = |field: &str| cleared.contains(field);
        if let Some(subject) = &update.subject {
            ticket.subject = Some(subject.clone());
            ticket.raw_subject = Some(subject.clone());
        }
        if let Some(email) = &update.assignee_email {
            ticket.assignee_id = Some(self.agent_by_email(email)?);
        } else if let Some(assignee_id) = update.assignee_id {
            self.check_agent(assignee_id)?;
            ticket.assignee_id = Some(assignee_id);
        } else if is_cleared("assignee_id") {
            ticket.assignee_id = None;
        }
        if let Some(group_id) = update.group_id {
            self.check_group(group_id)?;
            ticket.group_id = Some(group_id);
        } else if is_cleared("group_id") {
            ticket.group_id = None;
        }
        if let Some(requester_id) = update.requester_id {
            self.check_user("requester_id", "Requester", requester_id)?;
            ticket.requester_id = Some(requester_id);
        }
        if update.priority.is_some() || is_cleared("priority") {
            check_priority(update.priority.as_deref())?;
            ticket.priority = update.priority.clone();
        }
        if update.ticket_type.is_some() || is_cleared("type") {
            check_type(update.ticket_type.as_deref())?;
            ticket.ticket_type = update.ticket_type.clone();
        }
        match update.due_at {
            Some(due_at) => ticket.due_at = due_at.map(whole),
            None if is_cleared("due_at") => ticket.due_at = None,
            None => {}
        }
        if let Some(external_id) = &update.external_id {
            ticket.external_id = Some(external_id.clone());
        } else if is_cleared("external_id") {
            ticket.external_id = None;
        }
        let (mut status, mut custom_status_id) = self.resolve_status(
            Some((old.status, old.custom_status_id)),
            update.status,
            update.custom_status_id,
            old.status,
        )?;
        if status == Status::New && old.status != Status::New {
            return Err(ApiError::invalid(
                "status",
                "Status: new is not valid for a ticket that has left new",
            ));
        }
        if status == Status::New && ticket.assignee_id.is_some() {
            status = Status::Open;
            custom_status_id = self.default_custom_status(StatusCategory::Open);
        }
        ticket.status = status;
        ticket.custom_status_id = custom_status_id;
        ticket.assignee_id = self.solver(status, ticket.assignee_id, actor)?;
        if let Some(tags) = &update.tags {
            ticket.tags = normalize_tags(tags);
        }
        if let Some(add) = &update.additional_tags {
            ticket.tags = add_tags(&ticket.tags, add);
        }
        if let Some(remove) = &update.remove_tags {
            ticket.tags = remove_tags(&ticket.tags, remove);
        }
        if let Some(values) = &update.custom_fields {
            self.set_custom_fields(&mut ticket, values);
        }
        let comment = match &update.comment {
            // "If null or omitted on create, defaults to the authenticated
            // user" (Ticket Comments, `author_id`).
            Some(comment) => {
                self.prepare_comment(comment, Author::User(comment.author_id.unwrap_or(actor)))?
            }
            None => None,
        };
        let mut cc_add = Vec::new();
        let mut cc_remove = Vec::new();
        for cc in update.email_ccs.iter().flatten() {
            check_cc(cc)?;
            if cc.action == "delete" {
                cc_remove.push(cc.user_email.clone());
            } else {
                cc_add.push(cc.clone());
            }
        }
        Ok(Prepared {
            ticket,
            comment,
            cc_add,
            cc_remove,
            requester: None,
            custom: custom_metadata(update.metadata.as_ref()),
        })
    }

    /// The tag endpoints: change the list, bump the ticket, audit it. With
    /// `guard` (a `safe_update`'s stamp) a stale stamp gives 409.
    pub fn change_tags(
        &mut self,
        id: Id,
        change: TagChange,
        tags: &[String],
        guard: Option<DateTime<Utc>>,
        actor: Id,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, ApiError> {
        let old = self.ticket(id)?;
        check_stamp(old, guard.is_some(), guard)?;
        if old.status == Status::Closed {
            return Err(ApiError::closed());
        }
        let mut ticket = old.clone();
        ticket.tags = match change {
            TagChange::Add => add_tags(&old.tags, tags),
            TagChange::Replace => normalize_tags(tags),
            TagChange::Remove => remove_tags(&old.tags, tags),
        };
        let prepared = Prepared {
            ticket,
            comment: None,
            cc_add: Vec::new(),
            cc_remove: Vec::new(),
            requester: None,
            custom: json!({}),
        };
        let old = old.clone();
        self.commit(id, Some(old), prepared, actor, now);
        Ok(self.tickets.get(&id).map(|t| t.tags.clone()).unwrap_or_default())
    }

    /// `DELETE /api/v2/tickets/{id}`: the ticket shows as `deleted` in the
    /// export and is gone everywhere else.
    pub fn delete_ticket(&mut self, id: Id, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.ticket(id)?;
        if let Some(ticket) = self.tickets.get_mut(&id) {
            ticket.status = Status::Deleted;
            ticket.updated_at = bump(ticket.updated_at, now);
            ticket.generated_timestamp = Some(ticket.updated_at.timestamp());
        }
        self.record_change(id);
        Ok(())
    }

    /// Stores a checked write: timestamps, comment, audit, export position.
    fn commit(
        &mut self,
        id: Id,
        old: Option<Ticket>,
        prepared: Prepared,
        actor: Id,
        now: DateTime<Utc>,
    ) -> Id {
        let Prepared {
            mut ticket,
            comment,
            cc_add,
            cc_remove,
            requester,
            custom,
        } = prepared;
        ticket.id = id;
        if let Some((email, name)) = requester {
            let requester_id = self.ensure_user(&email, name.as_deref(), Role::EndUser, now);
            ticket.requester_id = Some(requester_id);
        }
        if old.is_none() && ticket.submitter_id.is_none() {
            ticket.submitter_id = ticket.requester_id;
        }
        for cc in &cc_add {
            let user = self.ensure_user(&cc.user_email, cc.user_name.as_deref(), Role::EndUser, now);
            push_unique(&mut ticket.email_cc_ids, user);
            push_unique(&mut ticket.collaborator_ids, user);
        }
        for email in &cc_remove {
            if let Some(user) = self.user_by_email(email).map(|u| u.id) {
                ticket.email_cc_ids.retain(|&u| u != user);
                ticket.collaborator_ids.retain(|&u| u != user);
            }
        }
        let at = match &old {
            Some(old) => bump(old.updated_at, now),
            None => whole(now),
        };
        if old.is_none() {
            ticket.created_at = at;
        }
        ticket.updated_at = at;
        ticket.generated_timestamp = Some(at.timestamp());
        let comment_public = comment.as_ref().map(|c| c.public);
        // "is_public: Is true if any comments are public, false otherwise"
        // (developer.zendesk.com, Tickets, JSON format).
        if comment_public == Some(true) {
            ticket.is_public = Some(true);
        }

        let audit_id = self.next_event();
        let mut events = Vec::new();
        if let Some(comment) = comment {
            let author_id = match comment.author {
                Author::User(id) => id,
                Author::Requester => ticket.requester_id.unwrap_or(actor),
            };
            let comment_id = self.next_event();
            let attachments: Vec<Attachment> = comment
                .attachment_ids
                .iter()
                .filter_map(|a| self.attachments.get(a).map(|s| s.meta.clone()))
                .collect();
            for token in &comment.tokens {
                self.uploads.remove(token);
            }
            events.push(AuditEvent {
                id: comment_id,
                event_type: "Comment".to_owned(),
                author_id: Some(author_id),
                body: Some(comment.body.clone()),
                html_body: Some(comment.html_body.clone()),
                plain_body: Some(comment.body.clone()),
                public: Some(comment.public),
                attachments: Some(attachments.clone()),
                field_name: None,
                value: None,
                previous_value: None,
                via: None,
                ..AuditEvent::default()
            });
            self.comments.entry(id).or_default().push(Comment {
                id: comment_id,
                comment_type: Some("Comment".to_owned()),
                body: comment.body.clone(),
                html_body: Some(comment.html_body),
                plain_body: Some(comment.body),
                public: comment.public,
                author_id: Some(author_id),
                attachments,
                audit_id: Some(audit_id),
                via: Some(api_via()),
                metadata: Some(comment_metadata(
                    comment.public,
                    self.users.get(&author_id).map(|u| u.role),
                )),
                created_at: Some(at),
            });
        }
        for (field_name, value, previous_value) in field_changes(old.as_ref(), &ticket) {
            let event_id = self.next_event();
            let is_create = old.is_none();
            events.push(AuditEvent {
                id: event_id,
                event_type: if is_create { "Create" } else { "Change" }.to_owned(),
                author_id: None,
                body: None,
                html_body: None,
                plain_body: None,
                public: None,
                attachments: None,
                field_name: Some(field_name),
                value: Some(value),
                previous_value: if is_create { None } else { Some(previous_value) },
                via: None,
                ..AuditEvent::default()
            });
        }
        // The account's triggers run on every API create and update, before
        // the write is stored: their changes are part of the same audit,
        // each a `Change` event "via" the trigger ("The ticket event log
        // only records the actions applied to tickets by triggers if they
        // result in a net change in ticket field values",
        // support.zendesk.com article 4408886797466; the audit example of
        // Zendesk's Ticket Audits page shows such an event with `"via":
        // {"channel": "rule", ... "rel": "trigger"}`).
        let update = triggers::Update {
            previous: old.as_ref(),
            actor,
            actor_role: self.users.get(&actor).map(|u| u.role),
            comment_public,
            via_id: triggers::VIA_API,
        };
        let firings = triggers::run(&self.triggers, &mut ticket, &update, &*self);
        let mut requests = Vec::new();
        for firing in firings {
            for (field_name, value, previous_value) in field_changes(Some(&firing.before), &firing.after) {
                events.push(AuditEvent {
                    id: self.next_event(),
                    event_type: "Change".to_owned(),
                    field_name: Some(field_name),
                    value: Some(value),
                    previous_value: Some(previous_value),
                    via: Some(rule_via(firing.trigger_id, &firing.trigger_title)),
                    ..AuditEvent::default()
                });
            }
            requests.extend(firing.notifications);
        }
        self.audits.entry(id).or_default().push(Audit {
            id: audit_id,
            ticket_id: id,
            created_at: at,
            author_id: Some(actor),
            via: Some(api_via()),
            metadata: Some(json!({ "system": { "client": "carteiro-sim" }, "custom": custom })),
            events,
        });
        self.tickets.insert(id, ticket);
        self.record_change(id);
        // The e-mails are made from the ticket as the cycle left it.
        let occasion = Occasion {
            ticket_id: id,
            audit_id,
            actor,
            comment_public,
            now: at,
        };
        let notifications = self.notify(occasion, &requests);
        if let Some(audit) = self.audits.get_mut(&id).and_then(|a| a.last_mut()) {
            audit.events.extend(notifications);
        }
        audit_id
    }

    /// A follow-up links back from its closed source. That is a system
    /// update: the source's `generated_timestamp` moves, `updated_at` not.
    fn link_followup(&mut self, source_id: Id, followup_id: Id, now: DateTime<Utc>) {
        if let Some(source) = self.tickets.get_mut(&source_id) {
            push_unique(&mut source.followup_ids, followup_id);
            let generated = source.generated_timestamp.unwrap_or(0);
            source.generated_timestamp = Some(whole(now).timestamp().max(generated));
        }
        self.record_change(source_id);
    }

    fn record_change(&mut self, id: Id) {
        self.last_change = self.last_change.saturating_add(1);
        if let Some(previous) = self.change_of.insert(id, self.last_change) {
            self.changes.remove(&previous);
        }
        self.changes.insert(self.last_change, id);
    }

    /// The id a new trigger gets.
    pub(super) fn next_trigger_id(&mut self) -> Id {
        take(&mut self.next.trigger)
    }

    pub(super) fn next_event(&mut self) -> Id {
        take(&mut self.next.event)
    }

    /// The assignee a ticket ends a write with. A solved or closed ticket
    /// needs one: "A ticket's status can't be set to Solved by an end user
    /// or agent without an assignee. If the setting auto assign tickets
    /// upon solve is turned on, when an agent submits a ticket as Solved
    /// and there is no assignee, the system automatically makes the agent
    /// who solved the ticket the assignee" (support.zendesk.com, "About
    /// native system ticket rules", article 4408894213018).
    fn solver(&self, status: Status, assignee_id: Option<Id>, actor: Id) -> Result<Option<Id>, ApiError> {
        if assignee_id.is_some() || !matches!(status, Status::Solved | Status::Closed) {
            return Ok(assignee_id);
        }
        let actor_is_agent = self.users.get(&actor).is_some_and(|u| u.role.is_staff());
        if self.settings.tickets.assign_tickets_upon_solve && actor_is_agent {
            return Ok(Some(actor));
        }
        let field_id = self
            .ticket_fields
            .iter()
            .find(|f| f.field_type == "assignee")
            .map(|f| f.id);
        Err(ApiError::assignee_required(field_id))
    }

    fn agent_by_email(&self, email: &str) -> Result<Id, ApiError> {
        match self.user_by_email(email) {
            Some(user) if user.role.is_staff() => Ok(user.id),
            Some(user) => Err(ApiError::invalid(
                "assignee_id",
                format!("Assignee: {} is not an agent", user.name),
            )),
            None => Err(ApiError::invalid(
                "assignee_id",
                format!("Assignee: no agent has the e-mail {email}"),
            )),
        }
    }

    /// Checks a comment and resolves its upload tokens. `None` when it has
    /// neither text nor files (Zendesk ignores such a comment on update).
    fn prepare_comment(
        &self,
        comment: &NewComment,
        author: Author,
    ) -> Result<Option<PreparedComment>, ApiError> {
        if let Author::User(author_id) = author {
            self.check_user("author_id", "Author", author_id)?;
        }
        let (body, html_body) = match (&comment.body, &comment.html_body) {
            (_, Some(html)) if !html.trim().is_empty() => {
                let body = comment
                    .body
                    .clone()
                    .filter(|b| !b.trim().is_empty())
                    .unwrap_or_else(|| strip_html(html));
                (body, html.clone())
            }
            (Some(body), _) => (body.clone(), html_from_text(body)),
            (None, _) => (String::new(), String::new()),
        };
        let mut attachment_ids = Vec::new();
        let mut tokens = Vec::new();
        for token in &comment.uploads {
            if let Some(upload) = self.uploads.get(token) {
                attachment_ids.extend(upload.attachment_ids.iter().copied());
                tokens.push(token.clone());
            }
        }
        if body.trim().is_empty() && attachment_ids.is_empty() {
            return Ok(None);
        }
        Ok(Some(PreparedComment {
            author,
            body,
            html_body,
            public: comment.public,
            attachment_ids,
            tokens,
        }))
    }

    /// Works out `status` and `custom_status_id` together: a custom status
    /// sets the status of its category, and the two must agree.
    fn resolve_status(
        &self,
        current: Option<(Status, Option<Id>)>,
        status: Option<Status>,
        custom_status_id: Option<Id>,
        fallback: Status,
    ) -> Result<(Status, Option<Id>), ApiError> {
        if let Some(custom_id) = custom_status_id {
            let Some(custom) = self.custom_statuses.iter().find(|c| c.id == custom_id) else {
                return Err(ApiError::invalid(
                    "custom_status_id",
                    format!("Custom status: {custom_id} is not a valid custom status"),
                ));
            };
            if !custom.active {
                return Err(ApiError::invalid(
                    "custom_status_id",
                    format!("Custom status: {} is not active", custom.agent_label),
                ));
            }
            let category_status = custom.status_category.status();
            let status = match status {
                None => category_status,
                Some(Status::Closed) if category_status == Status::Solved => Status::Closed,
                Some(status) if status == category_status => status,
                Some(status) => {
                    return Err(ApiError::invalid(
                        "status",
                        format!(
                            "Status: {status} does not match custom status {} (category {category_status})",
                            custom.agent_label
                        ),
                    ));
                }
            };
            return Ok((status, Some(custom_id)));
        }
        match (status, current) {
            (Some(Status::Deleted), _) => Err(ApiError::invalid("status", "Status: deleted is not valid")),
            (Some(status), current) => {
                let category = category_of(status);
                let keep = current.and_then(|(_, custom)| custom).filter(|custom| {
                    self.custom_statuses
                        .iter()
                        .any(|c| c.id == *custom && Some(c.status_category) == category)
                });
                let custom = keep.or_else(|| category.and_then(|c| self.default_custom_status(c)));
                Ok((status, custom))
            }
            (None, Some(current)) => Ok(current),
            (None, None) => Ok((
                fallback,
                category_of(fallback).and_then(|c| self.default_custom_status(c)),
            )),
        }
    }

    /// `custom_fields` with every active custom field, unset (as Zendesk
    /// lists them on a new ticket).
    pub(super) fn empty_custom_fields(&self) -> Vec<CustomFieldValue> {
        let mut fields: Vec<CustomFieldValue> = self
            .ticket_fields
            .iter()
            .filter(|f| f.active != Some(false) && is_custom_field_type(&f.field_type))
            .map(|f| CustomFieldValue {
                id: f.id,
                value: if f.field_type == "checkbox" {
                    Value::Bool(false)
                } else {
                    Value::Null
                },
            })
            .collect();
        fields.sort_by_key(|f| f.id);
        fields
    }

    /// Sets custom field values; drop-down, multi-select and checkbox fields
    /// keep their tags in step, as in Zendesk.
    fn set_custom_fields(&self, ticket: &mut Ticket, values: &[CustomFieldValue]) {
        for value in values {
            let old = ticket.custom_field(value.id).cloned().unwrap_or(Value::Null);
            match ticket.custom_fields.iter_mut().find(|f| f.id == value.id) {
                Some(slot) => slot.value = value.value.clone(),
                None => ticket.custom_fields.push(value.clone()),
            }
            if let Some(field) = self.ticket_fields.iter().find(|f| f.id == value.id) {
                let (remove, add) = field_tags(field, &old, &value.value);
                ticket.tags = add_tags(&remove_tags(&ticket.tags, &remove), &add);
            }
        }
        ticket.custom_fields.sort_by_key(|f| f.id);
    }

    // -- bulk jobs ----------------------------------------------------------

    /// `create_many`: creates every ticket now (an item that did not decode
    /// fails alone), and returns the job id whose results say which index
    /// got which id.
    pub fn create_many(
        &mut self,
        tickets: &[Result<NewTicket, ApiError>],
        actor: Id,
        now: DateTime<Utc>,
    ) -> String {
        let mut results = Vec::with_capacity(tickets.len());
        for (index, item) in tickets.iter().enumerate() {
            let index = Some(index as u64);
            let outcome = match item {
                Ok(new) => self.create_ticket(new, actor, now).map(|(id, _)| id),
                Err(err) => Err(err.clone()),
            };
            results.push(match outcome {
                Ok(id) => JobResult {
                    id: Some(id),
                    index,
                    action: None,
                    success: None,
                    status: None,
                    error: None,
                    details: None,
                    external_id: None,
                },
                Err(err) => JobResult {
                    id: None,
                    index,
                    action: Some("create".to_owned()),
                    success: Some(false),
                    status: Some("Failed".to_owned()),
                    error: Some(err.code()),
                    details: Some(err.detail_text()),
                    external_id: item.as_ref().ok().and_then(|n| n.external_id.clone()),
                },
            });
        }
        self.add_job(results)
    }

    /// `update_many`: applies each update now, and returns the job id whose
    /// results say which succeeded. An item is the ticket id and the update
    /// with its explicitly cleared fields, or why it did not decode.
    pub fn update_many(&mut self, updates: &[BulkUpdate], actor: Id, now: DateTime<Utc>) -> String {
        let mut results = Vec::with_capacity(updates.len());
        for (id, item) in updates {
            let outcome = match (id, item) {
                (_, Err(err)) => Err(err.clone()),
                (Some(id), Ok((update, cleared))) => self.update_ticket(*id, update, cleared, actor, now),
                (None, Ok(_)) => Err(ApiError::invalid("id", "Id: is required for update_many")),
            };
            results.push(match outcome {
                Ok(_) => JobResult {
                    id: *id,
                    index: None,
                    action: Some("update".to_owned()),
                    success: Some(true),
                    status: Some("Updated".to_owned()),
                    error: None,
                    details: None,
                    external_id: None,
                },
                Err(err) => JobResult {
                    id: *id,
                    index: None,
                    action: Some("update".to_owned()),
                    success: Some(false),
                    status: Some("Failed".to_owned()),
                    error: Some(if err.status == 404 {
                        "TicketNotFound".to_owned()
                    } else {
                        err.code()
                    }),
                    details: Some(err.detail_text()),
                    external_id: None,
                },
            });
        }
        self.add_job(results)
    }

    fn add_job(&mut self, results: Vec<JobResult>) -> String {
        let n = take(&mut self.next.job);
        let id = format!("{:016x}{:016x}", mix(n), mix(n ^ 0x9e37_79b9));
        self.jobs.insert(
            id.clone(),
            Job {
                id: id.clone(),
                total: results.len() as u64,
                results,
                polls: 0,
            },
        );
        id
    }

    /// The job as first reported, right after it was queued.
    pub fn job_queued(&self, id: &str) -> Option<JobView> {
        let job = self.jobs.get(id)?;
        Some(JobView {
            id: job.id.clone(),
            total: job.total,
            progress: None,
            state: JobState::Queued,
            message: None,
            results: None,
        })
    }

    /// One poll of a job: `queued`/`working` for the first `delay` polls,
    /// then `completed` with its results.
    pub fn poll_job(&mut self, id: &str, delay: u32, now: DateTime<Utc>) -> Option<JobView> {
        let job = self.jobs.get_mut(id)?;
        job.polls = job.polls.saturating_add(1);
        Some(job_view(job, delay, now))
    }

    /// A job as it would answer now, without counting a poll.
    pub fn peek_job(&self, id: &str, delay: u32, now: DateTime<Utc>) -> Option<JobView> {
        self.jobs.get(id).map(|job| job_view(job, delay, now))
    }

    // -- custom statuses ----------------------------------------------------

    /// `POST /api/v2/custom_statuses`.
    pub fn create_custom_status(
        &mut self,
        input: &CustomStatusInput,
        now: DateTime<Utc>,
    ) -> Result<Id, ApiError> {
        let Some(category) = input.status_category else {
            return Err(ApiError::invalid(
                "status_category",
                "Status category: cannot be blank",
            ));
        };
        let Some(label) = input.agent_label.clone().filter(|l| !l.trim().is_empty()) else {
            return Err(ApiError::invalid("agent_label", "Agent label: cannot be blank"));
        };
        self.check_label_free(category, &label, None)?;
        let id = take(&mut self.next.custom_status);
        let now = whole(now);
        let end_user_label = input.end_user_label.clone().unwrap_or_else(|| label.clone());
        self.custom_statuses.push(CustomStatus {
            id,
            url: None,
            status_category: category,
            agent_label: label.clone(),
            raw_agent_label: Some(label),
            end_user_label: Some(end_user_label.clone()),
            raw_end_user_label: Some(end_user_label),
            description: input.description.clone(),
            raw_description: input.description.clone(),
            end_user_description: input.end_user_description.clone(),
            raw_end_user_description: input.end_user_description.clone(),
            active: input.active.unwrap_or(true),
            default: false,
            created_at: Some(now),
            updated_at: Some(now),
        });
        Ok(id)
    }

    /// `PUT /api/v2/custom_statuses/{id}`.
    pub fn update_custom_status(
        &mut self,
        id: Id,
        input: &CustomStatusInput,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let Some(current) = self.custom_statuses.iter().find(|c| c.id == id) else {
            return Err(ApiError::not_found());
        };
        if input
            .status_category
            .is_some_and(|c| c != current.status_category)
        {
            return Err(ApiError::invalid(
                "status_category",
                "Status category: cannot be changed",
            ));
        }
        if input.active == Some(false) && current.default {
            return Err(ApiError::invalid(
                "active",
                "Active: a default status cannot be deactivated",
            ));
        }
        if let Some(label) = &input.agent_label {
            if label.trim().is_empty() {
                return Err(ApiError::invalid("agent_label", "Agent label: cannot be blank"));
            }
            self.check_label_free(current.status_category, label, Some(id))?;
        }
        let Some(custom) = self.custom_statuses.iter_mut().find(|c| c.id == id) else {
            return Err(ApiError::not_found());
        };
        if let Some(label) = &input.agent_label {
            custom.agent_label = label.clone();
            custom.raw_agent_label = Some(label.clone());
        }
        if let Some(label) = &input.end_user_label {
            custom.end_user_label = Some(label.clone());
            custom.raw_end_user_label = Some(label.clone());
        }
        if let Some(description) = &input.description {
            custom.description = Some(description.clone());
            custom.raw_description = Some(description.clone());
        }
        if let Some(description) = &input.end_user_description {
            custom.end_user_description = Some(description.clone());
            custom.raw_end_user_description = Some(description.clone());
        }
        if let Some(active) = input.active {
            custom.active = active;
        }
        custom.updated_at = Some(whole(now));
        Ok(())
    }

    fn check_label_free(
        &self,
        category: StatusCategory,
        label: &str,
        except: Option<Id>,
    ) -> Result<(), ApiError> {
        let taken = self.custom_statuses.iter().any(|c| {
            Some(c.id) != except
                && c.status_category == category
                && c.agent_label.eq_ignore_ascii_case(label.trim())
        });
        if taken {
            Err(ApiError::invalid(
                "agent_label",
                format!("Agent label: {label} has already been taken"),
            ))
        } else {
            Ok(())
        }
    }

    // -- uploads ------------------------------------------------------------

    /// `POST /api/v2/uploads`: keeps the file and returns the token (a new one,
    /// or `token` when adding a file to an existing upload).
    pub fn add_upload(
        &mut self,
        token: Option<&str>,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        if file_name.trim().is_empty() {
            return Err(ApiError::invalid("filename", "Filename: cannot be blank"));
        }
        let token = match token {
            Some(token) if self.uploads.contains_key(token) => token.to_owned(),
            Some(token) => {
                return Err(ApiError::invalid(
                    "token",
                    format!("Token: {token} is not a valid upload token"),
                ));
            }
            None => {
                let n = take(&mut self.next.upload);
                let token = base36(mix(n ^ 0x5bd1_e995));
                self.uploads.insert(
                    token.clone(),
                    UploadRecord {
                        token: token.clone(),
                        expires_at: whole(now).checked_add_signed(UPLOAD_LIFETIME).unwrap_or(now),
                        attachment_ids: Vec::new(),
                    },
                );
                token
            }
        };
        let id = take(&mut self.next.attachment);
        let meta = Attachment {
            id,
            file_name: Some(file_name.to_owned()),
            name: None,
            content_url: None,
            content_type: Some(content_type.to_owned()),
            size: Some(bytes.len() as u64),
            inline: Some(false),
            url: None,
            thumbnails: Vec::new(),
        };
        self.attachments.insert(id, StoredAttachment { meta, bytes });
        if let Some(upload) = self.uploads.get_mut(&token) {
            upload.attachment_ids.push(id);
        }
        Ok(token)
    }
}

fn job_view(job: &Job, delay: u32, now: DateTime<Utc>) -> JobView {
    if job.polls <= delay {
        let working = job.polls > 1;
        JobView {
            id: job.id.clone(),
            total: job.total,
            progress: working.then_some(job.total / 2),
            state: if working {
                JobState::Working
            } else {
                JobState::Queued
            },
            message: None,
            results: None,
        }
    } else {
        JobView {
            id: job.id.clone(),
            total: job.total,
            progress: Some(job.total),
            state: JobState::Completed,
            message: Some(format!(
                "Completed at {}",
                whole(now).format("%Y-%m-%d %H:%M:%S %z")
            )),
            results: Some(job.results.clone()),
        }
    }
}

/// The five statuses every Zendesk account starts with.
fn default_custom_statuses(next_id: &mut Id, now: DateTime<Utc>) -> Vec<CustomStatus> {
    [
        (StatusCategory::New, "New", "Open"),
        (StatusCategory::Open, "Open", "Open"),
        (StatusCategory::Pending, "Pending", "Awaiting your reply"),
        (StatusCategory::Hold, "On-hold", "Open"),
        (StatusCategory::Solved, "Solved", "Solved"),
    ]
    .into_iter()
    .map(|(category, agent, end_user)| {
        let id = take(next_id);
        CustomStatus {
            id,
            url: None,
            status_category: category,
            agent_label: agent.to_owned(),
            raw_agent_label: Some(agent.to_owned()),
            end_user_label: Some(end_user.to_owned()),
            raw_end_user_label: Some(end_user.to_owned()),
            description: None,
            raw_description: None,
            end_user_description: None,
            raw_end_user_description: None,
            active: true,
            default: true,
            created_at: Some(now),
            updated_at: Some(now),
        }
    })
    .collect()
}

/// The category a built-in status belongs to; closed tickets keep a solved
/// custom status.
fn category_of(status: Status) -> Option<StatusCategory> {
    match status {
        Status::New => Some(StatusCategory::New),
        Status::Open => Some(StatusCategory::Open),
        Status::Pending => Some(StatusCategory::Pending),
        Status::Hold => Some(StatusCategory::Hold),
        Status::Solved | Status::Closed => Some(StatusCategory::Solved),
        Status::Deleted => None,
    }
}

/// Refuses a `safe_update` whose stamp is not the ticket's `updated_at`.
fn check_stamp(
    ticket: &Ticket,
    safe_update: bool,
    updated_stamp: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    match updated_stamp {
        Some(stamp) if safe_update && stamp.timestamp() != ticket.updated_at.timestamp() => {
            Err(ApiError::conflict())
        }
        _ => Ok(()),
    }
}

fn check_priority(priority: Option<&str>) -> Result<(), ApiError> {
    match priority {
        None | Some("urgent" | "high" | "normal" | "low") => Ok(()),
        Some(other) => Err(ApiError::invalid(
            "priority",
            format!("Priority: {other} is not a valid priority"),
        )),
    }
}

fn check_type(ticket_type: Option<&str>) -> Result<(), ApiError> {
    match ticket_type {
        None | Some("problem" | "incident" | "question" | "task") => Ok(()),
        Some(other) => Err(ApiError::invalid(
            "type",
            format!("Type: {other} is not a valid ticket type"),
        )),
    }
}

fn check_cc(cc: &EmailCc) -> Result<(), ApiError> {
    if !looks_like_email(&cc.user_email) {
        return Err(ApiError::invalid(
            "email_ccs",
            format!("Email CCs: {} is not properly formatted", cc.user_email),
        ));
    }
    if cc.action != "put" && cc.action != "delete" {
        return Err(ApiError::invalid(
            "email_ccs",
            format!("Email CCs: action {} is not put or delete", cc.action),
        ));
    }
    Ok(())
}

fn looks_like_email(email: &str) -> bool {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The field types Zendesk lists under `custom_fields`.
fn is_custom_field_type(field_type: &str) -> bool {
    matches!(
        field_type,
        "text"
            | "textarea"
            | "checkbox"
            | "date"
            | "integer"
            | "decimal"
            | "regexp"
            | "partialcreditcard"
            | "multiselect"
            | "tagger"
            | "lookup"
    )
}

/// The tags a field value change removes and adds.
fn field_tags(field: &TicketField, old: &Value, new: &Value) -> (Vec<String>, Vec<String>) {
    let strings = |value: &Value| -> Vec<String> {
        match value {
            Value::String(s) if !s.is_empty() => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    match field.field_type.as_str() {
        "tagger" | "multiselect" => (strings(old), strings(new)),
        "checkbox" => match field.tag.as_deref().filter(|t| !t.is_empty()) {
            Some(tag) if new.as_bool() == Some(true) => (Vec::new(), vec![tag.to_owned()]),
            Some(tag) => (vec![tag.to_owned()], Vec::new()),
            None => (Vec::new(), Vec::new()),
        },
        _ => (Vec::new(), Vec::new()),
    }
}

/// Zendesk's tags: no spaces (a space separates two tags), no duplicates.
pub fn normalize_tags<S: AsRef<str>>(tags: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags.iter().flat_map(|t| t.as_ref().split_whitespace()) {
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_owned());
        }
    }
    out
}

pub(super) fn add_tags<S: AsRef<str>>(current: &[String], add: &[S]) -> Vec<String> {
    let mut all: Vec<String> = current.to_vec();
    all.extend(normalize_tags(add));
    normalize_tags(&all)
}

pub(super) fn remove_tags<S: AsRef<str>>(current: &[String], remove: &[S]) -> Vec<String> {
    let remove = normalize_tags(remove);
    current.iter().filter(|t| !remove.contains(t)).cloned().collect()
}

fn push_unique(ids: &mut Vec<Id>, id: Id) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

/// The `Create`/`Change` events of a write: (field, new value, old value).
fn field_changes(old: Option<&Ticket>, new: &Ticket) -> Vec<(String, Value, Value)> {
    let id = |v: Option<Id>| v.map_or(Value::Null, |v| Value::String(v.to_string()));
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let fields = |t: &Ticket| -> Vec<(String, Value)> {
        let mut fields = vec![
            ("subject".to_owned(), text(&t.subject)),
            ("status".to_owned(), Value::String(t.status.as_str().to_owned())),
            ("custom_status_id".to_owned(), id(t.custom_status_id)),
            ("priority".to_owned(), text(&t.priority)),
            ("type".to_owned(), text(&t.ticket_type)),
            ("requester_id".to_owned(), id(t.requester_id)),
            ("assignee_id".to_owned(), id(t.assignee_id)),
            ("group_id".to_owned(), id(t.group_id)),
            ("tags".to_owned(), json!(t.tags)),
            (
                "due_at".to_owned(),
                t.due_at.map_or(Value::Null, |d| Value::String(d.to_rfc3339())),
            ),
            ("external_id".to_owned(), text(&t.external_id)),
            ("email_cc_ids".to_owned(), json!(t.email_cc_ids)),
        ];
        for field in &t.custom_fields {
            fields.push((field.id.to_string(), field.value.clone()));
        }
        fields
    };
    let new_fields = fields(new);
    match old {
        None => new_fields
            .into_iter()
            .filter(|(name, value)| {
                !value.is_null() || matches!(name.as_str(), "subject" | "type" | "priority")
            })
            .filter(|(_, value)| value.as_array().is_none_or(|a| !a.is_empty()))
            .map(|(name, value)| (name, value, Value::Null))
            .collect(),
        Some(old) => {
            let old_fields: BTreeMap<String, Value> = fields(old).into_iter().collect();
            new_fields
                .into_iter()
                .filter_map(|(name, value)| {
                    let previous = old_fields.get(&name).cloned().unwrap_or(Value::Null);
                    (previous != value).then_some((name, value, previous))
                })
                .collect()
        }
    }
}

/// How a ticket created over the API came in.
/// What a write's `metadata` becomes in its audit's `metadata.custom`: an
/// object as sent, anything else (or nothing) an empty object.
fn custom_metadata(sent: Option<&Value>) -> Value {
    match sent {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        _ => json!({}),
    }
}

/// A comment's `metadata`. A private comment by an end user is kept
/// private and flagged 17, "This is a private comment created by an end
/// user" (developer.zendesk.com, Ticket Comments, "Comment flags"): agents
/// see it flagged, the requester never sees it.
fn comment_metadata(public: bool, author: Option<Role>) -> Value {
    let mut metadata = json!({ "system": {}, "custom": {} });
    if !public && author == Some(Role::EndUser) {
        metadata["flags"] = json!([17]);
    }
    metadata
}

/// How a trigger's change is attributed in an audit (the shape of the
/// recorded `Notification` events' `via`).
pub(super) fn rule_via(trigger_id: Id, title: &str) -> Via {
    Via {
        channel: Value::String("rule".to_owned()),
        source: Some(json!({
            "from": { "deleted": false, "title": title, "id": trigger_id },
            "rel": "trigger",
        })),
    }
}

fn api_via() -> Via {
    Via {
        channel: Value::String("api".to_owned()),
        source: Some(json!({ "from": {}, "to": {}, "rel": null })),
    }
}

/// `t` without its fraction of a second: Zendesk's timestamps are whole
/// seconds.
pub fn whole(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The next `updated_at`: now, but always later than `previous` (a second
/// later when the clock has not moved on).
pub fn bump(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = whole(now);
    let previous = whole(previous);
    if now > previous {
        now
    } else {
        previous
            .checked_add_signed(TimeDelta::seconds(1))
            .unwrap_or(previous)
    }
}

/// Zendesk's HTML for a plain-text comment.
fn html_from_text(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\n', "<br>");
    format!("<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">{escaped}</p></div>")
}

/// The text of an HTML fragment: tags dropped, common entities decoded.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag.trim_start_matches('/').to_ascii_lowercase();
                let name = name
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("");
                if matches!(name, "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3")
                    && !out.ends_with('\n')
                    && !out.is_empty()
                {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

impl triggers::Account for State {
    fn user(&self, id: Id) -> Option<&User> {
        self.users.get(&id)
    }

    fn group_exists(&self, id: Id) -> bool {
        self.groups.iter().any(|g| g.id == id && g.deleted != Some(true))
    }

    fn default_custom_status(&self, category: StatusCategory) -> Option<Id> {
        State::default_custom_status(self, category)
    }
}

/// The next id from `counter`, moving it on.
fn take(counter: &mut u64) -> u64 {
    let id = *counter;
    *counter = counter.saturating_add(1);
    id
}

/// A 64-bit mixer (SplitMix64), for ids that look random but repeat from
/// run to run.
pub(super) fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while out.len() < 13 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpdesk::model::RequesterSpec;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    const NOW: &str = "2026-03-02T13:00:00Z";

    fn state() -> (State, Id) {
        let mut state = State::new(Seed::default(), at(NOW));
        let agent = state.actor(&Credentials::Email("agent@example.com".into()), at(NOW));
        (state, agent)
    }

    fn new_ticket(subject: &str) -> NewTicket {
        NewTicket {
            subject: Some(subject.to_owned()),
            comment: NewComment::public("Olá, preciso de ajuda"),
            ..NewTicket::default()
        }
    }

    #[test]
    fn create_with_inline_requester_creates_the_end_user_and_audits_the_fields() {
        let (mut state, agent) = state();
        let mut new = new_ticket("Boleto");
        new.requester = Some(RequesterSpec {
            email: "Maria@Cliente.com.br".into(),
            name: Some("Maria".into()),
            locale_id: None,
        });
        new.tags = vec!["boleto urgente".into(), "boleto".into()];
        let (id, audit_id) = state.create_ticket(&new, agent, at(NOW)).expect("created");
        assert_eq!(id, 1);
        let ticket = state.ticket(id).expect("stored");
        let maria = state.user_by_email("maria@cliente.com.br").expect("user created");
        assert_eq!(maria.role, Role::EndUser);
        assert_eq!(maria.name, "Maria");
        assert_eq!(ticket.requester_id, Some(maria.id));
        // Created on the requester's behalf: "By default, the requester of
        // a ticket is the submitter", and the first comment is theirs.
        assert_eq!(ticket.submitter_id, Some(maria.id));
        assert_eq!(
            state.audits[&id][0].author_id,
            Some(agent),
            "the API user made the change"
        );
        assert_eq!(ticket.tags, vec!["boleto", "urgente"]);
        assert_eq!(ticket.status, Status::New);
        assert_eq!(
            ticket.custom_status_id,
            state.default_custom_status(StatusCategory::New)
        );
        assert_eq!(ticket.description.as_deref(), Some("Olá, preciso de ajuda"));
        let comments = &state.comments[&id];
        assert_eq!(comments[0].author_id, Some(maria.id), "the requester wrote it");
        let audit = &state.audits[&id][0];
        assert_eq!(audit.id, audit_id);
        assert_eq!(audit.events[0].event_type, "Comment");
        assert_eq!(audit.events[0].id, comments[0].id);
        let status = audit
            .events
            .iter()
            .find(|e| e.field_name.as_deref() == Some("status"))
            .expect("status event");
        assert_eq!(status.event_type, "Create");
        assert_eq!(status.value, Some(json!("new")));
    }

    #[test]
    fn update_bumps_updated_at_strictly_even_when_the_clock_stands_still() {
        let (mut state, agent) = state();
        let (id, _) = state
            .create_ticket(&new_ticket("a"), agent, at(NOW))
            .expect("created");
        let first = state.ticket(id).expect("ticket").updated_at;
        state
            .update_ticket(id, &TicketUpdate::default(), &BTreeSet::new(), agent, at(NOW))
            .expect("empty update");
        let second = state.ticket(id).expect("ticket").updated_at;
        assert_eq!(second, first + TimeDelta::seconds(1));
        assert_eq!(state.audits[&id].len(), 2, "an empty write still audits");
        assert!(state.audits[&id][1].events.is_empty());
    }

    #[test]
    fn stale_stamp_conflicts_and_closed_refuses() {
        let (mut state, agent) = state();
        let (id, _) = state
            .create_ticket(&new_ticket("a"), agent, at(NOW))
            .expect("created");
        let stamp = state.ticket(id).expect("ticket").updated_at;
        let stale = TicketUpdate {
            safe_update: Some(true),
            updated_stamp: Some(stamp - TimeDelta::seconds(5)),
            status: Some(Status::Open),
            ..TicketUpdate::default()
        };
        let err = state
            .update_ticket(id, &stale, &BTreeSet::new(), agent, at(NOW))
            .expect_err("stale");
        assert_eq!(err, ApiError::conflict());
        let close = TicketUpdate {
            status: Some(Status::Closed),
            ..TicketUpdate::default()
        };
        state
            .update_ticket(id, &close, &BTreeSet::new(), agent, at(NOW))
            .expect("closed");
        let err = state
            .update_ticket(id, &TicketUpdate::default(), &BTreeSet::new(), agent, at(NOW))
            .expect_err("closed refuses");
        assert_eq!(err.status, 422);
        assert_eq!(err.detail_text(), "Status: closed prevents ticket update");
    }

    #[test]
    fn status_and_custom_status_must_agree_and_new_cannot_come_back() {
        let (mut state, agent) = state();
        let (id, _) = state
            .create_ticket(&new_ticket("a"), agent, at(NOW))
            .expect("created");
        let input = CustomStatusInput {
            status_category: Some(StatusCategory::Pending),
            agent_label: Some("Validação Cliente".into()),
            ..CustomStatusInput::default()
        };
        let validation = state.create_custom_status(&input, at(NOW)).expect("created");
        let mismatch = TicketUpdate {
            status: Some(Status::Open),
            custom_status_id: Some(validation),
            ..TicketUpdate::default()
        };
        let err = state
            .update_ticket(id, &mismatch, &BTreeSet::new(), agent, at(NOW))
            .expect_err("mismatch");
        assert_eq!(err.status, 422);
        let custom = TicketUpdate {
            custom_status_id: Some(validation),
            ..TicketUpdate::default()
        };
        state
            .update_ticket(id, &custom, &BTreeSet::new(), agent, at(NOW))
            .expect("custom status");
        assert_eq!(state.ticket(id).expect("ticket").status, Status::Pending);
        let back = TicketUpdate {
            status: Some(Status::New),
            ..TicketUpdate::default()
        };
        let err = state
            .update_ticket(id, &back, &BTreeSet::new(), agent, at(NOW))
            .expect_err("new again");
        assert_eq!(
            err.detail_text(),
            "Status: new is not valid for a ticket that has left new"
        );
    }

    #[test]
    fn followup_needs_a_closed_source_and_links_back() {
        let (mut state, agent) = state();
        let (source, _) = state
            .create_ticket(&new_ticket("a"), agent, at(NOW))
            .expect("created");
        let mut followup = new_ticket("b");
        followup.via_followup_source_id = Some(source);
        let err = state
            .create_ticket(&followup, agent, at(NOW))
            .expect_err("source open");
        assert_eq!(err.status, 422);
        assert!(err.detail_text().contains("only closed tickets"), "{err:?}");
        let close = TicketUpdate {
            status: Some(Status::Closed),
            ..TicketUpdate::default()
        };
        state
            .update_ticket(source, &close, &BTreeSet::new(), agent, at(NOW))
            .expect("closed");
        let source_updated = state.ticket(source).expect("source").updated_at;
        let (id, _) = state.create_ticket(&followup, agent, at(NOW)).expect("follow-up");
        assert_eq!(state.ticket(source).expect("source").followup_ids, vec![id]);
        assert_eq!(
            state.ticket(source).expect("source").updated_at,
            source_updated,
            "a system update moves only generated_timestamp"
        );
        assert_eq!(
            state.ticket(id).expect("new").via_followup_source_id,
            Some(source)
        );
        let last = state.changes_after(0).last().map(|(_, t)| t.id);
        assert_eq!(last, Some(source), "the source is re-exported");
    }

    #[test]
    fn drop_down_fields_keep_their_tag_in_step() {
        let (mut state, agent) = state();
        state.ticket_fields.push(TicketField {
            id: 77,
            url: None,
            field_type: "tagger".into(),
            title: "Serviço".into(),
            raw_title: None,
            description: None,
            position: None,
            active: Some(true),
            required: None,
            tag: None,
            regexp_for_validation: None,
            custom_field_options: None,
            system_field_options: None,
            created_at: None,
            updated_at: None,
        });
        let mut new = new_ticket("a");
        new.custom_fields = vec![CustomFieldValue {
            id: 77,
            value: json!("servico_nf"),
        }];
        let (id, _) = state.create_ticket(&new, agent, at(NOW)).expect("created");
        assert_eq!(state.ticket(id).expect("ticket").tags, vec!["servico_nf"]);
        let change = TicketUpdate {
            custom_fields: Some(vec![CustomFieldValue {
                id: 77,
                value: json!("servico_boleto"),
            }]),
            ..TicketUpdate::default()
        };
        state
            .update_ticket(id, &change, &BTreeSet::new(), agent, at(NOW))
            .expect("updated");
        assert_eq!(state.ticket(id).expect("ticket").tags, vec!["servico_boleto"]);
    }

    #[test]
    fn update_many_reports_each_item() {
        let (mut state, agent) = state();
        let (a, _) = state
            .create_ticket(&new_ticket("a"), agent, at(NOW))
            .expect("created");
        let add_x = TicketUpdate {
            additional_tags: Some(vec!["x".into()]),
            ..TicketUpdate::default()
        };
        let updates = vec![
            (Some(a), Ok((add_x.clone(), BTreeSet::new()))),
            (Some(999), Ok((add_x, BTreeSet::new()))),
        ];
        let job = state.update_many(&updates, agent, at(NOW));
        let queued = state.poll_job(&job, 1, at(NOW)).expect("job");
        assert_eq!(queued.state, JobState::Queued);
        let done = state.poll_job(&job, 1, at(NOW)).expect("job");
        assert_eq!(done.state, JobState::Completed);
        let results = done.results.expect("results");
        assert_eq!(results[0].status.as_deref(), Some("Updated"));
        assert_eq!(results[1].success, Some(false));
        assert_eq!(results[1].error.as_deref(), Some("TicketNotFound"));
        assert_eq!(state.ticket(a).expect("ticket").tags, vec!["x"]);
    }

    #[test]
    fn strip_html_keeps_text_and_line_breaks() {
        assert_eq!(
            strip_html("<p>Olá &amp; bem-vindo</p><p>linha&nbsp;2</p>"),
            "Olá & bem-vindo\nlinha 2"
        );
    }
}
