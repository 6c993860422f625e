//! Rules as the engine runs them: checked, with regexes compiled, durations
//! parsed and fields resolved to what they read.

use std::fmt;
use std::path::PathBuf;

use chrono_tz::Tz;
use regex::Regex;

use crate::calendar::Duration;
use crate::config::Location;
use crate::helpdesk::Status;

/// What a rule runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    TicketCreated,
    TicketUpdated,
    MailReceived,
    Schedule,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::TicketCreated,
        Trigger::TicketUpdated,
        Trigger::MailReceived,
        Trigger::Schedule,
    ];

    /// The name in `on = [...]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::TicketCreated => "ticket.created",
            Trigger::TicketUpdated => "ticket.updated",
            Trigger::MailReceived => "mail.received",
            Trigger::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ticket clocks a condition can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockField {
    StatusChangedAt,
    CustomStatusChangedAt,
    LastRequesterCommentAt,
    LastAgentPublicCommentAt,
    AssignedAt,
    SolvedAt,
}

impl ClockField {
    pub const ALL: [ClockField; 6] = [
        ClockField::StatusChangedAt,
        ClockField::CustomStatusChangedAt,
        ClockField::LastRequesterCommentAt,
        ClockField::LastAgentPublicCommentAt,
        ClockField::AssignedAt,
        ClockField::SolvedAt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClockField::StatusChangedAt => "status_changed_at",
            ClockField::CustomStatusChangedAt => "custom_status_changed_at",
            ClockField::LastRequesterCommentAt => "last_requester_comment_at",
            ClockField::LastAgentPublicCommentAt => "last_agent_public_comment_at",
            ClockField::AssignedAt => "assigned_at",
            ClockField::SolvedAt => "solved_at",
        }
    }
}

/// A value a condition reads, named by its path (`ticket.status`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    TicketId,
    Subject,
    Description,
    Status,
    /// The custom status's agent label.
    CustomStatus,
    /// The group's name.
    Group,
    /// The assignee's e-mail (a condition may also name them by name).
    Assignee,
    Tags,
    Priority,
    TicketType,
    /// The channel the ticket came in by (`email`, `web`, `api`…).
    Via,
    DueAt,
    CreatedAt,
    UpdatedAt,
    ExternalId,
    /// A custom field, by title (or id written as digits).
    CustomField(String),
    Clock(ClockField),
    RequesterEmail,
    RequesterName,
    CommentBody,
    CommentPublic,
    /// The comment's author: `is` matches their e-mail or their name.
    CommentAuthor,
    /// `end-user`, `agent`, `admin`.
    CommentAuthorRole,
    /// Whether the comment's author is the ticket's requester.
    CommentByRequester,
    /// `new`, `reply`, `follow_up` (a reply to a closed ticket, which
    /// opened a follow-up), `auto_reply`, `bounce`.
    MailKind,
    MailFrom,
    MailTo,
    MailCc,
    MailSubject,
    MailBody,
    MailAttachments,
    /// Whether the sender is one of `[mail] internal_senders`.
    MailInternal,
}

/// The shape of a field's value, which decides the operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
    Bool,
    List,
    Time,
    /// A custom field: its type is the account's business.
    Any,
}

