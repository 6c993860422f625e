//! Zendesk's resources, shaped as the Support API sends and receives them.
//!
//! These types are shared by the client (which decodes real responses into
//! them) and the simulator (which encodes its state with them), so the two
//! cannot drift apart. Fields that Zendesk may omit or send as `null` are
//! `Option`s or default to empty; unknown fields are ignored on decode. The
//! fields that every real payload carries (`id`, `status`, timestamps) are
//! required, so a payload without them is a decode error naming the field.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Zendesk record id (tickets, users, groups, fields, comments...).
pub type Id = u64;

/// The built-in ticket statuses. `Deleted` only appears in incremental exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A new ticket's status.
    #[default]
    New,
    Open,
    Pending,
    Hold,
    Solved,
    Closed,
    Deleted,
}

impl Status {
    /// The wire spelling, e.g. `"hold"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Hold => "hold",
            Status::Solved => "solved",
            Status::Closed => "closed",
            Status::Deleted => "deleted",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::New,
            Status::Open,
            Status::Pending,
            Status::Hold,
            Status::Solved,
            Status::Closed,
            Status::Deleted,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a ticket, comment or audit came in (`email`, `api`, `web`, `rule`...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Via {
    pub channel: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
}

/// One value of a custom ticket field. `value` may be a string, number,
/// boolean, list of tags or null depending on the field type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub id: Id,
    #[serde(default)]
    pub value: Value,
}

/// A ticket as `GET /api/v2/tickets/{id}` returns it, with every key of the
/// recorded payloads. `Default` is an empty ticket to fill in with struct
/// update syntax.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ticket {
    pub id: Id,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub via: Option<Via>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set in incremental exports: the instant the ticket last changed in
    /// any way, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_timestamp: Option<i64>,
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub raw_subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    pub status: Status,
    #[serde(default)]
    pub custom_status_id: Option<Id>,
    #[serde(default)]
    pub recipient: Option<String>,
    #[serde(default)]
    pub requester_id: Option<Id>,
    #[serde(default)]
    pub submitter_id: Option<Id>,
    #[serde(default)]
    pub assignee_id: Option<Id>,
    #[serde(default)]
    pub organization_id: Option<Id>,
    #[serde(default)]
    pub group_id: Option<Id>,
    #[serde(default)]
    pub collaborator_ids: Vec<Id>,
    #[serde(default)]
    pub follower_ids: Vec<Id>,
    #[serde(default)]
    pub email_cc_ids: Vec<Id>,
    /// Always `null` nowadays; still in every recorded ticket.
    #[serde(default)]
    pub forum_topic_id: Option<Id>,
    #[serde(default)]
    pub problem_id: Option<Id>,
    #[serde(default)]
    pub has_incidents: Option<bool>,
    #[serde(default)]
    pub is_public: Option<bool>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default)]
    pub satisfaction_rating: Option<Value>,
    #[serde(default)]
    pub sharing_agreement_ids: Vec<Id>,
    /// The same list as `custom_fields`, under its other name.
    #[serde(default)]
    pub fields: Vec<CustomFieldValue>,
    /// The closed ticket this one follows up, when created as a follow-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_followup_source_id: Option<Id>,
    #[serde(default)]
    pub followup_ids: Vec<Id>,
    #[serde(default)]
    pub ticket_form_id: Option<Id>,
    #[serde(default)]
    pub brand_id: Option<Id>,
    #[serde(default)]
    pub allow_channelback: Option<bool>,
    #[serde(default)]
    pub allow_attachments: Option<bool>,
    #[serde(default)]
    pub from_messaging_channel: Option<bool>,
}

impl Ticket {
    /// The page where an agent opens the ticket,
    /// `https://empresa.zendesk.com/agent/tickets/123`, from the API `url`
    /// Zendesk gives it (`…/api/v2/tickets/123.json`, which no person can
    /// open). `None` without one. Customers cannot open it either: it is
    /// for mails to agents.
    pub fn agent_url(&self) -> Option<String> {
        let api = url::Url::parse(self.url.as_deref()?).ok()?;
        let host = api.host_str()?;
        let port = api.port().map(|p| format!(":{p}")).unwrap_or_default();
        Some(format!(
            "{}://{host}{port}/agent/tickets/{}",
            api.scheme(),
            self.id
        ))
    }

    /// The value of custom field `field_id`, if the ticket carries it.
    pub fn custom_field(&self, field_id: Id) -> Option<&Value> {
        self.custom_fields
            .iter()
            .find(|f| f.id == field_id)
            .map(|f| &f.value)
    }
}

/// A file attached to a comment, or returned by an upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: Id,
    /// Zendesk's documented name field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Some recorded payloads name the file here instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub content_url: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub thumbnails: Vec<Value>,
}

impl Attachment {
    /// The file's name, whichever field carried it.
    pub fn display_name(&self) -> Option<&str> {
        self.file_name.as_deref().or(self.name.as_deref())
    }
}

