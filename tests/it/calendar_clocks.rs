//! The seed procedures' clocks end to end, as the rule engine will run
//! them: a ticket's history gives its clocks, a stopped test clock gives
//! "now", and the calendar says whether a rule's `older_than` holds. The
//! test clock jumps days; nothing sleeps.

use carteiro::calendar::{Calendar, Duration};
use carteiro::clock::{Clock, FixedClock};
use carteiro::helpdesk::clocks::ticket_clocks;
use carteiro::helpdesk::{Audit, Role, Ticket};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

fn d(text: &str) -> Duration {
    Duration::parse(text).expect("duration")
}

const REQUESTER: u64 = 100;
const AGENT: u64 = 200;

fn role(id: u64) -> Option<Role> {
    match id {
        REQUESTER => Some(Role::EndUser),
        AGENT => Some(Role::Agent),
        _ => None,
    }
}

fn history() -> (Ticket, Vec<Audit>) {
    let ticket = serde_json::from_value(json!({
        "id": 42, "created_at": "2026-02-09T13:00:00Z", "updated_at": "2026-02-20T13:00:00Z",
        "status": "pending", "requester_id": REQUESTER, "assignee_id": AGENT,
    }))
    .expect("ticket");
    let audits = serde_json::from_value(json!([
        { "id": 1, "ticket_id": 42, "created_at": "2026-02-09T13:00:00Z", "author_id": REQUESTER, "events": [
            { "id": 11, "type": "Comment", "author_id": REQUESTER, "public": true, "body": "A impressora parou." },
            { "id": 12, "type": "Create", "field_name": "status", "value": "new" },
        ]},
        { "id": 2, "ticket_id": 42, "created_at": "2026-02-10T14:00:00Z", "author_id": AGENT, "events": [
            { "id": 21, "type": "Comment", "author_id": AGENT, "public": true, "body": "Qual a versão?" },
            { "id": 22, "type": "Change", "field_name": "status", "value": "pending", "previous_value": "new" },
            { "id": 23, "type": "Change", "field_name": "assignee_id", "value": AGENT.to_string(), "previous_value": null },
        ]},
        { "id": 3, "ticket_id": 42, "created_at": "2026-02-11T12:00:00Z", "author_id": REQUESTER, "events": [
            { "id": 31, "type": "Comment", "author_id": REQUESTER, "public": true, "body": "Versão 5." },
            { "id": 32, "type": "Change", "field_name": "status", "value": "open", "previous_value": "pending" },
        ]},
        // Friday 13 February 2026, 17:00 in São Paulo: pending again.
        { "id": 4, "ticket_id": 42, "created_at": "2026-02-13T20:00:00Z", "author_id": AGENT, "events": [
            { "id": 41, "type": "Comment", "author_id": AGENT, "public": true, "body": "Teste a correção." },
            { "id": 42, "type": "Change", "field_name": "status", "value": "pending", "previous_value": "open" },
        ]},
    ]))
    .expect("audits");
    (ticket, audits)
}

#[test]
fn pending_for_7_days_counts_from_the_second_pending() {
    let (ticket, audits) = history();
    let clocks = ticket_clocks(&ticket, &audits, &[], role);
    let since = clocks.status_changed_at.expect("status changed");
    assert_eq!(since, at("2026-02-13T17:00:00-03:00"));

    let br = Calendar::br();
    let clock = FixedClock::at(since + TimeDelta::days(7) - TimeDelta::seconds(1));
    assert!(!br.older_than(since, d("7d"), clock.now()).expect("older_than"));
    clock.advance(TimeDelta::seconds(1));
    assert!(br.older_than(since, d("7d"), clock.now()).expect("older_than"));
    // Counted from the first pending it would have fired two days early.
    let first_pending = at("2026-02-10T14:00:00Z");
    let early = at("2026-02-17T14:00:00Z");
    assert!(br.older_than(first_pending, d("7d"), early).expect("older_than"));
    assert!(!br.older_than(since, d("7d"), early).expect("older_than"));
}

#[test]
fn a_3_business_day_answer_deadline_over_carnaval_and_its_due_date_agree() {
    // The customer's last comment: Wednesday 11 February 2026, 09:00.
    let (ticket, audits) = history();
    let clocks = ticket_clocks(&ticket, &audits, &[], role);
    let asked = clocks.last_requester_comment_at.expect("requester commented");
    assert_eq!(asked, at("2026-02-11T09:00:00-03:00"));
    let br = Calendar::br();
    // Business days after Wed 11: Thu 12, Fri 13, then Carnaval (16, 17)
    // is skipped and Ash Wednesday 18 counts.
    let due = br.due(asked, "+3bd").expect("due");
    assert_eq!(due, at("2026-02-18T09:00:00-03:00"));
    let clock = FixedClock::at(at("2026-02-13T09:00:00-03:00"));
    let mut fired = None;
    for _ in 0..(24 * 8) {
        if br.older_than(asked, d("3bd"), clock.now()).expect("older_than") {
            fired = Some(clock.now());
            break;
        }
        clock.advance(TimeDelta::hours(1));
    }
    assert_eq!(fired, Some(due), "the condition fires exactly at the due date");
}
