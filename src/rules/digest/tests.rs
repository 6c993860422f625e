//! The digest's buckets (business days, holidays, the calendar's zone),
//! its variable, its Message-ID and its mail.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::calendar::{CalendarSpec, DateRule};
use crate::config::SubjectTag;
use crate::template::TemplateOptions;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

fn br() -> Calendar {
    Calendar::br()
}

/// Friday 2026-11-27, 10:00 in São Paulo.
const FRIDAY: &str = "2026-11-27T10:00:00-03:00";

#[test]
fn overdue_splits_on_the_assignee() {
    let now = at(FRIDAY);
    let due = at("2026-11-27T09:00:00-03:00");
    assert_eq!(bucket(due, true, now, &br(), 2), Some(Bucket::Overdue));
    assert_eq!(bucket(due, false, now, &br(), 2), Some(Bucket::OverdueUnassigned));
    // Due this very instant is overdue: no time is left.
    assert_eq!(bucket(now, true, now, &br(), 2), Some(Bucket::Overdue));
}

#[test]
fn due_later_today_is_due_today_whoever_has_it() {
    let now = at(FRIDAY);
    let due = at("2026-11-27T18:00:00-03:00");
    assert_eq!(bucket(due, true, now, &br(), 2), Some(Bucket::DueToday));
    assert_eq!(bucket(due, false, now, &br(), 2), Some(Bucket::DueToday));
}

#[test]
fn due_soon_counts_business_days_after_today_skipping_the_weekend() {
    let now = at(FRIDAY);
    let soon = |due: &str, days: u32| bucket(at(due), true, now, &br(), days);
    // Saturday and Monday come before the second business day (Tuesday).
    assert_eq!(soon("2026-11-28T12:00:00-03:00", 2), Some(Bucket::DueSoon));
    assert_eq!(soon("2026-11-30T12:00:00-03:00", 2), Some(Bucket::DueSoon));
    assert_eq!(soon("2026-12-01T23:00:00-03:00", 2), Some(Bucket::DueSoon));
    // Wednesday is the third business day.
    assert_eq!(soon("2026-12-02T08:00:00-03:00", 2), None);
    assert_eq!(soon("2026-12-02T08:00:00-03:00", 3), Some(Bucket::DueSoon));
    // With no days ahead, only today and the overdue are listed.
    assert_eq!(soon("2026-11-30T12:00:00-03:00", 0), None);
}

#[test]
fn a_holiday_is_no_business_day() {
    let mut spec = CalendarSpec::br();
    spec.extra_holidays.push((
        DateRule::parse("2026-11-30").expect("date"),
        "Dia do teste".to_owned(),
    ));
    let calendar = Calendar::new("teste", spec).expect("calendar");
    let now = at(FRIDAY);
    // Monday is a holiday: Tuesday and Wednesday are the two business days.
    assert_eq!(
        bucket(at("2026-12-02T12:00:00-03:00"), true, now, &calendar, 2),
        Some(Bucket::DueSoon)
    );
    assert_eq!(
        bucket(at("2026-12-03T12:00:00-03:00"), true, now, &calendar, 2),
        None
    );
    // Christmas (national) on a Friday: from Wednesday 23rd, Thursday 24th
    // and Monday 28th are the next two business days.
    let now = at("2026-12-23T10:00:00-03:00");
    assert_eq!(
        bucket(at("2026-12-28T12:00:00-03:00"), true, now, &br(), 2),
        Some(Bucket::DueSoon)
    );
    assert_eq!(bucket(at("2026-12-29T12:00:00-03:00"), true, now, &br(), 2), None);
}

#[test]
fn days_are_the_calendars_local_days_not_utc_ones() {
    // 20:00 on Monday in São Paulo is already Tuesday in UTC.
    let now = at("2026-11-23T20:00:00-03:00");
    let due = at("2026-11-24T02:00:00Z"); // 23:00 on Monday, local
    assert_eq!(bucket(due, true, now, &br(), 0), Some(Bucket::DueToday));
    assert_eq!(local_day(due, &br()).to_string(), "2026-11-23");
    // 00:30 on Tuesday, local, is due soon, not today.
    let due = at("2026-11-24T03:30:00Z");
    assert_eq!(bucket(due, true, now, &br(), 1), Some(Bucket::DueSoon));
}

fn ticket(id: u64, due_at: Option<&str>, assignee: Option<u64>) -> Ticket {
    serde_json::from_value(json!({
        "id": id, "created_at": "2026-11-20T12:00:00Z", "updated_at": "2026-11-20T12:00:00Z",
        "subject": format!("Manifestação {id}"), "status": "open", "group_id": 10,
        "assignee_id": assignee, "due_at": due_at,
        "url": format!("https://empresa.zendesk.com/agent/tickets/{id}"),
    }))
    .expect("ticket")
}

fn directory() -> Directory {
    let mut directory: Directory = serde_json::from_value(json!({
        "groups": [ { "id": 10, "name": "Manifestações" } ],
        "users": [ { "id": 2, "name": "Cibele Souza", "email": "cibele@empresa.com.br", "role": "agent" } ],
        "custom_statuses": [],
        "ticket_fields": [],
    }))
    .expect("directory");
    directory.index();
    directory
}

