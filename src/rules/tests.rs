//! Evaluator tests, per operator and per action, against rules written
//! inline and a small directory.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::engine::{Event, EventKind, MailFacts, TicketFacts, plan_traced};
use super::model::{ActionSpec, FieldRef, SendDigestSpec};
use super::plan::{Effect, Plan};
use super::*;
use crate::calendar::Calendars;
use crate::clock::FixedClock;
use crate::helpdesk::clocks::TicketClocks;
use crate::helpdesk::{Role, Status, Ticket, User};
use crate::template::{TemplateOptions, Templates};
use crate::tickets::{Delta, NewComment, TicketChange};

const NOW: &str = "2026-03-04T10:00:00-03:00";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

fn templates() -> Templates {
    Templates::from_sources(
        Path::new("templates"),
        vec![
            (
                "prazo.txt.j2".to_owned(),
                "Resposta até {{ ticket.due_at | data_extenso }}.".to_owned(),
            ),
            (
                "nota_registrada.txt.j2".to_owned(),
                "Nota {{ captures.nota }} registrada.".to_owned(),
            ),
            (
                "nota.txt.j2".to_owned(),
                "Nota de #{{ ticket.id }} ({{ vars.setor }})".to_owned(),
            ),
            (
                "resposta.txt.j2".to_owned(),
                "Olá, {{ requester.name }}.".to_owned(),
            ),
            (
                "resumo.txt.j2".to_owned(),
                "{{ digest.total }} manifestações".to_owned(),
            ),
        ],
        &TemplateOptions::default(),
    )
    .expect("templates")
}

fn rules(text: &str) -> RuleSet {
    let source = format!("version = 1\n{text}");
    load_sources(
        Path::new("."),
        &[(PathBuf::from("test.toml"), source)],
        templates(),
        &Calendars::new(),
    )
    .unwrap_or_else(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        panic!("rules do not load:\n{}", lines.join("\n"))
    })
}

fn load_error(text: &str) -> String {
    let source = format!("version = 1\n{text}");
    match load_sources(
        Path::new("."),
        &[(PathBuf::from("test.toml"), source)],
        templates(),
        &Calendars::new(),
    ) {
        Ok(_) => panic!("the rules loaded"),
        Err(problems) => problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn directory() -> Directory {
    let value = json!({
        "groups": [
            { "id": 10, "name": "Suporte" },
            { "id": 11, "name": "Ordem de Serviço" },
        ],
        "users": [
            { "id": 1, "name": "Maria Cliente", "email": "maria@cliente.com.br", "role": "end-user" },
            { "id": 2, "name": "Richard Dono", "email": "richard@empresa.com.br", "role": "agent" },
        ],
        "custom_statuses": [
            { "id": 100, "status_category": "open", "agent_label": "Aberto", "active": true, "default": true },
            { "id": 101, "status_category": "pending", "agent_label": "Pendente", "active": true, "default": true },
            { "id": 102, "status_category": "pending", "agent_label": "Validação Cliente", "active": true, "default": false },
            { "id": 103, "status_category": "solved", "agent_label": "Resolvido", "active": true, "default": true },
        ],
        "ticket_fields": [
            { "id": 500, "type": "text", "title": "CNPJ" },
            { "id": 501, "type": "integer", "title": "Equipamentos" },
            { "id": 502, "type": "text", "title": "UF" },
        ],
    });
    let mut directory: Directory = serde_json::from_value(value).expect("directory");
    directory.index();
    directory
}

fn facts(extra: serde_json::Value) -> TicketFacts {
    let mut base = json!({
        "id": 123, "created_at": "2026-03-02T12:00:00Z", "updated_at": "2026-03-02T12:00:00Z",
        "subject": "Impressora parada", "status": "open", "custom_status_id": 100,
        "requester_id": 1, "group_id": 10, "tags": ["cliente"],
        "custom_fields": [ { "id": 500, "value": "11.222.333/0001-81" }, { "id": 501, "value": 7 } ],
    });
    for (key, value) in extra.as_object().expect("object") {
        base[key] = value.clone();
    }
    let ticket: Ticket = serde_json::from_value(base).expect("ticket");
    let requester: User = serde_json::from_value(
        json!({ "id": 1, "name": "Maria Cliente", "email": "maria@cliente.com.br", "role": "end-user" }),
    )
    .expect("user");
    TicketFacts {
        ticket,
        clocks: TicketClocks::default(),
        requester: Some(requester),
    }
}

fn run_with(
    set: &RuleSet,
    event: &Event,
    facts: &TicketFacts,
    fired: &(dyn Fn(&str, u64) -> bool + Sync),
) -> Plan {
    let directory = directory();
    let calendars = Calendars::new();
    let context = Context {
        rules: set,
        directory: &directory,
        calendars: &calendars,
        fired_once: fired,
        max_cascade: 2,
    };
    plan_traced(event, facts, &context, &FixedClock::at(at(NOW)), None)
}

fn run(set: &RuleSet, event: &Event, facts: &TicketFacts) -> Plan {
    run_with(set, event, facts, &|_, _| false)
}

fn updated(change: TicketChange) -> Event {
    Event {
        kind: EventKind::TicketUpdated,
        change,
        depth: 0,
        articles: Vec::new(),
    }
}

/// Whether a one-condition rule on ticket.updated fires.
fn holds(condition: &str, event: &Event, facts: &TicketFacts) -> bool {
    let set = rules(&format!(
        "[[rule]]\nname = \"r\"\non = [\"ticket.updated\"]\nall = [ {condition} ]\nactions = [ {{ add_tags = [\"x\"] }} ]\n"
    ));
    !run(&set, event, facts).fired.is_empty()
}

fn plain() -> Event {
    updated(TicketChange::default())
}

#[test]
fn is_and_is_not_compare_names_case_insensitively() {
    let f = facts(json!({}));
    assert!(holds(
        r#"{ field = "ticket.status", op = "is", value = "open" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.status", op = "is", value = "pending" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.group", op = "is", value = "suporte" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.custom_status", op = "is", value = "Aberto" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.status", op = "is_not", value = "solved" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.status", op = "is_not", value = "open" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.fields.Equipamentos", op = "is", value = 7 }"#,
        &plain(),
        &f
    ));
    let assigned = facts(json!({ "assignee_id": 2 }));
    assert!(holds(
        r#"{ field = "ticket.assignee", op = "is", value = "Richard Dono" }"#,
        &plain(),
        &assigned
    ));
    assert!(holds(
        r#"{ field = "ticket.assignee", op = "is", value = "richard@empresa.com.br" }"#,
        &plain(),
        &assigned
    ));
}

#[test]
fn in_contains_and_matches() {
    let f = facts(json!({}));
    assert!(holds(
        r#"{ field = "ticket.status", op = "in", value = ["open", "pending"] }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.status", op = "in", value = ["hold", "pending"] }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.tags", op = "contains", value = "cliente" }"#,
        &plain(),
        &f
    ));
    assert!(
        !holds(
            r#"{ field = "ticket.tags", op = "contains", value = "clien" }"#,
            &plain(),
            &f
        ),
        "tags match whole"
    );
    assert!(holds(
        r#"{ field = "ticket.subject", op = "contains", value = "IMPRESSORA" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.subject", op = "matches", value = "^Impressora\\s" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.subject", op = "matches", value = "^impressora" }"#,
        &plain(),
        &f
    ));
}

#[test]
fn present_and_absent() {
    let f = facts(json!({}));
    assert!(holds(
        r#"{ field = "ticket.fields.CNPJ", op = "present" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.assignee", op = "absent" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.due_at", op = "present" }"#,
        &plain(),
        &f
    ));
    let empty = facts(json!({ "custom_fields": [ { "id": 500, "value": "" } ] }));
    assert!(
        holds(
            r#"{ field = "ticket.fields.CNPJ", op = "absent" }"#,
            &plain(),
            &empty
        ),
        "an empty text is absent"
    );
}

#[test]
fn changed_changed_to_and_changed_from_read_the_event_only() {
    let f = facts(json!({ "group_id": 11 }));
    let moved = updated(TicketChange {
        group: Some(Delta {
            from: Some(10),
            to: Some(11),
        }),
        tags_added: vec!["ouvidoria_solicitada".to_owned()],
        ..TicketChange::default()
    });
    assert!(holds(r#"{ field = "ticket.group", op = "changed" }"#, &moved, &f));
    assert!(holds(
        r#"{ field = "ticket.group", op = "changed_to", value = "Ordem de Serviço" }"#,
        &moved,
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.group", op = "changed_from", value = "Suporte" }"#,
        &moved,
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.group", op = "changed_to", value = "Suporte" }"#,
        &moved,
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.tags", op = "changed_to", value = "ouvidoria_solicitada" }"#,
        &moved,
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.tags", op = "changed_from", value = "ouvidoria_solicitada" }"#,
        &moved,
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.status", op = "changed" }"#,
        &moved,
        &f
    ));
    assert!(
        !holds(r#"{ field = "ticket.group", op = "changed" }"#, &plain(), &f),
        "no change in the event"
    );
    let status = updated(TicketChange {
        status: Some(Delta {
            from: Status::Pending,
            to: Status::Open,
        }),
        ..TicketChange::default()
    });
    assert!(holds(
        r#"{ field = "ticket.status", op = "changed_from", value = "pending" }"#,
        &status,
        &f
    ));
}

#[test]
fn older_than_and_newer_than_in_calendar_and_business_time() {
    // NOW is Wednesday 2026-03-04 10:00 in São Paulo.
    let mut f = facts(json!({}));
    f.clocks.status_changed_at = Some(at("2026-02-25T10:00:00-03:00"));
    assert!(holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "older_than", value = "7d" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "older_than", value = "8d" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "newer_than", value = "8d" }"#,
        &plain(),
        &f
    ));
    // 2026-02-25 (Wed) + 5bd = 2026-03-04 (Wed) 10:00: exactly now, so older.
    assert!(holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "older_than", value = "5bd" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "older_than", value = "6bd" }"#,
        &plain(),
        &f
    ));
    // Carnaval 2026 is 16–17 February: 5bd from Friday 13th skips it.
    f.clocks.status_changed_at = Some(at("2026-02-13T10:00:00-03:00"));
    assert!(holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "older_than", value = "10bd" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "older_than", value = "12bd" }"#,
        &plain(),
        &f
    ));
    f.clocks.status_changed_at = None;
    assert!(!holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "older_than", value = "1m" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.clock.status_changed_at", op = "newer_than", value = "1m" }"#,
        &plain(),
        &f
    ));
}

