//! Ticket triggers: the account's business rules that run right after every
//! ticket create and update made through the API, change the ticket and send
//! the e-mail notifications a customer receives.
//!
//! - **Data.** A [`Trigger`] is stored as Zendesk writes it (conditions and
//!   actions as `{field, operator, value}` / `{field, value}`), so the
//!   Triggers API echoes exactly what it was given. A new account starts
//!   with [`standard`], Zendesk's standard set; a seed may give its own.
//! - **Checking.** [`check`] refuses, with Zendesk's 422 shape, every
//!   condition and action the simulator cannot evaluate: a rule the
//!   simulator accepted is a rule it runs, never one it ignores.
//! - **Running.** [`run`] is the trigger cycle: the active triggers in
//!   position order against the ticket after the update, each firing at
//!   most once, its actions applied at once (later triggers see them), and
//!   the whole list checked again while a pass fired something. The
//!   notifications a firing asks for are returned, not sent: `notify`
//!   renders them once the cycle is over.
//!
//! Sources: the standard set and its texts are recorded payloads (see
//! [`standard`]); the fields, operators and values are those of a recorded
//! `GET /api/v2/triggers/definitions` (salto-io/salto,
//! `packages/zendesk-adapter/test/mock_replies/myBrand_mock_replies.json`,
//! 2021) and Zendesk's conditions reference.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::state::{add_tags, normalize_tags, remove_tags};
use crate::helpdesk::model::{Id, Role, Status, StatusCategory, Ticket, User};

/// Where trigger ids start (Zendesk's are 12 to 14 digits).
pub const TRIGGER_IDS_FROM: Id = 360_000_300_001;

/// The trigger category every new account has, "Notifications", holding the
/// standard triggers (recorded: every standard trigger of the 2021 account
/// has the `category_id` of the category `{"name": "Notifications",
/// "position": 1}` created at signup). Category ids are strings.
pub const DEFAULT_CATEGORY_ID: &str = "360000400001";

/// The `current_via_id` of an update made through the API: "Web service
/// (API)" is `5` in the recorded definitions.
pub const VIA_API: u32 = 5;

/// One condition, as Zendesk writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub operator: String,
    #[serde(default)]
    pub value: Value,
}

/// `conditions`: every one of `all` and, when `any` has some, one of `any`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default)]
    pub all: Vec<Condition>,
    #[serde(default)]
    pub any: Vec<Condition>,
}

/// One action, as Zendesk writes it; a notification's `value` is
/// `[recipient, subject, body]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub field: String,
    pub value: Value,
}

/// A trigger of the account, its keys in the order of the recorded
/// `GET /api/v2/triggers` (zenpy's `TestTriggers` cassettes, 2023). `url` is
/// filled in when answering.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trigger {
    pub url: Option<String>,
    pub id: Id,
    pub title: String,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// "If true, the ticket trigger is a standard trigger" (developer.zendesk.com,
    /// Ticket Triggers, JSON format).
    pub default: bool,
    pub actions: Vec<Action>,
    pub conditions: Conditions,
    pub description: Option<String>,
    pub position: i64,
    pub raw_title: String,
    pub category_id: String,
}

/// A trigger as a seed writes it: a recorded payload pasted as it is works
/// (`url` is ignored); what it leaves out gets a new trigger's value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRecord {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub id: Option<Id>,
    pub title: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub default: Option<bool>,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub raw_title: Option<String>,
    #[serde(default)]
    pub category_id: Option<String>,
}

/// A seed's trigger, checked when the seed is read: a seed cannot hold a
/// trigger the simulator would not run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "TriggerRecord")]
pub struct SeedTrigger(pub TriggerRecord);

impl TryFrom<TriggerRecord> for SeedTrigger {
    type Error = String;

    fn try_from(record: TriggerRecord) -> Result<SeedTrigger, String> {
        if record.title.trim().is_empty() {
            return Err("Title: cannot be blank".to_owned());
        }
        check(&record.conditions, &record.actions)?;
        Ok(SeedTrigger(record))
    }
}

/// Fields of a write to a trigger (`POST`/`PUT /api/v2/triggers`); what is
/// left out stays as it is (or gets a new trigger's value). Other keys
/// (`restriction`, sideloads) are ignored, as Zendesk ignores keys it does
/// not know.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TriggerInput {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub raw_title: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category_id: Option<Value>,
    #[serde(default)]
    pub conditions: Option<Conditions>,
    #[serde(default)]
    pub actions: Option<Vec<Action>>,
}

/// One item of `PUT /api/v2/triggers/update_many`: "Updates the position or
/// the active status of multiple ticket triggers. Any additional properties
/// are ignored" (developer.zendesk.com, Update Many Ticket Triggers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BulkTriggerUpdate {
    pub id: Id,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub category_id: Option<Value>,
}

// -- the standard set ------------------------------------------------------------

/// A condition, briefly.
fn cond(field: &str, operator: &str, value: Value) -> Condition {
    Condition {
        field: field.to_owned(),
        operator: operator.to_owned(),
        value,
    }
}