/// A comment on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: Id,
    #[serde(default, rename = "type")]
    pub comment_type: Option<String>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub html_body: Option<String>,
    #[serde(default)]
    pub plain_body: Option<String>,
    pub public: bool,
    #[serde(default)]
    pub author_id: Option<Id>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub audit_id: Option<Id>,
    #[serde(default)]
    pub via: Option<Via>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// One event inside an audit: a comment, a field change, a notification...
///
/// Zendesk has dozens of event types; they share one flat shape here, and
/// `event_type` says which fields are meaningful (`Change` has `field_name`,
/// `value` and `previous_value`; `Comment` has `body` and `public`;
/// `Notification` has `subject`, `body` and `recipients`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: Id,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// A `Notification`'s subject, as the trigger wrote it (placeholders
    /// unrendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The users a `Notification` was e-mailed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<Id>>,
}

/// One write to a ticket, with everything it changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    pub id: Id,
    pub ticket_id: Id,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub author_id: Option<Id>,
    #[serde(default)]
    pub via: Option<Via>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub events: Vec<AuditEvent>,
}

/// Roles a Zendesk user can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A new user's role.
    #[default]
    EndUser,
    Agent,
    Admin,
}

impl Role {
    /// Agents and admins work tickets; end users are customers.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }
}

/// A person known to the helpdesk: a customer (end user) or an agent, with
/// every key of the recorded payloads. `Default` is an empty end user to
/// fill in with struct update syntax.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct User {
    pub id: Id,
    #[serde(default)]
    pub url: Option<String>,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub verified: Option<bool>,
    #[serde(default)]
    pub suspended: Option<bool>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<Id>,
    #[serde(default)]
    pub default_group_id: Option<Id>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub iana_time_zone: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub user_fields: Option<Value>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub shared_phone_number: Option<bool>,
    /// The profile picture, an attachment object.
    #[serde(default)]
    pub photo: Option<Value>,
    #[serde(default)]
    pub locale_id: Option<Id>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub shared: Option<bool>,
    #[serde(default)]
    pub shared_agent: Option<bool>,
    #[serde(default)]
    pub last_login_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub two_factor_auth_enabled: Option<bool>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// 4 for an admin; 0 to 5 for agents on plans with custom roles.
    #[serde(default)]
    pub role_type: Option<i64>,
    #[serde(default)]
    pub custom_role_id: Option<Id>,
    #[serde(default)]
    pub moderator: Option<bool>,
    /// What tickets an end user (or a restricted agent) may see:
    /// `requested`, `organization`, `groups`, `assigned`.
    #[serde(default)]
    pub ticket_restriction: Option<String>,
    #[serde(default)]
    pub only_private_comments: Option<bool>,
    #[serde(default)]
    pub restricted_agent: Option<bool>,
    #[serde(default)]
    pub report_csv: Option<bool>,
}

/// An agent group ("Ordem de Serviço", "Ouvidoria"...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: Id,
    #[serde(default)]
    pub url: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub deleted: Option<bool>,
    #[serde(default)]
    pub default: Option<bool>,
    #[serde(default)]
    pub is_public: Option<bool>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The built-in status a custom status belongs to. Custom statuses can not
/// be `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCategory {
    New,
    Open,
    Pending,
    Hold,
    Solved,
}

impl StatusCategory {
    /// The built-in status of this category.
    pub fn status(self) -> Status {
        match self {
            StatusCategory::New => Status::New,
            StatusCategory::Open => Status::Open,
            StatusCategory::Pending => Status::Pending,
            StatusCategory::Hold => Status::Hold,
            StatusCategory::Solved => Status::Solved,
        }
    }
}

/// A custom ticket status such as "Validação Cliente".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomStatus {
    pub id: Id,
    #[serde(default)]
    pub url: Option<String>,
    pub status_category: StatusCategory,
    pub agent_label: String,
    #[serde(default)]
    pub raw_agent_label: Option<String>,
    #[serde(default)]
    pub end_user_label: Option<String>,
    #[serde(default)]
    pub raw_end_user_label: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub raw_description: Option<String>,
    #[serde(default)]
    pub end_user_description: Option<String>,
    #[serde(default)]
    pub raw_end_user_description: Option<String>,
    #[serde(default = "default_true")]
    pub active: bool,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn default_true() -> bool {
    true
}

/// One option of a drop-down or multi-select ticket field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOption {
    #[serde(default)]
    pub id: Option<Id>,
    pub name: String,
    #[serde(default)]
    pub raw_name: Option<String>,
    pub value: Value,
    #[serde(default)]
    pub default: Option<bool>,
}

/// A ticket field definition, system or custom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketField {
    pub id: Id,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(rename = "type")]
    pub field_type: String,
    pub title: String,
    #[serde(default)]
    pub raw_title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub regexp_for_validation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_field_options: Option<Vec<FieldOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_field_options: Option<Vec<FieldOption>>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The result of `POST /api/v2/uploads`: a token to attach to a comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub token: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub attachment: Option<Attachment>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// The state of a background job (`create_many`, `update_many`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Working,
    Failed,
    Completed,
    Killed,
}