#[test]
fn cnpj_valid_checks_the_digits_of_a_field() {
    let good = facts(json!({}));
    let bad = facts(json!({ "custom_fields": [ { "id": 500, "value": "11.222.333/0001-82" } ] }));
    let rule = r#"{ field = "ticket.fields.CNPJ", op = "cnpj_valid" }"#;
    assert!(holds(rule, &plain(), &good));
    assert!(!holds(rule, &plain(), &bad));
}

#[test]
fn greater_than_and_less_than_compare_numbers_and_numeric_text() {
    let seven = facts(json!({}));
    let five = facts(json!({ "custom_fields": [ { "id": 501, "value": 5 } ] }));
    let six_text = facts(json!({ "custom_fields": [ { "id": 501, "value": " 6 " } ] }));
    let decimal = facts(json!({ "custom_fields": [ { "id": 501, "value": "5,5" } ] }));
    let words = facts(json!({ "custom_fields": [ { "id": 501, "value": "seis" } ] }));
    let absent = facts(json!({ "custom_fields": [ { "id": 501, "value": null } ] }));
    let more = r#"{ field = "ticket.fields.Equipamentos", op = "greater_than", value = 5 }"#;
    let fewer = r#"{ field = "ticket.fields.Equipamentos", op = "less_than", value = "6" }"#;
    assert!(holds(more, &plain(), &seven));
    assert!(!holds(more, &plain(), &five), "5 is not more than 5");
    assert!(holds(more, &plain(), &six_text));
    assert!(holds(more, &plain(), &decimal));
    assert!(
        !holds(more, &plain(), &words),
        "a text that is no number never compares"
    );
    assert!(!holds(more, &plain(), &absent));
    assert!(holds(fewer, &plain(), &five));
    assert!(!holds(fewer, &plain(), &six_text));
    assert!(!holds(fewer, &plain(), &absent));
    assert!(holds(
        r#"{ field = "ticket.id", op = "greater_than", value = 0 }"#,
        &plain(),
        &seven
    ));
}