fn notify(field: &str, to: &str, subject: &str, body: &str) -> Action {
    Action {
        field: field.to_owned(),
        value: json!([to, subject, body]),
    }
}

/// One standard trigger, before it gets its id and time.
struct Standard {
    title: &'static str,
    active: bool,
    position: i64,
    description: Option<&'static str>,
    all: Vec<Condition>,
    any: Vec<Condition>,
    actions: Vec<Action>,
}

/// The standard triggers of an account created now, in the order and with
/// the conditions of Zendesk's "About the standard ticket triggers"
/// (support.zendesk.com article 4408828984346): every one active except
/// "Auto-assign to first email responding agent (inactive at signup)", and
/// "Set tickets with no priority to normal", "available for most accounts
/// created on or after March 3, 2025".
///
/// The JSON is recorded where a recording exists:
/// - the texts of an account created after simplified e-mail threading
///   (June 2022), which end in `{{ticket.latest_comment_html}}` (to agents)
///   or `{{ticket.latest_public_comment_html}}`: zenpy's `TestTriggers`
///   cassettes (facetoe/zenpy, `tests/test_api/betamax/`, account created
///   2023-09-09), for received request, proactive ticket, comment update,
///   assignee of comment update, of assignment, of reopened ticket, and all
///   agents; the proactive and all-agents texts also in a real 2022 audit
///   (Koredotcom/koredotai-docs, Zendesk action templates);
/// - "Notify group of assignment" and "Auto-assign" as recorded in 2021
///   (salto-io/salto's `myBrand_mock_replies.json`), the group body with the
///   same swap to `{{ticket.latest_comment_html}}` the 2023 set made
///   (inferred, no recording);
/// - "Set tickets with no priority to normal" from the article's prose
///   ("Ticket | Is | Created", "Priority | Is | (empty)" → "Priority |
///   Normal"); no JSON was found.
///
/// Positions follow the article's order. The 2018 account (go-zendesk's
/// `fixture/GET/triggers.json`) numbers from 0 and puts Auto-assign at 9998;
/// the set-priority trigger, listed after it, gets 9999.
fn standard_set() -> Vec<Standard> {
    let latest = "{{ticket.latest_comment_html}}";
    vec![
        Standard {
            title: "Notify requester and CCs of received request",
            active: true,
            position: 0,
            description: None,
            all: vec![
                cond("update_type", "is", json!("Create")),
                cond("status", "is_not", json!("solved")),
                cond("ticket_is_public", "is", json!("public")),
                cond("comment_is_public", "is", json!(true)),
                cond("role", "is", json!("end_user")),
            ],
            any: Vec::new(),
            actions: vec![notify(
                "notification_user",
                "requester_and_ccs",
                "[Request received]",
                "Your request ({{ticket.id}}) has been received and is being reviewed by our support staff.\n\nTo add additional comments, reply to this email.",
            )],
        },
        Standard {
            title: "Notify requester of new proactive ticket",
            active: true,
            position: 1,
            description: Some(
                "A proactive ticket is a ticket created by an agent on behalf of the requester.",
            ),
            all: vec![
                cond("update_type", "is", json!("Create")),
                cond("ticket_is_public", "is", json!("public")),
                cond("role", "is", json!("agent")),
            ],
            any: Vec::new(),
            actions: vec![notify(
                "notification_user",
                "requester_and_ccs",
                "{{ticket.title}}",
                "This ticket was created on your behalf.\n\nTo add additional comments, reply to this email.\n\n{{ticket.latest_public_comment_html}}",
            )],
        },
        Standard {
            title: "Notify requester and CCs of comment update",
            active: true,
            position: 2,
            description: None,
            all: vec![
                cond("update_type", "is", json!("Change")),
                cond("comment_is_public", "is", json!(true)),
            ],
            any: Vec::new(),
            actions: vec![notify(
                "notification_user",
                "requester_and_ccs",
                "[{{ticket.account}}] Re: {{ticket.title}}",
                latest,
            )],
        },
        Standard {
            title: "Notify assignee of comment update",
            active: true,
            position: 3,
            description: None,
            all: vec![
                cond("comment_is_public", "is", json!("not_relevant")),
                cond("assignee_id", "is_not", json!("current_user")),
                cond("assignee_id", "is_not", json!("requester_id")),
                cond("assignee_id", "not_changed", Value::Null),
                cond("status", "not_value_previous", json!("solved")),
            ],
            any: Vec::new(),
            actions: vec![notify(
                "notification_user",
                "assignee_id",
                "[{{ticket.account}}] Re: {{ticket.title}}",
                latest,
            )],
        },
        Standard {
            title: "Notify assignee of assignment",
            active: true,
            position: 4,
            description: None,
            all: vec![
                cond("assignee_id", "changed", Value::Null),
                cond("assignee_id", "is_not", json!("current_user")),
            ],
            any: Vec::new(),
            actions: vec![notify(
                "notification_user",
                "assignee_id",
                "[{{ticket.account}}] Assignment: {{ticket.title}}",
                "You have been assigned to this ticket (#{{ticket.id}}).\n\n{{ticket.latest_comment_html}}",
            )],
        },
        Standard {
            title: "Notify assignee of reopened ticket",
            active: true,
            position: 5,
            description: None,
            all: vec![
                cond("assignee_id", "is_not", json!("current_user")),
                cond("status", "value_previous", json!("solved")),
                cond("status", "is_not", json!("closed")),
            ],
            any: Vec::new(),
            actions: vec![notify(
                "notification_user",
                "assignee_id",
                "[{{ticket.account}}] Re: {{ticket.title}}",
                "This ticket (#{{ticket.id}}) has been reopened.\n\n{{ticket.latest_comment_html}}",
            )],
        },
        Standard {
            title: "Notify group of assignment",
            active: true,
            position: 6,
            description: None,
            all: vec![
                cond("group_id", "is_not", json!("")),
                cond("assignee_id", "is", json!("")),
            ],
            any: vec![
                cond("group_id", "changed", json!("")),
                cond("assignee_id", "changed", json!("")),
            ],
            // Two spaces after "assignment:", as recorded.
            actions: vec![notify(
                "notification_group",
                "group_id",
                "[{{ticket.account}}] \"{{ticket.group.name}}\" assignment:  {{ticket.title}}",
                "This ticket (#{{ticket.id}}) has been assigned to group '{{ticket.group.name}}', of which you are a member.\n\n{{ticket.latest_comment_html}}",
            )],
        },
        Standard {
            title: "Notify all agents of received request",
            active: true,
            position: 7,
            description: None,
            all: vec![cond("update_type", "is", json!("Create"))],
            any: Vec::new(),
            actions: vec![notify(
                "notification_user",
                "all_agents",
                "[{{ticket.account}}] {{ticket.title}}",
                "A ticket (#{{ticket.id}}) by {{ticket.requester.name}} has been received. It is unassigned.\n\n{{ticket.latest_comment_html}}",
            )],
        },
        Standard {
            title: "Auto-assign to first email responding agent",
            active: false,
            position: 9998,
            description: None,
            all: vec![
                cond("update_type", "is", json!("Change")),
                cond("current_via_id", "is", json!("4")),
                cond("assignee_id", "is", json!("")),
                cond("role", "is_not", json!("end_user")),
            ],
            any: Vec::new(),
            actions: vec![Action {
                field: "assignee_id".to_owned(),
                value: json!("current_user"),
            }],
        },
        Standard {
            title: "Set tickets with no priority to normal",
            active: true,
            position: 9999,
            description: None,
            all: vec![
                cond("update_type", "is", json!("Create")),
                cond("priority", "is", json!("")),
            ],
            any: Vec::new(),
            actions: vec![Action {
                field: "priority".to_owned(),
                value: json!("normal"),
            }],
        },
    ]
}

