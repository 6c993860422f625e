//! The report's period (local days before the tick), what each ticket
//! counts for, and the breakdowns.

use serde_json::json;

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

fn br() -> Calendar {
    Calendar::br()
}

/// Monday 2026-11-23, 08:00 in São Paulo: reports 16 to 22 November.
const MONDAY: &str = "2026-11-23T08:00:00-03:00";

#[test]
fn the_period_is_the_local_days_before_the_ticks_day() {
    let week = Period::before(at(MONDAY), 7, &br());
    assert_eq!(week.first_day.to_string(), "2026-11-16");
    assert_eq!(week.last_day.to_string(), "2026-11-22");
    assert_eq!(week.start, at("2026-11-16T00:00:00-03:00"));
    assert_eq!(week.end, at("2026-11-23T00:00:00-03:00"));
    // A tick run late, even past midnight UTC, reports the same week.
    assert_eq!(Period::before(at("2026-11-23T23:30:00-03:00"), 7, &br()), week);
    // One day: yesterday.
    let day = Period::before(at(MONDAY), 1, &br());
    assert_eq!(day.first_day.to_string(), "2026-11-22");
    assert_eq!(day.start, at("2026-11-22T00:00:00-03:00"));
    assert!(week.contains(week.start));
    assert!(!week.contains(week.end));
}

fn directory() -> Directory {
    let mut directory: Directory = serde_json::from_value(json!({
        "groups": [ { "id": 10, "name": "Manifestações" } ],
        "users": [ { "id": 2, "name": "Cibele Souza", "email": "cibele@empresa.com.br", "role": "agent" } ],
        "custom_statuses": [ { "id": 70, "status_category": "open", "agent_label": "Em análise",
                               "end_user_label": "Em análise", "active": true } ],
        "ticket_fields": [ {
            "id": 50, "type": "tagger", "title": "Tipo de manifestação",
            "custom_field_options": [
                { "id": 501, "name": "Reclamação", "value": "reclamacao" },
                { "id": 502, "name": "Elogio", "value": "elogio" },
            ],
        }, { "id": 51, "type": "text", "title": "Motivo" } ],
    }))
    .expect("directory");
    directory.index();
    directory
}

struct Case {
    id: u64,
    created: &'static str,
    status: &'static str,
    solved: Option<&'static str>,
    due: Option<&'static str>,
    tipo: Option<&'static str>,
}

fn snapshot(case: &Case) -> (Ticket, TicketClocks) {
    let custom_fields = case
        .tipo
        .map_or_else(Vec::new, |tipo| vec![json!({ "id": 50, "value": tipo })]);
    let ticket: Ticket = serde_json::from_value(json!({
        "id": case.id, "created_at": case.created, "updated_at": "2026-11-22T12:00:00Z",
        "subject": format!("Manifestação {}", case.id), "status": case.status, "group_id": 10,
        "assignee_id": 2, "due_at": case.due, "custom_fields": custom_fields,
    }))
    .expect("ticket");
    let clocks = TicketClocks {
        solved_at: case.solved.map(at),
        ..TicketClocks::default()
    };
    (ticket, clocks)
}

fn spec(by: &[(&str, &str)]) -> SendReportSpec {
    SendReportSpec {
        to: vec!["gestores@empresa.com.br".to_owned()],
        template: "estatistica".to_owned(),
        subject: "Semana".to_owned(),
        days: 7,
        by: by
            .iter()
            .map(|(name, path)| ((*name).to_owned(), FieldRef::parse(path).expect("field")))
            .collect(),
    }
}

fn report(cases: &[Case], by: &[(&str, &str)]) -> ReportVars {
    let snapshots: Vec<(Ticket, TicketClocks)> = cases.iter().map(snapshot).collect();
    let period = Period::before(at(MONDAY), 7, &br());
    build(
        snapshots.iter().map(|(t, c)| (t, c)),
        &spec(by),
        &directory(),
        &period,
        at(MONDAY),
    )
}

const IN_WEEK: &str = "2026-11-17T10:00:00-03:00";
const BEFORE: &str = "2026-11-10T10:00:00-03:00";

fn week() -> Vec<Case> {
    vec![
        // Came in and was solved by its due date: received, solved, on time.
        Case {
            id: 1,
            created: IN_WEEK,
            status: "closed",
            solved: Some("2026-11-18T10:00:00-03:00"),
            due: Some("2026-11-24T10:00:00-03:00"),
            tipo: Some("reclamacao"),
        },
        // Came in, still open and past due: received, open, overdue.
        Case {
            id: 2,
            created: IN_WEEK,
            status: "open",
            solved: None,
            due: Some("2026-11-20T10:00:00-03:00"),
            tipo: Some("reclamacao"),
        },
        // Older, solved this week after its due date: solved, late.
        Case {
            id: 3,
            created: BEFORE,
            status: "solved",
            solved: Some("2026-11-19T10:00:00-03:00"),
            due: Some("2026-11-17T10:00:00-03:00"),
            tipo: Some("elogio"),
        },
        // Older and still pending, no type: open.
        Case {
            id: 4,
            created: BEFORE,
            status: "pending",
            solved: None,
            due: None,
            tipo: None,
        },
        // Solved and closed before the week: not in the report.
        Case {
            id: 5,
            created: BEFORE,
            status: "closed",
            solved: Some("2026-11-12T10:00:00-03:00"),
            due: Some("2026-11-13T10:00:00-03:00"),
            tipo: Some("elogio"),
        },
        // Came in and was solved without a due date: no_due.
        Case {
            id: 6,
            created: "2026-11-16T00:00:00-03:00",
            status: "solved",
            solved: Some("2026-11-22T23:59:00-03:00"),
            due: None,
            tipo: Some("um valor sem opção"),
        },
        // Came in at the tick day's midnight: after the period, but open.
        Case {
            id: 7,
            created: "2026-11-23T00:00:00-03:00",
            status: "new",
            solved: None,
            due: None,
            tipo: Some("reclamacao"),
        },
        // Solved in the week, then reopened: open, not solved.
        Case {
            id: 8,
            created: BEFORE,
            status: "open",
            solved: Some("2026-11-18T10:00:00-03:00"),
            due: Some("2026-12-18T10:00:00-03:00"),
            tipo: Some("elogio"),
        },
    ]
}