impl FieldRef {
    /// Every fixed path, for error messages and the documentation.
    pub const FIXED: &'static [(&'static str, FieldRef)] = &[
        ("ticket.id", FieldRef::TicketId),
        ("ticket.subject", FieldRef::Subject),
        ("ticket.description", FieldRef::Description),
        ("ticket.status", FieldRef::Status),
        ("ticket.custom_status", FieldRef::CustomStatus),
        ("ticket.group", FieldRef::Group),
        ("ticket.assignee", FieldRef::Assignee),
        ("ticket.tags", FieldRef::Tags),
        ("ticket.priority", FieldRef::Priority),
        ("ticket.type", FieldRef::TicketType),
        ("ticket.via", FieldRef::Via),
        ("ticket.due_at", FieldRef::DueAt),
        ("ticket.created_at", FieldRef::CreatedAt),
        ("ticket.updated_at", FieldRef::UpdatedAt),
        ("ticket.external_id", FieldRef::ExternalId),
        (
            "ticket.clock.status_changed_at",
            FieldRef::Clock(ClockField::StatusChangedAt),
        ),
        (
            "ticket.clock.custom_status_changed_at",
            FieldRef::Clock(ClockField::CustomStatusChangedAt),
        ),
        (
            "ticket.clock.last_requester_comment_at",
            FieldRef::Clock(ClockField::LastRequesterCommentAt),
        ),
        (
            "ticket.clock.last_agent_public_comment_at",
            FieldRef::Clock(ClockField::LastAgentPublicCommentAt),
        ),
        (
            "ticket.clock.assigned_at",
            FieldRef::Clock(ClockField::AssignedAt),
        ),
        ("ticket.clock.solved_at", FieldRef::Clock(ClockField::SolvedAt)),
        ("requester.email", FieldRef::RequesterEmail),
        ("requester.name", FieldRef::RequesterName),
        ("comment.body", FieldRef::CommentBody),
        ("comment.public", FieldRef::CommentPublic),
        ("comment.author", FieldRef::CommentAuthor),
        ("comment.author_role", FieldRef::CommentAuthorRole),
        ("comment.by_requester", FieldRef::CommentByRequester),
        ("mail.kind", FieldRef::MailKind),
        ("mail.from", FieldRef::MailFrom),
        ("mail.to", FieldRef::MailTo),
        ("mail.cc", FieldRef::MailCc),
        ("mail.subject", FieldRef::MailSubject),
        ("mail.body", FieldRef::MailBody),
        ("mail.attachments", FieldRef::MailAttachments),
        ("mail.internal", FieldRef::MailInternal),
    ];

    /// Prefix of custom fields: `ticket.fields.cnpj`.
    pub const CUSTOM_PREFIX: &'static str = "ticket.fields.";

    /// The fixed fields a report breaks down by (`send_report.by`): one
    /// value per ticket, with few distinct values.
    pub const BREAKDOWNS: &'static [&'static str] = &[
        "ticket.status",
        "ticket.custom_status",
        "ticket.group",
        "ticket.assignee",
        "ticket.priority",
        "ticket.type",
        "ticket.via",
    ];

    /// Whether a report may break down by it: one of [`Self::BREAKDOWNS`]
    /// or a custom field.
    pub fn is_breakdown(&self) -> bool {
        matches!(self, FieldRef::CustomField(_)) || FieldRef::BREAKDOWNS.contains(&self.path().as_str())
    }

    /// Resolves a path.
    pub fn parse(path: &str) -> Option<FieldRef> {
        if let Some(name) = path.strip_prefix(FieldRef::CUSTOM_PREFIX) {
            return (!name.is_empty()).then(|| FieldRef::CustomField(name.to_owned()));
        }
        FieldRef::FIXED
            .iter()
            .find(|(name, _)| *name == path)
            .map(|(_, field)| field.clone())
    }

    /// The path as written.
    pub fn path(&self) -> String {
        match self {
            FieldRef::CustomField(name) => format!("{}{name}", FieldRef::CUSTOM_PREFIX),
            other => FieldRef::FIXED
                .iter()
                .find(|(_, field)| field == other)
                .map(|(name, _)| (*name).to_owned())
                .unwrap_or_default(),
        }
    }

    pub fn kind(&self) -> FieldKind {
        match self {
            FieldRef::TicketId => FieldKind::Number,
            FieldRef::Tags | FieldRef::MailTo | FieldRef::MailCc | FieldRef::MailAttachments => {
                FieldKind::List
            }
            FieldRef::DueAt | FieldRef::CreatedAt | FieldRef::UpdatedAt | FieldRef::Clock(_) => {
                FieldKind::Time
            }
            FieldRef::CommentPublic | FieldRef::CommentByRequester | FieldRef::MailInternal => {
                FieldKind::Bool
            }
            FieldRef::CustomField(_) => FieldKind::Any,
            _ => FieldKind::Text,
        }
    }

    /// Whether `changed`, `changed_to` and `changed_from` apply: the field
    /// is part of a ticket's [`crate::tickets::TicketChange`].
    pub fn is_diffable(&self) -> bool {
        matches!(
            self,
            FieldRef::Status
                | FieldRef::CustomStatus
                | FieldRef::Group
                | FieldRef::Assignee
                | FieldRef::Tags
                | FieldRef::Priority
                | FieldRef::TicketType
                | FieldRef::Subject
                | FieldRef::DueAt
                | FieldRef::RequesterEmail
                | FieldRef::CustomField(_)
        )
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Is,
    IsNot,
    In,
    Contains,
    Matches,
    Changed,
    ChangedTo,
    ChangedFrom,
    Present,
    Absent,
    OlderThan,
    NewerThan,
    GreaterThan,
    LessThan,
    CnpjValid,
}