/// The standard triggers a new account starts with, ids from `next_id`,
/// created at the account's start.
pub fn standard(next_id: &mut Id, now: DateTime<Utc>) -> Vec<Trigger> {
    standard_set()
        .into_iter()
        .map(|s| {
            let id = *next_id;
            *next_id = next_id.saturating_add(1);
            Trigger {
                url: None,
                id,
                title: s.title.to_owned(),
                active: s.active,
                updated_at: now,
                created_at: now,
                default: true,
                actions: s.actions,
                conditions: Conditions {
                    all: s.all,
                    any: s.any,
                },
                description: s.description.map(str::to_owned),
                position: s.position,
                raw_title: s.title.to_owned(),
                category_id: DEFAULT_CATEGORY_ID.to_owned(),
            }
        })
        .collect()
}

/// A seed's trigger as stored.
pub fn from_record(record: TriggerRecord, id: Id, position: i64, now: DateTime<Utc>) -> Trigger {
    let created_at = record.created_at.unwrap_or(now);
    Trigger {
        url: None,
        id,
        raw_title: record.raw_title.unwrap_or_else(|| record.title.clone()),
        title: record.title,
        active: record.active.unwrap_or(true),
        updated_at: record.updated_at.unwrap_or(created_at),
        created_at,
        default: record.default.unwrap_or(false),
        actions: record.actions,
        conditions: record.conditions,
        description: record.description,
        position: record.position.unwrap_or(position),
        category_id: record
            .category_id
            .unwrap_or_else(|| DEFAULT_CATEGORY_ID.to_owned()),
    }
}

/// A `category_id` as sent: a string, or a number.
pub fn category_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// -- checking ----------------------------------------------------------------------

/// The fields the simulator evaluates, with the operators each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    UpdateType,
    Status,
    Priority,
    Assignee,
    Requester,
    Group,
    Tags,
    Via,
    CurrentVia,
    CommentIsPublic,
    TicketIsPublic,
    Role,
}

impl Field {
    fn parse(field: &str) -> Option<Field> {
        Some(match field {
            "update_type" => Field::UpdateType,
            "status" => Field::Status,
            "priority" => Field::Priority,
            "assignee_id" => Field::Assignee,
            "requester_id" => Field::Requester,
            "group_id" => Field::Group,
            "current_tags" => Field::Tags,
            "via_id" => Field::Via,
            "current_via_id" => Field::CurrentVia,
            "comment_is_public" => Field::CommentIsPublic,
            "ticket_is_public" => Field::TicketIsPublic,
            "role" => Field::Role,
            _ => return None,
        })
    }