#[test]
fn the_digest_sorts_by_bucket_then_due_date_and_counts_every_bucket() {
    let tickets = [
        ticket(1, Some("2026-11-30T12:00:00-03:00"), Some(2)), // due soon
        ticket(2, Some("2026-11-26T12:00:00-03:00"), Some(2)), // overdue
        ticket(3, Some("2026-11-25T12:00:00-03:00"), None),    // overdue, unassigned
        ticket(4, None, None),                                 // no due date
        ticket(5, Some("2026-11-27T17:00:00-03:00"), Some(9)), // today, unknown agent
        ticket(6, Some("2026-12-10T12:00:00-03:00"), None),    // too far
        ticket(7, Some("2026-11-20T12:00:00-03:00"), Some(2)), // overdue, older
    ];
    let digest = build(&tickets, &directory(), at(FRIDAY), &br(), 2);
    let order: Vec<(u64, &str)> = digest.tickets.iter().map(|t| (t.id, t.bucket.as_str())).collect();
    assert_eq!(
        order,
        [
            (3, "vencido_sem_responsavel"),
            (7, "vencido"),
            (2, "vencido"),
            (5, "vence_hoje"),
            (1, "vence_em_breve"),
        ]
    );
    assert_eq!(digest.total, 5);
    assert_eq!(digest.counts["vencido_sem_responsavel"], 1);
    assert_eq!(digest.counts["vencido"], 2);
    assert_eq!(digest.counts["vence_hoje"], 1);
    assert_eq!(digest.counts["vence_em_breve"], 1);
    assert_eq!(digest.today, "2026-11-27");
    let first = &digest.tickets[0];
    assert_eq!(first.group.as_deref(), Some("Manifestações"));
    assert_eq!(first.assignee, None);
    assert_eq!(first.due_day, "2026-11-25");
    assert_eq!(digest.tickets[1].assignee.as_deref(), Some("Cibele Souza"));
    assert_eq!(digest.tickets[3].assignee.as_deref(), Some("agente 9"));

    let empty = build(&[], &directory(), at(FRIDAY), &br(), 2);
    assert_eq!(empty.total, 0);
    assert_eq!(empty.counts.len(), 4);
}

#[test]
fn the_message_id_is_fixed_per_rule_and_tick() {
    let tick = at("2026-11-23T11:00:00Z");
    let a = message_id("resumo#0", tick, "empresa.com.br");
    assert_eq!(a, message_id("resumo#0", tick, "empresa.com.br"));
    assert_ne!(a, message_id("resumo#1", tick, "empresa.com.br"));
    assert_ne!(
        a,
        message_id("resumo#0", at("2026-11-24T11:00:00Z"), "empresa.com.br")
    );
    assert!(
        a.starts_with("carteiro.resumo.") && a.ends_with("@empresa.com.br"),
        "{a}"
    );
}

#[test]
fn the_mail_has_no_ticket_tag_nor_ticket_header() {
    let templates = Templates::from_sources(
        Path::new("templates"),
        vec![(
            "resumo.txt.j2".to_owned(),
            "{% for t in digest.tickets %}#{{ t.id }} {{ t.bucket }}\n{% endfor %}Total: {{ digest.total }}"
                .to_owned(),
        )],
        &TemplateOptions::default(),
    )
    .expect("templates");
    let spec = SendDigestSpec {
        to: vec!["gestores@empresa.com.br".to_owned()],
        template: "resumo".to_owned(),
        subject: "Resumo de {{ digest.today }}: {{ digest.total }} manifestações".to_owned(),
        soon_days: 2,
    };
    let tickets = [ticket(3, Some("2026-11-25T12:00:00-03:00"), None)];
    let digest = build(&tickets, &directory(), at(FRIDAY), &br(), 2);
    let options = ComposeOptions {
        from: MailAddress::new("suporte@empresa.com.br"),
        message_id_domain: "empresa.com.br".to_owned(),
        loop_header: "X-Carteiro-Loop".to_owned(),
        subject_tag: SubjectTag::parse("[#{id}]"),
    };
    let tick = at(FRIDAY);
    let mail = compose(
        &spec,
        "resumo#0",
        tick,
        &digest,
        &Default::default(),
        &templates,
        &options,
    )
    .expect("mail");
    assert_eq!(mail.ticket_id, NO_TICKET);
    assert_eq!(mail.subject, "Resumo de 2026-11-27: 1 manifestações");
    assert_eq!(mail.recipients, ["gestores@empresa.com.br"]);
    assert_eq!(mail.message_id, message_id("resumo#0", tick, "empresa.com.br"));
    let raw = String::from_utf8(mail.raw).expect("utf-8");
    assert!(raw.contains("#3 vencido_sem_responsavel"), "{raw}");
    assert!(!raw.contains("[#"), "{raw}");
    assert!(!raw.contains(crate::outbound::TICKET_HEADER), "{raw}");
}