#[test]
fn greater_than_needs_a_number_and_a_field_that_can_hold_one() {
    let error = load_error(
        r#"[[rule]]
name = "r"
on = ["ticket.updated"]
all = [ { field = "ticket.fields.Equipamentos", op = "greater_than", value = "cinco" } ]
actions = [ { add_tags = ["x"] } ]
"#,
    );
    assert!(error.contains("test.toml:5:"), "{error}");
    assert!(error.contains("`greater_than` takes a whole number"), "{error}");
    let error = load_error(
        r#"[[rule]]
name = "r"
on = ["ticket.updated"]
all = [ { field = "ticket.created_at", op = "less_than", value = 3 } ]
actions = [ { add_tags = ["x"] } ]
"#,
    );
    assert!(error.contains("ticket.created_at is an instant"), "{error}");
    let error = load_error(
        r#"[[rule]]
name = "r"
on = ["ticket.updated"]
all = [ { field = "ticket.tags", op = "greater_than", value = 3 } ]
actions = [ { add_tags = ["x"] } ]
"#,
    );
    assert!(
        error.contains("`greater_than` compares numbers; ticket.tags is not one"),
        "{error}"
    );
}

#[test]
fn is_and_is_not_compare_with_another_field() {
    let same = facts(json!({ "custom_fields": [
        { "id": 500, "value": "SP" }, { "id": 502, "value": " sp " },
    ] }));
    let other = facts(json!({ "custom_fields": [
        { "id": 500, "value": "SP" }, { "id": 502, "value": "RJ" },
    ] }));
    let missing = facts(json!({ "custom_fields": [ { "id": 500, "value": "SP" } ] }));
    let equal = r#"{ field = "ticket.fields.CNPJ", op = "is", value = { field = "ticket.fields.UF" } }"#;
    let differ = r#"{ field = "ticket.fields.CNPJ", op = "is_not", value = { field = "ticket.fields.UF" } }"#;
    assert!(holds(equal, &plain(), &same));
    assert!(!holds(differ, &plain(), &same));
    assert!(!holds(equal, &plain(), &other));
    assert!(holds(differ, &plain(), &other));
    assert!(!holds(equal, &plain(), &missing), "an absent side is never equal");
    assert!(holds(differ, &plain(), &missing));
}

#[test]
fn a_field_reference_is_checked_at_load() {
    let rule = |condition: &str| {
        format!(
            "[[rule]]\nname = \"r\"\non = [\"ticket.updated\"]\nall = [ {condition} ]\nactions = [ {{ add_tags = [\"x\"] }} ]\n"
        )
    };
    let error = load_error(&rule(
        r#"{ field = "ticket.fields.CNPJ", op = "contains", value = { field = "ticket.fields.UF" } }"#,
    ));
    assert!(error.contains("test.toml:5:"), "{error}");
    assert!(
        error.contains("`contains` cannot compare with another field"),
        "{error}"
    );
    let error = load_error(&rule(
        r#"{ field = "ticket.fields.CNPJ", op = "is", value = { field = "ticket.estado" } }"#,
    ));
    assert!(
        error.contains("unknown field \"ticket.estado\" in `value`"),
        "{error}"
    );
    let error = load_error(&rule(
        r#"{ field = "ticket.fields.CNPJ", op = "is", value = { campo = "ticket.fields.UF" } }"#,
    ));
    assert!(
        error.contains("a table as `value` names another field"),
        "{error}"
    );
    let error = load_error(&rule(
        r#"{ field = "ticket.subject", op = "is", value = { field = "mail.subject" } }"#,
    ));
    assert!(error.contains("mail.subject"), "{error}");
}

#[test]
fn groups_nest_and_not_holds_when_none_holds() {
    let f = facts(json!({}));
    let set = rules(
        r#"
[[rule]]
name = "r"
on = ["ticket.updated"]
any = [
  { field = "ticket.status", op = "is", value = "pending" },
  { all = [ { field = "ticket.group", op = "is", value = "Suporte" }, { field = "ticket.tags", op = "contains", value = "cliente" } ] },
]
not = [ { field = "ticket.tags", op = "contains", value = "vip" }, { field = "ticket.status", op = "is", value = "solved" } ]
actions = [ { add_tags = ["x"] } ]
"#,
    );
    assert_eq!(run(&set, &plain(), &f).fired, vec!["r".to_owned()]);
    let vip = facts(json!({ "tags": ["cliente", "vip"] }));
    assert!(run(&set, &plain(), &vip).fired.is_empty());
}

#[test]
fn comment_conditions_bind_to_one_new_comment() {
    let f = facts(json!({}));
    let comment = |id, role, public, body: &str| NewComment {
        id,
        author_id: Some(if role == Role::EndUser { 1 } else { 2 }),
        author_role: Some(role),
        public,
        body: body.to_owned(),
        created_at: at(NOW),
    };
    let event = updated(TicketChange {
        comments: vec![
            comment(1, Role::Agent, false, "quero ouvidoria"),
            comment(2, Role::EndUser, true, "obrigada"),
        ],
        ..TicketChange::default()
    });
    // Both hold of some comment, but not of the same one.
    let rule = r#"{ field = "comment.author_role", op = "is", value = "end-user" }, { field = "comment.body", op = "contains", value = "ouvidoria" }"#;
    assert!(!holds(rule, &event, &f));
    let rule = r#"{ field = "comment.by_requester", op = "is", value = true }, { field = "comment.public", op = "is", value = true }"#;
    assert!(holds(rule, &event, &f));
}

#[test]
fn comment_author_names_the_agent_by_email_or_name() {
    let f = facts(json!({}));
    let by = |author_id| {
        updated(TicketChange {
            comments: vec![NewComment {
                id: 7,
                author_id,
                author_role: Some(Role::Agent),
                public: false,
                body: "Procedimento feito.".to_owned(),
                created_at: at(NOW),
            }],
            ..TicketChange::default()
        })
    };
    let by_email = r#"{ field = "comment.author", op = "is", value = "richard@empresa.com.br" }"#;
    let by_name = r#"{ field = "comment.author", op = "is", value = "Richard Dono" }"#;
    assert!(holds(by_email, &by(Some(2)), &f));
    assert!(holds(by_name, &by(Some(2)), &f));
    // Someone else, an author nobody knows, and no comment at all.
    assert!(!holds(by_email, &by(Some(1)), &f));
    assert!(!holds(by_email, &by(Some(99)), &f));
    assert!(!holds(by_email, &by(None), &f));
    assert!(!holds(by_email, &updated(TicketChange::default()), &f));
}