    /// The field's title in Zendesk's UI (the recorded definitions), which
    /// Zendesk's 422 names.
    fn title(self) -> &'static str {
        match self {
            Field::UpdateType => "Ticket",
            Field::Status => "Status",
            Field::Priority => "Priority",
            Field::Assignee => "Assignee",
            Field::Requester => "Requester",
            Field::Group => "Group",
            Field::Tags => "Tags",
            Field::Via => "Channel",
            Field::CurrentVia => "Update via",
            Field::CommentIsPublic => "Comment",
            Field::TicketIsPublic => "Privacy",
            Field::Role => "Current user",
        }
    }

    /// The operators of the recorded definitions.
    fn operators(self) -> &'static [Op] {
        use Op::*;
        const CHANGES: &[Op] = &[
            Is,
            IsNot,
            Changed,
            Value,
            ValuePrevious,
            NotChanged,
            NotValue,
            NotValuePrevious,
        ];
        const ORDERED: &[Op] = &[
            Is,
            IsNot,
            LessThan,
            GreaterThan,
            Changed,
            Value,
            ValuePrevious,
            NotChanged,
            NotValue,
            NotValuePrevious,
        ];
        match self {
            Field::Status | Field::Priority => ORDERED,
            Field::Assignee | Field::Requester | Field::Group => CHANGES,
            Field::Tags => &[Includes, NotIncludes],
            Field::Via | Field::CurrentVia | Field::Role => &[Is, IsNot],
            Field::UpdateType | Field::CommentIsPublic | Field::TicketIsPublic => &[Is],
        }
    }
}

/// The condition operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Is,
    IsNot,
    LessThan,
    GreaterThan,
    Changed,
    /// "Changed to".
    Value,
    /// "Changed from".
    ValuePrevious,
    NotChanged,
    NotValue,
    NotValuePrevious,
    /// Tags: "Contains at least one of the following".
    Includes,
    /// Tags: "Contains none of the following".
    NotIncludes,
}

impl Op {
    fn parse(operator: &str) -> Option<Op> {
        Some(match operator {
            "is" => Op::Is,
            "is_not" => Op::IsNot,
            "less_than" => Op::LessThan,
            "greater_than" => Op::GreaterThan,
            "changed" => Op::Changed,
            "value" => Op::Value,
            "value_previous" => Op::ValuePrevious,
            "not_changed" => Op::NotChanged,
            "not_value" => Op::NotValue,
            "not_value_previous" => Op::NotValuePrevious,
            "includes" => Op::Includes,
            "not_includes" => Op::NotIncludes,
            _ => return None,
        })
    }

    fn title(self) -> &'static str {
        match self {
            Op::Is => "Is",
            Op::IsNot => "Is not",
            Op::LessThan => "Less than",
            Op::GreaterThan => "Greater than",
            Op::Changed => "Changed",
            Op::Value => "Changed to",
            Op::ValuePrevious => "Changed from",
            Op::NotChanged => "Not changed",
            Op::NotValue => "Not changed to",
            Op::NotValuePrevious => "Not changed from",
            Op::Includes => "Contains at least one of the following",
            Op::NotIncludes => "Contains none of the following",
        }
    }

    /// Whether the operator compares with the value (the `changed`
    /// operators ignore it).
    fn uses_value(self) -> bool {
        !matches!(self, Op::Changed | Op::NotChanged)
    }
}

/// A condition's or action's value as text: strings as they are, numbers
/// and booleans spelled out, `null` empty.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// "None" in a condition: `""` in the standard triggers, `__NULL__` in the
/// definitions' value lists.
fn is_none_value(value: &str) -> bool {
    value.is_empty() || value == "__NULL__"
}

