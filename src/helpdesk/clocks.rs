//! Ticket clocks: when the things rules wait on last happened to a ticket,
//! computed by carteiro from the ticket's own history (audits and
//! comments).
//!
//! Zendesk's "hours since …" fields are not used: with custom statuses
//! they count per status *category*, so a move from pending to the custom
//! status "Validação Cliente" (also pending) would not reset them, and the
//! procedure "5 more days in Validação Cliente, then close" would fire
//! early. This is the pure part: history in, clocks out. Keeping them in
//! the ticket snapshot, and updating them as the export brings changes, is
//! the store's job.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::model::{Audit, Comment, Id, Role, Ticket};

/// When things last happened to a ticket. `None` when it never happened
/// (or, for `assigned_at`, when the ticket is unassigned now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TicketClocks {
    /// The last change of the built-in status (`pending` → `open`); its
    /// creation counts as one.
    pub status_changed_at: Option<DateTime<Utc>>,
    /// The last change of the custom status, including one within a
    /// category (pending → "Validação Cliente"); a status change always
    /// changes it too.
    pub custom_status_changed_at: Option<DateTime<Utc>>,
    /// The last comment by the requester, public or not.
    pub last_requester_comment_at: Option<DateTime<Utc>>,
    /// The last public comment by an agent or admin other than the
    /// requester.
    pub last_agent_public_comment_at: Option<DateTime<Utc>>,
    /// When the current assignee was set; `None` when unassigned.
    pub assigned_at: Option<DateTime<Utc>>,
    /// The last time the ticket became solved (a later reopen does not
    /// clear it; rules check the status too).
    pub solved_at: Option<DateTime<Utc>>,
}

/// One thing that happened, in history order.
enum Happening<'a> {
    /// A `Create` or `Change` event of a field.
    Field {
        name: &'a str,
        value: Option<&'a Value>,
        previous: Option<&'a Value>,
    },
    /// A comment.
    Comment { author: Option<Id>, public: bool },
}

