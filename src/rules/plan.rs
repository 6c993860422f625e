//! What the engine decides: a [`Plan`] of concrete effects, with names
//! resolved to ids, templates rendered and due dates computed. The
//! executor applies it; `rules test`, `dry-run` and `explain` print it.

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::helpdesk::{Id, Status};

/// One concrete change or message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    SetStatus(Status),
    SetCustomStatus {
        id: Id,
        name: String,
        /// Whether the status is of the solved category (the write then
        /// needs an assignee).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        solved: bool,
    },
    Assign {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    AddTags(Vec<String>),
    RemoveTags(Vec<String>),
    SetField {
        id: Id,
        field: String,
        value: serde_json::Value,
    },
    SetDue(DateTime<Utc>),
    SetPriority(String),
    /// Removes the due date (a `revert` to a ticket that had none).
    ClearDue,
    InternalNote {
        template: String,
        body: String,
    },
    PublicReply {
        template: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        html: Option<String>,
    },
    SendMail {
        template: String,
        to: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cc: Vec<String>,
        subject: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        html: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<PathBuf>,
    },
    CreateTicket {
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requester_id: Option<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee_id: Option<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cc: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<Status>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
        internal_note: String,
    },
    Solve,
}

impl Effect {
    /// The action key it came from.
    pub fn key(&self) -> &'static str {
        match self {
            Effect::SetStatus(_) => "set_status",
            Effect::SetCustomStatus { .. } => "set_custom_status",
            Effect::Assign { .. } => "assign",
            Effect::AddTags(_) => "add_tags",
            Effect::RemoveTags(_) => "remove_tags",
            Effect::SetField { .. } => "set_field",
            Effect::SetDue(_) => "set_due",
            Effect::SetPriority(_) => "set_priority",
            Effect::ClearDue => "clear_due",
            Effect::InternalNote { .. } => "internal_note",
            Effect::PublicReply { .. } => "public_reply",
            Effect::SendMail { .. } => "send_mail",
            Effect::CreateTicket { .. } => "create_ticket",
            Effect::Solve => "solve",
        }
    }

    /// Whether it changes the ticket itself (and so goes into its update).
    pub fn is_ticket_update(&self) -> bool {
        !matches!(self, Effect::SendMail { .. } | Effect::CreateTicket { .. })
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::SetStatus(s) => write!(f, "set_status {s}"),
            Effect::SetCustomStatus { name, id, .. } => write!(f, "set_custom_status {name:?} (#{id})"),
            Effect::Assign {
                user, user_id, group, ..
            } => {
                f.write_str("assign")?;
                if let Some(user) = user {
                    write!(f, " user {user}")?;
                    if let Some(id) = user_id {
                        write!(f, " (#{id})")?;
                    }
                }
                if let Some(group) = group {
                    write!(f, " group {group:?}")?;
                }
                Ok(())
            }
            Effect::AddTags(tags) => write!(f, "add_tags {}", tags.join(", ")),
            Effect::RemoveTags(tags) => write!(f, "remove_tags {}", tags.join(", ")),
            Effect::SetField { field, value, .. } => write!(f, "set_field {field} = {value}"),
            Effect::SetDue(at) => write!(f, "set_due {}", at.to_rfc3339()),
            Effect::SetPriority(p) => write!(f, "set_priority {p}"),
            Effect::ClearDue => f.write_str("clear_due"),
            Effect::InternalNote { template, .. } => write!(f, "internal_note from {template}"),
            Effect::PublicReply { template, .. } => write!(f, "public_reply from {template}"),
            Effect::SendMail {
                template,
                to,
                subject,
                ..
            } => write!(f, "send_mail {template} to {} ({subject:?})", to.join(", ")),
            Effect::CreateTicket { subject, .. } => write!(f, "create_ticket {subject:?}"),
            Effect::Solve => f.write_str("solve"),
        }
    }
}

/// One planned effect, with the rule that planned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub rule: String,
    pub effect: Effect,
    /// Flush the ticket's update after this step, so it is its own audit.
    #[serde(default)]
    pub commit: bool,
}

/// A rule that matched but could not be planned (an unknown group, a
/// template that failed): it is left out whole, and said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanProblem {
    pub rule: String,
    pub message: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {:?}: {}", self.rule, self.message)
    }
}

/// What one event does to one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub ticket_id: Id,
    /// The rule set that planned it.
    pub rules_hash: String,
    pub now: DateTime<Utc>,
    /// The rules that fired, in order.
    pub fired: Vec<String>,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<PlanProblem>,
    /// The rule whose `stop` ended the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The steps grouped into Zendesk updates: a group ends after a step
    /// with `commit`. Mails and created tickets are not in them.
    pub fn update_groups(&self) -> Vec<Vec<&Step>> {
        let mut groups = Vec::new();
        let mut current = Vec::new();
        for step in &self.steps {
            if step.effect.is_ticket_update() {
                current.push(step);
            }
            if step.commit && !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            groups.push(current);
        }
        groups
    }
}
