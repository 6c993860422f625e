//! Tickets as carteiro remembers them: the snapshot the store keeps of each
//! ticket (its last seen version and its clocks), and what changed between
//! two snapshots.
//!
//! The ticket poller reads Zendesk's incremental export, compares each
//! changed ticket with its snapshot, and turns the difference into a
//! [`TicketEvent`] for the rule engine ([`poller`]). Rules then ask "did the group
//! change to …" of a [`TicketChange`], never of Zendesk's own "hours
//! since" fields. The executor writes the snapshot after its own updates,
//! so the poller's next diff holds only what others (agents, customers)
//! changed: the bot's writes do not re-trigger rules.

pub mod poller;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::helpdesk::clocks::TicketClocks;
use crate::helpdesk::{Id, Role, Status, Ticket};

/// What the store keeps of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The ticket as last read (from the export, a show, or the answer to
    /// carteiro's own update).
    pub ticket: Ticket,
    /// When things last happened to it, from its history.
    pub clocks: TicketClocks,
    /// The newest audit folded into `clocks`; the next poll reads only
    /// newer ones into the change's comments.
    pub last_audit_id: Option<Id>,
}

impl Snapshot {
    /// The snapshot after carteiro's own update, which Zendesk answered
    /// with `ticket`: what the executor saves, so the poller takes the
    /// write as already seen. The clocks move at the ticket's `updated_at`
    /// as the update changed it (status, custom status, assignee), and, when
    /// the update added a public comment (`public_comment`), as carteiro is
    /// an agent, `last_agent_public_comment_at` too. They are what the
    /// poller would compute from the whole history, without reading it, so
    /// a sweep right after the write sees the right clocks.
    pub fn after_own_write(&self, ticket: Ticket, public_comment: bool) -> Snapshot {
        let at = ticket.updated_at;
        let change = diff(&self.ticket, &ticket);
        let mut clocks = self.clocks;
        if let Some(status) = &change.status {
            clocks.status_changed_at = Some(at);
            clocks.custom_status_changed_at = Some(at);
            if status.to == Status::Solved {
                clocks.solved_at = Some(at);
            }
        }
        if change.custom_status.is_some() {
            clocks.custom_status_changed_at = Some(at);
        }
        if let Some(assignee) = &change.assignee {
            clocks.assigned_at = assignee.to.map(|_| at);
        }
        if public_comment {
            clocks.last_agent_public_comment_at = Some(at);
        }
        Snapshot {
            ticket,
            clocks,
            last_audit_id: self.last_audit_id,
        }
    }
}

/// A comment that appeared since the previous snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewComment {
    pub id: Id,
    pub author_id: Option<Id>,
    /// The author's role; `None` when the author is unknown.
    pub author_role: Option<Role>,
    pub public: bool,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A value before and after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta<T> {
    pub from: T,
    pub to: T,
}

/// A custom field's change, by field id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDelta {
    pub id: Id,
    pub from: Value,
    pub to: Value,
}

/// What changed on a ticket between two snapshots. A field that did not
/// change is `None` (or empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Delta<Status>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_status: Option<Delta<Option<Id>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Delta<Option<Id>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Delta<Option<Id>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Delta<Option<Id>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Delta<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<Delta<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Delta<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Delta<Option<DateTime<Utc>>>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_removed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDelta>,
    /// Comments added since the previous snapshot, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<NewComment>,
}

impl TicketChange {
    /// Whether nothing a rule can see changed.
    pub fn is_empty(&self) -> bool {
        self == &TicketChange::default()
    }

    /// The change of custom field `id`, if it changed.
    pub fn field(&self, id: Id) -> Option<&FieldDelta> {
        self.fields.iter().find(|f| f.id == id)
    }
}

/// Compares two versions of one ticket. Comments are not on the ticket;
/// the caller adds them from the audits.
pub fn diff(before: &Ticket, after: &Ticket) -> TicketChange {
    fn delta<T: PartialEq + Clone>(from: &T, to: &T) -> Option<Delta<T>> {
        (from != to).then(|| Delta {
            from: from.clone(),
            to: to.clone(),
        })
    }
    let tags_added = after
        .tags
        .iter()
        .filter(|t| !before.tags.contains(t))
        .cloned()
        .collect();
    let tags_removed = before
        .tags
        .iter()
        .filter(|t| !after.tags.contains(t))
        .cloned()
        .collect();
    let mut fields = Vec::new();
    for field in &after.custom_fields {
        let from = before.custom_field(field.id).cloned().unwrap_or(Value::Null);
        if from != field.value {
            fields.push(FieldDelta {
                id: field.id,
                from,
                to: field.value.clone(),
            });
        }
    }
    for field in &before.custom_fields {
        if after.custom_field(field.id).is_none() && !field.value.is_null() {
            fields.push(FieldDelta {
                id: field.id,
                from: field.value.clone(),
                to: Value::Null,
            });
        }
    }
    TicketChange {
        status: delta(&before.status, &after.status),
        custom_status: delta(&before.custom_status_id, &after.custom_status_id),
        group: delta(&before.group_id, &after.group_id),
        assignee: delta(&before.assignee_id, &after.assignee_id),
        requester: delta(&before.requester_id, &after.requester_id),
        priority: delta(&before.priority, &after.priority),
        ticket_type: delta(&before.ticket_type, &after.ticket_type),
        subject: delta(&before.subject, &after.subject),
        due_at: delta(&before.due_at, &after.due_at),
        tags_added,
        tags_removed,
        fields,
        comments: Vec::new(),
    }
}

/// Whether an event is about a ticket seen for the first time or one that
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketEventKind {
    Created,
    Updated,
}

/// A ticket event, as the poller queues it for the rule engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub kind: TicketEventKind,
    pub ticket_id: Id,
    /// The ticket's `updated_at` when the poller saw it: with the rule and
    /// the ticket, the key of the executor's journal.
    pub version: DateTime<Utc>,
    /// For `Updated`, what changed since the previous snapshot. For
    /// `Created`, the ticket's comments so far.
    pub change: TicketChange,
}

#[cfg(test)]
mod tests;