/// Computes the clocks from `ticket`'s audits and comments. Comments may
/// come from the audits (`Comment` events), from the comments list, or
/// both; one comment is counted once (by id). `role_of` tells whether a
/// comment's author is staff; an author it does not know is not an agent.
/// The requester is followed through the history (`requester_id`
/// changes), starting from the ticket's current one when the history
/// never sets it.
pub fn ticket_clocks(
    ticket: &Ticket,
    audits: &[Audit],
    comments: &[Comment],
    role_of: impl Fn(Id) -> Option<Role>,
) -> TicketClocks {
    let mut timeline: Vec<(DateTime<Utc>, Id, usize, Happening<'_>)> = Vec::new();
    let mut seen_comments = HashSet::new();
    for audit in audits {
        for (index, event) in audit.events.iter().enumerate() {
            match event.event_type.as_str() {
                "Create" | "Change" => {
                    if let Some(name) = event.field_name.as_deref() {
                        timeline.push((
                            audit.created_at,
                            audit.id,
                            index,
                            Happening::Field {
                                name,
                                value: event.value.as_ref(),
                                previous: event.previous_value.as_ref(),
                            },
                        ));
                    }
                }
                "Comment" | "VoiceComment" => {
                    seen_comments.insert(event.id);
                    // Field changes of the same audit come first, so a
                    // ticket created with its requester's comment knows
                    // the requester.
                    timeline.push((
                        audit.created_at,
                        audit.id,
                        usize::MAX - audit.events.len() + index,
                        Happening::Comment {
                            author: event.author_id.or(audit.author_id),
                            public: event.public.unwrap_or(false),
                        },
                    ));
                }
                _ => {}
            }
        }
    }
    for comment in comments {
        if seen_comments.contains(&comment.id) {
            continue;
        }
        let Some(at) = comment.created_at else {
            continue;
        };
        timeline.push((
            at,
            comment.audit_id.unwrap_or(Id::MAX),
            usize::MAX,
            Happening::Comment {
                author: comment.author_id,
                public: comment.public,
            },
        ));
    }
    timeline.sort_by_key(|(at, audit, index, _)| (*at, *audit, *index));

    let history_sets_requester = timeline.iter().any(|(_, _, _, h)| {
        matches!(
            h,
            Happening::Field {
                name: "requester_id",
                ..
            }
        )
    });
    let mut requester = if history_sets_requester {
        None
    } else {
        ticket.requester_id
    };
    let mut clocks = TicketClocks::default();
    for (at, _, _, happening) in timeline {
        match happening {
            Happening::Field {
                name,
                value,
                previous,
            } => {
                if value == previous {
                    continue;
                }
                match name {
                    "status" => {
                        clocks.status_changed_at = Some(at);
                        clocks.custom_status_changed_at = Some(at);
                        if value.and_then(Value::as_str) == Some("solved") {
                            clocks.solved_at = Some(at);
                        }
                    }
                    "custom_status_id" => clocks.custom_status_changed_at = Some(at),
                    "assignee_id" => clocks.assigned_at = value.and_then(as_id).map(|_| at),
                    "requester_id" => requester = value.and_then(as_id),
                    _ => {}
                }
            }
            Happening::Comment { author, public } => {
                let Some(author) = author else { continue };
                if Some(author) == requester {
                    clocks.last_requester_comment_at = Some(at);
                } else if public && role_of(author).is_some_and(Role::is_staff) {
                    clocks.last_agent_public_comment_at = Some(at);
                }
            }
        }
    }
    clocks
}

/// An id in an event's value: a number, or a string of digits as Zendesk
/// sends some of them; `None` for null.
fn as_id(value: &Value) -> Option<Id> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REQUESTER: Id = 100;
    const AGENT: Id = 200;
    const OTHER_AGENT: Id = 201;
    const CC: Id = 300;

    fn role(id: Id) -> Option<Role> {
        match id {
            REQUESTER | CC => Some(Role::EndUser),
            AGENT | OTHER_AGENT => Some(Role::Agent),
            _ => None,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    fn ticket() -> Ticket {
        serde_json::from_value(json!({
            "id": 7, "created_at": "2026-03-02T12:00:00Z", "updated_at": "2026-03-20T12:00:00Z",
            "status": "pending", "requester_id": REQUESTER,
        }))
        .expect("ticket")
    }

    /// An audit as Zendesk records it: `events` are (type, field, value,
    /// previous) for changes, or ("Comment", author, public) via `comment`.
    fn audit(id: Id, at: &str, author: Id, events: Value) -> Audit {
        serde_json::from_value(json!({
            "id": id, "ticket_id": 7, "created_at": at, "author_id": author,
            "via": { "channel": "web" }, "events": events,
        }))
        .expect("audit")
    }

    fn change(id: Id, field: &str, value: Value, previous: Value) -> Value {
        json!({ "id": id, "type": "Change", "field_name": field, "value": value, "previous_value": previous })
    }

    fn create(id: Id, field: &str, value: Value) -> Value {
        json!({ "id": id, "type": "Create", "field_name": field, "value": value })
    }

    fn comment(id: Id, author: Id, public: bool) -> Value {
        json!({ "id": id, "type": "Comment", "author_id": author, "public": public, "body": "…" })
    }

    /// New by mail, agent answers and sets pending, the customer answers
    /// (open), the agent sets pending again.
    fn pending_open_pending() -> Vec<Audit> {
        vec![
            audit(
                1,
                "2026-03-02T12:00:00Z",
                REQUESTER,
                json!([
                    comment(11, REQUESTER, true),
                    create(12, "status", json!("new")),
                    create(13, "requester_id", json!(REQUESTER.to_string())),
                ]),
            ),
            audit(
                2,
                "2026-03-02T13:00:00Z",
                AGENT,
                json!([
                    comment(21, AGENT, true),
                    change(22, "status", json!("pending"), json!("new")),
                    change(23, "assignee_id", json!(AGENT.to_string()), Value::Null),
                ]),
            ),
            audit(
                3,
                "2026-03-04T09:00:00Z",
                REQUESTER,
                json!([
                    comment(31, REQUESTER, true),
                    change(32, "status", json!("open"), json!("pending")),
                ]),
            ),
            audit(
                4,
                "2026-03-05T10:00:00Z",
                AGENT,
                json!([
                    comment(41, AGENT, false),
                    change(42, "status", json!("pending"), json!("open")),
                ]),
            ),
        ]
    }

    #[test]
    fn pending_open_pending_starts_the_pending_clock_at_the_second_pending() {
        let clocks = ticket_clocks(&ticket(), &pending_open_pending(), &[], role);
        assert_eq!(
            clocks,
            TicketClocks {
                status_changed_at: Some(at("2026-03-05T10:00:00Z")),
                custom_status_changed_at: Some(at("2026-03-05T10:00:00Z")),
                last_requester_comment_at: Some(at("2026-03-04T09:00:00Z")),
                // The last agent comment (audit 4) is an internal note.
                last_agent_public_comment_at: Some(at("2026-03-02T13:00:00Z")),
                assigned_at: Some(at("2026-03-02T13:00:00Z")),
                solved_at: None,
            }
        );
    }

    #[test]
    fn a_custom_status_in_the_same_category_resets_only_the_custom_clock() {
        // Pending → "Validação Cliente" (a pending-category custom status):
        // Zendesk records only a custom_status_id change.
        let mut audits = pending_open_pending();
        audits.push(audit(
            5,
            "2026-03-12T10:00:00Z",
            1,
            json!([change(51, "custom_status_id", json!("9001"), json!("9000")),]),
        ));
        let clocks = ticket_clocks(&ticket(), &audits, &[], role);
        assert_eq!(clocks.status_changed_at, Some(at("2026-03-05T10:00:00Z")));
        assert_eq!(clocks.custom_status_changed_at, Some(at("2026-03-12T10:00:00Z")));
    }

    #[test]
    fn solved_and_assignment_follow_the_latest_change() {
        let mut audits = pending_open_pending();
        audits.extend([
            audit(
                5,
                "2026-03-06T10:00:00Z",
                AGENT,
                json!([change(51, "assignee_id", json!(OTHER_AGENT), json!(AGENT)),]),
            ),
            audit(
                6,
                "2026-03-07T10:00:00Z",
                OTHER_AGENT,
                json!([
                    comment(61, OTHER_AGENT, true),
                    change(62, "status", json!("solved"), json!("pending")),
                ]),
            ),
            // Reopened by the customer, solved again, then closed.
            audit(
                7,
                "2026-03-08T10:00:00Z",
                REQUESTER,
                json!([
                    comment(71, REQUESTER, true),
                    change(72, "status", json!("open"), json!("solved")),
                ]),
            ),
            audit(
                8,
                "2026-03-09T10:00:00Z",
                OTHER_AGENT,
                json!([change(82, "status", json!("solved"), json!("open")),]),
            ),
            audit(
                9,
                "2026-03-13T10:00:00Z",
                1,
                json!([change(92, "status", json!("closed"), json!("solved")),]),
            ),
        ]);
        let clocks = ticket_clocks(&ticket(), &audits, &[], role);
        assert_eq!(clocks.solved_at, Some(at("2026-03-09T10:00:00Z")));
        assert_eq!(clocks.status_changed_at, Some(at("2026-03-13T10:00:00Z")));
        assert_eq!(clocks.assigned_at, Some(at("2026-03-06T10:00:00Z")));
        assert_eq!(
            clocks.last_agent_public_comment_at,
            Some(at("2026-03-07T10:00:00Z"))
        );
        assert_eq!(clocks.last_requester_comment_at, Some(at("2026-03-08T10:00:00Z")));
        // Unassigning clears assigned_at.
        audits.push(audit(
            10,
            "2026-03-14T10:00:00Z",
            AGENT,
            json!([change(101, "assignee_id", Value::Null, json!(OTHER_AGENT)),]),
        ));
        assert_eq!(ticket_clocks(&ticket(), &audits, &[], role).assigned_at, None);
    }

    #[test]
    fn comments_from_the_list_count_once_and_strangers_are_not_agents() {
        let audits = pending_open_pending();
        let comments: Vec<Comment> = serde_json::from_value(json!([
            // The same comment as in audit 3: counted once.
            { "id": 31, "body": "…", "public": true, "author_id": REQUESTER, "created_at": "2026-03-04T09:00:00Z" },
            // A CC's reply is neither the requester's nor an agent's.
            { "id": 50, "body": "…", "public": true, "author_id": CC, "created_at": "2026-03-10T09:00:00Z" },
            // Someone carteiro knows nothing about.
            { "id": 51, "body": "…", "public": true, "author_id": 999, "created_at": "2026-03-10T10:00:00Z" },
            // An agent's public reply only in the comments list.
            { "id": 52, "body": "…", "public": true, "author_id": OTHER_AGENT, "created_at": "2026-03-09T10:00:00Z" },
        ]))
        .expect("comments");
        let clocks = ticket_clocks(&ticket(), &audits, &comments, role);
        assert_eq!(clocks.last_requester_comment_at, Some(at("2026-03-04T09:00:00Z")));
        assert_eq!(
            clocks.last_agent_public_comment_at,
            Some(at("2026-03-09T10:00:00Z"))
        );
    }

    #[test]
    fn a_changed_requester_counts_from_the_change() {
        let mut audits = pending_open_pending();
        audits.extend([
            audit(
                5,
                "2026-03-06T10:00:00Z",
                AGENT,
                json!([change(
                    51,
                    "requester_id",
                    json!(CC.to_string()),
                    json!(REQUESTER.to_string())
                ),]),
            ),
            audit(6, "2026-03-07T10:00:00Z", CC, json!([comment(61, CC, true)])),
            audit(
                7,
                "2026-03-08T10:00:00Z",
                REQUESTER,
                json!([comment(71, REQUESTER, true)]),
            ),
        ]);
        let clocks = ticket_clocks(&ticket(), &audits, &[], role);
        assert_eq!(clocks.last_requester_comment_at, Some(at("2026-03-07T10:00:00Z")));
    }

    /// The recorded Zendesk payload (`GET /api/v2/tickets/{id}/audits`): a
    /// private comment and a trigger moving the ticket from new to open.
    #[test]
    fn the_recorded_zendesk_audits_give_their_clocks() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/zendesk/GET/ticket_audits.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; the shared fixtures are needed", path.display()));
        #[derive(serde::Deserialize)]
        struct Page {
            audits: Vec<Audit>,
        }
        let page: Page = serde_json::from_str(&text).expect("decode the recorded audits");
        let author = page.audits[0].author_id.expect("author");
        let ticket: Ticket = serde_json::from_value(json!({
            "id": 666, "created_at": "2011-09-25T22:35:44Z", "updated_at": "2011-09-25T22:35:44Z",
            "status": "open", "requester_id": 1,
        }))
        .expect("ticket");
        let agent = |id: Id| (id == author).then_some(Role::Agent);
        let clocks = ticket_clocks(&ticket, &page.audits, &[], agent);
        assert_eq!(
            clocks,
            TicketClocks {
                status_changed_at: Some(at("2011-09-25T22:35:44Z")),
                custom_status_changed_at: Some(at("2011-09-25T22:35:44Z")),
                last_requester_comment_at: None,
                // The comment is private.
                last_agent_public_comment_at: None,
                assigned_at: None,
                solved_at: None,
            }
        );
    }
}