#[test]
fn mail_fields_are_read_on_mail_received() {
    let set = rules(
        r#"
[[rule]]
name = "nota"
on = ["mail.received"]
all = [ { field = "mail.kind", op = "is", value = "reply" }, { field = "mail.body", op = "matches", value = "(?i)^\\s*(nota\\s*)?[1-5]\\b" } ]
actions = [ { set_field = { field = "Equipamentos", value = 1 } } ]
"#,
    );
    let event = |body: &str| {
        Event::new(EventKind::MailReceived(MailFacts {
            kind: "reply".to_owned(),
            from: "maria@cliente.com.br".to_owned(),
            subject: "Re: [#123]".to_owned(),
            body: body.to_owned(),
            ..MailFacts::default()
        }))
    };
    let f = facts(json!({}));
    assert_eq!(run(&set, &event("Nota 4, obrigada"), &f).steps.len(), 1);
    assert_eq!(run(&set, &event("5"), &f).steps.len(), 1);
    assert!(run(&set, &event("Obrigada pelo retorno"), &f).steps.is_empty());
}

#[test]
fn every_action_plans_its_effect_with_names_resolved() {
    let set = rules(
        r#"
[[rule]]
name = "tudo"
on = ["ticket.created"]
vars = { setor = "Financeiro" }
actions = [
  { set_status = "pending" },
  { set_custom_status = "Validação Cliente" },
  { assign = { user = "richard@empresa.com.br", group = "Ordem de Serviço" } },
  { add_tags = ["a", "b"] },
  { remove_tags = ["cliente"] },
  { set_field = { field = "CNPJ", value = "11222333000181" } },
  { set_due = "+5bd" },
  { internal_note = "nota" },
  { public_reply = "prazo" },
  { send_mail = { to = ["requester", "os@assistencia.example"], template = "resposta", subject = "Pedido #{{ ticket.id }}" } },
  { create_ticket = { subject = "OUVIDORIA - #{{ ticket.id }}", internal_note = "nota", assignee = "Richard Dono", cc = ["ouvidoria@empresa.com.br"], status = "open" } },
  { solve = true },
]
"#,
    );
    let plan = run(&set, &Event::new(EventKind::TicketCreated), &facts(json!({})));
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    let effects: Vec<&Effect> = plan.steps.iter().map(|s| &s.effect).collect();
    assert_eq!(effects[0], &Effect::SetStatus(Status::Pending));
    assert_eq!(
        effects[1],
        &Effect::SetCustomStatus {
            id: 102,
            name: "Validação Cliente".to_owned(),
            solved: false,
        }
    );
    assert_eq!(
        effects[2],
        &Effect::Assign {
            user_id: Some(2),
            user: Some("richard@empresa.com.br".to_owned()),
            group_id: Some(11),
            group: Some("Ordem de Serviço".to_owned())
        }
    );
    assert_eq!(effects[3], &Effect::AddTags(vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(effects[4], &Effect::RemoveTags(vec!["cliente".to_owned()]));
    assert_eq!(
        effects[5],
        &Effect::SetField {
            id: 500,
            field: "CNPJ".to_owned(),
            value: json!("11222333000181")
        }
    );
    // Wednesday 4 March 2026 10:00 + 5bd = Wednesday 11 March 10:00 (-03:00).
    assert_eq!(effects[6], &Effect::SetDue(at("2026-03-11T10:00:00-03:00")));
    assert_eq!(
        effects[7],
        &Effect::InternalNote {
            template: "nota".to_owned(),
            body: "Nota de #123 (Financeiro)".to_owned()
        }
    );
    // The reply sees the due date planned just before it.
    let Effect::PublicReply { body, .. } = effects[8] else {
        panic!("not a reply: {:?}", effects[8]);
    };
    assert_eq!(body, "Resposta até 11 de março de 2026.");
    let Effect::SendMail {
        to, subject, text, ..
    } = effects[9]
    else {
        panic!("not a mail: {:?}", effects[9]);
    };
    assert_eq!(
        to,
        &vec![
            "maria@cliente.com.br".to_owned(),
            "os@assistencia.example".to_owned()
        ]
    );
    assert_eq!(subject, "Pedido #123");
    assert_eq!(text, "Olá, Maria Cliente.");
    let Effect::CreateTicket {
        subject,
        assignee_id,
        cc,
        status,
        requester_id,
        ..
    } = effects[10]
    else {
        panic!("not a create: {:?}", effects[10]);
    };
    assert_eq!(subject, "OUVIDORIA - #123");
    assert_eq!(*assignee_id, Some(2));
    assert_eq!(*requester_id, Some(1));
    assert_eq!(cc, &vec!["ouvidoria@empresa.com.br".to_owned()]);
    assert_eq!(*status, Some(Status::Open));
    assert_eq!(effects[11], &Effect::Solve);
}

#[test]
fn a_later_rule_sees_what_an_earlier_rule_planned() {
    let set = rules(
        r#"
[[rule]]
name = "primeira"
on = ["ticket.updated"]
actions = [ { set_status = "pending" } ]

[[rule]]
name = "segunda"
on = ["ticket.updated"]
all = [ { field = "ticket.status", op = "is", value = "pending" } ]
actions = [ { add_tags = ["viu_pendente"] } ]
"#,
    );
    let plan = run(&set, &plain(), &facts(json!({})));
    assert_eq!(plan.fired, vec!["primeira".to_owned(), "segunda".to_owned()]);
}

#[test]
fn stop_ends_the_event_and_once_per_ticket_fires_once() {
    let set = rules(
        r#"
[[rule]]
name = "primeira"
on = ["ticket.updated"]
stop = true
once = "per_ticket"
actions = [ { add_tags = ["a"] } ]

[[rule]]
name = "segunda"
on = ["ticket.updated"]
actions = [ { add_tags = ["b"] } ]
"#,
    );
    let f = facts(json!({}));
    let plan = run(&set, &plain(), &f);
    assert_eq!(plan.fired, vec!["primeira".to_owned()]);
    assert_eq!(plan.stopped_by.as_deref(), Some("primeira"));
    let again = run_with(&set, &plain(), &f, &|rule, ticket| {
        rule == "primeira" && ticket == 123
    });
    assert_eq!(again.fired, vec!["segunda".to_owned()]);
}

#[test]
fn the_stop_action_ends_the_event_where_it_stands() {
    let set = rules(
        r#"
[[rule]]
name = "primeira"
on = ["ticket.updated"]
actions = [ { add_tags = ["a"] }, { stop = true } ]

[[rule]]
name = "segunda"
on = ["ticket.updated"]
actions = [ { add_tags = ["b"] } ]
"#,
    );
    let plan = run(&set, &plain(), &facts(json!({})));
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.stopped_by.as_deref(), Some("primeira"));
}

#[test]
fn commit_splits_the_update_into_audit_steps() {
    let set = rules(
        r#"
[[rule]]
name = "os"
on = ["ticket.updated"]
actions = [ { set_status = "open", commit = true }, { set_status = "hold" }, { add_tags = ["os"] } ]
"#,
    );
    let plan = run(&set, &plain(), &facts(json!({ "status": "new" })));
    let groups = plan.update_groups();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].len(), 1);
    assert_eq!(groups[1].len(), 2);
}