impl JobState {
    /// Whether the job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Failed | JobState::Completed | JobState::Killed)
    }
}

/// One item's outcome in a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// A background job as `GET /api/v2/job_statuses/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub progress: Option<u64>,
    pub status: JobState,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub results: Option<JobResults>,
}

/// What a finished job reports: a list, one result per item (bulk create
/// and update), or one object for the whole job. A permanent deletion
/// answers `{"success": true}` (recorded: zenpy's cassette
/// `TestDeletedTickets.test_permanently_delete`, 2023-09-18; documented at
/// <https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/>,
/// "Permanent Ticket Deletion").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobResults {
    Items(Vec<JobResult>),
    Outcome(JobOutcome),
}

/// The object form of a job's `results`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub success: bool,
}

/// A Help Center article, as the article search returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: Id,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    /// In search results: the matching part, hits in `<em>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// In search results: always `article`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_type: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub section_id: Option<Id>,
    #[serde(default)]
    pub label_names: Vec<String>,
    #[serde(default)]
    pub draft: Option<bool>,
    #[serde(default)]
    pub promoted: Option<bool>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------
// Write payloads: what carteiro sends. Absent fields are left out of the JSON
// so that an update never clears a field it did not mean to touch.
// ---------------------------------------------------------------------------

/// A requester given inline by e-mail: Zendesk finds or creates the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequesterSpec {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale_id: Option<Id>,
}

/// A CC added by e-mail (`email_ccs` on create and update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailCc {
    pub user_email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `put` adds the CC, `delete` removes it.
    #[serde(default = "default_cc_action")]
    pub action: String,
}

fn default_cc_action() -> String {
    "put".to_owned()
}

impl EmailCc {
    /// A CC to add.
    pub fn add(email: impl Into<String>, name: Option<String>) -> EmailCc {
        EmailCc {
            user_email: email.into(),
            user_name: name,
            action: default_cc_action(),
        }
    }
}

/// A comment to add with a create or update.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewComment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// `false` makes an internal note.
    #[serde(default = "default_true")]
    pub public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<Id>,
    /// Tokens from `POST /api/v2/uploads`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<String>,
}

impl NewComment {
    /// A public reply with a plain-text body.
    pub fn public(body: impl Into<String>) -> NewComment {
        NewComment {
            body: Some(body.into()),
            public: true,
            ..NewComment::default()
        }
    }

    /// An internal note with a plain-text body.
    pub fn internal(body: impl Into<String>) -> NewComment {
        NewComment {
            body: Some(body.into()),
            public: false,
            ..NewComment::default()
        }
    }
}

/// `POST /api/v2/tickets` body (inside `{"ticket": ...}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewTicket {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub comment: NewComment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<RequesterSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_status_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_ccs: Vec<EmailCc>,
    /// carteiro's idempotency key: a retried create looks this up first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Makes the new ticket a follow-up of this closed ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_followup_source_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_form_id: Option<Id>,
    /// Write only: the audit's `metadata.custom` ("Metadata for the audit.
    /// In the audit object, the data is specified in the custom property
    /// of the metadata object", developer.zendesk.com, Tickets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// `PUT /api/v2/tickets/{id}` body (inside `{"ticket": ...}`), also one item
/// of `update_many` (then `id` is set).
///
/// The client fills in `safe_update` and `updated_stamp` itself for single
/// updates; callers never write a ticket without them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TicketUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<NewComment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_status_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<String>,
    /// Replaces the whole tag list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Adds tags without replacing (bulk updates and single updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_tags: Option<Vec<String>>,
    /// Removes tags without replacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_ccs: Option<Vec<EmailCc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// With `updated_stamp`, makes Zendesk refuse the write (409) when the
    /// ticket changed since it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_stamp: Option<DateTime<Utc>>,
    /// Write only: the audit's `metadata.custom` ("Metadata for the audit.
    /// In the audit object, the data is specified in the custom property
    /// of the metadata object", developer.zendesk.com, Tickets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// `POST /api/v2/users/create_or_update` body (inside `{"user": ...}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserUpsert {
    pub email: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(url: Option<&str>) -> Ticket {
        serde_json::from_value(serde_json::json!({
            "id": 16, "url": url, "created_at": "2026-12-01T13:00:00Z",
            "updated_at": "2026-12-01T13:00:00Z", "status": "open",
        }))
        .expect("a ticket")
    }

    #[test]
    fn the_agent_page_comes_from_the_api_url() {
        assert_eq!(
            ticket(Some("https://empresa.zendesk.com/api/v2/tickets/16.json")).agent_url(),
            Some("https://empresa.zendesk.com/agent/tickets/16".to_owned())
        );
        assert_eq!(
            ticket(Some("http://127.0.0.1:8089/api/v2/tickets/16.json")).agent_url(),
            Some("http://127.0.0.1:8089/agent/tickets/16".to_owned())
        );
        assert_eq!(ticket(None).agent_url(), None);
        assert_eq!(ticket(Some("não é um endereço")).agent_url(), None);
    }
}
