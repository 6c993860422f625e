use serde_json::json;

use super::*;

fn ticket(extra: Value) -> Ticket {
    let mut base = json!({
        "id": 7, "created_at": "2026-03-02T12:00:00Z", "updated_at": "2026-03-02T12:00:00Z",
        "status": "open", "tags": ["a", "b"],
        "custom_fields": [ { "id": 1, "value": "x" }, { "id": 2, "value": null } ],
    });
    for (key, value) in extra.as_object().expect("object") {
        base[key] = value.clone();
    }
    serde_json::from_value(base).expect("ticket")
}

#[test]
fn the_same_ticket_has_no_change() {
    let t = ticket(json!({}));
    assert!(diff(&t, &t).is_empty());
}

#[test]
fn status_group_tags_and_fields_are_reported_with_both_values() {
    let before = ticket(json!({ "group_id": 10 }));
    let after = ticket(json!({
        "status": "pending", "group_id": 11, "tags": ["b", "c"],
        "custom_fields": [ { "id": 1, "value": "y" }, { "id": 2, "value": null }, { "id": 3, "value": true } ],
    }));
    let change = diff(&before, &after);
    assert_eq!(
        change.status,
        Some(Delta {
            from: Status::Open,
            to: Status::Pending
        })
    );
    assert_eq!(
        change.group,
        Some(Delta {
            from: Some(10),
            to: Some(11)
        })
    );
    assert_eq!(change.tags_added, vec!["c".to_owned()]);
    assert_eq!(change.tags_removed, vec!["a".to_owned()]);
    assert_eq!(
        change.field(1),
        Some(&FieldDelta {
            id: 1,
            from: json!("x"),
            to: json!("y")
        })
    );
    assert_eq!(
        change.field(3),
        Some(&FieldDelta {
            id: 3,
            from: Value::Null,
            to: json!(true)
        })
    );
    assert_eq!(change.field(2), None, "null to null is no change");
    assert_eq!(change.assignee, None);
}

#[test]
fn a_field_that_disappears_changes_to_null() {
    let before = ticket(json!({}));
    let after = ticket(json!({ "custom_fields": [] }));
    let change = diff(&before, &after);
    assert_eq!(
        change.fields,
        vec![FieldDelta {
            id: 1,
            from: json!("x"),
            to: Value::Null
        }]
    );
}

#[test]
fn an_event_survives_the_queue_round_trip() {
    let before = ticket(json!({}));
    let after = ticket(json!({ "status": "solved" }));
    let event = TicketEvent {
        kind: TicketEventKind::Updated,
        ticket_id: 7,
        version: after.updated_at,
        change: diff(&before, &after),
    };
    let text = serde_json::to_string(&event).expect("encode");
    assert_eq!(serde_json::from_str::<TicketEvent>(&text).expect("decode"), event);
}

#[test]
fn an_own_write_moves_the_clocks_it_touches_at_the_tickets_updated_at() {
    use crate::helpdesk::clocks::TicketClocks;

    let earlier = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .expect("instant")
        .with_timezone(&Utc);
    let before = Snapshot {
        ticket: ticket(json!({ "assignee_id": 3, "custom_status_id": 20 })),
        clocks: TicketClocks {
            status_changed_at: Some(earlier),
            custom_status_changed_at: Some(earlier),
            last_requester_comment_at: Some(earlier),
            last_agent_public_comment_at: None,
            assigned_at: Some(earlier),
            solved_at: None,
        },
        last_audit_id: Some(40),
    };
    let solved = ticket(json!({
        "status": "solved", "custom_status_id": 21, "updated_at": "2026-03-03T09:00:00Z",
    }));
    let after = before.after_own_write(solved.clone(), true);
    let at = solved.updated_at;
    assert_eq!(after.ticket, solved);
    assert_eq!(after.last_audit_id, Some(40));
    assert_eq!(
        after.clocks,
        TicketClocks {
            status_changed_at: Some(at),
            custom_status_changed_at: Some(at),
            last_requester_comment_at: Some(earlier),
            last_agent_public_comment_at: Some(at),
            assigned_at: None,
            solved_at: Some(at),
        }
    );

    // Within the pending category: only the custom status clock.
    let in_validation = ticket(json!({
        "assignee_id": 3, "custom_status_id": 22, "updated_at": "2026-03-03T09:00:00Z",
    }));
    let after = before.after_own_write(in_validation, false);
    assert_eq!(after.clocks.status_changed_at, Some(earlier));
    assert_eq!(after.clocks.custom_status_changed_at, Some(at));
    assert_eq!(after.clocks.assigned_at, Some(earlier));
    assert_eq!(after.clocks.last_agent_public_comment_at, None);
}