fn is_id(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

/// The order of statuses for `less_than`/`greater_than`: new, open,
/// pending, on-hold, solved, closed (the order the simulator's search uses).
fn status_rank(status: &str) -> Option<u8> {
    Some(match status {
        "new" => 0,
        "open" => 1,
        "pending" => 2,
        "hold" => 3,
        "solved" => 4,
        "closed" => 5,
        _ => return None,
    })
}

fn priority_rank(priority: &str) -> Option<u8> {
    Some(match priority {
        "low" => 1,
        "normal" => 2,
        "high" => 3,
        "urgent" => 4,
        _ => return None,
    })
}

/// The via ids of the recorded definitions (`via_id`, `current_via_id`).
const VIA_IDS: &[u32] = &[
    0, 4, 5, 8, 16, 23, 24, 26, 27, 29, 30, 31, 33, 34, 35, 38, 41, 44, 45, 46, 48, 49, 50, 54, 55, 56, 57,
    67, 72, 73, 74, 78, 86, 88,
];

/// `'field / operator / value'`, as Zendesk's 422 names a condition.
fn display(condition: &Condition) -> String {
    let value = match &condition.value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    format!("{} / {} / {}", condition.field, condition.operator, value)
}

/// Checks every condition and action. The first problem is the error's
/// text: Zendesk's own wording where a real account refuses the same thing
/// ("Invalid value 'web' in 'Update via / Is not / web'", recorded in
/// Speedygeek/ZendeskApi_v2 issue #226), and where Zendesk would accept a
/// rule the simulator cannot run, a sentence that says so and names it.
pub fn check(conditions: &Conditions, actions: &[Action]) -> Result<(), String> {
    for condition in conditions.all.iter().chain(&conditions.any) {
        check_condition(condition)?;
    }
    if actions.is_empty() {
        return Err("Actions: cannot be blank".to_owned());
    }
    for action in actions {
        check_action(action)?;
    }
    Ok(())
}

fn check_condition(condition: &Condition) -> Result<(), String> {
    let cannot = || {
        format!(
            "The simulator cannot evaluate the condition '{}' (it evaluates update_type, status, priority, \
             assignee_id, requester_id, group_id, current_tags, via_id, current_via_id, comment_is_public, \
             ticket_is_public and role, with the operators Zendesk's definitions give each)",
            display(condition)
        )
    };
    let (Some(field), Some(op)) = (Field::parse(&condition.field), Op::parse(&condition.operator)) else {
        return Err(cannot());
    };
    if !field.operators().contains(&op) {
        return Err(cannot());
    }
    let invalid = || {
        format!(
            "Invalid value '{}' in '{} / {} / {}'",
            text(&condition.value).unwrap_or_else(|| condition.value.to_string()),
            field.title(),
            op.title(),
            text(&condition.value).unwrap_or_else(|| condition.value.to_string())
        )
    };
    if !op.uses_value() {
        return Ok(());
    }
    let value = text(&condition.value).ok_or_else(invalid)?;
    let fine = match field {
        Field::UpdateType => matches!(value.as_str(), "Create" | "Change"),
        Field::Status => status_rank(&value).is_some(),
        Field::Priority => match op {
            Op::LessThan | Op::GreaterThan => priority_rank(&value).is_some(),
            _ => is_none_value(&value) || priority_rank(&value).is_some(),
        },
        Field::Assignee => {
            is_none_value(&value)
                || is_id(&value)
                || matches!(value.as_str(), "current_user" | "requester_id")
        }
        Field::Requester => is_id(&value) || matches!(value.as_str(), "current_user" | "assignee_id"),
        Field::Group => is_none_value(&value) || is_id(&value),
        Field::Tags => !value.is_empty(),
        Field::Via | Field::CurrentVia => value.parse::<u32>().is_ok_and(|id| VIA_IDS.contains(&id)),
        Field::CommentIsPublic => matches!(
            value.as_str(),
            "true" | "false" | "not_relevant" | "requester_can_see_comment"
        ),
        Field::TicketIsPublic => matches!(value.as_str(), "public" | "private"),
        Field::Role => is_id(&value) || matches!(value.as_str(), "agent" | "end_user"),
    };
    if fine { Ok(()) } else { Err(invalid()) }
}

/// The recipients `notification_user` takes besides a user id (the recorded
/// definitions' "Email user" values).
const USER_RECIPIENTS: &[&str] = &[
    "current_user",
    "requester_and_ccs",
    "requester_id",
    "assignee_id",
    "all_agents",
];

fn check_action(action: &Action) -> Result<(), String> {
    let invalid = || format!("Invalid value '{}' in action '{}'", action.value, action.field);
    match action.field.as_str() {
        "notification_user" | "notification_group" => {
            let parts = action
                .value
                .as_array()
                .filter(|v| v.len() == 3)
                .ok_or_else(invalid)?;
            let to = parts[0]
                .as_str()
                .map(str::to_owned)
                .or_else(|| parts[0].as_u64().map(|n| n.to_string()))
                .ok_or_else(invalid)?;
            let fine = if action.field == "notification_user" {
                is_id(&to) || USER_RECIPIENTS.contains(&to.as_str())
            } else {
                is_id(&to) || to == "group_id"
            };
            if !fine {
                return Err(invalid());
            }
            for part in &parts[1..] {
                let template = part.as_str().ok_or_else(invalid)?;
                check_template(template)?;
            }
            Ok(())
        }
        "priority" => {
            let value = text(&action.value).ok_or_else(invalid)?;
            priority_rank(&value).map(|_| ()).ok_or_else(invalid)
        }
        "status" => {
            // The recorded definitions offer open, pending, solved and
            // closed; on-hold exists on accounts that have it, as this
            // simulator's does. A trigger cannot set "new".
            let value = text(&action.value).ok_or_else(invalid)?;
            match Status::parse(&value) {
                Some(Status::Open | Status::Pending | Status::Hold | Status::Solved | Status::Closed) => {
                    Ok(())
                }
                _ => Err(invalid()),
            }
        }
        "assignee_id" => {
            let value = text(&action.value).ok_or_else(invalid)?;
            let fine = is_none_value(&value)
                || is_id(&value)
                || matches!(value.as_str(), "current_user" | "requester_id");
            if fine { Ok(()) } else { Err(invalid()) }
        }
        "group_id" => {
            let value = text(&action.value).ok_or_else(invalid)?;
            if is_none_value(&value) || is_id(&value) {
                Ok(())
            } else {
                Err(invalid())
            }
        }
        "set_tags" | "current_tags" | "remove_tags" => {
            tag_list(&action.value).map(|_| ()).ok_or_else(invalid)
        }
        other => Err(format!(
            "The simulator cannot perform the action '{other}' (it performs notification_user, \
             notification_group, priority, status, assignee_id, group_id, set_tags, current_tags and \
             remove_tags)"
        )),
    }
}

/// A notification's subject or body: `{{placeholders}}` only. Liquid tags
/// (`{% if %}`) and filters (`{{x | upcase}}`) are Zendesk's but not the
/// simulator's, so they are refused rather than sent unrendered.
fn check_template(template: &str) -> Result<(), String> {
    if let Some(at) = template.find("{%") {
        let tag: String = template[at..].chars().take(40).collect();
        return Err(format!(
            "The simulator cannot render the Liquid tag '{tag}': notifications may use {{{{placeholders}}}} only"
        ));
    }
    for placeholder in placeholders(template) {
        if placeholder.contains('|') {
            return Err(format!(
                "The simulator cannot render the Liquid filter in '{{{{{placeholder}}}}}'"
            ));
        }
    }
    Ok(())
}

/// The names inside `{{ }}` in `template`, trimmed.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end].trim().to_owned());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out
}