impl Op {
    pub const ALL: [Op; 15] = [
        Op::Is,
        Op::IsNot,
        Op::In,
        Op::Contains,
        Op::Matches,
        Op::Changed,
        Op::ChangedTo,
        Op::ChangedFrom,
        Op::Present,
        Op::Absent,
        Op::OlderThan,
        Op::NewerThan,
        Op::GreaterThan,
        Op::LessThan,
        Op::CnpjValid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Is => "is",
            Op::IsNot => "is_not",
            Op::In => "in",
            Op::Contains => "contains",
            Op::Matches => "matches",
            Op::Changed => "changed",
            Op::ChangedTo => "changed_to",
            Op::ChangedFrom => "changed_from",
            Op::Present => "present",
            Op::Absent => "absent",
            Op::OlderThan => "older_than",
            Op::NewerThan => "newer_than",
            Op::GreaterThan => "greater_than",
            Op::LessThan => "less_than",
            Op::CnpjValid => "cnpj_valid",
        }
    }

    pub fn parse(text: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// Whether the operator takes a `value`.
    pub fn takes_value(self) -> bool {
        !matches!(self, Op::Changed | Op::Present | Op::Absent | Op::CnpjValid)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A literal from a rule file.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(i64),
    Bool(bool),
    List(Vec<Literal>),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Text(s) => write!(f, "{s:?}"),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// What a leaf compares against, prepared at load.
#[derive(Debug, Clone)]
pub enum Operand {
    None,
    Literal(Literal),
    Regex(Regex),
    Duration(Duration),
    /// `value = { field = "ticket.fields.UF atual" }`: another field of the
    /// same ticket or event, for `is` and `is_not`.
    Field(FieldRef),
}

/// A condition tree.
#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    /// Holds when none of its conditions holds.
    Not(Vec<Condition>),
    Leaf(Leaf),
}

/// `{ field, op, value }`.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub field: FieldRef,
    pub op: Op,
    pub operand: Operand,
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field.path(), self.op)?;
        match &self.operand {
            Operand::None => Ok(()),
            Operand::Literal(l) => write!(f, " {l}"),
            Operand::Regex(r) => write!(f, " /{}/", r.as_str()),
            Operand::Duration(d) => write!(f, " {d}"),
            Operand::Field(field) => write!(f, " {{ field = {} }}", field.path()),
        }
    }
}

/// Where the assignee of an action comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    /// A user's e-mail or name.
    pub user: Option<String>,
    /// A group's name.
    pub group: Option<String>,
}

/// `send_mail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMailSpec {
    /// Addresses; `requester` means the ticket's requester.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub template: String,
    /// A template string; `None` takes the ticket's subject.
    pub subject: Option<String>,
    pub attachments: Vec<PathBuf>,
}

/// `send_digest`: one mail per schedule tick listing every ticket the
/// rule's conditions match, to people, not about one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendDigestSpec {
    /// Addresses (no `requester`: there is no one ticket).
    pub to: Vec<String>,
    pub template: String,
    /// A template string rendered with `digest` (and an empty ticket).
    pub subject: String,
    /// How many business days ahead `vence_em_breve` reaches.
    pub soon_days: u32,
}