#[test]
fn each_ticket_counts_for_what_happened_to_it_in_the_period() {
    let report = report(&week(), &[]);
    assert_eq!(
        (report.start.as_str(), report.end.as_str()),
        ("2026-11-16", "2026-11-22")
    );
    assert_eq!(report.received, 3, "1, 2 and 6");
    assert_eq!(report.solved, 3, "1, 3 and 6");
    assert_eq!(report.open, 4, "2, 4, 7 and 8");
    assert_eq!(report.overdue, 1, "2");
    assert_eq!(
        report.sla,
        SlaVars {
            on_time: 1,
            late: 1,
            no_due: 1
        }
    );
    assert_eq!(report.sla.percent(), Some(50));
    assert!(report.by.is_empty());
}

#[test]
fn a_breakdown_names_option_values_and_puts_the_biggest_first() {
    let report = report(
        &week(),
        &[
            ("tipo", "ticket.fields.Tipo de manifestação"),
            ("status", "ticket.status"),
        ],
    );
    let tipo: Vec<(Option<&str>, usize, usize, usize, u32)> = report.by["tipo"]
        .iter()
        .map(|r| (r.value.as_deref(), r.received, r.solved, r.open, r.share))
        .collect();
    assert_eq!(
        tipo,
        [
            // 1, 2 (and 7, open only): two of the three received.
            (Some("Reclamação"), 2, 1, 2, 67),
            (Some("um valor sem opção"), 1, 1, 0, 33),
            // 3 (solved late) and 8 (reopened).
            (Some("Elogio"), 0, 1, 1, 0),
            // 4: no type, last among equals.
            (None, 0, 0, 1, 0),
        ]
    );
    let reclamacao = &report.by["tipo"][0];
    assert_eq!((reclamacao.sla.on_time, reclamacao.sla.late), (1, 0));
    assert_eq!(reclamacao.sla.percent(), Some(100));
    let elogio = &report.by["tipo"][2];
    assert_eq!(elogio.sla.percent(), Some(0));
    assert_eq!(report.by["tipo"][3].sla.percent(), None);

    // By received, then open, then solved, then name.
    let status: Vec<(Option<&str>, usize, usize, usize)> = report.by["status"]
        .iter()
        .map(|r| (r.value.as_deref(), r.received, r.open, r.solved))
        .collect();
    assert_eq!(
        status,
        [
            (Some("open"), 1, 2, 0),
            (Some("solved"), 1, 0, 2),
            (Some("closed"), 1, 0, 1),
            (Some("new"), 0, 1, 0),
            (Some("pending"), 0, 1, 0),
        ]
    );
    // Every ticket counted is in each breakdown once.
    for rows in report.by.values() {
        assert_eq!(rows.iter().map(|r| r.received).sum::<usize>(), report.received);
        assert_eq!(rows.iter().map(|r| r.solved).sum::<usize>(), report.solved);
        assert_eq!(rows.iter().map(|r| r.open).sum::<usize>(), report.open);
    }
}

#[test]
fn an_empty_period_reports_zeros_and_no_percentage() {
    let report = report(&[], &[("tipo", "ticket.fields.Tipo de manifestação")]);
    assert_eq!((report.received, report.solved, report.open), (0, 0, 0));
    assert_eq!(report.sla.percent(), None);
    assert!(report.by["tipo"].is_empty());
}

#[test]
fn breakdown_values_are_names_not_ids() {
    let directory = directory();
    let (mut ticket, _) = snapshot(&week()[0]);
    ticket.custom_status_id = Some(70);
    ticket.priority = Some("high".to_owned());
    let field = |path: &str| FieldRef::parse(path).expect("field");
    let value = |path: &str| breakdown_value(&field(path), &ticket, &directory);
    assert_eq!(value("ticket.group").as_deref(), Some("Manifestações"));
    assert_eq!(value("ticket.assignee").as_deref(), Some("Cibele Souza"));
    assert_eq!(value("ticket.custom_status").as_deref(), Some("Em análise"));
    assert_eq!(value("ticket.priority").as_deref(), Some("high"));
    assert_eq!(value("ticket.status").as_deref(), Some("closed"));
    assert_eq!(value("ticket.type"), None);
    assert_eq!(value("ticket.fields.Motivo"), None);
    // An unknown group is shown by its id rather than dropped.
    ticket.group_id = Some(99);
    assert_eq!(
        breakdown_value(&field("ticket.group"), &ticket, &directory).as_deref(),
        Some("99")
    );
}