/// Tags as a tag action gives them: one string of space-separated tags, or
/// a list.
fn tag_list(value: &Value) -> Option<Vec<String>> {
    let tags = match value {
        Value::String(s) => normalize_tags(&[s.as_str()]),
        Value::Array(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            normalize_tags(&strings?)
        }
        _ => return None,
    };
    (!tags.is_empty()).then_some(tags)
}

// -- running -----------------------------------------------------------------------

/// What the trigger cycle knows about the update besides the ticket.
#[derive(Debug, Clone)]
pub struct Update<'a> {
    /// The ticket before the update; `None` for a create.
    pub previous: Option<&'a Ticket>,
    /// The user making the update (the API user).
    pub actor: Id,
    pub actor_role: Option<Role>,
    /// The comment the update added, if any: whether it is public.
    pub comment_public: Option<bool>,
    /// How the update came in (`current_via_id`).
    pub via_id: u32,
}

/// What the actions need to know about the account.
pub trait Account {
    fn user(&self, id: Id) -> Option<&User>;
    fn group_exists(&self, id: Id) -> bool;
    /// The custom status a ticket moved into `category` gets.
    fn default_custom_status(&self, category: StatusCategory) -> Option<Id>;
}

/// A notification a firing asked for, still to be rendered and sent.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyRequest {
    pub trigger_id: Id,
    pub trigger_title: String,
    /// `notification_group` rather than `notification_user`.
    pub group: bool,
    /// The recipient as written: `requester_and_ccs`, `group_id`, an id...
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// One trigger that fired: the ticket before and after its actions, and
/// the notifications it asked for.
#[derive(Debug, Clone)]
pub struct Firing {
    pub trigger_id: Id,
    pub trigger_title: String,
    pub before: Ticket,
    pub after: Ticket,
    pub notifications: Vec<NotifyRequest>,
}

/// The trigger cycle on `ticket`, which ends as the cycle leaves it.
///
/// "Ticket triggers run in the order they are listed on the Triggers page
/// [...] actions applied by one trigger can affect how other triggers run
/// and fire" (support.zendesk.com article 4408886797466, "Essential facts
/// about ticket triggers"): the active triggers run in position order (then
/// title and id, the order of Zendesk's trigger cursors, recorded as
/// `position,position,title,id`), a firing's actions apply before the next
/// trigger is checked, each trigger fires at most once per update, and
/// while a pass fired something the triggers that did not fire are checked
/// again: a change made by a later trigger can make an earlier one fire.
pub fn run(triggers: &[Trigger], ticket: &mut Ticket, update: &Update, account: &dyn Account) -> Vec<Firing> {
    let mut active: Vec<&Trigger> = triggers.iter().filter(|t| t.active).collect();
    active.sort_by(|a, b| (a.position, &a.title, a.id).cmp(&(b.position, &b.title, b.id)));
    let mut fired: BTreeSet<Id> = BTreeSet::new();
    let mut firings = Vec::new();
    loop {
        let mut any = false;
        for trigger in &active {
            if fired.contains(&trigger.id) || !matches(&trigger.conditions, ticket, update) {
                continue;
            }
            fired.insert(trigger.id);
            any = true;
            let before = ticket.clone();
            let mut notifications = Vec::new();
            for action in &trigger.actions {
                match apply(action, ticket, update, account) {
                    Applied::Done => {}
                    Applied::Notify {
                        group,
                        to,
                        subject,
                        body,
                    } => notifications.push(NotifyRequest {
                        trigger_id: trigger.id,
                        trigger_title: trigger.title.clone(),
                        group,
                        to,
                        subject,
                        body,
                    }),
                }
            }
            firings.push(Firing {
                trigger_id: trigger.id,
                trigger_title: trigger.title.clone(),
                before,
                after: ticket.clone(),
                notifications,
            });
        }
        if !any {
            return firings;
        }
    }
}