/// `send_report`: one mail per schedule tick with figures over the
/// `days` local days before the tick, for the tickets the rule's
/// conditions match (closed ones included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReportSpec {
    /// Addresses (no `requester`: there is no one ticket).
    pub to: Vec<String>,
    pub template: String,
    /// A template string rendered with `report` (and an empty ticket).
    pub subject: String,
    /// How many local days the period spans, ending when the tick's day
    /// begins.
    pub days: u32,
    /// The breakdowns: `report.by.NAME` rows, one per value of the field.
    pub by: Vec<(String, FieldRef)>,
}

/// `create_ticket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTicketSpec {
    /// A template string.
    pub subject: String,
    /// The mail template of the new ticket's internal note.
    pub internal_note: String,
    pub assignee: Option<String>,
    pub group: Option<String>,
    pub cc: Vec<String>,
    pub status: Option<Status>,
    pub tags: Vec<String>,
}

/// One action, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionSpec {
    SetStatus(Status),
    SetCustomStatus(String),
    Assign(Assign),
    AddTags(Vec<String>),
    RemoveTags(Vec<String>),
    SetField {
        field: String,
        value: Literal,
    },
    SetDue(Duration),
    /// `low`, `normal`, `high` or `urgent`.
    SetPriority(String),
    /// Puts back the value the event changed (only `ticket.due_at`).
    Revert(FieldRef),
    InternalNote(String),
    PublicReply(String),
    SendMail(SendMailSpec),
    CreateTicket(CreateTicketSpec),
    /// Only in schedule rules, and only with other `send_digest` actions.
    SendDigest(SendDigestSpec),
    /// Only in schedule rules, and only with other summary actions.
    SendReport(SendReportSpec),
    Solve,
    Stop,
}

impl ActionSpec {
    /// Whether it mails about many tickets, once per tick, and changes
    /// none (`send_digest`, `send_report`).
    pub fn is_summary(&self) -> bool {
        matches!(self, ActionSpec::SendDigest(_) | ActionSpec::SendReport(_))
    }

    /// The key it is written with.
    pub fn key(&self) -> &'static str {
        match self {
            ActionSpec::SetStatus(_) => "set_status",
            ActionSpec::SetCustomStatus(_) => "set_custom_status",
            ActionSpec::Assign(_) => "assign",
            ActionSpec::AddTags(_) => "add_tags",
            ActionSpec::RemoveTags(_) => "remove_tags",
            ActionSpec::SetField { .. } => "set_field",
            ActionSpec::SetDue(_) => "set_due",
            ActionSpec::SetPriority(_) => "set_priority",
            ActionSpec::Revert(_) => "revert",
            ActionSpec::InternalNote(_) => "internal_note",
            ActionSpec::PublicReply(_) => "public_reply",
            ActionSpec::SendMail(_) => "send_mail",
            ActionSpec::CreateTicket(_) => "create_ticket",
            ActionSpec::SendDigest(_) => "send_digest",
            ActionSpec::SendReport(_) => "send_report",
            ActionSpec::Solve => "solve",
            ActionSpec::Stop => "stop",
        }
    }
}

/// An action entry: the action and whether it is its own update.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionEntry {
    pub action: ActionSpec,
    pub commit: bool,
}

/// `once`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// Fires whenever its conditions hold.
    Always,
    /// At most once per ticket, ever.
    PerTicket,
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub description: Option<String>,
    /// Where it is written (its `name`).
    pub location: Location,
    pub on: Vec<Trigger>,
    pub cron: Option<cron::Schedule>,
    /// The zone its cron runs in.
    pub timezone: Tz,
    /// The calendar its business durations use.
    pub calendar: String,
    /// `all`, `any` and `not` of the rule, as one `All`.
    pub condition: Condition,
    pub actions: Vec<ActionEntry>,
    pub stop: bool,
    pub once: Once,
    pub cascade: bool,
    pub vars: std::collections::BTreeMap<String, String>,
}

impl Rule {
    pub fn runs_on(&self, trigger: Trigger) -> bool {
        self.on.contains(&trigger)
    }

    /// Whether it mails a summary of many tickets: its actions are
    /// `send_digest` or `send_report`, which change no ticket (the load
    /// checks they are its only actions).
    pub fn is_summary(&self) -> bool {
        !self.actions.is_empty() && self.actions.iter().all(|a| a.action.is_summary())
    }
}