#[test]
fn carteiros_own_changes_run_only_cascade_rules_within_the_depth() {
    let set = rules(
        r#"
[[rule]]
name = "normal"
on = ["ticket.updated"]
actions = [ { add_tags = ["a"] } ]

[[rule]]
name = "cascata"
on = ["ticket.updated"]
cascade = true
actions = [ { add_tags = ["b"] } ]
"#,
    );
    let f = facts(json!({}));
    let mut event = plain();
    event.depth = 1;
    assert_eq!(run(&set, &event, &f).fired, vec!["cascata".to_owned()]);
    event.depth = 3;
    assert!(run(&set, &event, &f).fired.is_empty(), "over max_cascade = 2");
}

#[test]
fn a_rule_with_an_unknown_name_is_left_out_whole_and_said() {
    let set = rules(
        r#"
[[rule]]
name = "grupo"
on = ["ticket.updated"]
actions = [ { add_tags = ["a"] }, { assign = { group = "Inexistente" } } ]
"#,
    );
    let plan = run(&set, &plain(), &facts(json!({})));
    assert!(plan.steps.is_empty());
    assert_eq!(plan.problems.len(), 1);
    assert!(
        plan.problems[0].message.contains("no group \"Inexistente\""),
        "{}",
        plan.problems[0]
    );
}

#[test]
fn schedule_events_run_only_the_due_rules() {
    let set = rules(
        r#"
[[rule]]
name = "validacao"
on = ["schedule"]
cron = "0 */10 * * * *"
all = [ { field = "ticket.custom_status", op = "is", value = "Pendente" }, { field = "ticket.clock.custom_status_changed_at", op = "older_than", value = "7d" } ]
actions = [ { set_custom_status = "Validação Cliente" } ]

[[rule]]
name = "outra"
on = ["schedule"]
cron = "0 0 9 * * *"
once = "per_ticket"
actions = [ { add_tags = ["b"] } ]
"#,
    );
    let mut f = facts(json!({ "status": "pending", "custom_status_id": 101 }));
    f.clocks.custom_status_changed_at = Some(at(NOW) - TimeDelta::days(8));
    let plan = run(
        &set,
        &Event::new(EventKind::Schedule(["validacao".to_owned()].into())),
        &f,
    );
    assert_eq!(plan.fired, vec!["validacao".to_owned()]);
}

#[test]
fn the_loop_guard_accepts_contradicting_actions_and_refuses_the_rest() {
    // The status moves away from pending: accepted.
    rules(
        r#"
[[rule]]
name = "ok"
on = ["schedule"]
cron = "0 0 9 * * *"
all = [ { field = "ticket.status", op = "is", value = "pending" } ]
actions = [ { set_status = "solved" } ]
"#,
    );
    // The tag it adds is one its `not` forbids: accepted.
    rules(
        r#"
[[rule]]
name = "ok"
on = ["schedule"]
cron = "0 0 9 * * *"
not = [ { field = "ticket.tags", op = "contains", value = "lembrado" } ]
actions = [ { public_reply = "resposta" }, { add_tags = ["lembrado"] } ]
"#,
    );
    // "Validação Cliente" is a pending status too: the ticket stays
    // pending, so `status is pending` still holds on the next tick.
    let error = load_error(
        r#"
[[rule]]
name = "validacao"
on = ["schedule"]
cron = "0 */10 * * * *"
all = [ { field = "ticket.status", op = "is", value = "pending" }, { field = "ticket.clock.status_changed_at", op = "older_than", value = "7d" } ]
actions = [ { set_custom_status = "Validação Cliente" } ]
"#,
    );
    assert!(
        error.contains("none of its actions undoes any of: ticket.status is \"pending\""),
        "{error}"
    );
    // A contradiction inside `any` does not count: refused.
    let error = load_error(
        r#"
[[rule]]
name = "ruim"
on = ["schedule"]
cron = "0 0 9 * * *"
any = [ { field = "ticket.status", op = "is", value = "pending" }, { field = "ticket.status", op = "is", value = "hold" } ]
actions = [ { set_status = "open" } ]
"#,
    );
    assert!(
        error.starts_with("test.toml:4:8: rule \"ruim\": a schedule rule must"),
        "{error}"
    );
    assert!(
        error.contains("it has no condition that all its firings need"),
        "{error}"
    );
}

#[test]
fn explain_records_each_condition_with_the_value_seen() {
    let set = rules(
        r#"
[[rule]]
name = "r"
on = ["ticket.updated"]
all = [ { field = "ticket.status", op = "is", value = "pending" }, { field = "ticket.group", op = "is", value = "Suporte" } ]
actions = [ { add_tags = ["x"] } ]

[[rule]]
name = "agendada"
on = ["schedule"]
cron = "0 0 9 * * *"
once = "per_ticket"
actions = [ { add_tags = ["y"] } ]
"#,
    );
    let directory = directory();
    let calendars = Calendars::new();
    let context = Context {
        rules: &set,
        directory: &directory,
        calendars: &calendars,
        fired_once: &|_, _| false,
        max_cascade: 2,
    };
    let mut trace = Vec::new();
    plan_traced(
        &plain(),
        &facts(json!({})),
        &context,
        &FixedClock::at(at(NOW)),
        Some(&mut trace),
    );
    assert_eq!(trace.len(), 2);
    assert!(!trace[0].fired);
    let lines: Vec<(String, Option<String>, bool)> = trace[0]
        .conditions
        .iter()
        .map(|c| (c.text.clone(), c.seen.clone(), c.held))
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                "ticket.status is \"pending\"".to_owned(),
                Some("\"open\"".to_owned()),
                false
            ),
            (
                "ticket.group is \"Suporte\"".to_owned(),
                Some("\"Suporte\"".to_owned()),
                true
            ),
        ]
    );
    assert_eq!(
        trace[1].skipped.as_deref(),
        Some("does not run on ticket.updated")
    );
}