/// Whether `conditions` hold: every `all`, and one `any` when there are
/// some ("If you use only one condition in the any section, it will behave
/// like an all condition", support.zendesk.com article 203662246).
fn matches(conditions: &Conditions, ticket: &Ticket, update: &Update) -> bool {
    conditions.all.iter().all(|c| holds(c, ticket, update))
        && (conditions.any.is_empty() || conditions.any.iter().any(|c| holds(c, ticket, update)))
}

fn id_text(id: Option<Id>) -> Option<String> {
    id.map(|id| id.to_string())
}

/// A field's value on a ticket, as text (`None` when unset).
fn slot(field: Field, ticket: &Ticket) -> Option<String> {
    match field {
        Field::Status => Some(ticket.status.as_str().to_owned()),
        Field::Priority => ticket.priority.clone().filter(|p| !p.is_empty()),
        Field::Assignee => id_text(ticket.assignee_id),
        Field::Requester => id_text(ticket.requester_id),
        Field::Group => id_text(ticket.group_id),
        _ => None,
    }
}

/// What a condition's value stands for on `ticket`: `current_user` the
/// updater, `requester_id`/`assignee_id` the ticket's, `""` nobody.
fn target(value: &str, ticket: &Ticket, update: &Update) -> Option<String> {
    match value {
        v if is_none_value(v) => None,
        "current_user" => Some(update.actor.to_string()),
        "requester_id" => id_text(ticket.requester_id),
        "assignee_id" => id_text(ticket.assignee_id),
        v => Some(v.to_owned()),
    }
}

fn holds(condition: &Condition, ticket: &Ticket, update: &Update) -> bool {
    let (Some(field), Some(op)) = (Field::parse(&condition.field), Op::parse(&condition.operator)) else {
        return false;
    };
    let value = text(&condition.value).unwrap_or_default();
    match field {
        Field::UpdateType => (value == "Create") == update.previous.is_none(),
        Field::CommentIsPublic => match (value.as_str(), update.comment_public) {
            (_, None) => false,
            ("false", Some(public)) => !public,
            // A public comment is one the requester can see.
            ("true" | "requester_can_see_comment", Some(public)) => public,
            (_, Some(_)) => true,
        },
        Field::TicketIsPublic => (value == "public") == ticket.is_public.unwrap_or(true),
        Field::Tags => {
            let tags = normalize_tags(&[value.as_str()]);
            let any = tags.iter().any(|t| ticket.tags.contains(t));
            if op == Op::Includes { any } else { !any }
        }
        Field::Via | Field::CurrentVia => {
            let actual = if field == Field::Via {
                ticket_via_id(ticket)
            } else {
                Some(update.via_id)
            };
            let is = actual.is_some_and(|id| id.to_string() == value);
            if op == Op::Is { is } else { !is }
        }
        Field::Role => {
            let is = match value.as_str() {
                // Agents include admins: "(end user): [...] anyone who is a
                // registered user, but not an agent or an administrator"
                // (article 4408828984346).
                "agent" => update.actor_role.is_some_and(Role::is_staff),
                "end_user" => update.actor_role == Some(Role::EndUser),
                id => id == update.actor.to_string(),
            };
            if op == Op::Is { is } else { !is }
        }
        Field::Status | Field::Priority | Field::Assignee | Field::Requester | Field::Group => {
            let current = slot(field, ticket);
            let previous = update.previous.and_then(|p| slot(field, p));
            let wanted = target(&value, ticket, update);
            let changed = current != previous;
            let rank = |v: &Option<String>| -> Option<u8> {
                let v = v.as_deref()?;
                if field == Field::Status {
                    status_rank(v)
                } else {
                    priority_rank(v)
                }
            };
            match op {
                Op::Is => current == wanted,
                Op::IsNot => current != wanted,
                Op::LessThan => matches!((rank(&current), rank(&wanted)), (Some(c), Some(w)) if c < w),
                Op::GreaterThan => matches!((rank(&current), rank(&wanted)), (Some(c), Some(w)) if c > w),
                Op::Changed => changed,
                Op::NotChanged => !changed,
                Op::Value => changed && current == wanted,
                Op::ValuePrevious => changed && previous == wanted,
                Op::NotValue => !(changed && current == wanted),
                Op::NotValuePrevious => !(changed && previous == wanted),
                Op::Includes | Op::NotIncludes => false,
            }
        }
    }
}

/// A ticket's channel as a via id (the recorded definitions' numbers).
fn ticket_via_id(ticket: &Ticket) -> Option<u32> {
    let channel = ticket.via.as_ref()?.channel.as_str()?;
    Some(match channel {
        "web" => 0,
        "email" | "mail" => 4,
        "api" => 5,
        "rule" => 8,
        "closed_ticket" => 27,
        "chat" => 29,
        "web_widget" => 48,
        "mobile_sdk" => 49,
        _ => return None,
    })
}