#[test]
fn the_rule_set_hash_changes_with_the_rules() {
    let a =
        rules("[[rule]]\nname = \"a\"\non = [\"ticket.created\"]\nactions = [ { add_tags = [\"a\"] } ]\n");
    let b =
        rules("[[rule]]\nname = \"a\"\non = [\"ticket.created\"]\nactions = [ { add_tags = [\"b\"] } ]\n");
    assert_eq!(a.hash.len(), 12);
    assert_ne!(a.hash, b.hash);
}

#[test]
fn text_comparison_folds_case_in_ascii_and_unicode() {
    let f = facts(json!({ "custom_status_id": 102 }));
    assert!(holds(
        r#"{ field = "ticket.custom_status", op = "is", value = "VALIDAÇÃO CLIENTE" }"#,
        &plain(),
        &f
    ));
    assert!(holds(
        r#"{ field = "ticket.custom_status", op = "is", value = " validação cliente " }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.custom_status", op = "is", value = "Validacao Cliente" }"#,
        &plain(),
        &f
    ));
    assert!(!holds(
        r#"{ field = "ticket.custom_status", op = "is", value = "Validação Clientes" }"#,
        &plain(),
        &f
    ));
}

#[test]
fn set_priority_plans_the_priority_and_later_rules_see_it() {
    let set = rules(
        r#"
[[rule]]
name = "vip"
on = ["ticket.updated"]
all = [ { field = "ticket.tags", op = "contains", value = "cliente" } ]
not = [ { field = "ticket.priority", op = "in", value = ["high", "urgent"] } ]
actions = [ { set_priority = "high" } ]

[[rule]]
name = "depois"
on = ["ticket.updated"]
all = [ { field = "ticket.priority", op = "is", value = "high" } ]
actions = [ { add_tags = ["viu_alta"] } ]
"#,
    );
    let plan = run(&set, &plain(), &facts(json!({ "priority": "normal" })));
    assert_eq!(plan.fired, vec!["vip".to_owned(), "depois".to_owned()]);
    assert_eq!(plan.steps[0].effect, Effect::SetPriority("high".to_owned()));
    assert_eq!(plan.steps[0].effect.to_string(), "set_priority high");
    // Already high: the `not` holds no more, nothing to do.
    let plan = run(&set, &plain(), &facts(json!({ "priority": "high" })));
    assert_eq!(plan.fired, vec!["depois".to_owned()]);
}

#[test]
fn set_priority_takes_only_zendesk_priorities_and_undoes_its_condition() {
    let error = load_error(
        r#"
[[rule]]
name = "r"
on = ["ticket.updated"]
actions = [ { set_priority = "alta" } ]
"#,
    );
    assert!(
        error.starts_with(
            "test.toml:6:30: set_priority: unknown priority \"alta\"; one of: low, normal, high, urgent"
        ),
        "{error}"
    );
    // A schedule rule whose set_priority makes its own condition false loads.
    rules(
        r#"
[[rule]]
name = "escalar"
on = ["schedule"]
cron = "0 0 9 * * *"
all = [ { field = "ticket.priority", op = "is", value = "normal" } ]
actions = [ { set_priority = "high" } ]
"#,
    );
    rules(
        r#"
[[rule]]
name = "escalar"
on = ["schedule"]
cron = "0 0 9 * * *"
not = [ { field = "ticket.priority", op = "is", value = "urgent" } ]
actions = [ { set_priority = "urgent" } ]
"#,
    );
    // One that leaves it true does not.
    let error = load_error(
        r#"
[[rule]]
name = "ruim"
on = ["schedule"]
cron = "0 0 9 * * *"
all = [ { field = "ticket.priority", op = "in", value = ["high", "urgent"] } ]
actions = [ { set_priority = "urgent" } ]
"#,
    );
    assert!(error.contains("a schedule rule must"), "{error}");
}

fn reply(body: &str) -> Event {
    Event::new(EventKind::MailReceived(MailFacts {
        kind: "reply".to_owned(),
        from: "maria@cliente.com.br".to_owned(),
        subject: "Re: [#123]".to_owned(),
        body: body.to_owned(),
        ..MailFacts::default()
    }))
}

#[test]
fn named_groups_of_matches_reach_set_field_and_templates() {
    let set = rules(
        r#"
[[rule]]
name = "nota"
on = ["mail.received"]
all = [ { field = "mail.body", op = "matches", value = '(?i)^\s*(nota\s*:?\s*)?(?P<nota>[1-5])\s*$' } ]
actions = [
  { set_field = { field = "Equipamentos", value = "{{ captures.nota }}" } },
  { set_field = { field = "CNPJ", value = "nota {{ captures.nota }}" } },
  { internal_note = "nota_registrada" },
  { send_mail = { to = ["requester"], template = "nota_registrada", subject = "Nota {{ captures.nota }}" } },
]
"#,
    );
    let f = facts(json!({}));
    for (body, nota) in [("5", 5), ("nota 4", 4), ("Nota: 3", 3), ("  NOTA 2  ", 2)] {
        let plan = run(&set, &reply(body), &f);
        assert_eq!(plan.problems, Vec::new(), "{body:?}");
        // An integer field gets a number; a text field the text.
        assert_eq!(
            plan.steps[0].effect,
            Effect::SetField {
                id: 501,
                field: "Equipamentos".to_owned(),
                value: json!(nota)
            },
            "{body:?}"
        );
        assert_eq!(
            plan.steps[1].effect,
            Effect::SetField {
                id: 500,
                field: "CNPJ".to_owned(),
                value: json!(format!("nota {nota}"))
            },
        );
        let Effect::InternalNote { body: note, .. } = &plan.steps[2].effect else {
            panic!("a note: {:?}", plan.steps[2]);
        };
        assert_eq!(note, &format!("Nota {nota} registrada."));
        let Effect::SendMail { subject, .. } = &plan.steps[3].effect else {
            panic!("a mail: {:?}", plan.steps[3]);
        };
        assert_eq!(subject, &format!("Nota {nota}"));
    }
    assert!(run(&set, &reply("nota 7"), &f).fired.is_empty());
    assert!(run(&set, &reply("Obrigada pelo retorno"), &f).fired.is_empty());
}

#[test]
fn captures_come_from_the_branch_that_held_and_never_from_not() {
    let set = rules(
        r#"
[[rule]]
name = "nota"
on = ["mail.received"]
any = [
  { field = "mail.body", op = "matches", value = '^nota (?P<nota>[1-5])$' },
  { field = "mail.body", op = "matches", value = '^(?P<nota>[1-5]) estrelas$' },
]
actions = [ { internal_note = "nota_registrada" } ]
"#,
    );
    let note = |plan: &Plan| match &plan.steps[0].effect {
        Effect::InternalNote { body, .. } => body.clone(),
        other => panic!("a note: {other:?}"),
    };
    let f = facts(json!({}));
    assert_eq!(note(&run(&set, &reply("nota 2"), &f)), "Nota 2 registrada.");
    assert_eq!(note(&run(&set, &reply("4 estrelas"), &f)), "Nota 4 registrada.");
    // A group inside `not` captures nothing: naming it is a load error,
    // with the position of the value.
    let error = load_error(
        r#"
[[rule]]
name = "nota"
on = ["mail.received"]
not = [ { field = "mail.body", op = "matches", value = '(?P<nota>[1-5])' } ]
actions = [ { set_field = { field = "Equipamentos", value = "{{ captures.nota }}" } } ]
"#,
    );
    assert_eq!(
        error,
        "test.toml:7:61: `captures.nota` is no named group of this rule's `matches` conditions (outside \
         `not`); it has none"
    );
    let error = load_error(
        r#"
[[rule]]
name = "nota"
on = ["mail.received"]
all = [ { field = "mail.body", op = "matches", value = '(?P<nota>[1-5])' } ]
actions = [ { send_mail = { to = ["requester"], template = "resposta", subject = "{{ captures.note }}" } } ]
"#,
    );
    assert!(
        error.contains("`captures.note` is no named group of this rule's `matches` conditions (outside `not`); it has: nota"),
        "{error}"
    );
}

#[test]
fn revert_puts_back_the_due_date_the_event_replaced_unless_a_note_justifies_it() {
    let set = rules(
        r#"
[[rule]]
name = "prazo"
on = ["ticket.updated"]
all = [ { field = "ticket.due_at", op = "changed" } ]
not = [ { all = [
  { field = "comment.public", op = "is", value = false },
  { field = "comment.author_role", op = "in", value = ["agent", "admin"] },
] } ]
actions = [ { revert = "ticket.due_at" }, { internal_note = "prazo" } ]
"#,
    );
    let old = at("2026-03-09T12:00:00Z");
    let new = at("2026-03-20T12:00:00Z");
    let moved = |from: Option<DateTime<Utc>>, comments: Vec<NewComment>| {
        updated(TicketChange {
            due_at: Some(Delta { from, to: Some(new) }),
            comments,
            ..TicketChange::default()
        })
    };
    let f = facts(json!({ "due_at": "2026-03-20T12:00:00Z" }));
    let plan = run(&set, &moved(Some(old), Vec::new()), &f);
    assert_eq!(plan.steps[0].effect, Effect::SetDue(old));
    // The note sees the due date put back.
    let Effect::InternalNote { body, .. } = &plan.steps[1].effect else {
        panic!("a note: {plan:?}");
    };
    assert_eq!(body, "Resposta até 9 de março de 2026.");
    // A due date set where there was none is put back to none.
    let bare = rules(
        r#"
[[rule]]
name = "prazo"
on = ["ticket.updated"]
actions = [ { revert = "ticket.due_at" } ]
"#,
    );
    let plan = run(&bare, &moved(None, Vec::new()), &f);
    assert_eq!(plan.steps[0].effect, Effect::ClearDue);
    // An internal note by an agent in the same update justifies the change.
    let note = |public: bool, role: Role| NewComment {
        id: 9,
        author_id: Some(2),
        author_role: Some(role),
        public,
        body: "Cliente pediu mais prazo para enviar os documentos.".to_owned(),
        created_at: at(NOW),
    };
    assert!(
        run(&set, &moved(Some(old), vec![note(false, Role::Agent)]), &f)
            .fired
            .is_empty()
    );
    // A public reply is no justification note.
    assert_eq!(
        run(&set, &moved(Some(old), vec![note(true, Role::Agent)]), &f).steps[0].effect,
        Effect::SetDue(old)
    );
    // Another change of the event leaves nothing to revert.
    let unrelated = rules(
        r#"
[[rule]]
name = "prazo"
on = ["ticket.updated"]
actions = [ { revert = "ticket.due_at" }, { add_tags = ["visto"] } ]
"#,
    );
    let plan = run(&unrelated, &plain(), &f);
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].effect, Effect::AddTags(vec!["visto".to_owned()]));
}

#[test]
fn revert_takes_only_the_due_date_and_only_on_ticket_updated() {
    let error = load_error(
        r#"
[[rule]]
name = "r"
on = ["ticket.updated"]
actions = [ { revert = "ticket.status" } ]
"#,
    );
    assert!(
        error.starts_with(
            "test.toml:6:24: revert: cannot revert \"ticket.status\"; only ticket.due_at can be reverted"
        ),
        "{error}"
    );
    let error = load_error(
        r#"
[[rule]]
name = "r"
on = ["ticket.updated", "mail.received"]
actions = [ { revert = "ticket.due_at" } ]
"#,
    );
    assert!(
        error.contains(
            "revert puts back what the event's change replaced: the rule must run only on ticket.updated"
        ),
        "{error}"
    );
}

#[test]
fn send_digest_loads_in_a_schedule_rule_and_passes_the_loop_guard() {
    // Conditions no action undoes: a digest changes no ticket, and sends
    // one mail per tick however many tickets it lists.
    let set = rules(
        r#"
[[rule]]
name = "resumo"
on = ["schedule"]
cron = "0 0 8 * * 1-5"
all = [ { field = "ticket.status", op = "in", value = ["new", "open", "pending"] }, { field = "ticket.due_at", op = "present" } ]
actions = [ { send_digest = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "Resumo: {{ digest.total }}", soon_days = 3 } } ]
"#,
    );
    let rule = set.rule("resumo").expect("rule");
    assert!(rule.is_summary());
    assert_eq!(
        rule.actions[0].action,
        ActionSpec::SendDigest(SendDigestSpec {
            to: vec!["gestores@empresa.com.br".to_owned()],
            template: "resumo".to_owned(),
            subject: "Resumo: {{ digest.total }}".to_owned(),
            soon_days: 3,
        })
    );
    // The engine plans nothing for a ticket: the runner sends the digest.
    let event = Event::new(EventKind::Schedule(["resumo".to_owned()].into()));
    let planned = run(&set, &event, &facts(json!({ "due_at": "2026-03-05T12:00:00Z" })));
    assert_eq!(planned.fired, ["resumo"]);
    assert!(planned.steps.is_empty());
}