enum Applied {
    Done,
    Notify {
        group: bool,
        to: String,
        subject: String,
        body: String,
    },
}

/// Applies one (checked) action to `ticket`.
fn apply(action: &Action, ticket: &mut Ticket, update: &Update, account: &dyn Account) -> Applied {
    let value = text(&action.value).unwrap_or_default();
    let staff = |id: Id| account.user(id).is_some_and(|u| u.role.is_staff());
    match action.field.as_str() {
        "notification_user" | "notification_group" => {
            let parts = action.value.as_array().cloned().unwrap_or_default();
            let part = |i: usize| -> String {
                parts
                    .get(i)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_default()
            };
            return Applied::Notify {
                group: action.field == "notification_group",
                to: part(0),
                subject: part(1),
                body: part(2),
            };
        }
        "priority" => ticket.priority = Some(value),
        "status" => {
            if let Some(status) = Status::parse(&value) {
                // "If a trigger or automation solves an unassigned ticket, it
                // goes to the next user who updates it"
                // (support.zendesk.com article 4408832762650): a trigger may
                // solve without an assignee.
                set_status(ticket, status, account);
            }
        }
        "assignee_id" => {
            let assignee = match value.as_str() {
                v if is_none_value(v) => None,
                "current_user" => Some(update.actor).filter(|id| staff(*id)),
                "requester_id" => ticket.requester_id.filter(|id| staff(*id)),
                id => id.parse().ok().filter(|id| staff(*id)),
            };
            // Only an agent can be assigned; an action naming anyone else
            // changes nothing.
            if assignee.is_some() || is_none_value(&value) {
                ticket.assignee_id = assignee;
            }
            // An assigned ticket is no longer new.
            if ticket.assignee_id.is_some() && ticket.status == Status::New {
                set_status(ticket, Status::Open, account);
            }
        }
        "group_id" => {
            if is_none_value(&value) {
                ticket.group_id = None;
            } else if let Ok(id) = value.parse::<Id>()
                && account.group_exists(id)
            {
                ticket.group_id = Some(id);
            }
        }
        "set_tags" | "current_tags" | "remove_tags" => {
            let tags = tag_list(&action.value).unwrap_or_default();
            ticket.tags = match action.field.as_str() {
                "set_tags" => tags,
                "current_tags" => add_tags(&ticket.tags, &tags),
                _ => remove_tags(&ticket.tags, &tags),
            };
        }
        _ => {}
    }
    Applied::Done
}

/// Moves `ticket` to `status`, with its category's default custom status
/// unless its custom status is already of that category.
fn set_status(ticket: &mut Ticket, status: Status, account: &dyn Account) {
    if ticket.status == status {
        return;
    }
    ticket.status = status;
    let category = match status {
        Status::New => StatusCategory::New,
        Status::Open => StatusCategory::Open,
        Status::Pending => StatusCategory::Pending,
        Status::Hold => StatusCategory::Hold,
        Status::Solved | Status::Closed | Status::Deleted => StatusCategory::Solved,
    };
    ticket.custom_status_id = account.default_custom_status(category);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_set_passes_its_own_check() {
        let mut next = TRIGGER_IDS_FROM;
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
        let set = standard(&mut next, now);
        assert_eq!(set.len(), 10);
        for trigger in &set {
            check(&trigger.conditions, &trigger.actions).unwrap_or_else(|e| panic!("{}: {e}", trigger.title));
        }
        assert_eq!(
            set.iter()
                .filter(|t| !t.active)
                .map(|t| t.title.as_str())
                .collect::<Vec<_>>(),
            vec!["Auto-assign to first email responding agent"]
        );
    }

    #[test]
    fn a_value_zendesk_refuses_gets_zendesks_words_and_an_unknown_field_names_itself() {
        let conditions = Conditions {
            all: vec![cond("current_via_id", "is_not", json!("web"))],
            any: Vec::new(),
        };
        let actions = vec![Action {
            field: "priority".into(),
            value: json!("high"),
        }];
        assert_eq!(
            check(&conditions, &actions),
            Err("Invalid value 'web' in 'Update via / Is not / web'".to_owned())
        );
        let conditions = Conditions {
            all: vec![cond("subject_includes_word", "includes", json!("boleto"))],
            any: Vec::new(),
        };
        let err = check(&conditions, &actions).expect_err("unsupported");
        assert!(
            err.starts_with(
                "The simulator cannot evaluate the condition 'subject_includes_word / includes / boleto'"
            ),
            "{err}"
        );
        let err = check(
            &Conditions::default(),
            &[Action {
                field: "notification_webhook".into(),
                value: json!(["1", "{}"]),
            }],
        )
        .expect_err("unsupported action");
        assert!(
            err.starts_with("The simulator cannot perform the action 'notification_webhook'"),
            "{err}"
        );
    }

    #[test]
    fn liquid_is_refused() {
        let actions = vec![notify(
            "notification_user",
            "requester_id",
            "x",
            "{% if ticket.status == 'Solved' %}done{% endif %}",
        )];
        let err = check(&Conditions::default(), &actions).expect_err("liquid");
        assert!(err.contains("Liquid tag"), "{err}");
    }
}