#[test]
fn send_digest_is_refused_outside_schedule_rules_or_mixed_with_ticket_actions() {
    let error = load_error(
        r#"
[[rule]]
name = "resumo"
on = ["ticket.updated"]
actions = [ { send_digest = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "Resumo" } } ]
"#,
    );
    assert!(
        error.starts_with("test.toml:6:13: send_digest sends one mail per tick"),
        "{error}"
    );
    assert!(error.contains("on = [\"schedule\"]"), "{error}");
    let error = load_error(
        r#"
[[rule]]
name = "resumo"
on = ["schedule"]
cron = "0 0 8 * * *"
all = [ { field = "ticket.status", op = "is", value = "open" } ]
actions = [ { send_digest = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "Resumo" } }, { set_status = "pending" } ]
"#,
    );
    assert!(error.contains("cannot be mixed with set_status"), "{error}");
    let error = load_error(
        r#"
[[rule]]
name = "resumo"
on = ["schedule"]
cron = "0 0 8 * * *"
actions = [ { send_digest = { to = ["requester"], template = "resumo", subject = "Resumo" } } ]
"#,
    );
    assert!(error.contains("a digest is about many tickets"), "{error}");
    let error = load_error(
        r#"
[[rule]]
name = "resumo"
on = ["schedule"]
cron = "0 0 8 * * *"
actions = [ { send_digest = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "{{ digest.totl }}" } } ]
"#,
    );
    assert!(error.contains("template error"), "{error}");
}

#[test]
fn send_report_loads_its_breakdowns_and_defaults_to_a_week() {
    let set = rules(
        r#"
[[rule]]
name = "estatistica"
on = ["schedule"]
cron = "0 0 8 * * Mon"
all = [ { field = "ticket.tags", op = "contains", value = "manifestacao" } ]
actions = [ { send_report = { to = ["gestores@empresa.com.br"], template = "resumo",
                              subject = "{{ report.received }} recebidas, {{ report.sla.percent }}% no prazo",
                              by = { tipo = "ticket.fields.Tipo", status = "ticket.status" } } } ]
"#,
    );
    let rule = set.rule("estatistica").expect("rule");
    assert!(rule.is_summary());
    let ActionSpec::SendReport(spec) = &rule.actions[0].action else {
        panic!("a report: {:?}", rule.actions[0].action);
    };
    assert_eq!(spec.days, 7);
    assert_eq!(
        spec.by,
        [
            ("status".to_owned(), FieldRef::Status),
            ("tipo".to_owned(), FieldRef::CustomField("Tipo".to_owned())),
        ]
    );
    let event = Event::new(EventKind::Schedule(["estatistica".to_owned()].into()));
    let planned = run(&set, &event, &facts(json!({ "tags": ["manifestacao"] })));
    assert_eq!(planned.fired, ["estatistica"]);
    assert!(planned.steps.is_empty());
}

#[test]
fn send_report_is_refused_with_a_field_it_cannot_break_down_by() {
    let error = load_error(
        r#"
[[rule]]
name = "estatistica"
on = ["schedule"]
cron = "0 0 8 * * Mon"
actions = [ { send_report = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "S",
                              by = { assunto = "ticket.subject" } } } ]
"#,
    );
    assert!(
        error.starts_with(
            "test.toml:8:48: send_report: `by.assunto` is \"ticket.subject\"; a report breaks down by \
             ticket.status,"
        ),
        "{error}"
    );
    // One error: the refused action does not also trip the loop guard.
    assert_eq!(error.lines().count(), 1, "{error}");
    let error = load_error(
        r#"
[[rule]]
name = "estatistica"
on = ["mail.received"]
actions = [ { send_report = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "S" } } ]
"#,
    );
    assert!(error.contains("send_report sends one mail per tick"), "{error}");
    let error = load_error(
        r#"
[[rule]]
name = "estatistica"
on = ["schedule"]
cron = "0 0 8 * * Mon"
actions = [ { send_report = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "S", days = 0 } } ]
"#,
    );
    assert!(error.contains("`days` is 0; write 1 to 366"), "{error}");
    let error = load_error(
        r#"
[[rule]]
name = "estatistica"
on = ["schedule"]
cron = "0 0 8 * * Mon"
actions = [ { send_report = { to = ["gestores@empresa.com.br"], template = "resumo", subject = "{{ report.recieved }}" } } ]
"#,
    );
    assert!(error.contains("template error"), "{error}");
}

#[test]
fn params_are_written_once_and_used_in_any_text() {
    let set = rules(
        r#"
[params]
dono = "richard@bematech.com.br"
grupo = "Ouvidoria"

[[rule]]
name = "devolver"
on = ["ticket.updated"]
all = [ { field = "ticket.group", op = "is", value = "${grupo}" } ]
not = [ { field = "ticket.assignee", op = "is", value = "${dono}" } ]
actions = [ { assign = { user = "${dono}", group = "${grupo}" } } ]
"#,
    );
    let rule = set.rule("devolver").expect("rule");
    let ActionSpec::Assign(assign) = &rule.actions[0].action else {
        panic!("{:?}", rule.actions[0].action);
    };
    assert_eq!(assign.user.as_deref(), Some("richard@bematech.com.br"));
    assert_eq!(assign.group.as_deref(), Some("Ouvidoria"));
    let text = format!("{:?}", rule.condition);
    assert!(text.contains("\"Ouvidoria\""), "{text}");
    assert!(!text.contains("${"), "{text}");
}

#[test]
fn a_problem_in_a_text_that_held_a_param_is_reported_at_that_text() {
    // The regex comes from [params]; the error points at its use.
    let error = load_error(
        r#"
[params]
pedido = "(quero"

[[rule]]
name = "pedido"
on = ["ticket.updated"]
all = [ { field = "comment.body", op = "matches", value = "${pedido} ouvidoria" } ]
actions = [ { add_tags = ["pedido"] } ]
"#,
    );
    assert!(
        error.starts_with("test.toml:9:59: invalid regular expression \"(quero ouvidoria\""),
        "{error}"
    );
}
